//! The text of rules: HAProxy words written back for fairway's parser
//! (which has HAProxy's quoting), log-format arguments, and what fairway's
//! `${VAR}` substitution does to a string.

use super::parse::Word;

/// A word written for a fairway rule string (fairway's ACL language has
/// HAProxy's quoting, so a word keeps its meaning).
pub(crate) fn requote(w: &Word) -> String {
    let t = &w.fw;
    let quote = w.quoted
        || t.is_empty()
        || t.chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '#'));
    let mut out = String::with_capacity(t.len() + 2);
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                // fairway keeps a backslash before other characters as
                // written, like HAProxy; double it only where it would
                // escape something.
                let next = chars.peek().copied();
                let escapes = match next {
                    None => true,
                    Some(n) => n.is_whitespace() || "\\\"' #$nrtx".contains(n),
                };
                out.push_str(if escapes { "\\\\" } else { "\\" });
            }
            '"' => out.push_str("\\\""),
            '\'' => out.push('\''),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    if quote {
        format!("\"{out}\"")
    } else {
        out
    }
}

/// Words joined for a rule string.
pub(crate) fn join(words: &[Word]) -> String {
    words.iter().map(requote).collect::<Vec<_>>().join(" ")
}

/// `text` as fairway's parser sees it after `${VAR}` substitution (`$$` is
/// `$`; every variable is taken to be `x`).
pub(crate) fn as_loaded(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((_, tail)) = after.strip_prefix('{').and_then(|t| t.split_once('}')) {
            out.push('x');
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A fairway error message without its list of valid choices.
pub(crate) fn short(message: &str) -> String {
    let mut m = message.to_string();
    for cut in [" (known:", " (supported:", " (valid:", " (expected one of"] {
        if let Some(i) = m.find(cut) {
            m.truncate(i);
        }
    }
    m
}

/// Splits a rule's words at its `if`/`unless` (the guard keeps it).
pub(crate) fn split_guard(words: &[Word]) -> (&[Word], &[Word]) {
    let at = words
        .iter()
        .position(|w| w.is("if") || w.is("unless"))
        .unwrap_or(words.len());
    words.split_at(at)
}

/// HAProxy log-format text (`%[src]`, `%ci`) in an argument fairway takes
/// literally (`set-path`, the replacement of `replace-*`): `Ok` with `%%`
/// turned into `%` when there is none, else why not. (Values with samples
/// are converted by `format::value`.)
pub(crate) fn plain_format(w: &Word) -> Result<Word, String> {
    let t = &w.text;
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('%') => {}
                Some(n) if n == '[' || n == '{' || n.is_ascii_alphabetic() => {
                    return Err(format!(
                        "`{t}` uses HAProxy log-format expressions, which fairway does not evaluate here"
                    ))
                }
                _ => {}
            }
        }
    }
    Ok(Word {
        text: t.replace("%%", "%"),
        fw: w.fw.replace("%%", "%"),
        quoted: w.quoted,
        env: w.env,
    })
}

/// `base`, or `base-2`, `base-3`... not in `taken`.
pub(crate) fn unique<'a>(base: &str, taken: impl Iterator<Item = &'a String> + Clone) -> String {
    let mut name = base.to_string();
    let mut n = 1;
    while taken.clone().any(|t| *t == name) {
        n += 1;
        name = format!("{base}-{n}");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::super::parse::line;
    use super::*;

    fn words(text: &str) -> Vec<Word> {
        line(1, text).map(|l| l.words).unwrap_or_default()
    }

    #[test]
    fn requoting_keeps_meaning() {
        assert_eq!(
            join(&words(r#"a "b c" 'd\e' ^/v\d+/ "\\" x\"y"#)),
            r#"a "b c" "d\e" ^/v\d+/ "\\" "x\"y""#
        );
        assert_eq!(join(&words(r#"'{' "if""#)), r#""{" "if""#);
        assert_eq!(join(&words("'a\\'")), r#""a\\""#);
    }

    #[test]
    fn log_format_arguments() {
        let w = |t: &str| words(t).remove(0);
        assert_eq!(plain_format(&w("100%%")).unwrap().text, "100%");
        assert!(plain_format(&w("%[src]")).is_err());
        assert!(plain_format(&w("%ci")).is_err());
        assert!(plain_format(&w("\"region: %{+Q}o\"")).is_err());
        assert_eq!(plain_format(&w("50%")).unwrap().text, "50%");
    }
}
