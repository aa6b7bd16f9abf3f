//! Publish: plan what the registry lacks, build it, push it through the one push path,
//! report digests. [`publish`] runs the phases in order: `prepare` (config, signatures,
//! registries checked), [`plan`] (what each registry lacks; `--dry-run` stops there),
//! `realize` (copy from the stages storage, build, push through `pusher`) and [`report`].

pub mod helm;
mod options;
pub mod plan;
mod prepare;
mod provenance;
mod pusher;
mod realize;
pub mod report;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::build::{self, Event};
use crate::config::ConfigErrors;
use crate::naming::{NamingError, TagOptions};
use crate::registry::UploadMode;
use crate::registry::{Client, RegistryError, Repository, image};
use crate::signature::SignatureError;
use crate::transfer::from_daemon::FromDaemonError;
use crate::transfer::push::{self, PushError};
use plan::{Plan, RemoteLookup, RemoteTag};
use report::{Report, ReportError};

pub use options::PublishRequest;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    #[error(transparent)]
    Naming(#[from] NamingError),
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Build(#[from] build::BuildError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Push(#[from] PushError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    HelmValues(#[from] helm::HelmValuesError),
    #[error(transparent)]
    StagesStorage(#[from] crate::stapel::storage::StorageError),
    #[error(transparent)]
    Stapel(#[from] crate::stapel::StapelError),
    /// What the project reports that publish has no variant of its own for.
    #[error(transparent)]
    Project(crate::project::ProjectError),
    #[error("writing commit records (what cleanup keeps images by): {0}")]
    Records(crate::records::RecordsError),
    #[error("{cause}{from}")]
    Unusable {
        cause: RegistryError,
        /// ` (the registry of --images-repo REPO)` when the host came from it, then
        /// `; checked before building: nothing was built or pushed`, then what to check
        /// for a refused connection or a name that does not resolve (one field: the error
        /// stays small).
        from: String,
    },
    #[error("--images-repo is required to publish (or SLIPWAY_IMAGES_REPO / WERF_IMAGES_REPO)")]
    NoRepo,
    #[error(
        "image {0} is not built locally with its current content; run `slipway build` first, or use `slipway build-and-publish`"
    )]
    NotBuilt(String),
    #[error("exporting image {image} from the daemon: {cause}")]
    Export { image: String, cause: String },
    #[error("pushing image {image} with the daemon (--push-with-daemon): {cause}")]
    DaemonPush { image: String, cause: String },
    #[error("reading the exported image {image}: {cause}")]
    Archive { image: String, cause: String },
}

impl From<crate::project::ProjectError> for PublishError {
    /// The project's errors as publish named them before it opened a `Project`.
    fn from(e: crate::project::ProjectError) -> Self {
        use crate::project::ProjectError as P;
        match e {
            P::Config(e) => PublishError::Config(e),
            P::Build(e) => PublishError::Build(e),
            P::Stapel(e) => PublishError::Stapel(e),
            P::Signature(e) => PublishError::Signature(e),
            P::Naming(e) => PublishError::Naming(e),
            P::StagesStorage(e) => PublishError::StagesStorage(e),
            e @ P::CacheFromNeedsRepo => PublishError::Project(e),
        }
    }
}

impl From<FromDaemonError> for PublishError {
    /// The same variants as before the push moved to `transfer`: the race convergence in
    /// [`Pusher::push`] matches on `PublishError::Push`.
    fn from(e: FromDaemonError) -> Self {
        match e {
            FromDaemonError::Push(e) => PublishError::Push(e),
            FromDaemonError::Export { image, cause } => PublishError::Export { image, cause },
            FromDaemonError::Archive { image, cause } => PublishError::Archive { image, cause },
        }
    }
}

/// Everything `publish` / `build-and-publish` takes besides settings.
pub struct PublishOptions {
    pub build: bool,
    pub images: Vec<String>,
    pub tags: TagOptions,
    pub dry_run: bool,
    /// Slipway's JSON report (`--report-path` in the default format).
    pub report_path: Option<PathBuf>,
    /// Reports in other formats (`--report-path` with `--report-format`,
    /// `--publish-report-path`), written after the commit record, in this order.
    pub other_reports: Vec<(PathBuf, report::ReportFormat)>,
    pub digest_file: Option<PathBuf>,
    /// Append to the digest file instead of replacing it.
    pub digest_file_append: bool,
    /// `--digest-file-images`: the images the digest file names (default: all, up to 15).
    pub digest_file_images: Option<Vec<String>>,
    /// What the build flags say (build-and-publish builds with them).
    pub build_settings: crate::build::BuildSettings,
    pub upload_mode: UploadMode,
    /// Push through the daemon (`docker push`) instead of Slipway's client: a fallback
    /// for registries the client cannot serve.
    pub push_with_daemon: bool,
    /// How layers are compressed.
    pub layer_compression: crate::registry::compress::Codec,
    /// Attach SLSA provenance to each image pushed (`--provenance`).
    pub provenance: bool,
    /// `--helm-values FILE`: werf 1.1's service values for a chart.
    pub helm_values: Option<helm::HelmValuesOptions>,
    /// Tags in each image's repository whose inline cache BuildKit may reuse.
    pub cache_from: Vec<String>,
    pub on_event: Arc<dyn Fn(&Event) + Send + Sync>,
    /// Layer-by-layer progress of each push.
    pub on_push: Option<push::OnProgress>,
}

/// What a run did: the plan only (dry run) or the report.
pub enum Outcome {
    Planned(Plan),
    Published(Report),
}

/// Reads tags through the registry client: digest by HEAD, signature from the config label.
pub struct ClientLookup<'a> {
    pub client: &'a Client,
    pub repos: BTreeMap<String, Repository>,
}

