//! `push-archive` against the real registry: docker-save and OCI layouts, re-push without
//! uploads, PATCH refused, TLS + auth, and skopeo as the judge.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::fault_proxy::{Fault, FaultProxy, Rule};
use support::{Registry, skopeo};

/// A 3-layer image (base + 2 RUN layers) saved with `docker save`.
fn three_layer_tarball(dir: &Path, tag: &str) -> PathBuf {
    let base = support::base_image();
    let ctx = dir.join("ctx");
    support::write_tree(
        &ctx,
        &[(
            "Dockerfile",
            &format!(
                "FROM {base}\nRUN echo one > /one\nRUN head -c 300000 /dev/urandom > /two\nCMD [\"cat\", \"/one\"]\n"
            ),
        )],
    );
    let ok = Command::new("docker")
        .args(["build", "-q", "-t", tag])
        .arg(&ctx)
        .status()
        .expect("docker build");
    assert!(ok.success());
    let tar = dir.join("image.tar");
    let ok = Command::new("docker")
        .args(["save", "-o"])
        .arg(&tar)
        .arg(tag)
        .status()
        .expect("docker save");
    assert!(ok.success());
    tar
}

fn push(reg_host: &str, args: &[&str]) -> assert_cmd::assert::Assert {
    support::slipway()
        .args(["--insecure-registry", reg_host, "push-archive"])
        .args(args)
        .env("XDG_CACHE_HOME", tempfile::tempdir().expect("tmp").keep())
        .assert()
}

/// `push-archive` with the layer cache kept in `cache` between runs.
fn push_cached(reg_host: &str, cache: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    support::slipway()
        .args(["--insecure-registry", reg_host, "push-archive"])
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .assert()
}

#[test]
fn dry_run_plans_each_blob_against_the_registry_and_writes_nothing() {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    let cache = dir.path().join("cache");
    let tar = three_layer_tarball(dir.path(), "slipway-test/pa-dry:latest");
    let tar_s = tar.to_string_lossy().to_string();
    let plan = |target: &str| {
        let out =
            push_cached(&reg.host, &cache, &["--json", &tar_s, target, "--dry-run"]).success();
        let r = support::json_result(&out.get_output().stdout);
        r["plans"][0]["blobs"]
            .as_array()
            .unwrap_or_else(|| panic!("no blobs in {r}"))
            .clone()
    };
    // An empty registry: every layer is compressed and uploaded, with its size.
    let first = plan(&format!("{}/team/app:v1", reg.host));
    assert_eq!(first.len(), 3);
    for b in &first {
        assert_eq!(b["action"], "upload");
        assert_eq!(b["compress"], true);
        assert!(b["size"].as_u64().is_some_and(|s| s > 0), "{b}");
        assert!(b["diff_id"].as_str().is_some(), "{b}");
    }
    // The plain text names each step.
    let out = push_cached(
        &reg.host,
        &cache,
        &[&tar_s, &format!("{}/team/app:v1", reg.host), "--dry-run"],
    )
    .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.starts_with("dry run: nothing is pushed\n"), "{text}");
    assert_eq!(text.matches("blob upload layer (").count(), 3, "{text}");
    assert!(
        text.contains(&format!("tag {}/team/app:v1", reg.host)),
        "{text}"
    );
    assert!(skopeo::tags(&reg, "team/app").is_empty());
    assert_eq!(reg.count_requests("POST", "/blobs/uploads/"), 0);

    // Pushed once: the same image planned into the same repository is present, into a
    // sibling repository mounted, each with the digest the registry holds.
    push_cached(
        &reg.host,
        &cache,
        &[&tar_s, &format!("{}/team/app:v1", reg.host)],
    )
    .success();
    let posts = reg.count_requests("POST", "/blobs/uploads/");
    let again = plan(&format!("{}/team/app:v2", reg.host));
    assert!(again.iter().all(|b| b["action"] == "present"), "{again:?}");
    let sibling = plan(&format!("{}/team/other:v1", reg.host));
    for b in &sibling {
        assert_eq!(b["action"], "mount", "{sibling:?}");
        assert_eq!(b["from"], "team/app");
        assert!(
            b["digest"]
                .as_str()
                .is_some_and(|d| d.starts_with("sha256:"))
        );
    }
    assert_eq!(skopeo::tags(&reg, "team/app"), vec!["v1"]);
    assert!(skopeo::tags(&reg, "team/other").is_empty());
    assert_eq!(reg.count_requests("POST", "/blobs/uploads/"), posts);
}

