//! `frontends.NAME.compression`: which responses fairway compresses, and how.

/// A content coding fairway can compress with (RFC 9110 §8.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coding {
    /// Zstandard (RFC 8878), `zstd`.
    Zstd,
    /// Brotli (RFC 7932), `br`.
    Br,
    /// gzip (RFC 1952), `gzip`.
    Gzip,
}

impl Coding {
    /// Every coding, with its name in `Accept-Encoding` and in the config.
    pub const ALL: [(&'static str, Coding); 3] = [
        ("zstd", Coding::Zstd),
        ("br", Coding::Br),
        ("gzip", Coding::Gzip),
    ];

    /// The coding's name, as in `Content-Encoding`.
    pub fn name(self) -> &'static str {
        match self {
            Coding::Zstd => "zstd",
            Coding::Br => "br",
            Coding::Gzip => "gzip",
        }
    }
}

/// Response compression of a frontend (HAProxy's `compression algo` and
/// `compression type`).
///
/// A response is compressed when the client accepts one of `algos`, the
/// request is HTTP/1.1 or later and not `HEAD`, the status is 200 to 203,
/// the response has no `Content-Encoding`, no `Content-Range` and no
/// `Cache-Control: no-transform`, its media type is one of `types`, and its
/// `Content-Length`, when it has one, is at least `min_size`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compression {
    /// Codings in preference order, at least one: among those the client
    /// accepts with the highest q-value, the first of this list wins.
    pub algos: Vec<Coding>,
    /// Media types compressed (`text/html`; `text/*` for every subtype),
    /// lower case. Default: [`Compression::DEFAULT_TYPES`].
    pub types: Vec<String>,
    /// Responses whose `Content-Length` is below this are sent as they are
    /// (default 0: any size; a response without a length is compressed).
    pub min_size: u64,
}

impl Compression {
    /// The media types compressed when `types` is not given: text and the
    /// usual structured text formats (images, video and archives are
    /// compressed already).
    pub const DEFAULT_TYPES: [&'static str; 8] = [
        "text/html",
        "text/plain",
        "text/css",
        "text/xml",
        "text/javascript",
        "application/javascript",
        "application/json",
        "image/svg+xml",
    ];

    /// Whether `media_type` (a `Content-Type` value, parameters allowed)
    /// is one of `types`.
    pub fn compresses_type(&self, media_type: &[u8]) -> bool {
        let end = media_type
            .iter()
            .position(|&b| b == b';')
            .unwrap_or(media_type.len());
        let mt = media_type[..end].trim_ascii();
        self.types.iter().any(|t| match t.strip_suffix('*') {
            Some(prefix) => {
                mt.len() > prefix.len()
                    && mt[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
            }
            None => mt.eq_ignore_ascii_case(t.as_bytes()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_match_the_media_type_without_parameters() {
        let c = Compression {
            algos: vec![Coding::Gzip],
            types: vec!["text/html".into(), "application/*".into()],
            min_size: 0,
        };
        assert!(c.compresses_type(b"text/html"));
        assert!(c.compresses_type(b"Text/HTML; charset=utf-8"));
        assert!(c.compresses_type(b" text/html ;q"));
        assert!(c.compresses_type(b"application/json"));
        assert!(!c.compresses_type(b"application/"));
        assert!(!c.compresses_type(b"text/html5"));
        assert!(!c.compresses_type(b"text/plain"));
        assert!(!c.compresses_type(b""));
    }
}
