//! Publish's third phase: what the plan says to push is copied from the stages storage,
//! built (with its digest hook, so a dependency is pushed before its dependant builds) or
//! found in the daemon, pushed, and stored back in the stages storage.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use super::plan::{self, Action, Plan};
use super::prepare::Prepared;
use super::pusher::{IMAGES_IN_FLIGHT, Pusher};
use super::{PublishError, PublishOptions};
use crate::build::{self, BuildOptions};
use crate::daemon::DaemonApi;
use crate::daemon::docker::DockerDaemon;
use crate::naming::TagOptions;
use crate::registry::{Client, Repository};
use crate::stapel::storage::StagesStorage;

/// What the realize phase did, for the report.
pub(super) struct Realized {
    /// Image ID and whether this run built it, by image.
    pub local: BTreeMap<Option<String>, (String, bool)>,
    /// The registry digest of each image pushed or copied from the stages storage.
    pub pushed: BTreeMap<Option<String>, String>,
    /// The provenance referrer's digest of each image pushed (filled after realize).
    pub provenance: BTreeMap<Option<String>, String>,
}

/// The Dockerfile images the stages storage had at the start, and what was copied out.
struct FromStorage {
    dockerfile_images: BTreeSet<Option<String>>,
    copied: BTreeMap<Option<String>, String>,
    stored_sigs: BTreeSet<String>,
}

/// Build (or find) and push what the plan says, then keep it in the stages storage.
pub(super) async fn realize(
    prepared: &Prepared,
    plan: &Plan,
    repos: &BTreeMap<String, Repository>,
    client: &Client,
    opts: &PublishOptions,
) -> Result<Realized, PublishError> {
    let storage = prepared.stages_storage.as_ref();
    let stored = copy_from_storage(prepared, plan, repos, storage).await?;
    let needs_build =
        |p: &plan::ImagePlan| p.needs_push() && !stored.copied.contains_key(&p.wanted.name);
    let to_push: Vec<String> = plan
        .images
        .iter()
        .filter(|p| needs_build(p))
        .map(|p| p.wanted.name.clone().unwrap_or_else(|| "~".into()))
        .collect();
    if to_push.is_empty() {
        return Ok(Realized {
            local: BTreeMap::new(),
            pushed: stored.copied,
            provenance: BTreeMap::new(),
        });
    }
    let docker = prepared.daemon().await?;
    let daemon: Arc<dyn DaemonApi> =
        Arc::new(DockerDaemon::new(docker.clone()).with_env(prepared.host_env.daemon()));
    let pusher = Arc::new(Pusher::new(
        daemon.clone(),
        client,
        repos,
        opts,
        stored.copied.clone(),
        &prepared.host_env,
    )?);
    let (local, platforms) = if opts.build {
        build_images(prepared, plan, client, opts, docker, &pusher, to_push).await?
    } else {
        find_built(prepared, plan, daemon.as_ref(), |p| needs_build(p)).await?
    };
    let mut todo = Vec::new();
    for p in plan.images.iter().filter(|p| p.needs_push()) {
        if pusher.pushed.lock().await.contains_key(&p.wanted.name) {
            continue; // pushed early: a dependant imports its `ImageDigest`
        }
        let (id, _) = local
            .get(&p.wanted.name)
            .cloned()
            .ok_or_else(|| PublishError::NotBuilt(p.label().to_string()))?;
        todo.push((p, id, platforms.get(&p.wanted.name)));
    }
    // Images in flight at once: while the daemon prepares one export, another's layers
    // are compressed and sent.
    futures::stream::iter(todo)
        .map(|(p, id, platforms)| {
            let pusher = &pusher;
            async move {
                match platforms {
                    Some(all) => pusher.push_index(p, all).await,
                    None => pusher.push(p, &id).await,
                }
            }
        })
        .buffer_unordered(IMAGES_IN_FLIGHT)
        .try_collect::<Vec<_>>()
        .await?;
    let pushed = std::mem::take(&mut *pusher.pushed.lock().await);
    if let Some(storage) = storage {
        store_published(storage, plan, repos, &pushed, &stored).await;
    }
    Ok(Realized {
        local,
        pushed,
        provenance: BTreeMap::new(),
    })
}

