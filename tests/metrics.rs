//! Metrics and the access log through the real binary: every kind of
//! request a client can make (proxied, denied, answered by a rule, no
//! server, a dead server, a client that goes away) is counted exactly once
//! at `GET /metrics` of the admin listener and gets one access-log line.

mod common;

use common::{free_port, get, request, wait_until, Fairway, Upstream};
use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A frontend with every way of ending a request; `{ADMIN}` and `{DEAD}`
/// are ports (the admin listener, a port nobody listens on).
const YAML: &str = r#"
frontends:
  web:
    bind: ["127.0.0.1:{PORT}"]
    acl:
      empty: path_beg /empty/
      dead: path_beg /dead/
    http_request:
      - deny if { path_beg /admin }
      - return status 200 content-type text/plain string "ok" if { path /healthz }
      - redirect location /new code 302 if { path /old }
    use_backend:
      - empty if empty
      - dead if dead
    default_backend: app
backends:
  app:
    health_check: { type: http, path: /, interval: 100ms, rise: 1, fall: 2 }
    servers: { a: { addr: "{UP0}" }, b: { addr: "{UP1}" } }
  empty:
    servers: { z: { addr: "{UP0}", weight: 0 } }
  dead:
    retries: 1
    servers: { x: { addr: "127.0.0.1:{DEAD}" } }
"#;

/// Starts fairway on [`YAML`], with the admin listener when `admin`.
fn start(admin: bool, ups: &[&Upstream]) -> (Fairway, SocketAddr) {
    let admin_port = free_port();
    let mut yaml = YAML.replace("{DEAD}", &free_port().to_string());
    if admin {
        yaml = format!("admin: {{ bind: \"127.0.0.1:{admin_port}\" }}\n{yaml}");
    }
    let f = Fairway::start(&yaml, ups);
    let addr: SocketAddr = format!("127.0.0.1:{admin_port}").parse().unwrap();
    if admin {
        wait_until(&f, Duration::from_secs(10), "the admin listener", || {
            TcpStream::connect(addr).is_ok()
        });
    }
    (f, addr)
}

/// One sample of the Prometheus text: name, labels, value.
struct Sample {
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap();
                    (k.to_string(), v.trim_matches('"').to_string())
                })
                .collect();
            Sample {
                name: name.to_string(),
                labels,
                value: value.parse().unwrap(),
            }
        })
        .collect()
}

/// The value of the series `name` with exactly `labels`, if present.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

fn scrape(admin: SocketAddr) -> Vec<Sample> {
    let r = get(admin, "/metrics", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain")),
        "{r:?}"
    );
    parse(&r.body)
}

fn requests_total(samples: &[Sample]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == "fairway_requests_total")
        .map(|s| s.value)
        .sum()
}

/// Sends the mix every test uses; returns how many requests it sent.
fn send_mix(f: &Fairway) -> usize {
    let mut sent = 0;
    let mut expect = |path: &str, n: usize, status: u16| {
        for _ in 0..n {
            let r = f.get(path);
            assert_eq!(r.status, status, "{path}: {r:?}\n{}", f.log());
            sent += 1;
        }
    };
    expect("/", 10, 200);
    expect("/admin", 3, 403);
    expect("/healthz", 2, 200);
    expect("/old", 1, 302);
    expect("/empty/x", 4, 503);
    expect("/dead/x", 2, 503);
    sent
}

