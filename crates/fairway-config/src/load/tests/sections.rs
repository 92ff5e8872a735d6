//! Loader tests, continued: sections and their cross-checks.

use super::*;

#[test]
fn scalar_errors() {
    let e = load_err(
        "\
global:
  threads: 0
  grace_period: 10
  log_level: verbose
  access_log: yes
  pid_file: ''
frontends:
  web:
    bind: []
    timeout_client: 0s
    timeout_http_request: soon
    normalize_path: 1
    default_backend: [a]
backends:
  a:
    retries: 101
    servers: [x]
",
    );
    let expected = "\
t.yaml:2:12: global.threads: expected an integer from 1 to 1024, found `0`
t.yaml:3:17: global.grace_period: duration `10` needs a unit (e.g. `10s`)
t.yaml:4:14: global.log_level: unknown log level `verbose` (expected one of: error, warn, info, debug, trace)
t.yaml:5:15: global.access_log: expected `true` or `false`, found `yes`
t.yaml:6:13: global.pid_file: must not be empty
t.yaml:9:5: frontends.web.bind: at least one address is required
t.yaml:10:21: frontends.web.timeout_client: timeout must be greater than zero
t.yaml:11:27: frontends.web.timeout_http_request: invalid duration `soon` (expected e.g. `250ms`, `10s`, `2m`)
t.yaml:12:21: frontends.web.normalize_path: expected `true` or `false`, found `1`
t.yaml:13:5: frontends.web.default_backend: expected a string, found a list
t.yaml:16:14: backends.a.retries: expected an integer from 0 to 100, found `101`
t.yaml:17:5: backends.a.servers: expected a mapping, found a list";
    assert_eq!(e, expected);
}

#[test]
fn names_and_required_keys() {
    let e = load_err(
        "\
frontends:
  'my web':
    mode: http
backends:
  'b/1':
    servers:
      's 1': { addr: 127.0.0.1:1 }
      s2: { weight: 2 }
",
    );
    let expected = "\
t.yaml:2:3: frontends.my web: invalid name `my web` (allowed characters: A-Z a-z 0-9 _ . -)
t.yaml:2:3: frontends.my web: missing required key `bind`
t.yaml:2:3: frontends.my web: missing `default_backend` (required unless an unconditional `use_backend` or `http_request` rule handles every request)
t.yaml:5:3: backends.b/1: invalid name `b/1` (allowed characters: A-Z a-z 0-9 _ . -)
t.yaml:7:7: backends.b/1.servers.s 1: invalid name `s 1` (allowed characters: A-Z a-z 0-9 _ . -)
t.yaml:8:7: backends.b/1.servers.s2: missing required key `addr`";
    assert_eq!(e, expected);
}

#[test]
fn cross_references() {
    let e = load_err(
        "\
frontends:
  a:
    bind: [':80', '0.0.0.0:81']
    default_backend: nope
  b:
    bind: '*:80'
    default_backend: t
backends:
  h: {}
  t: { mode: tcp }
",
    );
    let expected = "\
t.yaml:4:22: frontends.a.default_backend: unknown backend `nope` (defined: h, t)
t.yaml:6:11: frontends.b.bind: address 0.0.0.0:80 is already bound by frontends.a.bind[0]
t.yaml:7:22: frontends.b.default_backend: backend `t` has mode tcp, but frontend `b` has mode http";
    assert_eq!(e, expected);
    let e = load_err("frontends: { a: { bind: ':80', default_backend: x } }\n");
    assert_eq!(
        e,
        "t.yaml:1:49: frontends.a.default_backend: unknown backend `x` (no backends are defined)"
    );
}

#[test]
fn no_frontends() {
    assert_eq!(load_err(""), "t.yaml: no frontends defined");
    assert_eq!(load_err("backends: {}\n"), "t.yaml: no frontends defined");
    assert_eq!(
        load_err("frontends:\n"),
        "t.yaml:1:1: frontends: no frontends defined"
    );
    assert_eq!(
        load_err("frontends: {}\n"),
        "t.yaml:1:1: frontends: no frontends defined"
    );
}

