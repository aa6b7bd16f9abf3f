//! Our registry client (OCI distribution spec) on reqwest + rustls.
//!
//! One [`Client`] serves every registry a run talks to. Per host it keeps: the scheme
//! (https; plain http only for `--insecure-registry` hosts), a TLS setup with the CAs of
//! `/etc/docker/certs.d/HOST/`, and tokens per scope. Every request goes through
//! [`Client::send`], which adds auth (Basic, or Bearer fetched for the scopes the call
//! needs and refreshed on 401), retries connection errors, 5xx and 429 with backoff
//! (honouring `Retry-After`) and maps registry error bodies to [`RegistryError`].
//! Secrets are only ever in request headers, which are never logged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use sha2::Digest as _;

use super::auth::{AuthError, Credential, Found, Keychain};
use super::reference::Repository;
use crate::settings::Settings;

pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const ACCEPT_MANIFESTS: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// Registry failures, each naming the registry and what was asked.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach registry {host}: {cause}")]
    Unreachable { host: String, cause: String },
    #[error(
        "TLS with registry {host} failed: {cause} (trust its CA in /etc/docker/certs.d/{host}/ca.crt, or pass --insecure-registry {host})"
    )]
    Tls { host: String, cause: String },
    #[error(
        "registry {host} answers plain HTTP, not HTTPS: add `--insecure-registry {host}` (or set SLIPWAY_INSECURE_REGISTRY={host})"
    )]
    PlainHttp { host: String },
    #[error("registry {host} refused the credentials for {what} ({source_desc})")]
    Unauthorized {
        host: String,
        what: String,
        source_desc: String,
    },
    #[error("registry {host} denied {what}: {message} ({source_desc})")]
    Denied {
        host: String,
        what: String,
        message: String,
        source_desc: String,
    },
    #[error("repository {repository} does not exist on {host}{hint}")]
    NameUnknown {
        host: String,
        repository: String,
        hint: String,
    },
    #[error(
        "tag {reference} is immutable on this registry and already exists: {message}; publish under a tag that changes with the content (--tag-by-content or --tag-git-commit)"
    )]
    TagImmutable { reference: String, message: String },
    #[error("{method} {url}: registry answered {status}: {message}")]
    Status {
        method: String,
        url: String,
        status: u16,
        message: String,
    },
    #[error("{0}")]
    Auth(#[from] AuthError),
    #[error("{what}: {cause}")]
    Io { what: String, cause: String },
    #[error("{what}: digest mismatch: expected {expected}, registry has {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
}

#[derive(Debug, Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Debug, Deserialize)]
struct ErrorItem {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// What a manifest HEAD/GET told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestInfo {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
}

/// How to upload a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UploadMode {
    /// Monolithic below 32 MiB, chunked above (falls back to monolithic if PATCH fails).
    #[default]
    Auto,
    Chunked,
    Monolithic,
}

impl std::str::FromStr for UploadMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "chunked" => Ok(Self::Chunked),
            "monolithic" => Ok(Self::Monolithic),
            o => Err(format!(
                "invalid upload mode {o:?}: choose auto, chunked or monolithic"
            )),
        }
    }
}

/// A blob's bytes: in memory, or a byte range of a file (read again on retry).
#[derive(Debug, Clone)]
pub enum BlobSource {
    Bytes(Bytes),
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

impl BlobSource {
    pub fn len(&self) -> u64 {
        match self {
            BlobSource::Bytes(b) => b.len() as u64,
            BlobSource::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    async fn body(&self, start: u64, len: u64) -> Result<reqwest::Body, std::io::Error> {
        match self {
            BlobSource::Bytes(b) => Ok(reqwest::Body::from(
                b.slice(start as usize..(start + len) as usize),
            )),
            BlobSource::File { path, offset, .. } => {
                use tokio::io::{AsyncReadExt, AsyncSeekExt};
                let mut f = tokio::fs::File::open(path).await?;
                f.seek(std::io::SeekFrom::Start(offset + start)).await?;
                let stream = tokio_util::io::ReaderStream::with_capacity(f.take(len), 256 * 1024);
                Ok(reqwest::Body::wrap_stream(stream))
            }
        }
    }
}

#[derive(Default)]
struct HostState {
    scheme: Option<&'static str>,
    http: Option<reqwest::Client>,
    /// Authorization header per scope key (`Basic` is stored under "").
    auth: HashMap<String, String>,
    creds: Option<Option<Found>>,
}

struct Inner {
    settings: Settings,
    keychain: Keychain,
    certs_dir: PathBuf,
    hosts: Mutex<HashMap<String, HostState>>,
    max_attempts: u32,
}

/// The registry client. Cheap to clone; clones share tokens and connections.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// Options that tests and `doctor` change.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub certs_dir: PathBuf,
    pub max_attempts: u32,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            certs_dir: PathBuf::from("/etc/docker/certs.d"),
            max_attempts: 5,
        }
    }
}

