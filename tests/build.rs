//! `slipway build` against the real daemon: directives, .dockerignore, dependencies,
//! parallelism, skipping unchanged images, failures.

use crate::support;

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
                &format!("FROM {base}\nCOPY tool.txt /tool.txt\nCOPY nonce /nonce\nRUN sleep 2\n"),
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
fn directives_dockerignore_and_dependencies_buildkit() {
    directives_dockerignore_and_dependencies("on");
}

#[test]
fn directives_dockerignore_and_dependencies_classic() {
    directives_dockerignore_and_dependencies("off");
}

fn directives_dockerignore_and_dependencies(buildkit: &str) {
    let name = format!("bt-one-{buildkit}");
    let p = project(&name);
    let img = |i: &str| format!("{name}/{i}:latest");
    let builder = if buildkit == "on" {
        "buildkit"
    } else {
        "classic"
    };
    // --force: an earlier run may have left images with these very signatures.
    let out = support::slipway()
        .project(p.path())
        .args(["--json", "build", "--buildkit", buildkit, "--force"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    // Target, build arg, addHost inside RUN.
    assert_eq!(docker_run(&img("app"), &["cat", "/greeting"]), "hello");
    assert_eq!(docker_run(&img("app"), &["cat", "/hosts-ok"]), "ok");
    // .dockerignore: excluded files absent, the exception present.
    let files = docker_run(&img("app"), &["find", "/ctx", "-type", "f"]);
    assert!(files.contains("/ctx/main.txt"), "{files}");
    assert!(files.contains("/ctx/logs/keep.txt"), "{files}");
    assert!(!files.contains("token.secret"), "{files}");
    assert!(!files.contains("a.log"), "{files}");
    // The dependant got its dependency's image ID through the build arg.
    assert_eq!(
        docker_run(&img("dep"), &["cat", "/tool-id"]),
        image_id(&img("tool"))
    );
    // Labels carry project, image and signature.
    let labels = Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            &img("app"),
        ])
        .output()
        .expect("inspect");
    let labels: serde_json::Value = serde_json::from_slice(&labels.stdout).expect("json");
    assert_eq!(labels["slipway.project"], name.as_str());
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

    // The summary names the builder.
    let summary = support::json_result(stdout.as_bytes());
    assert!(
        summary["images"]
            .as_array()
            .is_some_and(|a| a.len() == 3 && a.iter().all(|i| i["builder"] == builder)),
        "{stdout}"
    );

    // No change: nothing is rebuilt.
    let out = support::slipway()
        .project(p.path())
        .args(["--json", "build", "--buildkit", buildkit])
        .assert()
        .success();
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
    let out = support::slipway()
        .project(p.path())
        .args(["--json", "build", "--buildkit", buildkit])
        .assert()
        .success();
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
    assert_eq!(docker_run(&img("dep"), &["cat", "/tool.txt"]), "tool v2");
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
    for (buildkit, exit_message) in [
        ("off", "returned a non-zero code: 3"),
        ("on", "exit code: 3"),
    ] {
        let out = support::slipway()
            .project(d.path())
            .args(["build", "--buildkit", buildkit])
            .assert()
            .code(1);
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(
            err.contains("image broken: Dockerfile:3: RUN echo 'about to fail' && exit 3"),
            "{err}"
        );
        assert!(err.contains(exit_message), "{err}");
        assert!(err.contains("last log lines:\n"), "{err}");
        assert!(err.contains("about to fail"), "{err}");
    }
    // The error a build of `dockerfile` with `buildkit` fails with.
    let fails = |dockerfile: String, buildkit: &str| -> String {
        std::fs::write(d.path().join("Dockerfile"), dockerfile).expect("write");
        let out = support::slipway()
            .project(d.path())
            .args(["build", "--buildkit", buildkit])
            .assert()
            .code(1);
        String::from_utf8_lossy(&out.get_output().stderr).to_string()
    };
    // A failing step in a later stage built FROM an earlier one (BuildKit numbers steps per
    // stage and skips ARG/ENV): located on its own line.
    let err = fails(
        format!(
            "FROM {base} AS a\nRUN echo a\n\nFROM a AS b\nARG X=1\nENV Y=2\nRUN echo b\nRUN exit 4\n"
        ),
        "on",
    );
    assert!(
        err.contains("image broken: Dockerfile:8: RUN exit 4"),
        "{err}"
    );
    // A FROM image that cannot be resolved (a loopback port nobody listens on): located.
    let err = fails(
        format!("FROM {base} AS a\nRUN true\nFROM 127.0.0.1:1/nothing/here:1\n"),
        "on",
    );
    assert!(
        err.contains("image broken: Dockerfile:3: load metadata for 127.0.0.1:1/nothing/here:1"),
        "{err}"
    );
    // `RUN --mount` with the classic builder: located, with what to do.
    let err = fails(
        format!("FROM {base}\nRUN --mount=type=cache,target=/c true\n"),
        "off",
    );
    assert!(err.contains("Dockerfile:2: "), "{err}");
    assert!(err.contains("hint: `RUN --mount` needs BuildKit"), "{err}");
    // `COPY --link` is Dockerfile syntax 1.4: a daemon whose built-in frontend is older
    // (Debian's Docker 20.10 here) fails at the line, saying what to do.
    std::fs::write(
        d.path().join("Dockerfile"),
        format!("FROM {base}\nCOPY --link werf.yaml /w\n"),
    )
    .expect("write");
    let out = support::slipway()
        .project(d.path())
        .args(["build", "--buildkit", "on"])
        .assert();
    if !out.get_output().status.success() {
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(err.contains("image broken: Dockerfile:2: "), "{err}");
        assert!(err.contains("hint: `COPY --link` and heredocs"), "{err}");
    }
    // A misspelt instruction is located, without a word about syntax 1.4.
    std::fs::write(
        d.path().join("Dockerfile"),
        format!("FROM {base}\nRUUN true\n"),
    )
    .expect("write");
    let out = support::slipway()
        .project(d.path())
        .args(["build", "--buildkit", "on"])
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("image broken: Dockerfile:2: "), "{err}");
    assert!(!err.contains("syntax 1.4"), "{err}");

    // A cycle is rejected before anything is built.
    std::fs::write(
        d.path().join("werf.yaml"),
        "project: bt-fail\nconfigVersion: 1\n---\nimage: a\ndependencies: [{image: b}]\n---\nimage: b\ndependencies: [{image: a}]\n",
    )
    .expect("write");
    let out = support::slipway()
        .project(d.path())
        .args(["build"])
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
    let out = support::slipway()
        .project(d.path())
        .args(["build"])
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("cannot reach the Docker daemon at unix:///nonexistent.sock"),
        "{err}"
    );

    // Unknown image name on the command line.
    let out = support::slipway()
        .project(d.path())
        .args(["build", "nope"])
        .assert()
        .code(1);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("unknown image \"nope\""));
}

