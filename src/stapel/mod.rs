//! Stapel images and artifacts built through the daemon: each becomes a generated
//! multi-stage Dockerfile (one named stage per werf stage, in werf 1.1's order) plus a
//! generated context (the git mappings' files at HEAD, one script per shell stage), built
//! with BuildKit like a Dockerfile image. Steps run as werf runs them: the toolbox's bash
//! with `-e`, as root, in `/`, with the image's environment; the base's USER is restored
//! and `docker:` is applied last. This is werf's result from an empty stages storage
//! ("milestone 1", docs/stapel.md).
//!
//! Here: the generation environment, the context tar and the content signature.
//! [`generate`] writes the Dockerfile, [`stages`] the per-stage signatures and reuse plan,
//! [`storage`] the stages storage, [`base`] `fromLatest`, [`git`] the mappings' files,
//! [`error`] what fails. The parser of the stapel keys stays in `config` (it owns werf.yaml).

pub mod base;
pub mod error;
pub mod generate;
pub mod git;
pub mod stages;
pub mod storage;
pub mod tmp_dir;

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

pub use base::{
    resolve_from_latest, resolve_registry_digests, uses_from_latest, uses_registry_digests,
};
pub use error::{GitError, StapelError};
pub use generate::{DOCKERFILE, Generated, generate, generate_planned, locate_failure};

use crate::config::stapel::{Base, GitMapping, Mount, MountFrom, StapelImport, StapelRecipe};
use crate::config::{Config, ImageConfig};

/// Where the toolbox is mounted in every step, as werf mounts its stapel image.
pub const TOOLBOX_DIR: &str = "/.werf/stapel";
const BASH: &str = "/.werf/stapel/embedded/bin/bash";
const SCRIPT: &str = "/.werf/shell/script.sh";
/// Printed by a failing step's ERR trap: which command failed.
const FAILED_MARK: &str = "slipway-stapel-failed-command:";
/// Bumped when the generated Dockerfile changes for the same config.
const GENERATOR: &str = "1";

/// The `--mount` flag that puts the toolbox at [`TOOLBOX_DIR`], and the stage it reads
/// from when the node is built for a target platform: a stage of the build machine's,
/// since BuildKit takes the local toolbox image only for that platform (for another it
/// asks a registry), and its static binaries run natively beside the target's emulated
/// ones.
fn toolbox_mount(env: &Env) -> (String, Option<String>) {
    let (from, stage) = match &env.platform {
        Some(_) => (
            "slipway-toolbox",
            Some(format!(
                "FROM --platform=$BUILDPLATFORM {} AS slipway-toolbox",
                env.toolbox
            )),
        ),
        None => (env.toolbox.as_str(), None),
    };
    (
        format!("--mount=type=bind,from={from},source={TOOLBOX_DIR},target={TOOLBOX_DIR}"),
        stage,
    )
}

/// The local tag of an artifact (never published): artifact names may be any text.
pub fn artifact_tag(project: &str, name: &str) -> String {
    let slug = crate::config::load::suggest_image_name(name);
    let slug = if slug.is_empty() {
        hex::encode(&Sha256::digest(name.as_bytes())[..8])
    } else {
        slug
    };
    format!("{project}/artifact-{slug}:latest")
}

/// The local tag of a build-graph node (image or artifact).
pub fn node_tag(project: &str, node: &ImageConfig) -> String {
    match (&node.name, node.is_artifact()) {
        (Some(n), true) => artifact_tag(project, n),
        _ => crate::naming::local_tag(project, node.name.as_deref()),
    }
}

