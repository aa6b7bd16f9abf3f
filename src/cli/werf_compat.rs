//! werf 1.1 options that have no effect in Slipway. They parse, so a `.gitlab-ci.yml`
//! written for werf runs unchanged; each is hidden from help and warned about when given
//! (the `werf_ignored_` id prefix marks them, see `flags.rs`).

use std::path::{Path, PathBuf};

use clap::Args;

/// werf 1.1's global options that take effect in Slipway.
#[derive(Debug, Clone, Default, Args)]
pub struct WerfGlobal {
    /// A shallow clone is made whole first (`git fetch --unshallow` from origin, with the
    /// git CLI, as --git-history-synchronization does), as werf's --git-unshallow.
    #[arg(long = "git-unshallow", global = true, hide = true)]
    pub git_unshallow: bool,
}

impl WerfGlobal {
    /// Apply the options that act before a command: unshallow the project's clone.
    pub fn apply(&self, dir: &Path) -> anyhow::Result<()> {
        if !self.git_unshallow {
            return Ok(());
        }
        let shallow = git2::Repository::discover(dir).is_ok_and(|r| r.is_shallow());
        if shallow {
            crate::git::history::sync_with_origin(dir)?;
        }
        Ok(())
    }
}

/// Accepted by every command.
#[derive(Debug, Clone, Default, Args)]
pub struct IgnoredGlobal {
    #[arg(long = "home-dir", global = true)]
    pub werf_ignored_home_dir: Option<PathBuf>,
    #[arg(long = "tmp-dir", global = true)]
    pub werf_ignored_tmp_dir: Option<PathBuf>,
    #[arg(long = "config-templates-dir", global = true)]
    pub werf_ignored_config_templates_dir: Option<PathBuf>,
    #[arg(long = "log-color-mode", global = true)]
    pub werf_ignored_log_color_mode: Option<String>,
    #[arg(long = "log-pretty", global = true)]
    pub werf_ignored_log_pretty: bool,
    #[arg(long = "log-project-dir", global = true)]
    pub werf_ignored_log_project_dir: bool,
    #[arg(long = "log-terminal-width", global = true, allow_hyphen_values = true)]
    pub werf_ignored_log_terminal_width: Option<String>,
    #[arg(long = "allow-git-shallow-clone", global = true)]
    pub werf_ignored_allow_git_shallow_clone: bool,
    #[arg(long = "ssh-key", global = true)]
    pub werf_ignored_ssh_key: Vec<String>,
    #[arg(long = "virtual-merge", global = true)]
    pub werf_ignored_virtual_merge: bool,
    #[arg(long = "virtual-merge-from-commit", global = true)]
    pub werf_ignored_virtual_merge_from_commit: Option<String>,
    #[arg(long = "virtual-merge-into-commit", global = true)]
    pub werf_ignored_virtual_merge_into_commit: Option<String>,
    #[arg(long = "stages-storage-repo-implementation", global = true)]
    pub werf_ignored_stages_storage_repo_implementation: Option<String>,
    #[arg(long = "stages-storage-repo-docker-hub-username", global = true)]
    pub werf_ignored_stages_storage_repo_docker_hub_username: Option<String>,
    #[arg(long = "stages-storage-repo-docker-hub-password", global = true)]
    pub werf_ignored_stages_storage_repo_docker_hub_password: Option<String>,
    #[arg(long = "stages-storage-repo-docker-hub-token", global = true)]
    pub werf_ignored_stages_storage_repo_docker_hub_token: Option<String>,
    #[arg(long = "stages-storage-repo-github-token", global = true)]
    pub werf_ignored_stages_storage_repo_github_token: Option<String>,
}

/// Accepted by `build`, `publish` and `build-and-publish`: registry API credentials (only
/// cleanup calls vendor APIs), Kubernetes (only cleanup looks at deployed images) and
/// werf's stage introspection (an interactive debugging shell).
#[derive(Debug, Clone, Default, Args)]
pub struct IgnoredBuild {
    #[arg(long = "repo-docker-hub-username")]
    pub werf_ignored_repo_docker_hub_username: Option<String>,
    #[arg(long = "repo-docker-hub-password")]
    pub werf_ignored_repo_docker_hub_password: Option<String>,
    #[arg(long = "repo-docker-hub-token")]
    pub werf_ignored_repo_docker_hub_token: Option<String>,
    #[arg(long = "repo-github-token")]
    pub werf_ignored_repo_github_token: Option<String>,
    #[arg(long = "kube-config")]
    pub werf_ignored_kube_config: Option<String>,
    #[arg(long = "kube-context")]
    pub werf_ignored_kube_context: Option<String>,
    #[arg(long = "introspect-before-error")]
    pub werf_ignored_introspect_before_error: bool,
    #[arg(long = "introspect-error")]
    pub werf_ignored_introspect_error: bool,
}

/// Accepted by `cleanup` and `purge`: werf's parallelism of deletions (Slipway's is fixed).
#[derive(Debug, Clone, Default, Args)]
pub struct IgnoredCleanup {
    #[arg(long = "parallel", num_args = 0..=1, default_missing_value = "true")]
    pub werf_ignored_parallel: Option<String>,
    #[arg(long = "parallel-tasks-limit", allow_hyphen_values = true)]
    pub werf_ignored_parallel_tasks_limit: Option<String>,
}
