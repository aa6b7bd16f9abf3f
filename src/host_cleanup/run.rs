//! Reading the host for [`super::plan`] and carrying the plan out, through [`DaemonApi`].

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::{HostPlan, Inventory, Mode, Policy, Usage};
use crate::daemon::{DaemonApi, DaemonError};
use crate::labels;
use crate::settings::{DaemonEnv, Paths};

/// Host cleanup could not read what it needs.
#[derive(Debug, thiserror::Error)]
pub enum HostCleanupError {
    #[error("listing the daemon's {what}: {cause}")]
    List {
        what: &'static str,
        cause: DaemonError,
    },
    #[error("docker storage path {path}: {cause}")]
    Statfs { path: PathBuf, cause: String },
}

/// The prefix of the scratch directories Slipway makes in `TMPDIR` (`ci-env`'s docker
/// configs); nothing else of the temporary directory is touched.
pub const TMP_PREFIX: &str = "slipway-docker-config-";

/// Scratch directories younger than this are a running job's: cleanup keeps them.
pub const TMP_MIN_AGE: Duration = Duration::from_secs(24 * 3600);

/// What the daemon holds and which of Slipway's files `mode` may delete.
pub async fn inventory(
    daemon: &dyn DaemonApi,
    paths: &Paths,
    mode: Mode,
) -> Result<Inventory, HostCleanupError> {
    let images =
        daemon
            .list_images(labels::PROJECT)
            .await
            .map_err(|cause| HostCleanupError::List {
                what: "images",
                cause,
            })?;
    let containers = daemon
        .list_containers()
        .await
        .map_err(|cause| HostCleanupError::List {
            what: "containers",
            cause,
        })?;
    Ok(Inventory {
        images,
        containers,
        files: files(paths, mode, SystemTime::now()),
    })
}

/// Slipway's scratch directories (cleanup: those over a day old), and for purge the cache.
fn files(paths: &Paths, mode: Mode, now: SystemTime) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(&paths.temp_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(TMP_PREFIX))
        .filter(|e| {
            mode != Mode::Cleanup
                || e.metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| now.duration_since(t).ok())
                    .is_some_and(|age| age >= TMP_MIN_AGE)
        })
        .map(|e| e.path())
        .collect();
    out.sort();
    if mode != Mode::Cleanup
        && let Some(cache) = paths.cache_dir.as_ref().filter(|c| c.exists())
    {
        out.push(cache.clone());
    }
    out
}

/// What `host cleanup` removes: the inventory judged against the daemon's storage usage
/// (measured at `storage_path`, else the daemon's data root) and `policy`.
pub async fn cleanup_plan(
    daemon: &dyn DaemonApi,
    env: &DaemonEnv,
    storage_path: Option<&Path>,
    policy: Policy,
    paths: &Paths,
) -> Result<HostPlan, HostCleanupError> {
    let usage = usage(daemon, env, storage_path).await?;
    let inv = inventory(daemon, paths, Mode::Cleanup).await?;
    Ok(super::plan(&inv, &usage, policy, Mode::Cleanup))
}

/// What `host purge` removes: every Slipway image whatever the usage (`force`: also
/// those a container uses).
pub async fn purge_plan(
    daemon: &dyn DaemonApi,
    paths: &Paths,
    force: bool,
) -> Result<HostPlan, HostCleanupError> {
    let mode = Mode::Purge { force };
    let inv = inventory(daemon, paths, mode).await?;
    let skipped = Usage::Skipped("purge removes every Slipway image".into());
    Ok(super::plan(&inv, &skipped, Policy::default(), mode))
}

/// The daemon's storage filesystem: `path` (`--docker-server-storage-path`), else the
/// daemon's data root. A daemon reached over the network is not measured: its disk is not
/// this host's.
pub async fn usage(
    daemon: &dyn DaemonApi,
    env: &DaemonEnv,
    path: Option<&Path>,
) -> Result<Usage, HostCleanupError> {
    let host = env.host.as_deref().filter(|h| !h.is_empty());
    if let Some(h) = host.filter(|h| !h.starts_with("unix://")) {
        return Ok(Usage::Skipped(format!(
            "the daemon at {h} is remote (its disk is not this host's): the volume usage threshold is skipped"
        )));
    }
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => match daemon.root_dir().await {
            Ok(d) if !d.is_empty() => PathBuf::from(d),
            _ => {
                return Ok(Usage::Skipped(
                    "the daemon did not say where it stores images: pass --docker-server-storage-path".into(),
                ));
            }
        },
    };
    let (total, used) = statfs(&path)?;
    Ok(Usage::Measured { path, total, used })
}

/// Total and used bytes of the filesystem holding `path` (werf: blocks − free blocks).
pub fn statfs(path: &Path) -> Result<(u64, u64), HostCleanupError> {
    let s = rustix::fs::statvfs(path).map_err(|e| HostCleanupError::Statfs {
        path: path.to_path_buf(),
        cause: e.to_string(),
    })?;
    let total = s.f_blocks.saturating_mul(s.f_frsize);
    let free = s.f_bfree.saturating_mul(s.f_frsize);
    Ok((total, total.saturating_sub(free)))
}

/// What was removed, and what failed (the rest goes on: a failure is reported, not fatal).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub containers: usize,
    pub images: usize,
    pub untagged: usize,
    pub files: usize,
    pub bytes: u64,
    pub failures: Vec<String>,
}

/// Carry the plan out: containers first (they hold images), then images, tags, files.
pub async fn apply(daemon: &dyn DaemonApi, plan: &HostPlan) -> Applied {
    let mut out = Applied::default();
    for c in &plan.containers {
        match daemon.remove_container(&c.id, true).await {
            Ok(()) => out.containers += 1,
            Err(e) => out.failures.push(format!("container {}: {e}", c.id)),
        }
    }
    for i in &plan.images {
        // By ID with force: every tag goes (none of these is used by a container).
        match daemon.remove_image(&i.id, true).await {
            Ok(()) => {
                out.images += 1;
                out.bytes += i.bytes;
            }
            Err(e) => out.failures.push(format!("image {}: {e}", i.id)),
        }
    }
    for t in &plan.untag {
        match daemon.remove(t).await {
            Ok(()) => out.untagged += 1,
            Err(e) => out.failures.push(format!("tag {t}: {e}")),
        }
    }
    for p in &plan.files {
        let done = if p.is_dir() {
            std::fs::remove_dir_all(p)
        } else {
            std::fs::remove_file(p)
        };
        match done {
            Ok(()) => out.files += 1,
            Err(e) => out.failures.push(format!("{}: {e}", p.display())),
        }
    }
    out
}
