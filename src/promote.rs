//! Promote: copy (or move) an image between repositories by digest, without rebuilding.
//! Plan first (which blobs are present, mounted or copied; which manifests and tags are
//! written; what is deleted), then act. Within one registry blobs are mounted, so no blob
//! byte moves; across registries blobs are copied a few at a time. Both go through the one
//! copy path (`transfer::source`), with the source repository as the image source.

use std::fmt;

use serde::Serialize;

use crate::registry::reference::{Reference, ReferenceError, Repository};
use crate::registry::{Client, RegistryError};
use crate::transfer::{
    self,
    plan::{CopyPlan, ManifestStep},
    push::{PushError, PushOptions, PushTarget, Session},
    source::registry::RegistrySource,
};

#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Copy(#[from] PushError),
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("{0}")]
    Refused(String),
    #[error("{what}: {cause}")]
    Io { what: String, cause: String },
    /// `--from-report`'s file.
    #[error(transparent)]
    Report(#[from] crate::publish::report::ReportError),
}

/// What to promote, as the command line says: one image, or every image of a publish
/// report.
pub enum Images {
    One {
        source: String,
        destination: String,
    },
    FromReport {
        path: std::path::PathBuf,
        to: String,
    },
}

/// `slipway promote`'s flags, as plain values.
pub struct Request {
    pub images: Images,
    /// `--tag`: more destination tags, for every image.
    pub tags: Vec<String>,
    pub move_source: bool,
    pub platform: Option<String>,
    /// Carry the images' referrers (SLSA provenance) too.
    pub provenance: bool,
}

/// The plan of each image the request names (reads only).
pub async fn plans(client: &Client, request: &Request) -> Result<Vec<Plan>, PromoteError> {
    let jobs = match &request.images {
        Images::FromReport { path, to } => {
            let report = crate::publish::report::Report::read(path)?;
            from_report(&report, to)
                .into_iter()
                .map(|(s, d, mut t)| {
                    t.extend(request.tags.iter().cloned());
                    (s, d, t)
                })
                .collect()
        }
        Images::One {
            source,
            destination,
        } => vec![(source.clone(), destination.clone(), request.tags.clone())],
    };
    let mut plans = Vec::new();
    for (s, d, t) in &jobs {
        let platform = request.platform.as_deref();
        let mut plan = plan(client, s, d, t, request.move_source, platform).await?;
        plan.carry_referrers = request.provenance;
        plans.push(plan);
    }
    Ok(plans)
}

/// What a promotion will do.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The blob steps, the destination (`target`) and its tags.
    #[serde(flatten)]
    pub copy: CopyPlan,
    pub source_repository: String,
    pub digest: String,
    /// Child manifests (of an index) first, the top manifest last.
    pub manifests: Vec<ManifestStep>,
    /// `--move`: the source tag deleted after the destination is verified.
    pub delete_source_tag: Option<String>,
    /// `--move`: the source's referrers indexes (fallback tags `sha256-<hex>`, the
    /// provenance of the image or of its platform manifests) deleted with it, each with the
    /// referrers it lists, unless another source tag still holds its subject.
    pub delete_referrer_indexes: Vec<String>,
    /// The image's referrers (its provenance) copied too (`--provenance=false`: not).
    pub carry_referrers: bool,
    #[serde(skip)]
    source: RegistrySource,
    #[serde(skip)]
    dest_repo: Repository,
}

