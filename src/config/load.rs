//! Finding, rendering, parsing and validating werf.yaml. Every problem is collected (not
//! just the first) and located as `FILE:LINE:COL`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde_json::Value as Json;
use serde_saphyr::Spanned;

use super::model::*;
use super::render::{RenderInput, render_mapped};
use crate::settings::{Settings, WerfVersion};

/// One located problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based; 0 when the problem has no position (e.g. a missing file).
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.col, self.message
            )
        }
    }
}

/// Every problem found, in file order.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The rendered text and where it came from (for `config render`).
#[derive(Debug, Clone)]
pub struct Rendered {
    pub path: PathBuf,
    pub dir: PathBuf,
    pub text: String,
    /// Where the rendered text came from; the default maps every position to itself.
    pub origins: Origins,
    /// `--werf-version`, for readings that differ between werf versions.
    pub werf_version: Option<WerfVersion>,
    /// Whether images share one repository (`REPO:IMAGE-TAG`): some image names are
    /// reserved then.
    pub monorepo: bool,
}

/// Rendered positions back to the lines the user wrote: werf.yaml, a `.werf/` partial or a
/// `tpl` text.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    map: Option<gotemplate::SourceMap>,
    /// File name of each template parse name.
    files: BTreeMap<String, String>,
}

/// A rendered position traced back to a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePos {
    pub file: String,
    pub line: usize,
    pub col: usize,
    /// The text at the position was produced by the action at `line:col`.
    pub produced: bool,
}

impl Origins {
    /// Where rendered `line:col` (1-based, col in characters) of `text` was written.
    pub fn locate(&self, text: &str, line: usize, col: usize) -> Option<SourcePos> {
        let map = self.map.as_ref()?;
        let start: usize = text
            .split_inclusive('\n')
            .take(line.saturating_sub(1))
            .map(str::len)
            .sum();
        let rest = &text[start.min(text.len())..];
        let within: usize = rest
            .chars()
            .take_while(|c| *c != '\n')
            .take(col.saturating_sub(1))
            .map(char::len_utf8)
            .sum();
        let o = map.locate(start + within)?;
        Some(SourcePos {
            file: self.files.get(&o.name).cloned().unwrap_or(o.name),
            line: o.line,
            col: o.col,
            produced: o.produced,
        })
    }
}

fn plain(file: &str, message: impl Into<String>) -> ConfigErrors {
    ConfigErrors(vec![ConfigError {
        file: file.to_string(),
        line: 0,
        col: 0,
        message: message.into(),
    }])
}

/// Locate werf.yaml: `--config`, else `werf.yaml` / `werf.yml` in `--dir`.
pub fn find(settings: &Settings) -> Result<(PathBuf, PathBuf), ConfigErrors> {
    let dir = std::path::absolute(&settings.dir)
        .map_err(|e| plain(&settings.dir.display().to_string(), e.to_string()))?;
    if !dir.is_dir() {
        return Err(plain(
            &settings.dir.display().to_string(),
            "project directory (--dir) does not exist",
        ));
    }
    let path = match &settings.config {
        Some(c) => {
            let p = if c.is_absolute() {
                c.clone()
            } else {
                dir.join(c)
            };
            if !p.is_file() {
                return Err(plain(
                    &c.display().to_string(),
                    "config file (--config) not found",
                ));
            }
            p
        }
        None => ["werf.yaml", "werf.yml"]
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                plain(
                    &dir.display().to_string(),
                    "no werf.yaml or werf.yml here (use --dir or --config)",
                )
            })?,
    };
    Ok((path, dir))
}

