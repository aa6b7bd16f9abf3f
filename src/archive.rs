//! Image archives: `docker save` tarballs and OCI image layouts (a directory or a tar of
//! one). Nothing is extracted: a tar is indexed once (entry name → byte range), and every
//! layer is read straight from its range in the file, so memory stays bounded whatever the
//! archive's size.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use oci_spec::image::Arch;

use crate::registry::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, Manifest};

use crate::registry::{BlobSource, sha256_digest};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{path}: {cause}")]
    Io { path: String, cause: String },
    #[error("{path}: not a docker-save tarball or OCI image layout: {why}")]
    Format { path: String, why: String },
    #[error("{path}: entry {entry:?} has an unsafe path (absolute or with `..`)")]
    UnsafePath { path: String, entry: String },
    #[error("{path}: holds {count} images ({names}); choose one with --image")]
    Ambiguous {
        path: String,
        count: usize,
        names: String,
    },
    #[error("{path}: no image named {name:?} (it holds: {names})")]
    NoSuchImage {
        path: String,
        name: String,
        names: String,
    },
    #[error("{path}: {entry} resolves to {target}, outside the {within}")]
    Outside {
        path: String,
        entry: String,
        target: String,
        within: &'static str,
    },
    #[error("{path}: {what} is corrupt: digest {actual}, expected {expected}")]
    Corrupt {
        path: String,
        what: String,
        expected: String,
        actual: String,
    },
}

/// One layer of an image, as stored in the archive.
#[derive(Debug, Clone)]
pub struct Layer {
    pub source: BlobSource,
    /// Digest and media type when the layer is pushed as the archive holds it (every layer
    /// of an OCI layout, whose manifest names it so; a gzip layer of a docker save);
    /// `None` for an uncompressed docker-save tar, which is compressed on the way.
    pub as_held: Option<(String, String)>,
    /// Uncompressed digest, from the image config.
    pub diff_id: Option<String>,
}

/// A manifest as the archive holds it, pushed byte for byte (an OCI layout's: the
/// image's digest, which signatures name, is the digest of these bytes).
#[derive(Debug, Clone)]
pub struct RawManifest {
    pub digest: String,
    pub media_type: String,
    pub body: bytes::Bytes,
}

/// An image ready to push: its config bytes and layers.
#[derive(Debug, Clone)]
pub struct Image {
    /// Names the archive gives it (`RepoTags` or OCI `ref.name` annotations).
    pub names: Vec<String>,
    pub config: bytes::Bytes,
    pub layers: Vec<Layer>,
    /// The manifest to push as it is (OCI layouts); `None`: the pusher writes one
    /// (docker save has none).
    pub manifest: Option<RawManifest>,
}

impl Image {
    pub fn config_digest(&self) -> String {
        sha256_digest(&self.config)
    }
}

/// One entry of a tar.
enum Entry {
    /// A file's bytes: (offset, size).
    Data(u64, u64),
    /// A symlink or hard link, with its target as an entry name (`None`: it leaves the
    /// archive) and as written.
    Link(Option<String>, String),
}

/// Where the archive's entries live.
enum Store {
    /// A tar file: entry name → its bytes or link.
    Tar {
        file: PathBuf,
        entries: HashMap<String, Entry>,
    },
    /// An OCI layout directory (its real path: every entry must resolve inside it).
    Dir(PathBuf),
}

/// Links followed from one name before it is a loop.
const MAX_LINKS: usize = 32;

/// The entry a link in an archive points to: a symlink's target is relative to the link's
/// folder, a hard link's to the archive's root (tar's convention). `None` when it leaves
/// the archive (absolute, or `..` past the root). docker save writes a repeated layer as
/// a symlink `<id>/layer.tar -> ../<first id>/layer.tar`.
pub(crate) fn link_target(entry: &str, target: &str, hard: bool) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    if !hard {
        parts.extend(entry.split('/').filter(|c| !c.is_empty() && *c != "."));
        parts.pop();
    }
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            x => parts.push(x),
        }
    }
    Some(parts.join("/"))
}

