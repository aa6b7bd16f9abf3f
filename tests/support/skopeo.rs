//! skopeo tells independently what a registry holds.

use std::process::Command;

use super::Registry;

fn base(reg: &Registry, verb: &str) -> Command {
    let mut c = Command::new("skopeo");
    c.arg(verb);
    // A registry serving a test's own certificate (`Registry::serving`) has no CA here:
    // what skopeo trusts is not what such a test checks.
    let ca = reg.ca_cert.as_ref().filter(|_| reg.tls);
    if let Some(ca) = ca {
        let ca_dir = ca.parent().expect("TLS registry has a CA").to_path_buf();
        // skopeo reads *.crt in --cert-dir as CAs; give it a folder with only the CA.
        let only_ca = ca_dir.join("skopeo-certs");
        std::fs::create_dir_all(&only_ca).expect("mkdir");
        std::fs::copy(ca, only_ca.join("ca.crt")).expect("copy ca");
        c.arg("--cert-dir").arg(only_ca);
    } else {
        c.arg("--tls-verify=false");
        if let Some(d) = &reg.client_cert_dir {
            c.arg("--cert-dir").arg(d);
        }
    }
    if let Some((u, p)) = &reg.creds {
        c.arg("--creds").arg(format!("{u}:{p}"));
    }
    c
}