#[test]
fn docker_save_tarball_pushes_and_repush_uploads_nothing() {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    let tar = three_layer_tarball(dir.path(), "slipway-test/pa-three:latest");
    let tar_s = tar.to_string_lossy().to_string();
    let target = format!("{}/team/app:v1", reg.host);
    let digest_file = dir.path().join("build.env");
    let out = push(
        &reg.host,
        &[
            &tar_s,
            &target,
            "--tag",
            "extra",
            "--digest-file",
            &digest_file.to_string_lossy(),
        ],
    )
    .success();
    let printed = String::from_utf8_lossy(&out.get_output().stdout)
        .trim()
        .to_string();
    let digest = skopeo::digest(&reg, "team/app:v1").expect("skopeo v1");
    assert_eq!(printed, format!("{}/team/app@{digest}", reg.host));
    // Not a terminal: a line as each layer starts and ends, with its bytes, then the
    // summary table.
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    for layer in 1..=3 {
        let prefix = format!("{}/team/app | layer {layer}/3", reg.host);
        assert!(err.contains(&format!("{prefix} pushing (")), "{err}");
        assert!(err.contains(&format!("{prefix} uploaded ")), "{err}");
    }
    assert!(err.contains("FILE") && err.contains("UPLOADED"), "{err}");
    assert_eq!(
        skopeo::digest(&reg, "team/app:extra").expect("extra"),
        digest
    );
    let env = std::fs::read_to_string(&digest_file).expect("dotenv");
    assert_eq!(env, format!("DIGEST={digest}\n"));
    let manifest: serde_json::Value =
        serde_json::from_str(&skopeo::raw_manifest(&reg, "team/app:v1").expect("raw"))
            .expect("json");
    assert_eq!(manifest["layers"].as_array().map(Vec::len), Some(3));

    // The image runs when pulled through the daemon.
    let pulled = format!("{}/team/app@{digest}", reg.host);
    assert!(
        Command::new("docker")
            .args(["pull", "-q", &pulled])
            .status()
            .expect("pull")
            .success()
    );
    let run = Command::new("docker")
        .args(["run", "--rm", &pulled])
        .output()
        .expect("run");
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "one");
    let _ = Command::new("docker").args(["rmi", &pulled]).output();

    // Same tarball again (fresh local cache): every blob is already there.
    let uploads_before = reg.count_requests("PUT", "/blobs/uploads/");
    push(&reg.host, &[&tar_s, &target]).success();
    assert_eq!(reg.count_requests("PUT", "/blobs/uploads/"), uploads_before);
    assert_eq!(skopeo::digest(&reg, "team/app:v1").expect("v1"), digest);
}

