//! The daemon's image as a source, read from its export stream: each layer is compressed
//! (on all cores) and uploaded while the export is still arriving; no temp file holds the
//! image.
//!
//! docker-save writes each layer as `<v1 id>/layer.tar` in the order of those ids (not the
//! image's layer order), then the config and `manifest.json`, which gives the order. So a
//! layer's identity (its diffID) is known only once it has been read. When the registry
//! already holds some of the image's layers (the plan's present and mount steps, by
//! diffID), each layer's `json` (before its `layer.tar`) may place it: the top layer's
//! holds the image config and each names its parent. A layer so placed is read past when
//! the registry has it and goes straight into a streamed upload when not (the manifest at
//! the end confirms every placement); any other is compressed into a spool file and
//! uploaded only if it is not one of them (a layer is read once, its compressed form
//! written once). When the registry holds none, layers go straight from the stream into
//! streamed uploads. Anything this path cannot do (another export layout, a registry that refuses
//! streamed uploads, a dropped connection) is reported as a reason to take the spooled
//! path (`export` to a file, then the archive source), which retries.
//!
//! Where the daemon's layer store can be read in place ([`LayerStore`]), none of that
//! waiting applies: the layers are known by diffID before a byte is read, those the
//! registry lacks are read from the store, compressed and uploaded in the image's order,
//! and the export is taken only if the store cannot give a layer (verified by its diffID).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, oneshot};

use crate::daemon::DaemonApi;
use crate::registry::RegistryError;
use crate::registry::UploadMode;
use crate::registry::compress;
use crate::transfer::plan::{BlobAction, CopyPlan, Origin, SourceBlob};
use crate::transfer::push::{PushError, PushProgress, PushedLayer, Session};

use super::layer_store::{LayerStore, StoreLayer};
use super::{ImageSource, Sent};

/// Why the streamed path did not publish the image.
#[derive(Debug)]
pub enum Failure {
    /// Publish through the spooled path instead (the reason is logged).
    Fallback(String),
    /// A real failure: the spooled path would fail the same way.
    Push(PushError),
    Export(String),
}

impl From<PushError> for Failure {
    fn from(e: PushError) -> Self {
        if falls_back(&e) {
            Failure::Fallback(e.to_string())
        } else {
            Failure::Push(e)
        }
    }
}

/// Errors the spooled path recovers from: it retries, and uploads in one request when the
/// registry refuses a streamed one.
fn falls_back(e: &PushError) -> bool {
    crate::transfer::push::refused_streaming(e)
        || matches!(
            e,
            PushError::Registry(RegistryError::Unreachable { .. } | RegistryError::Io { .. })
        )
        || matches!(e, PushError::Registry(RegistryError::Status { status, .. }) if *status >= 500 || *status == 429)
}

type Sums = std::io::Result<(u64, String, String)>;

/// What the reader thread found in the export stream.
enum Found {
    /// A layer being compressed into `body` right now.
    Streaming {
        path: String,
        size: u64,
        body: mpsc::Receiver<Bytes>,
        sums: oneshot::Receiver<Sums>,
    },
    /// A layer compressed into a spool file.
    Spooled {
        path: String,
        size: u64,
        layer: compress::Compressed,
    },
    /// A small file at the top of the archive (config, manifest.json).
    File { path: String, bytes: Vec<u8> },
}

/// An image in the daemon, read from its export stream.
pub struct DaemonSource<'d> {
    pub docker: &'d dyn DaemonApi,
    pub id: String,
    /// Its layers as the daemon lists them (`None`: it did not).
    pub diff_ids: Option<Vec<String>>,
    /// For plans and logs.
    pub label: String,
    pub upload_mode: UploadMode,
    /// Spool files of layers go here.
    pub work: PathBuf,
    /// The daemon's layer store, when it can be read here (see [`LayerStore::find`]).
    pub store: Option<LayerStore>,
    /// How long the export may send nothing (`SLIPWAY_DAEMON_TIMEOUT`).
    pub stall: std::time::Duration,
}

