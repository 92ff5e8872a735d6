//! A point-in-time picture of the runtime: what the stats page, `stats.json`,
//! the CSV and the runtime API show.
//!
//! [`Stats::collect`] reads one runtime snapshot once; every output format
//! renders the same [`Stats`], so the page, the JSON and the CSV agree.

use crate::balance::Backend;
use crate::upstream::{AdminState, Server};
use crate::Runtime;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Counts of HTTP responses by status class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Codes {
    /// 1xx responses.
    #[serde(rename = "1xx")]
    pub c1xx: u64,
    /// 2xx responses.
    #[serde(rename = "2xx")]
    pub c2xx: u64,
    /// 3xx responses.
    #[serde(rename = "3xx")]
    pub c3xx: u64,
    /// 4xx responses.
    #[serde(rename = "4xx")]
    pub c4xx: u64,
    /// 5xx responses.
    #[serde(rename = "5xx")]
    pub c5xx: u64,
    /// Other codes.
    pub other: u64,
}

impl Codes {
    /// Adds `n` responses with status `code`.
    pub fn add(&mut self, code: u16, n: u64) {
        let slot = match code {
            100..=199 => &mut self.c1xx,
            200..=299 => &mut self.c2xx,
            300..=399 => &mut self.c3xx,
            400..=499 => &mut self.c4xx,
            500..=599 => &mut self.c5xx,
            _ => &mut self.other,
        };
        *slot += n;
    }

    /// The counts in HAProxy's column order (`hrsp_1xx` .. `hrsp_other`).
    pub fn as_array(&self) -> [u64; 6] {
        [
            self.c1xx, self.c2xx, self.c3xx, self.c4xx, self.c5xx, self.other,
        ]
    }
}

/// Where response-code counts come from (the metrics registry); `None`
/// when they are not known.
pub trait CodeSource {
    /// Responses of a frontend.
    fn frontend(&self, frontend: &str) -> Option<Codes>;
    /// Responses of a backend (all its servers and its own 503s).
    fn backend(&self, backend: &str) -> Option<Codes>;
    /// Responses of one server.
    fn server(&self, backend: &str, server: &str) -> Option<Codes>;
}

/// No response-code counts.
pub struct NoCodes;

impl CodeSource for NoCodes {
    fn frontend(&self, _: &str) -> Option<Codes> {
        None
    }
    fn backend(&self, _: &str) -> Option<Codes> {
        None
    }
    fn server(&self, _: &str, _: &str) -> Option<Codes> {
        None
    }
}

/// The whole picture.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Process information.
    pub process: Process,
    /// Frontends in config order.
    pub frontends: Vec<FrontendStats>,
    /// Backends in config order.
    pub backends: Vec<BackendStats>,
}

/// Process information.
#[derive(Debug, Clone, Serialize)]
pub struct Process {
    /// `fairway`.
    pub name: &'static str,
    /// The crate version.
    pub version: &'static str,
    /// The process id.
    pub pid: u32,
    /// Seconds since the admin listener started.
    pub uptime_s: u64,
}

/// One frontend.
#[derive(Debug, Clone, Serialize)]
pub struct FrontendStats {
    /// Name.
    pub name: String,
    /// Listening addresses.
    pub bind: Vec<String>,
    /// Responses by status class, when the metrics know them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub responses: Option<Codes>,
}

/// One backend.
#[derive(Debug, Clone, Serialize)]
pub struct BackendStats {
    /// Name.
    pub name: String,
    /// Balance algorithm as written in the config.
    pub balance: String,
    /// `UP` when a server can take requests, else `DOWN`.
    pub status: &'static str,
    /// The health check (`http GET /`, `tcp`), if any.
    pub health_check: Option<String>,
    /// Requests waiting for a `maxconn` slot.
    pub queued: usize,
    /// Requests in flight (sum over servers).
    pub active: usize,
    /// Requests sent (sum over servers).
    pub total: u64,
    /// Connection failures (sum over servers).
    pub errors: u64,
    /// Sum of the servers' effective weights.
    pub effective_weight: u64,
    /// Non-backup servers that can take requests.
    pub active_servers: usize,
    /// Backup servers that can take requests.
    pub backup_servers: usize,
    /// Seconds since the most recent server state change.
    pub last_change_s: u64,
    /// Responses by status class, when the metrics know them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub responses: Option<Codes>,
    /// Servers in config order (then added ones).
    pub servers: Vec<ServerStats>,
}

