//! The default implementation (distribution and any registry without a vendor API of its
//! own) and the pieces of tag deletion the vendors share. The Docker Registry API can only
//! delete a manifest by digest (every tag pointing at it goes too); the vendors' APIs
//! delete a single tag. Vendors whose API is not implemented use the manifest DELETE.

use futures::future::BoxFuture;

use super::{Implementation, Info, Vendor};
use crate::registry::reference::Repository;
use crate::registry::transport::Req;
use crate::registry::{Client, RegistryError};
use reqwest::Method;

pub const INFO: Info = Info {
    kind: Implementation::Default,
    name: "default",
    aliases: &[],
    // Whatever no vendor claims.
    detect: |_| false,
    make: |_| Box::new(ManifestDelete),
};

/// What a deletion removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// Only this tag.
    Tag,
    /// The manifest, with every tag pointing at it.
    Manifest,
    /// Nothing: the manifest was gone already (another tag's delete took it).
    Gone,
}

impl Deleted {
    /// A manifest DELETE's outcome: deleted, or gone already.
    pub fn manifest(deleted: bool) -> Deleted {
        if deleted {
            Deleted::Manifest
        } else {
            Deleted::Gone
        }
    }
}

/// The Docker Registry API: manifest DELETE by digest (distribution, Harbor, and the rest).
pub struct ManifestDelete;

impl Vendor for ManifestDelete {
    fn deletes_single_tags(&self) -> bool {
        false
    }
    fn delete<'a>(
        &'a self,
        client: &'a Client,
        repo: &'a Repository,
        _tag: &'a str,
        digest: &'a str,
    ) -> BoxFuture<'a, Result<Deleted, RegistryError>> {
        Box::pin(async move {
            Ok(Deleted::manifest(
                client.delete_manifest(repo, digest).await?,
            ))
        })
    }
}

/// `DELETE <path>` on the registry host with the repository's delete scope; returns the
/// status. Shared by the vendors whose delete API lives on the registry itself.
pub async fn registry_delete(
    client: &Client,
    repo: &Repository,
    path: &str,
) -> Result<u16, RegistryError> {
    let req = Req::new(Method::DELETE, &repo.host, path)
        .scope(format!("repository:{}:delete", repo.path));
    Ok(client.t.execute(req).await?.status().as_u16())
}

/// The error for a vendor delete that answered `status`.
pub fn delete_failed(vendor: &str, path: String, status: u16) -> RegistryError {
    RegistryError::Status {
        method: "DELETE".into(),
        url: path,
        status,
        message: format!("{vendor} tag delete failed"),
    }
}
