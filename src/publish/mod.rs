//! Publish: plan what the registry lacks, build it, push it through the one push path,
//! report digests.

pub mod plan;
pub mod report;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use crate::build::{self, BuildOptions, Event};
use crate::config::{self, ConfigErrors};
use crate::naming::{self, Naming, NamingError, TagOptions};
use crate::registry::UploadMode;
use crate::registry::{Client, RegistryError, Repository, image};
use crate::settings::Settings;
use crate::signature::{self, SignatureError};
use crate::transfer::from_daemon::{self, FromDaemonError};
use crate::transfer::push::{self, PushError, PushOptions, PushTarget};
use crate::transfer::source::{self, daemon::DaemonSource};
use plan::{Action, Plan, RemoteLookup, RemoteTag, Wanted};
use report::{BuildOutcome, ImageReport, PushOutcome, Report, ReportError};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    #[error(transparent)]
    Naming(#[from] NamingError),
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Build(#[from] build::BuildError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Push(#[from] PushError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    StagesStorage(#[from] crate::stapel::storage::StorageError),
    #[error(transparent)]
    Stapel(#[from] crate::stapel::StapelError),
    #[error("writing commit records (what cleanup keeps images by): {0}")]
    Records(crate::records::RecordsError),
    #[error("{cause}{from}; checked before building: nothing was built or pushed")]
    Unusable {
        cause: RegistryError,
        /// ` (the registry of --images-repo REPO)` when the host came from it.
        from: String,
    },
    #[error("--images-repo is required to publish (or SLIPWAY_IMAGES_REPO / WERF_IMAGES_REPO)")]
    NoRepo,
    #[error(
        "image {0} is not built locally with its current content; run `slipway build` first, or use `slipway build-and-publish`"
    )]
    NotBuilt(String),
    #[error("exporting image {image} from the daemon: {cause}")]
    Export { image: String, cause: String },
    #[error("pushing image {image} with the daemon (--push-with-daemon): {cause}")]
    DaemonPush { image: String, cause: String },
    #[error("reading the exported image {image}: {cause}")]
    Archive { image: String, cause: String },
}

impl From<FromDaemonError> for PublishError {
    /// The same variants as before the push moved to `transfer`: the race convergence in
    /// [`Pusher::push`] matches on `PublishError::Push`.
    fn from(e: FromDaemonError) -> Self {
        match e {
            FromDaemonError::Push(e) => PublishError::Push(e),
            FromDaemonError::Export { image, cause } => PublishError::Export { image, cause },
            FromDaemonError::Archive { image, cause } => PublishError::Archive { image, cause },
        }
    }
}

/// Everything `publish` / `build-and-publish` takes besides settings.
pub struct PublishOptions {
    pub build: bool,
    pub images: Vec<String>,
    pub tags: TagOptions,
    pub dry_run: bool,
    pub report_path: Option<PathBuf>,
    pub digest_file: Option<PathBuf>,
    /// Append to the digest file instead of replacing it.
    pub digest_file_append: bool,
    pub parallel: usize,
    pub force: bool,
    pub upload_mode: UploadMode,
    /// Push through the daemon (`docker push`) instead of Slipway's client: a fallback
    /// for registries the client cannot serve.
    pub push_with_daemon: bool,
    /// How layers are compressed.
    pub layer_compression: crate::registry::compress::Codec,
    pub buildkit: crate::build::BuildKitMode,
    /// Tags in each image's repository whose inline cache BuildKit may reuse.
    pub cache_from: Vec<String>,
    pub on_event: Arc<dyn Fn(&Event) + Send + Sync>,
    /// Layer-by-layer progress of each push.
    pub on_push: Option<push::OnProgress>,
}

/// What a run did: the plan only (dry run) or the report.
pub enum Outcome {
    Planned(Plan),
    Published(Report),
}

/// Reads tags through the registry client: digest by HEAD, signature from the config label.
pub struct ClientLookup<'a> {
    pub client: &'a Client,
    pub repos: BTreeMap<String, Repository>,
}

