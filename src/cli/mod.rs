//! Command-line layer: parses flags (with `SLIPWAY_*` and werf 1.1 `WERF_*` aliases),
//! resolves them into [`Settings`], calls the library and prints. No logic lives here.

mod build;
mod ci_env;
mod cleanup;
mod completions;
mod config;
mod doctor;
mod images;
mod promote;
mod publish;
mod push_archive;
mod slugify;
pub mod tags;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::settings::{RepoMode, Secret, Settings};

/// Slipway: build, tag, publish, promote and clean up the images of a werf.yaml.
#[derive(Debug, Parser)]
#[command(name = "slipway", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts. Each can come from `SLIPWAY_<NAME>` or werf 1.1's
/// `WERF_<NAME>` (precedence: flag, then `SLIPWAY_`, then `WERF_`).
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Project directory.
    #[arg(long, global = true, env = "SLIPWAY_DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Config file [default: werf.yaml or werf.yml in --dir].
    #[arg(long, global = true, env = "SLIPWAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// werf environment, visible to templates as `.Env`.
    #[arg(long, global = true, env = "SLIPWAY_ENV")]
    pub env: Option<String>,
    /// Repository the images are published to, e.g. registry.example.com/group/project.
    #[arg(long, global = true, env = "SLIPWAY_IMAGES_REPO")]
    pub images_repo: Option<String>,
    /// Layout of images in --images-repo: auto, multirepo (REPO/IMAGE:TAG) or monorepo (REPO:IMAGE-TAG).
    #[arg(
        long,
        global = true,
        env = "SLIPWAY_IMAGES_REPO_MODE",
        default_value = "auto"
    )]
    pub images_repo_mode: String,
    /// Custom layout, e.g. '{{ .Repo }}/{{ .Image }}:{{ .Tag }}'.
    #[arg(long, global = true, env = "SLIPWAY_IMAGES_REPO_TEMPLATE")]
    pub images_repo_template: Option<String>,
    /// Registry implementation (default, dockerhub, github, gitlab, gcr, ecr, acr, harbor, quay)
    /// [default: detected from the host].
    #[arg(long, global = true, env = "SLIPWAY_IMPLEMENTATION")]
    pub implementation: Option<String>,
    /// Allow plain HTTP or unverified TLS for this registry host[:port] (repeatable).
    #[arg(
        long = "insecure-registry",
        global = true,
        env = "SLIPWAY_INSECURE_REGISTRY",
        value_delimiter = ','
    )]
    pub insecure_registry: Vec<String>,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long, global = true, env = "SLIPWAY_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Print machine-readable JSON.
    #[arg(long, global = true, env = "SLIPWAY_JSON")]
    pub json: bool,
    /// Registry username, used when docker's config.json has no entry (werf: WERF_REPO_USERNAME).
    #[arg(long, global = true, env = "SLIPWAY_REGISTRY_USERNAME")]
    pub registry_username: Option<String>,
    /// Registry password or token (werf: WERF_REPO_PASSWORD). Never printed.
    #[arg(
        long,
        global = true,
        env = "SLIPWAY_REGISTRY_PASSWORD",
        hide_env_values = true
    )]
    pub registry_password: Option<Secret>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the images of werf.yaml through the Docker daemon.
    Build(build::BuildArgs),
    /// Publish images that are already built.
    Publish(publish::PublishArgs),
    /// Build what changed and publish every image under its names.
    BuildAndPublish(publish::PublishArgs),
    /// Delete tags that no git branch, tag or recent commit needs.
    Cleanup(cleanup::CleanupArgs),
    /// Delete all of the project's images.
    Purge(cleanup::PurgeArgs),
    /// Copy or move an image between repositories by digest.
    Promote(promote::PromoteArgs),
    /// Push docker-save or OCI tarballs without a daemon.
    PushArchive(push_archive::PushArchiveArgs),
    /// Print shell lines that configure Slipway from CI variables.
    CiEnv(ci_env::CiEnvArgs),
    /// Render or validate werf.yaml.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Turn text into a valid docker tag, namespace, release or project name.
    Slugify(slugify::SlugifyArgs),
    /// Print each image's name, references and content signature.
    Images(images::ImagesArgs),
    /// Check daemon, registry, TLS and credentials, with a fix for each failure.
    Doctor(doctor::DoctorArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(completions::CompletionsArgs),
    /// Print the man page.
    Man,
}

