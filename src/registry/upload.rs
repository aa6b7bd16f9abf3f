//! Blob uploads (distribution spec "Pushing blobs"): open a session (POST), send the bytes
//! in one PUT, in chunks (PATCH with `Content-Range`) or as one streamed PATCH, then close
//! it with the digest. Requests inside a session are not repeated one by one; a failed
//! upload is restarted whole under the transport's one retry policy.

use reqwest::header::{CONTENT_RANGE, CONTENT_TYPE};
use reqwest::{Method, StatusCode};

use super::blob_source::BlobSource;
use super::client::{Client, header_str, scope};
use super::reference::Repository;
use super::transport::error::io_err;
use super::transport::{Attempts, Body, RegistryError, Req};

/// How to upload a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UploadMode {
    /// Monolithic up to [`AUTO_CHUNK_ABOVE`], chunked above (falls back to monolithic if
    /// PATCH fails).
    #[default]
    Auto,
    Chunked,
    Monolithic,
}

/// A name that is not an [`UploadMode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid upload mode {0:?}: choose auto, chunked or monolithic")]
pub struct UnknownUploadMode(pub String);

impl std::str::FromStr for UploadMode {
    type Err = UnknownUploadMode;
    fn from_str(s: &str) -> Result<Self, UnknownUploadMode> {
        match s {
            "auto" => Ok(Self::Auto),
            "chunked" => Ok(Self::Chunked),
            "monolithic" => Ok(Self::Monolithic),
            o => Err(UnknownUploadMode(o.to_string())),
        }
    }
}

/// Above this, `Auto` uploads in chunks: a failed chunk costs 16 MiB, not the whole blob.
const AUTO_CHUNK_ABOVE: u64 = 32 * 1024 * 1024;
/// Chunk size: large enough that per-request overhead is small on fast links.
const CHUNK: u64 = 16 * 1024 * 1024;

/// Statuses with which a registry says it does not do chunked uploads.
pub fn refuses_chunks(e: &RegistryError) -> bool {
    matches!(
        e,
        RegistryError::Status {
            status: 400 | 404 | 405 | 416 | 501,
            ..
        }
    )
}

impl Client {
    fn push_req(&self, repo: &Repository, method: Method, path: impl Into<String>) -> Req {
        Req::new(method, &repo.host, path).scope(scope(&repo.path, "pull,push"))
    }

    /// Start an upload, asking to mount `digest` from `from` (same registry). `Ok(None)`
    /// when the blob was mounted; otherwise the upload location to continue with.
    pub(crate) async fn start_upload(
        &self,
        repo: &Repository,
        mount: Option<(&str, &str)>,
    ) -> Result<Option<String>, RegistryError> {
        let path = &repo.path;
        // Opening a session twice is harmless: the POST may be repeated.
        let mut req = self
            .push_req(repo, Method::POST, format!("/v2/{path}/blobs/uploads/"))
            .retry(true);
        if let Some((d, from)) = mount {
            req = req
                .scope(scope(from, "pull"))
                .query("mount", d)
                .query("from", from);
        }
        let resp = self.t.execute(req).await?;
        match resp.status() {
            StatusCode::CREATED if mount.is_some() => Ok(None),
            StatusCode::ACCEPTED | StatusCode::CREATED => {
                let loc = header_str(resp.headers(), "location");
                if loc.is_empty() {
                    return Err(io_err(
                        format!("upload to {repo}"),
                        "registry gave no Location",
                    ));
                }
                Ok(Some(loc))
            }
            _ => Err(self
                .t
                .fail(&repo.host, path, "POST blob upload", resp)
                .await),
        }
    }

    /// Open an upload session; returns its location.
    pub async fn start_blob_upload(&self, repo: &Repository) -> Result<String, RegistryError> {
        self.start_upload(repo, None).await?.ok_or_else(|| {
            io_err(
                format!("upload to {repo}"),
                "registry mounted instead of opening a session",
            )
        })
    }

    /// Send a blob's bytes as one streamed PATCH (length and digest unknown up front: the
    /// producer feeds it while it runs). Returns the location to finish the upload at.
    pub async fn patch_stream(
        &self,
        repo: &Repository,
        url: &str,
        body: reqwest::Body,
    ) -> Result<String, RegistryError> {
        let req = self
            .push_req(repo, Method::PATCH, url)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(Body::once(body));
        let resp = self.t.execute(req).await?;
        let resp = self
            .t
            .expect(resp, &[], &repo.host, &repo.path, "PATCH blob")
            .await?;
        let loc = header_str(resp.headers(), "location");
        Ok(if loc.is_empty() { url.to_string() } else { loc })
    }

