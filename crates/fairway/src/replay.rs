//! What-if replay: decide logged requests under another configuration,
//! without sending any traffic, and say what would change.
//!
//! [`parse_line`] reads an access-log line in any of fairway's formats
//! (`fairway` key=value, `json`) or HAProxy's `httplog`; [`Replayer`] runs
//! the request through the new runtime's own decision function
//! ([`Frontend::decide`](crate::Frontend::decide): `http_request` rules,
//! then `use_backend`), and [`Report`] counts the outcomes that moved.
//!
//! A log line holds the method, the request target, the client address and
//! (in `json`) the Host header; rules that read other headers, or request
//! rates, see no sample for them. fairway logs the target as it was sent on
//! (after `set-path`/`replace-path`), HAProxy as it was received.

use crate::runtime::{Decision, Frontend, Runtime};
use fairway_acl::{HttpAction, Request};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Where a request went.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// Routed to this backend.
    Backend(String),
    /// Answered by a rule (`deny`, `return`, `redirect`) with this status.
    Answered(u16),
    /// No backend: no `use_backend` line held and there is no
    /// `default_backend` (a 503).
    NoBackend,
    /// The frontend is not in the configuration.
    NoFrontend,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Backend(b) => write!(f, "backend {b}"),
            Outcome::Answered(s) => write!(f, "answered {s}"),
            Outcome::NoBackend => f.write_str("no backend (503)"),
            Outcome::NoFrontend => f.write_str("no such frontend"),
        }
    }
}

/// One request read from a log line, and what happened to it then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// The frontend that took it.
    pub frontend: String,
    /// Method.
    pub method: String,
    /// Request target (`/path?query`).
    pub uri: String,
    /// Host header, when the log has it.
    pub host: Option<String>,
    /// Client address.
    pub client: Option<IpAddr>,
    /// The logged outcome.
    pub outcome: Outcome,
}

/// Reads one access-log line: fairway's `key=value` or `json` line (with
/// or without the logger's `[time LEVEL target]` prefix) or an HAProxy
/// `httplog` line. `None` for anything else (startup lines, `mode: tcp`
/// lines).
pub fn parse_line(line: &str) -> Option<Logged> {
    if let Some(start) = line.find("{\"") {
        return parse_json(&line[start..]);
    }
    // An HAProxy line whose URL holds `client=` is not a fairway line.
    match line.find("client=") {
        Some(start) => parse_fairway(&line[start..]).or_else(|| parse_httplog(line)),
        None => parse_httplog(line),
    }
}

fn parse_json(text: &str) -> Option<Logged> {
    let v: serde_json::Value = serde_json::from_str(text.trim_end()).ok()?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str());
    let status = u16::try_from(v.get("status")?.as_u64()?).ok()?;
    let backend = s("backend")?;
    let termination = s("termination").unwrap_or("--");
    Some(Logged {
        frontend: s("frontend")?.to_string(),
        method: s("method")?.to_string(),
        uri: s("uri")?.to_string(),
        host: s("host").filter(|h| !h.is_empty()).map(str::to_string),
        client: s("client").and_then(|c| c.parse().ok()),
        outcome: logged_outcome(backend, status, termination),
    })
}

fn parse_fairway(text: &str) -> Option<Logged> {
    let mut fields: BTreeMap<&str, Cow<'_, str>> = BTreeMap::new();
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim_start();
        let after = &rest[eq + 1..];
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let (value, used) = unquote(quoted)?;
            (Cow::Owned(value), &quoted[used..])
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            (Cow::Borrowed(&after[..end]), &after[end..])
        };
        fields.insert(key, value);
        rest = tail;
    }
    let status = fields.get("status")?.parse().ok()?;
    let client = fields.get("client").and_then(|c| {
        c.parse::<std::net::SocketAddr>()
            .map(|a| a.ip())
            .or_else(|_| c.parse::<IpAddr>())
            .ok()
    });
    let termination = fields.get("termination").map_or("--", |t| t.as_ref());
    Some(Logged {
        frontend: fields.get("frontend")?.to_string(),
        method: fields.get("method")?.to_string(),
        uri: fields.get("uri")?.to_string(),
        host: None,
        client,
        outcome: logged_outcome(fields.get("backend")?, status, termination),
    })
}

/// The value of a `"..."` log field (`\"`, `\\`, `\xNN` unescaped) and
/// the bytes it used, the closing quote included.
fn unquote(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Some((out, at + 1)),
            '\\' => match chars.next()?.1 {
                'x' => {
                    let hex: String = [chars.next()?.1, chars.next()?.1].iter().collect();
                    out.push(char::from(u8::from_str_radix(&hex, 16).ok()?));
                }
                c => out.push(c),
            },
            c => out.push(c),
        }
    }
    None
}

