//! docker-save archives for the fake daemon: what its export writes (Docker 20.10's layout:
//! each layer as `<dir>/layer.tar`, then the config, then `manifest.json`, which gives the
//! order) and what its load reads, so that publish and the stages storage move real bytes
//! through it and a registry can judge them.

use std::collections::HashMap;
use std::io::Read;

use sha2::{Digest, Sha256};

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The daemon's layer chain IDs for these diff IDs (as `transfer::pull::chain_ids`, kept
/// here so the fake stays below `transfer`).
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in diff_ids {
        let id = match out.last() {
            None => d.clone(),
            Some(parent) => digest(format!("{parent} {d}").as_bytes()),
        };
        out.push(id);
    }
    out
}

fn append(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, path, data).expect("tar in memory");
}

/// A layer: an uncompressed tar of one file `path` holding `content`.
pub fn layer(path: &str, content: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    append(&mut b, path, content);
    b.into_inner().expect("tar in memory")
}

/// An image config with these labels over layers with these diff IDs.
pub fn config(labels: &HashMap<String, String>, diff_ids: &[String]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Labels": labels },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    }))
    .expect("json")
}

/// What the fake reads of a config: labels, user and diff IDs.
pub struct Config {
    pub labels: HashMap<String, String>,
    pub user: String,
    pub diff_ids: Vec<String>,
}

pub fn parse_config(bytes: &[u8]) -> Result<Config, String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let labels = serde_json::from_value(v["config"]["Labels"].clone()).unwrap_or_default();
    let diff_ids = serde_json::from_value(v["rootfs"]["diff_ids"].clone())
        .map_err(|e| format!("config without rootfs.diff_ids: {e}"))?;
    Ok(Config {
        labels,
        user: v["config"]["User"].as_str().unwrap_or_default().to_string(),
        diff_ids,
    })
}

/// The docker-save archive of one image.
pub fn archive(config: &[u8], layers: &[&[u8]], repo_tags: &[String]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut names = Vec::new();
    for l in layers {
        let name = format!("{}/layer.tar", hex::encode(Sha256::digest(l)));
        append(&mut b, &name, l);
        names.push(name);
    }
    let config_name = format!("{}.json", hex::encode(Sha256::digest(config)));
    append(&mut b, &config_name, config);
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": repo_tags,
        "Layers": names,
    }]);
    append(
        &mut b,
        "manifest.json",
        &serde_json::to_vec(&manifest).expect("json"),
    );
    b.into_inner().expect("tar in memory")
}

/// One image of a loaded archive.
pub struct Loaded {
    pub config: Vec<u8>,
    pub repo_tags: Vec<String>,
    /// Each layer's file, uncompressed; empty where the archive sent an empty file (a layer
    /// the daemon is expected to have).
    pub layers: Vec<Vec<u8>>,
}

/// Read a docker-save archive as the daemon's load does: layers may come compressed.
pub fn read(bytes: &[u8]) -> Result<Loaded, String> {
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    let mut a = tar::Archive::new(bytes);
    for e in a.entries().map_err(|e| e.to_string())? {
        let mut e = e.map_err(|e| e.to_string())?;
        let path = e
            .path()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).map_err(|e| e.to_string())?;
        files.insert(path, data);
    }
    let manifest: serde_json::Value = files
        .get("manifest.json")
        .map(|m| serde_json::from_slice(m).map_err(|e| e.to_string()))
        .ok_or("no manifest.json in the archive")??;
    let entry = &manifest[0];
    let file = |name: &serde_json::Value| {
        let name = name.as_str().unwrap_or_default();
        files
            .get(name)
            .cloned()
            .ok_or_else(|| format!("{name} is not in the archive"))
    };
    let layers = entry["Layers"]
        .as_array()
        .ok_or("manifest.json without Layers")?
        .iter()
        // A layer file may be left out when the daemon holds its chain (dockerd looks the
        // chain up before it opens the file): an empty one, checked in `load_archive`.
        .map(|n| match file(n) {
            Ok(l) => decompress(&l),
            Err(_) => Ok(Vec::new()),
        })
        .collect::<Result<_, _>>()?;
    Ok(Loaded {
        config: file(&entry["Config"])?,
        repo_tags: serde_json::from_value(entry["RepoTags"].clone()).unwrap_or_default(),
        layers,
    })
}

/// A layer file as the daemon stores it: gzip and zstd undone.
fn decompress(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    match bytes {
        [0x1f, 0x8b, ..] => {
            flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut out)
                .map_err(|e| e.to_string())?;
        }
        [0x28, 0xb5, 0x2f, 0xfd, ..] => out = zstd::decode_all(bytes).map_err(|e| e.to_string())?,
        _ => out = bytes.to_vec(),
    }
    Ok(out)
}
