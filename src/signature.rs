//! Content signatures: one sha256 per image over everything that decides what the built
//! image is (docs/naming.md lists it): the Dockerfile stages the target needs and the
//! files their `COPY`/`ADD` sources reach, never `.git`. Stable across machines, clones,
//! branches and umasks: no mtimes, no absolute paths, git's two file modes. File contents are hashed in parallel, streaming; a stat cache
//! (path, size, mtime, inode, ctime → sha256) lets a no-op run cost O(files), not O(bytes).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{Config, Dependency, DockerfileRecipe, ImageConfig, Recipe};
use crate::context::{self, ContextError, Entry, Kind};
use crate::dockerfile;
use crate::settings::Paths;

mod outputs;
mod wrap;

use outputs::project_cache_file;
pub use outputs::{output_paths, outputs, remember_outputs};
use wrap::{with_cache_version, with_image_spec, with_labels};

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("image {image}: {source}")]
    Context {
        image: String,
        #[source]
        source: ContextError,
    },
    #[error("image {image}: {path}: {message}")]
    Dockerfile {
        image: String,
        path: String,
        message: String,
    },
    #[error("image {image}: {message}")]
    Stapel { image: String, message: String },
    #[error("image {image}: reading {path}: {cause}")]
    Io {
        image: String,
        path: String,
        cause: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Stat {
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    inode: u64,
    hash: String,
}

/// File hashes remembered between runs, keyed by absolute path.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct HashCache {
    files: HashMap<String, Stat>,
    #[serde(skip)]
    dirty: bool,
    /// Paths looked up this run: only they are saved, so the cache never outgrows the
    /// project (loading a stale, huge cache would cost more than it saves).
    #[serde(skip)]
    seen: std::collections::HashSet<String>,
}

impl HashCache {
    /// One cache file per project directory.
    pub fn default_path(project_dir: &Path, paths: &Paths) -> Option<PathBuf> {
        project_cache_file(project_dir, "file-hashes", paths)
    }

    pub fn load(path: Option<&Path>) -> HashCache {
        path.and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn save(&mut self, path: Option<&Path>) {
        let Some(p) = path else { return };
        if self.files.len() > self.seen.len() {
            let seen = std::mem::take(&mut self.seen);
            self.files.retain(|k, _| seen.contains(k));
            self.seen = seen;
            self.dirty = true;
        }
        if !self.dirty {
            return;
        }
        if let Some(d) = p.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        if let Ok(data) = serde_json::to_vec(self) {
            // A lost cache only costs rehashing.
            let _ = crate::fsutil::write_atomic(p, &data);
        }
    }
}

fn stat_of(path: &Path) -> Option<(u64, i128, i128, u64)> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((
            m.len(),
            m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
            m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128,
            m.ino(),
        ))
    }
    #[cfg(not(unix))]
    {
        let mt = m
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_nanos() as i128;
        Some((m.len(), mt, 0, 0))
    }
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

pub use crate::context::normalized_mode;

/// Hashes of the entries' contents (symlinks: their target), in parallel, through the
/// stat cache.
fn content_hashes(
    image: &str,
    entries: &[&Entry],
    cache: &Mutex<HashCache>,
) -> Result<Vec<String>, SignatureError> {
    entries
        .par_iter()
        .map(|e| match &e.kind {
            Kind::Dir => Ok(String::new()),
            Kind::Symlink { target } => Ok(format!("link:{target}")),
            Kind::File { .. } => {
                let key = e.abs.to_string_lossy().to_string();
                let st = stat_of(&e.abs);
                if let (Some((size, mtime_ns, ctime_ns, inode)), Ok(mut c)) = (st, cache.lock()) {
                    c.seen.insert(key.clone());
                    if let Some(s) = c.files.get(&key)
                        && s.size == size
                        && s.mtime_ns == mtime_ns
                        && s.ctime_ns == ctime_ns
                        && s.inode == inode
                    {
                        return Ok(s.hash.clone());
                    }
                }
                let hash = hash_file(&e.abs).map_err(|er| SignatureError::Io {
                    image: image.to_string(),
                    path: e.abs.display().to_string(),
                    cause: er.to_string(),
                })?;
                if let (Some((size, mtime_ns, ctime_ns, inode)), Ok(mut c)) = (st, cache.lock()) {
                    c.seen.insert(key.clone());
                    c.files.insert(
                        key,
                        Stat {
                            size,
                            mtime_ns,
                            ctime_ns,
                            inode,
                            hash: hash.clone(),
                        },
                    );
                    c.dirty = true;
                }
                Ok(hash)
            }
        })
        .collect()
}

