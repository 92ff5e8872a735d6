//! Layer 4 and TLS through the real binary: `mode: tcp` proxying (1 MiB
//! each way, balancing, half-close, tcp_request, health checks, idle
//! timeouts), TLS termination with certificates chosen by SNI (HTTP/1.1 and
//! HTTP/2 by ALPN, X-Forwarded-Proto), TLS to upstreams with verification
//! on and off, TLS passthrough routed by the ClientHello's server name, and
//! bad certificate files as config errors. Certificates are made with the
//! `openssl` command; the clients are `curl` and plain sockets.

mod common;

use common::{
    curl, free_port, get, self_signed, temp_dir, wait_until, Echo, Fairway, TestCa, TlsUpstream,
    Upstream,
};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

/// `N` bytes of a pattern that differs per connection.
fn payload(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(u32::from(seed)) as u8)
        .collect()
}

/// Sends `data` on a new connection to `addr` while reading the echo, then
/// half-closes and reads to the end; returns what came back.
fn echo_round_trip(addr: SocketAddr, data: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect to the tcp frontend");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut reader = s.try_clone().unwrap();
    let want = data.len();
    let read = thread::spawn(move || {
        let mut got = Vec::with_capacity(want);
        reader.read_to_end(&mut got).map(|_| got)
    });
    s.write_all(data).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    read.join().unwrap().expect("read the echo")
}