#[test]
fn every_request_is_counted_exactly_once_and_removed_servers_leave() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let (f, admin) = start(true, &[&a, &b]);
    let sent = send_mix(&f);

    // The last request is logged just after its response: wait for it.
    wait_until(&f, Duration::from_secs(5), "every request counted", || {
        requests_total(&scrape(admin)) == sent as f64
    });
    let m = scrape(admin);
    let req = |backend: &str, server: &str, code: &str| {
        value(
            &m,
            "fairway_requests_total",
            &[
                ("frontend", "web"),
                ("backend", backend),
                ("server", server),
                ("code", code),
            ],
        )
    };
    assert_eq!(req("app", "a", "200"), Some(5.0), "round robin: half each");
    assert_eq!(req("app", "b", "200"), Some(5.0));
    assert_eq!(req("", "", "403"), Some(3.0), "deny");
    assert_eq!(req("", "", "200"), Some(2.0), "return");
    assert_eq!(req("", "", "302"), Some(1.0), "redirect");
    assert_eq!(req("empty", "", "503"), Some(4.0), "no server");
    assert_eq!(req("dead", "x", "503"), Some(2.0), "connection refused");
    assert_eq!(requests_total(&m), 22.0);

    let one = |name: &str, labels: &[(&str, &str)]| value(&m, name, labels);
    assert_eq!(
        one("fairway_denied_requests_total", &[("frontend", "web")]),
        Some(3.0)
    );
    for (backend, n) in [("empty", 4.0), ("app", 0.0), ("dead", 0.0)] {
        assert_eq!(
            one("fairway_backend_no_server_total", &[("backend", backend)]),
            Some(n),
            "{backend}"
        );
    }
    let count = |backend: &str| {
        one(
            "fairway_request_duration_seconds_count",
            &[("frontend", "web"), ("backend", backend)],
        )
    };
    assert_eq!(count("app"), Some(10.0));
    assert_eq!(count(""), Some(6.0));
    assert_eq!(count("empty"), Some(4.0));
    assert_eq!(count("dead"), Some(2.0));
    let inf = one(
        "fairway_request_duration_seconds_bucket",
        &[("frontend", "web"), ("backend", "app"), ("le", "+Inf")],
    );
    assert_eq!(inf, Some(10.0));

    let server = |name: &str, backend: &str, server: &str| {
        one(name, &[("backend", backend), ("server", server)])
    };
    assert_eq!(server("fairway_server_up", "app", "a"), Some(1.0));
    assert_eq!(server("fairway_server_weight", "app", "b"), Some(1.0));
    assert_eq!(
        server("fairway_server_weight", "empty", "z"),
        Some(0.0),
        "effective weight"
    );
    assert_eq!(
        server("fairway_server_active_requests", "app", "a"),
        Some(0.0)
    );
    assert_eq!(
        server("fairway_server_requests_total", "app", "a"),
        Some(5.0)
    );
    // retries: 1 -> two refused connections per request.
    assert_eq!(
        server("fairway_server_failures_total", "dead", "x"),
        Some(4.0)
    );
    assert_eq!(
        one("fairway_backend_queued", &[("backend", "app")]),
        Some(0.0)
    );
    // Health checks of `app` give check latencies; `empty` has no checks.
    wait_until(&f, Duration::from_secs(5), "check latency samples", || {
        let m = scrape(admin);
        value(
            &m,
            "fairway_server_check_latency_seconds",
            &[("backend", "app"), ("server", "a"), ("quantile", "0.9")],
        )
        .is_some_and(|v| v > 0.0 && v < 1.0)
    });
    assert!(
        !m.iter()
            .any(|s| s.name == "fairway_server_check_latency_seconds"
                && s.labels.get("backend").map(String::as_str) == Some("empty")),
        "no samples, no series"
    );

    // Removing a server removes its series; the others keep counting.
    let r = request(admin, "DELETE", "/api/backends/app/servers/b", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(f.get("/").server(), "a");
    wait_until(
        &f,
        Duration::from_secs(5),
        "the next request counted",
        || requests_total(&scrape(admin)) == (sent + 1) as f64 - 5.0,
    );
    let m = scrape(admin);
    assert!(
        !m.iter()
            .any(|s| s.labels.get("server").map(String::as_str) == Some("b")),
        "series of the removed server are gone"
    );
    assert_eq!(
        value(
            &m,
            "fairway_requests_total",
            &[
                ("frontend", "web"),
                ("backend", "app"),
                ("server", "a"),
                ("code", "200")
            ]
        ),
        Some(6.0)
    );
    // A client that resets its connection while the server thinks:
    // counted once, with code 0, and its in-flight slot given back.
    let before = requests_total(&scrape(admin));
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.write_all(b"GET /delay/1500 HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // A reset, not a FIN: a client that only half-closes gets its answer
    // (tests/h1_engine).
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
    wait_until(&f, Duration::from_secs(5), "the abort counted", || {
        requests_total(&scrape(admin)) == before + 1.0
    });
    let m = scrape(admin);
    let labels = [
        ("frontend", "web"),
        ("backend", "app"),
        ("server", "a"),
        ("code", "0"),
    ];
    assert_eq!(value(&m, "fairway_requests_total", &labels), Some(1.0));
    let active = [("backend", "app"), ("server", "a")];
    assert_eq!(
        value(&m, "fairway_server_active_requests", &active),
        Some(0.0)
    );
}

/// The `key=value` fields of the access-log lines of `log`.
fn access_lines(log: &str) -> Vec<HashMap<String, String>> {
    log.lines()
        .filter(|l| l.contains("fairway::access"))
        .map(|l| {
            let fields = &l[l.find("client=").expect("client= first")..];
            let mut map = HashMap::new();
            let mut rest = fields;
            while let Some((key, after)) = rest.split_once('=') {
                let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
                    let end = quoted.find('"').expect("closing quote");
                    (&quoted[..end], quoted[end + 1..].trim_start())
                } else {
                    after.split_once(' ').unwrap_or((after, ""))
                };
                map.insert(key.trim().to_string(), value.to_string());
                rest = next;
            }
            map
        })
        .collect()
}

fn ms(line: &HashMap<String, String>, key: &str) -> f64 {
    line[key]
        .parse()
        .unwrap_or_else(|_| panic!("{key} is a number: {line:?}"))
}

