//! `slipway push-archive`.

use std::process::ExitCode;

use clap::Args;

use super::NotImplemented;
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct PushArchiveArgs {
    /// docker-save or OCI tarball(s), or OCI layout directories.
    #[arg(required = true)]
    pub files: Vec<std::path::PathBuf>,
}

pub async fn run(_settings: &Settings, _args: PushArchiveArgs) -> anyhow::Result<ExitCode> {
    Err(NotImplemented("push-archive").into())
}
