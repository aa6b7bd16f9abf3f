//! werf 1.1's names for Slipway's options: the one table that the CLI (clap aliases,
//! short forms, variables), `ci-env` (which variables it writes and skips) and the docs
//! read.

/// werf 1.1's names for one Slipway option, keyed by Slipway's long flag.
#[derive(Debug, Clone, Copy)]
pub struct WerfFlag {
    /// Slipway's long flag.
    pub long: &'static str,
    /// werf's long names when they differ from Slipway's (accepted as aliases).
    pub aliases: &'static [&'static str],
    /// werf's short form.
    pub short: Option<char>,
    /// werf's variables, in werf's order of preference.
    pub env: &'static [&'static str],
}

const fn w(
    long: &'static str,
    aliases: &'static [&'static str],
    short: Option<char>,
    env: &'static [&'static str],
) -> WerfFlag {
    WerfFlag {
        long,
        aliases,
        short,
        env,
    }
}

/// The one table of werf names. Options missing here are Slipway's own (`SLIPWAY_*` only).
pub const WERF_FLAGS: &[WerfFlag] = &[
    w("dir", &[], None, &["WERF_DIR"]),
    // Slipway's own: werf has no such option (`SLIPWAY_WERF_VERSION`).
    w("werf-version", &[], None, &[]),
    w("config", &[], None, &["WERF_CONFIG"]),
    w(
        "giterminism-config",
        &[],
        None,
        &["WERF_GITERMINISM_CONFIG"],
    ),
    w("loose-giterminism", &[], None, &["WERF_LOOSE_GITERMINISM"]),
    w("env", &[], None, &["WERF_ENV"]),
    // werf's deploy option; Slipway's helm values (`global.namespace`) read it.
    w("namespace", &[], None, &["WERF_NAMESPACE"]),
    w("images-repo", &[], Some('i'), &["WERF_IMAGES_REPO"]),
    w("images-repo-mode", &[], None, &["WERF_IMAGES_REPO_MODE"]),
    w(
        "implementation",
        &["images-repo-implementation", "repo-implementation"],
        None,
        &[
            "WERF_IMAGES_REPO_IMPLEMENTATION",
            "WERF_REPO_IMPLEMENTATION",
        ],
    ),
    w("insecure-registry", &[], None, &["WERF_INSECURE_REGISTRY"]),
    w(
        "skip-tls-verify-registry",
        &[],
        None,
        &["WERF_SKIP_TLS_VERIFY_REGISTRY"],
    ),
    w("docker-config", &[], None, &["WERF_DOCKER_CONFIG"]),
    // `run`'s options for `docker run` (werf 1.1's run reads this variable).
    w("docker-options", &[], None, &["WERF_DOCKER_OPTIONS"]),
    w("git-unshallow", &[], None, &["WERF_GIT_UNSHALLOW"]),
    w(
        "config-templates-dir",
        &[],
        None,
        &["WERF_CONFIG_TEMPLATES_DIR"],
    ),
    w(
        "allow-git-shallow-clone",
        &[],
        None,
        &["WERF_ALLOW_GIT_SHALLOW_CLONE"],
    ),
    // `WERF_SSH_KEY_*` (any suffix) is read by `ssh_keys_from_env`.
    w("ssh-key", &[], None, &[]),
    // werf 1.2's `host cleanup` options (werf 1.1's has none of them).
    w(
        "allowed-docker-storage-volume-usage",
        &[],
        None,
        &["WERF_ALLOWED_DOCKER_STORAGE_VOLUME_USAGE"],
    ),
    w(
        "allowed-docker-storage-volume-usage-margin",
        &[],
        None,
        &["WERF_ALLOWED_DOCKER_STORAGE_VOLUME_USAGE_MARGIN"],
    ),
    w(
        "docker-server-storage-path",
        &[],
        None,
        &["WERF_DOCKER_SERVER_STORAGE_PATH"],
    ),
    w(
        "log-verbose",
        &["verbose"],
        None,
        &["WERF_LOG_VERBOSE", "WERF_VERBOSE"],
    ),
    w(
        "log-debug",
        &["debug"],
        None,
        &["WERF_LOG_DEBUG", "WERF_DEBUG"],
    ),
    w(
        "log-quiet",
        &["quiet"],
        None,
        &["WERF_LOG_QUIET", "WERF_QUIET"],
    ),
    // werf 1.2's names; werf 1.1 had none.
    w("registry-username", &[], None, &["WERF_REPO_USERNAME"]),
    w("registry-password", &[], None, &["WERF_REPO_PASSWORD"]),
    // `WERF_TAG_CUSTOM_*` (any suffix) is read by [`tag_custom_from_env`].
    w("tag-custom", &[], None, &[]),
    w("tag-git-branch", &[], None, &["WERF_TAG_GIT_BRANCH"]),
    w("tag-git-tag", &[], None, &["WERF_TAG_GIT_TAG"]),
    w("tag-git-commit", &[], None, &["WERF_TAG_GIT_COMMIT"]),
    w(
        "tag-by-content",
        &["tag-by-stages-signature"],
        None,
        &["WERF_TAG_BY_STAGES_SIGNATURE"],
    ),
    w("parallel", &[], Some('p'), &["WERF_PARALLEL"]),
    // werf 2's (werf 1.1 had none).
    w("platform", &[], None, &["WERF_PLATFORM"]),
    w(
        "parallel-tasks-limit",
        &[],
        None,
        &["WERF_PARALLEL_TASKS_LIMIT"],
    ),
    w(
        "publish-report-path",
        &[],
        None,
        &["WERF_PUBLISH_REPORT_PATH"],
    ),
    w(
        "publish-report-format",
        &[],
        None,
        &["WERF_PUBLISH_REPORT_FORMAT"],
    ),
    w("stages-storage", &[], Some('s'), &["WERF_STAGES_STORAGE"]),
    w("synchronization", &[], Some('S'), &["WERF_SYNCHRONIZATION"]),
    w("dry-run", &[], None, &["WERF_DRY_RUN"]),
    w("force", &[], None, &["WERF_FORCE"]),
    w(
        "git-history-based-cleanup",
        &[],
        None,
        &["WERF_GIT_HISTORY_BASED_CLEANUP"],
    ),
    w(
        "git-tag-strategy-limit",
        &[],
        None,
        &["WERF_GIT_TAG_STRATEGY_LIMIT"],
    ),
    w(
        "git-tag-strategy-expiry-days",
        &[],
        None,
        &["WERF_GIT_TAG_STRATEGY_EXPIRY_DAYS"],
    ),
    w(
        "git-commit-strategy-limit",
        &[],
        None,
        &["WERF_GIT_COMMIT_STRATEGY_LIMIT"],
    ),
    w(
        "git-commit-strategy-expiry-days",
        &[],
        None,
        &["WERF_GIT_COMMIT_STRATEGY_EXPIRY_DAYS"],
    ),
    w(
        "repo-docker-hub-username",
        &["images-repo-docker-hub-username"],
        None,
        &[
            "WERF_IMAGES_REPO_DOCKER_HUB_USERNAME",
            "WERF_REPO_DOCKER_HUB_USERNAME",
        ],
    ),
    w(
        "repo-docker-hub-password",
        &["images-repo-docker-hub-password"],
        None,
        &[
            "WERF_IMAGES_REPO_DOCKER_HUB_PASSWORD",
            "WERF_REPO_DOCKER_HUB_PASSWORD",
        ],
    ),
    w(
        "repo-docker-hub-token",
        &["images-repo-docker-hub-token"],
        None,
        &[
            "WERF_IMAGES_REPO_DOCKER_HUB_TOKEN",
            "WERF_REPO_DOCKER_HUB_TOKEN",
        ],
    ),
    w(
        "repo-github-token",
        &["images-repo-github-token"],
        None,
        &["WERF_IMAGES_REPO_GITHUB_TOKEN", "WERF_REPO_GITHUB_TOKEN"],
    ),
    w(
        "repo-quay-token",
        &["images-repo-quay-token"],
        None,
        &["WERF_IMAGES_REPO_QUAY_TOKEN", "WERF_REPO_QUAY_TOKEN"],
    ),
    // Kubernetes-aware cleanup (behaviour in `cli/cleanup.rs`).
    w(
        "kube-config",
        &[],
        None,
        &["WERF_KUBE_CONFIG", "WERF_KUBECONFIG", "KUBECONFIG"],
    ),
    // werf reads the base64 spellings first (kubedog: config data wins over files).
    w(
        "kube-config-base64",
        &[],
        None,
        &[
            "WERF_KUBE_CONFIG_BASE64",
            "WERF_KUBECONFIG_BASE64",
            "KUBECONFIG_BASE64",
        ],
    ),
    w("kube-context", &[], None, &["WERF_KUBE_CONTEXT"]),
    w(
        "scan-context-namespace-only",
        &[],
        None,
        &["WERF_SCAN_CONTEXT_NAMESPACE_ONLY"],
    ),
    w("without-kube", &[], None, &["WERF_WITHOUT_KUBE"]),
    w(
        "git-history-synchronization",
        &[],
        None,
        &["WERF_GIT_HISTORY_SYNCHRONIZATION"],
    ),
    w(
        "git-history-based-cleanup-v1.2",
        &[],
        None,
        // werf 1.1.36's own spelling first (cmd/werf/cleanup/cleanup.go:76).
        &[
            "WERF_GIT_HISTORY_BASED_CLEANUP_v1_2",
            "WERF_GIT_HISTORY_BASED_CLEANUP_V1_2",
        ],
    ),
    // ci-env
    w("as-file", &[], None, &["WERF_AS_FILE"]),
    w("as-env-file", &[], None, &["WERF_AS_ENV_FILE"]),
    w(
        "output-file-path",
        &[],
        Some('o'),
        &["WERF_OUTPUT_FILE_PATH"],
    ),
    w("shell", &[], None, &["WERF_SHELL"]),
    // Slipway's own (`SLIPWAY_STAPEL_TOOLBOX`); werf's `WERF_STAPEL_IMAGE_NAME` and
    // `_VERSION` name one image in two variables, read by `HostEnv::werf_stapel_image`.
    w("stapel-toolbox", &[], None, &[]),
];

