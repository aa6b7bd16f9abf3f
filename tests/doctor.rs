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
