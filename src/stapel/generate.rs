//! The generated build of a stapel node: a multi-stage Dockerfile (one named stage per
//! werf stage, in werf 1.1's order) and its context. [`generate_planned`] calls one writer
//! per kind of stage (from, user, imports, git, docker) on a [`DockerfileWriter`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{
    BASH, Env, FAILED_MARK, SCRIPT, StapelError, TOOLBOX_DIR, TarEntry, chown, git, git_trees,
    json, json_list, stages, write_tar,
};
use crate::config::ImageConfig;
use crate::config::stapel::{
    Base, DockerCommand, GitMapping, ImportPosition, MountFrom, StapelImport, StapelRecipe,
    UserStage,
};

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
    /// The platform it is built for (`Env::platform`); `None`: the daemon's.
    pub platform: Option<String>,
}

/// The Dockerfile's name inside the generated context.
pub const DOCKERFILE: &str = ".slipway.Dockerfile";

/// The Dockerfile being written and the context files it needs.
struct DockerfileWriter {
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
    /// The context's files, in the order they were added.
    files: Vec<TarEntry>,
}

impl DockerfileWriter {
    fn new(header: String, plan: &stages::Plan) -> DockerfileWriter {
        DockerfileWriter {
            lines: vec![header],
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
            files: Vec::new(),
        }
    }

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

    /// The Dockerfile (helper stages right after the header comment; RUN line numbers
    /// move with them) and the context tar that holds it.
    fn finish(self, dir: &std::path::Path) -> Result<Generated, StapelError> {
        let shift: usize = self.helpers.iter().map(|h| h.lines().count()).sum();
        let mut lines = self.lines;
        let rest = lines.split_off(1.min(lines.len()));
        lines.extend(self.helpers);
        lines.extend(rest);
        let steps: BTreeMap<usize, Vec<(String, String)>> = self
            .steps
            .into_iter()
            .map(|(k, v)| (k + shift, v))
            .collect();
        let mut files = self.files;
        files.extend(self.helper_files);
        let mut dockerfile = lines.join("\n");
        dockerfile.push('\n');
        files.push(TarEntry::file(
            DOCKERFILE,
            dockerfile.clone().into_bytes(),
            0o644,
        ));
        let context = write_tar(dir, files)?;
        Ok(Generated {
            dockerfile,
            context,
            steps,
            stages: self.stages,
            platform: None,
        })
    }
}

/// Generate the Dockerfile and context of a stapel node. `base_user` is the USER of the
/// base image (inspected by the caller): steps run as root and it is restored at the end.
pub fn generate(
    env: &Env,
    img: &ImageConfig,
    base_user: Option<&str>,
) -> Result<Generated, StapelError> {
    generate_planned(env, img, base_user, &stages::Plan::default())
}

/// [`generate`] with git content regenerated and patched as `plan` says (stage reuse).
pub fn generate_planned(
    env: &Env,
    img: &ImageConfig,
    base_user: Option<&str>,
    plan: &stages::Plan,
) -> Result<Generated, StapelError> {
    let st = img.stapel().ok_or(StapelError::NotStapel)?;
    if let Some(u) = st.unsupported.first() {
        return Err(StapelError::Unsupported(u.clone()));
    }
    let base = match &st.base {
        Base::From(b) => b.clone(),
        Base::Image(n) | Base::Artifact(n) => env.tag(n)?.to_string(),
    };
    let mut w = DockerfileWriter::new(
        format!(
            "# Generated by Slipway for stapel {} {:?} ({}).",
            if st.artifact { "artifact" } else { "image" },
            img.display_name(),
            st.at
        ),
        plan,
    );
    w.stage("from", &base);
    let (toolbox_mount, toolbox_stage) = super::toolbox_mount(env);
    w.helpers.extend(toolbox_stage);
    let mut mount_flags = mount_flags(env, img.name.as_deref(), st, &mut w.files)?;
    // Secrets: in every user step at werf's path, from the build session only (the
    // Dockerfile names ids, never values).
    for s in &st.secrets {
        let id = s.id();
        let _ = write!(
            mount_flags,
            " --mount=type=secret,id={id},target=/run/secrets/{id},required=true"
        );
    }
    let non_root = from_stage(&mut w, st, &toolbox_mount, base_user);
    let git = git_trees(env, st, plan.archive)?;
    let mut patch_steps = BTreeMap::new();
    if !plan.patches.is_empty() {
        let repo = git::open(&env.dir)?;
        for (stage, (from, to)) in &plan.patches {
            let step = stages::patch_step(&repo, st, *from, *to, stage, &toolbox_mount)?;
            patch_steps.insert(stage.clone(), step);
        }
    }
    let node = Node {
        env,
        st,
        img,
        dependency_env: &plan.dependency_env,
        base,
        toolbox_mount,
        mount_flags,
        patch_steps,
    };
    node.user_stage(&mut w, "beforeinstall", UserStage::BeforeInstall);
    node.imports_stage(
        &mut w,
        "importsbeforeinstall",
        ImportPosition::BeforeInstall,
    )?;
    node.git_stage(&mut w, &git);
    node.user_stage(&mut w, "install", UserStage::Install);
    node.imports_stage(&mut w, "importsafterinstall", ImportPosition::AfterInstall)?;
    node.user_stage(&mut w, "beforesetup", UserStage::BeforeSetup);
    node.imports_stage(&mut w, "importsbeforesetup", ImportPosition::BeforeSetup)?;
    node.user_stage(&mut w, "setup", UserStage::Setup);
    node.imports_stage(&mut w, "importsaftersetup", ImportPosition::AfterSetup)?;
    node.docker_stage(&mut w, non_root, base_user);
    let mut g = w.finish(&env.dir)?;
    g.platform.clone_from(&env.platform);
    Ok(g)
}

