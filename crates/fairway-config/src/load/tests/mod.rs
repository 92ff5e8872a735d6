//! Loader tests that need no ACL parsing (no `acl`, `http_request` or
//! `use_backend` lines), so they hold whatever the ACL crate's state.

use super::*;
use crate::{Balance, CheckKind, Mode, Proto};
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
    assert_eq!(s.socket_addr, Some("127.0.0.1:8001".parse().unwrap()));
    assert_eq!(s.lookup, None);
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
    assert!(b.servers[0].socket_addr.unwrap().ip().is_loopback());
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
         timeout_connect, timeout_server, timeout_tunnel, retries, redispatch, http_reuse, retry_on, retry_budget, http_response, timeout_queue, cookie, health_check, latency, ewma, outlier, discovery, dns, servers)\n\
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

mod sections;

#[test]
fn accept_proxy_is_a_boolean_and_not_for_tls_listeners() {
    let c = load_ok(&MINIMAL.replace(
        "    default_backend: app\n",
        "    accept_proxy: true\n    default_backend: app\n",
    ));
    assert!(c.frontends[0].accept_proxy);
    assert!(!load_ok(MINIMAL).frontends[0].accept_proxy);
    let e = load_err(&MINIMAL.replace(
        "    default_backend: app\n",
        "    accept_proxy: yes please\n    default_backend: app\n",
    ));
    assert!(
        e.contains("t.yaml:4:19") && e.contains("accept_proxy"),
        "{e}"
    );
    let e = load_err(&MINIMAL.replace(
        "    default_backend: app\n",
        "    tls: { cert: tests/tls/a.pem, key: tests/tls/a.key }\n    accept_proxy: true\n    default_backend: app\n",
    ));
    assert!(
        e.contains("`accept_proxy` cannot be combined with `tls`"),
        "{e}"
    );
    assert!(e.contains("t.yaml:5:5"), "{e}");
}

#[test]
fn h2c_is_for_cleartext_http_frontends() {
    let c = load_ok(&MINIMAL.replace(
        "    default_backend: app\n",
        "    h2c: true\n    default_backend: app\n",
    ));
    assert!(c.frontends[0].h2c);
    let e = load_err(&MINIMAL.replace(
        "    default_backend: app\n",
        "    tls: { cert: tests/tls/a.pem, key: tests/tls/a.key }\n    h2c: true\n    default_backend: app\n",
    ));
    assert!(
        e.contains("t.yaml:5:5") && e.contains("`h2c` is cleartext HTTP/2"),
        "{e}"
    );
}

#[test]
fn proto_h2_needs_tls_h2c_none() {
    let servers = |s: &str| MINIMAL.replace("      s1: { addr: 127.0.0.1:8001 }\n", s);
    let c = load_ok(&servers(
        "      s1: { addr: 127.0.0.1:8001, proto: h2c }\n      s2: { addr: 127.0.0.1:8002, tls: true, proto: h2 }\n      s3: { addr: 127.0.0.1:8003 }\n",
    ));
    let protos: Vec<Proto> = c.backends[0].servers.iter().map(|s| s.proto).collect();
    assert_eq!(protos, [Proto::H2c, Proto::H2, Proto::H1]);
    let e = load_err(&servers("      s1: { addr: 127.0.0.1:8001, proto: h2 }\n"));
    assert!(
        e.contains("t.yaml:8:35") && e.contains("add `tls: true`"),
        "{e}"
    );
    let e = load_err(&servers(
        "      s1: { addr: 127.0.0.1:8001, tls: true, proto: h2c }\n",
    ));
    assert!(e.contains("`proto: h2c` is cleartext"), "{e}");
    let e = load_err(&servers("      s1: { addr: 127.0.0.1:8001, proto: h3 }\n"));
    assert!(e.contains("proto"), "{e}");
    // HTTP checks speak each server's protocol.
    let c = load_ok(&MINIMAL.replace(
        "    servers:\n      s1: { addr: 127.0.0.1:8001 }\n",
        "    health_check: { type: http }\n    servers:\n      s1: { addr: 127.0.0.1:8001, proto: h2c }\n",
    ));
    assert!(c.backends[0].health_check.is_some());
}

#[test]
fn send_proxy_is_v1_or_v2() {
    let servers = |s: &str| MINIMAL.replace("      s1: { addr: 127.0.0.1:8001 }\n", s);
    let c = load_ok(&servers(
        "      s1: { addr: 127.0.0.1:8001, send_proxy: v1 }\n      s2: { addr: 127.0.0.1:8002, send_proxy: v2 }\n      s3: { addr: 127.0.0.1:8003 }\n",
    ));
    let sent: Vec<_> = c.backends[0].servers.iter().map(|s| s.send_proxy).collect();
    assert_eq!(
        sent,
        [
            Some(crate::ProxyVersion::V1),
            Some(crate::ProxyVersion::V2),
            None
        ]
    );
    let e = load_err(&servers(
        "      s1: { addr: 127.0.0.1:8001, send_proxy: v3 }\n",
    ));
    assert!(e.contains("t.yaml:8:47") && e.contains("send_proxy"), "{e}");
}

#[test]
fn compression_takes_algos_in_order_types_and_min_size() {
    use crate::{Coding, Compression};
    let with = |c: &str| {
        MINIMAL.replace(
            "    default_backend: app\n",
            &format!("{c}    default_backend: app\n"),
        )
    };
    let c = load_ok(&with(
        "    compression:\n      algos: [zstd, br, gzip]\n      types: [text/html, Application/JSON, 'text/*']\n      min_size: 1024\n",
    ));
    assert_eq!(
        c.frontends[0].compression,
        Some(Compression {
            algos: vec![Coding::Zstd, Coding::Br, Coding::Gzip],
            types: vec![
                "text/html".into(),
                "application/json".into(),
                "text/*".into()
            ],
            min_size: 1024,
        })
    );
    assert_eq!(load_ok(MINIMAL).frontends[0].compression, None);
    let c = load_ok(&with("    compression: { algos: [gzip] }\n"));
    let gzip = c.frontends[0].compression.as_ref().unwrap();
    assert_eq!(gzip.types, Compression::DEFAULT_TYPES.map(String::from));
    assert_eq!(gzip.min_size, 0);

    let e = load_err(&with("    compression: { algos: [gzip, deflate] }\n"));
    assert!(e.contains("t.yaml:4:34"), "{e}");
    assert!(
        e.contains("unknown compression algorithm `deflate` (expected one of: zstd, br, gzip)"),
        "{e}"
    );
    let e = load_err(&with("    compression: { algos: [gzip, gzip] }\n"));
    assert!(e.contains("`gzip` is listed twice"), "{e}");
    let e = load_err(&with("    compression: { types: [text/html] }\n"));
    assert!(e.contains("missing required key `algos`"), "{e}");
    let e = load_err(&with("    compression: { algos: [br], types: [html] }\n"));
    assert!(e.contains("invalid media type `html`"), "{e}");
    let e = load_err(&with("    compression: { algos: [br], min_size: -1 }\n"));
    assert!(e.contains("frontends.web.compression.min_size"), "{e}");
    let e = load_err(&with("    compression: { algos: [br], level: 9 }\n"));
    assert!(e.contains("unknown key `level`"), "{e}");
    let e = load_err(
        &with("    compression: { algos: [br] }\n")
            .replace("    bind:", "    mode: tcp\n    bind:"),
    );
    assert!(e.contains("`compression` needs `mode: http`"), "{e}");
}