#[test]
fn one_access_log_line_per_request_with_timings_and_termination() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let (f, _) = start(false, &[&a, &b]);
    let sent = send_mix(&f);
    assert_eq!(f.get("/q?x=%22y&z=1").status, 200);
    // A client that goes away while the server thinks.
    let mut s = TcpStream::connect(f.addr).unwrap();
    s.write_all(b"GET /delay/1500 HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // A reset, not a FIN: a client that only half-closes gets its answer
    // (tests/h1_engine).
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);

    wait_until(&f, Duration::from_secs(10), "every access-log line", || {
        access_lines(&f.log()).len() == sent + 2
    });
    let lines = access_lines(&f.log());
    let find = |uri: &str| -> Vec<&HashMap<String, String>> {
        lines.iter().filter(|l| l["uri"] == uri).collect()
    };

    let ok = find("/");
    assert_eq!(ok.len(), 10);
    for l in &ok {
        assert!(l["client"].starts_with("127.0.0.1:"), "{l:?}");
        assert_eq!(
            (
                l["frontend"].as_str(),
                l["backend"].as_str(),
                l["status"].as_str()
            ),
            ("web", "app", "200")
        );
        assert!(["a", "b"].contains(&l["server"].as_str()), "{l:?}");
        assert_eq!(l["bytes"], "3", "body `a /`: {l:?}");
        assert_eq!((l["method"].as_str(), l["retries"].as_str()), ("GET", "0"));
        assert_eq!(l["termination"], "--");
        let (q, c, r, t) = (
            ms(l, "t_queue_ms"),
            ms(l, "t_connect_ms"),
            ms(l, "t_response_ms"),
            ms(l, "t_total_ms"),
        );
        assert!(q >= 0.0 && c >= 0.0 && r >= 0.0, "{l:?}");
        assert!(q + c + r <= t, "phases fit in the total: {l:?}");
    }

    assert_eq!(find("/admin").len(), 3);
    for l in find("/admin") {
        assert_eq!(
            (
                l["backend"].as_str(),
                l["server"].as_str(),
                l["status"].as_str(),
                l["termination"].as_str()
            ),
            ("-", "-", "403", "PR"),
        );
        assert_eq!(
            (l["t_queue_ms"].as_str(), l["t_connect_ms"].as_str()),
            ("-1", "-1")
        );
    }
    for (uri, status, n) in [("/healthz", "200", 2), ("/old", "302", 1)] {
        assert_eq!(find(uri).len(), n, "{uri}");
        for l in find(uri) {
            // `return` and `redirect` answer locally: `LR`, as HAProxy.
            assert_eq!(
                (l["status"].as_str(), l["termination"].as_str()),
                (status, "LR")
            );
        }
    }
    let empty = find("/empty/x");
    assert_eq!(empty.len(), 4);
    for l in empty {
        assert_eq!(
            (
                l["backend"].as_str(),
                l["server"].as_str(),
                l["status"].as_str(),
                l["termination"].as_str()
            ),
            ("empty", "-", "503", "RC"),
        );
        assert!(ms(l, "t_queue_ms") >= 0.0);
    }
    assert_eq!(find("/dead/x").len(), 2);
    for l in find("/dead/x") {
        assert_eq!(
            (
                l["backend"].as_str(),
                l["server"].as_str(),
                l["status"].as_str(),
                l["retries"].as_str(),
                l["termination"].as_str()
            ),
            ("dead", "x", "503", "1", "SC"),
        );
        assert_eq!(l["t_connect_ms"], "-1");
    }
    let q = find("/q?x=%22y&z=1");
    assert_eq!(q.len(), 1, "the query is logged as sent");
    let gone = find("/delay/1500");
    assert_eq!(gone.len(), 1);
    assert!(
        gone[0]["termination"].starts_with('C'),
        "client abort: {:?}",
        gone[0]
    );
}

/// `fairway_http_active_connections` counts the client connections open
/// now, idle keep-alive ones included, and goes back to 0 when they close.
#[test]
fn open_client_connections_are_a_gauge() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let (f, admin) = start(true, &[&a, &b]);
    let open = || {
        value(
            &scrape(admin),
            "fairway_http_active_connections",
            &[("frontend", "web")],
        )
    };
    // The series exists before any client; the start-up's readiness probe
    // (a connection to the frontend) is closed, but fairway may see its
    // end a moment later on a loaded machine.
    wait_until(&f, Duration::from_secs(10), "the series at 0", || {
        open() == Some(0.0)
    });
    // Three clients, each after one request on a kept-alive connection.
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(f.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
        let mut reader = std::io::BufReader::new(s.try_clone().unwrap());
        let r = common::read_response(&mut reader, false).unwrap();
        assert_eq!(r.status, 200);
        clients.push(s);
    }
    wait_until(&f, Duration::from_secs(10), "3 open connections", || {
        open() == Some(3.0)
    });
    drop(clients);
    wait_until(&f, Duration::from_secs(10), "no open connection", || {
        open() == Some(0.0)
    });
}
