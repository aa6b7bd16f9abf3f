//! The files `ci-env` writes for a job: its docker config (with the registry login) in one
//! directory, swept of what earlier jobs left.

use std::path::{Path, PathBuf};

use base64::Engine;

use super::{CiEnv, CiEnvError, Line, Login};

/// [`super::compute`] for a job: sweep old job files from `TMP/slipway-ci-env`, write the
/// job's docker config there (a copy of the user's, in `user_config_dir`, plus the login)
/// and put it first.
pub fn for_job(
    ci: super::Ci,
    tagging: super::Tagging,
    vars: &std::collections::BTreeMap<String, String>,
    tmp: &Path,
    user_config_dir: Option<&Path>,
) -> Result<CiEnv, CiEnvError> {
    let computed = super::compute(ci, tagging, vars)?;
    let files = job_files_dir(tmp);
    let swept = sweep_job_files(&files, JOB_FILES_MAX_AGE);
    if swept > 0 {
        tracing::debug!(
            "removed {swept} job file(s) older than a day from {}",
            files.display()
        );
    }
    let dir = write_docker_config(&files, user_config_dir, computed.login.as_ref())?;
    Ok(with_docker_config(computed, &dir))
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
