//! The registry's repository list (`GET /v2/_catalog`), paginated as tags are.

use super::client::Client;
use super::transport::RegistryError;

impl Client {
    /// Every repository of `host` the credentials may see (registries that do not offer a
    /// catalog answer an error).
    pub async fn catalog(&self, host: &str) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            repositories: Option<Vec<String>>,
        }
        let first = "/v2/_catalog?n=1000".to_string();
        let pages: Vec<Page> = self
            .pages(
                host,
                "",
                first,
                Some("registry:catalog:*".into()),
                "GET catalog",
            )
            .await?;
        Ok(pages
            .into_iter()
            .flat_map(|p| p.repositories.unwrap_or_default())
            .collect())
    }
}
