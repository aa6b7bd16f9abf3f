//! The stapel directives that take more than a value: `git`, `shell`, `ansible`,
//! `import`, `mount` and `docker`.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use serde_saphyr::{Location, Spanned};

use super::values::{
    NodeMap, absolute, boolean, map, node_json, relative_paths, scalar_text, seq, string_or_list,
    text,
};
use crate::config::error::{Ctx, unknown_key_message};
use crate::config::model::stapel::*;
use crate::config::schema::{
    stapel_ansible_keys, stapel_docker_keys, stapel_git_keys, stapel_import_keys,
    stapel_mount_keys, stapel_shell_keys, stapel_stage_dependencies_keys,
};
use crate::config::yaml::{Node, get, key_location, unknown_keys};

pub(super) fn git(cx: &mut Ctx<'_>, v: &Spanned<Node>) -> Vec<GitMapping> {
    let mut out = Vec::new();
    for (n, item) in seq(cx, v, "git").iter().enumerate() {
        let path = format!("git[{n}]");
        let Some(m) = map(cx, item, &path) else {
            continue;
        };
        unknown_keys(cx, m, stapel_git_keys(), &path);
        let at = cx.where_at(&item.referenced);
        let remote = remote_git(cx, m, item, &path);
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
        let f = filters(cx, m, &path);
        let stage_dependencies = stage_dependencies(cx, m, &path);
        if let (Some(add), Some(to)) = (add, to) {
            out.push(GitMapping {
                remote,
                add,
                to,
                include_paths: f.include_paths,
                exclude_paths: f.exclude_paths,
                owner: f.owner,
                group: f.group,
                stage_dependencies,
                at,
            });
        }
    }
    out
}

