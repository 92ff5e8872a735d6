//! The access log line (`fairway::access` at `info`), written in the
//! `logging` phase: HAProxy's fields in `key=value` form.

use super::Ctx;
use crate::balance::NoServer;
use fairway_config::{LogFormat, LogPart, LogVar};
use log::info;
use pingora::http::RequestHeader;
use pingora::prelude::*;
use pingora::protocols::l4::socket::SocketAddr as PingoraAddr;
use pingora_proxy::Session;
use std::time::{Duration, Instant};

/// What one access-log line says about a request, whatever the format.
struct Line<'a> {
    client: Option<std::net::SocketAddr>,
    /// The `set-src` address, when it differs from the connection's.
    src: Option<std::net::IpAddr>,
    frontend: &'a str,
    backend: &'a str,
    server: &'a str,
    status: u16,
    bytes: usize,
    queue: Option<Duration>,
    connect: Option<Duration>,
    response: Option<Duration>,
    total: Duration,
    retries: u32,
    termination: (char, char),
    request_id: Option<&'a str>,
}

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
        (Some(b), Some(s)) => b.servers().get(s).map(|s| s.name()),
        _ => None,
    };
    let client = match session.client_addr() {
        Some(PingoraAddr::Inet(a)) => Some(*a),
        _ => None,
    };
    let since = |from: Option<Instant>, to: Option<Instant>| match (from, to) {
        (Some(from), Some(to)) => Some(to.saturating_duration_since(from)),
        _ => None,
    };
    let line = Line {
        client,
        src: ctx.src.filter(|ip| client.is_none_or(|c| c.ip() != *ip)),
        frontend,
        backend: backend.map_or("-", |b| b.name()),
        server: server.unwrap_or("-"),
        status,
        bytes: session.body_bytes_sent(),
        queue: ctx.attempts.queue(),
        connect: since(ctx.attempt_start, ctx.connected_at),
        response: since(ctx.connected_at, ctx.response_at),
        total,
        retries: ctx.attempts.retries(),
        termination: termination(e, ctx),
        request_id: ctx.unique_id.as_deref(),
    };
    let req = session.req_header();
    match &ctx.rt.config().global.access_log_format {
        LogFormat::Fairway => fairway_line(&line, req),
        LogFormat::Json => json_line(&line, req),
        LogFormat::Custom(parts) => custom_line(&line, parts, session, ctx),
    }
}

/// `client=... frontend=... status=...` (the default format).
fn fairway_line(l: &Line<'_>, req: &RequestHeader) {
    let client = match (l.src, l.client) {
        // `set-src` gave the request another client address: that one.
        (Some(ip), _) => ip.to_string(),
        (None, Some(a)) => a.to_string(),
        (None, None) => "-".to_string(),
    };
    let (who, phase) = l.termination;
    info!(
        target: "fairway::access",
        "client={client} frontend={} backend={} server={} status={} bytes={} t_queue_ms={} t_connect_ms={} t_response_ms={} t_total_ms={} retries={} method={} uri=\"{}\" termination={who}{phase}{}",
        l.frontend,
        l.backend,
        l.server,
        l.status,
        l.bytes,
        Ms(l.queue),
        Ms(l.connect),
        Ms(l.response),
        Ms(Some(l.total)),
        l.retries,
        req.method,
        Escaped(&req.uri.to_string()),
        RequestId(l.request_id),
    );
}

/// One JSON object: time, client, frontend, backend, server, method, uri,
/// host, status, bytes, timings in ms, retries, termination, request_id.
fn json_line(l: &Line<'_>, req: &RequestHeader) {
    let client = match (l.src, l.client) {
        (Some(ip), _) => ip.to_string(),
        (None, Some(a)) => a.ip().to_string(),
        (None, None) => String::new(),
    };
    let host = req
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri.authority().map(|a| a.as_str()))
        .unwrap_or("");
    let (who, phase) = l.termination;
    let time = humantime::format_rfc3339_millis(std::time::SystemTime::now());
    info!(
        target: "fairway::access",
        "{{\"time\":\"{time}\",\"client\":\"{}\",\"client_port\":{},\"frontend\":\"{}\",\"backend\":\"{}\",\"server\":\"{}\",\"method\":\"{}\",\"uri\":\"{}\",\"host\":\"{}\",\"status\":{},\"bytes\":{},\"t_queue_ms\":{},\"t_connect_ms\":{},\"t_response_ms\":{},\"t_total_ms\":{},\"retries\":{},\"termination\":\"{who}{phase}\",\"request_id\":{}}}",
        Json(&client),
        l.client.map_or(0, |a| a.port()),
        Json(l.frontend),
        Json(l.backend),
        Json(l.server),
        Json(req.method.as_str()),
        Json(&req.uri.to_string()),
        Json(host),
        l.status,
        l.bytes,
        Ms(l.queue),
        Ms(l.connect),
        Ms(l.response),
        Ms(Some(l.total)),
        l.retries,
        JsonOpt(l.request_id),
    );
}

