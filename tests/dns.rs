//! `dns` of a backend, end to end (SPEC §8): a real DNS server (Debian's
//! `dnsmasq-base`, started by the test on a loopback port), real upstreams,
//! the real `fairway` binary, and a real client.
//!
//! Everything listens on and connects to 127.0.0.1 only, so an A record
//! cannot move traffic between two servers: SRV records (target and port)
//! move it between two upstreams on different ports; A records serve the
//! "a name only the configured name server knows" and "the resolver fails"
//! cases. Records change by restarting dnsmasq on the same port with new
//! arguments, which also leaves the resolver down for a moment.

mod common;

use common::{free_port, get, installed, run, temp_dir, wait_until, write_temp, Fairway, Upstream};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How soon a DNS change must be served: dnsmasq restarts in milliseconds
/// and fairway asks every 300 ms, so it is well under a second on an idle
/// machine; the waits poll, so they take only as long as it does.
const LIMIT: Duration = Duration::from_secs(10);

/// A dnsmasq answering on 127.0.0.1:`port` from its command line only (no
/// /etc/hosts, no upstream servers); killed when dropped.
struct Dnsmasq {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Dnsmasq {
    fn start(records: &[String]) -> Dnsmasq {
        let mut d = Dnsmasq {
            child: None,
            port: free_udp_port(),
            dir: temp_dir("dnsmasq"),
        };
        d.spawn(records);
        d
    }

