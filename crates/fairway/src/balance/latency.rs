//! `latency`: the fastest region wins (seeds 000/001, done natively).
//!
//! Every `interval`, and at once when a server goes up or down, each
//! server's p-th percentile of recent health-check round-trip times ranks
//! the servers that are up: the fastest gets `primary_weight`, the second
//! `backup_weight`, the rest 0. Ties go by config order; servers without
//! samples rank last. While any server is up one of them holds
//! `primary_weight`, however slow they all are: ranking is relative, so the
//! proxy never causes an outage by itself. The weights feed a smooth
//! weighted round robin, published with one atomic pointer swap.

use super::{BackendSpec, RoundRobin, Selector, SelectorFactory};
use crate::upstream::Server;
use std::sync::Arc;
use std::time::Duration;

/// `balance: latency` in the [`Selectors`](super::Selectors) registry: its
/// weights rank the servers by check round-trip times, it is rebuilt every
/// `latency.interval`, and it logs when the primary server changes.
pub struct LatencyRanking;

impl SelectorFactory for LatencyRanking {
    fn build(&self, weights: &[u32], _arg: Option<&str>) -> Box<dyn Selector> {
        Box::new(RoundRobin::new(weights))
    }

    fn weights(
        &self,
        servers: &[Arc<Server>],
        in_group: &dyn Fn(usize) -> bool,
        spec: &BackendSpec,
    ) -> Vec<u32> {
        let l = &spec.latency;
        let ranks: Vec<Rank> = servers
            .iter()
            .enumerate()
            .map(|(i, s)| Rank {
                up: in_group(i),
                latency: s.rtt_percentile(l.percentile),
            })
            .collect();
        latency_weights(&ranks, l.primary_weight, l.backup_weight)
            .into_iter()
            .map(u32::from)
            .collect()
    }

    fn refresh(&self, spec: &BackendSpec) -> Option<Duration> {
        Some(spec.latency.interval)
    }

    fn describe_change(
        &self,
        spec: &BackendSpec,
        servers: &[Arc<Server>],
        before: &[u32],
        after: &[u32],
    ) -> Option<String> {
        let l = &spec.latency;
        let of = |w: &[u32]| {
            let w16: Vec<u16> = w
                .iter()
                .map(|x| u16::try_from(*x).unwrap_or(u16::MAX))
                .collect();
            primary(&w16, l.primary_weight)
        };
        let (from, to) = (of(before), of(after));
        if from == to {
            return None;
        }
        let name = |i: Option<usize>| i.map_or("-", |i| servers[i].name());
        let p = to
            .and_then(|i| servers[i].rtt_percentile(l.percentile))
            .map_or_else(
                || "-".to_string(),
                |d| format!("{:.1}", d.as_secs_f64() * 1000.0),
            );
        Some(format!(
            "primary changed backend={} from={} to={} p{}_ms={p}",
            spec.name,
            name(from),
            name(to),
            l.percentile
        ))
    }
}

/// What the weight function knows of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rank {
    /// Whether it may take traffic (health, administrative state, weight).
    pub up: bool,
    /// Its percentile of recent check round-trip times, if it has samples.
    pub latency: Option<Duration>,
}

/// The weight of each server (same order as `servers`): a pure function,
/// so it is tested without clocks or sockets.
pub fn latency_weights(servers: &[Rank], primary_weight: u16, backup_weight: u16) -> Vec<u16> {
    let mut order: Vec<usize> = (0..servers.len()).filter(|&i| servers[i].up).collect();
    // Sampled before unsampled, then faster first, then config order (stable sort).
    order.sort_by_key(|&i| (servers[i].latency.is_none(), servers[i].latency));
    let mut weights = vec![0; servers.len()];
    if let Some(&first) = order.first() {
        weights[first] = primary_weight;
    }
    if let Some(&second) = order.get(1) {
        weights[second] = backup_weight;
    }
    weights
}

/// The index of the server holding the primary weight.
pub fn primary(weights: &[u16], primary_weight: u16) -> Option<usize> {
    weights.iter().position(|w| *w == primary_weight && *w > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(v: u64) -> Option<Duration> {
        Some(Duration::from_millis(v))
    }

    fn up(latency: Option<Duration>) -> Rank {
        Rank { up: true, latency }
    }

    #[test]
    fn fastest_primary_second_backup_rest_zero() {
        let w = latency_weights(&[up(ms(60)), up(ms(5)), up(ms(150)), up(ms(20))], 256, 1);
        assert_eq!(w, vec![0, 256, 0, 1]);
    }

    #[test]
    fn down_servers_get_nothing_and_the_next_is_promoted() {
        let mut s = vec![up(ms(60)), up(ms(5)), up(ms(150))];
        s[1].up = false;
        assert_eq!(latency_weights(&s, 256, 1), vec![256, 0, 1]);
    }

    #[test]
    fn unsampled_rank_last_ties_by_config_order() {
        assert_eq!(
            latency_weights(&[up(None), up(ms(9)), up(ms(9))], 256, 1),
            vec![0, 256, 1]
        );
        assert_eq!(latency_weights(&[up(None), up(None)], 256, 1), vec![256, 1]);
    }

    #[test]
    fn all_slow_still_has_a_primary_and_all_down_has_none() {
        assert_eq!(
            latency_weights(&[up(ms(9000)), up(ms(8000))], 256, 1),
            vec![1, 256]
        );
        let down = Rank {
            up: false,
            latency: ms(1),
        };
        assert_eq!(latency_weights(&[down, down], 256, 1), vec![0, 0]);
        assert_eq!(primary(&[0, 0], 256), None);
        assert_eq!(latency_weights(&[up(ms(3))], 256, 1), vec![256]);
    }

    fn rank() -> impl Strategy<Value = Rank> {
        (any::<bool>(), proptest::option::of(0u64..500)).prop_map(|(up, l)| Rank {
            up,
            latency: l.map(Duration::from_millis),
        })
    }

    proptest! {
        #[test]
        fn exactly_one_primary_among_up_servers(servers in proptest::collection::vec(rank(), 0..20), primary_weight in 2u16..=256) {
            let w = latency_weights(&servers, primary_weight, 1);
            let primaries: Vec<usize> = (0..w.len()).filter(|&i| w[i] == primary_weight).collect();
            let any_up = servers.iter().any(|s| s.up);
            prop_assert_eq!(primaries.len(), usize::from(any_up));
            if let Some(&p) = primaries.first() {
                prop_assert!(servers[p].up);
                // Nobody up is strictly faster than the primary.
                if let Some(pl) = servers[p].latency {
                    prop_assert!(servers.iter().all(|s| !s.up || s.latency.is_none_or(|l| l >= pl)));
                }
            }
            for (i, s) in servers.iter().enumerate() {
                if !s.up {
                    prop_assert_eq!(w[i], 0);
                }
            }
            prop_assert!(!any_up || w.iter().any(|x| *x > 0), "never all zero while one is up");
        }
    }
}
