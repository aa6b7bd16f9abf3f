//! Pushing built images, once each: from the daemon's export stream through
//! `transfer::from_daemon` (images sharing layers one after the other), or with the daemon
//! itself (`--push-with-daemon`). A tag another runner moved to the same content meanwhile
//! is converged on, not failed.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::plan::{self, RemoteLookup, Wanted};
use super::{ClientLookup, PublishError, PublishOptions};
use crate::build;
use crate::daemon::{DaemonApi, DaemonError, engine};
use crate::registry::{Client, RegistryError, Repository, UploadMode};
use crate::transfer::from_daemon;
use crate::transfer::push::{self, PushError, PushOptions, PushTarget};

/// Images pushed at the same time by one publish.
pub(super) const IMAGES_IN_FLIGHT: usize = 2;

/// Pushes built images, once each; shared with the build so that a dependency whose
/// `ImageDigest` an image imports is pushed before that image builds.
pub(super) struct Pusher {
    docker: Arc<dyn DaemonApi>,
    client: Client,
    repos: BTreeMap<String, Repository>,
    /// Exported images are spooled here.
    work: tempfile::TempDir,
    on_push: Option<push::OnProgress>,
    upload_mode: UploadMode,
    push_with_daemon: bool,
    layer_compression: crate::registry::compress::Codec,
    /// Hosts that `--insecure-registry`, plain HTTP or loopback relax (Podman must be told).
    relaxed_hosts: std::collections::BTreeSet<String>,
    /// Digest of every image pushed so far.
    pub(super) pushed: tokio::sync::Mutex<BTreeMap<Option<String>, String>>,
    layers_in_flight: Arc<InFlight>,
    /// Pushes start from these (the environment's layer cache, layer store, timeout).
    push: PushOptions,
}

/// diffIDs of the images being pushed right now.
#[derive(Default)]
struct InFlight {
    layers: std::sync::Mutex<std::collections::HashSet<String>>,
    changed: tokio::sync::Notify,
}

/// An image's claim on its layers; released when dropped.
struct Claim {
    owner: Arc<InFlight>,
    layers: Vec<String>,
}

impl InFlight {
    /// Wait until no image in flight has any of `layers`, then hold them.
    async fn claim(self: &Arc<Self>, layers: Vec<String>) -> Claim {
        loop {
            let changed = self.changed.notified();
            if let Ok(mut held) = self.layers.lock() {
                if layers.iter().all(|l| !held.contains(l)) {
                    held.extend(layers.iter().cloned());
                    return Claim {
                        owner: self.clone(),
                        layers,
                    };
                }
            } else {
                // A poisoned lock only loses the overlap check.
                return Claim {
                    owner: self.clone(),
                    layers: Vec::new(),
                };
            }
            changed.await;
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Ok(mut held) = self.owner.layers.lock() {
            for l in &self.layers {
                held.remove(l);
            }
        }
        self.owner.changed.notify_waiters();
    }
}

impl Pusher {
    /// A pusher for `repos`; `pushed` starts with what is there already (copied from the
    /// stages storage).
    pub(super) fn new(
        docker: Arc<dyn DaemonApi>,
        client: &Client,
        repos: &BTreeMap<String, Repository>,
        opts: &PublishOptions,
        pushed: BTreeMap<Option<String>, String>,
        env: &crate::settings::HostEnv,
    ) -> Result<Pusher, PublishError> {
        let work = tempfile::tempdir().map_err(|e| PublishError::Export {
            image: "-".into(),
            cause: e.to_string(),
        })?;
        Ok(Pusher {
            docker,
            client: client.clone(),
            repos: repos.clone(),
            work,
            on_push: opts.on_push.clone(),
            upload_mode: opts.upload_mode,
            push_with_daemon: opts.push_with_daemon,
            layer_compression: opts.layer_compression,
            relaxed_hosts: repos
                .values()
                .filter(|r| {
                    let policy = client.policy(&r.host);
                    policy.insecure || policy.allow_http || policy.skip_verify
                })
                .map(|r| r.host.clone())
                .collect(),
            pushed: tokio::sync::Mutex::new(pushed),
            layers_in_flight: Arc::default(),
            push: PushOptions::for_host(env),
        })
    }

