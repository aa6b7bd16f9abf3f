//! A recording [`DaemonApi`] for unit tests (after youki's `TestHelperSyscall`): images and
//! tags live in memory, every call is recorded, and calls can be made to fail.

mod saved;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::StreamExt;

use super::{
    Archive, Call, ContainerSummary, DaemonApi, DaemonError, ImageInfo, ImageSummary, StorageInfo,
};

/// One call the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    Inspect(String),
    Tag {
        id: String,
        reference: String,
    },
    Remove(String),
    FindByLabel(String),
    Version,
    Pull(String),
    ListImages(String),
    ListContainers,
    RemoveContainer {
        id: String,
        force: bool,
    },
    RemoveImage {
        id: String,
        force: bool,
    },
    /// `noprune`: the image's untagged parents stay.
    RemoveKeepingParents(String),
    RootDir,
    Storage,
    /// `auth`: the user name passed, if any.
    Push {
        reference: String,
        auth: Option<String>,
        tls_verify: bool,
    },
    /// The bytes loaded.
    Load(usize),
    Export(String),
}

#[derive(Default)]
struct State {
    images: HashMap<String, ImageInfo>,
    tags: HashMap<String, String>,
    calls: Vec<Recorded>,
    api_version: String,
    /// References whose tag call fails.
    failing_tags: BTreeSet<String>,
    /// `name:tag` references whose push fails.
    failing_pushes: BTreeSet<String>,
    /// Every load fails with this message.
    failing_load: Option<String>,
    next_id: usize,
    /// Size and creation time (Unix seconds) per image ID.
    sizes: HashMap<String, (u64, i64)>,
    containers: Vec<ContainerSummary>,
    /// Answer `/version` as Podman's compat service does.
    podman: bool,
    /// Image configs by image ID, and layer tars by diff ID: what an export writes.
    configs: HashMap<String, Vec<u8>>,
    blobs: HashMap<String, Vec<u8>>,
    /// Layer chain IDs the daemon holds (a load may send an empty file for those).
    chains: HashSet<String>,
}

/// The fake daemon.
pub struct FakeDaemon(Mutex<State>);

