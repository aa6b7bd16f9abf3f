//! werf's stage reuse for stapel images (issue #20; a stages storage in a repository is
//! `storage`, the build that uses it `build::stapel_storage`): per-stage
//! signatures with werf 1.1's dependency structure, the record of which commit each
//! stage's git content came from (a label on the built image), and the plan that
//! regenerates the unchanged prefix exactly as last time and patches the sources in at
//! the first rebuilt user stage (or in a final `gitLatestPatch` step).
//!
//! Signatures do not contain commits (werf's gitArchive signature has none either); the
//! commit of each stage is in the record, so a stage is reused when its signature is the
//! recorded one and its recorded commit is HEAD or an ancestor of it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{GitError, StapelError};
use super::{Env, TOOLBOX_DIR, TarEntry, chown, field, git, json, json_list};
use crate::config::ImageConfig;
use crate::config::stapel::{Base, GitMapping, ImportPosition, StapelRecipe, UserStage};

/// The final patch step's name (werf's stage of the same name).
pub const LATEST_PATCH: &str = "gitLatestPatch";
/// Bumped when stage signatures change meaning.
const VERSION: &str = "1";

/// One stage of a built image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageRecord {
    /// werf's name (`install`, `gitArchive`, …).
    pub stage: String,
    pub signature: String,
    /// The commit the stage's git content came from (stages from gitArchive on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The signatures of the images the stage is built from or imports from (their last
    /// stage; a Dockerfile image's content signature): cleanup keeps their stored stages
    /// while it keeps this one, as werf follows its parent and `werf-import-*` labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
}

/// What kind of stage, for the patch rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    GitArchive,
    User,
    Docker,
}

/// A stage of an image with its signature.
#[derive(Debug, Clone)]
pub struct StageSig {
    /// werf's name.
    pub stage: &'static str,
    pub signature: String,
    kind: Kind,
    /// See [`StageRecord::sources`].
    sources: Vec<String>,
}

impl StageSig {
    /// A stored image of this stage is usable only when built from HEAD itself: the
    /// docker instructions come after the latest patch.
    pub fn needs_head(&self) -> bool {
        self.kind == Kind::Docker
    }
}

/// Can a stored stage whose record is `record` be reused at HEAD? Every recorded commit
/// must be in the clone and HEAD or an ancestor of it (never an error: the stage is then
/// built); with `needs_head`, the stage's own commit must be HEAD.
pub fn usable_at(
    repo: &git2::Repository,
    head: git2::Oid,
    record: &[StageRecord],
    needs_head: bool,
) -> bool {
    if usable_commits(repo, head, record).is_none() {
        return false;
    }
    !needs_head
        || record
            .last()
            .and_then(|r| r.commit.as_deref())
            .is_none_or(|c| c == head.to_string())
}

/// The Dockerfile stage name of a werf stage (lower case, as [`super::generate`] names them).
pub fn dockerfile_stage(stage: &str) -> String {
    stage.to_ascii_lowercase()
}

fn hash(parts: &[(&str, &str)]) -> String {
    let mut h = Sha256::new();
    for (k, v) in parts {
        field(&mut h, k, v);
    }
    hex::encode(h.finalize())
}

fn user_stage_name(s: UserStage) -> &'static str {
    s.key()
}

fn imports_name(p: ImportPosition) -> &'static str {
    match p {
        ImportPosition::BeforeInstall => "importsBeforeInstall",
        ImportPosition::AfterInstall => "importsAfterInstall",
        ImportPosition::BeforeSetup => "importsBeforeSetup",
        ImportPosition::AfterSetup => "importsAfterSetup",
    }
}

/// The git state signatures read: HEAD's commit and tree (None without `git:`).
pub struct Head<'r> {
    pub repo: &'r git2::Repository,
    pub commit: git2::Oid,
    pub tree: git2::Tree<'r>,
}

