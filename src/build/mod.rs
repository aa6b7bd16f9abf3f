//! Building werf.yaml images through the Docker Engine API (bollard): dependency order,
//! independent images in parallel, unchanged images (same content signature as a local
//! image) skipped, logs streamed with a per-image prefix. BuildKit (`buildkit`) when the
//! daemon supports it, the classic builder otherwise or on request.

pub mod builder;
pub mod dockerfile;
mod flags;
pub mod introspect;
mod schedule;
pub mod secrets;
pub mod ssh;
pub(crate) mod stapel_base;
mod stapel_storage;
mod steps;
#[cfg(test)]
mod tests;

pub use builder::buildkit::filesync;
pub use builder::buildkit::session as buildkit;
pub use builder::buildkit::session::SessionData;

use std::collections::BTreeMap;
use std::sync::Arc;

use bollard::Docker;
use serde::Serialize;

use crate::config::{Config, ImageConfig};
use crate::context;
pub use crate::daemon::engine;
pub use crate::daemon::tag as tag_image;
pub use crate::naming::local_tag;
use crate::registry::keychain::Keychain;
pub use flags::{Parallel, ParsedBuildFlags};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot reach the Docker daemon at {at}: {cause}")]
    Daemon { at: String, cause: String },
    #[error("image {image}: {message}")]
    Failed { image: String, message: String },
    /// A stapel node's stages or generated build (stapel's own error, same text as `Failed`).
    #[error("image {image}: {cause}")]
    Stapel {
        image: String,
        cause: Box<crate::stapel::StapelError>,
    },
    #[error("image {image}: {source}")]
    Context {
        image: String,
        #[source]
        source: context::ContextError,
    },
    /// `images`: what werf.yaml has, and the closest name if one is close.
    #[error("unknown image {name:?} (not in werf.yaml; its images: {images})")]
    UnknownImage { name: String, images: String },
    /// werf 1.1's build-and-publish takes images only; `werf build` builds artifacts too.
    #[error(
        "specified image {0} is not defined in werf.yaml: it is an artifact, which is never published (`slipway build {0}` builds it)"
    )]
    ArtifactNotPublished(String),
    #[error("--buildkit=on, but the daemon cannot run BuildKit builds: {why}")]
    BuildKitUnavailable { why: String },
    #[error(
        "image {image} has `{what}:`, which only BuildKit can pass to a build, and BuildKit is not used: {why}"
    )]
    NeedsBuildKit {
        image: String,
        what: &'static str,
        why: String,
    },
    #[error(
        "image {image} is a stapel image, which Slipway builds with BuildKit only, and BuildKit is not used: {why}"
    )]
    StapelNeedsBuildKit { image: String, why: String },
    #[error(transparent)]
    Secret(#[from] secrets::SecretError),
    #[error(transparent)]
    Ssh(#[from] ssh::SshError),
    #[error(
        "image {image} imports the `ImageDigest` of {dependency}, which had to be published first: {cause}"
    )]
    DependencyDigest {
        image: String,
        dependency: String,
        cause: String,
    },
    #[error("DOCKER_BUILDKIT={0:?}: use 1 or 0 (or --buildkit)")]
    DockerBuildkit(String),
}

/// `--buildkit`: BuildKit when the daemon supports it (`auto`), always (`on`: an error when
/// it cannot), or never (`off`: the classic builder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildKitMode {
    #[default]
    Auto,
    On,
    Off,
}

/// Which builder built an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BuilderKind {
    Classic,
    Buildkit,
}

/// One build event (for `--json` and progress output).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    Start {
        image: String,
    },
    Log {
        image: String,
        line: String,
    },
    Skipped {
        image: String,
        image_id: String,
    },
    Done {
        image: String,
        image_id: String,
        seconds: f64,
    },
    /// A stapel node's stages: which are reused, from where (`local`: the daemon's build
    /// cache; `storage`: the stages storage `storage`), and which are built.
    Stages {
        image: String,
        reused: Vec<String>,
        from: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        storage: Option<String>,
        built: Vec<String>,
    },
}

