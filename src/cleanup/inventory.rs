//! What the registry holds for the project: every tag of its images with the facts cleanup
//! decides by (commits, creation time, Slipway labels), tied to the commit records.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::stream::{self, StreamExt, TryStreamExt};

use super::{CleanupError, TagInfo};
use crate::cleanup::policy::IndexChild;
use crate::config::Config;
use crate::naming::Naming;
use crate::records::Records;
use crate::records::werf::WerfRecords;
use crate::registry::image::ImageIndex;
use crate::registry::{Client, Manifest, Repository, image};

/// Manifests read at once: enough to keep a registry's cores busy over one connection each
/// (the connection pool keeps as many idle).
const MANIFEST_READS: usize = 16;

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
    let repos: BTreeSet<String> = names
        .iter()
        .map(|n| naming.repository(n.as_deref()).map(|r| r.to_string()))
        .collect::<Result<_, _>>()?;
    let read = Read {
        client,
        configs: &configs,
        repos: &repos,
    };
    for name in &names {
        let repo = naming.repository(name.as_deref())?;
        let tags = client.list_tags(&repo).await?;
        let owned: Vec<String> = tags
            .into_iter()
            .filter(|t| naming.owns_tag(name.as_deref(), &names, t))
            .collect();
        out.reserve(owned.len());
        let shown: Arc<str> = repo.to_string().into();
        let (read, repo, shown) = (&read, &repo, &shown);
        // Each answer goes straight into the list: the manifest body is dropped as soon as
        // its digest and config are read.
        let mut infos = stream::iter(owned)
            .map(|tag| async move { tag_info(read, repo, shown, name, tag).await })
            .buffer_unordered(MANIFEST_READS);
        while let Some(info) = infos.try_next().await? {
            out.extend(info);
        }
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

type ConfigCache = std::sync::Mutex<BTreeMap<String, Arc<tokio::sync::OnceCell<ConfigFacts>>>>;

/// What reading a tag needs.
struct Read<'a> {
    client: &'a Client,
    configs: &'a ConfigCache,
    /// The project's repositories: an `ENV` value `REPO:TAG` in one of them is a reference
    /// (a stapel dependency's `ImageName`) cleanup keeps while the image is kept.
    repos: &'a BTreeSet<String>,
}

async fn tag_info(
    read: &Read<'_>,
    repo: &Repository,
    shown: &Arc<str>,
    image: &Option<String>,
    tag: String,
) -> Result<Option<TagInfo>, CleanupError> {
    let Some((body, info)) = read.client.get_manifest(repo, &tag).await? else {
        return Ok(None);
    };
    let manifest = Manifest::parse(&body).ok();
    drop(body);
    let mut children = Vec::new();
    let facts = match &manifest {
        Some(Manifest::Index(index)) => {
            children = index_children(index);
            index_facts(read, repo, index, &children).await?
        }
        Some(m) => match m.config() {
            Some(c) => config_facts(read, repo, c.digest().as_ref()).await?,
            None => ConfigFacts::default(),
        },
        None => ConfigFacts::default(),
    };
    Ok(Some(TagInfo {
        image: image.clone(),
        repository: shown.clone(),
        tag,
        digest: info.digest,
        commits: facts.commit.iter().cloned().collect(),
        created: facts.created,
        labels: facts.labels,
        references: facts.references,
        children,
    }))
}

