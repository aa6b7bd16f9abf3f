//! What `publish` and `build-and-publish` ask for, as the command line gave it
//! ([`PublishRequest`], plain values), and its resolution against the run's settings into
//! [`PublishOptions`] (issue 29: the handler parses and prints, the library assembles).

use std::path::PathBuf;
use std::sync::Arc;

use super::helm::HelmValuesOptions;
use super::report::ReportFormat;
use super::{PublishError, PublishOptions, push};
use crate::build::{Event, ParsedBuildFlags};
use crate::naming::TagOptions;
use crate::registry::UploadMode;
use crate::registry::compress::Codec;
use crate::settings::Settings;

/// The flags of `publish` / `build-and-publish`.
pub struct PublishRequest {
    /// Build what is missing first (`build-and-publish`).
    pub build: bool,
    pub images: Vec<String>,
    /// The tag flags (werf's `WERF_TAG_CUSTOM_*` variables are added on resolving).
    pub tags: TagOptions,
    pub build_flags: ParsedBuildFlags,
    /// `--cache-from` values: tag names in the images repo, slugged on resolving.
    pub cache_from: Vec<String>,
    pub dry_run: bool,
    /// `--report-path` and `--report-format`.
    pub report_path: Option<PathBuf>,
    pub report_format: ReportFormat,
    /// `--publish-report-path`: werf 1.1's report.
    pub werf_report_path: Option<PathBuf>,
    pub digest_file: Option<PathBuf>,
    pub digest_file_append: bool,
    pub digest_file_images: Option<Vec<String>>,
    pub upload_mode: UploadMode,
    pub push_with_daemon: bool,
    pub layer_compression: Codec,
    pub provenance: bool,
    /// `--helm-values FILE` and `--namespace`.
    pub helm_values: Option<PathBuf>,
    pub namespace: Option<String>,
    pub on_event: Arc<dyn Fn(&Event) + Send + Sync>,
    pub on_push: Option<push::OnProgress>,
}

impl PublishOptions {
    /// The request resolved against the settings: `--parallel` and `--buildkit`, werf's tag
    /// variables added, `--env` for
    /// the Helm values, `--cache-from` slugged, and the report split by format (Slipway's
    /// JSON is written with the digest file and kept out of build contexts; the other
    /// formats are written last).
    pub fn new(settings: &Settings, r: PublishRequest) -> Result<PublishOptions, PublishError> {
        let mut other_reports = Vec::new();
        let report_path = match r.report_path {
            Some(p) if r.report_format != ReportFormat::Json => {
                other_reports.push((p, r.report_format));
                None
            }
            p => p,
        };
        if let Some(p) = r.werf_report_path {
            other_reports.push((p, ReportFormat::Werf11));
        }
        let build_settings = r.build_flags.resolve(settings.docker_buildkit.as_deref())?;
        Ok(PublishOptions {
            build: r.build,
            images: r.images,
            tags: r.tags.with_custom_env(&settings.tag_custom_env),
            dry_run: r.dry_run,
            report_path,
            other_reports,
            digest_file: r.digest_file,
            digest_file_append: r.digest_file_append,
            digest_file_images: r.digest_file_images,
            build_settings,
            upload_mode: r.upload_mode,
            push_with_daemon: r.push_with_daemon,
            layer_compression: r.layer_compression,
            provenance: r.provenance,
            helm_values: r.helm_values.map(|path| HelmValuesOptions {
                path,
                namespace: r.namespace,
                env: settings.env.clone(),
            }),
            cache_from: crate::naming::cache_tags(&r.cache_from),
            on_event: r.on_event,
            on_push: r.on_push,
        })
    }
}
