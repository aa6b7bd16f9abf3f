//! Promote: copy (or move) an image between repositories by digest, without rebuilding.
//! Plan first (which blobs are present, mounted or copied; which manifests and tags are
//! written; what is deleted), then act. Within one registry blobs are mounted, so no blob
//! byte moves; across registries blobs are copied a few at a time by `transfer::copy`.

use std::fmt;

use serde::Serialize;

use crate::registry::reference::{Reference, ReferenceError, Repository};
use crate::registry::{Client, Manifest, RegistryError};
use crate::transfer::copy::{CopyError, copy_blob};

#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Copy(#[from] CopyError),
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("{0}")]
    Refused(String),
    #[error("{what}: {cause}")]
    Io { what: String, cause: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlobAction {
    Present,
    Mount,
    Copy,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlobStep {
    pub digest: String,
    pub size: u64,
    pub action: BlobAction,
}

#[derive(Debug, Clone, Serialize)]
pub struct ManifestStep {
    pub digest: String,
    pub media_type: String,
    #[serde(skip)]
    pub body: bytes::Bytes,
}

/// What a promotion will do.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub source: String,
    pub source_repository: String,
    #[serde(skip)]
    source_repo: Repository,
    pub destination: String,
    #[serde(skip)]
    dest_repo: Repository,
    pub digest: String,
    pub tags: Vec<String>,
    pub blobs: Vec<BlobStep>,
    /// Child manifests (of an index) first, the top manifest last.
    pub manifests: Vec<ManifestStep>,
    /// `--move`: the source tag deleted after the destination is verified.
    pub delete_source_tag: Option<String>,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "promote {} ({}) -> {}",
            self.source, self.digest, self.destination
        )?;
        for b in &self.blobs {
            let a = match b.action {
                BlobAction::Present => "present",
                BlobAction::Mount => "mount",
                BlobAction::Copy => "copy",
            };
            writeln!(f, "  blob {} {} ({} bytes)", a, b.digest, b.size)?;
        }
        for m in &self.manifests {
            writeln!(f, "  manifest {} ({})", m.digest, m.media_type)?;
        }
        for t in &self.tags {
            writeln!(f, "  tag {}:{t}", self.destination)?;
        }
        if let Some(t) = &self.delete_source_tag {
            writeln!(
                f,
                "  delete {}:{t} (manifest {}) after verifying",
                self.source_repository, self.digest
            )?;
        }
        Ok(())
    }
}

/// What a promotion did.
#[derive(Debug, Clone, Serialize)]
pub struct Promoted {
    pub destination: String,
    pub digest: String,
    pub tags: Vec<String>,
    pub blobs_mounted: usize,
    pub blobs_copied: usize,
    pub bytes_copied: u64,
    pub source_deleted: bool,
}

