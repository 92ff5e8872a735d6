//! The admin listener (SPEC §5): stats page, stats JSON and CSV, Prometheus
//! metrics, the runtime API, and the HAProxy-compatible runtime socket.
//!
//! | method & path | what |
//! |---|---|
//! | `GET /stats` | HTML page like HAProxy's, refreshing every 5 s (`/stats;norefresh`: no refresh) |
//! | `GET /stats.json` (`/stats;json`) | the same data as JSON |
//! | `GET /stats;csv` | HAProxy's CSV |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /api/backends` | backends with their servers |
//! | `GET /api/backends/{b}`, `GET /api/backends/{b}/servers[/{s}]` | one backend, its servers, one server |
//! | `PUT /api/backends/{b}/servers/{s}` | `{"weight": N}` and/or `{"state": "ready"\|"drain"\|"maint"}` |
//! | `POST /api/backends/{b}/servers` | `{"name", "addr", "weight"?, "backup"?}`: adds a server (201) |
//! | `DELETE /api/backends/{b}/servers/{s}` | removes it; requests in flight finish |
//! | `POST /api/reload` | as SIGHUP: 200, or 400 with the config errors |
//!
//! With `admin.auth`, every path needs HTTP basic auth (401 with
//! `WWW-Authenticate: Basic realm="fairway"` otherwise). Request bodies
//! are read in full up to 64 KiB (413 above) within 10 s (408). Errors are
//! JSON `{"error": "..."}`: 400 for bad input (nothing changes), 404 for an
//! unknown backend, server or path, 405 (with `Allow`) for a wrong method.
//!
//! Every change goes through [`Control`], so the next request's server
//! selection sees it. Runtime changes are lost on reload: the config file
//! is the source of truth.

mod api;
mod auth;
mod cli;
mod codes;
mod csv;
mod html;
mod reply;
mod socket;
mod syntax;
mod view;

pub use api::{ApiBackend, ApiServer};
pub use auth::{constant_time_eq, BasicAuth, CHALLENGE};
pub use cli::{Cli, Session};
pub use csv::COLUMNS as CSV_COLUMNS;
pub use html::escape;
pub use reply::{BodyError, Reply, BODY_TIMEOUT, MAX_BODY};
pub use socket::{RuntimeSocket, SocketError};
pub use syntax::{parse_weight, split as split_command_line};
pub use view::{age, CodeSource, Codes, NoCodes, Stats};

use crate::control::Control;
use crate::reload::Reloader;
use crate::Metrics;
use async_trait::async_trait;
use http::Method;
use pingora::apps::http_app::{HttpServer, ServeHttp};
use pingora::protocols::http::ServerSession;
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use pingora::services::ServiceWithDependents;
use std::sync::Arc;
use std::time::Instant;

/// The admin HTTP application (a Pingora [`ServeHttp`]).
#[derive(Clone)]
pub struct AdminApp {
    control: Control,
    reloader: Reloader,
    metrics: Option<Arc<Metrics>>,
    auth: Option<BasicAuth>,
    started: Instant,
}

/// A request target the admin listener knows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Root,
    Stats { refresh: bool },
    StatsCsv,
    StatsJson,
    Metrics,
    Backends,
    Backend(String),
    Servers(String),
    Server(String, String),
    Reload,
}

impl Route {
    /// The route of `path` (percent-decoded segment by segment).
    fn of(path: &str) -> Option<Route> {
        if let Some(opts) = path.strip_prefix("/stats;") {
            let opts: Vec<&str> = opts.split(';').collect();
            return Some(if opts.contains(&"csv") {
                Route::StatsCsv
            } else if opts.contains(&"json") {
                Route::StatsJson
            } else {
                Route::Stats {
                    refresh: !opts.contains(&"norefresh"),
                }
            });
        }
        let path = match path.strip_suffix('/') {
            Some(p) if !p.is_empty() => p,
            _ => path,
        };
        let segments: Vec<String> = path
            .split('/')
            .skip(1)
            .map(percent_decode)
            .collect::<Option<_>>()?;
        let s: Vec<&str> = segments.iter().map(String::as_str).collect();
        Some(match s.as_slice() {
            [""] => Route::Root,
            ["stats"] => Route::Stats { refresh: true },
            ["stats.json"] => Route::StatsJson,
            ["stats.csv"] => Route::StatsCsv,
            ["metrics"] => Route::Metrics,
            ["api", "backends"] => Route::Backends,
            ["api", "backends", b] => Route::Backend(b.to_string()),
            ["api", "backends", b, "servers"] => Route::Servers(b.to_string()),
            ["api", "backends", b, "servers", s] => Route::Server(b.to_string(), s.to_string()),
            ["api", "reload"] => Route::Reload,
            _ => return None,
        })
    }

    /// The methods it answers (the `Allow` header of a 405).
    fn allow(&self) -> &'static str {
        match self {
            Route::Servers(_) => "GET, HEAD, POST",
            Route::Server(..) => "GET, HEAD, PUT, DELETE",
            Route::Reload => "POST",
            _ => "GET, HEAD",
        }
    }
}

