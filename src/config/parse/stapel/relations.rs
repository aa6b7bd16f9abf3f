//! Stapel relations across documents: `import: stage:` nodes, then werf's whole-config
//! checks of sources and loops.

use std::collections::BTreeSet;

use serde_saphyr::Location;

use crate::config::error::Ctx;
use crate::config::model::stapel::*;
use crate::config::model::{Dependency, ImageConfig};

/// The nodes `import: … stage: S` copies from: `source` built up to its stage S (the
/// generated Dockerfile's stage of that name as the build target). When the source has no
/// such stage (or is a Dockerfile image), werf 1.1 takes the source's last stage, so the
/// import copies from the source itself.
pub(in crate::config::parse) fn stage_nodes(
    images: &mut [ImageConfig],
    artifacts: &mut Vec<ImageConfig>,
) {
    let all: Vec<ImageConfig> = images.iter().chain(artifacts.iter()).cloned().collect();
    let mut extra: Vec<ImageConfig> = Vec::new();
    for n in images.iter_mut().chain(artifacts.iter_mut()) {
        add_stage_nodes(n, &all, &mut extra);
    }
    for n in extra {
        if !artifacts.iter().any(|a| a.name == n.name) {
            artifacts.push(n);
        }
    }
}

fn add_stage_nodes(node: &mut ImageConfig, all: &[ImageConfig], extra: &mut Vec<ImageConfig>) {
    let Some(st) = node.stapel_mut() else {
        return;
    };
    for i in &mut st.imports {
        let Some(stage) = i.stage.clone() else {
            continue;
        };
        let Some(src) = all
            .iter()
            .find(|n| n.name.as_deref() == Some(i.source.as_str()))
        else {
            continue;
        };
        let has = src.stapel().is_some_and(|s| {
            s.shell.as_ref().is_some_and(|sh| {
                UserStage::ALL
                    .iter()
                    .any(|u| u.key() == stage && sh.has_stage(*u))
            })
        });
        if !has {
            continue;
        }
        let name = stage_node_name(&i.source, &stage);
        i.node = name.clone();
        if extra
            .iter()
            .any(|e| e.name.as_deref() == Some(name.as_str()))
        {
            continue;
        }
        let mut n = src.clone();
        n.name = Some(name);
        if let Some(s) = n.stapel_mut() {
            s.target = Some(stage.to_ascii_lowercase());
            s.artifact = true;
        }
        extra.push(n);
    }
}

/// werf's whole-config checks of stapel relations (werf.go): sources exist and are of the
/// right kind, no image is its own base, no loop through `fromImage`,
/// `fromImageArtifact` and `import`. Then each source becomes a build dependency.
pub(in crate::config::parse) fn check_relations(
    cx: &mut Ctx<'_>,
    images: &mut [ImageConfig],
    image_locs: &[Location],
    artifacts: &mut [ImageConfig],
    artifact_locs: &[Location],
) {
    let names = check_names(cx, images, artifacts, artifact_locs);
    let all = images
        .iter()
        .zip(image_locs)
        .chain(artifacts.iter().zip(artifact_locs));
    let mut ok = true;
    for (node, loc) in all {
        ok &= check_sources(cx, node, loc, &names);
    }
    if !ok {
        return;
    }
    if check_loops(cx, images, image_locs, artifacts, artifact_locs) {
        return;
    }
    for node in images.iter_mut().chain(artifacts.iter_mut()) {
        add_source_dependencies(node);
    }
}

/// Image names and artifact names of the config.
struct Names {
    images: BTreeSet<Option<String>>,
    artifacts: BTreeSet<String>,
}

/// No artifact named as an image or as another artifact.
fn check_names(
    cx: &mut Ctx<'_>,
    images: &[ImageConfig],
    artifacts: &[ImageConfig],
    artifact_locs: &[Location],
) -> Names {
    let image_names: BTreeSet<Option<String>> = images.iter().map(|i| i.name.clone()).collect();
    let mut artifact_names: BTreeSet<String> = BTreeSet::new();
    for (a, loc) in artifacts.iter().zip(artifact_locs) {
        let n = a.name.clone().unwrap_or_default();
        if image_names.contains(&Some(n.clone())) {
            cx.at(loc, "conflict between image and artifact names!");
        }
        if !artifact_names.insert(n) {
            cx.at(loc, "conflict between artifacts names!");
        }
    }
    Names {
        images: image_names,
        artifacts: artifact_names,
    }
}

