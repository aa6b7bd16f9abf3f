//! Publish's first phase: the config and its signatures, the naming and the stages
//! storage, each target registry checked before anything is built.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::plan::Wanted;
use super::{PublishError, PublishOptions};
use crate::build;
use crate::config::{self, Config};
use crate::naming::{self, Naming, TagSpec};
use crate::registry::{Client, RegistryError, Repository};
use crate::settings::Settings;
use crate::signature;
use crate::stapel::storage::StagesStorage;

/// What every later phase reads.
pub(super) struct Prepared {
    pub cfg: Config,
    pub naming: Naming,
    pub specs: Vec<TagSpec>,
    pub stages_storage: Option<StagesStorage>,
    /// The selected images, in werf.yaml order.
    pub selected: Vec<Option<String>>,
    /// Files this run writes into the project (left out of signatures).
    pub outputs: Vec<PathBuf>,
    pub sigs: BTreeMap<Option<String>, String>,
    /// The environment: the daemon, the caches, pushes from the daemon.
    pub host_env: crate::settings::HostEnv,
}

/// Load and check everything publish needs before the plan.
pub(super) async fn prepare(
    settings: &Settings,
    client: &Client,
    opts: &PublishOptions,
) -> Result<Prepared, PublishError> {
    let mut cfg = config::load(settings)?;
    let naming = Naming::new(settings)?.ok_or(PublishError::NoRepo)?;
    let specs = naming::tags(&opts.tags, &cfg.dir)?;
    if specs.is_empty() {
        return Err(naming::no_tags_error().into());
    }
    let stages_storage = StagesStorage::from_setting(
        client,
        settings.stages_storage.as_deref(),
        &settings.host_env,
    )?;
    // Each target registry answers and takes the credentials before anything is built: a
    // typo'd host or a closed port costs seconds, not a build.
    let mut hosts = std::collections::BTreeSet::new();
    for image in build::selection(&cfg, &opts.images)? {
        hosts.insert(naming.repository(image.name.as_deref())?.host.clone());
    }
    for host in &hosts {
        usable(client, host, settings.images_repo.as_deref()).await?;
    }
    if crate::stapel::uses_from_latest(&cfg) {
        let docker = build::connect(&settings.host_env.daemon()).await?;
        crate::stapel::resolve_from_latest(&mut cfg, client, Some(&docker)).await?;
    }
    if let Some(names) = &opts.digest_file_images {
        build::selection(&cfg, names)?;
    }
    let selected: Vec<Option<String>> = build::selection(&cfg, &opts.images)?
        .iter()
        .map(|i| i.name.clone())
        .collect();
    // Reports written into the project must not change what they report on.
    let this_run: Vec<&std::path::Path> = opts
        .report_path
        .iter()
        .chain(&opts.digest_file)
        .map(PathBuf::as_path)
        .collect();
    let paths = settings.paths();
    let outputs = signature::outputs(&cfg.dir, &this_run, &paths);
    let sigs = signature::compute(
        &cfg,
        signature::HashCache::default_path(&cfg.dir, &paths).as_deref(),
        &outputs,
    )?;
    Ok(Prepared {
        cfg,
        naming,
        specs,
        stages_storage,
        selected,
        outputs,
        sigs,
        host_env: settings.host_env.clone(),
    })
}

impl Prepared {
    /// Each selected image as this run wants it published, and the repositories by name.
    pub(super) fn wanted(
        &self,
    ) -> Result<(Vec<Wanted>, BTreeMap<String, Repository>), PublishError> {
        let naming = &self.naming;
        let mut wanted = Vec::new();
        let mut repos = BTreeMap::new();
        for name in &self.selected {
            let sig = self.sigs.get(name).cloned().unwrap_or_default();
            let repository = naming.repository(name.as_deref())?;
            let tags = naming::image_tags(&self.specs, &sig)
                .iter()
                .map(|t| naming.repo_tag(name.as_deref(), t))
                .collect::<Result<Vec<_>, _>>()?;
            let content_tag = naming.repo_tag(name.as_deref(), &sig)?;
            let probe = if tags.contains(&content_tag) {
                Vec::new()
            } else {
                vec![content_tag]
            };
            repos.insert(repository.to_string(), repository.clone());
            wanted.push(Wanted {
                name: name.clone(),
                repository: repository.to_string(),
                tags,
                signature: sig,
                probe,
            });
        }
        Ok((wanted, repos))
    }
}

/// `GET /v2/` on `host`, authenticated: fails on what would fail the push anyway (no
/// connection, TLS, refused credentials). A 401 or 403 without credentials is left to the push,
/// which says where credentials are looked for; other answers are the registry's business.
async fn usable(
    client: &Client,
    host: &str,
    images_repo: Option<&str>,
) -> Result<(), PublishError> {
    let cause = match client.ping(host).await {
        Ok(()) => return Ok(()),
        Err(
            RegistryError::Unauthorized { .. }
            | RegistryError::Denied { .. }
            | RegistryError::Status { .. },
        ) if !matches!(client.credentials(host), Ok(Some(_))) => {
            return Ok(());
        }
        Err(e @ RegistryError::Status { .. }) => {
            tracing::debug!(host, "GET /v2/ before building: {e}");
            return Ok(());
        }
        Err(e) => e,
    };
    let from = images_repo
        .filter(|r| r.split('/').next() == Some(host))
        .map(|r| format!(" (the registry of --images-repo {r})"))
        .unwrap_or_default();
    let from = format!(
        "{from}; checked before building: nothing was built or pushed{}",
        unreachable_fix(&cause, host)
    );
    Err(PublishError::Unusable { cause, from })
}

/// What to check when `host` cannot be reached at all (docs/troubleshooting.md).
fn unreachable_fix(cause: &RegistryError, host: &str) -> String {
    let RegistryError::Unreachable { cause, .. } = cause else {
        return String::new();
    };
    if cause.contains("connection refused") {
        format!(
            ": nothing listens on {host}: check the port in --images-repo and that the registry runs"
        )
    } else if cause.contains("no such host") {
        let name = host.split(':').next().unwrap_or(host);
        format!(
            ": the name {name} does not resolve: check it for a typo in --images-repo, or the runner's DNS"
        )
    } else {
        String::new()
    }
}
