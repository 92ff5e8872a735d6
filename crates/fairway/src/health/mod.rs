//! Active health checks (SPEC §2 `health_check`).
//!
//! [`HealthChecker`] is a Pingora background service. For every server of
//! every backend that has a `health_check`, it runs one [`check`] every
//! `interval` (a TCP connect, or an HTTP/1.1 request whose status must be in
//! `expect_status`), feeds the result to the server's [`RiseFall`], and on a
//! transition marks the server up or down ([`Server::set_up`]) and rebuilds
//! its backend's selector, so that traffic stops or resumes at once. The
//! round-trip time of every passed check goes to [`Server::record_rtt`]
//! (the `latency` algorithm ranks servers by its p90).
//!
//! One log line per transition, at `warn` for down and `info` for up; each
//! failed check is logged at `debug`:
//!
//! ```text
//! server down backend=app server=s1 reason=connection refused checks=3
//! server up backend=app server=s1 checks=2
//! check failed backend=app server=s1 reason=timeout after 1s
//! ```
//!
//! `checks=N` is the number of consecutive checks that caused the
//! transition (`fall` or `rise`).
//!
//! Health belongs to the [`Server`] object: the checker keeps one check task
//! per server object and follows the live runtime, so after a reload the
//! servers of the new runtime are checked and those that are gone are not;
//! a server object that survives a reload keeps its task and its rise/fall
//! count, and weight or state changes never reset its health.

mod probe;
mod rise_fall;

pub use probe::{
    check, check_server, check_with, parse_status_line, request_head, Failure, StatusLine,
    MAX_STATUS_LINE, USER_AGENT,
};
pub use rise_fall::{RiseFall, Transition};

use crate::balance::Backend;
use crate::upstream::Server;
use crate::Runtime;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use fairway_config::HealthCheck;
use log::{debug, info, warn};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// How often the checker looks for a new runtime (a reload).
const FOLLOW_PERIOD: Duration = Duration::from_millis(200);

/// The shortest time between two checks of one server, whatever the config says.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// The background service that runs the health checks of the live runtime.
///
/// Add it to a Pingora server with
/// `background_service("health check", HealthChecker::new(runtime))`;
/// [`Fairway::background_services`](crate::Fairway::background_services)
/// includes it.
pub struct HealthChecker {
    runtime: Arc<ArcSwap<Runtime>>,
}

impl HealthChecker {
    /// A checker for the runtime that `runtime` holds now and after every reload.
    pub fn new(runtime: Arc<ArcSwap<Runtime>>) -> Self {
        HealthChecker { runtime }
    }
}

#[async_trait]
impl BackgroundService for HealthChecker {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tasks = Tasks::default();
        // Holding the runtime (not just its address) makes "is it still the
        // same?" exact.
        let mut current: Option<Arc<Runtime>> = None;
        loop {
            let runtime = self.runtime.load_full();
            if current.as_ref().is_none_or(|c| !Arc::ptr_eq(c, &runtime)) {
                tasks.sync(runtime.backends());
                current = Some(runtime);
            }
            tokio::select! {
                _ = tokio::time::sleep(FOLLOW_PERIOD) => {}
                _ = shutdown.changed() => break,
            }
        }
        // Dropping `tasks` stops every check.
    }
}

/// The backends a checked server belongs to (normally one), replaced when a
/// reload keeps the server in a new backend object.
type Owners = Arc<ArcSwap<Vec<Arc<Backend>>>>;

/// The check task of one server.
struct Task {
    config: HealthCheck,
    owners: Owners,
    handle: JoinHandle<()>,
    // Keeps the server alive, so that its address stays a unique key.
    _server: Arc<Server>,
}

/// One check task per server object, keyed by the object's address.
#[derive(Default)]
struct Tasks {
    tasks: HashMap<usize, Task>,
}

fn key(server: &Arc<Server>) -> usize {
    Arc::as_ptr(server) as usize
}

