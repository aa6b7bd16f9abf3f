//! `slipway cleanup` / `purge` against the real registry: images published per commit of a
//! git repository, branches deleted, then cleanup; skopeo tells what remains.

mod support;

use std::path::Path;
use std::process::Command;

use support::{Registry, skopeo};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn slipway(dir: &Path, reg: &Registry) -> assert_cmd::Command {
    let mut c = support::slipway();
    c.env("BASE_IMAGE", support::base_image())
        .env("XDG_CACHE_HOME", dir.with_extension("cache"))
        .arg("--dir")
        .arg(dir)
        .args([
            "--images-repo",
            &format!("{}/proj", reg.host),
            "--insecure-registry",
            &reg.host,
        ]);
    c
}

/// Commit a change on the current branch and publish it under its commit and branch.
fn commit_and_publish(dir: &Path, reg: &Registry, branch: &str, content: &str) -> String {
    std::fs::write(dir.join("content.txt"), content).expect("write");
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", content]);
    let sha = git(dir, &["rev-parse", "HEAD"]);
    slipway(dir, reg)
        .args([
            "build-and-publish",
            "--tag-git-commit",
            &sha,
            "--tag-git-branch",
            branch,
        ])
        .assert()
        .success();
    sha
}

#[test]
fn cleanup_keeps_what_git_needs_and_never_a_shared_digest() {
    let _ = support::base_image();
    let reg = Registry::plain();
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    let nonce = format!("{:?}", std::time::SystemTime::now());
    support::write_tree(
        dir,
        &[
            (
                "werf.yaml",
                "project: cleanup-test\nconfigVersion: 1\n---\nimage: app\n",
            ),
            (
                "Dockerfile",
                &format!("FROM {}\nCOPY content.txt nonce /\n", support::base_image()),
            ),
            ("nonce", &nonce),
            (".dockerignore", ".git\n"),
        ],
    );
    git(dir, &["init", "-q", "-b", "main"]);
    let c1 = commit_and_publish(dir, &reg, "main", "one");
    git(dir, &["checkout", "-q", "-b", "feature"]);
    let c2 = commit_and_publish(dir, &reg, "feature", "two");
    git(dir, &["checkout", "-q", "main"]);
    git(dir, &["checkout", "-q", "-b", "old"]);
    let c3 = commit_and_publish(dir, &reg, "old", "three");
    git(dir, &["checkout", "-q", "main"]);
    git(dir, &["branch", "-q", "-D", "feature", "old"]);
    let mut all = vec![
        c1.clone(),
        c2.clone(),
        c3.clone(),
        "main".into(),
        "feature".into(),
        "old".into(),
    ];
    all.sort();
    assert_eq!(skopeo::tags(&reg, "proj/app"), all);

    // The plan first: nothing changes.
    let out = slipway(dir, &reg)
        .args([
            "--json",
            "cleanup",
            "--dry-run",
            "--min-age",
            "0s",
            "--keep-tag",
            "^feature$",
        ])
        .assert()
        .success();
    let plan: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
    let decision = |t: &str| {
        plan["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["tag"] == t)
            .map(|i| {
                (
                    i["decision"].as_str().unwrap_or("").to_string(),
                    i["reason"].as_str().unwrap_or("").to_string(),
                )
            })
            .expect("tag in plan")
    };
    assert_eq!(decision(&c1).0, "keep");
    assert!(
        decision(&c1).1.contains("branch main"),
        "{:?}",
        decision(&c1)
    );
    assert_eq!(decision("feature").0, "keep");
    assert_eq!(decision(&c2).0, "keep");
    assert!(
        decision(&c2)
            .1
            .contains("shares its manifest with kept tag"),
        "{:?}",
        decision(&c2)
    );
    assert_eq!(decision(&c3).0, "delete");
    assert_eq!(decision("old").0, "delete");
    assert_eq!(skopeo::tags(&reg, "proj/app").len(), 6);

    // Now for real.
    let out = slipway(dir, &reg)
        .args(["cleanup", "--min-age", "0s", "--keep-tag", "^feature$"])
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("garbage-collect"));
    let mut want = vec![
        c1.clone(),
        c2.clone(),
        "main".to_string(),
        "feature".to_string(),
    ];
    want.sort();
    assert_eq!(skopeo::tags(&reg, "proj/app"), want);

    // Default --min-age (2h) keeps everything that was just pushed.
    git(dir, &["checkout", "-q", "-b", "tmp"]);
    let c4 = commit_and_publish(dir, &reg, "tmp", "four");
    git(dir, &["checkout", "-q", "main"]);
    git(dir, &["branch", "-q", "-D", "tmp"]);
    slipway(dir, &reg).args(["cleanup"]).assert().success();
    assert!(skopeo::tags(&reg, "proj/app").contains(&c4));

    // Purge: plan shown, refused without --force, everything gone with it.
    let out = slipway(dir, &reg).args(["purge"]).assert().code(1);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("--force"));
    assert!(!skopeo::tags(&reg, "proj/app").is_empty());
    slipway(dir, &reg)
        .args(["purge", "--force"])
        .assert()
        .success();
    assert!(skopeo::tags(&reg, "proj/app").is_empty());
}

