//! Conversions of the traffic policy (#19): `retry-on`, `observe` with
//! `error-limit`/`on-error`, `resolvers` and `log-format`.

use super::{load, unsupported};
use crate::import_haproxy;
use fairway_config::{
    Dns, HttpReuse, LogFormat, Lookup, MaxEjected, Outlier, RetryCondition, RetryOn,
};
use std::time::Duration;

fn retry_on(words: &[&str]) -> RetryOn {
    let mut on = RetryOn::none();
    for w in words {
        on.insert(w.parse().unwrap());
    }
    on
}

#[test]
fn retry_on_becomes_the_backends_retry_on() {
    let cfg = "
defaults
    mode http
    retries 2
    option redispatch
    retry-on all-retryable-errors
frontend web
    bind 127.0.0.1:5000
    retry-on 503
    use_backend none if { path_beg /none/ }
    use_backend own if { path_beg /own/ }
    use_backend plain if { path_beg /plain/ }
    default_backend all
backend all
    server a 127.0.0.1:8001
backend own
    retry-on 503 conn-failure 0rtt-rejected 429
    server a 127.0.0.1:8001
backend none
    retry-on none
    server a 127.0.0.1:8001
defaults
    mode http
backend plain
    retry-on conn-failure
    server a 127.0.0.1:8001
";
    let (conv, config) = load(cfg);
    let all = config.backend("all").unwrap();
    assert_eq!(
        all.retry_on,
        retry_on(&[
            "conn-failure",
            "empty-response",
            "junk-response",
            "response-timeout",
            "500",
            "502",
            "503",
            "504"
        ]),
        "{}",
        conv.yaml
    );
    assert_eq!((all.retries, all.redispatch), (2, true));
    assert!(conv
        .yaml
        .contains("retry_on: [conn-failure, empty-response, junk-response, response-timeout, \"500\", \"502\", \"503\", \"504\"]"));
    let own = config.backend("own").unwrap();
    assert_eq!(own.retry_on, retry_on(&["conn-failure", "429", "503"]));
    assert!(!own.retry_on.contains(RetryCondition::EmptyResponse));
    let none = config.backend("none").unwrap();
    assert_eq!(none.retry_on, RetryOn::none());
    assert!(conv.yaml.contains("retry_on: []"), "{}", conv.yaml);
    // HAProxy's default is fairway's: nothing is written.
    let plain = config.backend("plain").unwrap();
    assert_eq!(plain.retry_on, RetryOn::default());
    assert_eq!(conv.yaml.matches("retry_on:").count(), 3, "{}", conv.yaml);
    // A frontend's retry-on is refused (HAProxy refuses it too).
    assert_eq!(unsupported(&conv), [(9, "retry-on 503")]);
    // The expansion and the dropped 0rtt-rejected are noted.
    let notes: Vec<(usize, &str)> = conv
        .notes
        .iter()
        .map(|f| (f.line, f.reason.as_str()))
        .collect();
    assert!(notes.iter().any(|(l, r)| *l == 6
        && r.contains("all-retryable-errors is conn-failure empty-response")
        && r.contains("0rtt-rejected left out")));
    assert!(notes
        .iter()
        .any(|(l, r)| *l == 17 && r.starts_with("0rtt-rejected left out")));
}

#[test]
fn retry_on_in_a_tcp_backend_is_ignored_as_in_haproxy() {
    let cfg = "
frontend db
    mode tcp
    bind 127.0.0.1:5432
    default_backend db
backend db
    mode tcp
    retry-on conn-failure 503
    server a 127.0.0.1:5433
";
    let (conv, config) = load(cfg);
    assert_eq!(config.backend("db").unwrap().retry_on, RetryOn::default());
    assert!(conv.is_complete());
    assert!(conv.notes[0].reason.contains("ignored in tcp backend db"));
}