/// `... 127.0.0.1:5000 [03/Dec/2026:10:00:00.000] web app/a 0/0/0/1/1 200
/// 123 - - ---- 1/1/0/0/0 0/0 "GET /x HTTP/1.1"`.
fn parse_httplog(line: &str) -> Option<Logged> {
    let open = line.find(" [")?;
    let client = line[..open].rsplit(' ').next()?;
    let client = client.parse::<std::net::SocketAddr>().map(|a| a.ip()).ok();
    let after = &line[line[open..].find("] ")? + open + 2..];
    let mut words = after.split_ascii_whitespace();
    let frontend = words.next()?.trim_end_matches('~');
    let (backend, server) = words.next()?.split_once('/')?;
    let _timers = words.next()?;
    let status: u16 = words.next()?.parse().ok()?;
    let termination = words.nth(3)?;
    let request = line.rsplit_once('"')?.0;
    let request = &request[request.rfind('"')? + 1..];
    let mut parts = request.split(' ');
    let method = parts.next()?.to_string();
    let uri = parts.next()?.to_string();
    let outcome = match (server, termination.as_bytes().first()) {
        // `P` a deny, `L` a return or redirect.
        ("<NOSRV>", Some(b'P' | b'L')) => Outcome::Answered(status),
        ("<NOSRV>", _) if backend == frontend => Outcome::NoBackend,
        _ => Outcome::Backend(backend.to_string()),
    };
    Some(Logged {
        frontend: frontend.to_string(),
        method,
        uri,
        host: None,
        client,
        outcome,
    })
}

/// fairway's logged outcome: `backend=-` is an answer (`P` a deny, `L` a
/// return, redirect or hook, `C` a malformed request) or no backend (`R`).
fn logged_outcome(backend: &str, status: u16, termination: &str) -> Outcome {
    match (backend, termination.as_bytes().first()) {
        ("-", Some(b'P' | b'L' | b'C')) => Outcome::Answered(status),
        ("-", _) => Outcome::NoBackend,
        (b, _) => Outcome::Backend(b.to_string()),
    }
}

/// A logged request as the ACL engine sees it.
struct Replayed<'a> {
    method: &'a str,
    url: Cow<'a, str>,
    host: Option<&'a str>,
    headers: Vec<(String, String)>,
    src: Option<IpAddr>,
}

impl Replayed<'_> {
    fn split(&self) -> (&str, Option<&str>) {
        match self.url.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (&self.url, None),
        }
    }
}

impl Request for Replayed<'_> {
    fn method(&self) -> &str {
        self.method
    }
    fn path(&self) -> &str {
        self.split().0
    }
    fn query(&self) -> Option<&str> {
        self.split().1
    }
    fn url(&self) -> &str {
        &self.url
    }
    fn host(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == "host")
            .map(|(_, v)| v.as_str())
            .or(self.host)
    }
    fn header_values(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        if name == "host" && !self.headers.iter().any(|(k, _)| k == "host") {
            return self.host.is_some_and(|h| f(h.as_bytes()));
        }
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .any(|(_, v)| f(v.as_bytes()))
    }
    fn src(&self) -> Option<IpAddr> {
        self.src
    }
}

/// Decides logged requests under a runtime.
pub struct Replayer<'a> {
    rt: &'a Runtime,
}

impl<'a> Replayer<'a> {
    /// Decides under `rt` (built from the new configuration).
    pub fn new(rt: &'a Runtime) -> Self {
        Replayer { rt }
    }

