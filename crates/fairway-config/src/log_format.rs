//! `global.access_log_format`: `fairway` (key=value, the default), `json`,
//! or an HAProxy log-format string such as `%ci %ST %B %Tt %b/%s %{+Q}r`,
//! compiled when the config loads.

use fairway_acl::{Fetches, Value};

/// How access-log lines are written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `client=... frontend=... status=...`, one key=value line.
    #[default]
    Fairway,
    /// One JSON object per line.
    Json,
    /// An HAProxy log-format string.
    Custom(Vec<LogPart>),
}

/// A piece of an HAProxy log-format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogPart {
    /// Literal text.
    Text(String),
    /// A variable such as `%ST`; `quoted` with the `+Q` flag.
    Var {
        /// Which.
        var: LogVar,
        /// Written in double quotes (`%{+Q}r`).
        quoted: bool,
    },
    /// A sample, `%[FETCH,conv]`, of the request.
    Sample(Value),
    /// A run of spaces: one space, written only after something that was
    /// not a space (as HAProxy does, so that a variable that writes
    /// nothing, such as `%hr` without captures, leaves no double space,
    /// and the line never starts with one).
    Separator,
}

/// The HAProxy log-format variables fairway writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogVar {
    /// `%ci`: client IP.
    ClientIp,
    /// `%cp`: client port.
    ClientPort,
    /// `%f` (also `%ft`): frontend.
    Frontend,
    /// `%b`: backend (`-` when none).
    Backend,
    /// `%s`: server (`<NOSRV>` when none, as HAProxy).
    Server,
    /// `%ST`: status.
    Status,
    /// `%B`: bytes sent to the client, the response head and body (as
    /// HAProxy's `%B`).
    Bytes,
    /// `%Tt` (also `%Ta`): total time, ms.
    TotalMs,
    /// `%Tw`: time in the queue, ms (`-1`: never queued).
    QueueMs,
    /// `%Tc`: time to connect, ms.
    ConnectMs,
    /// `%Tr`: server response time, ms.
    ResponseMs,
    /// `%rc`: retries.
    Retries,
    /// `%ts`: termination state, two characters (`--`, `PR`, `SH`...).
    Termination,
    /// `%tsc`: the termination state and the cookie status, four
    /// characters as HAProxy writes them (`----`, `PR--`).
    TerminationCookie,
    /// `%HM`: method.
    Method,
    /// `%HU`: request URI.
    Uri,
    /// `%HP`: path.
    Path,
    /// `%HV`: HTTP version.
    Version,
    /// `%r`: request line, `GET /x HTTP/1.1`.
    RequestLine,
    /// `%ID`: the unique ID.
    UniqueId,
    /// `%t` (also `%tr`): the date and time, UTC, as HAProxy writes them
    /// (`03/Dec/2026:10:49:54.123`; the brackets of HAProxy's `[%tr]` are
    /// the format's own).
    Date,
    /// `%pid`: process ID.
    Pid,
    /// `%TR`, `%Th`, `%Ti`, `%Tq`: the time to receive the request head,
    /// the handshake and the idle time before the request, and their sum.
    /// fairway's timings start when the head is complete: written `0`.
    HeadMs,
    /// `%CC`, `%CS`: a captured request or response cookie. fairway
    /// captures none: written `-`, as HAProxy does without `capture cookie`.
    CapturedCookie,
    /// `%hr`, `%hs`, `%hrl`, `%hsl`: captured headers. fairway captures
    /// none: written as nothing, as HAProxy does without `capture`.
    CapturedHeaders,
    /// `%ac`: client connections open on the process's HTTP frontends.
    ProcessConns,
    /// `%fc`: client connections open on the frontend.
    FrontendConns,
    /// `%bc`: requests in flight on the backend's servers.
    BackendConns,
    /// `%sc`: requests in flight on the server.
    ServerConns,
    /// `%sq`, `%bq`: the request's place in the server's and the backend's
    /// queue when it was queued. fairway's `maxconn` queue does not number
    /// its places: written `0`.
    QueuePos,
}

