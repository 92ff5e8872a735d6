//! The access log line (`fairway::access` at `info`), written in the
//! `logging` phase: HAProxy's fields in `key=value` form.

use super::{Ctx, Proxy};
use crate::balance::{Backend, NoServer};
use crate::upstream::Server;
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
    /// The backend and server objects, for `%bc` and `%sc`.
    objects: (Option<&'a Backend>, Option<&'a Server>),
    /// Client connections open on the frontend and the process.
    conns: (usize, usize),
}

/// Writes the request's access-log line, if the access log is on.
pub(super) fn write(
    proxy: &Proxy,
    session: &Session,
    ctx: &Ctx,
    e: Option<&Error>,
    status: u16,
    total: Duration,
    server: Option<usize>,
) {
    if !ctx.rt.access_log() || !log::log_enabled!(target: "fairway::access", log::Level::Info) {
        return;
    }
    let frontend = &ctx.frontend(proxy).name;
    let backend = ctx.backend.and_then(|b| ctx.rt.backends().get(b));
    let server_ref = match (backend, server) {
        (Some(b), Some(s)) => b.servers().get(s),
        _ => None,
    };
    let server = server_ref.map(|s| s.name());
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
        // The server's response was not passed on when a rule answered
        // instead (`%Tr` -1, as HAProxy writes it).
        response: since(ctx.connected_at, ctx.response_at).filter(|_| ctx.answered.is_none()),
        total,
        retries: ctx.attempts.retries(),
        termination: termination(e, ctx),
        request_id: ctx.unique_id.as_deref(),
        objects: (backend.map(|b| &**b), server_ref.map(|s| &**s)),
        conns: proxy.open_conns(),
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
    // As HAProxy's: a run of spaces is written once, and only after
    // something that is not a space.
    let mut after_space = true;
    for part in parts {
        let before = out.len();
        match part {
            LogPart::Separator => {
                if !after_space {
                    out.push(' ');
                    after_space = true;
                }
                continue;
            }
            LogPart::Text(t) => out.push_str(t),
            LogPart::Sample(value) => {
                let view = super::RequestView {
                    header: req,
                    src: ctx.src,
                    rates: &[],
                };
                out.push_str(&value.render(&view, l.request_id.unwrap_or("")));
            }
            // No captures, as HAProxy without `capture`: nothing at all,
            // quoted or not; a quoted cookie is `""`.
            LogPart::Var {
                var: LogVar::CapturedHeaders,
                ..
            } => {}
            LogPart::Var {
                var: LogVar::CapturedCookie,
                quoted: true,
            } => out.push_str("\"\""),
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
                    // As HAProxy's: the response head's bytes too.
                    LogVar::Bytes => {
                        let head = session.response_written().map_or(0, head_len);
                        write!(out, "{}", head + l.bytes)
                    }
                    LogVar::TotalMs => write!(out, "{}", l.total.as_millis()),
                    LogVar::QueueMs => write!(out, "{}", WholeMs(l.queue)),
                    LogVar::ConnectMs => write!(out, "{}", WholeMs(l.connect)),
                    LogVar::ResponseMs => write!(out, "{}", WholeMs(l.response)),
                    LogVar::Retries => write!(out, "{}", l.retries),
                    LogVar::Termination => {
                        write!(out, "{}{}", l.termination.0, l.termination.1)
                    }
                    LogVar::TerminationCookie => {
                        write!(out, "{}{}--", l.termination.0, l.termination.1)
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
                    LogVar::Date => write!(out, "{}", HaproxyDate(std::time::SystemTime::now())),
                    LogVar::Pid => write!(out, "{}", std::process::id()),
                    LogVar::HeadMs | LogVar::QueuePos => write!(out, "0"),
                    LogVar::CapturedCookie => write!(out, "-"),
                    LogVar::ProcessConns => write!(out, "{}", l.conns.1),
                    LogVar::FrontendConns => write!(out, "{}", l.conns.0),
                    LogVar::BackendConns => write!(
                        out,
                        "{}",
                        l.objects.0.map_or(0, |b| b
                            .servers()
                            .iter()
                            .map(|s| s.active())
                            .sum::<usize>())
                    ),
                    LogVar::ServerConns => {
                        write!(out, "{}", l.objects.1.map_or(0, |s| s.active()))
                    }
                    _ => write!(out, "-"),
                };
                if *quoted {
                    out.push('"');
                }
            }
        }
        if out.len() > before {
            after_space = false;
        }
    }
    info!(target: "fairway::access", "{out}");
}

