//! The client side of the fast path: one [`Conn`] per HTTP/1 client
//! connection reads each request head into a buffer kept for the whole
//! connection, and a [`FastSession`] puts it behind Pingora's server-session
//! interface (its `Custom` kind), so that the proxy's phases see the same
//! `Session` as on Pingora's path.
//!
//! What Pingora's HTTP/1 session does per request and this one does per
//! connection: the session, its digest and its read buffer are built once;
//! the keep-alive wait needs no timer of Pingora's; the response head and a
//! small body leave in one write.
//!
//! The rules are Pingora's: the head is parsed by httparse (strictly: a head
//! Pingora's parser would have to be lenient with goes to Pingora), the
//! request must pass Pingora's authority checks, and the response is framed
//! and given `Date` and `Connection` as Pingora's HTTP/1 session does
//! (`write_response_header`, `write_body`, `finish`). A request this code
//! does not serve is handed to Pingora with every byte read
//! ([`Conn::into_parts`]).

use super::client::{connection_tokens, content_length, transfer_coding};
use super::spare;
use crate::proxy::head::Guarded;
use async_trait::async_trait;
use bytes::{BufMut, Bytes, BytesMut};
use futures_core::Stream as FutureStream;
use http::{header, HeaderMap, Version};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::protocols::http::custom::server::Session as CustomSession;
use pingora::protocols::http::custom::CustomMessageWrite;
use pingora::protocols::http::date::get_cached_date;
use pingora::protocols::http::HttpTask;
use pingora::protocols::l4::socket::SocketAddr;
use pingora::protocols::{Digest, GetProxyDigest, GetSocketDigest, GetTimingDigest, Ssl, Stream};
use pingora::server::ShutdownWatch;
use pingora::{Error, ErrorType, Result};
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, Sleep};

/// The most header fields in a head the fast path parses; a head with more
/// goes to Pingora's parser.
const MAX_FIELDS: usize = 64;
/// The read buffer's size: most heads fit in one read.
const READ_SIZE: usize = 4096;
/// Body bytes below this are copied behind what is unsent (the response
/// head, a chunk's size line), so that they leave in one write.
const COALESCE: usize = 16 * 1024;

/// How the response body is being framed for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No response head written yet.
    Unset,
    /// No body (HEAD, 204, 304).
    Empty,
    /// This many bytes still to write.
    Length(u64),
    /// Chunked; `true` once the last chunk is out.
    Chunked(bool),
    /// Until the connection closes (no length: an HTTP/1.0 client).
    Close,
}

/// What [`Conn::read_head`] found.
pub enum Head {
    /// A head the fast path parsed: [`Conn::req`].
    Parsed,
    /// Bytes for Pingora's parser (a head this parser refused, or an
    /// unusual one): [`Conn::into_parts`].
    Other,
    /// The connection is done (closed, idle too long, shutting down, or a
    /// head the guard refused, whose error page went out).
    Closed,
}

