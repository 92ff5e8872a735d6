//! The differential fuzzer: requests built from a grammar of the tricky
//! parts of HTTP/1 (methods, target forms and path encodings, versions,
//! Host, Content-Length and Transfer-Encoding and their obfuscations,
//! bodies, line endings), then mutated at the byte level, sent to fairway
//! and to HAProxy in front of recording upstreams.
//!
//! It fails on what must never happen to fairway: a crash, a hang, a
//! denied path or a non-origin-form target reaching the server, or a
//! server receiving a method and target other than what the rules saw
//! (the access log). Where fairway and HAProxy answer differently, the
//! case is counted and the first examples printed; that is information,
//! not failure (the corpus explains the kinds of difference).
//!
//! `FAIRWAY_FUZZ_SECONDS` (default 30) bounds the run, `FAIRWAY_FUZZ_CASES`
//! (default 2000) the number of cases, `FAIRWAY_FUZZ_SEED` picks the
//! sequence (default: fixed, so CI runs the same cases every time).

use super::{invariant, run_case, Outcome};
use crate::peers;
use std::time::{Duration, Instant};

/// xorshift64*: small, seeded, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const METHODS: &[&str] = &[
    "GET", "GET", "GET", "POST", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "get", "G\tET",
    "CONNECT", "FOO",
];
const TARGETS: &[&str] = &[
    "/",
    "/x",
    "/admin",
    "/ADMIN",
    "//admin",
    "/./admin",
    "/x/../admin",
    "/%61dmin",
    "/%2e%2e/admin",
    "/%2fadmin",
    "/admin/../x",
    "admin",
    "./admin",
    "%2fadmin",
    "\\admin",
    "/\\admin",
    "*",
    "*admin",
    "http://a/admin",
    "http://a/x",
    "HTTP://A/ADMIN",
    "http://u@a/admin",
    "a:80",
    "/adm%69n?x=1",
    "/x?/admin",
    "/admin;x",
    "/x#y",
    "/%c0%afadmin",
    "/ad min",
    "/%00admin",
    "/..%2fadmin",
    "/.%2e/admin",
];
const VERSIONS: &[&str] = &[
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.0",
    "http/1.1",
    "HTTP/1.2",
    "HTTP/2.0",
    "HTTP/1.1 x",
];
const TE: &[&str] = &[
    "chunked",
    "chunked",
    "CHUNKED",
    " chunked",
    "\tchunked",
    "chunked ",
    "xchunked",
    "chunked, chunked",
    "gzip, chunked",
    "chunked, gzip",
    "identity",
    "\"chunked\"",
    "chunk",
    "\x0bchunked",
    "chunked\0",
];
const TE_NAMES: &[&str] = &[
    "Transfer-Encoding",
    "transfer-encoding",
    "Transfer-Encoding ",
    "Transfer_Encoding",
    " Transfer-Encoding",
];
const CL_NAMES: &[&str] = &[
    "Content-Length",
    "content-length",
    "Content-Length ",
    " Content-Length",
];
const EXTRA: &[&str] = &[
    "X-A: 1",
    "Connection: close",
    "Connection: keep-alive",
    "Expect: 100-continue",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "X-B: a\r\n b",
    "X-C: a\0b",
    "X-D : 1",
    ": x",
    "Trailer: X-T",
    "Keep-Alive: 5",
    "X-E:",
];

