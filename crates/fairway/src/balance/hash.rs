//! Consistent hashing: `source`, `uri`, `url_param(name)`, `hdr(name)`.

use super::{RoundRobin, Selector};
use crate::upstream::Server;
use std::sync::Arc;

/// Most ring points a backend gets (points per weight unit shrink to fit).
const MAX_POINTS: u64 = 160_000;
/// Ring points per unit of weight for small backends.
const POINTS_PER_WEIGHT: u64 = 40;

/// A stable 64-bit hash of `bytes` (FNV-1a with a final avalanche), the same
/// in every process and release.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

/// splitmix64's finalizer: spreads nearby inputs over the whole range.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A consistent-hash ring: each server owns points in proportion to its
/// weight, a key goes to the owner of the first point at or after it. When a
/// server leaves, only its keys move. Without a key, round robin.
#[derive(Debug)]
pub struct ConsistentHash {
    ring: Box<[(u64, u32)]>,
    fallback: RoundRobin,
}

impl ConsistentHash {
    /// A ring over servers with effective `weights`. Point positions depend
    /// on the server's index and the point number only, so a server keeps
    /// its points while others come and go.
    pub fn new(weights: &[u32]) -> Self {
        let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
        let per = MAX_POINTS
            .checked_div(total)
            .map_or(0, |p| p.clamp(1, POINTS_PER_WEIGHT));
        let mut ring = Vec::with_capacity((total * per) as usize);
        for (i, w) in weights.iter().enumerate() {
            for p in 0..u64::from(*w) * per {
                ring.push((mix((i as u64) << 32 ^ p ^ 0x9e37_79b9_7f4a_7c15), i as u32));
            }
        }
        ring.sort_unstable();
        ConsistentHash {
            ring: ring.into_boxed_slice(),
            fallback: RoundRobin::new(weights),
        }
    }
}

impl Selector for ConsistentHash {
    fn select(
        &self,
        _servers: &[Arc<Server>],
        key: Option<u64>,
        eligible: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let Some(key) = key else {
            return self.fallback.next(eligible);
        };
        let len = self.ring.len();
        if len == 0 {
            return None;
        }
        let start = self.ring.partition_point(|(point, _)| *point < key);
        (0..len)
            .map(|k| self.ring[(start + k) % len].1 as usize)
            .find(|&s| eligible(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::testutil::{counts, servers, weights};

    #[test]
    fn same_key_same_server_and_keys_spread() {
        let s = servers(&[1, 1, 1, 1]);
        let sel = ConsistentHash::new(&weights(&s));
        let ip = |i: usize| Some(hash_bytes(&[127, 0, 0, (i % 250) as u8]));
        for i in 0..250 {
            let a = sel.select(&s, ip(i), &|_| true);
            assert_eq!(a, sel.select(&s, ip(i), &|_| true));
        }
        let c = counts(&sel, &s, 250, ip);
        assert!(c.iter().all(|n| *n > 30), "spread over all servers: {c:?}");
    }

    #[test]
    fn removing_a_server_moves_only_its_keys() {
        let s = servers(&[1, 1, 1, 1]);
        let before = ConsistentHash::new(&[1, 1, 1, 1]);
        let after = ConsistentHash::new(&[1, 1, 0, 1]);
        let mut moved = 0;
        for k in 0..2000u64 {
            let key = Some(hash_bytes(&k.to_le_bytes()));
            let (a, b) = (
                before.select(&s, key, &|_| true),
                after.select(&s, key, &|_| true),
            );
            if a != Some(2) {
                assert_eq!(a, b, "a key not on the removed server stays put");
            } else {
                moved += 1;
                assert_ne!(b, Some(2));
            }
        }
        assert!(moved > 300 && moved < 700, "about a quarter moved: {moved}");
    }

    #[test]
    fn weights_shape_the_share() {
        let s = servers(&[3, 1]);
        let sel = ConsistentHash::new(&weights(&s));
        let c = counts(&sel, &s, 8000, |i| {
            Some(hash_bytes(&(i as u64).to_le_bytes()))
        });
        let share = c[0] as f64 / 8000.0;
        assert!((0.68..0.82).contains(&share), "{c:?}");
    }

    #[test]
    fn no_key_is_round_robin_and_ineligible_is_skipped() {
        let s = servers(&[1, 1]);
        let sel = ConsistentHash::new(&weights(&s));
        assert_eq!(counts(&sel, &s, 10, |_| None), vec![5, 5]);
        for k in 0..50u64 {
            assert_eq!(
                sel.select(&s, Some(hash_bytes(&k.to_le_bytes())), &|i| i == 1),
                Some(1)
            );
        }
    }
}
