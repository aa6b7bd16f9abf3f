//! A Dockerfile-image document: its names, directives, paths (inside the project) and
//! dependencies.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde_json::Value as Json;
use serde_saphyr::Spanned;

use crate::config::error::{Ctx, display_name, unknown_key_message};
use crate::config::model::*;
use crate::config::schema::image_keys;
use crate::settings::WerfVersion;

/// A document as JSON values, keys in name order.
pub(super) type Doc = BTreeMap<String, Spanned<Json>>;

/// A docker repository path component sequence: `a-b/c.d_e`.
fn is_image_name(n: &str) -> bool {
    let comp = |c: &str| {
        !c.is_empty()
            && c.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && c.bytes()
                .last()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && c.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
            && !c.contains("..")
    };
    n.len() <= 128 && n.split('/').all(comp)
}

pub(super) fn scalar_text(v: &Json) -> Option<String> {
    scalar(v)
}

pub(super) fn scalar(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn string_list(cx: &mut Ctx<'_>, v: &Spanned<Json>, what: &str) -> Vec<String> {
    match &v.value {
        Json::String(s) => vec![s.clone()],
        Json::Array(items) if items.iter().all(|i| scalar(i).is_some()) => {
            items.iter().filter_map(scalar).collect()
        }
        Json::Null => Vec::new(),
        _ => {
            cx.at(&v.referenced, format!("{what} must be a list of strings"));
            Vec::new()
        }
    }
}

/// `platform:` (an image's, or meta `build.platform`): normalized as werf 2 does, one
/// platform an entry (werf refuses a comma-separated entry in werf.yaml).
pub(super) fn platforms(cx: &mut Ctx<'_>, v: &Spanned<Json>, what: &str) -> Vec<String> {
    let list = string_list(cx, v, what);
    platform_list(cx, &v.referenced, list, what)
}

/// [`platforms`] of a list already read; errors at `at`.
pub(super) fn platform_list(
    cx: &mut Ctx<'_>,
    at: &serde_saphyr::Location,
    list: Vec<String>,
    what: &str,
) -> Vec<String> {
    if let Some(p) = list.iter().find(|p| p.contains(',')) {
        cx.at(
            at,
            format!("{what}: invalid platform {p:?}: specify multiple platforms using a YAML list"),
        );
        return Vec::new();
    }
    match crate::platform::normalize_list(&list) {
        Ok(l) => l,
        Err(e) => {
            cx.at(at, format!("{what}: {e}"));
            Vec::new()
        }
    }
}

/// werf's `args`: each value as Go's `%v` prints what yaml.v2 decoded (`0755` → `493`,
/// `1e3` → `1000`, `on` → `true`, `~` → `<nil>`, a list → `[a b]`).
fn go_value_map(cx: &mut Ctx<'_>, v: &Spanned<Json>, what: &str) -> BTreeMap<String, String> {
    match &v.value {
        Json::Object(m) => m
            .iter()
            .map(|(k, val)| {
                let g = crate::config::render::json_to_value(val);
                (k.clone(), gotemplate::fmt::sprint_value(&g))
            })
            .collect(),
        Json::Null => BTreeMap::new(),
        _ => {
            cx.at(
                &v.referenced,
                format!("{what} must be a map of NAME: value"),
            );
            BTreeMap::new()
        }
    }
}

fn string_map(cx: &mut Ctx<'_>, v: &Spanned<Json>, what: &str) -> BTreeMap<String, String> {
    match &v.value {
        Json::Object(m) => {
            let mut out = BTreeMap::new();
            for (k, val) in m {
                match scalar(val) {
                    Some(s) => {
                        out.insert(k.clone(), s);
                    }
                    None if val.is_null() => {
                        out.insert(k.clone(), String::new());
                    }
                    None => cx.at(
                        &v.referenced,
                        format!("{what}.{k} must be a string, number or boolean"),
                    ),
                }
            }
            out
        }
        Json::Null => BTreeMap::new(),
        _ => {
            cx.at(
                &v.referenced,
                format!("{what} must be a map of NAME: value"),
            );
            BTreeMap::new()
        }
    }
}

fn opt_string(cx: &mut Ctx<'_>, v: &Spanned<Json>, what: &str) -> Option<String> {
    match &v.value {
        Json::String(s) => Some(s.clone()),
        Json::Null => None,
        _ => {
            cx.at(&v.referenced, format!("{what} must be a string"));
            None
        }
    }
}

/// werf ≥ 1.2's `cacheVersion:` (werf reads any scalar as its text).
pub(super) fn cache_version_of(cx: &mut Ctx<'_>, v: &Spanned<Json>) -> Option<String> {
    match &v.value {
        Json::Null => None,
        other => scalar(other).or_else(|| {
            cx.at(&v.referenced, "cacheVersion must be a string");
            None
        }),
    }
}

/// `path` relative to `base`, not escaping `dir`, lexically normalised; where it exists,
/// also not escaping through a symlink (`context: link` to `/etc` would send files from
/// outside the project into an image).
fn inside(dir: &Path, base: &Path, rel: &str) -> Option<PathBuf> {
    let mut out = base.to_path_buf();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            _ => return None,
        }
    }
    if !out.starts_with(dir) {
        return None;
    }
    match (std::fs::canonicalize(&out), std::fs::canonicalize(dir)) {
        (Ok(real), Ok(root)) if !real.starts_with(&root) => None,
        _ => Some(out),
    }
}