fn io(path: &Path, e: impl std::fmt::Display) -> ArchiveError {
    ArchiveError::Io {
        path: path.display().to_string(),
        cause: e.to_string(),
    }
}

fn clean(name: &str) -> Option<String> {
    let p = Path::new(name);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(x) => out.push(x),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out.to_string_lossy().to_string())
}

impl Store {
    fn open(path: &Path) -> Result<Store, ArchiveError> {
        if path.is_dir() {
            let root = path.canonicalize().map_err(|e| io(path, e))?;
            return Ok(Store::Dir(root));
        }
        let f = File::open(path).map_err(|e| io(path, e))?;
        let mut ar = tar::Archive::new(f);
        let mut entries = HashMap::new();
        // Seek past each entry's data: the index of a 2 GB tarball costs a few reads, not a
        // read of the whole file.
        let iter = ar.entries_with_seek().map_err(|e| io(path, e))?;
        for entry in iter {
            let entry = entry.map_err(|e| ArchiveError::Format {
                path: path.display().to_string(),
                why: format!("broken tar: {e}"),
            })?;
            let kind = entry.header().entry_type();
            let is_link = kind.is_symlink() || kind.is_hard_link();
            if !kind.is_file() && !is_link {
                continue;
            }
            let raw = entry
                .path()
                .map_err(|e| io(path, e))?
                .to_string_lossy()
                .to_string();
            let Some(name) = clean(&raw) else {
                return Err(ArchiveError::UnsafePath {
                    path: path.display().to_string(),
                    entry: raw,
                });
            };
            let found = if is_link {
                let target = entry
                    .link_name()
                    .map_err(|e| io(path, e))?
                    .map(|t| t.to_string_lossy().to_string())
                    .unwrap_or_default();
                Entry::Link(link_target(&name, &target, kind.is_hard_link()), target)
            } else {
                Entry::Data(entry.raw_file_position(), entry.size())
            };
            entries.insert(name, found);
        }
        let len = std::fs::metadata(path).map_err(|e| io(path, e))?.len();
        for (name, found) in &entries {
            let Entry::Data(off, size) = found else {
                continue;
            };
            if off.saturating_add(*size) > len {
                return Err(ArchiveError::Format {
                    path: path.display().to_string(),
                    why: format!("truncated: entry {name} ends past the end of the file"),
                });
            }
        }
        Ok(Store::Tar {
            file: path.to_path_buf(),
            entries,
        })
    }

    fn source(&self, name: &str, archive: &Path) -> Result<BlobSource, ArchiveError> {
        let Some(clean_name) = clean(name) else {
            return Err(ArchiveError::UnsafePath {
                path: archive.display().to_string(),
                entry: name.to_string(),
            });
        };
        let missing = |what: &str| ArchiveError::Format {
            path: archive.display().to_string(),
            why: format!("missing {what} {name}"),
        };
        match self {
            Store::Tar { file, entries } => {
                // Links resolve to the entry they point to inside the archive.
                let mut at = clean_name;
                for _ in 0..MAX_LINKS {
                    match entries.get(&at).ok_or_else(|| missing("entry"))? {
                        Entry::Data(offset, len) => {
                            return Ok(BlobSource::File {
                                path: file.clone(),
                                offset: *offset,
                                len: *len,
                            });
                        }
                        Entry::Link(Some(next), _) => at = next.clone(),
                        Entry::Link(None, target) => {
                            return Err(ArchiveError::Outside {
                                path: archive.display().to_string(),
                                entry: at,
                                target: target.clone(),
                                within: "archive",
                            });
                        }
                    }
                }
                Err(format_err(
                    archive,
                    format!("{name}: more than {MAX_LINKS} links (a loop?)"),
                ))
            }
            Store::Dir(root) => {
                let p = root.join(&clean_name);
                // Symlinks are followed only as far as the layout: a blob that resolves
                // outside it is never read.
                let real = p.canonicalize().map_err(|_| missing("file"))?;
                if !real.starts_with(root) {
                    return Err(ArchiveError::Outside {
                        path: archive.display().to_string(),
                        entry: clean_name,
                        target: real.display().to_string(),
                        within: "layout",
                    });
                }
                let meta = std::fs::metadata(&real).map_err(|_| missing("file"))?;
                if !meta.is_file() {
                    return Err(missing("file"));
                }
                Ok(BlobSource::File {
                    path: real,
                    offset: 0,
                    len: meta.len(),
                })
            }
        }
    }

