//! One ACL line (`FETCH [FLAGS] VALUE...`) and the named set of a frontend.

use crate::matcher::Matcher;
use crate::sample::{any_element, host_only, url_param};
use crate::token::{is_http_token, is_name, tokenize, Word};
use crate::{AclError, CustomFetch, Fetches, Request};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The sample fetch an ACL reads from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fetch {
    /// `path` and its `path_*` variants.
    Path,
    /// `url`, `url_beg`.
    Url,
    /// `query`.
    Query,
    /// `url_param(name)`.
    UrlParam(String),
    /// `method`.
    Method,
    /// `hdr(name)` and its `hdr_*` variants; the name is stored lower case.
    Header(String),
    /// `host`: the Host header without port, compared case-insensitively.
    Host,
    /// `src`: the client IP address.
    Src,
    /// `req_ssl_sni` (also `req.ssl_sni`): the server name of a TLS
    /// ClientHello, read by a `mode: tcp` frontend (TLS passthrough) or
    /// taken from the handshake of a TLS-terminating one; compared
    /// case-insensitively.
    ReqSslSni,
    /// `src_http_req_rate(PERIOD)`: the number of HTTP requests the client
    /// IP made over the sliding `PERIOD`, this one included (an integer
    /// sample, compared with `gt ge lt le eq N`).
    SrcHttpReqRate(Duration),
    /// `status`: the status of the server's response (an integer sample;
    /// `http_response` rules only).
    Status,
    /// `res.hdr(name)` (also `shdr(name)`): a header of the server's
    /// response (`http_response` rules only); the name is stored lower case.
    ResHeader(String),
    /// A fetch registered in [`Fetches`] with [`Fetches::add`] (a
    /// [`SampleFetch`](crate::SampleFetch)), with the name and argument the
    /// ACL line wrote.
    Custom(CustomFetch),
}

impl Fetch {
    /// Whether the fetch reads an HTTP request, so that only `mode: http`
    /// frontends can use it (`src` and `req_ssl_sni` work at layer 4).
    pub fn is_http(&self) -> bool {
        match self {
            Fetch::Custom(c) => c.is_http(),
            _ => !matches!(self, Fetch::Src | Fetch::ReqSslSni),
        }
    }

    /// Whether its samples are integers (compared with `-m int`: `gt ge lt
    /// le eq N`, `N`, `A:B`) rather than strings.
    pub fn is_integer(&self) -> bool {
        match self {
            Fetch::SrcHttpReqRate(_) | Fetch::Status => true,
            Fetch::Custom(c) => c.is_integer(),
            _ => false,
        }
    }

    /// Whether the fetch reads the server's response (`status`,
    /// `res.hdr`), so that only `http_response` rules can use it.
    pub fn is_response(&self) -> bool {
        matches!(self, Fetch::Status | Fetch::ResHeader(_))
    }

    /// The period of a `src_http_req_rate(PERIOD)` fetch: the proxy keeps
    /// one request-rate table per period a frontend's rules use.
    pub fn rate_period(&self) -> Option<Duration> {
        match self {
            Fetch::SrcHttpReqRate(period) => Some(*period),
            _ => None,
        }
    }
}

/// How a sample is compared with the ACL's values (`-m ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// `-m str`: exact.
    Str,
    /// `-m beg`: prefix.
    Beg,
    /// `-m end`: suffix.
    End,
    /// `-m sub`: substring.
    Sub,
    /// `-m dir`: slash-delimited segment(s).
    Dir,
    /// `-m dom`: dot-delimited domain part(s).
    Dom,
    /// `-m reg`: regular expression.
    Reg,
    /// `-m found`: the fetch produced a sample at all.
    Found,
    /// IP address or CIDR (the only match of `src`, besides `found`); as
    /// `-m ip` it also reads a string sample as an address, e.g.
    /// `hdr(x-real-ip) -m ip 10.0.0.0/8`.
    Ip,
    /// `-m int`: integer comparison (`gt ge lt le eq N`, `N`, `A:B`); the
    /// only match of integer fetches such as `src_http_req_rate`, besides
    /// `found`.
    Int,
}

