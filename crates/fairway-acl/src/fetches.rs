//! The fetch registry: every name an ACL line may start with, built-in or
//! not, maps to a [`FetchFactory`] in a [`Fetches`].
//!
//! The built-in fetches (`path`, `hdr(NAME)`, `src`, ...) are registered by
//! [`Fetches::builtin`] through [`Fetches::register`], the same call a user
//! makes. A user's own fetch is usually a [`SampleFetch`]: it produces
//! samples from the request and gets the ACL language's flags and matchers
//! (`-i`, `-m str|beg|end|sub|dir|dom|reg|ip|found`) for free:
//!
//! ```
//! use fairway_acl::{Acl, AclSet, Arg, Fetches, Request, SampleFetch};
//! # use std::net::IpAddr;
//!
//! /// `country`: the client's country from a header set by the CDN.
//! struct Country;
//!
//! impl SampleFetch for Country {
//!     fn arg(&self) -> Arg {
//!         Arg::Optional("HEADER")
//!     }
//!     fn sample(&self, req: &dyn Request, arg: Option<&str>, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
//!         req.header_values(arg.unwrap_or("x-country"), f)
//!     }
//! }
//!
//! let mut fetches = Fetches::builtin();
//! fetches.add("country", Country).unwrap();
//! let acl = Acl::parse_with("country -i de fr", &fetches).unwrap();
//! # struct Req;
//! # impl Request for Req {
//! #     fn method(&self) -> &str { "GET" }
//! #     fn path(&self) -> &str { "/" }
//! #     fn query(&self) -> Option<&str> { None }
//! #     fn url(&self) -> &str { "/" }
//! #     fn host(&self) -> Option<&str> { None }
//! #     fn header_values(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
//! #         name == "x-country" && f(b"DE")
//! #     }
//! #     fn src(&self) -> Option<IpAddr> { None }
//! # }
//! assert!(acl.matches(&Req));
//! // Unknown names are errors listing the registered ones.
//! let err = Acl::parse_with("contry de", &fetches).unwrap_err();
//! assert!(err.message.contains("country([HEADER])"));
//! ```

use crate::acl::{parse_builtin, BUILTIN_FETCHES};
use crate::matcher::Matcher;
use crate::token::Word;
use crate::{AclError, Fetch, MatchKind, Request};
use std::sync::{Arc, LazyLock};

/// Built-in spellings registered but not listed in errors.
const BUILTIN_ALIASES: &[&str] = &["req.ssl_sni"];

/// What the argument of a fetch (`name(ARG)`) looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// No argument: `name`.
    None,
    /// A required argument, called by its placeholder in messages:
    /// `name(PLACEHOLDER)`.
    Required(&'static str),
    /// An optional argument: `name` or `name(PLACEHOLDER)`.
    Optional(&'static str),
}

impl Arg {
    /// How `name` is written with this argument, as errors list it:
    /// `name`, `name(ARG)` or `name([ARG])`.
    pub fn usage(self, name: &str) -> String {
        match self {
            Arg::None => name.to_string(),
            Arg::Required(a) => format!("{name}({a})"),
            Arg::Optional(a) => format!("{name}([{a}])"),
        }
    }

    /// Checks that `arg` is there when required and absent when none is
    /// taken; the message names `name`.
    pub fn check(self, name: &str, arg: Option<&str>) -> Result<(), String> {
        match (self, arg) {
            (Arg::None, Some(_)) => Err(format!("`{name}` takes no argument")),
            (Arg::Required(_), None) | (Arg::Required(_), Some("")) => Err(format!(
                "`{name}` needs an argument: `{}`",
                self.usage(name)
            )),
            _ => Ok(()),
        }
    }
}

/// Something that turns `name` or `name(arg)` at the start of an ACL line
/// into a [`Fetch`] and its default match method, at load time.
///
/// Built-in fetches compile to their own [`Fetch`] variants; a
/// [`SampleFetch`] registered with [`Fetches::add`] compiles to
/// [`Fetch::Custom`].
pub trait FetchFactory: Send + Sync + 'static {
    /// The argument the fetch takes (for the list of registered fetches).
    fn arg(&self) -> Arg;

    /// Compiles `name(arg)`; the error message is reported at the fetch
    /// word's position.
    fn compile(&self, name: &str, arg: Option<&str>) -> Result<(Fetch, MatchKind), String>;
}

