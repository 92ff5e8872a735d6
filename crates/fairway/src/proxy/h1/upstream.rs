//! The server side of an HTTP/1 exchange (RFC 9112): the request head
//! and body out, the response's 1xx heads, final head, body and trailers
//! back, on a connection fairway opened or took from the pool.
//!
//! The head is parsed once (httparse) and the body framed by RFC 9112
//! §6.3; body bytes pass on without a copy. A response head of at most
//! [`MAX_HEAD`] bytes (the request head limit: a larger one is a 502, as
//! HAProxy's and nginx's), lengths that agree (`Content-Length: 5, 5` is
//! 5; `5, 6` is an error), `Transfer-Encoding` over `Content-Length` (the
//! latter removed), an obs-fold replaced by one space (RFC 9112 §5.2).

use super::chunked::{self, Decoder, Piece};
use super::fields::Fields;
use super::spare;
use bytes::{Buf, Bytes, BytesMut};
use http::header;
use http::{HeaderMap, Version};
use pingora::http::{IntoCaseHeaderName, RequestHeader, ResponseHeader};
use pingora::protocols::http::v1::client::http_req_header_to_wire;
use pingora::protocols::Stream;
use pingora::{Error, ErrorType, Result, RetryType};
use std::time::Duration;

/// The largest response head read: the request head limit.
pub const MAX_HEAD: usize = crate::proxy::head::MAX_HEAD;
/// The most header fields in a response head.
const MAX_HEADERS: usize = 256;
/// Bytes asked of the socket per read: a 64 KiB body and its head fit in
/// one read.
const READ_SIZE: usize = 72 * 1024;

/// How the rest of the response body is delimited.
#[derive(Debug)]
enum Body {
    /// This many bytes still to come.
    Length(u64),
    /// Chunked.
    Chunked(Decoder),
    /// Until the server closes the connection.
    Close,
    /// Complete.
    Done,
}

/// How the request body goes to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReqBody {
    /// No body.
    None,
    /// `Content-Length`.
    Length,
    /// Chunked (trailers relayed).
    Chunked,
}

/// One request/response exchange on a server connection.
pub struct Upstream {
    stream: Stream,
    /// Read and not yet used.
    buf: BytesMut,
    body: Body,
    /// The response's trailer fields, once its chunked body ended.
    trailers: Option<HeaderMap>,
    /// The server lets the connection be reused after this response.
    keepalive: bool,
    /// The request body's framing, and whether it was sent to its end.
    req_body: ReqBody,
    req_done: bool,
    /// The request head, waiting to leave with the body's first bytes.
    out: BytesMut,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl Upstream {
    /// An exchange on `stream`, each read waiting at most `read_timeout`
    /// and each write `write_timeout` (`timeout_server`).
    pub fn new(
        stream: Stream,
        read_timeout: Option<Duration>,
        write_timeout: Option<Duration>,
    ) -> Self {
        Upstream {
            stream,
            buf: BytesMut::new(),
            body: Body::Done,
            trailers: None,
            keepalive: false,
            req_body: ReqBody::None,
            req_done: true,
            out: BytesMut::new(),
            read_timeout,
            write_timeout,
        }
    }

    /// Sends the request head; a body, when `body` says so, follows with
    /// [`Self::send_body`] (the head waits to leave with its first bytes).
    pub async fn send(&mut self, req: &RequestHeader, body: ReqBody) -> Result<()> {
        let wire = http_req_header_to_wire(req)
            .ok_or_else(|| Error::explain(ErrorType::InvalidHTTPHeader, "request head"))?;
        self.req_body = body;
        self.req_done = body == ReqBody::None;
        self.out = wire;
        // A client that expects 100-continue sends its body only once the
        // server asks for it: the head goes now.
        let expects = req
            .headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        if self.req_done || expects {
            return self.write(&[]).await;
        }
        Ok(())
    }

    /// Sends a piece of the request body (`end`: the last, with the
    /// trailers of a chunked one).
    pub async fn send_body(
        &mut self,
        data: &[u8],
        end: bool,
        trailers: Option<&HeaderMap>,
    ) -> Result<()> {
        if self.req_done {
            return Ok(());
        }
        let chunked = self.req_body == ReqBody::Chunked;
        if chunked && !data.is_empty() {
            self.out
                .extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        }
        let mut tail = BytesMut::new();
        if chunked && !data.is_empty() {
            tail.extend_from_slice(b"\r\n");
        }
        if end {
            self.req_done = true;
            if chunked {
                chunked::write_end(&mut tail, trailers);
            }
        }
        if tail.is_empty() {
            return self.write(data).await;
        }
        self.write(data).await?;
        self.out = tail;
        self.write(&[]).await
    }

    /// Whether the request (head and body) has been sent to its end.
    pub fn request_sent(&self) -> bool {
        self.req_done
    }

    /// Writes what is waiting in `out`, then `data`.
    async fn write(&mut self, data: &[u8]) -> Result<()> {
        let out = std::mem::take(&mut self.out);
        let written = super::write_two(&mut *self.stream, &out, data, self.write_timeout).await;
        if written
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::TimedOut)
        {
            return Err(Error::explain(
                ErrorType::WriteTimedout,
                "writing the request",
            ));
        }
        written.map_err(|e| {
            let mut err = Error::because(ErrorType::WriteError, "writing the request", e);
            // A pooled connection the server closed: safe to resend.
            err.retry = RetryType::ReusedOnly;
            err
        })
    }

