//! `ansible:` stages of stapel images, translated at load time into the bash that the
//! stage's step runs (docs/stapel.md): the modules real werf.yaml files use, with
//! ansible's semantics (`shell` is the image's `/bin/sh -c` without `-e`, `command` runs
//! the program with no shell, `copy` and `file` with octal modes and owners). Any other
//! module or task keyword is a located error naming the task, the module or key, and
//! suggesting `shell:`.

mod block;
mod common;
mod system;

use std::collections::BTreeMap;

use serde_saphyr::Spanned;

use crate::config::error::Ctx;
use crate::config::model::stapel::{Shell, ShellCommand, UserStage};
use crate::config::yaml::{Node, get, key_location};
use common::{T, attrs, mode, q, scalar};

const MODULES: &[&str] = &[
    "shell",
    "command",
    "raw",
    "copy",
    "file",
    "debug",
    "apt",
    "user",
    "group",
    "get_url",
    "lineinfile",
];
const KEYWORDS: &[&str] = &[
    "name",
    "args",
    "environment",
    "become",
    "become_user",
    "ignore_errors",
    "tags",
    "when",
    "vars",
];
/// Package managers of other distributions, refused by name: only `apt` is translated,
/// since there is no Alpine or RPM base here to test a translation on (docs/stapel.md).
const REFUSED_PACKAGE_MODULES: &[(&str, &str)] = &[
    ("apk", "apk add --no-cache"),
    ("yum", "yum install -y"),
    ("dnf", "dnf install -y"),
];

/// Parse `ansible:` into per-stage commands (one per task); `None` when nothing can be
/// built (errors are in `cx`).
pub(super) fn parse(cx: &mut Ctx<'_>, v: &Spanned<Node>) -> Option<Shell> {
    let Node::Map(m) = &v.value else {
        cx.at(&v.referenced, "ansible must be a mapping");
        return None;
    };
    let mut sh = Shell {
        builder: "ansible",
        ..Shell::default()
    };
    for (k, x) in m {
        let path = format!("ansible.{k}");
        if let Some(stage) = UserStage::ALL.iter().find(|s| s.key() == k) {
            let Node::Seq(tasks) = &x.value else {
                if !matches!(x.value, Node::Null) {
                    cx.at(&x.referenced, format!("{path} must be a list of tasks"));
                }
                continue;
            };
            let mut out = Vec::new();
            for (i, t) in tasks.iter().enumerate() {
                let p = format!("{path}[{i}]");
                let text = if block::is_block(t) {
                    block::top(cx, t, &p)
                } else {
                    task(cx, t, &p, &[])
                };
                if let Some(text) = text {
                    out.push(ShellCommand {
                        text,
                        at: cx.where_at(&t.referenced),
                    });
                }
            }
            sh.commands[*stage as usize] = out;
        } else if k == "cacheVersion" {
            sh.cache_version = scalar(&x.value);
        } else if let Some(i) = UserStage::ALL
            .iter()
            .position(|s| k.strip_suffix("CacheVersion") == Some(s.key()))
        {
            sh.stage_cache_versions[i] = scalar(&x.value);
        }
    }
    Some(sh)
}

fn has_jinja(n: &Node) -> bool {
    match n {
        Node::Str(s) => s.contains("{{") || s.contains("{%"),
        Node::Seq(items) => items.iter().any(|i| has_jinja(&i.value)),
        Node::Map(m) => m.iter().any(|(_, v)| has_jinja(&v.value)),
        _ => false,
    }
}

