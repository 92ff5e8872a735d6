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
//! [`Ewma`] (peak-EWMA of response latency). A selection algorithm of
//! `pingora-load-balancing` (its `BackendSelection`: `RoundRobin`, `Random`,
//! `FNVHash`, `Consistent`) becomes one through [`PingoraSelection`].
//!
//! Every algorithm, built-in or not, is a [`SelectorFactory`] registered by
//! name in a [`Selectors`] registry; [`Selectors::builtin`] registers the
//! ones above through [`Selectors::register`], the call a program embedding
//! fairway uses for its own (see `examples/custom_selector.rs`):
//!
//! ```
//! use fairway::balance::{Selector, Selectors};
//! use fairway::upstream::Server;
//! use std::sync::Arc;
//!
//! /// Picks the eligible server with the fewest requests in flight.
//! struct Idlest;
//!
//! impl Selector for Idlest {
//!     fn select(&self, servers: &[Arc<Server>], _key: Option<u64>, eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
//!         (0..servers.len())
//!             .filter(|&i| eligible(i) && servers[i].effective_weight() > 0)
//!             .min_by_key(|&i| servers[i].active())
//!     }
//! }
//!
//! let mut selectors = Selectors::builtin();
//! selectors.register("idlest", |_weights: &[u32]| Idlest).unwrap();
//! assert!(selectors.listing().ends_with("ewma, idlest"));
//! ```

mod attempt;
mod backend;
mod budget;
pub mod ewma;
mod first;
mod hash;
pub mod latency;
mod leastconn;
mod pingora;
mod random;
mod roundrobin;

pub use self::pingora::{PingoraSelection, PingoraSelector};
pub use crate::upstream::ewma::PeakEwma;
pub use attempt::Attempts;
pub use backend::{Acquire, Backend, BackendSpec, NoServer};
pub use budget::RetryWindow;
pub use ewma::Ewma;
pub use first::First;
pub use hash::{hash_bytes, ConsistentHash};
pub use leastconn::LeastConn;
pub use random::Random;
pub use roundrobin::{smooth_schedule, RoundRobin};

use crate::upstream::Server;
use fairway_acl::Arg;
use fairway_config::Balance;
use std::sync::{Arc, LazyLock};

/// A balance algorithm: picks one server for a request.
///
/// A selector is built by its [`SelectorFactory`] from the *effective
/// weights* of a backend's servers (0 for a server that must not get new
/// traffic now: down, in maintenance, weight 0, or outside the group in
/// use) and is rebuilt, off the request path, whenever weights, health or
/// states change. Per-request state (the in-flight guard, timings) belongs
/// to fairway and is kept across rebuilds.
///
/// `select` runs on the request path: it must not do I/O, block or take
/// locks. It may read the live figures of `servers`:
/// [`Server::active`] (requests in flight), [`Server::weight`] and
/// [`Server::effective_weight`], [`Server::is_up`], [`Server::rtt_percentile`]
/// (health-check round-trip times), [`Server::ewma`] (peak-EWMA of response
/// times) and [`Server::has_capacity`].
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

