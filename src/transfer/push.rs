//! The target side of every copy ([`Session`]): one repository and its tags, the layer
//! cache, and the steps every image source shares: mount or upload a layer, compress one,
//! then config, manifest and tags, verifying the digest every tag resolves to. The sources
//! (`transfer::source`) decide which step each blob takes from the plan
//! (`transfer::plan`).
//!
//! No byte the registry already has is sent: diffID → compressed-digest pairs are learned
//! from the images already in the target repository and from a local cache, so a known
//! layer costs a HEAD (or a mount), never a compression.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::Serialize;
use serde_json::json;

use super::copy::CopyError;
use super::layer_cache::{Cache, learn};
use super::plan::{BlobAction, BlobStep, KnownLayer, TargetView};
use super::verify;
use crate::registry::compress::{self, Codec};
use crate::registry::manifest::{MEDIA_DOCKER_MANIFEST, MEDIA_OCI_MANIFEST};
use crate::registry::upload::refuses_chunks;
use crate::registry::{Attempts, BlobSource, Client, RegistryError, Repository, Retry, UploadMode};

const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Copy(#[from] CopyError),
    #[error("compressing layer {diff_id}: {cause}")]
    Compress { diff_id: String, cause: String },
    #[error("{0}")]
    Plan(String),
    /// A layer that fails [`verify`](super::verify)'s rule: nothing is tagged.
    #[error("layer {layer}: {cause}; the image was not published")]
    Layer { layer: String, cause: String },
    /// The registry refused a manifest that must go up byte for byte.
    #[error(
        "the registry refused the manifest {digest} as it is (it is pushed byte for byte, never rewritten): {cause}"
    )]
    ManifestRefused {
        digest: String,
        cause: RegistryError,
    },
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
    /// `read` of the layer's `size` bytes are compressed (and sent, or on their way):
    /// told every 16 MiB of big layers.
    LayerBytes {
        repository: String,
        layer: usize,
        layers: usize,
        read: u64,
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

/// A compressor's read callback that reports `LayerBytes` every 16 MiB.
pub fn byte_counter(
    on: Option<OnProgress>,
    repository: String,
    layer: usize,
    layers: usize,
    size: u64,
) -> Box<dyn FnMut(u64) + Send> {
    const STEP: u64 = 16 * 1024 * 1024;
    let mut told = 0u64;
    Box::new(move |read: u64| {
        let Some(on) = &on else { return };
        if read >= told + STEP && read < size {
            told = read;
            (on.0)(&PushProgress::LayerBytes {
                repository: repository.clone(),
                layer,
                layers,
                read,
                size,
            });
        }
    })
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
    /// Local diffID cache file (`Paths::layer_cache_file`); `None` disables it.
    pub cache_file: Option<PathBuf>,
    /// How layers are compressed (`--layer-compression`).
    pub compression: Codec,
    /// From a daemon: `SLIPWAY_LAYER_STORE` (`HostEnv::layer_store`).
    pub layer_store: Option<String>,
    /// From a daemon: how long its export may send nothing (`HostEnv::daemon_stall`).
    pub daemon_stall: std::time::Duration,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            on_progress: None,
            upload_mode: UploadMode::Auto,
            concurrency: 4,
            work_dir: std::env::temp_dir(),
            cache_file: None,
            compression: Codec::Gzip,
            layer_store: None,
            daemon_stall: std::time::Duration::from_secs(
                crate::settings::host_env::DEFAULT_DAEMON_STALL_SECS,
            ),
        }
    }
}

impl PushOptions {
    /// The defaults, with what the environment says: the layer cache file, and for a
    /// daemon's image its layer store and export timeout.
    pub fn for_host(env: &crate::settings::HostEnv) -> Self {
        PushOptions {
            cache_file: env.paths().layer_cache_file(),
            layer_store: env.layer_store().map(str::to_string),
            daemon_stall: env.daemon_stall(),
            ..PushOptions::default()
        }
    }
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
    /// Blobs read from another registry and sent (promote).
    pub blobs_copied: usize,
    pub layers_compressed: usize,
}

impl PushReport {
    /// The blob counts of what was pushed.
    fn count(layers: &[PushedLayer]) -> PushReport {
        let mut report = PushReport::default();
        for d in layers {
            match d.action {
                BlobAction::Present => report.blobs_present += 1,
                BlobAction::Mount => report.blobs_mounted += 1,
                BlobAction::Upload => {
                    report.blobs_uploaded += 1;
                    report.bytes_uploaded += d.size;
                }
                BlobAction::Copy => {
                    report.blobs_copied += 1;
                    report.bytes_uploaded += d.size;
                }
            }
            report.layers_compressed += usize::from(d.compressed);
        }
        report
    }
}

