//! `slipway publish` and `slipway build-and-publish`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::build::{BuildFlags, printer};
use super::output;
use crate::project::Run;
use crate::publish::plan::Plan;
use crate::publish::report::{BuildOutcome, PushOutcome, ReportFormat};
use crate::publish::{Outcome, PublishOptions, PublishRequest, publish};
use crate::registry::UploadMode;
use crate::registry::compress::Codec;

/// `--upload-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum UploadModeArg {
    /// One request below 32 MiB, chunks above (falls back if the registry refuses chunks).
    #[default]
    Auto,
    Chunked,
    Monolithic,
}

impl From<UploadModeArg> for UploadMode {
    fn from(m: UploadModeArg) -> Self {
        match m {
            UploadModeArg::Auto => UploadMode::Auto,
            UploadModeArg::Chunked => UploadMode::Chunked,
            UploadModeArg::Monolithic => UploadMode::Monolithic,
        }
    }
}

/// `--layer-compression`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LayerCompressionArg {
    /// gzip, as `docker push` writes (every runtime pulls it).
    #[default]
    Gzip,
    /// zstd in an OCI manifest: smaller and faster to unpack; pulled by containerd ≥ 1.5
    /// and Docker ≥ 23.
    Zstd,
}

impl From<LayerCompressionArg> for Codec {
    fn from(c: LayerCompressionArg) -> Self {
        match c {
            LayerCompressionArg::Gzip => Codec::Gzip,
            LayerCompressionArg::Zstd => Codec::Zstd,
        }
    }
}

/// `--report-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ReportFormatArg {
    /// Slipway's JSON report (images, references, digests).
    #[default]
    Json,
    /// werf 2's envfile: WERF_<IMAGE>_DOCKER_IMAGE_NAME, _ID, _DIGEST.
    Envfile,
    /// werf 1.1's publish report JSON.
    #[value(name = "werf-1.1")]
    Werf11,
}

impl From<ReportFormatArg> for ReportFormat {
    fn from(f: ReportFormatArg) -> Self {
        match f {
            ReportFormatArg::Json => ReportFormat::Json,
            ReportFormatArg::Envfile => ReportFormat::Envfile,
            ReportFormatArg::Werf11 => ReportFormat::Werf11,
        }
    }
}

/// werf 1.1's `--publish-report-format` (it knew only json).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum WerfReportFormat {
    #[default]
    Json,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Images to publish [default: all].
    pub images: Vec<String>,
    #[command(flatten)]
    pub tags: super::tags::TagArgs,
    #[command(flatten)]
    pub build: BuildFlags,
    /// Write a report (images, references, digests) to this file.
    #[arg(long)]
    pub report_path: Option<PathBuf>,
    /// Format of --report-path.
    #[arg(long, value_enum, default_value = "json")]
    pub report_format: ReportFormatArg,
    /// Write werf 1.1's publish report (JSON) to this file.
    #[arg(long)]
    pub publish_report_path: Option<PathBuf>,
    /// Format of --publish-report-path (werf 1.1 knew only json).
    #[arg(long, value_enum, default_value = "json", hide = true)]
    pub publish_report_format: WerfReportFormat,
    /// Write a dotenv digest file (GitLab's artifacts:reports:dotenv).
    #[arg(long)]
    pub digest_file: Option<PathBuf>,
    /// Append to --digest-file, keeping its lines, instead of replacing it (for
    /// `--digest-file "$GITHUB_OUTPUT"`).
    #[arg(long, requires = "digest_file")]
    pub digest_file_append: bool,
    /// The images --digest-file names (`a,b`; `~` is the nameless image) [default: all, when
    /// there are at most 15: GitLab's dotenv report takes 5,120 bytes and 20 variables].
    #[arg(long, value_delimiter = ',', requires = "digest_file")]
    pub digest_file_images: Option<Vec<String>>,
    /// Print what would be built and pushed (after asking the registry) and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// How blobs are uploaded.
    #[arg(long, value_enum, default_value = "auto")]
    pub upload_mode: UploadModeArg,
    /// Push through the Docker daemon (`docker push`) instead of Slipway's client.
    #[arg(long)]
    pub push_with_daemon: bool,
    /// How layers are compressed (zstd needs containerd ≥ 1.5 or Docker ≥ 23 to pull).
    #[arg(long, value_enum, default_value = "gzip")]
    pub layer_compression: LayerCompressionArg,
    /// Write werf 1.1's Helm service values (`global.werf.image…`) for a chart to this file
    /// (docs/helm.md).
    #[arg(long, value_name = "FILE")]
    pub helm_values: Option<PathBuf>,
    /// Kubernetes namespace for --helm-values' `global.namespace` [default: werf.yaml's
    /// `deploy.namespace`, else `[[ project ]]-[[ env ]]`].
    #[arg(long)]
    pub namespace: Option<String>,
    /// Attach SLSA provenance to each image pushed, as an OCI referrer (docs/provenance.md).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub provenance: bool,
}

