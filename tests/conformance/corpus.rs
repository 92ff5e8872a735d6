//! The corpus format (`corpus.txt`): one case a block.
//!
//! ```text
//! == name
//! family: target
//! rfc: RFC 9112 §3.2: a target that is no form of the grammar is refused
//! expect: status=400 upstream=0 conn=close
//! haproxy: why fairway differs from HAProxy here (required when they do)
//! send: GET admin HTTP/1.1\r\nHost: a\r\n\r\n
//! upstream: HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
//! upstream-close: yes
//! ```
//!
//! `send` and `upstream` may repeat (the pieces are joined) and use the
//! escapes `\r \n \t \s (space) \0 \\ \xHH` and `{N*text}` (`text`, itself
//! escaped, N times); so may the values of `expect`, which may hold spaces.
//! `expect` holds space-separated `key=value` checks on fairway:
//! `status=400` (or `400|501`, or `none`: closed without an answer),
//! `responses=N` (how many to read, default 1), `upstream=N` (requests the
//! server received, complete or not), `complete=N` (complete ones),
//! `target=/x` (the first one's target), `conn=open|close`,
//! `up-has=TEXT` / `up-lacks=TEXT` (in what the server received),
//! `resp-has=TEXT` / `resp-lacks=TEXT` (in the first response's head,
//! case-insensitive), `body=TEXT`.

#[derive(Debug, Clone, Default)]
pub struct Case {
    pub name: String,
    pub line: usize,
    pub family: String,
    pub rfc: String,
    pub expect: Vec<(String, String)>,
    pub haproxy: Option<String>,
    pub nginx: Option<String>,
    pub send: Vec<u8>,
    pub upstream: Option<Vec<u8>>,
    pub upstream_close: bool,
}

impl Case {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.expect
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
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

pub fn parse(text: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix("== ") {
            cases.push(Case {
                name: name.trim().to_string(),
                line: n + 1,
                ..Case::default()
            });
            continue;
        }
        let case = cases
            .last_mut()
            .unwrap_or_else(|| panic!("corpus.txt:{}: outside a case", n + 1));
        let (key, value) = line
            .split_once(": ")
            .or_else(|| line.split_once(':'))
            .unwrap_or_else(|| panic!("corpus.txt:{}: `key: value` expected", n + 1));
        match key {
            "family" => case.family = value.to_string(),
            "rfc" => case.rfc = value.to_string(),
            "haproxy" => case.haproxy = Some(value.to_string()),
            "nginx" => case.nginx = Some(value.to_string()),
            "send" => case.send.extend(unescape(value)),
            "upstream" => case
                .upstream
                .get_or_insert_with(Vec::new)
                .extend(unescape(value)),
            "upstream-close" => case.upstream_close = value == "yes",
            "expect" => {
                // A word that does not start a known `key=` continues the
                // previous value (values may hold spaces).
                for word in value.split(' ') {
                    match word.split_once('=').filter(|(k, _)| KEYS.contains(k)) {
                        Some((k, v)) => case.expect.push((k.to_string(), v.to_string())),
                        None => {
                            let (_, v) = case.expect.last_mut().unwrap_or_else(|| {
                                panic!("corpus.txt:{}: `{word}` is not key=value", n + 1)
                            });
                            v.push(' ');
                            v.push_str(word);
                        }
                    }
                }
            }
            _ => panic!("corpus.txt:{}: unknown key `{key}`", n + 1),
        }
    }
    for c in &cases {
        assert!(!c.family.is_empty(), "case {} has no family", c.name);
        assert!(!c.rfc.is_empty(), "case {} has no rfc line", c.name);
        assert!(!c.send.is_empty(), "case {} sends nothing", c.name);
        assert!(
            c.get("status").is_some(),
            "case {} expects no status",
            c.name
        );
    }
    cases
}
