//! Compiled value lists and how a sample is compared with them.
//!
//! Everything here runs on the request path and must not allocate: values
//! are prepared once (lower-cased for `-i`, regexes compiled, substring
//! searchers built) and samples are compared as bytes.

use crate::token::Word;
use crate::{AclError, MatchKind};
use ipnet::IpNet;
use memchr::memmem;
use regex::bytes::{Regex, RegexBuilder};
use std::net::IpAddr;

/// The values of one ACL, compiled for one match method.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    /// `-m found`: any sample matches.
    Found,
    /// `-m str`.
    Str(Values),
    /// `-m beg`.
    Beg(Values),
    /// `-m end`.
    End(Values),
    /// `-m sub`.
    Sub(Vec<Needle>),
    /// `-m dir`: delimiters `/` and `?`.
    Dir(Values),
    /// `-m dom`: delimiters `/`, `?`, `.` and `:`.
    Dom(Values),
    /// `-m reg`.
    Reg(Vec<Regex>),
    /// IP addresses and networks (`src`, or `-m ip` on a string sample).
    Ip(Vec<IpNet>),
    /// Integer ranges (`gt ge lt le eq N`, `N`, `A:B`).
    Int(Vec<IntRange>),
}

/// Byte-string values; lower-cased when `icase`.
#[derive(Debug, Clone)]
pub(crate) struct Values {
    values: Vec<Box<[u8]>>,
    icase: bool,
}

/// One `-m sub` value with its searcher.
#[derive(Debug, Clone)]
pub(crate) enum Needle {
    /// Case-sensitive: a precomputed substring searcher.
    Exact(Box<memmem::Finder<'static>>),
    /// Case-insensitive: the lower-cased needle.
    Icase(Box<[u8]>),
}

/// An inclusive integer range; `lo > hi` never matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IntRange {
    lo: i64,
    hi: i64,
}

impl Matcher {
    /// Compiles `values` for the string match `kind` (every kind but
    /// [`MatchKind::Found`], which takes no values).
    pub(crate) fn compile(kind: MatchKind, icase: bool, values: &[Word]) -> Result<Self, AclError> {
        let plain = |trim: Option<fn(u8) -> bool>| -> Result<Values, AclError> {
            let mut out = Vec::with_capacity(values.len());
            for w in values {
                let mut v = w.text.as_bytes();
                if let Some(is_delim) = trim {
                    while let [first, rest @ ..] = v {
                        if !is_delim(*first) {
                            break;
                        }
                        v = rest;
                    }
                    while let [rest @ .., last] = v {
                        if !is_delim(*last) {
                            break;
                        }
                        v = rest;
                    }
                    if v.is_empty() {
                        return Err(AclError::new(
                            w.offset,
                            format!(
                                "`{}` has nothing but delimiters and can never match",
                                w.text
                            ),
                        ));
                    }
                }
                let v = if icase {
                    v.to_ascii_lowercase()
                } else {
                    v.to_vec()
                };
                out.push(v.into_boxed_slice());
            }
            Ok(Values { values: out, icase })
        };
        Ok(match kind {
            MatchKind::Found => Matcher::Found,
            MatchKind::Str => Matcher::Str(plain(None)?),
            MatchKind::Beg => Matcher::Beg(plain(None)?),
            MatchKind::End => Matcher::End(plain(None)?),
            MatchKind::Dir => Matcher::Dir(plain(Some(is_dir_delim))?),
            MatchKind::Dom => Matcher::Dom(plain(Some(is_dom_delim))?),
            MatchKind::Sub => Matcher::Sub(
                values
                    .iter()
                    .map(|w| {
                        if icase {
                            Needle::Icase(w.text.as_bytes().to_ascii_lowercase().into_boxed_slice())
                        } else {
                            Needle::Exact(Box::new(
                                memmem::Finder::new(w.text.as_bytes()).into_owned(),
                            ))
                        }
                    })
                    .collect(),
            ),
            MatchKind::Reg => {
                let mut out = Vec::with_capacity(values.len());
                for w in values {
                    let re = RegexBuilder::new(&w.text)
                        .case_insensitive(icase)
                        .build()
                        .map_err(|e| {
                            AclError::new(
                                w.offset,
                                format!("invalid regex `{}`: {}", w.text, regex_reason(&e)),
                            )
                        })?;
                    out.push(re);
                }
                Matcher::Reg(out)
            }
            MatchKind::Ip => {
                let mut out = Vec::with_capacity(values.len());
                for w in values {
                    out.push(parse_net(w)?);
                }
                Matcher::Ip(out)
            }
            MatchKind::Int => Matcher::compile_int(values)?,
        })
    }

