//! Extending fairway from Rust (SPEC §7): the extensions of the examples —
//! `custom_selector.rs`, `custom_fetch.rs`, `hooks.rs`,
//! `pingora_selection.rs` — registered with
//! `Fairway::builder()` and run in a real Pingora server of this process,
//! in front of real upstreams on loopback.

mod common;

#[allow(dead_code)]
#[path = "../crates/fairway/examples/custom_fetch.rs"]
mod custom_fetch;
#[allow(dead_code)]
#[path = "../crates/fairway/examples/custom_selector.rs"]
mod custom_selector;
#[allow(dead_code)]
#[path = "../crates/fairway/examples/hooks.rs"]
mod hooks;
#[allow(dead_code)]
#[path = "../crates/fairway/examples/pingora_selection.rs"]
mod pingora_selection;

use common::{free_port, get, temp_dir, Upstream};
use fairway::config::Balance;
use fairway::hook::{Hook, Info, Log};
use fairway::{Background, Builder, Fairway};
use pingora::proxy::Session;
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Replaces `{PORT}` by a free port and `{UPn}` by upstream addresses.
fn yaml(template: &str, ups: &[&Upstream]) -> (String, SocketAddr) {
    let port = free_port();
    let mut y = template.replace("{PORT}", &port.to_string());
    for (i, u) in ups.iter().enumerate() {
        y = y.replace(&format!("{{UP{i}}}"), &u.addr.to_string());
    }
    (y, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Runs `fairway` (frontends and background services) in its own Pingora
/// server on a thread, as an embedding program does, and waits for `addr`.
fn serve(fairway: &Fairway, addr: SocketAddr) {
    let mut server = Server::new_with_opt_and_conf(None, fairway.server_conf());
    server.bootstrap();
    server.add_services(fairway.services(&server.configuration));
    server.add_services(fairway.background_services());
    thread::spawn(move || server.run_forever());
    let start = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{addr} never listened"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn build(builder: Builder, yaml: &str) -> Fairway {
    match builder.config_yaml(yaml, "extend.yaml").build() {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    }
}

fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

const SELECTOR: &str = r#"
global: { threads: 1, grace_period: 1s }
frontends:
  web:
    bind: ["127.0.0.1:{PORT}"]
    default_backend: app
backends:
  app:
    balance: lowest(99)
    health_check: { type: http, path: /, interval: 50ms }
    servers:
      slow: { addr: "{UP0}" }
      fast: { addr: "{UP1}" }
"#;

/// How much slower `slow` answers (health checks included): every check of
/// it takes at least this, while `fast`'s p99 (the slowest of its recent
/// checks) would need one check stalled this long to catch up. A busy
/// machine stalls a loopback check by tens of milliseconds, not hundreds.
/// Well under the 1 s check timeout.
const SLOW_DELAY: Duration = Duration::from_millis(300);

/// Both servers have enough checks for their 99th percentile to tell.
fn checked(fairway: &Fairway) -> bool {
    let rt = fairway.runtime();
    rt.backends()[0]
        .servers()
        .iter()
        .all(|s| s.rtts().len() >= 3)
}

#[test]
fn a_custom_selector_picks_the_server() {
    let slow = Upstream::start("slow");
    let fast = Upstream::start("fast");
    slow.set_delay(SLOW_DELAY);
    let (yaml, addr) = yaml(SELECTOR, &[&slow, &fast]);

    // Unregistered, `lowest` is a load error that lists what is registered.
    let err = Fairway::builder()
        .config_yaml(yaml.clone(), "extend.yaml")
        .build()
        .err()
        .expect("lowest is not registered");
    assert_eq!(
        err.to_string(),
        "extend.yaml:9:14: backends.app.balance: unknown balance algorithm `lowest(99)` \
         (registered: roundrobin, leastconn, source, random, first, uri, url_param(NAME), \
         hdr(NAME), latency, ewma)"
    );
    // Registered, its argument is checked at load time.
    let bad = yaml.replace("lowest(99)", "lowest(0)");
    let err = Fairway::builder()
        .selector("lowest", custom_selector::Lowest)
        .config_yaml(bad, "extend.yaml")
        .build()
        .err()
        .expect("lowest(0) is refused");
    assert!(
        err.to_string()
            .starts_with("extend.yaml:9:14: backends.app.balance: `lowest` takes a percentile"),
        "{err}"
    );

    let fairway = build(
        Fairway::builder().selector("lowest", custom_selector::Lowest),
        &yaml,
    );
    serve(&fairway, addr);
    wait_for(Duration::from_secs(10), "health checks", || {
        checked(&fairway)
    });
    for _ in 0..10 {
        assert_eq!(get(addr, "/", &[]).server(), "fast");
    }
    assert_eq!(
        slow.client_hits(),
        0,
        "the slow server got no client request"
    );
}

#[test]
fn a_custom_selector_survives_a_reload() {
    let slow = Upstream::start("slow");
    let fast = Upstream::start("fast");
    slow.set_delay(SLOW_DELAY);
    let (yaml, addr) = yaml(SELECTOR, &[&slow, &fast]);
    let dir = temp_dir("extend-reload");
    let path = dir.join("fairway.yaml");
    std::fs::write(&path, &yaml).unwrap();

    let fairway = Fairway::builder()
        .selector("lowest", custom_selector::Lowest)
        .config_file(&path)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    serve(&fairway, addr);
    wait_for(Duration::from_secs(10), "health checks", || {
        checked(&fairway)
    });
    assert_eq!(get(addr, "/", &[]).server(), "fast");

    // A new file: a deny rule and the 90th percentile instead.
    let next = yaml.replace("lowest(99)", "lowest(90)").replace(
        "    default_backend: app",
        "    http_request: [\"deny if { path_beg /blocked }\"]\n    default_backend: app",
    );
    std::fs::write(&path, &next).unwrap();
    fairway.control().reload().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(get(addr, "/blocked", &[]).status, 403, "the new file runs");
    let balance = fairway.runtime().backends()[0].spec().balance.clone();
    assert_eq!(
        balance,
        Balance::Custom {
            name: "lowest".into(),
            arg: Some("90".into())
        }
    );
    for _ in 0..10 {
        assert_eq!(get(addr, "/", &[]).server(), "fast");
    }
    assert_eq!(slow.client_hits(), 0);

    // A reload is checked by the same registry: a bad argument keeps the
    // running config.
    std::fs::write(&path, next.replace("lowest(90)", "lowest(101)")).unwrap();
    let err = fairway.control().reload().unwrap_err().to_string();
    assert!(err.contains("`lowest` takes a percentile"), "{err}");
    assert_eq!(get(addr, "/", &[]).server(), "fast");
}

const KETAMA: &str = r#"
global: { threads: 1, grace_period: 1s }
admin: { bind: "127.0.0.1:{APORT}" }
frontends:
  web:
    bind: ["127.0.0.1:{PORT}"]
    default_backend: app
backends:
  app:
    balance: ketama
    servers:
      a: { addr: "{UP0}" }
      b: { addr: "{UP1}" }
      c: { addr: "{UP2}" }
"#;

/// `PUT path` with a JSON `body` on the admin listener; the status.
fn admin_put(admin: SocketAddr, path: &str, body: &str) -> u16 {
    let mut s = TcpStream::connect(admin).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "PUT {path} HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status: {out:?}"))
}

