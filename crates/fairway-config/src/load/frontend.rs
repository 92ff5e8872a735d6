//! `frontends.NAME`: listeners, timeouts, ACLs and rules.

use super::mode;
use super::node::{Entry, Item, Loader, Pos, Text};
use crate::{FrontendConfig, Mode};
use fairway_acl::{
    Acl, AclError, AclSet, EncodedSlashes, Fetch, Guard, HttpAction, HttpRule, PathParams,
    TcpAction, TcpRule, UseBackend,
};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

const KEYS: &[&str] = &[
    "bind",
    "mode",
    "tls",
    "accept_proxy",
    "h2c",
    "compression",
    "timeout_client",
    "timeout_http_request",
    "normalize_path",
    "encoded_slashes",
    "path_params",
    "forwardfor",
    "acl",
    "http_request",
    "http_response",
    "unique_id_header",
    "tcp_request",
    "inspect_delay",
    "use_backend",
    "default_backend",
];
const LATER: &[&str] = &[];
/// Keys that only `mode: http` frontends take.
const HTTP_ONLY: &[&str] = &[
    "h2c",
    "compression",
    "timeout_http_request",
    "normalize_path",
    "encoded_slashes",
    "path_params",
    "forwardfor",
    "http_request",
    "http_response",
    "unique_id_header",
];
/// Keys that only `mode: tcp` frontends take.
const TCP_ONLY: &[&str] = &["tcp_request", "inspect_delay"];

/// A reference to a backend by name, for the cross-reference checks.
pub(crate) struct BackendRef {
    pub name: String,
    pub pos: Option<Pos>,
    pub path: String,
}

/// A bound address and where it was written.
pub(crate) struct Bind {
    pub addr: SocketAddr,
    pub pos: Option<Pos>,
    pub path: String,
}

/// A parsed frontend with what the cross-reference checks need.
pub(crate) struct Parsed {
    pub frontend: FrontendConfig,
    pub binds: Vec<Bind>,
    pub refs: Vec<BackendRef>,
}