    /// Upload a blob whose bytes are produced while they are sent (length and digest
    /// unknown up front): open a session, send `body` as one streamed PATCH, then close the
    /// session with the digest `digest` yields once the body has ended. An error from
    /// `digest` (the bytes were not what they should be) leaves the session unclosed, so
    /// nothing is stored. Returns the digest.
    pub async fn upload_streamed<E, F>(
        &self,
        repo: &Repository,
        body: reqwest::Body,
        digest: F,
    ) -> Result<String, E>
    where
        E: From<RegistryError>,
        F: std::future::Future<Output = Result<String, E>>,
    {
        let url = self.start_blob_upload(repo).await?;
        let next = self.patch_stream(repo, &url, body).await?;
        let digest = digest.await?;
        self.finish_upload(repo, &next, &digest).await?;
        Ok(digest)
    }

    /// Close an upload session with the blob's digest (the registry checks it).
    pub async fn finish_upload(
        &self,
        repo: &Repository,
        url: &str,
        digest: &str,
    ) -> Result<(), RegistryError> {
        let req = self
            .push_req(repo, Method::PUT, url)
            .query("digest", digest);
        let resp = self.t.execute(req).await?;
        self.t
            .expect(resp, &[], &repo.host, &repo.path, "PUT blob")
            .await
            .map(drop)
    }

    /// Upload a blob whose digest is known. Whole uploads are restarted on failure
    /// (digest-addressed, so a retry cannot store anything wrong).
    pub async fn upload_blob(
        &self,
        repo: &Repository,
        digest: &str,
        source: &BlobSource,
        mode: UploadMode,
    ) -> Result<(), RegistryError> {
        let mut chunked = match mode {
            UploadMode::Monolithic => false,
            UploadMode::Chunked => true,
            UploadMode::Auto => source.len() > AUTO_CHUNK_ABOVE,
        };
        let mut attempts = Attempts::new(self.t.options().retry);
        loop {
            let attempt = attempts.begin();
            let r = if chunked {
                match self.upload_chunked(repo, digest, source).await {
                    Err(e) if refuses_chunks(&e) => {
                        tracing::info!(%repo, "registry rejected chunked upload; uploading in one request");
                        self.upload_monolithic(repo, digest, source).await
                    }
                    other => other,
                }
            } else {
                self.upload_monolithic(repo, digest, source).await
            };
            match r {
                Err(e) => match attempts.next_after(&e) {
                    Some(wait) => {
                        // A chunked upload failed although the transport retried each
                        // PATCH: a registry that refuses PATCH may answer before it reads
                        // the body and close, which hyper reports as a broken write (or a
                        // proxy as a 502), never as the refusal. The next attempts send the
                        // blob in one request.
                        chunked = false;
                        tracing::debug!(%repo, digest, attempt, "upload failed: {e}");
                        tracing::warn!(
                            "upload failed ({}); restarting (attempt {})",
                            e.brief(),
                            attempt + 1
                        );
                        tokio::time::sleep(wait).await;
                    }
                    None => return Err(e),
                },
                Ok(()) => return Ok(()),
            }
        }
    }

    async fn upload_monolithic(
        &self,
        repo: &Repository,
        digest: &str,
        source: &BlobSource,
    ) -> Result<(), RegistryError> {
        let Some(url) = self.start_upload(repo, None).await? else {
            return Ok(());
        };
        let req = self
            .push_req(repo, Method::PUT, url)
            .query("digest", digest)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(Body::source(source))
            .retry(false);
        let resp = self.t.execute(req).await?;
        self.t
            .expect(resp, &[], &repo.host, &repo.path, "PUT blob")
            .await
            .map(drop)
    }

    async fn upload_chunked(
        &self,
        repo: &Repository,
        digest: &str,
        source: &BlobSource,
    ) -> Result<(), RegistryError> {
        let Some(mut url) = self.start_upload(repo, None).await? else {
            return Ok(());
        };
        let total = source.len();
        let mut offset = 0;
        while offset < total {
            let len = CHUNK.min(total - offset);
            let end = offset + len - 1;
            let req = self
                .push_req(repo, Method::PATCH, url.clone())
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_RANGE, &format!("{offset}-{end}"))
                .body(Body::Source {
                    source: source.clone(),
                    offset,
                    len,
                });
            let resp = self.t.execute(req).await?;
            let resp = self
                .t
                .expect(resp, &[], &repo.host, &repo.path, "PATCH blob")
                .await?;
            let loc = header_str(resp.headers(), "location");
            if !loc.is_empty() {
                url = loc;
            }
            offset += len;
        }
        let req = self
            .push_req(repo, Method::PUT, url)
            .query("digest", digest)
            .retry(false);
        let resp = self.t.execute(req).await?;
        self.t
            .expect(resp, &[], &repo.host, &repo.path, "PUT blob")
            .await
            .map(drop)
    }
}
