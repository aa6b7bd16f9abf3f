//! `slipway config render|validate`.

use std::process::ExitCode;

use clap::Subcommand;

use super::output;
use crate::config;
use crate::settings::Settings;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print werf.yaml after Go-template rendering.
    Render,
    /// Check werf.yaml and report every error as FILE:LINE:COL.
    Validate,
}

pub async fn run(settings: &Settings, cmd: ConfigCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ConfigCommand::Render => {
            let r = config::render_config(settings)?;
            output::out(&r.text);
            output::result(serde_json::json!({
                "path": r.path,
                "text": r.text,
            }))?;
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Validate => {
            let cfg = config::load(settings)?;
            let names: Vec<&str> = cfg.images.iter().map(|i| i.display_name()).collect();
            output::out(&format!(
                "{}: project {}, {} image(s): {}\n",
                cfg.path.display(),
                cfg.project,
                cfg.images.len(),
                names.join(", ")
            ));
            output::result(&cfg)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
