//! HTTP/1 framing at the edge (RFC 9112): what the rules see is what the
//! server receives.
//!
//! Before any rule runs, [`check_request`] accepts only the request-target
//! forms RFC 9112 §3.2 defines (origin-form, absolute-form, `*` for
//! `OPTIONS`; authority-form is `CONNECT`'s, which Pingora refuses first),
//! rewrites absolute-form to origin-form with `Host` taken from the target
//! (§3.2.2), and refuses a request whose `Host` is missing (HTTP/1.1),
//! repeated or malformed (§3.2). A refused request gets `400` and never
//! reaches a server. The path the rules then read (`uri`) and the bytes
//! Pingora sends upstream (`raw_path`) are checked to be the same.
//!
//! [`downstream_response`] gives HTTP/1.0 clients HTTP/1.0 framing: no
//! chunked encoding (§7.1: a 1.0 recipient cannot parse it), a
//! close-delimited body instead.

use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING, UPGRADE};
use http::{Method, Version};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::ErrorType;

/// Why a request head is refused with `400`; logged at `info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// A target that is not origin-, absolute- or asterisk-form.
    Target,
    /// `*` with a method other than `OPTIONS`.
    Asterisk,
    /// Userinfo (`user@`) in an absolute-form target.
    Userinfo,
    /// An HTTP/1.1 request without `Host`.
    NoHost,
    /// More than one `Host` field.
    ManyHosts,
    /// A `Host` value that is not a valid authority.
    BadHost,
    /// `chunked` applied more than once.
    ChunkedTwice,
    /// An HTTP/2 `Host` field that names another host than `:authority`.
    AuthorityHost,
    /// `%2F` or `%5C` in the path (`encoded_slashes: reject`).
    EncodedSlash,
    /// An HTTP/2 request without `:path`.
    NoPath,
    /// An HTTP/2 `:scheme` other than `http` or `https` (or empty).
    Scheme,
    /// An HTTP/2 request with neither `:authority` nor a non-empty `Host`.
    NoAuthority,
    /// An HTTP/2 field value that starts or ends with whitespace.
    FieldWhitespace,
}

impl Refused {
    /// The reason written to the log line.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refused::Target => "request target is not origin-form or absolute-form (RFC 9112 3.2)",
            Refused::Asterisk => {
                "asterisk-form target with a method other than OPTIONS (RFC 9112 3.2.4)"
            }
            Refused::Userinfo => "userinfo in the request target (RFC 9110 4.2.4)",
            Refused::NoHost => "HTTP/1.1 request without Host (RFC 9112 3.2)",
            Refused::ManyHosts => "more than one Host field (RFC 9112 3.2)",
            Refused::BadHost => "invalid Host field value (RFC 9112 3.2)",
            Refused::ChunkedTwice => "chunked applied more than once (RFC 9112 7)",
            Refused::AuthorityHost => "Host differs from :authority (RFC 9113 8.3.1)",
            Refused::EncodedSlash => "encoded slash in the path (encoded_slashes: reject)",
            Refused::NoPath => "HTTP/2 request without :path (RFC 9113 8.3.1)",
            Refused::Scheme => "HTTP/2 :scheme other than http or https (RFC 9113 8.3.1)",
            Refused::NoAuthority => {
                "HTTP/2 request without :authority or Host (RFC 9113 8.3.1, RFC 9110 4.2.1)"
            }
            Refused::FieldWhitespace => {
                "field value with leading or trailing whitespace (RFC 9113 8.2.1)"
            }
        }
    }
}

