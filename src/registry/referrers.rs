//! Referrers (signatures, SBOMs, attestations attached to a manifest): OCI 1.1's
//! `GET /v2/NAME/referrers/DIGEST`, else the referrers tag schema (an index tagged
//! `sha256-<hex>`), as ORAS and cosign fall back to.

use reqwest::header::ACCEPT;
use reqwest::{Method, StatusCode};

use super::client::{Client, header_str, scope};
use super::image::{Descriptor, ImageIndex};
use super::manifest::MEDIA_OCI_INDEX;
use super::reference::Repository;
use super::transport::error::{chain, io_err};
use super::transport::{RegistryError, Req};

/// Where a registry's referrers came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrersSource {
    /// The referrers API answered.
    Api,
    /// No API; the `sha256-<hex>` tag holds an index.
    TagSchema,
    /// Neither: nothing is known to refer to the manifest.
    None,
}

impl Client {
    /// The manifests that refer to `digest` in `repo`, and how they were found. A registry
    /// without the API and without the fallback tag has none.
    pub async fn referrers(
        &self,
        repo: &Repository,
        digest: &str,
    ) -> Result<(Vec<Descriptor>, ReferrersSource), RegistryError> {
        let path = &repo.path;
        let req = Req::new(
            Method::GET,
            &repo.host,
            format!("/v2/{path}/referrers/{digest}"),
        )
        .scope(scope(path, "pull"))
        .header(ACCEPT, MEDIA_OCI_INDEX);
        let resp = self.t.execute(req).await?;
        let is_index = header_str(resp.headers(), "content-type").starts_with(MEDIA_OCI_INDEX);
        // Registries without the API answer 404 (distribution 2.x), 400 or 405.
        if resp.status() == StatusCode::OK && is_index {
            let body = resp
                .bytes()
                .await
                .map_err(|e| io_err(format!("referrers of {repo}@{digest}"), chain(&e)))?;
            let index: ImageIndex =
                serde_json::from_slice(&body).map_err(|e| RegistryError::Io {
                    what: format!("referrers of {repo}@{digest}"),
                    cause: format!("not an OCI index: {e}"),
                })?;
            return Ok((index.manifests().clone(), ReferrersSource::Api));
        }
        let tag = digest.replacen(':', "-", 1);
        match self.get_typed_manifest(repo, &tag).await? {
            Some((m, _, _)) if !m.children().is_empty() => {
                Ok((m.children().to_vec(), ReferrersSource::TagSchema))
            }
            _ => Ok((Vec::new(), ReferrersSource::None)),
        }
    }
}