/// The `--mount` flags of every RUN of a user stage: the node's mounts and those it
/// inherits (a `fromPath` directory is added to the context).
fn mount_flags(
    env: &Env,
    name: Option<&str>,
    st: &StapelRecipe,
    files: &mut Vec<TarEntry>,
) -> Result<String, StapelError> {
    let mut flags = String::new();
    for (n, m) in env.mounts_of(name, st).iter().enumerate() {
        let flag = match &m.from {
            // Persistent and shared by every image of the project mounting the same path,
            // as werf's ~/.werf/shared_context/mounts/projects/<project>/<to>.
            MountFrom::BuildDir => format!(
                " --mount=type=cache,id=werf-build-dir-{}-{},target={},sharing=shared",
                env.project,
                crate::naming::slug::slugify(&m.to),
                m.to
            ),
            MountFrom::TmpDir => super::tmp_dir::mount_flags(env, name, &m.to),
            MountFrom::Path(p) => {
                let dir = format!(".slipway/mnt/{n}");
                add_host_dir(&env.dir, env.home.as_deref(), p, &dir, files)?;
                format!(" --mount=type=bind,source={dir},target={},rw", m.to)
            }
        };
        flags.push_str(&flag);
    }
    if super::tmp_dir::uses(&env.mounts_of(name, st)) {
        flags.push_str(&super::tmp_dir::secret_flag());
    }
    // werf's --ssh-key agent, at $SSH_AUTH_SOCK (BuildKit sets it for the first ssh mount).
    if env.ssh_agent.is_some() {
        flags.push_str(" --mount=type=ssh");
    }
    Ok(flags)
}

/// werf's from stage: the image's own mount targets are emptied in the base, and steps run
/// as root. Returns whether the base's user is another one (restored at the end).
fn from_stage(
    w: &mut DockerfileWriter,
    st: &StapelRecipe,
    toolbox_mount: &str,
    base_user: Option<&str>,
) -> bool {
    let own: Vec<String> = st.mounts.iter().map(|m| m.to.clone()).collect();
    if !own.is_empty() {
        let mut argv = vec![format!("{TOOLBOX_DIR}/embedded/bin/rm"), "-rf".to_string()];
        argv.extend(own);
        w.lines
            .push(format!("RUN {toolbox_mount} {}", json_list(&argv)));
    }
    let non_root =
        base_user.is_some_and(|u| !u.is_empty() && u != "root" && u != "0" && u != "0:0");
    if non_root {
        w.lines.push("USER 0:0".into());
    }
    non_root
}

/// What the stage writers of one node read.
struct Node<'a> {
    env: &'a Env,
    st: &'a StapelRecipe,
    img: &'a ImageConfig,
    /// `targetEnv` → value of the node's dependency imports (empty where not built).
    dependency_env: &'a BTreeMap<String, String>,
    /// The image the first stage starts from.
    base: String,
    toolbox_mount: String,
    mount_flags: String,
    /// Patch steps (Dockerfile lines, context files) by Dockerfile stage name.
    patch_steps: BTreeMap<String, (Vec<String>, Vec<TarEntry>)>,
}

