//! `slipway cleanup` / `purge` against the real registry: images published per commit of a
//! git repository, branches deleted, then cleanup; skopeo tells what remains.

use crate::support;

use std::collections::BTreeMap;
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

/// A project with a bare `origin` and a working clone that pushes to it: cleanup reads
/// origin's branches (`origin/*`) after `--git-history-synchronization`, as werf does.
struct Project {
    _d: tempfile::TempDir,
    work: std::path::PathBuf,
    reg: Registry,
}

impl Project {
    fn new(name: &str) -> Project {
        let _ = support::base_image();
        let reg = Registry::plain();
        let d = tempfile::tempdir().expect("tmp");
        let origin = d.path().join("origin.git");
        let work = d.path().join("work");
        std::fs::create_dir_all(&origin).expect("mkdir");
        std::fs::create_dir_all(&work).expect("mkdir");
        git(&origin, &["init", "-q", "--bare", "-b", "main"]);
        let nonce = format!("{:?}", std::time::SystemTime::now());
        support::write_tree(
            &work,
            &[
                (
                    "werf.yaml",
                    &format!("project: {name}\nconfigVersion: 1\n---\nimage: app\n"),
                ),
                (
                    "Dockerfile",
                    &format!("FROM {}\nCOPY content.txt nonce /\n", support::base_image()),
                ),
                ("nonce", &nonce),
                (".dockerignore", ".git\nREADME\n"),
            ],
        );
        git(&work, &["init", "-q", "-b", "main"]);
        git(
            &work,
            &["remote", "add", "origin", &origin.to_string_lossy()],
        );
        Project { _d: d, work, reg }
    }

    fn git(&self, args: &[&str]) -> String {
        git(&self.work, args)
    }

