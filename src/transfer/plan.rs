//! The copy plan: for every blob of an image, what the target repository needs done
//! (already present, mounted from a repository of the same registry, uploaded from local
//! bytes, or copied from another registry), computed before any byte is sent. It is a
//! value: `--dry-run` prints it, and `copy` carries it out step by step.

use std::fmt;

use bytes::Bytes;
use serde::Serialize;

/// A manifest written as the source holds it (promote keeps the digest).
#[derive(Debug, Clone, Serialize)]
pub struct ManifestStep {
    pub digest: String,
    pub media_type: String,
    #[serde(skip)]
    pub body: Bytes,
}

/// What to do (or what was done) with one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlobAction {
    /// The target repository already holds it.
    Present,
    /// Mounted from a repository of the target's registry: no byte moves.
    Mount,
    /// Sent from local bytes (compressed first when the source holds them uncompressed).
    Upload,
    /// Read from another registry and sent.
    Copy,
}

impl BlobAction {
    /// The past tense, as progress and reports say what happened.
    pub fn done(self) -> &'static str {
        match self {
            BlobAction::Present => "present",
            BlobAction::Mount => "mounted",
            BlobAction::Upload => "uploaded",
            BlobAction::Copy => "copied",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BlobAction::Present => "present",
            BlobAction::Mount => "mount",
            BlobAction::Upload => "upload",
            BlobAction::Copy => "copy",
        }
    }
}

/// A blob as the source knows it before anything moves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceBlob {
    /// The blob's digest, when the source holds it in the form it is pushed in.
    pub digest: Option<String>,
    /// The layer's uncompressed digest, when it is still to be compressed.
    pub diff_id: Option<String>,
    /// Bytes as the source holds them; `None` when only the transfer tells (the daemon).
    pub size: Option<u64>,
    pub media_type: Option<String>,
}

/// One blob's step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlobStep {
    pub action: BlobAction,
    /// The blob's digest in the target; `None` when it is known only once compressed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The layer's uncompressed digest, for layers the source holds uncompressed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<String>,
    /// Bytes: the blob's size, or for a layer still to compress its uncompressed size;
    /// `None` when unknown before the transfer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// `mount`: the repository path (same registry) it is mounted from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `upload`: the layer is compressed before it is sent.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub compress: bool,
}

/// A compressed form of a layer known from the target's images or the local cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownLayer {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
    /// Repository paths of the target's registry known to hold it (mount candidates).
    pub repos: Vec<String>,
}

/// What the plan asks of the target: read-only questions.
pub trait TargetView: Sync {
    type Error;
    /// Does the target repository hold this blob?
    fn has(&self, digest: &str) -> impl Future<Output = Result<bool, Self::Error>> + Send;
    /// A compressed form of this uncompressed layer that the target's registry may hold.
    fn known(&self, diff_id: &str) -> Option<KnownLayer>;
    /// The target repository's path (a blob is not mounted from the repository itself).
    fn path(&self) -> &str;
}

/// Where the source's blobs can be read from besides the source itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Local bytes (an archive, the daemon's export).
    Local,
    /// A repository: `same_registry` when it is on the target's registry (mountable).
    Registry { path: String, same_registry: bool },
}

/// Compute each blob's step, in the source's order.
pub async fn compute<T: TargetView>(
    blobs: &[SourceBlob],
    origin: &Origin,
    target: &T,
) -> Result<Vec<BlobStep>, T::Error> {
    let mut steps = Vec::with_capacity(blobs.len());
    for b in blobs {
        let base = BlobStep {
            action: BlobAction::Upload,
            digest: b.digest.clone(),
            diff_id: b.diff_id.clone(),
            size: b.size,
            media_type: b.media_type.clone(),
            from: None,
            compress: false,
        };
        let step = match (&b.digest, &b.diff_id) {
            (Some(d), _) => {
                if target.has(d).await? {
                    BlobStep {
                        action: BlobAction::Present,
                        ..base
                    }
                } else {
                    match origin {
                        Origin::Registry {
                            path,
                            same_registry: true,
                        } if path != target.path() => BlobStep {
                            action: BlobAction::Mount,
                            from: Some(path.clone()),
                            ..base
                        },
                        Origin::Registry { .. } => BlobStep {
                            action: BlobAction::Copy,
                            ..base
                        },
                        Origin::Local => base,
                    }
                }
            }
            (None, Some(diff_id)) => match target.known(diff_id) {
                Some(k) => {
                    let known = BlobStep {
                        digest: Some(k.digest.clone()),
                        size: Some(k.size),
                        media_type: Some(k.media_type.clone()),
                        ..base.clone()
                    };
                    if target.has(&k.digest).await? {
                        BlobStep {
                            action: BlobAction::Present,
                            ..known
                        }
                    } else if let Some(from) = k.repos.iter().find(|r| *r != target.path()) {
                        BlobStep {
                            action: BlobAction::Mount,
                            from: Some(from.clone()),
                            ..known
                        }
                    } else {
                        BlobStep {
                            compress: true,
                            ..base
                        }
                    }
                }
                None => BlobStep {
                    compress: true,
                    ..base
                },
            },
            (None, None) => BlobStep {
                compress: true,
                ..base
            },
        };
        steps.push(step);
    }
    Ok(steps)
}

/// The blob steps of one copy, with what the plan could not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct CopyPlan {
    /// Where the image comes from (a file, a reference, a daemon image).
    pub source: String,
    /// Target repository.
    pub target: String,
    pub tags: Vec<String>,
    pub blobs: Vec<BlobStep>,
    /// What only the transfer will tell (the daemon's export: compressed digests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
}

