//! `resolvers` sections and the servers that use them (`resolvers NAME`):
//! the backend's `dns`, which re-resolves its servers' host names at run
//! time.
//!
//! HAProxy re-resolves a server's name every `timeout resolve` (default
//! 1 s) of its resolvers section; `hold valid` concerns `do-resolve`
//! actions only. That period is fairway's `dns.interval`; the section's
//! `nameserver`s are `dns.nameservers` (`parse-resolv-conf`: the system's,
//! written as no `nameservers`).

use super::emit::{s, Value};
use super::parse::{Line, Section};
use super::server::{fmt_duration, is_srv, parse_time, ServerOpts};
use super::Report;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// HAProxy's `timeout resolve` when none is given.
const DEFAULT_RESOLVE: Duration = Duration::from_secs(1);

/// A `resolvers` section as converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolvers {
    pub line: usize,
    /// `ip:port` of each `nameserver`.
    pub nameservers: Vec<String>,
    /// `parse-resolv-conf`.
    pub system: bool,
    /// `timeout resolve`.
    pub interval: Duration,
}

impl Resolvers {
    /// The section HAProxy makes up when none is named `default`: the
    /// system's name servers.
    fn implicit_default() -> Resolvers {
        Resolvers {
            line: 0,
            nameservers: Vec::new(),
            system: true,
            interval: DEFAULT_RESOLVE,
        }
    }

    /// `dns: { interval, nameservers }`.
    fn value(&self) -> Value {
        let mut f = vec![("interval".to_string(), s(fmt_duration(self.interval)))];
        if !self.nameservers.is_empty() {
            let list = self.nameservers.iter().map(s).collect();
            f.push(("nameservers".to_string(), Value::FlowList(list)));
        }
        Value::Flow(f)
    }
}

/// Reads a `resolvers NAME` section; findings become `comments`.
pub(crate) fn section(
    sec: &Section,
    report: &mut Report,
    comments: &mut Vec<String>,
) -> Option<(String, Resolvers)> {
    let header = sec.header.as_ref()?;
    let Some(name) = sec.name() else {
        comments.push(report.unsupported(header.no, &header.raw, "section without a name"));
        return None;
    };
    let start = comments.len();
    let mut r = Resolvers {
        line: header.no,
        nameservers: Vec::new(),
        system: false,
        interval: DEFAULT_RESOLVE,
    };
    for line in &sec.lines {
        let mut note = |why: &str| comments.push(report.note(line.no, &line.raw, why));
        match line.word(0) {
            "nameserver" => match nameserver(line) {
                Ok((addr, remark)) => {
                    r.nameservers.push(addr);
                    if let Some(remark) = remark {
                        note(&remark);
                    }
                }
                Err(why) => comments.push(report.unsupported(line.no, &line.raw, &why)),
            },
            "parse-resolv-conf" => r.system = true,
            "timeout" if line.word(1) == "resolve" => match parse_time(line.word(2)) {
                Some(d) if !d.is_zero() => r.interval = d,
                _ => comments.push(report.unsupported(line.no, &line.raw, "invalid time")),
            },
            "timeout" if line.word(1) == "retry" => {
                note("ignored: fairway's dns has no such setting")
            }
            "hold" if line.word(1) == "valid" => note(
                "ignored: in HAProxy it applies to do-resolve actions; servers are re-resolved \
                 every `timeout resolve`",
            ),
            "hold" => note(
                "ignored: fairway's dns has no such setting (HAProxy marks a server down when \
                 its name stops resolving for this long)",
            ),
            "resolve_retries" | "accepted_payload_size" => {
                note("ignored: fairway's dns has no such setting")
            }
            _ => {
                let why = "unsupported resolvers setting";
                comments.push(report.unsupported(line.no, &line.raw, why));
            }
        }
    }
    if r.system && !r.nameservers.is_empty() {
        let why = "fairway asks either the listed name servers or the system's: the listed \
                   ones are used, without those of /etc/resolv.conf";
        let raw = format!("resolvers {name}: parse-resolv-conf with nameserver lines");
        comments.push(report.note(header.no, &raw, why));
    }
    let servers = if r.nameservers.is_empty() {
        "the system's name servers".to_string()
    } else {
        r.nameservers.join(", ")
    };
    let why = format!(
        "becomes `dns: {{ interval: {} }}` of the backends whose servers use it: HAProxy \
         re-resolves them every `timeout resolve`; asking {servers}",
        fmt_duration(r.interval)
    );
    comments.insert(start, report.note(header.no, &header.raw, &why));
    Some((name.to_string(), r))
}

