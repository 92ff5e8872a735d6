//! `leastconn`: fewest in-flight requests, scaled by weight; ties round robin.

use super::Selector;
use crate::upstream::Server;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Picks the eligible server with the lowest `(in-flight + 1) / weight`;
/// among equals, the scan starts one further each time (round robin).
#[derive(Debug)]
pub struct LeastConn {
    weights: Box<[u32]>,
    cursor: AtomicUsize,
}

impl LeastConn {
    /// Least-connections over servers with effective `weights`.
    pub fn new(weights: &[u32]) -> Self {
        LeastConn {
            weights: weights.into(),
            cursor: AtomicUsize::new(0),
        }
    }
}

impl Selector for LeastConn {
    fn select(
        &self,
        servers: &[Arc<Server>],
        _key: Option<u64>,
        eligible: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let n = self.weights.len().min(servers.len());
        if n == 0 {
            return None;
        }
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        let mut best: Option<(usize, u64, u64)> = None; // (index, load, weight)
        for k in 0..n {
            let i = start.wrapping_add(k) % n;
            let w = u64::from(self.weights[i]);
            if w == 0 || !eligible(i) {
                continue;
            }
            let load = servers[i].active() as u64 + 1;
            // load/w < best_load/best_w  <=>  load * best_w < best_load * w
            if best.is_none_or(|(_, bl, bw)| load * bw < bl * w) {
                best = Some((i, load, w));
            }
        }
        best.map(|(i, _, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::testutil::{counts, servers, weights};

    #[test]
    fn idle_servers_share_round_robin() {
        let s = servers(&[1, 1, 1]);
        let sel = LeastConn::new(&weights(&s));
        assert_eq!(counts(&sel, &s, 300, |_| None), vec![100, 100, 100]);
    }

    #[test]
    fn avoids_the_busy_server_and_scales_by_weight() {
        let s = servers(&[1, 1, 2]);
        let sel = LeastConn::new(&weights(&s));
        let _busy: Vec<_> = (0..3).map(|_| s[0].try_begin().unwrap()).collect();
        let mut held = Vec::new();
        for _ in 0..6 {
            let i = sel.select(&s, None, &|_| true).unwrap();
            assert_ne!(i, 0, "the busy server is avoided");
            held.push(s[i].try_begin().unwrap());
        }
        // Weight 2 takes twice the load of weight 1.
        assert_eq!((s[1].active(), s[2].active()), (2, 4));
    }

    #[test]
    fn respects_eligibility_and_zero_weight() {
        let s = servers(&[0, 1, 1]);
        let sel = LeastConn::new(&weights(&s));
        for _ in 0..10 {
            assert_eq!(sel.select(&s, None, &|i| i != 1), Some(2));
        }
        assert_eq!(sel.select(&s, None, &|i| i == 0), None);
    }
}
