//! The files a stapel `git:` mapping takes: the project repository's HEAD commit (never
//! the worktree), filtered as werf 1.1 filters (pkg/path_matcher/git_mapping.go): under
//! `add`, matching an include (when any) and no exclude, where a pattern matches a path
//! that equals it, lies under it, or matches it (or `PATTERN/**/*`) as a doublestar glob
//! whose `*` stops at `/` and matches leading dots.

use std::path::Path;

use globset::{GlobBuilder, GlobMatcher};

use crate::config::stapel::GitMapping;

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
pub fn open(dir: &Path) -> Result<git2::Repository, String> {
    git2::Repository::discover(dir).map_err(|e| {
        format!(
            "`git:` needs the project in a git repository ({}): {}",
            dir.display(),
            e.message()
        )
    })
}

/// The HEAD commit's tree.
pub fn head_tree(repo: &git2::Repository) -> Result<(git2::Oid, git2::Tree<'_>), String> {
    let commit = repo.head().and_then(|h| h.peel_to_commit()).map_err(|e| {
        format!(
            "`git:` reads the HEAD commit, and there is none: {}",
            e.message()
        )
    })?;
    let tree = commit.tree().map_err(|e| e.message().to_string())?;
    Ok((commit.id(), tree))
}

/// The files `m` takes from `tree` (in path order). `Err` names the problem (e.g. an
/// `add` path that HEAD does not have).
pub fn list(
    repo: &git2::Repository,
    tree: &git2::Tree<'_>,
    m: &GitMapping,
) -> Result<Tree, String> {
    let base = m.add.trim_start_matches('/');
    let filter = Filter::new(&m.include_paths, &m.exclude_paths);
    let mut files = Vec::new();
    let start = if base.is_empty() {
        None
    } else {
        let entry = tree.get_path(Path::new(base)).map_err(|_| {
            format!(
                "add {}: no such path in the HEAD commit (werf: base path entry not found)",
                m.add
            )
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
            });
        }
        Some(entry.id())
    };
    let repo_tree;
    let sub = match start {
        Some(id) => {
            repo_tree = repo.find_tree(id).map_err(|e| e.message().to_string())?;
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
            err = Some(format!("a file name in {root} is not UTF-8"));
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
    .map_err(|e| e.message().to_string())?;
    if let Some(e) = err {
        return Err(e);
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(Tree {
        single_file: false,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::Filter;

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
