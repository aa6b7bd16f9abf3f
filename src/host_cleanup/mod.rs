//! `slipway host cleanup|purge`: what Slipway leaves on a runner's Docker daemon and disk.
//! werf 1.1's part (stopped Slipway containers, dangling Slipway images, Slipway's scratch
//! files), the local tags publish leaves for remote references, and werf 1.2's volume
//! policy: when the daemon's storage filesystem is fuller than the allowed percentage, the
//! least recently built Slipway images go until usage is at most allowed − margin (at
//! least `min_images` of them). An image a container uses never goes, nor one without a
//! `slipway.project` label.
//!
//! The plan is pure ([`plan`], tested on values); [`run`] reads the daemon through
//! [`DaemonApi`] and applies it.

pub mod run;

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Serialize;

use crate::daemon::{ContainerSummary, ImageSummary};
use crate::labels;

/// werf 1.2's volume policy numbers (`werf host cleanup` flags and `MinImagesToDelete`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Percent of the storage filesystem above which images are deleted (werf: 70).
    pub allowed_usage: f64,
    /// Cleanup goes down to `allowed_usage - margin` percent (werf: 5).
    pub margin: f64,
    /// Once over, at least this many images go (werf: 10).
    pub min_images: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allowed_usage: 70.0,
            margin: 5.0,
            min_images: 10,
        }
    }
}

/// The daemon's storage filesystem as `statfs` saw it, or why it was not looked at.
#[derive(Debug, Clone, PartialEq)]
pub enum Usage {
    Measured {
        path: PathBuf,
        total: u64,
        used: u64,
    },
    Skipped(String),
}

impl Usage {
    /// Used percent (werf's: blocks minus free blocks over blocks).
    pub fn percent(total: u64, used: u64) -> f64 {
        if total == 0 {
            return 0.0;
        }
        used as f64 * 100.0 / total as f64
    }
}

/// What the volume policy decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum VolumeCheck {
    /// Not measured (a remote daemon, purge).
    Skipped { reason: String },
    Within {
        path: PathBuf,
        usage: f64,
        allowed: f64,
    },
    Over {
        path: PathBuf,
        usage: f64,
        allowed: f64,
        target: f64,
        bytes_to_free: u64,
    },
}

/// One container or image to remove (or kept, with why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub id: String,
    /// Tags of an image, names of a container.
    pub names: Vec<String>,
    pub bytes: u64,
    pub reason: &'static str,
}

/// Host cleanup's or purge's plan: `--dry-run` prints it, `run::apply` carries it out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostPlan {
    /// Containers to remove, before the images.
    pub containers: Vec<Item>,
    /// Images to remove by ID (every tag goes).
    pub images: Vec<Item>,
    /// Local tags of remote references to remove from images that stay.
    pub untag: Vec<String>,
    /// Slipway images kept because a container uses them.
    pub in_use: Vec<Item>,
    pub volume: VolumeCheck,
    /// Slipway's scratch and cache files to delete.
    pub files: Vec<PathBuf>,
}

/// What the daemon and disk hold.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Images with a `slipway.project` label.
    pub images: Vec<ImageSummary>,
    /// Every container.
    pub containers: Vec<ContainerSummary>,
    /// Slipway's scratch and cache files this command may delete.
    pub files: Vec<PathBuf>,
}

/// cleanup, or purge (`force`: also remove the containers that use Slipway images, werf's
/// `--force`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Cleanup,
    Purge { force: bool },
}

/// A name that points at a registry (`host.example:5000/x:t`, `localhost/x`): its first
/// path component has a dot or a colon, or is `localhost`. Slipway's local names are
/// `PROJECT[/IMAGE]:latest`, and werf's project names have neither.
pub fn is_remote_reference(tag: &str) -> bool {
    match tag.split_once('/') {
        Some((first, _)) => first.contains(['.', ':']) || first == "localhost",
        None => false,
    }
}

fn is_slipway(i: &ImageSummary) -> bool {
    i.labels.contains_key(labels::PROJECT)
}

fn item(i: &ImageSummary, reason: &'static str) -> Item {
    Item {
        id: i.id.clone(),
        names: i.tags.clone(),
        bytes: i.size,
        reason,
    }
}

