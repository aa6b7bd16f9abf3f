//! BuildKit builds through the daemon's built-in BuildKit (Docker ≥ 18.09, API ≥ 1.39):
//! `POST /build?version=2&session=ID` with the context tar streamed as the body, and a
//! session: `POST /session` upgraded to h2c, on which Slipway serves gRPC to the daemon
//! (health, the image's build secrets, SSH agent forwarding, registry credentials for
//! base-image pulls).
//!
//! Written here rather than taken from bollard's `buildkit` feature: its session serves
//! credentials only (no secrets), and its `/grpc` solve path loads the whole context into
//! memory and reports no progress. The proto types and generated servers come from
//! `bollard-buildkit-proto`; the server is tonic's.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use base64::Engine;
use bollard_buildkit_proto::health::health_check_response::ServingStatus;
use bollard_buildkit_proto::health::health_server::{Health, HealthServer};
use bollard_buildkit_proto::health::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::secrets_server::{Secrets, SecretsServer};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::{GetSecretRequest, GetSecretResponse};
use bollard_buildkit_proto::moby::buildkit::v1::StatusResponse;
use bollard_buildkit_proto::moby::filesync::v1::auth_server::{Auth, AuthServer};
use bollard_buildkit_proto::moby::filesync::v1::file_sync_server::FileSyncServer;
use bollard_buildkit_proto::moby::filesync::v1::{
    CredentialsRequest, CredentialsResponse, FetchTokenRequest, FetchTokenResponse,
    GetTokenAuthorityRequest, GetTokenAuthorityResponse, VerifyTokenAuthorityRequest,
    VerifyTokenAuthorityResponse,
};
use bollard_buildkit_proto::moby::sshforward::v1::ssh_server::{Ssh, SshServer};
use bollard_buildkit_proto::moby::sshforward::v1::{
    BytesMessage, CheckAgentRequest, CheckAgentResponse,
};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::{Request, Response, Status};

use super::filesync;
use crate::build::secrets::{self, SecretValues};
use crate::build::ssh::{self, Agents};
use crate::daemon::engine;
use crate::daemon::http::{self as daemon_http, Endpoint, HttpError};
use crate::registry::keychain::{Credential, Keychain};

/// What an image's BuildKit session hands the daemon besides credentials.
#[derive(Debug, Clone, Default)]
pub struct SessionData {
    pub secrets: secrets::SecretValues,
    pub ssh: ssh::Agents,
    /// The context and Dockerfile, when the session hands them to BuildKit itself
    /// instead of a context tar (see `filesync`).
    pub files: Option<filesync::Dirs>,
}

/// The oldest daemon API whose BuildKit takes sessions without experimental mode (18.09).
const MIN_API: (u32, u32) = (1, 39);

/// The first daemon API (Docker 25) whose BuildKit exports the cache of concurrent builds
/// safely; older ones crash the whole daemon now and then ("fatal error: concurrent map
/// iteration and map write" in `remotecache/v1.normalizeItem`: moby/buildkit#2041, #2296,
/// fixed by #4346), seen here with Debian's Docker 20.10 when two builds sharing a base ran
/// at once.
const CONCURRENT_SOLVES_API: (u32, u32) = (1, 44);

/// A daemon whose BuildKit runs Slipway's builds.
#[derive(Debug, Clone)]
pub struct BuildKit {
    pub endpoint: Endpoint,
    /// Run one build at a time on this daemon (see [`CONCURRENT_SOLVES_API`]): every build
    /// writes an inline cache, and a build's cache export racing another's crashes older
    /// daemons.
    one_at_a_time: bool,
}

impl BuildKit {
    /// Whether Slipway queues its builds on this daemon (see [`CONCURRENT_SOLVES_API`]).
    pub fn one_at_a_time(&self) -> bool {
        self.one_at_a_time
    }
}

