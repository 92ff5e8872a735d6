//! The client side of the HTTP/1 engine: one [`Conn`] per client
//! connection reads each request head into a buffer kept for the whole
//! connection, reads its body (Content-Length or chunked, trailers kept),
//! and writes the response: 1xx heads, the final head, the body framed for
//! the client, its trailers. [`super::session::H1Session`] puts it behind
//! Pingora's server-session interface (its `Custom` kind), so that the
//! proxy's phases see the same `Session` as for HTTP/2.
//!
//! The digest is built once per connection, the `Session` is lent by the
//! worker thread per request ([`spare`]), the read buffer per read; the
//! keep-alive wait needs no timer per request; the
//! response head and a small body leave in one write. Heads are parsed by
//! httparse, strictly: a head it refuses gets `400` and the connection
//! closes. The stream guard ([`Guarded`]) has already checked every byte
//! of the request line and the head's size and time.

use super::chunked::{Decoder, Piece};
use super::fields::Fields;
use super::spare;
use crate::proxy::head::Guarded;
use bytes::{BufMut, Bytes, BytesMut};
use http::{header, HeaderMap, Version};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::protocols::http::date::get_cached_date;
use pingora::protocols::{Digest, GetProxyDigest, GetSocketDigest, GetTimingDigest, Ssl};
use pingora::server::ShutdownWatch;
use pingora::{Error, ErrorType, Result};
use std::pin::Pin;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::time::{Instant, Sleep};

/// The most header fields in a request head (HAProxy allows 101); a head
/// with more gets `400`.
const MAX_FIELDS: usize = 128;
/// The read buffer's size: most heads fit in one read.
const READ_SIZE: usize = 4096;
/// Bytes asked of the socket per read of a request body.
const BODY_READ_SIZE: usize = 64 * 1024;
/// The most body bytes kept to resend the request on another server
/// (Pingora's proxy keeps as many).
const RETRY_BUFFER: usize = 64 * 1024;
/// The write buffer's size: a response head and a small body.
const OUT_SIZE: usize = 4096;
/// Body bytes below this are copied behind what is unsent (the response
/// head, a chunk's size line), so that they leave in one write.
const COALESCE: usize = 16 * 1024;

/// How the response body is being framed for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No response head written yet.
    Unset,
    /// No body (HEAD, 204, 304).
    Empty,
    /// This many bytes still to write.
    Length(u64),
    /// Chunked; `true` once the last chunk is out.
    Chunked(bool),
    /// Until the connection closes (no length: an HTTP/1.0 client; a
    /// tunnel after `101`).
    Close,
}

/// Where the request body is.
#[derive(Debug)]
pub(super) enum ReqBody {
    /// This many bytes still to read.
    Length(u64),
    /// Chunked.
    Chunked(Decoder),
    /// Read to its end (or none).
    Done,
}

/// What [`Conn::read_head`] found.
pub enum Head {
    /// A head parsed: [`Conn::req_mut`].
    Parsed,
    /// A head this parser refused (its `400` is for the caller to send).
    Bad,
    /// The connection is done (closed, idle too long, shutting down, or a
    /// head the guard refused, whose error page went out).
    Closed,
}

/// An HTTP/1 client connection.
pub struct Conn {
    /// The client stream.
    pub(super) stream: Box<Guarded>,
    /// Bytes read and not yet used (the next request's start).
    pub(super) buf: BytesMut,
    /// The current request; valid after [`Head::Parsed`] (boxed: an idle
    /// connection keeps no room for one).
    pub(super) req: Option<Box<RequestHeader>>,
    /// The current head's bytes: the request's fields point into them.
    pub(super) head: Bytes,
    pub(super) digest: Digest,
    /// The client lets the connection carry another request.
    pub(super) keepalive: bool,
    /// The request has a body.
    pub(super) has_body: bool,
    /// The retry buffer overflowed.
    pub(super) retry_truncated: bool,
    /// The process is shutting down: this response is the last.
    pub closing: bool,
    pub(super) response: Option<Box<ResponseHeader>>,
    pub(super) framing: Framing,
    /// Written and not yet sent.
    pub(super) out: BytesMut,
    pub(super) body_sent: usize,
    pub(super) read_timeout: Option<Duration>,
    pub(super) write_timeout: Option<Duration>,
    /// The connection failed: it must close after this request.
    pub(super) broken: bool,
    /// The wait for a next request's first byte: [`first_byte`].
    pub(super) idle_timer: Pin<Box<Sleep>>,
    /// The request body's framing and progress.
    pub(super) body: ReqBody,
    pub(super) body_read: usize,
    /// The request's trailer fields, once its chunked body ended.
    pub(super) trailers: Option<HeaderMap>,
    /// The body bytes read so far, to resend on a retry (until more than
    /// [`RETRY_BUFFER`] arrive: then `None`, truncated).
    pub(super) retry: Option<BytesMut>,
    /// The client half-closed (or closed) its side after its request: the
    /// response still goes out, then the connection closes.
    pub(super) half_closed: bool,
}

