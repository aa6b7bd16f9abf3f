//! The Docker daemon: connecting to it, and the image calls Slipway makes on it (inspect,
//! tag, look an image up by its labels) behind [`DaemonApi`], so the build can be tested
//! against a recording fake (`fake`, after youki's `TestHelperSyscall`). `docker` is the
//! bollard implementation; `http` talks to the daemon's API directly where bollard has no
//! call for it (BuildKit sessions, Podman's build secrets, pushes).

pub mod docker;
pub mod engine;
#[cfg(test)]
pub mod fake;
pub mod http;

use std::collections::HashMap;

use futures::future::BoxFuture;

use bollard::Docker;
use bollard::query_parameters::TagImageOptionsBuilder;

use crate::labels;
use crate::settings::DaemonEnv;
use http::Endpoint;

/// The daemon did not answer.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach the Docker daemon at {at}: {cause}")]
pub struct Unreachable {
    pub at: String,
    pub cause: String,
}

/// Connect to the daemon from `DOCKER_HOST` or the default socket and check it answers.
pub async fn connect(env: &DaemonEnv) -> Result<Docker, Unreachable> {
    let at = env
        .host
        .as_deref()
        .filter(|h| !h.is_empty())
        .unwrap_or("unix:///var/run/docker.sock")
        .to_string();
    let failed = |cause: String| Unreachable {
        at: at.clone(),
        cause,
    };
    // The endpoint as Slipway reads the environment (`HostEnv::daemon`), so bollard and
    // the BuildKit session always reach the same daemon.
    let endpoint = http::endpoint_of(env).map_err(|e| failed(e.to_string()))?;
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

/// The daemon of one command: connected on first use, then shared by every part of the
/// command that needs it (a build's bases, its builds, publish's pushes). Commands that
/// never touch the daemon never connect (`images`, `publish --dry-run` without local
/// images to plan). Cheap to clone: clones share the connection.
#[derive(Debug, Clone)]
pub struct Connection(std::sync::Arc<ConnectionState>);

#[derive(Debug)]
struct ConnectionState {
    env: DaemonEnv,
    docker: tokio::sync::OnceCell<Docker>,
}

impl Connection {
    /// The daemon `env` names, not connected yet.
    pub fn new(env: DaemonEnv) -> Self {
        Connection(std::sync::Arc::new(ConnectionState {
            env,
            docker: tokio::sync::OnceCell::new(),
        }))
    }

    /// Where the daemon is.
    pub fn env(&self) -> &DaemonEnv {
        &self.0.env
    }

    /// The daemon, connected (and pinged) on first use; a failed attempt is made again on
    /// the next call, as each part of a command connected on its own before.
    pub async fn get(&self) -> Result<&Docker, Unreachable> {
        self.0.docker.get_or_try_init(|| connect(&self.0.env)).await
    }
}

/// A daemon call that failed: the daemon's (or bollard's) message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DaemonError(pub String);

impl From<bollard::errors::Error> for DaemonError {
    fn from(e: bollard::errors::Error) -> Self {
        DaemonError(e.to_string())
    }
}

/// What the build reads of a local image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageInfo {
    /// `sha256:…` (empty when the daemon did not say).
    pub id: String,
    pub labels: HashMap<String, String>,
    /// The image's `USER` (empty: root).
    pub user: String,
    /// Its layers' diff IDs (`None`: the daemon did not say).
    pub layers: Option<Vec<String>>,
}

/// What the daemon says of its storage (`docker info`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageInfo {
    /// The storage driver (`overlay2`).
    pub driver: String,
    /// The data root (`/var/lib/docker`; empty: not said).
    pub root_dir: String,
}

/// An archive for the daemon's `load`, or its export, as it streams.
pub type Archive<'a> = futures::stream::BoxStream<'a, Result<bytes::Bytes, std::io::Error>>;

/// One image of the daemon's listing (`GET /images/json`), what host cleanup reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageSummary {
    pub id: String,
    /// `repo:tag` names (empty: dangling).
    pub tags: Vec<String>,
    pub labels: HashMap<String, String>,
    /// Bytes.
    pub size: u64,
    /// Unix seconds.
    pub created: i64,
}

/// One container of the daemon's listing, stopped ones included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSummary {
    pub id: String,
    /// The image's ID (`sha256:…`).
    pub image_id: String,
    /// Names without the leading `/`.
    pub names: Vec<String>,
    pub labels: HashMap<String, String>,
    pub running: bool,
}

