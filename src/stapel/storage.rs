//! werf's stages storage in a repository (`--stages-storage REPO`, issue #20): every
//! stage image of a stapel node is stored as `REPO:SIGNATURE-MILLIS` (werf 1.1's
//! `REPO:SIGNATURE-UNIQUEID`, the unique id a millisecond timestamp), pushed with
//! Slipway's push path and pulled back with its own registry client. The image's
//! `slipway.stapel.stages` label is the record of the stages up to it (their signatures
//! and the commit each one's sources came from), so a runner that never saw the build can
//! tell whether the stage suits its HEAD. Among several images of one signature the
//! oldest suitable one is used, as werf does: the first stored tag wins.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::stages::{self, StageRecord};
use crate::daemon::{DaemonApi, DaemonError};
use crate::registry::{Client, RegistryError, Repository, UploadMode, image};
use crate::transfer::from_daemon::FromDaemonError;
use crate::transfer::pull::{self, PullError};
use crate::transfer::push::{PushError, PushOptions, PushTarget};

/// The value that keeps stages in the daemon only.
pub const LOCAL: &str = ":local";

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(
        "--stages-storage {value:?}: {cause} (give a repository, e.g. registry.example.com/group/project/stages, or :local)"
    )]
    Invalid { value: String, cause: String },
    #[error("stages storage {repo}: {source}")]
    Registry {
        repo: String,
        #[source]
        source: RegistryError,
    },
    #[error("stages storage {repo}: storing {tag}: {cause}")]
    Store {
        repo: String,
        tag: String,
        cause: Box<StoreError>,
    },
    #[error("stages storage: {0}")]
    Pull(#[from] PullError),
    #[error("stages storage {repo}: copying {what}: {cause}")]
    Copy {
        repo: String,
        what: String,
        cause: Box<CopyError>,
    },
}

/// Why an image could not be copied between repositories.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{0}")]
    Push(PushError),
    #[error("{0} does not exist")]
    Missing(String),
}

/// Why a stage image could not be stored (or tagged from the daemon's copy).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("tagging {id} as {reference}: {message}")]
    Tag {
        id: String,
        reference: String,
        message: String,
    },
    #[error("{0}")]
    Inspect(DaemonError),
    #[error("{0}")]
    Push(FromDaemonError),
}

/// One stored stage image, from its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageTag {
    pub signature: String,
    pub millis: u64,
    pub tag: String,
}

/// `SIGNATURE-MILLIS` → its parts (other tags of the repository are not stages).
pub fn parse_tag(tag: &str) -> Option<StageTag> {
    let (sig, millis) = tag.rsplit_once('-')?;
    let hex = sig.len() == 64 && sig.bytes().all(|b| b.is_ascii_hexdigit());
    let millis: u64 = millis.parse().ok()?;
    hex.then(|| StageTag {
        signature: sig.to_string(),
        millis,
        tag: tag.to_string(),
    })
}

/// The tag a stage image is stored under now.
pub fn new_tag(signature: &str) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("{signature}-{millis}")
}

/// Stage tags by signature, oldest first.
pub fn by_signature(tags: &[String]) -> BTreeMap<String, Vec<StageTag>> {
    let mut out: BTreeMap<String, Vec<StageTag>> = BTreeMap::new();
    for t in tags.iter().filter_map(|t| parse_tag(t)) {
        out.entry(t.signature.clone()).or_default().push(t);
    }
    for v in out.values_mut() {
        v.sort_by(|a, b| (a.millis, &a.tag).cmp(&(b.millis, &b.tag)));
    }
    out
}

/// The layer chains a run knows the daemon holds, and those being loaded. Stages of one
/// project share their lower layers (the base, gitArchive): a load waits while another
/// one brings a chain it needs, then skips it (see [`pull::load`]); loads that share
/// nothing still run at once. Docker's load, unlike its pull, does not share work between
/// concurrent loads of one layer, and a layer of many small files costs the daemon far more
/// than its bytes.
#[derive(Default)]
struct DaemonLayers {
    state: std::sync::Mutex<LayerState>,
    changed: tokio::sync::Notify,
}

#[derive(Default)]
struct LayerState {
    present: HashSet<String>,
    loading: HashSet<String>,
}

/// The chains one load brings in; released (as loaded or not) when dropped.
struct Loading<'a> {
    layers: &'a DaemonLayers,
    /// The chains of the image the daemon already holds.
    present: HashSet<String>,
    mine: Vec<String>,
    done: bool,
}

