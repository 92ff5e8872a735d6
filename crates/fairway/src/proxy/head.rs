//! `timeout_http_request` and the request-head size limit for HTTP/1
//! clients: a slowloris client gets `408` and a too-large head `431`.
//!
//! Pingora reads a request head under a per-read timeout, so a client that
//! sends a byte every few seconds holds a connection forever. fairway wraps
//! each HTTP/1 client stream in a [`Guarded`] stream before Pingora sees it.
//! The wrapper runs one clock per request head: from the accept for the
//! first request, from the first byte for the next ones on a keep-alive
//! connection. The proxy stops the clock once the head is parsed
//! (`head_complete`, from `early_request_filter`) and lets the next head
//! start after the response (`response_done`, from `logging`). When the
//! clock runs out, or the head grows past [`MAX_HEAD`] bytes, the wrapper
//! writes the HAProxy-like error page and ends the read with an error, so
//! Pingora closes the connection.
//!
//! HTTP/2 connections are not wrapped (their streams' heads arrive in
//! frames that Pingora reads under its own timeouts).

use super::respond::error_body;
use async_trait::async_trait;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, Ssl, Stream, UniqueID,
    UniqueIDType, ALPN,
};
use pingora::protocols::{SocketDigest, TimingDigest};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The largest request head (request line and headers) accepted; a larger
/// one gets `431 Request Header Fields Too Large`. HAProxy's default buffer
/// allows about 15 KiB (and answers 400); nginx allows 4 × 8 KiB.
pub const MAX_HEAD: usize = 64 * 1024;

/// The head is arriving: the clock runs.
const HEAD: u8 = 0;
/// The head is parsed: body and response, no clock.
const BODY: u8 = 1;
/// The response is done: the next byte starts a new head.
const IDLE: u8 = 2;

/// An HTTP/1 client stream whose request heads must arrive within a time
/// and a size limit.
pub struct Guarded {
    inner: Stream,
    timeout: Duration,
    /// HEAD, BODY or IDLE; set by the proxy through [`head_complete`] and
    /// [`response_done`], which only have a shared reference.
    phase: AtomicU8,
    /// Bytes read for the current head.
    head_len: usize,
    /// The current head's deadline.
    deadline: Instant,
    /// The timer for `deadline`, moved there only when a head is still
    /// incomplete after a read (a head that arrives in one read, the usual
    /// case, costs no timer work).
    clock: Pin<Box<Sleep>>,
    /// An error page is being written; then the read fails.
    failing: Option<(u16, bytes::Bytes, usize)>,
    /// The current head's request line, checked as its bytes arrive.
    line: RequestLine,
    /// Pingora answered a head it could not parse (its bare `400` with
    /// `Server: Pingora`); fairway's page went out instead, and what
    /// Pingora writes after it is dropped.
    replaced: bool,
}

impl std::fmt::Debug for Guarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded")
            .field("inner", &self.inner)
            .field("timeout", &self.timeout)
            .field("phase", &self.phase.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Guarded {
    /// Wraps a client stream whose first request head must be complete by
    /// `first_deadline` (the accept plus `timeout`); later heads on the
    /// connection get `timeout` from their first byte.
    pub fn new(inner: Stream, timeout: Duration, first_deadline: Instant) -> Self {
        Guarded {
            inner,
            timeout,
            phase: AtomicU8::new(HEAD),
            head_len: 0,
            deadline: first_deadline,
            clock: Box::pin(tokio::time::sleep_until(first_deadline)),
            failing: None,
            line: RequestLine::default(),
            replaced: false,
        }
    }

    /// Starts the next head with `prefix`, its bytes already read (a
    /// pipelined request's start, read while the previous request was
    /// served, when no head was being watched): its clock, its size and its
    /// request line are checked on these bytes as on bytes read from the
    /// socket. `false` when the prefix already breaks the head's rules: the
    /// error page is then written by the next read, which fails.
    pub(crate) fn start_head(&mut self, prefix: &[u8]) -> bool {
        if prefix.is_empty() {
            return true;
        }
        self.phase.store(HEAD, Ordering::Relaxed);
        self.head_len = prefix.len();
        self.deadline = Instant::now() + self.timeout;
        self.line = RequestLine::default();
        if self.line.feed(prefix) == Some(false) {
            self.fail(400, "malformed_request_line");
            return false;
        }
        if self.head_len > MAX_HEAD {
            self.fail(431, "head_too_large");
            return false;
        }
        true
    }

    /// The head is parsed: no clock until the response is done.
    pub(crate) fn head_complete(&self) {
        self.phase.store(BODY, Ordering::Relaxed);
    }

    /// The response is done: the next byte read starts a new head.
    pub(crate) fn response_done(&self) {
        self.phase.store(IDLE, Ordering::Relaxed);
    }

    fn fail(&mut self, status: u16, reason: &str) {
        log_failure(&self.inner, status, reason, self.head_len);
        self.failing = Some((status, error_page(status), 0));
    }

    /// Writes what is left of the error page; `Ready` once written (or the
    /// client is gone).
    fn poll_error_page(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        let Some((status, page, written)) = self.failing.as_mut() else {
            return Poll::Ready(std::io::ErrorKind::Other.into());
        };
        let status = *status;
        while *written < page.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &page[*written..]) {
                Poll::Ready(Ok(n)) if n > 0 => *written += n,
                Poll::Ready(_) => break,
                Poll::Pending => return Poll::Pending,
            }
        }
        if Pin::new(&mut self.inner).poll_flush(cx).is_pending() {
            return Poll::Pending;
        }
        let message = match status {
            408 => "request head not received within timeout_http_request",
            431 => "request head larger than the limit",
            _ => "request head refused",
        };
        Poll::Ready(std::io::Error::new(std::io::ErrorKind::TimedOut, message))
    }
}

