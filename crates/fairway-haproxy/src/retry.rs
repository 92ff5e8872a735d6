//! `retry-on` (defaults, backend, listen): the failures HAProxy retries,
//! as fairway's `retry_on`.

use super::emit::{s, Value};
use super::parse::Word;
use super::Report;

/// `retry-on` as read: where, and fairway's words (kinds first, then
/// statuses ascending, as fairway lists them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RetryOn {
    pub line: usize,
    pub raw: String,
    pub words: Vec<String>,
}

/// The failure kinds, in fairway's order.
const KINDS: &[&str] = &[
    "conn-failure",
    "empty-response",
    "junk-response",
    "response-timeout",
];

/// The statuses HAProxy's `retry-on` takes (fairway takes 400 to 599).
const STATUSES: &[&str] = &[
    "401", "403", "404", "408", "421", "425", "429", "500", "501", "502", "503", "504",
];

/// What `all-retryable-errors` stands for (HAProxy's manual and
/// `proxy_parse_retry_on`), but `0rtt-rejected`.
const ALL_RETRYABLE: &[&str] = &[
    "conn-failure",
    "empty-response",
    "junk-response",
    "response-timeout",
    "500",
    "502",
    "503",
    "504",
];

/// HAProxy's default, and fairway's.
const DEFAULT: &[&str] = &["conn-failure"];

const NO_EARLY_DATA: &str = "fairway sends no TLS early data (0-RTT) to servers, so no request \
                             is rejected for it";

/// Reads the words of `retry-on`: fairway's words and remarks, or why the
/// line cannot be converted (HAProxy refuses it too).
pub(crate) fn read(words: &[Word]) -> Result<(Vec<String>, Vec<String>), String> {
    if words.is_empty() {
        return Err("`retry-on` needs at least one keyword".into());
    }
    let mut on: Vec<&str> = Vec::new();
    let mut remarks = Vec::new();
    for w in words {
        match w.text.as_str() {
            "none" if words.len() == 1 => {}
            "none" => return Err("`none` is only valid alone".into()),
            "0rtt-rejected" => {
                remarks.push(format!("0rtt-rejected left out: {NO_EARLY_DATA}"));
            }
            "all-retryable-errors" => {
                on.extend(ALL_RETRYABLE);
                remarks.push(format!(
                    "all-retryable-errors is {} (its 0rtt-rejected left out: {NO_EARLY_DATA})",
                    ALL_RETRYABLE.join(" ")
                ));
            }
            k if KINDS.contains(&k) || STATUSES.contains(&k) => on.push(k),
            other => {
                return Err(format!(
                    "unknown keyword `{other}` (HAProxy takes {}, {}, 0rtt-rejected, \
                     all-retryable-errors and none)",
                    KINDS.join(", "),
                    STATUSES.join(", ")
                ))
            }
        }
    }
    let ordered = KINDS
        .iter()
        .chain(STATUSES)
        .filter(|k| on.contains(k))
        .map(|k| k.to_string())
        .collect();
    Ok((ordered, remarks))
}

/// `retry_on` of a backend, when it is not the default; in `mode tcp`
/// HAProxy ignores `retry-on` (so does the conversion, with a note).
pub(crate) fn emit(
    r: Option<&RetryOn>,
    mode: &str,
    backend: &str,
    report: &mut Report,
    comments: &mut Vec<String>,
) -> Option<Value> {
    let r = r?;
    if r.words == DEFAULT {
        return None;
    }
    if mode != "http" {
        let why = format!(
            "ignored in tcp backend {backend}: HAProxy retries only connection failures in tcp \
             mode, as fairway"
        );
        comments.push(report.note(r.line, &r.raw, &why));
        return None;
    }
    Some(Value::FlowList(r.words.iter().map(s).collect()))
}

#[cfg(test)]
mod tests {
    use super::super::parse::line;
    use super::*;

    fn read_line(text: &str) -> Result<(Vec<String>, Vec<String>), String> {
        let l = line(1, text).unwrap_or_else(|| panic!("{text}"));
        read(l.rest(1))
    }

    #[test]
    fn keywords_and_statuses_in_fairways_order() {
        let (words, remarks) = read_line("retry-on 503 response-timeout 503 conn-failure").unwrap();
        assert_eq!(words, ["conn-failure", "response-timeout", "503"]);
        assert!(remarks.is_empty());
        let (words, _) = read_line("retry-on 429 421 425").unwrap();
        assert_eq!(words, ["421", "425", "429"]);
    }

    #[test]
    fn none_is_an_empty_list_and_only_valid_alone() {
        assert_eq!(read_line("retry-on none").unwrap().0, Vec::<String>::new());
        assert!(read_line("retry-on none 503")
            .unwrap_err()
            .contains("alone"));
        assert!(read_line("retry-on").unwrap_err().contains("at least one"));
    }

    #[test]
    fn all_retryable_errors_expands_without_0rtt() {
        let (words, remarks) = read_line("retry-on all-retryable-errors 404").unwrap();
        assert_eq!(
            words,
            [
                "conn-failure",
                "empty-response",
                "junk-response",
                "response-timeout",
                "404",
                "500",
                "502",
                "503",
                "504"
            ]
        );
        assert_eq!(remarks.len(), 1);
        assert!(remarks[0].contains("0rtt-rejected left out"), "{remarks:?}");
        let (words, remarks) = read_line("retry-on 0rtt-rejected").unwrap();
        assert!(words.is_empty());
        assert!(remarks[0].contains("early data"), "{remarks:?}");
    }

    #[test]
    fn unknown_keywords_are_refused_with_the_valid_ones() {
        let e = read_line("retry-on 5xx").unwrap_err();
        assert!(e.contains("unknown keyword `5xx`"), "{e}");
        assert!(e.contains("junk-response"), "{e}");
        assert!(read_line("retry-on 505").is_err());
    }

    #[test]
    fn the_default_and_tcp_backends_emit_nothing() {
        let mut report = Report::default();
        let mut comments = Vec::new();
        let r = |words: &[&str]| RetryOn {
            line: 3,
            raw: "retry-on ...".into(),
            words: words.iter().map(|w| w.to_string()).collect(),
        };
        let default = r(&["conn-failure"]);
        assert_eq!(
            emit(Some(&default), "http", "b", &mut report, &mut comments),
            None
        );
        let some = r(&["conn-failure", "503"]);
        assert_eq!(
            emit(Some(&some), "http", "b", &mut report, &mut comments),
            Some(Value::FlowList(vec![s("conn-failure"), s("503")]))
        );
        assert_eq!(
            emit(Some(&r(&[])), "http", "b", &mut report, &mut comments),
            Some(Value::FlowList(Vec::new()))
        );
        assert!(comments.is_empty());
        assert_eq!(
            emit(Some(&some), "tcp", "b", &mut report, &mut comments),
            None
        );
        assert!(
            comments[0].contains("ignored in tcp backend b"),
            "{comments:?}"
        );
    }
}