/// `stageDependencies` checksum of one user stage: per mapping, the path, mode and blob id
/// of each file at HEAD that the mapping takes and one of the stage's masks matches.
fn stage_dependencies(
    st: &StapelRecipe,
    head: Option<&Head<'_>>,
    s: UserStage,
) -> Result<String, StapelError> {
    let mut h = Sha256::new();
    for (n, m) in st.git.iter().enumerate() {
        let Some(masks) = m.stage_dependencies.get(s.key()).filter(|v| !v.is_empty()) else {
            continue;
        };
        // A remote mapping's commit is in gitArchive's signature: any change there
        // rebuilds every later stage already.
        if m.remote.is_some() {
            continue;
        }
        let Some(head) = head else { continue };
        let tree = git::list(head.repo, &head.tree, m).map_err(|cause| StapelError::Mapping {
            at: m.at.clone(),
            index: n,
            cause,
        })?;
        let filter = git::Filter::new(masks, &[]);
        let mut matched = 0;
        field(&mut h, "mapping", &n.to_string());
        for f in tree.files.iter().filter(|f| filter.takes(&f.rel)) {
            matched += 1;
            h.update(format!("{}\0{:o}\0{}\n", f.rel, f.mode, f.oid).as_bytes());
        }
        if matched == 0 {
            tracing::warn!(
                "{}: stageDependencies.{} {:?} match no file at HEAD",
                m.at,
                s.key(),
                masks
            );
        }
    }
    Ok(hex::encode(h.finalize()))
}

/// Every stage of a stapel node in werf's order with its signature: each covers its own
/// instructions and dependencies and the previous stage's signature. `nodes` holds the
/// content signatures of the other werf.yaml images (bases and import sources).
pub fn signatures(
    env: &Env,
    img: &ImageConfig,
    nodes: &BTreeMap<Option<String>, String>,
    head: Option<&Head<'_>>,
) -> Result<Vec<StageSig>, StapelError> {
    signatures_at(env, img, nodes, head, 0)
}

/// The signature a dependant's stage covers for a base or import source: a stapel node's
/// last stage signature (stable while its stages are reused), else its content signature.
fn source_signature(
    env: &Env,
    name: &str,
    nodes: &BTreeMap<Option<String>, String>,
    head: Option<&Head<'_>>,
    depth: usize,
) -> Result<String, StapelError> {
    match env.stapel_nodes.get(name) {
        // Config validation rejected loops; the depth bound is a second guard.
        Some(n) if depth < 64 => Ok(signatures_at(env, n, nodes, head, depth + 1)?
            .last()
            .map(|s| s.signature.clone())
            .unwrap_or_default()),
        _ => Ok(nodes
            .get(&Some(name.to_string()))
            .cloned()
            .unwrap_or_default()),
    }
}

/// Stage signatures as they are written, each covering the one before.
struct StageList(Vec<StageSig>);

impl StageList {
    fn push(&mut self, stage: &'static str, kind: Kind, deps: String) {
        self.push_from(stage, kind, deps, Vec::new());
    }

    fn push_from(&mut self, stage: &'static str, kind: Kind, deps: String, sources: Vec<String>) {
        let prev = self
            .0
            .last()
            .map(|s| s.signature.clone())
            .unwrap_or_default();
        let signature = hash(&[
            ("slipway-stapel-stage", VERSION),
            ("generator", super::GENERATOR),
            ("stage", stage),
            ("prev", &prev),
            ("deps", &deps),
        ]);
        self.0.push(StageSig {
            stage,
            signature,
            kind,
            sources,
        });
    }
}

/// What the signature of each stage of one node reads.
struct SigInputs<'a, 'r> {
    st: &'a StapelRecipe,
    /// The dependencies (`dependencies:`) with where they set their ENV.
    deps: Vec<(&'a crate::config::Dependency, ImportPosition)>,
    head: Option<&'a Head<'r>>,
    /// The signature each base or import source stands for.
    sources: BTreeMap<&'a str, String>,
}

impl SigInputs<'_, '_> {
    fn source(&self, name: &str) -> String {
        self.sources.get(name).cloned().unwrap_or_default()
    }

