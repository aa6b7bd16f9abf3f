//! The transport's decisions against an in-process registry stand-in (no real registry):
//! which requests are retried and how often, `Retry-After`, token fetch and refresh on
//! 401, Basic auth, the plain-HTTP error, redaction.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::any;

use super::*;
use crate::registry::credentials::keychain::Keychain;

#[derive(Default)]
struct Fake {
    hits: AtomicUsize,
    token_fetches: AtomicUsize,
    /// The token the registry accepts now.
    token: Mutex<String>,
    bodies: Mutex<Vec<Vec<u8>>>,
    scopes: Mutex<Vec<String>>,
}

type S = State<Arc<Fake>>;

async fn serve(app: Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(l, app).await });
    addr.to_string()
}

fn transport(attempts: u32, explicit: Option<(&str, &str)>) -> Transport {
    Transport::new(RegistryOptions {
        keychain: Keychain {
            explicit: explicit.map(|(u, p)| (u.to_string(), p.to_string())),
            ..Keychain::default()
        },
        retry: Retry::with_attempts(attempts),
        certs_dir: PathBuf::from("/nonexistent"),
        ..RegistryOptions::default()
    })
}

/// Fails with 503 (`Retry-After: 0`) until the `n`th hit, then 201; records bodies.
fn flaky(n: usize) -> Router {
    let fake = Arc::new(Fake::default());
    Router::new()
        .route(
            "/{*rest}",
            any(move |State(f): S, body: axum::body::Bytes| async move {
                let hit = f.hits.fetch_add(1, Ordering::SeqCst) + 1;
                f.bodies.lock().expect("lock").push(body.to_vec());
                if hit < n {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [("retry-after", "0")],
                        format!("{hit}"),
                    )
                        .into_response()
                } else {
                    (StatusCode::CREATED, format!("{hit}")).into_response()
                }
            }),
        )
        .with_state(fake)
}

async fn hits(resp: Response2) -> (u16, String) {
    let s = resp.status().as_u16();
    (s, resp.text().await.expect("text"))
}
type Response2 = reqwest::Response;

#[tokio::test]
async fn idempotent_requests_are_retried_with_retry_after() {
    let host = serve(flaky(3)).await;
    let t = transport(5, None);
    let started = std::time::Instant::now();
    let r = t
        .execute(Req::new(Method::GET, &host, "/v2/a/manifests/t"))
        .await;
    assert_eq!(hits(r.expect("get")).await, (201, "3".into()));
    // Retry-After: 0 replaced the 400 ms + 800 ms backoff.
    assert!(started.elapsed() < Duration::from_millis(1000));

    // A replayable body is sent whole again.
    let host = serve(flaky(2)).await;
    let req =
        Req::new(Method::PUT, &host, "/v2/a/manifests/t").body(Body::Bytes("manifest".into()));
    assert_eq!(
        hits(t.execute(req).await.expect("put")).await,
        (201, "2".into())
    );
}

#[tokio::test]
async fn other_requests_are_sent_once() {
    let t = transport(5, None);
    // POST and PATCH are not repeated unless marked so.
    for method in [Method::POST, Method::PATCH] {
        let host = serve(flaky(3)).await;
        let r = t
            .execute(Req::new(method, &host, "/v2/a/blobs/uploads/"))
            .await;
        assert_eq!(hits(r.expect("answer")).await, (503, "1".into()));
    }
    let host = serve(flaky(2)).await;
    let r = t
        .execute(Req::new(Method::POST, &host, "/v2/a/blobs/uploads/").retry(true))
        .await;
    assert_eq!(hits(r.expect("answer")).await, (201, "2".into()));
    // A streamed body cannot be replayed: a PUT carrying one is sent once.
    let host = serve(flaky(3)).await;
    let body = reqwest::Body::from("stream");
    let r = t
        .execute(Req::new(Method::PUT, &host, "/up").body(Body::once(body)))
        .await;
    assert_eq!(hits(r.expect("answer")).await, (503, "1".into()));
}

#[tokio::test]
async fn attempts_are_bounded() {
    let host = serve(flaky(usize::MAX)).await;
    let r = transport(3, None)
        .execute(Req::new(Method::GET, &host, "/v2/"))
        .await;
    assert_eq!(hits(r.expect("answer")).await, (503, "3".into()));
    // Nothing listening: retried, then Unreachable naming the host.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").to_string()
    };
    let e = transport(2, None)
        .execute(Req::new(Method::GET, &closed, "/v2/"))
        .await
        .expect_err("closed");
    assert!(
        matches!(&e, RegistryError::Unreachable { host, .. } if *host == closed),
        "{e}"
    );
}

