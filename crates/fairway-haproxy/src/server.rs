//! Values of HAProxy directives: durations, addresses, `server` and
//! `default-server` options, `bind` lines.

use super::parse::Word;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

/// An HAProxy time: a number with an optional unit (`us`, `ms`, `s`, `m`,
/// `h`, `d`); a bare number is in milliseconds.
pub(crate) fn parse_time(text: &str) -> Option<Duration> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 12 {
        return None;
    }
    let n: u64 = text.get(..digits)?.parse().ok()?;
    let unit = text.get(digits..)?;
    let micros = match unit {
        "us" => 1,
        "" | "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => return None,
    };
    n.checked_mul(micros).map(Duration::from_micros)
}

/// A duration as fairway writes it: the largest unit that is exact.
pub(crate) fn fmt_duration(d: Duration) -> String {
    let us = d.as_micros();
    for (unit, size) in [
        ("d", 86_400_000_000u128),
        ("h", 3_600_000_000),
        ("m", 60_000_000),
        ("s", 1_000_000),
        ("ms", 1_000),
    ] {
        if us >= size && us % size == 0 {
            return format!("{}{unit}", us / size);
        }
    }
    format!("{us}us")
}

/// A timeout value for fairway, or why it cannot be one.
pub(crate) fn timeout(text: &str) -> Result<String, String> {
    match parse_time(text) {
        Some(d) if d.is_zero() => Err(
            "0 means no timeout in HAProxy; fairway needs a limit, so its default applies"
                .to_string(),
        ),
        Some(d) => Ok(fmt_duration(d)),
        None => Err(format!("invalid time `{text}`")),
    }
}

/// `name` made valid for fairway (HAProxy also allows `:`).
pub(crate) fn sanitize_name(name: &str) -> String {
    let out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        "_".to_string()
    } else {
        out
    }
}

/// Splits HAProxy's `host:port` (IPv6 as `[v6]:port` or `v6:port`, with an
/// optional `ipv4@`/`ipv6@` prefix) into host and port text.
fn split_addr(text: &str) -> Result<(String, String), String> {
    let text = text
        .strip_prefix("ipv4@")
        .or_else(|| text.strip_prefix("ipv6@"))
        .unwrap_or(text);
    for family in [
        "unix@",
        "abns@",
        "fd@",
        "sockpair@",
        "quic4@",
        "quic6@",
        "udp@",
    ] {
        if text.starts_with(family) {
            return Err(format!("`{family}` addresses are not supported"));
        }
    }
    if text.starts_with('/') {
        return Err("Unix socket addresses are not supported".to_string());
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (host, port) = rest
            .split_once("]:")
            .ok_or_else(|| format!("invalid address `{text}`"))?;
        return Ok((host.to_string(), port.to_string()));
    }
    match text.rsplit_once(':') {
        Some((host, port)) => Ok((host.to_string(), port.to_string())),
        None => Err(format!(
            "address `{text}` has no port (HAProxy then uses the client's destination port)"
        )),
    }
}

