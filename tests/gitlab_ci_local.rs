//! The docs' `<!-- gitlab-ci: run NAME -->` pipelines run by gitlab-ci-local (pinned in
//! tests/gitlab, installed by scripts/setup) with `--shell-isolation`, on a two-image project
//! against a loopback registry that wants the job token, with the predefined variables a
//! runner sets (issue 44). gitlab-ci-local evaluates `rules:` but ignores `only`/`except`:
//! the jobs to run are picked by tests/gitlab_pipeline.rs's model and, for rules, checked
//! against gitlab-ci-local's own `--list`. Every published reference is read back with
//! skopeo. A missing tool fails, never skips.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::gitlab_ci_docs::tool;
use crate::gitlab_pipeline::{SOURCES, Vars, jobs, runs};
use crate::support::{self, Registry, doc_blocks, kube, skopeo};

const TOKEN: &str = "glcbt-job-token-0123456789";
const REPO: &str = "group/shop";
/// `slipway slugify --format docker-tag release/2.0`: what build publishes for the git tag
/// and promote must land in production.
const RELEASE_SLUG: &str = "release-2-0-53b35f5e";

fn gitlab_ci_local() -> PathBuf {
    tool(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/gitlab/node_modules/.bin/gitlab-ci-local"),
    )
}

/// A pipeline as a runner starts it: source and ref.
#[derive(Clone, Copy)]
struct Trigger {
    source: &'static str,
    tag: Option<&'static str>,
}

impl Trigger {
    fn branch(source: &'static str) -> Self {
        Trigger { source, tag: None }
    }
    fn tag(source: &'static str) -> Self {
        Trigger {
            source,
            tag: Some("release/2.0"),
        }
    }
    fn vars(&self) -> Vars {
        let mut v = Vars::from([("CI_PIPELINE_SOURCE", self.source)]);
        match self.tag {
            Some(t) => v.insert("CI_COMMIT_TAG", t),
            None => v.insert("CI_COMMIT_BRANCH", "main"),
        };
        v
    }
    /// gitlab-ci-local's arguments for the predefined variables of this pipeline.
    fn args(&self, reg: &Registry) -> Vec<String> {
        let mut vars = vec![
            ("CI_PIPELINE_SOURCE", self.source.to_string()),
            ("CI_REGISTRY", reg.host.clone()),
            ("CI_REGISTRY_IMAGE", format!("{}/{REPO}", reg.host)),
            ("CI_JOB_TOKEN", TOKEN.to_string()),
            ("CI_REGISTRY_USER", "gitlab-ci-token".to_string()),
            ("CI_REGISTRY_PASSWORD", TOKEN.to_string()),
            ("CI_DEFAULT_BRANCH", "main".to_string()),
            (
                "CI_PROJECT_URL",
                "https://gitlab.example.com/group/shop".to_string(),
            ),
        ];
        let mut args = Vec::new();
        match self.tag {
            Some(t) => {
                vars.push(("CI_COMMIT_TAG", t.to_string()));
                vars.push(("CI_COMMIT_REF_NAME", t.to_string()));
                args.extend(["--unset-variable".to_string(), "CI_COMMIT_BRANCH".into()]);
            }
            None => {
                vars.push(("CI_COMMIT_BRANCH", "main".to_string()));
                vars.push(("CI_COMMIT_REF_NAME", "main".to_string()));
            }
        }
        let names: Vec<&str> = vars.iter().map(|(k, _)| *k).collect();
        args.extend(["--ignore-predefined-vars".to_string(), names.join(",")]);
        for (k, v) in vars {
            args.extend(["--variable".to_string(), format!("{k}={v}")]);
        }
        args
    }
}

/// A GitLab project: two images, a git origin, the doc's block as `.gitlab-ci.yml`, a
/// `kubectl` that records its arguments, and the registry.
struct Project {
    work: tempfile::TempDir,
    reg: Registry,
    pipeline: Value,
}