    /// The from stage: the base, the toolbox and the mounts.
    fn from(&self, env: &Env, img: &ImageConfig) -> Result<String, StapelError> {
        let st = self.st;
        let base = match &st.base {
            Base::From(_) => format!("from={}", super::from_key(st)?),
            Base::Image(n) | Base::Artifact(n) => format!("node={n}={}", self.source(n)),
        };
        let mounts: Vec<String> = env
            .mounts_of(img.name.as_deref(), st)
            .iter()
            .map(|m| super::mount_key(env, m))
            .collect();
        let own_mounts = st
            .mounts
            .iter()
            .map(|m| m.to.as_str())
            .collect::<Vec<_>>()
            .join("\0");
        let mut fields = vec![
            ("base", base.as_str()),
            ("artifact", if st.artifact { "1" } else { "0" }),
            ("fromLatest", if st.from_latest { "1" } else { "0" }),
            (
                "fromCacheVersion",
                st.from_cache_version.as_deref().unwrap_or(""),
            ),
            ("toolbox", env.toolbox.as_str()),
        ];
        let mounts = mounts.join("\0");
        fields.push(("mounts", &mounts));
        fields.push(("ownMounts", &own_mounts));
        // werf 2's image `cacheVersion` (else `build.cacheVersion`) is in its from stage,
        // so in every stage's signature: a new value rebuilds every stage. Absent, the
        // signatures stay what they were before it was read.
        if let Some(v) = &img.cache_version {
            fields.push(("cacheVersion", v));
        }
        // The platform only when set: stages built without `platform:` keep their
        // signatures (and stored stages).
        if let Some(p) = &env.platform {
            fields.push(("platform", p));
        }
        Ok(hash(&fields))
    }

    /// A user stage's commands and `stageDependencies` (None: the stage is empty).
    fn user(&self, s: UserStage) -> Result<Option<String>, StapelError> {
        let st = self.st;
        let Some(sh) = &st.shell else { return Ok(None) };
        if !sh.has_stage(s) {
            return Ok(None);
        }
        let commands: Vec<&str> = sh.stage(s).iter().map(|c| c.text.as_str()).collect();
        let deps = if s == UserStage::BeforeInstall {
            String::new()
        } else {
            stage_dependencies(st, self.head, s)?
        };
        Ok(Some(hash(&[
            ("builder", sh.builder_name()),
            (
                "commands",
                &serde_json::to_string(&commands).unwrap_or_default(),
            ),
            ("cacheVersions", &sh.cache_versions(s).join("\0")),
            ("asLayers", if st.as_layers { "1" } else { "0" }),
            ("stageDependencies", &deps),
        ])))
    }

    /// The imports at `p` with their sources' signatures (None: there are none).
    fn imports(&self, p: ImportPosition) -> Result<Option<String>, StapelError> {
        let list: Vec<String> = self
            .st
            .imports
            .iter()
            .filter(|i| i.position == p)
            .map(|i| {
                let source = if i.external {
                    super::external_key(i)?
                } else {
                    format!("{}={}", i.node, self.source(&i.node))
                };
                Ok(format!(
                    "{source}\0{}",
                    serde_json::to_string(&(
                        &i.add,
                        &i.to,
                        &i.stage,
                        &i.include_paths,
                        &i.exclude_paths,
                        &i.owner,
                        &i.group
                    ))
                    .unwrap_or_default()
                ))
            })
            .collect::<Result<_, StapelError>>()?;
        // A dependency by its signature (never its name), with each import's type and
        // targetEnv: werf's dependencies stage.
        let deps = self.deps.iter().filter(|(_, at)| *at == p).map(|(d, _)| {
            let imports: Vec<String> = d
                .imports
                .iter()
                .map(|i| format!("{:?}={}", i.kind, i.target_env.as_deref().unwrap_or("")))
                .collect();
            format!(
                "dependency={}\0{}",
                self.source(&d.image),
                imports.join("\0")
            )
        });
        let list: Vec<String> = list.into_iter().chain(deps).collect();
        Ok((!list.is_empty()).then(|| list.join("\n")))
    }