/// A mapping's `url:` and the one of `branch`, `tag`, `commit` it follows; `None` for the
/// project's own repository.
fn remote_git(
    cx: &mut Ctx<'_>,
    m: &NodeMap,
    item: &Spanned<Node>,
    path: &str,
) -> Option<RemoteGit> {
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
    let Some(url) = url else {
        if !refs.is_empty() {
            cx.at(
                &item.referenced,
                format!("{path}: specify `branch: BRANCH`, `tag: TAG` and `commit: COMMIT` only for remote git!"),
            );
        }
        return None;
    };
    let admission = "herebyIAdmitThatBranchMightBreakReproducibility";
    let admitted = get(m, admission).is_some_and(|x| {
        !crate::config::parse::versioned::refused_werf_1_1_key(cx, admission, x.referenced)
            && boolean(
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
    if matches!(reference, GitRef::Head | GitRef::Branch(_))
        && let Some(why) = crate::config::parse::versioned::branch_refusal(cx, path, admitted)
    {
        cx.at(&item.referenced, why);
    }
    Some(RemoteGit { url, reference })
}

/// `includePaths`, `excludePaths`, `owner` and `group` of a git mapping or an import.
struct Filters {
    include_paths: Vec<String>,
    exclude_paths: Vec<String>,
    owner: Option<String>,
    group: Option<String>,
}

fn filters(cx: &mut Ctx<'_>, m: &NodeMap, path: &str) -> Filters {
    let include_paths = get(m, "includePaths")
        .map(|x| relative_paths(cx, x, &format!("{path}.includePaths"), "includePaths"))
        .unwrap_or_default();
    let exclude_paths = get(m, "excludePaths")
        .map(|x| relative_paths(cx, x, &format!("{path}.excludePaths"), "excludePaths"))
        .unwrap_or_default();
    let owner = get(m, "owner").and_then(|x| text(cx, x, &format!("{path}.owner")));
    let group = get(m, "group").and_then(|x| text(cx, x, &format!("{path}.group")));
    Filters {
        include_paths,
        exclude_paths,
        owner,
        group,
    }
}

/// `stageDependencies:`: the paths whose changes rebuild each user stage.
fn stage_dependencies(cx: &mut Ctx<'_>, m: &NodeMap, path: &str) -> BTreeMap<String, Vec<String>> {
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
    stage_dependencies
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

pub(super) fn shell(cx: &mut Ctx<'_>, v: &Spanned<Node>) -> Option<Shell> {
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

pub(super) fn ansible(cx: &mut Ctx<'_>, v: &Spanned<Node>) -> Option<BTreeMap<String, Json>> {
    let m = map(cx, v, "ansible")?;
    unknown_keys(cx, m, stapel_ansible_keys(), "ansible");
    Some(
        m.iter()
            .map(|(k, x)| (k.clone(), node_json(&x.value)))
            .collect(),
    )
}

pub(super) fn imports(cx: &mut Ctx<'_>, v: &Spanned<Node>) -> Vec<StapelImport> {
    let mut out = Vec::new();
    for (n, item) in seq(cx, v, "import").iter().enumerate() {
        let path = format!("import[{n}]");
        let Some(m) = map(cx, item, &path) else {
            continue;
        };
        unknown_keys(cx, m, stapel_import_keys(), &path);
        out.extend(import(cx, m, item.referenced, &path));
    }
    out
}

/// One `import:` entry; `None` at its first problem.
fn import(cx: &mut Ctx<'_>, m: &NodeMap, loc: Location, path: &str) -> Option<StapelImport> {
    let at = cx.where_at(&loc);
    let (image, external) = import_image(cx, m, &loc, path)?;
    let artifact = get(m, "artifact").and_then(|x| text(cx, x, &format!("{path}.artifact")));
    let before = get(m, "before").and_then(|x| text(cx, x, &format!("{path}.before")));
    let after = get(m, "after").and_then(|x| text(cx, x, &format!("{path}.after")));
    let stage = get(m, "stage").and_then(|x| text(cx, x, &format!("{path}.stage")));
    let (source, from_artifact) = import_source(cx, &loc, path, image, artifact)?;
    let position = import_position(cx, &loc, path, before.as_deref(), after.as_deref())?;
    if let Some(s) = &stage
        && !UserStage::ALL.iter().any(|u| u.key() == s)
    {
        cx.at(
            &loc,
            format!(
                "{path}: invalid stage `stage: {s}` for import: expected beforeInstall, install, beforeSetup or setup"
            ),
        );
        return None;
    }
    let add = absolute(
        cx,
        get(m, "add"),
        &loc,
        &format!("{path}.add"),
        "`add: PATH` absolute path required for import!",
    )?;
    let to = match get(m, "to") {
        Some(t) => absolute(
            cx,
            Some(t),
            &loc,
            &format!("{path}.to"),
            "`to: PATH` absolute path required for import!",
        ),
        None => Some(add.clone()),
    }?;
    if external && let Some(s) = &stage {
        cx.at(
            &loc,
            format!("{path}: `stage: {s}` names a stage of an image of werf.yaml; {source} is a registry image, imported as it is"),
        );
        return None;
    }
    let f = filters(cx, m, path);
    Some(StapelImport {
        external,
        external_digest: None,
        node: source.clone(),
        source,
        from_artifact,
        add,
        to,
        position,
        stage,
        include_paths: f.include_paths,
        exclude_paths: f.exclude_paths,
        owner: f.owner,
        group: f.group,
        at,
        loc: Some(loc),
    })
}

/// The image or artifact an import copies from (exactly one), and whether it is an artifact.
fn import_source(
    cx: &mut Ctx<'_>,
    loc: &Location,
    path: &str,
    image: Option<String>,
    artifact: Option<String>,
) -> Option<(String, bool)> {
    let fail = |cx: &mut Ctx<'_>, msg: &str| cx.at(loc, format!("{path}: {msg}"));
    match (image, artifact) {
        (Some(i), None) => Some((i, false)),
        (None, Some(a)) => Some((a, true)),
        (None, None) => {
            fail(
                cx,
                "artifact name `artifact: NAME` or image name `image: NAME` required for import!",
            );
            None
        }
        (Some(_), Some(_)) => {
            fail(
                cx,
                "specify only one artifact name using `artifact: NAME` or image name using `image: NAME` for import!",
            );
            None
        }
    }
}

/// `image:` or werf 2's `from:` (not both), and whether it names a registry image: under
/// werf 2 a reference with a tag or digest (werf 2's `hasTagOrDigest`); an image of
/// werf.yaml is named without either (werf 1.1 knows only those). `None`: reported.
fn import_image(
    cx: &mut Ctx<'_>,
    m: &NodeMap,
    loc: &Location,
    path: &str,
) -> Option<(Option<String>, bool)> {
    let image = get(m, "image").and_then(|x| text(cx, x, &format!("{path}.image")));
    let from = get(m, "from").and_then(|x| text(cx, x, &format!("{path}.from")));
    let name = match (image, from) {
        (Some(_), Some(_)) => {
            cx.at(
                loc,
                format!("{path}: specify only `image: NAME` or `from: NAME` for import!"),
            );
            return None;
        }
        (i, f) => f.or(i),
    };
    let external = name.as_deref().is_some_and(has_tag_or_digest)
        && crate::config::parse::versioned::version(cx) == crate::settings::WerfVersion::V2;
    Some((name, external))
}

/// Does `reference` carry a tag (`:` after its last `/`) or a digest (`@`)?
fn has_tag_or_digest(reference: &str) -> bool {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    reference.contains('@') || last.contains(':')
}

/// `before:` or `after:` (exactly one) `install` or `setup`.
fn import_position(
    cx: &mut Ctx<'_>,
    loc: &Location,
    path: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> Option<ImportPosition> {
    let fail = |cx: &mut Ctx<'_>, msg: &str| cx.at(loc, format!("{path}: {msg}"));
    let position = match (before, after) {
        (Some(_), Some(_)) => {
            fail(
                cx,
                "specify only one artifact stage using `before: install|setup` or `after: install|setup` for import!",
            );
            return None;
        }
        (None, None) => {
            fail(
                cx,
                "artifact stage is not specified with `before: install|setup` or `after: install|setup` for import!",
            );
            return None;
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
            return None;
        }
        (None, Some(a)) => {
            fail(
                cx,
                &format!(
                    "invalid artifact stage `after: {a}` for import: expected install or setup!"
                ),
            );
            return None;
        }
    };
    Some(position)
}

pub(super) fn mounts(cx: &mut Ctx<'_>, v: &Spanned<Node>) -> Vec<Mount> {
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

pub(super) fn docker(cx: &mut Ctx<'_>, v: &Spanned<Node>) -> Option<DockerInstructions> {
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
            "exactValues" => d.exact_values = boolean(cx, x, &path),
            other => {
                let (l, c) = key_location(cx, other, x.referenced);
                let msg = format!("docker: {}", unknown_key_message(other, keys));
                cx.at_pos(l, c, msg);
            }
        }
    }
    Some(d)
}
