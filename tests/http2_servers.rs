//! HTTP/2 to servers with a real HTTP/2 server (nghttpd, Debian's
//! nghttp2-server): `proto: h2c` (cleartext, prior knowledge) and `proto:
//! h2` over TLS (ALPN h2) carry requests, and `type: http` health checks
//! speak HTTP/2 to them: a server's answer decides, and a server that only
//! speaks HTTP/1.1 is down.

mod common;

use common::TestCa;
use common::{get, installed, temp_dir, Fairway, Peer, Upstream};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// An nghttpd serving `root` on a loopback port: h2c, or h2 over TLS with
/// `tls` (certificate, key).
fn nghttpd(root: &Path, tls: Option<(&Path, &Path)>) -> Peer {
    let bin = installed(&["/usr/sbin/nghttpd", "/usr/bin/nghttpd"], "nghttp2-server");
    let port = common::free_port();
    let mut cmd = Command::new(bin);
    cmd.arg("--address=127.0.0.1").arg("-d").arg(root);
    match tls {
        None => cmd.arg("--no-tls").arg(port.to_string()),
        Some((cert, key)) => cmd.arg(port.to_string()).arg(key).arg(cert),
    };
    Peer::spawn("nghttpd", cmd, format!("127.0.0.1:{port}").parse().unwrap())
}

/// A document root whose `who` file names the server and whose `healthz`
/// file exists.
fn root(tag: &str, who: &str) -> PathBuf {
    let dir = temp_dir(tag).join("www");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("who"), who).unwrap();
    std::fs::write(dir.join("healthz"), "ok").unwrap();
    dir
}

/// Waits up to 10 s for `cond` on fairway's log.
fn until(f: &Fairway, what: &str, cond: impl Fn(&str) -> bool) {
    let start = Instant::now();
    while !cond(&f.log()) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what}:\n{}",
            f.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn requests_and_http_checks_speak_http2_to_h2c_and_tls_h2_servers() {
    let dir = temp_dir("h2-servers");
    let ca = TestCa::new(&dir, "h2-ca");
    let (cert, key) = ca.leaf("h2", &["localhost"]);
    let plain_root = root("h2c-root", "h2c");
    let tls_root = root("h2-root", "h2");
    let plain = nghttpd(&plain_root, None);
    let tls = nghttpd(&tls_root, Some((&cert, &key)));
    // An HTTP/1.1 server declared as HTTP/2: its check must fail.
    let h1 = Upstream::start("h1");
    let admin = common::free_port();
    let yaml = format!(
        r#"
admin: {{ bind: "127.0.0.1:{admin}" }}
frontends:
  web:
    bind: ["127.0.0.1:{{PORT}}"]
    default_backend: app
backends:
  app:
    health_check: {{ type: http, path: /healthz, interval: 100ms, timeout: 1s, rise: 1, fall: 1 }}
    servers:
      plain: {{ addr: "{}", proto: h2c }}
      tls: {{ addr: "{}", proto: h2, tls: true, sni: localhost, ca: "{}" }}
      old: {{ addr: "{{UP0}}", proto: h2c }}
  missing:
    health_check: {{ type: http, path: /missing, interval: 100ms, rise: 1, fall: 1 }}
    servers:
      plain: {{ addr: "{}", proto: h2c }}
"#,
        plain.addr,
        tls.addr,
        ca.cert().display(),
        plain.addr,
    );
    let f = Fairway::start(&yaml, &[&h1]);
    until(&f, "the HTTP/1.1 server is found down", |log| {
        log.contains("server down backend=app server=old")
    });
    assert!(!f.log().contains("backend=app server=plain"), "{}", f.log());
    assert!(!f.log().contains("server=tls"), "{}", f.log());

    // Both HTTP/2 servers answer, round robin; the HTTP/1.1 one gets nothing.
    let h1_hits = h1.client_hits();
    let mut seen: Vec<String> = (0..6).map(|_| get(f.addr, "/who", &[]).body).collect();
    let to_plain = seen.iter().filter(|b| *b == "h2c").count();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["h2", "h2c"], "{}", f.log());
    assert_eq!(h1.client_hits(), h1_hits);
    // Each HTTP/2 stream is a request in the metrics, as HTTP/1's are.
    // A request is counted when it is logged, just after its response
    // went out: the scrape waits until all six are in.
    let admin: SocketAddr = format!("127.0.0.1:{admin}").parse().unwrap();
    let series_in = |metrics: &str, name: &str, labels: &[&str]| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name) && labels.iter().all(|p| l.contains(p)))
            .and_then(|l| l.rsplit_once(' '))
            .map_or(0.0, |(_, v)| v.parse().unwrap())
    };
    let plain_ok = [r#"backend="app""#, r#"server="plain""#, r#"code="200""#];
    let tls_ok = [r#"backend="app""#, r#"server="tls""#, r#"code="200""#];
    let mut metrics = String::new();
    common::wait_until(&f, Duration::from_secs(10), "six requests counted", || {
        metrics = get(admin, "/metrics", &[]).body;
        series_in(&metrics, "fairway_requests_total{", &plain_ok)
            + series_in(&metrics, "fairway_requests_total{", &tls_ok)
            >= 6.0
    });
    let series = |name: &str, labels: &[&str]| series_in(&metrics, name, labels);
    assert_eq!(
        series("fairway_requests_total{", &plain_ok),
        to_plain as f64,
        "{metrics}"
    );
    assert_eq!(
        series("fairway_requests_total{", &tls_ok),
        (6 - to_plain) as f64
    );
    let up = |server: &str| series("fairway_server_up{", &[r#"backend="app""#, server]);
    assert_eq!(up(r#"server="plain""#), 1.0, "{metrics}");
    assert_eq!(up(r#"server="old""#), 0.0, "{metrics}");

    // The check's answer decides: the same server checked on a path it
    // does not have (404) is down in that backend.
    until(&f, "a 404 to the HTTP/2 check is a failure", |log| {
        log.contains("server down backend=missing server=plain reason=status 404")
    });
}
