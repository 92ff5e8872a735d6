//! The admin listener through the real binary: auth, the stats page and
//! its CSV/JSON, the runtime API (and every bad input), and that each
//! change is what the next requests see. The runtime socket is in
//! `admin_socket.rs`.

mod common;

use common::admin::*;
use common::{free_port, wait_until, Upstream};
use serde_json::Value;
use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

#[test]
fn every_path_needs_basic_auth() {
    let (a, b, yaml) = two_servers();
    let ad = start(&yaml, &[&a, &b], true);
    for path in [
        "/stats",
        "/stats;csv",
        "/stats.json",
        "/metrics",
        "/api/backends",
        "/no/such/path",
    ] {
        for headers in [
            vec![],
            vec![("authorization", "Basic YWRtaW46d3Jvbmc=")], // admin:wrong
            vec![("authorization", "Basic YWRtaW46cHcx")],     // admin:pw1
            vec![("authorization", "Basic YWRtaW4=")],         // admin (no colon)
            vec![("authorization", "Basic !!!")],
            vec![("authorization", "Basic")],
            vec![("authorization", "Bearer YWRtaW46cHc=")],
            vec![("authorization", "YWRtaW46cHc=")],
        ] {
            let r = ad.raw("GET", path, &headers, None);
            assert_eq!(r.status, 401, "{path} {headers:?}");
            assert_eq!(
                r.header("www-authenticate"),
                Some("Basic realm=\"fairway\""),
                "{path}"
            );
        }
    }
    // A change with bad credentials changes nothing.
    let r = ad.raw(
        "PUT",
        "/api/backends/upstream/servers/a",
        &[("authorization", "Basic YWRtaW46d3Jvbmc=")],
        Some("{\"weight\": 0}"),
    );
    assert_eq!(r.status, 401);
    assert_eq!(ad.sock("get weight upstream/a\n"), "1 (initial 1)\n\n");
    assert_eq!(ad.call("GET", "/stats", None).status, 200);
    assert_eq!(
        ad.raw(
            "GET",
            "/stats",
            &[("authorization", "basic YWRtaW46cHc=")],
            None
        )
        .status,
        200,
        "the scheme is case-insensitive"
    );
}

#[test]
fn without_auth_the_loopback_admin_is_open() {
    let (a, b, yaml) = two_servers();
    let ad = start(&yaml, &[&a, &b], false);
    assert_eq!(ad.raw("GET", "/api/backends", &[], None).status, 200);
}

