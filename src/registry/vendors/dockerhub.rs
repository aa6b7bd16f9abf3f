//! Docker Hub: the registry cannot delete; the Hub API can. Log in at
//! `POST /v2/users/login/` with username and password (or use a given token), then
//! `DELETE /v2/repositories/<ns>/<repo>/tags/<tag>/` with `Authorization: JWT <token>`.

use futures::future::BoxFuture;

use super::default::Deleted;
use super::{Implementation, Info, Vendor};
use crate::registry::credentials::VendorCredentials;
use crate::registry::reference::Repository;
use crate::registry::transport::{Body, Req};
use crate::registry::{Client, RegistryError};
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};

pub const INFO: Info = Info {
    kind: Implementation::DockerHub,
    name: "dockerhub",
    aliases: &["docker-hub", "docker_hub", "hub"],
    detect: |host| {
        matches!(
            host,
            "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com"
        )
    },
    make: |creds| Box::new(DockerHub::new(creds)),
};

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

    async fn token(&self, client: &Client, repo: &Repository) -> Result<String, RegistryError> {
        self.token
            .get_or_try_init(|| async {
                if let Some(t) = &self.creds.docker_hub_token {
                    return Ok(t.expose().to_string());
                }
                let (Some(u), Some(p)) = (&self.creds.docker_hub_username, &self.creds.docker_hub_password) else {
                    return Err(self.unauthorized(repo, "Docker Hub deletes tags through hub.docker.com, which needs --repo-docker-hub-username and --repo-docker-hub-password (or --repo-docker-hub-token)"));
                };
                let url = format!("{}/v2/users/login/", self.creds.docker_hub_api.trim_end_matches('/'));
                let login = serde_json::json!({"username": u, "password": p.expose()});
                let req = Req::api(Method::POST, &url)
                    .header(CONTENT_TYPE, "application/json")
                    .body(Body::Bytes(login.to_string().into()));
                let resp = client.t.execute(req).await?;
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

impl Vendor for DockerHub<'_> {
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
            let token = self.token(client, repo).await?;
            let url = format!(
                "{}/v2/repositories/{}/tags/{tag}/",
                self.creds.docker_hub_api.trim_end_matches('/'),
                repo.path
            );
            let req = Req::api(Method::DELETE, &url).header(AUTHORIZATION, &format!("JWT {token}"));
            let resp = client.t.execute(req).await?;
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
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::{delete, post};

    use super::*;
    use crate::registry::{RegistryOptions, Retry};

    /// The Hub API goes through the registry transport: a 503 on the DELETE is retried.
    #[tokio::test]
    async fn hub_api_requests_use_the_retry_policy() {
        let deletes = Arc::new(AtomicUsize::new(0));
        let seen = deletes.clone();
        let app = axum::Router::new()
            .route("/v2/users/login/", post(|| async { r#"{"token":"jwt"}"# }))
            .route(
                "/v2/repositories/ns/app/tags/{tag}/",
                delete(move |h: HeaderMap| {
                    let n = seen.fetch_add(1, Ordering::SeqCst);
                    async move {
                        let auth = h.get("authorization").and_then(|v| v.to_str().ok());
                        if auth != Some("JWT jwt") {
                            StatusCode::UNAUTHORIZED.into_response()
                        } else if n == 0 {
                            (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "0")])
                                .into_response()
                        } else {
                            StatusCode::ACCEPTED.into_response()
                        }
                    }
                }),
            );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(l, app).await });
        let creds = VendorCredentials {
            docker_hub_username: Some("u".into()),
            docker_hub_password: Some(crate::secret::Secret("p".into())),
            docker_hub_api: format!("http://{addr}"),
            ..VendorCredentials::default()
        };
        let client = Client::new(RegistryOptions {
            retry: Retry::with_attempts(3),
            ..RegistryOptions::default()
        });
        let repo = Repository::parse("docker.io/ns/app").expect("repo");
        let hub = DockerHub::new(&creds);
        let d = hub.delete(&client, &repo, "old", "sha256:x").await;
        assert_eq!(d.expect("deleted"), Deleted::Tag);
        assert_eq!(deletes.load(Ordering::SeqCst), 2);
    }
}