impl Conn {
    /// A connection on `stream`.
    pub fn new(stream: Box<Guarded>) -> Box<Conn> {
        let digest = Digest {
            ssl_digest: stream.get_ssl_digest(),
            timing_digest: stream.get_timing_digest(),
            proxy_digest: stream.get_proxy_digest(),
            socket_digest: stream.get_socket_digest(),
        };
        Box::new(Conn {
            stream,
            buf: BytesMut::new(),
            req: None,
            head: Bytes::new(),
            digest,
            keepalive: false,
            has_body: false,
            retry_truncated: false,
            closing: false,
            response: None,
            framing: Framing::Unset,
            out: BytesMut::new(),
            body_sent: 0,
            read_timeout: None,
            write_timeout: None,
            broken: false,
            idle_timer: Box::pin(tokio::time::sleep_until(Instant::now())),
            body: ReqBody::Done,
            body_read: 0,
            trailers: None,
            retry: None,
            half_closed: false,
        })
    }

    /// Reads the next request head. `idle` bounds the wait for its first
    /// byte (none for the connection's first request: the guard's clock
    /// runs from the accept); `closing` ends that wait at shutdown.
    pub async fn read_head(&mut self, idle: Option<Duration>, closing: &mut ShutdownWatch) -> Head {
        self.response = None;
        self.framing = Framing::Unset;
        self.body_sent = 0;
        self.head = Bytes::new();
        self.body = ReqBody::Done;
        self.body_read = 0;
        self.trailers = None;
        self.retry = None;
        self.retry_truncated = false;
        self.has_body = false;
        // The guard hands on no byte past a head: a pipelined request's
        // bytes wait in it, to be checked as a head of their own.
        if !self.buf.is_empty() {
            log::debug!("bytes read past a head: connection closed");
            return Head::Closed;
        }
        loop {
            if !self.buf.is_empty() {
                match self.parse() {
                    Ok(true) => return Head::Parsed,
                    Ok(false) => {}
                    Err(()) => return Head::Bad,
                }
            }
            let got = if self.buf.is_empty() {
                let deadline = idle.map(|idle| Instant::now() + idle);
                let Conn {
                    stream,
                    buf,
                    idle_timer,
                    ..
                } = self;
                // No buffer held while the client is idle: one is lent when
                // its next request arrives.
                let read =
                    std::future::poll_fn(|cx| spare::poll_read(&mut **stream, buf, READ_SIZE, cx));
                first_byte(read, idle_timer.as_mut(), deadline, closing).await
            } else {
                if self.buf.capacity() - self.buf.len() < READ_SIZE / 4 {
                    self.buf.reserve(READ_SIZE);
                }
                self.stream.read_buf(&mut self.buf).await.ok()
            };
            if got.unwrap_or(0) == 0 {
                return Head::Closed;
            }
        }
    }

