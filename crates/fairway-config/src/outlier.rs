//! `outlier` of a backend: passive outlier ejection settings.

use std::time::Duration;

/// `outlier` of a backend: passive ejection of the servers that fail real
/// traffic (no health check needed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outlier {
    /// Errors in a row that eject a server: responses with a 5xx status,
    /// connection failures, timeouts (default 5; `mode: tcp`: connection
    /// failures). A success resets the count.
    pub consecutive_errors: u32,
    /// How long a first ejection lasts (default 30 s); each repeat
    /// ejection doubles it, up to 10 times this, and a server that stayed
    /// in for one `eject` since its last readmission starts again here.
    pub eject: Duration,
    /// The most servers of the backend ejected at once (default 50%).
    pub max_ejected: MaxEjected,
}

impl Default for Outlier {
    fn default() -> Self {
        Outlier {
            consecutive_errors: 5,
            eject: Duration::from_secs(30),
            max_ejected: MaxEjected::Percent(50),
        }
    }
}

/// `outlier.max_ejected`: a share of a backend's servers (`50%`) or a
/// number of servers (`2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxEjected {
    /// Percent of the backend's servers (0..=100), rounded down: with
    /// `50%`, 1 of 2 or 3 servers, 2 of 4; never the only server.
    Percent(u8),
    /// At most this many servers.
    Count(u32),
}

impl MaxEjected {
    /// How many of `servers` servers may be ejected at once.
    pub fn limit(self, servers: usize) -> usize {
        match self {
            MaxEjected::Percent(p) => servers.saturating_mul(usize::from(p.min(100))) / 100,
            MaxEjected::Count(n) => usize::try_from(n).unwrap_or(usize::MAX).min(servers),
        }
    }
}

impl std::fmt::Display for MaxEjected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaxEjected::Percent(p) => write!(f, "{p}%"),
            MaxEjected::Count(n) => write!(f, "{n}"),
        }
    }
}
