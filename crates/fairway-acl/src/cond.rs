//! `if`/`unless` conditions.
//!
//! The grammar is HAProxy's: a condition is a sequence of terms, each an
//! ACL name or an anonymous `{ FETCH [FLAGS] VALUE... }` ACL, optionally
//! preceded by `!` (attached or not; several toggle). Terms side by side are
//! ANDed, and `||` or `or` separates alternatives, so AND binds tighter:
//! `a b || c` is `(a AND b) OR c`. There are no parentheses.

use crate::token::{tokenize, Word};
use crate::{Acl, AclError, AclSet, Request};
use std::sync::Arc;

/// A compiled condition: an OR of ANDs of (possibly negated) ACLs.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The alternatives; each is the AND of its terms. Never empty, and no
    /// alternative is empty.
    any: Vec<Vec<Term>>,
}

/// One (possibly negated) ACL of a condition.
#[derive(Debug, Clone)]
struct Term {
    acl: Arc<Acl>,
    negate: bool,
}

impl Condition {
    /// Parses `lightwork !internal || { path_beg /api }` against the named
    /// ACLs of `acls`. An unknown name is an error listing the known ones.
    pub fn parse(text: &str, acls: &AclSet) -> Result<Condition, AclError> {
        let words = tokenize(text)?;
        Condition::from_words(&words, acls, text.len())
    }

    /// Compiles a condition from its words; `end` is the offset reported
    /// when the words are empty.
    pub(crate) fn from_words(
        words: &[Word],
        acls: &AclSet,
        end: usize,
    ) -> Result<Condition, AclError> {
        let mut any = Vec::new();
        let mut all: Vec<Term> = Vec::new();
        let mut negate = false;
        // Where the pending `!` was written, if any.
        let mut bang_at: Option<usize> = None;
        let mut last_or: Option<&Word> = None;
        let mut i = 0;
        while let Some(w) = words.get(i) {
            i += 1;
            if w.is_bare("||") || w.is_bare("or") {
                if let Some(at) = bang_at {
                    return Err(dangling_bang(at));
                }
                if all.is_empty() {
                    return Err(AclError::new(
                        w.offset,
                        format!("`{}` needs a condition on its left", w.text),
                    ));
                }
                any.push(std::mem::take(&mut all));
                last_or = Some(w);
                continue;
            }
            let (text, offset) = if w.quoted {
                (w.text.as_str(), w.offset)
            } else {
                let bare = w.text.trim_start_matches('!');
                let bangs = w.text.len() - bare.len();
                if bangs > 0 {
                    negate ^= bangs % 2 == 1;
                    bang_at.get_or_insert(w.offset);
                    if bare.is_empty() {
                        // `! name`: the ACL is the next word.
                        continue;
                    }
                }
                (bare, w.offset + bangs)
            };
            let acl = if !w.quoted && text == "{" {
                let rest = words.get(i..).unwrap_or_default();
                let Some(close) = rest.iter().position(|x| x.is_bare("}")) else {
                    if let Some(glued) = rest.iter().find(|x| !x.quoted && x.text.ends_with('}')) {
                        return Err(braces(glued.offset, &glued.text));
                    }
                    return Err(AclError::new(offset, "missing `}` to close this `{`"));
                };
                let inner = rest.get(..close).unwrap_or_default();
                i += close + 1;
                if inner.is_empty() {
                    return Err(AclError::new(offset, "empty anonymous ACL `{ }`"));
                }
                if let Some(nested) = inner.iter().find(|x| x.is_bare("{")) {
                    return Err(AclError::new(
                        nested.offset,
                        "`{` cannot be nested inside an anonymous ACL",
                    ));
                }
                Arc::new(Acl::from_words(inner, acls.fetches())?)
            } else if w.quoted {
                lookup(acls, text, offset)?
            } else {
                check_bare_term(text, offset)?;
                lookup(acls, text, offset)?
            };
            all.push(Term { acl, negate });
            negate = false;
            bang_at = None;
        }
        if let Some(at) = bang_at {
            return Err(dangling_bang(at));
        }
        if all.is_empty() {
            return Err(match last_or {
                Some(or) => AclError::new(
                    or.offset,
                    format!("`{}` needs a condition on its right", or.text),
                ),
                None => AclError::new(end, "empty condition"),
            });
        }
        any.push(all);
        Ok(Condition { any })
    }

    /// Every ACL the condition reads (named and anonymous), in order, with
    /// repeats: for checks such as "only layer-4 fetches in `mode: tcp`".
    pub fn acls(&self) -> impl Iterator<Item = &Acl> {
        self.any.iter().flatten().map(|t| t.acl.as_ref())
    }

    /// Evaluates the condition; never allocates.
    pub fn eval(&self, req: &dyn Request) -> bool {
        self.any
            .iter()
            .any(|all| all.iter().all(|t| t.acl.matches(req) != t.negate))
    }
}

