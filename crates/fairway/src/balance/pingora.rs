//! A selection algorithm of `pingora-load-balancing` as a fairway
//! algorithm: [`PingoraSelection`].

use super::{HashKey, Selector, SelectorFactory};
use crate::upstream::Server;
use pingora::protocols::l4::socket::SocketAddr as PingoraAddr;
use pingora_load_balancing::selection::{BackendIter, BackendSelection};
use pingora_load_balancing::Backend;
use std::collections::{BTreeSet, HashMap};
use std::marker::PhantomData;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// How many backends of its iterator a pick looks at, per backend of the
/// selection, before it stops following the algorithm (see
/// [`PingoraSelector`]).
const STEPS_PER_BACKEND: usize = 4;

/// The factory of a `pingora-load-balancing` algorithm `S` (a
/// [`BackendSelection`]: `RoundRobin`, `Random`, `FNVHash`, `Consistent`
/// or your own), to register in [`Selectors`](super::Selectors) or with
/// [`Builder::selector`](crate::Builder::selector):
///
/// ```
/// use fairway::balance::{HashKey, PingoraSelection};
/// use pingora_load_balancing::selection::Consistent;
///
/// let builder = fairway::Fairway::builder().selector(
///     "ketama",
///     PingoraSelection::<Consistent>::new().hashing(HashKey::Header("x-user".into())),
/// );
/// # let _ = builder;
/// ```
///
/// A backend with `balance: ketama` then places its servers on Pingora's
/// Ketama ring. At every rebuild (weights, health or states changed) `S` is
/// built from the servers that may take traffic: one
/// [`pingora_load_balancing::Backend`] per address, with the sum of the
/// effective weights of the servers at that address. Servers down, in
/// maintenance or drain, ejected, at weight 0 or outside the group in use
/// are not in it, and a pick skips, by following the algorithm's own
/// fallback order ([`BackendIter`]), those fairway says are not eligible
/// for this request (full, or already tried by a retry).
///
/// What is hashed is fairway's 64-bit key of the request (see
/// [`PingoraSelection::hashing`]), as 8 little-endian bytes.
///
/// Limits:
/// * keys differ from a Pingora `LoadBalancer`'s: Pingora hashes the bytes
///   you pass it, fairway hashes the header (or path, or IP) first, so the
///   same header value may land on another server than under Pingora;
/// * servers that share an address are one Pingora backend: a pick takes
///   the first eligible of them;
/// * at most 65,535 addresses (Pingora's limit); later servers get no
///   traffic;
/// * Pingora's weighted `RoundRobin` is not smooth (a server of weight 3
///   gets its 3 turns in a row); fairway's `roundrobin` is.
pub struct PingoraSelection<S: BackendSelection> {
    config: S::Config,
    key: HashKey,
    algorithm: PhantomData<fn() -> S>,
}

impl<S: BackendSelection> PingoraSelection<S>
where
    S::Config: Default,
{
    /// `S` with its default configuration, hashing nothing.
    pub fn new() -> Self {
        PingoraSelection::with_config(S::Config::default())
    }
}

impl<S: BackendSelection> Default for PingoraSelection<S>
where
    S::Config: Default,
{
    fn default() -> Self {
        PingoraSelection::new()
    }
}

impl<S: BackendSelection> PingoraSelection<S> {
    /// `S` built with `config` (e.g. a `KetamaConfig`), hashing nothing.
    pub fn with_config(config: S::Config) -> Self {
        PingoraSelection {
            config,
            key: HashKey::None,
            algorithm: PhantomData,
        }
    }

    /// Hashes `key` of each request: the client IP, the path, a query
    /// parameter or a header. A request without it (no such header), or
    /// any request with [`HashKey::None`] (the default), hashes a counter
    /// instead, which spreads requests over the servers; the hash-less
    /// algorithms (`RoundRobin`, `Random`) ignore the key.
    pub fn hashing(mut self, key: HashKey) -> Self {
        self.key = key;
        self
    }
}

impl<S> SelectorFactory for PingoraSelection<S>
where
    S: BackendSelection + Send + Sync + 'static,
    S::Iter: BackendIter,
    S::Config: 'static,
{
    /// Without the servers, each is named by its index (`0.0.0.i:0`), so
    /// the placement differs from the one fairway builds: fairway calls
    /// [`SelectorFactory::build_for`].
    fn build(&self, weights: &[u32], arg: Option<&str>) -> Box<dyn Selector> {
        self.build_for(&[], weights, arg)
    }

    fn build_for(
        &self,
        servers: &[Arc<Server>],
        weights: &[u32],
        _arg: Option<&str>,
    ) -> Box<dyn Selector> {
        Box::new(PingoraSelector::<S>::new(servers, weights, &self.config))
    }

    fn hash_key(&self, _arg: Option<&str>) -> HashKey {
        self.key.clone()
    }
}