/// What generation needs besides the node: the project, its directory, the toolbox and
/// the local tag of every image and artifact (sources are referenced by them).
#[derive(Debug, Clone)]
pub struct Env {
    pub project: String,
    pub dir: std::path::PathBuf,
    pub toolbox: String,
    pub tags: BTreeMap<String, String>,
    /// Each stapel node's mounts, its own plus those of the images it starts from
    /// (werf passes them down through `fromImage`).
    pub mounts: BTreeMap<String, Vec<Mount>>,
    /// The stapel nodes by name: a stage signature covers a stapel base's or import
    /// source's last stage signature, as werf's does.
    pub stapel_nodes: BTreeMap<String, ImageConfig>,
    /// HOME, for `fromPath: ~/…` mounts.
    pub home: Option<std::path::PathBuf>,
    /// Where remote git repositories are cloned (`None`: no cache folder).
    pub git_remotes: Option<std::path::PathBuf>,
    /// werf's `--ssh-key` agent: user steps reach it at `$SSH_AUTH_SOCK`, remote git
    /// mappings are fetched with it.
    pub ssh_agent: Option<std::path::PathBuf>,
    /// The platform the node is built for (issue 34; [`Env::for_platform`]): part of
    /// every stage signature, so the stages of two platforms never stand for each other.
    /// `None`: the daemon's own, as before platforms.
    pub platform: Option<String>,
    /// The nodes built for several platforms: each platform's image has its own local tag.
    pub multi_platform: std::collections::BTreeSet<String>,
}

impl Env {
    pub fn new(cfg: &Config) -> Env {
        Env {
            project: cfg.project.clone(),
            dir: cfg.dir.clone(),
            toolbox: cfg.stapel_toolbox.clone(),
            tags: cfg
                .nodes()
                .filter_map(|n| Some((n.name.clone()?, node_tag(&cfg.project, n))))
                .collect(),
            mounts: cfg
                .nodes()
                .filter_map(|n| Some((n.name.clone()?, inherited_mounts(cfg, n))))
                .collect(),
            stapel_nodes: cfg
                .nodes()
                .filter(|n| n.stapel().is_some())
                .filter_map(|n| Some((n.name.clone()?, n.clone())))
                .collect(),
            home: cfg.home.clone(),
            git_remotes: cfg.git_remotes.clone(),
            ssh_agent: cfg.ssh_agent.clone(),
            platform: None,
            multi_platform: cfg
                .nodes()
                .filter(|n| n.platforms().len() >= 2)
                .filter_map(|n| n.name.clone())
                .collect(),
        }
    }

    /// The environment of one platform's build (`None`: the daemon's): a base or source
    /// built for several platforms is that platform's image, `<repo>:<os>-<arch>`, as
    /// werf 2 resolves a dependency per platform.
    pub fn for_platform(&self, platform: Option<&str>) -> Env {
        let mut env = self.clone();
        let Some(p) = platform else { return env };
        env.platform = Some(p.to_string());
        for name in &self.multi_platform {
            if let Some(tag) = env.tags.get_mut(name) {
                let repo = tag.rsplit_once(':').map_or(tag.as_str(), |(r, _)| r);
                *tag = format!("{repo}:{}", crate::platform::slug(p));
            }
        }
        env
    }

    /// The environment `node` is built in when it has one platform (its `platform:`
    /// names one): that platform's; with none or several, `self` as it is.
    pub fn for_node(&self, node: &ImageConfig) -> Env {
        match node.platforms() {
            [one] => self.for_platform(Some(one)),
            _ => self.clone(),
        }
    }

    /// The mounts of node `name` with recipe `st`.
    fn mounts_of(&self, name: Option<&str>, st: &StapelRecipe) -> Vec<Mount> {
        match name {
            Some(n) => self.mounts.get(n).cloned().unwrap_or_default(),
            None => st.mounts.clone(),
        }
    }

    fn tag(&self, name: &str) -> Result<&str, StapelError> {
        self.tags
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| StapelError::UnknownNode(name.to_string()))
    }
}

