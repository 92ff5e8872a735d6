//! Splitting HAProxy lines into words (quotes, escapes, byte offsets).
