//! `slipway run [IMAGE] [-- CMD…]`: werf's `run`. Builds the image if needed (same content
//! signature: no rebuild), then runs the local image through the docker CLI, passing
//! `--docker-options` verbatim; the container's exit code is Slipway's.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::build::{BuildFlags, printer};
use crate::build::{self, BuildOptions};
use crate::project::{Bases, Project};
use crate::settings::Settings;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  slipway run backend -- ./run-tests.sh
  slipway run --docker-options='--rm -e CI=1' backend -- make test
  slipway run        # the nameless image, its default command")]
pub struct RunArgs {
    /// Image of werf.yaml to run [default: the only (or nameless) image].
    pub image: Option<String>,
    /// Command and arguments for the container (after `--`).
    #[arg(last = true)]
    pub command: Vec<String>,
    /// Options for `docker run`, split like a shell would (e.g. '--rm -e CI=1').
    #[arg(long, allow_hyphen_values = true, default_value = "--rm")]
    pub docker_options: String,
    /// The `docker` CLI to run [default: docker on PATH].
    #[arg(long, default_value = "docker")]
    pub docker: String,
    #[command(flatten)]
    pub flags: BuildFlags,
}

pub async fn run(settings: &Settings, args: RunArgs) -> anyhow::Result<ExitCode> {
    let docker_options = shlex::split(&args.docker_options).ok_or_else(|| {
        anyhow::anyhow!(
            "--docker-options {:?}: unbalanced quotes",
            args.docker_options
        )
    })?;
    let docker_cli = which(&args.docker, settings.host_env.var_raw("PATH")).ok_or_else(|| {
        anyhow::anyhow!(
            "no `{}` CLI on PATH: `slipway run` starts containers with the docker CLI; install it (Debian: apt-get install docker.io) or pass --docker PATH",
            args.docker
        )
    })?;
    let mut project = Project::open(settings, super::registry::client(settings))?;
    project.resolve_bases(Bases::Pull).await?;
    let cfg = &project.config;
    let name = match (&args.image, cfg.images.as_slice()) {
        (Some(n), _) => Some(n.clone()),
        (None, [only]) => only.name.clone(),
        (None, images) => anyhow::bail!(
            "werf.yaml has {} images: name the one to run ({})",
            images.len(),
            images
                .iter()
                .map(|i| crate::naming::name::ImageName::from(i.name.as_deref()).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let selection: Vec<String> = name.iter().cloned().collect();
    build::selection(cfg, &selection)?;
    let outputs = project.outputs(&[]);
    let sigs = project.signatures(&outputs)?;
    let docker = project.daemon().await?;
    let opts = BuildOptions {
        images: selection,
        settings: args.flags.settings(settings)?,
        extra_tags: Default::default(),
        on_event: printer(super::output::json(), args.flags.log_mode.as_str()),
        git_commit: project.git_commit(),
        extra_labels: Default::default(),
        cache_from: Default::default(),
        keychain: super::registry::keychain(settings),
        outputs,
        registry_digest: None,
        stages_storage: super::cleanup::stages_storage(settings, project.client())?,
        host_env: settings.host_env.clone(),
    };
    let built = build::build(docker, cfg, &sigs, opts).await?;
    let image = built
        .iter()
        .find(|b| b.name == name)
        .ok_or_else(|| anyhow::anyhow!("image {:?} was not built", name))?;
    tracing::info!(image = %image.local_tag, "running");
    let status = tokio::process::Command::new(&docker_cli)
        .arg("run")
        .args(&docker_options)
        .arg(&image.image_id)
        .args(&args.command)
        .status()
        .await
        .with_context(|| format!("starting {}", docker_cli.display()))?;
    Ok(match status.code() {
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        // Killed by a signal: the shell convention 128 + signal is unknowable here.
        None => ExitCode::from(1),
    })
}

/// `name` resolved on `path` (PATH's value), or as given when it has a slash.
fn which(name: &str, path: Option<&str>) -> Option<std::path::PathBuf> {
    let p = std::path::Path::new(name);
    if name.contains('/') {
        return p.is_file().then(|| p.to_path_buf());
    }
    path.and_then(|paths| {
        std::env::split_paths(paths)
            .map(|d| d.join(name))
            .find(|c| c.is_file())
    })
}