/// The connections in flight to the servers of `backend` now, summed, as
/// the admin listener's `/metrics` reports them (what `leastconn`
/// counts); `None` while the listener does not answer or has no such line.
fn active_connections(admin: SocketAddr, backend: &str) -> Option<usize> {
    TcpStream::connect(admin).ok()?;
    let metrics = get(admin, "/metrics", &[]).body;
    let prefix = format!("fairway_server_active_requests{{backend=\"{backend}\",");
    let counts: Vec<usize> = metrics
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!counts.is_empty()).then(|| counts.iter().sum())
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn tcp_mode_relays_a_mebibyte_each_way_intact_and_balances_connections() {
    let (e1, e2) = (Echo::start(), Echo::start());
    let admin = free_port();
    let f = Fairway::start(
        &format!(
            "
admin: {{ bind: 127.0.0.1:{admin} }}
frontends:
  tcp:
    bind: 127.0.0.1:{{PORT}}
    mode: tcp
    default_backend: echo
backends:
  echo:
    mode: tcp
    balance: roundrobin
    servers:
      e1: {{ addr: {} }}
      e2: {{ addr: {} }}
",
            e1.addr, e2.addr
        ),
        &[],
    );
    // Fairway::start's readiness probe was a connection too.
    wait_until(&f, Duration::from_secs(5), "the readiness probe", || {
        e1.accepted() + e2.accepted() == 1
    });
    let before = (e1.accepted(), e2.accepted());
    const MIB: usize = 1024 * 1024;
    let clients: Vec<_> = (0..4u8)
        .map(|i| {
            let addr = f.addr;
            thread::spawn(move || {
                let data = payload(MIB, i);
                let back = echo_round_trip(addr, &data);
                assert_eq!(back.len(), MIB, "connection {i}: length");
                assert!(back == data, "connection {i}: bytes differ");
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let got = (e1.accepted() - before.0, e2.accepted() - before.1);
    assert_eq!(got, (2, 2), "round robin");

    // The log has one line per connection; the metrics count them.
    wait_until(&f, Duration::from_secs(5), "5 access-log lines", || {
        f.log().matches("frontend=tcp backend=echo").count() == 5
    });
    let log = f.log();
    assert!(log.contains("bytes_in=1048576 bytes_out=1048576"), "{log}");
    assert!(log.contains("termination=--"), "{log}");
    let metrics = get(
        format!("127.0.0.1:{admin}").parse().unwrap(),
        "/metrics",
        &[],
    )
    .body;
    let e1_conns = 2 + before.0;
    let e1_line = format!(
        r#"fairway_tcp_connections_total{{backend="echo",frontend="tcp",server="e1",termination="--"}} {e1_conns}"#
    );
    for line in [
        e1_line.as_str(),
        r#"fairway_tcp_connections_total{backend="echo",frontend="tcp",server="e2",termination="--"} 2"#,
        r#"fairway_tcp_bytes_total{backend="echo",direction="in",frontend="tcp"} 4194304"#,
        r#"fairway_tcp_bytes_total{backend="echo",direction="out",frontend="tcp"} 4194304"#,
        r#"fairway_tcp_active_connections{frontend="tcp"} 0"#,
    ] {
        assert!(metrics.contains(line), "missing {line}:\n{metrics}");
    }
}

#[test]
fn tcp_balances_by_source_and_leastconn_and_skips_dead_servers() {
    let (e1, e2, e3, e4) = (Echo::start(), Echo::start(), Echo::start(), Echo::start());
    let dead = free_port();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let f = Fairway::start(
        &format!(
            "
admin: {{ bind: {admin} }}
frontends:
  src:
    bind: 127.0.0.1:{{PORT}}
    mode: tcp
    default_backend: by_source
  lc:
    bind: 127.0.0.1:{lc}
    mode: tcp
    default_backend: least
  checked:
    bind: 127.0.0.1:{checked}
    mode: tcp
    default_backend: checked
backends:
  by_source:
    mode: tcp
    balance: source
    servers: {{ a: {{ addr: {e1} }}, b: {{ addr: {e2} }} }}
  least:
    mode: tcp
    balance: leastconn
    servers: {{ a: {{ addr: {e2} }}, b: {{ addr: {e3} }} }}
  checked:
    mode: tcp
    health_check: {{ type: tcp, interval: 100ms, timeout: 200ms, rise: 1, fall: 1 }}
    servers: {{ dead: {{ addr: 127.0.0.1:{dead} }}, live: {{ addr: {e4} }} }}
",
            lc = free_port(),
            checked = free_port(),
            e1 = e1.addr,
            e2 = e2.addr,
            e3 = e3.addr,
            e4 = e4.addr,
        ),
        &[],
    );
    let port_of = |frontend: &str| -> SocketAddr {
        let text = std::fs::read_to_string(&f.conf).unwrap();
        let at = text.find(&format!("  {frontend}:\n")).unwrap();
        let line = text[at..].lines().nth(1).unwrap();
        line.trim().trim_start_matches("bind: ").parse().unwrap()
    };

    // source: every connection from 127.0.0.1 goes to one server (the
    // readiness probe of Fairway::start included).
    for _ in 0..6 {
        assert_eq!(echo_round_trip(f.addr, b"hi"), b"hi");
    }
    wait_until(&f, Duration::from_secs(5), "7 connections", || {
        e1.accepted() + e2.accepted() == 7
    });
    let (a, b) = (e1.accepted(), e2.accepted());
    assert!((a, b) == (7, 0) || (a, b) == (0, 7), "source: {a} {b}");

    // leastconn: a long-lived connection on one server sends the next ones
    // to the other.
    let before = (e2.accepted(), e3.accepted());
    let lc = port_of("lc");
    let mut held = TcpStream::connect(lc).unwrap();
    held.write_all(b"x").unwrap();
    let mut one = [0u8; 1];
    held.read_exact(&mut one).unwrap();
    let held_on_e2 = e2.accepted() > before.0;
    // The client sees the echo end before the proxy releases the server's
    // slot: wait until only the held connection counts, so the next one
    // sees one busy and one idle server.
    let slots_released = |what: &str| {
        wait_until(&f, Duration::from_secs(5), what, || {
            active_connections(admin, "least") == Some(1)
        });
    };
    slots_released("the held connection's slot");
    for _ in 0..4 {
        assert_eq!(echo_round_trip(lc, b"y"), b"y");
        slots_released("the finished connection's slot released");
    }
    let (d2, d3) = (e2.accepted() - before.0, e3.accepted() - before.1);
    if held_on_e2 {
        assert_eq!((d2, d3), (1, 4), "leastconn");
    } else {
        assert_eq!((d2, d3), (0, 5), "leastconn");
    }
    drop(held);

    // tcp health check: the dead server is taken out.
    let checked = port_of("checked");
    wait_until(&f, Duration::from_secs(5), "the dead server down", || {
        f.log().contains("server down backend=checked server=dead")
    });
    for _ in 0..5 {
        assert_eq!(echo_round_trip(checked, b"ok"), b"ok");
    }
}

#[test]
fn tcp_request_rules_accept_and_reject_by_source() {
    let echo = Echo::start();
    let f = Fairway::start(
        &format!(
            "
frontends:
  open:
    bind: 127.0.0.1:{{PORT}}
    mode: tcp
    acl:
      local: src 127.0.0.0/8
    tcp_request:
      - accept if local
      - reject
    default_backend: echo
  closed:
    bind: 127.0.0.1:{closed}
    mode: tcp
    tcp_request:
      - reject if {{ src 127.0.0.1 }}
    default_backend: echo
backends:
  echo:
    mode: tcp
    servers: {{ e: {{ addr: {} }} }}
",
            echo.addr,
            closed = free_port(),
        ),
        &[],
    );
    // Fairway::start's readiness probe was accepted too.
    assert_eq!(echo_round_trip(f.addr, b"let me in"), b"let me in");
    wait_until(&f, Duration::from_secs(5), "2 connections", || {
        echo.accepted() == 2
    });

    let closed: SocketAddr = {
        let text = std::fs::read_to_string(&f.conf).unwrap();
        let at = text.find("  closed:\n").unwrap();
        let line = text[at..].lines().nth(1).unwrap();
        line.trim().trim_start_matches("bind: ").parse().unwrap()
    };
    let mut s = TcpStream::connect(closed).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(b"hello?");
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "a rejected connection is closed at once");
    assert_eq!(echo.accepted(), 2, "the server never saw it");
    wait_until(&f, Duration::from_secs(5), "the reject in the log", || {
        f.log()
            .contains("frontend=closed backend=- server=- sni=- bytes_in=0")
            && f.log().contains("termination=PR")
    });
}

#[test]
fn tcp_idle_timeouts_close_silent_connections() {
    // The client timeout, and the pause between ticks: well below it, so a
    // stalled test thread does not let it fire, and enough ticks that they
    // span twice the timeout.
    const IDLE: Duration = Duration::from_secs(1);
    const TICK: Duration = Duration::from_millis(200);
    const TICKS: u32 = 10;
    let echo = Echo::start();
    let f = Fairway::start(
        &format!(
            "
frontends:
  tcp:
    bind: 127.0.0.1:{{PORT}}
    mode: tcp
    timeout_client: {}ms
    default_backend: echo
backends:
  echo:
    mode: tcp
    timeout_server: 10s
    servers: {{ e: {{ addr: {} }} }}
",
            IDLE.as_millis(),
            echo.addr
        ),
        &[],
    );
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Activity keeps it open past the timeout...
    let opened = Instant::now();
    let mut last_sent = opened;
    for _ in 0..TICKS {
        thread::sleep(TICK);
        last_sent = Instant::now();
        s.write_all(b"tick").unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).unwrap();
    }
    let active = opened.elapsed();
    assert!(active >= 2 * IDLE, "the ticks spanned only {active:?}");
    // ...silence closes it: not before the timeout counted from the last
    // tick (the proxy saw it after we sent it), and well before our 10 s
    // read timeout.
    let mut b = [0u8; 1];
    assert_eq!(s.read(&mut b).unwrap_or(0), 0);
    let waited = last_sent.elapsed();
    assert!(
        waited >= IDLE && waited < Duration::from_secs(8),
        "closed {waited:?} after the last tick (timeout_client {IDLE:?})"
    );
    wait_until(&f, Duration::from_secs(5), "cD in the log", || {
        f.log().contains("termination=cD")
    });
}

#[test]
fn https_termination_picks_the_certificate_by_sni_and_speaks_h2() {
    let dir = temp_dir("tls-term");
    let ca = TestCa::new(&dir, "front");
    let (a_cert, a_key) = ca.leaf("a", &["a.test"]);
    let (b_cert, b_key) = ca.leaf("b", &["b.test", "*.b.test"]);
    let up = Upstream::start("plain");
    let f = Fairway::start(
        &format!(
            "
frontends:
  web:
    bind: 127.0.0.1:{{PORT}}
    tls:
      cert: {}
      key: {}
      certs:
        - {{ cert: {}, key: {} }}
    default_backend: app
backends:
  app:
    servers: {{ s: {{ addr: {{UP0}} }} }}
",
            path(&a_cert),
            path(&a_key),
            path(&b_cert),
            path(&b_key)
        ),
        &[&up],
    );
    let port = f.addr.port();
    let cacert = path(&ca.cert()).to_string();
    for name in ["a.test", "b.test", "www.b.test"] {
        let resolve = format!("{name}:{port}:127.0.0.1");
        let url = format!("https://{name}:{port}/hello");
        // curl verifies the chain and the name: the right certificate was served.
        let (ok, out, err) = curl(&[
            "-i",
            "--http1.1",
            "--cacert",
            &cacert,
            "--resolve",
            &resolve,
            &url,
        ]);
        assert!(ok, "{name}: {err}\n{}", f.log());
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(out.ends_with("plain /hello"), "{out}");
    }
    let last = up.last();
    assert_eq!(last.header("x-forwarded-proto"), Some("https"));
    assert_eq!(last.header("x-forwarded-for"), Some("127.0.0.1"));

    // HTTP/2 by ALPN.
    let resolve = format!("a.test:{port}:127.0.0.1");
    let (ok, out, err) = curl(&[
        "--http2",
        "--cacert",
        &cacert,
        "--resolve",
        &resolve,
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{http_code}",
        &format!("https://a.test:{port}/h2"),
    ]);
    assert!(ok, "{err}");
    assert_eq!(out, "2 200");
    assert_eq!(up.last().target, "/h2");

    // An unknown name gets the first certificate (a.test): curl rejects it
    // for the wrong name, and accepts it when told to ignore names.
    let resolve = format!("nope.test:{port}:127.0.0.1");
    let url = format!("https://nope.test:{port}/");
    let (ok, _, err) = curl(&["--cacert", &cacert, "--resolve", &resolve, &url]);
    assert!(!ok && err.contains("nope.test"), "{err}");
    let (ok, out, _) = curl(&["-k", "--resolve", &resolve, &url]);
    assert!(ok && out == "plain /", "{out}");
}

#[test]
fn upstream_tls_with_verification_on_and_off_and_tls_health_checks() {
    let dir = temp_dir("tls-up");
    let ca = TestCa::new(&dir, "back");
    let (cert, key) = ca.leaf("up", &["up.test"]);
    let (ss_cert, ss_key) = self_signed(&dir, "selfsigned", &["self.test"]);
    let verified = TlsUpstream::start("verified", &cert, &key);
    let unverified = TlsUpstream::start("unverified", &ss_cert, &ss_key);
    let f = Fairway::start(
        &format!(
            "
frontends:
  web:
    bind: 127.0.0.1:{{PORT}}
    use_backend:
      - on if {{ path_beg /on }}
      - off if {{ path_beg /off }}
      - wrong if {{ path_beg /wrong }}
    default_backend: on
backends:
  on:
    health_check: {{ type: http, path: /health, interval: 200ms, rise: 1, fall: 1 }}
    servers:
      s: {{ addr: {v}, tls: true, sni: up.test, ca: {ca} }}
  off:
    servers:
      s: {{ addr: {u}, tls: true, verify: false }}
  wrong:
    retries: 0
    servers:
      s: {{ addr: {u}, tls: true, sni: self.test, ca: {ca} }}
",
            v = verified.addr,
            u = unverified.addr,
            ca = path(&ca.cert()),
        ),
        &[],
    );
    let r = f.get("/on/x");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "verified /on/x"),
        "{}",
        f.log()
    );
    let r = f.get("/off/y");
    assert_eq!((r.status, r.body.as_str()), (200, "unverified /off/y"));
    // Verification on against a certificate the CA did not sign: no answer
    // from that server.
    let r = f.get("/wrong");
    assert!(r.status >= 500, "{} {}", r.status, r.body);
    assert_eq!(unverified.client_hits(), 1, "only /off reached it");

    // Health checks go over TLS (with the server's name as Host).
    wait_until(&f, Duration::from_secs(5), "a TLS health check", || {
        verified
            .seen()
            .iter()
            .any(|s| s.target == "/health" && s.header("host") == Some("up.test"))
    });
}