    /// Compiles integer values: `N`, `A:B`, `A:`, `:B`, or an operator
    /// `eq ge gt le lt` followed by `N`.
    pub(crate) fn compile_int(values: &[Word]) -> Result<Self, AclError> {
        let mut out = Vec::with_capacity(values.len());
        let mut words = values.iter();
        while let Some(w) = words.next() {
            let op = match w.text.as_str() {
                "eq" | "ge" | "gt" | "le" | "lt" if !w.quoted => Some(w),
                _ => None,
            };
            let range = if let Some(op) = op {
                let Some(n) = words.next() else {
                    return Err(AclError::new(
                        op.offset,
                        format!("`{}` needs an integer after it", op.text),
                    ));
                };
                let v = parse_int(n)?;
                match op.text.as_str() {
                    "eq" => IntRange { lo: v, hi: v },
                    "ge" => IntRange {
                        lo: v,
                        hi: i64::MAX,
                    },
                    "gt" => match v.checked_add(1) {
                        Some(lo) => IntRange { lo, hi: i64::MAX },
                        None => IntRange { lo: 1, hi: 0 },
                    },
                    "le" => IntRange {
                        lo: i64::MIN,
                        hi: v,
                    },
                    _ => match v.checked_sub(1) {
                        Some(hi) => IntRange { lo: i64::MIN, hi },
                        None => IntRange { lo: 1, hi: 0 },
                    },
                }
            } else if let Some((a, b)) = w.text.split_once(':') {
                let part = |s: &str, default: i64| -> Result<i64, AclError> {
                    if s.is_empty() {
                        Ok(default)
                    } else {
                        s.parse().map_err(|_| bad_int(w))
                    }
                };
                if a.is_empty() && b.is_empty() {
                    return Err(bad_int(w));
                }
                IntRange {
                    lo: part(a, i64::MIN)?,
                    hi: part(b, i64::MAX)?,
                }
            } else {
                let v = parse_int(w)?;
                IntRange { lo: v, hi: v }
            };
            out.push(range);
        }
        Ok(Matcher::Int(out))
    }

    /// Whether a string sample matches any value.
    pub(crate) fn matches_str(&self, s: &[u8]) -> bool {
        match self {
            Matcher::Found => true,
            Matcher::Str(v) => v.any(|x| eq(s, x, v.icase)),
            Matcher::Beg(v) => v.any(|x| s.get(..x.len()).is_some_and(|h| eq(h, x, v.icase))),
            Matcher::End(v) => v.any(|x| {
                s.len()
                    .checked_sub(x.len())
                    .and_then(|at| s.get(at..))
                    .is_some_and(|t| eq(t, x, v.icase))
            }),
            Matcher::Sub(needles) => needles.iter().any(|n| n.is_in(s)),
            Matcher::Dir(v) => v.any(|x| match_word(s, x, v.icase, is_dir_delim)),
            Matcher::Dom(v) => v.any(|x| match_word(s, x, v.icase, is_dom_delim)),
            Matcher::Reg(res) => res.iter().any(|re| re.is_match(s)),
            Matcher::Ip(nets) => parse_ip(s).is_some_and(|ip| ip_in(nets, ip)),
            Matcher::Int(_) => false,
        }
    }

    /// Whether an IP sample matches any value.
    pub(crate) fn matches_ip(&self, ip: IpAddr) -> bool {
        match self {
            Matcher::Found => true,
            Matcher::Ip(nets) => ip_in(nets, ip),
            _ => false,
        }
    }

    /// Whether an integer sample matches any value.
    pub(crate) fn matches_int(&self, n: i64) -> bool {
        match self {
            Matcher::Found => true,
            Matcher::Int(ranges) => ranges.iter().any(|r| r.lo <= n && n <= r.hi),
            _ => false,
        }
    }
}

