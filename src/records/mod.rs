//! Commit records: "commit C published image I with content signature S", kept in the
//! registry so that cleanup can tie an image to every commit that published it (a squash
//! merge, a re-tag or a no-op publish of unchanged content all add commits), and can find
//! images that werf.yaml no longer lists. werf 1.1 kept the same facts as metadata tags in
//! its stages storage.
//!
//! Where: the pseudo-image `slipway-meta` of the images repo, so both repo modes and any
//! registry can hold it: `REPO/slipway-meta:TAG` (multirepo) or `REPO:slipway-meta-TAG`
//! (monorepo). What: tags only, all pointing at one tiny empty image, so a record costs one
//! manifest PUT, runners add records concurrently without losing any (each is its own
//! tag), and reading them is one tag listing:
//! - `r-<commit>-<image key>-<signature prefix>`: a record (40 + 8 + 24 hex; 89 characters
//!   with the monorepo prefix, within the registry's 128);
//! - `i-<image key>`: the image's name, in the labels of its own small image (read once per
//!   image when looking for images dropped from werf.yaml).
//!
//! Records are never deleted by digest: every record tag shares one manifest.

pub mod werf;

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use crate::naming::name::NAMELESS;
use crate::naming::{Naming, NamingError};
use crate::registry::{BlobSource, UploadMode, sha256_digest};
use crate::registry::{Client, RegistryError, Repository, image};

/// Kept here too for the callers that name it through records.
pub use crate::naming::META_IMAGE;
// Label of an image-name record.
use crate::labels::RECORD_IMAGE as IMAGE_LABEL;
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// Characters of the signature kept in a record tag: 96 bits, ample to tell a project's
/// signatures apart, short enough for the tag limit.
const SIG_CHARS: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Naming(#[from] NamingError),
}

/// The short key of an image name in record tags (`~` for the nameless image).
pub fn image_key(image: Option<&str>) -> String {
    let h = Sha256::digest(image.unwrap_or(NAMELESS).as_bytes());
    hex::encode(&h[..4])
}

/// The record tag (before the repo mode's prefix) for one published image.
pub fn record_tag(commit: &str, image: Option<&str>, signature: &str) -> String {
    let sig = &signature[..signature.len().min(SIG_CHARS)];
    format!("r-{commit}-{}-{sig}", image_key(image))
}

/// One parsed record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Record {
    pub commit: String,
    pub image_key: String,
    pub signature_prefix: String,
}

/// Parse a record tag (without the repo mode's prefix).
pub fn parse_record_tag(tag: &str) -> Option<Record> {
    let rest = tag.strip_prefix("r-")?;
    let mut parts = rest.split('-');
    let (commit, key, sig) = (parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    (parts.next().is_none() && hex(commit) && key.len() == 8 && hex(key) && hex(sig)).then(|| {
        Record {
            commit: commit.to_string(),
            image_key: key.to_string(),
            signature_prefix: sig.to_string(),
        }
    })
}

/// Everything the registry holds: records and the names of the images they cover.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Records {
    pub records: BTreeSet<Record>,
    /// Image names by key (from `i-` tags).
    pub images: BTreeMap<String, Option<String>>,
}

impl Records {
    /// Every commit that published `image` with `signature`, sorted.
    pub fn commits(&self, image: Option<&str>, signature: &str) -> Vec<String> {
        let key = image_key(image);
        self.records
            .iter()
            .filter(|r| {
                r.image_key == key
                    && !r.signature_prefix.is_empty()
                    && signature.starts_with(&r.signature_prefix)
            })
            .map(|r| r.commit.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// Does any record cover `image`?
    pub fn has_image(&self, image: Option<&str>) -> bool {
        let key = image_key(image);
        self.records.iter().any(|r| r.image_key == key)
    }
}

/// Where records live: the repository and the tag prefix of the repo mode.
fn location(naming: &Naming) -> Result<(Repository, String), NamingError> {
    let repo = naming.repository(Some(META_IMAGE))?;
    let probe = naming.repo_tag(Some(META_IMAGE), "x")?;
    let prefix = probe.strip_suffix('x').unwrap_or("").to_string();
    Ok((repo, prefix))
}

/// A tiny empty image (no layers) with `labels`: its manifest and config.
fn empty_image(labels: &BTreeMap<&str, &str>) -> (Bytes, Bytes) {
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Labels": labels },
        "rootfs": { "type": "layers", "diff_ids": [] },
    });
    let config = Bytes::from(config.to_string());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {
            "mediaType": CONFIG_TYPE,
            "digest": sha256_digest(&config),
            "size": config.len(),
        },
        "layers": [],
    });
    (Bytes::from(manifest.to_string()), config)
}

