//! Stapel images on registry images (issue #42), as werf 2 reads them: `fromImage:` naming
//! no image of werf.yaml is a registry base, and an import whose source has a tag or digest
//! copies from the registry's image. Built through the real daemon from a loopback
//! registry with htpasswd auth (the daemon has no login there: Slipway's credentials
//! reach it); skopeo and the daemon are the judges.

use std::path::Path;

use crate::support;
use support::registry::Registry;

fn docker(config: Option<&Path>, args: &[&str]) {
    let mut c = std::process::Command::new("/usr/bin/docker");
    if let Some(cfg) = config {
        c.arg("--config").arg(cfg);
    }
    let out = c.args(args).output().expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Push an image with `file` holding `content` (on the busybox test base) as `reference`,
/// then drop the daemon's tag, so only the registry has it.
fn push_marker(config: &Path, reference: &str, file: &str, content: &str) {
    let ctx = tempfile::tempdir().expect("tmp");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!(
            "FROM {}\nRUN echo {content} > {file}\n",
            support::base_image()
        ),
    )
    .expect("Dockerfile");
    docker(
        None,
        &[
            "build",
            "-q",
            "-t",
            reference,
            &ctx.path().to_string_lossy(),
        ],
    );
    docker(Some(config), &["push", "-q", reference]);
    docker(None, &["rmi", reference]);
}

/// `slipway --json build` as werf 2 with the registry's credentials in `config`: whether
/// the image was skipped, or the error.
fn build(dir: &Path, host: &str, config: &Path) -> Result<bool, String> {
    let out = support::slipway()
        .project(dir)
        .stapel()
        .env("DOCKER_CONFIG", config)
        // --loose-giterminism: werf 2 allows `fromLatest` (the last part) no other way
        // without a giterminism file.
        .args(["--werf-version", "2", "--loose-giterminism"])
        .args(["--insecure-registry", host])
        .args(["--json", "build"])
        .assert();
    let o = out.get_output();
    if !o.status.success() {
        // `--json` reports the error on stdout.
        return Err(format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    let images = support::json_result(&o.stdout)["images"].clone();
    Ok(images[0]["skipped"] == true)
}

#[test]
fn external_from_image_and_import_build_and_a_moved_source_tag_rebuilds() {
    let reg = Registry::plain_auth();
    let creds = reg.docker_config_dir();
    let n = support::nonce();
    let (base, src) = (
        format!("{}/ext/base:1", reg.host),
        format!("{}/ext/src:1", reg.host),
    );
    push_marker(creds.path(), &base, "/base-marker", &format!("base-{n}"));
    push_marker(creds.path(), &src, "/marker", &format!("v1-{n}"));
    let d = support::based_project(
        &[],
        &format!(
            r#"project: stapel-external-{n}
configVersion: 1
---
image: app
fromImage: {base}
shell:
  install: cat /imported > /seen-by-install
import:
- from: {src}
  add: /marker
  to: /imported
  before: install
- image: {src}
  add: /
  to: /whole
  includePaths: [marker]
  after: install
"#
        ),
    );
    let img = format!("stapel-external-{n}/app:latest");
    assert_eq!(build(d.path(), &reg.host, creds.path()), Ok(false));
    assert_eq!(support::sh(&img, "cat /base-marker"), format!("base-{n}"));
    assert_eq!(support::sh(&img, "cat /imported"), format!("v1-{n}"));
    assert_eq!(support::sh(&img, "cat /seen-by-install"), format!("v1-{n}"));
    assert_eq!(support::sh(&img, "cat /whole/marker"), format!("v1-{n}"));
    // The source was pulled through the daemon pinned to the digest the registry serves.
    let v1 = support::skopeo::digest(&reg, "ext/src:1").expect("skopeo");
    docker(
        None,
        &["image", "inspect", &format!("{}/ext/src@{v1}", reg.host)],
    );
    // An unchanged tag: every stage is reused.
    assert_eq!(build(d.path(), &reg.host, creds.path()), Ok(true));

    // The tag moves to other content: the imports' stages rebuild from it.
    push_marker(creds.path(), &src, "/marker", &format!("v2-{n}"));
    let v2 = support::skopeo::digest(&reg, "ext/src:1").expect("skopeo");
    assert_ne!(v1, v2);
    assert_eq!(build(d.path(), &reg.host, creds.path()), Ok(false));
    assert_eq!(support::sh(&img, "cat /imported"), format!("v2-{n}"));
    assert_eq!(support::sh(&img, "cat /whole/marker"), format!("v2-{n}"));
    assert_eq!(support::sh(&img, "cat /base-marker"), format!("base-{n}"));
    assert_eq!(build(d.path(), &reg.host, creds.path()), Ok(true));

    // Without credentials the registry refuses: an error at the import, before any build.
    let empty = tempfile::tempdir().expect("tmp");
    let err = build(d.path(), &reg.host, empty.path()).expect_err("no credentials");
    assert!(
        err.contains(&format!(
            "image app: werf.yaml:9:3: import: registry image {src}: cannot get its digest from the registry"
        )),
        "{err}"
    );

    // The base's tag moves: reused, since werf 2 signs an external base by its name
    // (docs/stapel.md) ...
    push_marker(creds.path(), &base, "/base-marker", &format!("base2-{n}"));
    assert_eq!(build(d.path(), &reg.host, creds.path()), Ok(true));
    // ... and with `fromLatest: true` the registry's digest is in the signature: the image
    // is rebuilt on the moved base, pulled with Slipway's credentials.
    let yaml = std::fs::read_to_string(d.path().join("werf.yaml")).expect("werf.yaml");
    std::fs::write(
        d.path().join("werf.yaml"),
        yaml.replace(
            &format!("fromImage: {base}\n"),
            &format!("fromImage: {base}\nfromLatest: true\n"),
        ),
    )
    .expect("werf.yaml");
    support::git(d.path(), &["commit", "-qam", "fromLatest"]);
    assert_eq!(build(d.path(), &reg.host, creds.path()), Ok(false));
    assert_eq!(support::sh(&img, "cat /base-marker"), format!("base2-{n}"));
    assert_eq!(support::sh(&img, "cat /imported"), format!("v2-{n}"));
    assert_eq!(build(d.path(), &reg.host, creds.path()), Ok(true));

    let b2 = support::skopeo::digest(&reg, "ext/base:1").expect("skopeo");
    for r in [
        img,
        format!("{}/ext/base@{b2}", reg.host),
        format!("{}/ext/src@{v1}", reg.host),
        format!("{}/ext/src@{v2}", reg.host),
        base,
    ] {
        let _ = std::process::Command::new("/usr/bin/docker")
            .args(["rmi", "-f", &r])
            .output();
    }
}
