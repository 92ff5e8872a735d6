//! The h2 fuzzer's cases: requests built from the parts of HTTP/2 that
//! matter at the edge (pseudo-header fields and their values, `Host`
//! against `:authority`, connection-specific fields, `content-length`
//! against the DATA sent), made malformed on purpose (RFC 9113 §8.1.1,
//! §8.2, §8.3), written into frames with every framing choice varied
//! (CONTINUATION, padding, priority, where END_STREAM falls, trailers,
//! RST_STREAM, huge blocks), sometimes with a second request on stream 3,
//! sometimes with a byte of the frames flipped.

use super::wire::{self, Repr, Sent};
use std::fmt::Write as _;

/// xorshift64*: small, seeded, no dependency.
pub struct Rng(pub u64);

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
    "GET", "GET", "GET", "GET", "POST", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT",
    "get", "G ET", "", "FOO",
];
const SCHEMES: &[&str] = &["http", "http", "http", "https", "", "ftp", "HTTP"];
const AUTHORITIES: &[&str] = &[
    "a",
    "a",
    "a",
    "secret.example",
    "a:8080",
    "A",
    "",
    "a b",
    "u@a",
    "a/b",
    "[::1]:80",
    "secret.example:80",
    "a:x",
];
pub const PATHS: &[&str] = &[
    "/",
    "/x",
    "/x",
    "/x?y=1",
    "/admin",
    "/ADMIN",
    "/admin/x",
    "//admin",
    "///admin",
    "/%2fadmin",
    "/%2Fadmin",
    "/;/admin",
    "/.;/admin",
    "/..;/admin",
    "/;x=1/admin",
    "*",
    "",
    "/./admin",
    "/x/../admin",
    "/%61dmin",
    "/admin/../x",
    "//x",
    "/%7ex",
    "/a/../x",
    "/%2fx",
    "admin",
    "x",
    "http://a/admin",
    "http://a/x",
    "/x?/admin",
    "/x#y",
    "/ad min",
    "/%00admin",
    "/..%2fadmin",
    "/.%2e/admin",
    "/\\admin",
    "/%5cadmin",
    "/x/%2e%2e/admin",
    "/%c0%afadmin",
];
/// Request bodies: plain, and HTTP/1 requests that a server would read as
/// the next request if the body's framing were lost on the way.
const BODIES: &[&str] = &[
    "hello",
    "hello",
    "GET /admin HTTP/1.1\r\nhost: a\r\n\r\n",
    "0\r\n\r\nGET /admin HTTP/1.1\r\nhost: a\r\n\r\n",
];
/// Ordinary fields (no malformation).
const EXTRA: &[&str] = &[
    "user-agent: fuzz",
    "accept: */*",
    "x-a: 1",
    "cookie: a=1",
    "te: trailers",
    "expect: 100-continue",
    "x-forwarded-for: 10.0.0.1",
];
/// Connection-specific fields, malformed in HTTP/2 (RFC 9113 §8.2.2).
const CONNECTION_SPECIFIC: &[&str] = &[
    "connection: close",
    "connection: keep-alive",
    "keep-alive: 5",
    "proxy-connection: keep-alive",
    "transfer-encoding: chunked",
    "upgrade: h2c",
    "te: gzip",
    "te: trailers, gzip",
];

type Field = (Vec<u8>, Vec<u8>);

fn f(name: &str, value: &str) -> Field {
    (name.as_bytes().to_vec(), value.as_bytes().to_vec())
}

fn split(line: &str) -> Field {
    let (n, v) = line.split_once(": ").unwrap_or((line, ""));
    f(n, v)
}

/// One request before it is framed.
pub struct Request {
    pub fields: Vec<Field>,
    pub body: Vec<u8>,
    /// Why it is malformed (empty: well-formed as far as built).
    pub malformed: Vec<&'static str>,
}

