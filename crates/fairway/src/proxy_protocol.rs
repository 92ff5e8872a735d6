//! The PROXY protocol (HAProxy's, versions 1 and 2) on accepted
//! connections: `accept_proxy: true` on a frontend.
//!
//! The header is read byte-exact from the start of the connection (nothing
//! after it is consumed), bounded in size (v1: 107 bytes, v2: 16 bytes and
//! at most [`MAX_V2_BODY`] more) and in time (the caller's deadline), and
//! parsed by the `ppp` crate. The source and destination it carries replace
//! the connection's own addresses in its socket digest, which is where
//! everything reads the client's address from: `src` in the rules, the
//! access log, `X-Forwarded-For`, `balance source`, the rate tables. A
//! `LOCAL` (v2) or `UNKNOWN` (v1) header — a balancer's own health check —
//! keeps the connection's addresses.

use fairway_config::ProxyVersion;
use pingora::protocols::l4::socket::SocketAddr;
use pingora::protocols::{SocketDigest, Stream};
use ppp::{v1, v2, HeaderResult};
use std::net::{IpAddr, SocketAddr as InetAddr};
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

/// The v2 signature (12 bytes).
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 header, CRLF included (its specification's figure).
const MAX_V1: usize = 107;
/// The most address and TLV bytes accepted after a v2 header's first 16
/// (addresses take at most 216; balancers add a few TLVs).
pub const MAX_V2_BODY: usize = 4096;

/// Why a connection's PROXY header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The connection closed, failed, or the deadline passed first.
    Incomplete,
    /// The bytes are not a PROXY header (or a malformed one).
    Invalid,
    /// A v2 header longer than [`MAX_V2_BODY`] allows.
    TooLong,
}

impl Refused {
    /// A short name for logs.
    pub fn reason(self) -> &'static str {
        match self {
            Refused::Incomplete => "proxy_header_incomplete",
            Refused::Invalid => "proxy_header_invalid",
            Refused::TooLong => "proxy_header_too_long",
        }
    }
}

/// The addresses a header carries: client, then the address it connected
/// to. `None` for a header without addresses (`LOCAL`, `UNKNOWN`).
pub type Carried = Option<(InetAddr, InetAddr)>;

/// For a frontend with `accept_proxy`: reads the connection's PROXY header
/// by `deadline` and applies it ([`accept`]); `false` when the connection
/// must close (logged at `info` and counted in
/// `fairway_proxy_protocol_refused_total`).
pub async fn admit(
    stream: &mut Stream,
    deadline: Instant,
    frontend: &str,
    metrics: &crate::metrics::Metrics,
) -> bool {
    let peer = stream
        .get_socket_digest()
        .and_then(|d| d.peer_addr().map(ToString::to_string))
        .unwrap_or_default();
    match accept(stream, deadline).await {
        Ok(_) => true,
        Err(why) => {
            log::info!(
                "connection closed: frontend={frontend} client={peer} reason={}",
                why.reason()
            );
            metrics.proxy_refused(frontend, why.reason());
            false
        }
    }
}

/// Reads the PROXY header at the start of `stream` by `deadline` and
/// applies the addresses it carries to the stream's digest.
pub async fn accept(stream: &mut Stream, deadline: Instant) -> Result<Carried, Refused> {
    let header = tokio::time::timeout_at(deadline, read_header(stream))
        .await
        .map_err(|_| Refused::Incomplete)??;
    let carried = parse(&header)?;
    if let Some((client, local)) = carried {
        let digest = SocketDigest::from_raw_fd(stream.id());
        let _ = digest.peer_addr.set(Some(SocketAddr::Inet(client)));
        let _ = digest.local_addr.set(Some(SocketAddr::Inet(local)));
        stream.set_socket_digest(digest);
    }
    Ok(carried)
}