impl RemoteLookup for ClientLookup<'_> {
    type Error = RegistryError;
    async fn lookup(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<RemoteTag>, RegistryError> {
        let Some(repo) = self.repos.get(repository) else {
            return Ok(None);
        };
        let Some((info, config)) = self.client.image_config(repo, tag).await? else {
            return Ok(None);
        };
        let signature = match config.as_ref() {
            Some(c) => image::label(c, crate::labels::SIGNATURE).map(str::to_string),
            // An index has no config: a multi-platform image's names its signature.
            None => self
                .client
                .get_manifest(repo, &info.digest)
                .await?
                .and_then(|(body, _)| crate::transfer::index::signature(&body)),
        };
        Ok(Some(RemoteTag {
            digest: info.digest,
            signature,
        }))
    }
}

/// Publish in four phases: prepare (config, signatures, registries checked), plan (what
/// each registry lacks; `--dry-run` stops here), realize (copy, build, push) and report.
pub async fn publish(
    run: &crate::project::Run,
    opts: PublishOptions,
) -> Result<Outcome, PublishError> {
    let client = run.client();
    let prepared = prepare::prepare(run, &opts).await?;
    if let Some(h) = &opts.helm_values {
        // The namespace is checked before anything is built or pushed.
        let deploy = prepared.cfg.extra.get("deploy");
        helm::namespace(
            h.namespace.as_deref(),
            h.env.as_deref(),
            &prepared.cfg.project,
            deploy,
        )?;
    }
    let (wanted, repos) = prepared.wanted()?;
    let lookup = ClientLookup {
        client,
        repos: repos.clone(),
    };
    let mut plan = Plan::compute(wanted, &lookup, 8).await?;
    if opts.dry_run {
        plan::blob_plans(
            &prepared.cfg.project,
            client,
            &repos,
            opts.layer_compression,
            &prepared.host_env,
            prepared.daemon(),
            &mut plan,
        )
        .await?;
        return Ok(Outcome::Planned(plan));
    }
    let started = chrono::Utc::now();
    let mut done = realize::realize(&prepared, &plan, &repos, client, &opts).await?;
    if opts.provenance {
        done.provenance =
            provenance::attach_all(&prepared, &plan, &repos, client, &done, started).await?;
    }
    report::publish_report(&prepared, &plan, client, &repos, &done, &opts).await
}
