//! The backend oracle: hostile paths sent through fairway to real servers
//! that route — nginx (`location /admin`), a Python WSGI app (wsgiref,
//! `tests/backends/app.py`) and Tomcat 10 (an `/admin` servlet,
//! `tests/backends/Route.java`) — over HTTP/1.1, HTTP/1.0, h2c (prior
//! knowledge) and h2 over TLS. Each backend logs, per request, the route it
//! served; the request carries a unique `x-oracle` tag, and so does each
//! proxy's access-log line, with the path the rules saw.
//!
//! fairway runs `normalize_path: true` and `deny if { path -i -m beg
//! /admin }` with the defaults of `encoded_slashes` and `path_params`. The
//! invariant checked on every case, backend and protocol:
//!
//! * no request through fairway is served by a backend's `/admin` route;
//! * a request fairway did not forward was answered `403` or `400` and no
//!   backend logged it;
//! * a request fairway forwarded is routed by the backend to the path the
//!   rules matched (both percent-decoded, `;params` dropped from segments);
//! * baselines: `/admin` and `/ADMIN` are refused, `/x`,
//!   `/app;jsessionid=1/x` and `/admin/../x` reach the `other` route.
//!
//! HAProxy 2.6 runs the same rule in front of the same backends; its
//! outcome is reported, not asserted. The table (case × backend × protocol)
//! is written to `CARGO_TARGET_TMPDIR/backends.md` and printed;
//! `docs/conformance.md` ("Behind real backends") holds one run's copy.

#[path = "../common/mod.rs"]
mod common;
mod servers;

use common::read_response;
use servers::{Backend, Listeners, Logged, Served};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a case must give through fairway, beyond the invariant.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    /// Refused by fairway (`403` or `400`), on every backend.
    Refused,
    /// Forwarded, and served by the `other` route with `200`.
    Served,
    /// The invariant only.
    Invariant,
}

/// The cases: a path as sent, what fairway must do beyond the invariant.
const CASES: &[(&str, Expect)] = &[
    ("/admin", Expect::Refused),
    ("/ADMIN", Expect::Refused),
    ("/x", Expect::Served),
    ("/app;jsessionid=1/x", Expect::Served),
    ("/admin/../x", Expect::Served),
    ("//admin", Expect::Invariant),
    ("/./admin", Expect::Invariant),
    ("/x/../admin", Expect::Invariant),
    ("/%61dmin", Expect::Invariant),
    ("/%2e%2e/admin", Expect::Invariant),
    ("/x/%2e%2e/admin", Expect::Invariant),
    ("/%2Fadmin", Expect::Invariant),
    ("/%2fadmin", Expect::Invariant),
    ("/x/..%2fadmin", Expect::Invariant),
    ("/%2f%2fadmin", Expect::Invariant),
    ("/%5cadmin", Expect::Invariant),
    ("/;/admin", Expect::Invariant),
    ("/.;/admin", Expect::Invariant),
    ("/..;/admin", Expect::Invariant),
    ("/x/..;/admin", Expect::Invariant),
    ("/;x=1/admin", Expect::Invariant),
    ("/admin;jsessionid=1", Expect::Invariant),
    ("/admin%00", Expect::Invariant),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Proto {
    Http11,
    Http10,
    H2c,
    H2,
}

const PROTOS: [Proto; 4] = [Proto::Http11, Proto::Http10, Proto::H2c, Proto::H2];

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Http11 => "HTTP/1.1",
            Proto::Http10 => "HTTP/1.0",
            Proto::H2c => "h2c",
            Proto::H2 => "h2 (TLS)",
        }
    }
}

/// One request of the run.
#[derive(Clone, Copy)]
struct Job {
    /// 0: fairway, 1: HAProxy.
    proxy: usize,
    backend: usize,
    proto: Proto,
    case: usize,
}

impl Job {
    fn tag(&self) -> String {
        format!(
            "p{}b{}{:?}c{}",
            self.proxy, self.backend, self.proto, self.case
        )
    }
}

/// What the client got.
#[derive(Debug, Clone, Default)]
struct Answer {
    status: Option<u16>,
    /// The HTTP version curl spoke (`2` for h2), empty for HTTP/1.
    version: String,
    body: String,
    error: String,
}

