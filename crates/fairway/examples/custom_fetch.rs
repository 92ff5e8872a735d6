//! An ACL fetch of your own: `country` reads the client's country code from
//! a header your CDN sets (`x-country`, or the header named in
//! `country(HEADER)`), and works with every flag and matcher of the ACL
//! language.
//!
//! ```text
//! cargo run -p fairway --example custom_fetch
//! curl -s http://127.0.0.1:6390/ -H 'x-country: DE'    # "eu" (acl eu: country -i de fr nl)
//! curl -s http://127.0.0.1:6390/ -H 'x-country: US'    # "world"
//! curl -s http://127.0.0.1:6390/                       # "world" (no sample: no match)
//! curl -si http://127.0.0.1:6390/ -H 'cf-ipcountry: XX' # 451 (country(cf-ipcountry) -m str XX)
//! ```

use async_trait::async_trait;
use fairway::acl::Request;
use fairway::{Arg, Fairway, SampleFetch};
use http::Response;
use pingora::apps::http_app::{HttpServer, ServeHttp};
use pingora::protocols::http::ServerSession;
use pingora::server::Server;
use pingora::services::listening::Service;

/// `country` / `country(HEADER)`: a two-letter country code from a header.
pub struct Country;

impl SampleFetch for Country {
    fn arg(&self) -> Arg {
        Arg::Optional("HEADER")
    }

    /// Checked when the config loads (header names are looked up in lower
    /// case, so that sampling does not allocate).
    fn check(&self, arg: Option<&str>) -> Result<(), String> {
        match arg {
            Some(h) if !h.bytes().all(|c| c.is_ascii_lowercase() || c == b'-') => Err(format!(
                "`country`: write the header name `{h}` in lower case letters and `-`"
            )),
            _ => Ok(()),
        }
    }

    /// One sample per header value that looks like a country code; the ACL
    /// compares it (`-i`, `-m str|beg|sub|reg|...`, `-m found`).
    fn sample(
        &self,
        req: &dyn Request,
        arg: Option<&str>,
        f: &mut dyn FnMut(&[u8]) -> bool,
    ) -> bool {
        req.header_values(arg.unwrap_or("x-country"), &mut |v| {
            let v = v.trim_ascii();
            v.len() == 2 && v.iter().all(u8::is_ascii_alphabetic) && f(v)
        })
    }
}

const CONFIG: &str = r#"
global: { threads: 1, grace_period: 1s }
frontends:
  web:
    bind: ["127.0.0.1:6390"]
    acl:
      eu: country -i de fr nl
    http_request:
      - deny status 451 if { country(cf-ipcountry) -m str XX }
    use_backend:
      - eu if eu
    default_backend: world
backends:
  eu:
    servers: { eu1: { addr: 127.0.0.1:6391 } }
  world:
    servers: { us1: { addr: 127.0.0.1:6392 } }
"#;

/// The app: says which region answered.
struct Region(&'static str);

#[async_trait]
impl ServeHttp for Region {
    async fn response(&self, _session: &mut ServerSession) -> Response<Vec<u8>> {
        let body = format!("{}\n", self.0).into_bytes();
        Response::builder()
            .header("content-length", body.len())
            .body(body)
            .unwrap_or_default()
    }
}

fn main() {
    env_logger::init();
    let fairway = match Fairway::builder()
        .fetch("country", Country)
        .config_yaml(CONFIG, "custom_fetch.rs")
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
    for (port, region) in [(6391, "eu"), (6392, "world")] {
        let mut app = Service::new(format!("{region} app"), HttpServer::new_app(Region(region)));
        app.add_tcp(&format!("127.0.0.1:{port}"));
        server.add_service(app);
    }
    server.add_services(fairway.services(&server.configuration));
    server.run_forever();
}