/// Dockerfile images another runner published are in the stages storage under their
/// signature (werf keeps Dockerfile images there too): copied from it, not rebuilt.
async fn copy_from_storage(
    prepared: &Prepared,
    plan: &Plan,
    repos: &BTreeMap<String, Repository>,
    storage: Option<&StagesStorage>,
) -> Result<FromStorage, PublishError> {
    let mut out = FromStorage {
        dockerfile_images: prepared
            .cfg
            .images
            .iter()
            .filter(|i| i.stapel().is_none())
            .map(|i| i.name.clone())
            .collect(),
        copied: BTreeMap::new(),
        stored_sigs: BTreeSet::new(),
    };
    let Some(storage) = storage else {
        return Ok(out);
    };
    let stored = storage.stages_at_start().await?;
    for p in plan
        .images
        .iter()
        .filter(|p| p.needs_push() && out.dockerfile_images.contains(&p.wanted.name))
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
                out.copied.insert(p.wanted.name.clone(), digest);
            }
            Err(e) => tracing::warn!(image = p.label(), "{e}; building it instead"),
        }
    }
    out.stored_sigs.extend(stored.into_keys());
    Ok(out)
}

/// Each image's ID and whether this run built it; and each multi-platform image's
/// platforms.
type Local = (
    BTreeMap<Option<String>, (String, bool)>,
    BTreeMap<Option<String>, Vec<build::PlatformImage>>,
);

/// Build what must be pushed, each dependency whose digest a dependant imports pushed
/// through the hook; returns each image's ID and whether it was built now.
async fn build_images(
    prepared: &Prepared,
    plan: &Plan,
    client: &Client,
    opts: &PublishOptions,
    docker: &bollard::Docker,
    pusher: &Arc<Pusher>,
    to_push: Vec<String>,
) -> Result<Local, PublishError> {
    let cfg = &prepared.cfg;
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
        let cache = prepared
            .naming
            .references(p.wanted.name.as_deref(), &opts.cache_from)?;
        cache_from.insert(p.wanted.name.clone(), cache);
    }
    let built = build::build(
        docker,
        cfg,
        &prepared.sigs,
        BuildOptions {
            images: to_push,
            settings: opts.build_settings.clone(),
            extra_tags,
            on_event: opts.on_event.clone(),
            git_commit: prepared.git.found().map(|h| h.commit.clone()),
            extra_labels: git_labels(&opts.tags, &prepared.git),
            cache_from,
            keychain: client.options().keychain.clone(),
            outputs: prepared.outputs.clone(),
            registry_digest: Some(digest_hook(pusher.clone(), plan.clone())),
            stages_storage: prepared.stages_storage.clone(),
            host_env: prepared.host_env.clone(),
        },
    )
    .await?;
    let platforms = built
        .iter()
        .filter(|b| !b.platforms.is_empty())
        .map(|b| (b.name.clone(), b.platforms.clone()))
        .collect();
    let local = built
        .into_iter()
        .map(|b| (b.name.clone(), (b.image_id, !b.skipped)))
        .collect();
    Ok((local, platforms))
}

/// `publish` without building: each image to push must be in the daemon already.
async fn find_built(
    prepared: &Prepared,
    plan: &Plan,
    docker: &dyn DaemonApi,
    needs_build: impl Fn(&plan::ImagePlan) -> bool,
) -> Result<Local, PublishError> {
    let mut local = BTreeMap::new();
    let mut platforms = BTreeMap::new();
    for p in plan.images.iter().filter(|p| needs_build(p)) {
        let likely = build::local_tag(&prepared.cfg.project, p.wanted.name.as_deref());
        if let Some(all) = find_platforms(prepared, p, docker, &likely).await? {
            local.insert(p.wanted.name.clone(), (all[0].image_id.clone(), false));
            platforms.insert(p.wanted.name.clone(), all);
            continue;
        }
        let id = crate::daemon::find_local(docker, &p.wanted.signature, Some(&likely))
            .await
            .ok_or_else(|| PublishError::NotBuilt(p.label().to_string()))?;
        local.insert(p.wanted.name.clone(), (id, false));
    }
    Ok((local, platforms))
}

