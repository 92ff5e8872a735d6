//! `compression:` on a frontend: responses of a real server (nginx serving
//! files) compressed with zstd, br or gzip as the client's
//! `Accept-Encoding` prefers, over HTTP/1 and HTTP/2; what is left alone; a
//! large body streamed in bounded memory; and the same decisions as
//! HAProxy's `compression algo gzip` on the same content.

mod common;

use common::{curl, free_port, installed, temp_dir, Fairway, Peer};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A page that compresses well, as HTML does.
fn page() -> Vec<u8> {
    let mut html = b"<!doctype html><title>fairway</title><ul>\n".to_vec();
    for i in 0..3000 {
        html.extend(format!("<li class=\"row\">row {i}: the edge proxy</li>\n").as_bytes());
    }
    html
}

/// nginx with the test's files: `page.html` (~150 KB), `small.html` (50
/// bytes), `logo.png`, `pre.html` (already gzip-encoded), `fixed.html`
/// (`Cache-Control: no-transform`).
fn nginx() -> Peer {
    let bin = installed(&["/usr/sbin/nginx", "/usr/bin/nginx"], "nginx");
    let dir = temp_dir("nginx-comp");
    let root = dir.join("www");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("page.html"), page()).unwrap();
    std::fs::write(root.join("fixed.html"), page()).unwrap();
    std::fs::write(root.join("small.html"), [b'x'; 50]).unwrap();
    std::fs::write(root.join("logo.png"), page()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&page()).unwrap();
    std::fs::write(root.join("pre.html"), gz.finish().unwrap()).unwrap();
    let port = free_port();
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{}}\nhttp {{\n  access_log off;\n  include /etc/nginx/mime.types;\n\
               client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d};\n\
               uwsgi_temp_path {d}; scgi_temp_path {d};\n\
               server {{\n    listen 127.0.0.1:{port};\n    root {r};\n\
                 location = /pre.html {{ add_header Content-Encoding gzip; }}\n\
                 location = /fixed.html {{ add_header Cache-Control no-transform; }}\n  }}\n}}\n",
            d = dir.display(),
            r = root.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("-c").arg(&conf).arg("-p").arg(&dir);
    Peer::spawn("nginx", cmd, format!("127.0.0.1:{port}").parse().unwrap())
}

fn yaml(algos: &str, server: SocketAddr) -> String {
    format!(
        "frontends:\n  web:\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    h2c: true\n\
         \x20   compression:\n      algos: {algos}\n      types: [text/html, text/plain]\n      min_size: 1024\n\
         \x20   default_backend: app\nbackends:\n  app:\n    servers: {{ s1: {{ addr: \"{server}\" }} }}\n"
    )
}

/// A response with its body as bytes (chunked coding removed).
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body with its `Content-Encoding` undone.
    fn decoded(&self) -> Vec<u8> {
        decode(self.header("content-encoding"), &self.body)
    }
}

fn decode(coding: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        None => out.extend_from_slice(body),
        Some("gzip") => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .unwrap();
        }
        Some("br") => {
            brotli::Decompressor::new(body, 4096)
                .read_to_end(&mut out)
                .unwrap();
        }
        Some("zstd") => out = zstd::decode_all(body).unwrap(),
        Some(other) => panic!("unexpected content-encoding {other}"),
    }
    out
}

