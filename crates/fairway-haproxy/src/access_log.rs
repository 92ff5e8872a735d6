//! `log-format` of `defaults`, frontends and listens: fairway's one
//! `global.access_log_format`.
//!
//! fairway writes HAProxy log-format strings with the variables and
//! samples it knows (`fairway_config::LogFormat`); a format it would
//! refuse is reported, not emitted. `option httplog` on an HTTP frontend
//! is HAProxy's httplog format ([`HTTPLOG`]), which fairway writes. fairway has one format for all
//! frontends: the first frontend's that fairway accepts is used, and the
//! frontends that log otherwise in HAProxy are named in notes.

use super::format;
use super::parse::Word;
use super::proxy::Proxy;
use super::rules::Scope;
use super::settings::{LogFormatDecl, LogOption};
use super::text::as_loaded;
use super::Report;
use fairway_acl::Fetches;
use fairway_config::LogFormat;

/// The format for `global.access_log_format`, if a frontend has one that
/// fairway accepts. `frontends`: the converted frontends and listens, in
/// file order.
pub(crate) fn global_format(
    frontends: &[&Proxy],
    report: &mut Report,
    comments: &mut Vec<String>,
) -> Option<String> {
    // (frontend, the line of its format, its format as converted)
    let mut chosen: Option<(&Proxy, usize, String)> = None;
    for p in frontends {
        let implied;
        let decl = match (&p.s.log_format, p.s.log_option) {
            (Some(decl), _) => decl,
            // HAProxy's default mode is tcp, where httplog means tcplog.
            (None, Some(LogOption::Http)) if p.s.mode.as_deref() == Some("http") => {
                implied = httplog(p.line);
                &implied
            }
            _ => continue,
        };
        match convert(decl) {
            Ok(text) => match &chosen {
                None => chosen = Some((p, decl.line, text)),
                Some((first, first_line, used)) if *used != text => {
                    let why = format!(
                        "fairway has one access-log format (global.access_log_format): that of \
                         {} {} (line {}) is used for {} too",
                        kind(first),
                        first.name,
                        first_line,
                        p.name
                    );
                    comments.push(report.note(decl.line, &decl.raw, &why));
                }
                Some(_) => {}
            },
            Err(why) => comments.push(report.unsupported(decl.line, &decl.raw, &why)),
        }
    }
    let (first, first_line, text) = chosen?;
    for p in frontends {
        let other = match p.s.log_option {
            Some(LogOption::Tcp) => "tcplog",
            Some(LogOption::Https) => "httpslog",
            Some(LogOption::HttpClf) => "httplog clf",
            Some(LogOption::Http) if p.s.mode.as_deref() != Some("http") => "tcplog",
            _ => continue,
        };
        if p.s.log_format.is_none() {
            let why = format!(
                "fairway has one access-log format: the requests of {} {} are logged in that of \
                 {} (line {}), not in HAProxy's {other} format",
                kind(p),
                p.name,
                first.name,
                first_line
            );
            let directive = format!("{} {}", kind(p), p.name);
            comments.push(report.note(p.line, &directive, &why));
        }
    }
    Some(text)
}

fn kind(p: &Proxy) -> &'static str {
    match p.kind {
        super::parse::Kind::Listen => "listen",
        _ => "frontend",
    }
}

/// HAProxy's `option httplog` format (its `doc/configuration.txt`).
pub(crate) const HTTPLOG: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc \
     %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r";

/// HAProxy's httplog format as a declaration, as `option httplog`
/// chooses it for the proxy at `line`.
fn httplog(line: usize) -> LogFormatDecl {
    LogFormatDecl {
        line,
        raw: "option httplog".to_string(),
        format: Word {
            text: HTTPLOG.to_string(),
            fw: HTTPLOG.to_string(),
            quoted: true,
            env: false,
        },
    }
}

