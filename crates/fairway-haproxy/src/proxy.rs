//! Reading `defaults`, `frontend`, `backend` and `listen` sections into
//! settings (inherited from `defaults`) and the parts of each proxy.

use super::parse::{Kind, Line, Word};
use super::server::{server_opts, take, OptFindings, ServerOpts};
use super::settings::{Settings, SettingsReader};
use super::Report;

/// A rule line: its words after the keyword(s).
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub line: usize,
    pub raw: String,
    pub words: Vec<Word>,
}

impl Rule {
    /// Whether the rule names the ACL `name` (`name` or `!name`).
    pub fn mentions(&self, name: &str) -> bool {
        self.words
            .iter()
            .any(|w| !w.quoted && w.text.trim_start_matches('!') == name)
    }
}

/// A `bind` line's addresses and TLS certificates (none: plain TCP/HTTP).
#[derive(Debug, Clone)]
pub(crate) struct Bind {
    pub line: usize,
    pub addrs: Vec<String>,
    pub certs: Vec<String>,
    /// `accept-proxy`: connections start with a PROXY protocol header.
    pub accept_proxy: bool,
    /// `proto h2` on a plain bind: cleartext HTTP/2 (prior knowledge).
    pub h2c: bool,
}

/// A `server` line.
#[derive(Debug, Clone)]
pub(crate) struct ServerDecl {
    pub line: usize,
    pub raw: String,
    pub name: String,
    pub addr: Result<String, String>,
    /// The server's own options (without `default-server`).
    pub opts: ServerOpts,
    pub found: Vec<(String, String, bool)>,
}

/// `stats ...` of a proxy.
#[derive(Debug, Clone, Default)]
pub(crate) struct StatsDecl {
    pub line: usize,
    pub auth: Vec<(usize, String, String)>,
}

/// A `frontend`, `backend` or `listen` section as read.
#[derive(Debug, Clone)]
pub(crate) struct Proxy {
    pub kind: Kind,
    pub name: String,
    pub line: usize,
    pub s: Settings,
    pub binds: Vec<Bind>,
    pub acls: Vec<(usize, String, Vec<Word>)>,
    pub http_request: Vec<Rule>,
    /// `http-response` rules (those of `defaults` are in `s`).
    pub http_response: Vec<Rule>,
    pub redirects: Vec<Rule>,
    pub monitor_uri: Option<Rule>,
    pub tcp_request: Vec<Rule>,
    pub use_backend: Vec<Rule>,
    pub default_backend: Option<Rule>,
    pub servers: Vec<ServerDecl>,
    pub stats: Option<StatsDecl>,
    /// Comments for the emitted section (findings of this section).
    pub comments: Vec<String>,
    /// `stick-table ... store http_req_rate(PERIOD)` of a frontend: line,
    /// text and PERIOD (see `rules::Scope::rate`).
    pub rate_table: Option<(usize, String, String)>,
    /// Whether an `http-request allow` rule exists (it stops fairway's
    /// rules, but not HAProxy's `redirect` rules).
    pub has_allow: bool,
}

/// Context for reading directives: the report, where comments go, and the
/// global `crt-base` / `ca-base`.
pub(crate) struct Reader<'a> {
    pub report: &'a mut Report,
    pub crt_base: Option<String>,
    pub ca_base: Option<String>,
}

