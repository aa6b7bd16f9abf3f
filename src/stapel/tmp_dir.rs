//! werf's `mount: {from: tmp_dir}`: one directory per image that every stage of one build
//! sees (a stage reads what the stage before it wrote) and that the next build starts
//! empty, as werf's directory under its per-run tmp dir.
//!
//! It is a BuildKit cache mount whose id names the project, the image and the target, so
//! the Dockerfile (and with it BuildKit's stage cache keys) stays the same from build to
//! build. Which build last used it is written next to it, in a second cache mount; this
//! build's id comes through the build session as a secret ([`RUN_SECRET`]), which is no
//! part of a cache key. A step of another build (or with no id) empties the directory
//! first. Two builds of one image at once share it.

use super::{Env, TOOLBOX_DIR};
use crate::config::stapel::{Mount, MountFrom};
use crate::naming::slug::slugify;

/// The build-session secret that holds this build's id.
pub const RUN_SECRET: &str = "slipway-build-run";
/// Where steps read it.
const RUN_FILE: &str = "/.werf/build-run";
/// Where each tmp_dir's last build id is kept.
const RUNS_DIR: &str = "/.werf/tmp_dir_runs";

/// This process's build id (one per run of Slipway).
pub fn run_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        format!("{}-{nanos}", std::process::id())
    })
}

fn id(env: &Env, name: Option<&str>, to: &str) -> String {
    format!(
        "slipway-tmp-dir-{}-{}-{}",
        env.project,
        slugify(name.unwrap_or("")),
        slugify(to)
    )
}

/// The `--mount` flags of one tmp_dir mount: the directory and its last build's id.
pub(super) fn mount_flags(env: &Env, name: Option<&str>, to: &str) -> String {
    let id = id(env, name, to);
    format!(
        " --mount=type=cache,id={id},target={to},sharing=locked \
         --mount=type=cache,id={id}-run,target={RUNS_DIR}/{},sharing=locked",
        slugify(to)
    )
}

/// The secret mount of this build's id (steps of an image with a tmp_dir).
pub(super) fn secret_flag() -> String {
    format!(" --mount=type=secret,id={RUN_SECRET},target={RUN_FILE},required=false")
}

/// Do the steps of `node` (a stapel node of `cfg`) need this build's id: has it, or an
/// image it starts from, a tmp_dir?
pub fn needed_by(cfg: &crate::config::Config, node: &crate::config::ImageConfig) -> bool {
    node.stapel().is_some() && uses(&super::inherited_mounts(cfg, node))
}

/// Does a node with `mounts` have a tmp_dir?
pub fn uses(mounts: &[Mount]) -> bool {
    mounts.iter().any(|m| matches!(m.from, MountFrom::TmpDir))
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `script` with, after its first line, the lines that empty each tmp_dir of `mounts` a
/// step of another build left.
pub(super) fn with_preamble(script: String, mounts: &[Mount]) -> String {
    let targets: Vec<&str> = mounts
        .iter()
        .filter(|m| matches!(m.from, MountFrom::TmpDir))
        .map(|m| m.to.as_str())
        .collect();
    if targets.is_empty() {
        return script;
    }
    let (first, rest) = script.split_once('\n').unwrap_or((script.as_str(), ""));
    let mut out = format!(
        "{first}\n# tmp_dir: shared by the stages of one build, emptied for another one\n\
         __slipway_run=\nif [ -r {RUN_FILE} ]; then __slipway_run=$(< {RUN_FILE}); fi\n\
         __slipway_tmp_dir() {{\n  \
         local last=\n  if [ -r \"$2\" ]; then last=$(< \"$2\"); fi\n  \
         if [ -z \"$__slipway_run\" ] || [ \"$last\" != \"$__slipway_run\" ]; then\n    \
         (shopt -s dotglob nullglob; set -- \"$1\"/*; if [ $# -gt 0 ]; then {TOOLBOX_DIR}/embedded/bin/rm -rf -- \"$@\"; fi)\n    \
         printf '%s' \"$__slipway_run\" > \"$2\"\n  fi\n}}\n"
    );
    for to in targets {
        out.push_str(&format!(
            "__slipway_tmp_dir {} {}\n",
            quote(to),
            quote(&format!("{RUNS_DIR}/{}/run", slugify(to)))
        ));
    }
    out.push_str(rest);
    out
}
