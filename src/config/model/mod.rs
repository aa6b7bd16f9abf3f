//! The typed werf.yaml model that every other module reads. Paths are resolved by the
//! loader: `context_dir` and `dockerfile_path` are absolute and inside the project dir.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

mod cleanup;
pub mod stapel;

pub use cleanup::*;

/// A loaded, validated werf.yaml.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// `project:` (slug-valid).
    pub project: String,
    /// `configVersion:` (always 1).
    pub config_version: u32,
    /// The config file that was read.
    pub path: PathBuf,
    /// The project directory (`--dir`), absolute.
    pub dir: PathBuf,
    /// `cleanup:` of the meta document.
    pub cleanup: CleanupConfig,
    /// Sections accepted and preserved as they are (`build`, `deploy`, `gitWorktree`).
    pub extra: BTreeMap<String, serde_json::Value>,
    /// Image documents in file order (Dockerfile and stapel images; what is published).
    pub images: Vec<ImageConfig>,
    /// Stapel `artifact:` documents in file order: built when an image needs them, never
    /// published.
    pub artifacts: Vec<ImageConfig>,
    /// The image mounted at `/.werf/stapel` while stapel steps run (`--stapel-toolbox`).
    pub stapel_toolbox: String,
    /// HOME, where a stapel `fromPath: ~/…` mount leads (from `Settings::host_env`).
    #[serde(skip)]
    pub home: Option<PathBuf>,
    /// Where stapel's remote git repositories are cloned (`Paths::git_remotes`).
    #[serde(skip)]
    pub git_remotes: Option<PathBuf>,
    /// What was accepted but deserves a note (ignored werf ≥ 1.2 keys, names that are not
    /// repository paths), located like errors.
    #[serde(skip)]
    pub warnings: Vec<super::error::ConfigError>,
}

impl Config {
    /// The image named `name` (`None` = the nameless image).
    pub fn image(&self, name: Option<&str>) -> Option<&ImageConfig> {
        self.images.iter().find(|i| i.name.as_deref() == name)
    }

    /// An image or an artifact (what the build graph holds).
    pub fn node(&self, name: Option<&str>) -> Option<&ImageConfig> {
        self.image(name)
            .or_else(|| self.artifacts.iter().find(|i| i.name.as_deref() == name))
    }

    /// Images, then artifacts.
    pub fn nodes(&self) -> impl Iterator<Item = &ImageConfig> {
        self.images.iter().chain(&self.artifacts)
    }
}

/// One `image:` document (Dockerfile image).
#[derive(Debug, Clone, Serialize)]
pub struct ImageConfig {
    /// `image: NAME`; `None` for `image: ~` (the one nameless image).
    pub name: Option<String>,
    /// `dockerfile:` as written (default `Dockerfile`).
    pub dockerfile: String,
    /// `context:` as written (default `.`).
    pub context: String,
    /// Absolute context directory.
    pub context_dir: PathBuf,
    /// Absolute Dockerfile path.
    pub dockerfile_path: PathBuf,
    pub target: Option<String>,
    /// Build args, numbers and booleans coerced to strings.
    pub args: BTreeMap<String, String>,
    /// `addHost:` entries, `host:ip`.
    pub add_host: Vec<String>,
    pub network: Option<String>,
    pub ssh: Option<String>,
    /// Files added back to the context even if `.dockerignore` excludes them.
    pub context_add_files: Vec<String>,
    pub dependencies: Vec<Dependency>,
    pub platform: Vec<String>,
    pub staged: bool,
    pub secrets: Vec<Secret>,
    pub labels: BTreeMap<String, String>,
    /// A stapel image or artifact (`from:`, `git:`, `shell:` … instead of a Dockerfile);
    /// its sources are also listed in `dependencies` (without imports) for the build graph.
    pub stapel: Option<Box<stapel::Stapel>>,
}

impl ImageConfig {
    /// A stapel `artifact:` (never published).
    pub fn is_artifact(&self) -> bool {
        self.stapel.as_ref().is_some_and(|s| s.artifact)
    }

    /// Name for messages: the image name, or `~` for the nameless image.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or("~")
    }
}

/// `dependencies: - image: X, imports: [...]`.
#[derive(Debug, Clone, Serialize)]
pub struct Dependency {
    pub image: String,
    pub imports: Vec<Import>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Import {
    #[serde(rename = "type")]
    pub kind: ImportType,
    pub target_build_arg: Option<String>,
    pub target_env: Option<String>,
}

/// What a dependency passes to its dependant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ImportType {
    ImageName,
    ImageTag,
    ImageRepo,
    ImageID,
    ImageDigest,
}

/// `secrets:` entries: `- env: NAME` or `- src: path` (with an optional `id`), or
/// `- id: ID` with `value: TEXT`. Only names are kept here; values are read at build time.
#[derive(Debug, Clone, Serialize)]
pub enum Secret {
    Env { id: String, env: String },
    Src { id: String, src: PathBuf },
    Value { id: String, value: Redacted },
}

/// A value never printed: `Debug` and `Serialize` (e.g. `config render --json`) show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(pub String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Redacted {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

impl Secret {
    pub fn id(&self) -> &str {
        match self {
            Secret::Env { id, .. } | Secret::Src { id, .. } | Secret::Value { id, .. } => id,
        }
    }
}
