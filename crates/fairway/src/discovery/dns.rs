//! Re-resolving server host names while running (SPEC §8 `dns` of a
//! backend).
//!
//! [`Resolver`] is a Pingora background service that follows the live
//! runtime like [`Discoverer`](super::Discoverer): every backend whose
//! config has `dns` and at least one server `addr` that is a name gets one
//! task, restarted when a reload changes its `dns` settings or its names,
//! stopped when a reload removes them. The task resolves every name at
//! once, then every `dns.interval`, against `dns.nameservers` (UDP, then
//! TCP for truncated answers) or, without them, the system's resolver
//! configuration (`/etc/resolv.conf` and `/etc/hosts`). Each query times
//! out after `interval` (at least 200 ms, at most 2 s) and is tried twice;
//! nothing is cached between rounds, whatever the TTL.
//!
//! * `host:port`: the host's A records, or its AAAA records when it has no
//!   A record; the first address, with `port`.
//! * `_service._proto.name`: the SRV record with the lowest priority, then
//!   the highest weight (then the first by target and port, so that equal
//!   records do not take turns); its target resolved as above, with the
//!   record's port.
//!
//! A new address goes through [`Control::set_addr`], the one way a
//! server's address changes: a server object at the new address takes the
//! old one's place and state, new requests go there, requests in flight
//! finish on the old address, and pooled connections to the old address
//! are never used for the new one. A server has no address until its first
//! resolution and takes no requests until then (HAProxy's `init-addr
//! none`); a reload keeps the addresses already resolved.
//!
//! A failure (timeout, SERVFAIL, REFUSED, NXDOMAIN, no records, an unreadable
//! `/etc/resolv.conf`) changes nothing: the server keeps its last good
//! address, or stays without one. It is logged when it starts (and when
//! the error changes), the recovery once:
//!
//! ```text
//! dns started backend=app nameservers=127.0.0.1:53 interval=10s names=2
//! dns waiting backend=app server=s1 name=app.internal:8080: no address yet, no traffic to it until it resolves
//! server address changed backend=app server=s1 addr=10.0.0.7:8080 was=none
//! dns failed backend=app server=s1 name=app.internal:8080 err=timeout; keeping 10.0.0.7:8080
//! dns recovered backend=app server=s1 name=app.internal:8080 addr=10.0.0.7:8080
//! dns stopped backend=app
//! ```
//!
//! (`server address changed` comes from [`Control::set_addr`].)

use crate::control::Control;
use crate::Runtime;
use async_trait::async_trait;
use fairway_config::{Config, Dns, Lookup};
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::{ResolveError, TokioResolver};
use log::{debug, info, warn};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::{JoinHandle, JoinSet};

/// How often the service looks for a new runtime (a reload).
const FOLLOW_PERIOD: Duration = Duration::from_millis(200);

/// The shortest time between two rounds, whatever the config says.
const MIN_INTERVAL: Duration = Duration::from_millis(50);

/// The bounds of one query's timeout (the interval in between).
const QUERY_TIMEOUT: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(2));

/// The background service that re-resolves the server names of every
/// backend with `dns` in the live runtime.
///
/// [`Fairway::background_services`](crate::Fairway::background_services)
/// includes it.
pub struct Resolver {
    control: Control,
}

impl Resolver {
    /// Re-resolution for the runtime `control` writes, now and after reloads.
    pub fn new(control: Control) -> Self {
        Resolver { control }
    }
}

#[async_trait]
impl BackgroundService for Resolver {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tasks = Tasks::default();
        let mut current: Option<Arc<Runtime>> = None;
        loop {
            let runtime = self.control.snapshot();
            if current.as_ref().is_none_or(|c| !Arc::ptr_eq(c, &runtime)) {
                tasks.sync(&self.control, runtime.config()).await;
                current = Some(runtime);
            }
            tokio::select! {
                _ = tokio::time::sleep(FOLLOW_PERIOD) => {}
                _ = shutdown.changed() => break,
            }
        }
        // Dropping `tasks` stops every task.
    }
}

