//! Conversion tests: HAProxy text in, the YAML and the findings out.

use super::*;
use fairway_config::{Balance, CheckKind, Config};
use std::time::Duration;

/// Converts and loads the result (the config crate must accept it).
fn load(cfg: &str) -> (Conversion, Config) {
    let conv = import_haproxy(cfg);
    match Config::from_yaml_str_with_env(&conv.yaml, "converted.yaml", &|_| None) {
        Ok(config) => (conv, config),
        Err(e) => panic!("{e}\n---\n{}", conv.yaml),
    }
}

/// The unsupported findings as `(line, directive)`.
fn unsupported(conv: &Conversion) -> Vec<(usize, &str)> {
    conv.unsupported
        .iter()
        .map(|f| (f.line, f.directive.as_str()))
        .collect()
}

const SEED_003: &str = "
frontend clients
    bind *:80
    timeout client 60s
    mode http
    acl lightwork path_end -i /lightwork
    acl heavywork path_end -i /heavywork
    http-request deny if { path -i -m beg /admin }
    use_backend lightServers if lightwork
    use_backend heavyServers if heavywork
    default_backend servers
backend lightServers
    timeout connect 10s
    timeout server 10s
    mode http
    server server1 127.0.0.1:8001
    server server2 127.0.0.1:8002
backend heavyServers
    timeout connect 10s
    timeout server 120s
    mode http
    balance source
    server server3 127.0.0.1:8003
    server server4 127.0.0.1:8004
backend servers
    timeout connect 10s
    timeout server 60s
    mode http
    server server1 127.0.0.1:8001
    server server2 127.0.0.1:8002
    server server3 127.0.0.1:8003
    server server4 127.0.0.1:8004
";

#[test]
fn seed_003_converts_completely() {
    let (conv, config) = load(SEED_003);
    assert!(conv.is_complete(), "{}", conv.diagnostics("t"));
    assert_eq!(conv.exit_code(), 0);
    let f = &config.frontends[0];
    assert_eq!(f.name, "clients");
    assert_eq!(f.bind, ["0.0.0.0:80".parse().unwrap()]);
    assert_eq!(f.timeout_client, std::time::Duration::from_secs(60));
    assert!(
        !f.forwardfor,
        "HAProxy adds no X-Forwarded-For without option forwardfor"
    );
    assert_eq!(f.http_request.len(), 1);
    assert_eq!(f.use_backend.len(), 2);
    assert_eq!(f.default_backend.as_deref(), Some("servers"));
    let heavy = config.backend("heavyServers").unwrap();
    assert_eq!(heavy.balance, Balance::Source);
    assert_eq!(heavy.timeout_server, std::time::Duration::from_secs(120));
    assert_eq!((heavy.retries, heavy.redispatch), (3, false));
    assert_eq!(config.backend("servers").unwrap().servers.len(), 4);
    assert!(conv
        .yaml
        .contains("\n      - deny if { path -i -m beg /admin }\n"));
    assert!(conv.yaml.contains("    bind:\n      - \"*:80\"\n"));
}

#[test]
fn defaults_apply_to_the_sections_after_them() {
    let cfg = "
defaults
    mode http
    timeout connect 5000
    timeout client 50s
    timeout server 1m
    option redispatch
    option forwardfor
    retries 2
frontend a
    bind 127.0.0.1:8080
    default_backend one
backend one
    server s 127.0.0.1:9001
defaults web
    mode http
    timeout server 3s
    balance leastconn
frontend b
    bind 127.0.0.1:8081
    default_backend two
backend two
    server s 127.0.0.1:9002
backend three from web
    timeout connect 1s
    server s 127.0.0.1:9003
";
    let (conv, config) = load(cfg);
    assert!(conv.is_complete(), "{}", conv.diagnostics("t"));
    let one = config.backend("one").unwrap();
    assert_eq!(one.timeout_connect, std::time::Duration::from_secs(5));
    assert_eq!(one.timeout_server, std::time::Duration::from_secs(60));
    assert_eq!((one.retries, one.redispatch), (2, true));
    assert_eq!(one.balance, Balance::RoundRobin);
    assert!(config.frontends[0].forwardfor);
    assert_eq!(
        config.frontends[0].timeout_client,
        std::time::Duration::from_secs(50)
    );
    // The second defaults section starts afresh.
    assert!(!config.frontends[1].forwardfor);
    let two = config.backend("two").unwrap();
    assert_eq!(two.balance, Balance::LeastConn);
    assert_eq!(two.timeout_server, std::time::Duration::from_secs(3));
    assert_eq!((two.retries, two.redispatch), (3, false));
    let three = config.backend("three").unwrap();
    assert_eq!(three.balance, Balance::LeastConn);
    assert_eq!(three.timeout_connect, std::time::Duration::from_secs(1));
}

