//! werf 1.1's command groups: `images publish|cleanup|purge`, `stages build|cleanup|purge`,
//! `host cleanup|purge` and `stage image`, so a `.gitlab-ci.yml` written for werf runs
//! unchanged (docs/werf.md). Each is Slipway's command of the same work; hidden from help.
//! Under `images` a werf subcommand name wins over an image name: `slipway images -- publish`
//! lists an image literally so named.

use std::process::ExitCode;

use clap::Subcommand;

use crate::project::Run;
use crate::settings::Secret;

/// `slipway images SUBCOMMAND` (werf 1.1's `werf images …`).
#[derive(Debug, Subcommand)]
pub enum ImagesGroup {
    /// werf's `images publish`: Slipway's `publish`.
    #[command(hide = true)]
    Publish(super::publish::PublishArgs),
    /// werf's `images cleanup`: Slipway's `cleanup`.
    #[command(hide = true)]
    Cleanup(super::cleanup::CleanupArgs),
    /// werf's `images purge`: Slipway's `purge`.
    #[command(hide = true)]
    Purge(super::cleanup::PurgeArgs),
}

/// `slipway stages SUBCOMMAND` (werf 1.1's `werf stages …`).
#[derive(Debug, Subcommand)]
pub enum StagesGroup {
    /// werf's `stages build`: Slipway's `build`.
    Build(super::build::BuildArgs),
    /// werf's `stages cleanup`: Slipway's `cleanup` (it cleans the stages storage too,
    /// keeping the stages of the images it keeps).
    Cleanup(super::cleanup::CleanupArgs),
    /// werf's `stages purge`: Slipway's `purge`.
    Purge(super::cleanup::PurgeArgs),
}

/// `slipway stage SUBCOMMAND` (werf 1.1's hidden `werf stage image`).
#[derive(Debug, Subcommand)]
pub enum StageGroup {
    /// Print an image's local name (`slipway images --local IMAGE`).
    Image {
        /// Image of werf.yaml [default: the nameless or only image].
        image: Option<String>,
    },
}

/// The command's name for `--json` events.
pub fn images_name(g: Option<&ImagesGroup>) -> &'static str {
    match g {
        None => "images",
        Some(ImagesGroup::Publish(_)) => "images publish",
        Some(ImagesGroup::Cleanup(_)) => "images cleanup",
        Some(ImagesGroup::Purge(_)) => "images purge",
    }
}

pub fn stages_name(g: &StagesGroup) -> &'static str {
    match g {
        StagesGroup::Build(_) => "stages build",
        StagesGroup::Cleanup(_) => "stages cleanup",
        StagesGroup::Purge(_) => "stages purge",
    }
}

pub async fn images(
    run: &Run,
    g: ImagesGroup,
    kube_config_base64: Option<Secret>,
) -> anyhow::Result<ExitCode> {
    match g {
        ImagesGroup::Publish(a) => super::publish::run(run, a, false).await,
        ImagesGroup::Cleanup(a) => super::cleanup::run(run, a, kube_config_base64).await,
        ImagesGroup::Purge(a) => super::cleanup::run_purge(run, a).await,
    }
}

pub async fn stages(
    run: &Run,
    g: StagesGroup,
    kube_config_base64: Option<Secret>,
) -> anyhow::Result<ExitCode> {
    match g {
        StagesGroup::Build(a) => super::build::run(run, a).await,
        StagesGroup::Cleanup(a) => super::cleanup::run(run, a, kube_config_base64).await,
        StagesGroup::Purge(a) => super::cleanup::run_purge(run, a).await,
    }
}

pub async fn stage(run: &Run, g: StageGroup) -> anyhow::Result<ExitCode> {
    let StageGroup::Image { image } = g;
    let only: Vec<String> = image.into_iter().collect();
    super::images::print_local(run, &only)
}
