//! The keep/delete decision, pure: inventory + git history + policies → plan. No registry
//! and no git access here, so the safety rule can be tested on thousands of random graphs.
//! One file per mode: [`by_history`] (keep policies) and [`tag_scheme`] (werf 1.1's tags).

mod by_history;
mod children;
mod digest;
mod plan;
mod tag_scheme;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::{KeepPolicy, Limit, LimitOperator, References};
pub use crate::git::history::{Commit, GitHistory, GitRef};
pub use by_history::decide;
pub use children::{ChildItem, plan_children};
pub use digest::ManifestDigest;
pub use plan::{Decision, Item, KubeCheck, Plan, ReasonId, digests_to_delete, keep_all, purge};
pub use tag_scheme::{GitState, TagScheme, decide_tag_scheme};

/// One tag found in the registry. A plan holds one per tag (many thousand): what the
/// image config (or index) says is one [`Facts`] shared by every tag of it, read through
/// `Deref` (`t.image`, `t.commits`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagInfo {
    pub facts: Arc<Facts>,
    /// Inline up to 23 bytes (most tags): no allocation per tag.
    pub tag: smol_str::SmolStr,
    pub digest: ManifestDigest,
}

/// What the tags of one image config (or one index) share.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// werf.yaml image it belongs to (`None` = nameless).
    pub image: Option<String>,
    pub repository: Arc<str>,
    /// Every commit known to have published this image (the `slipway.git-commit` label,
    /// plus the project's commit records). Empty: published before records existed.
    pub commits: Vec<String>,
    /// Seconds since the epoch the image was created (config `created`).
    pub created: Option<i64>,
    /// Slipway labels of the image: `slipway.git-branch`, `slipway.git-tag`,
    /// `slipway.signature`.
    pub labels: BTreeMap<String, String>,
    /// `REPO:TAG` references to the project's images in the config's `ENV` (a stapel
    /// dependant's `ImageName`): kept while this tag is ([`keep_referenced`]).
    pub references: Vec<String>,
    /// The manifests it lists when the tag holds an image index (issue 34), in its order.
    pub children: Vec<IndexChild>,
}

impl std::ops::Deref for TagInfo {
    type Target = Facts;
    fn deref(&self) -> &Facts {
        &self.facts
    }
}

impl Serialize for TagInfo {
    /// One flat object, as when every fact was the tag's own.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let f = &*self.facts;
        let mut m = s.serialize_struct("TagInfo", 9)?;
        m.serialize_field("image", &f.image)?;
        m.serialize_field("repository", &*f.repository)?;
        m.serialize_field("tag", &self.tag)?;
        m.serialize_field("digest", &self.digest)?;
        m.serialize_field("commits", &f.commits)?;
        m.serialize_field("created", &f.created)?;
        if !f.labels.is_empty() {
            m.serialize_field("labels", &f.labels)?;
        }
        if !f.references.is_empty() {
            m.serialize_field("references", &f.references)?;
        }
        if !f.children.is_empty() {
            m.serialize_field("children", &f.children)?;
        }
        m.end()
    }
}

/// One manifest an index lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexChild {
    pub digest: String,
    /// `os/arch[/variant]`; empty when the index does not say.
    pub platform: String,
}

// serde serializes an `Arc` only with its `rc` feature, which would rebuild every crate
// that uses serde.
fn shared_str<S: serde::Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v)
}

impl TagInfo {
    /// What werf counts as one image: its content signature (Slipway's label, else the
    /// one werf 1.1 published it with; the digest when unlabelled).
    pub fn signature(&self) -> Cow<'_, str> {
        self.labelled_signature()
            .map_or_else(|| self.digest.to_string().into(), Cow::Borrowed)
    }
}

impl Facts {
    /// The content signature the labels give: Slipway's, else werf 1.1's.
    pub fn labelled_signature(&self) -> Option<&str> {
        self.labels
            .get(crate::labels::SIGNATURE)
            .or_else(|| self.labels.get(WERF_CONTENT_SIGNATURE))
            .map(String::as_str)
    }

