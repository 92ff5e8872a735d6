//! `observe`, `error-limit` and `on-error` of servers: HAProxy's health
//! adjustment from real traffic, as the backend's passive `outlier`
//! ejection.
//!
//! HAProxy counts a server's errors in a row; at `error-limit` (default
//! 10) `on-error` acts through the server's health check: `mark-down`
//! marks it down until `rise` checks pass, `sudden-death` leaves it one
//! failed check away from down, `fail-check` counts one failed check and
//! `fastinter` only checks sooner. fairway's `outlier` ejects a server
//! after `consecutive_errors` errors for `eject`, doubled on each repeat,
//! with or without health checks. `mark-down` and `sudden-death` map to
//! it; the other two have no equivalent.

use super::emit::{s, Value};
use super::server::{fmt_duration, Observe, OnError, ServerOpts};
use super::settings::DEFAULT_INTER;
use super::Report;

/// HAProxy's `error-limit` when none is given.
const DEFAULT_ERROR_LIMIT: u64 = 10;
/// HAProxy's `on-error` when none is given.
const DEFAULT_ON_ERROR: OnError = OnError::FailCheck;
/// HAProxy's `rise` when none is given.
const DEFAULT_RISE: u64 = 2;

/// A server of the backend, with its options over `default-server`.
pub(crate) struct Server<'a> {
    pub line: usize,
    pub name: &'a str,
    pub opts: &'a ServerOpts,
}

impl Server<'_> {
    fn limit(&self) -> u64 {
        self.opts.error_limit.unwrap_or(DEFAULT_ERROR_LIMIT)
    }

    fn on_error(&self) -> OnError {
        self.opts.on_error.unwrap_or(DEFAULT_ON_ERROR)
    }

    /// How long HAProxy keeps the server down after `on-error`: until
    /// `rise` checks pass, `inter` apart.
    fn down_for(&self) -> std::time::Duration {
        let rise = self.opts.rise.unwrap_or(DEFAULT_RISE);
        let inter = self.opts.inter.unwrap_or(DEFAULT_INTER);
        inter.saturating_mul(u32::try_from(rise).unwrap_or(u32::MAX))
    }

    /// The options as a directive, with HAProxy's defaults filled in.
    fn directive(&self) -> String {
        let layer = match self.opts.observe {
            Some(Observe::Layer4) => "layer4",
            Some(Observe::Layer7) => "layer7",
            _ => "none",
        };
        format!(
            "server {} observe {layer} error-limit {} on-error {}",
            self.name,
            self.limit(),
            self.on_error().name()
        )
    }
}