#[test]
fn listen_stats_and_socket_become_admin() {
    let cfg = "
global
    nbthread 4
    pidfile /run/haproxy.pid
    hard-stop-after 30s
    stats socket /run/haproxy/admin.sock mode 660 level admin
    log stdout format raw local0
defaults
    mode http
    option httplog
listen app
    bind 127.0.0.1:5000
    balance roundrobin
    server one 127.0.0.1:32001 check
    server two 127.0.0.1:32002 check
listen stats
    bind :1936
    stats enable
    stats uri /haproxy?stats
    stats auth occsdemo:occspass
    stats auth second:secret
";
    let (conv, config) = load(cfg);
    assert_eq!(config.global.threads, Some(4));
    assert_eq!(
        config.global.pid_file,
        std::path::Path::new("/run/haproxy.pid")
    );
    assert_eq!(
        config.global.grace_period,
        std::time::Duration::from_secs(30)
    );
    assert!(config.global.access_log);
    let admin = config.admin.as_ref().unwrap();
    assert_eq!(admin.bind, Some("0.0.0.0:1936".parse().unwrap()));
    let auth = admin.auth.as_ref().unwrap();
    assert_eq!(
        (auth.user.as_str(), auth.password.as_str()),
        ("occsdemo", "occspass")
    );
    assert_eq!(
        admin.socket.as_deref(),
        Some(std::path::Path::new("/run/haproxy/admin.sock"))
    );
    // listen = frontend + backend of the same name.
    assert_eq!(config.frontends[0].name, "app");
    assert_eq!(config.frontends[0].default_backend.as_deref(), Some("app"));
    assert_eq!(config.backend("app").unwrap().servers.len(), 2);
    assert_eq!(
        config
            .backend("app")
            .unwrap()
            .health_check
            .as_ref()
            .unwrap()
            .kind,
        CheckKind::Tcp
    );
    // One user only; the second is reported with its password masked.
    assert_eq!(unsupported(&conv), [(21, "stats auth second:***")]);
    assert!(!conv.diagnostics("h.cfg").contains("secret"));
    assert!(conv
        .diagnostics("h.cfg")
        .contains("h.cfg:19: note: stats uri /haproxy?stats ("));
}

#[test]
fn stats_socket_alone_is_an_admin_socket_without_listener() {
    let cfg = "
global
    stats socket /var/run/haproxy.sock mode 660 level admin
frontend web
    mode http
    bind 127.0.0.1:9000
    default_backend b
backend b
    mode http
    server s 127.0.0.1:9001
";
    let (conv, config) = load(cfg);
    assert!(conv.is_complete());
    let admin = config.admin.unwrap();
    assert_eq!(admin.bind, None);
    assert_eq!(
        admin.socket.as_deref(),
        Some(std::path::Path::new("/var/run/haproxy.sock"))
    );
}

#[test]
fn stats_without_auth_stays_on_loopback() {
    let cfg = "
frontend stats
    bind *:9000
    bind *:9001 accept-proxy
    mode http
    stats enable
    stats uri /
";
    let conv = import_haproxy(cfg);
    assert!(
        conv.yaml.contains("  bind: 127.0.0.1:9000\n"),
        "{}",
        conv.yaml
    );
    assert_eq!(
        unsupported(&conv),
        [(0, "(whole file)"), (3, "bind *:9000"), (4, "bind *:9001"),]
    );
}

