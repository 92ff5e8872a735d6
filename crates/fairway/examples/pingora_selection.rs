//! A `pingora-load-balancing` algorithm as a fairway one: `balance: ketama`
//! places the servers on Pingora's Ketama ring (`selection::Consistent`)
//! and sends each user, by its `x-user` header, to the same server.
//!
//! ```text
//! cargo run -p fairway --example pingora_selection
//! curl -s -H 'x-user: alice' http://127.0.0.1:6590/   # "hello from :659N", the same N every time
//! curl -s -H 'x-user: bob' http://127.0.0.1:6590/     # bob's server (maybe another)
//! curl -s http://127.0.0.1:6590/                      # no x-user: spread over the three
//! ```
//!
//! fairway keeps its own part: a server that is down, drained, in
//! maintenance or ejected is never picked (its users move to the next
//! server on the ring, the others stay), and `maxconn`, retries and
//! backups work as with any algorithm. The "app" servers are a Pingora
//! service of this program (127.0.0.1:6591 to :6593).

use async_trait::async_trait;
use fairway::balance::{HashKey, PingoraSelection};
use fairway::{Builder, Fairway};
use http::Response;
use pingora::apps::http_app::{HttpServer, ServeHttp};
use pingora::protocols::http::ServerSession;
use pingora::server::Server as PingoraServer;
use pingora::services::listening::Service;
use pingora_load_balancing::selection::Consistent;

/// `builder` with `ketama` registered: Pingora's Ketama hashing over the
/// `x-user` header of each request.
pub fn with_ketama(builder: Builder) -> Builder {
    let ketama =
        PingoraSelection::<Consistent>::new().hashing(HashKey::Header("x-user".to_string()));
    builder.selector("ketama", ketama)
}

const CONFIG: &str = r#"
global: { threads: 1, grace_period: 1s }
frontends:
  web:
    bind: ["127.0.0.1:6590"]
    default_backend: app
backends:
  app:
    balance: ketama
    health_check: { type: http, path: /, interval: 1s }
    servers:
      a: { addr: 127.0.0.1:6591 }
      b: { addr: 127.0.0.1:6592 }
      c: { addr: 127.0.0.1:6593 }
"#;

/// The app: says which port answered.
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
    let fairway = with_ketama(Fairway::builder())
        .config_yaml(CONFIG, "pingora_selection.rs")
        .build();
    let fairway = match fairway {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let mut server = PingoraServer::new_with_opt_and_conf(None, fairway.server_conf());
    server.bootstrap();
    for port in [6591, 6592, 6593] {
        let mut app = Service::new(format!("hello {port}"), HttpServer::new_app(Hello(port)));
        app.add_tcp(&format!("127.0.0.1:{port}"));
        server.add_service(app);
    }
    server.add_services(fairway.services(&server.configuration));
    server.add_services(fairway.background_services());
    server.run_forever();
}
