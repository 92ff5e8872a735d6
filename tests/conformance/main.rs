//! The differential HTTP/1 conformance suite: every case of `corpus.txt` is
//! sent as raw bytes to fairway, HAProxy and nginx, each in front of a
//! recording upstream, on the seed-003 rule (`deny if { path -i -m beg
//! /admin }`). fairway must meet each case's expectation and the edge
//! invariant on every case: the method and path the rules saw (its access
//! log) are what the server received, a denied path never reaches it, no
//! case hangs. Where HAProxy's or nginx's outcome (first status, whether
//! the server got a complete request) differs from fairway's, the case has
//! a note stating the peer's outcome and why, and the note is checked
//! against what the peer did (`corpus.rs`).
//!
//! The report (the counts, every outcome of the three proxies) is written
//! to `CARGO_TARGET_TMPDIR/conformance.md`; `docs/conformance.md` holds a
//! copy, and its counts block must be the corpus's. `fuzz.rs` is the
//! differential fuzzer, `fuzz_h2.rs` its HTTP/2 counterpart.

mod corpus;
mod fuzz;
mod fuzz_h2;
mod peers;
#[allow(dead_code)]
#[path = "../common/process.rs"]
mod process;

use corpus::{Case, Note, Status, Verdict};
use peers::{exchange, Proxy, Received, Response};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// What one proxy did with one case.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub responses: Vec<Response>,
    pub open: bool,
    pub hung: bool,
    pub refused: bool,
    pub received: Vec<Received>,
    /// fairway's access-log lines for the case.
    pub log: Vec<String>,
}

impl Outcome {
    pub fn status(&self) -> Option<u16> {
        self.responses.first().map(|r| r.status)
    }

    /// What the peer notes compare: the first status and whether the
    /// server received a complete request.
    pub fn verdict(&self) -> Verdict {
        Verdict {
            status: match self.status() {
                Some(s) => Status::Code(s),
                None if self.hung => Status::Hung,
                None => Status::None,
            },
            reached: self.received.iter().any(|r| r.complete),
        }
    }

    /// Statuses, `up=N` (requests the server got, whole or not), and how
    /// the connection ended.
    pub fn summary(&self) -> String {
        let statuses: Vec<String> = self
            .responses
            .iter()
            .map(|r| r.status.to_string())
            .collect();
        format!(
            "{} up={} {}{}",
            if statuses.is_empty() {
                "-".to_string()
            } else {
                statuses.join(",")
            },
            self.received.len(),
            if self.open { "open" } else { "close" },
            if self.hung {
                " HUNG"
            } else if self.refused {
                " REFUSED"
            } else {
                ""
            }
        )
    }
}

/// Runs `bytes` through `proxy` with the upstream answering `upstream`.
pub fn run_case(
    proxy: &Proxy,
    bytes: &[u8],
    upstream: &[u8],
    upstream_close: bool,
    want: usize,
    heads: &[bool],
) -> Outcome {
    proxy.upstream.reset(upstream, upstream_close);
    let log_before = proxy.log_text().len();
    let ex = exchange(proxy.addr, bytes, want, heads);
    // The server saw everything it will see once the answers are in; wait
    // until what it is still reading (a closing connection's last request)
    // is recorded.
    proxy.upstream.settle();
    let received = proxy.upstream.received();
    let mut log = Vec::new();
    if proxy.name == "fairway" {
        // Access-log lines are written after the response: wait for one per
        // answered request (briefly), then take them.
        let deadline = Instant::now() + Duration::from_millis(500);
        loop {
            let text = proxy.log_text();
            log = text
                .get(log_before..)
                .unwrap_or("")
                .lines()
                .filter(|l| l.contains("fairway::access"))
                .map(str::to_string)
                .collect();
            if log.len() >= received.len() || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Outcome {
        responses: ex.responses,
        open: ex.open,
        hung: ex.hung,
        refused: ex.refused,
        received,
        log,
    }
}

/// The path a server would act on: percent-decoded, dot segments and
/// repeated slashes removed, lowercased.
pub fn effective_path(target: &str) -> String {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let bytes = path.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            // %2F and %5C stay data (RFC 3986 §2.2), as fairway's normalizer
            // keeps them: a server that decodes them sees another path.
            if let Ok(b) = u8::from_str_radix(&path[i + 1..i + 3], 16) {
                if b != b'/' && b != b'\\' {
                    decoded.push(b);
                    i += 3;
                    continue;
                }
            }
        }
        decoded.push(bytes[i]);
        i += 1;
    }
    let text = String::from_utf8_lossy(&decoded)
        .replace('\\', "/")
        .to_ascii_lowercase();
    let mut segs: Vec<&str> = Vec::new();
    for s in text.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    format!("/{}", segs.join("/"))
}

