//! What one HTTP/1 engine must do (issue #29), each case through fairway
//! and through HAProxy 2.6 started beside it on the same server, asserting
//! what a client (or the server) sees: trailers both ways, a client that
//! half-closes after its request, 1xx responses (`100 Continue`, `103
//! Early Hints`), the response head limit (64 KiB), obs-fold in a response,
//! request bodies of every framing byte for byte, one server-connection
//! pool, a request pipelined behind a body, any `101` upgrade as a raw
//! tunnel with `timeout_tunnel`, and a malformed chunk in a response.
//!
//! HAProxy is checked first in every case: where it fails, the expectation
//! is wrong, not fairway.

#[path = "../common/mod.rs"]
mod common;
mod raw;

use common::{free_port, temp_dir, Fairway, Haproxy, Peer};
use raw::{dechunk, field, fields, read_body, read_head, status, text, Client, Raw};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// HAProxy and fairway in front of one server.
struct Pair {
    haproxy: Haproxy,
    fairway: Fairway,
}

impl Pair {
    /// `fairway_backend`: lines added to fairway's backend (6 spaces in);
    /// `haproxy_global`, `haproxy_defaults`: lines added to HAProxy's.
    fn start(
        server: SocketAddr,
        fairway_backend: &str,
        haproxy_global: &str,
        haproxy_defaults: &str,
    ) -> Pair {
        let port = free_port();
        let haproxy = Haproxy::start(
            &format!(
                "global\n  log stdout format raw local0\n{haproxy_global}\
                 defaults\n  mode http\n  log global\n  timeout connect 5s\n  \
                 timeout client 30s\n  timeout server 30s\n{haproxy_defaults}\
                 frontend web\n  bind 127.0.0.1:{port}\n  default_backend app\n\
                 backend app\n  server s1 {server}\n"
            ),
            port,
        );
        let fairway = Fairway::start(
            &format!(
                "frontends:\n  web:\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    default_backend: app\n\
                 backends:\n  app:\n    retries: 0\n{fairway_backend}    servers: {{ s1: {{ addr: \"{server}\" }} }}\n"
            ),
            &[],
        );
        Pair { haproxy, fairway }
    }

    fn plain(server: SocketAddr) -> Pair {
        Pair::start(server, "", "", "")
    }

