//! `h2c: true`: cleartext HTTP/2 with prior knowledge beside HTTP/1.x on
//! the same listener, under the same rules. Client: curl (nghttp2).

mod common;

use common::{curl, get, read_response, Fairway, Upstream};
use std::io::{BufReader, Write};
use std::net::TcpStream;

const YAML: &str = r#"
frontends:
  web:
    bind: ["127.0.0.1:{PORT}"]
    h2c: true
    http_request:
      - deny if { path -i -m beg /admin }
    default_backend: app
backends:
  app:
    servers: { s1: { addr: "{UP0}" } }
"#;

/// `curl --http2-prior-knowledge` on `url`: (HTTP version, status, body).
fn h2(url: &str) -> (String, String, String) {
    let (ok, out, err) = curl(&[
        "--http2-prior-knowledge",
        "-o",
        "-",
        "-w",
        "\n%{http_version} %{http_code}",
        url,
    ]);
    let (body, tail) = out.rsplit_once('\n').unwrap_or(("", ""));
    let (version, status) = tail.split_once(' ').unwrap_or(("", ""));
    assert!(ok || !err.is_empty(), "{err}");
    (version.to_string(), status.to_string(), body.to_string())
}

#[test]
fn cleartext_http2_and_http1_share_the_listener_and_the_rules() {
    let up = Upstream::start("a");
    let f = Fairway::start(YAML, &[&up]);
    let base = format!("http://{}", f.addr);

    let (version, status, body) = h2(&format!("{base}/x?y=1"));
    assert_eq!(
        (version.as_str(), status.as_str()),
        ("2", "200"),
        "{}",
        f.log()
    );
    assert_eq!(body, "a /x?y=1");
    assert_eq!(up.last().target, "/x?y=1");
    // The server gets the host the rules saw: HTTP/2's `:authority`.
    assert_eq!(up.last().header("host"), Some(f.addr.to_string().as_str()));
    // The rules see HTTP/2 requests too: nothing reaches the server.
    let hits = up.hits();
    let (version, status, _) = h2(&format!("{base}/admin/users"));
    assert_eq!((version.as_str(), status.as_str()), ("2", "403"));
    assert_eq!(up.hits(), hits);

    // HTTP/1.1 on the same port, including a method that starts with `P`
    // as the HTTP/2 preface does.
    assert_eq!(get(f.addr, "/plain", &[]).status, 200);
    let mut conn = TcpStream::connect(f.addr).unwrap();
    conn.write_all(b"POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
        .unwrap();
    let r = read_response(&mut BufReader::new(conn), false).unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "a /form"));
}

#[test]
fn without_h2c_prior_knowledge_http2_is_not_spoken() {
    let up = Upstream::start("a");
    let f = Fairway::start(&YAML.replace("    h2c: true\n", ""), &[&up]);
    let (_, status, _) = h2(&format!("http://{}/x", f.addr));
    assert_ne!(status, "200");
    assert_eq!(up.hits(), 0);
}

