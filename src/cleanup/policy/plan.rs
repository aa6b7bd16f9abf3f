//! The plan: every tag with its keep/delete decision and why.
//!
//! A registry of 40,000 tags is a plan of 40,000 entries (issue 31: the peak memory at 40k
//! tags within 10 % of 10k's), so the plan keeps the inventory's list of tags as it came
//! (moved in, never copied into a second list of items), a four-byte verdict per tag beside
//! it, and each reason once in a table. [`Item`] is a view of one entry.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::ser::SerializeStruct;

use super::{ChildItem, ManifestDigest, TagInfo};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Keep,
    Delete,
}

/// One tag's fate and why (a view into the [`Plan`]).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Item<'a> {
    #[serde(flatten)]
    pub tag: &'a TagInfo,
    pub decision: Decision,
    pub reason: &'a str,
}

/// Whether cleanup asked Kubernetes which images run: the plan's summary says so, so a
/// plan made without that protection never reads like one made with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum KubeCheck {
    Checked { contexts: Vec<String> },
    NotChecked { reason: String },
}

/// The cleanup plan: every tag with keep/delete and the reason.
#[derive(Debug, Clone)]
pub struct Plan {
    tags: Vec<TagInfo>,
    /// One per tag, in the same order.
    verdicts: Vec<Verdict>,
    reasons: Reasons,
    /// Set by cleanup (purge deletes everything and asks no cluster).
    pub kubernetes: Option<KubeCheck>,
    /// The platform manifests of the indexes the plan deletes ([`super::plan_children`]).
    pub children: Vec<ChildItem>,
}

/// A decision and the index of its reason in the plan's table, in one `u32`: the top bit
/// says delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Verdict(u32);

impl Verdict {
    const DELETE: u32 = 1 << 31;

    fn new(decision: Decision, reason: ReasonId) -> Verdict {
        match decision {
            Decision::Keep => Verdict(reason.0),
            Decision::Delete => Verdict(reason.0 | Self::DELETE),
        }
    }

    fn decision(self) -> Decision {
        if self.0 & Self::DELETE == 0 {
            Decision::Keep
        } else {
            Decision::Delete
        }
    }

    fn reason(self) -> ReasonId {
        ReasonId(self.0 & !Self::DELETE)
    }
}

/// A reason in a plan's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReasonId(u32);

/// Each reason once (a reason per tag would be a string per tag), found by its text.
#[derive(Debug, Clone, Default)]
struct Reasons {
    table: Vec<Arc<str>>,
    index: HashMap<Arc<str>, u32>,
}

impl Reasons {
    fn id(&mut self, reason: &str) -> ReasonId {
        if let Some(&n) = self.index.get(reason) {
            return ReasonId(n);
        }
        // Fewer reasons than tags, and a plan is far below 2^31 tags.
        let n = self.table.len() as u32;
        let text: Arc<str> = reason.into();
        self.table.push(text.clone());
        self.index.insert(text, n);
        ReasonId(n)
    }

    fn text(&self, id: ReasonId) -> &str {
        &self.table[id.0 as usize]
    }
}

impl Plan {
    /// Every tag with one decision and reason (purge, `cleanup.disable`; a policy's starting
    /// point, where its rules then decide each tag).
    pub fn new(tags: Vec<TagInfo>, decision: Decision, reason: &str) -> Plan {
        let mut reasons = Reasons::default();
        let verdict = Verdict::new(decision, reasons.id(reason));
        Plan {
            verdicts: vec![verdict; tags.len()],
            tags,
            reasons,
            kubernetes: None,
            children: Vec::new(),
        }
    }

    /// A plan of these items (tests).
    #[cfg(test)]
    pub fn from_items(items: Vec<(TagInfo, Decision, &str)>) -> Plan {
        let mut plan = Plan::new(Vec::new(), Decision::Keep, "");
        for (tag, decision, reason) in items {
            let id = plan.reason(reason);
            plan.tags.push(tag);
            plan.verdicts.push(Verdict::new(decision, id));
        }
        plan
    }

    pub fn len(&self) -> usize {
        self.tags.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// The tags, in the plan's order.
    pub fn tags(&self) -> &[TagInfo] {
        &self.tags
    }

    pub fn item(&self, n: usize) -> Item<'_> {
        let v = self.verdicts[n];
        Item {
            tag: &self.tags[n],
            decision: v.decision(),
            reason: self.reasons.text(v.reason()),
        }
    }

    pub fn items(&self) -> impl ExactSizeIterator<Item = Item<'_>> + '_ {
        (0..self.tags.len()).map(|n| self.item(n))
    }

    pub fn decision(&self, n: usize) -> Decision {
        self.verdicts[n].decision()
    }

    pub fn deletions(&self) -> impl Iterator<Item = Item<'_>> + '_ {
        self.items().filter(|i| i.decision == Decision::Delete)
    }

    /// Decide tag `n`.
    pub fn decide(&mut self, n: usize, decision: Decision, reason: &str) {
        let id = self.reasons.id(reason);
        self.verdicts[n] = Verdict::new(decision, id);
    }

    /// The id of a reason, for [`Plan::decide_as`]: the tags of one verdict share it.
    pub fn reason(&mut self, reason: &str) -> ReasonId {
        self.reasons.id(reason)
    }

