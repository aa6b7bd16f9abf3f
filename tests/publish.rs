//! `build-and-publish` / `publish` end to end: real daemon, real registries, skopeo as
//! the judge; credentials from config.json, a credential helper and the environment;
//! no-op reruns, tag-only changes, layer reuse; the errors users meet.

use crate::support;

use std::path::{Path, PathBuf};

use support::{Registry, skopeo};

fn shop() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop")
}

/// A copy of examples/shop that a test may edit.
fn shop_copy() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tmp");
    copy_dir(&shop(), d.path());
    d
}

fn copy_dir(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.expect("walk");
        let rel = e.path().strip_prefix(from).expect("rel");
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
        } else {
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

fn publish(dir: &Path, reg: &Registry, extra: &[&str]) -> support::Slipway {
    let mut c = support::slipway();
    c.base_image()
        .project(dir)
        .args(["--images-repo", &format!("{}/shop", reg.host)]);
    if !reg.tls {
        c.insecure(&reg.host);
    }
    c.arg("build-and-publish").args(extra);
    c
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("report")).expect("json")
}

/// Every reference in the report resolves (skopeo) to the reported digest.
fn assert_report_matches_registry(reg: &Registry, rep: &serde_json::Value) {
    let images = rep["images"].as_array().expect("images");
    assert_eq!(images.len(), 3);
    for img in images {
        let digest = img["digest"].as_str().expect("digest");
        for r in img["references"].as_array().expect("refs") {
            let r = r.as_str().expect("ref");
            let path = r
                .strip_prefix(&format!("{}/", reg.host))
                .expect("host prefix");
            assert_eq!(skopeo::digest(reg, path).expect("skopeo"), digest, "{r}");
        }
    }
}

#[test]
fn plain_registry_publish_rerun_and_new_tag() {
    let _ = support::base_image();
    let reg = Registry::plain();
    let dir = shop_copy();
    // Reports inside the project, in a folder every image copies (`shared/`): Slipway's
    // own output files never count, on this run or a later one without the flags.
    let rep = dir.path().join("shared/report.json");
    let env = dir.path().join("shared/digests.env");
    publish(
        dir.path(),
        &reg,
        &[
            "--tag-custom",
            "v1",
            "--tag-by-content",
            "--report-path",
            &rep.to_string_lossy(),
            "--digest-file",
            &env.to_string_lossy(),
        ],
    )
    .assert()
    .success();
    let first = report(&rep);
    assert_report_matches_registry(&reg, &first);
    // Images go up two at a time, but the layers they share are sent once.
    let log = reg.log();
    let mut sent: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"PUT ") && l.contains("/blobs/uploads/"))
        .filter_map(|l| l.split("digest=").nth(1))
        .map(|d| d.split(['&', ' ', '"']).next().unwrap_or(d))
        // OCI's empty config (`{}`, 2 bytes) of each repository's provenance referrer.
        .filter(|d| {
            !d.ends_with("44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
        })
        .collect();
    let all = sent.len();
    assert!(all > 3, "{log}");
    sent.sort_unstable();
    sent.dedup();
    assert_eq!(sent.len(), all, "a blob was uploaded twice:\n{log}");
    let dotenv = std::fs::read_to_string(&env).expect("dotenv");
    let backend = &first["images"][0];
    assert_eq!(backend["name"], "backend");
    // The images repo once, a digest per image (issue 37: GitLab's dotenv limits).
    assert!(
        dotenv.starts_with(&format!("SLIPWAY_REPO={}/shop\n", reg.host)),
        "{dotenv}"
    );
    assert!(
        dotenv.contains(&format!(
            "SLIPWAY_DIGEST_BACKEND={}\n",
            backend["digest"].as_str().expect("d")
        )),
        "{dotenv}"
    );
    assert_eq!(
        dotenv.lines().count(),
        1 + first["images"].as_array().expect("images").len(),
        "{dotenv}"
    );
    // The dependant was built FROM its dependency's published name.
    let mig = skopeo::config(&reg, "shop/migrations:v1").expect("config");
    assert_eq!(mig["config"]["Labels"]["slipway.image"], "migrations");

    // No change: nothing built, no blob uploaded, no manifest written.
    let blobs = reg.count_requests("PUT", "/blobs/uploads/");
    let manifests = reg.count_requests("PUT", "/manifests/");
    publish(
        dir.path(),
        &reg,
        &[
            "--tag-custom",
            "v1",
            "--tag-by-content",
            "--report-path",
            &rep.to_string_lossy(),
            "--digest-file",
            &env.to_string_lossy(),
            "--digest-file-images",
            "backend",
        ],
    )
    .assert()
    .success();
    let second = report(&rep);
    // `--digest-file-images backend`: that digest alone; the report still has them all.
    assert_eq!(
        std::fs::read_to_string(&env).expect("dotenv"),
        format!(
            "SLIPWAY_REPO={}/shop\nSLIPWAY_DIGEST_BACKEND={}\n",
            reg.host,
            backend["digest"].as_str().expect("d")
        )
    );
    assert_eq!(
        second["images"].as_array().map(Vec::len),
        first["images"].as_array().map(Vec::len)
    );
    assert_eq!(reg.count_requests("PUT", "/blobs/uploads/"), blobs);
    assert_eq!(reg.count_requests("PUT", "/manifests/"), manifests);
    for (a, b) in first["images"]
        .as_array()
        .expect("a")
        .iter()
        .zip(second["images"].as_array().expect("b"))
    {
        assert_eq!(a["digest"], b["digest"]);
        assert_eq!(b["push"], "already-present");
    }

    // A new tag: one manifest PUT per image, no blob.
    publish(
        dir.path(),
        &reg,
        &[
            "--tag-custom",
            "v1",
            "--tag-custom",
            "v2",
            "--tag-by-content",
            "--report-path",
            &rep.to_string_lossy(),
        ],
    )
    .assert()
    .success();
    assert_eq!(reg.count_requests("PUT", "/blobs/uploads/"), blobs);
    assert_eq!(reg.count_requests("PUT", "/manifests/"), manifests + 3);
    assert_report_matches_registry(&reg, &report(&rep));

    // An ignored file (.dockerignore excludes docs/) changes nothing.
    std::fs::write(dir.path().join("docs/DEPLOY.md"), "edited\n").expect("edit");
    publish(
        dir.path(),
        &reg,
        &["--tag-custom", "v1", "--tag-by-content"],
    )
    .assert()
    .success();
    assert_eq!(reg.count_requests("PUT", "/blobs/uploads/"), blobs);

    // Editing the frontend's file: every image shares the context, so all get new
    // signatures, but only the frontend has a new layer; the others differ in config only.
    std::fs::write(dir.path().join("frontend/index.html"), "<h1>changed</h1>\n").expect("edit");
    publish(
        dir.path(),
        &reg,
        &[
            "--tag-custom",
            "v3",
            "--tag-by-content",
            "--report-path",
            &rep.to_string_lossy(),
        ],
    )
    .assert()
    .success();
    let third = report(&rep);
    let front = third["images"]
        .as_array()
        .expect("i")
        .iter()
        .find(|i| i["name"] == "frontend")
        .expect("frontend")
        .clone();
    assert_eq!(front["push"], "pushed");
    assert_ne!(front["digest"], first["images"][1]["digest"]);
    let new_blobs = reg.count_requests("PUT", "/blobs/uploads/") - blobs;
    // Blobs the three new images reference: layers + configs. The base layers they share
    // with the first run must not have travelled again.
    let referenced: usize = ["backend", "frontend", "migrations"]
        .iter()
        .map(|i| {
            let m: serde_json::Value = serde_json::from_str(
                &skopeo::raw_manifest(&reg, &format!("shop/{i}:v3")).expect("raw"),
            )
            .expect("json");
            m["layers"].as_array().map(Vec::len).unwrap_or(0) + 1
        })
        .sum();
    // backend: config only; frontend: COPY + RUN layers + config; migrations: its layer
    // (Docker records build-time directory times, so it differs) + config.
    assert!(new_blobs <= 6, "uploaded {new_blobs} blobs");
    assert!(
        referenced >= new_blobs + 8,
        "{referenced} referenced, {new_blobs} uploaded"
    );
    assert_report_matches_registry(&reg, &third);
}