fn io_err(what: impl Into<String>, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Io {
        what: what.into(),
        cause: e.to_string(),
    }
}

/// The full cause chain of an error, for messages.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// True when a TLS handshake failed because the server answered in plain HTTP (rustls sees
/// an HTTP response where a TLS record should be).
pub fn is_plain_http(cause: &str) -> bool {
    cause.contains("InvalidContentType")
        || cause.contains("corrupt message")
        || cause.contains("wrong version number")
}

/// `sha256:<hex>` of bytes.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

impl Client {
    pub fn new(settings: &Settings) -> Self {
        Self::with_options(settings, ClientOptions::default())
    }

    pub fn with_options(settings: &Settings, opts: ClientOptions) -> Self {
        Client {
            inner: Arc::new(Inner {
                settings: settings.clone(),
                keychain: Keychain::from_settings(settings),
                certs_dir: opts.certs_dir,
                hosts: Mutex::new(HashMap::new()),
                max_attempts: opts.max_attempts.max(1),
            }),
        }
    }

    fn policy(&self, host: &str) -> crate::settings::RegistryPolicy {
        self.inner.settings.registry_policy(host)
    }

    fn with_host<T>(&self, host: &str, f: impl FnOnce(&mut HostState) -> T) -> T {
        let mut hosts = match self.inner.hosts.lock() {
            Ok(h) => h,
            Err(p) => p.into_inner(),
        };
        f(hosts.entry(host.to_string()).or_default())
    }

    /// The credentials used for `host` and where they came from.
    pub fn credentials(&self, host: &str) -> Result<Option<Found>, RegistryError> {
        if let Some(c) = self.with_host(host, |h| h.creds.clone()) {
            return Ok(c);
        }
        let found = self.inner.keychain.lookup(host)?;
        self.with_host(host, |h| h.creds = Some(found.clone()));
        Ok(found)
    }

    fn source_desc(&self, host: &str) -> String {
        match self.credentials(host) {
            Ok(Some(f)) => format!("credentials from {}", f.source),
            Ok(None) => "anonymous: no credentials found in docker config.json, credential helpers or SLIPWAY_REGISTRY_USERNAME/PASSWORD".to_string(),
            Err(e) => e.to_string(),
        }
    }

    /// An HTTP client for `host` trusting the system roots plus its certs.d CAs.
    fn http(&self, host: &str) -> Result<reqwest::Client, RegistryError> {
        if let Some(c) = self.with_host(host, |h| h.http.clone()) {
            return Ok(c);
        }
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(Duration::from_secs(15))
            .pool_max_idle_per_host(16)
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")));
        if self.policy(host).skip_verify {
            b = b.danger_accept_invalid_certs(true);
        }
        let dir = self.inner.certs_dir.join(host);
        if let Ok(entries) = std::fs::read_dir(&dir) {
            let mut files: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            files.sort();
            for p in &files {
                let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
                if ext == "crt" {
                    let pem = std::fs::read(p).map_err(|e| io_err(p.display().to_string(), e))?;
                    for cert in reqwest::Certificate::from_pem_bundle(&pem)
                        .map_err(|e| io_err(p.display().to_string(), e))?
                    {
                        b = b.add_root_certificate(cert);
                    }
                } else if ext == "cert" {
                    let key = p.with_extension("key");
                    if key.is_file() {
                        let mut pem =
                            std::fs::read(p).map_err(|e| io_err(p.display().to_string(), e))?;
                        pem.extend(
                            std::fs::read(&key)
                                .map_err(|e| io_err(key.display().to_string(), e))?,
                        );
                        let id = reqwest::Identity::from_pem(&pem)
                            .map_err(|e| io_err(p.display().to_string(), e))?;
                        b = b.identity(id);
                    }
                }
            }
        }
        let c = b
            .build()
            .map_err(|e| io_err(format!("TLS setup for {host}"), chain(&e)))?;
        self.with_host(host, |h| h.http = Some(c.clone()));
        Ok(c)
    }