impl Request {
    /// A request of the given fields, no body.
    pub fn of(fields: &[(&str, &str)]) -> Request {
        Request {
            fields: fields.iter().map(|(n, v)| f(n, v)).collect(),
            body: Vec::new(),
            malformed: Vec::new(),
        }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// `METHOD PATH` for each `:path` value, with the first `:method`.
    fn lines(&self) -> Vec<String> {
        let method = String::from_utf8_lossy(self.get(":method").unwrap_or(b""));
        self.fields
            .iter()
            .filter(|(n, _)| n == b":path")
            .map(|(_, v)| format!("{method} {}", String::from_utf8_lossy(v)))
            .collect()
    }

    fn pseudo_count(&self) -> usize {
        self.fields
            .iter()
            .take_while(|(n, _)| n.starts_with(b":"))
            .count()
    }
}

/// The first request of a case.
fn request(rng: &mut Rng) -> Request {
    let method = rng.pick(METHODS);
    // CONNECT's own form: `:method` and `:authority` only (RFC 9113 §8.5).
    let connect_form = method == "CONNECT" && rng.chance(60);
    let authority = rng.chance(88).then(|| rng.pick(AUTHORITIES));
    let mut r = Request::of(&[(":method", method)]);
    if !connect_form {
        r.fields.push(f(":scheme", rng.pick(SCHEMES)));
    }
    if let Some(a) = authority.or(connect_form.then_some("a:443")) {
        r.fields.push(f(":authority", a));
    }
    if !connect_form {
        r.fields.push(f(":path", rng.pick(PATHS)));
    }
    if rng.chance(20) {
        let n = r.fields.len();
        r.fields.rotate_left(rng.below(n));
    }
    match rng.below(20) {
        0..=2 => r.fields.push(f("host", authority.unwrap_or("a"))),
        3 | 4 => r
            .fields
            .push(f("host", rng.pick(&["secret.example", "b", "a:1", ""]))),
        5 => {
            r.fields.push(f("host", "a"));
            r.fields.push(f("host", "secret.example"));
        }
        _ => {}
    }
    for _ in 0..rng.below(3) {
        r.fields.push(split(rng.pick(EXTRA)));
    }
    if matches!(method, "POST" | "PUT") || rng.chance(15) {
        r.body = rng.pick(BODIES).as_bytes().to_vec();
    }
    let len = r.body.len().to_string();
    let cl = if r.body.is_empty() {
        rng.chance(5).then(|| rng.pick(&["0", "5"]))
    } else if rng.chance(60) {
        Some(len.as_str())
    } else if rng.chance(40) {
        Some(rng.pick(&[
            "4",
            "6",
            "0",
            "5, 5",
            "abc",
            "-1",
            "+5",
            "99999999999999999999",
        ]))
    } else {
        None
    };
    if let Some(cl) = cl {
        r.fields.push(f("content-length", cl));
        if cl != len {
            r.malformed.push("content-length does not match the DATA");
        }
        if rng.chance(10) {
            r.fields.push(f("content-length", rng.pick(&["5", "6"])));
            r.malformed.push("two content-length fields");
        }
    }
    if rng.chance(50) {
        for _ in 0..1 + rng.below(2) {
            malform(rng, &mut r);
        }
    }
    // After `malform`, which may have removed or replaced a value; a
    // later change may also have undone an earlier one. A bad value counts
    // in a regular field (in a pseudo-header after one, the h2 crate may
    // miss that it is misplaced: see `MUST_REFUSE`).
    r.malformed.extend(invalid_pseudo(&r, connect_form));
    let fields = &r.fields;
    let has = |name: &str| fields.iter().any(|(n, _)| n == name.as_bytes());
    let bad_value = fields
        .iter()
        .filter(|(n, _)| !n.starts_with(b":"))
        .any(|(_, v)| {
            v.first().is_some_and(|b| b" \t".contains(b))
                || v.last().is_some_and(|b| b" \t".contains(b))
                || v.iter().any(|b| b"\r\n\0".contains(b))
        });
    r.malformed.retain(|why| match *why {
        "no :path" => !has(":path"),
        "no :method" => !has(":method"),
        "no :scheme" => !has(":scheme"),
        "an invalid field value" => bad_value,
        _ => true,
    });
    r
}

/// What is wrong with the values of `r`'s pseudo-header fields as chosen
/// (RFC 9113 §8.3.1, §8.5).
fn invalid_pseudo(r: &Request, connect_form: bool) -> Vec<&'static str> {
    let tchar = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    let mut bad = Vec::new();
    let method = r.get(":method").unwrap_or(b"");
    if method.is_empty() || !method.iter().all(tchar) {
        bad.push("an invalid :method");
    }
    if let Some(p) = r.get(":path") {
        let asterisk = p == b"*" && method == b"OPTIONS";
        if !(p.starts_with(b"/") || asterisk) || p.iter().any(|b| b" #\0".contains(b)) {
            bad.push("an invalid :path");
        }
    }
    if let Some(a) = r.get(":authority") {
        if a.is_empty() || a.iter().any(|b| b" @/".contains(b)) || a.ends_with(b":x") {
            bad.push("an invalid :authority");
        }
    }
    if r.get(":scheme") == Some(b"") {
        bad.push("an empty :scheme");
    }
    if method == b"CONNECT" && !connect_form {
        bad.push("CONNECT with :scheme and :path");
    }
    bad
}

