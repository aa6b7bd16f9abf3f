//! `slipway cleanup` and `slipway purge`.

use std::process::ExitCode;

use clap::Args;

use super::output;
use crate::cleanup::run::{self, CleanupRequest, Planned, TagSchemeLimits, WerfSource};
use crate::cleanup::{self, policy};
use crate::naming::Naming;
use crate::project::{Project, Run};
use crate::registry::Client;
use crate::registry::credentials::AwsKeys;
use crate::registry::credentials::VendorCredentials;
use crate::settings::{HostEnv, Secret};
use crate::stapel::storage::StagesStorage;

/// Credentials of vendor deletion APIs (werf's flag names).
#[derive(Debug, Clone, Args)]
pub struct VendorArgs {
    /// Docker Hub username for tag deletion through hub.docker.com.
    #[arg(long)]
    pub repo_docker_hub_username: Option<String>,
    /// Docker Hub password or personal access token.
    #[arg(long, hide_env_values = true)]
    pub repo_docker_hub_password: Option<Secret>,
    /// Docker Hub JWT, instead of username and password.
    #[arg(long, hide_env_values = true)]
    pub repo_docker_hub_token: Option<Secret>,
    /// Quay OAuth token (repo:admin) for tag deletion.
    #[arg(long, hide_env_values = true)]
    pub repo_quay_token: Option<Secret>,
    /// GitHub token with delete:packages, for ghcr.io.
    #[arg(long, hide_env_values = true)]
    pub repo_github_token: Option<Secret>,
    /// GitHub REST API root.
    #[arg(long, default_value = "https://api.github.com", hide = true)]
    pub github_api: String,
    /// AWS access key for ECR's API (the standard AWS variable).
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide = true)]
    pub aws_access_key_id: Option<String>,
    #[arg(
        long,
        env = "AWS_SECRET_ACCESS_KEY",
        hide = true,
        hide_env_values = true
    )]
    pub aws_secret_access_key: Option<Secret>,
    #[arg(long, env = "AWS_SESSION_TOKEN", hide = true, hide_env_values = true)]
    pub aws_session_token: Option<Secret>,
    /// ECR API endpoint override.
    #[arg(long, hide = true)]
    pub ecr_endpoint: Option<String>,
    /// Docker Hub API root.
    #[arg(long, default_value = "https://hub.docker.com", hide = true)]
    pub docker_hub_api: String,
}

