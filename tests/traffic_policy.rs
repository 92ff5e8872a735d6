//! Traffic policy against a real server: `http_response` rules of the
//! backend and the frontend, `%[FETCH]` values, `unique_id_header`,
//! `replace-path`, `replace-header`, `set-status`, and response
//! `deny`/`return` that keep the server's response from the client.

mod common;

use common::{get, run, wait_until, write_temp, Fairway, Flaky};
use std::io::{Read, Write};
use std::time::Duration;

const CONFIG: &str = r#"
frontends:
  web:
    bind: ["127.0.0.1:{PORT}"]
    unique_id_header: X-Request-ID
    http_request:
      - set-header X-Client-IP %[src]
      - set-header X-Host %[host]
      - set-header X-Tenant "%[hdr(x-tenant),lower]"
      - replace-path ^/api/v1/(.*) /v1/\1
      - return status 200 content-type text/plain string "id=%[unique-id] path=%[path]" if { path /whoami }
      - redirect location https://example.org%[url] code 301 if { path_beg /old/ }
    http_response:
      - set-header Strict-Transport-Security "max-age=31536000"
      - set-header X-Order fe
      - set-header X-Upstream-Status %[status]
      - set-header X-Cache miss if { status 200 }
      - replace-header X-Server ^(.*)$ srv-\1
      - deny if { status 418 }
    default_backend: app
backends:
  app:
    http_response:
      - set-header X-Order be
      - set-header X-Backend app
      - set-status 503 reason "Busy" if { status 500 } !{ path_beg /maint/ }
      - 'return status 503 content-type text/plain string "maintenance: %[path]" if { status 500 } { path_beg /maint/ }'
    servers:
      a: { addr: "{UP0}" }
"#;

fn fairway(server: &Flaky) -> Fairway {
    Fairway::start(&CONFIG.replace("{UP0}", &server.addr.to_string()), &[])
}

/// Waits for at least `n` access-log lines of `f`; returns them all, each
/// without the logger's prefix.
fn access_lines(f: &Fairway, n: usize) -> Vec<String> {
    let mut lines = Vec::new();
    wait_until(
        f,
        Duration::from_secs(10),
        &format!("{n} access lines"),
        || {
            lines = f
                .log()
                .lines()
                .filter_map(|l| {
                    l.split_once("fairway::access] ")
                        .map(|(_, j)| j.to_string())
                })
                .collect();
            lines.len() >= n
        },
    );
    lines
}

fn is_uuid(id: &str) -> bool {
    id.len() == 36
        && id.char_indices().all(|(i, c)| {
            matches!(i, 8 | 13 | 18 | 23) == (c == '-') && (c == '-' || c.is_ascii_hexdigit())
        })
}