    /// The signatures the imports and dependencies at `p` stand for.
    fn import_sources(&self, p: ImportPosition) -> Vec<String> {
        let imports = self.st.imports.iter().filter(|i| i.position == p);
        let deps = self.deps.iter().filter(|(_, at)| *at == p);
        let mut out: Vec<String> = imports
            .map(|i| self.source(&i.node))
            .chain(deps.map(|(d, _)| self.source(&d.image)))
            .filter(|s| !s.is_empty())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// A user stage followed by its imports (werf's order).
    fn user_then_imports(
        &self,
        out: &mut StageList,
        s: UserStage,
        p: ImportPosition,
    ) -> Result<(), StapelError> {
        if let Some(d) = self.user(s)? {
            let after_git = out.0.iter().any(|x| x.kind == Kind::GitArchive);
            let kind = if after_git { Kind::User } else { Kind::Plain };
            out.push(user_stage_name(s), kind, d);
        }
        if let Some(d) = self.imports(p)? {
            out.push_from(imports_name(p), Kind::Plain, d, self.import_sources(p));
        }
        Ok(())
    }

    /// gitArchive: the mappings as written, a remote one with its resolved commit (werf
    /// patches remote mappings too; Slipway rebuilds from gitArchive when it moves).
    fn git_archive(&self, env: &Env) -> Result<String, StapelError> {
        let mut params: Vec<String> = Vec::new();
        for m in &self.st.git {
            let remote = match &m.remote {
                Some(r) => Some((
                    &r.url,
                    git::resolve(r, env.git_remotes.as_deref(), env.ssh_agent.as_deref())?
                        .commit
                        .to_string(),
                )),
                None => None,
            };
            params.push(
                serde_json::to_string(&(
                    &m.add,
                    &m.to,
                    &m.include_paths,
                    &m.exclude_paths,
                    &m.owner,
                    &m.group,
                    remote,
                ))
                .unwrap_or_default(),
            );
        }
        Ok(params.join("\n"))
    }
}

fn signatures_at(
    env: &Env,
    img: &ImageConfig,
    nodes: &BTreeMap<Option<String>, String>,
    head: Option<&Head<'_>>,
    depth: usize,
) -> Result<Vec<StageSig>, StapelError> {
    let st = img.stapel().ok_or(StapelError::NotStapel)?;
    let mut sources: BTreeMap<&str, String> = BTreeMap::new();
    for name in st
        .base
        .source()
        .into_iter()
        .chain(
            st.imports
                .iter()
                .filter(|i| !i.external)
                .map(|i| i.node.as_str()),
        )
        .chain(img.dependencies.iter().map(|d| d.image.as_str()))
    {
        if !sources.contains_key(name) {
            sources.insert(name, source_signature(env, name, nodes, head, depth)?);
        }
    }
    let deps = img
        .dependencies
        .iter()
        .filter_map(|d| Some((d, ImportPosition::from(d.stage?))))
        .collect();
    let inputs = SigInputs {
        st,
        deps,
        head,
        sources,
    };
    let mut out = StageList(Vec::new());
    let base: Vec<String> = st
        .base
        .source()
        .map(|n| inputs.source(n))
        .filter(|s| !s.is_empty())
        .into_iter()
        .collect();
    out.push_from("from", Kind::Plain, inputs.from(env, img)?, base);
    inputs.user_then_imports(
        &mut out,
        UserStage::BeforeInstall,
        ImportPosition::BeforeInstall,
    )?;
    if !st.git.is_empty() {
        out.push("gitArchive", Kind::GitArchive, inputs.git_archive(env)?);
    }
    inputs.user_then_imports(&mut out, UserStage::Install, ImportPosition::AfterInstall)?;
    inputs.user_then_imports(
        &mut out,
        UserStage::BeforeSetup,
        ImportPosition::BeforeSetup,
    )?;
    inputs.user_then_imports(&mut out, UserStage::Setup, ImportPosition::AfterSetup)?;
    // Artifacts have neither docker instructions nor a latest patch: werf keeps their
    // stages until a signature changes.
    if !st.artifact {
        let docker = serde_json::to_string(&st.docker).unwrap_or_default();
        // `disableGitAfterPatch`: no latest patch before them, as in an artifact.
        let kind = if st.disable_git_after_patch {
            Kind::Plain
        } else {
            Kind::Docker
        };
        out.push("dockerInstructions", kind, docker);
    }
    Ok(out.0)
}

/// How a build regenerates and patches git content.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The commit gitArchive takes its files from (None: HEAD).
    pub archive: Option<git2::Oid>,
    /// Patches (from, to) applied at the start of a stage, by Dockerfile stage name;
    /// [`LATEST_PATCH`] lowercased is the final patch step before the docker instructions.
    pub patches: BTreeMap<String, (git2::Oid, git2::Oid)>,
    /// A stored stage image the build starts from: (werf stage name, image reference).
    /// The stages up to it are not built.
    pub start: Option<(String, String)>,
    /// The values of the dependency imports (`targetEnv` → value), known once the
    /// dependencies are built.
    pub dependency_env: BTreeMap<String, String>,
}

/// A build's plan, the record to put on the image and what is reused and built.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub plan: Plan,
    pub record: Vec<StageRecord>,
    pub reused: Vec<String>,
    pub built: Vec<String>,
}