impl Values {
    fn any(&self, f: impl Fn(&[u8]) -> bool) -> bool {
        self.values.iter().any(|v| f(v))
    }
}

impl Needle {
    fn is_in(&self, hay: &[u8]) -> bool {
        match self {
            Needle::Exact(finder) => finder.find(hay).is_some(),
            Needle::Icase(needle) => contains_icase(hay, needle),
        }
    }
}

/// `a == b`, where `b` is already lower case when `icase`.
#[inline]
fn eq(a: &[u8], b: &[u8], icase: bool) -> bool {
    if icase {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_ascii_lowercase() == *y)
    } else {
        a == b
    }
}

/// Case-insensitive substring search without allocating; `needle` is lower
/// case.
fn contains_icase(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let Some(last_start) = hay.len().checked_sub(needle.len()) else {
        return false;
    };
    let upper = first.to_ascii_uppercase();
    let window = hay.get(..=last_start).unwrap_or_default();
    memchr::memchr2_iter(first, upper, window).any(|at| {
        hay.get(at + 1..at + needle.len())
            .is_some_and(|tail| eq(tail, rest, true))
    })
}

fn is_dir_delim(c: u8) -> bool {
    c == b'/' || c == b'?'
}

fn is_dom_delim(c: u8) -> bool {
    matches!(c, b'/' | b'?' | b'.' | b':')
}

/// HAProxy's `match_word`: `pat` (delimiters already trimmed, not empty)
/// occurs in `s` starting after a delimiter or at the start, and ending
/// before a delimiter or at the end.
fn match_word(s: &[u8], pat: &[u8], icase: bool, is_delim: fn(u8) -> bool) -> bool {
    let Some(last_start) = s.len().checked_sub(pat.len()) else {
        return false;
    };
    let mut may_match = true;
    for (at, &c) in s.iter().enumerate().take(last_start + 1) {
        if is_delim(c) {
            may_match = true;
            continue;
        }
        if !may_match {
            continue;
        }
        may_match = false;
        let end = at + pat.len();
        if s.get(at..end).is_some_and(|w| eq(w, pat, icase))
            && s.get(end).is_none_or(|&c| is_delim(c))
        {
            return true;
        }
    }
    false
}

/// Whether `ip` is in one of `nets`; IPv4-mapped IPv6 addresses count as
/// IPv4 and IPv4 addresses match IPv6 networks through their mapped form.
fn ip_in(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    let mapped = match ip {
        IpAddr::V4(v4) => Some(IpAddr::V6(v4.to_ipv6_mapped())),
        IpAddr::V6(_) => None,
    };
    nets.iter()
        .any(|net| net.contains(&ip) || mapped.is_some_and(|m| net.contains(&m)))
}

/// A string sample read as an IP address (surrounding blanks ignored).
fn parse_ip(s: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(s).ok()?.trim().parse().ok()
}

fn parse_net(w: &Word) -> Result<IpNet, AclError> {
    let net = if w.text.contains('/') {
        w.text.parse::<IpNet>().ok()
    } else {
        w.text.parse::<IpAddr>().ok().map(IpNet::from)
    };
    match net {
        Some(net) => Ok(net.trunc()),
        None => Err(AclError::new(
            w.offset,
            format!("invalid IP address or CIDR `{}`", w.text),
        )),
    }
}

fn parse_int(w: &Word) -> Result<i64, AclError> {
    w.text.parse().map_err(|_| bad_int(w))
}

fn bad_int(w: &Word) -> AclError {
    AclError::new(w.offset, format!("invalid integer `{}`", w.text))
}

