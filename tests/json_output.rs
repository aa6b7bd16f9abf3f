//! `--json` is one event stream for every command (docs/json.md): every line on stdout
//! validates against docs/json-events.schema.json, the first is the command's `start`, the
//! last is the only one with `ok`, and `ok` agrees with the exit status — failures
//! included, also those before the command starts.

use crate::support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::Registry;

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json-events.schema.json"),
    )
    .expect("schema file");
    let schema: Value = serde_json::from_str(&text).expect("schema json");
    jsonschema::validator_for(&schema).expect("valid schema")
}

/// Checks the stream of one run and returns its lines.
fn stream(v: &jsonschema::Validator, what: &str, out: &std::process::Output) -> Vec<Value> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{what}: {e}: {l:?}")))
        .collect();
    assert!(lines.len() >= 2, "{what}: {stdout}");
    for l in &lines {
        let errors: Vec<String> = v.iter_errors(l).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{what}: {l}: {errors:?}");
    }
    assert_eq!(lines[0]["type"], "start", "{what}: {stdout}");
    assert_eq!(lines[0]["event"], "command", "{what}: {stdout}");
    let finals = lines.iter().filter(|l| l.get("ok").is_some()).count();
    assert_eq!(finals, 1, "{what}: exactly one final object: {stdout}");
    let last = lines.last().expect("lines");
    assert_eq!(
        last["ok"].as_bool(),
        Some(out.status.success()),
        "{what}: ok vs exit {:?}: {stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    lines
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .status()
        .expect("git")
        .success();
    assert!(ok, "git {args:?}");
}

fn project(dir: &Path, werf_yaml: &str) {
    let base = support::base_image();
    support::write_tree(
        dir,
        &[
            ("werf.yaml", werf_yaml),
            ("Dockerfile", &format!("FROM {base}\nCOPY hello /hello\n")),
            ("hello", &format!("{:?}\n", std::time::SystemTime::now())),
        ],
    );
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "one"]);
}

const WERF_YAML: &str = "project: js\nconfigVersion: 1\n---\nimage: app\ndockerfile: Dockerfile\n";

