//! Multi-platform images (issue 34): platforms as werf 2 reads them (`--platform` >
//! the image's `platform:` > meta `build.platform` > the daemon's), normalized; each
//! platform built, and published as one OCI image index.

use slipway::config;
use slipway::settings::Settings;

fn load(yaml: &str) -> Result<config::Config, String> {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").expect("write");
    std::fs::write(dir.path().join("werf.yaml"), yaml).expect("write");
    config::load(&Settings {
        dir: dir.path().to_path_buf(),
        ..Settings::default()
    })
    .map_err(|e| e.to_string())
}

fn platforms(cfg: &config::Config, name: &str) -> Vec<String> {
    cfg.image(Some(name))
        .and_then(|i| i.dockerfile())
        .map(|d| d.platform.clone())
        .expect("a Dockerfile image")
}

#[test]
fn platforms_resolve_and_normalize_as_werf_2() {
    let cfg = load(
        "project: demo\nconfigVersion: 1\nbuild:\n  platform: [arm64, linux/amd64]\n---\nimage: own\nplatform: [linux/arm64/v8, x86_64, linux/arm64]\n---\nimage: meta\n",
    )
    .expect("valid");
    assert_eq!(platforms(&cfg, "own"), ["linux/arm64", "linux/amd64"]);
    assert_eq!(platforms(&cfg, "meta"), ["linux/arm64", "linux/amd64"]);
    // `--platform` replaces both lists.
    let mut forced = cfg.clone();
    forced.force_platforms(&["linux/s390x".to_string()]);
    assert_eq!(platforms(&forced, "own"), ["linux/s390x"]);
    assert_eq!(platforms(&forced, "meta"), ["linux/s390x"]);
    // Nothing given: the daemon's own (an empty list).
    let none = load("project: demo\nconfigVersion: 1\n---\nimage: a\n").expect("valid");
    assert!(platforms(&none, "a").is_empty());
}

#[test]
fn a_platform_that_is_no_platform_is_a_located_config_error() {
    let err =
        load("project: demo\nconfigVersion: 1\n---\nimage: a\nplatform: [linux/amd64, nonsense]\n")
            .expect_err("refused");
    assert!(
        err.contains("werf.yaml:5:")
            && err.contains("\"nonsense\": unknown operating system or architecture"),
        "{err}"
    );
    let err = load(
        "project: demo\nconfigVersion: 1\n---\nimage: a\nplatform: [\"linux/amd64,linux/arm64\"]\n",
    )
    .expect_err("refused");
    assert!(
        err.contains("specify multiple platforms using a YAML list"),
        "{err}"
    );
    let err = load(
        "project: demo\nconfigVersion: 1\nbuild:\n  platform: [linux/bogus/x/y]\n---\nimage: a\n",
    )
    .expect_err("refused");
    assert!(err.contains("build.platform:"), "{err}");
}

use crate::support::{self, Registry, skopeo};

/// A project whose image is built for linux/amd64 and linux/arm64 FROM a two-platform
/// base in `reg`: a COPY of `files/${TARGETARCH}/` and a RUN writing `uname -m`.
fn two_platform_project(reg: &Registry) -> tempfile::TempDir {
    let base = support::multiarch::two_platform_base(reg, "base/busybox");
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {base}\nARG TARGETARCH\nCOPY files/${{TARGETARCH}}/ /files/\nRUN uname -m > /arch && echo {}\nCMD [\"cat\", \"/arch\"]\n",
            support::nonce()
        ),
    )
    .expect("Dockerfile");
    for arch in ["amd64", "arm64"] {
        let d = dir.path().join("files").join(arch);
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::write(d.join("note"), format!("{arch} 1\n")).expect("note");
    }
    std::fs::write(
        dir.path().join("werf.yaml"),
        "project: multi\nconfigVersion: 1\n---\nimage: app\nplatform: [linux/amd64, linux/arm64]\n",
    )
    .expect("werf.yaml");
    dir
}