    /// Push one planned image from the daemon under all its tags; returns its digest.
    pub(super) async fn push(&self, p: &plan::ImagePlan, id: &str) -> Result<String, PublishError> {
        let repository = self
            .repos
            .get(&p.wanted.repository)
            .cloned()
            .ok_or(PublishError::NoRepo)?;
        let lookup = ClientLookup {
            client: &self.client,
            repos: self.repos.clone(),
        };
        let digest = if self.push_with_daemon {
            // Podman verifies TLS even for loopback registries unless told otherwise.
            let podman_insecure = self.relaxed_hosts.contains(&repository.host)
                && self
                    .docker
                    .version()
                    .await
                    .is_ok_and(|v| engine::from_version(&v).is_podman());
            daemon_push(
                self.docker.as_ref(),
                &self.client,
                id,
                &repository,
                &p.wanted.tags,
                p.label(),
                podman_insecure,
            )
            .await?
        } else if let Some(d) = published_meanwhile(&lookup, &p.wanted).await? {
            // Another runner published this very content since the plan was made: use its
            // image, so every runner reports one digest per signature.
            self.client.retag(&repository, &d, &p.wanted.tags).await?
        } else {
            let target = PushTarget {
                repository,
                tags: p.wanted.tags.clone(),
            };
            let popts = PushOptions {
                on_progress: self.on_push.clone(),
                upload_mode: self.upload_mode,
                work_dir: self.work.path().to_path_buf(),
                compression: self.layer_compression,
                ..self.push.clone()
            };
            match self.push_streamed(p, id, &target, &popts).await {
                Ok(r) => {
                    // The CLI prints the summary; this is the detail for debugging.
                    tracing::debug!(image = p.label(), digest = %r.digest, uploaded = r.blobs_uploaded, bytes = r.bytes_uploaded, "pushed");
                    r.digest
                }
                // A concurrent runner moved a tag to its own build of the same content:
                // converge on one image rather than fail.
                Err(
                    e @ PublishError::Push(PushError::Registry(RegistryError::TagMoved { .. })),
                ) => match published_meanwhile(&lookup, &p.wanted).await? {
                    Some(d) => {
                        self.client
                            .retag(&target.repository, &d, &p.wanted.tags)
                            .await?
                    }
                    None => return Err(e),
                },
                Err(e) => return Err(e),
            }
        };
        self.pushed
            .lock()
            .await
            .insert(p.wanted.name.clone(), digest.clone());
        Ok(digest)
    }
}

impl Pusher {
    /// Push a multi-platform image (issue 34): each platform's image by digest, then one
    /// OCI index over them under all its tags; returns the index digest.
    pub(super) async fn push_index(
        &self,
        p: &plan::ImagePlan,
        platforms: &[build::PlatformImage],
    ) -> Result<String, PublishError> {
        use crate::transfer::index;
        let repository = self
            .repos
            .get(&p.wanted.repository)
            .cloned()
            .ok_or(PublishError::NoRepo)?;
        if self.push_with_daemon {
            tracing::warn!(
                image = p.label(),
                "--push-with-daemon cannot push an image index: pushed with Slipway's client"
            );
        }
        let by_digest = PushTarget {
            repository: repository.clone(),
            tags: Vec::new(),
        };
        let popts = PushOptions {
            on_progress: self.on_push.clone(),
            upload_mode: self.upload_mode,
            work_dir: self.work.path().to_path_buf(),
            compression: self.layer_compression,
            ..self.push.clone()
        };
        let mut children = Vec::new();
        for one in platforms {
            let r = self
                .push_streamed(p, &one.image_id, &by_digest, &popts)
                .await?;
            children.push(index::child(&self.client, &repository, &one.platform, &r.digest).await?);
        }
        let annotations = BTreeMap::from([(
            crate::labels::SIGNATURE.to_string(),
            p.wanted.signature.clone(),
        )]);
        let digest = index::put(
            &self.client,
            &repository,
            &p.wanted.tags,
            &children,
            &annotations,
        )
        .await?;
        tracing::debug!(image = p.label(), %digest, platforms = children.len(), "index pushed");
        self.pushed
            .lock()
            .await
            .insert(p.wanted.name.clone(), digest.clone());
        Ok(digest)
    }

    /// Each platform's manifest digest in the index `digest` of `p`'s repository.
    pub(super) async fn index_platforms(
        &self,
        p: &plan::ImagePlan,
        digest: &str,
    ) -> Result<BTreeMap<String, String>, PublishError> {
        let repository = self
            .repos
            .get(&p.wanted.repository)
            .ok_or(PublishError::NoRepo)?;
        let Some((m, ..)) = self.client.get_typed_manifest(repository, digest).await? else {
            return Ok(BTreeMap::new());
        };
        let mut out = BTreeMap::new();
        for c in m.children() {
            let Some(pl) = c.platform() else { continue };
            let mut name = format!("{}/{}", pl.os(), pl.architecture());
            if let Some(v) = pl.variant().as_deref().filter(|v| !v.is_empty()) {
                name = format!("{name}/{v}");
            }
            let name = crate::platform::normalize(&name).unwrap_or(name);
            out.insert(name, c.digest().to_string());
        }
        Ok(out)
    }