#[test]
fn server_options_and_health_checks() {
    let cfg = r"
defaults
    mode http
    default-server inter 3s fall 3 rise 2
backend nginx_80
    balance roundrobin
    option httpchk HEAD / HTTP/1.1\r\nHost:localhost
    cookie SERVERID insert indirect nocache
    timeout check 1s
    server one 10.9.1.1:32001 check cookie s1 weight 10 maxconn 100
    server two 10.9.1.2:32002 check cookie s2 backup
    server three 10.9.1.3:32003 check cookie s3 inter 1s
frontend web
    bind 127.0.0.1:5000
    default_backend nginx_80
";
    let (conv, config) = load(cfg);
    let b = config.backend("nginx_80").unwrap();
    let hc = b.health_check.as_ref().unwrap();
    assert_eq!(hc.kind, CheckKind::Http);
    assert_eq!((hc.method.as_str(), hc.path.as_str()), ("HEAD", "/"));
    assert_eq!(hc.host.as_deref(), Some("localhost"));
    assert_eq!(hc.interval, std::time::Duration::from_secs(3));
    assert_eq!(hc.timeout, std::time::Duration::from_secs(1));
    assert_eq!((hc.rise, hc.fall), (2, 3));
    let c = b.cookie.as_ref().unwrap();
    assert_eq!(
        (c.name.as_str(), c.indirect, c.nocache),
        ("SERVERID", true, true)
    );
    assert_eq!(b.servers[0].weight, 10);
    assert_eq!(b.servers[0].maxconn, Some(100));
    assert_eq!(b.servers[0].cookie, "s1");
    assert!(b.servers[1].backup);
    // Per-server intervals do not exist in fairway: reported.
    assert_eq!(unsupported(&conv), [(12, "server three inter/rise/fall")]);
}

#[test]
fn http_check_send_and_expect() {
    let cfg = "
backend api
    mode http
    option httpchk
    http-check send meth GET uri /health ver HTTP/1.1 hdr Host api.local
    http-check expect status 200-299
    server a 127.0.0.1:9001 check
backend old
    mode http
    option httpchk /ping
    server a 127.0.0.1:9002 check
frontend f
    mode http
    bind 127.0.0.1:9000
    use_backend old if { path /old }
    default_backend api
";
    let (conv, config) = load(cfg);
    assert!(conv.is_complete(), "{}", conv.diagnostics("t"));
    let hc = config.backend("api").unwrap().health_check.clone().unwrap();
    assert_eq!((hc.method.as_str(), hc.path.as_str()), ("GET", "/health"));
    assert_eq!(hc.host.as_deref(), Some("api.local"));
    assert_eq!(hc.expect_status, (200, 299));
    let hc = config.backend("old").unwrap().health_check.clone().unwrap();
    // HAProxy's default check method is OPTIONS.
    assert_eq!((hc.method.as_str(), hc.path.as_str()), ("OPTIONS", "/ping"));
}

#[test]
fn acls_merge_expand_and_predefined() {
    let cfg = "
frontend web
    mode http
    bind 127.0.0.1:8080
    acl api path_beg /api/
    acl api path_beg /v1/
    acl static path_end .css .js
    acl static hdr(x-static) -m found
    http-request deny unless METH_GET or METH_POST
    use_backend static if static !api
    use_backend api if api
    default_backend app
backend api
    mode http
    server a 127.0.0.1:9001
backend static
    mode http
    server a 127.0.0.1:9002
backend app
    mode http
    server a 127.0.0.1:9003
";
    let (conv, config) = load(cfg);
    assert!(conv.is_complete(), "{}", conv.diagnostics("t"));
    assert!(
        conv.yaml.contains("      api: path_beg /api/ /v1/\n"),
        "{}",
        conv.yaml
    );
    assert!(conv
        .yaml
        .contains("      static_2: hdr(x-static) -m found\n"));
    assert!(conv
        .yaml
        .contains("      - static if static !api || static_2 !api\n"));
    assert!(conv.yaml.contains("      METH_GET: method GET HEAD\n"));
    assert!(conv
        .yaml
        .contains("      - deny unless METH_GET || METH_POST\n"));
    assert_eq!(config.frontends[0].use_backend.len(), 2);
}

