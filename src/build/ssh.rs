//! SSH agent forwarding (`ssh:` of an image, BuildKit only): `RUN --mount=type=ssh` steps
//! reach the agent through the session. werf's value is Docker's `--ssh` form:
//! `default` (the agent at `SSH_AUTH_SOCK`), `ID=SOCKET`, several joined by commas.

use std::collections::BTreeMap;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("image {image}: ssh {id:?}: {cause}")]
pub struct SshError {
    pub image: String,
    pub id: String,
    pub cause: String,
}

/// Agent sockets by id.
pub type Agents = BTreeMap<String, PathBuf>;

/// Parse and check `ssh:`: every socket must exist now, so a missing agent fails before any
/// build starts. Key files (Docker's `--ssh id=key.pem`) are refused: Slipway forwards agents.
pub fn resolve(
    image: &str,
    spec: &str,
    project_dir: &Path,
    auth_sock: Option<&str>,
) -> Result<Agents, SshError> {
    let mut out = Agents::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, path) = match part.split_once('=') {
            Some((id, path)) => (id.trim(), Some(path.trim())),
            None => (part, None),
        };
        let err = |cause: String| SshError {
            image: image.to_string(),
            id: id.to_string(),
            cause,
        };
        let path = match path.or(auth_sock.filter(|s| !s.is_empty())) {
            Some(p) => project_dir.join(p),
            None => {
                return Err(err(
                    "no socket given and SSH_AUTH_SOCK is not set (start ssh-agent, or write ID=SOCKET)"
                        .into(),
                ));
            }
        };
        let meta = std::fs::metadata(&path).map_err(|e| err(format!("{}: {e}", path.display())))?;
        if !meta.file_type().is_socket() {
            return Err(err(format!(
                "{} is not an agent socket (key files are not supported: load the key into ssh-agent)",
                path.display()
            )));
        }
        out.insert(id.to_string(), path);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_resolve_to_sockets() {
        let d = tempfile::tempdir().expect("tmp");
        let sock = d.path().join("agent.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
        let s = sock.to_str().expect("utf8");
        let a = resolve("app", "default", d.path(), Some(s)).expect("default");
        assert_eq!(a.get("default"), Some(&sock));
        let a = resolve("app", "default, git=agent.sock", d.path(), Some(s)).expect("two");
        assert_eq!(a.len(), 2);
        assert_eq!(a.get("git"), Some(&sock));
        let e = resolve("app", "default", d.path(), None).unwrap_err();
        assert!(e.to_string().contains("SSH_AUTH_SOCK is not set"), "{e}");
        std::fs::write(d.path().join("key.pem"), "k").expect("write");
        let e = resolve("app", "k=key.pem", d.path(), None).unwrap_err();
        assert!(e.to_string().contains("not an agent socket"), "{e}");
        let e = resolve("app", "x=missing.sock", d.path(), None).unwrap_err();
        assert!(e.to_string().starts_with("image app: ssh \"x\": "), "{e}");
    }
}
