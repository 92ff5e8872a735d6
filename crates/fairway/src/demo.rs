//! The upstream servers of `fairway --demo`.
//!
//! Seed 003's FastAPI app, as a Pingora HTTP app: each server answers `/`,
//! `/admin`, `/lightwork` and `/heavywork` with its own name, so a client can
//! see which server the proxy picked.

use async_trait::async_trait;
use fairway_config::Config;
use http::Response;
use pingora::apps::http_app::{HttpServer, ServeHttp};
use pingora::protocols::http::ServerSession;
use pingora::services::listening::Service;
use pingora::services::ServiceWithDependents;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// One demo upstream: answers with its name.
pub struct DemoUpstream {
    name: String,
}

impl DemoUpstream {
    /// A demo upstream called `name`.
    pub fn new(name: &str) -> Self {
        DemoUpstream {
            name: name.to_string(),
        }
    }

    /// The body for `path` and its status.
    pub fn answer(&self, path: &str) -> (u16, String) {
        let name = &self.name;
        match path {
            "/" => (200, format!("{name}: Home page!\n")),
            "/admin" => (200, format!("{name}: Admin page!\n")),
            "/lightwork" => (200, format!("{name}: Doing light work!\n")),
            "/heavywork" => (200, format!("{name}: Doing heavy work!\n")),
            _ => (404, format!("{name}: Not found\n")),
        }
    }
}

#[async_trait]
impl ServeHttp for DemoUpstream {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let (status, body) = self.answer(session.req_header().uri.path());
        let mut builder = Response::builder()
            .status(status)
            .header("content-type", "text/plain")
            .header("content-length", body.len())
            .header("x-server", self.name.as_str());
        // Let a client see what the proxy forwarded.
        for name in ["x-forwarded-for", "x-forwarded-proto"] {
            if let Some(v) = session.req_header().headers.get(name) {
                builder = builder.header(format!("x-seen-{name}"), v.clone());
            }
        }
        builder
            .body(body.into_bytes())
            .unwrap_or_else(|_| Response::new(Vec::new()))
    }
}

/// The demo upstreams a config needs: one per distinct server address, named
/// after the first server with that address.
pub fn upstreams(config: &Config) -> BTreeMap<SocketAddr, String> {
    let mut out = BTreeMap::new();
    for backend in &config.backends {
        for server in &backend.servers {
            if let Some(addr) = server.socket_addr {
                out.entry(addr).or_insert_with(|| server.name.clone());
            }
        }
    }
    out
}

/// One Pingora service per demo upstream of `config`.
pub fn services(config: &Config) -> Vec<Box<dyn ServiceWithDependents>> {
    upstreams(config)
        .into_iter()
        .map(|(addr, name)| {
            let mut service = Service::new(
                format!("demo upstream {name}"),
                HttpServer::new_app(DemoUpstream::new(&name)),
            );
            service.add_tcp(&addr.to_string());
            service.threads = Some(1);
            Box::new(service) as Box<dyn ServiceWithDependents>
        })
        .collect()
}
