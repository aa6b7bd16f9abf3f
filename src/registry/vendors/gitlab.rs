//! GitLab's container registry: `DELETE /v2/<repo>/tags/reference/<tag>` deletes one tag
//! (GitLab's extension of the Docker Registry API); older GitLab answers 404/405, then the
//! manifest is deleted by digest.

use futures::future::BoxFuture;

use super::default::{Deleted, delete_failed, registry_delete};
use super::{Implementation, Info, Vendor};
use crate::registry::reference::Repository;
use crate::registry::{Client, RegistryError};

pub const INFO: Info = Info {
    kind: Implementation::GitLab,
    name: "gitlab",
    aliases: &[],
    detect: |host| host == "registry.gitlab.com",
    make: |_| Box::new(GitLab),
};

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