/// Which group of fairway servers a Pingora backend stands for (kept in
/// the backend's `ext`).
#[derive(Clone, Copy)]
struct Group(usize);

/// The [`Selector`] of a [`PingoraSelection`]: `S` built for one set of
/// effective weights.
///
/// A pick follows `S`'s iterator for the request's key and takes the first
/// backend with an eligible server. An iterator may never end (Pingora's
/// weighted ones and Ketama walk on forever), so after 4 steps per backend
/// it stops following it and takes the first eligible server in address
/// order from a place fixed by the key: the pick is still the same for
/// the same key, and there is a server whenever one is eligible.
pub struct PingoraSelector<S> {
    selection: Arc<S>,
    /// Per Pingora backend: the indices of the fairway servers at its
    /// address with an effective weight above 0.
    groups: Box<[Box<[usize]>]>,
    /// The key of requests without one.
    counter: AtomicU64,
}

impl<S> PingoraSelector<S>
where
    S: BackendSelection,
    S::Iter: BackendIter,
{
    /// `S` built with `config` over `servers` with effective `weights`
    /// (same order; a missing weight is 0; a missing server is named by its
    /// index).
    pub fn new(servers: &[Arc<Server>], weights: &[u32], config: &S::Config) -> Self {
        let mut by_addr: HashMap<SocketAddr, usize> = HashMap::new();
        let mut groups: Vec<(SocketAddr, usize, Vec<usize>)> = Vec::new();
        for (i, w) in weights.iter().enumerate() {
            if *w == 0 {
                continue;
            }
            let addr = servers.get(i).map_or_else(
                || SocketAddr::from((Ipv4Addr::from(i as u32), 0)),
                |s| s.addr(),
            );
            let g = *by_addr.entry(addr).or_insert_with(|| {
                groups.push((addr, 0, Vec::new()));
                groups.len() - 1
            });
            groups[g].1 += *w as usize;
            groups[g].2.push(i);
        }
        groups.truncate(usize::from(u16::MAX));
        let backends: BTreeSet<Backend> = groups
            .iter()
            .enumerate()
            .map(|(g, (addr, weight, _))| {
                let mut b = Backend {
                    addr: PingoraAddr::Inet(*addr),
                    weight: *weight,
                    ext: Default::default(),
                };
                b.ext.insert(Group(g));
                b
            })
            .collect();
        PingoraSelector {
            selection: Arc::new(S::build_with_config(&backends, config)),
            groups: groups
                .into_iter()
                .map(|(_, _, servers)| servers.into_boxed_slice())
                .collect(),
            counter: AtomicU64::new(0),
        }
    }

    fn first_eligible(&self, group: usize, eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
        self.groups
            .get(group)?
            .iter()
            .copied()
            .find(|&i| eligible(i))
    }
}