/// Makes the [`Selector`] of one balance algorithm for a backend's servers;
/// registered by name in [`Selectors`].
///
/// A closure `Fn(&[u32]) -> Box<dyn Selector>` is a factory of an algorithm
/// without argument.
pub trait SelectorFactory: Send + Sync + 'static {
    /// The argument of `balance: NAME(ARG)` it takes; the default is none.
    fn arg(&self) -> Arg {
        Arg::None
    }

    /// Checks the argument when a config is loaded (after [`Arg::check`]
    /// has checked its presence); the error is reported at the `balance`
    /// key of the config. The default accepts any.
    fn check(&self, arg: Option<&str>) -> Result<(), String> {
        let _ = arg;
        Ok(())
    }

    /// A selector for servers with the effective `weights` (one per server,
    /// in the backend's order; 0: must not be picked), and the argument of
    /// the backend's `balance`. Called again at every rebuild.
    fn build(&self, weights: &[u32], arg: Option<&str>) -> Box<dyn Selector>;

    /// As [`SelectorFactory::build`], knowing the backend's `servers` (the
    /// same order as `weights`): what fairway calls at every rebuild. The
    /// default ignores them and calls `build`; an algorithm that places
    /// servers by their address ([`PingoraSelection`]) uses them.
    fn build_for(
        &self,
        servers: &[Arc<Server>],
        weights: &[u32],
        arg: Option<&str>,
    ) -> Box<dyn Selector> {
        let _ = servers;
        self.build(weights, arg)
    }

    /// What a backend using this algorithm hashes into the `key` of
    /// [`Selector::select`], given the argument of its `balance`. The
    /// built-in hashes (`source`, `uri`, `url_param`, `hdr`) follow from
    /// their name; for a registered algorithm the default is
    /// [`HashKey::None`] (every key is `None`).
    fn hash_key(&self, arg: Option<&str>) -> HashKey {
        let _ = arg;
        HashKey::None
    }

    /// The effective weight of each server at a rebuild: `in_group(i)`
    /// says server `i` may take traffic now (available, and in the group in
    /// use: non-backup, or backup while no non-backup server is). The
    /// default is the configured weight of those servers, 0 for the others;
    /// `latency` ranks them by their health-check round-trip times instead.
    fn weights(
        &self,
        servers: &[Arc<Server>],
        in_group: &dyn Fn(usize) -> bool,
        spec: &BackendSpec,
    ) -> Vec<u32> {
        let _ = spec;
        (0..servers.len())
            .map(|i| {
                if in_group(i) {
                    u32::from(servers[i].weight())
                } else {
                    0
                }
            })
            .collect()
    }

    /// How often a backend of this algorithm is rebuilt even when nothing
    /// else changes (its weights follow live figures); `None`, the default:
    /// only when weights, health or states change.
    fn refresh(&self, spec: &BackendSpec) -> Option<std::time::Duration> {
        let _ = spec;
        None
    }

    /// A line for the log when a rebuild changed something an operator
    /// wants to know (`latency`: which server is primary); `before` and
    /// `after` are the effective weights. The default says nothing.
    fn describe_change(
        &self,
        spec: &BackendSpec,
        servers: &[Arc<Server>],
        before: &[u32],
        after: &[u32],
    ) -> Option<String> {
        let _ = (spec, servers, before, after);
        None
    }
}

/// A closure from the effective weights to a selector is a factory for an
/// algorithm without an argument: `|weights: &[u32]| MySelector::new(weights)`.
impl<F, S> SelectorFactory for F
where
    F: Fn(&[u32]) -> S + Send + Sync + 'static,
    S: Selector + 'static,
{
    fn build(&self, weights: &[u32], _arg: Option<&str>) -> Box<dyn Selector> {
        Box::new(self(weights))
    }
}

/// A boxed selector selects as the selector in it does (so a factory
/// closure may return `Box<dyn Selector>`).
impl Selector for Box<dyn Selector> {
    fn select(
        &self,
        servers: &[Arc<Server>],
        key: Option<u64>,
        eligible: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        (**self).select(servers, key, eligible)
    }
}

/// A built-in algorithm that takes an argument (the hash of `url_param`
/// and `hdr`): the argument is what the proxy hashes, not the selector's.
struct Hashed;

impl SelectorFactory for Hashed {
    fn arg(&self) -> Arg {
        Arg::Required("NAME")
    }

    fn build(&self, weights: &[u32], _arg: Option<&str>) -> Box<dyn Selector> {
        Box::new(ConsistentHash::new(weights))
    }
}

/// The balance algorithms backends may name, in registration order.
#[derive(Clone)]
pub struct Selectors {
    entries: Vec<(String, Arc<dyn SelectorFactory>)>,
}

static SHARED_BUILTIN: LazyLock<Arc<Selectors>> = LazyLock::new(|| Arc::new(Selectors::builtin()));

/// The selector of an algorithm that has none registered (not reachable
/// through a config loaded with the same registry).
fn fallback(weights: &[u32]) -> Box<dyn Selector> {
    Box::new(RoundRobin::new(weights))
}

impl Selectors {
    /// No algorithm at all.
    pub fn empty() -> Self {
        Selectors {
            entries: Vec::new(),
        }
    }

