//! The HTTP/1 fast path: fairway's own keep-alive loop for plain requests.
//!
//! Pingora's proxy builds, per request, a boxed ~7 KB future, two channels
//! and a `select!` loop for the two directions, and takes each server
//! connection through a shared pool (a mutex, an LRU node, a task and a
//! timer per idle connection, `getpeername` on reuse). For the requests
//! that make up most traffic (no body, no upgrade, nothing hop-by-hop but
//! `Connection`) this loop does the same work in a straight line:
//!
//! 1. read the head with Pingora's HTTP/1 session (its parser and checks);
//! 2. run the [`Proxy`]'s own phases, the one request core: the same
//!    `request_filter` (rules, routing), `upstream_peer` (selection, retries
//!    and redispatch through `fail_to_connect`/`error_while_proxy`),
//!    `upstream_request_filter`, `upstream_response_filter`,
//!    `response_filter`, `fail_to_proxy` and `logging` as Pingora calls;
//! 3. take a server connection from this thread's pool ([`pool`]), send the
//!    head, and relay the response head and body in order.
//!
//! Every other request goes to Pingora's proxy unchanged, with the bytes
//! read for its head (the [`Guarded`] wrapper hands on no byte past a
//! head): Pingora reads the request again from the start. The rest of that
//! connection stays with Pingora's proxy, and each of its heads is still
//! checked by the wrapper as it arrives.
//!
//! `FAIRWAY_HTTP1_PATH=pingora` in the environment turns the fast path off
//! (every request through Pingora's proxy), for comparisons.

mod client;
mod session;
mod spare;

use super::framing;
use super::head::Guarded;
use super::{HttpApp, Proxy};
use crate::upstream::pool;
use client::Client;
use fairway_config::HttpReuse;
use http::header;
use log::{error, info};
use pingora::apps::HttpServerApp;
use pingora::http::RequestHeader;
use pingora::protocols::http::authority::validate_request_authority;
use pingora::protocols::http::ServerSession;
use pingora::protocols::{Digest, Stream};
use pingora::server::ShutdownWatch;
use pingora::upstreams::peer::{HttpPeer, Peer};
use pingora::{Error, ErrorSource};
use pingora_proxy::{ProxyHttp, Session};
use session::{take_home, Conn, FastSession, Head};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Whether the fast path serves HTTP/1 requests (the default), or
/// `FAIRWAY_HTTP1_PATH=pingora` sends every request through Pingora's proxy.
pub(super) fn enabled() -> bool {
    std::env::var_os("FAIRWAY_HTTP1_PATH").is_none_or(|v| v != "pingora")
}

/// How long a server connection stays idle in the pool when its peer does
/// not say.
const DEFAULT_IDLE: Duration = Duration::from_secs(60);

