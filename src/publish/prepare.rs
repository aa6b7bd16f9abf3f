//! Publish's first phase: the config and its signatures, the naming and the stages
//! storage, each target registry checked before anything is built.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::plan::{NamedContentTag, Wanted};
use super::{PublishError, PublishOptions};
use crate::build;
use crate::config::{self, Config};
use crate::naming::{self, Naming, TagSpec};
use crate::project::{Project, Run};
use crate::registry::{Client, RegistryError, Repository};
use crate::signature;
use crate::stapel::storage::StagesStorage;

/// What every later phase reads.
pub(super) struct Prepared {
    pub cfg: Config,
    pub naming: Naming,
    pub specs: Vec<TagSpec>,
    pub stages_storage: Option<StagesStorage>,
    /// The selected final images, in werf.yaml order.
    pub selected: Vec<Option<String>>,
    /// `final: false` images named, or whose registry name or digest a dependant imports:
    /// published under their content tag only, never reported.
    pub internal: Vec<Option<String>>,
    /// Images whose content tag stapel dependants name, with those dependants.
    pub named: Named,
    /// Files this run writes into the project (left out of signatures).
    pub outputs: Vec<PathBuf>,
    pub sigs: BTreeMap<Option<String>, String>,
    /// The environment: the daemon, the caches, pushes from the daemon.
    pub host_env: crate::settings::HostEnv,
    /// git HEAD, read once: tags, labels, the commit record and the report name the same one.
    pub git: crate::git::HeadOnce,
    /// The run's daemon, connected on first use and then shared by every phase (bases
    /// pinned to registry digests, `--dry-run`'s blob plans, build and push, provenance).
    daemon: crate::daemon::Connection,
}

/// Load and check everything publish needs before the plan.
pub(super) async fn prepare(run: &Run, opts: &PublishOptions) -> Result<Prepared, PublishError> {
    let (settings, client) = (&run.settings, run.client());
    let project = Project::open(run)?;
    let naming = project.naming()?.ok_or(PublishError::NoRepo)?;
    let (mut cfg, git) = project.into_parts();
    cfg.force_platforms(&opts.build_settings.platform);
    let specs = naming::tags(&opts.tags, &git)?;
    if specs.is_empty() {
        return Err(naming::no_tags_error().into());
    }
    let stages_storage = StagesStorage::from_setting(
        client,
        settings.stages_storage.as_deref(),
        &settings.host_env,
    )?;
    let Selection {
        selected,
        internal,
        named,
    } = select(&cfg, &opts.images)?;
    // Each target registry answers and takes the credentials before anything is built: a
    // typo'd host or a closed port costs seconds, not a build.
    let mut hosts = std::collections::BTreeSet::new();
    for name in selected.iter().chain(&internal) {
        hosts.insert(naming.repository(name.as_deref())?.host.clone());
    }
    for host in &hosts {
        usable(client, host, settings.images_repo.as_deref()).await?;
    }
    let daemon = run.daemon_connection().clone();
    if crate::stapel::uses_registry_digests(&cfg, true) {
        let docker = daemon.get().await.map_err(build::BuildError::from)?;
        crate::stapel::resolve_registry_digests(&mut cfg, client, Some(docker)).await?;
    }
    if let Some(names) = &opts.digest_file_images {
        build::selection(&cfg, names)?;
    }
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
        internal,
        named,
        outputs,
        sigs,
        host_env: settings.host_env.clone(),
        git,
        daemon,
    })
}

impl Prepared {
    /// The daemon, connected on first use (a failed connection is tried again next time,
    /// as each phase connected on its own before).
    pub(super) async fn daemon(&self) -> Result<&bollard::Docker, build::BuildError> {
        Ok(self.daemon.get().await?)
    }

