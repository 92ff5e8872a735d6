//! Changing a running fairway: weights, states, servers, addresses, reload.
//!
//! [`Control`] is the one writer of the live [`Runtime`]: the admin API,
//! the HAProxy-style runtime socket, SIGHUP and discovery all go through
//! it, so startup config and runtime changes share one path. Weight and
//! state changes act on the shared [`Server`] objects and rebuild the
//! backend's selector; adding or removing a server, or moving one to a new
//! address (`dns`), builds a new runtime that shares every other object and
//! swaps it in atomically. Requests in flight
//! keep the snapshot they started with, so a removed server finishes them.
//! Every check happens before anything changes: an error changes nothing.

use crate::balance::Backend;
use crate::upstream::{AdminState, Server, ServerSpec};
use crate::Runtime;
use arc_swap::ArcSwap;
use fairway_config::Config;
use fairway_config::{valid_name, MAX_WEIGHT};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Why a runtime change was refused (nothing was changed).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ControlError {
    /// No backend has this name.
    #[error("no such backend `{0}`")]
    NoBackend(String),
    /// The backend has no server of this name.
    #[error("no such server `{1}` in backend `{0}`")]
    NoServer(String, String),
    /// A value is out of range or malformed.
    #[error("{0}")]
    Invalid(String),
    /// A server of this name exists already.
    #[error("server `{1}` already exists in backend `{0}`")]
    Exists(String, String),
    /// The config file could not be reloaded.
    #[error("{0}")]
    Reload(String),
}

/// A new server for [`Control::add_server`].
#[derive(Debug, Clone)]
pub struct NewServer {
    /// Name, `[A-Za-z0-9_.-]+`, unique in the backend.
    pub name: String,
    /// `ip:port` or `host:port` (resolved now).
    pub addr: String,
    /// Weight 0..=256 (default 1).
    pub weight: Option<u16>,
    /// Backup server.
    pub backup: bool,
}

/// The single writer of a live runtime.
#[derive(Clone)]
pub struct Control {
    runtime: Arc<ArcSwap<Runtime>>,
    path: Option<PathBuf>,
    lock: Arc<Mutex<()>>,
}

impl Control {
    /// Control over `runtime`; `path` is the config file SIGHUP and
    /// [`Control::reload`] re-read.
    pub fn new(runtime: Arc<ArcSwap<Runtime>>, path: Option<PathBuf>) -> Self {
        Control {
            runtime,
            path,
            lock: Arc::new(Mutex::new(())),
        }
    }

