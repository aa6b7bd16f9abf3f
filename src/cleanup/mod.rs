//! Cleanup and purge: inventory what the registry holds for the project's images, decide
//! with git-aware keep policies (a plan you can print), then delete through the registry.

mod inventory;
pub mod kube;
pub mod managed;
pub mod policy;
pub mod report;
pub mod request;
pub mod run;
pub mod stages;
pub mod werf_stages;

use std::time::Duration;

use crate::config::Config;
pub use crate::git::history::{Commit, GitHistory, GitRef};
use crate::naming::{Naming, NamingError};
use crate::registry::vendors::{self, Deleted, Implementation, Vendor, VendorCredentials};
use crate::registry::{Client, RegistryError};
use crate::settings::Paths;
pub use inventory::{inventory, link_records, link_werf_records};
pub use policy::{Decision, InUse, Item, Options, Plan, TagInfo, UsedImage};

#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Naming(#[from] NamingError),
    #[error(transparent)]
    History(#[from] crate::git::history::HistoryError),
    #[error(transparent)]
    Kube(#[from] kube::KubeError),
    #[error("another cleanup of {repos} is running (lock {lock}); wait for it to finish")]
    Locked { repos: String, lock: String },
    #[error("{0}")]
    Io(String),
    #[error("--keep-tag {pattern:?} is not a valid regex: {cause}")]
    KeepTag { pattern: String, cause: String },
    #[error(
        "CI=true and the remote-tracking branches of this clone may be incomplete (CI checkouts fetch only the pipeline's branch), so images of live branches could look unused: deleting nothing. Pass --git-history-synchronization (WERF_GIT_HISTORY_SYNCHRONIZATION=1) to fetch every branch and tag of origin first."
    )]
    CiHistoryIncomplete,
    #[error(transparent)]
    Records(#[from] crate::records::RecordsError),
    #[error("--min-age {value:?}: {cause}")]
    MinAge { value: String, cause: String },
    #[error("${name} {value:?}: {cause}")]
    Variable {
        name: String,
        value: String,
        cause: String,
    },
    #[error(
        "managed-images needs --images-repo (Slipway's list) or -s/--stages-storage (werf 1.1's records)"
    )]
    NoManagedImagesList,
    #[error(transparent)]
    Unreachable(#[from] crate::daemon::Unreachable),
    #[error(transparent)]
    Daemon(#[from] bollard::errors::Error),
    #[error("--images-repo is required for {command}")]
    NoImagesRepo { command: &'static str },
    /// The registry refused a DELETE: [`report::DELETE_RIGHTS`] says what to give.
    #[error("{0}: {rights}", rights = report::DELETE_RIGHTS)]
    DeleteRefused(RegistryError),
}

/// Holds a lock file for the cleanup of some repositories; released on drop.
pub struct Lock {
    _file: std::fs::File,
}

/// Take the cleanup lock for these repositories (on this machine), or say who holds it.
pub fn lock(repos: &[String], paths: &Paths) -> Result<Lock, CleanupError> {
    use sha2::Digest;
    let key = hex::encode(sha2::Sha256::digest(repos.join("\n").as_bytes()));
    let path = paths.cleanup_lock(&key[..16]);
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
pub fn lock_project(config: &Config, naming: &Naming, paths: &Paths) -> Result<Lock, CleanupError> {
    let repos: Vec<String> = config
        .images
        .iter()
        .map(|i| naming.repository(i.name.as_deref()).map(|r| r.to_string()))
        .collect::<Result<_, _>>()?;
    lock(&repos, paths)
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
    run_deleter(
        client,
        plan,
        vendors::for_implementation(implementation, creds).as_ref(),
    )
    .await
}

async fn run_deleter(
    client: &Client,
    plan: &Plan,
    d: &dyn Vendor,
) -> Result<Outcome, CleanupError> {
    let mut out = Outcome::default();
    // (repository, tag, digest) to delete: every tag, or one tag per manifest.
    let mut jobs: Vec<(String, String, String)> = Vec::new();
    let mut digests: std::collections::HashSet<(&str, &policy::ManifestDigest)> =
        Default::default();
    // Indexes first: a platform manifest an index lists never goes before the index.
    let (indexes, images): (Vec<Item<'_>>, Vec<Item<'_>>) =
        plan.deletions().partition(|i| !i.tag.children.is_empty());
    for i in indexes.into_iter().chain(images) {
        let t = &i.tag;
        let first_of_digest = digests.insert((&*t.repository, &t.digest));
        if d.deletes_single_tags() || first_of_digest {
            jobs.push((
                t.repository.to_string(),
                t.tag.to_string(),
                t.digest.to_string(),
            ));
        }
    }
    // Counted once each: a tag whose own DELETE succeeded or whose manifest this run
    // deleted; a manifest whose DELETE succeeded (a 404 after another tag's delete took it
    // is neither).
    let mut tags_gone: std::collections::BTreeSet<(String, String)> = Default::default();
    let mut manifests_gone: std::collections::BTreeSet<(String, String)> = Default::default();
    // Indexes whose delete failed: what they list stays (no index left dangling).
    let mut failed: std::collections::BTreeSet<(String, String)> = Default::default();
    for (repo, tag, digest) in jobs {
        let Ok(r) = crate::registry::reference::Repository::parse(&repo) else {
            continue;
        };
        if let Some(index) = listed_by_failed(plan, &failed, &repo, &digest) {
            out.failures.push(format!(
                "{repo}:{tag} ({digest}): not deleted, index {index} that lists it was not"
            ));
            continue;
        }
        match d.delete(client, &r, &tag, &digest).await {
            Ok(Deleted::Tag) => {
                tags_gone.insert((repo.clone(), tag.clone()));
            }
            Ok(Deleted::Manifest) => {
                // Its provenance goes with it (the fallback index and what it lists).
                if let Err(e) = crate::provenance::attach::detach(client, &r, &digest).await {
                    tracing::warn!("deleting the referrers of {repo}@{digest}: {e}");
                }
                manifests_gone.insert((repo.clone(), digest.clone()));
                for i in plan
                    .deletions()
                    .filter(|i| *i.tag.repository == *repo && i.tag.digest == digest)
                {
                    tags_gone.insert((repo.clone(), i.tag.tag.to_string()));
                }
            }
            Ok(Deleted::Gone) => {}
            Err(e @ (RegistryError::Unauthorized { .. } | RegistryError::Denied { .. })) => {
                return Err(CleanupError::Registry(e));
            }
            Err(e) => {
                tracing::warn!("deleting {repo}:{tag}: {e}");
                out.failures.push(format!("{repo}:{tag} ({digest}): {e}"));
                failed.insert((repo.clone(), digest.clone()));
            }
        }
    }
    delete_children(client, plan, &failed, &mut out, &mut manifests_gone).await?;
    out.deleted_tags = tags_gone.len();
    out.deleted_manifests = manifests_gone.len();
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

/// The failed index delete that keeps the manifest `digest` of `repo`, if any.
fn listed_by_failed<'a>(
    plan: &'a Plan,
    failed: &std::collections::BTreeSet<(String, String)>,
    repo: &str,
    digest: &str,
) -> Option<&'a str> {
    plan.children
        .iter()
        .filter(|c| *c.repository == *repo && c.digest == digest)
        .flat_map(|c| &c.indexes)
        .find(|i| failed.contains(&(repo.to_string(), i.to_string())))
        .map(String::as_str)
}

/// Delete the platform manifests the plan deletes (issue 34), each by digest after the
/// indexes that list it, with its provenance; one whose index was not deleted stays.
async fn delete_children(
    client: &Client,
    plan: &Plan,
    failed: &std::collections::BTreeSet<(String, String)>,
    out: &mut Outcome,
    manifests_gone: &mut std::collections::BTreeSet<(String, String)>,
) -> Result<(), CleanupError> {
    for c in plan
        .children
        .iter()
        .filter(|c| c.decision == Decision::Delete)
    {
        let repo = c.repository.to_string();
        if let Some(index) = listed_by_failed(plan, failed, &repo, &c.digest) {
            out.failures.push(format!(
                "{repo}@{} ({}): not deleted, index {index} that lists it was not",
                c.digest, c.platform
            ));
            continue;
        }
        let Ok(r) = crate::registry::reference::Repository::parse(&repo) else {
            continue;
        };
        match client.delete_manifest(&r, &c.digest).await {
            Ok(deleted) => {
                if let Err(e) = crate::provenance::attach::detach(client, &r, &c.digest).await {
                    tracing::warn!("deleting the referrers of {repo}@{}: {e}", c.digest);
                }
                if deleted {
                    manifests_gone.insert((repo, c.digest.clone()));
                }
            }
            Err(e @ (RegistryError::Unauthorized { .. } | RegistryError::Denied { .. })) => {
                return Err(CleanupError::Registry(e));
            }
            Err(e) => {
                tracing::warn!("deleting {repo}@{}: {e}", c.digest);
                out.failures
                    .push(format!("{repo}@{} ({}): {e}", c.digest, c.platform));
            }
        }
    }
    Ok(())
}

/// Options built from the CLI.
pub fn options(keep_tags: &[String], min_age: Duration) -> Result<Options, CleanupError> {
    let keep_tags = keep_tags
        .iter()
        .map(|k| {
            regex::Regex::new(k).map_err(|e| CleanupError::KeepTag {
                pattern: k.clone(),
                cause: e.to_string(),
            })
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
        delete_unrecorded: false,
        werf_unrecorded: policy::WerfUnrecorded::Delete,
    })
}

/// How to free the blobs after deleting manifests.
pub const GC_HINT: &str = "Deleted manifests free no disk space until the registry's garbage collection runs: `registry garbage-collect /etc/docker/registry/config.yml` (CNCF distribution, Harbor's GC job), `gitlab-ctl registry-garbage-collect` (GitLab Omnibus).";

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures::future::BoxFuture;

    use super::*;
    use crate::registry::{RegistryOptions, Repository};

    /// A tag-deleting vendor whose tag API is missing (404, as GitLab's on a plain
    /// registry): it deletes the manifest instead, and the manifest is gone the second time.
    struct TagApiMissing {
        manifests: Mutex<std::collections::BTreeSet<String>>,
    }

    impl Vendor for TagApiMissing {
        fn deletes_single_tags(&self) -> bool {
            true
        }
        fn delete<'a>(
            &'a self,
            _client: &'a Client,
            _repo: &'a Repository,
            _tag: &'a str,
            digest: &'a str,
        ) -> BoxFuture<'a, Result<Deleted, RegistryError>> {
            let deleted = self
                .manifests
                .lock()
                .map(|mut m| m.remove(digest))
                .unwrap_or(false);
            Box::pin(async move { Ok(Deleted::manifest(deleted)) })
        }
    }

    fn item(tag: &str, digest: &str) -> (TagInfo, policy::Decision, &'static str) {
        (
            TagInfo {
                facts: std::sync::Arc::new(policy::Facts {
                    image: Some("app".into()),
                    repository: "r.example/app".into(),
                    ..Default::default()
                }),
                tag: tag.into(),
                digest: digest.into(),
            },
            policy::Decision::Delete,
            "test",
        )
    }

    #[tokio::test]
    async fn a_manifest_and_its_tags_count_once_when_later_deletes_find_it_gone() {
        // Three manifests, five tags; "a" has three tags, "b" one, "c" one.
        let plan = Plan::from_items(vec![
            item("a1", "sha256:a"),
            item("a2", "sha256:a"),
            item("a3", "sha256:a"),
            item("b1", "sha256:b"),
            item("c1", "sha256:c"),
        ]);
        let vendor = TagApiMissing {
            manifests: Mutex::new(
                ["sha256:a", "sha256:b", "sha256:c"]
                    .map(String::from)
                    .into(),
            ),
        };
        let client = Client::new(RegistryOptions::default());
        let out = run_deleter(&client, &plan, &vendor).await.expect("run");
        assert_eq!((out.deleted_manifests, out.deleted_tags), (3, 5));
        assert!(out.failures.is_empty());
    }
}
