//! Building werf.yaml images through the Docker Engine API (bollard): dependency order,
//! independent images in parallel, unchanged images (same content signature as a local
//! image) skipped, logs streamed with a per-image prefix. BuildKit (`buildkit`) when the
//! daemon supports it, the classic builder otherwise or on request.

pub mod buildkit;
pub mod dockerfile;
pub mod filesync;
pub mod introspect;
pub mod secrets;
pub mod ssh;
mod stapel_storage;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use bollard::Docker;
use bollard::query_parameters::BuildImageOptionsBuilder;
use futures::StreamExt;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::config::{Config, ImageConfig, ImportType};
use crate::context;
pub use crate::daemon::engine;
pub(crate) use crate::daemon::http as daemon_http;
use crate::daemon::{built_with, tag};
pub use crate::daemon::{find_local, tag as tag_image};
use crate::labels;
pub use crate::naming::local_tag;
use crate::registry::keychain::Keychain;
use crate::signature;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot reach the Docker daemon at {at}: {cause}")]
    Daemon { at: String, cause: String },
    #[error("image {image}: {message}")]
    Failed { image: String, message: String },
    #[error("image {image}: {source}")]
    Context {
        image: String,
        #[source]
        source: context::ContextError,
    },
    #[error("unknown image {0:?} (not in werf.yaml)")]
    UnknownImage(String),
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
pub enum Builder {
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
    pub builder: Builder,
}

/// The registry digest of a just-built dependency, for `ImageDigest` imports: werf passes
/// the manifest digest in the registry, so publishing pushes the dependency first and
/// answers with its digest.
pub type DigestHook = Arc<
    dyn Fn(BuiltImage) -> std::pin::Pin<Box<dyn Future<Output = Result<String, String>> + Send>>
        + Send
        + Sync,
>;

/// Names a dependant can import from a dependency.
#[derive(Debug, Clone, Default)]
pub struct ImageNames {
    /// Full reference to use as the image name (repository:tag), if published names are known.
    pub reference: Option<String>,
}

