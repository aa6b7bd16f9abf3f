//! Step 2: what the builder reads: the context (a tar stream, or folders over BuildKit's
//! session), the Dockerfile, Podman's secret files, and for a stapel node the generated
//! Dockerfile and context.

use std::collections::BTreeMap;

use futures::stream::BoxStream;
use tokio::task::JoinHandle;

use super::Node;
use crate::build::{BuildError, Event, filesync, stapel_base};
use crate::config::{DockerfileRecipe, Recipe};
use crate::context::{self, ContextError};
use crate::labels;
use crate::stapel::stages::Outcome;

/// The input of one build.
pub(in crate::build) struct BuildInput {
    /// The context tar (empty when the context goes over the session).
    pub body: BoxStream<'static, bytes::Bytes>,
    /// Writes `body`; joined after the build.
    pub writer: JoinHandle<Result<(), ContextError>>,
    pub dockerfile_name: String,
    pub dockerfile_text: String,
    /// Podman: werf `secrets:` as (id, file in the context).
    pub podman_secrets: Vec<(String, String)>,
    /// A stapel node's generated Dockerfile and context.
    pub generated: Option<crate::stapel::Generated>,
    /// BuildKit reads the context and the Dockerfile as two folders over the session.
    pub session_files: Option<filesync::Dirs>,
}

/// Stapel stage reuse: the record on the last local image of this node (`--force` builds
/// from HEAD from scratch, as a fresh runner would). `None` for a Dockerfile image.
pub(super) async fn stapel_stages(node: &Node<'_>) -> Result<Option<Outcome>, BuildError> {
    let Some(env) = &node.how.stapel else {
        return Ok(None);
    };
    let previous = if node.opts.settings.force {
        None
    } else {
        node.backend
            .daemon
            .inspect(&node.local)
            .await
            .ok()
            .and_then(|i| i.labels.get(labels::STAGES).cloned())
    };
    let o = crate::stapel::stages::prepare(
        env,
        node.img,
        &node.how.node_signatures,
        previous.as_deref(),
    )
    .map_err(|e| node.stapel_fail(e))?;
    node.log(&o.summary());
    node.emit(Event::Stages {
        image: node.name.clone(),
        reused: o.reused.clone(),
        from: "local",
        storage: None,
        built: o.built.clone(),
    });
    Ok(Some(o))
}

/// The input of the node's build.
pub(super) async fn input(
    node: &Node<'_>,
    args: &BTreeMap<String, String>,
    stages: Option<&Outcome>,
) -> Result<BuildInput, BuildError> {
    match (&node.img.recipe, &node.how.stapel) {
        (Recipe::Dockerfile(d), _) => dockerfile_input(node, d, args),
        (Recipe::Stapel(_), Some(env)) => stapel_input(node, env, stages).await,
        // The schedule gives every stapel node the environment.
        (Recipe::Stapel(_), None) => Err(node.fail("no stapel environment".to_string())),
    }
}

async fn stapel_input(
    node: &Node<'_>,
    env: &crate::stapel::Env,
    stages: Option<&Outcome>,
) -> Result<BuildInput, BuildError> {
    let base_user = stapel_base::user(node.backend.daemon.as_ref(), env, node.img)
        .await
        .map_err(|e| node.fail(e))?;
    let mut plan = stages.map(|o| o.plan.clone()).unwrap_or_default();
    plan.dependency_env = node.how.dependency_env.clone();
    let g = crate::stapel::generate_planned(env, node.img, base_user.as_deref(), &plan)
        .map_err(|e| node.stapel_fail(e))?;
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let data = g.context.clone();
    let writer = tokio::task::spawn_blocking(move || {
        for chunk in data.chunks(256 * 1024) {
            if tx
                .blocking_send(bytes::Bytes::copy_from_slice(chunk))
                .is_err()
            {
                break;
            }
        }
        Ok(())
    });
    Ok(BuildInput {
        body: stream_of(rx),
        writer,
        dockerfile_name: crate::stapel::DOCKERFILE.to_string(),
        dockerfile_text: g.dockerfile.clone(),
        podman_secrets: Vec::new(),
        generated: Some(g),
        session_files: None,
    })
}

