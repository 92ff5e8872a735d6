//! `http_request` rules and `use_backend` lines.

use crate::token::{is_http_token, is_name, tokenize, Word};
use crate::{AclError, AclSet, Guard, Request, Value};
use regex::Regex;

/// The actions of `http_request`, as listed in error messages.
const ACTIONS: &str = "deny, allow, return, redirect, set-header, add-header, del-header, \
    replace-header, set-path, replace-path, replace-uri, set-src";

/// The actions of `http_response`, as listed in error messages.
const RESPONSE_ACTIONS: &str =
    "deny, allow, return, set-header, add-header, del-header, replace-header, set-status";

const IF_UNLESS: &str = "`if` or `unless`";

/// The redirect codes, as listed in error messages.
const REDIRECT_CODES: [u16; 5] = [301, 302, 303, 307, 308];

/// What an `http_request` or `http_response` rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpAction {
    /// `deny [status N]`: answer N (default 403, 502 in `http_response`)
    /// with a short body.
    Deny {
        /// Status code.
        status: u16,
    },
    /// `allow`: stop evaluating further `http_request` rules.
    Allow,
    /// `return status N [content-type T] [string S]`.
    Return {
        /// Status code (default 200).
        status: u16,
        /// Content type, if given.
        content_type: Option<String>,
        /// Body, if given (may hold `%[...]` samples).
        body: Option<Value>,
    },
    /// `redirect location URL [code N]` (default 302).
    RedirectLocation {
        /// Target URL (may hold `%[...]` samples).
        location: Value,
        /// 301, 302, 303, 307 or 308.
        code: u16,
    },
    /// `redirect scheme S [code N]`: same host and URL, other scheme.
    RedirectScheme {
        /// Usually `https`.
        scheme: String,
        /// 301, 302, 303, 307 or 308.
        code: u16,
    },
    /// `set-header H V`: replace every `H` with one `H: V`.
    SetHeader {
        /// Header name, lower case.
        name: String,
        /// Value (may hold `%[...]` samples).
        value: Value,
    },
    /// `add-header H V`: append `H: V`.
    AddHeader {
        /// Header name, lower case.
        name: String,
        /// Value (may hold `%[...]` samples).
        value: Value,
    },
    /// `replace-header H REGEX REPL`: each value of `H` that the regex
    /// matches is rewritten.
    ReplaceHeader {
        /// Header name, lower case.
        name: String,
        /// The rewrite.
        rewrite: Rewrite,
    },
    /// `replace-path REGEX REPL`: the path (without the query) rewritten.
    ReplacePath(Rewrite),
    /// `replace-uri REGEX REPL`: the request target (`path?query`)
    /// rewritten.
    ReplaceUri(Rewrite),
    /// `set-status N [reason R]` (`http_response` only).
    SetStatus {
        /// The new status.
        status: u16,
        /// The reason phrase, if given.
        reason: Option<String>,
    },
    /// `del-header H`.
    DelHeader {
        /// Header name, lower case.
        name: String,
    },
    /// `set-path P`.
    SetPath {
        /// The new path.
        path: String,
    },
    /// `set-src hdr(NAME)`: the client address becomes the last address in
    /// header `NAME` (a trusted forwarder's `X-Forwarded-For`), for the
    /// rules after it, the backend choice, `balance source`,
    /// `X-Forwarded-For` and the access log. Ignored when the header holds
    /// no address.
    SetSrc {
        /// Header name, lower case.
        header: String,
    },
}

impl HttpAction {
    /// The values with samples it writes (header values, `return` bodies,
    /// redirect locations).
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        let value = match self {
            HttpAction::SetHeader { value, .. } | HttpAction::AddHeader { value, .. } => {
                Some(value)
            }
            HttpAction::Return { body, .. } => body.as_ref(),
            HttpAction::RedirectLocation { location, .. } => Some(location),
            _ => None,
        };
        value.into_iter()
    }
}

/// A response fetch in a rule that runs before there is a response.
fn response_fetch(offset: usize, fetch: &crate::Fetch) -> AclError {
    let name = match fetch {
        crate::Fetch::Status => "status",
        _ => "res.hdr",
    };
    AclError::new(
        offset,
        format!("`{name}` reads the server's response: only `http_response` rules can use it"),
    )
}

/// One `http_request` or `http_response` line: an action and an optional
/// guard.
#[derive(Debug, Clone)]
pub struct HttpRule {
    /// The action.
    pub action: HttpAction,
    /// `if`/`unless` condition; `None` applies always.
    pub guard: Option<Guard>,
}

