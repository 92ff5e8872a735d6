//! A backend at run time: servers, the selector for the servers in use, and
//! the `maxconn` queue.

use super::budget::RetryWindow;
use super::{HashKey, Selector, SelectorFactory, Selectors};
use crate::upstream::ServerOptions;
use crate::upstream::{AdminState, InFlight, Responses, Server, ServerSpec};
use arc_swap::ArcSwap;
use fairway_config::{Balance, Cookie, EwmaConfig, HealthCheck, LatencyConfig, UpstreamTls};
use log::info;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Requests that may wait in one backend's queue at once; more get 503.
pub const MAX_QUEUE: usize = 10_000;

/// Settings of a backend, as the config gives them.
#[derive(Debug, Clone)]
pub struct BackendSpec {
    /// Name.
    pub name: String,
    /// Balance algorithm.
    pub balance: Balance,
    /// Retries per request (or `mode: tcp` connection).
    pub retries: u32,
    /// Whether a retry goes to another server.
    pub redispatch: bool,
    /// The failures that are retried.
    pub retry_on: fairway_config::RetryOn,
    /// The share of the backend's requests retries may add; `None`: only
    /// `retries` limits them.
    pub retry_budget: Option<fairway_config::RetryBudget>,
    /// How long a request may wait for a `maxconn` slot.
    pub timeout_queue: Duration,
    /// Inactivity timeout of tunnels (upgraded HTTP connections, `mode:
    /// tcp` connections) both ways; `None`: the server's and the client's
    /// timeouts apply.
    pub timeout_tunnel: Option<Duration>,
    /// Which requests may take an idle server connection another client
    /// connection used (`http_reuse`).
    pub http_reuse: fairway_config::HttpReuse,
    /// Cookie stickiness.
    pub cookie: Option<Cookie>,
    /// Active health checks.
    pub health_check: Option<HealthCheck>,
    /// `latency` settings (with `balance: latency`).
    pub latency: LatencyConfig,
    /// `ewma` settings (with `balance: ewma`).
    pub ewma: EwmaConfig,
    /// Passive outlier ejection (`outlier`); `None`: off. The
    /// [`Ejector`](crate::background::Ejector) ejects and readmits.
    pub outlier: Option<fairway_config::Outlier>,
    /// `http_response` rules, run before the frontend's.
    pub http_response: Vec<fairway_config::HttpRule>,
}

/// Why no server could be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoServer {
    /// No server is available (all down, in maintenance or weight 0, or none at all).
    Unavailable,
    /// Servers are at `maxconn` and the queue is full.
    QueueFull,
    /// Servers stayed at `maxconn` for `timeout_queue`.
    QueueTimeout,
}

/// The outcome of one non-waiting pick.
pub enum Acquire {
    /// A server, with the request counted in flight on it.
    Got(usize, InFlight),
    /// Servers exist but are at `maxconn`: wait for a slot.
    Full,
    /// No server can take the request.
    None,
}

/// A backend at run time.
pub struct Backend {
    spec: BackendSpec,
    key: HashKey,
    servers: Vec<Arc<Server>>,
    factory: Arc<dyn SelectorFactory>,
    selector: ArcSwap<Box<dyn Selector>>,
    slot_freed: Arc<Notify>,
    queued: AtomicUsize,
    /// Serializes rebuilds.
    rebuild_lock: Mutex<()>,
    /// Responses given without a server (no server could take the
    /// request); shared by the backends derived from this one and carried
    /// over by reloads.
    responses: Arc<Responses>,
    /// Requests and retries over the budget's window; shared and carried
    /// over like `responses`.
    retry_window: Arc<RetryWindow>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("name", &self.spec.name)
            .field("balance", &self.spec.balance)
            .field("servers", &self.servers.len())
            .finish()
    }
}

impl Backend {
    /// A backend over `servers` (config order).
    pub fn new(spec: BackendSpec, servers: Vec<ServerSpec>) -> Self {
        Backend::with_tls(spec, servers.into_iter().map(|s| (s, None)).collect())
    }

    /// As [`Backend::new`], each server with its upstream TLS settings
    /// (`None`: plain TCP).
    pub fn with_tls(spec: BackendSpec, servers: Vec<(ServerSpec, Option<UpstreamTls>)>) -> Self {
        Backend::with_selectors(spec, servers, &Selectors::shared_builtin())
    }

