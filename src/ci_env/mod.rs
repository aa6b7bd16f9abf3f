//! `ci-env`: turn a CI system's predefined variables into Slipway settings (and werf 1.1's
//! `WERF_*` twins) plus a registry login, printed as shell lines to `source`.
//!
//! Everything here works on a given variable map, not the process environment, so it is
//! testable; the CLI passes `std::env::vars()`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;

use crate::naming::slug::{SlugFormat, slug};

#[derive(Debug, thiserror::Error)]
pub enum CiEnvError {
    #[error("{ci}: {name} is not set; is this running in {ci}?")]
    Missing { ci: &'static str, name: String },
    #[error("--tagging-strategy tag-or-branch: neither {tag} nor {branch} is set")]
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

impl std::str::FromStr for Ci {
    type Err = CiEnvError;
    fn from_str(s: &str) -> Result<Self, CiEnvError> {
        match s {
            "gitlab" => Ok(Ci::GitLab),
            "github" => Ok(Ci::GitHub),
            o => Err(CiEnvError::Usage(format!(
                "unknown CI system {o:?}: choose gitlab or github"
            ))),
        }
    }
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

impl std::str::FromStr for Tagging {
    type Err = CiEnvError;
    fn from_str(s: &str) -> Result<Self, CiEnvError> {
        match s {
            "content" | "stages-signature" => Ok(Tagging::Content),
            "tag-or-branch" => Ok(Tagging::TagOrBranch),
            o => Err(CiEnvError::Usage(format!(
                "--tagging-strategy {o:?}: choose content or tag-or-branch"
            ))),
        }
    }
}

/// Output syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shell {
    #[default]
    Posix,
    PowerShell,
    /// `KEY=VALUE` lines (a dotenv file).
    EnvFile,
}

/// One output line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Header(String),
    Set {
        key: String,
        value: String,
    },
    /// Already set in the environment: left alone.
    Skip {
        key: String,
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

fn need<'a>(
    vars: &'a BTreeMap<String, String>,
    ci: &'static str,
    name: &str,
) -> Result<&'a str, CiEnvError> {
    vars.get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| CiEnvError::Missing {
            ci,
            name: name.to_string(),
        })
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

    /// `SLIPWAY_X` and its werf twin `WERF_X` (or `werf` when it differs).
    fn set(&mut self, slipway: &str, werf: Option<&str>, value: &str) {
        let twin = werf.map(str::to_string).or_else(|| {
            slipway
                .strip_prefix("SLIPWAY_")
                .map(|r| format!("WERF_{r}"))
        });
        for key in std::iter::once(slipway.to_string()).chain(twin) {
            self.raw(&key, value);
        }
    }

    fn raw(&mut self, key: &str, value: &str) {
        if get(self.vars, key).is_some() {
            self.lines.push(Line::Skip {
                key: key.to_string(),
            });
        } else {
            self.lines.push(Line::Set {
                key: key.to_string(),
                value: value.to_string(),
            });
        }
    }
}

/// Compute the settings for `ci` from `vars`. The docker config line is added by
/// [`finish`], once the config dir exists.
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
    o.header("CLEANUP POLICIES (werf 1.1 defaults)");
    for (k, v) in [
        ("SLIPWAY_GIT_TAG_STRATEGY_LIMIT", "10"),
        ("SLIPWAY_GIT_TAG_STRATEGY_EXPIRY_DAYS", "30"),
        ("SLIPWAY_GIT_COMMIT_STRATEGY_LIMIT", "50"),
        ("SLIPWAY_GIT_COMMIT_STRATEGY_EXPIRY_DAYS", "30"),
        ("SLIPWAY_STAGES_SIGNATURE_STRATEGY_LIMIT", "-1"),
        ("SLIPWAY_STAGES_SIGNATURE_STRATEGY_EXPIRY_DAYS", "-1"),
        // CI checkouts hold only the pipeline's branch: cleanup fetches origin first (werf's
        // ci-env sets WERF_GIT_HISTORY_SYNCHRONIZATION=1 too).
        ("SLIPWAY_GIT_HISTORY_SYNCHRONIZATION", "1"),
    ] {
        o.set(k, None, v);
    }
    Ok(CiEnv {
        lines: o.lines,
        login,
    })
}