    /// Parses a complete head at the buffer's start into `req` (the buffer
    /// then starts after it); `Ok(false)` when incomplete, `Err` when it is
    /// malformed.
    fn parse(&mut self) -> std::result::Result<bool, ()> {
        // Not zeroed first: httparse writes each field it parses.
        let mut fields =
            [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
        let mut parsed = httparse::Request::new(&mut []);
        let len = match parsed.parse_with_uninit_headers(&self.buf, &mut fields) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(false),
            Err(_) => return Err(()),
        };
        let version = match parsed.version {
            Some(1) => Version::HTTP_11,
            Some(0) => Version::HTTP_10,
            _ => return Err(()),
        };
        // A copy of its own: the read buffer goes back to the thread's
        // spares at once, and an idle connection holds only this head. The
        // fields share its bytes (same offsets as in the read buffer).
        let head = Bytes::copy_from_slice(&self.buf[..len]);
        let base = self.buf.as_ptr() as usize;
        let slice = |s: &[u8]| {
            let at = s.as_ptr() as usize - base;
            head.slice(at..at + s.len())
        };
        let method = parsed.method.ok_or(())?;
        let target = parsed.path.map(str::as_bytes).ok_or(())?;
        // A fragment is never sent (RFC 9112 §3.2.1); the rules and the
        // server see the target without it.
        let target = memchr::memchr(b'#', target).map_or(target, |at| &target[..at]);
        // Field names as received are not kept (RFC 9110 §5.1: case does
        // not matter): the server gets common names capitalised, others in
        // lower case (HAProxy's are all in lower case).
        let mut req = RequestHeader::build_no_case(method, target, Some(parsed.headers.len()))
            .map_err(|_| ())?;
        req.set_version(version);
        for field in parsed.headers.iter() {
            let value = http::HeaderValue::from_maybe_shared(slice(field.value)).map_err(|_| ())?;
            req.append_header(slice(field.name.as_bytes()), value)
                .map_err(|_| ())?;
        }
        bytes::Buf::advance(&mut self.buf, len);
        // HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 only
        // when asked (RFC 9112 §9.3), as Pingora's session decides.
        let fields = Fields::of(&req.headers);
        self.keepalive = !fields.close && (fields.keep_alive || version == Version::HTTP_11);
        self.req = Some(Box::new(req));
        self.head = head;
        Ok(true)
    }

    /// The current request, to check and adjust.
    pub fn req_mut(&mut self) -> &mut RequestHeader {
        self.req.as_deref_mut().expect("a request is being served")
    }

    /// The current request.
    pub fn req(&self) -> &RequestHeader {
        self.req.as_deref().expect("a request is being served")
    }

    /// The head is taken: the guard's clock stops and hands on the body
    /// the head frames (RFC 9112 §6.3), which [`Self::read_body`] reads.
    /// `false` for a body whose length cannot be told (a transfer coding
    /// other than chunked last, an unreadable length): a `400`, and the
    /// connection closes (§6.3).
    pub fn head_complete(&mut self) -> bool {
        use crate::proxy::head::{body_framing, BODY_CHUNKED, BODY_OPEN};
        let fields = Fields::of(&self.req().headers);
        if fields.chunked.is_some() && fields.length != Ok(None) {
            // Transfer-Encoding overrides Content-Length; the connection
            // closes after the response (§6.3, SPEC).
            self.req_mut().remove_header(&header::CONTENT_LENGTH);
            self.keepalive = false;
        }
        // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 request is
        // faulty framing; §6.3: a Content-Length that is not one 1*DIGIT
        // value (repeated alike at most) cannot frame a body.
        let te_in_10 = self.req().version == Version::HTTP_10 && fields.chunked.is_some();
        // (A Content-Length beside Transfer-Encoding was removed above.)
        if te_in_10 || (fields.chunked.is_none() && fields.length.is_err()) {
            self.stream.head_complete(0);
            self.keepalive = false;
            return false;
        }
        let framing = body_framing(self.req());
        self.body = match framing {
            BODY_OPEN => {
                self.stream.head_complete(0);
                self.keepalive = false;
                return false;
            }
            BODY_CHUNKED => ReqBody::Chunked(Decoder::default()),
            0 => ReqBody::Done,
            n => ReqBody::Length(n),
        };
        self.has_body = framing != 0;
        self.stream.head_complete(framing);
        true
    }