/// One task as bash, or a located error; `inherited` holds the keywords of the blocks
/// around it.
fn task(cx: &mut Ctx<'_>, t: &Spanned<Node>, path: &str, inherited: &Mapping) -> Option<String> {
    let Node::Map(own) = &t.value else {
        cx.at(&t.referenced, format!("{path}: a task must be a mapping"));
        return None;
    };
    let merged = block::inherit(own, inherited);
    let m = &merged[..];
    let name = get(m, "name").and_then(|n| scalar(&n.value));
    let label = match &name {
        Some(n) => format!("{path} ({n:?})"),
        None => path.to_string(),
    };
    let (module, mv) = task_module(cx, t, m, &label)?;
    let args = task_args(cx, t, m, &label)?;
    let body = module_body(cx, module, mv, &args, &label)?;
    if !when(cx, m, &label)? {
        return Some(":".to_string());
    }
    wrap_task(cx, m, &args, body, &label)
}

/// A task's `when` (with those of its blocks): literal booleans only, since werf runs
/// ansible with `gather_facts: no` and Slipway evaluates no Jinja.
fn when(cx: &mut Ctx<'_>, m: &Mapping, label: &str) -> Option<bool> {
    fn eval(n: &Node) -> Option<bool> {
        match n {
            Node::Bool(b) => Some(*b),
            Node::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" => Some(true),
                "false" | "no" => Some(false),
                _ => None,
            },
            Node::Seq(items) => items
                .iter()
                .try_fold(true, |acc, i| Some(acc & eval(&i.value)?)),
            _ => None,
        }
    }
    let Some(w) = get(m, "when") else {
        return Some(true);
    };
    let v = eval(&w.value);
    if v.is_none() {
        let (l, c) = key_location(cx, "when", w.referenced);
        cx.at_pos(
            l,
            c,
            format!(
                "{label}: task keyword `when` is not supported; use `shell:` (only true or false is taken: no facts, no Jinja)"
            ),
        );
    }
    v
}

type Mapping = [(String, Spanned<Node>)];

/// The one module a task runs, every other key a known task keyword.
fn task_module<'m>(
    cx: &mut Ctx<'_>,
    t: &Spanned<Node>,
    m: &'m Mapping,
    label: &str,
) -> Option<(&'static str, &'m Spanned<Node>)> {
    let mut module: Option<(&'static str, &Spanned<Node>)> = None;
    for (k, v) in m {
        if refused_package_module(cx, k, v, label) {
            return None;
        }
        if MODULES.contains(&k.as_str()) || k.starts_with("ansible.builtin.") {
            let short = k.trim_start_matches("ansible.builtin.");
            if !MODULES.contains(&short) {
                let (l, c) = key_location(cx, k, v.referenced);
                cx.at_pos(
                    l,
                    c,
                    format!(
                        "{label}: module `{k}` is not supported yet (supported: {}); use `shell:`",
                        MODULES.join(", ")
                    ),
                );
                return None;
            }
            if module.is_some() {
                let (l, c) = key_location(cx, k, v.referenced);
                cx.at_pos(l, c, format!("{label}: a task runs exactly one module"));
                return None;
            }
            module = Some((MODULES.iter().find(|x| **x == short).copied()?, v));
        } else if !KEYWORDS.contains(&k.as_str()) {
            let (l, c) = key_location(cx, k, v.referenced);
            let what = if ["loop", "register", "notify", "until", "delegate_to"]
                .contains(&k.as_str())
                || k.starts_with("with_")
            {
                format!("task keyword `{k}` is not supported")
            } else {
                format!(
                    "module or key `{k}` is not supported yet (modules: {})",
                    MODULES.join(", ")
                )
            };
            cx.at_pos(l, c, format!("{label}: {what}; use `shell:`"));
            return None;
        }
    }
    if m.iter().any(|(_, v)| has_jinja(&v.value)) {
        cx.at(
            &t.referenced,
            format!("{label}: Jinja expressions are not supported; use `shell:`"),
        );
        return None;
    }
    let Some(module) = module else {
        cx.at(&t.referenced, format!("{label}: the task names no module"));
        return None;
    };
    Some(module)
}

/// `apk`, `yum` or `dnf` (short or fully qualified): a located error saying why, with the
/// `shell:` that replaces it.
fn refused_package_module(cx: &mut Ctx<'_>, k: &str, v: &Spanned<Node>, label: &str) -> bool {
    let short = k
        .strip_prefix("ansible.builtin.")
        .or_else(|| k.strip_prefix("community.general."))
        .unwrap_or(k);
    let Some((_, install)) = REFUSED_PACKAGE_MODULES.iter().find(|(r, _)| *r == short) else {
        return false;
    };
    let (l, c) = key_location(cx, k, v.referenced);
    cx.at_pos(
        l,
        c,
        format!(
            "{label}: module `{k}` is refused: of the package managers Slipway translates `apt` only (there is no Alpine or RPM base to test a translation on); use `shell: {install} …`"
        ),
    );
    true
}

/// The task's `args:` (`chdir`, `creates`, `removes`, `executable`).
fn task_args(
    cx: &mut Ctx<'_>,
    t: &Spanned<Node>,
    m: &Mapping,
    label: &str,
) -> Option<BTreeMap<String, String>> {
    let args: BTreeMap<String, String> = match get(m, "args").map(|a| &a.value) {
        Some(Node::Map(a)) => a
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), scalar(&v.value)?)))
            .collect(),
        _ => BTreeMap::new(),
    };
    for k in args.keys() {
        if !["chdir", "creates", "removes", "executable"].contains(&k.as_str()) {
            cx.at(
                &t.referenced,
                format!("{label}: args.{k} is not supported yet; use `shell:`"),
            );
            return None;
        }
    }
    Some(args)
}

