//! The HTTP proxy: Pingora's [`ProxyHttp`] for one fairway frontend.
//!
//! Per request: take a runtime snapshot, normalize the path, run the
//! `http_request` rules, choose the backend (`use_backend`, first match;
//! else `default_backend`), pick a server, forward with X-Forwarded-For, and
//! retry refused connections on another server.

mod access_log;
mod app;
pub use app::HttpApp;
mod compress;
mod framing;
mod h1;
pub mod head;
mod request;
pub use request::RequestView;
mod respond;
mod retry;
mod reuse;
mod rules;
mod sticky;

use crate::balance::{Attempts, Backend, NoServer};
use crate::hook::{Info, Log};
use crate::metrics::{Metrics, RequestEnded};
use crate::runtime::{Frontend, Runtime};
use crate::upstream::ewma::now_ns;
use crate::upstream::InFlight;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use fairway_acl::{normalize_path_with, EncodedSlash};
use log::info;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::protocols::l4::socket::SocketAddr as PingoraAddr;
use pingora::upstreams::peer::HttpPeer;
use pingora::ErrorType;
use pingora_proxy::{FailToProxy, ProxyHttp, Session};
use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Pingora's [`ProxyHttp`] for one frontend of a fairway runtime: the
/// request phases (rules, routing, server choice, retries, rewrites,
/// compression, logs and metrics), the one request core of both engines.
///
/// [`crate::Fairway::services`] serves every frontend through [`HttpApp`]:
/// fairway's own HTTP/1 engine for HTTP/1 connections, Pingora's proxy for
/// HTTP/2. An embedder who wants Pingora's proxy for HTTP/1 as well adds a
/// `Proxy` to a Pingora server with [`pingora_proxy::http_proxy_service`]:
/// the same phases run, under Pingora's own HTTP/1 session and connection
/// pool. The access log's `%fc` and `%ac` and the metric
/// `fairway_http_active_connections` count the client connections that
/// [`HttpApp`] accepts: a `Proxy` served by Pingora's HTTP service
/// directly counts none.
#[derive(Clone)]
pub struct Proxy {
    frontend: usize,
    runtime: Arc<ArcSwap<Runtime>>,
    metrics: Arc<Metrics>,
    /// Client connections open on this frontend (`%fc`, the metric
    /// `fairway_http_active_connections`), shared by clones.
    conns: Option<prometheus::IntGauge>,
}

/// Client connections open on all HTTP frontends of the process (`%ac`).
static PROCESS_CONNS: AtomicUsize = AtomicUsize::new(0);

impl Proxy {
    /// Client connections open now on this frontend and on the process.
    fn open_conns(&self) -> (usize, usize) {
        let frontend = self.conns.as_ref().map_or(0, prometheus::IntGauge::get);
        (
            usize::try_from(frontend).unwrap_or(0),
            PROCESS_CONNS.load(Ordering::Relaxed),
        )
    }
}

impl Proxy {
    /// The proxy for frontend number `frontend` (config order) of `runtime`,
    /// recording every request into `metrics`.
    pub fn new(frontend: usize, runtime: Arc<ArcSwap<Runtime>>, metrics: Arc<Metrics>) -> Self {
        // Frontends keep their names while the process runs (a reload
        // cannot change listeners), so the gauge is resolved once.
        let conns = runtime
            .load()
            .frontends()
            .get(frontend)
            .map(|f| metrics.http_active(&f.name));
        Proxy {
            frontend,
            runtime,
            metrics,
            conns,
        }
    }
}

