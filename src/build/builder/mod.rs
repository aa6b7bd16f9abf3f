//! The builders that turn a context and a Dockerfile into an image, behind one trait
//! ([`Builder`], after youki's `Executor`): BuildKit through Slipway's session
//! (`buildkit`), the daemon's classic builder (`classic`), and Podman's `/build` with werf
//! `secrets:` (`podman`). Which one builds an image is decided once per run ([`Builders`]).

pub mod buildkit;
pub mod classic;
#[cfg(test)]
pub mod fake;
pub mod podman;

use std::collections::BTreeMap;
use std::sync::Arc;

use bollard::query_parameters::BuildImageOptions;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

use crate::daemon::http::HttpError;
use buildkit::session::SessionData;

/// One build as a builder gets it.
pub struct BuildRequest<'a> {
    /// bollard's build options: Dockerfile name, tag, labels, build arguments, target, …
    pub options: BuildImageOptions,
    /// The context tar (empty when BuildKit reads the context over its session).
    pub body: BoxStream<'static, bytes::Bytes>,
    pub dockerfile_text: &'a str,
    /// The build arguments the `FROM` lines expand with: the classic builder passes
    /// credentials for their registries. `None`: no base image to pull (label repair).
    pub from_args: Option<&'a BTreeMap<String, String>>,
    /// What BuildKit's session serves (secrets, SSH agents, the context as folders).
    pub session: SessionData,
    /// Podman: werf `secrets:` as (id, file in the context).
    pub podman_secrets: &'a [(String, String)],
}

/// Credentials for the `FROM` images' registries, as the classic and Podman builders take
/// them (`None` without base images to pull: `from_args` is a request's).
pub async fn base_credentials(
    from_args: Option<&std::collections::BTreeMap<String, String>>,
    dockerfile_text: &str,
    keychain: &crate::registry::keychain::Keychain,
) -> Result<Option<std::collections::HashMap<String, bollard::auth::DockerCredentials>>, CannotRun>
{
    match from_args {
        Some(args) => classic::base_image_credentials(dockerfile_text, args, keychain).await,
        None => Ok(None),
    }
}

/// A failed build step: its Dockerfile line when known, the instruction, the builder's message.
#[derive(Debug, Clone)]
pub struct StepFailure {
    pub line: Option<usize>,
    pub step: String,
    pub message: String,
}

/// Why a build could not run at all (a step that failed is a [`StepFailure`]).
#[derive(Debug, thiserror::Error)]
pub enum CannotRun {
    #[error("BuildKit session: {0}")]
    Session(HttpError),
    /// The daemon's answer broke off (BuildKit's solve, Podman's `/build`).
    #[error("build failed: {0}")]
    Daemon(HttpError),
    #[error("build failed: {0}")]
    Classic(bollard::errors::Error),
    #[error("build failed: {0}")]
    Body(hyper::Error),
    #[error("{0}")]
    Endpoint(crate::daemon::http::EndpointError),
    /// The request could not be written (its JSON, query or head).
    #[error("{0}")]
    Json(serde_json::Error),
    #[error("{0}")]
    Query(serde_urlencoded::ser::Error),
    #[error("{0}")]
    Request(http::Error),
    /// The base images' registry credentials could not be read.
    #[error("{0}")]
    Credentials(crate::registry::keychain::AuthError),
    #[error("{0}")]
    Join(tokio::task::JoinError),
    /// Tagging the built image (the fake builder).
    #[error("{0}")]
    Tag(crate::daemon::DaemonError),
}

/// What running one builder gives: the image ID (if the daemon said it) or the failed step;
/// `Err` when the build could not run at all.
pub type Ran = Result<Result<Option<String>, StepFailure>, CannotRun>;

/// Every progress line of a build goes to the log.
pub type Log<'a> = &'a mut (dyn FnMut(&str) + Send);

/// Builds one image.
pub trait Builder: Send + Sync {
    fn run<'a>(&'a self, req: BuildRequest<'a>, log: Log<'a>) -> BoxFuture<'a, Ran>;
}

/// The builders of a run: BuildKit when the daemon has it, the classic builder, and
/// Podman's (for werf `secrets:` without BuildKit).
#[derive(Clone)]
pub struct Builders {
    pub buildkit: Option<Arc<dyn Builder>>,
    pub classic: Arc<dyn Builder>,
    pub podman: Arc<dyn Builder>,
}

impl Builders {
    /// `buildkit` builds on `bk`, one at a time when that daemon needs it (see
    /// [`buildkit::Queued`]).
    pub fn new(
        bk: Option<&buildkit::session::BuildKit>,
        buildkit: Arc<dyn Builder>,
        classic: Arc<dyn Builder>,
        podman: Arc<dyn Builder>,
    ) -> Builders {
        Builders {
            buildkit: bk.map(|bk| queued(bk, buildkit)),
            classic,
            podman,
        }
    }

    /// The real builders of daemon `docker`.
    pub fn of_daemon(
        docker: &bollard::Docker,
        bk: Option<&buildkit::session::BuildKit>,
        project: &str,
        keychain: &crate::registry::keychain::Keychain,
        daemon: &crate::settings::DaemonEnv,
    ) -> Builders {
        Builders {
            buildkit: bk.map(|bk| {
                let real = buildkit::BuildKitBuilder {
                    bk: bk.clone(),
                    project: project.to_string(),
                    keychain: keychain.clone(),
                };
                queued(bk, Arc::new(real))
            }),
            classic: Arc::new(classic::ClassicBuilder {
                docker: docker.clone(),
                keychain: keychain.clone(),
            }),
            podman: Arc::new(podman::PodmanBuilder {
                keychain: keychain.clone(),
                daemon: daemon.clone(),
            }),
        }
    }
}

fn queued(bk: &buildkit::session::BuildKit, inner: Arc<dyn Builder>) -> Arc<dyn Builder> {
    Arc::new(buildkit::Queued {
        inner,
        bk: bk.clone(),
    })
}
