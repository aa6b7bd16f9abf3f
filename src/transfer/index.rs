//! A multi-platform image (issue 34): its platforms' manifests, pushed by digest, listed
//! by one OCI image index put under the image's tags. The index carries the image's
//! content signature as an annotation (an index has no config to label), so a later plan
//! finds the tag up to date.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::json;

use crate::registry::manifest::MEDIA_OCI_INDEX;
use crate::registry::{Client, RegistryError, Repository};

/// One platform's manifest, already in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    /// `os/arch[/variant]`, normalized.
    pub platform: String,
    pub digest: String,
    pub media_type: String,
    pub size: u64,
}

/// The index over `children`, in their order, with `annotations`.
pub fn body(children: &[Child], annotations: &BTreeMap<String, String>) -> Bytes {
    let manifests: Vec<serde_json::Value> = children
        .iter()
        .map(|c| {
            let p = crate::platform::parse(&c.platform).ok();
            let mut platform = json!({
                "architecture": p.as_ref().map(|p| p.arch.as_str()).unwrap_or("unknown"),
                "os": p.as_ref().map(|p| p.os.as_str()).unwrap_or("unknown"),
            });
            if let Some(v) = p
                .as_ref()
                .map(|p| p.variant.as_str())
                .filter(|v| !v.is_empty())
            {
                platform["variant"] = json!(v);
            }
            json!({
                "mediaType": c.media_type,
                "digest": c.digest,
                "size": c.size,
                "platform": platform,
            })
        })
        .collect();
    let mut index = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_INDEX,
        "manifests": manifests,
    });
    if !annotations.is_empty() {
        index["annotations"] = json!(annotations);
    }
    Bytes::from(serde_json::to_vec_pretty(&index).unwrap_or_default())
}

/// The child manifest `digest` as the repository serves it (its type and size).
pub async fn child(
    client: &Client,
    repo: &Repository,
    platform: &str,
    digest: &str,
) -> Result<Child, RegistryError> {
    let info =
        client
            .head_manifest(repo, digest)
            .await?
            .ok_or_else(|| RegistryError::TagMoved {
                reference: format!("{repo}@{digest}"),
                expected: digest.to_string(),
                actual: "nothing".to_string(),
            })?;
    Ok(Child {
        platform: platform.to_string(),
        digest: info.digest,
        media_type: info.media_type,
        size: info.size,
    })
}

/// Put the index over `children` under every tag of `tags` (verified); returns its digest.
pub async fn put(
    client: &Client,
    repo: &Repository,
    tags: &[String],
    children: &[Child],
    annotations: &BTreeMap<String, String>,
) -> Result<String, RegistryError> {
    client
        .tag_manifest(repo, tags, MEDIA_OCI_INDEX, body(children, annotations))
        .await
}

/// The content signature an index of Slipway's names, if `body` is one.
pub fn signature(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("manifests")?;
    v["annotations"][crate::labels::SIGNATURE]
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_lists_each_platform_and_carries_the_signature() {
        let c = |p: &str, d: &str| Child {
            platform: p.into(),
            digest: d.into(),
            media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
            size: 7,
        };
        let ann = BTreeMap::from([(crate::labels::SIGNATURE.to_string(), "abc".to_string())]);
        let b = body(
            &[c("linux/amd64", "sha256:1"), c("linux/arm/v7", "sha256:2")],
            &ann,
        );
        let v: serde_json::Value = serde_json::from_slice(&b).expect("json");
        assert_eq!(v["mediaType"], MEDIA_OCI_INDEX);
        assert_eq!(
            v["manifests"][0]["platform"],
            json!({"architecture": "amd64", "os": "linux"})
        );
        assert_eq!(
            v["manifests"][1]["platform"],
            json!({"architecture": "arm", "os": "linux", "variant": "v7"})
        );
        assert_eq!(v["manifests"][1]["digest"], "sha256:2");
        assert_eq!(signature(&b).as_deref(), Some("abc"));
        assert_eq!(signature(br#"{"schemaVersion":2,"config":{}}"#), None);
    }
}