impl ImageSource for DaemonSource<'_> {
    type Error = Failure;

    fn describe(&self) -> String {
        format!("{} (daemon image {})", self.label, self.id)
    }

    fn blobs(&self) -> Vec<SourceBlob> {
        self.diff_ids
            .iter()
            .flatten()
            .map(|d| SourceBlob {
                diff_id: Some(d.clone()),
                ..SourceBlob::default()
            })
            .collect()
    }

    fn origin(&self, _: &Session<'_>) -> Origin {
        Origin::Local
    }

    fn unknown(&self) -> Option<String> {
        Some(
            "layers to upload: their compressed digests and sizes are known only as the daemon's export streams"
                .into(),
        )
    }

    async fn send(&self, session: &Session<'_>, plan: &CopyPlan) -> Result<Sent, Failure> {
        let diff_ids = self.diff_ids.clone().ok_or_else(|| {
            Failure::Fallback("the daemon did not list the image's layers".into())
        })?;
        let reused = reused_layers(session, plan).await?;
        if let Some(store) = &self.store {
            match from_store(self, store, &diff_ids, &reused, session).await? {
                FromStore::Sent(sent) => return Ok(sent),
                FromStore::Unreadable(why) => {
                    tracing::info!(image = %self.label, "taking the export: the daemon's layer store: {why}");
                }
            }
        }
        send(self, diff_ids, &reused, session).await
    }
}

/// Layers the repository has (or mounts now), by diffID: they need no byte of the image.
async fn reused_layers(
    session: &Session<'_>,
    plan: &CopyPlan,
) -> Result<HashMap<String, PushedLayer>, Failure> {
    let mut reused: HashMap<String, PushedLayer> = HashMap::new();
    for step in &plan.blobs {
        let Some(d) = &step.diff_id else { continue };
        if reused.contains_key(d) {
            continue;
        }
        let done = match step.action {
            BlobAction::Present => PushedLayer::from_step(step, BlobAction::Present),
            BlobAction::Mount => session.mount(step).await?,
            BlobAction::Upload | BlobAction::Copy => None,
        };
        if let Some(done) = done {
            reused.insert(d.clone(), done);
        }
    }
    Ok(reused)
}

/// What reading the layer store came to.
enum FromStore {
    Sent(Sent),
    /// The store could not give the image (the reason); nothing wrong was uploaded.
    Unreadable(String),
}

/// The image's layers that the repository lacks, read from the daemon's layer store,
/// compressed and uploaded in order; the config is the daemon's own file.
async fn from_store(
    source: &DaemonSource<'_>,
    store: &LayerStore,
    diff_ids: &[String],
    reused: &HashMap<String, PushedLayer>,
    session: &Session<'_>,
) -> Result<FromStore, Failure> {
    let config = match store.config(&source.id) {
        Ok(c) => c,
        Err(e) => return Ok(FromStore::Unreadable(e.to_string())),
    };
    if !lists_layers(&config, diff_ids) {
        return Ok(FromStore::Unreadable(
            "its config lists other layers than the daemon".into(),
        ));
    }
    // Each layer the repository lacks, once, in the image's order.
    let mut wanted: Vec<StoreLayer> = Vec::new();
    for (diff_id, chain) in diff_ids
        .iter()
        .zip(crate::transfer::pull::chain_ids(diff_ids))
    {
        if reused.contains_key(diff_id) || wanted.iter().any(|l| &l.diff_id == diff_id) {
            continue;
        }
        match store.layer(&chain, diff_id) {
            Ok(l) => wanted.push(l),
            Err(e) => return Ok(FromStore::Unreadable(e.to_string())),
        }
    }

    let total = diff_ids.len();
    let repository = session.repository().to_string();
    let (found_tx, found_rx) = mpsc::channel::<Found>(2);
    let codec = session.options().compression;
    let spool = (source.upload_mode == UploadMode::Monolithic).then(|| source.work.clone());
    let counters = counters(session, total);
    let reading = tokio::task::spawn_blocking(move || {
        read_store(&wanted, spool.as_deref(), codec, &found_tx, &counters)
    });
    let gathered = gather(session, found_rx, reused, total).await;
    let read = reading.await.map_err(|e| Failure::Export(e.to_string()))?;
    let by_diff = match (gathered, read) {
        // The store failed a layer (and so its upload, never committed).
        (_, Err(StoreRead::Unreadable(why))) => return Ok(FromStore::Unreadable(why)),
        (Err(f), _) => return Err(f),
        (Ok(_), Err(StoreRead::Stopped)) => {
            return Err(Failure::Export("the layer store reader stopped".into()));
        }
        (Ok((by_diff, _)), Ok(())) => by_diff,
    };
    let mut layers = Vec::with_capacity(total);
    for d in diff_ids {
        let done = reused
            .get(d)
            .or_else(|| by_diff.get(d))
            .cloned()
            .ok_or_else(|| {
                Failure::Export(format!("layer {d} was neither in the registry nor sent"))
            })?;
        layers.push(done);
    }
    tracing::debug!(%repository, "layers published from the daemon's layer store");
    Ok(FromStore::Sent(Sent::Layers {
        config: Bytes::from(config),
        layers,
        manifest: None,
    }))
}

