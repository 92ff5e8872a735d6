//! Test helpers: real upstream servers on loopback, the real `fairway`
//! binary, and a raw HTTP/1.1 client that sends paths exactly as written.
//!
//! Every listener is on 127.0.0.1 with an OS-chosen port.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// A port on 127.0.0.1 that was free a moment ago and that no other test of
/// this process has been given. Ports come from 20000-31999, below the
/// kernel's ephemeral range (32768+), so an outgoing connection never takes
/// a port a test is about to listen on; every listener of the tests (proxies
/// and upstreams) gets its port here.
pub fn free_port() -> u16 {
    static NEXT: OnceLock<Mutex<u16>> = OnceLock::new();
    let next = NEXT.get_or_init(|| Mutex::new(20000 + (std::process::id() % 120) as u16 * 100));
    let mut next = next.lock().unwrap();
    loop {
        let port = *next;
        *next = if port >= 31999 { 20000 } else { port + 1 };
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Binds a listener on a port from [`free_port`].
pub fn listen() -> TcpListener {
    loop {
        if let Ok(l) = TcpListener::bind(("127.0.0.1", free_port())) {
            return l;
        }
    }
}

/// What an upstream saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A real HTTP/1.1 upstream on 127.0.0.1: answers `200` with body
/// `NAME TARGET`, records every request, supports keep-alive.
/// `/delay/MS...` waits MS milliseconds before answering.
pub struct Upstream {
    pub name: String,
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    delay_ms: Arc<std::sync::atomic::AtomicU64>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: Arc<(AtomicUsize, AtomicUsize)>,
}

impl Upstream {
    /// The most requests this server was answering at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.in_flight.1.load(Ordering::SeqCst)
    }

    /// Requests this server is answering now (read, not yet answered).
    pub fn in_flight(&self) -> usize {
        self.in_flight.0.load(Ordering::SeqCst)
    }

    /// Delays every later answer (health checks included) by `delay`.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Requests from clients: those not sent by fairway's health checker.
    pub fn client_hits(&self) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.header("user-agent") != Some("fairway-health"))
            .count()
    }

    pub fn start(name: &str) -> Upstream {
        let listener = listen();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let delay_ms = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let in_flight = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let (n, s, h, st, d, fl) = (
            name.to_string(),
            seen.clone(),
            hits.clone(),
            stop.clone(),
            delay_ms.clone(),
            in_flight.clone(),
        );
        thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (n, s, h, d, fl) = (n.clone(), s.clone(), h.clone(), d.clone(), fl.clone());
                thread::spawn(move || serve(conn, &n, &s, &h, &d, &fl));
            }
        });
        Upstream {
            name: name.to_string(),
            addr,
            seen,
            hits,
            stop,
            delay_ms,
            in_flight,
        }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn last(&self) -> Seen {
        self.seen()
            .last()
            .cloned()
            .expect("upstream saw no request")
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(
    conn: TcpStream,
    name: &str,
    seen: &Mutex<Vec<Seen>>,
    hits: &AtomicUsize,
    delay_ms: &std::sync::atomic::AtomicU64,
    in_flight: &(AtomicUsize, AtomicUsize),
) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        let mut content_length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let (k, v) = (k.trim().to_string(), v.trim().to_string());
                if k.eq_ignore_ascii_case("content-length") {
                    content_length = v.parse().unwrap_or(0);
                }
                headers.push((k, v));
            }
        }
        let mut body = vec![0; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        hits.fetch_add(1, Ordering::SeqCst);
        seen.lock().unwrap().push(Seen {
            method: method.clone(),
            target: target.clone(),
            headers,
        });
        let now = in_flight.0.fetch_add(1, Ordering::SeqCst) + 1;
        in_flight.1.fetch_max(now, Ordering::SeqCst);
        let delay = delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            thread::sleep(Duration::from_millis(delay));
        }
        if let Some(ms) = target.strip_prefix("/delay/") {
            let ms: u64 = ms
                .split(['/', '?'])
                .next()
                .unwrap_or("0")
                .parse()
                .unwrap_or(0);
            thread::sleep(Duration::from_millis(ms));
        }
        let body = format!("{name} {target}");
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nx-server: {name}\r\n\r\n{body}",
            body.len()
        );
        // Out of flight before the answer leaves: once the proxy has read
        // it, it may send the next request here at once, and a count still
        // held would see one request too many.
        in_flight.0.fetch_sub(1, Ordering::SeqCst);
        let sent = out.write_all(resp.as_bytes());
        if sent.is_err() {
            return;
        }
    }
}

