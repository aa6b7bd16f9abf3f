//! Command-line layer: parses flags (with `SLIPWAY_*` and werf 1.1 `WERF_*` variables, from
//! the one table in `flags.rs`), resolves them into [`Settings`] (the only place the
//! process environment is read), calls the library and prints.

mod build;
mod ci_env;
mod cleanup;
mod completions;
mod config;
mod doctor;
mod helm;
mod images;
mod inspect;
mod login;
mod managed_images;
mod promote;
mod publish;
mod push_archive;
mod slugify;
pub mod tags;
mod version;

mod flags;
mod host;
pub mod output;
mod progress;
mod run;
mod short_help;
mod werf_compat;
mod werf_groups;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

pub use flags::{Env, WERF_FLAGS, slipway_env};

use crate::settings::{Insecure, RepoMode, Secret, Settings};

/// Slipway: build, tag, publish, promote and clean up the images of a werf.yaml.
#[derive(Debug, Parser)]
#[command(name = "slipway", version = version::LONG, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// Options every command accepts. Each reads `SLIPWAY_<NAME>`, then werf 1.1's variables
/// (the flag table in `flags.rs`); a flag on the command line wins.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Project directory.
    #[arg(long, global = true, default_value = ".")]
    pub dir: PathBuf,
    /// Config file [default: werf.yaml or werf.yml in --dir].
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// werf environment, visible to templates as `.Env`.
    #[arg(long, global = true)]
    pub env: Option<String>,
    /// Repository the images are published to, e.g. registry.example.com/group/project.
    #[arg(long, global = true)]
    pub images_repo: Option<String>,
    /// Layout of images in --images-repo: multirepo is REPO/IMAGE:TAG, monorepo REPO:IMAGE-TAG.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub images_repo_mode: RepoMode,
    /// Custom layout, e.g. '{{ .Repo }}/{{ .Image }}:{{ .Tag }}'.
    #[arg(long, global = true)]
    pub images_repo_template: Option<String>,
    /// Registry implementation (default, dockerhub, github, gitlab, gcr, ecr, acr, harbor, quay)
    /// [default: detected from the host].
    #[arg(long, global = true)]
    pub implementation: Option<String>,
    /// `HOST[:PORT]`: that registry may use plain HTTP or unverified TLS (repeatable). Bare
    /// (or `=true`, werf's form): every registry. Loopback registries may use plain HTTP
    /// without it.
    #[arg(
        long = "insecure-registry",
        global = true,
        value_name = "HOST",
        num_args = 0..=1,
        default_missing_value = "true",
        value_delimiter = ','
    )]
    pub insecure_registry: Vec<String>,
    /// Do not verify registries' TLS certificates.
    #[arg(long, global = true)]
    pub skip_tls_verify_registry: bool,
    /// A PEM file of certificates to trust for every registry (repeatable): CAs, or a
    /// registry's own self-signed certificate, as `/etc/docker/certs.d/HOST/ca.crt` is.
    #[arg(long, global = true, value_name = "FILE")]
    pub registry_ca: Vec<PathBuf>,
    /// Docker config directory with registry credentials [default: $DOCKER_CONFIG or ~/.docker].
    #[arg(long, global = true)]
    pub docker_config: Option<PathBuf>,
    /// Where stapel images' stages are kept: `:local` (the Docker daemon only) or a
    /// repository, e.g. registry.example.com/group/project/stages, that every runner
    /// stores stages in and reuses them from (werf's stages storage) [default: :local].
    #[arg(long, short = 's', global = true, value_name = "STORAGE")]
    pub stages_storage: Option<String>,
    /// werf's synchronization address: Slipway locks locally (use GitLab's `resource_group`
    /// across runners); accepted for compatibility.
    #[arg(long, short = 'S', global = true, value_name = "ADDRESS")]
    pub synchronization: Option<String>,
    /// Log level.
    #[arg(long, global = true, value_enum, default_value = "info")]
    pub log_level: LogLevel,
    /// More output (`ci-env` also echoes what it sets).
    #[arg(long, global = true)]
    pub log_verbose: bool,
    /// Debug logs (same as --log-level debug).
    #[arg(long, global = true)]
    pub log_debug: bool,
    /// Errors only (same as --log-level error).
    #[arg(long, global = true)]
    pub log_quiet: bool,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Registry username, used when docker's config.json has no entry.
    #[arg(long, global = true)]
    pub registry_username: Option<String>,
    /// Registry password or token. Never printed. On the command line any user of the
    /// machine can read it (/proc/PID/cmdline): prefer the variable or --registry-password-stdin.
    #[arg(long, global = true, hide_env_values = true)]
    pub registry_password: Option<Secret>,
    /// A registry request that moves no data either way for this long fails, and is tried
    /// once more; an operation gives up after twice this without progress in all
    /// [default: 20s].
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub registry_timeout: Option<std::time::Duration>,
    /// Read the registry password or token from standard input (its first line), as
    /// `docker login --password-stdin` does.
    #[arg(long, global = true, conflicts_with = "registry_password")]
    pub registry_password_stdin: bool,
    /// Which werf's reading of werf.yaml to follow where they differ: `1.1` or `2` (werf
    /// ≥ 1.2), see docs/config.md [default: 2 with a giterminism file or a key only werf
    /// ≥ 1.2 knows, else 1.1].
    #[arg(long, global = true, value_name = "1.1|2")]
    pub werf_version: Option<crate::settings::WerfVersion>,
    /// werf's giterminism file, relative to the project directory [default:
    /// werf-giterminism.yaml there].
    #[arg(long, global = true, value_name = "PATH")]
    pub giterminism_config: Option<std::path::PathBuf>,
    /// Allow what werf's giterminism restricts (`fromLatest`, a remote git mapping that
    /// follows a branch) without a giterminism file.
    #[arg(long, global = true)]
    pub loose_giterminism: bool,
    /// Image with bash at /.werf/stapel/embedded/bin/bash (and rm) that runs stapel images'
    /// steps, as werf's stapel image does [default: $WERF_STAPEL_IMAGE_NAME:$WERF_STAPEL_IMAGE_VERSION,
    /// else registry.werf.io/werf/werf-stapel:0.6.1].
    #[arg(long, global = true, value_name = "IMAGE")]
    pub stapel_toolbox: Option<String>,
    /// A kube config as base64 (werf's GitLab set-up passes the cluster's this way); read
    /// by cleanup before --kube-config. Global because werf accepts it on every command.
    #[arg(
        long,
        global = true,
        hide = true,
        hide_env_values = true,
        value_name = "BASE64"
    )]
    pub kube_config_base64: Option<Secret>,
    #[command(flatten)]
    pub werf: werf_compat::WerfGlobal,
    #[command(flatten)]
    pub werf_ignored: werf_compat::IgnoredGlobal,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the images of werf.yaml through the Docker daemon.
    #[command(after_help = "Examples:
  slipway build
  slipway build backend --parallel=false
  slipway build --buildkit on --cache-from main -i registry.example.com/shop")]
    Build(build::BuildArgs),
    /// Publish images that are already built.
    #[command(after_help = "Examples:
  slipway publish --images-repo registry.example.com/shop --tag-by-content
  slipway publish -i registry.example.com/shop \\
    --tag-git-branch \"$CI_COMMIT_REF_NAME\" --dry-run")]
    Publish(publish::PublishArgs),
    /// Build what changed and publish every image under its names.
    #[command(after_help = "Examples:
  slipway build-and-publish -i registry.example.com/shop --tag-by-content
  # werf 1.1's line:
  slipway build-and-publish -s :local -i registry.example.com/shop \\
    --tag-custom=v1
  slipway build-and-publish --publish-report-path werf-report.json \\
    --report-path build.env --report-format envfile")]
    BuildAndPublish(publish::PublishArgs),
    /// Delete tags that no git branch, tag or recent commit needs.
    #[command(after_help = "Examples:
  slipway cleanup -i registry.example.com/shop --dry-run
  slipway cleanup -i registry.example.com/shop --git-history-based-cleanup=false")]
    Cleanup(cleanup::CleanupArgs),
    /// Delete all of the project's images.
    #[command(after_help = "Examples:
  slipway purge -i registry.example.com/shop --dry-run
  slipway purge -i registry.example.com/shop --force")]
    Purge(cleanup::PurgeArgs),
    /// List, add or remove the extra images cleanup looks after.
    ///
    /// The images cleanup looks after besides werf.yaml's (werf's `managed-images`).
    #[command(subcommand)]
    ManagedImages(managed_images::ManagedImagesCommand),
    /// Copy or move an image between repositories by digest.
    #[command(after_help = "Examples:
  slipway promote registry.example.com/shop/backend:rc1 \\
    registry.example.com/prod/backend --tag v1.0
  slipway promote --from-report report.json --to registry.example.com/prod \\
    --dry-run")]
    Promote(promote::PromoteArgs),
    /// Push docker-save or OCI tarballs without a daemon.
    #[command(after_help = "Examples:
  slipway push-archive app.tar registry.example.com/shop/app:v1
  slipway push-archive a.tar b.tar registry.example.com/shop --tag latest \\
    --digest-file build.env")]
    PushArchive(push_archive::PushArchiveArgs),
    /// Print shell lines that configure Slipway from CI variables.
    CiEnv(ci_env::CiEnvArgs),
    /// Render or validate werf.yaml.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Write werf 1.1's Helm values or chart helpers.
    ///
    /// werf 1.1's Helm service values from a publish report, or its chart helpers
    /// (docs/helm.md).
    HelmValues(helm::HelmValuesArgs),
    /// Turn text into a valid docker tag, namespace, release or project name.
    #[command(after_help = "Examples:
  slipway slugify \"$CI_COMMIT_REF_NAME\"
  slipway slugify -f kubernetes-namespace \"Feature/Login\"")]
    Slugify(slugify::SlugifyArgs),
    /// Print each image's name, references and content signature.
    Images(images::ImagesArgs),
    /// Build an image if needed and run it with the docker CLI (werf's `run`).
    Run(run::RunArgs),
    /// Check daemon, registry, TLS and credentials, with a fix for each failure.
    #[command(after_help = "Examples:
  slipway doctor -i registry.example.com/shop
  slipway doctor -i 127.0.0.1:5000/shop --json")]
    Doctor(doctor::DoctorArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    #[command(after_help = "Examples:
  slipway completions bash > /etc/bash_completion.d/slipway
  slipway completions zsh > \"${fpath[1]}/_slipway\"")]
    Completions(completions::CompletionsArgs),
    /// Print the man page (or one command's: `slipway man build-and-publish`).
    #[command(after_help = "Examples:
  slipway man | man -l -
  slipway man build-and-publish > slipway-build-and-publish.1")]
    Man(completions::ManArgs),
    /// Log in to a registry: check the credentials, then save them in docker's config.json.
    Login(login::LoginArgs),
    /// List a repository's tags.
    Ls(login::LsArgs),
    /// Show what a registry holds under a reference: digest, platforms, config, referrers.
    Inspect(inspect::InspectArgs),
    /// Print the version, git commit, build date and target.
    Version,
    /// werf 1.1's `stages build|cleanup|purge` (docs/werf.md).
    #[command(subcommand, hide = true)]
    Stages(werf_groups::StagesGroup),
    /// werf's `host cleanup|purge`: the runner's Slipway containers, images and files.
    #[command(subcommand, hide = true)]
    Host(host::HostGroup),
    /// werf 1.1's `stage image` (docs/werf.md).
    #[command(subcommand, hide = true)]
    Stage(werf_groups::StageGroup),
}

