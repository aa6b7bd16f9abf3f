//! `slipway login`: store a registry login in docker's `config.json` the way `docker login`
//! does without a credential store (`auths.HOST.auth` = base64 of `user:password`), so
//! Slipway, docker and skopeo all use it.

use std::path::{Path, PathBuf};

use base64::Engine;

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("{path}: {cause} (fix or move the file; Slipway does not overwrite it)")]
    Config { path: String, cause: String },
    #[error("cannot write {path}: {cause}")]
    Write { path: String, cause: String },
}

/// The `auths` key docker uses for `host` (Docker Hub's is its old v1 address).
pub fn auths_key(host: &str) -> String {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
            "https://index.docker.io/v1/".to_string()
        }
        h => h.to_string(),
    }
}

/// What [`store`] changed besides the login.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Stored {
    pub path: PathBuf,
    /// A `credHelpers` entry for the host was removed: it would have shadowed the login.
    pub removed_helper: Option<String>,
}

/// Write the login for `host` into `dir/config.json`, keeping everything else in the file.
/// The file is replaced atomically and is 0600 (it holds a password); `dir` is created
/// 0700 when missing.
pub fn store(dir: &Path, host: &str, username: &str, password: &str) -> Result<Stored, LoginError> {
    let path = dir.join("config.json");
    let shown = path.display().to_string();
    let write_err = |cause: String| LoginError::Write {
        path: shown.clone(),
        cause,
    };
    let mut cfg = match std::fs::read(&path) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => serde_json::json!({}),
        Ok(b) => {
            serde_json::from_slice::<serde_json::Value>(&b).map_err(|e| LoginError::Config {
                path: shown.clone(),
                cause: e.to_string(),
            })?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
        Err(e) => {
            return Err(LoginError::Config {
                path: shown,
                cause: e.to_string(),
            });
        }
    };
    let Some(obj) = cfg.as_object_mut() else {
        return Err(LoginError::Config {
            path: shown,
            cause: "not a JSON object".into(),
        });
    };
    let key = auths_key(host);
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let auths = obj.entry("auths").or_insert_with(|| serde_json::json!({}));
    if !auths.is_object() {
        *auths = serde_json::json!({});
    }
    auths[&key] = serde_json::json!({ "auth": auth });
    let removed_helper = obj
        .get_mut("credHelpers")
        .and_then(|h| h.as_object_mut())
        .and_then(|h| h.remove(&key))
        .and_then(|v| v.as_str().map(str::to_string));
    let data = serde_json::to_vec_pretty(&cfg).map_err(|e| write_err(e.to_string()))?;
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|e| write_err(e.to_string()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
    }
    // The temp file is created 0600, so the password is never readable by others, not
    // even between the write and the rename.
    crate::fsutil::write_atomic(&path, &data).map_err(|e| write_err(e.to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| write_err(e.to_string()))?;
    }
    Ok(Stored {
        path,
        removed_helper,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_rest_of_the_file_and_is_private() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{"other.io":{"auth":"eDp5"}},"credHelpers":{"r.example:5000":"pass","gcr.io":"gcloud"},"proxies":{"default":{}}}"#,
        )
        .expect("w");
        let s = store(dir.path(), "r.example:5000", "u", "p:w").expect("store");
        assert_eq!(s.removed_helper.as_deref(), Some("pass"));
        let cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&s.path).expect("read")).expect("json");
        assert_eq!(cfg["auths"]["other.io"]["auth"], "eDp5");
        assert_eq!(cfg["auths"]["r.example:5000"]["auth"], "dTpwOnc=");
        assert_eq!(cfg["credHelpers"]["gcr.io"], "gcloud");
        assert!(cfg["credHelpers"].get("r.example:5000").is_none());
        assert!(cfg["proxies"]["default"].is_object());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&s.path)
                .expect("stat")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let s = store(dir.path(), "docker.io", "u", "p").expect("hub");
        let cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&s.path).expect("read")).expect("json");
        assert!(cfg["auths"]["https://index.docker.io/v1/"]["auth"].is_string());
    }

    #[test]
    fn a_broken_file_is_not_overwritten_and_a_missing_one_is_created() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("config.json"), "{not json").expect("w");
        let err = store(dir.path(), "h", "u", "p").expect_err("broken");
        assert!(matches!(err, LoginError::Config { .. }), "{err}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("config.json")).expect("read"),
            "{not json"
        );
        let new = dir.path().join("new/.docker");
        store(&new, "h", "u", "p").expect("create");
        assert!(new.join("config.json").is_file());
    }
}
