//! Google Container Registry / Artifact Registry: delete the tag (`DELETE
//! /v2/<repo>/manifests/<tag>`), then, once no tag the plan deletes is left on it, the
//! manifest by digest (GCR keeps untagged images otherwise).

use futures::future::BoxFuture;

use super::default::{Deleted, delete_failed, registry_delete};
use super::{Implementation, Info, Vendor};
use crate::registry::reference::Repository;
use crate::registry::{Client, RegistryError};

pub const INFO: Info = Info {
    kind: Implementation::Gcr,
    name: "gcr",
    aliases: &["artifact-registry", "gar"],
    detect: |host| {
        host == "gcr.io" || host.ends_with(".gcr.io") || host.ends_with("-docker.pkg.dev")
    },
    make: |_| Box::new(Gcr),
};

pub struct Gcr;

impl Vendor for Gcr {
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
            let path = format!("/v2/{}/manifests/{tag}", repo.path);
            match registry_delete(client, repo, &path).await? {
                s if (200..300).contains(&s) || s == 404 => Ok(Deleted::Tag),
                s => Err(delete_failed("GCR", path, s)),
            }
        })
    }
    fn after_digest<'a>(
        &'a self,
        client: &'a Client,
        repo: &'a Repository,
        digest: &'a str,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(async move { client.delete_manifest(repo, digest).await.map(drop) })
    }
}