impl PublishArgs {
    /// The flags as the library's plain request.
    fn request(self, build: bool) -> PublishRequest {
        PublishRequest {
            build,
            images: self.images,
            tags: self.tags.options(),
            build_flags: self.build.parsed(),
            cache_from: self.build.cache_from,
            dry_run: self.dry_run,
            report_path: self.report_path,
            report_format: self.report_format.into(),
            werf_report_path: self.publish_report_path,
            digest_file: self.digest_file,
            digest_file_append: self.digest_file_append,
            digest_file_images: self.digest_file_images,
            upload_mode: self.upload_mode.into(),
            push_with_daemon: self.push_with_daemon,
            layer_compression: self.layer_compression.into(),
            provenance: self.provenance,
            helm_values: self.helm_values,
            namespace: self.namespace,
            on_event: printer(output::json(), self.build.log_mode.as_str()),
            on_push: Some(super::progress::pushes(self.build.log_mode.as_str())),
        }
    }
}

pub async fn run(run: &Run, args: PublishArgs, build: bool) -> anyhow::Result<ExitCode> {
    if !args.build.introspect_stage.is_empty() {
        tracing::warn!(
            "--introspect-stage has no effect in publish; use `slipway build --introspect-stage IMAGE/STAGE`"
        );
    }
    let opts = PublishOptions::new(&run.settings, args.request(build))?;
    match publish(run, opts).await? {
        Outcome::Planned(plan) => print_plan(&plan, build),
        Outcome::Published(report) => {
            output::table(&summary(&report));
            for i in &report.images {
                for r in &i.references {
                    output::out(&format!("{r}@{}\n", i.digest));
                }
            }
            output::result(&report)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `--dry-run`'s plan; it fails when `publish` would: an image to push is not built
/// locally (`publish` pushes what the daemon holds).
fn print_plan(plan: &Plan, build: bool) -> anyhow::Result<ExitCode> {
    output::out(&format!(
        "dry run: nothing is built, pushed or tagged\n{plan}"
    ));
    let unbuilt = if build { Vec::new() } else { plan.unbuilt() };
    if !unbuilt.is_empty() {
        let message = format!(
            "would fail: {} {} not built (run `slipway build` first)",
            unbuilt.join(", "),
            if unbuilt.len() == 1 { "is" } else { "are" }
        );
        if output::json() {
            output::failed(plan, &message)?;
        } else {
            eprintln!("{message}");
        }
        return Ok(ExitCode::FAILURE);
    }
    output::result(plan)?;
    Ok(ExitCode::SUCCESS)
}

/// One row per image: what happened and the digest.
fn summary(report: &crate::publish::report::Report) -> String {
    let mut s = format!("{:<20} {:<12} {:<24} DIGEST\n", "IMAGE", "BUILD", "PUSH");
    for i in &report.images {
        let b = match i.build {
            BuildOutcome::Built => "built",
            BuildOutcome::Skipped => "not rebuilt",
        };
        let p = match i.push {
            PushOutcome::Pushed => "pushed",
            PushOutcome::AlreadyPresent => "already in registry",
            PushOutcome::Tagged => "tagged",
        };
        s.push_str(&format!(
            "{:<20} {:<12} {:<24} {}\n",
            crate::naming::name::ImageName::from(i.name.as_deref()),
            b,
            p,
            i.digest
        ));
    }
    s
}
