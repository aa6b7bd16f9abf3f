//! The push path of a local image (`publish`'s daemon export, `push-archive`'s archive;
//! promote copies registry to registry in `promote.rs` and only shares the tagging): plan
//! each blob (already in the repository, mountable from a repository of the same
//! registry, or to compress and upload), then act: blobs concurrently, config, manifest by
//! digest, then each tag as a manifest PUT, and verify the digest every tag resolves to.
//!
//! No byte the registry already has is sent: diffID → compressed-digest pairs are learned
//! from the images already in the target repository and from a local cache, so a known
//! layer costs a HEAD (or a mount), never a compression.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::json;

use super::layer_cache::{Cache, learn};
use crate::archive::Image;
use crate::registry::compress;
use crate::registry::manifest::{MEDIA_DOCKER_MANIFEST, MEDIA_OCI_MANIFEST};
use crate::registry::upload::refuses_chunks;
use crate::registry::{BlobSource, Client, RegistryError, Repository, Retry, UploadMode};

const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER_GZ: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("compressing layer {diff_id}: {cause}")]
    Compress { diff_id: String, cause: String },
}

/// Where to push and under which tags (the first tag is PUT first).
#[derive(Debug, Clone)]
pub struct PushTarget {
    pub repository: Repository,
    pub tags: Vec<String>,
}

/// What a push reports while it runs, layer by layer (the CLI shows it; `--json` streams it).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum PushProgress {
    /// A layer's turn came: `size` is its bytes as read (before compression when the
    /// push compresses it).
    LayerStart {
        repository: String,
        layer: usize,
        layers: usize,
        size: u64,
    },
    /// The layer is in the repository: uploaded (`bytes` sent), already present or mounted.
    LayerDone {
        repository: String,
        layer: usize,
        layers: usize,
        digest: String,
        bytes: u64,
        action: &'static str,
    },
}

/// Receives [`PushProgress`] (from concurrent uploads: must be thread-safe).
#[derive(Clone)]
pub struct OnProgress(pub Arc<dyn Fn(&PushProgress) + Send + Sync>);

impl std::fmt::Debug for OnProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnProgress")
    }
}

#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Called as each layer starts and ends.
    pub on_progress: Option<OnProgress>,
    pub upload_mode: UploadMode,
    /// Blobs in flight at once.
    pub concurrency: usize,
    /// Directory for compressed layers (deleted after upload).
    pub work_dir: PathBuf,
    /// Local diffID cache file (`host_env::layer_cache_file`); `None` disables it.
    pub cache_file: Option<PathBuf>,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            on_progress: None,
            upload_mode: UploadMode::Auto,
            concurrency: 4,
            work_dir: std::env::temp_dir(),
            cache_file: None,
        }
    }
}

/// What happened to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlobAction {
    Present,
    Mounted,
    Uploaded,
}

/// What a push did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PushReport {
    /// Manifest digest the registry holds for every tag.
    pub digest: String,
    pub media_type: String,
    pub blobs_uploaded: usize,
    pub bytes_uploaded: u64,
    pub blobs_present: usize,
    pub blobs_mounted: usize,
    pub layers_compressed: usize,
}

struct Done {
    digest: String,
    size: u64,
    media_type: String,
    action: BlobAction,
    compressed: bool,
}

