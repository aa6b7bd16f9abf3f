//! A registry werf 1.1 filled, made by hand in werf's own formats in a real registry: its
//! records in the stages storage (`image-metadata-by-commit-`, `managed-image-`,
//! `client-id-`, rejected stages) and its published tags with werf's labels. Cleanup's plan
//! must decide every tag as `tests/data/werf11-registry/expected.md` (werf 1.1.36's
//! pkg/cleaning, line by line) says; `managed-images ls` lists werf's names.

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::Digest;
use support::{Registry, skopeo};

const DAY: i64 = 86_400;
const PROJECT: &str = "werfreg";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// git in `dir`, committer and author dated `days` ago when given.
fn git(dir: &Path, args: &[&str], days: Option<i64>) -> String {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args);
    if let Some(d) = days {
        let date = format!("@{} +0000", now() - d * DAY);
        c.env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date);
    }
    let out = c.output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A werf content signature (werf 1.1's are 56 hex digits) for a name of the table.
fn sig(name: &str) -> String {
    hex::encode(sha2::Sha256::digest(name.as_bytes()))[..56].to_string()
}

/// Push a layerless image with `labels` as `repo:tag`; returns its config digest (the
/// image id werf's stages name their parents by).
fn push(reg: &Registry, repo: &str, tag: &str, labels: &[(&str, &str)]) -> String {
    push_with(reg, repo, tag, labels, None, "2026-01-01T00:00:00Z")
}

/// [`push`] with a parent image id (`config.Image`) and a creation time.
fn push_with(
    reg: &Registry,
    repo: &str,
    tag: &str,
    labels: &[(&str, &str)],
    parent: Option<&str>,
    created: &str,
) -> String {
    let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": { "Labels": labels, "Image": parent.unwrap_or("") },
        "rootfs": { "type": "layers", "diff_ids": [] },
    })
    .to_string();
    let cfg_digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&config)));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": cfg_digest,
            "size": config.len(),
        },
        "layers": [],
    })
    .to_string();
    let base = reg.url();
    support::block_on(async move {
        let http = reqwest::Client::new();
        let start = http
            .post(format!("{base}/v2/{repo}/blobs/uploads/"))
            .send()
            .await
            .expect("POST upload");
        let loc = start.headers()["location"]
            .to_str()
            .expect("location")
            .to_string();
        let loc = if loc.starts_with('/') {
            format!("{base}{loc}")
        } else {
            loc
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let put = http
            .put(format!("{loc}{sep}digest={cfg_digest}"))
            .body(config)
            .send()
            .await
            .expect("PUT blob");
        assert!(put.status().is_success(), "blob: {}", put.status());
        let m = http
            .put(format!("{base}/v2/{repo}/manifests/{tag}"))
            .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest.clone())
            .send()
            .await
            .expect("PUT manifest");
        assert!(m.status().is_success(), "manifest {tag}: {}", m.status());
        cfg_digest
    })
}

/// The project of the table: git (origin + work clone) and the registry werf filled.
struct WerfProject {
    _d: tempfile::TempDir,
    work: PathBuf,
    reg: Registry,
    /// Table names (C1, M, X, …) → commit hashes.
    commits: BTreeMap<String, String>,
}

impl WerfProject {
    fn new() -> WerfProject {
        let reg = Registry::plain();
        let d = tempfile::tempdir().expect("tmp");
        let origin = d.path().join("origin.git");
        let work = d.path().join("work");
        std::fs::create_dir_all(&origin).expect("mkdir");
        std::fs::create_dir_all(&work).expect("mkdir");
        git(&origin, &["init", "-q", "--bare", "-b", "master"], None);
        support::write_tree(
            &work,
            &[
                (
                    "werf.yaml",
                    &format!("project: {PROJECT}\nconfigVersion: 1\n---\nimage: app\n"),
                ),
                ("Dockerfile", "FROM scratch\n"),
            ],
        );
        git(&work, &["init", "-q", "-b", "master"], None);
        git(
            &work,
            &["remote", "add", "origin", &origin.to_string_lossy()],
            None,
        );
        let mut p = WerfProject {
            _d: d,
            work,
            reg,
            commits: BTreeMap::new(),
        };
        p.history();
        p.fill_registry();
        p
    }

