//! The `http_request` rules' actions: answer (`deny`, `return`,
//! `redirect`) or change the request (`set-header`, `add-header`,
//! `del-header`, `set-path`), in order, until one answers.

use super::request::View;
use super::{respond, set_path, Ctx, Proxy, Verdict};
use bytes::Bytes;
use fairway_acl::HttpAction;
use pingora::prelude::*;
use pingora_proxy::Session;
use std::sync::Arc;

impl Proxy {
    /// Runs the `http_request` rules; `Answered` when a rule wrote the response.
    pub(super) async fn run_rules(&self, session: &mut Session, ctx: &mut Ctx) -> Result<Verdict> {
        let rt = Arc::clone(&ctx.rt);
        let fe = &rt.frontends()[self.frontend];
        for rule in &fe.http_request {
            let applies = rule.applies(&View {
                header: session.req_header(),
                src: ctx.src,
                rates: &fe.rates,
            });
            if !applies {
                continue;
            }
            match &rule.action {
                HttpAction::Deny { status } => {
                    ctx.status = *status;
                    ctx.denied = true;
                    ctx.answered = true;
                    respond::error(session, *status).await?;
                    return Ok(Verdict::Answered);
                }
                HttpAction::Allow => break,
                HttpAction::Return {
                    status,
                    content_type,
                    body,
                } => {
                    ctx.status = *status;
                    ctx.answered = true;
                    let body = body
                        .as_ref()
                        .map_or_else(Bytes::new, |b| Bytes::from(b.clone()));
                    let ct = content_type.as_deref().unwrap_or("text/plain");
                    respond::send(session, *status, ct, &[], body).await?;
                    return Ok(Verdict::Answered);
                }
                HttpAction::RedirectLocation { location, code } => {
                    ctx.status = *code;
                    ctx.answered = true;
                    respond::send(
                        session,
                        *code,
                        "text/plain",
                        &[("location", location)],
                        Bytes::new(),
                    )
                    .await?;
                    return Ok(Verdict::Answered);
                }
                HttpAction::RedirectScheme { scheme, code } => {
                    ctx.answered = true;
                    let view = View {
                        header: session.req_header(),
                        src: None,
                        rates: &[],
                    };
                    let location = fairway_acl::Request::host(&view).map(|host| {
                        format!("{scheme}://{host}{}", fairway_acl::Request::url(&view))
                    });
                    let Some(location) = location else {
                        ctx.status = 400;
                        respond::error(session, 400).await?;
                        return Ok(Verdict::Answered);
                    };
                    ctx.status = *code;
                    respond::send(
                        session,
                        *code,
                        "text/plain",
                        &[("location", &location)],
                        Bytes::new(),
                    )
                    .await?;
                    return Ok(Verdict::Answered);
                }
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
        Ok(Verdict::Continue)
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
