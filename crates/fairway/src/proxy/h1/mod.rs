//! fairway's HTTP/1 engine: every HTTP/1 client connection, plain or TLS,
//! is served here; Pingora's proxy serves HTTP/2 only.
//!
//! Per connection, one loop ([`serve`]):
//!
//! 1. read a request head ([`server::Conn`], under the stream guard of
//!    [`crate::proxy::head`], which checks every byte of it as it arrives);
//! 2. run the [`Proxy`]'s phases, the one request core, as Pingora calls
//!    them: `early_request_filter`, `request_filter` (rules, routing),
//!    the choice of a server with retries and redispatch
//!    (`fail_to_connect`/`error_while_proxy`), `upstream_request_filter`,
//!    `upstream_response_filter`, `response_filter`, the body filters,
//!    `fail_to_proxy` and `logging` ([`driver`]);
//! 3. exchange with the server ([`upstream`]): the head, the body streamed
//!    both ways with back-pressure, 1xx relayed, trailers both ways, a
//!    `101` turned into a tunnel ([`tunnel`]); server connections come from
//!    this thread's pool ([`crate::upstream::pool`]).
//!
//! [`session::H1Session`] puts the connection's current request behind
//! Pingora's server-session interface, so the phases take the same
//! `Session` as for HTTP/2.

mod chunked;
mod driver;
mod fields;
mod h2;
mod server;
mod session;
mod spare;
mod tunnel;
mod upstream;

use crate::proxy::Proxy;
use pingora::connectors::{http, ConnectorOptions, TransportConnector};
use pingora::server::configuration::ServerConf;
use std::io::IoSlice;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// The HTTP/1 engine of one frontend: its request core and its ways to
/// servers.
pub(crate) struct Engine {
    /// The request core (the phases).
    core: Proxy,
    /// New server connections (TCP or TLS, as the peer says).
    connector: TransportConnector,
    /// Connections to HTTP/2 servers (`proto: h2|h2c`): Pingora's client,
    /// which shares each among many streams.
    h2_connector: http::Connector,
    /// Attempts per request, as Pingora's proxy makes them.
    max_retries: usize,
}

impl Engine {
    /// The engine for `core` under the server settings `conf`.
    pub(crate) fn new(core: Proxy, conf: &Arc<ServerConf>) -> Self {
        let options = ConnectorOptions::from_server_conf(conf);
        Engine {
            core,
            connector: TransportConnector::new(Some(options.clone())),
            h2_connector: http::Connector::new(Some(options)),
            max_retries: conf.max_retries,
        }
    }

    /// The request core.
    pub(crate) fn core(&self) -> &Proxy {
        &self.core
    }
}

/// Writes `first` then `second` to `w` and flushes, in one system call
/// when the socket takes both; within `timeout` (an error of kind
/// `TimedOut` when it passes). Both sides of the engine write this way.
pub(super) async fn write_two<W: AsyncWrite + Unpin + ?Sized>(
    w: &mut W,
    first: &[u8],
    second: &[u8],
    timeout: Option<Duration>,
) -> std::io::Result<()> {
    let write = async {
        let (mut first, mut second) = (first, second);
        while !first.is_empty() {
            let slices = [IoSlice::new(first), IoSlice::new(second)];
            let n = w.write_vectored(&slices).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            if n < first.len() {
                first = &first[n..];
            } else {
                second = &second[n - first.len()..];
                first = &[];
            }
        }
        w.write_all(second).await?;
        w.flush().await
    };
    match timeout {
        Some(t) => tokio::time::timeout(t, write)
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into())),
        None => write.await,
    }
}