/// The module as bash.
fn module_body(
    cx: &mut Ctx<'_>,
    module: &str,
    mv: &Spanned<Node>,
    args: &BTreeMap<String, String>,
    label: &str,
) -> Option<String> {
    let body = match module {
        "shell" | "raw" | "command" => {
            let Some(text) = scalar(&mv.value) else {
                cx.at(
                    &mv.referenced,
                    format!("{label}: `{module}` takes the command as a string"),
                );
                return None;
            };
            if module == "command" {
                let Some(argv) = shlex::split(&text) else {
                    cx.at(
                        &mv.referenced,
                        format!("{label}: cannot split the command into words"),
                    );
                    return None;
                };
                argv.iter().map(|a| q(a)).collect::<Vec<_>>().join(" ")
            } else {
                let exe = args
                    .get("executable")
                    .map(String::as_str)
                    .unwrap_or("/bin/sh");
                format!("{} -c {}", q(exe), q(&text))
            }
        }
        "debug" => ":".to_string(),
        _ => {
            let Node::Map(p) = &mv.value else {
                cx.at(
                    &mv.referenced,
                    format!("{label}: `{module}` takes a mapping of parameters"),
                );
                return None;
            };
            let params = system::Params {
                cx,
                p,
                at: &mv.referenced,
                label,
                module,
            };
            match module {
                "copy" | "file" => files(cx, module, p, &mv.referenced, label)?,
                system_module => {
                    let body = match system_module {
                        "apt" => system::apt(params)?,
                        "user" => system::user(params)?,
                        "group" => system::group(params)?,
                        "get_url" => system::get_url(params)?,
                        "lineinfile" => system::lineinfile(params)?,
                        _ => return None,
                    };
                    // A bash of its own, so `-e` holds inside whatever list the task's
                    // step puts it in (`|| true` for ignore_errors switches -e off).
                    format!("{T}/bash -ec {}", q(&body))
                }
            }
        }
    };
    Some(body)
}

