//! Service discovery, end to end (seed 004): a real etcd (Debian's
//! `etcd-server`) on loopback ports, real upstreams, the real `fairway`
//! binary, and keys `/apps/myapp/containers/NAME = ip:port` put and deleted
//! the way confd's users do. Also the watched-file source.
//!
//! Each etcd test starts its own etcd in a fresh data dir; it is killed when
//! the test ends.

mod common;

use common::{free_port, temp_dir, wait_until, Fairway, Upstream};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PREFIX: &str = "/apps/myapp/containers/";

/// How soon a put, delete or file edit must be served. The watch (or, at
/// worst, the 500 ms etcd resync or the 300 ms file poll) applies one in
/// well under a second on an idle machine, and the tests print what they
/// measured; the bound leaves room for a loaded machine. The waits poll, so
/// they take only as long as the apply does.
const APPLY_LIMIT: Duration = Duration::from_secs(5);

/// A single-member etcd on 127.0.0.1, with a client for the test.
struct Etcd {
    child: Option<Child>,
    dir: PathBuf,
    client_port: u16,
    peer_port: u16,
    /// With TLS: the CA that signed etcd's certificate (PEM).
    ca: Option<String>,
    /// With authentication: the test's user.
    user: Option<(String, String)>,
    rt: tokio::runtime::Runtime,
}

impl Etcd {
    fn start() -> Etcd {
        Etcd::start_with(false)
    }

    /// With `tls`, etcd serves clients over TLS with a certificate for
    /// 127.0.0.1 signed by a CA made here (`ca.pem` in its dir).
    fn start_with(tls: bool) -> Etcd {
        let mut etcd = Etcd {
            child: None,
            dir: temp_dir("etcd"),
            client_port: free_port(),
            peer_port: free_port(),
            ca: None,
            user: None,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        };
        if tls {
            let ca_key = rcgen::KeyPair::generate().unwrap();
            let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
                .unwrap()
                .signed_by(&key, &ca)
                .unwrap();
            std::fs::write(etcd.dir.join("ca.pem"), ca.pem()).unwrap();
            std::fs::write(etcd.dir.join("server.pem"), cert.pem()).unwrap();
            std::fs::write(etcd.dir.join("server-key.pem"), key.serialize_pem()).unwrap();
            etcd.ca = Some(ca.pem());
        }
        etcd.spawn();
        etcd
    }

    fn endpoint(&self) -> String {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    /// Turns on authentication with user `root`; the test's client logs in.
    fn enable_auth(&mut self, password: &str) {
        self.rt.block_on(async {
            let mut c = self.client().await.expect("connect to etcd");
            c.user_add("root", password, None).await.unwrap();
            c.user_grant_role("root", "root").await.unwrap();
            c.auth_enable().await.unwrap();
        });
        self.user = Some(("root".into(), password.into()));
    }

    /// Starts etcd on the data dir and ports of this instance (again, after
    /// [`Etcd::stop`]); returns once it answers.
    fn spawn(&mut self) {
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("etcd.log"))
            .unwrap();
        let child = common::spawn_group(
            Command::new("etcd")
                .args(["--name", "t", "--data-dir"])
                .arg(self.dir.join("data"))
                .args(["--listen-client-urls", &self.endpoint()])
                .args(["--advertise-client-urls", &self.endpoint()])
                .args(["--listen-peer-urls", &peer])
                .args(["--initial-advertise-peer-urls", &peer])
                .args(["--initial-cluster", &format!("t={peer}")])
                .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
                .args(["--logger", "zap", "--log-level", "warn"])
                .args(if self.ca.is_some() {
                    vec![
                        "--cert-file".to_string(),
                        self.dir.join("server.pem").display().to_string(),
                        "--key-file".to_string(),
                        self.dir.join("server-key.pem").display().to_string(),
                    ]
                } else {
                    vec![]
                })
                .stdout(Stdio::null())
                .stderr(Stdio::from(log)),
        )
        .expect("spawn etcd (Debian package etcd-server; scripts/setup.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("etcd exited with {status}:\n{}", self.log());
            }
            let ready = self.rt.block_on(async {
                let mut c = self.client().await.ok()?;
                tokio::time::timeout(Duration::from_secs(1), c.get("probe", None))
                    .await
                    .ok()?
                    .ok()
            });
            if ready.is_some() {
                return;
            }
            assert!(Instant::now() < deadline, "etcd not ready:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills etcd (as a crash would); the data dir stays.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            common::stop_group(&mut child);
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("etcd.log")).unwrap_or_default()
    }

