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
use std::time::Instant;

use bollard::Docker;
use bollard::query_parameters::BuildImageOptionsBuilder;

use super::{BuildError, BuildOptions, Builder, BuiltImage, Event, How, buildkit};
use crate::config::ImageConfig;
use crate::stapel::stages::{self, StageRecord, StageSig};
use crate::stapel::storage::{StageTag, StagesStorage};

/// The node being built.
pub(super) struct Node<'a> {
    pub project: &'a str,
    pub img: &'a ImageConfig,
    pub sig: &'a str,
    pub local: &'a str,
    pub extra: &'a [String],
    pub start: Instant,
}

/// The oldest stored image of stage `sig` whose record suits HEAD.
async fn suitable(
    storage: &StagesStorage,
    env: &crate::stapel::Env,
    img: &ImageConfig,
    sig: &StageSig,
    stored: &BTreeMap<String, Vec<StageTag>>,
) -> Result<Option<(StageTag, Vec<StageRecord>)>, String> {
    for t in stored.get(&sig.signature).into_iter().flatten() {
        let Some(record) = storage.record(&t.tag).await.map_err(|e| e.to_string())? else {
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

/// Whether the storage lacks the node's last stage at HEAD.
pub(super) async fn lacks_last_stage(
    env: &crate::stapel::Env,
    img: &ImageConfig,
    node_signatures: &BTreeMap<Option<String>, String>,
    storage: &StagesStorage,
) -> Result<bool, String> {
    let sigs = stages::head_signatures(env, img, node_signatures)?;
    let Some(last) = sigs.last() else {
        return Ok(false);
    };
    let stored = storage.stages_at_start().await.map_err(|e| e.to_string())?;
    Ok(!stored.contains_key(&last.signature))
}

/// The record up to and including `stage`.
fn record_upto(record: &[StageRecord], stage: &str) -> Vec<StageRecord> {
    match record.iter().position(|r| r.stage == stage) {
        Some(i) => record[..=i].to_vec(),
        None => record.to_vec(),
    }
}

pub(super) async fn build(
    docker: &Docker,
    node: Node<'_>,
    opts: &BuildOptions,
    how: &How,
    env: &Arc<crate::stapel::Env>,
    storage: &StagesStorage,
) -> Result<BuiltImage, BuildError> {
    let img = node.img;
    let name = img.display_name().to_string();
    let fail = |message: String| BuildError::Failed {
        image: name.clone(),
        message,
    };
    let emit = |line: String| {
        (opts.on_event)(&Event::Log {
            image: name.clone(),
            line,
        })
    };
    let sigs = stages::head_signatures(env, img, &how.node_signatures).map_err(fail)?;
    let Some(last) = sigs.last().cloned() else {
        return Err(fail("a stapel node without stages".into()));
    };

    // The latest stage the storage holds that suits HEAD (`--force`: none).
    let mut found: Option<(usize, StageTag, Vec<StageRecord>)> = None;
    if !opts.force {
        let stored = storage
            .stages_at_start()
            .await
            .map_err(|e| fail(e.to_string()))?;
        for (j, s) in sigs.iter().enumerate().rev() {
            if let Some((t, r)) = suitable(storage, env, img, s, &stored)
                .await
                .map_err(fail)?
            {
                found = Some((j, t, r));
                break;
            }
        }
    }
    // Into the daemon. A stored stage that cannot be pulled (deleted meanwhile, damaged)
    // is built again rather than failing the build.
    let mut start: Option<(&'static str, String)> = None;
    let near: Vec<String> = super::stapel_base_reference(env, img)
        .ok()
        .flatten()
        .into_iter()
        .collect();
    if let Some((j, t, _)) = &found {
        match storage.fetch(docker, &t.tag, &near).await {
            Ok((reference, pulled)) => {
                let how_got = match pulled {
                    Some(bytes) => format!("pulled, {bytes} bytes"),
                    None => "in the daemon".to_string(),
                };
                emit(format!(
                    "stapel stages: {} is {reference} from the stages storage ({how_got})",
                    sigs[*j].stage
                ));
                start = Some((sigs[*j].stage, reference));
            }
            Err(e) => {
                tracing::warn!(image = %name, "stages storage: {e}; building the stages instead");
                found = None;
            }
        }
    }
    // Pulled: now a build slot (see `super::How::slots`), held while stages build.
    let slot = how.slot().await.map_err(fail)?;
    // Without one, the record on the last local image (stage reuse through BuildKit's
    // cache, as without a storage).
    let (previous, source) = match &found {
        Some((_, _, record)) => (
            serde_json::to_string(record).ok(),
            format!("stages storage {}", storage.repository()),
        ),
        None if !opts.force => (
            docker
                .inspect_image(node.local)
                .await
                .ok()
                .and_then(|i| i.config)
                .and_then(|c| c.labels)
                .and_then(|l| l.get(crate::labels::STAGES).cloned()),
            "local daemon".to_string(),
        ),
        None => (None, "local daemon".to_string()),
    };
    let mut outcome =
        stages::prepare(env, img, &how.node_signatures, previous.as_deref()).map_err(fail)?;
    if let Some((j, _, record)) = &found
        && j + 1 == sigs.len()
    {
        // The stored last stage is the image's, latest patch included: nothing is built.
        outcome.reused = record.iter().map(|r| r.stage.clone()).collect();
        outcome.built.clear();
        outcome.record = record.clone();
    }
    outcome.plan.start = start.map(|(stage, reference)| (stage.to_string(), reference));
    emit(outcome.summary_from(&source));
    (opts.on_event)(&Event::Stages {
        image: name.clone(),
        reused: outcome.reused.clone(),
        from: if found.is_some() { "storage" } else { "local" },
        storage: found.as_ref().map(|_| storage.repository().to_string()),
        built: outcome.built.clone(),
    });

    let first = found.as_ref().map(|(j, ..)| j + 1).unwrap_or(0);
    // The image is its last stage: that stage is built with the image's labels, so a
    // runner whose stage is stored first publishes it as it is, and so does every runner
    // that takes it from the storage.
    let image_labels =
        super::image_labels(node.project, img, node.sig, opts, Some(&outcome.record));
    let mut mine: Option<String> = None;
    if first < sigs.len() {
        let bk = how
            .buildkit
            .as_ref()
            .ok_or_else(|| fail("stapel images need BuildKit".into()))?;
        let session = buildkit::Session::start(
            &bk.endpoint,
            node.project,
            how.session.clone(),
            opts.keychain.clone(),
        )
        .await
        .map_err(|e| fail(format!("BuildKit session: {e}")))?;
        let base_user = super::stapel_base_user(docker, env, img)
            .await
            .map_err(fail)?;
        let g = crate::stapel::generate_planned(env, img, base_user.as_deref(), &outcome.plan)
            .map_err(fail)?;
        let mut built: Vec<(String, &StageSig)> = Vec::new();
        for (i, s) in sigs.iter().enumerate().skip(first) {
            let target = stages::dockerfile_stage(s.stage);
            if !g.stages.contains(&target) {
                return Err(fail(format!(
                    "the generated Dockerfile has no stage {target} (stages: {})",
                    g.stages.join(", ")
                )));
            }
            let mut labels = if i + 1 == sigs.len() {
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
                img,
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
            .map_err(&fail)?;
            built.push((id, s));
        }
        // Storing is export and upload: other nodes may build meanwhile.
        drop(slot);
        let work = tempfile::tempdir().map_err(|e| fail(e.to_string()))?;
        for (n, (id, s)) in built.iter().enumerate() {
            let tag = storage
                .store(docker, id, &s.signature, work.path())
                .await
                .map_err(|e| fail(e.to_string()))?;
            super::tag(docker, id, &storage.reference(&tag))
                .await
                .map_err(|e| fail(format!("tagging {}: {e}", storage.reference(&tag))))?;
            if n + 1 == built.len() {
                mine = Some(tag);
            }
        }
        emit(format!(
            "stapel stages: stored {} stage(s) in {}",
            built.len(),
            storage.repository()
        ));
    } else {
        drop(slot);
    }

    // The image: the oldest stored last stage that suits HEAD (the first stored wins).
    let winner = if opts.force {
        None
    } else {
        let stored = storage.stages().await.map_err(|e| fail(e.to_string()))?;
        suitable(storage, env, img, &last, &stored)
            .await
            .map_err(fail)?
            .map(|(t, _)| t.tag)
    };
    let on = match (winner, &mine, &found) {
        (Some(w), Some(m), _) if w != *m => {
            emit(format!(
                "stapel stages: {} was stored first by another build ({}): the image is built on it",
                last.stage,
                storage.reference(&w)
            ));
            w
        }
        (Some(w), _, _) => w,
        (None, Some(m), _) => m.clone(),
        (None, None, Some((_, t, _))) => t.tag.clone(),
        (None, None, None) => return Err(fail("no stored stage to build the image on".into())),
    };
    let (base, _) = storage
        .fetch(docker, &on, &near)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let base_id = docker
        .inspect_image(&base)
        .await
        .ok()
        .and_then(|i| i.id)
        .ok_or_else(|| fail(format!("{base} is not in the daemon")))?;
    // A stage stored without this runner's image labels (another runner's options, an
    // older Slipway) gets them in a new image on top of it.
    let mut log = |l: &str| emit(l.to_string());
    let id = super::ensure_labels(docker, &base_id, &image_labels, node.local, &mut log)
        .await
        .map_err(&fail)?;
    for t in std::iter::once(node.local).chain(node.extra.iter().map(String::as_str)) {
        super::tag(docker, &id, t)
            .await
            .map_err(|e| fail(format!("tagging {t}: {e}")))?;
    }
    let seconds = node.start.elapsed().as_secs_f64();
    (opts.on_event)(&Event::Done {
        image: name.clone(),
        image_id: id.clone(),
        seconds,
    });
    Ok(BuiltImage {
        name: img.name.clone(),
        image_id: id,
        signature: node.sig.to_string(),
        skipped: false,
        seconds,
        local_tag: node.local.to_string(),
        builder: Builder::Buildkit,
    })
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
) -> Result<String, String> {
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
    if let Some(n) = &img.network {
        b = b.networkmode(n);
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
    let ran = super::run_buildkit(bk, session, b.build(), body, dockerfile_text, &mut log).await?;
    match ran {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(format!(
            "the daemon reported no image for {}",
            target.unwrap_or("the image")
        )),
        Err(f) => Err(super::failure_message(
            img,
            generated,
            f,
            &last_lines,
            true,
            dockerfile_text,
        )),
    }
}
