//! werf 2's stapel keys that issue #42 decided: `network`, `disableGitAfterPatch`,
//! `docker.exactValues`, and the image `cacheVersion` in every stage's signature. Built
//! through the real daemon on the busybox test base with the local toolbox.

use crate::support;

use std::path::Path;

/// A name no earlier run used (an old image of the same signature would be taken as is).
fn unique(prefix: &str) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{}-{t}", std::process::id())
}

/// Removes the test's images at the end, pass or fail.
struct RemoveImages(Vec<String>);

impl Drop for RemoveImages {
    fn drop(&mut self) {
        for i in &self.0 {
            let _ = std::process::Command::new("/usr/bin/docker")
                .args(["rmi", "-f", i])
                .output();
        }
    }
}

/// `slipway --json build`: each image's result, and the output (the `stapel stages:` line
/// is a `log` event).
fn build(dir: &Path) -> (serde_json::Value, String) {
    let out = support::slipway()
        .project(dir)
        .stapel()
        .args(["--json", "build"])
        .assert()
        .success();
    let o = out.get_output();
    let images = support::json_result(&o.stdout)["images"].clone();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (images, text)
}

fn image<'a>(images: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    images
        .as_array()
        .expect("images")
        .iter()
        .find(|i| i["name"] == name)
        .expect("image")
}

fn commit(dir: &Path, msg: &str) {
    support::git(dir, &["add", "-A"]);
    support::git(dir, &["commit", "-qm", msg]);
}

/// The network interfaces a step saw (`/proc/net/dev`, kept in the image).
fn interfaces(img: &str) -> Vec<String> {
    support::sh(img, "cat /net-dev")
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':').map(|(n, _)| n.trim().to_string()))
        .collect()
}

#[test]
fn network_none_gives_the_steps_loopback_only() {
    let project = unique("stapel-network");
    let _rm = RemoveImages(vec![
        format!("{project}/none:latest"),
        format!("{project}/default:latest"),
    ]);
    let step = "shell:\n  install: cat /proc/net/dev > /net-dev\n";
    let d = support::based_project(
        &[],
        &format!(
            "project: {project}\nconfigVersion: 1\n---\nimage: none\nfrom: BASE\nnetwork: none\n{step}---\nimage: default\nfrom: BASE\n{step}"
        ),
    );
    build(d.path());
    assert_eq!(interfaces(&format!("{project}/none:latest")), vec!["lo"]);
    let default = interfaces(&format!("{project}/default:latest"));
    assert!(
        default.iter().any(|i| i != "lo"),
        "the default network has an interface besides lo: {default:?}"
    );
}

#[test]
fn disable_git_after_patch_takes_git_changes_only_with_a_rebuilt_stage() {
    let project = unique("stapel-nopatch");
    let img = format!("{project}/app:latest");
    let _rm = RemoveImages(vec![img.clone()]);
    let d = support::based_project(
        &[("package.json", "1\n"), ("src/main.js", "one\n")],
        &format!(
            r#"project: {project}
configVersion: 1
---
image: app
from: BASE
disableGitAfterPatch: true
git:
- add: /
  to: /app
  stageDependencies:
    install: [package.json]
shell:
  install:
  - cat /proc/sys/kernel/random/uuid >> /install-runs
  - cat /app/src/main.js > /main-at-install
"#
        ),
    );
    let dir = d.path();
    let (first, _) = build(dir);
    let sig1 = image(&first, "app")["signature"].clone();
    let run1 = support::sh(&img, "cat /install-runs");
    assert_eq!(support::sh(&img, "cat /app/src/main.js"), "one");

    // A file no mask matches: same signature, nothing built, no patch.
    std::fs::write(dir.join("src/main.js"), "two\n").expect("write");
    commit(dir, "source");
    let (second, _) = build(dir);
    assert_eq!(image(&second, "app")["signature"], sig1);
    assert_eq!(image(&second, "app")["skipped"], true, "{second}");
    assert_eq!(support::sh(&img, "cat /app/src/main.js"), "one");

    // A file install's mask matches: install reruns on the new sources, and still no
    // gitLatestPatch.
    std::fs::write(dir.join("package.json"), "2\n").expect("write");
    commit(dir, "package");
    let (third, err) = build(dir);
    assert_ne!(image(&third, "app")["signature"], sig1);
    let stages = support::stages_summary(&err);
    assert!(!stages.contains("gitLatestPatch"), "{stages}");
    assert!(
        stages.contains("built") && stages.contains("install"),
        "{stages}"
    );
    assert_ne!(
        support::sh(&img, "cat /install-runs"),
        run1,
        "install ran again"
    );
    assert_eq!(support::sh(&img, "cat /main-at-install"), "two");

    // Not in an artifact, with werf's error at the key.
    std::fs::write(
        dir.join("werf.yaml"),
        "project: p\nconfigVersion: 1\n---\nartifact: a\nfrom: BASE\ndisableGitAfterPatch: true\n"
            .replace("BASE", support::base_image()),
    )
    .expect("werf.yaml");
    let out = support::slipway()
        .project(dir)
        .args(["config", "validate"])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("werf.yaml:6:1")
            && err.contains("`disableGitAfterPatch` directive is not supported for artifact!"),
        "{err}"
    );
}

