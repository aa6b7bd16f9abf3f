//! `slipway images [--json]`: each image's name, repository, references and content
//! signature. Touches no daemon and no registry.

use std::process::ExitCode;

use clap::Args;

use super::output;
use crate::project::{Project, Run};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  slipway images --images-repo registry.example.com/shop --tag-by-content
  slipway images --local          # the local image names `slipway build` tags
  docker run --rm $(slipway images --local backend)")]
pub struct ImagesArgs {
    /// Only these images [default: all].
    pub only: Vec<String>,
    /// Print each image's local name (what `slipway build` tags in the daemon), one a line
    /// (werf's `stage image`).
    #[arg(long)]
    pub local: bool,
    /// List the images as built for these platforms (as `build --platform`) [default:
    /// werf.yaml's].
    #[arg(long, value_delimiter = ',', value_parser = crate::platform::normalize)]
    pub platform: Vec<String>,
    #[command(flatten)]
    pub tags: super::tags::TagArgs,
    /// werf 1.1's `images publish|cleanup|purge` (hidden; `--` before an image so named).
    #[command(subcommand)]
    pub werf: Option<super::werf_groups::ImagesGroup>,
}

pub async fn run(
    run: &Run,
    mut args: ImagesArgs,
    kube_config_base64: Option<crate::settings::Secret>,
) -> anyhow::Result<ExitCode> {
    if let Some(g) = args.werf.take() {
        return super::werf_groups::images(run, g, kube_config_base64).await;
    }
    if args.local {
        return print_local(run, &args.only);
    }
    let rows = Project::open(run)?
        .image_rows(&args.only, &args.platform, &args.tags.options())
        .await?;
    let mut text = String::new();
    for r in &rows {
        text.push_str(&format!(
            "{}\n",
            crate::naming::name::ImageName::from(r.name.as_deref())
        ));
        if let Some(repo) = &r.repository {
            text.push_str(&format!("  repository {repo}\n"));
        }
        text.push_str(&format!("  signature  {}\n", r.signature));
        for p in r.platforms.iter().filter(|_| r.platforms.len() > 1) {
            text.push_str(&format!("  platform   {} {}\n", p.platform, p.signature));
        }
        for reference in &r.references {
            text.push_str(&format!("  reference  {reference}\n"));
        }
    }
    output::out(&text);
    output::result(serde_json::json!({ "images": rows }))?;
    Ok(ExitCode::SUCCESS)
}

/// Each image's local name (what `slipway build` tags in the daemon), one a line.
pub fn print_local(run: &Run, only: &[String]) -> anyhow::Result<ExitCode> {
    let project = Project::open(run)?;
    crate::build::selection(&project.config, only)?;
    let cfg = &project.config;
    let mut local = Vec::new();
    for img in cfg
        .images
        .iter()
        .filter(|i| only.is_empty() || i.name.as_ref().is_some_and(|n| only.contains(n)))
    {
        let tag = crate::build::local_tag(&cfg.project, img.name.as_deref());
        output::out(&format!("{tag}\n"));
        local.push(serde_json::json!({"name": img.name, "local": tag}));
    }
    output::result(serde_json::json!({ "images": local }))?;
    Ok(ExitCode::SUCCESS)
}
