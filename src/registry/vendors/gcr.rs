//! Google Container Registry / Artifact Registry: delete the tag (`DELETE
//! /v2/<repo>/manifests/<tag>`), then, once no tag the plan deletes is left on it, the
//! manifest by digest (GCR keeps untagged images otherwise).

use super::deleter::{Deleted, Deleter};
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
        let scopes = [format!("repository:{}:delete", repo.path)];
        let resp = client
            .send(&repo.host, &scopes, true, &|c, b| {
                c.delete(format!("{b}{path}"))
            })
            .await?;
        if resp.status().is_success() || resp.status().as_u16() == 404 {
            Ok(Deleted::Tag)
        } else {
            Err(RegistryError::Status {
                method: "DELETE".into(),
                url: path,
                status: resp.status().as_u16(),
                message: "GCR tag delete failed".into(),
            })
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