/// Does the image config list exactly these layers (the daemon's list)?
fn lists_layers(config: &[u8], diff_ids: &[String]) -> bool {
    serde_json::from_slice::<oci_spec::image::ImageConfiguration>(config)
        .is_ok_and(|c| c.rootfs().diff_ids() == diff_ids)
}

/// Why reading the store stopped.
enum StoreRead {
    Unreadable(String),
    /// The receiving side went away (an upload failed).
    Stopped,
}

/// Read, compress and hand over each layer; a layer whose bytes are not its diffID fails
/// its upload before it is committed.
fn read_store(
    layers: &[StoreLayer],
    spool: Option<&Path>,
    codec: compress::Codec,
    found: &mpsc::Sender<Found>,
    counter: &dyn Fn(usize, u64) -> Box<dyn FnMut(u64) + Send>,
) -> Result<(), StoreRead> {
    let unreadable = |l: &StoreLayer, e: &dyn std::fmt::Display| {
        StoreRead::Unreadable(format!("layer {}: {e}", l.diff_id))
    };
    for (i, layer) in layers.iter().enumerate() {
        let mut on_read = counter(i + 1, layer.size);
        let failed_read = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = Flagged {
            inner: layer.reader().map_err(|e| unreadable(layer, &e))?,
            failed: failed_read.clone(),
        };
        let verify = |r: Sums| -> Sums {
            let (size, digest, diff_id) = r?;
            if diff_id != layer.diff_id {
                failed_read.store(true, std::sync::atomic::Ordering::SeqCst);
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("the files read give {diff_id}"),
                ));
            }
            Ok((size, digest, diff_id))
        };
        // A failed write is the upload's failure (reported by it), not the store's.
        let why = |e: &std::io::Error| {
            if failed_read.load(std::sync::atomic::Ordering::SeqCst) {
                unreadable(layer, e)
            } else {
                StoreRead::Stopped
            }
        };
        let path = layer.diff_id.clone();
        match spool {
            Some(dir) => {
                let spooled = compress::compress_to_file(reader, dir, codec, &mut *on_read)
                    .and_then(|c| {
                        match verify(Ok((c.size, c.digest.clone(), c.diff_id.clone()))) {
                            Ok(_) => Ok(c),
                            Err(e) => {
                                let _ = std::fs::remove_file(&c.path);
                                Err(e)
                            }
                        }
                    });
                let spooled = spooled.map_err(|e| why(&e))?;
                found
                    .blocking_send(Found::Spooled {
                        path,
                        size: layer.size,
                        layer: spooled,
                    })
                    .map_err(|_| StoreRead::Stopped)?;
            }
            None => {
                let (tx, body) = mpsc::channel::<Bytes>(4);
                let (sums_tx, sums) = oneshot::channel();
                found
                    .blocking_send(Found::Streaming {
                        path,
                        size: layer.size,
                        body,
                        sums,
                    })
                    .map_err(|_| StoreRead::Stopped)?;
                let r = verify(compress::compress_reader(
                    reader,
                    crate::pipe::ChannelWriter::new(tx, "the upload stopped reading the layer"),
                    codec,
                    &mut *on_read,
                ));
                let failed = r.as_ref().err().map(why);
                let _ = sums_tx.send(r);
                if let Some(f) = failed {
                    return Err(f);
                }
            }
        }
    }
    Ok(())
}

/// A reader that notes whether it failed (a store error, not the upload's).
struct Flagged<R> {
    inner: R,
    failed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl<R: Read> Read for Flagged<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| {
            self.failed.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    }
}

/// The byte counter of layer `layer` of `total`, for progress.
fn counters(
    session: &Session<'_>,
    total: usize,
) -> impl Fn(usize, u64) -> Box<dyn FnMut(u64) + Send> + Send + 'static {
    let on = session.progress();
    let repository = session.repository().to_string();
    move |layer: usize, size: u64| {
        crate::transfer::push::byte_counter(on.clone(), repository.clone(), layer, total, size)
    }
}

