//! `slipway cleanup` and `slipway purge`.

use std::process::ExitCode;

use clap::Args;

use crate::cleanup::{self, policy};
use crate::config;
use crate::naming::Naming;
use crate::registry::Client;
use crate::registry::vendors::deleter::VendorCredentials;
use crate::registry::vendors::ecr::AwsKeys;
use crate::settings::{Secret, Settings};

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
    /// Tag-scheme mode: git-tag tags kept per image (-1: all) [default: 10].
    #[arg(long, allow_negative_numbers = true)]
    pub git_tag_strategy_limit: Option<i64>,
    /// Tag-scheme mode: git-tag tags older than this many days are deleted (-1: never)
    /// [default: 30].
    #[arg(long, allow_negative_numbers = true)]
    pub git_tag_strategy_expiry_days: Option<i64>,
    /// Tag-scheme mode: git-commit tags kept per image (-1: all) [default: 50].
    #[arg(long, allow_negative_numbers = true)]
    pub git_commit_strategy_limit: Option<i64>,
    /// Tag-scheme mode: git-commit tags older than this many days are deleted (-1: never)
    /// [default: 30].
    #[arg(long, allow_negative_numbers = true)]
    pub git_commit_strategy_expiry_days: Option<i64>,
    // werf 1.1 options with no effect here. The Kubernetes ones get their behaviour on the
    // cleanup/Kubernetes branch: at merge, keep that branch's definitions and drop these.
    #[arg(long = "kube-config")]
    pub werf_ignored_kube_config: Option<String>,
    #[arg(long = "kube-context")]
    pub werf_ignored_kube_context: Option<String>,
    #[arg(long = "without-kube")]
    pub werf_ignored_without_kube: bool,
    #[arg(long = "git-history-synchronization")]
    pub werf_ignored_git_history_synchronization: bool,
    #[arg(long = "scan-context-namespace-only")]
    pub werf_ignored_scan_context_namespace_only: bool,
    #[arg(long = "git-history-based-cleanup-v1.2")]
    pub werf_ignored_git_history_based_cleanup_v1_2: bool,
    #[command(flatten)]
    pub werf_ignored: super::werf_compat::IgnoredCleanup,
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

fn print_plan(settings: &Settings, plan: &policy::Plan) -> anyhow::Result<()> {
    if settings.json {
        println!("{}", serde_json::to_string_pretty(plan)?);
    } else {
        print!("{plan}");
    }
    Ok(())
}

async fn finish(
    settings: &Settings,
    client: &Client,
    plan: &policy::Plan,
    naming: &Naming,
    vendor: &VendorArgs,
) -> anyhow::Result<ExitCode> {
    let out = cleanup::execute(client, plan, naming.implementation, &vendor.credentials()).await?;
    if settings.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    eprintln!(
        "deleted {} manifest(s), {} tag(s)",
        out.deleted_manifests, out.deleted_tags
    );
    if out.deleted_manifests > 0 {
        eprintln!("{}", cleanup::GC_HINT);
    }
    if !out.failures.is_empty() {
        eprintln!("{} deletion(s) failed:", out.failures.len());
        for f in &out.failures {
            eprintln!("  {f}");
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn run(settings: &Settings, args: CleanupArgs) -> anyhow::Result<ExitCode> {
    let tag_scheme = !args.git_history_based_cleanup;
    let min_age = humantime::parse_duration(&args.min_age)
        .map_err(|e| anyhow::anyhow!("--min-age {:?}: {e}", args.min_age))?;
    let opts = cleanup::options(&args.keep_tags, min_age)?;
    let cfg = config::load(settings)?;
    let naming = Naming::new(settings)?
        .ok_or_else(|| anyhow::anyhow!("--images-repo is required for cleanup"))?;
    let refs = cleanup::git_refs(&cfg.dir, 1000)?;
    let _lock = cleanup::lock_project(&cfg, &naming)?;
    let client = Client::new(settings);
    let tags = cleanup::inventory(&client, &cfg, &naming).await?;
    let policies = cfg
        .cleanup
        .keep_policies
        .clone()
        .unwrap_or_else(policy::default_policies);
    let plan = if tag_scheme {
        let commits: Vec<String> = tags.iter().filter_map(|t| t.commit.clone()).collect();
        let git = policy::GitState {
            branches: refs
                .iter()
                .filter(|r| !r.is_tag)
                .map(|r| r.name.clone())
                .collect(),
            tags: refs
                .iter()
                .filter(|r| r.is_tag)
                .map(|r| r.name.clone())
                .collect(),
            commits: cleanup::existing_commits(&cfg.dir, &commits)?,
        };
        let d = policy::TagScheme::default();
        let scheme = policy::TagScheme {
            git_tag_limit: args.git_tag_strategy_limit.unwrap_or(d.git_tag_limit),
            git_tag_expiry_days: args
                .git_tag_strategy_expiry_days
                .unwrap_or(d.git_tag_expiry_days),
            git_commit_limit: args.git_commit_strategy_limit.unwrap_or(d.git_commit_limit),
            git_commit_expiry_days: args
                .git_commit_strategy_expiry_days
                .unwrap_or(d.git_commit_expiry_days),
        };
        policy::decide_tag_scheme(tags, &git, &scheme, &opts)
    } else {
        policy::decide(tags, &refs, &policies, &opts)
    };
    print_plan(settings, &plan)?;
    if args.dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    finish(settings, &client, &plan, &naming, &args.vendor).await
}

pub async fn run_purge(settings: &Settings, args: PurgeArgs) -> anyhow::Result<ExitCode> {
    let cfg = config::load(settings)?;
    let naming = Naming::new(settings)?
        .ok_or_else(|| anyhow::anyhow!("--images-repo is required for purge"))?;
    let _lock = cleanup::lock_project(&cfg, &naming)?;
    let client = Client::new(settings);
    let plan = policy::purge(cleanup::inventory(&client, &cfg, &naming).await?);
    print_plan(settings, &plan)?;
    if args.dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    if !args.force {
        anyhow::bail!("purge deletes every image above; run again with --force to do it");
    }
    finish(settings, &client, &plan, &naming, &args.vendor).await
}
