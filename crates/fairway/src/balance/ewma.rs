//! `ewma`: peak-EWMA of observed response latency, power of two choices.
//!
//! Each server keeps an exponentially weighted moving average of the time
//! to response headers that jumps up at once on a slower sample ("peak")
//! and decays with time constant `decay` otherwise, also while no samples
//! arrive, so a server that was slow is tried again later. Connection
//! failures and 5xx answers count as a penalised sample. A pick draws two
//! distinct servers at random and takes the lower `(in-flight + 1) ×
//! estimate`.
//! The estimate itself lives with the server ([`crate::upstream::ewma`]).

use super::Selector;
use crate::upstream::ewma::now_ns;
use crate::upstream::Server;
use std::sync::Arc;

/// Power of two choices on `(in-flight + 1) × peak-EWMA`.
#[derive(Debug)]
pub struct Ewma {
    candidates: Box<[u32]>,
    /// The time the estimates are read at (the process clock, or a
    /// simulation's).
    clock: fn() -> u64,
}

impl Ewma {
    /// Selection among servers whose effective weight is above 0, reading
    /// the estimates at the process clock ([`now_ns`]).
    pub fn new(weights: &[u32]) -> Self {
        Ewma::with_clock(weights, now_ns)
    }

    /// As [`Ewma::new`], reading the estimates at `clock()` (a simulation
    /// on virtual time passes its own clock; the estimates take the time as
    /// an argument too).
    pub fn with_clock(weights: &[u32], clock: fn() -> u64) -> Self {
        Ewma {
            candidates: (0..weights.len() as u32)
                .filter(|&i| weights[i as usize] > 0)
                .collect(),
            clock,
        }
    }

    fn cost(server: &Server, now: u64) -> f64 {
        (server.active() as f64 + 1.0) * server.ewma().estimate_ns(now)
    }
}

impl Selector for Ewma {
    fn select(
        &self,
        servers: &[Arc<Server>],
        _key: Option<u64>,
        eligible: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let n = self.candidates.len();
        if n == 0 {
            return None;
        }
        let now = (self.clock)();
        let ok = |i: usize| i < servers.len() && eligible(i);
        // Two distinct candidates (when there are two).
        let first = fastrand::usize(0..n);
        let second = if n > 1 {
            (first + 1 + fastrand::usize(0..n - 1)) % n
        } else {
            first
        };
        let a = self.candidates[first] as usize;
        let b = self.candidates[second] as usize;
        match (ok(a), ok(b)) {
            (true, true) => Some(
                if Self::cost(&servers[b], now) < Self::cost(&servers[a], now) {
                    b
                } else {
                    a
                },
            ),
            (true, false) => Some(a),
            (false, true) => Some(b),
            (false, false) => self
                .candidates
                .iter()
                .map(|&i| i as usize)
                .filter(|&i| ok(i))
                .min_by(|&x, &y| {
                    Self::cost(&servers[x], now).total_cmp(&Self::cost(&servers[y], now))
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::testutil::{servers, weights};
    use std::time::Duration;

    #[test]
    fn picks_the_cheaper_server() {
        let s = servers(&[1, 1]);
        // A fixed clock: the estimates are read at the time they were set.
        let now = 7_000_000_000;
        s[0].ewma().observe(Duration::from_millis(500), now);
        s[1].ewma().observe(Duration::from_millis(1), now);
        let sel = Ewma::with_clock(&weights(&s), || 7_000_000_000);
        let picks: Vec<usize> = (0..400)
            .filter_map(|_| sel.select(&s, None, &|_| true))
            .collect();
        let slow = picks.iter().filter(|&&i| i == 0).count();
        // Two distinct draws: the slow one never wins against the fast one.
        assert_eq!(slow, 0);
        assert_eq!(sel.select(&s, None, &|i| i == 0), Some(0));
        assert_eq!(Ewma::new(&[0, 0]).select(&s, None, &|_| true), None);
    }
}
