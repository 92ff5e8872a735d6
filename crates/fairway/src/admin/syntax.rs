//! The syntax and the texts of HAProxy's runtime CLI: how a line splits
//! into commands and words, how a weight parses, and the help and
//! "Unknown command" replies (`src/cli.c`, `src/server.c`).

use fairway_config::MAX_WEIGHT;
use std::fmt::Write;

/// The commands and their help lines, as HAProxy prints them (sorted).
const COMMANDS: &[(&str, &str)] = &[
    ("add server", "add server <bk>/<srv> <addr> [opts]     : create a new server, in maintenance (opts: weight <w>, backup)"),
    ("del server", "del server <bk>/<srv>                   : remove a server that is in maintenance"),
    ("disable server", "disable server <bk>/<srv>               : put a server in maintenance (use 'set server' instead)"),
    ("enable server", "enable server <bk>/<srv>                : take a server out of maintenance (use 'set server' instead)"),
    ("get weight", "get weight <bk>/<srv>                   : report a server's current weight"),
    ("set server", "set server <bk>/<srv> [opts]            : change a server's state, weight or address"),
    ("set weight", "set weight <bk>/<srv>  (DEPRECATED)     : change a server's weight (use 'set server' instead)"),
    ("show backend", "show backend                            : list backends in the current running config"),
    ("show info", "show info                               : report information about the running process"),
    ("show servers state", "show servers state [<backend>]          : dump volatile server information (all or for a single backend)"),
    ("show stat", "show stat [json]                        : report counters for each proxy and server"),
];

/// The lines HAProxy always appends to its command list.
const ALWAYS: &str = "  help [<command>]                        : list matching or all commands\n  prompt                                  : toggle interactive mode with prompt\n  quit                                    : disconnect\n";

/// HAProxy's weight syntax: `N` (0..=256) or `N%` of the initial weight,
/// parsed like `strtol`, with HAProxy's error texts.
pub fn parse_weight(value: &str, initial: u16) -> Result<u16, &'static str> {
    if value.is_empty() {
        return Err("Require <weight> or <weight%>.\n");
    }
    let trimmed = value.trim_start();
    let (negative, digits_from) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let rest = &trimmed[digits_from..];
    let end = rest
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(rest.len());
    if end == 0 {
        return Err("Empty weight string empty or preceded by garbage\n");
    }
    // Saturates like strtol; anything this large is out of range anyway.
    let magnitude = rest[..end].bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    let tail = &rest[end..];
    if tail == "%" {
        if negative && magnitude > 0 {
            return Err("Relative weight must be positive.\n");
        }
        let percent = magnitude.min(25_600);
        let w = (u64::from(initial) * percent / 100).min(u64::from(MAX_WEIGHT));
        return Ok(w as u16);
    }
    if (negative && magnitude > 0) || magnitude > u64::from(MAX_WEIGHT) {
        return Err("Absolute weight can only be between 0 and 256 inclusive.\n");
    }
    if !tail.is_empty() {
        return Err("Trailing garbage in weight string\n");
    }
    Ok(magnitude as u16)
}

/// `help [words]`: the commands starting with `words` (all without).
pub(super) fn help(words: &[&str]) -> String {
    let mut out = String::from("The following commands are valid at this level:\n");
    let prefix = words.join(" ");
    for (name, usage) in COMMANDS {
        if prefix.is_empty() || name.starts_with(&prefix) {
            let _ = writeln!(out, "  {usage}");
        }
    }
    out.push_str(ALWAYS);
    out
}

/// HAProxy's reply to a command it does not know.
pub(super) fn unknown(words: &[&str]) -> String {
    let first = words.first().copied().unwrap_or("");
    let matching: Vec<&str> = COMMANDS
        .iter()
        .filter(|(name, _)| name.split(' ').next() == Some(first))
        .map(|(_, usage)| *usage)
        .collect();
    let mut out = format!("Unknown command: '{first}'");
    if matching.is_empty() {
        out.push_str(". Please enter one of the following commands only:\n");
        for (_, usage) in COMMANDS {
            let _ = writeln!(out, "  {usage}");
        }
    } else {
        out.push_str(", but maybe one of the following ones is a better match:\n");
        for usage in matching {
            let _ = writeln!(out, "  {usage}");
        }
    }
    out.push_str(ALWAYS);
    out
}

/// Splits a line into commands (`;`) of words (spaces, tabs); a backslash
/// takes the next character literally.
pub fn split(line: &str) -> Vec<Vec<String>> {
    let mut commands = vec![Vec::new()];
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.trim_end_matches(['\r', '\n']).chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    word.push(next);
                    in_word = true;
                }
            }
            ';' | ' ' | '\t' => {
                if in_word {
                    if let Some(cmd) = commands.last_mut() {
                        cmd.push(std::mem::take(&mut word));
                    }
                    in_word = false;
                }
                if c == ';' {
                    commands.push(Vec::new());
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        if let Some(cmd) = commands.last_mut() {
            cmd.push(word);
        }
    }
    commands
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_parse_like_haproxy() {
        assert_eq!(parse_weight("0", 1), Ok(0));
        assert_eq!(parse_weight("256", 1), Ok(256));
        assert_eq!(parse_weight("+3", 1), Ok(3));
        assert_eq!(parse_weight("200%", 10), Ok(20));
        assert_eq!(parse_weight("99999%", 10), Ok(256));
        assert!(parse_weight("-1", 1).is_err());
        assert!(parse_weight("-1%", 1).is_err());
        assert!(parse_weight("99999999999999999999999", 1).is_err());
    }

    #[test]
    fn lines_split_like_haproxy() {
        assert_eq!(
            split("set server a/b weight 1; get weight a/b\r\n"),
            vec![
                vec!["set", "server", "a/b", "weight", "1"],
                vec!["get", "weight", "a/b"]
            ]
        );
        assert_eq!(split("a\\;b c"), vec![vec!["a;b", "c"]]);
    }
}
