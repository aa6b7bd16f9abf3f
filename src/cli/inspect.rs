//! `slipway inspect REF`: what the registry holds under a reference (read-only).

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::output;
use crate::inspect::{Inspection, inspect};
use crate::project::Run;
use crate::registry::reference::Reference;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  slipway inspect registry.example.com/shop/backend:main
  slipway inspect ghcr.io/owner/app@sha256:… --json")]
pub struct InspectArgs {
    /// `HOST/PATH[:TAG|@DIGEST]` (`:latest` when neither is given).
    pub reference: String,
}

pub async fn run(run: &Run, args: InspectArgs) -> anyhow::Result<ExitCode> {
    let reference = Reference::parse(&args.reference)
        .with_context(|| format!("inspect {:?}", args.reference))?;
    let found = inspect(run.client(), &reference).await?;
    output::out(&text(&found));
    output::result(serde_json::to_value(&found)?)?;
    Ok(ExitCode::SUCCESS)
}

/// Bytes as KiB/MiB, as `docker images` rounds them.
fn human(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / f64::from(1 << 10)),
        n => format!("{n} B"),
    }
}

/// The human form: one fact a line, each platform's below it.
fn text(i: &Inspection) -> String {
    let mut out = format!(
        "reference   {}\ndigest      {}\nmedia type  {}\nsize        {}\n",
        i.reference,
        i.digest,
        i.media_type,
        human(i.size)
    );
    for p in &i.platforms {
        out.push_str(&format!(
            "platform    {}  {}  {} layer(s), {}\n",
            p.platform,
            p.digest,
            p.layers,
            human(p.size)
        ));
        if let Some(c) = &p.created {
            out.push_str(&format!("  created   {c}\n"));
        }
        for (k, v) in &p.labels {
            out.push_str(&format!("  label     {k}={v}\n"));
        }
        if let Some(cfg) = p.config.as_object() {
            for (k, v) in cfg.iter().filter(|(k, _)| *k != "Labels") {
                out.push_str(&format!("  config    {k}: {v}\n"));
            }
        }
    }
    if i.referrers.is_empty() {
        out.push_str(match i.referrers_source {
            "api" => "referrers   none (asked the referrers API)\n",
            _ => "referrers   none (no referrers API, no sha256-… tag)\n",
        });
    }
    for r in &i.referrers {
        out.push_str(&format!(
            "referrer    {}  {}  {}\n",
            r.digest,
            r.artifact_type.as_deref().unwrap_or(&r.media_type),
            human(r.size)
        ));
    }
    out
}
