//! Balance algorithms, stickiness and queueing through the real binary.

mod common;

use common::{get, Fairway, Upstream};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

fn backend(balance: &str, servers: &str) -> String {
    format!(
        "frontends:\n  web:\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    default_backend: app\nbackends:\n  app:\n    balance: {balance}\n    servers:\n{servers}"
    )
}

fn tally(f: &Fairway, n: usize, target: impl Fn(usize) -> String) -> HashMap<String, usize> {
    let mut t = HashMap::new();
    for i in 0..n {
        let r = f.get(&target(i));
        assert_eq!(r.status, 200, "{r:?}");
        *t.entry(r.server().to_string()).or_default() += 1;
    }
    t
}

#[test]
fn roundrobin_weights_3_to_1() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let f = Fairway::start(
        &backend(
            "roundrobin",
            "      a: { addr: \"{UP0}\", weight: 3 }\n      b: { addr: \"{UP1}\", weight: 1 }\n",
        ),
        &[&a, &b],
    );
    let t = tally(&f, 400, |_| "/".into());
    let share = t["a"] as f64 / 400.0;
    assert!((0.70..=0.80).contains(&share), "{t:?}");
}

#[test]
fn random_weights_3_to_1() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let f = Fairway::start(
        &backend("random", "      a: { addr: \"{UP0}\", weight: 3 }\n      b: { addr: \"{UP1}\", weight: 1 }\n      z: { addr: \"127.0.0.1:9\", weight: 0 }\n"),
        &[&a, &b],
    );
    let t = tally(&f, 400, |_| "/".into());
    // Sequential requests leave both idle: two weighted draws, first wins ties.
    assert!(t["a"] > t["b"], "{t:?}");
    assert!(t.get("b").copied().unwrap_or(0) > 0, "{t:?}");
    assert!(!t.contains_key("z"));
}

#[test]
fn leastconn_avoids_the_busy_slow_server() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let f = Fairway::start(
        &backend(
            "leastconn",
            "      a: { addr: \"{UP0}\" }\n      b: { addr: \"{UP1}\" }\n",
        ),
        &[&a, &b],
    );
    // Occupy one server with slow requests, then send quick ones.
    let addr = f.addr;
    let slow: Vec<_> = (0..3)
        .map(|_| thread::spawn(move || get(addr, "/delay/1500", &[])))
        .collect();
    // Until the three slow requests have reached their servers.
    let t0 = Instant::now();
    while a.hits() + b.hits() < 3 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "slow requests stuck"
        );
        thread::sleep(Duration::from_millis(10));
    }
    let busy = if a.hits() >= 2 { "a" } else { "b" };
    let t = tally(&f, 20, |_| "/".into());
    assert_eq!(
        t.get(busy),
        None,
        "quick requests avoid the busy server {busy}: {t:?}"
    );
    for h in slow {
        assert_eq!(h.join().unwrap().status, 200);
    }
}

#[test]
fn source_is_stable_per_client_and_spreads_over_clients() {
    let ups: Vec<Upstream> = (0..4).map(|i| Upstream::start(&format!("s{i}"))).collect();
    let refs: Vec<&Upstream> = ups.iter().collect();
    let servers: String = (0..4)
        .map(|i| format!("      s{i}: {{ addr: \"{{UP{i}}}\" }}\n"))
        .collect();
    let f = Fairway::start(&backend("source", &servers), &refs);
    let mut seen = HashSet::new();
    for host in 1..=40u8 {
        let first = common::get_from([127, 0, 0, host], f.addr, "/")
            .server()
            .to_string();
        for _ in 0..3 {
            assert_eq!(
                common::get_from([127, 0, 0, host], f.addr, "/x").server(),
                first,
                "client 127.0.0.{host}"
            );
        }
        seen.insert(first);
    }
    assert_eq!(
        seen.len(),
        4,
        "40 clients spread over all servers: {seen:?}"
    );
}