#[test]
fn oci_layout_pushes_with_its_digest() {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    let tar = three_layer_tarball(dir.path(), "slipway-test/pa-oci:latest");
    let layout = dir.path().join("layout");
    let ok = Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("docker-archive:{}", tar.display()))
        .arg(format!("oci:{}:v1", layout.display()))
        .status()
        .expect("skopeo");
    assert!(ok.success());
    let target = format!("{}/oci/app:v1", reg.host);
    let out = push(&reg.host, &[&layout.to_string_lossy(), &target]).success();
    let printed = String::from_utf8_lossy(&out.get_output().stdout)
        .trim()
        .to_string();
    let digest = skopeo::digest(&reg, "oci/app:v1").expect("skopeo");
    assert_eq!(printed, format!("{}/oci/app@{digest}", reg.host));
    let raw: serde_json::Value =
        serde_json::from_str(&skopeo::raw_manifest(&reg, "oci/app:v1").expect("raw"))
            .expect("json");
    assert_eq!(
        raw["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
}

/// `push-archive --upload-mode chunked` through a proxy that does `fault` to every PATCH:
/// chunked is tried first, and the image still arrives whole.
fn chunked_push_survives_a_patch_fault(fault: Fault, name: &str) {
    let reg = Registry::plain();
    let proxy = FaultProxy::start(&reg);
    proxy.add(Rule::new(fault).method("PATCH"));
    let dir = tempfile::tempdir().expect("tmp");
    let tar = three_layer_tarball(dir.path(), &format!("slipway-test/pa-{name}:latest"));
    let target = format!("{}/{name}/app:v1", proxy.host);
    push(
        &proxy.host,
        &[&tar.to_string_lossy(), &target, "--upload-mode", "chunked"],
    )
    .success();
    assert!(
        proxy.count("PATCH", "/blobs/uploads/") >= 1,
        "chunked was tried first"
    );
    assert!(skopeo::digest(&reg, &format!("{name}/app:v1")).is_ok());
}

#[test]
fn refused_patch_falls_back_to_monolithic_upload() {
    chunked_push_survives_a_patch_fault(
        Fault::Status {
            code: 405,
            retry_after: None,
        },
        "patch",
    );
}

#[test]
fn patch_cut_off_mid_body_falls_back_to_monolithic_upload() {
    // A registry that refuses PATCH by answering before it reads the body and closing looks,
    // to the client, like a connection broken mid-body: the blob goes up in one request.
    chunked_push_survives_a_patch_fault(Fault::ResetAfterBodyBytes(1), "cut");
}

#[test]
fn tls_registry_with_credentials_from_docker_config() {
    let reg = Registry::tls_auth();
    let dir = tempfile::tempdir().expect("tmp");
    let tar = three_layer_tarball(dir.path(), "slipway-test/pa-tls:latest");
    let target = format!("{}/secure/app:v1", reg.host);
    let cfg = reg.docker_config_dir();
    let out = support::slipway()
        .args(["push-archive"])
        .arg(&tar)
        .arg(&target)
        .env("DOCKER_CONFIG", cfg.path())
        .env("XDG_CACHE_HOME", dir.path())
        .assert()
        .success();
    let printed = String::from_utf8_lossy(&out.get_output().stdout)
        .trim()
        .to_string();
    let digest = skopeo::digest(&reg, "secure/app:v1").expect("skopeo");
    assert!(printed.ends_with(&digest));

    // Wrong password: clear error naming registry and source, secret never shown.
    let bad = tempfile::tempdir().expect("tmp");
    let auth = base64_auth("slipway", "WrongPassw0rd-xyz");
    std::fs::write(
        bad.path().join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, reg.host),
    )
    .expect("write");
    let out = support::slipway()
        .args(["--log-level", "trace", "push-archive"])
        .arg(&tar)
        .arg(format!("{}/secure/app:v2", reg.host))
        .env("DOCKER_CONFIG", bad.path())
        .assert()
        .code(1);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.get_output().stdout),
        String::from_utf8_lossy(&out.get_output().stderr)
    );
    assert!(
        all.contains(&reg.host) && all.contains("refused the credentials"),
        "{all}"
    );
    assert!(all.contains("config.json"), "{all}");
    assert!(
        !all.contains("WrongPassw0rd-xyz") && !all.contains(&auth),
        "secret leaked: {all}"
    );
    assert!(skopeo::digest(&reg, "secure/app:v2").is_err());
}

/// The harness checks every image a test leaves in a registry when the registry is dropped:
/// a layer whose bytes were changed in the registry's storage fails the test.
#[test]
fn a_registry_left_holding_an_image_that_does_not_pull_fails_its_test() {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    let tar = three_layer_tarball(dir.path(), "slipway-test/pa-broken:latest");
    push(
        &reg.host,
        &[
            tar.to_str().expect("path"),
            &format!("{}/broken/app:v1", reg.host),
        ],
    )
    .success();
    let manifest: serde_json::Value =
        serde_json::from_str(&skopeo::raw_manifest(&reg, "broken/app:v1").expect("manifest"))
            .expect("json");
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .expect("layer")
        .trim_start_matches("sha256:")
        .to_string();
    let data = reg
        .storage()
        .join("docker/registry/v2/blobs/sha256")
        .join(&layer[..2])
        .join(&layer)
        .join("data");
    let len = std::fs::metadata(&data).expect("blob").len();
    std::fs::write(&data, vec![0u8; len as usize]).expect("overwrite");
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(reg)));
    let msg = dropped
        .expect_err("the drop check must fail")
        .downcast::<String>()
        .map(|s| *s)
        .unwrap_or_default();
    assert!(
        msg.contains("do not pull whole") && msg.contains("broken/app:v1"),
        "{msg}"
    );
}

