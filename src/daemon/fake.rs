//! A recording [`DaemonApi`] for unit tests (after youki's `TestHelperSyscall`): images and
//! tags live in memory, every call is recorded, and calls can be made to fail.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Call, ContainerSummary, DaemonApi, DaemonError, ImageInfo, ImageSummary};

/// One call the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    Inspect(String),
    Tag { id: String, reference: String },
    Remove(String),
    FindByLabel(String),
    Version,
    Pull(String),
    ListImages(String),
    ListContainers,
    RemoveContainer { id: String, force: bool },
    RemoveImage { id: String, force: bool },
    RootDir,
}

#[derive(Default)]
struct State {
    images: HashMap<String, ImageInfo>,
    tags: HashMap<String, String>,
    calls: Vec<Recorded>,
    api_version: String,
    /// References whose tag call fails.
    failing_tags: BTreeSet<String>,
    next_id: usize,
    /// Size and creation time (Unix seconds) per image ID.
    sizes: HashMap<String, (u64, i64)>,
    containers: Vec<ContainerSummary>,
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
            },
        );
        id
    }

    /// The image `reference` (a tag or an ID) names, if any.
    pub fn image(&self, reference: &str) -> Option<ImageInfo> {
        lookup(&self.state(), reference)
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
        let v = bollard::models::SystemVersion {
            version: Some("fake".into()),
            api_version: Some(s.api_version.clone()),
            os: Some("linux".into()),
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

    fn root_dir(&self) -> Call<'_, String> {
        let _s = self.record(Recorded::RootDir);
        Box::pin(async move { Ok("/var/lib/docker".to_string()) })
    }
}
