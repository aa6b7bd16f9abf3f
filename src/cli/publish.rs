//! `slipway publish` and `slipway build-and-publish`.

use std::process::ExitCode;

use clap::Args;

use super::NotImplemented;
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Images to publish [default: all].
    pub images: Vec<String>,
    #[command(flatten)]
    pub tags: super::tags::TagArgs,
}

pub async fn run(
    _settings: &Settings,
    _args: PublishArgs,
    build: bool,
) -> anyhow::Result<ExitCode> {
    Err(NotImplemented(if build {
        "build-and-publish"
    } else {
        "publish"
    })
    .into())
}
