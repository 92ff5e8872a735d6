//! The conversion: sections read, then fairway's `global`, `admin`,
//! `frontends` and `backends` built from them and written out.

use super::access_log;
use super::backend::BackendConverter;
use super::dns::{self, Resolvers};
use super::emit::{document, s, Map, Value};
use super::frontend::{FrontendConverter, Frontends};
use super::parse::{self, Kind, Line, Section};
use super::proxy::{Proxy, Reader};
use super::server::{sanitize_name, timeout};
use super::settings::Settings;
use super::text::unique;
use super::{Conversion, Report};
use std::collections::HashMap;

/// `global` as converted.
#[derive(Default)]
struct Global {
    map: Map,
    /// `stats socket PATH` and its line.
    socket: Option<(usize, String)>,
    /// Any `log` target (for `option httplog` → `access_log`).
    logs: bool,
    /// `ssl-server-verify none`.
    no_verify: bool,
    crt_base: Option<String>,
    ca_base: Option<String>,
}

pub(crate) fn convert(text: &str) -> Conversion {
    let mut report = Report::default();
    let sections = parse::sections(text);
    let mut header: Vec<String> = vec![
        "Converted from an HAProxy configuration by `fairway import-haproxy`.".into(),
        "Lines marked `unsupported` were not converted; `note` lines explain differences.".into(),
        "fairway normalizes request paths before rules see them (normalize_path, SPEC §3):".into(),
        "`//admin`, `/./admin` and `/%61dmin` match a rule on `/admin`, unlike in HAProxy;".into(),
        "`/%2Fadmin` is refused (encoded_slashes) and `/admin;x` matched as `/admin` (path_params).".into(),
    ];
    let mut global = Global::default();
    for sec in sections.iter().filter(|s| s.kind == Kind::Global) {
        global_section(&mut report, &mut global, sec);
    }
    let mut reader = Reader {
        report: &mut report,
        crt_base: global.crt_base.clone(),
        ca_base: global.ca_base.clone(),
    };
    let mut resolvers: HashMap<String, Resolvers> = HashMap::new();
    let mut defaults = Settings::default();
    let mut named: HashMap<String, Settings> = HashMap::new();
    let mut proxies: Vec<Proxy> = Vec::new();
    for sec in &sections {
        match sec.kind {
            Kind::Global => {}
            Kind::None => {
                for line in &sec.lines {
                    let c = reader
                        .report
                        .unsupported(line.no, &line.raw, "outside any section");
                    header.push(c);
                }
            }
            Kind::Resolvers => {
                if let Some((name, r)) = dns::section(sec, reader.report, &mut header) {
                    match resolvers.entry(name) {
                        std::collections::hash_map::Entry::Occupied(e) => {
                            let why = "a resolvers section of this name already exists";
                            let raw = format!("resolvers {}", e.key());
                            header.push(reader.report.unsupported(r.line, &raw, why));
                        }
                        std::collections::hash_map::Entry::Vacant(e) => {
                            e.insert(r);
                        }
                    }
                }
            }
            Kind::Other => {
                let kw = sec.header.as_ref().map_or("", |h| h.word(0)).to_string();
                let why = format!("`{kw}` sections are not converted");
                for line in sec.header.iter().chain(&sec.lines) {
                    let c = reader.report.unsupported(line.no, &line.raw, &why);
                    header.push(c);
                }
            }
            Kind::Defaults => {
                let Some(h) = &sec.header else { continue };
                let base = match from(h) {
                    Some(name) => match named.get(name) {
                        Some(s) => s.clone(),
                        None => {
                            let c =
                                reader
                                    .report
                                    .unsupported(h.no, &h.raw, "unknown defaults section");
                            header.push(c);
                            Settings::default()
                        }
                    },
                    None => Settings::default(),
                };
                let mut base = base;
                if !base.http_response.is_empty() {
                    let why = "HAProxy refuses a defaults section with rules as the base of \
                               another defaults section: its http-response rules are not \
                               inherited";
                    header.push(reader.report.unsupported(h.no, &h.raw, why));
                    base.http_response.clear();
                }
                let is_named = h.words.get(1).is_some_and(|w| !w.is("from"));
                let s = reader.defaults(&sec.lines, base, &mut header, is_named);
                if let Some(name) = h.words.get(1).filter(|w| !w.is("from")) {
                    named.insert(name.text.clone(), s.clone());
                }
                defaults = s;
            }
            Kind::Frontend | Kind::Backend | Kind::Listen => {
                let Some(h) = &sec.header else { continue };
                let Some(name) = sec.name().filter(|n| *n != "from") else {
                    let c = reader
                        .report
                        .unsupported(h.no, &h.raw, "section without a name");
                    header.push(c);
                    continue;
                };
                let base = match from(h) {
                    Some(d) => named.get(d).cloned().unwrap_or_else(|| {
                        let c = reader
                            .report
                            .unsupported(h.no, &h.raw, "unknown defaults section");
                        header.push(c);
                        defaults.clone()
                    }),
                    None => defaults.clone(),
                };
                let clash = proxies.iter().any(|p| {
                    p.name == name
                        && (p.kind == sec.kind
                            || p.kind == Kind::Listen
                            || sec.kind == Kind::Listen)
                });
                if clash {
                    let c = reader.report.unsupported(
                        h.no,
                        &h.raw,
                        "a section of this name already exists",
                    );
                    header.push(c);
                    continue;
                }
                proxies.push(reader.proxy(sec.kind, name, h, &sec.lines, base));
            }
        }
    }
    drop(reader);
    let b = Converter {
        report,
        proxies,
        global,
        header,
        backend_names: HashMap::new(),
        resolvers,
    };
    b.build()
}

