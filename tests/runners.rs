//! Two CI runners: the host's Docker daemon and a second daemon of its own
//! (tests/support/runner.rs), sharing only the registry. Content signatures are the same
//! on both (the stapel toolbox counts by its reference, not its machine-local image ID), so
//! the second runner builds nothing that the first one published.

use crate::support;

use std::path::Path;

use support::runner::Runner;
use support::{Registry, skopeo};

/// A project with a Dockerfile image and a stapel image (git mapping, install script).
fn project(dir: &Path, name: &str) {
    support::write_tree(
        dir,
        &[
            ("web/index.html", "hello\n"),
            ("src/main.sh", "echo main\n"),
        ],
    );
    std::fs::write(
        dir.join("web/Dockerfile"),
        format!("FROM {}\nCOPY index.html /www/\n", support::base_image()),
    )
    .expect("Dockerfile");
    std::fs::write(
        dir.join("werf.yaml"),
        format!(
            r#"project: {name}
configVersion: 1
---
image: web
dockerfile: Dockerfile
context: web
---
image: app
from: {base}
git:
- add: /src
  to: /app
shell:
  install:
  - cat /proc/sys/kernel/random/uuid > /install-run
"#,
            base = support::base_image()
        ),
    )
    .expect("werf.yaml");
    support::git_commit_all(dir);
}

/// The image's ID in the host's daemon or the one at `host`.
fn image_id(image: &str, host: Option<&str>) -> String {
    let mut c = std::process::Command::new("/usr/bin/docker");
    if let Some(h) = host {
        c.args(["-H", h]);
    }
    let out = c
        .args(["image", "inspect", "-f", "{{.Id}}", image])
        .output()
        .expect("docker image inspect");
    assert!(out.status.success(), "no image {image} on {host:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn unique(prefix: &str) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{t}")
}

#[test]
fn second_runner_agrees_on_signatures_and_builds_nothing_published() {
    let reg = Registry::plain();
    let runner = Runner::start();
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    let name = unique("runners");
    project(dir, &name);

    // Each daemon's toolbox is its own `docker import`: different IDs.
    let host_toolbox = image_id(support::stapel_toolbox(), None);
    let runner_toolbox = image_id(support::STAPEL_TOOLBOX, Some(&runner.host()));
    assert_ne!(
        host_toolbox, runner_toolbox,
        "the toolboxes should differ by ID"
    );

    let on_host = support::signatures(
        support::slipway()
            .project(dir)
            .stapel()
            .images_repo(&reg, "runners"),
    );
    let on_runner = support::signatures(
        support::slipway()
            .project(dir)
            .stapel()
            .images_repo(&reg, "runners")
            .docker_host(Some(&runner.host())),
    );
    assert_eq!(on_host.len(), 2, "{on_host:?}");
    assert_eq!(on_host, on_runner, "signatures differ between runners");

    support::slipway()
        .project(dir)
        .stapel()
        .images_repo(&reg, "runners")
        .args(["build-and-publish", "--tag-custom", "v1"])
        .assert()
        .success();
    let before: Vec<String> = ["web", "app"]
        .iter()
        .map(|i| skopeo::digest(&reg, &format!("runners/{i}:v1")).expect("published"))
        .collect();

    let images_before = runner.image_ids();
    let out = support::slipway()
        .project(dir)
        .stapel()
        .images_repo(&reg, "runners")
        .docker_host(Some(&runner.host()))
        .args(["build-and-publish", "--tag-custom", "v1"])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    // Nothing was built on the second runner: it has the same images as before.
    assert_eq!(runner.image_ids(), images_before, "{err}");
    let after: Vec<String> = ["web", "app"]
        .iter()
        .map(|i| skopeo::digest(&reg, &format!("runners/{i}:v1")).expect("published"))
        .collect();
    assert_eq!(before, after);

    // A source change is built on the second runner, and only there.
    std::fs::write(dir.join("src/main.sh"), "echo changed\n").expect("write");
    support::git(dir, &["commit", "-qam", "change"]);
    support::slipway()
        .project(dir)
        .stapel()
        .images_repo(&reg, "runners")
        .docker_host(Some(&runner.host()))
        .args(["build-and-publish", "--tag-custom", "v2"])
        .assert()
        .success();
    let app_v2 = format!("{}/runners/app:v2", reg.host);
    let shown = runner
        .cli()
        .args(["run", "--rm", &app_v2, "cat", "/app/main.sh"])
        .output()
        .expect("docker run");
    assert_eq!(String::from_utf8_lossy(&shown.stdout), "echo changed\n");
    let on_host_daemon = std::process::Command::new("/usr/bin/docker")
        .args(["image", "inspect", &app_v2])
        .output()
        .expect("inspect");
    assert!(
        !on_host_daemon.status.success(),
        "the host's daemon must not have the second runner's build"
    );
}