/// What was built.
#[derive(Debug, Clone, Serialize)]
pub struct BuiltImage {
    pub name: Option<String>,
    pub image_id: String,
    pub signature: String,
    pub skipped: bool,
    pub seconds: f64,
    /// Local tag, `<project>/<image>:latest` (nameless: `<project>:latest`).
    pub local_tag: String,
    /// The builder in use (also for a skipped image).
    pub builder: BuilderKind,
    /// An image built for several platforms (issue 34): each platform's image, in
    /// `platform:` order (`image_id` and `local_tag` above are the first's). Empty for one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<PlatformImage>,
}

/// One platform's image of a multi-platform image: the daemon keeps one image per tag, so
/// each has its own local tag (`<project>/<image>:<os>-<arch>`) and signature label.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformImage {
    pub platform: String,
    pub image_id: String,
    pub signature: String,
    pub local_tag: String,
    pub skipped: bool,
}

/// The registry digest of a just-built dependency, for `ImageDigest` imports: werf passes
/// the manifest digest in the registry, so publishing pushes the dependency first and
/// answers with its digest.
pub type DigestHook = Arc<
    dyn Fn(
            BuiltImage,
        )
            -> std::pin::Pin<Box<dyn Future<Output = Result<RegistryDigest, DigestError>> + Send>>
        + Send
        + Sync,
>;

/// What a [`DigestHook`] answers: the dependency's manifest digest (an index's for an
/// image of several platforms), and each platform's manifest digest in that index, which
/// the same platform of a dependant imports (issue 34, as werf 2 does).
#[derive(Debug, Clone, Default)]
pub struct RegistryDigest {
    pub digest: String,
    /// Platform (`os/arch[/variant]`) → its manifest's digest; empty for one platform.
    pub platforms: BTreeMap<String, String>,
}

impl From<String> for RegistryDigest {
    fn from(digest: String) -> RegistryDigest {
        RegistryDigest {
            digest,
            platforms: BTreeMap::new(),
        }
    }
}

/// Why a [`DigestHook`] found no digest: the caller's error (publish's, which the build
/// sits below).
pub type DigestError = Box<dyn std::error::Error + Send + Sync>;

/// Names a dependant can import from a dependency.
#[derive(Debug, Clone, Default)]
pub struct ImageNames {
    /// Full reference to use as the image name (repository:tag), if published names are known.
    pub reference: Option<String>,
}

pub struct BuildOptions {
    /// Images to build (with their dependencies); empty = all.
    pub images: Vec<String>,
    /// What the build flags say.
    pub settings: BuildSettings,
    /// Extra local tags per image (full references when `--images-repo` is set).
    pub extra_tags: BTreeMap<Option<String>, Vec<String>>,
    /// Receives every event; called from several tasks.
    pub on_event: Arc<dyn Fn(&Event) + Send + Sync>,
    pub git_commit: Option<String>,
    /// More labels, e.g. `slipway.git-branch` when publishing under a branch tag (cleanup's
    /// tag-scheme mode reads them).
    pub extra_labels: BTreeMap<String, String>,
    /// Per image, published references whose inline cache BuildKit may reuse
    /// (`--cache-from`). Every BuildKit build also writes an inline cache into its image,
    /// so what Slipway publishes can serve as such a source.
    pub cache_from: BTreeMap<Option<String>, Vec<String>>,
    /// Registry credentials BuildKit may ask for while pulling base images.
    pub keychain: Keychain,
    /// Files this run writes into the project (reports), resolved with
    /// `signature::output_paths`: they never go into a build context.
    pub outputs: Vec<std::path::PathBuf>,
    /// Publishes a dependency that some image imports the `ImageDigest` of; without it
    /// (a plain build) that import is empty, as in werf without a registry.
    pub registry_digest: Option<DigestHook>,
    /// Where stapel stages are stored and looked up besides the daemon
    /// (`--stages-storage REPO`; `None`: the daemon only).
    pub stages_storage: Option<crate::stapel::storage::StagesStorage>,
    /// The environment: where the daemon is, the ssh agent, werf.yaml's `secrets:` (`env`,
    /// `~/` paths).
    pub host_env: crate::settings::HostEnv,
}

