//! What the werf version switches in image documents (docs/config.md, "werf versions"):
//! werf 1.1's admission keys against werf ≥ 1.2's giterminism allowances, werf-1.1-only
//! keys, `fromArtifact`, and how `from:`/`fromImage:` name their base.

use std::collections::BTreeSet;

use serde_json::Value as Json;
use serde_saphyr::{Location, Spanned};

use crate::config::error::{Ctx, unknown_key_message};
use crate::config::model::ImageConfig;
use crate::config::model::stapel::Base;
use crate::config::yaml::{Node, key_location};
use crate::settings::WerfVersion;

/// The version whose reading applies (werf 1.1 unless settled otherwise).
pub(super) fn version(cx: &Ctx<'_>) -> WerfVersion {
    cx.rendered.werf()
}

/// werf 1.1's keys that werf ≥ 1.2 dropped or renamed, with what werf 2 says instead.
const WERF_1_1_KEYS: &[(&str, &str)] = &[
    (
        "herebyIAdmitThatFromLatestMightBreakReproducibility",
        "werf ≥ 1.2 allows `fromLatest` in werf-giterminism.yaml (`giterminismConfigVersion: 1` and `config: {stapel: {allowFromLatest: true}}`) or with --loose-giterminism",
    ),
    (
        "herebyIAdmitThatBranchMightBreakReproducibility",
        "werf ≥ 1.2 allows a remote mapping that follows a branch in werf-giterminism.yaml (`giterminismConfigVersion: 1` and `config: {stapel: {git: {allowBranch: true}}}`) or with --loose-giterminism",
    ),
    ("fromImageArtifact", "werf ≥ 1.2 names it `fromArtifact`"),
    (
        "asLayers",
        "werf ≥ 1.2 has no such key (each stage is its own image already): remove it",
    ),
];

/// A werf-1.1-only key read as werf 2: a located error naming werf 2's spelling. `true`
/// when refused (the caller reads nothing more of it).
pub(super) fn refused_werf_1_1_key(cx: &mut Ctx<'_>, key: &str, value: Location) -> bool {
    let Some((_, instead)) = WERF_1_1_KEYS.iter().find(|(k, _)| *k == key) else {
        return false;
    };
    if version(cx) != WerfVersion::V2 {
        return false;
    }
    let (l, c) = key_location(cx, key, value);
    cx.at_pos(
        l,
        c,
        format!("`{key}` is werf 1.1's, and this werf.yaml is read as werf 2's: {instead} (--werf-version 1.1 reads it as werf 1.1)"),
    );
    true
}

/// `fromArtifact: NAME`: werf ≥ 1.2's name for `fromImageArtifact`; unknown to werf 1.1.
pub(super) fn from_artifact(cx: &mut Ctx<'_>, v: &Spanned<Node>) -> Option<String> {
    if cx.rendered.werf_version == Some(WerfVersion::V1_1) {
        let (l, c) = key_location(cx, "fromArtifact", v.referenced);
        cx.at_pos(
            l,
            c,
            "unknown key `fromArtifact`: werf 1.1 names it `fromImageArtifact`",
        );
        return None;
    }
    match &v.value {
        Node::Str(s) if !s.is_empty() => Some(s.clone()),
        other => {
            cx.at(
                &v.referenced,
                format!("fromArtifact must be a string, not {}", other.kind()),
            );
            None
        }
    }
}

