//! fairway's configuration file: YAML in, a validated [`Config`] out.
//!
//! This crate never depends on Pingora: `fairway -t` validates a file with it
//! alone. Loading reports **every** error at once, each as
//! `file:line:col: path: message` (see [`ConfigError`]).
//!
//! ```
//! let yaml = r#"
//! frontends:
//!   web:
//!     bind: ["127.0.0.1:8080"]
//!     acl:
//!       lightwork: path_end -i /lightwork
//!     http_request:
//!       - deny if { path -i -m beg /admin }
//!     use_backend:
//!       - light if lightwork
//!     default_backend: servers
//! backends:
//!   light:
//!     servers: { s1: { addr: 127.0.0.1:8001 } }
//!   servers:
//!     servers: { s1: { addr: 127.0.0.1:8001 }, s2: { addr: 127.0.0.1:8002, weight: 3 } }
//! "#;
//! let config = fairway_config::Config::from_yaml_str(yaml, "inline.yaml").unwrap();
//! assert_eq!(config.frontends[0].name, "web");
//! assert_eq!(config.backends[1].servers[1].weight, 3);
//! ```

#![deny(missing_docs)]

mod compression;
mod dns;
mod error;
mod load;
mod log_format;
mod options;
mod outlier;
mod retry;
mod reuse;
mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use compression::{Coding, Compression};
pub use dns::{Dns, Lookup};
pub use error::{ConfigError, Diagnostic};
pub use fairway_acl::{AclSet, Fetches, HttpAction, HttpRule, TcpAction, TcpRule, UseBackend};
pub use log_format::{LogFormat, LogPart, LogVar};
pub use options::{Algorithms, LoadOptions};
pub use outlier::{MaxEjected, Outlier};
pub use retry::{RetryBudget, RetryCondition, RetryOn};
pub use reuse::HttpReuse;
pub use rustls_pki_types::{CertificateDer, PrivateKeyDer};
pub use tls::{CaFile, Tls, TlsCert, UpstreamTls};

/// A complete, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `global` section.
    pub global: Global,
    /// The `admin` section: stats page, metrics, runtime API and socket.
    pub admin: Option<Admin>,
    /// Frontends in file order.
    pub frontends: Vec<FrontendConfig>,
    /// Backends in file order.
    pub backends: Vec<BackendConfig>,
    /// The file the config came from (`None` when loaded from a string).
    pub path: Option<PathBuf>,
}

impl Config {
    /// Reads and validates a config file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        Config::from_file_with(path, &LoadOptions::default())
    }

    /// As [`Config::from_file`], with `${VAR}` looked up through `env`
    /// instead of the process environment.
    pub fn from_file_with_env(
        path: impl AsRef<Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        load::from_file(path.as_ref(), env, &LoadOptions::default())
    }

    /// As [`Config::from_file`], with the fetches, balance algorithms and
    /// environment of `options`.
    pub fn from_file_with(
        path: impl AsRef<Path>,
        options: &LoadOptions,
    ) -> Result<Config, ConfigError> {
        load::from_file(path.as_ref(), &|k| options.var(k), options)
    }

    /// Validates YAML text; `source_name` is used in error messages.
    /// `${VAR}` is taken from the process environment.
    pub fn from_yaml_str(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        Config::from_yaml_str_with(text, source_name, &LoadOptions::default())
    }

    /// As [`Config::from_yaml_str`], with `${VAR}` looked up through `env`.
    pub fn from_yaml_str_with_env(
        text: &str,
        source_name: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        load::from_str_with(text, source_name, env, &LoadOptions::default())
    }

    /// As [`Config::from_yaml_str`], with the fetches, balance algorithms
    /// and environment of `options`.
    pub fn from_yaml_str_with(
        text: &str,
        source_name: &str,
        options: &LoadOptions,
    ) -> Result<Config, ConfigError> {
        load::from_str_with(text, source_name, &|k| options.var(k), options)
    }

    /// The backend named `name`.
    pub fn backend(&self, name: &str) -> Option<&BackendConfig> {
        self.backends.iter().find(|b| b.name == name)
    }

    /// The index of the backend named `name` in [`Config::backends`].
    pub fn backend_index(&self, name: &str) -> Option<usize> {
        self.backends.iter().position(|b| b.name == name)
    }
}