#[test]
fn tls_binds_split_a_frontend_and_ssl_fc_folds() {
    let cfg = "
global
    crt-base /etc/haproxy/certs
frontend www
    mode http
    bind :80
    bind :443 ssl crt site.pem alpn h2,http/1.1
    http-request redirect scheme https code 301 unless { ssl_fc }
    http-request set-header X-Forwarded-Proto https if { ssl_fc }
    default_backend app
backend app
    mode http
    server a 127.0.0.1:9001 ssl verify none sni str(app.internal)
";
    let conv = import_haproxy(cfg);
    let yaml = &conv.yaml;
    assert!(yaml.contains("  www:\n"), "{yaml}");
    assert!(yaml.contains("  www-tls:\n"));
    assert!(yaml.contains(
        "    tls: { cert: /etc/haproxy/certs/site.pem, key: /etc/haproxy/certs/site.pem }\n"
    ));
    // In the plain frontend the redirect always applies and the header
    // rule never; in the TLS one the other way round.
    assert!(yaml.contains("      - redirect scheme https code 301\n"));
    assert!(yaml.contains("      - set-header X-Forwarded-Proto https\n"));
    assert!(yaml.contains(
        "      a: { addr: 127.0.0.1:9001, tls: true, sni: app.internal, verify: false }\n"
    ));
    assert_eq!(unsupported(&conv), [(7, "bind option alpn h2,http/1.1")]);
    // Several certificates: the first is the default, the others are
    // chosen by SNI from the names they hold, as in HAProxy.
    let conv = import_haproxy(
        "frontend f\n    mode http\n    bind :443 ssl crt a.pem crt b.pem\n    bind :8443 ssl crt c.pem\n    default_backend b\nbackend b\n    mode http\n    server s 127.0.0.1:1\n",
    );
    assert!(conv.is_complete(), "{}", conv.diagnostics("t"));
    assert!(conv.yaml.contains(
        "    tls: { cert: a.pem, key: a.pem, certs: [{ cert: b.pem, key: b.pem }, { cert: c.pem, key: c.pem }] }\n"
    ), "{}", conv.yaml);
}

#[test]
fn rules_pass_through_or_are_reported() {
    let cfg = r#"
frontend web
    mode http
    bind 127.0.0.1:8080
    monitor-uri /healthz
    http-request deny deny_status 429 if { hdr(user-agent) -m sub badbot }
    http-request return status 200 content-type text/plain string "pong" if { path /ping }
    http-request redirect location /new code 301 if { path /old }
    http-request set-header X-Env "prod 100%%"
    http-request add-header X-Client %[src]
    http-request del-header X-Debug
    http-request set-path /v2 if { path_beg /v1 }
    http-request tarpit if { path /slow }
    http-request allow if { src 10.0.0.0/8 }
    acl cookie_ok req.cook(session) -m found
    http-request deny unless cookie_ok
    redirect scheme https if { path /secure }
    default_backend app
backend app
    mode http
    server a 127.0.0.1:9001
"#;
    let (conv, config) = load(cfg);
    let rules = &config.frontends[0].http_request;
    assert!(conv
        .yaml
        .contains("      - return status 200 content-type text/html string \"<html><body>"));
    assert!(
        conv.yaml
            .contains("      - set-header X-Env \"prod 100%\"\n"),
        "{}",
        conv.yaml
    );
    assert!(conv
        .yaml
        .contains("      - redirect scheme https if { path /secure }\n"));
    assert!(
        conv.yaml.contains("      - add-header X-Client %[src]\n"),
        "{}",
        conv.yaml
    );
    // monitor-uri, deny, return, redirect, set-header, add-header,
    // del-header, set-path, allow, redirect scheme.
    assert_eq!(rules.len(), 10);
    let lines: Vec<usize> = conv.unsupported.iter().map(|f| f.line).collect();
    assert_eq!(lines, [13, 15, 16]);
    assert!(conv.unsupported[0].reason.contains("tarpit"));
    assert!(conv.unsupported[2].reason.contains("cookie_ok"));
    // The redirect after an allow: fairway's allow skips it.
    assert!(conv.notes.iter().any(|n| n.line == 17));
}