    /// From the daemon's export stream, compressing and uploading while it arrives; the
    /// spooled path (export to a file, then push it) where the stream cannot be used.
    async fn push_streamed(
        &self,
        p: &plan::ImagePlan,
        id: &str,
        target: &PushTarget,
        popts: &PushOptions,
    ) -> Result<push::PushReport, PublishError> {
        // Images that share layers go one after the other, so a shared layer is sent once
        // and found present by the next.
        let layers: Option<Vec<String>> = self
            .docker
            .inspect(id)
            .await
            .map_err(|e| PublishError::Export {
                image: p.label().to_string(),
                cause: e.to_string(),
            })?
            .layers;
        let _turn = self
            .layers_in_flight
            .claim(layers.clone().unwrap_or_default())
            .await;
        from_daemon::push_from_daemon(
            self.docker.as_ref(),
            &self.client,
            id,
            layers,
            p.label(),
            target,
            popts,
            self.work.path(),
        )
        .await
        .map_err(PublishError::from)
    }
}

/// The digest of an image with this signature that a tag of `wanted` (or its content tag)
/// now holds, if any.
async fn published_meanwhile(
    lookup: &ClientLookup<'_>,
    wanted: &Wanted,
) -> Result<Option<String>, RegistryError> {
    for tag in wanted.probe.iter().chain(&wanted.tags) {
        if let Some(r) = lookup.lookup(&wanted.repository, tag).await?
            && r.signature.as_deref() == Some(wanted.signature.as_str())
        {
            return Ok(Some(r.digest));
        }
    }
    Ok(None)
}

/// `--push-with-daemon`: tag and `docker push` each reference, with our credentials passed
/// as X-Registry-Auth; then read the digest from the registry and check every tag.
/// `podman_insecure`: the daemon is Podman and the registry insecure (see
/// [`DaemonApi::push`]).
async fn daemon_push(
    docker: &dyn DaemonApi,
    client: &Client,
    id: &str,
    repo: &Repository,
    tags: &[String],
    label: &str,
    podman_insecure: bool,
) -> Result<String, PublishError> {
    use bollard::auth::DockerCredentials;
    let err = |cause: String| PublishError::DaemonPush {
        image: label.to_string(),
        cause,
    };
    let creds = client.credentials(&repo.host)?.map(|f| match f.credential {
        crate::registry::keychain::Credential::Basic { username, password } => DockerCredentials {
            username: Some(username),
            password: Some(password),
            serveraddress: Some(repo.host.clone()),
            ..Default::default()
        },
        crate::registry::keychain::Credential::IdentityToken(t) => DockerCredentials {
            identitytoken: Some(t),
            serveraddress: Some(repo.host.clone()),
            ..Default::default()
        },
    });
    let name = repo.to_string();
    push_tags(docker, id, &name, tags, creds.as_ref(), podman_insecure)
        .await
        .map_err(|e| err(e.to_string()))?;
    let first = tags.first().ok_or_else(|| err("no tag to push".into()))?;
    let digest = client
        .head_manifest(repo, first)
        .await?
        .map(|i| i.digest)
        .ok_or_else(|| err(format!("{name}:{first} missing after docker push")))?;
    client.verify_tags(repo, tags, &digest).await?;
    Ok(digest)
}

/// Why `--push-with-daemon` failed in the daemon.
#[derive(Debug, thiserror::Error)]
enum DaemonPushError {
    #[error("tagging {reference}: {cause}")]
    Tag {
        reference: String,
        cause: DaemonError,
    },
    /// `tool`: `docker push`, or `podman push` (told not to verify TLS).
    #[error("{tool} {reference}: {cause}")]
    Push {
        tool: &'static str,
        reference: String,
        cause: DaemonError,
    },
}

/// Tag image `id` as `name:TAG` and push that, for each tag in turn.
async fn push_tags(
    docker: &dyn DaemonApi,
    id: &str,
    name: &str,
    tags: &[String],
    creds: Option<&bollard::auth::DockerCredentials>,
    podman_insecure: bool,
) -> Result<(), DaemonPushError> {
    let tool = if podman_insecure {
        "podman push"
    } else {
        "docker push"
    };
    for tag in tags {
        let reference = format!("{name}:{tag}");
        docker
            .tag(id, &reference)
            .await
            .map_err(|cause| DaemonPushError::Tag {
                reference: reference.clone(),
                cause,
            })?;
        docker
            .push(name, tag, creds, !podman_insecure)
            .await
            .map_err(|cause| DaemonPushError::Push {
                tool,
                reference,
                cause,
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod daemon_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn images_sharing_a_layer_wait_for_each_other_others_do_not() {
        let f = Arc::new(InFlight::default());
        let a = f.claim(vec!["base".into(), "a".into()]).await;
        // Disjoint: no wait.
        let c = tokio::time::timeout(std::time::Duration::from_secs(1), f.claim(vec!["c".into()]))
            .await
            .expect("disjoint claim must not wait");
        // Sharing `base`: waits until `a` is released.
        let f2 = f.clone();
        let b = tokio::spawn(async move { f2.claim(vec!["base".into(), "b".into()]).await });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!b.is_finished(), "a claim sharing a layer went ahead");
        drop(a);
        let b = tokio::time::timeout(std::time::Duration::from_secs(1), b)
            .await
            .expect("released claim must wake the waiter")
            .expect("join");
        drop((b, c));
        assert!(f.layers.lock().expect("lock").is_empty());
    }
}
