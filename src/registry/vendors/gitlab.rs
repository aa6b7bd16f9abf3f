//! GitLab's container registry: `DELETE /v2/<repo>/tags/reference/<tag>` deletes one tag
//! (GitLab's extension of the Docker Registry API); older GitLab answers 404/405, then the
//! manifest is deleted by digest.

use futures::future::BoxFuture;

use super::Vendor;
use super::deleter::{Deleted, delete_failed, registry_delete};
use crate::registry::reference::Repository;
use crate::registry::{Client, RegistryError};

pub struct GitLab;

impl Vendor for GitLab {
    fn deletes_single_tags(&self) -> bool {
        true
    }
    fn delete<'a>(
        &'a self,
        client: &'a Client,
        repo: &'a Repository,
        tag: &'a str,
        digest: &'a str,
    ) -> BoxFuture<'a, Result<Deleted, RegistryError>> {
        Box::pin(async move {
            let path = format!("/v2/{}/tags/reference/{tag}", repo.path);
            match registry_delete(client, repo, &path).await? {
                s if (200..300).contains(&s) => Ok(Deleted::Tag),
                404 | 405 => Ok(Deleted::manifest(
                    client.delete_manifest(repo, digest).await?,
                )),
                s => Err(delete_failed("GitLab", path, s)),
            }
        })
    }
}
