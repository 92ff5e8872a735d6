//! `backends.NAME`: balance, timeouts, retries and servers.

use super::mode;
use super::node::{Entry, Item, Loader};
use crate::{
    BackendConfig, Balance, CheckKind, Cookie, CookieMode, Discovery, DiscoverySource,
    EtcdDiscovery, EwmaConfig, HealthCheck, HttpReuse, LatencyConfig, MaxEjected, Mode, Outlier,
    RetryBudget, RetryCondition, RetryOn,
};
use std::time::Duration;

const KEYS: &[&str] = &[
    "mode",
    "balance",
    "timeout_connect",
    "timeout_server",
    "timeout_tunnel",
    "retries",
    "redispatch",
    "http_reuse",
    "retry_on",
    "retry_budget",
    "http_response",
    "timeout_queue",
    "cookie",
    "health_check",
    "latency",
    "ewma",
    "outlier",
    "discovery",
    "dns",
    "servers",
];
const LATER: &[&str] = &[];
const DISCOVERY_KEYS: &[&str] = &["etcd", "file", "interval"];
const ETCD_KEYS: &[&str] = &["endpoints", "prefix", "user", "password", "ca"];
const FILE_KEYS: &[&str] = &["path"];
const LATENCY_KEYS: &[&str] = &[
    "percentile",
    "window",
    "interval",
    "primary_weight",
    "backup_weight",
];
const EWMA_KEYS: &[&str] = &["decay", "default_rtt"];
const OUTLIER_KEYS: &[&str] = &["consecutive_errors", "eject", "max_ejected"];

const COOKIE_KEYS: &[&str] = &["name", "mode", "indirect", "nocache"];
const CHECK_KEYS: &[&str] = &[
    "type",
    "method",
    "path",
    "host",
    "expect_status",
    "interval",
    "timeout",
    "rise",
    "fall",
];