/// Render werf.yaml with the process environment.
pub fn render_config(settings: &Settings) -> Result<Rendered, ConfigErrors> {
    let (path, dir) = find(settings)?;
    let file = display_name(&path, &dir);
    let source = read_template(&path, &file)?;
    let mut partials = Vec::new();
    let werf_dir = dir.join(".werf");
    if werf_dir.is_dir() {
        let mut files: Vec<PathBuf> = walkdir::WalkDir::new(&werf_dir)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "tmpl")
            })
            .map(|e| e.into_path())
            .collect();
        files.sort();
        let mut partials_bytes = 0usize;
        for p in files {
            let name = display_name(&p, &dir);
            let text = read_template(&p, &name)?;
            partials_bytes += text.len();
            if partials_bytes as u64 > MAX_TEMPLATE_BYTES {
                return Err(plain(
                    &name,
                    format!(
                        "the .werf/ partials up to this one hold {}: more than the {} they may hold together",
                        gotemplate::budget::human(partials_bytes),
                        gotemplate::budget::human(MAX_TEMPLATE_BYTES as usize)
                    ),
                ));
            }
            partials.push((name, text));
        }
    }
    let input = RenderInput {
        dir: dir.clone(),
        env: settings.env.clone(),
        partials,
        vars: crate::settings::host_env::vars(),
    };
    let r = render_mapped(&file, &source, &input).map_err(|e| plain(&e.file, e.message))?;
    Ok(Rendered {
        path,
        dir,
        text: r.text,
        origins: Origins {
            map: Some(r.map),
            files: r.files,
        },
        werf_version: settings.werf_version,
        monorepo: settings.images_repo_mode == crate::settings::RepoMode::Monorepo
            || crate::naming::Naming::new(settings)
                .ok()
                .flatten()
                .is_some_and(|n| n.mode == Some(crate::settings::RepoMode::Monorepo)),
    })
}

/// The largest werf.yaml (and the most the `.werf/` partials may hold together): a template
/// is read whole and rendered, so memory grows with it; real ones are kilobytes.
pub const MAX_TEMPLATE_BYTES: u64 = 16 << 20;

/// A template file's text: refused when larger than [`MAX_TEMPLATE_BYTES`] (said before
/// reading it), and located at its first byte that is not UTF-8.
fn read_template(path: &Path, name: &str) -> Result<String, ConfigErrors> {
    use std::io::Read;
    let too_big = |size: String| {
        plain(
            name,
            format!(
                "the file is {size}: larger than the {} a werf.yaml or partial may be",
                gotemplate::budget::human(MAX_TEMPLATE_BYTES as usize)
            ),
        )
    };
    let f = std::fs::File::open(path).map_err(|e| plain(name, e.to_string()))?;
    let len = f.metadata().map_err(|e| plain(name, e.to_string()))?.len();
    if len > MAX_TEMPLATE_BYTES {
        return Err(too_big(format!(
            "{} ({len} bytes)",
            gotemplate::budget::human(usize::try_from(len).unwrap_or(usize::MAX))
        )));
    }
    // The size may have changed since (or the file may be a pipe): read one byte more
    // than allowed, never the rest.
    let mut bytes = Vec::with_capacity(len as usize);
    f.take(MAX_TEMPLATE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| plain(name, e.to_string()))?;
    if bytes.len() as u64 > MAX_TEMPLATE_BYTES {
        return Err(too_big("more than that".into()));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let valid = &bytes[..at];
        let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        // Everything before `at` is valid UTF-8: count its characters for the column.
        let col = String::from_utf8_lossy(&valid[line_start..])
            .chars()
            .count()
            + 1;
        ConfigErrors(vec![ConfigError {
            file: name.to_string(),
            line: valid.iter().filter(|b| **b == b'\n').count() + 1,
            col,
            message: format!(
                "invalid UTF-8 (byte 0x{:02x}): werf.yaml and its partials must be UTF-8 text",
                bytes[at]
            ),
        }])
    })
}

fn display_name(path: &Path, dir: &Path) -> String {
    path.strip_prefix(dir).unwrap_or(path).display().to_string()
}

/// Find, render, parse and validate. Touches nothing but the files it reads.
pub fn load(settings: &Settings) -> Result<Config, ConfigErrors> {
    let rendered = render_config(settings)?;
    let mut cfg = parse(&rendered)?;
    if let Some(t) = &settings.stapel_toolbox {
        cfg.stapel_toolbox = t.clone();
    }
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    Ok(cfg)
}

