//! docs/troubleshooting.md's ten mistakes (issue 37): each message names its fix. Mistakes
//! whose message another file's test already checks are named there by that test; the
//! rest are tested here, and the first test keeps the page and the tests together.

use std::path::{Path, PathBuf};

use crate::support::fault_proxy::{Fault, FaultProxy, Rule};
use crate::support::{self, Registry};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Each of the ten sections names a test (`Test: `FILE::NAME``) that exists in
/// `tests/FILE.rs`.
#[test]
fn every_mistake_in_the_docs_names_a_test_that_exists() {
    let doc = std::fs::read_to_string(root().join("docs/troubleshooting.md")).expect("doc");
    let sections: Vec<&str> = doc
        .split("\n## ")
        .skip(1)
        .filter(|s| s.starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    assert_eq!(sections.len(), 10, "ten mistakes");
    for s in sections {
        let title = s.lines().next().unwrap_or_default();
        let named = s
            .lines()
            .find_map(|l| l.strip_prefix("Test: `"))
            .and_then(|l| l.strip_suffix('`'))
            .unwrap_or_else(|| panic!("{title}: no `Test: ` line"));
        let (file, name) = named.split_once("::").expect("FILE::NAME");
        let src = std::fs::read_to_string(root().join(format!("tests/{file}.rs")))
            .unwrap_or_else(|e| panic!("{title}: tests/{file}.rs: {e}"));
        let at = src
            .find(&format!("fn {name}()"))
            .unwrap_or_else(|| panic!("{title}: no fn {name} in tests/{file}.rs"));
        assert!(
            src[..at].trim_end().ends_with("#[test]"),
            "{title}: {name} is not a #[test]"
        );
    }
}

const WERF_YAML: &str = "project: trouble\nconfigVersion: 1\n---\nimage: backend\nargs:\n  BASE: {{ env \"BASE_IMAGE\" }}\n---\nimage: frontend\nargs:\n  BASE: {{ env \"BASE_IMAGE\" }}\n";

fn project(dir: &Path) {
    support::write_tree(
        dir,
        &[
            ("werf.yaml", WERF_YAML),
            ("Dockerfile", "ARG BASE\nFROM ${BASE}\nCOPY a.txt /a.txt\n"),
            ("a.txt", "trouble\n"),
        ],
    );
}

/// Mistake 9: every command taking image names lists werf.yaml's images and the closest.
#[test]
fn an_unknown_image_name_lists_the_images_and_the_closest() {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    project(dir.path());
    let want = "unknown image \"backnd\" (not in werf.yaml; its images: backend, frontend; did you mean \"backend\"?)";
    let cases: [&[&str]; 6] = [
        &["build", "backnd"],
        &["publish", "backnd", "--tag-custom", "v1"],
        &["build-and-publish", "backnd", "--tag-custom", "v1"],
        &["images", "backnd"],
        &["run", "backnd"],
        &[
            "build-and-publish",
            "--tag-custom",
            "v1",
            "--digest-file",
            "build.env",
            "--digest-file-images",
            "frontend,backnd",
        ],
    ];
    for args in cases {
        let out = support::slipway()
            .base_image()
            .project(dir.path())
            .images_repo(&reg, "trouble")
            .args(args)
            .assert()
            .failure();
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // Nothing close: the list alone.
    let out = support::slipway()
        .project(dir.path())
        .args(["build", "database"])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains(
            "unknown image \"database\" (not in werf.yaml; its images: backend, frontend)"
        ),
        "{err}"
    );
    assert_eq!(reg.count_requests("PUT", ""), 0, "nothing pushed");
}

/// A git project with a bare origin, `main` pushed.
fn git_project(d: &Path) -> PathBuf {
    let origin = d.join("origin.git");
    let work = d.join("work");
    std::fs::create_dir_all(&origin).expect("mkdir");
    std::fs::create_dir_all(&work).expect("mkdir");
    support::git(&origin, &["init", "-q", "--bare", "-b", "main"]);
    project(&work);
    support::git(&work, &["init", "-q", "-b", "main"]);
    support::git(
        &work,
        &["remote", "add", "origin", &origin.to_string_lossy()],
    );
    support::git(&work, &["add", "-A"]);
    support::git(&work, &["commit", "-qm", "one"]);
    support::git(&work, &["push", "-q", "origin", "main"]);
    work
}

fn cleanup_args() -> [&'static str; 6] {
    [
        "cleanup",
        "--without-kube",
        "--git-history-synchronization",
        "--min-age",
        "0s",
        "--git-history-based-cleanup=false",
    ]
}

/// Mistake 5: a registry that lets the job push but not delete (GitLab's job token): the
/// cleanup's 403 names the token to use instead, as werf's guide does.
#[test]
fn cleanup_refused_delete_names_an_access_token() {
    let _ = support::base_image();
    let reg = Registry::plain();
    let proxy = FaultProxy::start(&reg);
    let d = tempfile::tempdir().expect("tmp");
    let work = git_project(d.path());
    let slipway = || {
        let mut c = support::slipway();
        c.base_image()
            .project(&work)
            .args(["--images-repo", &format!("{}/trouble", proxy.host)])
            .insecure(&proxy.host);
        c
    };
    // A branch that origin does not have: cleanup deletes its tag.
    slipway()
        .args(["build-and-publish", "--tag-git-branch", "gone"])
        .assert()
        .success();
    proxy.add(
        Rule::new(Fault::Status {
            code: 403,
            retry_after: None,
        })
        .method("DELETE"),
    );
    let out = slipway().args(cleanup_args()).assert().failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    for part in [
        "denied",
        "personal or project access token with the api scope",
        "--registry-username/--registry-password",
        "WERF_IMAGES_CLEANUP_PASSWORD",
    ] {
        assert!(err.contains(part), "{part}: {err}");
    }
    assert!(
        support::skopeo::tags(&reg, "trouble/backend").contains(&"gone".to_string()),
        "nothing deleted"
    );
}

/// Mistake 10: a tag werf published (no Slipway commit record) is kept, and the plan names
/// the flag that deletes such tags.
#[test]
fn werf_era_tags_are_kept_and_the_plan_names_the_flag() {
    let base = support::base_image();
    let reg = Registry::plain();
    let d = tempfile::tempdir().expect("tmp");
    let work = git_project(d.path());
    let slipway = || {
        let mut c = support::slipway();
        c.base_image().project(&work).images_repo(&reg, "trouble");
        c
    };
    slipway()
        .args(["build-and-publish", "--tag-git-branch", "main"])
        .assert()
        .success();
    // What werf left: an image under a tag no Slipway run recorded.
    let tar = d.path().join("werf.tar");
    let ok = std::process::Command::new("docker")
        .args(["save", "-o"])
        .arg(&tar)
        .arg(base)
        .status()
        .expect("docker save");
    assert!(ok.success());
    support::slipway()
        .insecure(&reg.host)
        .arg("push-archive")
        .arg(&tar)
        .arg(format!("{}/trouble/backend:werf-era", reg.host))
        .assert()
        .success();
    let out = slipway()
        .args(["--json", "cleanup", "--dry-run"])
        .args(["--without-kube", "--git-history-synchronization"])
        .args(["--min-age", "0s"])
        .assert()
        .success();
    let plan = support::json_result(&out.get_output().stdout)["plan"].clone();
    let item = plan["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["tag"] == "werf-era")
        .cloned()
        .unwrap_or_else(|| panic!("werf-era not in the plan: {plan}"));
    assert_eq!(item["decision"], "keep", "{item}");
    let reason = item["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("no commit record") && reason.contains("--git-history-based-cleanup-v1.2"),
        "{reason}"
    );
}
