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
    /// werf.yaml's partials are read from this directory instead of the project's `.werf/`
    /// (werf's --config-templates-dir; a relative path is from the working directory).
    #[arg(long = "config-templates-dir", global = true, hide = true)]
    pub config_templates_dir: Option<PathBuf>,
    /// cleanup takes a shallow clone's history as it is instead of refusing it (werf's
    /// --allow-git-shallow-clone: "sign the intention of using shallow clone").
    #[arg(long = "allow-git-shallow-clone", global = true, hide = true)]
    pub allow_git_shallow_clone: bool,
    /// Private key files: builds get an ssh-agent holding only these (stapel steps and
    /// `ssh: default` reach it; remote git mappings are fetched with it), as werf's
    /// --ssh-key. `WERF_SSH_KEY_*` variables add theirs first, as werf's do.
    #[arg(long = "ssh-key", global = true, hide = true)]
    pub ssh_keys: Vec<PathBuf>,
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

    /// werf's key files: `WERF_SSH_KEY_*` first, then `--ssh-key` (werf's `GetSSHKey`).
    pub fn ssh_keys(&self, env: &super::flags::Env) -> Vec<PathBuf> {
        super::flags::ssh_keys_from_env(env)
            .into_iter()
            .chain(self.ssh_keys.iter().cloned())
            .filter(|k| !k.as_os_str().is_empty())
            .collect()
    }
}

/// werf's --ssh-key: an agent with only those keys for the commands that build, kept
/// running while the returned value lives.
pub fn ssh_agent(
    command: &super::Command,
    settings: &mut crate::settings::Settings,
) -> anyhow::Result<Option<crate::build::ssh::KeyAgent>> {
    use super::Command;
    let builds = matches!(
        command,
        Command::Build(_)
            | Command::Publish(_)
            | Command::BuildAndPublish(_)
            | Command::Run(_)
            | Command::Stages(_)
            | Command::Stage(_)
            | Command::Images(_)
    );
    if !builds || settings.ssh_keys.is_empty() {
        return Ok(None);
    }
    let agent = crate::build::ssh::KeyAgent::start(&settings.ssh_keys)?;
    settings.ssh_agent = Some(agent.socket().to_path_buf());
    Ok(Some(agent))
}

/// Accepted by every command.
#[derive(Debug, Clone, Default, Args)]
pub struct IgnoredGlobal {
    #[arg(long = "home-dir", global = true)]
    pub werf_ignored_home_dir: Option<PathBuf>,
    #[arg(long = "tmp-dir", global = true)]
    pub werf_ignored_tmp_dir: Option<PathBuf>,
    #[arg(long = "log-color-mode", global = true)]
    pub werf_ignored_log_color_mode: Option<String>,
    #[arg(long = "log-pretty", global = true)]
    pub werf_ignored_log_pretty: bool,
    #[arg(long = "log-project-dir", global = true)]
    pub werf_ignored_log_project_dir: bool,
    #[arg(long = "log-terminal-width", global = true, allow_hyphen_values = true)]
    pub werf_ignored_log_terminal_width: Option<String>,
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