/// Why `fromLatest: true` is refused, if it is: werf 1.1 wants its admission key beside
/// it, werf ≥ 1.2 an allowance of the giterminism file.
pub(super) fn from_latest_refusal(cx: &Ctx<'_>, admitted: bool) -> Option<&'static str> {
    match version(cx) {
        WerfVersion::V1_1 if !admitted => Some(
            "`fromLatest: true` puts the registry's current digest of the base image into the signature, which may break the reproducibility of earlier builds; werf 1.1 requires `herebyIAdmitThatFromLatestMightBreakReproducibility: true` alongside it (or pin a tag and bump `fromCacheVersion`)",
        ),
        WerfVersion::V2 if !cx.rendered.giterminism.from_latest() => Some(
            "fromLatest directive not allowed by giterminism: `fromLatest: true` puts the registry's current digest of the base image into the signature, which may break the reproducibility of earlier builds; allow it with `config: {stapel: {allowFromLatest: true}}` in werf-giterminism.yaml (or --loose-giterminism), or pin a tag and bump `fromCacheVersion`",
        ),
        _ => None,
    }
}

/// Why a remote mapping that follows a branch is refused, if it is (`path` is `git[N]`).
pub(super) fn branch_refusal(cx: &Ctx<'_>, path: &str, admitted: bool) -> Option<String> {
    let follows = "a remote mapping that follows a branch (`branch:`, or none of branch/tag/commit: the remote's HEAD branch) takes the branch's latest commit, so new commits there change the image and earlier builds may not be reproducible";
    match version(cx) {
        WerfVersion::V1_1 if !admitted => Some(format!(
            "{path}: {follows}; werf 1.1 requires `herebyIAdmitThatBranchMightBreakReproducibility: true` in the mapping (or use `tag:` or `commit:`)"
        )),
        WerfVersion::V2 if !cx.rendered.giterminism.branch() => Some(format!(
            "{path}: git branch directive not allowed by giterminism: {follows}; allow it with `config: {{stapel: {{git: {{allowBranch: true}}}}}}` in werf-giterminism.yaml (or --loose-giterminism), or use `tag:` or `commit:`"
        )),
        _ => None,
    }
}

/// werf ≥ 1.2 reads `from:` and `fromImage:` alike: a name of an image or artifact of this
/// werf.yaml is built here first, anything else is a registry image (`fromImage:
/// alpine:3.20`). An image named as its own base takes `NAME:latest` from the registry, as
/// werf does. werf 1.1 keeps them apart (`from:` always the registry's).
pub(super) fn resolve_bases(
    cx: &Ctx<'_>,
    images: &mut [ImageConfig],
    artifacts: &mut [ImageConfig],
) {
    if version(cx) != WerfVersion::V2 {
        return;
    }
    let names: BTreeSet<String> = images.iter().filter_map(|i| i.name.clone()).collect();
    let artifact_names: BTreeSet<String> =
        artifacts.iter().filter_map(|i| i.name.clone()).collect();
    for node in images.iter_mut().chain(artifacts.iter_mut()) {
        let own = node.name.clone();
        let Some(st) = node.stapel_mut() else {
            continue;
        };
        let named = match &st.base {
            Base::From(n) | Base::Image(n) => n.clone(),
            Base::Artifact(_) => continue,
        };
        st.base = if own.as_deref() == Some(named.as_str()) {
            Base::From(format!("{named}:latest"))
        } else if names.contains(&named) {
            Base::Image(named)
        } else if artifact_names.contains(&named) {
            Base::Artifact(named)
        } else {
            Base::From(named)
        };
    }
}

/// The meta document's `build`, `deploy` and `gitWorktree` (werf ≥ 1.2; `deploy` werf 1.1
/// too): unknown keys refused as werf refuses them, each at its key.
pub(super) fn check_meta_section(cx: &mut Ctx<'_>, key: &str, v: &Spanned<Json>) {
    let known: &[&str] = match key {
        "build" => &["cacheVersion", "platform", "staged", "imageSpec"],
        "deploy" => &[
            "helmChartConfig",
            "helmChartDir",
            "helmRelease",
            "helmReleaseSlug",
            "namespace",
            "namespaceSlug",
            "appVersion",
        ],
        "gitWorktree" => &[
            "forceShallowClone",
            "allowUnshallow",
            "allowFetchOriginBranchesAndTags",
        ],
        _ => return,
    };
    match &v.value {
        Json::Null => {}
        Json::Object(m) => {
            for k in m.keys().filter(|k| !known.contains(&k.as_str())) {
                let msg = format!("{key}: {}", unknown_key_message(k, known));
                // The key is on the value's line (flow) or below it (block).
                let from = v.referenced.line() as usize;
                let at = cx
                    .rendered_text()
                    .lines()
                    .enumerate()
                    .skip(from.saturating_sub(1))
                    .find_map(|(i, l)| l.find(&format!("{k}:")).map(|c| (i + 1, c + 1)));
                match at {
                    Some((l, c)) => cx.at_pos(l, c, msg),
                    None => cx.at(&v.referenced, msg),
                }
            }
        }
        _ => cx.at(&v.referenced, format!("{key} must be a mapping")),
    }
}
