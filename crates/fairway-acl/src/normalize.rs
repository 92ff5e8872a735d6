//! Path normalization, the security default of SPEC §3 and §9.
//!
//! Three steps, in this order:
//!
//! 1. percent-encoded *unreserved* characters (`A-Z a-z 0-9 - . _ ~`) are
//!    decoded; every other valid escape stays encoded with its hex digits
//!    upper-cased (`%2f` becomes `%2F`); an invalid escape (`%zz`, a trailing
//!    `%`) is left as is. An encoded slash (`%2F`, `%5C`) is refused,
//!    decoded to `/` or kept, as [`EncodedSlashes`] says;
//! 2. repeated slashes are merged;
//! 3. dot segments are removed (RFC 3986 §5.2.4); `..` at the root stays at
//!    the root. With [`PathParams::Match`], a segment that is empty, `.` or
//!    `..` once its `;parameters` are removed (`;x`, `.;`, `..;x`) counts
//!    as one: a server that strips parameters (Tomcat, Spring) resolves it
//!    so, and one that does not then routes the same path.
//!
//! The result is a fixed point: normalizing it again changes nothing. For
//! that, an escape that decodes to a hex digit is kept encoded right after a
//! literal `%` that does not start a valid escape, so that decoding never
//! forms a new escape (`%%32%65` would otherwise become `%2e`, a dot, on the
//! next pass).
//!
//! [`match_path`] is the path the rules match: with
//! [`PathParams::Match`], every segment's `;parameters` removed.

use memchr::memchr;
use std::borrow::Cow;

/// `encoded_slashes`: what `%2F` and `%5C` (either case) in a path do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EncodedSlashes {
    /// The request is refused (`400`): a server that decodes them routes
    /// a path the rules never saw. The default.
    #[default]
    Reject,
    /// Decoded to `/` (a `%5C` too, as servers that read `\` as `/`
    /// do): the rules and the server see the slash.
    Decode,
    /// Kept encoded, as data (RFC 3986 §2.2): HAProxy's way.
    Keep,
}

/// `path_params`: how `;parameters` in path segments are matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PathParams {
    /// The rules see each segment without its parameters (`/a;x/b` as
    /// `/a/b`), as Tomcat and Spring route it; the server gets the path
    /// unchanged. The default.
    #[default]
    Match,
    /// The rules see the parameters (HAProxy's way).
    Keep,
}

/// How a frontend treats request paths (`normalize_path`,
/// `encoded_slashes`, `path_params`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PathOptions {
    /// `normalize_path`: decode unreserved escapes, merge slashes, resolve
    /// dot segments.
    pub normalize: bool,
    /// `encoded_slashes`.
    pub encoded_slashes: EncodedSlashes,
    /// `path_params`.
    pub path_params: PathParams,
}

impl Default for PathOptions {
    /// SPEC §9's defaults: normalize, reject encoded slashes, match
    /// without parameters.
    fn default() -> Self {
        PathOptions {
            normalize: true,
            encoded_slashes: EncodedSlashes::Reject,
            path_params: PathParams::Match,
        }
    }
}

/// A path refused by `encoded_slashes: reject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodedSlash;

impl std::fmt::Display for EncodedSlash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("encoded slash (%2F or %5C) in the path (encoded_slashes: reject)")
    }
}

impl std::error::Error for EncodedSlash {}

/// Normalizes a request path (no query string): percent-encoded unreserved
/// characters are decoded, repeated slashes merged and dot segments resolved;
/// `%2F` and other reserved escapes stay encoded. Returns the input borrowed
/// when it is already normal, so the common case does not allocate.
///
/// An empty path becomes `/`; a path that does not start with `/` is
/// treated as if it did, except the asterisk-form `*`, which is returned
/// unchanged. This is [`normalize_path_with`] with encoded slashes and
/// parameters kept.
///
/// ```
/// use fairway_acl::normalize_path;
/// assert_eq!(normalize_path("//admin"), "/admin");
/// assert_eq!(normalize_path("/x/../%61dmin/./"), "/admin/");
/// assert_eq!(normalize_path("/a%2fb"), "/a%2Fb");
/// assert!(matches!(normalize_path("/api/v1"), std::borrow::Cow::Borrowed(_)));
/// ```
pub fn normalize_path(path: &str) -> Cow<'_, str> {
    let keep = PathOptions {
        normalize: true,
        encoded_slashes: EncodedSlashes::Keep,
        path_params: PathParams::Keep,
    };
    match normalize_path_with(path, keep) {
        Ok(p) => p,
        Err(EncodedSlash) => Cow::Borrowed(path),
    }
}

