//! Prometheus metrics: every `fairway_*` family (SPEC §6).
//!
//! A [`Metrics`] owns its own [`Registry`] (never the process-global one, so
//! several instances and tests do not collide). It lives in
//! [`Fairway`](crate::Fairway), not in a [`Runtime`](crate::Runtime), so counters keep
//! counting across reloads and runtime changes. [`Metrics::encode`] is what
//! the admin listener serves at `GET /metrics`.
//!
//! # Families
//!
//! Counted per request, in the proxy's `logging` phase (which Pingora calls
//! exactly once per request, however it ends):
//!
//! | family | labels | what |
//! |---|---|---|
//! | `fairway_requests_total` | `frontend, backend, server, code` | every request; `backend=""` when no backend was chosen (answered by a rule), `server=""` when no server was (rule, no server available); `code="0"` when the client went away before any response |
//! | `fairway_request_duration_seconds` | `frontend, backend` | histogram of the time from the request head to the end of the response |
//! | `fairway_denied_requests_total` | `frontend` | requests answered by a `deny` rule |
//! | `fairway_backend_no_server_total` | `backend` | 503s because no server could take the request (none available, queue full, queue timeout) |
//!
//! Kept by each HTTP frontend's application as connections open and close:
//!
//! | family | labels | what |
//! |---|---|---|
//! | `fairway_http_active_connections` | `frontend` | client connections open now (HTTP/1 and HTTP/2) |
//!
//! Read from the runtime at each [`Metrics::encode`]:
//!
//! | family | labels | what |
//! |---|---|---|
//! | `fairway_server_up` | `backend, server` | 1 when the health check says up (always 1 without checks) |
//! | `fairway_server_weight` | `backend, server` | effective weight (after health, state, backups, `latency` ranking) |
//! | `fairway_server_ejected` | `backend, server` | 1 while `outlier` ejects the server, else 0 |
//! | `fairway_server_active_requests` | `backend, server` | requests in flight |
//! | `fairway_server_check_latency_seconds` | `backend, server, quantile="0.9"` | p90 of recent health-check round trips; absent without samples |
//! | `fairway_server_requests_total` | `backend, server` | requests sent to the server (each retry attempt counts) |
//! | `fairway_server_failures_total` | `backend, server` | connection failures to the server |
//! | `fairway_backend_queued` | `backend` | requests waiting for a `maxconn` slot |
//!
//! Series of servers and backends that are no longer in the runtime are
//! removed.
//!
//! # Handles: resolved once, never per request
//!
//! Looking a labelled child up in a `MetricVec` hashes the label values
//! under a read lock. The request path does not do that. Each [`Runtime`](crate::Runtime)
//! built with metrics ([`Runtime::with_metrics`](crate::runtime::Runtime::with_metrics), and every runtime derived
//! from it by reloads and runtime changes) carries a table of handles indexed
//! by (frontend, backend, server) *position*: the frontend and backend
//! counters are resolved when the runtime is built; the per-status-code
//! counters and the duration histograms are resolved lazily, once, into
//! [`OnceLock`] slots (one slot per status code 0..=599 per
//! frontend/backend/server triple, allocated on the triple's first request).
//! So recording a request is index arithmetic, an atomic load of an
//! initialised `OnceLock` and atomic adds: no lock, no label parsing, no
//! allocation. Only the first request of a (frontend, backend, server, code)
//! combination in a runtime resolves its label values; a status outside
//! 0..=599 or a runtime built without metrics takes the slow path (a direct
//! lookup), correct but not lock-free.
//!
//! A table *pins* the (backend, server) pairs it holds handles for, until it
//! is dropped with its runtime. A series of a server that is gone from the
//! runtime is hidden from [`Metrics::encode`] at once and removed from the
//! registry once no table pins it any more — so a request still in flight
//! on an old runtime never increments a detached counter, and a scrape that
//! races with a runtime change can never detach a live handle.

use crate::balance::Backend;