/// The fetch keywords, as listed in error messages.
const KNOWN_FETCHES: &str = "path, path_beg, path_end, path_sub, path_dir, path_reg, url, \
    url_beg, query, url_param(NAME), method, hdr(NAME), hdr_beg(NAME), hdr_end(NAME), \
    hdr_sub(NAME), hdr_reg(NAME), req.hdr(NAME), host, src, req_ssl_sni, \
    src_http_req_rate(PERIOD), status, res.hdr(NAME), shdr(NAME)";

/// The longest `src_http_req_rate` period.
const MAX_RATE_PERIOD: Duration = Duration::from_secs(24 * 3600);

/// The `-m` methods, as listed in error messages.
const KNOWN_METHODS: &str = "str, beg, end, sub, dir, dom, reg, ip, int, found";

impl MatchKind {
    fn from_name(name: &str) -> Option<MatchKind> {
        Some(match name {
            "str" => MatchKind::Str,
            "beg" => MatchKind::Beg,
            "end" => MatchKind::End,
            "sub" => MatchKind::Sub,
            "dir" => MatchKind::Dir,
            "dom" => MatchKind::Dom,
            "reg" => MatchKind::Reg,
            "ip" => MatchKind::Ip,
            "int" => MatchKind::Int,
            "found" => MatchKind::Found,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            MatchKind::Str => "str",
            MatchKind::Beg => "beg",
            MatchKind::End => "end",
            MatchKind::Sub => "sub",
            MatchKind::Dir => "dir",
            MatchKind::Dom => "dom",
            MatchKind::Reg => "reg",
            MatchKind::Found => "found",
            MatchKind::Ip => "ip",
            MatchKind::Int => "int",
        }
    }
}

/// A compiled ACL: fetch, flags and values, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Acl {
    fetch: Fetch,
    kind: MatchKind,
    icase: bool,
    matcher: Matcher,
}

impl Acl {
    /// Parses and compiles one ACL line such as `path_beg -i /api/ /v1/`
    /// with the built-in fetches.
    pub fn parse(line: &str) -> Result<Acl, AclError> {
        Acl::parse_with(line, &Fetches::shared_builtin())
    }

    /// As [`Acl::parse`], with the fetches of `fetches` (built-in and
    /// registered ones).
    pub fn parse_with(line: &str, fetches: &Fetches) -> Result<Acl, AclError> {
        let words = tokenize(line)?;
        if words.is_empty() {
            return Err(AclError::new(
                0,
                "empty ACL: expected `FETCH [FLAGS] VALUE...`",
            ));
        }
        Acl::from_words(&words, fetches)
    }