#[test]
fn observe_with_mark_down_becomes_outlier_ejection() {
    let cfg = "
defaults
    mode http
    default-server check inter 3s rise 3 observe layer7 error-limit 4 on-error mark-down
frontend web
    bind 127.0.0.1:5000
    use_backend soft if { path_beg /soft/ }
    default_backend app
backend app
    server a 127.0.0.1:8001
    server b 127.0.0.1:8002 error-limit 6
backend soft
    server a 127.0.0.1:8001 on-error fail-check
    server b 127.0.0.1:8002 on-error fastinter
";
    let (conv, config) = load(cfg);
    let app = config.backend("app").unwrap();
    assert_eq!(
        app.outlier,
        Some(Outlier {
            consecutive_errors: 4,
            eject: Duration::from_secs(9),
            max_ejected: MaxEjected::Percent(100),
        }),
        "{}",
        conv.yaml
    );
    assert!(conv
        .yaml
        .contains("outlier: { consecutive_errors: 4, eject: 9s, max_ejected: \"100%\" }"));
    assert_eq!(config.backend("soft").unwrap().outlier, None);
    assert!(conv.is_complete(), "{}", conv.diagnostics("t"));
    let note = |line: usize| {
        conv.notes
            .iter()
            .filter(|f| f.line == line)
            .map(|f| format!("{} ({})", f.directive, f.reason))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(note(10).contains("ejects the server for 9s (rise × inter"));
    assert!(note(11).contains("those of a (line 10), apply to b too"));
    assert!(note(13).contains("on-error fail-check (servers a;"));
    assert!(note(14).contains("on-error fastinter (servers b;"));
}

#[test]
fn resolvers_become_the_backends_dns() {
    let cfg = "
resolvers internal
    nameserver dns1 10.0.0.2:53
    nameserver dns2 10.0.0.3
    timeout resolve 5s
    hold valid 10s
resolvers sys
    parse-resolv-conf
frontend web
    mode http
    bind 127.0.0.1:5000
    use_backend srv if { path_beg /srv/ }
    use_backend ips if { path_beg /ips/ }
    default_backend app
backend app
    mode http
    default-server resolvers internal resolve-prefer ipv4 init-addr none
    server a app1.internal:8080
    server b app2.internal:8080
backend srv
    mode http
    server s _http._tcp.api.internal resolvers sys
backend ips
    mode http
    server a 10.0.1.1:80 resolvers internal
    server-template web 3 web.internal:80 resolvers internal
";
    let (conv, config) = load(cfg);
    let app = config.backend("app").unwrap();
    assert_eq!(
        app.dns,
        Some(Dns {
            interval: Duration::from_secs(5),
            nameservers: vec![
                "10.0.0.2:53".parse().unwrap(),
                "10.0.0.3:53".parse().unwrap()
            ],
        }),
        "{}",
        conv.yaml
    );
    assert!(conv
        .yaml
        .contains("dns: { interval: 5s, nameservers: [10.0.0.2:53, 10.0.0.3:53] }"));
    assert_eq!(app.servers[0].addr, "app1.internal:8080");
    assert_eq!(app.servers[0].socket_addr, None);
    let srv = config.backend("srv").unwrap();
    assert_eq!(
        srv.dns,
        Some(Dns {
            interval: Duration::from_secs(1),
            nameservers: Vec::new(),
        })
    );
    assert_eq!(
        srv.servers[0].lookup,
        Some(Lookup::Srv("_http._tcp.api.internal".into()))
    );
    // An IP address needs no resolution.
    assert_eq!(config.backend("ips").unwrap().dns, None);
    assert_eq!(
        unsupported(&conv),
        [(
            26,
            "server-template web 3 web.internal:80 resolvers internal"
        )]
    );
    let notes: Vec<(usize, &str)> = conv
        .notes
        .iter()
        .map(|f| (f.line, f.reason.as_str()))
        .collect();
    assert!(notes
        .iter()
        .any(|(l, r)| *l == 2 && r.contains("dns: { interval: 5s }")));
    assert!(notes
        .iter()
        .any(|(l, r)| *l == 6 && r.contains("do-resolve")));
    // resolve-prefer ipv4 is fairway's own preference; sys's server is noted.
    assert!(!notes.iter().any(|(l, r)| *l == 18 && r.contains("IPv4")));
    assert!(notes.iter().any(|(l, r)| *l == 22 && r.contains("IPv4")));
    assert!(notes
        .iter()
        .any(|(l, r)| *l == 22 && r.contains("one of its records")));
}

#[test]
fn srv_names_without_resolvers_and_unknown_sections_are_reported() {
    let cfg = "
frontend web
    mode http
    bind 127.0.0.1:5000
    default_backend app
backend app
    mode http
    server s _http._tcp.api.internal
    server a app.internal:80 resolvers nope
    server b 127.0.0.1:8001
";
    let conv = import_haproxy(cfg);
    assert_eq!(
        unsupported(&conv),
        [
            (8, "server s _http._tcp.api.internal"),
            (9, "server a resolvers nope")
        ],
        "{}",
        conv.yaml
    );
    assert!(conv.unsupported[0].reason.contains("needs `resolvers`"));
    assert!(!conv.yaml.contains("dns:"), "{}", conv.yaml);
}

#[test]
fn log_format_becomes_the_global_access_log_format() {
    let cfg = r#"
global
    log stdout format raw local0
defaults
    mode http
    log global
    log-format "%ci:%cp [%tr] %ft %b/%s %ST %B %{+Q}r %[req.hdr(host),lower]"
frontend web
    bind 127.0.0.1:5000
    default_backend app
frontend other
    bind 127.0.0.1:5001
    log-format "%ci %ST"
    default_backend app
frontend classic
    bind 127.0.0.1:5002
    option httplog
    default_backend app
frontend odd
    bind 127.0.0.1:5003
    log-format "%ci %sslv %hr"
    default_backend app
backend app
    log-format "%ci"
    server a 127.0.0.1:8001
"#;
    let (conv, config) = load(cfg);
    assert!(config.global.access_log);
    let LogFormat::Custom(parts) = &config.global.access_log_format else {
        panic!("{}", conv.yaml);
    };
    assert!(!parts.is_empty());
    assert!(conv.yaml.contains(
        "access_log_format: \"%ci:%cp [%tr] %ft %b/%s %ST %B %{+Q}r %[hdr(host),lower]\""
    ));
    // A format fairway would refuse is reported, not written.
    assert_eq!(unsupported(&conv), [(21, r#"log-format "%ci %sslv %hr""#)]);
    assert!(conv.unsupported[0].reason.contains("`%sslv`"));
    let note = |line: usize| {
        conv.notes
            .iter()
            .filter(|f| f.line == line)
            .map(|f| f.reason.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(note(13).contains("that of frontend web (line 7) is used for other too"));
    // `option httplog` is HAProxy's httplog format, which fairway writes.
    assert!(note(15).contains("that of frontend web (line 7) is used for classic too"));
    assert!(note(24).contains("ignores log-format in a backend"));
}

#[test]
fn an_option_httplog_after_log_format_replaces_it() {
    let cfg = r#"
global
    log stdout format raw local0
defaults
    mode http
    log-format "%ci %ST"
frontend web
    bind 127.0.0.1:5000
    option httplog
    default_backend app
backend app
    server a 127.0.0.1:8001
"#;
    let (conv, config) = load(cfg);
    assert!(config.global.access_log);
    assert!(matches!(
        config.global.access_log_format,
        LogFormat::Custom(_)
    ));
    // HAProxy's httplog format, which fairway writes as HAProxy does.
    assert!(
        conv.yaml.contains(
            "access_log_format: \"%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS \
             %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r\""
        ),
        "{}",
        conv.yaml
    );
}

#[test]
fn option_tcplog_is_noted_not_converted() {
    let cfg = r#"
global
    log stdout format raw local0
defaults
    mode http
frontend web
    bind 127.0.0.1:5000
    log-format "%ci %ST"
    default_backend app
frontend db
    mode tcp
    bind 127.0.0.1:5001
    option tcplog
    default_backend pg
frontend clf
    bind 127.0.0.1:5002
    option httplog clf
    default_backend app
backend app
    server a 127.0.0.1:8001
backend pg
    mode tcp
    server p 127.0.0.1:5432
"#;
    let (conv, config) = load(cfg);
    assert!(config.global.access_log);
    assert!(
        conv.yaml.contains("access_log_format: \"%ci %ST\""),
        "{}",
        conv.yaml
    );
    let notes: Vec<_> = conv.notes.iter().filter(|f| f.line == 10).collect();
    assert_eq!(notes.len(), 1, "{:?}", conv.notes);
    assert!(notes[0].reason.contains("not in HAProxy's tcplog format"));
    // `clf` is a format fairway does not write: noted, not the httplog one.
    let clf: Vec<_> = conv.notes.iter().filter(|f| f.line == 17).collect();
    assert!(
        clf.iter().any(|f| f.reason.contains("CLF")),
        "{:?}",
        conv.notes
    );
    assert!(conv
        .notes
        .iter()
        .any(|f| f.line == 15 && f.reason.contains("not in HAProxy's httplog clf format")));
}

#[test]
fn http_reuse_becomes_the_backends_http_reuse() {
    let cfg = "
defaults
    mode http
    http-reuse never
frontend web
    bind 127.0.0.1:5000
    http-reuse always
    use_backend safe if { path_beg /safe/ }
    use_backend always if { path_beg /always/ }
    use_backend aggressive if { path_beg /aggressive/ }
    use_backend bad if { path_beg /bad/ }
    default_backend inherited
backend inherited
    server a 127.0.0.1:8001
backend safe
    http-reuse safe
    server a 127.0.0.1:8001
backend always
    http-reuse always
    server a 127.0.0.1:8001
backend aggressive
    http-reuse aggressive
    server a 127.0.0.1:8001
backend bad
    http-reuse sometimes
    server a 127.0.0.1:8001
defaults
    mode http
backend plain
    server a 127.0.0.1:8001
frontend db
    mode tcp
    bind 127.0.0.1:5432
    default_backend db
backend db
    mode tcp
    http-reuse always
    server a 127.0.0.1:5433
";
    let (conv, config) = load(cfg);
    let reuse = |name: &str| config.backend(name).unwrap().http_reuse;
    assert_eq!(reuse("inherited"), HttpReuse::Never, "{}", conv.yaml);
    assert_eq!(reuse("safe"), HttpReuse::Safe);
    assert_eq!(reuse("always"), HttpReuse::Always);
    assert_eq!(reuse("aggressive"), HttpReuse::Always);
    // An unknown word is refused; the defaults' `never` stays.
    assert_eq!(reuse("bad"), HttpReuse::Never);
    // HAProxy's default is fairway's (`safe`): nothing is written.
    assert_eq!(reuse("plain"), HttpReuse::Safe);
    // HAProxy ignores it in a tcp backend; fairway's tcp backends have none.
    assert_eq!(conv.yaml.matches("http_reuse:").count(), 5, "{}", conv.yaml);
    assert_eq!(
        unsupported(&conv),
        [(7, "http-reuse always"), (25, "http-reuse sometimes")]
    );
    let notes: Vec<(usize, &str)> = conv
        .notes
        .iter()
        .map(|f| (f.line, f.reason.as_str()))
        .collect();
    assert!(
        notes
            .iter()
            .any(|(l, r)| *l == 22 && r.starts_with("fairway has no `aggressive`: `always`")),
        "{notes:?}"
    );
}
