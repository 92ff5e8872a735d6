//! `backends.NAME.dns` and the server addresses it lets through.

use super::node::{Item, Loader};
use crate::dns::{is_srv, valid_host};
use crate::{Dns, Lookup};
use std::net::{IpAddr, SocketAddr};

const KEYS: &[&str] = &["interval", "nameservers"];

/// `dns: { interval, nameservers }` (both optional; `dns: {}` re-resolves
/// every 10 s against the system's resolver).
pub(crate) fn parse(cx: &mut Loader<'_>, item: &Item<'_>) -> Option<Dns> {
    let mut f = cx.fields(item, KEYS, &[]);
    let mut dns = Dns::default();
    let mut ok = true;
    if let Some(e) = f.take("interval") {
        ok &= cx.timeout(&e.item).map(|d| dns.interval = d).is_some();
    }
    if let Some(e) = f.take("nameservers") {
        match cx.list(&e.item) {
            Some(items) => {
                if items.is_empty() {
                    cx.error(
                        e.key_pos,
                        &e.item.path,
                        "at least one name server is needed (leave `nameservers` out to use the system's)",
                    );
                    ok = false;
                }
                for i in &items {
                    match cx.text(i) {
                        Some(t) => match nameserver(&t.value) {
                            Some(addr) => dns.nameservers.push(addr),
                            None => {
                                cx.error(
                                    i.pos,
                                    &i.path,
                                    format!(
                                        "invalid name server `{}` (expected ip:port, or ip for port 53)",
                                        t.value
                                    ),
                                );
                                ok = false;
                            }
                        },
                        None => ok = false,
                    }
                }
            }
            None => ok = false,
        }
    }
    ok.then_some(dns)
}

/// `ip:port`, `[ipv6]:port`, or an IP alone (port 53).
fn nameserver(text: &str) -> Option<SocketAddr> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    text.parse::<SocketAddr>().ok().filter(|a| a.port() != 0)
}

/// A server's `addr` in a backend with `dns`: an `ip:port` as it is; a
/// `host:port` or an SRV name `_service._proto.name` to look up while
/// running (nothing is resolved now).
pub(crate) fn address(addr: &str) -> Result<(Option<SocketAddr>, Option<Lookup>), String> {
    if addr.parse::<SocketAddr>().is_ok() {
        return super::server::resolve(addr).map(|a| (Some(a), None));
    }
    if !addr.contains(':') && addr.starts_with('_') {
        return if is_srv(addr) {
            Ok((None, Some(Lookup::Srv(addr.to_string()))))
        } else {
            Err(format!(
                "invalid SRV name `{addr}` (expected _service._proto.name, e.g. _http._tcp.app.example)"
            ))
        };
    }
    if !addr.contains(':') {
        return Err(format!(
            "server address `{addr}` has no port (expected host:port, or an SRV name _service._proto.name)"
        ));
    }
    let (host, port) = super::server::host_port(addr)?;
    if !valid_host(host) {
        return Err(format!(
            "invalid host name `{host}` in server address `{addr}` (letters, digits, `-` and `_` in dot-separated labels)"
        ));
    }
    let host = host.to_string();
    Ok((None, Some(Lookup::Host { host, port })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameservers_default_to_port_53() {
        assert_eq!(
            nameserver("127.0.0.1"),
            Some("127.0.0.1:53".parse().unwrap())
        );
        assert_eq!(
            nameserver("127.0.0.1:5353"),
            Some("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(nameserver("::1"), Some("[::1]:53".parse().unwrap()));
        assert_eq!(nameserver("[::1]:54"), Some("[::1]:54".parse().unwrap()));
        assert_eq!(nameserver("127.0.0.1:0"), None);
        assert_eq!(nameserver("dns.example:53"), None);
        assert_eq!(nameserver(""), None);
    }

    #[test]
    fn addresses_with_dns_are_looked_up_later() {
        let ip = address("127.0.0.1:80").unwrap();
        assert_eq!(ip, (Some("127.0.0.1:80".parse().unwrap()), None));
        let host = address("app.test:8080").unwrap();
        assert_eq!(
            host,
            (
                None,
                Some(Lookup::Host {
                    host: "app.test".into(),
                    port: 8080
                })
            )
        );
        let srv = address("_http._tcp.app.test").unwrap();
        assert_eq!(srv, (None, Some(Lookup::Srv("_http._tcp.app.test".into()))));
        assert!(address("_http.app")
            .unwrap_err()
            .contains("invalid SRV name"));
        assert!(address("app.test").unwrap_err().contains("has no port"));
        assert!(address("app test:80")
            .unwrap_err()
            .contains("invalid host name"));
        assert!(address("app.test:0").unwrap_err().contains("invalid port"));
    }
}