/// What `malform` returns when its change left the request well-formed.
const NOT_MALFORMED: &str = "";

/// Makes `r` malformed in one of the ways RFC 9113 §8 names.
fn malform(rng: &mut Rng, r: &mut Request) {
    let pseudo = r.pseudo_count();
    let why = match rng.below(11) {
        0 => {
            let v = rng.pick(&["/admin", "/x", "//admin"]);
            let had = r.get(":path").is_some();
            r.fields.insert(pseudo, f(":path", v));
            if had {
                "two :path fields"
            } else {
                NOT_MALFORMED
            }
        }
        1 => {
            let had = r.get(":authority").is_some();
            r.fields.insert(pseudo, f(":authority", "secret.example"));
            if had {
                "two :authority fields"
            } else {
                NOT_MALFORMED
            }
        }
        2 => {
            let had = r.get(":method").is_some();
            r.fields
                .insert(pseudo, f(":method", rng.pick(&["GET", "POST", "CONNECT"])));
            if had {
                "two :method fields"
            } else {
                NOT_MALFORMED
            }
        }
        3 if pseudo > 0 => {
            let gone = r.fields.remove(rng.below(pseudo));
            match gone.0.as_slice() {
                b":method" => "no :method",
                b":path" => "no :path",
                b":scheme" => "no :scheme",
                _ => NOT_MALFORMED,
            }
        }
        4 if !r.fields.is_empty() => {
            let i = rng.below(r.fields.len());
            r.fields[i].0.make_ascii_uppercase();
            "an uppercase field name"
        }
        5 => {
            let v = rng.pick(&[":foo: x", ":protocol: websocket", ":status: 200"]);
            r.fields.insert(pseudo, split(v));
            "an unknown or response pseudo-header"
        }
        6 => {
            r.fields.push(f("x-a", "1"));
            let v = rng.pick(&[":path: /admin", ":authority: secret.example", ":path: /x"]);
            r.fields.push(split(v));
            "a pseudo-header after a regular field"
        }
        7 => {
            r.fields.push(split(rng.pick(CONNECTION_SPECIFIC)));
            "a connection-specific field"
        }
        8 => {
            let n = rng.pick(&["", "x a", "x:y", "x\0", "\u{e9}", ":", "x\r\ny"]);
            r.fields.push(f(n, "1"));
            "an invalid field name"
        }
        9 => {
            let name = rng.pick(&["x-a", "host", ":path", ":authority"]);
            let v = rng.pick(&[
                "a\r\nx-injected: 1",
                "a\nb",
                "a\0b",
                " a",
                "a ",
                "/x\r\nhost: b",
            ]);
            r.fields.push(f(name, v));
            "an invalid field value"
        }
        _ if rng.chance(50) => {
            let big = "a".repeat([9000, 20000, 70000][rng.below(3)]);
            r.fields.push(f("x-big", &big));
            return;
        }
        _ => {
            // Many fields: a large header list of small ones.
            let v = "b".repeat(100);
            for i in 0..[100, 300, 1000][rng.below(3)] {
                r.fields.push(f(&format!("x-many-{i}"), &v));
            }
            return;
        }
    };
    if why != NOT_MALFORMED {
        r.malformed.push(why);
    }
}