    fn commit(&mut self, name: &str, days: i64) {
        std::fs::write(self.work.join("content.txt"), name).expect("write");
        git(&self.work, &["add", "-A"], None);
        git(&self.work, &["commit", "-qm", name], Some(days));
        let head = git(&self.work, &["rev-parse", "HEAD"], None);
        self.commits.insert(name.to_string(), head);
    }

    /// expected.md's graph.
    fn history(&mut self) {
        let w = self.work.clone();
        self.commit("C1", 6);
        git(&w, &["tag", "v1.0"], None);
        self.commit("C2", 5);
        git(&w, &["checkout", "-q", "-b", "feature-b"], None);
        self.commit("B1", 4);
        git(&w, &["push", "-q", "origin", "feature-b"], None);
        git(&w, &["checkout", "-q", "master"], None);
        git(
            &w,
            &["merge", "-q", "--no-ff", "-m", "M", "feature-b"],
            Some(3),
        );
        let m = git(&w, &["rev-parse", "HEAD"], None);
        self.commits.insert("M".into(), m);
        git(&w, &["push", "-q", "origin", "master", "v1.0"], None);
        git(
            &w,
            &[
                "checkout",
                "-q",
                "-b",
                "feature-a",
                &self.commits["C2"].clone(),
            ],
            None,
        );
        self.commit("A1", 3);
        self.commit("A2", 2);
        self.commit("A3", 1);
        git(&w, &["push", "-q", "origin", "feature-a"], None);
        git(&w, &["push", "-q", "origin", "--delete", "feature-b"], None);
        git(&w, &["checkout", "-q", "master"], None);
        git(&w, &["branch", "-q", "-D", "feature-b"], None);
        // A commit that exists nowhere.
        self.commits.insert(
            "X".into(),
            "1234567890abcdef1234567890abcdef12345678".into(),
        );
    }

    /// werf's records in the stages storage and its tags in the images repo.
    fn fill_registry(&self) {
        let stages = format!("{PROJECT}-stages");
        let records = [
            ("C1", "SIG_1"),
            ("C2", "SIG_2"),
            ("M", "SIG_M"),
            ("B1", "SIG_B"),
            ("A1", "SIG_A1"),
            ("A2", "SIG_A2"),
            ("A3", "SIG_A3"),
            ("X", "SIG_X"),
        ];
        for (c, s) in records {
            let tag = format!("image-metadata-by-commit-app-{}", self.commits[c]);
            push(&self.reg, &stages, &tag, &[("ContentSignature", &sig(s))]);
        }
        for tag in [
            "managed-image-app".to_string(),
            "managed-image-old__slash__api".to_string(),
            "client-id-0b4b3a0e-6a4d-4b5c-9a43-1f1f1f1f1f1f-1700000000000".to_string(),
            format!("{}-1700000000000-rejected", sig("rejected")),
        ] {
            push(&self.reg, &stages, &tag, &[]);
        }
        // werf's stages: `<56 hex>-<ms>`. master's image is built on P, P on Q, and P
        // imports from I; O is old and needed by nothing; Y is young.
        let old = "2026-01-01T00:00:00Z";
        let young = chrono_now();
        let q = push_with(&self.reg, &stages, &stage_tag("Q"), &[], None, old);
        let i = push_with(
            &self.reg,
            &stages,
            &stage_tag("I"),
            &[("n", "I")],
            None,
            old,
        );
        let p = push_with(
            &self.reg,
            &stages,
            &stage_tag("P"),
            &[("werf-import-0", &i)],
            Some(&q),
            old,
        );
        push_with(
            &self.reg,
            &stages,
            &stage_tag("O"),
            &[("n", "O")],
            None,
            old,
        );
        push_with(
            &self.reg,
            &stages,
            &stage_tag("Y"),
            &[("n", "Y")],
            None,
            &young,
        );
        for row in expected() {
            let strategy = match row.tag.as_str() {
                "v1.0" => "git-tag",
                "c2" => "git-commit",
                t if t.starts_with("sig-") || t == "no-metadata" => "stages-signature",
                _ => "git-branch",
            };
            let s = sig(&row.signature);
            push_with(
                &self.reg,
                &format!("{PROJECT}/app"),
                &row.tag,
                &[
                    ("werf-tag-strategy", strategy),
                    ("werf-image", "true"),
                    ("werf-image-name", "app"),
                    ("werf-image-tag", &row.tag),
                    ("werf-content-signature", &s),
                    ("werf-image-version", "1"),
                ],
                (row.tag == "master").then_some(p.as_str()),
                old,
            );
        }
    }

