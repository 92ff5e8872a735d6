//! Raw HTTP/1 messages read exactly as they arrive, a client connection
//! and a server that sees requests byte for byte.

use super::common::listen;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Reads one head, up to and including its empty line.
pub fn read_head(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if r.read_until(b'\n', &mut head)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("EOF in a head: {:?}", String::from_utf8_lossy(&head)),
            ));
        }
    }
    Ok(head)
}

/// The fields of a head as written, one per line (continuation lines of an
/// obs-fold included as lines of their own, name empty).
pub fn fields(head: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(head)
        .split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(':') {
            Some((k, v)) if !l.starts_with([' ', '\t']) => {
                (k.to_ascii_lowercase(), v.trim().to_string())
            }
            _ => (String::new(), l.to_string()),
        })
        .collect()
}

/// The value of the first field `name` (lower case) of a head.
pub fn field(head: &[u8], name: &str) -> Option<String> {
    fields(head)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The status code of a response head (0 if there is none).
pub fn status(head: &[u8]) -> u16 {
    String::from_utf8_lossy(head)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Reads the body that follows `head`, framing kept (chunk sizes and
/// trailers as sent). A response without a length is read to the close.
pub fn read_body(r: &mut impl BufRead, head: &[u8], response: bool) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if response && matches!(status(head), 100..=199 | 204 | 304) {
        return Ok(body);
    }
    let chunked = field(head, "transfer-encoding").is_some_and(|v| v.contains("chunked"));
    if chunked {
        loop {
            let start = body.len();
            r.read_until(b'\n', &mut body)?;
            let line = String::from_utf8_lossy(&body[start..]).to_string();
            let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16)
                .map_err(|_| io::Error::other(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    let start = body.len();
                    if r.read_until(b'\n', &mut body)? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    if &body[start..] == b"\r\n" {
                        return Ok(body);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size + 2, 0);
            r.read_exact(&mut body[start..])?;
        }
    } else if let Some(n) = field(head, "content-length") {
        body.resize(n.parse::<usize>().map_err(io::Error::other)?, 0);
        r.read_exact(&mut body)?;
    } else if response {
        r.read_to_end(&mut body)?;
    }
    Ok(body)
}

/// A chunked body's data and its trailer fields.
pub fn dechunk(raw: &[u8]) -> (Vec<u8>, Vec<(String, String)>) {
    let mut data = Vec::new();
    let mut rest = raw;
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let line = String::from_utf8_lossy(&rest[..eol]).to_string();
        let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16).unwrap();
        rest = &rest[eol + 2..];
        if size == 0 {
            let mut head = b"-\r\n".to_vec();
            head.extend_from_slice(rest);
            return (data, fields(&head));
        }
        data.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// A client connection to a proxy, reads time out after 5 s.
pub struct Client {
    pub out: TcpStream,
    pub r: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Client {
            out: s.try_clone().unwrap(),
            r: BufReader::new(s),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.out.write_all(bytes).unwrap();
    }

    /// One response: its head and its raw body.
    pub fn response(&mut self) -> io::Result<(Vec<u8>, Vec<u8>)> {
        let head = read_head(&mut self.r)?;
        let body = read_body(&mut self.r, &head, true)?;
        Ok((head, body))
    }

    /// Everything until the proxy closes: the bytes, and whether it closed
    /// (false: the 5 s read timeout ran out first).
    pub fn rest(&mut self) -> (Vec<u8>, bool) {
        let mut got = Vec::new();
        let mut buf = [0u8; 16384];
        loop {
            match self.r.read(&mut buf) {
                Ok(0) => return (got, true),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return (got, true),
                Err(_) => return (got, false),
            }
        }
    }
}

/// `bytes` as text for a failure message, the first 400 characters.
pub fn text(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    if s.chars().count() > 400 {
        let start: String = s.chars().take(400).collect();
        format!("{start}... ({} bytes)", bytes.len())
    } else {
        s.into_owned()
    }
}

/// What a [`Raw`] server does with one request whose head it read: reads
/// the rest, answers, and returns the whole request as received (`None`
/// ends the connection).
pub type Handler =
    dyn Fn(&[u8], &mut BufReader<TcpStream>, &mut TcpStream) -> Option<Vec<u8>> + Send + Sync;

/// A keep-alive server on 127.0.0.1 that sees bytes exactly: counts the
/// connections it accepts and records every request as received.
pub struct Raw {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Raw {
    pub fn start(
        handler: impl Fn(&[u8], &mut BufReader<TcpStream>, &mut TcpStream) -> Option<Vec<u8>>
            + Send
            + Sync
            + 'static,
    ) -> Raw {
        let listener = listen();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let (a, s) = (accepted.clone(), seen.clone());
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                a.fetch_add(1, Ordering::SeqCst);
                let (s, handler) = (s.clone(), handler.clone());
                thread::spawn(move || {
                    conn.set_read_timeout(Some(Duration::from_secs(30)))
                        .unwrap();
                    let mut out = conn.try_clone().unwrap();
                    let mut r = BufReader::new(conn);
                    while let Ok(head) = read_head(&mut r) {
                        match handler(&head, &mut r, &mut out) {
                            Some(request) => s.lock().unwrap().push(request),
                            None => return,
                        }
                    }
                });
            }
        });
        Raw {
            addr,
            accepted,
            seen,
        }
    }

    /// A server that reads each request whole and answers `reply`.
    pub fn answering(reply: &'static [u8]) -> Raw {
        Raw::start(move |head, r, out| {
            let body = read_body(r, head, false).ok()?;
            out.write_all(reply).ok()?;
            Some([head, body.as_slice()].concat())
        })
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// The `n`th request (from 0) as received, once it has come (5 s
    /// at most): a proxy may relay the answer before the server records.
    pub fn request(&self, n: usize) -> Vec<u8> {
        let start = Instant::now();
        loop {
            if let Some(req) = self.seen.lock().unwrap().get(n) {
                return req.clone();
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "request {n} never came"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}