/// Serves the HTTP/1 connection `stream` (a [`Guarded`] client stream) until
/// it closes.
pub(super) async fn serve(app: &HttpApp, stream: Stream, shutdown: &ShutdownWatch) {
    // One receiver per connection: it ends the wait for a next request
    // when the process shuts down.
    let mut closing = shutdown.clone();
    // The proxy's phases take Pingora's `Session`; it is built once per
    // connection (Pingora builds one per request) and carries each
    // request's `FastSession` in turn.
    let mut session = Session::new_h1(stream);
    let h1 = std::mem::replace(&mut *session.downstream_session, idle_session());
    let ServerSession::H1(h1) = h1 else {
        unreachable!("a new HTTP/1 session")
    };
    let Ok(guarded) = h1.into_inner().into_any().downcast::<Guarded>() else {
        // Always a Guarded: `HttpApp` wraps every HTTP/1 stream.
        unreachable!("fast path on an unguarded stream")
    };
    let home = Arc::new(Mutex::new(None));
    let mut conn = Conn::new(guarded);
    let mut reuse = Reuse::default();
    // The first head's wait is bounded by the guard's clock (from the
    // accept); the next ones' by the frontend's `timeout_client`.
    let mut idle = None;
    loop {
        conn.closing = *shutdown.borrow();
        match conn.read_head(idle, &mut closing).await {
            Head::Parsed => {}
            Head::Other => {
                // The connection kept under `never` goes now: Pingora's
                // proxy serves the rest with its own pool.
                drop(reuse);
                return fall_back(app, conn, shutdown).await;
            }
            Head::Closed => return conn.close().await,
        }
        let (fast, next_idle) = app.core.fast_view();
        if !fast || !plain(conn.req_mut()) {
            drop(reuse);
            return fall_back(app, conn, shutdown).await;
        }
        conn.head_complete();
        *session.downstream_session =
            ServerSession::new_custom(Box::new(FastSession::new(conn, &home)));
        let complete = proxy_plain(app, &mut session, &mut reuse).await;
        reuse.later = true;
        // Dropping the request's session sends the connection home.
        *session.downstream_session = idle_session();
        conn = take_home(&home).expect("the connection comes back with its session");
        if !complete || !conn.finish().await {
            return conn.close().await;
        }
        // Only now: the guard takes bytes written outside a request's
        // response for Pingora's error page for a head.
        conn.response_done();
        idle = Some(next_idle);
    }
}

/// What a client connection's requests may do with idle server
/// connections (`http_reuse`).
#[derive(Default)]
struct Reuse {
    /// A request of this client connection was served: the next ones are
    /// not its first, and under `safe` may take any idle connection.
    later: bool,
    /// The server connection it keeps to itself under `never` (closed with
    /// it).
    private: pool::Private,
}

impl Reuse {
    /// An idle connection to the server `key` this request may take.
    fn checkout(&mut self, policy: HttpReuse, key: u64, now: Instant) -> Option<Stream> {
        match policy {
            HttpReuse::Never => self.private.take(key, now),
            // The first request: a server connection of its own (none
            // another client used, so no stray answer of theirs).
            HttpReuse::Safe if !self.later => None,
            _ => pool::checkout(key, now),
        }
    }

    /// Parks `stream` after a response that left it reusable.
    fn checkin(&mut self, policy: HttpReuse, key: u64, stream: Stream, idle: Duration) {
        let now = Instant::now();
        match policy {
            HttpReuse::Never => self.private.keep(key, stream, idle, now),
            _ => pool::checkin(key, stream, idle, now),
        }
    }
}

/// What the `Session` holds between requests (never called).
fn idle_session() -> ServerSession {
    ServerSession::new_custom(Box::new(()))
}

/// Whether the request is one the fast path serves: HTTP/1.x with a Host,
/// origin-form, no body, and no hop-by-hop field but `Connection: close` or
/// `keep-alive` (for these, Pingora's upstream request policy amounts to
/// dropping `Connection`, which the fast path does); and one that passes
/// Pingora's authority checks and fairway's framing checks (a request that
/// fails them gets its `400` and a closed connection from Pingora's path).
fn plain(req: &mut RequestHeader) -> bool {
    if req.method == http::Method::CONNECT || !req.raw_path().starts_with(b"/") {
        return false;
    }
    let mut host = false;
    for (name, value) in req.headers.iter() {
        match *name {
            header::HOST => host = true,
            header::CONNECTION => {
                let v = value.as_bytes();
                if !v.eq_ignore_ascii_case(b"close") && !v.eq_ignore_ascii_case(b"keep-alive") {
                    return false;
                }
            }
            header::TE
            | header::TRAILER
            | header::TRANSFER_ENCODING
            | header::UPGRADE
            | header::PROXY_AUTHORIZATION
            | header::PROXY_AUTHENTICATE
            | header::EXPECT
            | header::CONTENT_LENGTH => return false,
            _ => {
                let n = name.as_str();
                if n == "keep-alive" || n == "proxy-connection" || n == "http2-settings" {
                    return false;
                }
            }
        }
    }
    host && validate_request_authority(req).is_ok() && framing::check_request(req).is_ok()
}