/// An HTTP/2 request's `:authority` is the host the rules see and the
/// `Host` the server receives, whatever normalization or `set-path` did to
/// the path (SPEC §9; issue 28: `//x` over HTTP/2 reached the server with
/// an empty `Host`, past a host rule). Over h2c and TLS h2.
#[test]
fn http2_authority_is_the_host_whatever_the_path_rewriting() {
    let dir = common::temp_dir("h2-authority");
    let (cert, key) = common::self_signed(&dir, "front", &["secret.example", "ok.example"]);
    let tls_port = common::free_port();
    let up = Upstream::start("a");
    let rules = "[\"set-path /x if { path_beg /sp }\", \
                 \"deny status 421 if { host -i secret.example }\"]";
    let yaml = format!(
        r#"
frontends:
  web:
    bind: ["127.0.0.1:{{PORT}}"]
    h2c: true
    http_request: {rules}
    default_backend: app
  secure:
    bind: ["127.0.0.1:{tls_port}"]
    tls: {{ cert: "{}", key: "{}" }}
    http_request: {rules}
    default_backend: app
backends:
  app:
    servers: {{ s1: {{ addr: "{{UP0}}" }} }}
"#,
        cert.display(),
        key.display()
    );
    let f = Fairway::start(&yaml, &[&up]);
    let bases = [
        ("http", f.addr.port(), "--http2-prior-knowledge"),
        ("https", tls_port, "--http2"),
    ];
    for (scheme, port, flag) in bases {
        let send = |host: &str, path: &str| {
            let connect = format!("{host}:{port}:127.0.0.1:{port}");
            let url = format!("{scheme}://{host}:{port}{path}");
            let (_, out, err) = curl(&[
                flag,
                "-k",
                "--path-as-is",
                "--connect-to",
                &connect,
                "-o",
                "/dev/null",
                "-w",
                "%{http_version} %{http_code}",
                &url,
            ]);
            assert!(out.starts_with("2 "), "{url}: {out} {err}\n{}", f.log());
            out[2..].to_string()
        };
        let cases = ["/x", "//x", "/%7ex", "/a/../x", "/./x", "/sp/y", "//sp/y"];
        for path in cases {
            let hits = up.hits();
            assert_eq!(send("secret.example", path), "421", "{scheme} {path}");
            assert_eq!(up.hits(), hits, "{scheme} {path} reached the server");
        }
        // An encoded slash is refused before the rules (encoded_slashes).
        let hits = up.hits();
        assert_eq!(send("secret.example", "/%2fx"), "400", "{scheme}");
        assert_eq!(up.hits(), hits);
        // Allowed: the server gets `:authority` as Host, after any rewrite.
        let authority = format!("ok.example:{port}");
        for (path, target) in [
            ("/x", "/x"),
            ("//x", "/x"),
            ("/%7ex", "/~x"),
            ("/a/../x", "/x"),
            ("/sp/y", "/x"),
            ("//sp/y", "/x"),
        ] {
            assert_eq!(send("ok.example", path), "200", "{scheme} {path}");
            let seen = up.last();
            assert_eq!(seen.target, target, "{scheme} {path}");
            assert_eq!(
                seen.header("host"),
                Some(authority.as_str()),
                "{scheme} {path}"
            );
        }
    }
}

/// A server that records the bytes of every connection and answers the
/// first request head (its chunked body read to the last chunk) with `200`
/// and `Connection: close`, then keeps reading for 300 ms: what Pingora
/// sends after the request, a stray last chunk, is recorded too.
struct Recorder {
    addr: std::net::SocketAddr,
    conns: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

impl Recorder {
    fn start() -> Recorder {
        use std::io::Read;
        let listener = common::listen();
        let addr = listener.local_addr().unwrap();
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let all = conns.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let all = all.clone();
                std::thread::spawn(move || {
                    let i = {
                        let mut all = all.lock().unwrap();
                        all.push(Vec::new());
                        all.len() - 1
                    };
                    let mut buf = [0u8; 4096];
                    let mut answered = false;
                    let timeout = std::time::Duration::from_millis(300);
                    conn.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                        .unwrap();
                    while let Ok(n @ 1..) = conn.read(&mut buf) {
                        let mut all = all.lock().unwrap();
                        let got = &mut all[i];
                        got.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(got).to_ascii_lowercase();
                        let done = text.contains("\r\n\r\n")
                            && (!text.contains("transfer-encoding: chunked")
                                || text.ends_with("\r\n0\r\n\r\n"));
                        if done && !answered {
                            answered = true;
                            let _ = conn.write_all(
                                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                            );
                            conn.set_read_timeout(Some(timeout)).unwrap();
                        }
                    }
                });
            }
        });
        Recorder { addr, conns }
    }

    fn conns(&self) -> Vec<String> {
        let all = self.conns.lock().unwrap();
        all.iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect()
    }
}

/// An HTTP/2 frame.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_be_bytes();
    let mut f = vec![len[1], len[2], len[3], kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A header block of literal fields (HPACK, no indexing, no Huffman), as
/// given: anything can be sent, duplicated pseudo-headers included.
fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, value) in fields {
        b.push(0);
        b.push(name.len() as u8);
        b.extend_from_slice(name.as_bytes());
        b.push(value.len() as u8);
        b.extend_from_slice(value.as_bytes());
    }
    b
}

const END_STREAM: u8 = 1;
const END_HEADERS: u8 = 4;

/// Sends `frames` on a prior-knowledge connection: the status of stream 1
/// (from the static table: fairway's first answer on a connection), or
/// `None` if the stream was reset or the connection ended without one.
fn h2_raw(addr: std::net::SocketAddr, frames: &[Vec<u8>]) -> Option<u16> {
    use std::io::Read;
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(4, 0, 0, &[]));
    for f in frames {
        out.extend_from_slice(f);
    }
    conn.write_all(&out).unwrap();
    loop {
        let mut head = [0u8; 9];
        conn.read_exact(&mut head).ok()?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0; len];
        conn.read_exact(&mut payload).ok()?;
        match (head[3], stream) {
            (4, 0) if head[4] & 1 == 0 => conn.write_all(&frame(4, 1, 0, &[])).ok()?,
            (1, 1) => {
                let statuses = [200, 204, 206, 304, 400, 404, 500];
                let i = payload.first()?.checked_sub(0x88)?;
                return statuses.get(usize::from(i)).copied();
            }
            (3, 1) | (7, _) => return None,
            _ => {}
        }
    }
}

