//! A daemon image pushed to a registry: from the daemon's export stream, compressed and
//! uploaded while it arrives, or spooled to a file first where the stream cannot be used.
//! Publish and the stages storage both push this way.

use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use super::push::{self, PushError, PushOptions, PushReport, PushTarget};
use super::source::{self, archive::ArchiveSource, daemon::DaemonSource, daemon::Failure};
use crate::daemon::DaemonApi;
use crate::registry::Client;

#[derive(Debug, thiserror::Error)]
pub enum FromDaemonError {
    #[error(transparent)]
    Push(#[from] PushError),
    #[error("exporting image {image} from the daemon: {cause}")]
    Export { image: String, cause: String },
    #[error("reading the exported image {image}: {cause}")]
    Archive { image: String, cause: String },
}

/// Push the daemon's image `id` (`diff_ids`: its layers, when inspected) to `target`;
/// `label` names it in messages, `work` holds a spooled export.
#[allow(clippy::too_many_arguments)]
pub async fn push_from_daemon(
    docker: &dyn DaemonApi,
    client: &Client,
    id: &str,
    diff_ids: Option<Vec<String>>,
    label: &str,
    target: &PushTarget,
    popts: &PushOptions,
    work: &std::path::Path,
) -> Result<PushReport, FromDaemonError> {
    let session = push::Session::open(client, target, popts).await;
    let source = DaemonSource {
        docker,
        id: id.to_string(),
        diff_ids,
        label: label.to_string(),
        upload_mode: popts.upload_mode,
        work: work.to_path_buf(),
        store: source::layer_store::LayerStore::find(docker, popts.layer_store.as_deref()).await,
        stall: popts.daemon_stall,
    };
    match source::plan_and_copy(&source, &session).await {
        Ok(r) => return Ok(r),
        Err(Failure::Push(e)) => return Err(e.into()),
        Err(Failure::Export(cause)) => {
            return Err(FromDaemonError::Export {
                image: label.to_string(),
                cause,
            });
        }
        Err(Failure::Fallback(why)) => {
            tracing::info!(image = label, "exporting to a file first: {why}");
        }
    }
    let image = export(docker, id, label, work, popts.daemon_stall).await?;
    // A fresh session: the streamed attempt may have uploaded some layers meanwhile.
    let session = push::Session::open(client, target, popts).await;
    let source = ArchiveSource {
        image,
        label: format!("{label} (exported daemon image {id})"),
    };
    Ok(source::plan_and_copy(&source, &session).await?)
}

/// Stream an image out of the daemon (docker-save format) into a file and read it; `stall`:
/// how long the daemon may send nothing.
pub async fn export(
    docker: &dyn DaemonApi,
    id: &str,
    label: &str,
    dir: &std::path::Path,
    stall: std::time::Duration,
) -> Result<crate::archive::Image, FromDaemonError> {
    let err = |cause: String| FromDaemonError::Export {
        image: label.to_string(),
        cause,
    };
    let path = dir.join(format!("{}.tar", id.trim_start_matches("sha256:")));
    let mut f = tokio::fs::File::create(&path)
        .await
        .map_err(|e| err(e.to_string()))?;
    let mut stream = std::pin::pin!(crate::pipe::no_progress(
        docker.export(id),
        stall,
        format!("exporting {id}"),
    ));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| err(e.to_string()))?;
        f.write_all(&chunk).await.map_err(|e| err(e.to_string()))?;
    }
    f.flush().await.map_err(|e| err(e.to_string()))?;
    drop(f);
    let p = path.clone();
    let images = tokio::task::spawn_blocking(move || crate::archive::read(&p))
        .await
        .map_err(|e| err(e.to_string()))?
        .map_err(|e| FromDaemonError::Archive {
            image: label.to_string(),
            cause: e.to_string(),
        })?;
    crate::archive::select(&path, images, None).map_err(|e| FromDaemonError::Archive {
        image: label.to_string(),
        cause: e.to_string(),
    })
}
