//! Rendered werf.yaml → the typed model: the meta document, then each image or artifact
//! document (Dockerfile images in `image.rs`, stapel ones in `stapel/`), then the checks
//! across documents. Every problem is collected (not just the first) and located.

mod ansible;
mod cleanup;
mod deps;
pub(super) mod image;
mod image_spec;
mod stapel;
mod versioned;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;
use serde_saphyr::{Location, Spanned};

use super::error::{ConfigError, ConfigErrors, Ctx, display_name, plain, unknown_key_message};
use super::model::*;
use super::rendered::Rendered;
use super::schema::meta_keys;
use super::yaml::Node;
use image::{Doc, check_image_name, check_reserved_name, parse_image};

type NodeDoc = BTreeMap<String, Spanned<Node>>;

/// What the meta document gives.
struct Meta {
    project: String,
    cleanup: CleanupConfig,
    extra: BTreeMap<String, Json>,
    /// `build.imageSpec`, merged into final images.
    image_spec: Option<ImageSpec>,
    /// `build.platform`, normalized: the platforms of images without their own.
    platform: Vec<String>,
}

/// Images and artifacts in file order, each with the position of its name.
#[derive(Default)]
struct Nodes {
    images: Vec<ImageConfig>,
    locs: Vec<Location>,
    artifacts: Vec<ImageConfig>,
    artifact_locs: Vec<Location>,
}

/// Parse rendered text into the model.
pub fn parse(rendered: &Rendered) -> Result<Config, ConfigErrors> {
    let file = display_name(&rendered.path, &rendered.dir);
    let mut cx = Ctx {
        file: file.clone(),
        rendered,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let (docs, node_docs) = read_docs(&mut cx)?;
    let mut node_docs = node_docs.into_iter().flatten().filter(|d| !d.is_empty());
    node_docs.next();
    let mut docs = docs.into_iter().flatten().filter(|d| !d.is_empty());
    let Some(meta) = docs.next() else {
        return Err(plain(
            &file,
            "empty config: `project:` and `configVersion: 1` are required",
        ));
    };
    let meta = parse_meta(&mut cx, &meta);
    let mut nodes = Nodes::default();
    for doc in docs {
        let node_doc = node_docs.next();
        parse_doc(&mut cx, &mut nodes, &doc, node_doc);
    }
    finish(cx, meta, nodes)
}

/// The documents as JSON values, and again as trees whose every node keeps its position
/// (stapel documents are validated key by key, at any depth).
type Docs = (Vec<Option<Doc>>, Vec<Option<NodeDoc>>);

fn read_docs(cx: &mut Ctx<'_>) -> Result<Docs, ConfigErrors> {
    let rendered = cx.rendered;
    let text = &rendered.text;
    // werf decodes with yaml.v2: YAML 1.1, where `0755` is octal and `on` is true.
    let mut opts = serde_saphyr::Options::default();
    opts.legacy_octal_numbers = true;
    let docs: Vec<Option<Doc>> = match serde_saphyr::from_multiple_with_options(text, opts.clone())
    {
        Ok(d) => d,
        Err(e) => {
            let msg = e.to_string();
            let first = msg.lines().next().unwrap_or("invalid YAML").to_string();
            match e.location() {
                Some(loc) => cx.at(&loc, format!("YAML syntax: {first}")),
                None => cx.errors.push(ConfigError {
                    file: cx.file.clone(),
                    line: 0,
                    col: 0,
                    message: format!("YAML syntax: {first}"),
                }),
            }
            return Err(ConfigErrors(std::mem::take(&mut cx.errors)));
        }
    };
    let node_docs: Vec<Option<NodeDoc>> =
        serde_saphyr::from_multiple_with_options(text, opts).unwrap_or_default();
    Ok((docs, node_docs))
}

/// The meta document: `project`, `configVersion`, `cleanup` and the sections kept as written.
fn parse_meta(cx: &mut Ctx<'_>, meta: &Doc) -> Meta {
    let mut out = Meta {
        project: String::new(),
        cleanup: CleanupConfig::default(),
        extra: BTreeMap::new(),
        image_spec: None,
        platform: Vec::new(),
    };
    let at_top = |cx: &mut Ctx<'_>, message: &str| {
        cx.errors.push(ConfigError {
            file: cx.file.clone(),
            line: 1,
            col: 1,
            message: message.into(),
        });
    };
    if meta.contains_key("image") || meta.contains_key("artifact") {
        at_top(
            cx,
            "the first document must be the meta document with `project:` and `configVersion: 1`",
        );
    }
    for (k, v) in meta {
        match k.as_str() {
            "project" => match &v.value {
                Json::String(p) if is_project_slug(p) => out.project = p.clone(),
                Json::String(p) => cx.at(&v.referenced, format!("project {p:?} is not valid: use lowercase letters, digits and single dashes, at most 50 characters")),
                _ => cx.at(&v.referenced, "project must be a string"),
            },
            "configVersion" => {
                if v.value.as_i64() != Some(1) {
                    cx.at(&v.referenced, format!("configVersion must be 1, got {}", v.value));
                }
            }
            "cleanup" => {
                if let Some(node) = cleanup::cleanup_node(&cx.rendered.text) {
                    out.cleanup = cleanup::parse(cx, &node);
                } else if !v.value.is_null() {
                    cx.at(&v.referenced, "cleanup must be a mapping");
                }
            }
            k if meta_keys().contains(&k) => {
                versioned::check_meta_section(cx, k, v);
                out.extra.insert(k.to_string(), v.value.clone());
            }
            "image" | "artifact" => {}
            other => cx.key(v, other, unknown_key_message(other, meta_keys())),
        }
    }
    out.image_spec = image_spec::meta(cx, meta.get("build"));
    if let Some(b) = meta.get("build")
        && let Some(p) = b.value.get("platform")
    {
        let list = match p {
            Json::String(s) => vec![s.clone()],
            Json::Array(items) if items.iter().all(Json::is_string) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
            Json::Null => Vec::new(),
            _ => {
                cx.at(&b.referenced, "build.platform must be a list of strings");
                Vec::new()
            }
        };
        out.platform = image::platform_list(cx, &b.referenced, list, "build.platform");
    }
    if !meta.contains_key("project") {
        at_top(cx, "`project:` is required in the meta document");
    }
    if !meta.contains_key("configVersion") {
        at_top(cx, "`configVersion: 1` is required in the meta document");
    }
    out
}