    /// Commit `content` on the checked-out branch (dated `age_days` ago) and push it.
    fn commit(&self, content: &str, age_days: i64) -> String {
        std::fs::write(self.work.join("content.txt"), content).expect("write");
        self.git(&["add", "-A"]);
        let date = format!("@{} +0000", now() - age_days * 86_400);
        let out = Command::new("git")
            .current_dir(&self.work)
            .args(["commit", "-qm", content])
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .output()
            .expect("git commit");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let branch = self.git(&["rev-parse", "--abbrev-ref", "HEAD"]);
        self.git(&[
            "push",
            "-q",
            "-f",
            "origin",
            &format!("HEAD:refs/heads/{branch}"),
        ]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Publish HEAD by content (werf's stages-signature tags); returns the content tag.
    fn publish(&self) -> String {
        let out = support::slipway()
            .base_image()
            .project(&self.work)
            .images_repo(&self.reg, "proj")
            .args(["--json", "build-and-publish", "--tag-by-content"])
            .assert()
            .success();
        let v: serde_json::Value = support::json_result(&out.get_output().stdout);
        let tags = image_tags(&self.reg, "proj/app");
        let sig = v.to_string();
        tags.into_iter()
            .find(|t| sig.contains(t.as_str()))
            .unwrap_or_else(|| panic!("content tag not in publish output {v}"))
    }

    fn cleanup(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        support::slipway()
            .base_image()
            .project(&self.work)
            .images_repo(&self.reg, "proj")
            .args([
                "cleanup",
                "--without-kube",
                "--git-history-synchronization",
                "--min-age",
                "0s",
            ])
            .args(args)
            .assert()
    }

    /// The dry-run plan: tag → (decision, reason).
    fn plan(&self, args: &[&str]) -> BTreeMap<String, (String, String)> {
        self.plan_json(args)["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| {
                (
                    i["tag"].as_str().unwrap_or("").to_string(),
                    (
                        i["decision"].as_str().unwrap_or("").to_string(),
                        i["reason"].as_str().unwrap_or("").to_string(),
                    ),
                )
            })
            .collect()
    }

    /// The dry-run plan as `--json` gives it.
    fn plan_json(&self, args: &[&str]) -> serde_json::Value {
        let out = support::slipway()
            .base_image()
            .project(&self.work)
            .images_repo(&self.reg, "proj")
            .args([
                "--json",
                "cleanup",
                "--dry-run",
                "--without-kube",
                "--git-history-synchronization",
                "--min-age",
                "0s",
            ])
            .args(args)
            .assert()
            .success();
        support::json_result(&out.get_output().stdout)["plan"].clone()
    }

    fn tags(&self) -> Vec<String> {
        image_tags(&self.reg, "proj/app")
    }

    /// Every tag, the referrers fallback tags (`sha256-<hex>`, issue 35) too.
    fn all_tags(&self) -> Vec<String> {
        skopeo::tags(&self.reg, "proj/app")
    }
}

/// The image tags of `repo`: without the referrers fallback tags (`sha256-<hex>`) that
/// each published image's provenance adds (issue 35).
fn image_tags(reg: &Registry, repo: &str) -> Vec<String> {
    skopeo::tags(reg, repo)
        .into_iter()
        .filter(|t| !(t.starts_with("sha256-") && t.len() == 71))
        .collect()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The tags a plan keeps, sorted.
fn kept(plan: &BTreeMap<String, (String, String)>) -> Vec<String> {
    plan.iter()
        .filter(|(_, (d, _))| d == "keep")
        .map(|(t, _)| t.clone())
        .collect()
}

/// werf: main's image after a squash merge is the feature's content, reached through the
/// squash commit that published it again; the feature branch is gone.
#[test]
fn squash_merge_keeps_mains_image() {
    let p = Project::new("cleanup-squash");
    p.commit("base", 3);
    let base = p.publish();
    p.git(&["checkout", "-q", "-b", "feature"]);
    p.commit("feature work", 2);
    let feature = p.publish();
    // Squash merge: one commit on main with the feature's files; main publishes it (same
    // content, so the same image) and the feature branch is deleted at origin.
    p.git(&["checkout", "-q", "main"]);
    p.git(&["merge", "-q", "--squash", "feature"]);
    p.git(&["commit", "-qm", "squash"]);
    p.git(&["push", "-q", "origin", "main"]);
    assert_eq!(p.publish(), feature, "same files, same image");
    p.git(&["push", "-q", "origin", "--delete", "feature"]);
    p.git(&["branch", "-q", "-D", "feature"]);
    // werf's default policies: main keeps its 10 newest images (base and the squashed one).
    let plan = p.plan(&[]);
    assert_eq!(
        kept(&plan),
        {
            let mut v = vec![base.clone(), feature.clone()];
            v.sort();
            v
        },
        "{plan:?}"
    );
    p.cleanup(&[]).success();
    let mut want = vec![base, feature];
    want.sort();
    assert_eq!(p.tags(), want);
}

/// werf: after a rebase merge main's commits are new, but publishing them found the same
/// content, so the feature's images are main's.
#[test]
fn rebase_merge_keeps_mains_images() {
    let p = Project::new("cleanup-rebase");
    p.commit("base", 4);
    let base = p.publish();
    p.git(&["checkout", "-q", "-b", "feature"]);
    p.commit("f1", 3);
    let f1 = p.publish();
    p.commit("f2", 2);
    let f2 = p.publish();
    // main moves on outside the image (README is in .dockerignore).
    p.git(&["checkout", "-q", "main"]);
    std::fs::write(p.work.join("README"), "docs").expect("write");
    p.git(&["add", "README"]);
    p.git(&["commit", "-qm", "docs"]);
    p.git(&["push", "-q", "origin", "main"]);
    // Rebase merge: f1' and f2' are new commits with f1's and f2's image files; main's
    // pipeline publishes its head f2', which is f2's image again.
    p.git(&["checkout", "-q", "feature"]);
    p.git(&["rebase", "-q", "main"]);
    p.git(&["checkout", "-q", "main"]);
    p.git(&["merge", "-q", "--ff-only", "feature"]);
    p.git(&["push", "-q", "origin", "main"]);
    assert_eq!(p.publish(), f2);
    p.git(&["push", "-q", "origin", "--delete", "feature"]);
    // werf: main reaches base (its first commit) and f2 (through f2'); f1 was published only
    // on the feature's own commit, which no reference reaches any more.
    let plan = p.plan(&[]);
    let mut want = vec![base, f2];
    want.sort();
    assert_eq!(kept(&plan), want, "{plan:?}");
    assert_eq!(plan[&f1].0, "delete");
}

/// werf: a fast-forward merge keeps the feature's commits in main's history.
#[test]
fn fast_forward_keeps_the_features_images_in_mains_history() {
    let p = Project::new("cleanup-ff");
    p.commit("base", 3);
    let base = p.publish();
    p.git(&["checkout", "-q", "-b", "feature"]);
    p.commit("f1", 2);
    let f1 = p.publish();
    p.commit("f2", 1);
    let f2 = p.publish();
    p.git(&["checkout", "-q", "main"]);
    p.git(&["merge", "-q", "--ff-only", "feature"]);
    p.git(&["push", "-q", "origin", "main"]);
    p.git(&["push", "-q", "origin", "--delete", "feature"]);
    // Default policy #3: main keeps its 10 newest images: all three.
    let mut all = vec![base.clone(), f1.clone(), f2.clone()];
    all.sort();
    assert_eq!(kept(&p.plan(&[])), all);
    // A werf.yaml policy keeping main's 2 newest images (by commit date): f1 and f2.
    std::fs::write(
        p.work.join("werf.yaml"),
        "project: cleanup-ff\nconfigVersion: 1\ncleanup:\n  keepPolicies:\n  - references:\n      branch: main\n    imagesPerReference:\n      last: 2\n---\nimage: app\n",
    )
    .expect("write");
    let plan = p.plan(&[]);
    let mut want = vec![f1, f2];
    want.sort();
    assert_eq!(kept(&plan), want, "{plan:?}");
    assert_eq!(plan[&base].0, "delete");
    assert!(
        plan[&base]
            .1
            .contains("beyond imagesPerReference of keep policy #1 branch=/^main$/"),
        "{plan:?}"
    );
}

/// werf scans a branch's whole history: an image published on main's first commit and never
/// changed since stays main's image 1500 commits later.
#[test]
fn an_image_1500_commits_deep_is_still_mains() {
    let p = Project::new("cleanup-deep");
    p.commit("base", 10);
    let base = p.publish();
    // 1500 commits that leave the image's files alone, written with fast-import.
    let mut script = String::new();
    let head = p.git(&["rev-parse", "HEAD"]);
    let t0 = now() - 9 * 86_400;
    for i in 0..1500 {
        script += &format!(
            "commit refs/heads/main\ncommitter t <t@example.com> {} +0000\ndata <<EOF\nnote {i}\nEOF\n",
            t0 + i
        );
        if i == 0 {
            script += &format!("from {head}\n");
        }
        script += &format!("M 644 inline notes.txt\ndata <<EOF\n{i}\nEOF\n\n");
    }
    let mut child = Command::new("git")
        .current_dir(&p.work)
        .args(["fast-import", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("fast-import");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), script.as_bytes())
        .expect("feed");
    assert!(child.wait().expect("wait").success());
    p.git(&["reset", "-q", "--hard", "main"]);
    p.git(&["push", "-q", "origin", "main"]);
    assert_eq!(p.git(&["rev-list", "--count", "main"]), "1501");
    let plan = p.plan(&[]);
    assert_eq!(kept(&plan), vec![base.clone()], "{plan:?}");
    assert!(plan[&base].1.contains("branch main"), "{plan:?}");
}

/// werf counts only origin's branches: a branch deleted at origin loses its images even
/// while a local branch of that name remains.
#[test]
fn a_branch_deleted_at_origin_loses_its_images() {
    let p = Project::new("cleanup-deleted");
    p.commit("base", 3);
    let base = p.publish();
    p.git(&["checkout", "-q", "-b", "feature"]);
    p.commit("feature", 2);
    let feature = p.publish();
    p.git(&["checkout", "-q", "main"]);
    // Each image's provenance sits under its referrers fallback tag (issue 35).
    let fallback = |tag: &str| {
        skopeo::digest(&p.reg, &format!("proj/app:{tag}"))
            .expect("digest")
            .replacen(':', "-", 1)
    };
    let (base_prov, feature_prov) = (fallback(&base), fallback(&feature));
    assert!(p.all_tags().contains(&feature_prov), "{:?}", p.all_tags());
    let plan = p.plan(&[]);
    assert_eq!(plan[&feature].0, "keep", "{plan:?}");
    assert!(!plan.contains_key(&feature_prov), "{plan:?}");
    p.git(&["push", "-q", "origin", "--delete", "feature"]);
    let plan = p.plan(&[]);
    assert_eq!(kept(&plan), vec![base.clone()], "{plan:?}");
    assert!(
        plan[&feature].1.contains("exists in git any more")
            || plan[&feature].1.contains("no reference"),
        "{plan:?}"
    );
    // --dry-run and the real run print the same plan.
    let dry = support::slipway()
        .base_image()
        .project(&p.work)
        .images_repo(&p.reg, "proj")
        .args([
            "cleanup",
            "--dry-run",
            "--without-kube",
            "--git-history-synchronization",
            "--min-age",
            "0s",
        ])
        .assert()
        .success();
    let real = p.cleanup(&[]).success();
    let text = |a: &assert_cmd::assert::Assert| {
        String::from_utf8_lossy(&a.get_output().stdout).to_string()
    };
    // The dry run says so first.
    assert_eq!(
        text(&dry),
        format!("dry run: nothing is deleted\n{}", text(&real))
    );
    assert!(
        text(&real).contains(&format!("delete {}/proj/app:{feature}", p.reg.host)),
        "{}",
        text(&real)
    );
    // The summary per repository, on stderr: one tag kept, one deleted.
    let err = String::from_utf8_lossy(&real.get_output().stderr).to_string();
    let row = err
        .lines()
        .find(|l| l.starts_with(&format!("{}/proj/app ", p.reg.host)))
        .unwrap_or_else(|| panic!("no summary row: {err}"));
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>()[1..],
        ["1", "1"],
        "{err}"
    );
    // The deleted image's fallback tag went with it; the kept one's stays.
    assert_eq!(p.all_tags(), vec![base.clone(), base_prov]);
    assert_eq!(p.tags(), vec![base]);
}

/// Under CI=true a clone whose remote-tracking branches may be incomplete deletes nothing
/// unless --git-history-synchronization brings them; a shallow clone is synchronized whole.
#[test]
fn ci_clones_are_synchronized_or_left_alone() {
    let p = Project::new("cleanup-ci");
    p.commit("base", 3);
    let base = p.publish();
    p.git(&["checkout", "-q", "-b", "gone"]);
    p.commit("gone", 2);
    let gone = p.publish();
    p.git(&["checkout", "-q", "main"]);
    p.git(&["push", "-q", "origin", "--delete", "gone"]);
    // A live branch the CI clone below does not fetch.
    p.git(&["checkout", "-q", "-b", "live"]);
    p.commit("live", 1);
    let live = p.publish();
    p.git(&["checkout", "-q", "main"]);
    // A shallow single-branch clone, as GitLab makes.
    let ci = p._d.path().join("ci");
    git(
        p._d.path(),
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            "--single-branch",
            "--branch",
            "main",
            &format!("file://{}", p._d.path().join("origin.git").display()),
            &ci.to_string_lossy(),
        ],
    );
    let out = support::slipway()
        .base_image()
        .project(&ci)
        .images_repo(&p.reg, "proj")
        .env("CI", "true")
        .args(["cleanup", "--without-kube", "--min-age", "0s"])
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("shallow clone") && err.contains("--git-history-synchronization"),
        "{err}"
    );
    // Unshallowed by hand but still one branch: CI=true deletes nothing and says why.
    git(&ci, &["fetch", "-q", "--unshallow"]);
    let out = support::slipway()
        .base_image()
        .project(&ci)
        .images_repo(&p.reg, "proj")
        .env("CI", "true")
        .args(["cleanup", "--without-kube", "--min-age", "0s"])
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("deleting nothing") && err.contains("CI=true"),
        "{err}"
    );
    let mut all = vec![base.clone(), gone, live.clone()];
    all.sort();
    assert_eq!(p.tags(), all);
    // With synchronization (WERF_GIT_HISTORY_SYNCHRONIZATION, as werf's ci-env sets it)
    // origin/live is fetched and its image kept.
    support::slipway()
        .base_image()
        .project(&ci)
        .images_repo(&p.reg, "proj")
        .env("CI", "true")
        .env("WERF_GIT_HISTORY_SYNCHRONIZATION", "1")
        .args(["cleanup", "--without-kube", "--min-age", "0s"])
        .assert()
        .success();
    let mut want = vec![base, live];
    want.sort();
    assert_eq!(p.tags(), want);
}