    fn slipway(&self) -> support::Slipway {
        let mut s = support::slipway();
        s.project(&self.work)
            .images_repo(&self.reg, PROJECT)
            .args(["--images-repo-mode", "multirepo"]);
        s
    }

    /// The dry-run plan: tag → (decision, reason).
    fn plan(
        &self,
        stages: Option<&str>,
        env: &[(&str, &str)],
    ) -> BTreeMap<String, (String, String)> {
        items(&self.result(stages, env)["plan"])
    }

    /// The dry run's `--json` result.
    fn result(&self, stages: Option<&str>, env: &[(&str, &str)]) -> serde_json::Value {
        let mut s = self.slipway();
        if let Some(st) = stages {
            s.args(["-s", st]);
        }
        for (k, v) in env {
            s.env(k, v);
        }
        let out = s
            .args([
                "--json",
                "cleanup",
                "--dry-run",
                "--without-kube",
                "--git-history-synchronization",
                "--min-age",
                "0s",
            ])
            .assert()
            .success();
        support::json_result(&out.get_output().stdout)
    }
}

/// A plan's items: tag → (decision, reason).
fn items(plan: &serde_json::Value) -> BTreeMap<String, (String, String)> {
    plan["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            let s = |k: &str| i[k].as_str().unwrap_or("").to_string();
            (s("tag"), (s("decision"), s("reason")))
        })
        .collect()
}

/// The tag of werf stage `name` (a 56-hex signature and a unique id in ms).
fn stage_tag(name: &str) -> String {
    format!("{}-1700000000000", sig(&format!("stage {name}")))
}

/// Now, as an image config's `created`.
fn chrono_now() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// One row of expected.md's table.
struct Row {
    tag: String,
    signature: String,
    records: String,
    decision: String,
    without_v1_2: String,
}

fn expected() -> Vec<Row> {
    let text = include_str!("data/werf11-registry/expected.md");
    // The images table; the stages table after it has its own columns.
    let images = text.split("## werf's stages").next().unwrap_or(text);
    images
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| tag ") && !l.starts_with("| ---"))
        .map(|l| {
            let cols: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            assert_eq!(cols.len(), 6, "{l}");
            Row {
                tag: cols[0].into(),
                signature: cols[1].into(),
                records: cols[2].into(),
                decision: cols[3].into(),
                without_v1_2: cols[5].into(),
            }
        })
        .collect()
}