/// Per-request state.
pub struct Ctx {
    rt: Arc<Runtime>,
    start: Instant,
    src: Option<IpAddr>,
    backend: Option<usize>,
    /// The attempts on the backend: servers, retries, queue time.
    attempts: Attempts,
    inflight: Option<InFlight>,
    status: u16,
    /// The request carried a valid stickiness cookie for its server.
    sticky: bool,
    /// When the current upstream attempt started (for `balance: ewma`).
    attempt_start: Option<Instant>,
    /// Answered by a `deny` rule.
    denied: bool,
    /// Answered by fairway itself, and who, as the access log's first
    /// letter: `P` a `deny`, `L` a `return`, `redirect` or hook answer, `C`
    /// a request refused as malformed (HAProxy's letters).
    answered: Option<char>,
    /// Why no server could take the request (the 503 of `upstream_peer`).
    no_server: Option<NoServer>,
    /// When the current attempt's connection was ready (new or reused).
    connected_at: Option<Instant>,
    /// When the current attempt's response head arrived.
    response_at: Option<Instant>,
    /// The response's compressor, when it is compressed.
    encoder: Option<compress::Encoder>,
    /// The request's unique ID (`unique_id_header`, `%[unique-id]`).
    unique_id: Option<String>,
    /// What an `http_response` `return` answers instead of the server.
    replacement: Option<rules::Replacement>,
    /// `retry_on` held the current attempt's response back for a retry.
    resend: bool,
    /// The client connection closes after this response (a refused
    /// head's framing).
    close_client: bool,
    /// What the hooks keep for this request's later phases.
    state: crate::hook::State,
}

impl Ctx {
    /// Whether the client connection closes after this response.
    pub(crate) fn closes_client(&self) -> bool {
        self.close_client
    }

    fn frontend<'a>(&'a self, proxy: &Proxy) -> &'a Frontend {
        &self.rt.frontends()[proxy.frontend]
    }

    /// The unique-ID field fairway's own answers carry (`unique_id_header`
    /// and the request's ID), if any.
    fn id_field<'a>(&'a self, fe: &'a Frontend) -> Option<(&'a str, &'a str)> {
        fe.unique_id_header
            .as_deref()
            .zip(self.unique_id.as_deref())
    }

    /// What hooks see of the request now.
    fn info<'a>(&'a self, proxy: &Proxy) -> Info<'a> {
        let backend = self.backend.and_then(|b| self.rt.backends().get(b));
        Info {
            frontend: &self.frontend(proxy).name,
            client: self.src,
            backend: backend.map(|b| b.name()),
            server: backend
                .zip(self.attempts.server())
                .and_then(|(b, s)| b.servers().get(s)),
            state: &self.state,
        }
    }
}

fn client_ip(session: &Session) -> Option<IpAddr> {
    match session.client_addr() {
        Some(PingoraAddr::Inet(a)) => Some(a.ip()),
        _ => None,
    }
}

/// Makes `peer` send a PROXY header for this request's client
/// (`send_proxy`): its address as the rules left it (`set-src`).
fn send_proxy(
    peer: &mut HttpPeer,
    version: fairway_config::ProxyVersion,
    session: &Session,
    src: Option<IpAddr>,
) -> Result<()> {
    let (Some(PingoraAddr::Inet(client)), Some(PingoraAddr::Inet(local))) =
        (session.client_addr(), session.server_addr())
    else {
        return Err(status_error(503, "send_proxy needs a TCP client"));
    };
    let client = std::net::SocketAddr::new(src.unwrap_or(client.ip()), client.port());
    crate::proxy_protocol::attach(peer, version, client, *local);
    Ok(())
}

fn status_error(code: u16, why: &'static str) -> Box<Error> {
    Error::explain(ErrorType::HTTPStatus(code), why)
}

impl Proxy {
    /// How long an HTTP/1 client connection waits idle for its next
    /// request (`timeout_client` of the live runtime, at least a second).
    fn client_idle(&self) -> Duration {
        let rt = self.runtime.load();
        rt.frontends()[self.frontend]
            .timeout_client
            .max(Duration::from_secs(1))
    }