/// `from NAME` of a section header.
fn from(h: &Line) -> Option<&str> {
    let at = h.words.iter().position(|w| w.is("from"))?;
    h.words.get(at + 1).map(|w| w.text.as_str())
}

/// The `global` section.
fn global_section(report: &mut Report, g: &mut Global, sec: &Section) {
    for line in &sec.lines {
        let arg = line.word(1);
        let mut comment = |c: String| g.map.comments.push(c);
        match line.word(0) {
            "nbthread" => match arg.parse::<u64>() {
                Ok(n) if (1..=1024).contains(&n) => g.map.push("threads", Value::Int(n)),
                _ => comment(report.unsupported(line.no, &line.raw, "threads must be 1 to 1024")),
            },
            "nbproc" if arg == "1" => {}
            "pidfile" if !arg.is_empty() => g.map.push("pid_file", s(line.words[1].fw.clone())),
            "hard-stop-after" => match timeout(arg) {
                Ok(t) => g.map.push("grace_period", s(t)),
                Err(why) => comment(report.unsupported(line.no, &line.raw, &why)),
            },
            "daemon" => {
                comment(report.unsupported(line.no, &line.raw, "run `fairway -d` to daemonize"))
            }
            "master-worker" => comment(report.note(
                line.no,
                &line.raw,
                "fairway reloads on SIGHUP and upgrades with `fairway -u`",
            )),
            "quiet" | "zero-warning" | "description" | "node" | "log-send-hostname" => {
                comment(report.note(line.no, &line.raw, "ignored: no effect in fairway"))
            }
            "log" => {
                g.logs = true;
                if matches!(arg, "stdout" | "stderr") {
                    comment(report.note(line.no, &line.raw, "fairway logs to stderr"));
                } else {
                    comment(report.unsupported(
                        line.no,
                        &line.raw,
                        "fairway logs to stderr only; forward it with your service manager",
                    ));
                }
            }
            "crt-base" => g.crt_base = line.words.get(1).map(|w| w.fw.clone()),
            "ca-base" => g.ca_base = line.words.get(1).map(|w| w.fw.clone()),
            "ssl-server-verify" if arg == "none" => g.no_verify = true,
            "ssl-server-verify" if arg == "required" => {}
            "stats" => global_stats(report, g, line),
            "user" | "group" | "uid" | "gid" | "chroot" | "setcap" => comment(report.unsupported(
                line.no,
                &line.raw,
                "run fairway as the right user from your service manager",
            )),
            "setenv" | "presetenv" | "resetenv" | "unsetenv" => comment(report.unsupported(
                line.no,
                &line.raw,
                "set the variables in fairway's environment",
            )),
            "external-check" | "insecure-fork-wanted" => {
                comment(report.unsupported(line.no, &line.raw, "fairway cannot run check scripts"))
            }
            "maxconn" | "ulimit-n" | "maxsslconn" | "maxconnrate" | "maxsessrate" => comment(
                report.unsupported(line.no, &line.raw, "fairway has no global connection limit"),
            ),
            _ => comment(report.unsupported(line.no, &line.raw, "unsupported global setting")),
        }
    }
}

