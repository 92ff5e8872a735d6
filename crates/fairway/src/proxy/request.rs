//! The ACL engine's view of a Pingora request.

use crate::ratelimit::RateTable;
use pingora::http::RequestHeader;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// A request as the rules see it: the ACL engine's
/// [`fairway_acl::Request`] over a Pingora request head, the client address
/// and the frontend's request-rate tables. The proxy builds one for every
/// decision; [`Frontend::decide`](crate::Frontend::decide) takes it.
pub struct RequestView<'a> {
    pub(crate) header: &'a RequestHeader,
    pub(crate) src: Option<IpAddr>,
    /// The frontend's request-rate tables (this request already counted).
    pub(crate) rates: &'a [Arc<RateTable>],
}

impl<'a> RequestView<'a> {
    /// The view of `header` from client `src`, with the frontend's
    /// request-rate tables (`Frontend::rates`).
    pub fn new(
        header: &'a RequestHeader,
        src: Option<IpAddr>,
        rates: &'a [Arc<RateTable>],
    ) -> Self {
        RequestView { header, src, rates }
    }
}

impl fairway_acl::Request for RequestView<'_> {
    fn method(&self) -> &str {
        self.header.method.as_str()
    }

    fn path(&self) -> &str {
        self.header.uri.path()
    }

    fn query(&self) -> Option<&str> {
        self.header.uri.query()
    }

    fn url(&self) -> &str {
        self.header
            .uri
            .path_and_query()
            .map_or_else(|| self.header.uri.path(), |pq| pq.as_str())
    }

    fn host(&self) -> Option<&str> {
        match self.header.headers.get(http::header::HOST) {
            Some(h) => h.to_str().ok(),
            None => self.header.uri.authority().map(|a| a.as_str()),
        }
    }

    fn header_values(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.header
            .headers
            .get_all(name)
            .iter()
            .any(|v| f(v.as_bytes()))
    }

    fn src(&self) -> Option<IpAddr> {
        self.src
    }

    fn src_http_req_rate(&self, period: Duration) -> Option<u64> {
        let ip = self.src?;
        let table = self.rates.iter().find(|t| t.period() == period)?;
        Some(table.rate(ip))
    }
}

/// A response as the `http_response` rules see it: the request's view,
/// plus `status` and `res.hdr(NAME)` from the server's response head.
pub(crate) struct ResponseView<'a> {
    pub(crate) request: RequestView<'a>,
    pub(crate) response: &'a pingora::http::ResponseHeader,
}

impl fairway_acl::Request for ResponseView<'_> {
    fn method(&self) -> &str {
        self.request.method()
    }

    fn path(&self) -> &str {
        self.request.path()
    }

    fn query(&self) -> Option<&str> {
        self.request.query()
    }

    fn url(&self) -> &str {
        self.request.url()
    }

    fn host(&self) -> Option<&str> {
        self.request.host()
    }

    fn header_values(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.request.header_values(name, f)
    }

    fn src(&self) -> Option<IpAddr> {
        self.request.src
    }

    fn src_http_req_rate(&self, period: Duration) -> Option<u64> {
        self.request.src_http_req_rate(period)
    }

    fn status(&self) -> Option<u16> {
        Some(self.response.status.as_u16())
    }

    fn res_header_values(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.response
            .headers
            .get_all(name)
            .iter()
            .any(|v| f(v.as_bytes()))
    }
}
