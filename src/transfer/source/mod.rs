//! Where an image comes from, and the one copy path every source goes through: plan the
//! blobs against the target ([`plan`]), send them ([`ImageSource::send`]), then write the
//! manifest and tags ([`copy`]). Three sources: the daemon's export stream ([`daemon`]), a
//! docker-save or OCI archive ([`archive`]) and a registry repository ([`registry`]). The
//! daemon source reads the daemon's [`layer_store`] in place where it can.

pub mod archive;
pub mod daemon;
pub mod layer_store;
pub mod registry;

use std::future::Future;

use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};

use super::plan::{self, BlobAction, BlobStep, CopyPlan, ManifestStep, Origin, SourceBlob};
use super::push::{PushError, PushProgress, PushReport, PushedLayer, Session};

/// What a source sent; the manifest follows from it.
pub enum Sent {
    /// Layers of an image whose config and manifest are written now (local sources); the
    /// manifest is the source's own when it holds one (an OCI layout), pushed as it is.
    Layers {
        config: Bytes,
        layers: Vec<PushedLayer>,
        manifest: Option<ManifestStep>,
    },
    /// Blobs of manifests written as they are (a registry source).
    Manifests {
        blobs: Vec<PushedLayer>,
        manifests: Vec<ManifestStep>,
    },
}

/// An image to copy into a repository.
pub trait ImageSource: Sync {
    type Error: From<PushError> + Send;
    /// What the image is, for plans and logs.
    fn describe(&self) -> String;
    /// Its blobs as known before anything moves, in the order they are sent.
    fn blobs(&self) -> Vec<SourceBlob>;
    /// Where the blobs can be mounted or copied from.
    fn origin(&self, target: &Session<'_>) -> Origin;
    /// What the plan cannot know before the transfer (`None`: everything).
    fn unknown(&self) -> Option<String> {
        None
    }
    /// Carry out the plan's blob steps.
    fn send(
        &self,
        session: &Session<'_>,
        plan: &CopyPlan,
    ) -> impl Future<Output = Result<Sent, Self::Error>> + Send;
}

/// The plan of copying `source` into the session's repository (reads only).
pub async fn plan<S: ImageSource>(
    source: &S,
    session: &Session<'_>,
) -> Result<CopyPlan, PushError> {
    let blobs = plan::compute(&source.blobs(), &source.origin(session), session).await?;
    Ok(CopyPlan {
        source: source.describe(),
        target: session.repository().to_string(),
        tags: session.tags().to_vec(),
        blobs,
        unknown: source.unknown(),
    })
}

/// Copy `source` into the session's repository as `plan` says: blobs, then the manifest
/// under every tag (verified).
pub async fn copy<S: ImageSource>(
    source: &S,
    session: &Session<'_>,
    plan: &CopyPlan,
) -> Result<PushReport, S::Error> {
    match source.send(session, plan).await? {
        Sent::Layers {
            config,
            layers,
            manifest,
        } => Ok(session.finish(&config, &layers, manifest.as_ref()).await?),
        Sent::Manifests { blobs, manifests } => {
            Ok(session.finish_manifests(&blobs, &manifests).await?)
        }
    }
}

/// Plan, then copy.
pub async fn plan_and_copy<S: ImageSource>(
    source: &S,
    session: &Session<'_>,
) -> Result<PushReport, S::Error> {
    let p = plan(source, session).await?;
    copy(source, session, &p).await
}

/// An image config's media type (OCI's, or Docker's v2 `container.image`).
fn is_config_type(media_type: &str) -> bool {
    media_type == "application/vnd.oci.image.config.v1+json"
        || media_type == "application/vnd.docker.container.image.v1+json"
}

/// Run `step` for every blob of the plan, a few at once, telling progress as each starts
/// and ends; results in the plan's order.
pub async fn each_blob<'s, F, Fut>(
    session: &'s Session<'_>,
    plan: &'s CopyPlan,
    step: F,
) -> Result<Vec<PushedLayer>, PushError>
where
    F: Fn(usize, &'s BlobStep) -> Fut,
    Fut: Future<Output = Result<PushedLayer, PushError>>,
{
    // Progress numbers the image's layers; the config blob is not one of them.
    let is_config = |s: &BlobStep| s.media_type.as_deref().is_some_and(is_config_type);
    let total = plan.blobs.iter().filter(|s| !is_config(s)).count();
    let repository = &session.repository().to_string();
    let mut layer = 0;
    // Futures built first, so that the stream holds no closure (which would have to be
    // general over the blob's lifetime for the future to be `Send`).
    let steps: Vec<_> = plan
        .blobs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let done = step(i, s);
            let number = (!is_config(s)).then(|| {
                layer += 1;
                layer
            });
            async move {
                // "pushing" only where bytes move: a mount or a blob already there says
                // so when it is done.
                if let Some(n) = number
                    && matches!(s.action, BlobAction::Upload | BlobAction::Copy)
                {
                    session.tell(PushProgress::LayerStart {
                        repository: repository.clone(),
                        layer: n,
                        layers: total,
                        size: s.size.unwrap_or(0),
                    });
                }
                let done = done.await?;
                if let Some(n) = number {
                    session.tell(done.progress(repository, n, total));
                }
                Ok::<PushedLayer, PushError>(done)
            }
        })
        .collect();
    stream::iter(steps)
        .buffered(session.options().concurrency.max(1))
        .try_collect()
        .await
}
