//! Valid configs load into the expected values.

use fairway_acl::Request;
use fairway_config::{Balance, Config, HttpAction, LogLevel, Mode};
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

/// A request with just a path, for evaluating the loaded rules.
struct Get(&'static str);

impl Request for Get {
    fn method(&self) -> &str {
        "GET"
    }
    fn path(&self) -> &str {
        self.0
    }
    fn query(&self) -> Option<&str> {
        None
    }
    fn url(&self) -> &str {
        self.0
    }
    fn host(&self) -> Option<&str> {
        Some("localhost")
    }
    fn header_values(&self, _name: &str, _f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        false
    }
    fn src(&self) -> Option<IpAddr> {
        None
    }
}

/// The backend a request is routed to, or `None` when an `http_request`
/// rule denies it first.
fn route(config: &Config, path: &'static str) -> Option<String> {
    let f = &config.frontends[0];
    let req = Get(path);
    if f.http_request
        .iter()
        .any(|r| r.applies(&req) && matches!(r.action, HttpAction::Deny { .. }))
    {
        return None;
    }
    let chosen = f
        .use_backend
        .iter()
        .find(|u| u.applies(&req))
        .map(|u| u.backend.clone());
    chosen.or_else(|| f.default_backend.clone())
}

#[test]
fn seed_003_scenario() {
    let config = Config::from_file("tests/valid/seed003.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.path.as_deref(),
        Some(Path::new("tests/valid/seed003.yaml"))
    );

    let g = &config.global;
    assert_eq!(g.threads, Some(2));
    assert_eq!(g.grace_period, Duration::from_secs(5));
    assert_eq!(g.log_level, LogLevel::Info);
    assert!(g.access_log);

    assert_eq!(config.frontends.len(), 1);
    let web = &config.frontends[0];
    assert_eq!(web.name, "web");
    assert_eq!(web.bind, vec!["0.0.0.0:8080".parse().unwrap()]);
    assert_eq!(web.mode, Mode::Http);
    assert_eq!(web.timeout_client, Duration::from_secs(60));
    assert_eq!(web.timeout_http_request, Duration::from_secs(10));
    assert!(web.normalize_path && web.forwardfor);
    assert!(web.acls.get("lightwork").is_some());
    assert!(web.acls.get("heavywork").is_some());
    assert!(web.acls.get("other").is_none());
    assert_eq!(web.http_request.len(), 1);
    assert_eq!(web.http_request[0].action, HttpAction::Deny { status: 403 });
    assert!(web.http_request[0].guard.is_some());
    let targets: Vec<&str> = web.use_backend.iter().map(|u| u.backend.as_str()).collect();
    assert_eq!(targets, ["light", "heavy"]);
    assert_eq!(web.default_backend.as_deref(), Some("servers"));

    let names: Vec<&str> = config.backends.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["light", "heavy", "servers"]);
    let heavy = config.backend("heavy").unwrap();
    assert_eq!(heavy.balance, Balance::RoundRobin);
    assert_eq!(heavy.timeout_connect, Duration::from_secs(10));
    assert_eq!(heavy.timeout_server, Duration::from_secs(120));
    let servers = config.backend("servers").unwrap();
    let summary: Vec<(&str, String, u16, bool)> = servers
        .servers
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.socket_addr.unwrap().to_string(),
                s.weight,
                s.backup,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("server1", "127.0.0.1:8001".to_string(), 1, false),
            ("server2", "127.0.0.1:8002".to_string(), 2, false),
            ("server3", "127.0.0.1:8003".to_string(), 1, false),
            ("server4", "127.0.0.1:8004".to_string(), 1, true),
        ]
    );
    assert_eq!(servers.retries, 2);
    assert!(servers.redispatch);
}

#[test]
fn seed_003_routes_as_haproxy_does() {
    let config = Config::from_file("tests/valid/seed003.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(route(&config, "/").as_deref(), Some("servers"));
    assert_eq!(route(&config, "/lightwork").as_deref(), Some("light"));
    assert_eq!(route(&config, "/app/LightWork").as_deref(), Some("light"));
    assert_eq!(route(&config, "/heavywork").as_deref(), Some("heavy"));
    assert_eq!(route(&config, "/admin"), None);
    assert_eq!(route(&config, "/ADMIN/users"), None);
}

#[test]
fn the_crate_doc_example_and_rules_from_the_spec() {
    let yaml = r#"
frontends:
  web:
    bind: ["127.0.0.1:8080", "[::1]:8080"]
    acl:
      api:       path_beg /api/ /v1/
      internal:  src 127.0.0.0/8 10.0.0.0/8
      dollar:    path_reg ^/x$
    http_request:
      - deny if { path -i -m beg /admin }
      - deny status 429 if { hdr(user-agent) -m sub badbot }
      - set-header X-Env ${ENV}
      - del-header X-Debug unless internal
      - return status 200 content-type text/plain string "ok" if { path /healthz }
    use_backend:
      - api if api !internal || dollar
    default_backend: app
backends:
  api: { servers: { a: { addr: 127.0.0.1:9001 } } }
  app: { servers: { a: { addr: 127.0.0.1:9002 } } }
"#;
    let env = |k: &str| (k == "ENV").then(|| "prod".to_string());
    let config =
        Config::from_yaml_str_with_env(yaml, "inline.yaml", &env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.path, None);
    let web = &config.frontends[0];
    assert_eq!(web.http_request.len(), 5);
    assert_eq!(web.http_request[1].action, HttpAction::Deny { status: 429 });
    assert_eq!(
        web.http_request[2].action,
        HttpAction::SetHeader {
            name: "x-env".to_string(),
            value: "prod".into()
        }
    );
    assert!(web.http_request[2].guard.is_none());
    assert_eq!(web.use_backend[0].backend, "api");
}

#[test]
fn an_unconditional_rule_makes_default_backend_optional() {
    let yaml = "\
frontends:
  web:
    bind: :8080
    use_backend: [app]
  status:
    bind: :8081
    http_request:
      - return status 200 string ok
backends:
  app: {}
";
    let config = Config::from_yaml_str(yaml, "inline.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.frontends[0].default_backend, None);
    assert_eq!(config.frontends[1].default_backend, None);
}