#[test]
fn stats_page_csv_and_json_show_every_server() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let yaml = format!(
        "frontends:\n  web:\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    default_backend: upstream\nbackends:\n  upstream:\n    servers:\n      a: {{ addr: \"{{UP0}}\", weight: 3 }}\n      b: {{ addr: \"{{UP1}}\", backup: true }}\n  other:\n    balance: leastconn\n    health_check: {{ type: tcp, interval: 100ms, fall: 1, rise: 1 }}\n    servers:\n      gone: {{ addr: \"127.0.0.1:{}\" }}\n",
        free_port()
    );
    let ad = start(&yaml, &[&a, &b], true);
    for _ in 0..4 {
        assert_eq!(ad.f.get("/").status, 200);
    }
    wait_until(&ad.f, Duration::from_secs(5), "`gone` down", || {
        ad.call("GET", "/stats.json", None)
            .body
            .contains("\"DOWN\"")
    });
    ad.sock("set server upstream/a state drain\n");
    // A response is counted in the log phase, just after the client has it.
    wait_until(&ad.f, Duration::from_secs(5), "4 responses counted", || {
        let csv = ad.call("GET", "/stats;csv", None).body;
        let at = csv
            .lines()
            .next()
            .and_then(|h| h.split(',').position(|c| c == "hrsp_2xx"));
        csv.lines().any(|l| {
            l.starts_with("upstream,BACKEND,") && at.and_then(|i| l.split(',').nth(i)) == Some("4")
        })
    });

    let page = ad.call("GET", "/stats", None);
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    let html = &page.body;
    assert!(html.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
    assert!(html.contains("data-frontend=\"web\""), "{html}");
    assert!(
        html.contains("data-server=\"a\" data-status=\"DRAIN\""),
        "{html}"
    );
    assert!(
        html.contains("data-server=\"b\" data-status=\"UP\""),
        "{html}"
    );
    assert!(
        html.contains("data-server=\"gone\" data-status=\"DOWN\""),
        "{html}"
    );
    assert!(
        html.contains("class=\"backup_up\""),
        "backup marker: {html}"
    );
    assert!(html.contains("balance leastconn"));
    let norefresh = ad.call("GET", "/stats;norefresh", None).body;
    assert!(!norefresh.contains("http-equiv=\"refresh\""));

    let csv = ad.call("GET", "/stats;csv", None);
    assert_eq!(csv.status, 200);
    let lines: Vec<&str> = csv.body.lines().collect();
    assert!(lines[0].starts_with("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,"));
    let cols: Vec<&str> = lines[0][2..].split(',').collect();
    let col = |name: &str| cols.iter().position(|c| *c == name).unwrap();
    let rows: Vec<Vec<&str>> = lines[1..].iter().map(|l| l.split(',').collect()).collect();
    let names: Vec<(&str, &str)> = rows.iter().map(|r| (r[0], r[1])).collect();
    assert_eq!(
        names,
        [
            ("web", "FRONTEND"),
            ("upstream", "a"),
            ("upstream", "b"),
            ("upstream", "BACKEND"),
            ("other", "gone"),
            ("other", "BACKEND"),
        ]
    );
    let a_row = &rows[1];
    assert_eq!(a_row[col("status")], "DRAIN");
    assert_eq!(a_row[col("uweight")], "3");
    assert_eq!(a_row[col("type")], "2");
    assert_eq!(rows[2][col("bck")], "1");
    assert_eq!(rows[4][col("status")], "DOWN");
    assert_eq!(rows[4][col("check_status")], "L4CON");
    assert_eq!(rows[5][col("status")], "DOWN");
    assert_eq!(rows[5][col("algo")], "leastconn");
    let stot: u64 = rows[3][col("stot")].parse().unwrap();
    assert_eq!(stot, 4, "backend total");
    let hrsp_2xx: u64 = rows[3][col("hrsp_2xx")].parse().unwrap();
    assert_eq!(hrsp_2xx, 4, "response codes from the metrics");

    let (status, json) = ad.json("GET", "/stats.json", None);
    assert_eq!(status, 200);
    assert_eq!(json["frontends"][0]["name"], "web");
    let up = &json["backends"][0];
    assert_eq!(up["servers"][0]["status"], "DRAIN");
    assert_eq!(up["servers"][1]["backup"], true);
    assert_eq!(up["total"], 4);
    assert_eq!(json["backends"][1]["servers"][0]["health"], "down");

    let metrics = ad.call("GET", "/metrics", None);
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .body
            .contains("fairway_server_up{backend=\"other\",server=\"gone\"} 0"),
        "{}",
        metrics.body
    );
    let head = ad.call("HEAD", "/stats", None);
    assert_eq!((head.status, head.body.as_str()), (200, ""));
}

#[test]
fn names_are_escaped_on_the_page() {
    let a = Upstream::start("a");
    // Names are restricted by the config; an added server name too, so
    // the escaping is checked by a unit test; here: a name with dots.
    let ad = start(
        &upstream_backend("      a.b-c_d: { addr: \"{UP0}\" }\n"),
        &[&a],
        true,
    );
    let html = ad.call("GET", "/stats", None).body;
    assert!(html.contains("data-server=\"a.b-c_d\""));
    assert!(!html.contains("<script"));
}

#[test]
fn api_backends_lists_servers_with_the_spec_fields() {
    let (a, b, yaml) = two_servers();
    let ad = start(&yaml, &[&a, &b], true);
    let (status, v) = ad.json("GET", "/api/backends", None);
    assert_eq!(status, 200);
    assert_eq!(v[0]["name"], "upstream");
    assert_eq!(v[0]["balance"], "roundrobin");
    let s = &v[0]["servers"][0];
    for key in [
        "name",
        "addr",
        "weight",
        "state",
        "health",
        "check_latency_p90_ms",
        "active",
        "total",
    ] {
        assert!(s.get(key).is_some(), "{key} missing in {s}");
    }
    assert_eq!(s["name"], "a");
    assert_eq!(s["addr"], a.addr.to_string());
    assert_eq!(
        (s["weight"].as_u64(), s["state"].as_str()),
        (Some(1), Some("ready"))
    );
    assert_eq!(s["health"], "up");
    assert!(s["check_latency_p90_ms"].is_null(), "no checks, no latency");
    let (status, one) = ad.json("GET", "/api/backends/upstream/servers/b", None);
    assert_eq!((status, one["name"].as_str()), (200, Some("b")));
    let (status, list) = ad.json("GET", "/api/backends/upstream/servers", None);
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(2)));
    assert_eq!(ad.json("GET", "/api/backends/upstream", None).0, 200);
}

