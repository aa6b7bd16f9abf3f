//! Stapel images and artifacts (werf's own builder: `from`, `git`, `shell`, `import`,
//! `docker`, `mount` instead of a Dockerfile), read and validated here as werf 1.1 reads them
//! (pkg/config/raw_*.go, stapel_image_base.go, import.go, werf.go), every problem located.
//! docs/stapel.md says what is built and how.

mod directives;
mod paths;
mod relations;
mod values;

use std::collections::BTreeSet;

use serde_json::Value as Json;
use serde_saphyr::{Location, Spanned};

use crate::config::error::{Ctx, unknown_key_message};
use crate::config::model::stapel::*;
use crate::config::model::{ImageConfig, Recipe};
use crate::config::schema::{image_keys, stapel_artifact_keys, stapel_image_keys};
use crate::config::yaml::{Node, get, key_location};
use directives::{ansible, docker, git, imports, mounts, shell};
use paths::auto_exclude;
pub(super) use relations::{check_relations, stage_nodes};
use values::{NodeMap, boolean, node_json, seq, text};

/// werf's stapel image default (`WERF_STAPEL_IMAGE_NAME`:`WERF_STAPEL_IMAGE_VERSION`).
pub const DEFAULT_TOOLBOX: &str = "registry.werf.io/werf/werf-stapel:0.6.1";

/// Keys that make an `image:` document a stapel image.
pub const STAPEL_KEYS: &[&str] = &[
    "from",
    "fromImage",
    "fromImageArtifact",
    "fromArtifact",
    "fromLatest",
    "herebyIAdmitThatFromLatestMightBreakReproducibility",
    "fromCacheVersion",
    "git",
    "shell",
    "ansible",
    "import",
    "mount",
    "docker",
    "asLayers",
];

/// Is this `image:` document a stapel image (rather than a Dockerfile image)?
pub fn is_stapel_doc<'a>(mut keys: impl Iterator<Item = &'a String>) -> bool {
    keys.any(|k| STAPEL_KEYS.contains(&k.as_str()))
}

/// Parse one stapel document (`doc` in file order). Returns its names (an image list gives
/// several; `None` = nameless) and the directives, or `None` when nothing can be built.
pub(super) fn parse(
    cx: &mut Ctx<'_>,
    doc: &NodeMap,
    artifact: bool,
) -> Option<(Vec<Option<String>>, StapelRecipe)> {
    let name_key = if artifact { "artifact" } else { "image" };
    let name_v = get(doc, name_key)?;
    let at = cx.where_at(&name_v.referenced);
    let names = doc_names(cx, name_v, artifact)?;
    let mut st = StapelRecipe {
        artifact,
        target: None,
        base: Base::From(String::new()),
        from_latest: false,
        from_latest_at: None,
        from_latest_digest: None,
        from_cache_version: None,
        git: Vec::new(),
        shell: None,
        ansible: None,
        imports: Vec::new(),
        docker: None,
        mounts: Vec::new(),
        secrets: Vec::new(),
        parsed_dependencies: Vec::new(),
        as_layers: false,
        platform: Vec::new(),
        network: None,
        disable_git_after_patch: false,
        // Secrets are no part of the signature (werf's neither); dependencies enter it
        // by their signatures, never by name (`stapel::signature`).
        doc: Json::Object(
            doc.iter()
                .filter(|(k, _)| {
                    k != name_key && k != "secrets" && k != "dependencies" && k != "platform"
                })
                .map(|(k, v)| (k.clone(), node_json(&v.value)))
                .collect(),
        ),
        at,
        unsupported: Vec::new(),
    };
    let mut pending = Pending::default();
    for (k, v) in doc {
        let k = k.as_str();
        if k == "dependencies" {
            // werf 2's rules, shared with Dockerfile images (parse/deps.rs).
            let artifact_name = names.first().cloned().flatten().unwrap_or_default();
            let owner = if artifact {
                super::deps::Owner::Artifact(&artifact_name)
            } else {
                super::deps::Owner::Stapel
            };
            st.parsed_dependencies = super::deps::dependencies(cx, v, owner);
        } else if k != name_key {
            directive(cx, &mut st, &mut pending, k, v);
        }
    }
    complete(cx, &mut st, pending, name_v.referenced)?;
    Some((names, st))
}

