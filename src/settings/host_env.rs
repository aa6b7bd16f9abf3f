//! The process environment, read once. Docker's and the desktop's variables (`DOCKER_HOST`,
//! `DOCKER_CONFIG`, `HOME`, `XDG_CACHE_HOME`, `SSH_AUTH_SOCK`, …) are named here and
//! nowhere else: the library asks this module, never `std::env`. The CLI hands over the
//! snapshot it parsed flags with ([`init`]); without it (library use, tests) the first
//! question takes one.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

static SNAPSHOT: OnceLock<BTreeMap<String, String>> = OnceLock::new();

/// Use `vars` as the environment (first call wins).
pub fn init(vars: BTreeMap<String, String>) {
    let _ = SNAPSHOT.set(vars);
}

fn snapshot() -> &'static BTreeMap<String, String> {
    SNAPSHOT.get_or_init(|| {
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect()
    })
}

/// A variable, when set and not empty.
pub fn var(name: &str) -> Option<&'static str> {
    snapshot()
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// A variable as set, empty included (a werf.yaml secret may be empty on purpose).
pub fn var_raw(name: &str) -> Option<&'static str> {
    snapshot().get(name).map(String::as_str)
}

/// Every variable (for werf.yaml's `env` template function).
pub fn vars() -> BTreeMap<String, String> {
    snapshot().clone()
}

pub fn home() -> Option<PathBuf> {
    var("HOME").map(PathBuf::from)
}

/// `DOCKER_HOST`.
pub fn docker_host() -> Option<&'static str> {
    var("DOCKER_HOST")
}

/// `DOCKER_TLS_VERIFY` set to anything but `0`.
pub fn docker_tls_verify() -> bool {
    var("DOCKER_TLS_VERIFY").is_some_and(|v| v != "0")
}

/// `DOCKER_CERT_PATH`, else `~/.docker` (as the docker CLI).
pub fn docker_cert_path() -> Option<PathBuf> {
    var("DOCKER_CERT_PATH")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".docker")))
}

/// `DOCKER_CONFIG`, else `~/.docker` (as the docker CLI).
pub fn docker_config_dir() -> Option<PathBuf> {
    var("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".docker")))
}

/// Podman's auth files, as containers-auth.json(5) finds them: `REGISTRY_AUTH_FILE`, else
/// `$XDG_RUNTIME_DIR/containers/auth.json`, else (rootful) `/run/containers/0/auth.json`.
pub fn podman_auth_files() -> Vec<PathBuf> {
    if let Some(f) = var("REGISTRY_AUTH_FILE") {
        return vec![PathBuf::from(f)];
    }
    let mut out = Vec::new();
    if let Some(d) = var("XDG_RUNTIME_DIR") {
        out.push(PathBuf::from(d).join("containers/auth.json"));
    }
    out.push(PathBuf::from("/run/containers/0/auth.json"));
    out
}

/// `XDG_CACHE_HOME`, else `~/.cache`.
pub fn cache_home() -> Option<PathBuf> {
    var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".cache")))
}

/// The push path's diffID cache: `$XDG_CACHE_HOME/slipway/layers.json` or
/// `~/.cache/slipway/layers.json` (other per-project caches sit beside it).
pub fn layer_cache_file() -> Option<PathBuf> {
    Some(cache_home()?.join("slipway").join("layers.json"))
}

/// `SLIPWAY_LAYER_STORE`: where publish reads the daemon's layer store in place instead of
/// taking its export. Unset: the daemon's data root, when readable here; `off`: never; a
/// path: the daemon's data root as mounted here (a daemon in a container with its
/// `/var/lib/docker` on a volume this host sees).
pub fn layer_store() -> Option<&'static str> {
    var("SLIPWAY_LAYER_STORE")
}

/// How long a Docker daemon's export or load may send nothing before it is given up on
/// (`SLIPWAY_DAEMON_TIMEOUT`, seconds; default 120). A wedged storage driver leaves the
/// stream open and silent; builds are not watched, as a RUN step may be silent for long.
pub fn daemon_stall() -> std::time::Duration {
    let secs = var("SLIPWAY_DAEMON_TIMEOUT")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(120);
    std::time::Duration::from_secs(secs)
}

/// The ssh-agent socket (`SSH_AUTH_SOCK`).
pub fn ssh_auth_sock() -> Option<&'static str> {
    var("SSH_AUTH_SOCK")
}

/// Docker's `DOCKER_BUILDKIT`.
pub fn docker_buildkit() -> Option<&'static str> {
    var("DOCKER_BUILDKIT")
}

/// werf's stapel image from `WERF_STAPEL_IMAGE_NAME` and `WERF_STAPEL_IMAGE_VERSION` (each
/// defaulting to werf 1.1's `registry.werf.io/werf/werf-stapel` and `0.6.1`), when either
/// is set.
pub fn werf_stapel_image() -> Option<String> {
    let name = var("WERF_STAPEL_IMAGE_NAME");
    let version = var("WERF_STAPEL_IMAGE_VERSION");
    if name.is_none() && version.is_none() {
        return None;
    }
    Some(format!(
        "{}:{}",
        name.unwrap_or("registry.werf.io/werf/werf-stapel"),
        version.unwrap_or("0.6.1")
    ))
}