/// What the metrics read of the configuration being served: frontend
/// names and the backends with their servers' live state. The runtime
/// implements it; the metrics never import the runtime (data flows from
/// the runtime into the metrics, not back).
pub trait Served {
    /// The frontends' names, in config order.
    fn frontend_names(&self) -> impl Iterator<Item = &str>;
    /// The name of frontend `index`.
    fn frontend_name(&self, index: usize) -> Option<&str>;
    /// The backends, in config order.
    fn backends(&self) -> &[Arc<Backend>];
}

impl<T: Served> Served for Arc<T> {
    fn frontend_names(&self) -> impl Iterator<Item = &str> {
        (**self).frontend_names()
    }

    fn frontend_name(&self, index: usize) -> Option<&str> {
        (**self).frontend_name(index)
    }

    fn backends(&self) -> &[Arc<Backend>] {
        (**self).backends()
    }
}
use prometheus::core::Collector;
use prometheus::proto::Metric;
use prometheus::{
    GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// Status codes with a lock-free slot: 0 (no response) and 1..=599.
const CODES: usize = 600;

/// Buckets of `fairway_request_duration_seconds`, in seconds.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

const REQUESTS: &str = "fairway_requests_total";
const DURATION: &str = "fairway_request_duration_seconds";
const DENIED: &str = "fairway_denied_requests_total";
const NO_SERVER: &str = "fairway_backend_no_server_total";
const SERVER_REQUESTS: &str = "fairway_server_requests_total";
const SERVER_FAILURES: &str = "fairway_server_failures_total";

/// Every fairway metric family, in a registry of its own.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    denied: IntCounterVec,
    no_server: IntCounterVec,
    server_up: IntGaugeVec,
    server_weight: IntGaugeVec,
    server_ejected: IntGaugeVec,
    server_active: IntGaugeVec,
    check_latency: GaugeVec,
    server_requests: IntCounterVec,
    server_failures: IntCounterVec,
    backend_queued: IntGaugeVec,
    proxy_refused: IntCounterVec,
    http_active: IntGaugeVec,
    /// The `mode: tcp` families.
    tcp: tcp::TcpFamilies,
    /// (backend, server) pairs held by live handle tables, with how many
    /// tables hold them; `server` is empty for the backend itself.
    pins: Mutex<HashMap<(String, String), usize>>,
    /// Serializes [`Metrics::encode`] (it resets and refills gauges).
    encoding: Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers `c` in `registry` and returns it. The definitions are
/// constants, so a failure is a bug caught by the unit tests.
fn register<C: Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    if let Err(e) = registry.register(Box::new(c.clone())) {
        log::error!("metric registration failed: {e}");
    }
    c
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let vec = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("invalid metric definition {name}: {e}"));
    register(registry, vec)
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let vec = IntGaugeVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("invalid metric definition {name}: {e}"));
    register(registry, vec)
}