impl Project {
    fn new(block: &str) -> Project {
        let _ = support::base_image();
        let work = tempfile::tempdir().expect("tmp");
        let w = work.path();
        let dir = w.join("project");
        let df = format!("FROM {}\nCOPY app.txt /app.txt\n", support::base_image());
        support::write_tree(
            &dir,
            &[
                (
                    "werf.yaml",
                    "project: shop\nconfigVersion: 1\n---\nimage: backend\ncontext: backend\n---\nimage: frontend\ncontext: frontend\n",
                ),
                ("backend/Dockerfile", &df),
                ("backend/app.txt", "backend 1\n"),
                ("frontend/Dockerfile", &df),
                ("frontend/app.txt", "frontend 1\n"),
                (".gitlab-ci.yml", &doc_blocks::named(block).yaml),
            ],
        );
        for d in ["home", "tmp", "cache", "docker", "bin"] {
            std::fs::create_dir_all(w.join(d)).expect("mkdir");
        }
        let kubectl = w.join("bin/kubectl");
        std::fs::write(
            &kubectl,
            format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\n",
                w.join("kubectl.log").display()
            ),
        )
        .expect("kubectl");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&kubectl, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        support::git(w, &["init", "-q", "--bare", "-b", "main", "origin.git"]);
        support::git(&dir, &["init", "-q", "-b", "main"]);
        support::git(
            &dir,
            &[
                "remote",
                "add",
                "origin",
                &w.join("origin.git").to_string_lossy(),
            ],
        );
        let p = Project {
            pipeline: serde_saphyr::from_str(&doc_blocks::named(block).yaml).expect("yaml"),
            work,
            reg: Registry::plain_auth_as("gitlab-ci-token", TOKEN),
        };
        p.commit("init");
        p
    }

    fn dir(&self) -> PathBuf {
        self.work.path().join("project")
    }

    fn commit(&self, msg: &str) {
        let d = self.dir();
        support::git(
            &d,
            &[
                "add",
                "-A",
                "werf.yaml",
                ".gitlab-ci.yml",
                "backend",
                "frontend",
            ],
        );
        support::git(&d, &["commit", "-q", "-m", msg]);
        support::git(&d, &["push", "-q", "origin", "main"]);
    }

    /// The jobs GitLab would add to this pipeline (rules, only and except modelled).
    fn jobs_for(&self, t: Trigger) -> Vec<String> {
        let vars = t.vars();
        jobs(&self.pipeline)
            .into_iter()
            .filter(|(_, j)| runs(j, &vars))
            .map(|(k, _)| k)
            .collect()
    }

    fn command(&self, t: Trigger, extra: &[&str]) -> Command {
        let w = self.work.path();
        let mut c = Command::new(gitlab_ci_local());
        c.current_dir(self.dir())
            .arg("--home")
            .arg(w.join("home"))
            .args(["--color=false", "--shell-isolation"])
            .args(t.args(&self.reg))
            .args(extra);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().to_string();
            if [
                "CI",
                "SLIPWAY_",
                "WERF_",
                "GITLAB_",
                "KUBECONFIG",
                "DOCKER_CONFIG",
            ]
            .iter()
            .any(|p| k.starts_with(p))
            {
                c.env_remove(&k);
            }
        }
        let slipway = assert_cmd::cargo::cargo_bin("slipway");
        c.env(
            "PATH",
            format!(
                "{}:{}:{}",
                slipway.parent().expect("dir").display(),
                w.join("bin").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("HOME", w.join("home"))
        .env("TMPDIR", w.join("tmp"))
        .env("XDG_CACHE_HOME", w.join("cache"))
        .env("DOCKER_CONFIG", w.join("docker"));
        c
    }

    /// Runs the jobs the model picks for `t` (the model agreeing with gitlab-ci-local's
    /// `--list` where only `rules:` decide); returns the log after asserting each passed.
    fn run(&self, t: Trigger, vars: &[(&str, String)]) -> String {
        let want = self.jobs_for(t);
        assert!(!want.is_empty(), "no job runs");
        if !has_only_except(&self.pipeline) {
            let out = self
                .command(t, &["--list-json"])
                .output()
                .expect("gitlab-ci-local");
            let listed: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                panic!("--list-json: {e}: {}", String::from_utf8_lossy(&out.stderr))
            });
            let mut active: Vec<String> = listed
                .as_array()
                .expect("list")
                .iter()
                .filter(|j| j["when"] != "never")
                .map(|j| j["name"].as_str().expect("name").to_string())
                .collect();
            active.sort();
            assert_eq!(active, want, "gitlab-ci-local and the model disagree");
        }
        let mut extra: Vec<String> = Vec::new();
        for (k, v) in vars {
            extra.extend(["--variable".to_string(), format!("{k}={v}")]);
        }
        extra.extend(want.iter().cloned());
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let out = self.command(t, &extra).output().expect("gitlab-ci-local");
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{log}");
        let passed: Vec<String> = log
            .lines()
            .filter_map(|l| l.trim().strip_prefix("PASS "))
            .map(|j| j.trim().to_string())
            .collect();
        let mut passed_sorted = passed.clone();
        passed_sorted.sort();
        assert_eq!(passed_sorted, want, "{log}");
        assert!(!log.contains(TOKEN), "the job token is in the log");
        log
    }

    /// The report.json build left (gitlab-ci-local copies artifacts to the project).
    fn report(&self) -> BTreeMap<String, Value> {
        let r: Value = serde_json::from_str(
            &std::fs::read_to_string(self.dir().join("report.json")).expect("report.json"),
        )
        .expect("json");
        r["images"]
            .as_array()
            .expect("images")
            .iter()
            .map(|i| (i["name"].as_str().expect("name").to_string(), i.clone()))
            .collect()
    }

    /// `group/shop/NAME:TAG` read back by skopeo.
    fn digest(&self, name: &str, tag: &str) -> Result<String, String> {
        skopeo::digest(&self.reg, &format!("{REPO}/{name}:{tag}"))
    }

    fn uploads(&self) -> usize {
        self.reg.count_requests("POST", "/blobs/uploads/")
    }
}

