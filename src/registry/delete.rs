//! `DELETE /v2/NAME/manifests/DIGEST`: removes the manifest and every tag pointing at it.

use reqwest::{Method, StatusCode};

use super::client::{Client, scope};
use super::reference::Repository;
use super::transport::{RegistryError, Req};

impl Client {
    /// DELETE a manifest by digest; one that is already gone is fine.
    pub async fn delete_manifest(
        &self,
        repo: &Repository,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        let path = &repo.path;
        let req = Req::new(
            Method::DELETE,
            &repo.host,
            format!("/v2/{path}/manifests/{digest}"),
        )
        .scope(scope(path, "delete"));
        let resp = self.t.execute(req).await?;
        self.t
            .expect(
                resp,
                &[StatusCode::NOT_FOUND],
                &repo.host,
                path,
                "DELETE manifest",
            )
            .await
            // false: it was gone already (404), which is no failure for a delete.
            .map(|r| r.status() != StatusCode::NOT_FOUND)
    }
}
