//! The keep/delete decision, pure: inventory + git history + policies → plan. No registry
//! and no git access here, so the safety rule can be tested on thousands of random graphs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::config::{KeepPolicy, Limit, LimitOperator, References};

/// One tag found in the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagInfo {
    /// werf.yaml image it belongs to (`None` = nameless).
    pub image: Option<String>,
    pub repository: String,
    pub tag: String,
    pub digest: String,
    /// `slipway.git-commit` label.
    pub commit: Option<String>,
    /// Seconds since the epoch the image was created (config `created`).
    pub created: Option<i64>,
    /// Slipway labels of the image: `slipway.git-branch`, `slipway.git-tag`,
    /// `slipway.signature`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A git reference as cleanup sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRef {
    /// `main`, `origin/feature-x` shortened to `feature-x`, or a tag name.
    pub name: String,
    pub is_tag: bool,
    /// Commit time of the head, seconds since the epoch.
    pub time: i64,
    /// Commits reachable from the head, newest first.
    pub history: Vec<String>,
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

/// The cleanup plan: every tag with keep/delete and the reason.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub items: Vec<Item>,
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
        writeln!(f, "{} tag(s), {n} to delete", self.items.len())
    }
}

fn short(d: &str) -> &str {
    let h = d.trim_start_matches("sha256:");
    &h[..h.len().min(12)]
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
}

/// werf's default keep policies.
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

/// Does an item at position `index` (0 = newest) and `age` pass a limit?
fn within(limit: &Limit, index: usize, age: Option<i64>) -> bool {
    let by_count = limit.last.map(|n| n < 0 || (index as i64) < n);
    let by_time = limit
        .in_
        .map(|d| age.is_some_and(|a| a <= d.as_secs() as i64));
    match (by_count, by_time) {
        (None, None) => true,
        (Some(c), None) => c,
        (None, Some(t)) => t,
        (Some(c), Some(t)) => match limit.operator {
            LimitOperator::And => c && t,
            LimitOperator::Or => c || t,
        },
    }
}

