//! Stapel images and artifacts (werf's own builder: `from`, `git`, `shell`, `import`,
//! `docker`, `mount` instead of a Dockerfile). docs/stapel.md says what is built and how.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value as Json;
use serde_saphyr::Location;

/// The four user stages, in build order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum UserStage {
    BeforeInstall,
    Install,
    BeforeSetup,
    Setup,
}

impl UserStage {
    pub const ALL: [UserStage; 4] = [
        UserStage::BeforeInstall,
        UserStage::Install,
        UserStage::BeforeSetup,
        UserStage::Setup,
    ];

    /// werf's name (`beforeInstall`).
    pub fn key(self) -> &'static str {
        match self {
            UserStage::BeforeInstall => "beforeInstall",
            UserStage::Install => "install",
            UserStage::BeforeSetup => "beforeSetup",
            UserStage::Setup => "setup",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A stapel image or artifact.
#[derive(Debug, Clone, Serialize)]
pub struct StapelRecipe {
    pub artifact: bool,
    /// An `import: stage:` node: the stage of the generated Dockerfile it is built up to
    /// (shown as the node's `target` in `config validate --json`).
    #[serde(skip)]
    pub target: Option<String>,
    pub base: Base,
    pub from_latest: bool,
    /// `FILE:LINE:COL` of `fromLatest`.
    pub from_latest_at: Option<String>,
    /// With `fromLatest`: the registry's digest of the base tag, filled in before
    /// signatures are computed ([`crate::stapel::resolve_from_latest`]).
    pub from_latest_digest: Option<String>,
    pub from_cache_version: Option<String>,
    pub git: Vec<GitMapping>,
    pub shell: Option<Shell>,
    /// `ansible:` tasks per stage, as written; they are built as the bash in `shell`.
    pub ansible: Option<BTreeMap<String, Json>>,
    pub imports: Vec<StapelImport>,
    pub docker: Option<DockerInstructions>,
    pub mounts: Vec<Mount>,
    /// `secrets:`, mounted at `/run/secrets/ID` in every user step (BuildKit secret
    /// mounts); neither ids nor values are part of any signature, as in werf.
    pub secrets: Vec<super::Secret>,
    /// The parsed `dependencies:`, moved into `ImageConfig::dependencies` by the parser.
    #[serde(skip)]
    pub(in crate::config) parsed_dependencies: Vec<super::Dependency>,
    pub as_layers: bool,
    /// `platform:` (werf ≥ 1.2), normalized, else meta `build.platform` (issue 34); empty:
    /// the daemon's own. Not part of `doc`: each platform's signature names its own.
    pub platform: Vec<String>,
    /// werf 2's `network:`: the network mode of every user step (the build's network
    /// mode, as `network:` of a Dockerfile image).
    pub network: Option<String>,
    /// werf 2's `disableGitAfterPatch: true`: no `gitLatestPatch` (git changes reach the
    /// image only through the `stageDependencies` of a rebuilt stage, as in an artifact).
    pub disable_git_after_patch: bool,
    /// The document as rendered, without its name: what the signature hashes.
    pub doc: Json,
    /// `FILE:LINE:COL` of the document's name.
    pub at: String,
    /// Directives accepted by the config but not built yet, each a located message: the
    /// build refuses the image rather than build something else.
    pub unsupported: Vec<String>,
}

/// Where the image starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Base {
    /// `from: NAME[:TAG]`
    From(String),
    /// `fromImage: IMAGE` (a stapel or Dockerfile image of this werf.yaml).
    Image(String),
    /// `fromImageArtifact: ARTIFACT`.
    Artifact(String),
}

impl Base {
    /// The werf.yaml image or artifact this one starts from.
    pub fn source(&self) -> Option<&str> {
        match self {
            Base::From(_) => None,
            Base::Image(n) | Base::Artifact(n) => Some(n),
        }
    }
}

/// Which commit of a remote repository a mapping takes (werf: commit > tag > branch >
/// the remote's HEAD branch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum GitRef {
    Commit(String),
    Tag(String),
    Branch(String),
    /// The branch the remote's HEAD names.
    Head,
}

/// A remote mapping's repository (`git: - url: …`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteGit {
    pub url: String,
    pub reference: GitRef,
}

/// A `git:` mapping: the project's repository at HEAD, or a remote one (`url:`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GitMapping {
    /// `url:` and its branch/tag/commit; `None` for the project's own repository.
    pub remote: Option<RemoteGit>,
    /// Absolute, cleaned path in the repository (`/` = everything).
    pub add: String,
    /// Absolute, cleaned path in the image.
    pub to: String,
    pub include_paths: Vec<String>,
    /// As written, plus werf's automatic excludes of other mappings' and imports' regions.
    pub exclude_paths: Vec<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub stage_dependencies: BTreeMap<String, Vec<String>>,
    pub at: String,
}

/// One shell command (a list item; may hold several lines).
#[derive(Debug, Clone, Serialize)]
pub struct ShellCommand {
    pub text: String,
    /// `FILE:LINE:COL` of the item.
    pub at: String,
}