/// The header's bytes, exactly.
async fn read_header(stream: &mut Stream) -> Result<Vec<u8>, Refused> {
    let io = |_| Refused::Incomplete;
    let mut header = vec![0u8; 16];
    // Both versions' first 8 bytes: "PROXY " and a byte or two, or the
    // first 8 of the v2 signature.
    stream.read_exact(&mut header[..8]).await.map_err(io)?;
    if header[..8] == V2_SIGNATURE[..8] {
        stream.read_exact(&mut header[8..]).await.map_err(io)?;
        if header[..12] != V2_SIGNATURE[..] {
            return Err(Refused::Invalid);
        }
        let body = usize::from(u16::from_be_bytes([header[14], header[15]]));
        if body > MAX_V2_BODY {
            return Err(Refused::TooLong);
        }
        header.resize(16 + body, 0);
        stream.read_exact(&mut header[16..]).await.map_err(io)?;
        return Ok(header);
    }
    if !header.starts_with(b"PROXY ") {
        return Err(Refused::Invalid);
    }
    header.truncate(8);
    // Byte by byte to the line's end (the stream reads ahead into its own
    // buffer, so this is no system call per byte), nothing past it.
    while !header.ends_with(b"\r\n") {
        if header.len() == MAX_V1 {
            return Err(Refused::Invalid);
        }
        let byte = stream.read_u8().await.map_err(io)?;
        header.push(byte);
    }
    Ok(header)
}

/// The addresses in a complete header.
fn parse(header: &[u8]) -> Result<Carried, Refused> {
    match HeaderResult::parse(header) {
        HeaderResult::V2(Ok(h)) if h.len() == header.len() => Ok(match (h.command, h.addresses) {
            (v2::Command::Local, _) => None,
            (_, v2::Addresses::IPv4(a)) => Some((
                InetAddr::new(IpAddr::V4(a.source_address), a.source_port),
                InetAddr::new(IpAddr::V4(a.destination_address), a.destination_port),
            )),
            (_, v2::Addresses::IPv6(a)) => Some((
                InetAddr::new(IpAddr::V6(a.source_address), a.source_port),
                InetAddr::new(IpAddr::V6(a.destination_address), a.destination_port),
            )),
            // An address family fairway does not route on: the
            // connection's own addresses stand (as HAProxy does).
            (_, v2::Addresses::Unspecified | v2::Addresses::Unix(_)) => None,
        }),
        HeaderResult::V1(Ok(h)) if h.header.len() == header.len() => Ok(match h.addresses {
            v1::Addresses::Tcp4(a) => Some((
                InetAddr::new(IpAddr::V4(a.source_address), a.source_port),
                InetAddr::new(IpAddr::V4(a.destination_address), a.destination_port),
            )),
            v1::Addresses::Tcp6(a) => Some((
                InetAddr::new(IpAddr::V6(a.source_address), a.source_port),
                InetAddr::new(IpAddr::V6(a.destination_address), a.destination_port),
            )),
            v1::Addresses::Unknown => None,
        }),
        _ => Err(Refused::Invalid),
    }
}

/// Makes `peer` open its connections with a PROXY header for `client`
/// (seen connecting to `local`). Such connections are pooled for that
/// client connection only (its address and port in the peer's group key).
pub(crate) fn attach(
    peer: &mut pingora::upstreams::peer::HttpPeer,
    version: ProxyVersion,
    client: InetAddr,
    local: InetAddr,
) {
    let header = header(version, client, local);
    peer.group_key ^= crate::balance::hash_bytes(client.to_string().as_bytes());
    peer.options.custom_l4 = Some(std::sync::Arc::new(SendProxy { header }));
}

/// The header sent to a `send_proxy` server for a connection from `client`
/// to `local` (fairway's address the client connected to). Mixed families
/// (an IPv4 client on an IPv6 listener) are sent as IPv6, mapped.
pub fn header(version: ProxyVersion, client: InetAddr, local: InetAddr) -> Vec<u8> {
    let (client, local) = same_family(client, local);
    match version {
        ProxyVersion::V1 => {
            let family = if client.is_ipv4() { "TCP4" } else { "TCP6" };
            format!(
                "PROXY {family} {} {} {} {}\r\n",
                client.ip(),
                local.ip(),
                client.port(),
                local.port()
            )
            .into_bytes()
        }
        ProxyVersion::V2 => v2::Builder::with_addresses(
            v2::Version::Two | v2::Command::Proxy,
            v2::Protocol::Stream,
            (client, local),
        )
        .build()
        // Building into a Vec cannot fail for TCP addresses.
        .unwrap_or_default(),
    }
}