/// Where one layer ended up in the repository.
#[derive(Debug, Clone)]
pub struct PushedLayer {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
    pub action: BlobAction,
    /// Slipway compressed it (rather than pushing the archive's compressed bytes).
    pub compressed: bool,
    /// The diffID its bytes gave as they were sent; `None` for a blob the registry had or
    /// mounted (trusted by digest). [`verify::image`] checks it against the config.
    pub diff_id: Option<String>,
}

/// One push into one repository: the layer cache (learned from the repository's tags and
/// the local cache file) and the steps every image source shares: mount a known layer,
/// upload a compressed one, then config, manifest and tags.
pub struct Session<'a> {
    client: &'a Client,
    repo: &'a Repository,
    repo_name: String,
    tags: &'a [String],
    cache: Arc<Mutex<Cache>>,
    opts: &'a PushOptions,
}

impl<'a> Session<'a> {
    pub async fn open(client: &'a Client, target: &'a PushTarget, opts: &'a PushOptions) -> Self {
        let repo = &target.repository;
        let cache = Arc::new(Mutex::new(Cache::load(opts.cache_file.as_ref())));
        learn(client, repo, &target.tags, &cache).await;
        Session {
            client,
            repo,
            repo_name: repo.to_string(),
            tags: &target.tags,
            cache,
            opts,
        }
    }

    /// A session that learns nothing about layers (a registry source knows its blobs'
    /// digests: there is nothing to compress).
    pub fn open_bare(client: &'a Client, target: &'a PushTarget, opts: &'a PushOptions) -> Self {
        Session {
            client,
            repo: &target.repository,
            repo_name: target.repository.to_string(),
            tags: &target.tags,
            cache: Arc::default(),
            opts,
        }
    }

    pub fn repository(&self) -> &Repository {
        self.repo
    }

    pub fn tags(&self) -> &[String] {
        self.tags
    }

    pub fn options(&self) -> &PushOptions {
        self.opts
    }

