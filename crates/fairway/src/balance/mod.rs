//! Backend server selection.
//!
//! A [`Backend`] owns its servers and a selection algorithm. Picking a server
//! is lock-free: the round-robin schedule is computed when the runtime is
//! built, and a pick is one atomic increment plus an index.

mod roundrobin;

pub use roundrobin::smooth_schedule;

use crate::upstream::Server;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A backend at run time: its servers, schedule and settings.
#[derive(Debug)]
pub struct Backend {
    name: String,
    servers: Vec<Arc<Server>>,
    primary: Box<[u32]>,
    backup: Box<[u32]>,
    cursor: AtomicUsize,
    retries: u32,
    redispatch: bool,
    timeout_server: Duration,
}

impl Backend {
    /// Builds a backend over `servers` (in config order).
    pub fn new(
        name: &str,
        servers: Vec<Arc<Server>>,
        retries: u32,
        redispatch: bool,
        timeout_server: Duration,
    ) -> Self {
        let weights = |backup: bool| -> Vec<u32> {
            servers
                .iter()
                .map(|s| {
                    if s.is_backup() == backup {
                        u32::from(s.weight())
                    } else {
                        0
                    }
                })
                .collect()
        };
        Backend {
            name: name.to_string(),
            primary: smooth_schedule(&weights(false)).into_boxed_slice(),
            backup: smooth_schedule(&weights(true)).into_boxed_slice(),
            servers,
            cursor: AtomicUsize::new(0),
            retries,
            redispatch,
            timeout_server,
        }
    }

    /// The backend's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The servers in config order.
    pub fn servers(&self) -> &[Arc<Server>] {
        &self.servers
    }

    /// Connection-failure retries.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// Whether a retry goes to another server.
    pub fn redispatch(&self) -> bool {
        self.redispatch
    }

    /// `timeout_server`.
    pub fn timeout_server(&self) -> Duration {
        self.timeout_server
    }

    /// Picks the next server in weighted round-robin order, skipping those
    /// for which `skip(index)` is true; backup servers are used only when no
    /// primary server can be picked. `None` when no server can take it.
    pub fn pick(&self, skip: impl Fn(usize) -> bool) -> Option<usize> {
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        for schedule in [&self.primary, &self.backup] {
            let len = schedule.len();
            for i in 0..len {
                let idx = schedule[(start.wrapping_add(i)) % len] as usize;
                if !skip(idx) {
                    return Some(idx);
                }
            }
        }
        None
    }
}