/// `host` and `port` joined for fairway (`[v6]:port` for IPv6).
fn join_addr(host: &str, port: &str) -> String {
    if host.parse::<Ipv6Addr>().is_ok() {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Whether `port` is a usable port number.
fn valid_port(port: &str) -> bool {
    matches!(port.parse::<u16>(), Ok(p) if p > 0) && port.bytes().all(|b| b.is_ascii_digit())
}

/// A `server` address for fairway: host names are kept (fairway resolves
/// them when it loads the file).
pub(crate) fn server_addr(word: &Word) -> Result<String, String> {
    if word.env {
        return Ok(word.fw.clone());
    }
    if is_srv(&word.text) {
        return Ok(word.text.clone());
    }
    let (host, port) = split_addr(&word.text)?;
    if host.is_empty() || host == "*" {
        return Err(format!("invalid server address `{}`", word.text));
    }
    if port.starts_with('+') || port.starts_with('-') {
        return Err("port offsets (`+N`, `-N`) are not supported".to_string());
    }
    if !valid_port(&port) {
        return Err(format!("invalid port in `{}`", word.text));
    }
    Ok(join_addr(&host, &port))
}

/// Whether a server address is a DNS SRV label (`_http._tcp.example.com`,
/// no port: the records give the ports), which only `resolvers` resolve.
pub(crate) fn is_srv(addr: &str) -> bool {
    let mut labels = addr.splitn(3, '.');
    let service = |l: Option<&str>| l.is_some_and(|l| l.len() > 1 && l.starts_with('_'));
    service(labels.next())
        && service(labels.next())
        && labels.next().is_some_and(|rest| !rest.is_empty())
        && addr
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// The addresses of a `bind` (comma-separated, port ranges expanded).
pub(crate) fn bind_addrs(word: &Word) -> Result<Vec<String>, String> {
    if word.env {
        return Ok(vec![word.fw.clone()]);
    }
    let mut out = Vec::new();
    for part in word.text.split(',') {
        let (host, port) = split_addr(part)?;
        let host = match host.as_str() {
            "" | "*" | "0.0.0.0" => "*".to_string(),
            "localhost" => "127.0.0.1".to_string(),
            h if h.parse::<IpAddr>().is_ok() => h.to_string(),
            h => {
                return Err(format!(
                    "`{h}` is a host name; fairway binds IP addresses only"
                ))
            }
        };
        let ports: Vec<String> = match port.split_once('-') {
            Some((lo, hi)) if valid_port(lo) && valid_port(hi) => {
                let (lo, hi): (u16, u16) = (lo.parse().unwrap_or(1), hi.parse().unwrap_or(0));
                if hi < lo || hi - lo >= 64 {
                    return Err(format!(
                        "port range `{port}` is too large (64 ports at most)"
                    ));
                }
                (lo..=hi).map(|p| p.to_string()).collect()
            }
            _ if valid_port(&port) => vec![port.clone()],
            _ => return Err(format!("invalid port in `{part}`")),
        };
        for p in ports {
            out.push(join_addr(&host, &p));
        }
    }
    Ok(out)
}

/// Options of a `server` or `default-server` line that fairway maps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ServerOpts {
    pub check: Option<bool>,
    pub inter: Option<Duration>,
    pub rise: Option<u64>,
    pub fall: Option<u64>,
    pub weight: Option<u64>,
    pub backup: Option<bool>,
    pub maxconn: Option<u64>,
    pub cookie: Option<String>,
    pub ssl: Option<bool>,
    pub verify: Option<bool>,
    pub ca: Option<String>,
    pub sni: Option<String>,
    pub check_ssl: Option<bool>,
    /// `proto h2`: HTTP/2 to the server.
    pub h2: Option<bool>,
    /// `send-proxy` (1) or `send-proxy-v2` (2).
    pub send_proxy: Option<u8>,
    /// `observe none|layer4|layer7`.
    pub observe: Option<Observe>,
    /// `error-limit N` (HAProxy's default: 10).
    pub error_limit: Option<u64>,
    /// `on-error MODE` (HAProxy's default: `fail-check`).
    pub on_error: Option<OnError>,
    /// `resolvers NAME`: the `resolvers` section that re-resolves the
    /// server's host name at run time.
    pub resolvers: Option<String>,
    /// `resolve-prefer ipv4|ipv6` (HAProxy's default: ipv6).
    pub resolve_prefer: Option<String>,
    /// `init-addr METHODS` as written.
    pub init_addr: Option<String>,
}

/// `observe`: which traffic errors count against a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Observe {
    /// `observe none` (the default).
    None,
    /// Connection failures only.
    Layer4,
    /// Also bad responses: 5xx (but 501 and 505), junk, timeouts.
    Layer7,
}

/// `on-error`: what `error-limit` errors in a row do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnError {
    /// Check at `fastinter` for a while.
    FastInter,
    /// Count one failed health check (the default).
    FailCheck,
    /// Leave the server one failed check away from down.
    SuddenDeath,
    /// Mark the server down until its health checks bring it back.
    MarkDown,
}

impl OnError {
    /// The keyword.
    pub fn name(self) -> &'static str {
        match self {
            OnError::FastInter => "fastinter",
            OnError::FailCheck => "fail-check",
            OnError::SuddenDeath => "sudden-death",
            OnError::MarkDown => "mark-down",
        }
    }
}

