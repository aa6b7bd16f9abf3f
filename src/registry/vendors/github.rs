//! GitHub Packages (ghcr.io): the registry cannot delete; the REST API deletes a package
//! version (one manifest, with its tags): list the versions of the container package
//! (`/orgs/<owner>/…`, else `/users/<owner>/…`), find the one named by the digest, and
//! `DELETE …/versions/<id>`, with a token holding `delete:packages` (`--repo-github-token`).

use futures::future::BoxFuture;

use super::default::Deleted;
use super::{Implementation, Info, Vendor};
use crate::registry::credentials::VendorCredentials;
use crate::registry::reference::Repository;
use crate::registry::transport::Req;
use crate::registry::{Client, RegistryError};
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION};

pub const INFO: Info = Info {
    kind: Implementation::GitHub,
    name: "github",
    aliases: &["github-packages", "ghcr"],
    detect: |host| host == "ghcr.io" || host == "docker.pkg.github.com",
    make: |creds| Box::new(GitHub(creds)),
};

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

impl Vendor for GitHub<'_> {
    fn max_depth(&self, host: &str) -> Option<usize> {
        // The old docker.pkg.github.com holds OWNER/REPO/IMAGE; ghcr.io any depth.
        (host == "docker.pkg.github.com").then_some(3)
    }
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
            let token = self.0.github_token.as_ref().ok_or_else(|| {
                self.unauthorized(repo, "GitHub deletes package versions through its REST API: pass --repo-github-token (a token with delete:packages)")
            })?;
            let (owner, package) = repo
                .path
                .split_once('/')
                .unwrap_or((repo.path.as_str(), ""));
            let package = package.replace('/', "%2F");
            let api = self.0.github_api.trim_end_matches('/');
            let bearer = format!("Bearer {}", token.expose());
            let ask = |method: Method, url: String| {
                Req::api(method, &url)
                    .header(AUTHORIZATION, &bearer)
                    .header(ACCEPT, "application/vnd.github+json")
            };
            let list = |kind: &str| {
                ask(
                    Method::GET,
                    format!(
                        "{api}/{kind}/{owner}/packages/container/{package}/versions?per_page=100"
                    ),
                )
            };
            let mut base = format!("{api}/orgs/{owner}/packages/container/{package}/versions");
            let mut resp = client.t.execute(list("orgs")).await?;
            if resp.status().as_u16() == 404 {
                base = format!("{api}/users/{owner}/packages/container/{package}/versions");
                resp = client.t.execute(list("users")).await?;
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
            let resp = client
                .t
                .execute(ask(Method::DELETE, format!("{base}/{id}")))
                .await?;
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
        })
    }
}
