//! Podman as the daemon (`podman system service`, Docker's API): build, publish and
//! skip-unchanged, located failures and `doctor`, against a real Podman service that
//! `scripts/setup` starts. `podman run` cannot start containers on these machines, so
//! images are inspected through the API and skopeo, never run.

use crate::support;

use std::path::Path;

use support::{Registry, skopeo};

fn shop_copy() -> tempfile::TempDir {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop");
    let d = tempfile::tempdir().expect("tmp");
    for e in walkdir::WalkDir::new(&from) {
        let e = e.expect("walk");
        let dest = d.path().join(e.path().strip_prefix(&from).expect("rel"));
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
        } else {
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
    d
}

/// The images a `build-and-publish --json` report says were built.
fn built(stdout: &[u8]) -> Vec<String> {
    let report: serde_json::Value = support::json_result(stdout);
    let images = report["images"].as_array().expect("images");
    assert_eq!(images.len(), 3, "{report}");
    let mut v: Vec<String> = images
        .iter()
        .filter(|i| i["build"] == "built")
        .filter_map(|i| i["name"].as_str().map(str::to_string))
        .collect();
    v.sort();
    v
}

fn labels(image: &str) -> serde_json::Value {
    let podman = support::podman_with_base_image();
    let i = support::block_on(async move { podman.inspect_image(image).await }).expect("inspect");
    serde_json::to_value(i.config.and_then(|c| c.labels)).expect("labels")
}

#[test]
fn examples_build_publish_and_skip_unchanged_on_podman() {
    let reg = Registry::plain();
    let dir = shop_copy();
    let publish = |extra: &[&str]| -> Vec<u8> {
        let out = support::slipway()
            .podman()
            .project(dir.path())
            .args([
                "--images-repo",
                &format!("{}/pshop", reg.host),
                "--insecure-registry",
                &reg.host,
                "--json",
                "build-and-publish",
                "--tag-custom",
                "v1",
                "--tag-by-content",
            ])
            .args(extra)
            .assert()
            .success();
        out.get_output().stdout.clone()
    };
    assert_eq!(built(&publish(&["--force"])).len(), 3);
    for image in ["backend", "frontend", "migrations"] {
        let cfg = skopeo::config(&reg, &format!("pshop/{image}:v1")).expect("skopeo");
        assert_eq!(cfg["config"]["Labels"]["slipway.image"], image);
        let sig = cfg["config"]["Labels"]["slipway.signature"]
            .as_str()
            .expect("signature label")
            .to_string();
        assert_eq!(
            skopeo::digest(&reg, &format!("pshop/{image}:{sig}")).expect("content tag"),
            skopeo::digest(&reg, &format!("pshop/{image}:v1")).expect("v1")
        );
    }
    // The OCI labels (issue 35): title and vendor; no source without a git remote.
    let l = &skopeo::config(&reg, "pshop/frontend:v1").expect("skopeo")["config"]["Labels"];
    assert_eq!(l["org.opencontainers.image.title"], "frontend", "{l}");
    assert_eq!(l["org.opencontainers.image.vendor"], "shop", "{l}");
    assert!(l.get("org.opencontainers.image.source").is_none(), "{l}");
    // No change: nothing is built (backend's `target:` is not the last stage).
    assert_eq!(built(&publish(&[])), Vec::<String>::new());

    // A label-only change leaves every Dockerfile step cached: Buildah then keeps the old
    // labels on a non-last target unless Slipway repairs them. (migrations depends on
    // backend, so it is rebuilt too.)
    let werf = dir.path().join("werf.yaml");
    let text = std::fs::read_to_string(&werf).expect("read");
    // Unique per run: images from an earlier run must not answer for this one.
    let title = format!(
        "shop-backend-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    std::fs::write(&werf, text.replace("shop-backend", &title)).expect("write");
    let third = publish(&[]);
    assert_eq!(
        built(&third),
        vec!["backend".to_string(), "migrations".to_string()],
        "{}",
        String::from_utf8_lossy(&third)
    );
    let l = labels("shop/backend:latest");
    assert_eq!(l["org.opencontainers.image.title"], title.as_str());
    let cfg = skopeo::config(&reg, "pshop/backend:v1").expect("skopeo");
    assert_eq!(
        cfg["config"]["Labels"]["org.opencontainers.image.title"],
        title.as_str()
    );
    assert_eq!(built(&publish(&[])), Vec::<String>::new());
}

#[test]
fn failures_are_located_and_never_look_built_on_podman() {
    let d = tempfile::tempdir().expect("tmp");
    let nonce = format!("{:?}", std::time::SystemTime::now());
    support::write_tree(
        d.path(),
        &[
            (
                "werf.yaml",
                "project: pfail\nconfigVersion: 1\n---\nimage: a\n",
            ),
            (
                "Dockerfile",
                &format!(
                    "FROM {} AS one\nRUN true\n\nFROM one\nENV X=1\nRUN echo '{nonce}'\nRUN false\n",
                    support::BASE_IMAGE
                ),
            ),
        ],
    );
    for _ in 0..2 {
        // The second run must fail the same way: Buildah tags and labels what it got to,
        // which must never pass for a built image.
        let out = support::slipway()
            .podman()
            .project(d.path())
            .arg("build")
            .assert()
            .failure();
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(err.contains("Dockerfile:7: RUN false"), "{err}");
    }
    let out = support::slipway()
        .podman()
        .project(d.path())
        .arg("doctor")
        .assert();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("Podman"), "{text}");
    assert!(!text.contains("404"), "{text}");
    let out = support::slipway()
        .podman()
        .project(d.path())
        .args(["build", "--buildkit", "on"])
        .assert()
        .failure();
    assert!(
        String::from_utf8_lossy(&out.get_output().stderr).contains("Podman"),
        "BuildKit refusal names Podman"
    );
}

#[test]
fn secrets_reach_run_mounts_and_stay_out_of_the_image_on_podman() {
    let d = tempfile::tempdir().expect("tmp");
    let nonce = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let token = format!("tok-{nonce}-env");
    let plain = format!("val-{nonce}-plain");
    support::write_tree(
        d.path(),
        &[
            (
                "werf.yaml",
                "project: psecret\nconfigVersion: 1\n---\nimage: a\nsecrets:\n  - env: PSECRET_TOKEN\n  - id: plain\n    value: {{ env \"PSECRET_PLAIN\" }}\n",
            ),
            (
                "Dockerfile",
                &format!(
                    "FROM {}\nCOPY . /ctx/\nRUN --mount=type=secret,id=PSECRET_TOKEN --mount=type=secret,id=plain sha256sum /run/secrets/PSECRET_TOKEN /run/secrets/plain | cut -d' ' -f1 > /sums\n",
                    support::BASE_IMAGE
                ),
            ),
            ("stamp", &nonce),
        ],
    );
    let out = support::slipway()
        .podman()
        .project(d.path())
        .env("PSECRET_TOKEN", &token)
        .env("PSECRET_PLAIN", &plain)
        .args(["--log-level", "trace", "build"])
        .assert()
        .success();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.get_output().stdout),
        String::from_utf8_lossy(&out.get_output().stderr)
    );
    assert!(
        !printed.contains(&token) && !printed.contains(&plain),
        "{printed}"
    );
    // The image's files, read through `podman image mount` (containers cannot run here).
    let mount = std::process::Command::new("podman")
        .args(["image", "mount", "psecret/a:latest"])
        .output()
        .expect("podman image mount");
    assert!(mount.status.success(), "{mount:?}");
    let root = std::path::PathBuf::from(String::from_utf8_lossy(&mount.stdout).trim());
    let sums = std::fs::read_to_string(root.join("sums")).expect("/sums");
    let ctx: Vec<String> = std::fs::read_dir(root.join("ctx"))
        .expect("/ctx")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .collect();
    let _ = std::process::Command::new("podman")
        .args(["image", "unmount", "psecret/a:latest"])
        .output();
    let sha = |s: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(s.as_bytes()))
    };
    assert_eq!(sums, format!("{}\n{}\n", sha(&token), sha(&plain)));
    assert!(
        ctx.iter().all(|f| !f.starts_with(".slipway-secret")),
        "a secret file stayed in the context: {ctx:?}"
    );
    // No layer holds either value.
    let podman = support::podman_with_base_image();
    let saved = support::block_on(async move {
        use futures::StreamExt;
        let mut s = podman.export_image("psecret/a:latest");
        let mut all = Vec::new();
        while let Some(c) = s.next().await {
            all.extend_from_slice(&c.expect("export"));
        }
        all
    });
    let hay = String::from_utf8_lossy(&saved);
    assert!(!hay.contains(&token) && !hay.contains(&plain));
    // ssh: is refused on Podman, naming it.
    std::fs::write(
        d.path().join("werf.yaml"),
        "project: psecret\nconfigVersion: 1\n---\nimage: a\nssh: default\n",
    )
    .expect("write");
    let out = support::slipway()
        .podman()
        .project(d.path())
        .env("SSH_AUTH_SOCK", "/nonexistent.sock")
        .arg("build")
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(err.contains("ssh") && err.contains("Podman"), "{err}");
}