impl HttpRule {
    /// Parses an `http_request` line such as
    /// `deny status 429 if { hdr(user-agent) -m sub badbot }`.
    pub fn parse(text: &str, acls: &AclSet) -> Result<HttpRule, AclError> {
        Self::parse_in(text, acls, false)
    }

    /// Parses an `http_response` line such as
    /// `set-header X-Cache miss if { status 200 }`; its conditions and
    /// values may also read the response (`status`, `res.hdr(NAME)`).
    pub fn parse_response(text: &str, acls: &AclSet) -> Result<HttpRule, AclError> {
        Self::parse_in(text, acls, true)
    }

    fn parse_in(text: &str, acls: &AclSet, response: bool) -> Result<HttpRule, AclError> {
        let actions = if response { RESPONSE_ACTIONS } else { ACTIONS };
        let words = tokenize(text)?;
        let Some((verb, args)) = words.split_first() else {
            return Err(AclError::new(
                0,
                format!("missing action (supported: {actions})"),
            ));
        };
        let request_only = [
            "redirect",
            "set-path",
            "replace-path",
            "replace-uri",
            "set-src",
        ];
        let known = if response {
            RESPONSE_ACTIONS.split(", ").any(|a| a == verb.text)
        } else {
            verb.text != "set-status"
        };
        if !known || (response && request_only.contains(&verb.text.as_str())) {
            return Err(AclError::new(
                verb.offset,
                format!("unknown action `{}` (supported: {actions})", verb.text),
            ));
        }
        let fetches = acls.fetches();
        let mut args = Args { words: args, at: 0 };
        let (action, expected) = match verb.text.as_str() {
            "deny" => {
                let mut status = if response { 502 } else { 403 };
                let mut expected = "`status`, `if` or `unless`";
                if let Some(key) = args.keyword(&["status", "deny_status"]) {
                    status = parse_status(args.value(key, "a status code")?, "deny", 200)?;
                    expected = IF_UNLESS;
                }
                (HttpAction::Deny { status }, expected)
            }
            "allow" => (HttpAction::Allow, IF_UNLESS),
            "return" => (
                parse_return(&mut args, fetches)?,
                "`status`, `content-type`, `string`, `if` or `unless`",
            ),
            "redirect" => parse_redirect(verb, &mut args, fetches)?,
            "set-header" | "add-header" => {
                let name = header_name(args.value(verb, "a header name and a value")?)?;
                let value = args.value(verb, "a header name and a value")?;
                check_field(value, "header value")?;
                let value = Value::parse(&value.text, value.offset, fetches)?;
                let action = if verb.text == "set-header" {
                    HttpAction::SetHeader { name, value }
                } else {
                    HttpAction::AddHeader { name, value }
                };
                (
                    action,
                    "`if` or `unless`; quote a value that contains spaces",
                )
            }
            "del-header" => {
                let name = header_name(args.value(verb, "a header name")?)?;
                (HttpAction::DelHeader { name }, IF_UNLESS)
            }
            "set-path" => {
                let path = args.value(verb, "a path")?;
                if !path.text.starts_with('/') {
                    return Err(AclError::new(
                        path.offset,
                        format!(
                            "invalid path `{}` for `set-path`: it must start with `/`",
                            path.text.escape_debug()
                        ),
                    ));
                }
                if path
                    .text
                    .bytes()
                    .any(|c| c.is_ascii_control() || c == b' ' || c == b'?' || c == b'#')
                {
                    return Err(AclError::new(
                        path.offset,
                        format!(
                            "invalid path `{}` for `set-path`: no spaces, control characters, `?` or `#`",
                            path.text.escape_debug()
                        ),
                    ));
                }
                (
                    HttpAction::SetPath {
                        path: path.text.clone(),
                    },
                    IF_UNLESS,
                )
            }
            "replace-header" => {
                let name =
                    header_name(args.value(verb, "a header name, a regex and a replacement")?)?;
                let rewrite = parse_replace(verb, &mut args)?;
                (HttpAction::ReplaceHeader { name, rewrite }, IF_UNLESS)
            }
            "replace-path" | "replace-uri" => {
                let rewrite = parse_replace(verb, &mut args)?;
                let action = if verb.text == "replace-path" {
                    HttpAction::ReplacePath(rewrite)
                } else {
                    HttpAction::ReplaceUri(rewrite)
                };
                (action, IF_UNLESS)
            }
            "set-status" => {
                let status = parse_status(args.value(verb, "a status code")?, "set-status", 100)?;
                let mut reason = None;
                let mut expected = "`reason`, `if` or `unless`";
                if let Some(key) = args.keyword(&["reason"]) {
                    let value = args.value(key, "a reason phrase")?;
                    check_field(value, "reason phrase")?;
                    reason = Some(value.text.clone());
                    expected = IF_UNLESS;
                }
                (HttpAction::SetStatus { status, reason }, expected)
            }
            "set-src" => {
                let fetch = args.value(verb, "a fetch: `hdr(NAME)`")?;
                let inner = fetch
                    .text
                    .strip_prefix("hdr(")
                    .or_else(|| fetch.text.strip_prefix("req.hdr("))
                    .and_then(|t| t.strip_suffix(')'));
                let Some(name) = inner else {
                    return Err(AclError::new(
                        fetch.offset,
                        format!(
                            "`set-src` takes `hdr(NAME)` (e.g. `hdr(x-forwarded-for)`), not `{}`",
                            fetch.text.escape_debug()
                        ),
                    ));
                };
                let header = header_name(&Word {
                    text: name.to_string(),
                    offset: fetch.offset + fetch.text.find('(').map_or(0, |i| i + 1),
                    quoted: false,
                })?;
                (HttpAction::SetSrc { header }, IF_UNLESS)
            }
            other => {
                return Err(AclError::new(
                    verb.offset,
                    format!("unknown action `{other}` (supported: {ACTIONS})"),
                ));
            }
        };
        let rest = args.rest();
        let guard = Guard::from_words(rest, acls, text.len(), expected)?;
        if !response {
            let in_guard = guard.iter().flat_map(|g| g.cond.acls()).map(|a| a.fetch());
            if let Some(fetch) = in_guard
                .chain(action.values().flat_map(Value::fetches))
                .find(|f| f.is_response())
            {
                let at = rest.first().map_or(verb.offset, |w| w.offset);
                return Err(response_fetch(at, fetch));
            }
        }
        Ok(HttpRule { action, guard })
    }

