//! `slipway promote` against real registries, skopeo as the judge; a proxy counts bytes.

use crate::support;

use support::fault_proxy::FaultProxy;
use support::{Registry, skopeo};

#[test]
fn same_registry_mounts_every_blob_and_move_deletes_only_the_source_tag() {
    let reg = Registry::plain();
    let proxy = FaultProxy::start(&reg);
    let dir = tempfile::tempdir().expect("tmp");
    let tar = support::image_tarball(dir.path(), 200);
    let h = proxy.host.clone();
    support::slipway()
        .insecure(&h)
        .arg("push-archive")
        .arg(&tar)
        .arg(format!("{h}/staging/app:v1"))
        .assert()
        .success();
    support::slipway()
        .insecure(&h)
        .arg("push-archive")
        .arg(&tar)
        .arg(format!("{h}/staging/app:keep"))
        .assert()
        .success();
    let digest = skopeo::digest(&reg, "staging/app:v1").expect("digest");

    // Dry run: a plan, nothing written.
    let out = support::slipway()
        .insecure(&h)
        .args([
            "promote",
            &format!("{h}/staging/app:v1"),
            &format!("{h}/prod/app"),
            "--dry-run",
        ])
        .assert()
        .success();
    let plan = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(plan.starts_with("dry run: "), "{plan}");
    assert!(plan.contains("blob mount"), "{plan}");
    assert!(skopeo::tags(&reg, "prod/app").is_empty());

    let before = proxy.blob_bytes_uploaded();
    support::slipway()
        .insecure(&h)
        .args([
            "promote",
            &format!("{h}/staging/app:v1"),
            &format!("{h}/prod/app"),
            "--tag",
            "stable",
        ])
        .assert()
        .success();
    assert_eq!(
        proxy.blob_bytes_uploaded(),
        before,
        "a same-registry promote moved blob bytes"
    );
    assert_eq!(skopeo::digest(&reg, "prod/app:v1").expect("v1"), digest);
    assert_eq!(
        skopeo::digest(&reg, "prod/app:stable").expect("stable"),
        digest
    );

    // --move refuses while another source tag shares the manifest (delete is by digest).
    let out = support::slipway()
        .insecure(&h)
        .args([
            "promote",
            &format!("{h}/staging/app:v1"),
            &format!("{h}/prod2/app"),
            "--move",
        ])
        .assert()
        .code(1);
    assert!(
        String::from_utf8_lossy(&out.get_output().stderr)
            .contains("shares its manifest with tags keep")
    );
    assert_eq!(skopeo::tags(&reg, "staging/app"), vec!["keep", "v1"]);
    // A source whose only tag is the one moved: moved, nothing else touched.
    support::slipway()
        .insecure(&h)
        .arg("push-archive")
        .arg(&tar)
        .arg(format!("{h}/qa/app:rc1"))
        .assert()
        .success();
    support::slipway()
        .insecure(&h)
        .args([
            "promote",
            &format!("{h}/qa/app:rc1"),
            &format!("{h}/prod/app:rc1"),
            "--move",
        ])
        .assert()
        .success();
    assert!(skopeo::tags(&reg, "qa/app").is_empty());
    assert_eq!(skopeo::digest(&reg, "prod/app:rc1").expect("rc1"), digest);
    assert_eq!(
        skopeo::digest(&reg, "staging/app:keep").expect("keep"),
        digest
    );
    assert_eq!(skopeo::digest(&reg, "prod/app:v1").expect("v1"), digest);
}

