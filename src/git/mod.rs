//! What git says about `--dir`: current branch, tag at HEAD, HEAD commit (git2); the
//! history cleanup reads is in [`history`].

pub mod history;

use std::path::Path;

#[derive(Debug, Clone, thiserror::Error)]
#[error("git repository at {path}: {cause}")]
pub struct GitError {
    pub path: String,
    pub cause: String,
}

/// HEAD facts of a checkout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    /// Current branch; `None` when HEAD is detached.
    pub branch: Option<String>,
    /// A tag pointing at HEAD (the first in name order).
    pub tag: Option<String>,
    pub commit: String,
}

/// HEAD of one checkout, read on first use and then shared: a command names, labels,
/// records and reports by the same HEAD (and opens the repository once) instead of each
/// phase reading it again.
#[derive(Debug)]
pub struct HeadOnce {
    dir: std::path::PathBuf,
    cell: std::sync::OnceLock<Result<Option<Head>, GitError>>,
}

impl HeadOnce {
    pub fn new(dir: &Path) -> Self {
        HeadOnce {
            dir: dir.to_path_buf(),
            cell: std::sync::OnceLock::new(),
        }
    }

    /// HEAD, `Ok(None)` outside git; an unreadable repository is an error.
    pub fn get(&self) -> Result<Option<&Head>, &GitError> {
        self.cell
            .get_or_init(|| head(&self.dir))
            .as_ref()
            .map(Option::as_ref)
    }

    /// HEAD where an unreadable repository counts as none (labels, commit records).
    pub fn found(&self) -> Option<&Head> {
        self.get().ok().flatten()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Read HEAD of the repository containing `dir`; `Ok(None)` when it is not in git.
pub fn head(dir: &Path) -> Result<Option<Head>, GitError> {
    let err = |e: git2::Error| GitError {
        path: dir.display().to_string(),
        cause: e.message().to_string(),
    };
    let repo = match git2::Repository::discover(dir) {
        Ok(r) => r,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(err(e)),
    };
    let head = repo.head().map_err(err)?;
    let commit = head.peel_to_commit().map_err(err)?.id();
    let branch = head
        .is_branch()
        .then(|| head.shorthand().map(str::to_string))
        .flatten();
    let mut tags: Vec<String> = Vec::new();
    repo.tag_foreach(|oid, name| {
        let points_here = repo
            .find_object(oid, None)
            .and_then(|o| o.peel_to_commit())
            .is_ok_and(|c| c.id() == commit);
        if points_here {
            let n = String::from_utf8_lossy(name);
            tags.push(n.trim_start_matches("refs/tags/").to_string());
        }
        true
    })
    .map_err(err)?;
    tags.sort();
    Ok(Some(Head {
        branch,
        tag: tags.into_iter().next(),
        commit: commit.to_string(),
    }))
}