impl VendorArgs {
    fn credentials(&self) -> VendorCredentials {
        VendorCredentials {
            docker_hub_username: self.repo_docker_hub_username.clone(),
            docker_hub_password: self.repo_docker_hub_password.clone(),
            docker_hub_token: self.repo_docker_hub_token.clone(),
            quay_token: self.repo_quay_token.clone(),
            docker_hub_api: self.docker_hub_api.clone(),
            github_token: self.repo_github_token.clone(),
            github_api: self.github_api.clone(),
            aws: match (&self.aws_access_key_id, &self.aws_secret_access_key) {
                (Some(id), Some(secret)) => Some(AwsKeys {
                    access_key_id: id.clone(),
                    secret_access_key: secret.clone(),
                    session_token: self.aws_session_token.clone(),
                }),
                _ => None,
            },
            ecr_endpoint: self.ecr_endpoint.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    #[command(flatten)]
    pub vendor: VendorArgs,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Always keep tags matching this regex (repeatable).
    #[arg(long = "keep-tag", value_delimiter = ',')]
    pub keep_tags: Vec<String>,
    /// Keep images younger than this.
    #[arg(long, default_value = "2h")]
    pub min_age: String,
    /// Keep images by git history (werf's keep policies). `false` selects werf 1.1's
    /// tag-scheme cleanup (git-branch/git-tag/git-commit tags and their limits).
    #[arg(long, default_value = "true")]
    pub git_history_based_cleanup: bool,
    /// Tag-scheme mode: git-tag tags kept per image (-1: all) [default: -1, as werf's;
    /// $WERF_GIT_TAG_STRATEGY_LIMIT beats the flag, as in werf].
    #[arg(long, allow_negative_numbers = true)]
    pub git_tag_strategy_limit: Option<i64>,
    /// Tag-scheme mode: git-tag tags older than this many days are deleted (-1: never)
    /// [default: -1; $WERF_GIT_TAG_STRATEGY_EXPIRY_DAYS beats the flag].
    #[arg(long, allow_negative_numbers = true)]
    pub git_tag_strategy_expiry_days: Option<i64>,
    /// Tag-scheme mode: git-commit tags kept per image (-1: all) [default: -1;
    /// $WERF_GIT_COMMIT_STRATEGY_LIMIT beats the flag].
    #[arg(long, allow_negative_numbers = true)]
    pub git_commit_strategy_limit: Option<i64>,
    /// Tag-scheme mode: git-commit tags older than this many days are deleted (-1: never)
    /// [default: -1; $WERF_GIT_COMMIT_STRATEGY_EXPIRY_DAYS beats the flag].
    #[arg(long, allow_negative_numbers = true)]
    pub git_commit_strategy_expiry_days: Option<i64>,
    // -- Kubernetes scan and git synchronization (werf's flags; variables from the flag
    // table: SLIPWAY_*, then werf's). --
    /// Kube config file(s), `:`-separated. Merged; default ~/.kube/config. A config given
    /// as base64 (--kube-config-base64, WERF_KUBE_CONFIG_BASE64, WERF_KUBECONFIG_BASE64,
    /// KUBECONFIG_BASE64) comes first. Images in use in any of its contexts are never
    /// deleted.
    #[arg(long = "kube-config")]
    pub kube_config: Option<String>,
    /// Scan only this kube config context (default: every context).
    #[arg(long = "kube-context")]
    pub kube_context: Option<String>,
    /// List only each context's own namespace. For namespace-scoped access; a context
    /// without a namespace is still listed in every namespace, as werf does.
    #[arg(long = "scan-context-namespace-only")]
    pub scan_context_namespace_only: bool,
    /// Do not look up images in use in Kubernetes.
    #[arg(long = "without-kube")]
    pub without_kube: bool,
    /// First fetch every branch and tag of origin. And the whole history of a shallow
    /// clone: `git fetch --prune --prune-tags [--unshallow] origin
    /// +refs/heads/*:refs/remotes/origin/*`.
    #[arg(long = "git-history-synchronization")]
    pub git_history_synchronization: bool,
    /// Delete tags that no record ties to a commit, as werf 1.1.36's v1.2 cleanup does.
    /// Unset: tags werf 1.1 published without werf image metadata are deleted (werf
    /// 1.1.36's default), Slipway's without a commit record kept; `true` deletes both,
    /// `false` keeps both.
    #[arg(
        long = "git-history-based-cleanup-v1.2",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_name = "BOOL",
        value_parser = clap::builder::ValueParser::new(super::flags::parse_bool)
    )]
    pub git_history_based_cleanup_v1_2: Option<bool>,
    #[command(flatten)]
    pub werf_ignored: super::werf_compat::IgnoredCleanup,
}

impl CleanupArgs {
    /// The flags as a request (`--min-age` and `--keep-tag` checked here).
    fn request(
        &self,
        kube_config_base64: Option<Secret>,
        stages_storage: Option<&str>,
        env: &HostEnv,
    ) -> anyhow::Result<CleanupRequest> {
        let min_age = humantime::parse_duration(&self.min_age)
            .map_err(|e| anyhow::anyhow!("--min-age {:?}: {e}", self.min_age))?;
        let mut options = cleanup::options(&self.keep_tags, min_age)?;
        options.delete_unrecorded = self.git_history_based_cleanup_v1_2 == Some(true);
        if self.git_history_based_cleanup_v1_2 == Some(false) {
            options.werf_unrecorded = policy::WerfUnrecorded::Keep(
                "no werf 1.1 image metadata for its content signature: kept, as --git-history-based-cleanup-v1.2=false (WERF_GIT_HISTORY_BASED_CLEANUP_v1_2) asks".into(),
            );
        }
        Ok(CleanupRequest {
            options,
            tag_scheme: if self.git_history_based_cleanup {
                None
            } else {
                Some(self.tag_scheme(env)?)
            },
            kube: (!self.without_kube).then(|| self.kube_options(kube_config_base64, env)),
            git_history_synchronization: self.git_history_synchronization,
            allow_git_shallow_clone: false,
            ci: env.ci(),
            paths: env.paths(),
            werf: WerfSource::from_stages_storage(stages_storage),
        })
    }

