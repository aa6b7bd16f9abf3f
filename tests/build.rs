//! `slipway build` against the real daemon: directives, .dockerignore, dependencies,
//! parallelism, skipping unchanged images, failures.

mod support;

use std::path::Path;
use std::process::Command;

fn docker_run(image: &str, cmd: &[&str]) -> String {
    let out = Command::new("docker")
        .args(["run", "--rm", image])
        .args(cmd)
        .output()
        .expect("docker run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn image_id(image: &str) -> String {
    let out = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .output()
        .expect("inspect");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn build(dir: &Path, extra: &[&str]) -> assert_cmd::Command {
    let mut c = support::slipway();
    c.env("XDG_CACHE_HOME", dir.with_extension("cache"))
        .arg("--dir")
        .arg(dir)
        .args(extra);
    c
}

/// A project whose images each have their own context, so their signatures are apart.
fn project(name: &str) -> tempfile::TempDir {
    let base = support::base_image();
    let d = tempfile::tempdir().expect("tmp");
    let nonce = format!("{:?}{}", std::time::SystemTime::now(), d.path().display());
    let werf = format!(
        "project: {name}\nconfigVersion: 1\n---\nimage: app\ncontext: app\ntarget: final\nargs:\n  GREETING: hello\naddHost: [\"myhost:10.1.2.3\"]\n---\nimage: tool\ncontext: tool\n---\nimage: dep\ncontext: dep\ndependencies:\n  - image: tool\n    imports:\n      - type: ImageID\n        targetBuildArg: TOOL_ID\n      - type: ImageName\n        targetBuildArg: TOOL_IMAGE\n"
    );
    support::write_tree(
        d.path(),
        &[
            ("werf.yaml", &werf),
            (
                "app/Dockerfile",
                &format!(
                    "FROM {base} AS shared\nRUN echo shared > /shared\n\nFROM shared AS final\nARG GREETING\nRUN echo \"$GREETING\" > /greeting\nRUN grep -q '10.1.2.3.*myhost' /etc/hosts && echo ok > /hosts-ok\nCOPY . /ctx/\n\nFROM shared AS unused\nRUN false\n"
                ),
            ),
            ("app/.dockerignore", "*.secret\nlogs/\n!logs/keep.txt\n"),
            ("app/main.txt", "main\n"),
            ("app/token.secret", "s3cr3t\n"),
            ("app/logs/a.log", "x\n"),
            ("app/logs/keep.txt", "keep\n"),
            (
                "tool/Dockerfile",
                &format!("FROM {base}\nCOPY tool.txt /tool.txt\nRUN sleep 2\n"),
            ),
            ("tool/tool.txt", "tool v1\n"),
            // Unique per run, so images left by an earlier run never match.
            ("app/nonce", &nonce),
            ("tool/nonce", &nonce),
            ("dep/nonce", &nonce),
            (
                "dep/Dockerfile",
                "ARG TOOL_IMAGE\nFROM ${TOOL_IMAGE}\nARG TOOL_ID\nRUN echo \"$TOOL_ID\" > /tool-id\n",
            ),
        ],
    );
    d
}

#[test]
fn directives_dockerignore_and_dependencies() {
    let p = project("bt-one");
    // --force: an earlier run may have left images with these very signatures.
    let out = build(p.path(), &["--json", "build", "--force"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    // Target, build arg, addHost inside RUN.
    assert_eq!(
        docker_run("bt-one/app:latest", &["cat", "/greeting"]),
        "hello"
    );
    assert_eq!(docker_run("bt-one/app:latest", &["cat", "/hosts-ok"]), "ok");
    // .dockerignore: excluded files absent, the exception present.
    let files = docker_run("bt-one/app:latest", &["find", "/ctx", "-type", "f"]);
    assert!(files.contains("/ctx/main.txt"), "{files}");
    assert!(files.contains("/ctx/logs/keep.txt"), "{files}");
    assert!(!files.contains("token.secret"), "{files}");
    assert!(!files.contains("a.log"), "{files}");
    // The dependant got its dependency's image ID through the build arg.
    assert_eq!(
        docker_run("bt-one/dep:latest", &["cat", "/tool-id"]),
        image_id("bt-one/tool:latest")
    );
    // Labels carry project, image and signature.
    let labels = Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            "bt-one/app:latest",
        ])
        .output()
        .expect("inspect");
    let labels: serde_json::Value = serde_json::from_slice(&labels.stdout).expect("json");
    assert_eq!(labels["slipway.project"], "bt-one");
    assert_eq!(labels["slipway.image"], "app");
    assert_eq!(labels["slipway.signature"].as_str().map(str::len), Some(64));

    // app and tool are independent: their builds overlap (tool sleeps 2s).
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let at = |ev: &str, img: &str| {
        events
            .iter()
            .find(|e| e["event"] == ev && e["image"] == img)
            .and_then(|e| e["time_ms"].as_u64())
            .unwrap_or_else(|| panic!("no {ev} event for {img}: {stdout}"))
    };
    assert!(
        at("start", "app") < at("done", "tool") && at("start", "tool") < at("done", "app"),
        "no overlap: {stdout}"
    );
    // The dependant starts only after its dependency is done.
    assert!(at("start", "dep") >= at("done", "tool"));

    // No change: nothing is rebuilt.
    let out = build(p.path(), &["--json", "build"]).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert_eq!(
        stdout.matches("\"event\":\"skipped\"").count(),
        3,
        "{stdout}"
    );
    assert_eq!(stdout.matches("\"event\":\"start\"").count(), 0, "{stdout}");

    // An ignored file changes nothing; editing tool rebuilds tool and its dependant only.
    std::fs::write(p.path().join("app/token.secret"), "other\n").expect("edit");
    std::fs::write(p.path().join("tool/tool.txt"), "tool v2\n").expect("edit");
    let out = build(p.path(), &["--json", "build"]).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let started: Vec<&str> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "start")
        .filter_map(|e| e["image"].as_str().map(str::to_string))
        .map(|s| Box::leak(s.into_boxed_str()) as &str)
        .collect();
    let mut started = started;
    started.sort();
    assert_eq!(started, vec!["dep", "tool"], "{stdout}");
    assert_eq!(
        docker_run("bt-one/dep:latest", &["cat", "/tool.txt"]),
        "tool v2"
    );
}

#[test]
fn failing_run_is_located_and_other_errors_are_clear() {
    let base = support::base_image();
    let d = tempfile::tempdir().expect("tmp");
    support::write_tree(
        d.path(),
        &[
            (
                "werf.yaml",
                "project: bt-fail\nconfigVersion: 1\n---\nimage: broken\n",
            ),
            (
                "Dockerfile",
                &format!("FROM {base}\nRUN echo before\nRUN echo 'about to fail' && exit 3\n"),
            ),
        ],
    );
    let out = build(d.path(), &["build"]).assert().code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("image broken: Dockerfile:3: RUN echo 'about to fail' && exit 3"),
        "{err}"
    );
    assert!(err.contains("returned a non-zero code: 3"), "{err}");
    assert!(err.contains("about to fail"), "{err}");

    // A cycle is rejected before anything is built.
    std::fs::write(
        d.path().join("werf.yaml"),
        "project: bt-fail\nconfigVersion: 1\n---\nimage: a\ndependencies: [{image: b}]\n---\nimage: b\ndependencies: [{image: a}]\n",
    )
    .expect("write");
    let out = build(d.path(), &["build"])
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .assert()
        .code(1);
    assert!(
        String::from_utf8_lossy(&out.get_output().stderr).contains("dependency cycle: a -> b -> a")
    );

    // No daemon: one clear error.
    std::fs::write(
        d.path().join("werf.yaml"),
        "project: bt-fail\nconfigVersion: 1\n---\nimage: ok\n",
    )
    .expect("write");
    let out = build(d.path(), &["build"])
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("cannot reach the Docker daemon at unix:///nonexistent.sock"),
        "{err}"
    );

    // Unknown image name on the command line.
    let out = build(d.path(), &["build", "nope"]).assert().code(1);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("unknown image \"nope\""));
}