    /// As [`Backend::with_tls`], with the algorithm registered in
    /// `selectors` under the name of `spec.balance`.
    pub fn with_selectors(
        spec: BackendSpec,
        servers: Vec<(ServerSpec, Option<UpstreamTls>)>,
        selectors: &Selectors,
    ) -> Self {
        let factory = selectors.factory(&spec.balance);
        let slot_freed = Arc::new(Notify::new());
        let options = ServerOptions {
            rtt_window: spec.latency.window,
            ewma_default_rtt: spec.ewma.default_rtt,
            ewma_decay: spec.ewma.decay,
            outlier_errors: spec.outlier.map_or(0, |o| o.consecutive_errors),
        };
        // `options` is also what `server_options` gives once built.
        let servers = servers
            .into_iter()
            .map(|(s, tls)| {
                Arc::new(Server::with_tls(
                    s,
                    Arc::clone(&slot_freed),
                    &options,
                    tls.as_ref(),
                ))
            })
            .collect();
        Self::assemble(
            spec,
            servers,
            slot_freed,
            factory,
            Arc::default(),
            Arc::default(),
        )
    }

    /// A backend over existing servers (their state is kept: reloads and
    /// runtime changes reuse servers by identity).
    pub fn with_servers(
        spec: BackendSpec,
        servers: Vec<Arc<Server>>,
        slot_freed: Arc<Notify>,
    ) -> Self {
        let factory = Selectors::shared_builtin().factory(&spec.balance);
        Backend::assemble(
            spec,
            servers,
            slot_freed,
            factory,
            Arc::default(),
            Arc::default(),
        )
    }

    fn assemble(
        spec: BackendSpec,
        servers: Vec<Arc<Server>>,
        slot_freed: Arc<Notify>,
        factory: Arc<dyn SelectorFactory>,
        responses: Arc<Responses>,
        retry_window: Arc<RetryWindow>,
    ) -> Self {
        let backend = Backend {
            key: match HashKey::of(&spec.balance) {
                HashKey::None => factory.hash_key(spec.balance.arg()),
                key => key,
            },
            selector: ArcSwap::from_pointee(factory.build_for(&servers, &[], spec.balance.arg())),
            factory,
            spec,
            servers,
            slot_freed,
            queued: AtomicUsize::new(0),
            rebuild_lock: Mutex::new(()),
            responses,
            retry_window,
        };
        backend.rebuild();
        backend
    }

    /// A server built with this backend's algorithm settings and queue, to
    /// add with [`Backend::derive`].
    pub fn new_server(&self, spec: ServerSpec) -> Server {
        self.new_server_with_tls(spec, None)
    }

    /// As [`Backend::new_server`], speaking TLS to the server when `tls`
    /// is given (a configured server moved to a new address by `dns`).
    pub fn new_server_with_tls(&self, spec: ServerSpec, tls: Option<&UpstreamTls>) -> Server {
        Server::with_tls(
            spec,
            Arc::clone(&self.slot_freed),
            &self.server_options(),
            tls,
        )
    }

    fn server_options(&self) -> ServerOptions {
        ServerOptions {
            rtt_window: self.spec.latency.window,
            ewma_default_rtt: self.spec.ewma.default_rtt,
            ewma_decay: self.spec.ewma.decay,
            outlier_errors: self.spec.outlier.map_or(0, |o| o.consecutive_errors),
        }
    }

    /// The same backend over another server list (servers are shared, so
    /// their state and in-flight counts carry over).
    pub fn derive(&self, servers: Vec<Arc<Server>>) -> Backend {
        Backend::assemble(
            self.spec.clone(),
            servers,
            Arc::clone(&self.slot_freed),
            Arc::clone(&self.factory),
            Arc::clone(&self.responses),
            Arc::clone(&self.retry_window),
        )
    }

    /// Responses given for this backend without a server.
    pub fn responses(&self) -> &Responses {
        &self.responses
    }

    /// Counts into `old`'s responses and retry window from now on (the
    /// same backend in the previous runtime): no response is lost while
    /// both serve, and a reload does not refill the retry budget.
    pub fn share_counters(&mut self, old: &Backend) {
        self.responses = Arc::clone(&old.responses);
        self.retry_window = Arc::clone(&old.retry_window);
    }

    /// The backend's requests and retries over the retry budget's window.
    pub fn retry_window(&self) -> &RetryWindow {
        &self.retry_window
    }