/// The `global` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Global {
    /// Worker threads per service; `None`: the number of cores.
    pub threads: Option<usize>,
    /// Drain time on shutdown and upgrade (default 10 s).
    pub grace_period: Duration,
    /// PID file (default `/tmp/fairway.pid`).
    pub pid_file: PathBuf,
    /// Socket for graceful upgrade (default `/tmp/fairway_upgrade.sock`).
    pub upgrade_sock: PathBuf,
    /// Log level (default info).
    pub log_level: LogLevel,
    /// One access-log line per request (default false).
    pub access_log: bool,
    /// How access-log lines are written (default `fairway`).
    pub access_log_format: LogFormat,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            threads: None,
            grace_period: Duration::from_secs(10),
            pid_file: PathBuf::from("/tmp/fairway.pid"),
            upgrade_sock: PathBuf::from("/tmp/fairway_upgrade.sock"),
            log_level: LogLevel::Info,
            access_log: false,
            access_log_format: LogFormat::Fairway,
        }
    }
}

/// The `admin` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    /// Where the admin HTTP listener binds; `None` runs the runtime socket
    /// alone (HAProxy's `stats socket` without a stats page).
    pub bind: Option<SocketAddr>,
    /// HTTP basic auth for every admin path.
    pub auth: Option<AdminAuth>,
    /// HAProxy-compatible runtime socket (a Unix socket, mode 0600).
    pub socket: Option<PathBuf>,
}

/// `admin.auth`.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminAuth {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAuth")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// `global.log_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// `error`
    Error,
    /// `warn`
    Warn,
    /// `info`
    Info,
    /// `debug`
    Debug,
    /// `trace`
    Trace,
}

impl LogLevel {
    /// The level's name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// `mode` of a frontend or backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Layer 7 (default).
    #[default]
    Http,
    /// Layer 4.
    Tcp,
}

/// The protocol spoken to a server (`proto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Proto {
    /// HTTP/1.1 (default), over TLS with `tls: true`.
    #[default]
    H1,
    /// HTTP/2 over TLS (ALPN `h2`); needs `tls: true`.
    H2,
    /// HTTP/2 in cleartext, with prior knowledge (gRPC servers).
    H2c,
}

/// The PROXY protocol version a server is sent (`send_proxy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyVersion {
    /// The text header (`PROXY TCP4 ...`).
    V1,
    /// The binary header.
    V2,
}

/// One entry of `frontends`.
#[derive(Debug, Clone)]
pub struct FrontendConfig {
    /// The frontend's name (its key in `frontends`).
    pub name: String,
    /// Listening addresses (`*:80` and `:80` mean `0.0.0.0:80`).
    pub bind: Vec<SocketAddr>,
    /// `http` or `tcp`.
    pub mode: Mode,
    /// TLS termination, if configured: listeners speak TLS with these
    /// certificates (ALPN h2 and http/1.1 in `mode: http`).
    pub tls: Option<Tls>,
    /// Every connection must start with a PROXY protocol header (v1 or v2,
    /// HAProxy's `accept-proxy`); the address it carries is the client's
    /// (`src`, logs, `X-Forwarded-For`, `balance source`, rate limits).
    /// A connection without a valid one is closed. Default false.
    pub accept_proxy: bool,
    /// Also accept cleartext HTTP/2 with prior knowledge (a connection
    /// that starts with the HTTP/2 preface) beside HTTP/1.x on the same
    /// listeners (`mode: http`, no `tls`). Default false.
    pub h2c: bool,
    /// Response compression (`mode: http`); none by default.
    pub compression: Option<Compression>,
    /// Idle client connection limit (default 60 s).
    pub timeout_client: Duration,
    /// The whole request head must arrive within this (default 10 s), else 408.
    pub timeout_http_request: Duration,
    /// Normalize request paths before rules see them (default true).
    pub normalize_path: bool,
    /// `encoded_slashes`: `%2F` and `%5C` in a path are refused with `400`
    /// (`reject`, the default), decoded to `/` (`decode`) or kept as data
    /// (`keep`, HAProxy's way).
    pub encoded_slashes: fairway_acl::EncodedSlashes,
    /// `path_params`: the rules see `/a;x/b` as `/a/b` (`match`, the
    /// default; the server gets the path unchanged) or as it is (`keep`).
    pub path_params: fairway_acl::PathParams,
    /// Add `X-Forwarded-For` / `X-Forwarded-Proto` (default true).
    pub forwardfor: bool,
    /// Named ACLs.
    pub acls: AclSet,
    /// `http_request` rules in order (`mode: http`).
    pub http_request: Vec<HttpRule>,
    /// `http_response` rules in order, run after the backend's.
    pub http_response: Vec<HttpRule>,
    /// `unique_id_header`: each request gets a unique ID in this header
    /// (kept when the client sent one), logged and returned in the response.
    pub unique_id_header: Option<String>,
    /// `tcp_request` rules in order (`mode: tcp`): the first that applies
    /// accepts or rejects the connection; none applying accepts it.
    pub tcp_request: Vec<TcpRule>,
    /// How long a `mode: tcp` frontend whose rules use `req_ssl_sni` waits
    /// for the client's TLS ClientHello (HAProxy's `tcp-request
    /// inspect-delay`; default 5 s). Without a complete ClientHello by then
    /// `req_ssl_sni` has no value.
    pub inspect_delay: Duration,
    /// `use_backend` lines in order; first match wins. Backend names are
    /// checked to exist.
    pub use_backend: Vec<UseBackend>,
    /// The backend when no `use_backend` line matches.
    pub default_backend: Option<String>,
}