/// Parses one entry of `frontends`.
pub(crate) fn parse(cx: &mut Loader<'_>, entry: &Entry<'_>) -> Parsed {
    cx.check_name(entry);
    let mut f = cx.fields(&entry.item, KEYS, LATER);
    let mut frontend = FrontendConfig {
        name: entry.key.to_string(),
        bind: Vec::new(),
        mode: Mode::Http,
        tls: None,
        accept_proxy: false,
        h2c: false,
        compression: None,
        timeout_client: Duration::from_secs(60),
        timeout_http_request: Duration::from_secs(10),
        normalize_path: true,
        encoded_slashes: EncodedSlashes::Reject,
        path_params: PathParams::Match,
        forwardfor: true,
        acls: AclSet::with_fetches(cx.options.fetch_registry()),
        http_request: Vec::new(),
        http_response: Vec::new(),
        unique_id_header: None,
        tcp_request: Vec::new(),
        inspect_delay: Duration::from_secs(5),
        use_backend: Vec::new(),
        default_backend: None,
    };
    let mut binds = Vec::new();
    let mut refs = Vec::new();

    match f.take("bind") {
        Some(e) => binds = parse_binds(cx, &e),
        None => cx.error(
            entry.key_pos,
            &entry.item.path,
            "missing required key `bind`",
        ),
    }
    frontend.bind = binds.iter().map(|b| b.addr).collect();
    if let Some(e) = f.take("mode") {
        frontend.mode = mode(cx, &e.item).unwrap_or_default();
    }
    let other_mode = match frontend.mode {
        Mode::Http => (TCP_ONLY, "tcp", "http"),
        Mode::Tcp => (HTTP_ONLY, "http", "tcp"),
    };
    for key in other_mode.0 {
        if let Some(e) = f.take(key) {
            let (needs, has) = (other_mode.1, other_mode.2);
            let hint = match *key {
                "tcp_request" => " (http frontends filter with `http_request`)",
                "http_request" => " (tcp frontends filter with `tcp_request`)",
                _ => "",
            };
            cx.error(
                e.key_pos,
                &e.item.path,
                format!("`{key}` needs `mode: {needs}`, but this frontend has mode {has}{hint}"),
            );
        }
    }
    if let Some(e) = f.take("tls") {
        frontend.tls = super::tls::frontend(cx, &e);
    }
    if let Some(e) = f.take("accept_proxy") {
        frontend.accept_proxy = cx.boolean(&e.item).unwrap_or(false);
        if frontend.accept_proxy && frontend.tls.is_some() {
            cx.error(
                e.key_pos,
                &e.item.path,
                "`accept_proxy` cannot be combined with `tls`: the PROXY header comes \
                 before the TLS handshake, which the listener does first (terminate TLS \
                 in front of fairway, or use `mode: tcp` without `tls` to pass it through)",
            );
        }
    }
    if let Some(e) = f.take("h2c") {
        frontend.h2c = cx.boolean(&e.item).unwrap_or(false);
        if frontend.h2c && frontend.tls.is_some() {
            cx.error(
                e.key_pos,
                &e.item.path,
                "`h2c` is cleartext HTTP/2: a `tls` frontend already offers HTTP/2 \
                 through ALPN (remove `h2c`)",
            );
        }
    }
    if let Some(e) = f.take("compression") {
        frontend.compression = super::compression::parse(cx, &e);
    }
    if let Some(e) = f.take("timeout_client") {
        frontend.timeout_client = cx.timeout(&e.item).unwrap_or(frontend.timeout_client);
    }
    if let Some(e) = f.take("timeout_http_request") {
        frontend.timeout_http_request =
            cx.timeout(&e.item).unwrap_or(frontend.timeout_http_request);
    }
    if let Some(e) = f.take("normalize_path") {
        frontend.normalize_path = cx.boolean(&e.item).unwrap_or(true);
    }
    if let Some(e) = f.take("encoded_slashes") {
        let choices = [
            ("reject", EncodedSlashes::Reject),
            ("decode", EncodedSlashes::Decode),
            ("keep", EncodedSlashes::Keep),
        ];
        frontend.encoded_slashes = cx
            .choice(&e.item, "encoded_slashes value", &choices)
            .unwrap_or_default();
    }
    if let Some(e) = f.take("path_params") {
        let choices = [("match", PathParams::Match), ("keep", PathParams::Keep)];
        frontend.path_params = cx
            .choice(&e.item, "path_params value", &choices)
            .unwrap_or_default();
    }
    if let Some(e) = f.take("forwardfor") {
        frontend.forwardfor = cx.boolean(&e.item).unwrap_or(true);
    }
    if let Some(e) = f.take("inspect_delay") {
        frontend.inspect_delay = cx.timeout(&e.item).unwrap_or(frontend.inspect_delay);
    }
    // ACLs first, whatever the key order in the file: the rules refer to them.
    if let Some(e) = f.take("acl") {
        frontend.acls = parse_acls(cx, &e.item, frontend.mode);
    }
    let mut rules_ok = true;
    if let Some(e) = f.take("http_request") {
        for item in cx.list(&e.item).unwrap_or_default() {
            match line(cx, &item, |s| HttpRule::parse(s, &frontend.acls)) {
                Some(rule) => {
                    check_guard(cx, &item, rule.guard.as_ref(), &frontend);
                    frontend.http_request.push(rule);
                }
                None => rules_ok = false,
            }
        }
    }
    if let Some(e) = f.take("http_response") {
        frontend.http_response = response_rules(cx, &e.item, &frontend.acls);
    }
    if let Some(e) = f.take("unique_id_header") {
        if let Some(text) = cx.text(&e.item) {
            if fairway_acl::is_header_name(&text.value) {
                frontend.unique_id_header = Some(text.value.to_ascii_lowercase());
            } else {
                let msg = format!("invalid header name `{}`", text.value.escape_debug());
                cx.error(e.item.pos, &e.item.path, msg);
            }
        }
    }
    if let Some(e) = f.take("tcp_request") {
        for item in cx.list(&e.item).unwrap_or_default() {
            match line(cx, &item, |s| TcpRule::parse(s, &frontend.acls)) {
                Some(rule) => {
                    check_guard(cx, &item, rule.guard.as_ref(), &frontend);
                    frontend.tcp_request.push(rule);
                }
                None => rules_ok = false,
            }
        }
    }
    if let Some(e) = f.take("use_backend") {
        for item in cx.list(&e.item).unwrap_or_default() {
            let Some(text) = cx.text(&item) else {
                rules_ok = false;
                continue;
            };
            match UseBackend::parse(&text.value, &frontend.acls) {
                Ok(ub) => {
                    check_guard(cx, &item, ub.guard.as_ref(), &frontend);
                    let pos = cx.pos_in(&text, ub.backend_offset);
                    refs.push(BackendRef {
                        name: ub.backend.clone(),
                        pos,
                        path: item.path.clone(),
                    });
                    frontend.use_backend.push(ub);
                }
                Err(err) => {
                    acl_error(cx, &item, &text, err);
                    rules_ok = false;
                }
            }
        }
    }
    if let Some(e) = f.take("default_backend") {
        if let Some(text) = cx.text(&e.item) {
            refs.push(BackendRef {
                name: text.value.clone(),
                pos: e.item.pos,
                path: e.item.path.clone(),
            });
            frontend.default_backend = Some(text.value);
        } else {
            rules_ok = false;
        }
    }
    if rules_ok && frontend.default_backend.is_none() && !answers_everything(&frontend) {
        let msg = "missing `default_backend` (required unless an unconditional \
                   `use_backend` or `http_request` rule handles every request)";
        cx.error(entry.key_pos, &entry.item.path, msg);
    }
    Parsed {
        frontend,
        binds,
        refs,
    }
}

