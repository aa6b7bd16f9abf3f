//! The HTTP client for one registry host: rustls with the system roots plus the host's
//! `certs.d` directory, as dockerd reads it (`*.crt` are CAs, `NAME.cert` + `NAME.key` a
//! client certificate), `--registry-ca` files, and no certificate checks only where the
//! host policy says so.
//!
//! A trusted file is also trusted *as itself*, as Go's (docker's) and curl's verifiers do:
//! the usual `openssl req -x509 … -subj /CN=HOST` certificate is a CA (CA:TRUE) used as the
//! server's own, which webpki refuses (`CaUsedAsEndEntity`). When the certificate the server
//! presents is byte-identical to a trusted file, its name and validity are checked here
//! and the chain is accepted. Every refusal is put into words ([`Verdict`]) that say what is
//! wrong and which file would fix it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use x509_cert::der::Decode;

use super::error::{RegistryError, chain, io_err};

/// The user agent every registry and vendor API request carries.
pub(crate) const USER_AGENT: &str = concat!("slipway/", env!("CARGO_PKG_VERSION"));

/// Why the last handshake with the host was refused, in words (the verifier runs inside
/// reqwest, whose error keeps only rustls' terse form).
#[derive(Debug, Clone, Default)]
pub(crate) struct Verdict(Arc<Mutex<Option<String>>>);

impl Verdict {
    pub(crate) fn take(&self) -> Option<String> {
        match self.0.lock() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        }
    }

    fn set(&self, words: String) {
        match self.0.lock() {
            Ok(mut g) => *g = Some(words),
            Err(p) => *p.into_inner() = Some(words),
        }
    }
}

/// A client for `host` trusting the system roots, `certs_dir/host/*.crt` and `extra_cas`.
pub(crate) fn client(
    host: &str,
    certs_dir: &Path,
    extra_cas: &[PathBuf],
    skip_verify: bool,
) -> Result<(reqwest::Client, Verdict), RegistryError> {
    let dir = certs_dir.join(host);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    let mut pinned = Vec::new();
    let mut identity = None;
    let cas = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "crt"))
        .chain(extra_cas);
    for p in cas {
        pinned.extend(read_certs(p)?);
    }
    for p in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "cert"))
    {
        // A client certificate without its key is skipped, as dockerd does.
        let key = p.with_extension("key");
        if key.is_file() {
            identity = Some((read_certs(p)?, read_key(&key)?));
        }
    }
    let mut roots = RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        // A system root webpki cannot parse only limits what is trusted.
        let _ = roots.add(c);
    }
    for c in &pinned {
        let _ = roots.add(c.clone());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // No roots at all (a bare container without certs.d): every chain is untrusted.
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .ok();
    let verdict = Verdict::default();
    let verifier = Verifier {
        inner,
        algs: provider.signature_verification_algorithms,
        pinned,
        host: host.to_string(),
        certs_d: dir,
        skip_verify,
        verdict: verdict.clone(),
    };
    let shown = |e: rustls::Error| io_err(format!("TLS setup for {host}"), e);
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(shown)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match identity {
        Some((certs, key)) => builder.with_client_auth_cert(certs, key).map_err(shown)?,
        None => builder.with_no_client_auth(),
    };
    // reqwest leaves ALPN to a preconfigured config.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .connect_timeout(Duration::from_secs(15))
        .pool_max_idle_per_host(16)
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| io_err(format!("TLS setup for {host}"), chain(&e)))?;
    Ok((http, verdict))
}

/// The alert a server ended the handshake with (`BadCertificate`, `CertificateRequired`,
/// …), from rustls' "received fatal alert: NAME" in a cause chain.
pub(crate) fn server_alert(cause: &str) -> Option<&str> {
    let rest = cause.split("received fatal alert: ").nth(1)?;
    let name = rest
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or_default();
    (!name.is_empty()).then_some(name)
}

fn read_certs(p: &Path) -> Result<Vec<CertificateDer<'static>>, RegistryError> {
    let shown = || p.display().to_string();
    let pem = std::fs::read(p).map_err(|e| io_err(shown(), e))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| io_err(shown(), e))?;
    if certs.is_empty() {
        return Err(io_err(shown(), "no PEM certificate in it"));
    }
    Ok(certs)
}