/// An unreachable Kubernetes cluster stops cleanup before it deletes anything, naming the
/// context; images a cluster runs are kept.
#[test]
fn kubernetes_in_use_images_are_kept_and_a_dead_cluster_stops_cleanup() {
    use support::kube::{Fake, kubeconfig, meta, template};
    let p = Project::new("cleanup-kube");
    p.commit("base", 3);
    let base = p.publish();
    p.git(&["checkout", "-q", "-b", "gone"]);
    p.commit("gone", 2);
    let gone = p.publish();
    p.git(&["checkout", "-q", "main"]);
    p.git(&["push", "-q", "origin", "--delete", "gone"]);
    let mut fake = Fake::new(2).with_every_kind();
    let running = format!("{}/proj/app:{gone}", p.reg.host);
    let mut dep = serde_json::json!({"metadata": meta("prod", "web")});
    dep["spec"] = serde_json::json!({"selector": {"matchLabels": {"app": "x"}}, "template": template(&[&running], &[])});
    fake.add("apis/apps/v1", "deployments", dep);
    let addr = fake.serve();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let cfg = p._d.path().join("kubeconfig");
    kubeconfig(
        &cfg,
        &[
            ("prod", format!("http://{addr}")),
            ("staging", format!("http://{closed}")),
        ],
    );
    let run = |extra: &[&str]| {
        support::slipway()
            .base_image()
            .project(&p.work)
            .images_repo(&p.reg, "proj")
            .args([
                "cleanup",
                "--git-history-synchronization",
                "--min-age",
                "0s",
                "--kube-config",
            ])
            .arg(&cfg)
            .args(extra)
            .assert()
    };
    let out = run(&[]).code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("\"staging\"") && err.contains("before deleting anything"),
        "{err}"
    );
    let mut both = vec![base.clone(), gone.clone()];
    both.sort();
    assert_eq!(p.tags(), both);
    let out = run(&["--kube-context", "prod"]).success();
    let plan = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        plan.contains("in use in Kubernetes (context prod: Deployment prod/web)"),
        "{plan}"
    );
    assert_eq!(p.tags(), both);
}

