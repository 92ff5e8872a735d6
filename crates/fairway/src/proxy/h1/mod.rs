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
mod h2;
mod server;
mod session;
mod spare;
mod tunnel;
mod upstream;

use crate::proxy::Proxy;
use pingora::connectors::{http, ConnectorOptions, TransportConnector};
use pingora::server::configuration::ServerConf;
use std::sync::Arc;

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
