//! One node's build as named steps: `reuse` (a local image with this signature and these
//! imports), `input` (the context and Dockerfile), `run` (labels, options, the builder)
//! and `finalize` (the image ID, labels the builder dropped, extra tags). A stapel node
//! with a stages storage takes `stapel_storage` instead of input and run.

mod finalize;
mod image_spec;
mod input;
mod platforms;
mod reuse;
mod run;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::schedule::Backend;
use super::{BuildError, BuildOptions, BuilderKind, BuiltImage, Event, SessionData, buildkit};
use crate::config::ImageConfig;

pub(super) use finalize::ensure_labels;
pub(super) use image_spec::{PODMAN as PODMAN_IMAGE_SPEC, apply as apply_image_spec};
pub(super) use run::{failure_message, image_labels};

/// How one image is built: BuildKit of this daemon (with its session data) or classic.
#[derive(Clone)]
pub(super) struct How {
    pub buildkit: Option<buildkit::BuildKit>,
    pub session: SessionData,
    /// Podman's Buildah labels every intermediate image of the last stage with the build's
    /// `--label`s, and tags what it got to even when a step fails: the signature label is
    /// then added only after a successful build, so no half-built image ever looks done.
    pub podman: bool,
    /// A stapel image or artifact: its Dockerfile and context are generated.
    pub stapel: Option<Arc<crate::stapel::Env>>,
    /// Every node's content signature (a stapel stage's signature covers its base's and
    /// import sources').
    pub node_signatures: Arc<BTreeMap<Option<String>, String>>,
    /// Build slots (`--parallel-tasks-limit`): held while a node builds.
    pub slots: Arc<tokio::sync::Semaphore>,
    /// The registry digests of dependencies this image imports (`ImageDigest`), which its
    /// signature cannot cover (one content can be published under several digests): a
    /// local image is reused only if it was built with these, by its
    /// [`crate::labels::IMPORTED_DIGESTS`] label.
    pub imported_digests: Option<String>,
    /// A stapel node's dependency imports, `targetEnv` → value (set as ENV).
    pub dependency_env: BTreeMap<String, String>,
    /// The OCI labels the image gets unless werf.yaml or its Dockerfile sets them
    /// (`labels::oci`; the signature covers them).
    pub oci_labels: BTreeMap<String, String>,
    /// An image built for several platforms: each platform's imports, from the same
    /// platform of each dependency (issue 34), by platform.
    pub platform_imports: Arc<BTreeMap<String, PlatformImports>>,
}

/// One platform's imports of a multi-platform image (see [`How::platform_imports`]).
#[derive(Clone, Default)]
pub(super) struct PlatformImports {
    /// The build arguments with the imports.
    pub args: BTreeMap<String, String>,
    /// See [`How::imported_digests`].
    pub imported_digests: Option<String>,
    /// See [`How::dependency_env`].
    pub dependency_env: BTreeMap<String, String>,
}

impl How {
    pub async fn slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, SlotsClosed> {
        self.slots
            .clone()
            .acquire_owned()
            .await
            .map_err(SlotsClosed)
    }
}

/// The run's build slots are closed: it is stopping.
#[derive(Debug, thiserror::Error)]
#[error("build slots: {0}")]
pub struct SlotsClosed(tokio::sync::AcquireError);

/// The node being built.
pub(super) struct Node<'a> {
    pub backend: &'a Backend,
    pub project: &'a str,
    pub img: &'a ImageConfig,
    pub sig: &'a str,
    pub opts: &'a BuildOptions,
    pub how: How,
    /// For messages (`~` for the nameless image).
    pub name: String,
    /// The node's local tag.
    pub local: String,
    /// Extra tags (`--tag` names).
    pub extra: Vec<String>,
    pub start: Instant,
    /// The one platform this node builds of an image built for several (issue 34).
    pub platform: Option<String>,
}

impl<'a> Node<'a> {
    pub fn new(
        backend: &'a Backend,
        project: &'a str,
        img: &'a ImageConfig,
        sig: &'a str,
        opts: &'a BuildOptions,
        how: How,
    ) -> Node<'a> {
        Node {
            backend,
            project,
            img,
            sig,
            opts,
            how,
            name: img.display_name().to_string(),
            local: crate::stapel::node_tag(project, img),
            extra: opts.extra_tags.get(&img.name).cloned().unwrap_or_default(),
            start: Instant::now(),
            platform: None,
        }
    }

    pub fn fail(&self, message: impl std::fmt::Display) -> BuildError {
        BuildError::Failed {
            image: self.name.clone(),
            message: message.to_string(),
        }
    }

    /// A stapel error of this node (same text as [`Self::fail`]).
    pub fn stapel_fail(&self, cause: crate::stapel::StapelError) -> BuildError {
        BuildError::Stapel {
            image: self.name.clone(),
            cause: Box::new(cause),
        }
    }

    pub fn emit(&self, e: Event) {
        (self.opts.on_event)(&e)
    }

    pub fn log(&self, line: &str) {
        self.emit(Event::Log {
            image: self.name.clone(),
            line: line.to_string(),
        })
    }

    pub fn kind(&self) -> BuilderKind {
        if self.how.buildkit.is_some() {
            BuilderKind::Buildkit
        } else {
            BuilderKind::Classic
        }
    }

    /// Tag `id` as the node's local tag (with `local`) and its extra tags.
    pub async fn tag(&self, id: &str, local: bool) -> Result<(), BuildError> {
        let local = local.then_some(&self.local);
        for t in local.into_iter().chain(&self.extra) {
            self.backend
                .daemon
                .tag(id, t)
                .await
                .map_err(|e| self.fail(format!("tagging {t}: {e}")))?;
        }
        Ok(())
    }

    pub fn built(&self, image_id: String, skipped: bool, seconds: f64) -> BuiltImage {
        BuiltImage {
            name: self.img.name.clone(),
            image_id,
            signature: self.sig.to_string(),
            skipped,
            seconds,
            local_tag: self.local.clone(),
            builder: self.kind(),
            platforms: Vec::new(),
        }
    }
}

/// Build one node: reuse → input → run → finalize.
pub(super) async fn build_one(
    node: Node<'_>,
    args: BTreeMap<String, String>,
) -> Result<BuiltImage, BuildError> {
    if node.platform.is_none() && node.img.platforms().len() >= 2 {
        return platforms::build(node, args).await;
    }
    if let Some(skipped) = reuse::reuse(&node).await? {
        return Ok(skipped);
    }
    if let (Some(env), Some(storage)) = (&node.how.stapel, &node.opts.stages_storage) {
        node.emit(Event::Start {
            image: node.name.clone(),
        });
        return super::stapel_storage::build(&node, env, storage).await;
    }
    let _slot = node.how.slot().await.map_err(|e| node.fail(e))?;
    node.emit(Event::Start {
        image: node.name.clone(),
    });
    let stages = input::stapel_stages(&node).await?;
    let input = input::input(&node, &args, stages.as_ref()).await?;
    let built = run::run(&node, input, args, stages.as_ref()).await?;
    finalize::finalize(&node, built).await
}