pub struct BuildOptions {
    /// Images to build (with their dependencies); empty = all.
    pub images: Vec<String>,
    pub parallel: usize,
    pub force: bool,
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
    pub buildkit: BuildKitMode,
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
pub async fn connect() -> Result<Docker, BuildError> {
    crate::daemon::connect()
        .await
        .map_err(|e| BuildError::Daemon {
            at: e.at,
            cause: e.cause,
        })
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
        let key = if n == "~" { None } else { Some(n.clone()) };
        if config.image(key.as_deref()).is_none() {
            if config.node(key.as_deref()).is_some() {
                return Err(BuildError::ArtifactNotPublished(n.clone()));
            }
            return Err(BuildError::UnknownImage(n.clone()));
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

/// What `slipway build NAME…` may name: images, and artifacts too (werf 1.1's `build`
/// builds artifacts it is given; they are never published).
pub fn build_roots<'a>(
    config: &'a Config,
    names: &[String],
) -> Result<Vec<&'a ImageConfig>, BuildError> {
    if names.is_empty() {
        return Ok(config.images.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            let key = if n == "~" { None } else { Some(n.as_str()) };
            config
                .node(key)
                .ok_or_else(|| BuildError::UnknownImage(n.clone()))
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
    let selected: Vec<ImageConfig> = build_selection(config, &opts.images)?
        .into_iter()
        .cloned()
        .collect();
    // A stapel directive not built yet fails here, before anything is built.
    for img in &selected {
        if let Some(u) = img.stapel.as_ref().and_then(|s| s.unsupported.first()) {
            return Err(BuildError::Failed {
                image: img.display_name().to_string(),
                message: u.clone(),
            });
        }
    }
    // Decide the builder and read every secret before anything is built.
    let buildkit: Result<buildkit::BuildKit, String> = match opts.buildkit {
        BuildKitMode::Off => Err("--buildkit=off".into()),
        mode => match buildkit::probe(docker).await {
            Ok(bk) => Ok(bk),
            Err(why) if mode == BuildKitMode::On => {
                return Err(BuildError::BuildKitUnavailable { why });
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
    let mut session_data: BTreeMap<Option<String>, SessionData> = BTreeMap::new();
    let auth_sock = crate::settings::host_env::ssh_auth_sock().map(str::to_string);
    for img in &selected {
        let ssh = img.ssh.as_deref().filter(|s| !s.trim().is_empty());
        let what = match (img.secrets.is_empty(), ssh) {
            (true, None) => continue,
            (false, _) => "secrets",
            (true, Some(_)) => "ssh",
        };
        // Podman's builder takes secrets itself (see `run_podman_with_secrets`).
        let podman_secrets = podman && what == "secrets" && ssh.is_none();
        if let Err(why) = &buildkit
            && !podman_secrets
        {
            return Err(BuildError::NeedsBuildKit {
                image: img.display_name().to_string(),
                what,
                why: why.clone(),
            });
        }
        let name = img.display_name();
        session_data.insert(
            img.name.clone(),
            SessionData {
                secrets: secrets::resolve(img, &config.dir)?,
                ssh: match ssh {
                    Some(spec) => ssh::resolve(name, spec, &config.dir, auth_sock.as_deref())?,
                    None => Default::default(),
                },
                files: None,
            },
        );
    }
    if let (Err(why), Some(img)) = (&buildkit, selected.iter().find(|i| i.stapel.is_some())) {
        return Err(BuildError::StapelNeedsBuildKit {
            image: img.display_name().to_string(),
            why: why.clone(),
        });
    }
    let stapel_env = Arc::new(crate::stapel::Env::new(config));
    let node_signatures = Arc::new(signatures.clone());
    let buildkit = buildkit.ok();
    let mut done: BTreeMap<Option<String>, BuiltImage> = BTreeMap::new();
    let mut digests: BTreeMap<Option<String>, String> = BTreeMap::new();
    let mut running: JoinSet<Result<BuiltImage, BuildError>> = JoinSet::new();
    let mut started: Vec<Option<String>> = Vec::new();
    let parallel = opts.parallel.max(1);
    // `parallel` images build at once (a slot each). With a stages storage a few more nodes
    // may start ahead: they look their stages up and pull them while others build, and
    // take a slot only to build (a fresh runner spends most of its time pulling).
    let slots = Arc::new(tokio::sync::Semaphore::new(parallel));
    let ahead = if opts.stages_storage.is_some() {
        parallel * 2
    } else {
        0
    };
    let opts = Arc::new(opts);
    loop {
        // Start every image whose dependencies are built, up to `parallel` (+ `ahead`).
        for img in &selected {
            if running.len() >= parallel + ahead {
                break;
            }
            if started.contains(&img.name) {
                continue;
            }
            let ready = img
                .dependencies
                .iter()
                .all(|d| done.contains_key(&Some(d.image.clone())));
            if !ready {
                continue;
            }
            started.push(img.name.clone());
            let sig = signatures.get(&img.name).cloned().unwrap_or_default();
            let mut args = img.args.clone();
            let mut imported_digests: Vec<String> = Vec::new();
            for d in &img.dependencies {
                let Some(dep) = done.get(&Some(d.image.clone())) else {
                    continue;
                };
                let names = opts
                    .extra_tags
                    .get(&Some(d.image.clone()))
                    .and_then(|t| t.first())
                    .cloned();
                let reference = names.unwrap_or_else(|| dep.local_tag.clone());
                let (repo, tagv) = reference
                    .rsplit_once(':')
                    .map(|(r, t)| (r.to_string(), t.to_string()))
                    .unwrap_or((reference.clone(), "latest".into()));
                for imp in &d.imports {
                    let value = match imp.kind {
                        ImportType::ImageName => reference.clone(),
                        ImportType::ImageTag => tagv.clone(),
                        ImportType::ImageRepo => repo.clone(),
                        ImportType::ImageID => dep.image_id.clone(),
                        ImportType::ImageDigest => digests
                            .get(&Some(d.image.clone()))
                            .cloned()
                            .unwrap_or_default(),
                    };
                    if imp.kind == ImportType::ImageDigest {
                        imported_digests.push(format!("{}={value}", d.image));
                    }
                    if let Some(a) = &imp.target_build_arg {
                        args.insert(a.clone(), value);
                    }
                }
            }
            let docker = docker.clone();
            let img = img.clone();
            let project = config.project.clone();
            let opts = opts.clone();
            let how = How {
                buildkit: buildkit.clone(),
                session: session_data.get(&img.name).cloned().unwrap_or_default(),
                podman,
                stapel: img.stapel.is_some().then(|| stapel_env.clone()),
                node_signatures: node_signatures.clone(),
                slots: slots.clone(),
                // (A Dockerfile image's build arguments; stapel images take no imports.)
                imported_digests: (img.stapel.is_none() && !imported_digests.is_empty()).then(
                    || {
                        imported_digests.sort();
                        imported_digests.dedup();
                        imported_digests.join(",")
                    },
                ),
            };
            running.spawn(async move {
                build_one(&docker, &project, &img, &sig, args, &opts, how).await
            });
        }
        let Some(next) = running.join_next().await else {
            break;
        };
        let built = match next {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                // Stop the others cleanly: dropping their streams ends the builds.
                running.abort_all();
                while running.join_next().await.is_some() {}
                return Err(e);
            }
            Err(e) => {
                running.abort_all();
                return Err(BuildError::Failed {
                    image: "?".into(),
                    message: e.to_string(),
                });
            }
        };
        // A dependency whose `ImageDigest` an image imports is published now, while the
        // other builds go on, so its dependants get the registry digest.
        let wanted_digest = selected.iter().any(|i| {
            i.dependencies.iter().any(|d| {
                Some(&d.image) == built.name.as_ref()
                    && d.imports.iter().any(|m| m.kind == ImportType::ImageDigest)
            })
        });
        if wanted_digest {
            let dep = built.name.clone().unwrap_or_default();
            match &opts.registry_digest {
                Some(hook) => {
                    let digest = hook(built.clone()).await.map_err(|cause| {
                        running.abort_all();
                        BuildError::DependencyDigest {
                            image: dependants_of(&selected, &dep),
                            dependency: dep.clone(),
                            cause,
                        }
                    })?;
                    digests.insert(built.name.clone(), digest);
                }
                None => {
                    tracing::warn!(
                        "the ImageDigest import of {dep} is empty: an image has a registry digest only when published (build-and-publish), as in werf"
                    );
                }
            }
        }
        done.insert(built.name.clone(), built);
    }
    let named = |i: &ImageConfig| {
        i.name
            .as_ref()
            .is_some_and(|n| opts.images.iter().any(|x| x == n))
    };
    Ok(selected
        .iter()
        .filter(|i| !i.is_artifact() || named(i))
        .filter_map(|i| done.remove(&i.name))
        .collect())
}

/// The images that depend on `dependency`, for messages.
fn dependants_of(selected: &[ImageConfig], dependency: &str) -> String {
    selected
        .iter()
        .filter(|i| i.dependencies.iter().any(|d| d.image == dependency))
        .map(|i| i.display_name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What an image's BuildKit session hands the daemon besides credentials.
#[derive(Debug, Clone, Default)]
pub struct SessionData {
    pub secrets: secrets::SecretValues,
    pub ssh: ssh::Agents,
    /// The context and Dockerfile, when the session hands them to BuildKit itself
    /// instead of a context tar (see `filesync`).
    pub files: Option<filesync::Dirs>,
}

/// How one image is built: BuildKit of this daemon (with its session data) or classic.
struct How {
    buildkit: Option<buildkit::BuildKit>,
    session: SessionData,
    /// Podman's Buildah labels every intermediate image of the last stage with the build's
    /// `--label`s, and tags what it got to even when a step fails: the signature label is
    /// then added only after a successful build, so no half-built image ever looks done.
    podman: bool,
    /// A stapel image or artifact: its Dockerfile and context are generated.
    stapel: Option<Arc<crate::stapel::Env>>,
    /// Every node's content signature (a stapel stage's signature covers its base's and
    /// import sources').
    node_signatures: Arc<BTreeMap<Option<String>, String>>,
    /// Build slots (`--parallel-tasks-limit`): held while a node builds.
    slots: Arc<tokio::sync::Semaphore>,
    /// The registry digests of dependencies this image imports (`ImageDigest`), which its
    /// signature cannot cover (one content can be published under several digests): a
    /// local image is reused only if it was built with these, by its [`labels::IMPORTED_DIGESTS`].
    imported_digests: Option<String>,
}

impl How {
    async fn slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, String> {
        self.slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| format!("build slots: {e}"))
    }
}

async fn build_one(
    docker: &Docker,
    project: &str,
    img: &ImageConfig,
    sig: &str,
    args: BTreeMap<String, String>,
    opts: &BuildOptions,
    how: How,
) -> Result<BuiltImage, BuildError> {
    let builder = if how.buildkit.is_some() {
        Builder::Buildkit
    } else {
        Builder::Classic
    };
    let name = img.display_name().to_string();
    let emit = |e: Event| (opts.on_event)(&e);
    let local = crate::stapel::node_tag(project, img);
    let fail = |message: String| BuildError::Failed {
        image: name.clone(),
        message,
    };
    let start = Instant::now();
    let extra = opts.extra_tags.get(&img.name).cloned().unwrap_or_default();
    // With a stages storage, a local image is not enough when the storage lacks its
    // stages (say, the first build after the storage was set up): the node goes through
    // the storage path, quick on BuildKit's cache, and its stages are stored for others.
    let storage_lacks_stages = match (&how.stapel, &opts.stages_storage) {
        (Some(env), Some(storage)) if !opts.force && !sig.is_empty() => {
            stapel_storage::lacks_last_stage(env, img, &how.node_signatures, storage)
                .await
                .map_err(fail)?
        }
        _ => false,
    };
    if !opts.force
        && !sig.is_empty()
        && !storage_lacks_stages
        && let Some(id) = find_local(docker, sig, Some(&local)).await
        && built_with(docker, &id, how.imported_digests.as_deref()).await
    {
        for t in std::iter::once(&local).chain(&extra) {
            tag(docker, &id, t)
                .await
                .map_err(|e| fail(format!("tagging {t}: {e}")))?;
        }
        emit(Event::Skipped {
            image: name.clone(),
            image_id: id.clone(),
        });
        return Ok(BuiltImage {
            name: img.name.clone(),
            image_id: id,
            signature: sig.to_string(),
            skipped: true,
            seconds: 0.0,
            local_tag: local,
            builder,
        });
    }
    if let (Some(env), Some(storage)) = (&how.stapel, &opts.stages_storage) {
        emit(Event::Start {
            image: name.clone(),
        });
        return stapel_storage::build(
            docker,
            stapel_storage::Node {
                project,
                img,
                sig,
                local: &local,
                extra: &extra,
                start,
            },
            opts,
            &how,
            env,
            storage,
        )
        .await;
    }
    let _slot = how.slot().await.map_err(fail)?;
    emit(Event::Start {
        image: name.clone(),
    });
    // Stapel stage reuse: the record on the last local image of this node (`--force`
    // builds from HEAD from scratch, as a fresh runner would).
    let stages = match &how.stapel {
        Some(env) => {
            let previous = if opts.force {
                None
            } else {
                docker
                    .inspect_image(&local)
                    .await
                    .ok()
                    .and_then(|i| i.config)
                    .and_then(|c| c.labels)
                    .and_then(|l| l.get(labels::STAGES).cloned())
            };
            let o =
                crate::stapel::stages::prepare(env, img, &how.node_signatures, previous.as_deref())
                    .map_err(fail)?;
            emit(Event::Log {
                image: name.clone(),
                line: o.summary(),
            });
            emit(Event::Stages {
                image: name.clone(),
                reused: o.reused.clone(),
                from: "local",
                storage: None,
                built: o.built.clone(),
            });
            Some(o)
        }
        None => None,
    };
    let mut session_files: Option<filesync::Dirs> = None;
    let (rx, writer, dockerfile_name, dockerfile_text, podman_secrets, generated) = if let Some(
        env,
    ) =
        &how.stapel
    {
        let base_user = stapel_base_user(docker, env, img).await.map_err(fail)?;
        let plan = stages.as_ref().map(|o| o.plan.clone()).unwrap_or_default();
        let g =
            crate::stapel::generate_planned(env, img, base_user.as_deref(), &plan).map_err(fail)?;
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let data = g.context.clone();
        let writer = tokio::task::spawn_blocking(move || {
            for chunk in data.chunks(256 * 1024) {
                if tx
                    .blocking_send(bytes::Bytes::copy_from_slice(chunk))
                    .is_err()
                {
                    break;
                }
            }
            Ok(())
        });
        (
            rx,
            writer,
            crate::stapel::DOCKERFILE.to_string(),
            g.dockerfile.clone(),
            Vec::new(),
            Some(g),
        )
    } else {
        let entries = context::walk(&img.context_dir, &img.context_add_files, &opts.outputs)
            .map_err(|source| BuildError::Context {
                image: name.clone(),
                source,
            })?;
        // A Dockerfile outside the context goes in under a generated name.
        let (dockerfile_name, extra_files) = match img
            .dockerfile_path
            .strip_prefix(&img.context_dir)
        {
            Ok(rel) => {
                let rel = rel.to_string_lossy().replace('\\', "/");
                let files = context::builder_files(
                    &img.context_dir,
                    &entries,
                    &rel,
                    how.buildkit.is_none(),
                )
                .map_err(|source| BuildError::Context {
                    image: name.clone(),
                    source,
                })?;
                if how.buildkit.is_some()
                    && files.iter().any(|(f, _)| *f == rel)
                    && std::fs::read_to_string(&img.dockerfile_path).is_ok_and(|text| {
                        signature::copies_path(&text, img.target.as_deref(), &args, &rel)
                    })
                {
                    // BuildKit reads the Dockerfile from a context tar, so a COPY reaching
                    // it would copy it: hand BuildKit the context and the Dockerfile as
                    // two folders over the session, as docker does.
                    let base = rel.rsplit('/').next().unwrap_or(&rel).to_string();
                    tracing::debug!(image = %name, "the Dockerfile is excluded and a COPY reaches it: context and Dockerfile go over the session");
                    session_files =
                        Some(filesync::Dirs::new(&entries, &img.dockerfile_path, &base));
                    (base, Vec::new())
                } else {
                    (rel, files)
                }
            }
            Err(_) => {
                let data = std::fs::read(&img.dockerfile_path)
                    .map_err(|e| fail(format!("{}: {e}", img.dockerfile_path.display())))?;
                (
                    ".slipway.Dockerfile".to_string(),
                    vec![(".slipway.Dockerfile".to_string(), data)],
                )
            }
        };
        let dockerfile_text = std::fs::read_to_string(&img.dockerfile_path).unwrap_or_default();
        let mut extra_files = extra_files;
        let mut podman_secrets: Vec<(String, String)> = Vec::new();
        if how.buildkit.is_none() && how.podman {
            // Podman moves these files out of the context before building (never in the image).
            let salt = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            for (k, (id, value)) in how.session.secrets.iter().enumerate() {
                let file = format!(".slipway-secret-{salt}-{k}");
                extra_files.push((file.clone(), value.to_vec()));
                podman_secrets.push((id.to_string(), file));
            }
        }
        let (rx, writer) = if session_files.is_some() {
            // The context goes over the session: the body is empty.
            let (_, rx) = tokio::sync::mpsc::channel(1);
            let writer = tokio::task::spawn_blocking(|| Ok::<(), context::ContextError>(()));
            (rx, writer)
        } else {
            context::stream_tar(entries, extra_files)
        };
        (
            rx,
            writer,
            dockerfile_name,
            dockerfile_text,
            podman_secrets,
            None,
        )
    };
    let body = tokio_stream_of(rx);

    let labels = image_labels(
        project,
        img,
        sig,
        opts,
        stages.as_ref().map(|o| &o.record[..]),
    );
    let mut labels = labels;
    if let Some(d) = &how.imported_digests {
        labels.insert(labels::IMPORTED_DIGESTS.into(), d.clone());
    }
    let args_for_from = args.clone();
    let mut buildargs: HashMap<String, String> = args.into_iter().collect();
    let cache_from = opts.cache_from.get(&img.name).cloned().unwrap_or_default();
    if how.buildkit.is_some() {
        // BuildKit's inline cache: cache metadata in the image config (a few hundred bytes),
        // read back by a later build's `--cache-from`.
        buildargs
            .entry("BUILDKIT_INLINE_CACHE".into())
            .or_insert_with(|| "1".into());
    } else if !cache_from.is_empty() {
        tracing::info!(image = %name, "--cache-from needs BuildKit; the classic builder ignores it");
    }
    let mut build_labels = labels.clone();
    if how.podman {
        build_labels.remove(labels::SIGNATURE);
    }
    let mut b = BuildImageOptionsBuilder::default()
        .dockerfile(&dockerfile_name)
        .t(&local)
        .rm(true)
        .forcerm(true)
        .buildargs(&buildargs)
        .labels(&build_labels);
    if let Some(t) = &img.target {
        b = b.target(t);
    }
    if !img.add_host.is_empty() {
        b = b.extrahosts(&img.add_host.join(","));
    }
    if let Some(n) = &img.network {
        b = b.networkmode(n);
    }
    if let Some(p) = img.platform.first() {
        if img.platform.len() > 1 {
            // The daemon's image store holds one platform per tag: say what is built.
            tracing::warn!(image = %name, "`platform:` lists {} platforms; building {p} only", img.platform.len());
        }
        b = b.platform(p);
    }
    if how.buildkit.is_some() && !cache_from.is_empty() {
        b = b.cachefrom(&cache_from);
    }
    let mut last_lines: Vec<String> = Vec::new();
    let mut log = |line: &str| {
        last_lines.push(line.to_string());
        if last_lines.len() > 10 {
            last_lines.remove(0);
        }
        emit(Event::Log {
            image: name.clone(),
            line: line.to_string(),
        });
    };
    let ran = match &how.buildkit {
        Some(bk) => {
            let mut data = how.session;
            if session_files.is_some() {
                data.files = session_files.take();
                // As docker's CLI does: BuildKit reads the context from the session.
                b = b.remote("client-session");
            }
            let session =
                buildkit::Session::start(&bk.endpoint, project, data, opts.keychain.clone())
                    .await
                    .map_err(|e| fail(format!("BuildKit session: {e}")))?;
            run_buildkit(bk, &session, b.build(), body, &dockerfile_text, &mut log).await
        }
        None => {
            let creds = base_image_credentials(&dockerfile_text, &args_for_from, &opts.keychain)
                .await
                .map_err(fail)?;
            if podman_secrets.is_empty() {
                run_classic(docker, b.build(), creds, body, &dockerfile_text, &mut log).await
            } else {
                run_podman_with_secrets(
                    b.build(),
                    creds,
                    &podman_secrets,
                    body,
                    &dockerfile_text,
                    &mut log,
                )
                .await
            }
        }
    };
    let image_id = match ran.map_err(fail)? {
        Ok(id) => id,
        Err(f) => {
            return Err(fail(failure_message(
                img,
                generated.as_ref(),
                f,
                &last_lines,
                how.buildkit.is_some(),
                &dockerfile_text,
            )));
        }
    };
    match writer.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            return Err(BuildError::Context {
                image: name.clone(),
                source: e,
            });
        }
        Err(e) => return Err(fail(e.to_string())),
    }
    let id = match image_id {
        Some(i) => i,
        None => docker
            .inspect_image(&local)
            .await
            .ok()
            .and_then(|i| i.id)
            .ok_or_else(|| fail("the daemon reported no image".into()))?,
    };
    let id = if id.starts_with("sha256:") {
        id
    } else {
        docker
            .inspect_image(&id)
            .await
            .ok()
            .and_then(|i| i.id)
            .unwrap_or(id)
    };
    let id = ensure_labels(docker, &id, &labels, &local, &mut log)
        .await
        .map_err(fail)?;
    for t in &extra {
        tag(docker, &id, t)
            .await
            .map_err(|e| fail(format!("tagging {t}: {e}")))?;
    }
    let seconds = start.elapsed().as_secs_f64();
    emit(Event::Done {
        image: name.clone(),
        image_id: id.clone(),
        seconds,
    });
    Ok(BuiltImage {
        name: img.name.clone(),
        image_id: id,
        signature: sig.to_string(),
        skipped: false,
        seconds,
        local_tag: local,
        builder,
    })
}

/// A failed step put back on werf.yaml (stapel) or the Dockerfile, with a hint and the
/// last log lines.
fn failure_message(
    img: &ImageConfig,
    generated: Option<&crate::stapel::Generated>,
    f: StepFailure,
    last_lines: &[String],
    buildkit: bool,
    dockerfile_text: &str,
) -> String {
    let stapel_at = generated.and_then(|g| crate::stapel::locate_failure(g, f.line, last_lines));
    let at = match stapel_at {
        Some(at) => format!("{at}: "),
        None => f
            .line
            .or_else(|| dockerfile::parse_error_line(&f.message))
            .map(|l| format!("{}:{l}: ", dockerfile_label(img)))
            .unwrap_or_default(),
    };
    let step = if f.step.is_empty() {
        String::new()
    } else {
        format!("{}: ", f.step)
    };
    let hint = dockerfile::hint(&f.message, buildkit, dockerfile_text)
        .map(|h| format!("\nhint: {h}"))
        .unwrap_or_default();
    format!(
        "{at}{step}{}{hint}\nlast log lines:\n  {}",
        f.message,
        last_lines.join("\n  ")
    )
}

/// The labels of a built image: werf.yaml's, Slipway's (project, image, content
/// signature, the stapel stage record), the run's (git commit, branch, tag).
fn image_labels(
    project: &str,
    img: &ImageConfig,
    sig: &str,
    opts: &BuildOptions,
    record: Option<&[crate::stapel::stages::StageRecord]>,
) -> HashMap<String, String> {
    let mut labels: HashMap<String, String> = img.labels.clone().into_iter().collect();
    labels.insert(labels::PROJECT.into(), project.to_string());
    labels.insert(labels::IMAGE.into(), img.display_name().to_string());
    labels.insert(labels::SIGNATURE.into(), sig.to_string());
    if let Some(r) = record {
        labels.insert(
            labels::STAGES.into(),
            serde_json::to_string(r).unwrap_or_default(),
        );
    }
    for (k, v) in &opts.extra_labels {
        labels.insert(k.clone(), v.clone());
    }
    if let Some(c) = &opts.git_commit {
        labels.insert(labels::GIT_COMMIT.into(), c.clone());
    }
    labels
}

/// Where a failed Dockerfile line is: the Dockerfile, or a stapel image's generated one.
fn dockerfile_label(img: &ImageConfig) -> &str {
    if img.stapel.is_some() {
        crate::stapel::DOCKERFILE
    } else {
        &img.dockerfile
    }
}

/// The local name of a stapel node's base: `from:`, or the tag of its `fromImage` /
/// `fromArtifact` node.
fn stapel_base_reference(
    env: &crate::stapel::Env,
    img: &ImageConfig,
) -> Result<Option<String>, String> {
    use crate::config::stapel::Base;
    let Some(st) = &img.stapel else {
        return Ok(None);
    };
    Ok(Some(match &st.base {
        Base::From(b) => b.clone(),
        Base::Image(n) | Base::Artifact(n) => env
            .tags
            .get(n)
            .cloned()
            .ok_or_else(|| format!("unknown image or artifact {n:?}"))?,
    }))
}

/// The USER of a stapel node's base image (steps run as root; it is restored at the
/// end): a `fromImage` source is in the daemon already, a `from:` image is pulled when
/// the daemon does not have it.
async fn stapel_base_user(
    docker: &Docker,
    env: &crate::stapel::Env,
    img: &ImageConfig,
) -> Result<Option<String>, String> {
    let Some(reference) = stapel_base_reference(env, img)? else {
        return Ok(None);
    };
    let inspected = match docker.inspect_image(&reference).await {
        Ok(i) => i,
        Err(_) => {
            let (repo, tag) = match reference.rsplit_once(':') {
                Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
                _ => (reference.clone(), "latest".to_string()),
            };
            let opts = bollard::query_parameters::CreateImageOptionsBuilder::default()
                .from_image(&repo)
                .tag(&tag)
                .build();
            let mut pull = docker.create_image(Some(opts), None, None);
            while let Some(item) = pull.next().await {
                item.map_err(|e| {
                    format!("base image {reference} is not in the daemon and cannot be pulled: {e}")
                })?;
            }
            docker
                .inspect_image(&reference)
                .await
                .map_err(|e| format!("base image {reference}: {e}"))?
        }
    };
    Ok(inspected
        .config
        .and_then(|c| c.user)
        .filter(|u| !u.is_empty()))
}

/// Credentials for the registries of the Dockerfile's `FROM` images (after `ARG`
/// expansion), as the classic builder takes them (`X-Registry-Config`): BuildKit asks
/// Slipway's session instead. Hosts without credentials are left out (anonymous pulls).
async fn base_image_credentials(
    dockerfile_text: &str,
    args: &BTreeMap<String, String>,
    keychain: &Keychain,
) -> Result<Option<HashMap<String, bollard::auth::DockerCredentials>>, String> {
    let df = crate::dockerfile::parse(dockerfile_text);
    let meta: BTreeMap<String, String> = df.meta_args(args).into_iter().collect();
    let mut hosts: Vec<String> = Vec::new();
    for (k, stage) in df.stages.iter().enumerate() {
        let base = crate::dockerfile::expand(&stage.base, &meta);
        if base == "scratch" || df.stage_ref(&base, k).is_some() {
            continue;
        }
        if let Ok(r) = crate::registry::Reference::parse(&base)
            && !hosts.contains(&r.repository.host)
        {
            hosts.push(r.repository.host);
        }
    }
    let mut out = HashMap::new();
    for host in hosts {
        let kc = keychain.clone();
        let h = host.clone();
        let found = tokio::task::spawn_blocking(move || kc.lookup(&h))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let Some(found) = found else { continue };
        let server = if host == "docker.io" {
            "https://index.docker.io/v1/".to_string()
        } else {
            host.clone()
        };
        let creds = match found.credential {
            crate::registry::keychain::Credential::Basic { username, password } => {
                bollard::auth::DockerCredentials {
                    username: Some(username),
                    password: Some(password),
                    serveraddress: Some(server.clone()),
                    ..Default::default()
                }
            }
            crate::registry::keychain::Credential::IdentityToken(t) => {
                bollard::auth::DockerCredentials {
                    identitytoken: Some(t),
                    serveraddress: Some(server.clone()),
                    ..Default::default()
                }
            }
        };
        out.insert(server, creds);
    }
    Ok((!out.is_empty()).then_some(out))
}

/// Check that the built image carries every label asked for; when it does not, add them
/// with a one-line `FROM <id>` + `LABEL` build. Buildah (Podman) drops `--label`s when every
/// step of a stage that is not the Dockerfile's last is cached, and without its
/// `slipway.signature` label an image would be rebuilt and republished on every run. The
/// repair works on any builder. Returns the ID of the image that has the labels.
async fn ensure_labels(
    docker: &Docker,
    id: &str,
    labels: &HashMap<String, String>,
    local: &str,
    log: &mut impl FnMut(&str),
) -> Result<String, String> {
    let have = docker
        .inspect_image(id)
        .await
        .map_err(|e| format!("inspecting the built image {id}: {e}"))?
        .config
        .and_then(|c| c.labels)
        .unwrap_or_default();
    let mut missing: Vec<(&String, &String)> = labels
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .collect();
    if missing.is_empty() {
        return Ok(id.to_string());
    }
    missing.sort();
    log(&format!(
        "adding {} label(s) the builder did not apply",
        missing.len()
    ));
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"));
    let mut dockerfile = format!("FROM {}\nLABEL", id.trim_start_matches("sha256:"));
    for (k, v) in &missing {
        dockerfile.push_str(&format!(" {}={}", quote(k), quote(v)));
    }
    dockerfile.push('\n');
    let tar = context::write_tar(
        Vec::new(),
        &[],
        &[("Dockerfile".to_string(), dockerfile.clone().into_bytes())],
    )
    .map_err(|e| format!("label repair: {e}"))?;
    let options = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(local)
        .rm(true)
        .forcerm(true)
        .build();
    let body = futures::stream::once(async move { bytes::Bytes::from(tar) });
    let fixed = match run_classic(docker, options, None, body, &dockerfile, log).await? {
        Ok(Some(new_id)) => new_id,
        Ok(None) => docker
            .inspect_image(local)
            .await
            .ok()
            .and_then(|i| i.id)
            .ok_or("label repair: the daemon reported no image")?,
        Err(f) => return Err(format!("label repair: {}", f.message)),
    };
    let fixed_id = docker
        .inspect_image(&fixed)
        .await
        .ok()
        .and_then(|i| i.id)
        .unwrap_or(fixed);
    Ok(fixed_id)
}

/// A failed build step: its Dockerfile line when known, the instruction, the builder's message.
struct StepFailure {
    line: Option<usize>,
    step: String,
    message: String,
}

/// What running one builder gives: the image ID (if the daemon said it) or the failed step;
/// `Err` when the build could not run at all.
type Ran = Result<Result<Option<String>, StepFailure>, String>;

/// BuildKit through Slipway's session; `log` gets every progress line.
async fn run_buildkit(
    bk: &buildkit::BuildKit,
    session: &buildkit::Session,
    options: bollard::query_parameters::BuildImageOptions,
    body: impl futures::Stream<Item = bytes::Bytes> + Send + 'static,
    dockerfile_text: &str,
    log: &mut impl FnMut(&str),
) -> Ran {
    let mut image_id = None;
    let mut failure = None;
    buildkit::build(bk, session, options, body, |p| match p {
        buildkit::Progress::Line(l) => log(&l),
        buildkit::Progress::ImageId(id) => image_id = Some(id),
        buildkit::Progress::Failed { message, vertex } => {
            failure.get_or_insert((message, vertex));
        }
    })
    .await
    .map_err(|e| format!("build failed: {e}"))?;
    Ok(match failure {
        None => Ok(image_id),
        Some((message, vertex)) => {
            let vertex = vertex.unwrap_or_default();
            Err(StepFailure {
                line: dockerfile::locate_vertex(dockerfile_text, &vertex),
                step: vertex
                    .split_once("] ")
                    .map(|x| x.1)
                    .unwrap_or(&vertex)
                    .to_string(),
                message,
            })
        }
    })
}

/// The classic builder through bollard; `log` gets every output line.
async fn run_classic(
    docker: &Docker,
    options: bollard::query_parameters::BuildImageOptions,
    credentials: Option<HashMap<String, bollard::auth::DockerCredentials>>,
    body: impl futures::Stream<Item = bytes::Bytes> + Send + 'static,
    dockerfile_text: &str,
    log: &mut impl FnMut(&str),
) -> Ran {
    let mut stream = docker.build_image(options, credentials, Some(bollard::body_stream(body)));
    let mut progress = ClassicProgress::default();
    while let Some(item) = stream.next().await {
        let info = match item {
            Ok(i) => i,
            // bollard reports a failed step as a stream error: locate it like error_detail.
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                bollard::models::BuildInfo {
                    error_detail: Some(bollard::models::ErrorDetail {
                        code: None,
                        message: Some(error),
                    }),
                    ..Default::default()
                }
            }
            Err(e) => return Err(format!("build failed: {e}")),
        };
        if let Some(failed) = progress.feed(info, dockerfile_text, log) {
            return Ok(Err(failed));
        }
    }
    Ok(Ok(progress.image_id))
}

/// Reads the classic builder's JSON messages (Docker's and Podman's): steps, output, the
/// image ID, a failed step put back on its Dockerfile line.
#[derive(Default)]
struct ClassicProgress {
    current_step: String,
    image_id: Option<String>,
}

impl ClassicProgress {
    fn feed(
        &mut self,
        info: bollard::models::BuildInfo,
        dockerfile_text: &str,
        log: &mut impl FnMut(&str),
    ) -> Option<StepFailure> {
        if let Some(s) = &info.stream {
            for line in s.lines().filter(|l| !l.trim().is_empty()) {
                if line.starts_with("Step ") || dockerfile::is_podman_step(line) {
                    self.current_step = line.to_string();
                }
                if let Some(id) = line.strip_prefix("Successfully built ") {
                    self.image_id = Some(id.trim().to_string());
                }
                log(line);
            }
        }
        if let Some(aux) = &info.aux
            && let Some(id) = &aux.id
        {
            self.image_id = Some(id.clone());
        }
        let err = info.error_detail?;
        let step = &self.current_step;
        let (line, text) = if dockerfile::is_podman_step(step) {
            (
                dockerfile::locate_podman_step(dockerfile_text, step),
                step.split_once(": ").map(|x| x.1),
            )
        } else {
            (
                dockerfile::locate_step(dockerfile_text, step),
                step.split_once(" : ").map(|x| x.1),
            )
        };
        Some(StepFailure {
            line,
            step: text.unwrap_or(step).to_string(),
            message: err.message.unwrap_or_else(|| "the build failed".into()),
        })
    }
}

/// werf `secrets:` on Podman: its Docker-compatible `/build` takes a `secrets` parameter
/// (as podman-remote sends it): each secret travels as a file in the context, which Podman
/// moves out of the context before the build starts, and `RUN --mount=type=secret` reads
/// it. bollard has no such parameter, so this one request is made here.
async fn run_podman_with_secrets(
    options: bollard::query_parameters::BuildImageOptions,
    credentials: Option<HashMap<String, bollard::auth::DockerCredentials>>,
    secrets: &[(String, String)],
    body: impl futures::Stream<Item = bytes::Bytes> + Send + 'static,
    dockerfile_text: &str,
    log: &mut impl FnMut(&str),
) -> Ran {
    use base64::Engine;
    use http_body_util::BodyExt;
    let ep = daemon_http::endpoint_from_env()?;
    let specs: Vec<String> = secrets
        .iter()
        .map(|(id, file)| format!("id={id},src={file}"))
        .collect();
    let specs = serde_json::to_string(&specs).map_err(|e| e.to_string())?;
    let query = serde_urlencoded::to_string(&options).map_err(|e| e.to_string())?
        + "&"
        + &serde_urlencoded::to_string([("secrets", specs)]).map_err(|e| e.to_string())?;
    let frames = http_body_util::StreamBody::new(
        body.map(|b| Ok::<_, std::io::Error>(hyper::body::Frame::data(b))),
    );
    let mut req = http::Request::post(format!("/build?{query}"))
        .header(http::header::HOST, "docker")
        .header(http::header::CONTENT_TYPE, "application/x-tar");
    if let Some(c) = &credentials {
        let json = serde_json::to_vec(c).map_err(|e| e.to_string())?;
        req = req.header(
            "X-Registry-Config",
            base64::engine::general_purpose::URL_SAFE.encode(json),
        );
    }
    let req = req
        .body(BodyExt::boxed_unsync(frames))
        .map_err(|e| e.to_string())?;
    let resp = daemon_http::send(&ep, "/build", req)
        .await
        .map_err(|e| format!("build failed: {e}"))?;
    let mut body = resp.into_body();
    let mut progress = ClassicProgress::default();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("build failed: {e}"))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        while let Some(n) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=n).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<bollard::models::BuildInfo>(&line) {
                Ok(mut info) => {
                    // A message with only `error` (no `errorDetail`) is a failure too.
                    if info.error_detail.is_none()
                        && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line)
                        && let Some(e) = v["error"].as_str()
                    {
                        info.error_detail = Some(bollard::models::ErrorDetail {
                            code: None,
                            message: Some(e.to_string()),
                        });
                    }
                    if let Some(failed) = progress.feed(info, dockerfile_text, log) {
                        return Ok(Err(failed));
                    }
                }
                Err(e) => tracing::debug!("unreadable /build message: {e}"),
            }
        }
    }
    Ok(Ok(progress.image_id))
}

fn tokio_stream_of(
    mut rx: tokio::sync::mpsc::Receiver<bytes::Bytes>,
) -> impl futures::Stream<Item = bytes::Bytes> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    #[test]
    fn step_lines_of_both_builders() {
        assert!(super::is_step_line("Step 3/9 : RUN make"));
        assert!(super::is_step_line("#5 [app 2/4] RUN make"));
        assert!(!super::is_step_line("#5 compiling [x]"));
        assert!(!super::is_step_line("#5 DONE 0.3s"));
        assert!(!super::is_step_line("# [a] comment"));
    }
}