/// A node's base and imports name existing images or artifacts, not itself. `false` when
/// one does not.
fn check_sources(cx: &mut Ctx<'_>, node: &ImageConfig, loc: &Location, names: &Names) -> bool {
    let Some(st) = node.stapel() else {
        return true;
    };
    let (image_names, artifact_names) = (&names.images, &names.artifacts);
    let mut ok = true;
    let own = node.name.as_deref();
    match &st.base {
        Base::Image(n) if !st.artifact && Some(n.as_str()) == own => {
            cx.at(
                loc,
                "cannot use own image name as `fromImage` directive value!",
            );
            ok = false;
        }
        Base::Artifact(n) if st.artifact && Some(n.as_str()) == own => {
            cx.at(
                loc,
                "cannot use own image name as `fromImageArtifact` directive value!",
            );
            ok = false;
        }
        Base::Image(n) if !image_names.contains(&Some(n.clone())) => {
            cx.at(loc, format!("no such image `{n}`!"));
            ok = false;
        }
        Base::Artifact(n) if !artifact_names.contains(n) => {
            cx.at(loc, format!("no such image artifact `{n}`!"));
            ok = false;
        }
        _ => {}
    }
    for i in st.imports.iter().filter(|i| !i.external) {
        let exists = if i.from_artifact {
            artifact_names.contains(&i.source)
        } else {
            image_names.contains(&Some(i.source.clone()))
        };
        if !exists {
            let what = if i.from_artifact { "artifact" } else { "image" };
            let at = i.loc.unwrap_or(*loc);
            cx.at(&at, format!("no such {what} `{}`!", i.source));
            ok = false;
        }
    }
    ok
}

/// werf's loop search: depth first from every stapel node, in file order. `true` when a
/// loop was found (and reported).
fn check_loops(
    cx: &mut Ctx<'_>,
    images: &[ImageConfig],
    image_locs: &[Location],
    artifacts: &[ImageConfig],
    artifact_locs: &[Location],
) -> bool {
    let edges = |name: &str| -> Vec<String> {
        let node = images
            .iter()
            .chain(artifacts.iter())
            .find(|n| n.name.as_deref() == Some(name));
        let Some(st) = node.and_then(ImageConfig::stapel) else {
            return Vec::new();
        };
        st.base
            .source()
            .map(str::to_string)
            .into_iter()
            .chain(
                st.imports
                    .iter()
                    .filter(|i| !i.external)
                    .map(|i| i.source.clone()),
            )
            .collect()
    };
    fn dfs(
        name: &str,
        stack: &mut Vec<String>,
        edges: &dyn Fn(&str) -> Vec<String>,
    ) -> Option<Vec<String>> {
        if stack.iter().any(|s| s == name) {
            let mut path = stack.clone();
            path.push(name.to_string());
            let start = path.iter().position(|s| s == name).unwrap_or(0);
            return Some(path[start..].to_vec());
        }
        stack.push(name.to_string());
        for next in edges(name) {
            if let Some(found) = dfs(&next, stack, edges) {
                return Some(found);
            }
        }
        stack.pop();
        None
    }
    let stapel_nodes: Vec<(String, Location)> = images
        .iter()
        .zip(image_locs)
        .chain(artifacts.iter().zip(artifact_locs))
        .filter(|(n, _)| n.stapel().is_some())
        .filter_map(|(n, l)| n.name.clone().map(|x| (x, *l)))
        .collect();
    for (name, loc) in &stapel_nodes {
        if let Some(path) = dfs(name, &mut Vec::new(), &edges) {
            cx.at(
                loc,
                format!("infinite loop detected: {}", path.join(" -> ")),
            );
            return true;
        }
    }
    false
}

/// Each stapel source (base, imports) becomes a build dependency of the node; a registry
/// image is not built.
fn add_source_dependencies(node: &mut ImageConfig) {
    let Some(st) = node.stapel() else { return };
    let sources: Vec<String> = st
        .base
        .source()
        .map(str::to_string)
        .into_iter()
        .chain(
            st.imports
                .iter()
                .filter(|i| !i.external)
                .map(|i| i.node.clone()),
        )
        .collect();
    for s in sources {
        if !node.dependencies.iter().any(|d| d.image == s) {
            node.dependencies.push(Dependency {
                image: s,
                stage: None,
                imports: Vec::new(),
            });
        }
    }
}

/// The name of the node that builds `source` up to its user stage `stage` (for
/// `import: stage:`): an artifact of its own, never published.
pub fn stage_node_name(source: &str, stage: &str) -> String {
    format!("{source} (stage {stage})")
}