/// An HTTP/1 client connection on the fast path.
pub struct Conn {
    /// The client stream.
    stream: Box<Guarded>,
    /// Bytes read and not yet used (the next request's start).
    buf: BytesMut,
    /// The current request; valid after [`Head::Parsed`].
    req: RequestHeader,
    /// The current head's bytes: the request's fields point into them.
    head: Bytes,
    digest: Digest,
    /// The client lets the connection carry another request.
    keepalive: bool,
    /// The process is shutting down: this response is the last.
    pub closing: bool,
    response: Option<Box<ResponseHeader>>,
    framing: Framing,
    /// Written and not yet sent.
    out: BytesMut,
    body_sent: usize,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// The connection failed: it must close after this request.
    broken: bool,
    /// The wait for a next request's first byte: [`first_byte`].
    idle_timer: Pin<Box<Sleep>>,
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
            req: RequestHeader::build("GET", b"/", Some(0)).expect("a valid request"),
            head: Bytes::new(),
            digest,
            keepalive: false,
            closing: false,
            response: None,
            framing: Framing::Unset,
            out: BytesMut::new(),
            body_sent: 0,
            read_timeout: None,
            write_timeout: None,
            broken: false,
            idle_timer: Box::pin(tokio::time::sleep_until(Instant::now())),
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
                    Err(()) => return Head::Other,
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
    /// then starts after it); `Ok(false)` when incomplete, `Err` when this
    /// parser does not take it.
    fn parse(&mut self) -> std::result::Result<bool, ()> {
        let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
        let mut parsed = httparse::Request::new(&mut fields);
        let len = match parsed.parse(&self.buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(false),
            Err(_) => return Err(()),
        };
        // Offsets into the head, so that the fields can share its bytes.
        let base = self.buf.as_ptr() as usize;
        let at = |s: &[u8]| (s.as_ptr() as usize - base, s.len());
        let method = parsed.method.map(str::as_bytes).ok_or(())?;
        let path = parsed.path.map(str::as_bytes).ok_or(())?;
        let (method, path) = (at(method), at(path));
        let version = match parsed.version {
            Some(1) => Version::HTTP_11,
            Some(0) => Version::HTTP_10,
            _ => return Err(()),
        };
        let count = parsed.headers.len();
        let mut spans = [((0, 0), (0, 0)); MAX_FIELDS];
        for (span, field) in spans.iter_mut().zip(parsed.headers.iter()) {
            *span = (at(field.name.as_bytes()), at(field.value));
        }
        let head = self.buf.split_to(len).freeze();
        let slice = |(start, len): (usize, usize)| head.slice(start..start + len);
        let method = std::str::from_utf8(&head[method.0..method.0 + method.1]).map_err(|_| ())?;
        let mut req = RequestHeader::build(method, &head[path.0..path.0 + path.1], Some(count))
            .map_err(|_| ())?;
        req.set_version(version);
        for &(name, value) in &spans[..count] {
            let value = http::HeaderValue::from_maybe_shared(slice(value)).map_err(|_| ())?;
            req.append_header(slice(name), value).map_err(|_| ())?;
        }
        // HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 only
        // when asked (RFC 9112 §9.3), as Pingora's session decides.
        self.keepalive = match connection_tokens(&req.headers) {
            (true, _) => false,
            (false, keep_alive) => keep_alive || version == Version::HTTP_11,
        };
        self.req = req;
        self.head = head;
        Ok(true)
    }

    /// The current request, to check and adjust.
    pub fn req_mut(&mut self) -> &mut RequestHeader {
        &mut self.req
    }

    /// The head is taken: the guard's clock stops, and the request has no
    /// body (the fast path serves no other).
    pub fn head_complete(&mut self) {
        self.stream.head_complete(0);
    }

    /// The stream and every byte read from it not yet answered (the
    /// current head included), for Pingora's session.
    pub fn into_parts(self: Box<Self>) -> (Stream, BytesMut) {
        let Conn {
            stream, buf, head, ..
        } = *self;
        if head.is_empty() {
            return (stream, buf);
        }
        let mut all = BytesMut::with_capacity(head.len() + buf.len());
        all.extend_from_slice(&head);
        all.extend_from_slice(&buf);
        (stream, all)
    }

    /// Ends the response (its last chunk, anything unsent); whether the
    /// connection carries another request (a complete response, which the
    /// client and the response's framing let it).
    pub async fn finish(&mut self) -> bool {
        self.end_body();
        self.send().await.is_ok() && self.reusable()
    }

    fn reusable(&self) -> bool {
        self.will_keepalive()
            && !self.broken
            && matches!(
                self.framing,
                Framing::Empty | Framing::Length(0) | Framing::Chunked(true)
            )
    }

    fn will_keepalive(&self) -> bool {
        self.keepalive && !self.closing && self.framing != Framing::Close
    }

    /// The response is done: the guard starts a new head with the next
    /// byte.
    pub fn response_done(&mut self) {
        self.stream.response_done();
    }

    /// Closes the connection, after what is written and not yet sent (as
    /// Pingora's session flushes its buffer at shutdown).
    pub async fn close(&mut self) {
        let _ = self.send().await;
        pingora::protocols::Shutdown::shutdown(&mut *self.stream).await;
    }

