//! The real servers of the oracle suite, each started once per run on
//! 127.0.0.1 in its own process group (killed whole when dropped, on a
//! panic too): three backends that route (nginx, a Python WSGI app,
//! Tomcat), each writing one log line per request it routed, and the two
//! proxies in front of them (fairway and HAProxy) with the same rule.

use crate::common::{free_port, installed, temp_dir, Fairway, Haproxy, TestCa};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The rule of every proxy here, in HAProxy's syntax.
pub const RULE: &str = "deny if { path -i -m beg /admin }";

/// A server process in a process group of its own; the whole group (the
/// process and any child it started) is killed when this is dropped.
pub struct Group {
    what: &'static str,
    child: Child,
    out: PathBuf,
}

impl Group {
    /// Starts `cmd` with stdout and stderr to `out`.
    fn spawn(what: &'static str, mut cmd: Command, out: PathBuf) -> Group {
        let file = File::create(&out).unwrap();
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Group { what, child, out }
    }

    /// Waits up to 60 s for `addr` to accept connections; panics with the
    /// server's output if it exits or never listens.
    fn wait_listening(&mut self, addr: SocketAddr) {
        let start = Instant::now();
        while TcpStream::connect(addr).is_err() {
            let out = || std::fs::read_to_string(&self.out).unwrap_or_default();
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited with {status}:\n{}", self.what, out());
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{} did not listen on {addr}:\n{}",
                self.what,
                out()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// What a backend's own log says it did with one request.
#[derive(Debug, Clone)]
pub struct Served {
    /// `admin` or `other`; `None` when the server answered without routing
    /// (its own 400).
    pub route: Option<String>,
    /// The path it routed on, as it resolved it.
    pub path: String,
}

/// A backend that routes `/admin` apart from everything else.
pub struct Backend {
    pub name: &'static str,
    pub addr: SocketAddr,
    log: PathBuf,
    _group: Group,
}

impl Backend {
    /// Every request the backend logged, by its `x-oracle` tag. Log lines
    /// read `TAG route=ROUTE ... path=PATH`.
    pub fn served(&self) -> HashMap<String, Served> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut out = HashMap::new();
        for line in text.lines() {
            let mut words = line.split(' ');
            let tag = words.next().unwrap_or("").to_string();
            let (mut route, mut path) = (None, String::new());
            for w in words {
                if let Some(r) = w.strip_prefix("route=") {
                    route = matches!(r, "admin" | "other").then(|| r.to_string());
                } else if let Some(p) = w.strip_prefix("path=") {
                    path = unescape(p);
                }
            }
            out.insert(tag, Served { route, path });
        }
        out
    }
}

/// A path as a backend logged it: nginx writes `\xHH` for a backslash
/// or a control character, Python's `ascii()` `\\` and `\xHH`.
fn unescape(logged: &str) -> String {
    let mut out = Vec::new();
    let b = logged.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let hex = logged
            .get(i + 2..i + 4)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], b.get(i + 1), hex) {
            (b'\\', Some(b'x'), Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (b'\\', Some(b'\\'), _) => {
                out.push(b'\\');
                i += 2;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn dir(tag: &str) -> PathBuf {
    temp_dir(&format!("oracle-{tag}"))
}

/// nginx 1.22: a prefix location `/admin` and `/`, on `$uri` (decoded,
/// slashes merged, dot segments resolved). One process
/// (`master_process off`), so no worker outlives the test.
pub fn nginx() -> Backend {
    let bin = installed(&["/usr/sbin/nginx"], "nginx");
    let d = dir("nginx");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let log = d.join("access.log");
    let conf = d.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\nevents {{ worker_connections 512; }}\n\
             http {{\n  default_type text/plain;\n\
             \x20 log_format oracle '$http_x_oracle route=$route status=$status path=$uri';\n\
             \x20 access_log {log} oracle;\n\
             \x20 client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
             \x20 fastcgi_temp_path {d}/fcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             \x20 server {{\n    listen {addr};\n    set $route none;\n\
             \x20   location /admin {{ set $route admin; return 200 \"route=admin path=$uri\\n\"; }}\n\
             \x20   location / {{ set $route other; return 200 \"route=other path=$uri\\n\"; }}\n\
             \x20 }}\n}}\n",
            d = d.display(),
            log = log.display(),
        ),
    )
    .unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("-p").arg(&d).arg("-c").arg(&conf);
    let mut group = Group::spawn("nginx", cmd, d.join("stderr.log"));
    group.wait_listening(addr);
    Backend {
        name: "nginx",
        addr,
        log,
        _group: group,
    }
}

/// The WSGI app of `tests/backends/app.py` on the standard library's
/// wsgiref server (PATH_INFO percent-decoded, `%2F` included).
pub fn python() -> Backend {
    let bin = installed(&["/usr/bin/python3"], "python3");
    let d = dir("python");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let log = d.join("access.log");
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/backends/app.py");
    let mut cmd = Command::new(bin);
    cmd.arg(app).arg(addr.port().to_string()).arg(&log);
    let mut group = Group::spawn("python", cmd, d.join("stderr.log"));
    group.wait_listening(addr);
    Backend {
        name: "python",
        addr,
        log,
        _group: group,
    }
}

/// Tomcat 10 (Debian's `tomcat10`) with its own CATALINA_BASE: the ROOT
/// webapp maps the servlet `tests/backends/Route.java` (compiled here with
/// the JDK's javac) as `/admin`, `/admin/*` and `/`. The access-log valve
/// writes the request's tag and the route the servlet served.
pub fn tomcat() -> Backend {
    let catalina = installed(&["/usr/share/tomcat10/bin/catalina.sh"], "tomcat10");
    let java =
        std::fs::canonicalize(installed(&["/usr/bin/java"], "openjdk-17-jdk-headless")).unwrap();
    let java_home = java.parent().unwrap().parent().unwrap().to_path_buf();
    let javac = java_home.join("bin/javac");
    assert!(
        javac.exists(),
        "javac is not installed: run ./scripts/setup.sh (Debian package openjdk-17-jdk-headless)"
    );
    let servlet_api = installed(
        &["/usr/share/java/tomcat10-servlet-api.jar"],
        "libtomcat10-java",
    );
    let base = dir("tomcat");
    let classes = base.join("webapps/ROOT/WEB-INF/classes");
    for sub in ["conf", "logs", "temp", "work"] {
        std::fs::create_dir_all(base.join(sub)).unwrap();
    }
    std::fs::create_dir_all(&classes).unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/backends/Route.java");
    let out = Command::new(&javac)
        .args(["--release", "17", "-cp", servlet_api, "-d"])
        .arg(&classes)
        .arg(&source)
        .output()
        .expect("run javac");
    assert!(
        out.status.success(),
        "javac Route.java: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    std::fs::write(
        base.join("conf/server.xml"),
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="{port}" address="127.0.0.1" protocol="HTTP/1.1" connectionTimeout="20000"/>
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false">
        <Valve className="org.apache.catalina.valves.AccessLogValve" directory="logs"
               prefix="access" suffix=".log" rotatable="false" buffered="false"
               pattern="%{{x-oracle}}i route=%{{route}}r status=%s path=%{{path}}r"/>
      </Host>
    </Engine>
  </Service>
</Server>
"#,
            port = addr.port()
        ),
    )
    .unwrap();
    let servlet = |name: &str| {
        format!(
            "  <servlet><servlet-name>{name}</servlet-name><servlet-class>Route</servlet-class>\n\
             \x20   <init-param><param-name>route</param-name><param-value>{name}</param-value></init-param></servlet>\n"
        )
    };
    std::fs::write(
        base.join("webapps/ROOT/WEB-INF/web.xml"),
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <web-app xmlns=\"https://jakarta.ee/xml/ns/jakartaee\" version=\"6.0\" metadata-complete=\"true\">\n\
             {}{}\
             \x20 <servlet-mapping><servlet-name>admin</servlet-name><url-pattern>/admin</url-pattern><url-pattern>/admin/*</url-pattern></servlet-mapping>\n\
             \x20 <servlet-mapping><servlet-name>other</servlet-name><url-pattern>/</url-pattern></servlet-mapping>\n\
             </web-app>\n",
            servlet("admin"),
            servlet("other")
        ),
    )
    .unwrap();
    let mut cmd = Command::new(catalina);
    cmd.arg("run")
        .env("CATALINA_HOME", "/usr/share/tomcat10")
        .env("CATALINA_BASE", &base)
        .env("JAVA_HOME", &java_home)
        .env(
            "JAVA_OPTS",
            "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx192m",
        )
        .env_remove("CATALINA_OPTS");
    let mut group = Group::spawn("tomcat", cmd, base.join("logs/catalina.out"));
    group.wait_listening(addr);
    Backend {
        name: "tomcat",
        addr,
        log: base.join("logs/access.log"),
        _group: group,
    }
}

/// The listeners of one proxy for one backend: plain (HTTP/1.x and h2c
/// with prior knowledge) and TLS (h2 by ALPN).
#[derive(Debug, Clone, Copy)]
pub struct Listeners {
    pub plain: SocketAddr,
    pub tls: SocketAddr,
}

/// The certificate both proxies serve, for `oracle.test`, and the CA that
/// signed it (curl verifies it).
pub struct Cert {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Certificate and key in one file (HAProxy's `crt`).
    pub combined: PathBuf,
}

pub fn cert() -> Cert {
    let d = dir("tls");
    let ca = TestCa::new(&d, "oracle");
    let (cert, key) = ca.leaf("front", &["oracle.test"]);
    let combined = d.join("front-combined.pem");
    let mut pem = std::fs::read(&cert).unwrap();
    pem.extend(std::fs::read(&key).unwrap());
    std::fs::write(&combined, pem).unwrap();
    Cert {
        ca: ca.cert(),
        cert,
        key,
        combined,
    }
}

/// The access-log format both proxies write: the request's tag, the
/// status, the server (`<NOSRV>`: not forwarded), the path the rules saw.
const FAIRWAY_LOG: &str = "oracle tag=%[hdr(x-oracle)] status=%ST server=%s path=%[path]";

/// fairway with two frontends per backend (plain with `h2c: true`, TLS),
/// each `normalize_path: true` with [`RULE`] and the defaults of
/// `encoded_slashes` and `path_params`.
pub fn fairway(backends: &[&Backend], cert: &Cert) -> (Fairway, Vec<Listeners>) {
    let mut listeners = Vec::new();
    let mut frontends = String::new();
    let mut servers = String::new();
    for (i, b) in backends.iter().enumerate() {
        let plain = if i == 0 {
            "{PORT}".to_string()
        } else {
            free_port().to_string()
        };
        let tls = free_port();
        let rules = format!(
            "    normalize_path: true\n    http_request:\n      - {RULE}\n    default_backend: {}\n",
            b.name
        );
        frontends.push_str(&format!(
            "  {n}:\n    bind: [\"127.0.0.1:{plain}\"]\n    h2c: true\n{rules}\
             \x20 {n}_tls:\n    bind: [\"127.0.0.1:{tls}\"]\n    tls: {{ cert: {c}, key: {k} }}\n{rules}",
            n = b.name,
            c = cert.cert.display(),
            k = cert.key.display(),
        ));
        servers.push_str(&format!(
            "  {}:\n    timeout_server: 20s\n    servers: {{ s: {{ addr: \"{}\" }} }}\n",
            b.name, b.addr
        ));
        listeners.push((plain, tls));
    }
    let yaml = format!(
        "global:\n  threads: 2\n  grace_period: 1s\n  pid_file: {{DIR}}/fairway.pid\n  upgrade_sock: {{DIR}}/upgrade.sock\n\
         \x20 access_log: true\n  access_log_format: \"{FAIRWAY_LOG}\"\n\
         frontends:\n{frontends}backends:\n{servers}"
    );
    let f = Fairway::start(&yaml, &[]);
    let listeners = listeners
        .into_iter()
        .map(|(plain, tls)| {
            let plain = if plain == "{PORT}" {
                f.addr
            } else {
                SocketAddr::from(([127, 0, 0, 1], plain.parse().unwrap()))
            };
            let tls = SocketAddr::from(([127, 0, 0, 1], tls));
            wait_port(tls);
            wait_port(plain);
            Listeners { plain, tls }
        })
        .collect();
    (f, listeners)
}

/// HAProxy 2.6 in front of the same backends with the same rule: a plain
/// bind (HTTP/1.x, and h2c, which HAProxy detects by its preface) and a
/// TLS bind with ALPN h2.
pub fn haproxy(backends: &[&Backend], cert: &Cert) -> (Haproxy, Vec<Listeners>) {
    let mut listeners = Vec::new();
    let mut conf = String::from(
        "global\n  log stdout format raw local0\n\
         defaults\n  mode http\n  log global\n\
         \x20 log-format \"oracle tag=%[capture.req.hdr(0)] status=%ST server=%s path=%[capture.req.hdr(1)]\"\n\
         \x20 timeout connect 2s\n  timeout client 20s\n  timeout server 20s\n",
    );
    for b in backends {
        let l = Listeners {
            plain: SocketAddr::from(([127, 0, 0, 1], free_port())),
            tls: SocketAddr::from(([127, 0, 0, 1], free_port())),
        };
        conf.push_str(&format!(
            "frontend {n}\n  bind {p}\n  bind {t} ssl crt {c} alpn h2,http/1.1\n\
             \x20 http-request capture req.hdr(x-oracle) len 40\n  http-request capture path len 200\n\
             \x20 http-request {RULE}\n\
             \x20 default_backend {n}\n\
             backend {n}\n  server s {a}\n",
            n = b.name,
            p = l.plain,
            t = l.tls,
            c = cert.combined.display(),
            a = b.addr
        ));
        listeners.push(l);
    }
    let h = Haproxy::start(&conf, listeners[0].plain.port());
    for l in &listeners {
        wait_port(l.plain);
        wait_port(l.tls);
    }
    (h, listeners)
}

fn wait_port(addr: SocketAddr) {
    let start = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "nothing listens on {addr}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// One access-log line of a proxy: `oracle tag=T status=S server=V path=P`.
#[derive(Debug, Clone, Default)]
pub struct Logged {
    pub status: String,
    /// The server the request went to; `<NOSRV>` when none.
    pub server: String,
    /// The path the rules saw.
    pub path: String,
}

impl Logged {
    /// Whether the proxy sent the request to a server.
    pub fn forwarded(&self) -> bool {
        !self.server.is_empty() && self.server != "<NOSRV>" && self.server != "-"
    }
}

/// The `oracle ...` lines of a proxy's log, by tag.
pub fn proxy_log(text: &str) -> HashMap<String, Logged> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let Some(rest) = line.find("oracle tag=").map(|i| &line[i + 7..]) else {
            continue;
        };
        let mut tag = String::new();
        let mut l = Logged::default();
        for w in rest.split(' ') {
            if let Some((k, v)) = w.split_once('=') {
                match k {
                    "tag" => tag = v.to_string(),
                    "status" => l.status = v.to_string(),
                    "server" => l.server = v.to_string(),
                    "path" => l.path = v.to_string(),
                    _ => {}
                }
            }
        }
        out.insert(tag, l);
    }
    out
}
