//! Embed fairway in your own Pingora server, beside a service of your own.
//!
//! ```text
//! cargo run -p fairway --example embed
//! curl -i http://127.0.0.1:6190/            # proxied to the two "app" servers, round robin
//! curl -i http://127.0.0.1:6190/admin       # 403 from fairway's deny rule
//! curl -i http://127.0.0.1:6190/healthz     # answered by fairway itself
//! curl -s http://127.0.0.1:6193/metrics     # fairway's admin listener: Prometheus metrics
//! curl -s http://127.0.0.1:6193/stats       # ... and the stats page
//! ```
//!
//! The "app" servers here are your own Pingora service (a tiny HTTP app on
//! 127.0.0.1:6191 and :6192); in real life they are anywhere. The `Server`
//! runs on your own Pingora settings, into which fairway merges what its
//! requests need. fairway adds its frontends, the one background service
//! this config uses (health checks: there is no file to reload on SIGHUP)
//! and its admin listener to the same `Server`. To plug in balance
//! algorithms, ACL fetches or hooks of your own, see `custom_selector.rs`,
//! `custom_fetch.rs` and `hooks.rs`.

use async_trait::async_trait;
use fairway::{Background, Config, Fairway};
use http::Response;
use pingora::apps::http_app::{HttpServer, ServeHttp};
use pingora::protocols::http::ServerSession;
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::services::listening::Service;

const CONFIG: &str = r#"
global: { threads: 1, grace_period: 1s }
frontends:
  web:
    bind: ["127.0.0.1:6190"]
    http_request:
      - return status 200 content-type text/plain string "ok" if { path /healthz }
      - deny if { path_beg -i /admin }
    default_backend: app
backends:
  app:
    health_check: { type: http, path: /, interval: 2s }
    servers:
      a: { addr: 127.0.0.1:6191 }
      b: { addr: 127.0.0.1:6192 }
admin:
  bind: 127.0.0.1:6193
"#;

/// Your own service: says which port answered.
struct Hello(u16);

#[async_trait]
impl ServeHttp for Hello {
    async fn response(&self, _session: &mut ServerSession) -> Response<Vec<u8>> {
        let body = format!("hello from :{}\n", self.0).into_bytes();
        Response::builder()
            .header("content-length", body.len())
            .body(body)
            .unwrap_or_default()
    }
}

fn main() {
    env_logger::init();
    let config = match Config::from_yaml_str(CONFIG, "embed.rs") {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            std::process::exit(1);
        }
    };
    // `Fairway::new(config)` is `Fairway::builder().config(config).build()`
    // with nothing registered.
    let fairway = Fairway::new(config);

    // Your own settings; fairway raises the retries and the server
    // connection pool to what its backends need.
    let mut conf = ServerConf {
        threads: 1,
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    fairway.apply_server_conf(&mut conf);
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    for port in [6191, 6192] {
        let mut app = Service::new(format!("hello {port}"), HttpServer::new_app(Hello(port)));
        app.add_tcp(&format!("127.0.0.1:{port}"));
        server.add_service(app);
    }
    server.add_services(fairway.services(&server.configuration));
    server.add_services(vec![fairway.background_service(Background::HealthCheck)]);
    match fairway.admin_services() {
        Ok(admin) => server.add_services(admin),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    server.run_forever();
}
