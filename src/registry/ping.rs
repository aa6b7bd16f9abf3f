//! `GET /v2/`: the registry is reachable, its TLS trusted, the credentials accepted.

use super::client::Client;
use super::transport::{RegistryError, Req};
use reqwest::Method;

impl Client {
    pub async fn ping(&self, host: &str) -> Result<(), RegistryError> {
        let resp = self.t.execute(Req::new(Method::GET, host, "/v2/")).await?;
        self.t
            .expect(resp, &[], host, "", "GET /v2/")
            .await
            .map(drop)
    }
}
