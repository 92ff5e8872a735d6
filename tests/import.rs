//! `fairway import-haproxy`, end to end: the real binary converts an
//! HAProxy configuration, then real HAProxy (Debian's `haproxy`, installed
//! by scripts/setup.sh) runs the original and fairway runs the conversion,
//! side by side in front of the same upstreams. For a list of requests both
//! must answer the same status and route to the same backend (compared as
//! the set of servers that answered: round robin may start elsewhere).
//!
//! Everything listens on 127.0.0.1, on ports from `common::free_port()`.

mod common;

use common::{free_port, repo_root, request, temp_dir, Fairway, Response, Upstream};
use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A running `haproxy -f CFG -db`.
struct Haproxy {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
}

impl Haproxy {
    /// Starts HAProxy on `cfg`, whose frontend binds `addr`.
    fn start(cfg: &str, addr: SocketAddr) -> Haproxy {
        let dir = temp_dir("haproxy");
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, cfg).unwrap();
        let log = std::fs::File::create(dir.join("haproxy.log")).unwrap();
        let child = common::spawn_group(
            Command::new("haproxy")
                .arg("-f")
                .arg(&path)
                .arg("-db")
                .stdout(Stdio::from(log.try_clone().unwrap()))
                .stderr(Stdio::from(log)),
        )
        .expect("run haproxy (Debian package `haproxy`; scripts/setup.sh installs it)");
        let mut h = Haproxy { child, dir, addr };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = h.child.try_wait() {
                panic!("haproxy exited with {status}:\n{}", h.log());
            }
            assert!(
                Instant::now() < deadline,
                "haproxy not listening:\n{}",
                h.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
        h
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("haproxy.log")).unwrap_or_default()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        common::stop_group(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `fairway import-haproxy` on `cfg`.
fn import(cfg: &str) -> Output {
    let path = temp_dir("import").join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    Command::new(common::bin())
        .arg("import-haproxy")
        .arg(&path)
        .output()
        .expect("run fairway import-haproxy")
}

/// Converts `cfg` (which must convert completely), starts HAProxy on it and
/// fairway on the conversion. `cfg` binds `127.0.0.1:{PORT}`.
fn both(cfg: &str) -> (Haproxy, Fairway) {
    let port = free_port();
    let cfg = cfg.replace("{PORT}", &port.to_string());
    let out = import(&cfg);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "conversion incomplete:\n{stderr}"
    );
    assert!(!stderr.contains("unsupported"), "{stderr}");
    let yaml = String::from_utf8(out.stdout).unwrap();
    let haproxy = Haproxy::start(&cfg, format!("127.0.0.1:{port}").parse().unwrap());
    // The same file, on fairway's own port (both run side by side), with
    // the test's own pid file and upgrade socket.
    let yaml = yaml.replace(&format!("127.0.0.1:{port}"), "127.0.0.1:{PORT}");
    assert!(yaml.contains("{PORT}"), "{yaml}");
    let yaml = yaml.replacen(
        "\nglobal:\n",
        "\nglobal:\n  threads: 1\n  pid_file: {DIR}/fairway.pid\n  upgrade_sock: {DIR}/upgrade.sock\n",
        1,
    );
    (haproxy, Fairway::start(&yaml, &[]))
}

/// What a proxy did with `n` identical requests: the statuses and the
/// servers that answered.
#[derive(Debug)]
struct Seen {
    statuses: BTreeSet<u16>,
    servers: BTreeSet<String>,
    last: Option<Response>,
}

fn send(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)], n: usize) -> Seen {
    let mut seen = Seen {
        statuses: BTreeSet::new(),
        servers: BTreeSet::new(),
        last: None,
    };
    for _ in 0..n {
        let r = request(addr, method, target, headers);
        seen.statuses.insert(r.status);
        if !r.server().is_empty() {
            seen.servers.insert(r.server().to_string());
        }
        seen.last = Some(r);
    }
    seen
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Seed 003 with its servers on loopback upstreams and its frontend on
/// `127.0.0.1:{PORT}`.
fn seed_003(ups: &[Upstream]) -> String {
    let path = repo_root().join("crates/fairway-haproxy/tests/haproxy/seed003.cfg");
    let mut cfg = std::fs::read_to_string(path).unwrap();
    cfg = cfg.replace("bind *:80", "bind 127.0.0.1:{PORT}");
    for (i, up) in ups.iter().enumerate() {
        cfg = cfg.replace(&format!("server{}:8000", i + 1), &up.addr.to_string());
    }
    cfg
}

/// The backend of seed 003 that a set of answering servers belongs to.
fn seed_003_backend(servers: &BTreeSet<String>) -> String {
    let heavy = set(&["server3", "server4"]);
    if *servers == set(&["server1", "server2"]) {
        "lightServers".into()
    } else if servers.len() == 1 && servers.is_subset(&heavy) {
        // balance source: one server for our one client address.
        "heavyServers".into()
    } else if *servers == set(&["server1", "server2", "server3", "server4"]) {
        "servers".into()
    } else if servers.is_empty() {
        "-".into()
    } else {
        format!("? {servers:?}")
    }
}

#[test]
fn seed_003_behaves_as_in_haproxy() {
    let ups: Vec<Upstream> = (1..=4)
        .map(|i| Upstream::start(&format!("server{i}")))
        .collect();
    let (haproxy, fairway) = both(&seed_003(&ups));
    let cases = [
        ("/", 200, "servers"),
        ("/foo", 200, "servers"),
        ("/lightwork", 200, "lightServers"),
        ("/LightWork", 200, "lightServers"),
        ("/x/lightwork", 200, "lightServers"),
        ("/lightwork?x=1", 200, "lightServers"),
        ("/lightwork/", 200, "servers"),
        ("/heavywork", 200, "heavyServers"),
        ("/HEAVYWORK", 200, "heavyServers"),
        ("/a/b/heavywork", 200, "heavyServers"),
        ("/admin", 403, "-"),
        ("/ADMIN", 403, "-"),
        ("/Admin/users", 403, "-"),
        ("/administrator", 403, "-"),
        ("/admin?x=1", 403, "-"),
        ("/x/admin", 200, "servers"),
    ];
    for (path, status, backend) in cases {
        let h = send(haproxy.addr, "GET", path, &[], 8);
        let f = send(fairway.addr, "GET", path, &[], 8);
        assert_eq!(
            h.statuses,
            BTreeSet::from([status]),
            "haproxy {path}:\n{}",
            haproxy.log()
        );
        assert_eq!(f.statuses, h.statuses, "fairway {path}:\n{}", fairway.log());
        assert_eq!(seed_003_backend(&h.servers), backend, "haproxy {path}");
        assert_eq!(seed_003_backend(&f.servers), backend, "fairway {path}");
    }
    // Neither adds X-Forwarded-For: HAProxy does so only with `option
    // forwardfor`, and the conversion says `forwardfor: false`.
    for up in &ups {
        assert!(up
            .seen()
            .iter()
            .all(|s| s.header("x-forwarded-for").is_none()));
    }
}

/// The one intended difference: fairway normalizes paths before rules see
/// them (SPEC §3, a security default), HAProxy does not. So `//admin` and
/// friends reach the servers through HAProxy and are denied by fairway.
#[test]
fn seed_003_paths_fairway_normalizes_and_haproxy_does_not() {
    let ups: Vec<Upstream> = (1..=4)
        .map(|i| Upstream::start(&format!("server{i}")))
        .collect();
    let (haproxy, fairway) = both(&seed_003(&ups));
    for path in ["//admin", "/./admin", "/x/../admin", "/%61dmin"] {
        let h = send(haproxy.addr, "GET", path, &[], 1);
        let f = send(fairway.addr, "GET", path, &[], 1);
        assert_eq!(h.statuses, BTreeSet::from([200]), "haproxy passes {path}");
        assert_eq!(f.statuses, BTreeSet::from([403]), "fairway denies {path}");
    }
}

/// More of the mapping, compared the same way: defaults inheritance,
/// merged and multi-fetch ACLs, predefined ACLs, http-request actions,
/// `redirect`, `monitor-uri`, health-checked servers, `balance first` with
/// maxconn, cookie stickiness with a backup server, `option forwardfor`.
const FEATURES: &str = "
global
    log stdout format raw local0
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option forwardfor
    option redispatch
    retries 2
frontend web
    bind 127.0.0.1:{PORT}
    monitor-uri /healthz
    acl api path_beg /api/
    acl api path_beg /v1/
    acl static path_end .css .js
    acl static hdr(x-static) -m found
    acl blocked path_sub -i secret
    http-request deny deny_status 429 if blocked
    http-request return status 200 content-type text/plain string pong if { path /ping }
    http-request redirect location /new code 301 if { path /old }
    http-request set-header X-Env prod
    http-request deny if METH_POST { path_beg /ro/ }
    redirect scheme https code 302 if { path /secure }
    use_backend api if api
    use_backend static if static
    default_backend app
backend api
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
    default-server inter 500ms rise 1 fall 2
    server a1 {UP0} check
    server a2 {UP1} check
backend static
    balance first
    server st1 {UP2} maxconn 10
    server st2 {UP3} maxconn 10
backend app
    cookie SERVERID insert indirect nocache
    server s1 {UP4} cookie s1
    server s2 {UP5} cookie s2
    server bk {UP6} backup
";

#[test]
fn features_behave_as_in_haproxy() {
    let names = ["a1", "a2", "st1", "st2", "s1", "s2", "bk"];
    let ups: Vec<Upstream> = names.iter().map(|n| Upstream::start(n)).collect();
    let mut cfg = FEATURES.to_string();
    for (i, up) in ups.iter().enumerate() {
        cfg = cfg.replace(&format!("{{UP{i}}}"), &up.addr.to_string());
    }
    let (haproxy, fairway) = both(&cfg);
    // Health checks first mark the api servers up in fairway.
    common::wait_until(&fairway, Duration::from_secs(10), "api servers up", || {
        request(fairway.addr, "GET", "/api/x", &[]).status == 200
    });
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, u16, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        ("GET", "/", vec![], 200, vec!["s1", "s2"]),
        ("GET", "/api/x", vec![], 200, vec!["a1", "a2"]),
        ("GET", "/v1/y", vec![], 200, vec!["a1", "a2"]),
        ("GET", "/style.css", vec![], 200, vec!["st1"]),
        ("GET", "/x", vec![("x-static", "1")], 200, vec!["st1"]),
        ("GET", "/secret", vec![], 429, vec![]),
        ("GET", "/api/TopSecret", vec![], 429, vec![]),
        ("GET", "/ping", vec![], 200, vec![]),
        ("GET", "/old", vec![], 301, vec![]),
        ("GET", "/secure", vec![], 302, vec![]),
        ("GET", "/healthz", vec![], 200, vec![]),
        ("POST", "/ro/x", vec![], 403, vec![]),
        ("GET", "/ro/x", vec![], 200, vec!["s1", "s2"]),
        ("GET", "/", vec![("cookie", "SERVERID=s2")], 200, vec!["s2"]),
        (
            "GET",
            "/",
            vec![("cookie", "SERVERID=nope")],
            200,
            vec!["s1", "s2"],
        ),
    ];
    for (method, path, headers, status, servers) in &cases {
        let h = send(haproxy.addr, method, path, headers, 6);
        let f = send(fairway.addr, method, path, headers, 6);
        let what = format!("{method} {path} {headers:?}");
        assert_eq!(
            h.statuses,
            BTreeSet::from([*status]),
            "haproxy {what}:\n{}",
            haproxy.log()
        );
        assert_eq!(f.statuses, h.statuses, "fairway {what}:\n{}", fairway.log());
        assert_eq!(h.servers, set(servers), "haproxy {what}");
        assert_eq!(f.servers, h.servers, "fairway {what}");
        let (hl, fl) = (h.last.unwrap(), f.last.unwrap());
        assert_eq!(hl.header("location"), fl.header("location"), "{what}");
        if *path == "/ping" {
            assert_eq!((hl.body.as_str(), fl.body.as_str()), ("pong", "pong"));
        }
    }
    // Both add X-Forwarded-For and the X-Env header on the way in.
    for up in &ups {
        for s in up
            .seen()
            .iter()
            .filter(|s| s.header("user-agent") != Some("fairway-health"))
        {
            if s.target.starts_with("/health") {
                continue;
            }
            assert_eq!(s.header("x-forwarded-for"), Some("127.0.0.1"), "{s:?}");
            assert_eq!(s.header("x-env"), Some("prod"), "{s:?}");
        }
    }
}

