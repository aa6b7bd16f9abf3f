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

use crate::settings::DaemonEnv;

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    /// `host:port`, plain HTTP.
    Tcp(String),
    /// `host:port` with TLS as Docker does it (`DOCKER_TLS_VERIFY`): the server verified
    /// against `ca.pem`, the client presenting `cert.pem`/`key.pem` from `cert_dir`.
    Tls {
        addr: String,
        cert_dir: PathBuf,
    },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Tcp(a) | Endpoint::Tls { addr: a, .. } => write!(f, "tcp://{a}"),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    #[error("cannot connect to the Docker daemon at {at}: {cause}")]
    Connect { at: String, cause: String },
    #[error("daemon request {what} failed: {cause}")]
    Request { what: String, cause: String },
    #[error("TLS to the Docker daemon: {0}")]
    Tls(String),
    #[error("daemon answered {what} with HTTP {status}: {body}")]
    Status {
        what: String,
        status: u16,
        body: String,
    },
}

/// Why `DOCKER_HOST` and friends name no endpoint Slipway can reach.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("DOCKER_TLS_VERIFY is set but neither DOCKER_CERT_PATH nor HOME is")]
    TlsVerifyWithoutCerts,
    #[error("https:// DOCKER_HOST needs DOCKER_CERT_PATH or HOME")]
    HttpsWithoutCerts,
    #[error(
        "DOCKER_HOST={0}: Slipway's BuildKit session reaches unix://, tcp:// and https:// daemons only"
    )]
    Scheme(String),
}

/// The endpoint from a `DOCKER_HOST` value (`None`: the default socket), with Docker's
/// `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH` (default `~/.docker`). `ssh://` hosts are
/// refused with the reason.
pub fn endpoint(
    docker_host: Option<&str>,
    tls_verify: bool,
    cert_path: Option<PathBuf>,
) -> Result<Endpoint, EndpointError> {
    let host = docker_host.filter(|h| !h.is_empty());
    let Some(host) = host else {
        return Ok(Endpoint::Unix(PathBuf::from("/var/run/docker.sock")));
    };
    if let Some(path) = host.strip_prefix("unix://") {
        return Ok(Endpoint::Unix(PathBuf::from(path)));
    }
    let addr = host
        .strip_prefix("tcp://")
        .or_else(|| host.strip_prefix("http://"))
        .map(|a| a.trim_end_matches('/').to_string());
    match (addr, host.strip_prefix("https://")) {
        (Some(addr), _) if tls_verify => match cert_path {
            Some(cert_dir) => Ok(Endpoint::Tls { addr, cert_dir }),
            None => Err(EndpointError::TlsVerifyWithoutCerts),
        },
        (Some(addr), _) => Ok(Endpoint::Tcp(addr)),
        (None, Some(addr)) => match cert_path {
            Some(cert_dir) => Ok(Endpoint::Tls {
                addr: addr.trim_end_matches('/').to_string(),
                cert_dir,
            }),
            None => Err(EndpointError::HttpsWithoutCerts),
        },
        (None, None) => Err(EndpointError::Scheme(host.to_string())),
    }
}

/// The endpoint the environment's variables name.
pub fn endpoint_of(env: &DaemonEnv) -> Result<Endpoint, EndpointError> {
    endpoint(env.host.as_deref(), env.tls_verify, env.cert_path.clone())
}

