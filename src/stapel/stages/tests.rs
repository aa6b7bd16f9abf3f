//! Stage signatures, plans and patches against real git repositories.

use super::*;

fn rec(stage: &str, sig: &str, commit: Option<&str>) -> StageRecord {
    StageRecord {
        stage: stage.into(),
        signature: sig.into(),
        commit: commit.map(String::from),
        sources: Vec::new(),
    }
}

fn git(dir: &std::path::Path, args: &[&str]) {
    let ok = std::process::Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .status()
        .expect("git runs")
        .success();
    assert!(ok, "git {args:?}");
}

const YAML: &str = r#"project: p
configVersion: 1
---
image: app
from: alpine:3
git:
- add: /
  to: /app
  stageDependencies:
    install: [package.json]
    setup: ["src/**/*.css"]
shell:
  beforeInstall: [echo bi]
  install: [npm ci]
  beforeSetup: [echo bs]
  setup: [echo setup]
"#;

/// The project at `dir`, loaded.
fn load(dir: &std::path::Path) -> crate::config::Config {
    let settings = crate::settings::Settings {
        dir: dir.to_path_buf(),
        ..Default::default()
    };
    crate::config::load::load(&settings).expect("config loads")
}

/// `YAML` with its package.json and a source, committed on `main` in a new repo.
fn app_project(dir: &std::path::Path) {
    git(dir, &["init", "-q", "-b", "main"]);
    commit(
        dir,
        &[
            ("werf.yaml", YAML),
            ("package.json", "{}"),
            ("src/a.js", "a"),
        ],
    );
}

/// Stage → signature for the project at `dir` (its werf.yaml at HEAD's worktree).
fn sigs_at(dir: &std::path::Path) -> BTreeMap<&'static str, String> {
    let cfg = load(dir);
    let img = cfg.node(Some("app")).expect("app");
    let env = Env::new(&cfg);
    let repo = git::open(dir).expect("repo");
    let (commit, tree) = git::head_tree(&repo).expect("head");
    let head = Head {
        repo: &repo,
        commit,
        tree,
    };
    signatures(&env, img, &BTreeMap::new(), Some(&head))
        .expect("signatures")
        .into_iter()
        .map(|s| (s.stage, s.signature))
        .collect()
}

fn commit(dir: &std::path::Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let p = dir.join(p);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, c).expect("write");
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "c"]);
}

#[test]
fn stage_signatures_follow_stage_dependencies() {
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    git(dir, &["init", "-q"]);
    commit(
        dir,
        &[
            ("werf.yaml", YAML),
            ("package.json", "{}"),
            ("src/a.js", "a"),
            ("src/b.css", "b"),
        ],
    );
    let s1 = sigs_at(dir);
    let order: Vec<&str> = s1.keys().copied().collect();
    for st in [
        "from",
        "beforeInstall",
        "gitArchive",
        "install",
        "beforeSetup",
        "setup",
        "dockerInstructions",
    ] {
        assert!(order.contains(&st), "{st} in {order:?}");
    }

    // A source change outside every stageDependencies: no stage signature moves (the
    // sources come in through the patch, not the signatures).
    commit(dir, &[("src/a.js", "a2")]);
    let s2 = sigs_at(dir);
    assert_eq!(s1, s2);

    // A css change: setup (and what follows) only.
    commit(dir, &[("src/b.css", "b2")]);
    let s3 = sigs_at(dir);
    for st in [
        "from",
        "beforeInstall",
        "gitArchive",
        "install",
        "beforeSetup",
    ] {
        assert_eq!(s2[st], s3[st], "{st}");
    }
    for st in ["setup", "dockerInstructions"] {
        assert_ne!(s2[st], s3[st], "{st}");
    }

    // package.json: install and every later stage.
    commit(dir, &[("package.json", "{\"a\": 1}")]);
    let s4 = sigs_at(dir);
    for st in ["from", "beforeInstall", "gitArchive"] {
        assert_eq!(s3[st], s4[st], "{st}");
    }
    for st in ["install", "beforeSetup", "setup", "dockerInstructions"] {
        assert_ne!(s3[st], s4[st], "{st}");
    }

    // A cacheVersion of beforeSetup: beforeSetup on, not install.
    let yaml = YAML.replace("shell:\n", "shell:\n  beforeSetupCacheVersion: \"2\"\n");
    commit(dir, &[("werf.yaml", &yaml)]);
    let s5 = sigs_at(dir);
    assert_eq!(s4["install"], s5["install"]);
    assert_ne!(s4["beforeSetup"], s5["beforeSetup"]);
    assert_ne!(s4["setup"], s5["setup"]);
}

