//! The `mode: tcp` families, in the same registry and module as every other
//! `fairway_*` family:
//!
//! | family | labels | what |
//! |---|---|---|
//! | `fairway_tcp_connections_total` | `frontend, backend, server, termination` | every connection, when it ends; `termination` is the two-letter state of the access log (`--` normal, `PR` rejected by `tcp_request`, `RR` no backend, `RC`/`RQ` no server or queue, `SC` connect failed, `cD`/`sD` client/server idle timeout, `CD`/`SD` client/server error) |
//! | `fairway_tcp_active_connections` | `frontend` | connections open now |
//! | `fairway_tcp_bytes_total` | `frontend, backend, direction` | bytes relayed, `direction="in"` client to server, `"out"` server to client |
//! | `fairway_tcp_connection_duration_seconds` | `frontend, backend` | histogram of connection lifetimes |
//!
//! Servers also count their connections as "requests" (`active`, `total`,
//! `failures` of the stats page and of `fairway_server_*`), since a tcp
//! connection holds its server slot for its whole life.
//!
//! A connection is recorded through its runtime's handle table
//! ([`TcpRoute`], one per frontend and backend): the labelled series are
//! looked up once per runtime and slot, never per connection.

use super::{register, Backend, Served};
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const BUCKETS: &[f64] = &[
    0.001, 0.005, 0.025, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 1800.0, 3600.0,
];

/// The termination states a connection can end in (the access log's).
pub const TERMINATIONS: [&str; 10] = ["--", "PR", "RR", "RC", "RQ", "SC", "cD", "sD", "CD", "SD"];

/// The four TCP families.
#[derive(Debug, Clone)]
pub(super) struct TcpFamilies {
    connections: IntCounterVec,
    active: IntGaugeVec,
    bytes: IntCounterVec,
    duration: HistogramVec,
}

/// One ended `mode: tcp` connection, by index into its runtime.
#[derive(Debug, Clone, Copy)]
pub struct TcpEnded {
    /// Frontend index.
    pub frontend: usize,
    /// Backend index, if one was chosen.
    pub backend: Option<usize>,
    /// Server index in the backend, if one was connected (or tried last).
    pub server: Option<usize>,
    /// One of [`TERMINATIONS`].
    pub termination: &'static str,
    /// Bytes from the client to the server.
    pub bytes_in: u64,
    /// Bytes from the server to the client.
    pub bytes_out: u64,
    /// The connection's lifetime.
    pub duration: Duration,
}

impl TcpFamilies {
    pub(super) fn new(registry: &Registry) -> TcpFamilies {
        let families = (
            IntCounterVec::new(
                Opts::new(
                    "fairway_tcp_connections_total",
                    "Connections of mode tcp frontends, by how they ended.",
                ),
                &["frontend", "backend", "server", "termination"],
            ),
            IntGaugeVec::new(
                Opts::new(
                    "fairway_tcp_active_connections",
                    "Connections of mode tcp frontends open now.",
                ),
                &["frontend"],
            ),
            IntCounterVec::new(
                Opts::new(
                    "fairway_tcp_bytes_total",
                    "Bytes relayed by mode tcp frontends (in: client to server, out: server to client).",
                ),
                &["frontend", "backend", "direction"],
            ),
            HistogramVec::new(
                HistogramOpts::new(
                    "fairway_tcp_connection_duration_seconds",
                    "Lifetime of connections of mode tcp frontends.",
                )
                .buckets(BUCKETS.to_vec()),
                &["frontend", "backend"],
            ),
        );
        // The definitions are constants: a failure here is a bug the unit
        // tests catch.
        let (Ok(connections), Ok(active), Ok(bytes), Ok(duration)) = families else {
            unreachable!("invalid tcp metric definitions")
        };
        TcpFamilies {
            connections: register(registry, connections),
            active: register(registry, active),
            bytes: register(registry, bytes),
            duration: register(registry, duration),
        }
    }

    /// The open-connections gauge of `frontend` (looked up once per
    /// frontend: names do not change while the process runs).
    pub(super) fn active(&self, frontend: &str) -> IntGauge {
        self.active.with_label_values(&[frontend])
    }

    /// Records with label lookups: a runtime built without these metrics.
    pub(super) fn record_slow(&self, rt: &impl Served, e: &TcpEnded) {
        let Some(fe) = rt.frontend_name(e.frontend) else {
            return;
        };
        let backend = e.backend.and_then(|b| rt.backends().get(b));
        let b = backend.map_or("", |b| b.name());
        let s = super::server_name(backend, e.server);
        self.connections
            .with_label_values(&[fe, b, s, e.termination])
            .inc();
        if e.bytes_in > 0 {
            self.bytes
                .with_label_values(&[fe, b, "in"])
                .inc_by(e.bytes_in);
        }
        if e.bytes_out > 0 {
            self.bytes
                .with_label_values(&[fe, b, "out"])
                .inc_by(e.bytes_out);
        }
        self.duration
            .with_label_values(&[fe, b])
            .observe(e.duration.as_secs_f64());
    }
}

/// The handles of one frontend and backend (or none): resolved the first
/// time a connection of that route ends, then reused.
#[derive(Debug)]
pub(super) struct TcpRoute {
    bytes_in: OnceLock<IntCounter>,
    bytes_out: OnceLock<IntCounter>,
    duration: OnceLock<Histogram>,
    /// Per server (and one more for none), per termination state.
    connections: Box<[[OnceLock<IntCounter>; TERMINATIONS.len()]]>,
}

impl TcpRoute {
    pub(super) fn new(servers: usize) -> TcpRoute {
        TcpRoute {
            bytes_in: OnceLock::new(),
            bytes_out: OnceLock::new(),
            duration: OnceLock::new(),
            connections: (0..=servers)
                .map(|_| std::array::from_fn(|_| OnceLock::new()))
                .collect(),
        }
    }

    /// Records `e` (which ended on this route); false when it has no slot.
    pub(super) fn record(
        &self,
        families: &TcpFamilies,
        frontend: &str,
        backend: Option<&Arc<Backend>>,
        e: &TcpEnded,
    ) -> bool {
        let Some(t) = TERMINATIONS.iter().position(|t| *t == e.termination) else {
            return false;
        };
        let slot = e.server.unwrap_or(self.connections.len() - 1);
        let Some(slots) = self.connections.get(slot) else {
            return false;
        };
        let b = backend.map_or("", |b| b.name());
        slots[t]
            .get_or_init(|| {
                let s = super::server_name(backend, e.server);
                families
                    .connections
                    .with_label_values(&[frontend, b, s, e.termination])
            })
            .inc();
        if e.bytes_in > 0 {
            self.bytes_in
                .get_or_init(|| families.bytes.with_label_values(&[frontend, b, "in"]))
                .inc_by(e.bytes_in);
        }
        if e.bytes_out > 0 {
            self.bytes_out
                .get_or_init(|| families.bytes.with_label_values(&[frontend, b, "out"]))
                .inc_by(e.bytes_out);
        }
        self.duration
            .get_or_init(|| families.duration.with_label_values(&[frontend, b]))
            .observe(e.duration.as_secs_f64());
        true
    }
}
