//! fairway: a programmable HTTP/TCP reverse proxy and load balancer on Pingora.
//!
//! fairway does what an HAProxy configuration does — ACL routing, deny
//! rules, balanced backends — from a YAML file, and every piece is a library
//! type you can embed in your own Pingora [`Server`](pingora::server::Server).
//!
//! # Embedding
//!
//! ```no_run
//! use fairway::{Config, Fairway};
//! use pingora::server::Server;
//!
//! let config = Config::from_yaml_str(r#"
//! frontends:
//!   web:
//!     bind: ["127.0.0.1:8080"]
//!     http_request: ["deny if { path_beg /admin }"]
//!     default_backend: app
//! backends:
//!   app:
//!     servers: { a: { addr: 127.0.0.1:8001 }, b: { addr: 127.0.0.1:8002 } }
//! "#, "inline").expect("valid config");
//!
//! let fairway = Fairway::new(config);
//! let mut server = Server::new_with_opt_and_conf(None, fairway.server_conf());
//! server.bootstrap();
//! // One service per frontend: Pingora's `ProxyHttp` (or a layer-4 proxy).
//! server.add_services(fairway.services(&server.configuration));
//! // Health checks, discovery, SIGHUP reload; the admin listener if configured.
//! server.add_services(fairway.background_services());
//! server.add_services(fairway.admin_services().expect("admin listener"));
//! server.run_forever();
//! ```
//!
//! # Extending
//!
//! Balance algorithms, ACL fetches and request/response hooks of your own
//! plug in through [`Fairway::builder`]. Built-in algorithms and fetches are
//! registered in the same registries ([`Selectors`], [`Fetches`]), so yours
//! are first-class: the config names them (`balance: lowest(99)`,
//! `acl: { eu: country -i de fr }`), a name that is not registered is a load
//! error listing those that are, and reloads keep them.
//!
//! ```no_run
//! use fairway::acl::Request;
//! use fairway::balance::Selector;
//! use fairway::hook::{Answer, Hook, Info};
//! use fairway::upstream::Server;
//! use fairway::{Fairway, SampleFetch};
//! use pingora::proxy::Session;
//! use std::sync::Arc;
//!
//! /// A balance algorithm: the server with the fewest requests in flight.
//! struct Idlest(Vec<u32>);
//!
//! impl Selector for Idlest {
//!     fn select(&self, servers: &[Arc<Server>], _key: Option<u64>, eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
//!         (0..servers.len())
//!             .filter(|&i| self.0[i] > 0 && eligible(i))
//!             .min_by_key(|&i| servers[i].active())
//!     }
//! }
//!
//! /// An ACL fetch: `country`, the value of the `x-country` header.
//! struct Country;
//!
//! impl SampleFetch for Country {
//!     fn sample(&self, req: &dyn Request, _arg: Option<&str>, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
//!         req.header_values("x-country", f)
//!     }
//! }
//!
//! /// A hook: requests without `x-api-key` get a 401.
//! struct NeedsKey;
//!
//! #[fairway::async_trait]
//! impl Hook for NeedsKey {
//!     async fn request(&self, session: &mut Session, _info: &Info<'_>) -> pingora::Result<Option<Answer>> {
//!         let has_key = session.req_header().headers.contains_key("x-api-key");
//!         Ok((!has_key).then(|| Answer::new(401)))
//!     }
//! }
//!
//! let fairway = Fairway::builder()
//!     .selector("idlest", |weights: &[u32]| Idlest(weights.to_vec()))
//!     .fetch("country", Country)
//!     .hook(NeedsKey)
//!     .config_yaml(r#"
//! frontends:
//!   web:
//!     bind: ["127.0.0.1:8080"]
//!     acl: { eu: country -i de fr }
//!     use_backend: ["eu if eu"]
//!     default_backend: app
//! backends:
//!   eu:
//!     balance: idlest
//!     servers: { a: { addr: 127.0.0.1:8001 }, b: { addr: 127.0.0.1:8002 } }
//!   app:
//!     servers: { c: { addr: 127.0.0.1:8003 } }
//! "#, "inline")
//!     .build()
//!     .expect("valid config");
//!
//! let mut server = pingora::server::Server::new_with_opt_and_conf(None, fairway.server_conf());
//! server.bootstrap();
//! server.add_services(fairway.services(&server.configuration)); // the ProxyHttp services
//! server.add_services(fairway.background_services()); // health, discovery, reload
//! server.run_forever();
//! ```
//!
//! The examples (`cargo run -p fairway --example NAME`) show each piece
//! running: `embed` (fairway beside a service of your own), `custom_selector`
//! (lowest percentile of check round-trip times), `custom_fetch` (a country
//! fetch routing to regions) and `hooks` (an API-key check answering 401).
//!
//! The extension points:
//! * [`Selector`] and [`SelectorFactory`] ([`balance`]): a balance algorithm;
//!   no I/O, reads the live figures of [`upstream::Server`].
//! * [`SampleFetch`] ([`acl`]): an ACL fetch with every flag and matcher of
//!   string fetches; [`FetchFactory`] for full control.
//! * [`Hook`] ([`hook`]): request, upstream request, response and log
//!   phases, each a default method.
//! * [`Builder`]: registers them and loads the config.
//!
//! # The pieces
//! * [`Config`] (re-exported from `fairway-config`): the validated YAML file.
//! * [`Runtime`]: the config compiled for requests; swapped atomically.
//! * [`Proxy`]: Pingora's `ProxyHttp` for one frontend.
//! * [`balance::Backend`] and [`upstream::Server`]: server selection and
//!   live per-server counters.
//! * [`tcp`]: `mode: tcp` frontends, a layer-4 proxy on Pingora's
//!   `ServerApp` (half-close, idle timeouts, `tcp_request`, TLS passthrough
//!   routed by the ClientHello's server name).
//! * [`tls`]: certificates chosen by SNI for terminating listeners, and the
//!   TLS client for servers with `tls: true`.
//! * [`health`]: active health checks (a background service).
//! * [`upstream::outlier`]: passive outlier ejection from real traffic
//!   (counted per attempt; ejected and readmitted by a background service).
//! * [`discovery`]: servers from etcd or a watched file, and server host
//!   names re-resolved by `dns` (background services).
//! * [`metrics`]: the Prometheus families (`GET /metrics` of the admin listener).
//! * [`admin`]: the admin listener (stats page, runtime API) and the
//!   HAProxy-compatible runtime socket.
//! * [`demo`]: the upstreams of `fairway --demo`.

