//! `slipway cleanup` and `slipway purge`.

use std::process::ExitCode;

use clap::Args;

use super::output;
use crate::cleanup::request::CleanupFlags;
use crate::cleanup::run::{self, CleanupPlan, CleanupRequest, Planned, Subject, TagSchemeLimits};
use crate::cleanup::{self, report};
use crate::project::{Project, Run};
use crate::registry::credentials::AwsKeys;
use crate::registry::credentials::VendorCredentials;
use crate::settings::Secret;

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
    /// The flags as the library takes them (`kube_config_base64`: the global flag).
    fn flags(&self, kube_config_base64: Option<Secret>) -> CleanupFlags {
        CleanupFlags {
            keep_tags: self.keep_tags.clone(),
            min_age: self.min_age.clone(),
            git_history_based_cleanup: self.git_history_based_cleanup,
            limits: TagSchemeLimits {
                git_tag_limit: self.git_tag_strategy_limit,
                git_tag_expiry_days: self.git_tag_strategy_expiry_days,
                git_commit_limit: self.git_commit_strategy_limit,
                git_commit_expiry_days: self.git_commit_strategy_expiry_days,
            },
            kube_config: self.kube_config.clone(),
            kube_config_base64,
            kube_context: self.kube_context.clone(),
            scan_context_namespace_only: self.scan_context_namespace_only,
            without_kube: self.without_kube,
            git_history_synchronization: self.git_history_synchronization,
            git_history_based_cleanup_v1_2: self.git_history_based_cleanup_v1_2,
        }
    }
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

/// The project as the library's cleanup takes it.
fn subject<'a>(run: &'a Run, project: &'a Project<'a>) -> anyhow::Result<Subject<'a>> {
    Ok(Subject {
        config: &project.config,
        naming: project.naming()?,
        git: project.git(),
        client: run.client(),
        daemon: run.daemon_connection(),
        stages_storage: run.stages_storage()?,
    })
}

pub async fn run(
    run: &Run,
    args: CleanupArgs,
    kube_config_base64: Option<Secret>,
) -> anyhow::Result<ExitCode> {
    let request = CleanupRequest::new(args.flags(kube_config_base64), &run.settings)?;
    let project = Project::open(run)?;
    let plan = match cleanup::run::plan(&request, subject(run, &project)?).await? {
        Planned::OutsideGit => return skipped(OUTSIDE_GIT, "skipped", OUTSIDE_GIT.into()),
        Planned::Disabled => {
            let text = "cleanup.disable is true in werf.yaml: nothing is deleted";
            return skipped(text, "disabled", true.into());
        }
        Planned::Plan(p) => p,
    };
    show(&plan, args.dry_run);
    if args.dry_run {
        return dry_run_result(&plan);
    }
    run::check_ci(&request, &plan.images)?;
    finish(run, &plan, &args.vendor).await
}

pub async fn run_purge(run: &Run, args: PurgeArgs) -> anyhow::Result<ExitCode> {
    let project = Project::open(run)?;
    let plan = run::plan_purge(subject(run, &project)?, &run.settings.paths()).await?;
    show(&plan, args.dry_run);
    if args.dry_run {
        return dry_run_result(&plan);
    }
    if !args.force {
        anyhow::bail!("purge deletes every image above; run again with --force to do it");
    }
    finish(run, &plan, &args.vendor).await
}

/// Nothing to clean: say why, and as `{key: value}` in the result.
fn skipped(text: &str, key: &str, value: serde_json::Value) -> anyhow::Result<ExitCode> {
    output::note(text);
    output::result(serde_json::json!({ key: value }))?;
    Ok(ExitCode::SUCCESS)
}

/// Print the images plan (after the dry-run line), then the stages storage's.
fn show(plan: &CleanupPlan, dry_run: bool) {
    if dry_run {
        output::out(DRY_RUN);
    }
    output::out_display(&plan.images);
    if let Some((_, p)) = &plan.stages {
        output::out(&p.to_string());
    }
}

fn dry_run_result(plan: &CleanupPlan) -> anyhow::Result<ExitCode> {
    // Only `--json` prints the result: a plan of many thousand tags is not copied into a
    // JSON tree for nothing.
    if output::json() {
        let stages = plan.stages.as_ref().map(|(_, p)| p);
        output::result(
            serde_json::json!({ "plan": &plan.images, "stages": stages, "dry_run": true }),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Delete, then say what went and what failed.
async fn finish(run: &Run, plan: &CleanupPlan, vendor: &VendorArgs) -> anyhow::Result<ExitCode> {
    let applied = plan.apply(run.client(), &vendor.credentials()).await?;
    output::table(&report::summary(&plan.images));
    output::note(&format!(
        "deleted {} manifest(s), {} tag(s)",
        applied.images.deleted_manifests, applied.images.deleted_tags
    ));
    let stages_deleted = applied.stages.as_ref().map(|(deleted, _)| *deleted);
    if let (Some((_, sp)), Some(deleted)) = (&plan.stages, stages_deleted) {
        output::note(&format!(
            "stages storage {}: deleted {deleted} stage(s)",
            sp.repository
        ));
    }
    let out = applied.total();
    if out.deleted_manifests > 0 {
        output::note(cleanup::GC_HINT);
    }
    let mut result = serde_json::json!({ "plan": &plan.images, "deleted": &out });
    if let Some((_, sp)) = &plan.stages {
        result["stages"] = serde_json::json!({ "plan": sp, "deleted": stages_deleted });
    }
    if let Some(text) = report::failures(&out) {
        output::note(&text);
        let summary = format!("{} deletion(s) failed", out.failures.len());
        output::failed(result, &summary)?;
        return Ok(ExitCode::from(1));
    }
    output::result(result)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::FromArgMatches;

    use super::*;
    use crate::cli::{Cli, Command, Env};

    /// The flags `argv` makes (werf's variables that beat a flag are the library's:
    /// `cleanup::request`'s tests).
    fn flags(argv: &[&str]) -> CleanupFlags {
        let env = Env::default();
        let mut full = vec!["slipway", "cleanup", "--git-history-based-cleanup=false"];
        full.extend(argv);
        let m = crate::cli::command(&env)
            .try_get_matches_from(full)
            .expect("parses");
        let Command::Cleanup(a) = Cli::from_arg_matches(&m).expect("cli").command else {
            panic!("not cleanup")
        };
        a.flags(None)
    }

    #[test]
    fn cleanup_flags_reach_the_request_as_given() {
        let f = flags(&[
            "--git-tag-strategy-limit",
            "3",
            "--git-commit-strategy-limit",
            "4",
            "--git-history-based-cleanup-v1.2",
        ]);
        let l = &f.limits;
        assert_eq!(
            (
                l.git_tag_limit,
                l.git_tag_expiry_days,
                l.git_commit_limit,
                l.git_commit_expiry_days
            ),
            (Some(3), None, Some(4), None)
        );
        assert!(!f.git_history_based_cleanup);
        assert_eq!(f.git_history_based_cleanup_v1_2, Some(true));
        assert_eq!(f.min_age, "2h");
        let f = flags(&[
            "--git-tag-strategy-expiry-days=-1",
            "--git-commit-strategy-expiry-days",
            "30",
            "--without-kube",
        ]);
        assert_eq!(
            (
                f.limits.git_tag_expiry_days,
                f.limits.git_commit_expiry_days
            ),
            (Some(-1), Some(30))
        );
        assert!(f.without_kube);
        assert_eq!(f.git_history_based_cleanup_v1_2, None);
    }
}
