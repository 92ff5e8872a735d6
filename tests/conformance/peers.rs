//! The peers of the conformance suite: a recording upstream that keeps the
//! exact bytes of every request it receives, the three proxies under test
//! (fairway, HAProxy, nginx) in front of one each, and a raw client that
//! reads responses by their framing and tells whether the connection
//! stayed open. Everything listens on 127.0.0.1.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The default upstream answer.
pub const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The whole request: head and body as framed.
    pub raw: Vec<u8>,
    /// The request was complete (framed); `false` for what was left when
    /// the connection closed or could not be framed.
    pub complete: bool,
}

impl Received {
    /// The request line.
    pub fn line(&self) -> String {
        let end = self
            .raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or(self.raw.len());
        String::from_utf8_lossy(&self.raw[..end]).into_owned()
    }

    /// The request target.
    pub fn target(&self) -> String {
        self.line().split(' ').nth(1).unwrap_or("").to_string()
    }

    /// The method.
    pub fn method(&self) -> String {
        self.line().split(' ').next().unwrap_or("").to_string()
    }

    /// The value of the header `name` (first one).
    pub fn header(&self, name: &str) -> Option<String> {
        let text = String::from_utf8_lossy(&self.raw);
        let head = text.split("\r\n\r\n").next().unwrap_or("");
        head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

#[derive(Default)]
struct UpState {
    /// What to answer now (the case's response).
    response: Vec<u8>,
    /// Close after answering (a close-delimited response).
    close: bool,
    /// Requests received since the last reset.
    received: Vec<Received>,
    /// Connections holding bytes of a request not recorded yet.
    pending: usize,
    /// The last time a connection read bytes or its end.
    last_read: Option<Instant>,
    /// The open connections (clones, to look for unread bytes), by id.
    conns: Vec<(u64, TcpStream)>,
    next_id: u64,
}

/// A recording HTTP/1 upstream.
#[derive(Clone)]
pub struct Recorder {
    pub addr: SocketAddr,
    state: Arc<Mutex<UpState>>,
}

impl Recorder {
    pub fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(UpState {
            response: OK.to_vec(),
            ..UpState::default()
        }));
        let s = Arc::clone(&state);
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let id = {
                    let mut st = s.lock().unwrap();
                    st.next_id += 1;
                    let id = st.next_id;
                    if let Ok(clone) = conn.try_clone() {
                        st.conns.push((id, clone));
                    }
                    id
                };
                let s = Arc::clone(&s);
                thread::spawn(move || serve(conn, id, &s));
            }
        });
        Recorder { addr, state }
    }

    /// Sets the next case's response and forgets what was received.
    pub fn reset(&self, response: &[u8], close: bool) {
        let mut s = self.state.lock().unwrap();
        s.response = response.to_vec();
        s.close = close;
        s.received.clear();
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Returns once every request the upstream has begun to read is
    /// recorded and nothing has arrived for a while (or after 2 s): what
    /// the proxy sent for a case is then all counted, on a busy machine
    /// too, and nothing of it is left to land in the next case.
    pub fn settle(&self) {
        const QUIET: Duration = Duration::from_millis(20);
        let deadline = Instant::now() + Duration::from_secs(2);
        // What the proxy writes just after its answer.
        thread::sleep(QUIET);
        loop {
            {
                let s = self.state.lock().unwrap();
                let quiet = s.last_read.is_none_or(|t| t.elapsed() >= QUIET);
                if s.pending == 0 && quiet && s.conns.iter().all(|(_, c)| !unread(c)) {
                    return;
                }
            }
            if Instant::now() > deadline {
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Whether `conn` has bytes or its end waiting to be read (a serving
/// thread that has not run yet), looked at without taking them and
/// without blocking.
fn unread(conn: &TcpStream) -> bool {
    // Linux's MSG_PEEK | MSG_DONTWAIT: the serving thread's own reads
    // stay blocking.
    const PEEK_NOW: i32 = 0x2 | 0x40;
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    match socket2::SockRef::from(conn).recv_with_flags(&mut buf, PEEK_NOW) {
        Ok(_) => true,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    }
}

/// A connection's share of `pending`: counted while it holds unrecorded
/// bytes, released however `serve` ends.
struct Holding<'a> {
    state: &'a Mutex<UpState>,
    id: u64,
    held: bool,
}

impl Holding<'_> {
    /// Bytes were read (or the end): note the time, and whether the
    /// connection now holds unrecorded bytes.
    fn read(&mut self, holds: bool) {
        let mut s = self.state.lock().unwrap();
        s.last_read = Some(Instant::now());
        self.set(&mut s, holds);
    }

    fn set(&mut self, s: &mut UpState, holds: bool) {
        if holds != self.held {
            if holds {
                s.pending += 1;
            } else {
                s.pending -= 1;
            }
            self.held = holds;
        }
    }

    /// Records `r`; the connection still holds `rest` bytes.
    fn record(&mut self, r: Received, rest: usize) -> (Vec<u8>, bool) {
        let mut s = self.state.lock().unwrap();
        s.received.push(r);
        self.set(&mut s, rest > 0);
        (s.response.clone(), s.close)
    }
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.state.lock() {
            self.set(&mut s, false);
            let id = self.id;
            s.conns.retain(|(i, _)| *i != id);
        }
    }
}

/// Reads requests by their framing, records each, answers each.
fn serve(mut conn: TcpStream, id: u64, state: &Mutex<UpState>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut holding = Holding {
        state,
        id,
        held: false,
    };
    loop {
        let req = loop {
            match frame_request(&buf) {
                Framed::Complete(n) => break Some(buf.drain(..n).collect::<Vec<u8>>()),
                Framed::Invalid => {
                    let raw = std::mem::take(&mut buf);
                    let r = Received {
                        raw,
                        complete: false,
                    };
                    holding.record(r, 0);
                    return;
                }
                Framed::Partial => {}
            }
            let mut chunk = [0u8; 16384];
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => {
                    if !buf.is_empty() {
                        let raw = std::mem::take(&mut buf);
                        let r = Received {
                            raw,
                            complete: false,
                        };
                        holding.record(r, 0);
                    }
                    holding.read(false);
                    break None;
                }
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    holding.read(true);
                }
            }
        };
        let Some(raw) = req else { return };
        let upgrade = String::from_utf8_lossy(&raw)
            .to_ascii_lowercase()
            .contains("\r\nupgrade:");
        let (response, close) = holding.record(
            Received {
                raw,
                complete: true,
            },
            buf.len(),
        );
        if conn.write_all(&response).is_err() {
            return;
        }
        if close || (upgrade && response.starts_with(b"HTTP/1.1 101")) {
            // A close-delimited body ends here; an upgraded connection
            // echoes what follows until the peer closes.
            if !close {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = conn.read(&mut chunk) {
                    if n == 0 || conn.write_all(&chunk[..n]).is_err() {
                        break;
                    }
                }
            }
            let _ = conn.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}

enum Framed {
    Complete(usize),
    Partial,
    Invalid,
}

/// Where the first request of `buf` ends (head, then a Content-Length or
/// chunked body).
fn frame_request(buf: &[u8]) -> Framed {
    let Some(head_end) = find(buf, b"\r\n\r\n").map(|i| i + 4) else {
        return if buf.len() > 1 << 20 {
            Framed::Invalid
        } else {
            Framed::Partial
        };
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let mut chunked = false;
    let mut length = 0usize;
    for line in head.split("\r\n").skip(1) {
        if let Some((k, v)) = line.split_once(':') {
            match k.trim() {
                "transfer-encoding" if v.contains("chunked") => chunked = true,
                "content-length" => match v.trim().parse() {
                    Ok(n) => length = n,
                    Err(_) => return Framed::Invalid,
                },
                _ => {}
            }
        }
    }
    if chunked {
        match chunked_end(&buf[head_end..]) {
            Some(Some(n)) => Framed::Complete(head_end + n),
            Some(None) => Framed::Invalid,
            None => Framed::Partial,
        }
    } else if buf.len() >= head_end + length {
        Framed::Complete(head_end + length)
    } else {
        Framed::Partial
    }
}

/// The length of a chunked body with its trailers: `None` if incomplete,
/// `Some(None)` if malformed.
fn chunked_end(body: &[u8]) -> Option<Option<usize>> {
    let mut at = 0;
    loop {
        let line_end = find(&body[at..], b"\r\n")? + at;
        let size_text = String::from_utf8_lossy(&body[at..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return Some(None);
        };
        at = line_end + 2;
        if size == 0 {
            // Trailers end with an empty line.
            loop {
                let end = find(&body[at..], b"\r\n")? + at;
                let empty = end == at;
                at = end + 2;
                if empty {
                    return Some(Some(at));
                }
            }
        }
        if body.len() < at + size + 2 {
            return None;
        }
        at += size + 2;
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A proxy process under test.
pub struct Proxy {
    pub name: &'static str,
    pub addr: SocketAddr,
    pub upstream: Recorder,
    child: Child,
    pub dir: PathBuf,
    pub log: PathBuf,
}

impl Drop for Proxy {
    /// Stops the proxy and every process it started (nginx's worker).
    fn drop(&mut self) {
        crate::process::stop_group(&mut self.child);
    }
}

impl Proxy {
    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A free port below the kernel's ephemeral range (32768+), so that no
/// outgoing connection takes it between this check and the proxy's bind.
fn free_addr() -> SocketAddr {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 12000 + (std::process::id() % 80) as u16 * 100;
    loop {
        let port = base + NEXT.fetch_add(1, Ordering::Relaxed) % 100;
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            return l.local_addr().unwrap();
        }
    }
}

fn tool(name: &str) -> String {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let p = format!("{dir}/{name}");
        if std::path::Path::new(&p).exists() {
            return p;
        }
    }
    panic!("{name} is not installed: run ./scripts/setup.sh (Debian package {name})");
}

fn spawn(
    name: &'static str,
    cmd: &mut Command,
    addr: SocketAddr,
    upstream: Recorder,
    dir: PathBuf,
    log: PathBuf,
) -> Proxy {
    let child = crate::process::spawn_group(
        cmd.stdout(Stdio::from(
            std::fs::File::create(dir.join("stdout.log")).unwrap(),
        ))
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap())),
    )
    .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    let mut p = Proxy {
        name,
        addr,
        upstream,
        child,
        dir,
        log,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(st)) = p.child.try_wait() {
            panic!("{name} exited with {st}: {}", p.log_text());
        }
        if TcpStream::connect(addr).is_ok() {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not listen: {}",
            p.log_text()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fairway-conformance-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// fairway on the seed-003 rules (deny `/admin`, paths normalized first),
/// with its access log on.
pub fn fairway(bin: &str, tag: &str) -> Proxy {
    let up = Recorder::start();
    let addr = free_addr();
    let d = dir(&format!("fairway-{tag}"));
    let conf = d.join("fairway.yaml");
    std::fs::write(
        &conf,
        format!(
            "global:\n  threads: 1\n  grace_period: 1s\n  pid_file: {d}/pid\n  upgrade_sock: {d}/up.sock\n  access_log: true\n\
             frontends:\n  web:\n    bind: [\"{addr}\"]\n    timeout_client: 5s\n    timeout_http_request: 2s\n    normalize_path: true\n\
             \x20   http_request:\n      - deny if {{ path -i -m beg /admin }}\n    default_backend: app\n\
             backends:\n  app:\n    timeout_connect: 2s\n    timeout_server: 3s\n    servers:\n      s1: {{ addr: {up} }}\n",
            d = d.display(),
            up = up.addr
        ),
    )
    .unwrap();
    let log = d.join("fairway.log");
    let mut cmd = Command::new(bin);
    cmd.arg("-c").arg(&conf);
    spawn("fairway", &mut cmd, addr, up, d, log)
}

/// HAProxy 2.6 with the same rule.
pub fn haproxy(tag: &str) -> Proxy {
    let up = Recorder::start();
    let addr = free_addr();
    let d = dir(&format!("haproxy-{tag}"));
    let conf = d.join("haproxy.cfg");
    std::fs::write(
        &conf,
        format!(
            "global\n  nbthread 1\n\
             defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 3s\n  timeout http-request 2s\n  option http-keep-alive\n\
             frontend web\n  bind {addr}\n  http-request deny if {{ path -i -m beg /admin }}\n  default_backend app\n\
             backend app\n  server s1 {up}\n",
            up = up.addr
        ),
    )
    .unwrap();
    let log = d.join("haproxy.log");
    let mut cmd = Command::new(tool("haproxy"));
    cmd.arg("-db").arg("-f").arg(&conf);
    spawn("haproxy", &mut cmd, addr, up, d, log)
}

/// nginx 1.22 with the same rule as a location, one process (`master_process
/// off`: no worker to outlive it).
pub fn nginx(tag: &str) -> Proxy {
    let up = Recorder::start();
    let addr = free_addr();
    let d = dir(&format!("nginx-{tag}"));
    let conf = d.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
             \x20 fastcgi_temp_path {d}/fcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             \x20 client_header_timeout 2s;\n  keepalive_timeout 5s;\n\
             \x20 upstream app {{ server {up}; keepalive 8; }}\n\
             \x20 server {{\n    listen {addr};\n\
             \x20   location ~* ^/admin {{ return 403; }}\n\
             \x20   location / {{ proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header Host $http_host; }}\n  }}\n}}\n",
            d = d.display(),
            up = up.addr
        ),
    )
    .unwrap();
    let log = d.join("stderr.log");
    let mut cmd = Command::new(tool("nginx"));
    cmd.arg("-p").arg(&d).arg("-c").arg(&conf);
    spawn("nginx", &mut cmd, addr, up, d, log)
}

/// One response as the client read it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// What one exchange gave.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub responses: Vec<Response>,
    /// The connection was still open after the responses.
    pub open: bool,
    /// Neither a response nor a close came within the time limit.
    pub hung: bool,
    /// The proxy did not accept the connection.
    pub refused: bool,
}

