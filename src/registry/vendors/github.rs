//! GitHub Packages (ghcr.io): the registry cannot delete; the REST API deletes a package
//! version (one manifest, with its tags): list the versions of the container package
//! (`/orgs/<owner>/…`, else `/users/<owner>/…`), find the one named by the digest, and
//! `DELETE …/versions/<id>`, with a token holding `delete:packages` (`--repo-github-token`).

use super::deleter::{Deleted, Deleter, VendorCredentials};
use crate::registry::reference::Repository;
use crate::registry::{Client, RegistryError};

pub struct GitHub<'a>(pub &'a VendorCredentials);

impl GitHub<'_> {
    fn unauthorized(&self, repo: &Repository, why: &str) -> RegistryError {
        RegistryError::Unauthorized {
            host: "api.github.com".into(),
            what: format!("deleting versions of {repo}"),
            source_desc: why.into(),
        }
    }
}

impl Deleter for GitHub<'_> {
    fn deletes_single_tags(&self) -> bool {
        false
    }
    async fn delete(
        &self,
        _client: &Client,
        repo: &Repository,
        _tag: &str,
        digest: &str,
    ) -> Result<Deleted, RegistryError> {
        let token = self.0.github_token.as_ref().ok_or_else(|| {
            self.unauthorized(repo, "GitHub deletes package versions through its REST API: pass --repo-github-token (a token with delete:packages)")
        })?;
        let (owner, package) = repo
            .path
            .split_once('/')
            .unwrap_or((repo.path.as_str(), ""));
        let package = package.replace('/', "%2F");
        let api = self.0.github_api.trim_end_matches('/');
        let http = reqwest::Client::builder()
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RegistryError::Io {
                what: "GitHub client".into(),
                cause: e.to_string(),
            })?;
        let get = |kind: &str| {
            http.get(format!(
                "{api}/{kind}/{owner}/packages/container/{package}/versions?per_page=100"
            ))
            .bearer_auth(token.expose())
            .header("Accept", "application/vnd.github+json")
            .send()
        };
        let mut base = format!("{api}/orgs/{owner}/packages/container/{package}/versions");
        let mut resp = get("orgs").await.map_err(|e| RegistryError::Unreachable {
            host: api.into(),
            cause: e.to_string(),
        })?;
        if resp.status().as_u16() == 404 {
            base = format!("{api}/users/{owner}/packages/container/{package}/versions");
            resp = get("users").await.map_err(|e| RegistryError::Unreachable {
                host: api.into(),
                cause: e.to_string(),
            })?;
        }
        if matches!(resp.status().as_u16(), 401 | 403) {
            return Err(self.unauthorized(
                repo,
                "the GitHub token needs read:packages and delete:packages",
            ));
        }
        let versions: serde_json::Value = resp.json().await.map_err(|e| RegistryError::Io {
            what: "GitHub package versions".into(),
            cause: e.to_string(),
        })?;
        let Some(id) = versions
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == digest)
            .and_then(|v| v["id"].as_u64())
        else {
            return Err(RegistryError::NameUnknown {
                host: "api.github.com".into(),
                repository: repo.path.clone(),
                hint: format!(": no package version {digest}"),
            });
        };
        let resp = http
            .delete(format!("{base}/{id}"))
            .bearer_auth(token.expose())
            .header("Accept", "application/vnd.github+json")
            .send()
            .await
            .map_err(|e| RegistryError::Unreachable {
                host: api.into(),
                cause: e.to_string(),
            })?;
        match resp.status().as_u16() {
            s if (200..300).contains(&s) => Ok(Deleted::Manifest),
            401 | 403 => Err(self.unauthorized(repo, "the GitHub token needs delete:packages")),
            s => Err(RegistryError::Status {
                method: "DELETE".into(),
                url: format!("{base}/{id}"),
                status: s,
                message: "GitHub package version delete failed".into(),
            }),
        }
    }
}
