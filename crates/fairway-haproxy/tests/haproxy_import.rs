//! `import_haproxy` on the seeds' HAProxy configurations (copied into
//! `tests/haproxy/`): what is reported as not converted, line by line, and
//! that the YAML loads.
//!
//! The seeds' servers have host names (`server1:8000`, Cloud Run hosts...)
//! that do not resolve here; the converter keeps them as written, so before
//! loading, the test points every `addr` at 127.0.0.1 (same port).

use fairway_config::Config;
use fairway_haproxy::{import_haproxy, Conversion};

/// Keys the config crate still answers with "not supported yet" for a
/// converted file: `(file, key path)`. Empty now that TLS and TCP keys are
/// accepted; an entry here that stops failing makes the test fail, so the
/// list can only shrink.
const NOT_SUPPORTED_YET: &[(&str, &str)] = &[];

fn convert(file: &str) -> Conversion {
    let path = format!("{}/tests/haproxy/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    import_haproxy(&text)
}

/// `addr: HOST:PORT` → `addr: 127.0.0.1:PORT` in the YAML.
fn loopback(yaml: &str) -> String {
    let mut out = String::new();
    let mut rest = yaml;
    while let Some(at) = rest.find("{ addr: ") {
        let start = at + "{ addr: ".len();
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail.find([',', ' ']).unwrap_or(tail.len());
        let port = tail[..end].rsplit(':').next().unwrap_or("1");
        out.push_str(&format!("127.0.0.1:{port}"));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Loads the converted YAML (addresses on loopback); returns the config or
/// asserts that the only errors are the expected "not supported yet" ones.
fn load(file: &str, conv: &Conversion) -> Option<Config> {
    let yaml = loopback(&conv.yaml);
    // multi-cloud.cfg's header value reads $FLY_REGION.
    let env = |k: &str| (k == "FLY_REGION").then(|| "ams".to_string());
    match Config::from_yaml_str_with_env(&yaml, file, &env) {
        Ok(config) => {
            let expected: Vec<_> = NOT_SUPPORTED_YET
                .iter()
                .filter(|(f, _)| *f == file)
                .collect();
            assert!(
                expected.is_empty(),
                "{file}: {expected:?} are supported now: remove them from NOT_SUPPORTED_YET"
            );
            Some(config)
        }
        Err(e) => {
            let mut later: Vec<String> = Vec::new();
            for d in &e.diagnostics {
                assert!(
                    d.message.contains("is not supported yet"),
                    "{file}: the converted YAML does not load: {d}\n{yaml}"
                );
                later.push(d.path.clone());
            }
            let expected: Vec<String> = NOT_SUPPORTED_YET
                .iter()
                .filter(|(f, _)| *f == file)
                .map(|(_, p)| p.to_string())
                .collect();
            assert_eq!(later, expected, "{file}: {e}");
            None
        }
    }
}

fn unsupported(conv: &Conversion) -> Vec<(usize, &str)> {
    conv.unsupported
        .iter()
        .map(|f| (f.line, f.directive.as_str()))
        .collect()
}

#[test]
fn seed_003_haproxy_cfg_converts_completely() {
    let conv = convert("seed003.cfg");
    assert_eq!(unsupported(&conv), []);
    // Only fairway's path defaults (encoded_slashes, path_params) differ.
    assert_eq!(conv.notes.len(), 1, "{:?}", conv.notes);
    assert!(conv.notes[0].reason.contains("encoded_slashes: reject"));
    assert_eq!(conv.exit_code(), 0);
    let config = load("seed003.cfg", &conv).unwrap();
    let f = &config.frontends[0];
    assert_eq!(f.name, "clients");
    assert_eq!((f.http_request.len(), f.use_backend.len()), (1, 2));
    let names: Vec<&str> = config.backends.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["lightServers", "heavyServers", "servers"]);
    // Host names are kept for fairway to resolve.
    assert!(conv
        .yaml
        .contains("      server1: { addr: server1:8000 }\n"));
    assert!(conv.yaml.contains("    balance: source\n"));
}

#[test]
fn seeds_000_001_multi_cloud_backend_upstream() {
    let conv = convert("multi-cloud.cfg");
    assert_eq!(
        unsupported(&conv),
        [
            (6, "external-check"),
            (20, "bind option accept-proxy"),
            (33, "http-send-name-header Host"),
            (39, "http-response add-header Upstream %s"),
            (41, "option external-check"),
            (43, "external-check command /scripts/check_server_https.sh"),
            (44, "external-check path \"/usr/bin:/bin\""),
            (64, "bind *:9000"),
            (65, "bind *:9001"),
            (73, "option external-check"),
            (74, "external-check command /scripts/set_server_weights.sh"),
            (75, "external-check path \"/usr/bin:/bin\""),
        ]
    );
    assert_eq!(conv.exit_code(), 2);
    // `%[src]` is a fairway sample too; `%s` (the server's name) is not.
    assert!(conv.yaml.contains(
        "    http_request:\n      - \"set-header Fly_Extra \\\"region: ${FLY_REGION}, ip: %[src]\\\"\"\n"
    ), "{}", conv.yaml);
    assert!(conv.unsupported[3].reason.contains("log-format variable"));
    // The seeds' server lines: `check ssl check-ssl verify none weight 0`.
    for host in [
        "helloworld-i7p6d4rcpq-uc.a.run.app",
        "helloworld-i7p6d4rcpq-ew.a.run.app",
        "flyio-helloworld-eu.herokuapp.com",
        "flyio-helloworld.herokuapp.com",
    ] {
        let line =
            format!("      {host}: {{ addr: {host}:443, weight: 0, tls: true, verify: false }}\n");
        assert!(conv.yaml.contains(&line), "{line}\n{}", conv.yaml);
    }
    // Every unsupported directive stays in the YAML as a comment.
    for f in &conv.unsupported {
        assert!(
            conv.yaml
                .contains(&format!("# unsupported (line {}): {}", f.line, f.directive)),
            "{f:?}"
        );
    }
    if let Some(config) = load("multi-cloud.cfg", &conv) {
        let up = config.backend("upstream").unwrap();
        assert!(up.redispatch);
        assert!(up.servers.iter().all(|s| s.weight == 0));
        let admin = config.admin.unwrap();
        assert_eq!(admin.bind, Some("127.0.0.1:9000".parse().unwrap()));
        assert_eq!(
            admin.socket.as_deref(),
            Some(std::path::Path::new("/var/run/haproxy.sock"))
        );
    }
}

#[test]
fn seed_002_examples() {
    let conv = convert("seed002.cfg");
    assert_eq!(
        unsupported(&conv),
        [
            (5, "acl url_blog path_beg /blog"),
            (23, "use_backend jms-backend if url_blog"),
            (24, "default_backend web-backend"),
        ]
    );
    let config = load("seed002.cfg", &conv).unwrap();
    // `backend web_server` has no mode: HAProxy's default, tcp.
    assert_eq!(
        config.backend("web_server").unwrap().mode,
        fairway_config::Mode::Tcp
    );
    assert_eq!(
        config.backend("web_jms").unwrap().mode,
        fairway_config::Mode::Http
    );
    // Requests the frontend cannot route get 503, as in HAProxy.
    assert_eq!(
        config.frontends[0].default_backend.as_deref(),
        Some("http-no-backend")
    );
}

#[test]
fn seed_004_generated_snippet_with_stats_auth() {
    let conv = convert("seed004.cfg");
    assert_eq!(unsupported(&conv), []);
    // stats uri (fairway serves /stats), and fairway's path defaults.
    assert_eq!(conv.notes.len(), 2, "{:?}", conv.notes);
    let config = load("seed004.cfg", &conv).unwrap();
    let b = config.backend("nginx_80").unwrap();
    let hc = b.health_check.as_ref().unwrap();
    assert_eq!(
        (hc.method.as_str(), hc.path.as_str(), hc.host.as_deref()),
        ("HEAD", "/", Some("localhost"))
    );
    assert_eq!(b.servers.len(), 2);
    let admin = config.admin.unwrap();
    assert_eq!(admin.bind, Some("0.0.0.0:1936".parse().unwrap()));
    let auth = admin.auth.unwrap();
    assert_eq!(
        (auth.user.as_str(), auth.password.as_str()),
        ("occsdemo", "occspass")
    );
}

#[test]
fn tls_termination_and_reencryption() {
    let pem = format!(
        "{}/../fairway-config/tests/tls/combined.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    assert!(std::path::Path::new(&pem).exists(), "{pem}");
    let cfg = format!(
        "
defaults
    mode http
frontend www
    bind 127.0.0.1:8080
    bind 127.0.0.1:8443 ssl crt {pem}
    http-request redirect scheme https code 301 if !{{ ssl_fc }}
    default_backend app
backend app
    server a 127.0.0.1:9443 ssl verify none sni str(app.internal) check check-ssl
"
    );
    let conv = import_haproxy(&cfg);
    assert_eq!(unsupported(&conv), []);
    let config = Config::from_yaml_str_with_env(&conv.yaml, "tls", &|_| None)
        .unwrap_or_else(|e| panic!("{e}\n{}", conv.yaml));
    let names: Vec<&str> = config.frontends.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["www", "www-tls"]);
    assert_eq!(
        config.frontends[0].http_request.len(),
        1,
        "redirect on plain HTTP"
    );
    assert_eq!(
        config.frontends[1].http_request.len(),
        0,
        "no redirect on HTTPS"
    );
}