/// A request over HTTP/1.x exactly as written, `Connection: close`.
fn http1(addr: SocketAddr, path: &str, version: &str, tag: &str) -> Answer {
    let run = || -> std::io::Result<common::Response> {
        let mut s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        let close = if version == "1.1" {
            "Connection: close\r\n"
        } else {
            ""
        };
        write!(
            s,
            "GET {path} HTTP/{version}\r\nHost: oracle.test\r\nx-oracle: {tag}\r\n{close}\r\n"
        )?;
        read_response(&mut BufReader::new(s), false)
    };
    match run() {
        Ok(r) => Answer {
            status: Some(r.status),
            body: r.body,
            ..Answer::default()
        },
        Err(e) => Answer {
            error: e.to_string(),
            ..Answer::default()
        },
    }
}

/// A request over HTTP/2 with curl (nghttp2): prior knowledge on `addr`,
/// or TLS to `oracle.test` resolved to `addr`, verified against `ca`.
fn h2(addr: SocketAddr, path: &str, tag: &str, tls: Option<&std::path::Path>) -> Answer {
    let header = format!("x-oracle: {tag}");
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "20", "--path-as-is", "-H", &header]);
    cmd.args(["-o", "-", "-w", "\n%{http_version} %{http_code}"]);
    let url = match tls {
        Some(ca) => {
            cmd.arg("--http2")
                .arg("--cacert")
                .arg(ca)
                .arg("--resolve")
                .arg(format!("oracle.test:{}:127.0.0.1", addr.port()));
            format!("https://oracle.test:{}{path}", addr.port())
        }
        None => {
            cmd.arg("--http2-prior-knowledge");
            format!("http://{addr}{path}")
        }
    };
    let out = cmd.arg(url).output().expect("run curl (scripts/setup.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (body, tail) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    let (version, code) = tail.split_once(' ').unwrap_or(("", ""));
    Answer {
        status: code.parse().ok().filter(|&c| c != 0),
        version: version.to_string(),
        body: body.to_string(),
        error: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    }
}

fn send(job: &Job, l: &Listeners, ca: &std::path::Path) -> Answer {
    let path = CASES[job.case].0;
    let tag = job.tag();
    match job.proto {
        Proto::Http11 => http1(l.plain, path, "1.1", &tag),
        Proto::Http10 => http1(l.plain, path, "1.0", &tag),
        Proto::H2c => h2(l.plain, path, &tag, None),
        Proto::H2 => h2(l.tls, path, &tag, Some(ca)),
    }
}

/// Everything known about one request.
#[derive(Debug, Clone)]
struct Outcome {
    answer: Answer,
    /// The proxy's access-log line.
    logged: Option<Logged>,
    /// The backend's log line.
    served: Option<Served>,
}

impl Outcome {
    /// The route the backend served: its log, or its answer's body.
    fn route(&self) -> Option<&str> {
        if let Some(r) = self.served.as_ref().and_then(|s| s.route.as_deref()) {
            return Some(r);
        }
        let body = self.answer.body.trim_start();
        ["admin", "other"]
            .into_iter()
            .find(|r| body.starts_with(&format!("route={r} ")))
    }

    /// Whether the proxy sent the request on.
    fn forwarded(&self) -> bool {
        self.served.is_some() || self.logged.as_ref().is_some_and(Logged::forwarded)
    }

    /// One cell of the table.
    fn cell(&self) -> String {
        let status = self
            .answer
            .status
            .map_or("no answer".to_string(), |s| s.to_string());
        if !self.forwarded() {
            return format!("refused {status}");
        }
        match (self.route(), &self.served) {
            (Some("admin"), s) => format!(
                "**ADMIN** `{}`",
                s.as_ref().map_or(String::new(), |s| shown(&s.path))
            ),
            (Some(r), Some(s)) => format!("{r} `{}`", shown(&s.path)),
            (Some(r), None) => r.to_string(),
            (None, _) => format!("server {status}"),
        }
    }
}