/// `stats socket|timeout|maxconn` in `global`.
fn global_stats(report: &mut Report, g: &mut Global, line: &Line) {
    let c = match line.word(1) {
        "socket" => {
            let path = line.words.get(2).map(|w| w.fw.clone()).unwrap_or_default();
            if g.socket.is_some() {
                report.unsupported(line.no, &line.raw, "fairway has one runtime socket")
            } else if path.starts_with('/') || path.starts_with("unix@/") {
                let path = path.trim_start_matches("unix@").to_string();
                g.socket = Some((line.no, path));
                let opts = line.rest(3);
                let mut remarks = vec!["admin.socket".to_string()];
                if opts.iter().any(|w| w.is("mode")) {
                    remarks.push("fairway creates it with mode 0600".into());
                }
                if opts.iter().any(|w| w.is("level")) && !opts.iter().any(|w| w.is("admin")) {
                    remarks.push("fairway's socket accepts every command (level admin)".into());
                }
                report.note(line.no, &line.raw, &remarks.join("; "))
            } else {
                report.unsupported(
                    line.no,
                    &line.raw,
                    "fairway's runtime socket is a Unix socket path",
                )
            }
        }
        "timeout" | "maxconn" | "bind-process" => {
            report.note(line.no, &line.raw, "ignored: no effect in fairway")
        }
        _ => report.unsupported(line.no, &line.raw, "unsupported stats setting"),
    };
    g.map.comments.push(c);
}

pub(super) struct Converter {
    pub(super) report: Report,
    proxies: Vec<Proxy>,
    global: Global,
    pub(super) header: Vec<String>,
    /// HAProxy backend name → fairway backend name.
    pub(super) backend_names: HashMap<String, String>,
    /// The `resolvers` sections by name.
    resolvers: HashMap<String, Resolvers>,
}

/// Whether a section only serves the stats page.
fn stats_only(p: &Proxy) -> bool {
    p.stats.is_some()
        && p.servers.is_empty()
        && p.use_backend.is_empty()
        && p.default_backend.is_none()
}

impl Converter {
    /// `ssl-server-verify none` in `global`.
    pub(super) fn no_verify(&self) -> bool {
        self.global.no_verify
    }