/// Sends `head` (a request head without its final empty line, with
/// `connection: close` added) and reads the response to the end.
fn send(addr: SocketAddr, head: &str) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "{head}\r\nconnection: close\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        match line.trim_end().split_once(':') {
            Some((k, v)) => headers.push((k.to_string(), v.trim().to_string())),
            None => break,
        }
    }
    let mut body = Vec::new();
    let head_only = head.starts_with("HEAD ");
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v == "chunked");
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            let n = usize::from_str_radix(line.trim(), 16).unwrap();
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if !head_only {
        r.read_to_end(&mut body).unwrap();
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn get(addr: SocketAddr, path: &str, accept: Option<&str>) -> Reply {
    let ae = accept.map_or(String::new(), |a| format!("\r\naccept-encoding: {a}"));
    send(addr, &format!("GET {path} HTTP/1.1\r\nhost: t{ae}"))
}

#[test]
fn responses_are_compressed_as_the_client_prefers() {
    let web = nginx();
    let f = Fairway::start(&yaml("[zstd, br, gzip]", web.addr), &[]);
    for (accept, coding) in [
        (Some("gzip, deflate, br, zstd"), Some("zstd")),
        (Some("gzip, deflate, br"), Some("br")),
        (Some("gzip"), Some("gzip")),
        (Some("gzip;q=1.0, zstd;q=0.5"), Some("gzip")),
        (Some("*"), Some("zstd")),
        (Some("identity"), None),
        (Some("br;q=0, deflate"), None),
        (None, None),
    ] {
        let r = get(f.addr, "/page.html", accept);
        let what = format!("accept-encoding {accept:?}");
        assert_eq!(r.status, 200, "{what}: {}", f.log());
        assert_eq!(r.header("content-encoding"), coding, "{what}");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{what}");
        assert_eq!(r.decoded(), page(), "{what}");
        if coding.is_some() {
            assert!(r.body.len() < page().len() / 5, "{what}: {}", r.body.len());
            assert_eq!(r.header("content-length"), None, "{what}");
            assert_eq!(r.header("accept-ranges"), None, "{what}");
            // nginx's strong ETag is weakened: other bytes.
            assert!(r.header("etag").unwrap().starts_with("W/\""), "{what}");
        } else {
            assert_eq!(r.body.len(), page().len(), "{what}");
            assert!(r.header("etag").unwrap().starts_with('"'), "{what}");
        }
    }
    // Several responses on one connection, compressed and not.
    let mut s = TcpStream::connect(f.addr).unwrap();
    let twice = "GET /page.html HTTP/1.1\r\nhost: t\r\naccept-encoding: gzip\r\n\r\n\
                 GET /small.html HTTP/1.1\r\nhost: t\r\naccept-encoding: gzip\r\n\r\n\
                 GET /page.html HTTP/1.1\r\nhost: t\r\naccept-encoding: br\r\nconnection: close\r\n\r\n";
    s.write_all(twice.as_bytes()).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let text = String::from_utf8_lossy(&all).to_ascii_lowercase();
    assert_eq!(text.matches("http/1.1 200").count(), 3);
    assert_eq!(text.matches("content-encoding: gzip").count(), 1);
    assert_eq!(text.matches("content-encoding: br").count(), 1);
}

#[test]
fn http2_clients_get_compressed_responses_too() {
    let web = nginx();
    let f = Fairway::start(&yaml("[br, gzip]", web.addr), &[]);
    let out = temp_dir("comp-h2").join("body");
    let (ok, head, err) = curl(&[
        "--http2-prior-knowledge",
        "-sS",
        "-D",
        "-",
        "-H",
        "accept-encoding: gzip, br",
        "-o",
        out.to_str().unwrap(),
        &format!("http://{}/page.html", f.addr),
    ]);
    assert!(ok, "{err}");
    assert!(head.starts_with("HTTP/2 200"), "{head}");
    assert!(head.contains("content-encoding: br"), "{head}");
    assert!(!head.contains("content-length"), "{head}");
    assert!(!head.contains("transfer-encoding"), "{head}");
    let body = std::fs::read(&out).unwrap();
    assert_eq!(decode(Some("br"), &body), page());
}

#[test]
fn what_is_left_as_it_is() {
    let web = nginx();
    let f = Fairway::start(&yaml("[gzip]", web.addr), &[]);
    let gz = "\r\naccept-encoding: gzip";
    let cases = [
        // Below min_size, a type not listed, already encoded, no-transform.
        ("GET /small.html HTTP/1.1", false),
        ("GET /logo.png HTTP/1.1", false),
        ("GET /pre.html HTTP/1.1", false),
        ("GET /fixed.html HTTP/1.1", false),
        // HEAD, HTTP/1.0 (no chunked coding), a range (206).
        ("HEAD /page.html HTTP/1.1", false),
        ("GET /page.html HTTP/1.0", false),
        ("GET /page.html HTTP/1.1\r\nrange: bytes=0-99", false),
        ("GET /missing.html HTTP/1.1", false),
        ("GET /page.html HTTP/1.1", true),
    ];
    for (line, compressed) in cases {
        let r = send(f.addr, &format!("{line}\r\nhost: t{gz}"));
        let ce = r.header("content-encoding");
        if line.contains("/pre.html") {
            // The server's own gzip passes as it is, not twice.
            assert_eq!(ce, Some("gzip"));
            assert_eq!(r.decoded(), page());
            continue;
        }
        assert_eq!(ce.is_some(), compressed, "{line}: {:?}", r.headers);
        if line.contains("range") {
            assert_eq!((r.status, r.body.len()), (206, 100));
        }
    }
}

/// A server that sends a chunked `text/plain` body of `total` bytes of
/// text in 64 KiB pieces; after the first MiB it waits (up to 10 s) for
/// `seen`, so the body must flow to the client before the server is done.
fn streaming_server(total: usize, seen: Arc<AtomicBool>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        s.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n",
        )
        .unwrap();
        let line = b"fairway streams compressed bodies piece by piece.\n";
        let piece: Vec<u8> = line.iter().copied().cycle().take(64 * 1024).collect();
        let mut sent = 0;
        while sent < total {
            if sent == 1 << 20 {
                let start = Instant::now();
                while !seen.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(10) {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            let n = piece.len().min(total - sent);
            if write!(s, "{n:x}\r\n")
                .and_then(|_| s.write_all(&piece[..n]))
                .and_then(|_| s.write_all(b"\r\n"))
                .is_err()
            {
                return;
            }
            sent += n;
        }
        let _ = s.write_all(b"0\r\n\r\n");
    });
    addr
}

