//! `ci-env gitlab|github` output against golden files written from werf 1.1's
//! `cmd/werf/ci_env/ci_env.go` (its variables, conditions, order and headers; Slipway adds
//! only `SLIPWAY_CACHE_FROM`), for branch, tag, merge-request and scheduled pipelines, with
//! and without variables the user set. The docker config path is replaced by a marker.

use crate::support;

use std::path::Path;

const GITLAB: &[(&str, &str)] = &[
    ("GITLAB_CI", "true"),
    ("CI_REGISTRY", "registry.example.com"),
    ("CI_REGISTRY_IMAGE", "registry.example.com/group/app"),
    ("CI_JOB_TOKEN", "job-token-secret"),
    ("CI_PROJECT_URL", "https://gitlab.example.com/group/app"),
    ("CI_COMMIT_SHA", "0123456789abcdef0123456789abcdef01234567"),
    ("CI_PIPELINE_ID", "4242"),
    ("CI_JOB_ID", "77"),
    ("CI_DEFAULT_BRANCH", "main"),
    ("CI_SERVER_VERSION", "16.5.1"),
];

fn run(ci: &str, vars: &[(&str, &str)], args: &[&str]) -> String {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut c = support::slipway();
    c.env("TMPDIR", tmp.path()).arg("ci-env").arg(ci).args(args);
    for (k, v) in vars {
        c.env(k, v);
    }
    let out = c.assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let dir = text
        .lines()
        .find_map(|l| l.strip_prefix("export DOCKER_CONFIG=\""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("DOCKER_CONFIG line")
        .to_string();
    assert!(Path::new(&dir).join("config.json").is_file());
    text.replace(&dir, "<DOCKER_CONFIG>")
}

fn golden(name: &str, got: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ci-env")
        .join(name);
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(got, want, "{name}: got\n{got}");
}

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    GITLAB.iter().chain(extra).copied().collect()
}

#[test]
fn gitlab_branch_pipeline() {
    let vars = with(&[
        ("CI_PIPELINE_SOURCE", "push"),
        ("CI_COMMIT_REF_NAME", "main"),
        ("CI_COMMIT_BRANCH", "main"),
        ("CI_ENVIRONMENT_SLUG", "production"),
    ]);
    golden(
        "gitlab-branch.sh",
        &run("gitlab", &vars, &["--tagging-strategy", "tag-or-branch"]),
    );
    golden(
        "gitlab-branch-verbose.sh",
        &run("gitlab", &vars, &["--verbose"]),
    );
}

#[test]
fn gitlab_tag_pipeline() {
    let vars = with(&[
        ("CI_PIPELINE_SOURCE", "push"),
        ("CI_COMMIT_REF_NAME", "v1.2.0"),
        ("CI_COMMIT_TAG", "v1.2.0"),
    ]);
    golden(
        "gitlab-tag.sh",
        &run("gitlab", &vars, &["--tagging-strategy", "tag-or-branch"]),
    );
}

#[test]
fn gitlab_merge_request_pipeline() {
    let vars = with(&[
        ("CI_PIPELINE_SOURCE", "merge_request_event"),
        ("CI_COMMIT_REF_NAME", "feature/login"),
        ("CI_MERGE_REQUEST_IID", "12"),
        ("CI_ENVIRONMENT_SLUG", "review-feature-x1y2z3"),
    ]);
    golden(
        "gitlab-merge-request.sh",
        &run("gitlab", &vars, &["--tagging-strategy", "tag-or-branch"]),
    );
}

#[test]
fn gitlab_scheduled_pipeline_with_user_variables() {
    let plain = with(&[
        ("CI_PIPELINE_SOURCE", "schedule"),
        ("CI_COMMIT_REF_NAME", "main"),
        ("CI_COMMIT_BRANCH", "main"),
        ("CI_SERVER_VERSION", "12.1.4"),
    ]);
    golden("gitlab-schedule.sh", &run("gitlab", &plain, &[]));
    // The user's own repository (werf name), environment (Slipway name) and a cleanup
    // limit: each left alone; the images repo is no longer GitLab's, so no implementation.
    let user = [
        plain.as_slice(),
        &[
            ("WERF_IMAGES_REPO", "registry.other.com/team/app"),
            ("SLIPWAY_ENV", "staging"),
            ("WERF_GIT_TAG_STRATEGY_LIMIT", "3"),
            ("SLIPWAY_CACHE_FROM", "develop"),
        ],
    ]
    .concat();
    golden("gitlab-schedule-user-set.sh", &run("gitlab", &user, &[]));
}

#[test]
fn gitlab_without_registry() {
    // Container registry disabled: werf goes on (and Slipway does not write werf's
    // "/stages" for the stages storage).
    let vars: Vec<(&str, &str)> = GITLAB
        .iter()
        .filter(|(k, _)| !k.starts_with("CI_REGISTRY"))
        .copied()
        .chain([("CI_COMMIT_REF_NAME", "main")])
        .collect();
    golden("gitlab-no-registry.sh", &run("gitlab", &vars, &[]));
}

#[test]
fn github_push() {
    let vars = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", "Acme/App"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_SHA", "fedcba9876543210fedcba9876543210fedcba98"),
        ("GITHUB_RUN_ID", "555"),
        ("GITHUB_ACTOR", "octocat"),
        ("GITHUB_TOKEN", "ghs_secret"),
    ];
    let text = run("github", &vars, &[]);
    golden("github-push.sh", &text);
    // --verbose echoes every line but never the token.
    let text = run("github", &vars, &["--verbose"]);
    assert!(
        text.contains("echo 'export WERF_REPO_GITHUB_TOKEN=\"***\"'\n"),
        "{text}"
    );
    assert_eq!(text.matches("ghs_secret").count(), 1, "{text}");
}
