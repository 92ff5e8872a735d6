//! Retries on responses (`retry_on`) and the retry budget
//! (`retry_budget`), end to end: real servers on loopback that answer 503,
//! close without answering, never answer or break off mid-response, the
//! real `fairway` binary, and what clients and the servers see, for
//! requests with and without a body.
//!
//! Figures are printed (`cargo test --test retry -- --nocapture`).

mod common;

use common::{read_response, Fairway, Response};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What a [`Server`] does with each request once it has read it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u16)]
enum Act {
    /// Closes the connection without a byte of response.
    Close = 1,
    /// Never answers (the connection stays open).
    Hang = 2,
    /// Sends a response head and half its body, then closes.
    Partial = 3,
}

/// A real HTTP/1.1 server on 127.0.0.1 whose behaviour can change: answer
/// with a status (body `NAME METHOD TARGET BODY-LENGTH`, header
/// `x-server: NAME`), or one of the [`Act`]s. Records each request as
/// `(method, body length)`.
struct Server {
    name: &'static str,
    addr: SocketAddr,
    /// A status (≥ 100) or an [`Act`].
    mode: Arc<AtomicU16>,
    seen: Arc<Mutex<Vec<(String, usize)>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn start(name: &'static str, status: u16) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = Server {
            name,
            addr: listener.local_addr().unwrap(),
            mode: Arc::new(AtomicU16::new(status)),
            seen: Arc::default(),
            stop: Arc::default(),
        };
        let (mode, seen, stop) = (
            Arc::clone(&server.mode),
            Arc::clone(&server.seen),
            Arc::clone(&server.stop),
        );
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (mode, seen) = (Arc::clone(&mode), Arc::clone(&seen));
                thread::spawn(move || serve(conn, name, &mode, &seen));
            }
        });
        server
    }

    fn set(&self, mode: u16) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    fn act(&self, act: Act) {
        self.set(act as u16);
    }

    /// Requests it has read.
    fn hits(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn seen(&self) -> Vec<(String, usize)> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(conn: TcpStream, name: &str, mode: &AtomicU16, seen: &Mutex<Vec<(String, usize)>>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut words = line.split_whitespace();
        let method = words.next().unwrap_or("").to_string();
        let target = words.next().unwrap_or("").to_string();
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
                if k.trim().eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        seen.lock().unwrap().push((method.clone(), length));
        let text = format!("{name} {method} {target} {length}");
        let head = |status: u16, len: usize| {
            format!("HTTP/1.1 {status} X\r\ncontent-length: {len}\r\nx-server: {name}\r\n\r\n")
        };
        match mode.load(Ordering::SeqCst) {
            m if m == Act::Close as u16 => return,
            m if m == Act::Hang as u16 => {
                thread::sleep(Duration::from_secs(30));
                return;
            }
            m if m == Act::Partial as u16 => {
                let half = &text[..text.len() / 2];
                let _ = out.write_all(format!("{}{half}", head(200, text.len())).as_bytes());
                return;
            }
            status => {
                if out
                    .write_all(format!("{}{text}", head(status, text.len())).as_bytes())
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

/// fairway with backend `app` (round robin over `servers` in order)
/// carrying the extra backend keys `settings`.
fn start(settings: &str, servers: &[&Server]) -> Fairway {
    let mut yaml = format!(
        "frontends:\n  web:\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    default_backend: app\n\
         backends:\n  app:\n    timeout_connect: 1s\n    timeout_server: 400ms\n{settings}    servers:\n"
    );
    for s in servers {
        yaml.push_str(&format!("      {}: {{ addr: \"{}\" }}\n", s.name, s.addr));
    }
    Fairway::start(&yaml, &[])
}

/// `METHOD / HTTP/1.1` with `body` (none when empty), and its response; an
/// error when the connection ends before a whole response.
fn send(f: &Fairway, method: &str, body: &[u8]) -> std::io::Result<Response> {
    let mut s = TcpStream::connect(f.addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut req = format!("{method} / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n");
    if !body.is_empty() {
        req.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    read_response(&mut BufReader::new(s), method == "HEAD")
}

fn get(f: &Fairway) -> Response {
    send(f, "GET", b"").expect("a response")
}

/// The `retries=` counts of the access log's lines, in order, once it
/// has `lines` of them (the log is written off the request's path).
fn logged_retries(f: &Fairway, lines: usize) -> Vec<u32> {
    let read = || -> Vec<u32> {
        f.log()
            .lines()
            .filter_map(|l| l.split(" retries=").nth(1))
            .filter_map(|r| r.split(' ').next()?.parse().ok())
            .collect()
    };
    common::wait_until(f, Duration::from_secs(10), "the access log", || {
        read().len() >= lines
    });
    read()
}

#[test]
fn a_503_is_retried_on_another_server_when_retry_on_names_it() {
    let (a, b) = (Server::start("a", 503), Server::start("b", 200));
    let f = start("    retry_on: [conn-failure, 503]\n", &[&a, &b]);
    for i in 0..10 {
        let r = get(&f);
        assert_eq!((r.status, r.server()), (200, "b"), "request {i}");
    }
    assert!(a.hits() >= 4, "round robin sent a share to a: {}", a.hits());
    assert_eq!(b.hits(), 10);
    let retries = logged_retries(&f, 10);
    assert_eq!(
        retries.iter().sum::<u32>() as usize,
        a.hits(),
        "{retries:?}"
    );

    // Without `503` in `retry_on` (the default: conn-failure only) the
    // client gets a's 503.
    let f = start("", &[&a, &b]);
    let statuses: Vec<u16> = (0..4).map(|_| get(&f).status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 503).count(),
        2,
        "{statuses:?}"
    );
}

#[test]
fn when_every_attempt_fails_the_last_response_reaches_the_client() {
    let (a, b) = (Server::start("a", 503), Server::start("b", 503));
    let f = start("    retries: 2\n    retry_on: [503]\n", &[&a, &b]);
    let r = get(&f);
    // The server's own answer, not one fairway made up.
    assert_eq!(r.status, 503);
    assert!(r.body.ends_with("GET / 0"), "{:?}", r.body);
    assert_eq!(a.hits() + b.hits(), 3, "the first attempt and 2 retries");
    assert_eq!(logged_retries(&f, 1), [2]);
}

#[test]
fn only_requests_safe_to_resend_are_resent() {
    let (a, b) = (Server::start("a", 503), Server::start("b", 200));
    let f = start("    retry_on: [503]\n", &[&a, &b]);
    // A POST whose body was read whole and is at most 16 KiB is resent,
    // body and all.
    for _ in 0..4 {
        let r = send(&f, "POST", &[b'x'; 16 * 1024]).unwrap();
        assert_eq!((r.status, r.server()), (200, "b"), "{}", f.log());
    }
    assert!(b.seen().iter().all(|s| *s == ("POST".into(), 16 * 1024)));
    assert!(a.hits() >= 1);
    // A larger one is not: half the requests get a's 503.
    let statuses: Vec<u16> = (0..4)
        .map(|_| send(&f, "POST", &[b'x'; 16 * 1024 + 1]).unwrap().status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 503).count(),
        2,
        "{statuses:?}"
    );
    // A PUT is idempotent: resent whatever its size.
    for _ in 0..4 {
        let r = send(&f, "PUT", &[b'y'; 40 * 1024]).unwrap();
        assert_eq!((r.status, r.server()), (200, "b"));
    }
}

#[test]
fn a_server_that_closes_or_never_answers_is_retried_when_named() {
    let (a, b) = (Server::start("a", 200), Server::start("b", 200));
    a.act(Act::Close);
    let f = start(
        "    retry_on: [empty-response, response-timeout]\n",
        &[&a, &b],
    );
    for _ in 0..4 {
        let r = get(&f);
        assert_eq!((r.status, r.server()), (200, "b"), "{}", f.log());
    }
    a.act(Act::Hang);
    let mut slowest = Duration::ZERO;
    for _ in 0..4 {
        let start = Instant::now();
        let r = get(&f);
        slowest = slowest.max(start.elapsed());
        assert_eq!((r.status, r.server()), (200, "b"), "{}", f.log());
    }
    eprintln!(
        "slowest request with a server that never answers: {slowest:?} (timeout_server 400ms)"
    );
    assert!(slowest >= Duration::from_millis(400), "{slowest:?}");

    // Not named: the client gets the error.
    let f = start("    retry_on: [conn-failure]\n", &[&a, &b]);
    a.act(Act::Close);
    let statuses: Vec<u16> = (0..4).map(|_| get(&f).status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 502).count(),
        2,
        "{statuses:?}"
    );
}

#[test]
fn nothing_is_resent_once_a_response_byte_reached_the_client() {
    let (a, b) = (Server::start("a", 200), Server::start("b", 200));
    a.act(Act::Partial);
    let f = start(
        "    retry_on: [conn-failure, empty-response, junk-response, response-timeout, 502]\n",
        &[&a, &b],
    );
    let mut cut = 0;
    for _ in 0..4 {
        match send(&f, "GET", b"") {
            Ok(r) if r.status == 200 && r.server() == "b" => {}
            // a's head went out: the client sees the response cut off.
            _ => cut += 1,
        }
    }
    assert_eq!(cut, 2, "{}", f.log());
    assert_eq!(b.hits(), 2, "b only got its own share");
}

#[test]
fn the_retry_budget_bounds_the_load_a_failing_backend_gets() {
    let (a, b) = (Server::start("a", 503), Server::start("b", 503));
    const N: usize = 50;
    // Without a budget every request costs 1 + retries attempts.
    let f = start("    retries: 3\n    retry_on: [503]\n", &[&a, &b]);
    for _ in 0..N {
        assert_eq!(get(&f).status, 503);
    }
    let unbudgeted = a.hits() + b.hits();
    assert_eq!(unbudgeted, 4 * N);
    drop(f);

    let (a, b) = (Server::start("a", 503), Server::start("b", 503));
    let f = start(
        "    retries: 3\n    retry_on: [503]\n    retry_budget: 20%\n",
        &[&a, &b],
    );
    for _ in 0..N {
        assert_eq!(get(&f).status, 503);
    }
    let attempts = a.hits() + b.hits();
    let retries = attempts - N;
    eprintln!(
        "{N} requests to a backend where every server answers 503: {unbudgeted} attempts \
         without a budget ({:.1}x), {attempts} with retry_budget 20% ({:.2}x)",
        unbudgeted as f64 / N as f64,
        attempts as f64 / N as f64
    );
    // 20% of the requests (the floor of 3 is below that).
    assert!(retries <= N / 5, "{retries} retries for {N} requests");
    assert!(retries >= 3, "the budget still allows some: {retries}");
    assert_eq!(
        logged_retries(&f, N).iter().sum::<u32>() as usize,
        retries,
        "the log counts them"
    );

    // Once a server recovers it serves its share; with the budget
    // spent, a's 503s are not retried to it.
    b.set(200);
    let served: Vec<u16> = (0..4).map(|_| get(&f).status).collect();
    assert_eq!(
        served.iter().filter(|s| **s == 200).count(),
        2,
        "{served:?}"
    );
}

#[test]
fn retry_on_and_retry_budget_are_checked_at_load() {
    let dir = common::temp_dir("retry-config");
    for (settings, expected) in [
        (
            "retry_on: [conn-failure, 5xx]",
            "unknown retry_on condition `5xx`",
        ),
        ("retry_on: [none, 503]", "`none` cannot be combined"),
        ("retry_on: [600]", "unknown retry_on condition `600`"),
        ("retry_budget: 0%", "invalid retry_budget `0%`"),
        ("retry_budget: 20", "invalid retry_budget `20`"),
    ] {
        let yaml = format!(
            "frontends:\n  web:\n    bind: [\"127.0.0.1:1\"]\n    default_backend: app\n\
             backends:\n  app:\n    {settings}\n    servers: {{ a: {{ addr: \"127.0.0.1:1\" }} }}\n"
        );
        let conf = dir.join("bad.yaml");
        std::fs::write(&conf, yaml).unwrap();
        let out = common::run(&["-t", "-c", conf.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{settings}");
        assert!(stderr.contains(expected), "{settings}: {stderr}");
        assert!(
            stderr.contains("bad.yaml:7:"),
            "{settings}: the line is named: {stderr}"
        );
    }
}
