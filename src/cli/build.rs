//! `slipway build`.

use std::process::ExitCode;

use clap::Args;

use super::NotImplemented;
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Images to build (with their dependencies) [default: all].
    pub images: Vec<String>,
    #[command(flatten)]
    pub tags: super::tags::TagArgs,
}

pub async fn run(_settings: &Settings, _args: BuildArgs) -> anyhow::Result<ExitCode> {
    Err(NotImplemented("build").into())
}