/// `http-response` rules (a named defaults section's, a frontend's and the
/// backends'), request rewrites and values with samples: HAProxy runs the
/// backend's rules first, `hdr` in a response value is the response's
/// header, `allow` ends the frontend's list.
const RESPONSES: &str = r#"
global
    log stdout format raw local0
defaults base
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
defaults front from base
    http-response set-header X-Frame-Options DENY
frontend web from front
    bind 127.0.0.1:{PORT}
    acl from_b res.hdr(x-server) -m str b
    http-request replace-path ^/api/v1/(.*) /v1/\1
    http-request set-header X-Client %ci
    http-request set-header X-Host "%[req.hdr(host),upper]"
    http-response set-header X-Via "%[hdr(x-server),upper]"
    http-response deny deny_status 502 if { shdr_beg(x-server) deny }
    http-response return status 404 content-type text/plain string "gone: sorry" if { res.hdr(x-server) -m str gone }
    http-response set-status 503 reason "Service Unavailable" if from_b
    http-response allow if { status 200 }
    http-response set-header X-Late yes
    http-response del-header X-Server
    use_backend b if { path_beg /b/ }
    use_backend deny if { path_beg /deny/ }
    use_backend gone if { path_beg /gone/ }
    default_backend a
defaults back from base
    http-response set-header X-Backend-Default yes