/// A user-written ACL fetch: produces samples from a request; the ACL
/// compares them with its values using the usual flags and matchers.
///
/// Written in a config as `name` or `name(arg)` (see [`SampleFetch::arg`]),
/// e.g. `acl: { eu: country -i de fr nl }` or
/// `http_request: ["deny if { country(cf-ipcountry) -m str XX }"]`. Register
/// it with [`Fetches::add`] (or `fairway::Fairway::builder().fetch(...)`).
///
/// A string fetch (the default) implements [`SampleFetch::sample`]; its
/// default match is `-m str` and it takes every string matcher (`-i`,
/// `-m str|beg|end|sub|dir|dom|reg|ip|found`). An integer fetch returns
/// [`SampleType::Int`] from [`SampleFetch::sample_type`] and implements
/// [`SampleFetch::sample_int`]; it is compared with `gt ge lt le eq N`,
/// `N` or `A:B` (`-m int`), or `-m found`.
///
/// Sampling runs on the request path: it must be cheap, must not block or
/// do I/O, and should not allocate.
pub trait SampleFetch: Send + Sync + 'static {
    /// The argument it takes; the default is none.
    fn arg(&self) -> Arg {
        Arg::None
    }

    /// Checks the argument at load time (after [`Arg::check`] has checked
    /// its presence); an error is reported at the fetch's position in the
    /// config. The default accepts any.
    fn check(&self, arg: Option<&str>) -> Result<(), String> {
        let _ = arg;
        Ok(())
    }

    /// Whether it reads HTTP (so only `mode: http` frontends can use it);
    /// the default is `true`. A fetch that reads only
    /// [`Request::src`] or [`Request::ssl_sni`] may return `false`.
    fn is_http(&self) -> bool {
        true
    }

    /// Whether its samples are strings (the default) or integers.
    fn sample_type(&self) -> SampleType {
        SampleType::Str
    }

    /// String samples: calls `f` with each sample of `req` in turn,
    /// stopping as soon as `f` returns `true`, and returns whether it did.
    /// No call means no sample: the ACL does not match (not even with
    /// `-m found`). The default has no sample (for integer fetches).
    fn sample(
        &self,
        req: &dyn Request,
        arg: Option<&str>,
        f: &mut dyn FnMut(&[u8]) -> bool,
    ) -> bool {
        let _ = (req, arg, f);
        false
    }

    /// The integer sample of `req`, for [`SampleType::Int`] fetches;
    /// `None`: no sample. The default has none.
    fn sample_int(&self, req: &dyn Request, arg: Option<&str>) -> Option<i64> {
        let _ = (req, arg);
        None
    }
}

/// The type of a [`SampleFetch`]'s samples, which decides its matchers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SampleType {
    /// Strings (bytes): `-m str|beg|end|sub|dir|dom|reg|ip|found`.
    #[default]
    Str,
    /// Integers: `gt ge lt le eq N`, `N`, `A:B` (`-m int`), `-m found`.
    Int,
}

/// A registered [`SampleFetch`] with the name and argument an ACL line gave
/// it: the payload of [`Fetch::Custom`].
#[derive(Clone)]
pub struct CustomFetch {
    name: Arc<str>,
    arg: Option<Arc<str>>,
    fetch: Arc<dyn SampleFetch>,
}

impl CustomFetch {
    /// The name it was registered and written under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The argument written in the ACL line, if any.
    pub fn arg(&self) -> Option<&str> {
        self.arg.as_deref()
    }

