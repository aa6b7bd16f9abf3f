//! `slipway host cleanup|purge` (werf's `host cleanup|purge`): the runner's Slipway
//! containers, images, remote tags and scratch files (`host_cleanup`). Hidden from `-h`;
//! docs/werf.md.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::output;
use crate::daemon::docker::DockerDaemon;
use crate::host_cleanup::{self, Policy, run};
use crate::project::Run;

#[derive(Debug, Subcommand)]
pub enum HostGroup {
    /// Remove stopped Slipway containers, dangling Slipway images, local tags of remote
    /// references and old scratch files; over the allowed docker storage usage, the least
    /// recently built Slipway images too (never one a container uses).
    Cleanup(HostCleanupArgs),
    /// Remove every Slipway image, stopped Slipway container, scratch file and the cache.
    Purge(HostPurgeArgs),
}

#[derive(Debug, Args)]
pub struct HostCleanupArgs {
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Percent of the docker storage filesystem above which Slipway images are deleted.
    #[arg(long, default_value = "70", value_parser = percent)]
    pub allowed_docker_storage_volume_usage: f64,
    /// Cleanup goes down to the allowed usage minus this many percent.
    #[arg(long, default_value = "5", value_parser = percent)]
    pub allowed_docker_storage_volume_usage_margin: f64,
    /// The daemon's storage as mounted here [default: the daemon's data root].
    #[arg(long, value_name = "PATH")]
    pub docker_server_storage_path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HostPurgeArgs {
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also remove containers that use Slipway images, running ones too (werf's meaning).
    #[arg(long)]
    pub force: bool,
    /// Do not ask on a terminal (off a terminal nobody is asked).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

fn percent(s: &str) -> anyhow::Result<f64> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => anyhow::bail!("{s:?}: a percentage from 0 to 100"),
    }
}

pub fn name(g: &HostGroup) -> &'static str {
    match g {
        HostGroup::Cleanup(_) => "host cleanup",
        HostGroup::Purge(_) => "host purge",
    }
}

pub async fn run(run: &Run, g: HostGroup) -> anyhow::Result<ExitCode> {
    let env = run.daemon_connection().env().clone();
    let daemon = DockerDaemon::new(run.daemon().await?.clone());
    let paths = run.settings.paths();
    let (plan, dry_run) = match &g {
        HostGroup::Cleanup(a) => {
            let policy = Policy {
                allowed_usage: a.allowed_docker_storage_volume_usage,
                margin: a.allowed_docker_storage_volume_usage_margin,
                ..Policy::default()
            };
            let storage = a.docker_server_storage_path.as_deref();
            let plan = run::cleanup_plan(&daemon, &env, storage, policy, &paths).await?;
            (plan, a.dry_run)
        }
        HostGroup::Purge(a) => (run::purge_plan(&daemon, &paths, a.force).await?, a.dry_run),
    };
    if dry_run {
        output::out("dry run: nothing is removed\n");
    }
    output::out(&plan.to_string());
    if dry_run {
        output::result(serde_json::json!({ "plan": plan, "dry_run": true }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if let HostGroup::Purge(a) = &g
        && !a.yes
        && !confirm(&plan)?
    {
        output::note("nothing removed");
        output::result(serde_json::json!({ "plan": plan, "confirmed": false }))?;
        return Ok(ExitCode::from(1));
    }
    let applied = run::apply(&daemon, &plan).await;
    print_applied(&plan, &applied)
}

/// What was removed; a failed removal fails the command.
fn print_applied(
    plan: &host_cleanup::HostPlan,
    applied: &run::Applied,
) -> anyhow::Result<ExitCode> {
    output::note(&format!(
        "removed {} container(s), {} image(s) ({} bytes), {} tag(s), {} file(s)",
        applied.containers, applied.images, applied.bytes, applied.untagged, applied.files
    ));
    let result = serde_json::json!({ "plan": plan, "removed": applied });
    if !applied.failures.is_empty() {
        let mut text = format!("{} removal(s) failed:", applied.failures.len());
        for f in &applied.failures {
            text.push_str(&format!("\n  {f}"));
        }
        output::note(&text);
        output::failed(
            result,
            &format!("{} removal(s) failed", applied.failures.len()),
        )?;
        return Ok(ExitCode::from(1));
    }
    output::result(result)?;
    Ok(ExitCode::SUCCESS)
}

/// On a terminal, ask; off one (CI), purge goes ahead as werf's does.
fn confirm(plan: &host_cleanup::HostPlan) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Ok(true);
    }
    eprint!(
        "Remove {} container(s), {} image(s) and {} file(s) above? [y/N] ",
        plan.containers.len(),
        plan.images.len(),
        plan.files.len()
    );
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
