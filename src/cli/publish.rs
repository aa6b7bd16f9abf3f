//! `slipway publish` and `slipway build-and-publish`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::build::{BuildFlags, printer};
use crate::publish::report::{BuildOutcome, PushOutcome};
use crate::publish::{Outcome, PublishOptions, publish};
use crate::registry::client::UploadMode;
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Images to publish [default: all].
    pub images: Vec<String>,
    #[command(flatten)]
    pub tags: super::tags::TagArgs,
    #[command(flatten)]
    pub build: BuildFlags,
    /// Write a JSON report (images, references, digests) to this file.
    #[arg(long, env = "SLIPWAY_REPORT_PATH")]
    pub report_path: Option<PathBuf>,
    /// Write a dotenv digest file (GitLab artifacts:reports:dotenv) to this file.
    #[arg(long, env = "SLIPWAY_DIGEST_FILE")]
    pub digest_file: Option<PathBuf>,
    /// Print what would be built and pushed (after asking the registry) and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// auto, chunked or monolithic.
    #[arg(long, default_value = "auto")]
    pub upload_mode: String,
    /// Push through the Docker daemon (`docker push`) instead of Slipway's client.
    #[arg(long, env = "SLIPWAY_PUSH_WITH_DAEMON")]
    pub push_with_daemon: bool,
}

pub async fn run(settings: &Settings, args: PublishArgs, build: bool) -> anyhow::Result<ExitCode> {
    let upload_mode: UploadMode = args
        .upload_mode
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--upload-mode: {e}"))?;
    let opts = PublishOptions {
        build,
        images: args.images,
        tags: super::tags::to_options(&args.tags),
        dry_run: args.dry_run,
        report_path: args.report_path,
        digest_file: args.digest_file,
        parallel: args.build.parallel.unwrap_or_else(num_cpus::get),
        force: args.build.force,
        upload_mode,
        push_with_daemon: args.push_with_daemon,
        buildkit: args.build.buildkit_mode()?,
        cache_from: crate::naming::cache_tags(&args.build.cache_from),
        on_event: printer(false, &args.build.log_mode),
    };
    match publish(settings, opts).await? {
        Outcome::Planned(plan) => {
            if settings.json {
                println!("{}", plan.to_json());
            } else {
                print!("{plan}");
            }
        }
        Outcome::Published(report) => {
            if settings.json {
                println!("{}", report.to_json());
            } else {
                for i in &report.images {
                    let b = match i.build {
                        BuildOutcome::Built => "built",
                        BuildOutcome::Skipped => "not rebuilt",
                    };
                    let p = match i.push {
                        PushOutcome::Pushed => "pushed",
                        PushOutcome::AlreadyPresent => "already in the registry",
                    };
                    eprintln!("{}: {b}, {p}", i.name.as_deref().unwrap_or("~"));
                    for r in &i.references {
                        println!("{r}@{}", i.digest);
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