#[test]
fn every_command_streams_valid_events_ending_in_one_result() {
    let v = validator();
    let reg = Registry::plain();
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path().join("p");
    project(&dir, WERF_YAML);
    let host = reg.host.clone();
    let tarball = support::image_tarball(d.path(), 4);
    let tarball = tarball.to_string_lossy().to_string();
    let ok = |args: &[&str]| {
        let out = support::slipway()
            .project(&dir)
            .images_repo(&reg, "js")
            .args(args)
            .output()
            .expect("run slipway");
        let lines = stream(&v, &args.join(" "), &out);
        let last = lines.last().expect("last").clone();
        assert_eq!(last["ok"], true, "{}: {last}", args.join(" "));
        (lines, last["result"].clone())
    };

    let (_, r) = ok(&["--json", "config", "validate"]);
    assert_eq!(r["project"], "js", "{r}");
    let (_, r) = ok(&["--json", "config", "render"]);
    assert!(
        r["text"].as_str().is_some_and(|t| t.contains("image: app")),
        "{r}"
    );
    let (_, r) = ok(&["--json", "images"]);
    assert_eq!(r["images"][0]["name"], "app", "{r}");
    let (_, r) = ok(&["--json", "slugify", "Feature/Login"]);
    assert!(
        r["slug"]
            .as_str()
            .is_some_and(|s| s.starts_with("feature-login")),
        "{r}"
    );

    let (lines, r) = ok(&["--json", "build", "--force"]);
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "start" && l["image"] == "app")
    );
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "progress" && l["event"] == "done")
    );
    assert_eq!(r["images"][0]["name"], "app", "{r}");

    // build-and-publish: build events and the report in the same stream, nothing else
    // on stdout.
    let (lines, r) = ok(&["--json", "build-and-publish", "--tag-custom", "v1"]);
    assert!(lines.iter().any(|l| l["type"] == "progress"), "{lines:?}");
    // Pushes report each layer as it goes.
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "layer-start" && l["size"].is_u64()),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l["event"] == "layer-done"
            && l["action"] == "uploaded"
            && l["bytes"].is_u64()),
        "{lines:?}"
    );
    let digest = r["images"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    assert!(digest.starts_with("sha256:"), "{r}");
    let (_, r) = ok(&["--json", "publish", "--tag-custom", "v2", "--dry-run"]);
    assert!(r["images"].is_array(), "{r}");
    let (_, r) = ok(&["--json", "publish", "--tag-custom", "v2"]);
    assert_eq!(r["images"][0]["digest"], digest.as_str(), "{r}");

    let src = format!("{host}/js/app:v1");
    let dst = format!("{host}/prod/app");
    let (_, r) = ok(&["--json", "promote", &src, &dst, "--tag", "v1", "--dry-run"]);
    assert!(r["plans"].is_array(), "{r}");
    let (_, r) = ok(&["--json", "promote", &src, &dst, "--tag", "v1"]);
    assert_eq!(r["promoted"][0]["digest"], digest.as_str(), "{r}");

    let target = format!("{host}/arch/app:v1");
    let (_, r) = ok(&["--json", "push-archive", &tarball, &target, "--dry-run"]);
    assert!(r["jobs"].is_array(), "{r}");
    let (_, r) = ok(&["--json", "push-archive", &tarball, &target]);
    assert!(r["pushed"][0]["digest"].is_string(), "{r}");

    let cleanup = ["--json", "cleanup", "--without-kube", "--min-age", "0s"];
    let (_, r) = ok(&[&cleanup[..], &["--dry-run"]].concat());
    assert!(r["plan"]["items"].is_array(), "{r}");
    let (_, r) = ok(&cleanup);
    assert!(r["deleted"].is_object(), "{r}");
    let (_, r) = ok(&["--json", "purge", "--dry-run"]);
    assert!(r["plan"]["items"].is_array(), "{r}");

    // doctor's checks pass or not; either way the stream ends in one object.
    let out = support::slipway()
        .project(&dir)
        .images_repo(&reg, "js")
        .args(["--json", "doctor"])
        .output()
        .expect("run slipway");
    let lines = stream(&v, "doctor", &out);
    assert!(lines.last().expect("last")["result"]["checks"].is_array());

    // ci-env outside CI fails (no CI variables): an error, still one final object.
    let out = support::slipway()
        .project(&dir)
        .args(["--json", "ci-env", "gitlab"])
        .output()
        .expect("run slipway");
    stream(&v, "ci-env", &out);

    // Failures: each ends with ok: false and the error.
    let failing = |what: &str, args: &[&str], env: &[(&str, &str)], reg: Option<&Registry>| {
        let mut c = support::slipway();
        c.project(&dir).envs(env.iter().copied());
        if let Some(reg) = reg {
            c.images_repo(reg, "js");
        }
        let out = c.args(args).output().expect("run slipway");
        assert!(!out.status.success(), "{what} succeeded");
        let lines = stream(&v, what, &out);
        let last = lines.last().expect("last").clone();
        assert_eq!(last["type"], "error", "{what}: {last}");
        assert!(
            last["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: {last}"
        );
        last
    };
    let last = failing(
        "promote of a missing tag",
        &["--json", "promote", &format!("{host}/js/app:nope"), &dst],
        &[],
        Some(&reg),
    );
    assert!(
        last["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nope")),
        "{last}"
    );
    failing(
        "push-archive of a missing file",
        &["--json", "push-archive", "/no/such.tar", &target],
        &[],
        Some(&reg),
    );
    let last = failing("bad flag", &["--json", "build", "--bogus"], &[], None);
    assert!(
        last["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("--bogus"))
    );
    assert_eq!(last["command"], "build");
    // A bad value in the environment: before anything starts, named by its variable.
    let last = failing(
        "bad variable",
        &["cleanup"],
        &[("SLIPWAY_JSON", "1"), ("SLIPWAY_DRY_RUN", "maybe")],
        Some(&reg),
    );
    assert!(
        last["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("SLIPWAY_DRY_RUN")),
        "{last}"
    );
    let last = failing("cleanup without repo", &["--json", "cleanup"], &[], None);
    assert!(
        last["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("--images-repo"))
    );
}

/// A broken werf.yaml: the final object carries file, line and column.
#[test]
fn config_errors_carry_their_position() {
    let v = validator();
    let d = tempfile::tempdir().expect("tmp");
    support::write_tree(
        d.path(),
        &[(
            "werf.yaml",
            "project: js\nconfigVersion: 1\n---\nimage: app\ndockerfile: [1, 2\n",
        )],
    );
    for args in [
        &["--json", "config", "validate"][..],
        &["--json", "build"],
        &["--json", "images"],
        &[
            "--json",
            "build-and-publish",
            "--images-repo",
            "127.0.0.1:9/x",
        ],
    ] {
        let out = support::slipway()
            .project(d.path())
            .args(args)
            .output()
            .expect("run slipway");
        let lines = stream(&v, &args.join(" "), &out);
        let last = lines.last().expect("last");
        assert_eq!(last["ok"], false, "{last}");
        assert!(
            last["error"]["file"]
                .as_str()
                .is_some_and(|f| f.contains("werf.yaml")),
            "{last}"
        );
        assert!(
            last["error"]["line"].as_u64().is_some_and(|l| l >= 5),
            "{last}"
        );
        assert!(last["error"]["column"].as_u64().is_some(), "{last}");
    }
}