/// A node's mounts and those of the stapel images it starts from (config validation
/// rejected loops; the depth bound is a second guard).
fn inherited_mounts(cfg: &Config, node: &ImageConfig) -> Vec<Mount> {
    let mut out: Vec<Mount> = Vec::new();
    let mut cur = Some(node);
    for _ in 0..64 {
        let Some(st) = cur.and_then(|n| n.stapel()) else {
            break;
        };
        for m in &st.mounts {
            if !out.iter().any(|o| o.to == m.to) {
                out.push(m.clone());
            }
        }
        cur = st.base.source().and_then(|s| cfg.node(Some(s)));
    }
    out
}

fn json(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_default()
}

/// `--chown` value for werf's owner/group (group alone keeps root as the owner).
fn chown(owner: &Option<String>, group: &Option<String>) -> String {
    match (owner, group) {
        (Some(o), Some(g)) => format!(" --chown={o}:{g}"),
        (Some(o), None) => format!(" --chown={o}"),
        (None, Some(g)) => format!(" --chown=0:{g}"),
        (None, None) => String::new(),
    }
}

/// Each mapping with the files it takes: local ones at `commit` (None: HEAD) of the
/// project's repository, remote ones at their resolved commit.
fn git_trees<'a>(
    env: &Env,
    st: &'a StapelRecipe,
    commit: Option<git2::Oid>,
) -> Result<Vec<(&'a GitMapping, git::Tree)>, StapelError> {
    if st.git.is_empty() {
        return Ok(Vec::new());
    }
    let repo = if st.git.iter().any(|m| m.remote.is_none()) {
        Some(git::open(&env.dir)?)
    } else {
        None
    };
    let tree = match (&repo, commit) {
        (None, _) => None,
        (Some(r), Some(c)) => {
            Some(
                r.find_commit(c)
                    .and_then(|c| c.tree())
                    .map_err(|e| GitError::Commit {
                        commit: c,
                        message: e.message().to_string(),
                    })?,
            )
        }
        (Some(r), None) => Some(git::head_tree(r)?.1),
    };
    st.git
        .iter()
        .enumerate()
        .map(|(n, m)| {
            let listed = match (&m.remote, &repo, &tree) {
                (Some(remote), _, _) => git::list_remote(
                    m,
                    remote,
                    env.git_remotes.as_deref(),
                    env.ssh_agent.as_deref(),
                ),
                (None, Some(r), Some(t)) => git::list(r, t, m),
                _ => Err(GitError::NoProjectRepository),
            };
            listed
                .map(|t| (m, t))
                .map_err(|cause| StapelError::Mapping {
                    at: m.at.clone(),
                    index: n,
                    cause,
                })
        })
        .collect()
}

/// One entry of the generated context.
#[derive(Clone)]
enum TarEntry {
    File {
        path: String,
        data: Vec<u8>,
        mode: u32,
    },
    Git {
        path: String,
        oid: git2::Oid,
        mode: u32,
        symlink: bool,
        /// The clone of a remote mapping (`None`: the project's repository).
        repo: Option<std::path::PathBuf>,
    },
}

impl TarEntry {
    fn file(path: &str, data: Vec<u8>, mode: u32) -> TarEntry {
        TarEntry::File {
            path: path.to_string(),
            data,
            mode,
        }
    }

    fn git(path: &str, f: &git::GitFile) -> TarEntry {
        TarEntry::git_in(path, f, None)
    }

    fn git_in(path: &str, f: &git::GitFile, repo: Option<&std::path::Path>) -> TarEntry {
        TarEntry::Git {
            path: path.to_string(),
            oid: f.oid,
            mode: if f.is_executable() { 0o755 } else { 0o644 },
            symlink: f.is_symlink(),
            repo: repo.map(std::path::Path::to_path_buf),
        }
    }
}

