//! Server connection reuse (`http_reuse`) against a server that answers a
//! request twice: the stray answer must never reach another client.
//!
//! The server here answers every request, then sends a second, unasked
//! response ("stray after PATH"), as a server does that ignored a body
//! which held a second request. Where that stray lands is what a user
//! sees: under `http_reuse: safe` (the default) and `never`, a client's
//! first request goes over a server connection no other client used, so
//! client B always gets its own answer; `always` hands B the connection A
//! just left, and a stray that comes late enough is B's "response" (as
//! HAProxy's `http-reuse always` does). A server connection that carries
//! unread bytes when it is parked or taken again is closed, in every mode.
//!
//! HAProxy 2.6 on the same bytes ([`haproxy_keeps_first_requests_apart`]):
//! its default (`safe`) gives B its own answer; `http-reuse always` gives B
//! A's stray.

mod common;

use common::{curl, free_port, listen, read_response, Fairway, Haproxy, Response};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// A server that answers each request and then, `delay` later (at once:
/// in the same write), sends a stray response nobody asked for (none with
/// no `delay`).
struct Doubler {
    addr: SocketAddr,
    /// Connections accepted.
    accepted: Arc<AtomicUsize>,
    /// Connections the proxy closed (EOF read).
    closed: Arc<AtomicUsize>,
}

