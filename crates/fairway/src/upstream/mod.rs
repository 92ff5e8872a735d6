//! Upstream servers and their live state.
//!
//! A [`Server`] is one `servers:` entry of a backend, with the state that the
//! balancer, the health checker, the stats page and the metrics share:
//! weight, health, administrative state, in-flight and total requests, and
//! the round-trip times of recent health checks, and its passive outlier
//! state ([`outlier`]). Everything the request path reads is an atomic: it
//! never takes a lock.

pub mod ewma;
pub mod outlier;
pub mod pool;

use ewma::{now_ns, PeakEwma};
use fairway_config::{Proto, UpstreamTls};
use outlier::Outlier;
use pingora::upstreams::peer::HttpPeer;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Administrative state of a server (HAProxy's `set server ... state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminState {
    /// Takes traffic (the default).
    Ready,
    /// Finishes what it has; no new requests except sticky ones.
    Drain,
    /// Out of service: no new requests.
    Maint,
}

impl AdminState {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => AdminState::Drain,
            2 => AdminState::Maint,
            _ => AdminState::Ready,
        }
    }

    /// The state's name: `ready`, `drain` or `maint`.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminState::Ready => "ready",
            AdminState::Drain => "drain",
            AdminState::Maint => "maint",
        }
    }
}

/// How many health-check round-trip times a server keeps by default.
pub const DEFAULT_RTT_WINDOW: usize = 20;

/// Settings of one server, as the config gives them.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// Name (unique in its backend).
    pub name: String,
    /// Address.
    pub addr: SocketAddr,
    /// Weight 0..=256.
    pub weight: u16,
    /// Used only when no non-backup server is up.
    pub backup: bool,
    /// At most this many requests in flight.
    pub maxconn: Option<u32>,
    /// Value of the stickiness cookie.
    pub cookie: String,
    /// TCP connect timeout.
    pub timeout_connect: Duration,
    /// Inactivity timeout waiting for the server.
    pub timeout_server: Duration,
    /// The HTTP version spoken to the server (`proto`): HTTP/2 servers
    /// (`h2` over TLS, `h2c` in cleartext) get up to
    /// [`H2_STREAMS`] concurrent requests per connection.
    pub proto: Proto,
    /// A PROXY protocol header on every connection (`send_proxy`): HTTP
    /// connections then carry one client's requests only.
    pub send_proxy: Option<fairway_config::ProxyVersion>,
}

/// Concurrent requests (streams) per HTTP/2 server connection.
pub const H2_STREAMS: usize = 100;

/// One upstream server and its live state.
#[derive(Debug)]
pub struct Server {
    spec: ServerSpec,
    peer: HttpPeer,
    /// The peer's connection-pool key, hashed once.
    pool_key: u64,
    weight: AtomicU16,
    effective: AtomicU16,
    up: AtomicBool,
    admin: AtomicU8,
    active: AtomicUsize,
    total: AtomicU64,
    failures: AtomicU64,
    since: Mutex<Instant>,
    rtts: Mutex<VecDeque<Duration>>,
    rtt_window: usize,
    ewma: PeakEwma,
    /// The responses it gave, by status class.
    responses: Responses,
    /// Errors in a row and ejection (`outlier`).
    outlier: Outlier,
    discovered: AtomicBool,
    /// Its `addr` is a host name that `dns` has not resolved yet.
    unresolved: AtomicBool,
    slot_freed: Arc<Notify>,
    tls: Option<crate::tls::Client>,
    /// SHA-256 of the certificates a `ca` file of the server's own
    /// self-signed certificates pins (see [`Server::check_pin`]).
    pins: Option<Box<[Vec<u8>]>>,
}

/// Per-server settings that come from the backend's algorithm.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Health-check round-trip times kept (`latency.window`).
    pub rtt_window: usize,
    /// `ewma.default_rtt`.
    pub ewma_default_rtt: Duration,
    /// `ewma.decay`.
    pub ewma_decay: Duration,
    /// `outlier.consecutive_errors`; 0: no outlier ejection.
    pub outlier_errors: u32,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            rtt_window: DEFAULT_RTT_WINDOW,
            ewma_default_rtt: Duration::from_millis(30),
            ewma_decay: Duration::from_secs(10),
            outlier_errors: 0,
        }
    }
}

