//! `slipway ci-env gitlab|github`: print shell lines that configure Slipway from CI
//! variables. Typical use: `source $(slipway ci-env gitlab --as-file)`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::ci_env::{self, Ci, Shell, Tagging};
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct CiEnvArgs {
    /// CI system: gitlab or github.
    pub ci: String,
    /// content (tag by content signature) or tag-or-branch.
    #[arg(long, env = "SLIPWAY_TAGGING_STRATEGY", default_value = "content")]
    pub tagging_strategy: String,
    /// posix or powershell.
    #[arg(long, default_value = "posix")]
    pub shell: String,
    /// Write a script and print its path (for `source $(slipway ci-env gitlab --as-file)`).
    #[arg(long, conflicts_with = "as_env_file")]
    pub as_file: bool,
    /// Write KEY=VALUE lines to a file and print its path.
    #[arg(long)]
    pub as_env_file: bool,
    /// File to write with --as-file / --as-env-file [default: a new temp file].
    #[arg(short = 'o', long = "output-file-path")]
    pub output: Option<PathBuf>,
}

pub async fn run(_settings: &Settings, args: CiEnvArgs) -> anyhow::Result<ExitCode> {
    let ci: Ci = args.ci.parse()?;
    let tagging: Tagging = args.tagging_strategy.parse()?;
    let shell = match (args.as_env_file, args.shell.as_str()) {
        (true, _) => Shell::EnvFile,
        (false, "posix" | "sh" | "bash") => Shell::Posix,
        (false, "powershell" | "pwsh") => Shell::PowerShell,
        (false, o) => anyhow::bail!("--shell {o:?}: choose posix or powershell"),
    };
    let vars: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let env = ci_env::compute(ci, tagging, &vars)?;
    let user_cfg = std::env::var_os("DOCKER_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")));
    let dir = ci_env::write_docker_config(
        &std::env::temp_dir(),
        user_cfg.as_deref(),
        env.login.as_ref(),
    )?;
    let env = ci_env::with_docker_config(env, &dir);
    let text = ci_env::render(&env.lines, shell);
    if args.as_file || args.as_env_file {
        let path = match args.output {
            Some(p) => p,
            None => {
                let suffix = if shell == Shell::PowerShell {
                    ".ps1"
                } else {
                    ".sh"
                };
                tempfile::Builder::new()
                    .prefix("slipway-ci-env-")
                    .suffix(if args.as_env_file { ".env" } else { suffix })
                    .tempfile()?
                    .keep()
                    .map_err(|e| e.error)?
                    .1
            }
        };
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
    } else {
        print!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}
