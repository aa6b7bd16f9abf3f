//! An image read from a docker-save tarball or an OCI layout (`push-archive`, and
//! `publish` when the daemon's export had to be spooled to a file first).

use crate::archive::Image;
use crate::transfer::plan::{BlobAction, CopyPlan, ManifestStep, Origin, SourceBlob};
use crate::transfer::push::{PushError, PushedLayer, Session};

use super::{ImageSource, Sent, each_blob};

/// An archive's image: layers compressed in the archive (and every layer of an OCI layout)
/// are sent as they are, after they are hashed; the others compressed on the way (or found
/// in the target by their diffID). An OCI layout's manifest goes up byte for byte.
pub struct ArchiveSource {
    pub image: Image,
    /// The file it came from, for plans.
    pub label: String,
}

impl ImageSource for ArchiveSource {
    type Error = PushError;

    fn describe(&self) -> String {
        self.label.clone()
    }

    fn blobs(&self) -> Vec<SourceBlob> {
        self.image
            .layers
            .iter()
            .map(|l| SourceBlob {
                digest: l.as_held.as_ref().map(|(d, _)| d.clone()),
                diff_id: l.diff_id.clone().filter(|d| !d.is_empty()),
                size: Some(l.source.len()),
                media_type: l.as_held.as_ref().map(|(_, m)| m.clone()),
            })
            .collect()
    }

    fn origin(&self, _: &Session<'_>) -> Origin {
        Origin::Local
    }

    async fn send(&self, session: &Session<'_>, plan: &CopyPlan) -> Result<Sent, PushError> {
        if plan.blobs.len() != self.image.layers.len() {
            return Err(PushError::Plan(format!(
                "the plan has {} blobs, {} has {} layers",
                plan.blobs.len(),
                self.label,
                self.image.layers.len()
            )));
        }
        let total = plan.blobs.len();
        let layers = each_blob(session, plan, |i, step| async move {
            let layer = self.image.layers[i].clone();
            match step.action {
                BlobAction::Present => {
                    if let Some(done) = PushedLayer::from_step(step, BlobAction::Present) {
                        return Ok(done);
                    }
                }
                BlobAction::Mount => {
                    if let Some(done) = session.mount(step).await? {
                        return Ok(done);
                    }
                }
                BlobAction::Upload | BlobAction::Copy => {}
            }
            session.push_layer(layer, i + 1, total).await
        })
        .await?;
        Ok(Sent::Layers {
            config: self.image.config.clone(),
            layers,
            manifest: self.image.manifest.as_ref().map(|m| ManifestStep {
                digest: m.digest.clone(),
                media_type: m.media_type.clone(),
                body: m.body.clone(),
            }),
        })
    }
}
