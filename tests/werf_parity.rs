//! werf 1.1 drop-in: variables and their precedence, werf's booleans, warnings, the
//! `--insecure-registry` meanings and a plain-HTTP registry named in the error.

use crate::support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::{Registry, skopeo};

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    support::write_tree(
        dir.path(),
        &[
            (
                "werf.yaml",
                "project: parity\nconfigVersion: 1\n---\nimage: app\ndockerfile: Dockerfile\n",
            ),
            ("Dockerfile", "FROM scratch\nCOPY a /a\n"),
            ("a", "a\n"),
        ],
    );
    dir
}

/// `slipway images --json` in `dir` with `vars`, parsed.
fn images(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> serde_json::Value {
    let mut c = support::slipway();
    c.current_dir(dir).arg("images").args(args);
    for (k, v) in vars {
        c.env(k, v);
    }
    let out = c.arg("--json").assert().success();
    support::json_result(&out.get_output().stdout)
}

#[test]
fn flag_then_slipway_then_werf_variable() {
    let p = project();
    let repo = |v: &serde_json::Value| v["images"][0]["repository"].as_str().map(str::to_string);
    let werf = [("WERF_IMAGES_REPO", "reg.example.com/werf")];
    assert_eq!(
        repo(&images(p.path(), &werf, &[])).as_deref(),
        Some("reg.example.com/werf/app")
    );
    let both = [
        ("WERF_IMAGES_REPO", "reg.example.com/werf"),
        ("SLIPWAY_IMAGES_REPO", "reg.example.com/slipway"),
    ];
    assert_eq!(
        repo(&images(p.path(), &both, &[])).as_deref(),
        Some("reg.example.com/slipway/app")
    );
    assert_eq!(
        repo(&images(p.path(), &both, &["-i", "reg.example.com/flag"])).as_deref(),
        Some("reg.example.com/flag/app")
    );
}

#[test]
fn werf_booleans_custom_tags_and_bad_values() {
    let p = project();
    // WERF_TAG_BY_STAGES_SIGNATURE=1|yes, WERF_TAG_CUSTOM_* (every such variable), and
    // SLIPWAY_JSON=1 (the --json of `images` below is the flag; here the variable).
    for yes in ["1", "yes", "true"] {
        let v = images(
            p.path(),
            &[
                ("WERF_IMAGES_REPO", "reg.example.com/p"),
                ("WERF_TAG_BY_STAGES_SIGNATURE", yes),
                ("WERF_TAG_CUSTOM_ONE", "first"),
                ("WERF_TAG_CUSTOM_TWO", "second"),
            ],
            &[],
        );
        let sig = v["images"][0]["signature"].as_str().expect("sig");
        let refs: Vec<&str> = v["images"][0]["references"]
            .as_array()
            .expect("refs")
            .iter()
            .filter_map(|r| r.as_str())
            .collect();
        for want in [
            format!("reg.example.com/p/app:{sig}"),
            "reg.example.com/p/app:first".to_string(),
            "reg.example.com/p/app:second".to_string(),
        ] {
            assert!(refs.contains(&want.as_str()), "{yes}: {want} in {refs:?}");
        }
    }
    let out = support::slipway()
        .current_dir(p.path())
        .env("SLIPWAY_JSON", "1")
        .arg("images")
        .assert()
        .success();
    assert!(
        support::json_result(&out.get_output().stdout)["images"].is_array(),
        "SLIPWAY_JSON=1"
    );
    // A bad value names the variable, not a flag the user never typed.
    for (var, val) in [
        ("SLIPWAY_JSON", "maybe"),
        ("WERF_PARALLEL", "sometimes"),
        ("SLIPWAY_DRY_RUN", "perhaps"),
    ] {
        let out = support::slipway()
            .current_dir(p.path())
            .env(var, val)
            .args(["build-and-publish", "--images-repo", "reg.example.com/p"])
            .assert()
            .code(2);
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(err.contains(&format!("{var}=\"{val}\"")), "{err}");
    }
}

#[test]
fn unknown_variables_and_no_effect_flags_are_warned_about() {
    let p = project();
    let out = support::slipway()
        .current_dir(p.path())
        .env("SLIPWAY_IMAGES_REPOSITORY", "typo")
        .args([
            "images",
            "--virtual-merge",
            "--home-dir=/nowhere",
            "-S",
            ":local",
        ])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("SLIPWAY_IMAGES_REPOSITORY is set but no Slipway option reads it"),
        "{err}"
    );
    assert!(
        err.contains("--virtual-merge: werf option accepted"),
        "{err}"
    );
    assert!(err.contains("--home-dir: werf option accepted"), "{err}");
    // `:local` is what Slipway does anyway: no warning.
    assert!(!err.contains("--synchronization"), "{err}");
    // Hidden from help.
    let out = support::slipway()
        .args(["build-and-publish", "--help"])
        .assert()
        .success();
    let help = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(!help.contains("--virtual-merge"), "{help}");
    assert!(help.contains("--publish-report-path"), "{help}");
}

