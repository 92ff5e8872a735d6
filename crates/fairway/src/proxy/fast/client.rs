//! The fast path's HTTP/1 client: one request head out, one response back
//! (RFC 9112), on a connection fairway opened or took from the pool.
//!
//! Pingora's client keeps its own copy of the response head and hands out
//! a clone, wraps each read in a boxed timer and re-reads its headers to
//! decide keep-alive; this one parses the head once (httparse), frames the
//! body by RFC 9112 §6.3, and passes body bytes on without copying them.
//! What it accepts is what Pingora's client accepts: a response head of at
//! most [`MAX_HEAD`] bytes, lengths that agree (`Content-Length: 5, 5` is
//! 5; `5, 6` is an error), `Transfer-Encoding` over `Content-Length` (the
//! latter removed), no answer but an error to an unasked `101`.

use super::spare;
use bytes::{Buf, Bytes, BytesMut};
use http::header;
use http::Version;
use pingora::http::{IntoCaseHeaderName, RequestHeader, ResponseHeader};
use pingora::protocols::http::v1::client::http_req_header_to_wire;
use pingora::protocols::Stream;
use pingora::{Error, ErrorType, Result, RetryType};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The largest response head read (Pingora's client allows the same).
pub const MAX_HEAD: usize = 1024 * 1024 - 1;
/// The most header fields in a response head.
const MAX_HEADERS: usize = 256;
/// Bytes asked of the socket per read: a 64 KiB body and its head fit in
/// one read.
const READ_SIZE: usize = 72 * 1024;
/// The longest chunk-size line, and the most trailer bytes.
const MAX_CHUNK_LINE: usize = 4096;
const MAX_TRAILERS: usize = 64 * 1024;

/// How the rest of the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// This many bytes still to come.
    Length(u64),
    /// Chunked: the next chunk-size line.
    ChunkSize,
    /// Chunked: this many bytes of the current chunk, then its CRLF.
    ChunkData(u64),
    /// Chunked: the CRLF after a chunk's data.
    ChunkEnd,
    /// Chunked: the trailer section after the last chunk (discarded).
    Trailers(usize),
    /// Until the server closes the connection.
    Close,
    /// Complete.
    Done,
}

