//! Request and response hooks: an API-key check that answers 401 itself,
//! tells the app who called, stamps responses, and logs each request.
//!
//! ```text
//! cargo run -p fairway --example hooks
//! curl -si http://127.0.0.1:6490/                              # 401, www-authenticate: Bearer
//! curl -si http://127.0.0.1:6490/ -H 'authorization: Bearer s3cret'
//!                                                              # 200 "hello alice", x-checked-by: fairway
//! RUST_LOG=info cargo run -p fairway --example hooks           # one "hook log" line per request
//! ```

use async_trait::async_trait;
use fairway::hook::{Answer, Hook, Info, Log};
use fairway::Fairway;
use http::Response;
use pingora::apps::http_app::{HttpServer, ServeHttp};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::protocols::http::ServerSession;
use pingora::proxy::Session;
use pingora::server::Server;
use pingora::services::listening::Service;
use std::collections::HashMap;

/// Bearer tokens and the users they belong to.
pub struct ApiKeys {
    users: HashMap<String, String>,
}

impl ApiKeys {
    /// Keys from `(token, user)` pairs.
    pub fn new(pairs: &[(&str, &str)]) -> Self {
        let users = pairs
            .iter()
            .map(|(t, u)| (t.to_string(), u.to_string()))
            .collect();
        ApiKeys { users }
    }

    fn user(&self, req: &RequestHeader) -> Option<&str> {
        let value = req.headers.get("authorization")?.to_str().ok()?;
        let token = value.strip_prefix("Bearer ")?;
        self.users.get(token).map(String::as_str)
    }
}

#[async_trait]
impl Hook for ApiKeys {
    /// Before the config's rules: no valid key, no entry. A valid one is
    /// replaced by `x-user` (the app never sees the token).
    async fn request(
        &self,
        session: &mut Session,
        _info: &Info<'_>,
    ) -> pingora::Result<Option<Answer>> {
        let Some(user) = self.user(session.req_header()).map(str::to_string) else {
            return Ok(Some(
                Answer::new(401)
                    .header("www-authenticate", "Bearer")
                    .body("a valid bearer token is required\n"),
            ));
        };
        let req = session.req_header_mut();
        req.remove_header("authorization");
        req.insert_header("x-user", user)?;
        Ok(None)
    }

    /// Responses from the app get a stamp.
    fn response(&self, response: &mut ResponseHeader, _info: &Info<'_>) -> pingora::Result<()> {
        response.insert_header("x-checked-by", "fairway")
    }

    /// One line per request, answered or proxied.
    fn log(&self, session: &Session, log: &Log<'_>) {
        log::info!(
            "hook log path={} status={} backend={} server={} answered={} ms={:.1}",
            session.req_header().uri.path(),
            log.status,
            log.info.backend.unwrap_or("-"),
            log.info.server.map_or("-", |s| s.name()),
            log.answered,
            log.duration.as_secs_f64() * 1000.0,
        );
    }
}

const CONFIG: &str = r#"
global: { threads: 1, grace_period: 1s }
frontends:
  web:
    bind: ["127.0.0.1:6490"]
    default_backend: app
backends:
  app:
    servers: { a: { addr: 127.0.0.1:6491 } }
"#;

/// The app: greets the user fairway vouched for.
struct Greeter;

#[async_trait]
impl ServeHttp for Greeter {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let user = session
            .req_header()
            .headers
            .get("x-user")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("stranger");
        let body = format!("hello {user}\n").into_bytes();
        Response::builder()
            .header("content-length", body.len())
            .body(body)
            .unwrap_or_default()
    }
}

fn main() {
    env_logger::init();
    let fairway = match Fairway::builder()
        .hook(ApiKeys::new(&[("s3cret", "alice")]))
        .config_yaml(CONFIG, "hooks.rs")
        .build()
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let mut server = Server::new_with_opt_and_conf(None, fairway.server_conf());
    server.bootstrap();
    let mut app = Service::new("greeter".to_string(), HttpServer::new_app(Greeter));
    app.add_tcp("127.0.0.1:6491");
    server.add_service(app);
    server.add_services(fairway.services(&server.configuration));
    server.run_forever();
}