#[test]
fn tcp_mode_can_terminate_tls_and_originate_it() {
    let dir = temp_dir("tls-tcp");
    let ca = TestCa::new(&dir, "l4");
    let (front_cert, front_key) = ca.leaf("front", &["front.test"]);
    let (up_cert, up_key) = self_signed(&dir, "up", &["up.test"]);
    let plain = Upstream::start("plain");
    let secure = TlsUpstream::start("secure", &up_cert, &up_key);
    let f = Fairway::start(
        &format!(
            "
frontends:
  terminate:
    bind: 127.0.0.1:{{PORT}}
    mode: tcp
    tls: {{ cert: {}, key: {} }}
    default_backend: plain
  originate:
    bind: 127.0.0.1:{originate}
    mode: tcp
    default_backend: secure
backends:
  plain:
    mode: tcp
    servers: {{ s: {{ addr: {{UP0}} }} }}
  secure:
    mode: tcp
    servers: {{ s: {{ addr: {}, tls: true, verify: false }} }}
",
            path(&front_cert),
            path(&front_key),
            secure.addr,
            originate = free_port(),
        ),
        &[&plain],
    );
    // TLS in, plain HTTP out.
    let port = f.addr.port();
    let resolve = format!("front.test:{port}:127.0.0.1");
    let (ok, out, err) = curl(&[
        "--cacert",
        path(&ca.cert()),
        "--resolve",
        &resolve,
        &format!("https://front.test:{port}/in"),
    ]);
    assert!(ok, "{err}\n{}", f.log());
    assert_eq!(out, "plain /in");
    // Plain in, TLS out.
    let text = std::fs::read_to_string(&f.conf).unwrap();
    let at = text.find("  originate:\n").unwrap();
    let bind = text[at..].lines().nth(1).unwrap();
    let originate: SocketAddr = bind.trim().trim_start_matches("bind: ").parse().unwrap();
    let r = get(originate, "/out", &[]);
    assert_eq!((r.status, r.body.as_str()), (200, "secure /out"));
}

