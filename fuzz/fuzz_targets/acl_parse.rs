//! The ACL language: arbitrary text through every parser of fairway-acl,
//! and whatever parses evaluated against a few requests.
//!
//! The input is read as lines. Each line is parsed as an ACL (`FETCH
//! [FLAGS] VALUE...`); a line `NAME FETCH ...` that parses also becomes the
//! named ACL `NAME`, as in a frontend's `acl:` map. Then every line is
//! parsed as a condition, an `http_request` rule, a `use_backend` line and a
//! `tcp_request` rule against those named ACLs.
//!
//! Checked: nothing panics, and a parse error's offset is a character
//! boundary within the line (the config loader turns it into a column).

#![no_main]

#[path = "common/mod.rs"]
mod common;

use common::FuzzReq;
use fairway_acl::{Acl, AclError, AclSet, Condition, HttpRule, Request, TcpRule, UseBackend};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines: Vec<&str> = text.split('\n').take(64).collect();
    let first = lines.first().copied().unwrap_or_default();

    // A typical request, one made of the input, and an empty one.
    let typical = common::typical_request();
    let (path, query) = match first.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (first, None),
    };
    let own_headers: [(&str, &[u8]); 3] = [
        ("host", first.as_bytes()),
        ("user-agent", first.as_bytes()),
        ("x-custom", first.as_bytes()),
    ];
    let own = FuzzReq {
        method: first.split(' ').next().unwrap_or_default(),
        path,
        query,
        url: first,
        headers: &own_headers,
        src: Some("2001:db8::1".parse().expect("IPv6 literal")),
        sni: Some(first),
    };
    let empty = FuzzReq {
        method: "",
        path: "",
        query: None,
        url: "",
        headers: &[],
        src: None,
        sni: None,
    };
    let requests: [&dyn Request; 3] = [&typical, &own, &empty];

    let mut acls = AclSet::new();
    for line in &lines {
        match Acl::parse(line) {
            Ok(acl) => {
                for req in requests {
                    acl.matches(req);
                }
            }
            Err(e) => check_error(line, &e),
        }
        if let Some((name, rest)) = line.split_once(' ') {
            if let Ok(acl) = Acl::parse(rest) {
                let _ = acls.insert(name, acl);
            }
        }
    }
    for line in &lines {
        match Condition::parse(line, &acls) {
            Ok(cond) => {
                for req in requests {
                    cond.eval(req);
                }
                for acl in cond.acls() {
                    let _ = (acl.fetch(), acl.match_kind(), acl.ignore_case());
                }
            }
            Err(e) => check_error(line, &e),
        }
        match HttpRule::parse(line, &acls) {
            Ok(rule) => {
                for req in requests {
                    rule.applies(req);
                }
            }
            Err(e) => check_error(line, &e),
        }
        match UseBackend::parse(line, &acls) {
            Ok(rule) => {
                assert!(line.get(rule.backend_offset..).is_some());
                for req in requests {
                    rule.applies(req);
                }
            }
            Err(e) => check_error(line, &e),
        }
        match TcpRule::parse(line, &acls) {
            Ok(rule) => {
                for req in requests {
                    rule.applies(req);
                }
            }
            Err(e) => check_error(line, &e),
        }
    }
});

/// An error points into its line, at a character boundary.
fn check_error(line: &str, e: &AclError) {
    assert!(
        line.is_char_boundary(e.offset),
        "error offset {} outside {line:?} or inside a character: {}",
        e.offset,
        e.message
    );
}
