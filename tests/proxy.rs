//! The fairway binary against real upstreams on loopback: what a client sees.

mod common;

use common::{get, Fairway, Upstream};
use std::collections::HashSet;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Seed 003's haproxy.cfg, as a fairway file.
const SEED_003: &str = r#"
frontends:
  clients:
    bind: ["127.0.0.1:{PORT}"]
    timeout_client: 60s
    acl:
      lightwork: path_end -i /lightwork
      heavywork: path_end -i /heavywork
    http_request:
      - deny if { path -i -m beg /admin }
    use_backend:
      - lightServers if lightwork
      - heavyServers if heavywork
    default_backend: servers
backends:
  lightServers:
    timeout_connect: 10s
    timeout_server: 10s
    servers: { server1: { addr: "{UP0}" }, server2: { addr: "{UP1}" } }
  heavyServers:
    timeout_connect: 10s
    timeout_server: 120s
    servers: { server3: { addr: "{UP2}" }, server4: { addr: "{UP3}" } }
  servers:
    timeout_connect: 10s
    timeout_server: 60s
    servers:
      server1: { addr: "{UP0}" }
      server2: { addr: "{UP1}" }
      server3: { addr: "{UP2}" }
      server4: { addr: "{UP3}" }
"#;

fn four_upstreams() -> Vec<Upstream> {
    (1..=4)
        .map(|i| Upstream::start(&format!("server{i}")))
        .collect()
}

fn seed_003() -> (Fairway, Vec<Upstream>) {
    let ups = four_upstreams();
    let refs: Vec<&Upstream> = ups.iter().collect();
    (Fairway::start(SEED_003, &refs), ups)
}

fn servers_of(f: &Fairway, path: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let r = f.get(path);
            assert_eq!(r.status, 200, "{path}: {r:?}");
            r.server().to_string()
        })
        .collect()
}

#[test]
fn seed_003_routes_light_heavy_and_default_and_denies_admin() {
    let (f, _ups) = seed_003();

    // Default backend: round robin over all four, each once per cycle.
    let cycle: HashSet<String> = servers_of(&f, "/", 4).into_iter().collect();
    assert_eq!(
        cycle.len(),
        4,
        "round robin should visit every server: {cycle:?}"
    );

    // path_end -i /lightwork -> server1/server2 only, alternating.
    let light = servers_of(&f, "/lightwork", 4);
    assert!(
        light.iter().all(|s| s == "server1" || s == "server2"),
        "{light:?}"
    );
    assert_ne!(light[0], light[1], "round robin alternates: {light:?}");
    assert!(servers_of(&f, "/some/LightWork", 2)
        .iter()
        .all(|s| s == "server1" || s == "server2"));

    let heavy = servers_of(&f, "/heavywork", 4);
    assert!(
        heavy.iter().all(|s| s == "server3" || s == "server4"),
        "{heavy:?}"
    );

    // deny if { path -i -m beg /admin }
    for path in ["/admin", "/ADMIN", "/Admin/users", "/admin?x=1"] {
        let r = f.get(path);
        assert_eq!(r.status, 403, "{path}");
        assert!(r.body.contains("403 Forbidden"), "{path}: {}", r.body);
    }
}

#[test]
fn deny_cannot_be_bypassed_by_path_tricks() {
    let (f, ups) = seed_003();
    for path in [
        "//admin",
        "/./admin",
        "/x/../admin",
        "/%61dmin",
        "/%41DMIN",
        "///admin/x",
        "/%2e/admin",
        "/a/%2e%2e/admin",
    ] {
        assert_eq!(f.get(path).status, 403, "{path} must be denied");
    }
    assert_eq!(
        ups.iter().map(Upstream::hits).sum::<usize>(),
        0,
        "no denied request reached a server"
    );
}

#[test]
fn upstream_receives_the_normalized_path_and_the_query() {
    let (f, ups) = seed_003();
    let r = f.get("/a//b/./c/../lightwork?x=1&y=%2F");
    assert_eq!(r.status, 200);
    let up = ups.iter().find(|u| u.name == r.server()).unwrap();
    assert_eq!(up.last().target, "/a/b/lightwork?x=1&y=%2F");
    // An encoded slash in the path is refused (encoded_slashes: reject,
    // the default): a server that decodes it would route another path.
    let hits: usize = ups.iter().map(Upstream::hits).sum();
    assert_eq!(f.get("/files/a%2Fb").status, 400);
    assert_eq!(f.get("/files/a%5cb").status, 400);
    assert_eq!(ups.iter().map(Upstream::hits).sum::<usize>(), hits);
    // Path parameters reach the server unchanged (path_params: match
    // changes only what the rules see).
    let r = f.get("/a;jsessionid=1/lightwork");
    assert_eq!(r.status, 200);
    let up = ups.iter().find(|u| u.name == r.server()).unwrap();
    assert_eq!(up.last().target, "/a;jsessionid=1/lightwork");
}

