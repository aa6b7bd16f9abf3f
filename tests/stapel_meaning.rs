//! werf 1.1's stapel meaning that outlives one build (issue 32): an artifact's signature
//! covers only its own stages and the files its `stageDependencies` match; a stage an
//! image imports from stays in the stages storage while the image is kept; `tmp_dir` is
//! one directory for all the stages of one build. Real daemon, real registry; the base is
//! the busybox test image and steps run with the local toolbox.

use crate::support;

use std::path::Path;

use support::{Registry, nonce, skopeo};

/// Removes the project's local images at the end, pass or fail.
struct Forget(String);

impl Drop for Forget {
    fn drop(&mut self) {
        let out = std::process::Command::new("/usr/bin/docker")
            .args(["images", "-q", "--filter"])
            .arg(format!("reference={}/*", self.0))
            .output();
        let Ok(out) = out else { return };
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if !ids.is_empty() {
            let _ = std::process::Command::new("/usr/bin/docker")
                .args(["rmi", "-f"])
                .args(&ids)
                .output();
        }
    }
}

fn commit_all(dir: &Path, msg: &str) {
    support::git(dir, &["add", "-A"]);
    support::git(dir, &["commit", "-qm", msg]);
}

/// `build-and-publish --tag-custom TAG`: the report's digest of image `image`.
fn publish(dir: &Path, reg: &Registry, repo: &str, tag: &str, image: &str) -> String {
    let report = dir.join(format!("../{}-report.json", nonce()));
    support::slipway()
        .project(dir)
        .stapel()
        .args(["--images-repo", &format!("{}/{repo}", reg.host)])
        .insecure(&reg.host)
        .args(["build-and-publish", "--tag-custom", tag, "--report-path"])
        .arg(&report)
        .assert()
        .success();
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    let _ = std::fs::remove_file(&report);
    let digest = rep["images"]
        .as_array()
        .expect("images")
        .iter()
        .find(|i| i["name"] == image)
        .and_then(|i| i["digest"].as_str())
        .expect("the image's digest")
        .to_string();
    assert_eq!(
        skopeo::digest(reg, &format!("{repo}/{image}:{tag}")).expect("skopeo"),
        digest
    );
    digest
}

/// werf's artifact signature: a file the artifact maps but no `stageDependencies` mask
/// matches changes nothing (werf: the artifact's stages are reused, it has no latest
/// patch), so the image importing from it keeps its digest; a matched file rebuilds the
/// artifact on the new sources.
#[test]
fn an_artifact_file_outside_stage_dependencies_keeps_the_digest() {
    let reg = Registry::plain();
    let project = format!("stapel-art-{}", nonce());
    let _forget = Forget(project.clone());
    let d = support::based_project(
        &[("deps.txt", "1\n"), ("other.txt", "a\n")],
        &r#"project: PROJECT
configVersion: 1
---
artifact: art
from: BASE
git:
- add: /
  to: /src
  stageDependencies:
    install: [deps.txt]
shell:
  install:
  - mkdir -p /out && cp /src/deps.txt /src/other.txt /out/
---
image: app
from: BASE
import:
- artifact: art
  add: /out
  to: /out
  after: install
"#
        .replace("PROJECT", &project),
    );
    let dir = d.path();
    let v1 = publish(dir, &reg, "art", "v1", "app");

    std::fs::write(dir.join("other.txt"), "b\n").expect("write");
    commit_all(dir, "outside stageDependencies");
    let v2 = publish(dir, &reg, "art", "v2", "app");
    assert_eq!(v2, v1, "a file outside stageDependencies: same digest");
    assert_eq!(
        support::sh(&format!("{project}/app:latest"), "cat /out/other.txt"),
        "a",
        "the artifact's stages are kept, as werf keeps them"
    );

    std::fs::write(dir.join("deps.txt"), "2\n").expect("write");
    commit_all(dir, "stageDependencies");
    let v3 = publish(dir, &reg, "art", "v3", "app");
    assert_ne!(v3, v1, "a matched file rebuilds");
    assert_eq!(
        support::sh(
            &format!("{project}/app:latest"),
            "cat /out/deps.txt /out/other.txt"
        ),
        "2\nb",
        "install ran on the new sources"
    );
}

/// werf's `tmp_dir`: what one stage writes there the next stage of the same build reads;
/// the next build starts with it empty (a stage reused from before did not run in it).
#[test]
fn tmp_dir_is_shared_by_the_stages_of_one_build() {
    let project = format!("stapel-tmp-{}", nonce());
    let _forget = Forget(project.clone());
    let yaml = |install_cache: &str| {
        r#"project: PROJECT
configVersion: 1
---
image: app
from: BASE
mount:
- from: tmp_dir
  to: /scratch
shell:
  installCacheVersion: "CACHE"
  beforeInstall:
  - echo written-by-beforeInstall > /scratch/note
  install:
  - cat /scratch/note > /seen-install 2>/dev/null || echo empty > /seen-install
  setup:
  - ls -A /scratch > /seen-setup
"#
        .replace("PROJECT", &project)
        .replace("CACHE", install_cache)
        .replace("BASE", support::base_image())
    };
    let d = support::based_project(&[], &yaml("1"));
    let dir = d.path();
    let build = || {
        support::slipway()
            .project(dir)
            .stapel()
            .arg("build")
            .assert()
            .success();
    };
    build();
    let img = format!("{project}/app:latest");
    assert_eq!(
        support::sh(&img, "cat /seen-install"),
        "written-by-beforeInstall",
        "install read what beforeInstall wrote"
    );
    assert_eq!(support::sh(&img, "cat /seen-setup"), "note");
    assert_eq!(
        support::sh(&img, "ls -A /scratch 2>/dev/null | wc -l"),
        "0",
        "nothing of tmp_dir is in the image"
    );

    // A new build that reruns install only: beforeInstall is reused, it did not run in
    // this build, so install finds tmp_dir empty (werf's is new for each run).
    std::fs::write(dir.join("werf.yaml"), yaml("2")).expect("werf.yaml");
    commit_all(dir, "install cache version");
    build();
    assert_eq!(support::sh(&img, "cat /seen-install"), "empty");
    assert_eq!(support::sh(&img, "cat /seen-setup"), "");
}