/// What one backend's task resolves: its settings and `(server, name)`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Job {
    dns: Dns,
    names: Vec<(String, Lookup)>,
}

/// The jobs of `config`, by backend name.
fn jobs(config: &Config) -> HashMap<String, Job> {
    let mut jobs = HashMap::new();
    for b in &config.backends {
        let Some(dns) = &b.dns else { continue };
        let names: Vec<(String, Lookup)> = b
            .servers
            .iter()
            .filter_map(|s| s.lookup.clone().map(|l| (s.name.clone(), l)))
            .collect();
        if !names.is_empty() {
            let dns = dns.clone();
            jobs.insert(b.name.clone(), Job { dns, names });
        }
    }
    jobs
}

/// One task per backend with names to resolve.
#[derive(Default)]
struct Tasks {
    tasks: HashMap<String, (Job, JoinHandle<()>)>,
}

impl Tasks {
    /// Makes the running tasks match `config`: stops those of backends
    /// that are gone or whose job changed, starts the missing ones.
    async fn sync(&mut self, control: &Control, config: &Config) {
        let mut wanted = jobs(config);
        let stale: Vec<String> = self
            .tasks
            .iter()
            .filter(|(name, (job, _))| wanted.get(name.as_str()) != Some(job))
            .map(|(name, _)| name.clone())
            .collect();
        for name in stale {
            if let Some((_, handle)) = self.tasks.remove(&name) {
                handle.abort();
                // Wait until it has stopped, so that an address it was
                // applying cannot land after its successor's.
                let _ = handle.await;
                info!("dns stopped backend={name}");
            }
        }
        wanted.retain(|name, _| !self.tasks.contains_key(name));
        for (name, job) in wanted {
            let nameservers = match job.dns.nameservers.is_empty() {
                true => "system".to_string(),
                false => join(&job.dns.nameservers),
            };
            info!(
                "dns started backend={name} nameservers={nameservers} interval={} names={}",
                humantime::format_duration(job.dns.interval),
                job.names.len()
            );
            let handle = tokio::spawn(run(control.clone(), name.clone(), job.clone()));
            self.tasks.insert(name, (job, handle));
        }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for (_, handle) in self.tasks.values() {
            handle.abort();
        }
    }
}

fn join(addrs: &[SocketAddr]) -> String {
    let texts: Vec<String> = addrs.iter().map(SocketAddr::to_string).collect();
    texts.join(",")
}

/// The current address of `server` of `backend` in the live runtime:
/// `Some(None)` while it has none yet, `None` when the server is gone.
fn current(control: &Control, backend: &str, server: &str) -> Option<Option<SocketAddr>> {
    let rt = control.snapshot();
    let (_, s) = rt.backend(backend)?.server(server)?;
    Some(s.has_addr().then(|| s.addr()))
}