fn publish(dir: &std::path::Path, reg: &Registry, report: &std::path::Path) -> String {
    let out = support::slipway()
        .project(dir)
        .images_repo(reg, "multi")
        .insecure(&reg.host)
        .args(["build-and-publish", "--tag-custom", "v1", "--report-path"])
        .arg(report)
        .timeout(std::time::Duration::from_secs(900))
        .assert()
        .success();
    String::from_utf8_lossy(&out.get_output().stderr).to_string()
}

/// The index `reference` holds: each child's `os/arch` and digest, in order.
fn children(reg: &Registry, reference: &str) -> (serde_json::Value, Vec<(String, String)>) {
    let raw: serde_json::Value =
        serde_json::from_str(&skopeo::raw_manifest(reg, reference).expect("manifest"))
            .expect("json");
    let list = raw["manifests"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|m| {
                    (
                        format!(
                            "{}/{}",
                            m["platform"]["os"].as_str().unwrap_or(""),
                            m["platform"]["architecture"].as_str().unwrap_or("")
                        ),
                        m["digest"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (raw, list)
}

fn skopeo_ok(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Issue 34's "Done when": one index with both manifests, each platform's config and
/// `uname -m` its own, the index digest the reported one; a second run builds and pushes
/// nothing; a change of one platform's `COPY files/${TARGETARCH}/` rebuilds that platform
/// only and pushes a new index; `promote --platform linux/arm64` copies that manifest alone;
/// `images --json` lists both platforms.
#[test]
fn two_platforms_publish_one_index_and_a_second_run_does_nothing() {
    let reg = Registry::plain();
    let dir = two_platform_project(&reg);
    let report = dir.path().join("report.json");
    let err = publish(dir.path(), &reg, &report);
    for p in ["linux/amd64", "linux/arm64"] {
        assert!(err.contains(&format!("app ({p}) | building")), "{err}");
    }

    let (raw, first) = children(&reg, "multi/app:v1");
    assert_eq!(
        raw["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{raw}"
    );
    let platforms: Vec<&str> = first.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"], "{raw}");
    // skopeo picks the arm64 manifest out of the index: copied alone, its config says arm64.
    let src = format!("docker://{}/multi/app:v1", reg.host);
    let arm = format!("docker://{}/multi/copied:arm64", reg.host);
    skopeo_ok(&[
        "copy",
        "-q",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--override-arch",
        "arm64",
        &src,
        &arm,
    ]);
    let cfg: serde_json::Value = serde_json::from_slice(&skopeo_ok(&[
        "inspect",
        "--tls-verify=false",
        "--config",
        &arm,
    ]))
    .expect("config json");
    assert_eq!(cfg["architecture"], "arm64", "{cfg}");
    // Issue 35: each platform's config has the OCI labels, each platform manifest its own
    // provenance under its fallback tag.
    assert_eq!(
        cfg["config"]["Labels"]["org.opencontainers.image.title"], "app",
        "{cfg}"
    );
    let tags = skopeo::tags(&reg, "multi/app");
    for (p, d) in &first {
        assert!(
            tags.contains(&d.replacen(':', "-", 1)),
            "{p}: no fallback tag in {tags:?}"
        );
    }
    // The reported digest is the index's.
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    let index_digest = skopeo::digest(&reg, "multi/app:v1").expect("digest");
    assert_eq!(rep["images"][0]["digest"], index_digest.as_str(), "{rep}");
    // The daemon runs the arm64 image (emulated) from the registry.
    let image = format!("{}/multi/app:v1", reg.host);
    let run = std::process::Command::new("docker")
        .args([
            "run",
            "--rm",
            "--pull",
            "always",
            "--platform",
            "linux/arm64",
            &image,
        ])
        .output()
        .expect("docker run");
    let _ = std::process::Command::new("docker")
        .args(["rmi", &image])
        .output();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        "aarch64",
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    // A second run: every platform reused, nothing pushed.
    let puts = reg.count_requests("PUT", "/multi/app/");
    let err = publish(dir.path(), &reg, &report);
    assert_eq!(reg.count_requests("PUT", "/multi/app/"), puts, "{err}");
    assert!(!err.contains("| building"), "{err}");
    assert_eq!(
        skopeo::digest(&reg, "multi/app:v1").expect("digest"),
        index_digest
    );

    // arm64's files change: arm64 alone is rebuilt, amd64's manifest stays.
    std::fs::write(dir.path().join("files/arm64/note"), "arm64 2\n").expect("note");
    let err = publish(dir.path(), &reg, &report);
    assert!(err.contains("app (linux/arm64) | building"), "{err}");
    assert!(!err.contains("app (linux/amd64) | building"), "{err}");
    let (_, second) = children(&reg, "multi/app:v1");
    assert_eq!(second[0], first[0], "amd64's manifest changed");
    assert_ne!(second[1].1, first[1].1, "arm64's manifest did not change");
    let now = skopeo::digest(&reg, "multi/app:v1").expect("digest");
    assert_ne!(now, index_digest);
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    assert_eq!(rep["images"][0]["digest"], now.as_str(), "{rep}");

    // promote --platform linux/arm64: that manifest alone, not the index (its provenance
    // left out here: it would be one PUT more).
    let promoted_puts = || reg.count_requests("PUT", "/promoted/app/manifests/");
    let before = promoted_puts();
    support::slipway()
        .insecure(&reg.host)
        .args([
            "promote",
            "--platform",
            "linux/arm64",
            "--provenance=false",
            &format!("{}/multi/app:v1", reg.host),
            &format!("{}/promoted/app:arm", reg.host),
        ])
        .assert()
        .success();
    assert_eq!(promoted_puts() - before, 1, "one manifest PUT");
    assert_eq!(
        skopeo::digest(&reg, "promoted/app:arm").expect("digest"),
        second[1].1
    );
    let cfg = skopeo::config(&reg, "promoted/app:arm").expect("config");
    assert_eq!(cfg["architecture"], "arm64", "{cfg}");

    // `images --json` lists the platforms, each with its own signature.
    let out = support::slipway()
        .project(dir.path())
        .args(["--json", "images"])
        .assert()
        .success();
    let listed = support::json_result(&out.get_output().stdout);
    let rows = listed["images"][0]["platforms"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = rows.iter().filter_map(|r| r["platform"].as_str()).collect();
    assert_eq!(names, ["linux/amd64", "linux/arm64"], "{listed}");
    assert_ne!(rows[0]["signature"], rows[1]["signature"], "{listed}");
}

/// `slipway cleanup` in `dir` (keep policies by git history) as `--json`; `dry_run` only
/// plans. Returns the result.
fn cleanup(dir: &std::path::Path, reg: &Registry, dry_run: bool) -> serde_json::Value {
    let mut c = support::slipway();
    c.project(dir)
        .images_repo(reg, "multi")
        .insecure(&reg.host)
        .args([
            "--json",
            "cleanup",
            "--without-kube",
            "--git-history-synchronization",
            "--min-age",
            "0s",
        ]);
    if dry_run {
        c.arg("--dry-run");
    }
    let out = c.assert().success();
    support::json_result(&out.get_output().stdout)
}

/// Issue 34's "Done when": cleanup keeps a child shared by a kept and a deleted index. main
/// publishes index A; a feature branch changes arm64's files only and publishes index B,
/// which lists A's amd64 manifest too; the branch is deleted at origin. Cleanup deletes B,
/// then B's arm64 manifest; the amd64 one stays (A lists it), and A pulls for both
/// platforms.
#[test]
fn cleanup_keeps_a_child_shared_by_a_kept_and_a_deleted_index() {
    let reg = Registry::plain();
    let dir = two_platform_project(&reg);
    let origin = tempfile::tempdir().expect("tmp");
    support::git(origin.path(), &["init", "-q", "--bare"]);
    let git = |args: &[&str]| support::git(dir.path(), args);
    support::git_commit_all(dir.path());
    git(&["remote", "add", "origin", &origin.path().to_string_lossy()]);
    git(&["push", "-q", "origin", "HEAD:refs/heads/main"]);
    let image_tags = || -> Vec<String> {
        skopeo::tags(&reg, "multi/app")
            .into_iter()
            .filter(|t| !t.starts_with("sha256-"))
            .collect()
    };
    let publish = || {
        support::slipway()
            .project(dir.path())
            .images_repo(&reg, "multi")
            .insecure(&reg.host)
            .args(["build-and-publish", "--tag-by-content"])
            .timeout(std::time::Duration::from_secs(900))
            .assert()
            .success();
    };
    publish();
    let kept_tag = image_tags().pop().expect("main's tag");
    git(&["checkout", "-q", "-b", "feature"]);
    std::fs::write(dir.path().join("files/arm64/note"), "arm64 feature\n").expect("note");
    git(&["commit", "-qam", "feature"]);
    git(&["push", "-q", "origin", "HEAD:refs/heads/feature"]);
    publish();
    let gone_tag = image_tags()
        .into_iter()
        .find(|t| *t != kept_tag)
        .expect("feature's tag");
    let (_, kept) = children(&reg, &format!("multi/app:{kept_tag}"));
    let (_, gone) = children(&reg, &format!("multi/app:{gone_tag}"));
    assert_eq!(kept[0], gone[0], "the amd64 manifest is not shared");
    assert_ne!(kept[1], gone[1], "the arm64 manifests are the same");
    git(&["checkout", "-q", "main"]);
    git(&["push", "-q", "origin", "--delete", "feature"]);

    // The plan: B goes, then its arm64 manifest; the shared amd64 one stays, and says why.
    let plan = cleanup(dir.path(), &reg, true)["plan"].clone();
    let decision = |tag: &str| {
        plan["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["tag"] == tag)
            .map(|i| i["decision"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(decision(&kept_tag).as_deref(), Some("keep"), "{plan}");
    assert_eq!(decision(&gone_tag).as_deref(), Some("delete"), "{plan}");
    let child = |digest: &str| {
        plan["children"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["digest"] == digest)
            .cloned()
            .unwrap_or_else(|| panic!("{digest} not in {plan}"))
    };
    let shared = child(&gone[0].1);
    assert_eq!(shared["decision"], "keep", "{shared}");
    assert!(
        shared["reason"]
            .as_str()
            .is_some_and(|r| r.contains(&format!("kept index {}/multi/app:{kept_tag}", reg.host))),
        "{shared}"
    );
    assert_eq!(child(&gone[1].1)["decision"], "delete", "{plan}");
    assert_eq!(plan["children"].as_array().map(Vec::len), Some(2), "{plan}");
    // The dry run deleted nothing.
    assert!(skopeo::digest(&reg, &format!("multi/app@{}", gone[1].1)).is_ok());

    let done = cleanup(dir.path(), &reg, false);
    // B and its arm64 manifest (its provenance's fallback tag with it).
    assert_eq!(done["deleted"]["deleted_manifests"], 2, "{done}");
    assert_eq!(image_tags(), vec![kept_tag.clone()]);
    assert!(skopeo::digest(&reg, &format!("multi/app@{}", gone[1].1)).is_err());
    assert!(
        !skopeo::tags(&reg, "multi/app").contains(&gone[1].1.replacen(':', "-", 1)),
        "the deleted manifest's provenance stayed"
    );
    assert_eq!(
        skopeo::digest(&reg, &format!("multi/app@{}", gone[0].1)).expect("shared child"),
        gone[0].1
    );
    // A is whole: both platforms copy out of it.
    let (_, after) = children(&reg, &format!("multi/app:{kept_tag}"));
    assert_eq!(after, kept);
    let src = format!("docker://{}/multi/app:{kept_tag}", reg.host);
    for arch in ["amd64", "arm64"] {
        let dest = format!("docker://{}/multi/pulled:{arch}", reg.host);
        skopeo_ok(&[
            "copy",
            "-q",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--override-arch",
            arch,
            &src,
            &dest,
        ]);
        let cfg = skopeo::config(&reg, &format!("multi/pulled:{arch}")).expect("config");
        assert_eq!(cfg["architecture"], arch, "{cfg}");
    }

    // Purge leaves no platform manifest behind either.
    support::slipway()
        .project(dir.path())
        .images_repo(&reg, "multi")
        .insecure(&reg.host)
        .args(["purge", "--force"])
        .assert()
        .success();
    assert!(image_tags().is_empty(), "{:?}", image_tags());
    for (p, d) in &kept {
        assert!(
            skopeo::digest(&reg, &format!("multi/app@{d}")).is_err(),
            "{p} {d} stayed"
        );
    }
}