impl Plan {
    pub fn source(&self) -> &str {
        &self.copy.source
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "promote {} ({}) -> {}",
            self.copy.source, self.digest, self.copy.target
        )?;
        for b in &self.copy.blobs {
            writeln!(f, "  {b}")?;
        }
        for m in &self.manifests {
            writeln!(f, "  manifest {} ({})", m.digest, m.media_type)?;
        }
        for t in &self.copy.tags {
            writeln!(f, "  tag {}:{t}", self.copy.target)?;
        }
        if self.carry_referrers {
            writeln!(f, "  referrers of {} (provenance), if any", self.digest)?;
        }
        if let Some(t) = &self.delete_source_tag {
            writeln!(
                f,
                "  delete {}:{t} (manifest {}) after verifying",
                self.source_repository, self.digest
            )?;
        }
        // An index's platform manifests go after it (issue 34).
        let children = self.manifests.iter().filter(|m| m.digest != self.digest);
        for m in children.filter(|_| self.delete_source_tag.is_some()) {
            writeln!(
                f,
                "  delete {}@{} (platform manifest) after it, unless another tag holds it",
                self.source_repository, m.digest
            )?;
        }
        for t in &self.delete_referrer_indexes {
            writeln!(
                f,
                "  delete {}:{t} (referrers index) and what it lists, unless another tag holds its subject",
                self.source_repository
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
    /// `--move` of an index: its platform manifests deleted after it (digests).
    pub platform_manifests_deleted: Vec<String>,
    /// `--move`: the source's referrers indexes (fallback tags) deleted with it.
    pub referrer_indexes_deleted: Vec<String>,
}

/// Compute the plan (reads only). `dest` is a reference (its tag is used) or a
/// repository; with no tag anywhere, the source tag is reused.
pub async fn plan(
    client: &Client,
    source: &str,
    dest: &str,
    extra_tags: &[String],
    move_source: bool,
    platform: Option<&str>,
) -> Result<Plan, PromoteError> {
    let src = Reference::parse(source)?;
    let dst = Reference::parse(dest)?;
    if dst.digest.is_some() {
        return Err(PromoteError::Refused(format!(
            "{dest}: the destination must be a repository or a tag, not a digest"
        )));
    }
    // The destination's tag, else the source's; then the extra tags.
    let mut tags: Vec<String> = dst
        .tag
        .iter()
        .chain(dst.tag.is_none().then_some(()).and(src.tag.as_ref()))
        .cloned()
        .collect();
    for t in extra_tags {
        // A git tag such as `release/2.0` ($CI_COMMIT_TAG) is published under its slug
        // (`--tag-git-tag`, werf's naming); promote names it the same way.
        let t = if crate::registry::reference::valid_tag(t) {
            t.clone()
        } else {
            let s = crate::naming::slug::slug(t, crate::naming::slug::SlugFormat::DockerTag);
            tracing::info!(
                "--tag {t:?} is not a docker tag: using its slug {s:?}, as publish names a git tag"
            );
            s
        };
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    let delete_source_tag = if move_source {
        if platform.is_some() {
            return Err(PromoteError::Refused(
                "--move with --platform would delete every platform of the source: promote one platform without --move".into(),
            ));
        }
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
    let from = RegistrySource::open(client, &src.repository, src.target(), source)
        .await?
        .ok_or_else(|| PromoteError::NotFound(source.to_string()))?;
    let from = match platform {
        Some(p) => one_platform(client, from, p, source).await?,
        None => from,
    };
    let target = PushTarget {
        repository: dst.repository.clone(),
        tags,
    };
    let opts = PushOptions::default();
    let session = Session::open_bare(client, &target, &opts);
    let copy = transfer::source::plan(&from, &session).await?;
    let mut delete_referrer_indexes = Vec::new();
    if delete_source_tag.is_some() {
        for m in &from.manifests {
            let tag = crate::provenance::attach::fallback_tag(&m.digest);
            if client.head_manifest(&src.repository, &tag).await?.is_some() {
                delete_referrer_indexes.push(tag);
            }
        }
    }
    Ok(Plan {
        copy,
        source_repository: src.repository.to_string(),
        digest: from.digest.clone(),
        manifests: from.manifests.clone(),
        delete_source_tag,
        delete_referrer_indexes,
        carry_referrers: true,
        source: from,
        dest_repo: dst.repository,
    })
}

/// `--platform P` (issue 34): the manifest for `platform` out of the index `from`, alone.
async fn one_platform(
    client: &Client,
    from: RegistrySource,
    platform: &str,
    source: &str,
) -> Result<RegistrySource, PromoteError> {
    let want = crate::platform::normalize(platform)
        .map_err(|e| PromoteError::Refused(format!("--platform: {e}")))?;
    let top = from
        .manifests
        .last()
        .and_then(|m| crate::registry::image::Manifest::parse(&m.body).ok());
    let children = top.as_ref().map(|m| m.children()).unwrap_or_default();
    if children.is_empty() {
        return Err(PromoteError::Refused(format!(
            "--platform {want}: {source} is one image, not an index of platforms"
        )));
    }
    let mut offered = Vec::new();
    for c in children {
        let Some(p) = c.platform() else { continue };
        let mut name = format!("{}/{}", p.os(), p.architecture());
        if let Some(v) = p.variant().as_deref().filter(|v| !v.is_empty()) {
            name = format!("{name}/{v}");
        }
        let name = crate::platform::normalize(&name).unwrap_or(name);
        if name == want {
            let label = format!("{source} ({want})");
            let digest = c.digest().to_string();
            return RegistrySource::open(client, &from.repository, &digest, &label)
                .await?
                .ok_or(PromoteError::NotFound(label));
        }
        offered.push(name);
    }
    Err(PromoteError::NotFound(format!(
        "{want} in {source} (it has {})",
        offered.join(", ")
    )))
}

/// Carry out a plan: blobs a few at a time (as skopeo does), manifests, tags, then the
/// `--move` deletion. `opts` brings the progress callback and the work directory.
pub async fn execute(
    client: &Client,
    plan: &Plan,
    opts: &PushOptions,
) -> Result<Promoted, PromoteError> {
    let target = PushTarget {
        repository: plan.dest_repo.clone(),
        tags: plan.copy.tags.clone(),
    };
    let opts = PushOptions {
        concurrency: BLOBS_AT_ONCE,
        ..opts.clone()
    };
    let session = Session::open_bare(client, &target, &opts);
    let report = transfer::source::copy(&plan.source, &session, &plan.copy).await?;
    let digest = report.digest;
    if digest != plan.digest {
        return Err(PromoteError::Refused(format!(
            "destination digest {digest} differs from the source's {}",
            plan.digest
        )));
    }
    let source_repo = &plan.source.repository;
    // The image's referrers (its provenance) go along; the image itself is promoted
    // already, so a failure here is a warning.
    // A multi-platform image's provenance is its platform manifests': each is carried.
    for m in plan.manifests.iter().filter(|_| plan.carry_referrers) {
        let d = &m.digest;
        if let Err(e) =
            crate::provenance::attach::carry(client, source_repo, &plan.dest_repo, d).await
        {
            tracing::warn!(
                "copying the referrers of {}@{d}: {e}",
                plan.source_repository
            );
        }
    }
    let mut source_deleted = false;
    let mut platform_manifests_deleted = Vec::new();
    let mut referrer_indexes_deleted = Vec::new();
    if let Some(tag) = &plan.delete_source_tag {
        // The source tag must still point where it pointed when we planned.
        let now = client
            .head_manifest(source_repo, tag)
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
        let (sharing, held) = other_tags(client, plan, tag).await?;
        if !sharing.is_empty() {
            return Err(PromoteError::Refused(format!(
                "--move: {}:{tag} shares its manifest with tags {} (the registry deletes by digest, which would remove them too); the destination is written, the source is left as it is",
                plan.source_repository,
                sharing.join(", ")
            )));
        }
        client.delete_manifest(source_repo, &plan.digest).await?;
        source_deleted = true;
        platform_manifests_deleted = delete_children(client, plan, &held).await;
        referrer_indexes_deleted = delete_referrers(client, plan, &held).await;
    }
    Ok(Promoted {
        destination: plan.copy.target.clone(),
        digest,
        tags: plan.copy.tags.clone(),
        blobs_mounted: report.blobs_mounted,
        blobs_copied: report.blobs_copied,
        bytes_copied: report.bytes_uploaded,
        source_deleted,
        platform_manifests_deleted,
        referrer_indexes_deleted,
    })
}

/// The source tags other than `tag` that point at the promoted manifest, and the platform
/// manifests of the image that another source tag still holds (tagged itself, or a child of
/// another index).
async fn other_tags(
    client: &Client,
    plan: &Plan,
    tag: &str,
) -> Result<(Vec<String>, Vec<String>), PromoteError> {
    let repo = &plan.source.repository;
    let children: Vec<&str> = plan
        .manifests
        .iter()
        .map(|m| m.digest.as_str())
        .filter(|d| *d != plan.digest)
        .collect();
    let mut sharing = Vec::new();
    let mut held = Vec::new();
    for t in client.list_tags(repo).await? {
        if t == tag || crate::provenance::attach::is_fallback_tag(&t) {
            continue;
        }
        let Some(info) = client.head_manifest(repo, &t).await? else {
            continue;
        };
        if info.digest == plan.digest {
            sharing.push(t);
        } else if children.contains(&info.digest.as_str()) {
            if !held.contains(&info.digest) {
                held.push(info.digest);
            }
        } else if !children.is_empty()
            && (info.media_type.contains("index") || info.media_type.contains("list"))
            && let Some((index, _, _)) = client.get_typed_manifest(repo, &t).await?
        {
            for c in index.children() {
                let d = c.digest().to_string();
                if children.contains(&d.as_str()) && !held.contains(&d) {
                    held.push(d);
                }
            }
        }
    }
    Ok((sharing, held))
}

/// `--move` of an index, the index deleted: its platform manifests that no other source
/// tag holds (`held`), each by digest. The image is moved already, so a failure here is a
/// warning. Returns the digests deleted.
async fn delete_children(client: &Client, plan: &Plan, held: &[String]) -> Vec<String> {
    let repo = &plan.source.repository;
    let mut deleted = Vec::new();
    for m in plan.manifests.iter().filter(|m| m.digest != plan.digest) {
        if held.contains(&m.digest) {
            continue;
        }
        match client.delete_manifest(repo, &m.digest).await {
            Ok(_) => deleted.push(m.digest.clone()),
            Err(e) => tracing::warn!(
                "deleting the platform manifest {}@{}: {e}",
                plan.source_repository,
                m.digest
            ),
        }
    }
    deleted
}

/// `--move`, the source manifest deleted: the referrers indexes of the plan whose subject
/// no other source tag holds (`held`), with the referrers they list. The image is moved
/// already, so a failure here is a warning. The fallback tags deleted.
async fn delete_referrers(client: &Client, plan: &Plan, held: &[String]) -> Vec<String> {
    let repo = &plan.source.repository;
    let mut deleted = Vec::new();
    for m in &plan.manifests {
        let tag = crate::provenance::attach::fallback_tag(&m.digest);
        if !plan.delete_referrer_indexes.contains(&tag) || held.contains(&m.digest) {
            continue;
        }
        match crate::provenance::attach::detach(client, repo, &m.digest).await {
            Ok(_) => deleted.push(tag),
            Err(e) => tracing::warn!(
                "deleting the referrers of {}@{}: {e}",
                plan.source_repository,
                m.digest
            ),
        }
    }
    deleted
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