    /// The peer of server `index` of `backend` for this request, when it
    /// needs one of its own (what [`ProxyHttp::upstream_peer`] adds to the
    /// server's peer: a PROXY header, a tunnel's timeouts); `None` when the
    /// server's own peer serves.
    fn request_peer(
        &self,
        session: &mut Session,
        ctx: &Ctx,
        backend: &Backend,
        index: usize,
    ) -> Result<Option<Box<HttpPeer>>> {
        let server = &backend.servers()[index];
        let tunnel = backend
            .spec()
            .timeout_tunnel
            .filter(|_| session.is_upgrade_req());
        let proxy = server.spec().send_proxy;
        if tunnel.is_none() && proxy.is_none() {
            return Ok(None);
        }
        let mut peer = server.peer();
        if let Some(t) = tunnel {
            peer.options.read_timeout = Some(t);
            peer.options.write_timeout = Some(t);
        }
        if let Some(version) = proxy {
            send_proxy(&mut peer, version, session, ctx.src)?;
        }
        Ok(Some(Box::new(peer)))
    }

    /// Chooses the server for the next attempt of the request (stickiness,
    /// hash key, balance algorithm, retries and redispatch through
    /// [`Attempts`]) and makes it the current attempt's: its backend and
    /// index. A 503 error when no server can take the request.
    async fn pick(&self, session: &Session, ctx: &mut Ctx) -> Result<(Arc<Backend>, usize)> {
        let index = ctx.backend.ok_or_else(|| status_error(503, "no backend"))?;
        let backend = Arc::clone(&ctx.rt.backends()[index]);
        // Stickiness: a valid cookie pins the first attempt to its server.
        let first = ctx.attempts.server().is_none();
        let preferred = backend
            .spec()
            .cookie
            .as_ref()
            .filter(|_| first)
            .and_then(|cookie| sticky::find(session.req_header(), &cookie.name))
            .and_then(|v| backend.sticky(v));
        let key = sticky::hash_key(backend.hash_key(), session.req_header(), ctx.src);
        let (got, now) = ctx.attempts.next(&backend, key, preferred).await;
        match got {
            Ok((i, guard)) => {
                ctx.sticky = first && preferred == Some(i);
                ctx.inflight = Some(guard);
                ctx.attempt_start = Some(now);
                ctx.connected_at = None;
                ctx.response_at = None;
                ctx.no_server = None;
                Ok((backend, i))
            }
            Err(why) => {
                ctx.no_server = Some(why);
                Err(status_error(
                    503,
                    match why {
                        NoServer::Unavailable => "no server available",
                        NoServer::QueueFull => "queue full",
                        NoServer::QueueTimeout => "queue timeout",
                    },
                ))
            }
        }
    }
}

/// The outcome of the `http_request` rules and `use_backend` lines.
enum Verdict {
    /// A rule wrote the response.
    Answered,
    /// The request goes to this backend (`None`: no backend, a 503).
    Route(Option<usize>),
}

#[async_trait]
impl ProxyHttp for Proxy {
    type CTX = Ctx;

    /// No downstream modules. Pingora's default adds a response-compression
    /// module (disabled) whose per-request context and header filters
    /// cost time on every request; fairway does not compress.
    fn init_downstream_modules(&self, _modules: &mut pingora::modules::http::HttpModules) {}