impl Node<'_> {
    fn patch(&self, w: &mut DockerfileWriter, name: &str) {
        if let Some((lines, extra)) = self.patch_steps.get(name) {
            w.lines.extend(lines.iter().cloned());
            w.files.extend(extra.iter().cloned());
        }
    }

    /// A shell (or ansible) stage: its patch, then one RUN per script (one per command
    /// with `asLayers`).
    fn user_stage(&self, w: &mut DockerfileWriter, name: &'static str, s: UserStage) {
        let st = self.st;
        let Some(sh) = &st.shell else { return };
        if !sh.has_stage(s) {
            return;
        }
        w.stage(name, &self.base);
        self.patch(w, name);
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
            w.files.push(TarEntry::file(
                &file,
                super::tmp_dir::with_preamble(
                    script(st, self.img.cache_version.as_deref(), s, group),
                    &self.env.mounts_of(self.img.name.as_deref(), st),
                )
                .into_bytes(),
                0o755,
            ));
            w.lines.push(format!(
                "RUN {}{} --mount=type=bind,source={file},target={SCRIPT} [{}, \"-e\", {}]",
                self.toolbox_mount,
                self.mount_flags,
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
            w.steps.insert(w.lines.len(), located);
        }
    }

    /// The imports at `pos`: a COPY from each source, through a helper stage when filtered.
    fn imports_stage(
        &self,
        w: &mut DockerfileWriter,
        name: &'static str,
        pos: ImportPosition,
    ) -> Result<(), StapelError> {
        let list: Vec<&StapelImport> = self
            .st
            .imports
            .iter()
            .filter(|i| i.position == pos)
            .collect();
        let env = self.dependency_env_at(pos);
        if list.is_empty() && env.is_empty() {
            return Ok(());
        }
        w.stage(name, &self.base);
        // werf 2's dependencies stage: the dependencies' imports become ENV, before the
        // files it imports (one stage does both).
        for (k, v) in env {
            w.lines.push(format!("ENV {}={}", json(&k), json(&v)));
        }
        for i in list {
            // A registry image by the digest its signature names (pulled into the daemon
            // beforehand, with Slipway's credentials).
            let from = if i.external {
                i.external_reference()
            } else {
                self.env.tag(&i.node)?.to_string()
            };
            if i.include_paths.is_empty() && i.exclude_paths.is_empty() {
                w.lines.push(format!(
                    "COPY --from={from}{} [{}, {}]",
                    chown(&i.owner, &i.group),
                    json(&i.add),
                    json(&i.to)
                ));
                continue;
            }
            // Filtered: a helper stage copies what the filters take (werf's rsync
            // rules) from the source into /o/x, which is then copied as `add` is.
            let k = w.helpers.len();
            let helper = format!("import{k}");
            let file = format!(".slipway/import/{k}.sh");
            w.helper_files.push(TarEntry::file(
                &file,
                import_filter_script(i).into_bytes(),
                0o755,
            ));
            w.helpers.push(format!(
                "FROM scratch AS {helper}\nRUN {} --mount=type=bind,from={from},target=/s --mount=type=bind,source={file},target=/.werf/import.sh [{}, \"-e\", \"/.werf/import.sh\"]",
                self.toolbox_mount,
                json(BASH)
            ));
            w.lines.push(format!(
                "COPY --from={helper}{} [\"/o/x\", {}]",
                chown(&i.owner, &i.group),
                json(&i.to)
            ));
        }
        Ok(())
    }

    /// The ENV the dependencies set at `pos`, in werf.yaml order (a value not known yet,
    /// as in `config render --dockerfile`, is shown as what it will be).
    fn dependency_env_at(&self, pos: ImportPosition) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for d in &self.img.dependencies {
            if d.stage.map(ImportPosition::from) != Some(pos) {
                continue;
            }
            for i in &d.imports {
                let Some(k) = &i.target_env else { continue };
                let v = self
                    .dependency_env
                    .get(k)
                    .cloned()
                    .unwrap_or_else(|| format!("<{:?} of {}>", i.kind, d.image));
                out.push((k.clone(), v));
            }
        }
        out
    }

    /// gitArchive: one COPY per mapping. One Dockerfile stage per werf stage (even one that
    /// copies nothing), so every stage signature has an image a stages storage can hold.
    fn git_stage(&self, w: &mut DockerfileWriter, git: &[(&GitMapping, git::Tree)]) {
        if git.is_empty() {
            return;
        }
        w.stage("gitarchive", &self.base);
        for (n, (m, tree)) in git.iter().enumerate() {
            // A stored image replaces it: its files need not travel.
            if tree.files.is_empty() || w.in_prefix {
                continue;
            }
            let dir = format!(".slipway/git/{n}");
            let clone = tree.remote.as_ref().map(|r| r.clone.as_path());
            for f in &tree.files {
                w.files
                    .push(TarEntry::git_in(&format!("{dir}/{}", f.rel), f, clone));
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
            w.lines.push(format!(
                "COPY{} [{}, {}]",
                chown(&m.owner, &m.group),
                json(&src),
                json(&dest)
            ));
        }
    }

    /// gitLatestPatch (when planned), then the docker instructions with the user restored.
    fn docker_stage(&self, w: &mut DockerfileWriter, non_root: bool, base_user: Option<&str>) {
        let st = self.st;
        let mut last = docker_instructions(st);
        let user = st.docker.as_ref().and_then(|d| d.user.clone());
        match (user, non_root) {
            (Some(u), _) => last.push(format!("USER {u}")),
            (None, true) => last.push(format!("USER {}", base_user.unwrap_or_default())),
            (None, false) => {}
        }
        let latest = stages::dockerfile_stage(stages::LATEST_PATCH);
        if self.patch_steps.contains_key(&latest) {
            w.stage("gitlatestpatch", &self.base);
            self.patch(w, &latest);
        }
        if !last.is_empty() || !st.artifact {
            w.stage("dockerinstructions", &self.base);
            w.lines.extend(last);
        }
    }
}

