//! Fault injection between Slipway and the real registry: publish, push-archive and promote
//! complete through 5xx, 429, resets, expiring tokens, slow and truncated responses; a fault
//! that never clears fails clearly with nothing reported as pushed; a killed push resumes.

use crate::support;

use std::path::Path;
use std::time::Duration;

use support::fault_proxy::{Fault, FaultProxy, Rule};
use support::{Registry, skopeo};

fn push(proxy: &FaultProxy, tar: &Path, reference: &str, dir: &Path) -> support::Slipway {
    let mut c = support::slipway();
    c.env("XDG_CACHE_HOME", dir.join("cache"))
        .args(["--insecure-registry", &proxy.host, "push-archive"])
        .arg(tar)
        .arg(format!("{}/{reference}", proxy.host))
        .args(["--digest-file"])
        .arg(dir.join("build.env"));
    c
}

#[test]
fn push_archive_survives_every_fault_kind() {
    let reg = Registry::plain();
    let proxy = FaultProxy::start(&reg);
    let d = tempfile::tempdir().expect("tmp");
    let tar = support::image_tarball(d.path(), 300);
    proxy
        .add(
            Rule::new(Fault::Status {
                code: 503,
                retry_after: None,
            })
            .method("POST")
            .path("/blobs/uploads/")
            .times(2),
        )
        .add(
            Rule::new(Fault::Status {
                code: 429,
                retry_after: Some(1),
            })
            .method("HEAD")
            .path("/blobs/")
            .times(1),
        )
        .add(
            Rule::new(Fault::ResetAfterBodyBytes(50_000))
                .method("PUT")
                .path("/blobs/uploads/")
                .times(1),
        )
        .add(
            Rule::new(Fault::Delay(Duration::from_millis(700)))
                .method("PUT")
                .path("/manifests/")
                .times(1),
        )
        .add(
            Rule::new(Fault::TruncateResponse(10))
                .method("GET")
                .path("/manifests/")
                .times(1),
        )
        .add(
            Rule::new(Fault::Status {
                code: 500,
                retry_after: None,
            })
            .method("PUT")
            .path("/manifests/")
            .times(1),
        );
    proxy.require_bearer(None);
    let out = push(&proxy, &tar, "faults/app:v1", d.path())
        .assert()
        .success();
    let printed = String::from_utf8_lossy(&out.get_output().stdout)
        .trim()
        .to_string();
    let digest = skopeo::digest(&reg, "faults/app:v1").expect("pushed");
    assert!(printed.ends_with(&digest), "{printed} vs {digest}");
    assert!(proxy.tokens_issued() >= 1);

    // Tokens expire between runs: the client gets a new one and goes on.
    proxy.expire_tokens();
    let issued = proxy.tokens_issued();
    push(&proxy, &tar, "faults/app:v2", d.path())
        .assert()
        .success();
    assert!(proxy.tokens_issued() > issued);
    assert_eq!(skopeo::digest(&reg, "faults/app:v2").expect("v2"), digest);
}

#[test]
fn a_fault_that_never_clears_fails_clearly_and_reports_nothing() {
    let reg = Registry::plain();
    let proxy = FaultProxy::start(&reg);
    let d = tempfile::tempdir().expect("tmp");
    let tar = support::image_tarball(d.path(), 50);
    proxy.add(
        Rule::new(Fault::Status {
            code: 502,
            retry_after: None,
        })
        .method("PUT")
        .path("/manifests/"),
    );
    let out = push(&proxy, &tar, "faults/never:v1", d.path())
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("502") && err.contains("/manifests/v1"),
        "{err}"
    );
    assert!(
        !d.path().join("build.env").exists(),
        "a digest was reported for a failed push"
    );
    assert!(skopeo::digest(&reg, "faults/never:v1").is_err());
    // Bounded: a handful of attempts, not an endless loop.
    let attempts = proxy.count("PUT", "/manifests/");
    assert!((2..=10).contains(&attempts), "{attempts} attempts");
}

