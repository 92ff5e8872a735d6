//! Latency-aware routing (seeds 000/001) and peak-EWMA through the real
//! binary, against upstreams whose delays differ.

mod common;

use common::{Fairway, Upstream};
use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

/// Upstreams `fast`, `mid` and `slow` answering after 5, 60 and 150 ms.
fn regions() -> Vec<Upstream> {
    [("fast", 5), ("mid", 60), ("slow", 150)]
        .iter()
        .map(|(name, ms)| {
            let u = Upstream::start(name);
            u.set_delay(Duration::from_millis(*ms));
            u
        })
        .collect()
}

const GEO: &str = r#"
frontends:
  web:
    bind: ["127.0.0.1:{PORT}"]
    default_backend: geo
backends:
  geo:
    balance: latency
    latency: { percentile: 90, window: 5, interval: 300ms, primary_weight: 256, backup_weight: 1 }
    health_check: { type: http, path: /, interval: 100ms, timeout: 1s, rise: 1, fall: 2 }
    servers:
      us:   { addr: "{UP1}" }
      eu:   { addr: "{UP0}" }
      asia: { addr: "{UP2}" }
"#;

fn tally(f: &Fairway, n: usize) -> HashMap<String, usize> {
    let mut t = HashMap::new();
    for _ in 0..n {
        let r = f.get("/");
        assert_eq!(r.status, 200, "{r:?}");
        *t.entry(r.server().to_string()).or_default() += 1;
    }
    t
}

/// Polls until `n` requests in a row go to `server`, or panics at `limit`.
fn wait_for_primary(f: &Fairway, server: &str, limit: Duration) -> Duration {
    let t = Instant::now();
    loop {
        if (0..5).all(|_| f.get("/").server() == server) {
            return t.elapsed();
        }
        assert!(
            t.elapsed() < limit,
            "{server} did not become primary within {limit:?}:\n{}",
            f.log()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_fastest_region_gets_the_traffic_and_the_slowest_none() {
    let ups = regions();
    let refs: Vec<&Upstream> = ups.iter().collect();
    let f = Fairway::start(GEO, &refs);
    // The window fills in about 5 x 100 ms.
    wait_for_primary(&f, "fast", Duration::from_secs(5));
    let t = tally(&f, 200);
    let fast = t.get("fast").copied().unwrap_or(0);
    assert!(fast >= 190, ">= 95 % to the fastest: {t:?}");
    assert_eq!(t.get("slow"), None, "none to the slowest: {t:?}");
    assert!(
        f.log().contains("primary changed backend=geo"),
        "{}",
        f.log()
    );
}

#[test]
fn traffic_follows_when_the_fastest_slows_down() {
    let ups = regions();
    let refs: Vec<&Upstream> = ups.iter().collect();
    let f = Fairway::start(GEO, &refs);
    wait_for_primary(&f, "fast", Duration::from_secs(5));
    // fast becomes the slowest: mid (60 ms) should take over within
    // window x check interval + interval = 5 x 100 ms + 300 ms (+ slack).
    ups[0].set_delay(Duration::from_millis(300));
    let took = wait_for_primary(&f, "mid", Duration::from_secs(4));
    assert!(took < Duration::from_millis(2500), "{took:?}");
    let log = f.log();
    // eu is the slowed server (UP0), us the next fastest (UP1).
    assert!(
        log.contains("primary changed backend=geo from=eu to=us"),
        "{log}"
    );
}

#[test]
fn a_failing_fastest_region_is_dropped_at_once() {
    let mut ups = regions();
    let refs: Vec<&Upstream> = ups.iter().collect();
    let f = Fairway::start(GEO, &refs);
    wait_for_primary(&f, "fast", Duration::from_secs(5));
    // Stop it: checks fail; after fall (2) x 100 ms it is down and mid is
    // promoted at once, not at the next 300 ms interval.
    let fast = ups.remove(0);
    drop(fast);
    let took = wait_for_primary(&f, "mid", Duration::from_secs(3));
    assert!(took < Duration::from_millis(1500), "{took:?}");
    let t = tally(&f, 50);
    assert_eq!(t.get("fast"), None, "{t:?}");
}

#[test]
fn ewma_prefers_fast_servers_without_health_checks() {
    let ups = regions();
    let refs: Vec<&Upstream> = ups.iter().collect();
    let f = Fairway::start(
        "frontends:\n  web:\n    bind: [\"127.0.0.1:{PORT}\"]\n    default_backend: app\nbackends:\n  app:\n    balance: ewma\n    ewma: { decay: 10s, default_rtt: 20ms }\n    servers:\n      eu: { addr: \"{UP0}\" }\n      us: { addr: \"{UP1}\" }\n      asia: { addr: \"{UP2}\" }\n",
        &refs,
    );
    // Learn: a few requests reach every server.
    let _ = tally(&f, 15);
    let t = tally(&f, 90);
    let get = |k: &str| t.get(k).copied().unwrap_or(0);
    assert!(
        get("fast") > get("mid") && get("mid") >= get("slow"),
        "{t:?}"
    );
    assert!(get("fast") >= 50, "{t:?}");
    assert!(get("slow") <= 5, "{t:?}");
}
