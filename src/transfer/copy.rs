//! One blob from a repository into another (the registry source's `copy` step): streamed from the
//! source into the destination's upload, download and upload overlapping and nothing on
//! disk; if that fails, through a temp file and the client's whole-upload retries. Either
//! way the bytes are hashed on the way and the upload is closed only when they match.

use std::path::Path;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use sha2::Digest;
use tokio::io::AsyncWriteExt;

use crate::registry::{BlobSource, Client, RegistryError, Repository, UploadMode};

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{what}: {cause}")]
    Io { what: String, cause: String },
}

/// Copy one blob across registries: streamed from the source into the destination's upload
/// (download and upload overlap, nothing on disk); if that fails, through a temp file with
/// the client's retries. `on_read` is told the bytes read so far (progress). Returns the
/// blob's size.
pub async fn copy_blob(
    client: &Client,
    from: &Repository,
    to: &Repository,
    digest: &str,
    work_dir: &Path,
    on_read: &(dyn Fn() -> Box<dyn FnMut(u64) + Send> + Sync),
) -> Result<u64, CopyError> {
    match stream_blob(client, from, to, digest, on_read()).await {
        Ok(len) => Ok(len),
        Err(e) => {
            tracing::info!(digest, "streamed copy failed ({e}); copying through a file");
            copy_blob_via_file(client, from, to, digest, work_dir, on_read()).await
        }
    }
}

/// GET from the source piped into one PATCH to the destination, hashed on the way; the
/// upload is closed only when the bytes hash to `digest`.
async fn stream_blob(
    client: &Client,
    from: &Repository,
    to: &Repository,
    digest: &str,
    mut on_read: Box<dyn FnMut(u64) + Send>,
) -> Result<u64, CopyError> {
    let blob = client.get_blob(from, digest).await?;
    let seen = Arc::new(Mutex::new((sha2::Sha256::new(), 0u64)));
    let tap = seen.clone();
    let body = reqwest::Body::wrap_stream(blob.map(move |chunk| {
        if let (Ok(c), Ok(mut s)) = (&chunk, tap.lock()) {
            s.0.update(c);
            s.1 += c.len() as u64;
            on_read(s.1);
        }
        chunk
    }));
    let mut len = 0;
    // The upload is closed only when the bytes that went up hash to `digest`.
    let check = async {
        let s = seen.lock().map_err(|_| CopyError::Io {
            what: format!("copying {digest}"),
            cause: "hash state poisoned".into(),
        })?;
        let got = format!("sha256:{}", hex::encode(s.0.clone().finalize()));
        if got != digest {
            return Err(CopyError::Io {
                what: format!("blob {digest} from {}", from),
                cause: format!("content hashes to {got}"),
            });
        }
        len = s.1;
        Ok(got)
    };
    client.upload_streamed(to, body, check).await?;
    Ok(len)
}

/// Stream a blob from the source to a temp file, then upload it (bounded memory).
async fn copy_blob_via_file(
    client: &Client,
    from: &Repository,
    to: &Repository,
    digest: &str,
    work_dir: &Path,
    mut on_read: Box<dyn FnMut(u64) + Send>,
) -> Result<u64, CopyError> {
    let io = |e: std::io::Error| CopyError::Io {
        what: format!("copying {digest}"),
        cause: e.to_string(),
    };
    let mut stream = client.get_blob(from, digest).await?;
    let tmp = tempfile::NamedTempFile::new_in(work_dir).map_err(io)?;
    let mut f = tokio::fs::File::create(tmp.path()).await.map_err(io)?;
    let mut h = sha2::Sha256::new();
    let mut len = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| CopyError::Io {
            what: format!("downloading {digest}"),
            cause: e.to_string(),
        })?;
        h.update(&chunk);
        len += chunk.len() as u64;
        on_read(len);
        f.write_all(&chunk).await.map_err(io)?;
    }
    f.flush().await.map_err(io)?;
    let got = format!("sha256:{}", hex::encode(h.finalize()));
    if got != digest {
        return Err(CopyError::Io {
            what: format!("blob {digest} from {}", from),
            cause: format!("content hashes to {got}"),
        });
    }
    let src = BlobSource::File {
        path: tmp.path().to_path_buf(),
        offset: 0,
        len,
    };
    client
        .upload_blob(to, digest, &src, UploadMode::Auto)
        .await?;
    Ok(len)
}