/// Why a run does not build with the daemon's BuildKit (the classic builder does, or the
/// build fails when it needs BuildKit).
#[derive(Debug, Clone, thiserror::Error)]
pub enum NoBuildKit {
    #[error("--buildkit=off")]
    Off,
    #[error("{0}")]
    Endpoint(crate::daemon::http::EndpointError),
    #[error("daemon version: {0}")]
    Version(crate::daemon::DaemonError),
    /// The Podman version.
    #[error("the daemon is Podman {0}, which builds with Buildah and has no BuildKit")]
    Podman(String),
    /// The daemon's API version.
    #[error(
        "the daemon's API is {0:?}; BuildKit sessions need {major}.{minor} (Docker 18.09) or later",
        major = MIN_API.0,
        minor = MIN_API.1
    )]
    OldApi(String),
    /// The daemon's OS.
    #[error("the daemon runs on {0}; its BuildKit builds Linux images only")]
    NotLinux(String),
    #[error("the daemon does not take a BuildKit session: {0}")]
    NoSession(HttpError),
}

/// Whether the daemon can run BuildKit builds for us, or the reason it cannot (`daemon`:
/// where it is, for the session's own connection).
pub async fn probe(
    docker: &bollard::Docker,
    daemon: &crate::settings::DaemonEnv,
) -> Result<BuildKit, NoBuildKit> {
    let ep = daemon_http::endpoint_of(daemon).map_err(NoBuildKit::Endpoint)?;
    let v = docker
        .version()
        .await
        .map_err(|e| NoBuildKit::Version(e.into()))?;
    let bk = BuildKit::from_version(ep, &v)?;
    // Daemons that speak Docker's API without BuildKit (Podman's compat socket) or proxies
    // that cannot upgrade a connection fail here, before any build relies on a session.
    Session::start(
        &bk.endpoint,
        "slipway-probe",
        SessionData::default(),
        Keychain::default(),
    )
    .await
    .map_err(NoBuildKit::NoSession)?;
    if bk.one_at_a_time {
        tracing::debug!(
            api = v.api_version.as_deref().unwrap_or_default(),
            "this daemon's BuildKit can crash when two builds export cache at once; builds run one at a time"
        );
    }
    Ok(bk)
}

impl BuildKit {
    /// What the daemon's `/version` says of its BuildKit: whether it has one Slipway can
    /// use at `endpoint` (its session is not tried here), and whether builds queue.
    pub fn from_version(
        endpoint: Endpoint,
        v: &bollard::models::SystemVersion,
    ) -> Result<BuildKit, NoBuildKit> {
        if let engine::Engine::Podman { version } = engine::from_version(v) {
            return Err(NoBuildKit::Podman(version));
        }
        let api = v.api_version.clone().unwrap_or_default();
        let parsed = api
            .split_once('.')
            .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
        let one_at_a_time = match parsed {
            Some(p) if p >= MIN_API => p < CONCURRENT_SOLVES_API,
            _ => return Err(NoBuildKit::OldApi(api)),
        };
        if v.os.as_deref().is_some_and(|os| os != "linux") {
            return Err(NoBuildKit::NotLinux(v.os.clone().unwrap_or_default()));
        }
        Ok(BuildKit {
            endpoint,
            one_at_a_time,
        })
    }
}

/// Held while a build runs on a daemon that takes one at a time: an advisory lock on a
/// file named for the daemon's endpoint in the temp dir, so Slipway's parallel builds and
/// other Slipway processes on this host (CI jobs sharing a shell runner's daemon) queue.
pub(crate) struct SolveLock {
    /// Unlocked when closed.
    _held: Option<std::fs::File>,
}

impl SolveLock {
    pub(crate) async fn take(bk: &BuildKit) -> SolveLock {
        if !bk.one_at_a_time {
            return SolveLock { _held: None };
        }
        use sha2::{Digest, Sha256};
        let key = hex::encode(&Sha256::digest(bk.endpoint.to_string())[..8]);
        let path = std::env::temp_dir().join(format!("slipway-buildkit-{key}.lock"));
        let locked = tokio::task::spawn_blocking(move || {
            // A file another user made may be read-only to us: flock works on that too.
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .or_else(|_| std::fs::File::open(&path))?;
            match f.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    // Debug: with parallel images this is every build but the first.
                    tracing::debug!(
                        "waiting for another build on this daemon (before Docker 25, Slipway builds one at a time)"
                    );
                    f.lock()?;
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(e),
            }
            Ok::<_, std::io::Error>(f)
        })
        .await;
        match locked
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
        {
            Ok(f) => SolveLock { _held: Some(f) },
            // Never a reason to fail a build: it runs unqueued, as it would on a newer daemon.
            Err(e) => {
                tracing::warn!("cannot queue builds on this daemon ({e}); building at once");
                SolveLock { _held: None }
            }
        }
    }
}