/// `nameserver NAME ADDR[:PORT] [params]`: `ip:port` for fairway, with a
/// remark.
fn nameserver(line: &Line) -> Result<(String, Option<String>), String> {
    let Some(addr) = line.words.get(2) else {
        return Err("expected `nameserver NAME ADDRESS[:PORT]`".into());
    };
    let mut remark = None;
    let mut text = addr.text.as_str();
    for prefix in ["udp@", "udp4@", "udp6@", "ipv4@", "ipv6@"] {
        text = text.strip_prefix(prefix).unwrap_or(text);
    }
    for prefix in ["tcp@", "tcp4@", "tcp6@"] {
        if let Some(rest) = text.strip_prefix(prefix) {
            text = rest;
            remark = Some(format!(
                "`{}` left out: fairway's name servers are ip:port, without a transport",
                prefix.trim_end_matches('@')
            ));
        }
    }
    if line.words.len() > 3 {
        remark = Some("its parameters are ignored: fairway's name servers are ip:port".into());
    }
    let (host, port) = if let Ok(ip) = text.parse::<IpAddr>() {
        (ip, 53)
    } else if let Ok(sa) = text.parse::<std::net::SocketAddr>() {
        (sa.ip(), sa.port())
    } else {
        // HAProxy's `v6:port` form.
        let parsed = text.rsplit_once(':').and_then(|(h, p)| {
            let ip = h
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .ok()?;
            Some((ip, p.parse::<u16>().ok()?))
        });
        parsed.ok_or_else(|| format!("`{}`: fairway needs an IP address", addr.text))?
    };
    if port == 0 {
        return Err(format!("invalid port in `{}`", addr.text));
    }
    let addr = match host {
        IpAddr::V4(ip) => format!("{ip}:{port}"),
        IpAddr::V6(ip) => format!("[{ip}]:{port}"),
    };
    Ok((addr, remark))
}

/// A server of the backend: where, its address and its options over
/// `default-server`.
pub(crate) struct Server<'a> {
    pub line: usize,
    pub name: &'a str,
    pub addr: &'a str,
    pub opts: &'a ServerOpts,
}

/// Whether `addr` (`host:port`, `[v6]:port` or an SRV label) names a host
/// rather than an address.
fn is_name(addr: &str) -> bool {
    if is_srv(addr) {
        return true;
    }
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.parse::<IpAddr>().is_err()
}

