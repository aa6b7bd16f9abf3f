//! The HTTP client for one registry host: rustls with the system roots plus the host's
//! `certs.d` directory, as dockerd reads it (`*.crt` are CAs, `NAME.cert` + `NAME.key` a
//! client certificate), and no certificate checks only where the host policy says so.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{RegistryError, chain, io_err};

/// The user agent every registry and vendor API request carries.
pub(crate) const USER_AGENT: &str = concat!("slipway/", env!("CARGO_PKG_VERSION"));

/// A client for `host` trusting the system roots and `certs_dir/host/*.crt`.
pub(crate) fn client(
    host: &str,
    certs_dir: &Path,
    skip_verify: bool,
) -> Result<reqwest::Client, RegistryError> {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(Duration::from_secs(15))
        .pool_max_idle_per_host(16)
        .user_agent(USER_AGENT);
    if skip_verify {
        b = b.danger_accept_invalid_certs(true);
    }
    let dir = certs_dir.join(host);
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for p in &files {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            let shown = || p.display().to_string();
            if ext == "crt" {
                let pem = std::fs::read(p).map_err(|e| io_err(shown(), e))?;
                for cert in
                    reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| io_err(shown(), e))?
                {
                    b = b.add_root_certificate(cert);
                }
            } else if ext == "cert" {
                let key = p.with_extension("key");
                if key.is_file() {
                    let mut pem = std::fs::read(p).map_err(|e| io_err(shown(), e))?;
                    pem.extend(
                        std::fs::read(&key).map_err(|e| io_err(key.display().to_string(), e))?,
                    );
                    let id = reqwest::Identity::from_pem(&pem).map_err(|e| io_err(shown(), e))?;
                    b = b.identity(id);
                }
            }
        }
    }
    b.build()
        .map_err(|e| io_err(format!("TLS setup for {host}"), chain(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certs_d_is_read_per_host() {
        let dir = tempfile::tempdir().expect("tmp");
        // No directory for the host: system roots only.
        assert!(client("r.io", dir.path(), false).is_ok());
        let host = dir.path().join("r.io");
        std::fs::create_dir_all(&host).expect("mkdir");
        // A client certificate without its key is skipped, as dockerd does.
        std::fs::write(host.join("client.cert"), "not pem").expect("write");
        assert!(client("r.io", dir.path(), false).is_ok());
        // A CA file that is not PEM is an error naming the file.
        std::fs::write(
            host.join("ca.crt"),
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let e = client("r.io", dir.path(), false).expect_err("bad CA");
        assert!(e.to_string().contains("ca.crt"), "{e}");
        // Other hosts do not read it.
        assert!(client("other.io", dir.path(), false).is_ok());
    }
}