/// `20s`, `1m`, or plain seconds; more than zero.
fn parse_duration(s: &str) -> anyhow::Result<std::time::Duration> {
    let d = match s.trim().parse::<u64>() {
        Ok(secs) => std::time::Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(s.trim()).map_err(|e| anyhow::anyhow!("{s:?}: {e}"))?,
    };
    if d.is_zero() {
        anyhow::bail!("{s:?}: must be more than zero");
    }
    Ok(d)
}

/// The first line of standard input, for `--registry-password-stdin`.
fn password_from_stdin() -> anyhow::Result<Secret> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| {
        anyhow::anyhow!("--registry-password-stdin: cannot read standard input: {e}")
    })?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        anyhow::bail!("--registry-password-stdin: standard input held no password");
    }
    Ok(Secret(password.to_string()))
}

impl GlobalArgs {
    /// Resolve into library settings. `env` is the process environment, read once.
    pub fn settings(&self, env: &Env) -> anyhow::Result<Settings> {
        let host_env = crate::settings::HostEnv::from_map(env.clone());
        let docker_config = self
            .docker_config
            .clone()
            .or_else(|| host_env.docker_config_dir());
        Ok(Settings {
            dir: self.dir.clone(),
            config: self.config.clone(),
            env: self.env.clone().filter(|e| !e.is_empty()),
            images_repo: self
                .images_repo
                .as_deref()
                .map(|r| r.trim_end_matches('/').to_string())
                .filter(|r| !r.is_empty()),
            images_repo_mode: self.images_repo_mode,
            images_repo_template: self.images_repo_template.clone(),
            implementation: self.implementation.clone().filter(|s| !s.is_empty()),
            insecure: Insecure::from_values(&self.insecure_registry, self.skip_tls_verify_registry),
            docker_config,
            verbose: self.log_verbose,
            docker_buildkit: host_env.docker_buildkit().map(str::to_string),
            tag_custom_env: flags::tag_custom_from_env(env),
            json: self.json,
            registry_username: self.registry_username.clone().filter(|s| !s.is_empty()),
            registry_password: if self.registry_password_stdin {
                Some(password_from_stdin()?)
            } else {
                self.registry_password.clone()
            },
            werf_version: self.werf_version,
            giterminism_config: self.giterminism_config.clone(),
            config_templates_dir: self
                .werf
                .config_templates_dir
                .clone()
                .filter(|d| !d.as_os_str().is_empty()),
            allow_git_shallow_clone: self.werf.allow_git_shallow_clone,
            ssh_keys: self.werf.ssh_keys(env),
            ssh_agent: None,
            loose_giterminism: self.loose_giterminism,
            stapel_toolbox: self
                .stapel_toolbox
                .clone()
                .filter(|s| !s.is_empty())
                .or_else(|| host_env.werf_stapel_image()),
            stages_storage: self.stages_storage.clone().filter(|s| !s.trim().is_empty()),
            registry_timeout: self.registry_timeout,
            registry_ca: self.registry_ca.clone(),
            host_env,
        })
    }

