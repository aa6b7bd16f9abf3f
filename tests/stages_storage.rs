//! Stapel stages shared through a stages storage in a registry (issue #20,
//! docs/stapel.md): a runner that has none of the project's images reuses the stages
//! another runner stored, builds only what changed, and two runners at once publish one
//! digest. Real daemon, real registry; the base is the busybox test image.
//!
//! A "fresh runner" here is the same daemon with the project's images and the stored
//! stages' local tags removed: [`forget`] does it, and [`slipway_on`] runs Slipway against
//! any daemon (`DOCKER_HOST`), so a second daemon can serve as a real second runner.

use crate::support;

use std::path::Path;
use std::process::Command;

use support::{Registry, skopeo};

/// `slipway build -s STORAGE` (storage given through werf's variable); stderr.
fn build(dir: &Path, storage: &str, docker_host: Option<&str>) -> String {
    let out = support::slipway()
        .project(dir)
        .stapel()
        .docker_host(docker_host)
        .env("WERF_STAGES_STORAGE", storage)
        .arg("build")
        .assert()
        .success();
    String::from_utf8_lossy(&out.get_output().stderr).to_string()
}

/// Remove every local image of the project and every local tag of the registry (stored
/// stages, published references), as a runner that never built it would be (BuildKit's cache is left alone: it is shared
/// with other tests; the output and the registry's log show where stages came from).
fn forget(project: &str, registry: &str) {
    let out = Command::new("/usr/bin/docker")
        .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .output()
        .expect("docker images");
    let refs: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|r| r.starts_with(&format!("{project}/")) || r.starts_with(&format!("{registry}/")))
        .map(String::from)
        .collect();
    if !refs.is_empty() {
        let _ = Command::new("/usr/bin/docker")
            .arg("rmi")
            .arg("-f")
            .args(&refs)
            .output();
    }
    // Images of the project left untagged (a rebuild took the tag) still carry its
    // signature label, which a fresh runner would not have.
    let out = Command::new("/usr/bin/docker")
        .args(["images", "-aq", "--filter"])
        .arg(format!("label=slipway.project={project}"))
        .output()
        .expect("docker images");
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect();
    if !ids.is_empty() {
        let _ = Command::new("/usr/bin/docker")
            .arg("rmi")
            .arg("-f")
            .args(&ids)
            .output();
    }
}

/// Removes the project's images and the storage's tags at the end, pass or fail.
struct Forget(String, String);

impl Drop for Forget {
    fn drop(&mut self) {
        forget(&self.0, &self.1);
    }
}

fn commit_all(dir: &Path, msg: &str) -> String {
    support::git(dir, &["add", "-A"]);
    support::git(dir, &["commit", "-qm", msg]);
    support::git(dir, &["rev-parse", "HEAD"])
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|t| t.as_nanos())
            .unwrap_or_default()
    )
}

