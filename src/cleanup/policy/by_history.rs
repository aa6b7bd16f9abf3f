//! werf 1.1's git-history-based mode: keep policies select references, each reference
//! reaches the images published on its commits.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{
    Decision, GitHistory, GitRef, InUse, Options, Plan, TagInfo, WerfUnrecorded, describe_policy,
    pre_keep, secs, select_references, short, short_commit,
};
use crate::config::{KeepPolicy, Limit, LimitOperator};

/// A content signature of one image, with its tags and the commits that published it.
struct Group {
    image: Option<String>,
    signature: String,
    tags: Vec<u32>,
    /// Commits that published it and exist in git.
    commits: BTreeSet<String>,
    /// Some record ties it to a commit (existing or not).
    recorded: bool,
    werf_era: bool,
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
    // Every tag starts as deleted (no reason yet): the rules below decide each one.
    let mut plan = Plan::new(tags, Decision::Delete, "");
    let decided = kept_before_policies(&mut plan, opts, in_use);
    let groups = group(plan.tags(), &decided, git);
    drop(decided);
    let verdicts = verdicts(&groups, git, policies, opts.now);
    for (gi, g) in groups.iter().enumerate() {
        // One reason per group, shared by its tags.
        let (keep, reason) = group_decision(g, verdicts.get(&gi));
        let decision = if keep {
            Decision::Keep
        } else {
            Decision::Delete
        };
        let reason = plan.reason(&reason);
        for &i in &g.tags {
            plan.decide_as(i as usize, decision, reason);
        }
    }
    // Only the decisions go on: what grouping built goes before the safety rule.
    drop((groups, verdicts));
    plan.apply_safety();
    plan
}

/// Decide the tags kept whatever the policies say: in use, `--keep-tag`, `--min-age`, no
/// commit record. Returns which tags are decided so (one bit each).
fn kept_before_policies(plan: &mut Plan, opts: &Options, in_use: &InUse) -> Vec<bool> {
    let unrecorded = plan.reason("no commit record: published before Slipway recorded commits (werf keeps tags without image metadata; --git-history-based-cleanup-v1.2 deletes them)");
    let werf_unrecorded = match &opts.werf_unrecorded {
        WerfUnrecorded::Keep(reason) => Some(plan.reason(reason)),
        _ => None,
    };
    let mut decided = vec![false; plan.len()];
    for (i, done) in decided.iter_mut().enumerate() {
        let t = &plan.tags()[i];
        let reason = if let Some(why) = pre_keep(t, opts, in_use) {
            let why = why.reason(opts);
            Some(plan.reason(&why))
        } else if t.commits.is_empty() && t.werf_era() {
            werf_unrecorded
        } else if t.commits.is_empty() && !opts.delete_unrecorded {
            Some(unrecorded)
        } else {
            None
        };
        if let Some(r) = reason {
            plan.decide_as(i, Decision::Keep, r);
            *done = true;
        }
    }
    decided
}

/// Group the rest by (image, signature), as werf does per image.
fn group(tags: &[TagInfo], decided: &[bool], git: &GitHistory) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut by_key: BTreeMap<(Option<String>, String), usize> = BTreeMap::new();
    for (i, t) in tags.iter().enumerate() {
        if decided[i] {
            continue;
        }
        let key = (t.image.clone(), t.signature().to_string());
        let g = *by_key.entry(key).or_insert_with(|| {
            groups.push(Group {
                image: t.image.clone(),
                signature: t.signature().to_string(),
                tags: Vec::new(),
                commits: BTreeSet::new(),
                recorded: false,
                werf_era: t.werf_era(),
            });
            groups.len() - 1
        });
        // u32: one index per tag, half a usize (a plan of many thousand tags).
        groups[g].tags.push(i as u32);
        groups[g].recorded |= !t.commits.is_empty();
        groups[g].commits.extend(
            t.commits
                .iter()
                .filter(|c| git.commits.contains_key(*c))
                .cloned(),
        );
    }
    groups
}