fn read_key(p: &Path) -> Result<rustls::pki_types::PrivateKeyDer<'static>, RegistryError> {
    let shown = || p.display().to_string();
    let pem = std::fs::read(p).map_err(|e| io_err(shown(), e))?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| io_err(shown(), e))?
        .ok_or_else(|| io_err(shown(), "no PEM private key in it"))
}

#[derive(Debug)]
struct Verifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    algs: rustls::crypto::WebPkiSupportedAlgorithms,
    /// Every certificate from certs.d's `*.crt` and `--registry-ca`.
    pinned: Vec<CertificateDer<'static>>,
    host: String,
    certs_d: PathBuf,
    skip_verify: bool,
    verdict: Verdict,
}

impl Verifier {
    /// The certificate the server presents is a trusted file itself: what webpki did not
    /// check for it (its name and validity) is checked here. `None`: it passes; else why
    /// not, in words (as [`Self::validity`]).
    fn pinned_fault(
        &self,
        ee: &CertificateDer<'_>,
        name: &ServerName<'_>,
        now: UnixTime,
    ) -> Option<String> {
        let parsed = match rustls::server::ParsedCertificate::try_from(ee) {
            Ok(p) => p,
            Err(e) => return Some(e.to_string()),
        };
        if let Some(words) = self.validity(ee, now) {
            return Some(words);
        }
        rustls::client::verify_server_name(&parsed, name)
            .err()
            .map(|_| self.wrong_name(ee, name))
    }

    /// Expired or not yet valid, in words; `None` when valid at `now`.
    fn validity(&self, ee: &CertificateDer<'_>, now: UnixTime) -> Option<String> {
        let cert = x509_cert::Certificate::from_der(ee.as_ref()).ok()?;
        let v = cert.tbs_certificate().validity();
        let after = v.not_after.to_unix_duration().as_secs();
        let before = v.not_before.to_unix_duration().as_secs();
        let host = &self.host;
        if now.as_secs() > after {
            return Some(format!(
                "registry {host}'s certificate expired on {}: renew it on the registry",
                date(after)
            ));
        }
        if now.as_secs() < before {
            return Some(format!(
                "registry {host}'s certificate is not valid before {}: check this machine's clock",
                date(before)
            ));
        }
        None
    }

    /// The certificate does not name `name`: no subjectAltName at all (a CN-only
    /// certificate, which TLS clients no longer read), or other names.
    fn wrong_name(&self, ee: &CertificateDer<'_>, name: &ServerName<'_>) -> String {
        let host = &self.host;
        let want = name.to_str();
        let kind = if matches!(name, ServerName::IpAddress(_)) {
            "IP"
        } else {
            "DNS"
        };
        match san_names(ee) {
            None => format!(
                "registry {host}'s certificate has no subjectAltName (a name only in its CN is not read): regenerate it with -addext subjectAltName={kind}:{want}"
            ),
            Some(names) => format!(
                "registry {host}'s certificate is for {}, not {want}: regenerate it with -addext subjectAltName={kind}:{want}, or use a name it has",
                if names.is_empty() {
                    "no name".to_string()
                } else {
                    names.join(", ")
                }
            ),
        }
    }

