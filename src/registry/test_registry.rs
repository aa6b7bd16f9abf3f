//! A fresh CNCF distribution registry (Debian's `docker-registry`, which scripts/setup
//! installs) for the library's unit tests that push and pull real bytes, on a free
//! loopback port with its own storage; killed on drop. skopeo judges what it holds.
//! (The integration tests have their own, fuller one in tests/support/registry.rs.)

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let host = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n  secret: slipway-unit-test\n",
            dir.path().join("storage").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
        let log =
            std::fs::File::create(dir.path().join("registry.log")).map_err(|e| e.to_string())?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("docker-registry (Debian package docker-registry) missing: {e}")
            })?;
        let mut r = TestRegistry { host, dir, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = r.child.try_wait() {
                return Err(format!("registry exited ({status}): {}", r.log()));
            }
            if std::net::TcpStream::connect(&r.host).is_ok() && r.log().contains("listening on") {
                return Ok(r);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("registry did not start listening: {}", r.log()))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Requests whose access-log line has both `method` and `path_part`.
    pub fn count_requests(&self, method: &str, path_part: &str) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains(&format!("\"{method} ")) && l.contains(path_part))
            .count()
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