/// The server each of `users` lands on (asked three times: always the
/// same one).
fn placement(addr: SocketAddr, users: &[String]) -> HashMap<String, String> {
    users
        .iter()
        .map(|u| {
            let first = get(addr, "/", &[("x-user", u)]).server().to_string();
            for _ in 0..2 {
                assert_eq!(get(addr, "/", &[("x-user", u)]).server(), first, "{u}");
            }
            (u.clone(), first)
        })
        .collect()
}

#[test]
fn a_pingora_ketama_selection_keeps_users_on_their_server() {
    let ups = [
        Upstream::start("a"),
        Upstream::start("b"),
        Upstream::start("c"),
    ];
    let (yaml, addr) = yaml(KETAMA, &[&ups[0], &ups[1], &ups[2]]);
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let yaml = yaml.replace("{APORT}", &admin.port().to_string());
    let fairway = build(pingora_selection::with_ketama(Fairway::builder()), &yaml);
    serve(&fairway, addr);
    let mut server = Server::new_with_opt_and_conf(None, fairway.server_conf());
    server.bootstrap();
    server.add_services(fairway.admin_services().unwrap_or_else(|e| panic!("{e}")));
    thread::spawn(move || server.run_forever());
    wait_for(Duration::from_secs(10), "the admin listener", || {
        TcpStream::connect(admin).is_ok()
    });

    let users: Vec<String> = (0..30).map(|i| format!("user-{i}")).collect();
    let before = placement(addr, &users);
    let used: HashSet<&String> = before.values().collect();
    assert_eq!(
        used.len(),
        3,
        "30 users spread over the 3 servers: {before:?}"
    );

    // `b` out of rotation: its users move, nobody lands on it, the others
    // stay where they were.
    for state in ["maint", "drain"] {
        let hits = ups[1].client_hits();
        let body = format!("{{\"state\": \"{state}\"}}");
        assert_eq!(admin_put(admin, "/api/backends/app/servers/b", &body), 200);
        let during = placement(addr, &users);
        assert_eq!(ups[1].client_hits(), hits, "{state}: b got no request");
        for u in &users {
            assert_ne!(during[u], "b", "{state}: {u}");
            if before[u] != "b" {
                assert_eq!(during[u], before[u], "{state}: {u} stays");
            }
        }
    }
    assert_eq!(
        admin_put(
            admin,
            "/api/backends/app/servers/b",
            r#"{"state": "ready"}"#
        ),
        200
    );
    assert_eq!(placement(addr, &users), before, "back on their servers");
}