impl RemoteLookup for ClientLookup<'_> {
    type Error = RegistryError;
    async fn lookup(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<RemoteTag>, RegistryError> {
        let Some(repo) = self.repos.get(repository) else {
            return Ok(None);
        };
        let Some((info, config)) = self.client.image_config(repo, tag).await? else {
            return Ok(None);
        };
        let signature = config
            .as_ref()
            .and_then(|c| image::label(c, signature::LABEL))
            .map(str::to_string);
        Ok(Some(RemoteTag {
            digest: info.digest,
            signature,
        }))
    }
}

/// Plan, then (unless dry run) build what must be built, push, retag and report.
pub async fn publish(
    settings: &Settings,
    client: &Client,
    opts: PublishOptions,
) -> Result<Outcome, PublishError> {
    let mut cfg = config::load(settings)?;
    let naming = Naming::new(settings)?.ok_or(PublishError::NoRepo)?;
    let specs = naming::tags(&opts.tags, &cfg.dir)?;
    if specs.is_empty() {
        return Err(naming::no_tags_error().into());
    }
    let stages_storage = crate::stapel::storage::StagesStorage::from_setting(
        client,
        settings.stages_storage.as_deref(),
    )?;
    // Each target registry answers and takes the credentials before anything is built: a
    // typo'd host or a closed port costs seconds, not a build.
    let mut hosts = std::collections::BTreeSet::new();
    for image in build::selection(&cfg, &opts.images)? {
        hosts.insert(naming.repository(image.name.as_deref())?.host.clone());
    }
    for host in &hosts {
        usable(client, host, settings.images_repo.as_deref()).await?;
    }
    if crate::stapel::uses_from_latest(&cfg) {
        let docker = build::connect().await?;
        crate::stapel::resolve_from_latest(&mut cfg, client, Some(&docker)).await?;
    }
    let selected: Vec<Option<String>> = build::selection(&cfg, &opts.images)?
        .iter()
        .map(|i| i.name.clone())
        .collect();
    // Reports written into the project must not change what they report on.
    let this_run: Vec<&std::path::Path> = opts
        .report_path
        .iter()
        .chain(&opts.digest_file)
        .map(PathBuf::as_path)
        .collect();
    let outputs = signature::outputs(&cfg.dir, &this_run);
    let sigs = signature::compute(
        &cfg,
        signature::HashCache::default_path(&cfg.dir).as_deref(),
        &outputs,
    )?;

    let mut wanted = Vec::new();
    let mut repos = BTreeMap::new();
    for name in &selected {
        let sig = sigs.get(name).cloned().unwrap_or_default();
        let repository = naming.repository(name.as_deref())?;
        let tags = naming::image_tags(&specs, &sig)
            .iter()
            .map(|t| naming.repo_tag(name.as_deref(), t))
            .collect::<Result<Vec<_>, _>>()?;
        let content_tag = naming.repo_tag(name.as_deref(), &sig)?;
        let probe = if tags.contains(&content_tag) {
            Vec::new()
        } else {
            vec![content_tag]
        };
        repos.insert(repository.to_string(), repository.clone());
        wanted.push(Wanted {
            name: name.clone(),
            repository: repository.to_string(),
            tags,
            signature: sig,
            probe,
        });
    }
    let lookup = ClientLookup {
        client,
        repos: repos.clone(),
    };
    let mut plan = Plan::compute(wanted, &lookup, 8).await?;
    if opts.dry_run {
        blob_plans(
            &cfg.project,
            client,
            &repos,
            opts.layer_compression,
            &mut plan,
        )
        .await?;
        return Ok(Outcome::Planned(plan));
    }

    // Dockerfile images another runner published are in the stages storage under their
    // signature (werf keeps Dockerfile images there too): copied from it, not rebuilt.
    let dockerfile_images: std::collections::BTreeSet<Option<String>> = cfg
        .images
        .iter()
        .filter(|i| i.stapel.is_none())
        .map(|i| i.name.clone())
        .collect();
    let mut from_storage: BTreeMap<Option<String>, String> = BTreeMap::new();
    let mut stored_sigs = std::collections::BTreeSet::new();
    if let Some(storage) = &stages_storage {
        let stored = storage.stages_at_start().await?;
        for p in plan
            .images
            .iter()
            .filter(|p| p.needs_push() && dockerfile_images.contains(&p.wanted.name))
        {
            let (Some(t), Some(repo)) = (
                stored.get(&p.wanted.signature).and_then(|v| v.first()),
                repos.get(&p.wanted.repository),
            ) else {
                continue;
            };
            match storage.copy_out(&t.tag, repo, &p.wanted.tags).await {
                Ok(digest) => {
                    tracing::info!(image = p.label(), from = %t.tag, "copied from the stages storage, not rebuilt");
                    from_storage.insert(p.wanted.name.clone(), digest);
                }
                Err(e) => tracing::warn!(image = p.label(), "{e}; building it instead"),
            }
        }
        stored_sigs.extend(stored.into_keys());
    }
    let needs_build =
        |p: &plan::ImagePlan| p.needs_push() && !from_storage.contains_key(&p.wanted.name);
    let to_push: Vec<String> = plan
        .images
        .iter()
        .filter(|p| needs_build(p))
        .map(|p| p.wanted.name.clone().unwrap_or_else(|| "~".into()))
        .collect();
    let mut local: BTreeMap<Option<String>, (String, bool)> = BTreeMap::new();
    if !to_push.is_empty() {
        let docker = build::connect().await?;
        let work = tempfile::tempdir().map_err(|e| PublishError::Export {
            image: "-".into(),
            cause: e.to_string(),
        })?;
        let pusher = Arc::new(Pusher {
            docker: docker.clone(),
            client: client.clone(),
            repos: repos.clone(),
            work,
            on_push: opts.on_push.clone(),
            upload_mode: opts.upload_mode,
            push_with_daemon: opts.push_with_daemon,
            layer_compression: opts.layer_compression,
            relaxed_hosts: repos
                .values()
                .filter(|r| {
                    let policy = client.policy(&r.host);
                    policy.insecure || policy.allow_http || policy.skip_verify
                })
                .map(|r| r.host.clone())
                .collect(),
            pushed: tokio::sync::Mutex::new(from_storage.clone()),
            layers_in_flight: Arc::default(),
        });
        if opts.build {
            let mut extra_tags = BTreeMap::new();
            let mut cache_from = BTreeMap::new();
            for p in &plan.images {
                // `wanted.tags` are already the repository's tags (`IMAGE-TAG` in monorepo).
                let refs = p
                    .wanted
                    .tags
                    .iter()
                    .map(|t| format!("{}:{t}", p.wanted.repository))
                    .collect();
                extra_tags.insert(p.wanted.name.clone(), refs);
                // `--cache-from` values are tag names, mapped as `slipway build` maps them.
                let cache = naming.references(p.wanted.name.as_deref(), &opts.cache_from)?;
                cache_from.insert(p.wanted.name.clone(), cache);
            }
            let built = build::build(
                &docker,
                &cfg,
                &sigs,
                BuildOptions {
                    images: to_push.clone(),
                    parallel: opts.parallel,
                    force: opts.force,
                    extra_tags,
                    on_event: opts.on_event.clone(),
                    git_commit: crate::git::head(&cfg.dir).ok().flatten().map(|h| h.commit),
                    extra_labels: git_labels(&opts.tags, &cfg.dir),
                    cache_from,
                    buildkit: opts.buildkit,
                    keychain: client.options().keychain.clone(),
                    outputs: outputs.clone(),
                    registry_digest: Some(digest_hook(pusher.clone(), plan.clone())),
                    stages_storage: stages_storage.clone(),
                },
            )
            .await?;
            for b in built {
                local.insert(b.name.clone(), (b.image_id, !b.skipped));
            }
        } else {
            for p in plan.images.iter().filter(|p| needs_build(p)) {
                let likely = build::local_tag(&cfg.project, p.wanted.name.as_deref());
                let id = build::find_local(&docker, &p.wanted.signature, Some(&likely))
                    .await
                    .ok_or_else(|| PublishError::NotBuilt(p.label().to_string()))?;
                local.insert(p.wanted.name.clone(), (id, false));
            }
        }
        let mut todo = Vec::new();
        for p in plan.images.iter().filter(|p| p.needs_push()) {
            if pusher.pushed.lock().await.contains_key(&p.wanted.name) {
                continue; // pushed early: a dependant imports its `ImageDigest`
            }
            let (id, _) = local
                .get(&p.wanted.name)
                .cloned()
                .ok_or_else(|| PublishError::NotBuilt(p.label().to_string()))?;
            todo.push((p, id));
        }
        // Images in flight at once: while the daemon prepares one export, another's layers
        // are compressed and sent.
        futures::stream::iter(todo)
            .map(|(p, id)| {
                let pusher = &pusher;
                async move { pusher.push(p, &id).await }
            })
            .buffer_unordered(IMAGES_IN_FLIGHT)
            .try_collect::<Vec<_>>()
            .await?;
        let results = std::mem::take(&mut *pusher.pushed.lock().await);
        if let Some(storage) = &stages_storage {
            store_published(
                storage,
                &plan,
                &repos,
                &results,
                &from_storage,
                &dockerfile_images,
                &stored_sigs,
            )
            .await;
        }
        let out = finish(&cfg.project, &plan, client, &repos, &local, &results, &opts).await?;
        signature::remember_outputs(&cfg.dir, &outputs);
        record_commit(client, &naming, &cfg.dir, &plan).await?;
        return Ok(out);
    }
    let out = finish(
        &cfg.project,
        &plan,
        client,
        &repos,
        &local,
        &from_storage,
        &opts,
    )
    .await?;
    signature::remember_outputs(&cfg.dir, &outputs);
    record_commit(client, &naming, &cfg.dir, &plan).await?;
    Ok(out)
}

