//! Stapel images and artifacts (werf's own builder: `from`, `git`, `shell`, `import`,
//! `docker`, `mount` instead of a Dockerfile), read and validated as werf 1.1 reads them
//! (pkg/config/raw_*.go, stapel_image_base.go, import.go, werf.go), every problem located.
//! docs/stapel.md says what is built and how.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value as Json;
use serde_saphyr::{Location, Spanned};

use super::cleanup::{Node, key_location, unknown_keys};
use super::load::{Ctx, unknown_key_message};
use super::model::{Dependency, ImageConfig};
use super::schema::{
    image_keys, stapel_ansible_keys, stapel_artifact_keys, stapel_docker_keys, stapel_git_keys,
    stapel_image_keys, stapel_import_keys, stapel_mount_keys, stapel_shell_keys,
    stapel_stage_dependencies_keys,
};

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

/// The four user stages, in build order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum UserStage {
    BeforeInstall,
    Install,
    BeforeSetup,
    Setup,
}

impl UserStage {
    pub const ALL: [UserStage; 4] = [
        UserStage::BeforeInstall,
        UserStage::Install,
        UserStage::BeforeSetup,
        UserStage::Setup,
    ];

    /// werf's name (`beforeInstall`).
    pub fn key(self) -> &'static str {
        match self {
            UserStage::BeforeInstall => "beforeInstall",
            UserStage::Install => "install",
            UserStage::BeforeSetup => "beforeSetup",
            UserStage::Setup => "setup",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A stapel image or artifact.
#[derive(Debug, Clone, Serialize)]
pub struct Stapel {
    pub artifact: bool,
    pub base: Base,
    pub from_latest: bool,
    /// `FILE:LINE:COL` of `fromLatest`.
    pub from_latest_at: Option<String>,
    /// With `fromLatest`: the registry's digest of the base tag, filled in before
    /// signatures are computed ([`crate::stapel::resolve_from_latest`]).
    pub from_latest_digest: Option<String>,
    pub from_cache_version: Option<String>,
    pub git: Vec<GitMapping>,
    pub shell: Option<Shell>,
    /// `ansible:` tasks per stage, as written; they are built as the bash in `shell`.
    pub ansible: Option<BTreeMap<String, Json>>,
    pub imports: Vec<StapelImport>,
    pub docker: Option<DockerInstructions>,
    pub mounts: Vec<Mount>,
    pub as_layers: bool,
    /// The document as rendered, without its name: what the signature hashes.
    pub doc: Json,
    /// `FILE:LINE:COL` of the document's name.
    pub at: String,
    /// Directives accepted by the config but not built yet, each a located message: the
    /// build refuses the image rather than build something else.
    pub unsupported: Vec<String>,
}

/// Where the image starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Base {
    /// `from: NAME[:TAG]`
    From(String),
    /// `fromImage: IMAGE` (a stapel or Dockerfile image of this werf.yaml).
    Image(String),
    /// `fromImageArtifact: ARTIFACT`.
    Artifact(String),
}

impl Base {
    /// The werf.yaml image or artifact this one starts from.
    pub fn source(&self) -> Option<&str> {
        match self {
            Base::From(_) => None,
            Base::Image(n) | Base::Artifact(n) => Some(n),
        }
    }
}

/// Which commit of a remote repository a mapping takes (werf: commit > tag > branch >
/// the remote's HEAD branch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum GitRef {
    Commit(String),
    Tag(String),
    Branch(String),
    /// The branch the remote's HEAD names.
    Head,
}

/// A remote mapping's repository (`git: - url: …`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteGit {
    pub url: String,
    pub reference: GitRef,
}

/// A `git:` mapping: the project's repository at HEAD, or a remote one (`url:`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GitMapping {
    /// `url:` and its branch/tag/commit; `None` for the project's own repository.
    pub remote: Option<RemoteGit>,
    /// Absolute, cleaned path in the repository (`/` = everything).
    pub add: String,
    /// Absolute, cleaned path in the image.
    pub to: String,
    pub include_paths: Vec<String>,
    /// As written, plus werf's automatic excludes of other mappings' and imports' regions.
    pub exclude_paths: Vec<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub stage_dependencies: BTreeMap<String, Vec<String>>,
    pub at: String,
}

/// One shell command (a list item; may hold several lines).
#[derive(Debug, Clone, Serialize)]
pub struct ShellCommand {
    pub text: String,
    /// `FILE:LINE:COL` of the item.
    pub at: String,
}

/// `shell:`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Shell {
    /// `shell`, or `ansible` when the commands were translated from ansible tasks.
    pub builder: &'static str,
    /// Commands per stage, in [`UserStage::ALL`] order.
    pub commands: [Vec<ShellCommand>; 4],
    pub cache_version: Option<String>,
    /// `<stage>CacheVersion`, in [`UserStage::ALL`] order.
    pub stage_cache_versions: [Option<String>; 4],
}