const FETCH: &str = r#"
global: { threads: 1, grace_period: 1s }
frontends:
  web:
    bind: ["127.0.0.1:{PORT}"]
    acl:
      eu: country -i de fr nl
    http_request:
      - deny status 451 if { country(cf-ipcountry) -m str XX }
    use_backend:
      - eu if eu
    default_backend: world
backends:
  eu:
    servers: { eu1: { addr: "{UP0}" } }
  world:
    servers: { us1: { addr: "{UP1}" } }
"#;

#[test]
fn a_custom_fetch_routes_requests() {
    let eu = Upstream::start("eu1");
    let world = Upstream::start("us1");
    let (yaml, addr) = yaml(FETCH, &[&eu, &world]);
    let err = Fairway::builder()
        .config_yaml(yaml.clone(), "extend.yaml")
        .build()
        .err()
        .expect("country is not registered");
    assert!(
        err.to_string().starts_with(
            "extend.yaml:7:11: frontends.web.acl.eu: unknown fetch `country` (known: path,"
        ),
        "{err}"
    );

    let fairway = build(
        Fairway::builder().fetch("country", custom_fetch::Country),
        &yaml,
    );
    serve(&fairway, addr);
    assert_eq!(get(addr, "/", &[("x-country", "DE")]).server(), "eu1");
    assert_eq!(get(addr, "/", &[("x-country", "fr")]).server(), "eu1");
    assert_eq!(get(addr, "/", &[("x-country", "US")]).server(), "us1");
    assert_eq!(get(addr, "/", &[]).server(), "us1", "no sample, no match");
    assert_eq!(get(addr, "/", &[("x-country", "Germany")]).server(), "us1");
    let r = get(addr, "/", &[("cf-ipcountry", "XX")]);
    assert_eq!(r.status, 451);
    assert_eq!(eu.client_hits(), 2);
    assert_eq!(world.client_hits(), 3);
}

/// What the log phase saw of one request: status, answered, server.
type Logged = (u16, bool, Option<String>);

/// Records what the log phase saw.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Logged>>>);

impl Hook for Recorder {
    fn log(&self, _session: &Session, log: &Log<'_>) {
        let server = log.info.server.map(|s| s.name().to_string());
        self.0
            .lock()
            .unwrap()
            .push((log.status, log.answered, server));
    }
}

const HOOKS: &str = r#"
global: { threads: 1, grace_period: 1s }
frontends:
  web:
    bind: ["127.0.0.1:{PORT}"]
    unique_id_header: X-Request-ID
    default_backend: app
backends:
  app:
    servers: { a: { addr: "{UP0}" } }
"#;

