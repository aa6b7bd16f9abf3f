//! The platform manifests of the image indexes a plan deletes (issue 34). Deleting an index
//! by digest leaves the manifests it lists in the repository, reachable by digest only: each
//! goes after its index, unless a kept tag is that manifest or a kept index lists it too
//! (two tags of a two-platform image whose amd64 side did not change share that manifest).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::{Decision, ManifestDigest, Plan, short};

/// One platform manifest of a deleted index, and its fate.
#[derive(Debug, Clone, Serialize)]
pub struct ChildItem {
    #[serde(serialize_with = "super::shared_str")]
    pub repository: Arc<str>,
    pub digest: String,
    /// `os/arch[/variant]` as the (first) index lists it; empty when it does not say.
    pub platform: String,
    /// The deleted indexes that list it (digests): it goes after all of them.
    pub indexes: Vec<String>,
    pub decision: Decision,
    pub reason: String,
}

impl fmt::Display for ChildItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = match self.decision {
            Decision::Keep => "keep  ",
            Decision::Delete => "delete",
        };
        let platform = if self.platform.is_empty() {
            "platform not given"
        } else {
            &self.platform
        };
        write!(
            f,
            "{d} {}@{} ({platform}) {}",
            self.repository,
            short(&self.digest),
            self.reason
        )
    }
}

/// Fill `plan.children`: every manifest listed by an index the plan deletes, deleted after
/// it unless a kept tag holds it (tagged itself, or listed by a kept index). `tags_only`:
/// the registry's own API deletes single tags (`Some(vendor name)`), so the indexes stay
/// untagged in the repository and their manifests are left to the registry's garbage
/// collection.
pub fn plan_children(plan: &mut Plan, tags_only: Option<&str>) {
    // The manifests deleted indexes list: only these can be held (most plans have none).
    let listed: BTreeSet<(&str, ManifestDigest)> = plan
        .deletions()
        .flat_map(|i| {
            let t = &i.tag;
            t.children
                .iter()
                .map(|c| (&*t.repository, ManifestDigest::new(&c.digest)))
        })
        .collect();
    if listed.is_empty() {
        plan.children.clear();
        return;
    }
    // What keeps one of them: (repository, digest) → the kept tag or index holding it.
    let mut held: BTreeMap<(&str, ManifestDigest), String> = BTreeMap::new();
    for i in plan.items().filter(|i| i.decision == Decision::Keep) {
        let t = &i.tag;
        let key = (&*t.repository, t.digest.clone());
        if listed.contains(&key) {
            held.entry(key)
                .or_insert_with(|| format!("it is kept tag {}:{}", t.repository, t.tag));
        }
        for c in &t.children {
            let key = (&*t.repository, ManifestDigest::new(&c.digest));
            if listed.contains(&key) {
                held.entry(key).or_insert_with(|| {
                    format!("kept index {}:{} lists it too", t.repository, t.tag)
                });
            }
        }
    }
    // (repository, digest) → the item, in the order the deleted indexes list them.
    let mut out: BTreeMap<(Arc<str>, String), ChildItem> = BTreeMap::new();
    let mut order: Vec<(Arc<str>, String)> = Vec::new();
    for i in plan.deletions().filter(|i| !i.tag.children.is_empty()) {
        let t = &i.tag;
        for c in &t.children {
            let key = (t.repository.clone(), c.digest.clone());
            let item = out.entry(key.clone()).or_insert_with(|| {
                order.push(key);
                let (decision, reason) = match (held.get(&(&*t.repository, ManifestDigest::new(&c.digest))), tags_only) {
                    (Some(by), _) => (
                        Decision::Keep,
                        format!("platform manifest of deleted index {}:{}, kept: {by}", t.repository, t.tag),
                    ),
                    (None, Some(vendor)) => (
                        Decision::Keep,
                        format!("platform manifest of index {}:{}: {vendor} deletes the tag alone, the index and its manifests are left to the registry's garbage collection", t.repository, t.tag),
                    ),
                    (None, None) => (
                        Decision::Delete,
                        format!("platform manifest of deleted index {}:{}, deleted after it", t.repository, t.tag),
                    ),
                };
                ChildItem {
                    repository: t.repository.clone(),
                    digest: c.digest.clone(),
                    platform: c.platform.clone(),
                    indexes: Vec::new(),
                    decision,
                    reason,
                }
            });
            if !item.indexes.iter().any(|d| t.digest == *d) {
                item.indexes.push(t.digest.to_string());
            }
        }
    }
    plan.children = order.into_iter().filter_map(|k| out.remove(&k)).collect();
}