impl FakeDaemon {
    /// A Docker daemon speaking API `api_version` (Docker 20.10: `1.41`; 25: `1.44`).
    pub fn new(api_version: &str) -> Arc<FakeDaemon> {
        Arc::new(FakeDaemon(Mutex::new(State {
            api_version: api_version.to_string(),
            ..State::default()
        })))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock fails anyway.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add an image with these labels; returns its ID.
    pub fn add_image(&self, labels: HashMap<String, String>) -> String {
        let mut s = self.state();
        s.next_id += 1;
        let id = format!("sha256:{:064x}", s.next_id);
        s.images.insert(
            id.clone(),
            ImageInfo {
                id: id.clone(),
                labels,
                user: String::new(),
                layers: None,
            },
        );
        id
    }

    /// Add an image with these labels whose layers hold one file each (`(path, content)`,
    /// bottom first), exported and loaded as real docker-save archives; returns its ID, the
    /// digest of its config as Docker's.
    pub fn add_saved_image(
        &self,
        labels: HashMap<String, String>,
        files: &[(&str, &str)],
    ) -> String {
        let layers: Vec<Vec<u8>> = files
            .iter()
            .map(|(path, content)| saved::layer(path, content.as_bytes()))
            .collect();
        let diff_ids: Vec<String> = layers.iter().map(|l| saved::digest(l)).collect();
        let config = saved::config(&labels, &diff_ids);
        let mut s = self.state();
        add_loaded(&mut s, config, &diff_ids, layers)
    }

    /// Answer `/version` as Podman 4.3 does.
    pub fn set_podman(&self) {
        self.state().podman = true;
    }

    /// The image `reference` (a tag or an ID) names, if any.
    pub fn image(&self, reference: &str) -> Option<ImageInfo> {
        lookup(&self.state(), reference)
    }

    /// The config of image `reference` (a tag or an ID), for an image with bytes.
    pub fn config(&self, reference: &str) -> Option<serde_json::Value> {
        let s = self.state();
        let id = lookup(&s, reference)?.id;
        serde_json::from_slice(s.configs.get(&id)?).ok()
    }

    /// The ID tag `reference` points at.
    pub fn tagged(&self, reference: &str) -> Option<String> {
        self.state().tags.get(reference).cloned()
    }

    /// Give image `id` a size and a creation time (Unix seconds).
    pub fn set_size(&self, id: &str, size: u64, created: i64) {
        self.state().sizes.insert(id.to_string(), (size, created));
    }

    /// Add a container of image `image_id`.
    pub fn add_container(&self, id: &str, image_id: &str, running: bool) {
        self.state().containers.push(ContainerSummary {
            id: id.to_string(),
            image_id: image_id.to_string(),
            names: vec![id.to_string()],
            labels: HashMap::new(),
            running,
        });
    }

    /// The IDs of the containers left.
    pub fn container_ids(&self) -> Vec<String> {
        self.state()
            .containers
            .iter()
            .map(|c| c.id.clone())
            .collect()
    }

    /// Make tagging `reference` fail.
    pub fn fail_tag(&self, reference: &str) {
        self.state().failing_tags.insert(reference.to_string());
    }

    /// Make every load fail with the daemon's `message` (`None`: loads work again).
    pub fn fail_load(&self, message: Option<&str>) {
        self.state().failing_load = message.map(String::from);
    }

    /// Make pushing `name:tag` fail.
    pub fn fail_push(&self, reference: &str) {
        self.state().failing_pushes.insert(reference.to_string());
    }

    /// Give image `id` these layers (diff IDs).
    pub fn set_layers(&self, id: &str, layers: &[&str]) {
        if let Some(i) = self.state().images.get_mut(id) {
            i.layers = Some(layers.iter().map(|l| l.to_string()).collect());
        }
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Recorded> {
        self.state().calls.clone()
    }

    fn record(&self, call: Recorded) -> MutexGuard<'_, State> {
        let mut s = self.state();
        s.calls.push(call);
        s
    }
}

/// Keep an image whose config and layers arrived whole; returns its ID.
fn add_loaded(s: &mut State, config: Vec<u8>, diff_ids: &[String], layers: Vec<Vec<u8>>) -> String {
    let id = saved::digest(&config);
    let parsed = saved::parse_config(&config).unwrap_or_else(|_| saved::Config {
        labels: HashMap::new(),
        user: String::new(),
        diff_ids: Vec::new(),
    });
    for (d, l) in diff_ids.iter().zip(layers) {
        if !l.is_empty() {
            s.blobs.insert(d.clone(), l);
        }
    }
    s.chains.extend(saved::chain_ids(diff_ids));
    s.configs.insert(id.clone(), config);
    s.images.insert(
        id.clone(),
        ImageInfo {
            id: id.clone(),
            labels: parsed.labels,
            user: parsed.user,
            layers: Some(diff_ids.to_vec()),
        },
    );
    id
}

/// Load an archive's image as dockerd does: a layer's file must hash to its diff ID, and
/// an empty one is taken only for a layer chain the daemon has.
fn load_archive(s: &mut State, bytes: &[u8]) -> Result<(), DaemonError> {
    let a = saved::read(bytes).map_err(DaemonError)?;
    let c = saved::parse_config(&a.config).map_err(DaemonError)?;
    if c.diff_ids.len() != a.layers.len() {
        return Err(DaemonError(
            "invalid manifest, layers length mismatch".into(),
        ));
    }
    let chains = saved::chain_ids(&c.diff_ids);
    for (i, l) in a.layers.iter().enumerate() {
        let known = s.chains.contains(&chains[i]);
        if l.is_empty() && known {
            continue;
        }
        let got = saved::digest(l);
        if got != c.diff_ids[i] {
            return Err(DaemonError(format!(
                "invalid diffID for layer {i}: expected {:?}, got {got:?}",
                c.diff_ids[i]
            )));
        }
    }
    let id = add_loaded(s, a.config, &c.diff_ids, a.layers);
    for t in a.repo_tags {
        s.tags.insert(t, id.clone());
    }
    Ok(())
}

/// The docker-save archive of image `id`, if the fake holds its bytes.
fn export_archive(s: &State, id: &str) -> Option<Vec<u8>> {
    let config = s.configs.get(id)?;
    let diff_ids = s.images.get(id)?.layers.clone()?;
    let layers: Vec<&[u8]> = diff_ids
        .iter()
        .map(|d| s.blobs.get(d).map(Vec::as_slice))
        .collect::<Option<_>>()?;
    let mut tags: Vec<String> = s
        .tags
        .iter()
        .filter(|(_, i)| *i == id)
        .map(|(t, _)| t.clone())
        .collect();
    tags.sort();
    Some(saved::archive(config, &layers, &tags))
}

fn lookup(s: &State, reference: &str) -> Option<ImageInfo> {
    let id = match s.tags.get(reference) {
        Some(id) => id.clone(),
        None if reference.starts_with("sha256:") => reference.to_string(),
        None => format!("sha256:{reference}"),
    };
    s.images.get(&id).cloned()
}

fn no_such(reference: &str) -> DaemonError {
    DaemonError(format!("No such image: {reference}"))
}

impl DaemonApi for FakeDaemon {
    fn inspect<'a>(&'a self, reference: &'a str) -> Call<'a, ImageInfo> {
        let s = self.record(Recorded::Inspect(reference.to_string()));
        let found = lookup(&s, reference).ok_or_else(|| no_such(reference));
        Box::pin(async move { found })
    }