/// One generated case: the bytes of one connection.
pub struct Case {
    pub bytes: Vec<u8>,
    /// The streams opened and what the client did with each.
    pub sent: Vec<(u32, Sent)>,
    /// The `:authority` of the first request (its first one), if sent.
    pub authority: Option<Vec<u8>>,
    /// Requests well-formed as built (the most a server should get).
    pub well_formed: usize,
    /// Why the first request is malformed, if it is.
    pub malformed: Vec<&'static str>,
    /// The frames were not mangled at the byte level.
    pub strict: bool,
    /// What was sent, in short.
    pub desc: String,
    /// `METHOD PATH` for each `:path` value sent: a request at the server
    /// that is none of them had its path rewritten on the way.
    pub paths: Vec<String>,
}

fn repr(rng: &mut Rng) -> Repr {
    match rng.below(20) {
        0..=9 => Repr::Literal,
        10..=14 => Repr::NameIndexed,
        15..=17 => Repr::Indexed,
        18 => Repr::NeverIndexed,
        _ => Repr::Indexing,
    }
}

/// Writes `r` as frames on stream `id`; what the client did with it.
fn frames(rng: &mut Rng, out: &mut Vec<u8>, id: u32, r: &Request, desc: &mut String) -> Sent {
    let mut block = Vec::new();
    for (n, v) in &r.fields {
        wire::field(&mut block, n, v, repr(rng));
    }
    // Where END_STREAM goes.
    let roll = rng.below(100);
    let es = match (r.body.is_empty(), roll) {
        (true, 0..=79) | (false, 0..=6) => "headers",
        (false, 7..=76) => "data",
        (true, 80..=87) | (false, 77..=86) => "empty-data",
        (_, 88..=94) | (false, 87) => "trailers",
        _ => "never",
    };
    // The header block in fragments: HEADERS then CONTINUATION.
    let max = 16000;
    let mut cuts: Vec<usize> = if block.len() > max {
        (1..=block.len() / max).map(|i| i * max).collect()
    } else if rng.chance(20) && block.len() > 1 {
        let mut c: Vec<usize> = (0..1 + rng.below(3))
            .map(|_| 1 + rng.below(block.len() - 1))
            .collect();
        c.sort_unstable();
        c.dedup();
        c
    } else {
        Vec::new()
    };
    cuts.push(block.len());
    let interrupt = cuts.len() > 1 && rng.chance(10);
    let no_end_headers = rng.chance(3);
    let mut from = 0;
    for (i, &to) in cuts.iter().enumerate() {
        let last = i + 1 == cuts.len();
        let mut flags = if last && !no_end_headers {
            wire::END_HEADERS
        } else {
            0
        };
        let mut payload = Vec::new();
        if i == 0 {
            if es == "headers" {
                flags |= wire::END_STREAM;
            }
            if rng.chance(8) {
                flags |= wire::PRIORITY_FLAG;
                let dep = if rng.chance(20) { id } else { 0 };
                payload.extend_from_slice(&dep.to_be_bytes());
                payload.push(15);
            }
        }
        let pad = (i == 0 && rng.chance(15)).then(|| rng.below(40));
        if let Some(p) = pad {
            flags |= wire::PADDED;
            // Sometimes more padding than the frame holds (a PROTOCOL_ERROR).
            let said = if rng.chance(10) { 250 } else { p as u8 };
            let mut padded = vec![said];
            padded.extend_from_slice(&payload);
            payload = padded;
        }
        payload.extend_from_slice(&block[from..to]);
        if let Some(p) = pad {
            payload.extend(vec![0; p]);
        }
        let kind = if i == 0 {
            wire::HEADERS
        } else {
            wire::CONTINUATION
        };
        wire::frame(out, kind, flags, id, &payload);
        if i == 0 && interrupt {
            wire::frame(out, wire::PING, 0, 0, b"12345678");
            desc.push_str(" PING-inside-block");
        }
        from = to;
    }
    let _ = write!(
        desc,
        " s{id}:HEADERS[{}B,{} frames{}{}] es@{es}",
        block.len(),
        cuts.len(),
        if no_end_headers {
            ",no END_HEADERS"
        } else {
            ""
        },
        if interrupt { ",interrupted" } else { "" },
    );
    // The body in 1-3 DATA frames.
    if !r.body.is_empty() {
        let n = 1 + rng.below(3).min(r.body.len() - 1);
        let size = r.body.len().div_ceil(n);
        let pieces: Vec<&[u8]> = r.body.chunks(size).collect();
        for (i, piece) in pieces.iter().enumerate() {
            let mut flags = 0;
            if es == "data" && i + 1 == pieces.len() {
                flags |= wire::END_STREAM;
            }
            let mut payload = piece.to_vec();
            if rng.chance(15) {
                flags |= wire::PADDED;
                let p = rng.below(20);
                payload.insert(0, p as u8);
                payload.extend(vec![0; p]);
            }
            wire::frame(out, wire::DATA, flags, id, &payload);
        }
        let _ = write!(desc, " DATA[{}B in {}]", r.body.len(), pieces.len());
    }
    match es {
        "empty-data" => wire::frame(out, wire::DATA, wire::END_STREAM, id, &[]),
        "trailers" => {
            let t = rng.pick(&[
                "x-t: 1",
                ":path: /admin",
                "content-length: 5",
                "host: secret.example",
            ]);
            let (n, v) = split(t);
            let mut block = Vec::new();
            wire::field(&mut block, &n, &v, Repr::Literal);
            wire::frame(
                out,
                wire::HEADERS,
                wire::END_STREAM | wire::END_HEADERS,
                id,
                &block,
            );
            let _ = write!(desc, " trailer[{t}]");
        }
        _ => {}
    }
    if es != "never" && rng.chance(4) {
        wire::frame(out, wire::RST_STREAM, 0, id, &8u32.to_be_bytes());
        desc.push_str(" RST_STREAM(CANCEL)");
        return Sent::Cancelled;
    }
    if es == "never" {
        Sent::Open
    } else {
        Sent::Ended
    }
}

