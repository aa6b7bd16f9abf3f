//! A scriptable fault-injection HTTP proxy that sits between Slipway and a real (plain HTTP)
//! registry from the harness. Per test it can answer 5xx or 429 (with `Retry-After`), reset
//! the connection in the middle of a request body (e.g. a blob upload), reject `PATCH`,
//! delay, truncate response bodies, and act as a bearer-token gate whose tokens can be
//! expired at will. It also records every request and counts the blob bytes uploaded, so
//! tests can prove "no byte the registry already has".
//!
//! It runs on a thread with its own runtime, so it serves sync and async tests alike, and
//! stops when dropped.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};

use super::Registry;

/// What to do to a matching request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status without forwarding (`Retry-After` seconds optional).
    Status { code: u16, retry_after: Option<u64> },
    /// Forward, but reset the connection after this many request-body bytes.
    ResetAfterBodyBytes(u64),
    /// Answer 401 with a bearer challenge, as a registry does when a token expired.
    // No test injects it now; the proxy's bearer gate answers the same way.
    #[allow(dead_code)]
    Unauthorized,
    /// Sleep, then forward.
    Delay(Duration),
    /// Forward, but send only this many bytes of the response body, then close.
    TruncateResponse(u64),
    /// Forward, send this many bytes of the response body, then nothing more, never closing.
    StallResponseAfter(u64),
    /// Read this many bytes of the request body, then stop reading it, never answering.
    StallRequestAfter(u64),
}

/// A fault for requests whose method and path match, for the next `times` matches
/// (`None`: forever).
#[derive(Debug, Clone)]
pub struct Rule {
    pub method: Option<String>,
    pub path_contains: Option<String>,
    pub times: Option<usize>,
    pub fault: Fault,
}

impl Rule {
    pub fn new(fault: Fault) -> Self {
        Rule {
            method: None,
            path_contains: None,
            times: None,
            fault,
        }
    }
    pub fn method(mut self, m: &str) -> Self {
        self.method = Some(m.to_string());
        self
    }
    pub fn path(mut self, part: &str) -> Self {
        self.path_contains = Some(part.to_string());
        self
    }
    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }
    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
            && self.times != Some(0)
    }
}

/// One request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// 0 for a request the proxy was told to reset (recorded before its outcome).
    // Recorded for tests that tell injected answers apart; none reads them now.
    #[allow(dead_code)]
    pub status: u16,
    #[allow(dead_code)]
    pub faulted: bool,
}

#[derive(Default)]
struct State {
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<Seen>>,
    blob_bytes: AtomicU64,
    bearer: Mutex<Option<Bearer>>,
}

#[derive(Default)]
struct Bearer {
    /// (user, password) the token endpoint requires, if any.
    creds: Option<(String, String)>,
    valid: HashSet<String>,
    issued: u64,
}

pub struct FaultProxy {
    /// `127.0.0.1:PORT` of the proxy.
    pub host: String,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// A proxy in front of a plain-HTTP harness registry.
    pub fn start(upstream: &Registry) -> Self {
        assert!(
            !upstream.tls,
            "the fault proxy forwards to plain-HTTP registries"
        );
        let state = Arc::new(State::default());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let host = listener.local_addr().expect("addr").to_string();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let st = state.clone();
        let up = upstream.host.clone();
        let me = host.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("proxy runtime");
            rt.block_on(serve(listener, st, up, me, rx));
        });
        FaultProxy {
            host,
            state,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    /// Add a fault rule (rules are tried in order; the first match applies).
    pub fn add(&self, rule: Rule) -> &Self {
        self.state.rules.lock().unwrap().push(rule);
        self
    }

    /// Remove every rule: faults clear.
    pub fn clear(&self) {
        self.state.rules.lock().unwrap().clear();
    }

    /// Require bearer tokens from the proxy's own token endpoint (`/token`), which asks for
    /// these Basic credentials when given.
    pub fn require_bearer(&self, creds: Option<(&str, &str)>) {
        *self.state.bearer.lock().unwrap() = Some(Bearer {
            creds: creds.map(|(u, p)| (u.to_string(), p.to_string())),
            ..Default::default()
        });
    }

    /// Every token issued so far stops working (the next use gets 401).
    pub fn expire_tokens(&self) {
        if let Some(b) = self.state.bearer.lock().unwrap().as_mut() {
            b.valid.clear();
        }
    }

    /// Number of tokens the token endpoint issued.
    pub fn tokens_issued(&self) -> u64 {
        self.state
            .bearer
            .lock()
            .unwrap()
            .as_ref()
            .map_or(0, |b| b.issued)
    }

    /// Requests seen so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// How many requests had this method and a path containing `path_part`.
    pub fn count(&self, method: &str, path_part: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.method.eq_ignore_ascii_case(method) && s.path.contains(path_part))
            .count()
    }

    /// Request-body bytes sent to blob upload endpoints (`/blobs/uploads/`).
    pub fn blob_bytes_uploaded(&self) -> u64 {
        self.state.blob_bytes.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Body = BoxBody<Bytes, std::io::Error>;

fn full(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(body.to_string()))
            .map_err(|e| match e {})
            .boxed(),
    );
    *r.status_mut() = status;
    r
}