/// One image or artifact document (after the meta document).
fn parse_doc(cx: &mut Ctx<'_>, nodes: &mut Nodes, doc: &Doc, node_doc: Option<NodeDoc>) {
    let artifact = doc.get("artifact");
    if let (Some(_), Some(i)) = (artifact, doc.get("image")) {
        cx.at(&i.referenced, "unknown doc type: one and only one of `image: NAME` or `artifact: NAME` non-empty name required!");
        return;
    }
    if artifact.is_some() || doc.contains_key("image") && stapel::is_stapel_doc(doc.keys()) {
        stapel_doc(cx, nodes, doc, node_doc);
        return;
    }
    let Some(name_v) = doc.get("image") else {
        let (line, col) = doc
            .values()
            .next()
            .map(|v| (v.referenced.line() as usize, v.referenced.column() as usize))
            .unwrap_or((1, 1));
        cx.at_pos(
            line,
            col,
            "document has no `image:` key (expected `image: NAME` or `image: ~`)",
        );
        return;
    };
    for img in parse_image(cx, doc, node_doc.as_ref(), name_v) {
        add_image(cx, nodes, name_v.referenced, img);
    }
}

/// A stapel image or artifact document, read key by key from its positioned tree.
fn stapel_doc(cx: &mut Ctx<'_>, nodes: &mut Nodes, doc: &Doc, node_doc: Option<NodeDoc>) {
    let artifact = doc.get("artifact");
    let Some(nd) = node_doc else {
        let at = artifact.or_else(|| doc.get("image")).map(|v| v.referenced);
        if let Some(at) = at {
            cx.at(
                &at,
                "this stapel document could not be read key by key (keys must be strings)",
            );
        }
        return;
    };
    // Keys in file order, as werf reports them.
    let mut ordered: Vec<(String, Spanned<Node>)> = nd.into_iter().collect();
    ordered.sort_by_key(|(_, v)| (v.referenced.line(), v.referenced.column()));
    let is_artifact = artifact.is_some();
    let Some(name_v) = artifact.or_else(|| doc.get("image")) else {
        return;
    };
    let Some((names, st)) = stapel::parse(cx, &ordered, is_artifact) else {
        return;
    };
    let cache_version = doc
        .get("cacheVersion")
        .and_then(|v| image::cache_version_of(cx, v));
    let spec = image_spec::from_doc(cx, doc);
    if is_artifact && (spec.1.is_some() || !spec.0) {
        cx.warn_at(
            &name_v.referenced,
            "an artifact is never published: `final` and `imageSpec` have no effect on it",
        );
    }
    for name in names {
        let mut img = ImageConfig {
            cache_version: cache_version.clone(),
            ..stapel::node(name.clone(), st.clone())
        };
        if is_artifact {
            nodes.artifact_locs.push(name_v.referenced);
            nodes.artifacts.push(img);
            continue;
        }
        if let Some(n) = &name {
            check_image_name(cx, &name_v.referenced, n);
            check_reserved_name(cx, &name_v.referenced, n);
        }
        (img.is_final, img.image_spec) = spec.clone();
        add_image(cx, nodes, name_v.referenced, img);
    }
}