impl Loading<'_> {
    fn loaded(mut self) {
        self.done = true;
    }
}

impl Drop for Loading<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.layers.state.lock() {
            for c in &self.mine {
                s.loading.remove(c);
                if self.done {
                    s.present.insert(c.clone());
                }
            }
        }
        self.layers.changed.notify_waiters();
    }
}

impl DaemonLayers {
    /// Note the chains of a local image (nothing if it is not there).
    async fn note(&self, docker: &dyn DaemonApi, image: &str) {
        if let Ok(i) = docker.inspect(image).await
            && let Some(layers) = i.layers
            && let Ok(mut s) = self.state.lock()
        {
            s.present.extend(pull::chain_ids(&layers));
        }
    }

    /// Wait until no other load brings one of `chains`, then claim the missing ones.
    async fn acquire(&self, chains: &[String]) -> Loading<'_> {
        loop {
            // Created before the check: a release in between still wakes it.
            let changed = self.changed.notified();
            if let Ok(mut s) = self.state.lock() {
                let busy = chains.iter().any(|c| s.loading.contains(c));
                if !busy {
                    let present: HashSet<String> = chains
                        .iter()
                        .filter(|c| s.present.contains(*c))
                        .cloned()
                        .collect();
                    let mine: Vec<String> = chains
                        .iter()
                        .filter(|c| !present.contains(*c))
                        .cloned()
                        .collect();
                    s.loading.extend(mine.iter().cloned());
                    return Loading {
                        layers: self,
                        present,
                        mine,
                        done: false,
                    };
                }
            } else {
                // A poisoned lock: load everything.
                return Loading {
                    layers: self,
                    present: HashSet::new(),
                    mine: Vec::new(),
                    done: false,
                };
            }
            changed.await;
        }
    }
}

/// A stages storage in a repository.
#[derive(Clone)]
pub struct StagesStorage {
    client: Client,
    repo: Repository,
    upload_mode: UploadMode,
    /// What this run knows of the daemon's layers (see [`DaemonLayers`]).
    daemon_layers: std::sync::Arc<DaemonLayers>,
    /// The listing taken when the run first asked (see [`Self::stages_at_start`]).
    at_start: std::sync::Arc<tokio::sync::OnceCell<BTreeMap<String, Vec<StageTag>>>>,
    /// Pushes start from these (the environment's layer cache, layer store, timeout).
    push: PushOptions,
}

impl std::fmt::Debug for StagesStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StagesStorage({})", self.repo)
    }
}

impl StagesStorage {
    /// The storage a `--stages-storage` value names: `None` for `:local` (or nothing).
    pub fn from_setting(
        client: &Client,
        value: Option<&str>,
        env: &crate::settings::HostEnv,
    ) -> Result<Option<StagesStorage>, StorageError> {
        let Some(v) = value
            .map(str::trim)
            .filter(|v| !v.is_empty() && *v != LOCAL)
        else {
            return Ok(None);
        };
        let invalid = |cause: String| StorageError::Invalid {
            value: v.to_string(),
            cause,
        };
        if v.starts_with(':') {
            return Err(invalid("the only special value is :local".into()));
        }
        let repo =
            Repository::parse(v.trim_end_matches('/')).map_err(|e| invalid(e.to_string()))?;
        Ok(Some(StagesStorage {
            client: client.clone(),
            repo,
            upload_mode: UploadMode::Auto,
            daemon_layers: Default::default(),
            at_start: Default::default(),
            push: PushOptions::for_host(env),
        }))
    }

    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn registry(&self, source: RegistryError) -> StorageError {
        StorageError::Registry {
            repo: self.repo.to_string(),
            source,
        }
    }

    /// Every stored stage, by signature (oldest first).
    pub async fn stages(&self) -> Result<BTreeMap<String, Vec<StageTag>>, StorageError> {
        let tags = self
            .client
            .list_tags(&self.repo)
            .await
            .map_err(|e| self.registry(e))?;
        Ok(by_signature(&tags))
    }

    /// Every stored stage as listed once per run, for lookups that may be a little late: a
    /// stage stored meanwhile is at worst built again, and the first stored still wins
    /// ([`Self::stages`] is asked again for that). A storage holds thousands of tags and the
    /// listing is paginated: one listing per run, not one per image.
    pub async fn stages_at_start(&self) -> Result<BTreeMap<String, Vec<StageTag>>, StorageError> {
        self.at_start
            .get_or_try_init(|| self.stages())
            .await
            .cloned()
    }