fn field(h: &mut Sha256, name: &str, value: &str) {
    h.update(name.as_bytes());
    h.update([0]);
    h.update((value.len() as u64).to_le_bytes());
    h.update(value.as_bytes());
}

/// What of a Dockerfile decides the image, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text that counts as it is: an instruction, a resolved `ARG`, a resolved base.
    Text(String),
    /// Context paths (globs, relative to the context) that a `COPY`/`ADD` or a
    /// `RUN --mount=type=bind` reads: the files they reach count.
    Sources(Vec<String>),
}

/// The Dockerfile has no stage to build.
#[derive(Debug, thiserror::Error)]
pub enum NoTarget {
    #[error("target stage {0:?} is not in the Dockerfile")]
    Stage(String),
    #[error("the Dockerfile has no FROM")]
    NoFrom,
}

/// The parts of `dockerfile` that decide the image built for `target` with `args`: the
/// global `ARG`s, then every stage the target needs (through `FROM`, `COPY --from` and
/// `RUN --mount from=`), in file order. Stages the target does not need, comments and
/// blank lines do not count. As werf 1.1 does, only the files that `COPY`/`ADD` sources
/// name count, not the whole context.
pub fn dockerfile_parts(
    dockerfile: &str,
    target: Option<&str>,
    args: &BTreeMap<String, String>,
) -> Result<Vec<Part>, NoTarget> {
    let df = dockerfile::parse(dockerfile);
    let mut parts = Vec::new();
    parts.extend(df.meta.iter().map(|i| Part::Text(i.text.clone())));
    let meta_args = df.meta_args(args);
    parts.extend(
        meta_args
            .iter()
            .map(|(name, value)| Part::Text(format!("ARG {name}={value}"))),
    );
    let meta: BTreeMap<String, String> = meta_args.into_iter().collect();
    let Some(target_index) = df.target(target) else {
        return Err(match target {
            Some(t) => NoTarget::Stage(t.to_string()),
            None => NoTarget::NoFrom,
        });
    };
    let needed = needed_stages(&df, &meta, target_index);
    // ENV carries over to a stage built FROM another stage; ARG does not.
    let mut envs: Vec<BTreeMap<String, String>> = vec![BTreeMap::new(); df.stages.len()];
    for (k, stage) in df.stages.iter().enumerate() {
        let base = dockerfile::expand(&stage.base, &meta);
        let mut env = df
            .stage_ref(&base, k)
            .map(|b| envs[b].clone())
            .unwrap_or_default();
        let mut vars = env.clone();
        let mut out = vec![
            Part::Text(stage.from.text.clone()),
            Part::Text(format!("FROM {base}")),
        ];
        for i in &stage.body {
            out.push(Part::Text(i.text.clone()));
            instruction_parts(i, args, &meta, &mut vars, &mut env, &mut out);
        }
        envs[k] = env;
        if needed[k] {
            parts.extend(out);
        }
    }
    Ok(parts)
}

