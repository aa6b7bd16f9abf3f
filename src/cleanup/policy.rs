//! The keep/delete decision, pure: inventory + git history + policies → plan. No registry
//! and no git access here, so the safety rule can be tested on thousands of random graphs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::config::{KeepPolicy, Limit, LimitOperator, References};
pub use crate::git::history::{Commit, GitHistory, GitRef};

/// One tag found in the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagInfo {
    /// werf.yaml image it belongs to (`None` = nameless).
    pub image: Option<String>,
    pub repository: String,
    pub tag: String,
    pub digest: String,
    /// Every commit known to have published this image (the `slipway.git-commit` label,
    /// plus the project's commit records). Empty: published before records existed.
    pub commits: Vec<String>,
    /// Seconds since the epoch the image was created (config `created`).
    pub created: Option<i64>,
    /// Slipway labels of the image: `slipway.git-branch`, `slipway.git-tag`,
    /// `slipway.signature`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl TagInfo {
    /// What werf counts as one image: its content signature (the digest when unlabelled).
    pub fn signature(&self) -> &str {
        self.labels
            .get(crate::signature::LABEL)
            .map_or(self.digest.as_str(), String::as_str)
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
            u.repository == t.repository
                && (u.tag.as_deref() == Some(t.tag.as_str())
                    || u.digest.as_deref() == Some(t.digest.as_str()))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Keep,
    Delete,
}

/// One tag's fate and why.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    #[serde(flatten)]
    pub tag: TagInfo,
    pub decision: Decision,
    pub reason: String,
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
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub items: Vec<Item>,
    /// Set by cleanup (purge deletes everything and asks no cluster).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubeCheck>,
}