#[test]
fn uri_hash_ignores_the_query_and_url_param_and_hdr_hash_their_value() {
    let ups: Vec<Upstream> = (0..3).map(|i| Upstream::start(&format!("s{i}"))).collect();
    let refs: Vec<&Upstream> = ups.iter().collect();
    let servers: String = (0..3)
        .map(|i| format!("      s{i}: {{ addr: \"{{UP{i}}}\" }}\n"))
        .collect();

    let f = Fairway::start(&backend("uri", &servers), &refs);
    let mut spread = HashSet::new();
    for p in 0..30 {
        let s = f.get(&format!("/page/{p}")).server().to_string();
        assert_eq!(
            f.get(&format!("/page/{p}?utm=1&x={p}")).server(),
            s,
            "query ignored"
        );
        spread.insert(s);
    }
    assert!(spread.len() >= 2, "{spread:?}");
    drop(f);

    let f = Fairway::start(&backend("url_param(user)", &servers), &refs);
    for u in 0..20 {
        let s = f.get(&format!("/a?user=u{u}")).server().to_string();
        assert_eq!(f.get(&format!("/b?x=1&user=u{u}")).server(), s);
    }
    // Without the parameter: round robin over all three.
    let t = tally(&f, 30, |_| "/noparam".into());
    assert_eq!(t.len(), 3, "{t:?}");
    drop(f);

    let f = Fairway::start(&backend("hdr(x-tenant)", &servers), &refs);
    for u in 0..20 {
        let tenant = format!("t{u}");
        let s = get(f.addr, "/a", &[("X-Tenant", &tenant)])
            .server()
            .to_string();
        assert_eq!(get(f.addr, "/other", &[("x-tenant", &tenant)]).server(), s);
    }
}

#[test]
fn first_fills_servers_in_order() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let f = Fairway::start(
        &backend(
            "first",
            "      a: { addr: \"{UP0}\", maxconn: 2 }\n      b: { addr: \"{UP1}\", maxconn: 2 }\n",
        ),
        &[&a, &b],
    );
    let t = tally(&f, 10, |_| "/".into());
    assert_eq!(
        t.get("a"),
        Some(&10),
        "sequential requests all fit on the first: {t:?}"
    );
    // Two slow requests fill `a`; the third goes to `b`. They stay at `a`
    // for 3 s: once both are seen there, the third is sent well within that
    // even on a loaded machine (were one finished, `a` would have room).
    let addr = f.addr;
    let slow: Vec<_> = (0..2)
        .map(|_| thread::spawn(move || get(addr, "/delay/3000", &[])))
        .collect();
    let start = Instant::now();
    while a.in_flight() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the two slow requests never were in flight at a together:\n{}",
            f.log()
        );
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(f.get("/").server(), "b");
    for h in slow {
        assert_eq!(h.join().unwrap().server(), "a");
    }
}

#[test]
fn maxconn_queues_then_503_after_timeout_queue() {
    let a = Upstream::start("a");
    let f = Fairway::start(
        "frontends:\n  web:\n    bind: [\"127.0.0.1:{PORT}\"]\n    default_backend: app\nbackends:\n  app:\n    timeout_queue: 400ms\n    servers:\n      a: { addr: \"{UP0}\", maxconn: 1 }\n",
        &[&a],
    );
    let addr = f.addr;
    // One slow request holds the only slot for 1.5 s.
    let slow = thread::spawn(move || get(addr, "/delay/1500", &[]));
    thread::sleep(Duration::from_millis(200));
    // A request queued behind it gives up after timeout_queue with 503.
    let t = Instant::now();
    let r = f.get("/");
    assert_eq!(r.status, 503, "{r:?}");
    let waited = t.elapsed();
    assert!(
        // Not before timeout_queue (400 ms); generous after it.
        waited >= Duration::from_millis(350) && waited < Duration::from_millis(2500),
        "{waited:?}"
    );
    assert_eq!(slow.join().unwrap().status, 200);

    // A request queued behind a short one gets through once the slot frees.
    let slow = thread::spawn(move || get(addr, "/delay/200", &[]));
    thread::sleep(Duration::from_millis(50));
    let r = f.get("/");
    assert_eq!(r.status, 200, "{r:?}");
    slow.join().unwrap();
    assert_eq!(a.hits(), 3);
    // Never more than maxconn in flight at the server, as it counted.
    assert_eq!(a.max_in_flight(), 1);
}