/// The complete response fairway sends when a head is late (408), too
/// large (431) or refused by Pingora's parser (400 and the like); the
/// connection is closed after it.
pub(crate) fn error_page(status: u16) -> bytes::Bytes {
    let body = error_body(status);
    let reason = match status {
        400 => "Bad request",
        408 => "Request Time-out",
        431 => "Request Header Fields Too Large",
        _ => http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error"),
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-length: {}\r\ncache-control: no-cache\r\n\
         content-type: text/html\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let mut page = head.into_bytes();
    page.extend_from_slice(&body);
    bytes::Bytes::from(page)
}

/// Logs a refused head at `info` (a client's mistake, not fairway's):
/// `408 client=IP:PORT reason=timeout_http_request head_bytes=N`.
pub(crate) fn log_failure(stream: &Stream, status: u16, reason: &str, head_bytes: usize) {
    let peer = stream
        .get_socket_digest()
        .and_then(|d| d.peer_addr().map(|a| a.to_string()))
        .unwrap_or_default();
    log::info!("{status} client={peer} reason={reason} head_bytes={head_bytes}");
}

/// Marks the current request head as parsed: its clock stops. Called by
/// the proxy on every HTTP/1 request; a stream fairway did not wrap is left
/// alone.
pub(crate) fn head_complete(stream: Option<&Stream>) {
    if let Some(g) = stream.and_then(|s| s.as_any().downcast_ref::<Guarded>()) {
        g.head_complete();
    }
}

/// Marks the response as done: the next byte the client sends starts a
/// new head and its clock.
pub(crate) fn response_done(stream: Option<&Stream>) {
    if let Some(g) = stream.and_then(|s| s.as_any().downcast_ref::<Guarded>()) {
        g.response_done();
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.failing.is_some() {
            return this.poll_error_page(cx).map(Err);
        }
        let phase = this.phase.load(Ordering::Relaxed);
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len() - before;
                let in_head = match phase {
                    IDLE if n > 0 => {
                        this.phase.store(HEAD, Ordering::Relaxed);
                        this.head_len = n;
                        this.deadline = Instant::now() + this.timeout;
                        this.line = RequestLine::default();
                        true
                    }
                    HEAD => {
                        this.head_len += n;
                        true
                    }
                    _ => false,
                };
                if in_head && this.line.feed(&buf.filled()[before..]) == Some(false) {
                    this.fail(400, "malformed_request_line");
                    return this.poll_error_page(cx).map(Err);
                }
                if this.phase.load(Ordering::Relaxed) == HEAD && this.head_len > MAX_HEAD {
                    this.fail(431, "head_too_large");
                    return this.poll_error_page(cx).map(Err);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if phase == HEAD {
                    if this.clock.deadline() != this.deadline {
                        let deadline = this.deadline;
                        this.clock.as_mut().reset(deadline);
                    }
                    if this.clock.as_mut().poll(cx).is_ready() {
                        this.fail(408, "timeout_http_request");
                        return this.poll_error_page(cx).map(Err);
                    }
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        // Before a head is parsed, only Pingora's own refusal (a bare
        // `400`, or `405` for CONNECT) is written: fairway's page replaces it.
        if this.phase.load(Ordering::Relaxed) != BODY || this.replaced {
            if !this.replaced && this.failing.is_none() {
                if let Some(status) = status_of(buf) {
                    this.replaced = true;
                    log_failure(&this.inner, status, "unparsable_head", this.head_len);
                    this.failing = Some((status, error_page(status), 0));
                }
            }
            if this.replaced {
                return match this.poll_error_page(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(_) => Poll::Ready(Ok(buf.len())),
                };
            }
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if self.phase.load(Ordering::Relaxed) != BODY || self.replaced {
            // Rare (a response before a parsed head): one slice at a time
            // through poll_write, which may replace it.
            let first = bufs.iter().find(|b| !b.is_empty());
            return match first {
                Some(b) => self.poll_write(cx, b),
                None => Poll::Ready(Ok(0)),
            };
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The request line of a head, checked byte by byte as it arrives (RFC
/// 9112 §3): method SP target SP version, visible ASCII only (and in the
/// target only what RFC 3986 allows in a URI), CR only
/// before LF, after at most four empty lines (§2.2). Pingora's parser
/// would instead percent-encode a space, NUL or raw UTF-8 inside the target
/// and pass the request on; HAProxy and nginx answer 400, and so does
/// fairway. No allocation: a few counters per connection.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RequestLine {
    /// Parts ended by a space so far.
    parts: u8,
    /// Bytes of the current part.
    part_len: u16,
    /// A CR was read; only LF may follow.
    cr: bool,
    /// Empty lines before the request line.
    blank: u8,
    /// The line ended, well-formed.
    done: bool,
}

impl RequestLine {
    /// Reads more bytes of the head: `Some(false)` when the line is
    /// malformed, `Some(true)` once it is complete and well-formed, `None`
    /// while it is incomplete.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Option<bool> {
        if self.done {
            return Some(true);
        }
        for &b in bytes {
            if self.cr && b != b'\n' {
                return Some(false);
            }
            match b {
                b'\r' => self.cr = true,
                b'\n' => {
                    self.cr = false;
                    if self.parts == 0 && self.part_len == 0 {
                        self.blank += 1;
                        if self.blank > 4 {
                            return Some(false);
                        }
                        continue;
                    }
                    let ok = self.part_len > 0 && self.parts == 2;
                    self.done = ok;
                    return Some(ok);
                }
                b' ' => {
                    if self.part_len == 0 || self.parts == 2 {
                        return Some(false);
                    }
                    self.parts += 1;
                    self.part_len = 0;
                }
                // In the target, the visible characters RFC 3986 leaves out
                // of URIs (Pingora's parser would wait, not answer).
                b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
                    if self.parts == 1 =>
                {
                    return Some(false);
                }
                0x21..=0x7e => self.part_len = self.part_len.saturating_add(1),
                _ => return Some(false),
            }
        }
        None
    }
}

/// The status of an HTTP/1 status line at the start of `buf`.
fn status_of(buf: &[u8]) -> Option<u16> {
    let rest = buf.strip_prefix(b"HTTP/1.")?;
    let digits = rest.get(2..5)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[async_trait]
impl Shutdown for Guarded {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await;
    }
}

impl UniqueID for Guarded {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for Guarded {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for Guarded {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for Guarded {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest);
    }
}

impl GetSocketDigest for Guarded {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest);
    }
}

#[async_trait]
impl Peek for Guarded {
    async fn try_peek(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::RequestLine;

    fn check(bytes: &[u8]) -> Option<bool> {
        RequestLine::default().feed(bytes)
    }

    #[test]
    fn request_lines() {
        for ok in [
            &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"\r\nGET /x?y HTTP/1.0\r\n",
            b"OPTIONS * HTTP/1.1\n",
        ] {
            assert_eq!(check(ok), Some(true), "{}", String::from_utf8_lossy(ok));
        }
        assert_eq!(check(b"GET /partial"), None);
        // Byte by byte, as a slow client sends it.
        let mut line = RequestLine::default();
        let text = b"GET /a HTTP/1.1\r\n";
        for (i, b) in text.iter().enumerate() {
            let r = line.feed(std::slice::from_ref(b));
            assert_eq!(r, (i == text.len() - 1).then_some(true));
        }
        for bad in [
            &b"GET  /admin HTTP/1.1\r\n"[..],
            b"GET /ad min HTTP/1.1\r\n",
            b"GET /\0 HTTP/1.1\r\n",
            b"GET /caf\xc3\xa9 HTTP/1.1\r\n",
            b"GET\t/admin HTTP/1.1\r\n",
            b" GET / HTTP/1.1\r\n",
            b"GET /\r\n",
            b"GET / HTTP/1.1 x\r\n",
            b"GET / HTTP/1.1\rHost: a\r\n",
            b"\r\n\r\n\r\n\r\n\r\n",
        ] {
            assert_eq!(check(bad), Some(false), "{}", String::from_utf8_lossy(bad));
        }
        for c in "\"<>\\^`{|}".bytes() {
            let bad = [&b"GET /a"[..], &[c], b"b HTTP/1.1\r\n"].concat();
            assert_eq!(
                check(&bad),
                Some(false),
                "{}",
                String::from_utf8_lossy(&bad)
            );
        }
        // The method and version are tokens checked by the parser; these
        // characters are only refused in the target.
        assert_eq!(check(b"GET /a?b=%7B~ HTTP/1.1\r\n"), Some(true));
    }
}