    fn has(&self, name: &str) -> bool {
        match self {
            Store::Tar { entries, .. } => entries.contains_key(name),
            Store::Dir(d) => d.join(name).is_file(),
        }
    }

    /// A small entry read whole (manifests, configs), at most 64 MiB.
    fn read(&self, name: &str, archive: &Path) -> Result<Vec<u8>, ArchiveError> {
        let src = self.source(name, archive)?;
        let BlobSource::File { path, offset, len } = src else {
            return Err(io(archive, "unexpected in-memory entry"));
        };
        if len > 64 * 1024 * 1024 {
            return Err(ArchiveError::Format {
                path: archive.display().to_string(),
                why: format!("{name} is implausibly large ({len} bytes)"),
            });
        }
        let mut f = File::open(&path).map_err(|e| io(&path, e))?;
        f.seek(SeekFrom::Start(offset)).map_err(|e| io(&path, e))?;
        let mut buf = Vec::with_capacity(len as usize);
        f.take(len)
            .read_to_end(&mut buf)
            .map_err(|e| io(&path, e))?;
        if (buf.len() as u64) < len {
            return Err(ArchiveError::Format {
                path: archive.display().to_string(),
                why: format!("truncated entry {name}"),
            });
        }
        Ok(buf)
    }
}

fn format_err(path: &Path, why: impl Into<String>) -> ArchiveError {
    ArchiveError::Format {
        path: path.display().to_string(),
        why: why.into(),
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
    bytes: &[u8],
) -> Result<T, ArchiveError> {
    serde_json::from_slice(bytes)
        .map_err(|e| format_err(path, format!("{what} is not valid JSON: {e}")))
}

/// The layer diffIDs an image config lists.
fn diff_ids(path: &Path, what: &str, config: &[u8]) -> Result<Vec<String>, ArchiveError> {
    let c: ImageConfiguration = serde_json::from_slice(config)
        .map_err(|e| format_err(path, format!("{what} is not an image config: {e}")))?;
    Ok(c.rootfs().diff_ids().clone())
}

/// One image of docker save's `manifest.json`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SaveEntry {
    config: Option<String>,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

/// Read every image of an archive (docker save or OCI layout).
pub fn read(path: &Path) -> Result<Vec<Image>, ArchiveError> {
    let store = Store::open(path)?;
    if store.has("manifest.json") {
        read_docker_save(path, &store)
    } else if store.has("index.json") && store.has("oci-layout") {
        read_oci(path, &store)
    } else {
        Err(format_err(
            path,
            "neither manifest.json (docker save) nor index.json + oci-layout (OCI layout) found",
        ))
    }
}

/// Pick one image: the only one, or the one named `name` (matched on its names).
pub fn select(
    path: &Path,
    mut images: Vec<Image>,
    name: Option<&str>,
) -> Result<Image, ArchiveError> {
    let names = || {
        images
            .iter()
            .map(|i| {
                if i.names.is_empty() {
                    "(unnamed)".to_string()
                } else {
                    i.names.join(",")
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    match name {
        Some(n) => {
            let all = names();
            let pos = images.iter().position(|i| {
                i.names
                    .iter()
                    .any(|x| x == n || x.split(':').next() == Some(n))
            });
            match pos {
                Some(p) => Ok(images.swap_remove(p)),
                None => Err(ArchiveError::NoSuchImage {
                    path: path.display().to_string(),
                    name: n.to_string(),
                    names: all,
                }),
            }
        }
        None if images.len() == 1 => Ok(images.remove(0)),
        None if images.is_empty() => Err(format_err(path, "holds no image")),
        None => Err(ArchiveError::Ambiguous {
            path: path.display().to_string(),
            count: images.len(),
            names: names(),
        }),
    }
}

fn read_docker_save(path: &Path, store: &Store) -> Result<Vec<Image>, ArchiveError> {
    let manifest = store.read("manifest.json", path)?;
    let items: Vec<SaveEntry> =
        match parse_json::<serde_json::Value>(path, "manifest.json", &manifest)? {
            serde_json::Value::Array(_) => parse_json(path, "manifest.json", &manifest)?,
            _ => return Err(format_err(path, "manifest.json is not a list")),
        };
    let mut out = Vec::new();
    for item in items {
        let config_name = item
            .config
            .as_deref()
            .ok_or_else(|| format_err(path, "manifest.json entry without Config"))?;
        let config = store.read(config_name, path)?;
        // docker names the config after its digest; check it when it does.
        let digest = sha256_digest(&config);
        let stem = config_name
            .trim_end_matches(".json")
            .rsplit('/')
            .next()
            .unwrap_or("");
        if stem.len() == 64 && !digest.ends_with(stem) {
            return Err(ArchiveError::Corrupt {
                path: path.display().to_string(),
                what: config_name.to_string(),
                expected: format!("sha256:{stem}"),
                actual: digest,
            });
        }
        let ids = diff_ids(path, config_name, &config)?;
        let layer_names = &item.layers;
        if layer_names.len() != ids.len() {
            return Err(format_err(
                path,
                format!(
                    "{config_name} lists {} layers but manifest.json {}",
                    ids.len(),
                    layer_names.len()
                ),
            ));
        }
        let mut layers = Vec::new();
        for (name, id) in layer_names.iter().zip(&ids) {
            let source = store.source(name, path)?;
            // Newer docker saves OCI blobs that may be compressed; detect gzip by magic.
            let compressed = if is_gzip(&source)? {
                Some((
                    blob_digest(&source, path)?,
                    "application/vnd.docker.image.rootfs.diff.tar.gzip".to_string(),
                ))
            } else {
                None
            };
            layers.push(Layer {
                source,
                as_held: compressed,
                diff_id: Some(id.clone()),
            });
        }
        let names = item.repo_tags.unwrap_or_default();
        out.push(Image {
            names,
            config: config.into(),
            layers,
            manifest: None,
        });
    }
    Ok(out)
}

fn is_gzip(src: &BlobSource) -> Result<bool, ArchiveError> {
    let BlobSource::File { path, offset, len } = src else {
        return Ok(false);
    };
    if *len < 2 {
        return Ok(false);
    }
    let mut f = File::open(path).map_err(|e| io(path, e))?;
    f.seek(SeekFrom::Start(*offset)).map_err(|e| io(path, e))?;
    let mut magic = [0u8; 2];
    f.read_exact(&mut magic).map_err(|e| io(path, e))?;
    Ok(magic == [0x1f, 0x8b])
}

/// sha256 of a blob in the archive, streamed.
fn blob_digest(src: &BlobSource, archive: &Path) -> Result<String, ArchiveError> {
    use sha2::Digest;
    let BlobSource::File { path, offset, len } = src else {
        return Err(io(archive, "unexpected in-memory entry"));
    };
    let mut f = File::open(path).map_err(|e| io(path, e))?;
    f.seek(SeekFrom::Start(*offset)).map_err(|e| io(path, e))?;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f.take(*len), &mut h).map_err(|e| io(path, e))?;
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

fn blob_name(digest: &str) -> Option<String> {
    let (alg, hex) = digest.split_once(':')?;
    (!alg.contains('/') && !hex.contains('/') && !hex.contains(".."))
        .then(|| format!("blobs/{alg}/{hex}"))
}

fn read_oci(path: &Path, store: &Store) -> Result<Vec<Image>, ArchiveError> {
    let index: ImageIndex = parse_json(path, "index.json", &store.read("index.json", path)?)?;
    let mut out = Vec::new();
    let mut pending: Vec<(Descriptor, Vec<String>)> = index
        .manifests()
        .iter()
        .map(|d| {
            let name = d
                .annotations()
                .as_ref()
                .and_then(|a| a.get("org.opencontainers.image.ref.name"))
                .cloned();
            (d.clone(), name.into_iter().collect())
        })
        .collect();
    let mut guard = 0;
    while let Some((desc, names)) = pending.pop() {
        guard += 1;
        if guard > 1000 {
            return Err(format_err(path, "index nesting too deep"));
        }
        let digest = desc.digest().to_string();
        let (name, bytes) = read_verified(path, store, &digest)?;
        let m = Manifest::parse(&bytes)
            .map_err(|e| format_err(path, format!("{name} is not a manifest: {e}")))?;
        let m = match m {
            Manifest::Index(i) => {
                // An index: take linux/amd64 (or the first) child.
                let children = i.manifests();
                let pick = children
                    .iter()
                    .find(|c| {
                        c.platform()
                            .as_ref()
                            .is_some_and(|p| *p.architecture() == Arch::Amd64)
                    })
                    .or_else(|| children.first());
                if let Some(c) = pick {
                    pending.push((c.clone(), names));
                }
                continue;
            }
            Manifest::Image(m) => m,
        };
        let raw = RawManifest {
            // The manifest's own mediaType, else the descriptor's (OCI makes the field
            // optional).
            media_type: m
                .media_type()
                .as_ref()
                .map(|t| t.to_string())
                .unwrap_or_else(|| desc.media_type().to_string()),
            digest,
            body: bytes.into(),
        };
        out.push(oci_image(path, store, &m, &name, raw, names)?);
    }
    out.reverse();
    Ok(out)
}

/// The blob `digest` of an OCI layout, checked against its digest: its name in the layout
/// and its bytes.
fn read_verified(
    path: &Path,
    store: &Store,
    digest: &str,
) -> Result<(String, Vec<u8>), ArchiveError> {
    let name =
        blob_name(digest).ok_or_else(|| format_err(path, format!("bad digest {digest:?}")))?;
    let bytes = store.read(&name, path)?;
    let actual = sha256_digest(&bytes);
    if actual != digest {
        return Err(ArchiveError::Corrupt {
            path: path.display().to_string(),
            what: name,
            expected: digest.to_string(),
            actual,
        });
    }
    Ok((name, bytes))
}

/// The image of OCI manifest `m` (blob `name`, held as `raw`): its config, checked, and
/// its layers as the layout holds them.
fn oci_image(
    path: &Path,
    store: &Store,
    m: &ImageManifest,
    name: &str,
    raw: RawManifest,
    names: Vec<String>,
) -> Result<Image, ArchiveError> {
    let cfg_digest = m.config().digest().to_string();
    let (cfg_name, config) = read_verified(path, store, &cfg_digest)?;
    let ids = diff_ids(path, &cfg_name, &config)?;
    if ids.len() != m.layers().len() {
        return Err(format_err(
            path,
            format!(
                "{cfg_name} lists {} layers but manifest {name} {}",
                ids.len(),
                m.layers().len()
            ),
        ));
    }
    let mut layers = Vec::new();
    for (l, id) in m.layers().iter().zip(ids) {
        let d = l.digest().to_string();
        let mt = l.media_type().to_string();
        let ln = blob_name(&d).ok_or_else(|| format_err(path, format!("bad digest {d:?}")))?;
        let source = store.source(&ln, path)?;
        // Every layer as the layout holds it: the manifest, pushed as it is, names it so.
        layers.push(Layer {
            source,
            as_held: Some((d, mt)),
            diff_id: Some(id),
        });
    }
    Ok(Image {
        names,
        config: config.into(),
        layers,
        manifest: Some(raw),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_inside_the_archive_or_not_at_all() {
        // docker save's repeated layer.
        assert_eq!(
            link_target("b/layer.tar", "../a/layer.tar", false).as_deref(),
            Some("a/layer.tar")
        );
        assert_eq!(
            link_target("blobs/sha256/x", "y", false).as_deref(),
            Some("blobs/sha256/y")
        );
        // Hard links name an entry from the root.
        assert_eq!(
            link_target("b/layer.tar", "./a/layer.tar", true).as_deref(),
            Some("a/layer.tar")
        );
        for (entry, target) in [
            ("b/layer.tar", "../../etc/passwd"),
            ("layer.tar", "../x"),
            ("b/layer.tar", "/etc/passwd"),
        ] {
            assert_eq!(link_target(entry, target, false), None, "{target}");
        }
        assert_eq!(link_target("a", "../x", true), None);
    }

    /// A docker save whose `layers` entries are a file, a symlink to it and a hard link to
    /// it (or whatever `extra` adds), one diffID per entry.
    fn save_with_links(dir: &Path, extra: &[(&str, &str, tar::EntryType)]) -> PathBuf {
        let layer = b"pretend layer tar".to_vec();
        let id = sha256_digest(&layer);
        let mut names = vec!["a/layer.tar".to_string()];
        names.extend(extra.iter().map(|(n, _, _)| n.to_string()));
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": vec![id; names.len()]},
        })
        .to_string();
        let config_name = format!(
            "{}.json",
            sha256_digest(config.as_bytes()).trim_start_matches("sha256:")
        );
        let manifest = serde_json::json!([{"Config": config_name, "Layers": names}]).to_string();
        let mut b = tar::Builder::new(Vec::new());
        let mut file = |name: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data).expect("append");
        };
        file("a/layer.tar", &layer);
        file(&config_name, config.as_bytes());
        file("manifest.json", manifest.as_bytes());
        for (name, target, kind) in extra {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(0);
            h.set_mode(0o644);
            b.append_link(&mut h, name, target).expect("link");
        }
        let path = dir.join("save.tar");
        std::fs::write(&path, b.into_inner().expect("tar")).expect("write");
        path
    }

    #[test]
    fn repeated_layers_are_the_entry_they_link_to() {
        let dir = tempfile::tempdir().expect("tmp");
        let tar = save_with_links(
            dir.path(),
            &[
                ("b/layer.tar", "../a/layer.tar", tar::EntryType::Symlink),
                ("c/layer.tar", "a/layer.tar", tar::EntryType::Link),
                ("d/layer.tar", "../b/layer.tar", tar::EntryType::Symlink),
            ],
        );
        let image = select(&tar, read(&tar).expect("read"), None).expect("one image");
        assert_eq!(image.layers.len(), 4);
        let first = format!("{:?}", image.layers[0].source);
        for l in &image.layers {
            assert!(!l.source.is_empty());
            assert_eq!(format!("{:?}", l.source), first);
        }
    }

    #[test]
    fn links_out_of_the_archive_or_in_a_loop_are_errors() {
        let dir = tempfile::tempdir().expect("tmp");
        let out = save_with_links(
            dir.path(),
            &[("b/layer.tar", "../../etc/passwd", tar::EntryType::Symlink)],
        );
        let e = read(&out).expect_err("outside").to_string();
        assert!(
            e.contains("b/layer.tar") && e.contains("outside the archive"),
            "{e}"
        );
        let looped = save_with_links(
            dir.path(),
            &[
                ("b/layer.tar", "../c/layer.tar", tar::EntryType::Symlink),
                ("c/layer.tar", "../b/layer.tar", tar::EntryType::Symlink),
            ],
        );
        let e = read(&looped).expect_err("loop").to_string();
        assert!(e.contains("a loop"), "{e}");
    }
}