impl Shell {
    /// `shell` or `ansible` (for messages).
    pub fn builder_name(&self) -> &'static str {
        if self.builder.is_empty() {
            "shell"
        } else {
            self.builder
        }
    }

    pub fn stage(&self, s: UserStage) -> &[ShellCommand] {
        &self.commands[s.index()]
    }

    /// werf runs a user stage when it has commands or a cache version applies to it
    /// (a shared `cacheVersion` brings all four into being, each running an empty script).
    pub fn has_stage(&self, s: UserStage) -> bool {
        !self.commands[s.index()].is_empty()
            || self.cache_version.is_some()
            || self.stage_cache_versions[s.index()].is_some()
    }

    /// The cache versions that apply to a stage (part of its script, so of its cache key).
    pub fn cache_versions(&self, s: UserStage) -> Vec<&str> {
        self.cache_version
            .iter()
            .chain(&self.stage_cache_versions[s.index()])
            .map(String::as_str)
            .collect()
    }
}

/// When an import happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ImportPosition {
    BeforeInstall,
    AfterInstall,
    BeforeSetup,
    AfterSetup,
}

/// An `import:` entry.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StapelImport {
    /// The image or artifact copied from.
    pub source: String,
    /// The build-graph node copied from: `source`, or for `stage:` the node that builds
    /// `source` up to that stage ([`stage_node_name`]).
    pub node: String,
    pub from_artifact: bool,
    pub add: String,
    pub to: String,
    pub position: ImportPosition,
    pub stage: Option<String>,
    pub include_paths: Vec<String>,
    pub exclude_paths: Vec<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub at: String,
    #[serde(skip)]
    pub(super) loc: Option<Location>,
}

/// `ENTRYPOINT`/`CMD`: a string is the shell form, a list the exec form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DockerCommand {
    Shell(String),
    Exec(Vec<String>),
}

/// `docker:`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerInstructions {
    pub volume: Vec<String>,
    pub expose: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub label: BTreeMap<String, String>,
    pub entrypoint: Option<DockerCommand>,
    pub cmd: Option<DockerCommand>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub healthcheck: Option<String>,
}

/// A `mount:` entry.
#[derive(Debug, Clone, Serialize)]
pub struct Mount {
    pub to: String,
    pub from: MountFrom,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MountFrom {
    BuildDir,
    TmpDir,
    Path(String),
}

type NodeMap = [(String, Spanned<Node>)];

/// Is this `image:` document a stapel image (rather than a Dockerfile image)?
pub fn is_stapel_doc<'a>(mut keys: impl Iterator<Item = &'a String>) -> bool {
    keys.any(|k| STAPEL_KEYS.contains(&k.as_str()))
}

/// `Node` → JSON (for the signature's normalized document and ansible tasks).
pub(super) fn node_json(n: &Node) -> Json {
    match n {
        Node::Null => Json::Null,
        Node::Bool(b) => Json::Bool(*b),
        Node::Int(i) => Json::from(*i),
        Node::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Node::Str(s) => Json::String(s.clone()),
        Node::Seq(items) => Json::Array(items.iter().map(|i| node_json(&i.value)).collect()),
        Node::Map(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), node_json(&v.value)))
                .collect(),
        ),
    }
}