/// Unique per call: keeps BuildKit's cache and earlier runs' images out of a test.
fn nonce() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_nanos()
    )
}

/// Everything a run printed, stdout then stderr.
fn printed(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// The image as `docker save` writes it: every layer's bytes.
fn saved_image(image: &str) -> Vec<u8> {
    let out = Command::new("docker")
        .args(["save", image])
        .output()
        .expect("docker save");
    assert!(out.status.success());
    out.stdout
}

#[test]
fn buildkit_secrets_and_cache_mounts() {
    let base = support::base_image();
    let d = tempfile::tempdir().expect("tmp");
    let nonce = nonce();
    let token = format!("tok-{nonce}-env");
    let file_secret = format!("file-{nonce}-secret");
    let plain = format!("val-{nonce}-plain");
    let werf = format!(
        "project: bt-secrets\nconfigVersion: 1\n---\nimage: app\ncontext: app\nsecrets:\n  - env: BT_TOKEN\n  - id: npmrc\n    src: private/npmrc\n  - id: plain\n    value: {plain}\n"
    );
    // The checksums, not the values, go into the image, so a value found in the saved image
    // can only have leaked.
    let dockerfile = format!(
        "FROM {base}\nCOPY stamp /stamp\nRUN --mount=type=secret,id=BT_TOKEN --mount=type=secret,id=npmrc --mount=type=secret,id=plain \\\n  sha256sum /run/secrets/BT_TOKEN /run/secrets/npmrc /run/secrets/plain | cut -d' ' -f1 > /sums\nRUN --mount=type=cache,id=bt-{nonce},target=/cache sh -c 'echo run >> /cache/runs; wc -l < /cache/runs | tr -d \" \" > /runs'\n"
    );
    support::write_tree(
        d.path(),
        &[
            ("werf.yaml", &werf),
            ("app/Dockerfile", &dockerfile),
            ("app/stamp", &nonce),
            // Outside the context: only the session carries it.
            ("private/npmrc", &file_secret),
        ],
    );

    // A missing variable fails before anything is built.
    let out = support::slipway()
        .project(d.path())
        .args(["--json", "build", "--buildkit", "on"])
        .env_remove("BT_TOKEN")
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    // With --json the error is the stream's final object.
    let last: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("final object");
    assert_eq!(last["ok"], false, "{stdout}");
    let err = last["error"]["message"].as_str().unwrap_or("").to_string();
    assert!(
        err.contains("image app: secret \"BT_TOKEN\": environment variable BT_TOKEN is not set"),
        "{err}"
    );
    assert!(!stdout.contains("\"event\":\"start\""), "{stdout}");
    // The classic builder cannot take secrets: said before building.
    let out = support::slipway()
        .project(d.path())
        .args(["build", "--buildkit", "off"])
        .env("BT_TOKEN", &token)
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("image app has `secrets:`, which only BuildKit can pass"),
        "{err}"
    );

    let out = support::slipway()
        .project(d.path())
        .args([
            "--json",
            "--log-level",
            "trace",
            "build",
            "--force",
            "--buildkit",
            "on",
        ])
        .env("BT_TOKEN", &token)
        .assert()
        .success();
    let printed = printed(out.get_output());
    let sums = docker_run("bt-secrets/app:latest", &["cat", "/sums"]);
    assert_eq!(
        sums.lines().collect::<Vec<_>>(),
        vec![
            sha256_hex(token.as_bytes()),
            sha256_hex(file_secret.as_bytes()),
            sha256_hex(plain.as_bytes())
        ],
        "{printed}"
    );
    // No value anywhere: not in the image's layers or config, not in any output.
    let saved = saved_image("bt-secrets/app:latest");
    for v in [&token, &file_secret, &plain] {
        assert!(
            !saved.windows(v.len()).any(|w| w == v.as_bytes()),
            "{v} is in the image"
        );
        assert!(!printed.contains(v.as_str()), "{v} was printed: {printed}");
    }
    assert_eq!(
        docker_run("bt-secrets/app:latest", &["ls", "-A", "/run/secrets"]),
        ""
    );
    assert_eq!(docker_run("bt-secrets/app:latest", &["cat", "/runs"]), "1");

    // The cache mount outlives the build: after an edit, the step runs again and sees the
    // first run's file.
    std::fs::write(d.path().join("app/stamp"), format!("{nonce}-2")).expect("edit");
    support::slipway()
        .project(d.path())
        .args(["build", "--buildkit", "on"])
        .env("BT_TOKEN", &token)
        .assert()
        .success();
    assert_eq!(docker_run("bt-secrets/app:latest", &["cat", "/runs"]), "2");
}

