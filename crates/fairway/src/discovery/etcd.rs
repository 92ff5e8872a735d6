//! Discovery from etcd (seed 004: confd over `apps/myapp/containers/*`).
//!
//! Keys `PREFIX/NAME`, values `ip:port` or `ip:port weight`. One session:
//! connect (user/password and TLS when configured), range-read the prefix
//! and apply it, then watch the prefix from the next revision and apply
//! every put and delete as it arrives, with a full range read every
//! `interval` (a resync that also proves the connection alive). Any error
//! ends the session: the last applied servers stay, and a new session
//! starts after a backoff that doubles from 200 ms to 5 s (back to 200 ms
//! once a session has synced).
//!
//! The prefix is a directory: `/apps/myapp/containers` and
//! `/apps/myapp/containers/` both watch the keys under
//! `/apps/myapp/containers/`, and the rest of a key is the server name. A
//! name that is not `[A-Za-z0-9_.-]+` (such as a deeper key `a/b`) or a value
//! that does not parse is skipped and logged once; the other keys apply.

use super::{chain, valid_name, Entry, Sink};
use crate::control::ControlError;
use etcd_client::{
    Certificate, Client, ConnectOptions, EventType, GetOptions, KeyValue, TlsOptions, WatchOptions,
    WatchResponse,
};
use fairway_config::{parse_server_value, EtcdDiscovery};
use log::{info, warn};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::{timeout, Instant, MissedTickBehavior};