    /// The backend's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Its settings.
    pub fn spec(&self) -> &BackendSpec {
        &self.spec
    }

    /// What its algorithm hashes.
    pub fn hash_key(&self) -> &HashKey {
        &self.key
    }

    /// The servers in config order.
    pub fn servers(&self) -> &[Arc<Server>] {
        &self.servers
    }

    /// The server named `name`.
    pub fn server(&self, name: &str) -> Option<(usize, &Arc<Server>)> {
        self.servers
            .iter()
            .enumerate()
            .find(|(_, s)| s.name() == name)
    }

    /// Connection-failure retries.
    pub fn retries(&self) -> u32 {
        self.spec.retries
    }

    /// Whether a retry goes to another server.
    pub fn redispatch(&self) -> bool {
        self.spec.redispatch
    }

    /// The health check settings.
    pub fn health_check(&self) -> Option<&HealthCheck> {
        self.spec.health_check.as_ref()
    }

    /// Requests waiting in the queue now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Whether backups are in use: no non-backup server is available.
    pub fn using_backups(&self) -> bool {
        !self
            .servers
            .iter()
            .any(|s| !s.is_backup() && s.is_available())
    }

    /// The weight each server has in the selector now: its weight if it is
    /// available and in the group in use (non-backup, or backup while no
    /// non-backup server is available), else 0; for `balance: latency`, the
    /// ranking of [`latency_weights`](super::latency::latency_weights) among those servers.
    pub fn effective_weights(&self) -> Vec<u32> {
        let backups = self.using_backups();
        let servers = &self.servers;
        let in_group = |i: usize| servers[i].is_available() && servers[i].is_backup() == backups;
        self.factory.weights(servers, &in_group, &self.spec)
    }

    /// How often the algorithm wants this backend rebuilt with fresh
    /// weights (`latency`: its `interval`), if at all.
    pub fn refresh_interval(&self) -> Option<Duration> {
        self.factory.refresh(&self.spec)
    }

    /// Rebuilds the selector from the servers' current weights, health,
    /// states and (for `latency`) check round-trip times. Call it after
    /// changing any of them; requests in flight keep the selector they had.
    pub fn rebuild(&self) {
        let _serial = self.rebuild_lock.lock().unwrap_or_else(|e| e.into_inner());
        let before: Vec<u32> = self
            .servers
            .iter()
            .map(|s| u32::from(s.effective_weight()))
            .collect();
        let weights = self.effective_weights();
        for (server, w) in self.servers.iter().zip(&weights) {
            server.set_effective_weight(u16::try_from(*w).unwrap_or(u16::MAX));
        }
        if let Some(line) =
            self.factory
                .describe_change(&self.spec, &self.servers, &before, &weights)
        {
            info!("{line}");
        }
        self.selector.store(Arc::new(self.factory.build_for(
            &self.servers,
            &weights,
            self.spec.balance.arg(),
        )));
    }

    /// Per server: (name, percentile of check round-trip times, effective
    /// weight) — what `balance: latency` decided, for stats and metrics.
    pub fn latency_view(&self) -> Vec<(String, Option<Duration>, u16)> {
        let p = self.spec.latency.percentile;
        self.servers
            .iter()
            .map(|s| {
                (
                    s.name().to_string(),
                    s.rtt_percentile(p),
                    s.effective_weight(),
                )
            })
            .collect()
    }

    /// Picks a server without waiting. `skip(i)` excludes servers (those a
    /// retry already tried).
    pub fn try_acquire(&self, key: Option<u64>, skip: &(dyn Fn(usize) -> bool + Sync)) -> Acquire {
        let selector = self.selector.load();
        let backups = self.using_backups();
        let in_group = |i: usize| {
            let s = &self.servers[i];
            s.is_available() && s.is_backup() == backups
        };
        // A pick can lose a race for the last slot of a server; try a few.
        for _ in 0..4 {
            let eligible = |i: usize| in_group(i) && !skip(i) && self.servers[i].has_capacity();
            match selector.select(&self.servers, key, &eligible) {
                Some(i) => {
                    if let Some(guard) = self.servers[i].try_begin() {
                        return Acquire::Got(i, guard);
                    }
                }
                None => break,
            }
        }
        if (0..self.servers.len()).any(|i| in_group(i) && !skip(i)) {
            Acquire::Full
        } else {
            Acquire::None
        }
    }

