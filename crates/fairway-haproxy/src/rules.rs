//! ACLs, conditions and rules: HAProxy's text rewritten for fairway and
//! checked with fairway's own ACL parser, so what is emitted loads.
//!
//! * Several `acl` lines with one name are merged when their fetch and
//!   flags agree; otherwise they become `NAME`, `NAME_2`... and every
//!   condition using the name is expanded (`a NAME` → `a NAME || a NAME_2`,
//!   `!NAME` → `!NAME !NAME_2`), which is exact since conditions are an OR
//!   of ANDs.
//! * HAProxy's predefined ACLs (`METH_GET`, `LOCALHOST`, `TRUE`...) are
//!   defined when a rule uses them.
//! * `ssl_fc` is a constant in fairway: true in a frontend with `tls`,
//!   false in one without; conditions are simplified accordingly.
//! * In `http-response` rules HAProxy cannot read the request's layer 7
//!   (`path`, `hdr`, `method`...: such an ACL never matches there, with a
//!   warning); those ACLs are folded to false, with a remark.
//! * A backend's `http_response` rules have no named ACLs in fairway: the
//!   names are written out as anonymous ACLs (`{ ... }`).

use super::parse::Word;
use super::text::{as_loaded, requote, short};
use fairway_acl::{Acl, AclSet, Fetch, HttpRule, TcpRule, UseBackend};
use std::collections::BTreeMap;

/// Fetches that SPEC.md defines but fairway's ACL parser may not know yet;
/// lines using them are emitted without being checked. None at present
/// (`req_ssl_sni` and `src_http_req_rate(PERIOD)` are supported).
const PENDING_FETCHES: &[&str] = &[];

/// HAProxy fetch names and the fairway name for the same thing.
const FETCH_ALIASES: &[(&str, &str)] = &[
    ("req.ssl_sni", "req_ssl_sni"),
    ("req.hdr(", "hdr("),
    ("urlp(", "url_param("),
];

/// HAProxy's response variants of the `hdr_*` ACLs and the match they
/// stand for (`shdr_beg(X)` is `res.hdr(X) -m beg`).
/// `hdr(X)` and its variants in an http-response condition: HAProxy reads
/// the response's header there.
const RESPONSE_HDR: &[(&str, Option<&str>)] = &[
    ("hdr_beg(", Some("beg")),
    ("hdr_end(", Some("end")),
    ("hdr_sub(", Some("sub")),
    ("hdr_reg(", Some("reg")),
    ("hdr_dir(", Some("dir")),
    ("hdr_dom(", Some("dom")),
    ("hdr(", None),
];

const RES_HDR_MATCHES: &[(&str, &str)] = &[
    ("shdr_beg(", "beg"),
    ("shdr_end(", "end"),
    ("shdr_sub(", "sub"),
    ("shdr_reg(", "reg"),
    ("shdr_dir(", "dir"),
    ("shdr_dom(", "dom"),
    ("shdr_len(", "len"),
];

/// HAProxy's predefined ACLs fairway can express.
const PREDEFINED: &[(&str, &str)] = &[
    ("LOCALHOST", "src 127.0.0.1/8"),
    ("METH_CONNECT", "method CONNECT"),
    ("METH_DELETE", "method DELETE"),
    ("METH_GET", "method GET HEAD"),
    ("METH_HEAD", "method HEAD"),
    ("METH_OPTIONS", "method OPTIONS"),
    ("METH_POST", "method POST"),
    ("METH_PUT", "method PUT"),
    ("METH_TRACE", "method TRACE"),
    ("HTTP_URL_SLASH", "url_beg /"),
    ("HTTP_URL_STAR", "url *"),
];

