//! Configuration reload on SIGHUP: re-read the file through
//! [`Control::reload`]; an invalid file changes nothing.

use crate::control::Control;
use async_trait::async_trait;
use log::{error, info, warn};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

/// The SIGHUP listener.
#[derive(Clone)]
pub struct Reloader {
    control: Control,
}

impl Reloader {
    /// Reloads through `control` on every SIGHUP.
    pub fn new(control: Control) -> Self {
        Reloader { control }
    }

    /// Reloads now (what SIGHUP does); logs the outcome.
    pub fn reload(&self) -> Result<(), crate::control::ControlError> {
        let result = self.control.reload();
        match &result {
            Ok(()) => info!("reload ok"),
            Err(e) => error!("reload failed, keeping the running configuration: {e}"),
        }
        result
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
                _ = hup.recv() => {
                    let _ = self.reload();
                }
                _ = shutdown.changed() => break,
            }
        }
    }
}
