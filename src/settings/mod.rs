//! Settings resolved once at start-up from flags, `SLIPWAY_*` and `WERF_*` variables.
//! Everything below `cli` takes these values, never raw flags or environment.

pub mod host_env;
pub mod werf_names;

use std::path::PathBuf;

/// How images are laid out in `--images-repo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RepoMode {
    /// Pick per registry implementation (see `naming`).
    #[default]
    Auto,
    /// `REPO/IMAGE:TAG`
    Multirepo,
    /// `REPO:IMAGE-TAG`
    Monorepo,
}

impl std::str::FromStr for RepoMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" | "" => Ok(Self::Auto),
            "multirepo" => Ok(Self::Multirepo),
            "monorepo" => Ok(Self::Monorepo),
            other => Err(format!(
                "invalid images repo mode {other:?}: choose one of auto, multirepo, monorepo"
            )),
        }
    }
}

/// Which werf's reading of werf.yaml to follow where werf versions differ
/// (`--werf-version`; docs/config.md lists what it switches, e.g. werf 1.1 reads
/// `dockerfile:` relative to the project directory, werf ≥ 1.2 relative to `context:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum WerfVersion {
    /// werf 1.1.
    V1_1,
    /// werf 1.2 and 2.
    V2,
}

impl std::str::FromStr for WerfVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1.1" => Ok(Self::V1_1),
            "2" | "1.2" => Ok(Self::V2),
            other => Err(format!(
                "invalid werf version {other:?}: choose 1.1 or 2 (werf 1.2 reads werf.yaml as 2 does)"
            )),
        }
    }
}

/// Global settings shared by every command.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Project directory (`--dir`).
    pub dir: PathBuf,
    /// Explicit config file (`--config`); `None` means `werf.yaml`/`werf.yml` in `dir`.
    pub config: Option<PathBuf>,
    /// werf's `--env` value, visible to templates as `.Env`.
    pub env: Option<String>,
    pub images_repo: Option<String>,
    pub images_repo_mode: RepoMode,
    /// Custom layout template (`--images-repo-template`).
    pub images_repo_template: Option<String>,
    /// Registry implementation override (`--implementation`), e.g. `gitlab`.
    pub implementation: Option<String>,
    /// Which registries may use plain HTTP or unverified TLS (`--insecure-registry`,
    /// `--skip-tls-verify-registry`); see [`Insecure::policy`].
    pub insecure: Insecure,
    /// Docker's config directory (credentials): `--docker-config`, else `DOCKER_CONFIG`,
    /// else `~/.docker`.
    pub docker_config: Option<PathBuf>,
    /// werf's `--log-verbose`.
    pub verbose: bool,
    /// Docker's `DOCKER_BUILDKIT` (the settings layer reads the environment).
    pub docker_buildkit: Option<String>,
    /// Custom tags from `WERF_TAG_CUSTOM_*` / `SLIPWAY_TAG_CUSTOM_*` (werf reads every
    /// variable with the prefix), added to `--tag-custom`.
    pub tag_custom_env: Vec<String>,
    /// Emit machine-readable JSON instead of text.
    pub json: bool,
    /// Registry username/password given explicitly (used when docker's config has none).
    pub registry_username: Option<String>,
    pub registry_password: Option<Secret>,
    /// `--werf-version`: settles werf.yaml readings that differ between werf versions;
    /// `None`: inferred from werf.yaml (see `config::version`).
    pub werf_version: Option<WerfVersion>,
    /// `--giterminism-config` (`WERF_GITERMINISM_CONFIG`): werf's giterminism file, relative
    /// to the project directory; `None` is `werf-giterminism.yaml` there, when it exists.
    pub giterminism_config: Option<PathBuf>,
    /// werf's `--config-templates-dir` (`WERF_CONFIG_TEMPLATES_DIR`): where werf.yaml's
    /// partials are read instead of `.werf/` of the project.
    pub config_templates_dir: Option<PathBuf>,
    /// werf's `--allow-git-shallow-clone` (`WERF_ALLOW_GIT_SHALLOW_CLONE`): cleanup takes a
    /// shallow clone's history as it is instead of refusing it.
    pub allow_git_shallow_clone: bool,
    /// werf's `--ssh-key` and `WERF_SSH_KEY_*`: key files for the ssh-agent of a build.
    pub ssh_keys: Vec<PathBuf>,
    /// The socket of the agent started for `ssh_keys` (set by the command that started it,
    /// which keeps it running): builds use it instead of `SSH_AUTH_SOCK`.
    pub ssh_agent: Option<PathBuf>,
    /// `--loose-giterminism` (`WERF_LOOSE_GITERMINISM`): what werf's giterminism would
    /// refuse (`fromLatest`, a remote mapping following a branch) is allowed.
    pub loose_giterminism: bool,
    /// The image whose `/.werf/stapel` (bash, rm) runs stapel images' steps
    /// (`--stapel-toolbox`, else werf's `WERF_STAPEL_IMAGE_NAME`/`_VERSION`); `None` is
    /// werf's own stapel image.
    pub stapel_toolbox: Option<String>,
    /// werf's stages storage (`--stages-storage`): a repository that stapel stages are
    /// stored in and reused from; `None` or `:local` keeps them in the daemon only.
    pub stages_storage: Option<String>,
    /// `--registry-timeout`: a registry request that moves no data for this long fails
    /// (retried once); an operation gives up after twice this without progress.
    pub registry_timeout: Option<std::time::Duration>,
    /// `--registry-ca`: PEM certificates trusted for every registry, as CAs and as a
    /// server's own (self-signed) certificate, next to `/etc/docker/certs.d/HOST/*.crt`.
    pub registry_ca: Vec<PathBuf>,
    /// The process environment, read once by the CLI (empty by default: a library caller
    /// or a test says which variables it means).
    pub host_env: HostEnv,
}

impl Settings {
    /// Where Slipway's caches and scratch files live.
    pub fn paths(&self) -> Paths {
        self.host_env.paths()
    }
}

pub use host_env::{DaemonEnv, HostEnv, Paths};

/// `--insecure-registry` and `--skip-tls-verify-registry`: the registry client's own type
/// (it gives them their one meaning, [`Insecure::policy`]).
pub use crate::registry::transport::scheme::Insecure;

pub use crate::secret::Secret;
