//! `slipway doctor [--images-repo R]`.

use std::process::ExitCode;

use clap::Args;

use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct DoctorArgs {}

pub async fn run(settings: &Settings, _args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let checks = crate::doctor::run(settings).await;
    if settings.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        print!("{}", crate::doctor::table(&checks));
    }
    Ok(if checks.iter().all(|c| c.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
