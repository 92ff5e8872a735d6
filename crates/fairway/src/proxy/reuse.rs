//! `http_reuse` on Pingora's proxy (requests with bodies, upgrades, HTTP/2
//! clients): which of its pooled server connections a request may take.
//!
//! Pingora's pool finds a connection by the peer's reuse hash, and puts it
//! back under the same hash. Under `safe` and `never` the peer's group key
//! (part of that hash) is mixed with the client connection's identity, so
//! a request only ever takes a server connection its own client connection
//! opened: the first request of a client connection opens one, and no
//! other client's bytes (a stray response among them) can reach it. That
//! is stricter than `safe` asks (a later request may take any idle
//! connection) and is what `never` asks; the fast path
//! ([`super::fast`]) keeps the exact `safe` rule for plain requests. The
//! connections of a client that left wait in Pingora's pool until their
//! idle timeout or until the pool's size evicts them, the oldest first.
//! Connections to HTTP/2 servers stay shared.

use fairway_config::HttpReuse;
use pingora::upstreams::peer::HttpPeer;
use pingora_proxy::Session;
use std::sync::Arc;

/// Makes `peer`'s pooled connections private to the client connection of
/// `session`, unless `reuse` is `always`.
pub(super) fn apply(peer: &mut HttpPeer, reuse: HttpReuse, session: &Session) {
    // HTTP/2 to the server has no response queue to poison (each answer
    // names its stream): its connections stay shared, as HAProxy's are.
    if reuse == HttpReuse::Always || peer.options.alpn.get_min_http_version() >= 2 {
        return;
    }
    peer.group_key ^= client_connection(session);
}

/// A key for the client connection of `session`: the address of its
/// socket digest (one per connection, shared by every request and HTTP/2
/// stream on it) and the client's address and port.
fn client_connection(session: &Session) -> u64 {
    let socket = session
        .digest()
        .and_then(|d| d.socket_digest.as_ref())
        .map_or(0, |s| Arc::as_ptr(s) as usize as u64);
    let mut bytes = [0u8; 26];
    bytes[..8].copy_from_slice(&socket.to_le_bytes());
    if let Some(addr) = session.client_addr().and_then(|a| a.as_inet()) {
        match addr.ip() {
            std::net::IpAddr::V4(ip) => bytes[8..12].copy_from_slice(&ip.octets()),
            std::net::IpAddr::V6(ip) => bytes[8..24].copy_from_slice(&ip.octets()),
        }
        bytes[24..].copy_from_slice(&addr.port().to_le_bytes());
    }
    // Never 0: a client connection's key always changes the group key.
    crate::balance::hash_bytes(&bytes) | 1
}