impl ServerOpts {
    /// `self` with every option `over` sets replaced.
    pub fn overlay(&self, over: &ServerOpts) -> ServerOpts {
        ServerOpts {
            check: over.check.or(self.check),
            inter: over.inter.or(self.inter),
            rise: over.rise.or(self.rise),
            fall: over.fall.or(self.fall),
            weight: over.weight.or(self.weight),
            backup: over.backup.or(self.backup),
            maxconn: over.maxconn.or(self.maxconn),
            cookie: over.cookie.clone().or_else(|| self.cookie.clone()),
            ssl: over.ssl.or(self.ssl),
            verify: over.verify.or(self.verify),
            ca: over.ca.clone().or_else(|| self.ca.clone()),
            sni: over.sni.clone().or_else(|| self.sni.clone()),
            check_ssl: over.check_ssl.or(self.check_ssl),
            h2: over.h2.or(self.h2),
            send_proxy: over.send_proxy.or(self.send_proxy),
            observe: over.observe.or(self.observe),
            error_limit: over.error_limit.or(self.error_limit),
            on_error: over.on_error.or(self.on_error),
            resolvers: over.resolvers.clone().or_else(|| self.resolvers.clone()),
            resolve_prefer: over
                .resolve_prefer
                .clone()
                .or_else(|| self.resolve_prefer.clone()),
            init_addr: over.init_addr.clone().or_else(|| self.init_addr.clone()),
        }
    }
}

/// What reading server options found besides the options themselves.
#[derive(Debug, Default)]
pub(crate) struct OptFindings {
    /// `(option text, reason)` for options fairway does not have.
    pub unsupported: Vec<(String, String)>,
    /// `(option text, remark)` for options mapped with a difference or
    /// without effect.
    pub notes: Vec<(String, String)>,
}

/// Server options with one argument that fairway does not have, and why.
const UNSUPPORTED_ARG: &[(&str, &str)] = &[
    ("slowstart", "fairway has no slow start"),
    (
        "maxqueue",
        "fairway queues without a per-server limit (timeout_queue)",
    ),
    ("minconn", "fairway has no dynamic maxconn"),
    ("fastinter", "fairway checks at one interval"),
    ("downinter", "fairway checks at one interval"),
    ("port", "fairway checks the server's own port"),
    ("addr", "fairway checks the server's own address"),
    ("agent-check", "fairway has no agent checks"),
    ("agent-port", "fairway has no agent checks"),
    ("agent-inter", "fairway has no agent checks"),
    ("agent-addr", "fairway has no agent checks"),
    ("agent-send", "fairway has no agent checks"),
    ("track", "fairway has no tracked checks"),
    ("on-marked-down", "fairway has no such action"),
    ("on-marked-up", "fairway has no such action"),
    ("resolve-net", "fairway's dns has no preferred networks"),
    (
        "resolve-opts",
        "fairway's dns has no allow-dup-ip, prevent-dup-ip or ignore-weight",
    ),
    ("crt", "fairway has no client certificates for servers"),
    ("alpn", "fairway speaks HTTP/1.1 to servers"),
    ("npn", "fairway speaks HTTP/1.1 to servers"),
    ("check-alpn", "fairway checks with HTTP/1.1"),
    ("check-proto", "fairway checks with HTTP/1.1"),
    ("check-sni", "fairway checks with the server's sni"),
    ("ciphers", "fairway uses its TLS defaults"),
    ("ciphersuites", "fairway uses its TLS defaults"),
    ("ssl-min-ver", "fairway uses its TLS defaults"),
    ("ssl-max-ver", "fairway uses its TLS defaults"),
    ("redir", "fairway has no server redirects"),
    ("namespace", "fairway has no network namespaces"),
    ("source", "fairway has no source address selection"),
    ("usesrc", "fairway has no source address selection"),
    (
        "pool-max-conn",
        "fairway manages its connection pool itself",
    ),
    (
        "pool-purge-delay",
        "fairway manages its connection pool itself",
    ),
    (
        "pool-low-conn",
        "fairway manages its connection pool itself",
    ),
    ("max-reuse", "fairway manages its connection pool itself"),
    ("tcp-ut", "fairway has no TCP user timeout"),
    ("init-state", "fairway starts servers as up"),
    ("ws", "fairway has no per-server WebSocket setting"),
    ("set-proxy-v2-tlv-fmt", "fairway has no PROXY protocol"),
    ("log-bufsize", "fairway has no per-server logs"),
    ("hash-key", "fairway hashes server names"),
    ("guid", "fairway has no GUIDs"),
    ("crl-file", "fairway has no CRLs"),
    ("curves", "fairway uses its TLS defaults"),
    ("sigalgs", "fairway uses its TLS defaults"),
    ("client-sigalgs", "fairway uses its TLS defaults"),
    ("allow-0rtt", "fairway has no TLS early data"),
];