#[test]
fn frontend_without_default_backend_answers_503() {
    let cfg = "
frontend web
    mode http
    bind 127.0.0.1:8080
    use_backend app if { path_beg /app }
backend app
    mode http
    server a 127.0.0.1:9001
";
    let (conv, config) = load(cfg);
    assert!(conv.is_complete());
    assert_eq!(
        config.frontends[0].default_backend.as_deref(),
        Some("web-no-backend")
    );
    assert!(config.backend("web-no-backend").unwrap().servers.is_empty());
}

#[test]
fn unknown_backends_and_sections_are_reported() {
    let cfg = "
acl url_blog path_beg /blog
frontend http
    bind *:80
    mode http
    acl url_blog path_beg /blog
    use_backend jms-backend if url_blog
    default_backend web-backend
userlist admins
    user admin password $5$abc
backend web_server
    balance roundrobin
    server web1 127.0.0.1:9001 check
";
    let conv = import_haproxy(cfg);
    assert_eq!(
        unsupported(&conv),
        [
            (2, "acl url_blog path_beg /blog"),
            (7, "use_backend jms-backend if url_blog"),
            (8, "default_backend web-backend"),
            (9, "userlist admins"),
            (10, "user admin password ***"),
        ]
    );
    assert_eq!(conv.exit_code(), 2);
    assert!(conv
        .yaml
        .contains("# unsupported (line 10): user admin password *** ("));
    assert!(!conv.yaml.contains("$5$abc"));
}

#[test]
fn tcp_mode_and_sni_routing() {
    let cfg = "
frontend tls_pass
    bind :443
    mode tcp
    tcp-request inspect-delay 5s
    tcp-request content accept if { req_ssl_hello_type 1 }
    tcp-request connection reject if { src 192.0.2.0/24 }
    acl a_sni req.ssl_sni -i a.example.com
    use_backend be_a if a_sni
    default_backend be_default
backend be_a
    mode tcp
    server a 127.0.0.1:9443 check
backend be_default
    mode tcp
    server d 127.0.0.1:9444
";
    let (conv, config) = load(cfg);
    assert!(conv.is_complete(), "{}", conv.diagnostics("t"));
    assert_eq!(config.frontends[0].tcp_request.len(), 1);
    let yaml = &conv.yaml;
    assert!(yaml.contains("    mode: tcp\n"));
    assert!(
        yaml.contains("      a_sni: req_ssl_sni -i a.example.com\n"),
        "{yaml}"
    );
    assert!(yaml.contains("    tcp_request:\n      - reject if { src 192.0.2.0/24 }\n"));
    assert!(yaml.contains("    inspect_delay: 5s\n"));
    assert!(!yaml.contains("forwardfor"));
    assert_eq!(
        conv.notes.len(),
        1,
        "req_ssl_hello_type: fairway waits for the hello itself"
    );
    assert_eq!(
        config.frontends[0].inspect_delay,
        std::time::Duration::from_secs(5)
    );
    // HTTP fetches in a tcp frontend: HAProxy cannot evaluate them either.
    let conv = import_haproxy(
        "frontend t\n    bind :443\n    mode tcp\n    acl p path_beg /x\n    tcp-request content reject if p\n    tcp-request content reject if METH_GET\n    default_backend b\nbackend b\n    mode tcp\n    server s 127.0.0.1:1\n",
    );
    assert_eq!(
        conv.unsupported.iter().map(|f| f.line).collect::<Vec<_>>(),
        [4, 5, 6]
    );
}