/// Checks the request head and puts an absolute-form target into
/// origin-form; `Err` means `400` and no server sees the request.
pub(crate) fn check_request(req: &mut RequestHeader) -> std::result::Result<(), Refused> {
    let h1 = matches!(req.version, Version::HTTP_10 | Version::HTTP_11);
    if !h1 {
        check_h2(req)?;
    }
    match req.raw_path().first() {
        Some(b'/') => {
            // A backslash is not a URI character (RFC 3986 §3.3); some
            // servers read it as `/`, which the rules did not.
            if req.raw_path().contains(&b'\\') {
                return Err(Refused::Target);
            }
            // The rules read `uri`; the server gets `raw_path`. Pingora
            // builds `uri` from a percent-encoded copy when the raw bytes do
            // not parse: then the two differ and the request is refused.
            if req.uri.path_and_query().map(|p| p.as_str().as_bytes()) != Some(req.raw_path()) {
                return Err(Refused::Target);
            }
        }
        Some(b'*') => {
            if req.raw_path() != b"*" {
                return Err(Refused::Target);
            }
            if req.method != Method::OPTIONS {
                return Err(Refused::Asterisk);
            }
        }
        _ if h1 => absolute_to_origin(req)?,
        _ => return Err(Refused::Target),
    }
    if h1 {
        check_host(req)?;
        check_length(req)?;
    } else {
        authority_to_host(req)?;
    }
    Ok(())
}

/// What RFC 9113 calls malformed and the `h2` crate lets through: a
/// request without `:path` (the URI then has an empty path, which Pingora
/// would send as `/`), a `:scheme` other than `http`/`https` (an empty one
/// too), a field value with leading or trailing whitespace (§8.2.1: a
/// server strips it, the rules would not). A `Host` field from HTTP/1's
/// parser never has any (it trims OWS, RFC 9112 §5.1). CONNECT never gets
/// here (Pingora refuses it), so every request needs a `:path`.
fn check_h2(req: &RequestHeader) -> std::result::Result<(), Refused> {
    if req.uri.path().is_empty() {
        return Err(Refused::NoPath);
    }
    if let Some(scheme) = req.uri.scheme_str() {
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(Refused::Scheme);
        }
    }
    let ws = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    if req
        .headers
        .values()
        .any(|v| ws(v.as_bytes().first()) || ws(v.as_bytes().last()))
    {
        return Err(Refused::FieldWhitespace);
    }
    Ok(())
}

/// An HTTP/2 request's `:authority` becomes its `Host` field, once, before
/// anything rewrites the target (a path rewrite rebuilds the URI from the
/// path alone): the `host` the rules see and the `Host` the server gets
/// are `:authority` whatever happens to the path (RFC 9113 §8.3.1). A
/// `Host` field that names another host is refused, as §8.3.1 says a
/// server should; without `:authority`, `Host` is checked as HTTP/1.0's.
/// Either is a valid, non-empty authority, the same check as HTTP/1's
/// `Host` (an `http` URI with an empty host is invalid, RFC 9110 §4.2.1;
/// RFC 9113 §8.3.1 asks for `:authority` or `Host`).
fn authority_to_host(req: &mut RequestHeader) -> std::result::Result<(), Refused> {
    let Some(authority) = req.uri.authority().map(|a| a.as_str().to_owned()) else {
        check_host(req)?;
        return match req.headers.get(HOST) {
            Some(h) if !h.is_empty() => Ok(()),
            _ => Err(Refused::NoAuthority),
        };
    };
    if authority.is_empty() {
        return Err(Refused::NoAuthority);
    }
    if !valid_host(authority.as_bytes()) {
        return Err(Refused::BadHost);
    }
    let mut hosts = req.headers.get_all(HOST).iter();
    if hosts.any(|h| !h.as_bytes().eq_ignore_ascii_case(authority.as_bytes())) {
        return Err(Refused::AuthorityHost);
    }
    req.insert_header(HOST, authority)
        .map_err(|_| Refused::BadHost)?;
    Ok(())
}

/// `chunked` at most once; a repeated Content-Length (`5, 5`, which
/// Pingora accepted as one value) goes upstream as one plain value.
fn check_length(req: &mut RequestHeader) -> std::result::Result<(), Refused> {
    if req.headers.contains_key(TRANSFER_ENCODING) {
        let chunked = req
            .headers
            .get_all(TRANSFER_ENCODING)
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .filter(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"))
            .count();
        if chunked > 1 {
            return Err(Refused::ChunkedTwice);
        }
        return Ok(());
    }
    let mut values = req.headers.get_all(CONTENT_LENGTH).iter();
    let (Some(first), more) = (values.next(), values.next().is_some()) else {
        return Ok(());
    };
    if more || first.as_bytes().contains(&b',') {
        let n = first
            .as_bytes()
            .split(|&b| b == b',')
            .next()
            .map(<[u8]>::trim_ascii)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| d.parse::<u64>().ok())
            .ok_or(Refused::Target)?;
        req.insert_header(CONTENT_LENGTH, n)
            .map_err(|_| Refused::Target)?;
    }
    Ok(())
}

