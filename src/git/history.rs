//! The git history cleanup keeps images by: `origin/*` branches and tags with every commit
//! reachable from them, and werf's `--git-history-synchronization` that fetches it first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::GitError;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(
        "{0} is a shallow clone: cleanup needs the whole git history to know which images are still used; pass --git-history-synchronization (WERF_GIT_HISTORY_SYNCHRONIZATION=1) to fetch it from origin first, or run `git fetch --unshallow` (in GitLab CI: GIT_DEPTH: 0), or pass --allow-git-shallow-clone (WERF_ALLOW_GIT_SHALLOW_CLONE=1) to take the history the clone has"
    )]
    Shallow(String),
    #[error("git history synchronization in {dir}: {cause}")]
    Sync { dir: String, cause: String },
    #[error("{0} is not in a git repository: cleanup keeps images by git history")]
    NoGit(String),
}

/// A git reference as cleanup sees it: an `origin/*` remote-tracking branch (named without
/// `origin/`) or a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRef {
    pub name: String,
    pub is_tag: bool,
    /// werf's "created at": the head's committer date for a branch, the tagger date of an
    /// annotated tag, the commit's committer date of a lightweight tag. Seconds.
    pub time: i64,
    /// The commit it points at.
    pub head: String,
}

/// One commit of the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// Committer date, seconds since the epoch.
    pub time: i64,
    pub parents: Vec<String>,
}

/// The references and every commit reachable from them.
#[derive(Debug, Clone, Default)]
pub struct GitHistory {
    pub refs: Vec<GitRef>,
    pub commits: BTreeMap<String, Commit>,
}

/// Which of these commits exist in the repository at `dir`.
pub fn existing_commits(dir: &Path, commits: &[String]) -> Result<BTreeSet<String>, HistoryError> {
    let repo = open_repo(dir)?;
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

fn open_repo(dir: &Path) -> Result<git2::Repository, HistoryError> {
    match git2::Repository::discover(dir) {
        Ok(r) => Ok(r),
        Err(e) if e.code() == git2::ErrorCode::NotFound => {
            Err(HistoryError::NoGit(dir.display().to_string()))
        }
        Err(e) => Err(git_err(dir, e)),
    }
}

fn git_err(dir: &Path, e: git2::Error) -> HistoryError {
    HistoryError::Git(GitError {
        path: dir.display().to_string(),
        cause: e.message().to_string(),
    })
}

/// What werf 1.1 scans: `origin/*` remote-tracking branches (named without `origin/`) and
/// tags, with every commit reachable from them (no depth limit). Local branches do not
/// count: only what origin has is alive. A shallow clone is an error unless
/// `allow_shallow` (werf's --allow-git-shallow-clone: its history is taken as it is).
pub fn read(dir: &Path, allow_shallow: bool) -> Result<GitHistory, HistoryError> {
    let err = |e: git2::Error| git_err(dir, e);
    let repo = open_repo(dir)?;
    if repo.is_shallow() && !allow_shallow {
        return Err(HistoryError::Shallow(dir.display().to_string()));
    }
    let mut refs = Vec::new();
    for r in repo.references().map_err(err)? {
        let r = r.map_err(err)?;
        let Some(full) = r.name() else { continue };
        let (is_tag, name) = if let Some(n) = full.strip_prefix("refs/remotes/origin/") {
            if n == "HEAD" {
                continue;
            }
            (false, n.to_string())
        } else if let Some(n) = full.strip_prefix("refs/tags/") {
            (true, n.to_string())
        } else {
            continue;
        };
        let Ok(commit) = r.peel_to_commit() else {
            continue;
        };
        let time = if is_tag {
            // An annotated tag was "created" when tagged, a lightweight one at its commit.
            r.peel(git2::ObjectType::Tag)
                .ok()
                .and_then(|o| o.into_tag().ok())
                .and_then(|t| t.tagger().map(|s| s.when().seconds()))
                .unwrap_or_else(|| commit.time().seconds())
        } else {
            commit.time().seconds()
        };
        refs.push(GitRef {
            name,
            is_tag,
            time,
            head: commit.id().to_string(),
        });
    }
    let mut commits = BTreeMap::new();
    if !refs.is_empty() {
        let mut walk = repo.revwalk().map_err(err)?;
        for r in &refs {
            if let Ok(oid) = git2::Oid::from_str(&r.head) {
                walk.push(oid).map_err(err)?;
            }
        }
        for oid in walk {
            let oid = oid.map_err(err)?;
            let c = repo.find_commit(oid).map_err(err)?;
            commits.insert(
                oid.to_string(),
                Commit {
                    time: c.time().seconds(),
                    parents: c.parent_ids().map(|p| p.to_string()).collect(),
                },
            );
        }
    }
    refs.sort_by(|a, b| (a.is_tag, &a.name).cmp(&(b.is_tag, &b.name)));
    Ok(GitHistory { refs, commits })
}

/// werf's `--git-history-synchronization`: bring every branch and tag of origin (and the
/// whole history of a shallow clone) with the git CLI, pruning what origin deleted.
pub fn sync_with_origin(dir: &Path) -> Result<(), HistoryError> {
    let repo = open_repo(dir)?;
    let shallow = repo.is_shallow();
    if repo.find_remote("origin").is_err() {
        return Err(HistoryError::Sync {
            dir: dir.display().to_string(),
            cause: "no git remote `origin` to synchronize with".into(),
        });
    }
    let workdir = repo
        .workdir()
        .map_or_else(|| repo.path().to_path_buf(), Path::to_path_buf);
    let mut cmd = std::process::Command::new("git");
    cmd.arg("-C")
        .arg(&workdir)
        .args(["fetch", "--prune", "--prune-tags"]);
    if shallow {
        cmd.arg("--unshallow");
    }
    cmd.args(["origin", "+refs/heads/*:refs/remotes/origin/*"]);
    tracing::info!(
        "synchronizing git history with origin: git fetch --prune --prune-tags{} origin +refs/heads/*:refs/remotes/origin/*",
        if shallow { " --unshallow" } else { "" }
    );
    let out = cmd.output().map_err(|e| HistoryError::Sync {
        dir: workdir.display().to_string(),
        cause: format!("running git: {e}"),
    })?;
    if !out.status.success() {
        return Err(HistoryError::Sync {
            dir: workdir.display().to_string(),
            cause: format!(
                "git fetch failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(())
}
