//! Azure Container Registry: `DELETE /acr/v1/<repo>/_tags/<tag>` deletes one tag, with the
//! registry's own credentials.

use super::deleter::{Deleted, Deleter};
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
        let scopes = [format!("repository:{}:delete", repo.path)];
        let resp = client
            .send(&repo.host, &scopes, true, &|c, b| {
                c.delete(format!("{b}{path}"))
            })
            .await?;
        if resp.status().is_success() {
            Ok(Deleted::Tag)
        } else {
            Err(RegistryError::Status {
                method: "DELETE".into(),
                url: path,
                status: resp.status().as_u16(),
                message: "ACR tag delete failed".into(),
            })
        }
    }
}