    pub fn decide_as(&mut self, n: usize, decision: Decision, reason: ReasonId) {
        self.verdicts[n] = Verdict::new(decision, reason);
    }

    /// Apply the safety rule: a digest any kept tag uses is never deleted. What it builds
    /// grows with the smaller of the kept and the deleted sides, not with every tag.
    pub(super) fn apply_safety(&mut self) {
        let keep = |v: &Verdict| v.decision() == Decision::Keep;
        let kept = self.verdicts.iter().filter(|v| keep(v)).count();
        let entries = || self.tags.iter().zip(&self.verdicts);
        // The digests to delete, when fewer than the tags kept (else every kept tag's digest
        // is looked at).
        let deleting: Option<HashSet<&ManifestDigest>> =
            (kept > 0 && self.tags.len() - kept < kept).then(|| {
                entries()
                    .filter(|(_, v)| !keep(v))
                    .map(|(t, _)| &t.digest)
                    .collect()
            });
        // The last kept tag of each digest to delete, named in the reason of a tag kept
        // because of it.
        let mut kept_digests: HashMap<&ManifestDigest, &TagInfo> = HashMap::new();
        for (t, _) in entries().filter(|(_, v)| keep(v)) {
            if deleting.as_ref().is_none_or(|d| d.contains(&t.digest)) {
                kept_digests.insert(&t.digest, t);
            }
        }
        let saved: Vec<(usize, String)> = entries()
            .enumerate()
            .filter(|(_, (_, v))| !keep(v))
            .filter_map(|(n, (t, _))| {
                let k = kept_digests.get(&t.digest)?;
                Some((
                    n,
                    format!(
                        "shares its manifest with kept tag {}:{}; deleting it would delete that",
                        k.repository, k.tag
                    ),
                ))
            })
            .collect();
        drop((deleting, kept_digests));
        for (n, reason) in saved {
            self.decide(n, Decision::Keep, &reason);
        }
    }
}

/// The items as a JSON array, made as it is written (a plan of many thousand tags is not
/// copied into a list of values first).
struct Items<'a>(&'a Plan);

impl Serialize for Items<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.items())
    }
}

impl Serialize for Plan {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fields =
            1 + usize::from(self.kubernetes.is_some()) + usize::from(!self.children.is_empty());
        let mut m = s.serialize_struct("Plan", fields)?;
        m.serialize_field("items", &Items(self))?;
        if let Some(k) = &self.kubernetes {
            m.serialize_field("kubernetes", k)?;
        }
        if !self.children.is_empty() {
            m.serialize_field("children", &self.children)?;
        }
        m.end()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in self.items() {
            let d = match i.decision {
                Decision::Keep => "keep  ",
                Decision::Delete => "delete",
            };
            writeln!(
                f,
                "{d} {}:{} ({}) {}",
                i.tag.repository,
                i.tag.tag,
                i.tag.digest.short(),
                i.reason
            )?;
        }
        for c in &self.children {
            writeln!(f, "{c}")?;
        }
        let n = self.deletions().count();
        let children = match self.children.len() {
            0 => String::new(),
            all => {
                let gone = self
                    .children
                    .iter()
                    .filter(|c| c.decision == Decision::Delete)
                    .count();
                format!(
                    "; {gone} platform manifest(s) of deleted indexes to delete, {} kept",
                    all - gone
                )
            }
        };
        let kube = match &self.kubernetes {
            None => String::new(),
            Some(KubeCheck::Checked { contexts }) => {
                format!("; Kubernetes checked: context(s) {}", contexts.join(", "))
            }
            Some(KubeCheck::NotChecked { reason }) => {
                format!("; Kubernetes not checked ({reason})")
            }
        };
        writeln!(f, "{} tag(s), {n} to delete{children}{kube}", self.len())
    }
}

/// Every tag kept for one reason (`cleanup.disable`, `disableGitHistoryBasedPolicy`), so
/// the plan still lists what is there.
pub fn keep_all(tags: Vec<TagInfo>, reason: &str) -> Plan {
    Plan::new(tags, Decision::Keep, reason)
}

/// Every tag deleted (purge). Still one entry per tag, so the plan prints the same way.
pub fn purge(tags: Vec<TagInfo>) -> Plan {
    Plan::new(tags, Decision::Delete, "purge")
}

/// Digests whose manifests the plan deletes (each once).
pub fn digests_to_delete(plan: &Plan) -> BTreeSet<(String, String)> {
    plan.deletions()
        .map(|i| (i.tag.repository.to_string(), i.tag.digest.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_holds_its_decision_and_reason_in_four_bytes() {
        // A plan's entry: the tag (facts pointer 8, inline name 24, digest 40) and its
        // verdict.
        assert_eq!(std::mem::size_of::<TagInfo>(), 72);
        assert_eq!(std::mem::size_of::<Verdict>(), 4);
        let mut reasons = Reasons::default();
        let (a, b) = (reasons.id("a"), reasons.id("b"));
        assert_eq!(reasons.id("a"), a, "one entry per reason text");
        for (d, r) in [
            (Decision::Keep, a),
            (Decision::Delete, b),
            (Decision::Delete, a),
        ] {
            let v = Verdict::new(d, r);
            assert_eq!((v.decision(), v.reason()), (d, r));
        }
        assert_eq!(reasons.text(b), "b");
    }
}