    fn build(mut self) -> Conversion {
        let proxies = std::mem::take(&mut self.proxies);
        // Backend names first: frontends refer to them.
        let mut backends: Vec<&Proxy> = Vec::new();
        for p in &proxies {
            if matches!(p.kind, Kind::Backend | Kind::Listen) && !stats_only(p) {
                let name = unique(&sanitize_name(&p.name), self.backend_names.values());
                self.backend_names.insert(p.name.clone(), name);
                backends.push(p);
            }
        }
        let frontends: Vec<&Proxy> = proxies
            .iter()
            .filter(|p| matches!(p.kind, Kind::Frontend | Kind::Listen) && !stats_only(p))
            .collect();
        // Which frontends use which backend (for modes and forwardfor).
        let mut users: HashMap<String, Vec<&Proxy>> = HashMap::new();
        for f in &frontends {
            for r in refs(f) {
                users.entry(r).or_default().push(f);
            }
        }
        let (moved, mut backend_comments) = self.backend_rules(&backends, &users);
        // A listen's response rules run in its frontend: not for the
        // requests of other frontends that use it as their backend.
        for p in backends.iter().filter(|p| p.kind == Kind::Listen) {
            let others: Vec<&str> = users
                .get(&p.name)
                .map(|us| {
                    us.iter()
                        .filter(|u| u.name != p.name)
                        .map(|u| u.name.as_str())
                        .collect()
                })
                .unwrap_or_default();
            let rules = !p.http_response.is_empty() || !p.s.http_response.is_empty();
            if rules && !p.binds.is_empty() && !others.is_empty() {
                let remark = format!(
                    "its http-response rules run in its frontend: responses to frontend {}, \
                     which uses it as a backend, skip them, unlike HAProxy",
                    others.join(", ")
                );
                let c = self
                    .report
                    .note(p.line, &format!("listen {}", p.name), &remark);
                backend_comments.entry(p.name.clone()).or_default().push(c);
            }
        }
        let mut out = Frontends::default();
        let mut backs = Map::default();
        for f in &frontends {
            if f.binds.is_empty() {
                if f.kind == Kind::Frontend {
                    let c = self.report.unsupported(
                        f.line,
                        &format!("frontend {}", f.name),
                        "no usable `bind`: the frontend is left out",
                    );
                    self.header.push(c);
                }
                continue;
            }
            let backend_ff = refs(f).iter().any(|r| {
                backends
                    .iter()
                    .any(|b| &b.name == r && b.s.forwardfor == Some(true))
            });
            FrontendConverter {
                report: &mut self.report,
                backend_names: &self.backend_names,
            }
            .frontend(f, moved.get(f.name.as_str()).copied(), backend_ff, &mut out);
        }
        for p in &backends {
            let mode = match &p.s.mode {
                Some(m) => m.clone(),
                None => {
                    let modes: Vec<String> = users
                        .get(&p.name)
                        .map(|us| {
                            us.iter()
                                .map(|u| u.s.mode.clone().unwrap_or_else(|| "tcp".into()))
                                .collect()
                        })
                        .unwrap_or_default();
                    match modes.first() {
                        Some(m) if modes.iter().all(|x| x == m) && m == "http" => {
                            let c = self.report.note(
                                p.line,
                                &format!("backend {}", p.name),
                                "no `mode`: HAProxy's default is tcp, which it would refuse with an http frontend; mode http assumed",
                            );
                            self.header.push(c);
                            m.clone()
                        }
                        _ => "tcp".to_string(),
                    }
                }
            };
            let name = self.backend_names.get(&p.name).cloned().unwrap_or_default();
            let no_verify = self.no_verify();
            let acls_moved = moved.values().any(|b| b.name == p.name);
            let mut map = BackendConverter {
                report: &mut self.report,
                no_verify,
                acls_moved,
                resolvers: &self.resolvers,
            }
            .backend(p, &mode);
            map.comments
                .extend(backend_comments.remove(&p.name).unwrap_or_default());
            backs.push(&name, Value::Map(map));
        }
        backs.entries.append(&mut out.extra.entries);
        let Frontends {
            fronts, binds_used, ..
        } = out;
        let mut root = Map::default();
        let logging: Vec<&Proxy> = frontends
            .iter()
            .filter(|f| !f.binds.is_empty())
            .copied()
            .collect();
        let gmap = self.global_map(&proxies, &logging);
        if !gmap.is_empty() {
            root.push("global", Value::Map(gmap));
        }
        if let Some(admin) = self.admin(&proxies, &binds_used) {
            root.push("admin", Value::Map(admin));
        }
        if fronts.entries.is_empty() {
            let c = self.report.unsupported(
                0,
                "(whole file)",
                "no frontend with a usable bind: fairway needs at least one",
            );
            self.header.push(c);
        } else {
            root.push("frontends", Value::Map(fronts));
        }
        if !backs.entries.is_empty() {
            root.push("backends", Value::Map(backs));
        }
        let yaml = document(&self.header, &root);
        self.report.finish(yaml)
    }