backend a from back
    acl plain res.hdr(content-type) -m beg text/plain
    http-response set-header X-Plain yes if plain
    server a {UP0}
backend b from back
    http-response set-header X-Seen-By b
    server b {UP1}
backend deny from back
    server deny-me {UP2}
backend gone from back
    server gone {UP3}
"#;

#[test]
fn response_rules_behave_as_in_haproxy() {
    let names = ["a", "b", "deny-me", "gone"];
    let ups: Vec<Upstream> = names.iter().map(|n| Upstream::start(n)).collect();
    let mut cfg = RESPONSES.to_string();
    for (i, up) in ups.iter().enumerate() {
        cfg = cfg.replace(&format!("{{UP{i}}}"), &up.addr.to_string());
    }
    let (haproxy, fairway) = both(&cfg);
    let headers = [
        "x-frame-options",
        "x-via",
        "x-backend-default",
        "x-plain",
        "x-seen-by",
        "x-late",
        "x-server",
    ];
    // (target, status, headers as `name=value`, body)
    type Case<'a> = (&'a str, u16, &'a [&'a str], Option<&'a str>);
    let cases: [Case; 5] = [
        (
            "/x",
            200,
            &[
                "x-frame-options=DENY",
                "x-via=A",
                "x-backend-default=yes",
                "x-plain=yes",
                "x-server=a",
            ],
            None,
        ),
        (
            "/api/v1/users",
            200,
            &[
                "x-frame-options=DENY",
                "x-via=A",
                "x-backend-default=yes",
                "x-plain=yes",
                "x-server=a",
            ],
            None,
        ),
        (
            "/b/x",
            503,
            &[
                "x-frame-options=DENY",
                "x-via=B",
                "x-backend-default=yes",
                "x-seen-by=b",
                "x-late=yes",
            ],
            None,
        ),
        ("/deny/x", 502, &[], None),
        ("/gone/x", 404, &[], Some("gone: sorry")),
    ];
    for (target, status, want, body) in cases {
        for (who, addr) in [("haproxy", haproxy.addr), ("fairway", fairway.addr)] {
            let r = request(addr, "GET", target, &[]);
            let log = if who == "haproxy" {
                haproxy.log()
            } else {
                fairway.log()
            };
            assert_eq!(r.status, status, "{who} {target}:\n{log}");
            let got: Vec<String> = headers
                .iter()
                .filter_map(|h| r.header(h).map(|v| format!("{h}={v}")))
                .collect();
            assert_eq!(got, want, "{who} {target}");
            if let Some(body) = body {
                assert_eq!(r.body, body, "{who} {target}");
            }
        }
    }
    // Both rewrote the path and added the headers on the way in.
    let seen = ups[0].seen();
    let api: Vec<_> = seen.iter().filter(|s| s.target == "/v1/users").collect();
    assert_eq!(api.len(), 2, "{seen:?}");
    for s in api {
        assert_eq!(s.header("x-client"), Some("127.0.0.1"), "{s:?}");
        assert_eq!(s.header("x-host"), Some("LOCALHOST"), "{s:?}");
    }
}

