//! `slipway ci-env`.

use std::process::ExitCode;

use clap::Args;

use super::NotImplemented;
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct CiEnvArgs {
    /// CI system: gitlab or github.
    pub ci: String,
}

pub async fn run(_settings: &Settings, _args: CiEnvArgs) -> anyhow::Result<ExitCode> {
    Err(NotImplemented("ci-env").into())
}