/// A response as a client sees it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The upstream that answered (its `x-server` header).
    pub fn server(&self) -> &str {
        self.header("x-server").unwrap_or("")
    }
}

/// Reads one response from `reader` (content-length or read-to-close).
pub fn read_response(reader: &mut impl BufRead, head_only: bool) -> std::io::Result<Response> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut resp = Response {
        status,
        headers,
        body: String::new(),
    };
    if head_only {
        return Ok(resp);
    }
    let mut body = Vec::new();
    if let Some(len) = resp
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    } else if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim(), 16).map_err(std::io::Error::other)?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        reader.read_to_end(&mut body)?;
    }
    resp.body = String::from_utf8_lossy(&body).into_owned();
    Ok(resp)
}

/// Sends `GET target` exactly as written (no client-side normalization) with
/// extra header lines, and reads the response.
pub fn get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Response {
    request(addr, "GET", target, headers)
}

pub fn request(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> Response {
    let mut s = TcpStream::connect(addr).expect("connect to proxy");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    read_response(&mut BufReader::new(s), method == "HEAD").expect("read response")
}

/// `GET target` (with `connection: close`) from a chosen loopback source
/// address such as 127.0.0.2, and its response.
pub fn get_from(src: [u8; 4], addr: SocketAddr, target: &str) -> Response {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((src, 0)).into()).unwrap();
    sock.connect(&addr.into()).unwrap();
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    read_response(&mut BufReader::new(s), false).unwrap()
}

/// A running `fairway` process.
pub struct Fairway {
    pub child: Child,
    pub dir: PathBuf,
    pub conf: PathBuf,
    pub addr: SocketAddr,
    log: PathBuf,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_fairway")
}

