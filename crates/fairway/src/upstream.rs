//! Upstream servers and their live state.
//!
//! A [`Server`] is one `servers:` entry of a backend, with the counters that
//! the balancer, the stats page and the metrics read. Counters are atomics:
//! the request path never takes a lock.

use pingora::upstreams::peer::HttpPeer;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// One upstream server and its live counters.
#[derive(Debug)]
pub struct Server {
    name: String,
    addr: SocketAddr,
    weight: u16,
    backup: bool,
    peer: HttpPeer,
    active: AtomicUsize,
    total: AtomicU64,
    failures: AtomicU64,
}

impl Server {
    /// A server at `addr`; `connect`/`io` are the backend's `timeout_connect`
    /// and `timeout_server`.
    pub fn new(
        name: &str,
        addr: SocketAddr,
        weight: u16,
        backup: bool,
        connect: Duration,
        io: Duration,
    ) -> Self {
        let mut peer = HttpPeer::new(addr, false, String::new());
        peer.options.connection_timeout = Some(connect);
        peer.options.read_timeout = Some(io);
        peer.options.write_timeout = Some(io);
        peer.options.idle_timeout = Some(Duration::from_secs(60));
        Server {
            name: name.to_string(),
            addr,
            weight,
            backup,
            peer,
            active: AtomicUsize::new(0),
            total: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// The server's name in the config.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configured weight (0..=256).
    pub fn weight(&self) -> u16 {
        self.weight
    }

    /// Whether this is a backup server.
    pub fn is_backup(&self) -> bool {
        self.backup
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

    pub(crate) fn record_failure(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Marks one request as in flight until the returned guard is dropped,
    /// whatever way the request ends (success, error or client abort).
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.active.fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        InFlight {
            server: Arc::clone(self),
        }
    }
}

/// An in-flight request on a [`Server`]; dropping it ends the request.
#[derive(Debug)]
pub struct InFlight {
    server: Arc<Server>,
}

impl InFlight {
    /// The server this request went to.
    pub fn server(&self) -> &Arc<Server> {
        &self.server
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.server.active.fetch_sub(1, Ordering::Relaxed);
    }
}