/// The module's bash with the task's keywords applied: `chdir`, `environment`,
/// `become_user`, `creates`, `removes` and `ignore_errors`.
fn wrap_task(
    cx: &mut Ctx<'_>,
    m: &Mapping,
    args: &BTreeMap<String, String>,
    body: String,
    label: &str,
) -> Option<String> {
    let mut s = body;
    if let Some(d) = args.get("chdir") {
        s = format!("cd {} && {s}", q(d));
    }
    let mut env = String::new();
    if let Some(e) = get(m, "environment") {
        let Node::Map(vars) = &e.value else {
            cx.at(
                &e.referenced,
                format!("{label}: environment must be a mapping"),
            );
            return None;
        };
        for (k, v) in vars {
            env.push_str(&format!(
                "export {k}={}; ",
                q(&scalar(&v.value).unwrap_or_default())
            ));
        }
    }
    let become_user = get(m, "become_user").and_then(|u| scalar(&u.value));
    // werf's ansible.cfg says `become = yes`: `become_user` alone takes effect, unless the
    // task says `become: no`.
    let become_off = get(m, "become").is_some_and(|v| {
        matches!(v.value, Node::Bool(false))
            || matches!(&v.value, Node::Str(x) if ["no", "false", "off"].contains(&x.as_str()))
    });
    let mut s = match become_user.filter(|u| !become_off && u != "root") {
        Some(u) => run_as(&u, &format!("{env}{s}")),
        None => format!("( {env}{s} )"),
    };
    if let Some(c) = args.get("creates") {
        s = format!("[ -e {} ] || {s}", q(c));
    }
    if let Some(r) = args.get("removes") {
        s = format!("[ ! -e {} ] || {s}", q(r));
    }
    if get(m, "ignore_errors").is_some_and(|v| matches!(v.value, Node::Bool(true))) {
        s = format!("{s} || true");
    }
    Some(s)
}

/// `body` as `user`, as werf's sudo (`-E -H -u`) runs a task with `become_user`: the
/// environment kept, HOME the user's. The toolbox's sudo when it has one (werf's stapel
/// image), else its `su`.
fn run_as(user: &str, body: &str) -> String {
    let u = q(user);
    format!(
        "( __h=$(while IFS=: read -r n x i g c h r; do if [ \"$n\" = {u} ]; then printf '%s' \"$h\"; fi; done < /etc/passwd); \
         [ -n \"$__h\" ] || {{ echo \"become_user: no user {user} in /etc/passwd\" >&2; false; }}; \
         if [ -x {T}/sudo ]; then {T}/sudo -E -H -u {u} {T}/bash -ec {b}; \
         else HOME=\"$__h\" {T}/su -m -s {T}/bash {u} -c {be}; fi )",
        b = q(body),
        be = q(&format!("set -e; {body}"))
    )
}

fn files(
    cx: &mut Ctx<'_>,
    module: &str,
    p: &[(String, Spanned<Node>)],
    loc: &serde_saphyr::Location,
    label: &str,
) -> Option<String> {
    let allowed: &[&str] = if module == "copy" {
        &["content", "src", "dest", "mode", "owner", "group"]
    } else {
        &[
            "path", "dest", "name", "state", "src", "mode", "owner", "group", "recurse",
        ]
    };
    for (k, v) in p {
        if !allowed.contains(&k.as_str()) {
            let (l, c) = key_location(cx, k, v.referenced);
            cx.at_pos(
                l,
                c,
                format!("{label}: {module}.{k} is not supported yet; use `shell:`"),
            );
            return None;
        }
    }
    let f = FileParams {
        p,
        mode: get(p, "mode").and_then(|v| mode(&v.value)),
        owner: scalar_at(p, "owner"),
        group: scalar_at(p, "group"),
        recurse: get(p, "recurse").is_some_and(|v| matches!(v.value, Node::Bool(true))),
    };
    let steps = if module == "copy" {
        copy(cx, &f, loc, label)?
    } else {
        file(cx, &f, loc, label)?
    };
    Some(steps.join(" && "))
}

fn scalar_at(p: &Mapping, k: &str) -> Option<String> {
    get(p, k).and_then(|v| scalar(&v.value))
}

/// The parameters of `copy` and `file`, with the attributes they set.
struct FileParams<'p> {
    p: &'p Mapping,
    mode: Option<String>,
    owner: Option<String>,
    group: Option<String>,
    recurse: bool,
}