/// What the fuzzer (`tests/conformance/fuzz_h2.rs`, regressions r5-r7)
/// found at the HTTP/2 → HTTP/1 edge: a request malformed by RFC 9113
/// §8.2.1 / §8.3.1 gets `400` before any rule and never reaches the
/// server; an empty DATA frame with END_STREAM ends the body once.
#[test]
fn http2_requests_reach_the_server_well_framed_or_not_at_all() {
    let rec = Recorder::start();
    let yaml = r#"
frontends:
  web:
    bind: ["127.0.0.1:{PORT}"]
    h2c: true
    http_request:
      - deny status 421 if { host -i secret.example }
    default_backend: app
backends:
  app:
    servers: { s1: { addr: "REC" } }
"#
    .replace("REC", &rec.addr.to_string());
    let f = Fairway::start(&yaml, &[]);
    fn get<'a>(authority: &'a str, path: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", authority),
            (":path", path),
        ]
    }
    let headers = |fields: &[(&str, &str)], flags: u8| frame(1, flags, 1, &block(fields));

    // HEADERS without END_STREAM, then END_STREAM on an empty DATA frame:
    // one request, its chunked body one last chunk, nothing after it (a
    // second `0\r\n\r\n` was read by the server as its next request).
    let frames = [
        headers(&get("a", "/x"), END_HEADERS),
        frame(0, END_STREAM, 1, &[]),
    ];
    assert_eq!(h2_raw(f.addr, &frames), Some(200), "{}", f.log());
    std::thread::sleep(std::time::Duration::from_millis(500));
    let conns = rec.conns();
    assert_eq!(conns.len(), 1, "{conns:?}");
    let (head, body) = conns[0].split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("GET /x HTTP/1.1\r\n"), "{head}");
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    assert_eq!(body, if chunked { "0\r\n\r\n" } else { "" }, "{conns:?}");

    // Malformed: 400 before the rules, nothing reaches the server.
    let mut host = get("a", "/x");
    host.remove(2);
    let malformed: Vec<(&str, Vec<(&str, &str)>)> = vec![
        // Whitespace around a field value (the server strips it; the host
        // rule saw it and did not match).
        ("Host with a leading space", {
            let mut r = host.clone();
            r.push(("host", " secret.example"));
            r
        }),
        ("Host with a leading tab", {
            let mut r = host.clone();
            r.push(("host", "\tsecret.example"));
            r
        }),
        ("a field value with a trailing space", {
            let mut r = get("a", "/x");
            r.push(("x-a", "v "));
            r
        }),
        // No :path (was sent as `/`; the rules saw an empty path).
        ("no :path", {
            let mut r = host.clone();
            r.remove(2);
            r.push(("host", "a"));
            r
        }),
        (":authority that is no valid Host", get("a:x", "/x")),
        ("neither :authority nor Host", host.clone()),
        ("an empty :scheme", {
            let mut r = get("a", "/x");
            r[1].1 = "";
            r
        }),
    ];
    for (what, fields) in &malformed {
        let frames = [headers(fields, END_HEADERS | END_STREAM)];
        assert_eq!(h2_raw(f.addr, &frames), Some(400), "{what}: {}", f.log());
    }
    // A repeated pseudo-header, an empty :authority: the h2 crate resets
    // the stream.
    let mut twice = get("a", "/x");
    twice.push((":path", "/admin"));
    for fields in [twice, get("", "/x")] {
        let frames = [headers(&fields, END_HEADERS | END_STREAM)];
        assert_eq!(h2_raw(f.addr, &frames), None, "{fields:?}");
    }
    assert_eq!(rec.conns().len(), 1, "{:?}", rec.conns());
    // A well-formed request without :authority still passes.
    let mut ok = host.clone();
    ok.push(("host", "ok.example"));
    assert_eq!(
        h2_raw(f.addr, &[headers(&ok, END_HEADERS | END_STREAM)]),
        Some(200)
    );
    assert_eq!(rec.conns().len(), 2);
}