    /// The current runtime.
    pub fn snapshot(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    /// The shared runtime pointer.
    pub fn runtime(&self) -> &Arc<ArcSwap<Runtime>> {
        &self.runtime
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn find(
        rt: &Runtime,
        backend: &str,
        server: &str,
    ) -> Result<(Arc<Backend>, Arc<Server>), ControlError> {
        let b = rt
            .backend(backend)
            .ok_or_else(|| ControlError::NoBackend(backend.to_string()))?;
        let s = b
            .server(server)
            .map(|(_, s)| Arc::clone(s))
            .ok_or_else(|| ControlError::NoServer(backend.to_string(), server.to_string()))?;
        Ok((Arc::clone(b), s))
    }

    /// Sets a server's weight (0..=256); the next request sees it.
    pub fn set_weight(&self, backend: &str, server: &str, weight: u32) -> Result<(), ControlError> {
        let _g = self.guard();
        let rt = self.snapshot();
        let (b, s) = Self::find(&rt, backend, server)?;
        let weight = u16::try_from(weight)
            .ok()
            .filter(|w| *w <= MAX_WEIGHT)
            .ok_or_else(|| {
                ControlError::Invalid(format!(
                    "weight {weight} is out of range (0..={MAX_WEIGHT})"
                ))
            })?;
        s.set_weight(weight);
        b.rebuild();
        log::info!("weight changed backend={backend} server={server} weight={weight}");
        Ok(())
    }

    /// Sets a server's administrative state.
    pub fn set_state(
        &self,
        backend: &str,
        server: &str,
        state: AdminState,
    ) -> Result<(), ControlError> {
        let _g = self.guard();
        let rt = self.snapshot();
        let (b, s) = Self::find(&rt, backend, server)?;
        s.set_admin_state(state);
        b.rebuild();
        log::info!(
            "state changed backend={backend} server={server} state={}",
            state.as_str()
        );
        Ok(())
    }

    /// Adds a server to a backend (health-checked like the others).
    pub fn add_server(&self, backend: &str, new: NewServer) -> Result<(), ControlError> {
        let _g = self.guard();
        let rt = self.snapshot();
        let (index, b) = rt
            .backends()
            .iter()
            .enumerate()
            .find(|(_, b)| b.name() == backend)
            .ok_or_else(|| ControlError::NoBackend(backend.to_string()))?;
        if !valid_name(&new.name) {
            return Err(ControlError::Invalid(format!(
                "invalid server name `{}` (allowed characters: A-Z a-z 0-9 _ . -)",
                new.name
            )));
        }
        if b.server(&new.name).is_some() {
            return Err(ControlError::Exists(backend.to_string(), new.name));
        }
        let weight = new.weight.unwrap_or(1);
        if weight > 256 {
            return Err(ControlError::Invalid(format!(
                "weight {weight} is out of range (0..=256)"
            )));
        }
        let addr = resolve(&new.addr)?;
        let conf = &rt.config().backends[index];
        let spec = ServerSpec {
            cookie: new.name.clone(),
            name: new.name,
            addr,
            weight,
            backup: new.backup,
            maxconn: None,
            timeout_connect: conf.timeout_connect,
            timeout_server: conf.timeout_server,
            proto: fairway_config::Proto::H1,
            send_proxy: None,
        };
        let server = Arc::new(b.new_server(spec));
        let mut servers = b.servers().to_vec();
        servers.push(server);
        log::info!(
            "server added backend={backend} server={} addr={addr}",
            servers[servers.len() - 1].name()
        );
        self.runtime
            .store(Arc::new(rt.with_backend(index, b.derive(servers))));
        Ok(())
    }

    /// Removes a server; requests in flight to it finish normally.
    pub fn remove_server(&self, backend: &str, server: &str) -> Result<(), ControlError> {
        let _g = self.guard();
        let rt = self.snapshot();
        let (index, b) = rt
            .backends()
            .iter()
            .enumerate()
            .find(|(_, b)| b.name() == backend)
            .ok_or_else(|| ControlError::NoBackend(backend.to_string()))?;
        if b.server(server).is_none() {
            return Err(ControlError::NoServer(
                backend.to_string(),
                server.to_string(),
            ));
        }
        let servers = b
            .servers()
            .iter()
            .filter(|s| s.name() != server)
            .cloned()
            .collect();
        self.runtime
            .store(Arc::new(rt.with_backend(index, b.derive(servers))));
        log::info!("server removed backend={backend} server={server}");
        Ok(())
    }

    /// Moves a server to `addr` (its `dns` name now resolves there, or
    /// resolves for the first time). A new server object at `addr`, with
    /// the same settings (TLS and protocol included), takes the old one's
    /// place and state (health, administrative state, runtime weight,
    /// counters; see [`Server::inherit`]): new requests go to `addr`,
    /// requests in flight finish on the old address, and idle pooled
    /// connections to the old address are never used for the new one
    /// (pools are keyed by address). Returns whether anything changed
    /// (`false`: the server is at `addr` already).
    pub fn set_addr(
        &self,
        backend: &str,
        server: &str,
        addr: SocketAddr,
    ) -> Result<bool, ControlError> {
        let _g = self.guard();
        let rt = self.snapshot();
        let (index, b) = rt
            .backends()
            .iter()
            .enumerate()
            .find(|(_, b)| b.name() == backend)
            .ok_or_else(|| ControlError::NoBackend(backend.to_string()))?;
        let (pos, old) = b
            .server(server)
            .ok_or_else(|| ControlError::NoServer(backend.to_string(), server.to_string()))?;
        if addr.port() == 0 {
            return Err(ControlError::Invalid(format!(
                "invalid address `{addr}` (port 0)"
            )));
        }
        if old.has_addr() && old.addr() == addr {
            return Ok(false);
        }
        // A configured server's TLS settings come from the config; added
        // and discovered servers speak plain TCP.
        let tls = rt
            .config()
            .backends
            .get(index)
            .and_then(|c| c.servers.iter().find(|s| s.name == server))
            .filter(|_| !old.is_discovered())
            .and_then(|s| s.tls.as_ref());
        let spec = ServerSpec {
            addr,
            ..old.spec().clone()
        };
        let moved = b.new_server_with_tls(spec, tls);
        if old.is_discovered() {
            moved.mark_discovered();
        }
        moved.inherit(old);
        let was = match old.has_addr() {
            true => old.addr().to_string(),
            false => "none".to_string(),
        };
        let mut servers = b.servers().to_vec();
        servers[pos] = Arc::new(moved);
        self.runtime
            .store(Arc::new(rt.with_backend(index, b.derive(servers))));
        log::info!(
            "server address changed backend={backend} server={server} addr={addr} was={was}"
        );
        Ok(true)
    }

    /// Replaces the discovered servers of `backend` with `servers` (name,
    /// address, weight); the config's own servers stay. A server whose name
    /// and address are unchanged is kept as is (health, counters, in-flight
    /// requests); one whose weight changed keeps its state. Returns whether
    /// anything changed. Names that clash with a configured server are
    /// skipped and returned in the error list of the second value.
    pub fn set_discovered(
        &self,
        backend: &str,
        servers: &[(String, SocketAddr, Option<u16>)],
    ) -> Result<(bool, Vec<String>), ControlError> {
        let _g = self.guard();
        let rt = self.snapshot();
        let (index, b) = rt
            .backends()
            .iter()
            .enumerate()
            .find(|(_, b)| b.name() == backend)
            .ok_or_else(|| ControlError::NoBackend(backend.to_string()))?;
        let conf = &rt.config().backends[index];
        let mut list: Vec<Arc<Server>> = b
            .servers()
            .iter()
            .filter(|s| !s.is_discovered())
            .cloned()
            .collect();
        let mut skipped = Vec::new();
        let mut changed = false;
        for (name, addr, weight) in servers {
            if list.iter().any(|s| s.name() == name) {
                skipped.push(format!(
                    "discovered server `{name}` clashes with a configured or duplicate server"
                ));
                continue;
            }
            let weight = weight.unwrap_or(1);
            let old = b.server(name).map(|(_, s)| s).filter(|s| s.is_discovered());
            match old {
                Some(s) if s.addr() == *addr && s.spec().weight == weight => {
                    list.push(Arc::clone(s))
                }
                _ => {
                    let spec = ServerSpec {
                        name: name.clone(),
                        addr: *addr,
                        weight,
                        backup: false,
                        maxconn: None,
                        cookie: name.clone(),
                        timeout_connect: conf.timeout_connect,
                        timeout_server: conf.timeout_server,
                        proto: fairway_config::Proto::H1,
                        send_proxy: None,
                    };
                    let server = b.new_server(spec);
                    server.mark_discovered();
                    if let Some(was) = old.filter(|s| s.addr() == *addr) {
                        server.inherit(was);
                    }
                    log::info!("server discovered backend={backend} server={name} addr={addr} weight={weight}");
                    list.push(Arc::new(server));
                    changed = true;
                }
            }
        }
        for gone in b
            .servers()
            .iter()
            .filter(|s| s.is_discovered() && !list.iter().any(|n| Arc::ptr_eq(n, s)))
        {
            log::info!("server gone backend={backend} server={}", gone.name());
            changed = true;
        }
        if changed {
            self.runtime
                .store(Arc::new(rt.with_backend(index, b.derive(list))));
        }
        Ok((changed, skipped))
    }

    /// Re-reads the config file; a valid file replaces the runtime, keeping
    /// the health, counters and weights of servers that still exist.
    pub fn reload(&self) -> Result<(), ControlError> {
        let path = self.path.as_ref().ok_or_else(|| {
            ControlError::Reload("no configuration file to reload (started without -c)".into())
        })?;
        let options = self.snapshot().load_options();
        let config = Config::from_file_with(path, &options)
            .map_err(|e| ControlError::Reload(e.to_string()))?;
        self.apply(config)
    }

    /// Replaces the runtime with one built from `config`, if its listeners
    /// are the running ones.
    pub fn apply(&self, config: Config) -> Result<(), ControlError> {
        let _g = self.guard();
        let current = self.snapshot();
        let next = Runtime::rebuild(config, Some(&current));
        current
            .check_replaceable_by(&next)
            .map_err(ControlError::Reload)?;
        self.runtime.store(Arc::new(next));
        Ok(())
    }
}

/// `ip:port` or `host:port`, resolved now (IPv4 preferred).
fn resolve(addr: &str) -> Result<SocketAddr, ControlError> {
    let bad = || {
        ControlError::Invalid(format!(
            "invalid address `{addr}` (expected ip:port or host:port)"
        ))
    };
    if let Ok(sa) = addr.parse::<SocketAddr>() {
        return if sa.port() == 0 { Err(bad()) } else { Ok(sa) };
    }
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0).ok_or_else(bad)?;
    if host.is_empty() || host.contains(':') {
        return Err(bad());
    }
    let all: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| ControlError::Invalid(format!("cannot resolve `{addr}`: {e}")))?
        .collect();
    all.iter()
        .find(|a| a.is_ipv4())
        .or_else(|| all.first())
        .copied()
        .ok_or_else(|| ControlError::Invalid(format!("cannot resolve `{addr}`: no addresses")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(yaml: &str) -> Control {
        let config = Config::from_yaml_str(yaml, "t.yaml").unwrap();
        Control::new(Arc::new(ArcSwap::from_pointee(Runtime::new(&config))), None)
    }

    const YAML: &str = "frontends:\n  web:\n    bind: 127.0.0.1:1\n    default_backend: app\nbackends:\n  app:\n    servers:\n      a: { addr: 127.0.0.1:2 }\n      b: { addr: 127.0.0.1:3 }\n";

    #[test]
    fn weights_and_states_change_the_selection_and_errors_change_nothing() {
        let c = control(YAML);
        c.set_weight("app", "a", 0).unwrap();
        let rt = c.snapshot();
        let b = rt.backend("app").unwrap();
        assert_eq!(b.effective_weights(), vec![0, 1]);
        assert_eq!(
            c.set_weight("app", "a", 257),
            Err(ControlError::Invalid(
                "weight 257 is out of range (0..=256)".into()
            ))
        );
        assert_eq!(
            c.set_weight("nope", "a", 1),
            Err(ControlError::NoBackend("nope".into()))
        );
        assert_eq!(
            c.set_weight("app", "z", 1),
            Err(ControlError::NoServer("app".into(), "z".into()))
        );
        assert_eq!(b.effective_weights(), vec![0, 1], "errors change nothing");
        c.set_state("app", "b", AdminState::Maint).unwrap();
        assert_eq!(b.effective_weights(), vec![0, 0]);
    }

    #[test]
    fn servers_are_added_and_removed_sharing_the_others() {
        let c = control(YAML);
        let a_before = Arc::clone(c.snapshot().backend("app").unwrap().server("a").unwrap().1);
        c.add_server(
            "app",
            NewServer {
                name: "c".into(),
                addr: "127.0.0.1:4".into(),
                weight: Some(3),
                backup: false,
            },
        )
        .unwrap();
        let rt = c.snapshot();
        let b = rt.backend("app").unwrap();
        assert_eq!(b.effective_weights(), vec![1, 1, 3]);
        assert!(
            Arc::ptr_eq(&a_before, b.server("a").unwrap().1),
            "other servers are shared"
        );
        let dup = NewServer {
            name: "c".into(),
            addr: "127.0.0.1:4".into(),
            weight: None,
            backup: false,
        };
        assert_eq!(
            c.add_server("app", dup),
            Err(ControlError::Exists("app".into(), "c".into()))
        );
        let bad = NewServer {
            name: "d".into(),
            addr: "nonsense".into(),
            weight: None,
            backup: false,
        };
        assert!(matches!(
            c.add_server("app", bad),
            Err(ControlError::Invalid(_))
        ));
        c.remove_server("app", "a").unwrap();
        let names: Vec<String> = c
            .snapshot()
            .backend("app")
            .unwrap()
            .servers()
            .iter()
            .map(|s| s.name().to_string())
            .collect();
        assert_eq!(names, ["b", "c"]);
        assert_eq!(
            c.remove_server("app", "a"),
            Err(ControlError::NoServer("app".into(), "a".into()))
        );
    }

    #[test]
    fn a_reload_keeps_the_state_of_servers_that_still_exist() {
        let c = control(YAML);
        {
            let rt = c.snapshot();
            let (_, a) = rt.backend("app").unwrap().server("a").unwrap();
            a.set_up(false);
            let _ = a.try_begin();
            a.record_rtt(std::time::Duration::from_millis(7));
        }
        let next = Config::from_yaml_str(
            &YAML.replace("b: { addr: 127.0.0.1:3 }", "c: { addr: 127.0.0.1:5 }"),
            "t.yaml",
        )
        .unwrap();
        c.apply(next).unwrap();
        let rt = c.snapshot();
        let (_, a) = rt.backend("app").unwrap().server("a").unwrap();
        assert!(!a.is_up(), "health carried over");
        assert_eq!(a.total(), 1);
        assert_eq!(a.rtts().len(), 1);
        assert_eq!(rt.backend("app").unwrap().effective_weights(), vec![0, 1]);
        let moved =
            Config::from_yaml_str(&YAML.replace("127.0.0.1:1", "127.0.0.1:9"), "t.yaml").unwrap();
        assert!(matches!(c.apply(moved), Err(ControlError::Reload(_))));
    }

    #[test]
    fn a_server_moves_to_a_new_address_keeping_its_state() {
        let c = control(YAML);
        let rt = c.snapshot();
        let (_, a) = rt.backend("app").unwrap().server("a").unwrap();
        let b = Arc::clone(rt.backend("app").unwrap().server("b").unwrap().1);
        a.set_admin_state(AdminState::Drain);
        let in_flight = a.try_begin().unwrap();
        let to: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert_eq!(c.set_addr("app", "a", to), Ok(true));
        let now = c.snapshot();
        let (i, moved) = now.backend("app").unwrap().server("a").unwrap();
        assert_eq!((i, moved.addr()), (0, to), "same place, new address");
        assert_eq!((moved.admin_state(), moved.total()), (AdminState::Drain, 1));
        assert_ne!(
            moved.pool_key(),
            a.pool_key(),
            "idle connections to the old address are not reused"
        );
        assert_eq!(a.active(), 1, "the request in flight stays on the old one");
        drop(in_flight);
        assert!(Arc::ptr_eq(
            &b,
            now.backend("app").unwrap().server("b").unwrap().1
        ));
        // Already there: nothing changes; errors change nothing.
        assert_eq!(c.set_addr("app", "a", to), Ok(false));
        assert!(Arc::ptr_eq(&now, &c.snapshot()));
        assert_eq!(
            c.set_addr("app", "z", to),
            Err(ControlError::NoServer("app".into(), "z".into()))
        );
        assert_eq!(
            c.set_addr("nope", "a", to),
            Err(ControlError::NoBackend("nope".into()))
        );
        let port0 = "127.0.0.1:0".parse().unwrap();
        assert!(matches!(
            c.set_addr("app", "a", port0),
            Err(ControlError::Invalid(_))
        ));
        assert!(Arc::ptr_eq(&now, &c.snapshot()));
    }

    #[test]
    fn dns_names_wait_for_an_address_and_reloads_keep_it() {
        let yaml = YAML.replace(
            "    servers:\n      a: { addr: 127.0.0.1:2 }",
            "    dns: { nameservers: [\"127.0.0.1:1\"] }\n    servers:\n      a: { addr: a.invalid:80 }",
        );
        let c = control(&yaml);
        let weights = |c: &Control| c.snapshot().backend("app").unwrap().effective_weights();
        let a =
            |c: &Control| Arc::clone(c.snapshot().backend("app").unwrap().server("a").unwrap().1);
        assert!(!a(&c).has_addr() && !a(&c).is_available());
        assert_eq!(weights(&c), vec![0, 1], "no address, no traffic");
        let to: SocketAddr = "127.0.0.1:7".parse().unwrap();
        assert_eq!(c.set_addr("app", "a", to), Ok(true));
        assert!(a(&c).has_addr());
        assert_eq!((a(&c).addr(), weights(&c)), (to, vec![1, 1]));
        // A reload with the same name keeps the address (and the state).
        a(&c).set_weight(5);
        c.apply(Config::from_yaml_str(&yaml, "t.yaml").unwrap())
            .unwrap();
        assert_eq!((a(&c).addr(), a(&c).weight()), (to, 5));
        assert_eq!(weights(&c), vec![5, 1]);
        // Another name: no address until it resolves.
        let other = yaml.replace("a.invalid:80", "other.invalid:80");
        c.apply(Config::from_yaml_str(&other, "t.yaml").unwrap())
            .unwrap();
        assert!(!a(&c).has_addr());
        assert_eq!(weights(&c), vec![0, 1]);
    }

    #[test]
    fn discovered_servers_are_added_kept_and_removed() {
        let c = control(YAML);
        let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let (changed, skipped) = c
            .set_discovered(
                "app",
                &[("d1".into(), addr(10), None), ("a".into(), addr(11), None)],
            )
            .unwrap();
        assert!(changed);
        assert_eq!(skipped.len(), 1, "`a` clashes with a configured server");
        let d1 = Arc::clone(c.snapshot().backend("app").unwrap().server("d1").unwrap().1);
        assert!(d1.is_discovered());
        // The same set again changes nothing and keeps the object.
        let (changed, _) = c
            .set_discovered("app", &[("d1".into(), addr(10), None)])
            .unwrap();
        assert!(!changed);
        assert!(Arc::ptr_eq(
            &d1,
            c.snapshot().backend("app").unwrap().server("d1").unwrap().1
        ));
        // A weight change keeps the state.
        d1.set_up(false);
        c.set_discovered("app", &[("d1".into(), addr(10), Some(5))])
            .unwrap();
        let rt = c.snapshot();
        let now = rt.backend("app").unwrap().server("d1").unwrap().1;
        assert_eq!((now.weight(), now.is_up()), (5, false));
        // Gone from the source: removed; configured servers stay.
        c.set_discovered("app", &[]).unwrap();
        let names: Vec<String> = c
            .snapshot()
            .backend("app")
            .unwrap()
            .servers()
            .iter()
            .map(|s| s.name().to_string())
            .collect();
        assert_eq!(names, ["a", "b"]);
    }
}
