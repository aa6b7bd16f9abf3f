//! werf.yaml's `imageSpec` applied to a built image as werf v2.77.1 applies it
//! (pkg/build/stage/image_spec.go, pkg/image/spec_config.go): a new image config over the
//! same layers. The config is read from the daemon's export and loaded back alone (the
//! daemon has every layer, so `docker load` reads none), so the local image and the pushed
//! one have the same config and digest.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use serde_json::{Map, Value as Json, json};
use sha2::{Digest, Sha256};

use super::Node;
use crate::build::BuildError;
use crate::config::ImageSpec;
use crate::daemon::{DaemonApi, DaemonError};
use crate::labels;

/// Why Podman cannot build an image with an `imageSpec`.
pub(in crate::build) const PODMAN: &str = "`imageSpec` is applied by loading a new image config over the image's layers, which Podman's `load` does not take (it needs every layer in the archive); build this image with Docker, or remove `imageSpec`";

/// Why `imageSpec` could not be applied to a built image.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SpecError {
    /// Reading the daemon's export of the image.
    #[error("export: {0}")]
    Export(std::io::Error),
    #[error("the export has no manifest.json")]
    NoManifest,
    #[error("the export's manifest.json names no config")]
    NoConfigName,
    #[error("the export lacks its config {0}")]
    NoConfig(String),
    #[error("{0}")]
    Join(tokio::task::JoinError),
    #[error("{0}")]
    Json(serde_json::Error),
    /// Writing the archive `docker load` reads.
    #[error("{0}")]
    Archive(std::io::Error),
    /// The daemon's message.
    #[error("docker load: {0}")]
    Load(DaemonError),
    #[error("the image config is not an object")]
    NotAnObject,
    #[error("the image config's `config` is not an object")]
    ConfigNotAnObject,
    /// A `/regex/` of the spec.
    #[error("{pattern}: {source}")]
    Pattern {
        pattern: String,
        source: regex::Error,
    },
}

/// werf removes these from the environment whatever the spec says (its own build leaves
/// them behind).
const WERF_COMMIT_ENV: [&str; 3] = [
    "WERF_COMMIT_HASH",
    "WERF_COMMIT_TIME_HUMAN",
    "WERF_COMMIT_TIME_UNIX",
];

/// Apply the node's `imageSpec` (if any) to image `id`; the ID of the resulting image,
/// tagged as the node's local tag. `wanted`: the labels the build applied (werf.yaml's
/// `labels:`, Slipway's), which come before the spec's.
pub(in crate::build) async fn apply(
    node: &Node<'_>,
    id: &str,
    wanted: &HashMap<String, String>,
) -> Result<String, BuildError> {
    let Some(spec) = &node.img.image_spec else {
        return Ok(id.to_string());
    };
    if node.how.podman {
        return Err(node.fail(PODMAN));
    }
    let daemon = node.backend.daemon.as_ref();
    let fail = |e: SpecError| node.fail(format!("applying imageSpec: {e}"));
    let config = read_config(daemon, id).await.map_err(fail)?;
    let mut c: Json = serde_json::from_slice(&config).map_err(|e| fail(SpecError::Json(e)))?;
    let image = node.img.name.clone().unwrap_or_default();
    rewrite(&mut c, spec, wanted, node.project, &image).map_err(fail)?;
    let bytes = serde_json::to_vec(&c).map_err(|e| fail(SpecError::Json(e)))?;
    let new_id = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
    if new_id != id {
        load(daemon, &bytes, &c, &node.local).await.map_err(fail)?;
        // The image as built is nobody's now: without it, a later run cannot take it
        // for this signature. Its parents (the classic builder's cache) stay.
        if let Err(e) = daemon.remove_keeping_parents(id).await {
            tracing::debug!(image = %node.name, "removing the image before its imageSpec: {e}");
        }
    }
    node.log(&format!("imageSpec applied: {new_id}"));
    Ok(new_id)
}

/// The config of image `id`, from the daemon's export (layers read past).
async fn read_config(daemon: &dyn DaemonApi, id: &str) -> Result<Vec<u8>, SpecError> {
    let stream = daemon.export(id);
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
    tokio::task::spawn_blocking(move || config_of_export(reader))
        .await
        .map_err(SpecError::Join)?
}

