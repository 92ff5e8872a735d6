//! Layer 4: `mode: tcp` frontends, a proxy on Pingora's [`ServerApp`].
//!
//! Per connection ([`TcpProxy`]): take a runtime snapshot; for frontends
//! whose rules read `req_ssl_sni`, read the client's TLS ClientHello (up to
//! `inspect_delay`, without decrypting it: TLS passthrough, see
//! [`passthrough`]) or, on a TLS-terminating listener, take the name from
//! the handshake; run the `tcp_request` rules (first that applies accepts
//! or rejects); choose the backend (`use_backend`, else `default_backend`);
//! pick a server with the backend's balance algorithm (`source` hashes the
//! client IP), waiting in the `maxconn` queue if need be; connect within
//! `timeout_connect` (over TLS for servers with `tls: true`), retrying
//! refused connections on another server; replay the bytes read so far;
//! then relay both ways ([`relay()`](relay::relay)) with half-close and the
//! `timeout_client`/`timeout_server` idle timeouts.
//!
//! A connection holds its server's in-flight slot for its whole life, so
//! `leastconn`, `maxconn` and the stats page's `active` count connections.
//! One access-log line per connection (target `fairway::access`, like
//! HAProxy's `tcplog`):
//!
//! ```text
//! client=127.0.0.1:50312 frontend=db backend=pg server=p1 sni=db.example.org bytes_in=517 bytes_out=2048 t_queue_ms=0.004 t_connect_ms=0.210 t_total_ms=1523.002 retries=0 termination=--
//! ```

pub mod passthrough;
pub mod relay;

use crate::balance::{hash_bytes, Attempts, Backend, HashKey, NoServer};
use crate::metrics::{Metrics, TcpEnded};
use crate::runtime::{Frontend, Runtime};
use crate::upstream::ewma::now_ns;
use crate::upstream::{InFlight, Server};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use fairway_acl::{Request, TcpAction};
use fairway_config::RetryCondition;
use log::{debug, info};
use passthrough::Hello;
use pingora::apps::ServerApp;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use relay::{relay, End};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Pingora's [`ServerApp`] for one `mode: tcp` frontend of a fairway
/// runtime. Host it in a `pingora::services::listening::Service` with the
/// frontend's listeners; [`crate::Fairway::services`] does that.
pub struct TcpProxy {
    frontend: usize,
    runtime: Arc<ArcSwap<Runtime>>,
    metrics: Arc<Metrics>,
    /// This frontend's open-connections gauge (frontends never change
    /// names while the process runs).
    active: Option<prometheus::IntGauge>,
}

impl TcpProxy {
    /// The proxy for frontend number `frontend` (config order) of
    /// `runtime`, recording every connection into `metrics`.
    pub fn new(frontend: usize, runtime: Arc<ArcSwap<Runtime>>, metrics: Arc<Metrics>) -> Self {
        let active = runtime
            .load()
            .frontends()
            .get(frontend)
            .map(|f| metrics.tcp_active(&f.name));
        TcpProxy {
            frontend,
            runtime,
            metrics,
            active,
        }
    }
}

#[async_trait]
impl ServerApp for TcpProxy {
    async fn process_new(
        self: &Arc<Self>,
        client: Stream,
        _shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let rt = self.runtime.load_full();
        if let Some(fe) = rt.frontends().get(self.frontend) {
            let mut client = client;
            if fe.accept_proxy {
                let deadline = tokio::time::Instant::now() + fe.timeout_client;
                let metrics = &self.metrics;
                if !crate::proxy_protocol::admit(&mut client, deadline, &fe.name, metrics).await {
                    return None;
                }
            }
            if let Some(active) = &self.active {
                active.inc();
            }
            let mut conn = Conn::new(client);
            let outcome = conn.serve(&rt, fe).await;
            conn.finish(&rt, (self.frontend, fe), &outcome, &self.metrics);
            if let Some(active) = &self.active {
                active.dec();
            }
        }
        // A raw connection is never handed back for reuse.
        None
    }
}

/// The ACL engine's view of one connection: the client IP and the TLS
/// server name.
struct View<'a> {
    src: Option<IpAddr>,
    sni: Option<&'a str>,
}

