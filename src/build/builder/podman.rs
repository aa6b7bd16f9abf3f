//! Podman's `/build` with werf `secrets:` (a request bollard cannot make).

use std::collections::HashMap;

use futures::StreamExt;
use futures::future::BoxFuture;

use super::classic::ClassicProgress;
use super::{BuildRequest, Builder, CannotRun, Log, Ran};
use crate::daemon::http as daemon_http;
use crate::registry::keychain::Keychain;
use crate::settings::DaemonEnv;

/// Podman's builder, for images with `secrets:` (without BuildKit).
pub struct PodmanBuilder {
    pub keychain: Keychain,
    /// Where the daemon is (the request goes around bollard).
    pub daemon: DaemonEnv,
}

impl Builder for PodmanBuilder {
    fn run<'a>(&'a self, req: BuildRequest<'a>, mut log: Log<'a>) -> BoxFuture<'a, Ran> {
        Box::pin(async move {
            let creds =
                super::base_credentials(req.from_args, req.dockerfile_text, &self.keychain).await?;
            run_podman_with_secrets(
                &self.daemon,
                req.options,
                creds,
                req.podman_secrets,
                req.body,
                req.dockerfile_text,
                &mut log,
            )
            .await
        })
    }
}

/// werf `secrets:` on Podman: its Docker-compatible `/build` takes a `secrets` parameter
/// (as podman-remote sends it): each secret travels as a file in the context, which Podman
/// moves out of the context before the build starts, and `RUN --mount=type=secret` reads
/// it. bollard has no such parameter, so this one request is made here.
async fn run_podman_with_secrets(
    daemon: &DaemonEnv,
    options: bollard::query_parameters::BuildImageOptions,
    credentials: Option<HashMap<String, bollard::auth::DockerCredentials>>,
    secrets: &[(String, String)],
    body: impl futures::Stream<Item = bytes::Bytes> + Send + 'static,
    dockerfile_text: &str,
    log: &mut impl FnMut(&str),
) -> Ran {
    use base64::Engine;
    use http_body_util::BodyExt;
    let ep = daemon_http::endpoint_of(daemon).map_err(CannotRun::Endpoint)?;
    let specs: Vec<String> = secrets
        .iter()
        .map(|(id, file)| format!("id={id},src={file}"))
        .collect();
    let specs = serde_json::to_string(&specs).map_err(CannotRun::Json)?;
    let query = serde_urlencoded::to_string(&options).map_err(CannotRun::Query)?
        + "&"
        + &serde_urlencoded::to_string([("secrets", specs)]).map_err(CannotRun::Query)?;
    let frames = http_body_util::StreamBody::new(
        body.map(|b| Ok::<_, std::io::Error>(hyper::body::Frame::data(b))),
    );
    let mut req = http::Request::post(format!("/build?{query}"))
        .header(http::header::HOST, "docker")
        .header(http::header::CONTENT_TYPE, "application/x-tar");
    if let Some(c) = &credentials {
        let json = serde_json::to_vec(c).map_err(CannotRun::Json)?;
        req = req.header(
            "X-Registry-Config",
            base64::engine::general_purpose::URL_SAFE.encode(json),
        );
    }
    let req = req
        .body(BodyExt::boxed_unsync(frames))
        .map_err(CannotRun::Request)?;
    let resp = daemon_http::send(&ep, "/build", req)
        .await
        .map_err(CannotRun::Daemon)?;
    let mut body = resp.into_body();
    let mut progress = ClassicProgress::default();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(CannotRun::Body)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        while let Some(n) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=n).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<bollard::models::BuildInfo>(&line) {
                Ok(mut info) => {
                    // A message with only `error` (no `errorDetail`) is a failure too.
                    if info.error_detail.is_none()
                        && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line)
                        && let Some(e) = v["error"].as_str()
                    {
                        info.error_detail = Some(bollard::models::ErrorDetail {
                            code: None,
                            message: Some(e.to_string()),
                        });
                    }
                    if let Some(failed) = progress.feed(info, dockerfile_text, log) {
                        return Ok(Err(failed));
                    }
                }
                Err(e) => tracing::debug!("unreadable /build message: {e}"),
            }
        }
    }
    Ok(Ok(progress.image_id))
}