/// Upload what the reader finds as it comes, a few at once; the layers sent by their path
/// (docker-save's, or the diffID) and the small files. Stops reading at the first failure.
async fn gather(
    session: &Session<'_>,
    mut found_rx: mpsc::Receiver<Found>,
    reused: &HashMap<String, PushedLayer>,
    total: usize,
) -> Result<(BTreeMap<String, PushedLayer>, BTreeMap<String, Vec<u8>>), Failure> {
    let repository = session.repository().to_string();
    let mut by_path: BTreeMap<String, PushedLayer> = BTreeMap::new();
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut uploads = FuturesUnordered::new();
    let mut seen = 0usize;
    let mut failure: Option<Failure> = None;
    let mut open = true;
    while open || !uploads.is_empty() {
        tokio::select! {
            found = found_rx.recv(), if open => match found {
                None => open = false,
                Some(Found::File { path, bytes }) => {
                    files.insert(path, bytes);
                }
                Some(found) => {
                    seen += 1;
                    let (path, size) = match &found {
                        Found::Streaming { path, size, .. } | Found::Spooled { path, size, .. } => {
                            (path.clone(), *size)
                        }
                        Found::File { .. } => continue,
                    };
                    session.tell(PushProgress::LayerStart {
                        repository: repository.clone(),
                        layer: seen,
                        layers: total,
                        size,
                    });
                    uploads.push(async move {
                        let done = upload(session, found, reused).await;
                        (path, seen, done)
                    });
                }
            },
            Some((path, layer, done)) = uploads.next(), if !uploads.is_empty() => match done {
                Ok(done) => {
                    session.tell(done.progress(&repository, layer, total));
                    by_path.insert(path, done);
                }
                Err(e) => {
                    // Stop reading: the reader sees its channel closed and ends.
                    failure.get_or_insert(e.into());
                    open = false;
                    found_rx.close();
                }
            },
        }
    }
    match failure {
        Some(f) => Err(f),
        None => Ok((by_path, files)),
    }
}

/// The export streamed into the session's repository under its tags.
async fn send(
    source: &DaemonSource<'_>,
    diff_ids: Vec<String>,
    reused: &HashMap<String, PushedLayer>,
    session: &Session<'_>,
) -> Result<Sent, Failure> {
    let (docker, id, upload_mode) = (source.docker, source.id.as_str(), source.upload_mode);
    let id_for_log = id.to_string();
    let total = diff_ids.len();
    let repository = session.repository().to_string();
    let direct = reused.is_empty() && upload_mode != UploadMode::Monolithic;

    // Docker 20.10 sends nothing before it has copied the whole image to a temp folder:
    // how long that took is the floor this path cannot go under (debug log).
    let asked = std::time::Instant::now();
    let mut first = true;
    let export = futures::StreamExt::inspect(docker.export(id), move |_| {
        if std::mem::take(&mut first) {
            tracing::debug!(image = %id_for_log, "the daemon's export sent its first byte after {:.2} s", asked.elapsed().as_secs_f64());
        }
    });
    let stream = Box::pin(crate::pipe::no_progress(
        export,
        source.stall,
        format!("exporting {id}"),
    ));
    let reader = crate::pipe::drained(stream);
    let (found_tx, found_rx) = mpsc::channel::<Found>(2);
    let spool = source.work.clone();
    let codec = session.options().compression;
    let counters = counters(session, total);
    let known = Known {
        diff_ids: diff_ids.clone(),
        reused: reused.keys().cloned().collect(),
        direct,
        streamable: upload_mode != UploadMode::Monolithic,
    };
    let reading = tokio::task::spawn_blocking(move || {
        read_export(reader, &known, codec, &spool, &found_tx, &counters)
    });
    let gathered = gather(session, found_rx, reused, total).await;
    let read = reading.await.map_err(|e| Failure::Export(e.to_string()))?;
    let (by_path, files) = gathered?;
    let (links, positions) = read?;

    let (config, layer_paths) = parse_manifest(&files)?;
    if !lists_layers(&config, &diff_ids) || layer_paths.len() != diff_ids.len() {
        return Err(Failure::Fallback(
            "the exported config lists other layers than the daemon".into(),
        ));
    }
    let mut layers = Vec::with_capacity(layer_paths.len());
    for (i, p) in layer_paths.iter().enumerate() {
        // A repeated layer is a link to the first copy's entry: it is that layer.
        let mut at = p;
        for _ in 0..8 {
            match links.get(at) {
                Some(target) => at = target,
                None => break,
            }
        }
        // Read past as one the registry has: only where the manifest puts it where its
        // `json` said.
        let read_past = || {
            let dir = at.strip_suffix("/layer.tar")?;
            (positions.0.get(dir) == Some(&i))
                .then(|| diff_ids.get(i).and_then(|d| reused.get(d)).cloned())
                .flatten()
        };
        let done = by_path
            .get(at)
            .cloned()
            .or_else(read_past)
            .ok_or_else(|| Failure::Fallback(format!("{p} was not in the export stream")))?;
        layers.push(done);
    }
    tracing::debug!(%repository, streamed = direct, "layers published from the export stream");
    Ok(Sent::Layers {
        config: Bytes::from(config),
        layers,
        manifest: None,
    })
}