/// BuildKit asks the session for registry credentials when it pulls a base image: Slipway
/// answers from docker's config.json, so a base image behind htpasswd builds. (The daemon's
/// BuildKit pulls from loopback over HTTP, hence the plain registry.)
#[test]
fn buildkit_pulls_base_images_with_slipway_credentials() {
    pulls_base_images_with_slipway_credentials("on");
}

#[test]
fn classic_builder_pulls_base_images_with_slipway_credentials() {
    // X-Registry-Config from the same keychain (the registry is new for each test, so the
    // daemon cannot have the base image already).
    pulls_base_images_with_slipway_credentials("off");
}

fn pulls_base_images_with_slipway_credentials(buildkit: &str) {
    let base = support::base_image();
    let reg = support::registry::Registry::plain_auth();
    let d = tempfile::tempdir().expect("tmp");
    let saved = d.path().join("base.tar");
    let out = Command::new("docker")
        .args(["save", "-o"])
        .arg(&saved)
        .arg(base)
        .output()
        .expect("docker save");
    assert!(out.status.success());
    let cfg = reg.docker_config_dir();
    support::slipway()
        .env("DOCKER_CONFIG", cfg.path())
        .env("XDG_CACHE_HOME", d.path())
        .args(["--insecure-registry", &reg.host, "push-archive"])
        .arg(&saved)
        .arg(format!("{}/private/base:1", reg.host))
        .assert()
        .success();
    let project = d.path().join("p");
    support::write_tree(
        &project,
        &[
            (
                "werf.yaml",
                &format!("project: bt-pull-{buildkit}\nconfigVersion: 1\n---\nimage: app\n"),
            ),
            (
                "Dockerfile",
                // The nonce: a registry port used by an earlier run on this daemon would
                // otherwise give the same content signature, and the image would be skipped.
                &format!(
                    "FROM {}/private/base:1\nRUN echo pulled > /pulled\nLABEL test.run={}\n",
                    reg.host,
                    nonce()
                ),
            ),
        ],
    );
    // No credentials: the registry refuses the daemon.
    let empty = tempfile::tempdir().expect("tmp");
    let out = support::slipway()
        .project(&project)
        .args(["build", "--buildkit", buildkit])
        .env("DOCKER_CONFIG", empty.path())
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_lowercase();
    assert!(
        err.contains("401")
            || err.contains("unauthorized")
            || err.contains("authoriz")
            || err.contains("no basic auth credentials"),
        "{err}"
    );
    // With them (BuildKit: served through the session; classic: X-Registry-Config): the
    // build pulls and runs.
    let out = support::slipway()
        .project(&project)
        .args(["build", "--buildkit", buildkit, "--log-mode", "plain"])
        .env("DOCKER_CONFIG", cfg.path())
        .assert()
        .success();
    let printed = printed(out.get_output());
    assert!(!printed.contains(support::registry::PASSWORD), "{printed}");
    assert_eq!(
        docker_run(
            &format!("bt-pull-{buildkit}/app:latest"),
            &["cat", "/pulled"]
        ),
        "pulled"
    );
    assert!(reg.count_requests("GET", "/v2/private/base/manifests/") > 0);
}