#[test]
fn incomplete_conversions_exit_2_and_list_what_is_missing() {
    let out = import("global\n    maxconn 100\nfrontend f\n    bind 127.0.0.1:1\n    mode http\n    compression algo deflate\n    default_backend b\nbackend b\n    mode http\n    server s 127.0.0.1:2\n");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = stderr.split(':').next().unwrap_or_default().to_string();
    assert!(
        stderr.contains(&format!("{file}:2: unsupported: maxconn 100 (")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{file}:6: unsupported: compression algo deflate ("
        )),
        "{stderr}"
    );
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert!(
        yaml.contains("# unsupported (line 6): compression algo deflate"),
        "{yaml}"
    );
    // Unreadable input: 1.
    let out = Command::new(common::bin())
        .args(["import-haproxy", "/nonexistent/haproxy.cfg"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn converted_output_passes_fairway_t() {
    let ups: Vec<Upstream> = (1..=4)
        .map(|i| Upstream::start(&format!("server{i}")))
        .collect();
    let port = free_port();
    let cfg = seed_003(&ups).replace("{PORT}", &port.to_string());
    let out = import(&cfg);
    assert_eq!(out.status.code(), Some(0));
    let path = common::write_temp("converted.yaml", &String::from_utf8(out.stdout).unwrap());
    let t = common::run(&["-t", "-c", path.to_str().unwrap()]);
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
}

/// An HAProxy configuration with the traffic policy of #19: `retry-on`
/// (in `defaults`, overridden, `none`, ignored in tcp mode), passive
/// health (`observe layer7` with `error-limit` and `on-error`), a
/// `resolvers` section with servers that use it (and an SRV name on
/// HAProxy's own `default` resolvers) and `log-format`s.
const TRAFFIC: &str = r#"
global
    log stdout format raw local0

resolvers internal
    nameserver dns1 10.0.0.2:53
    nameserver dns2 10.0.0.3:53
    timeout resolve 5s
    timeout retry 1s
    hold valid 10s
    hold nx 30s
    resolve_retries 3

defaults
    mode http
    log global
    log-format "%ci:%cp [%tr] %ft %b/%s %Tw/%Tc/%Tr/%Ta %ST %B %tsc %{+Q}r"
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    retries 2
    option redispatch
    retry-on all-retryable-errors
    default-server check inter 3s rise 2 fall 3 observe layer7 error-limit 5 on-error mark-down

frontend web
    bind 127.0.0.1:{PORT}
    use_backend api if { path_beg /api/ }
    default_backend app

frontend admin
    bind 127.0.0.1:{PORT2}
    log-format "%ci:%cp %ST %B %[src]"
    default_backend app

backend app
    retry-on conn-failure empty-response 503
    server a1 app1.internal:8080 resolvers internal resolve-prefer ipv4 init-addr none
    server a2 app2.internal:8080 resolvers internal resolve-prefer ipv4 init-addr none

backend api
    retry-on none
    server api1 10.0.1.1:9000
    server api2 10.0.1.2:9000 error-limit 3 on-error sudden-death
    server srv _http._tcp.api.internal resolvers default

backend legacy
    mode tcp
    retry-on 503
    server l1 10.0.2.1:5000 observe layer4 on-error fail-check
"#;

#[test]
fn traffic_policy_converts_completely_and_passes_fairway_t() {
    let cfg = TRAFFIC
        .replace("{PORT}", &free_port().to_string())
        .replace("{PORT2}", &free_port().to_string());
    // The input is a valid HAProxy configuration.
    let path = temp_dir("traffic").join("haproxy.cfg");
    std::fs::write(&path, &cfg).unwrap();
    let check = Command::new("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(&path)
        .output()
        .expect("run haproxy (Debian package `haproxy`; scripts/setup.sh installs it)");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let out = import(&cfg);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("unsupported"), "{stderr}");
    let yaml = String::from_utf8(out.stdout).unwrap();
    for want in [
        "  access_log: true\n",
        "  access_log_format: \"%ci:%cp [%tr] %ft %b/%s %Tw/%Tc/%Tr/%Ta %ST %B %tsc %{+Q}r\"\n",
        "    retry_on: [conn-failure, empty-response, \"503\"]\n",
        "    retry_on: []\n",
        "    outlier: { consecutive_errors: 5, eject: 6s, max_ejected: \"100%\" }\n",
        "    outlier: { consecutive_errors: 3, eject: 6s, max_ejected: \"100%\" }\n",
        "    dns: { interval: 5s, nameservers: [10.0.0.2:53, 10.0.0.3:53] }\n",
        "    dns: { interval: 1s }\n",
        "      srv: { addr: _http._tcp.api.internal }\n",
    ] {
        assert!(yaml.contains(want), "{want}\n---\n{yaml}");
    }
    // The differences are listed as notes: the dropped 0rtt-rejected, the
    // ejection time, the second log-format, fail-check without equivalent.
    for want in [
        ":23: note: retry-on all-retryable-errors (",
        "0rtt-rejected left out",
        ":38: note: server a1 observe layer7 error-limit 5 on-error mark-down (passive ejection",
        ":33: note: log-format \"%ci:%cp %ST %B %[src]\" (fairway has one access-log format",
        ":50: note: on-error fail-check (servers l1;",
        ":5: note: resolvers internal (becomes `dns: { interval: 5s }`",
    ] {
        assert!(stderr.contains(want), "{want}\n---\n{stderr}");
    }
    let yaml_path = common::write_temp("traffic.yaml", &yaml);
    let t = common::run(&["-t", "-c", yaml_path.to_str().unwrap()]);
    assert!(
        t.status.success(),
        "{}\n---\n{yaml}",
        String::from_utf8_lossy(&t.stderr)
    );
}

/// `retry-on 503` with `option redispatch`: a request that one server
/// answers with 503 is answered by the other; without `retry-on` (HAProxy's
/// default, conn-failure) the 503 reaches the client.
const RETRIES: &str = r#"
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend web
    bind 127.0.0.1:{PORT}
    use_backend plain if { path_beg /plain/ }
    default_backend retried
backend retried
    balance roundrobin
    retries 1
    option redispatch
    retry-on 503
    server bad {UP0}
    server good {UP1}
backend plain
    balance roundrobin
    server bad {UP0}
    server good {UP1}
"#;

#[test]
fn retry_on_behaves_as_in_haproxy() {
    let bad = common::Flaky::start("bad");
    bad.set_status(503);
    let good = Upstream::start("good");
    let cfg = RETRIES
        .replace("{UP0}", &bad.addr.to_string())
        .replace("{UP1}", &good.addr.to_string());
    let (haproxy, fairway) = both(&cfg);
    for (target, statuses) in [("/x", vec![200]), ("/plain/x", vec![200, 503])] {
        let want: BTreeSet<u16> = statuses.into_iter().collect();
        let h = send(haproxy.addr, "GET", target, &[], 6);
        let f = send(fairway.addr, "GET", target, &[], 6);
        assert_eq!(h.statuses, want, "haproxy {target}:\n{}", haproxy.log());
        assert_eq!(f.statuses, want, "fairway {target}:\n{}", fairway.log());
    }
}

#[test]
fn stdin_in_and_a_file_out() {
    let cfg = "frontend f\n    bind 127.0.0.1:1\n    mode http\n    default_backend b\nbackend b\n    mode http\n    server s 127.0.0.1:2\n";
    let out_path = temp_dir("import-o").join("out.yaml");
    let mut child = Command::new(common::bin())
        .args(["import-haproxy", "-", "-o"])
        .arg(&out_path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(cfg.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The YAML went to the file, not to stdout.
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let yaml = std::fs::read_to_string(&out_path).unwrap();
    assert!(yaml.contains("default_backend: b"), "{yaml}");
    let t = common::run(&["-t", "-c", out_path.to_str().unwrap()]);
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
}
