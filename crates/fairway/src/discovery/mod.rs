//! Service discovery (SPEC §2 `discovery`, seed 004): servers that come
//! from etcd or from a watched file, next to a backend's configured ones.
//!
//! [`Discoverer`] is a Pingora background service. It follows the live
//! runtime like the health checker does: every backend whose config has a
//! `discovery` section gets one task, restarted when a reload changes that
//! section and stopped when a reload removes it or the backend. Each task
//! turns what its source says into a complete set of `(name, addr, weight)`
//! and hands it to [`Control::set_discovered`], the one way a discovered set
//! is applied: unchanged servers are kept as they are (health, counters,
//! in-flight requests), new ones are health-checked, weighted, counted and
//! shown like configured ones, and a removed server finishes the requests
//! it has. fairway keeps no state of its own beyond the last set it
//! applied: several instances reading one etcd cluster agree because etcd
//! is the source of truth.
//!
//! * etcd (`discovery.etcd`, see [`etcd`](mod@etcd)): a range read of
//!   `prefix`, then a watch from the next revision, so puts and deletes
//!   apply at once, plus a full resync every `interval`. Key `PREFIX/NAME`,
//!   value `ip:port` or `ip:port weight`.
//! * file (`discovery.file`, see [`file`](mod@file)): the file is re-read
//!   when its size, modification time or inode changed, checked every
//!   `interval`.
//!
//! Errors never remove servers: when etcd is unreachable or the file is
//! unreadable or unparsable, the last applied set keeps serving and the
//! task retries (etcd: reconnecting with exponential backoff from 200 ms to
//! 5 s). A bad entry (bad name or value) is skipped and logged once while it
//! stays bad; the others apply. A bad entry counts as absent, so every
//! instance reading the same source serves the same set: a server whose
//! value is overwritten with garbage leaves, and comes back once fixed. The
//! log lines:
//!
//! ```text
//! discovery started backend=app source=etcd endpoints=http://127.0.0.1:2379 prefix=/apps/myapp/containers/
//! discovery synced backend=app source=etcd servers=2 revision=7
//! server discovered backend=app server=one addr=10.9.1.1:32001 weight=1
//! server gone backend=app server=one
//! discovery ignored backend=app source=etcd key=/apps/myapp/containers/x reason=invalid address `nope` (expected ip:port [weight])
//! discovery error backend=app source=etcd err=...; keeping 2 servers
//! discovery stopped backend=app
//! ```
//!
//! (`server discovered` and `server gone` come from
//! [`Control::set_discovered`].)
//!
//! The addresses of configured servers whose `addr` is a host name are
//! re-resolved by [`dns::Resolver`] when their backend has `dns`.

pub mod dns;
pub mod etcd;
pub mod file;

use crate::control::{Control, ControlError};
use crate::Runtime;
use async_trait::async_trait;
use fairway_config::{Config, Discovery, DiscoverySource};
use log::{info, warn};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often the service looks for a new runtime (a reload).
const FOLLOW_PERIOD: Duration = Duration::from_millis(200);

/// The shortest poll or resync period, whatever the config says.
const MIN_INTERVAL: Duration = Duration::from_millis(50);

/// One discovered server: name, address, weight (`None`: 1).
pub type Entry = (String, SocketAddr, Option<u16>);

/// The background service that runs the discovery of every backend of the
/// live runtime that has a `discovery` section.
///
/// [`Fairway::background_services`](crate::Fairway::background_services)
/// includes it.
pub struct Discoverer {
    control: Control,
}

impl Discoverer {
    /// Discovery for the runtime `control` writes, now and after reloads.
    pub fn new(control: Control) -> Self {
        Discoverer { control }
    }
}

#[async_trait]
impl BackgroundService for Discoverer {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tasks = Tasks::default();
        let mut current: Option<Arc<Runtime>> = None;
        loop {
            let runtime = self.control.snapshot();
            if current.as_ref().is_none_or(|c| !Arc::ptr_eq(c, &runtime)) {
                tasks.sync(&self.control, runtime.config()).await;
                current = Some(runtime);
            }
            tokio::select! {
                _ = tokio::time::sleep(FOLLOW_PERIOD) => {}
                _ = shutdown.changed() => break,
            }
        }
        // Dropping `tasks` stops every discovery task.
    }
}