/// A frontend's ACLs: HAProxy lines in, fairway entries out.
#[derive(Debug, Default)]
pub(crate) struct Acls {
    /// What the frontend's ACLs can read.
    scope: Scope,
    /// HAProxy name → what it means.
    names: BTreeMap<String, Meaning>,
    /// fairway entries in order: name → ACL line.
    pub entries: Vec<(String, String)>,
    /// Entries that are pending (not checked).
    pending: Vec<String>,
    /// `Some`: named ACLs are written out as anonymous ones in conditions,
    /// except these `(name, text)` entries, which the frontend defines
    /// (`http_response` rules of backends, which have no named ACLs).
    shared: Option<Vec<(String, String)>>,
    /// Remarks on the last [`Acls::guard`]: ACLs folded to a constant for a
    /// reason worth a note.
    pub remarks: Vec<String>,
}

/// A constant an ACL folds to, and why when it is worth a note.
type Const = (bool, Option<String>);

/// What an HAProxy ACL name stands for.
#[derive(Debug, Clone)]
enum Meaning {
    /// Always this value in this frontend (with a remark).
    Const(Const),
    /// The OR of these fairway entries.
    Any(Vec<String>),
    /// Not convertible: the reason.
    Broken(String),
}

/// One ACL body rewritten: its fairway text, the part before the values
/// (fetch and flags, for merging) and whether it is pending.
struct Body {
    prefix: String,
    values: Vec<String>,
    pending: bool,
}

impl Body {
    fn text(&self) -> String {
        let mut t = self.prefix.clone();
        for v in &self.values {
            t.push(' ');
            t.push_str(v);
        }
        t
    }
}

/// What ACLs of a frontend can read.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    /// The frontend has `tls` (`ssl_fc` is true).
    pub tls: bool,
    /// The frontend is `mode tcp` (layer-4 fetches only).
    pub tcp: bool,
    /// `http-request track-scN src` into a `stick-table ... store
    /// http_req_rate(PERIOD)`: `(N, PERIOD)`, so that `scN_http_req_rate`
    /// is fairway's `src_http_req_rate(PERIOD)`.
    pub rate: Option<(String, String)>,
    /// The rules are `http-response` rules: HAProxy's ACLs on the request's
    /// layer 7 never match there.
    pub response: bool,
    /// The rules are a backend's: `ssl_fc` (the frontend's) is unknown.
    pub backend: bool,
}

impl Scope {
    /// The fairway fetch for HAProxy's request-rate fetches.
    pub(crate) fn rate_fetch(&self, name: &str) -> Option<String> {
        let (n, period) = self.rate.as_ref()?;
        let same = name == format!("sc_http_req_rate({n})")
            || name == format!("sc{n}_http_req_rate")
            || name == format!("sc{n}_http_req_rate()")
            || name == "src_http_req_rate"
            || name == "src_http_req_rate()";
        same.then(|| format!("src_http_req_rate({period})"))
    }
}

/// Whether HAProxy's `http-response` rules cannot read `fetch`: the
/// request's layer 7 is gone by then (an ACL on it never matches; `method`
/// stays readable, and `hdr()` is the response's there).
fn reads_request(fetch: &Fetch) -> bool {
    matches!(
        fetch,
        Fetch::Path
            | Fetch::Url
            | Fetch::Query
            | Fetch::UrlParam(_)
            | Fetch::Host
            | Fetch::Header(_)
            | Fetch::ReqSslSni
    )
}