/// The path the server gets under `options`: [`normalize_path`]'s steps
/// when `options.normalize`, with encoded slashes refused, decoded or kept,
/// and, with [`PathParams::Match`], `.;x`-like segments resolved (see the
/// module). Without `normalize`, only encoded slashes are acted on.
/// Borrowed when nothing changes.
///
/// ```
/// use fairway_acl::{normalize_path_with, EncodedSlashes, PathOptions};
/// let default = PathOptions::default();
/// assert!(normalize_path_with("/%2Fadmin", default).is_err());
/// assert_eq!(normalize_path_with("/..;/admin", default).unwrap(), "/admin");
/// assert_eq!(normalize_path_with("/app;s=1/x", default).unwrap(), "/app;s=1/x");
/// let decode = PathOptions { encoded_slashes: EncodedSlashes::Decode, ..default };
/// assert_eq!(normalize_path_with("/x/..%2fadmin", decode).unwrap(), "/admin");
/// ```
pub fn normalize_path_with(path: &str, options: PathOptions) -> Result<Cow<'_, str>, EncodedSlash> {
    if path == "*" {
        return Ok(Cow::Borrowed(path));
    }
    if !options.normalize {
        return decode(path, false, options.encoded_slashes);
    }
    if path.is_empty() {
        return Ok(Cow::Borrowed("/"));
    }
    let decoded = decode(path, true, options.encoded_slashes)?;
    let params =
        options.path_params == PathParams::Match && memchr(b';', decoded.as_bytes()).is_some();
    if decoded.starts_with('/') && !has_empty_or_dot_segment(&decoded, params) {
        return Ok(decoded);
    }
    Ok(Cow::Owned(remove_dot_segments(&decoded, params)))
}

/// The path the rules match: with [`PathParams::Match`], `path` with the
/// `;parameters` of every segment removed (`/app;jsessionid=1/x` is
/// `/app/x`); else, or when there are none, `path` itself, borrowed.
///
/// ```
/// use fairway_acl::{match_path, PathParams};
/// assert_eq!(match_path("/admin;jsessionid=1", PathParams::Match), "/admin");
/// assert_eq!(match_path("/admin;jsessionid=1", PathParams::Keep), "/admin;jsessionid=1");
/// ```
pub fn match_path(path: &str, params: PathParams) -> Cow<'_, str> {
    if params == PathParams::Keep || memchr(b';', path.as_bytes()).is_none() {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(without_params(seg));
    }
    Cow::Owned(out)
}

/// A segment without its `;parameters`.
fn without_params(seg: &str) -> &str {
    seg.split(';').next().unwrap_or(seg)
}

