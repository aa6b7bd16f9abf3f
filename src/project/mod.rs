//! The resolved project (issue 29): what every command that builds, names or publishes
//! images works out before it acts — the config, `fromLatest` bases, this run's output
//! files, the signatures, the naming, git HEAD — read once here instead of once per
//! command, after ripgrep's `HiArgs`, over the command's [`Run`] (settings, the registry
//! client, the daemon). Heavy facts are lazy: `images` never connects to a daemon, and
//! HEAD is read on first use.

mod build;
mod images;
mod run;

pub use build::{BuildRequest, PreparedBuild};
pub use images::{ImageRow, PlatformRow};
pub use run::Run;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bollard::Docker;

use crate::build::BuildError;
use crate::config::{Config, ConfigErrors};
use crate::naming::{Naming, NamingError};
use crate::registry::Client;
use crate::settings::Settings;
use crate::signature::{self, SignatureError};

/// Each image's content signature, by image name (`None`: the nameless image).
pub type Signatures = BTreeMap<Option<String>, String>;

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Stapel(#[from] crate::stapel::StapelError),
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Naming(#[from] NamingError),
    #[error(transparent)]
    StagesStorage(#[from] crate::stapel::storage::StorageError),
    #[error("--cache-from names tags in the images repo: give --images-repo too")]
    CacheFromNeedsRepo,
}

/// Whether resolving `fromLatest` bases may pull them into the daemon (a build needs the
/// base its signature names; `images` only needs the signatures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bases {
    Pull,
    DigestsOnly,
}

pub struct Project<'a> {
    pub settings: &'a Settings,
    pub config: Config,
    run: &'a Run,
    head: crate::git::HeadOnce,
}

impl<'a> Project<'a> {
    /// Loads and checks werf.yaml.
    pub fn open(run: &'a Run) -> Result<Self, ProjectError> {
        let config = crate::config::load(&run.settings)?;
        Ok(Project {
            settings: &run.settings,
            head: crate::git::HeadOnce::new(&config.dir),
            config,
            run,
        })
    }

    /// The config and the git HEAD cell, for a command that keeps them past the project
    /// (publish's phases).
    pub fn into_parts(self) -> (Config, crate::git::HeadOnce) {
        (self.config, self.head)
    }

    /// The run's one registry client.
    pub fn client(&self) -> &Client {
        self.run.client()
    }

    /// The run's daemon, connected on first use.
    pub async fn daemon(&self) -> Result<&Docker, ProjectError> {
        Ok(self.run.daemon().await.map_err(BuildError::from)?)
    }

    /// Asks the registries for the digests `fromLatest` bases and imports from registry
    /// images name now (once), pulling them (and the other registry bases) with
    /// [`Bases::Pull`].
    pub async fn resolve_bases(&mut self, bases: Bases) -> Result<(), ProjectError> {
        let pulling = matches!(bases, Bases::Pull);
        if !crate::stapel::uses_registry_digests(&self.config, pulling) {
            return Ok(());
        }
        let docker = match bases {
            Bases::Pull => Some(self.daemon().await?.clone()),
            Bases::DigestsOnly => None,
        };
        crate::stapel::resolve_registry_digests(
            &mut self.config,
            self.run.client(),
            docker.as_ref(),
        )
        .await?;
        Ok(())
    }

    /// The files this run and earlier runs write into the project (reports): never part of
    /// a build context.
    pub fn outputs(&self, this_run: &[&Path]) -> Vec<PathBuf> {
        signature::outputs(&self.config.dir, this_run, &self.settings.paths())
    }

    /// Every image's content signature, with the project's file-hash cache.
    pub fn signatures(&self, outputs: &[PathBuf]) -> Result<Signatures, ProjectError> {
        Ok(signature::compute(
            &self.config,
            signature::HashCache::default_path(&self.config.dir, &self.settings.paths()).as_deref(),
            outputs,
        )?)
    }

    /// The images repository's naming (`None` without `--images-repo`).
    pub fn naming(&self) -> Result<Option<Naming>, ProjectError> {
        Ok(self.run.naming()?)
    }

    /// The project's git HEAD, read once (tag options, labels and records share it).
    pub fn git(&self) -> &crate::git::HeadOnce {
        &self.head
    }

    /// HEAD (`None` outside a repository or on an unreadable one).
    pub fn head(&self) -> Option<&crate::git::Head> {
        self.head.found()
    }

    /// The commit HEAD names, for the images' commit label.
    pub fn git_commit(&self) -> Option<String> {
        self.head().map(|h| h.commit.clone())
    }
}