impl FrontendConfig {
    /// Whether a rule or `use_backend` line of this frontend reads
    /// `req_ssl_sni` (so a `mode: tcp` frontend reads the ClientHello).
    pub fn uses_ssl_sni(&self) -> bool {
        let guards = self
            .tcp_request
            .iter()
            .filter_map(|r| r.guard.as_ref())
            .chain(self.use_backend.iter().filter_map(|u| u.guard.as_ref()));
        guards
            .flat_map(|g| g.cond.acls())
            .any(|a| *a.fetch() == fairway_acl::Fetch::ReqSslSni)
    }

    /// The distinct periods of the `src_http_req_rate(PERIOD)` fetches
    /// that this frontend's rules (conditions and `%[...]` values) and
    /// `use_backend` lines read, in order of first use (the proxy counts
    /// requests per period).
    pub fn rate_periods(&self) -> Vec<Duration> {
        let rules = self.http_request.iter().chain(&self.http_response);
        let guards = rules
            .clone()
            .filter_map(|r| r.guard.as_ref())
            .chain(self.use_backend.iter().filter_map(|u| u.guard.as_ref()));
        let in_guards = guards.flat_map(|g| g.cond.acls().map(|a| a.fetch()));
        let in_values = rules.flat_map(|r| r.action.values().flat_map(|v| v.fetches()));
        let mut periods = Vec::new();
        for period in in_guards.chain(in_values).filter_map(|f| f.rate_period()) {
            if !periods.contains(&period) {
                periods.push(period);
            }
        }
        periods
    }
}