fn run(mut c: Command) -> Result<String, String> {
    let out = c.output().map_err(|e| format!("skopeo missing: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

/// The manifest digest the registry serves for `repo:tag` (or `repo@digest`).
pub fn digest(reg: &Registry, reference: &str) -> Result<String, String> {
    let mut c = base(reg, "inspect");
    c.args(["--format", "{{.Digest}}"])
        .arg(format!("docker://{}/{reference}", reg.host));
    run(c).map(|s| s.trim().to_string())
}

/// The raw manifest bytes for `repo:tag`.
pub fn raw_manifest(reg: &Registry, reference: &str) -> Result<String, String> {
    let mut c = base(reg, "inspect");
    c.arg("--raw")
        .arg(format!("docker://{}/{reference}", reg.host));
    run(c)
}

/// The image config (`skopeo inspect --config`) as JSON.
pub fn config(reg: &Registry, reference: &str) -> Result<serde_json::Value, String> {
    let mut c = base(reg, "inspect");
    c.arg("--config")
        .arg(format!("docker://{}/{reference}", reg.host));
    run(c).and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
}

/// The image config's raw bytes (`--config --raw`: fields skopeo's types do not know,
/// such as BuildKit's inline cache, kept).
pub fn raw_config(reg: &Registry, reference: &str) -> Result<String, String> {
    let mut c = base(reg, "inspect");
    c.args(["--config", "--raw"])
        .arg(format!("docker://{}/{reference}", reg.host));
    run(c)
}

/// Tags of `repo`, sorted; an unknown repository gives an empty list.
pub fn tags(reg: &Registry, repo: &str) -> Vec<String> {
    let mut c = base(reg, "list-tags");
    c.arg(format!("docker://{}/{repo}", reg.host));
    match run(c) {
        Ok(s) => {
            let v: serde_json::Value = serde_json::from_str(&s).expect("skopeo list-tags json");
            let mut t: Vec<String> = v["Tags"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            t.sort();
            t
        }
        Err(e)
            if e.contains("NAME_UNKNOWN")
                || e.contains("not found")
                || e.contains("name unknown")
                || e.contains("not known")
                || e.contains("404") =>
        {
            Vec::new()
        }
        Err(e) => panic!("skopeo list-tags {repo}: {e}"),
    }
}

/// The sha256 of each layer of `repo:tag` as the registry serves it, uncompressed (what a
/// runtime checks against the config's diff_ids): copied out by skopeo, gunzipped here (every member: Slipway writes one per 1 MiB block).
pub fn uncompressed_layer_digests(reg: &Registry, reference: &str) -> Result<Vec<String>, String> {
    use sha2::Digest;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    // `copy` spells its options per side, so `base` does not fit.
    if reg.tls {
        return Err("only plain registries here".into());
    }
    let mut c = Command::new("skopeo");
    c.args(["copy", "--src-tls-verify=false"]);
    if let Some((u, p)) = &reg.creds {
        c.arg("--src-creds").arg(format!("{u}:{p}"));
    }
    c.args(["-q", &format!("docker://{}/{reference}", reg.host)])
        .arg(format!("dir:{}", dir.path().display()));
    run(c)?;
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("manifest.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for layer in manifest["layers"].as_array().ok_or("no layers")? {
        let digest = layer["digest"].as_str().ok_or("no digest")?;
        let blob = std::fs::File::open(dir.path().join(digest.trim_start_matches("sha256:")))
            .map_err(|e| e.to_string())?;
        let mut hash = sha2::Sha256::new();
        std::io::copy(&mut flate2::read::MultiGzDecoder::new(blob), &mut hash)
            .map_err(|e| format!("{digest}: {e}"))?;
        out.push(format!("sha256:{}", hex::encode(hash.finalize())));
    }
    Ok(out)
}

/// Pull `reference` as a client would and check it whole: skopeo copies it out (checking
/// each blob against its digest), then every layer is hashed here again, as stored (the
/// manifest's digest) and decompressed (the config's diffID at its position). Returns
/// the manifest's layer digests.
pub fn verify_pullable(reg: &Registry, reference: &str) -> Result<Vec<String>, String> {
    use sha2::Digest;
    use std::io::Read;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut c = Command::new("skopeo");
    // Content is checked here, not TLS: the registry's own tests do that.
    c.args(["copy", "--src-tls-verify=false"]);
    if let Some(d) = &reg.client_cert_dir {
        c.arg("--src-cert-dir").arg(d);
    }
    if let Some((u, p)) = &reg.creds {
        c.arg("--src-creds").arg(format!("{u}:{p}"));
    }
    c.args(["-q", &format!("docker://{}/{reference}", reg.host)])
        .arg(format!("dir:{}", dir.path().display()));
    run(c)?;
    let sha = |b: &[u8]| format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)));
    let manifest_bytes =
        std::fs::read(dir.path().join("manifest.json")).map_err(|e| e.to_string())?;
    if sha(&manifest_bytes) != digest(reg, reference)? {
        return Err("the copied manifest is not the one the registry serves".into());
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&manifest_bytes).map_err(|e| e.to_string())?;
    let blob = |d: &str| std::fs::read(dir.path().join(d.trim_start_matches("sha256:")));
    let config_digest = manifest["config"]["digest"].as_str().ok_or("no config")?;
    let config_bytes = blob(config_digest).map_err(|e| format!("config: {e}"))?;
    if sha(&config_bytes) != config_digest {
        return Err(format!("config {config_digest} hashes otherwise"));
    }
    let config: serde_json::Value =
        serde_json::from_slice(&config_bytes).map_err(|e| e.to_string())?;
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .ok_or("no diff_ids")?;
    let layers = manifest["layers"].as_array().ok_or("no layers")?;
    if layers.len() != diff_ids.len() {
        return Err(format!(
            "{} layers, {} diff_ids",
            layers.len(),
            diff_ids.len()
        ));
    }
    let mut out = Vec::new();
    for (i, (layer, diff_id)) in layers.iter().zip(diff_ids).enumerate() {
        let d = layer["digest"].as_str().ok_or("no digest")?;
        let mt = layer["mediaType"].as_str().unwrap_or_default();
        let bytes = blob(d).map_err(|e| format!("layer {d}: {e}"))?;
        if sha(&bytes) != d {
            return Err(format!("layer {} ({d}) hashes to {}", i + 1, sha(&bytes)));
        }
        if layer["size"].as_u64() != Some(bytes.len() as u64) {
            return Err(format!("layer {} ({d}): size differs", i + 1));
        }
        let mut tar = Vec::new();
        if mt.ends_with("zstd") {
            tar = zstd::stream::decode_all(&bytes[..]).map_err(|e| format!("{d}: {e}"))?;
        } else if mt.ends_with("gzip") {
            flate2::read::MultiGzDecoder::new(&bytes[..])
                .read_to_end(&mut tar)
                .map_err(|e| format!("{d}: {e}"))?;
        } else {
            tar = bytes;
        }
        if Some(sha(&tar).as_str()) != diff_id.as_str() {
            return Err(format!(
                "layer {} ({d}) decompresses to {}, the config names {diff_id}",
                i + 1,
                sha(&tar)
            ));
        }
        out.push(d.to_string());
    }
    Ok(out)
}

/// Every image manifest that `reg` holds under a tag (and every image of an index), each
/// checked by [`verify_pullable`]; returns the failures. Other artifacts (Slipway's commit
/// records, stage records) are not images and are skipped. The harness runs this when a
/// registry is dropped, so no test can publish an image that does not pull.
pub fn unpullable_images(reg: &Registry) -> Vec<String> {
    let root = reg.storage().join("docker/registry/v2/repositories");
    let mut tagged = Vec::new();
    find_tags(&root, &root, &mut tagged);
    let mut failures = Vec::new();
    for reference in tagged {
        let raw = match raw_manifest(reg, &reference) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{reference}: {e}"));
                continue;
            }
        };
        let Ok(m) = serde_json::from_str::<serde_json::Value>(&raw) else {
            failures.push(format!("{reference}: the manifest is not JSON"));
            continue;
        };
        let repo = reference.rsplit_once(':').map_or("", |(r, _)| r);
        // (reference, manifest) of every image: the tagged one, or an index's children.
        let mut images = Vec::new();
        match m["manifests"].as_array() {
            Some(children) => {
                for c in children {
                    let Some(d) = c["digest"].as_str() else {
                        continue;
                    };
                    let r = format!("{repo}@{d}");
                    match raw_manifest(reg, &r)
                        .ok()
                        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                    {
                        Some(child) => images.push((r, child)),
                        None => failures.push(format!("{r}: index child missing")),
                    }
                }
            }
            None => images.push((reference.clone(), m)),
        }
        for (r, m) in images {
            if is_image(&m)
                && let Err(e) = verify_pullable(reg, &r)
            {
                failures.push(format!("{r}: {e}"));
            }
        }
    }
    failures
}

/// A container image manifest (not an artifact whose config is something else).
fn is_image(m: &serde_json::Value) -> bool {
    matches!(
        m["config"]["mediaType"].as_str(),
        Some("application/vnd.docker.container.image.v1+json")
            | Some("application/vnd.oci.image.config.v1+json")
    )
}

/// `REPO:TAG` for every tag in distribution's filesystem storage below `dir`.
fn find_tags(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if !p.is_dir() {
            continue;
        }
        if e.file_name() == "_manifests" {
            let repo = dir
                .strip_prefix(root)
                .map(|r| r.to_string_lossy().to_string())
                .unwrap_or_default();
            let Ok(tags) = std::fs::read_dir(p.join("tags")) else {
                continue;
            };
            for t in tags.flatten() {
                // A deleted tag keeps its folder without a current link.
                if t.path().join("current/link").is_file() {
                    out.push(format!("{repo}:{}", t.file_name().to_string_lossy()));
                }
            }
        } else if !e.file_name().to_string_lossy().starts_with('_') {
            find_tags(root, &p, out);
        }
    }
}