/// A fresh session id (BuildKit takes any unique string).
fn new_id() -> String {
    use sha2::{Digest, Sha256};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let h = Sha256::digest(format!("{t}:{}:{n}", std::process::id()));
    hex::encode(&h[..13])
}

// ---- the session's gRPC services --------------------------------------------------------

struct HealthService;

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }
    async fn list(
        &self,
        _: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        Err(Status::unimplemented("list"))
    }
    type WatchStream =
        Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send + 'static>>;
    async fn watch(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("watch"))
    }
}

struct SecretService(SecretValues);

#[tonic::async_trait]
impl Secrets for SecretService {
    async fn get_secret(
        &self,
        req: Request<GetSecretRequest>,
    ) -> Result<Response<GetSecretResponse>, Status> {
        let id = &req.get_ref().id;
        match self.0.get(id) {
            Some(data) => Ok(Response::new(GetSecretResponse {
                data: data.to_vec(),
            })),
            // NotFound is what BuildKit expects for an unknown id (a `required=false` mount
            // then stays empty); the message names werf.yaml so the fix is clear.
            None => Err(Status::not_found(format!(
                "secret {id} is not in this image's `secrets:` in werf.yaml"
            ))),
        }
    }
}

struct AuthService(Keychain);

#[tonic::async_trait]
impl Auth for AuthService {
    async fn credentials(
        &self,
        req: Request<CredentialsRequest>,
    ) -> Result<Response<CredentialsResponse>, Status> {
        let host = req.get_ref().host.clone();
        let keychain = self.0.clone();
        // Credential helpers are processes: keep them off the async threads.
        let found = tokio::task::spawn_blocking(move || keychain.lookup(&host))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let resp = match found.map(|f| f.credential) {
            Some(Credential::Basic { username, password }) => CredentialsResponse {
                username,
                secret: password,
            },
            // Docker's convention: an identity token goes as the secret with no username.
            Some(Credential::IdentityToken(t)) => CredentialsResponse {
                username: String::new(),
                secret: t,
            },
            None => CredentialsResponse::default(),
        };
        Ok(Response::new(resp))
    }
    // Token fetching on the client side is optional: Unimplemented makes BuildKit fall back
    // to the credentials above.
    async fn fetch_token(
        &self,
        _: Request<FetchTokenRequest>,
    ) -> Result<Response<FetchTokenResponse>, Status> {
        Err(Status::unimplemented("fetch_token"))
    }
    async fn get_token_authority(
        &self,
        _: Request<GetTokenAuthorityRequest>,
    ) -> Result<Response<GetTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("get_token_authority"))
    }
    async fn verify_token_authority(
        &self,
        _: Request<VerifyTokenAuthorityRequest>,
    ) -> Result<Response<VerifyTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("verify_token_authority"))
    }
}

/// SSH agent forwarding: each `ForwardAgent` stream is piped to a new connection to the
/// agent socket of the id BuildKit names in the `buildkit.ssh.id` metadata.
struct SshService(Agents);

impl SshService {
    fn agent(&self, id: &str) -> Result<&std::path::Path, Status> {
        self.0.get(id).map(|p| p.as_path()).ok_or_else(|| {
            Status::not_found(format!(
                "ssh {id:?} is not forwarded: add it to this image's `ssh:` in werf.yaml"
            ))
        })
    }
}

#[tonic::async_trait]
impl Ssh for SshService {
    async fn check_agent(
        &self,
        req: Request<CheckAgentRequest>,
    ) -> Result<Response<CheckAgentResponse>, Status> {
        let id = match req.get_ref().id.as_str() {
            "" => "default",
            id => id,
        };
        self.agent(id)?;
        Ok(Response::new(CheckAgentResponse {}))
    }

    type ForwardAgentStream =
        Pin<Box<dyn Stream<Item = Result<BytesMessage, Status>> + Send + 'static>>;

