//! A statement attached to its image as an OCI 1.1 referrer: an OCI manifest with
//! `artifactType` [`ARTIFACT_TYPE`], the empty config descriptor, the statement as its one
//! layer and `subject` = the image manifest, pushed by digest. A registry with the referrers
//! API indexes it itself; otherwise the `sha256-<hex>` fallback index is read again just
//! before it is written, and merged, so runners attaching at once keep each other's.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::registry::manifest::{MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST};
use crate::registry::referrers::ReferrersSource;
use crate::registry::{BlobSource, Client, RegistryError, Repository, UploadMode, sha256_digest};

/// The artifact type (and layer media type) of an in-toto statement.
pub const ARTIFACT_TYPE: &str = "application/vnd.in-toto+json";
/// OCI 1.1's empty config: `{}`.
pub const EMPTY_TYPE: &str = "application/vnd.oci.empty.v1+json";
const EMPTY: &[u8] = b"{}";

/// Where a referrer was indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// The referrer manifest's digest.
    pub digest: String,
    /// The fallback tag written, when the registry has no referrers API.
    pub fallback_tag: Option<String>,
}

/// The fallback tag of a subject digest: `sha256:HEX` → `sha256-HEX`.
pub fn fallback_tag(subject: &str) -> String {
    subject.replacen(':', "-", 1)
}

/// The referrer manifest of a statement (the statement blob's digest and size given).
pub fn referrer_manifest(
    statement: (&str, u64),
    subject: (&str, &str, u64),
    predicate_type: &str,
) -> Value {
    let (media_type, digest, size) = subject;
    json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": { "mediaType": EMPTY_TYPE, "digest": sha256_digest(EMPTY), "size": EMPTY.len(), "data": "e30=" },
        "layers": [{
            "mediaType": ARTIFACT_TYPE,
            "digest": statement.0,
            "size": statement.1,
            "annotations": { "in-toto.io/predicate-type": predicate_type },
        }],
        "subject": { "mediaType": media_type, "digest": digest, "size": size },
        "annotations": { "org.opencontainers.image.created": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true) },
    })
}

