//! Credentials per registry host, found where docker finds them: `$DOCKER_CONFIG/config.json`
//! (or `~/.docker/config.json`) `auths`, `credHelpers`, `credsStore`; then Podman's auth
//! file (`podman login`); then the `--registry-username`/`--registry-password` settings (`SLIPWAY_REGISTRY_*`, werf's
//! `WERF_REPO_*`). Secrets live only in [`Credential`], whose `Debug` redacts them.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine;
use serde::Deserialize;

/// A username/password or an identity token. `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (docker's `identitytoken`).
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credential::IdentityToken(_) => write!(f, "IdentityToken(***)"),
        }
    }
}

/// Credentials and where they came from (named in error messages; never the secret).
#[derive(Debug, Clone)]
pub struct Found {
    pub credential: Credential,
    pub source: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{path}: not a valid docker config: {cause}")]
    Config { path: String, cause: String },
    #[error("credential helper docker-credential-{helper} for {host} failed: {cause}")]
    Helper {
        helper: String,
        host: String,
        cause: String,
    },
}

#[derive(Debug, Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// Where credentials are looked up.
#[derive(Debug, Clone, Default)]
pub struct Keychain {
    /// Directory holding `config.json` (`DOCKER_CONFIG`, else `~/.docker`).
    pub docker_config_dir: Option<PathBuf>,
    /// Explicit credentials from settings (`--registry-username/--registry-password`).
    pub explicit: Option<(String, String)>,
    /// Podman's auth files (`podman login`), read after docker's config: the same `auths`
    /// format (containers-auth.json(5)).
    pub podman_auth_files: Vec<PathBuf>,
}

impl Keychain {
    fn config_path(&self) -> Option<PathBuf> {
        self.docker_config_dir
            .as_ref()
            .map(|d| d.join("config.json"))
    }

    /// Credentials for `host` (`host[:port]`), or `None` for anonymous access.
    pub fn lookup(&self, host: &str) -> Result<Option<Found>, AuthError> {
        if let Some(path) = self.config_path().filter(|p| p.is_file()) {
            let (cfg, shown) = read_config(&path)?;
            let keys = host_keys(host);
            if let Some(helper) = keys.iter().find_map(|k| cfg.cred_helpers.get(k)) {
                return helper_get(helper, host);
            }
            if let Some(entry) = keys.iter().find_map(|k| cfg.auths.get(k))
                && let Some(c) = entry_credential(entry, &shown)?
            {
                return Ok(Some(Found {
                    credential: c,
                    source: format!("{shown} (auths)"),
                }));
            }
            if let Some(store) = &cfg.creds_store
                && let Some(found) = helper_get(store, host)?
            {
                return Ok(Some(found));
            }
        }
        for path in self.podman_auth_files.iter().filter(|p| p.is_file()) {
            let (cfg, shown) = read_config(path)?;
            if let Some(entry) = host_keys(host).iter().find_map(|k| cfg.auths.get(k))
                && let Some(c) = entry_credential(entry, &shown)?
            {
                return Ok(Some(Found {
                    credential: c,
                    source: format!("{shown} (podman login)"),
                }));
            }
        }
        Ok(self.explicit.as_ref().map(|(u, p)| Found {
            credential: Credential::Basic {
                username: u.clone(),
                password: p.clone(),
            },
            source: "--registry-username/--registry-password (SLIPWAY_REGISTRY_USERNAME/PASSWORD)"
                .to_string(),
        }))
    }
}

