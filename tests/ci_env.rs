//! `slipway ci-env`: sourced in bash with hostile values, PowerShell output, missing
//! variables, and a real GitLab-style build-and-publish to a TLS + htpasswd registry.

use crate::support;

use std::path::Path;
use std::process::Command;

use support::{Registry, skopeo};

fn ci_env(vars: &[(&str, &str)], args: &[&str]) -> support::Slipway {
    let mut c = support::slipway();
    c.env("TMPDIR", std::env::temp_dir())
        .arg("ci-env")
        .args(args);
    for (k, v) in vars {
        c.env(k, v);
    }
    c
}

/// Source `script` in bash and print the given variables NUL-separated.
fn source(script: &Path, keys: &[&str], cwd: &Path) -> Vec<String> {
    let printf: Vec<String> = keys
        .iter()
        .map(|k| format!("printf '%s\\0' \"${k}\""))
        .collect();
    let out = Command::new("bash")
        .current_dir(cwd)
        .arg("-c")
        .arg(format!(
            "set -e; source '{}'; {}",
            script.display(),
            printf.join("; ")
        ))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .map(str::to_string)
        .collect()
}

#[test]
fn hostile_values_are_data_when_sourced() {
    let work = tempfile::tempdir().expect("tmp");
    let hostile = [
        "$(touch pwned1)",
        "`touch pwned2`",
        "a\"; touch pwned3; echo \"",
        "it's'; touch pwned4; '",
        "line1\nline2; touch pwned5",
        "\\\"$(touch pwned6)\\",
    ];
    for h in hostile {
        let vars = [
            ("CI_REGISTRY", "registry.example.com"),
            ("CI_REGISTRY_IMAGE", "registry.example.com/g/app"),
            ("CI_JOB_TOKEN", "tok"),
            ("CI_COMMIT_REF_NAME", h),
            ("CI_ENVIRONMENT_SLUG", h),
            ("CI_PROJECT_URL", h),
        ];
        let out = ci_env(
            &vars,
            &["gitlab", "--tagging-strategy", "tag-or-branch", "--as-file"],
        )
        .assert()
        .success();
        let script = String::from_utf8_lossy(&out.get_output().stdout)
            .trim()
            .to_string();
        let got = source(
            Path::new(&script),
            &[
                "WERF_ENV",
                "WERF_ADD_ANNOTATION_PROJECT_GIT",
                "WERF_TAG_GIT_BRANCH",
            ],
            work.path(),
        );
        assert_eq!(got[0], h);
        assert_eq!(got[1], format!("project.werf.io/git={h}"));
        assert!(
            got[2]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "{:?}",
            got[2]
        );
        let pwned: Vec<_> = std::fs::read_dir(work.path())
            .expect("ls")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert!(pwned.is_empty(), "a value executed: {pwned:?} for {h:?}");
    }
}