#[test]
fn environment_variables_and_dollars() {
    let cfg = r#"
frontend web
    mode http
    bind "${LISTEN_ADDR}"
    http-request set-header X-Region "$REGION"
    http-request deny if { path_reg '^/x$' } || { path_beg /y${z} }
    default_backend app
backend app
    mode http
    server a "${UPSTREAM}"
"#;
    let conv = import_haproxy(cfg);
    assert!(conv.is_complete(), "{}", conv.diagnostics("t"));
    let env = |k: &str| match k {
        "LISTEN_ADDR" => Some("127.0.0.1:8080".to_string()),
        "UPSTREAM" => Some("127.0.0.1:9001".to_string()),
        "REGION" => Some("eu".to_string()),
        _ => None,
    };
    let config = Config::from_yaml_str_with_env(&conv.yaml, "t", &env)
        .unwrap_or_else(|e| panic!("{e}\n{}", conv.yaml));
    assert_eq!(
        config.frontends[0].bind,
        ["127.0.0.1:8080".parse().unwrap()]
    );
    assert!(
        conv.yaml.contains("- set-header X-Region \"${REGION}\"\n"),
        "{}",
        conv.yaml
    );
    assert!(conv.yaml.contains("{ path_beg /y$${z} }"), "{}", conv.yaml);
}

#[test]
fn modes_default_to_tcp_as_in_haproxy() {
    let cfg = "
frontend plain
    bind 127.0.0.1:8080
    default_backend b
backend b
    server s 127.0.0.1:9001
";
    let conv = import_haproxy(cfg);
    assert!(conv.yaml.contains("    mode: tcp\n"));
    assert!(conv.notes.iter().any(|n| n.reason.contains("tcp")));
}

#[test]
fn diagnostics_format() {
    let conv = import_haproxy("global\n    maxconn 4096\n    daemon\n");
    assert_eq!(
        conv.diagnostics("haproxy.cfg"),
        "haproxy.cfg: unsupported: (whole file) (no frontend with a usable bind: fairway needs at least one)\n\
         haproxy.cfg:2: unsupported: maxconn 4096 (fairway has no global connection limit)\n\
         haproxy.cfg:3: unsupported: daemon (run `fairway -d` to daemonize)\n"
    );
    assert!(conv
        .yaml
        .contains("  # unsupported (line 2): maxconn 4096 ("));
}

#[test]
fn backend_rules_run_in_frontends_that_only_go_there() {
    let cfg = "
defaults
    mode http
frontend only
    bind 127.0.0.1:8080
    http-request set-header X-Front 1
    default_backend app
backend app
    acl internal src 10.0.0.0/8
    http-request set-header X-Internal yes if internal
    http-request del-header X-Debug
    server a 127.0.0.1:9001
frontend routed
    bind 127.0.0.1:8081
    use_backend shared if { path_beg /s }
    default_backend app2
backend shared
    http-request deny if { path /s/secret }
    server a 127.0.0.1:9002
backend app2
    server a 127.0.0.1:9003
";
    let (conv, config) = load(cfg);
    // `only` sends everything to `app`: its rules run there, after the
    // frontend's own.
    let only = &config.frontends[0];
    assert_eq!(only.http_request.len(), 3);
    assert!(conv.yaml.contains("      internal: src 10.0.0.0/8\n"));
    assert!(conv.yaml.contains(
        "      - set-header X-Front 1\n      - set-header X-Internal yes if internal\n      - del-header X-Debug\n"
    ));
    // `shared` is reached through a condition: its rule is reported.
    assert_eq!(
        unsupported(&conv),
        [(18, "http-request deny if { path /s/secret }")]
    );
    assert!(conv.unsupported[0]
        .reason
        .contains("use_backend conditions"));
}

