//! `slipway login` (docker's config.json, credentials checked first) and `slipway ls`
//! (every tag, across pages), against the harness registries.

use crate::support;

use std::path::Path;

use futures::StreamExt;
use support::{Registry, skopeo};

fn push_archive(tar: &Path, target: &str, docker_config: &Path) -> support::Slipway {
    let mut c = support::slipway();
    c.env("DOCKER_CONFIG", docker_config)
        .arg("push-archive")
        .arg(tar)
        .arg(target);
    c
}

/// A wrong password is refused and changes nothing; the right one is saved next to what
/// the file held (0600, never printed), and a push with that config then works where it
/// failed before.
#[test]
fn login_then_push_with_that_config() {
    use base64::Engine;
    use std::os::unix::fs::PermissionsExt;
    let reg = Registry::plain_auth();
    let (user, password) = reg.creds.clone().expect("auth registry");
    let work = tempfile::tempdir().expect("tmp");
    let tar = support::image_tarball(work.path(), 4);
    let config_dir = tempfile::tempdir().expect("tmp");
    let config = config_dir.path().join("config.json");
    let earlier = r#"{"auths":{"other.io":{"auth":"eDp5"}},"psFormat":"table"}"#;
    std::fs::write(&config, earlier).expect("write");
    let target = format!("{}/login/app:v1", reg.host);

    let out = push_archive(&tar, &target, config_dir.path())
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(skopeo::digest(&reg, "login/app:v1").is_err(), "{err}");

    let login = |pw: &str| {
        let mut c = support::slipway();
        c.args(["login", &reg.host, "-u", &user, "--password-stdin"])
            .arg("--docker-config")
            .arg(config_dir.path())
            .write_stdin(format!("{pw}\n"));
        c
    };
    let out = login("wrong-password").assert().code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(!err.contains("wrong-password"), "{err}");
    assert!(err.contains(&reg.host), "{err}");
    assert_eq!(std::fs::read_to_string(&config).expect("read"), earlier);

    let out = login(&password).assert().success();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.get_output().stdout),
        String::from_utf8_lossy(&out.get_output().stderr)
    );
    assert!(!all.contains(&password), "{all}");
    assert!(all.contains("Login Succeeded"), "{all}");
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).expect("read")).expect("json");
    assert_eq!(
        cfg["auths"][&reg.host]["auth"],
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    assert_eq!(cfg["auths"]["other.io"]["auth"], "eDp5");
    assert_eq!(cfg["psFormat"], "table");
    let mode = std::fs::metadata(&config)
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    push_archive(&tar, &target, config_dir.path())
        .assert()
        .success();
    assert!(skopeo::digest(&reg, "login/app:v1").is_ok());
}

