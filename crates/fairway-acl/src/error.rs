//! The one error type of the ACL language.

/// A parse error in an ACL, condition or rule, with the byte offset in the
/// parsed string where the problem starts (the config loader adds it to the
/// YAML value's column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AclError {
    /// Human-readable message naming the offending word, e.g.
    /// ``unknown fetch `paht_beg` (known: path, path_beg, ...)``.
    pub message: String,
    /// Byte offset into the parsed string.
    pub offset: usize,
}

impl AclError {
    /// Builds an error at `offset`.
    pub fn new(offset: usize, message: impl Into<String>) -> Self {
        AclError {
            message: message.into(),
            offset,
        }
    }
}