/// What the build flags say. `build`, `run` and `build-and-publish` take the same value.
/// A plain flag is declared here, with clap's derive (the CLI flattens this struct into
/// its build flags, as `BuildKitMode` is already a clap value here), so a new build flag
/// is its field here and the line that reads it (issue 29's change recipe: 2 files). Flags
/// that need the environment to resolve (`--parallel`, `--buildkit`) are `skip`ped and set
/// by [`ParsedBuildFlags::resolve`].
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BuildSettings {
    /// Images built at once.
    #[arg(skip)]
    pub parallel: usize,
    /// Rebuild even when a local image has the same content signature.
    #[arg(long)]
    pub force: bool,
    #[arg(skip)]
    pub buildkit: BuildKitMode,
    /// Build for these platforms (OS/ARCH[/VARIANT], comma-separated or repeated), e.g.
    /// linux/amd64,linux/arm64: replaces werf.yaml's `platform:` and `build.platform`.
    /// Several platforms are published as one image index [default: werf.yaml's, else the
    /// daemon's platform].
    #[arg(long, value_delimiter = ',', value_parser = crate::platform::normalize)]
    pub platform: Vec<String>,
}

/// Is this progress line a new build step (classic `Step 3/9 : …`, BuildKit `#5 [app 2/4] …`,
/// Podman `[2/2] STEP 3/7: …` or `STEP 3/7: …`)?
pub fn is_step_line(line: &str) -> bool {
    if line.starts_with("Step ") || dockerfile::is_podman_step(line) {
        return true;
    }
    line.strip_prefix('#')
        .and_then(|r| r.split_once(' '))
        .is_some_and(|(n, rest)| n.parse::<usize>().is_ok() && rest.starts_with('['))
}

/// Connect to the daemon from `DOCKER_HOST` or the default socket and check it answers.
pub async fn connect(env: &crate::settings::DaemonEnv) -> Result<Docker, BuildError> {
    Ok(crate::daemon::connect(env).await?)
}

impl From<crate::daemon::Unreachable> for BuildError {
    fn from(e: crate::daemon::Unreachable) -> Self {
        BuildError::Daemon {
            at: e.at,
            cause: e.cause,
        }
    }
}

/// The images to build: the selection plus everything it depends on, in file order.
pub fn selection<'a>(
    config: &'a Config,
    names: &[String],
) -> Result<Vec<&'a ImageConfig>, BuildError> {
    if names.is_empty() {
        return Ok(config.images.iter().collect());
    }
    let mut want: Vec<Option<String>> = Vec::new();
    let mut stack: Vec<Option<String>> = Vec::new();
    for n in names {
        let key = crate::naming::name::ImageName::parse(n).into_option();
        if config.image(key.as_deref()).is_none() {
            if config.node(key.as_deref()).is_some() {
                return Err(BuildError::ArtifactNotPublished(n.clone()));
            }
            return Err(unknown_image(config, n, false));
        }
        stack.push(key);
    }
    while let Some(k) = stack.pop() {
        if want.contains(&k) {
            continue;
        }
        if let Some(img) = config.image(k.as_deref()) {
            stack.extend(img.dependencies.iter().map(|d| Some(d.image.clone())));
        }
        want.push(k);
    }
    Ok(config
        .images
        .iter()
        .filter(|i| want.contains(&i.name))
        .collect())
}

/// An unknown name's error: werf.yaml's images (artifacts too, where they may be named)
/// and a did-you-mean.
pub fn unknown_image(config: &Config, name: &str, artifacts: bool) -> BuildError {
    let known: Vec<String> = config
        .nodes()
        .filter(|i| artifacts || !i.is_artifact())
        .map(|i| crate::naming::name::ImageName::from(i.name.as_deref()).to_string())
        .collect();
    let list = if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    };
    BuildError::UnknownImage {
        name: name.to_string(),
        images: list + &crate::suggest::did_you_mean(name, known.iter().map(String::as_str)),
    }
}

