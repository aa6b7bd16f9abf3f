//! `slipway config render|validate`.

use std::process::ExitCode;

use clap::Subcommand;

use super::NotImplemented;
use crate::settings::Settings;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print werf.yaml after Go-template rendering.
    Render,
    /// Check werf.yaml and report every error as FILE:LINE:COL.
    Validate,
}

pub async fn run(_settings: &Settings, cmd: ConfigCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ConfigCommand::Render => Err(NotImplemented("config render").into()),
        ConfigCommand::Validate => Err(NotImplemented("config validate").into()),
    }
}
