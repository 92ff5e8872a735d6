//! Discovery from a watched file: a YAML mapping `name: "ip:port [weight]"`
//! or plain lines `name ip:port [weight]` (parsed by
//! [`fairway_config::parse_servers_file`]).
//!
//! Every `interval` (and at start) the file is read again if its size,
//! modification time or inode changed (an edit in place or a rename over
//! it), and the last good set is applied again (so the file stays the
//! source of truth after runtime changes). A file that cannot be read or
//! parsed keeps the previous set and is reported once per version; bad
//! entries of a good file are skipped and reported once.

use super::{Entry, Sink};
use fairway_config::parse_servers_file;
use log::info;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::time::MissedTickBehavior;

/// What identifies one version of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    len: u64,
    modified: Option<SystemTime>,
    dev: u64,
    ino: u64,
}

impl Version {
    fn of(meta: &std::fs::Metadata) -> Self {
        Version {
            len: meta.len(),
            modified: meta.modified().ok(),
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// Runs the discovery of one backend from `path` until aborted.
pub async fn run(mut sink: Sink, path: PathBuf, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut watch = Watch::new(path);
    loop {
        ticker.tick().await;
        watch.poll(&mut sink).await;
    }
}

/// The state of one watched file.
struct Watch {
    path: PathBuf,
    /// The version last read (applied or rejected).
    seen: Option<Version>,
    /// The last good set.
    servers: Option<(Vec<Entry>, Vec<String>)>,
    /// The last error reported, so that a lasting one is reported once.
    error: Option<String>,
}

impl Watch {
    fn new(path: PathBuf) -> Self {
        Watch {
            path,
            seen: None,
            servers: None,
            error: None,
        }
    }

    /// One look at the file: re-read it if it changed, apply the last good set.
    async fn poll(&mut self, sink: &mut Sink) {
        let mut fresh = false;
        match read_if_changed(&self.path, self.seen.as_ref()).await {
            Ok(None) => {}
            Ok(Some((version, text))) => {
                self.seen = Some(version);
                match parse_servers_file(&text) {
                    Ok((good, bad)) => {
                        let bad = bad.into_iter().map(|b| format!("entry={b}")).collect();
                        self.servers = Some((good, bad));
                        fresh = true;
                    }
                    Err(e) => self.fail(sink, format!("{}: {e}", self.path.display())),
                }
            }
            Err(e) => {
                // Read again once it is readable, even if unchanged.
                self.seen = None;
                self.fail(sink, e);
            }
        }
        if let Some((good, bad)) = &self.servers {
            match sink.apply(good, bad.clone()) {
                Ok(_) if fresh && self.error.is_some() => {
                    self.error = None;
                    info!(
                        "discovery synced backend={} source=file path={} servers={}",
                        sink.backend(),
                        self.path.display(),
                        sink.servers()
                    );
                }
                Ok(_) => {}
                Err(e) => self.fail(sink, e.to_string()),
            }
        }
    }

    fn fail(&mut self, sink: &Sink, err: String) {
        if self.error.as_ref() != Some(&err) {
            sink.error(&err);
            self.error = Some(err);
        }
    }
}

/// The file's text and version, if its version is not `seen`. A file that
/// changes while it is read is left for the next look.
async fn read_if_changed(
    path: &Path,
    seen: Option<&Version>,
) -> Result<Option<(Version, String)>, String> {
    let stat = |p: &Path| {
        let p = p.to_path_buf();
        async move { tokio::fs::metadata(&p).await.map(|m| Version::of(&m)) }
    };
    let err = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let before = stat(path).await.map_err(err)?;
    if seen == Some(&before) {
        return Ok(None);
    }
    let bytes = tokio::fs::read(path).await.map_err(err)?;
    let after = stat(path).await.map_err(err)?;
    if after != before {
        return Ok(None);
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("{}: the file is not UTF-8", path.display()))?;
    Ok(Some((after, text)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::Control;
    use crate::Runtime;
    use arc_swap::ArcSwap;
    use std::sync::Arc;

    #[tokio::test]
    async fn edits_apply_and_bad_files_keep_the_previous_set() {
        let dir = std::env::temp_dir().join(format!("fairway-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("servers.yaml");
        let yaml = format!(
            "frontends:\n  web:\n    bind: [\"127.0.0.1:1\"]\n    default_backend: app\n\
             backends:\n  app:\n    discovery: {{ file: {{ path: \"{}\" }} }}\n",
            path.display()
        );
        let config = crate::Config::from_yaml_str(&yaml, "inline").unwrap();
        let control = Control::new(Arc::new(ArcSwap::from_pointee(Runtime::new(&config))), None);
        let mut sink = Sink::new(
            control.clone(),
            "app",
            config.backends[0].discovery.as_ref().unwrap(),
        );
        let names = || -> Vec<String> {
            control
                .snapshot()
                .backend("app")
                .unwrap()
                .servers()
                .iter()
                .map(|s| format!("{}={}", s.name(), s.weight()))
                .collect()
        };
        let mut watch = Watch::new(path.clone());

        // Missing: an error, nothing applied.
        watch.poll(&mut sink).await;
        assert!(watch.error.as_deref().unwrap().contains("cannot read"));
        assert!(names().is_empty());

        std::fs::write(
            &path,
            "a: \"127.0.0.1:10\"\nb: \"127.0.0.1:11 4\"\nc: nope\n",
        )
        .unwrap();
        watch.poll(&mut sink).await;
        assert_eq!(names(), ["a=1", "b=4"]);
        assert!(watch.error.is_none());

        // Unparsable: the previous set stays.
        std::fs::write(&path, "a: [unclosed\n").unwrap();
        watch.poll(&mut sink).await;
        assert!(watch
            .error
            .as_deref()
            .unwrap()
            .contains("not a YAML mapping"));
        assert_eq!(names(), ["a=1", "b=4"]);

        // Plain lines.
        std::fs::write(&path, "# servers\nb 127.0.0.1:11\n").unwrap();
        watch.poll(&mut sink).await;
        assert_eq!(names(), ["b=1"]);

        // Unchanged: not read again, but re-applied over runtime changes.
        control.set_discovered("app", &[]).unwrap();
        watch.poll(&mut sink).await;
        assert_eq!(names(), ["b=1"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