impl Reader<'_> {
    /// The reader of the settings `defaults` and proxies share.
    fn settings(&mut self) -> SettingsReader<'_> {
        SettingsReader {
            report: &mut *self.report,
            ca_base: self.ca_base.as_deref(),
        }
    }

    pub(super) fn unsupported(&mut self, comments: &mut Vec<String>, line: &Line, reason: &str) {
        let c = self.report.unsupported(line.no, &line.raw, reason);
        comments.push(c);
    }

    pub(super) fn unsupported_part(
        &mut self,
        comments: &mut Vec<String>,
        line: usize,
        part: &str,
        reason: &str,
    ) {
        let c = self.report.unsupported(line, part, reason);
        comments.push(c);
    }

    pub(super) fn note(&mut self, comments: &mut Vec<String>, line: &Line, remark: &str) {
        let c = self.report.note(line.no, &line.raw, remark);
        comments.push(c);
    }

    /// Reads a `defaults` section on top of `base` (its `from`, or nothing);
    /// `named`: the section has a name (HAProxy takes rules only there).
    pub fn defaults(
        &mut self,
        lines: &[Line],
        base: Settings,
        comments: &mut Vec<String>,
        named: bool,
    ) -> Settings {
        let mut s = base;
        for line in lines {
            if line.word(0) == "http-response" {
                if let Some(why) = &line.problem {
                    self.unsupported(comments, line, why);
                } else if named {
                    s.http_response.push(Rule {
                        line: line.no,
                        raw: line.raw.clone(),
                        words: line.rest(1).to_vec(),
                    });
                } else {
                    let why = "HAProxy takes rules only in a named defaults section";
                    self.unsupported(comments, line, why);
                }
                continue;
            }
            if !self
                .settings()
                .setting(line, &mut s, Kind::Defaults, comments)
            {
                let why = match line.word(0) {
                    "bind" | "server" | "acl" | "use_backend" | "default_backend"
                    | "http-request" | "redirect" | "tcp-request" | "stats" | "monitor-uri" => {
                        "fairway has no defaults for this directive; write it in each section"
                    }
                    _ => "unknown or unsupported directive",
                };
                self.unsupported(comments, line, why);
            }
        }
        s
    }

    /// Reads a proxy section.
    pub fn proxy(
        &mut self,
        kind: Kind,
        name: &str,
        header: &Line,
        lines: &[Line],
        s: Settings,
    ) -> Proxy {
        let mut p = Proxy {
            kind,
            name: name.to_string(),
            line: header.no,
            s,
            binds: Vec::new(),
            acls: Vec::new(),
            http_request: Vec::new(),
            http_response: Vec::new(),
            redirects: Vec::new(),
            monitor_uri: None,
            tcp_request: Vec::new(),
            use_backend: Vec::new(),
            default_backend: None,
            servers: Vec::new(),
            stats: None,
            comments: Vec::new(),
            rate_table: None,
            has_allow: false,
        };
        let mut comments = Vec::new();
        // `listen NAME ADDR` (old syntax) and `frontend NAME from DEFAULTS`.
        let extra = header.rest(2);
        if kind == Kind::Listen && extra.len() == 1 && !extra[0].is("from") {
            self.bind(&mut p, header, extra, &mut comments);
        }
        let front = matches!(kind, Kind::Frontend | Kind::Listen);
        let back = matches!(kind, Kind::Backend | Kind::Listen);
        for line in lines {
            if line.problem.is_some() {
                let why = line.problem.clone().unwrap_or_default();
                self.unsupported(&mut comments, line, &why);
                continue;
            }
            let rule = |from: usize| Rule {
                line: line.no,
                raw: line.raw.clone(),
                words: line.rest(from).to_vec(),
            };
            let not_here =
                |what: &str| format!("`{}` is not valid in a {what} section", line.word(0));
            match line.word(0) {
                "bind" if front => self.bind(&mut p, line, line.rest(1), &mut comments),
                // In a backend, kept for the builder: fairway runs them in
                // the frontends whose every request goes to that backend.
                "acl" => {
                    if line.words.len() < 3 {
                        self.unsupported(&mut comments, line, "incomplete acl");
                    } else {
                        p.acls
                            .push((line.no, line.word(1).to_string(), line.rest(2).to_vec()));
                    }
                }
                "http-request" => {
                    p.has_allow |= line.word(1) == "allow";
                    p.http_request.push(rule(1));
                }
                "http-response" => p.http_response.push(rule(1)),
                "redirect" => p.redirects.push(Rule {
                    line: line.no,
                    raw: line.raw.clone(),
                    words: line.words.clone(),
                }),
                "monitor-uri" if front => match line.words.get(1) {
                    Some(_) => p.monitor_uri = Some(rule(1)),
                    None => self.unsupported(&mut comments, line, "missing URI"),
                },
                "tcp-request" if front => p.tcp_request.push(rule(1)),
                "use_backend" if front => match line.words.len() {
                    1 => self.unsupported(&mut comments, line, "missing backend name"),
                    _ => p.use_backend.push(rule(1)),
                },
                "default_backend" if front => match line.words.len() {
                    2 => p.default_backend = Some(rule(1)),
                    _ => self.unsupported(&mut comments, line, "expected one backend name"),
                },
                "server" if back => self.server(&mut p, line, &mut comments),
                "server-template" if back => self.unsupported(
                    &mut comments,
                    line,
                    "fairway has no server templates: write one `server` per name",
                ),
                "stick-table" if front => {
                    let period = stick_table_rate(line);
                    match period {
                        Some(period) => p.rate_table = Some((line.no, line.raw.clone(), period)),
                        None => self.unsupported(
                            &mut comments,
                            line,
                            "fairway has no stick tables; it counts a client's request rate (an ip table storing http_req_rate) only",
                        ),
                    }
                }
                "stats" if front => self.stats(&mut p, line, &mut comments),
                "bind" | "use_backend" | "default_backend" | "monitor-uri" | "tcp-request"
                | "stats" => {
                    let why = not_here("backend");
                    self.unsupported(&mut comments, line, &why)
                }
                "server" => {
                    let why = not_here("frontend");
                    self.unsupported(&mut comments, line, &why)
                }
                _ => {
                    if !self.settings().setting(line, &mut p.s, kind, &mut comments) {
                        self.unsupported(&mut comments, line, "unknown or unsupported directive");
                    }
                }
            }
        }
        p.comments = comments;
        p
    }

    /// `bind ADDR[,ADDR...] [options]`.
    fn bind(&mut self, p: &mut Proxy, line: &Line, words: &[Word], comments: &mut Vec<String>) {
        let Some((addr, opts)) = words.split_first() else {
            self.unsupported(comments, line, "missing address");
            return;
        };
        let addrs = match super::server::bind_addrs(addr) {
            Ok(a) => a,
            Err(why) => {
                self.unsupported(comments, line, &why);
                return;
            }
        };
        let mut ssl = false;
        let mut certs = Vec::new();
        let mut accept_proxy = false;
        let mut h2c = false;
        let mut i = 0;
        while let Some(w) = opts.get(i) {
            i += 1;
            match w.text.as_str() {
                "ssl" => ssl = true,
                "accept-proxy" => accept_proxy = true,
                "proto" if opts.get(i).is_some_and(|v| v.text == "h2") => {
                    i += 1;
                    h2c = true;
                }
                "crt" => {
                    let path = take(opts, &mut i).map(|a| a.fw.clone()).unwrap_or_default();
                    let path = match &self.crt_base {
                        Some(base) if !path.starts_with('/') => {
                            format!("{}/{path}", base.trim_end_matches('/'))
                        }
                        _ => path,
                    };
                    certs.push(path);
                }
                "name" | "id" | "v4v6" | "v6only" | "process" | "thread" | "nice" => {
                    if matches!(
                        w.text.as_str(),
                        "name" | "id" | "process" | "thread" | "nice"
                    ) {
                        let _ = take(opts, &mut i);
                    }
                    let part = format!("bind option {}", w.text);
                    let c = self
                        .report
                        .note(line.no, &part, "ignored: no effect in fairway");
                    comments.push(c);
                }
                "transparent"
                | "defer-accept"
                | "tfo"
                | "strict-sni"
                | "allow-0rtt"
                | "no-sslv3"
                | "no-tlsv10"
                | "no-tlsv11"
                | "no-tlsv12"
                | "no-tlsv13"
                | "force-tlsv12"
                | "force-tlsv13"
                | "prefer-client-ciphers"
                | "no-tls-tickets"
                | "generate-certificates"
                | "quic-force-retry" => {
                    let why = "fairway has no such listener option";
                    self.unsupported_part(
                        comments,
                        line.no,
                        &format!("bind option {}", w.text),
                        why,
                    );
                }
                other => {
                    let value = take(opts, &mut i)
                        .map(|a| a.text.clone())
                        .unwrap_or_default();
                    let why = match other {
                        "alpn" | "npn" | "proto" => "fairway's TLS listener negotiates HTTP/1.1",
                        "crt-list" => "certificate lists: write one `crt` per certificate",
                        "ca-file" | "verify" | "crl-file" | "ca-verify-file" => {
                            "fairway has no client certificate verification"
                        }
                        "ciphers" | "ciphersuites" | "ssl-min-ver" | "ssl-max-ver" | "curves"
                        | "ecdhe" | "sigalgs" | "client-sigalgs" => "fairway uses its TLS defaults",
                        "maxconn" | "backlog" => "fairway has no per-listener connection limit",
                        _ => "unknown or unsupported bind option",
                    };
                    self.unsupported_part(
                        comments,
                        line.no,
                        &format!("bind option {other} {value}"),
                        why,
                    );
                }
            }
        }
        if !ssl && !certs.is_empty() {
            self.unsupported(comments, line, "`crt` without `ssl`: HAProxy ignores it");
            certs.clear();
        }
        if ssl && certs.is_empty() {
            self.unsupported(comments, line, "`ssl` without `crt`");
            return;
        }
        if certs.iter().any(|c| c.ends_with('/')) {
            self.unsupported(
                comments,
                line,
                "a certificate directory: fairway needs the files, one `crt` each",
            );
            return;
        }
        if accept_proxy && ssl {
            self.unsupported_part(
                comments,
                line.no,
                "bind option accept-proxy",
                "fairway reads a PROXY header only on listeners without TLS",
            );
            accept_proxy = false;
        }
        if h2c && ssl {
            self.unsupported_part(
                comments,
                line.no,
                "bind option proto h2",
                "fairway's TLS listeners offer HTTP/2 and HTTP/1.1 through ALPN",
            );
            h2c = false;
        }
        p.binds.push(Bind {
            line: line.no,
            addrs,
            certs,
            accept_proxy,
            h2c,
        });
    }

    /// `server NAME ADDR [options]`.
    fn server(&mut self, p: &mut Proxy, line: &Line, comments: &mut Vec<String>) {
        let (Some(name), Some(addr)) = (line.words.get(1), line.words.get(2)) else {
            self.unsupported(comments, line, "expected `server NAME ADDRESS [options]`");
            return;
        };
        let mut opts = ServerOpts::default();
        let mut found = OptFindings::default();
        server_opts(line.rest(3), &mut opts, self.ca_base.as_deref(), &mut found);
        let mut all: Vec<(String, String, bool)> = found
            .unsupported
            .into_iter()
            .map(|(t, w)| (t, w, true))
            .collect();
        all.extend(found.notes.into_iter().map(|(t, w)| (t, w, false)));
        p.servers.push(ServerDecl {
            line: line.no,
            raw: line.raw.clone(),
            name: name.text.clone(),
            addr: super::server::server_addr(addr),
            opts,
            found: all,
        });
    }

    /// `stats ...` in a frontend or listen.
    fn stats(&mut self, p: &mut Proxy, line: &Line, comments: &mut Vec<String>) {
        let stats = p.stats.get_or_insert_with(|| StatsDecl {
            line: line.no,
            auth: Vec::new(),
        });
        match line.word(1) {
            "enable" => {}
            // fairway's page is at /stats too.
            "uri" if line.word(2) == "/stats" => {}
            "uri" => {
                let remark = format!(
                    "fairway serves its stats page at /stats (and /stats.json, /metrics) on admin.bind, not at {}",
                    line.word(2)
                );
                self.note(comments, line, &remark);
            }
            "auth" => {
                let w = line.words.get(2);
                match w.and_then(|w| w.fw.split_once(':')) {
                    Some((user, pass)) if !user.is_empty() && !pass.is_empty() => {
                        stats.auth.push((line.no, user.to_string(), pass.to_string()))
                    }
                    _ => self.unsupported(comments, line, "expected `stats auth USER:PASSWORD`"),
                }
            }
            "realm" | "refresh" | "hide-version" | "show-legends" | "show-node" | "show-desc"
            | "show-modules" => {
                self.note(comments, line, "ignored: fairway's stats page has its own layout");
            }
            "admin" => self.unsupported(
                comments,
                line,
                "fairway's admin listener always serves the runtime API to authenticated users; the condition is not kept",
            ),
            _ => self.unsupported(comments, line, "unsupported stats directive"),
        }
    }
}

/// The period of `stick-table type ip ... store ...,http_req_rate(PERIOD)`.
fn stick_table_rate(line: &Line) -> Option<String> {
    let words = line.rest(1);
    let at = |k: &str| {
        words
            .iter()
            .position(|w| w.is(k))
            .and_then(|i| words.get(i + 1))
    };
    if !matches!(at("type").map(|w| w.text.as_str()), Some("ip" | "ipv6")) {
        return None;
    }
    let store = at("store")?;
    store.text.split(',').find_map(|s| {
        let period = s.strip_prefix("http_req_rate(")?.strip_suffix(')')?;
        super::server::timeout(period).ok()
    })
}