/// One layer into the repository: present, mounted from a sibling, or compressed and
/// uploaded.
async fn push_layer(
    client: &Client,
    repo: &Repository,
    repo_name: &str,
    layer: crate::archive::Layer,
    cache: &Arc<Mutex<Cache>>,
    opts: &PushOptions,
) -> Result<Done, PushError> {
    // Already compressed in the archive: push as it is.
    if let Some((digest, mt)) = &layer.compressed {
        let size = layer.source.len();
        let action = if client.blob_exists(repo, digest).await? {
            BlobAction::Present
        } else {
            client
                .upload_blob(repo, digest, &layer.source, opts.upload_mode)
                .await?;
            BlobAction::Uploaded
        };
        return Ok::<Done, PushError>(Done {
            digest: digest.clone(),
            size,
            media_type: mt.clone(),
            action,
            compressed: false,
        });
    }
    // Known compressed form: HEAD, then mount from a sibling repository.
    let known = layer
        .diff_id
        .as_ref()
        .and_then(|id| cache.lock().ok().and_then(|c| c.layers.get(id).cloned()));
    if let Some(k) = known {
        if client.blob_exists(repo, &k.digest).await? {
            return Ok(Done {
                digest: k.digest,
                size: k.size,
                media_type: k.media_type,
                action: BlobAction::Present,
                compressed: false,
            });
        }
        for from in k.repos.iter().filter(|r| **r != repo_name) {
            let Some(path) = from.strip_prefix(&format!("{}/", repo.host)) else {
                continue;
            };
            if client.mount_blob(repo, &k.digest, path).await? {
                if let (Ok(mut c), Some(id)) = (cache.lock(), layer.diff_id.as_ref()) {
                    c.remember(id, &k.digest, k.size, &k.media_type, repo_name);
                }
                return Ok(Done {
                    digest: k.digest,
                    size: k.size,
                    media_type: k.media_type,
                    action: BlobAction::Mounted,
                    compressed: false,
                });
            }
        }
    }
    let diff_id = layer.diff_id.clone().unwrap_or_default();
    // Big layers: compress straight into a streamed upload, so compressing and
    // sending overlap. Falls back to the file path if the registry refuses PATCH.
    if opts.upload_mode != UploadMode::Monolithic && layer.source.len() > STREAM_ABOVE {
        match stream_layer(client, repo, &layer.source).await {
            Ok((size, digest, got_diff_id)) => {
                if !diff_id.is_empty() && got_diff_id != diff_id {
                    return Err(PushError::Compress {
                        diff_id,
                        cause: format!(
                            "layer content hashes to {got_diff_id}, the image config says otherwise: the archive is corrupt"
                        ),
                    });
                }
                if let Ok(mut cache) = cache.lock() {
                    cache.remember(&got_diff_id, &digest, size, DOCKER_LAYER_GZ, repo_name);
                }
                return Ok(Done {
                    digest,
                    size,
                    media_type: DOCKER_LAYER_GZ.to_string(),
                    action: BlobAction::Uploaded,
                    compressed: true,
                });
            }
            Err(PushError::Registry(e)) if refuses_chunks(&e) => {
                tracing::info!(%repo, "registry refused a streamed upload; compressing to a file and uploading in one request");
            }
            Err(e) => return Err(e),
        }
    }
    let src = layer.source.clone();
    let dir = opts.work_dir.clone();
    let c = tokio::task::spawn_blocking(move || compress::compress(&src, &dir))
        .await
        .map_err(|e| PushError::Compress {
            diff_id: diff_id.clone(),
            cause: e.to_string(),
        })?
        .map_err(|e| PushError::Compress {
            diff_id: diff_id.clone(),
            cause: e.to_string(),
        })?;
    let cleanup = scopeguard(c.path.clone());
    if !diff_id.is_empty() && c.diff_id != diff_id {
        return Err(PushError::Compress {
            diff_id,
            cause: format!(
                "layer content hashes to {}, the image config says otherwise: the archive is corrupt",
                c.diff_id
            ),
        });
    }
    let action = if client.blob_exists(repo, &c.digest).await? {
        BlobAction::Present
    } else {
        let src = BlobSource::File {
            path: c.path.clone(),
            offset: 0,
            len: c.size,
        };
        client
            .upload_blob(repo, &c.digest, &src, opts.upload_mode)
            .await?;
        BlobAction::Uploaded
    };
    drop(cleanup);
    if let Ok(mut cache) = cache.lock() {
        cache.remember(&c.diff_id, &c.digest, c.size, DOCKER_LAYER_GZ, repo_name);
    }
    Ok(Done {
        digest: c.digest,
        size: c.size,
        media_type: DOCKER_LAYER_GZ.to_string(),
        action,
        compressed: true,
    })
}