fn config_of_export(reader: impl Read) -> Result<Vec<u8>, SpecError> {
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(SpecError::Export)?;
    for entry in entries {
        let mut entry = entry.map_err(SpecError::Export)?;
        let path = entry
            .path()
            .map_err(SpecError::Export)?
            .to_string_lossy()
            .to_string();
        // The config and manifest.json sit at the top; layers (`<id>/…`) are read past.
        if !path.contains('/') && path.ends_with(".json") {
            let mut b = Vec::new();
            entry.read_to_end(&mut b).map_err(SpecError::Export)?;
            files.insert(path, b);
        }
    }
    let manifest: Json = files
        .get("manifest.json")
        .and_then(|m| serde_json::from_slice(m).ok())
        .ok_or(SpecError::NoManifest)?;
    let name = manifest[0]["Config"]
        .as_str()
        .ok_or(SpecError::NoConfigName)?;
    files
        .remove(name)
        .ok_or_else(|| SpecError::NoConfig(name.to_string()))
}

/// `docker load` of an archive with the config and manifest only: every layer is in the
/// daemon already, so it reads none.
async fn load(daemon: &dyn DaemonApi, config: &[u8], c: &Json, tag: &str) -> Result<(), SpecError> {
    let hexd = hex::encode(Sha256::digest(config));
    let layers = c["rootfs"]["diff_ids"].as_array().map_or(0, Vec::len);
    let manifest = json!([{
        "Config": format!("{hexd}.json"),
        "RepoTags": [tag],
        "Layers": (0..layers).map(|i| format!("{i}/layer.tar")).collect::<Vec<_>>(),
    }]);
    let manifest = serde_json::to_vec(&manifest).map_err(SpecError::Json)?;
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in [
        (format!("{hexd}.json"), config),
        ("manifest.json".into(), &manifest),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, data)
            .map_err(SpecError::Archive)?;
    }
    let body = tar.into_inner().map_err(SpecError::Archive)?;
    let archive = futures::stream::once(async move { Ok(bytes::Bytes::from(body)) });
    daemon
        .load(Box::pin(archive))
        .await
        .map_err(SpecError::Load)
}

/// `/regex/` (a full match) or an exact name.
fn matcher(patterns: &[String]) -> Result<impl Fn(&str) -> bool, SpecError> {
    let mut exact = Vec::new();
    let mut res = Vec::new();
    for p in patterns {
        match p.strip_prefix('/').and_then(|r| r.strip_suffix('/')) {
            Some(re) if p.len() >= 2 => {
                res.push(regex::Regex::new(&format!("^(?:{re})$")).map_err(|source| {
                    SpecError::Pattern {
                        pattern: p.clone(),
                        source,
                    }
                })?)
            }
            _ => exact.push(p.clone()),
        }
    }
    Ok(move |k: &str| exact.iter().any(|e| e == k) || res.iter().any(|r| r.is_match(k)))
}

/// `%image%` and `%project%` (werf's label template, `%` as its delimiters).
fn label_template(s: &str, project: &str, image: &str) -> String {
    let re = regex::Regex::new(r"%\s*(image|project)\s*%");
    match re {
        Ok(re) => re
            .replace_all(s, |c: &regex::Captures<'_>| match &c[1] {
                "image" => image.to_string(),
                _ => project.to_string(),
            })
            .to_string(),
        Err(_) => s.to_string(),
    }
}

fn string_list(v: &[String]) -> Json {
    Json::Array(v.iter().cloned().map(Json::String).collect())
}

/// A set as the config holds it (`{"k": {}}`), the key dropped when empty.
fn set_or_drop(cfg: &mut Map<String, Json>, key: &str, items: impl Iterator<Item = String>) {
    let m: Map<String, Json> = items.map(|k| (k, json!({}))).collect();
    if m.is_empty() {
        cfg.remove(key);
    } else {
        cfg.insert(key.into(), Json::Object(m));
    }
}