/// A multi-platform image's platforms in the daemon, each by its signature (`None`: the
/// image has one platform).
async fn find_platforms(
    prepared: &Prepared,
    p: &plan::ImagePlan,
    docker: &dyn DaemonApi,
    likely: &str,
) -> Result<Option<Vec<build::PlatformImage>>, PublishError> {
    let Some(img) = prepared.cfg.image(p.wanted.name.as_deref()) else {
        return Ok(None);
    };
    let cfg = &prepared.cfg;
    let oci = crate::labels::oci(cfg.source.as_deref(), &cfg.project, img.name.as_deref());
    let stapel = crate::stapel::Env::new(cfg);
    let sigs = crate::signature::per_platform(
        img,
        &oci,
        &prepared.sigs,
        &prepared.outputs,
        Some(&stapel),
    )?;
    if sigs.is_empty() {
        return Ok(None);
    }
    let repo = likely.rsplit_once(':').map_or(likely, |(r, _)| r);
    let mut all = Vec::new();
    for (platform, signature) in sigs {
        let local_tag = format!("{repo}:{}", crate::platform::slug(&platform));
        let image_id = crate::daemon::find_local(docker, &signature, Some(&local_tag))
            .await
            .ok_or_else(|| PublishError::NotBuilt(format!("{} ({platform})", p.label())))?;
        all.push(build::PlatformImage {
            platform,
            image_id,
            signature,
            local_tag,
            skipped: true,
        });
    }
    Ok(Some(all))
}

/// Dockerfile images pushed now go into the stages storage under their signature (a tag
/// more on the same blobs), so a runner publishing the same content under other tags copies
/// them instead of building. A failure costs a later rebuild only: a warning.
async fn store_published(
    storage: &StagesStorage,
    plan: &Plan,
    repos: &BTreeMap<String, Repository>,
    pushed: &BTreeMap<Option<String>, String>,
    stored: &FromStorage,
) {
    for p in &plan.images {
        let name = &p.wanted.name;
        if !stored.dockerfile_images.contains(name)
            || stored.copied.contains_key(name)
            || stored.stored_sigs.contains(&p.wanted.signature)
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

/// A built dependency the publish plan does not have.
#[derive(Debug, thiserror::Error)]
#[error("not in the publish plan")]
struct NotPlanned;

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
                .ok_or_else(|| Box::new(NotPlanned) as build::DigestError)?;
            let pushed = pusher.pushed.lock().await.get(&p.wanted.name).cloned();
            let digest = match (&p.action, pushed) {
                (Action::UpToDate { digest } | Action::Retag { digest, .. }, _) => digest.clone(),
                (Action::Push, Some(d)) => d,
                (Action::Push, None) if built.platforms.is_empty() => {
                    pusher.push(p, &built.image_id).await?
                }
                (Action::Push, None) => pusher.push_index(p, &built.platforms).await?,
            };
            if built.platforms.is_empty() {
                return Ok(digest.into());
            }
            // Each platform of a dependant imports the same platform's manifest digest.
            let platforms = pusher.index_platforms(p, &digest).await?;
            Ok(build::RegistryDigest { digest, platforms })
        })
    })
}

/// Labels that name the git branch and tag a publish tags by, so that cleanup's
/// tag-scheme mode can tell which tags belong to a branch or tag that is gone.
fn git_labels(tags: &TagOptions, git: &crate::git::HeadOnce) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let head = if tags.from_git { git.found() } else { None };
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