/// A static `nc -U` for the busybox base image (its nc has no unix sockets): writes stdin to
/// the socket, prints one ssh-agent reply (4-byte length, then the body).
pub const UNIXCAT_C: &str = r#"
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un a;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); return 1; }
  char buf[4096];
  ssize_t n;
  while ((n = read(0, buf, sizeof buf)) > 0)
    if (write(fd, buf, n) != n) return 1;
  unsigned char len[4];
  size_t got = 0;
  while (got < 4 && (n = read(fd, len + got, 4 - got)) > 0) got += n;
  if (got < 4) return 1;
  size_t left = ((size_t)len[0] << 24) | (len[1] << 16) | (len[2] << 8) | len[3];
  fwrite(len, 1, 4, stdout);
  while (left > 0 && (n = read(fd, buf, left < sizeof buf ? left : sizeof buf)) > 0) {
    fwrite(buf, 1, n, stdout);
    left -= n;
  }
  return left == 0 ? 0 : 1;
}
"#;

/// `ssh: default` forwards the agent at SSH_AUTH_SOCK: a `RUN --mount=type=ssh` step asks a
/// real ssh-agent for its keys and gets this test's key back.
#[test]
fn buildkit_forwards_the_ssh_agent() {
    let base = support::base_image();
    let d = tempfile::tempdir().expect("tmp");
    let nonce = format!("bt-ssh-{}", nonce());
    let ctx = d.path().join("p");
    support::write_tree(
        &ctx,
        &[
            (
                "werf.yaml",
                "project: bt-ssh\nconfigVersion: 1\n---\nimage: app\nssh: default\n",
            ),
            (
                "Dockerfile",
                &format!(
                    // The nonce in the command keeps BuildKit's cache from answering for
                    // the agent (mounts are not part of a step's cache key).
                    "FROM {base}\nRUN --mount=type=ssh --mount=type=bind,source=unixcat,target=/unixcat \\\n  echo {nonce} >/dev/null && printf '\\0\\0\\0\\1\\13' | /unixcat \"$SSH_AUTH_SOCK\" > /agent-answer\n"
                ),
            ),
            ("unixcat.c", UNIXCAT_C),
        ],
    );
    let ok = |c: &mut Command| {
        let out = c.output().expect("run");
        assert!(
            out.status.success(),
            "{c:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ok(Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(ctx.join("unixcat"))
        .arg(ctx.join("unixcat.c")));
    ok(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", &nonce, "-f"])
        .arg(d.path().join("key")));
    let sock = d.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ssh-agent (openssh-client)");
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    ok(Command::new("ssh-add")
        .env("SSH_AUTH_SOCK", &sock)
        .arg(d.path().join("key")));

    // No agent: said before anything is built.
    let out = support::slipway()
        .project(&ctx)
        .args(["--json", "build", "--buildkit", "on"])
        .env_remove("SSH_AUTH_SOCK")
        .assert()
        .code(1);
    let last: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&out.get_output().stdout)
            .lines()
            .last()
            .unwrap_or(""),
    )
    .expect("final object");
    let err = last["error"]["message"].as_str().unwrap_or("").to_string();
    assert!(
        err.contains("image app: ssh \"default\": no socket given and SSH_AUTH_SOCK is not set"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.get_output().stdout).contains("\"event\":\"start\""));

    let result = support::slipway()
        .project(&ctx)
        .args(["build", "--buildkit", "on", "--force"])
        .env("SSH_AUTH_SOCK", &sock)
        .ok();
    let _ = agent.kill();
    let _ = agent.wait();
    let out = result.expect("build with the agent");
    assert!(out.status.success());
    let answer = Command::new("docker")
        .args(["run", "--rm", "bt-ssh/app:latest", "cat", "/agent-answer"])
        .output()
        .expect("docker run");
    let answer = String::from_utf8_lossy(&answer.stdout);
    // SSH2_AGENT_IDENTITIES_ANSWER (12) carrying the key whose comment is the nonce.
    assert!(answer.as_bytes().get(4) == Some(&12), "{answer:?}");
    assert!(answer.contains(&nonce), "{answer:?}");
}