    /// HAProxy first: where it fails, the expectation is wrong.
    fn each(&self) -> [(&'static str, SocketAddr); 2] {
        [
            ("haproxy", self.haproxy.addr()),
            ("fairway", self.fairway.addr),
        ]
    }

    /// fairway's log, for a failure message about `who`.
    fn log(&self, who: &str) -> String {
        if who == "fairway" {
            self.fairway.log()
        } else {
            String::new()
        }
    }
}

// ---------------------------------------------------------------------------
// 1. Trailers both ways.

#[test]
fn trailers_reach_the_server_and_the_client() {
    let server = Raw::answering(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-checksum\r\n\r\n\
          2\r\nok\r\n0\r\nx-checksum: 2\r\n\r\n",
    );
    let pair = Pair::plain(server.addr);
    for (n, (who, addr)) in pair.each().into_iter().enumerate() {
        let mut c = Client::connect(addr);
        c.send(
            b"POST /t HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\ntrailer: x-checksum\r\n\r\n\
              5\r\nhello\r\n0\r\nx-checksum: 1\r\n\r\n",
        );
        let (head, body) = c
            .response()
            .unwrap_or_else(|e| panic!("{who}: {e}\n{}", pair.log(who)));
        assert_eq!(status(&head), 200, "{who}: {}", text(&head));
        assert_eq!(
            field(&head, "transfer-encoding").as_deref(),
            Some("chunked"),
            "{who}: a response with trailers stays chunked: {}",
            text(&head)
        );
        let (data, trailers) = dechunk(&body);
        assert_eq!(data, b"ok", "{who}");
        assert!(
            trailers.contains(&("x-checksum".into(), "2".into())),
            "{who}: the server's trailer is not relayed: {:?}",
            text(&body)
        );
        let request = server.request(n);
        let at = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let (data, trailers) = dechunk(&request[at..]);
        assert_eq!(data, b"hello", "{who}");
        assert!(
            trailers.contains(&("x-checksum".into(), "1".into())),
            "{who}: the client's trailer did not reach the server: {:?}",
            text(&request)
        );
    }
}

/// RFC 9110 §6.5.1: a trailer section carries no field that frames or
/// routes the request. A server that merged `Host: admin` from it into the
/// head would serve a host the rules never saw.
#[test]
fn routing_and_framing_fields_in_request_trailers_are_not_relayed() {
    let server = Raw::answering(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    let pair = Pair::plain(server.addr);
    let (_, addr) = pair.each()[1];
    let mut c = Client::connect(addr);
    c.send(
        b"POST /t HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n\
          5\r\nhello\r\n0\r\nhost: admin.example\r\ncontent-length: 5\r\nx-sum: 1\r\n\r\n",
    );
    let (head, _) = c
        .response()
        .unwrap_or_else(|e| panic!("fairway: {e}\n{}", pair.log("fairway")));
    assert_eq!(status(&head), 200, "{}", text(&head));
    let request = server.request(0);
    let at = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let (data, trailers) = dechunk(&request[at..]);
    assert_eq!(data, b"hello");
    assert_eq!(
        trailers,
        vec![("x-sum".to_string(), "1".to_string())],
        "only the harmless trailer reaches the server: {:?}",
        text(&request)
    );
}

// ---------------------------------------------------------------------------
// 2. A client that half-closes after its request.

#[test]
fn a_client_that_half_closes_after_its_request_gets_the_answer() {
    let server = Raw::answering(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello");
    let pair = Pair::plain(server.addr);
    for (who, addr) in pair.each() {
        let mut c = Client::connect(addr);
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        c.out.shutdown(Shutdown::Write).unwrap();
        let (got, closed) = c.rest();
        assert!(
            got.starts_with(b"HTTP/1.1 200") && got.ends_with(b"\r\n\r\nhello"),
            "{who}: {:?}\n{}",
            text(&got),
            pair.log(who)
        );
        assert!(closed, "{who}: the connection stays open after the answer");
    }
}

// ---------------------------------------------------------------------------
// 3. 1xx responses.

/// A server that answers `Expect: 100-continue` with `100 Continue` before
/// it reads the body, then `200` with the body it received.
fn continue_server() -> Raw {
    Raw::start(|head, r, out| {
        if field(head, "expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
            out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
        }
        let body = read_body(r, head, false).ok()?;
        let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
        out.write_all(&[reply.as_bytes(), body.as_slice()].concat())
            .ok()?;
        Some([head, body.as_slice()].concat())
    })
}

#[test]
fn expect_100_continue_gets_the_servers_100_before_the_body_is_sent() {
    let server = continue_server();
    let pair = Pair::plain(server.addr);
    for (who, addr) in pair.each() {
        let mut c = Client::connect(addr);
        c.send(
            b"POST /up HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n",
        );
        // The body is held until the 100 arrives (5 s at most).
        let interim = read_head(&mut c.r);
        c.send(b"hello");
        let (head, body) = c
            .response()
            .unwrap_or_else(|e| panic!("{who}: final response: {e}\n{}", pair.log(who)));
        assert_eq!(
            (status(&head), body.as_slice()),
            (200, &b"hello"[..]),
            "{who}: the body reached the server: {}",
            text(&head)
        );
        let interim = interim
            .unwrap_or_else(|e| panic!("{who}: no 100 Continue before the body was sent: {e}"));
        assert_eq!(status(&interim), 100, "{who}: {}", text(&interim));
    }
}

#[test]
fn a_103_early_hints_is_relayed_before_the_200() {
    let server = Raw::answering(
        b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n\
          HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
    );
    let pair = Pair::plain(server.addr);
    for (who, addr) in pair.each() {
        let mut c = Client::connect(addr);
        c.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
        let (first, _) = c.response().unwrap();
        assert_eq!(
            status(&first),
            103,
            "{who}: the 103 is not relayed: {}",
            text(&first)
        );
        assert_eq!(
            field(&first, "link").as_deref(),
            Some("</style.css>; rel=preload"),
            "{who}"
        );
        let (head, body) = c.response().unwrap();
        assert_eq!((status(&head), body.as_slice()), (200, &b"ok"[..]), "{who}");
    }
}

// ---------------------------------------------------------------------------
// 4. The response head limit.

/// A server whose response head carries `size` bytes of header values:
/// one field, or fields of 250 bytes.
fn big_head_server(size: usize, one_field: bool) -> Raw {
    let mut reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n".to_vec();
    if one_field {
        reply.extend_from_slice(format!("x-big: {}\r\n", "a".repeat(size)).as_bytes());
    } else {
        for i in 0..size / 250 {
            reply.extend_from_slice(format!("x-big-{i}: {}\r\n", "a".repeat(250)).as_bytes());
        }
    }
    reply.extend_from_slice(b"\r\nok");
    let reply: &'static [u8] = reply.leak();
    Raw::answering(reply)
}

#[test]
fn a_response_head_over_64_kib_is_a_502_and_32_kib_passes() {
    for (size, one_field, expected) in [
        (100 << 10, true, 502),
        (32 << 10, true, 200),
        (100 << 10, false, 502),
    ] {
        let server = big_head_server(size, one_field);
        // HAProxy's head limit is its buffer (16 KiB by default): 64 KiB
        // here, as fairway's.
        let pair = Pair::start(server.addr, "", "  tune.bufsize 65536\n", "");
        for (who, addr) in pair.each() {
            let mut c = Client::connect(addr);
            c.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
            let got = c.response().map(|(head, _)| status(&head));
            assert!(
                matches!(got, Ok(s) if s == expected),
                "{who}: a {size}-byte head (one field: {one_field}): {got:?}, expected {expected}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// 5. obs-fold in a response.

/// RFC 9112 §5.2: a proxy either answers 502 or replaces each obs-fold
/// (`OWS CRLF RWS`) with one or more SP before forwarding. HAProxy 2.6
/// forwards `a    b` (the CR LF turned into two spaces, beside the two
/// that were there); `a b` conforms as well. A continuation line must
/// never reach the client.
#[test]
fn an_obs_fold_in_a_response_becomes_spaces_or_a_502() {
    let server = Raw::answering(b"HTTP/1.1 200 OK\r\nx-a: a\r\n  b\r\ncontent-length: 2\r\n\r\nok");
    let pair = Pair::plain(server.addr);
    for (who, addr) in pair.each() {
        let mut c = Client::connect(addr);
        c.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
        let (head, _) = c.response().unwrap();
        if status(&head) == 502 {
            continue;
        }
        let folded: Vec<_> = fields(&head)
            .into_iter()
            .filter(|(k, _)| k == "x-a" || k.is_empty())
            .collect();
        let conforming = matches!(folded.as_slice(), [(k, v)] if k == "x-a"
            && v.strip_prefix('a')
                .and_then(|v| v.strip_suffix('b'))
                .is_some_and(|gap| !gap.is_empty() && gap.bytes().all(|b| b == b' ')));
        assert!(conforming, "{who}: {:?}", text(&head));
    }
}

// ---------------------------------------------------------------------------
// 6. Request bodies, byte for byte, to a Python server.

/// A Python `http.server` app: `POST`/`PUT` answer `LENGTH SHA256` of the
/// body received (Content-Length or chunked), `GET` answers `GET PATH`.
const HASH_APP: &str = r#"
import hashlib, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.answer(f"GET {self.path}".encode())

    def do_POST(self):
        digest, n = hashlib.sha256(), 0
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    break
                data = self.rfile.read(size)
                digest.update(data)
                n += len(data)
                self.rfile.readline()
            while self.rfile.readline().strip():
                pass
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                data = self.rfile.read(min(left, 1 << 16))
                if not data:
                    break
                digest.update(data)
                n += len(data)
                left -= len(data)
        self.answer(f"{n} {digest.hexdigest()}".encode())

    do_PUT = do_POST

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"#;

fn hash_app() -> Peer {
    // The script stays in the temp dir, beside the other tests' files.
    let script = temp_dir("hash-app").join("app.py");
    std::fs::write(&script, HASH_APP).unwrap();
    let port = free_port();
    let mut cmd = Command::new("python3");
    cmd.arg(&script).arg(port.to_string());
    Peer::spawn(
        "python hash app",
        cmd,
        SocketAddr::from(([127, 0, 0, 1], port)),
    )
}

/// `LENGTH SHA256` of `data`, as the app answers it (coreutils' sha256sum).
fn length_and_sha256(data: &[u8]) -> String {
    let dir = temp_dir("sha");
    let file = dir.join("body");
    std::fs::write(&file, data).unwrap();
    let out = Command::new("sha256sum").arg(&file).output().unwrap();
    let _ = std::fs::remove_dir_all(dir);
    let sum = String::from_utf8(out.stdout).unwrap();
    format!("{} {}", data.len(), sum.split(' ').next().unwrap())
}

/// `size` bytes that are not all alike.
fn body_of(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// The request bytes for `body` sent as `framing` ("length", "chunked",
/// "http/1.0").
fn post(body: &[u8], framing: &str) -> Vec<u8> {
    let mut req = match framing {
        "http/1.0" => format!(
            "POST /up HTTP/1.0\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes(),
        "chunked" => b"POST /up HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n".to_vec(),
        _ => format!(
            "POST /up HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes(),
    };
    if framing == "chunked" {
        for piece in body.chunks(300) {
            req.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            req.extend_from_slice(piece);
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"0\r\n\r\n");
    } else {
        req.extend_from_slice(body);
    }
    req
}

#[test]
fn request_bodies_reach_the_server_byte_for_byte() {
    let app = hash_app();
    let pair = Pair::plain(app.addr);
    let small = body_of(1024);
    let big = body_of(10 << 20);
    let cases: [(&str, &[u8]); 4] = [
        ("length", &small),
        ("chunked", &small),
        ("http/1.0", &small),
        ("length", &big),
    ];
    for (framing, body) in cases {
        let expected = length_and_sha256(body);
        for (who, addr) in pair.each() {
            let started = Instant::now();
            let mut c = Client::connect(addr);
            // The 10 MiB upload is written while the answer is read.
            let mut out = c.out.try_clone().unwrap();
            let req = post(body, framing);
            let writer = thread::spawn(move || out.write_all(&req));
            let (head, got) = c
                .response()
                .unwrap_or_else(|e| panic!("{who}, {framing}: {e}\n{}", pair.log(who)));
            writer.join().unwrap().unwrap();
            assert_eq!(
                (status(&head), String::from_utf8_lossy(&got).into_owned()),
                (200, expected.clone()),
                "{who}, {framing}, {} bytes",
                body.len()
            );
            if framing == "http/1.0" {
                let (rest, closed) = c.rest();
                assert!(
                    rest.is_empty() && closed,
                    "{who}: an HTTP/1.0 connection without keep-alive ends after its answer"
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(4),
                "{who}, {framing}, {} bytes: {:?}",
                body.len(),
                started.elapsed()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// 7. One server-connection pool.

#[test]
fn get_post_get_on_one_client_connection_use_one_server_connection() {
    let server = Raw::answering(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    let pair = Pair::plain(server.addr);
    for (who, addr) in pair.each() {
        let before = server.accepted();
        let mut c = Client::connect(addr);
        for req in [
            &b"GET /1 HTTP/1.1\r\nhost: x\r\n\r\n"[..],
            b"POST /2 HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello",
            b"GET /3 HTTP/1.1\r\nhost: x\r\n\r\n",
        ] {
            c.send(req);
            let (head, body) = c.response().unwrap();
            assert_eq!((status(&head), body.as_slice()), (200, &b"ok"[..]), "{who}");
        }
        assert_eq!(
            server.accepted() - before,
            1,
            "{who}: server connections for GET, POST, GET on one client connection"
        );
    }
}

// ---------------------------------------------------------------------------
// 8. A request pipelined behind a body; any 101 is a tunnel.

#[test]
fn a_request_pipelined_right_after_a_body_is_answered() {
    let app = hash_app();
    let pair = Pair::plain(app.addr);
    let body = body_of(100 << 10);
    let expected = length_and_sha256(&body);
    for framing in ["length", "chunked"] {
        for (who, addr) in pair.each() {
            let mut c = Client::connect(addr);
            let mut out = c.out.try_clone().unwrap();
            let req = [
                post(&body, framing),
                b"GET /next HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(),
            ]
            .concat();
            let writer = thread::spawn(move || out.write_all(&req));
            let first = c.response().map(|(h, b)| (status(&h), text(&b)));
            let second = c.response().map(|(h, b)| (status(&h), text(&b)));
            writer.join().unwrap().unwrap();
            assert_eq!(
                (first.ok(), second.ok()),
                (
                    Some((200, expected.clone())),
                    Some((200, "GET /next".to_string()))
                ),
                "{who}, {framing}\n{}",
                pair.log(who)
            );
        }
    }
}

/// A server that answers `Upgrade: foo` with `101`, writes `server-first`,
/// then echoes every byte it reads in upper case.
fn upgrade_server() -> Raw {
    Raw::start(|head, r, out| {
        if field(head, "upgrade").as_deref() != Some("foo") {
            out.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .ok()?;
            return Some(head.to_vec());
        }
        out.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: foo\r\n\r\nserver-first",
        )
        .ok()?;
        let mut buf = [0u8; 4096];
        loop {
            let n = r.read(&mut buf).ok()?;
            if n == 0 {
                return None;
            }
            out.write_all(&buf[..n].to_ascii_uppercase()).ok()?;
        }
    })
}

/// Sends an `Upgrade: foo` request and checks the 101 and the tunnel both
/// ways; returns the client.
fn upgrade(who: &str, addr: SocketAddr) -> Client {
    let mut c = Client::connect(addr);
    c.send(b"GET /up HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: foo\r\n\r\n");
    let head = read_head(&mut c.r).unwrap();
    assert_eq!(status(&head), 101, "{who}: {}", text(&head));
    let mut first = [0u8; 12];
    c.r.read_exact(&mut first)
        .unwrap_or_else(|e| panic!("{who}: the server's first bytes: {e}"));
    assert_eq!(&first, b"server-first", "{who}");
    c.send(b"ping");
    let mut echo = [0u8; 4];
    c.r.read_exact(&mut echo)
        .unwrap_or_else(|e| panic!("{who}: the client's bytes through the tunnel: {e}"));
    assert_eq!(&echo, b"PING", "{who}");
    c
}

#[test]
fn any_101_tunnels_raw_bytes_both_ways() {
    let server = upgrade_server();
    let pair = Pair::plain(server.addr);
    for (who, addr) in pair.each() {
        let mut c = upgrade(who, addr);
        // Bytes that are no HTTP at all go through too.
        c.send(b"\x00\xffGET / HTTP/1.1\r\n\r\n");
        let mut echo = [0u8; 20];
        c.r.read_exact(&mut echo).unwrap();
        assert_eq!(&echo, b"\x00\xffGET / HTTP/1.1\r\n\r\n", "{who}");
    }
}

#[test]
fn timeout_tunnel_closes_an_idle_tunnel() {
    let server = upgrade_server();
    let pair = Pair::start(
        server.addr,
        "    timeout_server: 30s\n    timeout_tunnel: 1s\n",
        "",
        "  timeout tunnel 1s\n",
    );
    for (who, addr) in pair.each() {
        let mut c = upgrade(who, addr);
        let idle = Instant::now();
        let (got, closed) = c.rest();
        assert!(
            closed && got.is_empty(),
            "{who}: an idle tunnel past timeout_tunnel (1 s): closed {closed}, {:?}",
            text(&got)
        );
        assert!(
            idle.elapsed() >= Duration::from_millis(800),
            "{who}: closed after {:?}, before timeout_tunnel",
            idle.elapsed()
        );
    }
}

// ---------------------------------------------------------------------------
// 9. A malformed chunk after valid ones.

/// The chunk after `hello` has no valid size. HAProxy 2.6, which reads it
/// all at once, answers 502; a proxy that relayed `hello` already must
/// close the connection without the last chunk, so that the client knows
/// the response is cut.
#[test]
fn a_malformed_chunk_never_ends_a_response_cleanly() {
    let server = Raw::answering(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nbad\r\n0\r\n\r\n",
    );
    let pair = Pair::plain(server.addr);
    for (who, addr) in pair.each() {
        let mut c = Client::connect(addr);
        c.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
        let head = read_head(&mut c.r).unwrap();
        if status(&head) == 502 {
            continue;
        }
        let (got, closed) = c.rest();
        assert!(
            status(&head) == 200
                && !got.ends_with(b"0\r\n\r\n")
                && !got.windows(3).any(|w| w == b"bad"),
            "{who}: the client sees a complete response: {:?}{:?}",
            text(&head),
            text(&got)
        );
        assert!(closed, "{who}: the connection stays open: {:?}", text(&got));
    }
}