/// `--registry-password-stdin` reads the password as `docker login --password-stdin` does;
/// `--registry-password` on the command line still works but warns that any user of the
/// machine can read it there. Neither ever prints it.
#[test]
fn registry_password_from_stdin_and_a_warning_for_argv() {
    let reg = Registry::plain_auth();
    let (user, password) = reg.creds.clone().expect("auth registry");
    let dir = tempfile::tempdir().expect("tmp");
    let tar = three_layer_tarball(dir.path(), "slipway-test/pa-stdin:latest");
    let run = |tag: &str| {
        let mut c = support::slipway();
        c.args(["--registry-username", &user, "push-archive"])
            .arg(&tar)
            .arg(format!("{}/stdin/app:{tag}", reg.host))
            .env("XDG_CACHE_HOME", dir.path());
        c
    };
    let out = run("v1")
        .arg("--registry-password-stdin")
        .write_stdin(format!("{password}\n"))
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(!err.contains("/proc/PID/cmdline"), "{err}");
    assert!(skopeo::digest(&reg, "stdin/app:v1").is_ok());
    let out = run("v2")
        .args(["--registry-password", &password])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("--registry-password on the command line") && !err.contains(&password),
        "{err}"
    );
    // Nothing on standard input: a clear error, nothing pushed.
    let out = run("v3")
        .arg("--registry-password-stdin")
        .write_stdin("")
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("standard input held no password"), "{err}");
    assert!(skopeo::digest(&reg, "stdin/app:v3").is_err());
}

#[test]
fn unknown_ca_is_a_clear_error() {
    let reg = Registry::tls_auth();
    let dir = tempfile::tempdir().expect("tmp");
    let tar = three_layer_tarball(dir.path(), "slipway-test/pa-ca:latest");
    // Hide the CA from slipway: point it at an empty certs dir via a different host alias.
    let target = format!(
        "localhost:{}/x/app:v1",
        reg.host.rsplit(':').next().expect("port")
    );
    let out = support::slipway()
        .args(["push-archive"])
        .arg(&tar)
        .arg(&target)
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("TLS with registry localhost:"), "{err}");
}

#[test]
fn bad_archives_fail_without_pushing() {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    let tar = three_layer_tarball(dir.path(), "slipway-test/pa-bad:latest");
    let bytes = std::fs::read(&tar).expect("read");
    let truncated = dir.path().join("truncated.tar");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    let garbage = dir.path().join("garbage.tar");
    std::fs::write(&garbage, b"this is not a tarball at all").expect("write");
    let evil = dir.path().join("evil.tar");
    std::fs::write(&evil, evil_tar()).expect("write");
    for (f, want) in [
        (&truncated, "truncated"),
        (&garbage, "not a docker-save"),
        (&evil, "unsafe path"),
    ] {
        let out = push(
            &reg.host,
            &[&f.to_string_lossy(), &format!("{}/bad/app:v1", reg.host)],
        )
        .code(1);
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(err.contains(want), "{}: {err}", f.display());
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(reg.count_requests("PUT", "/manifests/"), 0);
    push(&reg.host, &[&tar.to_string_lossy(), "Bad//Ref"]).code(1);
}

fn evil_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let data = b"[]";
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    // tar::Builder refuses `..` in paths; write the name bytes directly.
    let name = b"../../etc/manifest.json";
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_cksum();
    b.append(&h, &data[..]).expect("append");
    b.into_inner().expect("tar")
}

fn base64_auth(u: &str, p: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
}