impl Request for View<'_> {
    fn method(&self) -> &str {
        ""
    }
    fn path(&self) -> &str {
        ""
    }
    fn query(&self) -> Option<&str> {
        None
    }
    fn url(&self) -> &str {
        ""
    }
    fn host(&self) -> Option<&str> {
        None
    }
    fn header_values(&self, _name: &str, _f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        false
    }
    fn src(&self) -> Option<IpAddr> {
        self.src
    }
    fn ssl_sni(&self) -> Option<&str> {
        self.sni
    }
}

/// A connection to a server: plain, or TLS for servers with `tls: true`.
enum Upstream {
    Plain(TcpStream),
    Tls(Box<pingora::tls::ClientTlsStream<TcpStream>>),
}

/// How a connection ended, before its relay (the relay's own ends are
/// [`End`]).
enum ConnEnd {
    /// A `tcp_request` rule rejected it.
    Rejected,
    /// No `use_backend` line matched and there is no `default_backend`.
    NoBackend,
    /// No server could take it.
    NoServer(NoServer),
    /// Every connection attempt failed.
    ConnectFailed(std::io::Error),
    /// Relayed until this end.
    Relayed(relay::RelayEnd),
}

/// One client connection and what became of it (for the log and metrics).
struct Conn {
    client: Stream,
    start: Instant,
    peer: Option<SocketAddr>,
    sni: Option<String>,
    /// Bytes read from the client before choosing a server (the ClientHello).
    early: Vec<u8>,
    backend: Option<usize>,
    server: Option<Arc<Server>>,
    /// The attempts on the backend: servers, retries, queue time.
    attempts: Attempts,
    connect: Option<Duration>,
}