type Doc = BTreeMap<String, Spanned<Json>>;

use super::schema::{image_keys, meta_keys};

pub(super) struct Ctx<'a> {
    file: String,
    rendered: &'a Rendered,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigError>,
}

impl Ctx<'_> {
    pub(super) fn at(&mut self, loc: &serde_saphyr::Location, message: impl Into<String>) {
        self.at_pos(loc.line() as usize, loc.column() as usize, message);
    }

    pub(super) fn rendered_text(&self) -> &str {
        &self.rendered.text
    }

    pub(super) fn at_pos(&mut self, line: usize, col: usize, message: impl Into<String>) {
        let e = self.located(line, col, message.into());
        self.errors.push(e);
    }

    /// `FILE:LINE:COL` of a rendered position, traced back to what the user wrote (kept in
    /// the model for problems found later, at build time).
    pub(super) fn where_at(&self, loc: &serde_saphyr::Location) -> String {
        let e = self.located(loc.line() as usize, loc.column() as usize, String::new());
        format!("{}:{}:{}", e.file, e.line, e.col)
    }

    /// A located warning: accepted, but the user should know.
    pub(super) fn warn_at(&mut self, loc: &serde_saphyr::Location, message: impl Into<String>) {
        let e = self.located(loc.line() as usize, loc.column() as usize, message.into());
        self.warnings.push(e);
    }

    fn located(&self, line: usize, col: usize, mut message: String) -> ConfigError {
        let (file, line, col) = match self.rendered.origins.locate(&self.rendered.text, line, col) {
            Some(p) => {
                if p.produced {
                    let text = self
                        .rendered
                        .text
                        .lines()
                        .nth(line.saturating_sub(1))
                        .unwrap_or("");
                    message = format!(
                        "{message} (in text the template produced here; rendered line {line}: {text:?})"
                    );
                }
                (p.file, p.line, p.col)
            }
            None => (self.file.clone(), line, col),
        };
        ConfigError {
            file,
            line,
            col,
            message,
        }
    }

    /// Location of `key:` in a document, found from its value's position.
    fn key(&mut self, v: &Spanned<Json>, key: &str, message: impl Into<String>) {
        let line = v.referenced.line() as usize;
        let col = self
            .rendered
            .text
            .lines()
            .nth(line.saturating_sub(1))
            .and_then(|l| l.find(&format!("{key}:")))
            .map(|c| c + 1);
        match col {
            Some(c) => self.at_pos(line, c, message),
            None => {
                let loc = v.referenced;
                self.at(&loc, message);
            }
        }
    }
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
    // werf decodes with yaml.v2: YAML 1.1, where `0755` is octal and `on` is true.
    let mut opts = serde_saphyr::Options::default();
    opts.legacy_octal_numbers = true;
    let docs: Vec<Option<Doc>> =
        match serde_saphyr::from_multiple_with_options(&rendered.text, opts.clone()) {
            Ok(d) => d,
            Err(e) => {
                let msg = e.to_string();
                let first = msg.lines().next().unwrap_or("invalid YAML").to_string();
                match e.location() {
                    Some(loc) => cx.at(&loc, format!("YAML syntax: {first}")),
                    None => cx.errors.push(ConfigError {
                        file,
                        line: 0,
                        col: 0,
                        message: format!("YAML syntax: {first}"),
                    }),
                }
                return Err(ConfigErrors(cx.errors));
            }
        };
    // The same documents again as trees whose every node keeps its position (stapel
    // documents are validated key by key, at any depth).
    type NodeDoc = BTreeMap<String, Spanned<super::cleanup::Node>>;
    let node_docs: Vec<Option<NodeDoc>> =
        serde_saphyr::from_multiple_with_options(&rendered.text, opts).unwrap_or_default();
    let mut node_docs = node_docs.into_iter().flatten().filter(|d| !d.is_empty());
    node_docs.next();
    let mut docs = docs.into_iter().flatten().filter(|d| !d.is_empty());
    let Some(meta) = docs.next() else {
        return Err(plain(
            &file,
            "empty config: `project:` and `configVersion: 1` are required",
        ));
    };

    let mut project = String::new();
    let mut cleanup = CleanupConfig::default();
    let mut extra = BTreeMap::new();
    if meta.contains_key("image") || meta.contains_key("artifact") {
        cx.errors.push(ConfigError {
            file: file.clone(),
            line: 1,
            col: 1,
            message: "the first document must be the meta document with `project:` and `configVersion: 1`".into(),
        });
    }
    for (k, v) in &meta {
        match k.as_str() {
            "project" => match &v.value {
                Json::String(p) if is_project_slug(p) => project = p.clone(),
                Json::String(p) => cx.at(&v.referenced, format!("project {p:?} is not valid: use lowercase letters, digits and single dashes, at most 50 characters")),
                _ => cx.at(&v.referenced, "project must be a string"),
            },
            "configVersion" => {
                if v.value.as_i64() != Some(1) {
                    cx.at(&v.referenced, format!("configVersion must be 1, got {}", v.value));
                }
            }
            "cleanup" => {
                if let Some(node) = super::cleanup::cleanup_node(&rendered.text) {
                    cleanup = super::cleanup::parse(&mut cx, &node);
                } else if !v.value.is_null() {
                    cx.at(&v.referenced, "cleanup must be a mapping");
                }
            }
            k if meta_keys().contains(&k) => {
                extra.insert(k.to_string(), v.value.clone());
            }
            "image" | "artifact" => {}
            other => cx.key(v, other, unknown_key_message(other, meta_keys())),
        }
    }
    if !meta.contains_key("project") {
        cx.errors.push(ConfigError {
            file: file.clone(),
            line: 1,
            col: 1,
            message: "`project:` is required in the meta document".into(),
        });
    }
    if !meta.contains_key("configVersion") {
        cx.errors.push(ConfigError {
            file: file.clone(),
            line: 1,
            col: 1,
            message: "`configVersion: 1` is required in the meta document".into(),
        });
    }

    let mut images: Vec<ImageConfig> = Vec::new();
    let mut locs: Vec<serde_saphyr::Location> = Vec::new();
    let mut artifacts: Vec<ImageConfig> = Vec::new();
    let mut artifact_locs: Vec<serde_saphyr::Location> = Vec::new();
    for doc in docs {
        let node_doc = node_docs.next();
        let artifact = doc.get("artifact");
        if let (Some(_), Some(i)) = (artifact, doc.get("image")) {
            cx.at(&i.referenced, "unknown doc type: one and only one of `image: NAME` or `artifact: NAME` non-empty name required!");
            continue;
        }
        if artifact.is_some()
            || doc.contains_key("image") && super::stapel::is_stapel_doc(doc.keys())
        {
            let Some(nd) = node_doc else {
                let at = artifact.or_else(|| doc.get("image")).map(|v| v.referenced);
                if let Some(at) = at {
                    cx.at(
                        &at,
                        "this stapel document could not be read key by key (keys must be strings)",
                    );
                }
                continue;
            };
            // Keys in file order, as werf reports them.
            let mut ordered: Vec<(String, Spanned<super::cleanup::Node>)> =
                nd.into_iter().collect();
            ordered.sort_by_key(|(_, v)| (v.referenced.line(), v.referenced.column()));
            let is_artifact = artifact.is_some();
            let Some(name_v) = artifact.or_else(|| doc.get("image")) else {
                continue;
            };
            let Some((names, st)) = super::stapel::parse(&mut cx, &ordered, is_artifact) else {
                continue;
            };
            for name in names {
                if is_artifact {
                    artifact_locs.push(name_v.referenced);
                    artifacts.push(super::stapel::node(&rendered.dir, name, st.clone()));
                    continue;
                }
                if let Some(n) = &name {
                    check_image_name(&mut cx, &name_v.referenced, n);
                    check_reserved_name(&mut cx, &name_v.referenced, n);
                }
                if images.iter().any(|i| i.name == name) {
                    match &name {
                        Some(n) => cx.at(&name_v.referenced, format!("duplicate image name {n:?}")),
                        None => cx.at(
                            &name_v.referenced,
                            "more than one nameless image (`image: ~`)",
                        ),
                    }
                }
                locs.push(name_v.referenced);
                images.push(super::stapel::node(&rendered.dir, name, st.clone()));
            }
            continue;
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
            continue;
        };
        for img in parse_image(&mut cx, &doc, name_v) {
            if images.iter().any(|i| i.name == img.name) {
                match &img.name {
                    Some(n) => cx.at(&name_v.referenced, format!("duplicate image name {n:?}")),
                    None => cx.at(
                        &name_v.referenced,
                        "more than one nameless image (`image: ~`)",
                    ),
                }
            }
            locs.push(name_v.referenced);
            images.push(img);
        }
    }
    super::stapel::stage_nodes(&mut images, &mut artifacts);
    let doc_loc = artifact_locs.last().or(locs.last()).copied();
    while artifact_locs.len() < artifacts.len() {
        // `import: stage:` nodes: located at the last document (never reported: their
        // source's own checks come first).
        artifact_locs.extend(doc_loc);
        if doc_loc.is_none() {
            break;
        }
    }
    super::stapel::check_relations(&mut cx, &mut images, &locs, &mut artifacts, &artifact_locs);
    if cx.errors.is_empty() {
        let all: Vec<ImageConfig> = images.iter().chain(&artifacts).cloned().collect();
        let all_locs: Vec<serde_saphyr::Location> =
            locs.iter().chain(&artifact_locs).copied().collect();
        check_dependencies(&mut cx, &all, &all_locs);
    }

    if !cx.errors.is_empty() {
        cx.errors.sort_by_key(|e| (e.line, e.col));
        return Err(ConfigErrors(cx.errors));
    }
    cx.warnings.sort_by_key(|e| (e.line, e.col));
    Ok(Config {
        warnings: cx.warnings,
        project,
        config_version: 1,
        path: rendered.path.clone(),
        dir: rendered.dir.clone(),
        cleanup,
        extra,
        images,
        artifacts,
        stapel_toolbox: super::stapel::DEFAULT_TOOLBOX.to_string(),
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

pub(super) fn unknown_key_message(key: &str, known: &[&str]) -> String {
    let best = known
        .iter()
        .map(|k| (levenshtein(&key.to_lowercase(), &k.to_lowercase()), *k))
        .min();
    match best {
        Some((d, k)) if d <= 2 || k.to_lowercase().starts_with(&key.to_lowercase()) => {
            format!("unknown key `{key}` (did you mean `{k}`?)")
        }
        _ => format!("unknown key `{key}`"),
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn scalar(v: &Json) -> Option<String> {
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

/// werf's `args`: each value as Go's `%v` prints what yaml.v2 decoded (`0755` → `493`,
/// `1e3` → `1000`, `on` → `true`, `~` → `<nil>`, a list → `[a b]`).
fn go_value_map(cx: &mut Ctx<'_>, v: &Spanned<Json>, what: &str) -> BTreeMap<String, String> {
    match &v.value {
        Json::Object(m) => m
            .iter()
            .map(|(k, val)| {
                let g = super::render::json_to_value(val);
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
fn check_image_name(cx: &mut Ctx<'_>, loc: &serde_saphyr::Location, name: &str) {
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
fn check_reserved_name(cx: &mut Ctx<'_>, loc: &serde_saphyr::Location, name: &str) {
    let meta = crate::records::META_IMAGE;
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
fn parse_image(cx: &mut Ctx<'_>, doc: &Doc, name_v: &Spanned<Json>) -> Vec<ImageConfig> {
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
    let Some(first) = parse_image_directives(cx, doc, name_v, names[0].clone()) else {
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
    name_v: &Spanned<Json>,
    name: Option<String>,
) -> Option<ImageConfig> {
    let dir = cx.rendered.dir.clone();
    let mut img = ImageConfig {
        name,
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
        dependencies: Vec::new(),
        platform: Vec::new(),
        staged: false,
        secrets: Vec::new(),
        labels: BTreeMap::new(),
        stapel: None,
    };
    let mut dockerfile_loc = None;
    let mut context_loc = None;
    for (k, v) in doc {
        match k.as_str() {
            "image" => {}
            "dockerfile" => {
                if let Some(s) = opt_string(cx, v, "dockerfile") {
                    img.dockerfile = s;
                }
                dockerfile_loc = Some(v.referenced);
            }
            "context" => {
                if let Some(s) = opt_string(cx, v, "context") {
                    img.context = s;
                }
                context_loc = Some(v.referenced);
            }
            "target" => img.target = opt_string(cx, v, "target"),
            "network" => img.network = opt_string(cx, v, "network"),
            "ssh" => img.ssh = opt_string(cx, v, "ssh"),
            "args" => img.args = go_value_map(cx, v, "args"),
            "labels" => img.labels = string_map(cx, v, "labels"),
            "addHost" => img.add_host = string_list(cx, v, "addHost"),
            "contextAddFiles" | "contextAddFile" => img.context_add_files = string_list(cx, v, k),
            "platform" => img.platform = string_list(cx, v, "platform"),
            "staged" => match v.value {
                Json::Bool(b) => img.staged = b,
                _ => cx.at(&v.referenced, "staged must be true or false"),
            },
            "dependencies" => img.dependencies = parse_dependencies(cx, v),
            // werf ≥ 1.2 keys with no effect on a Dockerfile build here.
            "final" | "cacheVersion" | "imageSpec" | "disableGitAfterPatch" => {
                let why = match k.as_str() {
                    "final" => "every image is built and published",
                    "cacheVersion" => "image signatures do not include it",
                    "imageSpec" => "set labels with `labels:` or in the Dockerfile",
                    _ => "it applies to stapel images only",
                };
                cx.warn_at(
                    &v.referenced,
                    format!("`{k}` (werf ≥ 1.2) is accepted and ignored: {why}"),
                );
            }
            "secrets" => img.secrets = parse_secrets(cx, v),
            other => cx.key(v, other, unknown_key_message(other, image_keys())),
        }
    }
    let base = dir.clone();
    match inside(&dir, &base, &img.context) {
        Some(c) => img.context_dir = c,
        None => {
            let loc = context_loc.unwrap_or(name_v.referenced);
            cx.at(
                &loc,
                format!("context {:?} escapes the project directory", img.context),
            );
        }
    }
    let dockerfile_at = dockerfile_loc.unwrap_or(name_v.referenced);
    if let Some(p) = resolve_dockerfile(cx, &dockerfile_at, &img) {
        img.dockerfile_path = p;
    }
    if !img.context_dir.is_dir() {
        let loc = context_loc.unwrap_or(name_v.referenced);
        cx.at(
            &loc,
            format!("context directory {:?} does not exist", img.context),
        );
    } else if !img.dockerfile_path.is_file() {
        let loc = dockerfile_loc.unwrap_or(name_v.referenced);
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
    Some(img)
}

/// Where `dockerfile:` is. werf 1.1 reads it relative to the project directory, werf ≥ 1.2
/// relative to `context:`. Without `--werf-version`: the context-relative file when it
/// exists, else the project-relative one (with a warning); both existing with different
/// contents is an error that asks for `--werf-version`.
fn resolve_dockerfile(
    cx: &mut Ctx<'_>,
    loc: &serde_saphyr::Location,
    img: &ImageConfig,
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
    if !same {
        cx.at(loc, format!("dockerfile {:?} names two different files: {c} (relative to context:, as werf ≥ 1.2 reads it) and {p} (relative to the project directory, as werf 1.1 reads it); choose with --werf-version 2 or --werf-version 1.1 (SLIPWAY_WERF_VERSION)", img.dockerfile));
    }
    by_context
}

fn parse_dependencies(cx: &mut Ctx<'_>, v: &Spanned<Json>) -> Vec<Dependency> {
    let Json::Array(items) = &v.value else {
        if !v.value.is_null() {
            cx.at(
                &v.referenced,
                "dependencies must be a list of {image, imports}",
            );
        }
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let Some(image) = item.get("image").and_then(Json::as_str) else {
            cx.at(&v.referenced, "each dependency needs `image: NAME`");
            continue;
        };
        let mut imports = Vec::new();
        for imp in item
            .get("imports")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let kind = match imp.get("type").and_then(Json::as_str) {
                Some("ImageName") => ImportType::ImageName,
                Some("ImageTag") => ImportType::ImageTag,
                Some("ImageRepo") => ImportType::ImageRepo,
                Some("ImageID") => ImportType::ImageID,
                Some("ImageDigest") => ImportType::ImageDigest,
                other => {
                    cx.at(&v.referenced, format!("dependency {image:?}: import type {} is not one of ImageName, ImageTag, ImageRepo, ImageID, ImageDigest", other.unwrap_or("(missing)")));
                    continue;
                }
            };
            let target_build_arg = imp
                .get("targetBuildArg")
                .and_then(Json::as_str)
                .map(str::to_string);
            // werf passes dependencies to a Dockerfile image as build arguments only;
            // `targetEnv` is for stapel images.
            let target_env = None;
            if imp.get("targetEnv").is_some() {
                cx.at(
                    &v.referenced,
                    format!("dependency {image:?}: `targetEnv` is for stapel images; a Dockerfile image receives an import as a build argument (`targetBuildArg: NAME` and `ARG NAME` in the Dockerfile)"),
                );
                continue;
            }
            if target_build_arg.is_none() {
                cx.at(
                    &v.referenced,
                    format!("dependency {image:?}: an import needs targetBuildArg"),
                );
            }
            imports.push(Import {
                kind,
                target_build_arg,
                target_env,
            });
        }
        out.push(Dependency {
            image: image.to_string(),
            imports,
        });
    }
    out
}

fn parse_secrets(cx: &mut Ctx<'_>, v: &Spanned<Json>) -> Vec<Secret> {
    let Json::Array(items) = &v.value else {
        if !v.value.is_null() {
            cx.at(
                &v.referenced,
                "secrets must be a list of `- env: NAME`, `- src: PATH` or `- id: ID` with `value: TEXT`",
            );
        }
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let id = item.get("id").and_then(Json::as_str);
        if let Some(env) = item.get("env").and_then(Json::as_str) {
            out.push(Secret::Env {
                id: id.unwrap_or(env).to_string(),
                env: env.to_string(),
            });
        } else if let Some(value) = item.get("value").and_then(Json::as_str) {
            match id {
                Some(id) => out.push(Secret::Value {
                    id: id.to_string(),
                    value: crate::config::model::Redacted(value.to_string()),
                }),
                None => cx.at(&v.referenced, "a `value:` secret needs an `id:`"),
            }
        } else if let Some(src) = item.get("src").and_then(Json::as_str) {
            let default_id = Path::new(src)
                .file_name()
                .map(|f| f.to_string_lossy().to_string())
                .unwrap_or_default();
            out.push(Secret::Src {
                id: id.map(str::to_string).unwrap_or(default_id),
                src: PathBuf::from(src),
            });
        } else {
            cx.at(
                &v.referenced,
                "each secret needs `env: NAME`, `src: PATH` or `value: TEXT` (with `id:`)",
            );
        }
    }
    out
}

fn check_dependencies(cx: &mut Ctx<'_>, images: &[ImageConfig], locs: &[serde_saphyr::Location]) {
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
