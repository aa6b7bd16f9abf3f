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
    let dry_run = args.dry_run;
    let plans = promote::plans(run.client(), &args.request()?).await?;
    if dry_run {
        output::out("dry run: nothing is copied, tagged or deleted\n");
        for p in &plans {
            output::out(&p.to_string());
        }
        output::result(serde_json::json!({ "plans": plans }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let done = execute(run, &plans).await?;
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

impl PromoteArgs {
    /// What the flags ask: one image, or every image of a report.
    fn request(self) -> anyhow::Result<promote::Request> {
        let images = match (self.from_report, self.source, self.destination) {
            (Some(path), _, _) => promote::Images::FromReport {
                path,
                to: self.to.unwrap_or_default(),
            },
            (None, Some(source), Some(destination)) => promote::Images::One {
                source,
                destination,
            },
            _ => anyhow::bail!("give SRC and DST, or --from-report FILE --to REPO"),
        };
        Ok(promote::Request {
            images,
            tags: self.tags,
            move_source: self.move_source,
            platform: self.platform,
            provenance: self.provenance,
        })
    }
}

/// Carry the plans out in order, each with its progress events.
async fn execute(
    run: &Run,
    plans: &[promote::Plan],
) -> anyhow::Result<Vec<(String, promote::Promoted)>> {
    let work = tempfile::tempdir()?;
    let opts = PushOptions {
        on_progress: Some(super::progress::pushes("auto")),
        work_dir: work.path().to_path_buf(),
        ..PushOptions::default()
    };
    let mut done = Vec::new();
    for p in plans {
        let source = serde_json::json!({"source": p.source()});
        output::event("progress", "promote-start", source);
        let r = promote::execute(run.client(), p, &opts).await?;
        output::event(
            "progress",
            "promoted",
            serde_json::json!({"source": p.source(), "destination": r.destination, "digest": r.digest}),
        );
        done.push((p.source().to_string(), r));
    }
    Ok(done)
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
