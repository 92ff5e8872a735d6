//! Extracting samples from request parts without allocating.

/// The host part of a `Host` header value: any `:port` removed (an IPv6
/// literal keeps its brackets, `[::1]:80` gives `[::1]`), and one trailing
/// dot of a fully qualified name removed (`example.org.` is `example.org`).
pub(crate) fn host_only(host: &str) -> &str {
    let host = if host.starts_with('[') {
        match memchr::memchr(b']', host.as_bytes()) {
            Some(end) => host.get(..=end).unwrap_or(host),
            None => host,
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) if port.bytes().all(|c| c.is_ascii_digit()) => name,
            _ => host,
        }
    };
    match host.strip_suffix('.') {
        Some(name) if !name.is_empty() => name,
        _ => host,
    }
}

/// The value of the first `name=value` (or bare `name`, giving an empty
/// value) parameter of a query string, split on `&`, not decoded.
pub(crate) fn url_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|param| {
        let rest = param.strip_prefix(name)?;
        if rest.is_empty() {
            Some(rest)
        } else {
            rest.strip_prefix('=')
        }
    })
}

/// Calls `f` on each comma-separated element of a header value, trimmed of
/// blanks, until it returns `true`; returns whether it did. Commas inside
/// double-quoted strings do not split (HAProxy's `http_find_hdr_value_end`).
pub(crate) fn any_element(value: &[u8], mut f: impl FnMut(&[u8]) -> bool) -> bool {
    let mut rest = value;
    loop {
        let end = element_end(rest);
        let (element, tail) = rest.split_at(end);
        if f(trim_blanks(element)) {
            return true;
        }
        match tail.split_first() {
            Some((_comma, tail)) => rest = tail,
            None => return false,
        }
    }
}

/// Index of the first comma outside a quoted string, or the length.
fn element_end(s: &[u8]) -> usize {
    let mut quoted = false;
    let mut escaped = false;
    for (at, &c) in s.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted {
            match c {
                b'\\' => escaped = true,
                b'"' => quoted = false,
                _ => {}
            }
        } else if c == b'"' {
            quoted = true;
        } else if c == b',' {
            return at;
        }
    }
    s.len()
}

fn trim_blanks(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_is_stripped() {
        for (given, want) in [
            ("example.org", "example.org"),
            ("example.org:8080", "example.org"),
            ("example.org:", "example.org"),
            ("example.org.", "example.org"),
            ("example.org.:443", "example.org"),
            ("[::1]:80", "[::1]"),
            ("[::1]", "[::1]"),
            ("[2001:db8::1]:443", "[2001:db8::1]"),
            ("::1", "::1"),
            ("127.0.0.1:80", "127.0.0.1"),
            ("a:b", "a:b"),
            ("", ""),
            (".", "."),
            ("[", "["),
        ] {
            assert_eq!(host_only(given), want, "{given}");
        }
    }

    #[test]
    fn url_params() {
        let q = "a=1&id=42&id=43&flag&empty=&x=y=z";
        assert_eq!(url_param(q, "id"), Some("42"));
        assert_eq!(url_param(q, "a"), Some("1"));
        assert_eq!(url_param(q, "flag"), Some(""));
        assert_eq!(url_param(q, "empty"), Some(""));
        assert_eq!(url_param(q, "x"), Some("y=z"));
        assert_eq!(url_param(q, "i"), None);
        assert_eq!(url_param(q, "missing"), None);
        assert_eq!(url_param("", "a"), None);
        assert_eq!(url_param("a%3D=1", "a"), None);
    }

    fn elements(v: &str) -> Vec<String> {
        let mut out = Vec::new();
        let hit = any_element(v.as_bytes(), |e| {
            out.push(String::from_utf8_lossy(e).into_owned());
            false
        });
        assert!(!hit);
        out
    }

    #[test]
    fn header_elements() {
        assert_eq!(elements("a, b ,\tc"), ["a", "b", "c"]);
        assert_eq!(elements(""), [""]);
        assert_eq!(elements("a,"), ["a", ""]);
        assert_eq!(elements(r#"x="1,2", y"#), [r#"x="1,2""#, "y"]);
        assert_eq!(elements(r#""a\",b", c"#), [r#""a\",b""#, "c"]);
        assert!(any_element(b"a, b, c", |e| e == b"b"));
    }
}
