//! `backends.NAME.servers.NAME`: address, weight, TLS, protocol, PROXY
//! header.

use super::node::{Entry, Loader};
use crate::{Lookup, Proto, ProxyVersion, ServerConfig};
use std::net::{SocketAddr, ToSocketAddrs};

const SERVER_KEYS: &[&str] = &[
    "addr",
    "weight",
    "backup",
    "maxconn",
    "cookie",
    "tls",
    "sni",
    "verify",
    "ca",
    "proto",
    "send_proxy",
];
const SERVER_LATER: &[&str] = &[];

/// One entry of `servers`; `dns`: its backend has `dns` (host names are
/// looked up while running, not now).
pub(crate) fn parse(cx: &mut Loader<'_>, entry: &Entry<'_>, dns: bool) -> Option<ServerConfig> {
    let name_ok = cx.check_name(entry);
    let mut f = cx.fields(&entry.item, SERVER_KEYS, SERVER_LATER);
    let addr = match f.take("addr") {
        Some(e) => cx
            .text(&e.item)
            .and_then(|text| match address(&text.value, dns) {
                Ok((sa, lookup)) => Some((text.value, sa, lookup)),
                Err(msg) => {
                    cx.error(e.item.pos, &e.item.path, msg);
                    None
                }
            }),
        None => {
            cx.error(
                entry.key_pos,
                &entry.item.path,
                "missing required key `addr`",
            );
            None
        }
    };
    let weight = match f.take("weight") {
        Some(e) => cx
            .integer(&e.item, 0, u64::from(crate::MAX_WEIGHT))
            .and_then(|n| u16::try_from(n).ok()),
        None => Some(1),
    };
    let backup = match f.take("backup") {
        Some(e) => cx.boolean(&e.item),
        None => Some(false),
    };
    let maxconn = match f.take("maxconn") {
        Some(e) => cx
            .integer(&e.item, 1, 1_000_000)
            .and_then(|n| u32::try_from(n).ok())
            .map(Some),
        None => Some(None),
    };
    let cookie = match f.take("cookie") {
        Some(e) => match cx.text(&e.item) {
            Some(t)
                if !t.value.is_empty()
                    && t.value
                        .bytes()
                        .all(|b| b.is_ascii_graphic() && !b";,\\\"".contains(&b)) =>
            {
                Some(t.value)
            }
            Some(t) => {
                cx.error(
                    e.item.pos,
                    &e.item.path,
                    format!("invalid cookie value `{}`", t.value),
                );
                None
            }
            None => None,
        },
        None => Some(entry.key.to_string()),
    };
    let host = addr.as_ref().map(|(text, ..)| host_of(text));
    let tls = super::tls::server(
        cx,
        f.take("tls"),
        f.take("sni"),
        f.take("verify"),
        f.take("ca"),
        host,
    );
    let proto = match f.take("proto") {
        Some(e) => {
            let choices = [("h1", Proto::H1), ("h2", Proto::H2), ("h2c", Proto::H2c)];
            let proto = cx.choice(&e.item, "proto", &choices);
            let tls_on = matches!(tls, Some(Some(_)));
            match proto {
                Some(Proto::H2) if !tls_on => {
                    let msg = "`proto: h2` is HTTP/2 over TLS: add `tls: true` \
                               (or use `proto: h2c` for cleartext HTTP/2)";
                    cx.error(e.key_pos, &e.item.path, msg);
                    None
                }
                Some(Proto::H2c) if tls_on => {
                    let msg = "`proto: h2c` is cleartext HTTP/2: with `tls: true` use `proto: h2`";
                    cx.error(e.key_pos, &e.item.path, msg);
                    None
                }
                other => other,
            }
        }
        None => Some(Proto::H1),
    };
    let send_proxy = match f.take("send_proxy") {
        Some(e) => {
            let choices = [("v1", ProxyVersion::V1), ("v2", ProxyVersion::V2)];
            cx.choice(&e.item, "send_proxy", &choices).map(Some)
        }
        None => Some(None),
    };
    let (addr, socket_addr, lookup) = addr?;
    if !name_ok {
        return None;
    }
    Some(ServerConfig {
        name: entry.key.to_string(),
        addr,
        socket_addr,
        lookup,
        weight: weight?,
        backup: backup?,
        maxconn: maxconn?,
        cookie: cookie?,
        tls: tls?,
        proto: proto?,
        send_proxy: send_proxy?,
    })
}