/// The backend's `outlier`, if a server's `observe` maps to it; findings
/// go to the report and `comments`.
pub(crate) fn emit(
    servers: &[Server<'_>],
    mode: &str,
    report: &mut Report,
    comments: &mut Vec<String>,
) -> Option<Value> {
    let mut mapped: Vec<&Server> = Vec::new();
    // on-error mode → servers whose mode fairway has no equivalent for.
    let mut unmapped: Vec<(OnError, Vec<&Server>)> = Vec::new();
    for srv in servers {
        let layer = match srv.opts.observe {
            Some(l @ (Observe::Layer4 | Observe::Layer7)) => l,
            _ => continue,
        };
        if srv.opts.check != Some(true) {
            let why = "no effect in HAProxy, which acts on the errors through the server's \
                       health check, and this server has no `check`: not converted";
            comments.push(report.note(srv.line, &srv.directive(), why));
            continue;
        }
        if layer == Observe::Layer7 && mode != "http" {
            let why = "ignored: HAProxy refuses `observe layer7` outside mode http";
            comments.push(report.note(srv.line, &srv.directive(), why));
            continue;
        }
        match srv.on_error() {
            OnError::MarkDown | OnError::SuddenDeath => mapped.push(srv),
            other => match unmapped.iter_mut().find(|(m, _)| *m == other) {
                Some((_, list)) => list.push(srv),
                None => unmapped.push((other, vec![srv])),
            },
        }
    }
    for (mode, list) in &unmapped {
        let names: Vec<&str> = list.iter().map(|s| s.name).collect();
        let directive = format!(
            "on-error {} (servers {}; the default when `observe` has no on-error)",
            mode.name(),
            names.join(", ")
        );
        let why = match mode {
            OnError::FastInter => {
                "not converted: it only makes HAProxy check sooner, and fairway checks at one \
                 interval"
            }
            _ => {
                "not converted: fairway has no equivalent of counting traffic errors as one \
                 failed health check; `on-error mark-down` (or `outlier:`, written by hand) \
                 ejects the server instead"
            }
        };
        let line = list.first().map_or(0, |s| s.line);
        comments.push(report.note(line, &directive, why));
    }
    let strictest = mapped.iter().min_by_key(|s| {
        (
            s.limit(),
            s.on_error() != OnError::MarkDown,
            s.down_for(),
            s.line,
        )
    })?;
    let limit = strictest.limit();
    let eject = strictest.down_for();
    let differ: Vec<&str> = mapped
        .iter()
        .filter(|s| (s.limit(), s.on_error(), s.down_for()) != (limit, strictest.on_error(), eject))
        .map(|s| s.name)
        .collect();
    let mut remark = format!(
        "passive ejection: after {limit} errors in a row fairway ejects the server for {} \
         (rise × inter: the time HAProxy's checks take to bring it back), doubled on each \
         repeat ejection, and never more than max_ejected (100%: HAProxy may mark every server \
         down)",
        fmt_duration(eject)
    );
    if strictest.on_error() == OnError::SuddenDeath {
        remark.push_str(
            "; with sudden-death HAProxy marks the server down only if its next check fails too",
        );
    }
    if strictest.opts.observe == Some(Observe::Layer4) && mode == "http" {
        remark.push_str(
            "; layer4 counts connection failures only, fairway also 5xx responses and timeouts",
        );
    } else if mode == "http" {
        remark.push_str("; fairway counts 501 and 505 responses as errors too");
    }
    comments.push(report.note(strictest.line, &strictest.directive(), &remark));
    if !differ.is_empty() {
        let why = format!(
            "fairway ejects every server of a backend alike: the strictest settings, those of \
             {} (line {}), apply to {} too",
            strictest.name,
            strictest.line,
            differ.join(", ")
        );
        let first = mapped.iter().find(|s| s.name == differ[0]);
        if let Some(srv) = first {
            comments.push(report.note(srv.line, &srv.directive(), &why));
        }
    }
    let others: Vec<&str> = servers
        .iter()
        .filter(|srv| !mapped.iter().any(|m| m.name == srv.name))
        .map(|srv| srv.name)
        .collect();
    if !others.is_empty() {
        let why = format!(
            "fairway's ejection covers every server of the backend: also {}, which HAProxy does \
             not eject",
            others.join(", ")
        );
        comments.push(report.note(strictest.line, &strictest.directive(), &why));
    }
    Some(Value::Flow(vec![
        ("consecutive_errors".into(), Value::Int(limit)),
        ("eject".into(), s(fmt_duration(eject))),
        ("max_ejected".into(), s("100%")),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn opts(observe: Option<Observe>, limit: Option<u64>, on: Option<OnError>) -> ServerOpts {
        ServerOpts {
            check: Some(true),
            observe,
            error_limit: limit,
            on_error: on,
            ..ServerOpts::default()
        }
    }

    fn run(servers: &[(&str, ServerOpts)], mode: &str) -> (Option<Value>, Report) {
        let list: Vec<Server> = servers
            .iter()
            .enumerate()
            .map(|(i, (name, opts))| Server {
                line: i + 10,
                name,
                opts,
            })
            .collect();
        let mut report = Report::default();
        let mut comments = Vec::new();
        let v = emit(&list, mode, &mut report, &mut comments);
        (v, report)
    }

    fn outlier(errors: u64, eject: &str) -> Option<Value> {
        Some(Value::Flow(vec![
            ("consecutive_errors".into(), Value::Int(errors)),
            ("eject".into(), s(eject)),
            ("max_ejected".into(), s("100%")),
        ]))
    }

    #[test]
    fn mark_down_ejects_for_the_time_checks_take() {
        let mut o = opts(Some(Observe::Layer7), Some(5), Some(OnError::MarkDown));
        o.inter = Some(Duration::from_secs(3));
        o.rise = Some(4);
        let (v, report) = run(&[("a", o.clone()), ("b", o)], "http");
        assert_eq!(v, outlier(5, "12s"));
        assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
        assert!(report.notes[0].reason.contains("ejects the server for 12s"));
        assert!(report.unsupported.is_empty());
    }

    #[test]
    fn haproxys_defaults_fill_in() {
        let o = opts(Some(Observe::Layer4), None, Some(OnError::SuddenDeath));
        let (v, report) = run(&[("a", o)], "tcp");
        assert_eq!(v, outlier(10, "4s"));
        assert!(report.notes[0].reason.contains("sudden-death"));
        assert_eq!(
            report.notes[0].directive,
            "server a observe layer4 error-limit 10 on-error sudden-death"
        );
    }

    #[test]
    fn fail_check_and_fastinter_have_no_equivalent() {
        let (v, report) = run(
            &[
                ("a", opts(Some(Observe::Layer7), None, None)),
                ("b", opts(Some(Observe::Layer7), None, None)),
                (
                    "c",
                    opts(Some(Observe::Layer7), None, Some(OnError::FastInter)),
                ),
            ],
            "http",
        );
        assert_eq!(v, None);
        let directives: Vec<&str> = report.notes.iter().map(|f| f.directive.as_str()).collect();
        assert_eq!(directives.len(), 2, "{directives:?}");
        assert!(directives[0].starts_with("on-error fail-check (servers a, b;"));
        assert!(directives[1].starts_with("on-error fastinter (servers c;"));
        assert!(report.notes[0].reason.starts_with("not converted"));
    }

    #[test]
    fn the_strictest_server_wins_and_the_others_are_named() {
        let (v, report) = run(
            &[
                (
                    "a",
                    opts(Some(Observe::Layer7), Some(20), Some(OnError::MarkDown)),
                ),
                (
                    "b",
                    opts(Some(Observe::Layer7), Some(3), Some(OnError::SuddenDeath)),
                ),
                ("c", opts(None, None, None)),
            ],
            "http",
        );
        assert_eq!(v, outlier(3, "4s"));
        let reasons: Vec<&str> = report.notes.iter().map(|f| f.reason.as_str()).collect();
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("those of b (line 11), apply to a too")),
            "{reasons:?}"
        );
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("also c, which HAProxy does not eject")),
            "{reasons:?}"
        );
    }

    #[test]
    fn without_check_or_in_tcp_mode_layer7_does_nothing() {
        let mut unchecked = opts(Some(Observe::Layer7), None, Some(OnError::MarkDown));
        unchecked.check = None;
        let (v, report) = run(&[("a", unchecked)], "http");
        assert_eq!(v, None);
        assert!(report.notes[0].reason.contains("has no `check`"));
        let l7 = opts(Some(Observe::Layer7), None, Some(OnError::MarkDown));
        let (v, report) = run(&[("a", l7)], "tcp");
        assert_eq!(v, None);
        assert!(report.notes[0].reason.contains("outside mode http"));
        let none = opts(Some(Observe::None), Some(1), Some(OnError::MarkDown));
        let (v, report) = run(&[("a", none)], "http");
        assert_eq!(v, None);
        assert!(report.notes.is_empty());
    }
}
