//! One health check: a TCP connect, or an HTTP request in the server's
//! protocol: HTTP/1.1, whose status line is read by hand (no HTTP client
//! needed for three digits), or HTTP/2 (`proto: h2|h2c`), one stream on a
//! new connection. For a server with `tls: true` the check speaks TLS too
//! (ALPN h2 for `proto: h2`): a `tcp` check passes once the TLS handshake
//! (certificate verification included) completes, an `http` check sends
//! its request over TLS.

use crate::tls::Client as TlsClient;
use fairway_config::{CheckKind, HealthCheck, Proto};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest status line a check reads; a longer one is an invalid response.
pub const MAX_STATUS_LINE: usize = 1024;

/// The `User-Agent` of HTTP checks.
pub const USER_AGENT: &str = "fairway-health";

/// Why a check failed. `Display` gives the short reason of the
/// `server down` log line, e.g. `connection refused`, `timeout after 1s`,
/// `status 500 not in 200-399`, `invalid response`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The check did not finish within its `timeout`.
    Timeout(Duration),
    /// Connecting, sending or reading failed (refused, reset, unreachable...).
    Io(std::io::ErrorKind),
    /// The TLS handshake failed (e.g. the certificate did not verify).
    Tls(String),
    /// The server closed the connection without sending anything.
    Closed,
    /// The response is not an HTTP/1.x status line (garbage, truncated, too
    /// long), or not HTTP/2 from a `proto: h2|h2c` server.
    Invalid,
    /// The status code is outside `expect_status`.
    Status {
        /// The code the server sent.
        code: u16,
        /// The accepted range, inclusive.
        expect: (u16, u16),
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout(d) => write!(f, "timeout after {}", DisplayDuration(*d)),
            Failure::Io(kind) => write!(f, "{kind}"),
            Failure::Tls(why) => write!(f, "TLS handshake failed: {why}"),
            Failure::Closed => f.write_str("connection closed"),
            Failure::Invalid => f.write_str("invalid response"),
            Failure::Status {
                code,
                expect: (lo, hi),
            } if lo == hi => {
                write!(f, "status {code} not {lo}")
            }
            Failure::Status {
                code,
                expect: (lo, hi),
            } => {
                write!(f, "status {code} not in {lo}-{hi}")
            }
        }
    }
}

/// A duration as the config writes it: `1s`, `250ms`.
struct DisplayDuration(Duration);

impl fmt::Display for DisplayDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() == 0 {
            write!(f, "{}s", d.as_secs())
        } else if d.subsec_nanos() % 1_000_000 == 0 {
            write!(f, "{}ms", d.as_millis())
        } else {
            write!(f, "{d:?}")
        }
    }
}

/// What the first bytes of a response say so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusLine {
    /// A valid prefix of a status line: read more.
    Incomplete,
    /// A complete status line with this code.
    Status(u16),
    /// Not an HTTP/1.x status line (or longer than [`MAX_STATUS_LINE`]).
    Invalid,
}