#[test]
fn put_weight_changes_the_next_selection() {
    let (a, b, yaml) = two_servers();
    let ad = start(&yaml, &[&a, &b], true);
    let (status, v) = ad.json(
        "PUT",
        "/api/backends/upstream/servers/a",
        Some("{\"weight\": 0}"),
    );
    assert_eq!((status, v["weight"].as_u64()), (200, Some(0)), "{v}");
    assert_eq!(ad.tally(6), HashMap::from([("b".to_string(), 6)]));
    ad.json(
        "PUT",
        "/api/backends/upstream/servers/a",
        Some("{\"weight\": 3}"),
    );
    let t = ad.tally(8);
    assert_eq!((t["a"], t["b"]), (6, 2), "smooth round robin 3:1");
}

/// `PUT {"addr"}` and the socket's `set server B/S addr IP port N` move a
/// server: the next requests reach the new address.
#[test]
fn a_new_address_takes_the_next_requests() {
    let (a, b, yaml) = two_servers();
    let c = Upstream::start("c");
    let ad = start(&yaml, &[&a, &b], true);
    // A good address with a bad weight: nothing changes.
    let put = "/api/backends/upstream/servers/a";
    let (status, v) = ad.json(
        "PUT",
        put,
        Some(&format!("{{\"addr\": \"{}\", \"weight\": 999}}", c.addr)),
    );
    assert_eq!(status, 400, "{v}");
    let (_, v) = ad.json("GET", put, None);
    assert_eq!(v["addr"].as_str(), Some(a.addr.to_string().as_str()));
    let (status, v) = ad.json(
        "PUT",
        "/api/backends/upstream/servers/a",
        Some(&format!("{{\"addr\": \"{}\"}}", c.addr)),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["addr"].as_str(), Some(c.addr.to_string().as_str()));
    assert_eq!(
        ad.tally(4),
        HashMap::from([("b".to_string(), 2), ("c".to_string(), 2)]),
        "server a now answers from c's address"
    );
    let reply = ad.sock(&format!(
        "set server upstream/b addr 127.0.0.1 port {}\n",
        a.addr.port()
    ));
    assert_eq!(
        reply,
        format!(
            "no need to change the addr, port changed from '{}' to '{}' by 'stats socket command'\n\n",
            b.addr.port(),
            a.addr.port()
        )
    );
    assert_eq!(
        ad.tally(4),
        HashMap::from([("a".to_string(), 2), ("c".to_string(), 2)]),
    );
    assert_eq!(b.client_hits(), 2, "nothing reaches the old address");
    // Moved and put in maintenance in one call: the new address never
    // gets a request.
    let (status, v) = ad.json(
        "PUT",
        put,
        Some(&format!(
            "{{\"addr\": \"{}\", \"state\": \"maint\"}}",
            b.addr
        )),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["state"].as_str(), Some("maint"));
    assert_eq!(v["addr"].as_str(), Some(b.addr.to_string().as_str()));
    assert_eq!(ad.tally(3), HashMap::from([("a".to_string(), 3)]));
    assert_eq!(b.client_hits(), 2);
}

#[test]
fn put_state_drain_and_maint_stop_new_requests() {
    let (a, b, yaml) = two_servers();
    let ad = start(&yaml, &[&a, &b], true);
    for state in ["drain", "maint"] {
        let (status, v) = ad.json(
            "PUT",
            "/api/backends/upstream/servers/a",
            Some(&format!("{{\"state\": \"{state}\"}}")),
        );
        assert_eq!((status, v["state"].as_str()), (200, Some(state)));
        assert_eq!(
            ad.tally(4),
            HashMap::from([("b".to_string(), 4)]),
            "{state}"
        );
    }
    let (status, v) = ad.json(
        "PUT",
        "/api/backends/upstream/servers/a",
        Some("{\"state\": \"ready\", \"weight\": 2}"),
    );
    assert_eq!((status, v["weight"].as_u64()), (200, Some(2)));
    let t = ad.tally(6);
    assert_eq!((t["a"], t["b"]), (4, 2));
}

