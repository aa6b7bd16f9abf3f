//! Which engine answers on the daemon socket: Docker, or Podman's Docker-compatible service
//! (`podman system service`). They build differently: Podman has no BuildKit (its builder
//! is Buildah), prints other step lines, and drops labels in one cached case.

/// The engine behind the Docker Engine API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    Docker { version: String },
    Podman { version: String },
}

impl Engine {
    pub fn is_podman(&self) -> bool {
        matches!(self, Engine::Podman { .. })
    }

    /// `Docker 20.10.24` / `Podman 4.3.1`.
    pub fn describe(&self) -> String {
        match self {
            Engine::Docker { version } => format!("Docker {version}"),
            Engine::Podman { version } => format!("Podman {version}"),
        }
    }
}

/// Tell from `/version`: Podman lists a `Podman Engine` component.
pub fn from_version(v: &bollard::models::SystemVersion) -> Engine {
    let podman = v
        .components
        .iter()
        .flatten()
        .find(|c| c.name.to_ascii_lowercase().starts_with("podman"));
    match podman {
        Some(c) => Engine::Podman {
            version: c.version.clone(),
        },
        None => Engine::Docker {
            version: v.version.clone().unwrap_or_else(|| "?".into()),
        },
    }
}

/// Ask the daemon.
pub async fn detect(docker: &bollard::Docker) -> Result<Engine, bollard::errors::Error> {
    docker.version().await.map(|v| from_version(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_is_told_from_its_components() {
        // As Podman 4.3's compat service answers /version (trimmed).
        let v: bollard::models::SystemVersion = serde_json::from_str(
            r#"{"Platform":{"Name":"linux/amd64/debian-12"},"Components":[{"Name":"Podman Engine","Version":"4.3.1","Details":{}},{"Name":"Conmon","Version":"conmon version 2.1.6","Details":{}}],"Version":"4.3.1","ApiVersion":"1.41"}"#,
        )
        .expect("json");
        assert_eq!(
            from_version(&v),
            Engine::Podman {
                version: "4.3.1".into()
            }
        );
        let d: bollard::models::SystemVersion = serde_json::from_str(
            r#"{"Components":[{"Name":"Engine","Version":"20.10.24+dfsg1","Details":{}}],"Version":"20.10.24+dfsg1","ApiVersion":"1.41"}"#,
        )
        .expect("json");
        assert_eq!(from_version(&d).describe(), "Docker 20.10.24+dfsg1");
    }
}