/// Which stages building stage `target_index` needs (through `FROM`, `COPY --from` and
/// `RUN --mount from=`).
fn needed_stages(
    df: &dockerfile::Dockerfile,
    meta: &BTreeMap<String, String>,
    target_index: usize,
) -> Vec<bool> {
    // Which stages each stage reads.
    let uses: Vec<Vec<usize>> = df
        .stages
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let mut u = Vec::new();
            let base = dockerfile::expand(&s.base, meta);
            u.extend(df.stage_ref(&base, k));
            for i in &s.body {
                let (flags, _) = dockerfile::flags(i.rest());
                for (f, v) in flags {
                    let from = match (i.keyword().as_str(), f.as_str()) {
                        ("COPY" | "ADD", "from") => Some(v),
                        ("RUN", "mount") => dockerfile::mount_options(&v).remove("from"),
                        _ => None,
                    };
                    if let Some(from) = from {
                        u.extend(df.stage_ref(&from, k));
                    }
                }
            }
            u
        })
        .collect();
    let mut needed = vec![false; df.stages.len()];
    let mut stack = vec![target_index];
    while let Some(k) = stack.pop() {
        if !std::mem::replace(&mut needed[k], true) {
            stack.extend(uses[k].iter().copied());
        }
    }
    needed
}

/// The parts one instruction adds besides its text: resolved `ARG`s, `COPY`/`ADD`
/// sources (or the stage or image they copy from), `RUN --mount` bind sources. `vars` and
/// `env` take the `ARG`s and `ENV`s it declares.
fn instruction_parts(
    i: &dockerfile::Instruction,
    args: &BTreeMap<String, String>,
    meta: &BTreeMap<String, String>,
    vars: &mut BTreeMap<String, String>,
    env: &mut BTreeMap<String, String>,
    out: &mut Vec<Part>,
) {
    match i.keyword().as_str() {
        "ARG" => {
            for (name, default) in dockerfile::arg_decls(i.rest()) {
                let value = match (args.get(&name), default) {
                    (Some(v), _) => Some(v.clone()),
                    (None, Some(d)) => Some(dockerfile::expand(&d, vars)),
                    (None, None) => meta.get(&name).cloned(),
                };
                out.push(Part::Text(format!(
                    "ARG {name}={}",
                    value.as_deref().unwrap_or("")
                )));
                if let Some(v) = value {
                    vars.insert(name, v);
                }
            }
        }
        "ENV" => {
            for (name, value) in dockerfile::env_pairs(i.rest()) {
                let v = dockerfile::expand(&value, vars);
                env.insert(name.clone(), v.clone());
                vars.insert(name, v);
            }
        }
        kw @ ("COPY" | "ADD") => {
            let (flags, rest) = dockerfile::flags(i.rest());
            if let Some((_, from)) = flags.iter().find(|(f, _)| f == "from") {
                // Another stage (counted by itself) or an image (its name counts).
                out.push(Part::Text(format!(
                    "from {}",
                    dockerfile::expand(from, vars)
                )));
                return;
            }
            let mut ops = dockerfile::copy_operands(rest);
            ops.pop(); // the destination
            let mut sources = Vec::new();
            for op in ops {
                let src = dockerfile::expand(&op, vars);
                if kw == "ADD" && (src.contains("://") || src.starts_with("git@")) {
                    out.push(Part::Text(format!("url {src}")));
                } else {
                    sources.push(clean_source(&src));
                }
            }
            out.push(Part::Sources(sources));
        }
        "RUN" => {
            let (flags, _) = dockerfile::flags(i.rest());
            for (f, v) in flags {
                if f != "mount" {
                    return;
                }
                let m = dockerfile::mount_options(&v);
                let kind = m.get("type").map(String::as_str).unwrap_or("bind");
                if kind == "bind" && !m.contains_key("from") {
                    let src = m.get("source").map(String::as_str).unwrap_or(".");
                    out.push(Part::Sources(vec![clean_source(&dockerfile::expand(
                        src, vars,
                    ))]));
                }
            }
        }
        _ => {}
    }
}

/// A `COPY` source as a context path: cleaned, no leading `/` (`/` is the whole context).
fn clean_source(src: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in src.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            x => parts.push(x),
        }
    }
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// Whether a `COPY`/`ADD` (or bind mount) of the context that the image built for
/// `target` runs reaches `rel` (a path in the context).
pub fn copies_path(
    dockerfile: &str,
    target: Option<&str>,
    args: &BTreeMap<String, String>,
    rel: &str,
) -> bool {
    dockerfile_parts(dockerfile, target, args)
        .map(|parts| {
            parts.iter().any(|p| match p {
                Part::Sources(s) => Sources::new(s).reaches(rel),
                Part::Text(_) => false,
            })
        })
        .unwrap_or(false)
}