/// The daemon behind TLS with client certificates, as GitLab's `docker:dind` serves it
/// (`DOCKER_HOST=tcp://…:2376`, `DOCKER_TLS_VERIFY=1`, `DOCKER_CERT_PATH`): a rustls server
/// that requires a client certificate from the CA and forwards each connection to the real
/// socket. (socat's OpenSSL front refuses TLS session resumption with client verification.)
struct TlsDaemon {
    host: String,
    /// Docker's client files: ca.pem, cert.pem, key.pem.
    certs: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl TlsDaemon {
    fn start() -> Self {
        use tokio_rustls::rustls;
        let dir = tempfile::tempdir().expect("tmp");
        let (ca, server_cert, server_key) =
            support::registry::make_certs(dir.path()).expect("certs");
        let certs = tempfile::tempdir().expect("tmp");
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("openssl");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let key = certs.path().join("key.pem");
        let k = key.to_string_lossy().to_string();
        run(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &k,
        ]);
        run(&[
            "req",
            "-new",
            "-key",
            &k,
            "-subj",
            "/CN=slipway-client",
            "-out",
            "client.csr",
        ]);
        std::fs::write(
            dir.path().join("client.ext"),
            "extendedKeyUsage=clientAuth\n",
        )
        .expect("ext");
        let cert = certs.path().join("cert.pem").to_string_lossy().to_string();
        run(&[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-sha256",
            "-extfile",
            "client.ext",
            "-out",
            &cert,
        ]);
        std::fs::copy(&ca, certs.path().join("ca.pem")).expect("ca");

        let pem = |p: &Path| std::fs::read(p).expect("pem");
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut pem(&ca).as_slice()) {
            roots.add(c.expect("ca")).expect("ca");
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            provider.clone(),
        )
        .build()
        .expect("verifier");
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                rustls_pemfile::certs(&mut pem(&server_cert).as_slice())
                    .collect::<Result<Vec<_>, _>>()
                    .expect("cert"),
                rustls_pemfile::private_key(&mut pem(&server_key).as_slice())
                    .expect("key")
                    .expect("key"),
            )
            .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let host = listener.local_addr().expect("addr").to_string();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    let (tcp, _) = tokio::select! {
                        _ = &mut stopped => return,
                        a = listener.accept() => match a { Ok(a) => a, Err(_) => return },
                    };
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        // A client without a certificate from the CA fails here.
                        let Ok(mut tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let Ok(mut sock) =
                            tokio::net::UnixStream::connect("/var/run/docker.sock").await
                        else {
                            return;
                        };
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut sock).await;
                    });
                }
            });
        });
        TlsDaemon {
            host,
            certs,
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// The variables that make a slipway command reach the daemon only through this TLS
    /// front.
    fn env(&self) -> [(&'static str, std::ffi::OsString); 3] {
        [
            ("DOCKER_HOST", format!("tcp://{}", self.host).into()),
            ("DOCKER_TLS_VERIFY", "1".into()),
            ("DOCKER_CERT_PATH", self.certs.path().into()),
        ]
    }
}

impl Drop for TlsDaemon {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// GitLab CI's docker:dind with TLS: both builders reach the daemon over TLS with client
/// certificates, BuildKit's session included (its secrets arrive in the build).
#[test]
fn builds_through_a_tls_daemon_like_gitlab_dind() {
    let base = support::base_image();
    let daemon = TlsDaemon::start();
    let d = tempfile::tempdir().expect("tmp");
    let nonce = nonce();
    support::write_tree(
        d.path(),
        &[
            (
                "werf.yaml",
                "project: bt-tls\nconfigVersion: 1\n---\nimage: app\nsecrets:\n  - id: s\n    value: tls-secret-value\n",
            ),
            (
                "Dockerfile",
                &format!(
                    "FROM {base}\nRUN echo {nonce} > /nonce\nRUN --mount=type=secret,id=s sha256sum /run/secrets/s | cut -d' ' -f1 > /sum\n"
                ),
            ),
        ],
    );
    let out = support::slipway()
        .project(d.path())
        .envs(daemon.env())
        .args(["--json", "build", "--buildkit", "on"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("\"builder\":\"buildkit\""), "{stdout}");
    assert_eq!(
        docker_run("bt-tls/app:latest", &["cat", "/sum"]),
        sha256_hex(b"tls-secret-value")
    );

    // The classic builder over the same TLS connection (bollard's own client).
    std::fs::write(
        d.path().join("werf.yaml"),
        "project: bt-tls\nconfigVersion: 1\n---\nimage: classic\n",
    )
    .expect("write");
    std::fs::write(
        d.path().join("Dockerfile"),
        format!("FROM {base}\nRUN echo {nonce}-classic > /nonce\n"),
    )
    .expect("write");
    let out = support::slipway()
        .project(d.path())
        .envs(daemon.env())
        .args(["--json", "build", "--buildkit", "off"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("\"builder\":\"classic\""), "{stdout}");
    assert_eq!(
        docker_run("bt-tls/classic:latest", &["cat", "/nonce"]),
        format!("{nonce}-classic")
    );

    // Plain HTTP to the TLS port: one clear error.
    let out = support::slipway()
        .project(d.path())
        .args(["build"])
        .env("DOCKER_HOST", format!("tcp://{}", daemon.host))
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains(&format!(
            "cannot reach the Docker daemon at tcp://{}",
            daemon.host
        )),
        "{err}"
    );
}

/// A daemon that speaks Docker's API without BuildKit sessions (as Podman's compat socket
/// does): `auto` must not pick BuildKit there, `on` says why, doctor shows it.
#[test]
fn a_daemon_without_sessions_is_not_used_for_buildkit() {
    use axum::http::{StatusCode, Uri};
    use axum::response::IntoResponse;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async move {
            let app = axum::Router::new().fallback(|uri: Uri| async move {
                let path = uri.path();
                if path.ends_with("/_ping") {
                    "OK".into_response()
                } else if path.ends_with("/version") {
                    (
                        [("content-type", "application/json")],
                        r#"{"Version":"4.9.3","ApiVersion":"1.41","Os":"linux","Arch":"amd64"}"#,
                    )
                        .into_response()
                } else {
                    (StatusCode::NOT_FOUND, r#"{"message":"not found"}"#).into_response()
                }
            });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("send");
            let _ = axum::serve(listener, app).await;
        });
    });
    let addr = rx.recv().expect("address");
    let d = tempfile::tempdir().expect("tmp");
    support::write_tree(
        d.path(),
        &[
            (
                "werf.yaml",
                "project: bt-nosession\nconfigVersion: 1\n---\nimage: app\n",
            ),
            ("Dockerfile", "FROM scratch\n"),
        ],
    );
    let out = support::slipway()
        .project(d.path())
        .args(["build", "--buildkit", "on"])
        .env("DOCKER_HOST", format!("tcp://{addr}"))
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("--buildkit=on, but the daemon cannot run BuildKit builds: the daemon does not take a BuildKit session: daemon answered /session with HTTP 404: not found"),
        "{err}"
    );
    let out = support::slipway()
        .env("DOCKER_HOST", format!("tcp://{addr}"))
        .arg("doctor")
        .assert();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains(
            "buildkit             classic builder only: the daemon does not take a BuildKit session"
        ),
        "{text}"
    );
}

