//! `slipway slugify [--format F] TEXT`.

use std::process::ExitCode;

use clap::Args;

use crate::naming::slug::{SlugFormat, slug};
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct SlugifyArgs {
    /// docker-tag, kubernetes-namespace, helm-release or project.
    #[arg(long, short = 'f', default_value = "docker-tag")]
    pub format: String,
    /// Text to slug.
    pub text: String,
}

pub async fn run(_settings: &Settings, args: SlugifyArgs) -> anyhow::Result<ExitCode> {
    let format: SlugFormat = args
        .format
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--format: {e}"))?;
    println!("{}", slug(&args.text, format));
    Ok(ExitCode::SUCCESS)
}