impl Plan {
    pub fn deletions(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|i| i.decision == Decision::Delete)
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in &self.items {
            let d = match i.decision {
                Decision::Keep => "keep  ",
                Decision::Delete => "delete",
            };
            writeln!(
                f,
                "{d} {}:{} ({}) {}",
                i.tag.repository,
                i.tag.tag,
                short(&i.tag.digest),
                i.reason
            )?;
        }
        let n = self.deletions().count();
        let kube = match &self.kubernetes {
            None => String::new(),
            Some(KubeCheck::Checked { contexts }) => {
                format!("; Kubernetes checked: context(s) {}", contexts.join(", "))
            }
            Some(KubeCheck::NotChecked { reason }) => {
                format!("; Kubernetes not checked ({reason})")
            }
        };
        writeln!(f, "{} tag(s), {n} to delete{kube}", self.items.len())
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

/// A content signature of one image, with its tags and the commits that published it.
struct Group {
    image: Option<String>,
    signature: String,
    tags: Vec<usize>,
    /// Commits that published it and exist in git.
    commits: BTreeSet<String>,
}

/// Why a group is kept, or what came closest.
enum Verdict {
    Kept(String),
    Beyond(String),
}

/// Decide with werf 1.1's git-history-based rules (pkg/cleaning/images_cleanup*.go):
///
/// - an image is its content signature; it is linked to every commit that published it;
/// - each selected reference reaches the signatures published on its commits: the whole
///   history of a branch, only the commit of a tag;
/// - `imagesPerReference` (the reference's last selecting policy) keeps the `last` newest
///   reached signatures (by the date of their newest reaching commit), only commits within
///   `in` (committer date), combined by `operator`; without it every reached signature is
///   kept;
/// - images in use in Kubernetes, tags without any commit (published before records),
///   `--keep-tag` and `--min-age` are kept.
///
/// Deleting a manifest removes every tag that points at it, so a tag is deleted only when no
/// kept tag (of any image, in any repository inventoried) shares its digest.
pub fn decide(
    tags: Vec<TagInfo>,
    git: &GitHistory,
    policies: &[KeepPolicy],
    opts: &Options,
    in_use: &InUse,
) -> Plan {
    let mut keep: BTreeMap<usize, String> = BTreeMap::new();
    for (i, t) in tags.iter().enumerate() {
        if let Some(reason) = pre_keep(t, opts, in_use) {
            keep.insert(i, reason);
        } else if t.commits.is_empty() && !opts.delete_unrecorded {
            keep.insert(
                i,
                "no commit record: published before Slipway recorded commits (werf keeps tags without image metadata)".into(),
            );
        }
    }
    // Group the rest by (image, signature), as werf does per image.
    let mut groups: Vec<Group> = Vec::new();
    let mut by_key: BTreeMap<(Option<String>, String), usize> = BTreeMap::new();
    for (i, t) in tags.iter().enumerate() {
        if keep.contains_key(&i) {
            continue;
        }
        let key = (t.image.clone(), t.signature().to_string());
        let g = *by_key.entry(key).or_insert_with(|| {
            groups.push(Group {
                image: t.image.clone(),
                signature: t.signature().to_string(),
                tags: Vec::new(),
                commits: BTreeSet::new(),
            });
            groups.len() - 1
        });
        groups[g].tags.push(i);
        groups[g].commits.extend(
            t.commits
                .iter()
                .filter(|c| git.commits.contains_key(*c))
                .cloned(),
        );
    }
    let mut groups_of_commit: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (gi, g) in groups.iter().enumerate() {
        for c in &g.commits {
            groups_of_commit.entry(c.as_str()).or_default().push(gi);
        }
    }
    let mut verdicts: BTreeMap<usize, Verdict> = BTreeMap::new();
    let chosen = select_references(&git.refs, policies, opts.now);
    for (&ri, &pi) in &chosen {
        let r = &git.refs[ri];
        let policy = &policies[pi];
        let ipr = policy.images_per_reference.as_ref();
        let in_filter = ipr.and_then(|l| {
            l.in_
                .filter(|_| l.last.is_none() || l.operator == LimitOperator::And)
        });
        // Reached groups: newest reaching commit (time, commit).
        let mut reached: BTreeMap<usize, (i64, String)> = BTreeMap::new();
        let mut visit = |c: &str| {
            let Some(gs) = groups_of_commit.get(c) else {
                return;
            };
            let time = git.commits.get(c).map_or(0, |x| x.time);
            if in_filter.is_some_and(|d| time < opts.now - secs(d)) {
                return;
            }
            for &g in gs {
                let e = reached.entry(g).or_insert((time, c.to_string()));
                if time > e.0 {
                    *e = (time, c.to_string());
                }
            }
        };
        if r.is_tag {
            visit(&r.head);
        } else {
            let mut seen: BTreeSet<&str> = BTreeSet::new();
            let mut queue: std::collections::VecDeque<&str> = [r.head.as_str()].into();
            while let Some(c) = queue.pop_front() {
                if !seen.insert(c) {
                    continue;
                }
                visit(c);
                if let Some(x) = git.commits.get(c) {
                    queue.extend(x.parents.iter().map(String::as_str));
                }
            }
        }
        let kind = if r.is_tag { "tag" } else { "branch" };
        let rule = describe_policy(pi, policy);
        // `last` counts distinct signatures per image.
        let images: BTreeSet<Option<String>> =
            reached.keys().map(|&g| groups[g].image.clone()).collect();
        for image in images {
            let mut list: Vec<(usize, i64, String)> = reached
                .iter()
                .filter(|(g, _)| groups[**g].image == image)
                .map(|(g, (t, c))| (*g, *t, c.clone()))
                .collect();
            list.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
            let last = ipr.and_then(|l| l.last).filter(|n| *n >= 0);
            let total = list.len();
            for (pos, (g, time, commit)) in list.into_iter().enumerate() {
                let kept = match (last, ipr) {
                    (Some(n), Some(l)) if total as i64 > n => {
                        let by_last = (pos as i64) < n;
                        match l.in_ {
                            None => by_last,
                            Some(d) => {
                                let by_in = time > opts.now - secs(d);
                                if l.operator == LimitOperator::Or {
                                    by_last || by_in
                                } else {
                                    by_last && by_in
                                }
                            }
                        }
                    }
                    _ => true,
                };
                if kept {
                    verdicts.insert(
                        g,
                        Verdict::Kept(format!(
                            "{kind} {} reaches it at commit {} ({rule})",
                            r.name,
                            short_commit(&commit)
                        )),
                    );
                } else if !matches!(verdicts.get(&g), Some(Verdict::Kept(_))) {
                    verdicts.insert(
                        g,
                        Verdict::Beyond(format!(
                            "{kind} {} reaches it at commit {} but beyond imagesPerReference of {rule}",
                            r.name,
                            short_commit(&commit)
                        )),
                    );
                }
            }
        }
    }
    let mut decisions: Vec<(bool, String)> = vec![(false, String::new()); tags.len()];
    for (i, reason) in &keep {
        decisions[*i] = (true, reason.clone());
    }
    for (gi, g) in groups.iter().enumerate() {
        let sig = short(&g.signature);
        let d = match verdicts.get(&gi) {
            Some(Verdict::Kept(r)) => (true, format!("signature {sig}: {r}")),
            Some(Verdict::Beyond(r)) => (false, format!("signature {sig}: {r}")),
            None if g.commits.is_empty() => (
                false,
                format!(
                    "signature {sig}: none of the commits that published it exists in git any more"
                ),
            ),
            None => (
                false,
                format!(
                    "signature {sig}: no reference selected by a keep policy reaches its commits ({})",
                    g.commits
                        .iter()
                        .map(|c| short_commit(c))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        };
        for &i in &g.tags {
            decisions[i] = d.clone();
        }
    }
    with_safety(tags, decisions)
}

/// Keep reasons that come before any policy: in use, `--keep-tag`, `--min-age`.
fn pre_keep(t: &TagInfo, opts: &Options, in_use: &InUse) -> Option<String> {
    if let Some(u) = in_use.find(t) {
        return Some(format!("in use in Kubernetes ({})", u.source));
    }
    if opts.keep_tags.iter().any(|r| r.is_match(&t.tag)) {
        return Some("matches --keep-tag".into());
    }
    if t.created.is_some_and(|c| opts.now - c < secs(opts.min_age)) {
        return Some(format!(
            "younger than --min-age {}",
            humantime::format_duration(opts.min_age)
        ));
    }
    None
}

/// Every tag kept for one reason (`cleanup.disable`, `disableGitHistoryBasedPolicy`), so
/// the plan still lists what is there.
pub fn keep_all(tags: Vec<TagInfo>, reason: &str) -> Plan {
    Plan {
        items: tags
            .into_iter()
            .map(|t| Item {
                tag: t,
                decision: Decision::Keep,
                reason: reason.to_string(),
            })
            .collect(),
        kubernetes: None,
    }
}

/// Apply the safety rule: a digest any kept tag uses is never deleted.
fn with_safety(tags: Vec<TagInfo>, decisions: Vec<(bool, String)>) -> Plan {
    let kept_digests: BTreeMap<&str, usize> = decisions
        .iter()
        .enumerate()
        .filter(|(_, (k, _))| *k)
        .map(|(i, _)| (tags[i].digest.as_str(), i))
        .collect();
    let mut items = Vec::with_capacity(tags.len());
    for (i, t) in tags.iter().enumerate() {
        let (keep, reason) = &decisions[i];
        let (decision, reason) = if *keep {
            (Decision::Keep, reason.clone())
        } else {
            match kept_digests.get(t.digest.as_str()) {
                Some(&k) => (
                    Decision::Keep,
                    format!(
                        "shares its manifest with kept tag {}:{}; deleting it would delete that",
                        tags[k].repository, tags[k].tag
                    ),
                ),
                None => (Decision::Delete, reason.clone()),
            }
        };
        items.push(Item {
            tag: t.clone(),
            decision,
            reason,
        });
    }
    Plan {
        items,
        kubernetes: None,
    }
}

/// werf 1.1's tag-scheme limits (`-1`: no limit).
#[derive(Debug, Clone, Copy)]
pub struct TagScheme {
    pub git_tag_limit: i64,
    pub git_tag_expiry_days: i64,
    pub git_commit_limit: i64,
    pub git_commit_expiry_days: i64,
}

impl Default for TagScheme {
    fn default() -> Self {
        TagScheme {
            git_tag_limit: 10,
            git_tag_expiry_days: 30,
            git_commit_limit: 50,
            git_commit_expiry_days: 30,
        }
    }
}

/// What git still has, for the tag-scheme mode.
#[derive(Debug, Clone, Default)]
pub struct GitState {
    pub branches: BTreeSet<String>,
    pub tags: BTreeSet<String>,
    pub commits: BTreeSet<String>,
}

/// werf 1.1's tag-scheme cleanup: a git-branch / git-tag / git-commit tag is deleted when its
/// branch / tag / commit no longer exists; git-tag and git-commit tags beyond their limit or
/// expiry are deleted too. As werf compares a tag with `slug(name)` of every `origin/*`
/// branch and every git tag, a tag is judged by its own name: one that is the slug of an
/// existing branch or tag is kept whatever branch its (possibly shared) image was first
/// published for. The image's `slipway.git-branch` / `slipway.git-tag` labels and commits
/// tell which other tags are git tag-scheme tags; content and custom tags are kept.
pub fn decide_tag_scheme(
    tags: Vec<TagInfo>,
    git: &GitState,
    scheme: &TagScheme,
    opts: &Options,
    in_use: &InUse,
) -> Plan {
    use crate::naming::slug::{SlugFormat, slug};
    let branch_of_slug: BTreeMap<String, &String> = git
        .branches
        .iter()
        .map(|b| (slug(b, SlugFormat::DockerTag), b))
        .collect();
    let tag_of_slug: BTreeMap<String, &String> = git
        .tags
        .iter()
        .map(|g| (slug(g, SlugFormat::DockerTag), g))
        .collect();
    // The tag's value without the `IMAGE-` prefix multi-image projects add.
    let values = |t: &TagInfo| -> Vec<String> {
        let mut v = vec![t.tag.clone()];
        if let Some(rest) = t
            .image
            .as_ref()
            .and_then(|i| t.tag.strip_prefix(&format!("{i}-")))
        {
            v.push(rest.to_string());
        }
        v
    };
    let mut decisions: Vec<(bool, String)> = Vec::with_capacity(tags.len());
    // (index, kind) of tags subject to a limit, decided below.
    let mut limited: Vec<(usize, &'static str)> = Vec::new();
    for (i, t) in tags.iter().enumerate() {
        let label = |k: &str| t.labels.get(k).cloned();
        let vals = values(t);
        let slug_of = |name: &str| slug(name, SlugFormat::DockerTag);
        let live_branch = vals.iter().find_map(|v| branch_of_slug.get(v));
        let live_tag = vals.iter().find_map(|v| tag_of_slug.get(v));
        let decision = if let Some(reason) = pre_keep(t, opts, in_use) {
            (true, reason)
        } else if let Some(b) = live_branch {
            (
                true,
                format!(
                    "git-branch tag: branch origin/{b} exists (slug {})",
                    slug_of(b)
                ),
            )
        } else if let Some(b) = label("slipway.git-branch").filter(|b| vals.contains(&slug_of(b))) {
            (
                false,
                format!(
                    "git-branch tag of branch {b}: no origin/ branch has the slug {} any more",
                    slug_of(&b)
                ),
            )
        } else if let Some(g) = live_tag {
            limited.push((i, "git-tag"));
            (true, format!("git-tag tag: tag {g} exists"))
        } else if let Some(g) = label("slipway.git-tag").filter(|g| vals.contains(&slug_of(g))) {
            (
                false,
                format!("git-tag tag of tag {g}, which no longer exists"),
            )
        } else if let Some(c) = t.commits.iter().find(|c| vals.contains(c)) {
            if git.commits.contains(c) {
                limited.push((i, "git-commit"));
                (
                    true,
                    format!("git-commit tag of commit {}, which exists", short_commit(c)),
                )
            } else {
                (
                    false,
                    format!(
                        "git-commit tag of commit {}, which no longer exists",
                        short_commit(c)
                    ),
                )
            }
        } else if label(crate::signature::LABEL).is_some_and(|s| vals.contains(&s)) {
            (
                true,
                "content tag (werf's stages-signature strategy keeps them)".to_string(),
            )
        } else {
            (true, "custom tag: not a git tag-scheme tag".to_string())
        };
        decisions.push(decision);
    }
    // Limits and expiry, per image and kind, newest first.
    for kind in ["git-tag", "git-commit"] {
        let (limit, expiry) = if kind == "git-tag" {
            (scheme.git_tag_limit, scheme.git_tag_expiry_days)
        } else {
            (scheme.git_commit_limit, scheme.git_commit_expiry_days)
        };
        let images: BTreeSet<Option<String>> = limited
            .iter()
            .map(|(i, _)| tags[*i].image.clone())
            .collect();
        for image in images {
            let mut idx: Vec<usize> = limited
                .iter()
                .filter(|(i, k)| *k == kind && tags[*i].image == image)
                .map(|(i, _)| *i)
                .collect();
            idx.sort_by_key(|i| std::cmp::Reverse(tags[*i].created.unwrap_or(0)));
            for (n, i) in idx.into_iter().enumerate() {
                if pre_keep(&tags[i], opts, in_use).is_some() {
                    continue;
                }
                let age_days = tags[i].created.map(|c| (opts.now - c) / 86_400);
                if limit >= 0 && n as i64 >= limit {
                    decisions[i] = (
                        false,
                        format!("{kind} tag beyond --{kind}-strategy-limit {limit}"),
                    );
                } else if expiry >= 0 && age_days.is_some_and(|a| a > expiry) {
                    decisions[i] = (
                        false,
                        format!("{kind} tag older than --{kind}-strategy-expiry-days {expiry}"),
                    );
                }
            }
        }
    }
    with_safety(tags, decisions)
}

/// Every tag deleted (purge). Still one entry per tag, so the plan prints the same way.
pub fn purge(tags: Vec<TagInfo>) -> Plan {
    Plan {
        items: tags
            .into_iter()
            .map(|t| Item {
                tag: t,
                decision: Decision::Delete,
                reason: "purge".into(),
            })
            .collect(),
        kubernetes: None,
    }
}

/// Digests whose manifests the plan deletes (each once).
pub fn digests_to_delete(plan: &Plan) -> BTreeSet<(String, String)> {
    plan.deletions()
        .map(|i| (i.tag.repository.clone(), i.tag.digest.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000_000;
    const DAY: i64 = 86_400;

    fn opts() -> Options {
        Options {
            keep_tags: Vec::new(),
            min_age: Duration::from_secs(0),
            now: NOW,
            delete_unrecorded: false,
        }
    }

    fn tag(t: &str, sig: &str, commits: &[&str]) -> TagInfo {
        TagInfo {
            image: Some("app".into()),
            repository: "r/app".into(),
            tag: t.into(),
            digest: format!("sha256:{sig}"),
            commits: commits.iter().map(|c| c.to_string()).collect(),
            created: Some(NOW - 30 * DAY),
            labels: [(crate::signature::LABEL.to_string(), sig.to_string())].into(),
        }
    }

    /// A linear history `ids[0]` (oldest) … `ids[n-1]`, one day apart ending `age_days` ago.
    fn line(g: &mut GitHistory, ids: &[&str], parent: Option<&str>, age_days: i64) {
        let n = ids.len() as i64;
        let mut prev = parent.map(str::to_string);
        for (i, id) in ids.iter().enumerate() {
            g.commits.insert(
                id.to_string(),
                Commit {
                    time: NOW - (age_days + n - 1 - i as i64) * DAY,
                    parents: prev.iter().cloned().collect(),
                },
            );
            prev = Some(id.to_string());
        }
    }

    fn branch(g: &mut GitHistory, name: &str, head: &str) {
        let time = g.commits[head].time;
        g.refs.push(GitRef {
            name: name.into(),
            is_tag: false,
            time,
            head: head.into(),
        });
    }

    fn policy(branch: Option<&str>, tag: Option<&str>, ipr: Option<Limit>) -> KeepPolicy {
        KeepPolicy {
            references: References {
                branch: branch.map(str::to_string),
                tag: tag.map(str::to_string),
                limit: None,
            },
            images_per_reference: ipr,
        }
    }

    fn last(n: i64) -> Option<Limit> {
        Some(Limit {
            last: Some(n),
            in_: None,
            operator: LimitOperator::And,
        })
    }

    fn kept(plan: &Plan) -> Vec<&str> {
        plan.items
            .iter()
            .filter(|i| i.decision == Decision::Keep)
            .map(|i| i.tag.tag.as_str())
            .collect()
    }

    #[test]
    fn squash_merged_image_stays_through_its_later_commit() {
        // Feature F1 built S1; squash merged as M1 (not a descendant of F1), whose publish
        // found S1 unchanged and recorded M1; the feature branch is gone.
        let mut g = GitHistory::default();
        line(&mut g, &["m0", "m1"], None, 0);
        line(&mut g, &["f1"], Some("m0"), 1);
        branch(&mut g, "main", "m1");
        let tags = vec![tag("s0", "s0", &["m0"]), tag("s1", "s1", &["f1", "m1"])];
        let plan = decide(tags, &g, &default_policies(), &opts(), &InUse::default());
        assert_eq!(kept(&plan), vec!["s0", "s1"], "{plan}");
        // Without the record the image is unreachable from main: werf deletes it.
        let tags = vec![tag("s0", "s0", &["m0"]), tag("s1", "s1", &["f1"])];
        let plan = decide(tags, &g, &default_policies(), &opts(), &InUse::default());
        assert_eq!(kept(&plan), vec!["s0"], "{plan}");
        assert!(plan.items[1].reason.contains("no reference"), "{plan}");
    }

    #[test]
    fn plain_names_match_exactly_and_the_last_policy_sets_images_per_reference() {
        let mut g = GitHistory::default();
        line(&mut g, &["a1", "a2", "a3"], None, 40);
        line(&mut g, &["b1"], None, 40);
        branch(&mut g, "main", "a3");
        branch(&mut g, "maintenance-2020", "b1");
        let tags = vec![
            tag("a1", "a1", &["a1"]),
            tag("a2", "a2", &["a2"]),
            tag("a3", "a3", &["a3"]),
            tag("b1", "b1", &["b1"]),
        ];
        // `branch: main` as werf reads it: ^main$.
        let exact = "^main$";
        let policies = vec![policy(Some(exact), None, None)];
        let plan = decide(tags.clone(), &g, &policies, &opts(), &InUse::default());
        // No imagesPerReference: every image in main's history, nothing of the other branch.
        assert_eq!(kept(&plan), vec!["a1", "a2", "a3"], "{plan}");
        // Two policies select main: the last one's imagesPerReference (last 1) wins.
        let policies = vec![
            policy(Some(exact), None, last(3)),
            policy(Some(".*"), None, last(1)),
        ];
        let plan = decide(tags.clone(), &g, &policies, &opts(), &InUse::default());
        assert_eq!(kept(&plan), vec!["a3", "b1"], "{plan}");
        // And the other order: main keeps 3.
        let policies = vec![
            policy(Some(".*"), None, last(1)),
            policy(Some(exact), None, last(3)),
        ];
        let plan = decide(tags, &g, &policies, &opts(), &InUse::default());
        assert_eq!(kept(&plan), vec!["a1", "a2", "a3", "b1"], "{plan}");
    }

    #[test]
    fn last_counts_distinct_signatures_and_in_uses_commit_dates() {
        let mut g = GitHistory::default();
        // c1..c4 one day apart, c4 today; c2 re-publishes c1's signature.
        line(&mut g, &["c1", "c2", "c3", "c4"], None, 0);
        branch(&mut g, "feature", "c4");
        let tags = vec![
            tag("x", "sx", &["c1", "c2"]),
            tag("x-again", "sx", &["c2"]),
            tag("y", "sy", &["c3"]),
            tag("z", "sz", &["c4"]),
        ];
        let policies = vec![policy(Some(".*"), None, last(2))];
        let plan = decide(tags.clone(), &g, &policies, &opts(), &InUse::default());
        assert_eq!(kept(&plan), vec!["y", "z"], "{plan}");
        // in: 36h keeps what commits of the last 36 hours reached (c3, c4), whatever the
        // images' creation dates (all 30 days old here).
        let policies = vec![policy(
            Some(".*"),
            None,
            Some(Limit {
                last: None,
                in_: Some(Duration::from_secs(36 * 3600)),
                operator: LimitOperator::And,
            }),
        )];
        let plan = decide(tags.clone(), &g, &policies, &opts(), &InUse::default());
        assert_eq!(kept(&plan), vec!["y", "z"], "{plan}");
        // last 1 Or in 60h: z by last, y and sx (c2 is 2 days old) by in.
        let policies = vec![policy(
            Some(".*"),
            None,
            Some(Limit {
                last: Some(1),
                in_: Some(Duration::from_secs(60 * 3600)),
                operator: LimitOperator::Or,
            }),
        )];
        let plan = decide(tags, &g, &policies, &opts(), &InUse::default());
        assert_eq!(kept(&plan), vec!["x", "x-again", "y", "z"], "{plan}");
    }

    #[test]
    fn tags_reach_only_their_commit_and_kubernetes_keeps_what_runs() {
        let mut g = GitHistory::default();
        line(&mut g, &["c1", "c2"], None, 0);
        g.refs.push(GitRef {
            name: "v1.0".into(),
            is_tag: true,
            time: NOW,
            head: "c2".into(),
        });
        let tags = vec![tag("one", "s1", &["c1"]), tag("two", "s2", &["c2"])];
        let policies = vec![policy(None, Some("^v1\\.0$"), None)];
        let plan = decide(tags.clone(), &g, &policies, &opts(), &InUse::default());
        assert_eq!(kept(&plan), vec!["two"], "{plan}");
        let in_use = InUse {
            images: vec![UsedImage {
                repository: "r/app".into(),
                tag: None,
                digest: Some("sha256:s1".into()),
                source: "context k: Deployment default/web".into(),
            }],
        };
        let plan = decide(tags, &g, &policies, &opts(), &in_use);
        assert_eq!(kept(&plan), vec!["one", "two"], "{plan}");
        assert!(plan.items[0].reason.contains("Deployment default/web"));
    }

    #[test]
    fn tag_scheme_compares_slugs_of_remote_branches() {
        use crate::naming::slug::{SlugFormat, slug};
        let raw = "feature/JIRA-123_new";
        let slugged = slug(raw, SlugFormat::DockerTag);
        let mut t = tag(&slugged, "s1", &["c1"]);
        t.labels.insert("slipway.git-branch".into(), raw.into());
        let mut gone = tag("old-branch", "s2", &["c2"]);
        gone.labels
            .insert("slipway.git-branch".into(), "old-branch".into());
        let git = GitState {
            branches: [raw.to_string()].into(),
            ..Default::default()
        };
        let plan = decide_tag_scheme(
            vec![t, gone],
            &git,
            &TagScheme::default(),
            &opts(),
            &InUse::default(),
        );
        assert_eq!(kept(&plan), vec![slugged.as_str()], "{plan}");
    }

    #[test]
    fn tag_scheme_judges_a_reused_tag_by_its_own_name() {
        // Branch `a` published the image; branch `b` re-tagged the same manifest as `b`.
        // The image's label says `a`; `a` is gone, `b` lives.
        let mut ta = tag("a", "s1", &["c1"]);
        ta.labels.insert("slipway.git-branch".into(), "a".into());
        let mut tb = ta.clone();
        tb.tag = "b".into();
        let mut other = tag("a-only", "s2", &["c2"]);
        other.tag = "x".into();
        other.labels.insert("slipway.git-branch".into(), "x".into());
        let git = GitState {
            branches: ["b".to_string()].into(),
            ..Default::default()
        };
        let plan = decide_tag_scheme(
            vec![ta, tb, other],
            &git,
            &TagScheme::default(),
            &opts(),
            &InUse::default(),
        );
        let d: Vec<(&str, Decision, &str)> = plan
            .items
            .iter()
            .map(|i| (i.tag.tag.as_str(), i.decision, i.reason.as_str()))
            .collect();
        assert_eq!(d[1].1, Decision::Keep, "{plan}");
        assert!(d[1].2.contains("origin/b exists"), "{plan}");
        // `a` is not deletable alone: deleting its manifest would take `b`.
        assert_eq!(d[0].1, Decision::Keep, "{plan}");
        assert!(d[0].2.contains("shares its manifest"), "{plan}");
        assert_eq!(d[2].1, Decision::Delete, "{plan}");
    }

    #[test]
    fn tag_scheme_limits_and_expiry() {
        let mk = |sha: &str, age_days: i64| TagInfo {
            image: Some("app".into()),
            repository: "r/app".into(),
            tag: sha.into(),
            digest: format!("sha256:{sha}"),
            commits: vec![sha.into()],
            created: Some(NOW - age_days * DAY),
            labels: BTreeMap::new(),
        };
        let tags = vec![mk("c1", 1), mk("c2", 2), mk("c3", 3), mk("c4", 40)];
        let git = GitState {
            commits: ["c1", "c2", "c3", "c4"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            ..Default::default()
        };
        let scheme = TagScheme {
            git_commit_limit: 2,
            git_commit_expiry_days: 30,
            ..TagScheme::default()
        };
        let plan = decide_tag_scheme(tags, &git, &scheme, &opts(), &InUse::default());
        assert_eq!(kept(&plan), vec!["c1", "c2"], "{plan}");
        assert!(
            plan.items[2].reason.contains("limit 2"),
            "{}",
            plan.items[2].reason
        );
    }
}
