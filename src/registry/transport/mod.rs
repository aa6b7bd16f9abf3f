//! The registry transport, in small layers as go-containerregistry's `remote/transport`:
//! [`tls`] (client and `certs.d` per host), [`scheme`] (https, plain http only where
//! allowed), [`bearer`] (Basic, Bearer per scope set, refreshed on 401), [`retry`] (one
//! policy) and [`error`] (registry answers → [`RegistryError`]). [`Transport::execute`]
//! composes them over a request *value* ([`Req`]) whose body can be sent again
//! ([`Body`]), so retries and re-authentication never rebuild a request by hand.
//!
//! Secrets are only ever in the `Authorization` header, which is never logged
//! ([`Req`]'s `Debug` redacts it).

pub mod bearer;
pub mod error;
mod progress;
mod request;
pub mod retry;
pub mod scheme;
pub mod tls;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use reqwest::header;
use reqwest::{Method, Response, StatusCode};

use super::credentials::keychain::{Found, Keychain};
use bearer::{Challenge, TokenAsk};
pub use error::{Advice, RegistryError};
use error::{Failure, chain, io_err};
use progress::{Progress, Watched};
pub(crate) use request::{Body, Req};
pub use retry::{Attempts, NetCause, Retry};
pub use scheme::{HostPolicy, Insecure};

/// Everything the registry client is configured with (resolved once by the CLI).
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// `--insecure-registry` / `--skip-tls-verify-registry`.
    pub insecure: Insecure,
    /// dockerd's `certs.d` layout: `DIR/HOST/ca.crt`, `DIR/HOST/client.{cert,key}`.
    pub certs_dir: PathBuf,
    /// `--registry-ca`: certificates trusted for every registry, as CAs and as the
    /// server's own certificate.
    pub extra_cas: Vec<PathBuf>,
    /// Where credentials are found.
    pub keychain: Keychain,
    pub retry: Retry,
    /// Advice added to errors (the vendors', plugged in by the CLI); none by default.
    pub advice: Option<Arc<dyn Advice>>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure: Insecure::default(),
            certs_dir: PathBuf::from("/etc/docker/certs.d"),
            extra_cas: Vec::new(),
            keychain: Keychain::default(),
            retry: Retry::default(),
            advice: None,
        }
    }
}

/// `resp` with its body under the stall timeout: the caller reads it after the request
/// returned, so a registry that stops mid-body must still fail.
fn watch_body(resp: Response, stall: std::time::Duration) -> Result<Response, RegistryError> {
    use reqwest::ResponseBuilderExt;
    let url = resp.url().clone();
    let resp: http::Response<reqwest::Body> = resp.into();
    let (parts, body) = resp.into_parts();
    let mut b = http::Response::builder()
        .status(parts.status)
        .version(parts.version)
        .url(url.clone());
    if let Some(h) = b.headers_mut() {
        *h = parts.headers;
    }
    b.body(reqwest::Body::wrap(Watched::timed(body, stall)))
        .map(Response::from)
        .map_err(|e| io_err(format!("the answer of {url}"), e))
}

/// One attempt's request: `req`'s headers and body (produced again for each attempt and
/// counted into `progress`), with `auth` as its `Authorization`.
async fn request(
    http: &reqwest::Client,
    req: &mut Req,
    url: &str,
    auth: Option<&str>,
    progress: &Progress,
    what: &str,
) -> Result<reqwest::RequestBuilder, RegistryError> {
    let mut rb = http
        .request(req.method.clone(), url)
        .headers(req.headers.clone());
    if let Some(a) = auth {
        rb = rb.header(header::AUTHORIZATION, a);
    }
    match req.body.for_attempt().await.map_err(|e| io_err(what, e))? {
        Some((b, len)) => {
            if let Some(len) = len {
                rb = rb.header(header::CONTENT_LENGTH, len);
            }
            rb = rb.body(reqwest::Body::wrap(Watched::counting(b, progress.clone())));
        }
        None if !matches!(req.method, Method::GET | Method::HEAD | Method::DELETE) => {
            rb = rb.header(header::CONTENT_LENGTH, 0);
        }
        None => {}
    }
    Ok(rb)
}

/// What a request asked for, as its 401 handling needs it.
struct Asked<'a> {
    host: &'a str,
    key: &'a str,
    scopes: &'a [String],
    /// The `Authorization` it was sent with.
    sent: Option<&'a str>,
}

