//! The corpus format (`corpus.txt`): one case a block.
//!
//! ```text
//! == name
//! family: target-form
//! rfc: RFC 9112 §3.2: a target that is no form of the grammar is refused
//! expect: status=400 upstream=0 conn=close
//! haproxy: 200 reached — HAProxy forwards the target as received
//! nginx: 400 not-reached — (only where nginx differs from fairway)
//! send: GET admin HTTP/1.1\r\nHost: a\r\n\r\n
//! upstream: HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
//! upstream-close: yes
//! ```
//!
//! `send` and `upstream` may repeat (the pieces are joined) and use the
//! escapes `\r \n \t \s (space) \0 \\ \xHH` and `{N*text}` (`text`, itself
//! escaped, N times); so may the values of `expect`, which may hold spaces.
//!
//! `expect` holds space-separated `key=value` checks on fairway:
//! `status=400` (`none`: closed without an answer), `responses=N` (how
//! many to read, default 1), `upstream=N` (requests the server received,
//! complete or not), `complete=N` (complete ones), `target=/x` (the first
//! one's target), `conn=open|close`, `up-has=TEXT` / `up-lacks=TEXT` (in
//! what the server received), `resp-has=TEXT` / `resp-lacks=TEXT` (in the
//! first response's head, case-insensitive), `body=TEXT`. A value may list
//! alternatives (`400|501`); a `status` with alternatives or `none` needs a
//! `status-note:` line naming the RFC section that allows each (or why no
//! answer is right).
//!
//! **Peer notes.** Each case is also sent to HAProxy and nginx, and each
//! proxy's *outcome* is compared with fairway's: the first status (`none`:
//! the connection closed without one; `hung`: neither an answer nor a close
//! within the client's 6 s) and whether the server received a complete
//! request (`reached` / `not-reached`). Where a peer's outcome differs from
//! fairway's, the case carries a note for that peer, written
//! `haproxy: OUTCOME — why` (or `nginx:`), e.g. `haproxy: 200 reached —
//! HAProxy forwards *admin`; `--` may stand for the dash. The test fails
//! when a peer's observed outcome is not its note's, when a peer differs
//! from fairway without a note, and when a note states fairway's own
//! outcome (no difference to explain).
//!
//! **Known bugs.** `bug: key=value ... — why` records where fairway does
//! not do what `expect` (the RFC) says: fairway is then held to `expect`
//! with these values replaced, so the test passes until the bug is fixed,
//! and then fails asking for the `bug:` line to be removed.

use std::fmt;

#[derive(Debug, Clone, Default)]
pub struct Case {
    pub name: String,
    pub line: usize,
    pub family: String,
    pub rfc: String,
    pub expect: Vec<(String, String)>,
    /// Why `status` accepts several values or none.
    pub status_note: Option<String>,
    /// fairway's known deviation from `expect`: the values it is held to
    /// instead, and why.
    pub bug: Option<(Vec<(String, String)>, String)>,
    pub haproxy: Option<Note>,
    pub nginx: Option<Note>,
    pub send: Vec<u8>,
    pub upstream: Option<Vec<u8>>,
    pub upstream_close: bool,
}

/// A `haproxy:` or `nginx:` line as written.
#[derive(Debug, Clone)]
pub struct Note {
    pub line: usize,
    pub text: String,
}

/// A proxy's first status: a code, or no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Code(u16),
    /// The connection closed without an answer.
    None,
    /// Neither an answer nor a close within the client's time limit.
    Hung,
}

/// What the peer notes state and the test compares: the first status and
/// whether the server received a complete request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub status: Status,
    pub reached: bool,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Status::Code(c) => write!(f, "{c}")?,
            Status::None => f.write_str("none")?,
            Status::Hung => f.write_str("hung")?,
        }
        f.write_str(if self.reached {
            " reached"
        } else {
            " not-reached"
        })
    }
}

/// The dashes that end a note's outcome (or a `bug:` line's values).
const DASHES: &[&str] = &[" — ", " -- "];

/// Splits `text` at its first dash: (before, after).
fn split_dash(text: &str) -> Option<(&str, &str)> {
    DASHES
        .iter()
        .filter_map(|d| text.find(d).map(|i| (i, d.len())))
        .min()
        .map(|(i, n)| (&text[..i], text[i + n..].trim()))
}

impl Note {
    /// The outcome the note states and its reason, or what is wrong with
    /// how it is written.
    pub fn parse(&self) -> Result<(Verdict, &str), String> {
        let usage = "a note is written `PEER: STATUS reached|not-reached — why`, STATUS a code, `none` or `hung`";
        let (head, why) = split_dash(&self.text)
            .ok_or_else(|| format!("no ` — ` (or ` -- `) after the outcome; {usage}"))?;
        let mut words = head.split_whitespace();
        let status = match words.next() {
            Some("none") => Status::None,
            Some("hung") => Status::Hung,
            Some(w) if w.len() == 3 && w.bytes().all(|b| b.is_ascii_digit()) => {
                Status::Code(w.parse().unwrap())
            }
            w => return Err(format!("`{}` is no status; {usage}", w.unwrap_or(""))),
        };
        let reached = match words.next() {
            Some("reached") => true,
            Some("not-reached") => false,
            w => {
                return Err(format!(
                    "`{}` is neither `reached` nor `not-reached`; {usage}",
                    w.unwrap_or("")
                ))
            }
        };
        if let Some(w) = words.next() {
            return Err(format!("`{w}` follows the outcome; {usage}"));
        }
        if why.is_empty() {
            return Err(format!("the note gives no reason; {usage}"));
        }
        Ok((Verdict { status, reached }, why))
    }
}

