//! Step 1: a local image with this signature (and these `ImageDigest` imports) is the
//! node's image: it is tagged, not built.

use super::Node;
use crate::build::{BuildError, BuiltImage, Event, stapel_storage};
use crate::daemon::{built_with, find_local};

/// The node's image when a local one is reused (`--force`: never).
pub(super) async fn reuse(node: &Node<'_>) -> Result<Option<BuiltImage>, BuildError> {
    if node.opts.settings.force || node.sig.is_empty() || storage_lacks_stages(node).await? {
        return Ok(None);
    }
    let daemon = node.backend.daemon.as_ref();
    let Some(id) = find_local(daemon, node.sig, Some(&node.local)).await else {
        return Ok(None);
    };
    if !built_with(daemon, &id, node.how.imported_digests.as_deref()).await {
        return Ok(None);
    }
    // With an `imageSpec`, only the image it was applied to (a stored stapel stage
    // carries the image's signature label too).
    if let Some(spec) = &node.img.image_spec {
        let applied = daemon
            .inspect(&id)
            .await
            .ok()
            .and_then(|i| i.labels.get(crate::labels::IMAGE_SPEC).cloned());
        if applied != Some(spec.digest()) {
            return Ok(None);
        }
    }
    node.tag(&id, true).await?;
    node.emit(Event::Skipped {
        image: node.name.clone(),
        image_id: id.clone(),
    });
    Ok(Some(node.built(id, true, 0.0)))
}

/// With a stages storage, a local image is not enough when the storage lacks its stages
/// (say, the first build after the storage was set up): the node goes through the
/// storage path, quick on BuildKit's cache, and its stages are stored for others.
async fn storage_lacks_stages(node: &Node<'_>) -> Result<bool, BuildError> {
    match (&node.how.stapel, &node.opts.stages_storage) {
        (Some(env), Some(storage)) => {
            stapel_storage::lacks_last_stage(env, node.img, &node.how.node_signatures, storage)
                .await
                .map_err(|e| node.fail(e))
        }
        _ => Ok(false),
    }
}