/// `GET /v2/` on `host`, authenticated: fails on what would fail the push anyway (no
/// connection, TLS, refused credentials). A 401 or 403 without credentials is left to the push,
/// which says where credentials are looked for; other answers are the registry's business.
async fn usable(
    client: &Client,
    host: &str,
    images_repo: Option<&str>,
) -> Result<(), PublishError> {
    let cause = match client.ping(host).await {
        Ok(()) => return Ok(()),
        Err(
            RegistryError::Unauthorized { .. }
            | RegistryError::Denied { .. }
            | RegistryError::Status { .. },
        ) if !matches!(client.credentials(host), Ok(Some(_))) => {
            return Ok(());
        }
        Err(e @ RegistryError::Status { .. }) => {
            tracing::debug!(host, "GET /v2/ before building: {e}");
            return Ok(());
        }
        Err(e) => e,
    };
    let from = images_repo
        .filter(|r| r.split('/').next() == Some(host))
        .map(|r| format!(" (the registry of --images-repo {r})"))
        .unwrap_or_default();
    Err(PublishError::Unusable { cause, from })
}

/// Dockerfile images pushed now go into the stages storage under their signature (a tag
/// more on the same blobs), so a runner publishing the same content under other tags copies
/// them instead of building. A failure costs a later rebuild only: a warning.
async fn store_published(
    storage: &crate::stapel::storage::StagesStorage,
    plan: &Plan,
    repos: &BTreeMap<String, Repository>,
    pushed: &BTreeMap<Option<String>, String>,
    from_storage: &BTreeMap<Option<String>, String>,
    dockerfile_images: &std::collections::BTreeSet<Option<String>>,
    stored_sigs: &std::collections::BTreeSet<String>,
) {
    for p in &plan.images {
        let name = &p.wanted.name;
        if !dockerfile_images.contains(name)
            || from_storage.contains_key(name)
            || stored_sigs.contains(&p.wanted.signature)
        {
            continue;
        }
        let (Some(digest), Some(repo)) = (pushed.get(name), repos.get(&p.wanted.repository)) else {
            continue;
        };
        match storage
            .store_published(repo, digest, &p.wanted.signature)
            .await
        {
            Ok(tag) => tracing::info!(image = p.label(), %tag, "stored in the stages storage"),
            Err(e) => tracing::warn!(image = p.label(), "{e}"),
        }
    }
}