#![deny(missing_docs)]

pub mod admin;
pub mod background;
pub mod balance;
mod builder;
pub mod control;
pub mod demo;
pub mod discovery;
pub mod health;
pub mod hook;
pub mod logging;
pub mod metrics;
mod proxy;
pub mod proxy_protocol;
pub mod ratelimit;
pub mod reload;
pub mod replay;
mod runtime;
pub mod tcp;
pub mod tls;
pub mod upstream;

pub use async_trait::async_trait;
pub use balance::{Selector, SelectorFactory, Selectors};
pub use builder::{BuildError, Builder};
pub use fairway_acl as acl;
pub use fairway_acl::{Arg, FetchFactory, Fetches, SampleFetch};
pub use fairway_config as config;
pub use fairway_config::{Config, ConfigError, LoadOptions};
pub use hook::{Answer, Hook};
pub use metrics::Metrics;
pub use proxy::{head, Ctx, HttpApp, Proxy, RequestView};
pub use runtime::{Decision, Frontend, Runtime};

use arc_swap::ArcSwap;
use pingora::listeners::ListenerConfig;
use pingora::protocols::l4::stream::L4BufferSettings;
use pingora::server::configuration::ServerConf;
use pingora::services::listening::Service;
use pingora::services::ServiceWithDependents;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

/// Idle keep-alive connections to upstream servers kept per worker thread
/// (Pingora's `upstream_keepalive_pool_size`; Pingora's default is 128).
/// With more client connections in flight than that, connections returned
/// to a full pool are closed and the next requests open new ones: at 200
/// client connections over four servers, 128 made 6 % of requests connect
/// anew. Idle connections still close after 60 s (the servers' idle timeout).
pub const UPSTREAM_KEEPALIVE_POOL: usize = 1024;

/// A fairway instance: a config, its runtime, and the Pingora services that
/// serve it.
pub struct Fairway {
    config: Config,
    runtime: Arc<ArcSwap<Runtime>>,
    control: control::Control,
    metrics: Arc<Metrics>,
}

impl Fairway {
    /// Builds the runtime for `config`, with the built-in balance
    /// algorithms and fetches and no hooks.
    pub fn new(config: Config) -> Self {
        Fairway::with_extensions(config, runtime::Extensions::default())
    }

    /// A builder to register balance algorithms, ACL fetches and hooks
    /// before the config is loaded.
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn with_extensions(config: Config, extensions: runtime::Extensions) -> Self {
        let metrics = Metrics::new();
        let runtime = Arc::new(ArcSwap::from_pointee(Runtime::with_extensions(
            &config,
            &metrics,
            Arc::new(extensions),
        )));
        let control = control::Control::new(Arc::clone(&runtime), config.path.clone());
        Fairway {
            config,
            runtime,
            control,
            metrics,
        }
    }

