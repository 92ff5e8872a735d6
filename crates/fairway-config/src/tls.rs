//! Certificate, key and CA files: read and checked when the config loads,
//! so that a missing or bad file is a config error naming the file, never
//! a failure (or a panic) when a listener starts.

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use x509_parser::extensions::GeneralName;

/// `tls` of a frontend: TLS termination with one or more certificates,
/// chosen by the server name (SNI) the client asks for.
#[derive(Debug, Clone)]
pub struct Tls {
    /// The certificates in file order (`cert`/`key` first, then `certs`).
    /// The first is served when the client's server name matches none of
    /// them, or when it sends none.
    pub certs: Vec<TlsCert>,
}

/// A certificate chain and its private key, read and checked when the
/// config is loaded (readable, PEM, parseable, key matching the
/// certificate), so the listener never meets a bad file.
#[derive(Clone)]
pub struct TlsCert {
    /// The certificate chain file (PEM, leaf first).
    pub cert: PathBuf,
    /// The private key file (PEM: PKCS#8, PKCS#1 or SEC1); the `cert` file
    /// itself when the key is in it.
    pub key: PathBuf,
    /// The server names the certificate is chosen for, lower case
    /// (`*.example.org` matches one label): `sni` as configured, else the
    /// certificate's DNS names (subjectAltName, or the common name when it
    /// has none).
    pub names: Vec<String>,
    chain: Vec<CertificateDer<'static>>,
    private_key: std::sync::Arc<PrivateKeyDer<'static>>,
}

impl TlsCert {
    /// The chain as read from `cert` (DER, leaf first).
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The private key as read from `key`.
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        self.private_key.clone_key()
    }
}

impl std::fmt::Debug for TlsCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsCert")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("names", &self.names)
            .field("chain", &self.chain.len())
            .finish_non_exhaustive()
    }
}

/// `tls`, `sni`, `verify` and `ca` of a server: fairway speaks TLS to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTls {
    /// The server name sent (SNI) and verified: `sni`, else the host part
    /// of `addr` (a name or an IP address).
    pub sni: String,
    /// Verify the server's certificate chain and name (default true).
    pub verify: bool,
    /// The CA certificates to verify with (`ca`); `None`: the system's roots.
    pub ca: Option<CaFile>,
}

/// A PEM file of CA certificates, read and checked at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaFile {
    /// The file.
    pub path: PathBuf,
    /// Its certificates (DER), at least one.
    pub certs: Vec<CertificateDer<'static>>,
}

/// Reads a file for the `what` of an error message.
fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {what} `{}`: {e}", path.display()))
}

/// The certificates of a PEM text, each checked to be a parseable X.509
/// certificate; at least one.
fn certificates(text: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut certs = Vec::new();
    for item in CertificateDer::pem_slice_iter(text) {
        let cert = item.map_err(|e| pem_error(path, &e))?;
        if let Err(e) = x509_parser::parse_x509_certificate(&cert) {
            return Err(format!(
                "invalid certificate #{} in `{}`: {e}",
                certs.len() + 1,
                path.display()
            ));
        }
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err(format!(
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in `{}`",
            path.display()
        ));
    }
    Ok(certs)
}

fn pem_error(path: &Path, e: &pem::Error) -> String {
    format!("invalid PEM in `{}`: {e}", path.display())
}

/// The DNS names a certificate is for: its subjectAltName DNS entries, or
/// its common name when it has none; lower case.
fn names_of(cert: &CertificateDer<'_>) -> Vec<String> {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert) else {
        return Vec::new();
    };
    let mut names: Vec<String> = match parsed.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if names.is_empty() {
        names = parsed
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok())
            .map(str::to_ascii_lowercase)
            .collect();
    }
    names.retain(|n| valid_server_name(n));
    names.dedup();
    names
}