    /// Picks a server, waiting up to `timeout_queue` in the queue while the
    /// servers are at `maxconn`. Never busy-waits: a waiter sleeps until a
    /// request on a `maxconn` server of this backend ends.
    pub async fn acquire(
        &self,
        key: Option<u64>,
        skip: &(dyn Fn(usize) -> bool + Sync),
    ) -> Result<(usize, InFlight), NoServer> {
        // Fast path: no queue bookkeeping, no lock.
        match self.try_acquire(key, skip) {
            Acquire::Got(i, guard) => return Ok((i, guard)),
            Acquire::None => return Err(NoServer::Unavailable),
            Acquire::Full => {}
        }
        if self.queued.fetch_add(1, Ordering::AcqRel) >= MAX_QUEUE {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(NoServer::QueueFull);
        }
        let deadline = Instant::now() + self.spec.timeout_queue;
        let result = loop {
            // Register for a wake-up before looking again, so a slot freed
            // in between is not missed.
            let notified = self.slot_freed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.try_acquire(key, skip) {
                Acquire::Got(i, guard) => break Ok((i, guard)),
                Acquire::None => break Err(NoServer::Unavailable),
                Acquire::Full => {}
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break Err(NoServer::QueueTimeout);
            }
        };
        self.queued.fetch_sub(1, Ordering::AcqRel);
        if result.is_err() {
            // We may have consumed a wake-up meant for a slot we did not take.
            self.slot_freed.notify_one();
        }
        result
    }

