//! fairway's HTTP/1 engine seen from clients and servers: client
//! connections kept alive, server connections reused (requests with and
//! without a body share them), a connection the server closed while idle
//! never used again (a request that cannot be resent gets its answer, not a
//! 502), pipelined heads held to the head rules, responses relayed as they
//! come, and large bodies intact to slow clients.

mod common;

use common::{read_response, Fairway, Upstream};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// A keep-alive HTTP/1.1 server that counts the connections it accepts,
/// records each request as `METHOD TARGET BODY` and, with
/// `close_after_each`, closes every connection right after its first
/// response without announcing it (as a server whose keep-alive timeout
/// fires does).
struct Counting {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    close_after_each: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Counting {
    fn start() -> Counting {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let close_after_each = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (a, c, r) = (accepted.clone(), close_after_each.clone(), requests.clone());
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                a.fetch_add(1, Ordering::SeqCst);
                let (c, r) = (c.clone(), r.clone());
                thread::spawn(move || answer(conn, &c, &r));
            }
        });
        Counting {
            addr,
            accepted,
            close_after_each,
            requests,
        }
    }
}

fn answer(conn: TcpStream, close_after_each: &AtomicBool, requests: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    loop {
        // A head, then its body if it declares one.
        let mut length = 0usize;
        let mut request_line = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if request_line.is_none() {
                let mut words = line.split(' ');
                request_line = Some(format!(
                    "{} {}",
                    words.next().unwrap_or(""),
                    words.next().unwrap_or("")
                ));
            } else if line.trim_end().is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        requests.lock().unwrap().push(format!(
            "{} {}",
            request_line.unwrap_or_default(),
            String::from_utf8_lossy(&body)
        ));
        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        if out.write_all(reply).is_err() {
            return;
        }
        if close_after_each.load(Ordering::SeqCst) {
            return;
        }
    }
}

const CONFIG: &str = r#"
frontends:
  web:
    bind: ["127.0.0.1:{PORT}"]
    default_backend: app
backends:
  app:
    retries: 0
    servers: { s1: { addr: "{UP0}" } }
"#;

/// Starts fairway in front of `server`.
fn fairway(server: &Counting) -> Fairway {
    // `Fairway::start` fills `{UP0}` from an Upstream; this server is not
    // one, so its address goes in directly.
    Fairway::start(&CONFIG.replace("{UP0}", &server.addr.to_string()), &[])
}

/// Sends `method /` without a body on `conn` and reads the answer.
fn call(conn: &mut TcpStream, reader: &mut BufReader<TcpStream>, method: &str) -> u16 {
    write!(conn, "{method} / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    read_response(reader, false).unwrap().status
}

#[test]
fn server_connections_are_reused() {
    let server = Counting::start();
    let f = fairway(&server);
    let mut conn = TcpStream::connect(f.addr).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    for _ in 0..20 {
        assert_eq!(call(&mut conn, &mut reader, "GET"), 200);
    }
    assert_eq!(
        server.accepted.load(Ordering::SeqCst),
        1,
        "20 requests in a row, one server connection"
    );
}

#[test]
fn a_connection_the_server_closed_is_not_reused() {
    let server = Counting::start();
    server.close_after_each.store(true, Ordering::SeqCst);
    let f = fairway(&server);
    let mut conn = TcpStream::connect(f.addr).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    // POST is not resent after a failure: a pooled connection the
    // server has closed would turn into a 502.
    for i in 0..10 {
        thread::sleep(Duration::from_millis(30));
        assert_eq!(
            call(&mut conn, &mut reader, "POST"),
            200,
            "request {i}:\n{}",
            f.log()
        );
    }
    assert_eq!(server.accepted.load(Ordering::SeqCst), 10);
}

/// Requests with and without a body share the client connection and the
/// server connection: a GET, a POST with a body and a GET on one client
/// connection are all answered, and the server gets all three, the body
/// whole, on one connection.
#[test]
fn requests_with_and_without_a_body_share_one_connection() {
    let server = Counting::start();
    let f = fairway(&server);
    let mut conn = TcpStream::connect(f.addr).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    assert_eq!(call(&mut conn, &mut reader, "GET"), 200);
    write!(
        conn,
        "POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
    )
    .unwrap();
    let r = read_response(&mut reader, false).unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "ok"), "{}", f.log());
    assert_eq!(call(&mut conn, &mut reader, "GET"), 200);
    assert_eq!(
        *server.requests.lock().unwrap(),
        ["GET / ", "POST /form hello", "GET / "]
    );
    assert_eq!(
        server.accepted.load(Ordering::SeqCst),
        1,
        "a GET, a POST and a GET in a row, one server connection"
    );
}

