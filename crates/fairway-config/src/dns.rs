//! `dns` of a backend: server host names re-resolved while fairway runs.

use std::net::SocketAddr;
use std::time::Duration;

/// `dns` of a backend: the host names in its servers' `addr` are resolved
/// by fairway while it runs (every `interval`, against `nameservers`), not
/// once at load, and a changed address applies without a reload.
///
/// With `dns`, a name is not resolved at load at all (the system resolver
/// may not know a name only `nameservers` do): such a server has no
/// address ([`ServerConfig::socket_addr`](crate::ServerConfig) is `None`)
/// and takes no traffic until its first resolution (HAProxy's `init-addr
/// none`). A server `addr` may then also be an SRV name (see [`Lookup`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dns {
    /// How often every name is resolved again (default 10 s; more than
    /// zero).
    pub interval: Duration,
    /// The name servers asked, in order (`ip:port`, or `ip` for port 53);
    /// empty: the system's (`/etc/resolv.conf`, and `/etc/hosts`).
    pub nameservers: Vec<SocketAddr>,
}

impl Default for Dns {
    fn default() -> Self {
        Dns {
            interval: Duration::from_secs(10),
            nameservers: Vec::new(),
        }
    }
}

/// What a server's `addr` names when its backend has `dns` (an `ip:port`
/// needs no lookup).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Lookup {
    /// `host:port`: the host's A and AAAA records; the first IPv4 address
    /// is used, else the first IPv6 one (as at load without `dns`).
    Host {
        /// The host name, as written.
        host: String,
        /// The port.
        port: u16,
    },
    /// `_service._proto.name`, written without a port (HAProxy's SRV
    /// form): of the SRV records, the one with the lowest priority, then
    /// the highest weight (then the first by target and port, so equal
    /// records do not take turns); its target's address (IPv4 preferred)
    /// and its port.
    Srv(String),
}

impl std::fmt::Display for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lookup::Host { host, port } => write!(f, "{host}:{port}"),
            Lookup::Srv(name) => f.write_str(name),
        }
    }
}

/// Whether `name` is a DNS name fairway may look up: dot-separated labels
/// of letters, digits, `-` and `_` (1 to 63 each, 253 in all), an optional
/// final dot.
pub(crate) fn valid_host(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Whether `addr` is written in the SRV form `_service._proto.name`: no
/// port, the first two labels starting with `_`, a name after them.
pub(crate) fn is_srv(addr: &str) -> bool {
    let mut labels = addr.splitn(3, '.');
    let (service, proto, rest) = (labels.next(), labels.next(), labels.next());
    matches!(
        (service, proto, rest),
        (Some(s), Some(p), Some(r)) if s.len() > 1 && s.starts_with('_')
            && p.len() > 1 && p.starts_with('_') && !r.is_empty()
    ) && valid_host(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_srv_forms() {
        assert!(valid_host("app.test"));
        assert!(valid_host("app.test."));
        assert!(valid_host("localhost"));
        assert!(!valid_host(""));
        assert!(!valid_host("a..b"));
        assert!(!valid_host("a b"));
        assert!(!valid_host(&"a".repeat(64)));
        assert!(is_srv("_http._tcp.app.test"));
        assert!(!is_srv("_http._tcp"));
        assert!(!is_srv("http._tcp.app"));
        assert!(!is_srv("_._tcp.app"));
        assert!(!is_srv("_http._tcp.app:80"));
        assert_eq!(
            Lookup::Host {
                host: "a.test".into(),
                port: 80
            }
            .to_string(),
            "a.test:80"
        );
    }
}