/// An image, refused as a duplicate when its name is taken.
fn add_image(cx: &mut Ctx<'_>, nodes: &mut Nodes, loc: Location, img: ImageConfig) {
    if nodes.images.iter().any(|i| i.name == img.name) {
        match &img.name {
            Some(n) => cx.at(&loc, format!("duplicate image name {n:?}")),
            None => cx.at(&loc, "more than one nameless image (`image: ~`)"),
        }
    }
    nodes.locs.push(loc);
    nodes.images.push(img);
}

/// The checks across documents, then the model (or every error, in file order).
fn finish(mut cx: Ctx<'_>, meta: Meta, nodes: Nodes) -> Result<Config, ConfigErrors> {
    let Nodes {
        mut images,
        locs,
        mut artifacts,
        mut artifact_locs,
    } = nodes;
    versioned::resolve_bases(&cx, &mut images, &mut artifacts);
    // werf: the image's own `cacheVersion`, else the meta document's `build.cacheVersion`.
    let meta_cache_version = meta
        .extra
        .get("build")
        .and_then(|b| b.get("cacheVersion"))
        .and_then(image::scalar_text);
    for node in images.iter_mut().chain(artifacts.iter_mut()) {
        if node.cache_version.is_none() {
            node.cache_version.clone_from(&meta_cache_version);
        }
    }
    // werf 2: an image's own `platform:`, else meta `build.platform`.
    for img in images.iter_mut().chain(artifacts.iter_mut()) {
        let list = match &mut img.recipe {
            crate::config::Recipe::Dockerfile(d) => &mut d.platform,
            crate::config::Recipe::Stapel(st) => &mut st.platform,
        };
        if list.is_empty() {
            list.clone_from(&meta.platform);
        }
    }
    stapel::stage_nodes(&mut images, &mut artifacts);
    image_spec::apply_meta(meta.image_spec.as_ref(), &mut images, &mut artifacts);
    let doc_loc = artifact_locs.last().or(locs.last()).copied();
    while artifact_locs.len() < artifacts.len() {
        // `import: stage:` nodes: located at the last document (never reported: their
        // source's own checks come first).
        artifact_locs.extend(doc_loc);
        if doc_loc.is_none() {
            break;
        }
    }
    stapel::check_relations(&mut cx, &mut images, &locs, &mut artifacts, &artifact_locs);
    if cx.errors.is_empty() {
        let all: Vec<ImageConfig> = images.iter().chain(&artifacts).cloned().collect();
        let all_locs: Vec<Location> = locs.iter().chain(&artifact_locs).copied().collect();
        check_dependencies(&mut cx, &all, &all_locs);
        check_platforms(&mut cx, &all, &all_locs);
    }

    if !cx.errors.is_empty() {
        cx.errors.sort_by_key(|e| (e.line, e.col));
        return Err(ConfigErrors(cx.errors));
    }
    cx.warnings.sort_by_key(|e| (e.line, e.col));
    Ok(Config {
        warnings: cx.warnings,
        project: meta.project,
        config_version: 1,
        path: cx.rendered.path.clone(),
        dir: cx.rendered.dir.clone(),
        cleanup: meta.cleanup,
        extra: meta.extra,
        images,
        artifacts,
        stapel_toolbox: stapel::DEFAULT_TOOLBOX.to_string(),
        home: None,
        git_remotes: None,
        ssh_agent: None,
        source: None,
    })
}