    /// webpki's refusal of a certificate that is not a trusted file, in words.
    fn explain(
        &self,
        e: &rustls::Error,
        ee: &CertificateDer<'_>,
        name: &ServerName<'_>,
        now: UnixTime,
    ) -> String {
        let host = &self.host;
        let file = self.certs_d.join("ca.crt");
        let file = file.display();
        match e {
            rustls::Error::InvalidCertificate(
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. },
            ) => self.validity(ee, now).unwrap_or_else(|| {
                format!("registry {host}'s certificate chain is outside its validity period: {e}")
            }),
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => self.wrong_name(ee, name),
            // webpki's CaUsedAsEndEntity reaches rustls as an `Other` error.
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                self.untrusted(ee)
            }
            rustls::Error::InvalidCertificate(CertificateError::Other(o))
                if o.to_string().contains("CaUsedAsEndEntity") =>
            {
                self.untrusted(ee)
            }
            other => format!(
                "registry {host}'s certificate is refused ({other}); trusting its CA in {file} may help"
            ),
        }
    }

    /// No trusted CA signed the certificate: say whose it is and where it would be trusted.
    fn untrusted(&self, ee: &CertificateDer<'_>) -> String {
        let host = &self.host;
        let file = self.certs_d.join("ca.crt");
        let file = file.display();
        match x509_cert::Certificate::from_der(ee.as_ref()) {
            Ok(c) if c.tbs_certificate().issuer() == c.tbs_certificate().subject() => format!(
                "registry {host} presents a self-signed certificate ({}) that is not trusted: put it in {file}, or pass --registry-ca FILE",
                c.tbs_certificate().subject()
            ),
            Ok(c) => format!(
                "registry {host}'s certificate is signed by {}, a CA that is not trusted: put that CA's certificate in {file}, or pass --registry-ca FILE",
                c.tbs_certificate().issuer()
            ),
            Err(_) => format!(
                "registry {host}'s certificate is not trusted: put its CA's certificate in {file}, or pass --registry-ca FILE"
            ),
        }
    }
}

/// `YYYY-MM-DD HH:MM UTC`.
fn date(secs: u64) -> String {
    chrono::DateTime::from_timestamp(i64::try_from(secs).unwrap_or(i64::MAX), 0).map_or_else(
        || format!("{secs} (UNIX)"),
        |d| d.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// The subjectAltName DNS names and IPs; `None` when the extension is absent.
fn san_names(ee: &CertificateDer<'_>) -> Option<Vec<String>> {
    use x509_cert::ext::pkix::SubjectAltName;
    use x509_cert::ext::pkix::name::GeneralName;
    let cert = x509_cert::Certificate::from_der(ee.as_ref()).ok()?;
    let (_, san) = cert
        .tbs_certificate()
        .get_extension::<SubjectAltName>()
        .ok()??;
    Some(
        san.0
            .iter()
            .filter_map(|g| match g {
                GeneralName::DnsName(n) => Some(n.to_string()),
                GeneralName::IpAddress(o) => {
                    let b = o.as_bytes();
                    let ip: Option<std::net::IpAddr> = match b.len() {
                        4 => <[u8; 4]>::try_from(b).ok().map(Into::into),
                        16 => <[u8; 16]>::try_from(b).ok().map(Into::into),
                        _ => None,
                    };
                    ip.map(|ip| ip.to_string())
                }
                _ => None,
            })
            .collect(),
    )
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.skip_verify {
            return Ok(ServerCertVerified::assertion());
        }
        let checked = match &self.inner {
            Some(v) => {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
        };
        let e = match checked {
            Ok(ok) => return Ok(ok),
            Err(e) => e,
        };
        let words = if self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            match self.pinned_fault(end_entity, server_name, now) {
                None => return Ok(ServerCertVerified::assertion()),
                Some(words) => words,
            }
        } else {
            self.explain(&e, end_entity, server_name, now)
        };
        self.verdict.set(words.clone());
        Err(rustls::Error::General(words))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_alerts_are_named() {
        let c =
            "client error (SendRequest): connection error: received fatal alert: BadCertificate";
        assert_eq!(server_alert(c), Some("BadCertificate"));
        assert_eq!(server_alert("connection refused"), None);
    }

    #[test]
    fn certs_d_is_read_per_host() {
        let dir = tempfile::tempdir().expect("tmp");
        // No directory for the host: system roots only.
        assert!(client("r.io", dir.path(), &[], false).is_ok());
        let host = dir.path().join("r.io");
        std::fs::create_dir_all(&host).expect("mkdir");
        // A client certificate without its key is skipped, as dockerd does.
        std::fs::write(host.join("client.cert"), "not pem").expect("write");
        assert!(client("r.io", dir.path(), &[], false).is_ok());
        // A CA file that is not PEM is an error naming the file.
        std::fs::write(
            host.join("ca.crt"),
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let e = client("r.io", dir.path(), &[], false).expect_err("bad CA");
        assert!(e.to_string().contains("ca.crt"), "{e}");
        // Other hosts do not read it.
        assert!(client("other.io", dir.path(), &[], false).is_ok());
    }
}
