//! An HTTP/1 client's request to an HTTP/2 server (`proto: h2|h2c`), in
//! the same driver: Pingora's HTTP/2 client session (its connector keeps
//! the multiplexed connections) carries the head, the body and the
//! trailers both ways.

use super::driver::Home;
use crate::proxy::Proxy;
use http::header;
use pingora::protocols::http::v2::client::Http2Session;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, Result};
use pingora_proxy::{ProxyHttp, Session};

/// Fields HTTP/2 does not carry (RFC 9113 §8.2.2).
const HOP_BY_HOP: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// One attempt on the HTTP/2 stream `h2`; whether the server connection
/// may serve more streams.
pub(super) async fn exchange(
    proxy: &Proxy,
    session: &mut Session,
    ctx: &mut <Proxy as ProxyHttp>::CTX,
    peer: &HttpPeer,
    h2: &mut Http2Session,
    home: &Home,
) -> Result<bool> {
    let mut req = session.req_header().clone();
    crate::proxy::framing::strip_hop_by_hop(&mut req, false)?;
    for name in HOP_BY_HOP {
        req.remove_header(name);
    }
    // `TE` may only say `trailers` (RFC 9113 §8.2.2).
    if req
        .headers
        .get(header::TE)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"trailers"))
    {
        req.remove_header(&header::TE);
    }
    req.set_version(http::Version::HTTP_2);
    proxy
        .upstream_request_filter(session, &mut req, ctx)
        .await?;
    h2.read_timeout = peer.options.read_timeout;
    h2.write_timeout = peer.options.write_timeout;
    let empty = session.downstream_session.is_body_empty();
    h2.write_request_header(Box::new(req), empty)?;
    if !empty {
        if let Some(kept) = session.downstream_session.get_retry_buffer() {
            // A retry: what the first attempt read goes again.
            let end = session.downstream_session.is_body_done();
            h2.write_request_body(kept, end).await?;
        }
        while !session.downstream_session.is_body_done() {
            let mut piece = session.downstream_session.read_request_body().await?;
            let end = piece.is_none() || session.downstream_session.is_body_done();
            proxy
                .request_body_filter(session, &mut piece, end, ctx)
                .await?;
            h2.write_request_body(piece.unwrap_or_default(), end)
                .await?;
        }
        match super::driver::request_trailers(session, home) {
            Some(fields) => {
                let mut writer = h2.take_request_body_writer().ok_or_else(|| {
                    Error::explain(pingora::ErrorType::H2Error, "request stream ended")
                })?;
                writer.send_trailers(fields).map_err(|e| {
                    Error::because(pingora::ErrorType::WriteError, "sending trailers", e)
                })?;
            }
            None => h2.finish_request_body()?,
        }
    }
    h2.read_response_header().await?;
    let mut resp = Box::new(
        h2.response_header()
            .ok_or_else(|| Error::explain(pingora::ErrorType::H2Error, "no response head"))?
            .clone(),
    );
    resp.set_version(http::Version::HTTP_11);
    proxy
        .upstream_response_filter(session, &mut resp, ctx)
        .await?;
    let mut done = h2.response_finished();
    if !done && !resp.headers.contains_key(header::CONTENT_LENGTH) {
        resp.insert_header(header::TRANSFER_ENCODING, "chunked")?;
    }
    proxy.response_filter(session, &mut resp, ctx).await?;
    session
        .write_response_header(resp, done)
        .await
        .map_err(Error::into_down)?;
    while !done {
        let mut body = h2.read_response_body().await?;
        done = body.is_none() || h2.response_finished();
        let trailers = if done {
            h2.read_trailers().await?
        } else {
            None
        };
        proxy.response_body_filter(session, &mut body, done, ctx)?;
        session
            .write_response_body(body, done && trailers.is_none())
            .await
            .map_err(Error::into_down)?;
        if let Some(fields) = trailers {
            super::driver::relay_trailers(proxy, session, ctx, fields).await?;
        }
    }
    Ok(true)
}
