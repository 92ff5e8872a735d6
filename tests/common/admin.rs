//! The admin tests' proxy: fairway with an `admin` section (listener,
//! optional auth, runtime socket) and helpers to call it.

use super::*;
use serde_json::Value;
use std::collections::HashMap;
use std::os::unix::net::UnixStream;

/// `admin:pw`, base64.
pub const AUTH: &str = "Basic YWRtaW46cHc=";

/// A running proxy with its admin listener and socket.
pub struct Admin {
    pub f: Fairway,
    pub addr: SocketAddr,
    pub sock: PathBuf,
}

/// Starts fairway on `body` (frontends and backends) with an `admin`
/// section: auth `admin:pw` when `auth`, the socket at `{DIR}/admin.sock`.
pub fn start(body: &str, ups: &[&Upstream], auth: bool) -> Admin {
    let port = free_port();
    let auth = if auth {
        "\n  auth: { user: admin, password: pw }"
    } else {
        ""
    };
    let yaml =
        format!("admin:\n  bind: 127.0.0.1:{port}{auth}\n  socket: \"{{DIR}}/admin.sock\"\n{body}");
    let f = Fairway::start(&yaml, ups);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_until(&f, Duration::from_secs(10), "the admin listener", || {
        TcpStream::connect(addr).is_ok()
    });
    let sock = f.dir.join("admin.sock");
    wait_until(&f, Duration::from_secs(10), "the admin socket", || {
        UnixStream::connect(&sock).is_ok()
    });
    Admin { f, addr, sock }
}

/// One backend `upstream` (round robin) over `servers` lines.
pub fn upstream_backend(servers: &str) -> String {
    format!(
        "frontends:\n  web:\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    default_backend: upstream\nbackends:\n  upstream:\n    balance: roundrobin\n    servers:\n{servers}"
    )
}

pub fn two_servers() -> (Upstream, Upstream, String) {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let yaml = upstream_backend("      a: { addr: \"{UP0}\" }\n      b: { addr: \"{UP1}\" }\n");
    (a, b, yaml)
}

impl Admin {
    /// `method path` with `headers` and `body`, authenticated.
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> Response {
        self.raw(method, path, &[("authorization", AUTH)], body)
    }

    pub fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Response {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut req = format!("{method} {path} HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = body {
            req.push_str(&format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(body.unwrap_or(""));
        s.write_all(req.as_bytes()).unwrap();
        read_response(&mut BufReader::new(s), method == "HEAD").unwrap()
    }

    pub fn json(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let r = self.call(method, path, body);
        let v = serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {r:?}"));
        (r.status, v)
    }

    /// Sends `input` on the runtime socket without closing our side (as
    /// `nc -U` does) and reads until the proxy closes.
    pub fn sock(&self, input: &str) -> String {
        let mut s = UnixStream::connect(&self.sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(input.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out)
            .expect("the socket closes after the command line");
        out
    }

    /// Which servers answer `n` requests.
    pub fn tally(&self, n: usize) -> HashMap<String, usize> {
        let mut t = HashMap::new();
        for _ in 0..n {
            let r = self.f.get("/");
            assert_eq!(r.status, 200, "{r:?}\n{}", self.f.log());
            *t.entry(r.server().to_string()).or_default() += 1;
        }
        t
    }
}

pub fn error_of(v: &Value) -> &str {
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {v}"))
}