/// Flag options (no argument) fairway does not have, and why.
const UNSUPPORTED_FLAG: &[(&str, &str)] = &[
    (
        "disabled",
        "fairway starts every server ready (set `state maint` at run time)",
    ),
    (
        "send-proxy-v2-ssl",
        "fairway sends no TLS details in PROXY headers (`send-proxy-v2` without them is)",
    ),
    (
        "send-proxy-v2-ssl-cn",
        "fairway sends no TLS details in PROXY headers (`send-proxy-v2` without them is)",
    ),
    (
        "check-send-proxy",
        "fairway's health checks send no PROXY header",
    ),
    ("non-stick", "fairway has no stick tables"),
    ("agent-check", "fairway has no agent checks"),
    ("no-tls-tickets", "fairway uses its TLS defaults"),
    ("force-sslv3", "fairway uses its TLS defaults"),
    ("force-tlsv10", "fairway uses its TLS defaults"),
    ("force-tlsv11", "fairway uses its TLS defaults"),
    ("force-tlsv12", "fairway uses its TLS defaults"),
    ("force-tlsv13", "fairway uses its TLS defaults"),
    ("no-sslv3", "fairway uses its TLS defaults"),
    ("no-tlsv10", "fairway uses its TLS defaults"),
    ("no-tlsv11", "fairway uses its TLS defaults"),
    ("no-tlsv12", "fairway uses its TLS defaults"),
    ("no-tlsv13", "fairway uses its TLS defaults"),
    ("tfo", "fairway has no TCP fast open"),
    ("no-verifyhost", "fairway verifies against sni"),
    ("stick", "fairway has no stick tables"),
];

