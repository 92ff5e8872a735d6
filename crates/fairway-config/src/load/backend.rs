//! `backends.NAME`: balance, timeouts, retries and servers.

use super::mode;
use super::node::{Ctx, Entry, Item};
use crate::{Backend, Balance, Mode, Server};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

const KEYS: &[&str] = &[
    "mode",
    "balance",
    "timeout_connect",
    "timeout_server",
    "retries",
    "redispatch",
    "servers",
];
const LATER: &[&str] = &[
    "timeout_queue",
    "cookie",
    "health_check",
    "latency",
    "discovery",
];

const SERVER_KEYS: &[&str] = &["addr", "weight", "backup"];
const SERVER_LATER: &[&str] = &["maxconn", "cookie", "tls", "sni", "verify", "ca"];

/// Balance algorithms of SPEC §4 that later versions implement.
const BALANCE_LATER: &[&str] = &[
    "leastconn",
    "source",
    "random",
    "first",
    "latency",
    "ewma",
    "uri",
];

/// Parses one entry of `backends`.
pub(crate) fn parse(cx: &mut Ctx<'_>, entry: &Entry<'_>) -> Backend {
    cx.check_name(entry);
    let mut f = cx.fields(&entry.item, KEYS, LATER);
    let mut backend = Backend {
        name: entry.key.to_string(),
        mode: Mode::Http,
        balance: Balance::RoundRobin,
        timeout_connect: Duration::from_secs(5),
        timeout_server: Duration::from_secs(60),
        retries: 2,
        redispatch: true,
        servers: Vec::new(),
    };
    if let Some(e) = f.take("mode") {
        backend.mode = mode(cx, &e.item).unwrap_or_default();
    }
    if let Some(e) = f.take("balance") {
        backend.balance = balance(cx, &e.item).unwrap_or_default();
    }
    if let Some(e) = f.take("timeout_connect") {
        backend.timeout_connect = cx.timeout(&e.item).unwrap_or(backend.timeout_connect);
    }
    if let Some(e) = f.take("timeout_server") {
        backend.timeout_server = cx.timeout(&e.item).unwrap_or(backend.timeout_server);
    }
    if let Some(e) = f.take("retries") {
        backend.retries = cx
            .integer(&e.item, 0, 100)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(2);
    }
    if let Some(e) = f.take("redispatch") {
        backend.redispatch = cx.boolean(&e.item).unwrap_or(true);
    }
    if let Some(e) = f.take("servers") {
        for s in cx.entries(&e.item).unwrap_or_default() {
            if let Some(server) = server(cx, &s) {
                backend.servers.push(server);
            }
        }
    }
    backend
}

/// `balance`: only `roundrobin` in this version.
fn balance(cx: &mut Ctx<'_>, item: &Item<'_>) -> Option<Balance> {
    let text = cx.text(item)?;
    let name = text.value.as_str();
    if name == "roundrobin" {
        return Some(Balance::RoundRobin);
    }
    let with_arg = |prefix: &str| {
        name.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(')'))
            .is_some_and(|arg| !arg.is_empty())
    };
    let msg = if BALANCE_LATER.contains(&name) || with_arg("url_param(") || with_arg("hdr(") {
        format!("balance `{name}` is not supported yet")
    } else {
        format!(
            "unknown balance `{name}` (expected one of: roundrobin, {}, url_param(NAME), hdr(NAME))",
            BALANCE_LATER.join(", ")
        )
    };
    cx.error(item.pos, &item.path, msg);
    None
}

/// One entry of `servers`.
fn server(cx: &mut Ctx<'_>, entry: &Entry<'_>) -> Option<Server> {
    let name_ok = cx.check_name(entry);
    let mut f = cx.fields(&entry.item, SERVER_KEYS, SERVER_LATER);
    let addr = match f.take("addr") {
        Some(e) => cx
            .text(&e.item)
            .and_then(|text| match resolve(&text.value) {
                Ok(sa) => Some((text.value, sa)),
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
            .integer(&e.item, 0, 256)
            .and_then(|n| u16::try_from(n).ok()),
        None => Some(1),
    };
    let backup = match f.take("backup") {
        Some(e) => cx.boolean(&e.item),
        None => Some(false),
    };
    let (addr, socket_addr) = addr?;
    if !name_ok {
        return None;
    }
    Some(Server {
        name: entry.key.to_string(),
        addr,
        socket_addr,
        weight: weight?,
        backup: backup?,
    })
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
    let port = match port.parse::<u16>() {
        Ok(p) if p != 0 => p,
        _ => {
            return Err(format!(
                "invalid port in server address `{addr}` (expected 1 to 65535)"
            ))
        }
    };
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
    fn rejects_bad_addresses() {
        assert!(resolve("127.0.0.1").unwrap_err().contains("has no port"));
        assert!(resolve("127.0.0.1:0").unwrap_err().contains("invalid port"));
        assert!(resolve("127.0.0.1:x").unwrap_err().contains("invalid port"));
        assert!(resolve("host:99999").unwrap_err().contains("invalid port"));
        assert!(resolve("::1:80").unwrap_err().contains("IPv6"));
        assert!(resolve(":80").unwrap_err().contains("no host"));
        assert!(resolve("[nope]:80").is_err());
        let e = resolve("no-such-host.invalid:80").unwrap_err();
        assert!(
            e.starts_with("cannot resolve server address `no-such-host.invalid:80`"),
            "{e}"
        );
    }
}