    /// Media type of the layers this session compresses.
    fn layer_type(&self) -> &'static str {
        self.opts.compression.media_type()
    }

    pub fn client(&self) -> &Client {
        self.client
    }

    /// A fresh byte counter for layer `layer` of `layers` (`size` bytes uncompressed).
    pub fn counter(&self, layer: usize, layers: usize, size: u64) -> Box<dyn FnMut(u64) + Send> {
        byte_counter(
            self.opts.on_progress.clone(),
            self.repo_name.clone(),
            layer,
            layers,
            size,
        )
    }

    /// The progress callback, for work done off this task.
    pub fn progress(&self) -> Option<OnProgress> {
        self.opts.on_progress.clone()
    }

    /// Tell the progress callback, if any.
    pub fn tell(&self, p: PushProgress) {
        if let Some(f) = &self.opts.on_progress {
            (f.0)(&p);
        }
    }

    /// Mount a blob the plan says a sibling repository holds; `None` when the registry
    /// refused (the caller sends the bytes instead).
    pub async fn mount(&self, step: &BlobStep) -> Result<Option<PushedLayer>, PushError> {
        let (Some(digest), Some(from)) = (&step.digest, &step.from) else {
            return Ok(None);
        };
        if !self.client.mount_blob(self.repo, digest, from).await? {
            return Ok(None);
        }
        let media_type = step.media_type.clone().unwrap_or_default();
        let size = step.size.unwrap_or(0);
        if let Some(d) = &step.diff_id {
            self.remember(d, digest, size, &media_type);
        }
        Ok(Some(PushedLayer {
            digest: digest.clone(),
            size,
            media_type,
            action: BlobAction::Mount,
            compressed: false,
            diff_id: None,
        }))
    }

    fn remember(&self, diff_id: &str, digest: &str, size: u64, media_type: &str) {
        if let Ok(mut c) = self.cache.lock() {
            c.remember(diff_id, digest, size, media_type, &self.repo_name);
        }
    }

    /// Upload a layer compressed into a file (unless the registry has it already).
    pub async fn upload_compressed(
        &self,
        c: &compress::Compressed,
    ) -> Result<PushedLayer, PushError> {
        let action = if self.client.blob_exists(self.repo, &c.digest).await? {
            BlobAction::Present
        } else {
            let src = BlobSource::File {
                path: c.path.clone(),
                offset: 0,
                len: c.size,
            };
            self.client
                .upload_blob(self.repo, &c.digest, &src, self.opts.upload_mode)
                .await?;
            BlobAction::Upload
        };
        self.remember(&c.diff_id, &c.digest, c.size, self.layer_type());
        Ok(PushedLayer {
            digest: c.digest.clone(),
            size: c.size,
            media_type: self.layer_type().to_string(),
            action,
            compressed: true,
            diff_id: Some(c.diff_id.clone()),
        })
    }

    /// Upload a layer that a compressor writes into `body` while it is sent, in one
    /// streamed PATCH; `sums` brings (size, digest, diffID) when the compressor is done.
    /// The body is read once, so a failure is not retried here.
    pub async fn upload_stream(
        &self,
        body: tokio::sync::mpsc::Receiver<Bytes>,
        sums: tokio::sync::oneshot::Receiver<std::io::Result<(u64, String, String)>>,
    ) -> Result<PushedLayer, PushError> {
        let (size, digest, diff_id) = stream_once(self.client, self.repo, body, sums).await?;
        self.remember(&diff_id, &digest, size, self.layer_type());
        Ok(PushedLayer {
            digest,
            size,
            media_type: self.layer_type().to_string(),
            action: BlobAction::Upload,
            compressed: true,
            diff_id: Some(diff_id),
        })
    }

    /// Config blob, manifest by digest and every tag, verified; saves the layer cache.
    /// The manifest is `manifest` as it is when the source holds one (an OCI layout's),
    /// else written here. Nothing is written before the layers pass [`verify::image`].
    pub async fn finish(
        &self,
        config: &Bytes,
        layers: &[PushedLayer],
        manifest: Option<&super::plan::ManifestStep>,
    ) -> Result<PushReport, PushError> {
        verify::image(config, layers, manifest.map(|m| &m.body[..]))?;
        let (repo, client) = (self.repo, self.client);
        let mut report = PushReport::count(layers);
        let config_digest = crate::registry::sha256_digest(config);
        if client.blob_exists(repo, &config_digest).await? {
            report.blobs_present += 1;
        } else {
            client
                .upload_blob(
                    repo,
                    &config_digest,
                    &BlobSource::Bytes(config.clone()),
                    UploadMode::Monolithic,
                )
                .await?;
            report.blobs_uploaded += 1;
            report.bytes_uploaded += config.len() as u64;
        }
        if let Some(m) = manifest {
            report.digest = client
                .tag_manifest(repo, self.tags, &m.media_type, m.body.clone())
                .await
                .map_err(|e| match e {
                    RegistryError::Status { status, .. } if (400..500).contains(&status) => {
                        PushError::ManifestRefused {
                            digest: m.digest.clone(),
                            cause: e,
                        }
                    }
                    e => e.into(),
                })?;
            report.media_type = m.media_type.clone();
            return Ok(report);
        }
        let oci = layers
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
            "config": {"mediaType": config_type, "size": config.len(), "digest": config_digest},
            "layers": layers.iter().map(|d| json!({"mediaType": d.media_type, "size": d.size, "digest": d.digest})).collect::<Vec<_>>(),
        });
        let body = Bytes::from(serde_json::to_vec_pretty(&manifest).unwrap_or_default());
        report.digest = client
            .tag_manifest(repo, self.tags, manifest_type, body)
            .await?;
        report.media_type = manifest_type.to_string();
        if let Ok(c) = self.cache.lock() {
            c.save(self.opts.cache_file.as_ref());
        }
        Ok(report)
    }

    /// The source's manifests written as they are (an index's children by digest first,
    /// then the top one under every tag), after its blobs.
    pub async fn finish_manifests(
        &self,
        blobs: &[PushedLayer],
        manifests: &[super::plan::ManifestStep],
    ) -> Result<PushReport, PushError> {
        let mut report = PushReport::count(blobs);
        let (top, children) = manifests
            .split_last()
            .ok_or_else(|| PushError::Plan("the source has no manifest".into()))?;
        for m in children {
            self.client
                .put_manifest(self.repo, &m.digest, &m.media_type, m.body.clone())
                .await?;
        }
        report.digest = self
            .client
            .tag_manifest(self.repo, self.tags, &top.media_type, top.body.clone())
            .await?;
        report.media_type = top.media_type.clone();
        Ok(report)
    }

    /// One layer of an archive into the repository: sent as the archive holds it when it is
    /// compressed there, else compressed and uploaded.
    pub async fn push_layer(
        &self,
        layer: crate::archive::Layer,
        index: usize,
        layers: usize,
    ) -> Result<PushedLayer, PushError> {
        let size = layer.source.len();
        let counter = || self.counter(index, layers, size);
        let (client, repo, opts) = (self.client, self.repo, self.opts);
        let diff_id = layer.diff_id.clone().unwrap_or_default();
        // Pushed as the archive holds it (the plan found it absent): hashed first, as held
        // and decompressed, so that a truncated or substituted blob never goes up. The
        // registry checks the digest of what arrives against the one hashed here.
        if let Some((digest, mt)) = &layer.as_held {
            let (src, d, media, want) = (
                layer.source.clone(),
                digest.clone(),
                mt.clone(),
                diff_id.clone(),
            );
            let got_diff_id =
                tokio::task::spawn_blocking(move || verify::held(index, &src, &d, &media, &want))
                    .await
                    .map_err(|e| PushError::Plan(e.to_string()))??;
            client
                .upload_blob(repo, digest, &layer.source, opts.upload_mode)
                .await?;
            return Ok(PushedLayer {
                digest: digest.clone(),
                size: layer.source.len(),
                media_type: mt.clone(),
                action: BlobAction::Upload,
                compressed: false,
                diff_id: Some(got_diff_id),
            });
        }
        // Big layers: compress straight into a streamed upload, so compressing and
        // sending overlap. Falls back to the file path if the registry refuses PATCH or
        // streaming fails twice.
        if opts.upload_mode != UploadMode::Monolithic && layer.source.len() > STREAM_ABOVE {
            match stream_layer(client, repo, &layer.source, opts.compression, &counter).await {
                Ok(Streamed::Done(size, digest, got_diff_id)) => {
                    verify::diff_id(index, &digest, &diff_id, &got_diff_id)?;
                    self.remember(&got_diff_id, &digest, size, self.layer_type());
                    return Ok(PushedLayer {
                        digest,
                        size,
                        media_type: self.layer_type().to_string(),
                        action: BlobAction::Upload,
                        compressed: true,
                        diff_id: Some(got_diff_id),
                    });
                }
                Ok(Streamed::GaveUp(e)) => {
                    tracing::info!(%repo, "streamed uploads failed twice ({e}); compressing to a file and uploading that");
                }
                Err(e) if refused_streaming(&e) => {
                    tracing::info!(%repo, "registry refused a streamed upload; compressing to a file and uploading in one request");
                }
                Err(e) => return Err(e),
            }
        }
        let src = layer.source.clone();
        let dir = opts.work_dir.clone();
        let failed = |cause: String| PushError::Compress {
            diff_id: diff_id.clone(),
            cause,
        };
        let mut on_read = counter();
        let codec = opts.compression;
        let c = tokio::task::spawn_blocking(move || {
            compress::compress(&src, &dir, codec, &mut *on_read)
        })
        .await
        .map_err(|e| failed(e.to_string()))?
        .map_err(|e| failed(e.to_string()))?;
        let _cleanup = scopeguard(c.path.clone());
        verify::diff_id(index, &c.digest, &diff_id, &c.diff_id)?;
        self.upload_compressed(&c).await
    }
}