    /// The next response head, informational ones (1xx) included: the
    /// caller relays those and asks again. `head` says whether the request
    /// was HEAD, `upgrade` whether it asked to switch protocols.
    pub async fn response(&mut self, head: bool, upgrade: bool) -> Result<Box<ResponseHeader>> {
        loop {
            if let Some(resp) = self.parsed_head(head, upgrade)? {
                return Ok(resp);
            }
            if self.fill().await? == 0 {
                let mut e = Error::explain(
                    ErrorType::ConnectionClosed,
                    "server closed the connection before a response head",
                );
                // Nothing came back: a pooled connection the server had
                // closed; safe to resend on a new one.
                if self.buf.is_empty() {
                    e.retry = RetryType::ReusedOnly;
                }
                return Err(e);
            }
        }
    }

    /// A response head complete in the buffer, taken out of it.
    pub fn parsed_head(
        &mut self,
        head: bool,
        upgrade: bool,
    ) -> Result<Option<Box<ResponseHeader>>> {
        let Some((mut resp, len)) = parse_head(&self.buf)? else {
            if self.buf.len() > MAX_HEAD {
                return Err(Error::explain(
                    ErrorType::InvalidHTTPHeader,
                    "response head larger than the limit",
                ));
            }
            return Ok(None);
        };
        self.buf.advance(len);
        let status = resp.status.as_u16();
        if status == 101 && !upgrade {
            // RFC 9110 §15.2.2: only an answer to an upgrade request.
            return Err(Error::explain(
                ErrorType::InvalidHTTPHeader,
                "101 to a request that did not ask to upgrade",
            ));
        }
        if (100..200).contains(&status) {
            return Ok(Some(resp));
        }
        self.frame(&mut resp, head)?;
        Ok(Some(resp))
    }

    /// The body's framing (RFC 9112 §6.3) and whether the connection can
    /// be reused, from the response head.
    fn frame(&mut self, resp: &mut ResponseHeader, head: bool) -> Result<()> {
        let v11 = resp.version == Version::HTTP_11;
        let fields = Fields::of(&resp.headers);
        self.keepalive = if v11 {
            !fields.close
        } else {
            fields.keep_alive && !fields.close
        };
        let status = resp.status.as_u16();
        if head || status == 204 || status == 304 {
            self.body = Body::Done;
            return Ok(());
        }
        if let Some(chunked) = fields.chunked {
            if fields.length != Ok(None) {
                resp.remove_header(&header::CONTENT_LENGTH);
            }
            if !v11 {
                // RFC 9112 §6.1: close after a 1.0 message with Transfer-Encoding.
                self.keepalive = false;
            }
            self.body = if chunked {
                let decoder = Decoder::default();
                decoder.check_ahead(&self.buf)?;
                Body::Chunked(decoder)
            } else {
                self.keepalive = false;
                Body::Close
            };
            return Ok(());
        }
        let length = fields
            .length
            .map_err(|e| Error::explain(ErrorType::InvalidHTTPHeader, e))?;
        self.body = match length {
            Some(0) => Body::Done,
            Some(n) => Body::Length(n),
            None => {
                self.keepalive = false;
                Body::Close
            }
        };
        Ok(())
    }

    /// Whether the body has been read to its end.
    pub fn is_done(&self) -> bool {
        matches!(self.body, Body::Done)
    }

    /// The response's trailer fields, once its body is read (chunked
    /// bodies only).
    pub fn take_trailers(&mut self) -> Option<HeaderMap> {
        self.trailers.take().filter(|t| !t.is_empty())
    }

    /// The next piece of the body; `None` at its end.
    pub async fn body(&mut self) -> Result<Option<Bytes>> {
        loop {
            match &mut self.body {
                Body::Done => return Ok(None),
                Body::Length(left) => {
                    let left = *left;
                    if self.buf.is_empty() && self.fill().await? == 0 {
                        return Err(cut("before the end of the body"));
                    }
                    let n = (self.buf.len() as u64).min(left);
                    self.body = if n == left {
                        Body::Done
                    } else {
                        Body::Length(left - n)
                    };
                    return Ok(Some(self.buf.split_to(n as usize).freeze()));
                }
                Body::Close => {
                    if self.buf.is_empty() && self.fill().await? == 0 {
                        self.body = Body::Done;
                        return Ok(None);
                    }
                    return Ok(Some(self.buf.split().freeze()));
                }
                Body::Chunked(decoder) => match decoder.next(&mut self.buf)? {
                    Some(Piece::Data(data)) => return Ok(Some(data)),
                    Some(Piece::End(trailers)) => {
                        self.trailers = Some(trailers);
                        self.body = Body::Done;
                        return Ok(None);
                    }
                    None => {
                        if self.fill().await? == 0 {
                            return Err(cut("inside the chunked framing"));
                        }
                        if let Body::Chunked(decoder) = &self.body {
                            decoder.check_ahead(&self.buf)?;
                        }
                    }
                },
            }
        }
    }

