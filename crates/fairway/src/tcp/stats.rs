//! Per-connection metrics of `mode: tcp` frontends, registered into the
//! [`Metrics`](crate::Metrics) registry so `GET /metrics` shows them.
//!
//! | family | labels | what |
//! |---|---|---|
//! | `fairway_tcp_connections_total` | `frontend, backend, server, termination` | every connection, when it ends; `termination` is the two-letter state of the access log (`--` normal, `PR` rejected by `tcp_request`, `RC` no server, `SC` connect failed, `cD`/`sD` client/server idle timeout, `CD`/`SD` client/server error) |
//! | `fairway_tcp_active_connections` | `frontend` | connections open now |
//! | `fairway_tcp_bytes_total` | `frontend, backend, direction` | bytes relayed, `direction="in"` client to server, `"out"` server to client |
//! | `fairway_tcp_connection_duration_seconds` | `frontend, backend` | histogram of connection lifetimes |
//!
//! Servers also count their connections as "requests" (`active`, `total`,
//! `failures` of the stats page and of `fairway_server_*`), since a tcp
//! connection holds its server slot for its whole life.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};
use std::time::Duration;

/// Buckets of `fairway_tcp_connection_duration_seconds`, in seconds.
const BUCKETS: &[f64] = &[
    0.001, 0.005, 0.025, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 1800.0, 3600.0,
];

/// The tcp families.
#[derive(Debug, Clone)]
pub struct Stats {
    connections: IntCounterVec,
    active: IntGaugeVec,
    bytes: IntCounterVec,
    duration: HistogramVec,
}

/// One finished connection.
pub struct Ended<'a> {
    /// Frontend name.
    pub frontend: &'a str,
    /// Backend name, `""` when none was chosen.
    pub backend: &'a str,
    /// Server name, `""` when none was connected.
    pub server: &'a str,
    /// Two-letter termination state.
    pub termination: &'a str,
    /// Client to server bytes.
    pub bytes_in: u64,
    /// Server to client bytes.
    pub bytes_out: u64,
    /// How long the connection lived.
    pub duration: Duration,
}

impl Stats {
    /// Creates the families and registers them into `registry` (a family
    /// already registered there, by an earlier call, is logged and left
    /// out of it: register once per registry).
    pub fn new(registry: &Registry) -> Stats {
        let connections = IntCounterVec::new(
            Opts::new(
                "fairway_tcp_connections_total",
                "Connections of mode tcp frontends, by how they ended.",
            ),
            &["frontend", "backend", "server", "termination"],
        );
        let active = IntGaugeVec::new(
            Opts::new(
                "fairway_tcp_active_connections",
                "Connections of mode tcp frontends open now.",
            ),
            &["frontend"],
        );
        let bytes = IntCounterVec::new(
            Opts::new(
                "fairway_tcp_bytes_total",
                "Bytes relayed by mode tcp frontends (in: client to server, out: server to client).",
            ),
            &["frontend", "backend", "direction"],
        );
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "fairway_tcp_connection_duration_seconds",
                "Lifetime of connections of mode tcp frontends.",
            )
            .buckets(BUCKETS.to_vec()),
            &["frontend", "backend"],
        );
        // The definitions are constants: a failure here is a bug the unit
        // test catches.
        let (Ok(connections), Ok(active), Ok(bytes), Ok(duration)) =
            (connections, active, bytes, duration)
        else {
            unreachable!("invalid tcp metric definitions")
        };
        let stats = Stats {
            connections,
            active,
            bytes,
            duration,
        };
        for c in [
            Box::new(stats.connections.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(stats.active.clone()),
            Box::new(stats.bytes.clone()),
            Box::new(stats.duration.clone()),
        ] {
            if let Err(e) = registry.register(c) {
                log::warn!("tcp metrics not registered error={e}");
            }
        }
        stats
    }

    /// The open-connections gauge of `frontend` (resolve it once, then
    /// `inc`/`dec` it per connection).
    pub fn active(&self, frontend: &str) -> prometheus::IntGauge {
        self.active.with_label_values(&[frontend])
    }

    /// A connection ended (the caller decrements its `active` gauge).
    pub fn ended(&self, e: &Ended<'_>) {
        self.connections
            .with_label_values(&[e.frontend, e.backend, e.server, e.termination])
            .inc();
        if e.bytes_in > 0 {
            self.bytes
                .with_label_values(&[e.frontend, e.backend, "in"])
                .inc_by(e.bytes_in);
        }
        if e.bytes_out > 0 {
            self.bytes
                .with_label_values(&[e.frontend, e.backend, "out"])
                .inc_by(e.bytes_out);
        }
        self.duration
            .with_label_values(&[e.frontend, e.backend])
            .observe(e.duration.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_register_and_count() {
        let registry = Registry::new();
        let stats = Stats::new(&registry);
        stats.active("db").inc();
        stats.ended(&Ended {
            frontend: "db",
            backend: "pg",
            server: "p1",
            termination: "--",
            bytes_in: 10,
            bytes_out: 20,
            duration: Duration::from_millis(5),
        });
        let names: Vec<String> = registry
            .gather()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "fairway_tcp_active_connections",
                "fairway_tcp_bytes_total",
                "fairway_tcp_connection_duration_seconds",
                "fairway_tcp_connections_total"
            ]
        );
        // Registering twice is logged, not a panic.
        let _again = Stats::new(&registry);
    }
}
