//! Docker Hub: the registry cannot delete; the Hub API can. Log in at
//! `POST /v2/users/login/` with username and password (or use a given token), then
//! `DELETE /v2/repositories/<ns>/<repo>/tags/<tag>/` with `Authorization: JWT <token>`.

use super::deleter::{Deleted, Deleter, VendorCredentials};
use crate::registry::reference::Repository;
use crate::registry::{Client, RegistryError};

pub struct DockerHub<'a> {
    pub creds: &'a VendorCredentials,
    token: tokio::sync::OnceCell<String>,
}

impl<'a> DockerHub<'a> {
    pub fn new(creds: &'a VendorCredentials) -> Self {
        DockerHub {
            creds,
            token: tokio::sync::OnceCell::new(),
        }
    }

    fn unauthorized(&self, repo: &Repository, why: &str) -> RegistryError {
        RegistryError::Unauthorized {
            host: "hub.docker.com".into(),
            what: format!("deleting tags of {repo}"),
            source_desc: why.to_string(),
        }
    }

    async fn token(&self, repo: &Repository) -> Result<String, RegistryError> {
        self.token
            .get_or_try_init(|| async {
                if let Some(t) = &self.creds.docker_hub_token {
                    return Ok(t.expose().to_string());
                }
                let (Some(u), Some(p)) = (&self.creds.docker_hub_username, &self.creds.docker_hub_password) else {
                    return Err(self.unauthorized(repo, "Docker Hub deletes tags through hub.docker.com, which needs --repo-docker-hub-username and --repo-docker-hub-password (or --repo-docker-hub-token)"));
                };
                let url = format!("{}/v2/users/login/", self.creds.docker_hub_api.trim_end_matches('/'));
                let resp = reqwest::Client::new()
                    .post(&url)
                    .json(&serde_json::json!({"username": u, "password": p.expose()}))
                    .send()
                    .await
                    .map_err(|e| RegistryError::Unreachable { host: url.clone(), cause: e.to_string() })?;
                if !resp.status().is_success() {
                    return Err(self.unauthorized(repo, "hub.docker.com refused the login (a personal access token works as the password)"));
                }
                let v: serde_json::Value = resp.json().await.map_err(|e| RegistryError::Io { what: "Docker Hub login answer".into(), cause: e.to_string() })?;
                v["token"].as_str().map(str::to_string).ok_or_else(|| self.unauthorized(repo, "hub.docker.com gave no token"))
            })
            .await
            .cloned()
    }
}

impl Deleter for DockerHub<'_> {
    fn deletes_single_tags(&self) -> bool {
        true
    }
    async fn delete(
        &self,
        _client: &Client,
        repo: &Repository,
        tag: &str,
        _digest: &str,
    ) -> Result<Deleted, RegistryError> {
        let token = self.token(repo).await?;
        let url = format!(
            "{}/v2/repositories/{}/tags/{tag}/",
            self.creds.docker_hub_api.trim_end_matches('/'),
            repo.path
        );
        let resp = reqwest::Client::new()
            .delete(&url)
            .header("Authorization", format!("JWT {token}"))
            .send()
            .await
            .map_err(|e| RegistryError::Unreachable {
                host: url.clone(),
                cause: e.to_string(),
            })?;
        match resp.status().as_u16() {
            s if (200..300).contains(&s) => Ok(Deleted::Tag),
            401 | 403 => Err(self.unauthorized(
                repo,
                "the Docker Hub account may not delete in this repository",
            )),
            s => Err(RegistryError::Status {
                method: "DELETE".into(),
                url,
                status: s,
                message: "Docker Hub tag delete failed".into(),
            }),
        }
    }
}