    /// Compiles an ACL from its words (at least one), whose offsets are kept
    /// in errors; used for anonymous `{ ... }` ACLs of conditions too.
    pub(crate) fn from_words(words: &[Word], fetches: &Fetches) -> Result<Acl, AclError> {
        let Some((fetch_word, rest)) = words.split_first() else {
            return Err(AclError::new(
                0,
                "empty ACL: expected `FETCH [FLAGS] VALUE...`",
            ));
        };
        let (fetch, default_kind) = fetches.compile(fetch_word)?;

        // Flags.
        let mut icase = false;
        let mut method: Option<MatchKind> = None;
        let mut at = 0;
        while let Some(flag) = rest.get(at) {
            if flag.quoted || !flag.text.starts_with('-') {
                break;
            }
            at += 1;
            match flag.text.as_str() {
                "-i" => icase = true,
                "--" => break,
                "-m" => {
                    let Some(name) = rest.get(at) else {
                        return Err(AclError::new(
                            flag.offset,
                            format!("`-m` needs a match method (valid: {KNOWN_METHODS})"),
                        ));
                    };
                    at += 1;
                    let Some(kind) = MatchKind::from_name(&name.text) else {
                        return Err(AclError::new(
                            name.offset,
                            format!(
                                "unknown match method `{}` (valid: {KNOWN_METHODS})",
                                name.text
                            ),
                        ));
                    };
                    if method.is_some() {
                        return Err(AclError::new(flag.offset, "`-m` given twice"));
                    }
                    method = Some(kind);
                }
                other => {
                    return Err(AclError::new(
                        flag.offset,
                        format!(
                            "unknown flag `{other}` (valid: -i, -m METHOD, --; \
                             write `--` before a value that starts with `-`)"
                        ),
                    ));
                }
            }
        }
        let values = rest.get(at..).unwrap_or_default();

        let kind = method.unwrap_or(default_kind);
        if fetch == Fetch::Src && !matches!(kind, MatchKind::Ip | MatchKind::Found) {
            return Err(AclError::new(
                fetch_word.offset,
                format!(
                    "`-m {}` cannot be used with `src` (it matches IP addresses and CIDRs)",
                    kind.name()
                ),
            ));
        }
        let integer = fetch.is_integer();
        if integer != (kind == MatchKind::Int) && kind != MatchKind::Found {
            let message = if integer {
                format!(
                    "`-m {}` cannot be used with `{}` (it gives an integer: \
                     compare with `gt ge lt le eq N`)",
                    kind.name(),
                    fetch_word.text
                )
            } else {
                format!(
                    "`-m int` cannot be used with `{}` (it gives a string)",
                    fetch_word.text
                )
            };
            return Err(AclError::new(fetch_word.offset, message));
        }
        if kind == MatchKind::Found {
            if let Some(extra) = values.first() {
                return Err(AclError::new(extra.offset, "`-m found` takes no values"));
            }
        } else if values.is_empty() {
            return Err(AclError::new(
                fetch_word.offset,
                format!("`{}` needs at least one value to match", fetch_word.text),
            ));
        }
        // Host names are case-insensitive whatever the flags say.
        let icase = icase || matches!(fetch, Fetch::Host | Fetch::ReqSslSni);
        let matcher = if kind == MatchKind::Int {
            Matcher::compile_int(values)?
        } else {
            Matcher::compile(kind, icase, values)?
        };
        Ok(Acl {
            fetch,
            kind,
            icase,
            matcher,
        })
    }

    /// Whether the request matches (any of the values matches).
    pub fn matches(&self, req: &dyn Request) -> bool {
        let m = &self.matcher;
        match &self.fetch {
            Fetch::Path => m.matches_str(req.path().as_bytes()),
            Fetch::Url => m.matches_str(req.url().as_bytes()),
            Fetch::Query => req.query().is_some_and(|q| m.matches_str(q.as_bytes())),
            Fetch::UrlParam(name) => req
                .query()
                .and_then(|q| url_param(q, name))
                .is_some_and(|v| m.matches_str(v.as_bytes())),
            Fetch::Method => m.matches_str(req.method().as_bytes()),
            Fetch::Header(name) => {
                if let Matcher::Found = m {
                    req.header_values(name, &mut |_| true)
                } else {
                    req.header_values(name, &mut |v| any_element(v, |e| m.matches_str(e)))
                }
            }
            Fetch::Host => req
                .host()
                .is_some_and(|h| m.matches_str(host_only(h).as_bytes())),
            Fetch::Src => req.src().is_some_and(|ip| m.matches_ip(ip)),
            Fetch::ReqSslSni => req.ssl_sni().is_some_and(|n| m.matches_str(n.as_bytes())),
            Fetch::SrcHttpReqRate(period) => req
                .src_http_req_rate(*period)
                .is_some_and(|n| m.matches_int(i64::try_from(n).unwrap_or(i64::MAX))),
            Fetch::Status => req.status().is_some_and(|s| m.matches_int(i64::from(s))),
            Fetch::ResHeader(name) => {
                if let Matcher::Found = m {
                    req.res_header_values(name, &mut |_| true)
                } else {
                    req.res_header_values(name, &mut |v| any_element(v, |e| m.matches_str(e)))
                }
            }
            Fetch::Custom(c) => c.matches(req, m),
        }
    }