    /// `https://host`, or `http://host` for a host that may use plain HTTP (see
    /// [`Settings::registry_policy`]) and does not speak TLS. A certificate error is not a
    /// reason to fall back: only a host that answers plain HTTP is used over HTTP.
    async fn base(&self, host: &str) -> Result<String, RegistryError> {
        if let Some(s) = self.with_host(host, |h| h.scheme) {
            return Ok(format!("{s}://{host}"));
        }
        let http = self.http(host)?;
        let policy = self.policy(host);
        let scheme = if policy.allow_http {
            match http.get(format!("https://{host}/v2/")).send().await {
                Ok(_) => "https",
                Err(e) if policy.skip_verify || is_plain_http(&chain(&e)) => "http",
                Err(_) => "https",
            }
        } else {
            "https"
        };
        self.with_host(host, |h| h.scheme = Some(scheme));
        Ok(format!("{scheme}://{host}"))
    }

    /// Send a request built by `make(http, base_url)`, with auth for `scopes`, retries
    /// (when `idempotent`) and error mapping of connection failures. The response status
    /// is left to the caller, except 401 (auth retried once, then `Unauthorized`).
    pub async fn send(
        &self,
        host: &str,
        scopes: &[String],
        idempotent: bool,
        make: &(dyn Fn(&reqwest::Client, &str) -> RequestBuilder + Sync),
    ) -> Result<Response, RegistryError> {
        let http = self.http(host)?;
        let base = self.base(host).await?;
        let key = scopes.join(" ");
        let mut auth_tries = 0;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = make(&http, &base);
            let sent = self.with_host(host, |h| {
                h.auth.get(&key).or_else(|| h.auth.get("")).cloned()
            });
            if let Some(a) = &sent {
                req = req.header(header::AUTHORIZATION, a);
            }
            let req = req
                .build()
                .map_err(|e| io_err(format!("request to {host}"), e))?;
            let method = req.method().to_string();
            let path = req.url().path().to_string();
            tracing::debug!(%method, %path, host, attempt, "registry request");
            match http.execute(req).await {
                Err(e) => {
                    let cause = chain(&e);
                    // Retrying cannot help a TLS client talking to a plain-HTTP server.
                    if is_plain_http(&cause) && base.starts_with("https://") {
                        return Err(RegistryError::PlainHttp {
                            host: host.to_string(),
                        });
                    }
                    let tls = cause.contains("certificate")
                        || cause.contains("UnknownIssuer")
                        || cause.contains("tls");
                    if tls && !cause.contains("connection reset") {
                        return Err(RegistryError::Tls {
                            host: host.to_string(),
                            cause,
                        });
                    }
                    if idempotent && attempt < self.inner.max_attempts {
                        tracing::warn!(host, %method, %path, attempt, "retrying after: {cause}");
                        tokio::time::sleep(backoff(attempt, None)).await;
                        continue;
                    }
                    return Err(RegistryError::Unreachable {
                        host: host.to_string(),
                        cause,
                    });
                }
                Ok(resp) => {
                    let status = resp.status();
                    if status == StatusCode::UNAUTHORIZED {
                        // Another request may have authenticated meanwhile: retry with it.
                        let now = self.with_host(host, |h| {
                            h.auth.get(&key).or_else(|| h.auth.get("")).cloned()
                        });
                        if now.is_some() && now != sent && auth_tries <= 2 {
                            auth_tries += 1;
                            continue;
                        }
                        auth_tries += 1;
                        let challenge = resp
                            .headers()
                            .get(header::WWW_AUTHENTICATE)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string();
                        if auth_tries <= 2
                            && self.authenticate(host, &key, scopes, &challenge).await?
                        {
                            continue;
                        }
                        return Err(RegistryError::Unauthorized {
                            host: host.to_string(),
                            what: format!("{method} {path}"),
                            source_desc: self.source_desc(host),
                        });
                    }
                    let retryable =
                        status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    if retryable && idempotent && attempt < self.inner.max_attempts {
                        let after = resp
                            .headers()
                            .get(header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .map(|s| Duration::from_secs(s.min(60)));
                        tracing::warn!(host, %method, %path, attempt, %status, "retrying");
                        tokio::time::sleep(backoff(attempt, after)).await;
                        continue;
                    }
                    return Ok(resp);
                }
            }
        }
    }

