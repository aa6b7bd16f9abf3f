//! Pull an image from a registry into the daemon with Slipway's own registry client (its
//! credentials, TLS and retries, not the daemon's): the manifest and blobs become a
//! docker-save stream that the Engine API loads (`POST /images/load`). Layers go to the
//! daemon compressed, as the registry holds them (the daemon decompresses on load), and
//! each blob is checked against its digest while it streams: a mismatch aborts the load.
//! Self-contained: the push side has its own module.

use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::daemon::DaemonApi;
use crate::registry::{Client, Manifest, RegistryError, Repository};

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{reference}: no such manifest in the registry")]
    NotFound { reference: String },
    #[error("{reference}: not a single image manifest (an index or another artifact)")]
    NotAnImage { reference: String },
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    Digest {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("loading {reference} into the daemon: {cause}")]
    Load { reference: String, cause: String },
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The daemon's image ID (the config digest).
    pub image_id: String,
    /// Compressed bytes downloaded.
    pub bytes: u64,
}

/// A tar header for a regular file.
fn header(name: &str, size: u64) -> Result<Bytes, std::io::Error> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name)?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    Ok(Bytes::copy_from_slice(h.as_bytes()))
}

/// Zero bytes that pad `size` to a 512-byte block.
fn padding(size: u64) -> Bytes {
    let rem = (size % 512) as usize;
    Bytes::from(vec![0u8; if rem == 0 { 0 } else { 512 - rem }])
}

type Chunk = Result<Bytes, std::io::Error>;

/// The layer chain IDs of an image with these diff IDs (the daemon's layer identities:
/// a layer's ID covers every layer below it).
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let id = match out.last() {
            None => d.clone(),
            Some(parent) => format!(
                "sha256:{}",
                hex::encode(Sha256::digest(format!("{parent} {d}").as_bytes()))
            ),
        };
        out.push(id);
    }
    out
}

/// An image in a registry, resolved for a pull: its config and layers.
pub struct Remote {
    full: String,
    config_digest: String,
    config: Bytes,
    /// (digest, size) per layer, bottom first.
    layers: Vec<(String, u64)>,
    /// The daemon's layer chain IDs, when the config lists a diff ID per layer.
    chains: Vec<String>,
}

impl Remote {
    /// The config's digest: the image ID a daemon gives it.
    pub fn config_digest(&self) -> &str {
        &self.config_digest
    }

    /// Layer chain IDs, bottom first (empty if the config does not say).
    pub fn chain_ids(&self) -> &[String] {
        &self.chains
    }
}

/// Read `repo:reference`'s manifest and config.
pub async fn resolve(
    client: &Client,
    repo: &Repository,
    reference: &str,
) -> Result<Remote, PullError> {
    let full = format!("{repo}:{reference}");
    let (manifest, _, _) = client
        .get_typed_manifest(repo, reference)
        .await?
        .ok_or_else(|| PullError::NotFound {
            reference: full.clone(),
        })?;
    let Manifest::Image(m) = manifest else {
        return Err(PullError::NotAnImage { reference: full });
    };
    let config_digest = m.config().digest().to_string();
    let config = client.get_blob_bytes(repo, &config_digest).await?;
    let diff_ids: Vec<String> =
        serde_json::from_slice::<oci_spec::image::ImageConfiguration>(&config)
            .map(|c| c.rootfs().diff_ids().clone())
            .unwrap_or_default();
    let chains = if diff_ids.len() == m.layers().len() {
        chain_ids(&diff_ids)
    } else {
        Vec::new()
    };
    Ok(Remote {
        full,
        config_digest,
        config,
        layers: m
            .layers()
            .iter()
            .map(|d| (d.digest().to_string(), d.size()))
            .collect(),
        chains,
    })
}