#[test]
fn cleanup_keeps_what_git_needs_and_never_a_shared_digest() {
    let p = Project::new("cleanup-test");
    let publish = |branch: &str, content: &str| {
        let sha = p.commit(content, 1);
        support::slipway()
            .base_image()
            .project(&p.work)
            .images_repo(&p.reg, "proj")
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
    };
    let c1 = publish("main", "one");
    p.git(&["checkout", "-q", "-b", "feature"]);
    let c2 = publish("feature", "two");
    p.git(&["checkout", "-q", "main"]);
    p.git(&["checkout", "-q", "-b", "old"]);
    let c3 = publish("old", "three");
    p.git(&["checkout", "-q", "main"]);
    p.git(&["push", "-q", "origin", "--delete", "feature", "old"]);
    let mut all = vec![
        c1.clone(),
        c2.clone(),
        c3.clone(),
        "main".into(),
        "feature".into(),
        "old".into(),
    ];
    all.sort();
    assert_eq!(p.tags(), all);

    // The plan first: nothing changes.
    let plan = p.plan(&["--keep-tag", "^feature$"]);
    assert_eq!(plan[&c1].0, "keep");
    assert!(plan[&c1].1.contains("branch main"), "{:?}", plan[&c1]);
    assert_eq!(plan["feature"].0, "keep");
    assert_eq!(plan[&c2].0, "keep");
    assert!(
        plan[&c2].1.contains("shares its manifest with kept tag"),
        "{:?}",
        plan[&c2]
    );
    assert_eq!(plan[&c3].0, "delete");
    assert_eq!(plan["old"].0, "delete");
    assert_eq!(p.tags().len(), 6);

    // Now for real.
    let out = p.cleanup(&["--keep-tag", "^feature$"]).success();
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("garbage-collect"));
    let mut want = vec![
        c1.clone(),
        c2.clone(),
        "main".to_string(),
        "feature".to_string(),
    ];
    want.sort();
    assert_eq!(p.tags(), want);

    // Default --min-age (2h) keeps everything that was just pushed.
    p.git(&["checkout", "-q", "-b", "tmp"]);
    let c4 = publish("tmp", "four");
    p.git(&["checkout", "-q", "main"]);
    p.git(&["push", "-q", "origin", "--delete", "tmp"]);
    support::slipway()
        .base_image()
        .project(&p.work)
        .images_repo(&p.reg, "proj")
        .args(["cleanup", "--without-kube", "--git-history-synchronization"])
        .assert()
        .success();
    assert!(p.tags().contains(&c4));

    // Purge: plan shown, refused without --force, everything gone with it.
    let out = support::slipway()
        .base_image()
        .project(&p.work)
        .images_repo(&p.reg, "proj")
        .args(["purge"])
        .assert()
        .code(1);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("--force"));
    assert!(!p.tags().is_empty());
    support::slipway()
        .base_image()
        .project(&p.work)
        .images_repo(&p.reg, "proj")
        .args(["purge", "--force"])
        .assert()
        .success();
    assert!(p.tags().is_empty());
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
    let out = support::slipway()
        .base_image()
        .project(d.path())
        .images_repo(&reg, "proj")
        .args(["cleanup", "--dry-run"])
        .assert()
        .success();
    // werf 1.1 skips the images part outside git (issue 32): nothing deleted, exit 0.
    assert!(
        String::from_utf8_lossy(&out.get_output().stderr)
            .contains("images cleanup skipped: the project is not in a git repository")
    );
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
    let out = support::slipway()
        .base_image()
        .project(&shallow)
        .images_repo(&reg, "proj")
        .args(["cleanup", "--dry-run"])
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("shallow clone") && err.contains("--unshallow"),
        "{err}"
    );
}