impl Metrics {
    /// A fresh set of metric families in a new registry.
    pub fn new() -> Arc<Metrics> {
        let r = Registry::new();
        let duration = HistogramVec::new(
            HistogramOpts::new(
                DURATION,
                "Time from the request head to the end of the response, per frontend and backend (backend=\"\" when none was chosen).",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["frontend", "backend"],
        )
        .unwrap_or_else(|e| panic!("invalid metric definition {DURATION}: {e}"));
        let check_latency = GaugeVec::new(
            Opts::new(
                "fairway_server_check_latency_seconds",
                "Percentile of the server's recent health-check round-trip times.",
            ),
            &["backend", "server", "quantile"],
        )
        .unwrap_or_else(|e| panic!("invalid metric definition check latency: {e}"));
        Arc::new(Metrics {
            requests: counter_vec(
                &r,
                REQUESTS,
                "Requests by frontend, backend, server and status code (empty backend/server: none chosen; code 0: no response).",
                &["frontend", "backend", "server", "code"],
            ),
            duration: register(&r, duration),
            denied: counter_vec(&r, DENIED, "Requests answered by a deny rule.", &["frontend"]),
            no_server: counter_vec(
                &r,
                NO_SERVER,
                "503 responses because no server could take the request.",
                &["backend"],
            ),
            server_up: gauge_vec(
                &r,
                "fairway_server_up",
                "1 when the server's health check says up (always 1 without checks), else 0.",
                &["backend", "server"],
            ),
            server_weight: gauge_vec(
                &r,
                "fairway_server_weight",
                "Effective weight of the server in its backend's balancer.",
                &["backend", "server"],
            ),
            server_ejected: gauge_vec(
                &r,
                "fairway_server_ejected",
                "1 while the server is ejected by its backend's outlier detection, else 0.",
                &["backend", "server"],
            ),
            server_active: gauge_vec(
                &r,
                "fairway_server_active_requests",
                "Requests in flight to the server.",
                &["backend", "server"],
            ),
            check_latency: register(&r, check_latency),
            server_requests: counter_vec(
                &r,
                SERVER_REQUESTS,
                "Requests sent to the server (each retry attempt counts).",
                &["backend", "server"],
            ),
            server_failures: counter_vec(
                &r,
                SERVER_FAILURES,
                "Connection failures to the server.",
                &["backend", "server"],
            ),
            backend_queued: gauge_vec(
                &r,
                "fairway_backend_queued",
                "Requests waiting for a free server slot (maxconn).",
                &["backend"],
            ),
            proxy_refused: counter_vec(
                &r,
                "fairway_proxy_protocol_refused_total",
                "Connections closed because they did not start with a valid PROXY protocol header (`accept_proxy`), by frontend and reason.",
                &["frontend", "reason"],
            ),
            http_active: gauge_vec(
                &r,
                "fairway_http_active_connections",
                "Client connections open now on an HTTP frontend.",
                &["frontend"],
            ),
            tcp: tcp::TcpFamilies::new(&r),
            registry: r,
            pins: Mutex::new(HashMap::new()),
            encoding: Mutex::new(()),
        })
    }

    /// The registry every family is in (to add your own, or to gather).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The Prometheus text format of every family, with the per-server and
    /// per-backend gauges refreshed from `rt` (pass the current runtime).
    /// Series of servers and backends that are not in `rt` are left out, and
    /// removed from the registry once no runtime still serving requests
    /// holds them.
    pub fn encode(&self, rt: &impl Served) -> String {
        let _serial = lock(&self.encoding);
        self.refresh(rt);
        let live = live_pairs(rt);
        let mut families = self.registry.gather();
        for family in &mut families {
            let (vec, labels): (&dyn Remove, &[&str]) = match family.name() {
                REQUESTS => (&self.requests, &["frontend", "backend", "server", "code"]),
                DURATION => (&self.duration, &["frontend", "backend"]),
                NO_SERVER => (&self.no_server, &["backend"]),
                SERVER_REQUESTS => (&self.server_requests, &["backend", "server"]),
                SERVER_FAILURES => (&self.server_failures, &["backend", "server"]),
                _ => continue,
            };
            family.mut_metric().retain(|m| {
                let pair = (label(m, "backend"), label(m, "server"));
                if pair.0.is_empty() || live.contains(&pair) {
                    return true;
                }
                if !self.pinned(pair.0, pair.1) {
                    let values: Vec<&str> = labels.iter().map(|l| label(m, l)).collect();
                    vec.remove(&values);
                }
                false
            });
        }
        families.retain(|f| !f.get_metric().is_empty());
        let mut out = String::new();
        if let Err(e) = TextEncoder::new().encode_utf8(&families, &mut out) {
            log::error!("metrics encoding failed: {e}");
        }
        out
    }

    /// Sets the runtime-derived families from `rt` (gauges are reset first,
    /// so servers that are gone disappear).
    fn refresh(&self, rt: &impl Served) {
        for vec in [
            &self.server_up,
            &self.server_weight,
            &self.server_ejected,
            &self.server_active,
            &self.backend_queued,
        ] {
            vec.reset();
        }
        self.check_latency.reset();
        for fe in rt.frontend_names() {
            self.denied.with_label_values(&[fe]);
        }
        for b in rt.backends() {
            self.no_server.with_label_values(&[b.name()]);
            self.backend_queued
                .with_label_values(&[b.name()])
                .set(gauge(b.queued()));
            for s in b.servers() {
                let l = [b.name(), s.name()];
                self.server_up
                    .with_label_values(&l)
                    .set(i64::from(s.is_up()));
                self.server_weight
                    .with_label_values(&l)
                    .set(i64::from(s.effective_weight()));
                self.server_ejected
                    .with_label_values(&l)
                    .set(i64::from(s.outlier().is_ejected()));
                self.server_active
                    .with_label_values(&l)
                    .set(gauge(s.active()));
                // Counters only grow: add what the server counted since the
                // last scrape (its own counts carry over reloads).
                let requests = self.server_requests.with_label_values(&l);
                requests.inc_by(s.total().saturating_sub(requests.get()));
                let failures = self.server_failures.with_label_values(&l);
                failures.inc_by(s.failures().saturating_sub(failures.get()));
                if let Some(p90) = s.rtt_percentile(90) {
                    self.check_latency
                        .with_label_values(&[b.name(), s.name(), "0.9"])
                        .set(p90.as_secs_f64());
                }
            }
        }
    }

    fn pinned(&self, backend: &str, server: &str) -> bool {
        lock(&self.pins).contains_key(&(backend.to_string(), server.to_string()))
    }

    /// Records one finished request (the proxy's `logging` phase).
    /// `handles`: the table built for `rt` ([`Handles::new`]), if any.
    pub(crate) fn record(&self, rt: &impl Served, handles: Option<&Handles>, r: &RequestEnded) {
        match handles {
            Some(h) if std::ptr::eq(Arc::as_ptr(&h.metrics), self) && h.record(rt, r) => {}
            _ => self.record_slow(rt, r),
        }
    }

    /// Records one ended `mode: tcp` connection; `handles`: the table
    /// built for `rt`, if any.
    pub(crate) fn record_tcp(&self, rt: &impl Served, handles: Option<&Handles>, e: &TcpEnded) {
        match handles {
            Some(h) if std::ptr::eq(Arc::as_ptr(&h.metrics), self) && h.record_tcp(rt, e) => {}
            _ => self.tcp.record_slow(rt, e),
        }
    }

    /// Counts a connection to `frontend` closed for its PROXY header.
    pub fn proxy_refused(&self, frontend: &str, reason: &str) {
        self.proxy_refused
            .with_label_values(&[frontend, reason])
            .inc();
    }

    /// The open-connections gauge of HTTP frontend `frontend`.
    pub fn http_active(&self, frontend: &str) -> prometheus::IntGauge {
        self.http_active.with_label_values(&[frontend])
    }

    /// The open-connections gauge of `mode: tcp` frontend `frontend`.
    pub fn tcp_active(&self, frontend: &str) -> prometheus::IntGauge {
        self.tcp.active(frontend)
    }

    /// Records with label lookups: for runtimes built without these metrics
    /// and status codes without a slot.
    fn record_slow(&self, rt: &impl Served, r: &RequestEnded) {
        let Some(fe) = rt.frontend_name(r.frontend) else {
            return;
        };
        let backend = r.backend.and_then(|b| rt.backends().get(b));
        let b = backend.map_or("", |b| b.name());
        let s = server_name(backend, r.server);
        self.requests
            .with_label_values(&[fe, b, s, &r.code.to_string()])
            .inc();
        self.duration
            .with_label_values(&[fe, b])
            .observe(r.duration.as_secs_f64());
        if r.denied {
            self.denied.with_label_values(&[fe]).inc();
        }
        if r.no_server && backend.is_some() {
            self.no_server.with_label_values(&[b]).inc();
        }
    }

    fn pin(&self, pairs: &[(String, String)]) {
        let mut pins = lock(&self.pins);
        for p in pairs {
            *pins.entry(p.clone()).or_insert(0) += 1;
        }
    }

    fn unpin(&self, pairs: &[(String, String)]) {
        let mut pins = lock(&self.pins);
        for p in pairs {
            if let Some(n) = pins.get_mut(p) {
                *n -= 1;
                if *n == 0 {
                    pins.remove(p);
                }
            }
        }
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn label<'a>(m: &'a Metric, name: &str) -> &'a str {
    m.get_label()
        .iter()
        .find(|l| l.name() == name)
        .map_or("", |l| l.value())
}

fn server_name(backend: Option<&Arc<Backend>>, server: Option<usize>) -> &str {
    match (backend, server) {
        (Some(b), Some(s)) => b.servers().get(s).map_or("", |s| s.name()),
        _ => "",
    }
}

/// (backend, server) pairs of `rt`, with (backend, "") for each backend.
fn live_pairs(rt: &impl Served) -> HashSet<(&str, &str)> {
    let mut live = HashSet::new();
    for b in rt.backends() {
        live.insert((b.name(), ""));
        for s in b.servers() {
            live.insert((b.name(), s.name()));
        }
    }
    live
}

/// A metric vec whose children can be removed by label values.
trait Remove {
    fn remove(&self, values: &[&str]);
}

impl<T: prometheus::core::MetricVecBuilder> Remove for prometheus::core::MetricVec<T> {
    fn remove(&self, values: &[&str]) {
        // Already gone is fine: two scrapes may both see the series.
        let _ = self.remove_label_values(values);
    }
}

/// How one request ended, as the proxy saw it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestEnded {
    /// Frontend index in the runtime.
    pub frontend: usize,
    /// Backend index, if one was chosen.
    pub backend: Option<usize>,
    /// Server index in the backend, if one took the request.
    pub server: Option<usize>,
    /// Status sent to the client; 0 when none was.
    pub code: u16,
    /// From the request head to the end.
    pub duration: Duration,
    /// Answered by a `deny` rule.
    pub denied: bool,
    /// 503 because no server could take it.
    pub no_server: bool,
}