#[test]
fn bad_input_is_400_and_changes_nothing() {
    let (a, b, yaml) = two_servers();
    let ad = start(&yaml, &[&a, &b], true);
    let put = "/api/backends/upstream/servers/a";
    for (body, expect) in [
        ("{\"weight\": ", "invalid JSON"),
        ("not json", "invalid JSON"),
        ("", "empty request body"),
        ("[1]", "must be a JSON object"),
        ("{}", "nothing to change"),
        (
            "{\"weight\": 300}",
            "weight must be an integer from 0 to 256, got 300",
        ),
        ("{\"weight\": -1}", "weight must be an integer"),
        ("{\"weight\": 1.5}", "weight must be an integer"),
        ("{\"weight\": \"5\"}", "weight must be an integer"),
        (
            "{\"state\": \"up\"}",
            "state must be one of \"ready\", \"drain\", \"maint\", got \"up\"",
        ),
        ("{\"weight\": 5, \"state\": \"up\"}", "state must be one of"),
        ("{\"weight\": 5, \"colour\": 1}", "unknown field `colour`"),
        ("{\"addr\": \"nope\"}", "addr must be \"IP:PORT\""),
        ("{\"addr\": \"127.0.0.1\"}", "addr must be"),
        ("{\"addr\": \"127.0.0.1:0\"}", "addr must be"),
        ("{\"weight\": 5, \"addr\": 8080}", "addr must be"),
    ] {
        let (status, v) = ad.json("PUT", put, Some(body));
        assert_eq!(status, 400, "{body}: {v}");
        assert!(error_of(&v).contains(expect), "{body}: {v}");
    }
    let (_, v) = ad.json("GET", put, None);
    assert_eq!(
        (v["weight"].as_u64(), v["state"].as_str()),
        (Some(1), Some("ready"))
    );
    assert_eq!(v["addr"].as_str(), Some(a.addr.to_string().as_str()));

    let post = "/api/backends/upstream/servers";
    for (body, expect) in [
        ("{\"addr\": \"127.0.0.1:9\"}", "missing field `name`"),
        ("{\"name\": \"c\"}", "missing field `addr`"),
        (
            "{\"name\": \"a\", \"addr\": \"127.0.0.1:9\"}",
            "already exists",
        ),
        (
            "{\"name\": \"c\", \"addr\": \"nonsense\"}",
            "invalid address",
        ),
        (
            "{\"name\": \"c\", \"addr\": \"127.0.0.1:0\"}",
            "invalid address",
        ),
        (
            "{\"name\": \"c\", \"addr\": \"127.0.0.1:9\", \"weight\": 300}",
            "weight must be",
        ),
        (
            "{\"name\": \"c d\", \"addr\": \"127.0.0.1:9\"}",
            "invalid server name",
        ),
        (
            "{\"name\": \"c\", \"addr\": \"127.0.0.1:9\", \"backup\": \"yes\"}",
            "`backup` must be",
        ),
        (
            "{\"name\": \"c\", \"addr\": \"127.0.0.1:9\", \"port\": 1}",
            "unknown field `port`",
        ),
        (
            "{\"name\": 5, \"addr\": \"127.0.0.1:9\"}",
            "`name` must be a string",
        ),
    ] {
        let (status, v) = ad.json("POST", post, Some(body));
        assert_eq!(status, 400, "{body}: {v}");
        assert!(error_of(&v).contains(expect), "{body}: {v}");
    }
    let (_, list) = ad.json("GET", post, None);
    assert_eq!(list.as_array().map(Vec::len), Some(2), "nothing added");

    // Too large a body.
    let big = format!("{{\"weight\": 1, \"x\": \"{}\"}}", "y".repeat(70 * 1024));
    let r = ad.call("PUT", put, Some(&big));
    assert_eq!(r.status, 413, "{r:?}");
    let r = ad.raw(
        "PUT",
        put,
        &[("authorization", AUTH), ("content-length", "100000000")],
        None,
    );
    assert_eq!(r.status, 413, "a declared length above the cap: {r:?}");
}