/// One layer found in the stream into the repository.
async fn upload(
    session: &Session<'_>,
    found: Found,
    reused: &HashMap<String, PushedLayer>,
) -> Result<PushedLayer, PushError> {
    match found {
        Found::Streaming { body, sums, .. } => session.upload_stream(body, sums).await,
        Found::Spooled { layer, .. } => {
            let _remove = Remove(layer.path.clone());
            match reused.get(&layer.diff_id) {
                Some(done) => Ok(done.clone()),
                None => session.upload_compressed(&layer).await,
            }
        }
        Found::File { .. } => Err(PushError::Compress {
            diff_id: String::new(),
            cause: "not a layer".into(),
        }),
    }
}

/// Deletes a spool file when dropped.
struct Remove(PathBuf);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// What reading the export needs to know of the image: its layers (the daemon's list) and
/// those the repository has; whether a layer may go straight into a streamed upload.
struct Known {
    diff_ids: Vec<String>,
    reused: std::collections::HashSet<String>,
    /// Streamed uploads for every layer (nothing in the repository yet).
    direct: bool,
    /// Streamed uploads where the layer is known new (the registry takes them).
    streamable: bool,
}

/// Where docker-save's per-layer `json` files place their layers (v1 id, the directory →
/// position in the image): the top layer's holds the image config and each names its
/// parent, so positions are learnt from the top down as the id-sorted directories arrive,
/// each `json` before its `layer.tar`. A guess, which the manifest at the end confirms.
#[derive(Default)]
struct Positions(HashMap<String, usize>);

impl Positions {
    fn note(&mut self, dir: &str, json: &[u8], layers: usize) {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(json) else {
            return;
        };
        if v.get("config").is_some_and(|c| !c.is_null()) && layers > 0 {
            self.0.insert(dir.to_string(), layers - 1);
        }
        let parent = v.get("parent").and_then(|p| p.as_str());
        if let (Some(&p), Some(parent)) = (self.0.get(dir), parent)
            && p > 0
        {
            self.0.entry(parent.to_string()).or_insert(p - 1);
        }
    }
}

/// The export's symbolic links: path → target.
type Links = HashMap<String, String>;

