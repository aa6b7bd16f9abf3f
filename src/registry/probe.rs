//! What `doctor` asks a registry without changing it: may these credentials push (an
//! upload session opened and cancelled), does it take chunked uploads (an empty PATCH on
//! that session), may they delete (a manifest digest that cannot exist), does it honour
//! cross-repository mounts (a blob the repository holds, mounted onto itself).

use reqwest::header::CONTENT_RANGE;
use reqwest::{Method, StatusCode};

use super::client::{Client, header_str, scope};
use super::reference::Repository;
use super::transport::{Body, RegistryError, Req};

/// What opening an upload session told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushProbe {
    /// A session opened (and was cancelled); `chunked`: an empty PATCH on it was accepted.
    Allowed { chunked: bool },
    /// The registry answered this status instead.
    Refused { status: u16 },
}

/// What a DELETE of a digest that cannot exist told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteProbe {
    /// 404 (nothing to delete) or success: deleting is allowed.
    Allowed,
    /// 405: the registry has deletion disabled.
    Disabled,
    Refused {
        status: u16,
    },
}

impl Client {
    /// Open an upload session, try an empty chunk on it, cancel it.
    pub async fn probe_push(&self, repo: &Repository) -> Result<PushProbe, RegistryError> {
        let push = || scope(&repo.path, "pull,push");
        let open = Req::new(
            Method::POST,
            &repo.host,
            format!("/v2/{}/blobs/uploads/", repo.path),
        )
        .scope(push())
        .retry(true);
        let resp = self.t.execute(open).await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Ok(PushProbe::Refused {
                status: resp.status().as_u16(),
            });
        }
        let loc = header_str(resp.headers(), "location");
        let patch = Req::new(Method::PATCH, &repo.host, loc.clone())
            .scope(push())
            .header(CONTENT_RANGE, "0-0")
            .body(Body::Bytes(bytes::Bytes::new()));
        let chunked = self
            .t
            .execute(patch)
            .await
            .is_ok_and(|r| r.status() == StatusCode::ACCEPTED || r.status().is_success());
        let cancel = Req::new(Method::DELETE, &repo.host, loc).scope(push());
        let _ = self.t.execute(cancel).await;
        Ok(PushProbe::Allowed { chunked })
    }

    /// DELETE a manifest digest that cannot exist.
    pub async fn probe_delete(&self, repo: &Repository) -> Result<DeleteProbe, RegistryError> {
        let zero = format!("sha256:{}", "0".repeat(64));
        let req = Req::new(
            Method::DELETE,
            &repo.host,
            format!("/v2/{}/manifests/{zero}", repo.path),
        )
        .scope(scope(&repo.path, "delete"));
        let status = self.t.execute(req).await?.status();
        Ok(match status.as_u16() {
            404 => DeleteProbe::Allowed,
            _ if status.is_success() => DeleteProbe::Allowed,
            405 => DeleteProbe::Disabled,
            s => DeleteProbe::Refused { status: s },
        })
    }

    /// Mount the config blob of the repository's first image onto the repository itself
    /// (creates nothing). `None` when the repository holds no image to borrow a blob from.
    pub async fn probe_mount(&self, repo: &Repository) -> Option<Result<bool, RegistryError>> {
        let tags = self.list_tags(repo).await.ok()?;
        let (m, _, _) = self.get_typed_manifest(repo, tags.first()?).await.ok()??;
        let blob = m.config()?.digest().to_string();
        Some(self.mount_blob(repo, &blob, &repo.path).await)
    }
}