/// An address of this machine that is not loopback (so no plain-HTTP fallback applies).
fn outward_ip() -> String {
    let out = std::process::Command::new("hostname")
        .arg("-I")
        .output()
        .expect("hostname -I");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
        })
        .expect("a non-loopback IPv4 address (the Docker bridge at least)")
        .to_string()
}

/// A plain-HTTP server answering 404 to everything; counts connections.
fn plain_http_server() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (port, seen)
}

#[test]
fn plain_http_registry_fails_at_once_naming_the_flag() {
    let (port, seen) = plain_http_server();
    let host = format!("{}:{port}", outward_ip());
    let out = support::slipway()
        .args([
            "promote",
            "--dry-run",
            &format!("{host}/a:1"),
            &format!("{host}/b"),
        ])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains(&format!("add `--insecure-registry {host}`")),
        "{err}"
    );
    assert!(!err.contains("retrying"), "{err}");
    assert!(
        seen.load(Ordering::SeqCst) <= 2,
        "{} connections",
        seen.load(Ordering::SeqCst)
    );
    // With the flag (host form, and werf's boolean form) it talks HTTP: the 404 is an
    // answer, not a TLS failure.
    for args in [
        vec!["--insecure-registry".to_string(), host.clone()],
        vec!["--insecure-registry=true".to_string()],
    ] {
        let out = support::slipway()
            .args(&args)
            .args([
                "promote",
                "--dry-run",
                &format!("{host}/a:1"),
                &format!("{host}/b"),
            ])
            .assert()
            .failure();
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(!err.contains("--insecure-registry"), "{args:?}: {err}");
        assert!(!err.contains("TLS"), "{args:?}: {err}");
    }
    let out = support::slipway()
        .env("WERF_INSECURE_REGISTRY", "true")
        .args([
            "promote",
            "--dry-run",
            &format!("{host}/a:1"),
            &format!("{host}/b"),
        ])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(!err.contains("--insecure-registry"), "{err}");
}

#[test]
fn loopback_plain_http_registry_needs_no_flag() {
    let _ = support::base_image();
    let reg = Registry::plain();
    let work = tempfile::tempdir().expect("tmp");
    let tarball = support::image_tarball(work.path(), 4);
    let out = support::slipway()
        .args([
            "push-archive",
            &tarball.display().to_string(),
            &format!("{}/loop/app:v1", reg.host),
        ])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let digest = skopeo::digest(&reg, "loop/app:v1").expect("skopeo");
    assert!(stdout.contains(&digest), "{stdout}");
}