/// A name werf accepts that is not a docker repository path (`apiServer`, `_base`): werf
/// takes any string, and the name fails only where it becomes a repository path.
pub(super) fn check_image_name(cx: &mut Ctx<'_>, loc: &serde_saphyr::Location, name: &str) {
    if is_image_name(name) {
        return;
    }
    let suggestion = suggest_image_name(name);
    let hint = if suggestion.is_empty() {
        String::new()
    } else {
        format!("; rename it `{suggestion}`")
    };
    cx.warn_at(loc, format!("image name {name:?} is accepted as werf accepts it, but it is not a docker repository path (lowercase letters and digits, with `.`, `_` or `-` only between them, `/` between parts), so it works only as part of a tag (--images-repo-mode monorepo){hint}"));
}

/// Tag prefixes werf keeps its own records under (werf 1.2's stages storage): an image so
/// named would mix its tags with them, and werf's cleanup would take them for records.
const WERF_RECORD_PREFIXES: [&str; 3] =
    ["managed-image-", "image-metadata-by-commit-", "client-id-"];

/// Names the registry layout reserves: refused, with the reason.
pub(super) fn check_reserved_name(cx: &mut Ctx<'_>, loc: &serde_saphyr::Location, name: &str) {
    let meta = crate::naming::META_IMAGE;
    let why = if name == meta || cx.rendered.monorepo && name.starts_with(&format!("{meta}-")) {
        format!(
            "`{meta}` is where Slipway keeps its commit records (next to the images): `purge` and `cleanup` would delete them with this image's tags"
        )
    } else if let Some(p) = WERF_RECORD_PREFIXES.iter().find(|p| name.starts_with(**p)) {
        format!(
            "werf keeps its own records under the prefix `{p}`: werf's cleanup would take this image's tags for them"
        )
    } else if cx.rendered.monorepo && (name == "sha256" || name.starts_with("sha256-")) {
        "in monorepo mode (`REPO:IMAGE-TAG`) its tags would start with `sha256-`, the tag schema of OCI referrers (`sha256-DIGEST`): registries and cleanup would take them for signatures and attestations of other images".to_string()
    } else {
        return;
    };
    cx.at(loc, format!("image name {name:?} is reserved: {why}"));
}

/// `apiServer` → `api-server`, `_base` → `base`, `My App` → `my-app`.
pub fn suggest_image_name(name: &str) -> String {
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in name.chars() {
        let mapped = if c.is_ascii_uppercase() {
            if prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit()) {
                out.push('-');
            }
            c.to_ascii_lowercase()
        } else if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '/') {
            c
        } else {
            '-'
        };
        let sep = |x: char| matches!(x, '.' | '_' | '-');
        if sep(mapped) && (out.is_empty() || out.ends_with(sep) || out.ends_with('/')) {
            prev = Some(c);
            continue;
        }
        if mapped == '/' && out.ends_with(sep) {
            out.pop();
        }
        out.push(mapped);
        prev = Some(c);
    }
    while out.ends_with(['.', '_', '-', '/']) {
        out.pop();
    }
    if is_image_name(&out) {
        out
    } else {
        String::new()
    }
}

