//! `slipway run [IMAGE] [-- CMD…]`: werf's `run`. Builds the image if needed (same content
//! signature: no rebuild), then runs the local image through the docker CLI, passing
//! `--docker-options` verbatim; the container's exit code is Slipway's.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::build::{BuildFlags, printer};
use crate::build;
use crate::project::{Bases, BuildRequest, Project, Run};

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
    /// Options for `docker run`, split like a shell would (e.g. '--rm -e CI=1') [default: --rm].
    #[arg(long, allow_hyphen_values = true)]
    pub docker_options: Option<String>,
    /// Run `/bin/sh` interactively (`docker run -ti --rm IMAGE /bin/sh`), as werf's
    /// `--shell`; not with --docker-options or a command.
    #[arg(long)]
    pub shell: bool,
    /// Run `/bin/bash` interactively, as werf's `--bash`.
    #[arg(long)]
    pub bash: bool,
    /// Print the `docker run` line and run nothing (nothing is built either: the image's
    /// local name stands in when it is not built yet).
    #[arg(long)]
    pub dry_run: bool,
    /// The `docker` CLI to run [default: docker on PATH].
    #[arg(long, default_value = "docker")]
    pub docker: String,
    #[command(flatten)]
    pub flags: BuildFlags,
}

/// The `docker run` options and command: werf's `--shell`/`--bash` presets and errors.
fn docker_line(args: &RunArgs) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    if args.shell && args.bash {
        // werf 1.1's text (cmd/werf/run/run.go).
        anyhow::bail!("cannot use --shell and --bash options at the same time!");
    }
    if args.shell || args.bash {
        if args
            .docker_options
            .as_deref()
            .is_some_and(|o| !o.trim().is_empty())
            || !args.command.is_empty()
        {
            anyhow::bail!("shell option cannot be used with other docker run arguments");
        }
        let sh = if args.shell { "/bin/sh" } else { "/bin/bash" };
        return Ok((vec!["-ti".into(), "--rm".into()], vec![sh.into()]));
    }
    let raw = args.docker_options.as_deref().unwrap_or("--rm");
    let options = shlex::split(raw)
        .ok_or_else(|| anyhow::anyhow!("--docker-options {raw:?}: unbalanced quotes"))?;
    Ok((options, args.command.clone()))
}

pub async fn run(run: &Run, args: RunArgs) -> anyhow::Result<ExitCode> {
    let settings = &run.settings;
    let (docker_options, command) = docker_line(&args)?;
    if args.dry_run {
        return dry_run(run, &args, &docker_options, &command).await;
    }
    let docker_cli = which(&args.docker, settings.host_env.var_raw("PATH")).ok_or_else(|| {
        anyhow::anyhow!(
            "no `{}` CLI on PATH: `slipway run` starts containers with the docker CLI; install it (Debian: apt-get install docker.io) or pass --docker PATH",
            args.docker
        )
    })?;
    let mut project = Project::open(run)?;
    let name = image_to_run(&project, args.image.as_ref())?;
    let prepared = project
        .prepare_build(BuildRequest {
            images: name.iter().cloned().collect(),
            tags: None,
            flags: args.flags.parsed(),
            cache_from: Vec::new(),
            introspect_stage: None,
            on_event: printer(super::output::json(), args.flags.log_mode.as_str()),
        })
        .await?;
    let built = project.build(prepared.options, &prepared.sigs).await?;
    let image = built
        .iter()
        .find(|b| b.name == name)
        .ok_or_else(|| anyhow::anyhow!("image {:?} was not built", name))?;
    tracing::info!(image = %image.local_tag, "running");
    let status = tokio::process::Command::new(&docker_cli)
        .arg("run")
        .args(&docker_options)
        .arg(&image.image_id)
        .args(&command)
        .status()
        .await
        .with_context(|| format!("starting {}", docker_cli.display()))?;
    Ok(match status.code() {
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        // Killed by a signal: the shell convention 128 + signal is unknowable here.
        None => ExitCode::from(1),
    })
}

/// The image `run` runs: the one named, else the only one.
fn image_to_run(project: &Project, named: Option<&String>) -> anyhow::Result<Option<String>> {
    let cfg = &project.config;
    let name = match (named, cfg.images.as_slice()) {
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
    Ok(name)
}

/// werf's `run --dry-run`: the `docker run` line on stdout. The image is the local one
/// built with the current signature when the daemon has it, else its local name.
async fn dry_run(
    run: &Run,
    args: &RunArgs,
    options: &[String],
    command: &[String],
) -> anyhow::Result<ExitCode> {
    let mut project = Project::open(run)?;
    project.resolve_bases(Bases::DigestsOnly).await?;
    let name = image_to_run(&project, args.image.as_ref())?;
    let local = build::local_tag(&project.config.project, name.as_deref());
    let sigs = project.signatures(&project.outputs(&[]))?;
    let built = match (sigs.get(&name), project.daemon().await) {
        (Some(sig), Ok(docker)) => {
            let daemon = crate::daemon::docker::DockerDaemon::new(docker.clone());
            crate::daemon::find_local(&daemon, sig, Some(&local)).await
        }
        _ => None,
    };
    if built.is_none() {
        tracing::warn!(
            "{local} is not built with the current content: `slipway run` builds it first"
        );
    }
    let mut line = vec!["docker".to_string(), "run".into()];
    line.extend(options.iter().cloned());
    line.push(local);
    line.extend(command.iter().cloned());
    let words: Vec<String> = line.iter().map(|w| shell_word(w)).collect();
    super::output::out(&format!("{}\n", words.join(" ")));
    super::output::note("dry run: nothing is built or run");
    Ok(ExitCode::SUCCESS)
}

/// A word as werf prints it (bare), quoted only when a shell would split or expand it.
fn shell_word(w: &str) -> String {
    let plain = !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=,@%+-".contains(c));
    if plain {
        w.to_string()
    } else {
        shlex::try_quote(w).map_or_else(|_| w.to_string(), |q| q.to_string())
    }
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