/// Parses the status line at the start of `buf`:
/// `HTTP/d.d SP ddd [SP reason] (CRLF | LF)` (RFC 9112 §4; a missing reason
/// and a bare LF are accepted, as most clients do). Decides as early as the
/// bytes allow: garbage is [`StatusLine::Invalid`] after its first wrong
/// byte, so a check against a non-HTTP service fails at once instead of
/// waiting for its timeout. Never panics, whatever `buf` holds.
pub fn parse_status_line(buf: &[u8]) -> StatusLine {
    // The fixed-width part: "HTTP/1.1 200".
    for (i, &b) in buf.iter().take(12).enumerate() {
        let ok = match i {
            0 => b == b'H',
            1 | 2 => b == b'T',
            3 => b == b'P',
            4 => b == b'/',
            5 | 7 => b.is_ascii_digit(),
            6 => b == b'.',
            8 => b == b' ',
            9 => (b'1'..=b'9').contains(&b),
            _ => b.is_ascii_digit(),
        };
        if !ok {
            return StatusLine::Invalid;
        }
    }
    let (Some(digits), Some(&after)) = (buf.get(9..12), buf.get(12)) else {
        return StatusLine::Incomplete;
    };
    let code = digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d.wrapping_sub(b'0')));
    let rest = buf.get(13..).unwrap_or_default();
    let end = match after {
        b'\n' => return StatusLine::Status(code),
        b'\r' => match rest.first() {
            Some(b'\n') => return StatusLine::Status(code),
            Some(_) => return StatusLine::Invalid,
            None => None,
        },
        b' ' => rest.iter().position(|&b| b == b'\n'),
        _ => return StatusLine::Invalid,
    };
    match end {
        Some(nl) => {
            let reason = rest.get(..nl).unwrap_or_default();
            let reason = reason.strip_suffix(b"\r").unwrap_or(reason);
            // reason-phrase = *( HTAB / SP / VCHAR / obs-text )
            if reason
                .iter()
                .all(|&b| b == b'\t' || (b >= b' ' && b != 0x7f))
            {
                StatusLine::Status(code)
            } else {
                StatusLine::Invalid
            }
        }
        None if buf.len() >= MAX_STATUS_LINE => StatusLine::Invalid,
        None => StatusLine::Incomplete,
    }
}

/// The request head of an HTTP check of the server at `addr`.
pub fn request_head(addr: SocketAddr, hc: &HealthCheck) -> String {
    let host = hc.host.clone().unwrap_or_else(|| addr.to_string());
    format!(
        "{} {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\nConnection: close\r\n\r\n",
        hc.method, hc.path
    )
}

/// Runs one check of the server at `addr` as `hc` says, within
/// `hc.timeout`. On success returns the round-trip time: from the start of
/// the connect to the complete status line (`http`), or to the established
/// connection (`tcp`).
pub async fn check(addr: SocketAddr, hc: &HealthCheck) -> Result<Duration, Failure> {
    check_with(addr, hc, None).await
}

/// As [`check`], over TLS when `tls` is given (a server with `tls: true`):
/// the round-trip time then includes the handshake.
pub async fn check_with(
    addr: SocketAddr,
    hc: &HealthCheck,
    tls: Option<&TlsClient>,
) -> Result<Duration, Failure> {
    check_server(addr, hc, tls, Proto::H1).await
}

/// As [`check_with`], an `http` check speaking `proto` (HTTP/2 for
/// `proto: h2|h2c`).
pub async fn check_server(
    addr: SocketAddr,
    hc: &HealthCheck,
    tls: Option<&TlsClient>,
    proto: Proto,
) -> Result<Duration, Failure> {
    let start = Instant::now();
    match tokio::time::timeout(hc.timeout, probe(addr, hc, tls, proto)).await {
        Ok(Ok(())) => Ok(start.elapsed()),
        Ok(Err(failure)) => Err(failure),
        Err(_) => Err(Failure::Timeout(hc.timeout)),
    }
}

async fn probe(
    addr: SocketAddr,
    hc: &HealthCheck,
    tls: Option<&TlsClient>,
    proto: Proto,
) -> Result<(), Failure> {
    let io = |e: std::io::Error| Failure::Io(e.kind());
    let stream = TcpStream::connect(addr).await.map_err(io)?;
    // Best effort: the request is one small write either way.
    let _ = stream.set_nodelay(true);
    match tls {
        None if hc.kind == CheckKind::Tcp => Ok(()),
        None => request(stream, addr, hc, proto).await,
        Some(tls) => {
            let stream = tls.connect(stream).await.map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::Other => {
                    Failure::Tls(e.to_string())
                }
                kind => Failure::Io(kind),
            })?;
            if hc.kind == CheckKind::Tcp {
                return Ok(());
            }
            match &hc.host {
                Some(_) => request(stream, addr, hc, proto).await,
                // Name-based servers expect their TLS name as the Host.
                None => {
                    let hc = HealthCheck {
                        host: Some(tls.settings().sni.clone()),
                        ..hc.clone()
                    };
                    request(stream, addr, &hc, proto).await
                }
            }
        }
    }
}