impl CopyPlan {
    /// Bytes that will move: uploaded (uncompressed size for layers to compress) or copied.
    pub fn bytes_to_send(&self) -> u64 {
        self.blobs
            .iter()
            .filter(|b| matches!(b.action, BlobAction::Upload | BlobAction::Copy))
            .filter_map(|b| b.size)
            .sum()
    }
}

impl fmt::Display for BlobStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = self
            .digest
            .as_deref()
            .or(self.diff_id.as_deref().map(|_| "layer"))
            .unwrap_or("layer");
        write!(f, "blob {} {what}", self.action.as_str())?;
        match (self.size, self.compress) {
            (Some(s), true) => write!(f, " ({s} bytes, compressed first)")?,
            (Some(s), false) => write!(f, " ({s} bytes)")?,
            (None, true) => write!(f, " (size known after compressing)")?,
            (None, false) => {}
        }
        if let Some(from) = &self.from {
            write!(f, " from {from}")?;
        }
        if self.digest.is_none()
            && let Some(d) = &self.diff_id
        {
            write!(f, " diff_id {d}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CopyPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "copy {} -> {}", self.source, self.target)?;
        for b in &self.blobs {
            writeln!(f, "  {b}")?;
        }
        if let Some(u) = &self.unknown {
            writeln!(f, "  {u}")?;
        }
        for t in &self.tags {
            writeln!(f, "  tag {}:{t}", self.target)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    struct Fake {
        blobs: BTreeSet<String>,
        known: BTreeMap<String, KnownLayer>,
    }

    impl TargetView for Fake {
        type Error = std::convert::Infallible;
        async fn has(&self, digest: &str) -> Result<bool, Self::Error> {
            Ok(self.blobs.contains(digest))
        }
        fn known(&self, diff_id: &str) -> Option<KnownLayer> {
            self.known.get(diff_id).cloned()
        }
        fn path(&self) -> &str {
            "prod/app"
        }
    }

    fn fake() -> Fake {
        let known = |d: &str, repos: &[&str]| KnownLayer {
            digest: d.into(),
            size: 10,
            media_type: "gz".into(),
            repos: repos.iter().map(|r| r.to_string()).collect(),
        };
        Fake {
            blobs: ["sha256:here".to_string()].into(),
            known: [
                ("diff:here".to_string(), known("sha256:here", &[])),
                (
                    "diff:sibling".to_string(),
                    known("sha256:sib", &["prod/app", "staging/app"]),
                ),
                ("diff:gone".to_string(), known("sha256:gone", &["prod/app"])),
            ]
            .into(),
        }
    }

    fn digest(d: &str, size: u64) -> SourceBlob {
        SourceBlob {
            digest: Some(d.into()),
            size: Some(size),
            ..SourceBlob::default()
        }
    }

    fn diff(d: &str, size: Option<u64>) -> SourceBlob {
        SourceBlob {
            diff_id: Some(d.into()),
            size,
            ..SourceBlob::default()
        }
    }

    #[tokio::test]
    async fn registry_source_on_the_same_registry_mounts_else_copies() {
        let t = fake();
        let blobs = [digest("sha256:here", 5), digest("sha256:new", 7)];
        let same = Origin::Registry {
            path: "staging/app".into(),
            same_registry: true,
        };
        let other = Origin::Registry {
            path: "staging/app".into(),
            same_registry: false,
        };
        let s = compute(&blobs, &same, &t).await.unwrap();
        assert_eq!(s[0].action, BlobAction::Present);
        assert_eq!(s[1].action, BlobAction::Mount);
        assert_eq!(s[1].from.as_deref(), Some("staging/app"));
        let s = compute(&blobs, &other, &t).await.unwrap();
        assert_eq!(
            s.iter().map(|s| s.action).collect::<Vec<_>>(),
            [BlobAction::Present, BlobAction::Copy]
        );
        assert_eq!(
            CopyPlan {
                blobs: s,
                ..CopyPlan::default()
            }
            .bytes_to_send(),
            7
        );
    }

    #[tokio::test]
    async fn local_layers_reuse_known_compressed_forms_or_are_compressed() {
        let t = fake();
        let blobs = [
            diff("diff:here", Some(100)),
            diff("diff:sibling", Some(100)),
            diff("diff:gone", Some(100)),
            diff("diff:unknown", None),
            digest("sha256:oci-gz", 42),
        ];
        let s = compute(&blobs, &Origin::Local, &t).await.unwrap();
        let got: Vec<_> = s
            .iter()
            .map(|s| (s.action, s.digest.as_deref(), s.compress, s.from.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (BlobAction::Present, Some("sha256:here"), false, None),
                (
                    BlobAction::Mount,
                    Some("sha256:sib"),
                    false,
                    Some("staging/app")
                ),
                // Known only in the target repository itself, which lost it: compress.
                (BlobAction::Upload, None, true, None),
                (BlobAction::Upload, None, true, None),
                // Already compressed in the archive: sent as it is.
                (BlobAction::Upload, Some("sha256:oci-gz"), false, None),
            ]
        );
        // A known layer's size is its compressed size; a layer to compress keeps its own.
        assert_eq!(s[1].size, Some(10));
        assert_eq!(s[2].size, Some(100));
        let text = s[3].to_string();
        assert_eq!(
            text,
            "blob upload layer (size known after compressing) diff_id diff:unknown"
        );
    }
}
