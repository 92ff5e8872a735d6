//! [`Config`] -> the objects requests run against.
//!
//! A [`Runtime`] is immutable once built. The proxy holds it in an
//! [`ArcSwap`](arc_swap::ArcSwap) so that a reload can build a complete new
//! runtime and swap it in; each request takes one snapshot and so sees one
//! configuration from start to end.

use crate::balance::{Backend, BackendSpec, Selectors};
use crate::hook::{Hook, Hooks};
use crate::metrics::{Handles, Metrics};
use crate::ratelimit::RateTable;
use crate::upstream::Responses;
use crate::upstream::ServerSpec;
use fairway_acl::{Fetches, HttpAction};
use fairway_config::{Config, FrontendConfig, HttpRule, LoadOptions, Mode, TcpRule, UseBackend};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Everything a request needs, built once from a [`Config`].
#[derive(Debug)]
pub struct Runtime {
    config: Arc<Config>,
    frontends: Arc<[Frontend]>,
    backends: Vec<Arc<Backend>>,
    access_log: bool,
    /// Metric handles indexed like this runtime (see [`crate::metrics`]).
    handles: Option<Handles>,
    /// The registered algorithms, fetches and hooks (kept by reloads).
    extensions: Arc<Extensions>,
}

/// What the embedding program registered: balance algorithms, ACL fetches
/// and hooks. A runtime keeps them, and every runtime derived from it
/// (reloads, runtime changes) gets the same.
pub(crate) struct Extensions {
    pub(crate) selectors: Arc<Selectors>,
    pub(crate) fetches: Arc<Fetches>,
    pub(crate) hooks: Hooks,
}

impl Default for Extensions {
    fn default() -> Self {
        Extensions {
            selectors: Selectors::shared_builtin(),
            fetches: Fetches::shared_builtin(),
            hooks: Arc::new([]),
        }
    }
}

impl Extensions {
    /// The options a config naming these algorithms and fetches loads with.
    pub(crate) fn load_options(&self) -> LoadOptions {
        let algorithms: Arc<dyn fairway_config::Algorithms> = self.selectors.clone();
        LoadOptions::new()
            .fetches(Arc::clone(&self.fetches))
            .algorithms(algorithms)
    }
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extensions")
            .field("selectors", &self.selectors)
            .field("fetches", &self.fetches)
            .field("hooks", &self.hooks.len())
            .finish()
    }
}

/// A frontend at run time: compiled rules, backend choice by index.
#[derive(Debug)]
pub struct Frontend {
    /// The frontend's name.
    pub name: String,
    /// Listening addresses (fixed for the life of the process).
    pub bind: Vec<SocketAddr>,
    /// `http` or `tcp` (fixed for the life of the process, as listeners are).
    pub mode: Mode,
    /// The certificates of a TLS-terminating frontend; the listener picks
    /// from the live runtime's, so a reload renews them.
    pub tls: Option<Arc<crate::tls::Certs>>,
    /// `tcp_request` rules in order (`mode: tcp`).
    pub tcp_request: Vec<TcpRule>,
    /// How long a `mode: tcp` frontend waits for a TLS ClientHello when its
    /// rules read `req_ssl_sni`.
    pub inspect_delay: Duration,
    /// Whether its rules read `req_ssl_sni` (so the ClientHello is read).
    pub uses_ssl_sni: bool,
    /// Connections start with a PROXY protocol header (`accept_proxy`).
    pub accept_proxy: bool,
    /// Cleartext HTTP/2 is accepted beside HTTP/1 (`h2c`; fixed for the
    /// life of the process, as listeners are).
    pub h2c: bool,
    /// Response compression (`compression`).
    pub compression: Option<fairway_config::Compression>,
    /// `timeout_client`.
    pub timeout_client: Duration,
    /// `timeout_http_request`.
    pub timeout_http_request: Duration,
    /// Normalize paths before rules see them.
    pub normalize_path: bool,
    /// `encoded_slashes`: `%2F`/`%5C` in a path refused, decoded or kept.
    pub encoded_slashes: fairway_acl::EncodedSlashes,
    /// `path_params`: whether the rules match paths without `;parameters`.
    pub path_params: fairway_acl::PathParams,
    /// Add X-Forwarded-For / X-Forwarded-Proto.
    pub forwardfor: bool,
    /// `http_request` rules in order.
    pub http_request: Vec<HttpRule>,
    /// `http_response` rules in order (after the backend's).
    pub http_response: Vec<HttpRule>,
    /// `unique_id_header`, lower case.
    pub unique_id_header: Option<String>,
    /// Requests get a unique ID: `unique_id_header` is set, or a value
    /// holds `%[unique-id]`.
    pub unique_id: bool,
    /// `use_backend` lines with the index of their backend.
    pub use_backend: Vec<(UseBackend, usize)>,
    /// One request-rate table per `src_http_req_rate(PERIOD)` period the
    /// rules read; every request of the frontend is counted in each. A
    /// reload keeps the tables of periods still in use.
    pub rates: Box<[Arc<RateTable>]>,
    /// The responses the frontend gave, by status class (kept across
    /// reloads, like the rate tables).
    pub responses: Arc<Responses>,
    /// Index of `default_backend`.
    pub default_backend: Option<usize>,
}

