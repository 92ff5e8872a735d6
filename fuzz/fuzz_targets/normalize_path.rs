//! Path normalization (SPEC §3), with the properties its documentation
//! promises: the result is a fixed point (normalizing it again returns it
//! unchanged and borrowed, without allocating), starts with `/`, has no
//! empty segment (`//`) and no `.` or `..` segment. The asterisk-form `*` is
//! returned as is.

#![no_main]

use fairway_acl::normalize_path;
use libfuzzer_sys::fuzz_target;
use std::borrow::Cow;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let once = normalize_path(path);
    let twice = normalize_path(&once);
    assert_eq!(once, twice, "not idempotent for {path:?}");
    assert!(
        matches!(twice, Cow::Borrowed(_)),
        "the normal form {once:?} of {path:?} allocates"
    );
    if path == "*" {
        assert_eq!(once, "*");
        return;
    }
    assert!(once.starts_with('/'), "{path:?} -> {once:?}");
    assert!(!once.contains("//"), "{path:?} -> {once:?}");
    assert!(
        once.split('/').all(|seg| seg != "." && seg != ".."),
        "{path:?} -> {once:?}"
    );
    // Already normal input comes back borrowed.
    if *once == *path {
        assert!(matches!(once, Cow::Borrowed(_)), "{path:?} allocates");
    }
});
