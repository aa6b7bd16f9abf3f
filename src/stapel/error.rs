//! Stapel's errors. The texts are the ones users and tests know (`tests/stapel.rs`,
//! `tests/stages_storage.rs` match on them); no variant has a `#[source]`, so `{:#}` prints
//! each message once.

use std::path::PathBuf;

use crate::registry::RegistryError;
use crate::registry::reference::ReferenceError;

#[derive(Debug, thiserror::Error)]
pub enum StapelError {
    #[error("not a stapel image")]
    NotStapel,
    /// A directive Slipway does not build yet (the config's own located message).
    #[error("{0}")]
    Unsupported(String),
    #[error("unknown image or artifact {0:?}")]
    UnknownNode(String),
    #[error(transparent)]
    Git(#[from] GitError),
    /// A `git:` mapping that cannot be read.
    #[error("{at}: git[{index}]: {cause}")]
    Mapping {
        at: String,
        index: usize,
        cause: GitError,
    },
    #[error("`fromPath: ~/…` needs HOME")]
    NoHome,
    #[error("mount fromPath {path}: {cause}")]
    FromPath { path: String, cause: walkdir::Error },
    #[error("{}: {cause}", path.display())]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// A file of a mounted host directory that cannot be inspected.
    #[error("{0}")]
    HostFile(walkdir::Error),
    #[error("{0}")]
    HostPath(std::path::StripPrefixError),
    #[error("writing the generated context: {0}")]
    Context(std::io::Error),
    #[error("{path}: {message}")]
    Blob { path: String, message: String },
    #[error("{at}: fromLatest: the digest of {base} was not resolved")]
    FromLatestUnresolved { at: String, base: String },
    #[error("{at}: import: the digest of registry image {reference} was not resolved")]
    ExternalImportUnresolved { at: String, reference: String },
    #[error("image {image}: {at}: import: registry image {reference}: {cause}")]
    ExternalImport {
        image: String,
        at: String,
        reference: String,
        cause: Box<BaseError>,
    },
    #[error("image {image}: {at}: base image {base}: {cause}")]
    Base {
        image: String,
        at: String,
        base: String,
        cause: Box<BaseError>,
    },
    #[error("image {image}: {at}: fromLatest: base image {base}: {cause}")]
    FromLatest {
        image: String,
        at: String,
        base: String,
        cause: Box<BaseError>,
    },
}

/// Why a `fromLatest` base could not be resolved or pulled.
#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    #[error("{0}")]
    Reference(ReferenceError),
    #[error("cannot get its digest from the registry: {0}")]
    Registry(RegistryError),
    #[error("the registry has no {0}")]
    Missing(String),
    #[error("pulling it: {0}")]
    Daemon(bollard::errors::Error),
}

/// Reading the project's repository or a remote mapping's clone.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("`git:` needs the project in a git repository ({}): {message}", dir.display())]
    NoRepository { dir: PathBuf, message: String },
    #[error("`git:` reads the HEAD commit, and there is none: {0}")]
    NoHead(String),
    #[error("commit {commit}: {message}")]
    Commit { commit: git2::Oid, message: String },
    /// A clone that cannot be opened.
    #[error("{}: {message}", path.display())]
    Open { path: PathBuf, message: String },
    #[error(
        "add {add}: no such path in the {} (werf: base path entry not found)",
        if *remote { "remote commit" } else { "HEAD commit" }
    )]
    NoPath { add: String, remote: bool },
    #[error("a file name in {0} is not UTF-8")]
    NotUtf8(String),
    /// git2's own message.
    #[error("{0}")]
    Read(String),
    #[error("no repository")]
    NoProjectRepository,
    #[error("remote git mappings need a cache directory (XDG_CACHE_HOME or HOME)")]
    NoCache,
    #[error("{}: {cause}", path.display())]
    Cache {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("running git for {url}: {cause}")]
    Spawn { url: String, cause: std::io::Error },
    /// `git clone` or `git fetch` failed: the last lines of its stderr.
    #[error("git {command} {url}: {tail}")]
    Cli {
        command: String,
        url: String,
        tail: String,
    },
    #[error("unknown {what} of repo {url}")]
    UnknownRef { what: String, url: String },
    #[error("remote git cache lock poisoned")]
    Poisoned,
}

impl GitError {
    /// git2's message for an error without more context.
    pub fn read(e: &git2::Error) -> GitError {
        GitError::Read(e.message().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts `tests/stapel.rs` matches, and one message per error in `{:#}` (no source
    /// chain repeats it).
    #[test]
    fn texts_are_the_ones_users_know_and_print_once() {
        let e = StapelError::Mapping {
            at: "werf.yaml:7:3".into(),
            index: 0,
            cause: GitError::NoPath {
                add: "/nope".into(),
                remote: false,
            },
        };
        assert_eq!(
            e.to_string(),
            "werf.yaml:7:3: git[0]: add /nope: no such path in the HEAD commit (werf: base path entry not found)"
        );
        assert!(std::error::Error::source(&e).is_none());
        let e = StapelError::FromLatest {
            image: "app".into(),
            at: "werf.yaml:6:13".into(),
            base: "alpine:3".into(),
            cause: Box::new(BaseError::Missing("3".into())),
        };
        assert_eq!(
            e.to_string(),
            "image app: werf.yaml:6:13: fromLatest: base image alpine:3: the registry has no 3"
        );
        assert!(std::error::Error::source(&e).is_none());
        let e = StapelError::from(GitError::UnknownRef {
            what: "branch nope".into(),
            url: "file:///r.git".into(),
        });
        assert_eq!(e.to_string(), "unknown branch nope of repo file:///r.git");
        assert!(std::error::Error::source(&e).is_none());
    }
}
