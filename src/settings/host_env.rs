//! The process environment as a value. Docker's and the desktop's variables (`DOCKER_HOST`,
//! `DOCKER_CONFIG`, `HOME`, `XDG_CACHE_HOME`, `SSH_AUTH_SOCK`, …) are named here and
//! nowhere else: the library asks a [`HostEnv`], never `std::env`. The CLI reads the
//! process environment once ([`HostEnv::from_process`]) and carries it in `Settings`; a
//! test builds its own ([`HostEnv::from_map`]), so two environments can sit side by side.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// A snapshot of environment variables (UTF-8 ones only: the others are not Slipway's).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HostEnv {
    vars: BTreeMap<String, String>,
}

impl std::fmt::Debug for HostEnv {
    // Values may be secrets (werf.yaml's `secrets: env`): names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.vars.keys()).finish()
    }
}

/// Where the Docker daemon is, as the docker CLI reads it from the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonEnv {
    /// `DOCKER_HOST`; `None` is the default socket.
    pub host: Option<String>,
    /// `DOCKER_TLS_VERIFY` set to anything but `0`.
    pub tls_verify: bool,
    /// `DOCKER_CERT_PATH`, else `~/.docker`.
    pub cert_path: Option<PathBuf>,
}

/// Where Slipway keeps what it remembers between runs, and its scratch files: every cache
/// path is made here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// `$XDG_CACHE_HOME/slipway` or `~/.cache/slipway`; `None` without either variable.
    pub cache_dir: Option<PathBuf>,
    /// `TMPDIR`, else the system's temporary directory.
    pub temp_dir: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        HostEnv::empty().paths()
    }
}

impl Paths {
    /// The push path's diffID cache (`layers.json`).
    pub fn layer_cache_file(&self) -> Option<PathBuf> {
        Some(self.cache_dir.as_ref()?.join("layers.json"))
    }

    /// A per-project cache file beside the layer cache: `PREFIX-KEY.json`.
    pub fn project_cache_file(&self, prefix: &str, key: &str) -> Option<PathBuf> {
        Some(
            self.cache_dir
                .as_ref()?
                .join(format!("{prefix}-{key}.json")),
        )
    }

    /// Where stapel's remote git repositories are cloned.
    pub fn git_remotes(&self) -> Option<PathBuf> {
        Some(self.cache_dir.as_ref()?.join("git-remotes"))
    }

    /// The cleanup lock file for a set of repositories (`key` names the set).
    pub fn cleanup_lock(&self, key: &str) -> PathBuf {
        self.temp_dir.join(format!("slipway-cleanup-{key}.lock"))
    }
}

impl HostEnv {
    /// The process environment, read now.
    pub fn from_process() -> Self {
        Self::from_map(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        )
    }

    /// These variables as the environment.
    pub fn from_map(vars: BTreeMap<String, String>) -> Self {
        HostEnv { vars }
    }