#[test]
fn publish_and_promote_complete_through_faults() {
    let _ = support::base_image();
    let reg = Registry::plain();
    let proxy = FaultProxy::start(&reg);
    let d = tempfile::tempdir().expect("tmp");
    let shop = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop");
    proxy
        .add(
            Rule::new(Fault::Status {
                code: 500,
                retry_after: None,
            })
            .method("GET")
            .path("/manifests/")
            .times(3),
        )
        .add(
            Rule::new(Fault::Status {
                code: 429,
                retry_after: Some(1),
            })
            .method("POST")
            .path("/blobs/uploads/")
            .times(2),
        )
        .add(
            Rule::new(Fault::ResetAfterBodyBytes(1000))
                .method("PUT")
                .path("/blobs/uploads/")
                .times(2),
        )
        // A layer streamed from the daemon's export cannot be sent twice: the publish
        // falls back to exporting to a file, which retries. (Small layers' PATCHes end
        // before 1000 bytes and pass; the 2 MiB base layer's is cut, whenever it comes.)
        .add(
            Rule::new(Fault::ResetAfterBodyBytes(1000))
                .method("PATCH")
                .path("/blobs/uploads/")
                .times(8),
        );
    let rep = d.path().join("report.json");
    let out = support::slipway()
        .base_image()
        .env("XDG_CACHE_HOME", d.path().join("cache"))
        .arg("--dir")
        .arg(&shop)
        .args([
            "--images-repo",
            &format!("{}/shop", proxy.host),
            "--insecure-registry",
            &proxy.host,
        ])
        .args([
            "build-and-publish",
            "--tag-custom",
            "faults",
            "--report-path",
        ])
        .arg(&rep)
        .assert()
        .success();
    let log = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(log.contains("exporting to a file first"), "{log}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&rep).expect("report")).expect("json");
    for img in report["images"].as_array().expect("images") {
        let name = img["name"].as_str().expect("name");
        assert_eq!(
            img["digest"].as_str().map(str::to_string),
            skopeo::digest(&reg, &format!("shop/{name}:faults")).ok()
        );
    }
    proxy.add(
        Rule::new(Fault::Status {
            code: 503,
            retry_after: None,
        })
        .method("POST")
        .path("/blobs/uploads/")
        .times(2),
    );
    support::slipway()
        .args(["--insecure-registry", &proxy.host, "promote"])
        .arg(format!("{}/shop/backend:faults", proxy.host))
        .arg(format!("{}/prod/backend", proxy.host))
        .assert()
        .success();
    assert_eq!(
        skopeo::digest(&reg, "prod/backend:faults").ok(),
        skopeo::digest(&reg, "shop/backend:faults").ok()
    );
}

#[test]
fn a_push_killed_midway_completes_when_run_again() {
    let reg = Registry::plain();
    let proxy = FaultProxy::start(&reg);
    let d = tempfile::tempdir().expect("tmp");
    let tar = support::image_tarball(d.path(), 2000);
    // Slow blob uploads, so the kill lands in the middle.
    proxy.add(
        Rule::new(Fault::Delay(Duration::from_secs(3)))
            .method("PUT")
            .path("/blobs/uploads/"),
    );
    let mut child = support::slipway()
        .env("XDG_CACHE_HOME", d.path().join("cache"))
        .env("DOCKER_CONFIG", d.path())
        .args(["--insecure-registry", &proxy.host, "push-archive"])
        .arg(&tar)
        .arg(format!("{}/faults/killed:v1", proxy.host))
        .std()
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().expect("kill");
    let _ = child.wait();
    assert!(
        skopeo::digest(&reg, "faults/killed:v1").is_err(),
        "nothing should be tagged yet"
    );
    proxy.clear();
    push(&proxy, &tar, "faults/killed:v1", d.path())
        .assert()
        .success();
    assert!(skopeo::digest(&reg, "faults/killed:v1").is_ok());
}

#[test]
fn streamed_uploads_of_big_layers_restart_and_fall_back() {
    let reg = Registry::plain();
    let proxy = FaultProxy::start(&reg);
    let d = tempfile::tempdir().expect("tmp");
    // A 6 MB random layer: compressed straight into a streamed PATCH.
    let tar = support::image_tarball(d.path(), 6000);
    proxy.add(
        Rule::new(Fault::Status {
            code: 503,
            retry_after: None,
        })
        .method("PATCH")
        .path("/blobs/uploads/")
        .times(1),
    );
    let out = push(&proxy, &tar, "stream/app:v1", d.path())
        .assert()
        .success();
    let printed = String::from_utf8_lossy(&out.get_output().stdout)
        .trim()
        .to_string();
    let digest = skopeo::digest(&reg, "stream/app:v1").expect("pushed");
    assert!(printed.ends_with(&digest));
    let seen: Vec<String> = proxy
        .seen()
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert!(
        proxy.count("PATCH", "/blobs/uploads/") >= 2,
        "the streamed upload was not restarted: {seen:?}"
    );

    // A registry that refuses PATCH: the layer goes up in one PUT instead.
    let reg2 = Registry::plain();
    let proxy2 = FaultProxy::start(&reg2);
    proxy2.add(
        Rule::new(Fault::Status {
            code: 405,
            retry_after: None,
        })
        .method("PATCH"),
    );
    let d2 = tempfile::tempdir().expect("tmp");
    push(&proxy2, &tar, "stream/app:v1", d2.path())
        .assert()
        .success();
    assert_eq!(
        skopeo::digest(&reg2, "stream/app:v1").expect("pushed"),
        digest
    );

    // A registry that cuts every PATCH off mid-body (as one that refuses PATCH may, answering
    // before it reads the body): after two failed streams the layer goes up from a file.
    let reg3 = Registry::plain();
    let proxy3 = FaultProxy::start(&reg3);
    proxy3.add(Rule::new(Fault::ResetAfterBodyBytes(64 * 1024)).method("PATCH"));
    let d3 = tempfile::tempdir().expect("tmp");
    push(&proxy3, &tar, "stream/app:v1", d3.path())
        .assert()
        .success();
    assert_eq!(
        skopeo::digest(&reg3, "stream/app:v1").expect("pushed"),
        digest
    );
    let seen3: Vec<String> = proxy3
        .seen()
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert_eq!(
        proxy3.count("PATCH", "/blobs/uploads/"),
        2,
        "two failed streams, then none: {seen3:?}"
    );
}

/// A loopback port whose kernel backlog accepts connections but that never reads or
/// answers: a registry host that hangs.
fn silent_host() -> (std::net::TcpListener, String) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let host = l.local_addr().expect("addr").to_string();
    (l, host)
}

