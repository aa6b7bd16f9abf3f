//! The randomized safety property of cleanup's decision: random repositories grown by
//! commits, branches, merge commits, squash merges, rebase merges, fast-forwards, deleted
//! branches, tags and concurrent publishes (two runners pushing the same content as two
//! manifests), random keep policies and images in use in Kubernetes. A small reference
//! model written here from werf 1.1's rules (pkg/cleaning/images_cleanup*.go), not from
//! `cleanup/policy.rs`, says what must be kept; `decide` must delete exactly what the model
//! leaves unreferenced, and never an image that a selected reference, a kept policy or a
//! Kubernetes object references. 10,000 plans.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use slipway::cleanup::policy::{
    Commit, Decision, Facts, GitHistory, GitRef, InUse, ManifestDigest, Options, TagInfo,
    UsedImage, decide, default_policies,
};
use slipway::config::{KeepPolicy, Limit, LimitOperator, References};

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;
const IMAGES: [&str; 2] = ["app", "api"];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A simulated project: git graph, refs at origin, and what was published.
struct World {
    /// id → (committer time, parents).
    commits: BTreeMap<String, (i64, Vec<String>)>,
    /// Content (signature) of each image at each commit.
    content: BTreeMap<(String, &'static str), String>,
    branches: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
    /// (image, signature) → commits that published it, in order.
    published: BTreeMap<(&'static str, String), Vec<String>>,
    /// (image, signature) → extra manifests pushed concurrently.
    concurrent: BTreeSet<(&'static str, String)>,
    clock: i64,
    next_id: u64,
    next_sig: u64,
}

impl World {
    fn commit(&mut self, rng: &mut Rng, parents: Vec<String>, same_as: Option<&str>) -> String {
        self.next_id += 1;
        let id = format!("c{:04}", self.next_id);
        // Unique, increasing committer dates: 1–12 hours apart.
        self.clock += (1 + rng.below(12) as i64) * HOUR;
        for image in IMAGES {
            let inherited = same_as
                .or(parents.first().map(String::as_str))
                .and_then(|p| self.content.get(&(p.to_string(), image)).cloned());
            let sig = match inherited {
                Some(s)
                    if same_as.is_some() || !rng.chance(if image == "app" { 50 } else { 30 }) =>
                {
                    s
                }
                _ => {
                    self.next_sig += 1;
                    format!("s{}", self.next_sig)
                }
            };
            self.content.insert((id.clone(), image), sig);
        }
        self.commits.insert(id.clone(), (self.clock, parents));
        // Most commits are built and published; a publish of unchanged content records the
        // commit for the existing image.
        if rng.chance(85) {
            for image in IMAGES {
                let sig = self.content[&(id.clone(), image)].clone();
                if rng.chance(10) {
                    self.concurrent.insert((image, sig.clone()));
                }
                self.published
                    .entry((image, sig))
                    .or_default()
                    .push(id.clone());
            }
        }
        id
    }

    fn ancestors(&self, head: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![head.to_string()];
        while let Some(c) = stack.pop() {
            if let Some((_, ps)) = self.commits.get(&c)
                && seen.insert(c)
            {
                stack.extend(ps.iter().cloned());
            }
        }
        seen
    }
}

fn grow(seed: u64) -> World {
    let mut rng = Rng(seed | 1);
    let mut w = World {
        commits: BTreeMap::new(),
        content: BTreeMap::new(),
        branches: BTreeMap::new(),
        tags: BTreeMap::new(),
        published: BTreeMap::new(),
        concurrent: BTreeSet::new(),
        clock: 1_000_000_000 - 60 * DAY,
        next_id: 0,
        next_sig: 0,
    };
    let root = w.commit(&mut rng, Vec::new(), None);
    w.branches.insert("main".into(), root);
    let steps = 4 + rng.below(30);
    for _ in 0..steps {
        let names: Vec<String> = w.branches.keys().cloned().collect();
        let features: Vec<String> = names.iter().filter(|n| *n != "main").cloned().collect();
        let pick = |rng: &mut Rng, v: &[String]| v[rng.below(v.len() as u64) as usize].clone();
        match rng.below(10) {
            0..=2 => {
                let b = pick(&mut rng, &names);
                let head = w.branches[&b].clone();
                let c = w.commit(&mut rng, vec![head], None);
                w.branches.insert(b, c);
            }
            3 | 4 => {
                let from = pick(&mut rng, &names);
                let head = w.branches[&from].clone();
                let name = format!("f{}", w.next_id);
                let c = w.commit(&mut rng, vec![head], None);
                w.branches.insert(name, c);
            }
            5 if !features.is_empty() => {
                // Squash merge: one new commit on main with the feature's content.
                let f = pick(&mut rng, &features);
                let (main, fh) = (w.branches["main"].clone(), w.branches[&f].clone());
                let c = w.commit(&mut rng, vec![main], Some(&fh));
                w.branches.insert("main".into(), c);
                if rng.chance(70) {
                    w.branches.remove(&f);
                }
            }
            6 if !features.is_empty() => {
                // Rebase merge: the feature's own commits replayed onto main.
                let f = pick(&mut rng, &features);
                let on_main = w.ancestors(&w.branches["main"]);
                let mut own = Vec::new();
                let mut c = w.branches[&f].clone();
                while !on_main.contains(&c) && own.len() < 4 {
                    own.push(c.clone());
                    match w.commits[&c].1.first() {
                        Some(p) => c = p.clone(),
                        None => break,
                    }
                }
                for orig in own.into_iter().rev() {
                    let main = w.branches["main"].clone();
                    let n = w.commit(&mut rng, vec![main], Some(&orig));
                    w.branches.insert("main".into(), n);
                }
                if rng.chance(70) {
                    w.branches.remove(&f);
                }
            }
            7 if !features.is_empty() => {
                let f = pick(&mut rng, &features);
                let (main, fh) = (w.branches["main"].clone(), w.branches[&f].clone());
                if w.ancestors(&fh).contains(&main) {
                    // Fast-forward.
                    w.branches.insert("main".into(), fh);
                } else {
                    let c = w.commit(&mut rng, vec![main, fh], None);
                    w.branches.insert("main".into(), c);
                }
                if rng.chance(50) {
                    w.branches.remove(&f);
                }
            }
            8 if !features.is_empty() => {
                let f = pick(&mut rng, &features);
                w.branches.remove(&f);
            }
            _ => {
                let b = pick(&mut rng, &names);
                let head = w.branches[&b].clone();
                w.tags.insert(format!("v{}", w.tags.len()), head);
            }
        }
    }
    w
}

/// The registry's tags as cleanup reads them; what each tag knows of its commits varies
/// (every publishing commit, only the first one as the old build label, or none).
fn inventory(w: &World, rng: &mut Rng) -> Vec<TagInfo> {
    let mut out = Vec::new();
    for ((image, sig), commits) in &w.published {
        let created = w.commits[&commits[0]].0;
        let mut variants = vec![(format!("{image}-{sig}"), format!("sha256:{sig}"))];
        if w.concurrent.contains(&(*image, sig.clone())) {
            variants.push((format!("{image}-{sig}-b"), format!("sha256:{sig}b")));
        }
        for (tag, digest) in variants {
            let known = match rng.below(20) {
                0 => Vec::new(),
                1..=4 => vec![commits[0].clone()],
                _ => commits.clone(),
            };
            out.push(TagInfo {
                facts: std::sync::Arc::new(Facts {
                    image: Some(image.to_string()),
                    repository: format!("reg/{image}").into(),
                    commits: known,
                    created: Some(created),
                    labels: [("slipway.signature".to_string(), sig.clone())].into(),
                    ..Default::default()
                }),
                tag: tag.into(),
                digest: digest.into(),
            });
        }
    }
    out
}

fn random_limit(rng: &mut Rng) -> Option<Limit> {
    if rng.chance(35) {
        return None;
    }
    let last = if rng.chance(60) {
        Some(rng.below(5) as i64 - 1)
    } else {
        None
    };
    let in_ = if rng.chance(50) || last.is_none() {
        Some(Duration::from_secs((1 + rng.below(20)) * DAY as u64))
    } else {
        None
    };
    Some(Limit {
        last,
        in_,
        operator: if rng.chance(50) {
            LimitOperator::And
        } else {
            LimitOperator::Or
        },
    })
}

fn random_policies(rng: &mut Rng) -> Vec<KeepPolicy> {
    if rng.chance(40) {
        return default_policies();
    }
    (0..1 + rng.below(3))
        .map(|_| {
            let pattern =
                ["^main$", ".*", "^f.*", "^v[0-9]$", "^(main|f1.*)$"][rng.below(5) as usize];
            let tag = rng.chance(25);
            KeepPolicy {
                references: References {
                    branch: (!tag).then(|| pattern.to_string()),
                    tag: tag.then(|| pattern.to_string()),
                    limit: random_limit(rng),
                },
                images_per_reference: random_limit(rng),
            }
        })
        .collect()
}

/// werf 1.1's rules, written out plainly.
fn model_kept(
    tags: &[TagInfo],
    refs: &[GitRef],
    w: &World,
    policies: &[KeepPolicy],
    in_use: &[UsedImage],
    now: i64,
) -> BTreeSet<usize> {
    let mut kept = BTreeSet::new();
    // Kubernetes objects and tags without any commit are kept outright.
    for (i, t) in tags.iter().enumerate() {
        let used = in_use.iter().any(|u| {
            *u.repository == *t.repository
                && (u.tag.as_deref() == Some(&t.tag)
                    || u.digest.as_deref().is_some_and(|d| t.digest == *d))
        });
        if used || t.commits.is_empty() {
            kept.insert(i);
        }
    }
    // Each reference's policy: the last policy that selects it.
    let mut owner: BTreeMap<usize, &KeepPolicy> = BTreeMap::new();
    for p in policies {
        let (re, want_tag) = match (&p.references.branch, &p.references.tag) {
            (Some(b), None) => (regex::Regex::new(b).expect("re"), false),
            (None, Some(t)) => (regex::Regex::new(t).expect("re"), true),
            _ => continue,
        };
        let mut cands: Vec<usize> = (0..refs.len())
            .filter(|&i| refs[i].is_tag == want_tag && re.is_match(&refs[i].name))
            .collect();
        cands.sort_by_key(|&i| (-refs[i].time, refs[i].name.clone()));
        for (rank, &i) in cands.iter().enumerate() {
            let ok = match &p.references.limit {
                None => true,
                Some(l) => {
                    let by_in = l.in_.map(|d| refs[i].time > now - d.as_secs() as i64);
                    let by_last = l.last.map(|n| n < 0 || (rank as i64) < n);
                    match (by_in, by_last) {
                        (Some(a), Some(b)) if l.operator == LimitOperator::Or => a || b,
                        (Some(a), Some(b)) => a && b,
                        (Some(a), None) => a,
                        (None, Some(b)) => b,
                        (None, None) => true,
                    }
                }
            };
            if ok {
                owner.insert(i, p);
            }
        }
    }
    // Signatures per image: their tags (not already kept) and existing commits.
    let mut sigs: BTreeMap<(String, String), (Vec<usize>, BTreeSet<String>)> = BTreeMap::new();
    for (i, t) in tags.iter().enumerate() {
        if kept.contains(&i) {
            continue;
        }
        let e = sigs
            .entry((
                t.image.clone().unwrap_or_default(),
                t.labels["slipway.signature"].clone(),
            ))
            .or_default();
        e.0.push(i);
        e.1.extend(
            t.commits
                .iter()
                .filter(|c| w.commits.contains_key(*c))
                .cloned(),
        );
    }
    for (&ri, p) in &owner {
        let r = &refs[ri];
        let scope: BTreeSet<String> = if r.is_tag {
            [r.head.clone()].into()
        } else {
            w.ancestors(&r.head)
        };
        let ipr = p.images_per_reference.clone().unwrap_or_default();
        let filter_in =
            ipr.in_.is_some() && (ipr.last.is_none() || ipr.operator == LimitOperator::And);
        for image in IMAGES {
            // Reached signatures and the date of their newest reaching commit.
            let mut reached: Vec<(i64, (String, String))> = Vec::new();
            for (key, (_, commits)) in sigs.iter().filter(|(k, _)| k.0 == image) {
                let newest = commits
                    .iter()
                    .filter(|c| scope.contains(*c))
                    .map(|c| w.commits[c].0)
                    .filter(|&t| !filter_in || t >= now - ipr.in_.map_or(0, |d| d.as_secs() as i64))
                    .max();
                if let Some(t) = newest {
                    reached.push((t, key.clone()));
                }
            }
            reached.sort_by_key(|r| std::cmp::Reverse(r.0));
            let limited = ipr.last.is_some_and(|n| n >= 0 && reached.len() as i64 > n);
            for (rank, (t, key)) in reached.iter().enumerate() {
                let keep = if !limited {
                    true
                } else {
                    let by_last = (rank as i64) < ipr.last.unwrap_or(-1);
                    match ipr.in_ {
                        None => by_last,
                        Some(d) => {
                            let by_in = *t > now - d.as_secs() as i64;
                            if ipr.operator == LimitOperator::Or {
                                by_last || by_in
                            } else {
                                by_last && by_in
                            }
                        }
                    }
                };
                if keep {
                    kept.extend(sigs[key].0.iter().copied());
                }
            }
        }
    }
    kept
}

fn check(seed: u64) -> Result<(), TestCaseError> {
    let w = grow(seed);
    let mut rng = Rng(seed.rotate_left(17) | 1);
    let tags = inventory(&w, &mut rng);
    let mut refs: Vec<GitRef> = w
        .branches
        .iter()
        .map(|(n, h)| GitRef {
            name: n.clone(),
            is_tag: false,
            time: w.commits[h].0,
            head: h.clone(),
        })
        .collect();
    refs.extend(w.tags.iter().map(|(n, h)| GitRef {
        name: n.clone(),
        is_tag: true,
        time: w.commits[h].0,
        head: h.clone(),
    }));
    // Only what the refs reach is in a clone.
    let reachable: BTreeSet<String> = refs.iter().flat_map(|r| w.ancestors(&r.head)).collect();
    let git = GitHistory {
        refs: refs.clone(),
        commits: w
            .commits
            .iter()
            .filter(|(c, _)| reachable.contains(*c))
            .map(|(c, (t, p))| {
                (
                    c.clone(),
                    Commit {
                        time: *t,
                        parents: p.clone(),
                    },
                )
            })
            .collect(),
    };
    let w = World {
        commits: w
            .commits
            .into_iter()
            .filter(|(c, _)| reachable.contains(c))
            .collect(),
        ..w
    };
    let in_use: Vec<UsedImage> = (0..rng.below(3))
        .filter(|_| !tags.is_empty())
        .map(|_| {
            let t = &tags[rng.below(tags.len() as u64) as usize];
            let by_digest = rng.chance(50);
            UsedImage {
                repository: t.repository.to_string(),
                tag: (!by_digest).then(|| t.tag.to_string()),
                digest: by_digest.then(|| t.digest.to_string()),
                source: "context test: Deployment prod/web".into(),
            }
        })
        .collect();
    let policies = random_policies(&mut rng);
    let now = w.clock + rng.below(10) as i64 * DAY;
    let opts = Options {
        keep_tags: Vec::new(),
        min_age: Duration::from_secs(0),
        now,
        delete_unrecorded: false,
        werf_unrecorded: slipway::cleanup::policy::WerfUnrecorded::Delete,
    };
    let plan = decide(
        tags.clone(),
        &git,
        &policies,
        &opts,
        &InUse {
            images: in_use.clone(),
        },
    );
    let kept = model_kept(&tags, &refs, &w, &policies, &in_use, now);
    let kept_digests: BTreeSet<(&str, &ManifestDigest)> = kept
        .iter()
        .map(|&i| (&*tags[i].repository, &tags[i].digest))
        .collect();
    // A deleted manifest takes all its tags: what is deleted is what the model does not keep
    // and no kept tag shares.
    let want: BTreeSet<&str> = tags
        .iter()
        .enumerate()
        .filter(|(i, t)| !kept.contains(i) && !kept_digests.contains(&(&*t.repository, &t.digest)))
        .map(|(_, t)| t.tag.as_str())
        .collect();
    let got: BTreeSet<&str> = plan.deletions().map(|i| i.tag.tag.as_str()).collect();
    for i in plan.items().filter(|i| i.decision == Decision::Delete) {
        let idx = tags.iter().position(|t| t.tag == i.tag.tag).expect("tag");
        prop_assert!(
            !kept.contains(&idx),
            "seed {seed}: deleted {} which werf keeps ({})",
            i.tag.tag,
            i.reason
        );
        prop_assert!(
            !kept_digests.contains(&(&*i.tag.repository, &i.tag.digest)),
            "seed {seed}: deleted {} whose manifest a kept tag uses",
            i.tag.tag
        );
    }
    prop_assert_eq!(got, want, "seed {}: plan\n{}", seed, plan);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]
    #[test]
    fn cleanup_deletes_exactly_what_werf_would_and_nothing_in_use(seed in any::<u64>()) {
        check(seed)?;
    }
}

/// The generator does make what the property is about, often enough to matter.
#[test]
fn the_generator_makes_squash_and_rebase_merges_and_concurrent_publishes() {
    let (mut squash_like, mut concurrent, mut deleted_only) = (0, 0, 0);
    for seed in 1..500u64 {
        let w = grow(seed);
        // A signature published on two commits neither of which descends from the other.
        for commits in w.published.values() {
            if commits.len() >= 2 {
                let a = w.ancestors(&commits[commits.len() - 1]);
                if !a.contains(&commits[0]) {
                    squash_like += 1;
                }
            }
        }
        concurrent += w.concurrent.len();
        let live: BTreeSet<String> = w.branches.values().flat_map(|h| w.ancestors(h)).collect();
        deleted_only += w.commits.keys().filter(|c| !live.contains(*c)).count();
    }
    assert!(squash_like > 100, "{squash_like}");
    assert!(concurrent > 100, "{concurrent}");
    assert!(deleted_only > 100, "{deleted_only}");
}