/// The name of a fetch in messages about modes.
fn fetch_name(fetch: &Fetch) -> &str {
    match fetch {
        Fetch::Custom(c) => c.name(),
        Fetch::Path => "path",
        Fetch::Url => "url",
        Fetch::Query => "query",
        Fetch::UrlParam(_) => "url_param",
        Fetch::Method => "method",
        Fetch::Header(_) => "hdr",
        Fetch::Host => "host",
        Fetch::Src => "src",
        Fetch::ReqSslSni => "req_ssl_sni",
        Fetch::SrcHttpReqRate(_) => "src_http_req_rate",
        Fetch::Status => "status",
        Fetch::ResHeader(_) => "res.hdr",
        _ => "this fetch",
    }
}

/// Why `acl` cannot be used in a frontend of `mode`, if it cannot.
fn mode_problem(acl: &Acl, mode: Mode) -> Option<String> {
    let fetch = acl.fetch();
    match mode {
        Mode::Tcp if fetch.is_http() => Some(format!(
            "`{}` needs `mode: http` (a tcp frontend can use `src` and `req_ssl_sni`)",
            fetch_name(fetch)
        )),
        Mode::Http if *fetch == Fetch::ReqSslSni => Some(
            "`req_ssl_sni` needs `mode: tcp` (it reads the ClientHello of TLS passthrough)"
                .to_string(),
        ),
        _ => None,
    }
}

/// Reports the anonymous ACLs of a rule's condition that the frontend's
/// mode cannot evaluate (named ones are reported where they are defined).
fn check_guard(cx: &mut Loader<'_>, item: &Item<'_>, guard: Option<&Guard>, f: &FrontendConfig) {
    let Some(guard) = guard else { return };
    let named: Vec<*const Acl> = f
        .acls
        .names()
        .filter_map(|n| f.acls.get(n))
        .map(std::sync::Arc::as_ptr)
        .collect();
    for acl in guard.cond.acls() {
        if named.contains(&(acl as *const Acl)) {
            continue;
        }
        if let Some(msg) = mode_problem(acl, f.mode) {
            cx.error(item.pos, &item.path, msg);
        }
    }
}

/// `http_response` rules (of a frontend, or of a backend with no ACLs of
/// its own: `acls` then holds only the fetches).
pub(crate) fn response_rules(cx: &mut Loader<'_>, item: &Item<'_>, acls: &AclSet) -> Vec<HttpRule> {
    let mut rules = Vec::new();
    for item in cx.list(item).unwrap_or_default() {
        if let Some(rule) = line(cx, &item, |s| HttpRule::parse_response(s, acls)) {
            rules.push(rule);
        }
    }
    rules
}

/// Whether every request is routed or answered without `default_backend`.
fn answers_everything(f: &FrontendConfig) -> bool {
    let answers = |r: &HttpRule| {
        r.guard.is_none()
            && matches!(
                r.action,
                HttpAction::Deny { .. }
                    | HttpAction::Return { .. }
                    | HttpAction::RedirectLocation { .. }
                    | HttpAction::RedirectScheme { .. }
            )
    };
    let rejects = |r: &TcpRule| r.guard.is_none() && r.action == TcpAction::Reject;
    f.http_request.iter().any(answers)
        || f.tcp_request.iter().any(rejects)
        || f.use_backend.iter().any(|u| u.guard.is_none())
}

