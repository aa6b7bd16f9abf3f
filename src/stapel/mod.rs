//! Stapel images and artifacts built through the daemon: each becomes a generated
//! multi-stage Dockerfile (one named stage per werf stage, in werf 1.1's order) plus a
//! generated context (the git mappings' files at HEAD, one script per shell stage), built
//! with BuildKit like a Dockerfile image. Steps run as werf runs them: the toolbox's bash
//! with `-e`, as root, in `/`, with the image's environment; the base's USER is restored
//! and `docker:` is applied last. This is werf's result from an empty stages storage
//! ("milestone 1", docs/stapel.md).

pub mod git;
pub mod stages;
pub mod storage;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::config::stapel::{
    Base, DockerCommand, ImportPosition, Mount, MountFrom, Stapel, StapelImport, UserStage,
};
use crate::config::{Config, ImageConfig};

/// Where the toolbox is mounted in every step, as werf mounts its stapel image.
pub const TOOLBOX_DIR: &str = "/.werf/stapel";
const BASH: &str = "/.werf/stapel/embedded/bin/bash";
const SCRIPT: &str = "/.werf/shell/script.sh";
/// Printed by a failing step's ERR trap: which command failed.
const FAILED_MARK: &str = "slipway-stapel-failed-command:";
/// Bumped when the generated Dockerfile changes for the same config.
const GENERATOR: &str = "1";

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
                .filter(|n| n.stapel.is_some())
                .filter_map(|n| Some((n.name.clone()?, n.clone())))
                .collect(),
        }
    }

    fn mounts_of(&self, img: &ImageConfig) -> Vec<Mount> {
        match &img.name {
            Some(n) => self.mounts.get(n).cloned().unwrap_or_default(),
            None => img
                .stapel
                .as_ref()
                .map(|s| s.mounts.clone())
                .unwrap_or_default(),
        }
    }

    fn tag(&self, name: &str) -> Result<&str, String> {
        self.tags
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| format!("unknown image or artifact {name:?}"))
    }
}

