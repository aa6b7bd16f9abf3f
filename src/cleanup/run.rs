//! One cleanup run: what the command asked ([`CleanupRequest`]), the plan it leads to
//! ([`plan`]: mode, git state, Kubernetes scan, keep policies) and the CI safety rule
//! ([`check_ci`]) that stops a deletion on a clone whose branches may be incomplete, then
//! [`apply`]. The CLI prints in between.

use super::kube::{self, KubeOptions, Scan};
use super::policy::{self, GitState, InUse, KubeCheck, Plan, TagInfo, TagScheme};
use super::stages::{self, StagesPlan};
use super::{CleanupError, Lock, Outcome};
use crate::config::Config;
use crate::daemon::Connection;
use crate::git::history;
use crate::naming::Naming;
use crate::records::Records;
use crate::records::werf::WerfRecords;
use crate::registry::Client;
use crate::registry::vendors::{Implementation, VendorCredentials};
use crate::settings::Paths;
use crate::stapel::storage::StagesStorage;

/// werf 1.1's tag-scheme limits as given on the command line; `None` takes
/// [`TagScheme::default`]'s value.
#[derive(Debug, Clone, Default)]
pub struct TagSchemeLimits {
    pub git_tag_limit: Option<i64>,
    pub git_tag_expiry_days: Option<i64>,
    pub git_commit_limit: Option<i64>,
    pub git_commit_expiry_days: Option<i64>,
}

impl TagSchemeLimits {
    fn scheme(&self) -> TagScheme {
        let d = TagScheme::default();
        TagScheme {
            git_tag_limit: self.git_tag_limit.unwrap_or(d.git_tag_limit),
            git_tag_expiry_days: self.git_tag_expiry_days.unwrap_or(d.git_tag_expiry_days),
            git_commit_limit: self.git_commit_limit.unwrap_or(d.git_commit_limit),
            git_commit_expiry_days: self
                .git_commit_expiry_days
                .unwrap_or(d.git_commit_expiry_days),
        }
    }
}

/// What `slipway cleanup` was asked to do.
#[derive(Debug)]
pub struct CleanupRequest {
    /// Keep-tag patterns, minimum age, unrecorded tags ([`super::options`]).
    pub options: policy::Options,
    /// `Some`: werf 1.1's tag-scheme mode with these limits; `None`: keep policies by git
    /// history.
    pub tag_scheme: Option<TagSchemeLimits>,
    /// Where to look for images in use; `None`: `--without-kube`.
    pub kube: Option<KubeOptions>,
    /// Fetch every branch and tag of origin first.
    pub git_history_synchronization: bool,
    /// werf's `--allow-git-shallow-clone`: a shallow clone's history is taken as it is.
    pub allow_git_shallow_clone: bool,
    /// Running in CI (`CI=true`): see [`check_ci`].
    pub ci: bool,
    /// Where the cleanup lock is taken.
    pub paths: Paths,
    /// Where werf 1.1's records are read.
    pub werf: WerfSource,
}

/// Where werf 1.1's records are: its stages storage (`-s/--stages-storage`, which werf 1.1
/// requires and `ci-env` sets).
#[derive(Debug, Clone)]
pub enum WerfSource {
    /// No `-s`: werf's records are not read, and tags werf published that no Slipway record
    /// covers are kept (deleting them needs the records that would keep the live ones).
    NotGiven,
    /// A stages storage repository.
    Repo(crate::registry::Repository),
    /// `-s :local`: the local daemon's werf records, when it answers.
    Local,
}

impl WerfSource {
    /// Where `-s` says werf's records are. A value that names no repository reads none
    /// (the stages storage reports it in its own words).
    pub fn from_stages_storage(stages_storage: Option<&str>) -> WerfSource {
        match stages_storage.map(str::trim).filter(|v| !v.is_empty()) {
            None => WerfSource::NotGiven,
            Some(crate::stapel::storage::LOCAL) => WerfSource::Local,
            Some(v) => crate::registry::Repository::parse(v.trim_end_matches('/'))
                .map_or(WerfSource::NotGiven, WerfSource::Repo),
        }
    }
}