/// `shell:`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Shell {
    /// `shell`, or `ansible` when the commands were translated from ansible tasks.
    pub builder: &'static str,
    /// Commands per stage, in [`UserStage::ALL`] order.
    pub commands: [Vec<ShellCommand>; 4],
    pub cache_version: Option<String>,
    /// `<stage>CacheVersion`, in [`UserStage::ALL`] order.
    pub stage_cache_versions: [Option<String>; 4],
}

impl Shell {
    /// `shell` or `ansible` (for messages).
    pub fn builder_name(&self) -> &'static str {
        if self.builder.is_empty() {
            "shell"
        } else {
            self.builder
        }
    }

    pub fn stage(&self, s: UserStage) -> &[ShellCommand] {
        &self.commands[s.index()]
    }

    /// werf runs a user stage when it has commands or a cache version applies to it
    /// (a shared `cacheVersion` brings all four into being, each running an empty script).
    pub fn has_stage(&self, s: UserStage) -> bool {
        !self.commands[s.index()].is_empty()
            || self.cache_version.is_some()
            || self.stage_cache_versions[s.index()].is_some()
    }

    /// The cache versions that apply to a stage (part of its script, so of its cache key).
    pub fn cache_versions(&self, s: UserStage) -> Vec<&str> {
        self.cache_version
            .iter()
            .chain(&self.stage_cache_versions[s.index()])
            .map(String::as_str)
            .collect()
    }
}

/// When an import (or a dependency's ENV) happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ImportPosition {
    BeforeInstall,
    AfterInstall,
    BeforeSetup,
    AfterSetup,
}

impl From<super::DependencyStage> for ImportPosition {
    /// werf 2's dependencies stage of a `dependencies:` entry is its imports stage.
    fn from(s: super::DependencyStage) -> ImportPosition {
        use super::DependencyStage as D;
        match s {
            D::BeforeInstall => ImportPosition::BeforeInstall,
            D::AfterInstall => ImportPosition::AfterInstall,
            D::BeforeSetup => ImportPosition::BeforeSetup,
            D::AfterSetup => ImportPosition::AfterSetup,
        }
    }
}

/// An `import:` entry.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StapelImport {
    /// The image or artifact copied from.
    pub source: String,
    /// The build-graph node copied from: `source`, or for `stage:` the node that builds
    /// `source` up to that stage (the stapel parser's `stage_node_name`).
    pub node: String,
    pub from_artifact: bool,
    pub add: String,
    pub to: String,
    pub position: ImportPosition,
    pub stage: Option<String>,
    pub include_paths: Vec<String>,
    pub exclude_paths: Vec<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub at: String,
    /// A registry image (werf 2: `source` has a tag or digest), not an image of werf.yaml:
    /// its files are copied from the registry's image.
    pub external: bool,
    /// With `external`: the registry's digest of `source`, filled in before signatures
    /// are computed ([`crate::stapel::resolve_registry_digests`]).
    pub external_digest: Option<String>,
    #[serde(skip)]
    pub(in crate::config) loc: Option<Location>,
}

impl StapelImport {
    /// The reference a build copies from: an external source pinned to its registry digest
    /// once resolved (`repo@sha256:…`), else the source as written.
    pub fn external_reference(&self) -> String {
        match &self.external_digest {
            Some(d) => format!("{}@{d}", without_tag_or_digest(&self.source)),
            None => self.source.clone(),
        }
    }
}

/// `reference` without its `:tag` (after the last `/`) and `@digest`.
pub fn without_tag_or_digest(reference: &str) -> &str {
    let r = reference.split('@').next().unwrap_or(reference);
    let last = r.rfind('/').map_or(0, |i| i + 1);
    match r[last..].find(':') {
        Some(c) => &r[..last + c],
        None => r,
    }
}

/// `ENTRYPOINT`/`CMD`: a string is the shell form, a list the exec form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DockerCommand {
    Shell(String),
    Exec(Vec<String>),
}

/// `docker:`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerInstructions {
    /// werf 2's `exactValues`: werf then quotes `ENV`/`LABEL`/`VOLUME`/`EXPOSE` values;
    /// Slipway always writes them quoted (JSON), so it changes nothing here.
    pub exact_values: bool,
    pub volume: Vec<String>,
    pub expose: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub label: BTreeMap<String, String>,
    pub entrypoint: Option<DockerCommand>,
    pub cmd: Option<DockerCommand>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub healthcheck: Option<String>,
}

/// A `mount:` entry.
#[derive(Debug, Clone, Serialize)]
pub struct Mount {
    pub to: String,
    pub from: MountFrom,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MountFrom {
    BuildDir,
    TmpDir,
    Path(String),
}

#[cfg(test)]
mod tests {
    use super::without_tag_or_digest as bare;

    #[test]
    fn a_reference_without_its_tag_or_digest_keeps_the_registry_port() {
        assert_eq!(bare("alpine:3.20"), "alpine");
        assert_eq!(bare("127.0.0.1:5000/team/src:1"), "127.0.0.1:5000/team/src");
        assert_eq!(bare("127.0.0.1:5000/team/src"), "127.0.0.1:5000/team/src");
        assert_eq!(bare("127.0.0.1:5000/src:1@sha256:ab"), "127.0.0.1:5000/src");
        assert_eq!(bare("alpine@sha256:ab"), "alpine");
    }
}