/// Reads `FETCH [FLAGS] VALUES...` for fairway; `Ok(Err(c))` is a constant.
/// In a `tcp` frontend only layer-4 fetches are allowed.
fn body(words: &[Word], scope: &Scope) -> Result<Result<Body, Const>, String> {
    let (tls, tcp) = (scope.tls, scope.tcp);
    let Some((fetch, rest)) = words.split_first() else {
        return Err("empty ACL".to_string());
    };
    let mut name = fetch.text.clone();
    // `shdr_beg(X)`... are `res.hdr(X) -m beg`...
    let mut match_flag = None;
    for (from, m) in RES_HDR_MATCHES {
        if let Some(tail) = name.strip_prefix(from) {
            name = format!("res.hdr({tail}");
            match_flag = Some(*m);
        }
    }
    // In http-response rules HAProxy's `hdr()` reads the response.
    if scope.response && match_flag.is_none() {
        for (from, m) in RESPONSE_HDR {
            if let Some(tail) = name.strip_prefix(from) {
                name = format!("res.hdr({tail}");
                match_flag = *m;
                break;
            }
        }
    }
    for (from, to) in FETCH_ALIASES {
        if let Some(tail) = name.strip_prefix(from) {
            name = format!("{to}{tail}");
        }
    }
    if let Some(rate) = scope.rate_fetch(&name) {
        name = rate;
    }
    let flags_end = {
        let mut at = 0;
        while let Some(w) = rest.get(at) {
            if w.quoted || !w.text.starts_with('-') {
                break;
            }
            at += 1;
            match w.text.as_str() {
                "--" => break,
                "-m" | "-f" | "-M" | "-u" => at += 1,
                _ => {}
            }
        }
        at.min(rest.len())
    };
    let (flags, values) = rest.split_at(flags_end);
    match name.as_str() {
        "ssl_fc" if scope.backend => {
            return Err(
                "`ssl_fc` in a backend's rule: fairway's backend rules do not know the frontend"
                    .to_string(),
            )
        }
        "ssl_fc" | "always_true" | "always_false" if values.is_empty() => {
            let bool_flags = flags.iter().all(|f| f.is("-m") || f.is("bool"));
            if bool_flags {
                return Ok(Err((
                    match name.as_str() {
                        "ssl_fc" => tls,
                        "always_true" => true,
                        _ => false,
                    },
                    None,
                )));
            }
        }
        _ => {}
    }
    let mut prefix = requote(&Word {
        text: name.clone(),
        fw: name.clone(),
        quoted: fetch.quoted,
        env: false,
    });
    if let Some(m) = match_flag {
        prefix.push_str(" -m ");
        prefix.push_str(m);
    }
    for f in flags {
        prefix.push(' ');
        prefix.push_str(&requote(f));
    }
    let values: Vec<String> = values.iter().map(requote).collect();
    let text = {
        let mut t = prefix.clone();
        for v in &values {
            t.push(' ');
            t.push_str(v);
        }
        t
    };
    let pending = match Acl::parse(&as_loaded(&text)) {
        Ok(acl) if tcp && acl.fetch().is_http() => {
            return Err(format!(
                "`{name}` reads the HTTP request, which a tcp frontend does not parse"
            ))
        }
        Ok(acl) if scope.response && reads_request(acl.fetch()) => {
            let why = format!(
                "`{}` never matches in HAProxy's http-response rules (the request's headers \
                 are gone by then): folded to false",
                fetch.text
            );
            return Ok(Err((false, Some(why))));
        }
        Ok(_) => false,
        Err(_) if PENDING_FETCHES.iter().any(|p| name.starts_with(p)) => true,
        Err(e) => return Err(short(&e.message)),
    };
    Ok(Ok(Body {
        prefix,
        values,
        pending,
    }))
}