#[test]
fn yaml_errors() {
    assert_eq!(
        load_err("frontends:\n  web: [a\n"),
        "t.yaml:3:1: YAML syntax error: while parsing a flow sequence, expected ',' or ']'"
    );
    assert_eq!(
        load_err("- a\n"),
        "t.yaml:1:1: the top level must be a mapping with keys global, admin, frontends, backends"
    );
    assert_eq!(
        load_err("frontends: {}\nfrontends: {}\n"),
        "t.yaml:2:1: duplicate key `frontends` (first defined at line 1, column 1)"
    );
    assert_eq!(
        load_err("a: &x 1\nb: *x\n"),
        "t.yaml:1:7: YAML anchors and aliases are not supported"
    );
    assert_eq!(
        load_err("a: !!str 1\n"),
        "t.yaml:1:10: YAML tags (`!...`) are not supported"
    );
    let e = load_err(&format!("{MINIMAL}---\nglobal: {{}}\n"));
    assert_eq!(e, "t.yaml:9:1: only one YAML document is allowed");
    // A leading document marker is fine.
    load_ok(&format!("# comment\n---\n{MINIMAL}...\n"));
}

#[test]
fn read_errors_name_the_file() {
    let e = from_file(
        Path::new("/nonexistent/fairway.yaml"),
        &no_env,
        &crate::LoadOptions::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/fairway.yaml: cannot read the config file: "),
        "{e}"
    );
}

#[test]
fn never_panics_on_garbage() {
    let inputs = [
        "",
        "~",
        "[]",
        "{",
        "}",
        ":",
        "- - -",
        "a: [",
        "\t",
        "frontends: 1",
        "frontends: [1]",
        "frontends: { w: 1 }",
        "frontends: { w: [] }",
        "frontends: { w: { bind: { a: 1 } } }",
        "backends: { b: { servers: { s: 1 } } }",
        "backends: { b: { servers: { s: { addr: 1, weight: -1 } } } }",
        "global: { threads: 99999999999999999999999 }",
        "global: { grace_period: 99999999999999999999y }",
        "frontends: { w: { bind: '${' } }",
        "frontends: { w: { bind: '${A' } }",
        "\u{feff}frontends: {}",
        "? [a]\n: b",
        "--- !x\n",
        "%YAML 1.2\n---\nfrontends: {}",
        "a: |\n  x\n b",
        "\"\\u00\"",
    ];
    for input in inputs {
        let _ = from_str(input, "t.yaml", &no_env);
    }
}

#[test]
fn latency_and_ewma_settings() {
    let c = load_ok(&MINIMAL.replace(
        "  app:\n",
        "  app:\n    balance: latency\n    latency: { percentile: 95, window: 10, interval: 1s, primary_weight: 100, backup_weight: 5 }\n    health_check: { type: tcp }\n",
    ));
    let b = &c.backends[0];
    assert_eq!(b.balance, Balance::Latency);
    assert_eq!(
        b.latency,
        crate::LatencyConfig {
            percentile: 95,
            window: 10,
            interval: Duration::from_secs(1),
            primary_weight: 100,
            backup_weight: 5
        }
    );
    let c = load_ok(&MINIMAL.replace(
        "  app:\n",
        "  app:\n    balance: latency\n    health_check: { type: tcp }\n",
    ));
    assert_eq!(c.backends[0].latency, crate::LatencyConfig::default());
    let c = load_ok(&MINIMAL.replace(
        "  app:\n",
        "  app:\n    balance: ewma\n    ewma: { decay: 5s, default_rtt: 10ms }\n",
    ));
    assert_eq!(
        c.backends[0].ewma,
        crate::EwmaConfig {
            decay: Duration::from_secs(5),
            default_rtt: Duration::from_millis(10)
        }
    );

    let e = load_err(&MINIMAL.replace(
        "  app:\n",
        "  app:\n    balance: latency\n    latency: { percentile: 0, backup_weight: 300, speed: 1 }\n    ewma: { decay: 1s }\n",
    ));
    assert!(
        e.contains("backends.app.balance: balance `latency` needs a `health_check`"),
        "{e}"
    );
    assert!(
        e.contains("backends.app.latency.percentile: expected an integer from 1 to 100, found `0`"),
        "{e}"
    );
    assert!(
        e.contains("backends.app.latency.speed: unknown key `speed`"),
        "{e}"
    );
    assert!(
        e.contains("backends.app.ewma: `ewma` settings need `balance: ewma`"),
        "{e}"
    );
}