/// Parse one stapel document (`doc` in file order). Returns its names (an image list gives
/// several; `None` = nameless) and the directives, or `None` when nothing can be built.
pub(super) fn parse(
    cx: &mut Ctx<'_>,
    doc: &NodeMap,
    artifact: bool,
) -> Option<(Vec<Option<String>>, Stapel)> {
    let name_key = if artifact { "artifact" } else { "image" };
    let name_v = get(doc, name_key)?;
    let at = cx.where_at(&name_v.referenced);
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

    let known = if artifact {
        stapel_artifact_keys()
    } else {
        stapel_image_keys()
    };
    let mut st = Stapel {
        artifact,
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
        as_layers: false,
        doc: Json::Object(
            doc.iter()
                .filter(|(k, _)| k != name_key)
                .map(|(k, v)| (k.clone(), node_json(&v.value)))
                .collect(),
        ),
        at,
        unsupported: Vec::new(),
    };
    let mut bases: Vec<(&str, Base)> = Vec::new();
    let mut admitted = false;
    let mut ansible_steps = None;
    let mut from_latest_at = None;
    for (k, v) in doc {
        let k = k.as_str();
        match k {
            "image" | "artifact" if k == name_key => {}
            "from" => {
                if let Some(s) = text(cx, v, "from") {
                    bases.push(("from", Base::From(s)));
                }
            }
            "fromImage" => {
                if let Some(s) = text(cx, v, "fromImage") {
                    bases.push(("fromImage", Base::Image(s)));
                }
            }
            "fromImageArtifact" => {
                if let Some(s) = text(cx, v, "fromImageArtifact") {
                    bases.push(("fromImageArtifact", Base::Artifact(s)));
                }
            }
            "fromLatest" => {
                st.from_latest = boolean(cx, v, "fromLatest");
                from_latest_at = Some(v.referenced);
            }
            "herebyIAdmitThatFromLatestMightBreakReproducibility" => admitted = boolean(cx, v, k),
            "fromCacheVersion" => st.from_cache_version = text(cx, v, k),
            "asLayers" => st.as_layers = boolean(cx, v, k),
            "git" => st.git = git(cx, v),
            "shell" => st.shell = shell(cx, v),
            "ansible" => {
                st.ansible = ansible(cx, v);
                ansible_steps = super::ansible::parse(cx, v);
            }
            "import" => st.imports = imports(cx, v),
            "mount" => st.mounts = mounts(cx, v),
            "docker" if !artifact => st.docker = docker(cx, v),
            "docker" => {
                let (l, c) = key_location(cx, k, v.referenced);
                cx.at_pos(l, c, "`docker` section is not supported for artifact!");
            }
            // werf ≥ 1.2 keys seen in real stapel files: no effect on what is built here.
            "final" | "cacheVersion" | "imageSpec" | "disableGitAfterPatch" => {
                cx.warn_at(
                    &v.referenced,
                    format!("`{k}` (werf ≥ 1.2) is accepted and ignored in a stapel image"),
                );
            }
            "fromArtifact" => {
                let (l, c) = key_location(cx, k, v.referenced);
                cx.at_pos(
                    l,
                    c,
                    "unknown key `fromArtifact`: werf 1.1 names it `fromImageArtifact`",
                );
            }
            other => {
                let (l, c) = key_location(cx, other, v.referenced);
                let mut msg = unknown_key_message(other, known);
                if image_keys().contains(&other) {
                    msg.push_str(" here: it belongs to Dockerfile images, and this document is a stapel image (it has stapel directives such as `from:`)");
                }
                cx.at_pos(l, c, msg);
            }
        }
    }
    let doc_loc = name_v.referenced;
    match bases.len() {
        1 => st.base = bases.remove(0).1,
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
        let loc = from_latest_at.unwrap_or(doc_loc);
        if !admitted {
            cx.at(&loc, "`fromLatest: true` puts the registry's current digest of the base image into the signature, which may break the reproducibility of earlier builds; werf 1.1 requires `herebyIAdmitThatFromLatestMightBreakReproducibility: true` alongside it (or pin a tag and bump `fromCacheVersion`)");
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
        st.shell = ansible_steps;
    }
    let mut seen = BTreeSet::new();
    for m in &st.mounts {
        if !seen.insert(m.to.clone()) {
            cx.at(&doc_loc, "conflict between mounts!");
        }
    }
    auto_exclude(cx, &doc_loc, &mut st);
    Some((names, st))
}

/// werf's automatic excludes between a document's exports (git mappings, then imports)
/// whose `to` paths nest (pkg/config/export_base.go): the outer one leaves the inner one's
/// region out. Same region twice is werf's "Conflict between imports!".
fn auto_exclude(cx: &mut Ctx<'_>, doc_loc: &Location, st: &mut Stapel) {
    struct Exp {
        to: String,
        include: Vec<String>,
        exclude: Vec<String>,
    }
    let mut exps: Vec<Exp> = st
        .git
        .iter()
        .map(|g| Exp {
            to: g.to.clone(),
            include: g.include_paths.clone(),
            exclude: g.exclude_paths.clone(),
        })
        .chain(st.imports.iter().map(|i| Exp {
            to: i.to.clone(),
            include: i.include_paths.clone(),
            exclude: i.exclude_paths.clone(),
        }))
        .collect();
    let prefix = |to: &str| -> String { to.trim_start_matches('/').to_string() };
    let includes = |e: &Exp| -> Vec<String> {
        let p = prefix(&e.to);
        if e.include.is_empty() {
            if p.is_empty() { Vec::new() } else { vec![p] }
        } else {
            e.include.iter().map(|i| join(&p, i)).collect()
        }
    };
    let excludes = |e: &Exp| -> Vec<String> {
        let p = prefix(&e.to);
        e.exclude.iter().map(|x| join(&p, x)).collect()
    };
    for a in 0..exps.len() {
        for b in 0..exps.len() {
            if a == b || !is_sub_path(&exps[a].to, &exps[b].to) {
                continue;
            }
            let (a_inc, b_inc) = (includes(&exps[a]), includes(&exps[b]));
            if a_inc.is_empty() && b_inc.is_empty() {
                cx.at(doc_loc, format!("Conflict between imports! (two mappings or imports to {} with no includePaths)", exps[a].to));
                return;
            }
            'next: for bi in &b_inc {
                for ai in &a_inc {
                    if bi == ai {
                        cx.at(
                            doc_loc,
                            format!("Conflict between imports! (both cover /{bi})"),
                        );
                        return;
                    }
                    if is_sub_path(bi, ai) {
                        continue 'next;
                    }
                }
                for ax in excludes(&exps[a]) {
                    if is_sub_path(&ax, bi) {
                        continue 'next;
                    }
                }
                let rel = relative(&exps[a].to, &format!("/{bi}"));
                exps[a].exclude.push(rel);
            }
        }
    }
    let n = st.git.len();
    for (k, e) in exps.into_iter().enumerate() {
        if k < n {
            st.git[k].exclude_paths = e.exclude;
        } else {
            st.imports[k - n].exclude_paths = e.exclude;
        }
    }
}