/// Walk the export (a docker-save tar) once, handing each layer and top-level file over;
/// returns the layer entries that are links (docker save writes a layer the image repeats
/// once, and links the later entries to it), each to the entry it points to, and the
/// layers' guessed positions. A layer the guess says the repository has is read past; one
/// it says is new goes straight into a streamed upload; the others are spooled.
fn read_export<R: Read>(
    reader: R,
    known: &Known,
    codec: compress::Codec,
    spool: &Path,
    found: &mpsc::Sender<Found>,
    counter: &dyn Fn(usize, u64) -> Box<dyn FnMut(u64) + Send>,
) -> Result<(Links, Positions), Failure> {
    let mut links = HashMap::new();
    let mut positions = Positions::default();
    let mut layer = 0usize;
    let closed = || Failure::Export("stopped".into());
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| Failure::Export(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Failure::Export(e.to_string()))?;
        let path = entry
            .path()
            .map_err(|e| Failure::Export(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let size = entry.header().size().unwrap_or(0);
        if path.starts_with("blobs/") || path == "oci-layout" || path == "index.json" {
            // The OCI-layout export of newer daemons: the spooled path reads it.
            return Err(Failure::Fallback(format!(
                "the daemon exports an OCI layout ({path})"
            )));
        }
        let kind = entry.header().entry_type();
        if path.ends_with("/layer.tar") && (kind.is_symlink() || kind.is_hard_link()) {
            let target = entry
                .link_name()
                .map_err(|e| Failure::Export(e.to_string()))?
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Some(to) = crate::archive::link_target(&path, &target, kind.is_hard_link()) else {
                return Err(Failure::Export(format!(
                    "{path} links to {target}, outside the export"
                )));
            };
            links.insert(path, to);
            continue;
        }
        if path.ends_with("/layer.tar") && !kind.is_file() {
            return Err(Failure::Fallback(format!(
                "{path} is neither a file nor a link"
            )));
        }
        if let Some(dir) = path.strip_suffix("/layer.tar") {
            let guess = positions.0.get(dir).and_then(|&p| known.diff_ids.get(p));
            if guess.is_some_and(|d| known.reused.contains(d)) && !known.direct {
                // The registry has it: read past it (`send` checks the guess).
                continue;
            }
            // Numbered as the receiving side numbers them: in the order they arrive.
            layer += 1;
            let on_read = counter(layer, size);
            let stream = known.direct || (known.streamable && guess.is_some());
            tracing::debug!(%path, size, stream, "a layer of the export");
            take_layer(
                &mut entry,
                path.clone(),
                size,
                stream,
                codec,
                spool,
                found,
                on_read,
            )?;
            tracing::debug!(%path, "the layer is read and compressed");
        } else if let Some(dir) = path.strip_suffix("/json").filter(|d| !d.contains('/')) {
            let mut bytes = Vec::with_capacity(size as usize);
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| Failure::Export(e.to_string()))?;
            positions.note(dir, &bytes, known.diff_ids.len());
        } else if !path.contains('/') && path.ends_with(".json") {
            let mut bytes = Vec::with_capacity(size as usize);
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| Failure::Export(e.to_string()))?;
            found
                .blocking_send(Found::File { path, bytes })
                .map_err(|_| closed())?;
        }
    }
    tracing::debug!("the export is read to its end");
    Ok((links, positions))
}

/// One layer of the export, compressed into a streamed upload (`stream`) or a spool file.
#[allow(clippy::too_many_arguments)]
fn take_layer<R: Read>(
    entry: &mut R,
    path: String,
    size: u64,
    stream: bool,
    codec: compress::Codec,
    spool: &Path,
    found: &mpsc::Sender<Found>,
    mut on_read: Box<dyn FnMut(u64) + Send>,
) -> Result<(), Failure> {
    let closed = || Failure::Export("stopped".into());
    if stream {
        let (tx, body) = mpsc::channel::<Bytes>(4);
        let (sums_tx, sums) = oneshot::channel();
        found
            .blocking_send(Found::Streaming {
                path,
                size,
                body,
                sums,
            })
            .map_err(|_| closed())?;
        let r = compress::compress_reader(
            entry,
            crate::pipe::ChannelWriter::new(tx, "the upload stopped reading the layer"),
            codec,
            &mut *on_read,
        );
        let failed = r.as_ref().err().map(|e| Failure::Export(e.to_string()));
        let _ = sums_tx.send(r);
        return failed.map_or(Ok(()), Err);
    }
    let spooled = compress::compress_to_file(entry, spool, codec, &mut *on_read)
        .map_err(|e| Failure::Export(format!("compressing {path}: {e}")))?;
    found
        .blocking_send(Found::Spooled {
            path,
            size,
            layer: spooled,
        })
        .map_err(|_| closed())
}

/// The config bytes and the layer paths, in order, from docker-save's `manifest.json`.
fn parse_manifest(files: &BTreeMap<String, Vec<u8>>) -> Result<(Vec<u8>, Vec<String>), Failure> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Entry {
        config: String,
        layers: Vec<String>,
    }
    let manifest = files
        .get("manifest.json")
        .ok_or_else(|| Failure::Fallback("no manifest.json in the export".into()))?;
    let entries: Vec<Entry> = serde_json::from_slice(manifest)
        .map_err(|e| Failure::Fallback(format!("manifest.json: {e}")))?;
    let [entry] = entries.as_slice() else {
        return Err(Failure::Fallback(format!(
            "the export holds {} images, not one",
            entries.len()
        )));
    };
    let config = files
        .get(&entry.config)
        .cloned()
        .ok_or_else(|| Failure::Fallback(format!("{} missing from the export", entry.config)))?;
    Ok((config, entry.layers.clone()))
}

#[cfg(test)]
mod tests;
