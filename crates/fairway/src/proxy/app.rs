//! [`HttpApp`]: the Pingora application of an HTTP frontend, which takes
//! each accepted connection, reads a PROXY header when the frontend
//! expects one, and gives the connection to the one engine for its
//! protocol.

use super::{h1, head, Proxy, PROCESS_CONNS};
use crate::runtime::Runtime;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Waits until `buf.len()` bytes have arrived and copies them into `buf`
/// without consuming them; `false` when the connection is done: closed or
/// reset first, or `deadline` passed (`timeout_http_request`: 408 sent).
async fn peek_by(
    stream: &mut pingora::protocols::Stream,
    buf: &mut [u8],
    deadline: tokio::time::Instant,
) -> bool {
    use tokio::io::AsyncWriteExt;
    match tokio::time::timeout_at(deadline, stream.try_peek(buf)).await {
        Ok(Ok(_)) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            head::log_failure(stream, 408, "timeout_http_request", 0);
            let _ = stream.write_all(&head::error_page(408)).await;
            let _ = stream.flush().await;
            false
        }
    }
}

/// The first bytes of every HTTP/2 connection (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Counts one client connection on its frontend and the process while it
/// lives.
struct Open<'a>(Option<&'a prometheus::IntGauge>);

impl<'a> Open<'a> {
    fn new(conns: Option<&'a prometheus::IntGauge>) -> Self {
        if let Some(c) = conns {
            c.inc();
        }
        PROCESS_CONNS.fetch_add(1, Ordering::Relaxed);
        Open(conns)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.0 {
            c.dec();
        }
        PROCESS_CONNS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The Pingora application of an HTTP frontend: the [`Proxy`] behind
/// Pingora's HTTP/1 and HTTP/2 server, with HTTP/1 client streams wrapped
/// so that `timeout_http_request` and the head size limit hold (see
/// [`head`]). Which engine serves a connection is chosen once, when it is
/// accepted: HTTP/2 (ALPN `h2`, or the cleartext preface on an `h2c`
/// frontend) goes to Pingora's proxy; every HTTP/1 connection, plain or
/// TLS, to fairway's HTTP/1 engine (module `h1`), which runs the same
/// [`Proxy`] phases.
pub struct HttpApp {
    proxy: Arc<pingora_proxy::HttpProxy<Proxy>>,
    /// For an `h2c` frontend, Pingora's proxy with cleartext HTTP/2 on:
    /// the connections that start with the HTTP/2 preface go there.
    h2c: Option<Arc<pingora_proxy::HttpProxy<Proxy>>>,
    /// fairway's HTTP/1 engine, with the same request core.
    engine: h1::Engine,
    runtime: Arc<ArcSwap<Runtime>>,
    frontend: usize,
}

impl HttpApp {
    /// The application of `proxy` (frontend `frontend` of the live
    /// `runtime`) under the server settings `conf`.
    pub fn new(
        proxy: Proxy,
        conf: &Arc<pingora::server::configuration::ServerConf>,
        runtime: Arc<ArcSwap<Runtime>>,
        frontend: usize,
    ) -> Self {
        let h2c = runtime
            .load()
            .frontends()
            .get(frontend)
            .is_some_and(|f| f.h2c)
            .then(|| {
                let mut h2c = pingora_proxy::http_proxy(conf, proxy.clone());
                let mut server = pingora::apps::HttpServerOptions::default();
                server.h2c = true;
                h2c.server_options = Some(server);
                Arc::new(h2c)
            });
        HttpApp {
            proxy: Arc::new(pingora_proxy::http_proxy(conf, proxy.clone())),
            h2c,
            engine: h1::Engine::new(proxy, conf),
            runtime,
            frontend,
        }
    }
}

/// The protocol a client connection speaks, known once it is accepted.
enum Protocol {
    /// HTTP/2: ALPN `h2` on TLS, or the cleartext preface on an `h2c`
    /// frontend.
    H2,
    H2c,
    /// Everything else.
    Http1,
}

impl HttpApp {
    /// Serves one accepted client connection: the PROXY header when the
    /// frontend expects one, then the one engine for its protocol, chosen
    /// here: Pingora's proxy for HTTP/2, fairway's HTTP/1 engine for
    /// HTTP/1 (plain or TLS).
    async fn serve(self: Arc<Self>, mut stream: Stream, shutdown: ShutdownWatch) {
        let _open = Open::new(self.engine.core().conns.as_ref());
        let rt = self.runtime.load_full();
        let fe = rt.frontends().get(self.frontend);
        let timeout = fe.map_or(Duration::from_secs(10), |f| f.timeout_http_request);
        let deadline = tokio::time::Instant::now() + timeout;
        let tls_h2 = matches!(
            stream.selected_alpn_proto(),
            Some(pingora::protocols::ALPN::H2)
        );
        if let Some(fe) = fe.filter(|f| f.accept_proxy && !tls_h2) {
            let metrics = &self.engine.core().metrics;
            if !crate::proxy_protocol::admit(&mut stream, deadline, &fe.name, metrics).await {
                return;
            }
        }
        drop(rt);
        let protocol = if tls_h2 {
            Protocol::H2
        } else {
            match self.sniff(&mut stream, deadline).await {
                Some(protocol) => protocol,
                None => return,
            }
        };
        match protocol {
            Protocol::H2 => {
                self.proxy.process_new(stream, &shutdown).await;
            }
            Protocol::H2c => {
                if let Some(h2c) = &self.h2c {
                    h2c.process_new(stream, &shutdown).await;
                }
            }
            Protocol::Http1 => {
                let stream = Box::new(head::Guarded::new(stream, timeout, deadline));
                self.engine.serve(stream, &shutdown).await;
            }
        }
    }

    /// On an `h2c` frontend, waits for the client's first bytes and tells
    /// HTTP/2's preface from HTTP/1; `None` when the connection ends first.
    /// (A TLS stream cannot peek: it goes straight on.) The wait is bounded
    /// by the timeout, not cut by a shutdown: a client that has just
    /// connected is about to send its request, which the draining process
    /// still serves.
    async fn sniff(&self, stream: &mut Stream, deadline: tokio::time::Instant) -> Option<Protocol> {
        if self.h2c.is_none() {
            // Every connection is HTTP/1: its first bytes are the engine's
            // to wait for, under the guard's clock.
            return Some(Protocol::Http1);
        }
        let mut first = [0u8; 1];
        if !peek_by(stream, &mut first, deadline).await {
            return None;
        }
        if self.h2c.is_none() || first[0] != H2_PREFACE[0] {
            return Some(Protocol::Http1);
        }
        // `P` may also begin an HTTP/1 method (POST, PUT, PATCH).
        let mut preface = [0u8; H2_PREFACE.len()];
        if !peek_by(stream, &mut preface, deadline).await {
            return None;
        }
        Some(if preface == *H2_PREFACE {
            Protocol::H2c
        } else {
            Protocol::Http1
        })
    }
}

#[async_trait]
impl ServerApp for HttpApp {
    /// Hands the connection to a task of fairway's own and returns: Pingora's
    /// task per connection has room for a TLS handshake (about 9 KiB) that
    /// an idle kept-alive client would otherwise hold while it waits.
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        tokio::spawn(Arc::clone(self).serve(stream, shutdown.clone()));
        None
    }

    async fn cleanup(&self) {
        self.proxy.cleanup().await;
        if let Some(h2c) = &self.h2c {
            h2c.cleanup().await;
        }
    }
}