/// Compiled `COPY` sources: a path counts when a source matches it or one of its folders.
struct Sources {
    all: bool,
    globs: Vec<globset::GlobMatcher>,
}

impl Sources {
    fn new(patterns: &[String]) -> Sources {
        let all = patterns.iter().any(|p| p == ".");
        let globs = patterns
            .iter()
            .filter(|p| *p != ".")
            .filter_map(|p| {
                globset::GlobBuilder::new(p)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()
                    .ok()
                    .map(|g| g.compile_matcher())
            })
            .collect();
        Sources { all, globs }
    }

    fn reaches(&self, rel: &str) -> bool {
        if self.all {
            return true;
        }
        let mut p = rel;
        loop {
            if self.globs.iter().any(|g| g.is_match(p)) {
                return true;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return false,
            }
        }
    }
}

/// `.git` (any repository's) never counts: the same files give the same signature on
/// every commit, branch and clone. (Slipway's own outputs are left out by the walk.)
fn in_git_dir(e: &Entry) -> bool {
    e.rel.split('/').any(|c| c == ".git")
}

/// Signatures of every image, by image name (`None` = nameless). `outputs` are files this
/// run writes into the project (absolute paths, see [`output_paths`]): they never count.
pub fn compute(
    config: &Config,
    cache_file: Option<&Path>,
    outputs: &[PathBuf],
) -> Result<BTreeMap<Option<String>, String>, SignatureError> {
    let cache = Mutex::new(HashCache::load(cache_file));
    let mut done: BTreeMap<Option<String>, String> = BTreeMap::new();
    // Dependencies first; config validation already rejected cycles.
    let mut pending: Vec<&ImageConfig> = config.nodes().collect();
    let stapel_env = crate::stapel::Env::new(config);
    while !pending.is_empty() {
        let before = pending.len();
        let mut i = 0;
        while i < pending.len() {
            let img = pending[i];
            let ready = img
                .dependencies
                .iter()
                .all(|d| done.contains_key(&Some(d.image.clone())));
            if ready {
                let sig = match &img.recipe {
                    Recipe::Stapel(_) if img.platforms().len() >= 2 => {
                        over_platforms(&stapel_platforms(&stapel_env, img, &done)?)
                    }
                    Recipe::Stapel(_) => stapel_one(&stapel_env.for_node(img), img, &done)?,
                    Recipe::Dockerfile(d) => one(img, d, &done, &cache, outputs)?,
                };
                let sig = with_image_spec(sig, img);
                let sig = with_labels(
                    sig,
                    &crate::labels::oci(
                        config.source.as_deref(),
                        &config.project,
                        img.name.as_deref(),
                    ),
                );
                done.insert(img.name.clone(), sig);
                pending.remove(i);
            } else {
                i += 1;
            }
        }
        if pending.len() == before {
            break;
        }
    }
    if let Ok(mut c) = cache.lock() {
        c.save(cache_file);
    }
    Ok(done)
}

/// A Dockerfile image's signature; of an image built for several platforms, the
/// signature over its platforms' (see [`per_platform`]).
fn one(
    img: &ImageConfig,
    d: &DockerfileRecipe,
    done: &BTreeMap<Option<String>, String>,
    cache: &Mutex<HashCache>,
    outputs: &[PathBuf],
) -> Result<String, SignatureError> {
    if d.platform.len() < 2 {
        return one_for(img, d, None, done, cache, outputs);
    }
    Ok(over_platforms(&platform_signatures(
        img, d, done, cache, outputs,
    )?))
}

/// The signature of an image built for several platforms: over its platforms' own.
fn over_platforms(per: &[(String, String)]) -> String {
    let mut h = Sha256::new();
    field(&mut h, "slipway-platforms", "1");
    for (p, sig) in per {
        field(&mut h, "platform", &format!("{p}={sig}"));
    }
    hex::encode(h.finalize())
}