/// The edge invariant on one fairway outcome; the problems found.
pub fn invariant(o: &Outcome) -> Vec<String> {
    let mut bad = Vec::new();
    if o.hung {
        bad.push("no answer and no close within 6 s".to_string());
    }
    if o.refused {
        bad.push("the connection was refused".to_string());
    }
    for r in &o.received {
        let target = r.target();
        if !(target.starts_with('/') || target == "*") {
            bad.push(format!(
                "the server received a target that is not origin-form: {:?}",
                r.line()
            ));
        }
        if effective_path(&target).starts_with("/admin") {
            bad.push(format!("a denied path reached the server: {:?}", r.line()));
        }
        // What the rules saw (the access log) is what the server received.
        let logged = format!("method={} uri=\"{}\"", r.method(), target);
        if !o.log.iter().any(|l| l.contains(&logged)) {
            bad.push(format!(
                "the server received {:?} but the access log shows {:?}",
                r.line(),
                o.log
            ));
        }
    }
    for r in &o.responses {
        if r.header("server").is_some_and(|s| s.contains("Pingora")) {
            bad.push("a response says Server: Pingora".to_string());
        }
    }
    bad
}

/// Whether `n` is one of the `|`-separated numbers of `v`.
fn one_of(v: &str, n: usize) -> bool {
    v.split('|').any(|x| x.parse() == Ok(n))
}

/// The problems with fairway's outcome against `checks` (the case's
/// expectation, or what a known bug makes of it) and the edge invariant.
fn check(case: &Case, checks: &[(String, String)], o: &Outcome) -> Vec<String> {
    let mut bad = invariant(o);
    // One request answered 403: the server never saw it. (Checked per
    // case, not in `invariant`: a pipelined request after a 403 may
    // rightly reach the server.)
    if o.responses.len() == 1 && o.status() == Some(403) && !o.received.is_empty() {
        bad.push("answered 403 but the server was reached".to_string());
    }
    for (k, v) in checks {
        let ok = match k.as_str() {
            "status" => match (v.as_str(), o.status()) {
                (_, None) => v.split('|').any(|x| x == "none"),
                (_, Some(s)) => one_of(v, usize::from(s)),
            },
            "responses" => one_of(v, o.responses.len()),
            "upstream" => one_of(v, o.received.len()),
            "complete" => one_of(v, o.received.iter().filter(|r| r.complete).count()),
            "target" => o
                .received
                .first()
                .is_some_and(|r| r.target().as_bytes() == corpus::unescape(v)),
            "conn" => (v == "open") == o.open,
            "up-has" => {
                let needle = corpus::unescape(&v.to_ascii_lowercase());
                o.received
                    .iter()
                    .any(|r| peers::find(&r.raw.to_ascii_lowercase(), &needle).is_some())
            }
            "up-lacks" => {
                let needle = corpus::unescape(&v.to_ascii_lowercase());
                o.received
                    .iter()
                    .all(|r| peers::find(&r.raw.to_ascii_lowercase(), &needle).is_none())
            }
            "resp-has" | "resp-lacks" => {
                let needle = String::from_utf8_lossy(&corpus::unescape(v)).to_ascii_lowercase();
                let has = o
                    .responses
                    .first()
                    .is_some_and(|r| r.head.to_ascii_lowercase().contains(&needle));
                has == (k == "resp-has")
            }
            "body" => o
                .responses
                .first()
                .is_some_and(|r| r.body == corpus::unescape(v)),
            other => panic!("case {}: unknown expectation `{other}`", case.name),
        };
        if !ok {
            bad.push(format!("expected {k}={v}"));
        }
    }
    bad
}

fn outcomes(proxy: &Proxy, cases: &[Case]) -> Vec<Outcome> {
    cases
        .iter()
        .map(|c| {
            run_case(
                proxy,
                &c.send,
                c.upstream.as_deref().unwrap_or(peers::OK),
                c.upstream_close,
                c.responses(),
                &c.heads(),
            )
        })
        .collect()
}