/// `--dry-run`: the blob plan of each image to push that the daemon already holds (what
/// its layers need in the registry, read only); images not built yet keep `None`.
async fn blob_plans(
    project: &str,
    client: &Client,
    repos: &BTreeMap<String, Repository>,
    compression: crate::registry::compress::Codec,
    plan: &mut Plan,
) -> Result<(), PublishError> {
    if !plan.images.iter().any(|p| p.needs_push()) {
        return Ok(());
    }
    // No daemon: the plan says what it can without one.
    let Ok(docker) = build::connect().await else {
        return Ok(());
    };
    let work = std::env::temp_dir();
    for p in plan.images.iter_mut().filter(|p| p.needs_push()) {
        let (Some(id), Some(repository)) = (
            build::find_local(
                &docker,
                &p.wanted.signature,
                Some(&build::local_tag(project, p.wanted.name.as_deref())),
            )
            .await,
            repos.get(&p.wanted.repository),
        ) else {
            continue;
        };
        let diff_ids = docker
            .inspect_image(&id)
            .await
            .ok()
            .and_then(|i| i.root_fs)
            .and_then(|r| r.layers);
        let target = PushTarget {
            repository: repository.clone(),
            tags: p.wanted.tags.clone(),
        };
        let popts = PushOptions {
            cache_file: crate::settings::host_env::layer_cache_file(),
            compression,
            ..PushOptions::default()
        };
        let session = push::Session::open(client, &target, &popts).await;
        let source = DaemonSource {
            docker: &docker,
            id,
            diff_ids,
            label: p.label().to_string(),
            upload_mode: UploadMode::Auto,
            work: work.clone(),
            // The plan reads nothing from the image.
            store: None,
        };
        p.blobs = Some(source::plan(&source, &session).await?);
    }
    Ok(())
}