/// A stapel node's signature in `env` (one platform's, or the daemon's).
fn stapel_one(
    env: &crate::stapel::Env,
    img: &ImageConfig,
    done: &BTreeMap<Option<String>, String>,
) -> Result<String, SignatureError> {
    let Recipe::Stapel(st) = &img.recipe else {
        return Err(SignatureError::Stapel {
            image: img.display_name().to_string(),
            message: "not a stapel image".into(),
        });
    };
    crate::stapel::signature(env, img.name.as_deref(), st, done)
        .map_err(|e| SignatureError::Stapel {
            image: img.display_name().to_string(),
            message: e.to_string(),
        })
        .map(|sig| with_cache_version(sig, img.cache_version.as_deref()))
}

/// Each platform's signature of a stapel node built for several (its stages' signatures
/// name the platform, [`crate::stapel::Env::for_platform`]).
fn stapel_platforms(
    env: &crate::stapel::Env,
    img: &ImageConfig,
    done: &BTreeMap<Option<String>, String>,
) -> Result<Vec<(String, String)>, SignatureError> {
    img.platforms()
        .iter()
        .map(|p| {
            Ok((
                p.clone(),
                stapel_one(&env.for_platform(Some(p)), img, done)?,
            ))
        })
        .collect()
}

/// Each platform's signature of a Dockerfile image built for several platforms (issue 34),
/// in `platform:` order; empty for one platform or none. `TARGETPLATFORM`, `TARGETARCH`…
/// are expanded for the platform and `BUILDPLATFORM`… for this machine, as BuildKit
/// expands them, so a `COPY ${TARGETARCH}/…` counts that platform's files only. `done`:
/// every image's signature (the dependencies' count). `oci`: the image's OCI labels
/// (`labels::oci`); like the image's own signature, each platform's covers them and the
/// image spec, so a platform image built with other labels or another spec is not reused.
/// A stapel node's take `stapel`, the run's environment ([`crate::stapel::Env::new`]).
pub fn per_platform(
    img: &ImageConfig,
    oci: &BTreeMap<String, String>,
    done: &BTreeMap<Option<String>, String>,
    outputs: &[PathBuf],
    stapel: Option<&crate::stapel::Env>,
) -> Result<Vec<(String, String)>, SignatureError> {
    if img.platforms().len() < 2 {
        return Ok(Vec::new());
    }
    let per = match (&img.recipe, stapel) {
        (Recipe::Dockerfile(d), _) => {
            platform_signatures(img, d, done, &Mutex::new(HashCache::default()), outputs)?
        }
        (Recipe::Stapel(_), Some(env)) => stapel_platforms(env, img, done)?,
        (Recipe::Stapel(_), None) => {
            return Err(SignatureError::Stapel {
                image: img.display_name().to_string(),
                message: "no stapel environment for its platforms".into(),
            });
        }
    };
    Ok(per
        .into_iter()
        .map(|(p, sig)| (p, with_labels(with_image_spec(sig, img), oci)))
        .collect())
}

fn platform_signatures(
    img: &ImageConfig,
    d: &DockerfileRecipe,
    done: &BTreeMap<Option<String>, String>,
    cache: &Mutex<HashCache>,
    outputs: &[PathBuf],
) -> Result<Vec<(String, String)>, SignatureError> {
    d.platform
        .iter()
        .map(|p| Ok((p.clone(), one_for(img, d, Some(p), done, cache, outputs)?)))
        .collect()
}

