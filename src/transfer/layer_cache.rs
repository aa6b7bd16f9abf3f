//! diffID → compressed blob, learned from the images already in a target repository and
//! kept in a local file between runs, so a known layer costs a HEAD (or a mount), never a
//! compression.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::registry::{Client, Manifest, Repository};

/// A known compressed form of a diffID.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Known {
    pub(crate) digest: String,
    pub(crate) size: u64,
    pub(crate) media_type: String,
    /// Repositories (`host/path`) known to hold it.
    pub(crate) repos: Vec<String>,
}

/// diffID → compressed blob, persisted between runs.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Cache {
    pub(crate) layers: BTreeMap<String, Known>,
}

impl Cache {
    pub(crate) fn load(path: Option<&PathBuf>) -> Cache {
        path.and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub(crate) fn save(&self, path: Option<&PathBuf>) {
        let Some(p) = path else { return };
        if let Some(dir) = p.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Ok(data) = serde_json::to_vec(self) {
            // A lost cache only costs a recompression; never fail a push over it.
            let _ = crate::fsutil::write_atomic(p, &data);
        }
    }

    pub(crate) fn remember(
        &mut self,
        diff_id: &str,
        digest: &str,
        size: u64,
        media_type: &str,
        repo: &str,
    ) {
        let k = self
            .layers
            .entry(diff_id.to_string())
            .or_insert_with(|| Known {
                digest: digest.to_string(),
                size,
                media_type: media_type.to_string(),
                repos: Vec::new(),
            });
        if k.digest != digest {
            *k = Known {
                digest: digest.to_string(),
                size,
                media_type: media_type.to_string(),
                repos: Vec::new(),
            };
        }
        if !k.repos.iter().any(|r| r == repo) {
            k.repos.push(repo.to_string());
            if k.repos.len() > 16 {
                k.repos.remove(0);
            }
        }
    }
}

/// Learn diffID → digest pairs from what `repo` holds under `tags`.
pub(crate) async fn learn(
    client: &Client,
    repo: &Repository,
    tags: &[String],
    cache: &Mutex<Cache>,
) {
    for tag in tags {
        let Ok(Some((bytes, _))) = client.get_manifest(repo, tag).await else {
            continue;
        };
        let Ok(Manifest::Image(m)) = Manifest::parse(&bytes) else {
            continue;
        };
        let Ok(Some(cfg)) = client.get_config(repo, m.config().digest().as_ref()).await else {
            continue;
        };
        if let Ok(mut c) = cache.lock() {
            for (id, l) in cfg.rootfs().diff_ids().iter().zip(m.layers()) {
                c.remember(
                    id,
                    l.digest().as_ref(),
                    l.size(),
                    l.media_type().as_ref(),
                    &repo.to_string(),
                );
            }
        }
        // One image of the same name is enough to know its base layers.
        break;
    }
}