    /// The fetch itself.
    pub fn fetch(&self) -> &dyn SampleFetch {
        &*self.fetch
    }

    /// Whether it reads HTTP (see [`SampleFetch::is_http`]).
    pub fn is_http(&self) -> bool {
        self.fetch.is_http()
    }

    /// Whether its samples are integers (see [`SampleFetch::sample_type`]).
    pub fn is_integer(&self) -> bool {
        self.fetch.sample_type() == SampleType::Int
    }

    /// Calls `f` on the string samples of `req` (see [`SampleFetch::sample`]).
    pub fn sample(&self, req: &dyn Request, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.fetch.sample(req, self.arg.as_deref(), f)
    }

    /// The integer sample of `req` (see [`SampleFetch::sample_int`]).
    pub fn sample_int(&self, req: &dyn Request) -> Option<i64> {
        self.fetch.sample_int(req, self.arg.as_deref())
    }

    /// Whether `req` matches `m` (the compiled values of an ACL).
    pub(crate) fn matches(&self, req: &dyn Request, m: &Matcher) -> bool {
        if self.is_integer() {
            self.sample_int(req).is_some_and(|n| m.matches_int(n))
        } else {
            self.sample(req, &mut |v| m.matches_str(v))
        }
    }
}

impl std::fmt::Debug for CustomFetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.arg {
            Some(arg) => write!(f, "{}({arg})", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl PartialEq for CustomFetch {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.arg == other.arg
            && std::ptr::addr_eq(Arc::as_ptr(&self.fetch), Arc::as_ptr(&other.fetch))
    }
}

impl Eq for CustomFetch {}

/// The factory of a [`SampleFetch`] registered with [`Fetches::add`].
struct Sampled(Arc<dyn SampleFetch>);

impl FetchFactory for Sampled {
    fn arg(&self) -> Arg {
        self.0.arg()
    }

    fn compile(&self, name: &str, arg: Option<&str>) -> Result<(Fetch, MatchKind), String> {
        self.0.arg().check(name, arg)?;
        self.0.check(arg)?;
        let custom = CustomFetch {
            name: Arc::from(name),
            arg: arg.map(Arc::from),
            fetch: Arc::clone(&self.0),
        };
        let kind = if custom.is_integer() {
            MatchKind::Int
        } else {
            MatchKind::Str
        };
        Ok((Fetch::Custom(custom), kind))
    }
}

/// The factory of one built-in fetch keyword.
struct Builtin(Arg);

impl FetchFactory for Builtin {
    fn arg(&self) -> Arg {
        self.0
    }

    fn compile(&self, name: &str, arg: Option<&str>) -> Result<(Fetch, MatchKind), String> {
        let text = match arg {
            Some(arg) => format!("{name}({arg})"),
            None => name.to_string(),
        };
        let word = Word {
            text,
            offset: 0,
            quoted: false,
        };
        parse_builtin(&word).map_err(|e| e.message)
    }
}

/// The fetches ACL lines may use, by name, in registration order.
#[derive(Clone)]
pub struct Fetches {
    entries: Vec<(String, Arc<dyn FetchFactory>)>,
}

static SHARED_BUILTIN: LazyLock<Arc<Fetches>> = LazyLock::new(|| Arc::new(Fetches::builtin()));

impl Fetches {
    /// No fetch at all (not even the built-in ones).
    pub fn empty() -> Self {
        Fetches {
            entries: Vec::new(),
        }
    }

    /// The built-in fetches, each registered with [`Fetches::register`].
    pub fn builtin() -> Self {
        let mut fetches = Fetches::empty();
        for entry in BUILTIN_FETCHES.split(", ") {
            let (name, arg) = match entry.split_once('(') {
                Some((name, rest)) => (name, Arg::Required(placeholder(rest))),
                None => (entry, Arg::None),
            };
            // Built-in names are valid.
            let _ = fetches.register(name, Arc::new(Builtin(arg)));
        }
        for alias in BUILTIN_ALIASES {
            let _ = fetches.register(alias, Arc::new(Builtin(Arg::None)));
        }
        fetches
    }