#[test]
fn tls_passthrough_routes_by_the_client_hello_server_name() {
    let dir = temp_dir("passthrough");
    let ca = TestCa::new(&dir, "pt");
    let (a_cert, a_key) = ca.leaf("a", &["a.test"]);
    let (b_cert, b_key) = ca.leaf("b", &["b.test"]);
    let a = TlsUpstream::start("server-a", &a_cert, &a_key);
    let b = TlsUpstream::start("server-b", &b_cert, &b_key);
    let f = Fairway::start(
        &format!(
            "
frontends:
  sni:
    bind: 127.0.0.1:{{PORT}}
    mode: tcp
    inspect_delay: 2s
    acl:
      to_b: req_ssl_sni b.test
    tcp_request:
      - reject if {{ req_ssl_sni -m end .blocked.test }}
    use_backend:
      - b if to_b
    default_backend: a
backends:
  a:
    mode: tcp
    servers: {{ s: {{ addr: {} }} }}
  b:
    mode: tcp
    servers: {{ s: {{ addr: {} }} }}
",
            a.addr, b.addr
        ),
        &[],
    );
    let port = f.addr.port();
    let fetch = |name: &str| {
        let resolve = format!("{name}:{port}:127.0.0.1");
        curl(&[
            "--cacert",
            path(&ca.cert()),
            "--resolve",
            &resolve,
            &format!("https://{name}:{port}/via-{name}"),
        ])
    };
    // The upstreams terminate TLS with their own certificates: curl
    // verifies each name against the certificate of the server it reached.
    for _ in 0..3 {
        let (ok, out, err) = fetch("a.test");
        assert!(ok, "{err}\n{}", f.log());
        assert_eq!(out, "server-a /via-a.test");
        let (ok, out, err) = fetch("b.test");
        assert!(ok, "{err}\n{}", f.log());
        assert_eq!(out, "server-b /via-b.test");
    }
    assert_eq!((a.client_hits(), b.client_hits()), (3, 3));
    wait_until(&f, Duration::from_secs(5), "sni in the log", || {
        f.log().contains("backend=b server=s sni=b.test")
    });

    // A rejected name never reaches a server.
    let (ok, _, _) = fetch("x.blocked.test");
    assert!(!ok);
    assert_eq!((a.client_hits(), b.client_hits()), (3, 3));
    wait_until(&f, Duration::from_secs(5), "the reject in the log", || {
        f.log().contains("sni=x.blocked.test") && f.log().contains("termination=PR")
    });

    // A client that is not TLS (no server name) goes to the default backend
    // once it has sent something that cannot be a ClientHello.
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut back = Vec::new();
    let _ = s.read_to_end(&mut back);
    wait_until(
        &f,
        Duration::from_secs(5),
        "plain client to backend a",
        || f.log().contains("backend=a server=s sni=-"),
    );
}