    /// The fetch this ACL reads.
    pub fn fetch(&self) -> &Fetch {
        &self.fetch
    }

    /// How samples are compared: the fetch's default or `-m`'s method.
    pub fn match_kind(&self) -> MatchKind {
        self.kind
    }

    /// Whether string comparisons ignore ASCII case (`-i`, and always for
    /// `host` and `req_ssl_sni`).
    pub fn ignore_case(&self) -> bool {
        self.icase
    }
}

/// The built-in fetch keywords [`Fetches::builtin`] registers, in the
/// order errors list them; `(X)` marks a required argument.
pub(crate) const BUILTIN_FETCHES: &str = KNOWN_FETCHES;

/// Parses a built-in fetch keyword such as `hdr_beg(Host)` into the fetch
/// and its default match (the factory of the built-in fetches of
/// [`Fetches::builtin`]).
pub(crate) fn parse_builtin(w: &Word) -> Result<(Fetch, MatchKind), AclError> {
    let unbalanced = || AclError::new(w.offset, format!("unbalanced parentheses in `{}`", w.text));
    let (name, arg) = match w.text.split_once('(') {
        Some((name, rest)) => match rest.strip_suffix(')') {
            Some(arg) if !arg.contains(['(', ')']) => (name, Some(arg)),
            _ => return Err(unbalanced()),
        },
        None if w.text.contains(')') => return Err(unbalanced()),
        None => (w.text.as_str(), None),
    };
    use MatchKind as M;
    let (fetch, kind) = match name {
        "path" => (Fetch::Path, M::Str),
        "path_beg" => (Fetch::Path, M::Beg),
        "path_end" => (Fetch::Path, M::End),
        "path_sub" => (Fetch::Path, M::Sub),
        "path_dir" => (Fetch::Path, M::Dir),
        "path_reg" => (Fetch::Path, M::Reg),
        "url" => (Fetch::Url, M::Str),
        "url_beg" => (Fetch::Url, M::Beg),
        "query" => (Fetch::Query, M::Str),
        "method" => (Fetch::Method, M::Str),
        "host" => (Fetch::Host, M::Str),
        "src" => (Fetch::Src, M::Ip),
        "req_ssl_sni" | "req.ssl_sni" => (Fetch::ReqSslSni, M::Str),
        "status" => (Fetch::Status, M::Int),
        "url_param" => {
            let name = required_arg(w, name, arg, "url_param(NAME)")?;
            if name.contains(['&', '=']) {
                return Err(AclError::new(
                    w.offset,
                    format!("invalid parameter name `{name}` in `{}`", w.text),
                ));
            }
            return Ok((Fetch::UrlParam(name.to_owned()), M::Str));
        }
        "hdr" | "hdr_beg" | "hdr_end" | "hdr_sub" | "hdr_reg" | "req.hdr" | "res.hdr" | "shdr" => {
            let header = required_arg(w, name, arg, &format!("{name}(NAME)"))?;
            if !is_http_token(header) {
                return Err(AclError::new(
                    w.offset,
                    format!("invalid header name `{header}` in `{}`", w.text),
                ));
            }
            let kind = match name {
                "hdr_beg" => M::Beg,
                "hdr_end" => M::End,
                "hdr_sub" => M::Sub,
                "hdr_reg" => M::Reg,
                _ => M::Str,
            };
            let header = header.to_ascii_lowercase();
            let fetch = if name == "res.hdr" || name == "shdr" {
                Fetch::ResHeader(header)
            } else {
                Fetch::Header(header)
            };
            return Ok((fetch, kind));
        }
        "src_http_req_rate" => {
            let text = required_arg(w, name, arg, "src_http_req_rate(PERIOD), e.g. `(10s)`")?;
            let period = humantime::parse_duration(text).map_err(|e| {
                AclError::new(
                    w.offset,
                    format!("invalid period `{text}` in `{}`: {e}", w.text),
                )
            })?;
            if period < Duration::from_millis(1) || period > MAX_RATE_PERIOD {
                return Err(AclError::new(
                    w.offset,
                    format!(
                        "period `{text}` of `{}` is out of range (1ms to 24h)",
                        w.text
                    ),
                ));
            }
            return Ok((Fetch::SrcHttpReqRate(period), M::Int));
        }
        _ => {
            return Err(AclError::new(
                w.offset,
                format!("unknown fetch `{name}` (known: {KNOWN_FETCHES})"),
            ));
        }
    };
    if arg.is_some() {
        return Err(AclError::new(
            w.offset,
            format!("`{name}` takes no argument"),
        ));
    }
    Ok((fetch, kind))
}