/// When the `i`-th of `n` servers of a backend first checks: spread over one
/// interval so that the checks of a backend do not all go out at once.
fn spread(interval: Duration, i: usize, n: usize) -> Duration {
    let (i, n) = (
        u32::try_from(i).unwrap_or(u32::MAX),
        u32::try_from(n).unwrap_or(u32::MAX).max(1),
    );
    (interval / n).saturating_mul(i)
}

impl Tasks {
    /// Makes the running tasks match `backends`: starts checks for new
    /// servers, stops those of servers that are gone or whose settings
    /// changed, and points kept tasks at their new backend objects. A down
    /// server whose backend no longer has a health check is marked up.
    fn sync(&mut self, backends: &[Arc<Backend>]) {
        struct Wanted {
            server: Arc<Server>,
            owners: Vec<Arc<Backend>>,
            check: Option<(HealthCheck, Duration)>,
        }
        let mut wanted: HashMap<usize, Wanted> = HashMap::new();
        for backend in backends {
            let n = backend.servers().len();
            for (i, server) in backend.servers().iter().enumerate() {
                if !server.has_addr() {
                    // Nothing to check until `dns` resolves it.
                    continue;
                }
                let w = wanted.entry(key(server)).or_insert_with(|| Wanted {
                    server: Arc::clone(server),
                    owners: Vec::new(),
                    check: None,
                });
                w.owners.push(Arc::clone(backend));
                if let (None, Some(hc)) = (&w.check, backend.health_check()) {
                    w.check = Some((hc.clone(), spread(hc.interval, i, n)));
                }
            }
        }
        self.tasks.retain(|k, task| {
            let keep = wanted
                .get(k)
                .and_then(|w| w.check.as_ref())
                .is_some_and(|(hc, _)| *hc == task.config);
            if !keep {
                task.handle.abort();
            }
            keep
        });
        for (k, w) in wanted {
            match (w.check, self.tasks.get(&k)) {
                (Some(_), Some(task)) => task.owners.store(Arc::new(w.owners)),
                (Some((config, delay)), None) => {
                    let owners: Owners = Arc::new(ArcSwap::from_pointee(w.owners));
                    let handle = tokio::spawn(watch(
                        Arc::clone(&w.server),
                        config.clone(),
                        Arc::clone(&owners),
                        delay,
                    ));
                    self.tasks.insert(
                        k,
                        Task {
                            config,
                            owners,
                            handle,
                            _server: w.server,
                        },
                    );
                }
                (None, _) => {
                    // No check: always up (SPEC §2).
                    if !w.server.is_up() {
                        mark(&w.server, &w.owners, Transition::Up { checks: 0 }, None);
                    }
                }
            }
        }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in self.tasks.values() {
            task.handle.abort();
        }
    }
}

/// Checks `server` every `hc.interval`, first after `delay`, forever.
async fn watch(server: Arc<Server>, hc: HealthCheck, owners: Owners, delay: Duration) {
    let period = hc.interval.max(MIN_INTERVAL);
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + delay, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut state = RiseFall::new(hc.rise, hc.fall, server.is_up());
    loop {
        ticker.tick().await;
        let proto = server.spec().proto;
        let result = check_server(server.addr(), &hc, server.tls(), proto).await;
        let owners = owners.load();
        match result {
            Ok(rtt) => {
                server.record_rtt(rtt);
                if let Some(t) = state.observe(true) {
                    mark(&server, &owners, t, None);
                }
            }
            Err(failure) => {
                for b in owners.iter() {
                    debug!(
                        "check failed backend={} server={} reason={failure}",
                        b.name(),
                        server.name()
                    );
                }
                if let Some(t) = state.observe(false) {
                    mark(&server, &owners, t, Some(&failure));
                }
            }
        }
    }
}