    /// The server whose stickiness cookie is `value`, if it may take the
    /// request: it has an address, is up, not in maintenance (draining servers keep their sticky
    /// clients, as in HAProxy), not ejected (`outlier`), and under its
    /// `maxconn`.
    pub fn sticky(&self, value: &[u8]) -> Option<usize> {
        let (i, s) = self
            .servers
            .iter()
            .enumerate()
            .find(|(_, s)| s.cookie().as_bytes() == value)?;
        let ok = s.has_addr()
            && s.is_up()
            && s.admin_state() != AdminState::Maint
            && s.weight() > 0
            && !s.outlier().is_ejected()
            && s.has_capacity();
        ok.then_some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(balance: Balance, timeout_queue: Duration) -> BackendSpec {
        BackendSpec {
            timeout_tunnel: None,
            http_reuse: fairway_config::HttpReuse::Safe,
            name: "b".into(),
            balance,
            retries: 2,
            redispatch: true,
            retry_on: Default::default(),
            retry_budget: None,
            timeout_queue,
            cookie: None,
            health_check: None,
            latency: LatencyConfig::default(),
            ewma: EwmaConfig::default(),
            outlier: None,
            http_response: Vec::new(),
        }
    }

    fn server(name: &str, weight: u16, backup: bool, maxconn: Option<u32>) -> ServerSpec {
        ServerSpec {
            name: name.into(),
            addr: "127.0.0.1:1".parse().unwrap(),
            weight,
            backup,
            maxconn,
            cookie: name.into(),
            timeout_connect: Duration::from_secs(1),
            timeout_server: Duration::from_secs(1),
            proto: fairway_config::Proto::H1,
            send_proxy: None,
        }
    }

    fn pick(b: &Backend) -> Option<String> {
        match b.try_acquire(None, &|_| false) {
            Acquire::Got(i, _) => Some(b.servers()[i].name().to_string()),
            _ => None,
        }
    }

    #[test]
    fn backups_only_when_no_primary_is_available() {
        let b = Backend::new(
            spec(Balance::RoundRobin, Duration::ZERO),
            vec![server("a", 1, false, None), server("spare", 1, true, None)],
        );
        assert!((0..5).all(|_| pick(&b).as_deref() == Some("a")));
        b.servers()[0].set_up(false);
        b.rebuild();
        assert!((0..5).all(|_| pick(&b).as_deref() == Some("spare")));
        b.servers()[0].set_up(true);
        b.rebuild();
        assert_eq!(pick(&b).as_deref(), Some("a"));
    }

    #[test]
    fn all_zero_weights_give_no_server_not_a_panic() {
        for balance in [
            Balance::RoundRobin,
            Balance::LeastConn,
            Balance::Random,
            Balance::First,
            Balance::Source,
        ] {
            let b = Backend::new(
                spec(balance.clone(), Duration::ZERO),
                vec![server("a", 0, false, None), server("b", 0, false, None)],
            );
            assert!(
                matches!(b.try_acquire(Some(1), &|_| false), Acquire::None),
                "{balance:?}"
            );
            let empty = Backend::new(spec(balance, Duration::ZERO), vec![]);
            assert!(matches!(empty.try_acquire(None, &|_| false), Acquire::None));
        }
    }

    #[test]
    fn skip_excludes_tried_servers() {
        let b = Backend::new(
            spec(Balance::RoundRobin, Duration::ZERO),
            vec![server("a", 1, false, None), server("b", 1, false, None)],
        );
        for _ in 0..4 {
            match b.try_acquire(None, &|i| i == 0) {
                Acquire::Got(i, _) => assert_eq!(i, 1),
                _ => panic!("b is there"),
            }
        }
        assert!(matches!(b.try_acquire(None, &|_| true), Acquire::None));
    }

    #[tokio::test]
    async fn queue_waits_for_a_slot_then_times_out() {
        let b = Arc::new(Backend::new(
            spec(Balance::RoundRobin, Duration::from_millis(200)),
            vec![server("a", 1, false, Some(1))],
        ));
        let (_, first) = b.acquire(None, &|_| false).await.unwrap();
        // A second request waits; freeing the slot lets it through.
        let b2 = Arc::clone(&b);
        let waiter =
            tokio::spawn(async move { b2.acquire(None, &|_| false).await.map(|(i, _)| i) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(b.queued(), 1);
        drop(first);
        assert_eq!(waiter.await.unwrap(), Ok(0));
        // Now hold the slot: the next one times out after timeout_queue.
        let (_, _held) = b.acquire(None, &|_| false).await.unwrap();
        let t = std::time::Instant::now();
        assert_eq!(
            b.acquire(None, &|_| false).await.map(|(i, _)| i),
            Err(NoServer::QueueTimeout)
        );
        assert!(t.elapsed() >= Duration::from_millis(190));
        assert_eq!(b.queued(), 0);
    }

    #[test]
    fn sticky_cookie_finds_its_server() {
        let b = Backend::new(
            spec(Balance::RoundRobin, Duration::ZERO),
            vec![server("a", 1, false, None), server("b", 1, false, None)],
        );
        assert_eq!(b.sticky(b"b"), Some(1));
        assert_eq!(b.sticky(b"zzz"), None);
        b.servers()[1].set_admin_state(AdminState::Drain);
        assert_eq!(
            b.sticky(b"b"),
            Some(1),
            "draining servers keep sticky clients"
        );
        b.servers()[1].set_up(false);
        assert_eq!(b.sticky(b"b"), None);
    }
}

#[cfg(test)]
mod ewma_tests {
    use super::*;
    use crate::upstream::ewma::now_ns;

    #[test]
    fn ewma_backend_prefers_the_cheaper_server() {
        let server = |name: &str| ServerSpec {
            name: name.into(),
            addr: "127.0.0.1:1".parse().unwrap(),
            weight: 1,
            backup: false,
            maxconn: None,
            cookie: name.into(),
            timeout_connect: Duration::from_secs(1),
            timeout_server: Duration::from_secs(1),
            proto: fairway_config::Proto::H1,
            send_proxy: None,
        };
        let spec = BackendSpec {
            timeout_tunnel: None,
            http_reuse: fairway_config::HttpReuse::Safe,
            name: "b".into(),
            balance: Balance::Ewma,
            retries: 0,
            redispatch: true,
            retry_on: Default::default(),
            retry_budget: None,
            timeout_queue: Duration::ZERO,
            cookie: None,
            health_check: None,
            latency: LatencyConfig::default(),
            ewma: EwmaConfig::default(),
            outlier: None,
            http_response: Vec::new(),
        };
        let b = Backend::new(spec, vec![server("fast"), server("mid"), server("slow")]);
        let now = now_ns();
        for (i, ms) in [5u64, 60, 150].iter().enumerate() {
            b.servers()[i]
                .ewma()
                .observe(Duration::from_millis(*ms), now);
        }
        let mut counts = [0; 3];
        for _ in 0..300 {
            if let Acquire::Got(i, _) = b.try_acquire(None, &|_| false) {
                counts[i] += 1;
            }
        }
        assert_eq!(counts[2], 0, "{counts:?}");
        assert!(counts[0] > 150, "{counts:?}");
    }
}