    /// What the runtime would do with `req`.
    pub fn decide(&self, req: &Logged) -> Outcome {
        let Some(fe) = self.rt.frontends().iter().find(|f| f.name == req.frontend) else {
            return Outcome::NoFrontend;
        };
        // The path as the proxy takes it: normalized, an encoded slash
        // refused (400, answered before any rule) or decoded.
        let (path, query) = match req.uri.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (req.uri.as_str(), None),
        };
        let url = match (
            fairway_acl::normalize_path_with(path, fe.path_options()),
            query,
        ) {
            (Err(fairway_acl::EncodedSlash), _) => return Outcome::Answered(400),
            (Ok(Cow::Borrowed(_)), _) => Cow::Borrowed(req.uri.as_str()),
            (Ok(Cow::Owned(p)), Some(q)) => Cow::Owned(format!("{p}?{q}")),
            (Ok(Cow::Owned(p)), None) => Cow::Owned(p),
        };
        let mut r = Replayed {
            method: &req.method,
            url,
            host: req.host.as_deref(),
            headers: Vec::new(),
            src: req.client,
        };
        self.run(fe, &mut r)
    }

    fn run(&self, fe: &Frontend, r: &mut Replayed<'_>) -> Outcome {
        let mut from = 0;
        loop {
            let (index, action) = match fe.decide(from, r) {
                Decision::Route(Some(b)) => {
                    let name = self.rt.backends().get(b).map(|b| b.name().to_string());
                    return name.map_or(Outcome::NoBackend, Outcome::Backend);
                }
                Decision::Route(None) => return Outcome::NoBackend,
                Decision::Answer { action, .. } => {
                    return Outcome::Answered(match action {
                        HttpAction::Deny { status } | HttpAction::Return { status, .. } => *status,
                        HttpAction::RedirectLocation { code, .. }
                        | HttpAction::RedirectScheme { code, .. } => *code,
                        _ => 500,
                    });
                }
                Decision::Edit { index, action } => (index, action),
            };
            from = index + 1;
            // The edits later rules can see: the target and headers.
            match action {
                HttpAction::SetPath { path } => {
                    let query = r.split().1.map(str::to_string);
                    r.url = Cow::Owned(match query {
                        Some(q) => format!("{path}?{q}"),
                        None => path.clone(),
                    });
                }
                HttpAction::ReplacePath(rw) => {
                    let (path, query) = r.split();
                    if let Some(p) = rw.apply(path) {
                        r.url = Cow::Owned(match query {
                            Some(q) => format!("{p}?{q}"),
                            None => p,
                        });
                    }
                }
                HttpAction::ReplaceUri(rw) => {
                    if let Some(u) = rw.apply(&r.url) {
                        r.url = Cow::Owned(u);
                    }
                }
                HttpAction::SetHeader { name, value } => {
                    let value = value.render(&*r, "").into_owned();
                    r.headers.retain(|(k, _)| k != name);
                    r.headers.push((name.clone(), value));
                }
                HttpAction::AddHeader { name, value } => {
                    let value = value.render(&*r, "").into_owned();
                    r.headers.push((name.clone(), value));
                }
                HttpAction::DelHeader { name } => r.headers.retain(|(k, _)| k != name),
                HttpAction::ReplaceHeader { name, rewrite } => {
                    let mut values = Vec::new();
                    r.header_values(name, &mut |v| {
                        values.push(String::from_utf8_lossy(v).into_owned());
                        false
                    });
                    if !values.is_empty() {
                        r.headers.retain(|(k, _)| k != name);
                        for v in values {
                            let new = rewrite.apply(&v).unwrap_or(v);
                            r.headers.push((name.clone(), new));
                        }
                    }
                }
                HttpAction::SetSrc { header } => {
                    if let Some(ip) = fairway_acl::last_address(&*r, header) {
                        r.src = Some(ip);
                    }
                }
                _ => {}
            }
        }
    }
}

/// What a replay found: every request counted, and the outcome changes
/// with examples.
#[derive(Debug, Default)]
pub struct Report {
    /// Requests replayed.
    pub requests: u64,
    /// Lines that were not access-log lines of an HTTP request.
    pub skipped: u64,
    /// Requests whose outcome is the same.
    pub unchanged: u64,
    /// (logged, new) outcome → how many, and up to `examples` of them.
    pub changes: BTreeMap<(Outcome, Outcome), (u64, Vec<String>)>,
    /// Examples kept per change.
    pub examples: usize,
}

impl Report {
    /// An empty report keeping `examples` examples per change.
    pub fn new(examples: usize) -> Self {
        Report {
            examples,
            ..Report::default()
        }
    }

    /// Replays one log line.
    pub fn line(&mut self, replayer: &Replayer<'_>, line: &str) {
        let Some(req) = parse_line(line) else {
            self.skipped += 1;
            return;
        };
        self.requests += 1;
        let new = replayer.decide(&req);
        if new == req.outcome {
            self.unchanged += 1;
            return;
        }
        let entry = self.changes.entry((req.outcome, new)).or_default();
        entry.0 += 1;
        if entry.1.len() < self.examples {
            let example = format!("{} {}", req.method, req.uri);
            if !entry.1.contains(&example) {
                entry.1.push(example);
            }
        }
    }

