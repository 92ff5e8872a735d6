//! A balance algorithm of your own: `balance: lowest(99)` sends each request
//! to the server with the lowest 99th percentile of health-check round-trip
//! times.
//!
//! ```text
//! cargo run -p fairway --example custom_selector
//! curl -s http://127.0.0.1:6290/    # "hello from :6291" (:6292 answers 40 ms slower)
//! curl -s http://127.0.0.1:6290/    # the same fast server, every time
//! ```
//!
//! Until both servers have been checked, the one with fewer requests in
//! flight is picked. The "app" servers are a Pingora service of this
//! program (127.0.0.1:6291 and :6292).

use async_trait::async_trait;
use fairway::balance::{Selector, SelectorFactory};
use fairway::upstream::Server;
use fairway::{Arg, Fairway};
use http::Response;
use pingora::apps::http_app::{HttpServer, ServeHttp};
use pingora::protocols::http::ServerSession;
use pingora::server::Server as PingoraServer;
use pingora::services::listening::Service;
use std::sync::Arc;
use std::time::Duration;

/// The factory of `lowest(PERCENTILE)` (registered under `lowest`).
pub struct Lowest;

impl SelectorFactory for Lowest {
    fn arg(&self) -> Arg {
        Arg::Optional("PERCENTILE")
    }

    /// Checked when the config loads: `balance: lowest(0)` is a load error
    /// with the file, line and column of the `balance` key.
    fn check(&self, arg: Option<&str>) -> Result<(), String> {
        match arg.map(str::parse::<u8>) {
            None | Some(Ok(1..=100)) => Ok(()),
            _ => Err("`lowest` takes a percentile from 1 to 100, e.g. `lowest(99)`".into()),
        }
    }

    /// Called at every rebuild (weights, health or state changed).
    fn build(&self, weights: &[u32], arg: Option<&str>) -> Box<dyn Selector> {
        let percentile = arg.and_then(|a| a.parse().ok()).unwrap_or(99);
        Box::new(LowestSelector {
            percentile,
            weights: weights.to_vec(),
        })
    }
}

/// Picks the server with the lowest percentile of check round-trip times.
pub struct LowestSelector {
    percentile: u8,
    /// Effective weights: 0 for servers that must not be picked now.
    weights: Vec<u32>,
}

impl Selector for LowestSelector {
    fn select(
        &self,
        servers: &[Arc<Server>],
        _key: Option<u64>,
        eligible: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        // Unchecked servers rank last; ties go to the least busy.
        (0..servers.len())
            .filter(|&i| self.weights.get(i).is_some_and(|w| *w > 0) && eligible(i))
            .min_by_key(|&i| {
                let rtt = servers[i].rtt_percentile(self.percentile);
                (rtt.unwrap_or(Duration::MAX), servers[i].active())
            })
    }
}

const CONFIG: &str = r#"
global: { threads: 1, grace_period: 1s }
frontends:
  web:
    bind: ["127.0.0.1:6290"]
    default_backend: app
backends:
  app:
    balance: lowest(99)
    health_check: { type: http, path: /, interval: 200ms }
    servers:
      a: { addr: 127.0.0.1:6291 }
      b: { addr: 127.0.0.1:6292 }
"#;

/// The app: says which port answered, after `delay`.
struct Hello(u16, Duration);

#[async_trait]
impl ServeHttp for Hello {
    async fn response(&self, _session: &mut ServerSession) -> Response<Vec<u8>> {
        tokio::time::sleep(self.1).await;
        let body = format!("hello from :{}\n", self.0).into_bytes();
        Response::builder()
            .header("content-length", body.len())
            .body(body)
            .unwrap_or_default()
    }
}

fn main() {
    env_logger::init();
    let fairway = Fairway::builder()
        .selector("lowest", Lowest)
        .config_yaml(CONFIG, "custom_selector.rs")
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
    for (port, delay) in [(6291, 0), (6292, 40)] {
        let app = HttpServer::new_app(Hello(port, Duration::from_millis(delay)));
        let mut app = Service::new(format!("hello {port}"), app);
        app.add_tcp(&format!("127.0.0.1:{port}"));
        server.add_service(app);
    }
    server.add_services(fairway.services(&server.configuration));
    // The health checker feeds the round-trip times the selector ranks.
    server.add_services(fairway.background_services());
    server.run_forever();
}
