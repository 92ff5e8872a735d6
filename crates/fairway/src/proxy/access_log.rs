//! The access log line (`fairway::access` at `info`), written in the
//! `logging` phase: HAProxy's fields in `key=value` form.

use super::Ctx;
use crate::balance::NoServer;
use log::info;
use pingora::prelude::*;
use pingora::protocols::l4::socket::SocketAddr as PingoraAddr;
use pingora_proxy::Session;
use std::time::{Duration, Instant};

/// Writes the request's access-log line, if the access log is on.
pub(super) fn write(
    session: &Session,
    ctx: &Ctx,
    frontend: &str,
    e: Option<&Error>,
    status: u16,
    total: Duration,
    server: Option<usize>,
) {
    if !ctx.rt.access_log() || !log::log_enabled!(target: "fairway::access", log::Level::Info) {
        return;
    }
    let backend = ctx.backend.and_then(|b| ctx.rt.backends().get(b));
    let server = match (backend, server) {
        (Some(b), Some(s)) => b.servers().get(s).map_or("-", |s| s.name()),
        _ => "-",
    };
    let client = match session.client_addr() {
        // `set-src` gave the request another client address: that one.
        Some(PingoraAddr::Inet(a)) if ctx.src.is_some_and(|ip| ip != a.ip()) => {
            ctx.src.map_or_else(String::new, |ip| ip.to_string())
        }
        Some(PingoraAddr::Inet(a)) => a.to_string(),
        Some(_) => "unix".to_string(),
        None => "-".to_string(),
    };
    let since = |from: Option<Instant>, to: Option<Instant>| match (from, to) {
        (Some(from), Some(to)) => Some(to.saturating_duration_since(from)),
        _ => None,
    };
    let (who, phase) = termination(e, ctx);
    let req = session.req_header();
    info!(
        target: "fairway::access",
        "client={client} frontend={} backend={} server={server} status={status} bytes={} t_queue_ms={} t_connect_ms={} t_response_ms={} t_total_ms={} retries={} method={} uri=\"{}\" termination={who}{phase}{}",
        frontend,
        backend.map_or("-", |b| b.name()),
        session.body_bytes_sent(),
        Ms(ctx.attempts.queue()),
        Ms(since(ctx.attempt_start, ctx.connected_at)),
        Ms(since(ctx.connected_at, ctx.response_at)),
        Ms(Some(total)),
        ctx.attempts.retries(),
        req.method,
        Escaped(&req.uri.to_string()),
        RequestId(ctx.unique_id.as_deref()),
    );
}

/// ` request_id="..."` when the request has a unique ID, else nothing.
struct RequestId<'a>(Option<&'a str>);

impl std::fmt::Display for RequestId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(id) => write!(f, " request_id=\"{}\"", Escaped(id)),
            None => Ok(()),
        }
    }
}

/// A duration in milliseconds with 3 decimals, or `-1` for a phase the
/// request never reached (HAProxy's convention).
struct Ms(Option<Duration>);

impl std::fmt::Display for Ms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(d) => write!(f, "{:.3}", d.as_secs_f64() * 1000.0),
            None => f.write_str("-1"),
        }
    }
}

/// A string for a `"..."` log value: `"` and `\` escaped, controls as `\xNN`.
struct Escaped<'a>(&'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        for c in self.0.chars() {
            match c {
                '"' | '\\' => {
                    f.write_char('\\')?;
                    f.write_char(c)?;
                }
                c if c.is_control() => write!(f, "\\x{:02x}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// The access log's HAProxy-style two-letter termination state.
///
/// First letter, who ended the request: `-` normal completion (whatever
/// the status, upstream 5xx included); `P` the proxy answered itself
/// (`deny`, `return`, `redirect`); `R` a resource was missing: no server
/// could take the request (or no backend matched); `C` the client (abort,
/// read/write error, timeout, bad request); `S` the server (connection
/// refused or failed, timeout, invalid or aborted response); `I` an
/// internal error.
///
/// Second letter, the phase it was in: `-` normal completion; `R` the
/// request (rules); `Q` the queue (waiting for a `maxconn` slot, queue full
/// or timed out); `C` getting a server and connecting to it (including
/// "no server available"); `H` waiting for the response head; `D`
/// transferring the response.
fn termination(e: Option<&Error>, ctx: &Ctx) -> (char, char) {
    use pingora::ErrorSource;
    let Some(e) = e else {
        return match (ctx.answered, ctx.backend) {
            (true, _) => ('P', 'R'),
            (false, None) => ('R', 'R'),
            (false, Some(_)) => ('-', '-'),
        };
    };
    let who = if ctx.no_server.is_some() {
        'R'
    } else {
        match e.esource() {
            ErrorSource::Downstream => 'C',
            ErrorSource::Upstream => 'S',
            _ => 'I',
        }
    };
    let phase = if ctx.answered || ctx.backend.is_none() {
        'R'
    } else {
        match ctx.no_server {
            Some(NoServer::QueueFull | NoServer::QueueTimeout) => 'Q',
            Some(NoServer::Unavailable) => 'C',
            None if ctx.response_at.is_some() => 'D',
            None if ctx.connected_at.is_some() => 'H',
            None if ctx.attempt_start.is_some() => 'C',
            None if ctx.attempts.queue().is_some() => 'Q',
            None => 'R',
        }
    };
    (who, phase)
}