/// Why werf 1.1's records were not read (cleanup then leaves werf's tags alone).
#[derive(Debug, thiserror::Error)]
pub enum WerfNotRead {
    #[error(
        "werf 1.1's records were not read: pass -s/--stages-storage (werf's stages storage, or :local)"
    )]
    NotGiven,
    #[error("werf 1.1's records in the local daemon were not read: {0}")]
    Unreachable(crate::daemon::Unreachable),
    #[error("werf 1.1's records in the local daemon were not read: {0}")]
    Daemon(bollard::errors::Error),
}

/// werf's records, or why they were not read.
type WerfRead = Result<WerfRecords, WerfNotRead>;

/// Read werf 1.1's records from where `-s` says (`daemon`: the command's, connected here
/// only for `:local`). A repository that cannot be read stops cleanup; a daemon that does
/// not answer leaves werf's tags alone.
pub async fn read_werf(
    source: &WerfSource,
    project: &str,
    client: &Client,
    daemon: &Connection,
) -> Result<WerfRead, CleanupError> {
    Ok(match source {
        WerfSource::NotGiven => Err(WerfNotRead::NotGiven),
        WerfSource::Repo(repo) => Ok(crate::records::werf::read_repo(client, repo).await?),
        WerfSource::Local => match daemon.get().await {
            Err(e) => Err(WerfNotRead::Unreachable(e)),
            Ok(docker) => crate::records::werf::read_daemon(docker, project)
                .await
                .map_err(WerfNotRead::Daemon),
        },
    })
}

/// The project a cleanup or purge runs over, as the command resolved it.
pub struct Subject<'a> {
    pub config: &'a Config,
    /// `None`: no `--images-repo` was given.
    pub naming: Option<Naming>,
    /// HEAD of the project's repository, read once by the command.
    pub git: &'a crate::git::HeadOnce,
    pub client: &'a Client,
    /// The command's daemon, connected only for `-s :local`'s werf records.
    pub daemon: &'a Connection,
    /// `-s/--stages-storage`: its stages are planned beside the images.
    pub stages_storage: Option<StagesStorage>,
}

impl Subject<'_> {
    /// The naming, or the error that says `command` needs `--images-repo`.
    fn naming(&self, command: &'static str) -> Result<&Naming, CleanupError> {
        self.naming
            .as_ref()
            .ok_or(CleanupError::NoImagesRepo { command })
    }
}

/// The plans of a run, with the project lock held until it is dropped.
pub struct CleanupPlan {
    pub images: Plan,
    /// The stages storage and its plan: cleanup's keeps what the kept images need, purge's
    /// deletes every stage.
    pub stages: Option<(StagesStorage, StagesPlan)>,
    implementation: Implementation,
    _lock: Lock,
}

/// What planning found.
pub enum Planned {
    /// The project is not in a git repository: which images are still needed is told by
    /// git, so nothing is cleaned (werf 1.1 too: `GetLocalGitRepoForImagesCleanup`).
    OutsideGit,
    /// `cleanup.disable` in werf.yaml: nothing to do.
    Disabled,
    Plan(Box<CleanupPlan>),
}

