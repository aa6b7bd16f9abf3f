//! `slipway config render|validate`.

use std::process::ExitCode;

use clap::Subcommand;

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
        ConfigCommand::Render => match config::render_config(settings) {
            Ok(r) => {
                print!("{}", r.text);
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(e.into()),
        },
        ConfigCommand::Validate => {
            let cfg = config::load(settings)?;
            if settings.json {
                println!("{}", serde_json::to_string_pretty(&cfg)?);
            } else {
                let names: Vec<&str> = cfg.images.iter().map(|i| i.display_name()).collect();
                println!(
                    "{}: project {}, {} image(s): {}",
                    cfg.path.display(),
                    cfg.project,
                    cfg.images.len(),
                    names.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