#[test]
fn bad_certificate_files_are_config_errors_not_panics() {
    let dir = temp_dir("bad-cert");
    let (cert, key) = self_signed(&dir, "good", &["good.test"]);
    let (_, other_key) = self_signed(&dir, "other", &["other.test"]);
    std::fs::write(dir.join("garbage.pem"), "not a certificate\n").unwrap();
    let cases = [
        (
            format!("cert: {}/missing.pem, key: {}", dir.display(), path(&key)),
            "cannot read certificate file",
        ),
        (
            format!("cert: {}/garbage.pem, key: {}", dir.display(), path(&key)),
            "no PEM certificate",
        ),
        (
            format!("cert: {}, key: {}", path(&cert), path(&other_key)),
            "does not match the certificate",
        ),
        (
            format!("cert: {}, key: {}/garbage.pem", path(&cert), dir.display()),
            "no PEM private key",
        ),
    ];
    for (tls, message) in cases {
        let yaml = format!(
            "frontends:\n  web:\n    bind: 127.0.0.1:{}\n    tls: {{ {tls} }}\n    default_backend: app\n\
             backends:\n  app:\n    servers: {{ s: {{ addr: 127.0.0.1:1 }} }}\n",
            free_port()
        );
        let conf = dir.join("bad.yaml");
        std::fs::write(&conf, yaml).unwrap();
        for args in [vec!["-t", "-c", path(&conf)], vec!["-c", path(&conf)]] {
            let out = common::run(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
            assert!(
                stderr.contains("frontends.web.tls.") && stderr.contains(message),
                "{args:?}: {stderr}"
            );
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
    }
}

#[test]
fn a_reload_serves_renewed_certificates_to_new_connections() {
    let dir = temp_dir("tls-reload");
    let (old_ca, new_ca) = (TestCa::new(&dir, "old"), TestCa::new(&dir, "new"));
    let (cert, key) = old_ca.leaf("site", &["site.test"]);
    let up = Upstream::start("plain");
    let f = Fairway::start(
        &format!(
            "
frontends:
  web:
    bind: 127.0.0.1:{{PORT}}
    tls: {{ cert: {}, key: {} }}
    default_backend: app
backends:
  app:
    servers: {{ s: {{ addr: {{UP0}} }} }}
",
            path(&cert),
            path(&key)
        ),
        &[&up],
    );
    let port = f.addr.port();
    let resolve = format!("site.test:{port}:127.0.0.1");
    let url = format!("https://site.test:{port}/");
    let trusts = |ca: &TestCa| curl(&["--cacert", path(&ca.cert()), "--resolve", &resolve, &url]).0;
    assert!(trusts(&old_ca) && !trusts(&new_ca));

    // Renew: the same files now hold a certificate of another CA.
    let (renewed, renewed_key) = new_ca.leaf("renewed", &["site.test"]);
    std::fs::copy(&renewed, &cert).unwrap();
    std::fs::copy(&renewed_key, &key).unwrap();
    f.signal("HUP");
    wait_until(&f, Duration::from_secs(10), "the reload", || {
        f.log().contains("reload ok")
    });
    assert!(trusts(&new_ca) && !trusts(&old_ca));

    // A broken file is a rejected reload: the running certificate stays.
    std::fs::write(&key, "garbage\n").unwrap();
    f.signal("HUP");
    wait_until(&f, Duration::from_secs(10), "the rejected reload", || {
        f.log().contains("no PEM private key")
    });
    assert!(trusts(&new_ca));
}

#[test]
fn a_ca_file_holding_the_servers_own_self_signed_certificate_pins_it() {
    // openssl's self-signed certificates are CA certificates (CA:TRUE),
    // which rustls refuses as a server's own (`CaUsedAsEndEntity`); as
    // with HAProxy's ca-file, such a file pins that very certificate.
    let dir = temp_dir("tls-pin");
    let (cert, key) = self_signed(&dir, "pinned", &["self.test"]);
    let (other_cert, other_key) = self_signed(&dir, "imposter", &["self.test"]);
    let pinned = TlsUpstream::start("pinned", &cert, &key);
    let imposter = TlsUpstream::start("imposter", &other_cert, &other_key);
    let yaml = format!(
        "
frontends:
  web:
    bind: 127.0.0.1:{{PORT}}
    use_backend:
      - imposter if {{ path_beg /imposter }}
    default_backend: pinned
backends:
  pinned:
    health_check: {{ type: http, path: /health, interval: 100ms, rise: 1, fall: 1 }}
    servers:
      s: {{ addr: {p}, tls: true, sni: self.test, ca: {ca} }}
  imposter:
    retries: 0
    health_check: {{ type: http, path: /health, interval: 100ms, rise: 1, fall: 1 }}
    servers:
      s: {{ addr: {i}, tls: true, sni: self.test, ca: {ca} }}
",
        p = pinned.addr,
        i = imposter.addr,
        ca = path(&cert),
    );
    let f = Fairway::start(&yaml, &[]);
    // The health check sees the other certificate and marks it down.
    wait_until(
        &f,
        Duration::from_secs(5),
        "the imposter found down",
        || f.log().contains("server down backend=imposter"),
    );
    let r = f.get("/x");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "pinned /x"),
        "{}",
        f.log()
    );
    assert!(
        !f.log().contains("server down backend=pinned"),
        "{}",
        f.log()
    );
    // Marked down or not, a request never reaches the imposter.
    assert_eq!(imposter.client_hits(), 0);
}

#[test]
fn a_pinned_certificate_is_checked_on_every_new_connection() {
    // No health check: the proxy's own check refuses the other certificate.
    let dir = temp_dir("tls-pin2");
    let (cert, _) = self_signed(&dir, "pinned", &["self.test"]);
    let (other_cert, other_key) = self_signed(&dir, "imposter", &["self.test"]);
    let imposter = TlsUpstream::start("imposter", &other_cert, &other_key);
    let yaml = format!(
        "
frontends:
  web:
    bind: 127.0.0.1:{{PORT}}
    default_backend: b
backends:
  b:
    retries: 0
    servers:
      s: {{ addr: {i}, tls: true, sni: self.test, ca: {ca} }}
",
        i = imposter.addr,
        ca = path(&cert),
    );
    let f = Fairway::start(&yaml, &[]);
    let r = f.get("/x");
    assert!(r.status >= 500, "{} {}", r.status, r.body);
    assert_eq!(imposter.client_hits(), 0);
}