    /// werf 1.1's limits: its `WERF_*_STRATEGY_*` variable beats the flag (werf's
    /// `GetGitTagStrategyLimit` reads the variable first), `SLIPWAY_*` ones never do (clap
    /// gave them to the flag already); nothing given is -1, no limit, as in werf.
    fn tag_scheme(&self, env: &HostEnv) -> anyhow::Result<TagSchemeLimits> {
        let pick = |flag: Option<i64>, var: &str| -> anyhow::Result<Option<i64>> {
            match env.var(var) {
                Some(v) => v
                    .trim()
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|e| anyhow::anyhow!("${var} {v:?}: {e}")),
                None => Ok(Some(flag.unwrap_or(-1))),
            }
        };
        Ok(TagSchemeLimits {
            git_tag_limit: pick(self.git_tag_strategy_limit, "WERF_GIT_TAG_STRATEGY_LIMIT")?,
            git_tag_expiry_days: pick(
                self.git_tag_strategy_expiry_days,
                "WERF_GIT_TAG_STRATEGY_EXPIRY_DAYS",
            )?,
            git_commit_limit: pick(
                self.git_commit_strategy_limit,
                "WERF_GIT_COMMIT_STRATEGY_LIMIT",
            )?,
            git_commit_expiry_days: pick(
                self.git_commit_strategy_expiry_days,
                "WERF_GIT_COMMIT_STRATEGY_EXPIRY_DAYS",
            )?,
        })
    }

    /// Where the kube config comes from, in werf's precedence: base64 data, then
    /// --kube-config (or its variables: a `:` list), then ~/.kube/config.
    fn kube_options(&self, base64: Option<Secret>, env: &HostEnv) -> cleanup::kube::KubeOptions {
        use cleanup::kube::KubeConfigSource;
        let source = if let Some(data) = base64.filter(|d| !d.expose().trim().is_empty()) {
            let origin = origin("kube-config-base64", data.expose(), env);
            KubeConfigSource::Base64 { data, origin }
        } else if let Some(list) = self.kube_config.clone().filter(|s| !s.is_empty()) {
            KubeConfigSource::Files {
                paths: std::env::split_paths(&list).collect(),
                origin: origin("kube-config", &list, env),
            }
        } else {
            KubeConfigSource::Default(env.home().map(|h| h.join(".kube").join("config")))
        };
        cleanup::kube::KubeOptions {
            source,
            context: self.kube_context.clone().filter(|c| !c.is_empty()),
            namespace_only: self.scan_context_namespace_only,
        }
    }
}

/// Which flag or variable `value` came from, for messages: the first variable of the flag
/// table that is set to it, else the flag.
fn origin(long: &str, value: &str, env: &HostEnv) -> String {
    crate::settings::werf_names::env_names(long)
        .into_iter()
        .find(|n| env.var(n) == Some(value))
        .map(|n| format!("${n}"))
        .unwrap_or_else(|| format!("--{long}"))
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    #[command(flatten)]
    pub vendor: VendorArgs,
    /// Really delete (the plan is shown first).
    #[arg(long)]
    pub force: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    // werf 1.1 options with no effect: purge deletes everything, deployed or not.
    #[arg(long = "kube-config")]
    pub werf_ignored_kube_config: Option<String>,
    #[arg(long = "kube-context")]
    pub werf_ignored_kube_context: Option<String>,
    #[command(flatten)]
    pub werf_ignored: super::werf_compat::IgnoredCleanup,
}

/// Cleanup outside a git repository.
const OUTSIDE_GIT: &str = "images cleanup skipped: the project is not in a git repository (as werf does): nothing is deleted";

/// The first line of a dry run's plan, so it is not read as what happened.
const DRY_RUN: &str = "dry run: nothing is deleted\n";

/// A refused DELETE names the usual cause and its fix (docs/troubleshooting.md): CI job
/// tokens (GitLab's) may push but not delete.
fn delete_hint(e: cleanup::CleanupError) -> anyhow::Error {
    use crate::registry::RegistryError;
    match e {
        cleanup::CleanupError::Registry(
            e @ (RegistryError::Denied { .. } | RegistryError::Unauthorized { .. }),
        ) => anyhow::anyhow!("{e}: {DELETE_RIGHTS}"),
        e => e.into(),
    }
}