    /// Published by werf 1.1 (its `werf-content-signature` label), not by Slipway.
    pub fn werf_era(&self) -> bool {
        !self.labels.contains_key(crate::labels::SIGNATURE)
            && self.labels.contains_key(WERF_CONTENT_SIGNATURE)
    }
}

/// An image reference found in Kubernetes, parsed (`docker.io/library/` made explicit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedImage {
    /// `host/path`, as [`TagInfo::repository`].
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
    /// Where: `context C: Deployment ns/name`.
    pub source: String,
}

/// Images in use (Kubernetes); never deleted.
#[derive(Debug, Clone, Default)]
pub struct InUse {
    pub images: Vec<UsedImage>,
}

impl InUse {
    /// The first use of this tag, by tag or by digest.
    pub fn find(&self, t: &TagInfo) -> Option<&UsedImage> {
        self.images.iter().find(|u| {
            *u.repository == *t.repository
                && (u.tag.as_deref() == Some(t.tag.as_str())
                    || u.digest.as_deref().is_some_and(|d| t.digest == *d))
        })
    }
}

/// A `final: false` image's tag stays while a kept tag of an image that imports it by its
/// registry name or digest was published by a commit that published it too (both are in
/// that commit's record): the dependant names it. `importers`: non-final image → the
/// images that import it so.
pub fn keep_imported(plan: &mut Plan, importers: &BTreeMap<Option<String>, Vec<Option<String>>>) {
    // Only kept tags of importing images can keep another: the others are not copied (a
    // plan of many thousand tags, most projects without `final: false`).
    let importing: BTreeSet<&Option<String>> = importers.values().flatten().collect();
    if importing.is_empty() {
        return;
    }
    let kept: Vec<(Option<String>, String, BTreeSet<String>)> = plan
        .items()
        .filter(|i| i.decision == Decision::Keep && importing.contains(&i.tag.image))
        .map(|i| {
            let commits = i.tag.commits.iter().cloned().collect();
            (i.tag.image.clone(), i.tag.tag.to_string(), commits)
        })
        .collect();
    let mut saved: Vec<(usize, String)> = Vec::new();
    for (n, item) in plan.items().enumerate() {
        if item.decision != Decision::Delete {
            continue;
        }
        let Some(users) = importers.get(&item.tag.image) else {
            continue;
        };
        let by = kept.iter().find(|(image, _, commits)| {
            users.contains(image) && item.tag.commits.iter().any(|c| commits.contains(c))
        });
        if let Some((image, tag, _)) = by {
            let name = image.as_deref().unwrap_or("~");
            saved.push((
                n,
                format!(
                    "final: false, imported by {name}'s kept tag {tag} (published by the same commit)"
                ),
            ));
        }
    }
    for (n, reason) in saved {
        plan.decide(n, Decision::Keep, &reason);
    }
}

/// A tag a kept tag's config names (a stapel dependant's `ImageName` in its `ENV`,
/// `REPO:TAG`) stays while that tag does, and so does every tag of its manifest (deleting
/// one tag deletes the manifest). Repeated until nothing changes: a dependency kept so
/// may name another. Without such references the plan is left as it is.
pub fn keep_referenced(plan: &mut Plan) {
    if plan.items().all(|i| i.tag.references.is_empty()) {
        return;
    }
    loop {
        // Each reference and each manifest, with the first kept tag naming or holding it.
        let mut named: BTreeMap<&str, String> = BTreeMap::new();
        let mut manifests: BTreeMap<(&str, &ManifestDigest), String> = BTreeMap::new();
        for i in plan.items().filter(|i| i.decision == Decision::Keep) {
            let me = format!("{}:{}", i.tag.repository, i.tag.tag);
            for r in i.tag.references.iter() {
                named.entry(r.as_str()).or_insert_with(|| me.clone());
            }
            manifests
                .entry((&*i.tag.repository, &i.tag.digest))
                .or_insert(me);
        }
        let mut kept: Vec<(usize, String)> = Vec::new();
        for (n, i) in plan.items().enumerate() {
            if i.decision != Decision::Keep {
                let me = format!("{}:{}", i.tag.repository, i.tag.tag);
                if let Some(by) = named.get(me.as_str()) {
                    kept.push((n, format!(
                        "named by kept tag {by} (its ENV holds this reference: a stapel dependency's ImageName/ImageRepo/ImageTag)"
                    )));
                } else if let Some(k) = manifests.get(&(&*i.tag.repository, &i.tag.digest)) {
                    kept.push((
                        n,
                        format!(
                            "shares its manifest with kept tag {k}; deleting it would delete that"
                        ),
                    ));
                }
            }
        }
        if kept.is_empty() {
            return;
        }
        for (n, reason) in kept {
            plan.decide(n, Decision::Keep, &reason);
        }
    }
}