    async fn write_head(&mut self, mut resp: Box<ResponseHeader>) -> Result<()> {
        if resp.status.is_informational() {
            // Not relayed, as for Pingora's other non-HTTP/1 sessions.
            return Ok(());
        }
        if self.response.is_some() {
            log::warn!("Respond header is already sent, cannot send again");
            return Ok(());
        }
        self.framing =
            if self.req.method == http::Method::HEAD || matches!(resp.status.as_u16(), 204 | 304) {
                Framing::Empty
            } else if transfer_coding(&resp) == Some(true) {
                Framing::Chunked(false)
            } else {
                match content_length(&resp) {
                    Ok(Some(n)) => Framing::Length(n),
                    _ => Framing::Close,
                }
            };
        resp.insert_header(header::DATE, get_cached_date())?;
        let connection = if self.will_keepalive() {
            "keep-alive"
        } else {
            "close"
        };
        resp.insert_header(header::CONNECTION, connection)?;
        let version: &[u8] = match resp.version {
            Version::HTTP_10 => b"HTTP/1.0 ",
            Version::HTTP_11 => b"HTTP/1.1 ",
            _ => return Error::e_explain(ErrorType::WriteError, "serializing response header"),
        };
        self.out.reserve(512);
        self.out.put_slice(version);
        self.out.put_slice(resp.status.as_str().as_bytes());
        self.out.put_u8(b' ');
        if let Some(reason) = resp.get_reason_phrase() {
            self.out.put_slice(reason.as_bytes());
        }
        self.out.put_slice(b"\r\n");
        resp.header_to_h1_wire(&mut self.out);
        self.out.put_slice(b"\r\n");
        self.response = Some(resp);
        // The head waits for the body's first bytes only when its length is
        // known (as Pingora's session does): a streamed body's head goes now.
        if !matches!(self.framing, Framing::Length(n) if n > 0) {
            self.send().await?;
        }
        Ok(())
    }

