//! Reading an HAProxy configuration: lines, words and sections.
//!
//! Words follow HAProxy's quoting rules (configuration manual §2.2):
//! `'...'` quotes literally; `"..."` quotes with backslash escapes and
//! environment variables (`$NAME`, `${NAME}`); outside quotes a backslash
//! escapes a space, `#`, `\`, `'` or `"`, `\n` `\r` `\t` and `\xNN` are
//! control characters, and any other backslash stays as written. An
//! unquoted, unescaped `#` starts a comment.

/// One word of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    /// The word as HAProxy sees it, environment variables written `${NAME}`.
    pub text: String,
    /// The same text for a fairway YAML string: a literal `$` that fairway
    /// would read as the start of `${...}` or `$$` is doubled.
    pub fw: String,
    /// Whether any part of the word was quoted or escaped.
    pub quoted: bool,
    /// Whether the word refers to an environment variable.
    pub env: bool,
}

impl Word {
    /// Whether the word is exactly `s`, written without quotes.
    pub fn is(&self, s: &str) -> bool {
        !self.quoted && self.text == s
    }
}

/// One configuration line with its words (comments removed).
#[derive(Debug, Clone)]
pub(crate) struct Line {
    /// 1-based line number.
    pub no: usize,
    /// The words; never empty.
    pub words: Vec<Word>,
    /// The line as written, trimmed, without its comment.
    pub raw: String,
    /// Why the line could not be read exactly (an unterminated quote...).
    pub problem: Option<String>,
}

impl Line {
    /// The text of word `i`, or `""`.
    pub fn word(&self, i: usize) -> &str {
        self.words.get(i).map_or("", |w| w.text.as_str())
    }

    /// The words from `i` on.
    pub fn rest(&self, i: usize) -> &[Word] {
        self.words.get(i..).unwrap_or_default()
    }
}

/// The kinds of sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Lines before the first section header.
    None,
    Global,
    Defaults,
    Frontend,
    Backend,
    Listen,
    /// `resolvers`: read for the backends' `dns`.
    Resolvers,
    /// `userlist`, `peers`, `mailers`...: not converted.
    Other,
}

/// A section: its header line and its directives.
#[derive(Debug, Clone)]
pub(crate) struct Section {
    pub kind: Kind,
    /// The header line (absent for the lines before the first section).
    pub header: Option<Line>,
    pub lines: Vec<Line>,
}

impl Section {
    /// The section's name (second word of the header), if any.
    pub fn name(&self) -> Option<&str> {
        self.header
            .as_ref()
            .and_then(|h| h.words.get(1))
            .map(|w| w.text.as_str())
    }
}

/// The section keywords HAProxy knows.
const OTHER_SECTIONS: &[&str] = &[
    "userlist",
    "peers",
    "mailers",
    "program",
    "http-errors",
    "ring",
    "cache",
    "fcgi-app",
    "crt-store",
    "traces",
    "log-forward",
    "namespace_list",
];

/// Splits a configuration into sections.
pub(crate) fn sections(text: &str) -> Vec<Section> {
    let mut out = vec![Section {
        kind: Kind::None,
        header: None,
        lines: Vec::new(),
    }];
    for (i, raw) in text.lines().enumerate() {
        let Some(line) = line(i + 1, raw) else {
            continue;
        };
        let kind = match line.words.first() {
            Some(w) if !w.quoted => match w.text.as_str() {
                "global" => Some(Kind::Global),
                "defaults" => Some(Kind::Defaults),
                "frontend" => Some(Kind::Frontend),
                "backend" => Some(Kind::Backend),
                "listen" => Some(Kind::Listen),
                "resolvers" => Some(Kind::Resolvers),
                other if OTHER_SECTIONS.contains(&other) => Some(Kind::Other),
                _ => None,
            },
            _ => None,
        };
        match kind {
            Some(kind) => out.push(Section {
                kind,
                header: Some(line),
                lines: Vec::new(),
            }),
            None => {
                if let Some(last) = out.last_mut() {
                    last.lines.push(line);
                }
            }
        }
    }
    out
}