/// A log-format string for fairway: samples with HAProxy's names mapped
/// (`req.hdr(X)` → `hdr(X)`...), checked with fairway's parser.
pub(crate) fn convert(decl: &LogFormatDecl) -> Result<String, String> {
    let text = &decl.format.fw;
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("%%") {
            out.push_str("%%");
            rest = after;
            continue;
        }
        // `%[...]` or `%{flags}[...]`: the sample converted.
        let flags_end = match tail.strip_prefix("%{") {
            Some(inner) => inner.find('}').map(|i| i + 3),
            None => Some(1),
        };
        let open = flags_end.filter(|&i| tail[i..].starts_with('['));
        let Some(open) = open else {
            out.push('%');
            rest = &tail[1..];
            continue;
        };
        let Some(close) = closing(&tail[open..]) else {
            return Err(format!("`{tail}`: `%[` without its `]`"));
        };
        let expr = &tail[open + 1..open + close];
        let converted = format::sample(expr, &Scope::default(), false)?;
        out.push_str(&tail[..open]);
        out.push('[');
        out.push_str(&converted);
        out.push(']');
        rest = &tail[open + close + 1..];
    }
    out.push_str(rest);
    if matches!(as_loaded(&out).as_str(), "fairway" | "json") {
        return Err("fairway would read this text as the name of one of its own formats".into());
    }
    LogFormat::parse(&as_loaded(&out), &Fetches::builtin()).map_err(|(_, message)| message)?;
    Ok(out)
}

/// The offset of the `]` that closes the `[` at the start of `text`.
fn closing(text: &str) -> Option<usize> {
    let mut depth = 0u32;
    for (i, c) in text.char_indices().skip(1) {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ']' if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::parse::line;
    use super::*;

    fn decl(text: &str) -> LogFormatDecl {
        let l = line(4, text).unwrap();
        LogFormatDecl {
            line: 4,
            raw: l.raw.clone(),
            format: l.words[1].clone(),
        }
    }

    #[test]
    fn formats_fairway_writes_pass_with_samples_renamed() {
        let d = decl(r#"log-format "%ci:%cp [%tr] %ft %b/%s %Tw/%Tc/%Tr/%Ta %ST %B %tsc %{+Q}r""#);
        assert_eq!(
            convert(&d).unwrap(),
            "%ci:%cp [%tr] %ft %b/%s %Tw/%Tc/%Tr/%Ta %ST %B %tsc %{+Q}r"
        );
        let d = decl(r#"log-format "%ci %[req.hdr(host),lower] %{+Q}[urlp(id)] 100%% %ID""#);
        assert_eq!(
            convert(&d).unwrap(),
            "%ci %[hdr(host),lower] %{+Q}[url_param(id)] 100%% %ID"
        );
        // Escaped spaces instead of quotes: one word all the same.
        let d = decl(r"log-format %ci\ %ST");
        assert_eq!(convert(&d).unwrap(), "%ci %ST");
        // HAProxy's httplog format, written out or by `option httplog`.
        let d = decl(&format!("log-format \"{HTTPLOG}\""));
        assert_eq!(convert(&d).unwrap(), HTTPLOG);
        assert_eq!(convert(&httplog(3)).unwrap(), HTTPLOG);
    }

    #[test]
    fn what_fairway_does_not_write_is_refused_with_the_reason() {
        // HAProxy's httpslog format has TLS variables fairway lacks.
        let d = decl(r#"log-format "%ci %sslv %sslc""#);
        let e = convert(&d).unwrap_err();
        assert!(e.contains("unknown log-format variable `%sslv`"), "{e}");
        let e = convert(&decl(r#"log-format "%[var(txn.x)]""#)).unwrap_err();
        assert!(e.contains("unknown fetch `var`"), "{e}");
        let e = convert(&decl(r#"log-format "%[src""#)).unwrap_err();
        assert!(e.contains("without its `]`"), "{e}");
        let e = convert(&decl("log-format json")).unwrap_err();
        assert!(e.contains("its own formats"), "{e}");
        let e = convert(&decl("log-format plain")).unwrap_err();
        assert!(e.contains("unknown access_log_format"), "{e}");
    }
}