#[test]
fn request_values_rewrites_and_unique_ids_reach_the_server() {
    let server = Flaky::start("a");
    let f = fairway(&server);
    let resp = get(f.addr, "/api/v1/users?x=1", &[("X-Tenant", "Other, ACME")]);
    assert_eq!(resp.status, 200, "{}", f.log());
    let seen = server.seen().pop().expect("the server saw the request");
    assert_eq!(seen.target, "/v1/users?x=1", "replace-path keeps the query");
    assert_eq!(seen.header("x-client-ip"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-host"), Some("localhost"));
    assert_eq!(
        seen.header("x-tenant"),
        Some("acme"),
        "the last element, lower case"
    );
    let id = seen
        .header("x-request-id")
        .expect("a unique ID")
        .to_string();
    assert!(is_uuid(&id), "{id}");
    assert_eq!(resp.header("x-request-id"), Some(id.as_str()), "returned");
    let logged = format!("request_id=\"{id}\"");
    wait_until(&f, Duration::from_secs(10), "the ID logged", || {
        f.log().contains(&logged)
    });

    // A client's own ID is kept.
    let resp = get(f.addr, "/", &[("X-Request-ID", "client-chosen-1")]);
    let seen = server.seen().pop().unwrap();
    assert_eq!(seen.header("x-request-id"), Some("client-chosen-1"));
    assert_eq!(resp.header("x-request-id"), Some("client-chosen-1"));

    // Answers with values never reach the server.
    let before = server.seen().len();
    let resp = get(f.addr, "/whoami", &[]);
    assert_eq!(resp.status, 200);
    let id = resp.header("x-request-id").unwrap_or_default().to_string();
    assert!(is_uuid(&id), "{resp:?}");
    assert_eq!(resp.body, format!("id={id} path=/whoami"), "{resp:?}");
    let resp = get(f.addr, "/old/page?q=1", &[]);
    assert_eq!(resp.status, 301);
    assert_eq!(
        resp.header("location"),
        Some("https://example.org/old/page?q=1")
    );
    assert_eq!(server.seen().len(), before, "answered by rules");
}

#[test]
fn response_rules_run_backend_first_then_frontend() {
    let server = Flaky::start("a");
    let f = fairway(&server);
    let resp = get(f.addr, "/x", &[]);
    assert_eq!(resp.status, 200, "{}", f.log());
    assert_eq!(
        resp.header("x-order"),
        Some("fe"),
        "the frontend's rules run last"
    );
    assert_eq!(resp.header("x-backend"), Some("app"));
    assert_eq!(
        resp.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    assert_eq!(resp.header("x-upstream-status"), Some("200"));
    assert_eq!(resp.header("x-cache"), Some("miss"));
    assert_eq!(resp.header("x-server"), Some("srv-a"), "replace-header");
    assert_eq!(resp.body, "a /x", "the server's body");

    // A 500 becomes a 503 with the server's body (set-status).
    server.set_status(500);
    let resp = get(f.addr, "/x", &[]);
    assert_eq!(resp.status, 503);
    assert_eq!(resp.body, "a /x");
    assert_eq!(
        resp.header("x-cache"),
        None,
        "`status` reads the server's 500"
    );
    assert_eq!(
        resp.header("x-upstream-status"),
        Some("503"),
        "after set-status"
    );

    // `return` replaces the server's response entirely.
    let resp = get(f.addr, "/maint/x", &[]);
    assert_eq!(resp.status, 503);
    assert_eq!(resp.body, "maintenance: /maint/x");
    assert_eq!(resp.header("x-server"), None, "nothing of the server's");

    // `deny` (502 by default in http_response) hides the server's answer.
    server.set_status(418);
    let resp = get(f.addr, "/secret", &[]);
    assert_eq!(resp.status, 502);
    assert!(resp.body.contains("502 Bad Gateway"), "{resp:?}");
    assert!(!resp.body.contains("a /secret"));
    assert_eq!(resp.header("x-server"), None);
    assert!(
        resp.header("x-request-id").is_some(),
        "fairway's answers carry the ID"
    );

    server.set_status(200);
    assert_eq!(get(f.addr, "/x", &[]).status, 200, "back to normal");

    // Logged as HAProxy logs `http-response` answers, at the response
    // head: `PH` for `deny`, `LH` (a local answer) for `return`.
    let lines = access_lines(&f, 5);
    for (uri, termination) in [("/maint/x", "LH"), ("/secret", "PH"), ("/x", "--")] {
        let want = format!("uri=\"{uri}\" termination={termination}");
        assert!(
            lines.iter().any(|l| l.contains(&want)),
            "no {want} in\n{}",
            lines.join("\n")
        );
    }
}

#[test]
fn response_fetches_and_bad_values_are_refused_at_load() {
    for (rule, want) in [
        (
            "http_request: [\"deny if { status 500 }\"]",
            "yaml:7:26: frontends.web.http_request[0]: `status` reads the server's response: only `http_response` rules can use it",
        ),
        (
            "http_request: [\"set-header X %[src,rot13]\"]",
            "unknown converter `rot13`",
        ),
        (
            "http_response: [\"set-path /x\"]",
            "unknown action `set-path`",
        ),
        ("unique_id_header: \"X Id\"", "invalid header name"),
    ] {
        let yaml = format!(
            "backends:\n  app: {{}}\nfrontends:\n  web:\n    bind: [\"127.0.0.1:1\"]\n    default_backend: app\n    {rule}\n"
        );
        let path = write_temp("traffic_policy_bad.yaml", &yaml);
        let out = run(&["-t", "-c", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{rule} accepted");
        assert!(stderr.contains(want), "{rule}: {stderr}");
    }
}

/// `access_log_format`: `json` lines parse as JSON with the request's
/// fields; an HAProxy log-format string is written as HAProxy would.
#[test]
fn access_log_formats() {
    let server = Flaky::start("a");
    let global = |format: &str| {
        format!(
            "global:\n  threads: 1\n  grace_period: 1s\n  pid_file: {{DIR}}/fairway.pid\n  \
             upgrade_sock: {{DIR}}/upgrade.sock\n  access_log: true\n  access_log_format: '{format}'\n\
             frontends:\n  web:\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    unique_id_header: X-Request-ID\n    \
             http_request: [\"deny if {{ path /admin }}\"]\n    default_backend: app\n\
             backends:\n  app:\n    servers:\n      a: {{ addr: \"{}\" }}\n",
            server.addr
        )
    };

    let f = Fairway::start(&global("json"), &[]);
    get(f.addr, "/hello?x=%221%22", &[("X-Request-ID", "r-1")]);
    get(f.addr, "/admin", &[]);
    let lines = access_lines(&f, 2);
    let hello: serde_json::Value = serde_json::from_str(&lines[0]).expect("a JSON object");
    assert_eq!(hello["client"], "127.0.0.1");
    assert_eq!(hello["frontend"], "web");
    assert_eq!(hello["backend"], "app");
    assert_eq!(hello["server"], "a");
    assert_eq!(hello["method"], "GET");
    assert_eq!(hello["uri"], "/hello?x=%221%22");
    assert_eq!(hello["status"], 200);
    assert_eq!(hello["termination"], "--");
    assert_eq!(hello["request_id"], "r-1");
    assert_eq!(hello["retries"], 0);
    assert!(hello["t_total_ms"].as_f64().unwrap() >= 0.0);
    assert!(hello["time"].as_str().unwrap().starts_with("20"));
    let admin: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(admin["status"], 403);
    assert_eq!(admin["backend"], "-");
    assert_eq!(admin["termination"], "PR");

    let f = Fairway::start(
        &global("%ci %ST %B %b/%s %tsc %ID %{+Q}r %[hdr(x-tag),upper]"),
        &[],
    );
    // What the client receives, head and body, counted on the wire.
    let mut s = std::net::TcpStream::connect(f.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(
        b"GET /x?y=1 HTTP/1.1\r\nhost: localhost\r\nX-Tag: blue\r\nconnection: close\r\n\r\n",
    )
    .unwrap();
    let mut wire = Vec::new();
    s.read_to_end(&mut wire).unwrap();
    assert!(
        wire.ends_with(b"\r\n\r\na /x?y=1"),
        "{}",
        String::from_utf8_lossy(&wire)
    );
    get(f.addr, "/admin", &[]);
    let lines = access_lines(&f, 2);
    let words: Vec<&str> = lines[0].split(' ').collect();
    let bytes = wire.len().to_string();
    assert_eq!(
        words[..5],
        // `%B` counts the head too, and `%tsc` has four characters, as
        // HAProxy's.
        ["127.0.0.1", "200", bytes.as_str(), "app/a", "----"],
        "{}",
        lines[0]
    );
    assert_eq!(words[5].len(), 36, "the unique ID: {}", lines[0]);
    assert!(
        lines[0].ends_with(" \"GET /x?y=1 HTTP/1.1\" BLUE"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains(" 403 ") && lines[1].contains(" web/<NOSRV> PR-- "),
        "{}",
        lines[1]
    );

    // Nothing captured, as HAProxy without `capture`: `%hr` writes nothing,
    // quoted or not (and leaves no double space), a quoted `%CC` is `""`.
    let f = Fairway::start(&global("[%{+Q}hr] %{+Q}CC  %hs %CS %ST"), &[]);
    get(f.addr, "/x", &[]);
    assert_eq!(access_lines(&f, 1)[0], "[] \"\" - 200");
}

/// HAProxy's `option httplog` format, as its documentation gives it.
const HTTPLOG: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc \
                       %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r";

/// The same requests through HAProxy and fairway, both logging with
/// HAProxy's httplog format: the lines have the same fields in the same
/// places (numbers masked: ports, dates, timings and byte counts differ
/// run to run, and HAProxy's `%B` counts its internal form of the head).
#[test]
fn haproxy_httplog_lines_match_haproxy() {
    let server = Flaky::start("a");
    // A 200, a request `deny`, a response `deny` (the server answers 418)
    // and a response `return` (the server answers 500).
    let targets = ["/x?y=1", "/admin", "/teapot", "/broken"];
    let fetch = |addr| {
        for (t, status) in targets.iter().zip([200, 200, 418, 500]) {
            server.set_status(status);
            get(addr, t, &[]);
        }
        server.set_status(200);
    };
    let port = common::free_port();
    let haproxy = common::Haproxy::start(
        &format!(
            "global\n  log stdout format raw local0\n\
             defaults\n  mode http\n  log global\n  option dontlognull\n  timeout connect 2s\n  \
             timeout client 5s\n  timeout server 5s\n\
             frontend web\n  bind 127.0.0.1:{port}\n  log-format \"{HTTPLOG}\"\n  \
             http-request deny if {{ path_beg /admin }}\n  \
             http-response deny if {{ status 418 }}\n  \
             http-response return status 503 content-type text/plain string down if {{ status 500 }}\n  \
             default_backend app\n\
             backend app\n  server a {}\n",
            server.addr
        ),
        port,
    );
    fetch(haproxy.addr());
    let theirs = haproxy.log_lines(targets.len());
    drop(haproxy);

    let f = Fairway::start(
        &format!(
            "global:\n  threads: 1\n  grace_period: 1s\n  pid_file: {{DIR}}/fairway.pid\n  \
             upgrade_sock: {{DIR}}/upgrade.sock\n  access_log: true\n  access_log_format: '{HTTPLOG}'\n\
             frontends:\n  web:\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    \
             http_request: [\"deny if {{ path_beg /admin }}\"]\n    \
             http_response:\n      - deny if {{ status 418 }}\n      \
             - return status 503 content-type text/plain string down if {{ status 500 }}\n    \
             default_backend: app\n\
             backends:\n  app:\n    servers:\n      a: {{ addr: \"{}\" }}\n",
            server.addr
        ),
        &[],
    );
    fetch(f.addr);
    let ours = access_lines(&f, targets.len());
    let masked = |line: &str| {
        let mut out = String::new();
        let mut digits = false;
        for c in line.chars() {
            if c.is_ascii_digit() {
                if !digits {
                    out.push('N');
                }
                digits = true;
            } else {
                out.push(c);
                digits = false;
            }
        }
        out
    };
    for (i, (h, o)) in theirs.iter().zip(&ours).enumerate() {
        assert_eq!(
            masked(o),
            masked(h),
            "line {i}:\nhaproxy: {h}\nfairway: {o}"
        );
    }
    // What the mask hides but must agree: the statuses, and the timings
    // a denied request never reached.
    let expected = [
        (" 200 ", " ---- "),
        (" 403 ", " PR-- "),
        (" 502 ", " PH-- "),
        (" 503 ", " LH-- "),
    ];
    for (i, (status, tsc)) in expected.into_iter().enumerate() {
        for line in [&ours[i], &theirs[i]] {
            assert!(line.contains(status) && line.contains(tsc), "{line}");
        }
    }
    assert!(ours[1].contains(" 0/-1/-1/-1/"), "{}", ours[1]);
    // The server's response was not passed on: `%Tr` is -1.
    for line in &ours[2..] {
        assert!(line.contains("/-1/"), "{line}");
    }
}