impl Doubler {
    fn start(delay: impl Into<Option<Duration>>) -> Doubler {
        let delay = delay.into();
        let listener = listen();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let (a, c) = (accepted.clone(), closed.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                a.fetch_add(1, Ordering::SeqCst);
                let c = c.clone();
                thread::spawn(move || {
                    serve_doubled(conn, delay);
                    c.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Doubler {
            addr,
            accepted,
            closed,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }
}

fn answer(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Serves one connection until the proxy closes it.
fn serve_doubled(conn: TcpStream, delay: Option<Duration>) {
    let mut out = conn.try_clone().unwrap();
    let mut reader = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("?").to_string();
        let mut length = 0;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let first = answer(&format!("answer to {path}"));
        let stray = answer(&format!("stray after {path}"));
        let sent = match delay {
            None => out.write_all(first.as_bytes()),
            Some(d) if d.is_zero() => out.write_all(format!("{first}{stray}").as_bytes()),
            Some(d) => out.write_all(first.as_bytes()).and_then(|()| {
                thread::sleep(d);
                out.write_all(stray.as_bytes())
            }),
        };
        if sent.is_err() {
            return;
        }
    }
}

/// The stray comes this long after the answer: after the next client's
/// request reached a reused connection ([`NEXT_CLIENT`] later).
const LATE: Duration = Duration::from_millis(800);
/// How long after A's answer B sends its request.
const NEXT_CLIENT: Duration = Duration::from_millis(100);

fn fairway(server: &Doubler, reuse: Option<&str>) -> Fairway {
    let reuse = reuse.map_or(String::new(), |r| format!("    http_reuse: {r}\n"));
    let yaml = format!(
        "frontends:\n  web:\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    h2c: true\n    default_backend: app\n\
         backends:\n  app:\n{reuse}    retries: 0\n    servers: {{ s1: {{ addr: \"{}\" }} }}\n",
        server.addr
    );
    Fairway::start(&yaml, &[])
}

/// A client connection (keep-alive).
struct Client {
    out: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            out: s.try_clone().unwrap(),
            reader: BufReader::new(s),
        }
    }

    /// `GET path`, or `POST path` with a small body.
    fn send(&mut self, method: &str, path: &str) -> Response {
        let req = if method == "POST" {
            format!("POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello")
        } else {
            format!("{method} {path} HTTP/1.1\r\nhost: x\r\n\r\n")
        };
        self.out.write_all(req.as_bytes()).unwrap();
        read_response(&mut self.reader, false).expect("a response")
    }
}

/// Client A's request, then (a new connection) client B's, while A's
/// stray is still to come: B's body.
fn a_then_b(addr: SocketAddr, method: &str) -> String {
    let mut a = Client::connect(addr);
    assert_eq!(a.send(method, "/a").body, "answer to /a");
    thread::sleep(NEXT_CLIENT);
    let mut b = Client::connect(addr);
    let body = b.send(method, "/b").body;
    // Let the strays land before the next case.
    thread::sleep(LATE);
    body
}

#[test]
fn by_default_a_first_request_never_gets_another_clients_stray() {
    for method in ["GET", "POST"] {
        let server = Doubler::start(LATE);
        let f = fairway(&server, None);
        for round in 0..3 {
            let b = a_then_b(f.addr, method);
            assert_eq!(b, "answer to /b", "{method}, round {round}:\n{}", f.log());
        }
    }
}

#[test]
fn never_keeps_server_connections_to_their_client() {
    for method in ["GET", "POST"] {
        let server = Doubler::start(LATE);
        let f = fairway(&server, Some("never"));
        for round in 0..3 {
            let b = a_then_b(f.addr, method);
            assert_eq!(b, "answer to /b", "{method}, round {round}:\n{}", f.log());
        }
        // Each client connection had its own server connection.
        assert_eq!(server.accepted(), 6, "{method}");
    }
    // A client connection keeps its server connection for its next
    // requests, and closes it when it goes.
    for method in ["GET", "POST"] {
        let server = Doubler::start(None);
        let f = fairway(&server, Some("never"));
        let mut c = Client::connect(f.addr);
        for i in 0..5 {
            assert_eq!(
                c.send(method, &format!("/c{i}")).body,
                format!("answer to /c{i}")
            );
        }
        let mut d = Client::connect(f.addr);
        assert_eq!(d.send(method, "/d").body, "answer to /d");
        assert_eq!(server.accepted(), 2, "{method}: one per client connection");
        if method == "GET" {
            drop(c);
            thread::sleep(Duration::from_millis(200));
            assert_eq!(server.closed(), 1, "closed with its client connection");
        }
    }
}

#[test]
fn always_shares_connections_and_so_the_late_stray() {
    // What `always` means (HAProxy's `http-reuse always` does the same): B's
    // first request takes the connection A left, and the stray that comes
    // after B's request went out is read as B's response.
    for method in ["GET", "POST"] {
        let server = Doubler::start(LATE);
        let f = fairway(&server, Some("always"));
        let b = a_then_b(f.addr, method);
        assert_eq!(b, "stray after /a", "{method}:\n{}", f.log());
    }
}

/// `GET path` over cleartext HTTP/2 (curl, a connection of its own): the body.
fn h2(addr: SocketAddr, path: &str) -> String {
    let (ok, out, err) = curl(&["--http2-prior-knowledge", &format!("http://{addr}{path}")]);
    assert!(ok, "{err}");
    out
}

/// HTTP/2 clients go through Pingora's proxy and its pool: the same rule.
#[test]
fn http2_clients_get_their_own_answers_unless_always() {
    for (reuse, expected) in [
        (None, "answer to /b"),
        (Some("never"), "answer to /b"),
        (Some("always"), "stray after /a"),
    ] {
        let server = Doubler::start(LATE);
        let f = fairway(&server, reuse);
        assert_eq!(h2(f.addr, "/a"), "answer to /a");
        thread::sleep(NEXT_CLIENT);
        assert_eq!(h2(f.addr, "/b"), expected, "{reuse:?}:\n{}", f.log());
    }
}

/// Under `safe`, a client's later requests may take any idle connection:
/// one with a stray already read with the answer (the same write), or one
/// the stray reached while it was idle, is closed instead.
#[test]
fn a_connection_with_unread_bytes_is_closed_never_reused() {
    for (delay, wait) in [
        // The stray arrives with the answer: unread when it is parked.
        (Duration::ZERO, Duration::from_millis(100)),
        // The stray arrives while the connection is idle in the pool.
        (Duration::from_millis(50), Duration::from_millis(400)),
    ] {
        for mode in ["safe", "always"] {
            let server = Doubler::start(delay);
            let f = fairway(&server, Some(mode));
            // C's first request: a connection of its own, parked after
            // (with a stray, for the zero delay: then closed).
            let mut c = Client::connect(f.addr);
            assert_eq!(c.send("GET", "/c1").body, "answer to /c1");
            thread::sleep(wait);
            // A's request: another connection, the newest parked.
            let mut a = Client::connect(f.addr);
            assert_eq!(a.send("GET", "/a").body, "answer to /a");
            thread::sleep(wait);
            // C's next request may take any idle connection; every one has a
            // stray by now, so none is reused.
            assert_eq!(
                c.send("GET", "/c2").body,
                "answer to /c2",
                "{mode}, stray {delay:?} after:\n{}",
                f.log()
            );
            assert_eq!(server.accepted(), 3, "{mode}, {delay:?}: a new connection");
            thread::sleep(Duration::from_millis(200));
            assert!(
                server.closed() >= 2,
                "{mode}, {delay:?}: the connections with strays are closed ({})",
                server.closed()
            );
        }
    }
}

/// HAProxy 2.6 on the same bytes: `safe` (its default) keeps B apart,
/// `always` gives B A's stray.
#[test]
fn haproxy_keeps_first_requests_apart() {
    for (reuse, expected) in [("safe", "answer to /b"), ("always", "stray after /a")] {
        let server = Doubler::start(LATE);
        let port = free_port();
        let config = format!(
            "global\n  log stdout format raw local0\ndefaults\n  mode http\n  log global\n  \
             timeout connect 5s\n  timeout client 10s\n  timeout server 10s\n\
             frontend web\n  bind 127.0.0.1:{port}\n  default_backend app\n\
             backend app\n  http-reuse {reuse}\n  server s1 {}\n",
            server.addr
        );
        let h = Haproxy::start(&config, port);
        let b = a_then_b(h.addr(), "GET");
        assert_eq!(b, expected, "haproxy http-reuse {reuse}");
    }
}