/// A fresh temp dir under the target dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "fairway-test-{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Fairway {
    /// Starts fairway on `yaml`, where `{PORT}` is replaced by a free port
    /// (the first frontend's), `{DIR}` by a temp dir, and `{UPn}` by the
    /// address of `upstreams[n]`. Waits until the port accepts connections.
    pub fn start(yaml: &str, upstreams: &[&Upstream]) -> Fairway {
        Fairway::start_with_env(yaml, upstreams, &[])
    }

    /// [`Fairway::start`] with `env` added to fairway's environment.
    pub fn start_with_env(yaml: &str, upstreams: &[&Upstream], env: &[(&str, &str)]) -> Fairway {
        let port = free_port();
        let dir = temp_dir("proxy");
        let mut text = yaml
            .replace("{PORT}", &port.to_string())
            .replace("{DIR}", dir.to_str().unwrap());
        for (i, up) in upstreams.iter().enumerate() {
            text = text.replace(&format!("{{UP{i}}}"), &up.addr.to_string());
        }
        if !text.contains("global:") {
            text = format!(
                "global:\n  threads: 1\n  grace_period: 1s\n  pid_file: {d}/fairway.pid\n  upgrade_sock: {d}/upgrade.sock\n  access_log: true\n{text}",
                d = dir.display()
            );
        }
        let conf = dir.join("fairway.yaml");
        std::fs::write(&conf, &text).unwrap();
        let log = dir.join("fairway.log");
        let child = spawn_group(
            Command::new(bin())
                .arg("-c")
                .arg(&conf)
                .envs(env.iter().copied())
                .stdout(Stdio::from(
                    std::fs::File::create(dir.join("stdout.log")).unwrap(),
                ))
                .stderr(Stdio::from(std::fs::File::create(&log).unwrap())),
        )
        .expect("spawn fairway");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut f = Fairway {
            child,
            dir,
            conf,
            addr,
            log,
        };
        f.wait_ready();
        f
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("fairway exited early with {status}:\n{}", self.log());
            }
            if TcpStream::connect(self.addr).is_ok() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "fairway did not listen on {} in time:\n{}",
            self.addr,
            self.log()
        );
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn get(&self, target: &str) -> Response {
        get(self.addr, target, &[])
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits for the process to exit, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Fairway {
    fn drop(&mut self) {
        stop_group(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs the fairway binary to completion with `args`.
pub fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run fairway")
}

/// Writes `text` to a new file in a temp dir and returns its path.
pub fn write_temp(name: &str, text: &str) -> PathBuf {
    let path = temp_dir("conf").join(name);
    std::fs::write(&path, text).unwrap();
    path
}

pub fn repo_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// An HTTP/1.1 upstream on 127.0.0.1 whose behaviour a test changes at run
/// time: every request gets the current status (body `NAME TARGET`,
/// header `x-server: NAME`); [`Flaky::close`] stops listening (connections
/// are refused, open ones are dropped at their next request) and
/// [`Flaky::reopen`] listens again on the same address. Records every
/// request, health checks included.
pub struct Flaky {
    pub name: String,
    pub addr: SocketAddr,
    status: Arc<std::sync::atomic::AtomicU16>,
    open: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    acceptor: Mutex<Option<thread::JoinHandle<()>>>,
}

impl Flaky {
    /// Starts answering `200` on a port from [`free_port`].
    pub fn start(name: &str) -> Flaky {
        let listener = listen();
        let flaky = Flaky {
            name: name.to_string(),
            addr: listener.local_addr().unwrap(),
            status: Arc::new(std::sync::atomic::AtomicU16::new(200)),
            open: Arc::new(AtomicBool::new(true)),
            seen: Arc::new(Mutex::new(Vec::new())),
            acceptor: Mutex::new(None),
        };
        flaky.accept_on(listener);
        flaky
    }

    fn accept_on(&self, listener: TcpListener) {
        let (name, status, open, seen) = (
            self.name.clone(),
            self.status.clone(),
            self.open.clone(),
            self.seen.clone(),
        );
        let handle = thread::spawn(move || {
            for conn in listener.incoming() {
                if !open.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (name, status, open, seen) =
                    (name.clone(), status.clone(), open.clone(), seen.clone());
                thread::spawn(move || serve_flaky(conn, &name, &status, &open, &seen));
            }
        });
        *self.acceptor.lock().unwrap() = Some(handle);
    }

    /// Answers every later request with `status`.
    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// Stops listening; returns once the port refuses connections.
    pub fn close(&self) {
        self.open.store(false, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(handle) = self.acceptor.lock().unwrap().take() {
            handle.join().unwrap();
        }
    }

    /// Listens again on the same address.
    pub fn reopen(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(l) => break l,
                Err(e) if Instant::now() > deadline => panic!("rebind {}: {e}", self.addr),
                Err(_) => thread::sleep(Duration::from_millis(10)),
            }
        };
        self.open.store(true, Ordering::SeqCst);
        self.accept_on(listener);
    }

    /// Every request it answered, health checks included.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests from clients: those not sent by fairway's health checker.
    pub fn client_hits(&self) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.header("user-agent") != Some("fairway-health"))
            .count()
    }
}

