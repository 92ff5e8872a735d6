//! `timeout_http_request`, the request-head size limit and the request-line
//! check for HTTP/1 clients: a slowloris client gets `408`, a too-large
//! head `431`, a malformed request line `400` — for every request of a
//! connection, pipelined or not.
//! A request line longer than the head limit gets `414`, and a request
//! line's `HTTP/1.2` to `HTTP/1.9` pass on as `HTTP/1.1` (RFC 9110 §6.2).
//!
//! A per-read timeout lets a client that sends a byte every few seconds
//! hold a connection forever. fairway wraps each HTTP/1 client stream in a
//! [`Guarded`] stream before its HTTP/1 engine reads it.
//!
//! The wrapper hands its reader one message at a time: the bytes of a
//! request head up to its empty line, then the bytes of its body up to the
//! body's end (its Content-Length counted, its chunks followed), and no
//! byte past that until the response is done (bytes a client pipelines
//! meanwhile are kept in the wrapper). So each request head starts with a
//! read from the wrapper, which checks it from its first byte as it
//! arrives (module `scan`), and no parser holds the bytes of a next request it
//! would read unchecked. The engine tells the wrapper when a head is
//! parsed and how its body is framed (`head_complete`) and when the
//! response is done (`response_done`); after a `101` the connection is a
//! tunnel (`tunnel`) and every byte goes on.
//!
//! Each head runs one clock: from the accept for the first request, from
//! its first byte for the next ones; it stops once the head is parsed.
//! When the clock runs out, the head (or its request line alone: 414)
//! grows past [`MAX_HEAD`] bytes or its request line is malformed, the
//! wrapper writes the HAProxy-like error page and ends the read with an
//! error, so the connection closes.
//!
//! HTTP/2 connections are not wrapped (their streams' heads arrive in
//! frames that Pingora reads under its own timeouts).

mod scan;

use super::respond::error_body;
use async_trait::async_trait;
use bytes::{Buf, BytesMut};
use pingora::http::RequestHeader;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, Ssl, Stream, UniqueID,
    UniqueIDType, ALPN,
};
use pingora::protocols::{SocketDigest, TimingDigest};
use scan::{ChunkScan, HeadScan, Scan};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The largest request head (request line and headers) accepted; a larger
/// one gets `431 Request Header Fields Too Large`, or `414 URI Too Long`
/// when its request line alone is larger (RFC 9112 §3). HAProxy's default
/// buffer allows about 15 KiB (and answers 400); nginx allows 4 × 8 KiB
/// (and answers 414 to a longer request line).
pub const MAX_HEAD: usize = 64 * 1024;

/// The head is arriving (or waits to be parsed): the clock runs.
const HEAD: u8 = 0;
/// The head is parsed: body and response, no clock.
const BODY: u8 = 1;
/// The response is done: once the body is read, the next byte starts a
/// new head.
const DONE: u8 = 2;
/// The connection became a tunnel (after a `101`): every byte goes on.
const TUNNEL: u8 = 3;

/// The body framing `head_complete` passes for a body read until the
/// response is done (an upgrade, CONNECT, a transfer coding other than
/// chunked): the old rule, the next byte after it starts a head.
pub(crate) const BODY_OPEN: u64 = u64::MAX - 1;
/// The body framing `head_complete` passes for a chunked body.
pub(crate) const BODY_CHUNKED: u64 = u64::MAX;

/// Where the reader is in the current message.
#[derive(Debug, Clone, Copy)]
enum Msg {
    /// Between requests: the next byte starts a head (and its clock).
    Idle,
    /// Reading a head.
    Head(HeadScan),
    /// The head's bytes are read; its framing comes with `head_complete`.
    Parsing,
    /// This many body bytes left.
    Length(u64),
    /// A chunked body.
    Chunked(ChunkScan),
    /// A body read until the response is done.
    Open,
    /// The body is read; the next head waits for the response to be done.
    Ended,
}

/// An HTTP/1 client stream whose request heads must arrive within a time
/// and a size limit, with a well-formed request line.
pub struct Guarded {
    inner: Stream,
    timeout: Duration,
    /// HEAD, BODY or DONE; set by the proxy through [`head_complete`] and
    /// [`response_done`], which only have a shared reference.
    phase: AtomicU8,
    /// The body's framing given by [`head_complete`]: its length,
    /// [`BODY_CHUNKED`] or [`BODY_OPEN`].
    body: AtomicU64,
    /// Where the reader is.
    msg: Msg,
    /// Bytes read from the client and not yet handed on: past the end of
    /// the current message (a pipelined request). Empty, and no memory,
    /// unless the client pipelines.
    pending: BytesMut,
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
}