/// An absolute-form target (`http://host/path`) becomes origin-form with
/// `Host` set from it: RFC 9112 §3.2.2 makes the target's authority win
/// over a received `Host`, so the rules and the server both see it.
fn absolute_to_origin(req: &mut RequestHeader) -> std::result::Result<(), Refused> {
    let raw = req.raw_path();
    let scheme_len = if starts_with_ignore_case(raw, b"http://") {
        7
    } else if starts_with_ignore_case(raw, b"https://") {
        8
    } else {
        return Err(Refused::Target);
    };
    let rest = &raw[scheme_len..];
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.contains(&b'@') {
        return Err(Refused::Userinfo);
    }
    if authority.is_empty() || http::uri::Authority::try_from(authority).is_err() {
        return Err(Refused::Target);
    }
    let path = match path.first() {
        None => b"/".to_vec(),
        Some(b'/') => path.to_vec(),
        Some(b'?') => [b"/".as_slice(), path].concat(),
        _ => return Err(Refused::Target),
    };
    let host = http::HeaderValue::from_bytes(authority).map_err(|_| Refused::Target)?;
    req.set_raw_path(&path).map_err(|_| Refused::Target)?;
    if req.uri.path_and_query().map(|p| p.as_str().as_bytes()) != Some(path.as_slice()) {
        return Err(Refused::Target);
    }
    req.insert_header(HOST, host).map_err(|_| Refused::Target)?;
    Ok(())
}

/// One `Host`, a valid authority (or empty); HTTP/1.0 may omit it.
fn check_host(req: &RequestHeader) -> std::result::Result<(), Refused> {
    let mut hosts = req.headers.get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if req.version == Version::HTTP_11 => Err(Refused::NoHost),
        (None, _) => Ok(()),
        (Some(_), Some(_)) => Err(Refused::ManyHosts),
        (Some(h), None) => {
            let v = h.as_bytes();
            if v.is_empty() {
                return Ok(());
            }
            if valid_host(v) {
                Ok(())
            } else {
                Err(Refused::BadHost)
            }
        }
    }
}

/// `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2): an IP
/// literal in brackets, or reg-name / IPv4 characters (no userinfo), then
/// an optional port of at most 5 digits. A byte loop, no allocation.
fn valid_host(v: &[u8]) -> bool {
    let (host, rest) = if v.first() == Some(&b'[') {
        let Some(end) = v.iter().position(|&b| b == b']') else {
            return false;
        };
        let inside = &v[1..end];
        if inside.is_empty()
            || !inside
                .iter()
                .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))
        {
            return false;
        }
        (&v[..=end], &v[end + 1..])
    } else {
        let end = v.iter().position(|&b| b == b':').unwrap_or(v.len());
        let host = &v[..end];
        let ok = host.iter().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.'
                        | b'_'
                        | b'~'
                        | b'%'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                )
        });
        if !ok {
            return false;
        }
        (host, &v[end..])
    };
    let _ = host;
    match rest.split_first() {
        None => true,
        Some((b':', port)) => port.len() <= 5 && port.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    }
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// A request without `Host` still gets one upstream: empty, as RFC 9112
/// §3.2 has a client send when the target has no authority (an HTTP/1.0
/// request). An HTTP/2 request already has `:authority` as its `Host`
/// ([`check_request`]); the URI's authority is read only as a fallback.
pub(crate) fn upstream_request(req: &mut RequestHeader) -> Result<()> {
    if !req.headers.contains_key(HOST) {
        let host = req.uri.authority().map(|a| a.as_str().to_owned());
        req.insert_header(HOST, host.unwrap_or_default())?;
    }
    Ok(())
}