fn dockerfile_input(
    node: &Node<'_>,
    img: &DockerfileRecipe,
    args: &BTreeMap<String, String>,
) -> Result<BuildInput, BuildError> {
    let context_error = |source| BuildError::Context {
        image: node.name.clone(),
        source,
    };
    let entries = context::walk(&img.context_dir, &img.context_add_files, &node.opts.outputs)
        .map_err(context_error)?;
    let mut session_files: Option<filesync::Dirs> = None;
    // A Dockerfile outside the context goes in under a generated name.
    let (dockerfile_name, mut extra_files) = match img
        .dockerfile_path
        .strip_prefix(&img.context_dir)
    {
        Ok(rel) => {
            let rel = rel.to_string_lossy().replace('\\', "/");
            let buildkit = node.how.buildkit.is_some();
            let files = context::builder_files(&img.context_dir, &entries, &rel, !buildkit)
                .map_err(context_error)?;
            if buildkit
                && files.iter().any(|(f, _)| *f == rel)
                && std::fs::read_to_string(&img.dockerfile_path).is_ok_and(|text| {
                    crate::signature::copies_path(&text, img.target.as_deref(), args, &rel)
                })
            {
                // BuildKit reads the Dockerfile from a context tar, so a COPY reaching
                // it would copy it: hand BuildKit the context and the Dockerfile as
                // two folders over the session, as docker does.
                let base = rel.rsplit('/').next().unwrap_or(&rel).to_string();
                tracing::debug!(image = %node.name, "the Dockerfile is excluded and a COPY reaches it: context and Dockerfile go over the session");
                session_files = Some(filesync::Dirs::new(&entries, &img.dockerfile_path, &base));
                (base, Vec::new())
            } else {
                (rel, files)
            }
        }
        Err(_) => {
            let data = std::fs::read(&img.dockerfile_path)
                .map_err(|e| node.fail(format!("{}: {e}", img.dockerfile_path.display())))?;
            (
                ".slipway.Dockerfile".to_string(),
                vec![(".slipway.Dockerfile".to_string(), data)],
            )
        }
    };
    let dockerfile_text = std::fs::read_to_string(&img.dockerfile_path).unwrap_or_default();
    let podman_secrets = podman_secret_files(node, &mut extra_files);
    let (body, writer) = if session_files.is_some() {
        // The context goes over the session: the body is empty.
        let (_, rx) = tokio::sync::mpsc::channel(1);
        let writer = tokio::task::spawn_blocking(|| Ok::<(), ContextError>(()));
        (stream_of(rx), writer)
    } else {
        let (rx, writer) = context::stream_tar(entries, extra_files);
        (stream_of(rx), writer)
    };
    Ok(BuildInput {
        body,
        writer,
        dockerfile_name,
        dockerfile_text,
        podman_secrets,
        generated: None,
        session_files,
    })
}

/// Podman without BuildKit: werf `secrets:` go into the context as files, which Podman
/// moves out of the context before building (never in the image).
fn podman_secret_files(
    node: &Node<'_>,
    extra_files: &mut Vec<(String, Vec<u8>)>,
) -> Vec<(String, String)> {
    let mut podman_secrets: Vec<(String, String)> = Vec::new();
    if node.how.buildkit.is_none() && node.how.podman {
        let salt = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        for (k, (id, value)) in node.how.session.secrets.iter().enumerate() {
            let file = format!(".slipway-secret-{salt}-{k}");
            extra_files.push((file.clone(), value.to_vec()));
            podman_secrets.push((id.to_string(), file));
        }
    }
    podman_secrets
}

fn stream_of(
    mut rx: tokio::sync::mpsc::Receiver<bytes::Bytes>,
) -> BoxStream<'static, bytes::Bytes> {
    Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}