/// `bind`: one address or a list of them, at least one.
fn parse_binds(cx: &mut Loader<'_>, e: &Entry<'_>) -> Vec<Bind> {
    let items = match e.item.node {
        marked_yaml::Node::Sequence(_) => {
            let items = cx.list(&e.item).unwrap_or_default();
            if items.is_empty() {
                cx.error(e.item.pos, &e.item.path, "at least one address is required");
            }
            items
        }
        _ => vec![e.item.clone()],
    };
    let mut binds = Vec::new();
    for item in items {
        let Some(text) = cx.text(&item) else { continue };
        match bind_addr(&text.value) {
            Ok(addr) => binds.push(Bind {
                addr,
                pos: item.pos,
                path: item.path,
            }),
            Err(msg) => cx.error(item.pos, &item.path, msg),
        }
    }
    binds
}

/// Parses `ip:port`, `[v6]:port`, `*:port` or `:port` (all interfaces).
pub(crate) fn bind_addr(s: &str) -> Result<SocketAddr, String> {
    let invalid =
        || format!("invalid bind address `{s}` (expected ip:port, [ipv6]:port, *:port or :port)");
    let addr = if let Some(port) = s.strip_prefix("*:").or_else(|| s.strip_prefix(':')) {
        let port = port.parse::<u16>().map_err(|_| invalid())?;
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)
    } else {
        s.parse::<SocketAddr>().map_err(|_| invalid())?
    };
    if addr.port() == 0 {
        return Err(format!(
            "invalid port in bind address `{s}` (expected 1 to 65535)"
        ));
    }
    Ok(addr)
}

/// `acl`: name -> ACL line, in file order. An ACL whose fetch the
/// frontend's `mode` cannot evaluate is an error.
fn parse_acls(cx: &mut Loader<'_>, item: &Item<'_>, mode: Mode) -> AclSet {
    let mut acls = AclSet::with_fetches(cx.options.fetch_registry());
    for e in cx.entries(item).unwrap_or_default() {
        let acl = match cx.text(&e.item) {
            Some(text) => match acls.parse(&text.value) {
                Ok(acl) => {
                    if let Some(msg) = mode_problem(&acl, mode) {
                        cx.error(e.item.pos, &e.item.path, msg);
                    }
                    Some(acl)
                }
                Err(err) => {
                    acl_error(cx, &e.item, &text, err);
                    None
                }
            },
            None => None,
        };
        match acl {
            Some(acl) => {
                if let Err(err) = acls.insert(e.key, acl) {
                    cx.error(e.key_pos, &e.item.path, err.message);
                }
            }
            // Define the name anyway, so that rules using it do not report
            // it as unknown on top of the error already reported.
            None => {
                if let Ok(placeholder) = Acl::parse("path /") {
                    let _ = acls.insert(e.key, placeholder);
                }
            }
        }
    }
    acls
}

/// Reads a string item and parses it with `parse`, reporting its error.
fn line<T>(
    cx: &mut Loader<'_>,
    item: &Item<'_>,
    parse: impl FnOnce(&str) -> Result<T, AclError>,
) -> Option<T> {
    let text = cx.text(item)?;
    match parse(&text.value) {
        Ok(v) => Some(v),
        Err(err) => {
            acl_error(cx, item, &text, err);
            None
        }
    }
}

/// Reports an ACL-language error at its column inside the YAML value.
fn acl_error(cx: &mut Loader<'_>, item: &Item<'_>, text: &Text, err: AclError) {
    let pos = cx.pos_in(text, err.offset);
    cx.error(pos, &item.path, err.message);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_forms() {
        assert_eq!(
            bind_addr("127.0.0.1:8080").unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(
            bind_addr("[::1]:443").unwrap(),
            "[::1]:443".parse().unwrap()
        );
        assert_eq!(bind_addr("*:80").unwrap(), "0.0.0.0:80".parse().unwrap());
        assert_eq!(bind_addr(":80").unwrap(), "0.0.0.0:80".parse().unwrap());
        assert_eq!(
            bind_addr("0.0.0.0:80").unwrap(),
            "0.0.0.0:80".parse().unwrap()
        );
    }

    #[test]
    fn bad_binds() {
        for bad in [
            "",
            "8080",
            "localhost:80",
            "1.2.3.4",
            "1.2.3.4:",
            "1.2.3.4:70000",
            "::1:80",
            "*:",
            ":x",
            "*:0",
        ] {
            assert!(bind_addr(bad).is_err(), "{bad}");
        }
        assert!(bind_addr(":0")
            .unwrap_err()
            .contains("invalid port in bind address `:0`"));
    }
}