#[derive(Default)]
struct HostState {
    scheme: Option<&'static str>,
    http: Option<reqwest::Client>,
    /// Why the host's certificate was last refused, in words.
    verdict: tls::Verdict,
    /// Whether the host has answered anything in this run: a refused connection before
    /// that is likely a wrong host or port, after it a restart.
    answered: bool,
    /// Authorization header per scope key (`Basic` is stored under "").
    auth: HashMap<String, String>,
    creds: Option<Option<Found>>,
    /// Why the host was given up on (it stopped answering, or could not be reached under
    /// the whole retry policy): later requests fail at once instead of each waiting out the
    /// timeouts and retries again.
    given_up: Option<String>,
}

struct Inner {
    opts: RegistryOptions,
    hosts: Mutex<HashMap<String, HostState>>,
}

/// Sends [`Req`]s. Cheap to clone; clones share per-host state (client, scheme, tokens).
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

impl Transport {
    pub fn new(opts: RegistryOptions) -> Transport {
        Transport {
            inner: Arc::new(Inner {
                opts,
                hosts: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn options(&self) -> &RegistryOptions {
        &self.inner.opts
    }

    /// How `host` may be spoken to.
    pub fn policy(&self, host: &str) -> HostPolicy {
        self.inner.opts.insecure.policy(host)
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
        let found = self.inner.opts.keychain.lookup(host)?;
        self.with_host(host, |h| h.creds = Some(found.clone()));
        Ok(found)
    }

    /// Where the credentials for `host` came from, for messages (never the secret).
    pub fn source_desc(&self, host: &str) -> String {
        match self.credentials(host) {
            Ok(Some(f)) => format!("credentials from {}", f.source),
            Ok(None) => "anonymous: no credentials found in docker config.json, credential helpers or SLIPWAY_REGISTRY_USERNAME/PASSWORD".to_string(),
            Err(e) => e.to_string(),
        }
    }

    fn http(&self, host: &str) -> Result<reqwest::Client, RegistryError> {
        if let Some(c) = self.with_host(host, |h| h.http.clone()) {
            return Ok(c);
        }
        let (c, verdict) = tls::client(
            host,
            &self.inner.opts.certs_dir,
            &self.inner.opts.extra_cas,
            self.policy(host).skip_verify,
        )?;
        self.with_host(host, |h| {
            h.http = Some(c.clone());
            h.verdict = verdict;
        });
        Ok(c)
    }

    /// `https://host`, or `http://host` where [`scheme::detect`] chose it.
    pub(crate) async fn base(&self, host: &str) -> Result<String, RegistryError> {
        if let Some(s) = self.with_host(host, |h| h.scheme) {
            return Ok(format!("{s}://{host}"));
        }
        let http = self.http(host)?;
        let stall = self.inner.opts.retry.stall;
        let detected = scheme::detect(&http, host, self.policy(host), stall)
            .await
            .map_err(|e| RegistryError::Unreachable {
                host: host.to_string(),
                cause: e.0,
            })?;
        let Some(scheme) = detected else {
            // A registry that does not answer its ping will not answer requests either.
            let e = RegistryError::TimedOut {
                host: host.to_string(),
                what: format!("GET https://{host}/v2/ (which scheme it speaks)"),
                secs: stall.as_secs(),
            };
            return Err(self.give_up(host, e));
        };
        self.with_host(host, |h| h.scheme = Some(scheme));
        Ok(format!("{scheme}://{host}"))
    }

    /// An absolute URL for a path or `Location` on `host`.
    pub(crate) async fn url(&self, host: &str, path: &str) -> Result<String, RegistryError> {
        if path.starts_with("http://") || path.starts_with("https://") {
            Ok(path.to_string())
        } else {
            Ok(format!("{}{path}", self.base(host).await?))
        }
    }

    fn stored_auth(&self, host: &str, key: &str) -> Option<String> {
        self.with_host(host, |h| {
            h.auth.get(key).or_else(|| h.auth.get("")).cloned()
        })
    }

    /// Send `req`: auth for its scopes (answering 401 challenges), retries under the one
    /// policy, connection failures mapped to errors. The status is left to the caller,
    /// except 401 on a registry request (re-authenticated, then `Unauthorized`).
    pub(crate) async fn execute(&self, mut req: Req) -> Result<Response, RegistryError> {
        let host = req.host.clone();
        let retry = self.inner.opts.retry;
        self.not_given_up(&req)?;
        let http = self.http(&host)?;
        let key = req.scopes.join(" ");
        let idempotent = req.idempotent && req.body.replayable();
        let method = req.method.to_string();
        let mut auth_tries = 0;
        let mut attempts = Attempts::new(retry);
        loop {
            let attempt = attempts.begin();
            let Some(url) = self.attempt_url(&req, &mut attempts, idempotent).await? else {
                continue;
            };
            let shown = url.split('?').next().unwrap_or(&url).to_string();
            let sent = if req.registry_auth {
                self.stored_auth(&host, &key)
            } else {
                None
            };
            let progress = Progress::new();
            let what = format!("{method} {shown}");
            let rb = request(&http, &mut req, &url, sent.as_deref(), &progress, &what).await?;
            tracing::debug!(%method, url = %shown, host, attempt, "registry request");
            let sent_request = tokio::select! {
                r = rb.send() => Some(r),
                () = progress.stalled(retry.stall) => None,
            };
            let resp = match sent_request {
                None => {
                    let e = RegistryError::TimedOut {
                        host: host.clone(),
                        what,
                        secs: retry.stall.as_secs(),
                    };
                    tracing::debug!(host, %method, url = %shown, attempt, "{e}");
                    let idle = progress.idle();
                    self.after_stall(&mut attempts, idempotent, idle, e, attempt)
                        .await?;
                    continue;
                }
                Some(Ok(r)) => r,
                Some(Err(e)) => {
                    let (cause, connect) = self.send_failure(&host, &url, e)?;
                    tracing::debug!(host, %method, url = %shown, attempt, "failed: {cause}");
                    let idle = progress.idle();
                    self.net_failure(&host, &mut attempts, idempotent, idle, cause, connect)
                        .await?;
                    continue;
                }
            };
            self.with_host(&host, |h| h.answered = true);
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && req.registry_auth {
                let asked = Asked {
                    host: &host,
                    key: &key,
                    scopes: &req.scopes,
                    sent: sent.as_deref(),
                };
                self.unauthorized(&asked, &mut auth_tries, resp, &method)
                    .await?;
                continue;
            }
            if Retry::transient_status(status)
                && let Some(wait) = attempts.next(
                    idempotent,
                    progress.idle(),
                    false,
                    Retry::retry_after(resp.headers()),
                )
            {
                tracing::debug!(host, %method, url = %shown, attempt, %status, "retrying");
                tracing::warn!(
                    "registry {host}: answered {status}; retrying in {} ms (attempt {})",
                    wait.as_millis(),
                    attempt + 1
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            return watch_body(resp, retry.stall);
        }
    }

    /// Fails at once when `req`'s host was given up on earlier in this run.
    fn not_given_up(&self, req: &Req) -> Result<(), RegistryError> {
        match self.with_host(&req.host, |h| h.given_up.clone()) {
            Some(earlier) => Err(RegistryError::GivenUp {
                host: req.host.clone(),
                earlier,
                what: format!("{} {}", req.method, req.path),
            }),
            None => Ok(()),
        }
    }

    /// The URL for this attempt of `req`. The scheme is found with the first attempt: a
    /// host that cannot be reached fails that attempt, under the same rules as a request
    /// (`None`: try again).
    async fn attempt_url(
        &self,
        req: &Req,
        attempts: &mut Attempts,
        idempotent: bool,
    ) -> Result<Option<String>, RegistryError> {
        match self.url(&req.host, &req.path).await {
            Ok(u) => Ok(Some(u)),
            Err(RegistryError::Unreachable { cause, .. }) => {
                let idle = std::time::Duration::ZERO;
                self.net_failure(&req.host, attempts, idempotent, idle, cause, true)
                    .await?;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// After attempt `attempt` moved no data for the stall time (`e`, a `TimedOut`): `Ok`
    /// once the wait before the next attempt is over, else the error to return.
    async fn after_stall(
        &self,
        attempts: &mut Attempts,
        idempotent: bool,
        idle: std::time::Duration,
        e: RegistryError,
        attempt: u32,
    ) -> Result<(), RegistryError> {
        let RegistryError::TimedOut { host, secs, .. } = &e else {
            return Err(e);
        };
        match attempts.next(idempotent, idle, true, None) {
            Some(wait) => {
                tracing::warn!(
                    "registry {host}: no data for {secs} s; retrying (attempt {})",
                    attempt + 1
                );
                tokio::time::sleep(wait).await;
                Ok(())
            }
            // Retried and silent again: the host is down for this run. A request that
            // could not be repeated is left to its caller's loop (an upload session
            // restarts once).
            None if idempotent => {
                let host = host.clone();
                Err(self.give_up(&host, e))
            }
            None => Err(e),
        }
    }

    /// A request that failed before any answer: the error to return at once (plain HTTP
    /// on a TLS connection, a TLS failure), else the failure's cause chain and whether it
    /// happened while connecting, for [`Self::net_failure`].
    fn send_failure(
        &self,
        host: &str,
        url: &str,
        e: reqwest::Error,
    ) -> Result<(String, bool), RegistryError> {
        // The URL would be matched too (a repository named `tls/app` read as a TLS
        // failure); the host names where.
        let e = e.without_url();
        let cause = chain(&e);
        // Retrying cannot help a TLS client talking to a plain-HTTP server.
        if scheme::is_plain_http(&cause) && url.starts_with("https://") {
            return Err(RegistryError::PlainHttp {
                host: host.to_string(),
            });
        }
        let alert = tls::server_alert(&cause);
        let tls = alert.is_some()
            || cause.contains("certificate")
            || cause.contains("UnknownIssuer")
            || cause.contains("tls");
        if tls && !cause.contains("connection reset") {
            let certs_dir = self.inner.opts.certs_dir.display();
            let verdict = self.with_host(host, |h| h.verdict.take());
            let cause = match (verdict, alert) {
                (Some(words), _) => words,
                // The server refused this client, not the other way round.
                (None, Some(alert)) => format!(
                    "registry {host} ended the TLS handshake ({alert}): if it wants a client certificate, put it in {certs_dir}/{host}/client.cert with its client.key"
                ),
                (None, None) => format!(
                    "{cause} (trust its CA in {certs_dir}/{host}/ca.crt, or pass --insecure-registry {host})"
                ),
            };
            return Err(RegistryError::Tls {
                host: host.to_string(),
                cause,
            });
        }
        Ok((cause, e.is_connect()))
    }

    /// A 401 to a registry request: `Ok` to send it again (another request authenticated
    /// meanwhile, or the challenge was answered with something new), else `Unauthorized`.
    async fn unauthorized(
        &self,
        asked: &Asked<'_>,
        auth_tries: &mut u32,
        resp: Response,
        method: &str,
    ) -> Result<(), RegistryError> {
        let Asked {
            host,
            key,
            scopes,
            sent,
        } = *asked;
        // Another request may have authenticated meanwhile: retry with it.
        let now = self.stored_auth(host, key);
        if now.is_some() && now.as_deref() != sent && *auth_tries <= 2 {
            *auth_tries += 1;
            return Ok(());
        }
        *auth_tries += 1;
        let challenge = resp
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let challenge = Challenge::parse(challenge);
        if *auth_tries <= 2 && self.authenticate(host, key, scopes, &challenge).await? {
            return Ok(());
        }
        let path = resp.url().path().to_string();
        Err(RegistryError::Unauthorized {
            what: format!("{method} {path}"),
            source_desc: self.source_desc(host),
            host: host.to_string(),
        })
    }

    /// After an attempt that met a network failure (`cause`, its chain): `Ok` once the
    /// wait before the next attempt is over, else the error to return. How often is
    /// [`NetCause::max_attempts`] within the policy; one short WARN line per retry.
    async fn net_failure(
        &self,
        host: &str,
        attempts: &mut Attempts,
        idempotent: bool,
        idle: std::time::Duration,
        cause: String,
        connect: bool,
    ) -> Result<(), RegistryError> {
        let class = NetCause::of(&cause);
        let answered = self.with_host(host, |h| h.answered);
        let capped = class
            .max_attempts(answered)
            .is_some_and(|max| attempts.n >= max);
        let what = class.describe(&cause);
        if !capped && let Some(wait) = attempts.next(idempotent, idle, false, None) {
            tracing::warn!(
                "registry {host}: {what}; retrying in {} ms (attempt {})",
                wait.as_millis(),
                attempts.n + 1
            );
            tokio::time::sleep(wait).await;
            return Ok(());
        }
        let n = attempts.n;
        let tries = if n == 1 {
            "1 attempt".to_string()
        } else {
            format!("{n} attempts")
        };
        // The short words say it for the known classes; anything else keeps its chain.
        let cause = match class {
            NetCause::Other => format!("{cause} ({tries})"),
            _ => format!("{what} ({tries})"),
        };
        let e = RegistryError::Unreachable {
            host: host.to_string(),
            cause,
        };
        // A host no connection reaches under the whole policy is down for this run; a
        // connection broken mid-request says nothing of the next one.
        Err(if connect && idempotent {
            self.give_up(host, e)
        } else {
            e
        })
    }

    /// Answer a 401 challenge: store a `Basic` header or fetch a `Bearer` token for the
    /// scopes. `false` when there is nothing new to try.
    async fn authenticate(
        &self,
        host: &str,
        key: &str,
        scopes: &[String],
        challenge: &Challenge,
    ) -> Result<bool, RegistryError> {
        let creds = self.credentials(host)?;
        let (slot, value) = if challenge.is("basic") {
            match bearer::basic(creds.as_ref()) {
                Some(v) => (String::new(), v),
                None => return Ok(false),
            }
        } else if challenge.is("bearer") {
            if creds.is_some() {
                self.check_realm(host, challenge)?;
            }
            let http = self.http(host)?;
            let desc = || self.source_desc(host);
            let ask = TokenAsk {
                host,
                scopes,
                credential: creds.as_ref(),
                source_desc: &desc,
            };
            // A token answer is small: the stall time bounds the whole request.
            let stall = self.inner.opts.retry.stall;
            let token = tokio::time::timeout(stall, bearer::fetch_token(&http, challenge, &ask))
                .await
                .map_err(|_| RegistryError::TimedOut {
                    host: host.to_string(),
                    what: "the token request".into(),
                    secs: stall.as_secs(),
                })??;
            match token {
                Some(v) => (key.to_string(), v),
                None => return Ok(false),
            }
        } else {
            return Ok(false);
        };
        Ok(self.with_host(host, |h| {
            let fresh = h.auth.get(&slot) != Some(&value);
            h.auth.insert(slot, value);
            fresh
        }))
    }

    /// Remember that `host` failed beyond the retry policy (silent, or unreachable), so
    /// the rest of the run fails at once; returns `e`.
    fn give_up(&self, host: &str, e: RegistryError) -> RegistryError {
        let text = e.to_string();
        self.with_host(host, |h| h.given_up = Some(text));
        e
    }

    /// Credentials go to a token realm in plain HTTP only where the user allowed plain HTTP:
    /// a loopback realm, the registry's own host when it may use HTTP, or a host named by
    /// `--insecure-registry`. docker sends them anyway; a realm on another host could be
    /// anyone's on the path.
    fn check_realm(&self, host: &str, challenge: &Challenge) -> Result<(), RegistryError> {
        let Some(realm) = challenge.params.get("realm") else {
            return Ok(());
        };
        let Ok(url) = url::Url::parse(realm) else {
            return Ok(());
        };
        if url.scheme() != "http" {
            return Ok(());
        }
        let name = url.host_str().unwrap_or_default();
        let realm_host = match url.port() {
            Some(p) => format!("{name}:{p}"),
            None => name.to_string(),
        };
        let registry_name = host.rsplit_once(':').map_or(host, |(n, _)| n);
        let insecure = &self.inner.opts.insecure;
        let allowed = scheme::is_loopback(&realm_host)
            || insecure.policy(&realm_host).insecure
            || insecure.policy(name).insecure
            || (name.eq_ignore_ascii_case(registry_name) && insecure.policy(host).allow_http);
        if allowed {
            return Ok(());
        }
        Err(RegistryError::PlainHttpRealm {
            host: host.to_string(),
            realm: realm.clone(),
            realm_host,
        })
    }

    /// The error a non-success answer means; `what` names the request ("PUT manifest").
    pub(crate) async fn fail(
        &self,
        host: &str,
        repo: &str,
        what: &str,
        resp: Response,
    ) -> RegistryError {
        let status = resp.status().as_u16();
        let url = resp.url().to_string();
        let text = resp.text().await.unwrap_or_default();
        let pushing = what.starts_with("PUT") || what.starts_with("POST");
        let not_found_hint = (self.inner.opts.advice.as_ref())
            .and_then(|a| a.not_found(host, repo, pushing, &text))
            .unwrap_or_default();
        let lower = text.to_lowercase();
        let needs_desc = status == 403 || lower.contains("denied");
        Failure {
            host,
            repo,
            what,
            url,
            status,
            text,
            not_found_hint,
            source_desc: if needs_desc {
                self.source_desc(host)
            } else {
                String::new()
            },
        }
        .into_error()
    }

    /// `resp` when its status is a success (or in `also`), else the error it means.
    pub(crate) async fn expect(
        &self,
        resp: Response,
        also: &[StatusCode],
        host: &str,
        repo: &str,
        what: &str,
    ) -> Result<Response, RegistryError> {
        if resp.status().is_success() || also.contains(&resp.status()) {
            Ok(resp)
        } else {
            Err(self.fail(host, repo, what, resp).await)
        }
    }
}

#[cfg(test)]
mod tests;