/// One entry of `backends`.
#[derive(Debug, Clone)]
pub struct BackendConfig {
    /// The backend's name (its key in `backends`).
    pub name: String,
    /// `http` or `tcp`; must match every frontend that uses it. A `tcp`
    /// backend balances connections: `uri`, `url_param`, `hdr`, `ewma` and
    /// `cookie` need `http`.
    pub mode: Mode,
    /// The balance algorithm.
    pub balance: Balance,
    /// TCP connect timeout (default 5 s).
    pub timeout_connect: Duration,
    /// Inactivity timeout waiting for the server (default 60 s), else 504.
    pub timeout_server: Duration,
    /// Inactivity timeout of a tunnel, either way: an upgraded (WebSocket)
    /// HTTP connection, or a `mode: tcp` connection, instead of
    /// `timeout_server` and the frontend's `timeout_client` (HAProxy's
    /// `timeout tunnel`). Unset: those two apply.
    pub timeout_tunnel: Option<Duration>,
    /// Connection-failure retries (default 2).
    pub retries: u32,
    /// How idle server connections are shared between client connections
    /// (HAProxy's `http-reuse`; default `safe`).
    pub http_reuse: HttpReuse,
    /// `http_response` rules in order, run before the frontend's.
    pub http_response: Vec<HttpRule>,
    /// Retry on another server (default true).
    pub redispatch: bool,
    /// The failures that are retried, up to `retries` times (default:
    /// connection failures). Responses are retried only for requests that
    /// are safe to resend: GET, HEAD, OPTIONS, PUT, DELETE, or a body
    /// fully buffered (at most 16 KiB); never once a response byte reached
    /// the client.
    pub retry_on: RetryOn,
    /// The share of the backend's requests that retries may add; `None`:
    /// only `retries` limits them.
    pub retry_budget: Option<RetryBudget>,
    /// How long a request may wait for a server slot (`maxconn`) before 503
    /// (default: `timeout_connect`).
    pub timeout_queue: Duration,
    /// Cookie stickiness, if configured.
    pub cookie: Option<Cookie>,
    /// Active health checks; `None`: servers are always up.
    pub health_check: Option<HealthCheck>,
    /// `latency` settings (used with `balance: latency`).
    pub latency: LatencyConfig,
    /// `ewma` settings (used with `balance: ewma`).
    pub ewma: EwmaConfig,
    /// Passive outlier ejection from real traffic; `None`: off.
    pub outlier: Option<Outlier>,
    /// Servers discovered from etcd or a watched file, added to `servers`.
    pub discovery: Option<Discovery>,
    /// Re-resolution of the servers' host names while running; `None`:
    /// names are resolved once, at load.
    pub dns: Option<Dns>,
    /// Servers in file order.
    pub servers: Vec<ServerConfig>,
}

/// `balance` of a backend.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Balance {
    /// Smooth weighted round robin (default).
    #[default]
    RoundRobin,
    /// Fewest in-flight requests, weight-scaled; ties round robin.
    LeastConn,
    /// Consistent hash of the client IP.
    Source,
    /// Weighted power-of-two choices on in-flight requests.
    Random,
    /// First server (config order) with free capacity.
    First,
    /// Consistent hash of the path (query ignored).
    Uri,
    /// Consistent hash of one query parameter; round robin when absent.
    UrlParam(String),
    /// Consistent hash of one header (name lower case); round robin when absent.
    Hdr(String),
    /// Fastest server by health-check latency percentile (see [`LatencyConfig`]).
    Latency,
    /// Peak-EWMA of response latency with power of two choices (see [`EwmaConfig`]).
    Ewma,
    /// An algorithm registered by the embedding program (see
    /// [`LoadOptions::algorithms`]): `name` or `name(arg)`.
    Custom {
        /// The registered name.
        name: String,
        /// The argument, if one was written.
        arg: Option<String>,
    },
}

/// The largest server weight (HAProxy's): weights are `0..=MAX_WEIGHT`
/// in the config, the admin API, the runtime socket and the runtime.
pub const MAX_WEIGHT: u16 = 256;

/// Whether `name` is a valid name of a frontend, backend or server:
/// `[A-Za-z0-9_.-]+` (the config's rule, also applied to servers added at
/// run time and by discovery).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl Balance {
    /// The built-in algorithms that take no argument (`url_param` and
    /// `hdr` take one); their names are [`Balance::algorithm`]'s.
    pub const WITHOUT_ARG: [Balance; 8] = [
        Balance::RoundRobin,
        Balance::LeastConn,
        Balance::Source,
        Balance::Random,
        Balance::First,
        Balance::Uri,
        Balance::Latency,
        Balance::Ewma,
    ];

    /// The name as written in the config: the algorithm, with its argument
    /// in parentheses if it has one.
    pub fn name(&self) -> String {
        match self.arg() {
            Some(arg) => format!("{}({arg})", self.algorithm()),
            None => self.algorithm().to_string(),
        }
    }

    /// The name the algorithm is registered under, without argument:
    /// `url_param` for `url_param(id)`.
    pub fn algorithm(&self) -> &str {
        match self {
            Balance::RoundRobin => "roundrobin",
            Balance::LeastConn => "leastconn",
            Balance::Source => "source",
            Balance::Random => "random",
            Balance::First => "first",
            Balance::Uri => "uri",
            Balance::UrlParam(_) => "url_param",
            Balance::Hdr(_) => "hdr",
            Balance::Latency => "latency",
            Balance::Ewma => "ewma",
            Balance::Custom { name, .. } => name,
        }
    }

    /// The argument: `id` for `url_param(id)`; `None` for algorithms
    /// without one.
    pub fn arg(&self) -> Option<&str> {
        match self {
            Balance::UrlParam(a) | Balance::Hdr(a) => Some(a),
            Balance::Custom { arg, .. } => arg.as_deref(),
            _ => None,
        }
    }
}