fn same_family(a: InetAddr, b: InetAddr) -> (InetAddr, InetAddr) {
    let v6 = |s: InetAddr| match s {
        InetAddr::V4(v4) => InetAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port()),
        v6 => v6,
    };
    if a.is_ipv4() == b.is_ipv4() {
        (a, b)
    } else {
        (v6(a), v6(b))
    }
}

/// Pingora's L4 connect for a `send_proxy` server: a TCP connection that
/// starts with `header` (one client's; the peer's `group_key` keeps such
/// connections to that client).
#[derive(Debug)]
pub struct SendProxy {
    /// The PROXY header, from [`header`].
    pub header: Vec<u8>,
}

#[async_trait::async_trait]
impl pingora::connectors::L4Connect for SendProxy {
    async fn connect(
        &self,
        addr: &SocketAddr,
    ) -> pingora::Result<pingora::protocols::l4::stream::Stream> {
        use pingora::{Error, ErrorType};
        use tokio::io::AsyncWriteExt;
        let SocketAddr::Inet(inet) = addr else {
            return Error::e_explain(ErrorType::ConnectError, "send_proxy needs a TCP address");
        };
        let mut tcp = tokio::net::TcpStream::connect(inet)
            .await
            .map_err(|e| Error::because(ErrorType::ConnectRefused, "connecting", e))?;
        let _ = tcp.set_nodelay(true);
        tcp.write_all(&self.header)
            .await
            .map_err(|e| Error::because(ErrorType::ConnectError, "sending the PROXY header", e))?;
        Ok(pingora::protocols::l4::stream::Stream::from(tcp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_headers() {
        let carried = parse(b"PROXY TCP4 10.1.2.3 192.0.2.1 51000 80\r\n").unwrap();
        assert_eq!(
            carried,
            Some((
                "10.1.2.3:51000".parse().unwrap(),
                "192.0.2.1:80".parse().unwrap()
            ))
        );
        let carried = parse(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n").unwrap();
        assert_eq!(carried.unwrap().0, "[2001:db8::1]:1".parse().unwrap());
        assert_eq!(parse(b"PROXY UNKNOWN\r\n"), Ok(None));
        for bad in [
            &b"PROXY TCP4 10.1.2.3 192.0.2.1 51000\r\n"[..],
            b"PROXY TCP4 10.1.2.300 192.0.2.1 1 2\r\n",
            b"PROXY TCP5 10.1.2.3 192.0.2.1 1 2\r\n",
            b"GET / HTTP/1.1\r\n",
        ] {
            assert_eq!(parse(bad), Err(Refused::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn headers_sent_parse_back() {
        let (c, l): (InetAddr, InetAddr) = (
            "192.0.2.7:5000".parse().unwrap(),
            "127.0.0.1:80".parse().unwrap(),
        );
        for v in [ProxyVersion::V1, ProxyVersion::V2] {
            assert_eq!(parse(&header(v, c, l)), Ok(Some((c, l))), "{v:?}");
        }
        assert_eq!(
            header(ProxyVersion::V1, c, l),
            b"PROXY TCP4 192.0.2.7 127.0.0.1 5000 80\r\n"
        );
        let l6: InetAddr = "[::1]:80".parse().unwrap();
        let (c6, _) = same_family(c, l6);
        assert_eq!(parse(&header(ProxyVersion::V2, c, l6)), Ok(Some((c6, l6))));
    }

    #[test]
    fn version_2_headers() {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[
            0x21, 0x11, 0, 12, 10, 1, 2, 3, 192, 0, 2, 1, 0xC7, 0x38, 0, 80,
        ]);
        assert_eq!(
            parse(&h),
            Ok(Some((
                "10.1.2.3:51000".parse().unwrap(),
                "192.0.2.1:80".parse().unwrap()
            )))
        );
        // LOCAL: the connection's own addresses.
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert_eq!(parse(&local), Ok(None));
        // A length that does not match the addresses.
        let mut short = V2_SIGNATURE.to_vec();
        short.extend_from_slice(&[0x21, 0x11, 0, 4, 10, 1, 2, 3]);
        assert_eq!(parse(&short), Err(Refused::Invalid));
    }
}