    /// The config this instance runs.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current runtime snapshot.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    /// Pingora's server settings from `global` (threads, grace period, PID
    /// file, upgrade socket) and what fairway's requests need
    /// ([`Fairway::apply_server_conf`]); pass it to
    /// [`Server::new_with_opt_and_conf`](pingora::server::Server::new_with_opt_and_conf).
    pub fn server_conf(&self) -> ServerConf {
        let g = &self.config.global;
        let mut conf = ServerConf {
            threads: g
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            pid_file: g.pid_file.to_string_lossy().into_owned(),
            upgrade_sock: g.upgrade_sock.to_string_lossy().into_owned(),
            grace_period_seconds: Some(g.grace_period.as_secs()),
            graceful_shutdown_timeout_seconds: Some(1),
            // Raised to what the backends' `retries` need, no more.
            max_retries: 0,
            ..ServerConf::default()
        };
        self.apply_server_conf(&mut conf);
        conf
    }

    /// Merges into `conf`, a program's own Pingora settings, what fairway's
    /// requests need: enough attempts for the backends' `retries` (plus
    /// the retry of a pooled connection found closed) and a server
    /// connection pool at least fairway's size; the worker threads when
    /// `global.threads` is set. The process's own settings (PID file,
    /// upgrade socket, grace period, daemon, user) stay the program's.
    pub fn apply_server_conf(&self, conf: &mut ServerConf) {
        if let Some(threads) = self.config.global.threads {
            conf.threads = threads;
        }
        let max_retries = self
            .config
            .backends
            .iter()
            .map(|b| b.retries as usize)
            .max()
            .unwrap_or(0);
        // `retries` counts connection failures (see `fail_to_connect`);
        // one more attempt lets a request whose pooled connection turned
        // out closed be retried on a fresh one without using a retry up.
        conf.max_retries = conf.max_retries.max(max_retries + 2);
        conf.upstream_keepalive_pool_size = conf
            .upstream_keepalive_pool_size
            .max(UPSTREAM_KEEPALIVE_POOL);
    }

    /// The [`Proxy`] of the frontend named `name`.
    pub fn proxy(&self, name: &str) -> Option<Proxy> {
        let index = self.config.frontends.iter().position(|f| f.name == name)?;
        Some(Proxy::new(
            index,
            Arc::clone(&self.runtime),
            Arc::clone(&self.metrics),
        ))
    }

    /// One Pingora service per frontend, listening on its `bind` addresses:
    /// an HTTP proxy ([`Proxy`]) for `mode: http`, a layer-4 proxy
    /// ([`tcp::TcpProxy`]) for `mode: tcp`; with `tls`, the listeners
    /// terminate TLS (certificates chosen by SNI; ALPN h2 and http/1.1 for
    /// HTTP). Add them with `server.add_services(...)`.
    pub fn services(&self, conf: &Arc<ServerConf>) -> Vec<Box<dyn ServiceWithDependents>> {
        let frontends = &self.config.frontends;

        frontends
            .iter()
            .enumerate()
            .map(|(index, fe)| {
                let name = format!("frontend {}", fe.name);
                if fe.mode == config::Mode::Tcp {
                    let app = tcp::TcpProxy::new(
                        index,
                        Arc::clone(&self.runtime),
                        Arc::clone(&self.metrics),
                    );
                    let mut service = Service::new(name, app);
                    self.listen(&mut service, index, false);
                    return Box::new(service) as Box<dyn ServiceWithDependents>;
                }
                let proxy = Proxy::new(index, Arc::clone(&self.runtime), Arc::clone(&self.metrics));
                let app = proxy::HttpApp::new(proxy, conf, Arc::clone(&self.runtime), index);
                let mut service = Service::new(name, app);
                self.listen(&mut service, index, true);
                Box::new(service) as Box<dyn ServiceWithDependents>
            })
            .collect()
    }

    /// Adds the listeners of frontend `index` to `service`: TCP, or TLS
    /// when the frontend has `tls` (`h2`: offer HTTP/2 by ALPN).
    fn listen<A>(&self, service: &mut Service<A>, index: usize, h2: bool) {
        let Some(fe) = self.config.frontends.get(index) else {
            return;
        };
        // No buffers per accepted connection: Pingora's defaults are a
        // 64 KiB read buffer and a 1,460-byte write buffer each, which an
        // idle client would hold for nothing; fairway's HTTP and TCP code
        // reads into buffers lent per read and writes whole responses
        // (HTTP/2's framing buffers its own writes).
        let buffers = L4BufferSettings {
            read: Some(0),
            write: Some(0),
        };
        for addr in &fe.bind {
            let listener = ListenerConfig::tcp(addr.to_string()).l4_buffer(buffers);
            if fe.tls.is_none() {
                service.add_listener(listener);
            } else if let Some(settings) = tls::listener_settings(
                {
                    let runtime = Arc::clone(&self.runtime);
                    move || runtime.load().frontends().get(index)?.tls.clone()
                },
                h2,
            ) {
                service.add_listener(listener.tls(settings));
            }
        }
    }