/// A closed port at the run's first contact: tried twice (a wrong host or port is more
/// likely than a restart), not the whole policy; the error says how often.
#[tokio::test]
async fn a_refusal_at_first_contact_is_tried_twice() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").to_string()
    };
    let t = transport(5, None);
    let e = t
        .execute(Req::new(Method::GET, &closed, "/v2/"))
        .await
        .expect_err("closed");
    assert_eq!(
        e.to_string(),
        format!("cannot reach registry {closed}: connection refused (2 attempts)")
    );
    // Given up on for the run: the next request is not sent.
    let e = t
        .execute(Req::new(Method::GET, &closed, "/v2/x"))
        .await
        .expect_err("given up");
    assert!(matches!(e, RegistryError::GivenUp { .. }), "{e}");
}

/// A registry that answered once and then restarts (its port refusing for a second) is
/// waited for under the whole policy, and the request goes through.
#[tokio::test]
async fn a_registry_restarted_mid_run_recovers() {
    // Each answer closes its connection, so the next request needs a new one.
    let app = || {
        Router::new().route(
            "/{*rest}",
            any(|| async { ([("connection", "close")], "ok").into_response() }),
        )
    };
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    let host = addr.to_string();
    let server = tokio::spawn(async move { axum::serve(l, app()).await });
    let t = transport(5, None);
    let r = t.execute(Req::new(Method::GET, &host, "/v2/")).await;
    assert_eq!(r.expect("first").status(), 200);
    server.abort();
    let _ = server.await;
    // Back after 1 s: the backoff (0.4 + 0.8 + 1.6 s) outlasts it.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let l = tokio::net::TcpListener::bind(addr).await.expect("rebind");
        axum::serve(l, app()).await
    });
    let r = t.execute(Req::new(Method::GET, &host, "/v2/again")).await;
    assert_eq!(r.expect("after the restart").status(), 200);
}

