//! Response-code counts for the stats page, read from the metrics
//! registry (`fairway_requests_total{frontend,backend,server,code}`).

use super::view::{CodeSource, Codes};
use crate::Metrics;
use std::collections::HashMap;

/// Response counts per frontend, backend and server, gathered once.
#[derive(Debug, Default)]
pub struct MetricCodes {
    frontends: HashMap<String, Codes>,
    backends: HashMap<String, Codes>,
    servers: HashMap<(String, String), Codes>,
}

impl MetricCodes {
    /// Sums `fairway_requests_total` of `metrics` now. Requests that got
    /// no response (`code="0"`) are not responses and are left out.
    pub fn gather(metrics: &Metrics) -> MetricCodes {
        let mut out = MetricCodes::default();
        for family in metrics.registry().gather() {
            if family.name() != "fairway_requests_total" {
                continue;
            }
            for m in family.get_metric() {
                let label = |name: &str| {
                    m.get_label()
                        .iter()
                        .find(|l| l.name() == name)
                        .map_or("", |l| l.value())
                };
                let Ok(code) = label("code").parse::<u16>() else {
                    continue;
                };
                if code == 0 {
                    continue;
                }
                let n = m.get_counter().value().max(0.0) as u64;
                let (frontend, backend, server) =
                    (label("frontend"), label("backend"), label("server"));
                out.frontends
                    .entry(frontend.to_string())
                    .or_default()
                    .add(code, n);
                if !backend.is_empty() {
                    out.backends
                        .entry(backend.to_string())
                        .or_default()
                        .add(code, n);
                    if !server.is_empty() {
                        out.servers
                            .entry((backend.to_string(), server.to_string()))
                            .or_default()
                            .add(code, n);
                    }
                }
            }
        }
        out
    }
}

impl CodeSource for MetricCodes {
    fn frontend(&self, frontend: &str) -> Option<Codes> {
        Some(self.frontends.get(frontend).copied().unwrap_or_default())
    }

    fn backend(&self, backend: &str) -> Option<Codes> {
        Some(self.backends.get(backend).copied().unwrap_or_default())
    }

    fn server(&self, backend: &str, server: &str) -> Option<Codes> {
        Some(
            self.servers
                .get(&(backend.to_string(), server.to_string()))
                .copied()
                .unwrap_or_default(),
        )
    }
}
