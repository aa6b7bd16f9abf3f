//! `slipway managed-images ls|add|rm` (werf 1.1's command): the images cleanup looks after
//! besides werf.yaml's. `ls` shows werf 1.1's `managed-image-*` records (in the stages
//! storage of `-s`) and Slipway's list (the image names of its records in the images repo);
//! `add` and `rm` change Slipway's list, and `rm` also deletes werf's record.

use std::process::ExitCode;

use clap::Subcommand;

use super::output;
use crate::cleanup::run::{WerfSource, read_werf};
use crate::naming::Naming;
use crate::naming::name::{ImageName, NAMELESS};
use crate::project::{Project, Run};
use crate::records::{self, werf};

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

fn image(name: &str) -> Option<String> {
    (name != NAMELESS).then(|| name.to_string())
}

/// The project's name, for werf's records in the local daemon. werf 1.1 reads werf.yaml
/// here only if it loads (`GetOptionalWerfConfig`): without it the name is empty.
fn project_name(run: &Run) -> String {
    Project::open(run)
        .map(|p| p.config.project)
        .unwrap_or_default()
}

pub async fn run(run: &Run, cmd: ManagedImagesCommand) -> anyhow::Result<ExitCode> {
    let client = run.client();
    let naming = run.naming()?;
    let source = WerfSource::from_stages_storage(run.settings.stages_storage.as_deref());
    if naming.is_none() && matches!(source, WerfSource::NotGiven) {
        anyhow::bail!(
            "managed-images needs --images-repo (Slipway's list) or -s/--stages-storage (werf 1.1's records)"
        );
    }
    match cmd {
        ManagedImagesCommand::Ls => ls(run, naming.as_ref(), &source).await,
        ManagedImagesCommand::Add { name, dry_run } => {
            let naming =
                naming.ok_or_else(|| anyhow::anyhow!("managed-images add needs --images-repo"))?;
            let image = image(&name);
            let (repo, tag) = records::name_record(&naming, image.as_deref())?;
            let plan = format!("add {name}: record {repo}:{tag}");
            if dry_run {
                output::out(&format!("dry run: nothing is changed\n{plan}\n"));
                return Ok(ExitCode::SUCCESS);
            }
            let added = records::add_image_name(client, &naming, image.as_deref()).await?;
            output::note(&if added {
                plan
            } else {
                format!("{name} is already managed")
            });
            output::result(serde_json::json!({ "name": name, "added": added }))?;
            Ok(ExitCode::SUCCESS)
        }
        ManagedImagesCommand::Rm { name, dry_run } => {
            rm(run, naming.as_ref(), &source, &name, dry_run).await
        }
    }
}

async fn ls(run: &Run, naming: Option<&Naming>, source: &WerfSource) -> anyhow::Result<ExitCode> {
    let client = run.client();
    // name → (in werf's records, in Slipway's list)
    let mut names: std::collections::BTreeMap<String, (bool, bool)> = Default::default();
    if !matches!(source, WerfSource::NotGiven) {
        let daemon = run.daemon_connection();
        match read_werf(source, &project_name(run), client, daemon).await? {
            Ok(w) => {
                for n in w.managed_names() {
                    names
                        .entry(ImageName::from(n.as_deref()).to_string())
                        .or_default()
                        .0 = true;
                }
            }
            Err(why) => output::note(&why.to_string()),
        }
    }
    if let Some(naming) = naming {
        for n in records::image_names(&records::read(client, naming).await?) {
            names
                .entry(ImageName::from(n.as_deref()).to_string())
                .or_default()
                .1 = true;
        }
    }
    let mut text = String::new();
    for n in names.keys() {
        text.push_str(n);
        text.push('\n');
    }
    output::out(&text);
    let list: Vec<_> = names
        .iter()
        .map(|(n, (w, s))| serde_json::json!({ "name": n, "werf": w, "slipway": s }))
        .collect();
    output::result(serde_json::json!({ "images": list }))?;
    Ok(ExitCode::SUCCESS)
}

async fn rm(
    run: &Run,
    naming: Option<&Naming>,
    source: &WerfSource,
    name: &str,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let client = run.client();
    // Read once, only for werf's records in the local daemon.
    let project = match source {
        WerfSource::Local => project_name(run),
        _ => String::new(),
    };
    let image = image(name);
    let mut plan = Vec::new();
    if let Some(n) = naming {
        let (repo, tag) = records::name_record(n, image.as_deref())?;
        plan.push(format!("delete {repo}:{tag} (Slipway's list)"));
    }
    let werf_tag = format!(
        "{}{}",
        werf::MANAGED_PREFIX,
        werf::slug_image(image.as_deref())
    );
    match source {
        WerfSource::Repo(r) => plan.push(format!("delete {r}:{werf_tag} (werf 1.1's record)")),
        WerfSource::Local => plan.push(format!(
            "delete werf-managed-images/{}:{} in the local daemon (werf 1.1's record)",
            project,
            werf::slug_image(image.as_deref())
        )),
        WerfSource::NotGiven => {}
    }
    if dry_run {
        output::out(&format!(
            "dry run: nothing is changed\n{}\n",
            plan.join("\n")
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let mut removed = false;
    if let Some(n) = naming {
        removed |= records::remove_image_name(client, n, image.as_deref()).await?;
    }
    match source {
        WerfSource::Repo(r) => removed |= werf::remove_managed(client, r, image.as_deref()).await?,
        WerfSource::Local => {
            let docker = run.daemon().await?;
            removed |= werf::remove_managed_local(docker, &project, image.as_deref()).await?;
        }
        WerfSource::NotGiven => {}
    }
    output::note(&if removed {
        plan.join("\n")
    } else {
        format!("{name} was not managed")
    });
    output::result(serde_json::json!({ "name": name, "removed": removed }))?;
    Ok(ExitCode::SUCCESS)
}