    /// No variable set.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A variable, when set and not empty.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A variable as set, empty included (a werf.yaml secret may be empty on purpose).
    pub fn var_raw(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Every variable (for werf.yaml's `env` template function).
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    /// `CI=true` (any case), as CI services set it.
    pub fn ci(&self) -> bool {
        self.var("CI")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// `TMPDIR`, else the system's temporary directory (as `std::env::temp_dir`).
    pub fn temp_dir(&self) -> PathBuf {
        self.var("TMPDIR")
            .map_or_else(std::env::temp_dir, PathBuf::from)
    }

    pub fn home(&self) -> Option<PathBuf> {
        self.var("HOME").map(PathBuf::from)
    }

    /// `DOCKER_HOST`.
    pub fn docker_host(&self) -> Option<&str> {
        self.var("DOCKER_HOST")
    }

    /// The daemon's endpoint variables, resolved.
    pub fn daemon(&self) -> DaemonEnv {
        DaemonEnv {
            host: self.docker_host().map(str::to_string),
            // Set to anything but `0`.
            tls_verify: self.var("DOCKER_TLS_VERIFY").is_some_and(|v| v != "0"),
            // `DOCKER_CERT_PATH`, else `~/.docker` (as the docker CLI).
            cert_path: self
                .var("DOCKER_CERT_PATH")
                .map(PathBuf::from)
                .or_else(|| self.home().map(|h| h.join(".docker"))),
        }
    }

    /// `DOCKER_CONFIG`, else `~/.docker` (as the docker CLI).
    pub fn docker_config_dir(&self) -> Option<PathBuf> {
        self.var("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| self.home().map(|h| h.join(".docker")))
    }

    /// Podman's auth files, as containers-auth.json(5) finds them: `REGISTRY_AUTH_FILE`, else
    /// `$XDG_RUNTIME_DIR/containers/auth.json`, else (rootful) `/run/containers/0/auth.json`.
    pub fn podman_auth_files(&self) -> Vec<PathBuf> {
        if let Some(f) = self.var("REGISTRY_AUTH_FILE") {
            return vec![PathBuf::from(f)];
        }
        let mut out = Vec::new();
        if let Some(d) = self.var("XDG_RUNTIME_DIR") {
            out.push(PathBuf::from(d).join("containers/auth.json"));
        }
        out.push(PathBuf::from("/run/containers/0/auth.json"));
        out
    }

    /// `XDG_CACHE_HOME`, else `~/.cache`.
    pub fn cache_home(&self) -> Option<PathBuf> {
        self.var("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| self.home().map(|h| h.join(".cache")))
    }

    /// Slipway's cache and scratch paths.
    pub fn paths(&self) -> Paths {
        Paths {
            cache_dir: self.cache_home().map(|c| c.join("slipway")),
            temp_dir: self.temp_dir(),
        }
    }

    /// `SLIPWAY_LAYER_STORE`: where publish reads the daemon's layer store in place instead
    /// of taking its export. Unset: the daemon's data root, when readable here; `off`:
    /// never; a path: the daemon's data root as mounted here (a daemon in a container with
    /// its `/var/lib/docker` on a volume this host sees).
    pub fn layer_store(&self) -> Option<&str> {
        self.var(LAYER_STORE)
    }

    /// How long a Docker daemon's export or load may send nothing before it is given up on
    /// (`SLIPWAY_DAEMON_TIMEOUT`, seconds; default 120). A wedged storage driver leaves the
    /// stream open and silent; builds are not watched, as a RUN step may be silent for long.
    pub fn daemon_stall(&self) -> Duration {
        let secs = self
            .var(DAEMON_TIMEOUT)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|s| *s > 0)
            .unwrap_or(DEFAULT_DAEMON_STALL_SECS);
        Duration::from_secs(secs)
    }

    /// The ssh-agent socket (`SSH_AUTH_SOCK`).
    pub fn ssh_auth_sock(&self) -> Option<&str> {
        self.var("SSH_AUTH_SOCK")
    }

    /// Docker's `DOCKER_BUILDKIT`.
    pub fn docker_buildkit(&self) -> Option<&str> {
        self.var("DOCKER_BUILDKIT")
    }

    /// werf's stapel image from `WERF_STAPEL_IMAGE_NAME` and `WERF_STAPEL_IMAGE_VERSION`
    /// (each defaulting to werf 1.1's `registry.werf.io/werf/werf-stapel` and `0.6.1`), when
    /// either is set.
    pub fn werf_stapel_image(&self) -> Option<String> {
        let name = self.var("WERF_STAPEL_IMAGE_NAME");
        let version = self.var("WERF_STAPEL_IMAGE_VERSION");
        if name.is_none() && version.is_none() {
            return None;
        }
        Some(format!(
            "{}:{}",
            name.unwrap_or("registry.werf.io/werf/werf-stapel"),
            version.unwrap_or("0.6.1")
        ))
    }
}

const LAYER_STORE: &str = "SLIPWAY_LAYER_STORE";
const DAEMON_TIMEOUT: &str = "SLIPWAY_DAEMON_TIMEOUT";

/// The `SLIPWAY_*` variables read here rather than by an option (the CLI's typo check must
/// not call them unknown).
pub const SLIPWAY_VARS: &[&str] = &[LAYER_STORE, DAEMON_TIMEOUT];

/// `SLIPWAY_DAEMON_TIMEOUT`'s default.
pub const DEFAULT_DAEMON_STALL_SECS: u64 = 120;

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HostEnv {
        HostEnv::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn two_environments_side_by_side_give_their_own_answers() {
        let a = env(&[
            ("HOME", "/home/a"),
            ("DOCKER_HOST", "tcp://a:2375"),
            ("CI", "true"),
        ]);
        let b = env(&[("HOME", "/home/b"), ("XDG_CACHE_HOME", "/cache/b")]);
        assert_eq!(a.home(), Some(PathBuf::from("/home/a")));
        assert_eq!(b.home(), Some(PathBuf::from("/home/b")));
        assert_eq!(a.daemon().host.as_deref(), Some("tcp://a:2375"));
        assert_eq!(b.daemon().host, None);
        assert!(a.ci() && !b.ci());
        assert_eq!(
            a.paths().layer_cache_file(),
            Some(PathBuf::from("/home/a/.cache/slipway/layers.json"))
        );
        assert_eq!(
            b.paths().layer_cache_file(),
            Some(PathBuf::from("/cache/b/slipway/layers.json"))
        );
        assert_eq!(HostEnv::empty().paths().layer_cache_file(), None);
    }

    #[test]
    fn empty_values_are_unset_but_var_raw_sees_them() {
        let e = env(&[("SECRET", ""), ("SLIPWAY_DAEMON_TIMEOUT", "0")]);
        assert_eq!(e.var("SECRET"), None);
        assert_eq!(e.var_raw("SECRET"), Some(""));
        assert_eq!(e.daemon_stall(), Duration::from_secs(120));
        assert_eq!(
            env(&[("SLIPWAY_DAEMON_TIMEOUT", " 7 ")]).daemon_stall(),
            Duration::from_secs(7)
        );
    }

    #[test]
    fn the_daemon_cert_path_falls_back_to_home() {
        let e = env(&[("HOME", "/h"), ("DOCKER_TLS_VERIFY", "1")]);
        let d = e.daemon();
        assert!(d.tls_verify);
        assert_eq!(d.cert_path, Some(PathBuf::from("/h/.docker")));
        assert!(!env(&[("DOCKER_TLS_VERIFY", "0")]).daemon().tls_verify);
    }
}