#[test]
fn powershell_env_file_and_missing_variables() {
    let vars = [
        ("CI_REGISTRY_IMAGE", "registry.example.com/g/app"),
        ("CI_COMMIT_TAG", "v1.0"),
    ];
    let out = ci_env(
        &vars,
        &[
            "gitlab",
            "--shell",
            "powershell",
            "--tagging-strategy",
            "tag-or-branch",
        ],
    )
    .assert()
    .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains("$Env:WERF_IMAGES_REPO = \"registry.example.com/g/app\""),
        "{text}"
    );
    assert!(text.contains("$Env:WERF_TAG_GIT_TAG = \"v1.0\""), "{text}");
    assert!(text.contains("$Env:DOCKER_CONFIG = "), "{text}");
    let out = ci_env(&vars, &["gitlab", "--as-env-file"])
        .assert()
        .success();
    let path = String::from_utf8_lossy(&out.get_output().stdout)
        .trim()
        .to_string();
    let env = std::fs::read_to_string(&path).expect("env file");
    assert!(env.contains("WERF_TAG_BY_STAGES_SIGNATURE=true\n"), "{env}");
    // Missing variables: named, and `exit 1` on stdout so a sourcing shell stops.
    let out = ci_env(
        &[("CI_REGISTRY_IMAGE", "r/x")],
        &["gitlab", "--tagging-strategy", "tag-or-branch"],
    )
    .assert()
    .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("CI_COMMIT_TAG") && err.contains("CI_COMMIT_REF_NAME"),
        "{err}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.get_output().stdout),
        "exit 1\n"
    );
    // No CI_REGISTRY_IMAGE: werf goes on without a repository.
    let out = ci_env(&[], &["gitlab"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("# export WERF_IMAGES_REPO=\"\"\n"), "{text}");
    assert!(
        text.contains("# export WERF_STAGES_STORAGE=\"\"\n"),
        "{text}"
    );
    assert!(!text.contains("/stages"), "{text}");
    // Already set, under the werf or the Slipway name: left alone.
    for user in ["WERF_ENV", "SLIPWAY_ENV"] {
        let out = ci_env(&[("CI_REGISTRY_IMAGE", "r/x"), (user, "mine")], &["gitlab"])
            .assert()
            .success();
        let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
        assert!(
            text.contains(&format!("# skip export WERF_ENV=\"\" ({user} is set)\n")),
            "{text}"
        );
    }
    // GitHub.
    let out = ci_env(
        &[
            ("GITHUB_REPOSITORY", "Acme/App"),
            ("GITHUB_REF", "refs/heads/main"),
        ],
        &["github", "--tagging-strategy", "tag-or-branch"],
    )
    .assert()
    .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains("export WERF_IMAGES_REPO=\"ghcr.io/acme/app\""),
        "{text}"
    );
    assert!(
        text.contains("export WERF_TAG_GIT_BRANCH=\"main\""),
        "{text}"
    );
    assert!(
        text.contains("export SLIPWAY_CACHE_FROM=\"main\""),
        "{text}"
    );
    // A pull request: its head branch, then the branch it goes into.
    let out = ci_env(
        &[
            ("GITHUB_REPOSITORY", "Acme/App"),
            ("GITHUB_REF", "refs/pull/7/merge"),
            ("GITHUB_HEAD_REF", "feature/x"),
            ("GITHUB_BASE_REF", "main"),
        ],
        &["github", "--tagging-strategy", "tag-or-branch"],
    )
    .assert()
    .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let branch = text
        .lines()
        .find_map(|l| l.strip_prefix("export WERF_TAG_GIT_BRANCH=\""))
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        text.contains(&format!("export SLIPWAY_CACHE_FROM=\"{branch},main\"")),
        "{text}"
    );
}

#[test]
fn gitlab_job_builds_and_publishes_with_the_job_token() {
    let _ = support::base_image();
    let token = "glcbt-job-token-0123456789";
    let reg = Registry::tls_auth_as("gitlab-ci-token", token);
    let image_repo = format!("{}/group/shop", reg.host);
    let work = tempfile::tempdir().expect("tmp");
    let shop = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop");
    let script = format!(
        "set -e\nsource \"$(slipway ci-env gitlab --as-file)\"\nslipway --dir '{}' build-and-publish --report-path '{}/report.json'\n",
        shop.display(),
        work.path().display()
    );
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(script).env_clear();
    cmd.env("PATH", support::command::path())
        .env("HOME", work.path())
        .env("TMPDIR", work.path())
        .env("XDG_CACHE_HOME", work.path().join("cache"))
        .env("BASE_IMAGE", support::base_image())
        .env("CI", "true")
        .env("GITLAB_CI", "true")
        .env("CI_REGISTRY", &reg.host)
        .env("CI_REGISTRY_IMAGE", &image_repo)
        .env("CI_JOB_TOKEN", token)
        .env("CI_COMMIT_REF_NAME", "main")
        .env("CI_COMMIT_SHA", "0123456789abcdef")
        .env("CI_PROJECT_URL", "https://gitlab.example.com/group/shop");
    if let Ok(h) = std::env::var("DOCKER_HOST") {
        cmd.env("DOCKER_HOST", h);
    }
    let out = cmd.output().expect("bash");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(!all.contains(token), "token printed");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("report.json")).expect("report"),
    )
    .expect("json");
    for img in report["images"].as_array().expect("images") {
        let name = img["name"].as_str().expect("name");
        let sig = img["signature"].as_str().expect("sig");
        assert_eq!(img["repository"], format!("{image_repo}/{name}"));
        let d = skopeo::digest(&reg, &format!("group/shop/{name}:{sig}")).expect("skopeo");
        assert_eq!(img["digest"], d);
    }
}