/// What a frontend's `http_request` rules and `use_backend` lines decide
/// for a request, one step at a time (see [`Frontend::decide`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Rule `index` changes the request (`set-header`, `add-header`,
    /// `del-header`, `replace-header`, `set-path`, `replace-path`,
    /// `replace-uri`, `set-src`): apply it, then decide again
    /// from `index + 1` on the changed request.
    Edit {
        /// The rule's position in `http_request`.
        index: usize,
        /// Its action.
        action: &'a HttpAction,
    },
    /// Rule `index` answers the request (`deny`, `return`, `redirect`);
    /// no server sees it.
    Answer {
        /// The rule's position in `http_request`.
        index: usize,
        /// Its action.
        action: &'a HttpAction,
    },
    /// No rule answers (none left, or an `allow` ended them): the request
    /// goes to this backend, `None` when no `use_backend` line holds and
    /// there is no `default_backend` (a 503).
    Route(Option<usize>),
}

impl Frontend {
    /// Decides `req` from `http_request` rule `from` on: the first rule
    /// whose condition holds, else the backend. The proxy runs every HTTP
    /// request through this one function (applying each [`Decision::Edit`]
    /// and asking again), and so does anything that must agree with it
    /// (the allocation test and benchmarks). With `path_params: match`
    /// the rules see the path without its segments' `;parameters`
    /// ([`fairway_acl::Matched`]). It allocates nothing for a path
    /// without parameters.
    pub fn decide(&self, from: usize, req: &dyn fairway_acl::Request) -> Decision<'_> {
        let matched = fairway_acl::Matched::new(req, self.path_params);
        let req: &dyn fairway_acl::Request = match &matched {
            Some(m) => m,
            None => req,
        };
        let rules = self.http_request.iter().enumerate().skip(from);
        for (index, rule) in rules {
            if !rule.applies(req) {
                continue;
            }
            let action = &rule.action;
            return match action {
                HttpAction::Allow => break,
                HttpAction::SetHeader { .. }
                | HttpAction::AddHeader { .. }
                | HttpAction::DelHeader { .. }
                | HttpAction::ReplaceHeader { .. }
                | HttpAction::SetPath { .. }
                | HttpAction::ReplacePath(_)
                | HttpAction::ReplaceUri(_)
                | HttpAction::SetSrc { .. } => Decision::Edit { index, action },
                _ => Decision::Answer { index, action },
            };
        }
        Decision::Route(self.route(req))
    }

    /// How this frontend treats request paths (`normalize_path`,
    /// `encoded_slashes`, `path_params`).
    pub fn path_options(&self) -> fairway_acl::PathOptions {
        fairway_acl::PathOptions {
            normalize: self.normalize_path,
            encoded_slashes: self.encoded_slashes,
            path_params: self.path_params,
        }
    }

    /// The backend a request (or connection) goes to: the first
    /// `use_backend` line whose condition holds, else `default_backend`.
    /// HTTP and `mode: tcp` route through this one function.
    pub fn route(&self, req: &dyn fairway_acl::Request) -> Option<usize> {
        self.use_backend
            .iter()
            .find(|(rule, _)| rule.applies(req))
            .map(|(_, index)| *index)
            .or(self.default_backend)
    }
}

