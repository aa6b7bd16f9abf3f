//! `ci-env`: turn a CI system's predefined variables into werf 1.1's `WERF_*` settings
//! (Slipway reads them; Slipway-only settings are written as `SLIPWAY_*`) plus a registry
//! login, printed as shell lines to `source`. The variable set and its conditions are
//! werf 1.1's (`cmd/werf/ci_env`); a variable the user already set, under its werf or its
//! Slipway name (the table in `settings::werf_names`), is left alone.
//!
//! Everything here works on a given variable map, not the process environment, so it is
//! testable; the CLI passes the environment the settings layer read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;

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
        Ci::GitLab => gitlab(&mut o, tagging)?,
        Ci::GitHub => github(&mut o, tagging)?,
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

fn gitlab(o: &mut Out<'_>, tagging: Tagging) -> Result<Option<Login>, CiEnvError> {
    let vars = o.vars;
    // werf goes on without CI_REGISTRY_IMAGE (registry disabled, or an external one the
    // user names in WERF_IMAGES_REPO): no login, no repository lines.
    let image = get(vars, "CI_REGISTRY_IMAGE").map(str::to_string);
    let registry = get(vars, "CI_REGISTRY").unwrap_or("");
    let on_registry = |var: &str| {
        // werf's condition: unset, or on GitLab's registry.
        std::iter::once(var.to_string())
            .chain(slipway_twin(var))
            .find_map(|k| get(vars, &k))
            .is_none_or(|v| v.starts_with(registry))
    };
    // GitLab sets CI_REGISTRY_USER/PASSWORD to the job token's pair, and a project variable
    // may override them (a deploy token for another registry); then the job token itself;
    // then a deploy token GitLab exposes as CI_DEPLOY_USER/PASSWORD. (werf reads only the
    // job token: this is Slipway's extension.)
    let pair = |u: &str, p: &str| Some((get(vars, u)?.to_string(), get(vars, p)?.to_string()));
    let credentials = pair("CI_REGISTRY_USER", "CI_REGISTRY_PASSWORD")
        .or_else(|| {
            Some((
                "gitlab-ci-token".to_string(),
                get(vars, "CI_JOB_TOKEN")?.to_string(),
            ))
        })
        .or_else(|| pair("CI_DEPLOY_USER", "CI_DEPLOY_PASSWORD"));
    let login = match (&image, credentials) {
        (Some(image), Some((username, password))) => Some(Login {
            registry: if registry.is_empty() {
                registry_of(image).to_string()
            } else {
                registry.to_string()
            },
            username,
            password,
        }),
        (Some(image), None) => {
            tracing::warn!(
                "no registry login for {image}: none of CI_REGISTRY_USER/CI_REGISTRY_PASSWORD, CI_JOB_TOKEN or CI_DEPLOY_USER/CI_DEPLOY_PASSWORD is set, so the job's docker config has no entry for {}",
                if registry.is_empty() {
                    registry_of(image)
                } else {
                    registry
                }
            );
            None
        }
        _ => None,
    };
    o.header("STAGES_STORAGE");
    // werf writes "$CI_REGISTRY_IMAGE/stages", which is "/stages" without a registry.
    let stages = image.as_deref().map(|i| format!("{i}/stages"));
    o.set("WERF_STAGES_STORAGE", stages.as_deref().unwrap_or(""));
    if image.is_some() && on_registry("WERF_STAGES_STORAGE") {
        o.set("WERF_STAGES_STORAGE_REPO_IMPLEMENTATION", "gitlab");
    }
    o.header("IMAGES REPO");
    o.set("WERF_IMAGES_REPO", image.as_deref().unwrap_or(""));
    if image.is_some() && on_registry("WERF_IMAGES_REPO") {
        o.set("WERF_IMAGES_REPO_IMPLEMENTATION", "gitlab");
    }
    o.header("TAGGING");
    let tag = get(vars, "CI_BUILD_TAG").or(get(vars, "CI_COMMIT_TAG"));
    let branch = get(vars, "CI_BUILD_REF_NAME").or(get(vars, "CI_COMMIT_REF_NAME"));
    tagging_lines(
        o,
        tagging,
        tag,
        branch,
        ("CI_COMMIT_TAG", "CI_COMMIT_REF_NAME"),
    )?;
    cache_lines(
        o,
        &[
            if tag.is_some() { None } else { branch },
            get(vars, "CI_DEFAULT_BRANCH"),
        ],
    );
    o.header("DEPLOY");
    o.set("WERF_ENV", get(vars, "CI_ENVIRONMENT_SLUG").unwrap_or(""));
    let project_url = get(vars, "CI_PROJECT_URL");
    let annotation =
        |prefix: &str, v: Option<String>| v.map(|v| format!("{prefix}={v}")).unwrap_or_default();
    o.set(
        "WERF_ADD_ANNOTATION_PROJECT_GIT",
        &annotation("project.werf.io/git", project_url.map(str::to_string)),
    );
    o.set(
        "WERF_ADD_ANNOTATION_CI_COMMIT",
        &annotation(
            "ci.werf.io/commit",
            get(vars, "CI_COMMIT_SHA").map(str::to_string),
        ),
    );
    o.set(
        "WERF_ADD_ANNOTATION_GITLAB_CI_PIPELINE_URL",
        &annotation(
            "gitlab.ci.werf.io/pipeline-url",
            project_url
                .zip(get(vars, "CI_PIPELINE_ID"))
                .map(|(u, id)| format!("{u}/pipelines/{id}")),
        ),
    );
    o.set(
        "WERF_ADD_ANNOTATION_GITLAB_CI_JOB_URL",
        &annotation(
            "gitlab.ci.werf.io/job-url",
            project_url
                .zip(get(vars, "CI_JOB_ID"))
                .map(|(u, id)| format!("{u}/-/jobs/{id}")),
        ),
    );
    cleanup_lines(o);
    o.header("OTHER");
    o.set("WERF_GIT_HISTORY_SYNCHRONIZATION", "1");
    o.set("WERF_GIT_UNSHALLOW", "1");
    o.set(
        "WERF_LOG_COLOR_MODE",
        gitlab_color_mode(get(vars, "CI_SERVER_VERSION")),
    );
    o.set("WERF_LOG_PROJECT_DIR", "1");
    o.set("WERF_ENABLE_PROCESS_EXTERMINATOR", "1");
    o.set("WERF_LOG_TERMINAL_WIDTH", "95");
    Ok(login)
}