#[test]
fn across_registries_copies_blobs_and_from_report_promotes_every_image() {
    let a = Registry::plain();
    let b = Registry::tls_auth();
    let dir = tempfile::tempdir().expect("tmp");
    let tar = support::image_tarball(dir.path(), 200);
    support::slipway()
        .insecure(&a.host)
        .arg("push-archive")
        .arg(&tar)
        .arg(format!("{}/staging/app:v1", a.host))
        .assert()
        .success();
    let digest = skopeo::digest(&a, "staging/app:v1").expect("digest");
    let cfg = b.docker_config_dir();
    // Dry run across registries: every blob (config and layers) is a copy with its size;
    // nothing is written to b.
    let out = support::slipway()
        .insecure(&a.host)
        .env("DOCKER_CONFIG", cfg.path())
        .args([
            "--json",
            "promote",
            &format!("{}/staging/app:v1", a.host),
            &format!("{}/prod/app:v1", b.host),
            "--dry-run",
        ])
        .assert()
        .success();
    let r = support::json_result(&out.get_output().stdout);
    let blobs = r["plans"][0]["blobs"].as_array().expect("blobs").clone();
    assert!(blobs.len() >= 2, "{r}");
    for blob in &blobs {
        assert_eq!(blob["action"], "copy", "{r}");
        assert!(blob["size"].as_u64().is_some_and(|s| s > 0), "{r}");
        assert!(
            blob["digest"]
                .as_str()
                .is_some_and(|d| d.starts_with("sha256:")),
            "{r}"
        );
    }
    assert_eq!(r["plans"][0]["digest"], digest.as_str());
    assert!(skopeo::tags(&b, "prod/app").is_empty());
    assert_eq!(
        b.count_requests("POST", "/blobs/uploads/"),
        0,
        "{}",
        b.log()
    );
    support::slipway()
        .insecure(&a.host)
        .env("DOCKER_CONFIG", cfg.path())
        .args([
            "promote",
            &format!("{}/staging/app:v1", a.host),
            &format!("{}/prod/app:v1", b.host),
        ])
        .assert()
        .success();
    assert_eq!(skopeo::digest(&b, "prod/app:v1").expect("copied"), digest);
    // Each blob was streamed from a into b's upload: one PATCH carrying it, then the PUT
    // that closes the upload (a monolithic upload would be a PUT alone).
    let patches = b.count_requests("PATCH", "/v2/prod/app/blobs/uploads/");
    let puts = b.count_requests("PUT", "/v2/prod/app/blobs/uploads/");
    assert!(patches > 1 && patches == puts, "{}", b.log());

    // --from-report: what a publish reported goes to another repository, same digests.
    let report = serde_json::json!({
        "project": "shop",
        "images": [{
            "name": "app", "repository": format!("{}/staging/app", a.host),
            "references": [format!("{}/staging/app:v1", a.host)], "digest": digest,
            "signature": "x", "build": "built", "push": "pushed"
        }]
    });
    let rp = dir.path().join("report.json");
    std::fs::write(&rp, report.to_string()).expect("write");
    support::slipway()
        .insecure(&a.host)
        .env("DOCKER_CONFIG", cfg.path())
        .args(["promote", "--from-report"])
        .arg(&rp)
        .args(["--to", &format!("{}/production", b.host)])
        .assert()
        .success();
    assert_eq!(
        skopeo::digest(&b, "production/app:v1").expect("promoted"),
        digest
    );
    // A missing source is a clear error.
    let out = support::slipway()
        .insecure(&a.host)
        .args([
            "promote",
            &format!("{}/staging/nope:v1", a.host),
            &format!("{}/x/y", a.host),
        ])
        .assert()
        .code(1);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("does not exist"));
}

/// Promote tells each blob as it goes: with `--json` a `layer-bytes` event every 16 MiB of
/// a big blob and `layer-done` with what happened; plain lines otherwise.
#[test]
fn promote_reports_progress_per_blob() {
    let a = Registry::plain();
    let b = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    // 40 MB of random bytes: one blob big enough for byte events.
    let tar = support::image_tarball(dir.path(), 40_000);
    support::slipway()
        .insecure(&a.host)
        .insecure(&b.host)
        .arg("push-archive")
        .arg(&tar)
        .arg(format!("{}/staging/app:v1", a.host))
        .assert()
        .success();
    let out = support::slipway()
        .insecure(&a.host)
        .insecure(&b.host)
        .args([
            "--json",
            "promote",
            &format!("{}/staging/app:v1", a.host),
            &format!("{}/prod/app:v1", b.host),
        ])
        .assert()
        .success();
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.get_output().stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let repo = format!("{}/prod/app", b.host);
    let bytes: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "layer-bytes")
        .collect();
    assert!(!bytes.is_empty(), "{events:?}");
    for e in &bytes {
        assert_eq!(e["repository"], repo.as_str());
        assert!(e["read"].as_u64() < e["size"].as_u64(), "{e}");
    }
    let done: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "layer-done")
        .collect();
    let starts = events
        .iter()
        .filter(|e| e["event"] == "layer-start")
        .count();
    assert!(done.len() >= 2 && done.len() == starts, "{events:?}");
    assert!(done.iter().all(|e| e["action"] == "copied"), "{done:?}");
    let copied: u64 = done.iter().filter_map(|e| e["bytes"].as_u64()).sum();
    let r = &events.last().expect("result")["result"]["promoted"][0];
    // Progress tells layers; the result counts every blob, the config too.
    let manifest: serde_json::Value =
        serde_json::from_str(&skopeo::raw_manifest(&b, "prod/app:v1").expect("manifest"))
            .expect("json");
    let config = manifest["config"]["size"].as_u64().expect("config size");
    assert_eq!(r["bytes_copied"].as_u64(), Some(copied + config), "{r}");
    assert!(copied > 40_000_000);

    // Plain lines (not a terminal): each blob, and within the same registry, mounted.
    let out = support::slipway()
        .insecure(&a.host)
        .insecure(&b.host)
        .args([
            "promote",
            &format!("{}/prod/app:v1", b.host),
            &format!("{}/prod/other:v1", b.host),
        ])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let other = format!("{}/prod/other", b.host);
    // A mounted layer is not "pushing": one line each, when it is mounted.
    assert_eq!(
        err.matches(&format!("{other} | layer ")).count(),
        starts,
        "{err}"
    );
    assert!(!err.contains(" pushing ("), "{err}");
    assert_eq!(err.matches(" mounted sha256:").count(), starts, "{err}");
    // Only layers are counted (the config blob is not a layer).
    let layers = manifest["layers"].as_array().map(Vec::len).expect("layers");
    assert_eq!(starts, layers, "{events:?}");
    assert!(done.iter().all(|e| e["layers"] == layers), "{done:?}");
}