/// `latency` settings of a backend with `balance: latency` (seeds 000/001).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyConfig {
    /// Which percentile of the recent check round-trip times ranks servers (default 90).
    pub percentile: u8,
    /// How many round-trip times are kept per server (default 20).
    pub window: usize,
    /// How often weights are recomputed (default 5 s).
    pub interval: Duration,
    /// Weight of the fastest up server (default 256).
    pub primary_weight: u16,
    /// Weight of the second fastest (default 1); all others get 0.
    pub backup_weight: u16,
}

impl Default for LatencyConfig {
    fn default() -> Self {
        LatencyConfig {
            percentile: 90,
            window: 20,
            interval: Duration::from_secs(5),
            primary_weight: 256,
            backup_weight: 1,
        }
    }
}

/// `ewma` settings of a backend with `balance: ewma`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EwmaConfig {
    /// How fast old observations fade (default 10 s).
    pub decay: Duration,
    /// The estimate of a server without observations (default 30 ms).
    pub default_rtt: Duration,
}

impl Default for EwmaConfig {
    fn default() -> Self {
        EwmaConfig {
            decay: Duration::from_secs(10),
            default_rtt: Duration::from_millis(30),
        }
    }
}

/// `discovery` of a backend: where more servers come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The source.
    pub source: DiscoverySource,
    /// Poll (file) or full resync (etcd) period; etcd changes also apply at
    /// once through a watch (default 5 s).
    pub interval: Duration,
}

/// Where discovered servers come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoverySource {
    /// Keys `PREFIX/NAME` with values `ip:port` or `ip:port weight` (seed 004).
    Etcd(EtcdDiscovery),
    /// A file of `name: addr` (YAML) or `name addr [weight]` lines.
    File(PathBuf),
}

/// `discovery.etcd`.
#[derive(Clone, PartialEq, Eq)]
pub struct EtcdDiscovery {
    /// etcd endpoints, e.g. `http://127.0.0.1:2379` (`https://` for TLS).
    pub endpoints: Vec<String>,
    /// Key prefix; the rest of each key is the server name.
    pub prefix: String,
    /// User for etcd authentication.
    pub user: Option<String>,
    /// Password for etcd authentication.
    pub password: Option<String>,
    /// CA certificate to verify `https://` endpoints with (default: system roots).
    pub ca: Option<PathBuf>,
}

impl std::fmt::Debug for EtcdDiscovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdDiscovery")
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.prefix)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("ca", &self.ca)
            .finish()
    }
}

/// A discovered server value: `ip:port` or `ip:port weight` (weight 0..=256).
pub fn parse_server_value(value: &str) -> Result<(SocketAddr, Option<u16>), String> {
    let mut words = value.split_whitespace();
    let addr = words
        .next()
        .ok_or_else(|| "empty value (expected ip:port [weight])".to_string())?;
    let addr: SocketAddr = addr
        .parse()
        .map_err(|_| format!("invalid address `{addr}` (expected ip:port [weight])"))?;
    if addr.port() == 0 {
        return Err(format!("invalid port in `{addr}`"));
    }
    let weight = match words.next() {
        None => None,
        Some(w) => Some(
            w.parse::<u16>()
                .ok()
                .filter(|w| *w <= 256)
                .ok_or_else(|| format!("invalid weight `{w}` (expected 0 to 256)"))?,
        ),
    };
    if let Some(extra) = words.next() {
        return Err(format!("unexpected `{extra}` (expected ip:port [weight])"));
    }
    Ok((addr, weight))
}