/// A stapel project whose `install` depends on package.json and counts its runs.
fn project(dir: &Path, name: &str) {
    support::write_tree(
        dir,
        &[
            ("package.json", "{\"v\": 1}\n"),
            ("src/main.js", "one\n"),
            ("src/old.js", "old\n"),
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
docker:
  WORKDIR: /app
"#
        .replace("BASE", support::base_image())
        .replace("PROJECT", name),
    )
    .expect("werf.yaml");
    support::git(dir, &["init", "-q"]);
}

#[test]
fn a_fresh_runner_reuses_the_stored_stages() {
    let reg = Registry::plain();
    let storage = format!("{}/group/app/stages", reg.host);
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    let name = unique("stages-storage");
    let _cleanup = Forget(name.clone(), reg.host.clone());
    project(dir, &name);
    let c1 = commit_all(dir, "init");
    let img = &format!("{name}/app:latest");

    // Runner 1 builds every stage and stores each one as SIGNATURE-MILLIS.
    let first = build(dir, &storage, None);
    assert!(
        support::stages_summary(&first).starts_with("reused none;"),
        "{first}"
    );
    assert!(first.contains("stored 5 stage(s)"), "{first}");
    let tags = skopeo::tags(&reg, "group/app/stages");
    assert_eq!(tags.len(), 5, "{tags:?}");
    for t in &tags {
        let (sig, millis) = t.rsplit_once('-').expect("SIGNATURE-MILLIS");
        assert_eq!(sig.len(), 64, "{t}");
        assert!(
            millis.parse::<u64>().expect("millis") > 1_600_000_000_000,
            "{t}"
        );
    }
    let runs1 = support::sh(img, "cat /app-install-runs");
    assert_eq!(runs1.lines().count(), 1);
    // Each stage image carries its record (the install stage's commit).
    let record = tags
        .iter()
        .filter_map(|t| {
            let c = skopeo::config(&reg, &format!("group/app/stages:{t}")).expect("config");
            let r = c["config"]["Labels"]["slipway.stapel.stages"]
                .as_str()?
                .to_string();
            let v: serde_json::Value = serde_json::from_str(&r).expect("record JSON");
            (v.as_array()?.last()?["stage"] == "install").then_some(r)
        })
        .next()
        .expect("a stored install stage");
    assert!(record.contains(&c1), "{record}");

    // Runner 2: nothing local. Every stage comes from the storage; none is built.
    forget(&name, &reg.host);
    let blob_gets = reg.count_requests("GET", "/blobs/sha256:");
    let second = build(dir, &storage, None);
    let s2 = support::stages_summary(&second);
    assert!(
        s2.starts_with(
            "reused from, gitArchive, install, setup, dockerInstructions (from the stages storage"
        ) && s2.ends_with("built none"),
        "{second}"
    );
    assert!(
        second.contains("dockerInstructions is") && second.contains("(pulled, "),
        "{second}"
    );
    assert!(
        !second.contains("stored "),
        "nothing new to store: {second}"
    );
    assert!(
        reg.count_requests("GET", "/blobs/sha256:") > blob_gets,
        "the stage was pulled from the registry"
    );
    assert_eq!(
        support::sh(img, "cat /app-install-runs"),
        runs1,
        "install not rerun"
    );
    assert_eq!(support::sh(img, "cat /app/src/main.js"), "one");
    assert_eq!(skopeo::tags(&reg, "group/app/stages").len(), 5);

    // The same with --json: a `stages` event says where the stages came from.
    forget(&name, &reg.host);
    let out = support::slipway()
        .project(dir)
        .stapel()
        .env("WERF_STAGES_STORAGE", &storage)
        .args(["--json", "build"])
        .assert()
        .success();
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.get_output().stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let stages = events
        .iter()
        .find(|e| e["event"] == "stages")
        .expect("a stages event");
    assert_eq!(stages["type"], "progress");
    assert_eq!(stages["image"], "app");
    assert_eq!(stages["from"], "storage");
    assert_eq!(stages["storage"], storage.as_str());
    assert_eq!(stages["built"], serde_json::json!([]));
    assert_eq!(
        stages["reused"],
        serde_json::json!([
            "from",
            "gitArchive",
            "install",
            "setup",
            "dockerInstructions"
        ])
    );

    // Runner 3 after a source change: install comes from the storage; only the latest
    // patch (and the docker instructions on it) are built.
    forget(&name, &reg.host);
    std::fs::write(dir.join("src/main.js"), "two\n").expect("write");
    std::fs::remove_file(dir.join("src/old.js")).expect("rm");
    commit_all(dir, "source change");
    let third = build(dir, &storage, None);
    let s3 = support::stages_summary(&third);
    assert!(
        s3.starts_with("reused from, gitArchive, install, setup (from the stages storage")
            && s3.ends_with("built gitLatestPatch, dockerInstructions"),
        "{third}"
    );
    assert!(
        third.contains("setup is") && third.contains("(pulled, "),
        "{third}"
    );
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
    assert_eq!(
        support::sh(img, "ls /app/src/old.js 2>&1 || true"),
        "ls: /app/src/old.js: No such file or directory"
    );
    assert_eq!(
        support::sh(img, "pwd"),
        "/app",
        "docker instructions applied"
    );

    // Another fresh runner at the same commit: the stored image stage (latest patch
    // included) is all it needs.
    forget(&name, &reg.host);
    let again = build(dir, &storage, None);
    let s3b = support::stages_summary(&again);
    assert!(
        s3b.starts_with(
            "reused from, gitArchive, install, setup, gitLatestPatch, dockerInstructions (from the stages storage"
        ) && s3b.ends_with("built none"),
        "{again}"
    );
    assert_eq!(support::sh(img, "cat /app/src/main.js"), "two");
    assert_eq!(support::sh(img, "cat /app-install-runs"), runs1);

    // Runner 4 after a package.json change: install reruns on the new sources.
    forget(&name, &reg.host);
    std::fs::write(dir.join("package.json"), "{\"v\": 2}\n").expect("write");
    commit_all(dir, "deps");
    let fourth = build(dir, &storage, None);
    let s4 = support::stages_summary(&fourth);
    assert!(
        s4.starts_with("reused from, gitArchive (from the stages storage")
            && s4.ends_with("built install, setup, dockerInstructions"),
        "{fourth}"
    );
    let runs4 = support::sh(img, "cat /app-install-runs");
    assert_eq!(runs4.lines().count(), 1);
    assert_ne!(runs4, runs1, "install reran");
    assert_eq!(
        support::sh(img, "cat /installed-package.json"),
        "{\"v\": 2}"
    );
    assert_eq!(support::sh(img, "cat /app/src/main.js"), "two");

    // A recorded commit the clone lacks (history rewritten): that stage is rebuilt, no error.
    forget(&name, &reg.host);
    support::git(dir, &["checkout", "-q", "--orphan", "rewritten"]);
    commit_all(dir, "rewritten");
    let fifth = build(dir, &storage, None);
    let s5 = support::stages_summary(&fifth);
    assert!(
        s5.starts_with("reused from (from the stages storage"),
        "gitArchive and later come from commits that are not ancestors: {fifth}"
    );
    assert_eq!(support::sh(img, "cat /app/src/main.js"), "two");
}

/// `slipway --json build-and-publish -s STORAGE` as a child process (for runs at once).
fn publish_child(dir: &Path, storage: &str, repo: &str, docker_config: &Path) -> Command {
    let mut c = support::slipway();
    c.project(dir)
        .stapel()
        .env("DOCKER_CONFIG", docker_config)
        .args(["--json", "-s", storage, "-i", repo])
        .args(["build-and-publish", "--tag-custom", "ci"]);
    c.std()
}

#[test]
fn two_runners_at_once_publish_one_digest() {
    let reg = Registry::plain();
    let storage = format!("{}/shop/stages", reg.host);
    let repo = format!("{}/shop", reg.host);
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    let name = unique("stages-race");
    let _cleanup = Forget(name.clone(), reg.host.clone());
    project(dir, &name);
    commit_all(dir, "init");
    let cfg = tempfile::tempdir().expect("docker config");

    let a = publish_child(dir, &storage, &repo, cfg.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn a");
    let b = publish_child(dir, &storage, &repo, cfg.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn b");
    let (a, b) = (
        a.wait_with_output().expect("a"),
        b.wait_with_output().expect("b"),
    );
    let digest = |o: &std::process::Output| {
        assert!(
            o.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let r = support::json_result(&o.stdout);
        r["images"][0]["digest"]
            .as_str()
            .expect("digest")
            .to_string()
    };
    let (da, db) = (digest(&a), digest(&b));
    assert_eq!(da, db, "both runners publish one image");
    assert_eq!(
        skopeo::digest(&reg, "shop/app:ci").expect("published"),
        da,
        "the tag holds it"
    );
    // The published image is built on a stored last stage: its layers are that stage's.
    let stages = skopeo::tags(&reg, "shop/stages");
    assert!(stages.len() >= 5, "{stages:?}");
    let layers = |r: &str| {
        let m: serde_json::Value =
            serde_json::from_str(&skopeo::raw_manifest(&reg, r).expect("manifest")).expect("json");
        m["layers"].clone()
    };
    let published = layers("shop/app:ci");
    assert!(
        stages
            .iter()
            .any(|t| layers(&format!("shop/stages:{t}")) == published),
        "the published image has the layers of a stored stage"
    );

    // A third runner later, with nothing local, publishes the same digest again.
    forget(&name, &reg.host);
    let c = publish_child(dir, &storage, &repo, cfg.path())
        .output()
        .expect("c");
    assert_eq!(digest(&c), da);
}

/// Copy a stored stage to an old tag of its signature (unique id 1000: stored in 1970) as
/// another manifest (OCI), as if an earlier build had stored it long ago.
fn age_copy(reg: &Registry, repo: &str, tag: &str) -> String {
    let sig = tag.rsplit_once('-').expect("SIG-MILLIS").0;
    let old = format!("{sig}-1000");
    let out = Command::new("skopeo")
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

/// The stage a stored tag holds (the last entry of its record).
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

#[test]
fn cleanup_keeps_the_stages_kept_images_need_and_purge_removes_all() {
    let reg = Registry::plain();
    let storage = format!("{}/shop/stages", reg.host);
    let repo = format!("{}/shop", reg.host);
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    let name = unique("stages-cleanup");
    let _cleanup = Forget(name.clone(), reg.host.clone());
    project(dir, &name);
    commit_all(dir, "init");
    let publish = |tag: &str| {
        support::slipway()
            .project(dir)
            .stapel()
            .args([
                "-s",
                &storage,
                "-i",
                &repo,
                "--insecure-registry",
                &reg.host,
            ])
            .args(["build-and-publish", "--tag-custom", tag])
            .assert()
            .success();
    };
    publish("v1");
    let v1: Vec<String> = skopeo::tags(&reg, "shop/stages");
    assert_eq!(v1.len(), 5, "{v1:?}");
    // v2 reruns install: its install, setup and docker stages are new.
    std::fs::write(dir.join("package.json"), "{\"v\": 2}\n").expect("write");
    commit_all(dir, "deps");
    publish("v2");
    let all = skopeo::tags(&reg, "shop/stages");
    assert_eq!(all.len(), 8, "{all:?}");
    // Old copies: v1's install (no kept image needs it once v1 is deleted) and `from`
    // (v2 is built on it).
    let by_stage = |stage: &str| {
        v1.iter()
            .find(|t| stage_of(&reg, "shop/stages", t) == stage)
            .cloned()
            .expect("stage stored")
    };
    let old_install = age_copy(&reg, "shop/stages", &by_stage("install"));
    let old_from = age_copy(&reg, "shop/stages", &by_stage("from"));

    let cleanup = support::slipway()
        .project(dir)
        .stapel()
        .args([
            "-s",
            &storage,
            "-i",
            &repo,
            "--insecure-registry",
            &reg.host,
        ])
        .args([
            "--json",
            "cleanup",
            "--without-kube",
            "--min-age",
            "0s",
            "--keep-tag",
            "^v2$",
        ])
        .assert()
        .success();
    let r = support::json_result(&cleanup.get_output().stdout);
    let images: Vec<(String, String)> = r["plan"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["tag"].as_str().unwrap_or("").to_string(),
                i["decision"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        images.contains(&("v1".into(), "delete".into()))
            && images.contains(&("v2".into(), "keep".into())),
        "{images:?}"
    );
    let left = skopeo::tags(&reg, "shop/stages");
    assert!(
        !left.contains(&old_install),
        "an old stage no kept image needs goes: {left:?}"
    );
    assert!(left.contains(&old_from), "a stage v2 needs stays: {left:?}");
    for t in &all {
        assert!(
            left.contains(t),
            "stages younger than 2h stay: {t} in {left:?}"
        );
    }
    let stages = &r["stages"]["plan"]["items"];
    let decision = |tag: &str| {
        stages
            .as_array()
            .expect("stage items")
            .iter()
            .find(|i| i["tag"] == tag)
            .map(|i| i["decision"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(decision(&old_install).as_deref(), Some("delete"));
    assert_eq!(decision(&old_from).as_deref(), Some("keep"));

    // purge removes every stored stage.
    support::slipway()
        .project(dir)
        .stapel()
        .args([
            "-s",
            &storage,
            "-i",
            &repo,
            "--insecure-registry",
            &reg.host,
        ])
        .args(["purge", "--force"])
        .assert()
        .success();
    assert_eq!(skopeo::tags(&reg, "shop/stages"), Vec::<String>::new());
}

#[test]
fn introspect_stage_runs_a_command_in_that_stage_and_refuses_unknown_ones() {
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    let name = unique("introspect");
    let _cleanup = Forget(name.clone(), "none.invalid".into());
    project(dir, &name);
    commit_all(dir, "init");

    // Unknown stage or image: a clear error before anything is built.
    let out = support::slipway()
        .project(dir)
        .stapel()
        .args(["build", "--introspect-stage", "app/nope"])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("no stage \"nope\"")
            && err.contains("from, gitArchive, install, setup, dockerInstructions"),
        "{err}"
    );
    assert!(!err.contains("building"), "nothing built: {err}");
    let out = support::slipway()
        .project(dir)
        .stapel()
        .args(["build", "--introspect-stage", "web/install"])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("unknown image \"web\""), "{err}");
    let out = support::slipway()
        .project(dir)
        .stapel()
        .args(["build", "--", "true"])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("--introspect-stage"), "{err}");

    // In the install stage, install has run and setup has not; the exit code is the
    // command's.
    let out = support::slipway()
        .project(dir)
        .stapel()
        .args(["build", "--introspect-stage", "app/install", "--"])
        .args([
            "/bin/sh",
            "-c",
            "wc -l < /app-install-runs; test -e /setup-runs && echo setup || echo no-setup",
        ])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.ends_with("1\nno-setup\n"), "{stdout}");
    let out = support::slipway()
        .project(dir)
        .stapel()
        .args(["build", "--introspect-stage", "app/setup", "--"])
        .args(["/bin/sh", "-c", "cat /setup-runs; exit 3"])
        .assert()
        .code(3);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.ends_with("setup\n"), "{stdout}");
}

/// A runner that built the project before the storage was set up stores the stages on its
/// next build with the storage, although its local image is up to date; a fresh runner
/// then reuses them.
#[test]
fn an_up_to_date_local_image_still_fills_an_empty_storage() {
    let reg = Registry::plain();
    let storage = format!("{}/late/stages", reg.host);
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    let name = unique("stages-late");
    let _cleanup = Forget(name.clone(), reg.host.clone());
    project(dir, &name);
    // Content of its own: no earlier run's image has this signature.
    std::fs::write(dir.join("src/nonce"), &name).expect("nonce");
    commit_all(dir, "init");

    let local = build(dir, ":local", None);
    assert!(
        support::stages_summary(&local).starts_with("reused none;"),
        "{local}"
    );
    assert!(skopeo::tags(&reg, "late/stages").is_empty());

    let with_storage = build(dir, &storage, None);
    assert!(with_storage.contains("stored 5 stage(s)"), "{with_storage}");
    assert_eq!(skopeo::tags(&reg, "late/stages").len(), 5);

    // Up to date locally and in the storage: skipped, nothing stored again.
    let again = build(dir, &storage, None);
    assert!(!again.contains("stored "), "{again}");

    forget(&name, &reg.host);
    let fresh = build(dir, &storage, None);
    assert!(
        support::stages_summary(&fresh).ends_with("built none"),
        "{fresh}"
    );
}