/// Push one image and tag it. Returns the verified digest.
pub async fn push_image(
    client: &Client,
    image: &Image,
    target: &PushTarget,
    opts: &PushOptions,
) -> Result<PushReport, PushError> {
    let repo = &target.repository;
    let repo_name = repo.to_string();
    let cache = Arc::new(Mutex::new(Cache::load(opts.cache_file.as_ref())));
    learn(client, repo, &target.tags, &cache).await;

    let layers = image.layers.len();
    let tell = |p: PushProgress| {
        if let Some(f) = &opts.on_progress {
            (f.0)(&p);
        }
    };
    let results: Vec<Done> = stream::iter(image.layers.iter().cloned().enumerate())
        .map(|(index, layer)| {
            let cache = cache.clone();
            let repo_name = repo_name.clone();
            let tell = &tell;
            async move {
                tell(PushProgress::LayerStart {
                    repository: repo_name.clone(),
                    layer: index + 1,
                    layers,
                    size: layer.source.len(),
                });
                let done = push_layer(client, repo, &repo_name, layer, &cache, opts).await?;
                tell(PushProgress::LayerDone {
                    repository: repo_name.clone(),
                    layer: index + 1,
                    layers,
                    digest: done.digest.clone(),
                    bytes: if done.action == BlobAction::Uploaded {
                        done.size
                    } else {
                        0
                    },
                    action: match done.action {
                        BlobAction::Present => "present",
                        BlobAction::Mounted => "mounted",
                        BlobAction::Uploaded => "uploaded",
                    },
                });
                Ok::<Done, PushError>(done)
            }
        })
        .buffered(opts.concurrency.max(1))
        .try_collect()
        .await?;

    let mut report = PushReport::default();
    for d in &results {
        match d.action {
            BlobAction::Present => report.blobs_present += 1,
            BlobAction::Mounted => report.blobs_mounted += 1,
            BlobAction::Uploaded => {
                report.blobs_uploaded += 1;
                report.bytes_uploaded += d.size;
            }
        }
        report.layers_compressed += usize::from(d.compressed);
    }

    // Config, then the manifest.
    let config_digest = image.config_digest();
    if client.blob_exists(repo, &config_digest).await? {
        report.blobs_present += 1;
    } else {
        client
            .upload_blob(
                repo,
                &config_digest,
                &BlobSource::Bytes(image.config.clone()),
                UploadMode::Monolithic,
            )
            .await?;
        report.blobs_uploaded += 1;
        report.bytes_uploaded += image.config.len() as u64;
    }
    let oci = results
        .iter()
        .any(|d| d.media_type.starts_with("application/vnd.oci."));
    let (manifest_type, config_type) = if oci {
        (MEDIA_OCI_MANIFEST, OCI_CONFIG)
    } else {
        (MEDIA_DOCKER_MANIFEST, DOCKER_CONFIG)
    };
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {"mediaType": config_type, "size": image.config.len(), "digest": config_digest},
        "layers": results.iter().map(|d| json!({"mediaType": d.media_type, "size": d.size, "digest": d.digest})).collect::<Vec<_>>(),
    });
    let body = Bytes::from(serde_json::to_vec_pretty(&manifest).unwrap_or_default());
    let digest = client
        .tag_manifest(repo, &target.tags, manifest_type, body)
        .await?;
    report.digest = digest;
    report.media_type = manifest_type.to_string();
    if let Ok(c) = cache.lock() {
        c.save(opts.cache_file.as_ref());
    }
    Ok(report)
}

/// Layers above this size are compressed into a streamed upload.
const STREAM_ABOVE: u64 = 4 * 1024 * 1024;

/// Compress a layer into one streamed PATCH of a new upload session, then finish it with
/// the digest the compressor computed. Restarted from scratch (a new session, compressing
/// again) under the transport's retry policy; returns (size, digest, diffID).
async fn stream_layer(
    client: &Client,
    repo: &Repository,
    source: &BlobSource,
) -> Result<(u64, String, String), PushError> {
    let retry = client.options().retry;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(4);
        let src = source.clone();
        let comp = tokio::task::spawn_blocking(move || {
            compress::compress_into(
                &src,
                crate::pipe::ChannelWriter::new(tx, "the upload stopped reading the layer"),
            )
        });
        let body_stream = futures::stream::poll_fn(move |cx| {
            rx.poll_recv(cx).map(|o| o.map(Ok::<Bytes, std::io::Error>))
        });
        let compress_err = |cause: String| PushError::Compress {
            diff_id: String::new(),
            cause,
        };
        let mut sizes = None;
        let done = client
            .upload_streamed(repo, reqwest::Body::wrap_stream(body_stream), async {
                let (size, digest, diff_id) = comp
                    .await
                    .map_err(|e| compress_err(e.to_string()))?
                    .map_err(|e| compress_err(e.to_string()))?;
                sizes = Some((size, diff_id));
                Ok::<String, PushError>(digest)
            })
            .await;
        match (done, sizes) {
            (Ok(digest), Some((size, diff_id))) => return Ok((size, digest, diff_id)),
            (Err(PushError::Registry(e)), _)
                if Retry::restartable(&e) && retry.again(attempt, true) =>
            {
                tracing::warn!(%repo, attempt, "streamed upload failed, starting again: {e}");
                tokio::time::sleep(retry.delay(attempt, None)).await;
            }
            (Err(e), _) => return Err(e),
            (Ok(_), None) => return Err(compress_err("the compressor gave no result".into())),
        }
    }
}

/// Removes a file when dropped (compressed layers are temporary).
struct FileGuard(PathBuf);

impl Drop for FileGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn scopeguard(p: PathBuf) -> FileGuard {
    FileGuard(p)
}