/// The backend's `dns`, when a server with a host name has `resolvers`.
pub(crate) fn emit(
    servers: &[Server<'_>],
    sections: &HashMap<String, Resolvers>,
    report: &mut Report,
    comments: &mut Vec<String>,
) -> Option<Value> {
    let implicit = Resolvers::implicit_default();
    let mut users: Vec<(&Server, &str, &Resolvers)> = Vec::new();
    for srv in servers {
        let Some(name) = srv.opts.resolvers.as_deref() else {
            continue;
        };
        let r = match sections.get(name) {
            Some(r) => r,
            None if name == "default" => &implicit,
            None => {
                let part = format!("server {} resolvers {name}", srv.name);
                let why = format!("there is no resolvers section {name}");
                comments.push(report.unsupported(srv.line, &part, &why));
                continue;
            }
        };
        if is_name(srv.addr) {
            users.push((srv, name, r));
        }
    }
    let Some(&(first, first_name, chosen)) = users.first() else {
        init_addr(servers, false, report, comments);
        return None;
    };
    if chosen.line == 0 {
        let part = format!("server {} resolvers {first_name}", first.name);
        let why = format!(
            "HAProxy's own `default` section: the system's name servers, every {} (its \
             `timeout resolve`)",
            fmt_duration(chosen.interval)
        );
        comments.push(report.note(first.line, &part, &why));
    }
    for (srv, _, _) in users.iter().filter(|(srv, _, _)| is_srv(srv.addr)) {
        let part = format!("server {} {}", srv.name, srv.addr);
        let why = "an SRV name: like one HAProxy server, fairway uses one of its records (the \
                   lowest priority, then the highest weight)";
        comments.push(report.note(srv.line, &part, why));
    }
    for (srv, name, r) in users.iter().skip(1) {
        if *r != chosen {
            let part = format!("server {} resolvers {name}", srv.name);
            let why = format!(
                "fairway has one dns setting per backend: resolvers {first_name} (of server {}) \
                 is used",
                first.name
            );
            comments.push(report.note(srv.line, &part, &why));
        }
    }
    let others: Vec<&str> = servers
        .iter()
        .filter(|srv| srv.opts.resolvers.is_none() && is_name(srv.addr))
        .map(|srv| srv.name)
        .collect();
    if !others.is_empty() {
        let part = format!("server {} resolvers {first_name}", first.name);
        let why = format!(
            "fairway re-resolves every host name of the backend: also those of {}, which HAProxy \
             resolves once at start",
            others.join(", ")
        );
        comments.push(report.note(first.line, &part, &why));
    }
    for (srv, _, _) in &users {
        if srv.opts.resolve_prefer.as_deref() != Some("ipv4") {
            let part = format!(
                "server {} resolve-prefer {}",
                srv.name,
                srv.opts.resolve_prefer.as_deref().unwrap_or("ipv6")
            );
            let why = "fairway prefers IPv4 addresses; HAProxy's resolvers prefer IPv6 \
                       unless `resolve-prefer ipv4`";
            comments.push(report.note(srv.line, &part, why));
        }
    }
    init_addr(servers, true, report, comments);
    Some(chosen.value())
}

/// Notes on `init-addr`: without `dns` fairway resolves names at load
/// (HAProxy's `libc`); with it, once running (HAProxy's `none`).
fn init_addr(servers: &[Server<'_>], dns: bool, report: &mut Report, comments: &mut Vec<String>) {
    let mut looked_up = Vec::new();
    for srv in servers {
        let methods = srv.opts.init_addr.as_deref();
        if dns && is_name(srv.addr) {
            if methods != Some("none") {
                looked_up.push(srv);
            }
        } else if let Some(methods) = methods {
            let part = format!("server {} init-addr {methods}", srv.name);
            let why = "ignored: fairway resolves server names when it loads the file";
            comments.push(report.note(srv.line, &part, why));
        }
    }
    let Some(first) = looked_up.first() else {
        return;
    };
    let names: Vec<&str> = looked_up.iter().map(|s| s.name).collect();
    let part = format!(
        "server {} init-addr {}",
        first.name,
        first.opts.init_addr.as_deref().unwrap_or("last,libc")
    );
    let why = format!(
        "with dns fairway resolves names once running, not at load (HAProxy's init-addr none): \
         {} take no traffic until their names resolve, and a name that does not resolve is no \
         load error",
        names.join(", ")
    );
    comments.push(report.note(first.line, &part, &why));
}

#[cfg(test)]
mod tests {
    use super::super::parse::sections;
    use super::*;

    fn read(text: &str) -> (Option<(String, Resolvers)>, Report) {
        let secs = sections(text);
        let mut report = Report::default();
        let mut comments = Vec::new();
        let r = section(&secs[1], &mut report, &mut comments);
        (r, report)
    }

    #[test]
    fn nameservers_and_the_resolve_period() {
        let (r, report) = read(
            "resolvers dns\n  nameserver a 10.0.0.1:53\n  nameserver b 10.0.0.2\n  \
             nameserver c ipv6@[2001:db8::1]:5353\n  nameserver d tcp@10.0.0.4:53\n  \
             timeout resolve 5s\n  timeout retry 1s\n  hold valid 10s\n  hold nx 30s\n  \
             resolve_retries 3\n",
        );
        let (name, r) = r.unwrap();
        assert_eq!(name, "dns");
        assert_eq!(
            r.nameservers,
            [
                "10.0.0.1:53",
                "10.0.0.2:53",
                "[2001:db8::1]:5353",
                "10.0.0.4:53"
            ]
        );
        assert_eq!(r.interval, Duration::from_secs(5));
        assert!(!r.system);
        assert!(report.unsupported.is_empty(), "{:?}", report.unsupported);
        let mut lines: Vec<usize> = report.notes.iter().map(|f| f.line).collect();
        lines.sort();
        assert_eq!(lines, [1, 5, 7, 8, 9, 10]);
        let header = report.notes.iter().find(|f| f.line == 1).unwrap();
        assert!(header.reason.contains("interval: 5s"), "{header:?}");
    }

    #[test]
    fn parse_resolv_conf_is_the_systems() {
        let (r, report) = read("resolvers sys\n  parse-resolv-conf\n");
        let (_, r) = r.unwrap();
        assert!(r.system && r.nameservers.is_empty());
        assert_eq!(r.interval, DEFAULT_RESOLVE);
        assert_eq!(r.value(), Value::Flow(vec![("interval".into(), s("1s"))]));
        assert!(report.notes[0].reason.contains("the system's name servers"));
    }

    #[test]
    fn host_names_are_refused_as_nameservers() {
        let (_, report) = read("resolvers x\n  nameserver a dns.example:53\n  frob 1\n");
        let lines: Vec<usize> = report.unsupported.iter().map(|f| f.line).collect();
        assert_eq!(lines, [2, 3]);
        assert!(report.unsupported[0].reason.contains("IP address"));
    }

    fn srv<'a>(line: usize, name: &'a str, addr: &'a str, opts: &'a ServerOpts) -> Server<'a> {
        Server {
            line,
            name,
            addr,
            opts,
        }
    }

    fn with(resolvers: Option<&str>, prefer: Option<&str>) -> ServerOpts {
        ServerOpts {
            resolvers: resolvers.map(str::to_string),
            resolve_prefer: prefer.map(str::to_string),
            ..ServerOpts::default()
        }
    }

    #[test]
    fn backends_take_the_first_servers_resolvers() {
        let mut sections = HashMap::new();
        let dns = Resolvers {
            line: 1,
            nameservers: vec!["10.0.0.1:53".into()],
            system: false,
            interval: Duration::from_secs(10),
        };
        sections.insert("dns".to_string(), dns.clone());
        let a = with(Some("dns"), Some("ipv4"));
        let ip = with(Some("dns"), Some("ipv4"));
        let b = with(Some("default"), Some("ipv4"));
        let plain = ServerOpts::default();
        let list = [
            srv(10, "ip", "10.1.1.1:80", &ip),
            srv(11, "a", "app.internal:80", &a),
            srv(12, "b", "_http._tcp.app.internal", &b),
            srv(13, "c", "other.internal:80", &plain),
        ];
        let mut report = Report::default();
        let mut comments = Vec::new();
        let v = emit(&list, &sections, &mut report, &mut comments);
        assert_eq!(v, Some(dns.value()));
        assert_eq!(
            v,
            Some(Value::Flow(vec![
                ("interval".into(), s("10s")),
                (
                    "nameservers".into(),
                    Value::FlowList(vec![s("10.0.0.1:53")])
                )
            ]))
        );
        let mut notes: Vec<(usize, &str, &str)> = report
            .notes
            .iter()
            .map(|f| (f.line, f.directive.as_str(), f.reason.as_str()))
            .collect();
        notes.sort();
        assert_eq!(notes.len(), 4, "{notes:?}");
        assert_eq!(notes[0].1, "server a init-addr last,libc");
        assert!(notes[0].2.contains("a, b, c take no traffic"), "{notes:?}");
        assert_eq!(notes[1].1, "server a resolvers dns");
        assert!(notes[1].2.contains("also those of c"), "{notes:?}");
        assert_eq!(notes[2].1, "server b _http._tcp.app.internal");
        assert!(notes[2].2.contains("one of its records"), "{notes:?}");
        assert_eq!(notes[3].1, "server b resolvers default");
        assert!(
            notes[3].2.contains("one dns setting per backend"),
            "{notes:?}"
        );
    }

    #[test]
    fn ip_servers_need_no_dns_and_unknown_sections_are_reported() {
        let sections = HashMap::new();
        let o = with(Some("dns"), None);
        let d = with(Some("default"), None);
        let mut report = Report::default();
        let mut comments = Vec::new();
        let list = [srv(5, "a", "app:80", &o), srv(6, "b", "10.0.0.1:80", &d)];
        assert_eq!(emit(&list, &sections, &mut report, &mut comments), None);
        assert_eq!(report.unsupported[0].directive, "server a resolvers dns");
        // The implicit `default` section: the system's name servers, 1 s.
        let list = [srv(7, "c", "app:80", &d)];
        let v = emit(&list, &sections, &mut report, &mut comments);
        assert_eq!(v, Some(Value::Flow(vec![("interval".into(), s("1s"))])));
        let directives: Vec<&str> = report.notes.iter().map(|f| f.directive.as_str()).collect();
        assert!(directives.contains(&"server c resolve-prefer ipv6"));
        assert!(directives.contains(&"server c resolvers default"));
    }
}