impl Runtime {
    /// Builds the runtime for `config`.
    pub fn new(config: &Config) -> Self {
        Runtime::build(config.clone(), None, None, Arc::default())
    }

    /// Builds the runtime for `config` with handles into `metrics`
    /// resolved for it; runtimes derived from it (reloads, runtime
    /// changes) resolve theirs into the same `metrics`.
    pub fn with_metrics(config: &Config, metrics: &Arc<Metrics>) -> Self {
        Runtime::build(config.clone(), None, Some(metrics), Arc::default())
    }

    /// As `Runtime::with_metrics`, with registered extensions.
    pub(crate) fn with_extensions(
        config: &Config,
        metrics: &Arc<Metrics>,
        extensions: Arc<Extensions>,
    ) -> Self {
        Runtime::build(config.clone(), None, Some(metrics), extensions)
    }

    /// Builds the runtime for `config`; servers that also exist in
    /// `previous` (same backend, name and address) keep their health,
    /// administrative state, runtime weight, counters and latency samples
    /// (a server whose `dns` name is unchanged keeps the address it was
    /// resolved to, and so its state too);
    /// the registered algorithms, fetches and hooks of `previous` carry
    /// over.
    pub fn rebuild(config: Config, previous: Option<&Runtime>) -> Self {
        let metrics = previous
            .and_then(|p| p.handles.as_ref())
            .map(|h| Arc::clone(h.metrics()));
        let extensions = previous.map_or_else(Arc::default, |p| Arc::clone(&p.extensions));
        Runtime::build(config, previous, metrics.as_ref(), extensions)
    }

    fn build(
        config: Config,
        previous: Option<&Runtime>,
        metrics: Option<&Arc<Metrics>>,
        extensions: Arc<Extensions>,
    ) -> Self {
        let backends: Vec<Arc<Backend>> = config
            .backends
            .iter()
            .map(|b| {
                let mut backend = build_backend_with(b, &extensions.selectors);
                if let Some(old) = previous.and_then(|p| p.backend(&b.name)) {
                    let old_config = previous.and_then(|p| p.config().backend(&b.name));
                    backend = keep_resolved(backend, b, old, old_config);
                    backend.share_counters(old);
                    for server in backend.servers() {
                        if let Some((_, was)) = old.server(server.name()) {
                            if was.addr() == server.addr() && was.has_addr() == server.has_addr() {
                                server.inherit(was);
                            }
                        }
                    }
                    // Discovered servers stay until discovery says otherwise.
                    if b.discovery.is_some() {
                        let mut servers = backend.servers().to_vec();
                        for was in old.servers().iter().filter(|s| s.is_discovered()) {
                            if !servers.iter().any(|s| s.name() == was.name()) {
                                servers.push(Arc::clone(was));
                            }
                        }
                        backend = backend.derive(servers);
                    }
                    backend.rebuild();
                }
                Arc::new(backend)
            })
            .collect();
        let frontends: Arc<[Frontend]> = config
            .frontends
            .iter()
            .map(|f| Frontend::new(f, &config, previous))
            .collect();
        Runtime {
            access_log: config.global.access_log,
            config: Arc::new(config),
            handles: metrics
                .map(|m| Handles::new(m, frontends.iter().map(|f| f.name.as_str()), &backends)),
            frontends,
            backends,
            extensions,
        }
    }

    /// This runtime with backend `index` replaced (everything else shared).
    pub fn with_backend(&self, index: usize, backend: Backend) -> Runtime {
        let mut backends = self.backends.clone();
        if let Some(slot) = backends.get_mut(index) {
            *slot = Arc::new(backend);
        }
        Runtime {
            config: Arc::clone(&self.config),
            handles: self.handles.as_ref().map(|h| {
                Handles::new(
                    h.metrics(),
                    self.frontends.iter().map(|f| f.name.as_str()),
                    &backends,
                )
            }),
            frontends: Arc::clone(&self.frontends),
            backends,
            access_log: self.access_log,
            extensions: Arc::clone(&self.extensions),
        }
    }

