//! Directives a `defaults` section passes on to the sections after it:
//! mode, timeouts, balance, retries, options, health checks, cookie and
//! `default-server`.

use super::parse::{Kind, Line, Word};
use super::proxy::Rule;
use super::retry::{self, RetryOn};
use super::server::{server_opts, timeout, OptFindings, ServerOpts};
use super::Report;
use std::time::Duration;

/// Settings a `defaults` section passes on to the sections after it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub mode: Option<String>,
    pub timeout_client: Option<String>,
    pub timeout_http_request: Option<String>,
    pub timeout_connect: Option<String>,
    pub timeout_server: Option<String>,
    pub timeout_tunnel: Option<String>,
    pub timeout_queue: Option<String>,
    pub timeout_check: Option<String>,
    pub balance: Option<String>,
    pub retries: Option<u64>,
    pub redispatch: Option<bool>,
    pub forwardfor: Option<bool>,
    /// `option httpchk` / `http-check send`: method, path, host.
    pub httpchk: Option<HttpChk>,
    pub expect_status: Option<String>,
    /// Why checks cannot be what HAProxy does (external checks...): fairway
    /// then checks with a TCP connect.
    pub check_problem: Option<String>,
    pub cookie: Option<Cookie>,
    pub default_server: ServerOpts,
    /// `option httplog`, `tcplog` or `httpslog`: which, if one is on.
    pub log_option: Option<LogOption>,
    pub allbackups: bool,
    /// `compression algo` (the codings fairway has) and `compression type`.
    pub compression: Option<Compression>,
    /// `http-response` rules of a named `defaults` section: they run before
    /// the proxy's own.
    pub http_response: Vec<Rule>,
    /// `unique-id-header NAME`: its line and NAME.
    pub unique_id_header: Option<(usize, String)>,
    /// Whether a `unique-id-format` applies (HAProxy sends the
    /// `unique-id-header` only then).
    pub unique_id_format: bool,
    /// `retry-on`, converted.
    pub retry_on: Option<RetryOn>,
    /// `http-reuse`, as fairway's `http_reuse` word (`aggressive` is
    /// `always`).
    pub http_reuse: Option<&'static str>,
    /// `log-format FMT` (until an `option httplog|tcplog` replaces it).
    pub log_format: Option<LogFormatDecl>,
}

/// Which of HAProxy's predefined log formats an `option` chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogOption {
    /// `option httplog`.
    Http,
    /// `option httplog clf` (HAProxy's CLF format, which fairway does not
    /// write).
    HttpClf,
    /// `option tcplog`.
    Tcp,
    /// `option httpslog`.
    Https,
}

/// A `log-format` line: where, and its one argument.
#[derive(Debug, Clone)]
pub(crate) struct LogFormatDecl {
    pub line: usize,
    pub raw: String,
    pub format: Word,
}

/// `compression algo ...` and `compression type ...`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Compression {
    pub algos: Vec<String>,
    pub types: Vec<String>,
}

/// An HTTP health check request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpChk {
    pub method: String,
    pub path: String,
    pub host: Option<String>,
}

/// `cookie NAME insert ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cookie {
    pub name: String,
    pub indirect: bool,
    pub nocache: bool,
}

/// The check interval HAProxy uses when `inter` is not given.
pub(crate) const DEFAULT_INTER: Duration = Duration::from_secs(2);

/// Reads the directives shared by `defaults` and proxies into a
/// [`Settings`], reporting what it cannot convert.
pub(crate) struct SettingsReader<'a> {
    pub report: &'a mut Report,
    /// `ca-base` of `global`.
    pub ca_base: Option<&'a str>,
}

