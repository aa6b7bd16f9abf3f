//! Azure Container Registry: `DELETE /acr/v1/<repo>/_tags/<tag>` deletes one tag, with the
//! registry's own credentials.

use futures::future::BoxFuture;

use super::default::{Deleted, delete_failed, registry_delete};
use super::{Implementation, Info, Vendor};
use crate::registry::reference::Repository;
use crate::registry::{Client, RegistryError};

pub const INFO: Info = Info {
    kind: Implementation::Acr,
    name: "acr",
    aliases: &[],
    detect: |host| host.ends_with(".azurecr.io"),
    make: |_| Box::new(Acr),
};

pub struct Acr;

impl Vendor for Acr {
    fn deletes_single_tags(&self) -> bool {
        true
    }
    fn delete<'a>(
        &'a self,
        client: &'a Client,
        repo: &'a Repository,
        tag: &'a str,
        _digest: &'a str,
    ) -> BoxFuture<'a, Result<Deleted, RegistryError>> {
        Box::pin(async move {
            let path = format!("/acr/v1/{}/_tags/{tag}", repo.path);
            match registry_delete(client, repo, &path).await? {
                s if (200..300).contains(&s) => Ok(Deleted::Tag),
                s => Err(delete_failed("ACR", path, s)),
            }
        })
    }
}