/// Sends `bytes`, reads up to `want` responses (`head[i]`: the i-th
/// request was HEAD), then tells whether the connection stayed open.
pub fn exchange(addr: SocketAddr, bytes: &[u8], want: usize, heads: &[bool]) -> Exchange {
    let Ok(mut conn) = TcpStream::connect(addr) else {
        return Exchange {
            responses: Vec::new(),
            open: false,
            hung: false,
            refused: true,
        };
    };
    conn.set_nodelay(true).unwrap();
    let _ = conn.write_all(bytes);
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut buf = Vec::new();
    let mut responses = Vec::new();
    let mut closed = false;
    let mut hung = false;
    while responses.len() < want {
        match parse_response(
            &buf,
            heads.get(responses.len()).copied().unwrap_or(false),
            closed,
        ) {
            Some((resp, used)) => {
                buf.drain(..used);
                let informational = (100..200).contains(&resp.status) && resp.status != 101;
                let upgraded = resp.status == 101;
                if !informational {
                    responses.push(resp);
                }
                if upgraded {
                    break;
                }
                continue;
            }
            None if closed => break,
            None => {}
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            hung = true;
            break;
        }
        conn.set_read_timeout(Some(left)).unwrap();
        let mut chunk = [0u8; 16384];
        match conn.read(&mut chunk) {
            Ok(0) => closed = true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                hung = true;
                break;
            }
            Err(_) => closed = true,
        }
    }
    let open = if closed || hung {
        false
    } else {
        conn.set_read_timeout(Some(Duration::from_millis(250)))
            .unwrap();
        let mut chunk = [0u8; 1024];
        match conn.read(&mut chunk) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        }
    };
    Exchange {
        responses,
        open,
        hung: hung && !closed,
        refused: false,
    }
}

