//! Tests of the metric families and handle tables.
use super::*;
use crate::runtime::Runtime;

fn rec(m: &Metrics, rt: &Runtime, o: &RequestEnded) {
    m.record(rt, rt.handles(), o);
}
use crate::Config;
use std::time::Duration;

const YAML: &str = "
frontends:
  web:
    bind: 127.0.0.1:1
    http_request: ['deny if { path_beg /admin }']
    default_backend: app
backends:
  app:
    servers:
      a: { addr: 127.0.0.1:2, weight: 3 }
      b: { addr: 127.0.0.1:3 }
  other:
    servers: { c: { addr: 127.0.0.1:4 } }
";

fn runtime(metrics: &Arc<Metrics>) -> Runtime {
    let config = Config::from_yaml_str(YAML, "t.yaml").unwrap();
    Runtime::with_metrics(&config, metrics)
}

fn outcome(backend: Option<usize>, server: Option<usize>, code: u16) -> RequestEnded {
    RequestEnded {
        frontend: 0,
        backend,
        server,
        code,
        duration: Duration::from_millis(3),
        denied: false,
        no_server: false,
    }
}

fn lines(text: &str, prefix: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_family_is_encoded_with_its_labels() {
    let m = Metrics::new();
    let rt = runtime(&m);
    let (_, a) = rt.backend("app").unwrap().server("a").unwrap();
    a.record_rtt(Duration::from_millis(10));
    let guard = a.try_begin().unwrap();
    rec(&m, &rt, &outcome(Some(0), Some(0), 200));
    rec(
        &m,
        &rt,
        &RequestEnded {
            denied: true,
            ..outcome(None, None, 403)
        },
    );
    rec(
        &m,
        &rt,
        &RequestEnded {
            no_server: true,
            ..outcome(Some(1), None, 503)
        },
    );
    let text = m.encode(&rt);
    for line in [
        r#"fairway_requests_total{backend="app",code="200",frontend="web",server="a"} 1"#,
        r#"fairway_requests_total{backend="",code="403",frontend="web",server=""} 1"#,
        r#"fairway_requests_total{backend="other",code="503",frontend="web",server=""} 1"#,
        r#"fairway_request_duration_seconds_count{backend="app",frontend="web"} 1"#,
        r#"fairway_request_duration_seconds_bucket{backend="app",frontend="web",le="0.005"} 1"#,
        r#"fairway_request_duration_seconds_bucket{backend="app",frontend="web",le="0.0025"} 0"#,
        r#"fairway_denied_requests_total{frontend="web"} 1"#,
        r#"fairway_backend_no_server_total{backend="app"} 0"#,
        r#"fairway_backend_no_server_total{backend="other"} 1"#,
        r#"fairway_server_up{backend="app",server="a"} 1"#,
        r#"fairway_server_weight{backend="app",server="a"} 3"#,
        r#"fairway_server_weight{backend="other",server="c"} 1"#,
        r#"fairway_server_active_requests{backend="app",server="a"} 1"#,
        r#"fairway_server_active_requests{backend="app",server="b"} 0"#,
        r#"fairway_server_check_latency_seconds{backend="app",quantile="0.9",server="a"} 0.01"#,
        r#"fairway_server_requests_total{backend="app",server="a"} 1"#,
        r#"fairway_server_failures_total{backend="app",server="a"} 0"#,
        r#"fairway_backend_queued{backend="app"} 0"#,
        "# TYPE fairway_requests_total counter",
        "# TYPE fairway_request_duration_seconds histogram",
        "# TYPE fairway_server_up gauge",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
    assert!(
        !text.contains(
            r#"fairway_server_check_latency_seconds{backend="app",quantile="0.9",server="b"}"#
        ),
        "no samples, no series"
    );
    drop(guard);
    assert!(m
        .encode(&rt)
        .contains(r#"fairway_server_active_requests{backend="app",server="a"} 0"#));
    // `outlier`: 1 while ejected, 0 otherwise.
    let b = &rt.backends()[0].servers()[1];
    let now = crate::upstream::ewma::now_ns();
    b.outlier().eject(now, Duration::from_secs(30));
    let text = m.encode(&rt);
    assert!(text
        .lines()
        .any(|l| l == r#"fairway_server_ejected{backend="app",server="b"} 1"#));
    assert!(text
        .lines()
        .any(|l| l == r#"fairway_server_ejected{backend="app",server="a"} 0"#));
    b.outlier().readmit(now);
    assert!(m
        .encode(&rt)
        .contains(r#"fairway_server_ejected{backend="app",server="b"} 0"#));
}

#[test]
fn counts_are_exact_across_threads_and_runtime_rebuilds() {
    let m = Metrics::new();
    let rt = Arc::new(runtime(&m));
    std::thread::scope(|scope| {
        for _ in 0..8 {
            let rt = Arc::clone(&rt);
            let m = &m;
            scope.spawn(move || {
                for i in 0..1000u32 {
                    let code = if i % 2 == 0 { 200 } else { 404 };
                    rec(m, &rt, &outcome(Some(0), Some(1), code));
                }
            });
        }
    });
    // A reload keeps counting into the same series.
    let config = Config::from_yaml_str(YAML, "t.yaml").unwrap();
    let next = Runtime::rebuild(config, Some(&rt));
    rec(&m, &next, &outcome(Some(0), Some(1), 200));
    // Codes without a slot and runtimes without handles still count.
    rec(&m, &next, &outcome(Some(0), Some(1), 799));
    let plain = Runtime::new(&Config::from_yaml_str(YAML, "t.yaml").unwrap());
    rec(&m, &plain, &outcome(Some(0), Some(1), 200));
    let text = m.encode(&next);
    let b = |code: &str| {
        format!(
            r#"fairway_requests_total{{backend="app",code="{code}",frontend="web",server="b"}}"#
        )
    };
    assert!(text.contains(&format!("{} 4002\n", b("200"))), "{text}");
    assert!(text.contains(&format!("{} 4000\n", b("404"))), "{text}");
    assert!(text.contains(&format!("{} 1\n", b("799"))), "{text}");
    assert!(text.contains(
        "fairway_request_duration_seconds_count{backend=\"app\",frontend=\"web\"} 8003\n"
    ));
}

#[test]
fn a_removed_server_loses_its_series() {
    let m = Metrics::new();
    let control =
        crate::control::Control::new(Arc::new(arc_swap::ArcSwap::from_pointee(runtime(&m))), None);
    {
        let rt = control.snapshot();
        rec(&m, &rt, &outcome(Some(0), Some(0), 200));
        rec(&m, &rt, &outcome(Some(0), Some(1), 200));
    }
    let text = m.encode(&control.snapshot());
    assert_eq!(lines(&text, "fairway_requests_total{").len(), 2, "{text}");

    // A request still in flight on the old runtime holds its handles.
    let old = control.snapshot();
    control.remove_server("app", "a").unwrap();
    let rt = control.snapshot();
    let text = m.encode(&rt);
    assert!(!text.contains(r#"server="a""#), "{text}");
    rec(&m, &old, &outcome(Some(0), Some(0), 200));
    drop(old);
    // Once nothing holds them, the series leave the registry too.
    assert!(!m.encode(&rt).contains(r#"server="a""#));
    let families = m.registry().gather();
    assert!(
        families
            .iter()
            .flat_map(|f| f.get_metric())
            .all(|x| label(x, "server") != "a"),
        "removed from the registry"
    );
    let text = m.encode(&rt);
    assert!(text.contains(
        r#"fairway_requests_total{backend="app",code="200",frontend="web",server="b"} 1"#
    ));
    assert!(text.contains(r#"fairway_server_up{backend="app",server="b"} 1"#));

    // A reload that drops a backend drops its series.
    let yaml = YAML.replace("  other:\n    servers: { c: { addr: 127.0.0.1:4 } }\n", "");
    control
        .apply(Config::from_yaml_str(&yaml, "t.yaml").unwrap())
        .unwrap();
    let text = m.encode(&control.snapshot());
    assert!(!text.contains(r#"backend="other""#), "{text}");
    // Counters of what stays keep counting (the reload brought `a`
    // back, so `b` is server 1 again).
    rec(&m, &control.snapshot(), &outcome(Some(0), Some(1), 200));
    assert!(m.encode(&control.snapshot()).contains(
        r#"fairway_requests_total{backend="app",code="200",frontend="web",server="b"} 2"#
    ));
}

#[test]
fn instances_do_not_share_series() {
    let (m1, m2) = (Metrics::new(), Metrics::new());
    let rt = runtime(&m1);
    rec(&m1, &rt, &outcome(None, None, 200));
    assert!(m1.encode(&rt).contains("fairway_requests_total{"));
    assert!(!m2.encode(&rt).contains("fairway_requests_total{"));
}

#[test]
fn tcp_connections_are_recorded_through_the_handles_and_without() {
    let m = Metrics::new();
    let rt = runtime(&m);
    let ended = |server, termination, bytes_in| TcpEnded {
        frontend: 0,
        backend: Some(0),
        server,
        termination,
        bytes_in,
        bytes_out: 20,
        duration: Duration::from_millis(1500),
    };
    // Twice through the table (the second reuses the resolved slots), and
    // once through a runtime without handles (label lookups).
    m.record_tcp(&rt, rt.handles(), &ended(Some(1), "--", 10));
    m.record_tcp(&rt, rt.handles(), &ended(Some(1), "--", 5));
    m.record_tcp(&rt, None, &ended(None, "RC", 0));
    let active = m.tcp_active("web");
    active.inc();
    let text = m.encode(&rt);
    for line in [
        "fairway_tcp_connections_total{backend=\"app\",frontend=\"web\",server=\"b\",termination=\"--\"} 2",
        "fairway_tcp_connections_total{backend=\"app\",frontend=\"web\",server=\"\",termination=\"RC\"} 1",
        "fairway_tcp_bytes_total{backend=\"app\",direction=\"in\",frontend=\"web\"} 15",
        "fairway_tcp_bytes_total{backend=\"app\",direction=\"out\",frontend=\"web\"} 60",
        "fairway_tcp_connection_duration_seconds_count{backend=\"app\",frontend=\"web\"} 3",
        "fairway_tcp_active_connections{frontend=\"web\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
    // Every termination state of the access log has a slot.
    assert_eq!(TERMINATIONS.len(), 10);
}
