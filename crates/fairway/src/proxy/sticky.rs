//! Request keys for hash balancing, and the stickiness cookie.

use crate::balance::{hash_bytes, HashKey};
use pingora::http::RequestHeader;
use pingora::prelude::*;
use std::net::IpAddr;

/// The hash of the part of the request that `key` names; `None` when the
/// request has no such part (the backend then balances round robin).
pub(crate) fn hash_key(key: &HashKey, req: &RequestHeader, src: Option<IpAddr>) -> Option<u64> {
    match key {
        HashKey::None => None,
        HashKey::Source => src.map(|ip| match ip {
            IpAddr::V4(v4) => hash_bytes(&v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => hash_bytes(&v4.octets()),
                None => hash_bytes(&v6.octets()),
            },
        }),
        HashKey::Uri => Some(hash_bytes(req.uri.path().as_bytes())),
        HashKey::UrlParam(name) => req
            .uri
            .query()
            .and_then(|q| {
                q.split('&').find_map(|pair| match pair.split_once('=') {
                    Some((k, v)) if k == name => Some(v),
                    None if pair == name => Some(""),
                    _ => None,
                })
            })
            .map(|v| hash_bytes(v.as_bytes())),
        HashKey::Header(name) => req
            .headers
            .get(name.as_str())
            .map(|v| hash_bytes(v.as_bytes())),
    }
}

/// Iterates the `name=value` pairs of every `Cookie` header.
fn pairs(req: &RequestHeader) -> impl Iterator<Item = (&[u8], &[u8])> {
    req.headers
        .get_all(http::header::COOKIE)
        .into_iter()
        .flat_map(|h| {
            h.as_bytes().split(|b| *b == b';').filter_map(|pair| {
                let pair = pair.trim_ascii();
                let eq = pair.iter().position(|b| *b == b'=')?;
                Some((pair[..eq].trim_ascii(), pair[eq + 1..].trim_ascii()))
            })
        })
}

/// The value of cookie `name` in the request, if any.
pub(crate) fn find<'a>(req: &'a RequestHeader, name: &str) -> Option<&'a [u8]> {
    pairs(req)
        .find(|(k, _)| *k == name.as_bytes())
        .map(|(_, v)| v)
}

/// Removes cookie `name` from the request (HAProxy's `indirect`), keeping
/// the other cookies; drops the header when nothing is left.
pub(crate) fn strip(req: &mut RequestHeader, name: &str) -> Result<()> {
    if find(req, name).is_none() {
        return Ok(());
    }
    let kept: Vec<String> = pairs(req)
        .filter(|(k, _)| *k != name.as_bytes())
        .map(|(k, v)| {
            format!(
                "{}={}",
                String::from_utf8_lossy(k),
                String::from_utf8_lossy(v)
            )
        })
        .collect();
    req.remove_header(&http::header::COOKIE);
    if !kept.is_empty() {
        req.insert_header(http::header::COOKIE, kept.join("; "))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(cookies: &[&str]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/a/b?x=1&id=42&flag", None).unwrap();
        for c in cookies {
            r.append_header("cookie", *c).unwrap();
        }
        r.insert_header("x-user", "alice").unwrap();
        r
    }

    #[test]
    fn finds_and_strips_one_cookie() {
        let mut r = req(&["a=1; SERVERID=s2", "b=2"]);
        assert_eq!(find(&r, "SERVERID"), Some(&b"s2"[..]));
        assert_eq!(find(&r, "SERVER"), None);
        strip(&mut r, "SERVERID").unwrap();
        assert_eq!(find(&r, "SERVERID"), None);
        assert_eq!(r.headers.get("cookie").unwrap(), "a=1; b=2");
        let mut only = req(&["SERVERID=s1"]);
        strip(&mut only, "SERVERID").unwrap();
        assert!(only.headers.get("cookie").is_none());
    }

    #[test]
    fn hash_keys() {
        let r = req(&[]);
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.9".parse().unwrap();
        assert_eq!(
            hash_key(&HashKey::Source, &r, Some(ip)),
            hash_key(&HashKey::Source, &r, Some(mapped))
        );
        assert_eq!(hash_key(&HashKey::Uri, &r, None), Some(hash_bytes(b"/a/b")));
        assert_eq!(
            hash_key(&HashKey::UrlParam("id".into()), &r, None),
            Some(hash_bytes(b"42"))
        );
        assert_eq!(
            hash_key(&HashKey::UrlParam("flag".into()), &r, None),
            Some(hash_bytes(b""))
        );
        assert_eq!(hash_key(&HashKey::UrlParam("nope".into()), &r, None), None);
        assert_eq!(
            hash_key(&HashKey::Header("x-user".into()), &r, None),
            Some(hash_bytes(b"alice"))
        );
        assert_eq!(hash_key(&HashKey::None, &r, Some(ip)), None);
    }
}