/// Removes the hop-by-hop fields of a request before it goes to a server
/// (RFC 9110 §7.6.1): `Connection` and the fields it names, `Keep-Alive`,
/// `Proxy-Connection`; for an upgrade, `Connection: upgrade` is sent
/// again (with `Upgrade`). The fields that frame the request or name its
/// host are never removed by name: the server gets the host the rules saw.
pub(crate) fn strip_hop_by_hop(req: &mut RequestHeader, upgrade: bool) -> Result<()> {
    // Most requests carry none: one pass over the names, no lookups.
    let hop = req.headers.keys().any(|name| {
        *name == http::header::CONNECTION
            || matches!(name.as_str(), "keep-alive" | "proxy-connection")
    });
    if !hop && !upgrade {
        return Ok(());
    }
    let named: Vec<String> = req
        .headers
        .get_all(http::header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(|t| String::from_utf8_lossy(t.trim_ascii()).to_ascii_lowercase())
        .filter(|t| {
            !t.is_empty()
                && !matches!(
                    t.as_str(),
                    "close"
                        | "keep-alive"
                        | "upgrade"
                        | "host"
                        | "content-length"
                        | "transfer-encoding"
                )
        })
        .collect();
    for name in &named {
        req.remove_header(name.as_str());
    }
    req.remove_header(&http::header::CONNECTION);
    req.remove_header("keep-alive");
    req.remove_header("proxy-connection");
    if upgrade {
        req.insert_header(http::header::CONNECTION, "upgrade")?;
    }
    Ok(())
}

/// A server's status outside 100-599 is no valid status (RFC 9110 §15): a
/// client treats it as a 5xx, so fairway answers `502` as for an invalid
/// response head (an `InvalidHTTPHeader` from the server, logged `SH`).
pub(crate) fn check_status(status: u16) -> Result<()> {
    if (100..600).contains(&status) {
        return Ok(());
    }
    Err(Error::explain(
        ErrorType::InvalidHTTPHeader,
        format!("invalid response status {status} (RFC 9110 §15: 100-599)"),
    )
    .into_up())
}

/// An empty last piece of request body is no body: HTTP/2's empty DATA
/// frame with END_STREAM arrives as one. Pingora's chunked writer (to an
/// HTTP/1 server) writes an empty piece as `0\r\n\r\n`, the last chunk,
/// and the body's end writes that again: the server reads the second as
/// its next request. Dropped (`None` at the end of the stream), the end of
/// the body is sent once. Only the last: Pingora skips an empty piece
/// before it, and reads `None` as the end.
pub(crate) fn request_body(body: &mut Option<bytes::Bytes>, end_of_stream: bool) {
    if end_of_stream && body.as_ref().is_some_and(bytes::Bytes::is_empty) {
        *body = None;
    }
}

/// A `101 Switching Protocols` to a request that asked for no upgrade
/// breaks RFC 9110 §15.2.2 (a server switches only to a protocol the
/// client named): it is the server's error, `502`.
pub(crate) fn check_response(req: &RequestHeader, resp: &ResponseHeader) -> Result<()> {
    if resp.status == http::StatusCode::SWITCHING_PROTOCOLS && !req.headers.contains_key(UPGRADE) {
        return Err(Error::explain(
            ErrorType::HTTPStatus(502),
            "101 Switching Protocols to a request without Upgrade",
        )
        .into_up());
    }
    Ok(())
}

/// Frames the response for the client's HTTP version: an HTTP/1.0 client
/// gets no chunked encoding (Pingora adds it for a close-delimited server
/// response) but a close-delimited body, so the connection closes after it.
/// Returns whether the connection must close.
pub(crate) fn downstream_response(client: Version, resp: &mut ResponseHeader) -> bool {
    if client == Version::HTTP_10 && resp.headers.contains_key(TRANSFER_ENCODING) {
        resp.remove_header(&TRANSFER_ENCODING);
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, target: &[u8], version: Version, hosts: &[&str]) -> RequestHeader {
        let mut r = RequestHeader::build(method, target, None).unwrap();
        r.set_version(version);
        for h in hosts {
            r.append_header(HOST, *h).unwrap();
        }
        r
    }

    fn check(
        method: &str,
        target: &[u8],
        hosts: &[&str],
    ) -> std::result::Result<RequestHeader, Refused> {
        let mut r = req(method, target, Version::HTTP_11, hosts);
        check_request(&mut r).map(|()| r)
    }

    #[test]
    fn origin_form_passes_unchanged() {
        let r = check("GET", b"/a/b?x=1", &["a"]).unwrap();
        assert_eq!(r.raw_path(), b"/a/b?x=1");
        assert_eq!(r.uri.path(), "/a/b");
    }

    #[test]
    fn targets_that_are_not_a_form_of_rfc_9112_are_refused() {
        for t in [
            &b"admin"[..],
            b"./admin",
            b"%2fadmin",
            b"\\admin",
            b"*admin",
            b"app.example/admin",
            b"admin:80",
            b" /admin",
            b"ftp://a/admin",
            b"http:/admin",
            b"http:///admin",
            b"/\\admin",
        ] {
            assert!(
                check("GET", t, &["a"]).is_err(),
                "{} passed",
                String::from_utf8_lossy(t)
            );
        }
    }

    #[test]
    fn absolute_form_becomes_origin_form_with_its_host() {
        let r = check("GET", b"http://App.Example:8080/admin?q", &["other"]).unwrap();
        assert_eq!(r.raw_path(), b"/admin?q");
        assert_eq!(r.uri.path(), "/admin");
        assert_eq!(r.headers.get(HOST).unwrap(), "App.Example:8080");
        let r = check("GET", b"HTTPS://a", &[]).unwrap();
        assert_eq!(r.raw_path(), b"/");
        assert_eq!(
            check("GET", b"http://u:p@a/x", &["a"]).unwrap_err(),
            Refused::Userinfo
        );
    }

    #[test]
    fn asterisk_form_is_for_options_only() {
        assert!(check("OPTIONS", b"*", &["a"]).is_ok());
        assert_eq!(check("GET", b"*", &["a"]).unwrap_err(), Refused::Asterisk);
    }

    #[test]
    fn host_is_required_once_and_valid() {
        assert_eq!(check("GET", b"/", &[]).unwrap_err(), Refused::NoHost);
        assert_eq!(
            check("GET", b"/", &["a", "b"]).unwrap_err(),
            Refused::ManyHosts
        );
        assert_eq!(check("GET", b"/", &["a b"]).unwrap_err(), Refused::BadHost);
        assert_eq!(check("GET", b"/", &["u@a"]).unwrap_err(), Refused::BadHost);
        assert!(check("GET", b"/", &[""]).is_ok());
        assert!(check("GET", b"/", &["[::1]:80"]).is_ok());
        let mut r10 = req("GET", b"/", Version::HTTP_10, &[]);
        assert!(check_request(&mut r10).is_ok());
    }

    #[test]
    fn framing_fields() {
        let mut r = req("POST", b"/", Version::HTTP_11, &["a"]);
        r.append_header(TRANSFER_ENCODING, "chunked, chunked")
            .unwrap();
        assert_eq!(check_request(&mut r).unwrap_err(), Refused::ChunkedTwice);
        let mut r = req("POST", b"/", Version::HTTP_11, &["a"]);
        r.append_header(CONTENT_LENGTH, "5, 5").unwrap();
        check_request(&mut r).unwrap();
        assert_eq!(r.headers.get(CONTENT_LENGTH).unwrap(), "5");
        assert_eq!(check("GET", b"/", &["a:x"]).unwrap_err(), Refused::BadHost);
        assert!(check("GET", b"/", &["a:8080"]).is_ok());
        assert!(check("GET", b"/", &["a:"]).is_ok());
        assert!(check("GET", b"/", &["10.0.0.1:80"]).is_ok());
        for bad in ["[::1", "[]:80", "a:123456", "a/b", "a b", "[::1]x"] {
            assert_eq!(
                check("GET", b"/", &[bad]).unwrap_err(),
                Refused::BadHost,
                "{bad}"
            );
        }
    }

    #[test]
    fn http_1_0_clients_get_no_chunked_framing() {
        let mut resp = ResponseHeader::build(200, None).unwrap();
        resp.insert_header(TRANSFER_ENCODING, "chunked").unwrap();
        let mut r11 = resp.clone();
        assert!(downstream_response(Version::HTTP_10, &mut resp));
        assert!(!resp.headers.contains_key(TRANSFER_ENCODING));
        assert!(!downstream_response(Version::HTTP_11, &mut r11));
        assert!(r11.headers.contains_key(TRANSFER_ENCODING));
    }

    /// An HTTP/2 request head as Pingora makes it: `:authority` in the URI.
    fn h2(uri: &str, hosts: &[&str]) -> RequestHeader {
        let mut b = http::Request::builder().uri(uri).version(Version::HTTP_2);
        for h in hosts {
            b = b.header(HOST, *h);
        }
        RequestHeader::from(b.body(()).unwrap().into_parts().0)
    }

    #[test]
    fn http2_authority_becomes_the_host_before_any_rewrite() {
        let mut r = h2("http://secret.example:8443/x", &[]);
        check_request(&mut r).unwrap();
        // A path rewrite rebuilds the URI without its authority: the Host
        // field stays.
        r.set_raw_path(b"/y").unwrap();
        assert_eq!(r.uri.authority(), None);
        assert_eq!(r.headers.get(HOST).unwrap(), "secret.example:8443");
        // The same host in a Host field too is fine, another is refused.
        let mut r = h2("http://a.example/x", &["A.example"]);
        check_request(&mut r).unwrap();
        assert_eq!(r.headers.get_all(HOST).iter().count(), 1);
        assert_eq!(r.headers.get(HOST).unwrap(), "a.example");
        let mut r = h2("http://a.example/x", &["b.example"]);
        assert_eq!(check_request(&mut r).unwrap_err(), Refused::AuthorityHost);
        // Without `:authority`, the Host field is checked as HTTP/1.0's.
        let mut r = h2("/x", &["b.example"]);
        check_request(&mut r).unwrap();
        assert_eq!(r.headers.get(HOST).unwrap(), "b.example");
        let mut r = h2("/x", &["b.example", "c.example"]);
        assert_eq!(check_request(&mut r).unwrap_err(), Refused::ManyHosts);
    }

    /// What RFC 9113 §8.2.1 and §8.3.1 call malformed and the h2 crate
    /// passes on (fuzz_h2 regressions r6-r10).
    #[test]
    fn malformed_http2_heads_are_refused() {
        let refused = |uri: &str, fields: &[(&str, &str)]| {
            let mut b = http::Request::builder().uri(uri).version(Version::HTTP_2);
            for (n, v) in fields {
                b = b.header(*n, *v);
            }
            let mut r = RequestHeader::from(b.body(()).unwrap().into_parts().0);
            check_request(&mut r).err()
        };
        // No :path: h2 builds a URI with an empty path.
        let mut r = h2("/x", &["a"]);
        r.set_uri(http::Uri::from_parts(http::uri::Parts::default()).unwrap());
        assert_eq!(check_request(&mut r).unwrap_err(), Refused::NoPath);
        for host in [" a", "\ta", "a ", "a\t"] {
            assert_eq!(
                refused("/x", &[("host", host)]),
                Some(Refused::FieldWhitespace),
                "{host:?}"
            );
        }
        assert_eq!(
            refused("http://a/x", &[("x-a", "v ")]),
            Some(Refused::FieldWhitespace)
        );
        assert_eq!(refused("http://a:x/x", &[]), Some(Refused::BadHost));
        assert_eq!(refused("http://u@a/x", &[]), Some(Refused::BadHost));
        assert_eq!(refused("ftp://a/x", &[]), Some(Refused::Scheme));
        assert_eq!(refused("/x", &[]), Some(Refused::NoAuthority));
        assert_eq!(refused("/x", &[("host", "")]), Some(Refused::NoAuthority));
        assert_eq!(refused("HTTPS://a/x", &[("x-a", "v w")]), None);
        assert_eq!(refused("/x", &[("host", "a")]), None);
    }
}