/// Images pushed at the same time by one publish.
const IMAGES_IN_FLIGHT: usize = 2;

/// Pushes built images, once each; shared with the build so that a dependency whose
/// `ImageDigest` an image imports is pushed before that image builds.
struct Pusher {
    docker: bollard::Docker,
    client: Client,
    repos: BTreeMap<String, Repository>,
    /// Exported images are spooled here.
    work: tempfile::TempDir,
    on_push: Option<push::OnProgress>,
    upload_mode: UploadMode,
    push_with_daemon: bool,
    layer_compression: crate::registry::compress::Codec,
    /// Hosts that `--insecure-registry`, plain HTTP or loopback relax (Podman must be told).
    relaxed_hosts: std::collections::BTreeSet<String>,
    /// Digest of every image pushed so far.
    pushed: tokio::sync::Mutex<BTreeMap<Option<String>, String>>,
    layers_in_flight: Arc<InFlight>,
}

/// diffIDs of the images being pushed right now.
#[derive(Default)]
struct InFlight {
    layers: std::sync::Mutex<std::collections::HashSet<String>>,
    changed: tokio::sync::Notify,
}

/// An image's claim on its layers; released when dropped.
struct Claim {
    owner: Arc<InFlight>,
    layers: Vec<String>,
}

impl InFlight {
    /// Wait until no image in flight has any of `layers`, then hold them.
    async fn claim(self: &Arc<Self>, layers: Vec<String>) -> Claim {
        loop {
            let changed = self.changed.notified();
            if let Ok(mut held) = self.layers.lock() {
                if layers.iter().all(|l| !held.contains(l)) {
                    held.extend(layers.iter().cloned());
                    return Claim {
                        owner: self.clone(),
                        layers,
                    };
                }
            } else {
                // A poisoned lock only loses the overlap check.
                return Claim {
                    owner: self.clone(),
                    layers: Vec::new(),
                };
            }
            changed.await;
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Ok(mut held) = self.owner.layers.lock() {
            for l in &self.layers {
                held.remove(l);
            }
        }
        self.owner.changed.notify_waiters();
    }
}

impl Pusher {
    /// Push one planned image from the daemon under all its tags; returns its digest.
    async fn push(&self, p: &plan::ImagePlan, id: &str) -> Result<String, PublishError> {
        let repository = self
            .repos
            .get(&p.wanted.repository)
            .cloned()
            .ok_or(PublishError::NoRepo)?;
        let lookup = ClientLookup {
            client: &self.client,
            repos: self.repos.clone(),
        };
        let digest = if self.push_with_daemon {
            // Podman verifies TLS even for loopback registries unless told otherwise.
            let podman_insecure = self.relaxed_hosts.contains(&repository.host)
                && build::engine::detect(&self.docker)
                    .await
                    .is_ok_and(|e| e.is_podman());
            daemon_push(
                &self.docker,
                &self.client,
                id,
                &repository,
                &p.wanted.tags,
                p.label(),
                podman_insecure,
            )
            .await?
        } else if let Some(d) = published_meanwhile(&lookup, &p.wanted).await? {
            // Another runner published this very content since the plan was made: use its
            // image, so every runner reports one digest per signature.
            self.client.retag(&repository, &d, &p.wanted.tags).await?
        } else {
            let target = PushTarget {
                repository,
                tags: p.wanted.tags.clone(),
            };
            let popts = PushOptions {
                on_progress: self.on_push.clone(),
                upload_mode: self.upload_mode,
                work_dir: self.work.path().to_path_buf(),
                cache_file: crate::settings::host_env::layer_cache_file(),
                compression: self.layer_compression,
                ..PushOptions::default()
            };
            match self.push_streamed(p, id, &target, &popts).await {
                Ok(r) => {
                    // The CLI prints the summary; this is the detail for debugging.
                    tracing::debug!(image = p.label(), digest = %r.digest, uploaded = r.blobs_uploaded, bytes = r.bytes_uploaded, "pushed");
                    r.digest
                }
                // A concurrent runner moved a tag to its own build of the same content:
                // converge on one image rather than fail.
                Err(
                    e @ PublishError::Push(PushError::Registry(RegistryError::TagMoved { .. })),
                ) => match published_meanwhile(&lookup, &p.wanted).await? {
                    Some(d) => {
                        self.client
                            .retag(&target.repository, &d, &p.wanted.tags)
                            .await?
                    }
                    None => return Err(e),
                },
                Err(e) => return Err(e),
            }
        };
        self.pushed
            .lock()
            .await
            .insert(p.wanted.name.clone(), digest.clone());
        Ok(digest)
    }
}

impl Pusher {
    /// From the daemon's export stream, compressing and uploading while it arrives; the
    /// spooled path (export to a file, then push it) where the stream cannot be used.
    async fn push_streamed(
        &self,
        p: &plan::ImagePlan,
        id: &str,
        target: &PushTarget,
        popts: &PushOptions,
    ) -> Result<push::PushReport, PublishError> {
        // Images that share layers go one after the other, so a shared layer is sent once
        // and found present by the next.
        let layers: Option<Vec<String>> = self
            .docker
            .inspect_image(id)
            .await
            .map_err(|e| PublishError::Export {
                image: p.label().to_string(),
                cause: e.to_string(),
            })?
            .root_fs
            .and_then(|r| r.layers);
        let _turn = self
            .layers_in_flight
            .claim(layers.clone().unwrap_or_default())
            .await;
        from_daemon::push_from_daemon(
            &self.docker,
            &self.client,
            id,
            layers,
            p.label(),
            target,
            popts,
            self.work.path(),
        )
        .await
        .map_err(PublishError::from)
    }
}

/// The registry digest of a built dependency: what the registry already holds for its
/// signature, else pushed now.
fn digest_hook(pusher: Arc<Pusher>, plan: Plan) -> build::DigestHook {
    let plan = Arc::new(plan);
    Arc::new(move |built: build::BuiltImage| {
        let pusher = pusher.clone();
        let plan = plan.clone();
        Box::pin(async move {
            let p = plan
                .images
                .iter()
                .find(|p| p.wanted.name == built.name)
                .ok_or_else(|| "not in the publish plan".to_string())?;
            match &p.action {
                Action::UpToDate { digest } | Action::Retag { digest, .. } => Ok(digest.clone()),
                Action::Push => {
                    if let Some(d) = pusher.pushed.lock().await.get(&p.wanted.name) {
                        return Ok(d.clone());
                    }
                    pusher
                        .push(p, &built.image_id)
                        .await
                        .map_err(|e| e.to_string())
                }
            }
        })
    })
}

/// Record in the registry that HEAD's commit published these images (also when nothing
/// changed): cleanup keeps an image while any commit that published it is still needed.
/// A failure fails the publish, since a missing record could let cleanup delete an image
/// that this commit uses.
async fn record_commit(
    client: &Client,
    naming: &Naming,
    dir: &std::path::Path,
    plan: &Plan,
) -> Result<(), PublishError> {
    let Some(commit) = crate::git::head(dir).ok().flatten().map(|h| h.commit) else {
        return Ok(());
    };
    let images: Vec<(Option<String>, String)> = plan
        .images
        .iter()
        .map(|p| (p.wanted.name.clone(), p.wanted.signature.clone()))
        .collect();
    crate::records::write(client, naming, &commit, &images)
        .await
        .map_err(PublishError::Records)?;
    Ok(())
}

async fn finish(
    project: &str,
    plan: &Plan,
    client: &Client,
    repos: &BTreeMap<String, Repository>,
    local: &BTreeMap<Option<String>, (String, bool)>,
    pushed: &BTreeMap<Option<String>, String>,
    opts: &PublishOptions,
) -> Result<Outcome, PublishError> {
    let mut images = Vec::new();
    for p in &plan.images {
        let repo = repos
            .get(&p.wanted.repository)
            .ok_or(PublishError::NoRepo)?;
        let (digest, push) = match &p.action {
            Action::UpToDate { digest } => (digest.clone(), PushOutcome::AlreadyPresent),
            Action::Retag {
                digest, add_tags, ..
            } => {
                client.retag(repo, digest, add_tags).await?;
                (digest.clone(), PushOutcome::Tagged)
            }
            Action::Push => (
                pushed.get(&p.wanted.name).cloned().unwrap_or_default(),
                PushOutcome::Pushed,
            ),
        };
        let built = local.get(&p.wanted.name).is_some_and(|(_, b)| *b);
        let image_id = local.get(&p.wanted.name).map(|(id, _)| id.clone());
        images.push(ImageReport {
            name: p.wanted.name.clone(),
            repository: p.wanted.repository.clone(),
            references: p
                .wanted
                .tags
                .iter()
                .map(|t| format!("{}:{t}", p.wanted.repository))
                .collect(),
            digest,
            signature: p.wanted.signature.clone(),
            build: if built {
                BuildOutcome::Built
            } else {
                BuildOutcome::Skipped
            },
            push,
            image_id,
        });
    }
    let report = Report {
        project: project.to_string(),
        images,
    };
    if let Some(p) = &opts.report_path {
        report.write(p)?;
    }
    if let Some(p) = &opts.digest_file {
        if opts.digest_file_append {
            report.append_dotenv(p)?;
        } else {
            report.write_dotenv(p)?;
        }
    }
    Ok(Outcome::Published(report))
}

/// The digest of an image with this signature that a tag of `wanted` (or its content tag)
/// now holds, if any.
async fn published_meanwhile(
    lookup: &ClientLookup<'_>,
    wanted: &Wanted,
) -> Result<Option<String>, RegistryError> {
    for tag in wanted.probe.iter().chain(&wanted.tags) {
        if let Some(r) = lookup.lookup(&wanted.repository, tag).await?
            && r.signature.as_deref() == Some(wanted.signature.as_str())
        {
            return Ok(Some(r.digest));
        }
    }
    Ok(None)
}

/// `--push-with-daemon`: tag and `docker push` each reference, with our credentials passed
/// as X-Registry-Auth; then read the digest from the registry and check every tag.
async fn daemon_push(
    docker: &bollard::Docker,
    client: &Client,
    id: &str,
    repo: &Repository,
    tags: &[String],
    label: &str,
    podman_insecure: bool,
) -> Result<String, PublishError> {
    use bollard::auth::DockerCredentials;
    use bollard::query_parameters::{PushImageOptionsBuilder, TagImageOptionsBuilder};
    let err = |cause: String| PublishError::DaemonPush {
        image: label.to_string(),
        cause,
    };
    let creds = client.credentials(&repo.host)?.map(|f| match f.credential {
        crate::registry::keychain::Credential::Basic { username, password } => DockerCredentials {
            username: Some(username),
            password: Some(password),
            serveraddress: Some(repo.host.clone()),
            ..Default::default()
        },
        crate::registry::keychain::Credential::IdentityToken(t) => DockerCredentials {
            identitytoken: Some(t),
            serveraddress: Some(repo.host.clone()),
            ..Default::default()
        },
    });
    let name = repo.to_string();
    for tag in tags {
        docker
            .tag_image(
                id,
                Some(
                    TagImageOptionsBuilder::default()
                        .repo(&name)
                        .tag(tag)
                        .build(),
                ),
            )
            .await
            .map_err(|e| err(format!("tagging {name}:{tag}: {e}")))?;
        if podman_insecure {
            podman_push_insecure(&name, tag, creds.as_ref())
                .await
                .map_err(|e| err(format!("podman push {name}:{tag}: {e}")))?;
            continue;
        }
        let mut stream = docker.push_image(
            &name,
            Some(PushImageOptionsBuilder::default().tag(tag).build()),
            creds.clone(),
        );
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| err(format!("docker push {name}:{tag}: {e}")))?;
            if let Some(e) = info.error_detail.and_then(|d| d.message) {
                return Err(err(format!("docker push {name}:{tag}: {e}")));
            }
        }
    }
    let first = tags.first().ok_or_else(|| err("no tag to push".into()))?;
    let digest = client
        .head_manifest(repo, first)
        .await?
        .map(|i| i.digest)
        .ok_or_else(|| err(format!("{name}:{first} missing after docker push")))?;
    client.verify_tags(repo, tags, &digest).await?;
    Ok(digest)
}

