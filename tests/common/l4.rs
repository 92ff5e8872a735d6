//! Layer 4 and TLS helpers (tests/tcp_tls.rs).

use super::*;

// ---------------------------------------------------------------------------
// Layer 4 and TLS (tests/tcp_tls.rs): a TCP echo server, certificates made
// with the `openssl` command, a TLS upstream (rustls) and `curl`.

/// A TCP echo server on 127.0.0.1: writes back every byte it reads; when
/// the client half-closes, it finishes echoing and closes too. Counts the
/// connections it accepted.
pub struct Echo {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Echo {
    pub fn start() -> Echo {
        let listener = listen();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, st) = (accepted.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                a.fetch_add(1, Ordering::SeqCst);
                thread::spawn(move || {
                    let Ok(mut out) = conn.try_clone() else {
                        return;
                    };
                    let _ = std::io::copy(&mut conn, &mut out);
                    let _ = out.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Echo {
            addr,
            accepted,
            stop,
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

/// Runs `openssl` with `args` in `dir`; panics with its stderr on failure.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (install it: scripts/setup.sh)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA in `dir` (`NAME-ca.pem`, `NAME-ca.key`) that signs leaf
/// certificates for DNS names.
pub struct TestCa {
    pub dir: PathBuf,
    pub name: String,
}

impl TestCa {
    pub fn new(dir: &Path, name: &str) -> TestCa {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={name} test CA"),
                "-keyout",
                &format!("{name}-ca.key"),
                "-out",
                &format!("{name}-ca.pem"),
            ],
        );
        TestCa {
            dir: dir.to_path_buf(),
            name: name.to_string(),
        }
    }

    /// The CA certificate file.
    pub fn cert(&self) -> PathBuf {
        self.dir.join(format!("{}-ca.pem", self.name))
    }

    /// A leaf certificate for `names` signed by this CA: `(cert, key)` files
    /// `LEAF.pem` and `LEAF.key`.
    pub fn leaf(&self, leaf: &str, names: &[&str]) -> (PathBuf, PathBuf) {
        let san: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
        let ext = format!("subjectAltName={}", san.join(","));
        std::fs::write(self.dir.join(format!("{leaf}.ext")), &ext).unwrap();
        let (cert, key, csr) = (
            format!("{leaf}.pem"),
            format!("{leaf}.key"),
            format!("{leaf}.csr"),
        );
        openssl(
            &self.dir,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                &format!("/CN={}", names[0]),
                "-keyout",
                &key,
                "-out",
                &csr,
            ],
        );
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &format!("{}-ca.pem", self.name),
                "-CAkey",
                &format!("{}-ca.key", self.name),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{leaf}.ext"),
                "-out",
                &cert,
            ],
        );
        (self.dir.join(cert), self.dir.join(key))
    }
}

/// A self-signed certificate for `names` in `dir`: `(cert, key)`.
pub fn self_signed(dir: &Path, leaf: &str, names: &[&str]) -> (PathBuf, PathBuf) {
    let san: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={}", names[0]),
            "-addext",
            &format!("subjectAltName={}", san.join(",")),
            "-keyout",
            &format!("{leaf}.key"),
            "-out",
            &format!("{leaf}.pem"),
        ],
    );
    (
        dir.join(format!("{leaf}.pem")),
        dir.join(format!("{leaf}.key")),
    )
}

/// A TLS HTTP/1.1 upstream on 127.0.0.1 (rustls): answers `200` with body
/// `NAME TARGET` and header `x-server: NAME`; records every request,
/// health checks included.
pub struct TlsUpstream {
    pub name: String,
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl TlsUpstream {
    pub fn start(name: &str, cert: &Path, key: &Path) -> TlsUpstream {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let config = Arc::new(config);
        let listener = listen();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, s, st) = (name.to_string(), seen.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (n, s, config) = (n.clone(), s.clone(), config.clone());
                thread::spawn(move || {
                    let Ok(tls) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(20)));
                    serve_tls(rustls::StreamOwned::new(tls, conn), &n, &s);
                });
            }
        });
        TlsUpstream {
            name: name.to_string(),
            addr,
            seen,
            stop,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests from clients: those not sent by fairway's health checker.
    pub fn client_hits(&self) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.header("user-agent") != Some("fairway-health"))
            .count()
    }
}

impl Drop for TlsUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve_tls(
    stream: rustls::StreamOwned<rustls::ServerConnection, TcpStream>,
    name: &str,
    seen: &Mutex<Vec<Seen>>,
) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let close = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"));
        seen.lock().unwrap().push(Seen {
            method,
            target: target.clone(),
            headers,
        });
        let body = format!("{name} {target}");
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nx-server: {name}\r\n\r\n{body}",
            body.len()
        );
        let out = reader.get_mut();
        if out
            .write_all(resp.as_bytes())
            .and_then(|_| out.flush())
            .is_err()
            || close
        {
            out.conn.send_close_notify();
            let _ = out.flush();
            return;
        }
    }
}

/// Runs `curl -sS` with `args` (add `-i`, `--cacert`, `--resolve`, ...);
/// returns (exit success, stdout, stderr).
pub fn curl(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("curl")
        .arg("-sS")
        .arg("--max-time")
        .arg("20")
        .args(args)
        .output()
        .expect("run curl (install it: scripts/setup.sh)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
