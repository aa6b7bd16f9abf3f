//! The Docker daemon: connecting to it, and the image calls Slipway makes on it (inspect,
//! tag, look an image up by its labels). `http` talks to the daemon's API directly where
//! bollard has no call for it (BuildKit sessions, Podman's build secrets, pushes).

pub mod engine;
pub mod http;

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{ListImagesOptionsBuilder, TagImageOptionsBuilder};

use crate::labels;
use http::Endpoint;

/// The daemon did not answer.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach the Docker daemon at {at}: {cause}")]
pub struct Unreachable {
    pub at: String,
    pub cause: String,
}

/// Connect to the daemon from `DOCKER_HOST` or the default socket and check it answers.
pub async fn connect() -> Result<Docker, Unreachable> {
    let at = crate::settings::host_env::docker_host()
        .unwrap_or("unix:///var/run/docker.sock")
        .to_string();
    let failed = |cause: String| Unreachable {
        at: at.clone(),
        cause,
    };
    // The endpoint as Slipway reads the environment (once, in `host_env`), so bollard and
    // the BuildKit session always reach the same daemon.
    let endpoint = http::endpoint_from_env().map_err(failed)?;
    const TIMEOUT: u64 = 120;
    let version = bollard::API_DEFAULT_VERSION;
    let docker = match &endpoint {
        Endpoint::Unix(path) => {
            Docker::connect_with_unix(&path.to_string_lossy(), TIMEOUT, version)
        }
        Endpoint::Tcp(addr) => {
            Docker::connect_with_http(&format!("tcp://{addr}"), TIMEOUT, version)
        }
        Endpoint::Tls { addr, cert_dir } => Docker::connect_with_ssl(
            &format!("tcp://{addr}"),
            &cert_dir.join("key.pem"),
            &cert_dir.join("cert.pem"),
            &cert_dir.join("ca.pem"),
            TIMEOUT,
            version,
        ),
    }
    .map_err(|e| failed(e.to_string()))?;
    docker.ping().await.map_err(|e| Unreachable {
        at,
        cause: e.to_string(),
    })?;
    Ok(docker)
}

/// A local image built by Slipway with this signature, if any. `likely`: the name that
/// usually holds it (the node's local tag), checked first: one inspect instead of a
/// listing filtered by label, which reads every image a CI runner's daemon has piled up
/// (0.47 s for 6,000 images here).
pub async fn find_local(docker: &Docker, sig: &str, likely: Option<&str>) -> Option<String> {
    if let Some(name) = likely
        && let Ok(i) = docker.inspect_image(name).await
        && i.config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .and_then(|l| l.get(labels::SIGNATURE))
            .is_some_and(|v| v == sig)
    {
        return i.id;
    }
    let mut filters = HashMap::new();
    filters.insert(
        "label".to_string(),
        vec![format!("{}={sig}", labels::SIGNATURE)],
    );
    let opts = ListImagesOptionsBuilder::default()
        .filters(&filters)
        .build();
    docker
        .list_images(Some(opts))
        .await
        .ok()?
        .into_iter()
        .next()
        .map(|i| i.id)
}

/// Was local image `id` built with these `ImageDigest` imports (`None`: it has none)?
pub async fn built_with(docker: &Docker, id: &str, imported_digests: Option<&str>) -> bool {
    let Some(want) = imported_digests else {
        return true;
    };
    docker
        .inspect_image(id)
        .await
        .ok()
        .and_then(|i| i.config)
        .and_then(|c| c.labels)
        .is_some_and(|l| l.get(labels::IMPORTED_DIGESTS).map(String::as_str) == Some(want))
}

/// Tag image `id` in the daemon as `reference` (`repo[:tag]`).
pub async fn tag(docker: &Docker, id: &str, reference: &str) -> Result<(), bollard::errors::Error> {
    let (repo, tag) = split_reference(reference);
    docker
        .tag_image(
            id,
            Some(
                TagImageOptionsBuilder::default()
                    .repo(repo)
                    .tag(tag)
                    .build(),
            ),
        )
        .await
}

/// `repo[:tag]` as the daemon's tag call takes it (no tag: `latest`).
pub fn split_reference(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (reference, "latest"),
    }
}