/// An HAProxy log-format line.
fn custom_line(l: &Line<'_>, parts: &[LogPart], session: &Session, ctx: &Ctx) {
    use std::fmt::Write;
    let req = session.req_header();
    let mut out = String::with_capacity(256);
    for part in parts {
        match part {
            LogPart::Text(t) => out.push_str(t),
            LogPart::Sample(value) => {
                let view = super::RequestView {
                    header: req,
                    src: ctx.src,
                    rates: &[],
                };
                out.push_str(&value.render(&view, l.request_id.unwrap_or("")));
            }
            LogPart::Var { var, quoted } => {
                if *quoted {
                    out.push('"');
                }
                let _ = match var {
                    LogVar::ClientIp => match (l.src, l.client) {
                        (Some(ip), _) => write!(out, "{ip}"),
                        (None, Some(a)) => write!(out, "{}", a.ip()),
                        (None, None) => write!(out, "-"),
                    },
                    LogVar::ClientPort => write!(out, "{}", l.client.map_or(0, |a| a.port())),
                    LogVar::Frontend => write!(out, "{}", l.frontend),
                    // HAProxy names the frontend when no backend was chosen.
                    LogVar::Backend if l.backend == "-" => write!(out, "{}", l.frontend),
                    LogVar::Backend => write!(out, "{}", l.backend),
                    LogVar::Server if l.server == "-" => write!(out, "<NOSRV>"),
                    LogVar::Server => write!(out, "{}", l.server),
                    LogVar::Status => write!(out, "{}", l.status),
                    LogVar::Bytes => write!(out, "{}", l.bytes),
                    LogVar::TotalMs => write!(out, "{}", l.total.as_millis()),
                    LogVar::QueueMs => write!(out, "{}", WholeMs(l.queue)),
                    LogVar::ConnectMs => write!(out, "{}", WholeMs(l.connect)),
                    LogVar::ResponseMs => write!(out, "{}", WholeMs(l.response)),
                    LogVar::Retries => write!(out, "{}", l.retries),
                    LogVar::Termination => {
                        write!(out, "{}{}", l.termination.0, l.termination.1)
                    }
                    LogVar::Method => write!(out, "{}", req.method),
                    LogVar::Uri => write!(out, "{}", Escaped(&req.uri.to_string())),
                    LogVar::Path => write!(out, "{}", Escaped(req.uri.path())),
                    LogVar::Version => write!(out, "{:?}", req.version),
                    LogVar::RequestLine => write!(
                        out,
                        "{} {} {:?}",
                        req.method,
                        Escaped(&req.uri.to_string()),
                        req.version
                    ),
                    LogVar::UniqueId => write!(out, "{}", Escaped(l.request_id.unwrap_or("-"))),
                    LogVar::Date => write!(
                        out,
                        "[{}]",
                        humantime::format_rfc3339_millis(std::time::SystemTime::now())
                    ),
                    LogVar::Pid => write!(out, "{}", std::process::id()),
                    _ => write!(out, "-"),
                };
                if *quoted {
                    out.push('"');
                }
            }
        }
    }
    info!(target: "fairway::access", "{out}");
}

/// Whole milliseconds, or `-1` for a phase the request never reached.
struct WholeMs(Option<Duration>);

impl std::fmt::Display for WholeMs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(d) => write!(f, "{}", d.as_millis()),
            None => f.write_str("-1"),
        }
    }
}

/// A JSON string's contents, escaped.
struct Json<'a>(&'a str);

impl std::fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c if u32::from(c) < 0x20 => write!(f, "\\u{:04x}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// A JSON string, or `null`.
struct JsonOpt<'a>(Option<&'a str>);

impl std::fmt::Display for JsonOpt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(s) => write!(f, "\"{}\"", Json(s)),
            None => f.write_str("null"),
        }
    }
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
