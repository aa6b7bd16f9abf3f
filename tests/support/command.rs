//! The one way the integration tests run the `slipway` binary: [`slipway`] gives a builder
//! with an environment of its own. Project, toolbox, images repo, daemon, arguments,
//! variables, stdin and timeout are set through its methods; the run and its expected success
//! or failure (`assert().success()`, `output()`) are assert_cmd's, whose `Command` it derefs
//! to.

use std::ffi::OsStr;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::Registry;

/// The `slipway` binary as cargo built it for this test binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_slipway"))
}

/// The caller's `PATH` with the binary's folder first: for shell scripts that run `slipway`
/// by name, as a CI job does.
pub fn path() -> String {
    format!(
        "{}:{}",
        bin().parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// `slipway` with an environment of its own: no `SLIPWAY_*`/`WERF_*`/CI/Kubernetes
/// variables leak in from the caller, and `DOCKER_CONFIG` points at an empty folder unless
/// the test sets it. The host's daemon is made sure to answer first (most commands use it).
pub fn slipway() -> Slipway {
    super::daemon_answers();
    let mut cmd = assert_cmd::Command::new(bin());
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        if k.starts_with("SLIPWAY_")
            || k.starts_with("WERF_")
            || k.starts_with("CI_")
            || k.starts_with("GITHUB_")
            || k == "CI"
            || k == "DOCKER_BUILDKIT"
            // werf reads these for cleanup's Kubernetes scan; a developer's must not leak in.
            || k == "KUBECONFIG"
            || k == "KUBECONFIG_BASE64"
        {
            cmd.env_remove(&k);
        }
    }
    static EMPTY_DOCKER_CONFIG: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dc = EMPTY_DOCKER_CONFIG.get_or_init(|| tempfile::tempdir().expect("tempdir"));
    cmd.env("DOCKER_CONFIG", dc.path());
    Slipway(cmd)
}

/// A `slipway` run being set up; see [`slipway`].
pub struct Slipway(assert_cmd::Command);

impl Slipway {
    /// `--dir DIR`, with the project's own cache folder (`XDG_CACHE_HOME`, see
    /// [`super::cache_home`]).
    pub fn project(&mut self, dir: &Path) -> &mut Self {
        self.0
            .env("XDG_CACHE_HOME", super::cache_home(dir))
            .arg("--dir")
            .arg(dir);
        self
    }

    /// The test stapel toolbox (`--stapel-toolbox`).
    pub fn stapel(&mut self) -> &mut Self {
        self.0.args(["--stapel-toolbox", super::stapel_toolbox()]);
        self
    }

    /// Images under `REGISTRY/name`, the test registry trusted over plain HTTP.
    pub fn images_repo(&mut self, reg: &Registry, name: &str) -> &mut Self {
        self.0
            .args(["--images-repo", &format!("{}/{name}", reg.host)]);
        self.insecure(&reg.host)
    }

    /// `--insecure-registry HOST`.
    pub fn insecure(&mut self, host: &str) -> &mut Self {
        self.0.args(["--insecure-registry", host]);
        self
    }

    /// The daemon at `host` (`DOCKER_HOST`); None keeps the default one.
    pub fn docker_host(&mut self, host: Option<&str>) -> &mut Self {
        if let Some(h) = host {
            self.0.env("DOCKER_HOST", h);
        }
        self
    }

    /// `BASE_IMAGE` for werf.yaml's `{{ env "BASE_IMAGE" }}`: the test base image.
    pub fn base_image(&mut self) -> &mut Self {
        self.0.env("BASE_IMAGE", super::base_image());
        self
    }

    /// The test Podman service as the daemon, its base image loaded and named by
    /// `BASE_IMAGE`.
    pub fn podman(&mut self) -> &mut Self {
        let _ = super::podman_with_base_image();
        self.0
            .env("DOCKER_HOST", super::podman_host())
            .env("BASE_IMAGE", super::BASE_IMAGE);
        self
    }

    // assert_cmd's setters again, so that a chain stays a `Slipway` whatever their order.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.0.arg(arg);
        self
    }

    pub fn args<S: AsRef<OsStr>>(&mut self, args: impl IntoIterator<Item = S>) -> &mut Self {
        self.0.args(args);
        self
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Self {
        self.0.env(key, val);
        self
    }

    pub fn envs<K: AsRef<OsStr>, V: AsRef<OsStr>>(
        &mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> &mut Self {
        self.0.envs(vars);
        self
    }

    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.0.env_remove(key);
        self
    }

    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.0.current_dir(dir);
        self
    }

    pub fn write_stdin(&mut self, buffer: impl Into<Vec<u8>>) -> &mut Self {
        self.0.write_stdin(buffer);
        self
    }

    pub fn timeout(&mut self, timeout: std::time::Duration) -> &mut Self {
        self.0.timeout(timeout);
        self
    }

    /// The same run as a plain `std::process::Command` (to spawn it, or to run several at
    /// once); stdin and timeout set on the builder do not carry over.
    pub fn std(&self) -> std::process::Command {
        self.fill(std::process::Command::new(self.0.get_program()))
    }

    /// The same run started as `program PRE… slipway ARGS…` (e.g. `sh -c 'ulimit …; exec
    /// "$0" "$@"'`), with this run's environment and folder.
    pub fn via(&self, program: impl AsRef<OsStr>, pre: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(program);
        c.args(pre).arg(self.0.get_program());
        self.fill(c)
    }

    fn fill(&self, mut c: std::process::Command) -> std::process::Command {
        c.args(self.0.get_args());
        for (k, v) in self.0.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        if let Some(d) = self.0.get_current_dir() {
            c.current_dir(d);
        }
        c
    }
}

impl Deref for Slipway {
    type Target = assert_cmd::Command;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Slipway {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}
