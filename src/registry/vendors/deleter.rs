//! Shared pieces of the vendors' tag deletion. The Docker Registry API
//! can only delete a manifest by digest (every tag pointing at it goes too); these APIs
//! delete a single tag. Vendors whose API is not implemented use the manifest DELETE.

use futures::future::BoxFuture;

use super::Vendor;
use crate::registry::reference::Repository;
use crate::registry::transport::Req;
use crate::registry::{Client, RegistryError};
use reqwest::Method;

/// Credentials for vendor APIs that do not take registry credentials (werf's names:
/// `--repo-docker-hub-username/password/token`, `--repo-quay-token`).
#[derive(Clone, Default)]
pub struct VendorCredentials {
    pub docker_hub_username: Option<String>,
    pub docker_hub_password: Option<crate::secret::Secret>,
    pub docker_hub_token: Option<crate::secret::Secret>,
    pub quay_token: Option<crate::secret::Secret>,
    /// Docker Hub's API root (`https://hub.docker.com`; tests point it at a fake).
    pub docker_hub_api: String,
    /// GitHub token with `delete:packages` (`--repo-github-token`).
    pub github_token: Option<crate::secret::Secret>,
    /// GitHub's REST API root (`https://api.github.com`).
    pub github_api: String,
    /// AWS keys for ECR's API.
    pub aws: Option<super::ecr::AwsKeys>,
    /// ECR API endpoint override (default `https://api.ecr.<region>.amazonaws.com`).
    pub ecr_endpoint: Option<String>,
}

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
