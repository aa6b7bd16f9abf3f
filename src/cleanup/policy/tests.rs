use super::*;

const NOW: i64 = 1_000_000_000;
const DAY: i64 = 86_400;

fn opts() -> Options {
    Options {
        keep_tags: Vec::new(),
        min_age: Duration::from_secs(0),
        now: NOW,
        delete_unrecorded: false,
        werf_unrecorded: super::WerfUnrecorded::Delete,
    }
}

fn tag(t: &str, sig: &str, commits: &[&str]) -> TagInfo {
    TagInfo {
        facts: Arc::new(Facts {
            image: Some("app".into()),
            repository: "r/app".into(),
            commits: commits.iter().map(|c| c.to_string()).collect(),
            created: Some(NOW - 30 * DAY),
            labels: [(crate::labels::SIGNATURE.to_string(), sig.to_string())].into(),
            ..Default::default()
        }),
        tag: t.into(),
        digest: format!("sha256:{sig}").into(),
    }
}

/// `t` with its facts changed by `f`.
fn with(mut t: TagInfo, f: impl FnOnce(&mut Facts)) -> TagInfo {
    f(Arc::make_mut(&mut t.facts));
    t
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
    plan.items()
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
    assert!(plan.item(1).reason.contains("no reference"), "{plan}");
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
    assert!(plan.item(0).reason.contains("Deployment default/web"));
}

#[test]
fn tag_scheme_compares_slugs_of_remote_branches() {
    use crate::naming::slug::{SlugFormat, slug};
    let raw = "feature/JIRA-123_new";
    let slugged = slug(raw, SlugFormat::DockerTag);
    let t = with(tag(&slugged, "s1", &["c1"]), |f| {
        f.labels.insert("slipway.git-branch".into(), raw.into());
    });
    let gone = with(tag("old-branch", "s2", &["c2"]), |f| {
        f.labels
            .insert("slipway.git-branch".into(), "old-branch".into());
    });
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
    let ta = with(tag("a", "s1", &["c1"]), |f| {
        f.labels.insert("slipway.git-branch".into(), "a".into());
    });
    let mut tb = ta.clone();
    tb.tag = "b".into();
    let mut other = with(tag("a-only", "s2", &["c2"]), |f| {
        f.labels.insert("slipway.git-branch".into(), "x".into());
    });
    other.tag = "x".into();
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
        .items()
        .map(|i| (i.tag.tag.as_str(), i.decision, i.reason))
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
    let mk = |sha: &str, age_days: i64| {
        with(tag(sha, sha, &[sha]), |f| {
            f.created = Some(NOW - age_days * DAY);
            f.labels.clear();
        })
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
        plan.item(2).reason.contains("limit 2"),
        "{}",
        plan.item(2).reason
    );
}

/// A `final: false` image's tag is kept while a kept importer's tag shares a commit.
#[test]
fn a_non_final_image_lives_while_a_kept_importer_shares_its_commit() {
    let item = |image: &str, t: &str, commits: &[&str], decision: Decision| {
        (
            with(tag(t, t, commits), |f| f.image = Some(image.into())),
            decision,
            "",
        )
    };
    let mut plan = Plan::from_items(vec![
        item("app", "v1", &["c1"], Decision::Keep),
        item("app", "v0", &["c0"], Decision::Delete),
        item("base", "s1", &["c1"], Decision::Delete),
        item("base", "s0", &["c0"], Decision::Delete),
        item("other", "o1", &["c1"], Decision::Delete),
    ]);
    let importers = BTreeMap::from([(Some("base".to_string()), vec![Some("app".to_string())])]);
    keep_imported(&mut plan, &importers);
    let decisions: Vec<(&str, Decision)> = plan
        .items()
        .map(|i| (i.tag.tag.as_str(), i.decision))
        .collect();
    assert_eq!(
        decisions,
        vec![
            ("v1", Decision::Keep),
            ("v0", Decision::Delete),
            ("s1", Decision::Keep),
            ("s0", Decision::Delete),
            ("o1", Decision::Delete),
        ]
    );
    assert!(plan.item(2).reason.contains("app's kept tag v1"));
}

/// A tag a kept tag's `ENV` names stays, with the tags of its manifest, transitively; a
/// tag only a deleted tag names goes.
#[test]
fn a_tag_named_by_a_kept_tags_env_stays_with_its_manifest() {
    let item = |repo: &str, t: &str, digest: &str, refs: &[&str], decision: Decision| {
        (
            TagInfo {
                digest: digest.into(),
                ..with(tag(t, t, &[]), |f| {
                    f.repository = repo.into();
                    f.references = refs.iter().map(|r| r.to_string()).collect();
                })
            },
            decision,
            "policy",
        )
    };
    let mut plan = Plan::from_items(vec![
        item("r/c", "v1", "sha256:c1", &["r/b:s1"], Decision::Keep),
        item("r/b", "s1", "sha256:b1", &["r/a:s1"], Decision::Delete),
        item("r/a", "s1", "sha256:a1", &[], Decision::Delete),
        item("r/a", "old", "sha256:a1", &[], Decision::Delete),
        item("r/a", "s0", "sha256:a0", &[], Decision::Delete),
        item("r/c", "v0", "sha256:c0", &["r/a:s0"], Decision::Delete),
    ]);
    keep_referenced(&mut plan);
    let decisions: Vec<(&str, &str, Decision)> = plan
        .items()
        .map(|i| (&*i.tag.repository, i.tag.tag.as_str(), i.decision))
        .collect();
    assert_eq!(
        decisions,
        vec![
            ("r/c", "v1", Decision::Keep),
            ("r/b", "s1", Decision::Keep),
            ("r/a", "s1", Decision::Keep),
            ("r/a", "old", Decision::Keep),
            ("r/a", "s0", Decision::Delete),
            ("r/c", "v0", Decision::Delete),
        ]
    );
    assert!(
        plan.item(1).reason.contains("named by kept tag r/c:v1"),
        "{}",
        plan.item(1).reason
    );
    assert!(plan.item(2).reason.contains("named by kept tag r/b:s1"));
    assert!(
        plan.item(3)
            .reason
            .contains("shares its manifest with kept tag r/a:s1")
    );
    assert_eq!(plan.item(4).reason, "policy");
}
