//! Conversions of the protocol directives: tunnels, the PROXY protocol,
//! HTTP/2 to servers, compression.

use super::{load, unsupported};

#[test]
fn timeout_tunnel_goes_to_the_backends() {
    let cfg = "
defaults
    mode http
    timeout tunnel 1h
frontend web
    bind 127.0.0.1:5000
    default_backend app
backend app
    server a 127.0.0.1:8001
";
    let (conv, config) = load(cfg);
    let app = config.backend("app").unwrap();
    assert_eq!(
        app.timeout_tunnel,
        Some(std::time::Duration::from_secs(3600)),
        "{}",
        conv.yaml
    );
    assert!(unsupported(&conv).is_empty(), "{:?}", unsupported(&conv));
}

#[test]
fn accept_proxy_on_every_plain_bind_becomes_the_frontends() {
    let cfg = "
frontend web
    mode http
    bind 127.0.0.1:5000 accept-proxy
    bind 127.0.0.1:5001 accept-proxy proto h2
    default_backend app
frontend mixed
    mode tcp
    bind 127.0.0.1:6000 accept-proxy
    bind 127.0.0.1:6001
    default_backend pg
backend app
    mode http
    server a 127.0.0.1:8001
backend pg
    mode tcp
    server p 127.0.0.1:5432
";
    let (conv, config) = load(cfg);
    let web = config.frontends.iter().find(|f| f.name == "web").unwrap();
    assert!(web.accept_proxy, "{}", conv.yaml);
    assert!(web.h2c, "{}", conv.yaml);
    let mixed = config.frontends.iter().find(|f| f.name == "mixed").unwrap();
    assert!(!mixed.accept_proxy, "{}", conv.yaml);
    assert_eq!(unsupported(&conv), [(9, "bind option accept-proxy")]);
}

#[test]
fn proto_h2_servers_speak_http2_and_keep_their_http_check() {
    let cfg = "
backend grpc
    mode http
    option httpchk GET /health
    server g1 127.0.0.1:50051 proto h2 check
    server g2 127.0.0.1:50443 ssl verify none proto h2 check send-proxy-v2
frontend web
    mode http
    bind 127.0.0.1:5000
    default_backend grpc
";
    let (conv, config) = load(cfg);
    let b = config.backend("grpc").unwrap();
    let protos: Vec<fairway_config::Proto> = b.servers.iter().map(|s| s.proto).collect();
    assert_eq!(
        protos,
        [fairway_config::Proto::H2c, fairway_config::Proto::H2],
        "{}",
        conv.yaml
    );
    let hc = b.health_check.as_ref().unwrap();
    assert_eq!(hc.kind, fairway_config::CheckKind::Http, "{}", conv.yaml);
    assert_eq!(hc.path, "/health");
    let sent: Vec<_> = b.servers.iter().map(|s| s.send_proxy).collect();
    assert_eq!(sent, [None, Some(fairway_config::ProxyVersion::V2)]);
}

#[test]
fn compression_algo_and_type_become_the_frontends() {
    let cfg = "
defaults
    mode http
    compression algo gzip deflate
frontend web
    bind 127.0.0.1:5000
    compression type text/html Application/JSON text/html;charset=utf-8
    compression offload
    default_backend app
frontend plain
    bind 127.0.0.1:5001
    default_backend app
backend app
    compression type text/css
    server a 127.0.0.1:8001
";
    let (conv, config) = load(cfg);
    let web = config.frontends.iter().find(|f| f.name == "web").unwrap();
    let c = web.compression.as_ref().expect(&conv.yaml);
    assert_eq!(c.algos, [fairway_config::Coding::Gzip]);
    assert_eq!(c.types, ["text/html", "application/json"]);
    // From `defaults`, with fairway's default types (and a note).
    let plain = config.frontends.iter().find(|f| f.name == "plain").unwrap();
    let c = plain.compression.as_ref().expect(&conv.yaml);
    assert_eq!(c.types, fairway_config::Compression::DEFAULT_TYPES);
    assert!(
        conv.yaml.contains("HAProxy compresses every type"),
        "{}",
        conv.yaml
    );
    assert_eq!(
        unsupported(&conv),
        [
            (4, "compression algo deflate"),
            (7, "compression type text/html;charset=utf-8"),
            (14, "compression type text/css"),
        ]
    );
}