#[test]
fn forwarded_headers_are_added_and_appended() {
    let (f, ups) = seed_003();
    let r = f.get("/lightwork");
    let up = ups.iter().find(|u| u.name == r.server()).unwrap();
    assert_eq!(up.last().header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(up.last().header("x-forwarded-proto"), Some("http"));

    let r = get(f.addr, "/lightwork", &[("X-Forwarded-For", "203.0.113.7")]);
    let up = ups.iter().find(|u| u.name == r.server()).unwrap();
    assert_eq!(
        up.last().header("x-forwarded-for"),
        Some("203.0.113.7, 127.0.0.1")
    );
}

#[test]
fn client_keep_alive_serves_several_requests_on_one_connection() {
    let (f, _ups) = seed_003();
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    for path in ["/lightwork", "/heavywork", "/admin", "/"] {
        write!(s, "GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
        let r = common::read_response(&mut reader, false).unwrap();
        let want = if path == "/admin" { 403 } else { 200 };
        assert_eq!(r.status, want, "{path} on a kept-alive connection");
    }
}

const ACTIONS: &str = r#"
frontends:
  web:
    bind: ["127.0.0.1:{PORT}"]
    acl:
      internal: src 127.0.0.0/8
      api: path_beg /api/ /v1/
    http_request:
      - return status 200 content-type text/plain string "ok" if { path /healthz }
      - allow if { hdr(x-trusted) -m found }
      - deny status 429 if { hdr(user-agent) -m sub badbot }
      - redirect location https://example.org/new code 301 if { path /old }
      - redirect scheme https if { path_beg /secure }
      - set-header X-Env prod
      - add-header X-Tag one
      - add-header X-Tag two
      - del-header X-Debug if internal
      - set-path /rewritten if { path /before }
      - deny if { url_param(debug) 1 }
      - deny status 401 if { method DELETE }
      - deny if { query -m sub secret }
    use_backend:
      - api if api
    default_backend: app
backends:
  app:
    servers: { app1: { addr: "{UP0}" } }
  api:
    servers: { api1: { addr: "{UP1}" } }
"#;

fn actions() -> (Fairway, Upstream, Upstream) {
    let (app, api) = (Upstream::start("app1"), Upstream::start("api1"));
    let f = Fairway::start(ACTIONS, &[&app, &api]);
    (f, app, api)
}

#[test]
fn return_answers_without_a_server() {
    let (f, app, _api) = actions();
    let r = f.get("/healthz");
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(app.hits(), 0);
}

#[test]
fn deny_with_status_on_a_header_substring() {
    let (f, _app, _api) = actions();
    let r = get(f.addr, "/", &[("User-Agent", "Mozilla badbot/1.0")]);
    assert_eq!(r.status, 429);
    assert_eq!(get(f.addr, "/", &[("User-Agent", "curl/8")]).status, 200);
}

#[test]
fn allow_stops_rule_evaluation() {
    let (f, _app, _api) = actions();
    let r = get(f.addr, "/", &[("User-Agent", "badbot"), ("X-Trusted", "1")]);
    assert_eq!(r.status, 200, "allow comes first and skips the 429 rule");
}

#[test]
fn redirects() {
    let (f, _app, _api) = actions();
    let r = f.get("/old");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("https://example.org/new"));
    let r = f.get("/secure/page?x=1");
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some("https://localhost/secure/page?x=1")
    );
}