impl Acls {
    /// Builds the ACLs of a frontend from its `acl` lines `(line, name,
    /// body words)`; returns the lines that could not be converted.
    pub fn build(
        lines: &[(usize, String, Vec<Word>)],
        scope: Scope,
    ) -> (Acls, Vec<(usize, String)>) {
        let mut acls = Acls {
            scope,
            ..Acls::default()
        };
        let mut errors = Vec::new();
        // HAProxy name → bodies in order.
        let mut by_name: Vec<(String, Vec<Result<Body, Const>>)> = Vec::new();
        for (line, name, words) in lines {
            match body(words, &acls.scope) {
                Ok(b) => match by_name.iter_mut().find(|(n, _)| n == name) {
                    Some((_, bodies)) => bodies.push(b),
                    None => by_name.push((name.clone(), vec![b])),
                },
                Err(reason) => {
                    errors.push((*line, reason.clone()));
                    acls.names.insert(
                        name.clone(),
                        Meaning::Broken(format!("ACL `{name}` could not be converted: {reason}")),
                    );
                }
            }
        }
        let mut used: Vec<String> = Vec::new();
        for (name, bodies) in by_name {
            if acls.names.contains_key(&name) {
                continue;
            }
            // Merge bodies with the same fetch and flags; constants OR in.
            let mut merged: Vec<Body> = Vec::new();
            let mut constant = false;
            let mut remark = None;
            for b in bodies {
                match b {
                    Err((c, why)) => {
                        constant |= c;
                        remark = remark.or(why);
                    }
                    Ok(b) => {
                        if merged.iter().any(|m| m.text() == b.text()) {
                            continue;
                        }
                        let same = merged
                            .iter_mut()
                            .find(|m| m.prefix == b.prefix && !m.values.is_empty());
                        match same {
                            Some(m) if !b.values.is_empty() => m.values.extend(b.values),
                            _ => merged.push(b),
                        }
                    }
                }
            }
            if constant || merged.is_empty() {
                let remark = remark.filter(|_| !constant);
                acls.names.insert(name, Meaning::Const((constant, remark)));
                continue;
            }
            let base = super::server::sanitize_name(&name);
            let mut names = Vec::new();
            for (i, b) in merged.into_iter().enumerate() {
                let mut entry = if i == 0 {
                    base.clone()
                } else {
                    format!("{base}_{}", i + 1)
                };
                while used.contains(&entry) || lines.iter().any(|(_, n, _)| *n == entry && i > 0) {
                    entry.push('_');
                }
                used.push(entry.clone());
                if b.pending {
                    acls.pending.push(entry.clone());
                }
                acls.entries.push((entry.clone(), b.text()));
                names.push(entry);
            }
            acls.names.insert(name, Meaning::Any(names));
        }
        (acls, errors)
    }

    /// What `name` means, defining a predefined ACL on first use.
    fn meaning(&mut self, name: &str) -> Result<Meaning, String> {
        if let Some(m) = self.names.get(name) {
            return match m {
                Meaning::Broken(why) => Err(why.clone()),
                m => Ok(m.clone()),
            };
        }
        let m = match name {
            "TRUE" => Meaning::Const((true, None)),
            "FALSE" => Meaning::Const((false, None)),
            _ => match PREDEFINED.iter().find(|(n, _)| *n == name) {
                Some((n, line)) if self.scope.tcp && !line.starts_with("src ") => {
                    return Err(format!(
                        "`{n}` reads the HTTP request, which a tcp frontend does not parse"
                    ))
                }
                Some((n, line)) if self.scope.response && !line.starts_with("src ") => {
                    Meaning::Const((
                        false,
                        Some(format!(
                            "`{n}` never matches in HAProxy's http-response rules (the \
                             request's headers are gone by then): folded to false"
                        )),
                    ))
                }
                Some((n, line)) => {
                    self.entries.push((n.to_string(), line.to_string()));
                    Meaning::Any(vec![n.to_string()])
                }
                None => return Err(format!("unknown ACL `{name}`")),
            },
        };
        self.names.insert(name.to_string(), m.clone());
        Ok(m)
    }

    /// The ACL set fairway would build (pending entries as placeholders),
    /// to check rules with.
    fn set(&self) -> AclSet {
        let mut set = AclSet::new();
        for (name, line) in &self.entries {
            let acl = if self.pending.contains(name) {
                Acl::parse("path /")
            } else {
                Acl::parse(&as_loaded(line))
            };
            if let Ok(acl) = acl {
                let _ = set.insert(name, acl);
            }
        }
        set
    }

    /// What the ACLs can read.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// From now on, named ACLs are written out as anonymous ones in
    /// conditions, except the `(name, text)` entries in `shared` (those the
    /// frontend defines alike).
    pub fn inline_except(&mut self, shared: Vec<(String, String)>) {
        self.shared = Some(shared);
    }