#[test]
fn tls_registry_with_config_json_helper_and_env_credentials() {
    let _ = support::base_image();
    let reg = Registry::tls_auth();
    let (user, pass) = reg.creds.clone().expect("creds");
    let dir = shop_copy();
    let out_dir = tempfile::tempdir().expect("tmp");
    let rep = out_dir.path().join("report.json");

    // 1. docker config.json auths.
    let cfg = reg.docker_config_dir();
    publish(
        dir.path(),
        &reg,
        &[
            "--tag-custom",
            "cfg",
            "--report-path",
            &rep.to_string_lossy(),
        ],
    )
    .env("DOCKER_CONFIG", cfg.path())
    .assert()
    .success();
    assert_report_matches_registry(&reg, &report(&rep));

    // 2. a credHelpers entry: a helper script on PATH.
    let helper_dir = tempfile::tempdir().expect("tmp");
    let script = helper_dir.path().join("docker-credential-slipwaytest");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nread host\n[ \"$host\" = \"{}\" ] || exit 1\necho '{{\"Username\":\"{user}\",\"Secret\":\"{pass}\"}}'\n", reg.host),
    )
    .expect("script");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let hcfg = tempfile::tempdir().expect("tmp");
    std::fs::write(
        hcfg.path().join("config.json"),
        format!(r#"{{"credHelpers":{{"{}":"slipwaytest"}}}}"#, reg.host),
    )
    .expect("cfg");
    let path = format!(
        "{}:{}",
        helper_dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    publish(
        dir.path(),
        &reg,
        &[
            "--tag-custom",
            "helper",
            "--report-path",
            &rep.to_string_lossy(),
        ],
    )
    .env("DOCKER_CONFIG", hcfg.path())
    .env("PATH", &path)
    .assert()
    .success();
    assert_report_matches_registry(&reg, &report(&rep));

    // 3. the environment (werf's variable names too).
    let out = publish(
        dir.path(),
        &reg,
        &[
            "--tag-custom",
            "env",
            "--report-path",
            &rep.to_string_lossy(),
        ],
    )
    .env("WERF_REPO_USERNAME", &user)
    .env("WERF_REPO_PASSWORD", &pass)
    .env("SLIPWAY_LOG_LEVEL", "trace")
    .assert()
    .success();
    assert_report_matches_registry(&reg, &report(&rep));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.get_output().stdout),
        String::from_utf8_lossy(&out.get_output().stderr)
    );
    assert!(!all.contains(&pass), "password printed");
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let _ = support::base_image();
    let reg = Registry::plain();
    let dir = shop_copy();
    let out = publish(dir.path(), &reg, &["--tag-custom", "v1", "--dry-run"])
        .arg("--json")
        .assert()
        .success();
    let plan: serde_json::Value = support::json_result(&out.get_output().stdout);
    assert_eq!(plan["images"].as_array().map(Vec::len), Some(3));
    assert_eq!(plan["images"][0]["action"], "push");
    assert_eq!(reg.count_requests("PUT", ""), 0);
    assert!(skopeo::tags(&reg, "shop/backend").is_empty());
}