/// Hands the request to Pingora's proxy with every byte read; the rest of
/// the connection stays with Pingora's proxy (the bytes it reads past a
/// request stay inside its session).
async fn fall_back(app: &HttpApp, conn: Box<Conn>, shutdown: &ShutdownWatch) {
    let (stream, read) = conn.into_parts();
    let mut session = ServerSession::new_http1(stream);
    if !read.is_empty() {
        session.set_pipelined_prefix(read);
    }
    session.set_keepalive(if *shutdown.borrow() { None } else { Some(60) });
    let mut reused = app.proxy.process_new_http(session, shutdown).await;
    while let Some((stream, settings)) = reused.map(|r| r.consume()) {
        let mut session = ServerSession::new_http1(stream);
        if let Some(settings) = settings {
            settings.apply_to_session(&mut session);
        }
        reused = app.proxy.process_new_http(session, shutdown).await;
    }
}

/// Serves a plain request through the proxy's phases (as Pingora's proxy
/// calls them) with a pooled server connection; whether it ended without
/// an error (the connection may then carry another request).
async fn proxy_plain(app: &HttpApp, session: &mut Session, reuse: &mut Reuse) -> bool {
    let proxy = &app.core;
    let mut ctx = proxy.new_ctx();
    let mut error = match proxy.early_request_filter(session, &mut ctx).await {
        Err(e) => Some(e),
        Ok(()) => match proxy.request_filter(session, &mut ctx).await {
            Err(e) => Some(e),
            Ok(true) => {
                proxy.logging(session, None, &mut ctx).await;
                return true;
            }
            Ok(false) => attempts(app, session, &mut ctx, reuse).await,
        },
    };
    if let Some(e) = error.as_mut() {
        let outcome = proxy.fail_to_proxy(session, e, &mut ctx).await;
        let code = outcome.error_code;
        if e.esource() == &ErrorSource::Downstream || code == 0 {
            info!("Fail to proxy: {e}, status: {code}");
        } else {
            error!("Fail to proxy: {e}, status: {code}");
        }
    }
    proxy.logging(session, error.as_deref(), &mut ctx).await;
    error.is_none()
}

/// Up to `max_retries` attempts, as Pingora makes them; the error that
/// ended the last one, if any.
async fn attempts(
    app: &HttpApp,
    session: &mut Session,
    ctx: &mut <Proxy as ProxyHttp>::CTX,
    reuse: &mut Reuse,
) -> Option<Box<Error>> {
    let proxy = &app.core;
    let mut last = None;
    for _ in 0..app.max_retries.max(1) {
        // The same choice as `upstream_peer`, without copying the peer.
        let (backend, index) = match proxy.pick(session, ctx).await {
            Ok(picked) => picked,
            Err(e) => return Some(e),
        };
        let server = &backend.servers()[index];
        let (peer, key) = (server.peer_ref(), server.pool_key());
        let policy = backend.spec().http_reuse;
        let (stream, reused) = match reuse.checkout(policy, key, Instant::now()) {
            Some(stream) => (stream, true),
            // Boxed: Pingora's connect future is 8 KB, and inline it would
            // size every connection's task for it (10 KB, not 3 KB) while
            // most requests take a pooled connection.
            None => match Box::pin(app.connector.new_stream(peer)).await {
                Ok(stream) => (stream, false),
                Err(mut e) => {
                    e.as_up();
                    let e = proxy.fail_to_connect(session, peer, ctx, e).into_up();
                    let retry = e.retry();
                    last = Some(e);
                    if retry {
                        continue;
                    }
                    break;
                }
            },
        };
        let fd = stream.id();
        // The TLS digest, for the pinned-certificate check; nothing to
        // build for a cleartext connection.
        let digest = stream.get_ssl_digest().map(|ssl| Digest {
            ssl_digest: Some(ssl),
            timing_digest: Vec::new(),
            proxy_digest: None,
            socket_digest: None,
        });
        if let Err(e) = proxy
            .connected_to_upstream(session, reused, peer, fd, digest.as_ref(), ctx)
            .await
        {
            return Some(e);
        }
        match exchange(proxy, session, ctx, peer, stream).await {
            Ok(reusable) => {
                if let Some(stream) = reusable {
                    let idle = peer.idle_timeout().unwrap_or(DEFAULT_IDLE);
                    reuse.checkin(policy, key, stream, idle);
                }
                return None;
            }
            Err(e) => {
                let mut e = proxy.error_while_proxy(peer, session, e, ctx, reused);
                if session.response_written().is_some() {
                    // A response byte reached the client: never resent.
                    e.set_retry(false);
                }
                let retry = e.retry();
                last = Some(e);
                if !retry {
                    break;
                }
            }
        }
    }
    last
}

