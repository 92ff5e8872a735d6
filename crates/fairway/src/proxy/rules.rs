//! The `http_request` rules' actions: answer (`deny`, `return`,
//! `redirect`) or change the request (`set-header`, `add-header`,
//! `del-header`, `set-path`), in order, until one answers.

use super::request::{RequestView, ResponseView};
use super::{respond, status_error, Ctx, Proxy, Verdict};
use crate::runtime::Decision;
use crate::runtime::{Frontend, Runtime};
use bytes::Bytes;
use fairway_acl::HttpAction;
use fairway_acl::Rewrite;
use pingora::http::ResponseHeader;
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
                    ctx.answered = Some(who(action));
                    answer(session, ctx, fe, action).await?;
                    return Ok(Verdict::Answered);
                }
            };
            from = index + 1;
            let uid = ctx.unique_id.as_deref().unwrap_or("");
            match action {
                HttpAction::SetHeader { name, value } => {
                    let value = value.render(&view, uid);
                    let req = session.req_header_mut();
                    req.insert_header(name.clone(), &*value)?;
                }
                HttpAction::AddHeader { name, value } => {
                    let value = value.render(&view, uid);
                    let req = session.req_header_mut();
                    req.append_header(name.clone(), &*value)?;
                }
                HttpAction::DelHeader { name } => {
                    session.req_header_mut().remove_header(name.as_str());
                }
                HttpAction::ReplaceHeader { name, rewrite } => {
                    let req = session.req_header_mut();
                    if let Some(values) = rewritten(&req.headers, name, rewrite) {
                        req.remove_header(name.as_str());
                        for v in values {
                            req.append_header(name.clone(), v)?;
                        }
                    }
                }
                HttpAction::SetPath { path } => {
                    set_path(session.req_header_mut(), path)?;
                }
                HttpAction::ReplacePath(rewrite) => {
                    if let Some(path) = rewrite.apply(session.req_header().uri.path()) {
                        set_path(session.req_header_mut(), &path)?;
                    }
                }
                HttpAction::ReplaceUri(rewrite) => {
                    if let Some(target) = rewrite.apply(fairway_acl::Request::url(&view)) {
                        session.req_header_mut().set_raw_path(target.as_bytes())?;
                    }
                }
                HttpAction::SetSrc { header } => {
                    if let Some(ip) = fairway_acl::last_address(&view, header) {
                        ctx.src = Some(ip);
                    }
                }
                _ => {}
            }
        }
    }

    /// Runs the backend's `http_response` rules, then the frontend's, on
    /// the server's response head. A `deny` or `return` ends with an error
    /// whose status [`Proxy::fail_to_proxy`](pingora_proxy::ProxyHttp)
    /// answers (with `ctx.replacement` for `return`): the server's response
    /// never reaches the client.
    pub(super) fn run_response_rules(
        &self,
        session: &Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // An interim response (100, 103) is not the answer: HAProxy runs
        // no rule on it either.
        if interim(resp) {
            return Ok(());
        }
        // Most configurations have none: no reference count touched then.
        let backend_rules = |rt: &Runtime| {
            ctx.backend
                .and_then(|b| rt.backends().get(b))
                .is_some_and(|b| !b.spec().http_response.is_empty())
        };
        if ctx.rt.frontends()[self.frontend].http_response.is_empty() && !backend_rules(&ctx.rt) {
            return Ok(());
        }
        let rt = Arc::clone(&ctx.rt);
        let fe = &rt.frontends()[self.frontend];
        let backend = ctx.backend.and_then(|b| rt.backends().get(b));
        let sets = [
            backend.map_or(&[][..], |b| &b.spec().http_response[..]),
            &fe.http_response[..],
        ];
        let uid = ctx.unique_id.as_deref().unwrap_or("");
        for rules in sets {
            for rule in rules {
                let view = ResponseView {
                    request: RequestView {
                        header: session.req_header(),
                        src: ctx.src,
                        rates: &fe.rates,
                    },
                    response: resp,
                };
                // As the `http_request` rules: paths without `;parameters`
                // under `path_params: match`.
                let matched = fairway_acl::Matched::new(&view, fe.path_params);
                let matching: &dyn fairway_acl::Request = match &matched {
                    Some(m) => m,
                    None => &view,
                };
                if !rule.applies(matching) {
                    continue;
                }
                match &rule.action {
                    HttpAction::Allow => break,
                    HttpAction::Deny { status } => {
                        ctx.denied = true;
                        ctx.answered = Some('P');
                        return Err(status_error(*status, "denied by an http_response rule"));
                    }
                    HttpAction::Return {
                        status,
                        content_type,
                        body,
                    } => {
                        let body = body.as_ref().map(|b| b.render(&view, uid).into_owned());
                        ctx.replacement = Some(Replacement {
                            content_type: content_type.clone(),
                            body: body.map(Bytes::from).unwrap_or_default(),
                        });
                        ctx.answered = Some('L');
                        return Err(status_error(*status, "answered by an http_response rule"));
                    }
                    HttpAction::SetHeader { name, value } => {
                        let value = value.render(&view, uid).into_owned();
                        resp.insert_header(name.clone(), value)?;
                    }
                    HttpAction::AddHeader { name, value } => {
                        let value = value.render(&view, uid).into_owned();
                        resp.append_header(name.clone(), value)?;
                    }
                    HttpAction::DelHeader { name } => {
                        resp.remove_header(name.as_str());
                    }
                    HttpAction::ReplaceHeader { name, rewrite } => {
                        if let Some(values) = rewritten(&resp.headers, name, rewrite) {
                            resp.remove_header(name.as_str());
                            for v in values {
                                resp.append_header(name.clone(), v)?;
                            }
                        }
                    }
                    HttpAction::SetStatus { status, reason } => {
                        resp.set_status(*status)?;
                        if let Some(reason) = reason {
                            resp.set_reason_phrase(Some(reason))?;
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// The response an `http_response` `return` rule gives instead of the
/// server's (its status travels in the error that ends the exchange).
#[derive(Debug)]
pub(crate) struct Replacement {
    content_type: Option<String>,
    body: Bytes,
}

/// Writes the response of an `http_response` `return`.
pub(super) async fn send_replacement(
    session: &mut Session,
    status: u16,
    replacement: Replacement,
    extra: &[(&str, &str)],
) -> Result<()> {
    let ct = replacement.content_type.as_deref().unwrap_or("text/plain");
    respond::send(session, status, ct, extra, replacement.body).await
}

/// The values of header `name` after `rewrite` (each value it matches
/// replaced, the others kept byte for byte), or `None` when there is no
/// such header. The caller writes them back through Pingora's header API,
/// which keeps the head's case-preserving name map in step.
fn rewritten(
    headers: &http::HeaderMap,
    name: &str,
    rewrite: &Rewrite,
) -> Option<Vec<http::HeaderValue>> {
    let values: Vec<http::HeaderValue> = headers
        .get_all(name)
        .iter()
        .map(|value| {
            let new = value.to_str().ok().and_then(|v| rewrite.apply(v));
            // The replacement comes from a checked config value and regex
            // groups of a valid value: always a valid value itself.
            new.and_then(|v| http::HeaderValue::from_str(&v).ok())
                .unwrap_or_else(|| value.clone())
        })
        .collect();
    (!values.is_empty()).then_some(values)
}

/// Who answered, as the access log's first letter (HAProxy's): `P` the
/// proxy refused the request (`deny`), `L` it answered locally (`return`,
/// `redirect`).
fn who(action: &HttpAction) -> char {
    match action {
        HttpAction::Deny { .. } => 'P',
        _ => 'L',
    }
}

/// Writes the response of an answering rule (`deny`, `return`, `redirect`),
/// with the request's unique ID when `unique_id_header` is set.
async fn answer(
    session: &mut Session,
    ctx: &mut Ctx,
    fe: &Frontend,
    action: &HttpAction,
) -> Result<()> {
    let uid = ctx.unique_id.as_deref().unwrap_or("");
    let view = RequestView {
        header: session.req_header(),
        src: ctx.src,
        rates: &fe.rates,
    };
    let (status, content_type, body, location) = match action {
        HttpAction::Deny { status } => {
            ctx.denied = true;
            (*status, "text/html", respond::error_body(*status), None)
        }
        HttpAction::Return {
            status,
            content_type,
            body,
        } => {
            let body = body.as_ref().map_or_else(Bytes::new, |b| {
                Bytes::from(b.render(&view, uid).into_owned())
            });
            let ct = content_type.as_deref().unwrap_or("text/plain");
            (*status, ct, body, None)
        }
        HttpAction::RedirectLocation { location, code } => {
            let location = location.render(&view, uid).into_owned();
            (*code, "text/plain", Bytes::new(), Some(location))
        }
        HttpAction::RedirectScheme { scheme, code } => {
            let location = fairway_acl::Request::host(&view)
                .map(|host| format!("{scheme}://{host}{}", fairway_acl::Request::url(&view)));
            match location {
                Some(location) => (*code, "text/plain", Bytes::new(), Some(location)),
                None => (400, "text/html", respond::error_body(400), None),
            }
        }
        // An answering action this function does not know yet: fail closed.
        _ => (500, "text/html", respond::error_body(500), None),
    };
    ctx.status = status;
    let location = location.as_deref().map(|l| ("location", l));
    let extra: Vec<(&str, &str)> = location.into_iter().chain(ctx.id_field(fe)).collect();
    respond::send(session, status, content_type, &extra, body).await
}

/// A fresh unique request ID: 128 random bits written as a UUID (version 4).
pub(super) fn new_unique_id() -> String {
    let n = fastrand::u128(..);
    let n = (n & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let hex = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// An interim response (`100 Continue`, `103 Early Hints`), not the
/// answer: `101` ends the exchange as an upgrade and is not one.
pub(super) fn interim(resp: &ResponseHeader) -> bool {
    resp.status.is_informational() && resp.status != http::StatusCode::SWITCHING_PROTOCOLS
}

/// Rewrites the request path (keeping the query string).
pub(super) fn set_path(req: &mut pingora::http::RequestHeader, path: &str) -> Result<()> {
    let target = match req.uri.query() {
        Some(q) => std::borrow::Cow::Owned(format!("{path}?{q}")),
        None => std::borrow::Cow::Borrowed(path),
    };
    req.set_raw_path(target.as_bytes())
}
