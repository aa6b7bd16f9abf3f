//! Cleanup and purge: inventory what the registry holds for the project's images, decide
//! with git-aware keep policies (a plan you can print), then delete through the registry.

pub mod policy;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use futures::stream::{self, StreamExt, TryStreamExt};

use crate::config::Config;
use crate::naming::{Naming, NamingError};
use crate::registry::vendors::deleter::{Deleted, Deleter, ManifestDelete, VendorCredentials};
use crate::registry::vendors::{self, Implementation};
use crate::registry::{Client, RegistryError, Repository};
pub use policy::{Decision, GitRef, Item, Options, Plan, TagInfo};

#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Naming(#[from] NamingError),
    #[error("git repository at {path}: {cause}")]
    Git { path: String, cause: String },
    #[error(
        "{0} is a shallow clone: cleanup needs the git history to know which images are still used; run `git fetch --unshallow` (in GitLab CI: GIT_DEPTH: 0)"
    )]
    Shallow(String),
    #[error("{0} is not in a git repository: cleanup keeps images by git history")]
    NoGit(String),
    #[error("another cleanup of {repos} is running (lock {lock}); wait for it to finish")]
    Locked { repos: String, lock: String },
    #[error("{0}")]
    Io(String),
}

/// Read every tag of the project's images (bounded concurrency).
pub async fn inventory(
    client: &Client,
    config: &Config,
    naming: &Naming,
) -> Result<Vec<TagInfo>, CleanupError> {
    let names: Vec<Option<String>> = config.images.iter().map(|i| i.name.clone()).collect();
    let mut out = Vec::new();
    let mut seen_repos: Vec<Repository> = Vec::new();
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
        seen_repos.push(repo);
    }
    out.sort_by(|a, b| (&a.repository, &a.tag).cmp(&(&b.repository, &b.tag)));
    Ok(out)
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
    let m: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut facts = ConfigFacts::default();
    if let Some(cfg_digest) = m["config"]["digest"].as_str() {
        let key = format!("{repo}@{cfg_digest}");
        let cached = configs.lock().ok().and_then(|m| m.get(&key).cloned());
        facts = match cached {
            Some(f) => f,
            None => {
                let cfg = client.get_blob_bytes(repo, cfg_digest).await?;
                let cfg: serde_json::Value = serde_json::from_slice(&cfg).unwrap_or_default();
                let labels = &cfg["config"]["Labels"];
                let label = |k: &str| labels[k].as_str().map(str::to_string);
                let f = ConfigFacts {
                    commit: label("slipway.git-commit"),
                    created: cfg["created"]
                        .as_str()
                        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                        .map(|t| t.timestamp()),
                    labels: [
                        "slipway.git-branch",
                        "slipway.git-tag",
                        crate::signature::LABEL,
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
        commit: facts.commit,
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

/// Which of these commits exist in the repository at `dir`.
pub fn existing_commits(
    dir: &Path,
    commits: &[String],
) -> Result<std::collections::BTreeSet<String>, CleanupError> {
    let repo = git2::Repository::discover(dir)
        .map_err(|_| CleanupError::NoGit(dir.display().to_string()))?;
    Ok(commits
        .iter()
        .filter(|c| {
            git2::Oid::from_str(c)
                .ok()
                .and_then(|o| repo.find_commit(o).ok())
                .is_some()
        })
        .cloned()
        .collect())
}

/// Branches (local and remote-tracking), tags, their head times and histories.
pub fn git_refs(dir: &Path, max_history: usize) -> Result<Vec<GitRef>, CleanupError> {
    let err = |e: git2::Error| CleanupError::Git {
        path: dir.display().to_string(),
        cause: e.message().to_string(),
    };
    let repo = match git2::Repository::discover(dir) {
        Ok(r) => r,
        Err(e) if e.code() == git2::ErrorCode::NotFound => {
            return Err(CleanupError::NoGit(dir.display().to_string()));
        }
        Err(e) => return Err(err(e)),
    };
    if repo.is_shallow() {
        return Err(CleanupError::Shallow(dir.display().to_string()));
    }
    let mut by_name: BTreeMap<(bool, String), GitRef> = BTreeMap::new();
    for r in repo.references().map_err(err)? {
        let r = r.map_err(err)?;
        let Some(full) = r.name() else { continue };
        let (is_tag, name) = if let Some(n) = full.strip_prefix("refs/heads/") {
            (false, n.to_string())
        } else if let Some(n) = full.strip_prefix("refs/remotes/") {
            match n.split_once('/') {
                Some((_, "HEAD")) | None => continue,
                Some((_, b)) => (false, b.to_string()),
            }
        } else if let Some(n) = full.strip_prefix("refs/tags/") {
            (true, n.to_string())
        } else {
            continue;
        };
        let Ok(commit) = r.peel_to_commit() else {
            continue;
        };
        let time = commit.time().seconds();
        let mut walk = repo.revwalk().map_err(err)?;
        walk.push(commit.id()).map_err(err)?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)
            .map_err(err)?;
        let history: Vec<String> = walk
            .filter_map(Result::ok)
            .take(max_history)
            .map(|o| o.to_string())
            .collect();
        let g = GitRef {
            name: name.clone(),
            is_tag,
            time,
            history,
        };
        match by_name.get(&(is_tag, name.clone())) {
            Some(existing) if existing.time >= time => {}
            _ => {
                by_name.insert((is_tag, name), g);
            }
        }
    }
    Ok(by_name.into_values().collect())
}

/// Holds a lock file for the cleanup of some repositories; released on drop.
pub struct Lock {
    _file: std::fs::File,
}

/// Take the cleanup lock for these repositories (on this machine), or say who holds it.
pub fn lock(repos: &[String]) -> Result<Lock, CleanupError> {
    use sha2::Digest;
    let key = hex::encode(sha2::Sha256::digest(repos.join("\n").as_bytes()));
    let path = std::env::temp_dir().join(format!("slipway-cleanup-{}.lock", &key[..16]));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| CleanupError::Io(format!("{}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(Lock { _file: file }),
        Err(_) => Err(CleanupError::Locked {
            repos: repos.join(", "),
            lock: path.display().to_string(),
        }),
    }
}

/// The lock for every repository of the project.
pub fn lock_project(config: &Config, naming: &Naming) -> Result<Lock, CleanupError> {
    let repos: Vec<String> = config
        .images
        .iter()
        .map(|i| naming.repository(i.name.as_deref()).map(|r| r.to_string()))
        .collect::<Result<_, _>>()?;
    lock(&repos)
}

/// What execution did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Outcome {
    pub deleted_manifests: usize,
    pub deleted_tags: usize,
    pub failures: Vec<String>,
}

/// Delete what the plan deletes, through the registry implementation's own API where it
/// deletes single tags, else each manifest once by digest. A failed deletion is a warning;
/// an authorization failure stops the run.
pub async fn execute(
    client: &Client,
    plan: &Plan,
    implementation: Implementation,
    creds: &VendorCredentials,
) -> Result<Outcome, CleanupError> {
    match implementation {
        Implementation::GitLab => run_deleter(client, plan, &vendors::gitlab::GitLab).await,
        Implementation::Acr => run_deleter(client, plan, &vendors::acr::Acr).await,
        Implementation::Quay => run_deleter(client, plan, &vendors::quay::Quay(creds)).await,
        Implementation::Gcr => run_deleter(client, plan, &vendors::gcr::Gcr).await,
        Implementation::Ecr => run_deleter(client, plan, &vendors::ecr::Ecr(creds)).await,
        Implementation::GitHub => run_deleter(client, plan, &vendors::github::GitHub(creds)).await,
        Implementation::DockerHub => {
            run_deleter(client, plan, &vendors::dockerhub::DockerHub::new(creds)).await
        }
        _ => run_deleter(client, plan, &ManifestDelete).await,
    }
}

async fn run_deleter<D: Deleter>(
    client: &Client,
    plan: &Plan,
    d: &D,
) -> Result<Outcome, CleanupError> {
    let mut out = Outcome::default();
    // (repository, tag, digest) to delete: every tag, or one tag per manifest.
    let mut jobs: Vec<(String, String, String)> = Vec::new();
    for i in plan.deletions() {
        let t = &i.tag;
        let first_of_digest = !jobs
            .iter()
            .any(|(r, _, dg)| *r == t.repository && *dg == t.digest);
        if d.deletes_single_tags() || first_of_digest {
            jobs.push((t.repository.clone(), t.tag.clone(), t.digest.clone()));
        }
    }
    for (repo, tag, digest) in jobs {
        let Ok(r) = crate::registry::reference::Repository::parse(&repo) else {
            continue;
        };
        match d.delete(client, &r, &tag, &digest).await {
            Ok(Deleted::Tag) => out.deleted_tags += 1,
            Ok(Deleted::Manifest) => {
                out.deleted_manifests += 1;
                out.deleted_tags += plan
                    .deletions()
                    .filter(|i| i.tag.repository == repo && i.tag.digest == digest)
                    .count();
            }
            Err(e @ (RegistryError::Unauthorized { .. } | RegistryError::Denied { .. })) => {
                return Err(CleanupError::Registry(e));
            }
            Err(e) => {
                tracing::warn!("deleting {repo}:{tag}: {e}");
                out.failures.push(format!("{repo}:{tag} ({digest}): {e}"));
            }
        }
    }
    // Digests whose deleted tags are all gone (the safety rule guarantees no kept tag uses them).
    if d.deletes_single_tags() {
        for (repo, digest) in policy::digests_to_delete(plan) {
            let failed = out.failures.iter().any(|f| f.contains(&digest));
            let Ok(r) = crate::registry::reference::Repository::parse(&repo) else {
                continue;
            };
            if !failed && let Err(e) = d.after_digest(client, &r, &digest).await {
                out.failures.push(format!("{repo}@{digest}: {e}"));
            }
        }
    }
    Ok(out)
}

/// Options built from the CLI.
pub fn options(keep_tags: &[String], min_age: Duration) -> Result<Options, CleanupError> {
    let keep_tags = keep_tags
        .iter()
        .map(|k| {
            regex::Regex::new(k).map_err(|e| CleanupError::Io(format!("--keep-tag {k:?}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Ok(Options {
        keep_tags,
        min_age,
        now,
    })
}

/// How to free the blobs after deleting manifests.
pub const GC_HINT: &str = "Deleted manifests free no disk space until the registry's garbage collection runs: `registry garbage-collect /etc/docker/registry/config.yml` (CNCF distribution, Harbor's GC job), `gitlab-ctl registry-garbage-collect` (GitLab Omnibus).";
