//! `slipway promote SRC DST [--tag T...] [--move]` and `--from-report FILE --to REPO`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::output;
use crate::project::Run;
use crate::promote;
use crate::transfer::push::PushOptions;

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// Source reference, e.g. registry/app:staging (or registry/app@sha256:…).
    #[arg(required_unless_present = "from_report")]
    pub source: Option<String>,
    /// Destination reference or repository.
    #[arg(required_unless_present = "from_report")]
    pub destination: Option<String>,
    /// Extra destination tag (repeatable).
    #[arg(long = "tag", value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Delete the source tag once the destination digest is verified.
    #[arg(long = "move")]
    pub move_source: bool,
    /// Promote every image of a publish report (--report-path of build-and-publish).
    #[arg(long, requires = "to", conflicts_with_all = ["source", "destination"])]
    pub from_report: Option<PathBuf>,
    /// Destination repository for --from-report (images go to TO/<name>).
    #[arg(long)]
    pub to: Option<String>,
    /// Copy this platform's manifest of a multi-platform image alone (OS/ARCH[/VARIANT]),
    /// not its whole index.
    #[arg(long, value_parser = crate::platform::normalize)]
    pub platform: Option<String>,
    /// Print the plan and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Copy the image's referrers (its SLSA provenance) too; `--provenance=false`: the
    /// image alone.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub provenance: bool,
}

pub async fn run(run: &Run, args: PromoteArgs) -> anyhow::Result<ExitCode> {
    let images = match (args.from_report, args.source, args.destination) {
        (Some(path), _, _) => promote::Images::FromReport {
            path,
            to: args.to.unwrap_or_default(),
        },
        (None, Some(source), Some(destination)) => promote::Images::One {
            source,
            destination,
        },
        _ => anyhow::bail!("give SRC and DST, or --from-report FILE --to REPO"),
    };
    let request = promote::Request {
        images,
        tags: args.tags,
        move_source: args.move_source,
        platform: args.platform,
        provenance: args.provenance,
    };
    let client = run.client();
    let plans = promote::plans(client, &request).await?;
    if args.dry_run {
        output::out("dry run: nothing is copied, tagged or deleted\n");
        for p in &plans {
            output::out(&p.to_string());
        }
        output::result(serde_json::json!({ "plans": plans }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let work = tempfile::tempdir()?;
    let opts = PushOptions {
        on_progress: Some(super::progress::pushes("auto")),
        work_dir: work.path().to_path_buf(),
        ..PushOptions::default()
    };
    let mut done = Vec::new();
    for p in &plans {
        output::event(
            "progress",
            "promote-start",
            serde_json::json!({"source": p.source()}),
        );
        let r = promote::execute(client, p, &opts).await?;
        output::event(
            "progress",
            "promoted",
            serde_json::json!({"source": p.source(), "destination": r.destination, "digest": r.digest}),
        );
        done.push((p.source().to_string(), r));
    }
    output::table(&summary(&done));
    for (_, r) in &done {
        for t in &r.tags {
            output::out(&format!("{}:{t}@{}\n", r.destination, r.digest));
        }
    }
    let promoted: Vec<_> = done.iter().map(|(_, r)| r).collect();
    output::result(serde_json::json!({ "promoted": promoted }))?;
    Ok(ExitCode::SUCCESS)
}

/// One row per promotion.
fn summary(done: &[(String, promote::Promoted)]) -> String {
    let mut s = format!(
        "{:<40} {:<40} {:>7} {:>7} {:>12}  SOURCE TAG\n",
        "SOURCE", "DESTINATION", "MOUNTED", "COPIED", "BYTES"
    );
    for (source, r) in done {
        s.push_str(&format!(
            "{:<40} {:<40} {:>7} {:>7} {:>12}  {}\n",
            source,
            r.destination,
            r.blobs_mounted,
            r.blobs_copied,
            r.bytes_copied,
            if r.source_deleted { "deleted" } else { "kept" }
        ));
    }
    s
}