/// werf 1.1 variables whose names differ from Slipway's.
const WERF_RENAMES: &[(&str, &str)] = &[
    ("SLIPWAY_TAG_BY_CONTENT", "WERF_TAG_BY_STAGES_SIGNATURE"),
    ("SLIPWAY_REGISTRY_USERNAME", "WERF_REPO_USERNAME"),
    ("SLIPWAY_REGISTRY_PASSWORD", "WERF_REPO_PASSWORD"),
];

/// clap reads one variable per option; give each `SLIPWAY_X` option werf's `WERF_X`
/// (or a renamed werf variable) when the Slipway variable is unset.
fn with_werf_aliases(mut cmd: clap::Command) -> clap::Command {
    let ids: Vec<(clap::Id, String)> = cmd
        .get_arguments()
        .filter_map(|a| {
            let env = a.get_env()?.to_str()?.to_string();
            Some((a.get_id().clone(), env))
        })
        .collect();
    for (id, env) in ids {
        if std::env::var_os(&env).is_some() {
            continue;
        }
        if let Some(werf) = werf_names(&env)
            .into_iter()
            .find(|w| std::env::var_os(w).is_some())
        {
            cmd = cmd.mut_arg(id, |a| a.env(werf));
        }
    }
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in subs {
        cmd = cmd.mut_subcommand(name, with_werf_aliases);
    }
    cmd
}

/// werf's variable names for one Slipway variable, in order of preference.
pub fn werf_names(slipway_env: &str) -> Vec<String> {
    let mut out: Vec<String> = WERF_RENAMES
        .iter()
        .filter(|(s, _)| *s == slipway_env)
        .map(|(_, w)| w.to_string())
        .collect();
    if let Some(rest) = slipway_env.strip_prefix("SLIPWAY_") {
        out.push(format!("WERF_{rest}"));
    }
    out
}

impl GlobalArgs {
    /// Resolve into library settings.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let images_repo_mode: RepoMode = self
            .images_repo_mode
            .parse()
            .map_err(|e: String| anyhow::anyhow!("--images-repo-mode: {e}"))?;
        Ok(Settings {
            dir: self.dir.clone(),
            config: self.config.clone(),
            env: self.env.clone().filter(|e| !e.is_empty()),
            images_repo: self
                .images_repo
                .as_deref()
                .map(|r| r.trim_end_matches('/').to_string())
                .filter(|r| !r.is_empty()),
            images_repo_mode,
            images_repo_template: self.images_repo_template.clone(),
            implementation: self.implementation.clone().filter(|s| !s.is_empty()),
            insecure_registries: self.insecure_registry.clone(),
            json: self.json,
            registry_username: self.registry_username.clone().filter(|s| !s.is_empty()),
            registry_password: self.registry_password.clone(),
        })
    }
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(format!("slipway={level},warn"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("slipway=info,warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Entry point of the `slipway` binary.
pub fn main() -> ExitCode {
    let cmd = with_werf_aliases(Cli::command());
    let cli = match cmd
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    init_logging(&cli.global.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = cli.global.settings()?;
    match cli.command {
        Command::Build(a) => build::run(&settings, a).await,
        Command::Publish(a) => publish::run(&settings, a, false).await,
        Command::BuildAndPublish(a) => publish::run(&settings, a, true).await,
        Command::Cleanup(a) => cleanup::run(&settings, a).await,
        Command::Purge(a) => cleanup::run_purge(&settings, a).await,
        Command::Promote(a) => promote::run(&settings, a).await,
        Command::PushArchive(a) => push_archive::run(&settings, a).await,
        Command::CiEnv(a) => ci_env::run(&settings, a).await,
        Command::Config(c) => config::run(&settings, c).await,
        Command::Slugify(a) => slugify::run(&settings, a).await,
        Command::Images(a) => images::run(&settings, a).await,
        Command::Doctor(a) => doctor::run(&settings, a).await,
        Command::Completions(a) => completions::completions(a),
        Command::Man => completions::man(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn werf_names_cover_renames_and_prefix() {
        assert_eq!(
            werf_names("SLIPWAY_TAG_BY_CONTENT"),
            vec!["WERF_TAG_BY_STAGES_SIGNATURE", "WERF_TAG_BY_CONTENT"]
        );
        assert_eq!(werf_names("SLIPWAY_IMAGES_REPO"), vec!["WERF_IMAGES_REPO"]);
    }
}