/// Compute the plan. `dest` is a reference (its tag is used) or a repository;
/// with no tag anywhere, the source tag is reused.
pub async fn plan(
    client: &Client,
    source: &str,
    dest: &str,
    extra_tags: &[String],
    move_source: bool,
) -> Result<Plan, PromoteError> {
    let src = Reference::parse(source)?;
    let dst = Reference::parse(dest)?;
    if dst.digest.is_some() {
        return Err(PromoteError::Refused(format!(
            "{dest}: the destination must be a repository or a tag, not a digest"
        )));
    }
    let (body, info) = client
        .get_manifest(&src.repository, src.target())
        .await?
        .ok_or_else(|| PromoteError::NotFound(source.to_string()))?;
    let top = Manifest::parse(&body).map_err(|e| PromoteError::Io {
        what: format!("manifest of {source}"),
        cause: e.to_string(),
    })?;
    let mut manifests = Vec::new();
    let mut blobs: Vec<(String, u64)> = top.blobs();
    for c in top.children() {
        let d = c.digest().to_string();
        let (cb, ci) = client
            .get_manifest(&src.repository, &d)
            .await?
            .ok_or_else(|| PromoteError::NotFound(format!("{}@{d}", src.repository)))?;
        blobs.extend(Manifest::parse(&cb).map(|m| m.blobs()).unwrap_or_default());
        let mt = if ci.media_type.is_empty() {
            c.media_type().to_string()
        } else {
            ci.media_type
        };
        manifests.push(ManifestStep {
            digest: ci.digest,
            media_type: mt,
            body: cb,
        });
    }
    blobs.sort();
    blobs.dedup();
    manifests.push(ManifestStep {
        digest: info.digest.clone(),
        media_type: info.media_type.clone(),
        body,
    });

    let same_registry = src.repository.host == dst.repository.host;
    let mut steps = Vec::new();
    for (d, size) in blobs {
        let action = if client.blob_exists(&dst.repository, &d).await? {
            BlobAction::Present
        } else if same_registry {
            BlobAction::Mount
        } else {
            BlobAction::Copy
        };
        steps.push(BlobStep {
            digest: d,
            size,
            action,
        });
    }
    // The destination's tag, else the source's; then the extra tags.
    let mut tags: Vec<String> = dst
        .tag
        .iter()
        .chain(dst.tag.is_none().then_some(()).and(src.tag.as_ref()))
        .cloned()
        .collect();
    for t in extra_tags {
        if !crate::registry::reference::valid_tag(t) {
            return Err(PromoteError::Refused(format!(
                "--tag {t:?} is not a valid tag"
            )));
        }
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    let delete_source_tag = if move_source {
        let Some(t) = src.tag.clone() else {
            return Err(PromoteError::Refused(
                "--move needs a source tag (SRC:TAG), not a digest".into(),
            ));
        };
        if src.repository == dst.repository {
            return Err(PromoteError::Refused(
                "--move within the same repository would delete what it promotes".into(),
            ));
        }
        Some(t)
    } else {
        None
    };
    Ok(Plan {
        source: source.to_string(),
        source_repository: src.repository.to_string(),
        source_repo: src.repository,
        destination: dst.repository.to_string(),
        dest_repo: dst.repository,
        digest: info.digest,
        tags,
        blobs: steps,
        manifests,
        delete_source_tag,
    })
}

/// Carry out a plan.
pub async fn execute(
    client: &Client,
    plan: &Plan,
    work_dir: &std::path::Path,
) -> Result<Promoted, PromoteError> {
    use futures::StreamExt;
    // (mounted, copied, bytes) per blob; a few blobs at a time, as skopeo does.
    let results: Vec<Result<(usize, usize, u64), PromoteError>> =
        futures::stream::iter(plan.blobs.iter().map(|b| async move {
            match b.action {
                BlobAction::Present => Ok((0, 0, 0)),
                BlobAction::Mount => {
                    if client
                        .mount_blob(&plan.dest_repo, &b.digest, &plan.source_repo.path)
                        .await?
                    {
                        Ok((1, 0, 0))
                    } else {
                        Ok((
                            0,
                            1,
                            copy_blob(
                                client,
                                &plan.source_repo,
                                &plan.dest_repo,
                                &b.digest,
                                work_dir,
                            )
                            .await?,
                        ))
                    }
                }
                BlobAction::Copy => Ok((
                    0,
                    1,
                    copy_blob(
                        client,
                        &plan.source_repo,
                        &plan.dest_repo,
                        &b.digest,
                        work_dir,
                    )
                    .await?,
                )),
            }
        }))
        .buffer_unordered(BLOBS_AT_ONCE)
        .collect()
        .await;
    let (mut mounted, mut copied, mut bytes) = (0, 0, 0);
    for r in results {
        let (m, c, b) = r?;
        mounted += m;
        copied += c;
        bytes += b;
    }
    let (top, children) = plan
        .manifests
        .split_last()
        .ok_or_else(|| PromoteError::NotFound(plan.source.clone()))?;
    for m in children {
        client
            .put_manifest(&plan.dest_repo, &m.digest, &m.media_type, m.body.clone())
            .await?;
    }
    let digest = client
        .tag_manifest(
            &plan.dest_repo,
            &plan.tags,
            &top.media_type,
            top.body.clone(),
        )
        .await?;
    if digest != plan.digest {
        return Err(PromoteError::Refused(format!(
            "destination digest {digest} differs from the source's {}",
            plan.digest
        )));
    }
    let mut source_deleted = false;
    if let Some(tag) = &plan.delete_source_tag {
        // The source tag must still point where it pointed when we planned.
        let now = client
            .head_manifest(&plan.source_repo, tag)
            .await?
            .map(|i| i.digest);
        if now.as_deref() != Some(plan.digest.as_str()) {
            return Err(PromoteError::Refused(format!(
                "{}:{tag} moved to {} while promoting; the destination is written, the source is left as it is",
                plan.source_repository,
                now.unwrap_or_else(|| "nothing".into())
            )));
        }
        // Deleting by digest removes every tag of that manifest: refuse if others share it.
        let mut sharing = Vec::new();
        for t in client.list_tags(&plan.source_repo).await? {
            if t != *tag
                && client
                    .head_manifest(&plan.source_repo, &t)
                    .await?
                    .is_some_and(|i| i.digest == plan.digest)
            {
                sharing.push(t);
            }
        }
        if !sharing.is_empty() {
            return Err(PromoteError::Refused(format!(
                "--move: {}:{tag} shares its manifest with tags {} (the registry deletes by digest, which would remove them too); the destination is written, the source is left as it is",
                plan.source_repository,
                sharing.join(", ")
            )));
        }
        client
            .delete_manifest(&plan.source_repo, &plan.digest)
            .await?;
        source_deleted = true;
    }
    Ok(Promoted {
        destination: plan.destination.clone(),
        digest,
        tags: plan.tags.clone(),
        blobs_mounted: mounted,
        blobs_copied: copied,
        bytes_copied: bytes,
        source_deleted,
    })
}

/// Blobs copied at once across registries.
const BLOBS_AT_ONCE: usize = 4;

/// `--from-report`: one (source, destination, tags) per reported image; images go to
/// `TO/<name>` (the nameless image to `TO`), under the tags they were published with.
pub fn from_report(
    report: &crate::publish::report::Report,
    to: &str,
) -> Vec<(String, String, Vec<String>)> {
    report
        .images
        .iter()
        .map(|i| {
            let dest = match &i.name {
                Some(n) => format!("{}/{n}", to.trim_end_matches('/')),
                None => to.trim_end_matches('/').to_string(),
            };
            let tags = i
                .references
                .iter()
                .filter_map(|r| r.rsplit_once(':').map(|(_, t)| t.to_string()))
                .filter(|t| !t.contains('/'))
                .collect();
            (i.pinned(), dest, tags)
        })
        .collect()
}