/// The running discovery task of one backend.
struct Task {
    discovery: Discovery,
    handle: JoinHandle<()>,
}

/// One task per backend with `discovery`, keyed by backend name.
#[derive(Default)]
struct Tasks {
    tasks: HashMap<String, Task>,
}

impl Tasks {
    /// Makes the running tasks match `config`: stops the tasks of backends
    /// that are gone or lost their `discovery`, restarts those whose
    /// settings changed, starts the missing ones.
    async fn sync(&mut self, control: &Control, config: &Config) {
        let wanted: HashMap<&str, &Discovery> = config
            .backends
            .iter()
            .filter_map(|b| b.discovery.as_ref().map(|d| (b.name.as_str(), d)))
            .collect();
        let stale: Vec<String> = self
            .tasks
            .iter()
            .filter(|(name, task)| wanted.get(name.as_str()) != Some(&&task.discovery))
            .map(|(name, _)| name.clone())
            .collect();
        for name in stale {
            if let Some(task) = self.tasks.remove(&name) {
                task.handle.abort();
                // Wait until it has stopped, so that a set it was applying
                // cannot land after its successor's.
                let _ = task.handle.await;
                info!("discovery stopped backend={name}");
            }
        }
        for (name, discovery) in wanted {
            if self.tasks.contains_key(name) {
                continue;
            }
            let sink = Sink::new(control.clone(), name, discovery);
            let interval = discovery.interval.max(MIN_INTERVAL);
            let handle = match &discovery.source {
                DiscoverySource::Etcd(e) => {
                    info!(
                        "discovery started backend={name} source=etcd endpoints={} prefix={}",
                        e.endpoints.join(","),
                        e.prefix
                    );
                    tokio::spawn(etcd::run(sink, e.clone(), interval))
                }
                DiscoverySource::File(path) => {
                    info!(
                        "discovery started backend={name} source=file path={}",
                        path.display()
                    );
                    tokio::spawn(file::run(sink, path.clone(), interval))
                }
            };
            self.tasks.insert(
                name.to_string(),
                Task {
                    discovery: discovery.clone(),
                    handle,
                },
            );
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

/// Where a discovery task sends its sets: [`Control::set_discovered`] for
/// one backend, with the logging every source shares.
pub struct Sink {
    control: Control,
    backend: String,
    source: &'static str,
    /// The "ignored" lines of the last applied set, each logged once.
    warned: HashSet<String>,
}

impl Sink {
    /// A sink for the discovered servers of `backend`.
    pub fn new(control: Control, backend: &str, discovery: &Discovery) -> Self {
        let source = match discovery.source {
            DiscoverySource::Etcd(_) => "etcd",
            DiscoverySource::File(_) => "file",
        };
        Sink {
            control,
            backend: backend.to_string(),
            source,
            warned: HashSet::new(),
        }
    }

    /// The backend's name.
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// Applies a complete set: `servers` replace the backend's discovered
    /// servers; `ignored` describes the entries that were skipped (`key=K
    /// reason=R`), each logged at `warn` the first time it is seen, like
    /// the names [`Control::set_discovered`] skips. Returns whether the
    /// backend changed.
    pub fn apply(&mut self, servers: &[Entry], ignored: Vec<String>) -> Result<bool, ControlError> {
        let (changed, skipped) = self.control.set_discovered(&self.backend, servers)?;
        let now: HashSet<String> = ignored
            .into_iter()
            .chain(skipped.into_iter().map(|s| format!("reason={s}")))
            .collect();
        for line in &now {
            if !self.warned.contains(line) {
                warn!(
                    "discovery ignored backend={} source={} {line}",
                    self.backend, self.source
                );
            }
        }
        self.warned = now;
        Ok(changed)
    }

    /// How many discovered servers the backend has now.
    pub fn servers(&self) -> usize {
        self.control
            .snapshot()
            .backend(&self.backend)
            .map_or(0, |b| {
                b.servers().iter().filter(|s| s.is_discovered()).count()
            })
    }

    /// Logs a failure of the source; the servers stay as they are.
    pub fn error(&self, err: &dyn Display) {
        warn!(
            "discovery error backend={} source={} err={err}; keeping {} servers",
            self.backend,
            self.source,
            self.servers()
        );
    }
}

/// A server name as the config allows it: `[A-Za-z0-9_.-]+`.
pub use fairway_config::valid_name;

/// `err` followed by its sources: `a: b: c` (tonic and hyper keep the
/// useful part, such as "Connection refused", in the sources).
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.ends_with(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use arc_swap::ArcSwap;

    fn config(yaml_backend: &str) -> Config {
        let yaml = format!(
            "frontends:\n  web:\n    bind: [\"127.0.0.1:1\"]\n    default_backend: app\n\
             backends:\n  app:\n{yaml_backend}    servers: {{ s: {{ addr: \"127.0.0.1:1\" }} }}\n"
        );
        Config::from_yaml_str(&yaml, "inline").unwrap()
    }

    fn control(config: &Config) -> Control {
        Control::new(Arc::new(ArcSwap::from_pointee(Runtime::new(config))), None)
    }

    fn names(control: &Control) -> Vec<String> {
        control
            .snapshot()
            .backend("app")
            .unwrap()
            .servers()
            .iter()
            .map(|s| s.name().to_string())
            .collect()
    }

    #[test]
    fn names_follow_the_config_rule() {
        assert!(valid_name("web-1.a_b"));
        assert!(!valid_name(""));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("a b"));
        assert!(!valid_name("é"));
    }

    #[test]
    fn the_sink_applies_sets_and_reports_clashes() {
        let c = config("    discovery: { file: { path: /nonexistent } }\n");
        let control = control(&c);
        let mut sink = Sink::new(
            control.clone(),
            "app",
            c.backends[0].discovery.as_ref().unwrap(),
        );
        let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let changed = sink
            .apply(
                &[("d".into(), addr(2), None), ("s".into(), addr(3), None)],
                vec!["key=k reason=r".into()],
            )
            .unwrap();
        assert!(changed);
        assert_eq!(names(&control), ["s", "d"]);
        assert_eq!(sink.servers(), 1);
        assert_eq!(sink.warned.len(), 2, "the bad entry and the clash");
        assert!(!sink.apply(&[("d".into(), addr(2), None)], vec![]).unwrap());
        assert!(sink.warned.is_empty());
    }

    #[tokio::test]
    async fn tasks_follow_reloads() {
        let dir = std::env::temp_dir().join(format!("fairway-discovery-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (one, two) = (dir.join("one.txt"), dir.join("two.txt"));
        std::fs::write(&one, "a 127.0.0.1:10\n").unwrap();
        std::fs::write(&two, "b 127.0.0.1:11\n").unwrap();
        let with = |path: &std::path::Path| {
            config(&format!(
                "    discovery: {{ file: {{ path: \"{}\" }}, interval: 50ms }}\n",
                path.display()
            ))
        };
        let control = control(&with(&one));
        let mut tasks = Tasks::default();
        let eventually = |want: &'static [&'static str]| {
            let control = control.clone();
            async move {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
                while names(&control) != want {
                    assert!(tokio::time::Instant::now() < deadline, "want {want:?}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        };
        tasks.sync(&control, control.snapshot().config()).await;
        eventually(&["s", "a"]).await;

        // The same settings: the task is kept.
        control.apply(with(&one)).unwrap();
        assert_eq!(
            names(&control),
            ["s", "a"],
            "a reload keeps discovered servers"
        );
        tasks.sync(&control, control.snapshot().config()).await;
        assert_eq!(tasks.tasks.len(), 1);

        // Another file: the task restarts on it.
        control.apply(with(&two)).unwrap();
        tasks.sync(&control, control.snapshot().config()).await;
        eventually(&["s", "b"]).await;

        // No discovery any more: the task stops and the servers go.
        control.apply(config("")).unwrap();
        tasks.sync(&control, control.snapshot().config()).await;
        assert!(tasks.tasks.is_empty());
        assert_eq!(names(&control), ["s"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