/// rustls config for Docker's TLS: trust `ca.pem` only, present `cert.pem` + `key.pem`.
fn tls_config(cert_dir: &std::path::Path) -> Result<tokio_rustls::rustls::ClientConfig, HttpError> {
    use tokio_rustls::rustls;
    let read = |name: &str| {
        let p = cert_dir.join(name);
        std::fs::read(&p).map_err(|e| HttpError::Tls(format!("{}: {e}", p.display())))
    };
    let bad = |name: &str, e: &dyn std::fmt::Display| {
        HttpError::Tls(format!("{}: {e}", cert_dir.join(name).display()))
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut read("ca.pem")?.as_slice()) {
        roots
            .add(c.map_err(|e| bad("ca.pem", &e))?)
            .map_err(|e| bad("ca.pem", &e))?;
    }
    let certs = rustls_pemfile::certs(&mut read("cert.pem")?.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("cert.pem", &e))?;
    let key = rustls_pemfile::private_key(&mut read("key.pem")?.as_slice())
        .map_err(|e| bad("key.pem", &e))?
        .ok_or_else(|| bad("key.pem", &"no private key"))?;
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| HttpError::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_client_auth_cert(certs, key)
    .map_err(|e| bad("cert.pem", &e))
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
        Endpoint::Tls { addr, cert_dir } => {
            let config = tls_config(cert_dir)?;
            let host = addr
                .rsplit_once(':')
                .map(|(h, _)| h)
                .unwrap_or(addr)
                .trim_start_matches('[')
                .trim_end_matches(']');
            let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_string())
                .map_err(|e| HttpError::Tls(format!("{host}: {e}")))?;
            let tcp = tokio::net::TcpStream::connect(addr).await.map_err(err)?;
            let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
                .connect(name, tcp)
                .await
                .map_err(|e| HttpError::Tls(format!("{addr}: {e}")))?;
            Box::pin(tls)
        }
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

/// Why a push through Podman's Docker-compatible endpoint failed.
#[derive(Debug, thiserror::Error)]
pub enum PodmanPushError {
    #[error("{0}")]
    Endpoint(#[from] EndpointError),
    #[error("{0}")]
    Query(#[from] serde_urlencoded::ser::Error),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Request(#[from] http::Error),
    #[error("{0}")]
    Http(#[from] HttpError),
    #[error("{0}")]
    Body(#[from] hyper::Error),
    /// The daemon's message.
    #[error("{0}")]
    Daemon(String),
}

/// Podman's push with `tlsVerify=false` (its Docker-compatible endpoint takes the
/// parameter; bollard has no field for it), for `--insecure-registry` and loopback hosts,
/// which Podman, unlike dockerd, does not treat as insecure by itself.
pub async fn podman_push_insecure(
    daemon: &crate::settings::DaemonEnv,
    name: &str,
    tag: &str,
    creds: Option<&bollard::auth::DockerCredentials>,
) -> Result<(), PodmanPushError> {
    use base64::Engine;
    use http_body_util::BodyExt;
    let ep = endpoint_of(daemon)?;
    let query = serde_urlencoded::to_string([("tag", tag), ("tlsVerify", "false")])?;
    let path: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    let auth = serde_json::to_vec(&creds.cloned().unwrap_or_default())?;
    let req = http::Request::post(format!("/images/{path}/push?{query}"))
        .header(http::header::HOST, "docker")
        .header(
            "X-Registry-Auth",
            base64::engine::general_purpose::URL_SAFE.encode(auth),
        )
        .body(empty())?;
    let resp = send(&ep, "push", req).await?;
    let body = resp.into_body().collect().await?.to_bytes();
    for line in body.split(|&b| b == b'\n') {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if let Some(e) = v["errorDetail"]["message"].as_str().or(v["error"].as_str()) {
            return Err(PodmanPushError::Daemon(e.to_string()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_from_docker_host() {
        let certs = || Some(PathBuf::from("/certs/client"));
        assert_eq!(
            endpoint(None, false, certs()),
            Ok(Endpoint::Unix("/var/run/docker.sock".into()))
        );
        assert_eq!(
            endpoint(Some("unix:///run/d.sock"), false, certs()),
            Ok(Endpoint::Unix("/run/d.sock".into()))
        );
        assert_eq!(
            endpoint(Some("tcp://127.0.0.1:2375"), false, certs()),
            Ok(Endpoint::Tcp("127.0.0.1:2375".into()))
        );
        // GitLab's docker:dind with TLS.
        assert_eq!(
            endpoint(Some("tcp://docker:2376"), true, certs()),
            Ok(Endpoint::Tls {
                addr: "docker:2376".into(),
                cert_dir: "/certs/client".into()
            })
        );
        assert!(endpoint(Some("tcp://docker:2376"), true, None).is_err());
        assert!(
            endpoint(Some("ssh://u@h"), false, certs())
                .unwrap_err()
                .to_string()
                .contains("ssh://u@h")
        );
    }
}
