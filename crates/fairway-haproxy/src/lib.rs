//! `fairway import-haproxy`: an HAProxy configuration in, fairway YAML out.
//!
//! [`import_haproxy`] converts the `global`, `defaults`, `frontend`,
//! `backend`, `listen` and `resolvers` sections of an `haproxy.cfg` into a
//! fairway configuration (SPEC §2). Nothing is dropped silently: every directive
//! fairway cannot express is returned in [`Conversion::unsupported`] with
//! its line number and the reason, and kept in the YAML as a
//! `# unsupported (line N): ...` comment inside the section it belonged to.
//! Directives that are converted with a visible difference, or that have no
//! effect in fairway, are returned in [`Conversion::notes`] (and kept as
//! `# note (line N): ...` comments).
//!
//! ```
//! let cfg = "
//! frontend clients
//!     bind *:80
//!     mode http
//!     timeout client 60s
//!     acl lightwork path_end -i /lightwork
//!     http-request deny if { path -i -m beg /admin }
//!     use_backend light if lightwork
//!     default_backend servers
//! backend light
//!     mode http
//!     server server1 127.0.0.1:8001
//! backend servers
//!     mode http
//!     balance leastconn
//!     server server1 127.0.0.1:8001 check inter 5s
//!     server server2 127.0.0.1:8002 check inter 5s weight 3
//!     http-response set-header X-Via fairway
//!     http-response set-var(txn.seen) str(yes)
//! ";
//! let conv = fairway_haproxy::import_haproxy(cfg);
//! assert!(conv.yaml.contains("- deny if { path -i -m beg /admin }"));
//! assert!(conv.yaml.contains("    http_response:\n      - set-header X-Via fairway\n"));
//! assert_eq!(conv.unsupported.len(), 1);
//! assert_eq!(conv.unsupported[0].line, 19);
//! assert_eq!(conv.exit_code(), 2);
//! let config = fairway_config::Config::from_yaml_str(&conv.yaml, "converted.yaml").unwrap();
//! assert_eq!(config.backends[1].servers[1].weight, 3);
//! assert_eq!(config.backends[1].http_response.len(), 1);
//! ```
//!
//! What is mapped, and what is not, is listed in the README ("Migrating
//! from HAProxy").

mod access_log;
mod backend;
mod build;
mod dns;
mod emit;
mod format;
mod frontend;
mod outlier;
mod parse;
mod proxy;
mod retry;
mod rules;
mod server;
mod settings;
mod text;

/// One directive that was not converted, or converted with a remark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// 1-based line in the HAProxy file (0: the file as a whole).
    pub line: usize,
    /// The directive (or the part of it) as written; passwords are masked.
    pub directive: String,
    /// Why it was not converted, or what differs.
    pub reason: String,
}

/// The result of a conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    /// The fairway configuration, with comments.
    pub yaml: String,
    /// Directives fairway cannot express (in line order). Empty when the
    /// conversion is complete.
    pub unsupported: Vec<Finding>,
    /// Remarks: directives without effect in fairway, or converted with a
    /// difference worth knowing (in line order). They do not make the
    /// conversion incomplete.
    pub notes: Vec<Finding>,
}

impl Conversion {
    /// Whether every directive was converted.
    pub fn is_complete(&self) -> bool {
        self.unsupported.is_empty()
    }

    /// The exit code of `fairway import-haproxy`: 0 when the conversion is
    /// complete, 2 when directives were left out (1, an unreadable input,
    /// is the caller's).
    pub fn exit_code(&self) -> u8 {
        if self.is_complete() {
            0
        } else {
            2
        }
    }

    /// The findings as stderr lines, in line order:
    /// `FILE:LINE: unsupported: DIRECTIVE (REASON)` and
    /// `FILE:LINE: note: DIRECTIVE (REMARK)`.
    pub fn diagnostics(&self, file: &str) -> String {
        let mut all: Vec<(&Finding, &str)> = self
            .unsupported
            .iter()
            .map(|f| (f, "unsupported"))
            .chain(self.notes.iter().map(|f| (f, "note")))
            .collect();
        all.sort_by_key(|(f, _)| f.line);
        let mut out = String::new();
        for (f, kind) in all {
            let at = if f.line == 0 {
                file.to_string()
            } else {
                format!("{file}:{}", f.line)
            };
            out.push_str(&format!("{at}: {kind}: {} ({})\n", f.directive, f.reason));
        }
        out
    }
}

/// Converts an HAProxy configuration to fairway YAML. Never fails: what
/// cannot be converted is reported in the result.
pub fn import_haproxy(text: &str) -> Conversion {
    build::convert(text)
}

/// Findings collected while converting.
#[derive(Debug, Default)]
pub(crate) struct Report {
    unsupported: Vec<Finding>,
    notes: Vec<Finding>,
}

impl Report {
    /// Records an unsupported directive; returns its YAML comment.
    pub fn unsupported(&mut self, line: usize, directive: &str, reason: &str) -> String {
        let f = finding(line, directive, reason);
        let comment = format!("unsupported (line {line}): {} ({})", f.directive, f.reason);
        if !self.unsupported.contains(&f) {
            self.unsupported.push(f);
        }
        comment
    }

    /// Records a remark; returns its YAML comment.
    pub fn note(&mut self, line: usize, directive: &str, remark: &str) -> String {
        let f = finding(line, directive, remark);
        let comment = format!("note (line {line}): {} ({})", f.directive, f.reason);
        if !self.notes.contains(&f) {
            self.notes.push(f);
        }
        comment
    }

    /// Records a remark unless one with the same text was recorded (on any
    /// line); returns its YAML comment when it was recorded.
    pub fn note_once(&mut self, line: usize, directive: &str, remark: &str) -> Option<String> {
        if self.notes.iter().any(|f| f.reason == remark) {
            return None;
        }
        Some(self.note(line, directive, remark))
    }

    fn finish(mut self, yaml: String) -> Conversion {
        self.unsupported.sort_by_key(|f| f.line);
        self.notes.sort_by_key(|f| f.line);
        Conversion {
            yaml,
            unsupported: self.unsupported,
            notes: self.notes,
        }
    }
}

fn finding(line: usize, directive: &str, reason: &str) -> Finding {
    Finding {
        line,
        directive: redact(directive),
        reason: reason.to_string(),
    }
}

/// Masks passwords: `stats auth USER:PASSWORD`, `password X`,
/// `insecure-password X`.
fn redact(directive: &str) -> String {
    let words: Vec<&str> = directive.split_whitespace().collect();
    let mut out = Vec::with_capacity(words.len());
    let mut mask_next = false;
    for (i, w) in words.iter().enumerate() {
        if mask_next {
            out.push("***".to_string());
            mask_next = false;
            continue;
        }
        if matches!(*w, "password" | "insecure-password") {
            mask_next = true;
        }
        let after_auth = i >= 1 && words[i - 1] == "auth";
        match w.split_once(':') {
            Some((user, _)) if after_auth => out.push(format!("{user}:***")),
            _ => out.push(w.to_string()),
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