/// werf's tag-scheme mode compares each tag with the slug of every origin branch and tag.
#[test]
fn tag_scheme_mode_deletes_tags_of_refs_that_are_gone() {
    let p = Project::new("cleanup-scheme");
    let publish = |args: &[&str]| {
        support::slipway()
            .base_image()
            .project(&p.work)
            .images_repo(&p.reg, "proj")
            .arg("build-and-publish")
            .args(args)
            .assert()
            .success();
    };
    let c1 = p.commit("one", 3);
    publish(&[
        "--tag-git-branch",
        "main",
        "--tag-git-commit",
        &c1,
        "--tag-custom",
        "keepme",
    ]);
    // A live branch whose name is not a docker tag: its tag is the slug.
    let jira = "feature/JIRA-123_new";
    let jira_tag = slipway::naming::slug::slug(jira, slipway::naming::slug::SlugFormat::DockerTag);
    assert_ne!(jira_tag, jira);
    p.git(&["checkout", "-q", "-b", jira]);
    let cj = p.commit("jira", 2);
    publish(&["--tag-git-branch", jira, "--tag-git-commit", &cj]);
    p.git(&["checkout", "-q", "main"]);
    p.git(&["checkout", "-q", "-b", "topic"]);
    let c2 = p.commit("two", 2);
    publish(&["--tag-git-branch", "topic", "--tag-git-commit", &c2]);
    p.git(&["checkout", "-q", "main"]);
    let _c3 = p.commit("three", 1);
    p.git(&["tag", "v2"]);
    publish(&["--tag-git-tag", "v2"]);
    // The topic branch and the v2 tag are deleted at origin and here; c2 is pruned.
    p.git(&["push", "-q", "origin", "--delete", "topic"]);
    p.git(&["branch", "-q", "-D", "topic"]);
    p.git(&["tag", "-d", "v2"]);
    p.git(&["reflog", "expire", "--expire=now", "--all"]);
    p.git(&["gc", "-q", "--prune=now"]);

    let scheme = ["--git-history-based-cleanup=false"];
    let plan = p.plan(&scheme);
    let d = |t: &str| {
        plan.get(t)
            .cloned()
            .unwrap_or_else(|| panic!("{t} not in plan: {plan:?}"))
    };
    assert_eq!(d("main").0, "keep", "{:?}", d("main"));
    assert_eq!(d(&c1).0, "keep", "{:?}", d(&c1));
    assert_eq!(d("keepme").0, "keep");
    assert!(d("keepme").1.contains("custom"));
    assert_eq!(d(&jira_tag).0, "keep", "{:?}", d(&jira_tag));
    assert!(
        d(&jira_tag).1.contains(&format!("origin/{jira}")),
        "{:?}",
        d(&jira_tag)
    );
    assert_eq!(d(&cj).0, "keep");
    assert_eq!(d("topic").0, "delete", "{:?}", d("topic"));
    assert!(d("topic").1.contains("branch topic"), "{:?}", d("topic"));
    assert_eq!(d(&c2).0, "delete", "{:?}", d(&c2));
    assert_eq!(d("v2").0, "delete", "{:?}", d("v2"));
    assert!(d("v2").1.contains("tag v2, which no longer exists"));

    p.cleanup(&scheme).success();
    let mut want = vec![
        c1.clone(),
        cj.clone(),
        jira_tag.clone(),
        "keepme".to_string(),
        "main".to_string(),
    ];
    want.sort();
    assert_eq!(p.tags(), want);
}

/// `cleanup.disable` (werf 2) and `disableGitHistoryBasedPolicy` (werf 1.2) delete nothing;
/// no kube config is a warning, as werf prints it, and the plan says Kubernetes was not
/// checked.
#[test]
fn disabled_cleanup_deletes_nothing_and_a_missing_kube_config_is_a_warning() {
    let p = Project::new("cleanup-disabled");
    p.commit("base", 3);
    let base = p.publish();
    p.git(&["checkout", "-q", "-b", "gone"]);
    p.commit("gone", 2);
    let gone = p.publish();
    p.git(&["checkout", "-q", "main"]);
    p.git(&["push", "-q", "origin", "--delete", "gone"]);
    let mut both = vec![base.clone(), gone.clone()];
    both.sort();
    let with_cleanup = |section: &str| {
        std::fs::write(
            p.work.join("werf.yaml"),
            format!(
                "project: cleanup-disabled\nconfigVersion: 1\ncleanup:\n{section}---\nimage: app\n"
            ),
        )
        .expect("write");
    };
    with_cleanup("  disable: true\n");
    let out = p.cleanup(&[]).success();
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("cleanup.disable"));
    assert_eq!(p.tags(), both);
    with_cleanup("  disableGitHistoryBasedPolicy: true\n");
    let plan = p.plan(&[]);
    assert_eq!(kept(&plan), both, "{plan:?}");
    assert!(plan[&gone].1.contains("disableGitHistoryBasedPolicy"));
    with_cleanup("  keepPolicies: []\n");
    // No kube config anywhere: KUBECONFIG unset, a HOME without ~/.kube/config.
    let home = p._d.path().join("home");
    std::fs::create_dir_all(&home).expect("mkdir");
    let out = support::slipway()
        .base_image()
        .project(&p.work)
        .images_repo(&p.reg, "proj")
        .env("HOME", &home)
        .args([
            "cleanup",
            "--git-history-synchronization",
            "--min-age",
            "0s",
        ])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("No kubernetes configs found"), "{err}");
    let plan = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        plan.contains("Kubernetes not checked (no kube config found)"),
        "{plan}"
    );
    assert_eq!(p.tags(), vec![base]);
}

