//! `slipway ci-env gitlab|github`: print shell lines that configure Slipway (werf 1.1's
//! `WERF_*` variables) from CI variables. Typical use:
//! `source $(slipway ci-env gitlab --as-file --verbose)`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};

use super::Env;
use super::output;
use crate::ci_env::{self, Ci, Render, Shell, Tagging};
use crate::settings::Settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TaggingArg {
    /// Tag by content signature (werf's default).
    #[value(name = "stages-signature", alias = "content")]
    StagesSignature,
    /// The git tag of a tag pipeline, else the branch.
    TagOrBranch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellArg {
    /// Any POSIX shell (bash, sh, zsh).
    #[value(alias = "posix", alias = "sh", alias = "bash")]
    Default,
    #[value(alias = "pwsh")]
    Powershell,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  source $(slipway ci-env gitlab --as-file)
  source $(slipway ci-env gitlab --as-file --tagging-strategy tag-or-branch)
  slipway ci-env github --as-env-file -o ci.env")]
pub struct CiEnvArgs {
    /// CI system.
    #[command(subcommand)]
    pub ci: CiCommand,
}

/// One subcommand per CI system, so each has its own help (werf's `ci-env gitlab`).
#[derive(Debug, Subcommand)]
pub enum CiCommand {
    /// Configure from GitLab CI's variables (CI_REGISTRY_IMAGE, CI_JOB_TOKEN, …).
    #[command(after_help = "Examples:
  source $(slipway ci-env gitlab --as-file)
  source $(slipway ci-env gitlab --as-file --tagging-strategy tag-or-branch)")]
    Gitlab(CiOpts),
    /// Configure from GitHub Actions' variables (GITHUB_REPOSITORY, GITHUB_REF, …).
    #[command(after_help = "Examples:
  slipway ci-env github --as-env-file -o ci.env")]
    Github(CiOpts),
}

#[derive(Debug, Args)]
pub struct CiOpts {
    /// How published images are tagged.
    #[arg(long, value_enum, default_value = "stages-signature")]
    pub tagging_strategy: TaggingArg,
    /// Shell syntax of the script.
    #[arg(long, value_enum, default_value = "default")]
    pub shell: ShellArg,
    /// Write a script and print its path (for `source $(slipway ci-env gitlab --as-file)`).
    #[arg(long, conflicts_with = "as_env_file")]
    pub as_file: bool,
    /// Write KEY=VALUE lines to a file and print its path; with -o, append to the file (for
    /// GitHub's `$GITHUB_ENV`).
    #[arg(long)]
    pub as_env_file: bool,
    /// File to write with --as-file / --as-env-file [default: a new temp file].
    #[arg(short = 'o', long = "output-file-path")]
    pub output: Option<PathBuf>,
}

pub async fn run(settings: &Settings, args: CiEnvArgs, env: &Env) -> anyhow::Result<ExitCode> {
    let (ci, args) = match args.ci {
        CiCommand::Gitlab(o) => (Ci::GitLab, o),
        CiCommand::Github(o) => (Ci::GitHub, o),
    };
    let tagging = match args.tagging_strategy {
        TaggingArg::StagesSignature => Tagging::Content,
        TaggingArg::TagOrBranch => Tagging::TagOrBranch,
    };
    let shell = match (args.as_env_file, args.shell) {
        (true, _) => Shell::EnvFile,
        (false, ShellArg::Default) => Shell::Posix,
        (false, ShellArg::Powershell) => Shell::PowerShell,
    };
    let render = Render {
        shell,
        verbose: settings.verbose,
    };
    let to_file = args.as_file || args.as_env_file;
    let text = match script(settings, ci, tagging, env, render) {
        Ok(text) => text,
        Err(e) => {
            // werf's way: `exit 1` on stdout so `source <(…)` / `eval` stop the job; with
            // a file, the file holds it (`source $(…)` then stops too).
            let fatal = render.fatal(&format!("{e:#}"));
            // Not into an env file: nothing sources it, and `exit 1` is no `KEY=VALUE` line.
            if args.as_env_file {
                return Err(e);
            }
            if to_file {
                if let Ok(path) = write(&args, shell, &fatal, &settings.host_env.temp_dir()) {
                    output::out(&format!("{}\n", path.display()));
                }
            } else {
                output::out(&fatal);
            }
            return Err(e);
        }
    };
    if to_file {
        let path = write(&args, shell, &text, &settings.host_env.temp_dir())?;
        output::out(&format!("{}\n", path.display()));
        output::result(serde_json::json!({ "file": path, "script": text }))?;
    } else {
        output::out(&text);
        output::result(serde_json::json!({ "script": text }))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn script(
    settings: &Settings,
    ci: Ci,
    tagging: Tagging,
    env: &Env,
    render: Render,
) -> anyhow::Result<String> {
    let computed = ci_env::for_job(
        ci,
        tagging,
        env,
        &settings.host_env.temp_dir(),
        settings.docker_config.as_deref(),
    )?;
    Ok(render.lines(&computed.lines))
}

fn write(args: &CiOpts, shell: Shell, text: &str, temp_dir: &Path) -> anyhow::Result<PathBuf> {
    let path = match &args.output {
        Some(p) => p.clone(),
        None => {
            let suffix = match shell {
                Shell::PowerShell => ".ps1",
                Shell::EnvFile => ".env",
                Shell::Posix => ".sh",
            };
            let dir = ci_env::job_files_dir(temp_dir);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            tempfile::Builder::new()
                .prefix("slipway-ci-env-")
                .suffix(suffix)
                .tempfile_in(&dir)?
                .keep()
                .map_err(|e| e.error)?
                .1
        }
    };
    if shell == Shell::EnvFile {
        // `-o "$GITHUB_ENV"`: the runner's file may already hold other steps' variables.
        crate::fsutil::append_lines(&path, text.as_bytes())
            .with_context(|| format!("appending to {}", path.display()))?;
    } else {
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(path)
}
