//! The `cleanup:` section of the meta document.

use std::time::Duration;

use serde::Serialize;

/// `cleanup:` section.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CleanupConfig {
    /// `keepPolicies:`; `None` when absent or empty (werf's defaults apply then).
    pub keep_policies: Option<Vec<KeepPolicy>>,
    /// `disable: true` (werf 2): cleanup does nothing.
    pub disable: bool,
    /// `disableKubernetesBasedPolicy: true` (werf 1.2): images in use in Kubernetes are not
    /// looked up (as `--without-kube`).
    pub disable_kubernetes_based_policy: bool,
    /// `disableGitHistoryBasedPolicy: true` (werf 1.2): no tag is deleted for git history
    /// reasons.
    pub disable_git_history_based_policy: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeepPolicy {
    pub references: References,
    /// `None`: every image reached in the reference's history is kept (werf).
    pub images_per_reference: Option<Limit>,
}

/// Which git references a policy covers: exactly one of `branch:` / `tag:`. Both hold the
/// regex werf derives from the value: a plain string `main` becomes `^main$` (exact
/// match), `/re/` is the regex `re` as written.
#[derive(Debug, Clone, Default, Serialize)]
pub struct References {
    pub branch: Option<String>,
    pub tag: Option<String>,
    pub limit: Option<Limit>,
}

/// `{last, in, operator}`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Limit {
    /// `-1`: no limit.
    pub last: Option<i64>,
    #[serde(rename = "in")]
    pub in_: Option<Duration>,
    /// How `last` and `in` combine when both are set (default `And`).
    pub operator: LimitOperator,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum LimitOperator {
    #[default]
    And,
    Or,
}