/// `path` for the table: control characters as `\xHH`.
fn shown(path: &str) -> String {
    path.chars()
        .map(|c| {
            if c.is_control() {
                format!("\\x{:02X}", u32::from(c))
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Percent-decoded, with `;params` dropped from each segment: the path a
/// router acts on, to compare the rules' path with the backend's.
fn routed_form(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = path
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                decoded.push(b);
                i += 3;
            }
            (b, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded)
        .split('/')
        .map(|seg| seg.split(';').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("/")
}

/// The invariant and the case's expectation on fairway's outcome.
fn check(case: usize, backend: &str, proto: Proto, o: &Outcome) -> Vec<String> {
    let (path, expect) = CASES[case];
    let at = format!("{path} → {backend} over {}", proto.name());
    let mut bad = Vec::new();
    let rules = o
        .logged
        .as_ref()
        .map_or("(no log line)", |l| l.path.as_str());
    let Some(status) = o.answer.status else {
        bad.push(format!("{at}: no answer ({})", o.answer.error));
        return bad;
    };
    if matches!(proto, Proto::H2c | Proto::H2) && o.answer.version != "2" {
        bad.push(format!("{at}: spoken over HTTP/{}", o.answer.version));
    }
    if o.route() == Some("admin") {
        bad.push(format!(
            "{at}: the backend served its /admin route (fairway answered {status}, the rules saw {rules}, the backend routed {:?})",
            o.served.as_ref().map(|s| &s.path)
        ));
    }
    if o.served.is_some() && o.logged.as_ref().is_some_and(|l| !l.forwarded()) {
        bad.push(format!(
            "{at}: fairway logged no server ({status}) but the backend logged the request"
        ));
    }
    if !o.forwarded() {
        if status != 403 && status != 400 {
            bad.push(format!("{at}: not forwarded but answered {status}"));
        }
    } else if let Some(s) = o
        .served
        .as_ref()
        .filter(|s| s.route.as_deref() == Some("other"))
    {
        if o.logged.is_none() {
            bad.push(format!("{at}: forwarded without an access-log line"));
        } else if routed_form(rules) != routed_form(&s.path) {
            bad.push(format!(
                "{at}: the rules matched {rules} but the backend routed {}",
                s.path
            ));
        }
    }
    match expect {
        Expect::Refused if o.forwarded() || !matches!(status, 400 | 403) => {
            bad.push(format!("{at}: must be refused, got {}", o.cell()));
        }
        Expect::Served if status != 200 || o.route() != Some("other") || o.served.is_none() => {
            bad.push(format!(
                "{at}: must reach the other route, got {}",
                o.cell()
            ));
        }
        _ => {}
    }
    bad
}

#[test]
fn hostile_paths_never_reach_a_real_backends_admin_route() {
    let started = Instant::now();
    // The servers start side by side; Tomcat takes the longest.
    let (backends, cert) = std::thread::scope(|s| {
        let t = s.spawn(servers::tomcat);
        let n = s.spawn(servers::nginx);
        let p = s.spawn(servers::python);
        let c = s.spawn(servers::cert);
        (
            [n.join().unwrap(), p.join().unwrap(), t.join().unwrap()],
            c.join().unwrap(),
        )
    });
    let refs: Vec<&Backend> = backends.iter().collect();
    let (fairway, fw_listeners) = servers::fairway(&refs, &cert);
    let (haproxy, ha_listeners) = servers::haproxy(&refs, &cert);
    let listeners = [fw_listeners, ha_listeners];
    let ready = started.elapsed();

    let mut jobs = Vec::new();
    for proxy in 0..2 {
        for backend in 0..backends.len() {
            for proto in PROTOS {
                for case in 0..CASES.len() {
                    jobs.push(Job {
                        proxy,
                        backend,
                        proto,
                        case,
                    });
                }
            }
        }
    }
    let next = AtomicUsize::new(0);
    let answers = Mutex::new(HashMap::new());
    std::thread::scope(|s| {
        for _ in 0..12 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let a = send(job, &listeners[job.proxy][job.backend], &cert.ca);
                answers.lock().unwrap().insert(job.tag(), a);
            });
        }
    });
    let mut answers = answers.into_inner().unwrap();
    // The logs are written once the answer is out: wait (up to 10 s) for a
    // backend line for every answer a backend wrote, and a proxy line for
    // every answer.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (served, logs) = loop {
        let served: Vec<HashMap<String, Served>> = backends.iter().map(Backend::served).collect();
        let logs = [
            servers::proxy_log(&fairway.log()),
            servers::proxy_log(&haproxy.log_lines(0).join("\n")),
        ];
        let complete = jobs.iter().all(|j| {
            let tag = j.tag();
            let a = &answers[&tag];
            (!a.body.starts_with("route=") || served[j.backend].contains_key(&tag))
                && (a.status.is_none() || logs[j.proxy].contains_key(&tag))
        });
        if complete || Instant::now() > deadline {
            break (served, logs);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut outcome = |job: &Job| {
        let tag = job.tag();
        Outcome {
            answer: answers.remove(&tag).unwrap_or_default(),
            logged: logs[job.proxy].get(&tag).cloned(),
            served: served[job.backend].get(&tag).cloned(),
        }
    };
    let outcomes: Vec<(Job, Outcome)> = jobs.iter().map(|j| (*j, outcome(j))).collect();
    let elapsed = started.elapsed();

    let mut failures = Vec::new();
    for (job, o) in outcomes.iter().filter(|(j, _)| j.proxy == 0) {
        failures.extend(check(job.case, backends[job.backend].name, job.proto, o));
    }
    let table = report(&backends, &outcomes, ready, elapsed, failures.len());
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("backends.md");
    std::fs::write(&path, &table).unwrap();
    println!("{table}\nreport: {}", path.display());
    assert!(
        failures.is_empty(),
        "{} of {} fairway requests break the invariant:\n{}\nfairway log:\n{}",
        failures.len(),
        outcomes.len() / 2,
        failures.join("\n"),
        fairway
            .log()
            .lines()
            .filter(|l| !l.contains("oracle tag="))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The outcomes of one proxy for one case and backend, by protocol:
/// `cell` once when every protocol gave the same, else per protocol.
fn cells(outcomes: &[&Outcome]) -> String {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for (o, proto) in outcomes.iter().zip(PROTOS) {
        let cell = o.cell();
        match groups.iter_mut().find(|(c, _)| *c == cell) {
            Some((_, protos)) => protos.push(proto.name()),
            None => groups.push((cell, vec![proto.name()])),
        }
    }
    if groups.len() == 1 {
        return groups.remove(0).0;
    }
    groups
        .iter()
        .map(|(c, p)| format!("{}: {c}", p.join(", ")))
        .collect::<Vec<_>>()
        .join("<br>")
}

fn report(
    backends: &[Backend],
    outcomes: &[(Job, Outcome)],
    ready: Duration,
    elapsed: Duration,
    failures: usize,
) -> String {
    let admin = |proxy: usize| {
        outcomes
            .iter()
            .filter(|(j, o)| j.proxy == proxy && o.route() == Some("admin"))
            .count()
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} cases × {} backends × {} protocols through fairway and HAProxy: {} requests in {:.1} s (servers ready after {:.1} s); {failures} invariant failures. Served by a backend's /admin route: {} of {} through fairway, {} of {} through HAProxy.\n",
        CASES.len(),
        backends.len(),
        PROTOS.len(),
        outcomes.len(),
        elapsed.as_secs_f64(),
        ready.as_secs_f64(),
        admin(0),
        outcomes.len() / 2,
        admin(1),
        outcomes.len() / 2,
    );
    let _ = writeln!(
        out,
        "Cells: *refused S*: the proxy answered S and no server saw the request; *other `P`* or ***ADMIN*** `P`: the backend served its other or its /admin route, on the path P as it resolved it; *server S*: forwarded, and the server refused it itself. One value when the four protocols agree, else one per protocol.\n"
    );
    let _ = writeln!(
        out,
        "| case | backend | fairway's `%[path]` | fairway | HAProxy |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (case, (path, _)) in CASES.iter().enumerate() {
        for (b, backend) in backends.iter().enumerate() {
            let pick = |proxy: usize| -> Vec<&Outcome> {
                PROTOS
                    .iter()
                    .filter_map(|p| {
                        outcomes
                            .iter()
                            .find(|(j, _)| {
                                j.proxy == proxy
                                    && j.backend == b
                                    && j.case == case
                                    && j.proto == *p
                            })
                            .map(|(_, o)| o)
                    })
                    .collect()
            };
            let (fw, ha) = (pick(0), pick(1));
            let rules = fw
                .first()
                .and_then(|o| o.logged.as_ref())
                .map_or("-".to_string(), |l| format!("`{}`", l.path));
            let _ = writeln!(
                out,
                "| `{path}` | {} | {rules} | {} | {} |",
                backend.name,
                cells(&fw),
                cells(&ha)
            );
        }
    }
    out
}
