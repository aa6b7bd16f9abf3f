//! Stapel stage reuse through the local daemon (issue #20, docs/stapel.md): `install`
//! reruns only when its `stageDependencies` change; other commits patch the sources in
//! (changed files copied, deleted ones removed), as werf 1.1 does. The base is the busybox
//! test image and steps run with the local toolbox; nothing is pulled.

use crate::support;

use std::path::Path;

/// `slipway build`; its `stapel stages:` line.
fn build(dir: &Path) -> String {
    let out = support::slipway()
        .project(dir)
        .stapel()
        .arg("build")
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    err.lines()
        .find_map(|l| l.split_once("stapel stages: ").map(|(_, r)| r.to_string()))
        .unwrap_or_else(|| panic!("no stapel stages line in:\n{err}"))
}

/// The stage record label of an image: (stage, commit) pairs.
fn record(image: &str) -> Vec<(String, String)> {
    let out = std::process::Command::new("/usr/bin/docker")
        .args([
            "inspect",
            "-f",
            "{{index .Config.Labels \"slipway.stapel.stages\"}}",
            image,
        ])
        .output()
        .expect("docker inspect");
    assert!(out.status.success(), "inspect {image}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("record is JSON");
    v.as_array()
        .expect("a list")
        .iter()
        .map(|r| {
            (
                r["stage"].as_str().unwrap_or("").to_string(),
                r["commit"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Removes the test's image at the end, pass or fail.
struct RemoveImage(String);

impl Drop for RemoveImage {
    fn drop(&mut self) {
        let _ = std::process::Command::new("/usr/bin/docker")
            .args(["rmi", "-f", &self.0])
            .output();
    }
}

fn commit_all(dir: &Path, msg: &str) -> String {
    support::git(dir, &["add", "-A"]);
    support::git(dir, &["commit", "-qm", msg]);
    support::git(dir, &["rev-parse", "HEAD"])
}

#[test]
fn install_reruns_only_when_its_stage_dependencies_change() {
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    // A project of its own: an image left by an earlier run has the same content
    // signature and would be taken as is.
    let project = format!(
        "stapel-stages-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|t| t.as_nanos())
            .unwrap_or_default()
    );
    let _cleanup = RemoveImage(format!("{project}/app:latest"));
    support::write_tree(
        dir,
        &[
            ("package.json", "{\"v\": 1}\n"),
            ("src/main.js", "one\n"),
            ("src/old.js", "old\n"),
            ("src/gone/deep.js", "deep\n"),
        ],
    );
    std::fs::write(
        dir.join("werf.yaml"),
        r#"project: PROJECT
configVersion: 1
---
image: app
from: BASE
git:
- add: /
  to: /app
  stageDependencies:
    install: [package.json]
shell:
  install:
  - cat /proc/sys/kernel/random/uuid >> /app-install-runs
  - cp /app/package.json /installed-package.json
  setup:
  - echo setup >> /setup-runs
"#
        .replace("BASE", support::base_image())
        .replace("PROJECT", &project),
    )
    .expect("werf.yaml");
    support::git(dir, &["init", "-q"]);
    let c1 = commit_all(dir, "init");
    let img = &format!("{project}/app:latest");

    let first = build(dir);
    assert!(first.starts_with("reused none;"), "{first}");
    let runs1 = support::sh(img, "cat /app-install-runs");
    assert_eq!(runs1.lines().count(), 1);
    assert!(record(img).iter().any(|(s, c)| s == "install" && *c == c1));

    // A source change outside stageDependencies.install: install is reused, the sources
    // are patched in at the end.
    std::fs::write(dir.join("src/main.js"), "two\n").expect("write");
    std::fs::write(dir.join("src/new.js"), "new\n").expect("write");
    std::fs::remove_file(dir.join("src/old.js")).expect("rm");
    std::fs::remove_dir_all(dir.join("src/gone")).expect("rm");
    let c2 = commit_all(dir, "source change");
    let second = build(dir);
    let (reused, built) = second.split_once(';').expect("two parts");
    assert!(
        reused.contains("install") && reused.contains("setup"),
        "{second}"
    );
    assert!(built.contains("gitLatestPatch"), "{second}");
    assert_eq!(
        support::sh(img, "cat /app-install-runs"),
        runs1,
        "install not rerun"
    );
    assert_eq!(
        support::sh(img, "cat /setup-runs"),
        "setup",
        "setup not rerun"
    );
    assert_eq!(support::sh(img, "cat /app/src/main.js"), "two");
    assert_eq!(support::sh(img, "cat /app/src/new.js"), "new");
    assert_eq!(
        support::sh(img, "ls /app/src/old.js /app/src/gone 2>&1 || true"),
        "ls: /app/src/old.js: No such file or directory\nls: /app/src/gone: No such file or directory",
        "deleted paths and the directory they left empty are gone"
    );
    let rec = record(img);
    assert!(
        rec.iter().any(|(s, c)| s == "install" && *c == c1),
        "{rec:?}"
    );
    assert!(
        rec.iter().any(|(s, c)| s == "gitLatestPatch" && *c == c2),
        "{rec:?}"
    );

    // Another source change: still patched from the install's commit.
    std::fs::write(dir.join("src/main.js"), "three\n").expect("write");
    commit_all(dir, "another source change");
    let third = build(dir);
    assert!(third.contains("built gitLatestPatch"), "{third}");
    assert_eq!(
        support::sh(img, "cat /app-install-runs"),
        runs1,
        "install not rerun"
    );
    assert_eq!(support::sh(img, "cat /app/src/main.js"), "three");
    assert_eq!(support::sh(img, "cat /app/src/new.js"), "new");

    // package.json changes: install reruns (on the new sources) and setup after it.
    std::fs::write(dir.join("package.json"), "{\"v\": 2}\n").expect("write");
    let c4 = commit_all(dir, "deps");
    let fourth = build(dir);
    let (reused, built) = fourth.split_once(';').expect("two parts");
    assert!(!reused.contains("install"), "{fourth}");
    assert!(
        built.contains("install") && built.contains("setup"),
        "{fourth}"
    );
    let runs4 = support::sh(img, "cat /app-install-runs");
    assert_eq!(runs4.lines().count(), 1);
    assert_ne!(runs4, runs1, "install reran");
    assert_eq!(
        support::sh(img, "cat /installed-package.json"),
        "{\"v\": 2}",
        "install saw the new package.json"
    );
    assert_eq!(support::sh(img, "cat /app/src/main.js"), "three");
    assert_eq!(support::sh(img, "ls /app/src"), "main.js\nnew.js");
    let rec = record(img);
    assert!(
        rec.iter().any(|(s, c)| s == "install" && *c == c4),
        "{rec:?}"
    );
    assert!(!rec.iter().any(|(s, _)| s == "gitLatestPatch"), "{rec:?}");

    // A source change after that: install, patched last time, is regenerated with the
    // same patch (BuildKit reuses it) and the new source comes in the latest patch.
    std::fs::write(dir.join("src/main.js"), "five\n").expect("write");
    let c5 = commit_all(dir, "source after deps");
    let fifth = build(dir);
    let (reused, built) = fifth.split_once(';').expect("two parts");
    assert!(reused.contains("install"), "{fifth}");
    assert!(built.contains("gitLatestPatch"), "{fifth}");
    assert_eq!(
        support::sh(img, "cat /app-install-runs"),
        runs4,
        "install not rerun"
    );
    assert_eq!(support::sh(img, "cat /app/src/main.js"), "five");
    let rec = record(img);
    assert!(
        rec.iter().any(|(s, c)| s == "gitArchive" && *c == c1),
        "{rec:?}"
    );
    assert!(
        rec.iter().any(|(s, c)| s == "install" && *c == c4),
        "{rec:?}"
    );
    assert!(
        rec.iter().any(|(s, c)| s == "gitLatestPatch" && *c == c5),
        "{rec:?}"
    );

    // `--force` does not use the record: every stage from HEAD, no patch.
    let out = support::slipway()
        .project(dir)
        .stapel()
        .args(["build", "--force"])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("stapel stages: reused none;"), "{err}");
    assert_eq!(support::sh(img, "cat /app/src/main.js"), "five");
    let rec = record(img);
    assert!(
        rec.iter().any(|(s, c)| s == "gitArchive" && *c == c5),
        "{rec:?}"
    );
    assert!(!rec.iter().any(|(s, _)| s == "gitLatestPatch"), "{rec:?}");
}
