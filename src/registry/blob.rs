//! Blobs: existence (HEAD), a byte stream (GET) and small blobs whole, digest-checked.

use std::pin::Pin;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use reqwest::{Method, StatusCode};

use super::blob_source::sha256_digest;
use super::client::{Client, scope};
use super::reference::Repository;
use super::transport::error::{chain, io_err};
use super::transport::{RegistryError, Req};

/// A blob's bytes as they arrive.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, RegistryError>> + Send>>;

impl Client {
    /// Does the repository hold this blob?
    pub async fn blob_exists(
        &self,
        repo: &Repository,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        let path = &repo.path;
        let req = Req::new(
            Method::HEAD,
            &repo.host,
            format!("/v2/{path}/blobs/{digest}"),
        )
        .scope(scope(path, "pull"));
        let resp = self.t.execute(req).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        self.t
            .expect(resp, &[], &repo.host, path, "HEAD blob")
            .await
            .map(|_| true)
    }

    /// The answer to a blob GET, once it is known to be the blob.
    async fn blob_response(
        &self,
        repo: &Repository,
        digest: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        let path = &repo.path;
        let req = Req::new(
            Method::GET,
            &repo.host,
            format!("/v2/{path}/blobs/{digest}"),
        )
        .scope(scope(path, "pull"));
        let resp = self.t.execute(req).await?;
        self.t.expect(resp, &[], &repo.host, path, "GET blob").await
    }

    /// GET a blob as a stream of its bytes (not verified: the caller hashes them).
    pub async fn get_blob(
        &self,
        repo: &Repository,
        digest: &str,
    ) -> Result<ByteStream, RegistryError> {
        let resp = self.blob_response(repo, digest).await?;
        let what = format!("blob {repo}@{digest}");
        Ok(Box::pin(resp.bytes_stream().map(move |c| {
            c.map_err(|e| io_err(format!("downloading {what}"), chain(&e)))
        })))
    }

    /// GET a small blob (a config) whole, verified against its digest.
    pub async fn get_blob_bytes(
        &self,
        repo: &Repository,
        digest: &str,
    ) -> Result<Bytes, RegistryError> {
        let resp = self.blob_response(repo, digest).await?;
        let body = resp
            .bytes()
            .await
            .map_err(|e| io_err(format!("blob {repo}@{digest}"), chain(&e)))?;
        let got = sha256_digest(&body);
        if got != digest {
            return Err(RegistryError::DigestMismatch {
                what: format!("blob {repo}@{digest}"),
                expected: digest.into(),
                actual: got,
            });
        }
        Ok(body)
    }
}
