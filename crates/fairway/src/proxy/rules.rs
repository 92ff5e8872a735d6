//! The `http_request` rules' actions: answer (`deny`, `return`,
//! `redirect`) or change the request (`set-header`, `add-header`,
//! `del-header`, `set-path`), in order, until one answers.

use super::request::RequestView;
use super::{respond, set_path, Ctx, Proxy, Verdict};
use crate::runtime::Decision;
use bytes::Bytes;
use fairway_acl::HttpAction;
use pingora::prelude::*;
use pingora_proxy::Session;
use std::sync::Arc;

impl Proxy {
    /// Runs the `http_request` rules and `use_backend` lines through
    /// [`Frontend::decide`](crate::Frontend::decide), applying each edit;
    /// `Answered` when a rule wrote the response.
    pub(super) async fn run_rules(&self, session: &mut Session, ctx: &mut Ctx) -> Result<Verdict> {
        let rt = Arc::clone(&ctx.rt);
        let fe = &rt.frontends()[self.frontend];
        let mut from = 0;
        loop {
            let view = RequestView {
                header: session.req_header(),
                src: ctx.src,
                rates: &fe.rates,
            };
            let (index, action) = match fe.decide(from, &view) {
                Decision::Route(backend) => return Ok(Verdict::Route(backend)),
                Decision::Edit { index, action } => (index, action),
                Decision::Answer { action, .. } => {
                    ctx.answered = true;
                    answer(session, ctx, action).await?;
                    return Ok(Verdict::Answered);
                }
            };
            from = index + 1;
            match action {
                HttpAction::SetHeader { name, value } => {
                    session
                        .req_header_mut()
                        .insert_header(name.clone(), value.as_str())?;
                }
                HttpAction::AddHeader { name, value } => {
                    session
                        .req_header_mut()
                        .append_header(name.clone(), value.as_str())?;
                }
                HttpAction::DelHeader { name } => {
                    session.req_header_mut().remove_header(name.as_str());
                }
                HttpAction::SetPath { path } => {
                    set_path(session.req_header_mut(), path)?;
                }
                HttpAction::SetSrc { header } => {
                    if let Some(ip) = last_address(session.req_header(), header) {
                        ctx.src = Some(ip);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Writes the response of an answering rule (`deny`, `return`, `redirect`).
async fn answer(session: &mut Session, ctx: &mut Ctx, action: &HttpAction) -> Result<()> {
    match action {
        HttpAction::Deny { status } => {
            ctx.status = *status;
            ctx.denied = true;
            respond::error(session, *status).await
        }
        HttpAction::Return {
            status,
            content_type,
            body,
        } => {
            ctx.status = *status;
            let body = body
                .as_ref()
                .map_or_else(Bytes::new, |b| Bytes::from(b.clone()));
            let ct = content_type.as_deref().unwrap_or("text/plain");
            respond::send(session, *status, ct, &[], body).await
        }
        HttpAction::RedirectLocation { location, code } => {
            ctx.status = *code;
            let headers = [("location", location.as_str())];
            respond::send(session, *code, "text/plain", &headers, Bytes::new()).await
        }
        HttpAction::RedirectScheme { scheme, code } => {
            let view = RequestView {
                header: session.req_header(),
                src: None,
                rates: &[],
            };
            let location = fairway_acl::Request::host(&view)
                .map(|host| format!("{scheme}://{host}{}", fairway_acl::Request::url(&view)));
            let Some(location) = location else {
                ctx.status = 400;
                return respond::error(session, 400).await;
            };
            ctx.status = *code;
            let headers = [("location", location.as_str())];
            respond::send(session, *code, "text/plain", &headers, Bytes::new()).await
        }
        // An answering action this function does not know yet: fail closed.
        _ => {
            ctx.status = 500;
            respond::error(session, 500).await
        }
    }
}

/// The last address in header `name`, its values split at commas as
/// HAProxy's `hdr()` does (`X-Forwarded-For: client, proxy1` gives
/// `proxy1`, the address the nearest forwarder saw).
fn last_address(req: &pingora::http::RequestHeader, name: &str) -> Option<std::net::IpAddr> {
    let value = req.headers.get_all(name).into_iter().next_back()?;
    let last = value.as_bytes().rsplit(|&b| b == b',').next()?;
    std::str::from_utf8(last).ok()?.trim().parse().ok()
}
