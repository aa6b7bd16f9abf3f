//! `slipway managed-images ls|add|rm` (werf 1.1's command; the lists and plans are
//! `cleanup::managed`'s).

use std::process::ExitCode;

use clap::Subcommand;

use super::output;
use crate::cleanup::managed::{self, Lists};
use crate::cleanup::run::WerfSource;
use crate::project::{Project, Run};

#[derive(Debug, Subcommand)]
pub enum ManagedImagesCommand {
    /// List the managed images: werf 1.1's records (-s) and Slipway's list (-i).
    Ls,
    /// Add an image to Slipway's list.
    Add {
        /// Image name (`~`: the nameless image).
        name: String,
        /// Print what would change and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove an image from Slipway's list and delete werf 1.1's record of it.
    Rm {
        /// Image name (`~`: the nameless image).
        name: String,
        /// Print what would change and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// The project's name, for werf's records in the local daemon. werf 1.1 reads werf.yaml
/// here only if it loads (`GetOptionalWerfConfig`): without it the name is empty.
fn project_name(run: &Run) -> String {
    Project::open(run)
        .map(|p| p.config.project)
        .unwrap_or_default()
}

pub async fn run(run: &Run, cmd: ManagedImagesCommand) -> anyhow::Result<ExitCode> {
    let naming = run.naming()?;
    let source = WerfSource::from_stages_storage(run.settings.stages_storage.as_deref());
    // Read only for werf's records in the local daemon.
    let project = match source {
        WerfSource::Local => project_name(run),
        _ => String::new(),
    };
    let (client, daemon) = (run.client(), run.daemon_connection());
    let lists = Lists::new(client, naming.as_ref(), &source, &project, daemon)?;
    let (plan, dry_run) = match cmd {
        ManagedImagesCommand::Ls => return ls(&lists).await,
        ManagedImagesCommand::Add { name, dry_run } => (managed::plan_add(&lists, &name)?, dry_run),
        ManagedImagesCommand::Rm { name, dry_run } => (managed::plan_rm(&lists, &name)?, dry_run),
    };
    if dry_run {
        output::out(&format!("dry run: nothing is changed\n{plan}\n"));
        return Ok(ExitCode::SUCCESS);
    }
    let changed = managed::apply(&lists, &plan).await?;
    let name = &plan.name;
    output::note(&match (changed, plan.add) {
        (true, _) => plan.to_string(),
        (false, true) => format!("{name} is already managed"),
        (false, false) => format!("{name} was not managed"),
    });
    let key = if plan.add { "added" } else { "removed" };
    output::result(serde_json::json!({ "name": name, key: changed }))?;
    Ok(ExitCode::SUCCESS)
}

async fn ls(lists: &Lists<'_>) -> anyhow::Result<ExitCode> {
    let listing = managed::list(lists).await?;
    if let Some(why) = &listing.werf_not_read {
        output::note(&why.to_string());
    }
    let mut text = String::new();
    for n in listing.names.keys() {
        text.push_str(n);
        text.push('\n');
    }
    output::out(&text);
    let list: Vec<_> = listing
        .names
        .iter()
        .map(|(n, (w, s))| serde_json::json!({ "name": n, "werf": w, "slipway": s }))
        .collect();
    output::result(serde_json::json!({ "images": list }))?;
    Ok(ExitCode::SUCCESS)
}