/// Pipelined requests: the bytes of a next request that arrive with the
/// previous one are held to the same head rules as bytes read later. A
/// head split across the two is served; a request line with a space in its
/// target is refused (400) and never reaches the server.
#[test]
fn pipelined_heads_are_checked_like_any_head() {
    let up = Upstream::start("a");
    let f = Fairway::start(
        "frontends:\n  web:\n    bind: [\"127.0.0.1:{PORT}\"]\n    default_backend: app\n\
         backends:\n  app:\n    servers: { s1: { addr: \"{UP0}\" } }\n",
        &[&up],
    );

    // The second head starts in the first write and ends in a later one.
    let mut conn = TcpStream::connect(f.addr).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    conn.write_all(b"GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /tw")
        .unwrap();
    let first = read_response(&mut reader, false).unwrap();
    thread::sleep(Duration::from_millis(200));
    conn.write_all(b"o HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let second = read_response(&mut reader, false).unwrap();
    assert_eq!((first.status, second.status), (200, 200), "{}", f.log());
    assert_eq!(second.body, "a /two");

    // A malformed request line inside the first write.
    let mut conn = TcpStream::connect(f.addr).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    conn.write_all(
        b"GET /three HTTP/1.1\r\nHost: a\r\n\r\nGET /ad min HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_response(&mut reader, false).unwrap().status, 200);
    assert_eq!(read_response(&mut reader, false).unwrap().status, 400);
    let seen = up.seen();
    let targets: Vec<&str> = seen.iter().map(|s| s.target.as_str()).collect();
    assert_eq!(targets, ["/one", "/two", "/three"]);
}

/// A server that answers in two parts and sends the second only when the
/// test says so: a response body in pieces (chunked, or with a length and
/// a first piece of 2,000 bytes).
fn two_part_server(chunked: bool) -> (SocketAddr, std::sync::mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 2 {
            line.clear();
        }
        let mut out = conn;
        let first = "a".repeat(2000);
        let (head, part1, part2) = if chunked {
            (
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_string(),
                format!("{:x}\r\n{first}\r\n", first.len()),
                "3\r\nend\r\n0\r\n\r\n".to_string(),
            )
        } else {
            (
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
                    first.len() + 3
                ),
                first,
                "end".to_string(),
            )
        };
        out.write_all(format!("{head}{part1}").as_bytes()).unwrap();
        let _ = wait.recv_timeout(Duration::from_secs(10));
        let _ = out.write_all(part2.as_bytes());
        thread::sleep(Duration::from_secs(1));
    });
    (addr, go)
}