/// Every image of one document: `image: [a, b]` gives several with the same directives.
pub(super) fn parse_image(
    cx: &mut Ctx<'_>,
    doc: &Doc,
    nodes: Option<&super::NodeDoc>,
    name_v: &Spanned<Json>,
) -> Vec<ImageConfig> {
    let loc = name_v.referenced;
    let names: Vec<Option<String>> = match &name_v.value {
        Json::Null => vec![None],
        Json::String(s) if s == "~" => vec![None],
        Json::String(s) => vec![Some(s.clone())],
        Json::Array(items) if !items.is_empty() && items.iter().all(Json::is_string) => items
            .iter()
            .filter_map(Json::as_str)
            .map(|s| Some(s.to_string()))
            .collect(),
        other => {
            cx.at(
                &loc,
                format!("image name must be a string, a list of strings or ~, got {other}"),
            );
            return Vec::new();
        }
    };
    for n in names.iter().flatten() {
        check_image_name(cx, &loc, n);
        check_reserved_name(cx, &loc, n);
    }
    let Some(first) = parse_image_directives(cx, doc, nodes, name_v, names[0].clone()) else {
        return Vec::new();
    };
    names
        .into_iter()
        .map(|name| ImageConfig {
            name,
            ..first.clone()
        })
        .collect()
}

fn parse_image_directives(
    cx: &mut Ctx<'_>,
    doc: &Doc,
    nodes: Option<&super::NodeDoc>,
    name_v: &Spanned<Json>,
    name: Option<String>,
) -> Option<ImageConfig> {
    let dir = cx.rendered.dir.clone();
    let mut r = DockerfileRecipe {
        dockerfile: "Dockerfile".into(),
        context: ".".into(),
        context_dir: dir.clone(),
        dockerfile_path: dir.join("Dockerfile"),
        target: None,
        args: BTreeMap::new(),
        add_host: Vec::new(),
        network: None,
        ssh: None,
        context_add_files: Vec::new(),
        platform: Vec::new(),
        staged: false,
        secrets: Vec::new(),
        labels: BTreeMap::new(),
    };
    let mut dependencies = Vec::new();
    let mut at = PathKeys::default();
    let mut cache_version = None;
    for (k, v) in doc {
        // Read from the positioned tree: their problems are located at any depth.
        let node = nodes.and_then(|n| n.get(k));
        match (k.as_str(), node) {
            ("dependencies", Some(n)) => {
                dependencies = super::deps::dependencies(cx, n, super::deps::Owner::Dockerfile);
            }
            ("secrets", Some(n)) => r.secrets = super::deps::secrets(cx, n),
            ("cacheVersion", _) => cache_version = cache_version_of(cx, v),
            ("dependencies" | "secrets", None) => {}
            _ => image_directive(cx, &mut r, &mut at, k, v),
        }
    }
    check_paths(cx, &mut r, name_v, &at);
    let (is_final, image_spec) = super::image_spec::from_doc(cx, doc);
    Some(ImageConfig {
        name,
        dependencies,
        cache_version,
        recipe: Recipe::Dockerfile(Box::new(r)),
        is_final,
        image_spec,
    })
}

/// Where `dockerfile:` and `context:` are written, for the checks of their paths.
#[derive(Default)]
struct PathKeys {
    dockerfile: Option<serde_saphyr::Location>,
    context: Option<serde_saphyr::Location>,
}

/// One key of a Dockerfile-image document.
fn image_directive(
    cx: &mut Ctx<'_>,
    img: &mut DockerfileRecipe,
    at: &mut PathKeys,
    k: &str,
    v: &Spanned<Json>,
) {
    match k {
        "image" => {}
        "dockerfile" => {
            if let Some(s) = opt_string(cx, v, "dockerfile") {
                img.dockerfile = s;
            }
            at.dockerfile = Some(v.referenced);
        }
        "context" => {
            if let Some(s) = opt_string(cx, v, "context") {
                img.context = s;
            }
            at.context = Some(v.referenced);
        }
        "target" => img.target = opt_string(cx, v, "target"),
        "network" => img.network = opt_string(cx, v, "network"),
        "ssh" => img.ssh = opt_string(cx, v, "ssh"),
        "args" => img.args = go_value_map(cx, v, "args"),
        "labels" => img.labels = string_map(cx, v, "labels"),
        "addHost" => img.add_host = string_list(cx, v, "addHost"),
        "contextAddFiles" | "contextAddFile" => img.context_add_files = string_list(cx, v, k),
        "platform" => img.platform = platforms(cx, v, "platform"),
        "staged" => match v.value {
            Json::Bool(b) => img.staged = b,
            _ => cx.at(&v.referenced, "staged must be true or false"),
        },
        // `final` and `imageSpec`: read for every image document (parse/image_spec.rs).
        "final" | "imageSpec" => {}
        // A werf ≥ 1.2 key with no effect on a Dockerfile build here.
        "disableGitAfterPatch" => cx.warn_at(
            &v.referenced,
            format!("`{k}` (werf ≥ 1.2) is accepted and ignored: it applies to stapel images only"),
        ),
        other => cx.key(v, other, unknown_key_message(other, image_keys())),
    }
}