#[test]
fn unknown_names_paths_and_methods() {
    let (a, b, yaml) = two_servers();
    let ad = start(&yaml, &[&a, &b], true);
    for (method, path, body) in [
        ("GET", "/api/backends/nope", None),
        ("GET", "/api/backends/nope/servers", None),
        ("GET", "/api/backends/upstream/servers/nope", None),
        (
            "PUT",
            "/api/backends/nope/servers/a",
            Some("{\"weight\": 1}"),
        ),
        (
            "PUT",
            "/api/backends/upstream/servers/nope",
            Some("{\"weight\": 1}"),
        ),
        (
            "POST",
            "/api/backends/nope/servers",
            Some("{\"name\":\"c\",\"addr\":\"127.0.0.1:9\"}"),
        ),
        ("DELETE", "/api/backends/upstream/servers/nope", None),
        ("DELETE", "/api/backends/nope/servers/a", None),
        ("GET", "/nope", None),
        ("GET", "/api", None),
        ("GET", "/api/backends/upstream/servers/a/extra", None),
    ] {
        let (status, v) = ad.json(method, path, body);
        assert_eq!(status, 404, "{method} {path}: {v}");
        assert!(!error_of(&v).is_empty());
    }
    let (_, v) = ad.json("GET", "/api/backends/upstream/servers/nope", None);
    assert_eq!(error_of(&v), "no such server `nope` in backend `upstream`");
    for (method, path, allow) in [
        ("DELETE", "/stats", "GET, HEAD"),
        ("POST", "/api/backends", "GET, HEAD"),
        ("GET", "/api/reload", "POST"),
        (
            "PATCH",
            "/api/backends/upstream/servers/a",
            "GET, HEAD, PUT, DELETE",
        ),
        ("PUT", "/api/backends/upstream/servers", "GET, HEAD, POST"),
    ] {
        let r = ad.call(method, path, None);
        assert_eq!(r.status, 405, "{method} {path}");
        assert_eq!(r.header("allow"), Some(allow), "{method} {path}");
    }
    let r = ad.call("GET", "/", None);
    assert_eq!((r.status, r.header("location")), (302, Some("/stats")));
}

#[test]
fn add_and_remove_servers_change_routing() {
    let (a, b, c) = (
        Upstream::start("a"),
        Upstream::start("b"),
        Upstream::start("c"),
    );
    let ad = start(
        &upstream_backend("      a: { addr: \"{UP0}\" }\n      b: { addr: \"{UP1}\" }\n"),
        &[&a, &b],
        true,
    );
    let body = format!(
        "{{\"name\": \"c\", \"addr\": \"{}\", \"weight\": 2}}",
        c.addr
    );
    let r = ad.call("POST", "/api/backends/upstream/servers", Some(&body));
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some("/api/backends/upstream/servers/c")
    );
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (v["name"].as_str(), v["weight"].as_u64()),
        (Some("c"), Some(2))
    );
    let t = ad.tally(8);
    assert_eq!((t["a"], t["b"], t["c"]), (2, 2, 4), "{t:?}");

    let (status, v) = ad.json("DELETE", "/api/backends/upstream/servers/a", None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["removed"]["server"], "a");
    let t = ad.tally(6);
    assert!(!t.contains_key("a"), "{t:?}");
    assert_eq!((t["b"], t["c"]), (2, 4));
    assert_eq!(
        ad.json("DELETE", "/api/backends/upstream/servers/a", None)
            .0,
        404
    );
    // A backup server takes over when the others are gone.
    let body = format!(
        "{{\"name\": \"spare\", \"addr\": \"{}\", \"backup\": true}}",
        a.addr
    );
    assert_eq!(
        ad.call("POST", "/api/backends/upstream/servers", Some(&body))
            .status,
        201
    );
    ad.json(
        "PUT",
        "/api/backends/upstream/servers/b",
        Some("{\"state\":\"maint\"}"),
    );
    ad.json(
        "PUT",
        "/api/backends/upstream/servers/c",
        Some("{\"state\":\"maint\"}"),
    );
    assert_eq!(ad.tally(3), HashMap::from([("a".to_string(), 3)]));
}

