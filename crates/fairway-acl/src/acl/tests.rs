use super::*;
use crate::testutil::TestReq;

fn acl(line: &str) -> Acl {
    match Acl::parse(line) {
        Ok(acl) => acl,
        Err(e) => panic!("{line:?}: {e} at {}", e.offset),
    }
}

fn err(line: &str) -> AclError {
    match Acl::parse(line) {
        Ok(acl) => panic!("{line:?} parsed: {acl:?}"),
        Err(e) => e,
    }
}

fn get(target: &str) -> TestReq {
    TestReq::get(target)
}

#[test]
fn path_fetches_and_default_matches() {
    let cases: &[(&str, &str, bool)] = &[
        ("path /healthz", "/healthz", true),
        ("path /healthz", "/healthz/", false),
        ("path /healthz", "/healthz?x=1", true),
        ("path /Healthz", "/healthz", false),
        ("path_beg /api/ /v1/", "/v1/users", true),
        ("path_beg /api/ /v1/", "/api/x", true),
        ("path_beg /api/ /v1/", "/apix", false),
        ("path_end -i /lightwork", "/app/LightWork", true),
        ("path_end /lightwork", "/app/LightWork", false),
        ("path_sub admin", "/x/admin/y", true),
        ("path_sub admin", "/x/Admin/y", false),
        ("path_dir img", "/static/img/a.png", true),
        ("path_dir img", "/static/images/a.png", false),
        ("path_reg ^/v[0-9]+/", "/v12/x", true),
        ("path_reg ^/v[0-9]+/", "/api/v12/x", false),
        ("path_reg -i ^/API$", "/api", true),
    ];
    for &(line, target, want) in cases {
        assert_eq!(acl(line).matches(&get(target)), want, "{line} vs {target}");
    }
    assert_eq!(acl("path_beg /x").match_kind(), MatchKind::Beg);
    assert_eq!(acl("path_reg x").fetch(), &Fetch::Path);
}

#[test]
fn url_query_and_params() {
    let req = get("/search?q=rust&page=2&debug");
    assert!(acl("url /search?q=rust&page=2&debug").matches(&req));
    assert!(!acl("url /search").matches(&req));
    assert!(acl("url_beg /search?q=").matches(&req));
    assert!(acl("query q=rust&page=2&debug").matches(&req));
    assert!(acl("query -m sub page=2").matches(&req));
    assert!(acl("url_param(page) 2").matches(&req));
    assert!(!acl("url_param(page) 3").matches(&req));
    assert!(acl("url_param(debug) -m found").matches(&req));
    assert!(!acl("url_param(nope) -m found").matches(&req));
    assert!(acl("url_param(q) -i RUST").matches(&req));
    assert_eq!(acl("url_param(q) x").fetch(), &Fetch::UrlParam("q".into()));
    // No query: query and url_param have no sample.
    let bare = get("/search");
    assert!(!acl("query -m found").matches(&bare));
    assert!(!acl("query -m reg .*").matches(&bare));
    assert!(!acl("url_param(q) -m reg .*").matches(&bare));
    assert!(acl("query -m found").matches(&get("/search?")));
    assert!(acl("query \"\"").matches(&get("/search?")));
    // Values are not percent-decoded.
    assert!(acl("url_param(q) a%20b").matches(&get("/?q=a%20b")));
}

#[test]
fn method() {
    let post = get("/").method("POST");
    assert!(acl("method POST PUT").matches(&post));
    assert!(!acl("method GET").matches(&post));
    assert!(!acl("method post").matches(&post));
    assert!(acl("method -i post").matches(&post));
    assert!(acl("method -m found").matches(&post));
}