#[test]
fn exact_values_is_accepted_and_values_are_taken_as_written() {
    let project = unique("stapel-exact");
    let _rm = RemoveImages(vec![
        format!("{project}/exact:latest"),
        format!("{project}/bare:latest"),
    ]);
    let docker = |exact: &str| {
        format!(
            "docker:\n  {exact}ENV:\n    SPACED: a b\n    QUOTED: '\"q\"'\n  LABEL:\n    l: x y\n"
        )
    };
    let d = support::based_project(
        &[],
        &format!(
            "project: {project}\nconfigVersion: 1\n---\nimage: exact\nfrom: BASE\n{}---\nimage: bare\nfrom: BASE\n{}",
            docker("exactValues: true\n  "),
            docker("")
        ),
    );
    build(d.path());
    for name in ["exact", "bare"] {
        let out = std::process::Command::new("/usr/bin/docker")
            .args(["inspect", &format!("{project}/{name}:latest")])
            .output()
            .expect("inspect");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let env = &v[0]["Config"]["Env"];
        let has = |e: &str| env.as_array().expect("env").iter().any(|x| x == e);
        assert!(has("SPACED=a b") && has("QUOTED=\"q\""), "{name}: {env}");
        assert_eq!(v[0]["Config"]["Labels"]["l"], "x y", "{name}");
    }
    // Not a boolean: a located error naming the key.
    std::fs::write(
        d.path().join("werf.yaml"),
        "project: p\nconfigVersion: 1\n---\nimage: x\nfrom: BASE\ndocker:\n  exactValues: maybe\n"
            .replace("BASE", support::base_image()),
    )
    .expect("werf.yaml");
    let out = support::slipway()
        .project(d.path())
        .args(["config", "validate"])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("werf.yaml:7:16") && err.contains("docker.exactValues must be true or false"),
        "{err}"
    );
}

#[test]
fn a_new_image_cache_version_rebuilds_every_stage() {
    let project = unique("stapel-cachever");
    let img = format!("{project}/app:latest");
    let _rm = RemoveImages(vec![img.clone()]);
    let yaml = |v: &str| {
        format!(
            "project: {project}\nconfigVersion: 1\n---\nimage: app\nfrom: BASE\ncacheVersion: {v}\nshell:\n  install: cat /proc/sys/kernel/random/uuid > /install-run\n"
        )
    };
    let d = support::based_project(&[], &yaml("one"));
    let dir = d.path();
    build(dir);
    let run1 = support::sh(&img, "cat /install-run");
    std::fs::write(
        dir.join("werf.yaml"),
        yaml("two").replace("BASE", support::base_image()),
    )
    .expect("werf.yaml");
    commit(dir, "cacheVersion");
    let (_, err) = build(dir);
    let stages = support::stages_summary(&err);
    assert!(stages.starts_with("reused none;"), "{stages}");
    assert_ne!(
        support::sh(&img, "cat /install-run"),
        run1,
        "install ran again"
    );
}
