//! What the registry holds for the project: every tag of its images with the facts cleanup
//! decides by (commits, creation time, Slipway labels), tied to the commit records.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::stream::{self, StreamExt, TryStreamExt};
use smol_str::SmolStr;

use super::{CleanupError, TagInfo};
use crate::cleanup::policy::{Facts, IndexChild, ManifestDigest};
use crate::config::Config;
use crate::naming::Naming;
use crate::records::Records;
use crate::records::werf::WerfRecords;
use crate::registry::image::ImageIndex;
use crate::registry::{Client, Manifest, Repository, image};

/// Manifests read at once: enough to keep a registry's cores busy over one connection each
/// (the connection pool keeps as many idle).
const MANIFEST_READS: usize = 16;
/// Tag names handed to the manifest reads at a time (see [`inventory`]).
const NAMES_CHUNK: usize = 4096;

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
    // Tags of one image share its config: read each config once.
    let configs: Cache = std::sync::Mutex::new(BTreeMap::new());
    let repos: BTreeSet<String> = names
        .iter()
        .map(|n| naming.repository(n.as_deref()).map(|r| r.to_string()))
        .collect::<Result<_, _>>()?;
    let read = Read {
        client,
        configs: &configs,
        repos: &repos,
    };
    let mut out: Vec<TagInfo> = Vec::new();
    for name in &names {
        let repo = naming.repository(name.as_deref())?;
        let shown: Arc<str> = repo.to_string().into();
        let img = Image { name, shown };
        let (read, repo, img) = (&read, &repo, &img);
        // A page of names at a time: what is kept of a tag is smaller than its name as the
        // registry lists it, and the list of every name is never held.
        let mut listing = client.tag_pages(repo);
        while let Some(page) = listing.next().await? {
            let mut owned: Vec<SmolStr> = page;
            owned.retain(|t| naming.owns_tag(name.as_deref(), &names, t));
            // Room for this page's tags, exactly: a registry that does not paginate (Debian's
            // docker-registry) lists every tag on one page, which is one allocation of the
            // plan's size and no copy.
            out.reserve_exact(owned.len());
            // A registry that does not paginate lists every tag on one page: its names go
            // a chunk at a time, each chunk's space given back before the next (from the
            // end: the order is made at the end).
            while !owned.is_empty() {
                let chunk = owned.split_off(owned.len().saturating_sub(NAMES_CHUNK));
                owned.shrink_to_fit();
                // Each answer goes straight into the list: the manifest body is dropped as
                // soon as its digest and config are read.
                let mut answers = stream::iter(chunk)
                    .map(|tag| async move { tag_info(read, repo, img, tag).await })
                    .buffer_unordered(MANIFEST_READS);
                while let Some(info) = answers.try_next().await? {
                    out.extend(info);
                }
            }
        }
    }
    // (repository, tag) is unique: an unstable sort gives the same order without the
    // stable sort's copy of the list.
    out.sort_unstable_by(|a, b| (&a.repository, &a.tag).cmp(&(&b.repository, &b.tag)));
    Ok(out)
}

/// Tie each tag to every commit that published its image with its content signature (the
/// commit records), so a squash merge, a rebase or a re-tag that published the same content
/// keeps it alive. A tag with no record was published before Slipway recorded commits: its
/// commits are left empty, which keeps it (werf keeps tags without image metadata), unless
/// `delete_unrecorded` (`--git-history-based-cleanup-v1.2`, werf 1.1.36's mode).
pub fn link_records(tags: &mut [TagInfo], records: &Records) {
    relink(tags, |f, signature| {
        let recorded = records.commits(f.image.as_deref(), signature);
        if recorded.is_empty() {
            return Vec::new();
        }
        let mut commits = f.commits.clone();
        for c in recorded {
            if !commits.contains(&c) {
                commits.push(c);
            }
        }
        commits.sort();
        commits
    });
}

/// Tie each tag werf 1.1 published to the commits werf's image metadata records say
/// published its content signature (as werf 1.1.36 groups them:
/// pkg/cleaning/images_cleanup.go:659-686, 965-990), beside Slipway's own records.
pub fn link_werf_records(tags: &mut [TagInfo], werf: &WerfRecords) {
    relink(tags, |f, signature| {
        let mut commits = f.commits.clone();
        if !f.werf_era() {
            return commits;
        }
        for m in werf.published(f.image.as_deref(), signature) {
            if !commits.contains(&m.commit) {
                commits.push(m.commit.clone());
            }
        }
        commits.sort();
        commits
    });
}

/// Set each tag's commits to `commits(facts, signature)`. The tags of one config share
/// their facts and get one new copy between them (a copy per tag would be a list per tag).
/// A signature taken from the digest (no label) is the tag's own, and so is its answer.
fn relink(tags: &mut [TagInfo], commits: impl Fn(&Facts, &str) -> Vec<String>) {
    // Old facts → new; the old ones are held so that no address is reused meanwhile.
    let mut done: std::collections::HashMap<*const Facts, (Arc<Facts>, Arc<Facts>)> =
        Default::default();
    for t in tags.iter_mut() {
        let labelled = t.labelled_signature().is_some();
        let key = Arc::as_ptr(&t.facts);
        if labelled && let Some((_, new)) = done.get(&key) {
            t.facts = new.clone();
            continue;
        }
        let new = commits(&t.facts, &t.signature());
        if new != t.facts.commits {
            let old = t.facts.clone();
            Arc::make_mut(&mut t.facts).commits = new;
            if labelled {
                done.insert(key, (old, t.facts.clone()));
            }
        } else if labelled {
            done.insert(key, (t.facts.clone(), t.facts.clone()));
        }
    }
}

