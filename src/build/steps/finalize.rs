//! Step 4: the built image: the context writer joined, its ID resolved, labels the
//! builder did not apply added, extra tags set.

use std::collections::HashMap;

use bollard::query_parameters::BuildImageOptionsBuilder;

use super::Node;
use super::run::Built;
use crate::build::builder::{BuildRequest, Builder, CannotRun, Log, StepFailure};
use crate::build::{BuildError, BuiltImage, Event};
use crate::context;
use crate::daemon::{DaemonApi, DaemonError};

/// The node's image after a successful build.
pub(super) async fn finalize(node: &Node<'_>, built: Built) -> Result<BuiltImage, BuildError> {
    match built.writer.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            return Err(BuildError::Context {
                image: node.name.clone(),
                source: e,
            });
        }
        Err(e) => return Err(node.fail(e.to_string())),
    }
    let daemon = node.backend.daemon.as_ref();
    let id = match built.image_id {
        Some(i) => i,
        None => daemon
            .inspect(&node.local)
            .await
            .ok()
            .map(|i| i.id)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| node.fail("the daemon reported no image"))?,
    };
    let id = if id.starts_with("sha256:") {
        id
    } else {
        daemon
            .inspect(&id)
            .await
            .ok()
            .map(|i| i.id)
            .filter(|id| !id.is_empty())
            .unwrap_or(id)
    };
    let mut log = |line: &str| node.log(line);
    let id = ensure_labels(
        daemon,
        node.backend.builders.classic.as_ref(),
        &id,
        &built.labels,
        &node.local,
        &mut log,
    )
    .await
    .map_err(|e| node.fail(e))?;
    let id = super::image_spec::apply(node, &id, &built.labels).await?;
    node.tag(&id, false).await?;
    let seconds = node.start.elapsed().as_secs_f64();
    node.emit(Event::Done {
        image: node.name.clone(),
        image_id: id.clone(),
        seconds,
    });
    Ok(node.built(id, false, seconds))
}

/// Why the labels a builder did not apply could not be added.
#[derive(Debug, thiserror::Error)]
pub(in crate::build) enum LabelRepairError {
    #[error("inspecting the built image {id}: {cause}")]
    Inspect { id: String, cause: DaemonError },
    #[error("label repair: {0}")]
    Context(context::ContextError),
    #[error("{0}")]
    CannotRun(#[from] CannotRun),
    #[error("label repair: the daemon reported no image")]
    NoImage,
    #[error("label repair: {}", .0.message)]
    Step(StepFailure),
}

/// Check that the built image carries every label asked for; when it does not, add them
/// with a one-line `FROM <id>` + `LABEL` build (by `classic`). Buildah (Podman) drops
/// `--label`s when every step of a stage that is not the Dockerfile's last is cached, and
/// without its `slipway.signature` label an image would be rebuilt and republished on
/// every run. The repair works on any builder. Returns the ID of the image that has the
/// labels.
pub(in crate::build) async fn ensure_labels(
    daemon: &dyn DaemonApi,
    classic: &dyn Builder,
    id: &str,
    labels: &HashMap<String, String>,
    local: &str,
    log: Log<'_>,
) -> Result<String, LabelRepairError> {
    let have = daemon
        .inspect(id)
        .await
        .map_err(|cause| LabelRepairError::Inspect {
            id: id.to_string(),
            cause,
        })?
        .labels;
    let mut missing: Vec<(&String, &String)> = labels
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .collect();
    if missing.is_empty() {
        return Ok(id.to_string());
    }
    missing.sort();
    log(&format!(
        "adding {} label(s) the builder did not apply",
        missing.len()
    ));
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"));
    let mut dockerfile = format!("FROM {}\nLABEL", id.trim_start_matches("sha256:"));
    for (k, v) in &missing {
        dockerfile.push_str(&format!(" {}={}", quote(k), quote(v)));
    }
    dockerfile.push('\n');
    let tar = context::write_tar(
        Vec::new(),
        &[],
        &[("Dockerfile".to_string(), dockerfile.clone().into_bytes())],
    )
    .map_err(LabelRepairError::Context)?;
    let options = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(local)
        .rm(true)
        .forcerm(true)
        .build();
    let req = BuildRequest {
        options,
        body: Box::pin(futures::stream::once(
            async move { bytes::Bytes::from(tar) },
        )),
        dockerfile_text: &dockerfile,
        from_args: None,
        session: Default::default(),
        podman_secrets: &[],
    };
    let fixed = match classic.run(req, log).await? {
        Ok(Some(new_id)) => new_id,
        Ok(None) => daemon
            .inspect(local)
            .await
            .ok()
            .map(|i| i.id)
            .filter(|id| !id.is_empty())
            .ok_or(LabelRepairError::NoImage)?,
        Err(f) => return Err(LabelRepairError::Step(f)),
    };
    let fixed_id = daemon
        .inspect(&fixed)
        .await
        .ok()
        .map(|i| i.id)
        .filter(|id| !id.is_empty())
        .unwrap_or(fixed);
    Ok(fixed_id)
}