/// A server's `addr`: without `dns`, resolved now; with `dns`, an
/// `ip:port` as it is, or a name to look up while running.
fn address(addr: &str, dns: bool) -> Result<(Option<SocketAddr>, Option<Lookup>), String> {
    if dns {
        return super::dns::address(addr);
    }
    if addr.starts_with('_') && !addr.contains(':') && crate::dns::is_srv(addr) {
        return Err(format!(
            "server address `{addr}` is an SRV name: add `dns` to the backend to look it up \
             (or write host:port)"
        ));
    }
    resolve(addr).map(|sa| (Some(sa), None))
}

/// The host part of a server's `host:port` (brackets of an IPv6 literal
/// removed), or the name of an SRV name `_service._proto.name`: the
/// default TLS server name.
fn host_of(addr: &str) -> &str {
    if addr.starts_with('_') && !addr.contains(':') {
        return addr.splitn(3, '.').nth(2).unwrap_or(addr);
    }
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Resolves a server's `host:port` now (IPv4 preferred).
pub(crate) fn resolve(addr: &str) -> Result<SocketAddr, String> {
    if let Ok(sa) = addr.parse::<SocketAddr>() {
        if sa.port() == 0 {
            return Err(format!(
                "invalid port in server address `{addr}` (expected 1 to 65535)"
            ));
        }
        return Ok(sa);
    }
    let (host, port) = host_port(addr)?;
    let resolved: Vec<SocketAddr> = match (host, port).to_socket_addrs() {
        Ok(it) => it.collect(),
        Err(e) => return Err(format!("cannot resolve server address `{addr}`: {e}")),
    };
    resolved
        .iter()
        .find(|sa| sa.is_ipv4())
        .or_else(|| resolved.first())
        .copied()
        .ok_or_else(|| format!("cannot resolve server address `{addr}`: no addresses found"))
}

/// The host and port of a `host:port` that is not an `ip:port` (checked,
/// not resolved).
pub(crate) fn host_port(addr: &str) -> Result<(&str, u16), String> {
    if addr.starts_with('[') {
        return Err(format!(
            "invalid server address `{addr}` (expected host:port or [ipv6]:port)"
        ));
    }
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err(format!(
            "server address `{addr}` has no port (expected host:port)"
        ));
    };
    if host.contains(':') {
        return Err(format!(
            "invalid server address `{addr}` (write IPv6 addresses as [ipv6]:port)"
        ));
    }
    if host.is_empty() {
        return Err(format!(
            "server address `{addr}` has no host (expected host:port)"
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok((host, p)),
        _ => Err(format!(
            "invalid port in server address `{addr}` (expected 1 to 65535)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_literals_and_localhost() {
        assert_eq!(
            resolve("127.0.0.1:8001").unwrap(),
            "127.0.0.1:8001".parse().unwrap()
        );
        assert_eq!(
            resolve("[::1]:8001").unwrap(),
            "[::1]:8001".parse().unwrap()
        );
        let sa = resolve("localhost:8001").unwrap();
        assert_eq!(sa.port(), 8001);
        assert!(sa.ip().is_loopback());
    }

    #[test]
    fn hosts_of_addresses() {
        assert_eq!(host_of("example.org:443"), "example.org");
        assert_eq!(host_of("127.0.0.1:8443"), "127.0.0.1");
        assert_eq!(host_of("[::1]:443"), "::1");
        assert_eq!(host_of("_https._tcp.app.example"), "app.example");
    }

    #[test]
    fn rejects_bad_addresses() {
        assert!(resolve("127.0.0.1").unwrap_err().contains("has no port"));
        assert!(resolve("127.0.0.1:0").unwrap_err().contains("invalid port"));
        assert!(resolve("127.0.0.1:x").unwrap_err().contains("invalid port"));
        assert!(resolve("host:99999").unwrap_err().contains("invalid port"));
        assert!(resolve("::1:80").unwrap_err().contains("IPv6"));
        assert!(resolve(":80").unwrap_err().contains("no host"));
        assert!(resolve("[nope]:80").is_err());
        let srv = address("_http._tcp.app.example", false).unwrap_err();
        assert!(srv.contains("add `dns` to the backend"), "{srv}");
        let e = resolve("no-such-host.invalid:80").unwrap_err();
        assert!(
            e.starts_with("cannot resolve server address `no-such-host.invalid:80`"),
            "{e}"
        );
    }
}