    fn tag<'a>(&'a self, id: &'a str, reference: &'a str) -> Call<'a, ()> {
        let mut s = self.record(Recorded::Tag {
            id: id.to_string(),
            reference: reference.to_string(),
        });
        let done = if s.failing_tags.contains(reference) {
            Err(DaemonError(format!("cannot tag {reference}")))
        } else {
            match lookup(&s, id) {
                Some(i) => {
                    s.tags.insert(reference.to_string(), i.id);
                    Ok(())
                }
                None => Err(no_such(id)),
            }
        };
        Box::pin(async move { done })
    }

    fn remove<'a>(&'a self, reference: &'a str) -> Call<'a, ()> {
        let mut s = self.record(Recorded::Remove(reference.to_string()));
        let done = match s.tags.remove(reference) {
            Some(_) => Ok(()),
            None => Err(no_such(reference)),
        };
        Box::pin(async move { done })
    }

    fn find_by_label<'a>(&'a self, key: &'a str, value: &'a str) -> Call<'a, Option<String>> {
        let s = self.record(Recorded::FindByLabel(format!("{key}={value}")));
        let mut found: Vec<&ImageInfo> = s
            .images
            .values()
            .filter(|i| i.labels.get(key).is_some_and(|v| v == value))
            .collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        let id = found.first().map(|i| i.id.clone());
        Box::pin(async move { Ok(id) })
    }

    fn version(&self) -> Call<'_, bollard::models::SystemVersion> {
        let s = self.record(Recorded::Version);
        let components = s.podman.then(|| {
            vec![
                serde_json::from_value(serde_json::json!(
                    {"Name": "Podman Engine", "Version": "4.3.1", "Details": {}}
                ))
                .expect("a component"),
            ]
        });
        let v = bollard::models::SystemVersion {
            version: Some("fake".into()),
            api_version: Some(s.api_version.clone()),
            os: Some("linux".into()),
            components,
            ..Default::default()
        };
        Box::pin(async move { Ok(v) })
    }

    fn pull<'a>(&'a self, reference: &'a str) -> Call<'a, ()> {
        let s = self.record(Recorded::Pull(reference.to_string()));
        let done = lookup(&s, reference)
            .map(|_| ())
            .ok_or_else(|| DaemonError(format!("pull access denied for {reference}")));
        Box::pin(async move { done })
    }

    fn list_images<'a>(&'a self, key: &'a str) -> Call<'a, Vec<ImageSummary>> {
        let s = self.record(Recorded::ListImages(key.to_string()));
        let mut out: Vec<ImageSummary> = s
            .images
            .values()
            .filter(|i| i.labels.contains_key(key))
            .map(|i| {
                let mut tags: Vec<String> = s
                    .tags
                    .iter()
                    .filter(|(_, id)| **id == i.id)
                    .map(|(t, _)| t.clone())
                    .collect();
                tags.sort();
                let (size, created) = s.sizes.get(&i.id).copied().unwrap_or_default();
                ImageSummary {
                    id: i.id.clone(),
                    tags,
                    labels: i.labels.clone(),
                    size,
                    created,
                }
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Box::pin(async move { Ok(out) })
    }

    fn list_containers(&self) -> Call<'_, Vec<ContainerSummary>> {
        let s = self.record(Recorded::ListContainers);
        let out = s.containers.clone();
        Box::pin(async move { Ok(out) })
    }

    fn remove_container<'a>(&'a self, id: &'a str, force: bool) -> Call<'a, ()> {
        let mut s = self.record(Recorded::RemoveContainer {
            id: id.to_string(),
            force,
        });
        let done = match s.containers.iter().position(|c| c.id == id) {
            Some(i) if s.containers[i].running && !force => Err(DaemonError(format!(
                "You cannot remove a running container {id}"
            ))),
            Some(i) => {
                s.containers.remove(i);
                Ok(())
            }
            None => Err(DaemonError(format!("No such container: {id}"))),
        };
        Box::pin(async move { done })
    }

    fn remove_image<'a>(&'a self, id: &'a str, force: bool) -> Call<'a, ()> {
        let mut s = self.record(Recorded::RemoveImage {
            id: id.to_string(),
            force,
        });
        let done = if s.containers.iter().any(|c| c.image_id == id) {
            Err(DaemonError(format!(
                "conflict: unable to delete {id} - image is being used by a container"
            )))
        } else if s.images.remove(id).is_some() {
            s.tags.retain(|_, i| i != id);
            Ok(())
        } else {
            Err(no_such(id))
        };
        Box::pin(async move { done })
    }

    fn remove_keeping_parents<'a>(&'a self, id: &'a str) -> Call<'a, ()> {
        let mut s = self.record(Recorded::RemoveKeepingParents(id.to_string()));
        // The fake keeps no parents: removing the image is all there is to it.
        let done = if s.images.remove(id).is_some() {
            s.tags.retain(|_, i| i != id);
            Ok(())
        } else {
            Err(no_such(id))
        };
        Box::pin(async move { done })
    }

    fn root_dir(&self) -> Call<'_, String> {
        let _s = self.record(Recorded::RootDir);
        Box::pin(async move { Ok("/var/lib/docker".to_string()) })
    }

    fn storage(&self) -> Call<'_, StorageInfo> {
        let _s = self.record(Recorded::Storage);
        // Not overlay2: nothing reads this host's layer store for the fake.
        let info = StorageInfo {
            driver: "fake".into(),
            root_dir: "/var/lib/docker".into(),
        };
        Box::pin(async move { Ok(info) })
    }

    fn push<'a>(
        &'a self,
        name: &'a str,
        tag: &'a str,
        auth: Option<&'a bollard::auth::DockerCredentials>,
        tls_verify: bool,
    ) -> Call<'a, ()> {
        let reference = format!("{name}:{tag}");
        let s = self.record(Recorded::Push {
            reference: reference.clone(),
            auth: auth.and_then(|a| a.username.clone()),
            tls_verify,
        });
        let done = if s.failing_pushes.contains(&reference) {
            Err(DaemonError(format!("denied: cannot push {reference}")))
        } else if lookup(&s, &reference).is_none() {
            Err(DaemonError(format!(
                "An image does not exist locally with the tag: {name}"
            )))
        } else {
            Ok(())
        };
        Box::pin(async move { done })
    }

    fn load<'a>(&'a self, mut archive: Archive<'static>) -> Call<'a, ()> {
        Box::pin(async move {
            let mut bytes = Vec::new();
            while let Some(chunk) = archive.next().await {
                bytes.extend_from_slice(&chunk.map_err(|e| DaemonError(e.to_string()))?);
            }
            let mut s = self.record(Recorded::Load(bytes.len()));
            if let Some(m) = &s.failing_load {
                return Err(DaemonError(m.clone()));
            }
            load_archive(&mut s, &bytes)
        })
    }

    fn export(&self, id: &str) -> Archive<'static> {
        let s = self.record(Recorded::Export(id.to_string()));
        let found = lookup(&s, id);
        let archive = found.as_ref().and_then(|i| export_archive(&s, &i.id));
        drop(s);
        let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = match (found, archive) {
            // In pieces, as a daemon's export arrives.
            (_, Some(a)) => a
                .chunks(16 * 1024)
                .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
                .collect(),
            // An image added without bytes: an empty archive.
            (Some(_), None) => vec![Ok(bytes::Bytes::from(vec![0u8; 1024]))],
            (None, _) => vec![Err(std::io::Error::other(format!("No such image: {id}")))],
        };
        Box::pin(futures::stream::iter(chunks))
    }
}