    /// The options to load a config with that may name this runtime's
    /// registered balance algorithms and fetches (what a reload uses).
    pub fn load_options(&self) -> LoadOptions {
        self.extensions.load_options()
    }

    /// The registered balance algorithms.
    pub fn selectors(&self) -> &Arc<Selectors> {
        &self.extensions.selectors
    }

    /// The registered hooks, in order.
    pub fn hooks(&self) -> &[Arc<dyn Hook>] {
        &self.extensions.hooks
    }

    /// The configuration this runtime was built from (runtime changes such
    /// as added servers are not in it).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The frontends in config order.
    pub fn frontends(&self) -> &[Frontend] {
        &self.frontends
    }

    /// The backends in config order.
    pub fn backends(&self) -> &[Arc<Backend>] {
        &self.backends
    }

    /// The metric handles of this runtime, if it was built with metrics.
    pub(crate) fn handles(&self) -> Option<&Handles> {
        self.handles.as_ref()
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
                .map(|f| (f.name.clone(), f.bind.clone(), f.mode, f.tls.is_some()))
                .collect::<Vec<_>>()
        };
        if names(self) != names(next) {
            return Err("frontends, their bind addresses, modes or TLS changed; listeners cannot change on reload (restart, or upgrade with -u)".to_string());
        }
        Ok(())
    }

    /// The backend named `name`.
    pub fn backend(&self, name: &str) -> Option<&Arc<Backend>> {
        self.backends.iter().find(|b| b.name() == name)
    }
}

impl Frontend {
    fn new(f: &FrontendConfig, config: &Config, previous: Option<&Runtime>) -> Self {
        // The config crate has checked every backend reference.
        let index = |name: &str| config.backend_index(name);
        let old = previous.and_then(|p| p.frontends().iter().find(|o| o.name == f.name));
        let old_rates = old.map_or(&[][..], |o| &o.rates[..]);
        // Backends' `http_response` rules read the frontend's tables too.
        let mut periods = f.rate_periods();
        let backend_rules = config.backends.iter().flat_map(|b| &b.http_response);
        let guards = backend_rules.clone().filter_map(|r| r.guard.as_ref());
        let fetches = guards
            .flat_map(|g| g.cond.acls().map(|a| a.fetch()))
            .chain(backend_rules.flat_map(|r| r.action.values().flat_map(|v| v.fetches())));
        for period in fetches.filter_map(|f| f.rate_period()) {
            if !periods.contains(&period) {
                periods.push(period);
            }
        }
        let rates = periods
            .into_iter()
            .map(|period| {
                old_rates
                    .iter()
                    .find(|t| t.period() == period)
                    .map_or_else(|| Arc::new(RateTable::new(period)), Arc::clone)
            })
            .collect();
        Frontend {
            name: f.name.clone(),
            bind: f.bind.clone(),
            mode: f.mode,
            tls: f
                .tls
                .as_ref()
                .and_then(crate::tls::Certs::new)
                .map(Arc::new),
            tcp_request: f.tcp_request.clone(),
            inspect_delay: f.inspect_delay,
            uses_ssl_sni: f.uses_ssl_sni(),
            accept_proxy: f.accept_proxy,
            h2c: f.h2c,
            compression: f.compression.clone(),
            timeout_client: f.timeout_client,
            timeout_http_request: f.timeout_http_request,
            normalize_path: f.normalize_path,
            encoded_slashes: f.encoded_slashes,
            path_params: f.path_params,
            forwardfor: f.forwardfor,
            http_request: f.http_request.clone(),
            http_response: f.http_response.clone(),
            unique_id_header: f.unique_id_header.clone(),
            unique_id: f.unique_id_header.is_some()
                || f.http_request
                    .iter()
                    .chain(&f.http_response)
                    .chain(config.backends.iter().flat_map(|b| &b.http_response))
                    .flat_map(|r| r.action.values())
                    .any(fairway_acl::Value::uses_unique_id),
            use_backend: f
                .use_backend
                .iter()
                .filter_map(|u| index(&u.backend).map(|i| (u.clone(), i)))
                .collect(),
            default_backend: f.default_backend.as_deref().and_then(index),
            rates,
            responses: old.map_or_else(Arc::default, |o| Arc::clone(&o.responses)),
        }
    }
}