/// Step 1: decodes escapes of unreserved characters and upper-cases the
/// others (only when `unreserved`), and acts on encoded slashes as
/// `slashes` says, allocating only when something changes.
fn decode(
    path: &str,
    unreserved: bool,
    slashes: EncodedSlashes,
) -> Result<Cow<'_, str>, EncodedSlash> {
    let bytes = path.as_bytes();
    // `out` holds the output for `path[..copied]` once anything changed.
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = bytes.get(from..).and_then(|rest| memchr(b'%', rest)) {
        let at = from + found;
        from = at + 1;
        let (Some(&hi), Some(&lo)) = (bytes.get(at + 1), bytes.get(at + 2)) else {
            continue;
        };
        let (Some(h), Some(l)) = (hex_value(hi), hex_value(lo)) else {
            continue;
        };
        from = at + 3;
        let value = h << 4 | l;
        let slash = matches!(value, b'/' | b'\\');
        if slash && slashes == EncodedSlashes::Reject {
            return Err(EncodedSlash);
        }
        let decode_slash = slash && slashes == EncodedSlashes::Decode;
        if !unreserved && !decode_slash {
            continue;
        }
        // The output so far, to look for an open `%` right before this escape.
        if let Some(o) = out.as_mut() {
            o.push_str(path.get(copied..at).unwrap_or_default());
            copied = at;
        }
        let before = match &out {
            Some(o) => o.as_bytes(),
            None => bytes.get(..at).unwrap_or_default(),
        };
        let open_percent = matches!(before, [.., b'%'])
            || matches!(before, [.., b'%', h] if h.is_ascii_hexdigit());
        let decode = is_unreserved(value) && !(value.is_ascii_hexdigit() && open_percent);
        if !decode && !decode_slash && !hi.is_ascii_lowercase() && !lo.is_ascii_lowercase() {
            // Already a canonical escape: copied along later.
            continue;
        }
        let o = out.get_or_insert_with(|| String::with_capacity(path.len()));
        o.push_str(path.get(copied..at).unwrap_or_default());
        if decode_slash {
            o.push('/');
        } else if decode {
            o.push(char::from(value));
        } else {
            o.push('%');
            o.push(char::from(hi.to_ascii_uppercase()));
            o.push(char::from(lo.to_ascii_uppercase()));
        }
        copied = at + 3;
    }
    Ok(match out {
        None => Cow::Borrowed(path),
        Some(mut o) => {
            o.push_str(path.get(copied..).unwrap_or_default());
            Cow::Owned(o)
        }
    })
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986 `unreserved`.
fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

/// Whether `path` (starting with `/`) has `//`, or a `.` or `..` segment;
/// with `params`, judged on each segment without its parameters.
fn has_empty_or_dot_segment(path: &str, params: bool) -> bool {
    memchr::memmem::find(path.as_bytes(), b"//").is_some()
        || path.split('/').any(|seg| {
            let head = if params { without_params(seg) } else { seg };
            head == "." || head == ".." || (params && seg.starts_with(';'))
        })
}

