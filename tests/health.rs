//! Active health checks, end to end: real upstreams on loopback, the real
//! `fairway` binary, and what a client sees when a server fails and recovers.

mod common;

use common::{wait_until, Fairway, Flaky, Upstream};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Check period of every test config, and `rise`/`fall`.
const INTERVAL: Duration = Duration::from_millis(100);
const RISE: u32 = 2;
const FALL: u32 = 2;

/// The detection bound the tests assert: `n` intervals, plus slack for
/// process scheduling on a loaded CI machine.
fn within(n: u32) -> Duration {
    INTERVAL * n + Duration::from_millis(1800)
}

/// One frontend in front of backend `app` with `check` as its
/// `health_check` and `servers` as its server lines.
fn config(check: &str, servers: &[(&str, String)]) -> String {
    let mut yaml = format!(
        "frontends:\n  web:\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    default_backend: app\n\
         backends:\n  app:\n    timeout_connect: 1s\n    timeout_server: 5s\n    \
         health_check: {check}\n    servers:\n"
    );
    for (name, addr) in servers {
        yaml.push_str(&format!("      {name}: {{ addr: \"{addr}\" }}\n"));
    }
    yaml
}

fn http_check(extra: &str) -> String {
    format!(
        "{{ type: http, path: /health, interval: 100ms, timeout: 500ms, rise: {RISE}, fall: {FALL}{extra} }}"
    )
}

/// Sends `n` requests; every one must be a 200 from `server`.
fn all_from(f: &Fairway, server: &str, n: usize) {
    for i in 0..n {
        let r = f.get("/");
        assert_eq!(
            (r.status, r.server()),
            (200, server),
            "request {i}: {r:?}\n{}",
            f.log()
        );
    }
}

/// Sends requests until every server in `names` has answered one.
fn reaches_all(f: &Fairway, names: &[&str]) {
    let mut seen = HashSet::new();
    wait_until(
        f,
        Duration::from_secs(5),
        &format!("traffic to {names:?}"),
        || {
            let r = f.get("/");
            assert_eq!(r.status, 200, "{r:?}");
            seen.insert(r.server().to_string());
            names.iter().all(|n| seen.contains(*n))
        },
    );
}

fn logged(f: &Fairway, line: &str, limit: Duration) -> Duration {
    wait_until(f, limit, &format!("`{line}` in the log"), || {
        f.log().contains(line)
    })
}

#[test]
fn a_server_answering_500_is_taken_out_and_comes_back_after_rise_checks() {
    let good = Upstream::start("good");
    let flaky = Flaky::start("flaky");
    let yaml = config(
        &http_check(""),
        &[
            ("good", good.addr.to_string()),
            ("flaky", flaky.addr.to_string()),
        ],
    );
    let f = Fairway::start(&yaml, &[]);
    reaches_all(&f, &["good", "flaky"]);

    flaky.set_status(500);
    let took = logged(
        &f,
        "server down backend=app server=flaky reason=status 500 not in 200-399 checks=2",
        within(FALL),
    );
    eprintln!("down after {took:?}");
    let before = flaky.client_hits();
    all_from(&f, "good", 20);
    assert_eq!(
        flaky.client_hits(),
        before,
        "no client request reaches a down server"
    );
    assert!(
        !f.log().contains("server down backend=app server=good"),
        "{}",
        f.log()
    );

    flaky.set_status(200);
    let took = logged(
        &f,
        "server up backend=app server=flaky checks=2",
        within(RISE),
    );
    eprintln!("up after {took:?}");
    reaches_all(&f, &["good", "flaky"]);
}

#[test]
fn a_server_that_stops_listening_is_taken_out_and_comes_back_when_it_listens_again() {
    let good = Upstream::start("good");
    let flaky = Flaky::start("flaky");
    let yaml = config(
        &http_check(""),
        &[
            ("good", good.addr.to_string()),
            ("flaky", flaky.addr.to_string()),
        ],
    );
    let f = Fairway::start(&yaml, &[]);
    reaches_all(&f, &["good", "flaky"]);

    flaky.close();
    logged(
        &f,
        "server down backend=app server=flaky reason=connection refused checks=2",
        within(FALL),
    );
    all_from(&f, "good", 20);

    flaky.reopen();
    logged(
        &f,
        "server up backend=app server=flaky checks=2",
        within(RISE),
    );
    reaches_all(&f, &["good", "flaky"]);
}