/// The registry does not take a streamed (chunked PATCH) upload: use a monolithic one.
pub fn refused_streaming(e: &PushError) -> bool {
    matches!(e, PushError::Registry(r) if refuses_chunks(r))
}

impl TargetView for Session<'_> {
    type Error = PushError;

    async fn has(&self, digest: &str) -> Result<bool, PushError> {
        Ok(self.client.blob_exists(self.repo, digest).await?)
    }

    fn known(&self, diff_id: &str) -> Option<KnownLayer> {
        let k = self.cache.lock().ok()?.layers.get(diff_id).cloned()?;
        // A layer compressed the other way is not reused: the image gets the codec asked for.
        if !self.opts.compression.matches(&k.media_type) {
            return None;
        }
        let host = format!("{}/", self.repo.host);
        Some(KnownLayer {
            repos: k
                .repos
                .iter()
                .filter_map(|r| r.strip_prefix(&host).map(str::to_string))
                .collect(),
            digest: k.digest,
            size: k.size,
            media_type: k.media_type,
        })
    }

    fn path(&self) -> &str {
        &self.repo.path
    }
}

impl PushedLayer {
    /// A blob the plan found in place or mounts, as pushed (`None`: the plan did not know
    /// its digest).
    pub fn from_step(step: &BlobStep, action: BlobAction) -> Option<PushedLayer> {
        Some(PushedLayer {
            digest: step.digest.clone()?,
            size: step.size.unwrap_or(0),
            media_type: step.media_type.clone().unwrap_or_default(),
            action,
            compressed: false,
            diff_id: None,
        })
    }