    /// The next piece of the request body; `None` at its end (its trailer
    /// fields then in [`Self::take_trailers`]).
    pub async fn read_body(&mut self) -> Result<Option<Bytes>> {
        loop {
            let piece = match &mut self.body {
                ReqBody::Done => return Ok(None),
                ReqBody::Length(left) => {
                    let n = (self.buf.len() as u64).min(*left);
                    *left -= n;
                    let ended = *left == 0;
                    let data = (n > 0).then(|| self.buf.split_to(n as usize).freeze());
                    if ended {
                        self.body = ReqBody::Done;
                    }
                    data
                }
                ReqBody::Chunked(decoder) => match decoder.next(&mut self.buf) {
                    Ok(Some(Piece::Data(data))) => Some(data),
                    Ok(Some(Piece::End(fields))) => {
                        self.trailers = Some(fields);
                        self.body = ReqBody::Done;
                        return Ok(None);
                    }
                    Ok(None) => None,
                    Err(e) => {
                        self.broken = true;
                        return Err(e.into_down());
                    }
                },
            };
            if let Some(data) = piece {
                self.body_read += data.len();
                self.keep_for_retry(&data);
                return Ok(Some(data));
            }
            if matches!(self.body, ReqBody::Done) {
                return Ok(None);
            }
            self.read_more().await?;
        }
    }