/// werf's `run`: builds, runs the local image through the docker CLI with the
/// `--docker-options` verbatim, and exits with the container's code.
#[test]
fn run_builds_then_runs_the_local_image_with_its_exit_code() {
    let base = support::base_image();
    let dir = tempfile::tempdir().expect("tmp");
    let project = format!("parity-run-{}", std::process::id());
    support::write_tree(
        dir.path(),
        &[
            (
                "werf.yaml",
                &format!(
                    "project: {project}\nconfigVersion: 1\n---\nimage: app\ndockerfile: Dockerfile\n"
                ),
            ),
            ("Dockerfile", &format!("FROM {base}\nCOPY a /a\n")),
            ("a", "from-the-image\n"),
        ],
    );
    let out = support::slipway()
        .current_dir(dir.path())
        .args([
            "run",
            "--docker-options=--rm -e GREETING='hello there'",
            "app",
            "--",
            "sh",
            "-c",
            "cat /a; echo \"$GREETING\"; exit 7",
        ])
        .assert()
        .code(7);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("from-the-image\nhello there\n"), "{stdout}");
    // `images --local` names what run used; it is in the daemon.
    let out = support::slipway()
        .current_dir(dir.path())
        .args(["images", "--local"])
        .assert()
        .success();
    let local = String::from_utf8_lossy(&out.get_output().stdout)
        .trim()
        .to_string();
    assert_eq!(local, format!("{project}/app:latest"));
    let st = std::process::Command::new("/usr/bin/docker")
        .args(["image", "inspect", "--format", "{{.Id}}", &local])
        .output()
        .expect("docker");
    assert!(st.status.success(), "{local} not in the daemon");
    let _ = std::process::Command::new("/usr/bin/docker")
        .args(["rmi", "-f", &local])
        .output();
    // No docker CLI: a clear error before anything is built.
    let out = support::slipway()
        .current_dir(dir.path())
        .env("PATH", "/nonexistent")
        .args(["run", "app"])
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("no `docker` CLI on PATH"), "{err}");
}

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
        .args(args)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `SLIPWAY_DRY_RUN=1` (and werf's `WERF_DRY_RUN=yes`) makes cleanup change nothing; the
/// same cleanup without it deletes the tag of the deleted branch.
#[test]
fn dry_run_from_the_environment_deletes_nothing() {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path();
    support::write_tree(
        p,
        &[
            (
                "werf.yaml",
                "project: parity-dry\nconfigVersion: 1\n---\nimage: app\ndockerfile: Dockerfile\n",
            ),
            ("Dockerfile", "FROM scratch\nCOPY a /a\n"),
            ("a", "a\n"),
        ],
    );
    git(p, &["init", "-q", "-b", "main"]);
    git(p, &["add", "-A"]);
    git(p, &["commit", "-qm", "1"]);
    git(p, &["checkout", "-qb", "feature"]);
    let repo = format!("{}/parity-dry", reg.host);
    support::slipway()
        .current_dir(p)
        .env("XDG_CACHE_HOME", p.join(".cache-outside"))
        .args([
            "build-and-publish",
            "-i",
            &repo,
            "--tag-git-branch",
            "feature",
        ])
        .assert()
        .success();
    assert!(skopeo::digest(&reg, "parity-dry/app:feature").is_ok());
    git(p, &["checkout", "-q", "main"]);
    git(p, &["branch", "-qD", "feature"]);
    let cleanup = |vars: &[(&str, &str)]| {
        let mut c = support::slipway();
        c.current_dir(p).args([
            "cleanup",
            "-i",
            &repo,
            "--git-history-based-cleanup=false",
            "--min-age",
            "0s",
        ]);
        for (k, v) in vars {
            c.env(k, v);
        }
        c.assert().success();
    };
    cleanup(&[("SLIPWAY_DRY_RUN", "1")]);
    cleanup(&[("WERF_DRY_RUN", "yes")]);
    assert!(
        skopeo::digest(&reg, "parity-dry/app:feature").is_ok(),
        "a dry run deleted"
    );
    cleanup(&[]);
    assert!(skopeo::digest(&reg, "parity-dry/app:feature").is_err());
}