/// werf's `PrepareImage` + `UpdateConfigFile` on config `c`: labels (the build's first,
/// Slipway's never removed), environment (sorted), volumes, ports, healthcheck, then
/// author, history, user, entrypoint and cmd, working dir, stop signal.
pub(crate) fn rewrite(
    c: &mut Json,
    spec: &ImageSpec,
    wanted: &HashMap<String, String>,
    project: &str,
    image: &str,
) -> Result<(), SpecError> {
    let root = c.as_object_mut().ok_or(SpecError::NotAnObject)?;
    if !spec.author.is_empty() {
        root.insert("author".into(), Json::String(spec.author.clone()));
    }
    if spec.clear_history {
        root.insert("history".into(), json!([]));
    }
    let cfg = root
        .entry("config")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or(SpecError::ConfigNotAnObject)?;
    rewrite_labels(cfg, spec, wanted, project, image)?;
    rewrite_env(cfg, spec)?;
    let mut volumes: Vec<String> = cfg
        .get("Volumes")
        .and_then(Json::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    volumes.retain(|v| !spec.remove_volumes.contains(v));
    volumes.extend(spec.volumes.iter().cloned());
    set_or_drop(cfg, "Volumes", volumes.into_iter());
    if let Some(ports) = &spec.expose {
        set_or_drop(cfg, "ExposedPorts", ports.iter().cloned());
    }
    if let Some(h) = &spec.healthcheck {
        let mut m = Map::new();
        let ns = |s: i64| json!(s.saturating_mul(1_000_000_000));
        if !h.test.is_empty() {
            m.insert("Test".into(), string_list(&h.test));
        }
        for (k, v) in [
            ("Interval", h.interval),
            ("Timeout", h.timeout),
            ("StartPeriod", h.start_period),
        ] {
            if v != 0 {
                m.insert(k.into(), ns(v));
            }
        }
        if h.retries != 0 {
            m.insert("Retries".into(), json!(h.retries));
        }
        cfg.insert("Healthcheck".into(), Json::Object(m));
    }
    rewrite_process(cfg, spec);
    Ok(())
}

/// User, entrypoint and cmd (`entrypoint` without `cmd` clears CMD, as Docker does), working
/// directory and stop signal.
fn rewrite_process(cfg: &mut Map<String, Json>, spec: &ImageSpec) {
    let clear_cmd = spec.clear_cmd || (spec.entrypoint.is_some() && spec.cmd.is_none());
    let text = |cfg: &mut Map<String, Json>, key: &str, clear: bool, value: &str| {
        if clear {
            cfg.insert(key.into(), json!(""));
        }
        if !value.is_empty() {
            cfg.insert(key.into(), json!(value));
        }
    };
    text(cfg, "User", spec.clear_user, &spec.user);
    let list =
        |cfg: &mut Map<String, Json>, key: &str, clear: bool, value: Option<&Vec<String>>| {
            if clear {
                cfg.insert(key.into(), json!([]));
            }
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                cfg.insert(key.into(), string_list(v));
            }
        };
    list(cfg, "Cmd", clear_cmd, spec.cmd.as_ref());
    list(
        cfg,
        "Entrypoint",
        spec.clear_entrypoint,
        spec.entrypoint.as_ref(),
    );
    text(cfg, "WorkingDir", spec.clear_working_dir, &spec.working_dir);
    text(cfg, "StopSignal", false, &spec.stop_signal);
}

fn rewrite_labels(
    cfg: &mut Map<String, Json>,
    spec: &ImageSpec,
    wanted: &HashMap<String, String>,
    project: &str,
    image: &str,
) -> Result<(), SpecError> {
    let mut out: BTreeMap<String, String> = cfg
        .get("Labels")
        .and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    out.extend(wanted.iter().map(|(k, v)| (k.clone(), v.clone())));
    let remove = matcher(&spec.remove_labels)?;
    // Slipway's own labels are what reuse, publish and cleanup read: never removed, as
    // werf keeps its essential ones.
    out.retain(|k, _| k.starts_with("slipway.") || !remove(k));
    for (k, v) in &spec.labels {
        out.insert(
            label_template(k, project, image),
            label_template(v, project, image),
        );
    }
    out.insert(labels::IMAGE_SPEC.into(), spec.digest());
    let m: Map<String, Json> = out.into_iter().map(|(k, v)| (k, Json::String(v))).collect();
    cfg.insert("Labels".into(), Json::Object(m));
    Ok(())
}