fn short(d: &str) -> &str {
    let h = d.trim_start_matches("sha256:");
    &h[..h.len().min(12)]
}

fn short_commit(c: &str) -> &str {
    &c[..c.len().min(8)]
}

/// Options besides the policies.
#[derive(Debug, Clone)]
pub struct Options {
    /// Tags matching any of these are always kept.
    pub keep_tags: Vec<regex::Regex>,
    /// Images younger than this are kept.
    pub min_age: Duration,
    /// Now, seconds since the epoch.
    pub now: i64,
    /// Delete tags that no commit record ties to a commit (werf 1.1.36's
    /// `--git-history-based-cleanup-v1.2`); by default they are kept.
    pub delete_unrecorded: bool,
    /// Tags werf 1.1 published that no werf image metadata record ties to a commit.
    pub werf_unrecorded: WerfUnrecorded,
}

/// werf's publish label with the image's content signature.
pub use crate::records::werf::CONTENT_SIGNATURE_LABEL as WERF_CONTENT_SIGNATURE;

/// What happens to a tag werf 1.1 published when no werf image metadata record ties its
/// content signature to a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WerfUnrecorded {
    /// werf 1.1.36's default (`--git-history-based-cleanup-v1.2`, default true): deleted
    /// (pkg/cleaning/images_cleanup.go:486-509).
    Delete,
    /// Kept, for this reason (the option is off, or werf's records were not read).
    Keep(String),
}

/// werf 1.1's default keep policies (pkg/cleaning/images_cleanup_reference_to_scan.go), with
/// one Slipway addition: the third keeps `main` as well as `master`, `staging` and
/// `production`.
pub fn default_policies() -> Vec<KeepPolicy> {
    let week = Some(Duration::from_secs(168 * 3600));
    vec![
        KeepPolicy {
            references: References {
                tag: Some(".*".into()),
                branch: None,
                limit: Some(Limit {
                    last: Some(10),
                    in_: None,
                    operator: LimitOperator::And,
                }),
            },
            images_per_reference: None,
        },
        KeepPolicy {
            references: References {
                branch: Some(".*".into()),
                tag: None,
                limit: Some(Limit {
                    last: Some(10),
                    in_: week,
                    operator: LimitOperator::And,
                }),
            },
            images_per_reference: Some(Limit {
                last: Some(2),
                in_: week,
                operator: LimitOperator::And,
            }),
        },
        KeepPolicy {
            references: References {
                branch: Some("^(main|master|staging|production)$".into()),
                tag: None,
                limit: None,
            },
            images_per_reference: Some(Limit {
                last: Some(10),
                in_: None,
                operator: LimitOperator::And,
            }),
        },
    ]
}

/// werf's way of printing a policy: `#2 branch=/.*/ limit={in=168h last=10}
/// imagesPerReference={last=2}`.
pub fn describe_policy(index: usize, p: &KeepPolicy) -> String {
    let mut s = format!("keep policy #{}", index + 1);
    match (&p.references.branch, &p.references.tag) {
        (Some(b), _) => s.push_str(&format!(" branch=/{b}/")),
        (None, Some(t)) => s.push_str(&format!(" tag=/{t}/")),
        (None, None) => {}
    }
    if let Some(l) = &p.references.limit {
        s.push_str(&format!(" limit={{{}}}", describe_limit(l)));
    }
    if let Some(l) = &p.images_per_reference {
        s.push_str(&format!(" imagesPerReference={{{}}}", describe_limit(l)));
    }
    s
}