/// Runs `c`, which must fail, and returns how long it took and what it printed to stderr.
fn fails_within(mut c: support::Slipway, limit: Duration, what: &str) -> String {
    let started = std::time::Instant::now();
    let out = c
        .timeout(limit + Duration::from_secs(30))
        .output()
        .expect("run");
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    eprintln!(
        "{what}: exit {:?} after {took:?}: {}",
        out.status.code(),
        err.trim().lines().last().unwrap_or("")
    );
    assert!(!out.status.success(), "{what}: succeeded: {err}");
    assert!(
        took < limit,
        "{what}: took {took:?}, more than {limit:?}: {err}"
    );
    assert!(
        err.contains("--registry-timeout"),
        "{what}: the error should name the timeout: {err}"
    );
    err
}

/// At the default timeout, push-archive to a registry that stops reading an upload mid-body
/// fails within 45 s; to a host that never answers, with `--registry-timeout 3s`, within a
/// few seconds. Nothing is published.
#[test]
fn push_archive_gives_up_on_a_stalled_registry() {
    let reg = Registry::plain();
    let proxy = FaultProxy::start(&reg);
    let d = tempfile::tempdir().expect("tmp");
    let tar = support::image_tarball(d.path(), 300);
    proxy.add(
        Rule::new(Fault::StallRequestAfter(1000))
            .method("PUT")
            .path("/blobs/uploads/"),
    );
    proxy.add(
        Rule::new(Fault::StallRequestAfter(1000))
            .method("PATCH")
            .path("/blobs/uploads/"),
    );
    fails_within(
        push(&proxy, &tar, "stall/app:v1", d.path()),
        Duration::from_secs(45),
        "push-archive, upload stalled mid-body",
    );
    assert!(skopeo::digest(&reg, "stall/app:v1").is_err());
    let (_l, silent) = silent_host();
    let mut c = support::slipway();
    c.env("XDG_CACHE_HOME", d.path().join("cache"))
        .args(["--registry-timeout", "3s", "push-archive"])
        .arg(&tar)
        .arg(format!("{silent}/stall/app:v1"));
    fails_within(c, Duration::from_secs(15), "push-archive, silent host");
}

