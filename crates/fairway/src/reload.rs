//! Configuration reload: SIGHUP re-reads the file, builds a complete new
//! [`Runtime`] and swaps it in atomically. An invalid file changes nothing.

use crate::{Config, Runtime};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use log::{error, info, warn};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::path::PathBuf;
use std::sync::Arc;

/// Why a reload was refused; the running configuration stays.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The process was not started from a file.
    #[error("no configuration file to reload (started without -c)")]
    NoFile,
    /// The new file has errors.
    #[error("{0}")]
    Config(#[from] fairway_config::ConfigError),
    /// The new file changes what cannot change in a running process.
    #[error("{0}")]
    Incompatible(String),
}

/// Re-reads a config file into a shared runtime.
#[derive(Clone)]
pub struct Reloader {
    path: Option<PathBuf>,
    runtime: Arc<ArcSwap<Runtime>>,
}

impl Reloader {
    /// A reloader for `runtime` from the file at `path`.
    pub fn new(path: Option<PathBuf>, runtime: Arc<ArcSwap<Runtime>>) -> Self {
        Reloader { path, runtime }
    }

    /// Reads the file and, if it is valid, swaps the new runtime in.
    pub fn reload(&self) -> Result<(), ReloadError> {
        let path = self.path.as_ref().ok_or(ReloadError::NoFile)?;
        let config = Config::from_file(path)?;
        self.apply(&config)
    }

    /// Swaps in a runtime built from `config` if it is compatible with the
    /// running listeners.
    pub fn apply(&self, config: &Config) -> Result<(), ReloadError> {
        let next = Runtime::new(config);
        self.runtime
            .load()
            .check_replaceable_by(&next)
            .map_err(ReloadError::Incompatible)?;
        self.runtime.store(Arc::new(next));
        Ok(())
    }
}

#[async_trait]
impl BackgroundService for Reloader {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                warn!("cannot listen for SIGHUP, reload disabled: {e}");
                return;
            }
        };
        loop {
            tokio::select! {
                _ = hup.recv() => match self.reload() {
                    Ok(()) => info!("reload ok config={}", self.path.as_ref().map_or("-".into(), |p| p.display().to_string())),
                    Err(e) => error!("reload failed, keeping the running configuration: {e}"),
                },
                _ = shutdown.changed() => break,
            }
        }
    }
}
