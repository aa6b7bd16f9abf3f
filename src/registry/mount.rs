//! Cross-repository blob mount (`POST …/blobs/uploads/?mount=DIGEST&from=NAME`).

use reqwest::Method;

use super::client::{Client, scope};
use super::reference::Repository;
use super::transport::{RegistryError, Req};

impl Client {
    /// Mount `digest` from another repository of the same registry. `false` when the
    /// registry did not mount it (the caller uploads instead).
    pub async fn mount_blob(
        &self,
        repo: &Repository,
        digest: &str,
        from: &str,
    ) -> Result<bool, RegistryError> {
        match self.start_upload(repo, Some((digest, from))).await? {
            None => Ok(true),
            Some(url) => {
                // Cancel the session the registry opened instead of mounting.
                let req =
                    Req::new(Method::DELETE, &repo.host, url).scope(scope(&repo.path, "pull,push"));
                let _ = self.t.execute(req).await;
                Ok(false)
            }
        }
    }
}