fn required_arg<'a>(
    w: &Word,
    name: &str,
    arg: Option<&'a str>,
    usage: &str,
) -> Result<&'a str, AclError> {
    match arg {
        Some(arg) if !arg.is_empty() => Ok(arg),
        _ => Err(AclError::new(
            w.offset,
            format!("`{name}` needs an argument: `{usage}`"),
        )),
    }
}

/// The named ACLs of one frontend, in definition order, and the fetches
/// its lines (and the anonymous ACLs of rules parsed against it) may use.
#[derive(Debug, Clone)]
pub struct AclSet {
    acls: Vec<(String, Arc<Acl>)>,
    index: HashMap<String, usize>,
    fetches: Arc<Fetches>,
}

impl Default for AclSet {
    fn default() -> Self {
        AclSet::with_fetches(Fetches::shared_builtin())
    }
}

impl AclSet {
    /// An empty set using the built-in fetches.
    pub fn new() -> Self {
        AclSet::default()
    }

    /// An empty set using `fetches`.
    pub fn with_fetches(fetches: Arc<Fetches>) -> Self {
        AclSet {
            acls: Vec::new(),
            index: HashMap::new(),
            fetches,
        }
    }

    /// The fetches of this set.
    pub fn fetches(&self) -> &Fetches {
        &self.fetches
    }

    /// The shared handle of [`AclSet::fetches`].
    pub fn fetches_arc(&self) -> &Arc<Fetches> {
        &self.fetches
    }

    /// Parses `line` with this set's fetches (see [`Acl::parse_with`]).
    pub fn parse(&self, line: &str) -> Result<Acl, AclError> {
        Acl::parse_with(line, &self.fetches)
    }

    /// Adds a named ACL. Errors when the name is not `[A-Za-z0-9_.-]+` or is
    /// already defined.
    pub fn insert(&mut self, name: &str, acl: Acl) -> Result<(), AclError> {
        if !is_name(name) {
            return Err(AclError::new(
                0,
                format!("invalid ACL name `{name}` (names are [A-Za-z0-9_.-]+)"),
            ));
        }
        if name == "or" {
            return Err(AclError::new(
                0,
                "`or` cannot name an ACL: it is the OR operator of conditions",
            ));
        }
        if self.index.contains_key(name) {
            return Err(AclError::new(0, format!("ACL `{name}` is already defined")));
        }
        self.index.insert(name.to_owned(), self.acls.len());
        self.acls.push((name.to_owned(), Arc::new(acl)));
        Ok(())
    }

    /// Looks a named ACL up.
    pub fn get(&self, name: &str) -> Option<&Arc<Acl>> {
        let &at = self.index.get(name)?;
        self.acls.get(at).map(|(_, acl)| acl)
    }

    /// The names, in definition order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.acls.iter().map(|(name, _)| name.as_str())
    }

    /// The number of named ACLs.
    pub fn len(&self) -> usize {
        self.acls.len()
    }

    /// Whether no ACL is defined.
    pub fn is_empty(&self) -> bool {
        self.acls.is_empty()
    }
}

#[cfg(test)]
mod tests;