    /// Whether the rule applies to this request.
    pub fn applies(&self, req: &dyn Request) -> bool {
        self.guard.as_ref().is_none_or(|g| g.holds(req))
    }
}

/// What a `tcp_request` rule does with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TcpAction {
    /// `accept`: let the connection through; later rules are not evaluated.
    Accept,
    /// `reject`: close the connection at once.
    Reject,
}

/// One `tcp_request` line of a `mode: tcp` frontend:
/// `accept|reject [if|unless COND]` (HAProxy's `tcp-request content`).
/// The first rule that applies decides; a connection no rule applies to is
/// accepted.
#[derive(Debug, Clone)]
pub struct TcpRule {
    /// The action.
    pub action: TcpAction,
    /// `if`/`unless` condition; `None` applies always.
    pub guard: Option<Guard>,
}

impl TcpRule {
    /// Parses `reject if { src 10.0.0.0/8 }`.
    pub fn parse(text: &str, acls: &AclSet) -> Result<TcpRule, AclError> {
        let words = tokenize(text)?;
        let Some((verb, rest)) = words.split_first() else {
            return Err(AclError::new(
                0,
                "missing action (supported: accept, reject)",
            ));
        };
        let action = match verb.text.as_str() {
            "accept" if !verb.quoted => TcpAction::Accept,
            "reject" if !verb.quoted => TcpAction::Reject,
            other => {
                return Err(AclError::new(
                    verb.offset,
                    format!("unknown action `{other}` (supported: accept, reject)"),
                ));
            }
        };
        let guard = Guard::from_words(rest, acls, text.len(), IF_UNLESS)?;
        Ok(TcpRule { action, guard })
    }

    /// Whether the rule applies to this connection.
    pub fn applies(&self, req: &dyn Request) -> bool {
        self.guard.as_ref().is_none_or(|g| g.holds(req))
    }
}

/// One `use_backend` line: `BACKEND [if|unless COND]`.
#[derive(Debug, Clone)]
pub struct UseBackend {
    /// The backend's name (the config loader checks it exists).
    pub backend: String,
    /// Byte offset of the backend name in the line (for error columns).
    pub backend_offset: usize,
    /// `None` applies always.
    pub guard: Option<Guard>,
}