/// One server.
#[derive(Debug, Clone, Serialize)]
pub struct ServerStats {
    /// Name.
    pub name: String,
    /// The address requests go to now (for a `dns` name, its latest
    /// answer); empty while a `dns` name has none yet.
    pub addr: String,
    /// `UP`, `DOWN`, `DRAIN` or `MAINT` (HAProxy's words; `MAINT` also
    /// while a `dns` name has no address yet), or `EJECTED` (`outlier`).
    pub status: &'static str,
    /// Administrative state: `ready`, `drain` or `maint`.
    pub state: &'static str,
    /// Health: `up` or `down`.
    pub health: &'static str,
    /// Whether a health check runs.
    pub checked: bool,
    /// Backup server.
    pub backup: bool,
    /// Current weight (runtime changes included).
    pub weight: u16,
    /// Weight from the config (or when added).
    pub initial_weight: u16,
    /// Weight the balancer gives it now.
    pub effective_weight: u16,
    /// p90 of recent health-check round trips, in milliseconds.
    pub check_latency_p90_ms: Option<f64>,
    /// Last health-check round trip, in milliseconds.
    pub last_check_ms: Option<f64>,
    /// Requests in flight.
    pub active: usize,
    /// Requests sent.
    pub total: u64,
    /// Connection failures.
    pub errors: u64,
    /// `maxconn`, if set.
    pub maxconn: Option<u32>,
    /// Seconds since health or state last changed.
    pub last_change_s: u64,
    /// Responses by status class, when the metrics know them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub responses: Option<Codes>,
    /// Whether `outlier` ejected it (see `status`).
    pub ejected: bool,
    /// What is left of its ejection, in milliseconds.
    pub ejected_remaining_ms: Option<u64>,
    /// Times `outlier` ejected it since start.
    pub ejections: u64,
}

impl Stats {
    /// Reads `rt` now; `started` is when the process (admin) started.
    pub fn collect(rt: &Runtime, started: Instant, codes: &dyn CodeSource) -> Stats {
        let now = Instant::now();
        Stats {
            process: Process {
                name: "fairway",
                version: env!("CARGO_PKG_VERSION"),
                pid: std::process::id(),
                uptime_s: now.saturating_duration_since(started).as_secs(),
            },
            frontends: rt
                .frontends()
                .iter()
                .map(|f| FrontendStats {
                    name: f.name.clone(),
                    bind: f.bind.iter().map(ToString::to_string).collect(),
                    responses: codes.frontend(&f.name),
                })
                .collect(),
            backends: rt
                .backends()
                .iter()
                .map(|b| backend(b, now, codes))
                .collect(),
        }
    }
}

fn backend(b: &Backend, now: Instant, codes: &dyn CodeSource) -> BackendStats {
    let checked = b.health_check().is_some();
    let servers: Vec<ServerStats> = b
        .servers()
        .iter()
        .map(|s| server(b.name(), s, checked, now, codes))
        .collect();
    let available = |backup: bool| {
        b.servers()
            .iter()
            .filter(|s| s.is_backup() == backup && s.is_available())
            .count()
    };
    let (active_servers, backup_servers) = (available(false), available(true));
    BackendStats {
        name: b.name().to_string(),
        balance: b.spec().balance.name(),
        status: if active_servers + backup_servers > 0 {
            "UP"
        } else {
            "DOWN"
        },
        health_check: b.health_check().map(|h| match h.kind {
            fairway_config::CheckKind::Tcp => "tcp".to_string(),
            fairway_config::CheckKind::Http => format!("http {} {}", h.method, h.path),
        }),
        queued: b.queued(),
        active: servers.iter().map(|s| s.active).sum(),
        total: servers.iter().map(|s| s.total).sum(),
        errors: servers.iter().map(|s| s.errors).sum(),
        effective_weight: servers.iter().map(|s| u64::from(s.effective_weight)).sum(),
        active_servers,
        backup_servers,
        last_change_s: servers.iter().map(|s| s.last_change_s).min().unwrap_or(0),
        responses: codes.backend(b.name()),
        servers,
    }
}