    fn new_ctx(&self) -> Ctx {
        Ctx {
            rt: self.runtime.load_full(),
            start: Instant::now(),
            src: None,
            backend: None,
            attempts: Attempts::default(),
            inflight: None,
            status: 0,
            sticky: false,
            attempt_start: None,
            denied: false,
            answered: None,
            no_server: None,
            connected_at: None,
            response_at: None,
            encoder: None,
            unique_id: None,
            replacement: None,
            resend: false,
            close_client: false,
            state: crate::hook::State::default(),
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        ctx.src = client_ip(session);
        let rt = Arc::clone(&ctx.rt);
        let fe = &rt.frontends()[self.frontend];
        // The head's framing, then the path the rules and the server will
        // see (`normalize_path`, `encoded_slashes`, `path_params`).
        let checked =
            framing::check_request(session.req_header_mut()).and_then(
                |()| match normalize_path_with(session.req_header().uri.path(), fe.path_options()) {
                    Ok(Cow::Borrowed(_)) => Ok(None),
                    Ok(Cow::Owned(path)) => Ok(Some(path)),
                    Err(EncodedSlash) => Err(framing::Refused::EncodedSlash),
                },
            );
        let path = match checked {
            Ok(path) => path,
            Err(why) => {
                let client = session.client_addr().map(ToString::to_string);
                info!(
                    "400 client={} reason={}",
                    client.as_deref().unwrap_or("-"),
                    why.reason()
                );
                ctx.status = 400;
                ctx.answered = Some('C');
                // A refused path comes in a well-framed head: the
                // connection may go on, as after a `deny` (and as the
                // HTTP/1 engine leaves it).
                if why != framing::Refused::EncodedSlash {
                    session.set_keepalive(None);
                    ctx.close_client = true;
                }
                respond::error(session, 400).await?;
                return Ok(true);
            }
        };
        if let Some(path) = path {
            rules::set_path(session.req_header_mut(), &path)?;
        }
        // The idle time between requests; the client's own choice (HTTP/1.0
        // without keep-alive, `Connection: close`, both Content-Length and
        // Transfer-Encoding) that Pingora already applied stands.
        if session.get_keepalive().is_some() {
            session.set_keepalive(Some(fe.timeout_client.as_secs().max(1)));
        }
        session.set_read_timeout(Some(fe.timeout_client));

        if let Some(ip) = ctx.src {
            for table in fe.rates.iter() {
                table.observe(ip);
            }
        }

        if fe.unique_id {
            let header = fe.unique_id_header.as_deref();
            let given = header
                .and_then(|h| session.req_header().headers.get(h))
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let id = match (given, header) {
                (Some(id), _) => id,
                (None, Some(h)) => {
                    let id = rules::new_unique_id();
                    session.req_header_mut().insert_header(h.to_string(), &id)?;
                    id
                }
                (None, None) => rules::new_unique_id(),
            };
            ctx.unique_id = Some(id);
        }

        if !rt.hooks().is_empty() {
            let info = ctx.info(self);
            for hook in rt.hooks() {
                if let Some(answer) = hook.request(session, &info).await? {
                    ctx.status = answer.status();
                    ctx.answered = Some('L');
                    respond::answer(session, &answer, ctx.id_field(fe).as_slice()).await?;
                    return Ok(true);
                }
            }
        }

        ctx.backend = match self.run_rules(session, ctx).await? {
            Verdict::Answered => return Ok(true),
            Verdict::Route(backend) => backend,
        };
        if ctx.backend.is_none() {
            ctx.status = 503;
            respond::error_with(session, 503, ctx.id_field(fe).as_slice()).await?;
            return Ok(true);
        }
        Ok(false)
    }

    async fn upstream_peer(&self, session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let (backend, index) = self.pick(session, ctx).await?;
        let mut peer = backend.servers()[index].peer();
        // An upgrade (WebSocket) becomes a tunnel: `timeout_tunnel` both
        // ways, from the request on (HAProxy switches at the 101).
        if let Some(t) = backend
            .spec()
            .timeout_tunnel
            .filter(|_| session.is_upgrade_req())
        {
            peer.options.read_timeout = Some(t);
            peer.options.write_timeout = Some(t);
            session.set_read_timeout(Some(t));
        }
        if let Some(version) = backend.servers()[index].spec().send_proxy {
            send_proxy(&mut peer, version, session, ctx.src)?;
        }
        reuse::apply(&mut peer, backend.spec().http_reuse, session);
        Ok(Box::new(peer))
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        e: Box<Error>,
    ) -> Box<Error> {
        if let Some(mut guard) = ctx.inflight.take() {
            guard.failed(now_ns());
        }
        retry::after_connect_failure(ctx, e)
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Ctx,
        client_reused: bool,
    ) -> Box<Error> {
        let e = e.more_context(format!("Peer: {peer}"));
        // The server failed before answering (a timeout, a reset, a bad
        // response): an error for outlier ejection. Not a pooled
        // connection found dead (retried on a fresh one), nor the client.
        let timeout = matches!(
            e.etype(),
            ErrorType::ReadTimedout | ErrorType::WriteTimedout
        );
        if e.esource() == &pingora::ErrorSource::Upstream && (timeout || !client_reused) {
            if let Some(guard) = ctx.inflight.as_mut() {
                guard.broke(now_ns());
            }
        }
        retry::after_error(session, ctx, e, client_reused)
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        req: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        framing::upstream_request(req)?;
        if let Some(cookie) = ctx
            .backend
            .and_then(|b| ctx.rt.backends()[b].spec().cookie.as_ref())
        {
            if cookie.indirect {
                sticky::strip(req, &cookie.name)?;
            }
        }
        if ctx.frontend(self).forwardfor {
            if let Some(ip) = ctx.src {
                let value = match req
                    .headers
                    .get("x-forwarded-for")
                    .and_then(|v| v.to_str().ok())
                {
                    Some(prev) => format!("{prev}, {ip}"),
                    None => ip.to_string(),
                };
                req.insert_header("x-forwarded-for", value)?;
            }
            let tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
            req.insert_header("x-forwarded-proto", if tls { "https" } else { "http" })?;
        }
        let hooks = ctx.rt.hooks();
        if !hooks.is_empty() {
            let info = ctx.info(self);
            for hook in hooks {
                hook.upstream_request(req, &info)?;
            }
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // Before the response counts as arrived: an invalid status is an
        // invalid response head (502, `SH`), as in the HTTP/1 engine.
        framing::check_status(resp.status.as_u16())?;
        ctx.response_at.get_or_insert_with(Instant::now);
        if rules::interim(resp) {
            return Ok(());
        }
        // The server's latency sample (a 5xx is a penalty), whatever the
        // backend's algorithm.
        if let Some(guard) = ctx.inflight.as_mut() {
            guard.answered(!resp.status.is_server_error(), now_ns());
        }
        match retry::status_retry(session, ctx, resp) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        framing::check_response(session.req_header(), resp)?;
        self.run_response_rules(session, resp, ctx)?;
        if let (Some(h), Some(id), false) = (
            &ctx.frontend(self).unique_id_header,
            &ctx.unique_id,
            rules::interim(resp),
        ) {
            resp.insert_header(h.clone(), id.as_str())?;
        }
        if let Some(spec) = &ctx.frontend(self).compression {
            ctx.encoder = compress::start(spec, session.req_header(), resp);
        }
        if framing::downstream_response(session.req_header().version, resp) {
            session.set_keepalive(None);
        }
        let hooks = ctx.rt.hooks();
        if !hooks.is_empty() {
            let info = ctx.info(self);
            for hook in hooks {
                hook.response(resp, &info)?;
            }
        }
        let (Some(b), Some(s)) = (ctx.backend, ctx.attempts.server()) else {
            return Ok(());
        };
        let backend = &ctx.rt.backends()[b];
        if let (Some(cookie), false) = (&backend.spec().cookie, ctx.sticky) {
            let server = &backend.servers()[s];
            resp.append_header(
                http::header::SET_COOKIE,
                format!("{}={}; path=/", cookie.name, server.cookie()),
            )?;
            if cookie.nocache {
                resp.insert_header(http::header::CACHE_CONTROL, "private")?;
            }
        }
        Ok(())
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        end_of_stream: bool,
        _ctx: &mut Ctx,
    ) -> Result<()> {
        framing::request_body(body, end_of_stream);
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<Duration>> {
        if let Some(encoder) = ctx.encoder.as_mut() {
            *body = encoder.encode(body.as_ref(), end_of_stream)?;
            if end_of_stream {
                ctx.encoder = None;
            }
        }
        Ok(None)
    }

    /// Trailers after a compressed body (an HTTP/2 server's) end it: the
    /// compressor's last bytes take their place, as Pingora cannot send
    /// both.
    async fn response_trailer_filter(
        &self,
        _session: &mut Session,
        _trailers: &mut http::HeaderMap,
        ctx: &mut Ctx,
    ) -> Result<Option<bytes::Bytes>> {
        match ctx.encoder.take() {
            Some(mut encoder) => encoder.encode(None, true),
            None => Ok(None),
        }
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        use ErrorType::*;
        let upstream = e.esource() == &pingora::ErrorSource::Upstream;
        let code = match e.etype() {
            HTTPStatus(code) => *code,
            ConnectTimedout | ConnectRefused | ConnectNoRoute | ConnectError | BindError
            | ConnectProxyFailure => 503,
            ReadTimedout | WriteTimedout if upstream => 504,
            _ => match e.esource() {
                pingora::ErrorSource::Upstream => 502,
                pingora::ErrorSource::Downstream => match e.etype() {
                    WriteError | ReadError | ConnectionClosed => 0,
                    ReadTimedout => 408,
                    _ => 400,
                },
                _ => 500,
            },
        };
        if code > 0 && session.response_written().is_none() {
            ctx.status = code;
            let replacement = ctx.replacement.take();
            let id = ctx.id_field(ctx.frontend(self));
            let _ = match replacement {
                Some(r) => rules::send_replacement(session, code, r, id.as_slice()).await,
                None => respond::error_with(session, code, id.as_slice()).await,
            };
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn connected_to_upstream(
        &self,
        _session: &mut Session,
        reused: bool,
        _peer: &HttpPeer,
        #[cfg(unix)] _fd: std::os::unix::io::RawFd,
        #[cfg(windows)] _sock: std::os::windows::io::RawSocket,
        digest: Option<&pingora::protocols::Digest>,
        ctx: &mut Ctx,
    ) -> Result<()> {
        ctx.connected_at = Some(Instant::now());
        if reused {
            return Ok(());
        }
        // A new connection: a pinned certificate is checked.
        let backends = ctx.rt.backends();
        let server = ctx.backend.zip(ctx.attempts.server());
        match server.and_then(|(b, s)| backends.get(b)?.servers().get(s)) {
            Some(server) => server.check_pin(digest.and_then(|d| d.ssl_digest.as_deref())),
            None => Ok(()),
        }
    }

    async fn early_request_filter(&self, session: &mut Session, _ctx: &mut Ctx) -> Result<()> {
        // Pipelined requests (RFC 9112 §9.3.2) are answered one after the
        // other, in order, on Pingora's HTTP/1 session (an embedder's), as
        // fairway's HTTP/1 engine answers them.
        session.set_pipelining_enabled(true);
        Ok(())
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        ctx.inflight = None;
        let status = session
            .response_written()
            .map_or(ctx.status, |r| r.status.as_u16());
        let total = ctx.start.elapsed();
        // A 503 for want of a server has no server, whatever a failed
        // earlier attempt used.
        let server = ctx.attempts.server().filter(|_| ctx.no_server.is_none());
        // The stats page's counts live with who answered.
        ctx.frontend(self).responses.record(status);
        if let Some(b) = ctx.backend.and_then(|b| ctx.rt.backends().get(b)) {
            match server.and_then(|s| b.servers().get(s)) {
                Some(s) => s.responses().record(status),
                None => b.responses().record(status),
            }
        }
        self.metrics.record(
            &*ctx.rt,
            ctx.rt.handles(),
            &RequestEnded {
                frontend: self.frontend,
                backend: ctx.backend,
                server,
                code: status,
                duration: total,
                denied: ctx.denied,
                no_server: ctx.no_server.is_some(),
            },
        );
        let hooks = ctx.rt.hooks();
        if !hooks.is_empty() {
            let log = Log {
                info: Info {
                    server: server.and_then(|s| {
                        ctx.backend
                            .and_then(|b| ctx.rt.backends().get(b))
                            .and_then(|b| b.servers().get(s))
                    }),
                    ..ctx.info(self)
                },
                status,
                duration: total,
                answered: ctx.answered.is_some(),
                error: e,
            };
            for hook in hooks {
                hook.log(session, &log);
            }
        }
        access_log::write(self, session, ctx, e, status, total, server);
    }
}