/// `slipway build` with a stages storage on the host's daemon or the runner's; stderr.
fn build_with_storage(dir: &Path, storage: &str, host: Option<&str>, reg: &Registry) -> String {
    let out = support::slipway()
        .project(dir)
        .stapel()
        .images_repo(reg, "runners")
        .docker_host(host)
        .args(["-s", storage, "build"])
        .assert()
        .success();
    String::from_utf8_lossy(&out.get_output().stderr).to_string()
}

/// The stored stage a build pulled and the bytes it downloaded, from its log line
/// `stapel stages: STAGE is REF from the stages storage (pulled, N bytes)`.
fn pulled_stage(err: &str) -> (String, u64) {
    err.lines()
        .find_map(|l| {
            let (_, rest) = l.split_once(" is ")?;
            let (reference, rest) = rest.split_once(" from the stages storage (pulled, ")?;
            let n = rest.split_once(" bytes)")?.0.parse().ok()?;
            Some((reference.to_string(), n))
        })
        .unwrap_or_else(|| panic!("no pulled stage in:\n{err}"))
}

/// The issue's two-runner case: the first runner (the host's daemon) stores every stage;
/// the second daemon, which never built the project, builds no stage for the same commit
/// and only the latest patch after a source change (install is not rerun: its counter file
/// keeps the first runner's line).
#[test]
fn second_runner_builds_only_the_patch_on_stored_stages() {
    let reg = Registry::plain();
    let runner = Runner::start();
    let storage = format!("{}/runners/stages", reg.host);
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    let name = unique("runners-stages");
    support::write_tree(
        dir,
        &[("package.json", "{\"v\": 1}\n"), ("src/main.js", "one\n")],
    );
    std::fs::write(
        dir.join("werf.yaml"),
        format!(
            r#"project: {name}
configVersion: 1
---
image: app
from: {base}
git:
- add: /
  to: /app
  stageDependencies:
    install: [package.json]
shell:
  install:
  - cat /proc/sys/kernel/random/uuid >> /install-runs
"#,
            base = support::base_image()
        ),
    )
    .expect("werf.yaml");
    support::git_commit_all(dir);

    let first = support::stages_summary(&build_with_storage(dir, &storage, None, &reg));
    assert!(first.starts_with("reused none;"), "{first}");
    let img = format!("{name}/app:latest");
    let host_runs = support::sh(&img, "cat /install-runs");
    let host_id = image_id(&img, None);
    let _ = std::process::Command::new("/usr/bin/docker")
        .args(["rmi", "-f", &img])
        .output();

    let run_on_runner = |cmd: &str| {
        let out = runner
            .cli()
            .args(["run", "--rm", "--entrypoint", "/bin/sh", &img, "-c", cmd])
            .output()
            .expect("docker run on the runner");
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };

    let err = build_with_storage(dir, &storage, Some(&runner.host()), &reg);
    let second = support::stages_summary(&err);
    assert!(
        second.contains("(from the stages storage") && second.ends_with("built none"),
        "{err}"
    );
    assert_eq!(run_on_runner("cat /install-runs"), host_runs);
    // The image is its stored last stage, image labels included (not a rebuild on top of
    // it): the same image ID on both runners, and the stage's own ID.
    let runner_id = image_id(&img, Some(&runner.host()));
    assert_eq!(runner_id, host_id, "{err}");
    // The layers the runner's daemon has (its base image) were neither downloaded nor
    // sent to it again.
    let (reference, pulled) = pulled_stage(&err);
    assert_eq!(
        image_id(&reference, Some(&runner.host())),
        runner_id,
        "{err}"
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &skopeo::raw_manifest(
            &reg,
            reference.trim_start_matches(&format!("{}/", reg.host)),
        )
        .expect("stored stage manifest"),
    )
    .expect("manifest JSON");
    let sizes: Vec<u64> = manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["size"].as_u64().expect("size"))
        .collect();
    let base_layers = runner
        .cli()
        .args([
            "image",
            "inspect",
            "-f",
            "{{len .RootFS.Layers}}",
            support::BASE_IMAGE,
        ])
        .output()
        .expect("inspect the base");
    let base_layers: usize = String::from_utf8_lossy(&base_layers.stdout)
        .trim()
        .parse()
        .expect("layer count");
    assert!(base_layers >= 1 && sizes.len() > base_layers, "{sizes:?}");
    assert_eq!(pulled, sizes[base_layers..].iter().sum::<u64>(), "{err}");

    std::fs::write(dir.join("src/main.js"), "two\n").expect("write");
    support::git(dir, &["commit", "-qam", "source change"]);
    let err = build_with_storage(dir, &storage, Some(&runner.host()), &reg);
    let third = support::stages_summary(&err);
    assert!(
        third.contains("install") && third.ends_with("built gitLatestPatch, dockerInstructions"),
        "{err}"
    );
    assert_eq!(
        run_on_runner("cat /install-runs"),
        host_runs,
        "install not rerun"
    );
    assert_eq!(run_on_runner("cat /app/src/main.js"), "two");
}

