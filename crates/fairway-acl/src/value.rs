//! Values with samples in them: `X-Client-IP %[src]`, `%[hdr(host),lower]`,
//! `%[unique-id]` (HAProxy's log-format expressions in header values,
//! `return string` bodies and redirect locations), compiled at load.
//!
//! In a value, `%[FETCH]` or `%[FETCH,CONV,...]` is replaced by the fetch's
//! sample of the request (or response) and `%%` by `%`; any other `%` is
//! written as it is. A fetch with no sample gives the empty string. The
//! converters are `lower`, `upper` and `base64`.

use crate::acl::Fetch;
use crate::sample::{any_element, host_only, url_param};
use crate::token::Word;
use crate::{AclError, Fetches, Request};
use base64::Engine;
use std::borrow::Cow;
use std::fmt::Write;

/// The converters a sample may go through, as listed in error messages.
const CONVERTERS: &str = "lower, upper, base64";

/// A value compiled from its text: literal text and samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// As written in the config.
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Sample(Fetch, Vec<Conv>),
    UniqueId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conv {
    Lower,
    Upper,
    Base64,
}

impl Value {
    /// A value with no sample in it.
    pub fn literal(text: &str) -> Value {
        Value {
            source: text.to_string(),
            parts: vec![Part::Text(text.to_string())],
        }
    }

    /// Compiles `text` (found at byte `offset` of its line, for errors),
    /// its fetches from `fetches`.
    pub fn parse(text: &str, offset: usize, fetches: &Fetches) -> Result<Value, AclError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('%') {
            literal.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(tail) = after.strip_prefix('%') {
                literal.push('%');
                rest = tail;
                continue;
            }
            let Some(expr) = after.strip_prefix('[') else {
                literal.push('%');
                rest = after;
                continue;
            };
            let at_expr = offset + (text.len() - expr.len());
            let Some(end) = expr.find(']') else {
                return Err(AclError::new(
                    at_expr - 2,
                    format!("`%[` without its `]` in `{}`", text.escape_debug()),
                ));
            };
            if !literal.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut literal)));
            }
            parts.push(sample(&expr[..end], at_expr, fetches)?);
            rest = &expr[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() || parts.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Value {
            source: text.to_string(),
            parts,
        })
    }

    /// The value as written in the config.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The text of a value with no sample in it.
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// Whether `%[unique-id]` is in it.
    pub fn uses_unique_id(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::UniqueId))
    }

    /// The fetches it reads (for the config's checks: response fetches in
    /// a request rule, HTTP fetches in `mode: tcp`).
    pub fn fetches(&self) -> impl Iterator<Item = &Fetch> {
        self.parts.iter().filter_map(|p| match p {
            Part::Sample(f, _) => Some(f),
            _ => None,
        })
    }

    /// The value for `req`, `unique_id` standing for `%[unique-id]`.
    /// A literal value is borrowed; otherwise the result is the only
    /// allocation. Control characters from a sample (CR, LF, NUL, ...;
    /// a tab is kept) are dropped, so that a header value stays valid; the
    /// config's own text is kept as written.
    pub fn render<'a>(&'a self, req: &dyn Request, unique_id: &str) -> Cow<'a, str> {
        if let Some(text) = self.as_literal() {
            return Cow::Borrowed(text);
        }
        // Room for typical samples, so that the string is allocated once.
        let samples = self.parts.len()
            - self
                .parts
                .iter()
                .filter(|p| matches!(p, Part::Text(_)))
                .count();
        let mut out = String::with_capacity(self.source.len() + 96 * samples);
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::UniqueId => out.push_str(unique_id),
                Part::Sample(fetch, convs) => {
                    let start = out.len();
                    write_sample(&mut out, fetch, req);
                    for conv in convs {
                        convert(&mut out, start, *conv);
                    }
                    // Control characters a sample brings (CR, LF, NUL...; a
                    // tab is kept) would break the header: dropped.
                    if out[start..].chars().any(|c| c != '\t' && c.is_control()) {
                        let clean: String = out[start..]
                            .chars()
                            .filter(|&c| c == '\t' || !c.is_control())
                            .collect();
                        out.truncate(start);
                        out.push_str(&clean);
                    }
                }
            }
        }
        Cow::Owned(out)
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Value {
        Value::literal(text)
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

/// One `%[...]` expression: `unique-id`, or a fetch and its converters.
fn sample(expr: &str, offset: usize, fetches: &Fetches) -> Result<Part, AclError> {
    let mut words = split_top(expr);
    let (first, first_at) = words.next().unwrap_or(("", 0));
    let first = first.trim();
    if first == "unique-id" {
        if let Some((_, at)) = words.next() {
            return Err(AclError::new(offset + at, "`unique-id` takes no converter"));
        }
        return Ok(Part::UniqueId);
    }
    if first.is_empty() {
        return Err(AclError::new(offset, "empty `%[]`: it needs a fetch"));
    }
    let word = Word {
        text: first.to_string(),
        offset: offset + first_at,
        quoted: false,
    };
    let (fetch, _) = fetches.compile(&word)?;
    let mut convs = Vec::new();
    for (name, at) in words {
        convs.push(match name.trim() {
            "lower" => Conv::Lower,
            "upper" => Conv::Upper,
            "base64" => Conv::Base64,
            other => {
                return Err(AclError::new(
                    offset + at,
                    format!("unknown converter `{other}` (known: {CONVERTERS})"),
                ));
            }
        });
    }
    Ok(Part::Sample(fetch, convs))
}

/// Splits `expr` at the commas outside parentheses, with each piece's
/// offset.
fn split_top(expr: &str) -> impl Iterator<Item = (&str, usize)> {
    let mut depth = 0u32;
    let mut start = 0;
    let mut pieces = Vec::new();
    for (at, c) in expr.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                pieces.push((&expr[start..at], start));
                start = at + 1;
            }
            _ => {}
        }
    }
    pieces.push((&expr[start..], start));
    pieces.into_iter()
}