#[test]
fn outlier_settings() {
    let c = load_ok(&MINIMAL.replace(
        "  app:\n",
        "  app:\n    outlier: { consecutive_errors: 3, eject: 10s, max_ejected: 25% }\n",
    ));
    assert_eq!(
        c.backends[0].outlier,
        Some(crate::Outlier {
            consecutive_errors: 3,
            eject: Duration::from_secs(10),
            max_ejected: crate::MaxEjected::Percent(25),
        })
    );
    let c = load_ok(&MINIMAL.replace("  app:\n", "  app:\n    outlier: { max_ejected: 2 }\n"));
    assert_eq!(
        c.backends[0].outlier,
        Some(crate::Outlier {
            max_ejected: crate::MaxEjected::Count(2),
            ..crate::Outlier::default()
        })
    );
    // `outlier: {}`: the defaults (5 errors, 30 s, 50 %); no key: off.
    let c = load_ok(&MINIMAL.replace("  app:\n", "  app:\n    outlier: {}\n"));
    assert_eq!(c.backends[0].outlier, Some(crate::Outlier::default()));
    assert_eq!(load_ok(MINIMAL).backends[0].outlier, None);
    // A tcp backend counts connection failures.
    let c = load_ok(
        "frontends:\n  db:\n    bind: :5432\n    mode: tcp\n    default_backend: pg\n\
         backends:\n  pg:\n    mode: tcp\n    outlier: { consecutive_errors: 2 }\n    \
         servers: { a: { addr: 127.0.0.1:5433 } }\n",
    );
    assert_eq!(c.backends[0].outlier.unwrap().consecutive_errors, 2);

    let e = load_err(&MINIMAL.replace(
        "  app:\n",
        "  app:\n    outlier: { consecutive_errors: 0, eject: 0s, max_ejected: 150%, slow: 1 }\n",
    ));
    let expected = "\
t.yaml:7:36: backends.app.outlier.consecutive_errors: expected an integer from 1 to 10000, found `0`
t.yaml:7:46: backends.app.outlier.eject: timeout must be greater than zero
t.yaml:7:63: backends.app.outlier.max_ejected: invalid max_ejected `150%` (expected a share of the servers like `50%` (0% to 100%) or a number of servers like `2`)
t.yaml:7:69: backends.app.outlier.slow: unknown key `slow` (expected one of: consecutive_errors, eject, max_ejected)";
    assert_eq!(e, expected);
    for bad in ["half", "-1", "50 %", "%", "1.5"] {
        let e = load_err(&MINIMAL.replace(
            "  app:\n",
            &format!("  app:\n    outlier: {{ max_ejected: \"{bad}\" }}\n"),
        ));
        assert!(e.contains("invalid max_ejected"), "{bad}: {e}");
    }
    assert_eq!(crate::MaxEjected::Percent(50).limit(1), 0);
    assert_eq!(crate::MaxEjected::Percent(50).limit(3), 1);
    assert_eq!(crate::MaxEjected::Percent(50).limit(4), 2);
    assert_eq!(crate::MaxEjected::Percent(100).limit(1), 1);
    assert_eq!(crate::MaxEjected::Count(5).limit(3), 3);
}

#[test]
fn admin_section() {
    let c = load_ok(&format!(
        "admin:\n  bind: 127.0.0.1:9000\n  auth: {{ user: admin, password: s3cret }}\n  socket: /tmp/fairway.sock\n{MINIMAL}"
    ));
    let a = c.admin.unwrap();
    assert_eq!(a.bind, Some("127.0.0.1:9000".parse().unwrap()));
    assert_eq!(
        a.auth
            .as_ref()
            .map(|x| (x.user.as_str(), x.password.as_str())),
        Some(("admin", "s3cret"))
    );
    assert_eq!(
        a.socket.as_deref(),
        Some(std::path::Path::new("/tmp/fairway.sock"))
    );
    assert!(
        !format!("{:?}", a.auth).contains("s3cret"),
        "the password is not in debug output"
    );
    assert!(load_ok(MINIMAL).admin.is_none());

    let e = load_err(&format!("admin:\n  bind: 0.0.0.0:9000\n{MINIMAL}"));
    assert_eq!(
        e,
        "t.yaml:2:9: admin.bind: admin binds 0.0.0.0:9000, which is not a loopback address, without `auth`: add admin.auth or bind 127.0.0.1"
    );
    let e = load_err(&format!(
        "admin:\n  bind: 127.0.0.1:8080\n  auth: {{ user: x }}\n  port: 1\n{MINIMAL}"
    ));
    assert!(
        e.contains("admin.port: unknown key `port` (expected one of: bind, auth, socket)"),
        "{e}"
    );
    assert!(
        e.contains("admin.auth: missing required key `password`"),
        "{e}"
    );
    let e = load_err(&format!("admin:\n  bind: 127.0.0.1:8080\n{MINIMAL}"));
    assert!(
        e.contains("admin.bind: address 127.0.0.1:8080 is also bound by a frontend"),
        "{e}"
    );
}