/// Shows a field for the report, long values shortened.
fn show(n: &[u8], v: &[u8]) -> String {
    let v = if v.len() > 40 {
        format!("<{} bytes>", v.len())
    } else {
        format!("{:?}", String::from_utf8_lossy(v))
    };
    format!("{}={v}", String::from_utf8_lossy(n).escape_debug())
}

/// Frames `first` (and `second`, on stream 3) into one connection's bytes.
pub fn build(rng: &mut Rng, first: &Request, second: Option<&Request>, mutate: bool) -> Case {
    let mut out = wire::PREFACE.to_vec();
    wire::frame(&mut out, wire::SETTINGS, 0, 0, &[0, 2, 0, 0, 0, 0]);
    if rng.chance(10) {
        wire::frame(&mut out, wire::WINDOW_UPDATE, 0, 0, &65535u32.to_be_bytes());
    }
    let start = out.len();
    if rng.chance(5) {
        // PRIORITY for a stream not open yet is allowed (RFC 9113 §6.3).
        wire::frame(&mut out, wire::PRIORITY, 0, 1, &[0, 0, 0, 0, 15]);
    }
    let mut desc: String = first
        .fields
        .iter()
        .map(|(n, v)| show(n, v))
        .collect::<Vec<_>>()
        .join(" ");
    if !first.body.is_empty() {
        let _ = write!(desc, " body={:?}", String::from_utf8_lossy(&first.body));
    }
    let mut sent = vec![(1, frames(rng, &mut out, 1, first, &mut desc))];
    if let Some(s) = second {
        let _ = write!(
            desc,
            " | s3 {}",
            String::from_utf8_lossy(s.get(":path").unwrap_or(b""))
        );
        sent.push((3, frames(rng, &mut out, 3, s, &mut desc)));
    }
    let mut strict = true;
    if mutate && out.len() > start {
        let at = start + rng.below(out.len() - start);
        let bit = rng.below(8);
        out[at] ^= 1 << bit;
        strict = false;
        let _ = write!(desc, " flipped bit {bit} of byte {at}");
    }
    wire::frame(&mut out, wire::PING, 0, 0, wire::LAST_PING);
    Case {
        bytes: out,
        sent,
        authority: first.get(":authority").map(<[u8]>::to_vec),
        well_formed: usize::from(first.malformed.is_empty()) + usize::from(second.is_some()),
        malformed: first.malformed.clone(),
        strict,
        desc,
        paths: first
            .lines()
            .into_iter()
            .chain(second.map(Request::lines).unwrap_or_default())
            .collect(),
    }
}