#[test]
fn cleanup_judges_werf_tags_as_werf_1_1_36_would() {
    let p = WerfProject::new();
    let rows = expected();
    assert_eq!(rows.len(), 9, "the table's rows");
    let stages = format!("{}/{PROJECT}-stages", p.reg.host);
    let plan = p.plan(Some(&stages), &[]);
    assert_eq!(plan.len(), rows.len(), "{plan:#?}");
    for r in &rows {
        let (decision, reason) = &plan[&r.tag];
        assert_eq!(decision, &r.decision, "{}: {reason}", r.tag);
        // The plan names the records that decided it.
        match r.records.as_str() {
            "none" => assert!(
                reason.contains("[no werf 1.1 image metadata record in"),
                "{reason}"
            ),
            c => assert!(
                reason.contains(&format!("image-metadata-by-commit-app-{}", p.commits[c])),
                "{}: {reason}",
                r.tag
            ),
        }
    }
    // werf's stages by werf's rule; its records are no stages and stay.
    let stages_plan = items(&p.result(Some(&stages), &[])["stages"]);
    let decision = |name: &str| stages_plan[&stage_tag(name)].0.clone();
    for (name, want) in [
        ("P", "keep"),
        ("Q", "keep"),
        ("I", "keep"),
        ("O", "delete"),
        ("Y", "keep"),
    ] {
        assert_eq!(decision(name), want, "stage {name}: {stages_plan:#?}");
    }
    assert_eq!(stages_plan.len(), 5, "{stages_plan:#?}");
    // werf's own variable spelling turns v1.2 cleanup off: tags without metadata stay.
    let off = p.plan(
        Some(&stages),
        &[("WERF_GIT_HISTORY_BASED_CLEANUP_v1_2", "0")],
    );
    for r in &rows {
        assert_eq!(
            off[&r.tag].0, r.without_v1_2,
            "{}: {}",
            r.tag, off[&r.tag].1
        );
    }
    // Without -s werf's records are unknown: nothing werf published is deleted for lack
    // of them.
    let unread = p.plan(None, &[]);
    let (d, reason) = &unread["no-metadata"];
    assert_eq!(d, "keep", "{reason}");
    assert!(
        reason.contains("werf 1.1's records were not read"),
        "{reason}"
    );
    // Nothing was deleted by the dry runs; werf's records are all still there.
    assert_eq!(
        skopeo::tags(&p.reg, &format!("{PROJECT}/app")).len(),
        rows.len()
    );
    assert_eq!(skopeo::tags(&p.reg, &format!("{PROJECT}-stages")).len(), 17);
}

/// `managed-images ls` of one project (one name a line).
fn managed(p: &WerfProject, stages: &str) -> Vec<String> {
    let out = p
        .slipway()
        .args(["-s", stages, "managed-images", "ls"])
        .assert()
        .success();
    String::from_utf8_lossy(&out.get_output().stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn managed_images_lists_werfs_records_and_changes_slipways_list() {
    let p = WerfProject::new();
    let stages = format!("{}/{PROJECT}-stages", p.reg.host);
    // werf's names, unslugged as werf does (`old__slash__api` is `old/api`).
    assert_eq!(managed(&p, &stages), ["app", "old/api"]);
    p.slipway()
        .args(["managed-images", "add", "extra"])
        .assert()
        .success();
    assert_eq!(managed(&p, &stages), ["app", "extra", "old/api"]);
    // A dry run deletes nothing and says what it would.
    let dry = p
        .slipway()
        .args([
            "-s",
            &stages,
            "managed-images",
            "rm",
            "old/api",
            "--dry-run",
        ])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&dry.get_output().stdout).to_string();
    assert!(
        text.starts_with("dry run") && text.contains("managed-image-old__slash__api"),
        "{text}"
    );
    assert_eq!(managed(&p, &stages), ["app", "extra", "old/api"]);
    // rm deletes werf's record too, and leaves werf's other records alone.
    for name in ["old/api", "extra"] {
        p.slipway()
            .args(["-s", &stages, "managed-images", "rm", name])
            .assert()
            .success();
    }
    assert_eq!(managed(&p, &stages), ["app"]);
    let left = skopeo::tags(&p.reg, &format!("{PROJECT}-stages"));
    assert!(
        !left.contains(&"managed-image-old__slash__api".to_string()),
        "{left:?}"
    );
    assert_eq!(left.len(), 16, "{left:?}");
}
