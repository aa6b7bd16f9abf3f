//! An image (or index) in a registry repository (`promote`): its blobs are mounted when
//! the target is on the same registry, else copied, and its manifests are written as they
//! are, so the digest does not change.

use crate::registry::{Client, Manifest, Repository};
use crate::transfer::copy::copy_blob;
use crate::transfer::plan::{BlobAction, CopyPlan, ManifestStep, Origin, SourceBlob};
use crate::transfer::push::{PushError, PushedLayer, Session};

use super::{ImageSource, Sent, each_blob};

/// A manifest (and an index's children) with every blob they name.
#[derive(Debug, Clone)]
pub struct RegistrySource {
    pub repository: Repository,
    /// The reference it was read by, for plans.
    pub reference: String,
    /// Top manifest digest.
    pub digest: String,
    /// (digest, size) of every blob, sorted and without repeats.
    pub blobs: Vec<(String, u64)>,
    /// The config blobs among them, with their media types (progress counts layers only).
    pub configs: std::collections::BTreeMap<String, String>,
    /// An index's children first, the top manifest last.
    pub manifests: Vec<ManifestStep>,
}

impl RegistrySource {
    /// Read the manifests `reference` names in `repository`; `None` when it does not exist.
    pub async fn open(
        client: &Client,
        repository: &Repository,
        reference: &str,
        label: &str,
    ) -> Result<Option<RegistrySource>, PushError> {
        let Some((body, info)) = client.get_manifest(repository, reference).await? else {
            return Ok(None);
        };
        let parse = |b: &[u8], what: &str| {
            Manifest::parse(b).map_err(|e| PushError::Plan(format!("manifest of {what}: {e}")))
        };
        let top = parse(&body, label)?;
        let mut manifests = Vec::new();
        let mut blobs: Vec<(String, u64)> = top.blobs();
        let config = |m: &Manifest| {
            m.config()
                .map(|d| (d.digest().to_string(), d.media_type().to_string()))
        };
        let mut configs: std::collections::BTreeMap<String, String> =
            config(&top).into_iter().collect();
        for c in top.children() {
            let d = c.digest().to_string();
            let Some((cb, ci)) = client.get_manifest(repository, &d).await? else {
                return Err(PushError::Plan(format!(
                    "{repository}@{d} (named by {label}) does not exist"
                )));
            };
            let child = parse(&cb, &d)?;
            blobs.extend(child.blobs());
            configs.extend(config(&child));
            let media_type = if ci.media_type.is_empty() {
                c.media_type().to_string()
            } else {
                ci.media_type
            };
            manifests.push(ManifestStep {
                digest: ci.digest,
                media_type,
                body: cb,
            });
        }
        blobs.sort();
        blobs.dedup();
        manifests.push(ManifestStep {
            digest: info.digest.clone(),
            media_type: info.media_type,
            body,
        });
        Ok(Some(RegistrySource {
            repository: repository.clone(),
            reference: label.to_string(),
            digest: info.digest,
            blobs,
            configs,
            manifests,
        }))
    }
}

impl ImageSource for RegistrySource {
    type Error = PushError;

    fn describe(&self) -> String {
        self.reference.clone()
    }

    fn blobs(&self) -> Vec<SourceBlob> {
        self.blobs
            .iter()
            .map(|(d, size)| SourceBlob {
                digest: Some(d.clone()),
                size: Some(*size),
                media_type: self.configs.get(d).cloned(),
                ..SourceBlob::default()
            })
            .collect()
    }

    fn origin(&self, target: &Session<'_>) -> Origin {
        Origin::Registry {
            path: self.repository.path.clone(),
            same_registry: self.repository.host == target.repository().host,
        }
    }

    async fn send(&self, session: &Session<'_>, plan: &CopyPlan) -> Result<Sent, PushError> {
        let total = plan.blobs.len();
        let blobs = each_blob(session, plan, |i, step| async move {
            let digest = step
                .digest
                .clone()
                .ok_or_else(|| PushError::Plan("a registry blob without a digest".into()))?;
            let size = step.size.unwrap_or(0);
            let pushed = |action| PushedLayer {
                digest: digest.clone(),
                size,
                media_type: String::new(),
                action,
                compressed: false,
                diff_id: None,
            };
            match step.action {
                BlobAction::Present => return Ok(pushed(BlobAction::Present)),
                BlobAction::Mount => {
                    let from = step.from.as_deref().unwrap_or(&self.repository.path);
                    if session
                        .client()
                        .mount_blob(session.repository(), &digest, from)
                        .await?
                    {
                        return Ok(pushed(BlobAction::Mount));
                    }
                }
                BlobAction::Upload | BlobAction::Copy => {}
            }
            let counter = || session.counter(i + 1, total, size);
            let len = copy_blob(
                session.client(),
                &self.repository,
                session.repository(),
                &digest,
                &session.options().work_dir,
                &counter,
            )
            .await?;
            Ok(PushedLayer {
                size: len,
                ..pushed(BlobAction::Copy)
            })
        })
        .await?;
        Ok(Sent::Manifests {
            blobs,
            manifests: self.manifests.clone(),
        })
    }
}