/// Podman's push with `tlsVerify=false` (its Docker-compatible endpoint takes the
/// parameter; bollard has no field for it), for `--insecure-registry` and loopback hosts,
/// which Podman, unlike dockerd, does not treat as insecure by itself.
async fn podman_push_insecure(
    name: &str,
    tag: &str,
    creds: Option<&bollard::auth::DockerCredentials>,
) -> Result<(), String> {
    use base64::Engine;
    use http_body_util::BodyExt;
    let ep = build::daemon_http::endpoint_from_env()?;
    let query = serde_urlencoded::to_string([("tag", tag), ("tlsVerify", "false")])
        .map_err(|e| e.to_string())?;
    let path: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    let auth =
        serde_json::to_vec(&creds.cloned().unwrap_or_default()).map_err(|e| e.to_string())?;
    let req = http::Request::post(format!("/images/{path}/push?{query}"))
        .header(http::header::HOST, "docker")
        .header(
            "X-Registry-Auth",
            base64::engine::general_purpose::URL_SAFE.encode(auth),
        )
        .body(build::daemon_http::empty())
        .map_err(|e| e.to_string())?;
    let resp = build::daemon_http::send(&ep, "push", req)
        .await
        .map_err(|e| e.to_string())?;
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    for line in body.split(|&b| b == b'\n') {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if let Some(e) = v["errorDetail"]["message"].as_str().or(v["error"].as_str()) {
            return Err(e.to_string());
        }
    }
    Ok(())
}