/// The check's request on `stream`, in the server's protocol.
async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    addr: SocketAddr,
    hc: &HealthCheck,
    proto: Proto,
) -> Result<(), Failure> {
    let code = match proto {
        Proto::H1 => http1(stream, addr, hc).await?,
        Proto::H2 | Proto::H2c => http2(stream, addr, hc).await?,
    };
    let (lo, hi) = hc.expect_status;
    if (lo..=hi).contains(&code) {
        Ok(())
    } else {
        Err(Failure::Status {
            code,
            expect: hc.expect_status,
        })
    }
}

/// Sends the check's request as one HTTP/2 stream (the connection's
/// preface and settings first) and waits for the response head.
async fn http2<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    addr: SocketAddr,
    hc: &HealthCheck,
) -> Result<u16, Failure> {
    let failure = |e: h2::Error| match e.get_io() {
        Some(io) => Failure::Io(io.kind()),
        None => Failure::Invalid,
    };
    let host = hc.host.clone().unwrap_or_else(|| addr.to_string());
    let req = http::Request::builder()
        .method(hc.method.as_str())
        .uri(format!("http://{host}{}", hc.path))
        .header(http::header::USER_AGENT, USER_AGENT)
        .body(())
        .map_err(|_| Failure::Invalid)?;
    let (client, connection) = h2::client::handshake(stream).await.map_err(failure)?;
    let response = async {
        let mut client = client.ready().await?;
        let (response, _) = client.send_request(req, true)?;
        response.await
    };
    // The connection is driven beside the request; it ends first only
    // when the server closes it or breaks the protocol.
    tokio::select! {
        r = response => r.map(|r| r.status().as_u16()).map_err(failure),
        r = connection => Err(r.err().map_or(Failure::Closed, failure)),
    }
}