/// Forget what BuildKit cached for steps whose description contains `needle` (their build
/// cache records), as a fresh CI runner would not have them.
fn forget_build_cache(needle: &str) {
    let daemon = |args: &[&str]| -> String {
        let out = Command::new("curl")
            .args(["-fsS", "--unix-socket", "/var/run/docker.sock"])
            .args(args)
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let df: serde_json::Value =
        serde_json::from_str(&daemon(&["http://docker/system/df"])).expect("df json");
    let ids: Vec<String> = df["BuildCache"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| {
            c["Description"]
                .as_str()
                .is_some_and(|d| d.contains(needle))
        })
        .filter_map(|c| c["ID"].as_str().map(str::to_string))
        .collect();
    assert!(!ids.is_empty(), "no build cache record mentions {needle}");
    let filters = serde_json::json!({ "id": ids }).to_string();
    let pruned = daemon(&[
        "-X",
        "POST",
        "-G",
        "--data-urlencode",
        "all=1",
        "--data-urlencode",
        &format!("filters={filters}"),
        "http://docker/build/prune",
    ]);
    assert!(pruned.contains(&ids[0]), "{pruned}");
}

/// `--cache-from TAG`: a runner with no local cache reuses the layers that were published
/// under TAG (BuildKit's inline cache, which every BuildKit build writes), instead of
/// running the steps again.
#[test]
fn cache_from_reuses_published_layers() {
    let base = support::base_image();
    let reg = support::registry::Registry::plain();
    let d = tempfile::tempdir().expect("tmp");
    let nonce = format!("bt-cache-{}", nonce());
    support::write_tree(
        d.path(),
        &[
            (
                "werf.yaml",
                "project: bt-cache\nconfigVersion: 1\n---\nimage: app\n",
            ),
            (
                "Dockerfile",
                // A different /id each time the step really runs.
                &format!(
                    "FROM {base}\nRUN echo {nonce} > /n && cat /proc/sys/kernel/random/uuid > /id\n"
                ),
            ),
        ],
    );
    let repo = format!("{}/cache", reg.host);
    let slipway = |args: &[&str]| {
        let mut c = support::slipway();
        c.project(d.path()).images_repo(&reg, "cache").args(args);
        c
    };
    // The main branch published it (with BuildKit, so with an inline cache).
    slipway(&[
        "build-and-publish",
        "--buildkit",
        "on",
        "--tag-git-branch",
        "main",
    ])
    .assert()
    .success();
    let published = docker_run("bt-cache/app:latest", &["cat", "/id"]);
    let config = support::skopeo::raw_config(&reg, "cache/app:main").expect("config");
    assert!(config.contains("moby.buildkit.cache.v0"), "{config}");

    let forget = || {
        let out = Command::new("docker")
            .args([
                "rmi",
                "-f",
                "bt-cache/app:latest",
                &format!("{repo}/app:main"),
            ])
            .output()
            .expect("docker rmi");
        assert!(out.status.success());
        forget_build_cache(&nonce);
    };
    // Without --cache-from, a runner with nothing cached runs the step again…
    forget();
    slipway(&["build", "--buildkit", "on"]).assert().success();
    assert_ne!(
        docker_run("bt-cache/app:latest", &["cat", "/id"]),
        published
    );
    // …with it (a branch name, slugged like --tag-git-branch), the published layer is reused.
    forget();
    let out = slipway(&[
        "build",
        "--buildkit",
        "on",
        "--cache-from",
        "main",
        "--log-mode",
        "plain",
    ])
    .assert()
    .success();
    let log = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        log.contains(&format!("importing cache manifest from {repo}/app:main")),
        "{log}"
    );
    assert_eq!(
        docker_run("bt-cache/app:latest", &["cat", "/id"]),
        published,
        "{log}"
    );
    // A tag never published is one quiet note in the log, not a failure nor an `ERROR`
    // line (issue 37: the first pipeline of every branch).
    let out = slipway(&[
        "build",
        "--buildkit",
        "on",
        "--force",
        "--cache-from",
        "never-pushed",
        "--log-mode",
        "plain",
    ])
    .assert()
    .success();
    let log = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("never-pushed")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains("note: no cache at") && lines[0].contains("building without it"),
        "{log}"
    );
    assert!(!log.contains("ERROR"), "{log}");
    // Without an images repo there is nothing to name.
    let out = support::slipway()
        .project(d.path())
        .args(["build", "--cache-from", "main"])
        .assert()
        .code(1);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("give --images-repo too"));
}

