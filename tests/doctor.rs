//! `slipway doctor` against the real TLS + htpasswd registry.

use crate::support;

use support::Registry;

#[test]
fn doctor_reports_each_check_and_the_fix() {
    let reg = Registry::tls_auth();
    let cfg = reg.docker_config_dir();
    let out = support::slipway()
        .env("DOCKER_CONFIG", cfg.path())
        .args(["--images-repo", &format!("{}/shop", reg.host), "doctor"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    for line in [
        // Debian's Docker 20.10 on the test machines has BuildKit.
        "ok   buildkit",
        "takes Slipway's sessions",
        // Docker 20.10's BuildKit crashes on concurrent cache exports: builds are queued.
        "builds run one at a time on it",
        // The tests run as root beside the daemon.
        "ok   layer store",
        "reads layers in place from the daemon's store at /var/lib/docker",
        "ok   registry reachable",
        "ok   TLS trusted",
        "/etc/docker/certs.d/",
        "ok   credentials",
        "config.json",
        "ok   push",
        "ok   pull",
        "ok   delete",
        "cross-repo mounts",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    // Issue 34: the daemon's own platform and the ones qemu emulates (scripts/setup
    // registers qemu-aarch64 in binfmt_misc; tests/platform.rs builds arm64 through it).
    let platforms = text
        .lines()
        .find(|l| l.starts_with("ok   platforms"))
        .unwrap_or_else(|| panic!("no platforms line: {text}"));
    assert!(
        platforms.contains(&format!("{} (native)", slipway::platform::host())),
        "{platforms}"
    );
    assert!(
        platforms.contains("linux/arm64 (emulated by qemu-aarch64)"),
        "{platforms}"
    );
    // Nothing was created.
    assert_eq!(reg.count_requests("PUT", ""), 0);

    // Wrong password: a failing check with a fix, the secret nowhere.
    let bad = tempfile::tempdir().expect("tmp");
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode("slipway:Wr0ng-doctor-pass");
    std::fs::write(
        bad.path().join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, reg.host),
    )
    .expect("write");
    let out = support::slipway()
        .env("DOCKER_CONFIG", bad.path())
        .args(["--images-repo", &format!("{}/shop", reg.host), "doctor"])
        .assert()
        .code(1);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.get_output().stdout),
        String::from_utf8_lossy(&out.get_output().stderr)
    );
    assert!(all.contains("FAIL") && all.contains("fix:"), "{all}");
    assert!(
        !all.contains("Wr0ng-doctor-pass") && !all.contains(&auth),
        "{all}"
    );
}

/// No credentials anywhere and a registry that wants them: the fix is to log in.
#[test]
fn doctor_without_credentials_says_log_in() {
    let reg = Registry::tls_auth();
    let out = support::slipway()
        .args(["--images-repo", &format!("{}/shop", reg.host), "doctor"])
        .assert()
        .code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("none (anonymous)"), "{text}");
    assert!(text.contains("FAIL pull"), "{text}");
    assert!(
        text.contains(&format!(
            "fix: log in (docker login {}, or SLIPWAY_REGISTRY_USERNAME/PASSWORD)",
            reg.host
        )),
        "{text}"
    );
    assert!(!text.contains("grant pull"), "{text}");
}

/// Without a daemon, doctor says what still works (issue 37: it used to say publish works
/// without one), and each claim holds: a publish with nothing to push (up to date or a new
/// tag on a pushed manifest) and promote run daemon-less; a publish with an image to push
/// fails naming the daemon.
#[test]
fn doctor_without_a_daemon_says_what_still_works_and_it_does() {
    let _ = support::base_image();
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    support::write_tree(
        dir.path(),
        &[
            (
                "werf.yaml",
                "project: nodaemon\nconfigVersion: 1\n---\nimage: app\nargs:\n  BASE: {{ env \"BASE_IMAGE\" }}\n",
            ),
            ("Dockerfile", "ARG BASE\nFROM ${BASE}\nCOPY a.txt /a.txt\n"),
            ("a.txt", "one\n"),
        ],
    );
    let run = |no_daemon: bool, args: &[&str]| {
        let mut c = support::slipway();
        c.base_image()
            .project(dir.path())
            .images_repo(&reg, "nodaemon");
        if no_daemon {
            c.env(
                "DOCKER_HOST",
                "unix:///nonexistent/slipway-test/docker.sock",
            );
        }
        c.args(args);
        c
    };
    // The content tag too: a later tag is then a re-tag of what the registry holds.
    run(
        false,
        &[
            "build-and-publish",
            "--tag-custom",
            "v1",
            "--tag-by-content",
        ],
    )
    .assert()
    .success();

    let out = run(true, &["doctor"]).assert().code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string()
        + &String::from_utf8_lossy(&out.get_output().stderr);
    assert!(text.contains("FAIL daemon"), "{text}");
    assert!(
        text.contains("publish for any image not in the registry yet")
            && text.contains("a publish with nothing to push work without it"),
        "{text}"
    );

    // Nothing to push: up to date, then a new tag on the pushed manifest.
    run(true, &["publish", "--tag-custom", "v1"])
        .assert()
        .success();
    run(true, &["publish", "--tag-custom", "v2"])
        .assert()
        .success();
    assert_eq!(
        support::skopeo::digest(&reg, "nodaemon/app:v2"),
        support::skopeo::digest(&reg, "nodaemon/app:v1")
    );
    // promote copies registry to registry.
    run(
        true,
        &[
            "promote",
            &format!("{}/nodaemon/app:v1", reg.host),
            &format!("{}/prod/app:v1", reg.host),
        ],
    )
    .assert()
    .success();
    // An image to push needs the daemon, and the error says so.
    std::fs::write(dir.path().join("a.txt"), "two\n").expect("edit");
    let out = run(true, &["publish", "--tag-custom", "v3"])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("nonexistent/slipway-test/docker.sock") || err.contains("daemon"),
        "{err}"
    );
}
