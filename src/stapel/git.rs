//! The files a stapel `git:` mapping takes: the project repository's HEAD commit (never
//! the worktree), filtered as werf 1.1 filters (pkg/path_matcher/git_mapping.go): under
//! `add`, matching an include (when any) and no exclude, where a pattern matches a path
//! that equals it, lies under it, or matches it (or `PATTERN/**/*`) as a doublestar glob
//! whose `*` stops at `/` and matches leading dots.
//!
//! Remote mappings (`url:`) are cloned with the `git` CLI (git2 has no network transports
//! in this build; the CLI also brings the user's credential helpers and ssh set-up) into
//! the user's cache and then read with git2 like the project's repository.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use globset::{GlobBuilder, GlobMatcher};
use sha2::{Digest, Sha256};

use super::error::GitError;
use crate::config::stapel::{GitMapping, GitRef, RemoteGit};

/// One file of a mapping at HEAD.
#[derive(Debug, Clone)]
pub struct GitFile {
    /// Path relative to `add` (the file's name when `add` is a file).
    pub rel: String,
    /// git's mode: 0o100644, 0o100755 or 0o120000 (symlink).
    pub mode: i32,
    pub oid: git2::Oid,
}

impl GitFile {
    pub fn is_symlink(&self) -> bool {
        self.mode == 0o120000
    }

    pub fn is_executable(&self) -> bool {
        self.mode == 0o100755
    }
}

/// What a mapping takes.
#[derive(Debug, Clone)]
pub struct Tree {
    /// `add` names a file: it is copied to `to` itself.
    pub single_file: bool,
    pub files: Vec<GitFile>,
    /// For a remote mapping: the clone the blobs are in, and its commit.
    pub remote: Option<Resolved>,
}

/// werf's include/exclude matching for one pattern.
struct Pattern {
    text: String,
    glob: Option<GlobMatcher>,
    deep: Option<GlobMatcher>,
}

fn glob(p: &str) -> Option<GlobMatcher> {
    GlobBuilder::new(p)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .ok()
        .map(|g| g.compile_matcher())
}

impl Pattern {
    fn new(p: &str) -> Pattern {
        let text = p.trim_end_matches('/').to_string();
        Pattern {
            glob: glob(&text),
            deep: glob(&format!("{text}/**/*")),
            text,
        }
    }

    fn matches(&self, rel: &str) -> bool {
        rel == self.text
            || rel
                .strip_prefix(&self.text)
                .is_some_and(|r| r.starts_with('/'))
            || self.glob.as_ref().is_some_and(|g| g.is_match(rel))
            || self.deep.as_ref().is_some_and(|g| g.is_match(rel))
    }
}

/// Include/exclude filter of a mapping, over paths relative to `add`.
pub struct Filter {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
}

impl Filter {
    pub fn new(include: &[String], exclude: &[String]) -> Filter {
        Filter {
            include: include.iter().map(|p| Pattern::new(p)).collect(),
            exclude: exclude.iter().map(|p| Pattern::new(p)).collect(),
        }
    }

    pub fn takes(&self, rel: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| p.matches(rel)))
            && !self.exclude.iter().any(|p| p.matches(rel))
    }
}

/// The repository holding `dir`, or a message.
pub fn open(dir: &Path) -> Result<git2::Repository, GitError> {
    git2::Repository::discover(dir).map_err(|e| GitError::NoRepository {
        dir: dir.to_path_buf(),
        message: e.message().to_string(),
    })
}

/// The HEAD commit's tree.
pub fn head_tree(repo: &git2::Repository) -> Result<(git2::Oid, git2::Tree<'_>), GitError> {
    let commit = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(|e| GitError::NoHead(e.message().to_string()))?;
    let tree = commit.tree().map_err(|e| GitError::read(&e))?;
    Ok((commit.id(), tree))
}

/// A remote mapping's files at its resolved commit (`clones`: see [`resolve`]).
pub fn list_remote(
    m: &GitMapping,
    remote: &RemoteGit,
    clones: Option<&Path>,
    agent: Option<&Path>,
) -> Result<Tree, GitError> {
    let r = resolve(remote, clones, agent)?;
    let repo = open_clone(&r.clone)?;
    let tree = repo
        .find_commit(r.commit)
        .and_then(|c| c.tree())
        .map_err(|e| GitError::Commit {
            commit: r.commit,
            message: e.message().to_string(),
        })?;
    let mut t = list(&repo, &tree, m)?;
    t.remote = Some(r);
    Ok(t)
}