#[test]
fn admin_may_be_the_runtime_socket_alone() {
    let c = load_ok(&format!(
        "admin:\n  socket: /run/fairway/admin.sock\n{MINIMAL}"
    ));
    let a = c.admin.unwrap();
    assert_eq!(a.bind, None);
    assert_eq!(
        a.socket.as_deref(),
        Some(std::path::Path::new("/run/fairway/admin.sock"))
    );
    // Neither a listener nor a socket: nothing to serve.
    let e = load_err(&format!(
        "admin:\n  auth: {{ user: a, password: b }}\n{MINIMAL}"
    ));
    assert_eq!(
        e,
        "t.yaml:1:1: admin: needs `bind` (the HTTP listener), `socket` (the runtime socket) or both"
    );
}

#[test]
fn discovery_section() {
    let c = load_ok(&MINIMAL.replace(
        "  app:\n",
        "  app:\n    discovery:\n      etcd: { endpoints: [\"http://127.0.0.1:2379\"], prefix: /apps/myapp/containers/, user: u, password: p }\n      interval: 2s\n",
    ));
    let d = c.backends[0].discovery.as_ref().unwrap();
    assert_eq!(d.interval, Duration::from_secs(2));
    match &d.source {
        crate::DiscoverySource::Etcd(e) => {
            assert_eq!(e.endpoints, ["http://127.0.0.1:2379"]);
            assert_eq!(e.prefix, "/apps/myapp/containers/");
            assert_eq!(
                (e.user.as_deref(), e.password.as_deref()),
                (Some("u"), Some("p"))
            );
            assert!(!format!("{e:?}").contains("\"p\""), "password hidden");
        }
        other => panic!("{other:?}"),
    }
    let c = load_ok(&MINIMAL.replace(
        "  app:\n",
        "  app:\n    discovery: { file: { path: conf/servers.yaml } }\n",
    ));
    let d = c.backends[0].discovery.as_ref().unwrap();
    assert_eq!(
        d.source,
        crate::DiscoverySource::File("conf/servers.yaml".into())
    );
    assert_eq!(d.interval, Duration::from_secs(5));

    let e = load_err(&MINIMAL.replace(
        "  app:\n",
        "  app:\n    discovery: { etcd: { endpoints: [\"127.0.0.1:2379\"], user: u } }\n",
    ));
    assert!(e.contains("invalid etcd endpoint `127.0.0.1:2379`"), "{e}");
    assert!(e.contains("missing required key `prefix`"), "{e}");
    let e = load_err(&MINIMAL.replace("  app:\n", "  app:\n    discovery: { interval: 1s }\n"));
    assert!(
        e.contains("backends.app.discovery: missing `etcd` or `file`"),
        "{e}"
    );
}

#[test]
fn discovered_values_and_files() {
    use crate::{parse_server_value, parse_servers_file};
    assert_eq!(
        parse_server_value("10.0.0.1:80"),
        Ok(("10.0.0.1:80".parse().unwrap(), None))
    );
    assert_eq!(
        parse_server_value(" 10.0.0.1:80 7 "),
        Ok(("10.0.0.1:80".parse().unwrap(), Some(7)))
    );
    assert!(parse_server_value("10.0.0.1").is_err());
    assert!(parse_server_value("10.0.0.1:80 300")
        .unwrap_err()
        .contains("invalid weight `300`"));
    assert!(parse_server_value("10.0.0.1:80 1 x").is_err());
    assert!(parse_server_value("").is_err());

    let (good, bad) =
        parse_servers_file("a: 127.0.0.1:1\nb: \"127.0.0.1:2 3\"\nc: nope\n").unwrap();
    assert_eq!(good.len(), 2);
    assert_eq!(
        good[1],
        ("b".to_string(), "127.0.0.1:2".parse().unwrap(), Some(3))
    );
    assert_eq!(bad.len(), 1);
    let (good, bad) =
        parse_servers_file("# plain\na 127.0.0.1:1\nb 127.0.0.1:2 0  # off\n").unwrap();
    assert_eq!((good.len(), bad.len()), (2, 0));
    assert_eq!(good[1].2, Some(0));
    assert!(parse_servers_file("[1, 2").is_err());
    assert_eq!(parse_servers_file("").unwrap().0.len(), 0);
}