/// Read a docker config.json (or Podman's auth.json, the same `auths` shape); returns it
/// with the path as errors and sources name it.
fn read_config(path: &std::path::Path) -> Result<(DockerConfig, String), AuthError> {
    let shown = path.display().to_string();
    let err = |cause: String| AuthError::Config {
        path: shown.clone(),
        cause,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let cfg = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    Ok((cfg, shown))
}

/// The keys docker may have written for a host.
fn host_keys(host: &str) -> Vec<String> {
    let mut keys = vec![
        host.to_string(),
        format!("https://{host}"),
        format!("http://{host}"),
        format!("https://{host}/v1/"),
        format!("https://{host}/v2/"),
    ];
    if host == "docker.io" {
        keys.push("https://index.docker.io/v1/".to_string());
        keys.push("index.docker.io".to_string());
    }
    keys
}

fn entry_credential(entry: &AuthEntry, path: &str) -> Result<Option<Credential>, AuthError> {
    if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credential::IdentityToken(token.clone())));
    }
    if let Some(auth) = entry.auth.as_ref().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| AuthError::Config {
                path: path.to_string(),
                cause: "an `auth` value is not base64 of user:password".to_string(),
            })?;
        let (u, p) = decoded.split_once(':').ok_or_else(|| AuthError::Config {
            path: path.to_string(),
            cause: "an `auth` value is not base64 of user:password".to_string(),
        })?;
        return Ok(Some(Credential::Basic {
            username: u.to_string(),
            password: p.to_string(),
        }));
    }
    if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
        return Ok(Some(Credential::Basic {
            username: u.clone(),
            password: p.clone(),
        }));
    }
    Ok(None)
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Run `docker-credential-NAME get` with the host on stdin (docker's helper protocol).
/// Written here rather than with `docker_credential` because that crate reads the docker
/// config itself and does not let us pass the host keys docker uses.
fn helper_get(name: &str, host: &str) -> Result<Option<Found>, AuthError> {
    let program = format!("docker-credential-{name}");
    let err = |cause: String| AuthError::Helper {
        helper: name.to_string(),
        host: host.to_string(),
        cause,
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(format!("cannot run {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(host.as_bytes())
            .map_err(|e| err(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| err(e.to_string()))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        if text.contains("credentials not found") {
            return Ok(None);
        }
        // The helper's own message may not echo secrets; keep only its first line.
        return Err(err(text.lines().next().unwrap_or("failed").to_string()));
    }
    let ans: HelperAnswer = serde_json::from_slice(&out.stdout)
        .map_err(|_| err("answer is not {\"Username\",\"Secret\"} JSON".to_string()))?;
    let credential = if ans.username == "<token>" {
        Credential::IdentityToken(ans.secret)
    } else {
        Credential::Basic {
            username: ans.username,
            password: ans.secret,
        }
    };
    Ok(Some(Found {
        credential,
        source: format!("credential helper {program}"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_login_comes_after_docker_and_before_explicit_settings() {
        let dir = tempfile::tempdir().expect("tmp");
        let docker = dir.path().join("docker");
        std::fs::create_dir_all(&docker).expect("mkdir");
        std::fs::write(
            docker.join("config.json"),
            r#"{"auths":{"d.example":{"auth":"ZHU6ZHA="}}}"#,
        )
        .expect("write");
        // As `podman login p.example -u pu -p pp` writes it.
        let podman = dir.path().join("auth.json");
        std::fs::write(
            &podman,
            r#"{"auths":{"p.example":{"auth":"cHU6cHA="},"d.example":{"auth":"eDp5"}}}"#,
        )
        .expect("write");
        let k = Keychain {
            docker_config_dir: Some(docker),
            explicit: Some(("eu".into(), "ep".into())),
            podman_auth_files: vec![dir.path().join("missing.json"), podman],
        };
        let user = |h: &str| match k.lookup(h).expect("lookup").map(|f| f.credential) {
            Some(Credential::Basic { username, .. }) => username,
            other => format!("{other:?}"),
        };
        assert_eq!(user("d.example"), "du");
        assert_eq!(user("p.example"), "pu");
        assert_eq!(user("other.example"), "eu");
        let found = k.lookup("p.example").expect("lookup").expect("found");
        assert!(found.source.contains("podman login"), "{}", found.source);
    }

    fn keychain(json: &str) -> (tempfile::TempDir, Keychain) {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("config.json"), json).expect("write");
        let k = Keychain {
            docker_config_dir: Some(dir.path().to_path_buf()),
            explicit: Some(("envuser".into(), "envpass".into())),
            podman_auth_files: Vec::new(),
        };
        (dir, k)
    }

    #[test]
    fn auths_entries_decode_and_fall_back_to_settings() {
        let (_d, k) = keychain(
            r#"{"auths":{"https://r.io":{"auth":"dTpw"},"t.io":{"identitytoken":"tok"}}}"#,
        );
        let f = k.lookup("r.io").expect("ok").expect("found");
        assert_eq!(
            f.credential,
            Credential::Basic {
                username: "u".into(),
                password: "p".into()
            }
        );
        assert!(f.source.contains("config.json"));
        let t = k.lookup("t.io").expect("ok").expect("found");
        assert_eq!(t.credential, Credential::IdentityToken("tok".into()));
        let e = k.lookup("other.io").expect("ok").expect("found");
        assert!(e.source.contains("SLIPWAY_REGISTRY_USERNAME"));
        assert!(!format!("{e:?}").contains("envpass"));
    }

    #[test]
    fn broken_config_names_the_file_and_not_the_secret() {
        let (_d, k) = keychain(r#"{"auths":{"r.io":{"auth":"!!!secretvalue"}}}"#);
        let err = k.lookup("r.io").expect_err("bad").to_string();
        assert!(err.contains("config.json"), "{err}");
        assert!(!err.contains("secretvalue"), "{err}");
    }
}
