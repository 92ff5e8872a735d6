//! Responses of the admin listener and the request body reader.

use pingora::protocols::http::ServerSession;
use serde::Serialize;
use std::time::Duration;

/// The largest request body the admin listener reads (larger: 413).
pub const MAX_BODY: usize = 64 * 1024;

/// How long a client may take to send its request body (longer: 408).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// An admin response before it becomes an `http::Response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// `content-type`.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A reply with `body` of `content_type`.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// `value` as JSON.
    pub fn json(status: u16, value: &impl Serialize) -> Reply {
        match serde_json::to_vec_pretty(value) {
            Ok(mut body) => {
                body.push(b'\n');
                Reply::new(status, "application/json", body)
            }
            Err(e) => Reply::error(500, &format!("cannot encode JSON: {e}")),
        }
    }

    /// `{"error": message}`.
    pub fn error(status: u16, message: &str) -> Reply {
        let body = serde_json::json!({ "error": message });
        let mut body = body.to_string().into_bytes();
        body.push(b'\n');
        Reply::new(status, "application/json", body)
    }

    /// Plain text.
    pub fn text(status: u16, body: impl Into<String>) -> Reply {
        Reply::new(status, "text/plain; charset=utf-8", body.into())
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    /// The `http::Response`; `head`: a HEAD request (headers only).
    pub fn into_response(self, head: bool) -> http::Response<Vec<u8>> {
        let mut builder = http::Response::builder()
            .status(self.status)
            .header("content-type", self.content_type)
            .header("content-length", self.body.len())
            .header("cache-control", "no-store");
        for (name, value) in &self.headers {
            builder = builder.header(*name, value.as_str());
        }
        let body = if head { Vec::new() } else { self.body };
        builder.body(body).unwrap_or_else(|_| {
            let mut r = http::Response::new(Vec::new());
            *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
    }
}

/// Why a request body could not be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than [`MAX_BODY`].
    TooLarge,
    /// Not complete within [`BODY_TIMEOUT`].
    Timeout,
    /// The connection failed or the framing was invalid.
    Broken,
}

impl BodyError {
    /// The reply for this error.
    pub fn reply(self) -> Reply {
        match self {
            BodyError::TooLarge => Reply::error(
                413,
                &format!("request body larger than {} KiB", MAX_BODY / 1024),
            ),
            BodyError::Timeout => Reply::error(408, "request body not received in time"),
            BodyError::Broken => Reply::error(400, "request body could not be read"),
        }
    }
}

/// Reads the whole request body, at most [`MAX_BODY`] bytes, within
/// [`BODY_TIMEOUT`]. A declared `content-length` above the cap is refused
/// before anything is read.
pub async fn read_body(session: &mut ServerSession) -> Result<Vec<u8>, BodyError> {
    let declared = session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(BodyError::TooLarge);
    }
    let read = async {
        let mut body = Vec::new();
        loop {
            match session.read_request_body().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BODY {
                        return Err(BodyError::TooLarge);
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(body),
                Err(_) => return Err(BodyError::Broken),
            }
        }
    };
    tokio::time::timeout(BODY_TIMEOUT, read)
        .await
        .unwrap_or(Err(BodyError::Timeout))
}