impl<S> Selector for PingoraSelector<S>
where
    S: BackendSelection + Send + Sync,
    S::Iter: BackendIter,
{
    fn select(
        &self,
        _servers: &[Arc<Server>],
        key: Option<u64>,
        eligible: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let n = self.groups.len();
        if n == 0 {
            return None;
        }
        let key = key.unwrap_or_else(|| self.counter.fetch_add(1, Ordering::Relaxed));
        let mut iter = BackendSelection::iter(&self.selection, &key.to_le_bytes());
        for _ in 0..STEPS_PER_BACKEND * n {
            let Some(backend) = iter.next() else { break };
            let Some(Group(g)) = backend.ext.get::<Group>() else {
                continue;
            };
            if let Some(i) = self.first_eligible(*g, eligible) {
                return Some(i);
            }
        }
        let start = (key % n as u64) as usize;
        (0..n).find_map(|k| self.first_eligible((start + k) % n, eligible))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::hash_bytes;
    use crate::balance::testutil::{servers, weights};
    use pingora_load_balancing::selection::{Consistent, FNVHash, RoundRobin};

    fn selector<S>(w: &[u16]) -> (Vec<Arc<Server>>, Box<dyn Selector>)
    where
        S: BackendSelection + Send + Sync + 'static,
        S::Iter: BackendIter,
        S::Config: Default + 'static,
    {
        let s = servers(w);
        let sel = PingoraSelection::<S>::new().build_for(&s, &weights(&s), None);
        (s, sel)
    }

    fn count(
        sel: &dyn Selector,
        s: &[Arc<Server>],
        n: u64,
        key: bool,
        ok: &dyn Fn(usize) -> bool,
    ) -> Vec<usize> {
        let mut c = vec![0; s.len()];
        for k in 0..n {
            let key = key.then(|| hash_bytes(&k.to_le_bytes()));
            if let Some(i) = sel.select(s, key, ok) {
                c[i] += 1;
            }
        }
        c
    }

    #[test]
    fn weighted_round_robin_follows_the_weights() {
        let (s, sel) = selector::<RoundRobin>(&[3, 1, 0, 2]);
        assert_eq!(
            count(&*sel, &s, 600, false, &|_| true),
            vec![300, 100, 0, 200]
        );
    }

    #[test]
    fn ineligible_servers_are_never_picked() {
        for (name, (s, sel)) in [
            ("roundrobin", selector::<RoundRobin>(&[1, 1, 1, 1, 1])),
            ("fnv", selector::<FNVHash>(&[1, 1, 1, 1, 1])),
            ("ketama", selector::<Consistent>(&[1, 1, 1, 1, 1])),
        ] {
            for key in [false, true] {
                let c = count(&*sel, &s, 500, key, &|i| i == 1 || i == 3);
                assert_eq!(c[0] + c[2] + c[4], 0, "{name}: {c:?}");
                assert!(
                    c[1] > 100 && c[3] > 100,
                    "{name}: both eligible ones get some: {c:?}"
                );
                let c = count(&*sel, &s, 50, key, &|i| i == 4);
                assert_eq!(c, vec![0, 0, 0, 0, 50], "{name}: the only eligible one");
                assert_eq!(count(&*sel, &s, 10, key, &|_| false), vec![0; 5], "{name}");
            }
        }
        // Weight 0 (down, maintenance, drain: what a rebuild gives them):
        // not in the selection even if the caller lets them through.
        let s = servers(&[1, 1, 1]);
        let sel = PingoraSelection::<Consistent>::new().build_for(&s, &[1, 0, 1], None);
        assert_eq!(count(&*sel, &s, 300, true, &|_| true)[1], 0);
        let none = PingoraSelection::<Consistent>::new().build_for(&s, &[0, 0, 0], None);
        assert_eq!(none.select(&s, Some(7), &|_| true), None);
    }

    #[test]
    fn ketama_keeps_a_key_on_its_server() {
        let (s, sel) = selector::<Consistent>(&[1, 1, 1, 1]);
        let mut first = Vec::new();
        for k in 0..200u64 {
            let key = Some(hash_bytes(&k.to_le_bytes()));
            let a = sel.select(&s, key, &|_| true).unwrap();
            for _ in 0..3 {
                assert_eq!(sel.select(&s, key, &|_| true), Some(a));
            }
            first.push(a);
        }
        let spread = count(&*sel, &s, 2000, true, &|_| true);
        assert!(spread.iter().all(|n| *n > 250), "{spread:?}");
        // Server 2 unavailable: only its keys move.
        let after = PingoraSelection::<Consistent>::new().build_for(&s, &[1, 1, 0, 1], None);
        for (k, a) in first.iter().enumerate() {
            let b = after.select(&s, Some(hash_bytes(&(k as u64).to_le_bytes())), &|_| true);
            if *a != 2 {
                assert_eq!(b, Some(*a), "key {k}");
            } else {
                assert_ne!(b, Some(2));
            }
        }
    }

    #[test]
    fn servers_sharing_an_address_are_one_backend() {
        let s = servers(&[1, 1]);
        let twin = Arc::new(Server::standalone(s[0].spec().clone()));
        let s = vec![Arc::clone(&s[0]), twin, Arc::clone(&s[1])];
        let sel = PingoraSelection::<RoundRobin>::new().build_for(&s, &[1, 1, 2], None);
        assert_eq!(count(&*sel, &s, 400, false, &|_| true), vec![200, 0, 200]);
        assert_eq!(count(&*sel, &s, 400, false, &|i| i != 0), vec![0, 200, 200]);
    }

    #[test]
    fn the_factory_says_what_it_hashes() {
        let f = PingoraSelection::<Consistent>::new();
        assert_eq!(f.hash_key(None), HashKey::None);
        let f = f.hashing(HashKey::Header("x-user".into()));
        assert_eq!(f.hash_key(None), HashKey::Header("x-user".into()));
        let sel = f.build(&[1, 1], None);
        let s = servers(&[1, 1]);
        assert!(sel.select(&s, None, &|_| true).is_some());
    }
}
