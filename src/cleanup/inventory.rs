//! What the registry holds for the project: every tag of its images with the facts cleanup
//! decides by (commits, creation time, Slipway labels), tied to the commit records.

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt, TryStreamExt};

use super::{CleanupError, TagInfo};
use crate::config::Config;
use crate::naming::Naming;
use crate::records::Records;
use crate::records::werf::WerfRecords;
use crate::registry::{Client, Manifest, Repository, image};

/// Read every tag of the project's images (bounded concurrency): the images of werf.yaml
/// and those the commit records name that werf.yaml no longer lists.
pub async fn inventory(
    client: &Client,
    config: &Config,
    naming: &Naming,
    records: &Records,
) -> Result<Vec<TagInfo>, CleanupError> {
    let mut names: Vec<Option<String>> = config.images.iter().map(|i| i.name.clone()).collect();
    for name in records.images.values() {
        if !names.contains(name) && name.as_deref() != Some(crate::naming::META_IMAGE) {
            tracing::info!(
                image = %crate::naming::name::ImageName::from(name.as_deref()),
                "not in werf.yaml any more; its published tags are cleaned up by the same rules"
            );
            names.push(name.clone());
        }
    }
    let mut out = Vec::new();
    // Tags of one image share its config: read each config once.
    let configs: ConfigCache = std::sync::Mutex::new(BTreeMap::new());
    for name in &names {
        let repo = naming.repository(name.as_deref())?;
        let tags = client.list_tags(&repo).await?;
        let owned: Vec<String> = tags
            .into_iter()
            .filter(|t| naming.owns_tag(name.as_deref(), &names, t))
            .collect();
        let configs = &configs;
        let infos: Vec<Option<TagInfo>> = stream::iter(owned)
            .map(|tag| {
                let repo = repo.clone();
                let name = name.clone();
                async move { tag_info(client, &repo, name, tag, configs).await }
            })
            .buffer_unordered(16)
            .try_collect()
            .await?;
        out.extend(infos.into_iter().flatten());
    }
    out.sort_by(|a, b| (&a.repository, &a.tag).cmp(&(&b.repository, &b.tag)));
    Ok(out)
}

/// Tie each tag to every commit that published its image with its content signature (the
/// commit records), so a squash merge, a rebase or a re-tag that published the same content
/// keeps it alive. A tag with no record was published before Slipway recorded commits: its
/// commits are left empty, which keeps it (werf keeps tags without image metadata), unless
/// `delete_unrecorded` (`--git-history-based-cleanup-v1.2`, werf 1.1.36's mode).
pub fn link_records(tags: &mut [TagInfo], records: &Records) {
    for t in tags.iter_mut() {
        let recorded = records.commits(t.image.as_deref(), t.signature());
        if recorded.is_empty() {
            t.commits.clear();
            continue;
        }
        for c in recorded {
            if !t.commits.contains(&c) {
                t.commits.push(c);
            }
        }
        t.commits.sort();
    }
}

/// Tie each tag werf 1.1 published to the commits werf's image metadata records say
/// published its content signature (as werf 1.1.36 groups them:
/// pkg/cleaning/images_cleanup.go:659-686, 965-990), beside Slipway's own records.
pub fn link_werf_records(tags: &mut [TagInfo], werf: &WerfRecords) {
    for t in tags.iter_mut().filter(|t| t.werf_era()) {
        let sig = t.signature().to_string();
        for m in werf.published(t.image.as_deref(), &sig) {
            if !t.commits.contains(&m.commit) {
                t.commits.push(m.commit.clone());
            }
        }
        t.commits.sort();
    }
}

type ConfigCache = std::sync::Mutex<BTreeMap<String, ConfigFacts>>;

async fn tag_info(
    client: &Client,
    repo: &Repository,
    image: Option<String>,
    tag: String,
    configs: &ConfigCache,
) -> Result<Option<TagInfo>, CleanupError> {
    let Some((body, info)) = client.get_manifest(repo, &tag).await? else {
        return Ok(None);
    };
    let mut facts = ConfigFacts::default();
    let config = Manifest::parse(&body)
        .ok()
        .and_then(|m| m.config().map(|c| c.digest().to_string()));
    if let Some(cfg_digest) = config {
        let key = format!("{repo}@{cfg_digest}");
        let cached = configs.lock().ok().and_then(|m| m.get(&key).cloned());
        facts = match cached {
            Some(f) => f,
            None => {
                let cfg = client.get_config(repo, &cfg_digest).await?;
                let label = |k: &str| {
                    cfg.as_ref()
                        .and_then(|c| image::label(c, k))
                        .map(str::to_string)
                };
                let f = ConfigFacts {
                    commit: label("slipway.git-commit"),
                    created: cfg
                        .as_ref()
                        .and_then(|c| c.created().as_deref())
                        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                        .map(|t| t.timestamp()),
                    labels: [
                        "slipway.git-branch",
                        "slipway.git-tag",
                        crate::labels::SIGNATURE,
                        crate::records::werf::CONTENT_SIGNATURE_LABEL,
                    ]
                    .iter()
                    .filter_map(|k| label(k).map(|v| (k.to_string(), v)))
                    .collect(),
                };
                if let Ok(mut m) = configs.lock() {
                    m.insert(key, f.clone());
                }
                f
            }
        };
    }
    Ok(Some(TagInfo {
        image,
        repository: repo.to_string(),
        tag,
        digest: info.digest,
        commits: facts.commit.into_iter().collect(),
        created: facts.created,
        labels: facts.labels,
    }))
}

/// What an image config tells cleanup.
#[derive(Debug, Clone, Default)]
struct ConfigFacts {
    commit: Option<String>,
    created: Option<i64>,
    labels: BTreeMap<String, String>,
}
