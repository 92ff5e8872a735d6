//! Responses fairway writes itself: deny, return, redirect and errors.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora_proxy::Session;

/// HAProxy-like HTML body for a status fairway generates.
pub(crate) fn error_body(status: u16) -> Bytes {
    let (title, text) = match status {
        400 => ("400 Bad request", "Your browser sent an invalid request."),
        401 => ("401 Unauthorized", "You need a valid user and password to access this content."),
        403 => ("403 Forbidden", "Request forbidden by administrative rules."),
        404 => ("404 Not Found", "The resource could not be found."),
        405 => ("405 Method Not Allowed", "A request was made of a resource using a request method not supported by that resource."),
        408 => ("408 Request Time-out", "Your browser didn't send a complete request in time."),
        410 => ("410 Gone", "The resource is no longer available and will not be available again."),
        413 => ("413 Payload Too Large", "The request entity exceeds the maximum allowed."),
        414 => ("414 URI Too Long", "The request URL is too long."),
        425 => ("425 Too Early", "Your browser sent early data."),
        429 => ("429 Too Many Requests", "You have sent too many requests in a given amount of time."),
        500 => ("500 Internal Server Error", "An internal server error occurred."),
        501 => ("501 Not Implemented", ".The server does not support the functionality required to fulfill the request."),
        502 => ("502 Bad Gateway", "The server returned an invalid or incomplete response."),
        503 => ("503 Service Unavailable", "No server is available to handle this request."),
        504 => ("504 Gateway Time-out", "The server didn't respond in time."),
        _ => {
            let reason = http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Error");
            return Bytes::from(format!("<html><body><h1>{status} {reason}</h1>\n</body></html>\n"));
        }
    };
    Bytes::from(format!(
        "<html><body><h1>{title}</h1>\n{text}\n</body></html>\n"
    ))
}

/// Writes a complete response (headers and body) and keeps the client
/// connection alive when the protocol allows.
pub(crate) async fn send(
    session: &mut Session,
    status: u16,
    content_type: &str,
    extra: &[(&str, &str)],
    body: Bytes,
) -> Result<()> {
    let mut resp = ResponseHeader::build(status, Some(4 + extra.len()))?;
    resp.insert_header(http::header::CONTENT_TYPE, content_type)?;
    resp.insert_header(http::header::CONTENT_LENGTH, body.len())?;
    resp.insert_header(http::header::CACHE_CONTROL, "no-cache")?;
    for (name, value) in extra {
        resp.insert_header(name.to_string(), *value)?;
    }
    let head_only = session.req_header().method == http::Method::HEAD;
    session
        .write_response_header(Box::new(resp), head_only)
        .await?;
    if !head_only {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}

/// Sends fairway's own error page for `status`.
pub(crate) async fn error(session: &mut Session, status: u16) -> Result<()> {
    send(session, status, "text/html", &[], error_body(status)).await
}

/// Sends fairway's own error page for `status` with `extra` headers.
pub(crate) async fn error_with(
    session: &mut Session,
    status: u16,
    extra: &[(&str, &str)],
) -> Result<()> {
    send(session, status, "text/html", extra, error_body(status)).await
}

/// Sends a hook's answer: its headers (`content-type` defaulting to
/// `text/plain`, or `text/html` for fairway's error page) and body, with
/// the `extra` headers the answer does not set itself (the unique ID).
pub(crate) async fn answer(
    session: &mut Session,
    answer: &crate::hook::Answer,
    extra: &[(&str, &str)],
) -> Result<()> {
    let status = answer.status();
    let (body, default_type) = match answer.body_bytes() {
        Some(b) => (b.clone(), "text/plain"),
        None => (error_body(status), "text/html"),
    };
    let headers = answer.headers();
    let sets = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut resp = ResponseHeader::build(status, Some(3 + headers.len() + extra.len()))?;
    if !sets("content-type") {
        resp.insert_header(http::header::CONTENT_TYPE, default_type)?;
    }
    resp.insert_header(http::header::CONTENT_LENGTH, body.len())?;
    resp.insert_header(http::header::CACHE_CONTROL, "no-cache")?;
    for (name, value) in extra {
        if !sets(name) {
            resp.insert_header(name.to_string(), *value)?;
        }
    }
    for (name, value) in headers {
        resp.append_header(name.clone(), value.as_str())?;
    }
    let head_only = session.req_header().method == http::Method::HEAD;
    session
        .write_response_header(Box::new(resp), head_only)
        .await?;
    if !head_only {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}