    fn nameserver(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// (Re)starts it on its port with `records` (dnsmasq options such as
    /// `--host-record=NAME,IP`); returns once it answers.
    fn spawn(&mut self, records: &[String]) {
        let bin = installed(&["/usr/sbin/dnsmasq"], "dnsmasq-base");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("dnsmasq.log"))
            .unwrap();
        let child = common::spawn_group(
            Command::new(bin)
                .arg("--keep-in-foreground")
                .arg(format!("--port={}", self.port))
                .args(["--listen-address=127.0.0.1", "--bind-interfaces"])
                .args(["--no-resolv", "--no-hosts", "--conf-file=/dev/null"])
                .args(["--pid-file=", "--log-facility=-", "--log-queries"])
                .args(records)
                .stdout(Stdio::null())
                .stderr(Stdio::from(log)),
        )
        .expect("spawn dnsmasq");
        self.child = Some(child);
        let deadline = Instant::now() + LIMIT;
        while !answers(self.port) {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("dnsmasq exited with {status}:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "dnsmasq did not start");
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            common::stop_group(&mut child);
        }
    }

    /// Stops it and starts it again, on the same port, with `records`.
    fn restart(&mut self, records: &[String]) {
        self.stop();
        self.spawn(records);
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dnsmasq.log")).unwrap_or_default()
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port free for both UDP and TCP on 127.0.0.1 (dnsmasq takes both).
fn free_udp_port() -> u16 {
    loop {
        let port = free_port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Whether a DNS server on 127.0.0.1:`port` answers a query (any answer).
fn answers(port: u16) -> bool {
    let Ok(sock) = UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
    // ID 1, recursion desired, one question: `probe.` IN A.
    let query = [
        0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, b'p', b'r', b'o', b'b', b'e', 0, 0, 1, 0, 1,
    ];
    let mut buf = [0; 512];
    sock.send_to(&query, ("127.0.0.1", port)).is_ok() && sock.recv_from(&mut buf).is_ok()
}

/// The `/api/backends` address of server `server` of backend `app`.
fn api_addr(admin: SocketAddr, server: &str) -> String {
    let resp = get(admin, "/api/backends", &[]);
    assert_eq!(resp.status, 200, "{}", resp.body);
    let v: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
    let servers = v
        .as_array()
        .and_then(|bs| bs.iter().find(|b| b["name"] == "app"))
        .map(|b| b["servers"].clone())
        .unwrap_or_default();
    servers
        .as_array()
        .and_then(|ss| ss.iter().find(|s| s["name"] == server))
        .map(|s| s["addr"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

/// fairway with an admin listener and backend `app` resolving `servers`
/// against `dns` every 300 ms.
fn start(dns: &Dnsmasq, servers: &str) -> (Fairway, SocketAddr) {
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let yaml = format!(
        "admin:\n  bind: \"{admin}\"\n\
         frontends:\n  web:\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    default_backend: app\n\
         backends:\n  app:\n    dns: {{ interval: 300ms, nameservers: [\"{}\"] }}\n    \
         servers:\n{servers}",
        dns.nameserver()
    );
    let f = Fairway::start(&yaml, &[]);
    wait_until(&f, LIMIT, "the admin listener", || {
        TcpStream::connect(admin).is_ok()
    });
    (f, admin)
}

#[test]
fn a_name_only_the_configured_nameserver_knows_is_resolved_and_served() {
    let a = Upstream::start("a");
    let dns = Dnsmasq::start(&["--host-record=only-dnsmasq.fairway.test,127.0.0.1".into()]);
    let servers = format!(
        "      s1: {{ addr: \"only-dnsmasq.fairway.test:{}\" }}\n",
        a.addr.port()
    );
    // The system resolver does not know the name: the load does not ask it.
    let (f, admin) = start(&dns, &servers);
    let took = wait_until(&f, LIMIT, "a request served by a", || {
        f.get("/first").server() == "a"
    });
    println!("served through the name after {took:?}");
    let log = f.log();
    assert!(
        log.contains(&format!(
            "server address changed backend=app server=s1 addr={} was=none",
            a.addr
        )),
        "{log}"
    );
    assert_eq!(api_addr(admin, "s1"), a.addr.to_string());
    for i in 0..5 {
        let resp = f.get(&format!("/again/{i}"));
        assert_eq!((resp.status, resp.server()), (200, "a"));
    }
}

/// An upstream on 127.0.0.1 that answers `200` with header `x-server:
/// NAME` and a 64 KiB body; a request for `/hold` is answered only once
/// the test calls [`Gated::release`].
struct Gated {
    addr: SocketAddr,
    gate: Arc<(Mutex<bool>, Condvar)>,
    held: Arc<Mutex<usize>>,
}

/// The body every [`Gated`] answer carries.
fn big_body() -> String {
    "0123456789abcdef".repeat(4096)
}

impl Gated {
    fn start(name: &'static str) -> Gated {
        let listener = TcpListener::bind(("127.0.0.1", free_port())).unwrap();
        let addr = listener.local_addr().unwrap();
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let held = Arc::new(Mutex::new(0));
        let (g, h) = (gate.clone(), held.clone());
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (g, h) = (g.clone(), h.clone());
                thread::spawn(move || serve_gated(conn, name, &g, &h));
            }
        });
        Gated { addr, gate, held }
    }

    /// Requests for `/hold` waiting now.
    fn held(&self) -> usize {
        *self.held.lock().unwrap()
    }

    fn release(&self) {
        *self.gate.0.lock().unwrap() = true;
        self.gate.1.notify_all();
    }
}

fn serve_gated(conn: TcpStream, name: &str, gate: &(Mutex<bool>, Condvar), held: &Mutex<usize>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim_end().is_empty() {
                break;
            }
        }
        if target == "/hold" {
            *held.lock().unwrap() += 1;
            let mut open = gate.0.lock().unwrap();
            while !*open {
                open = gate.1.wait(open).unwrap();
            }
            drop(open);
            *held.lock().unwrap() -= 1;
        }
        let body = big_body();
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-server: {name}\r\n\r\n",
            body.len()
        );
        if out.write_all(head.as_bytes()).is_err() || out.write_all(body.as_bytes()).is_err() {
            return;
        }
    }
}

/// The SRV records of `_http._tcp.app.fairway.test`: `a` on port `pa` with
/// priority `prio_a`, `b` on `pb` with `prio_b` (both targets 127.0.0.1).
fn srv(pa: u16, prio_a: u16, pb: u16, prio_b: u16) -> Vec<String> {
    vec![
        "--host-record=target.fairway.test,127.0.0.1".into(),
        format!("--srv-host=_http._tcp.app.fairway.test,target.fairway.test,{pa},{prio_a},10"),
        format!("--srv-host=_http._tcp.app.fairway.test,target.fairway.test,{pb},{prio_b},10"),
    ]
}

#[test]
fn an_srv_change_moves_new_requests_while_one_in_flight_finishes() {
    let (a, b) = (Gated::start("a"), Gated::start("b"));
    let (pa, pb) = (a.addr.port(), b.addr.port());
    // `a` has the lower priority value: it is the one.
    let mut dns = Dnsmasq::start(&srv(pa, 10, pb, 20));
    let (f, admin) = start(&dns, "      app: { addr: _http._tcp.app.fairway.test }\n");
    wait_until(&f, LIMIT, "requests served by a", || {
        f.get("/warm").server() == "a"
    });
    assert_eq!(api_addr(admin, "app"), a.addr.to_string());

    // A slow request in flight on `a`...
    let proxy = f.addr;
    let slow = thread::spawn(move || {
        let mut s = TcpStream::connect(proxy).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(b"GET /hold HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    });
    wait_until(&f, LIMIT, "the slow request to reach a", || a.held() == 1);

    // ...while the SRV records change: `b` has the lower priority now.
    dns.restart(&srv(pa, 30, pb, 20));
    let took = wait_until(&f, LIMIT, "new requests served by b", || {
        f.get("/after").server() == "b"
    });
    println!("moved to b {took:?} after the records changed");
    assert_eq!(a.held(), 1, "the slow request is still in flight on a");
    for i in 0..10 {
        let resp = f.get(&format!("/next/{i}"));
        assert_eq!(
            (resp.status, resp.server(), resp.body.len()),
            (200, "b", big_body().len()),
            "every new request goes to b (no pooled connection to a is reused)"
        );
    }
    assert_eq!(api_addr(admin, "app"), b.addr.to_string());
    let log = f.log();
    assert!(
        log.contains(&format!(
            "server address changed backend=app server=app addr={} was={}",
            b.addr, a.addr
        )),
        "{log}"
    );

    // The request in flight finishes on `a`, whole.
    a.release();
    let text = slow.join().unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text:.200}");
    assert!(text.contains("x-server: a"), "{text:.200}");
    assert!(text.ends_with(&big_body()), "the full body arrived");
}

#[test]
fn a_failing_resolver_keeps_the_last_good_address() {
    let a = Upstream::start("a");
    let name = "flaky.fairway.test";
    let record = format!("--host-record={name},127.0.0.1");
    let mut dns = Dnsmasq::start(std::slice::from_ref(&record));
    let servers = format!("      s1: {{ addr: \"{name}:{}\" }}\n", a.addr.port());
    let (f, admin) = start(&dns, &servers);
    wait_until(&f, LIMIT, "requests served by a", || {
        f.get("/").server() == "a"
    });

    // The name server is gone: no answers at all.
    dns.stop();
    let keeping = format!(
        "dns failed backend=app server=s1 name={name}:{} err=",
        a.addr.port()
    );
    wait_until(&f, LIMIT, "the failure in the log", || {
        f.log().contains(&keeping)
    });
    let log = f.log();
    let line = log.lines().find(|l| l.contains(&keeping)).unwrap();
    assert!(line.ends_with(&format!("; keeping {}", a.addr)), "{line}");
    for i in 0..5 {
        let resp = f.get(&format!("/down/{i}"));
        assert_eq!(
            (resp.status, resp.server()),
            (200, "a"),
            "last good address"
        );
    }

    // It answers again, but the name does not exist (NXDOMAIN).
    dns.spawn(&[format!("--address=/{name}/")]);
    wait_until(&f, LIMIT, "NXDOMAIN in the log", || {
        f.log().contains("err=NXDOMAIN (no such name); keeping")
    });
    for i in 0..5 {
        let resp = f.get(&format!("/nx/{i}"));
        assert_eq!(
            (resp.status, resp.server()),
            (200, "a"),
            "last good address"
        );
    }
    assert_eq!(api_addr(admin, "s1"), a.addr.to_string());

    // Back: the recovery is logged once, and nothing moved.
    dns.restart(&[record]);
    wait_until(&f, LIMIT, "the recovery in the log", || {
        f.log().contains("dns recovered backend=app server=s1")
    });
    // Three more rounds answered: still one recovery line, and the
    // address never moved (its one change is the first resolution).
    let queries = |dns: &Dnsmasq| dns.log().matches(&format!("query[A] {name} ")).count();
    let seen = queries(&dns);
    wait_until(&f, LIMIT, "three more rounds", || queries(&dns) >= seen + 3);
    let log = f.log();
    assert_eq!(log.matches("dns recovered").count(), 1, "{log}");
    assert_eq!(log.matches("server address changed").count(), 1, "{log}");
    assert_eq!(f.get("/back").server(), "a");
}

#[test]
fn bad_dns_settings_are_refused_with_the_key_named() {
    let path = write_temp(
        "dns.yaml",
        "frontends:\n  web:\n    bind: [\"127.0.0.1:1\"]\n    default_backend: app\n\
         backends:\n  app:\n    dns: { interval: 0s, nameservers: [\"ns.example\"], retries: 3 }\n    \
         servers:\n      s1: { addr: \"app.example\" }\n",
    );
    let out = run(&["-t", "-c", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    for expected in [
        "backends.app.dns.interval: timeout must be greater than zero",
        "backends.app.dns.nameservers[0]: invalid name server `ns.example` (expected ip:port, or ip for port 53)",
        "backends.app.dns.retries: unknown key `retries` (expected one of: interval, nameservers)",
        "backends.app.servers.s1.addr: server address `app.example` has no port",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
}
