//! The admin listener and the HAProxy-compatible runtime socket, through
//! the real binary: auth, the stats page and its CSV/JSON, the runtime API
//! (and every bad input), the socket commands (and the seed's `nc -U`
//! pipeline), and that each change is what the next requests see.

mod common;

use common::{free_port, read_response, wait_until, Fairway, Response, Upstream};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// `admin:pw`, base64.
const AUTH: &str = "Basic YWRtaW46cHc=";

/// A running proxy with its admin listener and socket.
struct Admin {
    f: Fairway,
    addr: SocketAddr,
    sock: PathBuf,
}

/// Starts fairway on `body` (frontends and backends) with an `admin`
/// section: auth `admin:pw` when `auth`, the socket at `{DIR}/admin.sock`.
fn start(body: &str, ups: &[&Upstream], auth: bool) -> Admin {
    let port = free_port();
    let auth = if auth {
        "\n  auth: { user: admin, password: pw }"
    } else {
        ""
    };
    let yaml =
        format!("admin:\n  bind: 127.0.0.1:{port}{auth}\n  socket: \"{{DIR}}/admin.sock\"\n{body}");
    let f = Fairway::start(&yaml, ups);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_until(&f, Duration::from_secs(10), "the admin listener", || {
        TcpStream::connect(addr).is_ok()
    });
    let sock = f.dir.join("admin.sock");
    wait_until(&f, Duration::from_secs(10), "the admin socket", || {
        UnixStream::connect(&sock).is_ok()
    });
    Admin { f, addr, sock }
}

/// One backend `upstream` (round robin) over `servers` lines.
fn upstream_backend(servers: &str) -> String {
    format!(
        "frontends:\n  web:\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    default_backend: upstream\nbackends:\n  upstream:\n    balance: roundrobin\n    servers:\n{servers}"
    )
}

fn two_servers() -> (Upstream, Upstream, String) {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let yaml = upstream_backend("      a: { addr: \"{UP0}\" }\n      b: { addr: \"{UP1}\" }\n");
    (a, b, yaml)
}

impl Admin {
    /// `method path` with `headers` and `body`, authenticated.
    fn call(&self, method: &str, path: &str, body: Option<&str>) -> Response {
        self.raw(method, path, &[("authorization", AUTH)], body)
    }

    fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Response {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut req = format!("{method} {path} HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = body {
            req.push_str(&format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(body.unwrap_or(""));
        s.write_all(req.as_bytes()).unwrap();
        read_response(&mut BufReader::new(s), method == "HEAD").unwrap()
    }

    fn json(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let r = self.call(method, path, body);
        let v = serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {r:?}"));
        (r.status, v)
    }

    /// Sends `input` on the runtime socket without closing our side (as
    /// `nc -U` does) and reads until the proxy closes.
    fn sock(&self, input: &str) -> String {
        let mut s = UnixStream::connect(&self.sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(input.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out)
            .expect("the socket closes after the command line");
        out
    }

    /// Which servers answer `n` requests.
    fn tally(&self, n: usize) -> HashMap<String, usize> {
        let mut t = HashMap::new();
        for _ in 0..n {
            let r = self.f.get("/");
            assert_eq!(r.status, 200, "{r:?}\n{}", self.f.log());
            *t.entry(r.server().to_string()).or_default() += 1;
        }
        t
    }
}

fn error_of(v: &Value) -> &str {
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {v}"))
}

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

#[test]
fn socket_commands_reply_like_haproxy() {
    let (a, b, yaml) = two_servers();
    let ad = start(&yaml, &[&a, &b], true);
    let mode = std::fs::metadata(&ad.sock).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode");

    for (cmd, reply) in [
        ("set server upstream/a weight 10", "\n"),
        ("get weight upstream/a", "10 (initial 1)\n\n"),
        ("set weight upstream/a 5", "\n"),
        ("get weight upstream/a", "5 (initial 1)\n\n"),
        (
            "set server upstream/a weight 300",
            "Absolute weight can only be between 0 and 256 inclusive.\n\n",
        ),
        (
            "set server upstream/a weight x",
            "Empty weight string empty or preceded by garbage\n\n",
        ),
        (
            "set server upstream/a weight 3x",
            "Trailing garbage in weight string\n\n",
        ),
        ("set server nope/a weight 1", "No such backend.\n\n"),
        ("set server upstream/nope weight 1", "No such server.\n\n"),
        ("get weight upstream", "Require 'backend/server'.\n\n"),
        (
            "set server upstream/a state up",
            "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n",
        ),
        ("set server upstream/a state drain", "\n"),
        ("set server upstream/a state ready", "\n"),
        ("disable server upstream/a", "\n"),
        ("enable server upstream/a", "\n"),
        (
            "del server upstream/a",
            "Only servers in maintenance mode can be deleted.\n\n",
        ),
        ("show servers state nope", "Can't find backend.\n\n"),
        ("get weight upstream/a", "5 (initial 1)\n\n"),
    ] {
        assert_eq!(ad.sock(&format!("{cmd}\n")), reply, "{cmd}");
    }
    let state = ad.sock("show servers state\n");
    let lines: Vec<&str> = state.lines().collect();
    assert_eq!(lines[0], "1");
    assert!(lines[1].starts_with("# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change"));
    assert!(
        lines[2].starts_with("2 upstream 1 a 127.0.0.1 2 0 5 1 "),
        "{state}"
    );
    assert!(state.ends_with("\n\n"));
    let stat = ad.sock("show stat\n");
    assert!(
        stat.starts_with("# pxname,svname,qcur,qmax,scur,"),
        "{stat}"
    );
    assert!(stat.contains("\nupstream,a,"), "{stat}");
    let help = ad.sock("help\n");
    assert!(help.starts_with("The following commands are valid at this level:\n"));
    for cmd in [
        "set server",
        "get weight",
        "enable server",
        "disable server",
        "add server",
        "del server",
        "show servers state",
        "show stat",
    ] {
        assert!(help.contains(&format!("  {cmd}")), "{cmd} in {help}");
    }
    let unknown = ad.sock("make coffee\n");
    assert!(
        unknown.starts_with(
            "Unknown command: 'make'. Please enter one of the following commands only:\n"
        ),
        "{unknown}"
    );
    // Several commands: `;`-separated, and several lines in one write.
    assert_eq!(
        ad.sock("set server upstream/b weight 7; get weight upstream/b\n"),
        "\n7 (initial 1)\n\n"
    );
    assert_eq!(
        ad.sock("get weight upstream/a\nget weight upstream/b\n"),
        "5 (initial 1)\n\n7 (initial 1)\n\n"
    );
    // Interactive mode keeps the connection until `quit`.
    let mut s = UnixStream::connect(&ad.sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 256];
    s.write_all(b"prompt\n").unwrap();
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"\n> ");
    s.write_all(b"get weight upstream/b\n").unwrap();
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"7 (initial 1)\n\n> ");
    s.write_all(b"quit\n").unwrap();
    assert_eq!(s.read(&mut buf).unwrap(), 0, "closed after quit");
}

#[test]
fn socket_weight_state_add_and_del_change_routing() {
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
    assert_eq!(ad.sock("set server upstream/a weight 0\n"), "\n");
    assert_eq!(ad.tally(4), HashMap::from([("b".to_string(), 4)]));
    assert_eq!(ad.sock("set server upstream/a weight 3\n"), "\n");
    let t = ad.tally(8);
    assert_eq!((t["a"], t["b"]), (6, 2));
    assert_eq!(ad.sock("disable server upstream/b\n"), "\n");
    assert_eq!(ad.tally(3), HashMap::from([("a".to_string(), 3)]));

    // HAProxy's dynamic servers start in maintenance.
    assert_eq!(
        ad.sock(&format!("add server upstream/c {} weight 3\n", c.addr)),
        "New server registered.\n\n"
    );
    assert_eq!(
        ad.sock(&format!("add server upstream/c {}\n", c.addr)),
        "Already exists a server with the same name in backend.\n\n"
    );
    assert!(ad
        .sock("add server upstream/d nonsense\n")
        .starts_with("invalid address"));
    assert_eq!(
        ad.tally(3),
        HashMap::from([("a".to_string(), 3)]),
        "c is in maintenance"
    );
    assert_eq!(ad.sock("enable server upstream/c\n"), "\n");
    let t = ad.tally(6);
    assert_eq!((t["a"], t["c"]), (3, 3), "{t:?}");

    assert_eq!(
        ad.sock("disable server upstream/a; del server upstream/a\n"),
        "\nServer deleted.\n\n"
    );
    assert_eq!(ad.tally(3), HashMap::from([("c".to_string(), 3)]));
    assert_eq!(ad.sock("get weight upstream/a\n"), "No such server.\n\n");
}

/// The seed's exact pipeline: `echo "..." | nc -U sock` (netcat-openbsd
/// keeps its side open after stdin ends; the proxy closes, as HAProxy does).
#[test]
fn the_seed_weight_script_pipeline() {
    let nc = Command::new("sh")
        .args(["-c", "command -v nc"])
        .output()
        .unwrap();
    assert!(
        nc.status.success(),
        "nc (netcat-openbsd) is required: run scripts/setup.sh or apt-get install netcat-openbsd"
    );
    let srv = Upstream::start("srv");
    let ad = start(
        &upstream_backend("      srv: { addr: \"{UP0}\", weight: 0 }\n"),
        &[&srv],
        true,
    );
    let sock = ad.sock.display().to_string();
    let run = |cmd: &str| {
        let out = Command::new("timeout")
            .args(["10", "sh", "-c", &format!("echo \"{cmd}\" | nc -U {sock}")])
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(ad.f.get("/").status, 503, "weight 0: no server");
    assert_eq!(run("set server upstream/srv weight 256"), "\n");
    assert_eq!(run("get weight upstream/srv"), "256 (initial 0)\n\n");
    assert_eq!(ad.f.get("/").server(), "srv");
    // As the seed's script sends it: output discarded, one command per connection.
    let out = Command::new("timeout")
        .args([
            "10",
            "sh",
            "-c",
            &format!("echo 'set server upstream/srv weight 1' | xargs -I {{}} sh -c \"echo {{}} | nc -U {sock} > /dev/null\""),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(run("get weight upstream/srv"), "1 (initial 0)\n\n");
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let dir = common::temp_dir("stale");
    let path = dir.join("admin.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists(), "a stale socket file");
    let a = Upstream::start("a");
    let port = free_port();
    let yaml = format!(
        "admin:\n  bind: 127.0.0.1:{port}\n  socket: \"{}\"\n{}",
        path.display(),
        upstream_backend("      a: { addr: \"{UP0}\" }\n")
    );
    let f = Fairway::start(&yaml, &[&a]);
    wait_until(&f, Duration::from_secs(10), "the socket", || {
        UnixStream::connect(&path).is_ok()
    });
    let mut s = UnixStream::connect(&path).unwrap();
    s.write_all(b"get weight upstream/a\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert_eq!(out, "1 (initial 1)\n\n");
    drop(f);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_socket_path_that_is_not_a_socket_is_a_startup_error() {
    let dir = common::temp_dir("notsock");
    let path = dir.join("admin.sock");
    std::fs::write(&path, "precious").unwrap();
    let yaml = format!(
        "global:\n  pid_file: {d}/p.pid\n  upgrade_sock: {d}/u.sock\nadmin:\n  bind: 127.0.0.1:{}\n  socket: \"{}\"\nfrontends:\n  web:\n    bind: [\"127.0.0.1:{}\"]\n    default_backend: app\nbackends:\n  app:\n    servers:\n      a: {{ addr: 127.0.0.1:9 }}\n",
        free_port(),
        path.display(),
        free_port(),
        d = dir.display()
    );
    let conf = common::write_temp("notsock.yaml", &yaml);
    let out = Command::new(common::bin())
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    let _ = std::fs::remove_dir_all(&dir);
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