#[test]
fn registered_fetches_parse_in_acls_and_rules() {
    use fairway_acl::{Arg, Fetch, Fetches, Request, SampleFetch};
    struct Country;
    impl SampleFetch for Country {
        fn arg(&self) -> Arg {
            Arg::Optional("HEADER")
        }
        fn sample(
            &self,
            req: &dyn Request,
            arg: Option<&str>,
            f: &mut dyn FnMut(&[u8]) -> bool,
        ) -> bool {
            req.header_values(arg.unwrap_or("x-country"), f)
        }
    }
    let mut fetches = Fetches::builtin();
    fetches.add("country", Country).unwrap();
    let options = crate::LoadOptions::new().fetches(std::sync::Arc::new(fetches));
    let yaml = r#"
frontends:
  web:
    bind: 127.0.0.1:8080
    acl:
      eu: country -i de fr
    http_request:
      - deny if { country(cf-ipcountry) -m str XX }
    use_backend:
      - app if eu
    default_backend: app
backends:
  app:
    servers: { a: { addr: 127.0.0.1:8001 } }
"#;
    let c = crate::Config::from_yaml_str_with(yaml, "t.yaml", &options).unwrap();
    let acl = c.frontends[0].acls.get("eu").unwrap();
    assert!(matches!(acl.fetch(), Fetch::Custom(c) if c.name() == "country"));
    // Without the registration, the name is unknown, and the error says
    // which fetches are known.
    let e = from_str(yaml, "t.yaml", &no_env).unwrap_err().to_string();
    assert!(
        e.starts_with("t.yaml:6:11: frontends.web.acl.eu: unknown fetch `country` (known: path,"),
        "{e}"
    );
    assert!(
        e.contains("t.yaml:8:19: frontends.web.http_request[0]: unknown fetch `country`"),
        "{e}"
    );
    // A custom fetch reads HTTP unless it says otherwise.
    let tcp = yaml.replace("    acl:", "    mode: tcp\n    acl:").replace(
        "    http_request:\n      - deny if { country(cf-ipcountry) -m str XX }\n",
        "",
    );
    let e = crate::Config::from_yaml_str_with(&tcp, "t.yaml", &options)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`country` needs `mode: http`"), "{e}");
}