/// A GitLab job's shell: only CI variables (and `extra`), slipway on PATH, `script` run
/// by bash with `set -e`. Returns stdout + stderr after asserting success.
fn gitlab_job(
    reg: &Registry,
    token: &str,
    image_repo: &str,
    home: &Path,
    extra: &[(&str, &str)],
    script: &str,
) -> String {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(format!("set -e\n{script}"))
        .current_dir(home.join("project"))
        .env_clear()
        .env("PATH", support::command::path())
        .env("HOME", home)
        .env("TMPDIR", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("BASE_IMAGE", support::base_image())
        .env("CI", "true")
        .env("GITLAB_CI", "true")
        .env("CI_REGISTRY", &reg.host)
        .env("CI_REGISTRY_IMAGE", image_repo)
        .env("CI_JOB_TOKEN", token)
        .env("CI_COMMIT_REF_NAME", "main")
        .env("CI_COMMIT_BRANCH", "main")
        .env("CI_DEFAULT_BRANCH", "main")
        .env("CI_COMMIT_SHA", "0123456789abcdef")
        .env("CI_PIPELINE_ID", "101")
        .env("CI_JOB_ID", "202")
        .env("CI_PROJECT_URL", "https://gitlab.example.com/group/shop");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    if let Ok(h) = std::env::var("DOCKER_HOST") {
        cmd.env("DOCKER_HOST", h);
    }
    let out = cmd.output().expect("bash");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{script}\n{all}");
    assert!(!all.contains(token), "token printed: {all}");
    all
}

/// A git clone of examples/shop in `home/project` with its `origin` (cleanup reads git
/// history, and under ci-env first synchronizes with origin as werf does).
fn shop_clone(home: &Path) {
    let shop = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop");
    let dst = home.join("project");
    let st = Command::new("cp")
        .arg("-r")
        .arg(&shop)
        .arg(&dst)
        .status()
        .expect("cp");
    assert!(st.success());
    for args in [
        vec!["init", "-q", "-b", "main"],
        vec!["add", "-A"],
        vec![
            "-c",
            "user.email=ci@example.com",
            "-c",
            "user.name=ci",
            "commit",
            "-qm",
            "shop",
        ],
        vec!["init", "-q", "--bare", "-b", "main", "../origin.git"],
        vec!["remote", "add", "origin", "../origin.git"],
        vec!["push", "-q", "origin", "main"],
    ] {
        let st = Command::new("git")
            .args(&args)
            .current_dir(&dst)
            .status()
            .expect("git");
        assert!(st.success(), "git {args:?}");
    }
}

/// werf 1.1's documented GitLab CI lines, with `werf` replaced by `slipway` and nothing
/// else: the build job and the scheduled cleanup job, configured by `WERF_*` only.
#[test]
fn werf_documented_gitlab_lines_run_verbatim() {
    let _ = support::base_image();
    let token = "glcbt-werf-lines-0123456789";
    let reg = Registry::tls_auth_as("gitlab-ci-token", token);
    let image_repo = format!("{}/group/shop", reg.host);
    let home = tempfile::tempdir().expect("tmp");
    shop_clone(home.path());
    let out = gitlab_job(
        &reg,
        token,
        &image_repo,
        home.path(),
        &[],
        "type slipway && source $(slipway ci-env gitlab --as-file --verbose)\n\
         env | grep '^SLIPWAY_' | grep -v '^SLIPWAY_CACHE_FROM=' && exit 3 || true\n\
         slipway build-and-publish -s :local --publish-report-path ../werf-report.json\n",
    );
    // --verbose echoes what was set (the token is not among it: asserted by gitlab_job).
    assert!(
        out.contains(&format!("export WERF_IMAGES_REPO=\"{image_repo}\"")),
        "{out}"
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(home.path().join("werf-report.json")).expect("werf report"),
    )
    .expect("json");
    let images = report["Images"].as_object().expect("Images");
    assert_eq!(images.len(), 3, "{report}");
    for (name, rec) in images {
        assert_eq!(rec["WerfImageName"], name.as_str());
        assert_eq!(rec["DockerRepo"], format!("{image_repo}/{name}"));
        let tag = rec["DockerTag"].as_str().expect("tag");
        let d = skopeo::digest(&reg, &format!("group/shop/{name}:{tag}")).expect("skopeo");
        assert_eq!(rec["DockerImageDigest"], d);
        assert!(
            rec["DockerImageID"]
                .as_str()
                .is_some_and(|id| id.starts_with("sha256:")),
            "{rec}"
        );
    }
    // The scheduled cleanup job, werf's way.
    gitlab_job(
        &reg,
        token,
        &image_repo,
        home.path(),
        &[("CI_PIPELINE_SOURCE", "schedule")],
        "type slipway && source $(slipway ci-env gitlab --as-file)\nslipway cleanup -s :local\n",
    );
    // HEAD's images are still there.
    for (name, rec) in images {
        let tag = rec["DockerTag"].as_str().expect("tag");
        assert!(skopeo::digest(&reg, &format!("group/shop/{name}:{tag}")).is_ok());
    }
}

/// `WERF_IMAGES_REPO` in the project's CI/CD variables: ci-env leaves it (and its Slipway
/// twin) alone and the images go to the user's repository, not GitLab's.
#[test]
fn user_set_werf_images_repo_is_where_images_go() {
    let _ = support::base_image();
    let token = "glcbt-user-repo-0123456789";
    let reg = Registry::tls_auth_as("gitlab-ci-token", token);
    let image_repo = format!("{}/group/shop", reg.host);
    let user_repo = format!("{}/elsewhere/shop", reg.host);
    let home = tempfile::tempdir().expect("tmp");
    shop_clone(home.path());
    gitlab_job(
        &reg,
        token,
        &image_repo,
        home.path(),
        &[("WERF_IMAGES_REPO", &user_repo)],
        "source $(slipway ci-env gitlab --as-file)\n\
         slipway build-and-publish --report-path ../report.json --report-format envfile\n",
    );
    let env = std::fs::read_to_string(home.path().join("report.json")).expect("envfile");
    for name in ["backend", "frontend", "migrations"] {
        let key = format!(
            "WERF_{}_DOCKER_IMAGE_NAME={user_repo}/{name}:",
            name.to_uppercase()
        );
        let line = env
            .lines()
            .find(|l| l.starts_with(&key))
            .unwrap_or_else(|| panic!("{key} in {env}"));
        let tag = line.rsplit(':').next().expect("tag");
        let d = skopeo::digest(&reg, &format!("elsewhere/shop/{name}:{tag}")).expect("skopeo");
        assert!(
            env.contains(&format!(
                "WERF_{}_DOCKER_IMAGE_DIGEST={d}\n",
                name.to_uppercase()
            )),
            "{env}"
        );
        assert!(skopeo::digest(&reg, &format!("group/shop/{name}:{tag}")).is_err());
    }
}

/// A fatal error stops a job that sources the script: werf's `exit 1`, in the file too.
#[test]
fn a_fatal_error_stops_the_sourcing_shell() {
    let tmp = tempfile::tempdir().expect("tmp");
    for line in [
        "source $(slipway ci-env gitlab --as-file --verbose --tagging-strategy tag-or-branch)",
        "eval \"$(slipway ci-env gitlab --tagging-strategy tag-or-branch)\"",
    ] {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("{line}\necho reached"))
            .env_clear()
            .env("PATH", support::command::path())
            .env("HOME", tmp.path())
            .env("TMPDIR", tmp.path())
            .env("CI_REGISTRY_IMAGE", "registry.example.com/g/app")
            .output()
            .expect("bash");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(out.status.code(), Some(1), "{line}: {stdout}");
        assert!(!stdout.contains("reached"), "{line}: {stdout}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("CI_COMMIT_REF_NAME"),
            "{line}"
        );
    }
}