/// The fix for a refused delete.
const DELETE_RIGHTS: &str = "cleanup needs credentials allowed to delete tags, and GitLab's \
     job token (CI_JOB_TOKEN, CI_REGISTRY_PASSWORD) is not: give the cleanup job a personal or \
     project access token with the api scope as --registry-username/--registry-password \
     (SLIPWAY_REGISTRY_PASSWORD; werf's guide calls it WERF_IMAGES_CLEANUP_PASSWORD)";

/// Delete, then say what went and what failed.
async fn finish(
    client: &Client,
    plan: &policy::Plan,
    naming: &Naming,
    vendor: &VendorArgs,
    stages: Option<(&StagesStorage, &cleanup::stages::StagesPlan)>,
) -> anyhow::Result<ExitCode> {
    let creds = vendor.credentials();
    let applied = run::apply(client, plan, naming.implementation, &creds, stages)
        .await
        .map_err(delete_hint)?;
    output::table(&summary(plan));
    output::note(&format!(
        "deleted {} manifest(s), {} tag(s)",
        applied.images.deleted_manifests, applied.images.deleted_tags
    ));
    let stages_deleted = applied.stages.as_ref().map(|(deleted, _)| *deleted);
    if let (Some((_, sp)), Some(deleted)) = (stages, stages_deleted) {
        output::note(&format!(
            "stages storage {}: deleted {deleted} stage(s)",
            sp.repository
        ));
    }
    let out = applied.total();
    if out.deleted_manifests > 0 {
        output::note(cleanup::GC_HINT);
    }
    let mut result = serde_json::json!({ "plan": plan, "deleted": &out });
    if let Some((_, sp)) = stages {
        result["stages"] = serde_json::json!({ "plan": sp, "deleted": stages_deleted });
    }
    if !out.failures.is_empty() {
        let mut text = format!("{} deletion(s) failed:", out.failures.len());
        for f in &out.failures {
            text.push_str(&format!("\n  {f}"));
        }
        // A vendor tag API's refusal (GitLab's `DELETE …/tags/reference/…`) lands here.
        if out
            .failures
            .iter()
            .any(|f| f.contains("answered 401") || f.contains("answered 403"))
        {
            text.push_str(&format!("\n{DELETE_RIGHTS}"));
        }
        output::note(&text);
        output::failed(
            result,
            &format!("{} deletion(s) failed", out.failures.len()),
        )?;
        return Ok(ExitCode::from(1));
    }
    output::result(result)?;
    Ok(ExitCode::SUCCESS)
}

/// Per repository: tags kept and deleted.
fn summary(plan: &policy::Plan) -> String {
    let mut rows: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for i in plan.items() {
        let r = rows.entry(i.tag.repository.to_string()).or_default();
        match i.decision {
            policy::Decision::Keep => r.0 += 1,
            policy::Decision::Delete => r.1 += 1,
        }
    }
    let mut s = format!("{:<50} {:>6} {:>8}\n", "REPOSITORY", "KEPT", "DELETED");
    for (repo, (kept, deleted)) in rows {
        s.push_str(&format!("{repo:<50} {kept:>6} {deleted:>8}\n"));
    }
    if let Some(policy::KubeCheck::NotChecked { reason }) = &plan.kubernetes {
        s.push_str(&format!(
            "Kubernetes not checked ({reason}): images running in a cluster were not protected\n"
        ));
    }
    s
}