fn server(
    backend: &str,
    s: &Server,
    checked: bool,
    now: Instant,
    codes: &dyn CodeSource,
) -> ServerStats {
    let state = s.admin_state();
    let up = s.is_up();
    let ms = |d: Duration| (d.as_secs_f64() * 10_000.0).round() / 10.0;
    ServerStats {
        name: s.name().to_string(),
        addr: addr(s),
        status: server_status(s),
        state: state.as_str(),
        health: if up { "up" } else { "down" },
        checked,
        backup: s.is_backup(),
        weight: s.weight(),
        initial_weight: s.spec().weight,
        effective_weight: s.effective_weight(),
        check_latency_p90_ms: s.rtt_percentile(90).map(ms),
        last_check_ms: s.rtts().last().copied().map(ms),
        active: s.active(),
        total: s.total(),
        errors: s.failures(),
        maxconn: s.maxconn(),
        last_change_s: now.saturating_duration_since(s.last_change()).as_secs(),
        responses: codes.server(backend, s.name()),
        ejected: s.outlier().is_ejected(),
        ejected_remaining_ms: ejected_remaining_ms(s),
        ejections: s.outlier().ejections(),
    }
}

/// The address a server's requests go to now (its `dns` name's latest
/// answer); empty while a `dns` name has none yet.
pub fn addr(s: &Server) -> String {
    match s.has_addr() {
        true => s.addr().to_string(),
        false => String::new(),
    }
}

/// What is left of `s`'s ejection (`outlier`) now, in milliseconds.
pub fn ejected_remaining_ms(s: &Server) -> Option<u64> {
    s.outlier()
        .remaining(crate::upstream::ewma::now_ns())
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The status word of a server: [`status`], with `EJECTED` for an up
/// server that `outlier` ejected (maintenance and down come first), and
/// `MAINT` for a server whose `dns` name has no address yet (HAProxy's
/// `MAINT (resolution)`).
pub fn server_status(s: &Server) -> &'static str {
    if !s.has_addr() {
        return "MAINT";
    }
    match status(s.admin_state(), s.is_up()) {
        "UP" | "DRAIN" if s.outlier().is_ejected() => "EJECTED",
        word => word,
    }
}

/// HAProxy's status word: maintenance first, then health, then drain.
pub fn status(state: AdminState, up: bool) -> &'static str {
    match (state, up) {
        (AdminState::Maint, _) => "MAINT",
        (_, false) => "DOWN",
        (AdminState::Drain, true) => "DRAIN",
        (AdminState::Ready, true) => "UP",
    }
}

/// `3m12s`, `45s`, `2h05m`, `3d4h`: an age for humans.
pub fn age(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_haproxy() {
        assert_eq!(age(0), "0s");
        assert_eq!(age(59), "59s");
        assert_eq!(age(192), "3m12s");
        assert_eq!(age(3600 + 5 * 60), "1h05m");
        assert_eq!(age(3 * 86_400 + 4 * 3600 + 7), "3d4h");
    }

    #[test]
    fn status_precedence() {
        assert_eq!(status(AdminState::Ready, true), "UP");
        assert_eq!(status(AdminState::Ready, false), "DOWN");
        assert_eq!(status(AdminState::Drain, true), "DRAIN");
        assert_eq!(status(AdminState::Drain, false), "DOWN");
        assert_eq!(status(AdminState::Maint, true), "MAINT");
        assert_eq!(status(AdminState::Maint, false), "MAINT");
    }

    #[test]
    fn ejected_comes_after_maintenance_and_health() {
        let s = &crate::balance::testutil::servers(&[1])[0];
        assert_eq!(server_status(s), "UP");
        s.outlier()
            .eject(crate::upstream::ewma::now_ns(), Duration::from_secs(30));
        assert_eq!(server_status(s), "EJECTED");
        assert!(ejected_remaining_ms(s).is_some_and(|ms| ms > 29_000 && ms <= 30_000));
        s.set_admin_state(AdminState::Drain);
        assert_eq!(server_status(s), "EJECTED");
        s.set_up(false);
        assert_eq!(server_status(s), "DOWN");
        s.set_admin_state(AdminState::Maint);
        assert_eq!(server_status(s), "MAINT");
        s.outlier().readmit(crate::upstream::ewma::now_ns());
        s.set_admin_state(AdminState::Ready);
        s.set_up(true);
        assert_eq!((server_status(s), ejected_remaining_ms(s)), ("UP", None));
    }

    #[test]
    fn codes_by_class() {
        let mut c = Codes::default();
        c.add(200, 3);
        c.add(204, 1);
        c.add(503, 2);
        c.add(99, 1);
        assert_eq!(c.as_array(), [0, 4, 0, 0, 2, 1]);
    }
}