#[test]
fn bad_input_fails_before_any_side_effect() {
    let reg = Registry::plain();
    let dir = shop_copy();
    // No tag option.
    let out = publish(dir.path(), &reg, &[]).assert().code(1);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("--tag-custom"));
    // Invalid custom tag.
    publish(dir.path(), &reg, &["--tag-custom", "bad tag"])
        .assert()
        .code(1);
    // A nested path on Docker Hub in multirepo mode.
    let out = support::slipway()
        .arg("--dir")
        .arg(dir.path())
        .args([
            "--images-repo",
            "docker.io/acme/app",
            "--images-repo-mode",
            "multirepo",
            "build-and-publish",
            "--tag-custom",
            "x",
        ])
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("use --images-repo-mode monorepo"), "{err}");
    // Broken werf.yaml: located error.
    std::fs::write(
        dir.path().join("werf.yaml"),
        "project: shop\nconfigVersion: 1\n---\nimage: a\ndockerfle: x\n",
    )
    .expect("write");
    let out = publish(dir.path(), &reg, &["--tag-custom", "v1"])
        .assert()
        .code(1);
    assert!(
        String::from_utf8_lossy(&out.get_output().stderr)
            .contains("werf.yaml:5:1: unknown key `dockerfle`")
    );
    assert_eq!(reg.count_requests("PUT", ""), 0);
    assert_eq!(reg.count_requests("GET", "/v2/"), 0);
}

#[test]
fn push_with_daemon_fallback_publishes_the_same_way() {
    let _ = support::base_image();
    let reg = Registry::tls_auth();
    let dir = shop_copy();
    let out_dir = tempfile::tempdir().expect("tmp");
    let rep = out_dir.path().join("report.json");
    let cfg = reg.docker_config_dir();
    publish(
        dir.path(),
        &reg,
        &[
            "--tag-custom",
            "daemon",
            "--push-with-daemon",
            "--report-path",
            &rep.to_string_lossy(),
        ],
    )
    .env("DOCKER_CONFIG", cfg.path())
    .assert()
    .success();
    assert_report_matches_registry(&reg, &report(&rep));
}