    /// Rewrites an `if`/`unless` guard (`words` start with it) for fairway;
    /// [`Acls::remarks`] then says what was folded and why.
    pub fn guard(&mut self, words: &[Word]) -> Result<Guard, String> {
        self.remarks.clear();
        let Some((kw, cond)) = words.split_first() else {
            return Ok(Guard::Always);
        };
        let negate = if kw.is("if") {
            false
        } else if kw.is("unless") {
            true
        } else {
            return Err(format!(
                "unexpected `{}` (expected `if` or `unless`)",
                kw.text
            ));
        };
        let terms = self.condition(cond)?;
        Ok(match terms {
            Folded::Const(v) if v != negate => Guard::Always,
            Folded::Const(_) => Guard::Never,
            Folded::Terms(t) => {
                let t = self.inline(t);
                Guard::Cond {
                    keyword: kw.text.clone(),
                    text: render(&t, false),
                    check: render(&t, true),
                }
            }
        })
    }

    /// Named literals written out as anonymous ones (see `shared`).
    fn inline(&self, terms: Vec<Vec<Lit>>) -> Vec<Vec<Lit>> {
        let Some(shared) = &self.shared else {
            return terms;
        };
        let lit = |l: Lit| match l {
            Lit::Named(negate, name) => {
                let entry = self.entries.iter().find(|(n, _)| *n == name);
                match entry {
                    Some(e) if !shared.contains(e) => Lit::Anon {
                        negate,
                        text: e.1.clone(),
                        pending: self.pending.contains(&name),
                    },
                    _ => Lit::Named(negate, name),
                }
            }
            anon => anon,
        };
        terms
            .into_iter()
            .map(|t| t.into_iter().map(lit).collect())
            .collect()
    }

    /// Notes why a folded ACL was folded.
    fn remark(&mut self, why: Option<String>) {
        if let Some(why) = why {
            if !self.remarks.contains(&why) {
                self.remarks.push(why);
            }
        }
    }

    /// Parses, expands and folds a condition.
    fn condition(&mut self, words: &[Word]) -> Result<Folded, String> {
        let mut terms: Vec<Vec<Atom>> = vec![Vec::new()];
        let mut negate = false;
        let mut i = 0;
        let mut any_const = false;
        while let Some(w) = words.get(i) {
            i += 1;
            if w.is("||") || w.is("or") {
                if negate || terms.last().is_some_and(Vec::is_empty) {
                    return Err(format!("misplaced `{}`", w.text));
                }
                terms.push(Vec::new());
                continue;
            }
            let (bare, bangs) = if w.quoted {
                (w.text.as_str(), 0)
            } else {
                let bare = w.text.trim_start_matches('!');
                (bare, w.text.len() - bare.len())
            };
            negate ^= bangs % 2 == 1;
            if bare.is_empty() {
                continue;
            }
            let atom = if !w.quoted && bare == "{" {
                let rest = words.get(i..).unwrap_or_default();
                let close = rest.iter().position(|x| x.is("}")).ok_or("missing `}`")?;
                let inner = rest.get(..close).unwrap_or_default();
                i += close + 1;
                match body(inner, &self.scope)? {
                    Err((c, why)) => {
                        self.remark(why);
                        Atom::Const(c != negate)
                    }
                    Ok(b) => Atom::Anon {
                        negate,
                        text: b.text(),
                        pending: b.pending,
                    },
                }
            } else {
                match self.meaning(bare)? {
                    Meaning::Const((c, why)) => {
                        self.remark(why);
                        Atom::Const(c != negate)
                    }
                    Meaning::Any(names) => Atom::Named { negate, names },
                    Meaning::Broken(why) => return Err(why),
                }
            };
            any_const |= matches!(atom, Atom::Const(_));
            if let Some(t) = terms.last_mut() {
                t.push(atom);
            }
            negate = false;
        }
        if negate || terms.iter().any(Vec::is_empty) {
            return Err("incomplete condition".to_string());
        }
        // Expand multi-entry names, then fold constants.
        let mut out: Vec<Vec<Lit>> = Vec::new();
        for term in terms {
            let mut alternatives: Vec<Vec<Lit>> = vec![Vec::new()];
            let mut dead = false;
            for atom in term {
                match atom {
                    Atom::Const(true) => {}
                    Atom::Const(false) => dead = true,
                    Atom::Anon {
                        negate,
                        text,
                        pending,
                    } => {
                        let lit = Lit::Anon {
                            negate,
                            text,
                            pending,
                        };
                        alternatives.iter_mut().for_each(|a| a.push(lit.clone()));
                    }
                    Atom::Named {
                        negate: true,
                        names,
                    } => {
                        for n in names {
                            alternatives
                                .iter_mut()
                                .for_each(|a| a.push(Lit::Named(true, n.clone())));
                        }
                    }
                    Atom::Named {
                        negate: false,
                        names,
                    } => {
                        let mut next = Vec::new();
                        for a in &alternatives {
                            for n in &names {
                                let mut a = a.clone();
                                a.push(Lit::Named(false, n.clone()));
                                next.push(a);
                            }
                        }
                        alternatives = next;
                    }
                }
                if alternatives.len() > 64 {
                    return Err("condition too large once expanded".to_string());
                }
            }
            if dead {
                continue;
            }
            if alternatives.iter().any(Vec::is_empty) {
                return Ok(Folded::Const(true));
            }
            out.extend(alternatives);
        }
        let _ = any_const;
        if out.is_empty() {
            return Ok(Folded::Const(false));
        }
        Ok(Folded::Terms(out))
    }