    /// Waits until the server sends something while the request body is
    /// still being sent; cancel-safe, what arrives is kept. The byte count,
    /// 0 when it closed. Its `timeout_server` starts afresh with each call,
    /// that is with each piece of body sent: a server silent while the
    /// client stalls gets its 504, as HAProxy's.
    pub async fn readable(&mut self) -> Result<usize> {
        self.fill().await
    }

    /// The connection for a tunnel (after a `101`), with what the server
    /// sent after the head.
    pub fn into_tunnel(self) -> (Stream, BytesMut) {
        (self.stream, self.buf)
    }

    /// The connection, when it may carry another request: the response
    /// allowed it, both bodies went to their end and nothing more came.
    pub fn into_reusable(mut self) -> Option<Stream> {
        let reusable = self.keepalive && self.is_done() && self.req_done && self.buf.is_empty();
        spare::give(std::mem::take(&mut self.buf), READ_SIZE);
        reusable.then_some(self.stream)
    }

    /// Reads more from the server into the buffer; the byte count (0: the
    /// server closed).
    async fn fill(&mut self) -> Result<usize> {
        let read_timeout = self.read_timeout;
        // The buffer is lent for the read only (`spare`): a response in
        // flight holds none while its server works.
        let (stream, buf) = (&mut self.stream, &mut self.buf);
        let read = std::future::poll_fn(|cx| spare::poll_read(&mut **stream, buf, READ_SIZE, cx));
        let got = match read_timeout {
            Some(t) => tokio::time::timeout(t, read)
                .await
                .map_err(|_| Error::explain(ErrorType::ReadTimedout, "waiting for the server"))?,
            None => read.await,
        };
        got.map_err(|e| {
            let os = e.raw_os_error().is_some();
            let mut err = Error::because(ErrorType::ReadError, "reading from the server", e);
            if os && self.buf.is_empty() {
                err.retry = RetryType::ReusedOnly;
            }
            err
        })
    }
}

fn cut(where_: &'static str) -> Box<Error> {
    Error::explain(
        ErrorType::ConnectionClosed,
        format!("server closed the connection {where_}"),
    )
}

/// Parses a complete response head at the start of `buf`: the head and
/// its length, `None` while incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<(Box<ResponseHeader>, usize)>> {
    if buf.is_empty() {
        return Ok(None);
    }
    // Not zeroed first: httparse writes each field it parses.
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    // Spaces before a colon are taken, and obs-fold (replaced below, RFC
    // 9112 §5.2).
    let mut config = httparse::ParserConfig::default();
    config.allow_spaces_after_header_name_in_responses(true);
    config.allow_obsolete_multiline_headers_in_responses(true);
    let len = match config.parse_response_with_uninit_headers(&mut parsed, buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD => len,
        Ok(httparse::Status::Complete(_)) => {
            return Err(Error::explain(
                ErrorType::InvalidHTTPHeader,
                "response head larger than the limit",
            ))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => {
            return Err(Error::because(
                ErrorType::InvalidHTTPHeader,
                "invalid response head",
                e,
            ))
        }
    };
    let code = parsed.code.unwrap_or(0);
    crate::proxy::framing::check_status(code)?;
    // Field names as received are not kept (RFC 9110 §5.1: case does not
    // matter): the client gets common names capitalised, others in lower
    // case, as HAProxy's all in lower case.
    let mut resp = Box::new(ResponseHeader::build_no_case(
        code,
        Some(parsed.headers.len()),
    )?);
    resp.set_version(match parsed.version {
        Some(1) => Version::HTTP_11,
        _ => Version::HTTP_10,
    });
    resp.set_reason_phrase(parsed.reason)?;
    let head = Bytes::copy_from_slice(&buf[..len]);
    let base = buf.as_ptr() as usize;
    for h in parsed.headers.iter() {
        let name_at = h.name.as_ptr() as usize - base;
        let value_at = h.value.as_ptr() as usize - base;
        let name = head.slice(name_at..name_at + h.name.len());
        let raw = head.slice(value_at..value_at + h.value.len());
        let value = if raw.iter().any(|b| *b == b'\r' || *b == b'\n') {
            http::HeaderValue::from_bytes(&unfold(&raw))
        } else {
            http::HeaderValue::from_maybe_shared(raw)
        }
        .map_err(|e| Error::because(ErrorType::InvalidHTTPHeader, "header value", e))?;
        resp.append_header(name.into_case_header_name(), value)?;
    }
    Ok(Some((resp, len)))
}

/// A field value with each obs-fold (a line break and the whitespace
/// after it) replaced by one space (RFC 9112 §5.2).
fn unfold(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\r' || raw[i] == b'\n' {
            while i < raw.len() && matches!(raw[i], b'\r' | b'\n' | b' ' | b'\t') {
                i += 1;
            }
            while out.last().is_some_and(|b| *b == b' ' || *b == b'\t') {
                out.pop();
            }
            out.push(b' ');
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests;