    /// Answer a 401 challenge: store a `Basic` or fetch a `Bearer` token. `false` when
    /// there is nothing new to try.
    async fn authenticate(
        &self,
        host: &str,
        key: &str,
        scopes: &[String],
        challenge: &str,
    ) -> Result<bool, RegistryError> {
        let creds = self.credentials(host)?;
        let (kind, params) = parse_challenge(challenge);
        if kind.eq_ignore_ascii_case("basic") {
            let Some(Found {
                credential: Credential::Basic { username, password },
                ..
            }) = creds
            else {
                return Ok(false);
            };
            let value = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            );
            let fresh = self.with_host(host, |h| {
                let same = h.auth.get("") == Some(&value);
                h.auth.insert(String::new(), value);
                !same
            });
            return Ok(fresh);
        }
        if !kind.eq_ignore_ascii_case("bearer") {
            return Ok(false);
        }
        let Some(realm) = params.get("realm") else {
            return Ok(false);
        };
        let http = self.http(host)?;
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(s) = params.get("service") {
            query.push(("service", s.clone()));
        }
        for s in scopes {
            query.push(("scope", s.clone()));
        }
        let realm_host = url::Url::parse(realm)
            .ok()
            .and_then(|u| u.host_str().map(|h| h.to_string()))
            .unwrap_or_default();
        let req = match &creds {
            Some(Found {
                credential: Credential::IdentityToken(t),
                ..
            }) => {
                let mut form = query.clone();
                form.push(("grant_type", "refresh_token".into()));
                form.push(("refresh_token", t.clone()));
                form.push(("client_id", "slipway".into()));
                http.post(realm).form(&form)
            }
            Some(Found {
                credential: Credential::Basic { username, password },
                ..
            }) => http
                .get(realm)
                .query(&query)
                .basic_auth(username, Some(password)),
            None => http.get(realm).query(&query),
        };
        let resp = req.send().await.map_err(|e| RegistryError::Unreachable {
            host: realm_host.clone(),
            cause: format!("token service: {}", chain(&e)),
        })?;
        if resp.status() == StatusCode::UNAUTHORIZED || resp.status() == StatusCode::FORBIDDEN {
            return Err(RegistryError::Unauthorized {
                host: host.to_string(),
                what: format!("a token for {}", scopes.join(" ")),
                source_desc: self.source_desc(host),
            });
        }
        if !resp.status().is_success() {
            return Err(RegistryError::Status {
                method: "GET".into(),
                url: realm.clone(),
                status: resp.status().as_u16(),
                message: "token service failed".into(),
            });
        }
        #[derive(Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: Token = resp.json().await.map_err(|e| io_err("token answer", e))?;
        let Some(token) = t.token.or(t.access_token) else {
            return Ok(false);
        };
        let value = format!("Bearer {token}");
        let fresh = self.with_host(host, |h| {
            let same = h.auth.get(key) == Some(&value);
            h.auth.insert(key.to_string(), value);
            !same
        });
        Ok(fresh)
    }

    /// Map a non-success response to an error.
    async fn fail(&self, host: &str, repo: &str, what: &str, resp: Response) -> RegistryError {
        let status = resp.status();
        let url = resp.url().to_string();
        let method = what.to_string();
        let text = resp.text().await.unwrap_or_default();
        let body: ErrorBody = serde_json::from_str(&text).unwrap_or_default();
        let message = body
            .errors
            .iter()
            .map(|e| format!("{} {}", e.code, e.message).trim().to_string())
            .collect::<Vec<_>>()
            .join("; ");
        let message = if message.is_empty() {
            text.chars()
                .take(300)
                .collect::<String>()
                .trim()
                .to_string()
        } else {
            message
        };
        let lower = message.to_lowercase();
        let code = |c: &str| body.errors.iter().any(|e| e.code == c);
        if code("NAME_UNKNOWN") || lower.contains("repositorynotfoundexception") {
            let pushing = what.starts_with("PUT") || what.starts_with("POST");
            let hint = if lower.contains("repositorynotfoundexception")
                || host.contains(".dkr.ecr.")
                || pushing
            {
                format!(
                    ": this registry does not create repositories on push (ECR, for one); create it first, e.g. `aws ecr create-repository --repository-name {repo}`"
                )
            } else {
                String::new()
            };
            return RegistryError::NameUnknown {
                host: host.to_string(),
                repository: repo.to_string(),
                hint,
            };
        }
        if matches!(status.as_u16(), 400 | 403 | 409)
            && (lower.contains("immutable") || lower.contains("already exists"))
        {
            return RegistryError::TagImmutable {
                reference: format!("{host}/{repo}"),
                message,
            };
        }
        if status == StatusCode::FORBIDDEN || code("DENIED") {
            return RegistryError::Denied {
                host: host.to_string(),
                what: format!("{what} on {repo}"),
                message,
                source_desc: self.source_desc(host),
            };
        }
        RegistryError::Status {
            method,
            url,
            status: status.as_u16(),
            message,
        }
    }

    fn scope(repo: &str, actions: &str) -> String {
        format!("repository:{repo}:{actions}")
    }

    /// `GET /v2/`: reachable, TLS trusted, credentials accepted.
    pub async fn ping(&self, host: &str) -> Result<(), RegistryError> {
        let resp = self
            .send(host, &[], true, &|c, b| c.get(format!("{b}/v2/")))
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(self.fail(host, "", "GET /v2/", resp).await)
        }
    }

    /// HEAD or GET a manifest, accepting every manifest type; `None` on 404.
    async fn manifest_request(
        &self,
        repo: &Repository,
        reference: &str,
        method: Method,
    ) -> Result<Option<Response>, RegistryError> {
        let path = &repo.path;
        let resp = self
            .send(&repo.host, &[Self::scope(path, "pull")], true, &|c, b| {
                c.request(
                    method.clone(),
                    format!("{b}/v2/{path}/manifests/{reference}"),
                )
                .header(header::ACCEPT, ACCEPT_MANIFESTS)
            })
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(self
                .fail(&repo.host, path, &format!("{method} manifest"), resp)
                .await);
        }
        Ok(Some(resp))
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
        let resp = self
            .send(
                &repo.host,
                &[Self::scope(path, "pull,push")],
                true,
                &|c, b| {
                    c.put(format!("{b}/v2/{path}/manifests/{reference}"))
                        .header(header::CONTENT_TYPE, media_type)
                        .body(body.clone())
                },
            )
            .await?;
        if !resp.status().is_success() {
            let e = self.fail(&repo.host, path, "PUT manifest", resp).await;
            return Err(match e {
                RegistryError::TagImmutable { message, .. } => RegistryError::TagImmutable {
                    reference: format!("{repo}:{reference}"),
                    message,
                },
                other => other,
            });
        }
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

    /// DELETE a manifest by digest (removes every tag pointing at it).
    pub async fn delete_manifest(
        &self,
        repo: &Repository,
        digest: &str,
    ) -> Result<(), RegistryError> {
        let path = &repo.path;
        let resp = self
            .send(&repo.host, &[Self::scope(path, "delete")], true, &|c, b| {
                c.delete(format!("{b}/v2/{path}/manifests/{digest}"))
            })
            .await?;
        if resp.status().is_success() || resp.status() == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(self.fail(&repo.host, path, "DELETE manifest", resp).await)
        }
    }

    /// Does the repository hold this blob?
    pub async fn blob_exists(
        &self,
        repo: &Repository,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        let path = &repo.path;
        let resp = self
            .send(&repo.host, &[Self::scope(path, "pull")], true, &|c, b| {
                c.head(format!("{b}/v2/{path}/blobs/{digest}"))
            })
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.fail(&repo.host, path, "HEAD blob", resp).await),
        }
    }

    /// GET a blob as a response whose body the caller streams.
    pub async fn get_blob(
        &self,
        repo: &Repository,
        digest: &str,
    ) -> Result<Response, RegistryError> {
        let path = &repo.path;
        let resp = self
            .send(&repo.host, &[Self::scope(path, "pull")], true, &|c, b| {
                c.get(format!("{b}/v2/{path}/blobs/{digest}"))
            })
            .await?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(self.fail(&repo.host, path, "GET blob", resp).await)
        }
    }

    /// GET a small blob (a config) whole, verified against its digest.
    pub async fn get_blob_bytes(
        &self,
        repo: &Repository,
        digest: &str,
    ) -> Result<Bytes, RegistryError> {
        let resp = self.get_blob(repo, digest).await?;
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

    /// Start an upload, asking to mount `digest` from `from` (same registry). `Ok(None)`
    /// when the blob was mounted; otherwise the upload URL to continue with.
    async fn start_upload(
        &self,
        repo: &Repository,
        mount: Option<(&str, &str)>,
    ) -> Result<Option<String>, RegistryError> {
        let path = &repo.path;
        let mut scopes = vec![Self::scope(path, "pull,push")];
        if let Some((_, from)) = mount {
            scopes.push(Self::scope(from, "pull"));
        }
        let resp = self
            .send(&repo.host, &scopes, true, &|c, b| {
                let mut r = c
                    .post(format!("{b}/v2/{path}/blobs/uploads/"))
                    .header(header::CONTENT_LENGTH, 0);
                if let Some((d, from)) = mount {
                    r = r.query(&[("mount", d), ("from", from)]);
                }
                r
            })
            .await?;
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
                let base = self.base(&repo.host).await?;
                Ok(Some(absolute(&base, &loc)))
            }
            _ => Err(self.fail(&repo.host, path, "POST blob upload", resp).await),
        }
    }

    /// Open an upload session; returns its URL.
    pub async fn start_blob_upload(&self, repo: &Repository) -> Result<String, RegistryError> {
        self.start_upload(repo, None).await?.ok_or_else(|| {
            io_err(
                format!("upload to {repo}"),
                "registry mounted instead of opening a session",
            )
        })
    }

    /// Send a blob's bytes as one streamed PATCH (length and digest unknown up front: the
    /// compressor feeds it while it runs). Returns the URL to finish the upload at.
    pub async fn patch_stream(
        &self,
        repo: &Repository,
        url: &str,
        body: reqwest::Body,
    ) -> Result<String, RegistryError> {
        let body = Mutex::new(Some(body));
        let resp = self
            .send(
                &repo.host,
                &[Self::scope(&repo.path, "pull,push")],
                false,
                &|c, _| {
                    let b = body
                        .lock()
                        .ok()
                        .and_then(|mut b| b.take())
                        .unwrap_or_else(|| reqwest::Body::from(Vec::new()));
                    c.patch(url)
                        .header(header::CONTENT_TYPE, "application/octet-stream")
                        .body(b)
                },
            )
            .await?;
        if resp.status() != StatusCode::ACCEPTED && !resp.status().is_success() {
            return Err(self.fail(&repo.host, &repo.path, "PATCH blob", resp).await);
        }
        let loc = header_str(resp.headers(), "location");
        if loc.is_empty() {
            return Ok(url.to_string());
        }
        let base = self.base(&repo.host).await?;
        Ok(absolute(&base, &loc))
    }

    /// Close an upload session with the blob's digest (the registry checks it).
    pub async fn finish_upload(
        &self,
        repo: &Repository,
        url: &str,
        digest: &str,
    ) -> Result<(), RegistryError> {
        let resp = self
            .send(
                &repo.host,
                &[Self::scope(&repo.path, "pull,push")],
                true,
                &|c, _| {
                    c.put(with_query(url, "digest", digest))
                        .header(header::CONTENT_LENGTH, 0)
                },
            )
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(self.fail(&repo.host, &repo.path, "PUT blob", resp).await)
        }
    }

    /// Mount `digest` from another repository of the same registry. `false` when the
    /// registry did not mount it (the caller uploads instead).
    pub async fn mount_blob(
        &self,
        repo: &Repository,
        digest: &str,
        from: &str,
    ) -> Result<bool, RegistryError> {
        match self.start_upload(repo, Some((digest, from))).await? {
            None => Ok(true),
            Some(url) => {
                // Cancel the session the registry opened instead of mounting.
                let _ = self
                    .send(
                        &repo.host,
                        &[Self::scope(&repo.path, "pull,push")],
                        true,
                        &|c, _| c.delete(&url),
                    )
                    .await;
                Ok(false)
            }
        }
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
        let chunked = match mode {
            UploadMode::Monolithic => false,
            UploadMode::Chunked => true,
            UploadMode::Auto => source.len() > 32 * 1024 * 1024,
        };
        let mut last = None;
        for attempt in 1..=self.inner.max_attempts {
            let r = if chunked {
                match self.upload_chunked(repo, digest, source).await {
                    Err(RegistryError::Status {
                        status: 400 | 404 | 405 | 416 | 501,
                        ..
                    }) => {
                        tracing::info!(%repo, "registry rejected chunked upload; uploading in one request");
                        self.upload_monolithic(repo, digest, source).await
                    }
                    other => other,
                }
            } else {
                self.upload_monolithic(repo, digest, source).await
            };
            match r {
                Ok(()) => return Ok(()),
                Err(e @ (RegistryError::Unreachable { .. } | RegistryError::Io { .. })) => {
                    tracing::warn!(%repo, digest, attempt, "upload failed, restarting: {e}");
                    last = Some(e);
                    tokio::time::sleep(backoff(attempt, None)).await;
                }
                Err(RegistryError::Status {
                    status,
                    method,
                    url,
                    message,
                }) if status >= 500 || status == 429 => {
                    last = Some(RegistryError::Status {
                        status,
                        method,
                        url,
                        message,
                    });
                    tokio::time::sleep(backoff(attempt, None)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io_err(format!("upload {digest}"), "failed")))
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
        let body = source
            .body(0, source.len())
            .await
            .map_err(|e| io_err(format!("reading blob {digest}"), e))?;
        let body = Mutex::new(Some(body));
        let len = source.len();
        let resp = self
            .send(
                &repo.host,
                &[Self::scope(&repo.path, "pull,push")],
                false,
                &|c, _| {
                    let b = body
                        .lock()
                        .ok()
                        .and_then(|mut b| b.take())
                        .unwrap_or_else(|| reqwest::Body::from(Vec::new()));
                    c.put(with_query(&url, "digest", digest))
                        .header(header::CONTENT_TYPE, "application/octet-stream")
                        .header(header::CONTENT_LENGTH, len)
                        .body(b)
                },
            )
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(self.fail(&repo.host, &repo.path, "PUT blob", resp).await)
        }
    }

    async fn upload_chunked(
        &self,
        repo: &Repository,
        digest: &str,
        source: &BlobSource,
    ) -> Result<(), RegistryError> {
        const CHUNK: u64 = 16 * 1024 * 1024;
        let Some(mut url) = self.start_upload(repo, None).await? else {
            return Ok(());
        };
        let total = source.len();
        let mut offset = 0;
        let base = self.base(&repo.host).await?;
        while offset < total {
            let len = CHUNK.min(total - offset);
            let body = source
                .body(offset, len)
                .await
                .map_err(|e| io_err(format!("reading blob {digest}"), e))?;
            let body = Mutex::new(Some(body));
            let end = offset + len - 1;
            let resp = self
                .send(
                    &repo.host,
                    &[Self::scope(&repo.path, "pull,push")],
                    false,
                    &|c, _| {
                        let b = body
                            .lock()
                            .ok()
                            .and_then(|mut b| b.take())
                            .unwrap_or_else(|| reqwest::Body::from(Vec::new()));
                        c.patch(&url)
                            .header(header::CONTENT_TYPE, "application/octet-stream")
                            .header(header::CONTENT_RANGE, format!("{offset}-{end}"))
                            .header(header::CONTENT_LENGTH, len)
                            .body(b)
                    },
                )
                .await?;
            if resp.status() != StatusCode::ACCEPTED && !resp.status().is_success() {
                return Err(self.fail(&repo.host, &repo.path, "PATCH blob", resp).await);
            }
            let loc = header_str(resp.headers(), "location");
            if !loc.is_empty() {
                url = absolute(&base, &loc);
            }
            offset += len;
        }
        let resp = self
            .send(
                &repo.host,
                &[Self::scope(&repo.path, "pull,push")],
                false,
                &|c, _| {
                    c.put(with_query(&url, "digest", digest))
                        .header(header::CONTENT_LENGTH, 0)
                },
            )
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(self.fail(&repo.host, &repo.path, "PUT blob", resp).await)
        }
    }

    /// Every tag of a repository, following `Link` pagination. Empty when it does not exist.
    pub async fn list_tags(&self, repo: &Repository) -> Result<Vec<String>, RegistryError> {
        let path = &repo.path;
        let base = self.base(&repo.host).await?;
        let mut next = Some(format!("{base}/v2/{path}/tags/list?n=1000"));
        let mut tags = Vec::new();
        while let Some(url) = next.take() {
            let resp = self
                .send(&repo.host, &[Self::scope(path, "pull")], true, &|c, _| {
                    c.get(&url)
                })
                .await?;
            if resp.status() == StatusCode::NOT_FOUND {
                return Ok(tags);
            }
            if !resp.status().is_success() {
                return Err(self.fail(&repo.host, path, "GET tags", resp).await);
            }
            next = link_next(resp.headers()).map(|l| absolute(&base, &l));
            #[derive(Deserialize)]
            struct Tags {
                #[serde(default)]
                tags: Option<Vec<String>>,
            }
            let t: Tags = resp
                .json()
                .await
                .map_err(|e| io_err(format!("tags of {repo}"), e))?;
            tags.extend(t.tags.unwrap_or_default());
        }
        Ok(tags)
    }
}