/// A complete response at the start of `buf` and its length.
fn parse_response(buf: &[u8], head_request: bool, closed: bool) -> Option<(Response, usize)> {
    let head_end = find(buf, b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status: u16 = head.get(9..12)?.parse().ok()?;
    let resp = Response {
        status,
        head: head.clone(),
        body: Vec::new(),
    };
    let lower = head.to_ascii_lowercase();
    let no_body = head_request || status == 204 || status == 304 || (100..200).contains(&status);
    if no_body {
        return Some((resp, head_end));
    }
    if lower.contains("\r\ntransfer-encoding:") && lower.contains("chunked") {
        let n = chunked_end(&buf[head_end..])??;
        let body = dechunk(&buf[head_end..head_end + n]);
        return Some((Response { body, ..resp }, head_end + n));
    }
    if let Some(len) = resp
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        if buf.len() < head_end + len {
            return None;
        }
        let body = buf[head_end..head_end + len].to_vec();
        return Some((Response { body, ..resp }, head_end + len));
    }
    // Close-delimited.
    if closed {
        let body = buf[head_end..].to_vec();
        return Some((Response { body, ..resp }, buf.len()));
    }
    None
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = find(body, b"\r\n") {
        let size = String::from_utf8_lossy(&body[..end]);
        let size =
            usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        body = &body[end + 2..];
        if size == 0 || body.len() < size {
            break;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[(size + 2).min(body.len())..];
    }
    out
}
