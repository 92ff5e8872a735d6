//! TLS: certificates for terminating listeners, chosen by SNI, and the
//! client side for servers with `tls: true`.
//!
//! * [`Certs`]: a frontend's certificates (`tls.cert`/`tls.certs`), built
//!   from the files the config loader already read and checked. A client's
//!   server name picks the certificate: an exact name first, then a
//!   `*.example.org` wildcard (one label), else the first certificate.
//! * [`listener_settings`]: Pingora's [`TlsSettings`] for a frontend. The
//!   certificate resolver reads the frontend's [`Certs`] from the *live*
//!   runtime at each handshake, so a reload (SIGHUP) that renews a
//!   certificate takes effect for new connections without a restart. It is
//!   never built from file paths, so Pingora's `build()` cannot panic on a
//!   bad file: files are checked when the config loads.
//! * [`Client`]: the rustls client for one server (`sni`, `verify`, `ca`),
//!   used by `mode: tcp` connections and by health checks; HTTP traffic goes
//!   through Pingora's connector with the same settings
//!   ([`crate::upstream::Server::peer`]).

use fairway_config::{Tls, UpstreamTls};
use log::{error, warn};
use pingora::listeners::tls::TlsSettings;
use pingora::protocols::ALPN;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use tokio::net::TcpStream;

/// The crypto provider fairway uses everywhere (ring, as Pingora does).
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())))
}

/// The certificates of one TLS-terminating frontend.
#[derive(Debug)]
pub struct Certs {
    /// Served when no name matches (the first configured certificate).
    default: Arc<CertifiedKey>,
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// Keyed by the part after `*.`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
}

impl Certs {
    /// Builds the certificates of `tls`; `None` (with an error logged) only
    /// if none of them can be used, which the config loader already rules out.
    pub fn new(tls: &Tls) -> Option<Certs> {
        let provider = provider();
        let mut default = None;
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        for c in &tls.certs {
            let key = match CertifiedKey::from_der(c.chain().to_vec(), c.private_key(), &provider) {
                Ok(k) => Arc::new(k),
                Err(e) => {
                    error!("unusable certificate cert={} error={e}", c.cert.display());
                    continue;
                }
            };
            for name in &c.names {
                // The first certificate listed for a name wins.
                match name.strip_prefix("*.") {
                    Some(suffix) => wildcard.entry(suffix.to_string()),
                    None => exact.entry(name.clone()),
                }
                .or_insert_with(|| Arc::clone(&key));
            }
            default.get_or_insert(key);
        }
        Some(Certs {
            default: default?,
            exact,
            wildcard,
        })
    }

    /// The certificate for a client asking for `name` (any case, with or
    /// without a trailing dot), or for none.
    pub fn pick(&self, name: Option<&str>) -> Arc<CertifiedKey> {
        let Some(name) = name else {
            return Arc::clone(&self.default);
        };
        let name = name.strip_suffix('.').unwrap_or(name);
        let lower;
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = name.to_ascii_lowercase();
            lower.as_str()
        } else {
            name
        };
        if let Some(k) = self.exact.get(name) {
            return Arc::clone(k);
        }
        let parent = name.split_once('.').map(|(_, rest)| rest);
        if let Some(k) = parent.and_then(|p| self.wildcard.get(p)) {
            return Arc::clone(k);
        }
        Arc::clone(&self.default)
    }
}

/// Where a listener finds its frontend's certificates at each handshake.
type CertSource = dyn Fn() -> Option<Arc<Certs>> + Send + Sync;

/// Picks a frontend's certificate, by SNI, from what its source gives now
/// (the live runtime's: a reload that renews a certificate takes effect for
/// new connections).
struct SniResolver {
    certs: Box<CertSource>,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SniResolver").finish_non_exhaustive()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let certs = (self.certs)()?;
        Some(certs.pick(hello.server_name()))
    }
}