/// `build-and-publish --cache-from TAG` in monorepo mode names the cache source as the
/// repository names the image's tags (`REPO:IMAGE-TAG`), as `build --cache-from` does.
#[test]
fn publish_cache_from_in_monorepo_mode() {
    let base = support::base_image();
    let reg = support::registry::Registry::plain();
    let d = tempfile::tempdir().expect("tmp");
    let nonce = format!("bt-mcache-{}", nonce());
    support::write_tree(
        d.path(),
        &[
            (
                "werf.yaml",
                "project: bt-mcache\nconfigVersion: 1\n---\nimage: app\n",
            ),
            (
                "Dockerfile",
                &format!(
                    "FROM {base}\nRUN echo {nonce} > /n && cat /proc/sys/kernel/random/uuid > /id\n"
                ),
            ),
        ],
    );
    let repo = format!("{}/mono", reg.host);
    let slipway = |args: &[&str]| {
        let mut c = support::slipway();
        c.project(d.path())
            .images_repo(&reg, "mono")
            .args(["--images-repo-mode", "monorepo"])
            .args(args);
        c
    };
    slipway(&[
        "build-and-publish",
        "--buildkit",
        "on",
        "--tag-git-branch",
        "main",
    ])
    .assert()
    .success();
    let published = docker_run("bt-mcache/app:latest", &["cat", "/id"]);
    let out = Command::new("docker")
        .args([
            "rmi",
            "-f",
            "bt-mcache/app:latest",
            &format!("{repo}:app-main"),
        ])
        .output()
        .expect("docker rmi");
    assert!(out.status.success());
    forget_build_cache(&nonce);
    let out = slipway(&[
        "build-and-publish",
        "--buildkit",
        "on",
        "--force",
        "--tag-custom",
        "next",
        "--cache-from",
        "main",
        "--log-mode",
        "plain",
    ])
    .assert()
    .success();
    let log = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        log.contains(&format!("importing cache manifest from {repo}:app-main")),
        "{log}"
    );
    assert_eq!(
        docker_run("bt-mcache/app:latest", &["cat", "/id"]),
        published,
        "{log}"
    );
}