    /// The reloader for this instance (SIGHUP).
    pub fn reloader(&self) -> reload::Reloader {
        reload::Reloader::new(self.control.clone())
    }

    /// The runtime control: weights, states, servers, reload — what the
    /// admin API and the runtime socket use.
    pub fn control(&self) -> &control::Control {
        &self.control
    }

    /// The metrics every frontend records into; [`Metrics::encode`] gives
    /// the Prometheus text (`GET /metrics`).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Every background service ([`Background::ALL`]), as the `fairway`
    /// command runs them: the SIGHUP reloader, the health checker, the
    /// weight refresher, discovery, `dns` re-resolution and the outlier
    /// ejector. Each one waits for work of its kind (a backend with
    /// `health_check`, `discovery`, `dns`, `outlier`) and costs nothing
    /// without it; [`Fairway::background_service`] gives them one by one.
    pub fn background_services(&self) -> Vec<Box<dyn ServiceWithDependents>> {
        Background::ALL
            .iter()
            .map(|&which| self.background_service(which))
            .collect()
    }

    /// One background service, for an embedding program that runs only
    /// some (its own SIGHUP handling instead of [`Background::Reload`],
    /// say).
    pub fn background_service(&self, which: Background) -> Box<dyn ServiceWithDependents> {
        use pingora::services::background::background_service;
        let rt = || Arc::clone(&self.runtime);
        match which {
            Background::Reload => Box::new(background_service("reload", self.reloader())),
            Background::HealthCheck => Box::new(background_service(
                "health check",
                health::HealthChecker::new(rt()),
            )),
            Background::WeightRefresh => Box::new(background_service(
                "weight refresh",
                background::Refresher::new(rt()),
            )),
            Background::Discovery => Box::new(background_service(
                "discovery",
                discovery::Discoverer::new(self.control.clone()),
            )),
            Background::Dns => Box::new(background_service(
                "dns",
                discovery::dns::Resolver::new(self.control.clone()),
            )),
            Background::OutlierEjection => Box::new(background_service(
                "outlier ejection",
                background::Ejector::new(rt()),
            )),
        }
    }

    /// The admin services of the config's `admin` section (none without
    /// one): the HTTP listener on `admin.bind` (if set) and, with `admin.socket`, the
    /// HAProxy-compatible runtime socket, which is bound now (a bad socket
    /// path is an error here, not at run time). Add them with
    /// `server.add_services(...)`.
    pub fn admin_services(&self) -> Result<Vec<Box<dyn ServiceWithDependents>>, admin::AdminError> {
        match &self.config.admin {
            Some(a) => admin::services(a, &self.control, Some(Arc::clone(&self.metrics))),
            None => Ok(Vec::new()),
        }
    }

    /// Every address the frontends listen on.
    pub fn bind_addresses(&self) -> Vec<SocketAddr> {
        self.config
            .frontends
            .iter()
            .flat_map(|f| f.bind.iter().copied())
            .collect()
    }

    /// Checks that every `bind` address can be bound now, so that a busy port
    /// is a startup error instead of Pingora's retry loop.
    pub fn check_binds(&self) -> Result<(), BindError> {
        let admin = self.config.admin.as_ref().and_then(|a| a.bind);
        for addr in self.bind_addresses().into_iter().chain(admin) {
            TcpListener::bind(addr).map_err(|source| BindError { addr, source })?;
        }
        Ok(())
    }
}

/// One of fairway's background services ([`Fairway::background_service`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Background {
    /// Reloads the config file on SIGHUP (for a config not loaded from a
    /// file, SIGHUP logs an error: there is no file to reload).
    Reload,
    /// Active health checks (`health_check`).
    HealthCheck,
    /// Rebuilds the backends whose algorithm asks for it (`latency`).
    WeightRefresh,
    /// etcd and file discovery (`discovery`).
    Discovery,
    /// Re-resolution of server names (`dns`).
    Dns,
    /// Passive outlier ejection (`outlier`).
    OutlierEjection,
}

impl Background {
    /// Every background service, in the order the `fairway` command adds
    /// them.
    pub const ALL: [Background; 6] = [
        Background::Reload,
        Background::HealthCheck,
        Background::WeightRefresh,
        Background::Discovery,
        Background::Dns,
        Background::OutlierEjection,
    ];
}

/// A `bind` address that cannot be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot bind {addr}: {source}")]
pub struct BindError {
    /// The address.
    pub addr: SocketAddr,
    /// Why.
    #[source]
    pub source: std::io::Error,
}