/// Decide. Deleting a manifest removes every tag that points at it, so a tag is deleted only
/// when no kept tag (of any image, in any repository inventoried) shares its digest.
pub fn decide(
    tags: Vec<TagInfo>,
    refs: &[GitRef],
    policies: &[KeepPolicy],
    opts: &Options,
) -> Plan {
    let mut keep: BTreeMap<usize, String> = BTreeMap::new();
    let by_commit: BTreeMap<&str, Vec<usize>> =
        tags.iter()
            .enumerate()
            .fold(BTreeMap::new(), |mut m, (i, t)| {
                if let Some(c) = &t.commit {
                    m.entry(c.as_str()).or_default().push(i);
                }
                m
            });
    for (i, t) in tags.iter().enumerate() {
        if opts.keep_tags.iter().any(|r| r.is_match(&t.tag)) {
            keep.entry(i).or_insert_with(|| "matches --keep-tag".into());
        } else if t
            .created
            .is_some_and(|c| opts.now - c < opts.min_age.as_secs() as i64)
        {
            keep.entry(i).or_insert_with(|| {
                format!(
                    "younger than --min-age {}",
                    humantime::format_duration(opts.min_age)
                )
            });
        } else if t.commit.is_none() {
            keep.entry(i).or_insert_with(|| {
                "no git commit label: not built by Slipway from git, left alone".into()
            });
        }
    }
    for p in policies {
        let (re, want_tag) = match (&p.references.branch, &p.references.tag) {
            (Some(b), _) => (b, false),
            (None, Some(t)) => (t, true),
            (None, None) => continue,
        };
        let Ok(re) = regex::Regex::new(re) else {
            continue;
        };
        let mut matching: Vec<&GitRef> = refs
            .iter()
            .filter(|r| r.is_tag == want_tag && re.is_match(&r.name))
            .collect();
        matching.sort_by(|a, b| b.time.cmp(&a.time).then(a.name.cmp(&b.name)));
        for (ri, r) in matching.iter().enumerate() {
            if let Some(l) = &p.references.limit
                && !within(l, ri, Some(opts.now - r.time))
            {
                continue;
            }
            let kind = if r.is_tag { "tag" } else { "branch" };
            // Images built on this reference's commits, newest commit first; tags first
            // only the image on the head.
            let per_ref = p.images_per_reference.clone().unwrap_or(Limit {
                last: Some(1),
                in_: None,
                operator: LimitOperator::And,
            });
            let mut n = 0;
            for (depth, commit) in r.history.iter().enumerate() {
                let Some(idx) = by_commit.get(commit.as_str()) else {
                    continue;
                };
                let age = idx
                    .iter()
                    .filter_map(|&i| tags[i].created)
                    .max()
                    .map(|c| opts.now - c);
                if !within(&per_ref, n, age) {
                    break;
                }
                for &i in idx {
                    keep.entry(i).or_insert_with(|| {
                        format!(
                            "{kind} {} (commit {}, {depth} behind its head)",
                            r.name,
                            &commit[..commit.len().min(8)]
                        )
                    });
                }
                n += 1;
            }
        }
    }
    let decisions = (0..tags.len())
        .map(|i| match keep.get(&i) {
            Some(r) => (true, r.clone()),
            None => (false, "no keep policy covers its commit".to_string()),
        })
        .collect();
    with_safety(tags, decisions)
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
    Plan { items }
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
/// expiry are deleted too. A tag's kind comes from the image's `slipway.git-branch`,
/// `slipway.git-tag` and `slipway.git-commit` labels; content and custom tags are kept.
pub fn decide_tag_scheme(
    tags: Vec<TagInfo>,
    git: &GitState,
    scheme: &TagScheme,
    opts: &Options,
) -> Plan {
    use crate::naming::slug::{SlugFormat, slug};
    let is = |t: &TagInfo, value: &str| {
        t.tag == value
            || t.image
                .as_ref()
                .is_some_and(|i| t.tag == format!("{i}-{value}"))
    };
    let mut decisions: Vec<(bool, String)> = Vec::with_capacity(tags.len());
    // (index, kind) of tags subject to a limit, decided below.
    let mut limited: Vec<(usize, &'static str)> = Vec::new();
    for (i, t) in tags.iter().enumerate() {
        let label = |k: &str| t.labels.get(k).cloned();
        let decision = if opts.keep_tags.iter().any(|r| r.is_match(&t.tag)) {
            (true, "matches --keep-tag".to_string())
        } else if t
            .created
            .is_some_and(|c| opts.now - c < opts.min_age.as_secs() as i64)
        {
            (
                true,
                format!(
                    "younger than --min-age {}",
                    humantime::format_duration(opts.min_age)
                ),
            )
        } else if let Some(b) =
            label("slipway.git-branch").filter(|b| is(t, &slug(b, SlugFormat::DockerTag)))
        {
            if git.branches.contains(&b) {
                (true, format!("git-branch tag of branch {b}, which exists"))
            } else {
                (
                    false,
                    format!("git-branch tag of branch {b}, which no longer exists"),
                )
            }
        } else if let Some(g) =
            label("slipway.git-tag").filter(|g| is(t, &slug(g, SlugFormat::DockerTag)))
        {
            if git.tags.contains(&g) {
                limited.push((i, "git-tag"));
                (true, format!("git-tag tag of tag {g}, which exists"))
            } else {
                (
                    false,
                    format!("git-tag tag of tag {g}, which no longer exists"),
                )
            }
        } else if let Some(c) = t.commit.clone().filter(|c| is(t, c)) {
            if git.commits.contains(&c) {
                limited.push((i, "git-commit"));
                (
                    true,
                    format!(
                        "git-commit tag of commit {}, which exists",
                        &c[..c.len().min(8)]
                    ),
                )
            } else {
                (
                    false,
                    format!(
                        "git-commit tag of commit {}, which no longer exists",
                        &c[..c.len().min(8)]
                    ),
                )
            }
        } else if label(crate::signature::LABEL).is_some_and(|s| is(t, &s)) {
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
                if decisions[i].1.starts_with("matches") || decisions[i].1.starts_with("younger") {
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
    use proptest::prelude::*;

    fn opts() -> Options {
        Options {
            keep_tags: Vec::new(),
            min_age: Duration::from_secs(7200),
            now: 1_000_000,
        }
    }

    fn tag(t: &str, d: &str, c: Option<&str>, created: i64) -> TagInfo {
        TagInfo {
            image: Some("app".into()),
            repository: "r/app".into(),
            tag: t.into(),
            digest: d.into(),
            commit: c.map(str::to_string),
            created: Some(created),
            labels: BTreeMap::new(),
        }
    }

    fn branch(name: &str, time: i64, history: &[&str]) -> GitRef {
        GitRef {
            name: name.into(),
            is_tag: false,
            time,
            history: history.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn branch_images_are_kept_and_orphans_deleted() {
        let old = 1_000_000 - 10_000;
        let tags = vec![
            tag("main-1", "sha256:a", Some("c1"), old),
            tag("main-2", "sha256:b", Some("c2"), old),
            tag("gone", "sha256:c", Some("c9"), old),
            tag("alias", "sha256:a", Some("c9"), old),
            tag("fresh", "sha256:d", Some("c9"), 1_000_000 - 60),
            tag("foreign", "sha256:e", None, old),
        ];
        let refs = vec![branch("main", old, &["c2", "c1"])];
        let plan = decide(tags, &refs, &default_policies(), &opts());
        let d: BTreeMap<&str, (Decision, &str)> = plan
            .items
            .iter()
            .map(|i| (i.tag.tag.as_str(), (i.decision, i.reason.as_str())))
            .collect();
        assert_eq!(d["main-1"].0, Decision::Keep);
        assert_eq!(d["main-2"].0, Decision::Keep);
        assert_eq!(d["gone"].0, Decision::Delete);
        assert_eq!(d["alias"].0, Decision::Keep, "{}", d["alias"].1);
        assert!(d["alias"].1.contains("shares its manifest"));
        assert_eq!(d["fresh"].0, Decision::Keep);
        assert_eq!(d["foreign"].0, Decision::Keep);
        assert!(plan.to_string().contains("1 to delete"));
    }

    #[test]
    fn images_per_reference_and_keep_tag() {
        let old = 1_000_000 - 10_000;
        let tags = (1..=5)
            .map(|i| {
                tag(
                    &format!("t{i}"),
                    &format!("sha256:{i}"),
                    Some(&format!("c{i}")),
                    old,
                )
            })
            .collect();
        let refs = vec![branch("feature", old, &["c5", "c4", "c3", "c2", "c1"])];
        let mut o = opts();
        o.keep_tags = vec![regex::Regex::new("^t1$").expect("re")];
        let plan = decide(tags, &refs, &default_policies(), &o);
        let kept: Vec<&str> = plan
            .items
            .iter()
            .filter(|i| i.decision == Decision::Keep)
            .map(|i| i.tag.tag.as_str())
            .collect();
        assert_eq!(kept, vec!["t1", "t4", "t5"]);
    }

    #[test]
    fn tag_scheme_limits_and_expiry() {
        let day = 86_400;
        let mk = |sha: &str, age_days: i64| TagInfo {
            image: Some("app".into()),
            repository: "r/app".into(),
            tag: sha.into(),
            digest: format!("sha256:{sha}"),
            commit: Some(sha.into()),
            created: Some(1_000_000_000 - age_days * day),
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
        let o = Options {
            keep_tags: Vec::new(),
            min_age: Duration::from_secs(0),
            now: 1_000_000_000,
        };
        let plan = decide_tag_scheme(tags, &git, &scheme, &o);
        let d: Vec<(&str, Decision)> = plan
            .items
            .iter()
            .map(|i| (i.tag.tag.as_str(), i.decision))
            .collect();
        assert_eq!(
            d,
            vec![
                ("c1", Decision::Keep),
                ("c2", Decision::Keep),
                ("c3", Decision::Delete),
                ("c4", Decision::Delete)
            ]
        );
        assert!(
            plan.items[2].reason.contains("limit 2"),
            "{}",
            plan.items[2].reason
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn no_kept_tag_ever_loses_its_digest(
            tags in proptest::collection::vec((0u8..6, 0u8..12, proptest::option::of(0u8..12), 0i64..400_000), 0..40),
            refs in proptest::collection::vec((any::<bool>(), 0i64..400_000, proptest::collection::vec(0u8..12, 0..8)), 0..6),
            keep_re in proptest::option::of(0u8..12),
        ) {
            let tags: Vec<TagInfo> = tags.iter().enumerate().map(|(i, (d, _t, c, age))| TagInfo {
                image: Some("app".into()),
                repository: "r/app".into(),
                tag: format!("t{i}"),
                digest: format!("sha256:{d}"),
                commit: c.map(|c| format!("c{c}")),
                created: Some(1_000_000 - age),
                labels: BTreeMap::new(),
            }).collect();
            let refs: Vec<GitRef> = refs.iter().enumerate().map(|(i, (is_tag, age, h))| GitRef {
                name: if i == 0 { "main".into() } else { format!("r{i}") },
                is_tag: *is_tag,
                time: 1_000_000 - age,
                history: h.iter().map(|c| format!("c{c}")).collect(),
            }).collect();
            let mut o = opts();
            if let Some(k) = keep_re { o.keep_tags = vec![regex::Regex::new(&format!("^t{k}$")).expect("re")]; }
            let plan = decide(tags, &refs, &default_policies(), &o);
            let deleted: BTreeSet<&str> = plan.deletions().map(|i| i.tag.digest.as_str()).collect();
            for i in plan.items.iter().filter(|i| i.decision == Decision::Keep) {
                prop_assert!(!deleted.contains(i.tag.digest.as_str()), "kept {} loses {}", i.tag.tag, i.tag.digest);
            }
        }
    }
}