/// `context:` and `dockerfile:` resolved inside the project, and both present.
fn check_paths(
    cx: &mut Ctx<'_>,
    img: &mut DockerfileRecipe,
    name_v: &Spanned<Json>,
    at: &PathKeys,
) {
    let dir = cx.rendered.dir.clone();
    let base = dir.clone();
    match inside(&dir, &base, &img.context) {
        Some(c) => img.context_dir = c,
        None => {
            let loc = at.context.unwrap_or(name_v.referenced);
            cx.at(
                &loc,
                format!("context {:?} escapes the project directory", img.context),
            );
        }
    }
    let dockerfile_at = at.dockerfile.unwrap_or(name_v.referenced);
    if let Some(p) = resolve_dockerfile(cx, &dockerfile_at, img) {
        img.dockerfile_path = p;
    }
    if !img.context_dir.is_dir() {
        let loc = at.context.unwrap_or(name_v.referenced);
        cx.at(
            &loc,
            format!("context directory {:?} does not exist", img.context),
        );
    } else if !img.dockerfile_path.is_file() {
        let loc = at.dockerfile.unwrap_or(name_v.referenced);
        let in_project = inside(&dir, &dir, &img.dockerfile)
            .filter(|p| *p != img.dockerfile_path && cx.rendered.werf_version.is_none());
        let also = in_project
            .map(|p| format!(" or {}", display_name(&p, &dir)))
            .unwrap_or_default();
        cx.at(
            &loc,
            format!(
                "Dockerfile {:?} not found (looked for {}{also})",
                img.dockerfile,
                display_name(&img.dockerfile_path, &dir)
            ),
        );
    }
}

/// Where `dockerfile:` is. werf 1.1 reads it relative to the project directory, werf ≥ 1.2
/// relative to `context:`. Without `--werf-version`: the context-relative file when it
/// exists, else the project-relative one (with a warning); both existing with different
/// contents is an error that asks for `--werf-version`.
fn resolve_dockerfile(
    cx: &mut Ctx<'_>,
    loc: &serde_saphyr::Location,
    img: &DockerfileRecipe,
) -> Option<PathBuf> {
    let dir = cx.rendered.dir.clone();
    let escapes = |cx: &mut Ctx<'_>| {
        cx.at(
            loc,
            format!(
                "dockerfile {:?} escapes the project directory",
                img.dockerfile
            ),
        );
        None
    };
    let by_context = inside(&dir, &img.context_dir, &img.dockerfile);
    let by_project = inside(&dir, &dir, &img.dockerfile);
    match cx.rendered.werf_version {
        Some(WerfVersion::V2) => return by_context.or_else(|| escapes(cx)),
        Some(WerfVersion::V1_1) => return by_project.or_else(|| escapes(cx)),
        None => {}
    }
    let (Some(ctx_path), Some(proj_path)) = (&by_context, &by_project) else {
        return by_context.or(by_project).or_else(|| escapes(cx));
    };
    if ctx_path == proj_path || ctx_path.is_file() && !proj_path.is_file() {
        return by_context;
    }
    let (c, p) = (display_name(ctx_path, &dir), display_name(proj_path, &dir));
    if !ctx_path.is_file() {
        if proj_path.is_file() {
            cx.warn_at(loc, format!("dockerfile {:?}: using {p} (relative to the project directory, as werf 1.1 reads it); werf ≥ 1.2 reads it relative to context:, {c}, which does not exist (--werf-version 1.1 silences this)", img.dockerfile));
            return by_project;
        }
        return by_context;
    }
    let same = std::fs::read(ctx_path).ok() == std::fs::read(proj_path).ok();
    if !same && cx.rendered.werf_by_key {
        cx.warn_at(loc, format!("dockerfile {:?} names two different files: using {c} (relative to context:, as werf ≥ 1.2 reads it, for werf.yaml has werf ≥ 1.2 keys), not {p} (relative to the project directory, as werf 1.1 reads it); --werf-version 2 or 1.1 silences this", img.dockerfile));
    } else if !same {
        cx.at(loc, format!("dockerfile {:?} names two different files: {c} (relative to context:, as werf ≥ 1.2 reads it) and {p} (relative to the project directory, as werf 1.1 reads it); choose with --werf-version 2 or --werf-version 1.1 (SLIPWAY_WERF_VERSION)", img.dockerfile));
    }
    by_context
}
