//! What a cleanup tells after deleting: per repository what was kept and deleted, the
//! failed deletions, and the rights a refused deletion lacked (docs/troubleshooting.md).

use std::collections::BTreeMap;

use super::policy::{Decision, KubeCheck, Plan};
use super::{CleanupError, Outcome};
use crate::registry::RegistryError;

/// The fix for a refused delete: CI job tokens (GitLab's) may push but not delete.
pub const DELETE_RIGHTS: &str = "cleanup needs credentials allowed to delete tags, and GitLab's \
     job token (CI_JOB_TOKEN, CI_REGISTRY_PASSWORD) is not: give the cleanup job a personal or \
     project access token with the api scope as --registry-username/--registry-password \
     (SLIPWAY_REGISTRY_PASSWORD; werf's guide calls it WERF_IMAGES_CLEANUP_PASSWORD)";

/// A DELETE the registry refused names the usual cause and its fix.
pub(super) fn refused_delete(e: CleanupError) -> CleanupError {
    match e {
        CleanupError::Registry(
            e @ (RegistryError::Denied { .. } | RegistryError::Unauthorized { .. }),
        ) => CleanupError::DeleteRefused(e),
        e => e,
    }
}

/// Per repository: tags kept and deleted; and a Kubernetes scan that did not happen.
pub fn summary(plan: &Plan) -> String {
    let mut rows: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for i in plan.items() {
        let r = rows.entry(i.tag.repository.to_string()).or_default();
        match i.decision {
            Decision::Keep => r.0 += 1,
            Decision::Delete => r.1 += 1,
        }
    }
    let mut s = format!("{:<50} {:>6} {:>8}\n", "REPOSITORY", "KEPT", "DELETED");
    for (repo, (kept, deleted)) in rows {
        s.push_str(&format!("{repo:<50} {kept:>6} {deleted:>8}\n"));
    }
    if let Some(KubeCheck::NotChecked { reason }) = &plan.kubernetes {
        s.push_str(&format!(
            "Kubernetes not checked ({reason}): images running in a cluster were not protected\n"
        ));
    }
    s
}

/// The failed deletions, one a line, with the rights to ask for when a vendor's tag API
/// refused (GitLab's `DELETE …/tags/reference/…` answers 401/403); `None`: none failed.
pub fn failures(out: &Outcome) -> Option<String> {
    if out.failures.is_empty() {
        return None;
    }
    let mut text = format!("{} deletion(s) failed:", out.failures.len());
    for f in &out.failures {
        text.push_str(&format!("\n  {f}"));
    }
    if out
        .failures
        .iter()
        .any(|f| f.contains("answered 401") || f.contains("answered 403"))
    {
        text.push_str(&format!("\n{DELETE_RIGHTS}"));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_vendor_delete_names_the_rights_needed() {
        assert_eq!(failures(&Outcome::default()), None);
        let out = Outcome {
            failures: vec![
                "r/app:a: gitlab answered 403".into(),
                "r/app:b: timed out".into(),
            ],
            ..Default::default()
        };
        let text = failures(&out).expect("failures");
        assert!(text.starts_with(
            "2 deletion(s) failed:\n  r/app:a: gitlab answered 403\n  r/app:b: timed out\n"
        ));
        assert!(text.ends_with(DELETE_RIGHTS), "{text}");
        let out = Outcome {
            failures: vec!["r/app:b: timed out".into()],
            ..Default::default()
        };
        assert!(!failures(&out).expect("failures").contains(DELETE_RIGHTS));
    }
}