    /// Reads more of the request body from the client.
    async fn read_more(&mut self) -> Result<()> {
        let (stream, buf) = (&mut self.stream, &mut self.buf);
        let read =
            std::future::poll_fn(|cx| spare::poll_read(&mut **stream, buf, BODY_READ_SIZE, cx));
        let got = match self.read_timeout {
            Some(t) => tokio::time::timeout(t, read)
                .await
                .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())),
            None => read.await,
        };
        let error = match got {
            Ok(0) => Error::explain(
                ErrorType::ConnectionClosed,
                "client closed before the end of its request body",
            ),
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                Error::because(ErrorType::ReadTimedout, "waiting for the request body", e)
            }
            Err(e) => Error::because(ErrorType::ReadError, "reading the request body", e),
        };
        self.broken = true;
        Err(error.into_down())
    }

    fn keep_for_retry(&mut self, data: &[u8]) {
        if self.retry_truncated {
            return;
        }
        let kept = self.retry.get_or_insert_with(BytesMut::new);
        if kept.len() + data.len() > RETRY_BUFFER {
            self.retry = None;
            self.retry_truncated = true;
        } else {
            kept.extend_from_slice(data);
        }
    }

    /// The body bytes read so far, to resend on another attempt; `None`
    /// when there are none, or more than can be kept.
    pub fn retry_buffer(&self) -> Option<Bytes> {
        self.retry
            .as_ref()
            .filter(|b| !b.is_empty())
            .map(|b| Bytes::copy_from_slice(b))
    }

    /// The request's trailer fields (a chunked body's, once read).
    pub fn trailers(&self) -> Option<HeaderMap> {
        self.trailers.clone().filter(|t| !t.is_empty())
    }

    /// Answers a head refused before any phase with fairway's page for
    /// `status`, logged at `info` (the client's mistake), and closes.
    pub async fn refuse(&mut self, status: u16, reason: &str) {
        self.stream.log_refused(status, reason);
        self.out
            .extend_from_slice(&crate::proxy::head::error_page(status));
        self.close().await;
    }

    /// Whether the request body has been read to its end (or there is
    /// none).
    pub fn body_done(&self) -> bool {
        matches!(self.body, ReqBody::Done)
    }

    /// Whether the request has a body (`Content-Length` above 0, or
    /// chunked).
    pub fn has_body(&self) -> bool {
        self.has_body
    }

    /// After a `101`: the guard hands on every byte, for the tunnel.
    pub fn tunnel(&mut self) -> &mut Guarded {
        self.stream.tunnel();
        &mut self.stream
    }

    /// The request head's bytes as received.
    pub fn raw_head(&self) -> Bytes {
        self.head.clone()
    }

    /// Ends the response (its last chunk); whether bytes wait to be sent
    /// ([`Self::send`]).
    pub fn end_response(&mut self) -> bool {
        self.end_body();
        !self.out.is_empty()
    }

    /// Whether the connection carries another request once the response
    /// is sent: a complete response, which the client and the response's
    /// framing let it.
    pub fn reusable(&self) -> bool {
        self.will_keepalive()
            && !self.broken
            && !self.half_closed
            && self.body_done()
            && matches!(
                self.framing,
                Framing::Empty | Framing::Length(0) | Framing::Chunked(true)
            )
    }

    fn will_keepalive(&self) -> bool {
        // A body not read to its end (a rule answered first, or the
        // server) closes the connection after the response: say so.
        self.keepalive
            && !self.closing
            && !self.half_closed
            && self.body_done()
            && self.framing != Framing::Close
    }

    /// The response is done: the guard starts a new head with the next
    /// byte. What the request held goes while the connection waits: its
    /// head, its trailers, the write buffer (back to the thread's spares).
    pub fn response_done(&mut self) {
        self.stream.response_done();
        self.req = None;
        self.head = Bytes::new();
        self.trailers = None;
        self.retry = None;
        self.response = None;
        spare::give(std::mem::take(&mut self.out), OUT_SIZE);
    }

    /// Closes the connection, after what is written and not yet sent (as
    /// Pingora's session flushes its buffer at shutdown).
    pub async fn close(&mut self) {
        let _ = self.send().await;
        pingora::protocols::Shutdown::shutdown(&mut *self.stream).await;
    }

    /// Writes a response head: an informational one (1xx but 101) goes
    /// out at once to an HTTP/1.1 client (RFC 9110 §15.2: an HTTP/1.0
    /// client gets none); the final one frames the body for the client.
    pub(super) async fn write_head(&mut self, mut resp: Box<ResponseHeader>) -> Result<()> {
        let status = resp.status.as_u16();
        if resp.status.is_informational() && status != 101 {
            if self.req().version == Version::HTTP_10 || self.response.is_some() {
                return Ok(());
            }
            resp.set_version(Version::HTTP_11);
            self.put_head(&resp)?;
            return self.send().await;
        }
        if self.response.is_some() {
            log::warn!("Respond header is already sent, cannot send again");
            return Ok(());
        }
        self.framing = if status == 101 {
            // A tunnel follows: until either side closes.
            Framing::Close
        } else if self.req().method == http::Method::HEAD || matches!(status, 204 | 304) {
            Framing::Empty
        } else {
            let fields = Fields::of(&resp.headers);
            match (fields.chunked, fields.length) {
                (Some(true), _) => Framing::Chunked(false),
                (_, Ok(Some(n))) => Framing::Length(n),
                _ => Framing::Close,
            }
        };
        resp.insert_header(header::DATE, get_cached_date())?;
        if status != 101 {
            let connection = if self.will_keepalive() {
                "keep-alive"
            } else {
                "close"
            };
            resp.insert_header(header::CONNECTION, connection)?;
        }
        self.put_head(&resp)?;
        self.response = Some(resp);
        // The head waits for the body's first bytes only when its length is
        // known (as Pingora's session does): a streamed body's head goes now.
        if !matches!(self.framing, Framing::Length(n) if n > 0) {
            self.send().await?;
        }
        Ok(())
    }

    /// Puts `resp`'s head in the unsent bytes.
    fn put_head(&mut self, resp: &ResponseHeader) -> Result<()> {
        let version: &[u8] = match resp.version {
            Version::HTTP_10 => b"HTTP/1.0 ",
            Version::HTTP_11 => b"HTTP/1.1 ",
            _ => return Error::e_explain(ErrorType::WriteError, "serializing response header"),
        };
        if self.out.capacity() == 0 {
            self.out = spare::take(OUT_SIZE);
        }
        self.out.put_slice(version);
        self.out.put_slice(resp.status.as_str().as_bytes());
        self.out.put_u8(b' ');
        if let Some(reason) = resp.get_reason_phrase() {
            self.out.put_slice(reason.as_bytes());
        }
        self.out.put_slice(b"\r\n");
        resp.header_to_h1_wire(&mut self.out);
        self.out.put_slice(b"\r\n");
        Ok(())
    }

    /// Ends a chunked response with `fields` as its trailer section (a
    /// response framed otherwise for the client drops them).
    pub(super) async fn write_trailers(&mut self, fields: &HeaderMap) -> Result<()> {
        if self.framing == Framing::Chunked(false) {
            super::chunked::write_end(&mut self.out, Some(fields));
            self.framing = Framing::Chunked(true);
        }
        self.send().await
    }

    pub(super) async fn write_body(&mut self, data: Bytes, end: bool) -> Result<()> {
        let data = match self.framing {
            Framing::Unset => {
                return Error::e_explain(ErrorType::WriteError, "body before the response head")
            }
            Framing::Empty | Framing::Chunked(true) => Bytes::new(),
            Framing::Length(left) => {
                let n = (data.len() as u64).min(left);
                self.framing = Framing::Length(left - n);
                data.slice(..n as usize)
            }
            Framing::Chunked(false) | Framing::Close => data,
        };
        let chunked = self.framing == Framing::Chunked(false);
        if !data.is_empty() {
            self.body_sent += data.len();
            if chunked {
                self.out.reserve(data.len() + 16);
                self.out
                    .put_slice(format!("{:x}\r\n", data.len()).as_bytes());
            }
            if data.len() < COALESCE {
                self.out.extend_from_slice(&data);
            } else {
                // What is unsent (the head, a chunk-size line) and the body
                // piece leave together, without a copy.
                self.send_with(&data).await?;
            }
            if chunked {
                self.out.put_slice(b"\r\n");
            }
        }
        if end {
            self.end_body();
        }
        // Each piece goes as it comes: the server's reads already batch.
        self.send().await
    }

    pub(super) fn end_body(&mut self) {
        if self.framing == Framing::Chunked(false) {
            self.out.put_slice(b"0\r\n\r\n");
            self.framing = Framing::Chunked(true);
        }
    }

    /// Sends what is written.
    pub(super) async fn send(&mut self) -> Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        self.send_with(&[]).await
    }

    /// Sends what is written, then `data`.
    async fn send_with(&mut self, data: &[u8]) -> Result<()> {
        let out = self.out.split();
        let sent = self.write(&out, data).await;
        // The buffer's space is reused for the next response.
        self.out.unsplit(out);
        self.out.clear();
        sent
    }

    /// Writes `first` and `second`, in one system call when the socket
    /// takes both.
    async fn write(&mut self, first: &[u8], second: &[u8]) -> Result<()> {
        let done = super::write_two(&mut *self.stream, first, second, self.write_timeout).await;
        done.map_err(|e| {
            self.broken = true;
            Error::because(ErrorType::WriteError, "writing the response", e)
        })
    }

    /// Waits while the server works: pipelined bytes the client sends are
    /// kept by the guard for the next request; a client whose connection
    /// fails ends it; one that half-closes still gets its response.
    pub(super) async fn idle(&mut self) -> Result<Option<Bytes>> {
        if !self.body_done() {
            // The server answered before the body's end: what the client
            // still sends is not read (the connection closes after).
            return std::future::pending().await;
        }
        loop {
            // The guard keeps what the client pipelines meanwhile: a read
            // here only ends when the client closes or fails.
            let (stream, buf) = (&mut self.stream, &mut self.buf);
            let read =
                std::future::poll_fn(|cx| spare::poll_read(&mut **stream, buf, READ_SIZE, cx));
            match read.await {
                Ok(0) => {
                    // A half-close (or a close: a read cannot tell them
                    // apart) after a complete request: its response still
                    // goes out, as HAProxy's does, then the connection
                    // closes. Nothing more to wait for from this side.
                    self.half_closed = true;
                    return std::future::pending().await;
                }
                Ok(_) => {}
                Err(e) => {
                    self.broken = true;
                    return Error::e_because(ErrorType::ReadError, "client gone", e);
                }
            }
        }
    }
}

/// Waits for `read`, the first bytes of a request: `None` when the client
/// idled past `deadline`, the process is shutting down, or the read failed.
/// Without a deadline (a connection's first request) the wait is the
/// guard's, bounded by `timeout_http_request` from the accept, and not cut
/// by a shutdown: a client that has just connected is about to send its
/// request, which the draining process still serves.
///
/// The connection's one timer is moved only when it fires before the
/// current deadline (at most once per idle period), not for every request.
async fn first_byte(
    read: impl std::future::Future<Output = std::io::Result<usize>>,
    mut timer: Pin<&mut Sleep>,
    deadline: Option<Instant>,
    closing: &mut ShutdownWatch,
) -> Option<usize> {
    let Some(deadline) = deadline else {
        return read.await.ok();
    };
    if timer.deadline() > deadline {
        timer.as_mut().reset(deadline);
    }
    tokio::pin!(read);
    loop {
        tokio::select! {
            biased;
            r = &mut read => return r.ok(),
            () = timer.as_mut() => {
                if Instant::now() >= deadline {
                    return None;
                }
                timer.as_mut().reset(deadline);
            }
            _ = closing.wait_for(|down| *down) => return None,
        }
    }
}