/// Parses a discovery file: a YAML mapping `name: "ip:port [weight]"`, or
/// plain lines `name ip:port [weight]` (`#` starts a comment). Returns the
/// entries whose values parse and, separately, a message per bad entry; a
/// file that is neither form, or has bad entries only, is an error (the
/// caller keeps its old set).
#[allow(clippy::type_complexity)]
pub fn parse_servers_file(
    text: &str,
) -> Result<(Vec<(String, SocketAddr, Option<u16>)>, Vec<String>), String> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    let push = |good: &mut Vec<_>, bad: &mut Vec<String>, name: &str, value: &str| {
        if !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            match parse_server_value(value) {
                Ok((addr, weight)) => good.push((name.to_string(), addr, weight)),
                Err(e) => bad.push(format!("{name}: {e}")),
            }
        } else {
            bad.push(format!("invalid server name `{name}`"));
        }
    };
    let plain = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .all(|l| !l.contains(": ") && !l.ends_with(':') && l.split_whitespace().count() >= 2);
    if plain {
        for line in text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
        {
            let (name, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            push(&mut good, &mut bad, name, value.trim());
        }
        if good.is_empty() && !bad.is_empty() {
            return Err(format!("no valid entry: {}", bad.join("; ")));
        }
        return Ok((good, bad));
    }
    let doc: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| format!("not a YAML mapping of name: addr: {e}"))?;
    match doc {
        serde_yaml::Value::Mapping(map) => {
            for (k, v) in map {
                let name = match k {
                    serde_yaml::Value::String(s) => s,
                    other => format!("{other:?}"),
                };
                match v {
                    serde_yaml::Value::String(s) => push(&mut good, &mut bad, &name, &s),
                    other => bad.push(format!(
                        "{name}: expected a string `ip:port [weight]`, found {other:?}"
                    )),
                }
            }
            Ok((good, bad))
        }
        serde_yaml::Value::Null => Ok((good, bad)),
        _ => Err("not a YAML mapping of name: addr".to_string()),
    }
}

/// `cookie` stickiness of a backend (HAProxy `cookie NAME insert indirect nocache`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    /// Cookie name, e.g. `SERVERID`.
    pub name: String,
    /// Only `insert` is supported: fairway sets the cookie on responses.
    pub mode: CookieMode,
    /// Remove the cookie from requests before forwarding them.
    pub indirect: bool,
    /// Mark responses that set the cookie as not cacheable.
    pub nocache: bool,
}

/// How the stickiness cookie is managed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CookieMode {
    /// fairway inserts `NAME=<server cookie>` into responses.
    Insert,
}

/// `health_check` of a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// `tcp` or `http`.
    pub kind: CheckKind,
    /// HTTP method (default `GET`).
    pub method: String,
    /// HTTP path (default `/`).
    pub path: String,
    /// Host header (default: the server's address).
    pub host: Option<String>,
    /// Accepted status codes, inclusive (default 200-399).
    pub expect_status: (u16, u16),
    /// Time between checks (default 2 s).
    pub interval: Duration,
    /// Time a check may take (default 1 s).
    pub timeout: Duration,
    /// Consecutive successes to mark a server up (default 2).
    pub rise: u32,
    /// Consecutive failures to mark a server down (default 3).
    pub fall: u32,
}

/// What a health check does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    /// A TCP connect.
    Tcp,
    /// An HTTP request whose status must be in `expect_status`.
    Http,
}

/// One server of a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The server's name (its key in `servers`).
    pub name: String,
    /// The address as written (`host:port`, `ip:port`, or with `dns` also
    /// `_service._proto.name`).
    pub addr: String,
    /// The address resolved at load time; `None` for a host name of a
    /// backend with `dns`, which fairway resolves while it runs (see
    /// `lookup`).
    pub socket_addr: Option<SocketAddr>,
    /// In a backend with `dns`, what `addr` names (`None` for an `ip:port`).
    pub lookup: Option<Lookup>,
    /// Weight 0..=256 (default 1); 0 takes no new requests.
    pub weight: u16,
    /// Used only when no non-backup server is up.
    pub backup: bool,
    /// At most this many requests in flight; more wait in the queue.
    pub maxconn: Option<u32>,
    /// Value of the stickiness cookie for this server (default: its name).
    pub cookie: String,
    /// TLS to the server (`tls: true`), for traffic and health checks.
    pub tls: Option<UpstreamTls>,
    /// The HTTP version spoken to the server (`proto: h1|h2|h2c`).
    pub proto: Proto,
    /// A PROXY protocol header at the start of every connection to the
    /// server, carrying the client's address (`send_proxy: v1|v2`).
    pub send_proxy: Option<ProxyVersion>,
}