    fn log_level(&self) -> &'static str {
        if self.log_quiet {
            "error"
        } else if self.log_debug {
            "debug"
        } else {
            self.log_level.as_str()
        }
    }

    /// One-line warnings for werf options Slipway accepts but does not use, when given on
    /// the command line.
    fn werf_warnings(&self, m: &clap::ArgMatches) {
        let given = |id: &str| {
            let mut cur = m;
            loop {
                if flags::given(cur, id) {
                    return true;
                }
                match cur.subcommand() {
                    Some((_, sub)) => cur = sub,
                    None => return false,
                }
            }
        };
        if self.registry_password.is_some() && given("registry_password") {
            tracing::warn!(
                "--registry-password on the command line can be read by any user of this machine (/proc/PID/cmdline): use SLIPWAY_REGISTRY_PASSWORD or --registry-password-stdin"
            );
        }
        if let Some(s) = self
            .synchronization
            .as_deref()
            .filter(|s| *s != ":local" && given("synchronization"))
        {
            tracing::warn!(
                "--synchronization {s}: Slipway locks on this machine (use GitLab's resource_group across runners); the value has no effect"
            );
        }
    }
}

/// The clap tree with the flag table applied; `env` decides which variable each option
/// reads. Completions and the man page use an empty `env`.
pub fn command(env: &Env) -> clap::Command {
    let cmd = flags::apply(Cli::command(), env).mut_subcommand("publish", |s| {
        // `publish` pushes what is built: the build options do not apply (still accepted,
        // as the same arguments serve build-and-publish).
        [
            "parallel",
            "parallel_tasks_limit",
            "force",
            "buildkit",
            "cache_from",
            "log_mode",
            "introspect_stage",
        ]
        .into_iter()
        .fold(s, |s, id| s.mut_arg(id, |a| a.hide(true)))
    });
    short_help::apply(cmd)
}