/// Facts by `repository@digest` (of a config, or of a platform manifest), each made once.
type Cache = std::sync::Mutex<BTreeMap<String, Arc<tokio::sync::OnceCell<Arc<Facts>>>>>;

/// What reading a tag needs.
struct Read<'a> {
    client: &'a Client,
    configs: &'a Cache,
    /// The project's repositories: an `ENV` value `REPO:TAG` in one of them is a reference
    /// (a stapel dependency's `ImageName`) cleanup keeps while the image is kept.
    repos: &'a BTreeSet<String>,
}

/// The image whose tags are read, and its repository as the plan shows it.
struct Image<'a> {
    name: &'a Option<String>,
    shown: Arc<str>,
}

impl Image<'_> {
    /// Facts that say nothing but whose tag it is.
    fn bare(&self) -> Facts {
        Facts {
            image: self.name.clone(),
            repository: self.shown.clone(),
            ..Facts::default()
        }
    }
}

/// The facts cached under `key`, made by `init` once: the first tag to ask makes them, the
/// tags asking meanwhile wait for that answer (16 tags of one image in flight would
/// otherwise read its config 16 times), and every tag holds the one copy.
async fn once<F>(read: &Read<'_>, key: String, init: F) -> Result<Arc<Facts>, CleanupError>
where
    F: std::future::Future<Output = Result<Facts, CleanupError>>,
{
    let cell = match read.configs.lock() {
        Ok(mut m) => m.entry(key).or_default().clone(),
        Err(_) => Arc::default(),
    };
    let facts = cell
        .get_or_try_init(|| async { Ok::<_, CleanupError>(Arc::new(init.await?)) })
        .await?;
    Ok(facts.clone())
}

async fn tag_info(
    read: &Read<'_>,
    repo: &Repository,
    image: &Image<'_>,
    tag: SmolStr,
) -> Result<Option<TagInfo>, CleanupError> {
    let Some((body, info)) = read.client.get_manifest(repo, &tag).await? else {
        return Ok(None);
    };
    let manifest = Manifest::parse(&body).ok();
    drop(body);
    let config = manifest
        .as_ref()
        .and_then(|m| m.config().map(|c| c.digest().to_string()));
    let facts = match (&manifest, config) {
        (Some(Manifest::Index(index)), _) => Arc::new(index_facts(read, repo, image, index).await?),
        (_, Some(c)) => config_facts(read, repo, image, &c).await?,
        (_, None) => once(read, format!("{repo}@"), async { Ok(image.bare()) }).await?,
    };
    Ok(Some(TagInfo {
        facts,
        tag,
        digest: ManifestDigest::new(&info.digest),
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
    image: &Image<'_>,
    index: &ImageIndex,
) -> Result<Facts, CleanupError> {
    let children = index_children(index);
    let mut all = Vec::with_capacity(children.len());
    for c in &children {
        all.push(child_facts(read, repo, image, &c.digest).await?);
    }
    let mut facts = all
        .first()
        .map_or_else(|| image.bare(), |f| Facts::clone(f));
    for other in &all[1.min(all.len())..] {
        if other.commits != facts.commits {
            facts.commits.clear();
        }
        facts.created = facts.created.max(other.created);
        facts.labels.retain(|k, v| other.labels.get(k) == Some(v));
        facts.references.extend(other.references.iter().cloned());
    }
    facts.references.sort();
    facts.references.dedup();
    let signature = index
        .annotations()
        .as_ref()
        .and_then(|a| a.get(crate::labels::SIGNATURE))
        .cloned();
    match signature {
        Some(s) => facts.labels.insert(crate::labels::SIGNATURE.to_string(), s),
        None => facts.labels.remove(crate::labels::SIGNATURE),
    };
    facts.children = children;
    Ok(facts)
}

/// The config facts of a platform manifest, read once per repository and digest (the
/// indexes of one image's tags list the same manifests).
async fn child_facts(
    read: &Read<'_>,
    repo: &Repository,
    image: &Image<'_>,
    digest: &str,
) -> Result<Arc<Facts>, CleanupError> {
    once(read, format!("{repo}@{digest}"), async {
        let config = read
            .client
            .get_manifest(repo, digest)
            .await?
            .and_then(|(body, _)| Manifest::parse(&body).ok())
            .and_then(|m| m.config().map(|c| c.digest().to_string()));
        Ok(match config {
            Some(c) => Facts::clone(&*config_facts(read, repo, image, &c).await?),
            None => image.bare(),
        })
    })
    .await
}

/// The facts of one image config, read once per repository and digest.
async fn config_facts(
    read: &Read<'_>,
    repo: &Repository,
    image: &Image<'_>,
    cfg_digest: &str,
) -> Result<Arc<Facts>, CleanupError> {
    let init = read_config(read.client, repo, image, cfg_digest, read.repos);
    once(read, format!("{repo}@{cfg_digest}"), init).await
}

async fn read_config(
    client: &Client,
    repo: &Repository,
    image: &Image<'_>,
    cfg_digest: &str,
    repos: &BTreeSet<String>,
) -> Result<Facts, CleanupError> {
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
    Ok(Facts {
        references: project_references(&env, repos),
        commits: label("slipway.git-commit").into_iter().collect(),
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
        ..image.bare()
    })
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