impl Conn {
    fn new(client: Stream) -> Conn {
        let peer = client
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).copied());
        Conn {
            client,
            start: Instant::now(),
            peer,
            sni: None,
            early: Vec::new(),
            backend: None,
            server: None,
            attempts: Attempts::default(),
            connect: None,
        }
    }

    async fn serve(&mut self, rt: &Runtime, fe: &Frontend) -> ConnEnd {
        if fe.uses_ssl_sni {
            self.sni = match self.client.get_ssl() {
                // A TLS-terminating listener already has the name.
                Some(tls) => tls.server_name().map(str::to_ascii_lowercase),
                None if fe.tls.is_some() => None,
                None => self.read_hello(fe.inspect_delay).await,
            };
        }
        let view = View {
            src: self.peer.map(|p| p.ip()),
            sni: self.sni.as_deref(),
        };
        for rule in &fe.tcp_request {
            if rule.applies(&view) {
                if rule.action == TcpAction::Reject {
                    return ConnEnd::Rejected;
                }
                break;
            }
        }
        self.backend = fe.route(&view);
        let Some(backend) = self.backend.and_then(|b| rt.backends().get(b)) else {
            return ConnEnd::NoBackend;
        };
        let (server, _inflight, upstream) = match self.connect(backend).await {
            Ok(got) => got,
            Err(outcome) => return outcome,
        };
        // A tcp connection is a tunnel: `timeout_tunnel`, when set, both ways.
        let (timeout_client, timeout_server) = match backend.spec().timeout_tunnel {
            Some(t) => (t, t),
            None => (fe.timeout_client, server.spec().timeout_server),
        };
        let outcome = match upstream {
            Upstream::Plain(mut s) => self.pipe(&mut s, timeout_client, timeout_server).await,
            Upstream::Tls(mut s) => self.pipe(&mut *s, timeout_client, timeout_server).await,
        };
        ConnEnd::Relayed(outcome)
    }

    /// Reads until the ClientHello is complete (or is not one), the client
    /// stops sending, or `delay` passes; returns its server name. What was
    /// read is kept in `early` and replayed to the server.
    async fn read_hello(&mut self, delay: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + delay;
        let limit = passthrough::MAX_HELLO + 1024;
        let mut chunk = [0u8; 4096];
        loop {
            match passthrough::parse(&self.early) {
                Hello::Incomplete if self.early.len() < limit => {}
                Hello::Sni(name) => return Some(name),
                _ => return None,
            }
            let room = (limit - self.early.len()).min(chunk.len());
            let read = tokio::time::timeout_at(deadline, self.client.read(&mut chunk[..room]));
            match read.await {
                Ok(Ok(n)) if n > 0 => self.early.extend_from_slice(&chunk[..n]),
                // EOF, an error or the inspect delay: no (complete) name.
                _ => return None,
            }
        }
    }

    /// The PROXY header for `server` (`send_proxy`): the client's address
    /// (the one a PROXY header carried in, with `accept_proxy`) and the
    /// address it connected to.
    fn proxy_header(&self, server: &Server) -> Option<Vec<u8>> {
        let version = server.spec().send_proxy?;
        let digest = self.client.get_socket_digest()?;
        let client = *digest.peer_addr()?.as_inet()?;
        let local = *digest.local_addr()?.as_inet()?;
        Some(crate::proxy_protocol::header(version, client, local))
    }

    /// Picks a server and connects to it, retrying failed connections
    /// (`retries`, on another server with `redispatch`).
    async fn connect(
        &mut self,
        backend: &Arc<Backend>,
    ) -> Result<(Arc<Server>, InFlight, Upstream), ConnEnd> {
        let key = match backend.hash_key() {
            HashKey::Source => self.peer.map(|p| source_key(p.ip())),
            _ => None,
        };
        loop {
            let (got, _) = self.attempts.next(backend, key, None).await;
            let (_, mut inflight) = got.map_err(ConnEnd::NoServer)?;
            let server = Arc::clone(inflight.server());
            self.server = Some(Arc::clone(&server));
            let attempt = Instant::now();
            match open(&server, self.proxy_header(&server)).await {
                Ok(upstream) => {
                    self.connect = Some(attempt.elapsed());
                    // The connect time is the server's latency sample.
                    inflight.answered(true, now_ns());
                    return Ok((server, inflight, upstream));
                }
                Err(e) => {
                    inflight.failed(now_ns());
                    debug!(
                        "connect failed backend={} server={} error={e}",
                        backend.name(),
                        server.name()
                    );
                    drop(inflight);
                    if !self.attempts.retry(backend, RetryCondition::ConnFailure) {
                        return Err(ConnEnd::ConnectFailed(e));
                    }
                }
            }
        }
    }

    /// Replays the early bytes to the server, then relays.
    async fn pipe<S>(
        &mut self,
        server: &mut S,
        timeout_client: Duration,
        timeout_server: Duration,
    ) -> relay::RelayEnd
    where
        S: AsyncRead + AsyncWrite + Unpin + ?Sized,
    {
        let early = std::mem::take(&mut self.early);
        if !early.is_empty() {
            let sent = tokio::time::timeout(timeout_server, async {
                server.write_all(&early).await?;
                server.flush().await
            })
            .await;
            let end = match sent {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(End::ServerError(e)),
                Err(_) => Some(End::ServerIdle),
            };
            if let Some(end) = end {
                return relay::RelayEnd {
                    bytes_in: 0,
                    bytes_out: 0,
                    end,
                };
            }
        }
        let mut outcome = relay(&mut self.client, server, timeout_client, timeout_server).await;
        outcome.bytes_in += early.len() as u64;
        outcome
    }

    /// The access-log line and the metrics of a finished connection.
    fn finish(
        &self,
        rt: &Runtime,
        (index, fe): (usize, &Frontend),
        outcome: &ConnEnd,
        metrics: &Metrics,
    ) {
        let termination = termination(outcome);
        let backend = self.backend.and_then(|b| rt.backends().get(b));
        let backend_name = backend.map_or("", |b| b.name());
        let server_name = match outcome {
            ConnEnd::Relayed(_) | ConnEnd::ConnectFailed(_) => {
                self.server.as_ref().map_or("", |s| s.name())
            }
            _ => "",
        };
        let (bytes_in, bytes_out) = match outcome {
            ConnEnd::Relayed(r) => (r.bytes_in, r.bytes_out),
            _ => (0, 0),
        };
        let duration = self.start.elapsed();
        let server = match outcome {
            ConnEnd::Relayed(_) | ConnEnd::ConnectFailed(_) => self.attempts.server(),
            _ => None,
        };
        metrics.record_tcp(
            rt,
            rt.handles(),
            &TcpEnded {
                frontend: index,
                backend: self.backend,
                server,
                termination,
                bytes_in,
                bytes_out,
                duration,
            },
        );
        if !rt.access_log() || !log::log_enabled!(target: "fairway::access", log::Level::Info) {
            return;
        }
        let dash = |s: &str| {
            if s.is_empty() {
                "-".to_string()
            } else {
                s.to_string()
            }
        };
        let ms = |d: Option<Duration>| {
            d.map_or_else(
                || "-1".to_string(),
                |d| format!("{:.3}", d.as_secs_f64() * 1000.0),
            )
        };
        let detail = match outcome {
            ConnEnd::ConnectFailed(e) => format!(" error=\"{e}\""),
            ConnEnd::Relayed(r) => match &r.end {
                End::ClientError(e) | End::ServerError(e) => format!(" error=\"{e}\""),
                _ => String::new(),
            },
            _ => String::new(),
        };
        info!(
            target: "fairway::access",
            "client={} frontend={} backend={} server={} sni={} bytes_in={bytes_in} bytes_out={bytes_out} t_queue_ms={} t_connect_ms={} t_total_ms={} retries={} termination={termination}{detail}",
            self.peer.map_or_else(|| "-".to_string(), |p| p.to_string()),
            fe.name,
            dash(backend_name),
            dash(server_name),
            self.sni.as_deref().unwrap_or("-"),
            ms(self.attempts.queue()),
            ms(self.connect),
            ms(Some(duration)),
            self.attempts.retries(),
        );
    }
}

