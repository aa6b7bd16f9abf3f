//! `slipway promote`.

use std::process::ExitCode;

use clap::Args;

use super::NotImplemented;
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// Source reference, e.g. registry/app:staging.
    pub source: Option<String>,
    /// Destination reference or repository.
    pub destination: Option<String>,
}

pub async fn run(_settings: &Settings, _args: PromoteArgs) -> anyhow::Result<ExitCode> {
    Err(NotImplemented("promote").into())
}