    async fn forward_agent(
        &self,
        req: Request<tonic::Streaming<BytesMessage>>,
    ) -> Result<Response<Self::ForwardAgentStream>, Status> {
        let id = req
            .metadata()
            .get("buildkit.ssh.id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .unwrap_or("default")
            .to_string();
        let path = self.agent(&id)?;
        let conn = tokio::net::UnixStream::connect(path)
            .await
            .map_err(|e| Status::unavailable(format!("ssh agent {}: {e}", path.display())))?;
        let (read, mut write) = conn.into_split();
        let mut inbound = req.into_inner();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            while let Some(Ok(m)) = inbound.next().await {
                if write.write_all(&m.data).await.is_err() {
                    break;
                }
            }
            let _ = write.shutdown().await;
        });
        let outbound = tokio_util::io::ReaderStream::new(read).map(|chunk| {
            chunk
                .map(|b| BytesMessage { data: b.to_vec() })
                .map_err(|e| Status::unavailable(e.to_string()))
        });
        Ok(Response::new(Box::pin(outbound)))
    }
}

/// The methods a session announces (the daemon only calls announced ones).
const METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/moby.buildkit.secrets.v1.Secrets/GetSecret",
    "/moby.filesync.v1.Auth/Credentials",
    "/moby.filesync.v1.Auth/FetchToken",
];

/// Announced only when the image forwards an agent, so BuildKit's own "no SSH forwarded"
/// error stays the answer otherwise.
const SSH_METHODS: &[&str] = &[
    "/moby.sshforward.v1.SSH/CheckAgent",
    "/moby.sshforward.v1.SSH/ForwardAgent",
];

/// Announced only when the session serves the context and Dockerfile itself (see
/// `filesync`).
const FILE_SYNC_METHODS: &[&str] = &[
    "/moby.filesync.v1.FileSync/DiffCopy",
    "/moby.filesync.v1.FileSync/TarStream",
];

/// The upgraded `/session` connection, as tonic's server wants a connection.
struct SessionIo(TokioIo<hyper::upgrade::Upgraded>);

impl tonic::transport::server::Connected for SessionIo {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for SessionIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for SessionIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// A running session; the connection closes when it is dropped.
pub struct Session {
    pub id: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Session {
    /// Open a session on the daemon and serve it in the background.
    pub async fn start(
        ep: &Endpoint,
        name: &str,
        data: SessionData,
        keychain: Keychain,
    ) -> Result<Session, HttpError> {
        let id = new_id();
        // BuildKit keeps a copy of each synced folder under the session's shared key and
        // asks only for files whose size or time changed; Slipway sends zero times (equal
        // inputs, equal images), so a folder it serves must never meet an older copy.
        let shared_key = match data.files {
            Some(_) => format!("{name}-{id}"),
            None => name.to_string(),
        };
        let mut req = http::Request::post("/session")
            .header(http::header::HOST, "docker")
            .header(http::header::CONNECTION, "Upgrade")
            .header(http::header::UPGRADE, "h2c")
            .header("X-Docker-Expose-Session-Uuid", &id)
            .header("X-Docker-Expose-Session-Name", name)
            .header("X-Docker-Expose-Session-Sharedkey", &shared_key);
        let ssh = (!data.ssh.is_empty()).then_some(SSH_METHODS);
        let files = data.files.is_some().then_some(FILE_SYNC_METHODS);
        for m in METHODS
            .iter()
            .chain(ssh.into_iter().flatten())
            .chain(files.into_iter().flatten())
        {
            req = req.header("X-Docker-Expose-Session-Grpc-Method", *m);
        }
        let req = req
            .body(daemon_http::empty())
            .map_err(|e| HttpError::Request {
                what: "/session".into(),
                cause: e.to_string(),
            })?;
        let resp = daemon_http::send(ep, "/session", req).await?;
        let upgraded = hyper::upgrade::on(resp)
            .await
            .map_err(|e| HttpError::Request {
                what: "/session upgrade".into(),
                cause: e.to_string(),
            })?;
        let io = SessionIo(TokioIo::new(upgraded));
        let task = tokio::spawn(async move {
            let served = tonic::transport::Server::builder()
                .add_service(HealthServer::new(HealthService))
                .add_service(SecretsServer::new(SecretService(data.secrets)))
                .add_service(AuthServer::new(AuthService(keychain)))
                .add_service(SshServer::new(SshService(data.ssh)))
                .add_service(FileSyncServer::new(data.files.unwrap_or_default()))
                .serve_with_incoming(futures::stream::iter([Ok::<_, std::io::Error>(io)]))
                .await;
            if let Err(e) = served {
                tracing::debug!("buildkit session ended: {e}");
            }
        });
        Ok(Session { id, task })
    }
}

// ---- the build call and its progress -----------------------------------------------------

/// One message of the `/build` JSON stream.
#[derive(Debug, Default, serde::Deserialize)]
struct Message {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    aux: Option<serde_json::Value>,
    #[serde(default, rename = "errorDetail")]
    error_detail: Option<ErrorDetail>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: Option<String>,
}

/// What the build stream says, for the caller to print and act on.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// A line to show: a step started (`#5 [app 3/4] RUN make`), cached, done or failed,
    /// or a log line of a step.
    Line(String),
    /// The built image's ID.
    ImageId(String),
    /// The build failed: the daemon's message and the failed vertex name, if known.
    Failed {
        message: String,
        vertex: Option<String>,
    },
}

/// The vertex BuildKit runs for each `--cache-from` source; its failure never fails the
/// build (BuildKit goes on without that cache).
const CACHE_IMPORT: &str = "importing cache manifest from ";

/// The one line a failed cache import gets: on the first pipeline of a branch the tag is
/// simply not pushed yet.
fn cache_note(n: usize, from: &str, error: &str) -> String {
    if error.trim_end().ends_with("not found") {
        format!("#{n} note: no cache at {from} yet (not pushed): building without it")
    } else {
        format!("#{n} note: cache from {from} not used ({error}): building without it")
    }
}

/// Turns BuildKit trace messages into lines like `docker build --progress=plain` prints.
#[derive(Default)]
pub struct Trace {
    numbers: BTreeMap<String, (usize, String)>,
    started: std::collections::BTreeSet<String>,
    completed: std::collections::BTreeSet<String>,
    failed_vertex: Option<String>,
    partial: BTreeMap<String, String>,
}

impl Trace {
    fn number(&mut self, digest: &str, name: &str) -> usize {
        let next = self.numbers.len() + 1;
        self.numbers
            .entry(digest.to_string())
            .or_insert_with(|| (next, name.to_string()))
            .0
    }

