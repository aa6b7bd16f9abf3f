//! `ci-env`: turn a CI system's predefined variables into werf 1.1's `WERF_*` settings
//! (Slipway reads them; Slipway-only settings are written as `SLIPWAY_*`) plus a registry
//! login, printed as shell lines to `source`. The variable set and its conditions are
//! werf 1.1's (`cmd/werf/ci_env`); a variable the user already set, under its werf or its
//! Slipway name (the table in `settings::werf_names`), is left alone.
//!
//! Everything here works on a given variable map, not the process environment, so it is
//! testable; the CLI passes the environment the settings layer read.

mod github;
mod gitlab;
mod job_files;
mod shell;

use std::collections::BTreeMap;

use crate::cleanup::policy::TagScheme;
use crate::naming::slug::{SlugFormat, slug};
use crate::settings::werf_names::slipway_twin;

#[derive(Debug, thiserror::Error)]
pub enum CiEnvError {
    #[error(
        "none of environment variables $WERF_TAG_GIT_TAG=${tag} or $WERF_TAG_GIT_BRANCH=${branch} for 'tag-or-branch' strategy are detected"
    )]
    NoRef {
        tag: &'static str,
        branch: &'static str,
    },
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {cause}")]
    Io { path: String, cause: String },
}

/// Which CI system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ci {
    GitLab,
    GitHub,
}

pub use job_files::{
    JOB_FILES_MAX_AGE, for_job, job_files_dir, sweep_job_files, with_docker_config,
    write_docker_config,
};
pub use shell::{Render, ps_quote, render, sh_quote};

/// How images are tagged in CI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tagging {
    /// By content signature (werf: stages-signature).
    #[default]
    Content,
    /// The git tag when the pipeline runs for one, else the branch.
    TagOrBranch,
}

/// Output syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shell {
    #[default]
    Posix,
    PowerShell,
    /// `KEY=VALUE` lines only (GitHub's `$GITHUB_ENV` and GitLab's dotenv parsers reject
    /// anything else, `#` comments included); a multi-line value as GitHub's
    /// `KEY<<ghadelimiter_<random>` … `ghadelimiter_<random>`.
    EnvFile,
}

/// One output line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Header(String),
    Set {
        key: String,
        value: String,
        /// Never echoed (`--verbose`) in clear.
        secret: bool,
    },
    /// Already set in the environment (as `by`): left alone.
    Skip {
        key: String,
        value: String,
        by: String,
        secret: bool,
    },
}

/// A registry login to write into the job's docker config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub registry: String,
    pub username: String,
    pub password: String,
}

/// What `ci-env` computed.
#[derive(Debug, Clone)]
pub struct CiEnv {
    pub lines: Vec<Line>,
    pub login: Option<Login>,
}

fn get<'a>(vars: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

struct Out<'a> {
    vars: &'a BTreeMap<String, String>,
    lines: Vec<Line>,
}

impl Out<'_> {
    fn header(&mut self, h: &str) {
        self.lines.push(Line::Header(h.to_string()));
    }

    /// `key` unless the user set it, or its Slipway twin.
    fn set(&mut self, key: &str, value: &str) {
        self.put(key, value, false);
    }

    fn secret(&mut self, key: &str, value: &str) {
        self.put(key, value, true);
    }

    fn put(&mut self, key: &str, value: &str, secret: bool) {
        let by = std::iter::once(key.to_string())
            .chain(slipway_twin(key))
            .find(|k| get(self.vars, k).is_some());
        self.lines.push(match by {
            Some(by) => Line::Skip {
                key: key.to_string(),
                value: value.to_string(),
                by,
                secret,
            },
            None => Line::Set {
                key: key.to_string(),
                value: value.to_string(),
                secret,
            },
        });
    }
}

/// Compute the settings for `ci` from `vars`. The docker config line is added by
/// [`with_docker_config`], once the config dir exists.
pub fn compute(
    ci: Ci,
    tagging: Tagging,
    vars: &BTreeMap<String, String>,
) -> Result<CiEnv, CiEnvError> {
    let mut o = Out {
        vars,
        lines: Vec::new(),
    };
    let login = match ci {
        Ci::GitLab => gitlab::gitlab(&mut o, tagging)?,
        Ci::GitHub => github::github(&mut o, tagging)?,
    };
    Ok(CiEnv {
        lines: o.lines,
        login,
    })
}

/// The registry host of a repository (`host[:port]/path` → `host[:port]`).
fn registry_of(repo: &str) -> &str {
    repo.split('/').next().unwrap_or(repo)
}

/// werf 1.1's tag-scheme cleanup limits (the values cleanup uses by default).
fn cleanup_lines(o: &mut Out<'_>) {
    let d = TagScheme::default();
    o.header("IMAGE CLEANUP POLICIES");
    o.set("WERF_GIT_TAG_STRATEGY_LIMIT", &d.git_tag_limit.to_string());
    o.set(
        "WERF_GIT_TAG_STRATEGY_EXPIRY_DAYS",
        &d.git_tag_expiry_days.to_string(),
    );
    o.set(
        "WERF_GIT_COMMIT_STRATEGY_LIMIT",
        &d.git_commit_limit.to_string(),
    );
    o.set(
        "WERF_GIT_COMMIT_STRATEGY_EXPIRY_DAYS",
        &d.git_commit_expiry_days.to_string(),
    );
    o.set("WERF_STAGES_SIGNATURE_STRATEGY_LIMIT", "-1");
    o.set("WERF_STAGES_SIGNATURE_STRATEGY_EXPIRY_DAYS", "-1");
}

/// Build cache sources: what this branch and the default (or base) branch published, as
/// their branch tags. A fresh runner's daemon then reuses those layers (BuildKit).
/// Slipway's own setting: werf has none.
fn cache_lines(o: &mut Out<'_>, branches: &[Option<&str>]) {
    let mut tags: Vec<String> = Vec::new();
    for b in branches.iter().flatten().filter(|b| !b.is_empty()) {
        let t = slug(b, SlugFormat::DockerTag);
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    if !tags.is_empty() {
        o.header("BUILD CACHE");
        o.set("SLIPWAY_CACHE_FROM", &tags.join(","));
    }
}

fn tagging_lines(
    o: &mut Out<'_>,
    tagging: Tagging,
    tag: Option<&str>,
    branch: Option<&str>,
    names: (&'static str, &'static str),
) -> Result<(), CiEnvError> {
    match tagging {
        Tagging::Content => o.set("WERF_TAG_BY_STAGES_SIGNATURE", "true"),
        Tagging::TagOrBranch => match (tag, branch) {
            (Some(t), _) => o.set("WERF_TAG_GIT_TAG", &slug(t, SlugFormat::DockerTag)),
            (None, Some(b)) => o.set("WERF_TAG_GIT_BRANCH", &slug(b, SlugFormat::DockerTag)),
            (None, None) => {
                return Err(CiEnvError::NoRef {
                    tag: names.0,
                    branch: names.1,
                });
            }
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests;