#[cfg(test)]
mod tests {
    use super::super::{Facts, IndexChild, TagInfo};
    use super::*;

    fn index(
        tag: &str,
        digest: &str,
        children: &[&str],
        decision: Decision,
    ) -> (TagInfo, Decision, &'static str) {
        (
            TagInfo {
                facts: Arc::new(Facts {
                    image: Some("app".into()),
                    repository: "r/app".into(),
                    children: children
                        .iter()
                        .zip(["linux/amd64", "linux/arm64"])
                        .map(|(d, p)| IndexChild {
                            digest: d.to_string(),
                            platform: p.into(),
                        })
                        .collect(),
                    ..Default::default()
                }),
                tag: tag.into(),
                digest: digest.into(),
            },
            decision,
            "test",
        )
    }

    fn fates(plan: &Plan) -> Vec<(&str, Decision, &str)> {
        plan.children
            .iter()
            .map(|c| (c.digest.as_str(), c.decision, c.reason.as_str()))
            .collect()
    }

    #[test]
    fn a_child_shared_with_a_kept_index_or_tag_stays_the_rest_go_after_their_index() {
        let mut plan = Plan::from_items(vec![
            index(
                "main",
                "sha256:i1",
                &["sha256:amd", "sha256:arm1"],
                Decision::Keep,
            ),
            index(
                "feature",
                "sha256:i2",
                &["sha256:amd", "sha256:arm2"],
                Decision::Delete,
            ),
            index(
                "old",
                "sha256:i3",
                &["sha256:amd3", "sha256:arm3"],
                Decision::Delete,
            ),
            // arm3 is also tagged by itself, and that tag is kept.
            index("arm-only", "sha256:arm3", &[], Decision::Keep),
            // A second deleted index listing arm2: one item, both indexes named.
            index("again", "sha256:i4", &["sha256:arm2"], Decision::Delete),
        ]);
        plan_children(&mut plan, None);
        let f = fates(&plan);
        let digests: Vec<&str> = f.iter().map(|(d, _, _)| *d).collect();
        assert_eq!(
            digests,
            ["sha256:amd", "sha256:arm2", "sha256:amd3", "sha256:arm3"]
        );
        assert_eq!(f[0].1, Decision::Keep);
        assert!(
            f[0].2.contains("kept index r/app:main lists it too"),
            "{}",
            f[0].2
        );
        assert_eq!((f[1].1, f[2].1), (Decision::Delete, Decision::Delete));
        assert_eq!(plan.children[1].indexes, ["sha256:i2", "sha256:i4"]);
        assert_eq!(f[3].1, Decision::Keep);
        assert!(
            f[3].2.contains("it is kept tag r/app:arm-only"),
            "{}",
            f[3].2
        );
        assert_eq!(
            plan.children[1].to_string(),
            "delete r/app@arm2 (linux/arm64) platform manifest of deleted index r/app:feature, deleted after it"
        );
    }

    #[test]
    fn a_tag_deleting_vendor_leaves_the_children_to_its_garbage_collection() {
        let mut plan = Plan::from_items(vec![index(
            "old",
            "sha256:i",
            &["sha256:a", "sha256:b"],
            Decision::Delete,
        )]);
        plan_children(&mut plan, Some("gitlab"));
        assert!(plan.children.iter().all(|c| c.decision == Decision::Keep));
        assert!(
            plan.children[0]
                .reason
                .contains("gitlab deletes the tag alone")
        );
        // Nothing deleted, nothing listed as deleted: a kept index's children are not listed.
        let mut kept = Plan::from_items(vec![index(
            "main",
            "sha256:i",
            &["sha256:a"],
            Decision::Keep,
        )]);
        plan_children(&mut kept, None);
        assert!(kept.children.is_empty());
    }
}
