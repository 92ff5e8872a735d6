//! Shared pieces of fairway's benchmarks: a request as the proxy holds it
//! and the proxy's own rule evaluation; servers, backends and
//! request keys for the selection benchmark and the balancer simulation.

use fairway::balance::{hash_bytes, Backend, BackendSpec, Selectors};
use fairway::upstream::{Server, ServerSpec};
use fairway::{Decision, Frontend, RequestView};
use fairway_config::{Balance, Config, EwmaConfig, LatencyConfig};
use pingora_http::RequestHeader;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// A request as the proxy holds it when the rules run: a Pingora request
/// head and the client's address.
pub struct BenchRequest {
    /// The request head.
    pub header: RequestHeader,
    /// Client address.
    pub src: IpAddr,
}

impl BenchRequest {
    /// A GET of `url` with browser-like headers.
    pub fn get(url: &str) -> Self {
        let mut header =
            RequestHeader::build("GET", url.as_bytes(), None).expect("a valid request target");
        for (name, value) in [
            ("host", "www.example.org"),
            (
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0",
            ),
            (
                "accept",
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            ),
            ("accept-language", "en-US,en;q=0.5"),
            ("cookie", "session=abc123; theme=dark"),
        ] {
            header.append_header(name, value).expect("a valid header");
        }
        BenchRequest {
            header,
            src: IpAddr::from([192, 0, 2, 10]),
        }
    }
}

/// What the proxy decides for a request before it picks a server, through
/// the proxy's own [`Frontend::decide`] over its own [`RequestView`]: the
/// index of the `http_request` rule that answers it, or the backend's
/// index. The proxy applies each edit (`set-header`, ...) before asking
/// again; here an edit is only stepped over, as writing a header is not
/// rule evaluation.
pub fn decide(fe: &Frontend, req: &BenchRequest) -> Result<Option<usize>, usize> {
    let view = RequestView::new(&req.header, Some(req.src), &fe.rates);
    let mut from = 0;
    loop {
        match fe.decide(from, &view) {
            Decision::Route(backend) => return Ok(backend),
            Decision::Answer { index, .. } => return Err(index),
            Decision::Edit { index, .. } => from = index + 1,
        }
    }
}

/// The demo configuration (seed 003).
pub fn demo_config() -> Config {
    Config::from_yaml_str(include_str!("../conf/demo.yaml"), "conf/demo.yaml")
        .expect("demo.yaml is valid")
}

/// A frontend with 50 ACLs of every kind and rules using them, the last
/// `use_backend` line matching only `/zz/...`.
pub fn fifty_acl_config() -> Config {
    let mut acl = String::new();
    let mut rules = String::new();
    let mut uses = String::new();
    for i in 0..50 {
        let line = match i % 5 {
            0 => format!("path_beg /p{i}/ /q{i}/"),
            1 => format!("path_end -i .x{i}"),
            2 => format!("hdr(x-tenant-{i}) -m found"),
            3 => format!("path_reg ^/r{i}/[0-9]+$"),
            _ => format!("hdr_sub(user-agent) -i bot{i}"),
        };
        acl.push_str(&format!("      a{i}: {line}\n"));
        if i % 10 == 4 {
            rules.push_str(&format!("      - deny if a{i}\n"));
        } else {
            uses.push_str(&format!("      - b{} if a{i}\n", i % 3));
        }
    }
    uses.push_str("      - b0 if { path_beg /zz/ } { method GET } !{ src 10.0.0.0/8 }\n");
    let yaml = format!(
        "frontends:\n  web:\n    bind: [\"127.0.0.1:1\"]\n    acl:\n{acl}    http_request:\n{rules}    use_backend:\n{uses}    default_backend: b2\nbackends:\n  b0: {{}}\n  b1: {{}}\n  b2: {{}}\n"
    );
    Config::from_yaml_str(&yaml, "fifty.yaml").expect("generated config is valid")
}

/// Every balance algorithm fairway ships, in table order; the hash-based
/// ones hash the client IP, the path, `?id=` and `x-user`. A new algorithm
/// goes here, and the selection benchmark and allocation test cover it.
pub fn algorithms() -> Vec<Balance> {
    vec![
        Balance::RoundRobin,
        Balance::LeastConn,
        Balance::Source,
        Balance::Random,
        Balance::First,
        Balance::Uri,
        Balance::UrlParam("id".into()),
        Balance::Hdr("x-user".into()),
        Balance::Latency,
        Balance::Ewma,
    ]
}

/// `n` mixed weights in 1..=4 (the pattern 1, 3, 2, 4 repeated).
pub fn mixed_weights(n: usize) -> Vec<u16> {
    (0..n).map(|i| [1, 3, 2, 4][i % 4]).collect()
}

/// Server `s{i}` at `10.0.x.y:80` (never connected to).
pub fn server_spec(i: usize, weight: u16, maxconn: Option<u32>) -> ServerSpec {
    let ip = [10, 0, (i >> 8) as u8, i as u8];
    ServerSpec {
        name: format!("s{i}"),
        addr: SocketAddr::from((ip, 80)),
        weight,
        backup: false,
        maxconn,
        cookie: format!("s{i}"),
        timeout_connect: Duration::from_secs(1),
        timeout_server: Duration::from_secs(1),
        proto: fairway_config::Proto::H1,
        send_proxy: None,
    }
}

/// Standalone servers `s0..` with `weights` and no `maxconn`.
pub fn servers(weights: &[u16]) -> Vec<Arc<Server>> {
    weights
        .iter()
        .enumerate()
        .map(|(i, w)| Arc::new(Server::standalone(server_spec(i, *w, None))))
        .collect()
}

/// A backend `b` balancing with `balance` over servers `s0..` with
/// `weights`, each with `maxconn`; default `latency` and `ewma` settings.
pub fn backend(balance: &Balance, weights: &[u16], maxconn: Option<u32>) -> Backend {
    backend_with(balance, weights, maxconn, &Selectors::builtin())
}

/// As [`backend`], with the algorithms of `selectors`.
pub fn backend_with(
    balance: &Balance,
    weights: &[u16],
    maxconn: Option<u32>,
    selectors: &Selectors,
) -> Backend {
    let spec = BackendSpec {
        timeout_tunnel: None,
        http_reuse: fairway_config::HttpReuse::Safe,
        name: "b".into(),
        balance: balance.clone(),
        retries: 0,
        redispatch: false,
        retry_on: Default::default(),
        retry_budget: None,
        timeout_queue: Duration::from_secs(1),
        cookie: None,
        health_check: None,
        latency: LatencyConfig::default(),
        ewma: EwmaConfig::default(),
        outlier: None,
        http_response: Vec::new(),
    };
    let servers = weights
        .iter()
        .enumerate()
        .map(|(i, w)| (server_spec(i, *w, maxconn), None))
        .collect();
    Backend::with_selectors(spec, servers, selectors)
}

/// The key the proxy would hash for request number `i` of a client
/// population under `balance` (`None` for algorithms that do not hash):
/// client IP `10.x.y.z`, path `/api/items/{i}`, `?id={i}`, `x-user: user-{i}`.
pub fn request_key(balance: &Balance, i: u32) -> Option<u64> {
    match balance {
        Balance::Source => Some(hash_bytes(&[10, (i >> 16) as u8, (i >> 8) as u8, i as u8])),
        Balance::Uri => Some(hash_bytes(format!("/api/items/{i}").as_bytes())),
        Balance::UrlParam(_) => Some(hash_bytes(i.to_string().as_bytes())),
        Balance::Hdr(_) => Some(hash_bytes(format!("user-{i}").as_bytes())),
        _ => None,
    }
}
