//! Tests of the rule parser and actions.
use super::*;
use crate::testutil::TestReq;
use crate::Acl;

fn set() -> AclSet {
    let mut set = AclSet::new();
    let acl = Acl::parse("src 127.0.0.0/8");
    assert!(acl.is_ok_and(|acl| set.insert("internal", acl).is_ok()));
    set
}

fn rule(text: &str) -> HttpRule {
    match HttpRule::parse(text, &set()) {
        Ok(r) => r,
        Err(e) => panic!("{text:?}: {e} at {}", e.offset),
    }
}

fn action(text: &str) -> HttpAction {
    rule(text).action
}

fn err(text: &str) -> (String, usize) {
    match HttpRule::parse(text, &set()) {
        Ok(r) => panic!("{text:?} parsed: {r:?}"),
        Err(e) => (e.message, e.offset),
    }
}

#[test]
fn deny_and_allow() {
    assert_eq!(action("deny"), HttpAction::Deny { status: 403 });
    assert_eq!(action("deny status 429"), HttpAction::Deny { status: 429 });
    assert_eq!(
        action("deny deny_status 503"),
        HttpAction::Deny { status: 503 }
    );
    assert_eq!(action("allow"), HttpAction::Allow);
    assert!(rule("deny").guard.is_none());
    assert!(rule("allow").applies(&TestReq::get("/")));
}

