//! `final: false` (issue #43): an intermediate image is built and imported, never published
//! under the run's tags, absent from the report and the digest file, published under its
//! content tag only when a dependant imports its registry name, and kept by cleanup while a
//! kept dependant's commit needs it.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Registry, skopeo};

fn git(dir: &Path, args: &[&str], date: Option<&str>) -> String {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com");
    if let Some(d) = date {
        c.env("GIT_AUTHOR_DATE", d).env("GIT_COMMITTER_DATE", d);
    }
    let out = c.output().expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

const WERF_YAML: &str = r#"project: final-images
configVersion: 1
cleanup:
  keepPolicies:
  - references:
      branch: main
    imagesPerReference:
      in: 72h
---
image: base
final: false
dockerfile: base.Dockerfile
---
image: app
dockerfile: app.Dockerfile
dependencies:
- image: base
  imports:
  - type: ImageName
    targetBuildArg: BASE_NAME
---
image: unused
final: false
dockerfile: base.Dockerfile
"#;

/// A git project with a bare origin (cleanup reads origin's branches).
struct Project {
    _d: tempfile::TempDir,
    work: PathBuf,
    reg: Registry,
}

impl Project {
    fn new() -> Project {
        let base = support::base_image();
        let d = tempfile::tempdir().expect("tmp");
        let origin = d.path().join("origin.git");
        let work = d.path().join("work");
        std::fs::create_dir_all(&origin).expect("mkdir");
        std::fs::create_dir_all(&work).expect("mkdir");
        git(&origin, &["init", "-q", "--bare", "-b", "main"], None);
        let nonce = format!("{:?}", std::time::SystemTime::now());
        support::write_tree(
            &work,
            &[
                ("werf.yaml", WERF_YAML),
                (
                    "base.Dockerfile",
                    &format!("FROM {base}\nCOPY content.txt nonce /\n"),
                ),
                (
                    "app.Dockerfile",
                    &format!("FROM {base}\nARG BASE_NAME\nRUN echo \"$BASE_NAME\" > /base-name\n"),
                ),
                ("nonce", &nonce),
            ],
        );
        git(&work, &["init", "-q", "-b", "main"], None);
        git(
            &work,
            &["remote", "add", "origin", &origin.to_string_lossy()],
            None,
        );
        Project {
            _d: d,
            work,
            reg: Registry::plain(),
        }
    }

    /// Commit `content` dated `age_days` ago and push it.
    fn commit(&self, content: &str, age_days: i64) {
        std::fs::write(self.work.join("content.txt"), content).expect("write");
        git(&self.work, &["add", "-A"], None);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let date = format!("@{} +0000", now - age_days * 86_400);
        git(&self.work, &["commit", "-qm", content], Some(&date));
        git(
            &self.work,
            &["push", "-q", "-f", "origin", "HEAD:refs/heads/main"],
            None,
        );
    }

    fn slipway(&self) -> support::Slipway {
        let mut c = support::slipway();
        c.project(&self.work).images_repo(&self.reg, "fin");
        c
    }

    /// Publish under `tag`; the report and the digest file.
    fn publish(&self, tag: &str) -> (serde_json::Value, String) {
        self.publish_named("", tag)
    }

    /// Publish image `name` (every image: empty) under `tag`.
    fn publish_named(&self, name: &str, tag: &str) -> (serde_json::Value, String) {
        let report = self.work.join("../report.json");
        let digests = self.work.join("../digests.env");
        let mut c = self.slipway();
        c.arg("build-and-publish");
        if !name.is_empty() {
            c.arg(name);
        }
        c.args(["--tag-custom", tag, "--report-path"])
            .arg(&report)
            .arg("--digest-file")
            .arg(&digests)
            .assert()
            .success();
        let r =
            serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
        (r, std::fs::read_to_string(&digests).expect("digest file"))
    }

    /// The image's tags, without the provenance fallback tags (`sha256-<hex>`, issue 35).
    fn tags(&self, image: &str) -> Vec<String> {
        skopeo::tags(&self.reg, &format!("fin/{image}"))
            .into_iter()
            .filter(|t| !(t.starts_with("sha256-") && t.len() == 71))
            .collect()
    }

    fn cleanup(&self, extra: &[&str]) {
        self.slipway()
            .args([
                "cleanup",
                "--without-kube",
                "--git-history-synchronization",
                "--min-age",
                "0s",
            ])
            .args(extra)
            .assert()
            .success();
    }
}

#[test]
fn a_non_final_image_is_imported_published_by_content_only_and_kept_while_its_dependant_is() {
    let p = Project::new();
    p.commit("one", 10);
    let (report, digests) = p.publish("v1");
    // Only the final image is reported.
    let names: Vec<&str> = report["images"]
        .as_array()
        .expect("images")
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert_eq!(names, vec!["app"], "{report}");
    assert!(
        !digests.contains("BASE") && !digests.contains("UNUSED"),
        "{digests}"
    );
    assert!(digests.contains("SLIPWAY_DIGEST_APP="), "{digests}");
    // base: its content tag only; unused: nothing; app: the run's tag.
    let base1 = p.tags("base");
    assert_eq!(base1.len(), 1, "{base1:?}");
    assert_ne!(base1[0], "v1");
    let cfg = skopeo::config(&p.reg, &format!("fin/base:{}", base1[0])).expect("config");
    assert_eq!(
        cfg["config"]["Labels"]["slipway.signature"].as_str(),
        Some(base1[0].as_str()),
        "the content tag is the signature"
    );
    assert!(p.tags("unused").is_empty());
    assert_eq!(p.tags("app"), vec!["v1"]);
    // app was built with base's registry name.
    let name = support::sh(&format!("{}/fin/app:v1", p.reg.host), "cat /base-name");
    assert_eq!(name, format!("{}/fin/base:{}", p.reg.host, base1[0]));

    // Named explicitly, a non-final image builds; published, it gets its content tag
    // only and is not reported.
    p.slipway().args(["build", "unused"]).assert().success();
    let (report, _) = p.publish_named("unused", "v9");
    assert_eq!(report["images"], serde_json::json!([]), "{report}");
    let unused = p.tags("unused");
    assert_eq!(unused.len(), 1, "{unused:?}");
    assert_ne!(unused[0], "v9");

    p.commit("two", 1);
    p.publish("v2");
    let base2: Vec<String> = p
        .tags("base")
        .into_iter()
        .filter(|t| !base1.contains(t))
        .collect();
    assert_eq!(base2.len(), 1);
    // app:v1 (10 days old) is kept by --keep-tag: base's first image, which v1 names and
    // which the same commit published, stays with it.
    p.cleanup(&["--keep-tag", "v1"]);
    let mut both = vec![base1[0].clone(), base2[0].clone()];
    both.sort();
    assert_eq!(p.tags("app"), vec!["v1", "v2"]);
    assert_eq!(p.tags("base"), both);
    // Without it, v1 goes, and base's first image with it.
    p.cleanup(&[]);
    assert_eq!(p.tags("app"), vec!["v2"]);
    assert_eq!(p.tags("base"), base2);
}