    async fn write_body(&mut self, data: Bytes, end: bool) -> Result<()> {
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

    fn end_body(&mut self) {
        if self.framing == Framing::Chunked(false) {
            self.out.put_slice(b"0\r\n\r\n");
            self.framing = Framing::Chunked(true);
        }
    }

    /// Sends what is written.
    async fn send(&mut self) -> Result<()> {
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
        let write = async {
            let (mut first, mut second) = (first, second);
            while !first.is_empty() {
                let slices = [IoSlice::new(first), IoSlice::new(second)];
                let n = self.stream.write_vectored(&slices).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::WriteZero.into());
                }
                if n < first.len() {
                    first = &first[n..];
                } else {
                    second = &second[n - first.len()..];
                    first = &[];
                }
            }
            self.stream.write_all(second).await?;
            self.stream.flush().await
        };
        let done = match self.write_timeout {
            Some(t) => tokio::time::timeout(t, write)
                .await
                .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())),
            None => write.await,
        };
        done.map_err(|e| {
            self.broken = true;
            Error::because(ErrorType::WriteError, "writing the response", e)
        })
    }

    /// Waits while the server works: pipelined bytes the client sends are
    /// kept by the guard for the next request; a client that closes (or
    /// fails) ends it.
    async fn idle(&mut self) -> Result<Option<Bytes>> {
        loop {
            // The guard keeps what the client pipelines meanwhile: a read
            // here only ends when the client closes or fails.
            let (stream, buf) = (&mut self.stream, &mut self.buf);
            let read =
                std::future::poll_fn(|cx| spare::poll_read(&mut **stream, buf, READ_SIZE, cx));
            match read.await {
                Ok(0) => {
                    self.broken = true;
                    return Error::e_explain(
                        ErrorType::ConnectionClosed,
                        "Prematurely before response header is sent",
                    );
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
        return tokio::select! {
            biased;
            r = read => r.ok(),
            _ = closing.wait_for(|down| *down) => None,
        };
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

/// A [`Conn`] behind Pingora's server-session interface for one request.
/// When dropped, the connection goes back to `home` for the next request.
pub struct FastSession {
    conn: Option<Box<Conn>>,
    home: Arc<Mutex<Option<Box<Conn>>>>,
}

impl FastSession {
    /// The session for `conn`'s current request.
    pub fn new(conn: Box<Conn>, home: &Arc<Mutex<Option<Box<Conn>>>>) -> Self {
        FastSession {
            conn: Some(conn),
            home: Arc::clone(home),
        }
    }

    fn c(&self) -> &Conn {
        self.conn
            .as_deref()
            .expect("a session has its connection until dropped")
    }

    fn m(&mut self) -> &mut Conn {
        self.conn
            .as_deref_mut()
            .expect("a session has its connection until dropped")
    }
}

impl Drop for FastSession {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            *self.home.lock().unwrap_or_else(|e| e.into_inner()) = Some(conn);
        }
    }
}

/// Takes the connection back from a dropped [`FastSession`].
pub fn take_home(home: &Mutex<Option<Box<Conn>>>) -> Option<Box<Conn>> {
    home.lock().unwrap_or_else(|e| e.into_inner()).take()
}

type MessageReader = Box<dyn FutureStream<Item = Result<Bytes>> + Unpin + Send + Sync + 'static>;

#[async_trait]
impl CustomSession for FastSession {
    fn req_header(&self) -> &RequestHeader {
        &self.c().req
    }

    fn req_header_mut(&mut self) -> &mut RequestHeader {
        &mut self.m().req
    }

    async fn read_body_bytes(&mut self) -> Result<Option<Bytes>> {
        Ok(None)
    }

    async fn drain_request_body(&mut self) -> Result<()> {
        Ok(())
    }

    async fn write_response_header(&mut self, resp: Box<ResponseHeader>, end: bool) -> Result<()> {
        let conn = self.m();
        conn.write_head(resp).await?;
        if end {
            conn.end_body();
            conn.send().await?;
        }
        Ok(())
    }

    async fn write_response_header_ref(&mut self, resp: &ResponseHeader, end: bool) -> Result<()> {
        self.write_response_header(Box::new(resp.clone()), end)
            .await
    }

    async fn write_body(&mut self, data: Bytes, end: bool) -> Result<()> {
        self.m().write_body(data, end).await
    }

    async fn write_trailers(&mut self, _trailers: HeaderMap) -> Result<()> {
        Ok(())
    }

    async fn response_duplex_vec(&mut self, tasks: Vec<HttpTask>) -> Result<bool> {
        let mut done = false;
        for task in tasks {
            match task {
                HttpTask::Header(resp, end) => {
                    self.write_response_header(resp, end).await?;
                    done |= end;
                }
                HttpTask::Body(data, end) | HttpTask::UpgradedBody(data, end) => {
                    self.write_body(data.unwrap_or_default(), end).await?;
                    done |= end;
                }
                HttpTask::Trailer(_) | HttpTask::Done => {
                    self.finish().await?;
                    done = true;
                }
                HttpTask::Failed(e) => return Err(e),
            }
        }
        Ok(done)
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.m().read_timeout = timeout;
    }

    fn get_read_timeout(&self) -> Option<Duration> {
        self.c().read_timeout
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.m().write_timeout = timeout;
    }

    fn get_write_timeout(&self) -> Option<Duration> {
        self.c().write_timeout
    }

    fn set_total_drain_timeout(&mut self, _timeout: Option<Duration>) {}

    fn get_total_drain_timeout(&self) -> Option<Duration> {
        None
    }

    fn request_summary(&self) -> String {
        let req = &self.c().req;
        let host = req
            .headers
            .get(header::HOST)
            .map(|h| String::from_utf8_lossy(h.as_bytes()))
            .unwrap_or_default();
        format!("{} {}, Host: {host}", req.method, req.uri)
    }

    fn response_written(&self) -> Option<&ResponseHeader> {
        self.c().response.as_deref()
    }

    async fn shutdown(&mut self, _code: u32, _ctx: &str) {
        let conn = self.m();
        conn.broken = true;
        conn.close().await;
    }

    fn is_body_done(&mut self) -> bool {
        true
    }

    async fn finish(&mut self) -> Result<()> {
        let conn = self.m();
        conn.end_body();
        conn.send().await
    }

    fn is_body_empty(&mut self) -> bool {
        true
    }

    async fn read_body_or_idle(&mut self, _no_body_expected: bool) -> Result<Option<Bytes>> {
        self.m().idle().await
    }

    fn body_bytes_sent(&self) -> usize {
        self.c().body_sent
    }

    fn body_bytes_read(&self) -> usize {
        0
    }

    fn digest(&self) -> Option<&Digest> {
        Some(&self.c().digest)
    }

    fn digest_mut(&mut self) -> Option<&mut Digest> {
        Some(&mut self.m().digest)
    }

    fn client_addr(&self) -> Option<&SocketAddr> {
        self.c().digest.socket_digest.as_ref()?.peer_addr()
    }

    fn server_addr(&self) -> Option<&SocketAddr> {
        self.c().digest.socket_digest.as_ref()?.local_addr()
    }

    fn pseudo_raw_h1_request_header(&self) -> Bytes {
        self.c().head.clone()
    }

    fn enable_retry_buffering(&mut self) {}

    fn retry_buffer_truncated(&self) -> bool {
        false
    }

    fn get_retry_buffer(&self) -> Option<Bytes> {
        None
    }

    async fn finish_custom(&mut self) -> Result<()> {
        Ok(())
    }

    fn take_custom_message_reader(&mut self) -> Option<MessageReader> {
        None
    }

    fn restore_custom_message_reader(&mut self, _reader: MessageReader) -> Result<()> {
        Ok(())
    }

    fn take_custom_message_writer(&mut self) -> Option<Box<dyn CustomMessageWrite>> {
        None
    }

    fn restore_custom_message_writer(
        &mut self,
        _writer: Box<dyn CustomMessageWrite>,
    ) -> Result<()> {
        Ok(())
    }
}
