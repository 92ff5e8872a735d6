//! Passive outlier ejection (`outlier` of a backend): servers that fail
//! real traffic are taken out for a while, without a health check.
//!
//! **Counting, on the request path.** Every attempt's in-flight handle
//! ([`InFlight`](super::InFlight)) gives its outcome once to its server's
//! [`Outlier`]: a success (a response below 500; in `mode: tcp` a
//! connection made) resets the count of consecutive errors — one atomic
//! load, and a store only when the count was not 0 — and an error (a 5xx
//! response, a connection failure, a timeout or reset before the response)
//! adds one: one atomic add. The error that makes the count reach
//! `consecutive_errors` also wakes the [`Ejector`], once per streak. No lock,
//! no allocation, no clock read beyond the one the handle already makes.
//!
//! **Ejecting and readmitting, off the request path.** The [`Ejector`] is a
//! background service that follows the live runtime; it is the only code
//! that ejects and readmits ([`sweep`]), so `max_ejected` holds exactly: a
//! server over the threshold while the limit is reached stays in (logged
//! once) and is ejected at a later sweep if room appears while its streak
//! lasts. An ejected server is not [available](super::Server::is_available):
//! that one test is what every balance algorithm goes by, built-in or
//! registered (the selector's weights at a rebuild, and the `eligible`
//! test at each pick), so the ejector's rebuild of the backend is all it
//! takes. Health checks go on as before: an ejected server is still
//! checked, and a health transition does not end an ejection.
//!
//! **Durations.** The `n`-th ejection in a row lasts `eject × 2^(n-1)`, at
//! most [`MAX_FACTOR`] × `eject` (30 s, 1 m, 2 m, 4 m, 5 m, 5 m... with the
//! default 30 s). A server that stayed in for one `eject` since its last
//! readmission starts again at `eject`.
//!
//! **Readmission.** The ejector sleeps until the earliest ejection ends (or
//! an error streak wakes it, or [`FOLLOW_PERIOD`] passes), then readmits:
//! the server's error count starts again from 0 and its backend is rebuilt,
//! so it takes traffic within a few milliseconds of the end of its
//! ejection.
//!
//! The log, `warn` for an ejection and `info` for the rest:
//!
//! ```text
//! server ejected backend=app server=a for=30s consecutive_errors=5
//! server ejected backend=app server=a for=60s consecutive_errors=5 repeat=2
//! server readmitted backend=app server=a
//! server not ejected backend=app server=b consecutive_errors=5 reason=max_ejected max_ejected=50% ejected=1
//! ```

use super::ewma::now_ns;
use crate::balance::Backend;
use crate::Runtime;
use arc_swap::ArcSwap;
use log::{info, warn};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::watch;

/// The longest ejection, in multiples of `eject`.
pub const MAX_FACTOR: u32 = 10;

/// How often the ejector looks at the runtime when nothing wakes it
/// (reloads, servers kept in by `max_ejected` that may go out now).
pub const FOLLOW_PERIOD: Duration = Duration::from_secs(1);

/// Wakes every [`Ejector`] of the process (an error streak reached its
/// threshold). A watch channel: a wake-up is never lost, whether the
/// ejector is waiting or busy, and any number of ejectors (embedded
/// instances, tests) each see it.
static WAKE: LazyLock<watch::Sender<u64>> = LazyLock::new(|| watch::Sender::new(0));

fn wake() {
    WAKE.send_modify(|n| *n = n.wrapping_add(1));
}