/// One Dockerfile image's signature, for `platform` when it is built for several.
fn one_for(
    img: &ImageConfig,
    d: &DockerfileRecipe,
    platform: Option<&str>,
    done: &BTreeMap<Option<String>, String>,
    cache: &Mutex<HashCache>,
    outputs: &[PathBuf],
) -> Result<String, SignatureError> {
    let name = img.display_name().to_string();
    let mut args = d.args.clone();
    if let Some(p) = platform {
        for (k, v) in crate::platform::build_args(p, &crate::platform::host()) {
            args.entry(k).or_insert(v);
        }
    }
    let dockerfile =
        std::fs::read_to_string(&d.dockerfile_path).map_err(|e| SignatureError::Io {
            image: name.clone(),
            path: d.dockerfile_path.display().to_string(),
            cause: e.to_string(),
        })?;
    let parts = dockerfile_parts(&dockerfile, d.target.as_deref(), &args).map_err(|m| {
        SignatureError::Dockerfile {
            image: name.clone(),
            path: d.dockerfile_path.display().to_string(),
            message: m.to_string(),
        }
    })?;
    let entries =
        context::walk(&d.context_dir, &d.context_add_files, outputs).map_err(|source| {
            SignatureError::Context {
                image: name.clone(),
                source,
            }
        })?;
    let counted: Vec<&Entry> = entries
        .iter()
        .filter(|e| !matches!(e.kind, Kind::Dir) && !in_git_dir(e))
        .collect();
    let sources: Vec<Sources> = parts
        .iter()
        .filter_map(|p| match p {
            Part::Sources(s) => Some(Sources::new(s)),
            Part::Text(_) => None,
        })
        .collect();
    // Hash each file once, only those some source reaches.
    let reached: Vec<&Entry> = counted
        .iter()
        .copied()
        .filter(|e| sources.iter().any(|s| s.reaches(&e.rel)))
        .collect();
    let hashes: BTreeMap<&str, String> = reached
        .iter()
        .map(|e| e.rel.as_str())
        .zip(content_hashes(&name, &reached, cache)?)
        .collect();

    let mut h = Sha256::new();
    field(&mut h, "slipway-signature", "2");
    let mut next_sources = sources.iter();
    for p in &parts {
        match p {
            Part::Text(t) => field(&mut h, "dockerfile", t),
            Part::Sources(patterns) => {
                let Some(s) = next_sources.next() else {
                    continue;
                };
                let mut files = Sha256::new();
                for e in reached.iter().filter(|e| s.reaches(&e.rel)) {
                    let (kind, mode) = match e.kind {
                        Kind::Symlink { .. } => ("l", 0o777),
                        _ => ("f", normalized_mode(e.mode)),
                    };
                    let hash = hashes.get(e.rel.as_str()).map(String::as_str);
                    files.update(
                        format!("{}\0{kind}\0{mode:o}\0{}\n", e.rel, hash.unwrap_or("")).as_bytes(),
                    );
                }
                field(&mut h, "sources", &patterns.join("\0"));
                field(&mut h, "files", &hex::encode(files.finalize()));
            }
        }
    }
    let one_platform = platform.map(|p| vec![p.to_string()]);
    directive_fields(
        &mut h,
        d,
        one_platform.as_deref().unwrap_or(&d.platform),
        &img.dependencies,
        done,
    );
    // Only when set: signatures of images without it stay what they were.
    if let Some(v) = &img.cache_version {
        field(&mut h, "cache-version", v);
    }
    Ok(hex::encode(h.finalize()))
}

/// werf.yaml's directives of a Dockerfile image, and its dependencies' signatures.
fn directive_fields(
    h: &mut Sha256,
    img: &DockerfileRecipe,
    platforms: &[String],
    dependencies: &[Dependency],
    done: &BTreeMap<Option<String>, String>,
) {
    field(h, "target", img.target.as_deref().unwrap_or(""));
    for (k, v) in &img.args {
        field(h, "arg", &format!("{k}={v}"));
    }
    for a in &img.add_host {
        field(h, "add-host", a);
    }
    field(h, "network", img.network.as_deref().unwrap_or(""));
    for p in platforms {
        field(h, "platform", p);
    }
    for (k, v) in &img.labels {
        field(h, "label", &format!("{k}={v}"));
    }
    for s in &img.secrets {
        field(h, "secret", s.id());
    }
    field(h, "ssh", img.ssh.as_deref().unwrap_or(""));
    for d in dependencies {
        let sig = done
            .get(&Some(d.image.clone()))
            .map(String::as_str)
            .unwrap_or("");
        field(h, "dependency", &format!("{}={sig}", d.image));
    }
}
