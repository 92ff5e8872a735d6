//! Loader tests that need no ACL parsing (no `acl`, `http_request` or
//! `use_backend` lines), so they hold whatever the ACL crate's state.

use super::*;
use crate::{Balance, CheckKind, Mode};
use std::time::Duration;

fn no_env(_: &str) -> Option<String> {
    None
}

fn load_ok(yaml: &str) -> Config {
    match from_str(yaml, "t.yaml", &no_env) {
        Ok(c) => c,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

fn load_err(yaml: &str) -> String {
    match from_str(yaml, "t.yaml", &no_env) {
        Ok(_) => panic!("loaded, but errors were expected"),
        Err(e) => e.to_string(),
    }
}

const MINIMAL: &str = "\
frontends:
  web:
    bind: 127.0.0.1:8080
    default_backend: app
backends:
  app:
    servers:
      s1: { addr: 127.0.0.1:8001 }
";

#[test]
fn minimal_config_gets_the_defaults() {
    let c = load_ok(MINIMAL);
    assert_eq!(c.global, Global::default());
    assert_eq!(c.path, None);
    let f = &c.frontends[0];
    assert_eq!(f.name, "web");
    assert_eq!(f.bind, vec!["127.0.0.1:8080".parse().unwrap()]);
    assert_eq!(f.mode, Mode::Http);
    assert_eq!(f.timeout_client, Duration::from_secs(60));
    assert_eq!(f.timeout_http_request, Duration::from_secs(10));
    assert!(f.normalize_path);
    assert!(f.forwardfor);
    assert!(f.http_request.is_empty());
    assert!(f.use_backend.is_empty());
    assert_eq!(f.default_backend.as_deref(), Some("app"));
    let b = &c.backends[0];
    assert_eq!(b.name, "app");
    assert_eq!(b.mode, Mode::Http);
    assert_eq!(b.balance, crate::Balance::RoundRobin);
    assert_eq!(b.timeout_connect, Duration::from_secs(5));
    assert_eq!(b.timeout_server, Duration::from_secs(60));
    assert_eq!(b.retries, 2);
    assert!(b.redispatch);
    let s = &b.servers[0];
    assert_eq!(
        (s.name.as_str(), s.addr.as_str(), s.weight, s.backup),
        ("s1", "127.0.0.1:8001", 1, false)
    );
    assert_eq!(s.socket_addr, "127.0.0.1:8001".parse().unwrap());
}

#[test]
fn every_setting_is_read() {
    let c = load_ok(
        "\
global:
  threads: 4
  grace_period: 250ms
  pid_file: /run/f.pid
  upgrade_sock: /run/f.sock
  log_level: debug
  access_log: true
frontends:
  web:
    bind: ['*:8080', ':8081', '[::1]:8082']
    mode: http
    timeout_client: 2m
    timeout_http_request: 5s
    normalize_path: false
    forwardfor: false
    default_backend: app
backends:
  app:
    mode: http
    balance: roundrobin
    timeout_connect: 1s
    timeout_server: 90s
    retries: 0
    redispatch: false
    servers:
      a: { addr: 'localhost:8001', weight: 0, backup: true }
      b: { addr: '[::1]:8002', weight: 256 }
  empty: {}
",
    );
    let g = &c.global;
    assert_eq!(g.threads, Some(4));
    assert_eq!(g.grace_period, Duration::from_millis(250));
    assert_eq!(g.pid_file, PathBuf::from("/run/f.pid"));
    assert_eq!(g.upgrade_sock, PathBuf::from("/run/f.sock"));
    assert_eq!(g.log_level, LogLevel::Debug);
    assert!(g.access_log);
    let f = &c.frontends[0];
    let binds: Vec<SocketAddr> = ["0.0.0.0:8080", "0.0.0.0:8081", "[::1]:8082"]
        .map(|s| s.parse().unwrap())
        .to_vec();
    assert_eq!(f.bind, binds);
    assert_eq!(f.timeout_client, Duration::from_secs(120));
    assert_eq!(f.timeout_http_request, Duration::from_secs(5));
    assert!(!f.normalize_path && !f.forwardfor);
    let b = &c.backends[0];
    assert_eq!(b.timeout_connect, Duration::from_secs(1));
    assert_eq!(b.timeout_server, Duration::from_secs(90));
    assert_eq!(b.retries, 0);
    assert!(!b.redispatch);
    assert_eq!((b.servers[0].weight, b.servers[0].backup), (0, true));
    assert!(b.servers[0].socket_addr.ip().is_loopback());
    assert_eq!(b.servers[0].addr, "localhost:8001");
    assert_eq!(b.servers[1].weight, 256);
    assert!(c.backends[1].servers.is_empty());
    assert_eq!(c.backend_index("empty"), Some(1));
}

#[test]
fn nulls_count_as_empty_sections() {
    let c = load_ok(
        "global:\nfrontends:\n  web:\n    bind: :80\n    default_backend: b\nbackends:\n  b:\n    servers:\n",
    );
    assert_eq!(c.global, Global::default());
    assert!(c.backends[0].servers.is_empty());
}

#[test]
fn env_substitution() {
    let yaml = "\
frontends:
  web:
    bind: \"${HOST}:${PORT}\"
    default_backend: ${BACKEND}
backends:
  app:
    timeout_server: ${T}
    servers: { s: { addr: '127.0.0.1:${PORT}', weight: '${W}' } }
global: { pid_file: /tmp/$$x.pid }
";
    let env = |k: &str| {
        let v = match k {
            "HOST" => "127.0.0.1",
            "PORT" => "9000",
            "BACKEND" => "app",
            "T" => "3s",
            "W" => "7",
            _ => return None,
        };
        Some(v.to_string())
    };
    let c = from_str(yaml, "t.yaml", &env).unwrap();
    assert_eq!(c.frontends[0].bind, vec!["127.0.0.1:9000".parse().unwrap()]);
    assert_eq!(c.frontends[0].default_backend.as_deref(), Some("app"));
    assert_eq!(c.backends[0].timeout_server, Duration::from_secs(3));
    assert_eq!(c.backends[0].servers[0].weight, 7);
    assert_eq!(c.global.pid_file, PathBuf::from("/tmp/$x.pid"));

    let e = from_str(yaml, "t.yaml", &|k| if k == "PORT" { None } else { env(k) }).unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.yaml:3:20: frontends.web.bind: environment variable `PORT` is not set\n\
         t.yaml:8:38: backends.app.servers.s.addr: environment variable `PORT` is not set"
    );
}

#[test]
fn unknown_keys_list_the_valid_ones() {
    let e = load_err(&format!("{MINIMAL}    extra: 1\nfrontend: {{}}\n"));
    assert_eq!(
        e,
        "t.yaml:9:5: backends.app.extra: unknown key `extra` (expected one of: mode, balance, \
         timeout_connect, timeout_server, retries, redispatch, timeout_queue, cookie, health_check, latency, ewma, discovery, servers)\n\
         t.yaml:10:1: frontend: unknown key `frontend` (expected one of: global, admin, frontends, backends)"
    );
}

#[test]
fn tls_tcp_and_upstream_tls() {
    let c = load_ok(
        "\
frontends:
  web:
    bind: :443
    tls:
      cert: tests/tls/a.pem
      key: tests/tls/a.key
      certs:
        - { cert: tests/tls/combined.pem, sni: [Other.Test, '*.other.test'] }
        - { cert: tests/tls/cn.pem, key: tests/tls/cn.key }
        - { cert: tests/tls/rsa.pem, key: tests/tls/rsa.key }
    default_backend: app
  db:
    bind: :5432
    mode: tcp
    timeout_client: 30s
    inspect_delay: 2s
    acl:
      lan: src 10.0.0.0/8
    tcp_request:
      - accept if lan
      - reject
    use_backend:
      - pg if { req_ssl_sni -i db.test }
    default_backend: pg
backends:
  app:
    servers:
      plain: { addr: 127.0.0.1:8001 }
      secure: { addr: localhost:8443, tls: true }
      named: { addr: 127.0.0.1:8444, tls: true, sni: api.test, ca: tests/tls/a.pem }
      lax: { addr: '[::1]:8445', tls: true, verify: false }
  pg:
    mode: tcp
    balance: leastconn
    health_check: { type: tcp }
    servers: { p1: { addr: 127.0.0.1:5433 } }
",
    );
    let web = &c.frontends[0];
    let tls = web.tls.as_ref().expect("tls");
    let names: Vec<&[String]> = tls.certs.iter().map(|c| c.names.as_slice()).collect();
    assert_eq!(
        names,
        [
            &["a.test".to_string(), "*.a.test".to_string()][..],
            &["other.test".to_string(), "*.other.test".to_string()][..],
            &["cn.test".to_string()][..],
            &["rsa.test".to_string()][..],
        ]
    );
    assert_eq!(
        tls.certs[1].key,
        std::path::PathBuf::from("tests/tls/combined.pem")
    );
    assert!(tls.certs.iter().all(|c| c.chain().len() == 1));
    assert!(!web.uses_ssl_sni());
    let db = &c.frontends[1];
    assert_eq!(db.mode, Mode::Tcp);
    assert_eq!(db.inspect_delay, Duration::from_secs(2));
    assert_eq!(db.tcp_request.len(), 2);
    assert!(db.uses_ssl_sni() && db.tls.is_none());
    let servers = &c.backends[0].servers;
    assert_eq!(servers[0].tls, None);
    let tls = |i: usize| servers[i].tls.clone().expect("tls");
    assert_eq!((tls(1).sni.as_str(), tls(1).verify), ("localhost", true));
    assert!(tls(1).ca.is_none());
    assert_eq!(tls(2).sni, "api.test");
    assert_eq!(tls(2).ca.map(|c| c.certs.len()), Some(1));
    assert_eq!((tls(3).sni.as_str(), tls(3).verify), ("::1", false));
    assert_eq!(c.backends[1].mode, Mode::Tcp);
}

#[test]
fn tls_and_mode_errors() {
    let e = load_err(
        "\
frontends:
  web:
    bind: :443
    tls: { cert: tests/tls/nope.pem }
    tcp_request: [reject]
    inspect_delay: 1s
    acl:
      sni: req_ssl_sni a.test
    default_backend: app
  bad_key:
    bind: :444
    tls: { cert: tests/tls/a.pem, key: tests/tls/b.key }
    default_backend: app
  no_key:
    bind: :445
    tls: { cert: tests/tls/a.pem, sni: 'bad name' }
    default_backend: app
  empty:
    bind: :446
    tls: { key: tests/tls/a.key }
    default_backend: app
  db:
    bind: :5432
    mode: tcp
    http_request: [deny]
    forwardfor: false
    acl:
      p: path /x
    use_backend:
      - pg if { hdr(host) x }
    default_backend: pg
backends:
  app:
    servers:
      a: { addr: 127.0.0.1:1, sni: x.test, verify: true }
      b: { addr: 127.0.0.1:2, tls: true, verify: false, ca: tests/tls/a.pem }
      c: { addr: 127.0.0.1:3, tls: true, ca: tests/tls/a.key }
      d: { addr: 127.0.0.1:4, tls: yes }
  pg:
    mode: tcp
    balance: uri
    cookie: { name: S }
    servers: { p: { addr: 127.0.0.1:5 } }
",
    );
    let expected = "\
t.yaml:4:18: frontends.web.tls.cert: cannot read certificate file `tests/tls/nope.pem`: No such file or directory (os error 2)
t.yaml:5:5: frontends.web.tcp_request: `tcp_request` needs `mode: tcp`, but this frontend has mode http (http frontends filter with `http_request`)
t.yaml:6:5: frontends.web.inspect_delay: `inspect_delay` needs `mode: tcp`, but this frontend has mode http
t.yaml:8:12: frontends.web.acl.sni: `req_ssl_sni` needs `mode: tcp` (it reads the ClientHello of TLS passthrough)
t.yaml:12:40: frontends.bad_key.tls.key: the key in `tests/tls/b.key` does not match the certificate in `tests/tls/a.pem`
t.yaml:16:40: frontends.no_key.tls.sni: invalid server name `bad name` (expected a DNS name, optionally `*.` first)
t.yaml:20:12: frontends.empty.tls.key: `key` needs `cert`
t.yaml:25:5: frontends.db.http_request: `http_request` needs `mode: http`, but this frontend has mode tcp (tcp frontends filter with `tcp_request`)
t.yaml:26:5: frontends.db.forwardfor: `forwardfor` needs `mode: http`, but this frontend has mode tcp
t.yaml:28:10: frontends.db.acl.p: `path` needs `mode: http` (a tcp frontend can use `src` and `req_ssl_sni`)
t.yaml:30:9: frontends.db.use_backend[0]: `hdr` needs `mode: http` (a tcp frontend can use `src` and `req_ssl_sni`)
t.yaml:35:31: backends.app.servers.a.sni: `sni` needs `tls: true`
t.yaml:35:44: backends.app.servers.a.verify: `verify` needs `tls: true`
t.yaml:36:57: backends.app.servers.b.ca: `ca` is not used with `verify: false` (remove one of them)
t.yaml:37:46: backends.app.servers.c.ca: no PEM certificate (-----BEGIN CERTIFICATE-----) in `tests/tls/a.key`
t.yaml:38:36: backends.app.servers.d.tls: expected `true` or `false`, found `yes`
t.yaml:41:14: backends.pg.balance: balance `uri` needs `mode: http` (a tcp backend can use roundrobin, leastconn, source, random, first or latency)
t.yaml:42:5: backends.pg.cookie: `cookie` needs `mode: http` (a tcp backend can stick clients with `balance: source`)";
    assert_eq!(e, expected);
}

#[test]
fn balance_names() {
    let cfg = |b: &str| MINIMAL.replace("  app:\n", &format!("  app:\n    balance: {b}\n"));
    let with = |b: &str| load_err(&cfg(b));
    assert!(
        with("latency").ends_with("balance `latency` needs a `health_check`: it ranks servers by their check round-trip times"),
        "{}",
        with("latency")
    );
    for (name, want) in [
        ("roundrobin", Balance::RoundRobin),
        ("leastconn", Balance::LeastConn),
        ("source", Balance::Source),
        ("random", Balance::Random),
        ("first", Balance::First),
        ("uri", Balance::Uri),
        ("url_param(id)", Balance::UrlParam("id".into())),
        ("hdr(X-User)", Balance::Hdr("x-user".into())),
        ("ewma", Balance::Ewma),
    ] {
        let c = load_ok(&cfg(name));
        assert_eq!(c.backends[0].balance, want, "{name}");
    }
    assert_eq!(
        with("fastest"),
        "t.yaml:7:14: backends.app.balance: unknown balance algorithm `fastest` (registered: roundrobin, \
         leastconn, source, random, first, uri, url_param(NAME), hdr(NAME), latency, ewma)"
    );
    assert!(with("hdr()").contains("unknown balance"));

    // Registered algorithms: known names become `Balance::Custom`, their
    // check runs at load time, and errors list what is registered.
    struct P99;
    impl crate::Algorithms for P99 {
        fn listing(&self) -> String {
            format!("{}, lowest(PERCENTILE)", crate::options::BUILTIN_ALGORITHMS)
        }
        fn check(&self, name: &str, arg: Option<&str>) -> Option<Result<(), String>> {
            (name == "lowest").then(|| match arg.map(str::parse::<u8>) {
                None | Some(Ok(1..=100)) => Ok(()),
                _ => Err("`lowest` takes a percentile from 1 to 100".to_string()),
            })
        }
    }
    let options = crate::LoadOptions::new().algorithms(std::sync::Arc::new(P99));
    let load = |b: &str| crate::Config::from_yaml_str_with(&cfg(b), "t.yaml", &options);
    assert_eq!(
        load("lowest(99)").unwrap().backends[0].balance,
        Balance::Custom {
            name: "lowest".into(),
            arg: Some("99".into())
        }
    );
    assert_eq!(
        load("roundrobin").unwrap().backends[0].balance,
        Balance::RoundRobin
    );
    assert_eq!(
        load("lowest(0)").unwrap_err().to_string(),
        "t.yaml:7:14: backends.app.balance: `lowest` takes a percentile from 1 to 100"
    );
    assert!(load("p99").unwrap_err().to_string().ends_with(
        "unknown balance algorithm `p99` (registered: roundrobin, leastconn, source, random, \
         first, uri, url_param(NAME), hdr(NAME), latency, ewma, lowest(PERCENTILE))"
    ));
}

#[test]
fn health_check_cookie_and_maxconn() {
    let c = load_ok(&MINIMAL.replace(
        "  app:\n",
        "  app:\n    timeout_queue: 250ms\n    cookie: { name: SERVERID, indirect: true, nocache: true }\n    health_check: { type: http, method: head, path: /health, host: example.org, expect_status: 200-299, interval: 500ms, timeout: 200ms, rise: 1, fall: 2 }\n",
    ).replace("s1: { addr: 127.0.0.1:8001 }", "s1: { addr: 127.0.0.1:8001, maxconn: 10, cookie: a1 }\n      s2: { addr: 127.0.0.1:8002 }"));
    let b = &c.backends[0];
    assert_eq!(b.timeout_queue, Duration::from_millis(250));
    let cookie = b.cookie.as_ref().unwrap();
    assert_eq!(
        (cookie.name.as_str(), cookie.indirect, cookie.nocache),
        ("SERVERID", true, true)
    );
    let hc = b.health_check.as_ref().unwrap();
    assert_eq!(hc.kind, CheckKind::Http);
    assert_eq!(
        (hc.method.as_str(), hc.path.as_str(), hc.host.as_deref()),
        ("HEAD", "/health", Some("example.org"))
    );
    assert_eq!(hc.expect_status, (200, 299));
    assert_eq!(
        (hc.interval, hc.timeout, hc.rise, hc.fall),
        (Duration::from_millis(500), Duration::from_millis(200), 1, 2)
    );
    assert_eq!(
        (b.servers[0].maxconn, b.servers[0].cookie.as_str()),
        (Some(10), "a1")
    );
    assert_eq!(
        (b.servers[1].maxconn, b.servers[1].cookie.as_str()),
        (None, "s2")
    );

    // Defaults: tcp check, timeout_queue = timeout_connect.
    let c = load_ok(&MINIMAL.replace(
        "  app:\n",
        "  app:\n    timeout_connect: 3s\n    health_check: { type: tcp }\n",
    ));
    let b = &c.backends[0];
    assert_eq!(b.timeout_queue, Duration::from_secs(3));
    let hc = b.health_check.as_ref().unwrap();
    assert_eq!(
        (hc.kind, hc.interval, hc.timeout, hc.rise, hc.fall),
        (
            CheckKind::Tcp,
            Duration::from_secs(2),
            Duration::from_secs(1),
            2,
            3
        )
    );
    assert_eq!(hc.expect_status, (200, 399));

    let e = load_err(&MINIMAL.replace(
        "  app:\n",
        "  app:\n    cookie: { mode: rewrite }\n    health_check: { type: udp, expect_status: 99-700, rise: 0 }\n",
    ));
    assert!(
        e.contains(
            "backends.app.cookie.mode: unknown cookie mode `rewrite` (expected one of: insert)"
        ),
        "{e}"
    );
    assert!(e.contains("missing required key `name`"), "{e}");
    assert!(
        e.contains("unknown health check type `udp` (expected one of: tcp, http)"),
        "{e}"
    );
    assert!(e.contains("invalid expect_status `99-700`"), "{e}");
    assert!(e.contains("backends.app.health_check.rise"), "{e}");
}

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
        crate::Latency {
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
    assert_eq!(c.backends[0].latency, crate::Latency::default());
    let c = load_ok(&MINIMAL.replace(
        "  app:\n",
        "  app:\n    balance: ewma\n    ewma: { decay: 5s, default_rtt: 10ms }\n",
    ));
    assert_eq!(
        c.backends[0].ewma,
        crate::Ewma {
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
