//! What an ACL can look at: a read-only view of one request (or, in
//! `mode: tcp`, of one connection).

use std::net::IpAddr;
use std::time::Duration;

/// A read-only view of an HTTP request, implemented by the proxy over its own
/// request type. Every method must be cheap and must not allocate.
pub trait Request {
    /// The method, e.g. `GET`.
    fn method(&self) -> &str;
    /// The path without the query string, after normalization when the
    /// frontend normalizes paths (and, seen through [`Matched`], without
    /// the segments' `;parameters`).
    fn path(&self) -> &str;
    /// The query string without the leading `?`, if the request has one.
    fn query(&self) -> Option<&str>;
    /// The full request target as it will be forwarded (`path?query`).
    fn url(&self) -> &str;
    /// The `Host` header (or HTTP/2 `:authority`) as received, port included.
    fn host(&self) -> Option<&str>;
    /// Calls `f` with each value of header `name` (given in lower case) in
    /// order, stopping as soon as `f` returns `true`; returns whether it did.
    fn header_values(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool;
    /// The client's IP address.
    fn src(&self) -> Option<IpAddr>;
    /// The server name (SNI) of the client's TLS ClientHello, lower case,
    /// for `req_ssl_sni`. Only layer-4 (`mode: tcp`) connections have one;
    /// the default is `None`.
    fn ssl_sni(&self) -> Option<&str> {
        None
    }
    /// For `src_http_req_rate(period)`: how many HTTP requests the client
    /// IP made over the sliding `period`, this one included. The proxy
    /// counts requests only for the periods its rules use; the default is
    /// `None` (no sample: the ACL does not match).
    fn src_http_req_rate(&self, period: Duration) -> Option<u64> {
        let _ = period;
        None
    }
    /// For `status`: the status of the server's response, in the
    /// `http_response` rules; the default (a request) is `None`.
    fn status(&self) -> Option<u16> {
        None
    }
    /// For `res.hdr(NAME)`: like [`Request::header_values`], over the
    /// response's headers in the `http_response` rules; the default (a
    /// request) has none.
    fn res_header_values(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        let _ = (name, f);
        false
    }
}

/// What `set-src hdr(NAME)` takes: the last address in header `name` (lower
/// case) of `req`, its last value split at commas as HAProxy's `hdr()`
/// does (`X-Forwarded-For: client, proxy1` gives `proxy1`, the address the
/// nearest forwarder saw). `None` when that is not an address.
pub fn last_address(req: &dyn Request, name: &str) -> Option<IpAddr> {
    let mut last = None;
    req.header_values(name, &mut |value| {
        last = value
            .rsplit(|&b| b == b',')
            .next()
            .and_then(|a| std::str::from_utf8(a).ok())
            .and_then(|a| a.trim().parse().ok());
        false
    });
    last
}

/// A request as the rules match it under `path_params: match`: its path
/// (and URL) without the `;parameters` of each segment, everything else
/// the inner request's. [`Matched::new`] gives `None` when the path has no
/// parameters, so a plain request is matched as it is, without allocating.
pub struct Matched<'a> {
    inner: &'a dyn Request,
    path: String,
    url: String,
}

impl<'a> Matched<'a> {
    /// `req` with its path's parameters removed, or `None` when `params`
    /// is [`PathParams::Keep`](crate::PathParams::Keep) or there are none.
    pub fn new(req: &'a dyn Request, params: crate::PathParams) -> Option<Self> {
        let std::borrow::Cow::Owned(path) = crate::match_path(req.path(), params) else {
            return None;
        };
        let url = match req.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        };
        Some(Matched {
            inner: req,
            path,
            url,
        })
    }
}

impl Request for Matched<'_> {
    fn method(&self) -> &str {
        self.inner.method()
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn query(&self) -> Option<&str> {
        self.inner.query()
    }
    fn url(&self) -> &str {
        &self.url
    }
    fn host(&self) -> Option<&str> {
        self.inner.host()
    }
    fn header_values(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.inner.header_values(name, f)
    }
    fn src(&self) -> Option<IpAddr> {
        self.inner.src()
    }
    fn ssl_sni(&self) -> Option<&str> {
        self.inner.ssl_sni()
    }
    fn src_http_req_rate(&self, period: Duration) -> Option<u64> {
        self.inner.src_http_req_rate(period)
    }
    fn status(&self) -> Option<u16> {
        self.inner.status()
    }
    fn res_header_values(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.inner.res_header_values(name, f)
    }
}
