//! The outlier ejector: the background service that ejects and readmits
//! servers by what real traffic did to them (`outlier` of a backend).
//!
//! Each server's [`Outlier`](crate::upstream::outlier::Outlier) counts its
//! errors in a row on the request path; this module is the only code that
//! acts on the counts ([`sweep`]), off the request path. See
//! [`crate::upstream::outlier`] for the policy: durations, doubling,
//! `max_ejected`, readmission and the log lines.

use crate::balance::Backend;
use crate::upstream::ewma::now_ns;
use crate::upstream::outlier::wakes;
use crate::Runtime;
use arc_swap::ArcSwap;
use log::{info, warn};
use std::sync::Arc;
use std::time::Duration;

/// How often the ejector looks at the runtime when nothing wakes it
/// (reloads, servers kept in by `max_ejected` that may go out now).
pub const FOLLOW_PERIOD: Duration = Duration::from_secs(1);

/// `30s`, `1500ms`: a duration for the log.
fn human(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// One pass over `backends` at `now` ([`now_ns`] clock): readmits the
/// servers whose ejection ended (or whose backend no longer ejects),
/// ejects those with `consecutive_errors` errors in a row while
/// `max_ejected` allows, in server order, rebuilds each backend that
/// changed and logs every change. Returns when the next ejection ends.
pub fn sweep(backends: &[Arc<Backend>], now: u64) -> Option<u64> {
    let mut next: Option<u64> = None;
    let mut soonest = |t: u64| next = Some(next.map_or(t, |n| n.min(t)));
    for b in backends {
        let policy = b.spec().outlier;
        let servers = b.servers();
        let mut changed = false;
        for s in servers {
            let o = s.outlier();
            match o.ejected_until() {
                Some(until) if policy.is_none() || now >= until => {
                    o.readmit(now);
                    changed = true;
                    info!("server readmitted backend={} server={}", b.name(), s.name());
                }
                Some(until) => soonest(until),
                None => {}
            }
        }
        if let Some(p) = policy {
            let limit = p.max_ejected.limit(servers.len());
            let mut ejected = servers.iter().filter(|s| s.outlier().is_ejected()).count();
            for s in servers {
                let o = s.outlier();
                let errors = o.consecutive_errors();
                if o.is_ejected() {
                    continue;
                }
                if errors < p.consecutive_errors {
                    o.release();
                    continue;
                }
                if ejected >= limit {
                    if o.hold() {
                        info!(
                            "server not ejected backend={} server={} consecutive_errors={errors} reason=max_ejected max_ejected={} ejected={ejected}",
                            b.name(),
                            s.name(),
                            p.max_ejected
                        );
                    }
                    continue;
                }
                let d = o.eject(now, p.eject);
                ejected += 1;
                changed = true;
                soonest(o.ejected_until().unwrap_or(now));
                let repeat = match o.streak() {
                    n if n > 1 => format!(" repeat={n}"),
                    _ => String::new(),
                };
                warn!(
                    "server ejected backend={} server={} for={} consecutive_errors={errors}{repeat}",
                    b.name(),
                    s.name(),
                    human(d)
                );
            }
        }
        if changed {
            b.rebuild();
        }
    }
    next
}

/// The background service that ejects and readmits the servers of the
/// live runtime ([`sweep`]); see the module documentation.
///
/// [`Fairway::background_services`](crate::Fairway::background_services)
/// includes it.
pub struct Ejector {
    runtime: Arc<ArcSwap<Runtime>>,
}

impl Ejector {
    /// An ejector for the runtime that `runtime` holds now and after every
    /// reload.
    pub fn new(runtime: Arc<ArcSwap<Runtime>>) -> Self {
        Ejector { runtime }
    }
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for Ejector {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        let mut woken = wakes();
        loop {
            // Seen before the sweep: a streak ending during it wakes us again.
            woken.borrow_and_update();
            let now = now_ns();
            let next = sweep(self.runtime.load().backends(), now);
            let wait = next.map_or(FOLLOW_PERIOD, |t| {
                Duration::from_nanos(t.saturating_sub(now_ns())).min(FOLLOW_PERIOD)
            });
            tokio::select! {
                _ = woken.changed() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::{Acquire, BackendSpec};
    use crate::upstream::ServerSpec;
    use fairway_config::{Balance, MaxEjected};

    const SEC: u64 = 1_000_000_000;

    fn backend(n: usize, max: MaxEjected, balance: Balance) -> Arc<Backend> {
        let spec = BackendSpec {
            name: "app".into(),
            balance,
            retries: 0,
            redispatch: true,
            retry_on: Default::default(),
            retry_budget: None,
            timeout_queue: Duration::ZERO,
            timeout_tunnel: None,
            http_reuse: fairway_config::HttpReuse::Safe,
            cookie: None,
            health_check: None,
            latency: Default::default(),
            ewma: Default::default(),
            outlier: Some(fairway_config::Outlier {
                consecutive_errors: 2,
                eject: Duration::from_secs(10),
                max_ejected: max,
            }),
            http_response: Vec::new(),
        };
        let servers = (0..n)
            .map(|i| ServerSpec {
                name: format!("s{i}"),
                addr: format!("127.0.0.1:{}", 1000 + i).parse().unwrap(),
                weight: 1,
                backup: false,
                maxconn: None,
                cookie: format!("s{i}"),
                timeout_connect: Duration::from_secs(1),
                timeout_server: Duration::from_secs(1),
                proto: fairway_config::Proto::H1,
                send_proxy: None,
            })
            .collect();
        Arc::new(Backend::new(spec, servers))
    }

    fn fail(b: &Backend, i: usize, n: usize) {
        for _ in 0..n {
            b.servers()[i].outlier().record(false);
        }
    }

    /// Which servers `picks` picks go to.
    fn picked(b: &Backend, picks: usize) -> Vec<usize> {
        let mut seen = vec![0; b.servers().len()];
        for k in 0..picks {
            if let Acquire::Got(i, _) = b.try_acquire(Some(k as u64 * 7919), &|_| false) {
                seen[i] += 1;
            }
        }
        seen
    }

    #[test]
    fn every_algorithm_skips_an_ejected_server_until_it_is_readmitted() {
        for balance in [
            Balance::RoundRobin,
            Balance::LeastConn,
            Balance::Source,
            Balance::Random,
            Balance::First,
            Balance::Uri,
            Balance::Hdr("x".into()),
            Balance::Ewma,
            Balance::Latency,
        ] {
            let b = backend(3, MaxEjected::Percent(50), balance.clone());
            let first = if balance == Balance::First { 0 } else { 1 };
            fail(&b, first, 2);
            let now = 100 * SEC;
            assert_eq!(sweep(&[Arc::clone(&b)], now), Some(now + 10 * SEC));
            let s = &b.servers()[first];
            assert!(s.outlier().is_ejected() && !s.is_available());
            assert_eq!(s.effective_weight(), 0, "{balance:?}: rebuilt");
            assert_eq!(picked(&b, 60)[first], 0, "{balance:?}");
            // Not yet over: nothing changes.
            assert_eq!(sweep(&[Arc::clone(&b)], now + SEC), Some(now + 10 * SEC));
            // Over: readmitted, picked again, its errors forgotten.
            assert_eq!(sweep(&[Arc::clone(&b)], now + 10 * SEC), None);
            assert!(s.is_available() && s.outlier().consecutive_errors() == 0);
            assert!(s.effective_weight() > 0, "{balance:?}: rebuilt");
            if balance != Balance::Latency {
                // (`latency` gives the second fastest 1 in 257 requests.)
                assert!(picked(&b, 60)[first] > 0, "{balance:?}");
            }
        }
    }

    #[test]
    fn every_attempt_counts_once_and_the_client_leaving_not_at_all() {
        let b = backend(1, MaxEjected::Percent(100), Balance::RoundRobin);
        let s = &b.servers()[0];
        let errors = || s.outlier().consecutive_errors();
        let now = now_ns();
        let mut g = s.try_begin().unwrap();
        g.answered(false, now); // a 5xx
        g.broke(now); // its body then breaks: already judged
        drop(g);
        assert_eq!(errors(), 1);
        let mut g = s.try_begin().unwrap();
        g.broke(now); // a timeout before the response
        drop(g);
        let mut g = s.try_begin().unwrap();
        g.failed(now); // refused
        drop(g);
        assert_eq!(errors(), 3);
        drop(s.try_begin().unwrap()); // no verdict: the client left
        assert_eq!(errors(), 3);
        s.try_begin().unwrap().answered(true, now);
        assert_eq!(errors(), 0);
    }

    #[test]
    fn max_ejected_keeps_servers_in() {
        let b = backend(2, MaxEjected::Percent(50), Balance::RoundRobin);
        fail(&b, 0, 2);
        fail(&b, 1, 3);
        let now = 10 * SEC;
        sweep(&[Arc::clone(&b)], now);
        let ejected: Vec<bool> = b
            .servers()
            .iter()
            .map(|s| s.outlier().is_ejected())
            .collect();
        assert_eq!(ejected, [true, false], "one of two at 50 %");
        assert_eq!(picked(&b, 10), [0, 10]);
        // When the first comes back, the second (still failing) goes out.
        sweep(&[Arc::clone(&b)], now + 10 * SEC);
        let ejected: Vec<bool> = b
            .servers()
            .iter()
            .map(|s| s.outlier().is_ejected())
            .collect();
        assert_eq!(ejected, [false, true]);
        // One server at 50 %: never ejected; an absolute count.
        let one = backend(1, MaxEjected::Percent(50), Balance::RoundRobin);
        fail(&one, 0, 5);
        assert_eq!(sweep(&[Arc::clone(&one)], now), None);
        assert!(one.servers()[0].is_available());
        let three = backend(3, MaxEjected::Count(2), Balance::RoundRobin);
        for i in 0..3 {
            fail(&three, i, 2);
        }
        sweep(&[Arc::clone(&three)], now);
        let n = three
            .servers()
            .iter()
            .filter(|s| s.outlier().is_ejected())
            .count();
        assert_eq!(n, 2);
    }

    #[test]
    fn a_reload_keeps_the_ejection_of_servers_that_stay() {
        let old = backend(2, MaxEjected::Percent(50), Balance::RoundRobin);
        fail(&old, 1, 2);
        sweep(&[Arc::clone(&old)], 10 * SEC);
        let new = backend(2, MaxEjected::Percent(50), Balance::RoundRobin);
        for (n, o) in new.servers().iter().zip(old.servers()) {
            n.inherit(o);
        }
        new.rebuild();
        assert!(new.servers()[1].outlier().is_ejected());
        assert_eq!(new.servers()[1].effective_weight(), 0);
        assert_eq!(new.servers()[1].outlier().ejections(), 1);
        // A backend without `outlier` readmits at its next sweep.
        let mut spec = new.spec().clone();
        spec.outlier = None;
        let plain = Arc::new(Backend::with_servers(
            spec,
            new.servers().to_vec(),
            Arc::new(tokio::sync::Notify::new()),
        ));
        assert_eq!(sweep(&[Arc::clone(&plain)], 11 * SEC), None);
        assert!(plain.servers()[1].is_available());
    }
}