    /// Each selected image as this run wants it published, and the repositories by name.
    pub(super) fn wanted(
        &self,
    ) -> Result<(Vec<Wanted>, BTreeMap<String, Repository>), PublishError> {
        let naming = &self.naming;
        let mut wanted = Vec::new();
        let mut repos = BTreeMap::new();
        let names = self.cfg.images.iter().map(|i| &i.name);
        for name in names.filter(|n| self.selected.contains(n) || self.internal.contains(n)) {
            let not_final = !self.selected.contains(name);
            let sig = self.sigs.get(name).cloned().unwrap_or_default();
            let repository = naming.repository(name.as_deref())?;
            let content_tag = naming.repo_tag(name.as_deref(), &sig)?;
            // A `final: false` image: its content tag only, never the run's tags.
            let mut tags = if not_final {
                vec![content_tag.clone()]
            } else {
                naming::image_tags(&self.specs, &sig)
                    .iter()
                    .map(|t| naming.repo_tag(name.as_deref(), t))
                    .collect::<Result<Vec<_>, _>>()?
            };
            // Stapel dependants carry `REPO:SIGNATURE`: that tag must exist as long as
            // they do. Last, so the run's own tags keep their places (reports, helm).
            let named_content_tag = match self.named.get(name) {
                Some(by) if !tags.contains(&content_tag) => {
                    tags.push(content_tag.clone());
                    Some(NamedContentTag {
                        tag: content_tag.clone(),
                        named_by: by.clone(),
                    })
                }
                _ => None,
            };
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
                not_final,
                named_content_tag,
            });
        }
        Ok((wanted, repos))
    }
}

type Names = Vec<Option<String>>;

/// Image → the stapel dependants (`IMAGE (targetEnv ENV)`) naming its content tag.
pub(super) type Named = BTreeMap<Option<String>, Vec<String>>;

/// What publish publishes: see [`select`].
struct Selection {
    selected: Names,
    internal: Names,
    named: Named,
}

/// The images to publish under the run's tags (the final ones of the selection), and the
/// images to publish under their content tag only: `final: false` images named, and those
/// whose registry name or digest something built imports (werf never tags a non-final
/// image, named or not); final images not selected whose content tag a stapel image
/// built names. `named`: the images whose content tag stapel images name (their
/// `ImageName`/`ImageRepo`/`ImageTag` imports are `REPO:SIGNATURE`, docs/stapel.md).
fn select(cfg: &Config, names: &[String]) -> Result<Selection, PublishError> {
    let is_named = |n: &Option<String>| {
        names
            .iter()
            .any(|x| crate::naming::name::ImageName::parse(x).into_option() == *n)
    };
    let chosen = build::selection(cfg, names)?;
    let selected: Names = chosen
        .iter()
        .filter(|i| i.is_final)
        .map(|i| i.name.clone())
        .collect();
    let mut internal: Names = chosen
        .iter()
        .filter(|i| !i.is_final && is_named(&i.name))
        .map(|i| i.name.clone())
        .collect();
    let mut named = Named::new();
    // Everything built for them: they and their dependencies, transitively.
    let mut built: Names = Vec::new();
    let mut stack: Names = selected.iter().chain(&internal).cloned().collect();
    while let Some(n) = stack.pop() {
        if built.contains(&n) {
            continue;
        }
        let Some(node) = cfg.node(n.as_deref()) else {
            continue;
        };
        for d in &node.dependencies {
            let dep = Some(d.image.clone());
            // An artifact is never published: nothing to name.
            let stapel_dependant = node.stapel().is_some() && cfg.image(dep.as_deref()).is_some();
            let by_registry = d
                .imports
                .iter()
                .any(|i| i.kind != config::ImportType::ImageID);
            let by_content: Vec<&str> = d
                .imports
                .iter()
                .filter(|i| stapel_dependant && names_content(i.kind))
                .filter_map(|i| i.target_env.as_deref())
                .collect();
            if !by_content.is_empty() {
                let by = format!(
                    "{} (targetEnv {})",
                    node.display_name(),
                    by_content.join(", ")
                );
                named.entry(dep.clone()).or_default().push(by);
            }
            let not_final = cfg.image(dep.as_deref()).is_some_and(|i| !i.is_final);
            let unpublished = !selected.contains(&dep) && !internal.contains(&dep);
            if ((by_registry && not_final) || !by_content.is_empty()) && unpublished {
                internal.push(dep.clone());
            }
            stack.push(dep);
        }
        built.push(n);
    }
    Ok(Selection {
        selected,
        internal,
        named,
    })
}

/// Whether an import hands over the dependency's content-signature reference (stapel).
fn names_content(kind: config::ImportType) -> bool {
    matches!(
        kind,
        config::ImportType::ImageName
            | config::ImportType::ImageRepo
            | config::ImportType::ImageTag
    )
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