/// Load a resolved image into the daemon and tag it `local_tag` (a full `repo:tag`).
///
/// `present`: layer chain IDs the daemon holds. Their bytes are neither downloaded nor
/// sent: Docker's load skips a layer whose chain it has without reading its file (an
/// empty one is sent). A daemon that reads it anyway fails the load on the diff ID; the
/// pull is then made again in full.
pub async fn load(
    docker: &dyn DaemonApi,
    client: &Client,
    repo: &Repository,
    remote: &Remote,
    local_tag: &str,
    present: &std::collections::HashSet<String>,
) -> Result<Pulled, PullError> {
    let load = Load {
        docker,
        client,
        repo,
        remote,
        local_tag,
    };
    let skips = remote.chains.iter().any(|c| present.contains(c));
    match load.once(present).await {
        Err(PullError::Load { cause, .. }) if skips => {
            tracing::debug!(%repo, remote = %remote.full, "load without the present layers failed ({cause}); pulling in full");
            load.once(&Default::default()).await
        }
        r => r,
    }
}

/// One load of a resolved image: what [`load`] may try twice.
struct Load<'a> {
    docker: &'a dyn DaemonApi,
    client: &'a Client,
    repo: &'a Repository,
    remote: &'a Remote,
    local_tag: &'a str,
}

impl Load<'_> {
    async fn once(&self, present: &std::collections::HashSet<String>) -> Result<Pulled, PullError> {
        let Load {
            docker,
            client,
            repo,
            remote,
            local_tag,
        } = *self;
        let full = remote.full.clone();
        let config_digest = remote.config_digest.clone();
        let config = remote.config.clone();
        let hex = config_digest.trim_start_matches("sha256:").to_string();
        // (digest, size, whether the daemon has the layer already)
        let layers: Vec<(String, u64, bool)> = remote
            .layers
            .iter()
            .enumerate()
            .map(|(i, (d, size))| {
                let have = remote.chains.get(i).is_some_and(|c| present.contains(c));
                (d.clone(), *size, have)
            })
            .collect();

        let (tx, rx) = mpsc::channel::<Chunk>(16);
        let producer = {
            let client = client.clone();
            let repo = repo.clone();
            let local_tag = local_tag.to_string();
            let full = full.clone();
            tokio::spawn(async move {
                let r = write_archive(&client, &repo, &hex, config, &layers, &local_tag, &tx).await;
                if let Err(e) = &r {
                    // The daemon must not load a truncated archive as if it were whole.
                    let _ = tx
                        .send(Err(std::io::Error::other(format!("{full}: {e}"))))
                        .await;
                }
                r
            })
        };
        let body = futures::stream::poll_fn({
            let mut rx = rx;
            move |cx| rx.poll_recv(cx)
        });
        let load_error = docker.load(Box::pin(body)).await.err().map(|e| e.0);
        let bytes = match producer.await {
            Ok(r) => r?,
            Err(e) => {
                return Err(PullError::Load {
                    reference: full,
                    cause: e.to_string(),
                });
            }
        };
        if let Some(cause) = load_error {
            return Err(PullError::Load {
                reference: full,
                cause,
            });
        }
        let image_id = loaded_id(docker, local_tag, &full, config_digest).await?;
        Ok(Pulled { image_id, bytes })
    }
}

/// The ID of the image `local_tag` after the load of `full`, which must be its config
/// digest.
async fn loaded_id(
    docker: &dyn DaemonApi,
    local_tag: &str,
    full: &str,
    config_digest: String,
) -> Result<String, PullError> {
    let id = docker
        .inspect(local_tag)
        .await
        .ok()
        .map(|i| i.id)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| PullError::Load {
            reference: full.to_string(),
            cause: format!("{local_tag} is not in the daemon after the load"),
        })?;
    if id != config_digest {
        return Err(PullError::Digest {
            what: format!("image {full} loaded into the daemon"),
            expected: config_digest,
            actual: id,
        });
    }
    Ok(id)
}