/// Labels that name the git branch and tag a publish tags by, so that cleanup's
/// tag-scheme mode can tell which tags belong to a branch or tag that is gone.
fn git_labels(tags: &TagOptions, dir: &std::path::Path) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let head = if tags.from_git {
        crate::git::head(dir).ok().flatten()
    } else {
        None
    };
    let tag = tags
        .git_tag
        .clone()
        .or_else(|| head.as_ref().and_then(|h| h.tag.clone()));
    let branch = tags.git_branch.clone().or_else(|| {
        if tag.is_none() {
            head.as_ref().and_then(|h| h.branch.clone())
        } else {
            None
        }
    });
    if let Some(b) = branch.filter(|b| !b.is_empty()) {
        labels.insert("slipway.git-branch".to_string(), b);
    }
    if let Some(t) = tag.filter(|t| !t.is_empty()) {
        labels.insert("slipway.git-tag".to_string(), t);
    }
    labels
}

#[cfg(test)]
mod in_flight_tests {
    use super::*;

    #[tokio::test]
    async fn images_sharing_a_layer_wait_for_each_other_others_do_not() {
        let f = Arc::new(InFlight::default());
        let a = f.claim(vec!["base".into(), "a".into()]).await;
        // Disjoint: no wait.
        let c = tokio::time::timeout(std::time::Duration::from_secs(1), f.claim(vec!["c".into()]))
            .await
            .expect("disjoint claim must not wait");
        // Sharing `base`: waits until `a` is released.
        let f2 = f.clone();
        let b = tokio::spawn(async move { f2.claim(vec!["base".into(), "b".into()]).await });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!b.is_finished(), "a claim sharing a layer went ahead");
        drop(a);
        let b = tokio::time::timeout(std::time::Duration::from_secs(1), b)
            .await
            .expect("released claim must wake the waiter")
            .expect("join");
        drop((b, c));
        assert!(f.layers.lock().expect("lock").is_empty());
    }
}