/// promote from a registry that stops mid-body fails within 45 s at the default timeout;
/// to a host that never answers, within seconds at `--registry-timeout 3s`.
#[test]
fn promote_gives_up_on_a_stalled_registry() {
    let reg = Registry::plain();
    let proxy = FaultProxy::start(&reg);
    let d = tempfile::tempdir().expect("tmp");
    let tar = support::image_tarball(d.path(), 300);
    push(&proxy, &tar, "src/app:v1", d.path())
        .assert()
        .success();
    proxy.add(
        Rule::new(Fault::StallResponseAfter(10))
            .method("GET")
            .path("/manifests/"),
    );
    let mut c = support::slipway();
    c.args(["--insecure-registry", &proxy.host, "promote"])
        .arg(format!("{}/src/app:v1", proxy.host))
        .arg(format!("{}/dst/app", proxy.host));
    fails_within(
        c,
        Duration::from_secs(45),
        "promote, source stalls mid-body",
    );
    assert!(skopeo::digest(&reg, "dst/app:v1").is_err());
    proxy.clear();
    let (_l, silent) = silent_host();
    let mut c = support::slipway();
    c.args([
        "--insecure-registry",
        &proxy.host,
        "--registry-timeout",
        "3s",
        "promote",
    ])
    .arg(format!("{}/src/app:v1", proxy.host))
    .arg(format!("{silent}/dst/app"));
    fails_within(c, Duration::from_secs(15), "promote, silent destination");
}

/// publish of a built image to a registry that stops reading uploads fails within 45 s at
/// the default timeout; to a host that never answers, within seconds at 3 s.
#[test]
fn publish_gives_up_on_a_stalled_registry() {
    let _ = support::base_image();
    let reg = Registry::plain();
    let proxy = FaultProxy::start(&reg);
    let d = tempfile::tempdir().expect("tmp");
    let nonce = format!("{:?}", std::time::SystemTime::now());
    support::write_tree(
        d.path(),
        &[
            (
                "werf.yaml",
                "project: stalled\nconfigVersion: 1\n---\nimage: app\n",
            ),
            (
                "Dockerfile",
                &format!("FROM {}\nCOPY nonce /\n", support::base_image()),
            ),
            ("nonce", &nonce),
        ],
    );
    let slipway = |repo: &str| {
        let mut c = support::slipway();
        c.env("XDG_CACHE_HOME", d.path().join("cache"))
            .arg("--dir")
            .arg(d.path())
            .args(["--images-repo", repo, "--insecure-registry", &proxy.host]);
        c
    };
    slipway(&format!("{}/stalled", proxy.host))
        .arg("build")
        .assert()
        .success();
    for method in ["PUT", "PATCH"] {
        proxy.add(
            Rule::new(Fault::StallRequestAfter(1000))
                .method(method)
                .path("/blobs/uploads/"),
        );
    }
    let mut c = slipway(&format!("{}/stalled", proxy.host));
    c.args(["publish", "--tag-custom", "v1"]);
    fails_within(
        c,
        Duration::from_secs(45),
        "publish, upload stalled mid-body",
    );
    assert!(skopeo::digest(&reg, "stalled/app:v1").is_err());
    let (_l, silent) = silent_host();
    let mut c = slipway(&format!("{silent}/stalled"));
    c.args(["--registry-timeout", "3s", "publish", "--tag-custom", "v1"]);
    fails_within(c, Duration::from_secs(15), "publish, silent host");
}