impl Outcome {
    /// One line for the build's output; `source` says where reused stages come from.
    pub fn summary_from(&self, source: &str) -> String {
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        let from = if self.reused.is_empty() {
            String::new()
        } else {
            format!(" (from the {source})")
        };
        format!(
            "stapel stages: reused {}{from}; built {}",
            list(&self.reused),
            list(&self.built)
        )
    }

    /// [`Self::summary_from`] for stages reused through the daemon's build cache.
    pub fn summary(&self) -> String {
        self.summary_from("local daemon")
    }
}

/// Parse a record label (an unreadable one counts as none).
pub fn parse_record(label: &str) -> Option<Vec<StageRecord>> {
    serde_json::from_str(label).ok()
}

/// The commits of a record, checked against the clone: each must exist and be HEAD or an
/// ancestor of it. `None` when the record cannot be used (the image is then rebuilt from
/// scratch, never an error).
fn usable_commits(
    repo: &git2::Repository,
    head: git2::Oid,
    record: &[StageRecord],
) -> Option<BTreeMap<String, git2::Oid>> {
    let mut out = BTreeMap::new();
    for r in record {
        let Some(c) = &r.commit else { continue };
        let oid = git2::Oid::from_str(c).ok()?;
        if repo.find_commit(oid).is_err() {
            tracing::info!("stapel stages: recorded commit {c} is not in the clone: rebuilding");
            return None;
        }
        if oid != head && !repo.graph_descendant_of(head, oid).unwrap_or(false) {
            tracing::info!(
                "stapel stages: recorded commit {c} is not an ancestor of HEAD: rebuilding"
            );
            return None;
        }
        out.insert(c.clone(), oid);
    }
    Some(out)
}