/// `--layer-compression zstd`: zstd layers in an OCI manifest, the config's diff_ids
/// unchanged, and what skopeo pulls back decompresses to the daemon's layer tars.
#[test]
fn zstd_layers_in_an_oci_manifest_pull_back_to_the_same_tars() {
    use sha2::Digest;
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    let tag = "slipway-test/pa-zstd:latest";
    let tar = three_layer_tarball(dir.path(), tag);
    let target = format!("{}/team/z:v1", reg.host);
    push(
        &reg.host,
        &[
            &tar.to_string_lossy(),
            &target,
            "--layer-compression",
            "zstd",
        ],
    )
    .success();
    let manifest: serde_json::Value =
        serde_json::from_str(&skopeo::raw_manifest(&reg, "team/z:v1").expect("manifest"))
            .expect("json");
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 3);
    for l in layers {
        assert_eq!(
            l["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd",
            "{manifest}"
        );
    }
    // The config is the daemon's: its diff_ids are the uncompressed layers.
    let local =
        support::block_on(async { support::docker().inspect_image(tag).await.expect("inspect") });
    let diff_ids: Vec<String> =
        skopeo::config(&reg, "team/z:v1").expect("config")["rootfs"]["diff_ids"]
            .as_array()
            .expect("diff_ids")
            .iter()
            .map(|v| v.as_str().expect("id").to_string())
            .collect();
    assert_eq!(Some(diff_ids.clone()), local.root_fs.and_then(|r| r.layers));
    // Pulled back by skopeo: every layer decompresses to the tar its diff_id names.
    let pulled = dir.path().join("pulled");
    let out = Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{target}"))
        .arg(format!("dir:{}", pulled.display()))
        .output()
        .expect("skopeo copy");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (l, diff_id) in layers.iter().zip(&diff_ids) {
        let digest = l["digest"].as_str().expect("digest");
        let blob =
            std::fs::read(pulled.join(digest.trim_start_matches("sha256:"))).expect("pulled layer");
        assert_eq!(&blob[..4], &[0x28, 0xb5, 0x2f, 0xfd], "a zstd frame");
        let tar = zstd::stream::decode_all(&blob[..]).expect("zstd -d");
        assert_eq!(
            format!("sha256:{}", hex::encode(sha2::Sha256::digest(&tar))),
            *diff_id
        );
    }
}

/// An image whose last two layers are the same bytes (one file copied to one path twice),
/// saved with `docker save`, which writes the repeated layer once and makes the other
/// entry a symlink to it (checked here, or the test would prove nothing).
fn repeated_layer_tarball(dir: &Path, tag: &str) -> PathBuf {
    let base = support::base_image();
    let ctx = dir.join("ctx");
    support::write_tree(
        &ctx,
        &[
            (
                "Dockerfile",
                &format!("FROM {base}\nCOPY same.txt /same.txt\nCOPY same.txt /same.txt\n"),
            ),
            ("same.txt", "the same bytes, twice\n"),
        ],
    );
    let ok = Command::new("docker")
        .args(["build", "-q", "-t", tag])
        .arg(&ctx)
        .status()
        .expect("docker build");
    assert!(ok.success());
    let tar = dir.join("repeated.tar");
    let ok = Command::new("docker")
        .args(["save", "-o"])
        .arg(&tar)
        .arg(tag)
        .status()
        .expect("docker save");
    assert!(ok.success());
    let mut archive = tar::Archive::new(std::fs::File::open(&tar).expect("open"));
    let linked = archive.entries().expect("entries").any(|e| {
        let e = e.expect("entry");
        e.header().entry_type().is_symlink()
            && e.path()
                .expect("path")
                .to_string_lossy()
                .ends_with("/layer.tar")
    });
    assert!(linked, "docker save wrote no symlinked layer entry");
    tar
}

/// `tar` (a docker save) copied by skopeo into an OCI layout directory.
fn oci_layout(dir: &Path, tar: &Path, name: &str) -> PathBuf {
    let layout = dir.join(name);
    let ok = Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("docker-archive:{}", tar.display()))
        .arg(format!("oci:{}:v1", layout.display()))
        .status()
        .expect("skopeo");
    assert!(ok.success());
    layout
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// The layout's (only) manifest: its digest and its JSON.
fn layout_manifest(layout: &Path) -> (String, serde_json::Value) {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index"))
            .expect("json");
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    let m = serde_json::from_slice(&std::fs::read(blob_path(layout, &digest)).expect("manifest"))
        .expect("json");
    (digest, m)
}

/// Layer `n` (0-based) of the layout replaced by `bytes`, its manifest (and index) naming
/// the new blob by its true digest; the config, and so the diffID, stays as it was.
fn replace_layer(layout: &Path, n: usize, bytes: &[u8]) {
    let (_, mut m) = layout_manifest(layout);
    let digest = sha256(bytes);
    std::fs::write(blob_path(layout, &digest), bytes).expect("write blob");
    m["layers"][n]["digest"] = digest.into();
    m["layers"][n]["size"] = bytes.len().into();
    let body = serde_json::to_vec(&m).expect("json");
    let md = sha256(&body);
    std::fs::write(blob_path(layout, &md), &body).expect("write manifest");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index"))
            .expect("json");
    index["manifests"][0]["digest"] = md.into();
    index["manifests"][0]["size"] = body.len().into();
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).expect("json"),
    )
    .expect("write index");
}