/// First retry delay after an error.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
/// Longest retry delay.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Limit on connecting to an endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Limit on one request (range read, watch creation).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// HTTP/2 keep-alive pings while the watch is open, and how long to wait
/// for their answer (etcd refuses pings more often than every 5 s).
const KEEP_ALIVE: (Duration, Duration) = (Duration::from_secs(10), Duration::from_secs(5));

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// etcd answered with an error or could not be reached.
    #[error("{}", describe(.0))]
    Etcd(#[from] etcd_client::Error),
    /// etcd did not answer in time.
    #[error("{0} timed out after {1:?}")]
    Timeout(&'static str, Duration),
    /// etcd ended the watch.
    #[error("{0}")]
    Watch(String),
    /// The CA file could not be read.
    #[error("cannot read ca {0}: {1}")]
    Ca(String, std::io::Error),
    /// The backend is gone (a reload removed it; the task is being stopped).
    #[error("{0}")]
    Apply(#[from] ControlError),
}

/// An etcd error in one line: for a gRPC status its code, message and root
/// cause (`Unavailable: tcp connect error: Connection refused (os error
/// 111)`), otherwise the error and its sources.
fn describe(err: &etcd_client::Error) -> String {
    match err {
        etcd_client::Error::GRpcStatus(status) => {
            let mut text = format!("{:?}: {}", status.code(), status.message());
            let mut root = std::error::Error::source(status);
            while let Some(next) = root.and_then(|r| r.source()) {
                root = Some(next);
            }
            if let Some(root) = root.map(|r| r.to_string()) {
                if !text.contains(&root) {
                    text.push_str(": ");
                    text.push_str(&root);
                }
            }
            text
        }
        other => chain(other),
    }
}

/// The key prefix with a trailing `/`.
pub fn dir_prefix(prefix: &str) -> String {
    if prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    }
}

/// Runs the discovery of one backend from etcd until aborted.
pub async fn run(mut sink: Sink, conf: EtcdDiscovery, interval: Duration) {
    let https = conf.endpoints.iter().any(|e| e.starts_with("https://"));
    if conf.ca.is_some() && !https {
        warn!(
            "discovery backend={} source=etcd: `ca` is ignored with http:// endpoints",
            sink.backend()
        );
    }
    let mut state = State::new(dir_prefix(&conf.prefix));
    let mut backoff = BACKOFF_MIN;
    loop {
        let (failure, synced) = session(&mut sink, &mut state, &conf, interval).await;
        sink.error(&failure);
        if synced {
            backoff = BACKOFF_MIN;
        }
        // A little jitter, so that many instances do not reconnect in step.
        let jitter = backoff.mul_f64(fastrand::f64() * 0.2);
        tokio::time::sleep(backoff + jitter).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One connection's life: connect, read, watch, resync until an error.
/// Returns the error and whether the session got as far as a first sync.
async fn session(
    sink: &mut Sink,
    state: &mut State,
    conf: &EtcdDiscovery,
    interval: Duration,
) -> (Failure, bool) {
    let mut client = match connect(conf).await {
        Ok(c) => c,
        Err(f) => return (f, false),
    };
    let mut revision = match resync(&mut client, sink, state).await {
        Ok(r) => r,
        Err(f) => return (f, false),
    };
    info!(
        "discovery synced backend={} source=etcd servers={} revision={revision}",
        sink.backend(),
        sink.servers()
    );
    let options = WatchOptions::new()
        .with_prefix()
        .with_start_revision(revision + 1);
    let watch = timeout(
        REQUEST_TIMEOUT,
        client.watch(state.prefix.as_bytes(), Some(options)),
    );
    let mut stream = match watch.await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return (e.into(), true),
        Err(_) => return (Failure::Timeout("watch", REQUEST_TIMEOUT), true),
    };
    let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let step = tokio::select! {
            message = stream.message() => match message {
                Ok(Some(response)) => watched(sink, state, &response, revision),
                Ok(None) => Err(Failure::Watch("watch closed by etcd".into())),
                Err(e) => Err(e.into()),
            },
            _ = ticker.tick() => resync(&mut client, sink, state).await.map(|r| revision = r),
        };
        if let Err(f) = step {
            return (f, true);
        }
    }
}

/// A client for `conf`'s endpoints, with its credentials and TLS settings.
async fn connect(conf: &EtcdDiscovery) -> Result<Client, Failure> {
    let mut options = ConnectOptions::new()
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_keep_alive(KEEP_ALIVE.0, KEEP_ALIVE.1);
    if let (Some(user), Some(password)) = (&conf.user, &conf.password) {
        options = options
            .with_user(user.clone(), password.clone())
            .with_auto_token_refresh(true);
    }
    if conf.endpoints.iter().any(|e| e.starts_with("https://")) {
        let tls = match &conf.ca {
            Some(ca) => {
                let pem = tokio::fs::read(ca)
                    .await
                    .map_err(|e| Failure::Ca(ca.display().to_string(), e))?;
                TlsOptions::new().ca_certificate(Certificate::from_pem(pem))
            }
            None => TlsOptions::new().with_native_roots(),
        };
        options = options.with_tls(tls);
    }
    match timeout(
        REQUEST_TIMEOUT,
        Client::connect(&conf.endpoints, Some(options)),
    )
    .await
    {
        Ok(client) => Ok(client?),
        Err(_) => Err(Failure::Timeout("connect", REQUEST_TIMEOUT)),
    }
}

/// A full range read of the prefix, applied. Returns its revision.
async fn resync(client: &mut Client, sink: &mut Sink, state: &mut State) -> Result<i64, Failure> {
    let get = client.get(
        state.prefix.as_bytes(),
        Some(GetOptions::new().with_prefix()),
    );
    let response = match timeout(REQUEST_TIMEOUT, get).await {
        Ok(r) => r?,
        Err(_) => return Err(Failure::Timeout("range read", REQUEST_TIMEOUT)),
    };
    let revision = response.header().map_or(0, |h| h.revision());
    state.replace(response.kvs());
    state.apply(sink)?;
    Ok(revision)
}

/// Applies one watch response; events at or below `synced` (the revision of
/// the last range read, which already has them) are skipped.
fn watched(
    sink: &mut Sink,
    state: &mut State,
    response: &WatchResponse,
    synced: i64,
) -> Result<(), Failure> {
    if response.canceled() {
        let reason = match response.compact_revision() {
            0 => response.cancel_reason().to_string(),
            r => format!("revision compacted to {r}"),
        };
        return Err(Failure::Watch(format!("watch canceled by etcd: {reason}")));
    }
    let mut changed = false;
    for event in response.events() {
        let Some(kv) = event.kv() else { continue };
        if kv.mod_revision() <= synced {
            continue;
        }
        changed |= match event.event_type() {
            EventType::Put => state.put(kv.key(), kv.value()),
            EventType::Delete => state.delete(kv.key()),
        };
    }
    if changed {
        state.apply(sink)?;
    }
    Ok(())
}

/// The keys under the prefix as etcd has them, raw.
#[derive(Debug)]
pub struct State {
    prefix: String,
    kvs: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl State {
    /// No keys yet, under `prefix` (with its trailing `/`).
    pub fn new(prefix: String) -> Self {
        State {
            prefix,
            kvs: BTreeMap::new(),
        }
    }

    /// Replaces every key with a range read's.
    pub fn replace(&mut self, kvs: &[KeyValue]) {
        self.kvs = kvs
            .iter()
            .map(|kv| (kv.key().to_vec(), kv.value().to_vec()))
            .collect();
    }

    /// Sets a key; returns whether anything changed.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> bool {
        self.kvs.insert(key.to_vec(), value.to_vec()).as_deref() != Some(value)
    }

    /// Deletes a key; returns whether it existed.
    pub fn delete(&mut self, key: &[u8]) -> bool {
        self.kvs.remove(key).is_some()
    }

    /// The servers the keys describe (in key order), and a `key=K
    /// reason=R` line per skipped key.
    pub fn servers(&self) -> (Vec<Entry>, Vec<String>) {
        let mut good = Vec::new();
        let mut bad = Vec::new();
        for (key, value) in &self.kvs {
            let key = String::from_utf8_lossy(key);
            match self.entry(&key, value) {
                Ok(e) => good.push(e),
                Err(reason) => bad.push(format!("key={key} reason={reason}")),
            }
        }
        (good, bad)
    }

    fn entry(&self, key: &str, value: &[u8]) -> Result<Entry, String> {
        let name = key.strip_prefix(self.prefix.as_str()).unwrap_or(key);
        if name.is_empty() {
            return Err("empty server name".into());
        }
        if !valid_name(name) {
            return Err(format!(
                "invalid server name `{name}` (allowed characters: A-Z a-z 0-9 _ . -)"
            ));
        }
        let value = std::str::from_utf8(value).map_err(|_| "value is not UTF-8".to_string())?;
        let (addr, weight) = parse_server_value(value.trim())?;
        Ok((name.to_string(), addr, weight))
    }

    /// Applies the servers through `sink`.
    pub fn apply(&self, sink: &mut Sink) -> Result<bool, ControlError> {
        let (good, bad) = self.servers();
        sink.apply(&good, bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn prefixes_are_directories() {
        assert_eq!(dir_prefix("/apps/x"), "/apps/x/");
        assert_eq!(dir_prefix("/apps/x/"), "/apps/x/");
    }

    #[test]
    fn keys_become_servers_and_bad_ones_are_reported() {
        let mut s = State::new("/apps/myapp/containers/".into());
        assert!(s.put(b"/apps/myapp/containers/two", b"10.9.1.2:32002 3"));
        assert!(s.put(b"/apps/myapp/containers/one", b"10.9.1.1:32001"));
        assert!(!s.put(b"/apps/myapp/containers/one", b"10.9.1.1:32001"));
        s.put(b"/apps/myapp/containers/bad", b"nonsense");
        s.put(b"/apps/myapp/containers/deep/er", b"10.9.1.3:1");
        s.put(b"/apps/myapp/containers/", b"10.9.1.4:1");
        s.put(b"/apps/myapp/containers/heavy", b"10.9.1.5:1 999");
        let (good, bad) = s.servers();
        let addr = |a: &str| a.parse::<SocketAddr>().unwrap();
        assert_eq!(
            good,
            vec![
                ("one".to_string(), addr("10.9.1.1:32001"), None),
                ("two".to_string(), addr("10.9.1.2:32002"), Some(3)),
            ]
        );
        assert_eq!(bad.len(), 4, "{bad:?}");
        assert!(bad[0].starts_with("key=/apps/myapp/containers/ reason=empty server name"));
        assert!(bad[1].contains("key=/apps/myapp/containers/bad reason=invalid address"));
        assert!(bad[2].contains("invalid server name `deep/er`"));
        assert!(bad[3].contains("invalid weight `999`"));
        assert!(s.delete(b"/apps/myapp/containers/bad"));
        assert!(!s.delete(b"/apps/myapp/containers/bad"));
    }
}