/// Reads one line; `None` for blank and comment-only lines.
pub(crate) fn line(no: usize, raw: &str) -> Option<Line> {
    let (words, end, problem) = tokenize(raw);
    if words.is_empty() {
        return None;
    }
    let raw = raw.get(..end).unwrap_or(raw).trim().to_string();
    Some(Line {
        no,
        words,
        raw,
        problem,
    })
}

/// A character of a word being built, and whether it is a literal `$`.
type Built = Vec<(char, bool)>;

/// Splits a line into words; returns them, the byte offset where the
/// comment starts (or the length) and a problem if the line is malformed.
fn tokenize(line: &str) -> (Vec<Word>, usize, Option<String>) {
    let mut words = Vec::new();
    let mut problem = None;
    let mut chars = line.char_indices().peekable();
    let mut end = line.len();
    'words: loop {
        while chars.next_if(|&(_, c)| c == ' ' || c == '\t').is_some() {}
        let Some(&(start, first)) = chars.peek() else {
            break;
        };
        if first == '#' {
            end = start;
            break;
        }
        let mut built: Built = Vec::new();
        let mut quoted = false;
        let mut env = false;
        while let Some(&(at, c)) = chars.peek() {
            match c {
                ' ' | '\t' => break,
                '#' => {
                    end = at;
                    words.push(word(built, quoted, env));
                    break 'words;
                }
                '\'' => {
                    chars.next();
                    quoted = true;
                    loop {
                        match chars.next() {
                            Some((_, '\'')) => break,
                            Some((_, c)) => built.push((c, c == '$')),
                            None => {
                                problem = Some("unterminated `'` quote".to_string());
                                break;
                            }
                        }
                    }
                }
                '"' => {
                    chars.next();
                    quoted = true;
                    loop {
                        match chars.next() {
                            Some((_, '"')) => break,
                            Some((_, '\\')) => {
                                escape(&mut chars, &mut built, true);
                            }
                            Some((_, '$')) => env |= variable(&mut chars, &mut built),
                            Some((_, c)) => built.push((c, false)),
                            None => {
                                problem = Some("unterminated `\"` quote".to_string());
                                break;
                            }
                        }
                    }
                }
                '\\' => {
                    chars.next();
                    quoted |= escape(&mut chars, &mut built, false);
                }
                c => {
                    chars.next();
                    built.push((c, c == '$'));
                }
            }
        }
        words.push(word(built, quoted, env));
    }
    (words, end, problem)
}

/// Finishes a word: its plain text and its fairway form.
fn word(built: Built, quoted: bool, env: bool) -> Word {
    let text: String = built.iter().map(|(c, _)| *c).collect();
    let mut fw = String::with_capacity(text.len());
    for (i, (c, literal_dollar)) in built.iter().enumerate() {
        fw.push(*c);
        let next = built.get(i + 1).map(|(c, _)| *c);
        if *literal_dollar && matches!(next, Some('{') | Some('$')) {
            fw.push('$');
        }
    }
    Word {
        text,
        fw,
        quoted,
        env,
    }
}

/// Handles the character after a backslash; returns whether it was an
/// escape (a backslash before another character stays as written).
fn escape(
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    built: &mut Built,
    in_double: bool,
) -> bool {
    let Some((_, e)) = chars.next() else {
        built.push(('\\', false));
        return false;
    };
    match e {
        ' ' | '#' | '\\' | '\'' | '"' => built.push((e, false)),
        '$' if in_double => built.push(('$', true)),
        'n' => built.push(('\n', false)),
        'r' => built.push(('\r', false)),
        't' => built.push(('\t', false)),
        'x' => {
            let hex: String = [chars.next_if(hexdigit), chars.next_if(hexdigit)]
                .into_iter()
                .flatten()
                .map(|(_, c)| c)
                .collect();
            match u8::from_str_radix(&hex, 16) {
                Ok(b) if hex.len() == 2 => built.push((char::from(b), false)),
                _ => {
                    built.push(('\\', false));
                    built.push(('x', false));
                    built.extend(hex.chars().map(|c| (c, false)));
                    return false;
                }
            }
        }
        other => {
            built.push(('\\', false));
            built.push((other, other == '$'));
            return false;
        }
    }
    true
}