fn has_only_except(p: &Value) -> bool {
    jobs(p)
        .values()
        .any(|j| j.get("only").is_some() || j.get("except").is_some())
}

/// Every `run` block with `needs` or `dependencies`: for each source, on a branch and on a
/// tag, gitlab-ci-local's `--validate-dependency-chain` finds every job an active job needs
/// active too. (A block without either has no chain; the schema is checked elsewhere.)
#[test]
fn every_run_block_has_a_valid_dependency_chain_for_every_source() {
    let blocks: Vec<_> = doc_blocks::all()
        .into_iter()
        .filter(|b| b.role == doc_blocks::Role::Run)
        .filter(|b| {
            let p: Value = serde_saphyr::from_str(&b.yaml).expect("yaml");
            jobs(&p)
                .values()
                .any(|j| j.get("needs").is_some() || j.get("dependencies").is_some())
        })
        .collect();
    assert!(
        blocks.iter().any(|b| b.name == "complete"),
        "the complete pipeline has needs"
    );
    let work = tempfile::tempdir().expect("tmp");
    support::git(work.path(), &["init", "-q", "-b", "main"]);
    let reg = Registry::plain();
    let mut checks = Vec::new();
    for b in &blocks {
        let file = format!("{}.yml", b.name);
        std::fs::write(work.path().join(&file), &b.yaml).expect("write");
        for s in SOURCES {
            for t in [Trigger::branch(s), Trigger::tag(s)] {
                checks.push((b.place.clone(), file.clone(), t));
            }
        }
    }
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = checks
            .chunks(checks.len().div_ceil(4))
            .map(|chunk| {
                let (work, reg) = (work.path(), &reg);
                scope.spawn(move || {
                    let mut bad = Vec::new();
                    for (place, file, t) in chunk {
                        let out = Command::new(gitlab_ci_local())
                            .current_dir(work)
                            // Not the user's ~/.gitlab-ci-local/variables.yml.
                            .arg("--home")
                            .arg(work)
                            .args([
                                "--file",
                                file,
                                "--validate-dependency-chain",
                                "--color=false",
                                // GitLab's schema is checked by check-jsonschema.
                                "--no-json-schema-validation",
                            ])
                            .args(t.args(reg))
                            .output()
                            .expect("gitlab-ci-local");
                        let log = String::from_utf8_lossy(&out.stdout).to_string()
                            + &String::from_utf8_lossy(&out.stderr);
                        if !out.status.success() || !log.contains("All job dependencies are valid")
                        {
                            bad.push(format!("{place}, {} {:?}: {log}", t.source, t.tag));
                        }
                    }
                    bad
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// docs/gitlab-ci.md's complete pipeline, one pipeline after another as a project lives:
/// a branch push, the same again (nothing changed), a change to one image, the git tag
/// release/2.0, then the scheduled cleanup with a cluster.
#[test]
fn complete_pipeline_runs_branch_no_change_change_tag_and_scheduled_cleanup() {
    let p = Project::new("complete");
    let kubectl_log = p.work.path().join("kubectl.log");

    // Branch: both images published under the branch and the content tag; deploy gets the
    // backend's digest through build's dotenv report.
    p.run(Trigger::branch("push"), &[]);
    let first = p.report();
    for (name, img) in &first {
        let d = img["digest"].as_str().expect("digest");
        assert_eq!(p.digest(name, "main").as_deref(), Ok(d), "{name}:main");
        let sig = img["signature"].as_str().expect("signature");
        assert_eq!(p.digest(name, sig).as_deref(), Ok(d), "{name}:{sig}");
    }
    let backend = first["backend"]["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    let deployed = std::fs::read_to_string(&kubectl_log).expect("deploy ran kubectl");
    assert_eq!(
        deployed.trim(),
        format!(
            "set image deployment/backend backend={}/{REPO}/backend@{backend}",
            p.reg.host
        )
    );

    // No change: nothing rebuilt, nothing uploaded.
    let uploads = p.uploads();
    let log = p.run(Trigger::branch("push"), &[]);
    assert_eq!(p.uploads(), uploads, "a blob was uploaded: {log}");
    for name in ["backend", "frontend"] {
        let row = log
            .lines()
            .find(|l| l.contains(&format!("> {name} ")))
            .unwrap_or_else(|| panic!("no report row for {name}: {log}"));
        assert!(
            row.contains("not rebuilt") && row.contains("already in registry"),
            "{row}"
        );
    }
    assert_eq!(p.report()["backend"]["digest"], first["backend"]["digest"]);

    // A change to the backend: it alone is rebuilt and moves the branch tag.
    std::fs::write(p.dir().join("backend/app.txt"), "backend 2\n").expect("edit");
    p.commit("backend 2");
    p.run(Trigger::branch("push"), &[]);
    let changed = p.report();
    let backend2 = changed["backend"]["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    assert_ne!(backend2, backend);
    assert_eq!(p.digest("backend", "main"), Ok(backend2.clone()));
    assert_eq!(changed["frontend"]["digest"], first["frontend"]["digest"]);
    assert_eq!(
        p.digest("frontend", "main").as_deref(),
        first["frontend"]["digest"]
            .as_str()
            .ok_or(String::new())
            .as_deref()
    );

    // The git tag release/2.0: build publishes its slug, promote lands that slug in
    // production with the same digests.
    // The tag is on a commit of its own (images no branch has), checked out as a runner does.
    let d = p.dir();
    support::git(&d, &["checkout", "-q", "--detach"]);
    std::fs::write(d.join("backend/app.txt"), "backend release\n").expect("edit");
    std::fs::write(d.join("frontend/app.txt"), "frontend release\n").expect("edit");
    support::git(&d, &["commit", "-q", "-am", "release"]);
    support::git(&d, &["tag", "release/2.0"]);
    support::git(&d, &["push", "-q", "origin", "release/2.0"]);
    p.run(Trigger::tag("push"), &[]);
    for (name, img) in p.report() {
        let d = img["digest"].as_str().expect("digest").to_string();
        assert_eq!(p.digest(&name, RELEASE_SLUG), Ok(d.clone()), "{name}");
        assert_eq!(
            skopeo::digest(&p.reg, &format!("{REPO}/production/{name}:{RELEASE_SLUG}")),
            Ok(d),
            "production/{name}:{RELEASE_SLUG}"
        );
    }

    // The scheduled cleanup, the tag gone from git: the cluster (kube config from the
    // KUBE_CONFIG file variable) runs the backend's release image, so it stays; the
    // frontend's goes (a project variable lets images of this test's age go).
    support::git(&d, &["checkout", "-q", "main"]);
    support::git(&d, &["push", "-q", "origin", ":refs/tags/release/2.0"]);
    support::git(&d, &["tag", "-d", "release/2.0"]);
    let mut fake = kube::Fake::new(100).with_every_kind();
    let running = format!("{}/{REPO}/backend:{RELEASE_SLUG}", p.reg.host);
    fake.add(
        "api/v1",
        "pods",
        serde_json::json!({"metadata": kube::meta("shop", "backend"),
                           "spec": {"containers": [{"name": "c", "image": running}]}}),
    );
    let addr = fake.serve();
    let kubeconfig = p.work.path().join("kubeconfig");
    kube::kubeconfig(&kubeconfig, &[("prod", format!("http://{addr}"))]);
    let log = p.run(
        Trigger::branch("schedule"),
        &[
            ("KUBE_CONFIG", kubeconfig.to_string_lossy().to_string()),
            ("SLIPWAY_MIN_AGE", "0s".to_string()),
        ],
    );
    assert!(!log.contains("No kubernetes configs found"), "{log}");
    assert!(log.contains(&format!("keep   {running} (")), "{log}");
    assert!(
        log.contains("in use in Kubernetes (context prod: Pod shop/backend)"),
        "{log}"
    );
    assert!(p.digest("backend", RELEASE_SLUG).is_ok(), "{log}");
    assert!(p.digest("frontend", RELEASE_SLUG).is_err(), "{log}");
    assert_eq!(p.digest("backend", "main"), Ok(backend2));
}

/// werf 1.1's snippet: gitlab-ci-local ignores `only`/`except`, so the model picks the jobs:
/// a branch push runs the build alone (werf's report read back by skopeo), a schedule
/// Cleanup alone.
#[test]
fn werf_snippet_builds_on_push_and_cleans_up_alone_on_schedule() {
    let p = Project::new("werf-1.1");
    assert_eq!(p.jobs_for(Trigger::branch("push")), ["Build and Publish"]);
    p.run(Trigger::branch("push"), &[]);
    // No artifacts in werf's snippet: the report stays in the job's build folder
    // (gitlab-ci-local 4.73.0 names it after the job, a space as "IA").
    let job_dir = p.dir().join(".gitlab-ci-local/builds/BuildIAandIAPublish");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(job_dir.join("werf-report.json"))
            .unwrap_or_else(|e| panic!("werf-report.json: {e}: {:?}", walk(&p.dir()))),
    )
    .expect("json");
    for name in ["backend", "frontend"] {
        let img = &report["Images"][name];
        assert_eq!(img["DockerRepo"], format!("{}/{REPO}/{name}", p.reg.host));
        let tag = img["DockerTag"].as_str().expect("DockerTag");
        assert_eq!(
            p.digest(name, tag).as_deref(),
            img["DockerImageDigest"]
                .as_str()
                .ok_or(String::new())
                .as_deref(),
            "{name}"
        );
    }
    assert_eq!(p.jobs_for(Trigger::branch("schedule")), ["Cleanup"]);
    let log = p.run(Trigger::branch("schedule"), &[]);
    assert!(!log.contains("Build and Publish"), "{log}");
    assert!(!log.contains("No kubernetes configs found"), "{log}");
}

/// docs/publish.md's job: it logs in (the registry wants the job token) and publishes the
/// branch in a branch pipeline, the git tag's slug in a tag pipeline.
#[test]
fn publish_job_publishes_the_branch_then_the_tag() {
    let p = Project::new("publish");
    p.run(Trigger::branch("push"), &[]);
    for (name, img) in p.report() {
        let d = img["digest"].as_str().expect("digest").to_string();
        assert_eq!(p.digest(&name, "main"), Ok(d.clone()), "{name}:main");
        let sig = img["signature"].as_str().expect("signature");
        assert_eq!(p.digest(&name, sig), Ok(d), "{name}:{sig}");
    }
    let d = p.dir();
    support::git(&d, &["tag", "release/2.0"]);
    p.run(Trigger::tag("web"), &[]);
    for (name, img) in p.report() {
        let digest = img["digest"].as_str().expect("digest").to_string();
        assert_eq!(p.digest(&name, RELEASE_SLUG), Ok(digest), "{name}");
    }
}

fn walk(d: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        out.push(p.display().to_string());
        if p.is_dir() {
            out.extend(walk(&p));
        }
    }
    out
}
