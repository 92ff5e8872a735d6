//! Log levels for what clients do wrong, and a log destination written
//! off the request path ([`Background`]).
//!
//! Pingora logs every request it could not proxy at `error`, whoever was
//! at fault. A client that sends a malformed chunk, a too-large head or
//! hangs up mid-response is a client's mistake, not an operator's
//! problem: [`ClientErrorsAtInfo`] wraps the process logger and passes
//! Pingora's downstream failures on at `info`. Upstream failures (a
//! server's bad response, a timeout) stay at `error`.

mod background;

pub use background::{Background, Flusher};
use log::{Level, Log, Metadata, Record};

/// A logger that re-levels Pingora's client-side failures to `info`
/// before handing every record to the wrapped logger.
///
/// ```no_run
/// let inner = env_logger::Builder::new().build();
/// let max = inner.filter();
/// log::set_boxed_logger(Box::new(fairway::logging::ClientErrorsAtInfo::new(inner))).unwrap();
/// log::set_max_level(max);
/// ```
pub struct ClientErrorsAtInfo<L> {
    inner: L,
}

impl<L: Log> ClientErrorsAtInfo<L> {
    /// Wraps `inner`.
    pub fn new(inner: L) -> Self {
        ClientErrorsAtInfo { inner }
    }
}

/// Whether an `error` record is Pingora's report of a client's fault.
fn client_fault(record: &Record<'_>) -> bool {
    if !record.target().starts_with("pingora") {
        return false;
    }
    // Only Pingora's error records reach this formatting: rare, off the
    // request path of a healthy client.
    let text = record.args().to_string();
    text.starts_with("Fail to proxy: Downstream")
        || text.starts_with("failed to send error response to downstream")
}

impl<L: Log> Log for ClientErrorsAtInfo<L> {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
            || (metadata.level() == Level::Error
                && metadata.target().starts_with("pingora")
                && self.inner.enabled(
                    &Metadata::builder()
                        .level(Level::Info)
                        .target(metadata.target())
                        .build(),
                ))
    }

    fn log(&self, record: &Record<'_>) {
        if record.level() == Level::Error && client_fault(record) {
            let relevel = Record::builder()
                .args(*record.args())
                .level(Level::Info)
                .target(record.target())
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .build();
            if self.inner.enabled(relevel.metadata()) {
                self.inner.log(&relevel);
            }
            return;
        }
        if self.inner.enabled(record.metadata()) {
            self.inner.log(record);
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Keep(Mutex<Vec<(Level, String)>>);

    impl Log for Keep {
        fn enabled(&self, m: &Metadata<'_>) -> bool {
            m.level() <= Level::Info
        }
        fn log(&self, r: &Record<'_>) {
            self.0
                .lock()
                .unwrap()
                .push((r.level(), r.args().to_string()));
        }
        fn flush(&self) {}
    }

    fn record(level: Level, target: &str, text: &str, out: &ClientErrorsAtInfo<Keep>) {
        out.log(
            &Record::builder()
                .args(format_args!("{text}"))
                .level(level)
                .target(target)
                .build(),
        );
    }

    #[test]
    fn client_faults_go_to_info_and_server_faults_stay_errors() {
        let l = ClientErrorsAtInfo::new(Keep::default());
        record(
            Level::Error,
            "pingora_proxy",
            "Fail to proxy: Downstream InvalidChunk",
            &l,
        );
        record(
            Level::Error,
            "pingora_proxy",
            "Fail to proxy: Upstream ConnectionClosed",
            &l,
        );
        record(Level::Error, "fairway", "Fail to proxy: Downstream x", &l);
        record(Level::Debug, "pingora_proxy", "noise", &l);
        let kept = l.inner.0.lock().unwrap().clone();
        assert_eq!(
            kept,
            [
                (
                    Level::Info,
                    "Fail to proxy: Downstream InvalidChunk".to_string()
                ),
                (
                    Level::Error,
                    "Fail to proxy: Upstream ConnectionClosed".to_string()
                ),
                (Level::Error, "Fail to proxy: Downstream x".to_string()),
            ]
        );
    }
}
