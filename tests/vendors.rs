//! Tag deletion through vendor APIs, against small fakes that follow each vendor's
//! published API (paths, auth headers, status codes).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::any;
use slipway::cleanup::{self, TagInfo, policy};
use slipway::registry::credentials::VendorCredentials;
use slipway::registry::vendors::Implementation;
use slipway::registry::{Client, RegistryOptions};
use slipway::settings::Secret;

type Seen = Arc<Mutex<Vec<String>>>;

async fn fake(
    State(seen): State<Seen>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    let path = uri.path().to_string();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    seen.lock()
        .expect("lock")
        .push(format!("{method} {path} {auth}"));
    match (method.as_str(), path.as_str()) {
        ("GET", "/v2/") => StatusCode::OK.into_response(),
        // GitLab: single-tag delete.
        ("DELETE", p) if p.starts_with("/v2/ns/app/tags/reference/") => {
            StatusCode::ACCEPTED.into_response()
        }
        // ACR.
        ("DELETE", p) if p.starts_with("/acr/v1/ns/app/_tags/") => {
            StatusCode::ACCEPTED.into_response()
        }
        // Quay: Bearer token required.
        ("DELETE", p) if p.starts_with("/api/v1/repository/ns/app/tag/") => {
            if auth == "Bearer quay-token" {
                StatusCode::NO_CONTENT.into_response()
            } else {
                StatusCode::UNAUTHORIZED.into_response()
            }
        }
        // Docker Hub: login, then JWT.
        ("POST", "/v2/users/login/") => {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            if v["username"] == "hubuser" && v["password"] == "hubpass" {
                (
                    StatusCode::OK,
                    [("content-type", "application/json")],
                    r#"{"token":"hub-jwt"}"#,
                )
                    .into_response()
            } else {
                StatusCode::UNAUTHORIZED.into_response()
            }
        }
        ("DELETE", p) if p.starts_with("/v2/repositories/ns/app/tags/") => {
            if auth == "JWT hub-jwt" {
                StatusCode::NO_CONTENT.into_response()
            } else {
                StatusCode::FORBIDDEN.into_response()
            }
        }
        // ECR's JSON API, SigV4-signed.
        ("POST", "/")
            if headers
                .get("x-amz-target")
                .is_some_and(|t| t == "AmazonEC2ContainerRegistry_V20150921.BatchDeleteImage") =>
        {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let signed = auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
                && auth.contains("/eu-west-1/ecr/aws4_request")
                && auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-target");
            if !signed || v["registryId"] != "123456789012" || v["repositoryName"] != "ns/app" {
                return (
                    StatusCode::BAD_REQUEST,
                    r#"{"__type":"UnrecognizedClientException"}"#,
                )
                    .into_response();
            }
            let tag = v["imageIds"][0]["imageTag"].clone();
            (
                StatusCode::OK,
                [("content-type", "application/x-amz-json-1.1")],
                serde_json::json!({"imageIds": [{"imageTag": tag}], "failures": []}).to_string(),
            )
                .into_response()
        }
        // GitHub REST API: a user (not an org) package.
        ("GET", "/orgs/ns/packages/container/app/versions") => {
            StatusCode::NOT_FOUND.into_response()
        }
        ("GET", "/users/ns/packages/container/app/versions") => {
            if auth != "Bearer gh-token" {
                return StatusCode::UNAUTHORIZED.into_response();
            }
            (StatusCode::OK, [("content-type", "application/json")], r#"[{"id":11,"name":"sha256:aaa","metadata":{"container":{"tags":["old-1","old-2"]}}},{"id":12,"name":"sha256:bbb","metadata":{"container":{"tags":["old-3"]}}}]"#).into_response()
        }
        ("DELETE", p) if p.starts_with("/users/ns/packages/container/app/versions/") => {
            if auth == "Bearer gh-token" {
                StatusCode::NO_CONTENT.into_response()
            } else {
                StatusCode::FORBIDDEN.into_response()
            }
        }
        // The Docker Registry API's manifest delete.
        ("DELETE", p) if p.starts_with("/v2/ns/app/manifests/") => {
            StatusCode::ACCEPTED.into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn serve() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new().fallback(any(fake)).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let host = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (host, seen)
}

fn plan(host: &str) -> policy::Plan {
    let tag = |t: &str, d: &str| TagInfo {
        facts: Arc::new(policy::Facts {
            image: Some("app".into()),
            repository: format!("{host}/ns/app").into(),
            ..Default::default()
        }),
        tag: t.into(),
        digest: d.into(),
    };
    policy::purge(vec![
        tag("old-1", "sha256:aaa"),
        tag("old-2", "sha256:aaa"),
        tag("old-3", "sha256:bbb"),
    ])
}

async fn run(
    imp: Implementation,
    creds: VendorCredentials,
) -> (Result<cleanup::Outcome, cleanup::CleanupError>, Vec<String>) {
    let (host, seen) = serve().await;
    let client = Client::new(RegistryOptions {
        insecure: slipway::registry::Insecure {
            hosts: vec![host.clone()],
            ..Default::default()
        },
        ..RegistryOptions::default()
    });
    let creds = VendorCredentials {
        docker_hub_api: format!("http://{host}"),
        github_api: format!("http://{host}"),
        ..creds
    };
    let out = cleanup::execute(&client, &plan(&host), imp, &creds).await;
    let seen = seen.lock().expect("lock").clone();
    (out, seen)
}

fn deletes(seen: &[String]) -> Vec<String> {
    seen.iter()
        .filter(|s| s.starts_with("DELETE"))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn gitlab_and_acr_delete_single_tags() {
    let (out, seen) = run(Implementation::GitLab, VendorCredentials::default()).await;
    let out = out.expect("gitlab");
    assert_eq!((out.deleted_tags, out.deleted_manifests), (3, 0));
    let d = deletes(&seen);
    assert_eq!(d.len(), 3, "{d:?}");
    assert!(
        d.iter()
            .all(|s| s.contains("/v2/ns/app/tags/reference/old-")),
        "{d:?}"
    );

    let (out, seen) = run(Implementation::Acr, VendorCredentials::default()).await;
    assert_eq!(out.expect("acr").deleted_tags, 3);
    assert!(
        deletes(&seen)
            .iter()
            .all(|s| s.contains("/acr/v1/ns/app/_tags/old-"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn quay_needs_its_token_and_sends_it_as_bearer() {
    let (out, seen) = run(Implementation::Quay, VendorCredentials::default()).await;
    let err = out.expect_err("no token").to_string();
    assert!(err.contains("--repo-quay-token"), "{err}");
    assert!(deletes(&seen).is_empty());
    let creds = VendorCredentials {
        quay_token: Some(Secret("quay-token".into())),
        ..Default::default()
    };
    let (out, seen) = run(Implementation::Quay, creds).await;
    assert_eq!(out.expect("quay").deleted_tags, 3);
    assert!(
        deletes(&seen)
            .iter()
            .all(|s| s.ends_with("Bearer quay-token")
                && s.contains("/api/v1/repository/ns/app/tag/old-"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_hub_logs_in_then_deletes_with_jwt() {
    let creds = VendorCredentials {
        docker_hub_username: Some("hubuser".into()),
        docker_hub_password: Some(Secret("hubpass".into())),
        ..Default::default()
    };
    let (out, seen) = run(Implementation::DockerHub, creds).await;
    assert_eq!(out.expect("hub").deleted_tags, 3);
    assert_eq!(
        seen.iter()
            .filter(|s| s.starts_with("POST /v2/users/login/"))
            .count(),
        1,
        "one login: {seen:?}"
    );
    assert!(
        deletes(&seen)
            .iter()
            .all(|s| s.ends_with("JWT hub-jwt") && s.contains("/v2/repositories/ns/app/tags/old-"))
    );
    // Wrong password: unauthorized with a hint, nothing deleted.
    let creds = VendorCredentials {
        docker_hub_username: Some("hubuser".into()),
        docker_hub_password: Some(Secret("nope".into())),
        ..Default::default()
    };
    let (out, seen) = run(Implementation::DockerHub, creds).await;
    let err = out.expect_err("refused").to_string();
    assert!(
        err.contains("hub.docker.com refused the login") && !err.contains("nope"),
        "{err}"
    );
    assert!(deletes(&seen).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn default_registries_delete_each_manifest_once() {
    let (out, seen) = run(Implementation::Default, VendorCredentials::default()).await;
    let out = out.expect("default");
    assert_eq!((out.deleted_tags, out.deleted_manifests), (3, 2));
    let d = deletes(&seen);
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d.iter().all(|s| s.contains("/v2/ns/app/manifests/sha256:")));
}

#[tokio::test(flavor = "multi_thread")]
async fn gcr_deletes_tags_then_the_untagged_digests() {
    let (out, seen) = run(Implementation::Gcr, VendorCredentials::default()).await;
    assert_eq!(out.expect("gcr").deleted_tags, 3);
    let d = deletes(&seen);
    let tags: Vec<&String> = d.iter().filter(|s| s.contains("/manifests/old-")).collect();
    let digests: Vec<&String> = d
        .iter()
        .filter(|s| s.contains("/manifests/sha256:"))
        .collect();
    assert_eq!((tags.len(), digests.len()), (3, 2), "{d:?}");
    let last_tag = d
        .iter()
        .rposition(|s| s.contains("/manifests/old-"))
        .expect("tag");
    let first_digest = d
        .iter()
        .position(|s| s.contains("/manifests/sha256:"))
        .expect("digest");
    assert!(last_tag < first_digest, "digests before tags: {d:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn github_deletes_the_package_version_of_each_digest() {
    let (out, _) = run(Implementation::GitHub, VendorCredentials::default()).await;
    assert!(
        out.expect_err("no token")
            .to_string()
            .contains("--repo-github-token")
    );
    let creds = VendorCredentials {
        github_token: Some(Secret("gh-token".into())),
        ..Default::default()
    };
    let (out, seen) = run(Implementation::GitHub, creds).await;
    let out = out.expect("github");
    assert!(out.failures.is_empty(), "{:?} {seen:?}", out.failures);
    assert_eq!((out.deleted_manifests, out.deleted_tags), (2, 3));
    let mut d = deletes(&seen);
    d.sort();
    assert_eq!(
        d,
        vec![
            "DELETE /users/ns/packages/container/app/versions/11 Bearer gh-token".to_string(),
            "DELETE /users/ns/packages/container/app/versions/12 Bearer gh-token".to_string(),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ecr_batch_delete_image_is_sigv4_signed() {
    use slipway::registry::credentials::AwsKeys;
    let (host, seen) = serve().await;
    let client = Client::new(RegistryOptions::default());
    let ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
    let tags = ["old-1", "old-2"].iter().map(|t| TagInfo {
        facts: Arc::new(policy::Facts {
            image: Some("app".into()),
            repository: format!("{ecr}/ns/app").into(),
            ..Default::default()
        }),
        tag: (*t).into(),
        digest: "sha256:aaa".into(),
    });
    let plan = policy::purge(tags.collect());
    let creds = VendorCredentials {
        ecr_endpoint: Some(format!("http://{host}")),
        ..Default::default()
    };
    let err = cleanup::execute(&client, &plan, Implementation::Ecr, &creds)
        .await
        .expect_err("no keys")
        .to_string();
    assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
    let creds = VendorCredentials {
        aws: Some(AwsKeys {
            access_key_id: "AKIDTEST".into(),
            secret_access_key: Secret("s3cret".into()),
            session_token: None,
        }),
        ..creds
    };
    let out = cleanup::execute(&client, &plan, Implementation::Ecr, &creds)
        .await
        .expect("ecr");
    assert_eq!(out.deleted_tags, 2, "{:?}", out.failures);
    let calls: Vec<String> = seen
        .lock()
        .expect("lock")
        .iter()
        .filter(|s| s.starts_with("POST / AWS4-HMAC-SHA256"))
        .cloned()
        .collect();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| !c.contains("s3cret")));
}
