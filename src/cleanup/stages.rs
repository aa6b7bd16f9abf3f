//! Cleanup and purge of a stages storage (`--stages-storage REPO`, docs/stapel.md): a
//! stored stage is kept when a kept image needs it (its signature is in the image's
//! `slipway.stapel.stages` record, or it is a kept Dockerfile image stored under its
//! content signature) or when it is younger than two hours (werf's guard: a
//! build running now may be about to use it); purge deletes every stored stage.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;

use super::CleanupError;
use super::policy::{Decision, Plan};
use super::werf_stages;
use crate::registry::{Repository, image};
use crate::stapel::stages;
use crate::stapel::storage::{StagesStorage, StorageError};

/// Stages younger than this are never deleted by cleanup.
pub const MIN_AGE: Duration = Duration::from_secs(2 * 3600);

/// One stored stage and what happens to it.
#[derive(Debug, Clone, Serialize)]
pub struct StageItem {
    pub tag: String,
    pub digest: String,
    pub decision: Decision,
    pub reason: String,
}

/// What cleanup or purge does to a stages storage.
#[derive(Debug, Clone, Serialize)]
pub struct StagesPlan {
    pub repository: String,
    pub items: Vec<StageItem>,
}

impl std::fmt::Display for StagesPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let deleted = self
            .items
            .iter()
            .filter(|i| i.decision == Decision::Delete)
            .count();
        writeln!(
            f,
            "stages storage {}: {} stage(s) kept, {deleted} deleted",
            self.repository,
            self.items.len() - deleted
        )?;
        for i in &self.items {
            let what = match i.decision {
                Decision::Keep => "keep",
                Decision::Delete => "delete",
            };
            writeln!(f, "  {what:<6} {}  {}", i.tag, i.reason)?;
        }
        Ok(())
    }
}

fn storage_err(e: StorageError) -> CleanupError {
    CleanupError::Io(e.to_string())
}

/// The stage signatures the images kept by `images` need: their records, and the stored
/// stages of the images those stages are built from or import from (each record's
/// `sources`, followed through the storage as werf follows parents and imports).
async fn needed(
    storage: &StagesStorage,
    tags: &[String],
    images: &Plan,
) -> Result<BTreeSet<String>, CleanupError> {
    let client = storage.client();
    let mut seen = BTreeSet::new();
    let mut out = BTreeSet::new();
    let mut sources: Vec<String> = Vec::new();
    for i in images.items().filter(|i| i.decision == Decision::Keep) {
        if !seen.insert((i.tag.repository.clone(), i.tag.digest.clone())) {
            continue;
        }
        let Ok(repo) = Repository::parse(&i.tag.repository) else {
            continue;
        };
        let Some((_, Some(cfg))) = client
            .image_config(&repo, &i.tag.digest.to_string())
            .await?
        else {
            continue;
        };
        if let Some(record) =
            image::label(&cfg, crate::labels::STAGES).and_then(stages::parse_record)
        {
            for r in record {
                sources.extend(r.sources);
                out.insert(r.signature);
            }
        }
        // A Dockerfile image is stored under its own content signature.
        if let Some(sig) = image::label(&cfg, crate::labels::SIGNATURE) {
            out.insert(sig.to_string());
        }
    }
    let stored = crate::stapel::storage::by_signature(tags);
    let mut followed = BTreeSet::new();
    while let Some(sig) = sources.pop() {
        if !followed.insert(sig.clone()) {
            continue;
        }
        out.insert(sig.clone());
        for t in stored.get(&sig).into_iter().flatten() {
            let record = storage.record(&t.tag).await.map_err(storage_err)?;
            for r in record.into_iter().flatten() {
                sources.extend(r.sources);
                out.insert(r.signature);
            }
        }
    }
    Ok(out)
}

/// Every stored stage of Slipway's among `tags` with its digest (oldest first).
async fn inventory(
    storage: &StagesStorage,
    tags: &[String],
) -> Result<Vec<(crate::stapel::storage::StageTag, String)>, CleanupError> {
    let mut out = Vec::new();
    for tags in crate::stapel::storage::by_signature(tags).into_values() {
        for t in tags {
            if let Some(info) = storage
                .client()
                .head_manifest(storage.repository(), &t.tag)
                .await?
            {
                out.push((t, info.digest));
            }
        }
    }
    Ok(out)
}

