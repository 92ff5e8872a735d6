//! One fairway backend from an HAProxy `backend` or `listen`: balance,
//! timeouts, retries, cookie, health check and servers.

use super::dns::{self, Resolvers};
use super::emit::{s, Map, Value};
use super::frontend::{http_rule, record};
use super::proxy::{Proxy, Rule};
use super::rules::{Acls, Scope};
use super::server::{fmt_duration, is_srv, sanitize_name, ServerOpts};
use super::settings::{HttpChk, DEFAULT_INTER};
use super::Report;
use super::{outlier, retry};
use std::collections::HashMap;

/// Converts backends: what it needs of the [`Converter`](super::build::Converter).
pub(super) struct BackendConverter<'a> {
    pub report: &'a mut Report,
    /// `ssl-server-verify none` in `global`.
    pub no_verify: bool,
    /// The backend's ACLs moved to its frontends with its request rules
    /// (which then report those that cannot be converted).
    pub acls_moved: bool,
    /// The `resolvers` sections by name.
    pub resolvers: &'a HashMap<String, Resolvers>,
}

impl BackendConverter<'_> {
    /// The backend's mapping.
    pub(super) fn backend(&mut self, p: &Proxy, mode: &str) -> Map {
        let mut m = Map::default();
        m.comments.push(format!(
            "from HAProxy {} {} (line {})",
            if p.kind == super::parse::Kind::Listen {
                "listen"
            } else {
                "backend"
            },
            p.name,
            p.line
        ));
        if p.kind == super::parse::Kind::Backend || p.binds.is_empty() {
            m.comments.extend(p.comments.iter().cloned());
        }
        let st = &p.s;
        m.push("mode", s(mode));
        if let Some(b) = &st.balance {
            m.push("balance", s(b.clone()));
        }
        if let Some(t) = &st.timeout_connect {
            m.push("timeout_connect", s(t.clone()));
        }
        if let Some(t) = &st.timeout_server {
            m.push("timeout_server", s(t.clone()));
        }
        if let Some(t) = &st.timeout_tunnel {
            m.push("timeout_tunnel", s(t.clone()));
        }
        if let Some(t) = &st.timeout_queue {
            m.push("timeout_queue", s(t.clone()));
        }
        // HAProxy's defaults differ from fairway's: 3 retries, no redispatch.
        m.push("retries", Value::Int(st.retries.unwrap_or(3)));
        m.push("redispatch", Value::Bool(st.redispatch.unwrap_or(false)));
        let retry_on = retry::emit(
            st.retry_on.as_ref(),
            mode,
            &p.name,
            self.report,
            &mut m.comments,
        );
        if let Some(r) = retry_on {
            m.push("retry_on", r);
        }
        // HAProxy ignores `http-reuse` in a tcp backend.
        if let Some(reuse) = st.http_reuse.filter(|_| mode == "http") {
            m.push("http_reuse", s(reuse));
        }
        if let Some(c) = &st.cookie {
            if mode == "http" {
                let mut f = vec![
                    ("name".to_string(), s(c.name.clone())),
                    ("mode".into(), s("insert")),
                ];
                if c.indirect {
                    f.push(("indirect".into(), Value::Bool(true)));
                }
                if c.nocache {
                    f.push(("nocache".into(), Value::Bool(true)));
                }
                m.push("cookie", Value::Flow(f));
            }
        }
        // A listen with binds runs its response rules in its frontend.
        if p.kind == super::parse::Kind::Backend || p.binds.is_empty() {
            let rules = self.response_rules(p, mode, &mut m.comments);
            if !rules.is_empty() {
                m.push("http_response", Value::List(rules));
            }
        }

        // Servers, with `default-server` underneath.
        let mut servers = Map::default();
        let mut checked: Vec<(usize, String, ServerOpts)> = Vec::new();
        let mut unchecked: Vec<String> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        // (line, name, address, options) of each server written.
        let mut written: Vec<(usize, String, String, ServerOpts)> = Vec::new();
        let mut backups = 0;
        for srv in &p.servers {
            let opts = st.default_server.overlay(&srv.opts);
            for (text, why, unsupported) in &srv.found {
                let part = format!("server {} {text}", srv.name);
                let c = if *unsupported {
                    self.report.unsupported(srv.line, &part, why)
                } else {
                    self.report.note(srv.line, &part, why)
                };
                servers.comments.push(c);
            }
            let addr = match &srv.addr {
                Ok(a) => a.clone(),
                Err(why) => {
                    let c = self.report.unsupported(srv.line, &srv.raw, why);
                    servers.comments.push(c);
                    continue;
                }
            };
            if is_srv(&addr) && opts.resolvers.is_none() {
                let why = "a DNS SRV label needs `resolvers` (HAProxy refuses it too)";
                let c = self.report.unsupported(srv.line, &srv.raw, why);
                servers.comments.push(c);
                continue;
            }
            let name = sanitize_name(&srv.name);
            if names.contains(&name) {
                let c = self.report.unsupported(
                    srv.line,
                    &srv.raw,
                    "a server of this name already exists",
                );
                servers.comments.push(c);
                continue;
            }
            if name != srv.name {
                let c = self.report.note(
                    srv.line,
                    &format!("server {}", srv.name),
                    &format!("renamed {name}: fairway names are [A-Za-z0-9_.-]+"),
                );
                servers.comments.push(c);
            }
            names.push(name.clone());
            let mut f: Vec<(String, Value)> = vec![("addr".into(), s(addr.clone()))];
            if let Some(w) = opts.weight.filter(|w| *w != 1) {
                f.push(("weight".into(), Value::Int(w)));
            }
            if opts.backup == Some(true) {
                backups += 1;
                f.push(("backup".into(), Value::Bool(true)));
            }
            if let Some(n) = opts.maxconn {
                f.push(("maxconn".into(), Value::Int(n)));
            }
            if let Some(c) = &opts.cookie {
                f.push(("cookie".into(), s(c.clone())));
            } else if st.cookie.is_some() && mode == "http" {
                let c = self.report.note(
                    srv.line,
                    &format!("server {}", srv.name),
                    "no `cookie` value: fairway's stickiness cookie for it is the server's name",
                );
                servers.comments.push(c);
            }
            let tls = opts.ssl == Some(true);
            if let Some(v) = opts.send_proxy {
                f.push(("send_proxy".into(), s(if v == 1 { "v1" } else { "v2" })));
            }
            if opts.h2 == Some(true) {
                // HTTP/2 over TLS (ALPN h2) with `ssl`, else cleartext.
                f.push(("proto".into(), s(if tls { "h2" } else { "h2c" })));
            }
            if tls {
                f.push(("tls".into(), Value::Bool(true)));
                if let Some(sni) = &opts.sni {
                    f.push(("sni".into(), s(sni.clone())));
                }
                if opts.verify == Some(false) || (opts.verify.is_none() && self.no_verify) {
                    f.push(("verify".into(), Value::Bool(false)));
                }
                if let Some(ca) = &opts.ca {
                    f.push(("ca".into(), s(ca.clone())));
                }
            } else if opts.sni.is_some() || opts.ca.is_some() || opts.verify.is_some() {
                let c = self.report.note(
                    srv.line,
                    &format!("server {}", srv.name),
                    "TLS options without `ssl`: ignored, as in HAProxy",
                );
                servers.comments.push(c);
            }
            if opts.check_ssl == Some(true) && !tls {
                let c = self.report.unsupported(
                    srv.line,
                    &format!("server {} check-ssl", srv.name),
                    "fairway checks over TLS only servers that have `ssl`",
                );
                servers.comments.push(c);
            }
            if opts.check == Some(true) {
                checked.push((srv.line, name.clone(), opts.clone()));
            } else {
                unchecked.push(name.clone());
            }
            written.push((srv.line, name.clone(), addr, opts.clone()));
            servers.push(&name, Value::Flow(f));
        }
        if backups > 1 && !st.allbackups {
            let c = self.report.note(p.line, &format!("backend {}", p.name), "fairway balances over all backup servers (as `option allbackups`); HAProxy uses the first only");
            m.comments.push(c);
        }

        // Health check: per backend in fairway, per server in HAProxy.
        if let Some((line, first, o)) = checked.first().cloned() {
            let mut hc: Vec<(String, Value)> = Vec::new();
            let http = st.httpchk.is_some() && st.check_problem.is_none() && mode == "http";
            if http {
                let chk = st.httpchk.clone().unwrap_or(HttpChk {
                    method: "OPTIONS".into(),
                    path: "/".into(),
                    host: None,
                });
                hc.push(("type".into(), s("http")));
                hc.push(("method".into(), s(chk.method)));
                hc.push(("path".into(), s(chk.path)));
                if let Some(h) = chk.host {
                    hc.push(("host".into(), s(h)));
                }
                if let Some(e) = &st.expect_status {
                    hc.push(("expect_status".into(), s(e.clone())));
                }
            } else {
                hc.push(("type".into(), s("tcp")));
            }
            let inter = o.inter.unwrap_or(DEFAULT_INTER);
            hc.push(("interval".into(), s(fmt_duration(inter))));
            hc.push((
                "timeout".into(),
                s(st.timeout_check
                    .clone()
                    .unwrap_or_else(|| fmt_duration(inter))),
            ));
            hc.push(("rise".into(), Value::Int(o.rise.unwrap_or(2))));
            hc.push(("fall".into(), Value::Int(o.fall.unwrap_or(3))));
            for (l, n, other) in checked.iter().skip(1) {
                if (other.inter, other.rise, other.fall) != (o.inter, o.rise, o.fall) {
                    let c = self.report.unsupported(*l, &format!("server {n} inter/rise/fall"), &format!("fairway checks every server of a backend alike; those of {first} (line {line}) are used"));
                    m.comments.push(c);
                }
            }
            if !unchecked.is_empty() {
                let c = self.report.unsupported(
                    p.line,
                    &format!("servers without `check`: {}", unchecked.join(", ")),
                    "fairway checks every server of a backend that has a health_check",
                );
                m.comments.push(c);
            }
            if let Some(why) = &st.check_problem {
                m.comments.push(format!("health check: {why}"));
            }
            m.push("health_check", Value::Flow(hc));
        } else if st.httpchk.is_some() && p.kind != super::parse::Kind::Listen {
            m.comments.push(
                "`option httpchk` without `check` on any server: no health check, as in HAProxy"
                    .into(),
            );
        }
        if st.check_problem.is_some()
            && p.servers.iter().all(|s| s.opts.weight == Some(0))
            && !p.servers.is_empty()
        {
            m.comments.push("hint: every server starts with weight 0 for a script to set weights; `balance: latency` (SPEC §4) does this in fairway".into());
        }
        let observed: Vec<outlier::Server> = written
            .iter()
            .map(|(line, name, _, opts)| outlier::Server {
                line: *line,
                name,
                opts,
            })
            .collect();
        if let Some(o) = outlier::emit(&observed, mode, self.report, &mut m.comments) {
            m.push("outlier", o);
        }
        let resolved: Vec<dns::Server> = written
            .iter()
            .map(|(line, name, addr, opts)| dns::Server {
                line: *line,
                name,
                addr,
                opts,
            })
            .collect();
        if let Some(d) = dns::emit(&resolved, self.resolvers, self.report, &mut m.comments) {
            m.push("dns", d);
        }
        m.push("servers", Value::Map(servers));
        m
    }

    /// `http-response` rules: those of `defaults` first, then the
    /// backend's own, with its ACLs written out (a fairway backend has no
    /// named ACLs).
    fn response_rules(&mut self, p: &Proxy, mode: &str, comments: &mut Vec<String>) -> Vec<Value> {
        let mut out = Vec::new();
        let inherited = p.s.http_response.iter().map(|r| (r, true));
        let all: Vec<(&Rule, bool)> = inherited
            .chain(p.http_response.iter().map(|r| (r, false)))
            .collect();
        if all.is_empty() {
            return out;
        }
        let scope = Scope {
            response: true,
            backend: true,
            ..Scope::default()
        };
        let (mut own, errors) = Acls::build(&p.acls, scope.clone());
        own.inline_except(Vec::new());
        // A defaults section has no ACLs but the predefined ones.
        let (mut none, _) = Acls::build(&[], scope);
        none.inline_except(Vec::new());
        if !self.acls_moved {
            for (line, why) in errors {
                let Some((_, name, words)) = p.acls.iter().find(|a| a.0 == line) else {
                    continue;
                };
                if p.http_response.iter().any(|r| r.mentions(name)) {
                    let raw = format!("acl {name} {}", super::text::join(words));
                    comments.push(self.report.unsupported(line, &raw, &why));
                }
            }
        }
        for (r, from_defaults) in all {
            if mode != "http" {
                let c = if from_defaults {
                    let why = format!(
                        "ignored in tcp backend {}: HTTP rules, which HAProxy ignores there too",
                        p.name
                    );
                    self.report.note(r.line, &r.raw, &why)
                } else {
                    self.report
                        .unsupported(r.line, &r.raw, "HTTP rules in a tcp backend")
                };
                comments.push(c);
                continue;
            }
            let acls = if from_defaults { &mut none } else { &mut own };
            let result = http_rule(r, acls, true);
            record(
                self.report,
                r,
                result,
                "in this backend",
                &mut out,
                comments,
            );
        }
        out
    }
}