/// The context tar: zeroed times and owners, directories 0755, git's file modes,
/// symlinks as symlinks.
fn write_tar(dir: &std::path::Path, entries: Vec<TarEntry>) -> Result<Vec<u8>, StapelError> {
    let mut repos: BTreeMap<Option<std::path::PathBuf>, git2::Repository> = BTreeMap::new();
    let mut b = tar::Builder::new(Vec::new());
    let mut dirs = std::collections::BTreeSet::new();
    let e = StapelError::Context;
    for entry in &entries {
        let path = match entry {
            TarEntry::File { path, .. } | TarEntry::Git { path, .. } => path,
        };
        let mut p = path.as_str();
        let mut parents = Vec::new();
        while let Some((d, _)) = p.rsplit_once('/') {
            parents.push(d.to_string());
            p = d;
        }
        for d in parents.into_iter().rev() {
            if dirs.insert(d.clone()) {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_mtime(0);
                h.set_size(0);
                b.append_data(&mut h, format!("{d}/"), std::io::empty())
                    .map_err(e)?;
            }
        }
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        match entry {
            TarEntry::File { path, data, mode } => {
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, path, data.as_slice()).map_err(e)?;
            }
            TarEntry::Git {
                path,
                oid,
                mode,
                symlink,
                repo,
            } => {
                if !repos.contains_key(repo) {
                    let r = match repo {
                        Some(p) => git::open_clone(p)?,
                        None => git::open(dir)?,
                    };
                    repos.insert(repo.clone(), r);
                }
                let Some(r) = repos.get(repo) else { continue };
                let blob = r.find_blob(*oid).map_err(|x| StapelError::Blob {
                    path: path.clone(),
                    message: x.message().to_string(),
                })?;
                if *symlink {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    let target = String::from_utf8_lossy(blob.content()).to_string();
                    b.append_link(&mut h, path, target).map_err(e)?;
                } else {
                    h.set_mode(*mode);
                    h.set_size(blob.content().len() as u64);
                    b.append_data(&mut h, path, blob.content()).map_err(e)?;
                }
            }
        }
    }
    b.into_inner().map_err(e)
}

fn field(h: &mut Sha256, name: &str, value: &str) {
    h.update(name.as_bytes());
    h.update([0]);
    h.update((value.len() as u64).to_le_bytes());
    h.update(value.as_bytes());
}

