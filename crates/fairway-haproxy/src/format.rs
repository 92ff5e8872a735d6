//! HAProxy log-format arguments (`set-header` values, `redirect location`,
//! `return lf-string`) as fairway values, which take `%[FETCH,CONV...]`
//! samples, `%[unique-id]` and `%%`.
//!
//! A sample passes through when its fetch and converters are fairway's
//! (HAProxy's spellings mapped: `req.hdr(X)`, `urlp(X)`, `hdr(X,-1)`,
//! `req.ssl_sni`, the tracked request rate; in `http-response` rules
//! `hdr(X)` is the response's header, as in HAProxy). Of the log-format
//! variables, `%ci` (the client address) becomes `%[src]` and `%ID` (the
//! unique ID) `%[unique-id]`; the others, and `%{...}` flags, are refused
//! with the reason.

use super::parse::Word;
use super::rules::Scope;
use super::text::short;
use fairway_acl::{Fetches, Value};

/// The converters fairway's values have.
const CONVERTERS: &[&str] = &["lower", "upper", "base64"];

/// The log-format variables fairway has a sample for.
const VARIABLES: &[(&str, &str)] = &[("ci", "src"), ("ID", "unique-id")];

/// A piece of a value: literal text, or a sample expression (without its
/// `%[` and `]`).
enum Piece {
    Text(String),
    Sample(String),
}

/// A log-format argument as a fairway value (`response`: of an
/// `http-response` rule).
pub(crate) fn value(w: &Word, scope: &Scope, response: bool) -> Result<Word, String> {
    let text = convert(&w.text, scope, response)?;
    let fw = convert(&w.fw, scope, response)?;
    Ok(Word {
        text,
        fw,
        quoted: w.quoted,
        env: w.env,
    })
}

/// A literal argument (HAProxy's `return ... string`) as a fairway value:
/// a `%` that fairway would read as `%%` or `%[` is doubled.
pub(crate) fn literal(w: &Word) -> Word {
    let text = write(&[Piece::Text(w.text.clone())]);
    let fw = write(&[Piece::Text(w.fw.clone())]);
    Word {
        text,
        fw,
        quoted: w.quoted,
        env: w.env,
    }
}

fn convert(t: &str, scope: &Scope, response: bool) -> Result<String, String> {
    let mut pieces: Vec<Piece> = Vec::new();
    let mut text = String::new();
    let mut chars = t.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c != '%' {
            text.push(c);
            continue;
        }
        match chars.peek().map(|&(_, n)| n) {
            Some('%') => {
                chars.next();
                text.push('%');
            }
            Some('[') => {
                chars.next();
                let start = at + 2;
                let mut depth = 0u32;
                let mut end = None;
                for (i, c) in chars.by_ref() {
                    match c {
                        '(' => depth += 1,
                        ')' => depth = depth.saturating_sub(1),
                        ']' if depth == 0 => {
                            end = Some(i);
                            break;
                        }
                        _ => {}
                    }
                }
                let Some(end) = end else {
                    return Err(format!("`{}`: `%[` without its `]`", &t[at..]));
                };
                let expr = sample(&t[start..end], scope, response)?;
                pieces.push(Piece::Text(std::mem::take(&mut text)));
                pieces.push(Piece::Sample(expr));
            }
            Some('{') => {
                let flags: String = t[at..].chars().take_while(|&c| c != '}').collect();
                return Err(format!("`{flags}}}`: fairway has no log-format flags"));
            }
            Some(n) if n.is_ascii_alphabetic() => {
                let mut name = String::new();
                while let Some((_, c)) = chars.next_if(|(_, c)| c.is_ascii_alphanumeric()) {
                    name.push(c);
                }
                match VARIABLES.iter().find(|(v, _)| *v == name) {
                    Some((_, fetch)) => {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                        pieces.push(Piece::Sample((*fetch).to_string()));
                    }
                    None => {
                        return Err(format!(
                            "`%{name}` is an HAProxy log-format variable fairway does not have \
                             (it evaluates `%[FETCH]` samples; `%ci` and `%ID` are converted)"
                        ))
                    }
                }
            }
            // HAProxy reads any other `%` as written.
            _ => text.push('%'),
        }
    }
    pieces.push(Piece::Text(text));
    Ok(write(&pieces))
}

/// One sample expression, `FETCH[,CONV...]`, for fairway.
pub(crate) fn sample(expr: &str, scope: &Scope, response: bool) -> Result<String, String> {
    let mut parts = split_top(expr).into_iter();
    let first = parts.next().unwrap_or_default().trim().to_string();
    let mut fetch = first.clone();
    // In `http-response` rules, HAProxy's `hdr` is the response's.
    if response {
        if let Some(tail) = fetch.strip_prefix("hdr(") {
            fetch = format!("res.hdr({tail}");
        }
    }
    for (from, to) in [
        ("req.ssl_sni", "req_ssl_sni"),
        ("req.hdr(", "hdr("),
        ("urlp(", "url_param("),
    ] {
        if let Some(tail) = fetch.strip_prefix(from) {
            fetch = format!("{to}{tail}");
        }
    }
    if let Some(rate) = scope.rate_fetch(&fetch) {
        fetch = rate;
    }
    // `hdr(X,-1)`: the last occurrence, which is what fairway gives.
    for name in ["hdr(", "res.hdr(", "shdr("] {
        let Some(args) = fetch.strip_prefix(name).and_then(|a| a.strip_suffix(')')) else {
            continue;
        };
        if let Some((header, occ)) = args.split_once(',') {
            if occ.trim() != "-1" {
                return Err(format!(
                    "`%[{expr}]`: fairway's `{name}NAME)` gives the last occurrence only"
                ));
            }
            fetch = format!("{name}{})", header.trim());
        }
    }
    let mut out = fetch.clone();
    for conv in parts {
        let conv = conv.trim();
        if !CONVERTERS.contains(&conv) {
            return Err(format!(
                "`%[{expr}]`: fairway has no converter `{conv}` (it has {})",
                CONVERTERS.join(", ")
            ));
        }
        out.push(',');
        out.push_str(conv);
    }
    if fetch != "unique-id" {
        Value::parse(&format!("%[{fetch}]"), 0, &Fetches::builtin())
            .map_err(|e| format!("`%[{expr}]`: {}", short(&e.message)))?;
    }
    Ok(out)
}

