//! `--introspect-stage IMAGE/STAGE` (werf's stage introspection): the image of one werf
//! stage of a built stapel image, for a debugging shell. It is the generated Dockerfile's
//! stage of that name built as a `target`, regenerated exactly as the image's record says
//! (the same commits and patches), so BuildKit's cache gives the stage the image was built
//! on.

use std::collections::{BTreeMap, HashMap};

use bollard::Docker;

use super::{BuildError, buildkit};
use crate::config::{Config, ImageConfig};
use crate::registry::keychain::Keychain;
use crate::stapel::stages;

/// A stage to introspect: the image and the werf stage name.
#[derive(Debug, Clone)]
pub struct Target {
    pub image: ImageConfig,
    pub stage: &'static str,
}

fn failed(image: &str, message: String) -> BuildError {
    BuildError::Failed {
        image: image.to_string(),
        message,
    }
}

/// Read `IMAGE/STAGE` (or `STAGE` when werf.yaml has one image) against the config: the
/// image must be a stapel image and the stage one of its stages.
pub fn target(
    config: &Config,
    spec: &str,
    signatures: &BTreeMap<Option<String>, String>,
) -> Result<Target, BuildError> {
    let (image, stage) = match spec.rsplit_once('/') {
        Some((i, s)) => (Some(i.to_string()), s),
        None => match config.images.as_slice() {
            [only] => (only.name.clone(), spec),
            _ => {
                return Err(failed(
                    spec,
                    "--introspect-stage: name the image too, as IMAGE/STAGE".into(),
                ));
            }
        },
    };
    let image = image.filter(|i| !i.is_empty() && i != crate::naming::name::NAMELESS);
    let node = config.node(image.as_deref()).ok_or_else(|| {
        let name = crate::naming::name::ImageName::from(image.clone()).to_string();
        super::unknown_image(config, &name, true)
    })?;
    let name = node.display_name().to_string();
    if node.stapel().is_none() {
        return Err(failed(
            &name,
            "--introspect-stage: a Dockerfile image has no werf stages (stapel images only)".into(),
        ));
    }
    let env = crate::stapel::Env::new(config);
    let sigs =
        stages::head_signatures(&env, node, signatures).map_err(|cause| BuildError::Stapel {
            image: name.clone(),
            cause: Box::new(cause),
        })?;
    let mut names: Vec<&'static str> = sigs.iter().map(|s| s.stage).collect();
    names.push(stages::LATEST_PATCH);
    let stage = names
        .iter()
        .find(|n| n.eq_ignore_ascii_case(stage))
        .copied()
        .ok_or_else(|| {
            failed(
                &name,
                format!(
                    "--introspect-stage: no stage {stage:?} (its stages: {})",
                    names.join(", ")
                ),
            )
        })?;
    Ok(Target {
        image: node.clone(),
        stage,
    })
}

/// Build the stage's image from the record on the image's local build; returns its local
/// tag, `PROJECT/IMAGE:introspect-STAGE`.
pub async fn stage_image(
    docker: &Docker,
    config: &Config,
    signatures: &BTreeMap<Option<String>, String>,
    target: &Target,
    keychain: Keychain,
    endpoint: &crate::settings::DaemonEnv,
) -> Result<String, BuildError> {
    let img = &target.image;
    let name = img.display_name().to_string();
    let fail = |m: String| failed(&name, m);
    let stapel_failed = |cause| BuildError::Stapel {
        image: name.clone(),
        cause: Box::new(cause),
    };
    let local = crate::stapel::node_tag(&config.project, img);
    let record = docker
        .inspect_image(&local)
        .await
        .ok()
        .and_then(|i| i.config)
        .and_then(|c| c.labels)
        .and_then(|l| l.get(crate::labels::STAGES).cloned())
        .ok_or_else(|| fail(format!("{local} has no stage record: build it first")))?;
    let env = crate::stapel::Env::new(config);
    let outcome = stages::prepare(&env, img, signatures, Some(&record)).map_err(stapel_failed)?;
    let dockerfile_stage = stages::dockerfile_stage(target.stage);
    if target.stage == stages::LATEST_PATCH && !outcome.plan.patches.contains_key(&dockerfile_stage)
    {
        return Err(fail(format!(
            "--introspect-stage: {local} has no {} stage (HEAD is the commit its stages came from)",
            stages::LATEST_PATCH
        )));
    }
    let daemon = crate::daemon::docker::DockerDaemon::new(docker.clone());
    let base_user = super::stapel_base::user(&daemon, &env, img)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let g = crate::stapel::generate_planned(&env, img, base_user.as_deref(), &outcome.plan)
        .map_err(stapel_failed)?;
    let bk =
        buildkit::probe(docker, endpoint)
            .await
            .map_err(|why| BuildError::StapelNeedsBuildKit {
                image: name.clone(),
                why: why.to_string(),
            })?;
    let session =
        buildkit::Session::start(&bk.endpoint, &config.project, Default::default(), keychain)
            .await
            .map_err(|e| fail(format!("BuildKit session: {e}")))?;
    let tag = format!(
        "{}:introspect-{dockerfile_stage}",
        local.rsplit_once(':').map(|x| x.0).unwrap_or(&local)
    );
    let quiet = |_: String| {};
    super::stapel_storage::run(
        &bk,
        &session,
        img,
        Some(&g),
        &g.dockerfile,
        g.context.clone(),
        crate::stapel::DOCKERFILE,
        Some(&dockerfile_stage),
        &HashMap::new(),
        Some(&tag),
        &quiet,
    )
    .await
    .map_err(|e| fail(e.to_string()))?;
    Ok(tag)
}
