//! What the ansible modules share: the toolbox path, bash quoting, scalars and file
//! attributes.

use crate::config::yaml::Node;
/// A scalar as text (the one reader stapel's keys use too).
pub(super) use crate::config::yaml::scalar_text as scalar;

/// Toolbox programs used for file operations (werf's stapel image has them too).
pub(super) const T: &str = "/.werf/stapel/embedded/bin";

/// Single-quoted for bash.
pub(super) fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `chown`/`chgrp`/`chmod` steps that give `target` ansible's `owner`, `group` and `mode`.
pub(super) fn attrs(
    owner: &Option<String>,
    group: &Option<String>,
    mode: &Option<String>,
    recurse: bool,
    target: &str,
) -> Vec<String> {
    let r = if recurse { "-R " } else { "" };
    let mut out = Vec::new();
    match (owner, group) {
        (Some(o), Some(g)) => out.push(format!("{T}/chown {r}{}:{} {target}", q(o), q(g))),
        (Some(o), None) => out.push(format!("{T}/chown {r}{} {target}", q(o))),
        (None, Some(g)) => out.push(format!("{T}/chgrp {r}{} {target}", q(g))),
        (None, None) => {}
    }
    if let Some(m) = mode {
        out.push(format!("{T}/chmod {r}{} {target}", q(m)));
    }
    out
}

/// An octal mode as ansible reads it: a string as written, an integer (what YAML 1.1
/// made of `0755`) printed in octal.
pub(super) fn mode(n: &Node) -> Option<String> {
    match n {
        Node::Int(i) => Some(format!("{i:o}")),
        Node::Str(s) => Some(s.clone()),
        _ => None,
    }
}