/// With a stages storage, a new tag of an unchanged Dockerfile image is a copy of the one
/// another runner published (werf keeps Dockerfile images in its stages storage too): the
/// second runner does not build it, and both tags name one digest.
#[test]
fn a_new_tag_of_an_unchanged_dockerfile_image_comes_from_the_stages_storage() {
    let reg = Registry::plain();
    let runner = Runner::start();
    let storage = format!("{}/runners/stages", reg.host);
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    let name = unique("runners-df");
    project(dir, &name);
    // Content of its own, so no earlier run's image has these signatures.
    std::fs::write(dir.join("web/index.html"), &name).expect("write");
    support::git(dir, &["commit", "-qam", "own content"]);

    let out = support::slipway()
        .project(dir)
        .stapel()
        .images_repo(&reg, "runners")
        .args(["-s", &storage, "build-and-publish", "--tag-custom", "v1"])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let web_v1 = skopeo::digest(&reg, "runners/web:v1").expect("web v1");
    let stored: Vec<String> = skopeo::tags(&reg, "runners/stages");
    let web_sig = support::signatures(
        support::slipway()
            .project(dir)
            .stapel()
            .images_repo(&reg, "runners"),
    )["web"]
        .clone();
    assert!(
        stored.iter().any(|t| t.starts_with(&format!("{web_sig}-"))),
        "web stored under its signature: {stored:?}\n{err}"
    );

    support::slipway()
        .project(dir)
        .stapel()
        .images_repo(&reg, "runners")
        .docker_host(Some(&runner.host()))
        .args(["-s", &storage, "build-and-publish", "--tag-custom", "v2"])
        .assert()
        .success();
    assert_eq!(
        skopeo::digest(&reg, "runners/web:v2").expect("web v2"),
        web_v1,
        "web:v2 is web:v1"
    );
    let built_web = runner
        .cli()
        .args(["images", "-q", "--filter", "label=slipway.image=web"])
        .output()
        .expect("docker images");
    assert!(
        String::from_utf8_lossy(&built_web.stdout).trim().is_empty(),
        "the second runner built web"
    );
}

