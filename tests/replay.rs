//! `fairway replay`: the access logs of real traffic, through fairway (its
//! `fairway` and `json` formats) and through HAProxy (`httplog`), decided
//! under a changed configuration without sending anything.

mod common;

use common::{free_port, get, wait_until, write_temp, Fairway, Upstream};
use std::process::Command;
use std::time::Duration;

/// Before: `/admin` denied, `/old/` redirected, `/static/` to `static`,
/// the rest to `app`.
const OLD: &str = r#"
frontends:
  web:
    bind: ["127.0.0.1:{PORT}"]
    http_request:
      - deny if { path_beg /admin }
      - redirect location /new code 302 if { path_beg /old/ }
    use_backend:
      - static if { path_beg /static/ }
    default_backend: app
backends:
  app:
    servers: { a: { addr: "{UP0}" } }
  static:
    servers: { s: { addr: "{UP0}" } }
"#;

/// After: `/admin` and `/old/` allowed, `/static/` no longer split off,
/// `/v1/` denied.
const NEW: &str = r#"
frontends:
  web:
    bind: ["127.0.0.1:1"]
    http_request:
      - deny status 410 if { path_beg /v1/ }
    default_backend: app
backends:
  app:
    servers: { a: { addr: "127.0.0.1:2" } }
  static:
    servers: { s: { addr: "127.0.0.1:2" } }
"#;

const TARGETS: [&str; 6] = [
    "/admin",
    "/static/app.js",
    "/v1/users",
    "/",
    "/other?x=1",
    "/old/page",
];

/// Runs `fairway replay -c CONF LOG`: exit code and stdout.
fn replay(conf: &str, log: &str) -> (i32, String) {
    let conf = write_temp("replay-new.yaml", conf);
    let log = write_temp("replay-access.log", log);
    let out = Command::new(common::bin())
        .args([
            "replay",
            "-c",
            conf.to_str().unwrap(),
            log.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

/// The changes the new configuration makes to [`TARGETS`].
fn assert_changes(code: i32, out: &str) {
    assert_eq!(code, 3, "something changes: {out}");
    for line in [
        "6 requests replayed",
        "2 unchanged, 4 changed",
        "newly allowed: answered 403 -> backend app: 1 requests",
        "e.g. GET /admin",
        // A redirect is logged `LR` (a local answer), by fairway and HAProxy.
        "newly allowed: answered 302 -> backend app: 1 requests",
        "e.g. GET /old/page",
        "moved: backend static -> backend app: 1 requests",
        "newly answered by a rule: backend app -> answered 410: 1 requests",
        "e.g. GET /v1/users",
    ] {
        assert!(out.contains(line), "missing `{line}` in:\n{out}");
    }
}

fn fairway_log(format: &str) -> String {
    let up = Upstream::start("a");
    let global = format!(
        "global:\n  threads: 1\n  grace_period: 1s\n  pid_file: {{DIR}}/fairway.pid\n  \
         upgrade_sock: {{DIR}}/upgrade.sock\n  access_log: true\n  access_log_format: {format}\n"
    );
    let f = Fairway::start(&format!("{global}{OLD}"), &[&up]);
    for t in TARGETS {
        get(f.addr, t, &[]);
    }
    wait_until(&f, Duration::from_secs(10), "six access-log lines", || {
        f.log().matches("fairway::access]").count() >= TARGETS.len()
    });
    f.log()
}

#[test]
fn fairway_logs_replayed_under_a_new_config() {
    for format in ["fairway", "json"] {
        let log = fairway_log(format);
        let (code, out) = replay(NEW, &log);
        assert_changes(code, &out);
        // The same configuration changes nothing: exit 0.
        let same = OLD.replace("{PORT}", "1").replace("{UP0}", "127.0.0.1:2");
        let (code, out) = replay(&same, &log);
        assert_eq!(code, 0, "{format}: {out}");
        assert!(out.contains("6 unchanged, 0 changed"), "{out}");
    }
}

#[test]
fn haproxy_httplog_replayed_under_a_fairway_config() {
    let up = Upstream::start("a");
    let port = free_port();
    let haproxy = common::Haproxy::start(
        &format!(
            "global\n  log stdout format raw local0\n\
             defaults\n  mode http\n  log global\n  option httplog\n  option dontlognull\n  timeout connect 2s\n  \
             timeout client 5s\n  timeout server 5s\n\
             frontend web\n  bind 127.0.0.1:{port}\n  http-request deny if {{ path_beg /admin }}\n  \
             http-request redirect location /new code 302 if {{ path_beg /old/ }}\n  \
             use_backend static if {{ path_beg /static/ }}\n  default_backend app\n\
             backend app\n  server a {up}\n\
             backend static\n  server s {up}\n",
            up = up.addr
        ),
        port,
    );
    for t in TARGETS {
        get(haproxy.addr(), t, &[]);
    }
    let log = haproxy.log_lines(TARGETS.len()).join("\n");
    drop(haproxy);
    let (code, out) = replay(NEW, &log);
    assert_changes(code, &out);
}

#[test]
fn bad_input_is_refused() {
    let (code, out) = replay("frontends: [", "");
    assert_eq!(code, 1, "{out}");
    let conf = write_temp("replay-ok.yaml", NEW);
    let out = Command::new(common::bin())
        .args([
            "replay",
            "-c",
            conf.to_str().unwrap(),
            "/nonexistent/access.log",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/access.log"));
}