/// The files `m` takes from `tree` (in path order). `Err` names the problem (e.g. an
/// `add` path that HEAD does not have).
pub fn list(
    repo: &git2::Repository,
    tree: &git2::Tree<'_>,
    m: &GitMapping,
) -> Result<Tree, GitError> {
    let base = m.add.trim_start_matches('/');
    let filter = Filter::new(&m.include_paths, &m.exclude_paths);
    let mut files = Vec::new();
    let start = if base.is_empty() {
        None
    } else {
        let entry = tree
            .get_path(Path::new(base))
            .map_err(|_| GitError::NoPath {
                add: m.add.clone(),
                remote: m.remote.is_some(),
            })?;
        if entry.kind() != Some(git2::ObjectType::Tree) {
            let name = base.rsplit('/').next().unwrap_or(base).to_string();
            // werf matches include/exclude against the file's own name here.
            if filter.takes(&name) && entry.kind() == Some(git2::ObjectType::Blob) {
                files.push(GitFile {
                    rel: name,
                    mode: entry.filemode(),
                    oid: entry.id(),
                });
            }
            return Ok(Tree {
                single_file: true,
                files,
                remote: None,
            });
        }
        Some(entry.id())
    };
    let repo_tree;
    let sub = match start {
        Some(id) => {
            repo_tree = repo.find_tree(id).map_err(|e| GitError::read(&e))?;
            &repo_tree
        }
        None => tree,
    };
    let mut err = None;
    sub.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
        if entry.kind() != Some(git2::ObjectType::Blob) {
            if entry.kind() == Some(git2::ObjectType::Commit) {
                tracing::warn!(
                    "git mapping {}: submodule {root}{} is not followed (not supported yet)",
                    m.at,
                    entry.name().unwrap_or("")
                );
            }
            return git2::TreeWalkResult::Ok;
        }
        let Some(name) = entry.name() else {
            err = Some(GitError::NotUtf8(root.to_string()));
            return git2::TreeWalkResult::Abort;
        };
        let rel = format!("{root}{name}");
        if filter.takes(&rel) {
            files.push(GitFile {
                rel,
                mode: entry.filemode(),
                oid: entry.id(),
            });
        }
        git2::TreeWalkResult::Ok
    })
    .map_err(|e| GitError::read(&e))?;
    if let Some(e) = err {
        return Err(e);
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(Tree {
        single_file: false,
        files,
        remote: None,
    })
}

/// A remote mapping's repository, resolved: the cache clone and the commit it takes.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub clone: PathBuf,
    pub commit: git2::Oid,
}

/// `url` without credentials (`https://user:token@host/…` → `https://host/…`), for messages.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            match authority.rsplit_once('@') {
                Some((_, host)) if scheme.starts_with("http") => {
                    format!("{scheme}://{host}/{path}")
                }
                _ => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

/// A bare clone (remote mappings).
pub fn open_clone(path: &Path) -> Result<git2::Repository, GitError> {
    git2::Repository::open_bare(path).map_err(|e| GitError::Open {
        path: path.to_path_buf(),
        message: e.message().to_string(),
    })
}

/// Run `git ARGS` (no prompt for credentials: a build never waits on a terminal).
/// `agent`: werf's --ssh-key agent, for ssh URLs.
fn git_cli(
    dir: Option<&Path>,
    args: &[&str],
    url: &str,
    agent: Option<&Path>,
) -> Result<(), GitError> {
    let mut c = std::process::Command::new("git");
    if let Some(d) = dir {
        c.arg("-C").arg(d);
    }
    if let Some(a) = agent {
        c.env("SSH_AUTH_SOCK", a);
    }
    let out = c
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|cause| GitError::Spawn {
            url: redact(url),
            cause,
        })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = last[last.len().saturating_sub(3)..].join("; ");
    Err(GitError::Cli {
        command: args.first().copied().unwrap_or("").to_string(),
        url: redact(url),
        tail: tail.replace(url, &redact(url)),
    })
}

/// The commit `reference` names in the clone, if it is there.
fn find(repo: &git2::Repository, reference: &GitRef) -> Option<git2::Oid> {
    let commit = match reference {
        GitRef::Commit(c) => repo.revparse_single(c).ok()?.peel_to_commit().ok()?,
        GitRef::Tag(t) => repo
            .find_reference(&format!("refs/tags/{t}"))
            .ok()?
            .peel_to_commit()
            .ok()?,
        GitRef::Branch(b) => repo
            .find_reference(&format!("refs/heads/{b}"))
            .ok()?
            .peel_to_commit()
            .ok()?,
        GitRef::Head => repo.head().ok()?.peel_to_commit().ok()?,
    };
    Some(commit.id())
}

