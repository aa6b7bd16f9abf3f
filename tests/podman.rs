//! Podman as the daemon (`podman system service`, Docker's API): build, publish and
//! skip-unchanged, located failures and `doctor`, against a real Podman service that
//! `scripts/setup` starts. `podman run` cannot start containers on these machines, so
//! images are inspected through the API and skopeo, never run.

mod support;

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

fn slipway(dir: &Path) -> assert_cmd::Command {
    let _ = support::podman_with_base_image();
    let mut c = support::slipway();
    c.env("DOCKER_HOST", support::podman_host())
        .env("BASE_IMAGE", support::BASE_IMAGE)
        .env("XDG_CACHE_HOME", support::cache_home(dir))
        .arg("--dir")
        .arg(dir);
    c
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
        let out = slipway(dir.path())
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
        let out = slipway(d.path()).arg("build").assert().failure();
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(err.contains("Dockerfile:7: RUN false"), "{err}");
    }
    let out = slipway(d.path()).arg("doctor").assert();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("Podman"), "{text}");
    assert!(!text.contains("404"), "{text}");
    let out = slipway(d.path())
        .args(["build", "--buildkit", "on"])
        .assert()
        .failure();
    assert!(
        String::from_utf8_lossy(&out.get_output().stderr).contains("Podman"),
        "BuildKit refusal names Podman"
    );
}
