//! Backend server selection.
//!
//! A [`Backend`] owns its servers and a [`Selector`] built for the servers
//! that can take traffic now. Backup servers are used only while no
//! non-backup server is available; the selector is rebuilt (off the request
//! path) whenever weights, health or administrative states change, and a
//! pick is lock-free.
//!
//! Algorithms (SPEC §4): [`RoundRobin`] (smooth weighted), [`LeastConn`],
//! [`ConsistentHash`] (`source`, `uri`, `url_param(name)`, `hdr(name)`),
//! [`Random`] (weighted power of two choices), [`First`], `latency`
//! ([`latency`]: health-check percentile ranking feeding [`RoundRobin`]) and
//! [`Ewma`] (peak-EWMA of response latency).

mod backend;
pub mod ewma;
mod first;
mod hash;
pub mod latency;
mod leastconn;
mod random;
mod roundrobin;

pub use backend::{Acquire, Backend, BackendSpec, NoServer};
pub use ewma::{Ewma, PeakEwma};
pub use first::First;
pub use hash::{hash_bytes, ConsistentHash};
pub use leastconn::LeastConn;
pub use random::Random;
pub use roundrobin::{smooth_schedule, RoundRobin};

use crate::upstream::Server;
use fairway_config::Balance;
use std::sync::Arc;

/// A balance algorithm: picks one server for a request.
///
/// A selector is built from the *effective weights* of a backend's servers
/// (0 for a server that must not get new traffic now: down, in maintenance,
/// weight 0, or outside the group in use) and is rebuilt when they change.
/// `select` must not do I/O or take locks; it may read the live counters of
/// `servers` (in-flight requests, weights).
pub trait Selector: Send + Sync {
    /// Picks the index of a server in `servers` for which `eligible` is true,
    /// using `key` (a hash of the client IP, path, parameter or header) when
    /// the algorithm is hash-based; `None` when no eligible server exists.
    fn select(
        &self,
        servers: &[Arc<Server>],
        key: Option<u64>,
        eligible: &dyn Fn(usize) -> bool,
    ) -> Option<usize>;
}

/// What part of a request a backend's algorithm hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashKey {
    /// Nothing: the algorithm does not hash.
    None,
    /// The client IP (`source`).
    Source,
    /// The path without query (`uri`).
    Uri,
    /// One query parameter (`url_param(name)`).
    UrlParam(String),
    /// One header, name lower case (`hdr(name)`).
    Header(String),
}

impl HashKey {
    /// The key a balance algorithm needs.
    pub fn of(balance: &Balance) -> Self {
        match balance {
            Balance::Source => HashKey::Source,
            Balance::Uri => HashKey::Uri,
            Balance::UrlParam(p) => HashKey::UrlParam(p.clone()),
            Balance::Hdr(h) => HashKey::Header(h.clone()),
            _ => HashKey::None,
        }
    }
}

/// Builds the selector of `balance` for servers with effective `weights`.
pub fn build(balance: &Balance, weights: &[u32]) -> Box<dyn Selector> {
    match balance {
        Balance::LeastConn => Box::new(LeastConn::new(weights)),
        Balance::Random => Box::new(Random::new(weights)),
        Balance::First => Box::new(First::new(weights)),
        Balance::Source | Balance::Uri | Balance::UrlParam(_) | Balance::Hdr(_) => {
            Box::new(ConsistentHash::new(weights))
        }
        Balance::Ewma => Box::new(Ewma::new(weights)),
        // `latency` is round robin over the weights its ranking computed.
        Balance::RoundRobin | Balance::Latency => Box::new(RoundRobin::new(weights)),
        _ => Box::new(RoundRobin::new(weights)),
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use crate::upstream::{Server, ServerSpec};
    use std::sync::Arc;
    use std::time::Duration;

    /// Servers `s0..` with the given weights.
    pub fn servers(weights: &[u16]) -> Vec<Arc<Server>> {
        weights
            .iter()
            .enumerate()
            .map(|(i, w)| {
                Arc::new(Server::standalone(ServerSpec {
                    name: format!("s{i}"),
                    addr: format!("127.0.0.1:{}", 1000 + i).parse().unwrap(),
                    weight: *w,
                    backup: false,
                    maxconn: None,
                    cookie: format!("s{i}"),
                    timeout_connect: Duration::from_secs(1),
                    timeout_server: Duration::from_secs(1),
                }))
            })
            .collect()
    }

    pub fn weights(servers: &[Arc<Server>]) -> Vec<u32> {
        servers.iter().map(|s| u32::from(s.weight())).collect()
    }

    /// How many of `n` picks each server gets.
    pub fn counts(
        sel: &dyn super::Selector,
        servers: &[Arc<Server>],
        n: usize,
        key: impl Fn(usize) -> Option<u64>,
    ) -> Vec<usize> {
        let mut c = vec![0; servers.len()];
        for i in 0..n {
            if let Some(s) = sel.select(servers, key(i), &|_| true) {
                c[s] += 1;
            }
        }
        c
    }
}