    /// Backends' `acl`, `http-request` and `redirect` lines: fairway runs
    /// rules in frontends, so they move to the frontends whose every
    /// request goes to the backend (then they run for exactly the requests
    /// HAProxy runs them for); otherwise they are reported. Returns frontend
    /// name → backend, and comments for the backends.
    #[allow(clippy::type_complexity)]
    fn backend_rules<'p>(
        &mut self,
        backends: &[&'p Proxy],
        users: &HashMap<String, Vec<&'p Proxy>>,
    ) -> (HashMap<&'p str, &'p Proxy>, HashMap<String, Vec<String>>) {
        let mut moved = HashMap::new();
        let mut comments: HashMap<String, Vec<String>> = HashMap::new();
        for b in backends.iter().filter(|b| b.kind == Kind::Backend) {
            // ACLs used by the backend's response rules only stay there
            // (written out in its http_response).
            let request_rules = !b.http_request.is_empty() || !b.redirects.is_empty();
            if !request_rules && (b.acls.is_empty() || !b.http_response.is_empty()) {
                continue;
            }
            let us = users.get(&b.name).cloned().unwrap_or_default();
            let only_route = |u: &&Proxy| refs(u) == [b.name.clone()];
            let clash = |u: &&Proxy| {
                u.acls
                    .iter()
                    .any(|(_, n, _)| b.acls.iter().any(|a| a.1 == *n))
            };
            let why = if us.is_empty() {
                Some("no frontend uses this backend")
            } else if !us.iter().all(only_route) {
                Some("fairway runs rules in frontends only, and a frontend reaches this backend through use_backend conditions")
            } else if us.iter().any(clash) {
                Some("fairway runs rules in frontends only, and an ACL name of this backend is also one of its frontend's")
            } else {
                None
            };
            let c = comments.entry(b.name.clone()).or_default();
            match why {
                None => {
                    let names: Vec<&str> = us.iter().map(|u| u.name.as_str()).collect();
                    let remark = format!(
                        "its ACLs and request rules run in frontend {}, every request of which goes to this backend",
                        names.join(", ")
                    );
                    c.push(
                        self.report
                            .note(b.line, &format!("backend {}", b.name), &remark),
                    );
                    for u in us {
                        moved.insert(u.name.as_str(), *b);
                    }
                }
                Some(why) => {
                    for (line, name, words) in &b.acls {
                        if b.http_response.iter().any(|r| r.mentions(name)) {
                            continue;
                        }
                        let raw = format!("acl {name} {}", super::text::join(words));
                        c.push(self.report.unsupported(*line, &raw, why));
                    }
                    for r in b.http_request.iter().chain(&b.redirects) {
                        c.push(self.report.unsupported(r.line, &r.raw, why));
                    }
                }
            }
        }
        (moved, comments)
    }

    /// `global`: what `global_section` read, and the access log.
    fn global_map(&mut self, proxies: &[Proxy], frontends: &[&Proxy]) -> Map {
        let mut g = std::mem::take(&mut self.global.map);
        let logged = |p: &Proxy| p.s.log_option.is_some() || p.s.log_format.is_some();
        if self.global.logs && proxies.iter().any(logged) {
            g.push("access_log", Value::Bool(true));
        }
        let format = access_log::global_format(frontends, &mut self.report, &mut g.comments);
        if let Some(format) = format {
            g.push("access_log_format", s(format));
        }
        g
    }