#[test]
fn returns() {
    assert_eq!(
        action("return"),
        HttpAction::Return {
            status: 200,
            content_type: None,
            body: None
        }
    );
    assert_eq!(
        action(r#"return status 200 content-type text/plain string "ok""#),
        HttpAction::Return {
            status: 200,
            content_type: Some("text/plain".into()),
            body: Some("ok".into())
        }
    );
    assert_eq!(
        action(r#"return string "hello world\n" status 503"#),
        HttpAction::Return {
            status: 503,
            content_type: None,
            body: Some("hello world\n".into())
        }
    );
    assert_eq!(
        action("return status 101"),
        HttpAction::Return {
            status: 101,
            content_type: None,
            body: None
        }
    );
}

#[test]
fn redirects() {
    assert_eq!(
        action("redirect location https://example.org/"),
        HttpAction::RedirectLocation {
            location: "https://example.org/".into(),
            code: 302
        }
    );
    assert_eq!(
        action("redirect location /new code 301"),
        HttpAction::RedirectLocation {
            location: "/new".into(),
            code: 301
        }
    );
    assert_eq!(
        action("redirect scheme HTTPS"),
        HttpAction::RedirectScheme {
            scheme: "https".into(),
            code: 302
        }
    );
    for code in [301, 302, 303, 307, 308] {
        assert_eq!(
            action(&format!(
                "redirect scheme https code {code} unless internal"
            )),
            HttpAction::RedirectScheme {
                scheme: "https".into(),
                code
            }
        );
    }
}

#[test]
fn header_and_path_actions() {
    let HttpAction::SetHeader { name, value } = action("set-header X-Env prod") else {
        panic!("not set-header");
    };
    assert_eq!((name, value.source()), ("x-env".to_string(), "prod"));
    let HttpAction::AddHeader { name, value } = action(r#"add-header Via "1.1 fairway""#) else {
        panic!("not add-header");
    };
    assert_eq!((name, value.source()), ("via".to_string(), "1.1 fairway"));
    assert_eq!(
        action(r#"set-header X-Empty """#),
        HttpAction::SetHeader {
            name: "x-empty".into(),
            value: "".into()
        }
    );
    assert_eq!(
        action("del-header X-Debug"),
        HttpAction::DelHeader {
            name: "x-debug".into()
        }
    );
    assert_eq!(
        action("set-path /v2/api"),
        HttpAction::SetPath {
            path: "/v2/api".into()
        }
    );
}

#[test]
fn guards() {
    let r = rule("deny status 429 if { hdr(user-agent) -m sub badbot }");
    assert_eq!(r.action, HttpAction::Deny { status: 429 });
    assert!(r.applies(&TestReq::get("/").header("User-Agent", "x badbot")));
    assert!(!r.applies(&TestReq::get("/").header("User-Agent", "curl")));
    assert!(!r.applies(&TestReq::get("/")));
    let r = rule("del-header X-Debug unless internal");
    assert!(!r.applies(&TestReq::get("/").src("127.0.0.1")));
    assert!(r.applies(&TestReq::get("/").src("10.0.0.1")));
    assert!(r.applies(&TestReq::get("/")));
    let r = rule("deny if { path -i -m beg /admin }");
    assert!(r.applies(&TestReq::get("/ADMIN/x")) && !r.applies(&TestReq::get("/x")));
    let r = rule(r#"return status 200 content-type text/plain string "ok" if { path /healthz }"#);
    assert!(r.applies(&TestReq::get("/healthz")) && !r.applies(&TestReq::get("/")));
}

#[test]
fn use_backend() {
    let u = UseBackend::parse("light if internal", &set());
    let Ok(u) = u else { panic!("{u:?}") };
    assert_eq!((u.backend.as_str(), u.backend_offset), ("light", 0));
    assert!(u.applies(&TestReq::get("/").src("127.0.0.2")));
    assert!(!u.applies(&TestReq::get("/").src("10.0.0.2")));
    let u = UseBackend::parse("  heavy", &set());
    let Ok(u) = u else { panic!("{u:?}") };
    assert_eq!((u.backend.as_str(), u.backend_offset), ("heavy", 2));
    assert!(u.guard.is_none() && u.applies(&TestReq::get("/")));
    let u = UseBackend::parse("api unless { path_beg /static/ } !internal", &set());
    let Ok(u) = u else { panic!("{u:?}") };
    assert!(!u.applies(&TestReq::get("/static/x").src("10.0.0.1")));
    assert!(u.applies(&TestReq::get("/x").src("10.0.0.1")));
    assert!(u.applies(&TestReq::get("/static/x").src("127.0.0.1")));

    let e = |text: &str| match UseBackend::parse(text, &set()) {
        Ok(u) => panic!("{text:?} parsed: {u:?}"),
        Err(e) => (e.message, e.offset),
    };
    assert_eq!(e(""), ("missing backend name".into(), 0));
    assert_eq!(
        e(" 'a b' if internal"),
        (
            "invalid backend name `a b` (names are [A-Za-z0-9_.-]+)".into(),
            1
        )
    );
    assert_eq!(
        e("light when x"),
        ("unexpected `when` (expected `if` or `unless`)".into(), 6)
    );
    assert_eq!(e("light if"), ("missing condition after `if`".into(), 6));
    assert_eq!(
        e("light if nope"),
        ("unknown ACL `nope` (known: internal)".into(), 9)
    );
}

#[test]
fn tcp_rules() {
    let parse = |text: &str| match TcpRule::parse(text, &set()) {
        Ok(r) => r,
        Err(e) => panic!("{text:?}: {e} at {}", e.offset),
    };
    let r = parse("accept");
    assert_eq!(r.action, TcpAction::Accept);
    assert!(r.guard.is_none() && r.applies(&TestReq::get("/")));
    let r = parse("reject unless internal");
    assert_eq!(r.action, TcpAction::Reject);
    assert!(!r.applies(&TestReq::get("/").src("127.0.0.1")));
    assert!(r.applies(&TestReq::get("/").src("10.1.1.1")));
    let r = parse("reject if { req_ssl_sni -m end .internal }");
    assert!(r.applies(&TestReq::get("/").sni("db.INTERNAL")));
    assert!(!r.applies(&TestReq::get("/").sni("www.example.org")));
    assert!(!r.applies(&TestReq::get("/")));

    let e = |text: &str| match TcpRule::parse(text, &set()) {
        Ok(r) => panic!("{text:?} parsed: {r:?}"),
        Err(e) => (e.message, e.offset),
    };
    assert_eq!(
        e(""),
        ("missing action (supported: accept, reject)".into(), 0)
    );
    assert_eq!(
        e("deny if internal"),
        (
            "unknown action `deny` (supported: accept, reject)".into(),
            0
        )
    );
    assert_eq!(
        e("reject now"),
        ("unexpected `now` (expected `if` or `unless`)".into(), 7)
    );
    assert_eq!(e("accept if"), ("missing condition after `if`".into(), 7));
    assert_eq!(
        e("reject if nope"),
        ("unknown ACL `nope` (known: internal)".into(), 10)
    );
}

#[test]
fn errors() {
    let supported =
        "deny, allow, return, redirect, set-header, add-header, del-header, replace-header, set-path, replace-path, replace-uri, set-src";
    let cases: &[(&str, String, usize)] = &[
        ("", format!("missing action (supported: {supported})"), 0),
        (
            "dney",
            format!("unknown action `dney` (supported: {supported})"),
            0,
        ),
        (
            "deny status 700",
            "invalid status `700` for `deny` (expected 200..=599)".into(),
            12,
        ),
        (
            "deny status 199",
            "invalid status `199` for `deny` (expected 200..=599)".into(),
            12,
        ),
        (
            "deny status +403",
            "invalid status `+403` for `deny` (expected 200..=599)".into(),
            12,
        ),
        ("deny status", "`status` needs a status code".into(), 5),
        (
            "deny status 403 now",
            "unexpected `now` (expected `if` or `unless`)".into(),
            16,
        ),
        (
            "deny now",
            "unexpected `now` (expected `status`, `if` or `unless`)".into(),
            5,
        ),
        (
            "allow please",
            "unexpected `please` (expected `if` or `unless`)".into(),
            6,
        ),
        ("deny unless", "missing condition after `unless`".into(), 5),
        (
            "deny if nope",
            "unknown ACL `nope` (known: internal)".into(),
            8,
        ),
        (
            "return status 99",
            "invalid status `99` for `return` (expected 100..=599)".into(),
            14,
        ),
        (
            "return status 600",
            "invalid status `600` for `return` (expected 100..=599)".into(),
            14,
        ),
        (
            "return status abc",
            "invalid status `abc` for `return` (expected 100..=599)".into(),
            14,
        ),
        (
            "return status 200 status 201",
            "`status` given twice".into(),
            18,
        ),
        ("return string", "`string` needs a body".into(), 7),
        (
            "return file x",
            "unexpected `file` (expected `status`, `content-type`, `string`, `if` or `unless`)"
                .into(),
            7,
        ),
        (
            "return content-type \"a\nb\"",
            "content type must not contain CR, LF or NUL".into(),
            20,
        ),
        (
            "redirect",
            "`redirect` needs `location URL` or `scheme SCHEME`".into(),
            0,
        ),
        (
            "redirect prefix /x",
            "unknown redirect type `prefix` (supported: location, scheme)".into(),
            9,
        ),
        ("redirect location", "`location` needs a value".into(), 9),
        (
            "redirect location /x code 305",
            "invalid redirect code `305` (valid: 301, 302, 303, 307, 308)".into(),
            26,
        ),
        (
            "redirect location /x code",
            "`code` needs a redirect code".into(),
            21,
        ),
        (
            "redirect location /x drop-query",
            "unexpected `drop-query` (expected `code`, `if` or `unless`)".into(),
            21,
        ),
        (
            "redirect location \"\"",
            "empty redirect location".into(),
            18,
        ),
        ("redirect scheme 1http", "invalid scheme `1http`".into(), 16),
        (
            "set-header X-Env",
            "`set-header` needs a header name and a value".into(),
            0,
        ),
        (
            "set-header X-Env a b",
            "unexpected `b` (expected `if` or `unless`; quote a value that contains spaces)".into(),
            19,
        ),
        (
            "set-header \"X Env\" a",
            "invalid header name `X Env`".into(),
            11,
        ),
        (
            "add-header X-A \"a\r\nX-B: b\"",
            "header value must not contain CR, LF or NUL".into(),
            15,
        ),
        ("del-header", "`del-header` needs a header name".into(), 0),
        ("del-header a:b", "invalid header name `a:b`".into(), 11),
        (
            "set-path v2",
            "invalid path `v2` for `set-path`: it must start with `/`".into(),
            9,
        ),
        (
            "set-path /a?b",
            "invalid path `/a?b` for `set-path`: no spaces, control characters, `?` or `#`".into(),
            9,
        ),
        ("set-path", "`set-path` needs a path".into(), 0),
        (
            "deny if { path \"/x }",
            "unterminated `\"` quote".into(),
            15,
        ),
    ];
    for (text, message, offset) in cases {
        assert_eq!(err(text), (message.clone(), *offset), "{text:?}");
    }
}

#[test]
fn set_src_takes_a_header_fetch() {
    assert_eq!(
        action("set-src hdr(X-Forwarded-For)"),
        HttpAction::SetSrc {
            header: "x-forwarded-for".into()
        }
    );
    assert_eq!(
        action("set-src req.hdr(x-real-ip)"),
        HttpAction::SetSrc {
            header: "x-real-ip".into()
        }
    );
    let acls = AclSet::new();
    for (bad, why) in [
        ("set-src", "needs a fetch"),
        ("set-src src", "takes `hdr(NAME)`"),
        ("set-src hdr(bad name)", "takes `hdr(NAME)`"),
        ("set-src hdr(b@d)", "invalid header name `b@d`"),
    ] {
        let e = HttpRule::parse(bad, &acls).unwrap_err().to_string();
        assert!(e.contains(why), "{bad}: {e}");
    }
}

#[test]
fn response_rules_and_rewrites() {
    let acls = AclSet::new();
    let response = |text: &str| HttpRule::parse_response(text, &acls);
    let rule = response("deny if { status 500 }").unwrap();
    assert_eq!(rule.action, HttpAction::Deny { status: 502 });
    let rule =
        response("set-status 503 reason \"Try later\" if { res.hdr(x-down) -m found }").unwrap();
    assert_eq!(
        rule.action,
        HttpAction::SetStatus {
            status: 503,
            reason: Some("Try later".into())
        }
    );
    // Response-only actions and fetches stay where they belong.
    for (text, want) in [
        ("set-status 200", "unknown action `set-status`"),
        ("deny if { status 500 }", "only `http_response` rules"),
        (
            "set-header X %[res.hdr(server)]",
            "only `http_response` rules",
        ),
    ] {
        let e = HttpRule::parse(text, &acls).unwrap_err();
        assert!(e.message.contains(want), "{text}: {e}");
    }
    for text in ["redirect location /x", "set-path /x", "replace-path a b"] {
        let e = response(text).unwrap_err();
        assert!(e.message.contains("unknown action"), "{text}: {e}");
    }
    assert!(UseBackend::parse("b if { status 200 }", &acls).is_err());
    let e = HttpRule::parse("replace-path ^/(x /y", &acls).unwrap_err();
    assert!(e.message.contains("invalid regex"), "{e}");

    let HttpAction::ReplacePath(rw) = action(r"replace-path ^/api/v1/(.*) /v1/\1") else {
        panic!("not replace-path");
    };
    assert_eq!(rw.apply("/api/v1/users/7").as_deref(), Some("/v1/users/7"));
    assert_eq!(rw.apply("/other"), None);
    // A match replaces the whole value, as HAProxy does.
    let HttpAction::ReplacePath(rw) = action("replace-path /foo /bar") else {
        panic!("not replace-path");
    };
    assert_eq!(rw.apply("/x/foo/y").as_deref(), Some("/bar"));
    let HttpAction::ReplaceHeader { name, rewrite } =
        action(r"replace-header Location ^http://(.*) https://\1$x")
    else {
        panic!("not replace-header");
    };
    assert_eq!(name, "location");
    assert_eq!(
        rewrite.apply("http://a/b").as_deref(),
        Some("https://a/b$x")
    );
}