/// `image: NAME`, `image: [A, B]`, `image: ~` or `artifact: NAME`.
fn doc_names(
    cx: &mut Ctx<'_>,
    name_v: &Spanned<Node>,
    artifact: bool,
) -> Option<Vec<Option<String>>> {
    let names: Vec<Option<String>> = match (&name_v.value, artifact) {
        (Node::Str(s), true) if !s.is_empty() => vec![Some(s.clone())],
        (_, true) => {
            cx.at(
                &name_v.referenced,
                "unknown doc type: one of `image: NAME` or `artifact: NAME` non-empty name required!",
            );
            return None;
        }
        (Node::Null, false) => vec![None],
        (Node::Str(s), false) if s == "~" => vec![None],
        (Node::Str(s), false) => vec![Some(s.clone())],
        (Node::Seq(items), false)
            if !items.is_empty() && items.iter().all(|i| matches!(i.value, Node::Str(_))) =>
        {
            items
                .iter()
                .filter_map(|i| match &i.value {
                    Node::Str(s) => Some(Some(s.clone())),
                    _ => None,
                })
                .collect()
        }
        (other, false) => {
            cx.at(
                &name_v.referenced,
                format!(
                    "image name must be a string, a list of strings or ~, not {}",
                    other.kind()
                ),
            );
            return None;
        }
    };
    Some(names)
}