/// The problem with a peer's outcome on a case, if any: it differs from
/// fairway's without a note, or it is not what the note states, or the
/// note states fairway's own outcome.
fn peer_check(
    case: &Case,
    peer: &str,
    note: Option<&Note>,
    seen: &Outcome,
    fw: &Outcome,
) -> Option<String> {
    let (got, ours) = (seen.verdict(), fw.verdict());
    let at = |line: usize| format!("corpus.txt:{line} {}", case.name);
    let Some(note) = note else {
        return (got != ours).then(|| {
            format!(
                "{}: fairway {ours} ({}), {peer} {got} ({}): they differ and the case has no note; add `{peer}: {got} — <why>`",
                at(case.line),
                fw.summary(),
                seen.summary()
            )
        });
    };
    match note.parse() {
        Err(e) => Some(format!(
            "{}: the `{peer}:` note: {e}; {peer} did `{got}` ({}), fairway `{ours}`",
            at(note.line),
            seen.summary()
        )),
        Ok((said, _)) if said != got => Some(format!(
            "{}: the `{peer}:` note says `{said}` but {peer} did `{got}` ({}); fairway did `{ours}`",
            at(note.line),
            seen.summary()
        )),
        Ok((said, _)) if said == ours => Some(format!(
            "{}: the `{peer}:` note says `{said}`, which is what fairway did too: no difference to explain; remove the note",
            at(note.line)
        )),
        Ok(_) => None,
    }
}

#[test]
fn conformance_corpus_against_haproxy_and_nginx() {
    let text = include_str!("corpus.txt");
    let cases = corpus::parse(text);
    assert!(cases.len() >= 150, "the corpus has {} cases", cases.len());
    let mut names = std::collections::HashSet::new();
    for c in &cases {
        assert!(names.insert(c.name.clone()), "case name {} repeats", c.name);
    }

    let started = Instant::now();
    let (fw, ha, ng) = std::thread::scope(|s| {
        let f = s.spawn(|| {
            let mut p = peers::fairway(env!("CARGO_BIN_EXE_fairway"), "corpus");
            let o = outcomes(&p, &cases);
            let alive = p.alive();
            (o, p.log_text(), alive)
        });
        let h = s.spawn(|| outcomes(&peers::haproxy("corpus"), &cases));
        let n = s.spawn(|| outcomes(&peers::nginx("corpus"), &cases));
        (f.join().unwrap(), h.join().unwrap(), n.join().unwrap())
    });
    let (fw, fw_log, alive) = fw;
    assert!(alive, "fairway died during the corpus: {fw_log}");
    let elapsed = started.elapsed();

    // The references ran: most cases got an answer from each.
    for (name, o) in [("haproxy", &ha), ("nginx", &ng)] {
        let answered = o.iter().filter(|o| o.status().is_some()).count();
        assert!(
            answered * 2 > cases.len(),
            "{name} answered only {answered} cases"
        );
    }

    let mut failures = Vec::new();
    let mut peers = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let held = c.held_to();
        let bad = check(c, &held, &fw[i]);
        if !bad.is_empty() {
            failures.push(format!(
                "corpus.txt:{} {} ({}): {}\n    fairway: {}\n    haproxy: {}\n    nginx:   {}\n    received: {:?}",
                c.line,
                c.name,
                c.rfc,
                bad.join("; "),
                fw[i].summary(),
                ha[i].summary(),
                ng[i].summary(),
                fw[i].received.iter().map(|r| String::from_utf8_lossy(&r.raw).into_owned()).collect::<Vec<_>>()
            ));
        } else if let Some((_, why)) = &c.bug {
            if check(c, &c.expect, &fw[i]).is_empty() {
                failures.push(format!(
                    "corpus.txt:{} {}: fairway now meets `expect` ({}): the known bug ({why}) is fixed; remove the `bug:` line",
                    c.line,
                    c.name,
                    fw[i].summary()
                ));
            }
        }
        peers.extend(peer_check(c, "haproxy", c.haproxy.as_ref(), &ha[i], &fw[i]));
        peers.extend(peer_check(c, "nginx", c.nginx.as_ref(), &ng[i], &fw[i]));
    }

    let counts = counts(&cases);
    let report = format!("{counts}\n{}", report(&cases, &fw, &ha, &ng, elapsed));
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance.md");
    std::fs::write(&path, &report).unwrap();
    println!("report: {}", path.display());
    // The counts docs/conformance.md quotes are the corpus's.
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/conformance.md");
    let docs_text = std::fs::read_to_string(&docs).unwrap_or_default();
    if !docs_text.contains(&counts) {
        failures.push(format!(
            "docs/conformance.md does not hold the corpus's counts: replace its block from `{COUNTS_BEGIN}` to `{COUNTS_END}` with the one at the top of {}",
            path.display()
        ));
    }
    // Client mistakes are logged at info, never at error.
    // Upstream failures (the `response` cases) may be errors; what a
    // client sends is not.
    for l in fw_log.lines().filter(|l| l.contains(" ERROR ")) {
        if !l.contains("Upstream") {
            failures.push(format!("logged at ERROR for client input: {l}"));
        }
    }
    assert!(
        failures.is_empty() && peers.is_empty(),
        "{} of {} cases failed; {} peer outcomes differ from the notes:\n{}\n{}",
        failures.len(),
        cases.len(),
        peers.len(),
        failures.join("\n"),
        peers.join("\n")
    );
}

