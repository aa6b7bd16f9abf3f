//! `slipway slugify`.

use std::process::ExitCode;

use clap::Args;

use super::NotImplemented;
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct SlugifyArgs {
    /// Text to slug.
    pub text: String,
}

pub async fn run(_settings: &Settings, _args: SlugifyArgs) -> anyhow::Result<ExitCode> {
    Err(NotImplemented("slugify").into())
}