impl std::fmt::Debug for Guarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded")
            .field("inner", &self.inner)
            .field("timeout", &self.timeout)
            .field("phase", &self.phase.load(Ordering::Relaxed))
            .field("msg", &self.msg)
            .field("pending", &self.pending.len())
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
            body: AtomicU64::new(0),
            msg: Msg::Head(HeadScan::default()),
            pending: BytesMut::new(),
            head_len: 0,
            deadline: first_deadline,
            clock: Box::pin(tokio::time::sleep_until(first_deadline)),
            failing: None,
        }
    }

    /// The head is parsed, its body framed as [`body_framing`] says: no
    /// clock until the response is done.
    pub(crate) fn head_complete(&self, body: u64) {
        self.body.store(body, Ordering::Relaxed);
        self.phase.store(BODY, Ordering::Relaxed);
    }

    /// The response is done: the next byte read after the body starts a
    /// new head.
    pub(crate) fn response_done(&self) {
        self.phase.store(DONE, Ordering::Relaxed);
    }

    /// The connection is a tunnel now (a `101` went out): every byte the
    /// client sends goes on, those kept meanwhile first.
    pub(crate) fn tunnel(&self) {
        self.phase.store(TUNNEL, Ordering::Relaxed);
    }

    /// Logs a head the engine refused (after this guard passed it).
    pub(crate) fn log_refused(&self, status: u16, reason: &str) {
        log_failure(&self.inner, status, reason, self.head_len);
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
            414 => "request line larger than the head limit",
            431 => "request head larger than the limit",
            _ => "request head refused",
        };
        Poll::Ready(std::io::Error::new(std::io::ErrorKind::TimedOut, message))
    }

    /// Moves on between messages as far as the proxy's calls allow; `false`
    /// when the reader must get no byte now (the head waits to be parsed,
    /// or the body is read and the response is not done).
    fn advance(&mut self) -> bool {
        let phase = self.phase.load(Ordering::Relaxed);
        if phase == TUNNEL {
            self.msg = Msg::Open;
            return true;
        }
        loop {
            self.msg = match self.msg {
                Msg::Parsing if phase == HEAD => return false,
                Msg::Parsing => match self.body.load(Ordering::Relaxed) {
                    BODY_OPEN => Msg::Open,
                    BODY_CHUNKED => Msg::Chunked(ChunkScan::default()),
                    n => Msg::Length(n),
                },
                Msg::Length(0) => Msg::Ended,
                Msg::Ended | Msg::Open if phase == DONE => Msg::Idle,
                Msg::Ended => return false,
                _ => return true,
            };
        }
    }

    /// How many of `bytes`, just read, belong to the current message (at
    /// least one, or the head is refused: `Err`).
    /// A minor version above 1 in a request line is rewritten in `bytes`
    /// (served as HTTP/1.1, module `scan`).
    fn take(&mut self, bytes: &mut [u8]) -> Result<usize, (u16, &'static str)> {
        if let Msg::Idle = self.msg {
            self.phase.store(HEAD, Ordering::Relaxed);
            self.msg = Msg::Head(HeadScan::default());
            self.head_len = 0;
            self.deadline = Instant::now() + self.timeout;
        }
        let (taken, next) = match &mut self.msg {
            Msg::Head(scan) => {
                let (taken, ended) = match scan.feed(bytes) {
                    Scan::Bad => return Err((400, "malformed_request_line")),
                    Scan::End(n) => (n, true),
                    Scan::More => (bytes.len(), false),
                };
                self.head_len += taken;
                if scan.line_len() > MAX_HEAD {
                    // RFC 9112 §3: a target longer than a server wishes
                    // to parse gets 414.
                    return Err((414, "uri_too_long"));
                }
                if self.head_len > MAX_HEAD {
                    return Err((431, "head_too_large"));
                }
                (taken, ended.then_some(Msg::Parsing))
            }
            Msg::Length(left) => {
                let taken = (*left).min(bytes.len() as u64);
                *left -= taken;
                (taken as usize, None)
            }
            Msg::Chunked(scan) => match scan.feed(bytes) {
                Scan::End(n) => (n, Some(Msg::Ended)),
                _ => (bytes.len(), None),
            },
            _ => (bytes.len(), None),
        };
        if let Some(next) = next {
            self.msg = next;
        }
        Ok(taken)
    }

    /// Reads what the client sends while the reader must get nothing, and
    /// keeps it for the next message: `Ready` only when the client closed
    /// (an end of file for the reader) or the read failed. Once bytes are
    /// kept, no more are read until the next message (as Pingora stops
    /// reading once it has a pipelined request's start): a client that
    /// pipelines and then half-closes still gets every answer.
    fn poll_keep(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.pending.is_empty() {
            return Poll::Pending;
        }
        // Not zeroed: the read writes what it fills (the rest is never read).
        let mut chunk = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        let mut read = ReadBuf::uninit(&mut chunk);
        match Pin::new(&mut self.inner).poll_read(cx, &mut read) {
            Poll::Ready(Ok(())) if read.filled().is_empty() => Poll::Ready(Ok(())),
            Poll::Ready(Ok(())) => {
                self.pending.extend_from_slice(read.filled());
                Poll::Pending
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Runs the head's clock while the reader waits: `Ready` once the
    /// error page for a late head is written.
    fn poll_clock(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        let waiting_head = !matches!(self.msg, Msg::Idle);
        if self.phase.load(Ordering::Relaxed) != HEAD || !waiting_head {
            return Poll::Pending;
        }
        if self.clock.deadline() != self.deadline {
            let deadline = self.deadline;
            self.clock.as_mut().reset(deadline);
        }
        if self.clock.as_mut().poll(cx).is_ready() {
            self.fail(408, "timeout_http_request");
            return self.poll_error_page(cx);
        }
        Poll::Pending
    }
}

/// The complete response fairway sends when a head is late (408), too
/// large (431; 414 when its request line alone is) or refused by Pingora's
/// parser (400 and the like); the connection is closed after it.
pub(crate) fn error_page(status: u16) -> bytes::Bytes {
    let body = error_body(status);
    let reason = match status {
        400 => "Bad request",
        408 => "Request Time-out",
        414 => "URI Too Long",
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

/// How a request's body ends (RFC 9112 §6.3), as Pingora reads it: a
/// length, [`BODY_CHUNKED`] when the last transfer coding is chunked, or
/// [`BODY_OPEN`] for what is read until the response is done (an upgrade,
/// CONNECT, another transfer coding, a length no parser takes).
pub(crate) fn body_framing(req: &RequestHeader) -> u64 {
    use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
    if req.method == http::Method::CONNECT {
        return BODY_OPEN;
    }
    if let Some(te) = req.headers.get_all(TRANSFER_ENCODING).iter().next_back() {
        let last = te
            .as_bytes()
            .rsplit(|&b| b == b',')
            .next()
            .unwrap_or_default();
        return if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            BODY_CHUNKED
        } else {
            BODY_OPEN
        };
    }
    let Some(cl) = req.headers.get(CONTENT_LENGTH) else {
        return 0;
    };
    // `5, 5` is one length (the framing check keeps the first value).
    let first = cl
        .as_bytes()
        .split(|&b| b == b',')
        .next()
        .unwrap_or_default();
    std::str::from_utf8(first.trim_ascii())
        .ok()
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|&n| n < BODY_OPEN)
        .unwrap_or(BODY_OPEN)
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
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if !this.advance() {
            // Nothing for the reader now: what the client sends is kept.
            return match this.poll_keep(cx) {
                Poll::Pending => this.poll_clock(cx).map(Err),
                ready => ready,
            };
        }
        if !this.pending.is_empty() {
            // Bytes the client pipelined: only the current message's go on.
            let mut pending = std::mem::take(&mut this.pending);
            let n = pending.len().min(buf.remaining());
            let taken = this.take(&mut pending[..n]);
            if let Ok(taken) = taken {
                buf.put_slice(&pending[..taken]);
                pending.advance(taken);
            }
            this.pending = pending;
            return match taken {
                Ok(_) => Poll::Ready(Ok(())),
                Err((status, reason)) => {
                    this.fail(status, reason);
                    this.poll_error_page(cx).map(Err)
                }
            };
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return this.poll_clock(cx).map(Err),
        }
        let read = &mut buf.filled_mut()[before..];
        if read.is_empty() {
            return Poll::Ready(Ok(()));
        }
        let read_len = read.len();
        let taken = match this.take(read) {
            Ok(taken) => taken,
            Err((status, reason)) => {
                this.fail(status, reason);
                return this.poll_error_page(cx).map(Err);
            }
        };
        // What is past the message waits for the next one.
        if taken < read_len {
            this.pending
                .extend_from_slice(&buf.filled()[before + taken..]);
            buf.set_filled(before + taken);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
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
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
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
        if !self.pending.is_empty() {
            // The next bytes are kept here, not in the socket: no peek.
            return Ok(false);
        }
        self.inner.try_peek(buf).await
    }
}