    /// The shared built-in registry (what [`Acl::parse`](crate::Acl::parse)
    /// and [`AclSet::new`](crate::AclSet::new) use).
    pub fn shared_builtin() -> Arc<Fetches> {
        Arc::clone(&SHARED_BUILTIN)
    }

    /// Registers `factory` under `name`, replacing a fetch of that name
    /// (built-in ones included). Names are lower case letters, digits, `_`
    /// and `.`, starting with a letter.
    pub fn register(&mut self, name: &str, factory: Arc<dyn FetchFactory>) -> Result<(), AclError> {
        if !valid_name(name) {
            return Err(AclError::new(
                0,
                format!(
                    "invalid fetch name `{name}` (lower case letters, digits, `_` and `.`, \
                     starting with a letter)"
                ),
            ));
        }
        match self.entries.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = factory,
            None => self.entries.push((name.to_string(), factory)),
        }
        Ok(())
    }

    /// Registers a [`SampleFetch`] under `name` (see [`Fetches::register`]).
    pub fn add(&mut self, name: &str, fetch: impl SampleFetch) -> Result<(), AclError> {
        self.register(name, Arc::new(Sampled(Arc::new(fetch))))
    }

    /// The factory registered under `name`.
    pub fn get(&self, name: &str) -> Option<&dyn FetchFactory> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, f)| &**f)
    }

    /// The registered names, in registration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    /// The registered fetches as errors list them: `path, ..., hdr(NAME), ...`.
    pub fn listing(&self) -> String {
        let mut out = String::new();
        for (name, factory) in &self.entries {
            if BUILTIN_ALIASES.contains(&name.as_str()) {
                continue;
            }
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push_str(&factory.arg().usage(name));
        }
        out
    }

    /// Compiles the fetch word of an ACL line.
    pub(crate) fn compile(&self, w: &Word) -> Result<(Fetch, MatchKind), AclError> {
        let unbalanced =
            || AclError::new(w.offset, format!("unbalanced parentheses in `{}`", w.text));
        let (name, arg) = match w.text.split_once('(') {
            Some((name, rest)) => match rest.strip_suffix(')') {
                Some(arg) if !arg.contains(['(', ')']) => (name, Some(arg)),
                _ => return Err(unbalanced()),
            },
            None if w.text.contains(')') => return Err(unbalanced()),
            None => (w.text.as_str(), None),
        };
        let Some(factory) = self.get(name) else {
            return Err(AclError::new(
                w.offset,
                format!("unknown fetch `{name}` (known: {})", self.listing()),
            ));
        };
        factory
            .compile(name, arg)
            .map_err(|message| AclError::new(w.offset, message))
    }
}

impl Default for Fetches {
    fn default() -> Self {
        Fetches::builtin()
    }
}

impl std::fmt::Debug for Fetches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

fn placeholder(rest: &str) -> &'static str {
    match rest.trim_end_matches(')') {
        "NAME" => "NAME",
        "PERIOD" => "PERIOD",
        _ => "ARG",
    }
}

fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TestReq as Req;
    use crate::Acl;

    struct Upper;

    impl SampleFetch for Upper {
        fn arg(&self) -> Arg {
            Arg::Required("HEADER")
        }
        fn check(&self, arg: Option<&str>) -> Result<(), String> {
            match arg {
                Some(a) if a.bytes().all(|c| c.is_ascii_lowercase() || c == b'-') => Ok(()),
                _ => Err("the header name must be lower case".into()),
            }
        }
        fn sample(
            &self,
            req: &dyn Request,
            arg: Option<&str>,
            f: &mut dyn FnMut(&[u8]) -> bool,
        ) -> bool {
            req.header_values(arg.unwrap_or_default(), &mut |v| {
                f(v.to_ascii_uppercase().as_slice())
            })
        }
    }

    #[test]
    fn builtin_listing_is_the_known_list() {
        let l = Fetches::builtin().listing();
        assert!(l.starts_with("path, path_beg, "), "{l}");
        assert!(l.contains("url_param(NAME), method, hdr(NAME)"), "{l}");
    }

    #[test]
    fn custom_fetches_get_flags_and_matchers() {
        let mut fetches = Fetches::builtin();
        fetches.add("upper", Upper).unwrap();
        let req = Req::get("/").header("x-tag", "abc");
        let acl = |line: &str| Acl::parse_with(line, &fetches).unwrap();
        assert!(acl("upper(x-tag) ABC").matches(&req));
        assert!(!acl("upper(x-tag) abc").matches(&req));
        assert!(acl("upper(x-tag) -i abc").matches(&req));
        assert!(acl("upper(x-tag) -m beg AB").matches(&req));
        assert!(acl("upper(x-tag) -m found").matches(&req));
        assert!(!acl("upper(x-other) -m found").matches(&req));
        assert!(acl("upper(x-tag) -m reg ^A.C$").matches(&req));
    }

    #[test]
    fn custom_fetch_errors() {
        let mut fetches = Fetches::builtin();
        fetches.add("upper", Upper).unwrap();
        let err = |line: &str| Acl::parse_with(line, &fetches).unwrap_err();
        assert_eq!(
            err("upper ABC").message,
            "`upper` needs an argument: `upper(HEADER)`"
        );
        assert_eq!(
            err("upper(X-Tag) ABC").message,
            "the header name must be lower case"
        );
        let e = err("uper(x) A");
        assert!(e.message.starts_with("unknown fetch `uper` (known: path,"));
        assert!(
            e.message.ends_with("shdr(NAME), upper(HEADER))"),
            "{}",
            e.message
        );
        assert!(fetches.add("Bad", Upper).is_err());
        assert!(fetches.add("9x", Upper).is_err());
    }

    /// `hdrlen(NAME)`: the length of a header, an integer sample.
    struct HdrLen;

    impl SampleFetch for HdrLen {
        fn arg(&self) -> Arg {
            Arg::Required("NAME")
        }
        fn sample_type(&self) -> SampleType {
            SampleType::Int
        }
        fn sample_int(&self, req: &dyn Request, arg: Option<&str>) -> Option<i64> {
            let mut len = None;
            req.header_values(arg.unwrap_or_default(), &mut |v| {
                len = Some(v.len() as i64);
                true
            });
            len
        }
    }

    #[test]
    fn integer_custom_fetches_take_integer_matchers() {
        let mut fetches = Fetches::builtin();
        fetches.add("hdrlen", HdrLen).unwrap();
        let req = Req::get("/").header("x-tag", "abcdef");
        let acl = |line: &str| Acl::parse_with(line, &fetches).unwrap();
        assert!(acl("hdrlen(x-tag) gt 5").matches(&req));
        assert!(!acl("hdrlen(x-tag) lt 6").matches(&req));
        assert!(acl("hdrlen(x-tag) 1:6").matches(&req));
        assert!(acl("hdrlen(x-tag) eq 6").matches(&req));
        assert!(acl("hdrlen(x-tag) -m found").matches(&req));
        assert!(!acl("hdrlen(x-none) -m found").matches(&req));
        assert!(!acl("hdrlen(x-none) ge 0").matches(&req));
        let err = Acl::parse_with("hdrlen(x-tag) -m str 6", &fetches).unwrap_err();
        assert!(
            err.message
                .starts_with("`-m str` cannot be used with `hdrlen(x-tag)`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn builtins_can_be_replaced() {
        let mut fetches = Fetches::builtin();
        fetches.add("method", Upper).unwrap();
        let acl = Acl::parse_with("method(x-tag) ABC", &fetches).unwrap();
        assert!(matches!(acl.fetch(), Fetch::Custom(c) if c.name() == "method"));
        assert_eq!(fetches.names().filter(|n| *n == "method").count(), 1);
    }
}
