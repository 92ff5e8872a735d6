//! The differential fuzzer (filled in below).