    /// The record on a stored stage image (`None`: gone, or not a Slipway stage).
    pub async fn record(&self, tag: &str) -> Result<Option<Vec<StageRecord>>, StorageError> {
        let found = self
            .client
            .image_config(&self.repo, tag)
            .await
            .map_err(|e| self.registry(e))?;
        Ok(found
            .and_then(|(_, c)| c)
            .and_then(|c| image::label(&c, crate::labels::STAGES).and_then(stages::parse_record)))
    }

    /// The local name of a stored stage: `REPO:TAG`.
    pub fn reference(&self, tag: &str) -> String {
        format!("{}:{tag}", self.repo)
    }

    /// Make a stored stage available in the daemon under [`Self::reference`]; pulled with
    /// Slipway's client unless the daemon has it. `near`: local images likely to share
    /// its lower layers (its base), whose layers are not sent again. Returns (reference,
    /// pulled bytes).
    pub async fn fetch(
        &self,
        docker: &dyn DaemonApi,
        tag: &str,
        near: &[String],
    ) -> Result<(String, Option<u64>), StorageError> {
        let reference = self.reference(tag);
        if docker.inspect(&reference).await.is_ok() {
            return Ok((reference, None));
        }
        let remote = pull::resolve(&self.client, &self.repo, tag).await?;
        // The daemon may hold the very image under another name (this runner built it).
        let id = remote.config_digest();
        if docker.inspect(id).await.is_ok() {
            docker
                .tag(id, &reference)
                .await
                .map_err(|e| StorageError::Store {
                    repo: self.repo.to_string(),
                    tag: tag.to_string(),
                    cause: Box::new(StoreError::Tag {
                        id: id.to_string(),
                        reference: reference.clone(),
                        message: e.to_string(),
                    }),
                })?;
            return Ok((reference, None));
        }
        for image in near {
            self.daemon_layers.note(docker, image).await;
        }
        let loading = self.daemon_layers.acquire(remote.chain_ids()).await;
        let p = pull::load(
            docker,
            &self.client,
            &self.repo,
            &remote,
            &reference,
            &loading.present,
        )
        .await?;
        loading.loaded();
        Ok((reference, Some(p.bytes)))
    }

    /// Copy a stored image (`tag`) to `to` under `tags`, by digest (blobs mounted on the same
    /// registry, else copied); returns its digest.
    pub async fn copy_out(
        &self,
        tag: &str,
        to: &Repository,
        tags: &[String],
    ) -> Result<String, StorageError> {
        copy_image(&self.client, &self.repo, tag, to, tags)
            .await
            .map_err(|cause| StorageError::Copy {
                repo: self.repo.to_string(),
                what: format!("{tag} to {to}"),
                cause: Box::new(cause),
            })
    }

    /// Store the published image `from@digest` under a new tag of `signature`; returns the
    /// tag.
    pub async fn store_published(
        &self,
        from: &Repository,
        digest: &str,
        signature: &str,
    ) -> Result<String, StorageError> {
        let tag = new_tag(signature);
        copy_image(
            &self.client,
            from,
            digest,
            &self.repo,
            std::slice::from_ref(&tag),
        )
        .await
        .map_err(|cause| StorageError::Copy {
            repo: self.repo.to_string(),
            what: format!("{from}@{digest}"),
            cause: Box::new(cause),
        })?;
        Ok(tag)
    }

    /// Store a stage image from the daemon under a new tag of `signature`; returns the tag.
    pub async fn store(
        &self,
        docker: &dyn DaemonApi,
        image_id: &str,
        signature: &str,
        work: &Path,
    ) -> Result<String, StorageError> {
        let tag = new_tag(signature);
        let err = |cause: StoreError| StorageError::Store {
            repo: self.repo.to_string(),
            tag: tag.clone(),
            cause: Box::new(cause),
        };
        let target = PushTarget {
            repository: self.repo.clone(),
            tags: vec![tag.clone()],
        };
        let popts = PushOptions {
            upload_mode: self.upload_mode,
            work_dir: work.to_path_buf(),
            ..self.push.clone()
        };
        let layers = docker
            .inspect(image_id)
            .await
            .map_err(|e| err(StoreError::Inspect(e)))?
            .layers;
        crate::transfer::from_daemon::push_from_daemon(
            docker,
            &self.client,
            image_id,
            layers,
            &tag,
            &target,
            &popts,
            work,
        )
        .await
        .map_err(|e| err(StoreError::Push(e)))?;
        Ok(tag)
    }
}

