//! `slipway inspect REF`: a read-only look at what a registry holds under a reference, for
//! when a pipeline misbehaves (crane's `digest`/`config`, skopeo's `inspect`): the digest,
//! each platform's image (one for a single manifest, each child of an index) with its size,
//! creation time, labels and config, and the manifests that refer to it.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::registry::manifest::ManifestInfo;
use crate::registry::reference::{Reference, Repository};
use crate::registry::referrers::ReferrersSource;
use crate::registry::{Client, RegistryError};

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{reference}: no such tag or digest in {repository}")]
    NotFound {
        reference: String,
        repository: String,
    },
    #[error("{what} is not a manifest or index: {cause}")]
    Unreadable { what: String, cause: String },
}

/// What a reference holds.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// `REPOSITORY:TAG` or `REPOSITORY@DIGEST`, as asked.
    pub reference: String,
    pub digest: String,
    pub media_type: String,
    /// Bytes the registry holds for it: manifests, configs and layers (a layer two
    /// platforms share counts twice).
    pub size: u64,
    /// One per image: the manifest itself, or each manifest an index lists.
    pub platforms: Vec<PlatformImage>,
    pub referrers: Vec<Referrer>,
    /// `api` (OCI 1.1 referrers API), `tag-schema` (the `sha256-<hex>` tag) or `none`.
    pub referrers_source: &'static str,
}

/// One image manifest.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformImage {
    /// `os/architecture[/variant]`, as the index or else the config says.
    pub platform: String,
    pub digest: String,
    pub media_type: String,
    /// Manifest, config and layers.
    pub size: u64,
    pub layers: usize,
    pub created: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// The config's `config` object (Env, Cmd, Entrypoint, WorkingDir, User, …).
    pub config: Value,
}

/// A manifest that refers to the inspected one (a signature, an SBOM, an attestation).
#[derive(Debug, Clone, Serialize)]
pub struct Referrer {
    pub digest: String,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub size: u64,
}

/// Inspect `reference` (`latest` when it names neither tag nor digest).
pub async fn inspect(client: &Client, reference: &Reference) -> Result<Inspection, InspectError> {
    let repo = &reference.repository;
    let (at, shown) = match (&reference.digest, &reference.tag) {
        (Some(d), _) => (d.clone(), format!("{repo}@{d}")),
        (None, Some(t)) => (t.clone(), format!("{repo}:{t}")),
        (None, None) => ("latest".to_string(), format!("{repo}:latest")),
    };
    let (doc, info) = manifest(client, repo, &at, &shown).await?;
    let mut platforms = Vec::new();
    let mut size = info.size;
    match doc["manifests"].as_array() {
        Some(children) => {
            for c in children {
                let digest = c["digest"].as_str().unwrap_or_default();
                let (m, i) = manifest(client, repo, digest, &format!("{repo}@{digest}")).await?;
                let mut p = image(client, repo, &m, i).await?;
                if let Some(declared) = platform(&c["platform"]) {
                    p.platform = declared;
                }
                size += p.size;
                platforms.push(p);
            }
        }
        None => {
            let p = image(client, repo, &doc, info.clone()).await?;
            size = p.size;
            platforms.push(p);
        }
    }
    let (found, source) = client.referrers(repo, &info.digest).await?;
    let referrers = found
        .iter()
        .map(|d| Referrer {
            digest: d.digest().to_string(),
            media_type: d.media_type().to_string(),
            artifact_type: d.artifact_type().as_ref().map(|t| t.to_string()),
            size: d.size(),
        })
        .collect();
    Ok(Inspection {
        reference: shown,
        digest: info.digest,
        media_type: info.media_type,
        size,
        platforms,
        referrers,
        referrers_source: match source {
            ReferrersSource::Api => "api",
            ReferrersSource::TagSchema => "tag-schema",
            ReferrersSource::None => "none",
        },
    })
}

/// A manifest or index as JSON, with what the registry said about it.
async fn manifest(
    client: &Client,
    repo: &Repository,
    at: &str,
    shown: &str,
) -> Result<(Value, ManifestInfo), InspectError> {
    let Some((body, info)) = client.get_manifest(repo, at).await? else {
        return Err(InspectError::NotFound {
            reference: shown.to_string(),
            repository: repo.to_string(),
        });
    };
    let doc: Value = serde_json::from_slice(&body).map_err(|e| InspectError::Unreadable {
        what: shown.to_string(),
        cause: e.to_string(),
    })?;
    Ok((doc, info))
}

/// One image manifest's facts, its config read.
async fn image(
    client: &Client,
    repo: &Repository,
    m: &Value,
    info: ManifestInfo,
) -> Result<PlatformImage, InspectError> {
    let layers = m["layers"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let layer_bytes: u64 = layers.iter().filter_map(|l| l["size"].as_u64()).sum();
    let config_size = m["config"]["size"].as_u64().unwrap_or(0);
    // An artifact's config may be anything (often `{}`): only JSON is read.
    let config: Value = match m["config"]["digest"].as_str() {
        Some(d) => {
            serde_json::from_slice(&client.get_blob_bytes(repo, d).await?).unwrap_or(Value::Null)
        }
        None => Value::Null,
    };
    let labels = config["config"]["Labels"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    Ok(PlatformImage {
        platform: platform(&config).unwrap_or_else(|| "unknown".to_string()),
        digest: info.digest,
        media_type: info.media_type,
        size: info.size + config_size + layer_bytes,
        layers: layers.len(),
        created: config["created"].as_str().map(str::to_string),
        labels,
        config: config["config"].clone(),
    })
}

/// `os/architecture[/variant]` of an index entry's `platform` or an image config.
fn platform(v: &Value) -> Option<String> {
    let os = v["os"].as_str()?;
    let arch = v["architecture"].as_str()?;
    Some(match v["variant"].as_str() {
        Some(variant) if !variant.is_empty() => format!("{os}/{arch}/{variant}"),
        _ => format!("{os}/{arch}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_read_from_an_index_entry_or_a_config() {
        let entry = serde_json::json!({"os": "linux", "architecture": "arm64", "variant": "v8"});
        assert_eq!(platform(&entry).as_deref(), Some("linux/arm64/v8"));
        let config = serde_json::json!({"os": "linux", "architecture": "amd64", "config": {}});
        assert_eq!(platform(&config).as_deref(), Some("linux/amd64"));
        assert_eq!(platform(&Value::Null), None);
    }
}