/// One request/response exchange on a server connection.
pub struct Client {
    stream: Stream,
    /// Read and not yet used.
    buf: BytesMut,
    body: Body,
    /// The server lets the connection be reused after this response.
    keepalive: bool,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl Client {
    /// An exchange on `stream`, each read waiting at most `read_timeout`
    /// and each write `write_timeout` (`timeout_server`).
    pub fn new(
        stream: Stream,
        read_timeout: Option<Duration>,
        write_timeout: Option<Duration>,
    ) -> Self {
        Client {
            stream,
            buf: BytesMut::new(),
            body: Body::Done,
            keepalive: false,
            read_timeout,
            write_timeout,
        }
    }

    /// Sends the request head (the request has no body).
    pub async fn send(&mut self, req: &RequestHeader) -> Result<()> {
        let wire = http_req_header_to_wire(req)
            .ok_or_else(|| Error::explain(ErrorType::InvalidHTTPHeader, "request head"))?;
        let write = async {
            self.stream.write_all(&wire).await?;
            self.stream.flush().await
        };
        let written = match self.write_timeout {
            Some(t) => tokio::time::timeout(t, write)
                .await
                .map_err(|_| Error::explain(ErrorType::WriteTimedout, "writing request head"))?,
            None => write.await,
        };
        written.map_err(|e| {
            let mut err = Error::because(ErrorType::WriteError, "writing request head", e);
            // A pooled connection the server closed: safe to resend.
            err.retry = RetryType::ReusedOnly;
            err
        })
    }

    /// Reads the response head (informational answers skipped) and sets up
    /// its body's framing; `head` says whether the request was HEAD.
    pub async fn response(&mut self, head: bool) -> Result<Box<ResponseHeader>> {
        loop {
            if let Some((resp, len)) = parse_head(&self.buf)? {
                self.buf.advance(len);
                let status = resp.status.as_u16();
                if status == 101 {
                    // RFC 9110 §15.2.2: only an answer to an upgrade request.
                    return Err(Error::explain(
                        ErrorType::InvalidHTTPHeader,
                        "101 to a request that did not ask to upgrade",
                    ));
                }
                if (100..200).contains(&status) {
                    // Not relayed: the request has no body to continue.
                    continue;
                }
                let mut resp = resp;
                self.frame(&mut resp, head)?;
                return Ok(resp);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(Error::explain(
                    ErrorType::InvalidHTTPHeader,
                    "response head too large",
                ));
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

    /// The body's framing (RFC 9112 §6.3) and whether the connection can
    /// be reused, from the response head.
    fn frame(&mut self, resp: &mut ResponseHeader, head: bool) -> Result<()> {
        let v11 = resp.version == Version::HTTP_11;
        let (close, keep_alive) = connection_tokens(&resp.headers);
        self.keepalive = if v11 { !close } else { keep_alive && !close };
        let status = resp.status.as_u16();
        if head || status == 204 || status == 304 {
            self.body = Body::Done;
            return Ok(());
        }
        if let Some(chunked) = transfer_coding(resp) {
            resp.remove_header(&header::CONTENT_LENGTH);
            if !v11 {
                // RFC 9112 §6.1: close after a 1.0 message with Transfer-Encoding.
                self.keepalive = false;
            }
            self.body = if chunked {
                Body::ChunkSize
            } else {
                self.keepalive = false;
                Body::Close
            };
            return Ok(());
        }
        self.body = match content_length(resp)? {
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
        self.body == Body::Done
    }

    /// The next piece of the body; `None` at its end.
    pub async fn body(&mut self) -> Result<Option<Bytes>> {
        loop {
            match self.body {
                Body::Done => return Ok(None),
                Body::Length(left) => return self.counted(left, Body::Done, Body::Length).await,
                Body::ChunkData(left) => {
                    return self.counted(left, Body::ChunkEnd, Body::ChunkData).await
                }
                Body::Close => {
                    if self.buf.is_empty() && self.fill().await? == 0 {
                        self.body = Body::Done;
                        return Ok(None);
                    }
                    return Ok(Some(self.buf.split().freeze()));
                }
                Body::ChunkSize | Body::ChunkEnd | Body::Trailers(_) => {
                    if !self.chunk_step()? && self.fill().await? == 0 {
                        return Err(cut("inside the chunked framing"));
                    }
                }
            }
        }
    }

    /// Up to `left` more bytes of a body part whose length is known (the
    /// whole body, or one chunk); then the framing goes on to `after`,
    /// else to `more(bytes still left)`.
    async fn counted(
        &mut self,
        left: u64,
        after: Body,
        more: fn(u64) -> Body,
    ) -> Result<Option<Bytes>> {
        if self.buf.is_empty() && self.fill().await? == 0 {
            return Err(cut("before the end of the body"));
        }
        let n = (self.buf.len() as u64).min(left);
        self.body = if n == left { after } else { more(left - n) };
        Ok(Some(self.buf.split_to(n as usize).freeze()))
    }

    /// Parses what the buffer holds of a chunk-size line, a chunk's CRLF or
    /// the trailers; `false` when more bytes are needed.
    fn chunk_step(&mut self) -> Result<bool> {
        match self.body {
            Body::ChunkEnd => {
                if self.buf.len() < 2 {
                    return Ok(false);
                }
                if &self.buf[..2] != b"\r\n" {
                    return Err(bad_chunk("no CRLF after chunk data"));
                }
                self.buf.advance(2);
                self.body = Body::ChunkSize;
                Ok(true)
            }
            Body::ChunkSize => {
                let Some(end) = find_crlf(&self.buf) else {
                    if self.buf.len() > MAX_CHUNK_LINE {
                        return Err(bad_chunk("chunk-size line too long"));
                    }
                    return Ok(false);
                };
                let size = chunk_size(&self.buf[..end])?;
                self.buf.advance(end + 2);
                self.body = if size == 0 {
                    Body::Trailers(0)
                } else {
                    Body::ChunkData(size)
                };
                Ok(true)
            }
            Body::Trailers(seen) => {
                let Some(end) = find_crlf(&self.buf) else {
                    if seen + self.buf.len() > MAX_TRAILERS {
                        return Err(bad_chunk("trailers too large"));
                    }
                    return Ok(false);
                };
                self.buf.advance(end + 2);
                // An empty line ends the trailer section (and the body).
                self.body = if end == 0 {
                    Body::Done
                } else {
                    Body::Trailers(seen + end + 2)
                };
                Ok(true)
            }
            _ => Ok(true),
        }
    }

    /// The connection, when it may carry another request: the response
    /// allowed it, its body was read to the end and nothing more came.
    pub fn into_reusable(mut self) -> Option<Stream> {
        let reusable = self.keepalive && self.body == Body::Done && self.buf.is_empty();
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

fn bad_chunk(why: &'static str) -> Box<Error> {
    Error::explain(ErrorType::InvalidHTTPHeader, why)
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// A chunk-size line: 1 to 16 hex digits, then optional whitespace and
/// `;extensions` (ignored, RFC 9112 §7.1.1).
fn chunk_size(line: &[u8]) -> Result<u64> {
    let digits = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let rest = &line[digits..];
    let rest = &rest[rest
        .iter()
        .take_while(|b| **b == b' ' || **b == b'\t')
        .count()..];
    if digits == 0 || digits > 16 || !(rest.is_empty() || rest[0] == b';') {
        return Err(bad_chunk("invalid chunk size"));
    }
    Ok(line[..digits].iter().fold(0u64, |n, d| {
        // At most 16 hex digits: no overflow.
        (n << 4) | u64::from((*d as char).to_digit(16).unwrap_or(0))
    }))
}

/// Parses a complete response head at the start of `buf`: the head and
/// its length, `None` while incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<(Box<ResponseHeader>, usize)>> {
    if buf.is_empty() {
        return Ok(None);
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    // As lenient as Pingora's client, so both paths answer alike: spaces
    // before a colon, and obs-fold (unfolded below, RFC 9112 §5.2).
    let mut config = httparse::ParserConfig::default();
    config.allow_spaces_after_header_name_in_responses(true);
    config.allow_obsolete_multiline_headers_in_responses(true);
    let len = match config.parse_response(&mut parsed, buf) {
        Ok(httparse::Status::Complete(len)) => len,
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
    let mut resp = Box::new(ResponseHeader::build(code, Some(parsed.headers.len()))?);
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
            // obs-fold: each line break becomes a space.
            let unfolded: Vec<u8> = raw
                .iter()
                .map(|b| if *b == b'\r' || *b == b'\n' { b' ' } else { *b })
                .collect();
            http::HeaderValue::from_bytes(&unfolded)
        } else {
            http::HeaderValue::from_maybe_shared(raw)
        }
        .map_err(|e| Error::because(ErrorType::InvalidHTTPHeader, "header value", e))?;
        resp.append_header(name.into_case_header_name(), value)?;
    }
    Ok(Some((resp, len)))
}

/// `close` and `keep-alive` among the `Connection` tokens.
pub(super) fn connection_tokens(headers: &http::HeaderMap) -> (bool, bool) {
    let (mut close, mut keep_alive) = (false, false);
    for v in headers.get_all(header::CONNECTION) {
        for token in v.as_bytes().split(|b| *b == b',') {
            let t = token.trim_ascii();
            close |= t.eq_ignore_ascii_case(b"close");
            keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
        }
    }
    (close, keep_alive)
}

/// With `Transfer-Encoding`: whether `chunked` is its final coding.
pub(super) fn transfer_coding(resp: &ResponseHeader) -> Option<bool> {
    let mut last = None;
    for v in resp.headers.get_all(header::TRANSFER_ENCODING) {
        for token in v.as_bytes().split(|b| *b == b',') {
            let t = token.trim_ascii();
            if !t.is_empty() {
                last = Some(t.eq_ignore_ascii_case(b"chunked"));
            }
        }
    }
    // A field present but empty still means "not chunked".
    last.or_else(|| {
        resp.headers
            .contains_key(header::TRANSFER_ENCODING)
            .then_some(false)
    })
}

/// The `Content-Length` (RFC 9110 §8.6): every value, comma-separated or in
/// several fields, the same number; anything else is an error.
pub(super) fn content_length(resp: &ResponseHeader) -> Result<Option<u64>> {
    let mut length = None;
    for v in resp.headers.get_all(header::CONTENT_LENGTH) {
        for token in v.as_bytes().split(|b| *b == b',') {
            let t = token.trim_ascii();
            let n = (!t.is_empty() && t.len() <= 19 && t.iter().all(u8::is_ascii_digit))
                .then(|| t.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
                .ok_or_else(|| {
                    Error::explain(ErrorType::InvalidHTTPHeader, "invalid Content-Length")
                })?;
            if length.is_some_and(|l| l != n) {
                return Err(Error::explain(
                    ErrorType::InvalidHTTPHeader,
                    "conflicting Content-Length values",
                ));
            }
            length = Some(n);
        }
    }
    Ok(length)
}

#[cfg(test)]
mod tests;
