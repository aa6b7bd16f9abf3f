//! `slipway slugify [--format F] TEXT`.

use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::naming::slug::{SlugFormat, slug};
use crate::settings::Settings;

/// What the slug must be valid as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    DockerTag,
    KubernetesNamespace,
    HelmRelease,
    Project,
}

impl From<FormatArg> for SlugFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::DockerTag => SlugFormat::DockerTag,
            FormatArg::KubernetesNamespace => SlugFormat::KubernetesNamespace,
            FormatArg::HelmRelease => SlugFormat::HelmRelease,
            FormatArg::Project => SlugFormat::Project,
        }
    }
}

#[derive(Debug, Args)]
pub struct SlugifyArgs {
    /// What the slug must be valid as.
    #[arg(long, short = 'f', value_enum, default_value = "docker-tag")]
    pub format: FormatArg,
    /// Text to slug.
    pub text: String,
}

pub async fn run(_settings: &Settings, args: SlugifyArgs) -> anyhow::Result<ExitCode> {
    let s = slug(&args.text, args.format.into());
    super::output::out(&format!("{s}\n"));
    super::output::result(serde_json::json!({ "text": args.text, "slug": s }))?;
    Ok(ExitCode::SUCCESS)
}