/// One generated case.
pub fn generate(rng: &mut Rng) -> Case {
    let first = request(rng);
    let second = rng.chance(15).then(|| {
        let path = rng.pick(&["/admin", "/x", "//admin", "/%2fadmin"]);
        // The first request's :authority (the one the server's Host is
        // checked against), or none and a Host field.
        let mut r = Request::of(&[(":method", "GET"), (":scheme", "http")]);
        if let Some(a) = first.get(":authority") {
            r.fields.push((b":authority".to_vec(), a.to_vec()));
        }
        r.fields.push(f(":path", path));
        if first.get(":authority").is_none() {
            r.fields.push(f("host", "a"));
        }
        r
    });
    let mutate = rng.chance(12);
    build(rng, &first, second.as_ref(), mutate)
}

/// `r` framed plainly, for the regression cases: one HEADERS frame with
/// END_HEADERS, then the body in one DATA frame; END_STREAM on the last
/// frame or, with `empty_data`, on an empty DATA frame after them.
pub fn fixed(r: &Request, empty_data: bool) -> Case {
    let mut out = wire::PREFACE.to_vec();
    wire::frame(&mut out, wire::SETTINGS, 0, 0, &[0, 2, 0, 0, 0, 0]);
    let mut block = Vec::new();
    for (n, v) in &r.fields {
        wire::field(&mut block, n, v, Repr::Literal);
    }
    let es = |last: bool| {
        if last && !empty_data {
            wire::END_STREAM
        } else {
            0
        }
    };
    wire::frame(
        &mut out,
        wire::HEADERS,
        wire::END_HEADERS | es(r.body.is_empty()),
        1,
        &block,
    );
    if !r.body.is_empty() {
        wire::frame(&mut out, wire::DATA, es(true), 1, &r.body);
    }
    if empty_data {
        wire::frame(&mut out, wire::DATA, wire::END_STREAM, 1, &[]);
    }
    wire::frame(&mut out, wire::PING, 0, 0, wire::LAST_PING);
    let mut desc: Vec<String> = r.fields.iter().map(|(n, v)| show(n, v)).collect();
    if empty_data {
        desc.push("END_STREAM on an empty DATA frame".to_string());
    }
    Case {
        bytes: out,
        sent: vec![(1, Sent::Ended)],
        authority: r.get(":authority").map(<[u8]>::to_vec),
        well_formed: usize::from(r.malformed.is_empty()),
        malformed: r.malformed.clone(),
        strict: true,
        desc: desc.join(" "),
        paths: r.lines(),
    }
}
