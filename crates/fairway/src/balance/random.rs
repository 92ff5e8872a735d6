//! `random`: weighted power of two choices on in-flight requests.

use super::Selector;
use crate::upstream::Server;
use std::sync::Arc;

/// Draws two different servers at random in proportion to their weights and
/// takes the one with the lower `in-flight / weight` (the first drawn on a
/// tie, so idle servers share in proportion to their weights). If neither
/// draw is eligible, falls back to the least loaded eligible server.
#[derive(Debug)]
pub struct Random {
    weights: Box<[u32]>,
    /// Cumulative weights, for weighted draws by binary search.
    cumulative: Box<[u64]>,
}

impl Random {
    /// Power of two choices over servers with effective `weights`.
    pub fn new(weights: &[u32]) -> Self {
        let mut sum = 0u64;
        let cumulative = weights
            .iter()
            .map(|w| {
                sum += u64::from(*w);
                sum
            })
            .collect();
        Random {
            weights: weights.into(),
            cumulative,
        }
    }

    fn draw(&self) -> Option<usize> {
        let total = *self.cumulative.last()?;
        if total == 0 {
            return None;
        }
        let r = fastrand::u64(0..total);
        Some(self.cumulative.partition_point(|&c| c <= r))
    }

    fn load(&self, servers: &[Arc<Server>], i: usize) -> (u64, u64) {
        (servers[i].active() as u64, u64::from(self.weights[i]))
    }
}

impl Selector for Random {
    fn select(
        &self,
        servers: &[Arc<Server>],
        _key: Option<u64>,
        eligible: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let n = self.weights.len().min(servers.len());
        let ok = |i: usize| i < n && eligible(i);
        let first = self.draw();
        // A second, different server (a few tries; weights may favour one).
        let second = (0..4).map(|_| self.draw()).find(|d| *d != first).flatten();
        match (first.filter(|&i| ok(i)), second.filter(|&i| ok(i))) {
            (Some(a), Some(b)) => {
                let ((la, wa), (lb, wb)) = (self.load(servers, a), self.load(servers, b));
                Some(if lb * wa < la * wb { b } else { a })
            }
            (Some(a), None) | (None, Some(a)) => Some(a),
            (None, None) => (0..n)
                .filter(|&i| self.weights[i] > 0 && eligible(i))
                .min_by(|&a, &b| {
                    let ((la, wa), (lb, wb)) = (self.load(servers, a), self.load(servers, b));
                    (la * wb).cmp(&(lb * wa))
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::testutil::{counts, servers, weights};

    #[test]
    fn follows_weights_when_idle() {
        let s = servers(&[3, 1, 0]);
        let sel = Random::new(&weights(&s));
        let c = counts(&sel, &s, 4000, |_| None);
        assert_eq!(c[2], 0, "weight 0 never drawn");
        let share = c[0] as f64 / 4000.0;
        // Two draws with ties going to the first: P(a) = 1 - (1/4)^2 = 0.9375
        // when idle; what matters is that weight 3 gets most and weight 0 none.
        assert!(share > 0.7, "{c:?}");
    }

    #[test]
    fn prefers_the_less_loaded_of_two() {
        let s = servers(&[1, 1]);
        let sel = Random::new(&weights(&s));
        let _busy: Vec<_> = (0..10).map(|_| s[0].try_begin().unwrap()).collect();
        let c = counts(&sel, &s, 1000, |_| None);
        // Server 0 wins only when both draws are server 0: ~25 %.
        assert!(c[0] < 350 && c[1] > 650, "{c:?}");
    }

    #[test]
    fn falls_back_to_any_eligible() {
        let s = servers(&[1, 1, 1]);
        let sel = Random::new(&weights(&s));
        for _ in 0..50 {
            assert_eq!(sel.select(&s, None, &|i| i == 2), Some(2));
        }
        assert_eq!(sel.select(&s, None, &|_| false), None);
    }
}