    /// The `LayerDone` progress event for this layer.
    pub fn progress(&self, repository: &str, layer: usize, layers: usize) -> PushProgress {
        PushProgress::LayerDone {
            repository: repository.to_string(),
            layer,
            layers,
            digest: self.digest.clone(),
            bytes: if matches!(self.action, BlobAction::Upload | BlobAction::Copy) {
                self.size
            } else {
                0
            },
            action: self.action.done(),
        }
    }
}

/// Layers above this size are compressed into a streamed upload.
const STREAM_ABOVE: u64 = 4 * 1024 * 1024;
/// Streamed attempts of one layer before it is sent from a file (`Streamed::GaveUp`).
const STREAM_ATTEMPTS: u32 = 2;

/// How a streamed upload of a layer ended, when it did not fail outright.
enum Streamed {
    /// Uploaded: (size, digest, diffID).
    Done(u64, String, String),
    /// Two streamed attempts failed in a way worth retrying; the caller sends the layer
    /// from a file instead, under the full retry policy (and in chunks where big). A
    /// server that refuses a PATCH may answer before it reads the body and close: hyper
    /// then reports the failed write, never the answer, so "refused" looks like a broken
    /// connection, and restreaming would fail every time.
    GaveUp(RegistryError),
}

/// Compress a layer into one streamed PATCH of a new upload session, then finish it with
/// the digest the compressor computed. Restarted from scratch (a new session, compressing
/// again) under the transport's retry policy.
async fn stream_layer(
    client: &Client,
    repo: &Repository,
    source: &BlobSource,
    codec: Codec,
    counter: &(dyn Fn() -> Box<dyn FnMut(u64) + Send> + Sync),
) -> Result<Streamed, PushError> {
    let mut attempts = Attempts::new(client.options().retry);
    loop {
        let attempt = attempts.begin();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(4);
        let src = source.clone();
        let mut on_read = counter();
        let comp = tokio::task::spawn_blocking(move || {
            compress::compress_into(
                &src,
                crate::pipe::ChannelWriter::new(tx, "the upload stopped reading the layer"),
                codec,
                &mut *on_read,
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
            (Ok(digest), Some((size, diff_id))) => {
                return Ok(Streamed::Done(size, digest, diff_id));
            }
            (Err(PushError::Registry(e)), _) if Retry::restartable(&e) => {
                let Some(wait) = attempts.next_after(&e) else {
                    return Err(PushError::Registry(e));
                };
                if attempt >= STREAM_ATTEMPTS {
                    return Ok(Streamed::GaveUp(e));
                }
                tracing::debug!(%repo, attempt, "streamed upload failed: {e}");
                tracing::warn!(
                    "streamed upload failed ({}); starting again (attempt {})",
                    e.brief(),
                    attempt + 1
                );
                tokio::time::sleep(wait).await;
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

/// One streamed upload whose body a compressor elsewhere feeds through `body`, closed with
/// the digest it reports on `sums` (the export path: its bytes come once, so no restart).
async fn stream_once(
    client: &Client,
    repo: &Repository,
    mut body: tokio::sync::mpsc::Receiver<Bytes>,
    sums: tokio::sync::oneshot::Receiver<std::io::Result<(u64, String, String)>>,
) -> Result<(u64, String, String), PushError> {
    let body_stream = futures::stream::poll_fn(move |cx| {
        body.poll_recv(cx)
            .map(|o| o.map(Ok::<Bytes, std::io::Error>))
    });
    let compress_err = |cause: String| PushError::Compress {
        diff_id: String::new(),
        cause,
    };
    let mut sizes = None;
    client
        .upload_streamed(repo, reqwest::Body::wrap_stream(body_stream), async {
            let (size, digest, diff_id) = sums
                .await
                .map_err(|_| compress_err("the compressor stopped".into()))?
                .map_err(|e| compress_err(e.to_string()))?;
            sizes = Some((size, diff_id));
            Ok::<String, PushError>(digest)
        })
        .await
        .and_then(|digest| match sizes {
            Some((size, diff_id)) => Ok((size, digest, diff_id)),
            None => Err(compress_err("the compressor gave no result".into())),
        })
}
