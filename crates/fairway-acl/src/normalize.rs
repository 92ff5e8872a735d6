//! Path normalization, the security default of SPEC §3.
//!
//! Three steps, in this order:
//!
//! 1. percent-encoded *unreserved* characters (`A-Z a-z 0-9 - . _ ~`) are
//!    decoded; every other valid escape stays encoded with its hex digits
//!    upper-cased (`%2f` becomes `%2F`); an invalid escape (`%zz`, a trailing
//!    `%`) is left as is;
//! 2. repeated slashes are merged;
//! 3. dot segments are removed (RFC 3986 §5.2.4); `..` at the root stays at
//!    the root.
//!
//! The result is a fixed point: normalizing it again changes nothing. For
//! that, an escape that decodes to a hex digit is kept encoded right after a
//! literal `%` that does not start a valid escape, so that decoding never
//! forms a new escape (`%%32%65` would otherwise become `%2e`, a dot, on the
//! next pass).

use memchr::memchr;
use std::borrow::Cow;

/// Normalizes a request path (no query string): percent-encoded unreserved
/// characters are decoded, repeated slashes merged and dot segments resolved;
/// `%2F` and other reserved escapes stay encoded. Returns the input borrowed
/// when it is already normal, so the common case does not allocate.
///
/// An empty path becomes `/`; a path that does not start with `/` is
/// treated as if it did, except the asterisk-form `*`, which is returned
/// unchanged.
///
/// ```
/// use fairway_acl::normalize_path;
/// assert_eq!(normalize_path("//admin"), "/admin");
/// assert_eq!(normalize_path("/x/../%61dmin/./"), "/admin/");
/// assert_eq!(normalize_path("/a%2fb"), "/a%2Fb");
/// assert!(matches!(normalize_path("/api/v1"), std::borrow::Cow::Borrowed(_)));
/// ```
pub fn normalize_path(path: &str) -> Cow<'_, str> {
    if path.is_empty() {
        return Cow::Borrowed("/");
    }
    if path == "*" {
        return Cow::Borrowed(path);
    }
    let decoded = decode_unreserved(path);
    if decoded.starts_with('/') && !has_empty_or_dot_segment(&decoded) {
        return decoded;
    }
    Cow::Owned(remove_dot_segments(&decoded))
}

/// Step 1: decodes escapes of unreserved characters and upper-cases the
/// others, allocating only when something changes.
fn decode_unreserved(path: &str) -> Cow<'_, str> {
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
        if !decode && !hi.is_ascii_lowercase() && !lo.is_ascii_lowercase() {
            // Already a canonical escape: copied along later.
            continue;
        }
        let o = out.get_or_insert_with(|| String::with_capacity(path.len()));
        o.push_str(path.get(copied..at).unwrap_or_default());
        if decode {
            o.push(char::from(value));
        } else {
            o.push('%');
            o.push(char::from(hi.to_ascii_uppercase()));
            o.push(char::from(lo.to_ascii_uppercase()));
        }
        copied = at + 3;
    }
    match out {
        None => Cow::Borrowed(path),
        Some(mut o) => {
            o.push_str(path.get(copied..).unwrap_or_default());
            Cow::Owned(o)
        }
    }
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

/// Whether `path` (starting with `/`) has `//`, or a `.` or `..` segment.
fn has_empty_or_dot_segment(path: &str) -> bool {
    memchr::memmem::find(path.as_bytes(), b"//").is_some()
        || path.split('/').any(|seg| seg == "." || seg == "..")
}

/// Steps 2 and 3: merges slashes and removes dot segments; the result starts
/// with `/` and ends with one when the input's last segment was empty, `.`
/// or `..`.
fn remove_dot_segments(path: &str) -> String {
    let body = path.strip_prefix('/').unwrap_or(path);
    let mut kept: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for seg in body.split('/') {
        trailing_slash = true;
        match seg {
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

    fn check(path: &str) -> Result<(), TestCaseError> {
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
        fn normal_form_tricky_alphabet(path in "/?([/.%]|%2[eEfF5]|%6[1-6]|%3[0-9]|[0-9a-fA-F]|x|é){0,24}") {
            check(&path)?;
        }

        #[test]
        fn normal_form_any_text(path in "\\PC{0,40}") {
            check(&path)?;
        }
    }
}