impl Drop for Flaky {
    fn drop(&mut self) {
        self.open.store(false, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve_flaky(
    conn: TcpStream,
    name: &str,
    status: &std::sync::atomic::AtomicU16,
    open: &AtomicBool,
    seen: &Mutex<Vec<Seen>>,
) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        let mut content_length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let (k, v) = (k.trim().to_string(), v.trim().to_string());
                if k.eq_ignore_ascii_case("content-length") {
                    content_length = v.parse().unwrap_or(0);
                }
                headers.push((k, v));
            }
        }
        let mut body = vec![0; content_length];
        if reader.read_exact(&mut body).is_err() || !open.load(Ordering::SeqCst) {
            return;
        }
        seen.lock().unwrap().push(Seen {
            method,
            target: target.clone(),
            headers,
        });
        let code = status.load(Ordering::SeqCst);
        let reason = match code {
            200 => "OK",
            404 => "Not Found",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            _ => "Status",
        };
        let body = format!("{name} {target}");
        let resp = format!(
            "HTTP/1.1 {code} {reason}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nx-server: {name}\r\n\r\n{body}",
            body.len()
        );
        if out.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// Polls `cond` every 20 ms until it holds; panics with `what` and the
/// proxy's log after `limit`. Returns how long it took.
pub fn wait_until(
    f: &Fairway,
    limit: Duration,
    what: &str,
    mut cond: impl FnMut() -> bool,
) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}; log:\n{}",
            f.log()
        );
        thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

pub mod admin;
mod l4;
#[allow(unused_imports)]
pub use l4::*;
mod process;
#[allow(unused_imports)]
pub use process::{spawn_group, stop_group, Group};

/// The path of a Debian program, or a panic naming its package.
pub fn installed(paths: &[&'static str], package: &str) -> &'static str {
    paths
        .iter()
        .copied()
        .find(|p| Path::new(p).exists())
        .unwrap_or_else(|| {
            panic!("{package} is not installed: run ./scripts/setup.sh (Debian package {package})")
        })
}

/// A real server program (nginx, HAProxy, nghttpd...) listening on
/// `addr`; killed when dropped.
pub struct Peer {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Peer {
    /// Runs `cmd` (output discarded) and waits up to 10 s for `addr` to
    /// accept connections.
    pub fn spawn(what: &str, mut cmd: Command, addr: SocketAddr) -> Peer {
        let child = spawn_group(cmd.stdout(Stdio::null()).stderr(Stdio::null()))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let peer = Peer { child, addr };
        wait_listening(what, addr);
        peer
    }
}

/// Waits up to 10 s for `addr` to accept connections.
fn wait_listening(what: &str, addr: SocketAddr) {
    let start = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what} did not start"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        stop_group(&mut self.child);
    }
}

/// HAProxy (the Debian package) run with `config`, whose frontend listens
/// on `port` and logs to stdout (`log stdout format raw`): its log lines
/// are read with [`Haproxy::log_lines`]. Killed when dropped.
pub struct Haproxy {
    peer: Peer,
    log: PathBuf,
}

impl Haproxy {
    pub fn start(config: &str, port: u16) -> Haproxy {
        let bin = installed(&["/usr/sbin/haproxy", "/usr/bin/haproxy"], "haproxy");
        let dir = temp_dir("haproxy");
        let conf = dir.join("haproxy.cfg");
        std::fs::write(&conf, config).unwrap();
        let log = dir.join("haproxy.log");
        let child = spawn_group(
            Command::new(bin)
                .args(["-db", "-f"])
                .arg(&conf)
                .stdout(std::fs::File::create(&log).unwrap())
                .stderr(Stdio::null()),
        )
        .expect("haproxy");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_listening("haproxy", addr);
        Haproxy {
            peer: Peer { child, addr },
            log,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.peer.addr
    }

    /// Waits up to 20 s for `n` log lines; returns them all.
    pub fn log_lines(&self, n: usize) -> Vec<String> {
        let start = Instant::now();
        loop {
            let lines: Vec<String> = std::fs::read_to_string(&self.log)
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect();
            if lines.len() >= n {
                return lines;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "haproxy log: {lines:?}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}