/// `ImageDigest` imports are the dependency's manifest digest in the registry, as werf
/// passes it: the dependency is published before its dependant builds, also when only the
/// dependant changed; a plain `build` (no registry) passes it empty, as werf does.
#[test]
fn image_digest_import_is_the_registry_digest() {
    let base = support::base_image();
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    let werf = "project: dig\nconfigVersion: 1\n---\nimage: tool\ndockerfile: tool.Dockerfile\nargs:\n  BASE: {{ env \"BASE_IMAGE\" }}\n---\nimage: app\ndockerfile: app.Dockerfile\nargs:\n  BASE: {{ env \"BASE_IMAGE\" }}\ndependencies:\n  - image: tool\n    imports:\n      - type: ImageDigest\n        targetBuildArg: TOOL_DIGEST\n      - type: ImageID\n        targetBuildArg: TOOL_ID\n";
    support::write_tree(
        dir.path(),
        &[
            ("werf.yaml", werf),
            (
                "tool.Dockerfile",
                "ARG BASE\nFROM ${BASE}\nRUN echo tool > /tool\n",
            ),
            (
                "app.Dockerfile",
                "ARG BASE\nFROM ${BASE}\nARG TOOL_DIGEST\nARG TOOL_ID\nLABEL tool.digest=${TOOL_DIGEST} tool.id=${TOOL_ID}\n",
            ),
        ],
    );
    let run = |extra: &[&str]| {
        let mut c = support::slipway();
        c.env("BASE_IMAGE", base)
            .project(dir.path())
            .args(["--images-repo", &format!("{}/dig", reg.host)])
            .insecure(&reg.host)
            .args(["build-and-publish", "--tag-custom", "v1"])
            .args(extra);
        c.assert().success();
    };
    run(&[]);
    let tool_digest = skopeo::digest(&reg, "dig/tool:v1").expect("tool digest");
    let app = skopeo::config(&reg, "dig/app:v1").expect("app config");
    let labels = &app["config"]["Labels"];
    assert_eq!(labels["tool.digest"], tool_digest.as_str(), "{labels}");
    // ImageID stays the local image ID, which is not the manifest digest.
    let id = labels["tool.id"].as_str().expect("id label");
    assert!(id.starts_with("sha256:") && id != tool_digest, "{labels}");

    // Only the dependant changes: the dependency is up to date in the registry, and its
    // digest is still what the dependant receives.
    let pushes = reg.count_requests("PUT", "/dig/tool/manifests/");
    std::fs::write(
        dir.path().join("app.Dockerfile"),
        "ARG BASE\nFROM ${BASE}\nARG TOOL_DIGEST\nARG TOOL_ID\nLABEL tool.digest=${TOOL_DIGEST} tool.id=${TOOL_ID} v=2\n",
    )
    .expect("write");
    run(&[]);
    assert_eq!(reg.count_requests("PUT", "/dig/tool/manifests/"), pushes);
    let app = skopeo::config(&reg, "dig/app:v1").expect("app config");
    assert_eq!(app["config"]["Labels"]["v"], "2");
    assert_eq!(app["config"]["Labels"]["tool.digest"], tool_digest.as_str());

    // No registry: werf's digest is empty there, and so is Slipway's.
    std::fs::write(
        dir.path().join("app.Dockerfile"),
        "ARG BASE\nFROM ${BASE}\nARG TOOL_DIGEST\nARG TOOL_ID\nLABEL tool.digest=${TOOL_DIGEST} tool.id=${TOOL_ID} v=3\n",
    )
    .expect("write");
    support::slipway()
        .env("BASE_IMAGE", base)
        .project(dir.path())
        .arg("build")
        .assert()
        .success();
    let local = support::block_on(async {
        support::docker()
            .inspect_image("dig/app:latest")
            .await
            .expect("inspect")
    });
    let labels = local.config.and_then(|c| c.labels).unwrap_or_default();
    assert_eq!(labels.get("v").map(String::as_str), Some("3"));
    assert_eq!(labels.get("tool.digest").map(String::as_str), Some(""));

    // The same content published elsewhere under another digest (zstd layers, a fresh
    // registry): the dependant's signature is unchanged, but the local image was built with
    // the old digest (here: none), so it is rebuilt, not reused with a stale label.
    let other = Registry::plain();
    support::slipway()
        .base_image()
        .project(dir.path())
        .images_repo(&other, "dig")
        .arg("--log-debug")
        .args([
            "build-and-publish",
            "--tag-custom",
            "v1",
            "--layer-compression",
            "zstd",
        ])
        .assert()
        .success();
    let zstd_digest = skopeo::digest(&other, "dig/tool:v1").expect("tool digest");
    assert_ne!(zstd_digest, tool_digest);
    let app = skopeo::config(&other, "dig/app:v1").expect("app config");
    assert_eq!(app["config"]["Labels"]["tool.digest"], zstd_digest.as_str());
}

/// A one-image project on the test base image: its werf.yaml and `dockerfile`.
fn one_image_project(dir: &Path, project: &str, dockerfile: &str) {
    let werf = format!(
        "project: {project}\nconfigVersion: 1\n---\nimage: app\nargs:\n  BASE: {{{{ env \"BASE_IMAGE\" }}}}\n"
    );
    support::write_tree(dir, &[("werf.yaml", &werf), ("Dockerfile", dockerfile)]);
}

