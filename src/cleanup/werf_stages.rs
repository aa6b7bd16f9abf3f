//! werf 1.1's stages in a stages storage (`REPO:<56 hex>-<unix ms>`,
//! pkg/storage/repo_stages_storage.go:20), cleaned by werf's rule
//! (pkg/cleaning/stages_cleanup.go:124-146): a stage stays when a kept image is built on it
//! (the image's parent, that stage's parents, and the stages it imports from), or when it
//! is younger than two hours; the rest go. werf's records in the same repository
//! (`image-metadata-by-commit-`, `managed-image-`, `client-id-`, `-rejected`) are never
//! stages and never deleted here.

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::{self, StreamExt, TryStreamExt};

use super::policy::Decision;
use crate::records::werf::is_record_tag;
use crate::registry::{Client, Manifest, RegistryError, Repository};

/// werf's `werf-import-<n>` labels name the image ids a stage imports from.
const IMPORT_LABEL_PREFIX: &str = "werf-import-";

/// One werf stage: its tag, manifest digest, image id (config digest), parent image id,
/// import sources and creation time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WerfStage {
    pub tag: String,
    pub digest: String,
    pub id: String,
    pub parent: Option<String>,
    pub imports: Vec<String>,
    pub created: Option<i64>,
}

/// `<56 hex>-<unix ms>`, and not one of werf's records.
pub fn is_werf_stage(tag: &str) -> bool {
    if is_record_tag(tag) {
        return false;
    }
    let Some((sig, ms)) = tag.split_once('-') else {
        return false;
    };
    sig.len() == 56
        && sig.bytes().all(|b| b.is_ascii_hexdigit())
        && !ms.is_empty()
        && ms.bytes().all(|b| b.is_ascii_digit())
}

/// An image's id (config digest), parent id (`config.Image`), import sources and creation
/// time, from its raw config (Docker's `config.Image` is not in the OCI model).
pub async fn image_facts(
    client: &Client,
    repo: &Repository,
    reference: &str,
) -> Result<Option<WerfStage>, RegistryError> {
    let Some((body, info)) = client.get_manifest(repo, reference).await? else {
        return Ok(None);
    };
    let Some(cfg_digest) = Manifest::parse(&body)
        .ok()
        .and_then(|m| m.config().map(|c| c.digest().to_string()))
    else {
        return Ok(None);
    };
    let raw = client.get_blob_bytes(repo, &cfg_digest).await?;
    let cfg: serde_json::Value = serde_json::from_slice(&raw).unwrap_or_default();
    let text = |v: &serde_json::Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let imports = cfg["config"]["Labels"]
        .as_object()
        .map(|l| {
            l.iter()
                .filter(|(k, _)| k.starts_with(IMPORT_LABEL_PREFIX))
                .filter_map(|(_, v)| text(v))
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(WerfStage {
        tag: reference.to_string(),
        digest: info.digest,
        id: cfg_digest,
        parent: text(&cfg["config"]["Image"]),
        imports,
        created: cfg["created"]
            .as_str()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .map(|t| t.timestamp()),
    }))
}

/// Every werf stage among `tags` of the storage, read.
pub async fn read(
    client: &Client,
    repo: &Repository,
    tags: &[String],
) -> Result<Vec<WerfStage>, RegistryError> {
    let found: Vec<Option<WerfStage>> = stream::iter(tags.iter().filter(|t| is_werf_stage(t)))
        .map(|t| image_facts(client, repo, t))
        .buffer_unordered(16)
        .try_collect()
        .await?;
    let mut out: Vec<WerfStage> = found.into_iter().flatten().collect();
    out.sort_by(|a, b| a.tag.cmp(&b.tag));
    Ok(out)
}

/// werf's rule for each stage (same order as `stages`). `kept`: (parent image id, tag) of
/// every image the images plan keeps; `now`: seconds since the epoch.
pub fn decide(
    stages: &[WerfStage],
    kept: &[(String, String)],
    now: i64,
) -> Vec<(Decision, String)> {
    let by_id: BTreeMap<&str, usize> = stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut why: BTreeMap<usize, String> = BTreeMap::new();
    for (parent, image) in kept {
        keep_with_relatives(
            stages,
            &by_id,
            parent,
            image,
            &mut why,
            &mut BTreeSet::new(),
        );
    }
    stages
        .iter()
        .enumerate()
        .map(|(i, s)| match why.remove(&i) {
            Some(r) => (Decision::Keep, r),
            None if s.created.is_some_and(|c| now - c < 2 * 3600) => (
                Decision::Keep,
                "werf 1.1 stage younger than 2h (stages_cleanup.go:129-144)".into(),
            ),
            None => (
                Decision::Delete,
                "werf 1.1 stage no kept image is built on (stages_cleanup.go:124-126)".into(),
            ),
        })
        .collect()
}

/// werf's `exceptRepoImageAndRelativesByImageID` (stages_cleanup.go:161-197): the stage
/// with this id, the stages it imports from (and theirs), and its parent chain.
fn keep_with_relatives(
    stages: &[WerfStage],
    by_id: &BTreeMap<&str, usize>,
    id: &str,
    image: &str,
    why: &mut BTreeMap<usize, String>,
    seen: &mut BTreeSet<String>,
) {
    let Some(&start) = by_id.get(id) else { return };
    if !seen.insert(id.to_string()) {
        return;
    }
    for import in &stages[start].imports {
        keep_with_relatives(stages, by_id, import, image, why, seen);
    }
    let mut cur = Some(start);
    let mut walked = BTreeSet::new();
    while let Some(i) = cur {
        if !walked.insert(i) {
            break;
        }
        why.entry(i)
            .or_insert_with(|| format!("werf 1.1 stage kept image {image} is built on"));
        cur = stages[i]
            .parent
            .as_deref()
            .and_then(|p| by_id.get(p).copied());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(
        tag: &str,
        id: &str,
        parent: Option<&str>,
        imports: &[&str],
        created: i64,
    ) -> WerfStage {
        WerfStage {
            tag: tag.into(),
            digest: format!("sha256:{tag}"),
            id: id.into(),
            parent: parent.map(str::to_string),
            imports: imports.iter().map(|s| s.to_string()).collect(),
            created: Some(created),
        }
    }

    #[test]
    fn kept_images_keep_their_parents_and_imports_and_young_stages_stay() {
        let now = 1_000_000;
        let old = now - 3 * 3600;
        let stages = vec![
            stage("a", "id-a", None, &[], old),
            stage("b", "id-b", Some("id-a"), &["id-x"], old),
            stage("x", "id-x", None, &[], old),
            stage("gone", "id-g", None, &[], old),
            stage("young", "id-y", None, &[], now - 60),
        ];
        let kept = vec![("id-b".to_string(), "app:v1".to_string())];
        let d: Vec<Decision> = decide(&stages, &kept, now)
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        use Decision::{Delete, Keep};
        assert_eq!(d, [Keep, Keep, Keep, Delete, Keep]);
        assert!(is_werf_stage(&format!("{}-1700000000000", "a".repeat(56))));
        assert!(!is_werf_stage(&format!(
            "{}-1700000000000-rejected",
            "a".repeat(56)
        )));
        assert!(!is_werf_stage(&format!("{}-1700000000000", "a".repeat(64))));
        assert!(!is_werf_stage("managed-image-app"));
    }
}