/// Each group's best verdict over every selected reference.
fn verdicts(
    groups: &[Group],
    git: &GitHistory,
    policies: &[KeepPolicy],
    now: i64,
) -> BTreeMap<usize, Verdict> {
    let mut groups_of_commit: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (gi, g) in groups.iter().enumerate() {
        for c in &g.commits {
            groups_of_commit.entry(c.as_str()).or_default().push(gi);
        }
    }
    let mut verdicts: BTreeMap<usize, Verdict> = BTreeMap::new();
    let chosen = select_references(&git.refs, policies, now);
    for (&ri, &pi) in &chosen {
        let r = &git.refs[ri];
        let policy = &policies[pi];
        let reached = reached(r, policy, &groups_of_commit, git, now);
        let rule = describe_policy(pi, policy);
        judge(r, policy, &rule, groups, &reached, now, &mut verdicts);
    }
    verdicts
}

/// The groups a reference reaches, each with its newest reaching commit (time, commit):
/// a tag reaches its commit, a branch its whole history. Commits older than
/// `imagesPerReference.in` (when it is not or-ed with `last`) reach nothing.
fn reached(
    r: &GitRef,
    policy: &KeepPolicy,
    groups_of_commit: &BTreeMap<&str, Vec<usize>>,
    git: &GitHistory,
    now: i64,
) -> BTreeMap<usize, (i64, String)> {
    let in_filter = policy.images_per_reference.as_ref().and_then(|l| {
        l.in_
            .filter(|_| l.last.is_none() || l.operator == LimitOperator::And)
    });
    let mut reached: BTreeMap<usize, (i64, String)> = BTreeMap::new();
    let mut visit = |c: &str| {
        let Some(gs) = groups_of_commit.get(c) else {
            return;
        };
        let time = git.commits.get(c).map_or(0, |x| x.time);
        if in_filter.is_some_and(|d| time < now - secs(d)) {
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
        let mut queue: VecDeque<&str> = [r.head.as_str()].into();
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
    reached
}

/// Apply the reference's `imagesPerReference` to the groups it reaches; `last` counts
/// distinct signatures per image. A kept verdict is never overwritten by a beyond one.
fn judge(
    r: &GitRef,
    policy: &KeepPolicy,
    rule: &str,
    groups: &[Group],
    reached: &BTreeMap<usize, (i64, String)>,
    now: i64,
    verdicts: &mut BTreeMap<usize, Verdict>,
) {
    let ipr = policy.images_per_reference.as_ref();
    let kind = if r.is_tag { "tag" } else { "branch" };
    let images: BTreeSet<Option<String>> =
        reached.keys().map(|&g| groups[g].image.clone()).collect();
    for image in images {
        let mut list: Vec<(usize, i64, String)> = reached
            .iter()
            .filter(|(g, _)| groups[**g].image == image)
            .map(|(g, (t, c))| (*g, *t, c.clone()))
            .collect();
        list.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
        let total = list.len();
        for (pos, (g, time, commit)) in list.into_iter().enumerate() {
            if within_limit(ipr, pos, total, time, now) {
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

/// Whether the signature at `pos` (newest first, of `total`), reached at `time`, is within
/// `imagesPerReference`.
fn within_limit(ipr: Option<&Limit>, pos: usize, total: usize, time: i64, now: i64) -> bool {
    let last = ipr.and_then(|l| l.last).filter(|n| *n >= 0);
    match (last, ipr) {
        (Some(n), Some(l)) if total as i64 > n => {
            let by_last = (pos as i64) < n;
            match l.in_ {
                None => by_last,
                Some(d) => {
                    let by_in = time > now - secs(d);
                    if l.operator == LimitOperator::Or {
                        by_last || by_in
                    } else {
                        by_last && by_in
                    }
                }
            }
        }
        _ => true,
    }
}

/// A group's decision and its reason.
fn group_decision(g: &Group, verdict: Option<&Verdict>) -> (bool, String) {
    let sig = short(&g.signature);
    match verdict {
        Some(Verdict::Kept(r)) => (true, format!("signature {sig}: {r}")),
        Some(Verdict::Beyond(r)) => (false, format!("signature {sig}: {r}")),
        None if !g.recorded && g.werf_era => (
            false,
            format!(
                "signature {sig}: no werf 1.1 image metadata for this content signature (werf 1.1.36 deletes such tags: --git-history-based-cleanup-v1.2 is on by default)"
            ),
        ),
        None if !g.recorded => (
            false,
            format!(
                "signature {sig}: no commit record ties it to a commit (--git-history-based-cleanup-v1.2)"
            ),
        ),
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
    }
}