/// The answer of one daemon call.
pub type Call<'a, T> = BoxFuture<'a, Result<T, DaemonError>>;

/// The image calls the build makes on the daemon (after go-containerregistry's
/// `daemon.Client`: only those, so a fake can stand in).
pub trait DaemonApi: Send + Sync {
    /// Inspect an image by ID or reference.
    fn inspect<'a>(&'a self, reference: &'a str) -> Call<'a, ImageInfo>;
    /// Tag image `id` as `reference` (`repo[:tag]`).
    fn tag<'a>(&'a self, id: &'a str, reference: &'a str) -> Call<'a, ()>;
    /// Remove a tag (or an image).
    fn remove<'a>(&'a self, reference: &'a str) -> Call<'a, ()>;
    /// The ID of an image with label `key=value`, if any.
    fn find_by_label<'a>(&'a self, key: &'a str, value: &'a str) -> Call<'a, Option<String>>;
    /// The daemon's `/version`.
    fn version(&self) -> Call<'_, bollard::models::SystemVersion>;
    /// Pull `reference` (`repo[:tag]`) into the daemon.
    fn pull<'a>(&'a self, reference: &'a str) -> Call<'a, ()>;
    /// Images carrying label `key` (any value), dangling ones included.
    fn list_images<'a>(&'a self, key: &'a str) -> Call<'a, Vec<ImageSummary>>;
    /// Every container, stopped ones included.
    fn list_containers(&self) -> Call<'_, Vec<ContainerSummary>>;
    /// Remove a container (`force`: a running one too).
    fn remove_container<'a>(&'a self, id: &'a str, force: bool) -> Call<'a, ()>;
    /// Remove an image by ID with all its tags (`force`: even when tagged more than once).
    fn remove_image<'a>(&'a self, id: &'a str, force: bool) -> Call<'a, ()>;
    /// Remove image `id`, keeping its untagged parents (`noprune`: the classic builder's
    /// cache of the image's steps stays for the next build).
    fn remove_keeping_parents<'a>(&'a self, id: &'a str) -> Call<'a, ()>;
    /// The daemon's data root (`docker info`'s `DockerRootDir`).
    fn root_dir(&self) -> Call<'_, String>;
    /// The daemon's storage driver and data root.
    fn storage(&self) -> Call<'_, StorageInfo>;
    /// `docker push name:tag` with `auth` for its registry; `tls_verify: false` tells Podman
    /// not to verify TLS (for insecure and loopback registries, which dockerd relaxes
    /// by itself). `Err`: the daemon's message.
    fn push<'a>(
        &'a self,
        name: &'a str,
        tag: &'a str,
        auth: Option<&'a bollard::auth::DockerCredentials>,
        tls_verify: bool,
    ) -> Call<'a, ()>;
    /// `docker load` of a docker-save archive (its `RepoTags` tag the image).
    fn load<'a>(&'a self, archive: Archive<'static>) -> Call<'a, ()>;
    /// `docker save` of image `id`, as it streams (on its own connection: it may outlive
    /// the call, into a blocking reader).
    fn export(&self, id: &str) -> Archive<'static>;
}

/// A local image built by Slipway with this signature, if any. `likely`: the name that
/// usually holds it (the node's local tag), checked first: one inspect instead of a
/// listing filtered by label, which reads every image a CI runner's daemon has piled up
/// (0.47 s for 6,000 images here).
pub async fn find_local(daemon: &dyn DaemonApi, sig: &str, likely: Option<&str>) -> Option<String> {
    if let Some(name) = likely
        && let Ok(i) = daemon.inspect(name).await
        && i.labels.get(labels::SIGNATURE).is_some_and(|v| v == sig)
    {
        return Some(i.id).filter(|id| !id.is_empty());
    }
    daemon
        .find_by_label(labels::SIGNATURE, sig)
        .await
        .ok()
        .flatten()
}

/// Was local image `id` built with these `ImageDigest` imports (`None`: it has none)?
pub async fn built_with(daemon: &dyn DaemonApi, id: &str, imported_digests: Option<&str>) -> bool {
    let Some(want) = imported_digests else {
        return true;
    };
    daemon
        .inspect(id)
        .await
        .is_ok_and(|i| i.labels.get(labels::IMPORTED_DIGESTS).map(String::as_str) == Some(want))
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