#[test]
fn headers() {
    let req = get("/")
        .header("User-Agent", "Mozilla/5.0 BadBot/1.0")
        .header("Accept", "text/html, application/json;q=0.9")
        .header("X-Forwarded-For", "10.0.0.1, 192.168.0.9")
        .header("X-Forwarded-For", "172.16.0.1")
        .header("X-Empty", "");
    assert!(acl("hdr_sub(user-agent) BadBot").matches(&req));
    assert!(acl("hdr(user-agent) -i -m sub badbot").matches(&req));
    assert!(!acl("hdr(user-agent) -m sub badbot").matches(&req));
    assert!(acl("hdr_beg(User-Agent) Mozilla/").matches(&req));
    assert!(acl("hdr_end(user-agent) /1.0").matches(&req));
    assert!(acl("hdr_reg(user-agent) Bad[A-Z]ot").matches(&req));
    // Comma-separated elements are occurrences of their own.
    assert!(acl("hdr(accept) application/json;q=0.9").matches(&req));
    assert!(!acl("hdr(accept) text/html,").matches(&req));
    assert!(acl("hdr(x-forwarded-for) 192.168.0.9").matches(&req));
    assert!(acl("hdr(x-forwarded-for) 172.16.0.1").matches(&req));
    assert!(acl("hdr(x-forwarded-for) -m ip 192.168.0.0/16").matches(&req));
    assert!(!acl("hdr(x-forwarded-for) -m ip 8.8.8.8").matches(&req));
    assert!(acl("hdr_beg(x-forwarded-for) 172.").matches(&req));
    // Presence.
    assert!(acl("hdr(x-empty) -m found").matches(&req));
    assert!(acl("hdr(x-empty) \"\"").matches(&req));
    assert!(!acl("hdr(x-missing) -m found").matches(&req));
    assert!(!acl("hdr(x-missing) -m reg .*").matches(&req));
    assert_eq!(acl("hdr(X-Env) x").fetch(), &Fetch::Header("x-env".into()));
}

#[test]
fn host() {
    let req = |h: &str| get("/").header("Host", h);
    assert!(acl("host example.org").matches(&req("Example.ORG:8080")));
    assert!(acl("host EXAMPLE.org").matches(&req("example.org")));
    assert!(acl("host example.org").matches(&req("example.org.")));
    assert!(!acl("host example.org").matches(&req("www.example.org")));
    assert!(acl("host [::1]").matches(&req("[::1]:80")));
    assert!(acl("host [2001:db8::1]").matches(&req("[2001:DB8::1]")));
    assert!(acl("host -m dom example.org").matches(&req("api.Example.org:443")));
    assert!(!acl("host -m dom example.org").matches(&req("badexample.org")));
    assert!(acl("host -m end .example.org").matches(&req("a.example.org")));
    assert!(acl("host -m reg ^API\\.").matches(&req("api.example.org")));
    assert!(acl("host -m found").matches(&req("x")));
    assert!(!acl("host -m found").matches(&get("/")));
    assert!(!acl("host -m reg .*").matches(&get("/")));
    assert!(acl("host x").ignore_case());
}

#[test]
fn src() {
    let a = acl("src 127.0.0.0/8 10.0.0.0/8 192.168.1.1 2001:db8::/32");
    assert_eq!(a.match_kind(), MatchKind::Ip);
    assert!(a.matches(&get("/").src("127.0.0.1")));
    assert!(a.matches(&get("/").src("10.200.3.4")));
    assert!(a.matches(&get("/").src("192.168.1.1")));
    assert!(!a.matches(&get("/").src("192.168.1.2")));
    assert!(a.matches(&get("/").src("::ffff:127.0.0.1")));
    assert!(!a.matches(&get("/").src("::ffff:8.8.8.8")));
    assert!(a.matches(&get("/").src("2001:db8::7")));
    assert!(!a.matches(&get("/").src("::1")));
    assert!(!a.matches(&get("/")), "no client address");
    assert!(acl("src -m found").matches(&get("/").src("::1")));
    assert!(acl("src ::1").matches(&get("/").src("::1")));
}

#[test]
fn flags() {
    let req = get("/-x");
    assert!(acl("path -- /-x").matches(&req));
    assert!(acl("path -i -- /-X").matches(&req));
    // A quoted word is never a flag.
    assert!(acl("path '-x'").matches(&get("-x")));
    assert!(acl("path -m beg /-").matches(&req));
    assert!(
        acl("path_beg -m str /-x").matches(&req),
        "-m overrides the default"
    );
    assert!(!acl("path_beg -m str /-").matches(&req));
    assert!(acl("path -m end x").matches(&req));
    assert!(acl("path -m sub -- -").matches(&req));
    assert!(acl("path -m dir -- -x").matches(&req));
    assert!(acl("path -m dom -- -x").matches(&req));
    assert!(acl("path -m reg x$").matches(&req));
    assert!(acl("path -m found").matches(&req));
    assert!(acl("path -i /A /B /-X").matches(&req), "any value matches");
}

#[test]
fn many_values() {
    let values: Vec<String> = (0..50).map(|i| format!("/p{i}/")).collect();
    let a = acl(&format!("path_beg -i {}", values.join(" ")));
    assert!(a.matches(&get("/P49/x")));
    assert!(a.matches(&get("/p0/")));
    assert!(!a.matches(&get("/p50/")));
}