#[test]
fn dns_settings_and_names_resolved_later() {
    let c = load_ok(
        "\
frontends:
  web:
    bind: 127.0.0.1:8080
    default_backend: app
backends:
  app:
    dns: { interval: 2s, nameservers: [\"127.0.0.1:5353\", 127.0.0.2] }
    servers:
      byname: { addr: only-the-nameserver-knows.invalid:8080 }
      bysrv: { addr: _http._tcp.app.invalid }
      literal: { addr: 127.0.0.1:8001 }
",
    );
    let b = &c.backends[0];
    assert_eq!(
        b.dns,
        Some(crate::Dns {
            interval: Duration::from_secs(2),
            nameservers: vec![
                "127.0.0.1:5353".parse().unwrap(),
                "127.0.0.2:53".parse().unwrap()
            ],
        })
    );
    // Nothing is resolved at load: the system resolver need not know them.
    let (byname, bysrv, literal) = (&b.servers[0], &b.servers[1], &b.servers[2]);
    assert_eq!(byname.socket_addr, None);
    assert_eq!(
        byname.lookup,
        Some(crate::Lookup::Host {
            host: "only-the-nameserver-knows.invalid".into(),
            port: 8080
        })
    );
    assert_eq!(bysrv.socket_addr, None);
    assert_eq!(
        bysrv.lookup,
        Some(crate::Lookup::Srv("_http._tcp.app.invalid".into()))
    );
    assert_eq!(literal.socket_addr, Some("127.0.0.1:8001".parse().unwrap()));
    assert_eq!(literal.lookup, None);
    // `dns: {}`: every 10 s, the system's resolver; no `dns`: off.
    let c = load_ok(&MINIMAL.replace("  app:\n", "  app:\n    dns: {}\n"));
    assert_eq!(c.backends[0].dns, Some(crate::Dns::default()));
    assert_eq!(load_ok(MINIMAL).backends[0].dns, None);

    let e = load_err(&MINIMAL.replace(
        "  app:\n",
        "  app:\n    dns: { interval: 0s, nameservers: [dns.example, \"127.0.0.1:0\"], retries: 3 }\n",
    ));
    assert_eq!(
        e,
        "t.yaml:7:22: backends.app.dns.interval: timeout must be greater than zero\n\
         t.yaml:7:40: backends.app.dns.nameservers[0]: invalid name server `dns.example` (expected ip:port, or ip for port 53)\n\
         t.yaml:7:53: backends.app.dns.nameservers[1]: invalid name server `127.0.0.1:0` (expected ip:port, or ip for port 53)\n\
         t.yaml:7:69: backends.app.dns.retries: unknown key `retries` (expected one of: interval, nameservers)"
    );
    // Without `dns`, an SRV name is refused with the way out.
    let e = load_err(&MINIMAL.replace("127.0.0.1:8001", "_http._tcp.app.invalid"));
    assert!(
        e.ends_with("backends.app.servers.s1.addr: server address `_http._tcp.app.invalid` is an SRV name: add `dns` to the backend to look it up (or write host:port)"),
        "{e}"
    );
}

#[test]
fn path_keys() {
    use fairway_acl::{EncodedSlashes, PathParams};
    let yaml = |slashes: &str, params: &str| {
        format!(
            "\
frontends:
  web:
    bind: 127.0.0.1:8080
    encoded_slashes: {slashes}
    path_params: {params}
    default_backend: app
backends:
  app:
    servers:
      s1: {{ addr: 127.0.0.1:8001 }}
"
        )
    };
    // SPEC §9's defaults.
    let c = load_ok(MINIMAL);
    assert_eq!(c.frontends[0].encoded_slashes, EncodedSlashes::Reject);
    assert_eq!(c.frontends[0].path_params, PathParams::Match);
    for (text, want) in [
        ("reject", EncodedSlashes::Reject),
        ("decode", EncodedSlashes::Decode),
        ("keep", EncodedSlashes::Keep),
    ] {
        let c = load_ok(&yaml(text, "keep"));
        assert_eq!(c.frontends[0].encoded_slashes, want);
        assert_eq!(c.frontends[0].path_params, PathParams::Keep);
    }
    assert_eq!(
        load_ok(&yaml("keep", "match")).frontends[0].path_params,
        PathParams::Match
    );
    assert_eq!(
        load_err(&yaml("allow", "strip")),
        "\
t.yaml:4:22: frontends.web.encoded_slashes: unknown encoded_slashes value `allow` (expected one of: reject, decode, keep)
t.yaml:5:18: frontends.web.path_params: unknown path_params value `strip` (expected one of: match, keep)"
    );
    // HTTP-only keys.
    let tcp = "\
frontends:
  t:
    bind: 127.0.0.1:8080
    mode: tcp
    encoded_slashes: keep
    path_params: keep
    default_backend: b
backends:
  b:
    mode: tcp
    servers:
      s1: { addr: 127.0.0.1:8001 }
";
    let e = load_err(tcp);
    assert!(
        e.contains("`encoded_slashes` needs `mode: http`")
            && e.contains("`path_params` needs `mode: http`"),
        "{e}"
    );
}

#[test]
fn http_reuse_choices_and_errors() {
    let c = load_ok(MINIMAL);
    assert_eq!(
        c.backends[0].http_reuse,
        crate::HttpReuse::Safe,
        "the default"
    );
    for (word, reuse) in [
        ("safe", crate::HttpReuse::Safe),
        ("never", crate::HttpReuse::Never),
        ("always", crate::HttpReuse::Always),
    ] {
        let c = load_ok(&format!("{MINIMAL}    http_reuse: {word}\n"));
        assert_eq!(c.backends[0].http_reuse, reuse);
        assert_eq!(reuse.name(), word);
    }
    let e = load_err(&format!("{MINIMAL}    http_reuse: aggressive\n"));
    assert_eq!(
        e,
        "t.yaml:9:17: backends.app.http_reuse: unknown http_reuse `aggressive` \
         (expected one of: safe, never, always)"
    );
    let e = load_err(
        "\
frontends:
  db: { bind: 127.0.0.1:5432, mode: tcp, default_backend: pg }
backends:
  pg:
    mode: tcp
    http_reuse: never
    servers: { s1: { addr: 127.0.0.1:5433 } }
",
    );
    assert_eq!(
        e,
        "t.yaml:6:5: backends.pg.http_reuse: `http_reuse` needs `mode: http` \
         (a tcp backend opens a connection per client)"
    );
}