#[test]
fn a_hook_answers_and_rewrites() {
    let app = Upstream::start("a");
    let (yaml, addr) = yaml(HOOKS, &[&app]);
    let recorder = Recorder::default();
    let fairway = build(
        Fairway::builder()
            .hook(hooks::ApiKeys::new(&[("s3cret", "alice")]))
            .hook(recorder.clone()),
        &yaml,
    );
    serve(&fairway, addr);

    // No token: the hook answers, nothing reaches the app.
    let r = get(addr, "/", &[]);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(r.body, "a valid bearer token is required\n");
    assert_eq!(
        r.header("x-request-id").map(str::len),
        Some(36),
        "a hook's answer carries the request's unique ID: {r:?}"
    );
    let r = get(
        addr,
        "/",
        &[("authorization", "Bearer wrong"), ("x-request-id", "r-7")],
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("x-request-id"),
        Some("r-7"),
        "the client's ID kept"
    );
    assert_eq!(app.client_hits(), 0);

    // A valid token: proxied, the token swapped for the user, the response
    // stamped.
    let r = get(addr, "/hello", &[("authorization", "Bearer s3cret")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.server(), "a");
    assert_eq!(r.header("x-checked-by"), Some("fairway"));
    let seen = app.last();
    assert_eq!(seen.header("x-user"), Some("alice"));
    assert_eq!(seen.header("authorization"), None);

    // The log phase saw all three, after the fact.
    wait_for(Duration::from_secs(5), "three log calls", || {
        recorder.0.lock().unwrap().len() == 3
    });
    assert_eq!(
        *recorder.0.lock().unwrap(),
        [
            (401, true, None),
            (401, true, None),
            (200, false, Some("a".to_string()))
        ]
    );
}

/// A request's path, kept by [`Stamp`] in the request's hook state.
#[derive(Clone)]
struct Seen(String);

/// Keeps each request's path in `request` and reads it back in
/// `upstream_request`, `response` and `log`.
#[derive(Clone, Default)]
struct Stamp(Arc<Mutex<Vec<Option<String>>>>);

#[async_trait::async_trait]
impl Hook for Stamp {
    async fn request(
        &self,
        session: &mut Session,
        info: &Info<'_>,
    ) -> pingora::Result<Option<fairway::hook::Answer>> {
        let path = session.req_header().uri.path().to_string();
        assert!(
            info.state.get::<Seen>().is_none(),
            "a new request's state is empty"
        );
        info.state.insert(Seen(path));
        Ok(None)
    }

    fn upstream_request(
        &self,
        upstream: &mut pingora::http::RequestHeader,
        info: &Info<'_>,
    ) -> pingora::Result<()> {
        if let Some(Seen(path)) = info.state.get::<Seen>() {
            upstream.insert_header("x-seen", path)?;
        }
        Ok(())
    }

    fn response(
        &self,
        response: &mut pingora::http::ResponseHeader,
        info: &Info<'_>,
    ) -> pingora::Result<()> {
        if let Some(Seen(path)) = info.state.get::<Seen>() {
            response.insert_header("x-seen", path)?;
        }
        Ok(())
    }

    fn log(&self, _session: &Session, log: &Log<'_>) {
        let seen = log.info.state.remove::<Seen>().map(|Seen(p)| p);
        self.0.lock().unwrap().push(seen);
    }
}

#[test]
fn hooks_keep_state_for_the_request_s_later_phases() {
    let app = Upstream::start("a");
    let (yaml, addr) = yaml(HOOKS, &[&app]);
    let stamp = Stamp::default();
    let fairway = build(Fairway::builder().hook(stamp.clone()), &yaml);
    serve(&fairway, addr);

    // Each request sees its own path in every phase, and nothing of the
    // request before (the hook asserts its state starts empty).
    for path in ["/one", "/two"] {
        let r = get(addr, path, &[]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-seen"), Some(path), "the response phase: {r:?}");
        assert_eq!(
            app.last().header("x-seen"),
            Some(path),
            "the upstream request"
        );
    }
    wait_for(Duration::from_secs(5), "two log calls", || {
        stamp.0.lock().unwrap().len() == 2
    });
    assert_eq!(
        *stamp.0.lock().unwrap(),
        [Some("/one".to_string()), Some("/two".to_string())]
    );
}

#[test]
fn fairway_runs_on_the_program_s_own_settings_with_the_services_it_picks() {
    let app = Upstream::start("a");
    let dead = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let template = r#"
global: { grace_period: 1s }
frontends:
  web:
    bind: ["127.0.0.1:{PORT}"]
    default_backend: app
backends:
  app:
    retries: 3
    health_check: { type: tcp, interval: 200ms, fall: 1 }
    servers: { a: { addr: "{UP0}" }, dead: { addr: "DEAD" } }
"#
    .replace("DEAD", &dead.to_string());
    let (yaml, addr) = yaml(&template, &[&app]);
    let fairway = build(Fairway::builder(), &yaml);

    // The program's own settings: fairway raises what its requests need
    // and leaves the rest.
    let mut conf = ServerConf {
        threads: 2,
        max_retries: 1,
        upstream_keepalive_pool_size: 8,
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    fairway.apply_server_conf(&mut conf);
    assert_eq!(
        conf.max_retries, 5,
        "retries: 3, and the retry of a closed pooled connection"
    );
    assert_eq!(
        conf.upstream_keepalive_pool_size,
        fairway::UPSTREAM_KEEPALIVE_POOL
    );
    assert_eq!(conf.threads, 2, "no global.threads: the program's");
    assert_eq!(fairway.background_services().len(), Background::ALL.len());

    // Only the health checker runs: it marks the dead server down.
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    server.add_services(fairway.services(&server.configuration));
    server.add_services(vec![fairway.background_service(Background::HealthCheck)]);
    thread::spawn(move || server.run_forever());
    wait_for(
        Duration::from_secs(10),
        "the dead server marked down",
        || {
            let rt = fairway.runtime();
            let servers = rt.backend("app").expect("backend app").servers();
            !servers[1].is_up() && servers[0].is_up()
        },
    );
    for _ in 0..4 {
        assert_eq!(get(addr, "/", &[]).status, 200);
    }
    assert_eq!(app.client_hits(), 4);
}