/// werf: images that werf.yaml no longer lists are still the project's; the commit records
/// name them, and cleanup judges their tags by the same rules.
#[test]
fn images_removed_from_werf_yaml_are_cleaned_by_the_same_rules() {
    let p = Project::new("cleanup-dropped");
    let two = "project: cleanup-dropped\nconfigVersion: 1\n---\nimage: app\n---\nimage: old\nargs: {WHICH: old}\n";
    std::fs::write(p.work.join("werf.yaml"), two).expect("write");
    p.commit("base", 3);
    p.publish();
    let old_base = image_tags(&p.reg, "proj/old");
    assert_eq!(old_base.len(), 1, "{old_base:?}");
    p.git(&["checkout", "-q", "-b", "feature"]);
    p.commit("feature", 2);
    p.publish();
    let old_feature: Vec<String> = image_tags(&p.reg, "proj/old")
        .into_iter()
        .filter(|t| !old_base.contains(t))
        .collect();
    assert_eq!(old_feature.len(), 1);
    p.git(&["checkout", "-q", "main"]);
    p.git(&["push", "-q", "origin", "--delete", "feature"]);
    // main drops `old` from werf.yaml.
    std::fs::write(
        p.work.join("werf.yaml"),
        "project: cleanup-dropped\nconfigVersion: 1\n---\nimage: app\n",
    )
    .expect("write");
    p.commit("base", 1);
    p.publish();
    let v = p.plan_json(&[]);
    let old: BTreeMap<String, String> = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| {
            i["repository"]
                .as_str()
                .is_some_and(|r| r.ends_with("/proj/old"))
        })
        .map(|i| {
            (
                i["tag"].as_str().unwrap_or("").to_string(),
                i["decision"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    // main's history still reaches the base commit that published old's first image; the
    // feature's is reached by nothing.
    assert_eq!(
        old.get(&old_base[0]).map(String::as_str),
        Some("keep"),
        "{v}"
    );
    assert_eq!(
        old.get(&old_feature[0]).map(String::as_str),
        Some("delete"),
        "{v}"
    );
    p.cleanup(&[]).success();
    assert_eq!(image_tags(&p.reg, "proj/old"), old_base);
}

/// werf: an unchanged image published again by a later commit is tied to that commit too,
/// so a policy that looks at recent commits keeps it (with only its first commit, 10 days
/// old, it would go).
#[test]
fn a_re_tagged_unchanged_image_lives_by_its_newest_commit() {
    let p = Project::new("cleanup-retag");
    std::fs::write(
        p.work.join("werf.yaml"),
        "project: cleanup-retag\nconfigVersion: 1\ncleanup:\n  keepPolicies:\n  - references:\n      branch: main\n    imagesPerReference:\n      in: 72h\n---\nimage: app\n",
    )
    .expect("write");
    p.commit("base", 10);
    let a = p.publish();
    p.commit("second", 9);
    let b = p.publish();
    // Back to the first content one day ago: the same image, published (re-tagged) again.
    p.commit("base", 1);
    assert_eq!(p.publish(), a, "same files, same image");
    let plan = p.plan(&[]);
    assert_eq!(kept(&plan), vec![a.clone()], "{plan:?}");
    assert_eq!(plan[&b].0, "delete");
}

/// A project whose `gone` branch was deleted at origin, so cleanup plans to delete its image,
/// and a fake cluster whose Pod `prod/web` runs that image. Returns (project, base tag, gone
/// tag, the fake with the Pod).
fn project_with_a_running_gone_image(name: &str) -> (Project, String, String, support::kube::Fake) {
    use support::kube::{Fake, meta};
    let p = Project::new(name);
    p.commit("base", 3);
    let base = p.publish();
    p.git(&["checkout", "-q", "-b", "gone"]);
    p.commit("gone", 2);
    let gone = p.publish();
    p.git(&["checkout", "-q", "main"]);
    p.git(&["push", "-q", "origin", "--delete", "gone"]);
    let running = format!("{}/proj/app:{gone}", p.reg.host);
    let mut fake = Fake::new(2).with_every_kind();
    fake.add(
        "api/v1",
        "pods",
        serde_json::json!({"metadata": meta("prod", "web"),
                           "spec": {"containers": [{"name": "web", "image": running}]}}),
    );
    (p, base, gone, fake)
}

/// What a cleanup that must fail with exit 1 printed to stderr.
fn stderr_of_failure(c: &mut assert_cmd::Command) -> String {
    let out = c.assert().code(1);
    String::from_utf8_lossy(&out.get_output().stderr).to_string()
}

/// `cleanup` as a CI job runs it, with no kube config of the machine's own (an empty HOME).
fn kube_cleanup(p: &Project, home: &Path, dry_run: bool) -> support::Slipway {
    let mut c = support::slipway();
    c.base_image()
        .project(&p.work)
        .images_repo(&p.reg, "proj")
        .env("HOME", home)
        .args([
            "cleanup",
            "--git-history-synchronization",
            "--min-age",
            "0s",
        ]);
    if dry_run {
        c.arg("--dry-run");
    }
    c
}

/// werf 1.1's GitLab set-up passes the kube config as base64 (four spellings), or as a file
/// whose second context is the one running the image: the Pod's image survives every one,
/// and the plan says which contexts were checked. Without the scan the same image is
/// deleted, so each run would have deleted it had the config been missed.
#[test]
fn a_pods_image_survives_cleanup_whatever_way_the_kube_config_arrives() {
    use base64::Engine;
    use support::kube::{Fake, kubeconfig_text, kubectl};
    let (p, base, gone, fake) = project_with_a_running_gone_image("cleanup-kube-b64");
    let prod = fake.serve();
    // A second cluster, reachable, that runs nothing.
    let staging = Fake::new(2).with_every_kind().serve();
    let home = p._d.path().join("home");
    std::fs::create_dir_all(&home).expect("mkdir");
    let mut both = vec![base.clone(), gone.clone()];
    both.sort();
    let running = format!("{}/proj/app:{gone}", p.reg.host);

    // Without the scan the plan deletes the running image and says Kubernetes was not checked.
    let out = kube_cleanup(&p, &home, true)
        .arg("--without-kube")
        .assert()
        .success();
    let plan = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        plan.lines()
            .any(|l| l.starts_with("delete") && l.contains(&format!(":{gone} "))),
        "{plan}"
    );
    assert!(
        plan.contains("Kubernetes not checked (--without-kube)"),
        "{plan}"
    );

    let two = kubeconfig_text(&[
        ("staging", format!("http://{staging}"), None),
        ("prod", format!("http://{prod}"), None),
    ]);
    let two_path = p._d.path().join("two-contexts");
    std::fs::write(&two_path, &two).expect("write");
    // kubectl reads the second context's Pod back: the fake answers as a cluster does.
    let got = Command::new(kubectl())
        .arg("--kubeconfig")
        .arg(&two_path)
        .args(["--context", "prod", "--cache-dir"])
        .arg(p._d.path().join("kubectl-cache"))
        .args(["get", "pods", "--all-namespaces", "-o", "json"])
        .output()
        .expect("kubectl");
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert!(String::from_utf8_lossy(&got.stdout).contains(&running));

    // GitLab variables hold `base64 kubeconfig`, wrapped at 76 columns as base64(1) writes it.
    let encoded = base64::engine::general_purpose::STANDARD.encode(&two);
    let wrapped: Vec<String> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).to_string())
        .collect();
    let wrapped = wrapped.join("\n");
    // (what, variables, arguments)
    type Way<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<&'a str>);
    let two_arg = two_path.to_string_lossy().to_string();
    let ways: Vec<Way> = vec![
        (
            "--kube-config-base64",
            vec![],
            vec!["--kube-config-base64", &encoded],
        ),
        (
            "WERF_KUBE_CONFIG_BASE64",
            vec![("WERF_KUBE_CONFIG_BASE64", &wrapped)],
            vec![],
        ),
        (
            "WERF_KUBECONFIG_BASE64",
            vec![("WERF_KUBECONFIG_BASE64", &encoded)],
            vec![],
        ),
        (
            // The base64 config comes before a KUBECONFIG file, as in werf.
            "KUBECONFIG_BASE64",
            vec![
                ("KUBECONFIG_BASE64", &encoded),
                ("KUBECONFIG", "/nonexistent/kubeconfig"),
            ],
            vec![],
        ),
        (
            "--kube-config with two contexts",
            vec![],
            vec!["--kube-config", &two_arg],
        ),
    ];
    for (way, vars, args) in &ways {
        let mut c = kube_cleanup(&p, &home, false);
        c.envs(vars.iter().copied()).args(args);
        let out = c.assert();
        let o = out.get_output();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        assert!(o.status.success(), "{way}: {stdout}{stderr}");
        assert!(
            stdout.contains("in use in Kubernetes (context prod: Pod prod/web)"),
            "{way}: {stdout}"
        );
        assert!(
            stdout.contains("Kubernetes checked: context(s) "),
            "{way}: {stdout}"
        );
        assert!(
            !stderr.contains(&encoded[..40]),
            "{way}: the config leaked: {stderr}"
        );
        assert_eq!(p.tags(), both, "{way}: the running image was deleted");
    }

    // A base64 value that is not a kube config stops cleanup, naming where it came from.
    let err = stderr_of_failure(
        kube_cleanup(&p, &home, false).env("WERF_KUBE_CONFIG_BASE64", "not base64!"),
    );
    assert!(
        err.contains("$WERF_KUBE_CONFIG_BASE64") && err.contains("--without-kube"),
        "{err}"
    );
    // A named kube config that does not exist is an error too (werf would scan nothing).
    let err = stderr_of_failure(
        kube_cleanup(&p, &home, false).env("KUBECONFIG", p._d.path().join("no-such-kubeconfig")),
    );
    assert!(
        err.contains("$KUBECONFIG") && err.contains("no such file"),
        "{err}"
    );
    assert_eq!(p.tags(), both);

    // The premise: without the scan the real run deletes the running image.
    kube_cleanup(&p, &home, false)
        .arg("--without-kube")
        .assert()
        .success();
    assert_eq!(p.tags(), vec![base]);
}