/// The content signature of a stapel node: the rendered document (commands, docker
/// config, mappings as written), the blob ids and modes of every file each mapping takes
/// at HEAD, the base (its name, or the signature of the werf.yaml image it starts from),
/// the signatures of import sources, the toolbox and the generator's version. Same
/// signature, same image: a rebuild is skipped.
pub fn signature(
    env: &Env,
    name: Option<&str>,
    st: &StapelRecipe,
    done: &BTreeMap<Option<String>, String>,
) -> Result<String, StapelError> {
    // werf's artifact signature is its last stage's: only its own stages and the files its
    // `stageDependencies` match count (an artifact has no latest patch), so a mapped file
    // outside them changes neither the artifact nor the images importing it. The same
    // for an image with `disableGitAfterPatch` (werf 2), which has no latest patch either.
    if (st.artifact || st.disable_git_after_patch)
        && let Some(img) = name.and_then(|n| env.stapel_nodes.get(n))
    {
        let sigs = stages::head_signatures(env, img, done)?;
        let mut h = Sha256::new();
        field(&mut h, "slipway-stapel-artifact-signature", GENERATOR);
        // An `import: stage:` node stands for that stage of its source.
        let last = match &st.target {
            Some(t) => sigs.iter().rfind(|s| s.stage.eq_ignore_ascii_case(t)),
            None => sigs.last(),
        };
        field(
            &mut h,
            "stages",
            last.map(|s| s.signature.as_str()).unwrap_or(""),
        );
        if let Some(t) = &st.target {
            field(&mut h, "target", t);
        }
        return Ok(hex::encode(h.finalize()));
    }
    let mut h = Sha256::new();
    field(&mut h, "slipway-stapel-signature", GENERATOR);
    field(&mut h, "artifact", if st.artifact { "1" } else { "0" });
    field(&mut h, "doc", &st.doc.to_string());
    // `dependencies:` by the dependency's signature, never its name (secrets not at all).
    if let Some(img) = name.and_then(|n| env.stapel_nodes.get(n)) {
        for d in &img.dependencies {
            let Some(at) = d.stage else { continue };
            let sig = done.get(&Some(d.image.clone())).map(String::as_str);
            let imports: Vec<String> = d
                .imports
                .iter()
                .map(|i| format!("{:?}={}", i.kind, i.target_env.as_deref().unwrap_or("")))
                .collect();
            field(
                &mut h,
                "dependency",
                &format!("{at:?}\0{}\0{}", sig.unwrap_or(""), imports.join("\0")),
            );
        }
    }
    field(&mut h, "toolbox", &env.toolbox);
    // Only when set: signatures of images without `platform:` stay what they were.
    if let Some(p) = &env.platform {
        field(&mut h, "platform", p);
    }
    for (n, (m, tree)) in git_trees(env, st, None)?.iter().enumerate() {
        let mut files = Sha256::new();
        for f in &tree.files {
            files.update(format!("{}\0{:o}\0{}\n", f.rel, f.mode, f.oid).as_bytes());
        }
        field(
            &mut h,
            "git",
            &format!("{n}:{}", m.exclude_paths.join("\0")),
        );
        if let Some(r) = &tree.remote {
            field(&mut h, "git-remote-commit", &r.commit.to_string());
        }
        field(&mut h, "git-files", &hex::encode(files.finalize()));
    }
    for m in env.mounts_of(name, st) {
        field(&mut h, "mount", &mount_key(env, &m));
    }
    let sig_of = |name: &str| {
        done.get(&Some(name.to_string()))
            .cloned()
            .unwrap_or_default()
    };
    match &st.base {
        Base::From(_) => field(&mut h, "from", &from_key(st)?),
        Base::Image(n) | Base::Artifact(n) => {
            field(&mut h, "from-node", &format!("{n}={}", sig_of(n)))
        }
    }
    for i in &st.imports {
        if i.external {
            field(&mut h, "import-external", &external_key(i)?);
        } else {
            field(&mut h, "import", &format!("{}={}", i.node, sig_of(&i.node)));
        }
    }
    // An `import: stage:` node: the same document built up to one stage.
    if let Some(t) = &st.target {
        field(&mut h, "target", t);
    }
    Ok(hex::encode(h.finalize()))
}

/// The `from` part of a signature: the base's name, and with `fromLatest` its registry
/// digest (a moved tag rebuilds).
pub(crate) fn from_key(st: &StapelRecipe) -> Result<String, StapelError> {
    let Base::From(b) = &st.base else {
        return Ok(String::new());
    };
    if !st.from_latest {
        return Ok(b.clone());
    }
    match &st.from_latest_digest {
        Some(d) => Ok(format!("{b}@{d}")),
        None => Err(StapelError::FromLatestUnresolved {
            at: st.from_latest_at.clone().unwrap_or_else(|| st.at.clone()),
            base: b.clone(),
        }),
    }
}

/// An import from a registry image as signatures see it: the source pinned to the digest
/// its registry gave (a tag moved to other content rebuilds; an unchanged one does not).
pub(crate) fn external_key(i: &StapelImport) -> Result<String, StapelError> {
    match &i.external_digest {
        Some(_) => Ok(format!("{}={}", i.source, i.external_reference())),
        None => Err(StapelError::ExternalImportUnresolved {
            at: i.at.clone(),
            reference: i.source.clone(),
        }),
    }
}

/// A mount as signatures see it: a `build_dir` is the project's own (its cache id names
/// the project), so another project's image with the same content is not this one's.
fn mount_key(env: &Env, m: &Mount) -> String {
    match m.from {
        MountFrom::BuildDir => format!("{}={:?}@{}", m.to, m.from, env.project),
        _ => format!("{}={:?}", m.to, m.from),
    }
}
