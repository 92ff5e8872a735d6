//! The engine's loop over a client connection and the phases of each
//! request: see the [module](super) documentation.

use super::server::{Conn, Head};
use super::session::{take_home, H1Session};
use super::upstream::{ReqBody, Upstream};
use super::{spare, Engine};
use crate::proxy::{head, Proxy};
use crate::upstream::pool;
use fairway_config::HttpReuse;
use http::header;
use log::{error, info};
use pingora::http::ResponseHeader;
use pingora::protocols::http::authority::validate_request_authority;
use pingora::protocols::http::client::HttpSession;
use pingora::protocols::http::ServerSession;
use pingora::protocols::{Digest, Stream};
use pingora::server::ShutdownWatch;
use pingora::upstreams::peer::{HttpPeer, Peer};
use pingora::{Error, ErrorSource};
use pingora_proxy::{ProxyHttp, Session};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a request's [`H1Session`] sends its connection back when dropped.
pub(super) type Home = Arc<Mutex<Option<Box<Conn>>>>;

/// How long a server connection stays idle in the pool when its peer does
/// not say.
const DEFAULT_IDLE: Duration = Duration::from_secs(60);

impl Engine {
    /// Serves the HTTP/1 connection `stream` (a client stream under its
    /// guard) until it closes.
    pub(crate) async fn serve(&self, stream: Box<head::Guarded>, shutdown: &ShutdownWatch) {
        serve(self, stream, shutdown).await;
    }
}

/// The connection loop: a head, the phases, the next head.
async fn serve(app: &Engine, stream: Box<head::Guarded>, shutdown: &ShutdownWatch) {
    // One receiver per connection: it ends the wait for a next request
    // when the process shuts down.
    let mut closing = shutdown.clone();
    let mut conn = Conn::new(stream);
    let home: Home = Arc::new(Mutex::new(None));
    let mut reuse = Reuse::default();
    // The first head's wait is bounded by the guard's clock (from the
    // accept); the next ones' by the frontend's `timeout_client`.
    let mut idle = None;
    let end = loop {
        conn.closing = *shutdown.borrow();
        match conn.read_head(idle, &mut closing).await {
            Head::Parsed => {}
            Head::Bad => break End::Refuse(400, "unparsable_head"),
            Head::Closed => break End::Close,
        }
        // RFC 9110 §9.3.6: CONNECT asks for a tunnel, which a reverse
        // proxy's frontend does not offer.
        if conn.req_mut().method == http::Method::CONNECT {
            break End::Refuse(405, "connect");
        }
        if validate_request_authority(conn.req_mut()).is_err() {
            break End::Refuse(400, "invalid_authority");
        }
        if !conn.head_complete() {
            break End::Refuse(400, "body_length");
        }
        // The proxy's phases take Pingora's `Session`: one lent by this
        // thread for the request (Pingora builds one per request), holding
        // the request's `H1Session`.
        let mut session = spare::session();
        *session.downstream_session =
            ServerSession::new_custom(Box::new(H1Session::new(conn, &home)));
        // Boxed: a request's state lives while it is served, not while
        // the connection waits for its next request. Built in a statement
        // of its own: a temporary in the statement that awaits would keep
        // room for the whole unboxed future in this one.
        let request = Box::pin(proxy_request(app, &mut session, &mut reuse, &home));
        let complete = request.await;
        reuse.later = true;
        // Dropping the request's session sends the connection home.
        *session.downstream_session = spare::idle_session();
        spare::give_session(session);
        conn = take_home(&home).expect("the connection comes back with its session");
        if !complete {
            break End::Close;
        }
        // The last chunk, when the body is chunked (a length-framed body
        // is all sent by now).
        if conn.end_response() {
            let sending = Box::pin(conn.send());
            if sending.await.is_err() {
                break End::Close;
            }
        }
        if !conn.reusable() {
            break End::Close;
        }
        // Only now: the guard starts a new head with the next byte.
        conn.response_done();
        idle = Some(app.core.client_idle());
    };
    // The connection's last words, boxed as the rare paths are: a
    // connection that waits for its next request keeps no room for them.
    let last = Box::pin(async move {
        match end {
            End::Refuse(status, reason) => conn.refuse(status, reason).await,
            End::Close => conn.close().await,
        }
    });
    last.await;
}