/// A registry with token auth: `/token` hands out the current token; `/v2/*` wants it.
fn token_registry(fake: Arc<Fake>) -> Router {
    Router::new()
        .route(
            "/token",
            any(
                |State(f): S, Query(q): Query<Vec<(String, String)>>| async move {
                    f.token_fetches.fetch_add(1, Ordering::SeqCst);
                    let scopes = q
                        .iter()
                        .filter(|(k, _)| k == "scope")
                        .map(|(_, v)| v.clone());
                    f.scopes.lock().expect("lock").extend(scopes);
                    let t = f.token.lock().expect("lock").clone();
                    axum::Json(serde_json::json!({ "token": t }))
                },
            ),
        )
        .route(
            "/v2/{*rest}",
            any(|State(f): S, h: HeaderMap| async move {
                f.hits.fetch_add(1, Ordering::SeqCst);
                let want = format!("Bearer {}", f.token.lock().expect("lock"));
                let got = h.get("authorization").and_then(|v| v.to_str().ok());
                if got == Some(want.as_str()) {
                    StatusCode::OK.into_response()
                } else {
                    let host = h.get("host").and_then(|v| v.to_str().ok()).unwrap_or("");
                    let c = format!(r#"Bearer realm="http://{host}/token",service="fake""#);
                    (StatusCode::UNAUTHORIZED, [("www-authenticate", c)]).into_response()
                }
            }),
        )
        .with_state(fake)
}

#[tokio::test]
async fn bearer_tokens_are_fetched_per_scope_and_refreshed_on_401() {
    let fake = Arc::new(Fake::default());
    *fake.token.lock().expect("lock") = "t1".into();
    let host = serve(token_registry(fake.clone())).await;
    let t = transport(1, None);
    let get = |scope: &str| Req::new(Method::GET, &host, "/v2/a/tags/list").scope(scope.into());
    let r = t.execute(get("repository:a:pull")).await.expect("first");
    assert_eq!(r.status(), 200);
    assert_eq!(fake.token_fetches.load(Ordering::SeqCst), 1);
    // The token is kept for its scope: no new fetch.
    t.execute(get("repository:a:pull")).await.expect("again");
    assert_eq!(fake.token_fetches.load(Ordering::SeqCst), 1);
    // Expired: the registry answers 401, a fresh token is fetched and the request repeated.
    *fake.token.lock().expect("lock") = "t2".into();
    let r = t
        .execute(get("repository:a:pull"))
        .await
        .expect("refreshed");
    assert_eq!(r.status(), 200);
    assert_eq!(fake.token_fetches.load(Ordering::SeqCst), 2);
    // Another scope set gets its own token request, naming every scope.
    let two = get("repository:b:pull,push").scope("repository:a:pull".into());
    t.execute(two).await.expect("other scopes");
    assert_eq!(fake.token_fetches.load(Ordering::SeqCst), 3);
    let scopes = fake.scopes.lock().expect("lock").clone();
    assert_eq!(
        scopes[2..],
        [
            "repository:b:pull,push".to_string(),
            "repository:a:pull".to_string()
        ]
    );
}

#[tokio::test]
async fn basic_challenges_and_refused_credentials() {
    let app = Router::new().route(
        "/v2/",
        any(|h: HeaderMap| async move {
            let good = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("u:secret")
            );
            if h.get("authorization").and_then(|v| v.to_str().ok()) == Some(good.as_str()) {
                StatusCode::OK.into_response()
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    [("www-authenticate", r#"Basic realm="r""#)],
                )
                    .into_response()
            }
        }),
    );
    use base64::Engine;
    let host = serve(app).await;
    let ok = transport(1, Some(("u", "secret")));
    let r = ok.execute(Req::new(Method::GET, &host, "/v2/")).await;
    assert_eq!(r.expect("basic").status(), 200);
    let bad = transport(1, Some(("u", "wrong-password")));
    let e = bad
        .execute(Req::new(Method::GET, &host, "/v2/"))
        .await
        .expect_err("refused");
    let msg = e.to_string();
    assert!(matches!(e, RegistryError::Unauthorized { .. }), "{msg}");
    assert!(
        msg.contains("--registry-username/--registry-password"),
        "{msg}"
    );
    assert!(!msg.contains("wrong-password"), "{msg}");
    // Anonymous: nothing to answer a Basic challenge with.
    let e = transport(1, None)
        .execute(Req::new(Method::GET, &host, "/v2/"))
        .await
        .expect_err("anonymous");
    assert!(e.to_string().contains("anonymous"), "{e}");
}

#[tokio::test]
async fn https_to_a_plain_http_server_names_the_flag() {
    let host = serve(flaky(1)).await;
    let e = transport(3, None)
        .execute(Req::new(Method::GET, &host, format!("https://{host}/v2/")))
        .await
        .expect_err("plain http");
    assert_eq!(
        e.to_string(),
        format!(
            "registry {host} answers plain HTTP, not HTTPS: add `--insecure-registry {host}` (or set SLIPWAY_INSECURE_REGISTRY={host})"
        )
    );
    // A loopback host found to speak plain HTTP is used over it.
    let r = transport(1, None)
        .execute(Req::new(Method::GET, &host, "/v2/"))
        .await
        .expect("loopback http");
    assert_eq!(r.url().scheme(), "http");
}

#[test]
fn secrets_are_redacted_in_debug() {
    let r = Req::new(Method::GET, "r.io", "/v2/")
        .header(header::AUTHORIZATION, "Bearer s3cret")
        .header(header::ACCEPT, "x/y");
    let shown = format!("{r:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("***") && shown.contains("x/y"), "{shown}");
}

#[test]
fn queries_are_encoded() {
    let r = Req::new(Method::POST, "r.io", "/v2/a/blobs/uploads/")
        .query("mount", "sha256:ab")
        .query("from", "x/y");
    assert_eq!(r.path, "/v2/a/blobs/uploads/?mount=sha256%3Aab&from=x%2Fy");
}

/// A registry whose token realm is on another host in plain HTTP never gets the password
/// sent there (docker 20.10 sends it); a loopback realm, or one without credentials, is asked.
#[tokio::test]
async fn credentials_never_go_to_a_plain_http_realm_on_another_host() {
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let app = Router::new().route(
        "/v2/{*rest}",
        any(move |h: HeaderMap| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                let host = h.get("host").and_then(|v| v.to_str().ok()).unwrap_or("");
                let port = host.rsplit_once(':').map_or("", |(_, p)| p).to_string();
                // A realm on a host that is not this one and not loopback, in plain HTTP.
                let c = format!(r#"Bearer realm="http://auth.example.invalid:{port}/token""#);
                (StatusCode::UNAUTHORIZED, [("www-authenticate", c)]).into_response()
            }
        }),
    );
    let host = serve(app).await;
    let e = transport(1, Some(("u", "pw-not-to-leak")))
        .execute(Req::new(Method::GET, &host, "/v2/a/tags/list").scope("repository:a:pull".into()))
        .await
        .expect_err("refused");
    let msg = e.to_string();
    assert!(matches!(e, RegistryError::PlainHttpRealm { .. }), "{msg}");
    assert!(
        msg.contains("--insecure-registry auth.example.invalid:"),
        "{msg}"
    );
    assert!(!msg.contains("pw-not-to-leak"), "{msg}");
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    // The same registry's own loopback realm is fine (token_registry's realm is its host).
    let fake = Arc::new(Fake::default());
    *fake.token.lock().expect("lock") = "t".into();
    let host = serve(token_registry(fake.clone())).await;
    let r = transport(1, Some(("u", "pw")))
        .execute(Req::new(Method::GET, &host, "/v2/a/tags/list").scope("repository:a:pull".into()))
        .await
        .expect("loopback realm");
    assert_eq!(r.status(), 200);
    assert_eq!(fake.token_fetches.load(Ordering::SeqCst), 1);
}