impl FileParams<'_> {
    fn s(&self, k: &str) -> Option<String> {
        scalar_at(self.p, k)
    }

    fn attrs(&self, target: &str) -> Vec<String> {
        attrs(&self.owner, &self.group, &self.mode, self.recurse, target)
    }
}

/// `copy`: `content` or `src` to `dest`.
fn copy(
    cx: &mut Ctx<'_>,
    f: &FileParams<'_>,
    loc: &serde_saphyr::Location,
    label: &str,
) -> Option<Vec<String>> {
    let mut steps: Vec<String> = Vec::new();
    let Some(dest) = f.s("dest") else {
        cx.at(loc, format!("{label}: copy needs `dest`"));
        return None;
    };
    match (f.s("content"), f.s("src")) {
        (Some(content), None) => {
            let target = if dest.ends_with('/') {
                cx.at(
                    loc,
                    format!("{label}: copy with `content` needs a file `dest`"),
                );
                return None;
            } else {
                q(&dest)
            };
            steps.push(format!("printf '%s' {} > {target}", q(&content)));
            steps.extend(f.attrs(&target));
        }
        (None, Some(src)) => {
            let (target, prep) = if dest.ends_with('/') {
                let name = src.trim_end_matches('/').rsplit('/').next().unwrap_or(&src);
                (
                    q(&format!("{dest}{name}")),
                    Some(format!("{T}/mkdir -p {}", q(&dest))),
                )
            } else {
                (q(&dest), None)
            };
            steps.extend(prep);
            steps.push(format!("{T}/cp -a {} {target}", q(&src)));
            steps.extend(f.attrs(&target));
        }
        _ => {
            cx.at(
                loc,
                format!("{label}: copy needs exactly one of `content` or `src`"),
            );
            return None;
        }
    }
    Some(steps)
}

/// `file`: a path made absent, a directory, touched, a link, or checked to exist.
fn file(
    cx: &mut Ctx<'_>,
    f: &FileParams<'_>,
    loc: &serde_saphyr::Location,
    label: &str,
) -> Option<Vec<String>> {
    let mut steps: Vec<String> = Vec::new();
    let Some(path) = f.s("path").or_else(|| f.s("dest")).or_else(|| f.s("name")) else {
        cx.at(loc, format!("{label}: file needs `path`"));
        return None;
    };
    let target = q(&path);
    match f.s("state").as_deref().unwrap_or("file") {
        "absent" => steps.push(format!("{T}/rm -rf {target}")),
        "directory" => {
            steps.push(format!("{T}/mkdir -p {target}"));
            steps.extend(f.attrs(&target));
        }
        "touch" => {
            steps.push(format!("{T}/touch {target}"));
            steps.extend(f.attrs(&target));
        }
        "link" => {
            let Some(src) = f.s("src") else {
                cx.at(loc, format!("{label}: file state=link needs `src`"));
                return None;
            };
            steps.push(format!("{T}/ln -sfn {} {target}", q(&src)));
            if let (Some(o), g) = (&f.owner, &f.group) {
                let og = match g {
                    Some(g) => format!("{}:{}", q(o), q(g)),
                    None => q(o),
                };
                steps.push(format!("{T}/chown -h {og} {target}"));
            }
        }
        "file" => {
            steps.push(format!("[ -e {target} ]"));
            steps.extend(f.attrs(&target));
        }
        other => {
            cx.at(
                loc,
                format!("{label}: file state={other} is not supported yet; use `shell:`"),
            );
            return None;
        }
    }
    Some(steps)
}

#[cfg(test)]
mod tests {
    use super::common::{mode, q};
    use crate::config::yaml::Node;

    #[test]
    fn quoting_and_modes() {
        assert_eq!(q("it's"), r"'it'\''s'");
        assert_eq!(mode(&Node::Int(493)).as_deref(), Some("755"));
        assert_eq!(mode(&Node::Str("0640".into())).as_deref(), Some("0640"));
    }
}
