//! The latency estimate of one server: a peak-EWMA (tower's and linkerd's
//! `PeakEwma`), lock-free, fed by the server's in-flight handles
//! ([`super::InFlight`]) for every algorithm and read by the `ewma`
//! selector. Every method takes the time as an argument (`now`, from
//! [`now_ns`]), so tests and simulations need no clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A failure or 5xx counts as this many times the current estimate.
pub const PENALTY_FACTOR: f64 = 10.0;

/// Nanoseconds since a process-wide origin: the `now` of the estimators.
pub fn now_ns() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// A lock-free peak-EWMA estimate of one server's latency.
#[derive(Debug)]
pub struct PeakEwma {
    /// The estimate in nanoseconds (f64 bits) as of `stamp`.
    value: AtomicU64,
    /// When `value` was last updated ([`now_ns`] clock).
    stamp: AtomicU64,
    decay_ns: f64,
    default_ns: f64,
}

impl PeakEwma {
    /// A new estimate starting at `default_rtt` at time `now`.
    pub fn new(default_rtt: Duration, decay: Duration, now: u64) -> Self {
        let default_ns = default_rtt.as_nanos() as f64;
        PeakEwma {
            value: AtomicU64::new(default_ns.to_bits()),
            stamp: AtomicU64::new(now),
            decay_ns: (decay.as_nanos() as f64).max(1.0),
            default_ns,
        }
    }

    /// The estimate at `now`, decayed since the last sample.
    pub fn estimate_ns(&self, now: u64) -> f64 {
        let v = f64::from_bits(self.value.load(Ordering::Relaxed));
        let dt = now.saturating_sub(self.stamp.load(Ordering::Relaxed)) as f64;
        v * (-dt / self.decay_ns).exp()
    }

    /// Takes over another estimate's value (same server after a reload).
    pub fn copy_from(&self, other: &PeakEwma) {
        self.value
            .store(other.value.load(Ordering::Relaxed), Ordering::Relaxed);
        self.stamp
            .store(other.stamp.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Records one observed latency at `now`.
    pub fn observe(&self, rtt: Duration, now: u64) {
        let sample = rtt.as_nanos() as f64;
        let current = self.estimate_ns(now);
        let next = if sample > current {
            sample
        } else {
            let dt = now.saturating_sub(self.stamp.load(Ordering::Relaxed)) as f64;
            let w = (-dt / self.decay_ns).exp();
            current * w + sample * (1.0 - w)
        };
        self.value.store(next.to_bits(), Ordering::Relaxed);
        self.stamp.store(now, Ordering::Relaxed);
    }

    /// Records a failure (connect error, 5xx): a sample of
    /// [`PENALTY_FACTOR`] times the current estimate (at least the default).
    pub fn penalize(&self, now: u64) {
        let base = self.estimate_ns(now).max(self.default_ns);
        self.observe(Duration::from_nanos((base * PENALTY_FACTOR) as u64), now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn starts_at_the_default_and_decays() {
        let e = PeakEwma::new(Duration::from_millis(30), Duration::from_secs(10), 0);
        assert!((e.estimate_ns(0) - 30.0 * MS as f64).abs() < 1.0);
        // One decay period later: 1/e of it.
        let later = e.estimate_ns(10_000 * MS);
        assert!((later / (30.0 * MS as f64) - (-1.0f64).exp()).abs() < 1e-9);
    }

    #[test]
    fn peaks_at_once_and_averages_down_slowly() {
        let e = PeakEwma::new(Duration::from_millis(10), Duration::from_secs(10), 0);
        e.observe(Duration::from_millis(200), MS);
        assert!(
            (e.estimate_ns(MS) - 200.0 * MS as f64).abs() < 1.0,
            "peak is taken at once"
        );
        // Fast samples 100 ms apart pull it down, but not at once.
        let mut t = MS;
        for _ in 0..10 {
            t += 100 * MS;
            e.observe(Duration::from_millis(5), t);
        }
        let v = e.estimate_ns(t) / MS as f64;
        assert!(v < 200.0 && v > 5.0, "{v}");
    }

    #[test]
    fn a_penalty_makes_a_server_expensive() {
        let e = PeakEwma::new(Duration::from_millis(10), Duration::from_secs(10), 0);
        e.penalize(0);
        assert!(e.estimate_ns(0) >= 100.0 * MS as f64);
    }
}