fn gitlab(o: &mut Out<'_>, tagging: Tagging) -> Result<Option<Login>, CiEnvError> {
    const CI: &str = "GitLab CI";
    let vars = o.vars;
    let image = need(vars, CI, "CI_REGISTRY_IMAGE")?.to_string();
    let registry = get(vars, "CI_REGISTRY").map(str::to_string);
    o.header("IMAGES REPO");
    o.set("SLIPWAY_IMAGES_REPO", None, &image);
    let on_gitlab_registry = registry
        .as_deref()
        .is_some_and(|r| image.starts_with(&format!("{r}/")) || image == r);
    o.set(
        "SLIPWAY_IMPLEMENTATION",
        Some("WERF_IMAGES_REPO_IMPLEMENTATION"),
        if on_gitlab_registry { "gitlab" } else { "" },
    );
    o.header("TAGGING");
    tagging_lines(
        o,
        tagging,
        get(vars, "CI_COMMIT_TAG"),
        get(vars, "CI_COMMIT_REF_NAME"),
        ("CI_COMMIT_TAG", "CI_COMMIT_REF_NAME"),
    )?;
    cache_lines(
        o,
        &[
            get(vars, "CI_COMMIT_REF_NAME"),
            get(vars, "CI_DEFAULT_BRANCH"),
        ],
    );
    o.header("ENV");
    o.set(
        "SLIPWAY_ENV",
        None,
        get(vars, "CI_ENVIRONMENT_SLUG").unwrap_or(""),
    );
    o.header("ANNOTATIONS");
    o.set(
        "SLIPWAY_ADD_ANNOTATION_PROJECT_GIT",
        None,
        &format!(
            "project.werf.io/git={}",
            get(vars, "CI_PROJECT_URL").unwrap_or("")
        ),
    );
    o.set(
        "SLIPWAY_ADD_ANNOTATION_CI_COMMIT",
        None,
        &format!(
            "ci.werf.io/commit={}",
            get(vars, "CI_COMMIT_SHA").unwrap_or("")
        ),
    );
    o.set(
        "SLIPWAY_ADD_ANNOTATION_GITLAB_CI_PIPELINE_URL",
        None,
        &format!(
            "gitlab.ci.werf.io/pipeline-url={}",
            get(vars, "CI_PIPELINE_URL").unwrap_or("")
        ),
    );
    o.set(
        "SLIPWAY_ADD_ANNOTATION_GITLAB_CI_JOB_URL",
        None,
        &format!(
            "gitlab.ci.werf.io/job-url={}",
            get(vars, "CI_JOB_URL").unwrap_or("")
        ),
    );
    let login = match (registry, get(vars, "CI_JOB_TOKEN")) {
        (Some(registry), Some(token)) => Some(Login {
            registry,
            username: "gitlab-ci-token".into(),
            password: token.to_string(),
        }),
        _ => None,
    };
    Ok(login)
}