fn describe_limit(l: &Limit) -> String {
    let mut parts = Vec::new();
    if let Some(d) = l.in_ {
        parts.push(format!("in={}", humantime::format_duration(d)));
    }
    if let Some(n) = l.last {
        parts.push(format!("last={n}"));
    }
    if l.in_.is_some() && l.last.is_some() {
        parts.push(format!("operator={:?}", l.operator));
    }
    parts.join(" ")
}

/// werf's reference selection: each policy picks the references of its kind whose name
/// matches, narrowed by `limit` (newest first by their "created at"); a reference picked by
/// several policies takes the LAST one's `imagesPerReference`. Returns (reference index,
/// policy index).
pub fn select_references(
    refs: &[GitRef],
    policies: &[KeepPolicy],
    now: i64,
) -> BTreeMap<usize, usize> {
    let mut chosen: BTreeMap<usize, usize> = BTreeMap::new();
    for (pi, p) in policies.iter().enumerate() {
        let (pattern, want_tag) = match (&p.references.branch, &p.references.tag) {
            (Some(b), None) => (b, false),
            (None, Some(t)) => (t, true),
            _ => continue,
        };
        let Ok(re) = regex::Regex::new(pattern) else {
            continue;
        };
        let mut matching: Vec<usize> = (0..refs.len())
            .filter(|&i| refs[i].is_tag == want_tag && re.is_match(&refs[i].name))
            .collect();
        matching.sort_by(|&a, &b| {
            refs[b]
                .time
                .cmp(&refs[a].time)
                .then(refs[a].name.cmp(&refs[b].name))
        });
        let selected: Vec<usize> = match &p.references.limit {
            None => matching,
            Some(l) => {
                let by_in = |i: &usize| l.in_.is_none_or(|d| refs[*i].time > now - secs(d));
                let by_last = |pos: usize| l.last.is_none_or(|n| n < 0 || (pos as i64) < n);
                matching
                    .iter()
                    .enumerate()
                    .filter(|(pos, i)| match (l.in_.is_some(), l.last.is_some()) {
                        (true, true) if l.operator == LimitOperator::Or => {
                            by_in(i) || by_last(*pos)
                        }
                        _ => by_in(i) && by_last(*pos),
                    })
                    .map(|(_, i)| *i)
                    .collect()
            }
        };
        for i in selected {
            chosen.insert(i, pi);
        }
    }
    chosen
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2)
}

/// Keep reasons that come before any policy: in use, `--keep-tag`, `--min-age`.
enum PreKeep<'a> {
    InUse(&'a UsedImage),
    KeepTag,
    MinAge,
}

impl PreKeep<'_> {
    fn reason(&self, opts: &Options) -> String {
        match self {
            PreKeep::InUse(u) => format!("in use in Kubernetes ({})", u.source),
            PreKeep::KeepTag => "matches --keep-tag".into(),
            PreKeep::MinAge => format!(
                "younger than --min-age {}",
                humantime::format_duration(opts.min_age)
            ),
        }
    }
}

fn pre_keep<'a>(t: &TagInfo, opts: &Options, in_use: &'a InUse) -> Option<PreKeep<'a>> {
    if let Some(u) = in_use.find(t) {
        return Some(PreKeep::InUse(u));
    }
    if opts.keep_tags.iter().any(|r| r.is_match(&t.tag)) {
        return Some(PreKeep::KeepTag);
    }
    if t.created.is_some_and(|c| opts.now - c < secs(opts.min_age)) {
        return Some(PreKeep::MinAge);
    }
    None
}

#[cfg(test)]
mod tests;