/// The one-line reason of a regex error (the syntax error's own message is
/// several lines with a caret diagram).
fn regex_reason(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(s) => s
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("error: "))
            .unwrap_or(s)
            .trim()
            .to_owned(),
        regex::Error::CompiledTooBig(limit) => {
            format!("compiled regex exceeds the size limit of {limit} bytes")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::tokenize;

    fn compile(kind: MatchKind, icase: bool, values: &str) -> Matcher {
        match tokenize(values).and_then(|w| Matcher::compile(kind, icase, &w)) {
            Ok(m) => m,
            Err(e) => panic!("{values:?}: {e}"),
        }
    }

    fn int(values: &str) -> Matcher {
        match tokenize(values).and_then(|w| Matcher::compile_int(&w)) {
            Ok(m) => m,
            Err(e) => panic!("{values:?}: {e}"),
        }
    }

    fn int_err(values: &str) -> AclError {
        match tokenize(values).and_then(|w| Matcher::compile_int(&w)) {
            Ok(m) => panic!("{values:?} compiled: {m:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn str_beg_end() {
        let m = compile(MatchKind::Str, false, "/a /b");
        assert!(m.matches_str(b"/a") && m.matches_str(b"/b"));
        assert!(!m.matches_str(b"/A") && !m.matches_str(b"/ab") && !m.matches_str(b""));
        let m = compile(MatchKind::Str, true, "/ApI");
        assert!(m.matches_str(b"/api") && m.matches_str(b"/API"));
        let m = compile(MatchKind::Beg, true, "/Api/");
        assert!(m.matches_str(b"/API/x") && m.matches_str(b"/api/"));
        assert!(!m.matches_str(b"/api") && !m.matches_str(b""));
        let m = compile(MatchKind::End, false, ".json");
        assert!(m.matches_str(b"/x.json") && m.matches_str(b".json"));
        assert!(!m.matches_str(b"/x.JSON") && !m.matches_str(b"json"));
    }

    #[test]
    fn sub() {
        let m = compile(MatchKind::Sub, false, "bot");
        assert!(m.matches_str(b"googlebot/2.1") && !m.matches_str(b"GoogleBot"));
        let m = compile(MatchKind::Sub, true, "BadBot crawl");
        assert!(m.matches_str(b"x BADBOT y") && m.matches_str(b"Crawler"));
        assert!(m.matches_str(b"badbot") && !m.matches_str(b"badbo") && !m.matches_str(b""));
        // Non-letters as the first byte.
        let m = compile(MatchKind::Sub, true, "/aB");
        assert!(m.matches_str(b"x/ab") && !m.matches_str(b"x/a"));
        let m = compile(MatchKind::Sub, true, "\"\"");
        assert!(m.matches_str(b"anything"));
    }

    #[test]
    fn dir_and_dom() {
        let m = compile(MatchKind::Dir, false, "img");
        assert!(m.matches_str(b"/img/x.png") && m.matches_str(b"/a/img") && m.matches_str(b"img"));
        assert!(m.matches_str(b"/x/img?y"));
        assert!(
            !m.matches_str(b"/images/x") && !m.matches_str(b"/aimg/") && !m.matches_str(b"/IMG/")
        );
        // Delimiters around the pattern are ignored; several segments work.
        let m = compile(MatchKind::Dir, true, "/Static/Img/");
        assert!(m.matches_str(b"/x/static/img/a.png") && !m.matches_str(b"/static/imgs"));
        let m = compile(MatchKind::Dom, false, "example.org");
        assert!(m.matches_str(b"example.org") && m.matches_str(b"www.example.org"));
        assert!(m.matches_str(b"example.org:80") && !m.matches_str(b"badexample.org"));
        // As in HAProxy, any dot-delimited run matches, not only a suffix.
        assert!(m.matches_str(b"example.org.evil"));
        assert!(!m.matches_str(b"example.orgx"));
        let e = tokenize("/").and_then(|w| Matcher::compile(MatchKind::Dir, false, &w));
        assert_eq!(
            e.err(),
            Some(AclError::new(
                0,
                "`/` has nothing but delimiters and can never match"
            ))
        );
    }

    #[test]
    fn reg() {
        let m = compile(MatchKind::Reg, false, r"^/v\d+/ \.php$");
        assert!(m.matches_str(b"/v2/x") && m.matches_str(b"/a.php"));
        assert!(!m.matches_str(b"/x/v2/") && !m.matches_str(b"/a.PHP"));
        let m = compile(MatchKind::Reg, true, r"\.php$");
        assert!(m.matches_str(b"/a.PHP"));
        // Non-UTF-8 samples are fine.
        assert!(!m.matches_str(b"\xff\xfe"));
    }

    #[test]
    fn ip() {
        let m = compile(
            MatchKind::Ip,
            false,
            "10.0.0.0/8 192.168.1.7 2001:db8::/32 ::ffff:1.2.3.0/120",
        );
        let ip = |s: &str| {
            s.parse::<IpAddr>()
                .unwrap_or(IpAddr::V4([0, 0, 0, 0].into()))
        };
        assert!(m.matches_ip(ip("10.1.2.3")) && m.matches_ip(ip("192.168.1.7")));
        assert!(!m.matches_ip(ip("192.168.1.8")) && !m.matches_ip(ip("11.0.0.1")));
        assert!(m.matches_ip(ip("::ffff:10.9.9.9")), "IPv4-mapped client");
        assert!(m.matches_ip(ip("2001:db8::1")) && !m.matches_ip(ip("2001:db9::1")));
        assert!(
            m.matches_ip(ip("1.2.3.4")),
            "IPv4 client, IPv4-mapped network"
        );
        // `-m ip` on string samples.
        assert!(m.matches_str(b" 10.0.0.1 ") && !m.matches_str(b"10.0.0.1, 1.1.1.1"));
        assert!(!m.matches_str(b"nope"));
        // Host bits in a CIDR are ignored.
        let m = compile(MatchKind::Ip, false, "10.1.2.3/8");
        assert!(m.matches_ip(ip("10.200.0.1")));
    }

    #[test]
    fn found() {
        assert!(Matcher::Found.matches_str(b""));
        assert!(Matcher::Found.matches_ip(IpAddr::V4([1, 2, 3, 4].into())));
        assert!(Matcher::Found.matches_int(0));
    }

    #[test]
    fn integers() {
        let m = int("gt 100");
        assert!(m.matches_int(101) && !m.matches_int(100));
        let m = int("ge 100");
        assert!(m.matches_int(100) && !m.matches_int(99));
        let m = int("lt 5");
        assert!(m.matches_int(4) && !m.matches_int(5) && m.matches_int(i64::MIN));
        let m = int("le 5");
        assert!(m.matches_int(5) && !m.matches_int(6));
        let m = int("eq 7 10:20 :-3 1000:");
        for (n, want) in [
            (7, true),
            (8, false),
            (10, true),
            (20, true),
            (21, false),
            (-3, true),
            (-2, false),
            (1000, true),
            (i64::MAX, true),
        ] {
            assert_eq!(m.matches_int(n), want, "{n}");
        }
        let m = int("gt 9223372036854775807 lt -9223372036854775808");
        assert!(!m.matches_int(i64::MAX) && !m.matches_int(i64::MIN));
        // An integer matcher never matches strings or IPs.
        assert!(!m.matches_str(b"1") && !m.matches_ip(IpAddr::V4([1, 1, 1, 1].into())));
        assert_eq!(
            int_err("gt"),
            AclError::new(0, "`gt` needs an integer after it")
        );
        assert_eq!(int_err("gt x"), AclError::new(3, "invalid integer `x`"));
        assert_eq!(int_err("1:x"), AclError::new(0, "invalid integer `1:x`"));
        assert_eq!(int_err(":"), AclError::new(0, "invalid integer `:`"));
    }

    #[test]
    fn regex_errors_are_one_line() {
        let e = tokenize("ok (foo").and_then(|w| Matcher::compile(MatchKind::Reg, false, &w));
        assert_eq!(
            e.err(),
            Some(AclError::new(3, "invalid regex `(foo`: unclosed group"))
        );
    }

    #[test]
    fn bad_networks() {
        for (text, bad) in [
            ("10.0.0.0/33", "10.0.0.0/33"),
            ("1.2.3.4 example.org", "example.org"),
            ("::g", "::g"),
        ] {
            let e = tokenize(text).and_then(|w| Matcher::compile(MatchKind::Ip, false, &w));
            let Err(e) = e else { panic!("{text} compiled") };
            assert_eq!(e.message, format!("invalid IP address or CIDR `{bad}`"));
            assert_eq!(e.offset, text.find(bad).unwrap_or(usize::MAX));
        }
    }
}