/// `%XX` escapes decoded; `None` for a bad escape or invalid UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl AdminApp {
    /// The admin application over `control`; `auth` protects every path;
    /// `metrics` serves `/metrics` and the response counts of the stats.
    pub fn new(
        control: Control,
        metrics: Option<Arc<Metrics>>,
        auth: Option<BasicAuth>,
        started: Instant,
    ) -> Self {
        AdminApp {
            reloader: Reloader::new(control.clone()),
            control,
            metrics,
            auth,
            started,
        }
    }

    /// The runtime-socket commands over the same control.
    pub fn cli(&self) -> Cli {
        Cli::new(self.control.clone(), self.started)
    }

    /// The stats of the current runtime.
    pub fn stats(&self) -> Stats {
        let rt = self.control.snapshot();
        Stats::collect(&rt, self.started, &codes::RuntimeCodes(&rt))
    }

    /// Whether a request with this `Authorization` header may pass.
    pub fn authorized(&self, header: Option<&[u8]>) -> bool {
        self.auth.as_ref().is_none_or(|a| a.accepts(header))
    }

    /// Answers one authorized request: `method`, `path` and its `body`.
    pub fn handle(&self, method: &Method, path: &str, body: &[u8]) -> Reply {
        let Some(route) = Route::of(path) else {
            return Reply::error(404, &format!("no such path: {path}"));
        };
        let allowed = route.allow();
        let name = method.as_str();
        if !allowed.split(", ").any(|m| m == name) {
            return Reply::error(405, &format!("method {name} not allowed; use {allowed}"))
                .with_header("allow", allowed);
        }
        let c = &self.control;
        match (route, name) {
            (Route::Root, _) => Reply::text(302, "see /stats\n").with_header("location", "/stats"),
            (Route::Stats { refresh }, _) => Reply::new(
                200,
                "text/html; charset=utf-8",
                html::render(&self.stats(), refresh),
            ),
            (Route::StatsJson, _) => Reply::json(200, &self.stats()),
            (Route::StatsCsv, _) => {
                Reply::new(200, "text/plain; charset=utf-8", csv::render(&self.stats()))
            }
            (Route::Metrics, _) => match &self.metrics {
                Some(m) => Reply::new(
                    200,
                    "text/plain; version=0.0.4; charset=utf-8",
                    m.encode(&c.snapshot()),
                ),
                None => Reply::error(404, "no metrics in this instance"),
            },
            (Route::Backends, _) => api::backends(c),
            (Route::Backend(b), _) => api::backend(c, &b),
            (Route::Servers(b), "POST") => api::add(c, &b, body),
            (Route::Servers(b), _) => api::servers(c, &b),
            (Route::Server(b, s), "PUT") => api::change(c, &b, &s, body),
            (Route::Server(b, s), "DELETE") => api::remove(c, &b, &s),
            (Route::Server(b, s), _) => api::server(c, &b, &s),
            (Route::Reload, _) => api::reload(&self.reloader),
        }
    }
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> http::Response<Vec<u8>> {
        let head = session.req_header().method == Method::HEAD;
        let authorization = session
            .req_header()
            .headers
            .get(http::header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        if !self.authorized(authorization) {
            // The body is not read: close the connection after the answer.
            session.set_keepalive(None);
            return Reply::error(401, "authentication required")
                .with_header("www-authenticate", CHALLENGE)
                .into_response(head);
        }
        let body = match reply::read_body(session).await {
            Ok(body) => body,
            Err(e) => {
                session.set_keepalive(None);
                return e.reply().into_response(head);
            }
        };
        let method = session.req_header().method.clone();
        let path = session.req_header().uri.path().to_string();
        self.handle(&method, &path, &body).into_response(head)
    }
}

/// Why the admin services could not be built.
pub type AdminError = SocketError;

/// The admin services for `admin`: the HTTP listener on `admin.bind` (if
/// set) and, with `admin.socket`, the runtime socket (bound now).
pub fn services(
    admin: &fairway_config::Admin,
    control: &Control,
    metrics: Option<Arc<Metrics>>,
) -> Result<Vec<Box<dyn ServiceWithDependents>>, AdminError> {
    let auth = admin
        .auth
        .as_ref()
        .map(|a| BasicAuth::new(&a.user, &a.password));
    let app = AdminApp::new(control.clone(), metrics, auth, Instant::now());
    let mut out: Vec<Box<dyn ServiceWithDependents>> = Vec::new();
    if let Some(path) = &admin.socket {
        let socket = RuntimeSocket::bind(path, app.cli())?;
        out.push(Box::new(background_service("admin socket", socket)));
    }
    log::info!(
        "admin listening addr={} auth={} socket={}",
        admin
            .bind
            .map_or_else(|| "-".to_string(), |b| b.to_string()),
        if admin.auth.is_some() {
            "basic"
        } else {
            "none"
        },
        admin
            .socket
            .as_ref()
            .map_or_else(|| "-".to_string(), |p| p.display().to_string())
    );
    if let Some(bind) = admin.bind {
        let mut http = Service::new("admin".to_string(), HttpServer::new_app(app));
        http.add_tcp(&bind.to_string());
        http.threads = Some(1);
        out.push(Box::new(http));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(Route::of("/stats"), Some(Route::Stats { refresh: true }));
        assert_eq!(
            Route::of("/stats;norefresh"),
            Some(Route::Stats { refresh: false })
        );
        assert_eq!(Route::of("/stats;csv"), Some(Route::StatsCsv));
        assert_eq!(Route::of("/stats;csv;norefresh"), Some(Route::StatsCsv));
        assert_eq!(Route::of("/stats.json"), Some(Route::StatsJson));
        assert_eq!(Route::of("/api/backends/"), Some(Route::Backends));
        assert_eq!(
            Route::of("/api/backends/a%2Eb/servers/s1"),
            Some(Route::Server("a.b".into(), "s1".into()))
        );
        assert_eq!(Route::of("/api/backends/a%zz"), None);
        assert_eq!(Route::of("/nope"), None);
        assert_eq!(Route::of("/"), Some(Route::Root));
    }
}