/// Read git, take the lock, ask Kubernetes (first: an unreachable cluster stops cleanup
/// before anything is deleted), read the registry and decide; then the stages storage's
/// plan.
pub async fn plan(req: &CleanupRequest, subject: Subject<'_>) -> Result<Planned, CleanupError> {
    let cfg = subject.config;
    let client = subject.client;
    if subject
        .git
        .get()
        .map_err(|e| history::HistoryError::from(e.clone()))?
        .is_none()
    {
        return Ok(Planned::OutsideGit);
    }
    let naming = subject.naming("cleanup")?;
    if cfg.cleanup.disable {
        return Ok(Planned::Disabled);
    }
    if req.git_history_synchronization {
        history::sync_with_origin(&cfg.dir)?;
    }
    let git = history::read(&cfg.dir, req.allow_git_shallow_clone)?;
    let lock = super::lock_project(cfg, naming, &req.paths)?;
    let (in_use, kube_check) = scan_kube(req.kube.as_ref(), cfg).await?;
    let mut records = crate::records::read(client, naming).await?;
    let werf = read_werf(&req.werf, &cfg.project, client, subject.daemon).await?;
    if let Ok(w) = &werf {
        // werf's managed images are cleaned as werf 1.1 cleans them (its image list is
        // werf.yaml's and these: cmd/werf/cleanup/cleanup.go:199).
        for name in w.managed_names() {
            let key = crate::records::image_key(name.as_deref());
            records.images.entry(key).or_insert(name);
        }
    }
    let tags = super::inventory(client, cfg, naming, &records).await?;
    let mut images = decide(req, cfg, &git, tags, &records, &werf, &in_use)?;
    name_werf_records(&mut images, &werf);
    policy::keep_imported(&mut images, &importers(cfg));
    policy::keep_referenced(&mut images);
    policy::plan_children(&mut images, tags_only(naming));
    images.kubernetes = Some(kube_check);
    let implementation = naming.implementation;
    let stages = stages_plan(subject.stages_storage, Some(&images)).await?;
    Ok(Planned::Plan(Box::new(CleanupPlan {
        images,
        stages,
        implementation,
        _lock: lock,
    })))
}

/// Purge's plan: every tag of the project's images and every stage, with the lock held.
pub async fn plan_purge(subject: Subject<'_>, paths: &Paths) -> Result<CleanupPlan, CleanupError> {
    let (cfg, client) = (subject.config, subject.client);
    let naming = subject.naming("purge")?;
    let lock = super::lock_project(cfg, naming, paths)?;
    let records = crate::records::read(client, naming).await?;
    let mut images = policy::purge(super::inventory(client, cfg, naming, &records).await?);
    policy::plan_children(&mut images, tags_only(naming));
    let implementation = naming.implementation;
    let stages = stages_plan(subject.stages_storage, None).await?;
    Ok(CleanupPlan {
        images,
        stages,
        implementation,
        _lock: lock,
    })
}

/// The registry implementation's name when its own API deletes single tags (an index's
/// platform manifests are then left to its garbage collection).
fn tags_only(naming: &Naming) -> Option<&'static str> {
    let creds = VendorCredentials::default();
    crate::registry::vendors::for_implementation(naming.implementation, &creds)
        .deletes_single_tags()
        .then(|| naming.implementation.as_str())
}

/// The images in use and how they were found.
async fn scan_kube(
    options: Option<&KubeOptions>,
    cfg: &Config,
) -> Result<(InUse, KubeCheck), CleanupError> {
    let Some(options) = options else {
        return Ok((InUse::default(), not_checked("--without-kube")));
    };
    if cfg.cleanup.disable_kubernetes_based_policy {
        return Ok((
            InUse::default(),
            not_checked("cleanup.disableKubernetesBasedPolicy in werf.yaml"),
        ));
    }
    Ok(match kube::images_in_use(options).await? {
        Scan::NoConfig => {
            tracing::warn!(
                "No kubernetes configs found to skip images being used in the Kubernetes, pass --without-kube option (or WERF_WITHOUT_KUBE env var) to silence this warning"
            );
            (InUse::default(), not_checked("no kube config found"))
        }
        Scan::Found { images, contexts } => {
            tracing::info!(
                "Kubernetes: {} image reference(s) in use in context(s) {}",
                images.len(),
                contexts.join(", ")
            );
            (InUse { images }, KubeCheck::Checked { contexts })
        }
    })
}

fn not_checked(reason: &str) -> KubeCheck {
    KubeCheck::NotChecked {
        reason: reason.to_string(),
    }
}

