//! The docs' GitLab pipelines, as a GitLab user would meet them (issue 44): every YAML block
//! of docs/ carries a marker (tests/support/doc_blocks.rs); every GitLab block, fragments
//! merged into the block they belong to, passes GitLab's CI schema (`check-jsonschema
//! --builtin-schema vendor.gitlab-ci`, pinned by scripts/setup). The tools' absence fails the
//! tests: scripts/setup installs them.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::doc_blocks::{self, Block, Role};

const VENV: &str = "/opt/slipway-venv";

/// A tool scripts/setup installs; its absence is a failure, never a skip.
pub fn tool(path: PathBuf) -> PathBuf {
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup (it installs the docs' CI test tools)",
        path.display()
    );
    path
}

fn check_jsonschema() -> PathBuf {
    tool(Path::new(VENV).join("bin/check-jsonschema"))
}

/// `a` with `b` laid over it: mappings key by key, anything else replaced.
fn merge(a: &mut Value, b: &Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(old) => merge(old, v),
                    None => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (a, b) => *a = b.clone(),
    }
}

fn parse(b: &Block) -> Value {
    serde_saphyr::from_str(&b.yaml).unwrap_or_else(|e| panic!("{}: not YAML: {e}", b.place))
}

/// Files to check: each whole block as written; each block with fragments once more, as
/// JSON with the fragments laid over it.
fn gitlab_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let blocks = doc_blocks::all();
    let mut files = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        if !matches!(b.role, Role::Run | Role::SchemaOnly) {
            continue;
        }
        let path = dir.join(format!("{i:02}-{}.yaml", b.name));
        std::fs::write(&path, &b.yaml).expect("write block");
        files.push((path, b.place.clone()));
        let fragments: Vec<&Block> = blocks
            .iter()
            .filter(|f| f.role == Role::Fragment(b.name.clone()))
            .collect();
        if fragments.is_empty() {
            continue;
        }
        let mut merged = parse(b);
        let mut places = vec![b.place.clone()];
        for f in fragments {
            merge(&mut merged, &parse(f));
            places.push(f.place.clone());
        }
        let path = dir.join(format!("{i:02}-{}-with-fragments.json", b.name));
        std::fs::write(&path, serde_json::to_string_pretty(&merged).expect("json")).expect("w");
        files.push((path, places.join(" + ")));
    }
    files
}

fn schema_check(schema: &str, files: &[PathBuf]) -> std::process::Output {
    Command::new(check_jsonschema())
        .arg("--builtin-schema")
        .arg(schema)
        .args(files)
        .output()
        .expect("run check-jsonschema")
}

#[test]
fn every_docs_yaml_block_is_marked_and_every_gitlab_block_passes_gitlabs_schema() {
    let blocks = doc_blocks::all();
    // Every fragment names a block that exists.
    for b in &blocks {
        if let Role::Fragment(of) = &b.role {
            doc_blocks::named(of);
        }
    }
    let runs: Vec<&str> = blocks
        .iter()
        .filter(|b| b.role == Role::Run)
        .map(|b| b.name.as_str())
        .collect();
    assert!(
        runs.contains(&"complete") && runs.contains(&"werf-1.1"),
        "{runs:?}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let files = gitlab_files(dir.path());
    assert!(files.len() >= 6, "{files:?}");
    let paths: Vec<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();
    let out = schema_check("vendor.gitlab-ci", &paths);
    let legend: Vec<String> = files
        .iter()
        .map(|(p, place)| format!("{} = {place}", p.display()))
        .collect();
    assert!(
        out.status.success(),
        "GitLab's CI schema refuses a docs block:\n{}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        legend.join("\n")
    );
}

/// The example workflow is checked against GitHub's schema (no offline runner exists for it).
#[test]
fn the_github_actions_example_passes_githubs_workflow_schema() {
    let wf = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/github-actions/slipway.yml");
    let out = schema_check("vendor.github-workflows", &[wf]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The check is not vacuous: a rule GitLab refuses, an unmarked block and a dangling
/// fragment are caught.
#[test]
fn a_pipeline_gitlab_refuses_and_an_unmarked_block_are_caught() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "build:\n  script: [make]\n  rules:\n    - if: $CI_COMMIT_TAG\n      when: sometimes\n",
    )
    .expect("write");
    assert!(!schema_check("vendor.gitlab-ci", &[bad]).status.success());
    let unmarked = std::panic::catch_unwind(|| {
        doc_blocks::blocks_of("x.md", "Text\n\n```yaml\nbuild:\n  script: [make]\n```\n")
    });
    assert!(unmarked.is_err());
    let marked = doc_blocks::blocks_of(
        "x.md",
        "- item\n\n  <!-- gitlab-ci: fragment complete -->\n  ```yaml\n  build:\n    stage: build\n  ```\n",
    );
    assert_eq!(marked.len(), 1);
    assert_eq!(marked[0].role, Role::Fragment("complete".into()));
    assert_eq!(marked[0].yaml, "build:\n  stage: build\n");
}
