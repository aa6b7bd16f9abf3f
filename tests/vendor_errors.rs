//! Registry answers that cannot be produced by the CNCF registry here, from a small fake
//! that follows the vendors' documented error bodies: Artifact Registry / ECR / Harbor
//! immutable tags, ECR's missing repository.

use crate::support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{any, get};

#[derive(Clone, Copy)]
enum Mode {
    /// Manifest PUT answers ECR's `ImageTagAlreadyExistsException` / immutable error.
    Immutable,
    /// Every push answers ECR's NAME_UNKNOWN for a repository never created.
    NoRepo,
}

async fn serve(mode: Mode) -> SocketAddr {
    let app = Router::new()
        .route("/v2/", get(|| async { StatusCode::OK }))
        .route(
            "/v2/{*rest}",
            any(move |Path(rest): Path<String>, headers: HeaderMap, method: axum::http::Method| async move {
                let _ = headers;
                let json = |code: StatusCode, body: &str| (code, [("content-type", "application/json")], body.to_string()).into_response();
                match (mode, method.as_str()) {
                    (Mode::NoRepo, "POST") | (Mode::NoRepo, "PUT") => json(
                        StatusCode::NOT_FOUND,
                        r#"{"errors":[{"code":"NAME_UNKNOWN","message":"The repository with name 'team/app' does not exist in the registry with id '123456789012'"}]}"#,
                    ),
                    (_, "HEAD") | (_, "GET") if rest.contains("/manifests/") || rest.contains("/blobs/") => StatusCode::NOT_FOUND.into_response(),
                    (_, "POST") => (StatusCode::ACCEPTED, [("location", format!("/v2/{}uploads/1", rest.trim_end_matches("uploads/")))]).into_response(),
                    (_, "PUT") if rest.contains("/blobs/") => StatusCode::CREATED.into_response(),
                    (Mode::Immutable, "PUT") => json(
                        StatusCode::BAD_REQUEST,
                        r#"{"errors":[{"code":"TAG_INVALID","message":"The image tag 'v1' already exists in the 'team/app' repository and cannot be overwritten because the repository is immutable."}]}"#,
                    ),
                    _ => StatusCode::NOT_FOUND.into_response(),
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn small_tarball(dir: &std::path::Path) -> PathBuf {
    let tar = dir.join("base.tar");
    assert!(
        Command::new("docker")
            .args(["save", "-o"])
            .arg(&tar)
            .arg(support::base_image())
            .status()
            .expect("save")
            .success()
    );
    tar
}

async fn push(addr: SocketAddr, tar: &std::path::Path) -> (i32, String) {
    let host = addr.to_string();
    let tar = tar.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let out = support::slipway()
            .args(["--insecure-registry", &host, "push-archive"])
            .arg(&tar)
            .arg(format!("{host}/team/app:v1"))
            .output()
            .expect("run");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread")]
async fn immutable_tag_names_the_tag_and_suggests_content_tags() {
    let d = tempfile::tempdir().expect("tmp");
    let tar = small_tarball(d.path());
    let addr = serve(Mode::Immutable).await;
    let (code, err) = push(addr, &tar).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("tag {addr}/team/app:v1 is immutable")),
        "{err}"
    );
    assert!(
        err.contains("--tag-by-content") && err.contains("--tag-git-commit"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_ecr_repository_says_which_to_create() {
    let d = tempfile::tempdir().expect("tmp");
    let tar = small_tarball(d.path());
    let addr = serve(Mode::NoRepo).await;
    let (code, err) = push(addr, &tar).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("repository team/app does not exist"), "{err}");
    assert!(
        err.contains("create-repository --repository-name team/app"),
        "{err}"
    );
}