/// Parses one entry of `backends`.
pub(crate) fn parse(cx: &mut Loader<'_>, entry: &Entry<'_>) -> BackendConfig {
    cx.check_name(entry);
    let mut f = cx.fields(&entry.item, KEYS, LATER);
    let mut backend = BackendConfig {
        name: entry.key.to_string(),
        mode: Mode::Http,
        balance: Balance::RoundRobin,
        timeout_connect: Duration::from_secs(5),
        timeout_server: Duration::from_secs(60),
        timeout_tunnel: None,
        retries: 2,
        http_reuse: HttpReuse::Safe,
        http_response: Vec::new(),
        redispatch: true,
        retry_on: RetryOn::default(),
        retry_budget: None,
        timeout_queue: Duration::ZERO,
        cookie: None,
        health_check: None,
        latency: LatencyConfig::default(),
        ewma: EwmaConfig::default(),
        outlier: None,
        discovery: None,
        dns: None,
        servers: Vec::new(),
    };
    let mut balance_pos = None;
    let mut timeout_queue = None;
    if let Some(e) = f.take("mode") {
        backend.mode = mode(cx, &e.item).unwrap_or_default();
    }
    if let Some(e) = f.take("balance") {
        backend.balance = balance(cx, &e.item).unwrap_or_default();
        if backend.mode == Mode::Tcp {
            let needs_http = match &backend.balance {
                Balance::Uri | Balance::UrlParam(_) | Balance::Hdr(_) | Balance::Ewma => {
                    Some(backend.balance.name())
                }
                _ => None,
            };
            if let Some(name) = needs_http {
                cx.error(
                    e.item.pos,
                    &e.item.path,
                    format!(
                        "balance `{name}` needs `mode: http` (a tcp backend can use \
                         roundrobin, leastconn, source, random, first or latency)"
                    ),
                );
            }
        }
        balance_pos = Some(e.item.clone());
    }
    if let Some(e) = f.take("timeout_connect") {
        backend.timeout_connect = cx.timeout(&e.item).unwrap_or(backend.timeout_connect);
    }
    if let Some(e) = f.take("timeout_tunnel") {
        backend.timeout_tunnel = cx.timeout(&e.item);
    }
    if let Some(e) = f.take("timeout_server") {
        backend.timeout_server = cx.timeout(&e.item).unwrap_or(backend.timeout_server);
    }
    if let Some(e) = f.take("http_response") {
        if backend.mode == Mode::Tcp {
            cx.error(
                e.key_pos,
                &e.item.path,
                "`http_response` needs `mode: http` (a tcp backend sees no HTTP response)",
            );
        }
        let acls = fairway_acl::AclSet::with_fetches(cx.options.fetch_registry());
        backend.http_response = super::frontend::response_rules(cx, &e.item, &acls);
    }
    if let Some(e) = f.take("retries") {
        backend.retries = cx
            .integer(&e.item, 0, 100)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(2);
    }
    if let Some(e) = f.take("redispatch") {
        backend.redispatch = cx.boolean(&e.item).unwrap_or(true);
    }
    if let Some(e) = f.take("http_reuse") {
        if backend.mode == Mode::Tcp {
            cx.error(
                e.key_pos,
                &e.item.path,
                "`http_reuse` needs `mode: http` (a tcp backend opens a connection per client)",
            );
        }
        let choices = [
            ("safe", HttpReuse::Safe),
            ("never", HttpReuse::Never),
            ("always", HttpReuse::Always),
        ];
        backend.http_reuse = cx
            .choice(&e.item, "http_reuse", &choices)
            .unwrap_or_default();
    }
    if let Some(e) = f.take("retry_on") {
        backend.retry_on = retry_on(cx, &e.item).unwrap_or_default();
    }
    if let Some(e) = f.take("retry_budget") {
        backend.retry_budget = retry_budget(cx, &e.item);
    }
    if let Some(e) = f.take("timeout_queue") {
        timeout_queue = cx.timeout(&e.item);
    }
    backend.timeout_queue = timeout_queue.unwrap_or(backend.timeout_connect);
    if let Some(e) = f.take("cookie") {
        if backend.mode == Mode::Tcp {
            cx.error(
                e.key_pos,
                &e.item.path,
                "`cookie` needs `mode: http` (a tcp backend can stick clients with `balance: source`)",
            );
        }
        backend.cookie = cookie(cx, &e.item);
    }
    if let Some(e) = f.take("health_check") {
        backend.health_check = health_check(cx, &e.item);
    }
    if let Some(e) = f.take("discovery") {
        backend.discovery = discovery(cx, &e);
    }
    if let Some(e) = f.take("latency") {
        if backend.balance != Balance::Latency {
            cx.error(
                e.key_pos,
                &e.item.path,
                "`latency` settings need `balance: latency`",
            );
        }
        if let Some(l) = latency(cx, &e.item) {
            backend.latency = l;
        }
    }
    if let Some(e) = f.take("ewma") {
        if backend.balance != Balance::Ewma {
            cx.error(
                e.key_pos,
                &e.item.path,
                "`ewma` settings need `balance: ewma`",
            );
        }
        if let Some(w) = ewma(cx, &e.item) {
            backend.ewma = w;
        }
    }
    if let Some(e) = f.take("outlier") {
        backend.outlier = outlier(cx, &e.item);
    }
    if let (Balance::Latency, None, Some(item)) =
        (&backend.balance, &backend.health_check, &balance_pos)
    {
        cx.error(
            item.pos,
            &item.path,
            "balance `latency` needs a `health_check`: it ranks servers by their check round-trip times",
        );
    }
    // Present but invalid still counts: its servers' names are not
    // resolved now either (one error, not one per server).
    let dns = f.take("dns");
    if let Some(e) = &dns {
        backend.dns = super::dns::parse(cx, &e.item);
    }
    if let Some(e) = f.take("servers") {
        for s in cx.entries(&e.item).unwrap_or_default() {
            if let Some(server) = super::server::parse(cx, &s, dns.is_some()) {
                backend.servers.push(server);
            }
        }
    }
    backend
}

