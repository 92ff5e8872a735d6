//! Latency-aware selection as a library, without a config file.
//!
//! ```text
//! cargo run -p fairway --example latency
//! ```
//!
//! Builds a `balance: latency` backend in code, feeds it health-check
//! round-trip times (in a real service fairway's health checker records
//! them; here we play the checker), and shows which region takes the
//! traffic as the latencies change and a region goes down. The same
//! `Backend` plugs into your own Pingora `ProxyHttp::upstream_peer`: call
//! `try_acquire` and return `servers()[i].peer()`.

use fairway::balance::{Acquire, Backend, BackendSpec};
use fairway::config::{Balance, EwmaConfig, LatencyConfig};
use fairway::upstream::ServerSpec;
use std::time::Duration;

fn region(name: &str, port: u16) -> ServerSpec {
    ServerSpec {
        name: name.to_string(),
        addr: ([127, 0, 0, 1], port).into(),
        weight: 1,
        backup: false,
        maxconn: None,
        cookie: name.to_string(),
        timeout_connect: Duration::from_secs(2),
        timeout_server: Duration::from_secs(30),
        proto: fairway::config::Proto::H1,
        send_proxy: None,
    }
}

/// Who gets 1,000 requests.
fn traffic(backend: &Backend) -> String {
    let mut counts = vec![0; backend.servers().len()];
    for _ in 0..1000 {
        if let Acquire::Got(i, _in_flight) = backend.try_acquire(None, &|_| false) {
            counts[i] += 1;
        }
    }
    backend
        .servers()
        .iter()
        .zip(counts)
        .map(|(s, n)| format!("{}={n}", s.name()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    let spec = BackendSpec {
        timeout_tunnel: None,
        http_reuse: fairway_config::HttpReuse::Safe,
        name: "geo".into(),
        balance: Balance::Latency,
        retries: 2,
        redispatch: true,
        retry_on: Default::default(),
        retry_budget: None,
        timeout_queue: Duration::from_secs(1),
        cookie: None,
        health_check: None,
        latency: LatencyConfig {
            percentile: 90,
            window: 20,
            interval: Duration::from_secs(5),
            primary_weight: 256,
            backup_weight: 1,
        },
        ewma: EwmaConfig::default(),
        outlier: None,
        http_response: Vec::new(),
    };
    let backend = Backend::new(
        spec,
        vec![region("us", 8101), region("eu", 8102), region("asia", 8103)],
    );

    // Play the health checker: record round-trip times, then recompute.
    let record = |name: &str, ms: u64| {
        if let Some((_, s)) = backend.server(name) {
            for _ in 0..20 {
                s.record_rtt(Duration::from_millis(ms));
            }
        }
    };
    record("us", 80);
    record("eu", 12);
    record("asia", 190);
    backend.rebuild();
    println!("eu fastest:         {}", traffic(&backend));
    for (name, p90, weight) in backend.latency_view() {
        println!(
            "  {name:<5} p90={:>4} ms weight={weight}",
            p90.map_or(0, |d| d.as_millis())
        );
    }

    record("eu", 300);
    backend.rebuild();
    println!("eu slowed down:     {}", traffic(&backend));

    if let Some((_, us)) = backend.server("us") {
        us.set_up(false);
    }
    backend.rebuild();
    println!("us down:            {}", traffic(&backend));
}