/// GitHub's env-file rules (`$GITHUB_ENV`, `$GITHUB_OUTPUT`; the runner's
/// `SetEnvFileCommand`): empty lines are skipped; `KEY=VALUE` when the first `=` comes
/// before any `<<`; else `KEY<<DELIM` starts a value that ends at a line equal to DELIM;
/// any other line is an error that fails the step.
fn parse_github_env(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let eq = line.find('=');
        let heredoc = line.find("<<");
        match (eq, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                let key = &line[..e];
                if key.is_empty() {
                    return Err(format!("empty name: {line:?}"));
                }
                out.push((key.to_string(), line[e + 1..].to_string()));
            }
            (_, Some(h)) => {
                let (key, delim) = (&line[..h], &line[h + 2..]);
                if key.is_empty() || delim.is_empty() {
                    return Err(format!("invalid heredoc: {line:?}"));
                }
                let mut value = Vec::new();
                loop {
                    match lines.next() {
                        Some(l) if l == delim => break,
                        Some(l) => value.push(l),
                        None => return Err(format!("no closing {delim:?} for {key}")),
                    }
                }
                out.push((key.to_string(), value.join("\n")));
            }
            _ => return Err(format!("invalid format: {line:?}")),
        }
    }
    Ok(out)
}

#[test]
fn github_env_file_appends_lines_githubs_parser_accepts() {
    let dir = tempfile::tempdir().expect("tmp");
    let env_file = dir.path().join("github_env");
    // An earlier step's variable, its line unterminated.
    std::fs::write(&env_file, "EARLIER=kept").expect("write");
    let server = "https://github.example\nSECOND=line";
    let vars = [
        ("GITHUB_REPOSITORY", "Owner/App"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_SHA", "0123abcd"),
        ("GITHUB_SERVER_URL", server),
        ("GITHUB_ACTOR", "octocat"),
        ("GITHUB_TOKEN", "ghs_secret"),
    ];
    for _ in 0..2 {
        let out = ci_env(
            &vars,
            &[
                "github",
                "--as-env-file",
                "-o",
                env_file.to_str().expect("utf-8"),
            ],
        )
        .assert()
        .success();
        let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
        assert!(!stdout.contains("ghs_secret"), "{stdout}");
    }
    let text = std::fs::read_to_string(&env_file).expect("read");
    assert!(
        !text.lines().any(|l| l.starts_with('#')),
        "comment lines: {text}"
    );
    let parsed = parse_github_env(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(parsed[0], ("EARLIER".to_string(), "kept".to_string()));
    let get = |k: &str| -> Vec<&str> {
        parsed
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    // Both runs are in the file, each parsed whole.
    assert_eq!(get("WERF_IMAGES_REPO"), ["ghcr.io/owner/app"; 2]);
    let annotation = format!("project.werf.io/git={server}/Owner/App");
    assert_eq!(
        get("WERF_ADD_ANNOTATION_PROJECT_GIT"),
        [annotation.as_str(); 2]
    );
    assert!(get("SECOND").is_empty(), "a value's line became a variable");
    assert_eq!(get("DOCKER_CONFIG").len(), 2, "{text}");
    // A fresh delimiter each time: a value cannot predict and forge it.
    let delims: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("WERF_ADD_ANNOTATION_PROJECT_GIT<<"))
        .collect();
    assert_eq!(delims.len(), 2, "{text}");
    assert!(delims[0].starts_with("ghadelimiter_") && delims[0] != delims[1]);
}

/// `slipway ci-env gitlab` and then `script` in bash, with only the CI variables given (no
/// job token unless given): (success, stdout, stderr).
fn gitlab_ci_env_with(home: &Path, vars: &[(&str, &str)], script: &str) -> (bool, String, String) {
    let bin = assert_cmd::cargo::cargo_bin("slipway");
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(format!("set -e\n{script}"))
        .current_dir(home)
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.parent().expect("dir").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("HOME", home)
        .env("TMPDIR", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("CI", "true")
        .env("GITLAB_CI", "true")
        .env("CI_COMMIT_REF_NAME", "main")
        .env("CI_COMMIT_BRANCH", "main")
        .env("CI_COMMIT_SHA", "0123456789abcdef");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    if let Ok(h) = std::env::var("DOCKER_HOST") {
        cmd.env("DOCKER_HOST", h);
    }
    let out = cmd.output().expect("bash");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Without a job token, ci-env logs in with `CI_REGISTRY_USER`/`PASSWORD` (a project
/// variable may set them), else with the deploy token's pair: a push to a registry that
/// wants exactly that pair succeeds (issue 44, 5).
#[test]
fn gitlab_ci_env_logs_in_with_the_registry_pair_or_the_deploy_token() {
    let _ = support::base_image();
    for (user_var, pass_var, user) in [
        ("CI_REGISTRY_USER", "CI_REGISTRY_PASSWORD", "deployer"),
        (
            "CI_DEPLOY_USER",
            "CI_DEPLOY_PASSWORD",
            "gitlab+deploy-token-1",
        ),
    ] {
        let password = "pw-0123456789";
        let reg = Registry::plain_auth_as(user, password);
        let home = tempfile::tempdir().expect("tmp");
        let tar = support::image_tarball(home.path(), 4);
        let repo = format!("{}/group/shop", reg.host);
        let (ok, out, err) = gitlab_ci_env_with(
            home.path(),
            &[
                ("CI_REGISTRY", &reg.host),
                ("CI_REGISTRY_IMAGE", &repo),
                (user_var, user),
                (pass_var, password),
            ],
            &format!(
                "source \"$(slipway ci-env gitlab --as-file)\"\nslipway push-archive '{}' \"$CI_REGISTRY_IMAGE/app:t\"\n",
                tar.display()
            ),
        );
        assert!(ok, "{user_var}: {out}{err}");
        assert!(
            !format!("{out}{err}").contains(password),
            "password printed"
        );
        assert!(!err.contains("no registry login"), "{err}");
        assert!(
            skopeo::digest(&reg, "group/shop/app:t").is_ok(),
            "{user_var}"
        );
    }
}

/// With no credential variable ci-env warns on stderr, naming them, and exits 0; with the
/// job token it does not warn (issue 44, 5).
#[test]
fn gitlab_ci_env_without_credentials_warns_naming_them() {
    let home = tempfile::tempdir().expect("tmp");
    let base = [
        ("CI_REGISTRY", "registry.gitlab.example"),
        ("CI_REGISTRY_IMAGE", "registry.gitlab.example/group/shop"),
    ];
    let (ok, out, err) = gitlab_ci_env_with(home.path(), &base, "slipway ci-env gitlab");
    assert!(ok, "{out}{err}");
    for name in [
        "CI_REGISTRY_USER",
        "CI_REGISTRY_PASSWORD",
        "CI_JOB_TOKEN",
        "CI_DEPLOY_USER",
        "CI_DEPLOY_PASSWORD",
    ] {
        assert!(err.contains(name), "{name} not named: {err}");
    }
    assert!(
        !out.contains("no registry login"),
        "the warning is on stdout: {out}"
    );
    assert!(out.contains("WERF_IMAGES_REPO"), "{out}");
    let mut with_token = base.to_vec();
    with_token.push(("CI_JOB_TOKEN", "tok-0123456789"));
    let (ok, out2, err) = gitlab_ci_env_with(home.path(), &with_token, "slipway ci-env gitlab");
    assert!(ok, "{out2}{err}");
    assert!(!err.contains("no registry login"), "{err}");
    // The token changes the docker config's content, not the script's lines.
    let lines = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.contains("DOCKER_CONFIG"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(lines(&out), lines(&out2));
}
