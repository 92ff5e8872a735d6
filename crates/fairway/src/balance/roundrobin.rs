//! Smooth weighted round robin (nginx's algorithm), precomputed.

use super::Selector;
use crate::upstream::Server;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Smooth weighted round robin: the schedule is computed once per rebuild,
/// a pick is one atomic increment.
#[derive(Debug)]
pub struct RoundRobin {
    schedule: Box<[u32]>,
    cursor: AtomicUsize,
}

impl RoundRobin {
    /// Round robin over servers with effective `weights`.
    pub fn new(weights: &[u32]) -> Self {
        RoundRobin {
            schedule: smooth_schedule(weights).into_boxed_slice(),
            cursor: AtomicUsize::new(0),
        }
    }

    /// The next eligible server in schedule order.
    pub fn next(&self, eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
        let len = self.schedule.len();
        if len == 0 {
            return None;
        }
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        (0..len)
            .map(|i| self.schedule[start.wrapping_add(i) % len] as usize)
            .find(|&s| eligible(s))
    }
}

impl Selector for RoundRobin {
    fn select(
        &self,
        _servers: &[Arc<Server>],
        _key: Option<u64>,
        eligible: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        self.next(eligible)
    }
}

/// The smooth weighted round-robin order for `weights` (index per slot).
///
/// Weights are first divided by their greatest common divisor, so the
/// schedule has `sum(weights) / gcd` slots: `[5, 1, 1]` gives
/// `0 0 1 0 2 0 0`, spreading the heavy server's turns between the others.
/// Weight-0 servers never appear; all-zero weights give an empty schedule.
pub fn smooth_schedule(weights: &[u32]) -> Vec<u32> {
    let g = weights.iter().copied().filter(|w| *w > 0).fold(0, gcd);
    if g == 0 {
        return Vec::new();
    }
    let eff: Vec<i64> = weights.iter().map(|w| i64::from(w / g)).collect();
    let total: i64 = eff.iter().sum();
    let mut current = vec![0i64; eff.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for i in 0..eff.len() {
            current[i] += eff[i];
            if current[i] > current[best] || (eff[best] == 0 && eff[i] > 0) {
                best = i;
            }
        }
        current[best] -= total;
        out.push(best as u32);
    }
    out
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_example_is_smooth() {
        assert_eq!(smooth_schedule(&[5, 1, 1]), vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn equal_weights_rotate() {
        assert_eq!(smooth_schedule(&[1, 1, 1, 1]), vec![0, 1, 2, 3]);
        assert_eq!(smooth_schedule(&[2, 2]), vec![0, 1]);
    }

    #[test]
    fn zero_weights_never_scheduled() {
        assert_eq!(smooth_schedule(&[0, 3, 0, 1]), vec![1, 1, 3, 1]);
        assert!(smooth_schedule(&[0, 0]).is_empty());
        assert!(smooth_schedule(&[]).is_empty());
    }

    #[test]
    fn proportions_match_weights() {
        let w = [3, 1, 7, 256, 0, 12];
        let s = smooth_schedule(&w);
        for (i, wi) in w.iter().enumerate() {
            assert_eq!(s.iter().filter(|x| **x as usize == i).count() as u32, *wi);
        }
    }
}