/// Peak resident memory of a process, in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_large_body_streams_compressed_in_bounded_memory() {
    const TOTAL: usize = 256 << 20;
    let seen = Arc::new(AtomicBool::new(false));
    let server = streaming_server(TOTAL, Arc::clone(&seen));
    let f = Fairway::start(&yaml("[gzip]", server), &[]);
    let before = peak_kib(f.child.id());
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(
        b"GET /big HTTP/1.1\r\nhost: t\r\naccept-encoding: gzip\r\nconnection: close\r\n\r\n",
    )
    .unwrap();
    // Decode as it arrives: the chunked framing, then gzip.
    struct Dechunk<R> {
        r: R,
        left: usize,
        done: bool,
        seen: Arc<AtomicBool>,
    }
    impl<R: BufRead> Read for Dechunk<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.left == 0 && !self.done {
                let mut line = String::new();
                self.r.read_line(&mut line)?;
                if line == "\r\n" {
                    line.clear();
                    self.r.read_line(&mut line)?;
                }
                self.left =
                    usize::from_str_radix(line.trim(), 16).map_err(std::io::Error::other)?;
                self.done = self.left == 0;
            }
            if self.done {
                return Ok(0);
            }
            let n = buf.len().min(self.left);
            let n = self.r.read(&mut buf[..n])?;
            self.left -= n;
            self.seen.store(true, Ordering::SeqCst);
            Ok(n)
        }
    }
    let mut r = BufReader::new(s);
    let mut line = String::new();
    let mut head = String::new();
    while line != "\r\n" {
        line.clear();
        r.read_line(&mut line).unwrap();
        head.push_str(&line);
    }
    assert!(
        head.to_ascii_lowercase().contains("content-encoding: gzip"),
        "{head}"
    );
    let mut gz = flate2::read::GzDecoder::new(Dechunk {
        r,
        left: 0,
        done: false,
        seen,
    });
    let mut buf = vec![0; 1 << 16];
    let mut total = 0;
    loop {
        let n = gz.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    assert_eq!(total, TOTAL, "{}", f.log());
    let grew = peak_kib(f.child.id()).saturating_sub(before);
    assert!(
        grew < 32 * 1024,
        "fairway's peak memory grew by {grew} KiB for a 256 MiB body"
    );
}

/// HAProxy 2.6 with `compression algo gzip` in front of `server`.
fn haproxy(server: SocketAddr) -> Peer {
    let bin = installed(&["/usr/sbin/haproxy", "/usr/bin/haproxy"], "haproxy");
    let port = free_port();
    let conf = temp_dir("comp-haproxy").join("haproxy.cfg");
    std::fs::write(
        &conf,
        format!(
            "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n\
             listen front\n  bind 127.0.0.1:{port}\n  compression algo gzip\n\
             \x20 compression type text/html text/plain\n  server s {server}\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new(bin);
    cmd.args(["-db", "-f"]).arg(&conf);
    Peer::spawn("haproxy", cmd, format!("127.0.0.1:{port}").parse().unwrap())
}

#[test]
fn fairway_compresses_what_haproxy_compresses() {
    let web = nginx();
    let f = Fairway::start(
        &yaml("[gzip]", web.addr).replace("      min_size: 1024\n", ""),
        &[],
    );
    let h = haproxy(web.addr);
    for line in [
        "GET /page.html HTTP/1.1\r\naccept-encoding: gzip",
        "GET /page.html HTTP/1.1\r\naccept-encoding: gzip;q=0",
        "GET /page.html HTTP/1.1\r\naccept-encoding: br",
        "GET /page.html HTTP/1.1",
        "GET /page.html HTTP/1.0\r\naccept-encoding: gzip",
        "HEAD /page.html HTTP/1.1\r\naccept-encoding: gzip",
        "GET /page.html HTTP/1.1\r\naccept-encoding: gzip\r\nrange: bytes=10-19",
        "GET /small.html HTTP/1.1\r\naccept-encoding: gzip",
        "GET /logo.png HTTP/1.1\r\naccept-encoding: gzip",
        "GET /pre.html HTTP/1.1\r\naccept-encoding: gzip",
        "GET /fixed.html HTTP/1.1\r\naccept-encoding: gzip",
        "GET /missing.html HTTP/1.1\r\naccept-encoding: gzip",
    ] {
        let (l, rest) = line.split_once("\r\n").map_or((line, ""), |(l, r)| (l, r));
        let head = if rest.is_empty() {
            format!("{l}\r\nhost: t")
        } else {
            format!("{l}\r\nhost: t\r\n{rest}")
        };
        let ours = send(f.addr, &head);
        let theirs = send(h.addr, &head);
        assert_eq!(ours.status, theirs.status, "{line}");
        assert_eq!(
            ours.header("content-encoding"),
            theirs.header("content-encoding"),
            "{line}"
        );
        assert_eq!(ours.decoded(), theirs.decoded(), "{line}");
    }
}