/// The response reaches the client as the server sends it: the first part
/// of a body is not held back until the rest arrives.
#[test]
fn a_response_in_parts_reaches_the_client_as_it_comes() {
    for chunked in [true, false] {
        let (addr, go) = two_part_server(chunked);
        let yaml = CONFIG.replace("{UP0}", &addr.to_string());
        let f = Fairway::start(&yaml, &[]);
        let mut conn = TcpStream::connect(f.addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        conn.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        // The first part arrives while the server still holds the rest.
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        while got.windows(10).filter(|w| w == b"aaaaaaaaaa").count() < 199 {
            match conn.read(&mut chunk) {
                Ok(n) if n > 0 => got.extend_from_slice(&chunk[..n]),
                other => panic!(
                    "first part not relayed (chunked: {chunked}): {other:?}, got {:?}",
                    String::from_utf8_lossy(&got)
                ),
            }
        }
        go.send(()).unwrap();
        while !got.ends_with(b"end") && !got.ends_with(b"end\r\n0\r\n\r\n") {
            match conn.read(&mut chunk) {
                Ok(n) if n > 0 => got.extend_from_slice(&chunk[..n]),
                other => panic!("second part (chunked: {chunked}): {other:?}"),
            }
        }
    }
}

/// Byte `i` of the body the pattern server sends for `seed` (a letter).
fn pattern(seed: usize, i: usize) -> u8 {
    b'a' + ((i * 31 + seed * 7 + i / 4096) % 26) as u8
}

/// A keep-alive server answering `GET /<size>/<seed>[/chunked]` with `size`
/// bytes of [`pattern`], each response head and body in one write.
fn pattern_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut out = conn;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let target = line.split(' ').nth(1).unwrap_or("/").to_string();
                    while reader.read_line(&mut line).unwrap_or(0) > 2 {
                        line.clear();
                    }
                    let parts: Vec<&str> = target.trim_start_matches('/').split('/').collect();
                    let size: usize = parts[0].parse().unwrap_or(0);
                    let seed: usize = parts.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                    let body: Vec<u8> = (0..size).map(|i| pattern(seed, i)).collect();
                    let mut reply = Vec::new();
                    if parts.get(2) == Some(&"chunked") {
                        reply.extend_from_slice(
                            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
                        );
                        for piece in body.chunks(100_000) {
                            reply.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                            reply.extend_from_slice(piece);
                            reply.extend_from_slice(b"\r\n");
                        }
                        reply.extend_from_slice(b"0\r\n\r\n");
                    } else {
                        reply.extend_from_slice(
                            format!("HTTP/1.1 200 OK\r\ncontent-length: {size}\r\n\r\n").as_bytes(),
                        );
                        reply.extend_from_slice(&body);
                    }
                    if out.write_all(&reply).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Large bodies reach clients byte for byte when the client is slow (the
/// proxy's writes to it stop midway and resume) and several responses are
/// relayed at once on one worker thread, which lends its read buffers from
/// one response to the next: each body checked against its pattern, on
/// keep-alive connections, with a length and chunked.
#[test]
fn large_bodies_reach_slow_clients_intact() {
    let addr = pattern_server();
    let yaml = CONFIG
        .replace("{UP0}", &addr.to_string())
        .replace("frontends:", "global: { threads: 1 }\nfrontends:");
    let f = Fairway::start(&yaml, &[]);
    let clients: Vec<_> = (0..4)
        .map(|client| {
            let proxy = f.addr;
            thread::spawn(move || {
                let mut conn = TcpStream::connect(proxy).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let sizes = [70_000, 3 << 20, 65_536, 200_000];
                for (n, size) in sizes.into_iter().enumerate() {
                    let seed = client * 10 + n;
                    let chunked = if n % 2 == 1 { "/chunked" } else { "" };
                    write!(
                        conn,
                        "GET /{size}/{seed}{chunked} HTTP/1.1\r\nHost: a\r\n\r\n"
                    )
                    .unwrap();
                    // A slow reader: the proxy's socket fills first.
                    thread::sleep(Duration::from_millis(100));
                    let resp = read_response(&mut reader, false).unwrap();
                    assert_eq!(resp.status, 200);
                    assert_eq!(resp.body.len(), size, "client {client}, response {n}");
                    let body = resp.body.as_bytes();
                    if let Some(i) = (0..size).find(|&i| body[i] != pattern(seed, i)) {
                        panic!("client {client}, response {n}: byte {i} of {size} differs");
                    }
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
}