/// Resolves `job`'s names now and every interval, forever.
async fn run(control: Control, backend: String, job: Job) {
    for (server, name) in &job.names {
        if current(&control, &backend, server) == Some(None) {
            info!(
                "dns waiting backend={backend} server={server} name={name}: no address yet, \
                 no traffic to it until it resolves"
            );
        }
    }
    let interval = job.dns.interval.max(MIN_INTERVAL);
    let mut resolver = None;
    // The error last logged per server (while it lasts).
    let mut failing: HashMap<String, String> = HashMap::new();
    loop {
        if resolver.is_none() {
            match build(&job.dns, interval) {
                Ok(r) => resolver = Some(r),
                Err(e) => {
                    for (server, name) in &job.names {
                        failed(&control, &backend, server, name, e.clone(), &mut failing);
                    }
                }
            }
        }
        if let Some(r) = &resolver {
            r.clear_cache();
            let mut round = JoinSet::new();
            for (server, name) in job.names.iter().cloned() {
                let r = r.clone();
                round.spawn(async move {
                    let result = resolve(&r, &name).await;
                    (server, name, result)
                });
            }
            while let Some(done) = round.join_next().await {
                let Ok((server, name, result)) = done else {
                    continue;
                };
                match result {
                    Ok(addr) => resolved(&control, &backend, &server, &name, addr, &mut failing),
                    Err(e) => failed(&control, &backend, &server, &name, e, &mut failing),
                }
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// Applies a good answer; logs a recovery once.
fn resolved(
    control: &Control,
    backend: &str,
    server: &str,
    name: &Lookup,
    addr: SocketAddr,
    failing: &mut HashMap<String, String>,
) {
    if failing.remove(server).is_some() {
        info!("dns recovered backend={backend} server={server} name={name} addr={addr}");
    }
    if let Err(e) = control.set_addr(backend, server, addr) {
        // The server was removed at run time: nothing to move.
        debug!("dns result not applied backend={backend} server={server} name={name} err={e}");
    }
}

/// Logs a failure when it starts or its error changes; nothing else
/// changes.
fn failed(
    control: &Control,
    backend: &str,
    server: &str,
    name: &Lookup,
    err: String,
    failing: &mut HashMap<String, String>,
) {
    if failing.get(server) == Some(&err) {
        return;
    }
    let keeping = match current(control, backend, server) {
        Some(Some(addr)) => format!("keeping {addr}"),
        Some(None) => "no address yet, no traffic to it".to_string(),
        None => "server gone".to_string(),
    };
    warn!("dns failed backend={backend} server={server} name={name} err={err}; {keeping}");
    failing.insert(server.to_string(), err);
}

/// A resolver for `dns`: its name servers (a loopback one is asked from
/// the same loopback address), or the system's configuration.
fn build(dns: &Dns, interval: Duration) -> Result<TokioResolver, String> {
    let mut builder = if dns.nameservers.is_empty() {
        TokioResolver::builder_tokio()
            .map_err(|e| format!("cannot read the system's resolver configuration: {e}"))?
    } else {
        let mut config = ResolverConfig::new();
        for ns in &dns.nameservers {
            for protocol in [Protocol::Udp, Protocol::Tcp] {
                let mut c = NameServerConfig::new(*ns, protocol);
                if ns.ip().is_loopback() {
                    c.bind_addr = Some(SocketAddr::new(ns.ip(), 0));
                }
                config.add_name_server(c);
            }
        }
        let mut b = TokioResolver::builder_with_config(config, TokioConnectionProvider::default());
        b.options_mut().use_hosts_file = ResolveHosts::Never;
        b
    };
    let options = builder.options_mut();
    options.timeout = interval.clamp(QUERY_TIMEOUT.0, QUERY_TIMEOUT.1);
    options.attempts = 2;
    Ok(builder.build())
}

/// The address `name` stands for now.
async fn resolve(r: &TokioResolver, name: &Lookup) -> Result<SocketAddr, String> {
    match name {
        Lookup::Host { host, port } => Ok(SocketAddr::new(address(r, host).await?, *port)),
        Lookup::Srv(srv) => {
            let records = r.srv_lookup(srv.as_str()).await.map_err(|e| describe(&e))?;
            let (target, port) = pick(
                records
                    .iter()
                    .map(|s| (s.priority(), s.weight(), s.target().to_ascii(), s.port())),
            )
            .ok_or_else(|| "no SRV records".to_string())?;
            if target == "." {
                return Err("the SRV record says there is no such service (target `.`)".into());
            }
            let ip = address(r, &target)
                .await
                .map_err(|e| format!("SRV target {target}: {e}"))?;
            Ok(SocketAddr::new(ip, port))
        }
    }
}

/// The first IPv4 address of `host`, else its first IPv6 one.
async fn address(r: &TokioResolver, host: &str) -> Result<IpAddr, String> {
    let ips = r.lookup_ip(host).await.map_err(|e| describe(&e))?;
    let ips: Vec<IpAddr> = ips.iter().collect();
    ips.iter()
        .find(|ip| ip.is_ipv4())
        .or_else(|| ips.first())
        .copied()
        .ok_or_else(|| "no addresses".to_string())
}

/// Of SRV records `(priority, weight, target, port)`, the target and port
/// of the one with the lowest priority, then the highest weight, then the
/// first by target and port.
fn pick(records: impl Iterator<Item = (u16, u16, String, u16)>) -> Option<(String, u16)> {
    records
        .min_by(|a, b| {
            (a.0, std::cmp::Reverse(a.1), &a.2, a.3).cmp(&(b.0, std::cmp::Reverse(b.1), &b.2, b.3))
        })
        .map(|(_, _, target, port)| (target, port))
}

/// A resolver error in a few words: `NXDOMAIN`, `SERVFAIL`, `REFUSED`,
/// `no records`, `timeout`, or the resolver's own text.
fn describe(e: &ResolveError) -> String {
    match e.proto().map(|p| p.kind()) {
        Some(ProtoErrorKind::NoRecordsFound { response_code, .. }) => match *response_code {
            ResponseCode::NXDomain => "NXDOMAIN (no such name)".to_string(),
            ResponseCode::NoError => "no records".to_string(),
            ResponseCode::ServFail => "SERVFAIL".to_string(),
            ResponseCode::Refused => "REFUSED".to_string(),
            code => format!("{code} (response code {})", u16::from(code)),
        },
        Some(ProtoErrorKind::Timeout) => "timeout".to_string(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srv_records_pick_the_lowest_priority_then_the_highest_weight() {
        let r = |p: u16, w: u16, t: &str, port: u16| (p, w, t.to_string(), port);
        let picked = pick(
            vec![
                r(20, 100, "c.test.", 3),
                r(10, 5, "a.test.", 1),
                r(10, 50, "b.test.", 2),
            ]
            .into_iter(),
        );
        assert_eq!(picked, Some(("b.test.".to_string(), 2)));
        // Equal records: always the same one, whatever the answer's order.
        let one = pick(vec![r(1, 1, "y.", 2), r(1, 1, "x.", 9)].into_iter());
        let two = pick(vec![r(1, 1, "x.", 9), r(1, 1, "y.", 2)].into_iter());
        assert_eq!(
            (one.clone(), one),
            (two.clone(), Some(("x.".to_string(), 9)))
        );
        assert_eq!(pick(std::iter::empty()), None);
    }

    fn config(yaml_backend: &str) -> Config {
        let yaml = format!(
            "frontends:\n  web:\n    bind: [\"127.0.0.1:1\"]\n    default_backend: app\n\
             backends:\n  app:\n{yaml_backend}"
        );
        Config::from_yaml_str(&yaml, "inline").unwrap()
    }

    #[test]
    fn jobs_are_the_backends_with_dns_and_names() {
        let c = config(
            "    dns: { interval: 1s, nameservers: [\"127.0.0.1:5353\"] }\n    servers:\n      \
             a: { addr: a.invalid:80 }\n      b: { addr: 127.0.0.1:2 }\n      \
             c: { addr: _http._tcp.c.invalid }\n",
        );
        let jobs = jobs(&c);
        let names: Vec<String> = jobs["app"]
            .names
            .iter()
            .map(|(s, l)| format!("{s}={l}"))
            .collect();
        assert_eq!(names, ["a=a.invalid:80", "c=_http._tcp.c.invalid"]);
        // Only literals, or no `dns`: nothing to do.
        let literal = config("    dns: {}\n    servers: { a: { addr: 127.0.0.1:2 } }\n");
        assert!(super::jobs(&literal).is_empty());
        let off = config("    servers: { a: { addr: localhost:2 } }\n");
        assert!(super::jobs(&off).is_empty());
    }
}