    async fn client(&self) -> Result<etcd_client::Client, etcd_client::Error> {
        let mut options = etcd_client::ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(1))
            .with_timeout(Duration::from_secs(5));
        if let Some(ca) = &self.ca {
            let ca = etcd_client::Certificate::from_pem(ca.as_bytes());
            options = options.with_tls(etcd_client::TlsOptions::new().ca_certificate(ca));
        }
        if let Some((user, password)) = &self.user {
            options = options.with_user(user.clone(), password.clone());
        }
        etcd_client::Client::connect([self.endpoint()], Some(options)).await
    }

    /// `etcdctl put PREFIX+name value`.
    fn put(&self, name: &str, value: &str) {
        let key = format!("{PREFIX}{name}");
        self.put_key(&key, value);
    }

    fn put_key(&self, key: &str, value: &str) {
        self.rt.block_on(async {
            let mut c = self.client().await.expect("connect to etcd");
            c.put(key, value, None).await.expect("etcd put");
        });
    }

    /// `etcdctl del PREFIX+name`.
    fn delete(&self, name: &str) {
        let key = format!("{PREFIX}{name}");
        self.rt.block_on(async {
            let mut c = self.client().await.expect("connect to etcd");
            c.delete(key, None).await.expect("etcd delete");
        });
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Backend `app` discovered from `etcd` under [`PREFIX`], no static servers.
fn etcd_config(etcd: &Etcd, prefix: &str, extra: &str) -> String {
    format!(
        "frontends:\n  web:\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    default_backend: app\n\
         backends:\n  app:\n    timeout_connect: 1s\n    retries: 1\n{extra}    discovery:\n      \
         etcd: {{ endpoints: [\"{}\"], prefix: \"{prefix}\" }}\n      interval: 500ms\n",
        etcd.endpoint()
    )
}

/// Sends `n` requests; every one must be a 200. Returns who answered, in order.
fn served(f: &Fairway, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let r = f.get("/");
            assert_eq!(r.status, 200, "request {i}: {r:?}\n{}", f.log());
            r.server().to_string()
        })
        .collect()
}

/// Sends `n` requests and returns who answered, 503s as `"-"`.
fn answered(f: &Fairway, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let r = f.get("/");
            if r.status == 200 {
                r.server().to_string()
            } else {
                "-".to_string()
            }
        })
        .collect()
}

fn has(list: &[String], name: &str) -> bool {
    list.iter().any(|s| s == name)
}

/// Waits until requests reach exactly `names` (every one of them, no other).
fn wait_for_set(f: &Fairway, limit: Duration, names: &[&str]) -> Duration {
    wait_until(f, limit, &format!("traffic to exactly {names:?}"), || {
        let got = answered(f, names.len() * 3);
        names.iter().all(|n| has(&got, n)) && got.iter().all(|g| names.contains(&g.as_str()))
    })
}

