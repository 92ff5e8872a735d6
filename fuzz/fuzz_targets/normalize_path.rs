//! Path normalization (SPEC §3), with the properties its documentation
//! promises: the result is a fixed point (normalizing it again returns it
//! unchanged and borrowed, without allocating), starts with `/`, has no
//! empty segment (`//`) and no `.` or `..` segment. The asterisk-form `*` is
//! returned as is. The same holds under SPEC §9's options
//! ([`normalize_path_with`]), where the path the rules match
//! ([`match_path`]) has no `.` or `..` segment either.

#![no_main]

use fairway_acl::{match_path, normalize_path, normalize_path_with, EncodedSlashes, PathOptions};
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
    let decode = PathOptions {
        encoded_slashes: EncodedSlashes::Decode,
        ..PathOptions::default()
    };
    for options in [PathOptions::default(), decode] {
        let Ok(once) = normalize_path_with(path, options) else {
            assert_eq!(options.encoded_slashes, EncodedSlashes::Reject, "{path:?}");
            continue;
        };
        let twice = normalize_path_with(&once, options).expect("a normal form is accepted");
        assert_eq!(once, twice, "not idempotent for {path:?} ({options:?})");
        assert!(
            matches!(twice, Cow::Borrowed(_)),
            "the normal form {once:?} of {path:?} allocates ({options:?})"
        );
        let matched = match_path(&once, options.path_params);
        assert!(
            matched.split('/').all(|seg| seg != "." && seg != ".."),
            "{path:?} -> {matched:?}"
        );
    }
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
