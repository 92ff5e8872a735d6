//! Periodic rebuilds of the backends whose algorithm's weights follow live
//! figures ([`SelectorFactory::refresh`](crate::balance::SelectorFactory::refresh)).

use std::time::Duration;

/// Rebuilds every backend of the running configuration whose algorithm
/// asks for it ([`SelectorFactory::refresh`](crate::balance::SelectorFactory::refresh): `latency` every
/// `latency.interval`); health transitions rebuild at once, through
/// [`Backend::rebuild`](crate::balance::Backend::rebuild).
pub struct Refresher {
    runtime: std::sync::Arc<arc_swap::ArcSwap<crate::Runtime>>,
}

impl Refresher {
    /// An updater following `runtime` across reloads.
    pub fn new(runtime: std::sync::Arc<arc_swap::ArcSwap<crate::Runtime>>) -> Self {
        Refresher { runtime }
    }

    /// Rebuilds the latency backends whose interval has passed at `now`;
    /// `due` remembers each backend's next time (keyed by its address).
    pub fn tick(
        &self,
        now: std::time::Instant,
        due: &mut std::collections::HashMap<usize, std::time::Instant>,
    ) {
        let rt = self.runtime.load();
        let mut live = std::collections::HashSet::new();
        for backend in rt.backends() {
            let Some(interval) = backend.refresh_interval() else {
                continue;
            };
            let key = std::sync::Arc::as_ptr(backend) as usize;
            live.insert(key);
            let next = due.entry(key).or_insert(now);
            if now >= *next {
                backend.rebuild();
                *next = now + interval;
            }
        }
        due.retain(|k, _| live.contains(k));
    }
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for Refresher {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        let mut due = std::collections::HashMap::new();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = tick.tick() => self.tick(std::time::Instant::now(), &mut due),
                _ = shutdown.changed() => break,
            }
        }
    }
}