#[test]
fn plan_reuses_recorded_prefix_only_from_ancestors_of_head() {
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    app_project(dir);
    let cfg = load(dir);
    let img = cfg.node(Some("app")).expect("app");
    let env = Env::new(&cfg);
    let outcome = |previous: Option<&[StageRecord]>| {
        let repo = git::open(dir).expect("repo");
        let (commit, tree) = git::head_tree(&repo).expect("head");
        let head = Head {
            repo: &repo,
            commit,
            tree,
        };
        let sigs = signatures(&env, img, &BTreeMap::new(), Some(&head)).expect("sigs");
        plan(&sigs, Some(&head), previous)
    };
    let first = outcome(None);
    assert!(first.reused.is_empty() && first.plan.patches.is_empty());
    let c1 = first
        .record
        .iter()
        .find(|r| r.stage == "install")
        .and_then(|r| r.commit.clone())
        .expect("install has a commit");

    // Same commit: every stage reused, nothing patched.
    let same = outcome(Some(&first.record));
    assert!(same.built.is_empty(), "{:?}", same.built);
    assert!(same.plan.patches.is_empty());

    // A later commit: the prefix is regenerated at c1 and patched at the end.
    commit(dir, &[("src/a.js", "a2")]);
    let later = outcome(Some(&first.record));
    assert_eq!(later.plan.archive.map(|c| c.to_string()), Some(c1.clone()));
    assert_eq!(later.built, vec![LATEST_PATCH, "dockerInstructions"]);
    let (from, _) = later.plan.patches["gitlatestpatch"];
    assert_eq!(from.to_string(), c1);

    // A recorded commit missing from the clone, or not an ancestor of HEAD: rebuilt.
    let mut missing = first.record.clone();
    for r in &mut missing {
        if r.commit.is_some() {
            r.commit = Some("1234567890123456789012345678901234567890".into());
        }
    }
    let rebuilt = outcome(Some(&missing));
    assert!(rebuilt.reused.is_empty(), "{:?}", rebuilt.reused);
    // A branch from c1 does not have main's later commit.
    git(dir, &["checkout", "-q", "-b", "other", &c1]);
    commit(dir, &[("src/b.js", "b")]);
    let main_head = later
        .record
        .iter()
        .find(|r| r.stage == LATEST_PATCH)
        .and_then(|r| r.commit.clone())
        .expect("latest patch commit");
    let mut not_ancestor = first.record.clone();
    for r in &mut not_ancestor {
        if r.commit.is_some() {
            r.commit = Some(main_head.clone());
        }
    }
    let diverged = outcome(Some(&not_ancestor));
    assert!(diverged.reused.is_empty(), "{:?}", diverged.reused);
    assert!(diverged.plan.archive.is_none());
}

