//! `h2c: true`: cleartext HTTP/2 with prior knowledge beside HTTP/1.x on
//! the same listener, under the same rules. Client: curl (nghttp2).

mod common;

use common::{curl, get, read_response, Fairway, Upstream};
use std::io::{BufReader, Write};
use std::net::TcpStream;

const YAML: &str = r#"
frontends:
  web:
    bind: ["127.0.0.1:{PORT}"]
    h2c: true
    http_request:
      - deny if { path -i -m beg /admin }
    default_backend: app
backends:
  app:
    servers: { s1: { addr: "{UP0}" } }
"#;

/// `curl --http2-prior-knowledge` on `url`: (HTTP version, status, body).
fn h2(url: &str) -> (String, String, String) {
    let (ok, out, err) = curl(&[
        "--http2-prior-knowledge",
        "-o",
        "-",
        "-w",
        "\n%{http_version} %{http_code}",
        url,
    ]);
    let (body, tail) = out.rsplit_once('\n').unwrap_or(("", ""));
    let (version, status) = tail.split_once(' ').unwrap_or(("", ""));
    assert!(ok || !err.is_empty(), "{err}");
    (version.to_string(), status.to_string(), body.to_string())
}

#[test]
fn cleartext_http2_and_http1_share_the_listener_and_the_rules() {
    let up = Upstream::start("a");
    let f = Fairway::start(YAML, &[&up]);
    let base = format!("http://{}", f.addr);

    let (version, status, body) = h2(&format!("{base}/x?y=1"));
    assert_eq!(
        (version.as_str(), status.as_str()),
        ("2", "200"),
        "{}",
        f.log()
    );
    assert_eq!(body, "a /x?y=1");
    assert_eq!(up.last().target, "/x?y=1");
    // The server gets the host the rules saw: HTTP/2's `:authority`.
    assert_eq!(up.last().header("host"), Some(f.addr.to_string().as_str()));
    // The rules see HTTP/2 requests too: nothing reaches the server.
    let hits = up.hits();
    let (version, status, _) = h2(&format!("{base}/admin/users"));
    assert_eq!((version.as_str(), status.as_str()), ("2", "403"));
    assert_eq!(up.hits(), hits);

    // HTTP/1.1 on the same port, including a method that starts with `P`
    // as the HTTP/2 preface does.
    assert_eq!(get(f.addr, "/plain", &[]).status, 200);
    let mut conn = TcpStream::connect(f.addr).unwrap();
    conn.write_all(b"POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
        .unwrap();
    let r = read_response(&mut BufReader::new(conn), false).unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "a /form"));
}

#[test]
fn without_h2c_prior_knowledge_http2_is_not_spoken() {
    let up = Upstream::start("a");
    let f = Fairway::start(&YAML.replace("    h2c: true\n", ""), &[&up]);
    let (_, status, _) = h2(&format!("http://{}/x", f.addr));
    assert_ne!(status, "200");
    assert_eq!(up.hits(), 0);
}

/// An HTTP/2 request's `:authority` is the host the rules see and the
/// `Host` the server receives, whatever normalization or `set-path` did to
/// the path (SPEC §9; issue 28: `//x` over HTTP/2 reached the server with
/// an empty `Host`, past a host rule). Over h2c and TLS h2.
#[test]
fn http2_authority_is_the_host_whatever_the_path_rewriting() {
    let dir = common::temp_dir("h2-authority");
    let (cert, key) = common::self_signed(&dir, "front", &["secret.example", "ok.example"]);
    let tls_port = common::free_port();
    let up = Upstream::start("a");
    let rules = "[\"set-path /x if { path_beg /sp }\", \
                 \"deny status 421 if { host -i secret.example }\"]";
    let yaml = format!(
        r#"
frontends:
  web:
    bind: ["127.0.0.1:{{PORT}}"]
    h2c: true
    http_request: {rules}
    default_backend: app
  secure:
    bind: ["127.0.0.1:{tls_port}"]
    tls: {{ cert: "{}", key: "{}" }}
    http_request: {rules}
    default_backend: app
backends:
  app:
    servers: {{ s1: {{ addr: "{{UP0}}" }} }}
"#,
        cert.display(),
        key.display()
    );
    let f = Fairway::start(&yaml, &[&up]);
    let bases = [
        ("http", f.addr.port(), "--http2-prior-knowledge"),
        ("https", tls_port, "--http2"),
    ];
    for (scheme, port, flag) in bases {
        let send = |host: &str, path: &str| {
            let connect = format!("{host}:{port}:127.0.0.1:{port}");
            let url = format!("{scheme}://{host}:{port}{path}");
            let (_, out, err) = curl(&[
                flag,
                "-k",
                "--path-as-is",
                "--connect-to",
                &connect,
                "-o",
                "/dev/null",
                "-w",
                "%{http_version} %{http_code}",
                &url,
            ]);
            assert!(out.starts_with("2 "), "{url}: {out} {err}\n{}", f.log());
            out[2..].to_string()
        };
        let cases = ["/x", "//x", "/%7ex", "/a/../x", "/./x", "/sp/y", "//sp/y"];
        for path in cases {
            let hits = up.hits();
            assert_eq!(send("secret.example", path), "421", "{scheme} {path}");
            assert_eq!(up.hits(), hits, "{scheme} {path} reached the server");
        }
        // An encoded slash is refused before the rules (encoded_slashes).
        let hits = up.hits();
        assert_eq!(send("secret.example", "/%2fx"), "400", "{scheme}");
        assert_eq!(up.hits(), hits);
        // Allowed: the server gets `:authority` as Host, after any rewrite.
        let authority = format!("ok.example:{port}");
        for (path, target) in [
            ("/x", "/x"),
            ("//x", "/x"),
            ("/%7ex", "/~x"),
            ("/a/../x", "/x"),
            ("/sp/y", "/x"),
            ("//sp/y", "/x"),
        ] {
            assert_eq!(send("ok.example", path), "200", "{scheme} {path}");
            let seen = up.last();
            assert_eq!(seen.target, target, "{scheme} {path}");
            assert_eq!(
                seen.header("host"),
                Some(authority.as_str()),
                "{scheme} {path}"
            );
        }
    }
}