#[test]
fn shallow_clone_and_missing_git_are_clear_errors() {
    let reg = Registry::plain();
    let d = tempfile::tempdir().expect("tmp");
    support::write_tree(
        d.path(),
        &[
            (
                "werf.yaml",
                "project: x\nconfigVersion: 1\n---\nimage: app\n",
            ),
            ("Dockerfile", "FROM scratch\n"),
        ],
    );
    let out = slipway(d.path(), &reg)
        .args(["cleanup", "--dry-run"])
        .assert()
        .code(1);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("not in a git repository"));
    // A shallow clone.
    let src = d.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    support::write_tree(
        &src,
        &[
            (
                "werf.yaml",
                "project: x\nconfigVersion: 1\n---\nimage: app\n",
            ),
            ("Dockerfile", "FROM scratch\n"),
        ],
    );
    git(&src, &["init", "-q", "-b", "main"]);
    git(&src, &["add", "-A"]);
    git(&src, &["commit", "-qm", "1"]);
    std::fs::write(src.join("Dockerfile"), "FROM scratch\n#2\n").expect("w");
    git(&src, &["commit", "-qam", "2"]);
    let shallow = d.path().join("shallow");
    git(
        d.path(),
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            &format!("file://{}", src.display()),
            &shallow.to_string_lossy(),
        ],
    );
    let out = slipway(&shallow, &reg)
        .args(["cleanup", "--dry-run"])
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("shallow clone") && err.contains("--unshallow"),
        "{err}"
    );
}

#[test]
fn tag_scheme_mode_deletes_tags_of_refs_that_are_gone() {
    let _ = support::base_image();
    let reg = Registry::plain();
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    let nonce = format!("{:?}", std::time::SystemTime::now());
    support::write_tree(
        dir,
        &[
            (
                "werf.yaml",
                "project: cleanup-scheme\nconfigVersion: 1\n---\nimage: app\n",
            ),
            (
                "Dockerfile",
                &format!("FROM {}\nCOPY content.txt nonce /\n", support::base_image()),
            ),
            ("nonce", &nonce),
            (".dockerignore", ".git\n"),
        ],
    );
    let publish = |args: &[&str]| {
        slipway(dir, &reg)
            .arg("build-and-publish")
            .args(args)
            .assert()
            .success();
    };
    let commit = |content: &str| {
        std::fs::write(dir.join("content.txt"), content).expect("write");
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-qm", content]);
        git(dir, &["rev-parse", "HEAD"])
    };
    git(dir, &["init", "-q", "-b", "main"]);
    let c1 = commit("one");
    publish(&[
        "--tag-git-branch",
        "main",
        "--tag-git-commit",
        &c1,
        "--tag-custom",
        "keepme",
    ]);
    git(dir, &["checkout", "-q", "-b", "feature"]);
    let c2 = commit("two");
    publish(&["--tag-git-branch", "feature", "--tag-git-commit", &c2]);
    git(dir, &["checkout", "-q", "main"]);
    let _c3 = commit("three");
    git(dir, &["tag", "v2"]);
    publish(&["--tag-git-tag", "v2"]);
    // The feature branch and the v2 tag are deleted; c2 is pruned from the object store.
    git(dir, &["branch", "-q", "-D", "feature"]);
    git(dir, &["tag", "-d", "v2"]);
    git(dir, &["reflog", "expire", "--expire=now", "--all"]);
    git(dir, &["gc", "-q", "--prune=now"]);

    let out = slipway(dir, &reg)
        .args([
            "--json",
            "cleanup",
            "--git-history-based-cleanup=false",
            "--min-age",
            "0s",
            "--dry-run",
        ])
        .assert()
        .success();
    let plan: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("json");
    let decision = |t: &str| {
        plan["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["tag"] == t)
            .map(|i| {
                (
                    i["decision"].as_str().unwrap_or("").to_string(),
                    i["reason"].as_str().unwrap_or("").to_string(),
                )
            })
            .unwrap_or_else(|| panic!("{t} not in plan: {plan}"))
    };
    assert_eq!(decision("main").0, "keep", "{:?}", decision("main"));
    assert_eq!(decision(&c1).0, "keep", "{:?}", decision(&c1));
    assert_eq!(decision("keepme").0, "keep");
    assert!(decision("keepme").1.contains("custom"));
    assert_eq!(decision("feature").0, "delete", "{:?}", decision("feature"));
    assert!(
        decision("feature")
            .1
            .contains("branch feature, which no longer exists")
    );
    assert_eq!(decision(&c2).0, "delete", "{:?}", decision(&c2));
    assert_eq!(decision("v2").0, "delete", "{:?}", decision("v2"));
    assert!(decision("v2").1.contains("tag v2, which no longer exists"));

    slipway(dir, &reg)
        .args([
            "cleanup",
            "--git-history-based-cleanup=false",
            "--min-age",
            "0s",
        ])
        .assert()
        .success();
    let mut want = vec![c1.clone(), "keepme".to_string(), "main".to_string()];
    want.sort();
    assert_eq!(skopeo::tags(&reg, "proj/app"), want);
}