#[test]
fn reload_through_the_api() {
    let (a, b, yaml) = two_servers();
    let ad = start(&yaml, &[&a, &b], true);
    let conf = std::fs::read_to_string(&ad.f.conf).unwrap();
    let weighted = conf.replace(
        &format!("a: {{ addr: \"{}\" }}", a.addr),
        &format!("a: {{ addr: \"{}\", weight: 3 }}", a.addr),
    );
    assert_ne!(conf, weighted);
    std::fs::write(&ad.f.conf, &weighted).unwrap();
    let (status, v) = ad.json("POST", "/api/reload", None);
    assert_eq!((status, &v), (200, &serde_json::json!({"reloaded": true})));
    let t = ad.tally(8);
    assert_eq!((t["a"], t["b"]), (6, 2), "the new file is in effect");

    std::fs::write(
        &ad.f.conf,
        weighted.replace("balance: roundrobin", "balance: sideways"),
    )
    .unwrap();
    let (status, v) = ad.json("POST", "/api/reload", None);
    assert_eq!(status, 400, "{v}");
    let err = error_of(&v);
    assert!(
        err.contains("fairway.yaml:") && err.contains("sideways"),
        "{err}"
    );
    let t = ad.tally(8);
    assert_eq!((t["a"], t["b"]), (6, 2), "the running config is kept");
}