/// One counter per status code, resolved on first use.
#[derive(Default)]
struct CodeSlots(OnceLock<Box<[OnceLock<IntCounter>]>>);

impl CodeSlots {
    fn slot(&self, code: u16) -> Option<&OnceLock<IntCounter>> {
        self.0
            .get_or_init(|| (0..CODES).map(|_| OnceLock::new()).collect())
            .get(usize::from(code))
    }
}

/// Handles of one backend as seen from one frontend.
struct RouteHandles {
    duration: OnceLock<Histogram>,
    /// Requests without a server (`server=""`).
    no_server: CodeSlots,
    /// Per server, in the backend's order.
    servers: Box<[CodeSlots]>,
}

impl RouteHandles {
    fn new(servers: usize) -> RouteHandles {
        RouteHandles {
            duration: OnceLock::new(),
            no_server: CodeSlots::default(),
            servers: (0..servers).map(|_| CodeSlots::default()).collect(),
        }
    }
}

struct FrontendHandles {
    denied: IntCounter,
    /// `mode: tcp` routes (none, then per backend), made at the first
    /// connection that ends.
    tcp: OnceLock<(tcp::TcpRoute, Box<[tcp::TcpRoute]>)>,
    /// Requests that got no backend (`backend=""`).
    none: RouteHandles,
    /// Per backend, in the runtime's order.
    backends: Box<[RouteHandles]>,
}

