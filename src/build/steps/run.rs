//! Step 3: the build itself: the image's labels, build arguments and options, handed to
//! the builder of this run; a failed step is put back on werf.yaml or the Dockerfile.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bollard::query_parameters::{BuildImageOptions, BuildImageOptionsBuilder};
use tokio::task::JoinHandle;

use super::Node;
use super::input::BuildInput;
use crate::build::builder::{BuildRequest, StepFailure};
use crate::build::{BuildError, dockerfile};
use crate::config::{ImageConfig, Recipe};
use crate::context::ContextError;
use crate::labels;
use crate::stapel::stages::{Outcome, StageRecord};

/// What a successful build leaves for `finalize`.
pub(super) struct Built {
    /// The image ID, if the builder said it.
    pub image_id: Option<String>,
    /// The labels the image must carry.
    pub labels: HashMap<String, String>,
    /// The context writer, to join.
    pub writer: JoinHandle<Result<(), ContextError>>,
}

/// Build the node's image from `input`.
pub(super) async fn run(
    node: &Node<'_>,
    input: BuildInput,
    args: BTreeMap<String, String>,
    stages: Option<&Outcome>,
) -> Result<Built, BuildError> {
    let img = node.img;
    let mut labels = image_labels(node, stages.map(|o| &o.record[..]), &input.dockerfile_text);
    if let Some(d) = &node.how.imported_digests {
        labels.insert(labels::IMPORTED_DIGESTS.into(), d.clone());
    }
    let buildkit = node.how.buildkit.is_some();
    let mut session = node.how.session.clone();
    let remote = buildkit && input.session_files.is_some();
    if remote {
        session.files = input.session_files;
    }
    let options = options(node, &input.dockerfile_name, &args, &labels, remote);
    let builders = &node.backend.builders;
    let builder = match &builders.buildkit {
        Some(bk) if buildkit => bk,
        _ if input.podman_secrets.is_empty() => &builders.classic,
        _ => &builders.podman,
    };
    let mut last_lines: Vec<String> = Vec::new();
    let mut log = |line: &str| {
        last_lines.push(line.to_string());
        if last_lines.len() > 10 {
            last_lines.remove(0);
        }
        node.log(line);
    };
    let req = BuildRequest {
        options,
        body: input.body,
        dockerfile_text: &input.dockerfile_text,
        from_args: Some(&args),
        session,
        podman_secrets: &input.podman_secrets,
    };
    let ran = builder.run(req, &mut log).await;
    match ran.map_err(|e| node.fail(e))? {
        Ok(image_id) => Ok(Built {
            image_id,
            labels,
            writer: input.writer,
        }),
        Err(f) => Err(node.fail(failure_message(
            img,
            input.generated.as_ref(),
            f,
            &last_lines,
            buildkit,
            &input.dockerfile_text,
        ))),
    }
}

/// bollard's build options for the node: Dockerfile, tag, arguments, labels and
/// werf.yaml's directives; `remote`: BuildKit reads the context from the session.
fn options(
    node: &Node<'_>,
    dockerfile_name: &str,
    args: &BTreeMap<String, String>,
    wanted: &HashMap<String, String>,
    remote: bool,
) -> BuildImageOptions {
    let img = node.img;
    let buildkit = node.how.buildkit.is_some();
    let mut buildargs: HashMap<String, String> = args.clone().into_iter().collect();
    let cache_from = node
        .opts
        .cache_from
        .get(&img.name)
        .cloned()
        .unwrap_or_default();
    if buildkit {
        // BuildKit's inline cache: cache metadata in the image config (a few hundred bytes),
        // read back by a later build's `--cache-from`.
        buildargs
            .entry("BUILDKIT_INLINE_CACHE".into())
            .or_insert_with(|| "1".into());
    } else {
        if !cache_from.is_empty() {
            tracing::info!(image = %node.name, "--cache-from needs BuildKit; the classic builder ignores it");
        }
        // BuildKit sets `TARGETARCH`… itself; the classic builder is told them.
        if let Some(p) = &node.platform {
            for (k, v) in crate::platform::build_args(p, &crate::platform::host()) {
                buildargs.entry(k).or_insert(v);
            }
        }
    }
    let mut build_labels = wanted.clone();
    if node.how.podman {
        build_labels.remove(labels::SIGNATURE);
    }
    let mut b = BuildImageOptionsBuilder::default()
        .dockerfile(dockerfile_name)
        .t(&node.local)
        .rm(true)
        .forcerm(true)
        .buildargs(&buildargs)
        .labels(&build_labels);
    if let Some(t) = img.target() {
        b = b.target(t);
    }
    if let Some(d) = img.dockerfile()
        && !d.add_host.is_empty()
    {
        b = b.extrahosts(&d.add_host.join(","));
    }
    if let Some(n) = img.network() {
        b = b.networkmode(n);
    }
    // One platform of several (its own node), or the one `platform:` names.
    if let Some(p) = node.platform.as_ref().or(img.platforms().first()) {
        b = b.platform(p);
    }
    if buildkit && !cache_from.is_empty() {
        b = b.cachefrom(&cache_from);
    }
    if remote {
        // As docker's CLI does: BuildKit reads the context from the session.
        b = b.remote("client-session");
    }
    b.build()
}

