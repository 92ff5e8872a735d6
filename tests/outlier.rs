//! Passive outlier ejection (`outlier` of a backend), end to end: real
//! servers on loopback that answer 5xx, time out or refuse connections, the
//! real `fairway` binary, and what clients, the admin API, the stats page,
//! `/metrics`, the runtime socket and the log show.
//!
//! Every wait is a poll with a generous deadline (a busy 2-core machine);
//! timings are printed (`cargo test --test outlier -- --nocapture`).

mod common;

use common::admin::Admin;
use common::{free_port, listen, wait_until, Fairway, Flaky, Upstream};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Deadline of every wait.
const LIMIT: Duration = Duration::from_secs(20);

/// fairway with an admin listener and socket, backend `app` (`mode`) with
/// `outlier` and `servers` (name, address) in that order.
fn start(mode: &str, outlier: &str, servers: &[(&str, SocketAddr)]) -> Admin {
    let port = free_port();
    let mut yaml = format!(
        "admin:\n  bind: 127.0.0.1:{port}\n  socket: \"{{DIR}}/admin.sock\"\n\
         frontends:\n  web:\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    mode: {mode}\n    default_backend: app\n\
         backends:\n  app:\n    mode: {mode}\n    timeout_connect: 1s\n    timeout_server: 500ms\n    \
         outlier: {outlier}\n    servers:\n"
    );
    for (name, addr) in servers {
        yaml.push_str(&format!("      {name}: {{ addr: \"{addr}\" }}\n"));
    }
    let f = Fairway::start(&yaml, &[]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_until(&f, LIMIT, "the admin listener", || {
        TcpStream::connect(addr).is_ok()
    });
    let sock = f.dir.join("admin.sock");
    wait_until(&f, LIMIT, "the admin socket", || {
        std::os::unix::net::UnixStream::connect(&sock).is_ok()
    });
    Admin { f, addr, sock }
}

/// Server `name` of backend `app` as `GET /api/backends/app/servers/NAME` shows it.
fn api(ad: &Admin, name: &str) -> Value {
    let (status, v) = ad.json("GET", &format!("/api/backends/app/servers/{name}"), None);
    assert_eq!(status, 200, "{v}");
    v
}

fn ejected(ad: &Admin, name: &str) -> bool {
    api(ad, name)["ejected"]
        .as_bool()
        .expect("an `ejected` field")
}

/// `fairway_server_ejected` of server `name`, from `/metrics`.
fn ejected_gauge(ad: &Admin, name: &str) -> String {
    let metrics = ad.call("GET", "/metrics", None).body;
    let series = format!("fairway_server_ejected{{backend=\"app\",server=\"{name}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .unwrap_or_else(|| panic!("no {series}in:\n{metrics}"))
        .to_string()
}

/// One request through the proxy: (status, the server that answered).
fn hit(ad: &Admin) -> (u16, String) {
    let r = ad.f.get("/");
    (r.status, r.server().to_string())
}

/// Sends requests until `name` is ejected; returns the time from the
/// `errors`-th failed answer seen by a client (the one that ejects it) to
/// the API showing the ejection, and how many failed answers of the server
/// clients got in all.
fn drive_until_ejected(ad: &Admin, name: &str, errors: usize) -> (Duration, usize) {
    let mut failed = 0;
    let mut nth: Option<Instant> = None;
    wait_until(&ad.f, LIMIT, &format!("{name} ejected"), || {
        if nth.is_some() && ejected(ad, name) {
            return true;
        }
        let (status, server) = hit(ad);
        if status >= 500 && server == name {
            failed += 1;
            if failed == errors {
                nth = Some(Instant::now());
            }
        }
        failed >= errors && ejected(ad, name)
    });
    (nth.expect("errors counted").elapsed(), failed)
}

#[test]
fn a_server_answering_503_is_ejected_and_gets_no_traffic_until_readmitted() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let bad = Flaky::start("bad");
    bad.set_status(503);
    let ad = start(
        "http",
        "{ consecutive_errors: 3, eject: 30s, max_ejected: 50% }",
        &[("a", a.addr), ("bad", bad.addr), ("b", b.addr)],
    );
    let (took, failed) = drive_until_ejected(&ad, "bad", 3);
    eprintln!("time to eject: {took:?} after the 3rd 503 ({failed} 503s in all)");
    // The ejector acts within a wake-up of the 3rd error: round robin
    // sends the next two requests elsewhere, so none should meet it.
    assert!(failed <= 4, "{failed} 503s");

    // No traffic: the others serve everything.
    let before = bad.client_hits();
    let mut tally: HashMap<String, usize> = HashMap::new();
    for _ in 0..40 {
        let (status, server) = hit(&ad);
        assert_eq!(status, 200, "{}", ad.f.log());
        *tally.entry(server).or_default() += 1;
    }
    assert_eq!(bad.client_hits(), before, "{tally:?}");
    assert_eq!((tally["a"], tally["b"]), (20, 20), "{tally:?}");

    // Visible everywhere.
    let v = api(&ad, "bad");
    assert_eq!(
        (&v["status"], &v["ejected"], &v["state"], &v["health"]),
        (
            &Value::from("EJECTED"),
            &Value::from(true),
            &Value::from("ready"),
            &Value::from("up")
        ),
        "{v}"
    );
    assert_eq!(
        (&v["effective_weight"], &v["ejections"]),
        (&0.into(), &1.into())
    );
    let left = v["ejected_remaining_ms"].as_u64().unwrap();
    assert!((20_000..=30_000).contains(&left), "{v}");
    assert_eq!(api(&ad, "a")["status"], "UP");
    assert_eq!(api(&ad, "a")["ejected"], false);
    assert_eq!(ejected_gauge(&ad, "bad"), "1");
    assert_eq!(ejected_gauge(&ad, "a"), "0");
    let page = ad.call("GET", "/stats", None).body;
    assert!(
        page.contains("data-server=\"bad\" data-status=\"EJECTED\""),
        "{page}"
    );
    let csv = ad.call("GET", "/stats;csv", None).body;
    assert!(
        csv.contains("\napp,bad,") && csv.contains(",EJECTED,"),
        "{csv}"
    );
    let state = ad.sock("show servers state app\n");
    let line = state.lines().find(|l| l.contains(" bad ")).unwrap();
    assert!(line.ends_with(" EJECTED"), "{state}");
    assert_eq!(line.split(' ').nth(5), Some("0"), "srv_op_state: {state}");
    let log = ad.f.log();
    assert!(
        log.contains("server ejected backend=app server=bad for=30s consecutive_errors=3"),
        "{log}"
    );

    // A reload keeps the ejection of a server that stays.
    assert_eq!(ad.call("POST", "/api/reload", None).status, 200);
    let v = api(&ad, "bad");
    assert_eq!(
        (&v["ejected"], &v["ejections"]),
        (&true.into(), &1.into()),
        "{v}"
    );
    for _ in 0..10 {
        assert_eq!(hit(&ad).0, 200);
    }
    assert_eq!(bad.client_hits(), before);
}

#[test]
fn a_server_that_recovers_is_readmitted_after_eject_and_gets_traffic_again() {
    let good = Upstream::start("good");
    let flaky = Flaky::start("flaky");
    let ad = start(
        "http",
        "{ consecutive_errors: 2, eject: 1s }",
        &[("good", good.addr), ("flaky", flaky.addr)],
    );
    flaky.set_status(500);
    let (took, _) = drive_until_ejected(&ad, "flaky", 2);
    let left = api(&ad, "flaky")["ejected_remaining_ms"]
        .as_u64()
        .unwrap_or(0);
    let left = Duration::from_millis(left);
    eprintln!("time to eject: {took:?} after the 2nd 500");
    flaky.set_status(200);
    // Readmitted by the ejector at the end of `eject` (1 s), with no
    // request needed to notice it.
    let back = wait_until(&ad.f, LIMIT, "flaky readmitted", || !ejected(&ad, "flaky"));
    let overshoot = back.saturating_sub(left);
    eprintln!(
        "time to readmit: {:?} after the ejection ({back:?} after the API showed \
         {left:?} left; readmitted at most {overshoot:?} after its end, polling included)",
        back + Duration::from_secs(1).saturating_sub(left)
    );
    assert!(
        back + Duration::from_millis(50) >= left,
        "early: {back:?} < {left:?}"
    );
    assert!(overshoot < Duration::from_secs(3), "{back:?}");
    assert!(ad
        .f
        .log()
        .contains("server readmitted backend=app server=flaky"));
    assert_eq!(api(&ad, "flaky")["status"], "UP");
    assert_eq!(ejected_gauge(&ad, "flaky"), "0");
    let before = flaky.client_hits();
    let mut tally: HashMap<String, usize> = HashMap::new();
    for _ in 0..20 {
        let (status, server) = hit(&ad);
        assert_eq!(status, 200);
        *tally.entry(server).or_default() += 1;
    }
    assert_eq!(flaky.client_hits(), before + 10, "{tally:?}");
}

#[test]
fn max_ejected_keeps_one_of_two_failing_servers_in() {
    let (x, y) = (Flaky::start("x"), Flaky::start("y"));
    x.set_status(503);
    y.set_status(503);
    let ad = start(
        "http",
        "{ consecutive_errors: 2, eject: 30s, max_ejected: 50% }",
        &[("x", x.addr), ("y", y.addr)],
    );
    wait_until(&ad.f, LIMIT, "one ejection", || {
        hit(&ad);
        ejected(&ad, "x") || ejected(&ad, "y")
    });
    let (out, kept) = if ejected(&ad, "x") {
        ("x", &y)
    } else {
        ("y", &x)
    };
    let kept_name = if out == "x" { "y" } else { "x" };
    // The other keeps failing, and keeps taking every request.
    let before = kept.client_hits();
    for _ in 0..20 {
        assert_eq!(hit(&ad), (503, kept_name.to_string()));
    }
    assert_eq!(kept.client_hits(), before + 20);
    assert!(ejected(&ad, out) && !ejected(&ad, kept_name));
    assert_eq!(api(&ad, kept_name)["status"], "UP");
    assert_eq!(ejected_gauge(&ad, kept_name), "0");
    let line = format!("server not ejected backend=app server={kept_name} ");
    wait_until(&ad.f, LIMIT, "the max_ejected line", || {
        ad.f.log().contains(&line)
    });
    assert!(ad
        .f
        .log()
        .contains("reason=max_ejected max_ejected=50% ejected=1"));
}

#[test]
fn repeat_ejections_double_and_the_log_says_so() {
    let good = Upstream::start("good");
    let bad = Flaky::start("bad");
    bad.set_status(503);
    let ad = start(
        "http",
        "{ consecutive_errors: 2, eject: 1s }",
        &[("good", good.addr), ("bad", bad.addr)],
    );
    // Traffic all along: each readmission meets two more 503s at once.
    let mut spans = Vec::new();
    for n in 1..=3u32 {
        let (took, _) = drive_until_ejected(&ad, "bad", 2);
        let out = Instant::now();
        let v = api(&ad, "bad");
        assert_eq!(v["ejections"], n, "{v}");
        wait_until(&ad.f, LIMIT, "readmission", || !ejected(&ad, "bad"));
        spans.push(out.elapsed());
        eprintln!(
            "ejection {n}: ejected {took:?} after the 2nd 503, readmitted {:?} after that",
            out.elapsed()
        );
    }
    let log = ad.f.log();
    for line in [
        "server ejected backend=app server=bad for=1s consecutive_errors=2\n",
        "server ejected backend=app server=bad for=2s consecutive_errors=2 repeat=2\n",
        "server ejected backend=app server=bad for=4s consecutive_errors=2 repeat=3\n",
    ] {
        assert!(log.contains(line), "{line} in:\n{log}");
    }
    // Seen from outside: about 1 s, 2 s, 4 s (observed up to a poll late).
    for (span, secs) in spans.iter().zip([1.0, 2.0, 4.0]) {
        let s = span.as_secs_f64();
        assert!(s > secs * 0.8 && s < secs + 3.0, "{spans:?}");
    }
}

/// A server that accepts connections and never answers.
fn silent() -> SocketAddr {
    let listener = listen();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    addr
}

#[test]
fn timeouts_and_refused_connections_count_as_errors() {
    let good = Upstream::start("good");
    let refusing = Flaky::start("refusing");
    refusing.close();
    let mute = silent();
    let ad = start(
        "http",
        "{ consecutive_errors: 2, eject: 30s, max_ejected: 2 }",
        &[
            ("good", good.addr),
            ("mute", mute),
            ("refusing", refusing.addr),
        ],
    );
    let t = Instant::now();
    // Refused connections are retried on another server, timeouts are
    // 504s: both count.
    wait_until(&ad.f, LIMIT, "both ejected", || {
        let (status, _) = hit(&ad);
        assert!(status == 200 || status == 504, "{status}");
        ejected(&ad, "mute") && ejected(&ad, "refusing")
    });
    eprintln!("timeouts and refusals ejected in {:?}", t.elapsed());
    let t = Instant::now();
    for _ in 0..10 {
        assert_eq!(hit(&ad), (200, "good".to_string()));
    }
    assert!(t.elapsed() < Duration::from_secs(5), "no more timeouts");
}

#[test]
fn a_tcp_backend_ejects_a_server_that_refuses_connections() {
    let echo = common::Echo::start();
    let refusing = Flaky::start("refusing");
    refusing.close();
    let ad = start(
        "tcp",
        "{ consecutive_errors: 2, eject: 30s }",
        &[("echo", echo.addr), ("refusing", refusing.addr)],
    );
    let echo_once = |ad: &Admin| {
        let mut s = TcpStream::connect(ad.f.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"ping").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert_eq!(out, "ping");
    };
    wait_until(&ad.f, LIMIT, "refusing ejected", || {
        echo_once(&ad);
        ejected(&ad, "refusing")
    });
    assert_eq!(api(&ad, "refusing")["status"], "EJECTED");
    let failures = api(&ad, "refusing")["total"].as_u64().unwrap();
    for _ in 0..10 {
        echo_once(&ad);
    }
    assert_eq!(api(&ad, "refusing")["total"], failures, "no more attempts");
}
