//! Splitting HAProxy lines into words (quotes, escapes, byte offsets).
//!
//! Words are separated by ASCII whitespace. Inside a word:
//!
//! * `'...'` quotes literally (no escapes);
//! * `"..."` quotes with backslash escapes;
//! * outside quotes and inside double quotes, `\\`, `\"`, `\'`, `\ `, `\#`
//!   and `\$` stand for the character itself, `\n`, `\r` and `\t` for the
//!   control character, and any other backslash is kept as written (so a
//!   regex such as `^/v\d+/` needs no doubling).
//!
//! Quoted parts may be glued to unquoted ones (`a"b c"d` is the word
//! `ab cd`), as in HAProxy. Braces are not special here: the condition parser
//! treats `{` and `}` as operators only when they are unquoted words on their
//! own ([`Word::is_bare`]).

use crate::AclError;

/// One word of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    /// The word after quote removal and escape processing.
    pub(crate) text: String,
    /// Byte offset of the word's first character in the line.
    pub(crate) offset: usize,
    /// Whether any part of the word was quoted or escaped.
    pub(crate) quoted: bool,
}

impl Word {
    /// Whether this word is exactly `s`, written without quotes or escapes
    /// (keywords and operators only count when bare).
    pub(crate) fn is_bare(&self, s: &str) -> bool {
        !self.quoted && self.text == s
    }
}

/// Splits `line` into words.
pub(crate) fn tokenize(line: &str) -> Result<Vec<Word>, AclError> {
    let mut words = Vec::new();
    let mut chars = line.char_indices().peekable();
    loop {
        // Skip whitespace between words.
        while chars.next_if(|&(_, c)| c.is_ascii_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            return Ok(words);
        };
        let mut text = String::new();
        let mut quoted = false;
        while let Some(&(at, c)) = chars.peek() {
            if c.is_ascii_whitespace() {
                break;
            }
            chars.next();
            match c {
                '\'' => {
                    quoted = true;
                    loop {
                        match chars.next() {
                            Some((_, '\'')) => break,
                            Some((_, c)) => text.push(c),
                            None => {
                                return Err(AclError::new(at, "unterminated `'` quote"));
                            }
                        }
                    }
                }
                '"' => {
                    quoted = true;
                    loop {
                        match chars.next() {
                            Some((_, '"')) => break,
                            Some((_, '\\')) => match chars.next() {
                                Some((_, e)) => escape(&mut text, e),
                                None => {
                                    return Err(AclError::new(at, "unterminated `\"` quote"));
                                }
                            },
                            Some((_, c)) => text.push(c),
                            None => {
                                return Err(AclError::new(at, "unterminated `\"` quote"));
                            }
                        }
                    }
                }
                '\\' => match chars.next() {
                    Some((_, e)) => {
                        quoted = true;
                        escape(&mut text, e);
                    }
                    None => text.push('\\'),
                },
                c => text.push(c),
            }
        }
        words.push(Word {
            text,
            offset: start,
            quoted,
        });
    }
}

/// Appends the meaning of the escape `\e` to `text`.
fn escape(text: &mut String, e: char) {
    match e {
        'n' => text.push('\n'),
        'r' => text.push('\r'),
        't' => text.push('\t'),
        '\\' | '"' | '\'' | ' ' | '#' | '$' => text.push(e),
        other => {
            text.push('\\');
            text.push(other);
        }
    }
}

/// Whether `s` is a valid fairway name: `[A-Za-z0-9_.-]+`.
pub(crate) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Whether `s` is an HTTP token (RFC 9110 `token`), as header names are.
pub(crate) fn is_http_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<String> {
        match tokenize(line) {
            Ok(words) => words.into_iter().map(|w| w.text).collect(),
            Err(e) => panic!("{line:?}: {e}"),
        }
    }

    fn offsets(line: &str) -> Vec<usize> {
        match tokenize(line) {
            Ok(words) => words.into_iter().map(|w| w.offset).collect(),
            Err(e) => panic!("{line:?}: {e}"),
        }
    }

    #[test]
    fn splits_on_whitespace() {
        assert_eq!(
            texts("path_beg  -i\t/api/ /v1/"),
            ["path_beg", "-i", "/api/", "/v1/"]
        );
        assert_eq!(texts("   "), Vec::<String>::new());
        assert_eq!(texts(""), Vec::<String>::new());
        assert_eq!(texts("  a  "), ["a"]);
    }

    #[test]
    fn keeps_byte_offsets() {
        assert_eq!(offsets("path_beg  -i /api/"), [0, 10, 13]);
        assert_eq!(offsets("  'a b' \"c\""), [2, 8]);
        // Offsets are bytes, not characters.
        assert_eq!(offsets("é x"), [0, 3]);
    }

    #[test]
    fn quotes() {
        assert_eq!(
            texts(r#"string "hello world" 'it''s'"#),
            ["string", "hello world", "its"]
        );
        assert_eq!(texts(r#"a"b c"d"#), ["ab cd"]);
        assert_eq!(texts(r#""" ''"#), ["", ""]);
        assert_eq!(texts(r#"'a\nb "c"'"#), [r#"a\nb "c""#]);
    }

    #[test]
    fn escapes() {
        assert_eq!(texts(r#""say \"hi\"""#), [r#"say "hi""#]);
        assert_eq!(texts(r#""a\\b""#), [r"a\b"]);
        assert_eq!(texts(r#""a\nb\tc\r""#), ["a\nb\tc\r"]);
        assert_eq!(texts(r"a\ b c"), ["a b", "c"]);
        // Unknown escapes are kept, so regexes need no doubling.
        assert_eq!(texts(r"^/v\d+\.json$"), [r"^/v\d+\.json$"]);
        assert_eq!(texts(r#""^/v\d+""#), [r"^/v\d+"]);
        assert_eq!(texts(r"a\"), [r"a\"]);
    }

    #[test]
    fn quoted_flag() {
        let words = tokenize(r#"{ "{" \} }"#).unwrap_or_default();
        let flags: Vec<bool> = words.iter().map(|w| w.quoted).collect();
        assert_eq!(flags, [false, true, true, false]);
        assert!(words[0].is_bare("{"));
        assert!(!words[1].is_bare("{"));
        assert!(words[3].is_bare("}"));
    }

    #[test]
    fn unterminated_quotes() {
        assert_eq!(
            tokenize(r#"string "abc"#),
            Err(AclError::new(7, "unterminated `\"` quote"))
        );
        assert_eq!(
            tokenize("x 'abc"),
            Err(AclError::new(2, "unterminated `'` quote"))
        );
        assert_eq!(
            tokenize(r#"x "abc\""#),
            Err(AclError::new(2, "unterminated `\"` quote"))
        );
    }

    #[test]
    fn names_and_tokens() {
        for good in ["a", "web-1", "api_v2.internal", "A9"] {
            assert!(is_name(good), "{good}");
        }
        for bad in ["", "a b", "a/b", "é", "a:b"] {
            assert!(!is_name(bad), "{bad}");
        }
        for good in ["x-forwarded-for", "X-Env", "a!#$%&'*+-.^_`|~9"] {
            assert!(is_http_token(good), "{good}");
        }
        for bad in ["", "a b", "a:b", "a,b", "(a)", "a\nb", "é"] {
            assert!(!is_http_token(bad), "{bad}");
        }
    }
}