/// The `docker:` directives as Dockerfile instructions (artifacts have none).
fn docker_instructions(st: &StapelRecipe) -> Vec<String> {
    let mut last: Vec<String> = Vec::new();
    let Some(d) = st.docker.as_ref().filter(|_| !st.artifact) else {
        return last;
    };
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
    last
}

/// The script of one step: werf's (commands verbatim, one list item after another) after a
/// preamble that moves to `/` and names the failing command on error. The cacheVersions
/// (the image's `cv` too) are comments: a new value is a new step for BuildKit's cache.
fn script(st: &StapelRecipe, cv: Option<&str>, stage: UserStage, cmds: &[(usize, &str)]) -> String {
    let mut s = format!("#!{BASH} -e\n");
    if let Some(sh) = &st.shell {
        for v in sh.cache_versions(stage) {
            let _ = writeln!(s, "# cacheVersion: {}", v.replace('\n', " "));
        }
    }
    if let Some(v) = &st.from_cache_version {
        let _ = writeln!(s, "# fromCacheVersion: {}", v.replace('\n', " "));
    }
    if let Some(v) = cv {
        let _ = writeln!(s, "# image cacheVersion: {}", v.replace('\n', " "));
    }
    let _ = writeln!(
        s,
        "trap 'echo \"{FAILED_MARK} ${{__slipway_command:-?}}\" >&2' ERR\ncd /"
    );
    for (i, c) in cmds {
        let _ = writeln!(s, "__slipway_command={i}");
        s.push_str(c);
        if !c.ends_with('\n') {
            s.push('\n');
        }
    }
    s
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
    home: Option<&std::path::Path>,
    path: &str,
    dest: &str,
    files: &mut Vec<TarEntry>,
) -> Result<(), StapelError> {
    let abs = match path.strip_prefix("~/") {
        Some(rest) => home.ok_or(StapelError::NoHome)?.join(rest),
        None => project.join(path),
    };
    if !abs.exists() {
        // werf creates it.
        files.push(TarEntry::file(&format!("{dest}/.keep"), Vec::new(), 0o644));
        return Ok(());
    }
    for e in walkdir::WalkDir::new(&abs).sort_by_file_name() {
        let e = e.map_err(|cause| StapelError::FromPath {
            path: path.to_string(),
            cause,
        })?;
        let rel = e
            .path()
            .strip_prefix(&abs)
            .map_err(StapelError::HostPath)?
            .to_string_lossy()
            .replace('\\', "/");
        let ft = e.file_type();
        if ft.is_file() {
            let data = std::fs::read(e.path()).map_err(|cause| StapelError::Read {
                path: e.path().to_path_buf(),
                cause,
            })?;
            let mode = std::os::unix::fs::PermissionsExt::mode(
                &e.metadata().map_err(StapelError::HostFile)?.permissions(),
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

/// A failed step put back on werf.yaml: the RUN's Dockerfile line and the command index
/// its ERR trap printed (in `log`) give the command's `FILE:LINE:COL` and `shell.STAGE[N]`.
pub fn locate_failure(g: &Generated, line: Option<usize>, log: &[String]) -> Option<String> {
    let cmds = g.steps.get(&line?)?;
    // `N` or, for an ansible block, `N FILE:LINE:COL: PATH` of the inner task that failed.
    let mark: Option<(usize, &str)> = log.iter().rev().find_map(|l| {
        let (_, rest) = l.split_once(FAILED_MARK)?;
        let rest = rest.trim();
        let (i, inner) = rest.split_once(' ').unwrap_or((rest, ""));
        Some((i.parse().ok()?, inner.trim()))
    });
    if let Some((_, inner)) = mark.filter(|(_, inner)| !inner.is_empty()) {
        return Some(inner.to_string());
    }
    let idx = mark.map(|(i, _)| i);
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
