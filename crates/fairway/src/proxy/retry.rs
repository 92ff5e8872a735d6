//! Which failed attempts are tried again (`retries`, `retry_on`,
//! `retry_budget`, SPEC §8): the decisions behind the proxy's
//! `fail_to_connect`, `error_while_proxy` and `upstream_response_filter`,
//! the same whichever HTTP/1 path (fairway's or Pingora's) serves the
//! request.
//!
//! A connection that could not be made is retried whatever the request
//! (nothing was sent). Once the server may have seen the request, it is
//! resent only when that is safe: a GET, HEAD, OPTIONS, PUT or DELETE, or
//! a body read completely and buffered (at most 16 KiB); and never once a
//! response byte reached the client. A pooled connection found dead is
//! Pingora's case: an idempotent request is retried on a fresh connection
//! without spending a retry.

use super::Ctx;
use fairway_config::RetryCondition;
use pingora::http::ResponseHeader;
use pingora::{Error, ErrorSource, ErrorType};
use pingora_proxy::Session;

/// The largest request body that is resent (SPEC §8).
pub const MAX_RESENT_BODY: usize = 16 * 1024;

/// Whether the request may be sent to a server again now.
pub(super) fn resendable(session: &mut Session) -> bool {
    use http::Method;
    if session.response_written().is_some() || session.as_ref().retry_buffer_truncated() {
        return false;
    }
    let method = &session.req_header().method;
    if [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::DELETE,
    ]
    .contains(method)
    {
        return true;
    }
    session.is_body_done()
        && session
            .as_ref()
            .get_retry_buffer()
            .is_none_or(|body| body.len() <= MAX_RESENT_BODY)
}

/// The `retry_on` condition an error after the connection was made stands
/// for, if any: only failures before any response head arrived.
fn condition(e: &Error, ctx: &Ctx) -> Option<RetryCondition> {
    if e.esource() != &ErrorSource::Upstream || ctx.response_at.is_some() {
        return None;
    }
    match e.etype() {
        ErrorType::ReadTimedout => Some(RetryCondition::ResponseTimeout),
        ErrorType::ConnectionClosed | ErrorType::ReadError | ErrorType::WriteError => {
            Some(RetryCondition::EmptyResponse)
        }
        ErrorType::InvalidHTTPHeader | ErrorType::H1Error | ErrorType::InvalidH2 => {
            Some(RetryCondition::JunkResponse)
        }
        _ => None,
    }
}

/// `fail_to_connect`: a connection failure is retried when `retry_on`
/// (default `conn-failure`), `retries` and the budget allow.
pub(super) fn after_connect_failure(ctx: &mut Ctx, mut e: Box<Error>) -> Box<Error> {
    let retry = ctx.backend.is_some_and(|b| {
        let backend = &ctx.rt.backends()[b];
        ctx.attempts.retry(backend, RetryCondition::ConnFailure)
    });
    e.set_retry(retry);
    e
}

/// `error_while_proxy`: whether the attempt that failed with `e` after its
/// connection was made (`reused`: a pooled one) is tried again.
pub(super) fn after_error(
    session: &mut Session,
    ctx: &mut Ctx,
    mut e: Box<Error>,
    reused: bool,
) -> Box<Error> {
    if std::mem::take(&mut ctx.resend) {
        // `retry_on` held the server's response back: already decided and
        // counted in `status_retry`.
        return e;
    }
    if !resendable(session) {
        e.set_retry(false);
        return e;
    }
    // Pingora's policy: a pooled connection that failed is retried on a
    // fresh one, without spending a retry — for an idempotent request
    // only: the server may have read it before closing.
    if session.req_header().method.is_idempotent() {
        e.retry.decide_reuse(reused);
    } else {
        e.set_retry(false);
    }
    if e.retry() {
        // The failed server's other pooled connections are likely as dead
        // (a killed server): a backend that redispatches moves on.
        ctx.attempts.mark_tried();
        return e;
    }
    let retry = match (condition(&e, ctx), ctx.backend) {
        (Some(why), Some(b)) => ctx.attempts.retry(&ctx.rt.backends()[b], why),
        _ => false,
    };
    e.set_retry(retry);
    e
}

/// `upstream_response_filter`: an error that makes the proxy try another
/// attempt instead of relaying `resp`, when `retry_on` names its status
/// and the request may be resent. On the last allowed attempt the
/// response is relayed, as HAProxy does.
pub(super) fn status_retry(
    session: &mut Session,
    ctx: &mut Ctx,
    resp: &ResponseHeader,
) -> Option<Box<Error>> {
    let code = resp.status.as_u16();
    let backend = &ctx.rt.backends()[ctx.backend?];
    let why = RetryCondition::Status(code);
    if !backend.spec().retry_on.contains(why) || !resendable(session) {
        return None;
    }
    if !ctx.attempts.retry(backend, why) {
        return None;
    }
    ctx.resend = true;
    ctx.response_at = None;
    let mut e = Error::explain(
        ErrorType::HTTPStatus(code),
        "retry_on: the server's status is retried",
    );
    e.set_retry(true);
    Some(e.into_up())
}