/// A daemon whose layer store cannot be read here (a remote `DOCKER_HOST` over TCP, as
/// docker:dind is): publish takes the export path, streamed, and, once the registry has
/// the base layer, reads it past without sending it. What lands is the daemon's image
/// layer for layer, pullable and byte-identical (skopeo, here and when `reg` is dropped).
#[test]
fn a_remote_daemon_publishes_through_its_export_stream() {
    let reg = Registry::plain();
    let runner = Runner::start_remote();
    let host = runner.tcp_host();
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    let name = unique("remote");
    let dockerfile = |n: u32| {
        format!(
            "FROM {}\nRUN head -c 3000000 /dev/urandom > /r && echo {n} > /n\n",
            support::BASE_IMAGE
        )
    };
    support::write_tree(
        dir,
        &[
            (
                "werf.yaml",
                &format!("project: {name}\nconfigVersion: 1\n---\nimage: big\n"),
            ),
            ("Dockerfile", &dockerfile(1)),
        ],
    );
    support::git_commit_all(dir);
    let publish = || {
        let out = support::slipway()
            .project(dir)
            .stapel()
            .images_repo(&reg, "runners")
            .docker_host(Some(&host))
            // The uploads counted below are the image's: no provenance statement (issue 35).
            .args([
                "--log-debug",
                "build-and-publish",
                "--tag-custom",
                "v1",
                "--provenance=false",
            ])
            .assert()
            .success();
        String::from_utf8_lossy(&out.get_output().stderr).into_owned()
    };
    let same_layers = || {
        let local = support::block_on(async {
            runner
                .docker()
                .inspect_image(&format!("{name}/big:latest"))
                .await
                .expect("inspect on the remote daemon")
        });
        let reference = "runners/big:v1";
        let config = skopeo::config(&reg, reference).expect("config");
        let pushed: Vec<String> = config["rootfs"]["diff_ids"]
            .as_array()
            .expect("diff_ids")
            .iter()
            .map(|v| v.as_str().expect("id").to_string())
            .collect();
        assert_eq!(
            Some(pushed.clone()),
            local.root_fs.and_then(|r| r.layers),
            "registry and daemon disagree on the layers"
        );
        skopeo::verify_pullable(&reg, reference).expect("pullable");
        assert_eq!(
            skopeo::uncompressed_layer_digests(&reg, reference).expect("layers"),
            pushed
        );
    };

    let log = publish();
    assert!(
        log.contains("published from the export stream") && log.contains("streamed=true"),
        "{log}"
    );
    assert!(!log.contains("from the daemon's layer store"), "{log}");
    assert!(!log.contains("exporting to a file first"), "{log}");
    same_layers();

    // The top layer changes: the base is in the registry and is read past, not sent.
    std::fs::write(dir.join("Dockerfile"), dockerfile(2)).expect("Dockerfile");
    support::git_commit_all(dir);
    let uploads = reg.count_requests("PUT", "/runners/big/blobs/uploads/");
    let patches = reg.count_requests("PATCH", "/runners/big/blobs/uploads/");
    let log = publish();
    assert!(log.contains("published from the export stream"), "{log}");
    assert!(!log.contains("exporting to a file first"), "{log}");
    // The new layer and the config; never the base.
    assert_eq!(
        reg.count_requests("PUT", "/runners/big/blobs/uploads/") - uploads,
        2,
        "{}",
        reg.log()
    );
    // The top layer, placed by its `json` in the export, went straight into a streamed
    // upload (a spooled 3 MB layer would be one PUT).
    assert_eq!(
        reg.count_requests("PATCH", "/runners/big/blobs/uploads/") - patches,
        1,
        "{}",
        reg.log()
    );
    same_layers();
}