fn header_str(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn absolute(base: &str, loc: &str) -> String {
    if loc.starts_with("http://") || loc.starts_with("https://") {
        loc.to_string()
    } else {
        format!("{base}{loc}")
    }
}

fn with_query(url: &str, k: &str, v: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{k}={}", v.replace(':', "%3A"))
}

/// `<url>; rel="next"` from a `Link` header.
fn link_next(h: &HeaderMap) -> Option<String> {
    let v = h.get(header::LINK)?.to_str().ok()?;
    v.split(',').find_map(|part| {
        let (u, rest) = part.trim().split_once(';')?;
        rest.contains("rel=\"next\"").then(|| {
            u.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

/// `Bearer realm="..",service="..",scope=".."` → ("Bearer", params).
fn parse_challenge(c: &str) -> (String, HashMap<String, String>) {
    let (kind, rest) = c.trim().split_once(' ').unwrap_or((c.trim(), ""));
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((k, v)) = rest.split_once('=') else {
            break;
        };
        let k = k.trim().trim_start_matches(',').trim().to_lowercase();
        let v = v.trim_start();
        let (val, tail) = if let Some(q) = v.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_string(), &q[end + 1..]),
                None => (q.to_string(), ""),
            }
        } else {
            match v.find(',') {
                Some(end) => (v[..end].to_string(), &v[end..]),
                None => (v.to_string(), ""),
            }
        };
        params.insert(k, val);
        rest = tail.trim_start_matches(',').trim();
    }
    (kind.to_string(), params)
}

/// Exponential backoff from 200 ms, or the server's `Retry-After`.
fn backoff(attempt: u32, after: Option<Duration>) -> Duration {
    after.unwrap_or_else(|| Duration::from_millis(200u64 << attempt.min(5)))
}

/// A method name for messages.
pub fn method_name(m: &Method) -> &str {
    m.as_str()
}

/// Where a local file-backed blob is (for callers building [`BlobSource::File`]).
pub fn file_blob(path: &Path, offset: u64, len: u64) -> BlobSource {
    BlobSource::File {
        path: path.to_path_buf(),
        offset,
        len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_and_links_parse() {
        let (k, p) = parse_challenge(
            r#"Bearer realm="https://auth.io/token",service="registry.io",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(k, "Bearer");
        assert_eq!(p["realm"], "https://auth.io/token");
        assert_eq!(p["service"], "registry.io");
        assert_eq!(p["scope"], "repository:a/b:pull,push");
        let (k, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(k, "Basic");
        assert_eq!(p["realm"], "Registry Realm");
        let mut h = HeaderMap::new();
        h.insert(
            header::LINK,
            HeaderValue::from_static(r#"</v2/a/tags/list?last=x&n=2>; rel="next""#),
        );
        assert_eq!(link_next(&h).as_deref(), Some("/v2/a/tags/list?last=x&n=2"));
    }
}
