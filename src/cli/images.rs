//! `slipway images`.

use std::process::ExitCode;

use clap::Args;

use super::NotImplemented;
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct ImagesArgs {
    #[command(flatten)]
    pub tags: super::tags::TagArgs,
}

pub async fn run(_settings: &Settings, _args: ImagesArgs) -> anyhow::Result<ExitCode> {
    Err(NotImplemented("images").into())
}