fn join(prefix: &str, p: &str) -> String {
    let p = p.trim_start_matches('/');
    clean(&if prefix.is_empty() {
        p.to_string()
    } else {
        format!("{prefix}/{p}")
    })
    .trim_start_matches('/')
    .to_string()
}

/// werf's isSubPath: `path` is `sub` or lies under it.
fn is_sub_path(sub: &str, path: &str) -> bool {
    let with = format!("{}/", sub.trim_end_matches('/'));
    path.starts_with(&with) || path == sub
}

/// `target` relative to the directory `base` (both absolute, `target` under `base`).
fn relative(base: &str, target: &str) -> String {
    let b = base.trim_end_matches('/');
    target
        .strip_prefix(b)
        .unwrap_or(target)
        .trim_start_matches('/')
        .to_string()
}

/// Go's `path.Clean` for slash paths.
pub fn clean(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !abs {
                    out.push("..");
                }
            }
            x => out.push(x),
        }
    }
    let joined = out.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn get<'a>(m: &'a NodeMap, key: &str) -> Option<&'a Spanned<Node>> {
    m.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn map<'a>(cx: &mut Ctx<'_>, v: &'a Spanned<Node>, path: &str) -> Option<&'a NodeMap> {
    match &v.value {
        Node::Map(m) => Some(m.as_slice()),
        Node::Null => None,
        other => {
            cx.at(
                &v.referenced,
                format!("{path} must be a mapping, not {}", other.kind()),
            );
            None
        }
    }
}

fn seq<'a>(cx: &mut Ctx<'_>, v: &'a Spanned<Node>, path: &str) -> &'a [Spanned<Node>] {
    match &v.value {
        Node::Seq(items) => items.as_slice(),
        Node::Null => &[],
        other => {
            cx.at(
                &v.referenced,
                format!("{path} must be a list, not {}", other.kind()),
            );
            &[]
        }
    }
}