    /// Requests whose outcome changed.
    pub fn changed(&self) -> u64 {
        self.changes.values().map(|(n, _)| n).sum()
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} requests replayed ({} other lines skipped): {} unchanged, {} changed",
            self.requests,
            self.skipped,
            self.unchanged,
            self.changed()
        )?;
        for ((old, new), (count, examples)) in &self.changes {
            let kind = match (old, new) {
                (Outcome::Answered(_), Outcome::Backend(_)) => "newly allowed",
                (_, Outcome::Answered(_)) => "newly answered by a rule",
                (Outcome::Backend(_), Outcome::Backend(_)) => "moved",
                _ => "changed",
            };
            writeln!(f, "  {kind}: {old} -> {new}: {count} requests")?;
            for e in examples {
                writeln!(f, "      e.g. {e}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_of_every_format_are_read() {
        let fairway = "[2026-12-03T11:21:20.913Z INFO  fairway::access] client=127.0.0.1:39276 frontend=web backend=app server=a status=404 bytes=335 t_queue_ms=0.010 t_connect_ms=0.159 t_response_ms=5.068 t_total_ms=5.430 retries=0 method=GET uri=\"/a b\\\"c?x=1\" termination=-- request_id=\"x\"";
        let r = parse_line(fairway).unwrap();
        assert_eq!(r.frontend, "web");
        assert_eq!(r.uri, "/a b\"c?x=1");
        assert_eq!(r.client, Some(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(r.outcome, Outcome::Backend("app".into()));
        let denied = "client=10.0.0.1:1 frontend=web backend=- server=- status=403 bytes=93 t_queue_ms=-1 t_connect_ms=-1 t_response_ms=-1 t_total_ms=1.632 retries=0 method=GET uri=\"/admin\" termination=PR";
        assert_eq!(parse_line(denied).unwrap().outcome, Outcome::Answered(403));
        let json = r#"[x INFO  fairway::access] {"time":"t","client":"192.0.2.1","client_port":1,"frontend":"web","backend":"-","server":"-","method":"POST","uri":"/x","host":"example.org","status":503,"bytes":0,"termination":"RR","request_id":null}"#;
        let r = parse_line(json).unwrap();
        assert_eq!(
            (r.method.as_str(), r.host.as_deref()),
            ("POST", Some("example.org"))
        );
        assert_eq!(r.outcome, Outcome::NoBackend);
        let haproxy = r#"Dec  3 10:00:00 localhost haproxy[1]: 127.0.0.1:5000 [03/Dec/2026:10:00:00.000] web app/a 0/0/0/1/1 200 123 - - ---- 1/1/0/0/0 0/0 "GET /x?y=1 HTTP/1.1""#;
        let r = parse_line(haproxy).unwrap();
        assert_eq!((r.frontend.as_str(), r.uri.as_str()), ("web", "/x?y=1"));
        assert_eq!(r.outcome, Outcome::Backend("app".into()));
        let h_denied = r#"haproxy[1]: 127.0.0.1:5000 [03/Dec/2026:10:00:00.000] web~ web/<NOSRV> 0/-1/-1/-1/0 403 192 - - PR-- 1/1/0/0/0 0/0 "GET /admin HTTP/1.1""#;
        let r = parse_line(h_denied).unwrap();
        assert_eq!(
            (r.frontend.as_str(), &r.outcome),
            ("web", &Outcome::Answered(403))
        );
        assert_eq!(parse_line("fairway 0.1.0 started config=x"), None);
        let h_client = r#"haproxy[1]: 127.0.0.1:5000 [03/Dec/2026:10:00:00.000] web app/a 0/0/0/1/1 200 1 - - ---- 1/1/0/0/0 0/0 "GET /x?client=7 HTTP/1.1""#;
        assert_eq!(parse_line(h_client).unwrap().uri, "/x?client=7");
    }

    #[test]
    fn a_new_config_moves_denies_and_allows() {
        let yaml = "frontends:\n  web:\n    bind: [\"127.0.0.1:1\"]\n    http_request:\n      - replace-path ^/v1/(.*) /v2/v1/\\1\n      - deny if { path_beg /v2/v1/secret }\n    use_backend:\n      - api if { path_beg /v2/ }\n    default_backend: app\nbackends:\n  app: {}\n  api: {}\n";
        let config = crate::Config::from_yaml_str(yaml, "new.yaml").unwrap();
        let rt = Runtime::new(&config);
        let replayer = Replayer::new(&rt);
        let mut report = Report::new(2);
        for line in [
            "client=1.2.3.4:5 frontend=web backend=app server=a status=200 method=GET uri=\"/v1/users\" termination=--",
            "client=1.2.3.4:5 frontend=web backend=app server=a status=200 method=GET uri=\"/v1/secret\" termination=--",
            "client=1.2.3.4:5 frontend=web backend=- server=- status=403 method=GET uri=\"/old\" termination=PR",
            "client=1.2.3.4:5 frontend=web backend=app server=a status=200 method=GET uri=\"/same\" termination=--",
            "client=1.2.3.4:5 frontend=gone backend=app server=a status=200 method=GET uri=\"/\" termination=--",
            "some other line",
        ] {
            report.line(&replayer, line);
        }
        assert_eq!(
            (report.requests, report.skipped, report.unchanged),
            (5, 1, 1)
        );
        let change = |old: Outcome, new: Outcome| report.changes.get(&(old, new)).map(|c| c.0);
        let app = || Outcome::Backend("app".into());
        assert_eq!(change(app(), Outcome::Backend("api".into())), Some(1));
        assert_eq!(change(app(), Outcome::Answered(403)), Some(1));
        assert_eq!(change(Outcome::Answered(403), app()), Some(1));
        assert_eq!(change(app(), Outcome::NoFrontend), Some(1));
        let text = report.to_string();
        assert!(
            text.contains("newly allowed: answered 403 -> backend app: 1 requests"),
            "{text}"
        );
        assert!(text.contains("e.g. GET /v1/secret"), "{text}");
    }

    #[test]
    fn set_src_and_replace_header_are_replayed_as_the_proxy_applies_them() {
        let yaml = "frontends:\n  web:\n    bind: [\"127.0.0.1:1\"]\n    http_request:\n      \
                    - set-header X-Fwd \"%[src], 10.9.9.9\"\n      \
                    - set-src hdr(x-fwd)\n      \
                    - deny if { src 10.9.0.0/16 }\n      \
                    - set-header X-Env staging-1\n      \
                    - replace-header X-Env ^staging-(.*) prod-\\1\n    \
                    use_backend:\n      - prod if { hdr(x-env) prod-1 }\n    \
                    default_backend: app\nbackends:\n  app: {}\n  prod: {}\n";
        let config = crate::Config::from_yaml_str(yaml, "new.yaml").unwrap();
        let rt = Runtime::new(&config);
        let replayer = Replayer::new(&rt);
        let logged = parse_line("client=1.2.3.4:5 frontend=web backend=app server=a status=200 method=GET uri=\"/\" termination=--").unwrap();
        // set-src makes the client 10.9.9.9, which the deny rule refuses.
        assert_eq!(replayer.decide(&logged), Outcome::Answered(403));

        let yaml = yaml.replace("10.9.0.0/16", "10.8.0.0/16");
        let config = crate::Config::from_yaml_str(&yaml, "new.yaml").unwrap();
        let rt = Runtime::new(&config);
        let replayer = Replayer::new(&rt);
        assert_eq!(replayer.decide(&logged), Outcome::Backend("prod".into()));
    }

    #[test]
    fn paths_are_replayed_as_the_proxy_takes_them() {
        let yaml = |keys: &str| {
            format!(
                "frontends:\n  web:\n    bind: [\"127.0.0.1:1\"]\n{keys}    http_request:\n      \
                 - deny if {{ path -m beg /admin }}\n    default_backend: app\nbackends:\n  app: {{}}\n"
            )
        };
        let decide = |keys: &str, uri: &str| {
            let config = crate::Config::from_yaml_str(&yaml(keys), "new.yaml").unwrap();
            let rt = Runtime::new(&config);
            let line = format!("client=1.2.3.4:5 frontend=web backend=app server=a status=200 method=GET uri=\"{uri}\" termination=--");
            Replayer::new(&rt).decide(&parse_line(&line).unwrap())
        };
        let app = Outcome::Backend("app".into());
        // The defaults: an encoded slash is a 400, parameters are matched
        // without them (HAProxy logs such paths as received).
        assert_eq!(decide("", "/%2Fadmin"), Outcome::Answered(400));
        assert_eq!(decide("", "/..;/admin"), Outcome::Answered(403));
        assert_eq!(
            decide("", "/admin;jsessionid=1?x=1"),
            Outcome::Answered(403)
        );
        assert_eq!(decide("", "/app;jsessionid=1/x"), app);
        let decode = "    encoded_slashes: decode\n";
        assert_eq!(decide(decode, "/x/..%2fadmin"), Outcome::Answered(403));
        let keep = "    encoded_slashes: keep\n    path_params: keep\n";
        assert_eq!(decide(keep, "/%2Fadmin"), app);
        assert_eq!(decide(keep, "/..;/admin"), app);
        assert_eq!(decide(keep, "/admin;x"), Outcome::Answered(403));
    }
}