#[test]
fn etcd_keys_are_served_and_puts_and_deletes_apply_within_a_second() {
    let (one, two, three) = (
        Upstream::start("one"),
        Upstream::start("two"),
        Upstream::start("three"),
    );
    let etcd = Etcd::start();
    etcd.put("one", &one.addr.to_string());
    etcd.put("two", &two.addr.to_string());
    let f = Fairway::start(&etcd_config(&etcd, PREFIX, ""), &[]);
    wait_for_set(&f, Duration::from_secs(10), &["one", "two"]);
    assert!(f
        .log()
        .contains("discovery synced backend=app source=etcd servers=2"));

    let start = Instant::now();
    etcd.put("three", &three.addr.to_string());
    wait_until(&f, APPLY_LIMIT, "traffic to three", || {
        has(&answered(&f, 3), "three")
    });
    let put_latency = start.elapsed();
    assert!(put_latency < APPLY_LIMIT, "put applied in {put_latency:?}");
    assert_eq!(served(&f, 3).len(), 3, "every server answers");

    let start = Instant::now();
    etcd.delete("three");
    wait_until(&f, APPLY_LIMIT, "three gone", || {
        !has(&answered(&f, 6), "three")
    });
    let delete_latency = start.elapsed();
    assert!(
        delete_latency < APPLY_LIMIT,
        "delete applied in {delete_latency:?}"
    );
    let after = served(&f, 20);
    assert!(!has(&after, "three") && has(&after, "one") && has(&after, "two"));
    let log = f.log();
    assert!(
        log.contains("server discovered backend=app server=three"),
        "{log}"
    );
    assert!(
        log.contains("server gone backend=app server=three"),
        "{log}"
    );
    println!("etcd apply latency: put {put_latency:?}, delete {delete_latency:?}");
}

#[test]
fn etcd_weights_in_values_weight_the_traffic() {
    let (one, two) = (Upstream::start("one"), Upstream::start("two"));
    let etcd = Etcd::start();
    etcd.put("one", &format!("{} 3", one.addr));
    etcd.put("two", &format!("{} 1", two.addr));
    let f = Fairway::start(&etcd_config(&etcd, PREFIX, ""), &[]);
    wait_for_set(&f, Duration::from_secs(10), &["one", "two"]);
    let mut counts: HashMap<String, usize> = HashMap::new();
    for s in served(&f, 40) {
        *counts.entry(s).or_default() += 1;
    }
    let (a, b) = (counts["one"], counts["two"]);
    assert!(
        (28..=32).contains(&a) && a + b == 40,
        "3:1 weights, got one={a} two={b}"
    );

    // A weight change in etcd applies too.
    etcd.put("two", &format!("{} 0", two.addr));
    wait_until(&f, APPLY_LIMIT, "weight 0 takes two out", || {
        !has(&answered(&f, 8), "two")
    });
}

#[test]
fn etcd_invalid_values_are_ignored_and_the_rest_apply() {
    let (one, two) = (Upstream::start("one"), Upstream::start("two"));
    let etcd = Etcd::start();
    etcd.put("one", &one.addr.to_string());
    etcd.put("bad", "nonsense");
    etcd.put("deep/er", &two.addr.to_string());
    etcd.put("heavy", &format!("{} 999", two.addr));
    let f = Fairway::start(&etcd_config(&etcd, PREFIX, ""), &[]);
    wait_for_set(&f, Duration::from_secs(10), &["one"]);
    let warning = format!(
        "discovery ignored backend=app source=etcd key={PREFIX}bad reason=invalid address `nonsense`"
    );
    wait_until(&f, Duration::from_secs(2), "the warning", || {
        f.log().contains(&warning)
    });
    let log = f.log();
    assert!(log.contains("WARN"), "logged at warn: {log}");
    assert!(
        log.contains(&format!(
            "key={PREFIX}deep/er reason=invalid server name `deep/er`"
        )),
        "{log}"
    );
    assert!(log.contains("reason=invalid weight `999`"), "{log}");

    // Later changes re-read every key: the bad ones are not logged again.
    etcd.put("two", &two.addr.to_string());
    wait_for_set(&f, APPLY_LIMIT, &["one", "two"]);
    assert_eq!(f.log().matches(&warning).count(), 1, "logged once");

    // Fixing the value brings the server in.
    etcd.put("bad", &two.addr.to_string());
    wait_until(&f, APPLY_LIMIT, "bad fixed", || {
        f.log().contains("server discovered backend=app server=bad")
    });
}