/// A small, valid layer tar that is not the image's.
fn other_layer_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let data = b"not the layer the config names\n";
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "substituted.txt", &data[..])
        .expect("append");
    b.into_inner().expect("tar")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).expect("gz");
    gz.finish().expect("gz")
}

/// A failed push-archive: exit 1, the layer named, no panic, no manifest PUT.
fn refused(reg: &Registry, file: &Path, repo: &str, want: &[&str]) {
    let manifests = reg.count_requests("PUT", "/manifests/");
    let out = push(
        &reg.host,
        &[&file.to_string_lossy(), &format!("{}/{repo}:v1", reg.host)],
    )
    .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    eprintln!("{repo}: {err}");
    for w in want {
        assert!(err.contains(w), "{w:?} not in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        reg.count_requests("PUT", "/manifests/"),
        manifests,
        "a manifest was PUT"
    );
    assert!(skopeo::tags(reg, repo).is_empty());
}

/// Issue 38, 3a: a normal `docker save` whose repeated layer is a symlink entry pushes (as
/// skopeo pushes it), both copies of the layer being the first one's blob, and pulls.
#[test]
fn docker_save_with_a_symlinked_repeated_layer_pushes_and_pulls() {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    let tar = repeated_layer_tarball(dir.path(), "slipway-test/pa-repeat:latest");
    push(
        &reg.host,
        &[&tar.to_string_lossy(), &format!("{}/rep/app:v1", reg.host)],
    )
    .success();
    let layers = skopeo::verify_pullable(&reg, "rep/app:v1").expect("pullable");
    assert_eq!(layers.len(), 3, "{layers:?}");
    assert_eq!(layers[1], layers[2], "the repeated layer is one blob");
    // skopeo's push of the same tarball names the same layers (diffIDs).
    let theirs = Registry::plain();
    let ok = Command::new("skopeo")
        .args(["copy", "-q", "--dest-tls-verify=false"])
        .arg(format!("docker-archive:{}", tar.display()))
        .arg(format!("docker://{}/rep/app:v1", theirs.host))
        .status()
        .expect("skopeo");
    assert!(ok.success());
    assert_eq!(
        skopeo::config(&reg, "rep/app:v1").expect("ours")["rootfs"],
        skopeo::config(&theirs, "rep/app:v1").expect("theirs")["rootfs"]
    );
}

/// Issue 38, 3b: an OCI layout's manifest and config go up byte for byte: the registry's
/// digest is the layout's, and its manifest bytes are the layout's blob.
#[test]
fn oci_layout_manifest_is_pushed_byte_for_byte() {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    let tar = repeated_layer_tarball(dir.path(), "slipway-test/pa-bytes:latest");
    let layout = oci_layout(dir.path(), &tar, "layout");
    let (digest, m) = layout_manifest(&layout);
    push(
        &reg.host,
        &[
            &layout.to_string_lossy(),
            &format!("{}/oci/bytes:v1", reg.host),
        ],
    )
    .success();
    assert_eq!(
        skopeo::digest(&reg, "oci/bytes:v1").expect("digest"),
        digest
    );
    let raw = skopeo::raw_manifest(&reg, "oci/bytes:v1").expect("raw");
    assert_eq!(
        raw.as_bytes(),
        std::fs::read(blob_path(&layout, &digest)).expect("blob")
    );
    let config_digest = m["config"]["digest"].as_str().expect("config");
    assert_eq!(
        sha256(
            skopeo::raw_config(&reg, "oci/bytes:v1")
                .expect("config")
                .as_bytes()
        ),
        config_digest
    );
    skopeo::verify_pullable(&reg, "oci/bytes:v1").expect("pullable");
}

/// An OCI layout of a 3-layer image with layer `n` replaced by `f(its bytes)` (its
/// manifest naming the new blob by its true digest, so a registry would take it; the
/// config, and so the diffID, as it was), refused with `want` in the error; the untouched
/// layout pushes and pulls.
fn oci_layer_replaced_is_refused(
    name: &str,
    n: usize,
    f: impl Fn(&[u8]) -> Vec<u8>,
    want: &[&str],
) {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    let tar = three_layer_tarball(dir.path(), &format!("slipway-test/pa-{name}:latest"));
    let layout = oci_layout(dir.path(), &tar, "changed");
    let (_, m) = layout_manifest(&layout);
    let d = m["layers"][n]["digest"].as_str().expect("digest");
    let bytes = f(&std::fs::read(blob_path(&layout, d)).expect("layer"));
    replace_layer(&layout, n, &bytes);
    let mut want = want.to_vec();
    let digest = sha256(&bytes);
    want.push(&digest);
    refused(&reg, &layout, &format!("{name}/app"), &want);
    let fine = oci_layout(dir.path(), &tar, "fine");
    push(
        &reg.host,
        &[
            &fine.to_string_lossy(),
            &format!("{}/fine/app:v1", reg.host),
        ],
    )
    .success();
    skopeo::verify_pullable(&reg, "fine/app:v1").expect("pullable");
}

/// Issue 38, 2a: an OCI layout layer cut in half (the big random one) is refused, named,
/// nothing tagged.
#[test]
fn oci_layout_truncated_layer_is_refused() {
    oci_layer_replaced_is_refused("trunc", 2, |b| b[..b.len() / 2].to_vec(), &["layer 3"]);
}

/// Issue 38, 2b: an OCI layout layer substituted by another valid gzip layer is refused,
/// named, nothing tagged.
#[test]
fn oci_layout_substituted_layer_is_refused() {
    oci_layer_replaced_is_refused(
        "subst",
        1,
        |_| gzip(&other_layer_tar()),
        &["layer 2", "the image config names"],
    );
}

/// `tar` (a docker save) rewritten with layer entry `n` (in manifest.json's order)
/// replaced by `f(its bytes)`.
fn rewrite_save(tar: &Path, out: &Path, n: usize, f: impl Fn(&[u8]) -> Vec<u8>) {
    use std::io::Read;
    let mut manifest = Vec::new();
    let mut a = tar::Archive::new(std::fs::File::open(tar).expect("open"));
    for e in a.entries().expect("entries") {
        let mut e = e.expect("entry");
        if e.path().expect("path").to_string_lossy() == "manifest.json" {
            e.read_to_end(&mut manifest).expect("read");
        }
    }
    let m: serde_json::Value = serde_json::from_slice(&manifest).expect("json");
    let target = m[0]["Layers"][n].as_str().expect("layer").to_string();
    let mut b = tar::Builder::new(std::fs::File::create(out).expect("create"));
    let mut a = tar::Archive::new(std::fs::File::open(tar).expect("open"));
    for e in a.entries().expect("entries") {
        let mut e = e.expect("entry");
        let path = e.path().expect("path").to_string_lossy().to_string();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read");
        if path == target {
            data = f(&data);
        }
        let mut h = e.header().clone();
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append_data(&mut h, &path, &data[..]).expect("append");
    }
    b.finish().expect("finish");
}

/// Issue 38, 2c: a docker-save layer stored gzipped is pushed as it is only when it
/// gunzips to its diffID: the true layer gzipped pushes and pulls; another layer gzipped
/// in its place is refused, named, nothing tagged.
#[test]
fn docker_save_gzip_layers_are_checked_against_their_diff_ids() {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    let tar = three_layer_tarball(dir.path(), "slipway-test/pa-gzsave:latest");
    let good = dir.path().join("good.tar");
    rewrite_save(&tar, &good, 1, gzip);
    push(
        &reg.host,
        &[&good.to_string_lossy(), &format!("{}/gz/good:v1", reg.host)],
    )
    .success();
    skopeo::verify_pullable(&reg, "gz/good:v1").expect("pullable");
    let bad = dir.path().join("bad.tar");
    rewrite_save(&tar, &bad, 1, |_| gzip(&other_layer_tar()));
    refused(&reg, &bad, "gz/bad", &["layer 2", "the image config names"]);
}

/// Issue 38, 4a: in an OCI layout directory a blob symlinked outside the layout is an
/// error naming it, and nothing is read or sent; a symlink inside the layout is followed.
#[test]
fn oci_layout_blob_symlinked_outside_is_refused() {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    let tar = three_layer_tarball(dir.path(), "slipway-test/pa-symlink:latest");
    let (_, m) = layout_manifest(&oci_layout(dir.path(), &tar, "probe"));
    let layer = m["layers"][1]["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    let hex = layer.trim_start_matches("sha256:").to_string();

    let outside = oci_layout(dir.path(), &tar, "outside");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    std::fs::rename(blob_path(&outside, &layer), elsewhere.join(&hex)).expect("move");
    std::os::unix::fs::symlink(elsewhere.join(&hex), blob_path(&outside, &layer)).expect("symlink");
    let posts = reg.count_requests("POST", "/blobs/uploads/");
    refused(
        &reg,
        &outside,
        "out/app",
        &[&format!("blobs/sha256/{hex}"), "outside the layout"],
    );
    assert_eq!(
        reg.count_requests("POST", "/blobs/uploads/"),
        posts,
        "a blob was sent"
    );

    // Inside the layout: followed.
    let inside = oci_layout(dir.path(), &tar, "inside");
    std::fs::create_dir_all(inside.join("moved")).expect("mkdir");
    std::fs::rename(blob_path(&inside, &layer), inside.join("moved").join(&hex)).expect("move");
    std::os::unix::fs::symlink(format!("../../moved/{hex}"), blob_path(&inside, &layer))
        .expect("symlink");
    push(
        &reg.host,
        &[
            &inside.to_string_lossy(),
            &format!("{}/in/app:v1", reg.host),
        ],
    )
    .success();
    skopeo::verify_pullable(&reg, "in/app:v1").expect("pullable");
}

/// Issue 38, 4b: in a tarred OCI layout a blob entry that links outside the archive is an
/// error naming the entry (never a file of this machine).
#[test]
fn oci_tar_blob_linked_outside_is_refused() {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    let tar = three_layer_tarball(dir.path(), "slipway-test/pa-tarlink:latest");
    let layout = oci_layout(dir.path(), &tar, "layout");
    let (_, m) = layout_manifest(&layout);
    let layer = m["layers"][1]["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    let entry = format!("blobs/sha256/{}", layer.trim_start_matches("sha256:"));
    let out = dir.path().join("layout.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&out).expect("create"));
    for name in ["oci-layout", "index.json"] {
        b.append_path_with_name(layout.join(name), name)
            .expect("append");
    }
    for e in std::fs::read_dir(layout.join("blobs/sha256")).expect("blobs") {
        let e = e.expect("entry");
        let name = format!("blobs/sha256/{}", e.file_name().to_string_lossy());
        if name == entry {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_mode(0o777);
            b.append_link(&mut h, &name, "../../../../../../etc/passwd")
                .expect("link");
        } else {
            b.append_path_with_name(e.path(), &name).expect("append");
        }
    }
    b.finish().expect("finish");
    drop(b);
    refused(&reg, &out, "tarlink/app", &[&entry, "outside the archive"]);
}

/// Issue 38, 3c: a registry that refuses an OCI layout's manifest as it is gets an error
/// saying so; the manifest is never rewritten into one it would take.
#[test]
fn a_refused_oci_layout_manifest_is_an_error_not_a_rewrite() {
    let reg = Registry::plain();
    let proxy = FaultProxy::start(&reg);
    proxy.add(
        Rule::new(Fault::Status {
            code: 400,
            retry_after: None,
        })
        .method("PUT")
        .path("/manifests/"),
    );
    let dir = tempfile::tempdir().expect("tmp");
    let tar = three_layer_tarball(dir.path(), "slipway-test/pa-refused:latest");
    let layout = oci_layout(dir.path(), &tar, "layout");
    let (digest, _) = layout_manifest(&layout);
    let out = push(
        &proxy.host,
        &[
            &layout.to_string_lossy(),
            &format!("{}/refused/app:v1", proxy.host),
        ],
    )
    .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    eprintln!("{err}");
    assert!(
        err.contains(&format!("refused the manifest {digest} as it is")),
        "{err}"
    );
    assert!(err.contains("byte for byte"), "{err}");
    assert!(proxy.count("PUT", "/manifests/") >= 1);
    assert!(skopeo::tags(&reg, "refused/app").is_empty());
}
