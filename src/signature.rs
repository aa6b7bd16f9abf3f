//! Content signatures: one sha256 per image over everything that decides what the built
//! image is (docs/naming.md lists it). Stable across machines and checkouts: no mtimes, no
//! absolute paths. File contents are hashed in parallel, streaming; a stat cache
//! (path, size, mtime, inode, ctime → sha256) lets a no-op run cost O(files), not O(bytes).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{Config, ImageConfig};
use crate::context::{self, ContextError, Entry, Kind};

/// Image label that carries the signature.
pub const LABEL: &str = "slipway.signature";

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("image {image}: {source}")]
    Context {
        image: String,
        #[source]
        source: ContextError,
    },
    #[error("image {image}: reading {path}: {cause}")]
    Io {
        image: String,
        path: String,
        cause: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Stat {
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    inode: u64,
    hash: String,
}

/// File hashes remembered between runs, keyed by absolute path.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct HashCache {
    files: HashMap<String, Stat>,
    #[serde(skip)]
    dirty: bool,
    /// Paths looked up this run: only they are saved, so the cache never outgrows the
    /// project (loading a stale, huge cache would cost more than it saves).
    #[serde(skip)]
    seen: std::collections::HashSet<String>,
}

impl HashCache {
    /// One cache file per project directory.
    pub fn default_path(project_dir: &Path) -> Option<PathBuf> {
        let key = hex::encode(Sha256::digest(project_dir.to_string_lossy().as_bytes()));
        crate::registry::push::default_cache_file()
            .map(|p| p.with_file_name(format!("file-hashes-{}.json", &key[..16])))
    }

    pub fn load(path: Option<&Path>) -> HashCache {
        path.and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn save(&mut self, path: Option<&Path>) {
        let Some(p) = path else { return };
        if self.files.len() > self.seen.len() {
            let seen = std::mem::take(&mut self.seen);
            self.files.retain(|k, _| seen.contains(k));
            self.seen = seen;
            self.dirty = true;
        }
        if !self.dirty {
            return;
        }
        if let Some(d) = p.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        if let Ok(data) = serde_json::to_vec(self) {
            // A lost cache only costs rehashing.
            let _ = crate::publish::report::write_atomic(p, &data);
        }
    }
}

fn stat_of(path: &Path) -> Option<(u64, i128, i128, u64)> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((
            m.len(),
            m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
            m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128,
            m.ino(),
        ))
    }
    #[cfg(not(unix))]
    {
        let mt = m
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_nanos() as i128;
        Some((m.len(), mt, 0, 0))
    }
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Hash of the context entries (paths, modes, kinds, contents).
fn context_digest(
    image: &str,
    entries: &[Entry],
    cache: &Mutex<HashCache>,
) -> Result<String, SignatureError> {
    let hashes: Vec<Result<String, SignatureError>> = entries
        .par_iter()
        .map(|e| match &e.kind {
            Kind::Dir => Ok(String::new()),
            Kind::Symlink { target } => Ok(format!("link:{target}")),
            Kind::File { .. } => {
                let key = e.abs.to_string_lossy().to_string();
                let st = stat_of(&e.abs);
                if let (Some((size, mtime_ns, ctime_ns, inode)), Ok(mut c)) = (st, cache.lock()) {
                    c.seen.insert(key.clone());
                    if let Some(s) = c.files.get(&key)
                        && s.size == size
                        && s.mtime_ns == mtime_ns
                        && s.ctime_ns == ctime_ns
                        && s.inode == inode
                    {
                        return Ok(s.hash.clone());
                    }
                }
                let hash = hash_file(&e.abs).map_err(|er| SignatureError::Io {
                    image: image.to_string(),
                    path: e.abs.display().to_string(),
                    cause: er.to_string(),
                })?;
                if let (Some((size, mtime_ns, ctime_ns, inode)), Ok(mut c)) = (st, cache.lock()) {
                    c.seen.insert(key.clone());
                    c.files.insert(
                        key,
                        Stat {
                            size,
                            mtime_ns,
                            ctime_ns,
                            inode,
                            hash: hash.clone(),
                        },
                    );
                    c.dirty = true;
                }
                Ok(hash)
            }
        })
        .collect();
    let mut h = Sha256::new();
    for (e, hash) in entries.iter().zip(hashes) {
        let hash = hash?;
        let kind = match e.kind {
            Kind::Dir => "d",
            Kind::File { .. } => "f",
            Kind::Symlink { .. } => "l",
        };
        h.update(format!("{}\0{kind}\0{:o}\0{hash}\n", e.rel, e.mode).as_bytes());
    }
    Ok(hex::encode(h.finalize()))
}

fn field(h: &mut Sha256, name: &str, value: &str) {
    h.update(name.as_bytes());
    h.update([0]);
    h.update((value.len() as u64).to_le_bytes());
    h.update(value.as_bytes());
}

/// Signatures of every image, by image name (`None` = nameless).
pub fn compute(
    config: &Config,
    cache_file: Option<&Path>,
) -> Result<BTreeMap<Option<String>, String>, SignatureError> {
    let cache = Mutex::new(HashCache::load(cache_file));
    let mut done: BTreeMap<Option<String>, String> = BTreeMap::new();
    // Dependencies first; config validation already rejected cycles.
    let mut pending: Vec<&ImageConfig> = config.images.iter().collect();
    while !pending.is_empty() {
        let before = pending.len();
        let mut i = 0;
        while i < pending.len() {
            let img = pending[i];
            let ready = img
                .dependencies
                .iter()
                .all(|d| done.contains_key(&Some(d.image.clone())));
            if ready {
                let sig = one(img, &done, &cache)?;
                done.insert(img.name.clone(), sig);
                pending.remove(i);
            } else {
                i += 1;
            }
        }
        if pending.len() == before {
            break;
        }
    }
    if let Ok(mut c) = cache.lock() {
        c.save(cache_file);
    }
    Ok(done)
}

fn one(
    img: &ImageConfig,
    done: &BTreeMap<Option<String>, String>,
    cache: &Mutex<HashCache>,
) -> Result<String, SignatureError> {
    let name = img.display_name().to_string();
    let dockerfile = std::fs::read(&img.dockerfile_path).map_err(|e| SignatureError::Io {
        image: name.clone(),
        path: img.dockerfile_path.display().to_string(),
        cause: e.to_string(),
    })?;
    let entries = context::walk(&img.context_dir, &img.context_add_files).map_err(|source| {
        SignatureError::Context {
            image: name.clone(),
            source,
        }
    })?;
    let ctx = context_digest(&name, &entries, cache)?;
    let mut h = Sha256::new();
    field(&mut h, "slipway-signature", "1");
    field(
        &mut h,
        "dockerfile",
        &hex::encode(Sha256::digest(&dockerfile)),
    );
    field(&mut h, "context", &ctx);
    field(&mut h, "target", img.target.as_deref().unwrap_or(""));
    for (k, v) in &img.args {
        field(&mut h, "arg", &format!("{k}={v}"));
    }
    for a in &img.add_host {
        field(&mut h, "add-host", a);
    }
    field(&mut h, "network", img.network.as_deref().unwrap_or(""));
    for p in &img.platform {
        field(&mut h, "platform", p);
    }
    for (k, v) in &img.labels {
        field(&mut h, "label", &format!("{k}={v}"));
    }
    for d in &img.dependencies {
        let sig = done
            .get(&Some(d.image.clone()))
            .map(String::as_str)
            .unwrap_or("");
        field(&mut h, "dependency", &format!("{}={sig}", d.image));
    }
    Ok(hex::encode(h.finalize()))
}