/// An image copied between repositories by digest with the one copy path.
async fn copy_image(
    client: &Client,
    from: &Repository,
    reference: &str,
    to: &Repository,
    tags: &[String],
) -> Result<String, CopyError> {
    use crate::transfer::source::{plan_and_copy, registry::RegistrySource};
    let label = format!("{from}:{reference}");
    let source = RegistrySource::open(client, from, reference, &label)
        .await
        .map_err(CopyError::Push)?
        .ok_or(CopyError::Missing(label))?;
    let target = PushTarget {
        repository: to.clone(),
        tags: tags.to_vec(),
    };
    let opts = PushOptions::default();
    let session = crate::transfer::push::Session::open_bare(client, &target, &opts);
    let report = plan_and_copy(&source, &session)
        .await
        .map_err(CopyError::Push)?;
    Ok(report.digest)
}

#[cfg(test)]
mod daemon_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::HostEnv;

    fn chains(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn a_load_waits_for_the_layers_another_one_brings_then_skips_them() {
        let layers = std::sync::Arc::new(DaemonLayers::default());
        let a = layers.acquire(&chains(&["base", "git", "a"])).await;
        assert!(a.present.is_empty());
        // b shares base and git with a: it waits until a is done.
        let waiting = {
            let layers = layers.clone();
            tokio::spawn(async move {
                let b = layers.acquire(&chains(&["base", "git", "b"])).await;
                let mut present: Vec<String> = b.present.iter().cloned().collect();
                present.sort();
                (present, b.mine.clone())
            })
        };
        // c shares nothing with a: it goes at once.
        let c = layers.acquire(&chains(&["other"])).await;
        assert_eq!(c.mine, chains(&["other"]));
        drop(c);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "b must wait for a's layers");
        a.loaded();
        let (present, mine) = waiting.await.expect("b");
        assert_eq!(present, chains(&["base", "git"]));
        assert_eq!(mine, chains(&["b"]));
    }

    #[tokio::test]
    async fn a_failed_load_leaves_its_layers_to_the_next_one() {
        let layers = DaemonLayers::default();
        drop(layers.acquire(&chains(&["base", "git"])).await);
        let again = layers.acquire(&chains(&["base", "git"])).await;
        assert!(again.present.is_empty());
        assert_eq!(again.mine, chains(&["base", "git"]));
    }

    #[test]
    fn stage_tags_parse_and_sort_oldest_first() {
        let sig = "a".repeat(64);
        let other = "b".repeat(64);
        let tags = vec![
            format!("{sig}-1700000000200"),
            format!("{sig}-1700000000100"),
            format!("{other}-5"),
            "latest".to_string(),
            format!("{}-1", "a".repeat(63)),
            format!("{sig}-x"),
        ];
        let m = by_signature(&tags);
        assert_eq!(m.len(), 2);
        let a: Vec<u64> = m[&sig].iter().map(|t| t.millis).collect();
        assert_eq!(a, vec![1700000000100, 1700000000200]);
        let t = new_tag(&sig);
        assert_eq!(parse_tag(&t).map(|p| p.signature), Some(sig.clone()));
        assert!(crate::registry::reference::valid_tag(&t));
    }

    #[test]
    fn setting_values() {
        let c = Client::new(Default::default());
        assert!(
            StagesStorage::from_setting(&c, None, &HostEnv::empty())
                .expect("ok")
                .is_none()
        );
        assert!(
            StagesStorage::from_setting(&c, Some(":local"), &HostEnv::empty())
                .expect("ok")
                .is_none()
        );
        let s =
            StagesStorage::from_setting(&c, Some("127.0.0.1:5000/g/p/stages/"), &HostEnv::empty())
                .expect("ok")
                .expect("a storage");
        assert_eq!(s.repository().to_string(), "127.0.0.1:5000/g/p/stages");
        assert!(StagesStorage::from_setting(&c, Some(":remote"), &HostEnv::empty()).is_err());
        assert!(StagesStorage::from_setting(&c, Some("Bad Repo"), &HostEnv::empty()).is_err());
    }
}