/// Appends the sample of `fetch`: a header's last element (HAProxy's
/// `req.hdr`), the first string sample of a registered fetch, integers in
/// decimal.
fn write_sample(out: &mut String, fetch: &Fetch, req: &dyn Request) {
    let start = out.len();
    let last_element = |out: &mut String, v: &[u8]| {
        any_element(v, |e| {
            out.truncate(start);
            out.push_str(&String::from_utf8_lossy(e));
            false
        });
        false
    };
    match fetch {
        Fetch::Path => out.push_str(req.path()),
        Fetch::Url => out.push_str(req.url()),
        Fetch::Query => out.push_str(req.query().unwrap_or("")),
        Fetch::UrlParam(name) => {
            out.push_str(req.query().and_then(|q| url_param(q, name)).unwrap_or(""));
        }
        Fetch::Method => out.push_str(req.method()),
        Fetch::Host => out.push_str(req.host().map(host_only).unwrap_or("")),
        Fetch::Header(name) => {
            req.header_values(name, &mut |v| last_element(out, v));
        }
        Fetch::ResHeader(name) => {
            req.res_header_values(name, &mut |v| last_element(out, v));
        }
        Fetch::Src => {
            if let Some(ip) = req.src() {
                let _ = write!(out, "{ip}");
            }
        }
        Fetch::ReqSslSni => out.push_str(req.ssl_sni().unwrap_or("")),
        Fetch::SrcHttpReqRate(period) => {
            if let Some(n) = req.src_http_req_rate(*period) {
                let _ = write!(out, "{n}");
            }
        }
        Fetch::Status => {
            if let Some(s) = req.status() {
                let _ = write!(out, "{s}");
            }
        }
        Fetch::Custom(c) if c.is_integer() => {
            if let Some(n) = c.sample_int(req) {
                let _ = write!(out, "{n}");
            }
        }
        Fetch::Custom(c) => {
            c.sample(req, &mut |v| {
                out.push_str(&String::from_utf8_lossy(v));
                true
            });
        }
    }
}

/// Applies `conv` to `out[start..]`.
fn convert(out: &mut String, start: usize, conv: Conv) {
    match conv {
        Conv::Lower => out[start..].make_ascii_lowercase(),
        Conv::Upper => out[start..].make_ascii_uppercase(),
        Conv::Base64 => {
            // Short samples are copied to the stack, so that only the
            // result string is ever allocated for them.
            let mut stack = [0u8; 512];
            let len = out.len() - start;
            let engine = &base64::engine::general_purpose::STANDARD;
            if len <= stack.len() {
                stack[..len].copy_from_slice(&out.as_bytes()[start..]);
                out.truncate(start);
                engine.encode_string(&stack[..len], out);
            } else {
                let raw = out.split_off(start);
                engine.encode_string(raw.as_bytes(), out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TestReq as Req;

    fn value(text: &str) -> Value {
        Value::parse(text, 0, &Fetches::builtin()).unwrap()
    }

    fn error(text: &str) -> String {
        Value::parse(text, 0, &Fetches::builtin())
            .unwrap_err()
            .message
    }

    #[test]
    fn samples_are_replaced() {
        let req = Req::get("/Some/Path?id=42")
            .header("host", "Example.ORG:8080")
            .header("x-forwarded-for", "198.51.100.1, 203.0.113.9")
            .src("192.0.2.7");
        let cases = [
            ("plain", "plain"),
            ("%[src]", "192.0.2.7"),
            ("ip=%[src];", "ip=192.0.2.7;"),
            (
                "%[path]|%[url]|%[query]",
                "/Some/Path|/Some/Path?id=42|id=42",
            ),
            ("%[url_param(id)]", "42"),
            ("%[method]", "GET"),
            ("%[host]", "Example.ORG"),
            ("%[host,lower]", "example.org"),
            ("%[path,upper]", "/SOME/PATH"),
            ("%[hdr(x-forwarded-for)]", "203.0.113.9"),
            ("%[req.hdr(X-Forwarded-For)]", "203.0.113.9"),
            ("%[hdr(missing)]x", "x"),
            ("%[path,base64]", "L1NvbWUvUGF0aA=="),
            ("100%% sure, 50% off", "100% sure, 50% off"),
            ("%[status]", ""),
        ];
        for (text, want) in cases {
            assert_eq!(value(text).render(&req, "id-1"), want, "{text}");
        }
        assert_eq!(value("%[unique-id]").render(&req, "id-1"), "id-1");
        assert!(value("%[unique-id]").uses_unique_id());
        assert!(!value("%[src]").uses_unique_id());
        assert!(matches!(
            value("static").render(&req, ""),
            Cow::Borrowed("static")
        ));
    }

    #[test]
    fn bad_values_are_refused_with_their_position() {
        assert!(
            error("%[src").contains("without its `]`"),
            "{}",
            error("%[src")
        );
        assert!(error("%[]").contains("needs a fetch"));
        assert!(error("%[nope]").contains("unknown fetch `nope`"));
        assert!(error("%[src,rot13]").contains("unknown converter `rot13`"));
        assert!(error("%[unique-id,lower]").contains("no converter"));
        let e = Value::parse("a %[src,rot13]", 10, &Fetches::builtin()).unwrap_err();
        assert_eq!(e.offset, 10 + 8, "{e:?}");
    }
}
