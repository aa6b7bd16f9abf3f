//! Typed manifests, indexes and image configs (oci-spec's types). Docker's v2 schema 2
//! manifest and manifest list have the OCI shapes; oci-spec keeps their media types as
//! `MediaType::Other("application/vnd.docker…")`, so one type reads both.

use bytes::Bytes;
pub use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use serde::Deserialize;

use super::client::Client;
use super::manifest::ManifestInfo;
use super::reference::Repository;
use super::transport::RegistryError;

/// A manifest as a registry holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Manifest {
    Image(Box<ImageManifest>),
    /// An OCI index or a Docker manifest list.
    Index(Box<ImageIndex>),
}

impl Manifest {
    /// Parse manifest bytes; an index is told by its `manifests` list.
    pub fn parse(body: &[u8]) -> Result<Manifest, serde_json::Error> {
        #[derive(Deserialize)]
        struct Shape {
            manifests: Option<serde::de::IgnoredAny>,
        }
        if serde_json::from_slice::<Shape>(body)?.manifests.is_some() {
            Ok(Manifest::Index(serde_json::from_slice(body)?))
        } else {
            Ok(Manifest::Image(serde_json::from_slice(body)?))
        }
    }

    /// The config descriptor of an image manifest.
    pub fn config(&self) -> Option<&Descriptor> {
        match self {
            Manifest::Image(m) => Some(m.config()),
            Manifest::Index(_) => None,
        }
    }

    /// The blobs an image manifest names, config first, as (digest, size).
    pub fn blobs(&self) -> Vec<(String, u64)> {
        match self {
            Manifest::Image(m) => std::iter::once(m.config())
                .chain(m.layers())
                .map(|d| (d.digest().to_string(), d.size()))
                .collect(),
            Manifest::Index(_) => Vec::new(),
        }
    }

    /// The manifests an index lists.
    pub fn children(&self) -> &[Descriptor] {
        match self {
            Manifest::Index(i) => i.manifests(),
            Manifest::Image(_) => &[],
        }
    }
}

/// A label of an image config.
pub fn label<'a>(config: &'a ImageConfiguration, key: &str) -> Option<&'a str> {
    config
        .labels_of_config()
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

impl Client {
    /// GET a manifest, typed; `None` when it does not exist.
    pub async fn get_typed_manifest(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<Option<(Manifest, ManifestInfo, Bytes)>, RegistryError> {
        let Some((body, info)) = self.get_manifest(repo, reference).await? else {
            return Ok(None);
        };
        let m = Manifest::parse(&body).map_err(|e| RegistryError::Io {
            what: format!("manifest {repo}:{reference}"),
            cause: format!("not an image manifest or index: {e}"),
        })?;
        Ok(Some((m, info, body)))
    }

    /// An image config blob, typed (verified against its digest); `None` when the blob is
    /// not an image config (another artifact's).
    pub async fn get_config(
        &self,
        repo: &Repository,
        digest: &str,
    ) -> Result<Option<ImageConfiguration>, RegistryError> {
        let bytes = self.get_blob_bytes(repo, digest).await?;
        Ok(serde_json::from_slice(&bytes).ok())
    }

    /// What a tag holds and, for an image, its config. `None` when the tag does not
    /// exist; the config is `None` for an index or for manifests and configs that are not
    /// an image's (another artifact's under the same name), which hold no Slipway labels.
    pub async fn image_config(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<Option<(ManifestInfo, Option<ImageConfiguration>)>, RegistryError> {
        let Some((body, info)) = self.get_manifest(repo, reference).await? else {
            return Ok(None);
        };
        let Some(cfg) = Manifest::parse(&body)
            .ok()
            .and_then(|m| m.config().map(|c| c.digest().to_string()))
        else {
            return Ok(Some((info, None)));
        };
        Ok(Some((info, self.get_config(repo, &cfg).await?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn docker_and_oci_shapes_parse() {
        let docker = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
            "config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":7,"digest":"{D1}"}},
            "layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":9,"digest":"{D2}"}}]}}"#
        );
        let m = Manifest::parse(docker.as_bytes()).expect("docker manifest");
        assert_eq!(m.blobs(), vec![(D1.to_string(), 7), (D2.to_string(), 9)]);
        assert_eq!(
            m.config().map(|c| c.media_type().to_string()).as_deref(),
            Some("application/vnd.docker.container.image.v1+json")
        );
        let list = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":3,"digest":"{D1}",
            "platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#
        );
        let i = Manifest::parse(list.as_bytes()).expect("list");
        assert_eq!(i.children().len(), 1);
        assert!(i.config().is_none() && i.blobs().is_empty());
        assert!(Manifest::parse(br#"{"schemaVersion":1,"fsLayers":[]}"#).is_err());
    }

    #[test]
    fn docker_configs_read_as_oci() {
        let cfg: ImageConfiguration = serde_json::from_str(
            r#"{"architecture":"amd64","os":"linux","created":"2026-01-02T03:04:05.123456789Z",
            "container_config":{"Cmd":null},"docker_version":"20.10",
            "config":{"Env":["A=b"],"Cmd":null,"ExposedPorts":{"80/tcp":{}},"Labels":{"slipway.signature":"abc"}},
            "rootfs":{"type":"layers","diff_ids":["sha256:aa"]}}"#,
        )
        .expect("docker config");
        assert_eq!(label(&cfg, "slipway.signature"), Some("abc"));
        assert_eq!(label(&cfg, "other"), None);
        assert_eq!(cfg.rootfs().diff_ids(), &["sha256:aa".to_string()]);
    }
}
