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

/// Why the agent for `--ssh-key` did not start.
#[derive(Debug, thiserror::Error)]
pub enum KeyAgentError {
    /// werf's text.
    #[error("specified ssh key {0} does not exist")]
    NoKey(String),
    #[error("ssh-agent for --ssh-key: {0} (is openssh-client installed?)")]
    Spawn(std::io::Error),
    #[error("ssh-agent for --ssh-key: its socket {0} did not appear")]
    NoSocket(String),
    #[error("error adding ssh key {key}: {cause}")]
    Add { key: String, cause: String },
}

/// werf's ssh agent for `--ssh-key`: a private `ssh-agent` holding only the given keys,
/// stopped (and its directory removed) when dropped.
pub struct KeyAgent {
    child: std::process::Child,
    sock: PathBuf,
    _dir: tempfile::TempDir,
}

impl KeyAgent {
    /// Start `ssh-agent` on a socket in a private directory and add each key to it. Keys
    /// are read by Slipway and handed over on stdin, so their file mode does not matter
    /// (werf reads them itself too).
    pub fn start(keys: &[PathBuf]) -> Result<KeyAgent, KeyAgentError> {
        for k in keys {
            if !k.is_file() {
                return Err(KeyAgentError::NoKey(k.display().to_string()));
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("slipway-ssh-agent-")
            .tempdir()
            .map_err(KeyAgentError::Spawn)?;
        let sock = dir.path().join("agent.sock");
        let child = std::process::Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .map_err(KeyAgentError::Spawn)?;
        let agent = KeyAgent {
            child,
            sock,
            _dir: dir,
        };
        for _ in 0..200 {
            if agent.sock.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        if !agent.sock.exists() {
            return Err(KeyAgentError::NoSocket(agent.sock.display().to_string()));
        }
        for k in keys {
            agent.add(k)?;
        }
        Ok(agent)
    }

    fn add(&self, key: &Path) -> Result<(), KeyAgentError> {
        use std::io::Write;
        let err = |cause: String| KeyAgentError::Add {
            key: key.display().to_string(),
            cause,
        };
        let data = std::fs::read(key).map_err(|e| err(e.to_string()))?;
        let mut child = std::process::Command::new("ssh-add")
            .args(["-q", "-"])
            .env("SSH_AUTH_SOCK", &self.sock)
            // A key with a passphrase fails instead of waiting for one (werf's agent
            // takes unencrypted keys only).
            .env("SSH_ASKPASS_REQUIRE", "never")
            .env_remove("DISPLAY")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| err(format!("ssh-add: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(&data).map_err(|e| err(e.to_string()))?;
        }
        let out = child.wait_with_output().map_err(|e| err(e.to_string()))?;
        if !out.status.success() {
            return Err(err(String::from_utf8_lossy(&out.stderr).trim().to_string()));
        }
        Ok(())
    }

    /// The agent's socket.
    pub fn socket(&self) -> &Path {
        &self.sock
    }
}

impl Drop for KeyAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