fn is_project_slug(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 50
        && p.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

fn check_dependencies(cx: &mut Ctx<'_>, images: &[ImageConfig], locs: &[Location]) {
    let names: BTreeSet<&str> = images.iter().filter_map(|i| i.name.as_deref()).collect();
    for (img, loc) in images.iter().zip(locs) {
        for d in &img.dependencies {
            if !names.contains(d.image.as_str()) {
                cx.at(
                    loc,
                    format!(
                        "image {:?} depends on unknown image {:?}",
                        img.display_name(),
                        d.image
                    ),
                );
            }
        }
    }
    // Depth-first search for a cycle; report it once, as a path.
    let index: BTreeMap<&str, usize> = images
        .iter()
        .enumerate()
        .filter_map(|(i, im)| im.name.as_deref().map(|n| (n, i)))
        .collect();
    let mut state = vec![0u8; images.len()];
    let mut stack: Vec<usize> = Vec::new();
    fn visit(
        i: usize,
        images: &[ImageConfig],
        index: &BTreeMap<&str, usize>,
        state: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[i] = 1;
        stack.push(i);
        for d in &images[i].dependencies {
            let Some(&j) = index.get(d.image.as_str()) else {
                continue;
            };
            if state[j] == 1 {
                let start = stack.iter().position(|&x| x == j).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(j);
                return Some(cycle);
            }
            if state[j] == 0
                && let Some(c) = visit(j, images, index, state, stack)
            {
                return Some(c);
            }
        }
        stack.pop();
        state[i] = 2;
        None
    }
    for i in 0..images.len() {
        if state[i] == 0
            && let Some(cycle) = visit(i, images, &index, &mut state, &mut stack)
        {
            let path: Vec<&str> = cycle.iter().map(|&k| images[k].display_name()).collect();
            cx.at(
                &locs[cycle[0]],
                format!("dependency cycle: {}", path.join(" -> ")),
            );
            return;
        }
    }
}

/// werf 2's rule (issue 34): each platform of an image gets the same platform of each
/// image it depends on (its base, import sources, `dependencies:`), so a dependant's
/// platforms must be among its dependency's. A list left empty is the daemon's own
/// platform, taken here as this machine's.
fn check_platforms(cx: &mut Ctx<'_>, images: &[ImageConfig], locs: &[Location]) {
    let host = [crate::platform::host()];
    let of = |i: &ImageConfig| -> Vec<String> {
        match i.platforms() {
            [] => host.to_vec(),
            l => l.to_vec(),
        }
    };
    for (img, loc) in images.iter().zip(locs) {
        if img.platforms().is_empty() {
            continue;
        }
        let mine = of(img);
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        for d in &img.dependencies {
            let Some(dep) = images.iter().find(|i| i.name.as_deref() == Some(&d.image)) else {
                continue;
            };
            if !seen.insert(d.image.as_str()) {
                continue;
            }
            let theirs = of(dep);
            if let Some(missing) = mine.iter().find(|p| !theirs.contains(p)) {
                cx.at(
                    loc,
                    format!(
                        "image {:?} is built for {missing}, which the image it depends on, {:?}, is not (it is built for {}): a dependant's platforms must be among its dependencies' (werf: image {:?} does not support platform {missing:?})",
                        img.display_name(),
                        d.image,
                        theirs.join(", "),
                        d.image,
                    ),
                );
            }
        }
    }
}