async fn serve(
    listener: std::net::TcpListener,
    state: Arc<State>,
    upstream: String,
    me: String,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    let client = reqwest::Client::builder().build().expect("proxy client");
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut stop => return,
            acc = listener.accept() => match acc { Ok(a) => a, Err(_) => continue },
        };
        let state = state.clone();
        let client = client.clone();
        let upstream = upstream.clone();
        let me = me.clone();
        tokio::spawn(async move {
            // A fault that resets the connection fires `reset`; dropping the connection
            // future then closes the socket under the client's feet.
            let reset = Arc::new(tokio::sync::Notify::new());
            let r2 = reset.clone();
            let svc = hyper::service::service_fn(move |req| {
                handle(
                    req,
                    state.clone(),
                    client.clone(),
                    upstream.clone(),
                    me.clone(),
                    r2.clone(),
                )
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {},
                _ = reset.notified() => {},
            }
        });
    }
}

fn take_rule(state: &State, method: &str, path: &str) -> Option<Fault> {
    let mut rules = state.rules.lock().unwrap();
    let rule = rules.iter_mut().find(|r| r.matches(method, path))?;
    if let Some(t) = rule.times.as_mut() {
        *t -= 1;
    }
    Some(rule.fault.clone())
}

fn scope_of(path: &str) -> String {
    // /v2/<name>/(manifests|blobs|tags)/...
    let rest = path.trim_start_matches("/v2/");
    let name = ["/manifests/", "/blobs/", "/tags/"]
        .iter()
        .filter_map(|m| rest.find(m))
        .min()
        .map(|i| &rest[..i]);
    match name {
        Some(n) => format!("repository:{n}:pull,push,delete"),
        None => "registry:catalog:*".to_string(),
    }
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<State>,
    client: reqwest::Client,
    upstream: String,
    me: String,
    reset: Arc<tokio::sync::Notify>,
) -> Result<Response<Body>, Infallible> {
    let method = req.method().to_string();
    let path_q = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let path = req.uri().path().to_string();
    let record = |status: u16, faulted: bool| {
        state.seen.lock().unwrap().push(Seen {
            method: method.clone(),
            path: path_q.clone(),
            status,
            faulted,
        });
    };

    // Token endpoint of the bearer gate.
    if path == "/token" {
        let mut guard = state.bearer.lock().unwrap();
        let Some(b) = guard.as_mut() else {
            drop(guard);
            record(404, false);
            return Ok(full(StatusCode::NOT_FOUND, "no token endpoint"));
        };
        if let Some((u, p)) = &b.creds {
            use base64::Engine;
            let want = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            );
            if req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                != Some(want.as_str())
            {
                drop(guard);
                record(401, false);
                return Ok(full(
                    StatusCode::UNAUTHORIZED,
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#,
                ));
            }
        }
        b.issued += 1;
        let token = format!("tok-{}-{}", b.issued, std::process::id());
        b.valid.insert(token.clone());
        drop(guard);
        record(200, false);
        let body = serde_json::json!({"token": token, "access_token": token, "expires_in": 300})
            .to_string();
        let mut r = full(StatusCode::OK, &body);
        r.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        return Ok(r);
    }

    let challenge = || {
        format!(
            r#"Bearer realm="http://{me}/token",service="fault-proxy",scope="{}""#,
            scope_of(&path)
        )
    };
    let unauthorized = |record_it: &dyn Fn(u16, bool), faulted: bool| {
        record_it(401, faulted);
        let mut r = full(
            StatusCode::UNAUTHORIZED,
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        );
        r.headers_mut()
            .insert("www-authenticate", challenge().parse().unwrap());
        r.headers_mut().insert(
            "docker-distribution-api-version",
            "registry/2.0".parse().unwrap(),
        );
        r
    };

    // Bearer gate.
    {
        let guard = state.bearer.lock().unwrap();
        if let Some(b) = guard.as_ref() {
            let tok = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_string);
            if !tok.is_some_and(|t| b.valid.contains(&t)) {
                drop(guard);
                return Ok(unauthorized(&record, false));
            }
        }
    }

    let fault = take_rule(&state, &method, &path);
    let mut reset_after = None;
    let mut truncate = None;
    let mut stall_request = None;
    let mut stall_response = None;
    match &fault {
        Some(Fault::Status { code, retry_after }) => {
            record(*code, true);
            let mut r = full(
                StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                r#"{"errors":[{"code":"UNKNOWN","message":"injected fault"}]}"#,
            );
            if let Some(s) = retry_after {
                r.headers_mut()
                    .insert("retry-after", s.to_string().parse().unwrap());
            }
            return Ok(r);
        }
        Some(Fault::Unauthorized) => return Ok(unauthorized(&record, true)),
        Some(Fault::Delay(d)) => tokio::time::sleep(*d).await,
        Some(Fault::ResetAfterBodyBytes(n)) => {
            // Recorded now, with status 0: the reset tears the connection and this handler
            // down with it, so a record after forwarding may never be made.
            record(0, true);
            reset_after = Some(*n);
        }
        Some(Fault::TruncateResponse(n)) => truncate = Some(*n),
        Some(Fault::StallRequestAfter(n)) => stall_request = Some(*n),
        Some(Fault::StallResponseAfter(n)) => stall_response = Some(*n),
        None => {}
    }

    // Forward, streaming the request body and counting upload bytes.
    let is_upload = path.contains("/blobs/uploads/");
    let (parts, body) = req.into_parts();
    let st = state.clone();
    let rs = reset.clone();
    let mut sent: u64 = 0;
    let body_stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        sent += chunk.len() as u64;
        if reset_after.is_some_and(|limit| sent >= limit) {
            rs.notify_one();
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "injected reset",
            ));
        }
        if is_upload {
            st.blob_bytes
                .fetch_add(chunk.len() as u64, Ordering::SeqCst);
        }
        Ok::<_, std::io::Error>(chunk)
    });
    let body_stream = stall_after(body_stream, stall_request);
    let url = format!("http://{upstream}{path_q}");
    let mut fwd = client.request(parts.method.clone(), &url);
    for (k, v) in parts.headers.iter() {
        if k == "host" || k == "authorization" || k == "connection" || k == "transfer-encoding" {
            continue;
        }
        fwd = fwd.header(k, v);
    }
    // The registry builds Location URLs from Host: make them point back at the proxy.
    fwd = fwd.header("host", me.clone());
    let fwd = fwd.body(reqwest::Body::wrap_stream(body_stream));
    let resp = match fwd.send().await {
        Ok(r) => r,
        Err(e) => {
            if reset_after.is_some() {
                reset.notify_one();
            } else {
                record(502, fault.is_some());
            }
            return Ok(full(StatusCode::BAD_GATEWAY, &format!("proxy: {e}")));
        }
    };
    let status = resp.status();
    if reset_after.is_none() {
        record(status.as_u16(), fault.is_some());
    }
    let mut builder = Response::builder().status(status.as_u16());
    for (k, v) in resp.headers() {
        if k == "connection" || k == "transfer-encoding" {
            continue;
        }
        let v = if k == "location" {
            v.to_str()
                .unwrap_or_default()
                .replace(&upstream, &me)
                .parse()
                .unwrap()
        } else {
            v.clone()
        };
        builder = builder.header(k, v);
    }
    let mut left = truncate;
    let rs = reset.clone();
    let stream = stall_after(
        resp.bytes_stream()
            .map(|c| c.map_err(std::io::Error::other)),
        stall_response,
    )
    .map(move |c| {
        let mut c = c?;
        if let Some(l) = left.as_mut() {
            if *l == 0 {
                rs.notify_one();
                return Err(std::io::Error::other("injected truncation"));
            }
            if (c.len() as u64) > *l {
                c.truncate(*l as usize);
            }
            *l -= c.len() as u64;
        }
        Ok(Frame::data(c))
    });
    let body: Body = BodyExt::boxed(StreamBody::new(stream));
    Ok(builder.body(body).unwrap())
}

/// `stream` until `limit` bytes have passed (the chunk that reaches it whole), then pending forever: a
/// peer that stops mid-body without closing. `None`: `stream` as it is.
fn stall_after(
    stream: impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static,
    limit: Option<u64>,
) -> std::pin::Pin<Box<dyn futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync>> {
    let Some(limit) = limit else {
        return Box::pin(stream);
    };
    let mut left = limit;
    let stream = stream
        .map(move |c| {
            c.map(|mut c| {
                c.truncate(left.min(c.len() as u64) as usize);
                left -= c.len() as u64;
                c
            })
        })
        // The first chunk cut to nothing ends the bytes; the peer then goes silent.
        .take_while(|c| futures::future::ready(!matches!(c, Ok(c) if c.is_empty())))
        .chain(futures::stream::pending());
    Box::pin(stream)
}