/// With namespace-scoped access (a Role, not a ClusterRole) every cluster-wide list is
/// forbidden: `--scan-context-namespace-only` lists the context's own namespace and keeps the
/// image; without it cleanup stops, naming the option.
#[test]
fn namespace_scoped_access_is_scanned_with_scan_context_namespace_only() {
    use support::kube::{kubeconfig_text, kubectl};
    let (p, base, gone, fake) = project_with_a_running_gone_image("cleanup-kube-ns");
    let addr = fake.only_namespaces(&["prod"]).serve();
    let home = p._d.path().join("home");
    std::fs::create_dir_all(&home).expect("mkdir");
    let cfg = p._d.path().join("kubeconfig");
    std::fs::write(
        &cfg,
        kubeconfig_text(&[("prod", format!("http://{addr}"), Some("prod"))]),
    )
    .expect("write");
    let mut both = vec![base.clone(), gone.clone()];
    both.sort();
    // kubectl sees what such a service account sees.
    let kubectl_get = |args: &[&str]| {
        Command::new(kubectl())
            .arg("--kubeconfig")
            .arg(&cfg)
            .arg("--cache-dir")
            .arg(p._d.path().join("kubectl-cache"))
            .args(["get", "pods", "-o", "json"])
            .args(args)
            .output()
            .expect("kubectl")
    };
    let all = kubectl_get(&["--all-namespaces"]);
    assert!(!all.status.success());
    assert!(
        String::from_utf8_lossy(&all.stderr).contains("forbidden"),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    let own = kubectl_get(&[]);
    assert!(
        own.status.success(),
        "{}",
        String::from_utf8_lossy(&own.stderr)
    );
    assert!(String::from_utf8_lossy(&own.stdout).contains(&gone));

    let err = stderr_of_failure(
        kube_cleanup(&p, &home, false)
            .arg("--kube-config")
            .arg(&cfg),
    );
    assert!(
        err.contains("--scan-context-namespace-only") && err.contains("forbidden"),
        "{err}"
    );
    assert_eq!(p.tags(), both);

    for way in ["flag", "WERF_SCAN_CONTEXT_NAMESPACE_ONLY"] {
        let mut c = kube_cleanup(&p, &home, false);
        c.arg("--kube-config").arg(&cfg);
        if way == "flag" {
            c.arg("--scan-context-namespace-only");
        } else {
            c.env("WERF_SCAN_CONTEXT_NAMESPACE_ONLY", "1");
        }
        let out = c.assert().success();
        let plan = String::from_utf8_lossy(&out.get_output().stdout).to_string();
        assert!(
            plan.contains("in use in Kubernetes (context prod: Pod prod/web)"),
            "{way}: {plan}"
        );
        assert_eq!(p.tags(), both, "{way}");
    }
}

/// werf 1.1's tag-scheme limits, each row a werf line: no limit unless given (werf's
/// `--git-tag-strategy-limit` default -1), werf's `WERF_GIT_TAG_STRATEGY_LIMIT` beats the
/// flag (`cmd/werf/common/common.go` `GetGitTagStrategyLimit` reads the variable first),
/// `SLIPWAY_GIT_TAG_STRATEGY_LIMIT` only stands in for the flag. The effect: how many of
/// three live git-tag tags the plan deletes.
#[test]
fn tag_scheme_limits_are_werfs() {
    let p = Project::new("cleanup-limits");
    for (age, t) in [(3, "v1"), (2, "v2"), (1, "v3")] {
        p.commit(t, age);
        p.git(&["tag", t]);
        p.git(&["push", "-q", "origin", t]);
        support::slipway()
            .base_image()
            .project(&p.work)
            .images_repo(&p.reg, "proj")
            .args(["build-and-publish", "--tag-git-tag", t])
            .assert()
            .success();
    }
    let deleted = |args: &[&str], vars: &[(&str, &str)]| -> usize {
        let mut c = support::slipway();
        c.base_image().project(&p.work).images_repo(&p.reg, "proj");
        for (k, v) in vars {
            c.env(k, v);
        }
        let out = c
            .args(["--json", "cleanup", "--dry-run", "--without-kube"])
            .args(["--min-age", "0s", "--git-history-based-cleanup=false"])
            .args(args)
            .assert()
            .success();
        let plan = support::json_result(&out.get_output().stdout)["plan"].clone();
        let items = plan["items"].as_array().expect("items").clone();
        let git_tags: Vec<&serde_json::Value> = items
            .iter()
            .filter(|i| matches!(i["tag"].as_str(), Some("v1" | "v2" | "v3")))
            .collect();
        assert_eq!(git_tags.len(), 3, "{plan}");
        git_tags
            .iter()
            .filter(|i| i["decision"] == "delete")
            .inspect(|i| assert!(i["reason"].as_str().unwrap_or("").contains("limit"), "{i}"))
            .count()
    };
    // (werf line, arguments, variables, git-tag tags deleted).
    type LimitRow<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], usize);
    let rows: [LimitRow; 5] = [
        ("werf cleanup (no limit given)", &[], &[], 0),
        (
            "werf cleanup --git-tag-strategy-limit 1",
            &["--git-tag-strategy-limit", "1"],
            &[],
            2,
        ),
        (
            "WERF_GIT_TAG_STRATEGY_LIMIT=2 werf cleanup --git-tag-strategy-limit 1",
            &["--git-tag-strategy-limit", "1"],
            &[("WERF_GIT_TAG_STRATEGY_LIMIT", "2")],
            1,
        ),
        (
            "SLIPWAY_GIT_TAG_STRATEGY_LIMIT=1 slipway cleanup --git-tag-strategy-limit 2",
            &["--git-tag-strategy-limit", "2"],
            &[("SLIPWAY_GIT_TAG_STRATEGY_LIMIT", "1")],
            1,
        ),
        (
            "SLIPWAY_GIT_TAG_STRATEGY_LIMIT=1 slipway cleanup",
            &[],
            &[("SLIPWAY_GIT_TAG_STRATEGY_LIMIT", "1")],
            2,
        ),
    ];
    for (line, args, vars, want) in rows {
        assert_eq!(deleted(args, vars), want, "{line}");
    }
}