/// Applies a transition: the server's health, its backends' selectors, the log.
fn mark(server: &Server, owners: &[Arc<Backend>], t: Transition, failure: Option<&Failure>) {
    let up = matches!(t, Transition::Up { .. });
    server.set_up(up);
    for b in owners {
        b.rebuild();
    }
    for b in owners {
        match (t, failure) {
            (Transition::Down { checks }, Some(reason)) => warn!(
                "server down backend={} server={} reason={reason} checks={checks}",
                b.name(),
                server.name()
            ),
            (Transition::Down { checks }, None) => warn!(
                "server down backend={} server={} checks={checks}",
                b.name(),
                server.name()
            ),
            (Transition::Up { checks }, _) => info!(
                "server up backend={} server={} checks={checks}",
                b.name(),
                server.name()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::BackendSpec;
    use crate::upstream::ServerSpec;
    use fairway_config::CheckKind;
    use std::net::SocketAddr;
    use tokio::net::TcpSocket;
    use tokio::sync::Notify;

    fn hc() -> HealthCheck {
        HealthCheck {
            kind: CheckKind::Tcp,
            method: "GET".into(),
            path: "/".into(),
            host: None,
            expect_status: (200, 399),
            interval: Duration::from_millis(20),
            timeout: Duration::from_millis(200),
            rise: 2,
            fall: 2,
        }
    }

    /// The settings of a plain backend `app` as the config crate builds
    /// them, with `health_check`.
    fn spec(health_check: Option<HealthCheck>) -> BackendSpec {
        let yaml = "frontends:\n  web:\n    bind: [\"127.0.0.1:1\"]\n    default_backend: app\n\
                    backends:\n  app:\n    servers: { s: { addr: \"127.0.0.1:1\" } }\n";
        let config = crate::Config::from_yaml_str(yaml, "inline").unwrap();
        let mut spec = crate::runtime::build_backend(&config.backends[0])
            .spec()
            .clone();
        spec.health_check = health_check;
        spec
    }

    fn server(name: &str, addr: SocketAddr) -> Arc<Server> {
        Arc::new(Server::standalone(ServerSpec {
            name: name.into(),
            addr,
            weight: 1,
            backup: false,
            maxconn: None,
            cookie: name.into(),
            timeout_connect: Duration::from_secs(1),
            timeout_server: Duration::from_secs(1),
            proto: fairway_config::Proto::H1,
            send_proxy: None,
        }))
    }

    /// A port that refuses connections until `listen` is called on the socket.
    fn closed_port() -> (TcpSocket, SocketAddr) {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socket.local_addr().unwrap();
        (socket, addr)
    }

    async fn eventually(what: &str, cond: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !cond() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for: {what}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn checks_take_a_dead_server_out_and_bring_it_back_in() {
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (dead_socket, dead_addr) = closed_port();
        let (a, b) = (
            server("a", live.local_addr().unwrap()),
            server("b", dead_addr),
        );
        let backend = Arc::new(Backend::with_servers(
            spec(Some(hc())),
            vec![Arc::clone(&a), Arc::clone(&b)],
            Arc::new(Notify::new()),
        ));
        let mut tasks = Tasks::default();
        tasks.sync(&[Arc::clone(&backend)]);
        assert_eq!(tasks.tasks.len(), 2);

        eventually("b down", || !b.is_up()).await;
        assert_eq!(backend.effective_weights(), vec![1, 0], "selector rebuilt");
        assert!(a.is_up());
        assert!(!a.rtts().is_empty(), "passed checks record their RTT");
        assert!(b.rtts().is_empty(), "failed checks record none");

        let _listener = dead_socket.listen(16).unwrap();
        eventually("b up", || b.is_up()).await;
        assert_eq!(backend.effective_weights(), vec![1, 1]);
    }

    #[tokio::test]
    async fn a_server_kept_across_a_reload_keeps_its_task_and_its_health() {
        let (socket, addr) = closed_port();
        let s = server("s", addr);
        let old = Arc::new(Backend::with_servers(
            spec(Some(hc())),
            vec![Arc::clone(&s)],
            Arc::new(Notify::new()),
        ));
        let mut tasks = Tasks::default();
        tasks.sync(&[old]);
        eventually("s down", || !s.is_up()).await;

        // A new backend object over the same server (what a reload that
        // reuses servers by identity builds); weight changes on the way.
        s.set_weight(5);
        let new = Arc::new(Backend::with_servers(
            spec(Some(hc())),
            vec![Arc::clone(&s)],
            Arc::new(Notify::new()),
        ));
        assert_eq!(new.effective_weights(), vec![0]);
        tasks.sync(&[Arc::clone(&new)]);
        assert_eq!(tasks.tasks.len(), 1);
        assert!(
            !s.is_up(),
            "health is not reset by a reload or a weight change"
        );

        // The kept task now rebuilds the new backend.
        let _listener = socket.listen(16).unwrap();
        eventually("s up", || s.is_up()).await;
        assert_eq!(new.effective_weights(), vec![5]);
    }

    #[tokio::test]
    async fn servers_that_are_gone_or_unchecked_are_left_alone() {
        let (_socket, addr) = closed_port();
        let s = server("s", addr);
        let checked = Arc::new(Backend::with_servers(
            spec(Some(hc())),
            vec![Arc::clone(&s)],
            Arc::new(Notify::new()),
        ));
        let mut tasks = Tasks::default();
        tasks.sync(&[checked]);
        eventually("s down", || !s.is_up()).await;

        // The health check is removed from the backend: s is up again, unchecked.
        let unchecked = Arc::new(Backend::with_servers(
            spec(None),
            vec![Arc::clone(&s)],
            Arc::new(Notify::new()),
        ));
        tasks.sync(&[Arc::clone(&unchecked)]);
        assert!(tasks.tasks.is_empty());
        assert!(s.is_up());
        assert_eq!(unchecked.effective_weights(), vec![1]);

        // A new runtime without the server: nothing is checked.
        tasks.sync(&[]);
        assert!(tasks.tasks.is_empty());
    }

    #[tokio::test]
    async fn a_changed_check_restarts_the_task_from_the_current_health() {
        let (_socket, addr) = closed_port();
        let s = server("s", addr);
        let make = |hc: HealthCheck| {
            Arc::new(Backend::with_servers(
                spec(Some(hc)),
                vec![Arc::clone(&s)],
                Arc::new(Notify::new()),
            ))
        };
        let mut tasks = Tasks::default();
        tasks.sync(&[make(hc())]);
        eventually("s down", || !s.is_up()).await;
        tasks.sync(&[make(HealthCheck { fall: 3, ..hc() })]);
        assert_eq!(tasks.tasks.len(), 1);
        assert_eq!(tasks.tasks.values().next().unwrap().config.fall, 3);
        assert!(!s.is_up());
    }

    #[tokio::test]
    async fn the_service_follows_runtime_swaps_and_stops_on_shutdown() {
        let yaml = |addr: SocketAddr| {
            format!(
                "frontends:\n  web:\n    bind: [\"127.0.0.1:1\"]\n    default_backend: app\n\
                 backends:\n  app:\n    health_check: {{ type: tcp, interval: 20ms, timeout: 200ms, rise: 1, fall: 1 }}\n    \
                 servers: {{ s: {{ addr: \"{addr}\" }} }}\n"
            )
        };
        let config = |addr| crate::Config::from_yaml_str(&yaml(addr), "inline").unwrap();
        let (_first_socket, first) = closed_port();
        let runtime = Arc::new(ArcSwap::from_pointee(Runtime::new(&config(first))));
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let checker = HealthChecker::new(Arc::clone(&runtime));
        let service = tokio::spawn(async move { checker.start(shutdown).await });

        let server_of = |rt: &Runtime| Arc::clone(&rt.backends()[0].servers()[0]);
        let s1 = server_of(&runtime.load());
        eventually("first server down", || !s1.is_up()).await;

        let (_second_socket, second) = closed_port();
        runtime.store(Arc::new(Runtime::new(&config(second))));
        let s2 = server_of(&runtime.load());
        assert!(s2.is_up(), "new servers start up");
        eventually("new server down", || !s2.is_up()).await;

        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), service)
            .await
            .unwrap()
            .unwrap();
    }

    #[test]
    fn first_checks_are_spread_over_one_interval() {
        let i = Duration::from_millis(100);
        assert_eq!(spread(i, 0, 4), Duration::ZERO);
        assert_eq!(spread(i, 3, 4), Duration::from_millis(75));
        assert_eq!(spread(i, 0, 0), Duration::ZERO);
    }
}