/// What `slipway build NAME…` may name: images, and artifacts too (werf 1.1's `build`
/// builds artifacts it is given; they are never published).
pub fn build_roots<'a>(
    config: &'a Config,
    names: &[String],
) -> Result<Vec<&'a ImageConfig>, BuildError> {
    if names.is_empty() {
        // `final: false` images are built as dependencies, or when named.
        return Ok(config.images.iter().filter(|i| i.is_final).collect());
    }
    names
        .iter()
        .map(|n| {
            let key = (n != crate::naming::name::NAMELESS).then_some(n.as_str());
            config
                .node(key)
                .ok_or_else(|| unknown_image(config, n, true))
        })
        .collect()
}

/// What `build` builds for `names`: the selection plus every image and artifact it
/// depends on (artifacts are built, and returned only when named), in file order.
fn build_selection<'a>(
    config: &'a Config,
    names: &[String],
) -> Result<Vec<&'a ImageConfig>, BuildError> {
    let roots = build_roots(config, names)?;
    let mut want: Vec<Option<String>> = Vec::new();
    let mut stack: Vec<Option<String>> = roots.iter().map(|i| i.name.clone()).collect();
    while let Some(k) = stack.pop() {
        if want.contains(&k) {
            continue;
        }
        if let Some(node) = config.node(k.as_deref()) {
            stack.extend(node.dependencies.iter().map(|d| Some(d.image.clone())));
        }
        want.push(k);
    }
    Ok(config.nodes().filter(|i| want.contains(&i.name)).collect())
}

/// Build the selected images. Returns them in werf.yaml order.
pub async fn build(
    docker: &Docker,
    config: &Config,
    signatures: &BTreeMap<Option<String>, String>,
    opts: BuildOptions,
) -> Result<Vec<BuiltImage>, BuildError> {
    let selected = buildable(config, &opts.images)?;
    let daemon = opts.host_env.daemon();
    // Decide the builder and read every secret before anything is built.
    let buildkit: Result<buildkit::BuildKit, buildkit::NoBuildKit> = match opts.settings.buildkit {
        BuildKitMode::Off => Err(buildkit::NoBuildKit::Off),
        mode => match buildkit::probe(docker, &daemon).await {
            Ok(bk) => Ok(bk),
            Err(why) if mode == BuildKitMode::On => {
                return Err(BuildError::BuildKitUnavailable {
                    why: why.to_string(),
                });
            }
            Err(why) => {
                tracing::info!("using the classic builder: {why}");
                Err(why)
            }
        },
    };
    let podman = engine::detect(docker)
        .await
        .map(|e| e.is_podman())
        .unwrap_or(false);
    let backend = schedule::Backend {
        daemon: Arc::new(crate::daemon::docker::DockerDaemon::new(docker.clone())),
        builders: builder::Builders::of_daemon(
            docker,
            buildkit.as_ref().ok(),
            &config.project,
            &opts.keychain,
            &daemon,
        ),
        buildkit,
        podman,
    };
    schedule::build_on(backend, config, selected, signatures, opts).await
}

/// The nodes `build` builds for `names` (see [`build_selection`]); a stapel directive not
/// built yet fails here, before anything is built.
fn buildable(config: &Config, names: &[String]) -> Result<Vec<ImageConfig>, BuildError> {
    let selected: Vec<ImageConfig> = build_selection(config, names)?
        .into_iter()
        .cloned()
        .collect();
    for img in &selected {
        if let Some(u) = img.stapel().and_then(|s| s.unsupported.first()) {
            return Err(BuildError::Failed {
                image: img.display_name().to_string(),
                message: u.clone(),
            });
        }
    }
    Ok(selected)
}