/// The environment: the base's entries minus removals, plus the spec's with `${VAR}`
/// expanded against the base's, in name order (werf's is random).
fn rewrite_env(cfg: &mut Map<String, Json>, spec: &ImageSpec) -> Result<(), SpecError> {
    let base: Vec<String> = cfg
        .get("Env")
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|e| e.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let vars: BTreeMap<String, String> = base
        .iter()
        .filter_map(|e| e.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut removals = spec.remove_env.clone();
    removals.extend(WERF_COMMIT_ENV.iter().map(|s| s.to_string()));
    let remove = matcher(&removals)?;
    let mut env: BTreeMap<String, String> = vars.clone();
    env.retain(|k, _| !remove(k));
    for (k, v) in &spec.env {
        env.insert(k.clone(), crate::dockerfile::expand(v, &vars));
    }
    let list: Vec<Json> = env
        .into_iter()
        .map(|(k, v)| Json::String(format!("{k}={v}")))
        .collect();
    cfg.insert("Env".into(), Json::Array(list));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Healthcheck;

    fn base() -> Json {
        json!({
            "architecture": "amd64",
            "os": "linux",
            "history": [{"created_by": "x"}],
            "rootfs": {"type": "layers", "diff_ids": ["sha256:aa"]},
            "config": {
                "Env": ["PATH=/usr/bin:/bin", "KEEP=1", "DROP_A=1", "WERF_COMMIT_HASH=x"],
                "Cmd": ["sh"],
                "Labels": {"a.b": "1", "x": "2", "slipway.project": "p"},
                "ExposedPorts": {"80/tcp": {}},
                "Volumes": {"/data": {}, "/keep": {}},
                "User": "nobody",
                "WorkingDir": "/w"
            }
        })
    }

    #[test]
    fn every_field_lands_where_werf_puts_it() {
        let spec = ImageSpec {
            author: "me".into(),
            clear_history: true,
            remove_labels: vec!["/a\\..*/".into(), "/.*/".into()],
            remove_env: vec!["/DROP_.*/".into()],
            remove_volumes: vec!["/data".into()],
            volumes: vec!["/new".into()],
            labels: BTreeMap::from([("made.for".into(), "%project%/%image%".into())]),
            env: BTreeMap::from([("PATH".into(), "/opt/bin:${PATH}".into())]),
            entrypoint: Some(vec!["/bin/app".into()]),
            working_dir: "/srv".into(),
            stop_signal: "SIGINT".into(),
            expose: Some(vec!["8080/tcp".into()]),
            clear_user: true,
            healthcheck: Some(Healthcheck {
                test: vec!["CMD".into(), "true".into()],
                interval: 5,
                retries: 2,
                ..Healthcheck::default()
            }),
            ..ImageSpec::default()
        };
        let mut c = base();
        let wanted = HashMap::from([("slipway.signature".to_string(), "s".to_string())]);
        rewrite(&mut c, &spec, &wanted, "proj", "app").expect("rewrite");
        let cfg = &c["config"];
        assert_eq!(c["author"], "me");
        assert_eq!(c["history"], json!([]));
        assert_eq!(cfg["Env"], json!(["KEEP=1", "PATH=/opt/bin:/usr/bin:/bin"]));
        assert_eq!(cfg["Cmd"], json!([]));
        assert_eq!(cfg["Entrypoint"], json!(["/bin/app"]));
        assert_eq!(cfg["User"], "");
        assert_eq!(cfg["WorkingDir"], "/srv");
        assert_eq!(cfg["StopSignal"], "SIGINT");
        assert_eq!(cfg["ExposedPorts"], json!({"8080/tcp": {}}));
        assert_eq!(cfg["Volumes"], json!({"/keep": {}, "/new": {}}));
        assert_eq!(cfg["Healthcheck"]["Interval"], json!(5_000_000_000i64));
        assert_eq!(cfg["Healthcheck"]["Retries"], json!(2));
        let labels = cfg["Labels"].as_object().expect("labels");
        assert_eq!(labels.get("made.for"), Some(&json!("proj/app")));
        assert!(labels.get("a.b").is_none() && labels.get("x").is_none());
        assert_eq!(labels.get("slipway.project"), Some(&json!("p")));
        assert_eq!(labels.get("slipway.signature"), Some(&json!("s")));
        assert!(labels.contains_key(labels::IMAGE_SPEC));
    }

    #[test]
    fn cmd_stays_unless_entrypoint_or_clear() {
        let mut c = base();
        let spec = ImageSpec {
            user: "app".into(),
            ..ImageSpec::default()
        };
        rewrite(&mut c, &spec, &HashMap::new(), "p", "i").expect("rewrite");
        assert_eq!(c["config"]["Cmd"], json!(["sh"]));
        assert_eq!(c["config"]["User"], "app");
        assert_eq!(c["config"]["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(c["history"], json!([{"created_by": "x"}]));
    }

    #[test]
    fn the_export_gives_its_config() {
        let mut tar = tar::Builder::new(Vec::new());
        let files: [(&str, &[u8]); 3] = [
            ("abc/layer.tar", b"layer"),
            ("cfg.json", b"{\"a\":1}"),
            (
                "manifest.json",
                b"[{\"Config\":\"cfg.json\",\"Layers\":[\"abc/layer.tar\"]}]",
            ),
        ];
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_cksum();
            tar.append_data(&mut h, name, data).expect("append");
        }
        let bytes = tar.into_inner().expect("tar");
        assert_eq!(
            config_of_export(&bytes[..]).expect("config"),
            b"{\"a\":1}".to_vec()
        );
    }
}