    /// Checks an `http_request` rule as fairway will read it.
    pub fn check_http_rule(&self, check_text: &str) -> Result<(), String> {
        HttpRule::parse(&as_loaded(check_text), &self.set())
            .map(|_| ())
            .map_err(|e| short(&e.message))
    }

    /// Checks an `http_response` rule as fairway will read it.
    pub fn check_response_rule(&self, check_text: &str) -> Result<(), String> {
        HttpRule::parse_response(&as_loaded(check_text), &self.set())
            .map(|_| ())
            .map_err(|e| short(&e.message))
    }

    /// Checks a `use_backend` line as fairway will read it.
    pub fn check_use_backend(&self, check_text: &str) -> Result<(), String> {
        UseBackend::parse(&as_loaded(check_text), &self.set())
            .map(|_| ())
            .map_err(|e| short(&e.message))
    }

    /// Checks a `tcp_request` rule as fairway will read it.
    pub fn check_tcp_rule(&self, check_text: &str) -> Result<(), String> {
        TcpRule::parse(&as_loaded(check_text), &self.set())
            .map(|_| ())
            .map_err(|e| short(&e.message))
    }
}

/// A condition atom before expansion.
enum Atom {
    Const(bool),
    Named {
        negate: bool,
        names: Vec<String>,
    },
    Anon {
        negate: bool,
        text: String,
        pending: bool,
    },
}

/// A condition literal after expansion.
#[derive(Clone)]
enum Lit {
    Named(bool, String),
    Anon {
        negate: bool,
        text: String,
        pending: bool,
    },
}

enum Folded {
    Const(bool),
    Terms(Vec<Vec<Lit>>),
}

/// A rule's guard for fairway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Guard {
    /// The rule always applies: no guard.
    Always,
    /// The rule never applies here (e.g. `if { ssl_fc }` without TLS).
    Never,
    /// `if COND` / `unless COND`: `text` to emit, `check` to validate
    /// (pending ACLs replaced by placeholders).
    Cond {
        keyword: String,
        text: String,
        check: String,
    },
}

impl Guard {
    /// ` if COND` (or empty), for the emitted text or for checking.
    pub fn suffix(&self, for_check: bool) -> String {
        match self {
            Guard::Cond {
                keyword,
                text,
                check,
            } => format!(" {keyword} {}", if for_check { check } else { text }),
            _ => String::new(),
        }
    }
}

fn render(terms: &[Vec<Lit>], for_check: bool) -> String {
    terms
        .iter()
        .map(|t| {
            t.iter()
                .map(|l| match l {
                    Lit::Named(neg, n) => format!("{}{n}", if *neg { "!" } else { "" }),
                    Lit::Anon {
                        negate,
                        text,
                        pending,
                    } => {
                        let text = if *pending && for_check {
                            "path /"
                        } else {
                            text
                        };
                        format!("{}{{ {text} }}", if *negate { "!" } else { "" })
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join(" || ")
}

#[cfg(test)]
mod tests;