/// Cleanup: keep the stages that `images`' kept images need and those younger than
/// [`MIN_AGE`]; delete the rest. A stage sharing its manifest with a kept one is kept
/// (the registry deletes by digest, which would take the kept tag too).
pub async fn plan_cleanup(
    storage: &StagesStorage,
    images: &Plan,
) -> Result<StagesPlan, CleanupError> {
    let tags = list(storage).await?;
    let needed = needed(storage, &tags, images).await?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let stored = inventory(storage, &tags).await?;
    let mut items: Vec<StageItem> = stored
        .into_iter()
        .map(|(t, digest)| {
            let age = Duration::from_millis(now_ms.saturating_sub(t.millis));
            let (decision, reason) = if needed.contains(&t.signature) {
                (Decision::Keep, "a kept image is built on it".to_string())
            } else if age < MIN_AGE {
                (
                    Decision::Keep,
                    format!(
                        "stored {} ago: stages younger than 2h are kept (a build may be using it)",
                        humantime::format_duration(Duration::from_secs(age.as_secs()))
                    ),
                )
            } else {
                (Decision::Delete, "no kept image needs it".to_string())
            };
            StageItem {
                tag: t.tag,
                digest,
                decision,
                reason,
            }
        })
        .collect();
    items.extend(werf_items(storage, &tags, images, (now_ms / 1000) as i64).await?);
    let kept: BTreeSet<String> = items
        .iter()
        .filter(|i| i.decision == Decision::Keep)
        .map(|i| i.digest.clone())
        .collect();
    for i in items.iter_mut() {
        if i.decision == Decision::Delete && kept.contains(&i.digest) {
            i.decision = Decision::Keep;
            i.reason = "the same image as a kept stage".into();
        }
    }
    Ok(StagesPlan {
        repository: storage.repository().to_string(),
        items,
    })
}

/// Every tag of the storage (one listing for Slipway's stages and werf's).
async fn list(storage: &StagesStorage) -> Result<Vec<String>, CleanupError> {
    storage
        .client()
        .list_tags(storage.repository())
        .await
        .map_err(|e| {
            storage_err(StorageError::Registry {
                repo: storage.repository().to_string(),
                source: e,
            })
        })
}

/// werf 1.1's stages in the storage, by werf's rule ([`werf_stages::decide`]): the parents
/// of the images `images` keeps are read only when there are werf stages.
async fn werf_items(
    storage: &StagesStorage,
    tags: &[String],
    images: &Plan,
    now: i64,
) -> Result<Vec<StageItem>, CleanupError> {
    let (client, repo) = (storage.client(), storage.repository());
    let stages = werf_stages::read(client, repo, tags).await?;
    if stages.is_empty() {
        return Ok(Vec::new());
    }
    let mut kept = Vec::new();
    let mut seen = BTreeSet::new();
    for i in images.items().filter(|i| i.decision == Decision::Keep) {
        let t = &i.tag;
        let Ok(r) = Repository::parse(&t.repository) else {
            continue;
        };
        if !seen.insert((t.repository.clone(), t.digest.clone())) {
            continue;
        }
        if let Some(parent) = werf_stages::image_facts(client, &r, &t.digest.to_string())
            .await?
            .and_then(|f| f.parent)
        {
            kept.push((parent, format!("{}:{}", t.repository, t.tag)));
        }
    }
    let decisions = werf_stages::decide(&stages, &kept, now);
    Ok(stages
        .into_iter()
        .zip(decisions)
        .map(|(s, (decision, reason))| StageItem {
            tag: s.tag,
            digest: s.digest,
            decision,
            reason,
        })
        .collect())
}

/// Purge: every stored stage goes, Slipway's and werf 1.1's; werf's records stay.
pub async fn plan_purge(storage: &StagesStorage) -> Result<StagesPlan, CleanupError> {
    let tags = list(storage).await?;
    let mut items: Vec<StageItem> = inventory(storage, &tags)
        .await?
        .into_iter()
        .map(|(t, digest)| StageItem {
            tag: t.tag,
            digest,
            decision: Decision::Delete,
            reason: "purge".into(),
        })
        .collect();
    for s in werf_stages::read(storage.client(), storage.repository(), &tags).await? {
        items.push(StageItem {
            tag: s.tag,
            digest: s.digest,
            decision: Decision::Delete,
            reason: "purge".into(),
        });
    }
    Ok(StagesPlan {
        repository: storage.repository().to_string(),
        items,
    })
}

/// Delete what the plan deletes, each manifest once. Returns (deleted, failures).
pub async fn execute(storage: &StagesStorage, plan: &StagesPlan) -> (usize, Vec<String>) {
    let mut done = BTreeSet::new();
    let mut failures = Vec::new();
    for i in plan.items.iter().filter(|i| i.decision == Decision::Delete) {
        if !done.insert(i.digest.clone()) {
            continue;
        }
        if let Err(e) = storage
            .client()
            .delete_manifest(storage.repository(), &i.digest)
            .await
        {
            failures.push(format!("{}:{}: {e}", plan.repository, i.tag));
        }
    }
    (done.len() - failures.len(), failures)
}