/// The metric handles of one [`Runtime`], indexed like it (see the module
/// documentation). Built by [`Runtime::with_metrics`] and carried over by
/// reloads and runtime changes.
pub(crate) struct Handles {
    metrics: Arc<Metrics>,
    frontends: Box<[FrontendHandles]>,
    no_server: Box<[IntCounter]>,
    pins: Vec<(String, String)>,
}

impl std::fmt::Debug for Handles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handles")
            .field("frontends", &self.frontends.len())
            .field("backends", &self.no_server.len())
            .finish_non_exhaustive()
    }
}

impl Handles {
    /// The handle table for a runtime with these frontends and backends.
    pub(crate) fn new<'a>(
        metrics: &Arc<Metrics>,
        frontends: impl Iterator<Item = &'a str>,
        backends: &[Arc<Backend>],
    ) -> Handles {
        let mut pins = Vec::new();
        for b in backends {
            pins.push((b.name().to_string(), String::new()));
            for s in b.servers() {
                pins.push((b.name().to_string(), s.name().to_string()));
            }
        }
        metrics.pin(&pins);
        Handles {
            frontends: frontends
                .map(|fe| FrontendHandles {
                    denied: metrics.denied.with_label_values(&[fe]),
                    tcp: OnceLock::new(),
                    none: RouteHandles::new(0),
                    backends: backends
                        .iter()
                        .map(|b| RouteHandles::new(b.servers().len()))
                        .collect(),
                })
                .collect(),
            no_server: backends
                .iter()
                .map(|b| metrics.no_server.with_label_values(&[b.name()]))
                .collect(),
            metrics: Arc::clone(metrics),
            pins,
        }
    }

    /// The metrics these handles belong to.
    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Records a `mode: tcp` connection through the table of `rt`; false
    /// when it has no slot for it.
    fn record_tcp(&self, rt: &impl Served, e: &TcpEnded) -> bool {
        let (Some(fh), Some(fe)) = (self.frontends.get(e.frontend), rt.frontend_name(e.frontend))
        else {
            return false;
        };
        let (none, routes) = fh.tcp.get_or_init(|| {
            let routes = rt
                .backends()
                .iter()
                .map(|b| tcp::TcpRoute::new(b.servers().len()))
                .collect();
            (tcp::TcpRoute::new(0), routes)
        });
        let (route, backend) = match e.backend {
            None => (none, None),
            Some(b) => match (routes.get(b), rt.backends().get(b)) {
                (Some(route), Some(backend)) => (route, Some(backend)),
                _ => return false,
            },
        };
        route.record(&self.metrics.tcp, fe, backend, e)
    }

    /// Records `r` through the table of `rt` (the runtime this table was
    /// built for); false when it has no slot for it.
    fn record(&self, rt: &impl Served, r: &RequestEnded) -> bool {
        let Some(fh) = self.frontends.get(r.frontend) else {
            return false;
        };
        let (route, backend) = match r.backend {
            None => (&fh.none, None),
            Some(b) => match (fh.backends.get(b), rt.backends().get(b)) {
                (Some(route), Some(backend)) => (route, Some(backend)),
                _ => return false,
            },
        };
        let server = if r.no_server { None } else { r.server };
        let codes = match server {
            None => &route.no_server,
            Some(s) => match route.servers.get(s) {
                Some(codes) => codes,
                None => return false,
            },
        };
        let Some(slot) = codes.slot(r.code) else {
            return false;
        };
        let Some(fe) = rt.frontend_name(r.frontend) else {
            return false;
        };
        let b = backend.map_or("", |b| b.name());
        slot.get_or_init(|| {
            let s = server_name(backend, server);
            let code = r.code.to_string();
            self.metrics.requests.with_label_values(&[fe, b, s, &code])
        })
        .inc();
        route
            .duration
            .get_or_init(|| self.metrics.duration.with_label_values(&[fe, b]))
            .observe(r.duration.as_secs_f64());
        if r.denied {
            fh.denied.inc();
        }
        if r.no_server {
            if let Some(c) = r.backend.and_then(|b| self.no_server.get(b)) {
                c.inc();
            }
        }
        true
    }
}

impl Drop for Handles {
    fn drop(&mut self) {
        self.metrics.unpin(&self.pins);
    }
}

mod tcp;

pub use tcp::{TcpEnded, TERMINATIONS};

#[cfg(test)]
mod tests;