fn hexdigit(c: &(usize, char)) -> bool {
    c.1.is_ascii_hexdigit()
}

/// After a `$` inside double quotes: `${NAME}` or `$NAME` become `${NAME}`
/// (returns true); anything else is a literal `$`.
fn variable(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>, built: &mut Built) -> bool {
    let is_name_start = |c: &(usize, char)| c.1.is_ascii_alphabetic() || c.1 == '_';
    let is_name = |c: &(usize, char)| c.1.is_ascii_alphanumeric() || c.1 == '_';
    let mut name = String::new();
    if chars.next_if(|c| c.1 == '{').is_some() {
        // `${NAME}`; anything else inside the braces (HAProxy's `${NAME-x}`
        // or `${NAME[*]}`) is kept as written and rejected by fairway.
        let mut inner = String::new();
        let mut closed = false;
        for (_, c) in chars.by_ref() {
            if c == '}' || c == '"' {
                closed = c == '}';
                break;
            }
            inner.push(c);
        }
        built.push(('$', false));
        built.push(('{', false));
        built.extend(inner.chars().map(|c| (c, false)));
        if closed {
            built.push(('}', false));
        }
        return true;
    }
    if let Some((_, c)) = chars.next_if(is_name_start) {
        name.push(c);
        while let Some((_, c)) = chars.next_if(is_name) {
            name.push(c);
        }
        built.push(('$', false));
        built.push(('{', false));
        built.extend(name.chars().map(|c| (c, false)));
        built.push(('}', false));
        return true;
    }
    built.push(('$', true));
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<String> {
        tokenize(line).0.into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn words_quotes_and_comments() {
        assert_eq!(texts("  bind *:80   # web"), ["bind", "*:80"]);
        assert_eq!(texts("a 'b c' \"d e\" f\\ g"), ["a", "b c", "d e", "f g"]);
        assert_eq!(texts("x a#b"), ["x", "a"]);
        assert_eq!(texts("x 'a#b' \"c#d\" e\\#f"), ["x", "a#b", "c#d", "e#f"]);
        assert_eq!(texts("# only a comment"), Vec::<String>::new());
        assert_eq!(texts("path_reg ^/v\\d+/$"), ["path_reg", "^/v\\d+/$"]);
        assert_eq!(
            texts("option httpchk HEAD / HTTP/1.1\\r\\nHost:localhost"),
            [
                "option",
                "httpchk",
                "HEAD",
                "/",
                "HTTP/1.1\r\nHost:localhost"
            ]
        );
        assert_eq!(texts("a \\x41\\x4"), ["a", "A\\x4"]);
        let (_, _, problem) = tokenize("a \"open");
        assert!(problem.is_some());
    }

    #[test]
    fn environment_variables() {
        let (w, _, _) = tokenize("x \"region: $FLY_REGION, ${B}\" '${C}' $D \"\\${E}\"");
        assert_eq!(w[1].text, "region: ${FLY_REGION}, ${B}");
        assert!(w[1].env);
        assert_eq!(w[1].fw, "region: ${FLY_REGION}, ${B}");
        // Literal dollars are escaped for fairway only where they would be
        // read as a variable.
        assert_eq!(w[2].text, "${C}");
        assert_eq!(w[2].fw, "$${C}");
        assert!(!w[2].env);
        assert_eq!(w[3].fw, "$D");
        assert_eq!(w[4].text, "${E}");
        assert_eq!(w[4].fw, "$${E}");
    }

    #[test]
    fn sections_split() {
        let s = sections(
            "foo\nglobal\n  daemon\nfrontend web\n bind :80\nuserlist u\n user a\nresolvers r\n",
        );
        let kinds: Vec<Kind> = s.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::None,
                Kind::Global,
                Kind::Frontend,
                Kind::Other,
                Kind::Resolvers
            ]
        );
        assert_eq!(s[0].lines[0].no, 1);
        assert_eq!(s[2].name(), Some("web"));
        assert_eq!(s[2].lines[0].raw, "bind :80");
        assert_eq!(s[3].lines.len(), 1);
    }
}
