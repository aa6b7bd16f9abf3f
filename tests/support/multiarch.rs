//! A two-platform base image (issue 34): BuildKit 20.10 will not take a local image of
//! another platform for `FROM` (it asks Docker Hub), so multi-platform tests build FROM an
//! index in the test's own registry: linux/amd64 and linux/arm64, each a busybox from
//! Debian's busybox-static (the arm64 one unpacked by scripts/setup), made here as an OCI
//! layout and copied in by skopeo.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use sha2::Digest;

use super::Registry;

/// Where scripts/setup unpacks Debian's busybox-static:arm64.
pub const ARM64_BUSYBOX: &str = "/opt/slipway-arm64/bin/busybox";

fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
}

/// Write `bytes` as a blob of the layout; returns its descriptor fields.
fn blob(layout: &Path, bytes: &[u8]) -> (String, usize) {
    let d = sha(bytes);
    let path = layout
        .join("blobs/sha256")
        .join(d.trim_start_matches("sha256:"));
    std::fs::write(path, bytes).expect("write blob");
    (d, bytes.len())
}

/// A busybox root filesystem as one uncompressed tar: `/bin/busybox`, its applets as
/// symlinks, `/etc/passwd`, `/tmp`.
fn rootfs(busybox: &Path) -> Vec<u8> {
    let list = Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .expect("busybox --list");
    let applets = String::from_utf8_lossy(&list.stdout).to_string();
    let mut t = tar::Builder::new(Vec::new());
    let dir = |t: &mut tar::Builder<Vec<u8>>, p: &str, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        h.set_mtime(0);
        t.append_data(&mut h, p, std::io::empty()).expect("dir");
    };
    let file = |t: &mut tar::Builder<Vec<u8>>, p: &str, mode: u32, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        t.append_data(&mut h, p, data).expect("file");
    };
    for (d, mode) in [
        ("bin", 0o755),
        ("etc", 0o755),
        ("root", 0o700),
        ("tmp", 0o1777),
    ] {
        dir(&mut t, d, mode);
    }
    file(
        &mut t,
        "bin/busybox",
        0o755,
        &std::fs::read(busybox).expect("read busybox (run scripts/setup)"),
    );
    for a in applets.lines().filter(|a| !a.is_empty() && *a != "busybox") {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(0);
        t.append_link(&mut h, format!("bin/{a}"), "busybox")
            .expect("symlink");
    }
    file(
        &mut t,
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\n",
    );
    file(&mut t, "etc/group", 0o644, b"root:x:0:\n");
    t.into_inner().expect("tar")
}

/// One platform's image in the layout; returns its manifest descriptor.
fn image(layout: &Path, busybox: &Path, arch: &str) -> serde_json::Value {
    let tar = rootfs(busybox);
    let diff_id = sha(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("gzip");
    let (layer, layer_size) = blob(layout, &gz.finish().expect("gzip"));
    let config = serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"]
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]}
    });
    let (cfg, cfg_size) = blob(layout, &serde_json::to_vec(&config).expect("json"));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": cfg_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": layer_size}]
    });
    let (m, m_size) = blob(layout, &serde_json::to_vec(&manifest).expect("json"));
    serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": m,
        "size": m_size,
        "platform": {"architecture": arch, "os": "linux"}
    })
}

/// Push a linux/amd64 + linux/arm64 busybox index to `reg` as `repo:latest`; returns the
/// reference to write after `FROM`.
pub fn two_platform_base(reg: &Registry, repo: &str) -> String {
    let dir = tempfile::tempdir().expect("tmp");
    let layout = dir.path();
    std::fs::create_dir_all(layout.join("blobs/sha256")).expect("mkdir");
    let amd64 = image(layout, Path::new("/bin/busybox"), "amd64");
    let arm64 = image(layout, Path::new(ARM64_BUSYBOX), "arm64");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [amd64, arm64]
    });
    let (d, size) = blob(layout, &serde_json::to_vec(&index).expect("json"));
    let top = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": d, "size": size,
            "annotations": {"org.opencontainers.image.ref.name": "latest"}}]
    });
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&top).expect("json"),
    )
    .expect("index.json");
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");
    let reference = format!("{}/{repo}:latest", reg.host);
    let out = Command::new("skopeo")
        .args(["copy", "-q", "--all", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:latest", layout.display()))
        .arg(format!("docker://{reference}"))
        .output()
        .expect("skopeo");
    assert!(
        out.status.success(),
        "skopeo copy of the two-platform base: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    reference
}