/// Decide which stages are reused from `previous` (the record on the last image) and how
/// git content is regenerated and patched.
pub fn plan(
    sigs: &[StageSig],
    head: Option<&Head<'_>>,
    previous: Option<&[StageRecord]>,
) -> Outcome {
    let head_commit = head.map(|h| h.commit);
    let prev: Vec<&StageRecord> = previous
        .unwrap_or_default()
        .iter()
        .filter(|r| r.stage != LATEST_PATCH)
        .collect();
    let commits = match (head, previous) {
        (Some(h), Some(p)) => usable_commits(h.repo, h.commit, p),
        (None, Some(_)) => Some(BTreeMap::new()),
        _ => None,
    };
    // k: the first stage whose signature is not the recorded one.
    let k = match &commits {
        None => 0,
        Some(_) => sigs
            .iter()
            .zip(prev.iter())
            .take_while(|(s, r)| s.stage == r.stage && s.signature == r.signature)
            .count(),
    };
    let recorded = |i: usize| -> Option<git2::Oid> {
        let c = prev.get(i)?.commit.as_ref()?;
        commits.as_ref()?.get(c).copied()
    };
    let mut o = Outcome::default();
    let mut cur: Option<git2::Oid> = None;
    for (i, s) in sigs.iter().enumerate() {
        let reused = i < k;
        match s.kind {
            Kind::GitArchive => {
                cur = if reused { recorded(i) } else { head_commit };
                if reused {
                    o.plan.archive = cur;
                }
            }
            Kind::User => {
                let target = if reused { recorded(i) } else { head_commit };
                if let (Some(from), Some(to)) = (cur, target)
                    && from != to
                {
                    o.plan.patches.insert(dockerfile_stage(s.stage), (from, to));
                    cur = Some(to);
                }
            }
            Kind::Docker => {
                if let (Some(from), Some(to)) = (cur, head_commit)
                    && from != to
                {
                    o.plan
                        .patches
                        .insert(dockerfile_stage(LATEST_PATCH), (from, to));
                    let prev_sig = o
                        .record
                        .last()
                        .map(|r| r.signature.clone())
                        .unwrap_or_default();
                    o.record.push(StageRecord {
                        stage: LATEST_PATCH.into(),
                        signature: hash(&[
                            ("prev", &prev_sig),
                            ("from", &from.to_string()),
                            ("to", &to.to_string()),
                        ]),
                        commit: Some(to.to_string()),
                        sources: Vec::new(),
                    });
                    o.built.push(LATEST_PATCH.into());
                    cur = Some(to);
                }
            }
            Kind::Plain => {}
        }
        // The docker instructions sit on the latest patch when there is one.
        let built_here = !reused
            || (s.kind == Kind::Docker && o.built.last().is_some_and(|b| b == LATEST_PATCH));
        if built_here {
            o.built.push(s.stage.into());
        } else {
            o.reused.push(s.stage.into());
        }
        o.record.push(StageRecord {
            stage: s.stage.into(),
            signature: s.signature.clone(),
            commit: cur.map(|c| c.to_string()),
            sources: s.sources.clone(),
        });
    }
    o
}

/// The plan of one stapel node's build: its stage signatures at HEAD against the record
/// (`previous`, the label of the last local image of this node).
pub fn prepare(
    env: &Env,
    img: &ImageConfig,
    nodes: &BTreeMap<Option<String>, String>,
    previous: Option<&str>,
) -> Result<Outcome, StapelError> {
    // Patches and recorded commits are about the project's repository (local mappings).
    let has_git = img
        .stapel()
        .is_some_and(|s| s.git.iter().any(|m| m.remote.is_none()));
    let repo = if has_git {
        Some(git::open(&env.dir)?)
    } else {
        None
    };
    let head = match &repo {
        Some(r) => {
            let (commit, tree) = git::head_tree(r)?;
            Some(Head {
                repo: r,
                commit,
                tree,
            })
        }
        None => None,
    };
    let sigs = signatures(env, img, nodes, head.as_ref())?;
    let record = previous.and_then(parse_record);
    Ok(plan(&sigs, head.as_ref(), record.as_deref()))
}

/// The stage signatures of a stapel node at HEAD (the repository is read here).
pub fn head_signatures(
    env: &Env,
    img: &ImageConfig,
    nodes: &BTreeMap<Option<String>, String>,
) -> Result<Vec<StageSig>, StapelError> {
    let has_git = img.stapel().is_some_and(|s| !s.git.is_empty());
    if !has_git {
        return signatures(env, img, nodes, None);
    }
    let repo = git::open(&env.dir)?;
    let (commit, tree) = git::head_tree(&repo)?;
    let head = Head {
        repo: &repo,
        commit,
        tree,
    };
    signatures(env, img, nodes, Some(&head))
}

/// [`usable_at`] for the project at `env.dir` (a node without `git:` records no commit:
/// any stored stage of its signature suits it).
pub fn usable_in(env: &Env, img: &ImageConfig, record: &[StageRecord], needs_head: bool) -> bool {
    let has_git = img.stapel().is_some_and(|s| !s.git.is_empty());
    if !has_git {
        return true;
    }
    let Ok(repo) = git::open(&env.dir) else {
        return false;
    };
    let Ok((head, _)) = git::head_tree(&repo) else {
        return false;
    };
    usable_at(&repo, head, record, needs_head)
}

mod patch;
pub(super) use patch::patch_step;

#[cfg(test)]
mod tests;
