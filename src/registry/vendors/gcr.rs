//! Google Container Registry / Artifact Registry: delete the tag (`DELETE
//! /v2/<repo>/manifests/<tag>`), then, once no tag the plan deletes is left on it, the
//! manifest by digest (GCR keeps untagged images otherwise).

use super::deleter::{Deleted, Deleter, delete_failed, registry_delete};
use crate::registry::reference::Repository;
use crate::registry::{Client, RegistryError};

pub struct Gcr;

impl Deleter for Gcr {
    fn deletes_single_tags(&self) -> bool {
        true
    }
    async fn delete(
        &self,
        client: &Client,
        repo: &Repository,
        tag: &str,
        _digest: &str,
    ) -> Result<Deleted, RegistryError> {
        let path = format!("/v2/{}/manifests/{tag}", repo.path);
        match registry_delete(client, repo, &path).await? {
            s if (200..300).contains(&s) || s == 404 => Ok(Deleted::Tag),
            s => Err(delete_failed("GCR", path, s)),
        }
    }
    async fn after_digest(
        &self,
        client: &Client,
        repo: &Repository,
        digest: &str,
    ) -> Result<(), RegistryError> {
        client.delete_manifest(repo, digest).await
    }
}