#[test]
fn header_and_path_rewrites_reach_the_server() {
    let (f, app, _api) = actions();
    let r = get(f.addr, "/before?q=1", &[("X-Debug", "1"), ("X-Env", "dev")]);
    assert_eq!(r.status, 200);
    let seen = app.last();
    assert_eq!(seen.target, "/rewritten?q=1");
    assert_eq!(seen.header("x-env"), Some("prod"), "set-header replaces");
    let tags: Vec<&str> = seen
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("x-tag"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(tags, ["one", "two"], "add-header appends");
    assert_eq!(
        seen.header("x-debug"),
        None,
        "del-header if internal (127.0.0.1)"
    );
}

#[test]
fn url_param_method_and_query_rules() {
    let (f, _app, _api) = actions();
    assert_eq!(f.get("/x?debug=1").status, 403);
    assert_eq!(f.get("/x?debug=0").status, 200);
    assert_eq!(common::request(f.addr, "DELETE", "/x", &[]).status, 401);
    assert_eq!(f.get("/x?token=secret123").status, 403);
}

#[test]
fn use_backend_by_prefix_set() {
    let (f, _app, _api) = actions();
    assert_eq!(f.get("/api/users").server(), "api1");
    assert_eq!(f.get("/v1/x").server(), "api1");
    assert_eq!(f.get("/apix").server(), "app1");
}

#[test]
fn a_backend_without_servers_gives_503_fast() {
    let app = Upstream::start("app1");
    let f = Fairway::start(
        r#"
frontends:
  web:
    bind: ["127.0.0.1:{PORT}"]
    use_backend:
      - app if { path_beg /app }
    default_backend: empty
backends:
  empty: {}
  app:
    servers: { a: { addr: "{UP0}" } }
"#,
        &[&app],
    );
    let t = Instant::now();
    let r = f.get("/nothing");
    assert_eq!(r.status, 503, "backend without servers");
    assert!(r.body.contains("503 Service Unavailable"));
    assert_eq!(f.get("/app").status, 200);
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn server_timeout_gives_504() {
    let slow = Upstream::start("slow");
    let f = Fairway::start(
        r#"
frontends:
  web:
    bind: ["127.0.0.1:{PORT}"]
    default_backend: slow
backends:
  slow:
    timeout_server: 300ms
    retries: 0
    servers: { s: { addr: "{UP0}" } }
"#,
        &[&slow],
    );
    let t = Instant::now();
    let r = f.get("/delay/3000");
    assert_eq!(r.status, 504, "{r:?}");
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "504 after timeout_server, not after the server: {:?}",
        t.elapsed()
    );
    assert_eq!(f.get("/delay/10").status, 200);
}

#[test]
fn refused_connections_are_retried_on_another_server() {
    let good = Upstream::start("good");
    let dead = format!("127.0.0.1:{}", common::free_port());
    let yaml = r#"
frontends:
  web:
    bind: ["127.0.0.1:{PORT}"]
    default_backend: app
backends:
  app:
    retries: 2
    redispatch: true
    servers:
      dead: { addr: "DEAD" }
      good: { addr: "{UP0}" }
"#
    .replace("DEAD", &dead);
    let f = Fairway::start(&yaml, &[&good]);
    for _ in 0..6 {
        let r = f.get("/");
        assert_eq!((r.status, r.server()), (200, "good"));
    }
    assert_eq!(good.hits(), 6);
}

#[test]
fn all_servers_refusing_gives_503_fast() {
    let yaml = r#"
frontends:
  web:
    bind: ["127.0.0.1:{PORT}"]
    default_backend: app
backends:
  app:
    retries: 3
    servers:
      a: { addr: "A" }
      b: { addr: "B" }
"#
    .replace("A\"", &format!("127.0.0.1:{}\"", common::free_port()))
    .replace("B\"", &format!("127.0.0.1:{}\"", common::free_port()));
    let f = Fairway::start(&yaml, &[]);
    let t = Instant::now();
    let r = f.get("/");
    assert_eq!(r.status, 503, "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn weights_split_traffic_smoothly() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let f = Fairway::start(
        r#"
frontends:
  web:
    bind: ["127.0.0.1:{PORT}"]
    default_backend: app
backends:
  app:
    servers:
      a: { addr: "{UP0}", weight: 3 }
      b: { addr: "{UP1}", weight: 1 }
      off: { addr: "127.0.0.1:1", weight: 0 }
      spare: { addr: "127.0.0.1:2", backup: true }
"#,
        &[&a, &b],
    );
    let order: Vec<String> = (0..8).map(|_| f.get("/").server().to_string()).collect();
    assert_eq!(order.iter().filter(|s| *s == "a").count(), 6, "{order:?}");
    assert_eq!(order.iter().filter(|s| *s == "b").count(), 2, "{order:?}");
    // Smooth, as the README says: 3:1 gives `a a b a`, not `a a a b`.
    assert_eq!(order.join(" "), "a a b a a a b a", "{order:?}");
}

#[test]
fn src_http_req_rate_limits_each_client_ip() {
    let app = Upstream::start("app1");
    let f = Fairway::start(
        r#"
frontends:
  web:
    bind: ["127.0.0.1:{PORT}"]
    http_request:
      - deny status 429 if { src_http_req_rate(10s) gt 5 }
    use_backend:
      - app if { src_http_req_rate(10s) le 5 }
    default_backend: app
backends:
  app:
    servers: { app1: { addr: "{UP0}" } }
"#,
        &[&app],
    );
    // Five rapid requests from one IP pass; the next ones get 429.
    let statuses: Vec<u16> = (0..8)
        .map(|_| common::get_from([127, 0, 0, 2], f.addr, "/").status)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    // Other clients are not affected.
    assert_eq!(common::get_from([127, 0, 0, 3], f.addr, "/").status, 200);
    assert_eq!(common::get_from([127, 0, 0, 4], f.addr, "/").status, 200);
    // Refused requests never reach the server.
    assert_eq!(app.hits(), 7);
    assert!(f.log().contains("429"), "{}", f.log());

    // The counts survive a reload that keeps the period (here: another
    // header rule added): 127.0.0.2 is still over its limit.
    let text = std::fs::read_to_string(&f.conf).unwrap();
    std::fs::write(
        &f.conf,
        text.replace(
            "    http_request:\n",
            "    http_request:\n      - set-header X-Reloaded yes\n",
        ),
    )
    .unwrap();
    f.signal("HUP");
    // Each poll from its own address, so that polling stays under the limit.
    let poll = std::cell::Cell::new(0u8);
    common::wait_until(&f, std::time::Duration::from_secs(5), "the reload", || {
        poll.set(poll.get().wrapping_add(1));
        common::get_from([127, 0, 1, poll.get()], f.addr, "/").status == 200
            && app.last().header("x-reloaded") == Some("yes")
    });
    assert_eq!(common::get_from([127, 0, 0, 2], f.addr, "/").status, 429);
}
