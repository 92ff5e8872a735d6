//! `accept_proxy: true`: every connection starts with a PROXY protocol
//! header (v1 or v2) and the address it carries is the client's — for the
//! rules (`src`), `X-Forwarded-For` and `mode: tcp` rules. A connection
//! without a valid header is closed, logged and counted. HAProxy 2.6 sends
//! the header (`send-proxy`, `send-proxy-v2`) in front of fairway.

mod common;

use common::admin;
use common::Echo;
use common::{free_port, installed, read_response, temp_dir, Fairway, Peer, Upstream};
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

/// A v2 header carrying `src` → 127.0.0.1:80 over TCP/IPv4.
fn v2(src: [u8; 4], port: u16) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&port.to_be_bytes());
    h.extend_from_slice(&80u16.to_be_bytes());
    h
}

const HTTP: &str = r#"
frontends:
  web:
    bind: ["127.0.0.1:{PORT}"]
    accept_proxy: true
    acl:
      internal: src 10.0.0.0/8
    http_request:
      - deny if internal
    default_backend: app
backends:
  app:
    servers: { s1: { addr: "{UP0}" } }
"#;

/// Sends `prefix` then a GET on a new connection; the response, or `None`
/// when fairway closed the connection without one.
fn call(addr: SocketAddr, prefix: &[u8]) -> Option<u16> {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn.write_all(prefix).unwrap();
    conn.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(conn);
    read_response(&mut reader, false).ok().map(|r| r.status)
}