/// One generated request.
fn generate(rng: &mut Rng) -> Vec<u8> {
    let eol = if rng.chance(5) { "\n" } else { "\r\n" };
    let method = rng.pick(METHODS);
    let target = rng.pick(TARGETS);
    let version = rng.pick(VERSIONS);
    let sep = if rng.chance(4) { "  " } else { " " };
    let mut out = format!("{method}{sep}{target} {version}{eol}");
    let hosts = match rng.below(10) {
        0 => 0,
        1 => 2,
        _ => 1,
    };
    for _ in 0..hosts {
        let host = rng.pick(&["a", "a", "b", "a:x", "a b", "[::1]:80", "u@a", ""]);
        out.push_str(&format!("Host: {host}{eol}"));
    }
    for _ in 0..rng.below(3) {
        out.push_str(rng.pick(EXTRA));
        out.push_str(eol);
    }
    let body = "hello";
    let framing = rng.below(6);
    let mut payload = String::new();
    match framing {
        // No body.
        0 | 1 => {}
        // Content-Length, right or wrong.
        2 => {
            let len = if rng.chance(80) {
                body.len().to_string()
            } else {
                rng.pick(&[
                    "4",
                    "6",
                    "5, 5",
                    "5, 6",
                    "+5",
                    "-1",
                    "0x5",
                    "abc",
                    "",
                    "99999999999999999999",
                ])
                .to_string()
            };
            out.push_str(&format!("{}: {len}{eol}", rng.pick(CL_NAMES)));
            if rng.chance(15) {
                out.push_str(&format!("Content-Length: {}{eol}", rng.pick(&["5", "6"])));
            }
            payload.push_str(body);
        }
        // Chunked, with tricks.
        3 | 4 => {
            out.push_str(&format!("{}: {}{eol}", rng.pick(TE_NAMES), rng.pick(TE)));
            let size = if rng.chance(85) {
                "5"
            } else {
                rng.pick(&[
                    "05",
                    "5 ",
                    " 5",
                    "5;x=1",
                    "5;\n",
                    "0x5",
                    "-5",
                    "6",
                    "4",
                    "FFFFFFFFFFFFFFFFF5",
                ])
            };
            payload.push_str(&format!("{size}\r\n{body}\r\n0\r\n"));
            if rng.chance(10) {
                payload.push_str("X-T: 1\r\n");
            }
            payload.push_str("\r\n");
        }
        // Both.
        _ => {
            out.push_str(&format!(
                "Content-Length: {}{eol}",
                rng.pick(&["5", "10", "0"])
            ));
            out.push_str(&format!("Transfer-Encoding: {}{eol}", rng.pick(TE)));
            payload.push_str("5\r\nhello\r\n0\r\n\r\n");
        }
    }
    out.push_str(eol);
    out.push_str(&payload);
    // Sometimes a pipelined request hides behind it.
    if rng.chance(10) {
        out.push_str(&format!(
            "GET {} HTTP/1.1\r\nHost: a\r\n\r\n",
            rng.pick(&["/admin", "/x", "//admin"])
        ));
    }
    let mut bytes = out.into_bytes();
    // Byte-level mutations.
    for _ in 0..rng.below(3) {
        if bytes.is_empty() || !rng.chance(35) {
            continue;
        }
        let at = rng.below(bytes.len());
        match rng.below(4) {
            0 => {
                bytes.remove(at);
            }
            1 => bytes.insert(
                at,
                *[b' ', b'\t', b'\r', b'\n', 0, b':', b'/', b'%']
                    .get(rng.below(8))
                    .unwrap(),
            ),
            2 => bytes[at] ^= 1 << rng.below(7),
            _ => {
                let b = bytes[at];
                bytes.insert(at, b);
            }
        }
    }
    bytes
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs up to `cases` generated requests through `proxy` within `budget`.
fn run(proxy: &peers::Proxy, seed: u64, cases: u64, budget: Duration) -> Vec<(Vec<u8>, Outcome)> {
    let mut rng = Rng(seed | 1);
    let start = Instant::now();
    let mut out = Vec::new();
    for _ in 0..cases {
        if start.elapsed() > budget {
            break;
        }
        let req = generate(&mut rng);
        // Read as many answers as requests were sent, at most; no probe of
        // the connection afterwards (speed).
        let want = req
            .windows(8)
            .filter(|w| w == b" HTTP/1.")
            .count()
            .clamp(1, 2);
        let o = run_case(
            proxy,
            &req,
            peers::OK,
            false,
            want,
            &[req.starts_with(b"HEAD")],
        );
        out.push((req, o));
    }
    out
}

#[test]
fn differential_fuzz_against_haproxy() {
    let seed = env_or("FAIRWAY_FUZZ_SEED", 0x5eed_f00d);
    let cases = env_or("FAIRWAY_FUZZ_CASES", 2000);
    let budget = Duration::from_secs(env_or("FAIRWAY_FUZZ_SECONDS", 30));
    let started = Instant::now();
    let (fw, ha) = std::thread::scope(|s| {
        let f = s.spawn(|| {
            let mut p = peers::fairway(env!("CARGO_BIN_EXE_fairway"), "fuzz");
            let o = run(&p, seed, cases, budget);
            let alive = p.alive();
            (o, alive, p.log_text())
        });
        let h = s.spawn(|| {
            let p = peers::haproxy("fuzz");
            // The same sequence: the same seed and count as fairway's run
            // reached is not known yet, so HAProxy gets the same budget.
            run(&p, seed, cases, budget)
        });
        (f.join().unwrap(), h.join().unwrap())
    });
    let (fw, alive, log) = fw;
    assert!(alive, "fairway died during the fuzz run: {log}");
    let n = fw.len().min(ha.len());
    let mut violations = Vec::new();
    let (mut differ, mut fw_forwarded_ha_refused, mut fw_refused_ha_forwarded) = (0, 0, 0);
    let mut examples = Vec::new();
    for (i, (req, o)) in fw.iter().enumerate() {
        for v in invariant(o) {
            violations.push(format!("case {i} {:?}: {v}", String::from_utf8_lossy(req)));
        }
        let Some((_, h)) = ha.get(i) else { continue };
        if o.status() != h.status() || o.received.is_empty() != h.received.is_empty() {
            differ += 1;
            match (o.received.is_empty(), h.received.is_empty()) {
                (false, true) => fw_forwarded_ha_refused += 1,
                (true, false) => fw_refused_ha_forwarded += 1,
                _ => {}
            }
            if examples.len() < 12 && !o.received.is_empty() && h.received.is_empty() {
                examples.push(format!(
                    "  {:?}\n    fairway {} / haproxy {}",
                    String::from_utf8_lossy(req),
                    o.summary(),
                    h.summary()
                ));
            }
        }
    }
    println!(
        "fuzz: seed {seed:#x}, {} cases through fairway ({} through HAProxy) in {:.1} s; {} invariant violations; \
         {differ} of {n} answered differently from HAProxy ({fw_forwarded_ha_refused} forwarded by fairway only, \
         {fw_refused_ha_forwarded} by HAProxy only)",
        fw.len(),
        ha.len(),
        started.elapsed().as_secs_f64(),
        violations.len()
    );
    if !examples.is_empty() {
        println!(
            "forwarded by fairway, refused by HAProxy (first ones):\n{}",
            examples.join("\n")
        );
    }
    assert!(
        fw.len() >= 100 || budget < Duration::from_secs(10),
        "only {} cases ran",
        fw.len()
    );
    assert!(
        violations.is_empty(),
        "{} violations:\n{}",
        violations.len(),
        violations
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