/// The docker-save archive of one image: config, layers (compressed, as stored), then
/// `manifest.json`. Returns the layer bytes downloaded.
async fn write_archive(
    client: &Client,
    repo: &Repository,
    config_hex: &str,
    config: Bytes,
    layers: &[(String, u64, bool)],
    local_tag: &str,
    tx: &mpsc::Sender<Chunk>,
) -> Result<u64, PullError> {
    let send = |c: Bytes| async move { tx.send(Ok(c)).await.is_ok() };
    let config_name = format!("{config_hex}.json");
    let io = |e: std::io::Error| PullError::Load {
        reference: local_tag.to_string(),
        cause: e.to_string(),
    };
    let mut ok = send(header(&config_name, config.len() as u64).map_err(io)?).await;
    let config_len = config.len() as u64;
    ok = ok && send(config).await && send(padding(config_len)).await;
    let mut names = Vec::new();
    let mut total = 0u64;
    for (n, (digest, size, have)) in layers.iter().enumerate() {
        if !ok {
            break;
        }
        let name = format!("{n}/layer.tar");
        if *have {
            ok = send(header(&name, 0).map_err(io)?).await;
            names.push(name);
            continue;
        }
        ok = send(header(&name, *size).map_err(io)?).await;
        let mut stream = client.get_blob(repo, digest).await?;
        let mut h = Sha256::new();
        let mut got = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            got += chunk.len() as u64;
            if got > *size {
                break;
            }
            h.update(&chunk);
            ok = send(chunk).await;
            if !ok {
                break;
            }
        }
        if !ok {
            break;
        }
        let actual = format!("sha256:{}", hex::encode(h.finalize()));
        if got != *size || actual != *digest {
            return Err(PullError::Digest {
                what: format!("layer {repo}@{digest} ({got} of {size} bytes)"),
                expected: digest.clone(),
                actual,
            });
        }
        ok = ok && send(padding(*size)).await;
        total += size;
        names.push(name);
    }
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": config_name,
        "RepoTags": [local_tag],
        "Layers": names,
    }]))
    .map_err(|e| io(std::io::Error::other(e)))?;
    let mlen = manifest.len() as u64;
    ok = ok
        && send(header("manifest.json", mlen).map_err(io)?).await
        && send(Bytes::from(manifest)).await
        && send(padding(mlen)).await
        && send(Bytes::from(vec![0u8; 1024])).await;
    if !ok {
        return Err(PullError::Load {
            reference: local_tag.to_string(),
            cause: "the daemon stopped reading the archive".into(),
        });
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_are_the_daemons_layer_ids() {
        // Read from a Docker 20.10 daemon: an image's RootFS.Layers and the directories of
        // /var/lib/docker/image/overlay2/layerdb/sha256/ they are stored under.
        let diff_ids = [
            "sha256:c3b484ca964bae72831c3476789c47a69991a43fff87cc21409d76a64971874c",
            "sha256:b87f67b63180cf5b2288203c657bb64dabd0811a088d839f4cda2c1b2646f2ab",
            "sha256:46f0ed855bd0a81ca2f5780a9508df160e2436727545aa4109086a69c65eddc6",
        ]
        .map(String::from);
        assert_eq!(
            chain_ids(&diff_ids),
            [
                "sha256:c3b484ca964bae72831c3476789c47a69991a43fff87cc21409d76a64971874c",
                "sha256:16eb33eac2a6f4fd3eeaba5dc077f842e57ca7891bfcce4bdc340561e19fa925",
                "sha256:42a80ec98c0146c399394b415961a5bd2e8a14689d245089fbb14797b4309c2a",
            ]
        );
        assert!(chain_ids(&[]).is_empty());
    }

    #[test]
    fn archive_framing_pads_to_blocks() {
        assert_eq!(padding(0).len(), 0);
        assert_eq!(padding(1).len(), 511);
        assert_eq!(padding(512).len(), 0);
        let h = header("0/layer.tar", 1234).expect("header");
        assert_eq!(h.len(), 512);
        let bytes = [
            h.to_vec(),
            vec![7u8; 1234],
            padding(1234).to_vec(),
            vec![0; 1024],
        ]
        .concat();
        let mut a = tar::Archive::new(bytes.as_slice());
        let entries: Vec<(String, u64)> = a
            .entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                (
                    e.path().expect("path").to_string_lossy().to_string(),
                    e.size(),
                )
            })
            .collect();
        assert_eq!(entries, vec![("0/layer.tar".to_string(), 1234)]);
    }
}