const COUNTS_BEGIN: &str =
    "<!-- counts: generated by tests/conformance from corpus.txt; the test checks them -->";
const COUNTS_END: &str = "<!-- end of counts -->";

/// The corpus's counts, as `docs/conformance.md` quotes them: cases and
/// families, and per family the cases where HAProxy's and nginx's outcome
/// differs from fairway's (each has a checked note) and fairway's known
/// bugs.
fn counts(cases: &[Case]) -> String {
    let mut families: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    for c in cases {
        let e = families.entry(c.family.as_str()).or_default();
        e[0] += 1;
        e[1] += usize::from(c.haproxy.is_some());
        e[2] += usize::from(c.nginx.is_some());
        e[3] += usize::from(c.bug.is_some());
    }
    let mut all = [0; 4];
    for v in families.values() {
        for (a, b) in all.iter_mut().zip(v) {
            *a += b;
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "{COUNTS_BEGIN}");
    let _ = writeln!(
        out,
        "**{} cases** in {} families. HAProxy's outcome (first status, server reached) differs from fairway's in {} cases, nginx's in {}: each has a note stating the peer's outcome and why, checked on every run. fairway's known bugs (`bug:` lines): {}.\n",
        all[0],
        families.len(),
        all[1],
        all[2],
        all[3]
    );
    let _ = writeln!(
        out,
        "| family | cases | HAProxy differs | nginx differs | fairway bugs |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for (f, [n, h, g, b]) in &families {
        let _ = writeln!(out, "| {f} | {n} | {h} | {g} | {b} |");
    }
    let _ = writeln!(
        out,
        "| all | {} | {} | {} | {} |",
        all[0], all[1], all[2], all[3]
    );
    let _ = writeln!(out, "{COUNTS_END}");
    out
}

/// The reason of a note or a bug line, for the report.
fn why(note: Option<&Note>) -> String {
    note.and_then(|n| n.parse().ok())
        .map(|(_, why)| why.replace('|', "\\|"))
        .unwrap_or_default()
}

fn report(
    cases: &[Case],
    fw: &[Outcome],
    ha: &[Outcome],
    ng: &[Outcome],
    elapsed: Duration,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "One run: {} cases in {:.1} s. Outcome: first status (`-`: none), requests the server received, connection open/close after the answers.\n",
        cases.len(),
        elapsed.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "| case | family | fairway | HAProxy | nginx | RFC | notes |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for (i, c) in cases.iter().enumerate() {
        let mut notes = Vec::new();
        if c.haproxy.is_some() {
            notes.push(format!("HAProxy: {}", why(c.haproxy.as_ref())));
        }
        if c.nginx.is_some() {
            notes.push(format!("nginx: {}", why(c.nginx.as_ref())));
        }
        if let Some((_, b)) = &c.bug {
            notes.push(format!("**fairway bug**: {}", b.replace('|', "\\|")));
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            c.name,
            c.family,
            fw[i].summary(),
            ha[i].summary(),
            ng[i].summary(),
            c.rfc.replace('|', "\\|"),
            notes.join("<br>")
        );
    }
    out
}

/// How a peer note is read: the outcome first, then a dash and why; a
/// note in the old free-text form is refused with the form to use.
#[test]
fn peer_notes_state_an_outcome_and_a_reason() {
    let note = |text: &str| Note {
        line: 1,
        text: text.to_string(),
    };
    let forwards = note("200 reached — HAProxy forwards it");
    let (v, why) = forwards.parse().unwrap();
    assert_eq!(v.to_string(), "200 reached");
    assert_eq!(why, "HAProxy forwards it");
    let (v, _) = note("hung not-reached -- nginx waits 60 s")
        .parse()
        .unwrap();
    assert_eq!(
        v,
        Verdict {
            status: Status::Hung,
            reached: false
        }
    );
    assert_eq!(
        note("none reached — HTTP/0.9").parse().unwrap().0.status,
        Status::None
    );
    for bad in [
        "HAProxy forwards `*admin` as a target",
        "200 — no reached word",
        "200 forwarded — a wrong word",
        "2000 reached — not a status",
        "403 not-reached —",
    ] {
        let err = note(bad).parse().unwrap_err();
        assert!(
            err.contains("PEER: STATUS reached|not-reached — why"),
            "{bad}: {err}"
        );
    }
}
