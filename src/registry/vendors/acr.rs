//! Azure Container Registry: `DELETE /acr/v1/<repo>/_tags/<tag>` deletes one tag, with the
//! registry's own credentials.

use super::deleter::{Deleted, Deleter, delete_failed, registry_delete};
use crate::registry::reference::Repository;
use crate::registry::{Client, RegistryError};

pub struct Acr;

impl Deleter for Acr {
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
        let path = format!("/acr/v1/{}/_tags/{tag}", repo.path);
        match registry_delete(client, repo, &path).await? {
            s if (200..300).contains(&s) => Ok(Deleted::Tag),
            s => Err(delete_failed("ACR", path, s)),
        }
    }
}