/// The manifests an index lists, with their platforms (`os/arch[/variant]`).
fn index_children(index: &ImageIndex) -> Vec<IndexChild> {
    index
        .manifests()
        .iter()
        .map(|d| IndexChild {
            digest: d.digest().to_string(),
            platform: d
                .platform()
                .as_ref()
                .map(|p| {
                    let mut s = format!("{}/{}", p.os(), p.architecture());
                    if let Some(v) = p.variant().as_deref().filter(|v| !v.is_empty()) {
                        s = format!("{s}/{v}");
                    }
                    s
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// An index has no config to label (issue 34): its facts are those all its platforms'
/// configs agree on (a platform reused from an earlier commit keeps that commit's label and
/// branch, which are not the index's), its creation time the newest of theirs, its
/// references those of any platform, and its content signature the index's annotation
/// (each platform's config carries that platform's own signature, which no commit record
/// names).
async fn index_facts(
    read: &Read<'_>,
    repo: &Repository,
    index: &ImageIndex,
    children: &[IndexChild],
) -> Result<ConfigFacts, CleanupError> {
    let mut all = Vec::with_capacity(children.len());
    for c in children {
        all.push(child_facts(read, repo, &c.digest).await?);
    }
    let mut facts = all.first().cloned().unwrap_or_default();
    let mut labels = facts.labels.as_ref().clone();
    let mut references = facts.references.as_ref().clone();
    for other in &all[1.min(all.len())..] {
        if other.commit != facts.commit {
            facts.commit = None;
        }
        facts.created = facts.created.max(other.created);
        labels.retain(|k, v| other.labels.get(k) == Some(v));
        references.extend(other.references.iter().cloned());
    }
    references.sort();
    references.dedup();
    let signature = index
        .annotations()
        .as_ref()
        .and_then(|a| a.get(crate::labels::SIGNATURE))
        .cloned();
    match signature {
        Some(s) => labels.insert(crate::labels::SIGNATURE.to_string(), s),
        None => labels.remove(crate::labels::SIGNATURE),
    };
    facts.labels = Arc::new(labels);
    facts.references = Arc::new(references);
    Ok(facts)
}

/// The config facts of a platform manifest, read once per repository and digest (the
/// indexes of one image's tags list the same manifests).
async fn child_facts(
    read: &Read<'_>,
    repo: &Repository,
    digest: &str,
) -> Result<ConfigFacts, CleanupError> {
    let key = format!("{repo}@{digest}");
    let cell = match read.configs.lock() {
        Ok(mut m) => m.entry(key).or_default().clone(),
        Err(_) => Arc::default(),
    };
    let facts = cell
        .get_or_try_init(|| async {
            let config = read
                .client
                .get_manifest(repo, digest)
                .await?
                .and_then(|(body, _)| Manifest::parse(&body).ok())
                .and_then(|m| m.config().map(|c| c.digest().to_string()));
            match config {
                Some(c) => config_facts(read, repo, &c).await,
                None => Ok(ConfigFacts::default()),
            }
        })
        .await?;
    Ok(facts.clone())
}

/// The facts of one image config, read once per repository and digest: the first tag to
/// ask reads it, the tags asking meanwhile wait for that answer (16 tags of one image in
/// flight would otherwise read its config 16 times).
async fn config_facts(
    read: &Read<'_>,
    repo: &Repository,
    cfg_digest: &str,
) -> Result<ConfigFacts, CleanupError> {
    let key = format!("{repo}@{cfg_digest}");
    let cell = match read.configs.lock() {
        Ok(mut m) => m.entry(key).or_default().clone(),
        Err(_) => Arc::default(),
    };
    let facts = cell
        .get_or_try_init(|| read_config(read.client, repo, cfg_digest, read.repos))
        .await?;
    Ok(facts.clone())
}

async fn read_config(
    client: &Client,
    repo: &Repository,
    cfg_digest: &str,
    repos: &BTreeSet<String>,
) -> Result<ConfigFacts, CleanupError> {
    let cfg = client.get_config(repo, cfg_digest).await?;
    let label = |k: &str| {
        cfg.as_ref()
            .and_then(|c| image::label(c, k))
            .map(str::to_string)
    };
    let env = cfg
        .as_ref()
        .and_then(|c| c.config().as_ref())
        .and_then(|c| c.env().clone())
        .unwrap_or_default();
    Ok(ConfigFacts {
        references: Arc::new(project_references(&env, repos)),
        commit: label("slipway.git-commit"),
        created: cfg
            .as_ref()
            .and_then(|c| c.created().as_deref())
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .map(|t| t.timestamp()),
        labels: Arc::new(
            [
                "slipway.git-branch",
                "slipway.git-tag",
                crate::labels::SIGNATURE,
                crate::records::werf::CONTENT_SIGNATURE_LABEL,
            ]
            .iter()
            .filter_map(|k| label(k).map(|v| (k.to_string(), v)))
            .collect(),
        ),
    })
}

/// What an image config tells cleanup; its labels are shared by every tag of the config.
#[derive(Debug, Clone, Default)]
struct ConfigFacts {
    commit: Option<String>,
    created: Option<i64>,
    labels: Arc<BTreeMap<String, String>>,
    references: Arc<Vec<String>>,
}

/// The `ENV` values (`KEY=REPO:TAG`) naming a tag of one of `repos`: what a stapel
/// dependant's `ImageName` import left in its config.
fn project_references(env: &[String], repos: &BTreeSet<String>) -> Vec<String> {
    let mut out: Vec<String> = env
        .iter()
        .filter_map(|e| e.split_once('=').map(|(_, v)| v))
        .filter(|v| {
            v.rsplit_once(':')
                .is_some_and(|(r, t)| !t.is_empty() && !t.contains('/') && repos.contains(r))
        })
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_env_values_naming_a_project_repository_are_references() {
        let repos: BTreeSet<String> = ["r.example:5000/shop/a".to_string()].into();
        let env = [
            "A_NAME=r.example:5000/shop/a:0123abcd",
            "A_REPO=r.example:5000/shop/a",
            "OTHER=r.example:5000/shop/b:v1",
            "PATH=/usr/bin:/bin",
            "A_AGAIN=r.example:5000/shop/a:0123abcd",
        ]
        .map(String::from);
        assert_eq!(
            project_references(&env, &repos),
            vec!["r.example:5000/shop/a:0123abcd".to_string()]
        );
    }
}