impl Server {
    /// A server; `slot_freed` is notified whenever a request on a server
    /// with `maxconn` ends (the backend's queue waits on it).
    pub fn new(spec: ServerSpec, slot_freed: Arc<Notify>) -> Self {
        Server::with_options(spec, slot_freed, &ServerOptions::default())
    }

    /// As [`Server::new`], with algorithm settings.
    pub fn with_options(
        spec: ServerSpec,
        slot_freed: Arc<Notify>,
        options: &ServerOptions,
    ) -> Self {
        Server::with_tls(spec, slot_freed, options, None)
    }

    /// As [`Server::with_options`], speaking TLS to the server when `tls`
    /// is given (`tls: true`): HTTP requests, `mode: tcp` connections and
    /// health checks alike, with its `sni`, `verify` and `ca`.
    pub fn with_tls(
        spec: ServerSpec,
        slot_freed: Arc<Notify>,
        options: &ServerOptions,
        tls: Option<&UpstreamTls>,
    ) -> Self {
        let sni = tls.map_or_else(String::new, |t| t.sni.clone());
        let mut peer = HttpPeer::new(spec.addr, tls.is_some(), sni);
        let pins = tls
            .and_then(|t| {
                t.ca.as_ref()
                    .filter(|ca| t.verify && ca.is_pinned_for(&t.sni))
            })
            .map(|ca| {
                ca.certs
                    .iter()
                    .map(pingora::tls::hash_certificate)
                    .collect()
            });
        if let Some(t) = tls {
            // Pinned certificates: Pingora checks the handshake's signatures
            // only, and `check_pin` the certificate after the connect.
            peer.options.verify_cert = t.verify && pins.is_none();
            peer.options.verify_hostname = t.verify && pins.is_none();
            if let Some(ca) = &t.ca {
                use pingora::utils::tls::{parse_x509, WrappedX509};
                // The loader parsed every certificate with the same parser.
                let certs: Vec<WrappedX509> = ca
                    .certs
                    .iter()
                    .map(|c| WrappedX509::new(c.to_vec(), parse_x509))
                    .collect();
                peer.options.ca = Some(Arc::from(certs.into_boxed_slice()));
                // Pooled connections are not shared with peers trusting other CAs.
                peer.group_key = group_key(&ca.path);
            }
        }
        if spec.proto != Proto::H1 {
            // HTTP/2 only (ALPN h2 over TLS; prior knowledge in cleartext).
            peer.options.set_http_version(2, 2);
            peer.options.max_h2_streams = H2_STREAMS;
        }
        peer.options.connection_timeout = Some(spec.timeout_connect);
        peer.options.total_connection_timeout = tls.map(|_| spec.timeout_connect.saturating_mul(2));
        peer.options.read_timeout = Some(spec.timeout_server);
        peer.options.write_timeout = Some(spec.timeout_server);
        peer.options.idle_timeout = Some(Duration::from_secs(60));
        let spec_addr = spec.addr;
        let h2 = spec.proto == Proto::H2;
        Server {
            weight: AtomicU16::new(spec.weight),
            effective: AtomicU16::new(spec.weight),
            spec,
            pool_key: pingora::upstreams::peer::Peer::reuse_hash(&peer),
            peer,
            up: AtomicBool::new(true),
            admin: AtomicU8::new(0),
            active: AtomicUsize::new(0),
            total: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            since: Mutex::new(Instant::now()),
            rtts: Mutex::new(VecDeque::with_capacity(options.rtt_window.max(1))),
            rtt_window: options.rtt_window.max(1),
            ewma: PeakEwma::new(options.ewma_default_rtt, options.ewma_decay, now_ns()),
            responses: Responses::default(),
            outlier: Outlier::new(options.outlier_errors),
            discovered: AtomicBool::new(false),
            unresolved: AtomicBool::new(false),
            slot_freed,
            tls: tls.map(|t| {
                let client = crate::tls::Client::new(t, spec_addr);
                match h2 {
                    true => client.with_alpn_h2(),
                    false => client,
                }
            }),
            pins,
        }
    }