/// `balance`: a name of SPEC §4, `url_param(NAME)`, `hdr(NAME)`, or an
/// algorithm registered in the load options (`name` or `name(ARG)`).
fn balance(cx: &mut Loader<'_>, item: &Item<'_>) -> Option<Balance> {
    let text = cx.text(item)?;
    let name = text.value.as_str();
    if let Some(b) = Balance::WITHOUT_ARG.iter().find(|b| b.algorithm() == name) {
        return Some(b.clone());
    }
    let arg = |prefix: &str| {
        name.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(')'))
            .filter(|arg| valid_token(arg))
    };
    if let Some(param) = arg("url_param(") {
        return Some(Balance::UrlParam(param.to_string()));
    }
    if let Some(header) = arg("hdr(") {
        return Some(Balance::Hdr(header.to_ascii_lowercase()));
    }
    let (algorithm, arg) = match name.split_once('(') {
        Some((n, rest)) => match rest.strip_suffix(')') {
            Some(a) if !a.contains(['(', ')']) => (n, Some(a)),
            _ => (name, None),
        },
        None => (name, None),
    };
    let builtin = Balance::WITHOUT_ARG
        .iter()
        .any(|b| b.algorithm() == algorithm)
        || matches!(algorithm, "url_param" | "hdr");
    match cx.options.check_algorithm(algorithm, arg) {
        Some(Ok(())) if !builtin => {
            return Some(Balance::Custom {
                name: algorithm.to_string(),
                arg: arg.map(str::to_string),
            })
        }
        Some(Err(msg)) if !builtin => {
            cx.error(item.pos, &item.path, msg);
            return None;
        }
        _ => {}
    }
    let msg = format!(
        "unknown balance algorithm `{name}` (registered: {})",
        cx.options.algorithm_listing()
    );
    cx.error(item.pos, &item.path, msg);
    None
}