pub async fn run(
    run: &Run,
    args: CleanupArgs,
    kube_config_base64: Option<Secret>,
) -> anyhow::Result<ExitCode> {
    let settings = &run.settings;
    let mut request = args.request(
        kube_config_base64,
        settings.stages_storage.as_deref(),
        &settings.host_env,
    )?;
    request.allow_git_shallow_clone = settings.allow_git_shallow_clone;
    let project = Project::open(run)?;
    let cfg = &project.config;
    if crate::git::head(&cfg.dir)?.is_none() {
        // werf 1.1 too (`GetLocalGitRepoForImagesCleanup`: no repository, no images cleanup):
        // which images are still needed is told by git.
        output::note(OUTSIDE_GIT);
        output::result(serde_json::json!({ "skipped": OUTSIDE_GIT }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let naming = project
        .naming()?
        .ok_or_else(|| anyhow::anyhow!("--images-repo is required for cleanup"))?;
    let client = run.client();
    let plan = match run::plan(&request, cfg, &naming, client, run.daemon_connection()).await? {
        Planned::Disabled => {
            output::note("cleanup.disable is true in werf.yaml: nothing is deleted");
            output::result(serde_json::json!({ "disabled": true }))?;
            return Ok(ExitCode::SUCCESS);
        }
        Planned::Plan(p) => p,
    };
    let (storage, stages) = show_plans(run, args.dry_run, &plan.images, true).await?;
    if args.dry_run {
        return dry_run_result(&plan.images, stages);
    }
    run::check_ci(&request, &plan.images)?;
    let stages = storage.as_ref().zip(stages.as_ref());
    finish(client, &plan.images, &naming, &args.vendor, stages).await
}

pub async fn run_purge(run: &Run, args: PurgeArgs) -> anyhow::Result<ExitCode> {
    let project = Project::open(run)?;
    let naming = project
        .naming()?
        .ok_or_else(|| anyhow::anyhow!("--images-repo is required for purge"))?;
    let client = run.client();
    let plan = run::plan_purge(&project.config, &naming, client, &run.settings.paths()).await?;
    let (storage, stages) = show_plans(run, args.dry_run, &plan.images, false).await?;
    if args.dry_run {
        return dry_run_result(&plan.images, stages);
    }
    if !args.force {
        anyhow::bail!("purge deletes every image above; run again with --force to do it");
    }
    let stages = storage.as_ref().zip(stages.as_ref());
    finish(client, &plan.images, &naming, &args.vendor, stages).await
}

/// Print the images plan (after the dry-run line), then the stages storage's, made here:
/// cleanup's keeps what the kept images need (`cleanup`), purge's deletes every stage.
async fn show_plans(
    run: &Run,
    dry_run: bool,
    plan: &policy::Plan,
    cleanup: bool,
) -> anyhow::Result<(Option<StagesStorage>, Option<cleanup::stages::StagesPlan>)> {
    if dry_run {
        output::out(DRY_RUN);
    }
    output::out_display(plan);
    let storage = run.stages_storage()?;
    let stages = run::stages_plan(storage.as_ref(), cleanup.then_some(plan)).await?;
    if let Some(p) = &stages {
        output::out(&p.to_string());
    }
    Ok((storage, stages))
}

fn dry_run_result(
    plan: &policy::Plan,
    stages: Option<cleanup::stages::StagesPlan>,
) -> anyhow::Result<ExitCode> {
    // Only `--json` prints the result: a plan of many thousand tags is not copied into a
    // JSON tree for nothing.
    if output::json() {
        output::result(serde_json::json!({ "plan": plan, "stages": stages, "dry_run": true }))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::FromArgMatches;

    use super::*;
    use crate::cli::{Cli, Command, Env};

    fn limits(argv: &[&str], vars: &[(&str, &str)]) -> TagSchemeLimits {
        let env: Env = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut full = vec!["slipway", "cleanup", "--git-history-based-cleanup=false"];
        full.extend(argv);
        let m = crate::cli::command(&env)
            .try_get_matches_from(full)
            .expect("parses");
        let Command::Cleanup(a) = Cli::from_arg_matches(&m).expect("cli").command else {
            panic!("not cleanup")
        };
        a.request(None, None, &HostEnv::from_map(env))
            .expect("request")
            .tag_scheme
            .expect("tag scheme mode")
    }

    #[test]
    fn werf_strategy_variables_beat_the_flag_and_the_default_is_no_limit() {
        let l = limits(&[], &[]);
        assert_eq!(
            (
                l.git_tag_limit,
                l.git_tag_expiry_days,
                l.git_commit_limit,
                l.git_commit_expiry_days
            ),
            (Some(-1), Some(-1), Some(-1), Some(-1))
        );
        let l = limits(
            &[
                "--git-tag-strategy-limit",
                "3",
                "--git-commit-strategy-limit",
                "4",
            ],
            &[("WERF_GIT_TAG_STRATEGY_LIMIT", "7")],
        );
        assert_eq!(l.git_tag_limit, Some(7), "werf's variable beats the flag");
        assert_eq!(
            l.git_commit_limit,
            Some(4),
            "the flag, without werf's variable"
        );
        // A SLIPWAY_* variable only ever fills the flag (clap reads it for the flag), so it
        // is below werf's variable as the flag is.
    }
}
