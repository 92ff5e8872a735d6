//! Conversions of `http-response` rules, request rewrites, values with
//! samples (`%[...]`) and the unique request ID.

use super::super::{import_haproxy, Conversion};
use super::{load, unsupported};
use fairway_acl::HttpAction;
use fairway_config::Config;

/// The notes as `(line, directive)`.
fn notes(conv: &Conversion) -> Vec<(usize, &str)> {
    conv.notes
        .iter()
        .map(|f| (f.line, f.directive.as_str()))
        .collect()
}

/// Asserts that the YAML holds `lines` one after the other.
#[track_caller]
fn has(conv: &Conversion, lines: &str) {
    assert!(conv.yaml.contains(lines), "{lines}\n---\n{}", conv.yaml);
}

const RESPONSES: &str = r#"
defaults base
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
defaults web from base
    http-response set-header X-Frame-Options DENY
frontend www from web
    bind 127.0.0.1:8080
    acl is_json res.hdr(content-type) -m sub json
    acl not_found status 404
    acl api path_beg /api/
    http-response del-header Server
    http-response add-header Via "1.1 fairway" if is_json
    http-response replace-header Set-Cookie (.*);\ ?[Ss]ecure(.*) \1\2
    http-response set-status 503 reason "Service Unavailable" if { status 500 }
    http-response deny deny_status 500 if { shdr_beg(x-internal) yes }
    http-response return status 404 content-type text/plain string "not found: sorry" if not_found
    http-response set-header X-Type "%[hdr(content-type),lower]" unless { status 204 }
    http-response allow if { status 200 }
    http-response set-header X-Api yes if api
    default_backend app
defaults back from base
    http-response set-header X-Backend-Default yes
backend app from back
    acl cached res.hdr(x-cache) -m str HIT
    http-response set-header X-Cache-Status hit if cached
    http-response del-header X-Powered-By unless { status 200 } || cached
    server a 127.0.0.1:9001
"#;

