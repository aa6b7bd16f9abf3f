//! A fresh CNCF distribution registry (Debian's `docker-registry`) per test, on a free
//! loopback port with its own storage, deletion enabled. Killed and cleaned up on drop,
//! also when the test panics.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

#[path = "../../src/registry/test_registry/process.rs"]
mod process;

pub const USER: &str = "slipway";
pub const PASSWORD: &str = "s3cret-Pa55word";

pub struct Registry {
    /// `127.0.0.1:PORT`
    pub host: String,
    pub tls: bool,
    /// (username, password) when htpasswd auth is on.
    pub creds: Option<(String, String)>,
    /// The CA certificate that signed the server certificate (TLS variant).
    pub ca_cert: Option<PathBuf>,
    /// A folder with `client.cert` + `client.key` that skopeo presents, for a registry that
    /// wants a client certificate (`serving_for_clients_of`); set by the test.
    pub client_cert_dir: Option<PathBuf>,
    /// `/etc/docker/certs.d/HOST` (TLS variant): removed on drop.
    certs_d: Option<PathBuf>,
    dir: tempfile::TempDir,
    child: Child,
}

impl Registry {
    /// Plain HTTP, no auth.
    pub fn plain() -> Self {
        Self::start(false)
    }

    /// TLS with a CA made for this registry, plus htpasswd auth (`USER`/`PASSWORD`).
    /// The CA is installed in `/etc/docker/certs.d/127.0.0.1:PORT/ca.crt`.
    pub fn tls_auth() -> Self {
        Self::start(true)
    }

    /// TLS + htpasswd with a chosen user and password (e.g. GitLab's `gitlab-ci-token`).
    pub fn tls_auth_as(user: &str, password: &str) -> Self {
        Self::start_as(true, true, user, password)
    }

    /// Plain HTTP with htpasswd auth: what the daemon's own BuildKit can pull from (it reaches
    /// loopback registries over HTTP and does not read `/etc/docker/certs.d`).
    pub fn plain_auth() -> Self {
        Self::start_as(false, true, USER, PASSWORD)
    }

    /// Plain HTTP with htpasswd auth as a chosen user (GitLab's `gitlab-ci-token` and a job
    /// token): a loopback registry a GitLab job logs in to.
    #[allow(dead_code)]
    pub fn plain_auth_as(user: &str, password: &str) -> Self {
        Self::start_as(false, true, user, password)
    }

    fn start(tls: bool) -> Self {
        Self::start_as(tls, tls, USER, PASSWORD)
    }

    /// TLS with the given server certificate and key, no auth, nothing in certs.d: what the
    /// client trusts is up to the test.
    pub fn serving(cert: &Path, key: &Path) -> Self {
        Self::serving_for_clients_of(cert, key, None)
    }