/// Reads server options from `words` into `opts`. `ca_base` prefixes
/// relative `ca-file` paths.
pub(crate) fn server_opts<'w>(
    words: &'w [Word],
    opts: &mut ServerOpts,
    ca_base: Option<&str>,
    found: &mut OptFindings,
) {
    let mut i = 0;
    while let Some(w) = words.get(i) {
        i += 1;
        let key = w.text.as_str();
        let mut arg = |what: &str, found: &mut OptFindings| -> Option<&'w Word> {
            let a = take(words, &mut i);
            if a.is_none() {
                found
                    .unsupported
                    .push((key.to_string(), format!("`{key}` needs {what}")));
            }
            a
        };
        match key {
            "check" => opts.check = Some(true),
            "no-check" => opts.check = Some(false),
            "backup" => opts.backup = Some(true),
            "no-backup" => opts.backup = Some(false),
            "ssl" => opts.ssl = Some(true),
            "no-ssl" => opts.ssl = Some(false),
            "send-proxy" => opts.send_proxy = Some(1),
            "send-proxy-v2" => opts.send_proxy = Some(2),
            "proto" => {
                let Some(a) = arg("a protocol", found) else {
                    continue;
                };
                match a.text.as_str() {
                    "h2" => opts.h2 = Some(true),
                    other => found.unsupported.push((
                        format!("proto {other}"),
                        "fairway speaks HTTP/1.1 or HTTP/2 (`proto h2`) to servers".into(),
                    )),
                }
            }
            "check-ssl" => opts.check_ssl = Some(true),
            "no-check-ssl" => opts.check_ssl = Some(false),
            "enabled" => {}
            "inter" | "rise" | "fall" | "weight" | "maxconn" => {
                let Some(a) = arg("a value", found) else {
                    continue;
                };
                let bad = || {
                    (
                        format!("{key} {}", a.text),
                        format!("invalid `{key}` value"),
                    )
                };
                let n = a.text.parse::<u64>().ok();
                match key {
                    "inter" => match parse_time(&a.text) {
                        Some(d) if !d.is_zero() => opts.inter = Some(d),
                        _ => found.unsupported.push(bad()),
                    },
                    "rise" | "fall" => match n {
                        Some(n) if (1..=1000).contains(&n) => {
                            if key == "rise" {
                                opts.rise = Some(n)
                            } else {
                                opts.fall = Some(n)
                            }
                        }
                        _ => found.unsupported.push(bad()),
                    },
                    "weight" => match n {
                        Some(n) if n <= 256 => opts.weight = Some(n),
                        _ => found.unsupported.push((
                            format!("weight {}", a.text),
                            "weights are 0 to 256 (relative weights `N%` are not supported)"
                                .to_string(),
                        )),
                    },
                    _ => match n {
                        // HAProxy: 0 means no limit.
                        Some(0) => opts.maxconn = None,
                        Some(n) if n <= 1_000_000 => opts.maxconn = Some(n),
                        _ => found.unsupported.push(bad()),
                    },
                }
            }
            "cookie" => {
                if let Some(a) = arg("a value", found) {
                    let ok = !a.text.is_empty()
                        && a.text
                            .bytes()
                            .all(|b| b.is_ascii_graphic() && !b";,\\\"".contains(&b));
                    if ok {
                        opts.cookie = Some(a.text.clone());
                    } else {
                        found.unsupported.push((
                            format!("cookie {}", a.text),
                            "invalid cookie value".to_string(),
                        ));
                    }
                }
            }
            "verify" => {
                if let Some(a) = arg("none or required", found) {
                    match a.text.as_str() {
                        "none" => opts.verify = Some(false),
                        "required" => opts.verify = Some(true),
                        other => found.unsupported.push((
                            format!("verify {other}"),
                            "expected `none` or `required`".to_string(),
                        )),
                    }
                }
            }
            "ca-file" => {
                if let Some(a) = arg("a file", found) {
                    let path = match ca_base {
                        Some(base) if !a.text.starts_with('/') => {
                            format!("{}/{}", base.trim_end_matches('/'), a.fw)
                        }
                        _ => a.fw.clone(),
                    };
                    opts.ca = Some(path);
                }
            }
            "sni" => {
                if let Some(a) = arg("an expression", found) {
                    match a
                        .text
                        .strip_prefix("str(")
                        .and_then(|r| r.strip_suffix(')'))
                    {
                        Some(name) if !name.is_empty() => opts.sni = Some(name.to_string()),
                        _ => found.unsupported.push((
                            format!("sni {}", a.text),
                            "fairway's sni is a fixed name (`sni str(NAME)`), not a sample expression"
                                .to_string(),
                        )),
                    }
                }
            }
            "id" => {
                if let Some(a) = arg("a number", found) {
                    found.notes.push((
                        format!("id {}", a.text),
                        "ignored: fairway identifies servers by name".to_string(),
                    ));
                }
            }
            "init-addr" => {
                if let Some(a) = arg("methods", found) {
                    opts.init_addr = Some(a.text.clone());
                }
            }
            "resolvers" => {
                if let Some(a) = arg("a resolvers section", found) {
                    opts.resolvers = Some(a.text.clone());
                }
            }
            "resolve-prefer" => {
                if let Some(a) = arg("ipv4 or ipv6", found) {
                    match a.text.as_str() {
                        "ipv4" | "ipv6" => opts.resolve_prefer = Some(a.text.clone()),
                        other => found.unsupported.push((
                            format!("resolve-prefer {other}"),
                            "expected `ipv4` or `ipv6`".to_string(),
                        )),
                    }
                }
            }
            "observe" => {
                if let Some(a) = arg("none, layer4 or layer7", found) {
                    match a.text.as_str() {
                        "none" => opts.observe = Some(Observe::None),
                        "layer4" => opts.observe = Some(Observe::Layer4),
                        "layer7" => opts.observe = Some(Observe::Layer7),
                        other => found.unsupported.push((
                            format!("observe {other}"),
                            "expected `none`, `layer4` or `layer7`".to_string(),
                        )),
                    }
                }
            }
            "error-limit" => {
                if let Some(a) = arg("a count", found) {
                    match a.text.parse::<u64>() {
                        Ok(n) if (1..=10_000).contains(&n) => opts.error_limit = Some(n),
                        _ => found.unsupported.push((
                            format!("error-limit {}", a.text),
                            "expected a count from 1 to 10000".to_string(),
                        )),
                    }
                }
            }
            "on-error" => {
                if let Some(a) = arg("a mode", found) {
                    let mode = match a.text.as_str() {
                        "fastinter" => OnError::FastInter,
                        "fail-check" => OnError::FailCheck,
                        "sudden-death" => OnError::SuddenDeath,
                        "mark-down" => OnError::MarkDown,
                        other => {
                            found.unsupported.push((
                                format!("on-error {other}"),
                                "expected fastinter, fail-check, sudden-death or mark-down"
                                    .to_string(),
                            ));
                            continue;
                        }
                    };
                    opts.on_error = Some(mode);
                }
            }
            _ => {
                if let Some((_, why)) = UNSUPPORTED_ARG.iter().find(|(k, _)| *k == key) {
                    let text = match arg("a value", found) {
                        Some(a) => format!("{key} {}", a.text),
                        None => continue,
                    };
                    found.unsupported.push((text, why.to_string()));
                } else if let Some((_, why)) = UNSUPPORTED_FLAG.iter().find(|(k, _)| *k == key) {
                    found.unsupported.push((key.to_string(), why.to_string()));
                } else {
                    found
                        .unsupported
                        .push((key.to_string(), "unknown server option".to_string()));
                }
            }
        }
    }
}