#[test]
fn patch_step_removes_deleted_paths_and_copies_changes_with_the_owner() {
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    git(dir, &["init", "-q"]);
    let yaml = r#"project: p
configVersion: 1
---
image: app
from: alpine:3
git:
- add: /src
  to: /app
  owner: app
  group: app
- add: /one.conf
  to: /etc/one.conf
"#;
    commit(
        dir,
        &[
            ("werf.yaml", yaml),
            ("one.conf", "1"),
            ("src/keep", "k"),
            ("src/change", "c"),
            ("src/d/gone", "g"),
        ],
    );
    let repo = git::open(dir).expect("repo");
    let c1 = git::head_tree(&repo).expect("head").0;
    std::fs::remove_dir_all(dir.join("src/d")).expect("rm");
    commit(dir, &[("src/change", "c2"), ("src/new", "n")]);
    let c2 = git::head_tree(&repo).expect("head").0;
    let cfg = load(dir);
    let st = cfg
        .node(Some("app"))
        .and_then(|n| n.stapel())
        .expect("stapel");
    let (lines, files) = patch_step(&repo, st, c1, c2, "install", "TB").expect("patch");
    assert_eq!(
        lines,
        vec![
            format!(r#"RUN TB ["{TOOLBOX_DIR}/embedded/bin/rm","-rf","--","/app/d/gone"]"#),
            format!(
                r#"RUN TB ["{}","-c","for d in \"$@\"; do {TOOLBOX_DIR}/embedded/bin/rmdir \"$d\" 2>/dev/null || true; done","rmdir-empty","/app/d"]"#,
                super::super::BASH
            ),
            r#"COPY --chown=app:app [".slipway/patch/install/0/", "/app/"]"#.to_string(),
        ],
        "the unchanged single-file mapping adds nothing"
    );
    let names: Vec<String> = files
        .iter()
        .map(|f| match f {
            TarEntry::Git { path, .. } | TarEntry::File { path, .. } => path.clone(),
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ".slipway/patch/install/0/change",
            ".slipway/patch/install/0/new"
        ]
    );
    // Back from c2 to c1 is not a patch werf makes, but the diff is symmetric.
    let (back, _) = patch_step(&repo, st, c2, c1, "x", "TB").expect("patch");
    assert!(back.iter().any(|l| l.contains("/app/new")), "{back:?}");
}

#[test]
fn a_stored_stage_replaces_the_prefix_of_the_generated_dockerfile() {
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    app_project(dir);
    let cfg = load(dir);
    let img = cfg.node(Some("app")).expect("app");
    let env = Env::new(&cfg);
    let full = super::super::generate(&env, img, None).expect("generate");
    // One Dockerfile stage per werf stage, docker instructions included.
    let sigs = head_signatures(&env, img, &BTreeMap::new()).expect("sigs");
    let want: Vec<String> = sigs.iter().map(|s| dockerfile_stage(s.stage)).collect();
    assert_eq!(full.stages, want);
    assert!(full.dockerfile.contains("FROM install AS beforesetup"));

    let plan = Plan {
        start: Some(("install".into(), "reg/stages:abc-1".into())),
        ..Plan::default()
    };
    let g = super::super::generate_planned(&env, img, None, &plan).expect("generate");
    assert!(
        g.dockerfile
            .contains("FROM reg/stages:abc-1 AS beforesetup"),
        "{}",
        g.dockerfile
    );
    let names_of = |context: &[u8]| {
        let mut names = Vec::new();
        let mut a = tar::Archive::new(context);
        for e in a.entries().expect("entries") {
            let e = e.expect("entry");
            names.push(e.path().expect("path").to_string_lossy().to_string());
        }
        names
    };
    assert!(
        names_of(&full.context)
            .iter()
            .any(|n| n.starts_with(".slipway/git/0/"))
    );
    let names = names_of(&g.context);
    assert!(
        !names.iter().any(|n| n.starts_with(".slipway/git/0/")),
        "the stored stage's sources do not travel: {names:?}"
    );
}

#[test]
fn record_round_trips_and_bad_labels_count_as_none() {
    let r = vec![rec("from", "a", None), rec("gitArchive", "b", Some("c"))];
    let text = serde_json::to_string(&r).expect("json");
    assert_eq!(parse_record(&text), Some(r));
    assert_eq!(parse_record("not json"), None);
}