    /// The built-in algorithms of SPEC §4, each registered with
    /// [`Selectors::register`].
    pub fn builtin() -> Self {
        fn boxed<S: Selector + 'static>(s: S) -> Box<dyn Selector> {
            Box::new(s)
        }
        let mut s = Selectors::empty();
        let arg = || String::new();
        // The names are the config's (`Balance::algorithm`), defined once.
        let all: [(Balance, Arc<dyn SelectorFactory>); 10] = [
            (
                Balance::RoundRobin,
                Arc::new(|w: &[u32]| boxed(RoundRobin::new(w))),
            ),
            (
                Balance::LeastConn,
                Arc::new(|w: &[u32]| boxed(LeastConn::new(w))),
            ),
            (
                Balance::Source,
                Arc::new(|w: &[u32]| boxed(ConsistentHash::new(w))),
            ),
            (Balance::Random, Arc::new(|w: &[u32]| boxed(Random::new(w)))),
            (Balance::First, Arc::new(|w: &[u32]| boxed(First::new(w)))),
            (
                Balance::Uri,
                Arc::new(|w: &[u32]| boxed(ConsistentHash::new(w))),
            ),
            (Balance::UrlParam(arg()), Arc::new(Hashed)),
            (Balance::Hdr(arg()), Arc::new(Hashed)),
            // Round robin over the weights its ranking computes.
            (Balance::Latency, Arc::new(latency::LatencyRanking)),
            (Balance::Ewma, Arc::new(|w: &[u32]| boxed(Ewma::new(w)))),
        ];
        for (balance, factory) in all {
            // Built-in names are valid.
            let _ = s.register_arc(balance.algorithm(), factory);
        }
        s
    }

    /// The shared built-in registry (what [`Backend::new`] uses).
    pub fn shared_builtin() -> Arc<Selectors> {
        Arc::clone(&SHARED_BUILTIN)
    }

    /// Registers `factory` under `name`, replacing an algorithm of that
    /// name (built-in ones included: a backend with `balance: roundrobin`
    /// then uses the new factory). Names are lower case letters, digits and
    /// `_`, starting with a letter.
    pub fn register(
        &mut self,
        name: &str,
        factory: impl SelectorFactory,
    ) -> Result<(), InvalidName> {
        self.register_arc(name, Arc::new(factory))
    }

    /// As [`Selectors::register`], for a shared factory.
    pub fn register_arc(
        &mut self,
        name: &str,
        factory: Arc<dyn SelectorFactory>,
    ) -> Result<(), InvalidName> {
        let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
        if !valid {
            return Err(InvalidName(name.to_string()));
        }
        match self.entries.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = factory,
            None => self.entries.push((name.to_string(), factory)),
        }
        Ok(())
    }

    /// The factory registered under `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn SelectorFactory>> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, f)| f)
    }

    /// The registered names, in registration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    /// The registered algorithms as errors list them:
    /// `roundrobin, ..., url_param(NAME), ...`.
    pub fn listing(&self) -> String {
        let names: Vec<String> = self.entries.iter().map(|(n, f)| f.arg().usage(n)).collect();
        names.join(", ")
    }

    /// The factory of `balance` (round robin if none is registered under
    /// its name).
    pub fn factory(&self, balance: &Balance) -> Arc<dyn SelectorFactory> {
        match self.get(balance.algorithm()) {
            Some(f) => Arc::clone(f),
            None => Arc::new(fallback),
        }
    }
}

impl Default for Selectors {
    fn default() -> Self {
        Selectors::builtin()
    }
}

impl std::fmt::Debug for Selectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl fairway_config::Algorithms for Selectors {
    fn listing(&self) -> String {
        Selectors::listing(self)
    }

    fn check(&self, name: &str, arg: Option<&str>) -> Option<Result<(), String>> {
        let factory = self.get(name)?;
        Some(
            factory
                .arg()
                .check(name, arg)
                .and_then(|()| factory.check(arg)),
        )
    }
}

/// A name [`Selectors::register`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid balance algorithm name `{0}` (lower case letters, digits and `_`, starting with a letter)")]
pub struct InvalidName(pub String);

/// Builds the selector of `balance` for servers with effective `weights`,
/// with the built-in registry.
pub fn build(balance: &Balance, weights: &[u32]) -> Box<dyn Selector> {
    SHARED_BUILTIN
        .factory(balance)
        .build(weights, balance.arg())
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
                    proto: fairway_config::Proto::H1,
                    send_proxy: None,
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