/// `SLIPWAY_<LONG>` for a long flag.
pub fn slipway_env(long: &str) -> String {
    format!(
        "SLIPWAY_{}",
        long.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

/// Options one command has under a generic name: they read `SLIPWAY_<COMMAND>_<OPTION>`, so
/// a CI variable such as `SLIPWAY_TAG` meant for something else does not reach them
/// (issue 37). The bare `SLIPWAY_<OPTION>` is still read, with a warning, until 0.3.
pub const COMMAND_SCOPED: &[(&str, &str)] = &[
    ("promote", "tag"),
    ("promote", "to"),
    ("promote", "move"),
    ("push-archive", "tag"),
    ("push-archive", "image"),
    ("slugify", "format"),
];

/// The variable of `command`'s `--long`, and the old name it replaces when scoped.
pub fn command_env(command: &str, long: &str) -> (String, Option<String>) {
    if COMMAND_SCOPED.contains(&(command, long)) {
        (
            slipway_env(&format!("{command}-{long}")),
            Some(slipway_env(long)),
        )
    } else {
        (slipway_env(long), None)
    }
}

/// The variables `command`'s `--long` is read from, in precedence order: Slipway's name,
/// the old unscoped one (still read until 0.3), werf's.
pub fn command_env_names(command: &str, long: &str) -> Vec<String> {
    let (name, old) = command_env(command, long);
    std::iter::once(name)
        .chain(old)
        .chain(werf_env(long).iter().map(|s| s.to_string()))
        .collect()
}

/// werf's variables for a Slipway long flag, in order of preference.
pub fn werf_env(long: &str) -> &'static [&'static str] {
    WERF_FLAGS
        .iter()
        .find(|f| f.long == long)
        .map(|f| f.env)
        .unwrap_or(&[])
}

/// The variables an option is read from, in precedence order.
pub fn env_names(long: &str) -> Vec<String> {
    std::iter::once(slipway_env(long))
        .chain(werf_env(long).iter().map(|s| s.to_string()))
        .collect()
}

/// A value that is none of werf's booleans (the value as given).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?}: use 1, true or yes (or 0, false, no)")]
pub struct NotABool(pub String);

/// Boolean values as werf reads them (`1`, `true`, `yes`), plus their negations.
pub fn parse_bool(s: &str) -> Result<bool, NotABool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(NotABool(s.to_string())),
    }
}