/// Steps 2 and 3: merges slashes and removes dot segments; the result starts
/// with `/` and ends with one when the input's last segment was empty, `.`
/// or `..`. With `params`, a segment is judged without its parameters
/// (and dropped with them when empty or a dot segment).
fn remove_dot_segments(path: &str, params: bool) -> String {
    let body = path.strip_prefix('/').unwrap_or(path);
    let mut kept: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for seg in body.split('/') {
        trailing_slash = true;
        match if params { without_params(seg) } else { seg } {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            _ => {
                kept.push(seg);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for seg in &kept {
        out.push('/');
        out.push_str(seg);
    }
    if trailing_slash || kept.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let cases = [
            // Already normal.
            ("/", "/"),
            ("/admin", "/admin"),
            ("/a/b/", "/a/b/"),
            ("/a.b/..c/c../.d/", "/a.b/..c/c../.d/"),
            ("/a%2Fb", "/a%2Fb"),
            ("/a%20b%25", "/a%20b%25"),
            // Bypass attempts of `path_beg /admin`.
            ("//admin", "/admin"),
            ("///admin//x", "/admin/x"),
            ("/./admin", "/admin"),
            ("/x/../admin", "/admin"),
            ("/%61dmin", "/admin"),
            ("/%2e%2e/admin", "/admin"),
            ("/%2E/admin", "/admin"),
            ("/.%2e/admin", "/admin"),
            ("/x/%2e%2e/admin", "/admin"),
            ("/../../admin", "/admin"),
            ("/x/.././/admin", "/admin"),
            // Unreserved escapes decode, hex case-insensitively.
            ("/%41%7a%30%2D%2e%5F%7E", "/Az0-._~"),
            ("/%7e%5f", "/~_"),
            // Reserved and other escapes stay, upper-cased.
            ("/a%2fb", "/a%2Fb"),
            ("/%2F%2f", "/%2F%2F"),
            ("/%25%2541", "/%25%2541"),
            ("/%c3%a9", "/%C3%A9"),
            ("/a%3fb", "/a%3Fb"),
            ("/%2e%2e%2fadmin", "/..%2Fadmin"),
            // Invalid escapes are left as is.
            ("/%zz", "/%zz"),
            ("/100%", "/100%"),
            ("/%4", "/%4"),
            ("/%%", "/%%"),
            ("/%g1%41", "/%g1A"),
            // ... without forming new escapes when neighbours decode.
            ("/%%32%65", "/%%32e"),
            ("/%2%65", "/%2%65"),
            ("/%%41", "/%%41"),
            ("/%%6A", "/%j"),
            // Dot segments.
            ("/a/.", "/a/"),
            ("/a/..", "/"),
            ("/a/b/..", "/a/"),
            ("/a/./b", "/a/b"),
            ("/a/b/../c", "/a/c"),
            ("/..", "/"),
            ("/.", "/"),
            ("/a//../b", "/b"),
            ("/a/b//", "/a/b/"),
            // Unusual starts.
            ("", "/"),
            ("*", "*"),
            ("a/b", "/a/b"),
            ("../a", "/a"),
            ("%2e%2e", "/"),
            // Non-ASCII passes through.
            ("/é/./ü", "/é/ü"),
        ];
        for (given, want) in cases {
            assert_eq!(normalize_path(given), want, "{given:?}");
            assert_eq!(normalize_path(want), want, "{want:?} is not a fixed point");
        }
    }

    #[test]
    fn borrows_when_already_normal() {
        for path in ["/", "/api/v1/users", "/a%2Fb", "/x%", "/a.b/.c/", "*"] {
            assert!(matches!(normalize_path(path), Cow::Borrowed(_)), "{path:?}");
        }
        for path in ["//a", "/a/./b", "/%61", "/%2f"] {
            assert!(matches!(normalize_path(path), Cow::Owned(_)), "{path:?}");
        }
    }

    fn opts(slashes: EncodedSlashes, params: PathParams) -> PathOptions {
        PathOptions {
            normalize: true,
            encoded_slashes: slashes,
            path_params: params,
        }
    }

    #[test]
    fn encoded_slashes() {
        use EncodedSlashes::*;
        let reject = opts(Reject, PathParams::Keep);
        for path in [
            "/%2Fadmin",
            "/%2fadmin",
            "/x/..%2fadmin",
            "/%2f%2fadmin",
            "/%5cadmin",
            "/a%5Cb",
        ] {
            assert_eq!(
                normalize_path_with(path, reject),
                Err(EncodedSlash),
                "{path:?}"
            );
            let raw = PathOptions {
                normalize: false,
                ..reject
            };
            assert_eq!(
                normalize_path_with(path, raw),
                Err(EncodedSlash),
                "{path:?}"
            );
        }
        // Not an encoded slash: `%25` is `%`, and the query is not the path.
        for path in ["/%252F", "/a%2", "/%2", "/x%2g"] {
            assert!(normalize_path_with(path, reject).is_ok(), "{path:?}");
        }
        let decode = opts(Decode, PathParams::Keep);
        let cases = [
            ("/%2Fadmin", "/admin"),
            ("/%2fadmin", "/admin"),
            ("/x/..%2fadmin", "/admin"),
            ("/%2f%2fadmin", "/admin"),
            ("/%5cadmin", "/admin"),
            ("/a%2Fb%5Cc", "/a/b/c"),
            ("/%252F", "/%252F"),
        ];
        for (given, want) in cases {
            assert_eq!(
                normalize_path_with(given, decode).unwrap(),
                want,
                "{given:?}"
            );
        }
        // Without normalize_path only the slashes change.
        let raw = PathOptions {
            normalize: false,
            ..decode
        };
        assert_eq!(
            normalize_path_with("/x/..%2f%61dmin", raw).unwrap(),
            "/x/../%61dmin"
        );
        assert!(matches!(
            normalize_path_with("/x/../%61", raw).unwrap(),
            Cow::Borrowed(_)
        ));
        let keep = opts(Keep, PathParams::Keep);
        assert_eq!(
            normalize_path_with("/x/..%2fadmin", keep).unwrap(),
            "/x/..%2Fadmin"
        );
    }

    #[test]
    fn path_params() {
        let m = opts(EncodedSlashes::Reject, PathParams::Match);
        // (given, forwarded, matched by the rules)
        let cases = [
            ("/;/admin", "/admin", "/admin"),
            ("/.;/admin", "/admin", "/admin"),
            ("/..;/admin", "/admin", "/admin"),
            ("/;x=1/admin", "/admin", "/admin"),
            ("/admin;jsessionid=1", "/admin;jsessionid=1", "/admin"),
            ("/app;jsessionid=1/x", "/app;jsessionid=1/x", "/app/x"),
            ("/admin/..;/public", "/public", "/public"),
            ("/a/%2e%2e;x/b", "/b", "/b"),
            ("/a;x/.;y", "/a;x/", "/a/"),
            ("/a/;x", "/a/", "/a/"),
            ("/a;b;c/d;e", "/a;b;c/d;e", "/a/d"),
        ];
        for (given, forwarded, matched) in cases {
            let f = normalize_path_with(given, m).unwrap();
            assert_eq!(f, forwarded, "{given:?}");
            assert_eq!(match_path(&f, PathParams::Match), matched, "{given:?}");
        }
        // With `keep`, parameters are segment data.
        let k = opts(EncodedSlashes::Reject, PathParams::Keep);
        assert_eq!(normalize_path_with("/..;/admin", k).unwrap(), "/..;/admin");
        assert_eq!(match_path("/a;x/b", PathParams::Keep), "/a;x/b");
        for path in ["/api/v1", "/a;x/b", "/a;x/", "/;x."] {
            let f = normalize_path_with(path, m).unwrap();
            let again = normalize_path_with(&f, m).unwrap();
            assert!(matches!(again, Cow::Borrowed(_)), "{path:?} -> {f:?}");
        }
        assert!(matches!(
            match_path("/api/v1", PathParams::Match),
            Cow::Borrowed(_)
        ));
    }

    fn check(path: &str) -> Result<(), TestCaseError> {
        use EncodedSlashes::*;
        for o in [
            opts(Keep, PathParams::Keep),
            opts(Decode, PathParams::Match),
            opts(Reject, PathParams::Match),
        ] {
            let Ok(once) = normalize_path_with(path, o) else {
                prop_assert!(o.encoded_slashes == Reject);
                continue;
            };
            let twice = normalize_path_with(&once, o).unwrap();
            prop_assert_eq!(&once, &twice, "not idempotent for {:?} ({:?})", path, o);
            prop_assert!(matches!(twice, Cow::Borrowed(_)), "{:?} allocates", once);
            if path != "*" && o.path_params == PathParams::Match {
                let matched = match_path(&once, PathParams::Match);
                prop_assert!(
                    matched.split('/').skip(1).all(|s| s != "." && s != ".."),
                    "{:?} -> {:?}",
                    path,
                    matched
                );
            }
        }
        let once = normalize_path(path);
        let twice = normalize_path(&once);
        prop_assert_eq!(&once, &twice, "not idempotent for {:?}", path);
        prop_assert!(
            matches!(twice, Cow::Borrowed(_)),
            "normal form {:?} allocates",
            once
        );
        if path != "*" {
            prop_assert!(once.starts_with('/'), "{:?} -> {:?}", path, once);
            prop_assert!(!once.contains("//"), "{:?} -> {:?}", path, once);
            prop_assert!(
                once.split('/').all(|seg| seg != "." && seg != ".."),
                "{:?} -> {:?}",
                path,
                once
            );
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn normal_form_tricky_alphabet(path in "/?([/.%;]|%2[eEfF5]|%5[cC]|%6[1-6]|%3[0-9]|[0-9a-fA-F]|x|é){0,24}") {
            check(&path)?;
        }

        #[test]
        fn normal_form_any_text(path in "\\PC{0,40}") {
            check(&path)?;
        }
    }
}