#[test]
fn maxconn_never_exceeded_under_concurrency() {
    let a = Upstream::start("a");
    let f = Fairway::start(
        "frontends:\n  web:\n    bind: [\"127.0.0.1:{PORT}\"]\n    default_backend: app\nbackends:\n  app:\n    timeout_queue: 10s\n    servers:\n      a: { addr: \"{UP0}\", maxconn: 2 }\n",
        &[&a],
    );
    let addr = f.addr;
    let start = Arc::new(Barrier::new(8));
    let t = Instant::now();
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                get(addr, "/delay/200", &[]).status
            })
        })
        .collect();
    for c in clients {
        assert_eq!(c.join().unwrap(), 200);
    }
    // The server itself counts how many it answered at once.
    assert_eq!(a.max_in_flight(), 2, "maxconn 2");
    // 8 requests of 200 ms through 2 slots take at least 4 rounds.
    assert!(
        t.elapsed() >= Duration::from_millis(780),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn cookie_insert_indirect_nocache() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let f = Fairway::start(
        "frontends:\n  web:\n    bind: [\"127.0.0.1:{PORT}\"]\n    default_backend: app\nbackends:\n  app:\n    cookie: { name: SERVERID, mode: insert, indirect: true, nocache: true }\n    servers:\n      a: { addr: \"{UP0}\", cookie: sa }\n      b: { addr: \"{UP1}\" }\n",
        &[&a, &b],
    );
    // No cookie: balanced, and the response sets one for its server.
    let r = f.get("/");
    let server = r.server().to_string();
    let want = if server == "a" {
        "SERVERID=sa; path=/"
    } else {
        "SERVERID=b; path=/"
    };
    assert_eq!(r.header("set-cookie"), Some(want));
    assert_eq!(r.header("cache-control"), Some("private"), "nocache");

    // With the cookie: always that server, the cookie is not re-set, and the
    // server never sees it (indirect) while other cookies pass.
    let value = want.trim_end_matches("; path=/").to_string();
    for _ in 0..6 {
        let cookie = format!("theme=dark; {value}");
        let r = get(f.addr, "/", &[("Cookie", &cookie)]);
        assert_eq!(r.server(), server);
        assert_eq!(r.header("set-cookie"), None);
    }
    let up = if server == "a" { &a } else { &b };
    assert_eq!(up.last().header("cookie"), Some("theme=dark"));

    // An unknown value is balanced normally and re-cookied.
    let r = get(f.addr, "/", &[("Cookie", "SERVERID=gone")]);
    assert!(r
        .header("set-cookie")
        .is_some_and(|c| c.starts_with("SERVERID=")));
}

#[test]
fn cookie_of_a_dead_server_is_redispatched_and_recookied() {
    let b = Upstream::start("b");
    let dead = format!("127.0.0.1:{}", common::free_port());
    let yaml = "frontends:\n  web:\n    bind: [\"127.0.0.1:{PORT}\"]\n    default_backend: app\nbackends:\n  app:\n    cookie: { name: SERVERID }\n    retries: 2\n    redispatch: true\n    servers:\n      a: { addr: \"DEAD\" }\n      b: { addr: \"{UP0}\" }\n"
        .replace("DEAD", &dead);
    let f = Fairway::start(&yaml, &[&b]);
    let r = get(f.addr, "/", &[("Cookie", "SERVERID=a")]);
    assert_eq!((r.status, r.server()), (200, "b"));
    assert_eq!(r.header("set-cookie"), Some("SERVERID=b; path=/"));
}

#[test]
fn backup_takes_over_when_primaries_are_down_and_gives_back() {
    let primary = common::Flaky::start("primary");
    let spare = Upstream::start("spare");
    let yaml = "frontends:\n  web:\n    bind: [\"127.0.0.1:{PORT}\"]\n    default_backend: app\nbackends:\n  app:\n    health_check: { type: tcp, interval: 100ms, timeout: 200ms, rise: 2, fall: 2 }\n    servers:\n      primary: { addr: \"PRIMARY\" }\n      spare: { addr: \"{UP0}\", backup: true }\n"
        .replace("PRIMARY", &primary.addr.to_string());
    let f = Fairway::start(&yaml, &[&spare]);
    assert!((0..5).all(|_| f.get("/").server() == "primary"));
    assert_eq!(
        spare.client_hits(),
        0,
        "the backup idles while the primary is up"
    );

    primary.close();
    common::wait_until(
        &f,
        Duration::from_secs(3),
        "the backup to take over",
        || {
            let r = f.get("/");
            r.status == 200 && r.server() == "spare"
        },
    );
    assert!((0..5).all(|_| f.get("/").server() == "spare"));

    primary.reopen();
    common::wait_until(
        &f,
        Duration::from_secs(3),
        "the primary to take back",
        || f.get("/").server() == "primary",
    );
    let before = spare.client_hits();
    assert!((0..5).all(|_| f.get("/").server() == "primary"));
    assert_eq!(spare.client_hits(), before);
}