/// What a successful run logged.
fn stderr_of(c: &mut assert_cmd::Command) -> String {
    let out = c.assert().success();
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

/// Publishing reads the daemon's export once, as a stream: with nothing in the registry
/// yet, layers go straight into streamed uploads; once the base layer is there, only the
/// changed layer is uploaded (the base is read past, never sent). What lands in the
/// registry is the daemon's image, layer for layer.
#[test]
fn publish_streams_layers_from_the_export() {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    let dockerfile = |n: u32| {
        format!(
            "ARG BASE\nFROM ${{BASE}}\nRUN head -c 3000000 /dev/urandom > /r && echo {n} > /n\n"
        )
    };
    one_image_project(dir.path(), "strm", &dockerfile(1));
    // The export path, which a daemon whose store is not readable here takes.
    let slipway = || {
        let mut c = support::slipway();
        c.base_image()
            .project(dir.path())
            .images_repo(&reg, "strm")
            .arg("--log-debug")
            .env("SLIPWAY_LAYER_STORE", "off");
        c
    };
    let run = || stderr_of(slipway().args(["build-and-publish", "--tag-custom", "v1"]));
    let same_layers = || {
        let local = support::block_on(async {
            support::docker()
                .inspect_image("strm/app:latest")
                .await
                .expect("inspect")
        });
        let config = skopeo::config(&reg, "strm/app:v1").expect("config");
        let pushed: Vec<String> = config["rootfs"]["diff_ids"]
            .as_array()
            .expect("diff_ids")
            .iter()
            .map(|v| v.as_str().expect("id").to_string())
            .collect();
        assert_eq!(
            Some(pushed),
            local.root_fs.and_then(|r| r.layers),
            "registry and daemon disagree on the layers"
        );
        assert_eq!(
            format!("{}", config["config"]["Labels"]["slipway.image"]),
            "\"app\""
        );
    };

    let log = run();
    assert!(
        log.contains("published from the export stream") && log.contains("streamed=true"),
        "{log}"
    );
    assert!(!log.contains("exporting to a file first"), "{log}");
    assert!(
        reg.count_requests("PATCH", "/strm/app/blobs/uploads/") >= 2,
        "{}",
        reg.log()
    );
    same_layers();

    // Only the top layer changes: the base layer is known, so layers are identified
    // before upload and the base is not sent again.
    std::fs::write(dir.path().join("Dockerfile"), dockerfile(2)).expect("write");
    let uploads = reg.count_requests("PUT", "/strm/app/blobs/uploads/");
    // Built but not published: the dry run plans its blobs from the daemon's layers (the
    // base present in the registry, the new layer to compress and upload) and writes nothing.
    slipway().arg("build").assert().success();
    let out = slipway()
        .args(["--json", "publish", "--tag-custom", "v1", "--dry-run"])
        .assert()
        .success();
    let plan = support::json_result(&out.get_output().stdout);
    let blobs = plan["images"][0]["blobs"]["blobs"]
        .as_array()
        .expect("blob plan")
        .clone();
    let actions: Vec<&str> = blobs.iter().filter_map(|b| b["action"].as_str()).collect();
    assert_eq!(actions, ["present", "upload"], "{plan}");
    assert_eq!(blobs[1]["compress"], true);
    assert!(plan["images"][0]["blobs"]["unknown"].is_string(), "{plan}");
    let out = slipway()
        .args(["publish", "--tag-custom", "v1", "--dry-run"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("blob present sha256:"), "{text}");
    assert!(
        text.contains("blob upload layer (size known after compressing)"),
        "{text}"
    );
    assert_eq!(
        reg.count_requests("PUT", "/strm/app/blobs/uploads/"),
        uploads
    );
    let log = run();
    assert!(
        log.contains("published from the export stream") && log.contains("streamed=false"),
        "{log}"
    );
    // The new layer, the new config and the new image's provenance statement.
    assert_eq!(
        reg.count_requests("PUT", "/strm/app/blobs/uploads/"),
        uploads + 3,
        "{}",
        reg.log()
    );
    same_layers();
}

/// With the daemon's layer store readable here (the daemon on this host, Slipway as root,
/// as in CI), publishing reads the layers in place instead of waiting for the export: what
/// lands in the registry is the daemon's image, each layer gunzipping to its diffID; once
/// the base is in the registry, only the changed layer is read and uploaded.
#[test]
fn publish_reads_layers_from_the_daemons_layer_store() {
    assert!(
        std::fs::read_dir("/var/lib/docker/image/overlay2/layerdb/sha256").is_ok(),
        "the test daemon's layer store must be readable (root, overlay2)"
    );
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    let dockerfile = |n: u32| {
        format!(
            "ARG BASE\nFROM ${{BASE}}\nRUN head -c 3000000 /dev/urandom > /r && mkdir -p /d/e && echo {n} > /d/e/n && ln -s /r /d/l && ln /d/e/n /d/h\n"
        )
    };
    one_image_project(dir.path(), "lst", &dockerfile(1));
    let run = || {
        stderr_of(
            support::slipway()
                .base_image()
                .project(dir.path())
                .images_repo(&reg, "lst")
                .arg("--log-debug")
                .args(["build-and-publish", "--tag-custom", "v1"]),
        )
    };
    let check = || {
        let local = support::block_on(async {
            support::docker()
                .inspect_image("lst/app:latest")
                .await
                .expect("inspect")
        });
        let layers = local.root_fs.and_then(|r| r.layers).expect("layers");
        let config = skopeo::config(&reg, "lst/app:v1").expect("config");
        assert_eq!(
            config["rootfs"]["diff_ids"],
            serde_json::json!(layers),
            "registry and daemon disagree on the layers"
        );
        assert_eq!(
            skopeo::uncompressed_layer_digests(&reg, "lst/app:v1").expect("layers"),
            layers,
            "a layer does not gunzip to its diffID"
        );
        // The config is the daemon's own: its digest is the image ID.
        let manifest: serde_json::Value =
            serde_json::from_str(&skopeo::raw_manifest(&reg, "lst/app:v1").expect("manifest"))
                .expect("json");
        assert_eq!(manifest["config"]["digest"], local.id.expect("id").as_str());
    };

    let log = run();
    assert!(
        log.contains("layers published from the daemon's layer store"),
        "{log}"
    );
    assert!(!log.contains("published from the export stream"), "{log}");
    assert!(!log.contains("taking the export"), "{log}");
    check();

    std::fs::write(dir.path().join("Dockerfile"), dockerfile(2)).expect("write");
    let uploads = reg.count_requests("PUT", "/lst/app/blobs/uploads/");
    let log = run();
    assert!(
        log.contains("layers published from the daemon's layer store"),
        "{log}"
    );
    // The new layer, the new config and the provenance statement; the base was found in
    // the registry.
    assert_eq!(
        reg.count_requests("PUT", "/lst/app/blobs/uploads/"),
        uploads + 3,
        "{}",
        reg.log()
    );
    check();

    // `--upload-mode monolithic`: each layer is compressed into a spool file, then sent in
    // one PUT (no PATCH), still from the store.
    let other = Registry::plain();
    let log = stderr_of(
        support::slipway()
            .base_image()
            .project(dir.path())
            .images_repo(&other, "lst")
            .arg("--log-debug")
            .env("XDG_CACHE_HOME", dir.path().join("other-cache"))
            .args([
                "publish",
                "--tag-custom",
                "v1",
                "--upload-mode",
                "monolithic",
            ]),
    );
    assert!(
        log.contains("layers published from the daemon's layer store"),
        "{log}"
    );
    assert_eq!(
        other.count_requests("PATCH", "/blobs/uploads/"),
        0,
        "{}",
        other.log()
    );
    let local = support::block_on(async {
        support::docker()
            .inspect_image("lst/app:latest")
            .await
            .expect("inspect")
    });
    assert_eq!(
        Some(skopeo::uncompressed_layer_digests(&other, "lst/app:v1").expect("layers")),
        local.root_fs.and_then(|r| r.layers)
    );
}

/// A layer store whose files are not the image's (here a copy of the daemon's with one
/// file changed, same size) is caught by the diffID check before the upload is committed,
/// and the image is published from the export instead: the registry holds the daemon's
/// image, not the changed file.
#[test]
fn a_layer_store_that_does_not_match_the_image_is_not_published() {
    use sha2::Digest;
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    one_image_project(
        dir.path(),
        "lsb",
        "ARG BASE\nFROM ${BASE}\nRUN head -c 2000000 /dev/urandom > /r\n",
    );
    let slipway = || {
        let mut c = support::slipway();
        c.base_image()
            .project(dir.path())
            .images_repo(&reg, "lsb")
            .arg("--log-debug");
        c
    };
    slipway().arg("build").assert().success();
    let local = support::block_on(async {
        support::docker()
            .inspect_image("lsb/app:latest")
            .await
            .expect("inspect")
    });
    let id = local.id.expect("id");
    let layers = local.root_fs.and_then(|r| r.layers).expect("layers");

    // A copy of the image's part of the daemon's store.
    let real = Path::new("/var/lib/docker");
    let fake = tempfile::tempdir().expect("tmp");
    let copy = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        let ok = std::process::Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(to)
            .status()
            .expect("cp");
        assert!(ok.success(), "cp {}", from.display());
    };
    let content = "image/overlay2/imagedb/content/sha256";
    let hex = id.trim_start_matches("sha256:");
    copy(
        &real.join(content).join(hex),
        &fake.path().join(content).join(hex),
    );
    let mut chain = String::new();
    let mut top_diff = PathBuf::new();
    for d in &layers {
        chain = if chain.is_empty() {
            d.clone()
        } else {
            format!(
                "sha256:{}",
                hex::encode(sha2::Sha256::digest(format!("{chain} {d}").as_bytes()))
            )
        };
        let meta = format!(
            "image/overlay2/layerdb/sha256/{}",
            chain.trim_start_matches("sha256:")
        );
        copy(&real.join(&meta), &fake.path().join(&meta));
        let cache_id =
            std::fs::read_to_string(real.join(&meta).join("cache-id")).expect("cache-id");
        let diff = format!("overlay2/{}/diff", cache_id.trim());
        copy(&real.join(&diff), &fake.path().join(&diff));
        top_diff = fake.path().join(&diff);
    }
    // Same size, other bytes.
    let r = top_diff.join("r");
    let mut bytes = std::fs::read(&r).expect("read");
    bytes[1000] ^= 0xff;
    std::fs::write(&r, &bytes).expect("write");

    let log = stderr_of(slipway().env("SLIPWAY_LAYER_STORE", fake.path()).args([
        "publish",
        "--tag-custom",
        "v1",
    ]));
    assert!(
        log.contains("taking the export") && log.contains("the files read give"),
        "{log}"
    );
    assert!(
        !log.contains("layers published from the daemon's layer store"),
        "{log}"
    );
    assert_eq!(
        skopeo::uncompressed_layer_digests(&reg, "lsb/app:v1").expect("layers"),
        layers
    );
}

/// `--layer-compression zstd` from the daemon's export: every layer zstd in an OCI
/// manifest, the config's diff_ids the daemon's layers.
#[test]
fn publish_with_zstd_layers() {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    support::write_tree(
        dir.path(),
        &[
            (
                "werf.yaml",
                "project: zst\nconfigVersion: 1\n---\nimage: app\nargs:\n  BASE: {{ env \"BASE_IMAGE\" }}\n",
            ),
            (
                "Dockerfile",
                "ARG BASE\nFROM ${BASE}\nRUN head -c 6000000 /dev/urandom > /r && seq 1 200000 > /s\n",
            ),
        ],
    );
    support::slipway()
        .base_image()
        .project(dir.path())
        .images_repo(&reg, "zst")
        .arg("--log-debug")
        .args([
            "build-and-publish",
            "--tag-custom",
            "v1",
            "--layer-compression",
            "zstd",
        ])
        .assert()
        .success();
    let manifest: serde_json::Value =
        serde_json::from_str(&skopeo::raw_manifest(&reg, "zst/app:v1").expect("manifest"))
            .expect("json");
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 2, "{manifest}");
    for l in layers {
        assert_eq!(
            l["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd",
            "{manifest}"
        );
    }
    let local = support::block_on(async {
        support::docker()
            .inspect_image("zst/app:latest")
            .await
            .expect("inspect")
    });
    let config = skopeo::config(&reg, "zst/app:v1").expect("config");
    let pushed: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .expect("diff_ids")
        .iter()
        .map(|v| v.as_str().expect("id").to_string())
        .collect();
    assert_eq!(Some(pushed), local.root_fs.and_then(|r| r.layers));
}

/// A project (`project`) whose image repeats its last layer (one file copied to one path
/// twice: the same bytes, which `docker save` writes once and links the second entry to),
/// built and published from the daemon's layer store (the default here) into `reg`; the
/// digest it got there, checked pullable.
fn repeated_layer_image(dir: &Path, reg: &Registry, project: &str) -> String {
    support::write_tree(dir, &[("same.txt", "the same bytes, twice\n")]);
    one_image_project(
        dir,
        project,
        "ARG BASE\nFROM ${BASE}\nCOPY same.txt /same.txt\nCOPY same.txt /same.txt\n",
    );
    let log = stderr_of(
        support::slipway()
            .base_image()
            .project(dir)
            .images_repo(reg, project)
            .arg("--log-debug")
            .args(["build-and-publish", "--tag-custom", "v1"]),
    );
    assert!(
        log.contains("layers published from the daemon's layer store"),
        "{log}"
    );
    let layers = support::block_on(async {
        support::docker()
            .inspect_image(&format!("{project}/app:latest"))
            .await
            .expect("inspect")
    })
    .root_fs
    .and_then(|r| r.layers)
    .expect("layers");
    let n = layers.len();
    assert!(n >= 3 && layers[n - 1] == layers[n - 2], "{layers:?}");
    skopeo::verify_pullable(reg, &format!("{project}/app:v1")).expect("layer store: pullable");
    skopeo::digest(reg, &format!("{project}/app:v1")).expect("digest")
}

/// That image published again through the daemon's export (`SLIPWAY_LAYER_STORE=off`, as on
/// GitLab's docker:dind) into `reg` (reached at `host`), with a cache of its own so that
/// every layer is sent: the same digest as from the layer store, and it pulls (each layer
/// re-hashed as stored and as its diffID). Its log.
fn publish_by_export(
    dir: &Path,
    project: &str,
    reg: &Registry,
    host: &str,
    extra: &[&str],
    digest: &str,
) -> String {
    let mut c = support::slipway();
    c.base_image()
        .env("XDG_CACHE_HOME", dir.join(format!("cache-{host}")))
        .env("SLIPWAY_LAYER_STORE", "off")
        .arg("--dir")
        .arg(dir)
        .args(["--images-repo", &format!("{host}/{project}")])
        .args(["--insecure-registry", host, "--log-debug"])
        .args(["publish", "--tag-custom", "v1"])
        .args(extra);
    let log = stderr_of(&mut c);
    let reference = format!("{project}/app:v1");
    assert_eq!(
        skopeo::digest(reg, &reference).expect("digest"),
        digest,
        "another digest than the layer store's"
    );
    skopeo::verify_pullable(reg, &reference).expect("pullable");
    log
}

/// Issue 38, 1a: the export streamed straight into uploads publishes a repeated layer as
/// the layer store does (one digest), and the daemon pulls it.
#[test]
fn repeated_layers_streamed_from_the_export_publish_the_layer_store_digest() {
    let dir = tempfile::tempdir().expect("tmp");
    let digest = repeated_layer_image(dir.path(), &Registry::plain(), "rpta");
    let reg = Registry::plain();
    let log = publish_by_export(dir.path(), "rpta", &reg, &reg.host, &[], &digest);
    assert!(log.contains("streamed=true"), "{log}");
    let pulled = format!("{}/rpta/app@{digest}", reg.host);
    let out = std::process::Command::new("docker")
        .args(["pull", "-q", &pulled])
        .output()
        .expect("docker pull");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::process::Command::new("docker")
        .args(["rmi", &pulled])
        .output();
}

/// Issue 38, 1b: the export spooled layer by layer (`--upload-mode monolithic`): the same.
#[test]
fn repeated_layers_spooled_from_the_export_publish_the_layer_store_digest() {
    let dir = tempfile::tempdir().expect("tmp");
    let digest = repeated_layer_image(dir.path(), &Registry::plain(), "rptb");
    let reg = Registry::plain();
    let log = publish_by_export(
        dir.path(),
        "rptb",
        &reg,
        &reg.host,
        &["--upload-mode", "monolithic"],
        &digest,
    );
    assert!(log.contains("streamed=false"), "{log}");
}

/// Issue 38, 1c: the export written to a file and pushed as an archive (a registry that
/// refuses streamed uploads): the same.
#[test]
fn repeated_layers_exported_to_a_file_publish_the_layer_store_digest() {
    use support::fault_proxy::{Fault, FaultProxy, Rule};
    let dir = tempfile::tempdir().expect("tmp");
    let digest = repeated_layer_image(dir.path(), &Registry::plain(), "rptc");
    let reg = Registry::plain();
    let proxy = FaultProxy::start(&reg);
    proxy.add(
        Rule::new(Fault::Status {
            code: 405,
            retry_after: None,
        })
        .method("PATCH"),
    );
    let log = publish_by_export(dir.path(), "rptc", &reg, &proxy.host, &[], &digest);
    assert!(log.contains("exporting to a file first"), "{log}");
}

/// Issue 37: a dry run says so; `publish --dry-run` of an image that is not built prints
/// the plan and the failure the real run would have, and exits 1; once built it plans.
/// A re-tag (the manifest already there under another tag) is "tagged", a re-run
/// "already in registry".
#[test]
fn dry_run_is_named_fails_for_an_unbuilt_image_and_retags_say_tagged() {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    // A signature of its own (the daemon outlives test runs): not built before this run.
    let project = "honest-dry-run";
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    one_image_project(
        dir.path(),
        project,
        &format!("ARG BASE\nFROM $BASE\nRUN echo {nonce} > /marker\n"),
    );
    let out = support::slipway()
        .base_image()
        .project(dir.path())
        .images_repo(&reg, project)
        .arg("--log-debug")
        .args(["publish", "--tag-custom", "v1", "--dry-run"])
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stdout.starts_with("dry run: "), "{stdout}");
    assert!(stdout.contains("image app"), "{stdout}");
    assert!(
        stderr.contains("would fail: app is not built (run `slipway build` first)"),
        "{stderr}"
    );
    // The same with --json: the final object fails, with the plan as its result.
    let out = support::slipway()
        .base_image()
        .project(dir.path())
        .images_repo(&reg, project)
        .arg("--log-debug")
        .args(["--json", "publish", "--tag-custom", "v1", "--dry-run"])
        .assert()
        .code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let last: serde_json::Value =
        serde_json::from_str(text.lines().last().expect("final object")).expect("json");
    assert_eq!(last["ok"], false, "{text}");
    assert!(
        last["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("app is not built")),
        "{text}"
    );
    assert_eq!(last["result"]["images"][0]["name"], "app", "{text}");

    support::slipway()
        .base_image()
        .project(dir.path())
        .images_repo(&reg, project)
        .arg("--log-debug")
        .arg("build")
        .assert()
        .success();
    let out = support::slipway()
        .base_image()
        .project(dir.path())
        .images_repo(&reg, project)
        .arg("--log-debug")
        .args(["publish", "--tag-custom", "v1", "--dry-run"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.starts_with("dry run: "), "{stdout}");
    assert_eq!(reg.count_requests("PUT", ""), 0);

    let summary = |tag: &str| {
        let out = support::slipway()
            .base_image()
            .project(dir.path())
            .images_repo(&reg, project)
            .arg("--log-debug")
            .args(["publish", "--tag-by-content", "--tag-custom", tag])
            .assert()
            .success();
        String::from_utf8_lossy(&out.get_output().stderr).to_string()
    };
    let first = summary("v1");
    assert!(first.contains(" pushed "), "{first}");
    // The content tag holds the manifest now: v2 is a re-tag.
    let retag = summary("v2");
    let row = retag
        .lines()
        .find(|l| l.starts_with("app "))
        .unwrap_or_default()
        .to_string();
    assert!(row.contains(" tagged "), "{retag}");
    assert!(!row.contains("already in registry"), "{retag}");
    let again = summary("v2");
    assert!(again.contains("already in registry"), "{again}");
}

/// `--digest-file "$GITHUB_OUTPUT" --digest-file-append`: the runner's file keeps its
/// earlier lines and its inode (GitHub reads the path it created); each run adds its
/// `KEY=VALUE` lines; without `--digest-file-append` the file is replaced as before.
#[test]
fn digest_file_append_keeps_the_file_and_its_lines() {
    use std::os::unix::fs::MetadataExt;
    let _ = support::base_image();
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    one_image_project(
        dir.path(),
        "ghout",
        "ARG BASE\nFROM ${BASE}\nRUN echo ghout > /ghout\n",
    );
    let out_dir = tempfile::tempdir().expect("tmp");
    let output = out_dir.path().join("github_output");
    std::fs::write(&output, "earlier=kept\n").expect("write");
    let inode = std::fs::metadata(&output).expect("stat").ino();
    for _ in 0..2 {
        support::slipway()
            .base_image()
            .project(dir.path())
            .images_repo(&reg, "ghout")
            .arg("--log-debug")
            .args(["build-and-publish", "--tag-custom", "v1", "--digest-file"])
            .arg(&output)
            .arg("--digest-file-append")
            .assert()
            .success();
    }
    let text = std::fs::read_to_string(&output).expect("read");
    assert_eq!(std::fs::metadata(&output).expect("stat").ino(), inode);
    let digest = skopeo::digest(&reg, "ghout/app:v1").expect("skopeo");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "earlier=kept", "{text}");
    assert!(
        lines[1..].iter().all(|l| l.split_once('=').is_some()),
        "{text}"
    );
    let digests: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("SLIPWAY_DIGEST_APP="))
        .collect();
    assert_eq!(digests, [digest.as_str(); 2], "{text}");
    // The flag needs a file to append to.
    let out = support::slipway()
        .base_image()
        .project(dir.path())
        .images_repo(&reg, "ghout")
        .arg("--log-debug")
        .args(["publish", "--digest-file-append"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("--digest-file"), "{err}");
    // Without the flag: replaced, as GitLab's dotenv artifact wants.
    support::slipway()
        .base_image()
        .project(dir.path())
        .images_repo(&reg, "ghout")
        .arg("--log-debug")
        .args(["build-and-publish", "--tag-custom", "v1", "--digest-file"])
        .arg(&output)
        .assert()
        .success();
    let text = std::fs::read_to_string(&output).expect("read");
    assert!(!text.contains("earlier=kept"), "{text}");
}
