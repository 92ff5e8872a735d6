//! One fairway frontend from an HAProxy `frontend` or `listen` (two when
//! it has plain and TLS binds): binds, TLS, timeouts, ACLs and rules.

use super::emit::{s, Map, Value};
use super::format;
use super::parse::{Kind, Word};
use super::proxy::{Bind, Proxy, Rule};
use super::rules::{Acls, Guard, Scope};
use super::server::sanitize_name;
use super::text::{join, plain_format, split_guard, unique};
use super::Report;
use std::collections::HashMap;

/// The frontends written so far, with what they need to stay distinct.
#[derive(Default)]
pub(super) struct Frontends {
    /// `frontends`.
    pub fronts: Map,
    /// Their names.
    pub names: Vec<String>,
    /// Backends made up for frontends without `default_backend`.
    pub extra: Map,
    /// Every address bound.
    pub binds_used: Vec<String>,
}

/// A fairway frontend made from an HAProxy one: name, binds, TLS
/// certificates with their lines.
type Variant = (String, Vec<String>, Vec<(usize, String)>);

/// Converts frontends: what it needs of the [`Converter`](super::build::Converter).
pub(super) struct FrontendConverter<'a> {
    pub report: &'a mut Report,
    /// HAProxy backend name → fairway backend name.
    pub backend_names: &'a HashMap<String, String>,
}

