//! The ACL engine's view of a Pingora request.

use crate::ratelimit::RateTable;
use pingora::http::RequestHeader;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// A borrowed view of one request for [`fairway_acl::Request`].
pub(crate) struct View<'a> {
    pub(crate) header: &'a RequestHeader,
    pub(crate) src: Option<IpAddr>,
    /// The frontend's request-rate tables (this request already counted).
    pub(crate) rates: &'a [Arc<RateTable>],
}

impl fairway_acl::Request for View<'_> {
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
