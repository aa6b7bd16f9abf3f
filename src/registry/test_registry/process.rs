//! Starting Debian's `docker-registry` for tests: a config with storage (deletion enabled)
//! and an access log, a free loopback port, and waiting until it listens. Shared, through
//! `#[path]`, by the library's unit-test registry (`registry::test_registry`) and the
//! integration tests' fuller one (tests/support/registry.rs), which add TLS and auth on top.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port that was free a moment ago (callers retry with another if it is taken).
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// The part of the config every test registry has: text logs with the access log (tests
/// count requests in it), filesystem storage under `storage`, deletion on, no upload purging
/// (it would race tests that look at the storage), listening on `host`. Callers append
/// `  tls:` (under `http:`, which comes last) and `auth:`.
pub fn base_config(storage: &Path, host: &str) -> String {
    format!(
        "version: 0.1\nlog:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\n\
         http:\n  addr: {host}\n  secret: slipway-test-secret\n",
        storage.display()
    )
}

/// The log file `spawn` writes to in `dir`.
pub fn log_path(dir: &Path) -> PathBuf {
    dir.join("registry.log")
}

/// Writes `config` to `dir/config.yml`, starts the registry with stdout and stderr in
/// [`log_path`], and waits up to 20 s until `host` accepts connections and the log says it
/// listens. On failure the child is killed and the log is in the error.
pub fn spawn(dir: &Path, config: &str, host: &str) -> Result<Child, String> {
    let config_path = dir.join("config.yml");
    std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
    let log = std::fs::File::create(log_path(dir)).map_err(|e| e.to_string())?;
    let mut child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config_path)
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("docker-registry (Debian package docker-registry) missing: {e}"))?;
    let read_log = || std::fs::read_to_string(log_path(dir)).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("registry exited ({status}): {}", read_log()));
        }
        if std::net::TcpStream::connect(host).is_ok() && read_log().contains("listening on") {
            return Ok(child);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!("registry did not start listening: {}", read_log()))
}

/// Access-log lines of requests whose method and path contain both needles,
/// e.g. `count_requests(log, "PATCH", "/blobs/uploads/")`.
pub fn count_requests(log: &str, method: &str, path_part: &str) -> usize {
    let method = format!("\"{method} ");
    log.lines()
        .filter(|l| l.contains(&method) && l.contains(path_part))
        .count()
}
