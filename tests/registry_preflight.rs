//! build-and-publish checks each target registry before building (issue 36): a closed
//! port or a name that does not resolve fails before any build starts, after a stated
//! number of attempts, with a few short WARN lines and an error naming `--images-repo`.

use crate::support;

use std::path::Path;

/// A project whose only build step fails: a build that started would say so.
fn project(dir: &Path) {
    let base = support::base_image();
    support::write_tree(
        dir,
        &[
            (
                "werf.yaml",
                "project: preflight\nconfigVersion: 1\n---\nimage: app\n",
            ),
            (
                "Dockerfile",
                &format!("FROM {base}\nRUN echo the build started >&2 && exit 3\n"),
            ),
        ],
    );
}

/// `build-and-publish --images-repo REPO`: (success, stderr).
fn build_and_publish(dir: &Path, repo: &str) -> (bool, String) {
    let out = support::slipway()
        .project(dir)
        .args([
            "--images-repo",
            repo,
            "build-and-publish",
            "--tag-custom",
            "v1",
        ])
        .output()
        .expect("slipway");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn warn_lines(err: &str) -> Vec<&str> {
    err.lines().filter(|l| l.contains("WARN")).collect()
}

fn assert_no_build(err: &str) {
    assert!(!err.contains("the build started"), "{err}");
    assert!(
        !err.contains("exit code") && !err.contains("returned a non-zero"),
        "{err}"
    );
}

#[test]
fn a_closed_port_fails_before_any_build_after_two_attempts() {
    let d = tempfile::tempdir().expect("tmp");
    project(d.path());
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").to_string()
    };
    let repo = format!("{closed}/preflight");
    let (ok, err) = build_and_publish(d.path(), &repo);
    assert!(!ok, "{err}");
    assert_no_build(&err);
    assert!(
        err.contains(&format!(
            "cannot reach registry {closed}: connection refused (2 attempts) (the registry of --images-repo {repo}); checked before building: nothing was built or pushed: nothing listens on {closed}: check the port in --images-repo and that the registry runs"
        )),
        "{err}"
    );
    let warns = warn_lines(&err);
    assert_eq!(warns.len(), 1, "one retry, one line: {err}");
    for w in &warns {
        assert!(w.chars().count() < 120, "{} chars: {w}", w.chars().count());
        assert!(
            w.contains(&closed) && w.contains("connection refused"),
            "{w}"
        );
    }
}

#[test]
fn a_name_that_does_not_resolve_fails_before_any_build_after_one_attempt() {
    let d = tempfile::tempdir().expect("tmp");
    project(d.path());
    // `.invalid` never resolves (RFC 6761); the local resolver answers NXDOMAIN.
    let repo = "slipway-no-such-registry.invalid/preflight";
    let (ok, err) = build_and_publish(d.path(), repo);
    assert!(!ok, "{err}");
    assert_no_build(&err);
    assert!(
        err.contains(&format!(
            "cannot reach registry slipway-no-such-registry.invalid: no such host (DNS) (1 attempt) (the registry of --images-repo {repo}); checked before building: nothing was built or pushed: the name slipway-no-such-registry.invalid does not resolve: check it for a typo in --images-repo, or the runner's DNS"
        )),
        "{err}"
    );
    assert!(warn_lines(&err).is_empty(), "not retried: {err}");
}

#[test]
fn refused_credentials_fail_before_any_build() {
    let reg = support::Registry::tls_auth();
    let d = tempfile::tempdir().expect("tmp");
    project(d.path());
    let repo = format!("{}/preflight", reg.host);
    let out = support::slipway()
        .project(d.path())
        .args([
            "--images-repo",
            &repo,
            "build-and-publish",
            "--tag-custom",
            "v1",
        ])
        .env("SLIPWAY_REGISTRY_USERNAME", support::registry::USER)
        .env("SLIPWAY_REGISTRY_PASSWORD", "not-the-password")
        .output()
        .expect("slipway");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{err}");
    assert_no_build(&err);
    assert!(
        err.contains(&format!(
            "registry {} refused the credentials for GET /v2/",
            reg.host
        )) && err.contains("checked before building"),
        "{err}"
    );
    assert_eq!(reg.count_requests("PUT", ""), 0);
}