#[test]
fn etcd_down_keeps_the_last_servers_and_a_restarted_etcd_applies_again() {
    let (one, two, three) = (
        Upstream::start("one"),
        Upstream::start("two"),
        Upstream::start("three"),
    );
    let mut etcd = Etcd::start();
    etcd.put("one", &one.addr.to_string());
    etcd.put("two", &two.addr.to_string());
    let f = Fairway::start(&etcd_config(&etcd, PREFIX, ""), &[]);
    wait_for_set(&f, Duration::from_secs(10), &["one", "two"]);

    etcd.stop();
    wait_until(&f, Duration::from_secs(5), "the error is logged", || {
        f.log()
            .contains("discovery error backend=app source=etcd err=")
    });
    assert!(f.log().contains("; keeping 2 servers"), "{}", f.log());
    // Several reconnect attempts later, the servers still answer.
    wait_until(&f, Duration::from_secs(5), "retries", || {
        f.log().matches("discovery error backend=app").count() >= 3
    });
    let during = served(&f, 10);
    assert!(has(&during, "one") && has(&during, "two"), "{during:?}");

    etcd.spawn();
    let start = Instant::now();
    etcd.put("three", &three.addr.to_string());
    // Reconnect backoff is at most 5 s.
    wait_for_set(&f, Duration::from_secs(10), &["one", "two", "three"]);
    println!(
        "etcd back: new key served {:?} after the put",
        start.elapsed()
    );
}

#[test]
fn a_reload_keeps_discovered_servers_and_follows_a_new_prefix() {
    let (one, two, three, four) = (
        Upstream::start("one"),
        Upstream::start("two"),
        Upstream::start("three"),
        Upstream::start("four"),
    );
    let etcd = Etcd::start();
    etcd.put("one", &one.addr.to_string());
    etcd.put("two", &two.addr.to_string());
    let f = Fairway::start(&etcd_config(&etcd, PREFIX, ""), &[]);
    wait_for_set(&f, Duration::from_secs(10), &["one", "two"]);

    // The same file again: the discovered servers serve throughout.
    f.signal("HUP");
    wait_until(&f, Duration::from_secs(5), "reload", || {
        f.log().contains("reload ok")
    });
    let after = served(&f, 6);
    assert!(has(&after, "one") && has(&after, "two"), "{after:?}");
    etcd.put("three", &three.addr.to_string());
    wait_for_set(&f, APPLY_LIMIT, &["one", "two", "three"]);
    assert!(!f.log().contains("discovery stopped"), "{}", f.log());

    // Another prefix: its servers replace the old ones.
    etcd.put_key("/apps/other/containers/four", &four.addr.to_string());
    let text = std::fs::read_to_string(&f.conf).unwrap();
    std::fs::write(&f.conf, text.replace(PREFIX, "/apps/other/containers/")).unwrap();
    f.signal("HUP");
    wait_for_set(&f, Duration::from_secs(5), &["four"]);
    assert!(f.log().contains("discovery stopped backend=app"));
}

#[test]
fn etcd_over_tls_with_a_user_and_password() {
    let (one, two) = (Upstream::start("one"), Upstream::start("two"));
    let mut etcd = Etcd::start_with(true);
    etcd.enable_auth("s3cret");
    etcd.put("one", &one.addr.to_string());
    let auth = |password: &str| {
        format!(
            "      etcd: {{ endpoints: [\"{}\"], prefix: \"{PREFIX}\", user: root, password: {password}, ca: \"{}\" }}\n",
            etcd.endpoint(),
            etcd.dir.join("ca.pem").display()
        )
    };
    let yaml = |password: &str| {
        format!(
            "frontends:\n  web:\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    default_backend: app\n\
             backends:\n  app:\n    discovery:\n{}      interval: 500ms\n",
            auth(password)
        )
    };
    let f = Fairway::start(&yaml("s3cret"), &[]);
    wait_for_set(&f, Duration::from_secs(10), &["one"]);
    etcd.put("two", &two.addr.to_string());
    wait_for_set(&f, APPLY_LIMIT, &["one", "two"]);

    // A wrong password is an error that keeps the servers.
    let text = std::fs::read_to_string(&f.conf).unwrap();
    std::fs::write(&f.conf, text.replace("password: s3cret", "password: wrong")).unwrap();
    f.signal("HUP");
    wait_until(&f, Duration::from_secs(5), "the auth error", || {
        f.log().contains("discovery error backend=app source=etcd")
    });
    assert!(f.log().contains("keeping 2 servers"), "{}", f.log());
    let during = served(&f, 6);
    assert!(has(&during, "one") && has(&during, "two"), "{during:?}");
}

