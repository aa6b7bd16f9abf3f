//! `slipway doctor [--images-repo R]`.

use std::process::ExitCode;

use clap::Args;

use super::output;
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct DoctorArgs {}

pub async fn run(settings: &Settings, _args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let client = super::registry::client(settings);
    let checks = crate::doctor::run(settings, &client).await;
    output::out(&crate::doctor::table(&checks));
    let failed = checks.iter().filter(|c| !c.ok).count();
    let result = serde_json::json!({ "checks": checks });
    if failed == 0 {
        output::result(result)?;
        Ok(ExitCode::SUCCESS)
    } else {
        output::failed(result, &format!("{failed} check(s) failed"))?;
        Ok(ExitCode::from(1))
    }
}
