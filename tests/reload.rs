//! Zero-downtime changes under load: SIGHUP reloads (valid and invalid
//! files) and a graceful binary upgrade (`-u` + SIGQUIT), with concurrent
//! clients counting every failed request.

mod common;

use common::{Fairway, Upstream};
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Clients hammering the proxy until stopped; counts oks and failures.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    servers: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// Connections opened (keep-alive clients open one each unless the
    /// proxy closes theirs).
    opened: Arc<AtomicUsize>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Load {
    /// `clients` threads; keep-alive connections when `keep_alive`, else a
    /// new connection per request.
    fn start(addr: SocketAddr, clients: usize, keep_alive: bool) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let servers = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
        let opened = Arc::new(AtomicUsize::new(0));
        let threads = (0..clients)
            .map(|_| {
                let (stop, ok, failed, servers, opened) = (
                    stop.clone(),
                    ok.clone(),
                    failed.clone(),
                    servers.clone(),
                    opened.clone(),
                );
                thread::spawn(move || {
                    let mut conn: Option<(TcpStream, BufReader<TcpStream>)> = None;
                    while !stop.load(Ordering::Relaxed) {
                        let result = if keep_alive {
                            if conn.is_none() {
                                opened.fetch_add(1, Ordering::Relaxed);
                            }
                            keep_alive_get(addr, &mut conn)
                        } else {
                            Ok(common::get(addr, "/", &[]))
                        };
                        match result {
                            Ok(r) if r.status == 200 => {
                                ok.fetch_add(1, Ordering::Relaxed);
                                servers.lock().unwrap().insert(r.server().to_string());
                            }
                            Ok(r) => {
                                eprintln!("failed request: status {}", r.status);
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                eprintln!("failed request: {e}");
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failed,
            servers,
            opened,
            threads,
        }
    }

    fn ok(&self) -> usize {
        self.ok.load(Ordering::Relaxed)
    }

    fn servers(&self) -> std::collections::HashSet<String> {
        self.servers.lock().unwrap().clone()
    }

    /// Stops the clients; returns (ok, failed).
    fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// One request on a kept-alive connection (opened on first use). Any error
/// counts as a failure: a reload must not close kept-alive connections.
fn keep_alive_get(
    addr: SocketAddr,
    conn: &mut Option<(TcpStream, BufReader<TcpStream>)>,
) -> std::io::Result<common::Response> {
    if conn.is_none() {
        let s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let r = BufReader::new(s.try_clone()?);
        *conn = Some((s, r));
    }
    let Some((s, r)) = conn.as_mut() else {
        return Err(std::io::Error::other("no connection"));
    };
    let result = s
        .write_all(b"GET / HTTP/1.1\r\nhost: load\r\n\r\n")
        .and_then(|_| common::read_response(r, false));
    match &result {
        Ok(resp)
            if !resp
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close")) => {}
        _ => *conn = None,
    }
    result
}

const TWO_BACKENDS: &str = "frontends:\n  web:\n    bind: [\"127.0.0.1:{PORT}\"]\n    default_backend: one\nbackends:\n  one:\n    servers: { a: { addr: \"{UP0}\" } }\n  two:\n    servers: { b: { addr: \"{UP1}\" } }\n";

fn wait_for(load: &Load, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let start = load.ok();
    while load.ok() < start + at_least {
        assert!(Instant::now() < deadline, "load made no progress");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn reloads_under_load_fail_no_request() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let f = Fairway::start(TWO_BACKENDS, &[&a, &b]);
    let valid = std::fs::read_to_string(&f.conf).unwrap();
    let switched = valid.replace("default_backend: one", "default_backend: two");

    for keep_alive in [true, false] {
        let load = Load::start(f.addr, 4, keep_alive);
        wait_for(&load, 300);
        for round in 0..6 {
            // Alternate valid files, with an invalid one in between.
            let next = if round % 2 == 0 { &switched } else { &valid };
            std::fs::write(&f.conf, next).unwrap();
            f.signal("HUP");
            wait_for(&load, 150);
            std::fs::write(&f.conf, "frontends: [broken").unwrap();
            f.signal("HUP");
            wait_for(&load, 150);
        }
        std::fs::write(&f.conf, &valid).unwrap();
        f.signal("HUP");
        wait_for(&load, 150);
        let servers = load.servers();
        let opened = load.opened.load(Ordering::Relaxed);
        let (ok, failed) = load.finish();
        eprintln!("reload under load (keep-alive: {keep_alive}): {ok} ok, {failed} failed");
        if keep_alive {
            // Kept-alive connections stay open through every reload: no
            // client had to open a second one.
            assert_eq!(opened, 4, "connections opened by 4 keep-alive clients");
        }
        assert_eq!(
            failed,
            0,
            "keep-alive {keep_alive}: {failed} of {} failed",
            ok + failed
        );
        assert!(ok >= 2000, "thousands of requests: {ok}");
        assert!(
            servers.contains("a") && servers.contains("b"),
            "both configs served: {servers:?}"
        );
    }
    let log = f.log();
    assert!(
        log.contains("reload failed, keeping the running configuration"),
        "{log}"
    );
}

#[test]
fn graceful_upgrade_under_load_fails_no_request() {
    let a = Upstream::start("a");
    let mut old = Fairway::start(
        &TWO_BACKENDS.replace("frontends:", "global:\n  threads: 1\n  grace_period: 2s\n  pid_file: {DIR}/f.pid\n  upgrade_sock: {DIR}/upgrade.sock\nfrontends:"),
        &[&a, &a],
    );
    let load = Load::start(old.addr, 4, false);
    wait_for(&load, 300);

    // The new binary waits on upgrade_sock for the listeners...
    let log = std::fs::File::create(old.dir.join("new.log")).unwrap();
    let mut new = common::Group::spawn(
        Command::new(common::bin())
            .args(["-u", "-c"])
            .arg(&old.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log)),
    )
    .unwrap();
    // ...which the old one (named by pid_file, signalled by `-u` itself)
    // hands over, then drains and exits.
    let exited = old.wait_exit(Duration::from_secs(20));
    assert!(
        exited.is_some(),
        "the old process drained and exited:\n{}",
        old.log()
    );
    assert!(
        new.0.try_wait().unwrap().is_none(),
        "the new process runs:\n{}",
        std::fs::read_to_string(old.dir.join("new.log")).unwrap_or_default()
    );
    // The new process alone serves now, and pid_file names it.
    let pid = std::fs::read_to_string(old.dir.join("f.pid")).unwrap_or_default();
    assert_eq!(pid.trim(), new.0.id().to_string());
    wait_for(&load, 300);
    let (ok, failed) = load.finish();
    eprintln!("upgrade under load: {ok} ok, {failed} failed");
    drop(new);
    assert_eq!(failed, 0, "{failed} of {} failed", ok + failed);
    assert!(ok >= 1000, "{ok}");
}
