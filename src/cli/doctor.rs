//! `slipway doctor [--images-repo R]`.

use std::process::ExitCode;

use clap::Args;

use super::output;
use crate::project::Run;

#[derive(Debug, Args)]
pub struct DoctorArgs {}

pub async fn run(run: &Run, _args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let checks = crate::doctor::run(&run.settings, run.client(), run.daemon_connection()).await;
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
