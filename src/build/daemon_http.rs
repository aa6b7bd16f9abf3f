//! Raw HTTP/1.1 to the Docker daemon, for the two BuildKit calls bollard cannot make for us:
//! `POST /session` (upgraded to h2c, on which Slipway then serves gRPC) and
//! `POST /build?version=2` whose progress arrives as BuildKit trace messages. bollard keeps
//! its request builder and upgrade handling private, so this opens its own connection to the
//! same endpoint bollard uses (`DOCKER_HOST`, else the default socket).

use std::path::PathBuf;
use std::pin::Pin;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    /// `host:port`, plain HTTP.
    Tcp(String),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot connect to the Docker daemon at {at}: {cause}")]
    Connect { at: String, cause: String },
    #[error("daemon request {what} failed: {cause}")]
    Request { what: String, cause: String },
    #[error("daemon answered {what} with HTTP {status}: {body}")]
    Status {
        what: String,
        status: u16,
        body: String,
    },
}

/// The endpoint from a `DOCKER_HOST` value (`None`: the default socket). TLS (`DOCKER_TLS_VERIFY`)
/// and `ssh://` hosts are refused with the reason: the raw client speaks plain HTTP only.
pub fn endpoint(docker_host: Option<&str>, tls_verify: bool) -> Result<Endpoint, String> {
    let host = docker_host.filter(|h| !h.is_empty());
    let Some(host) = host else {
        return Ok(Endpoint::Unix(PathBuf::from("/var/run/docker.sock")));
    };
    if let Some(path) = host.strip_prefix("unix://") {
        return Ok(Endpoint::Unix(PathBuf::from(path)));
    }
    let addr = host
        .strip_prefix("tcp://")
        .or_else(|| host.strip_prefix("http://"));
    match addr {
        Some(_) if tls_verify => Err(format!(
            "DOCKER_HOST={host} with DOCKER_TLS_VERIFY: Slipway's BuildKit session speaks plain HTTP to the daemon only"
        )),
        Some(a) => Ok(Endpoint::Tcp(a.trim_end_matches('/').to_string())),
        None => Err(format!(
            "DOCKER_HOST={host}: Slipway's BuildKit session reaches unix:// and tcp:// daemons only"
        )),
    }
}

/// The endpoint from the process environment.
pub fn endpoint_from_env() -> Result<Endpoint, String> {
    let host = std::env::var("DOCKER_HOST").ok();
    let tls = std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty() && v != "0");
    endpoint(host.as_deref(), tls)
}

/// Anything a connection can run over.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

async fn connect(ep: &Endpoint) -> Result<Pin<Box<dyn Io>>, HttpError> {
    let err = |e: std::io::Error| HttpError::Connect {
        at: ep.to_string(),
        cause: e.to_string(),
    };
    Ok(match ep {
        Endpoint::Unix(p) => Box::pin(tokio::net::UnixStream::connect(p).await.map_err(err)?),
        Endpoint::Tcp(a) => Box::pin(tokio::net::TcpStream::connect(a).await.map_err(err)?),
    })
}

pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// Send one request on a new connection (upgrades allowed) and return the response head and
/// body. A non-2xx/101 answer becomes [`HttpError::Status`] with the daemon's message.
pub async fn send(
    ep: &Endpoint,
    what: &str,
    req: http::Request<Body>,
) -> Result<http::Response<Incoming>, HttpError> {
    let io = connect(ep).await?;
    let rerr = |e: hyper::Error| HttpError::Request {
        what: what.to_string(),
        cause: e.to_string(),
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(rerr)?;
    tokio::spawn(async move {
        // Ends with the response body (or the upgraded stream); errors surface on the body.
        let _ = conn.with_upgrades().await;
    });
    let resp = sender.send_request(req).await.map_err(rerr)?;
    let status = resp.status();
    if status.is_success() || status == http::StatusCode::SWITCHING_PROTOCOLS {
        return Ok(resp);
    }
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let text = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
    Err(HttpError::Status {
        what: what.to_string(),
        status: status.as_u16(),
        body: text,
    })
}

/// An empty request body.
pub fn empty() -> Body {
    use http_body_util::BodyExt;
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_from_docker_host() {
        assert_eq!(
            endpoint(None, false),
            Ok(Endpoint::Unix("/var/run/docker.sock".into()))
        );
        assert_eq!(
            endpoint(Some("unix:///run/d.sock"), false),
            Ok(Endpoint::Unix("/run/d.sock".into()))
        );
        assert_eq!(
            endpoint(Some("tcp://127.0.0.1:2375"), false),
            Ok(Endpoint::Tcp("127.0.0.1:2375".into()))
        );
        assert!(
            endpoint(Some("tcp://h:2376"), true)
                .unwrap_err()
                .contains("TLS")
        );
        assert!(
            endpoint(Some("ssh://u@h"), false)
                .unwrap_err()
                .contains("ssh://u@h")
        );
    }
}
