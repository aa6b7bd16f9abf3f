//! Manifests: HEAD, GET (verified against a digest reference) and PUT under a tag or
//! digest (the registry's digest checked against ours).

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, Response, StatusCode};

use super::blob_source::sha256_digest;
use super::client::{Client, header_str, scope};
use super::reference::Repository;
use super::transport::error::{chain, io_err};
use super::transport::{Attempts, Body, RegistryError, Req, Retry};

pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const ACCEPT_MANIFESTS: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// What a manifest HEAD/GET told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestInfo {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
}

/// Manifest PUTs answered "blob unknown" before giving up (see `put_manifest`).
const BLOB_UNKNOWN_ATTEMPTS: u32 = 4;

impl Client {
    /// HEAD or GET a manifest, accepting every manifest type; `None` on 404.
    async fn manifest_request(
        &self,
        repo: &Repository,
        reference: &str,
        method: Method,
    ) -> Result<Option<Response>, RegistryError> {
        let path = &repo.path;
        let what = format!("{method} manifest");
        let req = Req::new(
            method,
            &repo.host,
            format!("/v2/{path}/manifests/{reference}"),
        )
        .scope(scope(path, "pull"))
        .header(ACCEPT, ACCEPT_MANIFESTS);
        let resp = self.t.execute(req).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(
            self.t.expect(resp, &[], &repo.host, path, &what).await?,
        ))
    }

    /// HEAD a manifest; `None` when the tag/digest does not exist.
    pub async fn head_manifest(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<Option<ManifestInfo>, RegistryError> {
        let Some(resp) = self.manifest_request(repo, reference, Method::HEAD).await? else {
            return Ok(None);
        };
        let h = resp.headers();
        let digest = header_str(h, "docker-content-digest");
        let media_type = header_str(h, "content-type");
        let size = header_str(h, "content-length").parse().unwrap_or(0);
        match digest {
            d if !d.is_empty() => Ok(Some(ManifestInfo {
                digest: d,
                media_type,
                size,
            })),
            // Some registries omit the digest on HEAD: fetch the body to compute it.
            _ => Ok(self.get_manifest(repo, reference).await?.map(|(_, i)| i)),
        }
    }

    /// GET a manifest's bytes; `None` when it does not exist.
    pub async fn get_manifest(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<Option<(Bytes, ManifestInfo)>, RegistryError> {
        let Some(resp) = self.manifest_request(repo, reference, Method::GET).await? else {
            return Ok(None);
        };
        let media_type = header_str(resp.headers(), "content-type");
        let body = resp
            .bytes()
            .await
            .map_err(|e| io_err(format!("manifest {repo}:{reference}"), chain(&e)))?;
        let digest = sha256_digest(&body);
        if reference.starts_with("sha256:") && reference != digest {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest {repo}@{reference}"),
                expected: reference.to_string(),
                actual: digest,
            });
        }
        let size = body.len() as u64;
        Ok(Some((
            body,
            ManifestInfo {
                digest,
                media_type,
                size,
            },
        )))
    }

    /// PUT a manifest under a tag or its digest; returns the digest the registry reports.
    pub async fn put_manifest(
        &self,
        repo: &Repository,
        reference: &str,
        media_type: &str,
        body: Bytes,
    ) -> Result<String, RegistryError> {
        // A manifest is PUT only once its blobs are in place, so "blob unknown" is the
        // registry not showing one yet: distribution's filesystem driver rewrites a blob's
        // link in place while another client uploads the same blob (seen here with two
        // runners publishing at once), and S3-backed registries are eventually consistent.
        // The PUT is idempotent: asked again a few times, a little later.
        let policy = self.t.options().retry;
        let mut attempts = Attempts::new(Retry {
            attempts: policy.attempts.min(BLOB_UNKNOWN_ATTEMPTS),
            ..policy
        });
        loop {
            let attempt = attempts.begin();
            match self
                .put_manifest_once(repo, reference, media_type, body.clone())
                .await
            {
                Err(
                    e @ RegistryError::Status {
                        status: 400 | 404, ..
                    },
                ) if e.to_string().contains("BLOB_UNKNOWN") => {
                    match attempts.next(true, std::time::Duration::ZERO, false, None) {
                        Some(wait) => {
                            tracing::debug!(%repo, reference, attempt, "registry does not show a blob of the manifest yet; asking again");
                            tokio::time::sleep(wait).await;
                        }
                        None => return Err(e),
                    }
                }
                other => return other,
            }
        }
    }

    async fn put_manifest_once(
        &self,
        repo: &Repository,
        reference: &str,
        media_type: &str,
        body: Bytes,
    ) -> Result<String, RegistryError> {
        let path = &repo.path;
        let expected = sha256_digest(&body);
        let req = Req::new(
            Method::PUT,
            &repo.host,
            format!("/v2/{path}/manifests/{reference}"),
        )
        .scope(scope(path, "pull,push"))
        .header(CONTENT_TYPE, media_type)
        .body(Body::Bytes(body));
        let resp = self.t.execute(req).await?;
        let resp = match self
            .t
            .expect(resp, &[], &repo.host, path, "PUT manifest")
            .await
        {
            Ok(r) => r,
            Err(RegistryError::TagImmutable { message, .. }) => {
                return Err(RegistryError::TagImmutable {
                    reference: format!("{repo}:{reference}"),
                    message,
                });
            }
            Err(e) => return Err(e),
        };
        let got = header_str(resp.headers(), "docker-content-digest");
        if !got.is_empty() && got != expected {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest {repo}:{reference}"),
                expected,
                actual: got,
            });
        }
        Ok(expected)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    use super::*;
    use crate::registry::RegistryOptions;

    /// A registry whose manifest PUTs answer "blob unknown" `unknown_for` times, then 201.
    async fn registry(unknown_for: usize) -> (String, Arc<AtomicUsize>) {
        let puts = Arc::new(AtomicUsize::new(0));
        let seen = puts.clone();
        let app = axum::Router::new()
            .route("/v2/", axum::routing::get(|| async { "{}" }))
            .route(
                "/v2/{*rest}",
                axum::routing::put(move || {
                    let puts = puts.clone();
                    async move {
                        if puts.fetch_add(1, Ordering::SeqCst) < unknown_for {
                            (
                                StatusCode::BAD_REQUEST,
                                [("content-type", "application/json")],
                                r#"{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#,
                            )
                                .into_response()
                        } else {
                            StatusCode::CREATED.into_response()
                        }
                    }
                }),
            );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        tokio::spawn(async move { axum::serve(l, app).await });
        (addr, seen)
    }

    fn client() -> Client {
        Client::new(RegistryOptions {
            certs_dir: std::path::PathBuf::from("/nonexistent"),
            ..RegistryOptions::default()
        })
    }

    #[tokio::test]
    async fn a_manifest_is_put_again_while_the_registry_does_not_show_its_blob() {
        let (host, puts) = registry(2).await;
        let repo = Repository::parse(&format!("{host}/a/b")).expect("repo");
        let body = Bytes::from_static(b"{}");
        let digest = client()
            .put_manifest(&repo, "v1", MEDIA_OCI_MANIFEST, body.clone())
            .await
            .expect("put on the third try");
        assert_eq!(digest, sha256_digest(&body));
        assert_eq!(puts.load(Ordering::SeqCst), 3);

        // A blob that never shows: the registry's answer, after four tries.
        let (host, puts) = registry(usize::MAX).await;
        let repo = Repository::parse(&format!("{host}/a/b")).expect("repo");
        let err = client()
            .put_manifest(&repo, "v1", MEDIA_OCI_MANIFEST, body)
            .await
            .expect_err("never there");
        assert!(err.to_string().contains("MANIFEST_BLOB_UNKNOWN"), "{err}");
        assert_eq!(puts.load(Ordering::SeqCst), 4);
    }
}