    /// `admin` from the stats section(s) and `stats socket`.
    fn admin(&mut self, proxies: &[Proxy], binds_used: &[String]) -> Option<Map> {
        let mut admin = Map::default();
        let mut chosen: Option<&Proxy> = None;
        for p in proxies.iter().filter(|p| p.stats.is_some()) {
            if chosen.is_some() {
                let c = self.report.unsupported(
                    p.line,
                    &format!("stats in {}", p.name),
                    "fairway has one admin listener",
                );
                admin.comments.push(c);
                continue;
            }
            chosen = Some(p);
        }
        let free_port = || {
            (9000u16..)
                .find(|port| !binds_used.iter().any(|b| b.ends_with(&format!(":{port}"))))
                .unwrap_or(9000)
        };
        let mut auth = None;
        let bind = match chosen {
            Some(p) => {
                let stats = p.stats.clone().unwrap_or_default();
                admin.comments.append(&mut p.comments.clone());
                if let Some((_, user, pass)) = stats.auth.first() {
                    auth = Some((user.clone(), pass.clone()));
                }
                for (line, user, _) in stats.auth.iter().skip(1) {
                    let c = self.report.unsupported(
                        *line,
                        &format!("stats auth {user}:***"),
                        "fairway's admin listener has one user",
                    );
                    admin.comments.push(c);
                }
                let first = p.binds.first().and_then(|b| b.addrs.first().cloned());
                for b in &p.binds {
                    if !b.certs.is_empty() {
                        let c = self.report.unsupported(
                            b.line,
                            "bind ... ssl",
                            "fairway's admin listener has no TLS",
                        );
                        admin.comments.push(c);
                    }
                }
                let bind_line = p.binds.first().map_or(p.line, |b| b.line);
                for b in &p.binds {
                    let extra: Vec<&String> = b
                        .addrs
                        .iter()
                        .filter(|a| Some(*a) != p.binds[0].addrs.first())
                        .collect();
                    if !extra.is_empty() {
                        let list: Vec<&str> = extra.iter().map(|a| a.as_str()).collect();
                        let c = self.report.unsupported(
                            b.line,
                            &format!("bind {}", list.join(",")),
                            "fairway's admin listener has one address",
                        );
                        admin.comments.push(c);
                    }
                }
                Some(match first {
                    _ if !stats_only(p) => {
                        let port = free_port();
                        let c = self.report.unsupported(p.stats.as_ref().map_or(p.line, |s| s.line), &format!("stats in {}", p.name), &format!("fairway serves stats on its own admin listener, here 127.0.0.1:{port}"));
                        admin.comments.push(c);
                        format!("127.0.0.1:{port}")
                    }
                    Some(addr) if auth.is_none() && !loopback(&addr) => {
                        let port = addr.rsplit(':').next().unwrap_or("9000").to_string();
                        let c = self.report.unsupported(bind_line, &format!("bind {addr}"), &format!("stats without `stats auth` on a non-loopback address: fairway requires auth there, so the admin listener binds 127.0.0.1:{port}"));
                        admin.comments.push(c);
                        format!("127.0.0.1:{port}")
                    }
                    Some(addr) => addr,
                    None => {
                        let port = free_port();
                        let c = self.report.unsupported(
                            p.line,
                            &format!("stats in {}", p.name),
                            &format!("no usable bind; admin binds 127.0.0.1:{port}"),
                        );
                        admin.comments.push(c);
                        format!("127.0.0.1:{port}")
                    }
                })
            }
            None => {
                self.global.socket.as_ref()?;
                None
            }
        };
        if let Some(bind) = bind {
            admin.comments.push("fairway's admin listener serves /stats, /stats.json, /metrics and the runtime API (/api/...).".into());
            admin.push("bind", s(bind));
        }
        if let Some((user, password)) = auth {
            admin.push(
                "auth",
                Value::Flow(vec![
                    ("user".into(), s(user)),
                    ("password".into(), s(password)),
                ]),
            );
        }
        if let Some((_, path)) = &self.global.socket {
            admin.push("socket", s(path.clone()));
        }
        Some(admin)
    }
}

/// Whether a fairway bind address is on loopback.
fn loopback(addr: &str) -> bool {
    addr.starts_with("127.") || addr.starts_with("[::1]:")
}

/// HAProxy backend names a frontend refers to.
pub(super) fn refs(p: &Proxy) -> Vec<String> {
    let mut out: Vec<String> = p
        .use_backend
        .iter()
        .filter_map(|r| r.words.first().map(|w| w.text.clone()))
        .collect();
    match &p.default_backend {
        Some(r) => out.extend(r.words.first().map(|w| w.text.clone())),
        None if p.kind == Kind::Listen => out.push(p.name.clone()),
        None => {}
    }
    out
}
