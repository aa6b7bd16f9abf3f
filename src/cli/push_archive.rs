//! `slipway push-archive FILE... REF`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::output;
use crate::project::Run;
use crate::push_archive as archive;
use crate::registry::UploadMode;
use crate::transfer::push::PushOptions;

// clap cannot name a list's last value apart (it printed `<FILE... REF> <FILE... REF>...`).
#[derive(Debug, Args)]
#[command(override_usage = "slipway push-archive [OPTIONS] <FILE>... <REF>")]
pub struct PushArchiveArgs {
    /// Files, then the target: docker-save or OCI tarball(s) or OCI layout directories, then
    /// the reference (with several files: a repository; each file goes to REPO/<file name>).
    #[arg(required = true, num_args = 2.., value_name = "FILE|REF")]
    pub args: Vec<String>,
    /// Extra tag (repeatable).
    #[arg(long = "tag", value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Which image of a multi-image archive (a RepoTag or OCI ref name).
    #[arg(long)]
    pub image: Option<String>,
    /// Append DIGEST=sha256:... to this dotenv file.
    #[arg(long)]
    pub digest_file: Option<PathBuf>,
    /// How blobs are uploaded.
    #[arg(long, value_enum, default_value = "auto")]
    pub upload_mode: super::publish::UploadModeArg,
    /// Upload blobs in parallel: bare or true (4 at once, the default), false (one at a
    /// time), or a number.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = super::build::parse_parallel)]
    pub parallel: Option<crate::build::Parallel>,
    /// How layers are compressed (zstd needs containerd ≥ 1.5 or Docker ≥ 23 to pull;
    /// layers the archive holds compressed are pushed as they are).
    #[arg(long, value_enum, default_value = "gzip")]
    pub layer_compression: super::publish::LayerCompressionArg,
    /// Print what would be pushed and stop.
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn run(run: &Run, args: PushArchiveArgs) -> anyhow::Result<ExitCode> {
    let upload_mode: UploadMode = args.upload_mode.into();
    let (files, reference) = args.args.split_at(args.args.len() - 1);
    let files: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
    for f in &files {
        anyhow::ensure!(f.exists(), "{}: no such file or directory", f.display());
    }
    let jobs = archive::plan(&files, &reference[0], &args.tags)?;
    let client = run.client();
    let opts = PushOptions {
        on_progress: Some(super::progress::pushes("auto")),
        upload_mode,
        concurrency: crate::build::Parallel::resolve(args.parallel, None, 4),
        compression: args.layer_compression.into(),
        ..PushOptions::for_host(&run.settings.host_env)
    };
    if args.dry_run {
        // What each blob needs, asked of the registry; nothing is written.
        let plans = archive::plan_all(client, &jobs, args.image.as_deref(), &opts).await?;
        output::out("dry run: nothing is pushed\n");
        for p in &plans {
            output::out(&p.to_string());
        }
        output::result(serde_json::json!({ "jobs": jobs, "plans": plans }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let pushed = archive::push(client, &jobs, args.image.as_deref(), &opts).await?;
    if let Some(path) = &args.digest_file {
        archive::append_digests(path, &pushed)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    output::table(&summary(&pushed));
    for p in &pushed {
        output::out(&format!("{}@{}\n", p.repository, p.report.digest));
    }
    output::result(serde_json::json!({ "pushed": pushed }))?;
    Ok(ExitCode::SUCCESS)
}

/// One row per archive, with its tags.
fn summary(pushed: &[archive::Pushed]) -> String {
    let mut s = format!(
        "{:<24} {:<40} {:>8} {:>12} {:>7} {:>7}\n",
        "FILE", "REPOSITORY", "UPLOADED", "BYTES", "PRESENT", "MOUNTED"
    );
    for p in pushed {
        s.push_str(&format!(
            "{:<24} {:<40} {:>8} {:>12} {:>7} {:>7}\n",
            p.file.display(),
            p.repository,
            p.report.blobs_uploaded,
            p.report.bytes_uploaded,
            p.report.blobs_present,
            p.report.blobs_mounted
        ));
        s.push_str(&format!("{:<24} tags {}\n", "", p.tags.join(", ")));
    }
    s
}