#[test]
fn http_response_rules_become_http_response_of_frontends_and_backends() {
    let (conv, config) = load(RESPONSES);
    assert!(conv.is_complete(), "{}", conv.diagnostics("t"));
    // The frontend: the rules of its defaults first, then its own; its
    // named ACLs stay named; HAProxy's `hdr` in a response value is the
    // response's header; a value with `: ` is quoted.
    has(
        &conv,
        r#"    http_response:
      - set-header X-Frame-Options DENY
      - del-header Server
      - add-header Via "1.1 fairway" if is_json
      - replace-header Set-Cookie "(.*); ?[Ss]ecure(.*)" \1\2
      - set-status 503 reason "Service Unavailable" if { status 500 }
      - deny deny_status 500 if { res.hdr(x-internal) -m beg yes }
      - "return status 404 content-type text/plain string \"not found: sorry\" if not_found"
      - set-header X-Type "%[res.hdr(content-type),lower]" unless { status 204 }
      - allow if { status 200 }
"#,
    );
    has(&conv, "      is_json: res.hdr(content-type) -m sub json\n");
    // The backend: no named ACLs in fairway, so they are written out.
    has(
        &conv,
        "    http_response:
      - set-header X-Backend-Default yes
      - set-header X-Cache-Status hit if { res.hdr(x-cache) -m str HIT }
      - del-header X-Powered-By unless { status 200 } || { res.hdr(x-cache) -m str HIT }
    servers:
",
    );
    // `path_beg` never matches in HAProxy's response rules: left out.
    assert_eq!(
        notes(&conv),
        [
            (9, "frontend www"),
            (22, "http-response set-header X-Api yes if api")
        ]
    );
    assert!(conv.notes[0].reason.contains("encoded_slashes"));
    assert!(conv.notes[1].reason.contains("never matches"));

    let f = &config.frontends[0];
    assert_eq!(f.http_response.len(), 9);
    match &f.http_response[7].action {
        HttpAction::SetHeader { name, value } => {
            assert_eq!(name, "x-type");
            assert_eq!(value.source(), "%[res.hdr(content-type),lower]");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        f.http_response[4].action,
        HttpAction::SetStatus { status: 503, .. }
    ));
    assert!(matches!(
        f.http_response[5].action,
        HttpAction::Deny { status: 500 }
    ));
    match &f.http_response[6].action {
        HttpAction::Return { status, body, .. } => {
            assert_eq!(*status, 404);
            assert_eq!(
                body.as_ref().unwrap().as_literal(),
                Some("not found: sorry")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(config.backend("app").unwrap().http_response.len(), 3);
}

#[test]
fn response_rules_that_cannot_be_converted_are_reported() {
    let cfg = "
defaults
    mode http
    http-response set-header X-Anon 1
defaults named
    mode http
    http-response set-header X-Named 1
defaults again from named
    mode http
frontend web from named
    bind 127.0.0.1:8080
    acl is_ssl ssl_fc
    http-response set-var(txn.x) str(y)
    http-response set-header Upstream %s
    http-response set-header X-Q %{+Q}[src]
    http-response set-header X-V %[var(txn.x)]
    http-response set-header X-H %[res.hdr(x),hex]
    http-after-response set-header X-After 1
    http-response set-header X-Never 1 if FALSE
    default_backend app
backend app
    acl is_ssl ssl_fc
    http-response set-header X-Tls 1 if is_ssl
    http-response redirect location /x
    tcp-response content accept
    server a 127.0.0.1:9001
frontend tcp from named
    mode tcp
    bind 127.0.0.1:8443
    http-response set-header X-Tcp 1
    default_backend raw
backend raw
    mode tcp
    http-response set-header X-Raw 1
    server r 127.0.0.1:9443
";
    let (conv, config) = load(cfg);
    assert_eq!(
        unsupported(&conv),
        [
            (4, "http-response set-header X-Anon 1"),
            (8, "defaults again from named"),
            (13, "http-response set-var(txn.x) str(y)"),
            (14, "http-response set-header Upstream %s"),
            (15, "http-response set-header X-Q %{+Q}[src]"),
            (16, "http-response set-header X-V %[var(txn.x)]"),
            (17, "http-response set-header X-H %[res.hdr(x),hex]"),
            (18, "http-after-response set-header X-After 1"),
            (22, "acl is_ssl ssl_fc"),
            (23, "http-response set-header X-Tls 1 if is_ssl"),
            (24, "http-response redirect location /x"),
            (25, "tcp-response content accept"),
            (30, "http-response set-header X-Tcp 1"),
            (34, "http-response set-header X-Raw 1"),
        ],
        "{}",
        conv.diagnostics("t")
    );
    let why = |line: usize| {
        let f = conv.unsupported.iter().find(|f| f.line == line).unwrap();
        f.reason.as_str()
    };
    assert!(why(4).contains("named defaults"));
    assert!(
        why(13).contains("no `set-var(txn.x)` action"),
        "{}",
        why(13)
    );
    assert!(why(14).contains("log-format variable"));
    assert!(why(15).contains("log-format flags"));
    assert!(why(16).contains("unknown fetch `var`"), "{}", why(16));
    assert!(why(17).contains("converter `hex`"));
    assert!(why(23).contains("ssl_fc"), "{}", why(23));
    assert!(why(30).contains("tcp frontend"));
    assert!(why(34).contains("tcp backend"));
    // The named defaults' rule: in `web`, ignored (with a note) in the tcp
    // frontend, as HAProxy does.
    let web = &config.frontends[0];
    assert_eq!(web.http_response.len(), 1, "{}", conv.yaml);
    assert!(conv
        .notes
        .iter()
        .any(|n| n.line == 7 && n.reason.contains("tcp frontend tcp")));
    assert!(conv.notes.iter().any(|n| n.line == 19));
    assert!(config.frontends[1].http_response.is_empty());
}

#[test]
fn request_rewrites_and_values_with_samples() {
    let cfg = r#"
frontend web
    mode http
    bind 127.0.0.1:8080
    stick-table type ip size 100k expire 30s store http_req_rate(10s)
    http-request track-sc0 src
    http-request replace-path ^/api/v1/(.*) /v1/\1
    http-request replace-uri ^/old/(.*) /new/\1
    http-request replace-header Host ^www\.(.*) \1
    http-request set-header X-Forwarded-Host %[req.hdr(host),lower]
    http-request set-header X-Client %ci
    http-request set-header X-Rate %[sc0_http_req_rate]
    http-request add-header X-Last %[hdr(x-forwarded-for,-1)]
    http-request set-header X-Request-ID %[unique-id]
    http-request set-header X-Discount "50%% off, 100%% sure"
    http-request redirect location https://%[hdr(host)]%[path] code 301 if { path_beg /secure/ }
    http-request return status 503 content-type text/plain string "maintenance: x" if { path /down }
    http-request return status 200 content-type text/plain lf-string "you are %[src]" if { path /me }
    http-request return status 200 content-type text/plain string "100%[literal]" if { path /lit }
    http-request set-header X-Server %s
    http-request set-header X-Status %[status]
    default_backend app
backend app
    mode http
    server a 127.0.0.1:9001
"#;
    let conv = import_haproxy(cfg);
    // The value has `: `, so the rule is quoted.
    has(
        &conv,
        "      - \"return status 503 content-type text/plain string \\\"maintenance: x\\\" if { path /down }\"\n",
    );
    has(
        &conv,
        r#"    http_request:
      - replace-path ^/api/v1/(.*) /v1/\1
      - replace-uri ^/old/(.*) /new/\1
      - replace-header Host ^www\.(.*) \1
      - set-header X-Forwarded-Host %[hdr(host),lower]
      - set-header X-Client %[src]
      - set-header X-Rate %[src_http_req_rate(10s)]
      - add-header X-Last %[hdr(x-forwarded-for)]
      - set-header X-Request-ID %[unique-id]
      - set-header X-Discount "50% off, 100% sure"
      - redirect location https://%[hdr(host)]%[path] code 301 if { path_beg /secure/ }
      - "return status 503 content-type text/plain string \"maintenance: x\" if { path /down }"
      - return status 200 content-type text/plain string "you are %[src]" if { path /me }
      - return status 200 content-type text/plain string "100%%[literal]" if { path /lit }
"#,
    );
    assert_eq!(
        unsupported(&conv),
        [
            (20, "http-request set-header X-Server %s"),
            (21, "http-request set-header X-Status %[status]"),
        ]
    );
    assert!(conv.unsupported[1].reason.contains("http_response"));
    // The YAML loads with fairway's config loader.
    let config = Config::from_yaml_str(&conv.yaml, "imported.yaml")
        .unwrap_or_else(|e| panic!("{e}\n{}", conv.yaml));
    let rules = &config.frontends[0].http_request;
    assert_eq!(rules.len(), 13);
    match &rules[0].action {
        HttpAction::ReplacePath(r) => {
            assert_eq!(r.apply("/api/v1/users"), Some("/v1/users".into()));
        }
        other => panic!("{other:?}"),
    }
    match &rules[12].action {
        HttpAction::Return { body, .. } => {
            assert_eq!(body.as_ref().unwrap().as_literal(), Some("100%[literal]"));
        }
        other => panic!("{other:?}"),
    }
    // Without a content type (HAProxy wants one), the same quoting.
    let conv =
        import_haproxy(&cfg.replace("content-type text/plain string \"main", "string \"main"));
    has(
        &conv,
        "      - \"return status 503 string \\\"maintenance: x\\\" if { path /down }\"\n",
    );
    assert!(Config::from_yaml_str(&conv.yaml, "imported.yaml").is_ok());
}

#[test]
fn unique_id_header_and_format() {
    let cfg = "
defaults
    mode http
    unique-id-format %{+X}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid
    unique-id-header X-Request-ID
frontend web
    bind 127.0.0.1:8080
    http-request set-header X-Trace %[unique-id]
    default_backend app
frontend bare
    bind 127.0.0.1:8081
    unique-id-header X-Unformatted
    unique-id-format %ID
    default_backend app
backend app
    unique-id-header X-Nope
    server a 127.0.0.1:9001
";
    let (conv, config) = load(cfg);
    assert_eq!(
        config.frontends[0].unique_id_header.as_deref(),
        Some("x-request-id")
    );
    assert_eq!(
        config.frontends[1].unique_id_header.as_deref(),
        Some("x-unformatted")
    );
    has(&conv, "    unique_id_header: X-Request-ID\n");
    assert!(conv.is_complete(), "{}", conv.diagnostics("t"));
    // The format is approximated (fairway's IDs are UUIDs): a note, once
    // per line; HAProxy ignores the header in a backend.
    let lines: Vec<usize> = conv.notes.iter().map(|n| n.line).collect();
    // (Line 6: fairway's path defaults, on the first HTTP frontend.)
    assert_eq!(lines, [4, 5, 6, 12, 13, 16], "{}", conv.diagnostics("t"));
    assert!(conv.notes[0].reason.contains("UUID"));
    // Without a unique-id-format HAProxy sends no header; fairway does.
    let conv = import_haproxy(
        "frontend f\n    mode http\n    bind 127.0.0.1:1\n    unique-id-header X-ID\n    default_backend b\nbackend b\n    mode http\n    server s 127.0.0.1:2\n",
    );
    assert!(conv.is_complete());
    has(&conv, "    unique_id_header: X-ID\n");
    assert!(conv
        .notes
        .iter()
        .any(|n| n.reason.contains("only with a unique-id-format")));
}

#[test]
fn backend_response_acls_stay_with_the_backend() {
    // `shared` is reached through a condition: its request rule cannot
    // move to the frontend (reported), but its response rule stays in the
    // backend with its ACL written out.
    let cfg = "
defaults
    mode http
frontend web
    bind 127.0.0.1:8080
    use_backend shared if { path_beg /s }
    default_backend app
backend shared
    acl internal src 10.0.0.0/8
    acl html res.hdr(content-type) -m beg text/html
    http-request deny if internal
    http-response set-header X-Html 1 if html !internal
    server a 127.0.0.1:9002
listen app
    bind 127.0.0.1:8081
    http-response set-header X-App 1
    server a 127.0.0.1:9003
";
    let (conv, config) = load(cfg);
    assert_eq!(
        unsupported(&conv),
        [(11, "http-request deny if internal")],
        "{}",
        conv.diagnostics("t")
    );
    has(
        &conv,
        "      - set-header X-Html 1 if { res.hdr(content-type) -m beg text/html } !{ src 10.0.0.0/8 }\n",
    );
    assert_eq!(config.backend("shared").unwrap().http_response.len(), 1);
    // A listen's rules run in its frontend; `web` uses it as a backend,
    // where they do not run: noted.
    let app = config.frontends.iter().find(|f| f.name == "app").unwrap();
    assert_eq!(app.http_response.len(), 1);
    assert!(config.backend("app").unwrap().http_response.is_empty());
    assert!(conv
        .notes
        .iter()
        .any(|n| n.line == 14 && n.reason.contains("frontend web")));
}

#[test]
fn unknown_request_actions_stay_unsupported() {
    let conv = import_haproxy(
        "frontend f\n    mode http\n    bind 127.0.0.1:1\n    http-request replace-value X-Forwarded-For ([^,]+),.* \\1\n    http-request replace-path (?=x) y\n    default_backend b\nbackend b\n    mode http\n    server s 127.0.0.1:2\n",
    );
    let lines: Vec<usize> = conv.unsupported.iter().map(|f| f.line).collect();
    assert_eq!(lines, [4, 5], "{}", conv.diagnostics("t"));
    assert!(conv.unsupported[1].reason.contains("regex"));
}

/// HAProxy reads the response's header with `hdr()` in an http-response
/// condition, and `method` stays readable there.
#[test]
fn hdr_and_method_in_response_conditions_keep_their_haproxy_meaning() {
    let (conv, _config) = load(
        "defaults\n    mode http\nfrontend www\n    bind 127.0.0.1:8080\n    \
         http-response set-header X-Json yes if { hdr(content-type) -m sub json }\n    \
         http-response set-header X-Html yes if { hdr_beg(content-type) text/html }\n    \
         http-response del-header X-Debug if METH_POST\n    default_backend app\n\
         backend app\n    server a 127.0.0.1:9001\n",
    );
    assert!(conv.is_complete(), "{}", conv.diagnostics("t"));
    has(
        &conv,
        "set-header X-Json yes if { res.hdr(content-type) -m sub json }",
    );
    has(
        &conv,
        "set-header X-Html yes if { res.hdr(content-type) -m beg text/html }",
    );
    has(&conv, "del-header X-Debug if METH_POST");
}
