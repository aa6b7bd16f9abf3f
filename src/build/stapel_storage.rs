//! A stapel node built with a stages storage in a repository (`--stages-storage REPO`,
//! issue #20). The latest stage the storage holds that suits HEAD is pulled into the
//! daemon (Slipway's registry client) and the generated Dockerfile starts from it, so
//! no stage the storage holds is built again. The stages after it are built one `target`
//! build each (each is the previous one plus its own steps: BuildKit's cache makes them
//! one build) and stored. The image is then built on the stored last stage, the oldest
//! one that suits HEAD: whichever runner stored it first, every runner builds the image
//! on the same stages and publishes the same digest.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bollard::query_parameters::BuildImageOptionsBuilder;

use super::builder::CannotRun;
use super::builder::buildkit::run_buildkit;
use super::steps::{Node, ensure_labels, failure_message, image_labels};
use super::{BuildError, BuiltImage, Event, buildkit, stapel_base};
use crate::config::ImageConfig;
use crate::daemon::DaemonApi;
use crate::stapel::stages::{self, Outcome, StageRecord, StageSig};
use crate::stapel::storage::{StageTag, StagesStorage, StorageError};

/// The oldest stored image of stage `sig` whose record suits HEAD.
async fn suitable(
    storage: &StagesStorage,
    env: &crate::stapel::Env,
    img: &ImageConfig,
    sig: &StageSig,
    stored: &BTreeMap<String, Vec<StageTag>>,
) -> Result<Option<(StageTag, Vec<StageRecord>)>, StorageError> {
    for t in stored.get(&sig.signature).into_iter().flatten() {
        let Some(record) = storage.record(&t.tag).await? else {
            continue;
        };
        let own = record
            .last()
            .is_some_and(|r| r.signature == sig.signature && r.stage == sig.stage);
        if own && stages::usable_in(env, img, &record, sig.needs_head()) {
            return Ok(Some((t.clone(), record)));
        }
    }
    Ok(None)
}