/// Pingora's TLS settings for a frontend: the certificates `certs` gives at
/// each handshake (the caller reads them from the live runtime), chosen by
/// SNI, and, for HTTP frontends (`h2`), ALPN `h2` and `http/1.1`.
pub fn listener_settings(
    certs: impl Fn() -> Option<Arc<Certs>> + Send + Sync + 'static,
    h2: bool,
) -> Option<TlsSettings> {
    // No file is read: the resolver serves the certificates.
    let mut settings = match TlsSettings::intermediate("", "") {
        Ok(s) => s,
        Err(e) => {
            error!("TLS listener settings failed error={e}");
            return None;
        }
    };
    settings.set_cert_resolver(Arc::new(SniResolver {
        certs: Box::new(certs),
    }));
    if h2 {
        settings.set_alpn(ALPN::H2H1);
    }
    Some(settings)
}

/// The system's trusted roots, loaded once (an empty store, with an error
/// logged, when there are none: verification then fails, it is never skipped).
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    Arc::clone(ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        match pingora::tls::load_native_certs() {
            Ok(certs) => {
                let (added, ignored) = roots.add_parsable_certificates(certs);
                if ignored > 0 {
                    warn!("system CA certificates ignored={ignored} loaded={added}");
                }
            }
            Err(e) => error!("cannot load the system CA certificates error={e}"),
        }
        if roots.is_empty() {
            error!("no system CA certificates: servers with tls and verify need `ca`");
        }
        Arc::new(roots)
    }))
}

/// Checks the handshake's signatures (the server holds the key of the
/// certificate it presents) and, when `pinned`, that the certificate is one
/// of them; no chain or name check: `verify: false` (nothing pinned), or a
/// `ca` file of the server's own self-signed certificates.
#[derive(Debug)]
struct SignaturesOnly {
    provider: Arc<CryptoProvider>,
    pinned: Option<Vec<CertificateDer<'static>>>,
}

impl ServerCertVerifier for SignaturesOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.pinned {
            Some(pinned) if !pinned.iter().any(|c| c.as_ref() == end_entity.as_ref()) => {
                Err(rustls::Error::General(
                    "the server's certificate is not the one pinned by `ca`".into(),
                ))
            }
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The TLS client for one server: its rustls config and the name it sends
/// (SNI) and verifies.
#[derive(Debug, Clone)]
pub struct Client {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    settings: UpstreamTls,
}

impl Client {
    /// The client for `tls`, a server at `addr` (whose IP is verified when
    /// the configured name is not a valid server name).
    pub fn new(tls: &UpstreamTls, addr: SocketAddr) -> Client {
        let provider = provider();
        let roots = match &tls.ca {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                let (_, ignored) = roots.add_parsable_certificates(ca.certs.iter().cloned());
                if ignored > 0 {
                    warn!(
                        "CA certificates ignored={ignored} file={}",
                        ca.path.display()
                    );
                }
                Arc::new(roots)
            }
            None if tls.verify => system_roots(),
            None => Arc::new(RootCertStore::empty()),
        };
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions();
        let config = match builder {
            Ok(b) => {
                let mut config = b.with_root_certificates(roots).with_no_client_auth();
                let pinned = tls
                    .ca
                    .as_ref()
                    .filter(|ca| tls.verify && ca.is_pinned_for(&tls.sni))
                    .map(|ca| ca.certs.clone());
                if !tls.verify || pinned.is_some() {
                    let verifier = SignaturesOnly { provider, pinned };
                    config
                        .dangerous()
                        .set_certificate_verifier(Arc::new(verifier));
                }
                config
            }
            Err(e) => {
                // Not expected with ring; fall back to rustls's defaults.
                error!("TLS client settings failed error={e}");
                ClientConfig::builder()
                    .with_root_certificates(RootCertStore::empty())
                    .with_no_client_auth()
            }
        };
        let name = ServerName::try_from(tls.sni.clone())
            .unwrap_or_else(|_| ServerName::IpAddress(addr.ip().into()));
        Client {
            config: Arc::new(config),
            name,
            settings: tls.clone(),
        }
    }

    /// The same client offering HTTP/2 only in ALPN (a `proto: h2` server).
    pub fn with_alpn_h2(mut self) -> Client {
        let mut config = (*self.config).clone();
        config.alpn_protocols = vec![b"h2".to_vec()];
        self.config = Arc::new(config);
        self
    }