/// GitLab 12.1.x after 12.1.3 garbled colours: werf turns them off there.
fn gitlab_color_mode(version: Option<&str>) -> &'static str {
    let parse = |v: &str| -> Option<(u64, u64, u64)> {
        let v = v.split(['-', '+']).next()?;
        let mut it = v.split('.').map(|p| p.parse::<u64>().ok());
        Some((
            it.next()??,
            it.next().flatten().unwrap_or(0),
            it.next().flatten().unwrap_or(0),
        ))
    };
    match version.and_then(parse) {
        Some(v) if v > (12, 1, 3) && v < (12, 2, 0) => "off",
        _ => "on",
    }
}

fn github(o: &mut Out<'_>, tagging: Tagging) -> Result<Option<Login>, CiEnvError> {
    let vars = o.vars;
    let owner_project = get(vars, "GITHUB_REPOSITORY");
    // werf 1.1 used docker.pkg.github.com, which GitHub retired for ghcr.io.
    let repo = owner_project.map(|r| format!("ghcr.io/{}", r.to_lowercase()));
    o.header("STAGES_STORAGE");
    o.set(
        "WERF_STAGES_STORAGE",
        &repo
            .as_deref()
            .map(|r| format!("{r}/stages"))
            .unwrap_or_default(),
    );
    o.header("IMAGES REPO");
    o.set("WERF_IMAGES_REPO", repo.as_deref().unwrap_or(""));
    let r = get(vars, "GITHUB_REF").unwrap_or("");
    let (tag, branch) = if let Some(t) = r.strip_prefix("refs/tags/") {
        (Some(t), None)
    } else {
        (
            None,
            r.strip_prefix("refs/heads/")
                .or(get(vars, "GITHUB_HEAD_REF")),
        )
    };
    o.header("TAGGING");
    tagging_lines(
        o,
        tagging,
        tag,
        branch,
        ("GITHUB_REF (refs/tags/…)", "GITHUB_REF (refs/heads/…)"),
    )?;
    cache_lines(o, &[branch, get(vars, "GITHUB_BASE_REF")]);
    o.header("DEPLOY");
    let server = get(vars, "GITHUB_SERVER_URL").unwrap_or("https://github.com");
    o.set(
        "WERF_ADD_ANNOTATION_PROJECT_GIT",
        &owner_project
            .map(|p| format!("project.werf.io/git={server}/{p}"))
            .unwrap_or_default(),
    );
    o.set(
        "WERF_ADD_ANNOTATION_CI_COMMIT",
        &get(vars, "GITHUB_SHA")
            .map(|s| format!("ci.werf.io/commit={s}"))
            .unwrap_or_default(),
    );
    o.set(
        "WERF_ADD_ANNOTATION_GITHUB_ACTIONS_RUN_URL",
        &owner_project
            .zip(get(vars, "GITHUB_RUN_ID"))
            .map(|(p, id)| {
                format!("github.ci.werf.io/workflow-run-url={server}/{p}/actions/runs/{id}")
            })
            .unwrap_or_default(),
    );
    o.header("CLEANUP");
    o.secret(
        "WERF_REPO_GITHUB_TOKEN",
        get(vars, "GITHUB_TOKEN").unwrap_or(""),
    );
    cleanup_lines(o);
    o.header("OTHER");
    o.set("WERF_GIT_HISTORY_SYNCHRONIZATION", "1");
    o.set("WERF_LOG_COLOR_MODE", "on");
    o.set("WERF_LOG_PROJECT_DIR", "1");
    o.set("WERF_ENABLE_PROCESS_EXTERMINATOR", "1");
    o.set("WERF_LOG_TERMINAL_WIDTH", "95");
    let login = match (get(vars, "GITHUB_ACTOR"), get(vars, "GITHUB_TOKEN")) {
        (Some(actor), Some(token)) => Some(Login {
            registry: "ghcr.io".into(),
            username: actor.to_string(),
            password: token.to_string(),
        }),
        _ => None,
    };
    Ok(login)
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

/// The one directory that `ci-env` writes a job's files in (docker configs holding the job's
/// registry token, `--as-file` scripts): `TMP/slipway-ci-env`, so that they can be found
/// and swept instead of piling up in the temp dir.
pub fn job_files_dir(tmp: &Path) -> PathBuf {
    tmp.join("slipway-ci-env")
}

/// How old a job's files must be before a later `ci-env` removes them: longer than any CI
/// job runs (GitLab's longest job timeout is a month on self-hosted runners, but its default
/// is one hour; a job still running after a day on a shared shell runner is rare, and its
/// loss costs a login, not data).
pub const JOB_FILES_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Remove what earlier runs left in `dir` that is older than `max_age`; returns how many
/// entries went. Failures are skipped: another user's or a running job's file is not ours
/// to fail on.
pub fn sweep_job_files(dir: &Path, max_age: std::time::Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let now = std::time::SystemTime::now();
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.starts_with("slipway-") {
            continue;
        }
        let Ok(meta) = e.metadata() else { continue };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > max_age);
        if !old {
            continue;
        }
        let gone = if meta.is_dir() {
            std::fs::remove_dir_all(e.path())
        } else {
            std::fs::remove_file(e.path())
        };
        if gone.is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Write a docker config dir for the job: a copy of the user's `config.json` plus `login`.
/// Returns the new dir. Slipway writes it itself: no docker CLI needed.
pub fn write_docker_config(
    base: &Path,
    user_config_dir: Option<&Path>,
    login: Option<&Login>,
) -> Result<PathBuf, CiEnvError> {
    let io = |p: &Path, e: &dyn std::fmt::Display| CiEnvError::Io {
        path: p.display().to_string(),
        cause: e.to_string(),
    };
    std::fs::create_dir_all(base).map_err(|e| io(base, &e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Only its owner lists the job files (their names are not secret, their contents are).
        let _ = std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o700));
    }
    let dir = tempfile::Builder::new()
        .prefix("slipway-docker-config-")
        .tempdir_in(base)
        .map_err(|e| io(base, &e))?
        .keep();
    let mut cfg: serde_json::Value = user_config_dir
        .map(|d| d.join("config.json"))
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| serde_json::json!({}));
    if !cfg.is_object() {
        cfg = serde_json::json!({});
    }
    if let Some(l) = login {
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", l.username, l.password));
        if !cfg["auths"].is_object() {
            cfg["auths"] = serde_json::json!({});
        }
        cfg["auths"][&l.registry] = serde_json::json!({ "auth": auth });
        // A helper for this host would shadow the login.
        if let Some(h) = cfg.get_mut("credHelpers").and_then(|h| h.as_object_mut()) {
            h.remove(&l.registry);
        }
    }
    let path = dir.join("config.json");
    let data = serde_json::to_vec_pretty(&cfg).map_err(|e| io(&path, &e))?;
    std::fs::write(&path, data).map_err(|e| io(&path, &e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(dir)
}

/// Prepend the docker config line (always exported, werf's way).
pub fn with_docker_config(mut env: CiEnv, dir: &Path) -> CiEnv {
    let mut lines = vec![
        Line::Header("DOCKER CONFIG".into()),
        Line::Set {
            key: "DOCKER_CONFIG".into(),
            value: dir.display().to_string(),
            secret: false,
        },
    ];
    lines.append(&mut env.lines);
    env.lines = lines;
    env
}

/// POSIX shell double-quoted string: `\`, `"`, `$` and backtick escaped, so nothing in a
/// value (a branch name like `$(rm -rf ~)`) is expanded or executed when sourced.
pub fn sh_quote(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// PowerShell double-quoted string: backtick is its escape character.
pub fn ps_quote(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '`' | '"' | '$' => {
                s.push('`');
                s.push(c);
            }
            '\n' => s.push_str("`n"),
            '\r' => s.push_str("`r"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// POSIX single-quoted string (for `echo`).
fn sh_single(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

/// How to render.
#[derive(Debug, Clone, Copy, Default)]
pub struct Render {
    pub shell: Shell,
    /// werf's `--verbose`: echo each line (secrets masked) so the job log shows them.
    pub verbose: bool,
}

impl Render {
    fn export(&self, key: &str, value: &str) -> String {
        match self.shell {
            Shell::Posix => format!("export {key}={}", sh_quote(value)),
            Shell::PowerShell => format!("$Env:{key} = {}", ps_quote(value)),
            Shell::EnvFile => env_file_line(key, value),
        }
    }

    fn echo(&self, out: &mut String, text: &str) {
        if !self.verbose || self.shell == Shell::EnvFile {
            return;
        }
        let quoted = match self.shell {
            Shell::PowerShell => format!("'{}'", text.replace('\'', "''")),
            _ => sh_single(text),
        };
        out.push_str(&format!("echo {quoted}\n"));
    }

    /// The lines as a script (or env file).
    pub fn lines(&self, lines: &[Line]) -> String {
        if self.shell == Shell::EnvFile {
            return env_file(lines);
        }
        let mut out = String::new();
        for l in lines {
            match l {
                Line::Header(h) => {
                    // werf's order: blank line, header, then their echoes.
                    let first = out.is_empty();
                    if !first {
                        out.push('\n');
                    }
                    out.push_str(&format!("# {h}\n"));
                    if !first {
                        self.echo(&mut out, "");
                    }
                    self.echo(&mut out, &format!("# {h}"));
                }
                Line::Skip {
                    key,
                    value,
                    by,
                    secret,
                } => {
                    let shown = if *secret { "***" } else { value };
                    let line = format!("# skip {} ({by} is set)", self.export(key, shown));
                    out.push_str(&format!("{line}\n"));
                    self.echo(&mut out, &line);
                }
                Line::Set { key, value, secret } => {
                    let mut line = self.export(key, value);
                    let mut shown = self.export(key, if *secret { "***" } else { value });
                    if value.is_empty() {
                        line = format!("# {line}");
                        shown = format!("# {shown}");
                    }
                    out.push_str(&format!("{line}\n"));
                    self.echo(&mut out, &shown);
                }
            }
        }
        out
    }

    /// What a fatal error prints on stdout, so `source $(slipway ci-env …)` stops the
    /// job: werf's `exit 1` (after the message when verbose).
    pub fn fatal(&self, message: &str) -> String {
        let mut out = String::new();
        self.echo(&mut out, "");
        self.echo(&mut out, &format!("Error: {message}"));
        out.push_str("exit 1\n");
        out
    }
}

/// An env file: only the variables set, as `KEY=VALUE`. Headers and skipped variables
/// would be `#` lines, which the runners' parsers reject; an empty value is left out as the
/// scripts comment it out (an empty `KEY=` would clear a variable the job set).
fn env_file(lines: &[Line]) -> String {
    let mut out = String::new();
    for l in lines {
        if let Line::Set { key, value, .. } = l
            && !value.is_empty()
        {
            out.push_str(&env_file_line(key, value));
            out.push('\n');
        }
    }
    out
}

/// One variable in GitHub's env-file syntax: `KEY=VALUE`, or for a value with a line break
/// `KEY<<DELIM\nVALUE\nDELIM` with a random delimiter (GitHub's documented form; a fixed
/// one could be forged by the value).
fn env_file_line(key: &str, value: &str) -> String {
    if !value.contains(['\n', '\r']) {
        return format!("{key}={value}");
    }
    loop {
        let delim = format!("ghadelimiter_{}", random_hex());
        if !value.contains(&delim) {
            return format!("{key}<<{delim}\n{value}\n{delim}");
        }
    }
}

/// 16 random bytes as hex (the delimiter's suffix).
fn random_hex() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    // The OS generator does not fail on supported systems; were it to, the time still
    // makes the delimiter unguessable enough for values that come from CI variables.
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        b = nanos.to_le_bytes();
    }
    hex::encode(b)
}

/// Render the lines without echoes.
pub fn render(lines: &[Line], shell: Shell) -> String {
    Render {
        shell,
        verbose: false,
    }
    .lines(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn value(env: &CiEnv, key: &str) -> Option<String> {
        env.lines.iter().find_map(|l| match l {
            Line::Set { key: k, value, .. } if k == key => Some(value.clone()),
            _ => None,
        })
    }

    #[test]
    fn gitlab_login_prefers_the_registry_pair_then_the_job_token_then_a_deploy_token() {
        let base = [
            ("CI_REGISTRY", "registry.gitlab.example"),
            ("CI_REGISTRY_IMAGE", "registry.gitlab.example/g/p"),
        ];
        let login = |extra: &[(&str, &str)]| {
            let mut kv = base.to_vec();
            kv.extend_from_slice(extra);
            compute(Ci::GitLab, Tagging::Content, &vars(&kv))
                .expect("env")
                .login
                .map(|l| (l.registry, l.username, l.password))
        };
        let on = |u: &str, p: &str| {
            Some((
                "registry.gitlab.example".to_string(),
                u.to_string(),
                p.to_string(),
            ))
        };
        let all = [
            ("CI_REGISTRY_USER", "deployer"),
            ("CI_REGISTRY_PASSWORD", "pw"),
            ("CI_JOB_TOKEN", "tok"),
            ("CI_DEPLOY_USER", "gitlab+deploy-token-1"),
            ("CI_DEPLOY_PASSWORD", "dpw"),
        ];
        assert_eq!(login(&all), on("deployer", "pw"));
        assert_eq!(login(&all[1..]), on("gitlab-ci-token", "tok"));
        assert_eq!(login(&all[3..]), on("gitlab+deploy-token-1", "dpw"));
        assert_eq!(login(&[]), None);
    }

    #[test]
    fn gitlab_color_mode_as_werf() {
        assert_eq!(gitlab_color_mode(Some("12.1.4")), "off");
        assert_eq!(gitlab_color_mode(Some("12.1.3")), "on");
        assert_eq!(gitlab_color_mode(Some("12.2.0")), "on");
        assert_eq!(gitlab_color_mode(Some("16.5.1-ee")), "on");
        assert_eq!(gitlab_color_mode(None), "on");
    }

    #[test]
    fn user_set_slipway_twin_skips_the_werf_variable() {
        let v = vars(&[
            ("CI_REGISTRY", "registry.example.com"),
            ("CI_REGISTRY_IMAGE", "registry.example.com/g/app"),
            ("SLIPWAY_IMAGES_REPO", "other.example.com/mine"),
        ]);
        let env = compute(Ci::GitLab, Tagging::Content, &v).expect("env");
        assert_eq!(value(&env, "WERF_IMAGES_REPO"), None);
        // werf's condition: the user's repository is not on GitLab's registry.
        assert_eq!(value(&env, "WERF_IMAGES_REPO_IMPLEMENTATION"), None);
        assert_eq!(
            value(&env, "WERF_STAGES_STORAGE_REPO_IMPLEMENTATION").as_deref(),
            Some("gitlab")
        );
    }

    #[test]
    fn verbose_echoes_are_quoted_and_mask_secrets() {
        let lines = vec![
            Line::Header("H".into()),
            Line::Set {
                key: "K".into(),
                value: "it's".into(),
                secret: false,
            },
            Line::Set {
                key: "T".into(),
                value: "tok".into(),
                secret: true,
            },
        ];
        let r = Render {
            shell: Shell::Posix,
            verbose: true,
        };
        let text = r.lines(&lines);
        assert_eq!(
            text,
            "# H\necho '# H'\nexport K=\"it's\"\necho 'export K=\"it'\\''s\"'\nexport T=\"tok\"\necho 'export T=\"***\"'\n"
        );
        assert_eq!(r.fatal("boom"), "echo ''\necho 'Error: boom'\nexit 1\n");
    }

    #[test]
    fn powershell_and_quoting() {
        let lines = vec![Line::Set {
            key: "K".into(),
            value: "a\"b$c`d\ne".into(),
            secret: false,
        }];
        assert_eq!(
            render(&lines, Shell::PowerShell),
            "$Env:K = \"a`\"b`$c``d`ne\"\n"
        );
        assert_eq!(
            render(&lines, Shell::Posix),
            "export K=\"a\\\"b\\$c\\`d\ne\"\n"
        );
    }

    #[test]
    fn docker_config_copies_and_adds_the_login() {
        let user = tempfile::tempdir().expect("tmp");
        std::fs::write(
            user.path().join("config.json"),
            r#"{"auths":{"other.io":{"auth":"eDp5"}},"credHelpers":{"registry.example.com":"x"}}"#,
        )
        .expect("w");
        let base = tempfile::tempdir().expect("tmp");
        let login = Login {
            registry: "registry.example.com".into(),
            username: "gitlab-ci-token".into(),
            password: "tok".into(),
        };
        let dir = write_docker_config(base.path(), Some(user.path()), Some(&login)).expect("write");
        let cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).expect("read"))
                .expect("json");
        assert_eq!(cfg["auths"]["other.io"]["auth"], "eDp5");
        assert_eq!(
            cfg["auths"]["registry.example.com"]["auth"],
            base64::engine::general_purpose::STANDARD.encode("gitlab-ci-token:tok")
        );
        assert!(cfg["credHelpers"].get("registry.example.com").is_none());
    }

    #[test]
    fn job_files_older_than_a_day_are_swept() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = job_files_dir(tmp.path());
        let old = write_docker_config(&dir, None, None).expect("old");
        let new = write_docker_config(&dir, None, None).expect("new");
        let stranger = dir.join("not-ours");
        std::fs::create_dir_all(&stranger).expect("mkdir");
        let two_days_ago =
            std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
        for p in [&old, &stranger] {
            std::fs::File::open(p)
                .and_then(|f| f.set_modified(two_days_ago))
                .expect("age");
        }
        assert_eq!(sweep_job_files(&dir, JOB_FILES_MAX_AGE), 1);
        assert!(!old.exists());
        assert!(new.join("config.json").exists());
        assert!(stranger.exists(), "only Slipway's own files are swept");
        assert_eq!(
            sweep_job_files(&tmp.path().join("absent"), JOB_FILES_MAX_AGE),
            0
        );
    }
}