#[test]
fn the_carried_address_is_the_client_for_rules_and_forwarded_headers() {
    let up = Upstream::start("a");
    let a = admin::start(HTTP, &[&up], false);
    let addr = a.f.addr;

    // v1 and v2 from an outside address: served, the server sees it.
    assert_eq!(
        call(addr, b"PROXY TCP4 192.0.2.7 127.0.0.1 5555 80\r\n"),
        Some(200)
    );
    assert_eq!(up.last().header("x-forwarded-for"), Some("192.0.2.7"));
    assert_eq!(call(addr, &v2([198, 51, 100, 9], 6000)), Some(200));
    assert_eq!(up.last().header("x-forwarded-for"), Some("198.51.100.9"));
    // An internal address carried in the header meets the deny rule.
    assert_eq!(call(addr, &v2([10, 1, 2, 3], 6001)), Some(403));
    assert_eq!(
        call(addr, b"PROXY TCP4 10.9.9.9 127.0.0.1 1 80\r\n"),
        Some(403)
    );
    // A v2 LOCAL header (a balancer's own check): the connection's address.
    let mut local = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    local.extend_from_slice(&[0x20, 0x00, 0, 0]);
    assert_eq!(call(addr, &local), Some(200));
    assert_eq!(up.last().header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(up.hits(), 3);

    // No header, a malformed one, an oversized one: closed, no answer, no
    // request reaches the server.
    assert_eq!(call(addr, b""), None);
    assert_eq!(call(addr, b"PROXY TCP4 10.1.2.3\r\n"), None);
    let mut long = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    long.extend_from_slice(&[0x21, 0x11, 0xFF, 0xFF]);
    assert_eq!(call(addr, &long), None);
    assert_eq!(up.hits(), 3);
    let metrics = a.call("GET", "/metrics", None).body;
    for (reason, n) in [("proxy_header_invalid", 2), ("proxy_header_too_long", 1)] {
        let line = format!(
            "fairway_proxy_protocol_refused_total{{frontend=\"web\",reason=\"{reason}\"}} {n}"
        );
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
    assert!(
        a.f.log().contains("reason=proxy_header_invalid"),
        "{}",
        a.f.log()
    );
}

#[test]
fn a_client_that_sends_no_header_is_closed_at_timeout_http_request() {
    let up = Upstream::start("a");
    let f = Fairway::start(
        &HTTP.replace(
            "    accept_proxy: true\n",
            "    accept_proxy: true\n    timeout_http_request: 1s\n",
        ),
        &[&up],
    );
    let mut conn = TcpStream::connect(f.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(b"PROXY ").unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 64];
    let n = conn.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    assert_eq!(up.hits(), 0);
}

/// HAProxy 2.6 in front of fairway.
fn haproxy(tag: &str, mode: &str, server: &str) -> Peer {
    haproxy_with(tag, mode, "", server)
}

/// HAProxy with `bind_opts` on its bind (and, with options, `option
/// forwardfor` in http mode).
fn haproxy_with(tag: &str, mode: &str, bind_opts: &str, server: &str) -> Peer {
    let bin = installed(&["/usr/sbin/haproxy", "/usr/bin/haproxy"], "haproxy");
    let port = free_port();
    let dir = temp_dir(tag);
    let conf = dir.join("haproxy.cfg");
    std::fs::write(
        &conf,
        format!(
            "defaults\n  mode {mode}\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n\
             listen front\n  bind 127.0.0.1:{port} {bind_opts}\n{ff}  server f {server}\n",
            ff = if mode == "http" && !bind_opts.is_empty() {
                "  option forwardfor\n"
            } else {
                ""
            }
        ),
    )
    .unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("-db").arg("-f").arg(&conf);
    Peer::spawn("haproxy", cmd, format!("127.0.0.1:{port}").parse().unwrap())
}

#[test]
fn haproxy_send_proxy_v1_and_v2_into_fairway() {
    let up = Upstream::start("a");
    let f = Fairway::start(HTTP, &[&up]);
    for send in ["send-proxy", "send-proxy-v2"] {
        let h = haproxy(&format!("pp-{send}"), "http", &format!("{} {send}", f.addr));
        let before = up.hits();
        assert_eq!(call(h.addr, b""), Some(200), "{send}: {}", f.log());
        assert_eq!(up.hits(), before + 1);
        // HAProxy carried its client's address (this test's, on loopback).
        assert_eq!(
            up.last().header("x-forwarded-for"),
            Some("127.0.0.1"),
            "{send}"
        );
    }
}

#[test]
fn tcp_frontends_take_the_carried_address_for_their_rules() {
    let echo = Echo::start();
    let yaml = format!(
        "frontends:\n  t:\n    mode: tcp\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    accept_proxy: true\n\
         \x20   acl:\n      internal: src 10.0.0.0/8\n    tcp_request:\n      - reject if internal\n\
         \x20   default_backend: e\n\
         backends:\n  e:\n    mode: tcp\n    servers: {{ s1: {{ addr: \"{}\" }} }}\n",
        echo.addr
    );
    let f = Fairway::start(&yaml, &[]);
    let exchange = |prefix: &[u8]| -> Vec<u8> {
        let mut conn = TcpStream::connect(f.addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        conn.write_all(prefix).unwrap();
        conn.write_all(b"ping").unwrap();
        let mut got = vec![0u8; 4];
        match conn.read_exact(&mut got) {
            Ok(()) => got,
            Err(_) => Vec::new(),
        }
    };
    assert_eq!(exchange(&v2([192, 0, 2, 7], 7000)), b"ping");
    assert_eq!(exchange(&v2([10, 1, 2, 3], 7001)), b"", "{}", f.log());
    assert_eq!(exchange(b""), b"");
    // HAProxy in tcp mode in front, with the v2 header.
    let h = haproxy("pp-tcp", "tcp", &format!("{} send-proxy-v2", f.addr));
    let mut conn = TcpStream::connect(h.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn.write_all(b"pong").unwrap();
    let mut got = [0u8; 4];
    conn.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"pong");
}

/// `set-src hdr(x-forwarded-for)` under a condition on the peer: a trusted
/// forwarder's header gives the client address to the rules after it and
/// to `X-Forwarded-For`; from an untrusted peer the header changes nothing.
#[test]
fn set_src_trusts_forwarded_for_only_from_the_peers_the_rules_allow() {
    let up = Upstream::start("a");
    let yaml = |trusted: &str| {
        format!(
            "frontends:\n  web:\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    acl:\n      internal: src 10.0.0.0/8\n\
             \x20   http_request:\n      - set-src hdr(x-forwarded-for) if {{ src {trusted} }}\n      - deny if internal\n\
             \x20   default_backend: app\n\
             backends:\n  app:\n    servers: {{ s1: {{ addr: \"{{UP0}}\" }} }}\n"
        )
    };
    let f = Fairway::start(&yaml("127.0.0.0/8"), &[&up]);
    let xff = |v: &str| common::get(f.addr, "/x", &[("X-Forwarded-For", v)]).status;
    assert_eq!(xff("10.1.2.3"), 403);
    assert_eq!(xff("192.0.2.5, 10.9.9.9"), 403, "the last address counts");
    assert_eq!(xff("10.9.9.9, 192.0.2.5"), 200);
    let sent = up.last().header("x-forwarded-for").unwrap().to_string();
    assert!(sent.ends_with(", 192.0.2.5"), "{sent}");
    assert_eq!(xff("not an address"), 200, "no address: src unchanged");
    // Not a trusted peer: the header is only a header.
    let f = Fairway::start(&yaml("10.0.0.0/8"), &[&up]);
    assert_eq!(
        common::get(f.addr, "/x", &[("X-Forwarded-For", "10.1.2.3")]).status,
        200
    );
}

/// `send_proxy: v1|v2` on servers, into HAProxy's `accept-proxy`: the
/// header carries the client's address (here the one a PROXY header
/// brought to fairway), which HAProxy puts in `X-Forwarded-For`; without a
/// valid header HAProxy would refuse the connection.
#[test]
fn send_proxy_into_haproxy_accept_proxy() {
    let up = Upstream::start("a");
    let h = haproxy_with(
        "pp-accept-http",
        "http",
        "accept-proxy",
        &up.addr.to_string(),
    );
    for version in ["v1", "v2"] {
        let yaml = format!(
            "frontends:\n  web:\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    accept_proxy: true\n    forwardfor: false\n\
             \x20   default_backend: app\n\
             backends:\n  app:\n    servers: {{ h: {{ addr: \"{}\", send_proxy: {version} }} }}\n",
            h.addr
        );
        let f = Fairway::start(&yaml, &[]);
        for n in 0..3 {
            let status = call(
                f.addr,
                format!("PROXY TCP4 192.0.2.{n} 127.0.0.1 5000 80\r\n").as_bytes(),
            );
            assert_eq!(status, Some(200), "{version}: {}", f.log());
            // Each client's requests carry its own address.
            assert_eq!(
                up.last().header("x-forwarded-for"),
                Some(format!("192.0.2.{n}").as_str()),
                "{version}"
            );
        }
    }
    // mode tcp: HAProxy in tcp mode accepts the relayed connection only
    // with the header.
    let echo = Echo::start();
    let h = haproxy_with(
        "pp-accept-tcp",
        "tcp",
        "accept-proxy",
        &echo.addr.to_string(),
    );
    let yaml = format!(
        "frontends:\n  t:\n    mode: tcp\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    default_backend: e\n\
         backends:\n  e:\n    mode: tcp\n    servers: {{ h: {{ addr: \"{}\", send_proxy: v2 }} }}\n",
        h.addr
    );
    let f = Fairway::start(&yaml, &[]);
    let mut conn = TcpStream::connect(f.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn.write_all(b"ping").unwrap();
    let mut got = [0u8; 4];
    conn.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping", "{}", f.log());
}
