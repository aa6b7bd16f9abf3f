//! GitLab's container registry: `DELETE /v2/<repo>/tags/reference/<tag>` deletes one tag
//! (GitLab's extension of the Docker Registry API); older GitLab answers 404/405, then the
//! manifest is deleted by digest.

use reqwest::StatusCode;

use super::deleter::{Deleted, Deleter};
use crate::registry::reference::Repository;
use crate::registry::{Client, RegistryError};

pub struct GitLab;

impl Deleter for GitLab {
    fn deletes_single_tags(&self) -> bool {
        true
    }
    async fn delete(
        &self,
        client: &Client,
        repo: &Repository,
        tag: &str,
        digest: &str,
    ) -> Result<Deleted, RegistryError> {
        let path = format!("/v2/{}/tags/reference/{tag}", repo.path);
        let scopes = [format!("repository:{}:delete", repo.path)];
        let resp = client
            .send(&repo.host, &scopes, true, &|c, b| {
                c.delete(format!("{b}{path}"))
            })
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(Deleted::Tag),
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => {
                client.delete_manifest(repo, digest).await?;
                Ok(Deleted::Manifest)
            }
            s => Err(RegistryError::Status {
                method: "DELETE".into(),
                url: path,
                status: s.as_u16(),
                message: "GitLab tag delete failed".into(),
            }),
        }
    }
}
