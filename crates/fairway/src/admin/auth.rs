//! HTTP basic auth for the admin listener.
//!
//! The expected `Authorization` value is computed once; every request's
//! header is compared with it in constant time (the time depends only on
//! the lengths, never on where the first difference is).

use base64::Engine;

/// The `WWW-Authenticate` header value of a 401.
pub const CHALLENGE: &str = "Basic realm=\"fairway\"";

/// Checks `Authorization` headers against one user and password.
#[derive(Clone)]
pub struct BasicAuth {
    /// `user:password`, the decoded credentials a client must send.
    expected: Vec<u8>,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BasicAuth(<hidden>)")
    }
}

impl BasicAuth {
    /// Accepts `user` with `password`.
    pub fn new(user: &str, password: &str) -> Self {
        BasicAuth {
            expected: format!("{user}:{password}").into_bytes(),
        }
    }

    /// Whether an `Authorization` header value carries the right
    /// credentials. A missing, malformed or wrong header is refused.
    pub fn accepts(&self, header: Option<&[u8]>) -> bool {
        let Some(value) = header else {
            return false;
        };
        let Some(encoded) = strip_basic(value) else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
            return false;
        };
        constant_time_eq(&decoded, &self.expected)
    }
}

/// The credentials part of `Basic <credentials>` (scheme case-insensitive,
/// surrounding spaces allowed).
fn strip_basic(value: &[u8]) -> Option<&[u8]> {
    let value = trim(value);
    if value.len() < 6 || !value[..5].eq_ignore_ascii_case(b"basic") || value[5] != b' ' {
        return None;
    }
    let rest = trim(&value[6..]);
    (!rest.is_empty()).then_some(rest)
}

fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Compares two byte strings in time that depends only on their lengths:
/// every byte of the longer one is visited, differences are OR-ed together,
/// and nothing returns early.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    // A length difference is folded in like any other difference.
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user_pass: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
        .into_bytes()
    }

    #[test]
    fn accepts_only_the_right_credentials() {
        let auth = BasicAuth::new("admin", "s3cret");
        assert!(auth.accepts(Some(&header("admin:s3cret"))));
        assert!(auth.accepts(Some(b"basic YWRtaW46czNjcmV0")));
        assert!(auth.accepts(Some(b"  Basic   YWRtaW46czNjcmV0 ")));
        assert!(!auth.accepts(None));
        assert!(!auth.accepts(Some(&header("admin:s3cre"))));
        assert!(!auth.accepts(Some(&header("admin:s3cret2"))));
        assert!(!auth.accepts(Some(&header("Admin:s3cret"))));
        assert!(!auth.accepts(Some(&header(""))));
        assert!(!auth.accepts(Some(b"Basic")));
        assert!(!auth.accepts(Some(b"Basic ")));
        assert!(!auth.accepts(Some(b"Basic !!!not-base64")));
        assert!(!auth.accepts(Some(b"Bearer YWRtaW46czNjcmV0")));
        assert!(!auth.accepts(Some(b"BasicYWRtaW46czNjcmV0")));
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abc\0", b"abc"));
        assert!(!constant_time_eq(b"", b"\0"));
    }
}