impl FrontendConverter<'_> {
    /// One frontend (two when it has plain and TLS binds).
    pub(super) fn frontend(
        &mut self,
        p: &Proxy,
        backend: Option<&Proxy>,
        backend_forwardfor: bool,
        out: &mut Frontends,
    ) {
        let Frontends {
            fronts,
            names,
            extra: backs,
            binds_used,
        } = out;
        let plain: Vec<String> = p
            .binds
            .iter()
            .filter(|b| b.certs.is_empty())
            .flat_map(|b| b.addrs.clone())
            .collect();
        let tls: Vec<String> = p
            .binds
            .iter()
            .filter(|b| !b.certs.is_empty())
            .flat_map(|b| b.addrs.clone())
            .collect();
        let certs: Vec<(usize, String)> = p
            .binds
            .iter()
            .flat_map(|b| b.certs.iter().map(|c| (b.line, c.clone())))
            .collect();
        binds_used.extend(plain.iter().cloned());
        binds_used.extend(tls.iter().cloned());
        let base = sanitize_name(&p.name);
        // (name, binds, certificate and its line)
        let mut variants: Vec<Variant> = Vec::new();
        if !plain.is_empty() {
            variants.push((base.clone(), plain, Vec::new()));
        }
        if !tls.is_empty() {
            let name = if variants.is_empty() {
                base.clone()
            } else {
                format!("{base}-tls")
            };
            let mut distinct: Vec<(usize, String)> = Vec::new();
            for c in certs {
                if !distinct.iter().any(|d| d.1 == c.1) {
                    distinct.push(c);
                }
            }
            variants.push((name, tls, distinct));
        }
        let split = variants.len() > 1;
        for (i, (name, binds, certs)) in variants.into_iter().enumerate() {
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
            if mode == "http" && i == 0 {
                // fairway's path defaults stay (SPEC §9); the user is told
                // once, on the first HTTP frontend.
                let c = self.report.note_once(
                    p.line,
                    &format!("{} {}", kind_name(p.kind), p.name),
                    "fairway refuses `%2F` and `%5C` in paths with 400 (encoded_slashes: reject) \
                     and matches rules on paths without `;parameters` (path_params: match; \
                     the server still gets them), where HAProxy forwards and matches both as \
                     received (`encoded_slashes: keep` and `path_params: keep` for its way)",
                );
                m.comments.extend(c);
            }
            if certs.is_empty() {
                // fairway's `accept_proxy` covers every bind of a frontend.
                let plain = p.binds.iter().filter(|b| b.certs.is_empty());
                let with: Vec<&Bind> = plain.clone().filter(|b| b.accept_proxy).collect();
                if !with.is_empty() && with.len() == plain.count() {
                    m.push("accept_proxy", Value::Bool(true));
                } else if let Some(b) = with.first() {
                    let c = self.report.unsupported(
                        b.line,
                        "bind option accept-proxy",
                        "on some binds of the frontend only: fairway's `accept_proxy` covers \
                         all of a frontend's binds (put those binds in a frontend of their own)",
                    );
                    m.comments.push(c);
                }
                // HAProxy's `proto h2` takes HTTP/2 only; fairway's `h2c`
                // takes HTTP/1.x too, on all of the frontend's binds.
                let h2c = p.binds.iter().find(|b| b.certs.is_empty() && b.h2c);
                if let Some(b) = h2c.filter(|_| mode == "http") {
                    m.push("h2c", Value::Bool(true));
                    let c = self.report.note(
                        b.line,
                        "bind option proto h2",
                        "`h2c: true`: cleartext HTTP/2 beside HTTP/1.x on every bind of the frontend",
                    );
                    m.comments.push(c);
                }
            }
            if !certs.is_empty() {
                // HAProxy's crt is one PEM with the certificate and its key,
                // which fairway reads from the same file; with several, the
                // first is the default and the others are chosen by the
                // names in them (SNI), as HAProxy does.
                let pair =
                    |cert: &str| vec![("cert".to_string(), s(cert)), ("key".to_string(), s(cert))];
                let mut tls = pair(&certs[0].1);
                let others: Vec<Value> =
                    certs[1..].iter().map(|c| Value::Flow(pair(&c.1))).collect();
                if !others.is_empty() {
                    tls.push(("certs".to_string(), Value::List(others)));
                }
                for (line, cert) in &certs {
                    let c = self.report.note(
                        *line,
                        &format!("crt {cert}"),
                        "HAProxy's crt holds the certificate and the key: both are read from it",
                    );
                    m.comments.push(c);
                }
                m.push("tls", Value::Flow(tls));
            }
            if let Some(t) = &p.s.timeout_client {
                m.push("timeout_client", s(t.clone()));
            }
            let http = mode == "http";
            if let Some(t) = p.s.timeout_http_request.as_ref().filter(|_| http) {
                m.push("timeout_http_request", s(t.clone()));
            }
            if http {
                let ff = p.s.forwardfor == Some(true) || backend_forwardfor;
                if backend_forwardfor && p.s.forwardfor != Some(true) {
                    let c = self.report.note(p.line, &format!("{} {}", kind_name(p.kind), p.name), "`option forwardfor` of a backend: fairway adds X-Forwarded-For per frontend, for all its backends");
                    m.comments.push(c);
                }
                m.push("forwardfor", Value::Bool(ff));
                self.compression(p, &mut m);
            }
            self.rules(p, backend, !certs.is_empty(), http, &mut m, &name, backs);
            fronts.push(&name, Value::Map(m));
        }
    }

    /// `compression`, when `compression algo` named a coding fairway has.
    fn compression(&mut self, p: &Proxy, m: &mut Map) {
        let Some(c) = p.s.compression.as_ref().filter(|c| !c.algos.is_empty()) else {
            return;
        };
        let mut fields = vec![(
            "algos".to_string(),
            Value::List(c.algos.iter().map(s).collect()),
        )];
        if c.types.is_empty() {
            let c = self.report.note(
                p.line,
                &format!("{} {}", kind_name(p.kind), p.name),
                "no `compression type`: HAProxy compresses every type, fairway its default \
                 list (text, JSON, JavaScript, XML, SVG)",
            );
            m.comments.push(c);
        } else {
            fields.push((
                "types".to_string(),
                Value::List(c.types.iter().map(s).collect()),
            ));
        }
        m.push("compression", Value::Flow(fields));
    }

    /// ACLs, http_request, tcp_request, use_backend and default_backend.
    #[allow(clippy::too_many_arguments)]
    fn rules(
        &mut self,
        p: &Proxy,
        backend: Option<&Proxy>,
        tls: bool,
        http: bool,
        m: &mut Map,
        name: &str,
        backs: &mut Map,
    ) {
        let mut comments: Vec<String> = Vec::new();
        // A backend's rules run after the frontend's (see backend_rules).
        let mut acl_lines = p.acls.clone();
        acl_lines.extend(backend.map(|b| b.acls.clone()).unwrap_or_default());
        // `stick-table ... store http_req_rate(P)` with `http-request
        // track-scN src`: the request rate of the client, which fairway
        // has as src_http_req_rate(P).
        let track = p.http_request.iter().find_map(|r| {
            let n = r.words.first()?.text.strip_prefix("track-sc")?;
            (r.words.len() == 2 && r.words[1].is("src")).then(|| (r.line, n.to_string()))
        });
        let rate = match (&p.rate_table, &track) {
            (Some((_, _, period)), Some((_, n))) if http => Some((n.clone(), period.clone())),
            _ => None,
        };
        if let Some((line, raw, period)) = &p.rate_table {
            comments.push(match &rate {
                Some(_) => self.report.note(*line, raw, &format!("the client's request rate is fairway's src_http_req_rate({period})")),
                None => self.report.unsupported(*line, raw, "fairway has no stick tables; a request rate needs `http-request track-scN src` too"),
            });
        }
        let scope = Scope {
            tls,
            tcp: !http,
            rate: rate.clone(),
            ..Scope::default()
        };
        let (mut acls, errors) = Acls::build(&acl_lines, scope);
        for (line, why) in errors {
            let raw = acl_lines
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
        let own = p.http_request.iter().map(|r| (r, false, false));
        let redirects = p.redirects.iter().map(|r| (r, true, false));
        let moved: Vec<(&Rule, bool, bool)> = backend
            .map(|b| {
                let rules = b.http_request.iter().map(|r| (r, false, true));
                rules
                    .chain(b.redirects.iter().map(|r| (r, true, true)))
                    .collect()
            })
            .unwrap_or_default();
        for (r, is_redirect, from_backend) in own.chain(redirects).chain(moved) {
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
            if let Some(n) = r
                .words
                .first()
                .and_then(|w| w.text.strip_prefix("track-sc"))
            {
                let c = match (&rate, &track) {
                    (Some((m, period)), Some((line, _))) if m == n && *line == r.line => {
                        self.report.note(
                            r.line,
                            &r.raw,
                            &format!("fairway counts every request in src_http_req_rate({period})"),
                        )
                    }
                    _ => self
                        .report
                        .unsupported(r.line, &r.raw, "fairway has no stick tables"),
                };
                comments.push(c);
                continue;
            }
            if from_backend && p.has_allow {
                comments.push(self.report.note(r.line, &r.raw, "a backend rule: in fairway an `allow` of the frontend skips it, unlike HAProxy"));
            } else if is_redirect && p.has_allow {
                comments.push(self.report.note(r.line, &r.raw, "fairway evaluates it with the http_request rules: an `allow` before it skips it, unlike HAProxy"));
            }
            let result = http_rule(r, &mut acls, false);
            record(
                self.report,
                r,
                result,
                "in this frontend",
                &mut http_request,
                &mut comments,
            );
        }
        let mut tcp_request: Vec<Value> = Vec::new();
        let mut inspect_delay = None;
        for r in &p.tcp_request {
            match tcp_rule(r, &mut acls, http) {
                Ok(TcpRule::Emit(text)) => tcp_request.push(s(text)),
                Ok(TcpRule::InspectDelay(t)) => inspect_delay = Some(t),
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
            let result = acls.guard(guard_words).and_then(|g| match g {
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
        // `http-response` rules: those of `defaults` first, as HAProxy.
        let mut http_response: Vec<Value> = Vec::new();
        let inherited = p.s.http_response.iter().map(|r| (r, true));
        let all: Vec<(&Rule, bool)> = inherited
            .chain(p.http_response.iter().map(|r| (r, false)))
            .collect();
        if !all.is_empty() {
            // The frontend's own ACLs (not a moved backend's), read as
            // HAProxy reads them in response rules; names the frontend
            // defines alike are kept, the others written out.
            let scope = Scope {
                response: true,
                ..acls.scope().clone()
            };
            let (mut own, _) = Acls::build(&p.acls, scope.clone());
            own.inline_except(acls.entries.clone());
            // A defaults section has no ACLs but the predefined ones.
            let (mut none, _) = Acls::build(&[], scope);
            none.inline_except(acls.entries.clone());
            for (r, from_defaults) in all {
                if !http {
                    let c = if from_defaults {
                        let why = format!(
                            "ignored in tcp frontend {name}: HTTP rules, which HAProxy ignores \
                             there too"
                        );
                        self.report.note(r.line, &r.raw, &why)
                    } else {
                        self.report
                            .unsupported(r.line, &r.raw, "HTTP rules in a tcp frontend")
                    };
                    comments.push(c);
                    continue;
                }
                let a = if from_defaults { &mut none } else { &mut own };
                let result = http_rule(r, a, true);
                record(
                    self.report,
                    r,
                    result,
                    "in this frontend",
                    &mut http_response,
                    &mut comments,
                );
            }
        }
        let mut unique_id_header = None;
        if let Some((line, header)) = &p.s.unique_id_header {
            let directive = format!("unique-id-header {header}");
            if !http {
                let why = "ignored: a tcp frontend has no HTTP headers (HAProxy ignores it too)";
                comments.push(self.report.note(*line, &directive, why));
            } else {
                if !p.s.unique_id_format {
                    let why = "HAProxy sends this header only with a unique-id-format; fairway \
                               always does";
                    comments.push(self.report.note(*line, &directive, why));
                }
                unique_id_header = Some(header.clone());
            }
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
        if !http_response.is_empty() {
            m.push("http_response", Value::List(http_response));
        }
        if let Some(h) = unique_id_header {
            m.push("unique_id_header", s(h));
        }
        if let Some(t) = inspect_delay {
            m.push("inspect_delay", s(t));
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
}

/// The `http-response` actions fairway has.
const RESPONSE_ACTIONS: &[&str] = &[
    "set-header",
    "add-header",
    "del-header",
    "replace-header",
    "set-status",
    "deny",
    "return",
    "allow",
];

/// A rule converted: its text (`None`: it never applies here) and remarks
/// on what its condition folded.
pub(super) struct Converted {
    pub text: Option<String>,
    pub remarks: Vec<String>,
}

/// An `http-request` rule or a `redirect` (its words start with
/// `redirect`), or with `response` an `http-response` rule.
pub(super) fn http_rule(r: &Rule, acls: &mut Acls, response: bool) -> Result<Converted, String> {
    let (action, guard) = split_guard(&r.words);
    let Some(verb) = action.first() else {
        return Err("missing action".into());
    };
    if response && (verb.quoted || !RESPONSE_ACTIONS.contains(&verb.text.as_str())) {
        return Err(format!(
            "fairway's http_response has no `{}` action (it has {})",
            verb.text,
            RESPONSE_ACTIONS.join(", ")
        ));
    }
    let scope = acls.scope().clone();
    let value = |w: &Word| format::value(w, &scope, response);
    let mut action = action.to_vec();
    let second = |w: &str| action.get(1).is_some_and(|x| x.is(w));
    match verb.text.as_str() {
        "set-header" | "add-header" => convert_at(&mut action, 2, value)?,
        "set-path" => convert_at(&mut action, 1, plain_format)?,
        "replace-header" => convert_at(&mut action, 3, plain_format)?,
        "replace-path" | "replace-uri" => convert_at(&mut action, 2, plain_format)?,
        "redirect" if second("location") => convert_at(&mut action, 2, value)?,
        "redirect" if second("prefix") => convert_at(&mut action, 2, plain_format)?,
        "return" => {
            // `string` is literal text in HAProxy, `lf-string` log-format:
            // both are fairway's `string`.
            let mut i = 1;
            while let Some(key) = action.get(i) {
                if key.is("lf-string") {
                    action[i] = Word {
                        text: "string".into(),
                        fw: "string".into(),
                        quoted: false,
                        env: false,
                    };
                    convert_at(&mut action, i + 1, value)?;
                } else if key.is("string") {
                    convert_at(&mut action, i + 1, |w| Ok(format::literal(w)))?;
                } else if !(key.is("status") || key.is("content-type")) {
                    i += 1;
                    continue;
                }
                i += 2;
            }
        }
        _ => {}
    }
    let g = acls.guard(guard)?;
    let remarks = std::mem::take(&mut acls.remarks);
    let text = match g {
        Guard::Never => None,
        g => {
            let check = format!("{}{}", join(&action), g.suffix(true));
            if response {
                acls.check_response_rule(&check)?;
            } else {
                acls.check_http_rule(&check)?;
            }
            Some(format!("{}{}", join(&action), g.suffix(false)))
        }
    };
    Ok(Converted { text, remarks })
}

/// Replaces word `i` (if any) by `f` of it.
fn convert_at(
    words: &mut [Word],
    i: usize,
    f: impl Fn(&Word) -> Result<Word, String>,
) -> Result<(), String> {
    if let Some(w) = words.get(i) {
        words[i] = f(w)?;
    }
    Ok(())
}

/// Records a converted rule: its text in `out`, or why it is left out
/// (`never`: where its condition is always false) in `comments`.
pub(super) fn record(
    report: &mut Report,
    r: &Rule,
    result: Result<Converted, String>,
    never: &str,
    out: &mut Vec<Value>,
    comments: &mut Vec<String>,
) {
    match result {
        Ok(Converted {
            text: Some(text),
            remarks,
        }) => {
            if !remarks.is_empty() {
                comments.push(report.note(r.line, &r.raw, &remarks.join("; ")));
            }
            out.push(s(text));
        }
        Ok(Converted {
            text: None,
            remarks,
        }) => {
            let mut why = format!("left out: its condition is always false {never}");
            for remark in remarks {
                why.push_str("; ");
                why.push_str(&remark);
            }
            comments.push(report.note(r.line, &r.raw, &why));
        }
        Err(why) => comments.push(report.unsupported(r.line, &r.raw, &why)),
    }
}

enum TcpRule {
    Emit(String),
    InspectDelay(String),
    Note(String),
    Never,
}

/// A `tcp-request` rule.
fn tcp_rule(r: &Rule, acls: &mut Acls, http: bool) -> Result<TcpRule, String> {
    let w = |i: usize| r.words.get(i).map_or("", |w| w.text.as_str());
    if w(0) == "inspect-delay" {
        if http {
            return Err("fairway inspects the content of tcp frontends only".into());
        }
        return super::server::timeout(w(1)).map(TcpRule::InspectDelay);
    }
    if w(0) == "content"
        && w(1) == "accept"
        && r.words
            .iter()
            .any(|x| x.text == "req_ssl_hello_type" || x.text == "req.ssl_hello_type")
    {
        return Ok(TcpRule::Note(
            "fairway waits for the TLS ClientHello (up to inspect_delay) when a rule needs it"
                .into(),
        ));
    }
    if !matches!(w(0), "connection" | "content" | "session") || !matches!(w(1), "accept" | "reject")
    {
        return Err("fairway's tcp_request rules are `accept` and `reject`".into());
    }
    if http {
        return Err("tcp-request rules in an http frontend: use an http-request deny rule".into());
    }
    let guard = acls.guard(r.words.get(2..).unwrap_or_default())?;
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
