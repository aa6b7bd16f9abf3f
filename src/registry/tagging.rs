//! Tagging: a manifest PUT by digest or under each tag, then every tag checked to resolve
//! to it (another push may have moved one meanwhile); retagging an existing manifest.

use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};

use super::blob_source::sha256_digest;
use super::client::Client;
use super::manifest::MEDIA_DOCKER_MANIFEST;
use super::reference::Repository;
use super::transport::RegistryError;

impl Client {
    /// PUT a manifest by digest (no tags) or under each tag, then check every tag resolves
    /// to it. Returns the digest.
    pub async fn tag_manifest(
        &self,
        repo: &Repository,
        tags: &[String],
        media_type: &str,
        body: Bytes,
    ) -> Result<String, RegistryError> {
        let digest = sha256_digest(&body);
        if tags.is_empty() {
            self.put_manifest(repo, &digest, media_type, body).await?;
            return Ok(digest);
        }
        for tag in tags {
            self.put_manifest(repo, tag, media_type, body.clone())
                .await?;
        }
        self.verify_tags(repo, tags, &digest).await?;
        Ok(digest)
    }

    /// Every tag resolves to `digest` (manifest HEAD); else `TagMoved`.
    pub async fn verify_tags(
        &self,
        repo: &Repository,
        tags: &[String],
        digest: &str,
    ) -> Result<(), RegistryError> {
        let answers: Vec<(String, Option<String>)> = stream::iter(tags.iter().cloned())
            .map(|t| async move {
                let got = self.head_manifest(repo, &t).await?.map(|i| i.digest);
                Ok::<_, RegistryError>((t, got))
            })
            .buffer_unordered(8)
            .try_collect()
            .await?;
        for (t, got) in answers {
            let got = got.unwrap_or_else(|| "nothing".to_string());
            if got != digest {
                return Err(RegistryError::TagMoved {
                    reference: format!("{repo}:{t}"),
                    expected: digest.to_string(),
                    actual: got,
                });
            }
        }
        Ok(())
    }

    /// Copy an existing manifest (by digest) to more tags: no blob moves.
    pub async fn retag(
        &self,
        repo: &Repository,
        digest: &str,
        tags: &[String],
    ) -> Result<String, RegistryError> {
        let Some((body, info)) = self.get_manifest(repo, digest).await? else {
            return Err(RegistryError::TagMoved {
                reference: format!("{repo}@{digest}"),
                expected: digest.to_string(),
                actual: "nothing".to_string(),
            });
        };
        let media_type = if info.media_type.is_empty() {
            MEDIA_DOCKER_MANIFEST.to_string()
        } else {
            info.media_type
        };
        self.tag_manifest(repo, tags, &media_type, body).await
    }
}