/// The variable names.
const VARS: &[(&str, LogVar)] = &[
    ("tsc", LogVar::TerminationCookie),
    ("pid", LogVar::Pid),
    ("hrl", LogVar::CapturedHeaders),
    ("hsl", LogVar::CapturedHeaders),
    ("hr", LogVar::CapturedHeaders),
    ("hs", LogVar::CapturedHeaders),
    ("TR", LogVar::HeadMs),
    ("Th", LogVar::HeadMs),
    ("Ti", LogVar::HeadMs),
    ("Tq", LogVar::HeadMs),
    ("CC", LogVar::CapturedCookie),
    ("CS", LogVar::CapturedCookie),
    ("ac", LogVar::ProcessConns),
    ("fc", LogVar::FrontendConns),
    ("bc", LogVar::BackendConns),
    ("sc", LogVar::ServerConns),
    ("sq", LogVar::QueuePos),
    ("bq", LogVar::QueuePos),
    ("ci", LogVar::ClientIp),
    ("cp", LogVar::ClientPort),
    ("ft", LogVar::Frontend),
    ("ST", LogVar::Status),
    ("Tt", LogVar::TotalMs),
    ("Ta", LogVar::TotalMs),
    ("Tw", LogVar::QueueMs),
    ("Tc", LogVar::ConnectMs),
    ("Tr", LogVar::ResponseMs),
    ("rc", LogVar::Retries),
    ("ts", LogVar::Termination),
    ("HM", LogVar::Method),
    ("HU", LogVar::Uri),
    ("HP", LogVar::Path),
    ("HV", LogVar::Version),
    ("ID", LogVar::UniqueId),
    ("tr", LogVar::Date),
    ("f", LogVar::Frontend),
    ("b", LogVar::Backend),
    ("s", LogVar::Server),
    ("B", LogVar::Bytes),
    ("r", LogVar::RequestLine),
    ("t", LogVar::Date),
];

