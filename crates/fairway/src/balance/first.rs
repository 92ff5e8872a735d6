//! `first`: the first server in config order that has room.

use super::Selector;
use crate::upstream::Server;
use std::sync::Arc;

/// Picks the first eligible server (config order) with free capacity
/// (`maxconn`); servers without `maxconn` always have room, so the first
/// available one takes everything, as in HAProxy.
#[derive(Debug)]
pub struct First {
    weights: Box<[u32]>,
}

impl First {
    /// `first` over servers with effective `weights`.
    pub fn new(weights: &[u32]) -> Self {
        First {
            weights: weights.into(),
        }
    }
}

impl Selector for First {
    fn select(
        &self,
        servers: &[Arc<Server>],
        _key: Option<u64>,
        eligible: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        (0..self.weights.len().min(servers.len()))
            .find(|&i| self.weights[i] > 0 && servers[i].has_capacity() && eligible(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::testutil::{servers, weights};

    #[test]
    fn first_available_takes_everything() {
        let s = servers(&[0, 1, 1]);
        let sel = First::new(&weights(&s));
        assert_eq!(sel.select(&s, None, &|_| true), Some(1));
        assert_eq!(sel.select(&s, None, &|i| i != 1), Some(2));
    }
}