/// What the directives leave for the checks across them.
#[derive(Default)]
struct Pending {
    /// `from`, `fromImage`, `fromImageArtifact` as written (exactly one is required).
    bases: Vec<(&'static str, Base)>,
    admitted: bool,
    ansible_steps: Option<Shell>,
    from_latest_at: Option<Location>,
}

/// One key of a stapel document (its name key excluded).
fn directive(cx: &mut Ctx<'_>, st: &mut StapelRecipe, p: &mut Pending, k: &str, v: &Spanned<Node>) {
    if super::versioned::refused_werf_1_1_key(cx, k, v.referenced) {
        return;
    }
    match k {
        "from" => {
            if let Some(s) = text(cx, v, "from") {
                p.bases.push(("from", Base::From(s)));
            }
        }
        "fromImage" => {
            if let Some(s) = text(cx, v, "fromImage") {
                p.bases.push(("fromImage", Base::Image(s)));
            }
        }
        "fromImageArtifact" => {
            if let Some(s) = text(cx, v, "fromImageArtifact") {
                p.bases.push(("fromImageArtifact", Base::Artifact(s)));
            }
        }
        "fromLatest" => {
            st.from_latest = boolean(cx, v, "fromLatest");
            p.from_latest_at = Some(v.referenced);
        }
        "herebyIAdmitThatFromLatestMightBreakReproducibility" => p.admitted = boolean(cx, v, k),
        "fromCacheVersion" => st.from_cache_version = text(cx, v, k),
        "asLayers" => st.as_layers = boolean(cx, v, k),
        "platform" => {
            let list = seq(cx, v, "platform")
                .iter()
                .filter_map(|p| text(cx, p, "platform"))
                .collect();
            st.platform = super::image::platform_list(cx, &v.referenced, list, "platform");
        }
        "git" => st.git = git(cx, v),
        "shell" => st.shell = shell(cx, v),
        "ansible" => {
            st.ansible = ansible(cx, v);
            p.ansible_steps = super::ansible::parse(cx, v);
        }
        "import" => st.imports = imports(cx, v),
        "mount" => st.mounts = mounts(cx, v),
        "secrets" if !st.artifact => st.secrets = super::deps::secrets(cx, v),
        "docker" if !st.artifact => st.docker = docker(cx, v),
        "docker" => {
            let (l, c) = key_location(cx, k, v.referenced);
            cx.at_pos(l, c, "`docker` section is not supported for artifact!");
        }
        // Read with the document's other werf ≥ 1.2 keys (`parse/mod.rs`).
        "cacheVersion" => {}
        // werf ≥ 1.2 keys seen in real stapel files: no effect on what is built here.
        // `final` and `imageSpec`: read for every image document (parse/image_spec.rs).
        "final" | "imageSpec" => {}
        "disableGitAfterPatch" if st.artifact => {
            let (l, c) = key_location(cx, k, v.referenced);
            cx.at_pos(
                l,
                c,
                "`disableGitAfterPatch` directive is not supported for artifact!",
            );
        }
        "disableGitAfterPatch" => st.disable_git_after_patch = boolean(cx, v, k),
        "network" => st.network = text(cx, v, k),
        "fromArtifact" => {
            if let Some(s) = super::versioned::from_artifact(cx, v) {
                p.bases.push(("fromArtifact", Base::Artifact(s)));
            }
        }
        other => unknown_directive(cx, st.artifact, other, v),
    }
}

fn unknown_directive(cx: &mut Ctx<'_>, artifact: bool, key: &str, v: &Spanned<Node>) {
    let known = if artifact {
        stapel_artifact_keys()
    } else {
        stapel_image_keys()
    };
    let (l, c) = key_location(cx, key, v.referenced);
    let mut msg = unknown_key_message(key, known);
    if image_keys().contains(&key) {
        msg.push_str(" here: it belongs to Dockerfile images, and this document is a stapel image (it has stapel directives such as `from:`)");
    }
    cx.at_pos(l, c, msg);
}

/// The checks across directives (one base, `fromLatest` admitted, one builder, distinct
/// mounts), then werf's automatic excludes. `None` when nothing can be built.
fn complete(
    cx: &mut Ctx<'_>,
    st: &mut StapelRecipe,
    mut p: Pending,
    doc_loc: Location,
) -> Option<()> {
    match p.bases.len() {
        1 => st.base = p.bases.remove(0).1,
        0 => {
            cx.at(
                &doc_loc,
                "`from: DOCKER_IMAGE`, `fromImage: IMAGE_NAME`, `fromImageArtifact: IMAGE_ARTIFACT_NAME` required!",
            );
            return None;
        }
        _ => {
            cx.at(
                &doc_loc,
                "conflict between `from`, `fromImage` and `fromImageArtifact` directives!",
            );
            return None;
        }
    }
    if st.from_latest {
        let loc = p.from_latest_at.unwrap_or(doc_loc);
        if let Some(why) = super::versioned::from_latest_refusal(cx, p.admitted) {
            cx.at(&loc, why);
        } else {
            st.from_latest_at = Some(cx.where_at(&loc));
        }
    }
    if st
        .shell
        .as_ref()
        .is_some_and(|s| s.builder_name() == "shell")
        && st.ansible.is_some()
    {
        cx.at(
            &doc_loc,
            "can not use shell and ansible builders at the same time!",
        );
    }
    if st.shell.is_none() {
        st.shell = p.ansible_steps;
    }
    let mut seen = BTreeSet::new();
    for m in &st.mounts {
        if !seen.insert(m.to.clone()) {
            cx.at(&doc_loc, "conflict between mounts!");
        }
    }
    auto_exclude(cx, &doc_loc, st);
    Some(())
}

/// The node of the model for a stapel document.
pub(super) fn node(name: Option<String>, mut st: StapelRecipe) -> ImageConfig {
    ImageConfig {
        name,
        dependencies: std::mem::take(&mut st.parsed_dependencies),
        cache_version: None,
        recipe: Recipe::Stapel(Box::new(st)),
        is_final: true,
        image_spec: None,
    }
}