fn init_logging(level: &str, json: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_new(format!("slipway={level},warn"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("slipway=info,warn"));
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        // Logs join the event stream on stdout (docs/json.md).
        let _ = registry.with(output::JsonLogs).try_init();
    } else {
        // One style for human lines: level and message, no timestamps.
        let _ = registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_target(false)
                    .without_time(),
            )
            .try_init();
    }
}

/// The subcommand named on the command line (for `--json` errors before parsing).
fn command_name(cmd: &clap::Command, argv: &[OsString]) -> String {
    argv.iter()
        .skip(1)
        .map(|a| a.to_string_lossy())
        .find(|a| cmd.find_subcommand(a.as_ref()).is_some())
        .map(|a| a.to_string())
        .unwrap_or_else(|| "slipway".into())
}

/// Commands whose output is a text for another program: `--json` does not apply.
fn json_applies(c: &Command) -> bool {
    !matches!(
        c,
        Command::Completions(_) | Command::Man(_) | Command::Run(_)
    )
}

fn name_of(c: &Command) -> &'static str {
    match c {
        Command::Build(_) => "build",
        Command::Publish(_) => "publish",
        Command::BuildAndPublish(_) => "build-and-publish",
        Command::Cleanup(_) => "cleanup",
        Command::Purge(_) => "purge",
        Command::ManagedImages(_) => "managed-images",
        Command::Promote(_) => "promote",
        Command::PushArchive(_) => "push-archive",
        Command::CiEnv(_) => "ci-env",
        Command::Config(config::ConfigCommand::Render { .. }) => "config render",
        Command::Config(config::ConfigCommand::Validate) => "config validate",
        Command::Slugify(_) => "slugify",
        Command::HelmValues(_) => "helm-values",
        Command::Images(a) => werf_groups::images_name(a.werf.as_ref()),
        Command::Stages(g) => werf_groups::stages_name(g),
        Command::Stage(_) => "stage image",
        Command::Host(g) => host::name(g),
        Command::Run(_) => "run",
        Command::Doctor(_) => "doctor",
        Command::Completions(_) => "completions",
        Command::Man(_) => "man",
        Command::Version => "version",
        Command::Login(_) => "login",
        Command::Ls(_) => "ls",
        Command::Inspect(_) => "inspect",
    }
}