    /// [`Registry::serving`], and when `client_ca` is given, only to clients presenting a
    /// certificate it signed (distribution's `tls.clientcas`).
    pub fn serving_for_clients_of(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Self {
        let served = Some((cert.to_path_buf(), key.to_path_buf()));
        let client_ca = client_ca.map(Path::to_path_buf);
        let mut last_err = String::new();
        for _ in 0..5 {
            match Self::try_start(
                true,
                false,
                USER,
                PASSWORD,
                served.clone(),
                client_ca.clone(),
            ) {
                Ok(r) => return r,
                Err(e) => last_err = e,
            }
        }
        panic!("cannot start docker-registry: {last_err}");
    }

    fn start_as(tls: bool, auth: bool, user: &str, password: &str) -> Self {
        let mut last_err = String::new();
        for _ in 0..5 {
            match Self::try_start(tls, auth, user, password, None, None) {
                Ok(r) => return r,
                Err(e) => last_err = e,
            }
        }
        panic!("cannot start docker-registry: {last_err}");
    }

    fn try_start(
        tls: bool,
        auth: bool,
        user: &str,
        password: &str,
        served: Option<(PathBuf, PathBuf)>,
        client_ca: Option<PathBuf>,
    ) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let host = format!("127.0.0.1:{}", process::free_port()?);
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).map_err(|e| e.to_string())?;
        let mut config = process::base_config(&storage, &host);
        let mut ca_cert = None;
        let mut certs_d = None;
        let mut creds = None;
        if let Some((cert, key)) = &served {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
            if let Some(ca) = &client_ca {
                config.push_str(&format!("    clientcas:\n      - {}\n", ca.display()));
            }
        } else if tls {
            let (ca, cert, key) = make_certs(dir.path())?;
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
            let d = PathBuf::from("/etc/docker/certs.d").join(&host);
            std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
            std::fs::copy(&ca, d.join("ca.crt")).map_err(|e| e.to_string())?;
            certs_d = Some(d);
            ca_cert = Some(ca);
        }
        if auth {
            let htpasswd = dir.path().join("htpasswd");
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .map_err(|e| format!("htpasswd (apache2-utils) missing: {e}"))?;
            std::fs::write(&htpasswd, &out.stdout).map_err(|e| e.to_string())?;
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: slipway-test\n    path: {}\n",
                htpasswd.display()
            ));
            creds = Some((user.to_string(), password.to_string()));
        }
        let child = process::spawn(dir.path(), &config, &host)?;
        Ok(Registry {
            host,
            tls,
            creds,
            ca_cert,
            client_cert_dir: None,
            certs_d,
            dir,
            child,
        })
    }

    /// `http://HOST` or `https://HOST`.
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.host
        )
    }

    /// Everything the registry logged, access log included (one line per request).
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(process::log_path(self.dir.path())) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Access-log lines of requests whose method and path contain both needles,
    /// e.g. `count_requests("PATCH", "/blobs/uploads/")`.
    pub fn count_requests(&self, method: &str, path_part: &str) -> usize {
        process::count_requests(&self.log(), method, path_part)
    }

    /// A docker `config.json` folder with this registry's credentials (auth base64).
    pub fn docker_config_dir(&self) -> tempfile::TempDir {
        use base64::Engine;
        let d = tempfile::tempdir().expect("tempdir");
        let auths = match &self.creds {
            Some((u, p)) => serde_json::json!({
                self.host.clone(): {"auth": base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))}
            }),
            None => serde_json::json!({}),
        };
        std::fs::write(
            d.path().join("config.json"),
            serde_json::to_vec_pretty(&serde_json::json!({ "auths": auths })).expect("json"),
        )
        .expect("write config.json");
        d
    }

    /// Storage root, e.g. to check what the registry holds on disk.
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Every image a test left here must pull whole (skopeo copies it, each layer hashes
        // to its digest and its diffID): checked for every test that uses a registry, so
        // none can publish a broken image and pass. Not while a test is already failing.
        let failures = if std::thread::panicking() {
            Vec::new()
        } else {
            super::skopeo::unpullable_images(self)
        };
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(d) = &self.certs_d {
            let _ = std::fs::remove_dir_all(d);
        }
        assert!(
            failures.is_empty(),
            "images in the registry {} that do not pull whole:\n{}",
            self.host,
            failures.join("\n")
        );
    }
}

/// A CA and a server certificate for 127.0.0.1/localhost signed by it (openssl CLI).
/// A CA (`ca.crt`, `ca.key`) and a server certificate for 127.0.0.1 signed by it, in `dir`.
pub fn make_certs(dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf), String> {
    let ca_key = dir.join("ca.key");
    let ca = dir.join("ca.crt");
    let key = dir.join("server.key");
    let csr = dir.join("server.csr");
    let cert = dir.join("server.crt");
    let ext = dir.join("server.ext");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| e.to_string())?;
    let run = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|e| format!("openssl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    let p = |p: &Path| p.to_string_lossy().to_string();
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &p(&ca_key),
    ])?;
    run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &p(&ca_key),
        "-sha256",
        "-days",
        "2",
        "-subj",
        "/CN=Slipway Test CA",
        "-out",
        &p(&ca),
    ])?;
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &p(&key),
    ])?;
    run(&[
        "req",
        "-new",
        "-key",
        &p(&key),
        "-subj",
        "/CN=127.0.0.1",
        "-out",
        &p(&csr),
    ])?;
    run(&[
        "x509",
        "-req",
        "-in",
        &p(&csr),
        "-CA",
        &p(&ca),
        "-CAkey",
        &p(&ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-sha256",
        "-extfile",
        &p(&ext),
        "-out",
        &p(&cert),
    ])?;
    Ok((ca, cert, key))
}
