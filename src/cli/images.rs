//! `slipway images [--json]`: each image's name, repository, references and content
//! signature. Touches no daemon and no registry.

use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use super::output;
use crate::naming;
use crate::project::{Bases, Project, Run};

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

#[derive(Serialize)]
struct Row {
    name: Option<String>,
    repository: Option<String>,
    references: Vec<String>,
    signature: String,
    /// The platforms it is built for, each with its own signature (issue 34); empty: the
    /// daemon's platform.
    platforms: Vec<PlatformRow>,
}

#[derive(Serialize)]
struct PlatformRow {
    platform: String,
    signature: String,
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
    let mut project = Project::open(run)?;
    crate::build::selection(&project.config, &args.only)?;
    project.config.force_platforms(&args.platform);
    // Signatures only: the base is not pulled.
    project.resolve_bases(Bases::DigestsOnly).await?;
    let cfg = &project.config;
    let outputs = project.outputs(&[]);
    let sigs = project.signatures(&outputs)?;
    let naming = project.naming()?;
    let specs = project.tag_specs(&args.tags.options())?;
    let stapel = crate::stapel::Env::new(cfg);
    let mut rows = Vec::new();
    for img in cfg
        .images
        .iter()
        .filter(|i| args.only.is_empty() || i.name.as_ref().is_some_and(|n| args.only.contains(n)))
    {
        let sig = sigs.get(&img.name).cloned().unwrap_or_default();
        let (repository, references) = match &naming {
            Some(n) => {
                let refs = n.references(img.name.as_deref(), &naming::image_tags(&specs, &sig))?;
                (Some(n.repository(img.name.as_deref())?.to_string()), refs)
            }
            None => (None, Vec::new()),
        };
        let oci = crate::labels::oci(cfg.source.as_deref(), &cfg.project, img.name.as_deref());
        let mut platforms: Vec<PlatformRow> =
            crate::signature::per_platform(img, &oci, &sigs, &outputs, Some(&stapel))?
                .into_iter()
                .map(|(platform, signature)| PlatformRow {
                    platform,
                    signature,
                })
                .collect();
        if platforms.is_empty()
            && let Some(p) = img.platforms().first()
        {
            platforms.push(PlatformRow {
                platform: p.clone(),
                signature: sig.clone(),
            });
        }
        rows.push(Row {
            name: img.name.clone(),
            repository,
            references,
            signature: sig,
            platforms,
        });
    }
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