/// The process environment as UTF-8 (other variables are not Slipway's): the one read of
/// it, carried as `Settings::host_env`.
fn process_env() -> Env {
    crate::settings::HostEnv::from_process().vars().clone()
}

/// Entry point of the `slipway` binary.
pub fn main() -> ExitCode {
    if let Some(code) = version::answer_alone(std::env::args_os()) {
        return code;
    }
    let env = process_env();
    let argv: Vec<OsString> = std::env::args_os().collect();
    let cmd = command(&env);
    let early_json = output::wants_json(&argv, &env);
    // Failures before the command starts are still reported in the stream with --json.
    let early = |e: &dyn std::fmt::Display, code: u8| {
        if early_json {
            output::init(true, &command_name(&cmd, &argv));
            output::fail(&anyhow::anyhow!("{e}"));
        } else {
            eprintln!("error: {e}");
        }
        ExitCode::from(code)
    };
    if let Err(e) = flags::check_env(&cmd, &argv, &env) {
        return early(&e, 2);
    }
    let matches = match cmd.clone().try_get_matches_from(&argv) {
        Ok(m) => m,
        Err(e) if e.use_stderr() && early_json => {
            let text = e.render().to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ");
            return early(&first, 2);
        }
        Err(e) => {
            let _ = e.print();
            helm::deploy_note(&e);
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    let json = cli.global.json && json_applies(&cli.command);
    output::init(json, name_of(&cli.command));
    init_logging(cli.global.log_level(), json);
    for v in flags::unknown_env(&cmd, &env) {
        tracing::warn!("{v} is set but no Slipway option reads it (a typo?)");
    }
    for w in flags::old_env_used(&cmd, &matches, &env) {
        tracing::warn!("{w}");
    }
    for f in flags::no_effect_given(&matches, &cmd) {
        tracing::warn!("{f}: werf option accepted for compatibility; it has no effect in Slipway");
    }
    cli.global.werf_warnings(&matches);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return output::finish(Err(anyhow::anyhow!("cannot start the async runtime: {e}")));
        }
    };
    output::finish(runtime.block_on(run(cli, &env)))
}