#[test]
fn when_every_server_is_down_clients_get_503_at_once() {
    let (a, b) = (Flaky::start("a"), Flaky::start("b"));
    let yaml = config(
        &http_check(""),
        &[("a", a.addr.to_string()), ("b", b.addr.to_string())],
    );
    let f = Fairway::start(&yaml, &[]);
    reaches_all(&f, &["a", "b"]);

    a.set_status(500);
    b.close();
    logged(&f, "server down backend=app server=a", within(FALL));
    logged(&f, "server down backend=app server=b", within(FALL));
    for _ in 0..5 {
        let t = Instant::now();
        let r = f.get("/");
        assert_eq!(r.status, 503, "{r:?}");
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "503 took {:?}",
            t.elapsed()
        );
    }

    a.set_status(200);
    logged(&f, "server up backend=app server=a", within(RISE));
    all_from(&f, "a", 5);
}

#[test]
fn tcp_check_against_a_closed_port_marks_the_server_down() {
    let good = Upstream::start("good");
    // A port nobody listens on, and no other test gets.
    let dead = format!("127.0.0.1:{}", common::free_port());
    let check =
        format!("{{ type: tcp, interval: 100ms, timeout: 500ms, rise: {RISE}, fall: {FALL} }}");
    let yaml = config(&check, &[("good", good.addr.to_string()), ("dead", dead)]);
    let f = Fairway::start(&yaml, &[]);

    logged(
        &f,
        "server down backend=app server=dead reason=connection refused checks=2",
        within(FALL),
    );
    all_from(&f, "good", 20);
    assert!(
        !f.log().contains("server down backend=app server=good"),
        "{}",
        f.log()
    );
}

#[test]
fn http_check_expecting_2xx_marks_a_server_answering_404_down() {
    let good = Upstream::start("good");
    let missing = Flaky::start("missing");
    missing.set_status(404);
    let yaml = config(
        &http_check(", expect_status: 200-299"),
        &[
            ("good", good.addr.to_string()),
            ("missing", missing.addr.to_string()),
        ],
    );
    let f = Fairway::start(&yaml, &[]);

    logged(
        &f,
        "server down backend=app server=missing reason=status 404 not in 200-299 checks=2",
        within(FALL),
    );
    all_from(&f, "good", 20);
    assert!(
        !f.log().contains("server down backend=app server=good"),
        "{}",
        f.log()
    );
}

#[test]
fn checks_send_the_configured_request() {
    let up = Upstream::start("up");
    let yaml = config(
        "{ type: http, method: HEAD, path: /health, host: check.example, interval: 100ms }",
        &[("up", up.addr.to_string())],
    );
    let f = Fairway::start(&yaml, &[]);
    wait_until(&f, Duration::from_secs(5), "a health check request", || {
        up.seen().iter().any(|s| s.target == "/health")
    });
    let check = up
        .seen()
        .into_iter()
        .find(|s| s.target == "/health")
        .unwrap();
    assert_eq!(check.method, "HEAD");
    assert_eq!(check.header("host"), Some("check.example"));
    assert_eq!(check.header("user-agent"), Some("fairway-health"));
    assert_eq!(check.header("connection"), Some("close"));
    assert!(!f.log().contains("server down"), "{}", f.log());
}

#[test]
fn after_a_reload_the_new_servers_are_checked() {
    let good = Upstream::start("good");
    let check =
        format!("{{ type: tcp, interval: 100ms, timeout: 500ms, rise: {RISE}, fall: {FALL} }}");
    let yaml = config(&check, &[("good", good.addr.to_string())]) + "      # more servers\n";
    let f = Fairway::start(&yaml, &[]);
    all_from(&f, "good", 2);

    let dead = format!("127.0.0.1:{}", common::free_port());
    let text = std::fs::read_to_string(&f.conf).unwrap();
    let text = text.replace("# more servers", &format!("dead: {{ addr: \"{dead}\" }}"));
    std::fs::write(&f.conf, text).unwrap();
    f.signal("HUP");
    logged(&f, "reload ok", Duration::from_secs(5));
    logged(
        &f,
        "server down backend=app server=dead reason=connection refused checks=2",
        within(FALL),
    );
    all_from(&f, "good", 20);
}
