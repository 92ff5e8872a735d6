//! Writing the fairway YAML by hand: comments where they belong, plain
//! scalars where YAML reads them back unchanged, double quotes elsewhere.

use std::fmt::Write;

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A string (quoted when needed).
    Str(String),
    /// An integer, written plainly.
    Int(u64),
    /// `true` / `false`.
    Bool(bool),
    /// A list, written as a block (one item per line).
    List(Vec<Value>),
    /// A list written on one line: `[a, b]`.
    FlowList(Vec<Value>),
    /// A mapping written on one line: `{ a: 1, b: x }`.
    Flow(Vec<(String, Value)>),
    /// A block mapping with comments.
    Map(Map),
}

/// A block mapping: entries in order, each with the comment lines that
/// precede it; `comments` come first, right under the mapping's key.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Map {
    pub comments: Vec<String>,
    pub entries: Vec<(String, Value, Vec<String>)>,
}

impl Map {
    /// Appends `key: value`.
    pub fn push(&mut self, key: &str, value: Value) {
        self.entries.push((key.to_string(), value, Vec::new()));
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.comments.is_empty()
    }
}

/// `s` as a string value.
pub(crate) fn s(text: impl Into<String>) -> Value {
    Value::Str(text.into())
}

/// Writes a whole document.
pub(crate) fn document(header: &[String], root: &Map) -> String {
    let mut out = String::new();
    for c in header {
        comment(&mut out, 0, c);
    }
    map_body(&mut out, 0, root);
    out
}

/// Writes `# text` (one line per line of `text`) at `indent`.
fn comment(out: &mut String, indent: usize, text: &str) {
    for line in text.lines() {
        let line: String = line
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let _ = writeln!(out, "{:indent$}# {}", "", line.trim_end());
    }
    if text.is_empty() {
        let _ = writeln!(out, "{:indent$}#", "");
    }
}

fn map_body(out: &mut String, indent: usize, map: &Map) {
    for c in &map.comments {
        comment(out, indent, c);
    }
    for (key, value, comments) in &map.entries {
        for c in comments {
            comment(out, indent, c);
        }
        let _ = write!(out, "{:indent$}{}:", "", key_text(key));
        match value {
            Value::Map(m) if m.is_empty() => out.push_str(" {}\n"),
            Value::Map(m) => {
                out.push('\n');
                map_body(out, indent + 2, m);
            }
            Value::List(items) if items.is_empty() => out.push_str(" []\n"),
            Value::List(items) => {
                out.push('\n');
                for item in items {
                    let _ = write!(out, "{:w$}- ", "", w = indent + 2);
                    inline(out, item);
                    out.push('\n');
                }
            }
            other => {
                out.push(' ');
                inline(out, other);
                out.push('\n');
            }
        }
    }
}

/// A value on one line.
fn inline(out: &mut String, value: &Value) {
    match value {
        Value::Str(s) => out.push_str(&scalar(s, false)),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::List(items) | Value::FlowList(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                flow_item(out, item);
            }
            out.push(']');
        }
        Value::Flow(entries) => flow_map(out, entries),
        Value::Map(m) => {
            let entries: Vec<(String, Value)> = m
                .entries
                .iter()
                .map(|(k, v, _)| (k.clone(), v.clone()))
                .collect();
            flow_map(out, &entries);
        }
    }
}

fn flow_map(out: &mut String, entries: &[(String, Value)]) {
    if entries.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{ ");
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{}: ", scalar(k, true));
        flow_item(out, v);
    }
    out.push_str(" }");
}

fn flow_item(out: &mut String, value: &Value) {
    match value {
        Value::Str(s) => out.push_str(&scalar(s, true)),
        other => inline(out, other),
    }
}

fn key_text(key: &str) -> String {
    scalar(key, false)
}

