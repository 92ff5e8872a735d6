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
//! `consecutive_errors` also wakes the [`Ejector`](crate::background::Ejector), once per streak. No lock,
//! no allocation, no clock read beyond the one the handle already makes.
//!
//! **Ejecting and readmitting, off the request path.** The [`Ejector`](crate::background::Ejector) is a
//! background service that follows the live runtime; it is the only code
//! that ejects and readmits ([`sweep`](crate::background::sweep)), so `max_ejected` holds exactly: a
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
//! an error streak wakes it, or a second passes), then readmits:
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

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::LazyLock;
use std::time::Duration;
use tokio::sync::watch;

/// The longest ejection, in multiples of `eject`.
pub const MAX_FACTOR: u32 = 10;

/// Wakes every [`Ejector`](crate::background::Ejector) of the process (an error streak reached its
/// threshold). A watch channel: a wake-up is never lost, whether the
/// ejector is waiting or busy, and any number of ejectors (embedded
/// instances, tests) each see it.
static WAKE: LazyLock<watch::Sender<u64>> = LazyLock::new(|| watch::Sender::new(0));

fn wake() {
    WAKE.send_modify(|n| *n = n.wrapping_add(1));
}

/// A receiver that changes whenever an error streak reaches its
/// threshold, on any server of the process (what the [`Ejector`](crate::background::Ejector) waits on).
pub(crate) fn wakes() -> watch::Receiver<u64> {
    WAKE.subscribe()
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
    /// When the ejection ends ([`now_ns`](super::ewma::now_ns) clock); 0: not ejected.
    until: AtomicU64,
    /// Ejections in a row (the current or last one included).
    streak: AtomicU32,
    /// When it was last readmitted ([`now_ns`](super::ewma::now_ns) clock); 0: never.
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

    /// When the ejection ends, on the [`now_ns`](super::ewma::now_ns) clock.
    pub fn ejected_until(&self) -> Option<u64> {
        match self.until.load(Relaxed) {
            0 => None,
            t => Some(t),
        }
    }

    /// What is left of the ejection at `now` ([`now_ns`](super::ewma::now_ns) clock), if ejected.
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

    /// Marks the server as over the threshold but kept in by
    /// `max_ejected`; `true` the first time (log it once).
    pub(crate) fn hold(&self) -> bool {
        !self.held.swap(true, Relaxed)
    }

    /// The server is under the threshold again: a later hold is logged.
    pub(crate) fn release(&self) {
        self.held.store(false, Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