impl UseBackend {
    /// Parses `light if lightwork`.
    pub fn parse(text: &str, acls: &AclSet) -> Result<UseBackend, AclError> {
        let words = tokenize(text)?;
        let Some((name, rest)) = words.split_first() else {
            return Err(AclError::new(0, "missing backend name"));
        };
        if !is_name(&name.text) {
            return Err(AclError::new(
                name.offset,
                format!(
                    "invalid backend name `{}` (names are [A-Za-z0-9_.-]+)",
                    name.text
                ),
            ));
        }
        let guard = Guard::from_words(rest, acls, text.len(), IF_UNLESS)?;
        let mut fetches = guard.iter().flat_map(|g| g.cond.acls()).map(|a| a.fetch());
        if let Some(fetch) = fetches.find(|f| f.is_response()) {
            let at = rest.first().map_or(name.offset, |w| w.offset);
            return Err(response_fetch(at, fetch));
        }
        drop(fetches);
        Ok(UseBackend {
            backend: name.text.clone(),
            backend_offset: name.offset,
            guard,
        })
    }

    /// Whether this line selects its backend for the request.
    pub fn applies(&self, req: &dyn Request) -> bool {
        self.guard.as_ref().is_none_or(|g| g.holds(req))
    }
}

/// The words after an action, consumed left to right.
struct Args<'w> {
    words: &'w [Word],
    at: usize,
}

impl<'w> Args<'w> {
    /// Consumes the next word if it is one of `keys`, written bare.
    fn keyword(&mut self, keys: &[&str]) -> Option<&'w Word> {
        let word = self.words.get(self.at)?;
        if keys.iter().any(|k| word.is_bare(k)) {
            self.at += 1;
            Some(word)
        } else {
            None
        }
    }

    /// Consumes the value that must follow `key`.
    fn value(&mut self, key: &Word, what: &str) -> Result<&'w Word, AclError> {
        let word = self
            .words
            .get(self.at)
            .ok_or_else(|| AclError::new(key.offset, format!("`{}` needs {what}", key.text)))?;
        self.at += 1;
        Ok(word)
    }

    /// The words not consumed yet.
    fn rest(&self) -> &'w [Word] {
        self.words.get(self.at..).unwrap_or_default()
    }
}

/// `return [status N] [content-type T] [string S]`, options in any order.
fn parse_return(args: &mut Args<'_>, fetches: &crate::Fetches) -> Result<HttpAction, AclError> {
    let mut status = None;
    let mut content_type = None;
    let mut body = None;
    while let Some(key) = args.keyword(&["status", "content-type", "string"]) {
        let value = match key.text.as_str() {
            "status" => args.value(key, "a status code")?,
            "content-type" => args.value(key, "a media type")?,
            _ => args.value(key, "a body")?,
        };
        let (slot, given) = match key.text.as_str() {
            "status" => {
                let previous = status.replace(parse_status(value, "return", 100)?);
                ("status", previous.is_some())
            }
            "content-type" => {
                check_field(value, "content type")?;
                (
                    "content-type",
                    content_type.replace(value.text.clone()).is_some(),
                )
            }
            _ => {
                let value = Value::parse(&value.text, value.offset, fetches)?;
                ("string", body.replace(value).is_some())
            }
        };
        if given {
            return Err(AclError::new(key.offset, format!("`{slot}` given twice")));
        }
    }
    Ok(HttpAction::Return {
        status: status.unwrap_or(200),
        content_type,
        body,
    })
}

/// `redirect location URL [code N]` or `redirect scheme S [code N]`.
fn parse_redirect(
    verb: &Word,
    args: &mut Args<'_>,
    fetches: &crate::Fetches,
) -> Result<(HttpAction, &'static str), AclError> {
    let kind = args.value(verb, "`location URL` or `scheme SCHEME`")?;
    let target = match kind.text.as_str() {
        "location" | "scheme" if !kind.quoted => args.value(kind, "a value")?,
        other => {
            return Err(AclError::new(
                kind.offset,
                format!("unknown redirect type `{other}` (supported: location, scheme)"),
            ));
        }
    };
    let mut code = 302;
    let mut expected = "`code`, `if` or `unless`";
    if let Some(key) = args.keyword(&["code"]) {
        let value = args.value(key, "a redirect code")?;
        code = match value.text.parse::<u16>() {
            Ok(c) if REDIRECT_CODES.contains(&c) => c,
            _ => {
                return Err(AclError::new(
                    value.offset,
                    format!(
                        "invalid redirect code `{}` (valid: 301, 302, 303, 307, 308)",
                        value.text
                    ),
                ));
            }
        };
        expected = IF_UNLESS;
    }
    let action = if kind.text == "location" {
        if target.text.is_empty() {
            return Err(AclError::new(target.offset, "empty redirect location"));
        }
        check_field(target, "redirect location")?;
        HttpAction::RedirectLocation {
            location: Value::parse(&target.text, target.offset, fetches)?,
            code,
        }
    } else {
        let mut chars = target.text.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !valid {
            return Err(AclError::new(
                target.offset,
                format!("invalid scheme `{}`", target.text.escape_debug()),
            ));
        }
        HttpAction::RedirectScheme {
            scheme: target.text.to_ascii_lowercase(),
            code,
        }
    };
    Ok((action, expected))
}