/// The size of `resp` as an HTTP/1.1 head on the wire: the status line,
/// each field as `name: value` and the blank line (CRLF line ends).
fn head_len(resp: &pingora::http::ResponseHeader) -> usize {
    let reason = resp.get_reason_phrase().map_or(0, str::len);
    let fields: usize = resp
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    // `HTTP/1.1 200 ` + reason + CRLF, the fields, CRLF.
    13 + reason + 2 + fields + 2
}

/// A time as HAProxy's `%t` writes it, in UTC: `03/Dec/2026:10:49:54.123`.
struct HaproxyDate(std::time::SystemTime);

impl std::fmt::Display for HaproxyDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        // `2026-12-03T10:49:54.123Z`, rearranged.
        let rfc = humantime::format_rfc3339_millis(self.0).to_string();
        let month = rfc
            .get(5..7)
            .and_then(|m| m.parse::<usize>().ok())
            .and_then(|m| MONTHS.get(m.wrapping_sub(1)));
        match (rfc.get(0..4), month, rfc.get(8..10), rfc.get(11..23)) {
            (Some(y), Some(m), Some(d), Some(t)) => write!(f, "{d}/{m}/{y}:{t}"),
            _ => f.write_str(&rfc),
        }
    }
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
        // Runs that need no escape go out in one call; every byte that
        // does is ASCII, so the runs split at character boundaries.
        let text = self.0;
        let mut start = 0;
        for (i, b) in text.bytes().enumerate() {
            let escaped = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b if b < 0x20 => "",
                _ => continue,
            };
            f.write_str(&text[start..i])?;
            if escaped.is_empty() {
                write!(f, "\\u{:04x}", b)?;
            } else {
                f.write_str(escaped)?;
            }
            start = i + 1;
        }
        f.write_str(&text[start..])
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
            Some(d) => {
                // Whole microseconds, rounded: `{:.3}` of the milliseconds
                // without floating-point formatting.
                let us = (d.as_nanos() + 500) / 1000;
                write!(f, "{}.{:03}", us / 1000, us % 1000)
            }
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
/// the status, upstream 5xx included); `P` the proxy refused it (`deny`);
/// `L` the proxy answered locally (`return`, `redirect`, a hook's
/// answer); `R` a resource was missing: no server
/// could take the request (or no backend matched); `C` the client (abort,
/// read/write error, timeout, bad request); `S` the server (connection
/// refused or failed, timeout, invalid or aborted response); `I` an
/// internal error.
///
/// Second letter, the phase it was in: `-` normal completion; `R` the
/// request (rules: `PR`, `LR`; a malformed request: `CR`); `H` the
/// response head (an `http_response` rule answered: `PH` for `deny`, `LH`
/// for `return`, as HAProxy logs them); `Q` the queue (waiting for a `maxconn` slot, queue full
/// or timed out); `C` getting a server and connecting to it (including
/// "no server available"); `H` waiting for the response head; `D`
/// transferring the response.
fn termination(e: Option<&Error>, ctx: &Ctx) -> (char, char) {
    use pingora::ErrorSource;
    let Some(e) = e else {
        return match (ctx.answered, ctx.backend) {
            (Some(who), _) => (who, 'R'),
            (None, None) => ('R', 'R'),
            (None, Some(_)) => ('-', '-'),
        };
    };
    if let (Some(who), Some(_)) = (ctx.answered, ctx.response_at) {
        // An `http_response` rule answered instead of the server.
        return (who, 'H');
    }
    let who = if ctx.no_server.is_some() {
        'R'
    } else {
        match e.esource() {
            ErrorSource::Downstream => 'C',
            ErrorSource::Upstream => 'S',
            _ => 'I',
        }
    };
    let phase = if ctx.answered.is_some() || ctx.backend.is_none() {
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

#[cfg(test)]
mod tests {
    use super::HaproxyDate;
    use std::time::{Duration, SystemTime};

    #[test]
    fn json_strings_and_milliseconds_are_written_exactly() {
        use super::{Json, Ms};
        let text = "a\"b\\c\u{1}d\té\n";
        assert_eq!(Json(text).to_string(), "a\\\"b\\\\c\\u0001d\\u0009é\\u000a");
        assert_eq!(Json("plain").to_string(), "plain");
        for (nanos, text) in [
            (1_234_567, "1.235"),
            (999_499, "0.999"),
            (999_500, "1.000"),
            (0, "0.000"),
        ] {
            assert_eq!(Ms(Some(Duration::from_nanos(nanos))).to_string(), text);
        }
        assert_eq!(Ms(None).to_string(), "-1");
    }

    #[test]
    fn dates_are_written_as_haproxy_writes_them() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_294_994_123);
        assert_eq!(HaproxyDate(t).to_string(), "03/Dec/2026:10:49:54.123");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        assert_eq!(HaproxyDate(t).to_string(), "01/Jan/2026:00:00:00.000");
    }
}
