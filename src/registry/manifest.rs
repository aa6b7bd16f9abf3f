//! Manifests: HEAD, GET (verified against a digest reference) and PUT under a tag or
//! digest (the registry's digest checked against ours).

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, Response, StatusCode};

use super::blob_source::sha256_digest;
use super::client::{Client, header_str, scope};
use super::reference::Repository;
use super::transport::error::{chain, io_err};
use super::transport::{Body, RegistryError, Req};

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
