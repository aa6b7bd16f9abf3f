//! BuildKit builds: the session (`session`, with the context served as folders by
//! `filesync`) and the builder on top of it.

pub mod filesync;
pub mod session;

use futures::future::BoxFuture;

use super::{BuildRequest, Builder, CannotRun, Log, Ran, StepFailure};
use crate::build::dockerfile;
use crate::registry::keychain::Keychain;
use session::{BuildKit, SolveLock};

/// BuildKit of a daemon, each build with its own session.
pub struct BuildKitBuilder {
    pub bk: BuildKit,
    /// The session's name.
    pub project: String,
    /// Registry credentials BuildKit may ask for while pulling base images.
    pub keychain: Keychain,
}

impl Builder for BuildKitBuilder {
    fn run<'a>(&'a self, req: BuildRequest<'a>, mut log: Log<'a>) -> BoxFuture<'a, Ran> {
        Box::pin(async move {
            let session = session::Session::start(
                &self.bk.endpoint,
                &self.project,
                req.session,
                self.keychain.clone(),
            )
            .await
            .map_err(CannotRun::Session)?;
            run_buildkit(
                &self.bk,
                &session,
                req.options,
                req.body,
                req.dockerfile_text,
                &mut log,
            )
            .await
        })
    }
}

/// A builder that runs one build at a time on a daemon that needs it (before Docker 25,
/// see [`BuildKit::one_at_a_time`]), queueing with other Slipway processes on the host.
pub struct Queued {
    pub inner: std::sync::Arc<dyn Builder>,
    pub bk: BuildKit,
}

impl Builder for Queued {
    fn run<'a>(&'a self, req: BuildRequest<'a>, log: Log<'a>) -> BoxFuture<'a, Ran> {
        Box::pin(async move {
            let _queued = SolveLock::take(&self.bk).await;
            self.inner.run(req, log).await
        })
    }
}

/// BuildKit through Slipway's session; `log` gets every progress line.
pub async fn run_buildkit(
    bk: &BuildKit,
    session: &session::Session,
    options: bollard::query_parameters::BuildImageOptions,
    body: impl futures::Stream<Item = bytes::Bytes> + Send + 'static,
    dockerfile_text: &str,
    log: &mut impl FnMut(&str),
) -> Ran {
    let mut image_id = None;
    let mut failure = None;
    session::build(bk, session, options, body, |p| match p {
        session::Progress::Line(l) => log(&l),
        session::Progress::ImageId(id) => image_id = Some(id),
        session::Progress::Failed { message, vertex } => {
            failure.get_or_insert((message, vertex));
        }
    })
    .await
    .map_err(CannotRun::Daemon)?;
    Ok(match failure {
        None => Ok(image_id),
        Some((message, vertex)) => {
            let vertex = vertex.unwrap_or_default();
            Err(StepFailure {
                line: dockerfile::locate_vertex(dockerfile_text, &vertex),
                step: vertex
                    .split_once("] ")
                    .map(|x| x.1)
                    .unwrap_or(&vertex)
                    .to_string(),
                message,
            })
        }
    })
}