/// Rejects unquoted words that look like operators HAProxy does not have or
/// like braces glued to their neighbours.
fn check_bare_term(text: &str, offset: usize) -> Result<(), AclError> {
    if text == "}" {
        return Err(AclError::new(offset, "unexpected `}` without a `{`"));
    }
    if text.starts_with('{') || text.ends_with('}') {
        return Err(braces(offset, text));
    }
    if text.starts_with('(') || text.ends_with(')') {
        return Err(AclError::new(
            offset,
            "parentheses are not supported in conditions (HAProxy has none): AND binds tighter \
             than `||`, so write `a b || a c` for `a AND (b OR c)`",
        ));
    }
    if text == "&&" {
        return Err(AclError::new(
            offset,
            "`&&` is not an operator: write ACLs side by side for AND",
        ));
    }
    Ok(())
}

fn lookup(acls: &AclSet, name: &str, offset: usize) -> Result<Arc<Acl>, AclError> {
    if let Some(acl) = acls.get(name) {
        return Ok(Arc::clone(acl));
    }
    let known: Vec<&str> = acls.names().collect();
    Err(AclError::new(
        offset,
        if known.is_empty() {
            format!("unknown ACL `{name}` (no ACLs are defined)")
        } else {
            format!("unknown ACL `{name}` (known: {})", known.join(", "))
        },
    ))
}

fn braces(offset: usize, word: &str) -> AclError {
    AclError::new(
        offset,
        format!("`{word}`: braces must be separated by spaces, as in `{{ path_beg /x }}`"),
    )
}

fn dangling_bang(offset: usize) -> AclError {
    AclError::new(offset, "`!` must be followed by an ACL")
}

/// `if COND` or `unless COND` at the end of a rule.
#[derive(Debug, Clone)]
pub struct Guard {
    /// `true` for `unless`.
    pub negate: bool,
    /// The condition.
    pub cond: Condition,
}

impl Guard {
    /// Whether the rule applies to this request.
    pub fn holds(&self, req: &dyn Request) -> bool {
        self.cond.eval(req) != self.negate
    }