/// Clone `remote` into the cache (once) and fetch when needed, then resolve its commit:
/// a commit or tag already in the clone is used as it is; a branch (or the remote's HEAD
/// branch) is fetched on every run, as werf 1.1 does, to take its latest commit. Resolved
/// once per process, so every signature and the build agree. `clones`: the folder clones
/// live in (`Paths::git_remotes`); `agent`: werf's --ssh-key agent.
pub fn resolve(
    remote: &RemoteGit,
    clones: Option<&Path>,
    agent: Option<&Path>,
) -> Result<Resolved, GitError> {
    static DONE: OnceLock<Mutex<BTreeMap<String, Resolved>>> = OnceLock::new();
    let key = format!("{}\0{:?}", remote.url, remote.reference);
    let done = DONE.get_or_init(Default::default);
    let mut done = done.lock().map_err(|_| GitError::Poisoned)?;
    if let Some(r) = done.get(&key) {
        return Ok(r.clone());
    }
    let url = remote.url.as_str();
    let root = clones.ok_or(GitError::NoCache)?.to_path_buf();
    std::fs::create_dir_all(&root).map_err(|cause| GitError::Cache {
        path: root.clone(),
        cause,
    })?;
    let id = hex::encode(&Sha256::digest(url.as_bytes())[..12]);
    let clone = root.join(format!("{id}.git"));
    let mut fresh = false;
    if !clone.join("HEAD").exists() {
        // Cloned beside it and renamed: an interrupted clone never looks complete.
        let tmp = root.join(format!("{id}.tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let tmp_s = tmp.to_string_lossy().to_string();
        let cloned = git_cli(
            None,
            &["clone", "--quiet", "--bare", "--", url, &tmp_s],
            url,
            agent,
        );
        if let Err(e) = cloned {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        if std::fs::rename(&tmp, &clone).is_err() {
            // Another run cloned it meanwhile: use theirs.
            let _ = std::fs::remove_dir_all(&tmp);
        }
        fresh = true;
    }
    let follows_branch = matches!(remote.reference, GitRef::Branch(_) | GitRef::Head);
    let mut commit = if fresh || !follows_branch {
        find(&open_clone(&clone)?, &remote.reference)
    } else {
        None
    };
    if commit.is_none() && !fresh {
        git_cli(
            Some(&clone),
            &[
                "fetch",
                "--quiet",
                "--force",
                "--prune",
                "--tags",
                "origin",
                "+refs/heads/*:refs/heads/*",
            ],
            url,
            agent,
        )?;
        commit = find(&open_clone(&clone)?, &remote.reference);
    }
    let commit = commit.ok_or_else(|| {
        let what = match &remote.reference {
            GitRef::Commit(c) => format!("commit {c}"),
            GitRef::Tag(t) => format!("tag {t}"),
            GitRef::Branch(b) => format!("branch {b}"),
            GitRef::Head => "HEAD branch".to_string(),
        };
        GitError::UnknownRef {
            what,
            url: redact(url),
        }
    })?;
    tracing::info!("remote git {}: using commit {commit}", redact(url));
    let r = Resolved { clone, commit };
    done.insert(key, r.clone());
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::Filter;

    #[test]
    fn credentials_are_redacted_from_urls() {
        assert_eq!(
            super::redact("https://u:secret@example.com/a/b.git"),
            "https://example.com/a/b.git"
        );
        assert_eq!(
            super::redact("ssh://git@example.com/a.git"),
            "ssh://git@example.com/a.git"
        );
        assert_eq!(super::redact("file:///srv/a.git"), "file:///srv/a.git");
    }

    #[test]
    fn werf_filter_semantics() {
        let f = Filter::new(
            &["**/*.php".into(), "*.js".into(), "module1".into()],
            &["**/*-dev.*".into()],
        );
        for yes in [
            "a.php",
            ".hidden.php",
            "b.js",
            "module1/deep/x.txt",
            "x/y/z.php",
        ] {
            assert!(f.takes(yes), "{yes}");
        }
        for no in ["c-dev.js", "lib/d.js", "module10/x", "README"] {
            assert!(!f.takes(no), "{no}");
        }
        let f = Filter::new(&[], &["vendor".into(), "*.md".into()]);
        assert!(f.takes("src/a.md"), "* stops at /");
        assert!(!f.takes("vendor/x/y"));
        assert!(!f.takes("README.md"));
    }
}