/// Connects to `server` within its `timeout_connect` (TCP connect and TLS
/// handshake each), speaking TLS when it has `tls: true`.
async fn open(server: &Server, proxy_header: Option<Vec<u8>>) -> std::io::Result<Upstream> {
    use tokio::io::AsyncWriteExt;
    let limit = server.spec().timeout_connect;
    let timed_out = || std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timeout");
    let mut tcp = tokio::time::timeout(limit, TcpStream::connect(server.addr()))
        .await
        .map_err(|_| timed_out())??;
    let _ = tcp.set_nodelay(true);
    // `send_proxy`: the header comes first, before any TLS handshake.
    if let Some(header) = proxy_header {
        tcp.write_all(&header).await?;
    }
    match server.tls() {
        None => Ok(Upstream::Plain(tcp)),
        Some(tls) => {
            let stream = tokio::time::timeout(limit, tls.connect(tcp))
                .await
                .map_err(|_| timed_out())??;
            Ok(Upstream::Tls(Box::new(stream)))
        }
    }
}

/// The `balance: source` key of a client IP: the same hash as the HTTP
/// path's, so a client sticks to one server in both modes.
fn source_key(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => hash_bytes(&v4.octets()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => hash_bytes(&v4.octets()),
            None => hash_bytes(&v6.octets()),
        },
    }
}

/// The two-letter termination state (HAProxy's, as in the HTTP access
/// log): who ended the connection and in which phase. `--` normal end;
/// `PR` rejected by a rule; `RR` no backend; `RC` no server available
/// (`RQ` queue full or timed out); `SC` connecting failed; `cD`/`sD` the
/// client/server side idle timeout while relaying; `CD`/`SD` a client or
/// server error while relaying.
fn termination(outcome: &ConnEnd) -> &'static str {
    match outcome {
        ConnEnd::Rejected => "PR",
        ConnEnd::NoBackend => "RR",
        ConnEnd::NoServer(NoServer::Unavailable) => "RC",
        ConnEnd::NoServer(_) => "RQ",
        ConnEnd::ConnectFailed(_) => "SC",
        ConnEnd::Relayed(r) => match r.end {
            End::Closed => "--",
            End::ClientIdle => "cD",
            End::ServerIdle => "sD",
            End::ClientError(_) => "CD",
            End::ServerError(_) => "SD",
        },
    }
}
