//! A fresh CNCF distribution registry (Debian's `docker-registry`, which scripts/setup
//! installs) for the library's unit tests that push and pull real bytes, on a free
//! loopback port with its own storage; killed on drop. skopeo judges what it holds.
//! Its start-up (`process.rs`) is shared with the integration tests' fuller one
//! (tests/support/registry.rs), which adds TLS and auth.

use std::process::{Child, Command};

mod process;

pub struct TestRegistry {
    /// `127.0.0.1:PORT`
    pub host: String,
    dir: tempfile::TempDir,
    child: Child,
}

impl TestRegistry {
    pub fn start() -> TestRegistry {
        let mut last = String::new();
        // A port free a moment ago may be taken by the time the registry binds it.
        for _ in 0..5 {
            match Self::try_start() {
                Ok(r) => return r,
                Err(e) => last = e,
            }
        }
        panic!("cannot start docker-registry: {last}");
    }

    fn try_start() -> Result<TestRegistry, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let host = format!("127.0.0.1:{}", process::free_port()?);
        let config = process::base_config(&dir.path().join("storage"), &host);
        let child = process::spawn(dir.path(), &config, &host)?;
        Ok(TestRegistry { host, dir, child })
    }

    /// Requests whose access-log line has both `method` and `path_part`.
    pub fn count_requests(&self, method: &str, path_part: &str) -> usize {
        let log = std::fs::read_to_string(process::log_path(self.dir.path())).unwrap_or_default();
        process::count_requests(&log, method, path_part)
    }

    /// `HOST/name` as a repository.
    pub fn repo(&self, name: &str) -> crate::registry::Repository {
        crate::registry::Repository::parse(&format!("{}/{name}", self.host)).expect("repository")
    }

    /// skopeo's word on `reference` (`name:tag`): its manifest digest and config, after
    /// copying the whole image out (every blob checked against its digest).
    pub fn judge(&self, reference: &str) -> (String, serde_json::Value) {
        let src = format!("docker://{}/{reference}", self.host);
        let out = tempfile::tempdir().expect("tempdir");
        let dest = format!("dir:{}", out.path().display());
        skopeo(&["copy", "--src-tls-verify=false", &src, &dest]);
        let digest = skopeo(&[
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
            &src,
        ]);
        let config = skopeo(&["inspect", "--tls-verify=false", "--config", &src]);
        (
            digest.trim().to_string(),
            serde_json::from_str(&config).expect("config json"),
        )
    }
}

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo runs");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