    /// Progress items of one decoded status message.
    pub fn feed(&mut self, st: StatusResponse) -> Vec<Progress> {
        // Complete output lines per vertex, in the order the vertices first speak.
        let mut output: Vec<(String, Vec<String>)> = Vec::new();
        for l in st.logs {
            // Log chunks split lines anywhere: keep the tail until its newline arrives.
            let buf = self.partial.entry(l.vertex.clone()).or_default();
            buf.push_str(&String::from_utf8_lossy(&l.msg));
            let mut lines = Vec::new();
            while let Some(pos) = buf.find(['\n', '\r']) {
                let line: String = buf.drain(..=pos).collect();
                let line = line.trim_end();
                if !line.is_empty() {
                    lines.push(line.to_string());
                }
            }
            match output.iter_mut().find(|(v, _)| *v == l.vertex) {
                Some((_, known)) => known.extend(lines),
                None => output.push((l.vertex, lines)),
            }
        }
        let mut out = Vec::new();
        // Per vertex: its start, its output, its end (one message can carry all three).
        for v in st.vertexes {
            let n = self.number(&v.digest, &v.name);
            // A cache import speaks once, when done: a tag not pushed yet is a note, not
            // a start line followed by `ERROR` (issue 37).
            let cache_import = v.name.starts_with(CACHE_IMPORT);
            if v.started.is_some() && self.started.insert(v.digest.clone()) && !cache_import {
                out.push(Progress::Line(format!("#{n} {}", v.name)));
            }
            if let Some(k) = output.iter().position(|(d, _)| *d == v.digest) {
                let (_, lines) = output.remove(k);
                out.extend(
                    lines
                        .into_iter()
                        .map(|l| Progress::Line(format!("#{n} {l}"))),
                );
            }
            if v.completed.is_none() || !self.completed.insert(v.digest.clone()) {
                continue;
            }
            // Output that never ended with a newline.
            if let Some(rest) = self.partial.remove(&v.digest)
                && !rest.trim().is_empty()
            {
                out.push(Progress::Line(format!("#{n} {}", rest.trim_end())));
            }
            if let Some(from) = v.name.strip_prefix(CACHE_IMPORT) {
                if !v.error.is_empty() {
                    out.push(Progress::Line(cache_note(n, from, &v.error)));
                    continue;
                }
                out.push(Progress::Line(format!("#{n} {}", v.name)));
            }
            if !v.error.is_empty() {
                self.failed_vertex = Some(v.name.clone());
                out.push(Progress::Line(format!("#{n} ERROR: {}", v.error)));
            } else if v.cached {
                out.push(Progress::Line(format!("#{n} CACHED")));
            } else {
                let secs = match (&v.started, &v.completed) {
                    (Some(a), Some(b)) => {
                        (b.seconds - a.seconds) as f64 + (b.nanos - a.nanos) as f64 / 1e9
                    }
                    _ => 0.0,
                };
                out.push(Progress::Line(format!("#{n} DONE {secs:.1}s")));
            }
        }
        // Output of vertices this message did not mention.
        for (digest, lines) in output {
            let n = self.number(&digest, "");
            out.extend(
                lines
                    .into_iter()
                    .map(|l| Progress::Line(format!("#{n} {l}"))),
            );
        }
        out
    }