fn github(o: &mut Out<'_>, tagging: Tagging) -> Result<Option<Login>, CiEnvError> {
    const CI: &str = "GitHub Actions";
    let vars = o.vars;
    let repo = need(vars, CI, "GITHUB_REPOSITORY")?.to_lowercase();
    o.header("IMAGES REPO");
    o.set("SLIPWAY_IMAGES_REPO", None, &format!("ghcr.io/{repo}"));
    o.set(
        "SLIPWAY_IMPLEMENTATION",
        Some("WERF_IMAGES_REPO_IMPLEMENTATION"),
        "github",
    );
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
    o.header("ANNOTATIONS");
    let server = get(vars, "GITHUB_SERVER_URL").unwrap_or("https://github.com");
    o.set(
        "SLIPWAY_ADD_ANNOTATION_PROJECT_GIT",
        None,
        &format!("project.werf.io/git={server}/{repo}"),
    );
    o.set(
        "SLIPWAY_ADD_ANNOTATION_CI_COMMIT",
        None,
        &format!(
            "ci.werf.io/commit={}",
            get(vars, "GITHUB_SHA").unwrap_or("")
        ),
    );
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

/// Build cache sources: what this branch and the default (or base) branch published, as
/// their branch tags. A fresh runner's daemon then reuses those layers (BuildKit).
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
        // werf has no such setting: no WERF_ twin.
        o.raw("SLIPWAY_CACHE_FROM", &tags.join(","));
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
        Tagging::Content => o.set(
            "SLIPWAY_TAG_BY_CONTENT",
            Some("WERF_TAG_BY_STAGES_SIGNATURE"),
            "true",
        ),
        Tagging::TagOrBranch => match (tag, branch) {
            (Some(t), _) => o.set("SLIPWAY_TAG_GIT_TAG", None, &slug(t, SlugFormat::DockerTag)),
            (None, Some(b)) => o.set(
                "SLIPWAY_TAG_GIT_BRANCH",
                None,
                &slug(b, SlugFormat::DockerTag),
            ),
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

/// Render the lines.
pub fn render(lines: &[Line], shell: Shell) -> String {
    let mut out = String::new();
    for l in lines {
        match l {
            Line::Header(h) => {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&format!("### {h}\n"));
            }
            Line::Skip { key } => out.push_str(&format!("# skip {key}: already set\n")),
            Line::Set { key, value } => {
                let line = match shell {
                    Shell::Posix => format!("export {key}={}", sh_quote(value)),
                    Shell::PowerShell => format!("$Env:{key} = {}", ps_quote(value)),
                    Shell::EnvFile => format!("{key}={}", value.replace('\n', "\\n")),
                };
                if value.is_empty() {
                    out.push_str(&format!("# {line}\n"));
                } else {
                    out.push_str(&format!("{line}\n"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gitlab_vars() -> BTreeMap<String, String> {
        [
            ("CI_REGISTRY", "registry.example.com"),
            ("CI_REGISTRY_IMAGE", "registry.example.com/group/app"),
            ("CI_JOB_TOKEN", "tok"),
            ("CI_COMMIT_REF_NAME", "feature/x"),
            ("CI_DEFAULT_BRANCH", "main"),
            ("CI_COMMIT_SHA", "abc"),
            ("CI_PROJECT_URL", "https://gitlab.example.com/group/app"),
            ("CI_ENVIRONMENT_SLUG", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn value(env: &CiEnv, key: &str) -> Option<String> {
        env.lines.iter().find_map(|l| match l {
            Line::Set { key: k, value } if k == key => Some(value.clone()),
            _ => None,
        })
    }

    #[test]
    fn gitlab_settings_and_twins() {
        let env = compute(Ci::GitLab, Tagging::TagOrBranch, &gitlab_vars()).expect("env");
        assert_eq!(
            value(&env, "SLIPWAY_IMAGES_REPO").as_deref(),
            Some("registry.example.com/group/app")
        );
        assert_eq!(
            value(&env, "WERF_IMAGES_REPO").as_deref(),
            Some("registry.example.com/group/app")
        );
        assert_eq!(
            value(&env, "SLIPWAY_IMPLEMENTATION").as_deref(),
            Some("gitlab")
        );
        let b = value(&env, "SLIPWAY_TAG_GIT_BRANCH").expect("branch");
        assert!(b.starts_with("feature-x-"), "{b}");
        // Build cache from this branch's tag and the default branch's.
        let cache = value(&env, "SLIPWAY_CACHE_FROM").expect("cache");
        assert_eq!(cache, format!("{b},main"));
        assert_eq!(value(&env, "WERF_CACHE_FROM"), None);
        assert_eq!(
            value(&env, "SLIPWAY_GIT_COMMIT_STRATEGY_LIMIT").as_deref(),
            Some("50")
        );
        assert_eq!(
            env.login.as_ref().map(|l| l.username.as_str()),
            Some("gitlab-ci-token")
        );
        let text = render(&env.lines, Shell::Posix);
        assert!(text.contains("# export SLIPWAY_ENV=\"\"\n"), "{text}");
        assert!(text.contains("### TAGGING\n"), "{text}");
        // Content tagging, and a variable already set.
        let mut vars = gitlab_vars();
        vars.insert("SLIPWAY_IMAGES_REPO".into(), "mine".into());
        let env = compute(Ci::GitLab, Tagging::Content, &vars).expect("env");
        assert_eq!(
            value(&env, "SLIPWAY_TAG_BY_CONTENT").as_deref(),
            Some("true")
        );
        assert_eq!(
            value(&env, "WERF_TAG_BY_STAGES_SIGNATURE").as_deref(),
            Some("true")
        );
        assert!(
            render(&env.lines, Shell::Posix).contains("# skip SLIPWAY_IMAGES_REPO: already set\n")
        );
    }

    #[test]
    fn missing_variables_are_named() {
        let mut vars = gitlab_vars();
        vars.remove("CI_COMMIT_REF_NAME");
        let e = compute(Ci::GitLab, Tagging::TagOrBranch, &vars).expect_err("no ref");
        assert!(
            e.to_string().contains("CI_COMMIT_TAG") && e.to_string().contains("CI_COMMIT_REF_NAME"),
            "{e}"
        );
        let e = compute(Ci::GitLab, Tagging::Content, &BTreeMap::new()).expect_err("not gitlab");
        assert!(e.to_string().contains("CI_REGISTRY_IMAGE"), "{e}");
        let e = compute(Ci::GitHub, Tagging::Content, &BTreeMap::new()).expect_err("not github");
        assert!(e.to_string().contains("GITHUB_REPOSITORY"), "{e}");
    }

    #[test]
    fn powershell_and_quoting() {
        let lines = vec![Line::Set {
            key: "K".into(),
            value: "a\"b$c`d\ne".into(),
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
}