/// Why the stages a storage holds could not be compared with the node's.
#[derive(Debug, thiserror::Error)]
pub(super) enum StoredStagesError {
    #[error("{0}")]
    Stapel(#[from] crate::stapel::StapelError),
    #[error("{0}")]
    Storage(#[from] StorageError),
}

/// Why one BuildKit build of a stapel stage failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum StageBuildError {
    #[error("{0}")]
    CannotRun(#[from] CannotRun),
    /// The build's target (or "the image").
    #[error("the daemon reported no image for {0}")]
    NoImage(String),
    /// A step failed: the message put back on werf.yaml (see `failure_message`).
    #[error("{0}")]
    Failed(String),
}

/// Whether the storage lacks the node's last stage at HEAD.
pub(super) async fn lacks_last_stage(
    env: &crate::stapel::Env,
    img: &ImageConfig,
    node_signatures: &BTreeMap<Option<String>, String>,
    storage: &StagesStorage,
) -> Result<bool, StoredStagesError> {
    let sigs = stages::head_signatures(env, img, node_signatures)?;
    let Some(last) = sigs.last() else {
        return Ok(false);
    };
    let stored = storage.stages_at_start().await?;
    Ok(!stored.contains_key(&last.signature))
}

/// The record up to and including `stage`.
fn record_upto(record: &[StageRecord], stage: &str) -> Vec<StageRecord> {
    match record.iter().position(|r| r.stage == stage) {
        Some(i) => record[..=i].to_vec(),
        None => record.to_vec(),
    }
}

/// A stage the storage holds: its index in the node's stages, tag and record.
type Found = (usize, StageTag, Vec<StageRecord>);

/// Build the node with stages storage `storage`.
pub(super) async fn build(
    node: &Node<'_>,
    env: &Arc<crate::stapel::Env>,
    storage: &StagesStorage,
) -> Result<BuiltImage, BuildError> {
    let docker = node.backend.daemon.as_ref();
    let sigs = stages::head_signatures(env, node.img, &node.how.node_signatures)
        .map_err(|e| node.stapel_fail(e))?;
    let Some(last) = sigs.last().cloned() else {
        return Err(node.fail("a stapel node without stages"));
    };
    let near: Vec<String> = stapel_base::reference(env, node.img)
        .ok()
        .flatten()
        .into_iter()
        .collect();
    let (found, start) = latest_stored(node, docker, env, storage, &sigs, &near).await?;
    // Pulled: now a build slot (see `How::slots`), held while stages build.
    let slot = node.how.slot().await.map_err(|e| node.fail(e))?;
    let outcome = outcome(node, env, storage, &sigs, found.as_ref(), start).await?;
    let first = found.as_ref().map(|(j, ..)| j + 1).unwrap_or(0);
    // The image is its last stage: that stage is built with the image's labels, so a
    // runner whose stage is stored first publishes it as it is, and so does every runner
    // that takes it from the storage.
    let labels = image_labels(node, Some(&outcome.record), "");
    let mine = if first < sigs.len() {
        let built = build_stages(node, env, &sigs[first..], &outcome, &labels).await?;
        // Storing is export and upload: other nodes may build meanwhile.
        drop(slot);
        store(node, docker, storage, &built).await?
    } else {
        drop(slot);
        None
    };
    let on = winner(node, env, storage, &last, mine, found.as_ref()).await?;
    finish(node, docker, storage, &on, &near, &labels).await
}

/// The latest stage the storage holds that suits HEAD (`--force`: none), pulled into the
/// daemon: the stage, and (stage, local reference) to start the Dockerfile from. A stored
/// stage that cannot be pulled (deleted meanwhile, damaged) is built again rather than
/// failing the build.
async fn latest_stored(
    node: &Node<'_>,
    docker: &dyn DaemonApi,
    env: &crate::stapel::Env,
    storage: &StagesStorage,
    sigs: &[StageSig],
    near: &[String],
) -> Result<(Option<Found>, Option<(&'static str, String)>), BuildError> {
    let mut found: Option<Found> = None;
    if !node.opts.settings.force {
        let stored = storage.stages_at_start().await.map_err(|e| node.fail(e))?;
        for (j, s) in sigs.iter().enumerate().rev() {
            if let Some((t, r)) = suitable(storage, env, node.img, s, &stored)
                .await
                .map_err(|e| node.fail(e))?
            {
                found = Some((j, t, r));
                break;
            }
        }
    }
    let Some((j, t, _)) = &found else {
        return Ok((None, None));
    };
    match storage.fetch(docker, &t.tag, near).await {
        Ok((reference, pulled)) => {
            let how_got = match pulled {
                Some(bytes) => format!("pulled, {bytes} bytes"),
                None => "in the daemon".to_string(),
            };
            node.log(&format!(
                "stapel stages: {} is {reference} from the stages storage ({how_got})",
                sigs[*j].stage
            ));
            let start = Some((sigs[*j].stage, reference));
            Ok((found, start))
        }
        Err(e) => {
            tracing::warn!(image = %node.name, "stages storage: {e}; building the stages instead");
            Ok((None, None))
        }
    }
}

/// Which stages are reused and which are built, from the stored stage's record or,
/// without one, the record on the last local image (stage reuse through BuildKit's cache,
/// as without a storage).
async fn outcome(
    node: &Node<'_>,
    env: &crate::stapel::Env,
    storage: &StagesStorage,
    sigs: &[StageSig],
    found: Option<&Found>,
    start: Option<(&'static str, String)>,
) -> Result<Outcome, BuildError> {
    let (previous, source) = match found {
        Some((_, _, record)) => (
            serde_json::to_string(record).ok(),
            format!("stages storage {}", storage.repository()),
        ),
        None if !node.opts.settings.force => (
            node.backend
                .daemon
                .inspect(&node.local)
                .await
                .ok()
                .and_then(|i| i.labels.get(crate::labels::STAGES).cloned()),
            "local daemon".to_string(),
        ),
        None => (None, "local daemon".to_string()),
    };
    let mut outcome = stages::prepare(
        env,
        node.img,
        &node.how.node_signatures,
        previous.as_deref(),
    )
    .map_err(|e| node.stapel_fail(e))?;
    if let Some((j, _, record)) = found
        && j + 1 == sigs.len()
    {
        // The stored last stage is the image's, latest patch included: nothing is built.
        outcome.reused = record.iter().map(|r| r.stage.clone()).collect();
        outcome.built.clear();
        outcome.record = record.clone();
    }
    outcome.plan.start = start.map(|(stage, reference)| (stage.to_string(), reference));
    node.log(&outcome.summary_from(&source));
    node.emit(Event::Stages {
        image: node.name.clone(),
        reused: outcome.reused.clone(),
        from: if found.is_some() { "storage" } else { "local" },
        storage: found.map(|_| storage.repository().to_string()),
        built: outcome.built.clone(),
    });
    Ok(outcome)
}

/// Build stages `todo` (the last of them is the image: `image_labels`), one `target`
/// build each in one session. Returns (image ID, stage) per stage.
async fn build_stages<'s>(
    node: &Node<'_>,
    env: &crate::stapel::Env,
    todo: &'s [StageSig],
    outcome: &Outcome,
    image_labels: &HashMap<String, String>,
) -> Result<Vec<(String, &'s StageSig)>, BuildError> {
    let bk = node
        .how
        .buildkit
        .as_ref()
        .ok_or_else(|| node.fail("stapel images need BuildKit"))?;
    let session = buildkit::Session::start(
        &bk.endpoint,
        node.project,
        node.how.session.clone(),
        node.opts.keychain.clone(),
    )
    .await
    .map_err(|e| node.fail(format!("BuildKit session: {e}")))?;
    let base_user = stapel_base::user(node.backend.daemon.as_ref(), env, node.img)
        .await
        .map_err(|e| node.fail(e))?;
    let mut plan = outcome.plan.clone();
    plan.dependency_env = node.how.dependency_env.clone();
    let g = crate::stapel::generate_planned(env, node.img, base_user.as_deref(), &plan)
        .map_err(|e| node.stapel_fail(e))?;
    let emit = |line: String| node.log(&line);
    let mut built: Vec<(String, &StageSig)> = Vec::new();
    for (i, s) in todo.iter().enumerate() {
        let target = stages::dockerfile_stage(s.stage);
        if !g.stages.contains(&target) {
            return Err(node.fail(format!(
                "the generated Dockerfile has no stage {target} (stages: {})",
                g.stages.join(", ")
            )));
        }
        let mut labels = if i + 1 == todo.len() {
            image_labels.clone()
        } else {
            HashMap::new()
        };
        labels.insert(crate::labels::PROJECT.to_string(), node.project.to_string());
        labels.insert(
            crate::labels::STAGES.to_string(),
            serde_json::to_string(&record_upto(&outcome.record, s.stage)).unwrap_or_default(),
        );
        let id = run(
            bk,
            &session,
            node.img,
            Some(&g),
            &g.dockerfile,
            g.context.clone(),
            crate::stapel::DOCKERFILE,
            Some(&target),
            &labels,
            None,
            &emit,
        )
        .await
        .map_err(|e| node.fail(e))?;
        built.push((id, s));
    }
    Ok(built)
}

/// Store the built stages; the tag of the last one.
async fn store(
    node: &Node<'_>,
    docker: &dyn DaemonApi,
    storage: &StagesStorage,
    built: &[(String, &StageSig)],
) -> Result<Option<String>, BuildError> {
    let work = tempfile::tempdir().map_err(|e| node.fail(e))?;
    let mut mine = None;
    for (n, (id, s)) in built.iter().enumerate() {
        let tag = storage
            .store(docker, id, &s.signature, work.path())
            .await
            .map_err(|e| node.fail(e))?;
        let reference = storage.reference(&tag);
        node.backend
            .daemon
            .tag(id, &reference)
            .await
            .map_err(|e| node.fail(format!("tagging {reference}: {e}")))?;
        if n + 1 == built.len() {
            mine = Some(tag);
        }
    }
    node.log(&format!(
        "stapel stages: stored {} stage(s) in {}",
        built.len(),
        storage.repository()
    ));
    Ok(mine)
}

/// The stored last stage the image is built on: the oldest that suits HEAD (the first
/// stored wins).
async fn winner(
    node: &Node<'_>,
    env: &crate::stapel::Env,
    storage: &StagesStorage,
    last: &StageSig,
    mine: Option<String>,
    found: Option<&Found>,
) -> Result<String, BuildError> {
    let winner = if node.opts.settings.force {
        None
    } else {
        let stored = storage.stages().await.map_err(|e| node.fail(e))?;
        suitable(storage, env, node.img, last, &stored)
            .await
            .map_err(|e| node.fail(e))?
            .map(|(t, _)| t.tag)
    };
    Ok(match (winner, mine, found) {
        (Some(w), Some(m), _) if w != m => {
            node.log(&format!(
                "stapel stages: {} was stored first by another build ({}): the image is built on it",
                last.stage,
                storage.reference(&w)
            ));
            w
        }
        (Some(w), _, _) => w,
        (None, Some(m), _) => m,
        (None, None, Some((_, t, _))) => t.tag.clone(),
        (None, None, None) => return Err(node.fail("no stored stage to build the image on")),
    })
}

/// The image: stored stage `on` in the daemon, with the image's labels, tagged.
async fn finish(
    node: &Node<'_>,
    docker: &dyn DaemonApi,
    storage: &StagesStorage,
    on: &str,
    near: &[String],
    image_labels: &HashMap<String, String>,
) -> Result<BuiltImage, BuildError> {
    let (base, _) = storage
        .fetch(docker, on, near)
        .await
        .map_err(|e| node.fail(e))?;
    let daemon = node.backend.daemon.as_ref();
    let base_id = daemon
        .inspect(&base)
        .await
        .ok()
        .map(|i| i.id)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| node.fail(format!("{base} is not in the daemon")))?;
    // A stage stored without this runner's image labels (another runner's options, an
    // older Slipway) gets them in a new image on top of it.
    let mut log = |l: &str| node.log(l);
    let classic = node.backend.builders.classic.as_ref();
    let id = ensure_labels(
        daemon,
        classic,
        &base_id,
        image_labels,
        &node.local,
        &mut log,
    )
    .await
    .map_err(|e| node.fail(e))?;
    let id = super::steps::apply_image_spec(node, &id, image_labels).await?;
    node.tag(&id, true).await?;
    let seconds = node.start.elapsed().as_secs_f64();
    node.emit(Event::Done {
        image: node.name.clone(),
        image_id: id.clone(),
        seconds,
    });
    let mut built = node.built(id, false, seconds);
    built.builder = super::BuilderKind::Buildkit;
    Ok(built)
}

/// One BuildKit build of `context`; the image ID, or the failure put back on werf.yaml.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run(
    bk: &buildkit::BuildKit,
    session: &buildkit::Session,
    img: &ImageConfig,
    generated: Option<&crate::stapel::Generated>,
    dockerfile_text: &str,
    context: Vec<u8>,
    dockerfile_name: &str,
    target: Option<&str>,
    labels: &HashMap<String, String>,
    tag: Option<&str>,
    emit: &(dyn Fn(String) + Sync),
) -> Result<String, StageBuildError> {
    // Inline cache metadata, as every BuildKit build of Slipway writes it.
    let buildargs: HashMap<String, String> =
        HashMap::from([("BUILDKIT_INLINE_CACHE".to_string(), "1".to_string())]);
    let mut b = BuildImageOptionsBuilder::default()
        .dockerfile(dockerfile_name)
        .rm(true)
        .forcerm(true)
        .buildargs(&buildargs)
        .labels(labels);
    if let Some(t) = target {
        b = b.target(t);
    }
    if let Some(t) = tag {
        b = b.t(t);
    }
    if let Some(n) = img.network() {
        b = b.networkmode(n);
    }
    if let Some(p) = generated.and_then(|g| g.platform.as_deref()) {
        b = b.platform(p);
    }
    let mut last_lines: Vec<String> = Vec::new();
    let mut log = |line: &str| {
        last_lines.push(line.to_string());
        if last_lines.len() > 10 {
            last_lines.remove(0);
        }
        emit(line.to_string());
    };
    let body = futures::stream::once(async move { bytes::Bytes::from(context) });
    // (Not through `builder::Builders`: the stages share one session.)
    let _queued = buildkit::SolveLock::take(bk).await;
    let ran = run_buildkit(bk, session, b.build(), body, dockerfile_text, &mut log).await?;
    match ran {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(StageBuildError::NoImage(
            target.unwrap_or("the image").to_string(),
        )),
        Err(f) => Err(StageBuildError::Failed(failure_message(
            img,
            generated,
            f,
            &last_lines,
            true,
            dockerfile_text,
        ))),
    }
}