async fn run(cli: Cli, env: &Env) -> anyhow::Result<ExitCode> {
    // Needs no settings: it works wherever the binary runs.
    if let Command::Version = cli.command {
        return version::run();
    }
    let mut settings = cli.global.settings(env)?;
    cli.global.werf.apply(&settings.dir)?;
    let _agent = werf_compat::ssh_agent(&cli.command, &mut settings)?;
    // One run per command: the registry client and the daemon connection every handler
    // shares (made on first use).
    let run = crate::project::Run::new(settings);
    let settings = &run.settings;
    match cli.command {
        Command::Build(a) => build::run(&run, a).await,
        Command::Publish(a) => publish::run(&run, a, false).await,
        Command::BuildAndPublish(a) => publish::run(&run, a, true).await,
        Command::Cleanup(a) => {
            let base64 = cli.global.kube_config_base64.clone();
            cleanup::run(&run, a, base64).await
        }
        Command::Purge(a) => cleanup::run_purge(&run, a).await,
        Command::ManagedImages(c) => managed_images::run(&run, c).await,
        Command::Promote(a) => promote::run(&run, a).await,
        Command::PushArchive(a) => push_archive::run(&run, a).await,
        Command::CiEnv(a) => ci_env::run(settings, a, env).await,
        Command::Config(c) => config::run(settings, c).await,
        Command::Slugify(a) => slugify::run(settings, a).await,
        Command::HelmValues(a) => helm::run(settings, a).await,
        Command::Images(a) => images::run(&run, a, cli.global.kube_config_base64).await,
        Command::Stages(g) => werf_groups::stages(&run, g, cli.global.kube_config_base64).await,
        Command::Stage(g) => werf_groups::stage(&run, g).await,
        Command::Host(g) => host::run(&run, g).await,
        Command::Run(a) => run::run(&run, a).await,
        Command::Doctor(a) => doctor::run(&run, a).await,
        Command::Completions(a) => completions::completions(a),
        Command::Man(a) => completions::man(a),
        Command::Version => version::run(),
        Command::Login(a) => login::login(&run, a).await,
        Command::Ls(a) => login::ls(&run, a).await,
        Command::Inspect(a) => inspect::run(&run, a).await,
    }
}

#[cfg(test)]
mod tests;