/// The word at `*i`, moving past it.
pub(crate) fn take<'w>(words: &'w [Word], i: &mut usize) -> Option<&'w Word> {
    let w = words.get(*i);
    *i += 1;
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(text: &str) -> Word {
        Word {
            text: text.into(),
            fw: text.into(),
            quoted: false,
            env: false,
        }
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("5000"), Some(Duration::from_secs(5)));
        assert_eq!(parse_time("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_time("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_time("1d"), Some(Duration::from_secs(86400)));
        assert_eq!(parse_time("250us"), Some(Duration::from_micros(250)));
        assert_eq!(parse_time("10x"), None);
        assert_eq!(parse_time("s"), None);
        assert_eq!(parse_time("99999999999999999999"), None);
        assert_eq!(fmt_duration(Duration::from_millis(50_000)), "50s");
        assert_eq!(fmt_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(fmt_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(fmt_duration(Duration::from_secs(90)), "90s");
        assert_eq!(fmt_duration(Duration::from_micros(7)), "7us");
        assert_eq!(fmt_duration(Duration::ZERO), "0us");
        assert_eq!(timeout("60000").unwrap(), "1m");
        assert!(timeout("0").unwrap_err().contains("no timeout"));
    }

    #[test]
    fn addresses() {
        assert_eq!(bind_addrs(&w("*:80")).unwrap(), ["*:80"]);
        assert_eq!(bind_addrs(&w(":80")).unwrap(), ["*:80"]);
        assert_eq!(bind_addrs(&w("0.0.0.0:80")).unwrap(), ["*:80"]);
        assert_eq!(
            bind_addrs(&w("127.0.0.1:8080,:8081")).unwrap(),
            ["127.0.0.1:8080", "*:8081"]
        );
        assert_eq!(bind_addrs(&w(":::443")).unwrap(), ["[::]:443"]);
        assert_eq!(bind_addrs(&w("ipv6@[::1]:443")).unwrap(), ["[::1]:443"]);
        assert_eq!(
            bind_addrs(&w("*:8000-8002")).unwrap(),
            ["*:8000", "*:8001", "*:8002"]
        );
        assert!(bind_addrs(&w("*:1-1000")).is_err());
        assert!(bind_addrs(&w("/run/x.sock")).is_err());
        assert!(bind_addrs(&w("example.com:80")).is_err());
        assert!(bind_addrs(&w("*:0")).is_err());
        assert!(bind_addrs(&w("80")).is_err());
        assert_eq!(server_addr(&w("server1:8000")).unwrap(), "server1:8000");
        assert_eq!(server_addr(&w("::1:80")).unwrap(), "[::1]:80");
        assert!(server_addr(&w("10.0.0.1")).unwrap_err().contains("no port"));
        assert!(server_addr(&w("10.0.0.1:+1")).is_err());
        assert!(server_addr(&w("unix@/x")).is_err());
    }

    #[test]
    fn options() {
        let words: Vec<Word> = "check inter 500 rise 1 fall 5 weight 0 ssl verify none sni str(a.example) slowstart 10s cookie s1 maxconn 10 backup frob"
            .split(' ')
            .map(w)
            .collect();
        let mut o = ServerOpts::default();
        let mut f = OptFindings::default();
        server_opts(&words, &mut o, None, &mut f);
        assert_eq!(o.check, Some(true));
        assert_eq!(o.inter, Some(Duration::from_millis(500)));
        assert_eq!(
            (o.rise, o.fall, o.weight, o.maxconn),
            (Some(1), Some(5), Some(0), Some(10))
        );
        assert_eq!(o.ssl, Some(true));
        assert_eq!(o.verify, Some(false));
        assert_eq!(o.sni.as_deref(), Some("a.example"));
        assert_eq!(o.cookie.as_deref(), Some("s1"));
        assert_eq!(o.backup, Some(true));
        let bad: Vec<&str> = f.unsupported.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(bad, ["slowstart 10s", "frob"]);
        let mut f = OptFindings::default();
        server_opts(&[w("weight")], &mut o, None, &mut f);
        assert_eq!(f.unsupported.len(), 1);
    }
}