/// 1,200 tags: more than one page of `tags/list?n=1000`; `ls` follows `Link` and returns
/// every one, as text and with `--json`.
#[test]
fn ls_returns_every_tag_across_pages() {
    let reg = Registry::plain();
    let work = tempfile::tempdir().expect("tmp");
    let tar = support::image_tarball(work.path(), 1);
    let empty = tempfile::tempdir().expect("tmp");
    push_archive(&tar, &format!("{}/many/app:t0000", reg.host), empty.path())
        .insecure(&reg.host)
        .assert()
        .success();
    let base = format!("{}/v2/many/app/manifests", reg.url());
    let wanted: Vec<String> = (0..1200).map(|i| format!("t{i:04}")).collect();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let http = reqwest::Client::new();
        let accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";
        let resp = http
            .get(format!("{base}/t0000"))
            .header("Accept", accept)
            .send()
            .await
            .expect("GET manifest");
        assert!(resp.status().is_success());
        let media = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .expect("content type")
            .to_string();
        let body = resp.bytes().await.expect("body");
        // A manifest PUT per tag, eight at a time.
        let puts = wanted[1..].iter().map(|t| {
            let (http, media, body) = (http.clone(), media.clone(), body.clone());
            let url = format!("{base}/{t}");
            async move {
                let r = http
                    .put(url)
                    .header("Content-Type", media)
                    .body(body)
                    .send()
                    .await
                    .expect("PUT manifest");
                assert!(r.status().is_success(), "{}", r.status());
            }
        });
        futures::stream::iter(puts)
            .buffer_unordered(8)
            .collect::<Vec<()>>()
            .await;
    });
    let out = support::slipway()
        .args(["--insecure-registry", &reg.host, "ls"])
        .arg(format!("{}/many/app", reg.host))
        .assert()
        .success();
    let mut got: Vec<String> = String::from_utf8_lossy(&out.get_output().stdout)
        .lines()
        .map(str::to_string)
        .collect();
    got.sort();
    assert_eq!(got.len(), 1200);
    assert_eq!(got, wanted);
    let out = support::slipway()
        .args(["--insecure-registry", &reg.host, "--json", "ls"])
        .arg(format!("{}/many/app", reg.host))
        .assert()
        .success();
    let result = support::json_result(&out.get_output().stdout);
    let tags = result["tags"].as_array().expect("tags");
    assert_eq!(tags.len(), 1200);
    // The harness's drop pulls every tag with skopeo (minutes for 1,200 of one manifest):
    // untag all but t0000 on disk, so that one manifest is still checked once.
    let tag_dir = reg
        .storage()
        .join("docker/registry/v2/repositories/many/app/_manifests/tags");
    for t in &wanted[1..] {
        std::fs::remove_dir_all(tag_dir.join(t)).expect("untag");
    }
}

/// A registry that pages (distribution 3, Harbor, ghcr.io cap `n`): the harness's
/// distribution 2.8 answers every tag at once whatever `n` says, so this stub serves the
/// 1,200 tags 100 per page with `Link: <…?last=…&n=100>; rel="next"`, as distribution 3
/// does. `ls` must follow every link.
#[test]
fn ls_follows_link_pagination() {
    use axum::extract::{Path as UrlPath, Query};
    use axum::response::IntoResponse;
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let all: Arc<Vec<String>> = Arc::new((0..1200).map(|i| format!("t{i:04}")).collect());
    let requests = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = std::sync::mpsc::channel();
    let (tags, count) = (all.clone(), requests.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async move {
            let list = move |UrlPath(repo): UrlPath<String>,
                             Query(q): Query<HashMap<String, String>>| {
                let (tags, count) = (tags.clone(), count.clone());
                async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    let n = q
                        .get("n")
                        .and_then(|n| n.parse::<usize>().ok())
                        .unwrap_or(100)
                        .min(100);
                    let start = q
                        .get("last")
                        .map(|l| tags.iter().position(|t| t > l).unwrap_or(tags.len()))
                        .unwrap_or(0);
                    let page: Vec<&String> = tags[start..].iter().take(n).collect();
                    let body = serde_json::json!({ "name": repo, "tags": page }).to_string();
                    let mut resp = ([("content-type", "application/json")], body).into_response();
                    if start + n < tags.len()
                        && let Some(last) = page.last()
                    {
                        let link =
                            format!("</v2/{repo}/tags/list?last={last}&n={n}>; rel=\"next\"");
                        resp.headers_mut()
                            .insert("link", link.parse().expect("header"));
                    }
                    resp
                }
            };
            let app = axum::Router::new()
                .route("/v2/", axum::routing::get(|| async { "{}" }))
                .route(
                    "/v2/{*rest}",
                    axum::routing::get(move |UrlPath(rest): UrlPath<String>, q| {
                        let repo = rest.trim_end_matches("/tags/list").to_string();
                        list(UrlPath(repo), q)
                    }),
                );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("send");
            let _ = axum::serve(listener, app).await;
        });
    });
    let host = rx.recv().expect("address").to_string();
    let out = support::slipway()
        .args(["--insecure-registry", &host, "--json", "ls"])
        .arg(format!("{host}/many/app"))
        .assert()
        .success();
    let result = support::json_result(&out.get_output().stdout);
    let got: Vec<String> = result["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    assert_eq!(got, *all);
    assert_eq!(requests.load(Ordering::SeqCst), 12, "12 pages of 100");
}