async fn put_image(
    client: &Client,
    repo: &Repository,
    tags: &[String],
    labels: &BTreeMap<&str, &str>,
) -> Result<(), RegistryError> {
    let (manifest, config) = empty_image(labels);
    let digest = sha256_digest(&config);
    if !client.blob_exists(repo, &digest).await? {
        client
            .upload_blob(
                repo,
                &digest,
                &BlobSource::Bytes(config),
                UploadMode::Monolithic,
            )
            .await?;
    }
    stream::iter(tags)
        .map(|t| client.put_manifest(repo, t, MANIFEST_TYPE, manifest.clone()))
        .buffer_unordered(8)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

/// Record that `commit` published each `(image, signature)`; existing records are left
/// as they are (a tag listing first, so a no-op publish writes nothing new).
pub async fn write(
    client: &Client,
    naming: &Naming,
    commit: &str,
    images: &[(Option<String>, String)],
) -> Result<usize, RecordsError> {
    let (repo, prefix) = location(naming)?;
    let existing: BTreeSet<String> = client.list_tags(&repo).await?.into_iter().collect();
    let mut records = Vec::new();
    for (image, sig) in images {
        if sig.is_empty() {
            continue;
        }
        let tag = format!("{prefix}{}", record_tag(commit, image.as_deref(), sig));
        if !existing.contains(&tag) {
            records.push(tag);
        }
        let name_tag = format!("{prefix}i-{}", image_key(image.as_deref()));
        if !existing.contains(&name_tag) {
            let name = image.as_deref().unwrap_or(NAMELESS);
            put_image(
                client,
                &repo,
                &[name_tag],
                &BTreeMap::from([(IMAGE_LABEL, name)]),
            )
            .await?;
        }
    }
    if !records.is_empty() {
        put_image(
            client,
            &repo,
            &records,
            &BTreeMap::from([("slipway.record", "1")]),
        )
        .await?;
    }
    tracing::debug!(records = records.len(), %commit, "commit records written");
    Ok(records.len())
}

/// The image names of Slipway's list (`i-` records): werf.yaml's images ever published,
/// and those `managed-images add` named. The records pseudo-image is not one of them.
pub fn image_names(records: &Records) -> Vec<Option<String>> {
    let mut v: Vec<Option<String>> = records
        .images
        .values()
        .filter(|n| n.as_deref() != Some(META_IMAGE))
        .cloned()
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The `i-` record of `image` (with the repo mode's prefix) and its repository.
pub fn name_record(
    naming: &Naming,
    image: Option<&str>,
) -> Result<(Repository, String), NamingError> {
    let (repo, prefix) = location(naming)?;
    Ok((repo, format!("{prefix}i-{}", image_key(image))))
}

/// Add `image` to Slipway's list; `false`: it was there.
pub async fn add_image_name(
    client: &Client,
    naming: &Naming,
    image: Option<&str>,
) -> Result<bool, RecordsError> {
    let (repo, tag) = name_record(naming, image)?;
    if client.head_manifest(&repo, &tag).await?.is_some() {
        return Ok(false);
    }
    let name = image.unwrap_or(NAMELESS);
    put_image(
        client,
        &repo,
        &[tag],
        &BTreeMap::from([(IMAGE_LABEL, name)]),
    )
    .await?;
    Ok(true)
}

/// Remove `image` from Slipway's list; `false`: it was not there. Its record is its own
/// manifest (the name is its only label), so deleting it by digest takes nothing else.
pub async fn remove_image_name(
    client: &Client,
    naming: &Naming,
    image: Option<&str>,
) -> Result<bool, RecordsError> {
    let (repo, tag) = name_record(naming, image)?;
    let Some((_, Some(cfg))) = client.image_config(&repo, &tag).await? else {
        return Ok(false);
    };
    if image::label(&cfg, IMAGE_LABEL) != Some(image.unwrap_or(NAMELESS)) {
        return Ok(false);
    }
    let Some(info) = client.head_manifest(&repo, &tag).await? else {
        return Ok(false);
    };
    Ok(client.delete_manifest(&repo, &info.digest).await?)
}

/// Read every record and image name.
pub async fn read(client: &Client, naming: &Naming) -> Result<Records, RecordsError> {
    let (repo, prefix) = location(naming)?;
    let mut out = Records::default();
    let mut name_tags = Vec::new();
    for tag in client.list_tags(&repo).await? {
        let Some(t) = tag.strip_prefix(&prefix) else {
            continue;
        };
        if let Some(r) = parse_record_tag(t) {
            out.records.insert(r);
        } else if let Some(key) = t.strip_prefix("i-") {
            name_tags.push((key.to_string(), tag.clone()));
        }
    }
    let names: Vec<(String, Option<String>)> = stream::iter(name_tags)
        .map(|(key, tag)| {
            let repo = repo.clone();
            async move {
                let name = image_name(client, &repo, &tag).await?;
                Ok::<_, RegistryError>((key, name))
            }
        })
        .buffer_unordered(8)
        .try_collect()
        .await?;
    for (key, name) in names {
        if let Some(n) = name {
            out.images.insert(key, (n != NAMELESS).then_some(n));
        }
    }
    Ok(out)
}

/// The image name an `i-` tag's image carries.
async fn image_name(
    client: &Client,
    repo: &Repository,
    tag: &str,
) -> Result<Option<String>, RegistryError> {
    let Some((_, Some(config))) = client.image_config(repo, tag).await? else {
        return Ok(None);
    };
    Ok(image::label(&config, IMAGE_LABEL).map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_tags_round_trip_and_fit_the_tag_limit() {
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let sig = "f".repeat(64);
        let tag = record_tag(commit, Some("backend"), &sig);
        assert!(format!("{META_IMAGE}-{tag}").len() <= 128, "{tag}");
        let r = parse_record_tag(&tag).expect("parses");
        assert_eq!(r.commit, commit);
        assert_eq!(r.image_key, image_key(Some("backend")));
        assert_ne!(image_key(None), image_key(Some("backend")));
        assert_eq!(parse_record_tag("r-x-y-z"), None);
        assert_eq!(parse_record_tag("v1"), None);
        let mut all = Records::default();
        all.records.insert(r);
        all.records.insert(
            parse_record_tag(&record_tag(&"1".repeat(40), Some("backend"), &sig)).expect("p"),
        );
        all.records.insert(
            parse_record_tag(&record_tag(&"2".repeat(40), Some("frontend"), &sig)).expect("p"),
        );
        assert_eq!(
            all.commits(Some("backend"), &sig),
            vec![commit.to_string(), "1".repeat(40)]
        );
        assert!(all.commits(Some("backend"), &"e".repeat(64)).is_empty());
        assert!(all.has_image(Some("frontend")));
        assert!(!all.has_image(None));
    }
}