/// How a client connection ends.
enum End {
    /// A head refused before any phase: fairway's page for the status,
    /// logged at `info` with the reason (the client's mistake).
    Refuse(u16, &'static str),
    /// Closed, after what is written and not yet sent.
    Close,
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

/// Serves the request through the proxy's phases; whether it ended without
/// an error and the client connection may carry another request.
async fn proxy_request(
    app: &Engine,
    session: &mut Session,
    reuse: &mut Reuse,
    home: &Home,
) -> bool {
    let proxy = &app.core;
    let mut ctx = proxy.new_ctx();
    let mut error = match proxy.early_request_filter(session, &mut ctx).await {
        Err(e) => Some(e),
        Ok(()) => match proxy.request_filter(session, &mut ctx).await {
            Err(e) => Some(e),
            Ok(true) => {
                proxy.logging(session, None, &mut ctx).await;
                return !ctx.closes_client();
            }
            Ok(false) => attempts(app, session, &mut ctx, reuse, home).await,
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
    error.is_none() && !ctx.closes_client()
}

/// Up to `max_retries` attempts, as Pingora makes them; the error that
/// ended the last one, if any.
async fn attempts(
    app: &Engine,
    session: &mut Session,
    ctx: &mut <Proxy as ProxyHttp>::CTX,
    reuse: &mut Reuse,
    home: &Home,
) -> Option<Box<Error>> {
    let proxy = &app.core;
    let mut last = None;
    for _ in 0..app.max_retries.max(1) {
        // The same choice as `upstream_peer`; the server's own peer unless
        // this request needs one of its own (a PROXY header, a tunnel's
        // timeouts).
        let (backend, index) = match proxy.pick(session, ctx).await {
            Ok(picked) => picked,
            Err(e) => return Some(e),
        };
        let server = &backend.servers()[index];
        let own = match proxy.request_peer(session, ctx, &backend, index) {
            Ok(own) => own,
            Err(e) => return Some(e),
        };
        let peer = own.as_deref().unwrap_or(server.peer_ref());
        let key = server.pool_key();
        // A connection that carries this client's address in its PROXY
        // header is this client connection's alone.
        let policy = match own.is_some() && server.spec().send_proxy.is_some() {
            true => HttpReuse::Never,
            false => backend.spec().http_reuse,
        };
        if peer.options.alpn.get_min_http_version() >= 2 {
            // An HTTP/2 server: Pingora's HTTP/2 client, its connections
            // shared (each answer names its stream: nothing to poison).
            // Boxed, as the other rare paths (a body, a tunnel): the
            // connection's future, which an idle client holds, stays the
            // size of a plain request's.
            let attempt = Box::pin(h2_attempt(app, session, ctx, peer, home));
            match attempt.await {
                Ok(()) => return None,
                Err(e) => {
                    let retry = e.retry();
                    last = Some(e);
                    if retry {
                        continue;
                    }
                    break;
                }
            }
        }
        let (stream, reused) = match reuse.checkout(policy, key, Instant::now()) {
            Some(stream) => (stream, true),
            // Boxed ([`connect`]): Pingora's connect future is 8 KB, and
            // inline it would size every request's state for it while most
            // requests take a pooled connection.
            None => match connect(app, peer).await {
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
        match exchange(proxy, session, ctx, peer, stream, home).await {
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

/// A new connection to `peer`, its connect future boxed (built in a
/// statement of its own, so that no caller keeps room for it unboxed).
async fn connect(app: &Engine, peer: &HttpPeer) -> pingora::Result<Stream> {
    let connecting = Box::pin(app.connector.new_stream(peer));
    connecting.await
}

/// One attempt on an HTTP/2 server; the error (already through
/// `fail_to_connect` or `error_while_proxy`, its retry decided) if it
/// failed.
async fn h2_attempt(
    app: &Engine,
    session: &mut Session,
    ctx: &mut <Proxy as ProxyHttp>::CTX,
    peer: &HttpPeer,
    home: &Home,
) -> Result<(), Box<Error>> {
    let proxy = &app.core;
    let (mut http, reused) = match app.h2_connector.get_http_session(peer).await {
        Ok(got) => got,
        Err(mut e) => {
            e.as_up();
            return Err(proxy.fail_to_connect(session, peer, ctx, e).into_up());
        }
    };
    let HttpSession::H2(h2) = &mut http else {
        return Err(Error::explain(
            pingora::ErrorType::H2Error,
            "the server did not negotiate HTTP/2",
        )
        .into_up());
    };
    let digest = h2.digest().cloned();
    let fd = h2.fd();
    proxy
        .connected_to_upstream(session, reused, peer, fd, digest.as_ref(), ctx)
        .await?;
    match super::h2::exchange(proxy, session, ctx, peer, h2, home).await {
        Ok(_) => {
            app.h2_connector
                .release_http_session(http, peer, peer.idle_timeout())
                .await;
            Ok(())
        }
        Err(e) => {
            let mut e = proxy.error_while_proxy(peer, session, e.into_up(), ctx, reused);
            if session.response_written().is_some() {
                e.set_retry(false);
            }
            Err(e)
        }
    }
}

/// One attempt on `stream`: the request out (its body streamed, with what
/// an earlier attempt read first), the response in and relayed (1xx heads,
/// head, body, trailers; a `101` becomes a tunnel); the connection, when
/// it can carry another request.
async fn exchange(
    proxy: &Proxy,
    session: &mut Session,
    ctx: &mut <Proxy as ProxyHttp>::CTX,
    peer: &HttpPeer,
    stream: Stream,
    home: &Home,
) -> pingora::Result<Option<Stream>> {
    let mut up = Upstream::new(
        stream,
        peer.options.read_timeout,
        peer.options.write_timeout,
    );
    let upgrade = session.is_upgrade_req();
    let mut req = session.req_header().clone();
    req.set_version(http::Version::HTTP_11);
    crate::proxy::framing::strip_hop_by_hop(&mut req, upgrade)?;
    proxy
        .upstream_request_filter(session, &mut req, ctx)
        .await?;
    let ds = &mut *session.downstream_session;
    let body = if ds.is_body_empty() {
        ReqBody::None
    } else if req.headers.contains_key(header::TRANSFER_ENCODING) {
        ReqBody::Chunked
    } else {
        ReqBody::Length
    };
    up.send(&req, body).await.map_err(Error::into_up)?;
    let head = req.method == http::Method::HEAD;
    drop(req);
    let early = match up.request_sent() {
        true => None,
        false => {
            let upload = Box::pin(send_body(proxy, session, ctx, &mut up, head, upgrade, home));
            upload.await?
        }
    };
    let mut resp = match early {
        Some(resp) => resp,
        None => loop {
            let ds = &mut *session.downstream_session;
            let resp = unless_gone(ds, up.response(head, upgrade)).await?;
            if !is_interim(&resp) {
                break resp;
            }
            session
                .write_response_header(resp, false)
                .await
                .map_err(Error::into_down)?;
        },
    };
    proxy
        .upstream_response_filter(session, &mut resp, ctx)
        .await?;
    if resp.status == http::StatusCode::SWITCHING_PROTOCOLS {
        proxy.response_filter(session, &mut resp, ctx).await?;
        session
            .write_response_header(resp, false)
            .await
            .map_err(Error::into_down)?;
        let idle = peer.options.read_timeout;
        let mut conn = take_conn(session, home);
        let (mut server, early) = up.into_tunnel();
        let relay = Box::pin(super::tunnel::relay(
            conn.tunnel(),
            &mut server,
            &early,
            idle,
        ));
        relay.await;
        put_conn(session, home, conn);
        return Ok(None);
    }
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
    let mut trailers = None;
    while !done {
        let ds = &mut *session.downstream_session;
        let mut body = unless_gone(ds, up.body()).await?;
        done = body.is_none() || up.is_done();
        if done {
            trailers = up.take_trailers();
        }
        proxy.response_body_filter(session, &mut body, done, ctx)?;
        session
            .write_response_body(body, done && trailers.is_none())
            .await
            .map_err(Error::into_down)?;
    }
    if let Some(fields) = trailers {
        relay_trailers(proxy, session, ctx, fields).await?;
    }
    Ok(up.into_reusable())
}

/// Sends the response's trailer `fields` to the client after its
/// `response_trailer_filter` (what a compressor still holds goes first).
pub(super) async fn relay_trailers(
    proxy: &Proxy,
    session: &mut Session,
    ctx: &mut <Proxy as ProxyHttp>::CTX,
    mut fields: http::HeaderMap,
) -> pingora::Result<()> {
    if let Some(tail) = proxy
        .response_trailer_filter(session, &mut fields, ctx)
        .await?
    {
        session
            .write_response_body(Some(tail), false)
            .await
            .map_err(Error::into_down)?;
    }
    session
        .downstream_session
        .write_response_trailers(fields)
        .await
        .map_err(Error::into_down)
}

/// Whether `resp` is an informational head relayed before the final one
/// (1xx but `101`).
fn is_interim(resp: &ResponseHeader) -> bool {
    resp.status.is_informational() && resp.status != http::StatusCode::SWITCHING_PROTOCOLS
}

/// Sends the request body to the server as the client sends it (what an
/// earlier attempt read first), while watching the server: its 1xx heads
/// are relayed meanwhile, and a final head that arrives before the body's
/// end stops the upload (returned; the client connection then closes).
async fn send_body(
    proxy: &Proxy,
    session: &mut Session,
    ctx: &mut <Proxy as ProxyHttp>::CTX,
    up: &mut Upstream,
    head: bool,
    upgrade: bool,
    home: &Home,
) -> pingora::Result<Option<Box<ResponseHeader>>> {
    if up.request_sent() {
        return Ok(None);
    }
    let ds = &mut *session.downstream_session;
    if ds.body_bytes_read() > 0 {
        // A retry: what the first attempt read goes again (the retry
        // rules allow it only when all of it was kept).
        let kept = ds.get_retry_buffer().unwrap_or_default();
        let end = ds.is_body_done();
        let fields = if end {
            request_trailers(session, home)
        } else {
            None
        };
        up.send_body(&kept, end, fields.as_ref())
            .await
            .map_err(Error::into_up)?;
    }
    while !up.request_sent() {
        let ds = &mut *session.downstream_session;
        let piece = tokio::select! {
            got = up.readable() => {
                if got.map_err(Error::into_up)? == 0 {
                    return Err(Error::explain(
                        pingora::ErrorType::ConnectionClosed,
                        "server closed the connection during the request body",
                    )
                    .into_up());
                }
                match up.parsed_head(head, upgrade).map_err(Error::into_up)? {
                    Some(resp) if is_interim(&resp) => {
                        session
                            .write_response_header(resp, false)
                            .await
                            .map_err(Error::into_down)?;
                        continue;
                    }
                    Some(resp) => return Ok(Some(resp)),
                    None => continue,
                }
            }
            piece = ds.read_request_body() => piece?,
        };
        let end = piece.is_none() || session.downstream_session.is_body_done();
        let mut piece = piece;
        proxy
            .request_body_filter(session, &mut piece, end, ctx)
            .await?;
        let fields = if end {
            request_trailers(session, home)
        } else {
            None
        };
        up.send_body(piece.as_deref().unwrap_or_default(), end, fields.as_ref())
            .await
            .map_err(Error::into_up)?;
    }
    Ok(None)
}

/// Takes the client connection out of `session` (for what only the engine
/// does with it: a tunnel, the request's trailers); [`put_conn`] puts it
/// back.
fn take_conn(session: &mut Session, home: &Home) -> Box<Conn> {
    *session.downstream_session = spare::idle_session();
    take_home(home).expect("the connection comes back with its session")
}

/// Puts `conn` back as `session`'s current request.
fn put_conn(session: &mut Session, home: &Home, conn: Box<Conn>) {
    *session.downstream_session = ServerSession::new_custom(Box::new(H1Session::new(conn, home)));
}

/// The request's trailer fields, once its body was read.
pub(super) fn request_trailers(session: &mut Session, home: &Home) -> Option<http::HeaderMap> {
    let conn = take_conn(session, home);
    let fields = conn.trailers();
    put_conn(session, home, conn);
    fields
}

/// Waits for the server (`read`), unless the client's connection fails
/// first (which ends the request, as Pingora's proxy does); bytes a client
/// pipelines meanwhile are kept for the next request, and a client that
/// half-closes still gets its response.
async fn unless_gone<T>(
    ds: &mut ServerSession,
    read: impl Future<Output = pingora::Result<T>>,
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
