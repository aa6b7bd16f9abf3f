//! Quay: `DELETE /api/v1/repository/<ns>/<repo>/tag/<tag>` with an OAuth token
//! (`--repo-quay-token`, werf: WERF_REPO_QUAY_TOKEN) as a Bearer header.

use futures::future::BoxFuture;

use super::default::Deleted;
use super::{Implementation, Info, Vendor};
use crate::registry::credentials::VendorCredentials;
use crate::registry::reference::Repository;
use crate::registry::transport::Req;
use crate::registry::{Client, RegistryError};
use reqwest::Method;
use reqwest::header::AUTHORIZATION;

pub const INFO: Info = Info {
    kind: Implementation::Quay,
    name: "quay",
    aliases: &[],
    detect: |host| host == "quay.io" || (host.starts_with("quay.") && host.ends_with(".com")),
    make: |creds| Box::new(Quay(creds)),
};

pub struct Quay<'a>(pub &'a VendorCredentials);

impl Vendor for Quay<'_> {
    fn max_depth(&self, _host: &str) -> Option<usize> {
        Some(2)
    }
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
            let token = self.0.quay_token.as_ref().ok_or_else(|| RegistryError::Unauthorized {
                host: repo.host.clone(),
                what: format!("deleting {repo}:{tag}"),
                source_desc: "Quay deletes tags through its API, which needs an OAuth token with repo:admin scope: pass --repo-quay-token (WERF_REPO_QUAY_TOKEN)".into(),
            })?;
            let path = format!("/api/v1/repository/{}/tag/{tag}", repo.path);
            let auth = format!("Bearer {}", token.expose());
            // The token is Quay's, not the registry's: no registry auth on this request.
            let mut req =
                Req::new(Method::DELETE, &repo.host, path.clone()).header(AUTHORIZATION, &auth);
            req.registry_auth = false;
            let resp = client.t.execute(req).await?;
            match resp.status().as_u16() {
                s if (200..300).contains(&s) => Ok(Deleted::Tag),
                401 | 403 => Err(RegistryError::Unauthorized {
                    host: repo.host.clone(),
                    what: format!("deleting {repo}:{tag}"),
                    source_desc: "the Quay token lacks repo:admin scope".into(),
                }),
                s => Err(RegistryError::Status {
                    method: "DELETE".into(),
                    url: path,
                    status: s,
                    message: "Quay tag delete failed".into(),
                }),
            }
        })
    }
}