impl Case {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.expect
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// What fairway is held to: `expect`, with a `bug:` line's values in
    /// place of the ones it names.
    pub fn held_to(&self) -> Vec<(String, String)> {
        let mut out = self.expect.clone();
        if let Some((values, _)) = &self.bug {
            for (k, v) in values {
                out.retain(|(key, _)| key != k);
                out.push((k.clone(), v.clone()));
            }
        }
        out
    }

    pub fn responses(&self) -> usize {
        self.get("responses").map_or(1, |n| n.parse().unwrap())
    }

    /// Whether each request of `send` is HEAD, in order (for reading the
    /// responses: a HEAD response has no body).
    pub fn heads(&self) -> Vec<bool> {
        let text = String::from_utf8_lossy(&self.send).into_owned();
        let mut out = Vec::new();
        for part in text.split("\r\n\r\n") {
            let t = part.trim_start_matches(|c: char| c.is_ascii_digit() || c == '\r' || c == '\n');
            if t.starts_with("HEAD ") {
                out.push(true);
            } else if !t.is_empty() {
                out.push(false);
            }
        }
        out
    }
}

/// Decodes the escapes of a `send`/`upstream`/`up-has` value.
pub fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if i + 1 < b.len() => {
                i += 1;
                match b[i] {
                    b'r' => out.push(b'\r'),
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b's' => out.push(b' '),
                    b'0' => out.push(0),
                    b'\\' => out.push(b'\\'),
                    b'{' => out.push(b'{'),
                    b'x' => {
                        let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                        out.push(u8::from_str_radix(hex, 16).unwrap());
                        i += 2;
                    }
                    c => panic!("unknown escape \\{} in {s}", c as char),
                }
                i += 1;
            }
            b'{' => {
                let end = s[i..].find('}').expect("unclosed {") + i;
                let (n, text) = s[i + 1..end].split_once('*').expect("{N*text}");
                let n: usize = n.parse().unwrap();
                let piece = unescape(text);
                for _ in 0..n {
                    out.extend_from_slice(&piece);
                }
                i = end + 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// The keys of `expect`.
const KEYS: &[&str] = &[
    "status",
    "responses",
    "upstream",
    "complete",
    "target",
    "conn",
    "up-has",
    "up-lacks",
    "resp-has",
    "resp-lacks",
    "body",
];

/// The `key=value` checks of an `expect` (or `bug`) value. A word that
/// does not start a known `key=` continues the previous value (values may
/// hold spaces).
fn checks(value: &str, at: usize) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for word in value.split(' ') {
        match word.split_once('=').filter(|(k, _)| KEYS.contains(k)) {
            Some((k, v)) => out.push((k.to_string(), v.to_string())),
            None => {
                let (_, v) = out.last_mut().unwrap_or_else(|| {
                    panic!(
                        "corpus.txt:{at}: `{word}` is not key=value (keys: {})",
                        KEYS.join(" ")
                    )
                });
                v.push(' ');
                v.push_str(word);
            }
        }
    }
    out
}

pub fn parse(text: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = n + 1;
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix("== ") {
            cases.push(Case {
                name: name.trim().to_string(),
                line: at,
                ..Case::default()
            });
            continue;
        }
        let case = cases.last_mut().unwrap_or_else(|| {
            panic!("corpus.txt:{at}: outside a case (a case starts with `== name`)")
        });
        let (key, value) = line
            .split_once(": ")
            .or_else(|| line.split_once(':'))
            .unwrap_or_else(|| panic!("corpus.txt:{at}: `key: value` expected"));
        let note = || Note {
            line: at,
            text: value.trim().to_string(),
        };
        match key {
            "family" => case.family = value.to_string(),
            "rfc" => case.rfc = value.to_string(),
            "status-note" => case.status_note = Some(value.to_string()),
            "haproxy" => case.haproxy = Some(note()),
            "nginx" => case.nginx = Some(note()),
            "send" => case.send.extend(unescape(value)),
            "upstream" => case
                .upstream
                .get_or_insert_with(Vec::new)
                .extend(unescape(value)),
            "upstream-close" => case.upstream_close = value == "yes",
            "expect" => case.expect.extend(checks(value, at)),
            "bug" => {
                let (values, why) = split_dash(value).unwrap_or_else(|| {
                    panic!("corpus.txt:{at}: a bug is written `bug: key=value ... — why`")
                });
                assert!(!why.is_empty(), "corpus.txt:{at}: the bug gives no reason");
                case.bug = Some((checks(values, at), why.to_string()));
            }
            _ => panic!(
                "corpus.txt:{at}: unknown key `{key}` (keys: family rfc expect status-note bug haproxy nginx send upstream upstream-close)"
            ),
        }
    }
    for c in &cases {
        let at = format!("corpus.txt:{} case {}", c.line, c.name);
        assert!(!c.family.is_empty(), "{at} has no family");
        assert!(!c.rfc.is_empty(), "{at} has no rfc line");
        assert!(!c.send.is_empty(), "{at} sends nothing");
        let status = c
            .get("status")
            .unwrap_or_else(|| panic!("{at} expects no status"));
        let several = status.contains('|');
        if several || status.split('|').any(|s| s == "none") {
            let why = c.status_note.as_deref().unwrap_or_else(|| {
                panic!(
                    "{at} accepts `status={status}`: narrow it to one status, or add `status-note:` naming the RFC section that allows each (or why no answer is right)"
                )
            });
            assert!(
                !several || why.contains('§'),
                "{at}: its status-note must cite the RFC section (§) that allows each of `{status}`"
            );
        }
        for s in status.split('|') {
            let ok = s == "none" || s.parse::<u16>().is_ok_and(|n| (100..600).contains(&n));
            assert!(ok, "{at}: `{s}` is no status (100-599 or none)");
        }
    }
    cases
}