/// A failed step put back on werf.yaml (stapel) or the Dockerfile, with a hint and the
/// last log lines.
pub(in crate::build) fn failure_message(
    img: &ImageConfig,
    generated: Option<&crate::stapel::Generated>,
    f: StepFailure,
    last_lines: &[String],
    buildkit: bool,
    dockerfile_text: &str,
) -> String {
    let stapel_at = generated.and_then(|g| crate::stapel::locate_failure(g, f.line, last_lines));
    let at = match stapel_at {
        Some(at) => format!("{at}: "),
        None => f
            .line
            .or_else(|| dockerfile::parse_error_line(&f.message))
            .map(|l| format!("{}:{l}: ", dockerfile_label(img)))
            .unwrap_or_default(),
    };
    let step = if f.step.is_empty() {
        String::new()
    } else {
        format!("{}: ", f.step)
    };
    let hint = dockerfile::hint(&f.message, buildkit, dockerfile_text)
        .map(|h| format!("\nhint: {h}"))
        .unwrap_or_default();
    format!(
        "{at}{step}{}{hint}\nlast log lines:\n  {}",
        f.message,
        last_lines.join("\n  ")
    )
}

/// The labels of a built image: the OCI labels (source, title, vendor) where neither
/// werf.yaml nor the Dockerfile (`dockerfile_text`; a stapel image: `docker.LABEL`) sets
/// them, werf.yaml's, Slipway's (project, image, content signature, the stapel stage
/// record), the run's (git commit, branch, tag).
pub(in crate::build) fn image_labels(
    node: &Node<'_>,
    record: Option<&[StageRecord]>,
    dockerfile_text: &str,
) -> HashMap<String, String> {
    let img = node.img;
    // The user's own value wins over ours, as a written `LABEL` is what they meant; one
    // inherited from the base image describes the base, and is replaced.
    let users: BTreeSet<String> = match &img.recipe {
        Recipe::Dockerfile(d) => {
            let mut keys =
                crate::dockerfile::label_keys(dockerfile_text, d.target.as_deref(), &d.args);
            keys.extend(d.labels.keys().cloned());
            keys
        }
        Recipe::Stapel(s) => s
            .docker
            .iter()
            .flat_map(|d| d.label.keys().cloned())
            .collect(),
    };
    let mut out: HashMap<String, String> = node
        .how
        .oci_labels
        .iter()
        .filter(|(k, _)| !users.contains(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Recipe::Dockerfile(d) = &img.recipe {
        out.extend(d.labels.clone());
    }
    out.insert(labels::PROJECT.into(), node.project.to_string());
    out.insert(labels::IMAGE.into(), img.display_name().to_string());
    out.insert(labels::SIGNATURE.into(), node.sig.to_string());
    if let Some(r) = record {
        out.insert(
            labels::STAGES.into(),
            serde_json::to_string(r).unwrap_or_default(),
        );
    }
    for (k, v) in &node.opts.extra_labels {
        out.insert(k.clone(), v.clone());
    }
    if let Some(c) = &node.opts.git_commit {
        out.insert(labels::GIT_COMMIT.into(), c.clone());
    }
    out
}

/// Where a failed Dockerfile line is: the Dockerfile, or a stapel image's generated one.
fn dockerfile_label(img: &ImageConfig) -> &str {
    match &img.recipe {
        Recipe::Dockerfile(d) => &d.dockerfile,
        Recipe::Stapel(_) => crate::stapel::DOCKERFILE,
    }
}