/// `index` (the fallback tag's, or a new one) with `desc` added, once.
pub fn merged_index(existing: &[Value], desc: Value) -> Value {
    let mut manifests: Vec<Value> = existing
        .iter()
        .filter(|d| d["digest"] != desc["digest"])
        .cloned()
        .collect();
    manifests.push(desc);
    json!({ "schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "manifests": manifests })
}

async fn put_blob(
    client: &Client,
    repo: &Repository,
    body: Bytes,
) -> Result<String, RegistryError> {
    let digest = sha256_digest(&body);
    if !client.blob_exists(repo, &digest).await? {
        client
            .upload_blob(
                repo,
                &digest,
                &BlobSource::Bytes(body),
                UploadMode::Monolithic,
            )
            .await?;
    }
    Ok(digest)
}

/// Attach `statement` to the manifest `subject` (its digest) in `repo`.
pub async fn attach(
    client: &Client,
    repo: &Repository,
    subject: &str,
    statement: &Value,
) -> Result<Attached, RegistryError> {
    let Some(info) = client.head_manifest(repo, subject).await? else {
        return Err(RegistryError::Io {
            what: format!("provenance of {repo}@{subject}"),
            cause: "the image manifest is not in the registry".into(),
        });
    };
    let body = Bytes::from(statement.to_string());
    let size = body.len() as u64;
    let layer = put_blob(client, repo, body).await?;
    put_blob(client, repo, Bytes::from_static(EMPTY)).await?;
    let predicate = statement["predicateType"].as_str().unwrap_or_default();
    let manifest = referrer_manifest(
        (&layer, size),
        (&info.media_type, subject, info.size),
        predicate,
    );
    let manifest = Bytes::from(manifest.to_string());
    let digest = sha256_digest(&manifest);
    let msize = manifest.len() as u64;
    client
        .put_manifest(repo, &digest, MEDIA_OCI_MANIFEST, manifest)
        .await?;
    let desc = json!({
        "mediaType": MEDIA_OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "digest": digest,
        "size": msize,
        "annotations": { "in-toto.io/predicate-type": predicate },
    });
    let fallback_tag = index_referrer(client, repo, subject, desc).await?;
    Ok(Attached {
        digest,
        fallback_tag,
    })
}

/// Index a referrer already pushed: nothing where the referrers API answers (the registry
/// did it), else merged into the fallback index, read again just before it is written.
/// The fallback tag written, if any.
async fn index_referrer(
    client: &Client,
    repo: &Repository,
    subject: &str,
    desc: Value,
) -> Result<Option<String>, RegistryError> {
    let (existing, source) = client.referrers(repo, subject).await?;
    if source == ReferrersSource::Api {
        return Ok(None);
    }
    let existing: Vec<Value> = existing
        .iter()
        .filter_map(|d| serde_json::to_value(d).ok())
        .collect();
    let tag = fallback_tag(subject);
    let index = merged_index(&existing, desc);
    client
        .put_manifest(repo, &tag, MEDIA_OCI_INDEX, Bytes::from(index.to_string()))
        .await?;
    Ok(Some(tag))
}

/// Copy the referrers of `subject` in `from` (manifests and blobs, byte for byte: the
/// subject's digest is the same in `to`) and index them in `to`. How many were carried.
pub async fn carry(
    client: &Client,
    from: &Repository,
    to: &Repository,
    subject: &str,
) -> Result<usize, RegistryError> {
    let (referrers, _) = client.referrers(from, subject).await?;
    for r in &referrers {
        let digest = r.digest().to_string();
        let Some((body, info)) = client.get_manifest(from, &digest).await? else {
            continue;
        };
        let m: Value = serde_json::from_slice(&body).map_err(|e| RegistryError::Io {
            what: format!("referrer {from}@{digest}"),
            cause: e.to_string(),
        })?;
        let blobs =
            std::iter::once(&m["config"]).chain(m["layers"].as_array().into_iter().flatten());
        for b in blobs.filter_map(|b| b["digest"].as_str()) {
            if !client.blob_exists(to, b).await? {
                let bytes = client.get_blob_bytes(from, b).await?;
                put_blob(client, to, bytes).await?;
            }
        }
        client
            .put_manifest(to, &digest, &info.media_type, body)
            .await?;
        let desc = serde_json::to_value(r).map_err(|e| RegistryError::Io {
            what: format!("referrer {from}@{digest}"),
            cause: e.to_string(),
        })?;
        index_referrer(client, to, subject, desc).await?;
    }
    Ok(referrers.len())
}

/// A fallback tag (`sha256-` and 64 hex digits): no image's tag, the referrers index of the
/// manifest it names.
pub fn is_fallback_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// With its subject deleted: the referrers its fallback index lists and the index itself
/// (by digest, which removes the tag). How many manifests went.
pub async fn detach(
    client: &Client,
    repo: &Repository,
    subject: &str,
) -> Result<usize, RegistryError> {
    let Some((index, info, _)) = client
        .get_typed_manifest(repo, &fallback_tag(subject))
        .await?
    else {
        return Ok(0);
    };
    let mut gone = 0;
    for child in index.children() {
        gone += usize::from(
            client
                .delete_manifest(repo, child.digest().as_ref())
                .await?,
        );
    }
    gone += usize::from(client.delete_manifest(repo, &info.digest).await?);
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referrer_names_its_subject_and_the_empty_config() {
        let subject = format!("sha256:{}", "a".repeat(64));
        let m = referrer_manifest(
            ("sha256:bb", 12),
            (MEDIA_OCI_MANIFEST, &subject, 400),
            "https://slsa.dev/provenance/v1",
        );
        assert_eq!(m["artifactType"], ARTIFACT_TYPE);
        assert_eq!(m["config"]["mediaType"], EMPTY_TYPE);
        assert_eq!(
            m["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(m["subject"]["digest"], subject.as_str());
        assert_eq!(m["subject"]["size"], 400);
        assert_eq!(m["layers"][0]["mediaType"], ARTIFACT_TYPE);
        assert_eq!(fallback_tag(&subject), format!("sha256-{}", "a".repeat(64)));
        assert!(is_fallback_tag(&fallback_tag(&subject)));
        assert!(!is_fallback_tag("sha256-abc") && !is_fallback_tag("v1"));
    }

    #[test]
    fn fallback_index_merges_once() {
        let a = json!({"digest": "sha256:a", "mediaType": MEDIA_OCI_MANIFEST, "size": 1});
        let b = json!({"digest": "sha256:b", "mediaType": MEDIA_OCI_MANIFEST, "size": 2});
        let i = merged_index(&[a.clone(), b.clone()], b.clone());
        assert_eq!(i["manifests"], json!([a, b]));
        assert_eq!(i["mediaType"], MEDIA_OCI_INDEX);
    }
}