/// Splits at the commas outside parentheses.
fn split_top(expr: &str) -> Vec<&str> {
    let mut depth = 0u32;
    let mut start = 0;
    let mut out = Vec::new();
    for (i, c) in expr.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&expr[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&expr[start..]);
    out
}

/// Writes pieces as a fairway value: samples as `%[...]`, a literal `%`
/// as `%%` where fairway would otherwise read `%%` or `%[`, else as `%`.
fn write(pieces: &[Piece]) -> String {
    let mut out = String::new();
    for (i, p) in pieces.iter().enumerate() {
        match p {
            Piece::Sample(e) => {
                out.push_str("%[");
                out.push_str(e);
                out.push(']');
            }
            Piece::Text(t) => {
                let next_is_sample = matches!(pieces.get(i + 1), Some(Piece::Sample(_)));
                let mut chars = t.chars().peekable();
                while let Some(c) = chars.next() {
                    out.push(c);
                    if c == '%' {
                        let escape = match chars.peek() {
                            Some(n) => *n == '%' || *n == '[',
                            None => next_is_sample,
                        };
                        if escape {
                            out.push('%');
                        }
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::parse::line;
    use super::*;

    fn w(t: &str) -> Word {
        line(1, &format!("x '{t}'")).unwrap().words.remove(1)
    }

    fn req(t: &str) -> Result<String, String> {
        value(&w(t), &Scope::default(), false).map(|w| w.text)
    }

    fn res(t: &str) -> Result<String, String> {
        value(&w(t), &Scope::default(), true).map(|w| w.text)
    }

    #[test]
    fn samples_pass_through_with_haproxy_names_mapped() {
        assert_eq!(req("%[src]").unwrap(), "%[src]");
        assert_eq!(req("ip=%[src];").unwrap(), "ip=%[src];");
        assert_eq!(req("%[req.hdr(Host),lower]").unwrap(), "%[hdr(Host),lower]");
        assert_eq!(
            req("%[hdr(x-forwarded-for,-1)]").unwrap(),
            "%[hdr(x-forwarded-for)]"
        );
        assert_eq!(req("%[urlp(id)]").unwrap(), "%[url_param(id)]");
        assert_eq!(req("%[path,base64]").unwrap(), "%[path,base64]");
        assert_eq!(req("%[unique-id]").unwrap(), "%[unique-id]");
        assert_eq!(req("%ci:%[method]").unwrap(), "%[src]:%[method]");
        assert_eq!(req("id-%ID").unwrap(), "id-%[unique-id]");
        // `hdr` of a response rule is the response's header.
        assert_eq!(res("%[hdr(server)]").unwrap(), "%[res.hdr(server)]");
        assert_eq!(res("%[req.hdr(host)]").unwrap(), "%[hdr(host)]");
        assert_eq!(res("%[status] %[shdr(x)]").unwrap(), "%[status] %[shdr(x)]");
        // The tracked request rate.
        let scope = Scope {
            rate: Some(("0".into(), "10s".into())),
            ..Scope::default()
        };
        let v = value(&w("%[sc0_http_req_rate]"), &scope, false).unwrap();
        assert_eq!(v.text, "%[src_http_req_rate(10s)]");
    }

    #[test]
    fn percent_signs_keep_their_meaning() {
        assert_eq!(req("100%%").unwrap(), "100%");
        assert_eq!(req("50% off").unwrap(), "50% off");
        assert_eq!(req("%%[src]").unwrap(), "%%[src]");
        assert_eq!(req("%%%%").unwrap(), "%%%");
        assert_eq!(req("a%%%[src]").unwrap(), "a%%%[src]");
        assert_eq!(literal(&w("100%[x] %% 5%")).text, "100%%[x] %%% 5%");
    }

    #[test]
    fn what_fairway_cannot_evaluate_is_refused() {
        let e = req("%s").unwrap_err();
        assert!(e.contains("log-format variable"), "{e}");
        assert!(req("x %{+Q}[src]")
            .unwrap_err()
            .contains("log-format flags"));
        assert!(req("%[var(txn.x)]")
            .unwrap_err()
            .contains("unknown fetch `var`"));
        assert!(req("%[src,hex]").unwrap_err().contains("converter `hex`"));
        assert!(req("%[hdr(x,1)]").unwrap_err().contains("last occurrence"));
        assert!(req("%[src").unwrap_err().contains("without its `]`"));
    }
}