/// The `REGEX REPLACEMENT` of the `replace-*` actions, compiled at load.
#[derive(Debug, Clone)]
pub struct Rewrite {
    regex: Regex,
    /// In the regex crate's syntax (`${1}`).
    replacement: String,
}

impl Rewrite {
    /// Compiles `pattern` and `replacement`. As in HAProxy, `\1` .. `\9`
    /// in the replacement stand for the regex's groups; `$` is literal.
    pub fn new(pattern: &str, replacement: &str) -> Result<Rewrite, regex::Error> {
        let regex = Regex::new(pattern)?;
        let mut out = String::with_capacity(replacement.len());
        let mut chars = replacement.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek().is_some_and(char::is_ascii_digit) => {
                    out.push_str("${");
                    out.extend(chars.next());
                    out.push('}');
                }
                '$' => out.push_str("$$"),
                c => out.push(c),
            }
        }
        Ok(Rewrite {
            regex,
            replacement: out,
        })
    }

    /// The replacement, its group references filled in, when the regex
    /// matches `input`; else `None`. As in HAProxy, a matching value is
    /// replaced as a whole (`replace-path /foo /bar` turns `/x/foo/y` into
    /// `/bar`): anchor the regex and capture what should be kept.
    pub fn apply(&self, input: &str) -> Option<String> {
        let caps = self.regex.captures(input)?;
        let mut out = String::with_capacity(input.len() + self.replacement.len());
        caps.expand(&self.replacement, &mut out);
        Some(out)
    }

    /// The regex as written.
    pub fn pattern(&self) -> &str {
        self.regex.as_str()
    }
}

impl PartialEq for Rewrite {
    fn eq(&self, other: &Self) -> bool {
        self.regex.as_str() == other.regex.as_str() && self.replacement == other.replacement
    }
}

impl Eq for Rewrite {}

/// `REGEX REPLACEMENT` of the `replace-*` actions.
fn parse_replace(verb: &Word, args: &mut Args<'_>) -> Result<Rewrite, AclError> {
    let what = "a regex and a replacement";
    let pattern = args.value(verb, what)?;
    let replacement = args.value(verb, what)?;
    check_field(replacement, "replacement")?;
    Rewrite::new(&pattern.text, &replacement.text).map_err(|e| {
        AclError::new(
            pattern.offset,
            format!("invalid regex `{}`: {e}", pattern.text.escape_debug()),
        )
    })
}

/// A status code of `action` between `min` and 599.
fn parse_status(w: &Word, action: &str, min: u16) -> Result<u16, AclError> {
    match w.text.parse::<u16>() {
        Ok(s) if (min..=599).contains(&s) && w.text.bytes().all(|c| c.is_ascii_digit()) => Ok(s),
        _ => Err(AclError::new(
            w.offset,
            format!(
                "invalid status `{}` for `{action}` (expected {min}..=599)",
                w.text
            ),
        )),
    }
}

/// A header name, lower-cased.
fn header_name(w: &Word) -> Result<String, AclError> {
    if is_http_token(&w.text) {
        Ok(w.text.to_ascii_lowercase())
    } else {
        Err(AclError::new(
            w.offset,
            format!("invalid header name `{}`", w.text.escape_debug()),
        ))
    }
}

/// Rejects CR, LF and NUL, which would split or truncate a header.
fn check_field(w: &Word, what: &str) -> Result<(), AclError> {
    if w.text.contains(['\r', '\n', '\0']) {
        return Err(AclError::new(
            w.offset,
            format!("{what} must not contain CR, LF or NUL"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