/// A node's mounts and those of the stapel images it starts from (config validation
/// rejected loops; the depth bound is a second guard).
fn inherited_mounts(cfg: &Config, node: &ImageConfig) -> Vec<Mount> {
    let mut out: Vec<Mount> = Vec::new();
    let mut cur = Some(node);
    for _ in 0..64 {
        let Some(st) = cur.and_then(|n| n.stapel.as_ref()) else {
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

/// A generated build: the Dockerfile, the context tar that holds it, and where each RUN
/// came from in werf.yaml.
#[derive(Debug, Clone)]
pub struct Generated {
    pub dockerfile: String,
    pub context: Vec<u8>,
    /// Dockerfile line (1-based) of each RUN → its stage's commands (`FILE:LINE:COL`, label).
    pub steps: BTreeMap<usize, Vec<(String, String)>>,
    /// The Dockerfile's stage names, in order (werf's stage names in lower case).
    pub stages: Vec<String>,
}

/// The Dockerfile's name inside the generated context.
pub const DOCKERFILE: &str = ".slipway.Dockerfile";

fn json(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_default()
}

/// The script of one step: werf's (commands verbatim, one list item after another) after a
/// preamble that moves to `/` and names the failing command on error.
fn script(st: &Stapel, stage: UserStage, commands: &[(usize, &str)]) -> String {
    let mut s = format!("#!{BASH} -e\n");
    if let Some(sh) = &st.shell {
        for v in sh.cache_versions(stage) {
            let _ = writeln!(s, "# cacheVersion: {}", v.replace('\n', " "));
        }
    }
    if let Some(v) = &st.from_cache_version {
        let _ = writeln!(s, "# fromCacheVersion: {}", v.replace('\n', " "));
    }
    let _ = writeln!(
        s,
        "trap 'echo \"{FAILED_MARK} ${{__slipway_command:-?}}\" >&2' ERR\ncd /"
    );
    for (i, c) in commands {
        let _ = writeln!(s, "__slipway_command={i}");
        s.push_str(c);
        if !c.ends_with('\n') {
            s.push('\n');
        }
    }
    s
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

struct Builder {
    lines: Vec<String>,
    prev: Option<&'static str>,
    steps: BTreeMap<usize, Vec<(String, String)>>,
    /// Every Dockerfile stage, in order.
    stages: Vec<String>,
    /// The stage a stored image replaces (its Dockerfile stage name, the image): the next
    /// stage starts from the image, so BuildKit never builds the stages up to it.
    start: Option<(String, String)>,
    /// Stages up to `start` are still being written (nothing in them is built).
    in_prefix: bool,
    /// Stages of their own (filtered imports), written before the werf stages.
    helpers: Vec<String>,
    helper_files: Vec<TarEntry>,
}

impl Builder {
    fn stage(&mut self, name: &'static str, base: &str) {
        let from = match (&self.start, self.prev) {
            (Some((s, image)), Some(p)) if s == p => {
                self.in_prefix = false;
                image.clone()
            }
            _ => self.prev.unwrap_or(base).to_string(),
        };
        self.lines.push(format!("FROM {from} AS {name}"));
        self.stages.push(name.to_string());
        self.prev = Some(name);
    }
}

/// Generate the Dockerfile and context of a stapel node. `base_user` is the USER of the
/// base image (inspected by the caller): steps run as root and it is restored at the end.
pub fn generate(
    env: &Env,
    img: &ImageConfig,
    base_user: Option<&str>,
) -> Result<Generated, String> {
    generate_planned(env, img, base_user, &stages::Plan::default())
}

/// [`generate`] with git content regenerated and patched as `plan` says (stage reuse).
pub fn generate_planned(
    env: &Env,
    img: &ImageConfig,
    base_user: Option<&str>,
    plan: &stages::Plan,
) -> Result<Generated, String> {
    let st = img
        .stapel
        .as_ref()
        .ok_or_else(|| "not a stapel image".to_string())?;
    if let Some(u) = st.unsupported.first() {
        return Err(u.clone());
    }
    let base = match &st.base {
        Base::From(b) => b.clone(),
        Base::Image(n) | Base::Artifact(n) => env.tag(n)?.to_string(),
    };
    let mut files: Vec<TarEntry> = Vec::new();
    let mut b = Builder {
        lines: vec![format!(
            "# Generated by Slipway for stapel {} {:?} ({}).",
            if st.artifact { "artifact" } else { "image" },
            img.display_name(),
            st.at
        )],
        prev: None,
        steps: BTreeMap::new(),
        stages: Vec::new(),
        start: plan
            .start
            .as_ref()
            .map(|(stage, image)| (stages::dockerfile_stage(stage), image.clone())),
        in_prefix: plan.start.is_some(),
        helpers: Vec::new(),
        helper_files: Vec::new(),
    };
    b.stage("from", &base);
    let mounts = env.mounts_of(img);
    let mut mount_flags = String::new();
    let toolbox_mount = format!(
        "--mount=type=bind,from={},source={TOOLBOX_DIR},target={TOOLBOX_DIR}",
        env.toolbox
    );
    for (n, m) in mounts.iter().enumerate() {
        let flag = match &m.from {
            // Persistent and shared by every image of the project mounting the same path,
            // as werf's ~/.werf/shared_context/mounts/projects/<project>/<to>.
            MountFrom::BuildDir => format!(
                " --mount=type=cache,id=werf-build-dir-{}-{},target={},sharing=shared",
                env.project,
                crate::naming::slug::slugify(&m.to),
                m.to
            ),
            MountFrom::TmpDir => format!(" --mount=type=tmpfs,target={}", m.to),
            MountFrom::Path(p) => {
                let dir = format!(".slipway/mnt/{n}");
                add_host_dir(&env.dir, p, &dir, &mut files)?;
                format!(" --mount=type=bind,source={dir},target={},rw", m.to)
            }
        };
        mount_flags.push_str(&flag);
    }
    // werf's from stage: the image's own mount targets are emptied in the base.
    let own: Vec<String> = st.mounts.iter().map(|m| m.to.clone()).collect();
    if !own.is_empty() {
        let mut argv = vec![format!("{TOOLBOX_DIR}/embedded/bin/rm"), "-rf".to_string()];
        argv.extend(own);
        b.lines
            .push(format!("RUN {toolbox_mount} {}", json_list(&argv)));
    }
    let non_root =
        base_user.is_some_and(|u| !u.is_empty() && u != "root" && u != "0" && u != "0:0");
    if non_root {
        b.lines.push("USER 0:0".into());
    }

    let git = git_trees(env, st, plan.archive)?;
    let mut patch_steps: BTreeMap<String, (Vec<String>, Vec<TarEntry>)> = BTreeMap::new();
    if !plan.patches.is_empty() {
        let repo = git::open(&env.dir)?;
        for (stage, (from, to)) in &plan.patches {
            let step = stages::patch_step(&repo, st, *from, *to, stage, &toolbox_mount)?;
            patch_steps.insert(stage.clone(), step);
        }
    }
    let patch = |b: &mut Builder, files: &mut Vec<TarEntry>, name: &str| {
        if let Some((lines, extra)) = patch_steps.get(name) {
            b.lines.extend(lines.iter().cloned());
            files.extend(extra.iter().cloned());
        }
    };
    let imports_at = |pos: ImportPosition| -> Vec<&StapelImport> {
        st.imports.iter().filter(|i| i.position == pos).collect()
    };
    let import_stage = |b: &mut Builder,
                        name: &'static str,
                        pos: ImportPosition|
     -> Result<(), String> {
        let list = imports_at(pos);
        if list.is_empty() {
            return Ok(());
        }
        b.stage(name, &base);
        for i in list {
            let from = env.tag(&i.node)?;
            if i.include_paths.is_empty() && i.exclude_paths.is_empty() {
                b.lines.push(format!(
                    "COPY --from={from}{} [{}, {}]",
                    chown(&i.owner, &i.group),
                    json(&i.add),
                    json(&i.to)
                ));
                continue;
            }
            // Filtered: a helper stage copies what the filters take (werf's rsync
            // rules) from the source into /o/x, which is then copied as `add` is.
            let k = b.helpers.len();
            let helper = format!("import{k}");
            let file = format!(".slipway/import/{k}.sh");
            b.helper_files.push(TarEntry::file(
                &file,
                import_filter_script(i).into_bytes(),
                0o755,
            ));
            b.helpers.push(format!(
                    "FROM scratch AS {helper}\nRUN {toolbox_mount} --mount=type=bind,from={from},target=/s --mount=type=bind,source={file},target=/.werf/import.sh [{}, \"-e\", \"/.werf/import.sh\"]",
                    json(BASH)
                ));
            b.lines.push(format!(
                "COPY --from={helper}{} [\"/o/x\", {}]",
                chown(&i.owner, &i.group),
                json(&i.to)
            ));
        }
        Ok(())
    };
    let user_stage = |b: &mut Builder,
                      files: &mut Vec<TarEntry>,
                      name: &'static str,
                      s: UserStage| {
        let Some(sh) = &st.shell else { return };
        if !sh.has_stage(s) {
            return;
        }
        b.stage(name, &base);
        patch(b, files, name);
        let commands: Vec<(usize, &str)> = sh
            .stage(s)
            .iter()
            .enumerate()
            .map(|(i, c)| (i, c.text.as_str()))
            .collect();
        let groups: Vec<Vec<(usize, &str)>> = if st.as_layers && commands.len() > 1 {
            commands.iter().map(|c| vec![*c]).collect()
        } else {
            vec![commands]
        };
        for (n, group) in groups.iter().enumerate() {
            let file = if groups.len() > 1 {
                format!(".slipway/sh/{}-{n}.sh", s.key())
            } else {
                format!(".slipway/sh/{}.sh", s.key())
            };
            files.push(TarEntry::file(
                &file,
                script(st, s, group).into_bytes(),
                0o755,
            ));
            b.lines.push(format!(
                "RUN {toolbox_mount}{mount_flags} --mount=type=bind,source={file},target={SCRIPT} [{}, \"-e\", {}]",
                json(BASH),
                json(SCRIPT)
            ));
            let located: Vec<(String, String)> = group
                .iter()
                .map(|(i, _)| {
                    let at = sh
                        .stage(s)
                        .get(*i)
                        .map(|c| c.at.clone())
                        .unwrap_or_default();
                    (at, format!("{}.{}[{i}]", sh.builder_name(), s.key()))
                })
                .collect();
            b.steps.insert(b.lines.len(), located);
        }
    };

    user_stage(
        &mut b,
        &mut files,
        "beforeinstall",
        UserStage::BeforeInstall,
    );
    import_stage(
        &mut b,
        "importsbeforeinstall",
        ImportPosition::BeforeInstall,
    )?;
    // One Dockerfile stage per werf stage (even one that copies nothing), so every stage
    // signature has an image a stages storage can hold.
    if !git.is_empty() {
        b.stage("gitarchive", &base);
        for (n, (m, tree)) in git.iter().enumerate() {
            // A stored image replaces it: its files need not travel.
            if tree.files.is_empty() || b.in_prefix {
                continue;
            }
            let dir = format!(".slipway/git/{n}");
            let clone = tree.remote.as_ref().map(|r| r.clone.as_path());
            for f in &tree.files {
                files.push(TarEntry::git_in(&format!("{dir}/{}", f.rel), f, clone));
            }
            let (src, dest) = if tree.single_file {
                let name = tree
                    .files
                    .first()
                    .map(|f| f.rel.clone())
                    .unwrap_or_default();
                tracing::warn!(
                    "{}: git add {} is a file: it is copied to {} as werf ≥ 1.2.11 and werf's docs do (werf 1.1 kept its name, in {})",
                    m.at,
                    m.add,
                    m.to,
                    parent(&m.to)
                );
                (format!("{dir}/{name}"), m.to.clone())
            } else {
                (
                    format!("{dir}/"),
                    format!("{}/", m.to.trim_end_matches('/')),
                )
            };
            b.lines.push(format!(
                "COPY{} [{}, {}]",
                chown(&m.owner, &m.group),
                json(&src),
                json(&dest)
            ));
        }
    }
    user_stage(&mut b, &mut files, "install", UserStage::Install);
    import_stage(&mut b, "importsafterinstall", ImportPosition::AfterInstall)?;
    user_stage(&mut b, &mut files, "beforesetup", UserStage::BeforeSetup);
    import_stage(&mut b, "importsbeforesetup", ImportPosition::BeforeSetup)?;
    user_stage(&mut b, &mut files, "setup", UserStage::Setup);
    import_stage(&mut b, "importsaftersetup", ImportPosition::AfterSetup)?;

    let mut last: Vec<String> = Vec::new();
    if let Some(d) = st.docker.as_ref().filter(|_| !st.artifact) {
        if !d.volume.is_empty() {
            last.push(format!("VOLUME {}", json_list(&d.volume)));
        }
        if !d.expose.is_empty() {
            last.push(format!("EXPOSE {}", d.expose.join(" ")));
        }
        for (k, v) in &d.env {
            last.push(format!("ENV {}={}", json(k), json(v)));
        }
        for (k, v) in &d.label {
            last.push(format!("LABEL {}={}", json(k), json(v)));
        }
        if let Some(w) = &d.workdir {
            last.push(format!("WORKDIR {w}"));
        }
        if let Some(h) = &d.healthcheck {
            last.push(format!("HEALTHCHECK {}", h.replace('\n', " ")));
        }
        let form = |c: &DockerCommand| match c {
            DockerCommand::Exec(v) => json_list(v),
            DockerCommand::Shell(s) => json_list(&["/bin/sh".into(), "-c".into(), s.clone()]),
        };
        if let Some(e) = &d.entrypoint {
            last.push(format!("ENTRYPOINT {}", form(e)));
        }
        if let Some(c) = &d.cmd {
            last.push(format!("CMD {}", form(c)));
        }
    }
    let user = st.docker.as_ref().and_then(|d| d.user.clone());
    match (user, non_root) {
        (Some(u), _) => last.push(format!("USER {u}")),
        (None, true) => last.push(format!("USER {}", base_user.unwrap_or_default())),
        (None, false) => {}
    }
    let latest = stages::dockerfile_stage(stages::LATEST_PATCH);
    if patch_steps.contains_key(&latest) {
        b.stage("gitlatestpatch", &base);
        patch(&mut b, &mut files, &latest);
    }
    if !last.is_empty() || !st.artifact {
        b.stage("dockerinstructions", &base);
        b.lines.extend(last);
    }
    // Helper stages go right after the header comment; RUN line numbers move with them.
    let shift: usize = b.helpers.iter().map(|h| h.lines().count()).sum();
    let mut lines = b.lines;
    let rest = lines.split_off(1.min(lines.len()));
    lines.extend(b.helpers);
    lines.extend(rest);
    let steps: BTreeMap<usize, Vec<(String, String)>> =
        b.steps.into_iter().map(|(k, v)| (k + shift, v)).collect();
    files.extend(b.helper_files);
    let mut dockerfile = lines.join("\n");
    dockerfile.push('\n');
    files.push(TarEntry::file(
        DOCKERFILE,
        dockerfile.clone().into_bytes(),
        0o644,
    ));
    let context = write_tar(&env.dir, files)?;
    Ok(Generated {
        dockerfile,
        context,
        steps,
        stages: b.stages,
    })
}

/// werf's import filter pattern (rsync's: `*` and `?` stop at `/`, `**` crosses it) as a
/// POSIX extended regex matching a path relative to `add` that is the pattern or lies
/// under it.
fn filter_regex(pattern: &str) -> String {
    let p = pattern.trim_matches('/');
    let mut re = String::from("^(");
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    let mut braces = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                // `**/` also matches no directory at all.
                if chars.get(i + 2) == Some(&'/') {
                    re.push_str("(.*/)?");
                    i += 2;
                } else {
                    re.push_str(".*");
                    i += 1;
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&x| x == ']')
                    .map(|e| e + i + 1);
                match end {
                    Some(e) => {
                        let mut class: String = chars[i + 1..e].iter().collect();
                        if let Some(rest) = class.strip_prefix('!') {
                            class = format!("^{rest}");
                        }
                        re.push('[');
                        re.push_str(&class);
                        re.push(']');
                        i = e;
                    }
                    None => re.push_str("\\["),
                }
            }
            '{' => {
                braces += 1;
                re.push('(');
            }
            '}' if braces > 0 => {
                braces -= 1;
                re.push(')');
            }
            ',' if braces > 0 => re.push('|'),
            '\\' if i + 1 < chars.len() => {
                i += 1;
                re.push('\\');
                re.push(chars[i]);
            }
            c if "^$.|+()\\{}".contains(c) => {
                re.push('\\');
                re.push(c);
            }
            c => re.push(c),
        }
        i += 1;
    }
    re.push_str(")(/.*)?$");
    re
}

/// The helper step of a filtered import: walks `add` in the source (mounted at /s) with
/// the toolbox's bash and copies each file or symlink that an include (when any) and no
/// exclude takes, keeping modes, owners and times, to the same place under /o/x.
fn import_filter_script(i: &StapelImport) -> String {
    let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let list = |v: &[String]| {
        v.iter()
            .map(|p| q(&filter_regex(p)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        r#"#!{BASH} -e
T={TOOLBOX_DIR}/embedded/bin
src=/s{add}
include=({inc})
exclude=({exc})
$T/mkdir -p /o
if [ -L "$src" ] || [ ! -d "$src" ]; then $T/cp -a "$src" /o/x; exit 0; fi
$T/mkdir -p /o/x
cd "$src"
shopt -s globstar dotglob nullglob
for rel in **; do
  if [ -d "$rel" ] && [ ! -L "$rel" ]; then continue; fi
  take=1
  if [ ${{#include[@]}} -gt 0 ]; then
    take=0
    for re in "${{include[@]}}"; do [[ $rel =~ $re ]] && take=1 && break; done
  fi
  for re in "${{exclude[@]}}"; do [[ $rel =~ $re ]] && take=0 && break; done
  [ $take = 1 ] || continue
  case $rel in */*) $T/mkdir -p "/o/x/${{rel%/*}}" ;; esac
  $T/cp -a "$rel" "/o/x/$rel"
done
"#,
        add = if i.add == "/" { "" } else { i.add.as_str() },
        inc = list(&i.include_paths),
        exc = list(&i.exclude_paths),
    )
}

/// A `fromPath` mount's host directory (relative to the project, `~` for the home),
/// copied into the context under `dest`: BuildKit binds it from there (writes are not
/// kept, unlike werf's).
fn add_host_dir(
    project: &std::path::Path,
    path: &str,
    dest: &str,
    files: &mut Vec<TarEntry>,
) -> Result<(), String> {
    let abs = match path.strip_prefix("~/") {
        Some(rest) => crate::settings::host_env::home()
            .ok_or("`fromPath: ~/…` needs HOME")?
            .join(rest),
        None => project.join(path),
    };
    if !abs.exists() {
        // werf creates it.
        files.push(TarEntry::file(&format!("{dest}/.keep"), Vec::new(), 0o644));
        return Ok(());
    }
    for e in walkdir::WalkDir::new(&abs).sort_by_file_name() {
        let e = e.map_err(|x| format!("mount fromPath {path}: {x}"))?;
        let rel = e
            .path()
            .strip_prefix(&abs)
            .map_err(|x| x.to_string())?
            .to_string_lossy()
            .replace('\\', "/");
        let ft = e.file_type();
        if ft.is_file() {
            let data =
                std::fs::read(e.path()).map_err(|x| format!("{}: {x}", e.path().display()))?;
            let mode = std::os::unix::fs::PermissionsExt::mode(
                &e.metadata().map_err(|x| x.to_string())?.permissions(),
            );
            files.push(TarEntry::file(
                &format!("{dest}/{rel}"),
                data,
                crate::context::normalized_mode(mode),
            ));
        } else if rel.is_empty() && ft.is_dir() {
            files.push(TarEntry::file(&format!("{dest}/.keep"), Vec::new(), 0o644));
        }
    }
    Ok(())
}

fn parent(p: &str) -> &str {
    match p.rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((d, _)) => d,
    }
}

/// Each mapping with the files it takes: local ones at `commit` (None: HEAD) of the
/// project's repository, remote ones at their resolved commit.
fn git_trees<'a>(
    env: &Env,
    st: &'a Stapel,
    commit: Option<git2::Oid>,
) -> Result<Vec<(&'a crate::config::stapel::GitMapping, git::Tree)>, String> {
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
        (Some(r), Some(c)) => Some(
            r.find_commit(c)
                .and_then(|c| c.tree())
                .map_err(|e| format!("commit {c}: {}", e.message()))?,
        ),
        (Some(r), None) => Some(git::head_tree(r)?.1),
    };
    st.git
        .iter()
        .enumerate()
        .map(|(n, m)| {
            let listed = match (&m.remote, &repo, &tree) {
                (Some(remote), _, _) => git::list_remote(m, remote),
                (None, Some(r), Some(t)) => git::list(r, t, m),
                _ => Err("no repository".to_string()),
            };
            listed
                .map(|t| (m, t))
                .map_err(|e| format!("{}: git[{n}]: {e}", m.at))
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
fn write_tar(dir: &std::path::Path, entries: Vec<TarEntry>) -> Result<Vec<u8>, String> {
    let mut repos: BTreeMap<Option<std::path::PathBuf>, git2::Repository> = BTreeMap::new();
    let mut b = tar::Builder::new(Vec::new());
    let mut dirs = std::collections::BTreeSet::new();
    let e = |x: std::io::Error| format!("writing the generated context: {x}");
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
                        Some(p) => git2::Repository::open_bare(p)
                            .map_err(|x| format!("{}: {}", p.display(), x.message()))?,
                        None => git::open(dir)?,
                    };
                    repos.insert(repo.clone(), r);
                }
                let Some(r) = repos.get(repo) else { continue };
                let blob = r
                    .find_blob(*oid)
                    .map_err(|x| format!("{path}: {}", x.message()))?;
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
    img: &ImageConfig,
    done: &BTreeMap<Option<String>, String>,
) -> Result<String, String> {
    let st = img
        .stapel
        .as_ref()
        .ok_or_else(|| "not a stapel image".to_string())?;
    let mut h = Sha256::new();
    field(&mut h, "slipway-stapel-signature", GENERATOR);
    field(&mut h, "artifact", if st.artifact { "1" } else { "0" });
    field(&mut h, "doc", &st.doc.to_string());
    field(&mut h, "toolbox", &env.toolbox);
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
    for m in env.mounts_of(img) {
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
        field(&mut h, "import", &format!("{}={}", i.node, sig_of(&i.node)));
    }
    // An `import: stage:` node: the same document built up to one stage.
    if let Some(t) = &img.target {
        field(&mut h, "target", t);
    }
    Ok(hex::encode(h.finalize()))
}

/// Does any stapel node use `fromLatest` (so the registry is asked before signatures)?
pub fn uses_from_latest(cfg: &Config) -> bool {
    cfg.nodes()
        .any(|n| n.stapel.as_ref().is_some_and(|s| s.from_latest))
}

/// `fromLatest`: ask the base's registry for the digest its tag names now (werf 1.1 puts
/// the registry's id of the base into the `from` stage's signature), record it on each
/// such node, and, with `docker`, pull the base when the daemon's copy is not that one
/// (werf pulls too), so the build starts from what the signature says. A registry that
/// cannot answer is an error at `fromLatest`, as in werf.
pub async fn resolve_from_latest(
    cfg: &mut Config,
    client: &crate::registry::Client,
    docker: Option<&bollard::Docker>,
) -> Result<(), crate::build::BuildError> {
    let mut digests: BTreeMap<String, String> = BTreeMap::new();
    for node in cfg.images.iter_mut().chain(cfg.artifacts.iter_mut()) {
        let image = node.display_name().to_string();
        let Some(st) = node.stapel.as_mut() else {
            continue;
        };
        let Base::From(base) = &st.base else { continue };
        if !st.from_latest {
            continue;
        }
        let at = st.from_latest_at.clone().unwrap_or_else(|| st.at.clone());
        let fail = |e: String| crate::build::BuildError::Failed {
            image: image.clone(),
            message: format!("{at}: fromLatest: base image {base}: {e}"),
        };
        if let Some(d) = digests.get(base) {
            st.from_latest_digest = Some(d.clone());
            continue;
        }
        let r = crate::registry::Reference::parse(base).map_err(|e| fail(e.to_string()))?;
        let wanted = r
            .digest
            .clone()
            .or(r.tag.clone())
            .unwrap_or_else(|| "latest".into());
        let info = client
            .head_manifest(&r.repository, &wanted)
            .await
            .map_err(|e| fail(format!("cannot get its digest from the registry: {e}")))?
            .ok_or_else(|| fail(format!("the registry has no {wanted}")))?;
        if let Some(docker) = docker {
            pull_unless_local(docker, base, &info.digest)
                .await
                .map_err(fail)?;
        }
        tracing::info!("fromLatest: {base} is {}", info.digest);
        digests.insert(base.clone(), info.digest.clone());
        st.from_latest_digest = Some(info.digest);
    }
    Ok(())
}

/// Pull `base` unless the daemon's image of that name is the one with `digest`.
async fn pull_unless_local(
    docker: &bollard::Docker,
    base: &str,
    digest: &str,
) -> Result<(), String> {
    let local = docker.inspect_image(base).await.ok();
    let has = local
        .and_then(|i| i.repo_digests)
        .unwrap_or_default()
        .iter()
        .any(|d| d.ends_with(&format!("@{digest}")));
    if has {
        return Ok(());
    }
    let (repo, tag) = match base.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
        _ => (base.to_string(), "latest".to_string()),
    };
    let opts = bollard::query_parameters::CreateImageOptionsBuilder::default()
        .from_image(&repo)
        .tag(&tag)
        .build();
    let mut pull = docker.create_image(Some(opts), None, None);
    while let Some(item) = futures::StreamExt::next(&mut pull).await {
        item.map_err(|e| format!("pulling it: {e}"))?;
    }
    Ok(())
}

/// The `from` part of a signature: the base's name, and with `fromLatest` its registry
/// digest (a moved tag rebuilds).
pub(crate) fn from_key(st: &Stapel) -> Result<String, String> {
    let Base::From(b) = &st.base else {
        return Ok(String::new());
    };
    if !st.from_latest {
        return Ok(b.clone());
    }
    match &st.from_latest_digest {
        Some(d) => Ok(format!("{b}@{d}")),
        None => Err(format!(
            "{}: fromLatest: the digest of {b} was not resolved",
            st.from_latest_at.as_deref().unwrap_or(&st.at)
        )),
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

/// A failed step put back on werf.yaml: the RUN's Dockerfile line and the command index
/// its ERR trap printed (in `log`) give the command's `FILE:LINE:COL` and `shell.STAGE[N]`.
pub fn locate_failure(g: &Generated, line: Option<usize>, log: &[String]) -> Option<String> {
    let cmds = g.steps.get(&line?)?;
    let idx: Option<usize> = log.iter().rev().find_map(|l| {
        let (_, rest) = l.split_once(FAILED_MARK)?;
        rest.split_whitespace().next()?.parse().ok()
    });
    let (at, label) = match idx {
        Some(i) => cmds
            .iter()
            .find(|(_, l)| l.ends_with(&format!("[{i}]")))
            .or(cmds.first())?,
        None => cmds.first()?,
    };
    Some(format!("{at}: {label}"))
}

#[cfg(test)]
mod tests {
    use super::filter_regex;

    /// Matches as bash's `[[ rel =~ re ]]` does (the regexes run in the toolbox's bash).
    fn bash_match(re: &str, rel: &str) -> bool {
        std::process::Command::new("bash")
            .args(["-c", r#"[[ $1 =~ $2 ]]"#, "m", rel, re])
            .status()
            .expect("bash")
            .success()
    }

    #[test]
    fn import_filters_follow_rsync_globs() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                "**/*.txt",
                &["a.txt", ".h.txt", "x/y/z.txt", "d.txt/inner"],
                &["a.txtx", "b.bin"],
            ),
            ("*.txt", &["a.txt", "a.txt/x"], &["x/a.txt"]),
            ("keep", &["keep", "keep/k.bin"], &["keeper", "x/keep"]),
            ("a/?.c", &["a/b.c"], &["a/bb.c", "a/x/b.c"]),
            ("{x,y}/[!a]*", &["x/b", "y/c/d"], &["x/a", "z/b"]),
            ("a.b+c", &["a.b+c"], &["aXb+c", "a.bbc"]),
        ];
        for (pattern, yes, no) in cases {
            let re = filter_regex(pattern);
            for rel in *yes {
                assert!(bash_match(&re, rel), "{pattern} ({re}) should take {rel}");
            }
            for rel in *no {
                assert!(
                    !bash_match(&re, rel),
                    "{pattern} ({re}) should not take {rel}"
                );
            }
        }
    }
}