/// Runs headless Chromium (Debian's `chromium`) with `args` and `url`;
/// returns stdout. Fails with a clear message when it is not installed.
fn chromium(args: &[&str], url: &str) -> String {
    let found = Command::new("sh")
        .args(["-c", "command -v chromium"])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "chromium is required for the stats page test: run scripts/setup.sh or apt-get install chromium"
    );
    let profile = common::temp_dir("chromium");
    let out = Command::new("timeout")
        .args([
            "60",
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1366,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The stats page in a real browser: 4 backends x 4 servers in every
/// state, loaded by headless Chromium through basic auth (credentials in
/// the URL); the rendered DOM shows every server with its state, the page
/// is no wider than a 1366 px laptop screen, and a screenshot is saved at
/// `target/stats-page.png` for humans.
#[test]
fn stats_page_in_headless_chromium() {
    let ups: Vec<Upstream> = (1..=4).map(|i| Upstream::start(&format!("u{i}"))).collect();
    let refs: Vec<&Upstream> = ups.iter().collect();
    let closed = free_port();
    let yaml = format!(
        "frontends:
  web:
    bind: [\"127.0.0.1:{{PORT}}\"]
    default_backend: app
backends:
  app:
    balance: roundrobin
    health_check: {{ type: http, path: /health, interval: 100ms, fall: 1, rise: 1 }}
    servers:
      app-eu-west-1a: {{ addr: \"{{UP0}}\", weight: 10 }}
      app-eu-west-1b: {{ addr: \"{{UP1}}\", weight: 10 }}
      app-us-east-1a: {{ addr: \"{{UP2}}\", weight: 5 }}
      app-spare: {{ addr: \"{{UP3}}\", backup: true }}
  api:
    balance: leastconn
    servers:
      api1: {{ addr: \"{{UP0}}\" }}
      api2: {{ addr: \"{{UP1}}\" }}
      api3: {{ addr: \"{{UP2}}\", maxconn: 100 }}
      api4: {{ addr: \"{{UP3}}\" }}
  multi-cloud:
    balance: latency
    health_check: {{ type: tcp, interval: 100ms, fall: 1, rise: 1 }}
    servers:
      helloworld-i7p6d4rcpq-uc.a.run.app: {{ addr: \"{{UP0}}\" }}
      helloworld-i7p6d4rcpq-ew.a.run.app: {{ addr: \"{{UP1}}\" }}
      flyio-helloworld-eu.herokuapp.com: {{ addr: \"{{UP2}}\" }}
      flyio-helloworld.herokuapp.com: {{ addr: \"127.0.0.1:{closed}\" }}
  static:
    balance: uri
    servers:
      s1: {{ addr: \"{{UP0}}\" }}
      s2: {{ addr: \"{{UP1}}\" }}
      s3: {{ addr: \"{{UP2}}\" }}
      s4: {{ addr: \"{{UP3}}\", backup: true }}
"
    );
    let ad = start(&yaml, &refs, true);
    for _ in 0..20 {
        ad.f.get("/");
    }
    assert_eq!(
        ad.sock("set server app/app-eu-west-1b state drain; disable server api/api2; set server static/s3 weight 0; set server static/s4 state drain\n"),
        "\n\n\n\n"
    );
    wait_until(
        &ad.f,
        Duration::from_secs(5),
        "the closed server DOWN",
        || {
            ad.call("GET", "/stats.json", None)
                .body
                .contains("\"DOWN\"")
        },
    );
    let expected = [
        ("app-eu-west-1a", "UP"),
        ("app-eu-west-1b", "DRAIN"),
        ("app-us-east-1a", "UP"),
        ("app-spare", "UP"),
        ("api1", "UP"),
        ("api2", "MAINT"),
        ("api3", "UP"),
        ("api4", "UP"),
        ("helloworld-i7p6d4rcpq-uc.a.run.app", "UP"),
        ("helloworld-i7p6d4rcpq-ew.a.run.app", "UP"),
        ("flyio-helloworld-eu.herokuapp.com", "UP"),
        ("flyio-helloworld.herokuapp.com", "DOWN"),
        ("s1", "UP"),
        ("s2", "UP"),
        ("s3", "UP"),
        ("s4", "DRAIN"),
    ];

    // The live page, through basic auth.
    let url = format!("http://admin:pw@{}/stats", ad.addr);
    let dom = chromium(&["--dump-dom"], &url);
    assert!(
        dom.contains("fairway statistics"),
        "not the stats page: {dom}"
    );
    for (server, status) in expected {
        let row = format!("data-server=\"{server}\" data-status=\"{status}\"");
        assert!(dom.contains(&row), "{row} not in the rendered page:\n{dom}");
        let cell = format!("<td class=\"name\" title=\"{server}\">{server}</td>");
        assert!(dom.contains(&cell), "{server} not shown");
    }
    for class in [
        "active_up",
        "active_draining",
        "backup_up",
        "backup_draining",
        "maintain",
        "down",
        "no_check",
    ] {
        assert!(
            dom.contains(&format!("class=\"{class}\"")),
            "no {class} row"
        );
    }
    let denied = chromium(
        &["--dump-dom"],
        &format!("http://admin:wrong@{}/stats", ad.addr),
    );
    assert!(
        !denied.contains("data-server"),
        "wrong credentials must not show the page"
    );

    let shot = common::repo_root().join("target/stats-page.png");
    let _ = std::fs::remove_file(&shot);
    chromium(&[&format!("--screenshot={}", shot.display())], &url);
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot"
    );

    // No horizontal scrolling at 1366 px: the same HTML with a script that
    // records the document's width, rendered from a file.
    let html = ad.call("GET", "/stats;norefresh", None).body;
    let probe = "<script>document.body.setAttribute('data-width', document.documentElement.scrollWidth + 'x' + document.documentElement.clientWidth)</script></body>";
    let file = ad.f.dir.join("stats-probe.html");
    std::fs::write(&file, html.replace("</body>", probe)).unwrap();
    let dom = chromium(&["--dump-dom"], &format!("file://{}", file.display()));
    let width = dom
        .split("data-width=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the probe ran");
    let (scroll, client) = width.split_once('x').unwrap();
    let (scroll, client): (u32, u32) = (scroll.parse().unwrap(), client.parse().unwrap());
    assert!(client >= 1300, "viewport {width}");
    assert!(scroll <= client, "horizontal scrolling at 1366 px: {width}");
}

#[test]
fn a_request_in_flight_finishes_when_its_server_is_removed() {
    let (a, b, yaml) = two_servers();
    let ad = start(&yaml, &[&a, &b], true);
    let addr = ad.f.addr;
    // Round robin: the first request goes to a, and takes 800 ms there.
    let slow = std::thread::spawn(move || common::get(addr, "/delay/800", &[]));
    let t = std::time::Instant::now();
    while a.hits() == 0 {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "a got nothing"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let (status, v) = ad.json("DELETE", "/api/backends/upstream/servers/a", None);
    assert_eq!(status, 200, "{v}");
    // Removed, a gets no new request; the one in flight completes.
    assert_eq!(ad.f.get("/next").server(), "b");
    let r = slow.join().unwrap();
    assert_eq!((r.status, r.server()), (200, "a"), "{r:?}");
}