    /// Parses the words after a rule's action: nothing (no guard) or
    /// `if COND` / `unless COND`. Any other first word is an error saying
    /// what was `expected` there instead.
    pub(crate) fn from_words(
        words: &[Word],
        acls: &AclSet,
        end: usize,
        expected: &str,
    ) -> Result<Option<Guard>, AclError> {
        let Some((first, rest)) = words.split_first() else {
            return Ok(None);
        };
        let negate = if first.is_bare("if") {
            false
        } else if first.is_bare("unless") {
            true
        } else {
            return Err(AclError::new(
                first.offset,
                format!("unexpected `{}` (expected {expected})", first.text),
            ));
        };
        if rest.is_empty() {
            return Err(AclError::new(
                first.offset,
                format!("missing condition after `{}`", first.text),
            ));
        }
        let cond = Condition::from_words(rest, acls, end)?;
        Ok(Some(Guard { negate, cond }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TestReq;

    /// ACLs `a`, `b`, `c` and `d` match paths containing that letter.
    fn set() -> AclSet {
        let mut set = AclSet::new();
        for name in ["a", "b", "c", "d"] {
            let acl = Acl::parse(&format!("path_sub {name}"));
            assert!(acl.is_ok_and(|acl| set.insert(name, acl).is_ok()));
        }
        set
    }

    fn cond(text: &str) -> Condition {
        match Condition::parse(text, &set()) {
            Ok(c) => c,
            Err(e) => panic!("{text:?}: {e} at {}", e.offset),
        }
    }

    fn err(text: &str) -> (String, usize) {
        match Condition::parse(text, &set()) {
            Ok(c) => panic!("{text:?} parsed: {c:?}"),
            Err(e) => (e.message, e.offset),
        }
    }

    /// Evaluates `text` for each path in `paths`.
    fn eval(text: &str, paths: &[&str]) -> Vec<bool> {
        let c = cond(text);
        paths.iter().map(|p| c.eval(&TestReq::get(p))).collect()
    }

    #[test]
    fn single_and_juxtaposition() {
        assert_eq!(eval("a", &["/a", "/b"]), [true, false]);
        assert_eq!(
            eval("a b", &["/ab", "/a", "/b", "/"]),
            [true, false, false, false]
        );
        assert_eq!(eval("a b c", &["/abc", "/ab"]), [true, false]);
    }

    #[test]
    fn or_and_precedence() {
        // (a AND b) OR c
        let paths = ["/ab", "/a", "/b", "/c", "/ac", "/"];
        assert_eq!(
            eval("a b || c", &paths),
            [true, false, false, true, true, false]
        );
        assert_eq!(eval("a b or c", &paths), eval("a b || c", &paths));
        // a OR (b AND c)
        assert_eq!(
            eval("a || b c", &["/a", "/b", "/bc", "/c"]),
            [true, false, true, false]
        );
        assert_eq!(
            eval("a || b || c", &["/a", "/b", "/c", "/d"]),
            [true, true, true, false]
        );
        assert_eq!(
            eval("a b || c d", &["/ab", "/cd", "/ac", "/bd"]),
            [true, true, false, false]
        );
    }

    #[test]
    fn negation() {
        assert_eq!(eval("!a", &["/a", "/b"]), [false, true]);
        assert_eq!(eval("! a", &["/a", "/b"]), [false, true]);
        assert_eq!(eval("!!a", &["/a", "/b"]), [true, false]);
        assert_eq!(eval("! !a", &["/a", "/b"]), [true, false]);
        assert_eq!(eval("a !b", &["/a", "/ab", "/b"]), [true, false, false]);
        assert_eq!(eval("!a || !b", &["/ab", "/a", "/"]), [false, true, true]);
        assert_eq!(eval("!{ path_beg /x }", &["/x1", "/y"]), [false, true]);
        assert_eq!(eval("! { path_beg /x }", &["/x1", "/y"]), [false, true]);
    }

    #[test]
    fn missing_sample_negated_is_true() {
        let c = cond("!{ hdr(x-debug) -m found }");
        assert!(c.eval(&TestReq::get("/")));
        assert!(!c.eval(&TestReq::get("/").header("X-Debug", "1")));
        let c = cond("!{ query x }");
        assert!(c.eval(&TestReq::get("/")));
    }

    #[test]
    fn anonymous_acls() {
        assert_eq!(
            eval(
                "{ path_beg /api/ /v1/ } !{ path_end .json }",
                &["/api/x", "/v1/x.json", "/x"]
            ),
            [true, false, false]
        );
        assert_eq!(
            eval("a || { path -i /HEALTHZ }", &["/healthz", "/a", "/x"]),
            [true, true, false]
        );
        assert_eq!(eval("{ path_reg ^/x{2}$ }", &["/xx", "/x"]), [true, false]);
        // A quoted brace is a value.
        assert_eq!(eval("{ path_end \"}\" }", &["/}", "/"]), [true, false]);
        let c = cond("{ hdr(user-agent) -m sub badbot }");
        assert!(c.eval(&TestReq::get("/").header("User-Agent", "a badbot")));
    }

    #[test]
    fn guards() {
        let words = tokenize("unless a || b").unwrap_or_default();
        let guard = Guard::from_words(&words, &set(), 13, "nothing");
        let Ok(Some(guard)) = guard else {
            panic!("{guard:?}")
        };
        assert!(guard.negate);
        assert!(!guard.holds(&TestReq::get("/a")));
        assert!(guard.holds(&TestReq::get("/c")));
        assert!(matches!(Guard::from_words(&[], &set(), 0, "x"), Ok(None)));
    }

    #[test]
    fn errors() {
        let cases: &[(&str, &str, usize)] = &[
            ("", "empty condition", 0),
            ("   ", "empty condition", 3),
            ("a nope", "unknown ACL `nope` (known: a, b, c, d)", 2),
            ("!nope", "unknown ACL `nope` (known: a, b, c, d)", 1),
            ("a ||", "`||` needs a condition on its right", 2),
            ("or a", "`or` needs a condition on its left", 0),
            ("a || || b", "`||` needs a condition on its left", 5),
            ("a !", "`!` must be followed by an ACL", 2),
            ("! || a", "`!` must be followed by an ACL", 0),
            ("{path_beg /x }", "`{path_beg`: braces must be separated by spaces, as in `{ path_beg /x }`", 0),
            ("{ path_beg /x}", "`/x}`: braces must be separated by spaces, as in `{ path_beg /x }`", 11),
            ("a}", "`a}`: braces must be separated by spaces, as in `{ path_beg /x }`", 0),
            ("{ path_beg /x", "missing `}` to close this `{`", 0),
            ("!{ path_beg /x", "missing `}` to close this `{`", 1),
            ("a }", "unexpected `}` without a `{`", 2),
            ("{ }", "empty anonymous ACL `{ }`", 0),
            ("{ path { }", "`{` cannot be nested inside an anonymous ACL", 7),
            ("a (b || c)", "parentheses are not supported in conditions (HAProxy has none): AND binds tighter than `||`, so write `a b || a c` for `a AND (b OR c)`", 2),
            ("a && b", "`&&` is not an operator: write ACLs side by side for AND", 2),
            ("a { paht /x }", "unknown fetch `paht` (known: path, path_beg, path_end, path_sub, path_dir, path_reg, url, url_beg, query, url_param(NAME), method, hdr(NAME), hdr_beg(NAME), hdr_end(NAME), hdr_sub(NAME), hdr_reg(NAME), req.hdr(NAME), host, src, req_ssl_sni, src_http_req_rate(PERIOD), status, res.hdr(NAME), shdr(NAME))", 4),
            ("{ path_reg ( }", "invalid regex `(`: unclosed group", 11),
            ("{ src 1.2.3.4/40 }", "invalid IP address or CIDR `1.2.3.4/40`", 6),
        ];
        for &(text, message, offset) in cases {
            assert_eq!(err(text), (message.to_owned(), offset), "{text:?}");
        }
        assert_eq!(
            Condition::parse("x", &AclSet::new()).map(|_| ()),
            Err(AclError::new(0, "unknown ACL `x` (no ACLs are defined)"))
        );
    }
}
