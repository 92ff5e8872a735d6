//! [`Config`] -> the objects requests run against.
//!
//! A [`Runtime`] is immutable once built. The proxy holds it in an
//! [`ArcSwap`](arc_swap::ArcSwap) so that a reload can build a complete new
//! runtime and swap it in; each request takes one snapshot and so sees one
//! configuration from start to end.

use crate::balance::{Backend, BackendSpec};
use crate::upstream::ServerSpec;
use fairway_config::{Config, Frontend as FrontendConfig, HttpRule, UseBackend};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Everything a request needs, built once from a [`Config`].
#[derive(Debug)]
pub struct Runtime {
    frontends: Vec<Frontend>,
    backends: Vec<Arc<Backend>>,
    access_log: bool,
}

/// A frontend at run time: compiled rules, backend choice by index.
#[derive(Debug)]
pub struct Frontend {
    /// The frontend's name.
    pub name: String,
    /// Listening addresses (fixed for the life of the process).
    pub bind: Vec<SocketAddr>,
    /// `timeout_client`.
    pub timeout_client: Duration,
    /// `timeout_http_request`.
    pub timeout_http_request: Duration,
    /// Normalize paths before rules see them.
    pub normalize_path: bool,
    /// Add X-Forwarded-For / X-Forwarded-Proto.
    pub forwardfor: bool,
    /// `http_request` rules in order.
    pub http_request: Vec<HttpRule>,
    /// `use_backend` lines with the index of their backend.
    pub use_backend: Vec<(UseBackend, usize)>,
    /// Index of `default_backend`.
    pub default_backend: Option<usize>,
}

impl Runtime {
    /// Builds the runtime for `config`.
    pub fn new(config: &Config) -> Self {
        let backends = config
            .backends
            .iter()
            .map(|b| Arc::new(build_backend(b)))
            .collect();
        let frontends = config
            .frontends
            .iter()
            .map(|f| Frontend::new(f, config))
            .collect();
        Runtime {
            frontends,
            backends,
            access_log: config.global.access_log,
        }
    }

    /// The frontends in config order.
    pub fn frontends(&self) -> &[Frontend] {
        &self.frontends
    }

    /// The backends in config order.
    pub fn backends(&self) -> &[Arc<Backend>] {
        &self.backends
    }

    /// Whether an access-log line is written per request.
    pub fn access_log(&self) -> bool {
        self.access_log
    }

    /// Checks that `next` can replace this runtime in a running process:
    /// listeners cannot change without a restart or a graceful upgrade.
    pub fn check_replaceable_by(&self, next: &Runtime) -> Result<(), String> {
        let names = |rt: &Runtime| {
            rt.frontends
                .iter()
                .map(|f| (f.name.clone(), f.bind.clone()))
                .collect::<Vec<_>>()
        };
        if names(self) != names(next) {
            return Err("frontends or their bind addresses changed; listeners cannot change on reload (restart, or upgrade with -u)".to_string());
        }
        Ok(())
    }

    /// The backend named `name`.
    pub fn backend(&self, name: &str) -> Option<&Arc<Backend>> {
        self.backends.iter().find(|b| b.name() == name)
    }
}

impl Frontend {
    fn new(f: &FrontendConfig, config: &Config) -> Self {
        // The config crate has checked every backend reference.
        let index = |name: &str| config.backend_index(name);
        Frontend {
            name: f.name.clone(),
            bind: f.bind.clone(),
            timeout_client: f.timeout_client,
            timeout_http_request: f.timeout_http_request,
            normalize_path: f.normalize_path,
            forwardfor: f.forwardfor,
            http_request: f.http_request.clone(),
            use_backend: f
                .use_backend
                .iter()
                .filter_map(|u| index(&u.backend).map(|i| (u.clone(), i)))
                .collect(),
            default_backend: f.default_backend.as_deref().and_then(index),
        }
    }
}

/// The run-time backend for one `backends` entry.
pub(crate) fn build_backend(b: &fairway_config::Backend) -> Backend {
    let spec = BackendSpec {
        name: b.name.clone(),
        balance: b.balance.clone(),
        retries: b.retries,
        redispatch: b.redispatch,
        timeout_queue: b.timeout_queue,
        cookie: b.cookie.clone(),
        health_check: b.health_check.clone(),
        latency: b.latency.clone(),
        ewma: b.ewma.clone(),
    };
    let servers = b
        .servers
        .iter()
        .map(|s| ServerSpec {
            name: s.name.clone(),
            addr: s.socket_addr,
            weight: s.weight,
            backup: s.backup,
            maxconn: s.maxconn,
            cookie: s.cookie.clone(),
            timeout_connect: b.timeout_connect,
            timeout_server: b.timeout_server,
        })
        .collect();
    Backend::new(spec, servers)
}