/// One attempt on `stream`: the request head out, the response in and
/// relayed; the connection, when it can carry another request.
async fn exchange(
    proxy: &Proxy,
    session: &mut Session,
    ctx: &mut <Proxy as ProxyHttp>::CTX,
    peer: &HttpPeer,
    stream: Stream,
) -> pingora::Result<Option<Stream>> {
    let mut up = Client::new(
        stream,
        peer.options.read_timeout,
        peer.options.write_timeout,
    );
    let mut req = session.req_header().clone();
    req.set_version(http::Version::HTTP_11);
    req.remove_header(&header::CONNECTION);
    proxy
        .upstream_request_filter(session, &mut req, ctx)
        .await?;
    up.send(&req).await.map_err(Error::into_up)?;
    let head = session.req_header().method == http::Method::HEAD;
    let ds = &mut *session.downstream_session;
    let mut resp = unless_gone(ds, up.response(head)).await?;
    proxy
        .upstream_response_filter(session, &mut resp, ctx)
        .await?;
    let mut done = up.is_done();
    // A close-delimited body (an HTTP/1.0 server, or no length given) goes
    // to the client chunked, so that its connection can stay open, as
    // Pingora's proxy does; `response_filter` turns that back for an
    // HTTP/1.0 client.
    let no_body = head || matches!(resp.status.as_u16(), 204 | 304);
    if !no_body
        && !done
        && !resp.headers.contains_key(header::TRANSFER_ENCODING)
        && !resp.headers.contains_key(header::CONTENT_LENGTH)
    {
        resp.set_version(http::Version::HTTP_11);
        resp.insert_header(header::TRANSFER_ENCODING, "chunked")?;
    }
    proxy.response_filter(session, &mut resp, ctx).await?;
    session
        .write_response_header(resp, done)
        .await
        .map_err(Error::into_down)?;
    while !done {
        let ds = &mut *session.downstream_session;
        let mut body = unless_gone(ds, up.body()).await?;
        done = body.is_none() || up.is_done();
        proxy.response_body_filter(session, &mut body, done, ctx)?;
        session
            .write_response_body(body, done)
            .await
            .map_err(Error::into_down)?;
    }
    Ok(up.into_reusable())
}

/// Waits for the server (`read`), unless the client leaves first: a client
/// that closes its connection while its response is awaited ends the
/// request (as Pingora's proxy does), and pipelined bytes it sends meanwhile
/// are kept for the next request.
async fn unless_gone<T>(
    ds: &mut ServerSession,
    read: impl std::future::Future<Output = pingora::Result<T>>,
) -> pingora::Result<T> {
    tokio::select! {
        biased;
        r = read => r.map_err(Error::into_up),
        gone = ds.read_body_or_idle(true) => Err(match gone {
            Err(e) => e.into_down(),
            Ok(_) => Error::explain(
                pingora::ErrorType::ConnectionClosed,
                "client sent data after its request",
            )
            .into_down(),
        }),
    }
}