/// Backend `app` discovered from the file `path`, polled every 300 ms.
fn file_config(path: &Path, extra: &str) -> String {
    format!(
        "frontends:\n  web:\n    bind: [\"127.0.0.1:{{PORT}}\"]\n    default_backend: app\n\
         backends:\n  app:\n    timeout_connect: 1s\n{extra}    discovery:\n      \
         file: {{ path: \"{}\" }}\n      interval: 300ms\n",
        path.display()
    )
}

/// A server that discovery removes finishes the request it is answering;
/// new requests go to the servers that remain.
#[test]
fn a_request_in_flight_finishes_on_a_server_discovery_removed() {
    let (one, two) = (Upstream::start("one"), Upstream::start("two"));
    let dir = temp_dir("servers-inflight");
    let path = dir.join("servers.yaml");
    std::fs::write(&path, format!("one: \"{}\"\n", one.addr)).unwrap();
    let f = Fairway::start(&file_config(&path, ""), &[]);
    wait_for_set(&f, Duration::from_secs(5), &["one"]);

    let addr = f.addr;
    let slow = std::thread::spawn(move || common::get(addr, "/delay/3000", &[]));
    wait_until(
        &f,
        Duration::from_secs(10),
        "the slow request at one",
        || one.in_flight() == 1,
    );
    std::fs::write(&path, format!("two: \"{}\"\n", two.addr)).unwrap();
    wait_for_set(&f, APPLY_LIMIT, &["two"]);
    assert_eq!(
        one.in_flight(),
        1,
        "the removal came while it was in flight"
    );
    let r = slow.join().unwrap();
    assert_eq!(r.status, 200, "{r:?}\n{}", f.log());
    assert_eq!(r.server(), "one");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_watched_file_applies_edits_and_keeps_the_set_when_unparsable() {
    let (one, two) = (Upstream::start("one"), Upstream::start("two"));
    let dir = temp_dir("servers");
    let path = dir.join("servers.yaml");
    std::fs::write(&path, format!("one: \"{}\"\n", one.addr)).unwrap();
    let f = Fairway::start(&file_config(&path, ""), &[]);
    wait_for_set(&f, Duration::from_secs(5), &["one"]);

    // An edit (plain lines this time) applies within the interval + slack.
    let start = Instant::now();
    std::fs::write(&path, format!("# servers\ntwo {} 2\n", two.addr)).unwrap();
    wait_for_set(&f, APPLY_LIMIT, &["two"]);
    let latency = start.elapsed();
    assert!(latency < APPLY_LIMIT, "file edit applied in {latency:?}");

    // Garbage: logged, and the previous set keeps serving.
    std::fs::write(&path, "two: [unclosed\n").unwrap();
    wait_until(&f, Duration::from_secs(3), "the error", || {
        f.log()
            .contains("discovery error backend=app source=file err=")
    });
    assert!(f.log().contains("keeping 1 servers"), "{}", f.log());
    assert!(served(&f, 5).iter().all(|s| s == "two"));

    // Fixed again.
    std::fs::write(
        &path,
        format!("one: \"{}\"\ntwo: \"{}\"\n", one.addr, two.addr),
    )
    .unwrap();
    wait_for_set(&f, APPLY_LIMIT, &["one", "two"]);
    println!("file apply latency: {latency:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn discovered_servers_are_health_checked() {
    let one = Upstream::start("one");
    let dead = free_port();
    let dir = temp_dir("servers");
    let path = dir.join("servers.txt");
    std::fs::write(&path, format!("one {}\ndead 127.0.0.1:{dead}\n", one.addr)).unwrap();
    let check =
        "    health_check: { type: tcp, interval: 100ms, timeout: 500ms, rise: 1, fall: 1 }\n";
    let f = Fairway::start(&file_config(&path, check), &[]);
    wait_until(&f, Duration::from_secs(5), "dead marked down", || {
        f.log().contains("server down backend=app server=dead")
    });
    // Every request goes to the live server, first try.
    assert!(served(&f, 10).iter().all(|s| s == "one"));
    let _ = std::fs::remove_dir_all(&dir);
}