    /// Checks a new TLS connection to a server whose `ca` pins its own
    /// certificates: it must have presented one of them (the handshake
    /// proved it holds its key). Nothing to check otherwise.
    pub fn check_pin(
        &self,
        ssl: Option<&pingora::protocols::tls::SslDigest>,
    ) -> pingora::Result<()> {
        let Some(pins) = &self.pins else {
            return Ok(());
        };
        match ssl {
            Some(d) if pins.contains(&d.cert_digest) => Ok(()),
            // A bad server: 502, as for a certificate that does not verify.
            _ => Err(pingora::Error::explain(
                pingora::ErrorType::InvalidCert,
                "the server's certificate is not the one pinned by `ca`",
            )
            .into_up()),
        }
    }

    /// A server with its own (unshared) queue notifier, for tests and tools.
    pub fn standalone(spec: ServerSpec) -> Self {
        Server::new(spec, Arc::new(Notify::new()))
    }

    /// The settings it was built from.
    pub fn spec(&self) -> &ServerSpec {
        &self.spec
    }

    /// The server's name in the config.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.spec.addr
    }

    /// Whether this is a backup server.
    pub fn is_backup(&self) -> bool {
        self.spec.backup
    }

    /// `maxconn`, if set.
    pub fn maxconn(&self) -> Option<u32> {
        self.spec.maxconn
    }

    /// The stickiness cookie value.
    pub fn cookie(&self) -> &str {
        &self.spec.cookie
    }

    /// The current weight (0..=256): the configured one unless changed at run time.
    pub fn weight(&self) -> u16 {
        self.weight.load(Ordering::Relaxed)
    }

    /// Sets the weight (the caller rebuilds the backend's selector).
    pub fn set_weight(&self, weight: u16) {
        self.weight
            .store(weight.min(fairway_config::MAX_WEIGHT), Ordering::Relaxed);
    }

    /// The weight the balancer gives it now (after health, state, backups
    /// and the `latency` ranking); set when the backend's selector is rebuilt.
    pub fn effective_weight(&self) -> u16 {
        self.effective.load(Ordering::Relaxed)
    }

    pub(crate) fn set_effective_weight(&self, weight: u16) {
        self.effective.store(weight, Ordering::Relaxed);
    }

    /// Whether the server came from discovery (etcd or a file) rather than
    /// the config's `servers`.
    pub fn is_discovered(&self) -> bool {
        self.discovered.load(Ordering::Relaxed)
    }

    /// Marks the server as discovered.
    pub fn mark_discovered(&self) {
        self.discovered.store(true, Ordering::Relaxed);
    }

    /// Whether the server has an address. A server whose `addr` is a host
    /// name that its backend's `dns` has not resolved yet has none (its
    /// [`addr`](Self::addr) is a placeholder): it takes no requests and is
    /// not health-checked; the first resolution replaces it by a server
    /// with the address ([`Control::set_addr`](crate::control::Control::set_addr)).
    pub fn has_addr(&self) -> bool {
        !self.unresolved.load(Ordering::Relaxed)
    }

    /// Marks the server as having no address yet (see [`Server::has_addr`]).
    pub fn mark_unresolved(&self) {
        self.unresolved.store(true, Ordering::Relaxed);
    }

    /// The peak-EWMA estimate of its response latency, fed by every
    /// attempt's [`InFlight`] handle and read by `balance: ewma`.
    pub fn ewma(&self) -> &PeakEwma {
        &self.ewma
    }

    /// The responses it gave, by status class (the stats page's counts).
    pub fn responses(&self) -> &Responses {
        &self.responses
    }

    /// Its errors in a row and ejection (`outlier` of its backend).
    pub fn outlier(&self) -> &Outlier {
        &self.outlier
    }

    /// Whether the health check says the server is up (always true without checks).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Records a health transition; returns whether the state changed.
    pub fn set_up(&self, up: bool) -> bool {
        let changed = self.up.swap(up, Ordering::Relaxed) != up;
        if changed {
            self.touch();
        }
        changed
    }

    /// The administrative state.
    pub fn admin_state(&self) -> AdminState {
        AdminState::from_u8(self.admin.load(Ordering::Relaxed))
    }

    /// Sets the administrative state.
    pub fn set_admin_state(&self, state: AdminState) {
        let v = match state {
            AdminState::Ready => 0,
            AdminState::Drain => 1,
            AdminState::Maint => 2,
        };
        if self.admin.swap(v, Ordering::Relaxed) != v {
            self.touch();
        }
    }

    /// When the health or administrative state last changed.
    pub fn last_change(&self) -> Instant {
        self.since.lock().map_or_else(|e| *e.into_inner(), |t| *t)
    }

    fn touch(&self) {
        if let Ok(mut t) = self.since.lock() {
            *t = Instant::now();
        }
    }

    /// Whether the server may take a new request: it has an address, is
    /// up, ready, weight > 0 and not ejected (`outlier`). Every balance
    /// algorithm goes by this one test (see [`Backend`](crate::balance::Backend)).
    pub fn is_available(&self) -> bool {
        self.has_addr()
            && self.is_up()
            && self.admin_state() == AdminState::Ready
            && self.weight() > 0
            && !self.outlier.is_ejected()
    }

    /// Whether it is under its `maxconn` now.
    pub fn has_capacity(&self) -> bool {
        self.spec
            .maxconn
            .is_none_or(|m| self.active.load(Ordering::Relaxed) < m as usize)
    }

    /// Requests in flight to this server now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Requests sent to this server since start.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Connection failures to this server since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The Pingora peer to connect to (a clone of the prepared template).
    pub fn peer(&self) -> HttpPeer {
        self.peer.clone()
    }

    /// The peer connections to this server are made to (no copy).
    pub fn peer_ref(&self) -> &HttpPeer {
        &self.peer
    }

    /// The key of this server's idle connections in [`pool`]: the peer's
    /// `reuse_hash`, computed once.
    pub fn pool_key(&self) -> u64 {
        self.pool_key
    }

    /// The TLS client for this server, when it has `tls: true`.
    pub fn tls(&self) -> Option<&crate::tls::Client> {
        self.tls.as_ref()
    }

    pub(crate) fn record_failure(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Records the round-trip time of one health check (the last `window`
    /// are kept, [`DEFAULT_RTT_WINDOW`] unless `latency.window` says otherwise).
    pub fn record_rtt(&self, rtt: Duration) {
        if let Ok(mut rtts) = self.rtts.lock() {
            if rtts.len() == self.rtt_window {
                rtts.pop_front();
            }
            rtts.push_back(rtt);
        }
    }

    /// The recent health-check round-trip times, oldest first.
    pub fn rtts(&self) -> Vec<Duration> {
        self.rtts
            .lock()
            .map(|r| r.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The `p`-th percentile (0..=100, nearest rank) of the recent
    /// health-check round-trip times; `None` without samples.
    pub fn rtt_percentile(&self, p: u8) -> Option<Duration> {
        let mut v = self.rtts();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let rank = (usize::from(p.min(100)) * v.len()).div_ceil(100).max(1);
        v.get(rank - 1).copied()
    }

    /// Takes over the state of `old`, the same server in the previous
    /// runtime: health, administrative state, runtime weight (when the
    /// configured weight did not change), counters, latency data and
    /// ejection (while its backend still has `outlier`).
    pub fn inherit(&self, old: &Server) {
        self.up.store(old.is_up(), Ordering::Relaxed);
        self.admin
            .store(old.admin.load(Ordering::Relaxed), Ordering::Relaxed);
        if old.spec.weight == self.spec.weight {
            self.weight.store(old.weight(), Ordering::Relaxed);
        }
        self.total.store(old.total(), Ordering::Relaxed);
        self.failures.store(old.failures(), Ordering::Relaxed);
        self.responses.inherit(&old.responses);
        if let (Ok(mut mine), Ok(theirs)) = (self.rtts.lock(), old.rtts.lock()) {
            *mine = theirs
                .iter()
                .rev()
                .take(self.rtt_window)
                .rev()
                .copied()
                .collect();
        }
        if let (Ok(mut t), Ok(o)) = (self.since.lock(), old.since.lock()) {
            *t = *o;
        }
        self.ewma.copy_from(&old.ewma);
        self.outlier.inherit(&old.outlier);
    }

    /// Marks one request as in flight until the returned guard is dropped,
    /// whatever way the request ends (success, error or client abort).
    /// Fails when the server is at its `maxconn`.
    pub fn try_begin(self: &Arc<Self>) -> Option<InFlight> {
        match self.spec.maxconn {
            None => {
                self.active.fetch_add(1, Ordering::Relaxed);
            }
            Some(max) => {
                let max = max as usize;
                self.active
                    .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |a| {
                        (a < max).then_some(a + 1)
                    })
                    .ok()?;
            }
        }
        self.total.fetch_add(1, Ordering::Relaxed);
        Some(InFlight {
            server: Arc::clone(self),
            started: Some(now_ns()),
        })
    }
}

/// An attempt in flight on a [`Server`]: it holds one of the server's
/// `maxconn` slots and measures the attempt into the server's latency
/// estimate ([`Server::ewma`]), whatever the backend's algorithm and
/// whether the attempt is an HTTP request or a TCP connection. The outcome
/// is recorded once: [`answered`](Self::answered) or
/// [`failed`](Self::failed), or, when the handle is dropped with neither
/// (a timeout, the client gone), the time the attempt took as a sample.
/// Dropping it frees the slot.
#[derive(Debug)]
pub struct InFlight {
    server: Arc<Server>,
    /// When the attempt started ([`ewma::now_ns`] clock); `None` once its
    /// outcome is recorded.
    started: Option<u64>,
}

impl InFlight {
    /// The server this request went to.
    pub fn server(&self) -> &Arc<Server> {
        &self.server
    }

    /// The server answered at `now` (response headers, or a TCP connect):
    /// the time since the start is a latency sample; an answer that is not
    /// `ok` (a 5xx) counts as a penalty instead. Either way it is the
    /// attempt's outcome for outlier ejection.
    pub fn answered(&mut self, ok: bool, now: u64) {
        if let Some(start) = self.started.take() {
            self.server.outlier.record(ok);
            if ok {
                let rtt = std::time::Duration::from_nanos(now.saturating_sub(start));
                self.server.ewma.observe(rtt, now);
            } else {
                self.server.ewma.penalize(now);
            }
        }
    }

    /// Records a latency the caller measured itself, at `now` (a
    /// simulation on virtual time, say), instead of the time since the
    /// start.
    pub fn observed(&mut self, rtt: std::time::Duration, now: u64) {
        if self.started.take().is_some() {
            self.server.ewma.observe(rtt, now);
        }
    }

    /// The attempt failed at `now` (refused, reset, no answer at all): the
    /// server's failure count goes up and its estimate takes a penalty; an
    /// error for outlier ejection.
    pub fn failed(&mut self, now: u64) {
        self.server.record_failure();
        if self.started.take().is_some() {
            self.server.outlier.record(false);
            self.server.ewma.penalize(now);
        }
    }

    /// The server failed the attempt at `now` after the connection was
    /// made and before any answer (a timeout, a reset, a malformed
    /// response): an error for outlier ejection, and what it took is a
    /// latency sample, as when the handle is dropped without a verdict.
    /// Nothing once the outcome is recorded.
    pub fn broke(&mut self, now: u64) {
        if self.started.is_some() {
            self.server.outlier.record(false);
            self.unanswered(now);
        }
    }
}

impl InFlight {
    /// Ended at `now` without an answer: what it took is a lower bound of
    /// the latency, and a sample (a timeout teaches the estimate).
    fn unanswered(&mut self, now: u64) {
        if let Some(start) = self.started.take() {
            let rtt = std::time::Duration::from_nanos(now.saturating_sub(start));
            self.server.ewma.observe(rtt, now);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.started.is_some() {
            self.unanswered(now_ns());
        }
        self.server.active.fetch_sub(1, Ordering::AcqRel);
        if self.server.spec.maxconn.is_some() {
            self.server.slot_freed.notify_one();
        }
    }
}

/// HTTP responses counted by status class (HAProxy's `hrsp_1xx` ..
/// `hrsp_other`), kept by the frontend, backend or server that answered,
/// for the stats page; lock-free.
#[derive(Debug, Default)]
pub struct Responses([AtomicU64; 6]);

impl Responses {
    /// Counts one response with status `code` (0, no response: not counted).
    pub fn record(&self, code: u16) {
        let slot = match code {
            0 => return,
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            500..=599 => 4,
            _ => 5,
        };
        self.0[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts: 1xx, 2xx, 3xx, 4xx, 5xx, other.
    pub fn counts(&self) -> [u64; 6] {
        std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed))
    }

    /// Takes over `old`'s counts (the same object in the previous runtime).
    pub fn inherit(&self, old: &Responses) {
        for (mine, theirs) in self.0.iter().zip(&old.0) {
            mine.store(theirs.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }
}

/// A key that keeps pooled connections apart per trusted CA file.
fn group_key(path: &std::path::Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn spec(name: &str, weight: u16) -> ServerSpec {
        ServerSpec {
            name: name.into(),
            addr: "127.0.0.1:1".parse().unwrap(),
            weight,
            backup: false,
            maxconn: None,
            cookie: name.into(),
            timeout_connect: Duration::from_secs(1),
            timeout_server: Duration::from_secs(1),
            proto: fairway_config::Proto::H1,
            send_proxy: None,
        }
    }

    #[test]
    fn in_flight_is_exact_and_maxconn_is_enforced() {
        let s = Arc::new(Server::standalone(ServerSpec {
            maxconn: Some(2),
            ..spec("a", 1)
        }));
        let g1 = s.try_begin().unwrap();
        let g2 = s.try_begin().unwrap();
        assert!(s.try_begin().is_none());
        assert!(!s.has_capacity());
        drop(g1);
        assert_eq!(s.active(), 1);
        let _g3 = s.try_begin().unwrap();
        drop(g2);
        assert_eq!((s.active(), s.total()), (1, 3));
    }

    #[test]
    fn every_attempt_is_measured_once() {
        let s = Arc::new(Server::standalone(spec("a", 1)));
        let now = now_ns();
        let before = s.ewma().estimate_ns(now);
        // A slow answer raises the estimate (peak) at once.
        let mut g = s.try_begin().unwrap();
        g.started = Some(now);
        g.answered(true, now + 900_000_000);
        let slow = s.ewma().estimate_ns(now + 900_000_000);
        assert!(slow >= 899_000_000.0 && slow > before, "{slow}");
        // Recorded once: dropping the handle adds nothing.
        drop(g);
        assert_eq!(s.ewma().estimate_ns(now + 900_000_000), slow);
        // A failure counts and is a penalty, for any algorithm.
        let mut g = s.try_begin().unwrap();
        g.failed(now + 900_000_000);
        assert_eq!(s.failures(), 1);
        assert!(s.ewma().estimate_ns(now + 900_000_000) > slow);
        drop(g);
        // No verdict (a timeout, an abort): the time it took is a sample.
        let t = Arc::new(Server::standalone(spec("b", 1)));
        let mut g = t.try_begin().unwrap();
        g.started = Some(now);
        g.unanswered(now + 5_000_000_000);
        let after = t.ewma().estimate_ns(now + 5_000_000_000);
        assert!(after >= 4_999_000_000.0, "{after}");
        drop(g);
        assert_eq!(t.ewma().estimate_ns(now + 5_000_000_000), after);
        assert_eq!(t.active(), 0);
    }

    #[test]
    fn rtt_window_and_percentile() {
        let s = Server::standalone(spec("a", 1));
        assert_eq!(s.rtt_percentile(90), None);
        for ms in 1..=30u64 {
            s.record_rtt(Duration::from_millis(ms));
        }
        assert_eq!(s.rtts().len(), DEFAULT_RTT_WINDOW);
        // Window holds 11..=30 ms; p90 of 20 samples is the 18th: 28 ms.
        assert_eq!(s.rtt_percentile(90), Some(Duration::from_millis(28)));
        assert_eq!(s.rtt_percentile(100), Some(Duration::from_millis(30)));
        assert_eq!(s.rtt_percentile(0), Some(Duration::from_millis(11)));
    }

    #[test]
    fn availability() {
        let s = Server::standalone(spec("a", 1));
        assert!(s.is_available());
        s.set_admin_state(AdminState::Drain);
        assert!(!s.is_available());
        s.set_admin_state(AdminState::Ready);
        assert!(s.set_up(false));
        assert!(!s.set_up(false));
        assert!(!s.is_available());
        s.set_up(true);
        s.set_weight(0);
        assert!(!s.is_available());
        let t = Server::standalone(spec("b", 1));
        t.mark_unresolved();
        assert!(
            !t.has_addr() && !t.is_available(),
            "no address, no requests"
        );
    }
}
