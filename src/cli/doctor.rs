//! `slipway doctor`.

use std::process::ExitCode;

use clap::Args;

use super::NotImplemented;
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct DoctorArgs {}

pub async fn run(_settings: &Settings, _args: DoctorArgs) -> anyhow::Result<ExitCode> {
    Err(NotImplemented("doctor").into())
}
