//! What a message's fields say about its framing and its connection
//! (RFC 9112 §6, §9.3), read in one pass over the fields: one scan per
//! head instead of a map lookup per field name on the per-request path.

use http::{header, HeaderMap};

/// The framing and connection fields of one head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fields {
    /// `close` is among the `Connection` tokens.
    pub close: bool,
    /// `keep-alive` is among the `Connection` tokens.
    pub keep_alive: bool,
    /// With `Transfer-Encoding`: whether `chunked` is its final coding (a
    /// field present but empty: not chunked).
    pub chunked: Option<bool>,
    /// `Content-Length` (RFC 9110 §8.6): every value, comma-separated or
    /// in several fields, the same number; `Err` for anything else.
    pub length: Result<Option<u64>, &'static str>,
}

impl Fields {
    /// Reads `headers` in one pass (cheaper than a lookup per name: a
    /// lookup that finds nothing still hashes the name and probes).
    pub fn of(headers: &HeaderMap) -> Fields {
        let mut fields = Fields {
            close: false,
            keep_alive: false,
            chunked: None,
            length: Ok(None),
        };
        for (name, value) in headers {
            if *name == header::CONNECTION {
                for t in tokens(value) {
                    fields.close |= t.eq_ignore_ascii_case(b"close");
                    fields.keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
                }
            } else if *name == header::TRANSFER_ENCODING {
                let mut last = fields.chunked.unwrap_or(false);
                for t in tokens(value).filter(|t| !t.is_empty()) {
                    last = t.eq_ignore_ascii_case(b"chunked");
                }
                fields.chunked = Some(last);
            } else if *name == header::CONTENT_LENGTH {
                for t in tokens(value) {
                    fields.length = fields.length.and_then(|seen| length(t, seen));
                }
            }
        }
        fields
    }
}

/// The comma-separated elements of a field value, without whitespace
/// around them (RFC 9110 §5.6.1).
fn tokens(value: &http::HeaderValue) -> impl Iterator<Item = &[u8]> {
    value
        .as_bytes()
        .split(|b| *b == b',')
        .map(<[u8]>::trim_ascii)
}

/// One `Content-Length` value `t` after the values `seen`.
fn length(t: &[u8], seen: Option<u64>) -> Result<Option<u64>, &'static str> {
    if t.is_empty() || t.len() > 19 || !t.iter().all(u8::is_ascii_digit) {
        return Err("invalid Content-Length");
    }
    let n = t.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    match seen {
        Some(l) if l != n => Err("conflicting Content-Length values"),
        _ => Ok(Some(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(fields: &[(&str, &str)]) -> Fields {
        let mut map = HeaderMap::new();
        for (n, v) in fields {
            map.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        Fields::of(&map)
    }

    #[test]
    fn no_fields_say_nothing() {
        let f = of(&[("server", "x")]);
        assert_eq!(
            (f.close, f.keep_alive, f.chunked, f.length),
            (false, false, None, Ok(None))
        );
    }

    #[test]
    fn connection_tokens_in_any_field_and_case() {
        let f = of(&[
            ("connection", "Upgrade, KEEP-ALIVE"),
            ("connection", " close "),
        ]);
        assert!(f.close && f.keep_alive);
    }

    #[test]
    fn the_last_transfer_coding_decides() {
        assert_eq!(
            of(&[("transfer-encoding", "gzip, chunked")]).chunked,
            Some(true)
        );
        assert_eq!(
            of(&[("transfer-encoding", "chunked, gzip")]).chunked,
            Some(false)
        );
        assert_eq!(
            of(&[
                ("transfer-encoding", "gzip"),
                ("transfer-encoding", "chunked")
            ])
            .chunked,
            Some(true)
        );
        assert_eq!(
            of(&[("transfer-encoding", "chunked"), ("transfer-encoding", "")]).chunked,
            Some(true)
        );
        assert_eq!(of(&[("transfer-encoding", "chunked,")]).chunked, Some(true));
        assert_eq!(of(&[("transfer-encoding", "")]).chunked, Some(false));
    }

    #[test]
    fn lengths_must_agree_and_be_digits() {
        assert_eq!(of(&[("content-length", "5")]).length, Ok(Some(5)));
        assert_eq!(
            of(&[("content-length", "5, 5"), ("content-length", "5")]).length,
            Ok(Some(5))
        );
        assert!(of(&[("content-length", "5, 6")]).length.is_err());
        assert!(of(&[("content-length", "5"), ("content-length", "6")])
            .length
            .is_err());
        for bad in ["+5", "", "5 5", "0x5", "99999999999999999999", "-1"] {
            assert!(of(&[("content-length", bad)]).length.is_err(), "{bad:?}");
        }
    }
}
