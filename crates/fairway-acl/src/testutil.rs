//! A [`Request`] built by hand, for unit tests.

use crate::Request;
use std::net::IpAddr;
use std::time::Duration;

/// A request with owned parts; `host()` reads the `host` header.
#[derive(Debug, Clone)]
pub(crate) struct TestReq {
    method: String,
    path: String,
    query: Option<String>,
    url: String,
    headers: Vec<(String, Vec<u8>)>,
    src: Option<IpAddr>,
    sni: Option<String>,
    rate: Option<(Duration, u64)>,
}

impl TestReq {
    /// `GET target`, where target is `path[?query]`.
    pub(crate) fn get(target: &str) -> Self {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (target.to_owned(), None),
        };
        TestReq {
            method: "GET".to_owned(),
            path,
            query,
            url: target.to_owned(),
            headers: Vec::new(),
            src: None,
            sni: None,
            rate: None,
        }
    }

    /// Replaces the method.
    pub(crate) fn method(mut self, method: &str) -> Self {
        method.clone_into(&mut self.method);
        self
    }

    /// Appends a header line (the name is lower-cased, as a proxy would).
    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.as_bytes().to_vec()));
        self
    }

    /// Sets the TLS server name (lower-cased, as the proxy does).
    pub(crate) fn sni(mut self, name: &str) -> Self {
        self.sni = Some(name.to_ascii_lowercase());
        self
    }

    /// Sets the client's request count over `period` (other periods: none).
    pub(crate) fn rate(mut self, period: Duration, count: u64) -> Self {
        self.rate = Some((period, count));
        self
    }

    /// Sets the client address.
    pub(crate) fn src(mut self, ip: &str) -> Self {
        match ip.parse() {
            Ok(ip) => self.src = Some(ip),
            Err(e) => panic!("bad test IP {ip:?}: {e}"),
        }
        self
    }
}

impl Request for TestReq {
    fn method(&self) -> &str {
        &self.method
    }

    fn path(&self) -> &str {
        &self.path
    }

    fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    fn url(&self) -> &str {
        &self.url
    }

    fn host(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == "host")
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    fn header_values(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .any(|(_, v)| f(v))
    }

    fn src(&self) -> Option<IpAddr> {
        self.src
    }

    fn ssl_sni(&self) -> Option<&str> {
        self.sni.as_deref()
    }

    fn src_http_req_rate(&self, period: Duration) -> Option<u64> {
        self.rate.filter(|(p, _)| *p == period).map(|(_, n)| n)
    }
}