impl LogFormat {
    /// `fairway`, `json`, or an HAProxy log-format string; an error names
    /// the byte offset and the problem.
    pub fn parse(text: &str, fetches: &Fetches) -> Result<LogFormat, (usize, String)> {
        match text {
            "fairway" => return Ok(LogFormat::Fairway),
            "json" => return Ok(LogFormat::Json),
            _ => {}
        }
        if !text.contains('%') {
            return Err((
                0,
                format!(
                    "unknown access_log_format `{}` (expected fairway, json, or an HAProxy \
                     log-format string such as `%ci %ST %B %Tt %b/%s %{{+Q}}r`)",
                    text.escape_debug()
                ),
            ));
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut at = 0;
        while let Some(found) = text[at..].find('%') {
            let start = at + found;
            literal.push_str(&text[at..start]);
            let mut rest = &text[start + 1..];
            if let Some(tail) = rest.strip_prefix('%') {
                literal.push('%');
                at = text.len() - tail.len();
                continue;
            }
            let mut quoted = false;
            if let Some(inner) = rest.strip_prefix('{') {
                let Some(end) = inner.find('}') else {
                    return Err((start, "`%{` without its `}`".to_string()));
                };
                for flag in inner[..end].split(',') {
                    match flag {
                        "+Q" => quoted = true,
                        "-Q" | "+X" | "-X" | "+E" | "-E" => {}
                        other => {
                            return Err((start, format!("unknown log-format flag `{other}`")));
                        }
                    }
                }
                rest = &inner[end + 1..];
            }
            push_literal(&mut parts, &std::mem::take(&mut literal));
            if rest.starts_with('[') {
                let Some(end) = rest.find(']') else {
                    return Err((start, "`%[` without its `]`".to_string()));
                };
                let offset = text.len() - rest.len() - 1;
                let value = Value::parse(&rest[..=end].replacen('[', "%[", 1), offset, fetches)
                    .map_err(|e| (e.offset, e.message))?;
                parts.push(LogPart::Sample(value));
                at = text.len() - rest.len() + end + 1;
                continue;
            }
            // The whole name, looked up exactly: `%si` is not `%s` then `i`.
            let len = rest.bytes().take_while(u8::is_ascii_alphanumeric).count();
            let word = &rest[..len];
            let Some((name, var)) = VARS.iter().find(|(name, _)| *name == word) else {
                let known: Vec<&str> = VARS.iter().map(|(n, _)| *n).collect();
                return Err((
                    start,
                    format!(
                        "unknown log-format variable `%{word}` (known: {}, %[FETCH])",
                        known.join(", ")
                    ),
                ));
            };
            parts.push(LogPart::Var { var: *var, quoted });
            at = text.len() - rest.len() + name.len();
        }
        literal.push_str(&text[at..]);
        push_literal(&mut parts, &literal);
        Ok(LogFormat::Custom(parts))
    }
}

/// Appends literal text as [`LogPart::Text`] pieces, each run of spaces as
/// one [`LogPart::Separator`].
fn push_literal(parts: &mut Vec<LogPart>, literal: &str) {
    let mut rest = literal;
    while !rest.is_empty() {
        let spaces = rest.len() - rest.trim_start_matches(' ').len();
        if spaces > 0 {
            parts.push(LogPart::Separator);
            rest = &rest[spaces..];
            continue;
        }
        let end = rest.find(' ').unwrap_or(rest.len());
        parts.push(LogPart::Text(rest[..end].to_string()));
        rest = &rest[end..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<LogFormat, (usize, String)> {
        LogFormat::parse(text, &Fetches::builtin())
    }

    #[test]
    fn formats() {
        assert_eq!(parse("fairway"), Ok(LogFormat::Fairway));
        assert_eq!(parse("json"), Ok(LogFormat::Json));
        let LogFormat::Custom(parts) = parse("%ci:%cp %ST %Tt %b/%s %{+Q}r 100%% %[src]").unwrap()
        else {
            panic!("custom");
        };
        let var = |var, quoted| LogPart::Var { var, quoted };
        assert_eq!(parts[0], var(LogVar::ClientIp, false));
        assert_eq!(parts[1], LogPart::Text(":".into()));
        assert_eq!(parts[2], var(LogVar::ClientPort, false));
        assert_eq!(parts[3], LogPart::Separator);
        assert_eq!(parts[4], var(LogVar::Status, false));
        assert_eq!(parts[6], var(LogVar::TotalMs, false));
        assert_eq!(parts[8], var(LogVar::Backend, false));
        assert_eq!(parts[10], var(LogVar::Server, false));
        assert_eq!(parts[12], var(LogVar::RequestLine, true));
        assert_eq!(
            parts[13..16],
            [
                LogPart::Separator,
                LogPart::Text("100%".into()),
                LogPart::Separator
            ]
        );
        assert!(matches!(&parts[16], LogPart::Sample(v) if v.source() == "%[src]"));
    }

    /// HAProxy's `option httplog` format, as its documentation gives it.
    #[test]
    fn haproxy_httplog_format_loads() {
        let httplog = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC \
                       %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r";
        let LogFormat::Custom(parts) = parse(httplog).unwrap() else {
            panic!("custom");
        };
        let vars = |want: LogVar| {
            parts
                .iter()
                .filter(|p| matches!(p, LogPart::Var { var, .. } if *var == want))
                .count()
        };
        assert_eq!(vars(LogVar::HeadMs), 1);
        assert_eq!(vars(LogVar::CapturedCookie), 2);
        assert_eq!(vars(LogVar::CapturedHeaders), 2);
        assert_eq!(vars(LogVar::QueuePos), 2);
        for v in [
            LogVar::ProcessConns,
            LogVar::FrontendConns,
            LogVar::BackendConns,
            LogVar::ServerConns,
        ] {
            assert_eq!(vars(v), 1, "{v:?}");
        }
        // `%hrl` is its own variable, not `%hr` then `l`.
        let LogFormat::Custom(parts) = parse("%hrl").unwrap() else {
            panic!("custom");
        };
        assert_eq!(parts.len(), 1);
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(parse("text")
            .unwrap_err()
            .1
            .contains("unknown access_log_format"));
        let (at, msg) = parse("%ci %Zz").unwrap_err();
        assert_eq!(at, 4);
        assert!(msg.contains("unknown log-format variable `%Zz`"), "{msg}");
        assert!(parse("%{+Z}r").unwrap_err().1.contains("flag `+Z`"));
        // HAProxy variables fairway does not write are refused, not read as
        // a shorter one followed by text.
        for unknown in ["%si", "%sp", "%bi", "%fi", "%rt", "%sslv", "%hrx", "%TRx"] {
            assert!(parse(unknown).is_err(), "{unknown}");
        }
        assert!(parse("%[nope]").unwrap_err().1.contains("unknown fetch"));
        assert!(parse("%[src").unwrap_err().1.contains("without its `]`"));
    }
}
