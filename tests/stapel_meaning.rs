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
