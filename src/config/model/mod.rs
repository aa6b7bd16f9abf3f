//! The typed werf.yaml model that every other module reads. Paths are resolved by the
//! loader: `context_dir` and `dockerfile_path` are absolute and inside the project dir.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

mod cleanup;
mod image_spec;
mod json;
pub mod stapel;

pub use cleanup::*;
pub use image_spec::*;

/// A loaded, validated werf.yaml. `Serialize` (`config validate --json`) is in json.rs.
#[derive(Debug, Clone)]
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
    /// Not serialized.
    pub home: Option<PathBuf>,
    /// Where stapel's remote git repositories are cloned (`Paths::git_remotes`). Not
    /// serialized.
    pub git_remotes: Option<PathBuf>,
    /// The agent of werf's `--ssh-key` (`Settings::ssh_agent`): stapel steps, `ssh:
    /// default` and remote git mappings use it. Not serialized.
    pub ssh_agent: Option<PathBuf>,
    /// The project's git remote (`origin`, else the first) as `https://host/path`, without
    /// credentials: the `org.opencontainers.image.source` label, part of every image's
    /// signature. `None` without a remote. Not serialized.
    pub source: Option<String>,
    /// What was accepted but deserves a note (ignored werf ≥ 1.2 keys, names that are not
    /// repository paths), located like errors. Not serialized.
    pub warnings: Vec<super::error::ConfigError>,
}

impl Config {
    /// `--platform` (already normalized): replaces every image's and artifact's platforms, as
    /// werf 2's flag does; empty leaves werf.yaml's.
    pub fn force_platforms(&mut self, forced: &[String]) {
        if forced.is_empty() {
            return;
        }
        let mut list: Vec<String> = Vec::new();
        for p in forced {
            if !list.contains(p) {
                list.push(p.clone());
            }
        }
        for img in self.images.iter_mut().chain(self.artifacts.iter_mut()) {
            match &mut img.recipe {
                Recipe::Dockerfile(d) => d.platform.clone_from(&list),
                Recipe::Stapel(st) => st.platform.clone_from(&list),
            }
        }
    }

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

/// One `image:` or `artifact:` document: a name, the images it needs, and how it is built.
#[derive(Debug, Clone)]
pub struct ImageConfig {
    /// `image: NAME`; `None` for `image: ~` (the one nameless image).
    pub name: Option<String>,
    /// A stapel node's sources are listed here too (without imports), for the build graph.
    pub dependencies: Vec<Dependency>,
    /// werf ≥ 1.2's `cacheVersion` (else the meta document's `build.cacheVersion`): part
    /// of the content signature, so changing it rebuilds the image.
    pub cache_version: Option<String>,
    pub recipe: Recipe,
    /// `final:` (werf ≥ 1.2, default true): `false` = built for its dependants, never
    /// published under the image's tags. Artifacts are never final.
    pub is_final: bool,
    /// `imageSpec:`, with meta `build.imageSpec` merged in for a final image.
    pub image_spec: Option<ImageSpec>,
}

/// How an image is built.
#[derive(Debug, Clone)]
pub enum Recipe {
    Dockerfile(Box<DockerfileRecipe>),
    /// `from:`, `git:`, `shell:` … instead of a Dockerfile.
    Stapel(Box<stapel::StapelRecipe>),
}

/// The keys of a Dockerfile image. `Default` is what a stapel node shows in the JSON model
/// (see `json.rs`), so a new key needs no edit there.
#[derive(Debug, Clone, Default)]
pub struct DockerfileRecipe {
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
    pub platform: Vec<String>,
    pub staged: bool,
    pub secrets: Vec<Secret>,
    pub labels: BTreeMap<String, String>,
}

impl ImageConfig {
    /// A stapel `artifact:` (never published).
    pub fn is_artifact(&self) -> bool {
        self.stapel().is_some_and(|s| s.artifact)
    }

    /// `network:`: the build's network mode (a Dockerfile image's RUN instructions, a
    /// stapel image's user steps).
    pub fn network(&self) -> Option<&str> {
        match &self.recipe {
            Recipe::Stapel(s) => s.network.as_deref(),
            Recipe::Dockerfile(d) => d.network.as_deref(),
        }
    }

    /// Name for messages: the image name, or `~` for the nameless image.
    pub fn display_name(&self) -> &str {
        self.name
            .as_deref()
            .unwrap_or(crate::naming::name::NAMELESS)
    }

    /// The stapel recipe, for a stapel image or artifact.
    pub fn stapel(&self) -> Option<&stapel::StapelRecipe> {
        match &self.recipe {
            Recipe::Stapel(s) => Some(s),
            Recipe::Dockerfile(_) => None,
        }
    }

    pub fn stapel_mut(&mut self) -> Option<&mut stapel::StapelRecipe> {
        match &mut self.recipe {
            Recipe::Stapel(s) => Some(s),
            Recipe::Dockerfile(_) => None,
        }
    }

    /// The platforms it is built for (`platform:`, else meta `build.platform`, or
    /// `--platform`); empty: the daemon's own.
    pub fn platforms(&self) -> &[String] {
        match &self.recipe {
            Recipe::Dockerfile(d) => &d.platform,
            Recipe::Stapel(s) => &s.platform,
        }
    }

    /// The Dockerfile keys, for a Dockerfile image.
    pub fn dockerfile(&self) -> Option<&DockerfileRecipe> {
        match &self.recipe {
            Recipe::Dockerfile(d) => Some(d),
            Recipe::Stapel(_) => None,
        }
    }

    /// The Dockerfile stage built (`--target`): `target:` of a Dockerfile image, or the
    /// stage of an `import: stage:` node in its generated Dockerfile.
    pub fn target(&self) -> Option<&str> {
        match &self.recipe {
            Recipe::Dockerfile(d) => d.target.as_deref(),
            Recipe::Stapel(s) => s.target.as_deref(),
        }
    }
}

/// `dependencies: - image: X, imports: [...]`.
#[derive(Debug, Clone, Serialize)]
pub struct Dependency {
    pub image: String,
    /// A stapel image's `before:`/`after:` (the stage it is needed from); `None` for a
    /// Dockerfile image (werf refuses them there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<DependencyStage>,
    pub imports: Vec<Import>,
}

/// `before: install|setup` or `after: install|setup` of a stapel image's dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DependencyStage {
    BeforeInstall,
    AfterInstall,
    BeforeSetup,
    AfterSetup,
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