/// The stored stage a tag holds (the last entry of its record).
fn stage_of(reg: &Registry, repo: &str, tag: &str) -> String {
    let c = skopeo::config(reg, &format!("{repo}:{tag}")).expect("config");
    let r: serde_json::Value = serde_json::from_str(
        c["config"]["Labels"]["slipway.stapel.stages"]
            .as_str()
            .expect("record"),
    )
    .expect("json");
    r.as_array().expect("list").last().expect("entry")["stage"]
        .as_str()
        .expect("stage")
        .to_string()
}

/// A copy of a stored stage under an old tag of its signature (stored in 1970), as
/// another manifest (OCI), as if an earlier build had stored it long ago.
fn age_copy(reg: &Registry, repo: &str, tag: &str) -> String {
    let sig = tag.rsplit_once('-').expect("SIG-MILLIS").0;
    let old = format!("{sig}-1000");
    let out = std::process::Command::new("skopeo")
        .args(["copy", "--quiet", "--format", "oci"])
        .args(["--src-tls-verify=false", "--dest-tls-verify=false"])
        .arg(format!("docker://{}/{repo}:{tag}", reg.host))
        .arg(format!("docker://{}/{repo}:{old}", reg.host))
        .output()
        .expect("skopeo copy");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    old
}

/// werf keeps the stages a kept image imports from (its `werf-import-*` labels): an
/// artifact's stored stages stay while an image importing from it is kept, and go with it.
#[test]
fn import_source_stages_stay_while_an_importing_image_is_kept() {
    let reg = Registry::plain();
    let project = format!("stapel-imp-{}", nonce());
    let _forget = Forget(project.clone());
    let storage = format!("{}/imp/stages", reg.host);
    let repo = format!("{}/imp", reg.host);
    let yaml = |text: &str| {
        r#"project: PROJECT
configVersion: 1
---
artifact: art
from: BASE
shell:
  beforeInstall:
  - echo TEXT > /art
---
image: app
from: BASE
import:
- artifact: art
  add: /art
  to: /art
  after: install
"#
        .replace("PROJECT", &project)
        .replace("TEXT", text)
        .replace("BASE", support::base_image())
    };
    let d = support::based_project(&[], &yaml("one"));
    let dir = d.path();
    let slipway = || {
        let mut c = support::slipway();
        c.project(dir)
            .stapel()
            .args(["-s", &storage, "-i", &repo])
            .insecure(&reg.host);
        c
    };
    let art_stage = |tags: &[String], not_in: &[String]| {
        tags.iter()
            .filter(|t| !not_in.contains(t))
            .find(|t| stage_of(&reg, "imp/stages", t) == "beforeInstall")
            .cloned()
            .expect("the artifact's stage is stored")
    };
    slipway()
        .args(["build-and-publish", "--tag-custom", "v1"])
        .assert()
        .success();
    let first = skopeo::tags(&reg, "imp/stages");
    let art1 = art_stage(&first, &[]);
    std::fs::write(dir.join("werf.yaml"), yaml("two")).expect("werf.yaml");
    commit_all(dir, "another artifact");
    slipway()
        .args(["build-and-publish", "--tag-custom", "v2"])
        .assert()
        .success();
    let art2 = art_stage(&skopeo::tags(&reg, "imp/stages"), &first);
    let (old1, old2) = (
        age_copy(&reg, "imp/stages", &art1),
        age_copy(&reg, "imp/stages", &art2),
    );

    let out = slipway()
        .args(["--json", "cleanup", "--without-kube", "--min-age", "0s"])
        .args(["--keep-tag", "^v2$"])
        .assert()
        .success();
    let r = support::json_result(&out.get_output().stdout);
    let decision = |tag: &str| {
        r["stages"]["plan"]["items"]
            .as_array()
            .expect("stage items")
            .iter()
            .find(|i| i["tag"] == tag)
            .map(|i| i["decision"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(decision(&old2).as_deref(), Some("keep"), "{r}");
    assert_eq!(decision(&old1).as_deref(), Some("delete"), "{r}");
    let left = skopeo::tags(&reg, "imp/stages");
    assert!(left.contains(&old2), "v2 imports from it: {left:?}");
    assert!(!left.contains(&old1), "only v1 imported from it: {left:?}");
}