/// A stapel image with `secrets:` on Podman (issue 42): stapel images are built with
/// BuildKit only, which Podman lacks, so the build is refused before anything is built,
/// with that reason; the secret's value is nowhere in the output.
#[test]
fn a_stapel_image_with_secrets_is_refused_on_podman_with_the_reason() {
    let secret = format!("podman-stapel-{}", support::nonce());
    let d = support::based_project(
        &[],
        "project: pstapel\nconfigVersion: 1\n---\nimage: app\nfrom: BASE\nsecrets:\n- env: PSTAPEL_TOKEN\nshell:\n  install: cat /run/secrets/PSTAPEL_TOKEN > /leak\n",
    );
    let out = support::slipway()
        .podman()
        .project(d.path())
        .stapel()
        .env("PSTAPEL_TOKEN", &secret)
        .args(["--werf-version", "2", "build"])
        .assert()
        .failure();
    let o = out.get_output();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        text.contains("image app is a stapel image, which Slipway builds with BuildKit only, and BuildKit is not used: the daemon is Podman"),
        "{text}"
    );
    assert!(!text.contains(&secret), "{text}");
    let inspected = support::block_on(async {
        support::podman_with_base_image()
            .inspect_image("pstapel/app:latest")
            .await
    });
    assert!(inspected.is_err(), "nothing is built");
}