/// Whether `name` can be matched against a TLS server name: a DNS name of
/// letters, digits, `-` and `_` labels, optionally `*.` first.
pub(crate) fn valid_server_name(name: &str) -> bool {
    let rest = name.strip_prefix("*.").unwrap_or(name);
    !rest.is_empty()
        && rest.len() <= 253
        && rest.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl TlsCert {
    /// Reads and checks a certificate chain (`cert`, PEM, leaf first) and
    /// its private key (`key`, PEM; `None`: in the `cert` file too). `names`
    /// are the server names it is chosen for; empty: the certificate's DNS
    /// names. Errors name the file and say what is wrong with it.
    pub fn from_files(
        cert: impl Into<PathBuf>,
        key: Option<PathBuf>,
        names: Vec<String>,
    ) -> Result<TlsCert, String> {
        TlsCert::load(cert.into(), key, names).map_err(|(_, msg)| msg)
    }

    /// As [`TlsCert::from_files`]; the error also says which file is at
    /// fault (`true`: the key file), for the loader's error position.
    pub(crate) fn load(
        cert: PathBuf,
        key: Option<PathBuf>,
        names: Vec<String>,
    ) -> Result<TlsCert, (bool, String)> {
        let in_cert = |msg: String| (false, msg);
        let cert_text = read(&cert, "certificate file").map_err(in_cert)?;
        let chain = certificates(&cert_text, &cert).map_err(in_cert)?;
        let key_path = key.unwrap_or_else(|| cert.clone());
        let in_key = |msg: String| (key_path != cert, msg);
        let key_text = if key_path == cert {
            cert_text
        } else {
            read(&key_path, "key file").map_err(in_key)?
        };
        let private_key = match PrivateKeyDer::from_pem_slice(&key_text) {
            Ok(k) => k,
            Err(pem::Error::NoItemsFound) => {
                return Err(in_key(format!(
                    "no PEM private key (PKCS#8, PKCS#1 or SEC1) in `{}`",
                    key_path.display()
                )))
            }
            Err(e) => return Err(in_key(pem_error(&key_path, &e))),
        };
        let provider = rustls::crypto::ring::default_provider();
        if let Err(e) =
            rustls::sign::CertifiedKey::from_der(chain.clone(), private_key.clone_key(), &provider)
        {
            return Err(in_key(match e {
                rustls::Error::InconsistentKeys(_) => format!(
                    "the key in `{}` does not match the certificate in `{}`",
                    key_path.display(),
                    cert.display()
                ),
                e => format!(
                    "unusable private key in `{}` for `{}`: {e}",
                    key_path.display(),
                    cert.display()
                ),
            }));
        }
        let mut names: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        if let Some(bad) = names.iter().find(|n| !valid_server_name(n)) {
            return Err(in_cert(format!(
                "invalid server name `{bad}` (expected a DNS name, optionally `*.` first)"
            )));
        }
        if names.is_empty() {
            names = chain.first().map(names_of).unwrap_or_default();
        }
        Ok(TlsCert {
            cert,
            key: key_path,
            names,
            chain,
            private_key: Arc::new(private_key),
        })
    }
}

impl CaFile {
    /// Reads and checks a PEM file of CA certificates (at least one, each a
    /// parseable X.509 certificate).
    pub fn from_file(path: impl Into<PathBuf>) -> Result<CaFile, String> {
        let path: PathBuf = path.into();
        let text = read(&path, "CA file")?;
        let certs = certificates(&text, &path)?;
        Ok(CaFile { path, certs })
    }

    /// Whether the file holds the server's own certificates rather than a
    /// CA's: every one self-signed (issuer = subject) and naming `sni`.
    /// fairway then pins them (the server must present one of them, and
    /// prove it holds its key), as OpenSSL accepts such a file where
    /// rustls refuses a CA certificate as the server's (`CaUsedAsEndEntity`).
    pub fn is_pinned_for(&self, sni: &str) -> bool {
        let sni = sni.to_ascii_lowercase();
        self.certs.iter().all(|cert| {
            let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert) else {
                return false;
            };
            parsed.issuer() == parsed.subject() && names_of(cert).contains(&sni)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        for ok in [
            "a",
            "example.org",
            "*.example.org",
            "x-1.y_2.z",
            "localhost",
        ] {
            assert!(valid_server_name(ok), "{ok}");
        }
        for bad in [
            "",
            "*",
            "*.",
            "a..b",
            ".a",
            "a.",
            "a b",
            "a.*.b",
            "ex*ample.org",
            "é.org",
            "a:443",
        ] {
            assert!(!valid_server_name(bad), "{bad}");
        }
        assert!(!valid_server_name(&"a".repeat(64)));
    }

    #[test]
    fn missing_and_non_pem_files_are_errors() {
        let e = TlsCert::from_files("/nonexistent/cert.pem", None, vec![]).unwrap_err();
        assert!(
            e.starts_with("cannot read certificate file `/nonexistent/cert.pem`: "),
            "{e}"
        );
        let dir = std::env::temp_dir().join(format!("fairway-config-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let e = TlsCert::from_files(&junk, None, vec![]).unwrap_err();
        assert!(e.starts_with("no PEM certificate"), "{e}");
        let e = CaFile::from_file(&junk).unwrap_err();
        assert!(e.starts_with("no PEM certificate"), "{e}");
        let bad = dir.join("bad.pem");
        std::fs::write(
            &bad,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = CaFile::from_file(&bad).unwrap_err();
        assert!(e.starts_with("invalid certificate #1 in"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
