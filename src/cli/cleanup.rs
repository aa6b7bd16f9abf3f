//! `slipway cleanup` and `slipway purge`.

use std::process::ExitCode;

use clap::Args;

use super::NotImplemented;
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Really delete (the plan is shown first).
    #[arg(long)]
    pub force: bool,
}

pub async fn run(_settings: &Settings, _args: CleanupArgs) -> anyhow::Result<ExitCode> {
    Err(NotImplemented("cleanup").into())
}

pub async fn run_purge(_settings: &Settings, _args: PurgeArgs) -> anyhow::Result<ExitCode> {
    Err(NotImplemented("purge").into())
}