#[test]
fn push_with_daemon_honours_insecure_registry_on_podman() {
    let reg = Registry::plain();
    let d = tempfile::tempdir().expect("tmp");
    let nonce = format!("{:?}", std::time::SystemTime::now());
    support::write_tree(
        d.path(),
        &[
            (
                "werf.yaml",
                "project: ppush\nconfigVersion: 1\n---\nimage: a\n",
            ),
            (
                "Dockerfile",
                &format!("FROM {}\nCOPY stamp /stamp\n", support::BASE_IMAGE),
            ),
            ("stamp", &nonce),
        ],
    );
    let out = support::slipway()
        .podman()
        .project(d.path())
        .args([
            "--images-repo",
            &format!("{}/ppush", reg.host),
            "--insecure-registry",
            &reg.host,
            "build-and-publish",
            "--push-with-daemon",
            "--tag-custom",
            "v1",
        ])
        .assert();
    let o = out.get_output();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let cfg = skopeo::config(&reg, "ppush/a:v1").expect("pushed by Podman");
    assert_eq!(cfg["config"]["Labels"]["slipway.image"], "a");
}

/// Removes Podman's per-host CA directory on drop.
struct CertsD(std::path::PathBuf);

impl Drop for CertsD {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn private_base_images_are_pulled_with_docker_and_podman_credentials() {
    let reg = Registry::tls_auth();
    let (user, pass) = reg.creds.clone().expect("creds");
    // Podman reads a registry's CA from /etc/containers/certs.d/HOST.
    let certs_d = CertsD(std::path::PathBuf::from("/etc/containers/certs.d").join(&reg.host));
    std::fs::create_dir_all(&certs_d.0).expect("mkdir certs.d");
    std::fs::copy(reg.ca_cert.as_ref().expect("ca"), certs_d.0.join("ca.crt")).expect("ca");
    let d = tempfile::tempdir().expect("tmp");
    let saved = d.path().join("base.tar");
    let st = std::process::Command::new("/usr/bin/docker")
        .args(["save", "-o"])
        .arg(&saved)
        .arg(support::base_image())
        .status()
        .expect("docker save");
    assert!(st.success());
    let docker_cfg = reg.docker_config_dir();
    let base = format!("{}/private/pbase:1", reg.host);
    support::slipway()
        .env("DOCKER_CONFIG", docker_cfg.path())
        .env("XDG_CACHE_HOME", d.path().join("cache"))
        .args(["push-archive"])
        .arg(&saved)
        .arg(&base)
        .assert()
        .success();
    let project = d.path().join("p");
    let nonce = format!("{:?}", std::time::SystemTime::now());
    support::write_tree(
        &project,
        &[
            (
                "werf.yaml",
                "project: ppriv\nconfigVersion: 1\n---\nimage: a\n",
            ),
            ("Dockerfile", &format!("FROM {base}\nCOPY stamp /stamp\n")),
            ("stamp", &nonce),
        ],
    );
    let forget_base = || {
        let _ = std::process::Command::new("podman")
            .args(["rmi", "-f", &base])
            .output();
    };
    let empty = tempfile::tempdir().expect("tmp");
    let no_podman_auth = d.path().join("no-auth.json");
    // No credentials anywhere: the registry refuses Podman.
    forget_base();
    let out = support::slipway()
        .podman()
        .project(&project)
        .env("DOCKER_CONFIG", empty.path())
        .env("REGISTRY_AUTH_FILE", &no_podman_auth)
        .args(["build", "--force"])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_lowercase();
    assert!(
        err.contains("unauthorized")
            || err.contains("authentication required")
            || err.contains("401"),
        "{err}"
    );
    // docker's config.json, sent as X-Registry-Config.
    let out = support::slipway()
        .podman()
        .project(&project)
        .env("DOCKER_CONFIG", docker_cfg.path())
        .env("REGISTRY_AUTH_FILE", &no_podman_auth)
        .args(["--log-level", "trace", "build", "--force"])
        .assert()
        .success();
    let printed = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(!printed.contains(support::registry::PASSWORD), "{printed}");
    // Podman's own auth file (`podman login` writes this shape).
    forget_base();
    let auth = d.path().join("auth.json");
    let b64 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    };
    std::fs::write(
        &auth,
        format!("{{\"auths\":{{\"{}\":{{\"auth\":\"{b64}\"}}}}}}", reg.host),
    )
    .expect("auth.json");
    support::slipway()
        .podman()
        .project(&project)
        .env("DOCKER_CONFIG", empty.path())
        .env("REGISTRY_AUTH_FILE", &auth)
        .args(["build", "--force"])
        .assert()
        .success();
    assert!(reg.count_requests("GET", "/v2/private/pbase/manifests/") >= 2);
}
