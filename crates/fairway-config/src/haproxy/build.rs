//! The conversion: sections read, then fairway's `global`, `admin`,
//! `frontends` and `backends` built from them and written out.

use super::emit::{document, s, Map, Value};
use super::parse::{self, Kind, Line, Section};
use super::proxy::{Proxy, Reader, Settings};
use super::rules::{join, plain_format, split_guard, Acls, Guard};
use super::server::{sanitize_name, timeout};
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
        "`//admin`, `/./admin` and `/%61dmin` match a rule on `/admin`, unlike in HAProxy.".into(),
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
                let s = reader.defaults(&sec.lines, base, &mut header);
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
    let b = Builder {
        report,
        proxies,
        global,
        header,
        backend_names: HashMap::new(),
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

pub(super) struct Builder {
    pub(super) report: Report,
    proxies: Vec<Proxy>,
    global: Global,
    pub(super) header: Vec<String>,
    /// HAProxy backend name → fairway backend name.
    backend_names: HashMap<String, String>,
}

/// Whether a section only serves the stats page.
fn stats_only(p: &Proxy) -> bool {
    p.stats.is_some()
        && p.servers.is_empty()
        && p.use_backend.is_empty()
        && p.default_backend.is_none()
}

impl Builder {
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
        let mut fronts = Map::default();
        let mut backs = Map::default();
        // Backends made up for frontends without default_backend.
        let mut extra = Map::default();
        let mut front_names: Vec<String> = Vec::new();
        let mut binds_used: Vec<String> = Vec::new();
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
            self.frontend(
                f,
                backend_ff,
                &mut fronts,
                &mut front_names,
                &mut extra,
                &mut binds_used,
            );
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
            let map = self.backend(p, &mode);
            backs.push(&name, Value::Map(map));
        }
        backs.entries.append(&mut extra.entries);
        let mut root = Map::default();
        let gmap = self.global_map(&proxies);
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

    fn global_map(&mut self, proxies: &[Proxy]) -> Map {
        let mut g = std::mem::take(&mut self.global.map);
        if self.global.logs && proxies.iter().any(|p| p.s.httplog) {
            g.push("access_log", Value::Bool(true));
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
                    if b.cert.is_some() {
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
                match first {
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
                }
            }
            None => {
                let (line, _) = self.global.socket.clone()?;
                let port = free_port();
                let c = self.report.note(
                    line,
                    "stats socket",
                    &format!(
                        "fairway's admin section needs an HTTP listener too: 127.0.0.1:{port}"
                    ),
                );
                admin.comments.push(c);
                format!("127.0.0.1:{port}")
            }
        };
        admin.comments.push("fairway's admin listener serves /stats, /stats.json, /metrics and the runtime API (/api/...).".into());
        admin.push("bind", s(bind));
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

/// A fairway frontend made from an HAProxy one: name, binds, TLS
/// certificate with its line.
type Variant = (String, Vec<String>, Option<(usize, String)>);

/// Whether a fairway bind address is on loopback.
fn loopback(addr: &str) -> bool {
    addr.starts_with("127.") || addr.starts_with("[::1]:")
}

/// HAProxy backend names a frontend refers to.
fn refs(p: &Proxy) -> Vec<String> {
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

/// `base`, or `base-2`, `base-3`... not in `taken`.
fn unique<'a>(base: &str, taken: impl Iterator<Item = &'a String> + Clone) -> String {
    let mut name = base.to_string();
    let mut n = 1;
    while taken.clone().any(|t| *t == name) {
        n += 1;
        name = format!("{base}-{n}");
    }
    name
}

impl Builder {
    /// One frontend (two when it has plain and TLS binds).
    fn frontend(
        &mut self,
        p: &Proxy,
        backend_forwardfor: bool,
        fronts: &mut Map,
        names: &mut Vec<String>,
        backs: &mut Map,
        binds_used: &mut Vec<String>,
    ) {
        let plain: Vec<String> = p
            .binds
            .iter()
            .filter(|b| b.cert.is_none())
            .flat_map(|b| b.addrs.clone())
            .collect();
        let tls: Vec<String> = p
            .binds
            .iter()
            .filter(|b| b.cert.is_some())
            .flat_map(|b| b.addrs.clone())
            .collect();
        let certs: Vec<(usize, String)> = p
            .binds
            .iter()
            .filter_map(|b| b.cert.clone().map(|c| (b.line, c)))
            .collect();
        binds_used.extend(plain.iter().cloned());
        binds_used.extend(tls.iter().cloned());
        let base = sanitize_name(&p.name);
        // (name, binds, certificate and its line)
        let mut variants: Vec<Variant> = Vec::new();
        if !plain.is_empty() {
            variants.push((base.clone(), plain, None));
        }
        if !tls.is_empty() {
            let name = if variants.is_empty() {
                base.clone()
            } else {
                format!("{base}-tls")
            };
            variants.push((name, tls, certs.first().cloned()));
            for (line, cert) in certs.iter().skip(1) {
                if Some(cert) != certs.first().map(|c| &c.1) {
                    let c = self.report.unsupported(
                        *line,
                        &format!("crt {cert}"),
                        "fairway has one certificate per frontend; the first is used",
                    );
                    self.header.push(c);
                }
            }
        }
        let split = variants.len() > 1;
        for (i, (name, binds, cert)) in variants.into_iter().enumerate() {
            let name = unique(&name, names.iter());
            names.push(name.clone());
            let mut m = Map::default();
            if i == 0 {
                m.comments.push(format!(
                    "from HAProxy {} {} (line {})",
                    kind_name(p.kind),
                    p.name,
                    p.line
                ));
                m.comments.extend(p.comments.iter().cloned());
            } else {
                m.comments.push(format!("the TLS binds of HAProxy {} {} (line {}): fairway has one TLS setting per frontend", kind_name(p.kind), p.name, p.line));
            }
            if split && i == 0 {
                m.comments
                    .push(format!("its TLS binds are in frontend {base}-tls"));
            }
            let mode = p.s.mode.clone().unwrap_or_else(|| {
                let c = self.report.note(
                    p.line,
                    &format!("{} {}", kind_name(p.kind), p.name),
                    "no `mode`: HAProxy's default, tcp",
                );
                m.comments.push(c);
                "tcp".into()
            });
            m.push("bind", Value::List(binds.into_iter().map(s).collect()));
            m.push("mode", s(mode.clone()));
            if let Some((line, cert)) = &cert {
                let c = self.report.note(
                    *line,
                    &format!("crt {cert}"),
                    "HAProxy's crt holds the certificate and the key: both are read from it",
                );
                m.comments.push(c);
                m.push(
                    "tls",
                    Value::Flow(vec![
                        ("cert".into(), s(cert.clone())),
                        ("key".into(), s(cert.clone())),
                    ]),
                );
            }
            if let Some(t) = &p.s.timeout_client {
                m.push("timeout_client", s(t.clone()));
            }
            if let Some(t) = &p.s.timeout_http_request {
                m.push("timeout_http_request", s(t.clone()));
            }
            let http = mode == "http";
            if http {
                let ff = p.s.forwardfor == Some(true) || backend_forwardfor;
                if backend_forwardfor && p.s.forwardfor != Some(true) {
                    let c = self.report.note(p.line, &format!("{} {}", kind_name(p.kind), p.name), "`option forwardfor` of a backend: fairway adds X-Forwarded-For per frontend, for all its backends");
                    m.comments.push(c);
                }
                m.push("forwardfor", Value::Bool(ff));
            }
            self.rules(p, cert.is_some(), http, &mut m, &name, backs);
            fronts.push(&name, Value::Map(m));
        }
    }

    /// ACLs, http_request, tcp_request, use_backend and default_backend.
    fn rules(
        &mut self,
        p: &Proxy,
        tls: bool,
        http: bool,
        m: &mut Map,
        name: &str,
        backs: &mut Map,
    ) {
        let (mut acls, errors) = Acls::build(&p.acls, tls);
        let mut comments: Vec<String> = Vec::new();
        for (line, why) in errors {
            let raw = p
                .acls
                .iter()
                .find(|a| a.0 == line)
                .map(|a| format!("acl {} {}", a.1, join(&a.2)))
                .unwrap_or_default();
            comments.push(self.report.unsupported(line, &raw, &why));
        }
        let mut http_request: Vec<Value> = Vec::new();
        if let Some(r) = &p.monitor_uri {
            let text = format!("return status 200 content-type text/html string \"<html><body><h1>200 OK</h1>\\nService ready.\\n</body></html>\\n\" if {{ path {} }}", join(&r.words));
            match acls.check_http_rule(&text) {
                Ok(()) => http_request.push(s(text)),
                Err(why) => comments.push(self.report.unsupported(r.line, &r.raw, &why)),
            }
        }
        let redirects = p.redirects.iter().map(|r| (r, true));
        for (r, is_redirect) in p.http_request.iter().map(|r| (r, false)).chain(redirects) {
            if !http {
                comments.push(self.report.unsupported(
                    r.line,
                    &r.raw,
                    "HTTP rules in a tcp frontend",
                ));
                continue;
            }
            if r.words.first().is_some_and(|w| w.is("normalize-uri")) {
                let covered = [
                    "path-merge-slashes",
                    "path-strip-dot",
                    "path-strip-dotdot",
                    "percent-decode-unreserved",
                ];
                let c = if r.words.len() == 2 && covered.contains(&r.words[1].text.as_str()) {
                    self.report.note(
                        r.line,
                        &r.raw,
                        "fairway normalizes paths (normalize_path: true)",
                    )
                } else {
                    self.report.unsupported(
                        r.line,
                        &r.raw,
                        "fairway's path normalization is normalize_path",
                    )
                };
                comments.push(c);
                continue;
            }
            if is_redirect && p.has_allow {
                comments.push(self.report.note(r.line, &r.raw, "fairway evaluates it with the http_request rules: an `allow` before it skips it, unlike HAProxy"));
            }
            match self.rule(r, &mut acls, tls) {
                Ok(Some(text)) => http_request.push(s(text)),
                Ok(None) => comments.push(self.report.note(
                    r.line,
                    &r.raw,
                    "left out: its condition is always false in this frontend",
                )),
                Err(why) => comments.push(self.report.unsupported(r.line, &r.raw, &why)),
            }
        }
        let mut tcp_request: Vec<Value> = Vec::new();
        for r in &p.tcp_request {
            match tcp_rule(r, &mut acls, tls, http) {
                Ok(TcpRule::Emit(text)) => tcp_request.push(s(text)),
                Ok(TcpRule::Note(why)) => comments.push(self.report.note(r.line, &r.raw, &why)),
                Ok(TcpRule::Never) => comments.push(self.report.note(
                    r.line,
                    &r.raw,
                    "left out: its condition is always false in this frontend",
                )),
                Err(why) => comments.push(self.report.unsupported(r.line, &r.raw, &why)),
            }
        }
        let mut use_backend: Vec<Value> = Vec::new();
        for r in &p.use_backend {
            let (target, guard_words) = match r.words.split_first() {
                Some((t, rest)) => (t, rest),
                None => continue,
            };
            let Some(backend) = self.backend_names.get(&target.text).cloned() else {
                let why = if target.text.contains('%') {
                    "dynamic backend names are not supported".to_string()
                } else {
                    format!("backend `{}` is not defined", target.text)
                };
                comments.push(self.report.unsupported(r.line, &r.raw, &why));
                continue;
            };
            let result = acls.guard(guard_words, tls).and_then(|g| match g {
                Guard::Never => Ok(None),
                g => {
                    let text = format!("{backend}{}", g.suffix(false));
                    acls.check_use_backend(&format!("{backend}{}", g.suffix(true)))
                        .map(|()| Some(text))
                }
            });
            match result {
                Ok(Some(text)) => use_backend.push(s(text)),
                Ok(None) => comments.push(self.report.note(
                    r.line,
                    &r.raw,
                    "left out: its condition is always false in this frontend",
                )),
                Err(why) => comments.push(self.report.unsupported(r.line, &r.raw, &why)),
            }
        }
        let mut default_backend = None;
        match &p.default_backend {
            Some(r) => match r
                .words
                .first()
                .and_then(|w| self.backend_names.get(&w.text))
            {
                Some(b) => default_backend = Some(b.clone()),
                None => comments.push(self.report.unsupported(
                    r.line,
                    &r.raw,
                    "this backend is not defined",
                )),
            },
            None if p.kind == Kind::Listen => {
                default_backend = self.backend_names.get(&p.name).cloned()
            }
            None => {}
        }
        if default_backend.is_none() {
            // HAProxy answers 503 when no backend is chosen; so does a
            // fairway backend without servers.
            let b = unique(
                &format!("{name}-no-backend"),
                self.backend_names
                    .values()
                    .chain(backs.entries.iter().map(|e| &e.0)),
            );
            let mut bm = Map::default();
            bm.comments.push(format!(
                "requests of frontend {name} that no use_backend rule takes: 503, as in HAProxy"
            ));
            if !http {
                bm.push("mode", s("tcp"));
            }
            bm.push("servers", Value::Map(Map::default()));
            backs.push(&b, Value::Map(bm));
            default_backend = Some(b);
        }
        if !acls.entries.is_empty() {
            let mut am = Map::default();
            for (n, line) in &acls.entries {
                am.push(n, s(line.clone()));
            }
            m.push("acl", Value::Map(am));
        }
        m.comments.extend(comments);
        if !http_request.is_empty() {
            m.push("http_request", Value::List(http_request));
        }
        if !tcp_request.is_empty() {
            m.push("tcp_request", Value::List(tcp_request));
        }
        if !use_backend.is_empty() {
            m.push("use_backend", Value::List(use_backend));
        }
        if let Some(b) = default_backend {
            m.push("default_backend", s(b));
        }
    }

    /// An `http-request` rule or a `redirect` (its words start with
    /// `redirect`); `Ok(None)` when it never applies here.
    fn rule(
        &mut self,
        r: &super::proxy::Rule,
        acls: &mut Acls,
        tls: bool,
    ) -> Result<Option<String>, String> {
        let (action, guard) = split_guard(&r.words);
        let Some(verb) = action.first() else {
            return Err("missing action".into());
        };
        let mut action = action.to_vec();
        let format_arg = match verb.text.as_str() {
            "set-header" | "add-header" => Some(2),
            "set-path" => Some(1),
            "redirect"
                if action
                    .get(1)
                    .is_some_and(|w| w.is("location") || w.is("prefix")) =>
            {
                Some(2)
            }
            _ => None,
        };
        if let Some(i) = format_arg {
            if let Some(w) = action.get(i) {
                action[i] = plain_format(w)?;
            }
        }
        match acls.guard(guard, tls)? {
            Guard::Never => Ok(None),
            g => {
                let text = format!("{}{}", join(&action), g.suffix(false));
                acls.check_http_rule(&format!("{}{}", join(&action), g.suffix(true)))?;
                Ok(Some(text))
            }
        }
    }
}

enum TcpRule {
    Emit(String),
    Note(String),
    Never,
}

/// A `tcp-request` rule.
fn tcp_rule(
    r: &super::proxy::Rule,
    acls: &mut Acls,
    tls: bool,
    http: bool,
) -> Result<TcpRule, String> {
    let w = |i: usize| r.words.get(i).map_or("", |w| w.text.as_str());
    if w(0) == "inspect-delay" {
        return Ok(TcpRule::Note(
            "fairway waits for the TLS ClientHello when a rule needs it".into(),
        ));
    }
    if w(0) == "content"
        && w(1) == "accept"
        && r.words
            .iter()
            .any(|x| x.text == "req_ssl_hello_type" || x.text == "req.ssl_hello_type")
    {
        return Ok(TcpRule::Note(
            "fairway waits for the TLS ClientHello when a rule needs it".into(),
        ));
    }
    if !matches!(w(0), "connection" | "content" | "session") || !matches!(w(1), "accept" | "reject")
    {
        return Err("fairway's tcp_request rules are `accept` and `reject`".into());
    }
    if http {
        return Err("tcp-request rules in an http frontend: use an http-request deny rule".into());
    }
    let guard = acls.guard(r.words.get(2..).unwrap_or_default(), tls)?;
    if guard == Guard::Never {
        return Ok(TcpRule::Never);
    }
    acls.check_tcp_rule(&format!("{}{}", w(1), guard.suffix(true)))?;
    Ok(TcpRule::Emit(format!("{}{}", w(1), guard.suffix(false))))
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Frontend => "frontend",
        Kind::Backend => "backend",
        Kind::Listen => "listen",
        Kind::Defaults => "defaults",
        Kind::Global => "global",
        _ => "section",
    }
}