/// A small image pushed to `staging/app:TAG` of `reg`.
fn staged(reg: &Registry, tag: &str, kb: usize) {
    let dir = tempfile::tempdir().expect("tmp");
    let tar = support::image_tarball(dir.path(), kb);
    support::slipway()
        .insecure(&reg.host)
        .arg("push-archive")
        .arg(&tar)
        .arg(format!("{}/staging/app:{tag}", reg.host))
        .assert()
        .success();
}

/// A git tag such as `release/2.0` ($CI_COMMIT_TAG in a tag pipeline) is promoted under the
/// slug publish gives it (`slipway slugify --format docker-tag`), not refused.
#[test]
fn a_git_tag_is_promoted_under_its_slug() {
    let reg = Registry::plain();
    let h = reg.host.clone();
    staged(&reg, "rc", 50);
    let out = support::slipway()
        .args(["slugify", "--format", "docker-tag", "release/2.0"])
        .assert()
        .success();
    let want = String::from_utf8_lossy(&out.get_output().stdout)
        .trim()
        .to_string();
    assert!(!want.contains('/'), "{want}");
    let out = support::slipway()
        .insecure(&h)
        .args([
            "promote",
            &format!("{h}/staging/app:rc"),
            &format!("{h}/prod/app"),
        ])
        .args(["--tag", "release/2.0"])
        .assert()
        .success();
    // docs/troubleshooting.md, mistake 7: the message says what was done instead.
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains(&format!(
            "--tag \"release/2.0\" is not a docker tag: using its slug \"{want}\""
        )),
        "{err}"
    );
    assert_eq!(
        skopeo::digest(&reg, &format!("prod/app:{want}")).ok(),
        skopeo::digest(&reg, "staging/app:rc").ok()
    );
}

/// Issue 37: promote's generic options read `SLIPWAY_PROMOTE_*`; the old `SLIPWAY_TAG`
/// (a name CI configurations use for other things) still works until 0.3, never silently.
#[test]
fn promote_reads_its_own_variables_and_warns_on_the_old_ones() {
    let reg = Registry::plain();
    let h = reg.host.clone();
    staged(&reg, "v1", 10);
    let promote = |vars: &[(&str, &str)]| {
        let mut c = support::slipway();
        c.insecure(&h).args([
            "promote",
            &format!("{h}/staging/app:v1"),
            &format!("{h}/prod/app"),
        ]);
        for (k, v) in vars {
            c.env(k, v);
        }
        let out = c.assert().success();
        String::from_utf8_lossy(&out.get_output().stderr).to_string()
    };
    // The old name: works, and says so.
    let err = promote(&[("SLIPWAY_TAG", "stray")]);
    assert!(
        err.contains("SLIPWAY_TAG is read as `promote --tag` until Slipway 0.3")
            && err.contains("rename it SLIPWAY_PROMOTE_TAG"),
        "{err}"
    );
    assert!(skopeo::tags(&reg, "prod/app").contains(&"stray".to_string()));
    // The new name: works, no warning; it wins over the old one.
    let err = promote(&[("SLIPWAY_PROMOTE_TAG", "new"), ("SLIPWAY_TAG", "ignored")]);
    assert!(!err.contains("SLIPWAY_TAG is read"), "{err}");
    let tags = skopeo::tags(&reg, "prod/app");
    assert!(tags.contains(&"new".to_string()), "{tags:?}");
    assert!(!tags.contains(&"ignored".to_string()), "{tags:?}");
}
