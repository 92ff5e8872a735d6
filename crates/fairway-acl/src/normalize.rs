//! Path normalization, the security default of SPEC §3.

use std::borrow::Cow;

/// Normalizes a request path (no query string): percent-encoded unreserved
/// characters are decoded, repeated slashes merged and dot segments resolved;
/// `%2F` and other reserved escapes stay encoded. Returns the input borrowed
/// when it is already normal, so the common case does not allocate.
pub fn normalize_path(path: &str) -> Cow<'_, str> {
    let _ = path;
    todo!()
}