/// `latency: { percentile, window, interval, primary_weight, backup_weight }`.
fn latency(cx: &mut Loader<'_>, item: &Item<'_>) -> Option<LatencyConfig> {
    let mut f = cx.fields(item, LATENCY_KEYS, &[]);
    let mut l = LatencyConfig::default();
    let mut ok = true;
    if let Some(e) = f.take("percentile") {
        ok &= cx
            .integer(&e.item, 1, 100)
            .map(|n| l.percentile = n as u8)
            .is_some();
    }
    if let Some(e) = f.take("window") {
        ok &= cx
            .integer(&e.item, 1, 10_000)
            .map(|n| l.window = n as usize)
            .is_some();
    }
    if let Some(e) = f.take("interval") {
        ok &= cx.timeout(&e.item).map(|d| l.interval = d).is_some();
    }
    if let Some(e) = f.take("primary_weight") {
        ok &= cx
            .integer(&e.item, 1, u64::from(crate::MAX_WEIGHT))
            .map(|n| l.primary_weight = n as u16)
            .is_some();
    }
    if let Some(e) = f.take("backup_weight") {
        match cx.integer(&e.item, 0, u64::from(crate::MAX_WEIGHT)) {
            Some(n) if n as u16 <= l.primary_weight => l.backup_weight = n as u16,
            Some(n) => {
                cx.error(
                    e.item.pos,
                    &e.item.path,
                    format!(
                        "backup_weight {n} is above primary_weight {}",
                        l.primary_weight
                    ),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    ok.then_some(l)
}

/// `discovery: { etcd: {...} | file: { path }, interval }`.
fn discovery(cx: &mut Loader<'_>, entry: &Entry<'_>) -> Option<Discovery> {
    let mut f = cx.fields(&entry.item, DISCOVERY_KEYS, &[]);
    let interval = match f.take("interval") {
        Some(e) => cx.timeout(&e.item),
        None => Some(Duration::from_secs(5)),
    };
    let source = match (f.take("etcd"), f.take("file")) {
        (Some(e), None) => etcd(cx, &e.item).map(DiscoverySource::Etcd),
        (None, Some(e)) => {
            let mut ff = cx.fields(&e.item, FILE_KEYS, &[]);
            match ff.take("path") {
                Some(p) => cx
                    .nonempty(&p.item)
                    .map(|s| DiscoverySource::File(s.into())),
                None => {
                    cx.error(e.key_pos, &e.item.path, "missing required key `path`");
                    None
                }
            }
        }
        (Some(_), Some(e)) => {
            cx.error(
                e.key_pos,
                &e.item.path,
                "give either `etcd` or `file`, not both",
            );
            None
        }
        (None, None) => {
            cx.error(entry.key_pos, &entry.item.path, "missing `etcd` or `file`");
            None
        }
    };
    Some(Discovery {
        source: source?,
        interval: interval?,
    })
}

/// `etcd: { endpoints, prefix, user, password, ca }`.
fn etcd(cx: &mut Loader<'_>, item: &Item<'_>) -> Option<EtcdDiscovery> {
    let mut f = cx.fields(item, ETCD_KEYS, &[]);
    let endpoints = match f.take("endpoints") {
        Some(e) => {
            let items = cx.list(&e.item).unwrap_or_default();
            let mut out = Vec::new();
            for i in &items {
                if let Some(t) = cx.text(i) {
                    if t.value.starts_with("http://") || t.value.starts_with("https://") {
                        out.push(t.value);
                    } else {
                        cx.error(
                            i.pos,
                            &i.path,
                            format!("invalid etcd endpoint `{}` (expected http://host:port or https://host:port)", t.value),
                        );
                    }
                }
            }
            if items.is_empty() {
                cx.error(
                    e.key_pos,
                    &e.item.path,
                    "at least one etcd endpoint is needed",
                );
            }
            (out.len() == items.len() && !out.is_empty()).then_some(out)
        }
        None => {
            cx.error(item.pos, &item.path, "missing required key `endpoints`");
            None
        }
    };
    let prefix = match f.take("prefix") {
        Some(e) => cx.nonempty(&e.item),
        None => {
            cx.error(item.pos, &item.path, "missing required key `prefix`");
            None
        }
    };
    let user = f.take("user").map(|e| cx.nonempty(&e.item));
    let password = f.take("password").map(|e| cx.nonempty(&e.item));
    let ca = f.take("ca").map(|e| cx.nonempty(&e.item));
    if user.is_some() != password.is_some() {
        cx.error(
            item.pos,
            &item.path,
            "etcd `user` and `password` go together",
        );
        return None;
    }
    Some(EtcdDiscovery {
        endpoints: endpoints?,
        prefix: prefix?,
        user: user.map_or(Some(None), |u| u.map(Some))?,
        password: password.map_or(Some(None), |p| p.map(Some))?,
        ca: ca.map_or(Some(None), |c| c.map(|c| Some(c.into())))?,
    })
}

/// `ewma: { decay, default_rtt }`.
fn ewma(cx: &mut Loader<'_>, item: &Item<'_>) -> Option<EwmaConfig> {
    let mut f = cx.fields(item, EWMA_KEYS, &[]);
    let mut w = EwmaConfig::default();
    let mut ok = true;
    if let Some(e) = f.take("decay") {
        ok &= cx.timeout(&e.item).map(|d| w.decay = d).is_some();
    }
    if let Some(e) = f.take("default_rtt") {
        ok &= cx.timeout(&e.item).map(|d| w.default_rtt = d).is_some();
    }
    ok.then_some(w)
}

/// `outlier: { consecutive_errors, eject, max_ejected }` (every key
/// optional; `outlier: {}` takes the defaults).
fn outlier(cx: &mut Loader<'_>, item: &Item<'_>) -> Option<Outlier> {
    let mut f = cx.fields(item, OUTLIER_KEYS, &[]);
    let mut o = Outlier::default();
    let mut ok = true;
    if let Some(e) = f.take("consecutive_errors") {
        ok &= cx
            .integer(&e.item, 1, 10_000)
            .map(|n| o.consecutive_errors = n as u32)
            .is_some();
    }
    if let Some(e) = f.take("eject") {
        ok &= cx.timeout(&e.item).map(|d| o.eject = d).is_some();
    }
    if let Some(e) = f.take("max_ejected") {
        match cx.text(&e.item) {
            Some(t) => match max_ejected(t.value.trim()) {
                Some(m) => o.max_ejected = m,
                None => {
                    cx.error(
                        e.item.pos,
                        &e.item.path,
                        format!(
                            "invalid max_ejected `{}` (expected a share of the servers like `50%` \
                             (0% to 100%) or a number of servers like `2`)",
                            t.value
                        ),
                    );
                    ok = false;
                }
            },
            None => ok = false,
        }
    }
    ok.then_some(o)
}

/// `retry_on`: a list of HAProxy `retry-on` words (or one string of them
/// separated by spaces): `conn-failure`, `empty-response`,
/// `junk-response`, `response-timeout`, statuses 400 to 599, `none`, and
/// `all-retryable-errors` (HAProxy's set). `0rtt-rejected` is accepted and
/// never happens: fairway sends no TLS early data.
fn retry_on(cx: &mut Loader<'_>, item: &Item<'_>) -> Option<RetryOn> {
    let words: Vec<(Option<super::node::Pos>, String, String)> = match item.node {
        marked_yaml::types::Node::Sequence(_) => {
            let mut words = Vec::new();
            for i in cx.list(item)? {
                let text = cx.text(&i)?;
                words.push((i.pos, i.path.clone(), text.value));
            }
            words
        }
        _ => {
            let text = cx.text(item)?;
            text.value
                .split_whitespace()
                .map(|w| (item.pos, item.path.clone(), w.to_string()))
                .collect()
        }
    };
    let mut on = RetryOn::none();
    let mut ok = true;
    for (pos, path, word) in &words {
        match word.as_str() {
            "none" if words.len() == 1 => {}
            "0rtt-rejected" => {}
            "all-retryable-errors" => {
                for c in [
                    "conn-failure",
                    "empty-response",
                    "junk-response",
                    "response-timeout",
                ]
                .into_iter()
                .chain(["500", "502", "503", "504"])
                {
                    on.insert(c.parse().unwrap_or(RetryCondition::ConnFailure));
                }
            }
            w => match w.parse() {
                Ok(c) => on.insert(c),
                Err(()) => {
                    ok = false;
                    let msg = if w == "none" {
                        "`none` cannot be combined with other retry_on conditions".to_string()
                    } else {
                        format!(
                            "unknown retry_on condition `{w}` (expected conn-failure, \
                             empty-response, junk-response, response-timeout, a status from 400 \
                             to 599, all-retryable-errors or none)"
                        )
                    };
                    cx.error(*pos, path, msg);
                }
            },
        }
    }
    ok.then_some(on)
}

/// `retry_budget: 20%` (1% to 100%).
fn retry_budget(cx: &mut Loader<'_>, item: &Item<'_>) -> Option<RetryBudget> {
    let text = cx.text(item)?;
    let value = text.value.trim();
    let percent = value
        .strip_suffix('%')
        .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|p| p.parse::<u8>().ok())
        .filter(|p| (1..=100).contains(p));
    if percent.is_none() {
        cx.error(
            item.pos,
            &item.path,
            format!(
                "invalid retry_budget `{value}` (expected a share of the backend's requests \
                 from `1%` to `100%`, e.g. `20%`)"
            ),
        );
    }
    percent.map(|percent| RetryBudget { percent })
}

/// `50%` (0..=100) or `2` (0..=10000).
fn max_ejected(text: &str) -> Option<MaxEjected> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match text.strip_suffix('%') {
        Some(p) if digits(p) => p
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= 100)
            .map(MaxEjected::Percent),
        Some(_) => None,
        None if digits(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= 10_000)
            .map(MaxEjected::Count),
        None => None,
    }
}

/// An HTTP token (header names, parameter names).
fn valid_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `cookie: { name, mode, indirect, nocache }`.
fn cookie(cx: &mut Loader<'_>, item: &Item<'_>) -> Option<Cookie> {
    let mut f = cx.fields(item, COOKIE_KEYS, &[]);
    let name = match f.take("name") {
        Some(e) => {
            let text = cx.text(&e.item)?;
            if !valid_token(&text.value) {
                cx.error(
                    e.item.pos,
                    &e.item.path,
                    format!("invalid cookie name `{}`", text.value),
                );
                return None;
            }
            Some(text.value)
        }
        None => {
            cx.error(item.pos, &item.path, "missing required key `name`");
            None
        }
    };
    let mode = match f.take("mode") {
        Some(e) => cx.choice(&e.item, "cookie mode", &[("insert", CookieMode::Insert)]),
        None => Some(CookieMode::Insert),
    };
    let indirect = f
        .take("indirect")
        .map_or(Some(false), |e| cx.boolean(&e.item));
    let nocache = f
        .take("nocache")
        .map_or(Some(false), |e| cx.boolean(&e.item));
    Some(Cookie {
        name: name?,
        mode: mode?,
        indirect: indirect?,
        nocache: nocache?,
    })
}

/// `health_check: { type, method, path, host, expect_status, interval, timeout, rise, fall }`.
fn health_check(cx: &mut Loader<'_>, item: &Item<'_>) -> Option<HealthCheck> {
    let mut f = cx.fields(item, CHECK_KEYS, &[]);
    let mut hc = HealthCheck {
        kind: CheckKind::Tcp,
        method: "GET".into(),
        path: "/".into(),
        host: None,
        expect_status: (200, 399),
        interval: Duration::from_secs(2),
        timeout: Duration::from_secs(1),
        rise: 2,
        fall: 3,
    };
    let mut ok = true;
    match f.take("type") {
        Some(e) => match cx.choice(
            &e.item,
            "health check type",
            &[("tcp", CheckKind::Tcp), ("http", CheckKind::Http)],
        ) {
            Some(k) => hc.kind = k,
            None => ok = false,
        },
        None => {
            cx.error(
                item.pos,
                &item.path,
                "missing required key `type` (tcp or http)",
            );
            ok = false;
        }
    }
    if let Some(e) = f.take("method") {
        match cx.text(&e.item) {
            Some(t) if valid_token(&t.value) => hc.method = t.value.to_ascii_uppercase(),
            Some(t) => {
                cx.error(
                    e.item.pos,
                    &e.item.path,
                    format!("invalid HTTP method `{}`", t.value),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    if let Some(e) = f.take("path") {
        match cx.text(&e.item) {
            Some(t)
                if t.value.starts_with('/') && !t.value.bytes().any(|b| b <= b' ' || b == 0x7f) =>
            {
                hc.path = t.value
            }
            Some(t) => {
                cx.error(
                    e.item.pos,
                    &e.item.path,
                    format!(
                        "invalid check path `{}` (it must start with `/` and contain no spaces)",
                        t.value
                    ),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    if let Some(e) = f.take("host") {
        match cx.text(&e.item) {
            Some(t) if !t.value.is_empty() && !t.value.bytes().any(|b| b <= b' ' || b == 0x7f) => {
                hc.host = Some(t.value)
            }
            Some(t) => {
                cx.error(
                    e.item.pos,
                    &e.item.path,
                    format!("invalid check host `{}`", t.value),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    if let Some(e) = f.take("expect_status") {
        match cx.text(&e.item) {
            Some(t) => match status_range(&t.value) {
                Some(r) => hc.expect_status = r,
                None => {
                    cx.error(e.item.pos, &e.item.path, format!("invalid expect_status `{}` (expected a code like 200 or a range like 200-399)", t.value));
                    ok = false;
                }
            },
            None => ok = false,
        }
    }
    if let Some(e) = f.take("interval") {
        ok &= cx.timeout(&e.item).map(|d| hc.interval = d).is_some();
    }
    if let Some(e) = f.take("timeout") {
        ok &= cx.timeout(&e.item).map(|d| hc.timeout = d).is_some();
    }
    for (key, slot) in [("rise", &mut hc.rise), ("fall", &mut hc.fall)] {
        if let Some(e) = f.take(key) {
            match cx
                .integer(&e.item, 1, 1000)
                .and_then(|n| u32::try_from(n).ok())
            {
                Some(n) => *slot = n,
                None => ok = false,
            }
        }
    }
    ok.then_some(hc)
}

/// `200` or `200-399`, codes 100..=599.
fn status_range(text: &str) -> Option<(u16, u16)> {
    let code = |s: &str| {
        s.trim()
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
    };
    match text.split_once('-') {
        Some((lo, hi)) => {
            let (lo, hi) = (code(lo)?, code(hi)?);
            (lo <= hi).then_some((lo, hi))
        }
        None => code(text).map(|c| (c, c)),
    }
}
