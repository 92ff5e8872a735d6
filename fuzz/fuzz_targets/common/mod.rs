//! Shared by the fuzz targets: a request to evaluate parsed rules against,
//! and a name resolver that never leaves the machine.

#![allow(dead_code)]

use fairway_acl::Request;
use fairway_config::{Config, ConfigError};
use std::ffi::{c_char, c_int, CStr};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

/// A request with owned parts; `host()` reads the `host` header.
pub struct FuzzReq<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a [u8])],
    pub src: Option<IpAddr>,
    pub sni: Option<&'a str>,
}

impl Request for FuzzReq<'_> {
    fn method(&self) -> &str {
        self.method
    }

    fn path(&self) -> &str {
        self.path
    }

    fn query(&self) -> Option<&str> {
        self.query
    }

    fn url(&self) -> &str {
        self.url
    }

    fn host(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == "host")
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    fn header_values(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .any(|(_, v)| f(v))
    }

    fn src(&self) -> Option<IpAddr> {
        self.src
    }

    fn ssl_sni(&self) -> Option<&str> {
        self.sni
    }
}

/// The config loader resolves server host names with `getaddrinfo`. A fuzzer
/// makes up thousands of names a second: sent to DNS, they would slow every
/// run to the resolver's pace and flood it. This definition takes the place
/// of the C library's in the fuzz binaries: `localhost` is resolved as usual
/// (from /etc/hosts), any other name only as a numeric address
/// (`AI_NUMERICHOST`), so nothing is ever sent on the network.
///
/// # Safety
///
/// Called by the C library's callers with `getaddrinfo`'s contract.
#[no_mangle]
pub unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const libc::addrinfo,
    res: *mut *mut libc::addrinfo,
) -> c_int {
    type Real = unsafe extern "C" fn(
        *const c_char,
        *const c_char,
        *const libc::addrinfo,
        *mut *mut libc::addrinfo,
    ) -> c_int;
    let real = libc::dlsym(libc::RTLD_NEXT, c"getaddrinfo".as_ptr());
    if real.is_null() {
        return libc::EAI_FAIL;
    }
    let real: Real = std::mem::transmute::<*mut libc::c_void, Real>(real);
    RESOLVER_IN_USE.store(true, Ordering::Relaxed);
    let localhost = !node.is_null() && CStr::from_ptr(node).to_bytes() == b"localhost";
    if localhost {
        return real(node, service, hints, res);
    }
    let mut numeric: libc::addrinfo = if hints.is_null() {
        std::mem::zeroed()
    } else {
        std::ptr::read(hints)
    };
    numeric.ai_flags |= libc::AI_NUMERICHOST;
    real(node, service, &numeric, res)
}

/// Set by the resolver above: proof that it replaced the C library's.
static RESOLVER_IN_USE: AtomicBool = AtomicBool::new(false);

/// Panics unless host names go through the resolver above, so that a build
/// where it is not linked in fails at once instead of querying DNS.
pub fn assert_no_dns() {
    use std::net::ToSocketAddrs;
    static CHECKED: Once = Once::new();
    CHECKED.call_once(|| {
        let made_up = ("fuzz-no-dns.invalid", 80).to_socket_addrs();
        assert!(made_up.is_err(), "a made-up name resolved: {made_up:?}");
        assert!(
            RESOLVER_IN_USE.load(Ordering::Relaxed),
            "the fuzz resolver is not linked in: names would go to DNS"
        );
    });
}

/// `${VAR}` for the loader: a few variables are set, the others are not.
pub fn env(name: &str) -> Option<String> {
    match name {
        "PORT" => Some("8080".to_string()),
        "HOST" => Some("127.0.0.1".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

/// Whether the loader may be given `text`. The loader reads the certificate,
/// key and CA files a config names; a name under /dev, /proc or /sys could
/// block (`/dev/stdin`) or never end (`/dev/zero`), which says nothing about
/// fairway. Inputs that could spell such a path, literally or through YAML
/// escapes, are skipped.
pub fn safe_to_load(text: &str) -> bool {
    !["/dev", "/proc", "/sys", "\\x", "\\u", "\\U", "\\/"]
        .iter()
        .any(|bad| text.contains(bad))
}

/// A typical request: host with port, a few headers, a query, an address.
pub fn typical_request() -> FuzzReq<'static> {
    const HEADERS: [(&str, &[u8]); 4] = [
        ("host", b"www.Example.org:8080"),
        ("user-agent", b"curl/8.5 badbot"),
        ("cookie", b"SERVERID=s1; lang=en"),
        ("x-forwarded-for", b"10.0.0.1, 192.168.1.2"),
    ];
    FuzzReq {
        method: "GET",
        path: "/app/v1/LightWork.json",
        query: Some("a=1&b=two&a=3"),
        url: "/app/v1/LightWork.json?a=1&b=two&a=3",
        headers: &HEADERS,
        src: Some(IpAddr::from([10, 1, 2, 3])),
        sni: Some("www.example.org"),
    }
}

/// What the loader promises about its result for `text`: an error lists at
/// least one problem, each at a line of the file; a config's rules run and
/// every backend they name exists.
pub fn check_load(text: &str, result: Result<Config, ConfigError>) {
    match result {
        Ok(config) => {
            let req = typical_request();
            for fe in &config.frontends {
                fe.uses_ssl_sni();
                fe.rate_periods();
                for rule in &fe.http_request {
                    rule.applies(&req);
                }
                for rule in &fe.tcp_request {
                    rule.applies(&req);
                }
                for ub in &fe.use_backend {
                    ub.applies(&req);
                    assert!(
                        config.backend(&ub.backend).is_some(),
                        "use_backend names a missing backend {:?}",
                        ub.backend
                    );
                }
                if let Some(name) = &fe.default_backend {
                    assert!(
                        config.backend(name).is_some(),
                        "default_backend names a missing backend {name:?}"
                    );
                }
            }
        }
        Err(e) => {
            assert!(!e.diagnostics.is_empty(), "an error without diagnostics");
            // YAML breaks lines at `\n`, `\r\n` and a lone `\r`. The YAML
            // scanner reports the end of a file without a final line break
            // as the start of the line after it: one more line is allowed.
            let lines = text.replace("\r\n", "\n").matches(['\n', '\r']).count() + 2;
            for d in &e.diagnostics {
                if let Some(line) = d.line {
                    assert!((1..=lines).contains(&line), "line {line} out of range: {d}");
                }
                if let Some(col) = d.col {
                    assert!(col >= 1, "column 0: {d}");
                }
            }
            let _ = e.to_string();
        }
    }
}