/// The run-time backend for one `backends` entry.
#[cfg(test)]
pub(crate) fn build_backend(b: &fairway_config::BackendConfig) -> Backend {
    build_backend_with(b, &Selectors::shared_builtin())
}

/// The run-time backend for one `backends` entry, its algorithm taken from
/// `selectors`.
pub(crate) fn build_backend_with(
    b: &fairway_config::BackendConfig,
    selectors: &Selectors,
) -> Backend {
    let spec = BackendSpec {
        name: b.name.clone(),
        balance: b.balance.clone(),
        retries: b.retries,
        redispatch: b.redispatch,
        retry_on: b.retry_on,
        retry_budget: b.retry_budget,
        timeout_queue: b.timeout_queue,
        timeout_tunnel: b.timeout_tunnel,
        http_reuse: b.http_reuse,
        cookie: b.cookie.clone(),
        health_check: b.health_check.clone(),
        latency: b.latency.clone(),
        ewma: b.ewma.clone(),
        outlier: b.outlier,
        http_response: b.http_response.clone(),
    };
    let servers = b
        .servers
        .iter()
        .map(|s| {
            let spec = ServerSpec {
                name: s.name.clone(),
                addr: s.socket_addr.unwrap_or_else(|| unresolved(s)),
                weight: s.weight,
                backup: s.backup,
                maxconn: s.maxconn,
                cookie: s.cookie.clone(),
                timeout_connect: b.timeout_connect,
                timeout_server: b.timeout_server,
                proto: s.proto,
                send_proxy: s.send_proxy,
            };
            (spec, s.tls.clone())
        })
        .collect();
    let backend = Backend::with_selectors(spec, servers, selectors);
    let mut marked = false;
    for (server, conf) in backend.servers().iter().zip(&b.servers) {
        if conf.socket_addr.is_none() {
            server.mark_unresolved();
            marked = true;
        }
    }
    if marked {
        backend.rebuild();
    }
    backend
}

/// The placeholder address of a server whose `dns` name is not resolved
/// yet (it takes no requests; see [`Server::has_addr`](crate::upstream::Server::has_addr)):
/// `0.0.0.0` with the port written, if any.
fn unresolved(s: &fairway_config::ServerConfig) -> SocketAddr {
    let port = match &s.lookup {
        Some(fairway_config::Lookup::Host { port, .. }) => *port,
        _ => 0,
    };
    SocketAddr::from(([0, 0, 0, 0], port))
}

/// `backend`, just built from `b`, with each server that has no address
/// yet placed at the address that the same server of `old` (the previous
/// runtime's backend, built from `old_config`) was resolved to for the
/// same name: a reload does not forget what `dns` found.
fn keep_resolved(
    backend: Backend,
    b: &fairway_config::BackendConfig,
    old: &Backend,
    old_config: Option<&fairway_config::BackendConfig>,
) -> Backend {
    let mut servers = backend.servers().to_vec();
    let mut moved = false;
    for (slot, conf) in servers.iter_mut().zip(&b.servers) {
        let same_name = || {
            old_config
                .and_then(|c| c.servers.iter().find(|s| s.name == conf.name))
                .is_some_and(|s| s.lookup == conf.lookup)
        };
        let was = old.server(&conf.name).map(|(_, s)| s);
        if let Some(was) = was.filter(|w| !slot.has_addr() && w.has_addr() && same_name()) {
            let spec = ServerSpec {
                addr: was.addr(),
                ..slot.spec().clone()
            };
            *slot = Arc::new(backend.new_server_with_tls(spec, conf.tls.as_ref()));
            moved = true;
        }
    }
    match moved {
        true => backend.derive(servers),
        false => backend,
    }
}

impl crate::metrics::Served for Runtime {
    fn frontend_names(&self) -> impl Iterator<Item = &str> {
        self.frontends.iter().map(|f| f.name.as_str())
    }

    fn frontend_name(&self, index: usize) -> Option<&str> {
        self.frontends.get(index).map(|f| f.name.as_str())
    }

    fn backends(&self) -> &[Arc<Backend>] {
        Runtime::backends(self)
    }
}