/// A scalar as text (yaml.v2 keeps numbers' text in string fields).
fn scalar_text(n: &Node) -> Option<String> {
    match n {
        Node::Str(s) => Some(s.clone()),
        Node::Int(i) => Some(i.to_string()),
        Node::Float(f) => Some(f.to_string()),
        Node::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn text(cx: &mut Ctx<'_>, v: &Spanned<Node>, path: &str) -> Option<String> {
    match &v.value {
        Node::Null => None,
        n => match scalar_text(n) {
            Some(s) => Some(s),
            None => {
                cx.at(
                    &v.referenced,
                    format!("{path} must be a string, not {}", n.kind()),
                );
                None
            }
        },
    }
}

fn boolean(cx: &mut Ctx<'_>, v: &Spanned<Node>, path: &str) -> bool {
    match v.value {
        Node::Bool(b) => b,
        Node::Null => false,
        ref other => {
            cx.at(
                &v.referenced,
                format!("{path} must be true or false, not {}", other.kind()),
            );
            false
        }
    }
}

/// A string or a list of strings.
fn string_or_list(cx: &mut Ctx<'_>, v: &Spanned<Node>, path: &str) -> Vec<String> {
    match &v.value {
        Node::Null => Vec::new(),
        Node::Seq(items) => items
            .iter()
            .filter_map(|i| match scalar_text(&i.value) {
                Some(s) => Some(s),
                None => {
                    cx.at(
                        &i.referenced,
                        format!("{path}: single string or array of strings expected"),
                    );
                    None
                }
            })
            .collect(),
        n => match scalar_text(n) {
            Some(s) => vec![s],
            None => {
                cx.at(
                    &v.referenced,
                    format!("{path}: single string or array of strings expected"),
                );
                Vec::new()
            }
        },
    }
}

fn relative_paths(cx: &mut Ctx<'_>, v: &Spanned<Node>, path: &str, what: &str) -> Vec<String> {
    let out: Vec<String> = string_or_list(cx, v, path)
        .into_iter()
        .map(|p| p.trim_end_matches('/').to_string())
        .collect();
    if out.iter().any(|p| p.starts_with('/')) {
        cx.at(
            &v.referenced,
            format!("{path}: `{what}: [PATH, ...]|PATH` should be relative paths!"),
        );
    }
    out
}

fn absolute(
    cx: &mut Ctx<'_>,
    v: Option<&Spanned<Node>>,
    at: &Location,
    path: &str,
    message: &str,
) -> Option<String> {
    let s = match v {
        Some(v) => text(cx, v, path),
        None => None,
    };
    match s {
        Some(s) if s.starts_with('/') => Some(clean(&s)),
        _ => {
            let loc = v.map_or(*at, |v| v.referenced);
            cx.at(&loc, format!("{path}: {message}"));
            None
        }
    }
}

fn git(cx: &mut Ctx<'_>, v: &Spanned<Node>) -> Vec<GitMapping> {
    let mut out = Vec::new();
    for (n, item) in seq(cx, v, "git").iter().enumerate() {
        let path = format!("git[{n}]");
        let Some(m) = map(cx, item, &path) else {
            continue;
        };
        unknown_keys(cx, m, stapel_git_keys(), &path);
        let at = cx.where_at(&item.referenced);
        let url = get(m, "url").and_then(|x| text(cx, x, &format!("{path}.url")));
        let refs: Vec<(&str, String)> = ["branch", "tag", "commit"]
            .into_iter()
            .filter_map(|k| {
                Some((
                    k,
                    get(m, k).and_then(|x| text(cx, x, &format!("{path}.{k}")))?,
                ))
            })
            .collect();
        let remote = match url {
            None => {
                if !refs.is_empty() {
                    cx.at(
                        &item.referenced,
                        format!("{path}: specify `branch: BRANCH`, `tag: TAG` and `commit: COMMIT` only for remote git!"),
                    );
                }
                None
            }
            Some(url) => {
                let admitted = get(m, "herebyIAdmitThatBranchMightBreakReproducibility")
                    .is_some_and(|x| {
                        boolean(
                            cx,
                            x,
                            &format!("{path}.herebyIAdmitThatBranchMightBreakReproducibility"),
                        )
                    });
                let reference = match refs.as_slice() {
                    [] => GitRef::Head,
                    [("branch", b)] => GitRef::Branch(b.clone()),
                    [("tag", t)] => GitRef::Tag(t.clone()),
                    [(_, c)] => GitRef::Commit(c.clone()),
                    _ => {
                        cx.at(
                            &item.referenced,
                            format!("{path}: specify only `branch: BRANCH`, `tag: TAG` or `commit: COMMIT` for remote git!"),
                        );
                        GitRef::Head
                    }
                };
                if matches!(reference, GitRef::Head | GitRef::Branch(_)) && !admitted {
                    cx.at(
                        &item.referenced,
                        format!("{path}: a remote mapping that follows a branch (`branch:`, or none of branch/tag/commit: the remote's HEAD branch) takes the branch's latest commit, so new commits there change the image and earlier builds may not be reproducible; werf 1.1 requires `herebyIAdmitThatBranchMightBreakReproducibility: true` in the mapping (or use `tag:` or `commit:`)"),
                    );
                }
                Some(RemoteGit { url, reference })
            }
        };
        let add = match get(m, "add") {
            Some(a) => absolute(
                cx,
                Some(a),
                &item.referenced,
                &format!("{path}.add"),
                "`add: PATH` absolute path required for import!",
            ),
            None => Some("/".to_string()),
        };
        let to = absolute(
            cx,
            get(m, "to"),
            &item.referenced,
            &format!("{path}.to"),
            "`to: PATH` absolute path required for import!",
        );
        let include_paths = get(m, "includePaths")
            .map(|x| relative_paths(cx, x, &format!("{path}.includePaths"), "includePaths"))
            .unwrap_or_default();
        let exclude_paths = get(m, "excludePaths")
            .map(|x| relative_paths(cx, x, &format!("{path}.excludePaths"), "excludePaths"))
            .unwrap_or_default();
        let owner = get(m, "owner").and_then(|x| text(cx, x, &format!("{path}.owner")));
        let group = get(m, "group").and_then(|x| text(cx, x, &format!("{path}.group")));
        let mut stage_dependencies = BTreeMap::new();
        if let Some(sd) = get(m, "stageDependencies") {
            let sp = format!("{path}.stageDependencies");
            if let Some(sm) = map(cx, sd, &sp) {
                unknown_keys(cx, sm, stapel_stage_dependencies_keys(), &sp);
                for (k, x) in sm {
                    let masks = string_or_list(cx, x, &format!("{sp}.{k}"));
                    stage_dependencies.insert(k.clone(), masks);
                }
            }
        }
        if let (Some(add), Some(to)) = (add, to) {
            out.push(GitMapping {
                remote,
                add,
                to,
                include_paths,
                exclude_paths,
                owner,
                group,
                stage_dependencies,
                at,
            });
        }
    }
    out
}

fn stage_index(key: &str) -> Option<usize> {
    UserStage::ALL
        .iter()
        .position(|s| s.key() == key)
        .or_else(|| {
            UserStage::ALL
                .iter()
                .position(|s| key.strip_suffix("CacheVersion") == Some(s.key()))
                .map(|i| i + 4)
        })
}

fn shell(cx: &mut Ctx<'_>, v: &Spanned<Node>) -> Option<Shell> {
    let m = map(cx, v, "shell")?;
    unknown_keys(cx, m, stapel_shell_keys(), "shell");
    let mut sh = Shell::default();
    for (k, x) in m {
        let path = format!("shell.{k}");
        if k == "cacheVersion" {
            sh.cache_version = text(cx, x, &path);
            continue;
        }
        match stage_index(k) {
            Some(i) if i < 4 => {
                let items: Vec<(String, Location)> = match &x.value {
                    Node::Seq(items) => items
                        .iter()
                        .filter_map(|it| match scalar_text(&it.value) {
                            Some(s) => Some((s, it.referenced)),
                            None => {
                                cx.at(
                                    &it.referenced,
                                    format!("{path}: single string or array of strings expected"),
                                );
                                None
                            }
                        })
                        .collect(),
                    Node::Null => Vec::new(),
                    n => match scalar_text(n) {
                        Some(s) => vec![(s, x.referenced)],
                        None => {
                            cx.at(
                                &x.referenced,
                                format!("{path}: single string or array of strings expected"),
                            );
                            Vec::new()
                        }
                    },
                };
                sh.commands[i] = items
                    .into_iter()
                    .map(|(text, loc)| ShellCommand {
                        text,
                        at: cx.where_at(&loc),
                    })
                    .collect();
            }
            Some(i) => sh.stage_cache_versions[i - 4] = text(cx, x, &path),
            None => {}
        }
    }
    Some(sh)
}

fn ansible(cx: &mut Ctx<'_>, v: &Spanned<Node>) -> Option<BTreeMap<String, Json>> {
    let m = map(cx, v, "ansible")?;
    unknown_keys(cx, m, stapel_ansible_keys(), "ansible");
    Some(
        m.iter()
            .map(|(k, x)| (k.clone(), node_json(&x.value)))
            .collect(),
    )
}

fn imports(cx: &mut Ctx<'_>, v: &Spanned<Node>) -> Vec<StapelImport> {
    let mut out = Vec::new();
    for (n, item) in seq(cx, v, "import").iter().enumerate() {
        let path = format!("import[{n}]");
        let Some(m) = map(cx, item, &path) else {
            continue;
        };
        unknown_keys(cx, m, stapel_import_keys(), &path);
        let loc = item.referenced;
        let at = cx.where_at(&loc);
        let fail = |cx: &mut Ctx<'_>, msg: &str| cx.at(&loc, format!("{path}: {msg}"));
        let image = get(m, "image").and_then(|x| text(cx, x, &format!("{path}.image")));
        let artifact = get(m, "artifact").and_then(|x| text(cx, x, &format!("{path}.artifact")));
        let before = get(m, "before").and_then(|x| text(cx, x, &format!("{path}.before")));
        let after = get(m, "after").and_then(|x| text(cx, x, &format!("{path}.after")));
        let stage = get(m, "stage").and_then(|x| text(cx, x, &format!("{path}.stage")));
        let (source, from_artifact) = match (image, artifact) {
            (Some(i), None) => (i, false),
            (None, Some(a)) => (a, true),
            (None, None) => {
                fail(
                    cx,
                    "artifact name `artifact: NAME` or image name `image: NAME` required for import!",
                );
                continue;
            }
            (Some(_), Some(_)) => {
                fail(
                    cx,
                    "specify only one artifact name using `artifact: NAME` or image name using `image: NAME` for import!",
                );
                continue;
            }
        };
        let position = match (before.as_deref(), after.as_deref()) {
            (Some(_), Some(_)) => {
                fail(
                    cx,
                    "specify only one artifact stage using `before: install|setup` or `after: install|setup` for import!",
                );
                continue;
            }
            (None, None) => {
                fail(
                    cx,
                    "artifact stage is not specified with `before: install|setup` or `after: install|setup` for import!",
                );
                continue;
            }
            (Some("install"), None) => ImportPosition::BeforeInstall,
            (Some("setup"), None) => ImportPosition::BeforeSetup,
            (None, Some("install")) => ImportPosition::AfterInstall,
            (None, Some("setup")) => ImportPosition::AfterSetup,
            (Some(b), None) => {
                fail(
                    cx,
                    &format!(
                        "invalid artifact stage `before: {b}` for import: expected install or setup!"
                    ),
                );
                continue;
            }
            (None, Some(a)) => {
                fail(
                    cx,
                    &format!(
                        "invalid artifact stage `after: {a}` for import: expected install or setup!"
                    ),
                );
                continue;
            }
        };
        if let Some(s) = &stage
            && !UserStage::ALL.iter().any(|u| u.key() == s)
        {
            fail(
                cx,
                &format!(
                    "invalid stage `stage: {s}` for import: expected beforeInstall, install, beforeSetup or setup"
                ),
            );
            continue;
        }
        let Some(add) = absolute(
            cx,
            get(m, "add"),
            &loc,
            &format!("{path}.add"),
            "`add: PATH` absolute path required for import!",
        ) else {
            continue;
        };
        let to = match get(m, "to") {
            Some(t) => absolute(
                cx,
                Some(t),
                &loc,
                &format!("{path}.to"),
                "`to: PATH` absolute path required for import!",
            ),
            None => Some(add.clone()),
        };
        let Some(to) = to else { continue };
        let include_paths = get(m, "includePaths")
            .map(|x| relative_paths(cx, x, &format!("{path}.includePaths"), "includePaths"))
            .unwrap_or_default();
        let exclude_paths = get(m, "excludePaths")
            .map(|x| relative_paths(cx, x, &format!("{path}.excludePaths"), "excludePaths"))
            .unwrap_or_default();
        let owner = get(m, "owner").and_then(|x| text(cx, x, &format!("{path}.owner")));
        let group = get(m, "group").and_then(|x| text(cx, x, &format!("{path}.group")));
        out.push(StapelImport {
            node: source.clone(),
            source,
            from_artifact,
            add,
            to,
            position,
            stage,
            include_paths,
            exclude_paths,
            owner,
            group,
            at,
            loc: Some(loc),
        });
    }
    out
}

fn mounts(cx: &mut Ctx<'_>, v: &Spanned<Node>) -> Vec<Mount> {
    let mut out = Vec::new();
    for (n, item) in seq(cx, v, "mount").iter().enumerate() {
        let path = format!("mount[{n}]");
        let Some(m) = map(cx, item, &path) else {
            continue;
        };
        unknown_keys(cx, m, stapel_mount_keys(), &path);
        let from = get(m, "from").and_then(|x| text(cx, x, &format!("{path}.from")));
        let from_path = get(m, "fromPath").and_then(|x| text(cx, x, &format!("{path}.fromPath")));
        let Some(to) = absolute(
            cx,
            get(m, "to"),
            &item.referenced,
            &format!("{path}.to"),
            "`to: PATH` absolute path required for mount!",
        ) else {
            continue;
        };
        let from = match (from.as_deref(), from_path) {
            (Some(f), Some(p)) => {
                cx.at(
                    &item.referenced,
                    format!("{path}: cannot use `from: {f}` and `fromPath: {p}` at the same time for mount!"),
                );
                continue;
            }
            (Some("build_dir"), None) => MountFrom::BuildDir,
            (Some("tmp_dir"), None) => MountFrom::TmpDir,
            (None, Some(p)) if !p.is_empty() => MountFrom::Path(p),
            (other, _) => {
                cx.at(
                    &item.referenced,
                    format!(
                        "{path}: invalid `from: {}` for mount: expected `tmp_dir` or `build_dir`!",
                        other.unwrap_or("")
                    ),
                );
                continue;
            }
        };
        out.push(Mount { to, from });
    }
    out
}

fn docker_command(cx: &mut Ctx<'_>, v: &Spanned<Node>, path: &str) -> Option<DockerCommand> {
    match &v.value {
        Node::Null => None,
        Node::Seq(_) => Some(DockerCommand::Exec(string_or_list(cx, v, path))),
        n => match scalar_text(n) {
            Some(s) => Some(DockerCommand::Shell(s)),
            None => {
                cx.at(
                    &v.referenced,
                    format!("{path}: single string or array of strings expected"),
                );
                None
            }
        },
    }
}

fn string_map(cx: &mut Ctx<'_>, v: &Spanned<Node>, path: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(m) = map(cx, v, path) {
        for (k, x) in m {
            match &x.value {
                Node::Null => {
                    out.insert(k.clone(), String::new());
                }
                n => match scalar_text(n) {
                    Some(s) => {
                        out.insert(k.clone(), s);
                    }
                    None => cx.at(
                        &x.referenced,
                        format!("{path}.{k} must be a string, not {}", n.kind()),
                    ),
                },
            }
        }
    }
    out
}

fn docker(cx: &mut Ctx<'_>, v: &Spanned<Node>) -> Option<DockerInstructions> {
    let m = map(cx, v, "docker")?;
    let keys = stapel_docker_keys();
    let mut d = DockerInstructions::default();
    for (k, x) in m {
        let path = format!("docker.{k}");
        match k.as_str() {
            "VOLUME" => d.volume = string_or_list(cx, x, &path),
            "EXPOSE" => d.expose = string_or_list(cx, x, &path),
            "ENV" => d.env = string_map(cx, x, &path),
            "LABEL" => d.label = string_map(cx, x, &path),
            "ENTRYPOINT" => d.entrypoint = docker_command(cx, x, &path),
            "CMD" => d.cmd = docker_command(cx, x, &path),
            "WORKDIR" => d.workdir = text(cx, x, &path),
            "USER" => d.user = text(cx, x, &path),
            "HEALTHCHECK" => d.healthcheck = text(cx, x, &path),
            other => {
                let (l, c) = key_location(cx, other, x.referenced);
                let msg = format!("docker: {}", unknown_key_message(other, keys));
                cx.at_pos(l, c, msg);
            }
        }
    }
    Some(d)
}

/// A Dockerfile-image node of the model for a stapel document.
pub(super) fn node(dir: &std::path::Path, name: Option<String>, st: Stapel) -> ImageConfig {
    ImageConfig {
        name,
        dockerfile: String::new(),
        context: ".".into(),
        context_dir: dir.to_path_buf(),
        dockerfile_path: dir.to_path_buf(),
        target: None,
        args: BTreeMap::new(),
        add_host: Vec::new(),
        network: None,
        ssh: None,
        context_add_files: Vec::new(),
        dependencies: Vec::new(),
        platform: Vec::new(),
        staged: false,
        secrets: Vec::new(),
        labels: BTreeMap::new(),
        stapel: Some(Box::new(st)),
    }
}

/// The name of the node that builds `source` up to its user stage `stage` (for
/// `import: stage:`): an artifact of its own, never published.
pub fn stage_node_name(source: &str, stage: &str) -> String {
    format!("{source} (stage {stage})")
}

/// The nodes `import: … stage: S` copies from: `source` built up to its stage S (the
/// generated Dockerfile's stage of that name as the build target). When the source has no
/// such stage (or is a Dockerfile image), werf 1.1 takes the source's last stage, so the
/// import copies from the source itself.
pub(super) fn stage_nodes(images: &mut [ImageConfig], artifacts: &mut Vec<ImageConfig>) {
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
    let Some(st) = node.stapel.as_mut() else {
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
        let has = src.stapel.as_ref().is_some_and(|s| {
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
        n.target = Some(stage.to_ascii_lowercase());
        if let Some(s) = n.stapel.as_mut() {
            s.artifact = true;
        }
        extra.push(n);
    }
}

/// werf's whole-config checks of stapel relations (werf.go): sources exist and are of the
/// right kind, no image is its own base, no loop through `fromImage`,
/// `fromImageArtifact` and `import`. Then each source becomes a build dependency.
pub(super) fn check_relations(
    cx: &mut Ctx<'_>,
    images: &mut [ImageConfig],
    image_locs: &[Location],
    artifacts: &mut [ImageConfig],
    artifact_locs: &[Location],
) {
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
    let mut ok = true;
    let all = images
        .iter()
        .zip(image_locs)
        .chain(artifacts.iter().zip(artifact_locs));
    for (node, loc) in all {
        let Some(st) = &node.stapel else { continue };
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
        for i in &st.imports {
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
    }
    if !ok {
        return;
    }
    // werf's loop search: depth first from every stapel node, in file order.
    let edges = |name: &str| -> Vec<String> {
        let node = images
            .iter()
            .chain(artifacts.iter())
            .find(|n| n.name.as_deref() == Some(name));
        let Some(st) = node.and_then(|n| n.stapel.as_ref()) else {
            return Vec::new();
        };
        st.base
            .source()
            .map(str::to_string)
            .into_iter()
            .chain(st.imports.iter().map(|i| i.source.clone()))
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
        .filter(|(n, _)| n.stapel.is_some())
        .filter_map(|(n, l)| n.name.clone().map(|x| (x, *l)))
        .collect();
    for (name, loc) in &stapel_nodes {
        if let Some(path) = dfs(name, &mut Vec::new(), &edges) {
            cx.at(
                loc,
                format!("infinite loop detected: {}", path.join(" -> ")),
            );
            return;
        }
    }
    for node in images.iter_mut().chain(artifacts.iter_mut()) {
        let Some(st) = &node.stapel else { continue };
        let sources: Vec<String> = st
            .base
            .source()
            .map(str::to_string)
            .into_iter()
            .chain(st.imports.iter().map(|i| i.node.clone()))
            .collect();
        for s in sources {
            if !node.dependencies.iter().any(|d| d.image == s) {
                node.dependencies.push(Dependency {
                    image: s,
                    imports: Vec::new(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_is_go_path_clean() {
        assert_eq!(clean("/a/b/"), "/a/b");
        assert_eq!(clean("/a//b/./c/.."), "/a/b");
        assert_eq!(clean("/"), "/");
        assert_eq!(clean("/.."), "/");
        assert_eq!(clean("a/../.."), "..");
    }

    #[test]
    fn sub_paths_and_relative() {
        assert!(is_sub_path("/app", "/app/static"));
        assert!(is_sub_path("/app", "/app"));
        assert!(!is_sub_path("/app", "/apple"));
        assert_eq!(relative("/app", "/app/static"), "static");
        assert_eq!(relative("/", "/out/bin"), "out/bin");
    }
}