/// How long the `n`-th ejection in a row lasts (`n` from 1): `eject`
/// doubled `n - 1` times, at most [`MAX_FACTOR`] × `eject`.
pub fn eject_duration(eject: Duration, n: u32) -> Duration {
    let doublings = n.saturating_sub(1).min(31);
    let max = eject.saturating_mul(MAX_FACTOR);
    eject.saturating_mul(1u32 << doublings).min(max)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The outlier state of one server; see the module documentation.
#[derive(Debug, Default)]
pub struct Outlier {
    /// `consecutive_errors` of its backend; 0: no outlier ejection.
    threshold: u32,
    /// Errors in a row now.
    errors: AtomicU32,
    /// When the ejection ends ([`now_ns`] clock); 0: not ejected.
    until: AtomicU64,
    /// Ejections in a row (the current or last one included).
    streak: AtomicU32,
    /// When it was last readmitted ([`now_ns`] clock); 0: never.
    readmitted: AtomicU64,
    /// Ejections since start.
    total: AtomicU64,
    /// Over the threshold but kept in by `max_ejected` (logged once).
    held: AtomicBool,
}

impl Outlier {
    /// The state of a server whose backend ejects after `threshold`
    /// errors in a row (0: never).
    pub fn new(threshold: u32) -> Self {
        Outlier {
            threshold,
            ..Outlier::default()
        }
    }

    /// Records one attempt's outcome: `ok` resets the errors in a row, an
    /// error adds one (and wakes the ejector when it reaches the threshold).
    pub fn record(&self, ok: bool) {
        if ok {
            if self.errors.load(Relaxed) != 0 {
                self.errors.store(0, Relaxed);
            }
        } else if self.threshold > 0 {
            let n = self.errors.fetch_add(1, Relaxed).wrapping_add(1);
            if n == self.threshold {
                wake();
            }
        }
    }

    /// Errors in a row now.
    pub fn consecutive_errors(&self) -> u32 {
        self.errors.load(Relaxed)
    }

    /// Whether the server is ejected now (until the ejector readmits it).
    pub fn is_ejected(&self) -> bool {
        self.until.load(Relaxed) != 0
    }

    /// When the ejection ends, on the [`now_ns`] clock.
    pub fn ejected_until(&self) -> Option<u64> {
        match self.until.load(Relaxed) {
            0 => None,
            t => Some(t),
        }
    }

    /// What is left of the ejection at `now` ([`now_ns`] clock), if ejected.
    pub fn remaining(&self, now: u64) -> Option<Duration> {
        self.ejected_until()
            .map(|t| Duration::from_nanos(t.saturating_sub(now)))
    }

    /// Ejections in a row: the current one's number while ejected (2: the
    /// second in a row, twice as long as the first).
    pub fn streak(&self) -> u32 {
        self.streak.load(Relaxed)
    }

    /// Ejections since start (kept by reloads).
    pub fn ejections(&self) -> u64 {
        self.total.load(Relaxed)
    }

    /// Ejects the server at `now` for `eject` doubled per repeat (see the
    /// module documentation); returns how long.
    pub fn eject(&self, now: u64, eject: Duration) -> Duration {
        let last = self.readmitted.load(Relaxed);
        let mut streak = self.streak.load(Relaxed);
        if last != 0 && now.saturating_sub(last) >= nanos(eject) {
            // A clean period: start again from `eject`.
            streak = 0;
        }
        let streak = streak.saturating_add(1);
        let d = eject_duration(eject, streak);
        self.streak.store(streak, Relaxed);
        self.total.fetch_add(1, Relaxed);
        self.held.store(false, Relaxed);
        self.until
            .store(now.saturating_add(nanos(d)).max(1), Relaxed);
        d
    }

    /// Ends the ejection at `now`: the error count starts again from 0.
    pub fn readmit(&self, now: u64) {
        self.errors.store(0, Relaxed);
        self.readmitted.store(now.max(1), Relaxed);
        self.until.store(0, Relaxed);
    }

    /// Takes over `old`'s state (the same server in the previous runtime),
    /// when this one's backend still ejects outliers.
    pub fn inherit(&self, old: &Outlier) {
        if self.threshold == 0 {
            return;
        }
        for (mine, theirs) in [
            (&self.until, &old.until),
            (&self.readmitted, &old.readmitted),
            (&self.total, &old.total),
        ] {
            mine.store(theirs.load(Relaxed), Relaxed);
        }
        self.errors.store(old.errors.load(Relaxed), Relaxed);
        self.streak.store(old.streak.load(Relaxed), Relaxed);
        self.held.store(old.held.load(Relaxed), Relaxed);
    }
}

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
                    o.held.store(false, Relaxed);
                    continue;
                }
                if ejected >= limit {
                    if !o.held.swap(true, Relaxed) {
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
                soonest(now.saturating_add(nanos(d)));
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
        let mut woken = WAKE.subscribe();
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

    #[test]
    fn durations_double_up_to_ten_times() {
        let e = Duration::from_secs(30);
        let got: Vec<u64> = (1..=7).map(|n| eject_duration(e, n).as_secs()).collect();
        assert_eq!(got, [30, 60, 120, 240, 300, 300, 300]);
        assert_eq!(eject_duration(e, 0), e);
        assert_eq!(eject_duration(e, u32::MAX), e * MAX_FACTOR);
        assert_eq!(
            eject_duration(Duration::MAX, 3),
            Duration::MAX,
            "no overflow"
        );
    }

    #[test]
    fn errors_in_a_row_count_and_a_success_resets_them() {
        let o = Outlier::new(3);
        o.record(false);
        o.record(false);
        assert_eq!(o.consecutive_errors(), 2);
        o.record(true);
        assert_eq!(o.consecutive_errors(), 0);
        for _ in 0..5 {
            o.record(false);
        }
        assert_eq!(o.consecutive_errors(), 5);
        // Off: nothing is counted.
        let off = Outlier::new(0);
        off.record(false);
        assert_eq!(off.consecutive_errors(), 0);
    }

    #[test]
    fn repeats_double_and_a_clean_period_resets_the_doubling() {
        let o = Outlier::new(1);
        let e = Duration::from_secs(10);
        let mut now = 5 * SEC;
        assert_eq!(o.eject(now, e), e);
        assert!(o.is_ejected());
        assert_eq!(o.remaining(now + SEC), Some(Duration::from_secs(9)));
        // Readmitted, then ejected again within one `eject`: doubled.
        now += 10 * SEC;
        o.readmit(now);
        assert!(!o.is_ejected());
        now += 2 * SEC;
        assert_eq!(o.eject(now, e), 2 * e);
        now += 20 * SEC;
        o.readmit(now);
        assert_eq!(o.eject(now + SEC, e), 4 * e);
        assert_eq!(o.streak(), 3);
        now += 41 * SEC;
        o.readmit(now);
        // In for a whole `eject` since the readmission: back to `eject`.
        assert_eq!(o.eject(now + 10 * SEC, e), e);
        assert_eq!((o.streak(), o.ejections()), (1, 4));
    }

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