#[test]
fn error_messages() {
    let known = "path, path_beg, path_end, path_sub, path_dir, path_reg, url, url_beg, query, \
                 url_param(NAME), method, hdr(NAME), hdr_beg(NAME), hdr_end(NAME), hdr_sub(NAME), \
                 hdr_reg(NAME), req.hdr(NAME), host, src, req_ssl_sni, src_http_req_rate(PERIOD), \
                 status, res.hdr(NAME), shdr(NAME)";
    let cases: &[(&str, usize, String)] = &[
        ("paht_beg /x", 0, format!("unknown fetch `paht_beg` (known: {known})")),
        ("", 0, "empty ACL: expected `FETCH [FLAGS] VALUE...`".into()),
        ("path_beg", 0, "`path_beg` needs at least one value to match".into()),
        ("path_beg -i", 0, "`path_beg` needs at least one value to match".into()),
        ("hdr(host) -i --", 0, "`hdr(host)` needs at least one value to match".into()),
        ("path_reg ^/ok (foo", 14, "invalid regex `(foo`: unclosed group".into()),
        ("src 10.0.0.0/8 10.0.0.0/33", 15, "invalid IP address or CIDR `10.0.0.0/33`".into()),
        ("src localhost", 4, "invalid IP address or CIDR `localhost`".into()),
        ("path -x /a", 5, "unknown flag `-x` (valid: -i, -m METHOD, --; write `--` before a value that starts with `-`)".into()),
        ("path -m exact /a", 8, "unknown match method `exact` (valid: str, beg, end, sub, dir, dom, reg, ip, int, found)".into()),
        ("path -m", 5, "`-m` needs a match method (valid: str, beg, end, sub, dir, dom, reg, ip, int, found)".into()),
        ("path -m beg -m end /a", 12, "`-m` given twice".into()),
        ("hdr(x) -m found yes", 16, "`-m found` takes no values".into()),
        ("src -m beg 10.", 0, "`-m beg` cannot be used with `src` (it matches IP addresses and CIDRs)".into()),
        ("src_http_req_rate(10s) -m str 5", 0, "`-m str` cannot be used with `src_http_req_rate(10s)` (it gives an integer: compare with `gt ge lt le eq N`)".into()),
        ("path -m int 5", 0, "`-m int` cannot be used with `path` (it gives a string)".into()),
        ("src_http_req_rate gt 5", 0, "`src_http_req_rate` needs an argument: `src_http_req_rate(PERIOD), e.g. `(10s)``".into()),
        ("src_http_req_rate(10) gt 5", 0, "invalid period `10` in `src_http_req_rate(10)`: time unit needed, for example 10sec or 10ms".into()),
        ("src_http_req_rate(2d) gt 5", 0, "period `2d` of `src_http_req_rate(2d)` is out of range (1ms to 24h)".into()),
        ("src_http_req_rate(10s) gt five", 26, "invalid integer `five`".into()),
        ("src_http_req_rate(10s) gt", 23, "`gt` needs an integer after it".into()),
        ("src_http_req_rate(10s)", 0, "`src_http_req_rate(10s)` needs at least one value to match".into()),
        ("hdr /x", 0, "`hdr` needs an argument: `hdr(NAME)`".into()),
        ("hdr_beg() /x", 0, "`hdr_beg` needs an argument: `hdr_beg(NAME)`".into()),
        ("url_param /x", 0, "`url_param` needs an argument: `url_param(NAME)`".into()),
        ("url_param(a=b) x", 0, "invalid parameter name `a=b` in `url_param(a=b)`".into()),
        ("hdr(a:b) /x", 0, "invalid header name `a:b` in `hdr(a:b)`".into()),
        ("path(x) /x", 0, "`path` takes no argument".into()),
        ("hdr(x /x", 0, "unbalanced parentheses in `hdr(x`".into()),
        ("hdrx) /x", 0, "unbalanced parentheses in `hdrx)`".into()),
        ("path_dir / /x", 9, "`/` has nothing but delimiters and can never match".into()),
        ("path \"/x", 5, "unterminated `\"` quote".into()),
    ];
    for (line, offset, message) in cases {
        let e = err(line);
        assert_eq!((&e.message, e.offset), (message, *offset), "{line:?}");
    }
}