/// The plan. Pure: the inventory and the measured usage in, decisions out.
pub fn plan(inv: &Inventory, usage: &Usage, policy: Policy, mode: Mode) -> HostPlan {
    let slipway: Vec<&ImageSummary> = inv.images.iter().filter(|i| is_slipway(i)).collect();
    let slipway_ids: BTreeSet<&str> = slipway.iter().map(|i| i.id.as_str()).collect();
    // Stopped containers of Slipway images go (purge --force: running ones too).
    let removed_container = |c: &ContainerSummary| {
        let ours =
            slipway_ids.contains(c.image_id.as_str()) || c.labels.contains_key(labels::PROJECT);
        ours && (!c.running || mode == Mode::Purge { force: true })
    };
    let containers: Vec<Item> = inv
        .containers
        .iter()
        .filter(|c| removed_container(c))
        .map(|c| Item {
            id: c.id.clone(),
            names: c.names.clone(),
            bytes: 0,
            reason: if c.running {
                "running (--force)"
            } else {
                "stopped"
            },
        })
        .collect();
    let used: BTreeSet<&str> = inv
        .containers
        .iter()
        .filter(|c| !removed_container(c))
        .map(|c| c.image_id.as_str())
        .collect();
    let (in_use, free): (Vec<&ImageSummary>, Vec<&ImageSummary>) =
        slipway.iter().partition(|i| used.contains(i.id.as_str()));
    let in_use: Vec<Item> = in_use
        .iter()
        .map(|i| item(i, "a container uses it"))
        .collect();
    let (mut images, volume) = match mode {
        Mode::Purge { .. } => (
            free.iter().map(|i| item(i, "purge")).collect(),
            VolumeCheck::Skipped {
                reason: "purge removes every Slipway image".into(),
            },
        ),
        Mode::Cleanup => {
            let mut images: Vec<Item> = free
                .iter()
                .filter(|i| i.tags.is_empty())
                .map(|i| item(i, "dangling"))
                .collect();
            let tagged: Vec<&ImageSummary> = free
                .iter()
                .filter(|i| !i.tags.is_empty())
                .copied()
                .collect();
            let volume = volume_check(usage, policy);
            if let VolumeCheck::Over { bytes_to_free, .. } = &volume {
                images.extend(least_recently_used(
                    &tagged,
                    *bytes_to_free,
                    policy.min_images,
                ));
            }
            (images, volume)
        }
    };
    images.sort_by(|a, b| a.reason.cmp(b.reason).then(a.id.cmp(&b.id)));
    let removed: BTreeSet<&str> = images.iter().map(|i| i.id.as_str()).collect();
    // Remote names go from the images that stay; an image a container uses keeps its last
    // name (the daemon refuses to untag it anyway).
    let mut untag = Vec::new();
    for i in slipway.iter().filter(|i| !removed.contains(i.id.as_str())) {
        let remote: Vec<&String> = i.tags.iter().filter(|t| is_remote_reference(t)).collect();
        if remote.len() == i.tags.len() && used.contains(i.id.as_str()) {
            continue;
        }
        untag.extend(remote.into_iter().cloned());
    }
    untag.sort();
    HostPlan {
        containers,
        images,
        untag,
        in_use,
        volume,
        files: inv.files.clone(),
    }
}

fn volume_check(usage: &Usage, policy: Policy) -> VolumeCheck {
    match usage {
        Usage::Skipped(reason) => VolumeCheck::Skipped {
            reason: reason.clone(),
        },
        Usage::Measured { path, total, used } => {
            let pct = Usage::percent(*total, *used);
            if pct <= policy.allowed_usage {
                return VolumeCheck::Within {
                    path: path.clone(),
                    usage: pct,
                    allowed: policy.allowed_usage,
                };
            }
            let target = policy.allowed_usage - policy.margin;
            // werf's GetBytesToFree: the percent above the target, of the total.
            let bytes_to_free = ((pct - target) * *total as f64 / 100.0).ceil() as u64;
            VolumeCheck::Over {
                path: path.clone(),
                usage: pct,
                allowed: policy.allowed_usage,
                target,
                bytes_to_free,
            }
        }
    }
}

/// Oldest first until `bytes` are freed, at least `min` images (werf's loop).
fn least_recently_used(images: &[&ImageSummary], bytes: u64, min: usize) -> Vec<Item> {
    let mut sorted: Vec<&ImageSummary> = images.to_vec();
    sorted.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
    let mut out = Vec::new();
    let mut freed = 0u64;
    for i in sorted {
        out.push(item(i, "least recently used"));
        freed += i.size;
        if out.len() >= min && freed >= bytes {
            break;
        }
    }
    out
}

impl std::fmt::Display for HostPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.volume {
            VolumeCheck::Skipped { reason } => {
                writeln!(f, "docker storage volume not checked: {reason}")?
            }
            VolumeCheck::Within {
                path,
                usage,
                allowed,
            } => writeln!(
                f,
                "docker storage volume {}: {usage:.2}% used <= {allowed:.2}% allowed",
                path.display()
            )?,
            VolumeCheck::Over {
                path,
                usage,
                allowed,
                target,
                bytes_to_free,
            } => writeln!(
                f,
                "docker storage volume {}: {usage:.2}% used > {allowed:.2}% allowed: freeing {bytes_to_free} bytes down to {target:.2}%",
                path.display()
            )?,
        }
        for c in &self.containers {
            writeln!(
                f,
                "remove container {} {} ({})",
                short(&c.id),
                c.names.join(","),
                c.reason
            )?;
        }
        for i in &self.images {
            writeln!(
                f,
                "remove image {} {} ({}, {} bytes)",
                short(&i.id),
                names(&i.names),
                i.reason,
                i.bytes
            )?;
        }
        for t in &self.untag {
            writeln!(f, "untag {t} (a remote reference)")?;
        }
        for i in &self.in_use {
            writeln!(
                f,
                "keep image {} {} ({})",
                short(&i.id),
                names(&i.names),
                i.reason
            )?;
        }
        for p in &self.files {
            writeln!(f, "delete {}", p.display())?;
        }
        Ok(())
    }
}

fn short(id: &str) -> &str {
    let hex = id.trim_start_matches("sha256:");
    &hex[..hex.len().min(12)]
}

fn names(n: &[String]) -> String {
    if n.is_empty() {
        "<none>".into()
    } else {
        n.join(",")
    }
}

#[cfg(test)]
mod tests;