/// `s` as a YAML scalar that reads back as exactly `s`: plain when that is
/// unambiguous, else double-quoted. `flow`: inside `[...]` or `{...}`.
pub(crate) fn scalar(s: &str, flow: bool) -> String {
    if plain_ok(s, flow) {
        s.to_string()
    } else {
        quoted(s)
    }
}

/// A double-quoted YAML string.
pub(crate) fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Words YAML 1.1 or 1.2 would read as something other than a string.
const SPECIAL: &[&str] = &[
    "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
];

/// Whether `s` can be written as a plain scalar.
fn plain_ok(s: &str, flow: bool) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return false;
    }
    if SPECIAL.iter().any(|w| w.eq_ignore_ascii_case(s)) {
        return false;
    }
    if s.ends_with(' ') || s.ends_with(':') || s.contains(": ") || s.contains(" #") {
        return false;
    }
    if flow && s.contains([',', '[', ']', '{', '}']) {
        return false;
    }
    if first.is_ascii_digit() {
        // Numbers, dates and sexagesimals are not strings: allow only
        // durations (`10s`) and IPv4 addresses with a port.
        return is_duration(s) || is_ipv4_port(s);
    }
    first.is_ascii_alphabetic() || first == '/' || first == '_'
}

fn is_duration(s: &str) -> bool {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && matches!(&s[digits..], "us" | "ms" | "s" | "m" | "h" | "d")
}

fn is_ipv4_port(s: &str) -> bool {
    let Some((ip, port)) = s.rsplit_once(':') else {
        return false;
    };
    ip.parse::<std::net::Ipv4Addr>().is_ok()
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars() {
        assert_eq!(
            scalar("path_end -i /lightwork", false),
            "path_end -i /lightwork"
        );
        assert_eq!(
            scalar("deny if { path -i -m beg /admin }", false),
            "deny if { path -i -m beg /admin }"
        );
        assert_eq!(scalar("a, b", true), "\"a, b\"");
        assert_eq!(scalar("*:80", false), "\"*:80\"");
        assert_eq!(scalar("127.0.0.1:80", false), "127.0.0.1:80");
        assert_eq!(scalar("10s", false), "10s");
        assert_eq!(scalar("10", false), "\"10\"");
        assert_eq!(scalar("1e3", false), "\"1e3\"");
        assert_eq!(scalar("yes", false), "\"yes\"");
        assert_eq!(scalar("a: b", false), "\"a: b\"");
        assert_eq!(scalar("a #b", false), "\"a #b\"");
        assert_eq!(scalar("", false), "\"\"");
        assert_eq!(scalar("-x", false), "\"-x\"");
        assert_eq!(scalar("x\ny\"\\", false), "\"x\\ny\\\"\\\\\"");
        assert_eq!(scalar("é", false), "\"é\"");
    }

    #[test]
    fn documents() {
        let mut servers = Map::default();
        servers.push(
            "s1",
            Value::Flow(vec![
                ("addr".into(), s("127.0.0.1:8001")),
                ("weight".into(), Value::Int(3)),
            ]),
        );
        let mut b = Map::default();
        b.comments.push("from line 3".into());
        b.push("balance", s("roundrobin"));
        b.push("servers", Value::Map(servers));
        let mut root = Map::default();
        root.entries.push((
            "backends".into(),
            Value::Map({
                let mut m = Map::default();
                m.push("web", Value::Map(b));
                m
            }),
            vec!["two\nlines".into()],
        ));
        root.push("list", Value::List(vec![s("a b"), s("*:1")]));
        root.push("flow", Value::FlowList(vec![s("a"), s("503")]));
        root.push("none", Value::FlowList(Vec::new()));
        let doc = document(&["head".into()], &root);
        assert_eq!(
            doc,
            "# head\n# two\n# lines\nbackends:\n  web:\n    # from line 3\n    balance: roundrobin\n    servers:\n      s1: { addr: 127.0.0.1:8001, weight: 3 }\nlist:\n  - a b\n  - \"*:1\"\nflow: [a, \"503\"]\nnone: []\n"
        );
    }
}
