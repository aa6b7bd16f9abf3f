//! Settings resolved once at start-up from flags, `SLIPWAY_*` and `WERF_*` variables.
//! Everything below `cli` takes these values, never raw flags or environment.

use std::path::PathBuf;

/// How images are laid out in `--images-repo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
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
    /// Hosts (`host[:port]`) allowed plain HTTP or unverified TLS.
    pub insecure_registries: Vec<String>,
    /// Emit machine-readable JSON instead of text.
    pub json: bool,
    /// Registry username/password given explicitly (used when docker's config has none).
    pub registry_username: Option<String>,
    pub registry_password: Option<Secret>,
}

impl Settings {
    /// True when `host` (with optional port) was named by `--insecure-registry`.
    pub fn is_insecure(&self, host: &str) -> bool {
        self.insecure_registries
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host))
    }
}

/// A secret value: `Debug` and `Display` never show it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}
