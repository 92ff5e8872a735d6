//! `leastconn`: fewest in-flight requests, scaled by weight; ties round robin.

use super::Selector;
use crate::upstream::Server;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Picks the eligible server with the lowest `(in-flight + 1) / weight`;
/// among equals, the scan starts one further each time (round robin).
///
/// The scan reads only the in-flight counters of the servers with a weight
/// (kept in a compact list at build time) and asks `eligible` about the
/// winner only; a full eligibility scan runs just when the winner is not
/// eligible (a transient state between a change and the rebuild). It stops
/// early at an idle server of the highest weight: nothing can score lower,
/// and it is the first such server in round-robin order, so the pick is the
/// same as a full scan's. A lightly loaded backend is thus picked from in a
/// few steps; a busy one costs one pass over its counters.
#[derive(Debug)]
pub struct LeastConn {
    /// (server index, weight) of the servers with a weight above 0.
    candidates: Box<[(u32, u32)]>,
    /// The highest candidate weight: an idle server with it scores lowest.
    max_weight: u32,
    cursor: AtomicUsize,
}

impl LeastConn {
    /// Least-connections over servers with effective `weights`.
    pub fn new(weights: &[u32]) -> Self {
        let candidates: Box<[(u32, u32)]> = weights
            .iter()
            .enumerate()
            .filter(|(_, w)| **w > 0)
            .map(|(i, w)| (i as u32, *w))
            .collect();
        LeastConn {
            max_weight: candidates.iter().map(|c| c.1).max().unwrap_or(0),
            candidates,
            cursor: AtomicUsize::new(0),
        }
    }

    /// The least loaded candidate for which `ok` holds, scanning from `start`.
    fn scan(
        &self,
        servers: &[Arc<Server>],
        start: usize,
        ok: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let (tail, head) = self.candidates.split_at(start % self.candidates.len());
        let mut best: Option<(usize, u64, u64)> = None; // (index, load, weight)
        for part in [head, tail] {
            for &(i, w) in part {
                let i = i as usize;
                let Some(server) = servers.get(i) else {
                    continue;
                };
                let active = server.active();
                let (load, w64) = (active as u64 + 1, u64::from(w));
                // load/w < best_load/best_w  <=>  load * best_w < best_load * w
                if best.is_none_or(|(_, bl, bw)| load * bw < bl * w64) && ok(i) {
                    if active == 0 && w == self.max_weight {
                        return Some(i);
                    }
                    best = Some((i, load, w64));
                }
            }
        }
        best.map(|(i, _, _)| i)
    }
}

impl Selector for LeastConn {
    fn select(
        &self,
        servers: &[Arc<Server>],
        _key: Option<u64>,
        eligible: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        if self.candidates.is_empty() {
            return None;
        }
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        match self.scan(servers, start, &|_| true) {
            Some(i) if eligible(i) => Some(i),
            _ => self.scan(servers, start, eligible),
        }
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

    #[test]
    fn early_stop_picks_what_a_full_scan_picks() {
        // Reference: the lowest (in-flight + 1) / weight, first in scan order.
        fn reference(s: &[Arc<Server>], w: &[u32], start: usize) -> usize {
            let n = s.len();
            (0..n)
                .map(|k| (start + k) % n)
                .filter(|&i| w[i] > 0)
                .min_by(|&a, &b| {
                    let (la, lb) = (s[a].active() as u64 + 1, s[b].active() as u64 + 1);
                    (la * u64::from(w[b])).cmp(&(lb * u64::from(w[a])))
                })
                .unwrap()
        }
        let mut seed = 0x9e37_79b9_u32;
        let mut next = move |m: u32| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 16) % m
        };
        for round in 0..200 {
            let ws: Vec<u16> = (0..7).map(|_| next(4) as u16).collect();
            if ws.iter().all(|w| *w == 0) {
                continue;
            }
            let s = servers(&ws);
            let _held: Vec<_> = s
                .iter()
                .flat_map(|srv| (0..next(3)).map(|_| srv.try_begin().unwrap()))
                .collect();
            let w = weights(&s);
            let sel = LeastConn::new(&w);
            // The cursor starts at 0 and the candidates skip weight 0.
            let nonzero: Vec<usize> = (0..w.len()).filter(|&i| w[i] > 0).collect();
            for (pick, &start) in nonzero.iter().enumerate() {
                let got = sel.select(&s, None, &|_| true).unwrap();
                let want = reference(&s, &w, start);
                assert_eq!(got, want, "round {round} pick {pick} weights {ws:?}");
            }
        }
    }
}