/// The Slipway variable of the option werf reads from `werf_var` (for `ci-env`: a value
/// the user set under either name is left alone).
pub fn slipway_twin(werf_var: &str) -> Option<String> {
    WERF_FLAGS
        .iter()
        .find(|f| f.env.contains(&werf_var))
        .map(|f| slipway_env(f.long))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bools_as_werf_reads_them() {
        for t in ["1", "true", "yes", "TRUE"] {
            assert_eq!(parse_bool(t), Ok(true), "{t}");
        }
        for f in ["0", "false", "no"] {
            assert_eq!(parse_bool(f), Ok(false), "{f}");
        }
        assert!(parse_bool("maybe").is_err());
    }

    #[test]
    fn env_names_slipway_first_then_werf() {
        assert_eq!(
            env_names("tag-by-content"),
            vec!["SLIPWAY_TAG_BY_CONTENT", "WERF_TAG_BY_STAGES_SIGNATURE"]
        );
        assert_eq!(
            env_names("implementation"),
            vec![
                "SLIPWAY_IMPLEMENTATION",
                "WERF_IMAGES_REPO_IMPLEMENTATION",
                "WERF_REPO_IMPLEMENTATION"
            ]
        );
        assert_eq!(env_names("min-age"), vec!["SLIPWAY_MIN_AGE"]);
    }

    #[test]
    fn twins() {
        assert_eq!(
            slipway_twin("WERF_TAG_BY_STAGES_SIGNATURE").as_deref(),
            Some("SLIPWAY_TAG_BY_CONTENT")
        );
        assert_eq!(slipway_twin("WERF_NOPE"), None);
    }
}