/// A built image is found by its signature whatever its local tag holds now: the tag is
/// checked first (one inspect), the label listing when it holds another image; the tag is
/// put back on the built image and nothing is rebuilt.
#[test]
fn an_image_is_skipped_by_signature_when_its_local_tag_moved() {
    let name = format!("find-local-{}", nonce());
    let d = tempfile::tempdir().expect("tmp");
    support::write_tree(
        d.path(),
        &[
            (
                "werf.yaml",
                &format!("project: {name}\nconfigVersion: 1\n---\nimage: web\n"),
            ),
            (
                "Dockerfile",
                &format!("FROM {}\nCOPY nonce /nonce\n", support::base_image()),
            ),
            ("nonce", &nonce()),
        ],
    );
    let tag = format!("{name}/web:latest");
    support::slipway()
        .project(d.path())
        .args(["build"])
        .assert()
        .success();
    let built = image_id(&tag);
    assert!(built.starts_with("sha256:"), "{built:?}");

    // Unchanged and in place: the tag itself answers.
    let out = support::slipway()
        .project(d.path())
        .args(["build"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", printed(&out));
    assert!(printed(&out).contains("skipped"), "{}", printed(&out));

    // The tag now names another image: the built one is still found by its label.
    let moved = Command::new("docker")
        .args(["tag", support::base_image(), &tag])
        .status()
        .expect("docker tag");
    assert!(moved.success());
    assert_ne!(image_id(&tag), built);
    let out = support::slipway()
        .project(d.path())
        .args(["build"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", printed(&out));
    assert!(printed(&out).contains("skipped"), "{}", printed(&out));
    assert_eq!(image_id(&tag), built, "the tag is back on the built image");
}

/// Finding 38.8: a `.dockerignore` that excludes the Dockerfile and itself (the `*` then
/// `!src` allow-list form) builds as docker builds it: the builder reads the Dockerfile,
/// and with the classic builder `COPY . /app` carries neither file, as docker's daemon
/// removes both from the context after reading the Dockerfile.
fn allow_list_dockerignore(buildkit: &str, copy: &str) -> (String, String, String) {
    let base = support::base_image();
    let name = format!("bt-allow-{buildkit}");
    let d = tempfile::tempdir().expect("tmp");
    support::write_tree(
        d.path(),
        &[
            (
                "werf.yaml",
                &format!("project: {name}\nconfigVersion: 1\n---\nimage: app\n"),
            ),
            ("Dockerfile", &format!("FROM {base}\n{copy}\n")),
            (".dockerignore", "*\n!src\n"),
            ("src/main.txt", &nonce()),
            ("notes.txt", "not for the image\n"),
        ],
    );
    let out = support::slipway()
        .project(d.path())
        .args(["build", "--buildkit", buildkit, "--force"])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let image = format!("{name}/app:latest");
    let files = docker_run(&image, &["find", "/app"]);
    (image, files, stderr)
}

#[test]
fn dockerignore_excluding_the_dockerfile_builds_classic() {
    let (_, files, _) = allow_list_dockerignore("off", "COPY . /app");
    let mut files: Vec<&str> = files.lines().collect();
    files.sort();
    assert_eq!(files, vec!["/app", "/app/src", "/app/src/main.txt"]);
}

#[test]
fn dockerignore_excluding_the_dockerfile_builds_buildkit() {
    // `COPY . /all` reaches the excluded Dockerfile: BuildKit then gets the context and the
    // Dockerfile over the session, as docker's CLI hands them, and copies neither.
    let (image, files, _) = allow_list_dockerignore("on", "COPY src /app/src\nCOPY . /all");
    let mut app: Vec<&str> = files.lines().collect();
    app.sort();
    assert_eq!(app, vec!["/app", "/app/src", "/app/src/main.txt"]);
    let all = docker_run(&image, &["find", "/all"]);
    let mut all: Vec<&str> = all.lines().collect();
    all.sort();
    assert_eq!(all, vec!["/all", "/all/src", "/all/src/main.txt"]);
    // No COPY reaches it: the context tar, with the Dockerfile in it for BuildKit to read.
    let (_, files, _) = allow_list_dockerignore("on", "COPY src /app/src");
    let mut app: Vec<&str> = files.lines().collect();
    app.sort();
    assert_eq!(app, vec!["/app", "/app/src", "/app/src/main.txt"]);
}

/// The context BuildKit gets over the session (an excluded Dockerfile that `COPY .`
/// reaches) gives the files the classic builder's context tar gives: names, modes, types,
/// sizes and bytes, through nested folders, a symlink, an executable and a file of several
/// 32 KiB chunks.
#[test]
fn the_session_context_matches_the_context_tar() {
    let base = support::base_image();
    let d = tempfile::tempdir().expect("tmp");
    let big: String = (0..200_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    support::write_tree(
        d.path(),
        &[
            (
                "werf.yaml",
                "project: bt-session\nconfigVersion: 1\n---\nimage: app\n",
            ),
            ("Dockerfile", &format!("FROM {base}\nCOPY . /all\n")),
            (".dockerignore", "\u{FEFF}*\n!src\nsrc/skip.txt\n"),
            ("src/main.txt", &nonce()),
            ("src/big.txt", &big),
            ("src/skip.txt", "excluded\n"),
            ("src/deep/a/b/c.txt", "deep\n"),
            ("src/bin/run.sh", "#!/bin/sh\necho run\n"),
            ("notes.txt", "not for the image\n"),
        ],
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            d.path().join("src/bin/run.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
        std::os::unix::fs::symlink("main.txt", d.path().join("src/link")).expect("symlink");
    }
    let listing = "cd /all && find . | sort | while read f; do stat -c '%n %a %F %s %u' \"$f\"; done && find . -type f | sort | xargs md5sum";
    let mut got = Vec::new();
    for buildkit in ["on", "off"] {
        support::slipway()
            .project(d.path())
            .args(["build", "--buildkit", buildkit, "--force"])
            .assert()
            .success();
        got.push(docker_run("bt-session/app:latest", &["sh", "-c", listing]));
    }
    assert_eq!(got[0], got[1]);
    let files: Vec<&str> = got[0].lines().filter(|l| l.starts_with("./")).collect();
    assert!(
        files.contains(&"./src/bin/run.sh 755 regular file 19 0"),
        "{}",
        got[0]
    );
    assert!(
        files.contains(&"./src/link 777 symbolic link 8 0"),
        "{}",
        got[0]
    );
    assert!(
        files.contains(&"./src/big.txt 644 regular file 200000 0"),
        "{}",
        got[0]
    );
    assert!(!got[0].contains("Dockerfile"), "{}", got[0]);
    assert!(!got[0].contains("dockerignore"), "{}", got[0]);
    assert!(!got[0].contains("skip.txt"), "{}", got[0]);
}
