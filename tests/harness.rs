//! Proves the harness: a two-stage Dockerfile built FROM the base image through bollard,
//! pushed through the daemon to each registry variant, checked with skopeo.

use crate::support;

use bollard::auth::DockerCredentials;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, PushImageOptionsBuilder, TagImageOptionsBuilder,
};
use futures::StreamExt;
use support::{Registry, skopeo};

async fn build_two_stage(docker: &bollard::Docker, tag: &str) {
    let dockerfile = format!(
        "FROM {base} AS builder\nRUN echo built > /artifact\n\
         FROM {base}\nCOPY --from=builder /artifact /artifact\nCOPY hello.txt /hello.txt\nCMD [\"cat\", \"/artifact\"]\n",
        base = support::base_image()
    );
    let context = support::tar_of(&[("Dockerfile", &dockerfile), ("hello.txt", "hello\n")]);
    let opts = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(tag)
        .rm(true)
        .build();
    let mut stream = docker.build_image(opts, None, Some(bollard::body_full(context.into())));
    while let Some(item) = stream.next().await {
        let info = item.expect("build stream");
        if let Some(err) = info.error_detail {
            panic!("build failed: {err:?}");
        }
    }
}

async fn push(docker: &bollard::Docker, reg: &Registry, local: &str, repo: &str, tag: &str) {
    let target = format!("{}/{repo}", reg.host);
    docker
        .tag_image(
            local,
            Some(
                TagImageOptionsBuilder::default()
                    .repo(&target)
                    .tag(tag)
                    .build(),
            ),
        )
        .await
        .expect("tag");
    let creds = reg.creds.as_ref().map(|(u, p)| DockerCredentials {
        username: Some(u.clone()),
        password: Some(p.clone()),
        serveraddress: Some(reg.host.clone()),
        ..Default::default()
    });
    let mut stream = docker.push_image(
        &target,
        Some(PushImageOptionsBuilder::default().tag(tag).build()),
        creds,
    );
    while let Some(item) = stream.next().await {
        item.expect("push stream");
    }
}

fn check(reg: &Registry, docker: &bollard::Docker, repo: &str) {
    assert_eq!(skopeo::tags(reg, repo), vec!["v1".to_string()]);
    let digest = skopeo::digest(reg, &format!("{repo}:v1")).expect("skopeo inspect");
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "digest {digest}"
    );
    // The daemon recorded the digest it pushed; skopeo must see the same one.
    let inspect = support::block_on(docker.inspect_image(&format!("{}/{repo}:v1", reg.host)))
        .expect("inspect");
    let repo_digests = inspect.repo_digests.unwrap_or_default();
    assert!(
        repo_digests
            .iter()
            .any(|d| d == &format!("{}/{repo}@{digest}", reg.host)),
        "daemon digests {repo_digests:?} vs skopeo {digest}"
    );
    let config = skopeo::config(reg, &format!("{repo}:v1")).expect("config");
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["cat", "/artifact"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_stage_build_pushed_to_plain_and_tls_registries() {
    let docker = support::docker();
    let local = "slipway-test/harness:latest";
    build_two_stage(&docker, local).await;

    let plain = Registry::plain();
    push(&docker, &plain, local, "harness/app", "v1").await;
    check(&plain, &docker, "harness/app");

    let tls = Registry::tls_auth();
    push(&docker, &tls, local, "harness/app", "v1").await;
    check(&tls, &docker, "harness/app");
    // Auth is really on: anonymous access is refused.
    let anon = std::process::Command::new("skopeo")
        .args(["inspect", "--cert-dir"])
        .arg(
            tls.ca_cert
                .as_ref()
                .unwrap()
                .parent()
                .unwrap()
                .join("skopeo-certs"),
        )
        .arg(format!("docker://{}/harness/app:v1", tls.host))
        .output()
        .unwrap();
    assert!(!anon.status.success(), "anonymous pull must be refused");
    println!(
        "harness: built through bollard, pushed to {} (plain) and {} (TLS+htpasswd)",
        plain.host, tls.host
    );
}