impl SettingsReader<'_> {
    fn unsupported(&mut self, comments: &mut Vec<String>, line: &Line, reason: &str) {
        comments.push(self.report.unsupported(line.no, &line.raw, reason));
    }

    fn unsupported_part(
        &mut self,
        comments: &mut Vec<String>,
        line: usize,
        part: &str,
        reason: &str,
    ) {
        comments.push(self.report.unsupported(line, part, reason));
    }

    fn note(&mut self, comments: &mut Vec<String>, line: &Line, remark: &str) {
        comments.push(self.report.note(line.no, &line.raw, remark));
    }

    /// Settings shared by `defaults` and proxies. Returns whether the
    /// directive was one of them.
    pub(super) fn setting(
        &mut self,
        line: &Line,
        s: &mut Settings,
        kind: Kind,
        comments: &mut Vec<String>,
    ) -> bool {
        let arg = |i: usize| line.word(i);
        match arg(0) {
            "mode" => match arg(1) {
                "http" | "tcp" => s.mode = Some(arg(1).to_string()),
                _ => self.unsupported(comments, line, "fairway has modes http and tcp"),
            },
            "timeout" => self.timeout(line, s, comments),
            "contimeout" | "clitimeout" | "srvtimeout" => self.unsupported(
                comments,
                line,
                "removed from HAProxy; write `timeout connect|client|server`",
            ),
            "balance" => self.balance(line, s, comments),
            "hash-type" => match arg(1) {
                "consistent" => {}
                _ => self.note(
                    comments,
                    line,
                    "fairway always uses consistent hashing: the same client keeps its server, but not necessarily the one HAProxy picks",
                ),
            },
            "retries" => match arg(1).parse::<u64>() {
                Ok(n) if n <= 100 => s.retries = Some(n),
                _ => self.unsupported(comments, line, "retries must be 0 to 100"),
            },
            "retry-on" if kind == Kind::Frontend => self.unsupported(
                comments,
                line,
                "HAProxy takes retry-on in defaults, backend and listen sections only",
            ),
            "retry-on" => match retry::read(line.rest(1)) {
                Ok((words, remarks)) => {
                    for remark in remarks {
                        self.note(comments, line, &remark);
                    }
                    s.retry_on = Some(RetryOn {
                        line: line.no,
                        raw: line.raw.clone(),
                        words,
                    });
                }
                Err(why) => self.unsupported(comments, line, &why),
            },
            "http-reuse" if kind == Kind::Frontend => self.unsupported(
                comments,
                line,
                "HAProxy takes http-reuse in defaults, backend and listen sections only",
            ),
            "http-reuse" => match arg(1) {
                "safe" => s.http_reuse = Some("safe"),
                "never" => s.http_reuse = Some("never"),
                "always" => s.http_reuse = Some("always"),
                "aggressive" => {
                    s.http_reuse = Some("always");
                    self.note(
                        comments,
                        line,
                        "fairway has no `aggressive`: `always`, any request may take any idle \
                         connection (a connection that carried unread bytes is closed)",
                    );
                }
                _ => self.unsupported(
                    comments,
                    line,
                    "http-reuse takes never, safe, aggressive or always",
                ),
            },
            "option" => self.option(line, s, kind, comments, true),
            "no" if arg(1) == "option" => self.option(line, s, kind, comments, false),
            "http-check" => self.http_check(line, s, comments),
            "cookie" => self.cookie(line, s, comments),
            "default-server" => {
                let mut found = OptFindings::default();
                server_opts(line.rest(1), &mut s.default_server, self.ca_base, &mut found);
                for (text, why) in found.unsupported {
                    self.unsupported_part(comments, line.no, &format!("default-server {text}"), &why);
                }
                for (text, why) in found.notes {
                    let c = self.report.note(line.no, &format!("default-server {text}"), &why);
                    comments.push(c);
                }
            }
            "log" => match arg(1) {
                "global" => {}
                _ => self.note(comments, line, "fairway logs to stderr (see global.access_log)"),
            },
            "no" if arg(1) == "log" => {}
            "description" | "id" => self.note(comments, line, "ignored: no effect in fairway"),
            "external-check" => {
                let why = "fairway cannot run check scripts; it checks with a TCP connect instead";
                s.check_problem = Some(why.to_string());
                self.unsupported(comments, line, why);
            }
            "maxconn" | "fullconn" => self.unsupported(
                comments,
                line,
                "fairway limits concurrency per server only (server maxconn)",
            ),
            "errorfile" | "errorloc" | "errorloc302" | "errorloc303" | "errorfiles" | "http-error" => {
                self.unsupported(comments, line, "fairway has no custom error pages")
            }
            "http-after-response" => self.unsupported(
                comments,
                line,
                "fairway's http_response rules see the server's responses only, not the ones \
                 fairway makes",
            ),
            "tcp-response" => self.unsupported(comments, line, "fairway has no tcp-response rules"),
            "http-send-name-header" => self.unsupported(
                comments,
                line,
                "fairway does not send the server name in a header",
            ),
            "stick-table" | "stick" => self.unsupported(comments, line, "fairway has no stick tables"),
            "compression" => self.compression(line, s, kind, comments),
            "log-format" => self.log_format(line, s, kind, comments),
            "capture" => self.unsupported(
                comments,
                line,
                "fairway captures no headers or cookies for its access log",
            ),
            "log-format-sd" => self.unsupported(
                comments,
                line,
                "fairway writes no RFC 5424 structured data",
            ),
            "error-log-format" => self.unsupported(
                comments,
                line,
                "fairway has no separate log format for connection errors",
            ),
            "log-tag" => self.unsupported(comments, line, "fairway logs to stderr, without a syslog tag"),
            "unique-id-format" => {
                s.unique_id_format = true;
                self.note(
                    comments,
                    line,
                    "approximated: fairway's unique IDs are random UUIDs (v4), whatever the \
                     format (unique_id_header, %[unique-id], request_id= in the access log)",
                );
            }
            "unique-id-header" => self.unique_id_header(line, s, kind, comments),
            _ => return false,
        }
        true
    }

    /// `log-format FMT`: kept for `global.access_log_format` (see
    /// `access_log`).
    fn log_format(
        &mut self,
        line: &Line,
        s: &mut Settings,
        kind: Kind,
        comments: &mut Vec<String>,
    ) {
        if kind == Kind::Backend {
            let why = "ignored: HAProxy ignores log-format in a backend";
            return self.note(comments, line, why);
        }
        match line.words.get(1) {
            Some(format) if line.words.len() == 2 => {
                s.log_format = Some(LogFormatDecl {
                    line: line.no,
                    raw: line.raw.clone(),
                    format: format.clone(),
                })
            }
            _ => self.unsupported(
                comments,
                line,
                "expected one argument, as HAProxy: quote the format",
            ),
        }
    }

    /// `unique-id-header NAME`: fairway's `unique_id_header` (frontends).
    fn unique_id_header(
        &mut self,
        line: &Line,
        s: &mut Settings,
        kind: Kind,
        comments: &mut Vec<String>,
    ) {
        if kind == Kind::Backend {
            return self.note(
                comments,
                line,
                "ignored: HAProxy adds the header in frontends only",
            );
        }
        let name = line.word(1);
        if line.words.len() != 2 || !fairway_acl::is_header_name(name) {
            return self.unsupported(comments, line, "expected `unique-id-header NAME`");
        }
        s.unique_id_header = Some((line.no, name.to_string()));
        self.note(
            comments,
            line,
            "fairway's ID is a random UUID; it keeps an ID the client sent in this header, and \
             returns the ID in the response too",
        );
    }

    /// `compression algo|type|offload` (and HAProxy 2.8's `algo-res`,
    /// `type-res`): fairway compresses responses per frontend.
    fn compression(
        &mut self,
        line: &Line,
        s: &mut Settings,
        kind: Kind,
        comments: &mut Vec<String>,
    ) {
        if kind == Kind::Backend {
            let why = "fairway compresses per frontend: add `compression` to the frontends \
                       that use this backend";
            return self.unsupported(comments, line, why);
        }
        let words = line.rest(2);
        match line.word(1) {
            "algo" | "algo-res" => {
                let mut algos = Vec::new();
                for w in words {
                    match w.text.as_str() {
                        "gzip" => algos.push("gzip".to_string()),
                        other => {
                            let why = "fairway compresses with zstd, br and gzip only";
                            let part = format!("compression algo {other}");
                            self.unsupported_part(comments, line.no, &part, why);
                        }
                    }
                }
                if !algos.is_empty() {
                    s.compression.get_or_insert_with(Default::default).algos = algos;
                }
            }
            "type" | "type-res" => {
                let mut types = Vec::new();
                for w in words {
                    let t = w.text.to_ascii_lowercase();
                    let plain = |p: &str| {
                        !p.is_empty()
                            && p.bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
                    };
                    match t.split_once('/') {
                        Some((ty, sub)) if plain(ty) && (plain(sub) || sub == "*") => types.push(t),
                        _ => {
                            let part = format!("compression type {}", w.text);
                            let why = "not a media type fairway matches (type/subtype or type/*)";
                            self.unsupported_part(comments, line.no, &part, why);
                        }
                    }
                }
                s.compression.get_or_insert_with(Default::default).types = types;
            }
            "offload" => self.note(
                comments,
                line,
                "ignored: fairway leaves Accept-Encoding to the server, and never compresses \
                 a response the server compressed",
            ),
            _ => self.unsupported(comments, line, "fairway compresses responses only"),
        }
    }

    fn timeout(&mut self, line: &Line, s: &mut Settings, comments: &mut Vec<String>) {
        let value = line.word(2);
        let slot = match line.word(1) {
            "client" => &mut s.timeout_client,
            "http-request" => &mut s.timeout_http_request,
            "connect" => &mut s.timeout_connect,
            "server" => &mut s.timeout_server,
            "tunnel" => &mut s.timeout_tunnel,
            "queue" => &mut s.timeout_queue,
            "check" => &mut s.timeout_check,
            "http-keep-alive" => {
                self.note(
                    comments,
                    line,
                    "ignored: fairway manages idle keep-alive connections itself",
                );
                return;
            }
            _ => {
                self.unsupported(comments, line, "fairway has no such timeout");
                return;
            }
        };
        match timeout(value) {
            Ok(t) => *slot = Some(t),
            Err(why) => self.unsupported(comments, line, &why),
        }
    }

    fn balance(&mut self, line: &Line, s: &mut Settings, comments: &mut Vec<String>) {
        let algo = line.word(1);
        let args = line.rest(2);
        let hdr = |name: &str| format!("hdr({})", name.to_ascii_lowercase());
        let balance = match algo {
            "roundrobin" | "leastconn" | "first" | "source" if args.is_empty() => algo.to_string(),
            "static-rr" if args.is_empty() => {
                self.note(
                    comments,
                    line,
                    "fairway's roundrobin (weights can change at run time)",
                );
                "roundrobin".to_string()
            }
            "random" | "random(2)" if args.is_empty() => "random".to_string(),
            a if a.starts_with("random(") && args.is_empty() => {
                self.note(comments, line, "fairway's random draws two servers");
                "random".to_string()
            }
            "uri" if args.iter().all(|w| w.is("path-only")) => "uri".to_string(),
            "url_param" if args.len() == 1 => format!("url_param({})", args[0].text),
            a if a.starts_with("hdr(") && a.ends_with(')') && args.is_empty() => {
                hdr(&a[4..a.len() - 1])
            }
            "hash" if args.len() == 1 => match args[0].text.as_str() {
                "src" => "source".to_string(),
                "path" => "uri".to_string(),
                e if e.starts_with("req.hdr(") && e.ends_with(')') => hdr(&e[8..e.len() - 1]),
                e if e.starts_with("url_param(") && e.ends_with(')') => e.to_string(),
                _ => {
                    self.unsupported(
                        comments,
                        line,
                        "fairway hashes src, path, a header or a URL parameter only",
                    );
                    return;
                }
            },
            _ => {
                self.unsupported(comments, line, "unsupported balance algorithm or option");
                return;
            }
        };
        s.balance = Some(balance);
    }

    fn option(
        &mut self,
        line: &Line,
        s: &mut Settings,
        kind: Kind,
        comments: &mut Vec<String>,
        on: bool,
    ) {
        let at = if on { 1 } else { 2 };
        let name = line.word(at);
        let args = line.rest(at + 1);
        match name {
            "redispatch" => {
                s.redispatch = Some(on);
                if on && args.iter().any(|a| a.text != "1" && a.text != "-1") {
                    self.note(comments, line, "fairway redispatches every retry");
                }
            }
            "forwardfor" => {
                s.forwardfor = Some(on);
                if !args.is_empty() {
                    self.unsupported(
                        comments,
                        line,
                        "fairway always adds X-Forwarded-For (and X-Forwarded-Proto); `except`, `header` and `if-none` are not supported",
                    );
                }
            }
            "httplog" | "tcplog" | "httpslog" => {
                let clf = name == "httplog" && args.iter().any(|a| a.text == "clf");
                if on && clf {
                    self.note(
                        comments,
                        line,
                        "fairway does not write HAProxy's CLF format (%o, %trg, %ms): the \
                         requests are logged in another format",
                    );
                }
                s.log_option = on.then_some(match name {
                    "httplog" if clf => LogOption::HttpClf,
                    "httplog" => LogOption::Http,
                    "tcplog" => LogOption::Tcp,
                    _ => LogOption::Https,
                });
                // Each replaces the log format before it, as in HAProxy.
                if on {
                    s.log_format = None;
                }
            }
            "allbackups" => s.allbackups = on,
            "httpchk" if on => self.httpchk(line, args, s, comments),
            "httpchk" => s.httpchk = None,
            "tcp-check" => {}
            "external-check" | "ssl-hello-chk" | "mysql-check" | "pgsql-check" | "redis-check"
            | "smtpchk" | "ldap-check" | "spop-check" => {
                if on {
                    let why = format!(
                        "fairway has no `{name}` health check; it checks with a TCP connect instead"
                    );
                    s.check_problem = Some(why.clone());
                    self.unsupported(comments, line, &why);
                }
            }
            "dontlognull"
            | "log-health-checks"
            | "http-keep-alive"
            | "splice-auto"
            | "splice-request"
            | "splice-response"
            | "tcp-smart-accept"
            | "tcp-smart-connect"
            | "contstats"
            | "socket-stats"
            | "http-use-htx"
            | "log-separate-errors"
            | "http-server-close" => {
                let _ = kind;
                self.note(comments, line, "ignored: no effect on routing in fairway");
            }
            _ if !on => self.unsupported(comments, line, "unsupported option"),
            _ => self.unsupported(comments, line, "unsupported option"),
        }
    }

    /// `option httpchk [[METHOD] URI [VERSION [HOST]]]`.
    fn httpchk(
        &mut self,
        line: &Line,
        args: &[Word],
        s: &mut Settings,
        comments: &mut Vec<String>,
    ) {
        let text = |i: usize| args.get(i).map(|w| w.text.clone());
        let (method, path, version, host) = match args.len() {
            0 => (None, None, None, None),
            1 => (None, text(0), None, None),
            _ => (text(0), text(1), text(2), text(3)),
        };
        let mut chk = HttpChk {
            method: method.unwrap_or_else(|| "OPTIONS".to_string()),
            path: path.unwrap_or_else(|| "/".to_string()),
            host,
        };
        // The old trick: headers after the version, `HTTP/1.1\r\nHost:x`.
        if let Some(v) = version {
            for header in v.split("\r\n").skip(1).filter(|h| !h.is_empty()) {
                match header.split_once(':') {
                    Some((k, value)) if k.trim().eq_ignore_ascii_case("host") => {
                        chk.host = Some(value.trim().to_string())
                    }
                    _ => {
                        let why = format!("check header `{header}`: fairway sends only Host");
                        self.unsupported(comments, line, &why);
                    }
                }
            }
        }
        s.httpchk = Some(chk);
    }

    fn http_check(&mut self, line: &Line, s: &mut Settings, comments: &mut Vec<String>) {
        match line.word(1) {
            "send" => {
                let mut chk = s.httpchk.clone().unwrap_or(HttpChk {
                    method: "OPTIONS".into(),
                    path: "/".into(),
                    host: None,
                });
                let words = line.rest(2);
                let mut i = 0;
                while let Some(w) = words.get(i) {
                    let v = words.get(i + 1).map(|v| v.text.clone()).unwrap_or_default();
                    i += 2;
                    match w.text.as_str() {
                        "meth" => chk.method = v,
                        "uri" => chk.path = v,
                        "ver" => {}
                        "hdr" if v.eq_ignore_ascii_case("host") => {
                            chk.host = words.get(i).map(|h| h.text.clone());
                            i += 1;
                        }
                        other => {
                            let why = format!(
                                "`{other}`: fairway's check sends a method, a path and Host only"
                            );
                            self.unsupported(comments, line, &why);
                            if other == "hdr" {
                                i += 1;
                            }
                        }
                    }
                }
                s.httpchk = Some(chk);
            }
            "expect" => {
                let v = line.word(3);
                let ok = line.word(2) == "status"
                    && line.words.len() == 4
                    && v.split('-').count() <= 2
                    && v.split('-')
                        .all(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()));
                if ok {
                    s.expect_status = Some(v.to_string());
                } else {
                    self.unsupported(
                        comments,
                        line,
                        "fairway expects a status code or a range (`status 200-399`)",
                    );
                }
            }
            _ => self.unsupported(comments, line, "unsupported http-check directive"),
        }
    }

    fn cookie(&mut self, line: &Line, s: &mut Settings, comments: &mut Vec<String>) {
        let Some(name) = line.words.get(1) else {
            self.unsupported(comments, line, "missing cookie name");
            return;
        };
        let mut c = Cookie {
            name: name.text.clone(),
            indirect: false,
            nocache: false,
        };
        let mut insert = false;
        let words = line.rest(2);
        let mut i = 0;
        while let Some(w) = words.get(i) {
            i += 1;
            match w.text.as_str() {
                "insert" => insert = true,
                "indirect" => c.indirect = true,
                "nocache" => c.nocache = true,
                other => {
                    let takes_arg = matches!(other, "domain" | "maxidle" | "maxlife" | "attr");
                    let part = if takes_arg {
                        i += 1;
                        format!(
                            "cookie option {other} {}",
                            words.get(i - 1).map_or("", |w| w.text.as_str())
                        )
                    } else {
                        format!("cookie option {other}")
                    };
                    let why = match other {
                        "rewrite" | "prefix" => "fairway inserts its own cookie (mode insert) only",
                        _ => "fairway's cookie has no such attribute",
                    };
                    self.unsupported_part(comments, line.no, &part, why);
                }
            }
        }
        if insert {
            s.cookie = Some(c);
        } else {
            self.unsupported(
                comments,
                line,
                "fairway supports `cookie NAME insert [indirect] [nocache]`",
            );
        }
    }
}