    fn decode(&mut self, aux: &serde_json::Value) -> Vec<Progress> {
        let Some(b64) = aux.as_str() else {
            return Vec::new();
        };
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            return Vec::new();
        };
        match <StatusResponse as prost::Message>::decode(raw.as_slice()) {
            Ok(st) => self.feed(st),
            Err(e) => {
                tracing::debug!("undecodable buildkit trace: {e}");
                Vec::new()
            }
        }
    }

    /// Progress items of one `/build` stream message.
    fn message(&mut self, m: Message) -> Vec<Progress> {
        let mut out = Vec::new();
        match (m.id.as_deref(), m.aux) {
            (Some("moby.buildkit.trace"), Some(aux)) => out.extend(self.decode(&aux)),
            (Some("moby.image.id"), Some(aux)) => {
                if let Some(id) = aux["ID"].as_str() {
                    out.push(Progress::ImageId(id.to_string()));
                }
            }
            _ => {}
        }
        if let Some(s) = m.stream {
            out.extend(
                s.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| Progress::Line(l.to_string())),
            );
        }
        let err = m.error_detail.and_then(|d| d.message).or(m.error);
        if let Some(message) = err {
            out.push(Progress::Failed {
                message,
                vertex: self.failed_vertex.clone(),
            });
        }
        out
    }
}

/// Run `POST /build` with BuildKit. `options` are bollard's build options; the version and
/// session are set here. Each progress item goes to `on_progress`.
pub async fn build(
    bk: &BuildKit,
    session: &Session,
    options: bollard::query_parameters::BuildImageOptions,
    context: impl Stream<Item = Bytes> + Send + 'static,
    mut on_progress: impl FnMut(Progress),
) -> Result<(), HttpError> {
    let ep = &bk.endpoint;
    let mut options = options;
    options.version = bollard::query_parameters::BuilderVersion::BuilderBuildKit;
    // bollard has the `session` field only with its `buildkit` feature: add it here.
    let query = serde_urlencoded::to_string(&options).map_err(|e| HttpError::Request {
        what: "/build".into(),
        cause: e.to_string(),
    })? + "&session="
        + &session.id;
    let body = http_body_util::StreamBody::new(
        context.map(|b| Ok::<_, std::io::Error>(hyper::body::Frame::data(b))),
    );
    let req = http::Request::post(format!("/build?{query}"))
        .header(http::header::HOST, "docker")
        .header(http::header::CONTENT_TYPE, "application/x-tar")
        .body(http_body_util::BodyExt::boxed_unsync(body))
        .map_err(|e| HttpError::Request {
            what: "/build".into(),
            cause: e.to_string(),
        })?;
    let resp = daemon_http::send(ep, "/build", req).await?;
    let mut body = resp.into_body();
    let mut trace = Trace::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut feed = |line: &[u8], trace: &mut Trace| {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        match serde_json::from_slice::<Message>(line) {
            Ok(m) => trace.message(m).into_iter().for_each(&mut on_progress),
            Err(e) => tracing::debug!("unreadable /build message: {e}"),
        }
    };
    while let Some(frame) = http_body_util::BodyExt::frame(&mut body).await {
        let frame = frame.map_err(|e| HttpError::Request {
            what: "/build".into(),
            cause: e.to_string(),
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            feed(&line, &mut trace);
        }
    }
    feed(&buf, &mut trace);
    Ok(())
}

#[cfg(test)]
mod tests;
