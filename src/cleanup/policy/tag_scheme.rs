//! werf 1.1's tag-scheme mode: git-branch, git-tag and git-commit tags live as long as
//! their branch, tag or commit, within limits.

use std::collections::{BTreeMap, BTreeSet};

use super::{Decision, InUse, Options, Plan, TagInfo, pre_keep, short_commit};
use crate::naming::slug::{SlugFormat, slug};

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

/// A tag kind with a limit and an expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limited {
    GitTag,
    GitCommit,
}

impl Limited {
    fn name(self) -> &'static str {
        match self {
            Limited::GitTag => "git-tag",
            Limited::GitCommit => "git-commit",
        }
    }

    /// (limit, expiry days).
    fn limits(self, scheme: &TagScheme) -> (i64, i64) {
        match self {
            Limited::GitTag => (scheme.git_tag_limit, scheme.git_tag_expiry_days),
            Limited::GitCommit => (scheme.git_commit_limit, scheme.git_commit_expiry_days),
        }
    }
}

/// The live branches and tags by their slug.
struct Live<'a> {
    git: &'a GitState,
    branch_of_slug: BTreeMap<String, &'a String>,
    tag_of_slug: BTreeMap<String, &'a String>,
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
    let live = Live {
        git,
        branch_of_slug: git
            .branches
            .iter()
            .map(|b| (slug(b, SlugFormat::DockerTag), b))
            .collect(),
        tag_of_slug: git
            .tags
            .iter()
            .map(|g| (slug(g, SlugFormat::DockerTag), g))
            .collect(),
    };
    let mut plan = Plan::new(tags, Decision::Keep, "");
    // (index, kind) of tags subject to a limit, decided below.
    let mut limited: Vec<(usize, Limited)> = Vec::new();
    for i in 0..plan.len() {
        let t = &plan.tags()[i];
        let (keep, reason) = match pre_keep(t, opts, in_use) {
            Some(why) => (true, why.reason(opts)),
            None => {
                let (decision, kind) = classify(t, &live);
                limited.extend(kind.map(|k| (i, k)));
                decision
            }
        };
        plan.decide(i, decision(keep), &reason);
    }
    for kind in [Limited::GitTag, Limited::GitCommit] {
        apply_limit(kind, &mut plan, &limited, scheme, opts, in_use);
    }
    plan.apply_safety();
    plan
}

fn decision(keep: bool) -> Decision {
    if keep {
        Decision::Keep
    } else {
        Decision::Delete
    }
}

/// The tag's value, and without the `IMAGE-` prefix multi-image projects add.
fn values(t: &TagInfo) -> Vec<String> {
    let mut v = vec![t.tag.to_string()];
    if let Some(rest) = t
        .image
        .as_ref()
        .and_then(|i| t.tag.strip_prefix(&format!("{i}-")))
    {
        v.push(rest.to_string());
    }
    v
}

/// A tag's decision by its kind, and the kind when a limit applies to it.
fn classify(t: &TagInfo, live: &Live) -> ((bool, String), Option<Limited>) {
    let label = |k: &str| t.labels.get(k).cloned();
    let vals = values(t);
    let slug_of = |name: &str| slug(name, SlugFormat::DockerTag);
    if let Some(b) = vals.iter().find_map(|v| live.branch_of_slug.get(v)) {
        let reason = format!(
            "git-branch tag: branch origin/{b} exists (slug {})",
            slug_of(b)
        );
        return ((true, reason), None);
    }
    if let Some(b) = label("slipway.git-branch").filter(|b| vals.contains(&slug_of(b))) {
        let reason = format!(
            "git-branch tag of branch {b}: no origin/ branch has the slug {} any more",
            slug_of(&b)
        );
        return ((false, reason), None);
    }
    if let Some(g) = vals.iter().find_map(|v| live.tag_of_slug.get(v)) {
        let reason = format!("git-tag tag: tag {g} exists");
        return ((true, reason), Some(Limited::GitTag));
    }
    if let Some(g) = label("slipway.git-tag").filter(|g| vals.contains(&slug_of(g))) {
        let reason = format!("git-tag tag of tag {g}, which no longer exists");
        return ((false, reason), None);
    }
    if let Some(c) = t.commits.iter().find(|c| vals.contains(c)) {
        return if live.git.commits.contains(c) {
            let reason = format!("git-commit tag of commit {}, which exists", short_commit(c));
            ((true, reason), Some(Limited::GitCommit))
        } else {
            let reason = format!(
                "git-commit tag of commit {}, which no longer exists",
                short_commit(c)
            );
            ((false, reason), None)
        };
    }
    if label(crate::labels::SIGNATURE).is_some_and(|s| vals.contains(&s)) {
        let reason = "content tag (werf's stages-signature strategy keeps them)".to_string();
        return ((true, reason), None);
    }
    (
        (true, "custom tag: not a git tag-scheme tag".to_string()),
        None,
    )
}

/// Limits and expiry of one kind, per image, newest first.
fn apply_limit(
    kind: Limited,
    plan: &mut Plan,
    limited: &[(usize, Limited)],
    scheme: &TagScheme,
    opts: &Options,
    in_use: &InUse,
) {
    let (limit, expiry) = kind.limits(scheme);
    let name = kind.name();
    let tags = plan.tags();
    let images: BTreeSet<Option<String>> = limited
        .iter()
        .map(|(i, _)| tags[*i].image.clone())
        .collect();
    let mut deleted: Vec<(usize, String)> = Vec::new();
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
                deleted.push((
                    i,
                    format!("{name} tag beyond --{name}-strategy-limit {limit}"),
                ));
            } else if expiry >= 0 && age_days.is_some_and(|a| a > expiry) {
                deleted.push((
                    i,
                    format!("{name} tag older than --{name}-strategy-expiry-days {expiry}"),
                ));
            }
        }
    }
    for (i, reason) in deleted {
        plan.decide(i, Decision::Delete, &reason);
    }
}