    /// The settings it was built from.
    pub fn settings(&self) -> &UpstreamTls {
        &self.settings
    }

    /// Runs the TLS handshake over `tcp`.
    pub async fn connect(
        &self,
        tcp: TcpStream,
    ) -> std::io::Result<pingora::tls::ClientTlsStream<TcpStream>> {
        pingora::tls::TlsConnector::from(Arc::clone(&self.config))
            .connect(self.name.clone(), tcp)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fairway_config::TlsCert;

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fairway-config/tests/tls")
            .join(name)
    }

    fn cert(name: &str, sni: &[&str]) -> TlsCert {
        TlsCert::from_files(
            fixture(&format!("{name}.pem")),
            Some(fixture(&format!("{name}.key"))),
            sni.iter().map(|s| s.to_string()).collect(),
        )
        .unwrap()
    }

    #[test]
    fn names_pick_certificates() {
        let tls = Tls {
            certs: vec![
                cert("b", &[]),
                cert("a", &[]),
                cert("cn", &["cn.test", "*.wild.test"]),
                cert("rsa", &["b.test"]),
            ],
        };
        let certs = Certs::new(&tls).unwrap();
        let is = |name: Option<&str>, want: &str| {
            let got = certs.pick(name);
            let want = Certs::new(&Tls {
                certs: vec![cert(want, &[])],
            })
            .unwrap()
            .pick(None);
            assert_eq!(got.cert, want.cert, "{name:?} should get {want:?}");
        };
        is(Some("b.test"), "b"); // first listed for the name wins over rsa
        is(Some("a.test"), "a");
        is(Some("A.TEST."), "a");
        is(Some("x.a.test"), "a"); // *.a.test
        is(Some("x.y.a.test"), "b"); // a wildcard covers one label only
        is(Some("cn.test"), "cn");
        is(Some("deep.wild.test"), "cn");
        is(Some("unknown.test"), "b"); // the first certificate
        is(None, "b");
    }

    /// A TLS server on loopback presenting the fixture `name`; it completes
    /// one handshake per connection.
    fn tls_server(name: &str) -> SocketAddr {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::PrivateKeyDer;
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(fixture(&format!("{name}.pem")))
                .unwrap()
                .map(Result::unwrap)
                .collect();
        let key = PrivateKeyDer::from_pem_file(fixture(&format!("{name}.key"))).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let config = Arc::new(config);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut tls = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
                while tls.is_handshaking() {
                    if tls.complete_io(&mut conn).is_err() {
                        break;
                    }
                }
            }
        });
        addr
    }

    /// Whether `Client` for `tls` completes a handshake with `server`.
    async fn handshake(tls: UpstreamTls, server: SocketAddr) -> bool {
        let tcp = TcpStream::connect(server).await.unwrap();
        Client::new(&tls, server).connect(tcp).await.is_ok()
    }

    #[tokio::test]
    async fn clients_verify_pin_or_skip_as_configured() {
        let (a, b) = (tls_server("a"), tls_server("b"));
        let ca = || Some(fairway_config::CaFile::from_file(fixture("a.pem")).unwrap());
        let verify = |sni: &str| UpstreamTls {
            sni: sni.into(),
            verify: true,
            ca: ca(),
        };
        // a.pem is a.test's own self-signed (CA:TRUE) certificate: pinned.
        assert!(handshake(verify("a.test"), a).await);
        // Another certificate is not the pinned one.
        assert!(!handshake(verify("a.test"), b).await);
        // For a name it does not carry, a.pem is no pin, and rustls refuses
        // a CA certificate as the server's own.
        assert!(!handshake(verify("other.test"), a).await);
        // The system's roots know neither.
        let system = UpstreamTls {
            sni: "a.test".into(),
            verify: true,
            ca: None,
        };
        assert!(!handshake(system, a).await);
        // verify: false takes any certificate.
        let any = UpstreamTls {
            sni: "a.test".into(),
            verify: false,
            ca: None,
        };
        assert!(handshake(any, b).await);
    }
}