#[test]
fn acl_set() {
    let mut set = AclSet::new();
    assert!(set.is_empty());
    assert_eq!(set.insert("b.two", acl("path /b")), Ok(()));
    assert_eq!(set.insert("a-one", acl("path /a")), Ok(()));
    assert_eq!(set.insert("c_3", acl("path /c")), Ok(()));
    assert_eq!(set.names().collect::<Vec<_>>(), ["b.two", "a-one", "c_3"]);
    assert_eq!(set.len(), 3);
    assert!(set.get("a-one").is_some_and(|a| a.matches(&get("/a"))));
    assert!(set.get("nope").is_none());
    assert_eq!(
        set.insert("a-one", acl("path /x")),
        Err(AclError::new(0, "ACL `a-one` is already defined"))
    );
    assert_eq!(
        set.insert("a b", acl("path /x")),
        Err(AclError::new(
            0,
            "invalid ACL name `a b` (names are [A-Za-z0-9_.-]+)"
        ))
    );
    assert_eq!(
        set.insert("", acl("path /x")),
        Err(AclError::new(
            0,
            "invalid ACL name `` (names are [A-Za-z0-9_.-]+)"
        ))
    );
    assert_eq!(
        set.insert("or", acl("path /x")),
        Err(AclError::new(
            0,
            "`or` cannot name an ACL: it is the OR operator of conditions"
        ))
    );
    assert_eq!(set.len(), 3);
}

#[test]
fn req_ssl_sni() {
    let tls = get("/").sni("api.example.org");
    for line in [
        "req_ssl_sni api.example.org",
        "req.ssl_sni api.example.org",
        "req_ssl_sni API.Example.Org",
        "req_ssl_sni -m end .example.org",
        "req_ssl_sni -m dom example.org",
        "req_ssl_sni -m reg ^api\\.",
        "req_ssl_sni -m found",
        "req_ssl_sni www.example.org api.example.org",
    ] {
        assert!(acl(line).matches(&tls), "{line}");
    }
    assert!(!acl("req_ssl_sni www.example.org").matches(&tls));
    // No ClientHello (or no SNI in it): no sample, nothing matches.
    assert!(!acl("req_ssl_sni -m found").matches(&get("/")));
    assert!(!acl("req_ssl_sni api.example.org").matches(&get("/")));
    let a = acl("req_ssl_sni x");
    assert_eq!(a.fetch(), &Fetch::ReqSslSni);
    assert!(a.ignore_case() && a.match_kind() == MatchKind::Str);
    assert!(!a.fetch().is_http() && !Fetch::Src.is_http());
    assert!(Fetch::Path.is_http() && Fetch::Host.is_http());
    assert_eq!(
        err("req_ssl_sni(x) a").message,
        "`req_ssl_sni` takes no argument"
    );
}

#[test]
fn condition_lists_its_acls() {
    let mut set = AclSet::new();
    assert!(set.insert("lan", acl("src 10.0.0.0/8")).is_ok());
    let cond = crate::Condition::parse("lan { req_ssl_sni a } || !{ path /x }", &set);
    let Ok(cond) = cond else { panic!("{cond:?}") };
    let fetches: Vec<&Fetch> = cond.acls().map(|a| a.fetch()).collect();
    assert_eq!(fetches, [&Fetch::Src, &Fetch::ReqSslSni, &Fetch::Path]);
}

#[test]
fn src_http_req_rate() {
    use std::time::Duration;
    let ten = Duration::from_secs(10);
    let a = acl("src_http_req_rate(10s) gt 5");
    assert_eq!(a.fetch(), &Fetch::SrcHttpReqRate(ten));
    assert_eq!(a.fetch().rate_period(), Some(ten));
    assert_eq!(a.match_kind(), MatchKind::Int);
    assert!(a.fetch().is_http());
    assert!(!a.matches(&get("/").rate(ten, 5)));
    assert!(a.matches(&get("/").rate(ten, 6)));
    // No sample (the proxy does not count this period): no match.
    assert!(!a.matches(&get("/")));
    assert!(!a.matches(&get("/").rate(Duration::from_secs(1), 100)));
    // Ranges, several values, `-m found`, other operators and periods.
    let r = acl("src_http_req_rate(1m) 0:2 10: eq 7");
    let minute = Duration::from_secs(60);
    for (n, want) in [
        (0, true),
        (2, true),
        (3, false),
        (7, true),
        (9, false),
        (10, true),
    ] {
        assert_eq!(r.matches(&get("/").rate(minute, n)), want, "{n}");
    }
    assert!(acl("src_http_req_rate(500ms) -m found")
        .matches(&get("/").rate(Duration::from_millis(500), 0)));
    assert!(acl("src_http_req_rate(10s) le 5").matches(&get("/").rate(ten, 5)));
    assert!(!acl("src_http_req_rate(10s) lt 5").matches(&get("/").rate(ten, 5)));
    assert!(acl("src_http_req_rate(10s) -m int ge 5").matches(&get("/").rate(ten, 5)));
    // Huge counts compare as the largest integer, never wrap.
    assert!(acl("src_http_req_rate(10s) gt 5").matches(&get("/").rate(ten, u64::MAX)));
}