#[test]
fn request_rate_limits_become_src_http_req_rate() {
    let cfg = "
frontend fe
    mode http
    bind 127.0.0.1:8080
    stick-table type ip size 100k expire 30s store http_req_rate(10s)
    http-request track-sc0 src
    http-request deny deny_status 429 if { sc_http_req_rate(0) gt 5 }
    acl abuser sc0_http_req_rate gt 100
    http-request deny if abuser
    default_backend be
backend be
    mode http
    server s 127.0.0.1:9001
";
    // The converted file loads: fairway has the fetch.
    let (conv, config) = load(cfg);
    assert_eq!(
        config.frontends[0].rate_periods(),
        [Duration::from_secs(10)]
    );
    assert!(conv.is_complete(), "{}", conv.diagnostics("t"));
    assert!(
        conv.yaml
            .contains("      - deny deny_status 429 if { src_http_req_rate(10s) gt 5 }\n"),
        "{}",
        conv.yaml
    );
    assert!(conv
        .yaml
        .contains("      abuser: src_http_req_rate(10s) gt 100\n"));
    // Two, and fairway's path defaults (on the frontend).
    assert_eq!(conv.notes.len(), 3);
    // A table without tracking, or storing something else, is reported.
    let conv = import_haproxy(&cfg.replace("    http-request track-sc0 src\n", ""));
    assert_eq!(
        conv.unsupported.iter().map(|f| f.line).collect::<Vec<_>>(),
        [5, 6, 7, 8]
    );
    let conv = import_haproxy(&cfg.replace("http_req_rate(10s)\n", "conn_cur\n"));
    assert!(!conv.is_complete());
}

#[test]
fn stats_in_a_proxying_listen_and_frontends_without_bind() {
    let cfg = "
defaults
    mode http
listen web
    bind 127.0.0.1:9000
    stats enable
    stats auth admin:pw
    server s 127.0.0.1:9101
frontend nobind
    default_backend web
frontend named
    bind example.com:80
    default_backend web
";
    let (conv, config) = load(cfg);
    // The stats page moves to a listener of its own, on a free port.
    assert_eq!(
        config.admin.as_ref().unwrap().bind,
        Some("127.0.0.1:9001".parse().unwrap())
    );
    assert_eq!(config.frontends.len(), 1);
    assert_eq!(config.backend("web").unwrap().servers.len(), 1);
    assert_eq!(
        unsupported(&conv),
        [
            (6, "stats in web"),
            (9, "frontend nobind"),
            (11, "frontend named"),
            (12, "bind example.com:80"),
        ]
    );
}

mod protocols;
mod responses;
mod traffic;

#[test]
fn path_defaults_are_kept_and_noted_once() {
    let cfg = "
frontend a
    mode http
    bind 127.0.0.1:8080
    default_backend b
frontend c
    mode http
    bind 127.0.0.1:8081
    default_backend b
backend b
    mode http
    server s 127.0.0.1:9001
";
    let (conv, config) = load(cfg);
    // fairway's safer defaults stay (SPEC §9): no key is written...
    assert!(
        !conv.yaml.contains("\n    encoded_slashes:"),
        "{}",
        conv.yaml
    );
    assert!(!conv.yaml.contains("\n    path_params:"), "{}", conv.yaml);
    for f in &config.frontends {
        assert_eq!(f.encoded_slashes, fairway_acl::EncodedSlashes::Reject);
        assert_eq!(f.path_params, fairway_acl::PathParams::Match);
    }
    // ... and the difference from HAProxy is noted, once.
    let noted: Vec<_> = conv
        .notes
        .iter()
        .filter(|n| n.reason.contains("encoded_slashes: reject"))
        .collect();
    assert_eq!(noted.len(), 1, "{}", conv.diagnostics("t"));
    assert_eq!(
        (noted[0].line, noted[0].directive.as_str()),
        (2, "frontend a")
    );
    assert!(noted[0].reason.contains("path_params: match"));
    assert!(
        conv.yaml.contains("encoded_slashes: reject"),
        "{}",
        conv.yaml
    );
    // A tcp frontend has no paths: no note.
    let conv = import_haproxy(
        "frontend t\n    mode tcp\n    bind :1\n    default_backend b\nbackend b\n    mode tcp\n    server s 127.0.0.1:2\n",
    );
    assert!(conv
        .notes
        .iter()
        .all(|n| !n.reason.contains("encoded_slashes")));
}