/// The mode choice: everything kept (`disableGitHistoryBasedPolicy`), werf 1.1's tag
/// scheme, or keep policies by git history.
fn decide(
    req: &CleanupRequest,
    cfg: &Config,
    git: &history::GitHistory,
    mut tags: Vec<TagInfo>,
    records: &Records,
    werf: &WerfRead,
    in_use: &InUse,
) -> Result<Plan, CleanupError> {
    if cfg.cleanup.disable_git_history_based_policy {
        return Ok(policy::keep_all(
            tags,
            "cleanup.disableGitHistoryBasedPolicy is true: no tag is deleted for git reasons",
        ));
    }
    if let Some(limits) = &req.tag_scheme {
        // Each commit once: the tags of one config share its commits.
        let commits: Vec<String> = tags
            .iter()
            .flat_map(|t| t.commits.iter().cloned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let state = GitState {
            branches: names(git, false),
            tags: names(git, true),
            commits: history::existing_commits(&cfg.dir, &commits)?,
        };
        let scheme = limits.scheme();
        return Ok(policy::decide_tag_scheme(
            tags,
            &state,
            &scheme,
            &req.options,
            in_use,
        ));
    }
    let policies = cfg
        .cleanup
        .keep_policies
        .clone()
        .unwrap_or_else(policy::default_policies);
    super::link_records(&mut tags, records);
    let mut options = req.options.clone();
    match werf {
        Ok(w) => super::link_werf_records(&mut tags, w),
        Err(not_read) => {
            options.werf_unrecorded = policy::WerfUnrecorded::Keep(not_read.to_string())
        }
    }
    Ok(policy::decide(tags, git, &policies, &options, in_use))
}

/// Say in the plan which of werf's records decided each tag werf 1.1 published.
fn name_werf_records(plan: &mut Plan, werf: &WerfRead) {
    let Ok(w) = werf else { return };
    for n in 0..plan.len() {
        let i = plan.item(n);
        if !i.tag.werf_era() {
            continue;
        }
        let found = w.published(i.tag.image.as_deref(), &i.tag.signature());
        let names: Vec<&str> = found.iter().map(|m| m.record.as_str()).collect();
        let records = match names.len() {
            0 => format!(" [no werf 1.1 image metadata record in {}]", w.source),
            1..=3 => format!(" [werf 1.1 records in {}: {}]", w.source, names.join(", ")),
            n => format!(
                " [werf 1.1 records in {}: {} and {} more]",
                w.source,
                names[..3].join(", "),
                n - 3
            ),
        };
        let (decision, reason) = (i.decision, format!("{}{records}", i.reason));
        // The plan's table holds each reason once (the tags of one verdict and one
        // signature say the same).
        plan.decide(n, decision, &reason);
    }
}

/// Each `final: false` image and the images that import it by registry name or digest.
fn importers(cfg: &Config) -> std::collections::BTreeMap<Option<String>, Vec<Option<String>>> {
    let mut out: std::collections::BTreeMap<Option<String>, Vec<Option<String>>> =
        std::collections::BTreeMap::new();
    for img in &cfg.images {
        for d in &img.dependencies {
            let by_registry = d
                .imports
                .iter()
                .any(|i| i.kind != crate::config::ImportType::ImageID);
            if by_registry && cfg.image(Some(&d.image)).is_some_and(|i| !i.is_final) {
                out.entry(Some(d.image.clone()))
                    .or_default()
                    .push(img.name.clone());
            }
        }
    }
    out
}

/// Names of the branches (`tags == false`) or tags of the history.
fn names(git: &history::GitHistory, tags: bool) -> std::collections::BTreeSet<String> {
    git.refs
        .iter()
        .filter(|r| r.is_tag == tags)
        .map(|r| r.name.clone())
        .collect()
}

/// The plan of a stages storage, beside it; `None` without one. `images`: cleanup's plan
/// (purge without it).
async fn stages_plan(
    storage: Option<StagesStorage>,
    images: Option<&Plan>,
) -> Result<Option<(StagesStorage, StagesPlan)>, CleanupError> {
    let Some(s) = storage else { return Ok(None) };
    let plan = match images {
        Some(p) => stages::plan_cleanup(&s, p).await?,
        None => stages::plan_purge(&s).await?,
    };
    Ok(Some((s, plan)))
}

/// The CI safety rule. A CI checkout fetches only what the pipeline needs (GitLab: the
/// pipeline's branch), so origin/* may lack live branches whose images would then look
/// unused: in CI, deleting needs `--git-history-synchronization`.
pub fn check_ci(req: &CleanupRequest, plan: &Plan) -> Result<(), CleanupError> {
    if req.ci && !req.git_history_synchronization && plan.deletions().next().is_some() {
        return Err(CleanupError::CiHistoryIncomplete);
    }
    Ok(())
}

/// What deleting did: the images', then the stages storage's (deleted, failures).
#[derive(Debug)]
pub struct Applied {
    pub images: Outcome,
    pub stages: Option<(usize, Vec<String>)>,
}

impl Applied {
    /// Both together, a deleted stage counted as a manifest.
    pub fn total(self) -> Outcome {
        let mut out = self.images;
        if let Some((deleted, failures)) = self.stages {
            out.deleted_manifests += deleted;
            out.failures.extend(failures);
        }
        out
    }
}

impl CleanupPlan {
    /// Delete what the plans delete: the images' tags (an authorization failure stops
    /// here, naming the rights a cleanup needs), then the stages.
    pub async fn apply(
        &self,
        client: &Client,
        creds: &VendorCredentials,
    ) -> Result<Applied, CleanupError> {
        let images = super::execute(client, &self.images, self.implementation, creds)
            .await
            .map_err(super::report::refused_delete)?;
        let stages = match &self.stages {
            Some((storage, sp)) => Some(stages::execute(storage, sp).await),
            None => None,
        };
        Ok(Applied { images, stages })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cleanup::policy::Decision;

    fn request(ci: bool, sync: bool) -> CleanupRequest {
        CleanupRequest {
            options: policy::Options {
                keep_tags: Vec::new(),
                min_age: Duration::ZERO,
                now: 0,
                delete_unrecorded: false,
                werf_unrecorded: policy::WerfUnrecorded::Delete,
            },
            tag_scheme: None,
            kube: None,
            git_history_synchronization: sync,
            allow_git_shallow_clone: false,
            ci,
            paths: Paths::default(),
            werf: WerfSource::NotGiven,
        }
    }

    fn plan(decision: Decision) -> Plan {
        Plan::from_items(vec![(
            TagInfo {
                facts: std::sync::Arc::new(policy::Facts {
                    repository: "r.example/app".into(),
                    ..Default::default()
                }),
                tag: "t".into(),
                digest: "sha256:a".into(),
            },
            decision,
            "test",
        )])
    }

    #[test]
    fn ci_deletes_only_after_synchronizing_the_history() {
        let deleting = plan(Decision::Delete);
        assert!(matches!(
            check_ci(&request(true, false), &deleting),
            Err(CleanupError::CiHistoryIncomplete)
        ));
        assert!(check_ci(&request(true, true), &deleting).is_ok());
        assert!(check_ci(&request(false, false), &deleting).is_ok());
        // Nothing to delete: nothing to protect.
        assert!(check_ci(&request(true, false), &plan(Decision::Keep)).is_ok());
    }

    #[test]
    fn tag_scheme_limits_fall_back_to_werfs_defaults() {
        let d = TagScheme::default();
        let s = TagSchemeLimits {
            git_tag_limit: Some(-1),
            git_commit_expiry_days: Some(7),
            ..Default::default()
        }
        .scheme();
        assert_eq!(
            (
                s.git_tag_limit,
                s.git_tag_expiry_days,
                s.git_commit_limit,
                s.git_commit_expiry_days
            ),
            (-1, d.git_tag_expiry_days, d.git_commit_limit, 7)
        );
    }
}