/// Sends the check's request on `stream` and reads the status line.
async fn http1<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    addr: SocketAddr,
    hc: &HealthCheck,
) -> Result<u16, Failure> {
    let io = |e: std::io::Error| Failure::Io(e.kind());
    stream
        .write_all(request_head(addr, hc).as_bytes())
        .await
        .map_err(io)?;
    stream.flush().await.map_err(io)?;
    let mut buf = [0u8; MAX_STATUS_LINE];
    let mut len = 0;
    loop {
        let Some(free) = buf.get_mut(len..).filter(|b| !b.is_empty()) else {
            return Err(Failure::Invalid);
        };
        let n = stream.read(free).await.map_err(io)?;
        if n == 0 {
            return Err(if len == 0 {
                Failure::Closed
            } else {
                Failure::Invalid
            });
        }
        len += n;
        match parse_status_line(buf.get(..len).unwrap_or_default()) {
            StatusLine::Incomplete => {}
            StatusLine::Invalid => return Err(Failure::Invalid),
            StatusLine::Status(code) => return Ok(code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::{TcpListener, TcpSocket};

    #[test]
    fn status_lines() {
        use StatusLine::{Incomplete, Invalid, Status};
        let cases: &[(&[u8], StatusLine)] = &[
            (b"HTTP/1.1 200 OK\r\n", Status(200)),
            (b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", Status(200)),
            (b"HTTP/1.0 503 Service Unavailable\r\n", Status(503)),
            (b"HTTP/1.1 204\r\n", Status(204)),
            (b"HTTP/1.1 301 \r\n", Status(301)),
            (b"HTTP/1.1 404 Not Found\n", Status(404)),
            (b"HTTP/1.1 200\n", Status(200)),
            (b"HTTP/1.1 200 caf\xc3\xa9 \xff\tok\r\n", Status(200)),
            (b"HTTP/1.1 999 ?\r\n", Status(999)),
            // Partial reads.
            (b"", Incomplete),
            (b"H", Incomplete),
            (b"HTTP/1.", Incomplete),
            (b"HTTP/1.1 2", Incomplete),
            (b"HTTP/1.1 200", Incomplete),
            (b"HTTP/1.1 200\r", Incomplete),
            (b"HTTP/1.1 200 OK", Incomplete),
            (b"HTTP/1.1 200 OK\r", Incomplete),
            // Garbage, decided at the first wrong byte.
            (b"SSH-2.0-OpenSSH_9.6\r\n", Invalid),
            (b"\x16\x03\x01", Invalid),
            (b"\0", Invalid),
            (b"http/1.1 200 OK\r\n", Invalid),
            (b"HTTP/2 200\r\n", Invalid),
            (b"HTTP/1.1  200 OK\r\n", Invalid),
            (b"HTTP/x.1 200 OK\r\n", Invalid),
            (b"<html>", Invalid),
            // Bad codes.
            (b"HTTP/1.1 20 OK\r\n", Invalid),
            (b"HTTP/1.1 2000 OK\r\n", Invalid),
            (b"HTTP/1.1 099 OK\r\n", Invalid),
            (b"HTTP/1.1 -12 OK\r\n", Invalid),
            (b"HTTP/1.1 abc OK\r\n", Invalid),
            (b"HTTP/1.1 20x OK\r\n", Invalid),
            (b"HTTP/1.1 200OK\r\n", Invalid),
            // Bad line ends and control bytes.
            (b"HTTP/1.1 200\rX", Invalid),
            (b"HTTP/1.1 200 O\0K\r\n", Invalid),
            (b"HTTP/1.1 200 O\rK\r\n", Invalid),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_status_line(input),
                *want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn a_status_line_without_end_is_invalid_once_too_long() {
        let mut long = b"HTTP/1.1 200 ".to_vec();
        long.resize(MAX_STATUS_LINE - 1, b'x');
        assert_eq!(parse_status_line(&long), StatusLine::Incomplete);
        long.push(b'x');
        assert_eq!(parse_status_line(&long), StatusLine::Invalid);
    }

    #[test]
    fn every_prefix_of_a_valid_line_is_incomplete_and_any_byte_is_safe() {
        let line = b"HTTP/1.1 200 OK\r\n";
        for i in 0..line.len() {
            assert_eq!(parse_status_line(&line[..i]), StatusLine::Incomplete, "{i}");
        }
        // Every single-byte corruption is decided without panicking.
        for i in 0..line.len() {
            for b in 0..=255u8 {
                let mut l = line.to_vec();
                l[i] = b;
                let _ = parse_status_line(&l);
            }
        }
    }

    #[test]
    fn reasons_read_like_the_log_line() {
        assert_eq!(
            Failure::Io(std::io::ErrorKind::ConnectionRefused).to_string(),
            "connection refused"
        );
        assert_eq!(
            Failure::Timeout(Duration::from_secs(1)).to_string(),
            "timeout after 1s"
        );
        assert_eq!(
            Failure::Timeout(Duration::from_millis(250)).to_string(),
            "timeout after 250ms"
        );
        let status = |code, expect| Failure::Status { code, expect }.to_string();
        assert_eq!(status(500, (200, 399)), "status 500 not in 200-399");
        assert_eq!(status(404, (200, 200)), "status 404 not 200");
        assert_eq!(Failure::Invalid.to_string(), "invalid response");
        assert_eq!(Failure::Closed.to_string(), "connection closed");
    }

    fn hc(kind: CheckKind) -> HealthCheck {
        HealthCheck {
            kind,
            method: "HEAD".into(),
            path: "/health".into(),
            host: None,
            expect_status: (200, 399),
            interval: Duration::from_millis(100),
            timeout: Duration::from_millis(500),
            rise: 2,
            fall: 2,
        }
    }

    /// A one-shot server on loopback: reads the request head, then writes
    /// `chunks` with a short pause between them, then closes.
    async fn serve(chunks: Vec<&'static [u8]>) -> (SocketAddr, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut b = [0u8; 512];
            while !head.ends_with(b"\r\n\r\n") {
                let n = s.read(&mut b).await.unwrap();
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&b[..n]);
            }
            for c in chunks {
                if s.write_all(c).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            String::from_utf8(head).unwrap()
        });
        (addr, task)
    }

    #[tokio::test]
    async fn http_check_sends_the_request_and_reads_a_split_status_line() {
        let (addr, server) =
            serve(vec![b"HT", b"TP/1.0 2", b"04", b" No Content\r", b"\n\r\n"]).await;
        let rtt = check(addr, &hc(CheckKind::Http)).await.unwrap();
        assert!(rtt < Duration::from_millis(500));
        assert_eq!(
            server.await.unwrap(),
            format!("HEAD /health HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: fairway-health\r\nConnection: close\r\n\r\n")
        );
    }

    #[tokio::test]
    async fn http_check_uses_the_configured_host() {
        let (addr, server) = serve(vec![b"HTTP/1.1 200 OK\r\n\r\n"]).await;
        let c = HealthCheck {
            host: Some("example.test".into()),
            method: "GET".into(),
            ..hc(CheckKind::Http)
        };
        check(addr, &c).await.unwrap();
        assert!(server
            .await
            .unwrap()
            .starts_with("GET /health HTTP/1.1\r\nHost: example.test\r\n"));
    }

    #[tokio::test]
    async fn http_check_failures() {
        let http = hc(CheckKind::Http);
        let (addr, _s) = serve(vec![b"HTTP/1.1 500 Internal Server Error\r\n\r\n"]).await;
        assert_eq!(
            check(addr, &http).await,
            Err(Failure::Status {
                code: 500,
                expect: (200, 399)
            })
        );
        let (addr, _s) = serve(vec![b"HTTP/1.1 404 Not Found\r\n\r\n"]).await;
        let strict = HealthCheck {
            expect_status: (200, 299),
            ..hc(CheckKind::Http)
        };
        assert_eq!(
            check(addr, &strict).await.unwrap_err().to_string(),
            "status 404 not in 200-299"
        );
        let (addr, _s) = serve(vec![b"SSH-2.0-OpenSSH_9.6\r\n"]).await;
        assert_eq!(check(addr, &http).await, Err(Failure::Invalid));
        let (addr, _s) = serve(vec![]).await;
        assert_eq!(check(addr, &http).await, Err(Failure::Closed));
        let (addr, _s) = serve(vec![b"HTTP/1.1 20"]).await;
        assert_eq!(check(addr, &http).await, Err(Failure::Invalid));
        let (addr, _s) = serve(vec![&[b'x'; 4096]]).await;
        assert_eq!(check(addr, &http).await, Err(Failure::Invalid));
    }

    #[tokio::test]
    async fn a_silent_server_times_out_cleanly() {
        // Accepts (the kernel does, from the backlog) but never answers.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let c = HealthCheck {
            timeout: Duration::from_millis(100),
            ..hc(CheckKind::Http)
        };
        let t = Instant::now();
        assert_eq!(
            check(addr, &c).await,
            Err(Failure::Timeout(Duration::from_millis(100)))
        );
        assert!(t.elapsed() < Duration::from_secs(2));
        assert_eq!(
            check(addr, &c).await.unwrap_err().to_string(),
            "timeout after 100ms"
        );
        // A tcp check only needs the connect.
        assert!(check(addr, &hc(CheckKind::Tcp)).await.is_ok());
        drop(listener);
    }

    #[tokio::test]
    async fn tcp_check_against_a_port_nobody_listens_on_is_refused() {
        // Bound but not listening: connections are refused, and the port
        // stays ours for the whole test.
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socket.local_addr().unwrap();
        for kind in [CheckKind::Tcp, CheckKind::Http] {
            let err = check(addr, &hc(kind)).await.unwrap_err();
            assert_eq!(err, Failure::Io(std::io::ErrorKind::ConnectionRefused));
        }
    }
}
