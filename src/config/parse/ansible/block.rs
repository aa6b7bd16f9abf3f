//! ansible's `block`/`rescue`/`always`, nested, as bash for the stage's step. Each inner
//! task runs in a bash of its own (so `-e` holds inside it while the block watches its
//! status); a failure sets the block's flag and `__slipway_at` (the failing task's werf.yaml
//! place), the block's remaining tasks are skipped, `rescue` runs and clears the failure
//! when it succeeds, `always` runs in every case. A top-level block that ends failed fails
//! the step with the failing task's place (read back by the stapel builder's error report).
//! Block keywords (`when`, `become`, `become_user`, `environment`, `ignore_errors`) apply to
//! the inner tasks; `name`, `tags` and `vars` have no effect on what runs.

use serde_saphyr::Spanned;

use super::common::{T, q};
use crate::config::error::Ctx;
use crate::config::yaml::{Node, get, key_location};

type Mapping = [(String, Spanned<Node>)];

const BLOCK_KEYS: &[&str] = &[
    "block",
    "rescue",
    "always",
    "name",
    "when",
    "become",
    "become_user",
    "environment",
    "ignore_errors",
    "tags",
    "vars",
];

/// Whether a task is a block.
pub(super) fn is_block(t: &Spanned<Node>) -> bool {
    matches!(&t.value, Node::Map(m) if get(m, "block").is_some())
}

/// A top-level block as one command of the step: the block, then a failure (the ERR trap
/// prints the failing inner task's place after the command's index).
pub(super) fn top(cx: &mut Ctx<'_>, t: &Spanned<Node>, path: &str) -> Option<String> {
    let mut g = Gen { next: 0 };
    let (code, flag) = g.block(cx, t, path, &[])?;
    Some(format!(
        "{code}if [ \"${flag}\" = 1 ]; then __slipway_command=\"$__slipway_command $__slipway_at\"; false; fi\n"
    ))
}

/// `task`'s keywords with those a block passes down: the task's own win, `environment`
/// maps are merged (the task's keys win) and `when` conditions all apply.
pub(super) fn inherit(own: &Mapping, inherited: &Mapping) -> Vec<(String, Spanned<Node>)> {
    let mut out: Vec<(String, Spanned<Node>)> = own.to_vec();
    for (k, v) in inherited {
        let Some(i) = out.iter().position(|(o, _)| o == k) else {
            out.push((k.clone(), v.clone()));
            continue;
        };
        let mine = &out[i].1;
        let merged = match (k.as_str(), &v.value, &mine.value) {
            ("environment", Node::Map(outer), Node::Map(inner)) => {
                let mut m: Vec<(String, Spanned<Node>)> = outer
                    .iter()
                    .filter(|(ok, _)| get(inner, ok).is_none())
                    .cloned()
                    .collect();
                m.extend(inner.iter().cloned());
                Some(Node::Map(m))
            }
            ("when", _, _) => Some(Node::Seq(vec![v.clone(), mine.clone()])),
            _ => None,
        };
        if let Some(n) = merged {
            out[i].1 = Spanned::new(n, mine.referenced, mine.defined);
        }
    }
    out
}

struct Gen {
    next: usize,
}

impl Gen {
    /// A block's bash and the name of its failure flag (`1` when it ends failed).
    fn block(
        &mut self,
        cx: &mut Ctx<'_>,
        t: &Spanned<Node>,
        path: &str,
        inherited: &Mapping,
    ) -> Option<(String, String)> {
        let Node::Map(m) = &t.value else {
            return None;
        };
        for (k, v) in m {
            if !BLOCK_KEYS.contains(&k.as_str()) {
                let (l, c) = key_location(cx, k, v.referenced);
                cx.at_pos(
                    l,
                    c,
                    format!(
                        "{path}: `{k}` is not a block keyword (supported: {})",
                        BLOCK_KEYS.join(", ")
                    ),
                );
                return None;
            }
        }
        let keywords: Vec<(String, Spanned<Node>)> = m
            .iter()
            .filter(|(k, _)| {
                !["block", "rescue", "always", "name", "tags", "vars"].contains(&k.as_str())
            })
            .cloned()
            .collect();
        let inh = inherit(&keywords, inherited);
        let n = self.next;
        self.next += 1;
        let (f, r, a) = (format!("__sb{n}"), format!("__sr{n}"), format!("__sa{n}"));
        let mut code = format!("{f}=0\n");
        let guard = format!("[ \"${f}\" = 0 ]");
        code.push_str(&self.items(cx, m, "block", path, &guard, &f, &inh)?);
        if get(m, "rescue").is_some() {
            // A successful rescue clears the failure; a failing one keeps the block failed.
            code.push_str(&format!(
                "if [ \"${f}\" = 1 ]; then {f}=0; {r}=1; else {r}=0; fi\n"
            ));
            let guard = format!("[ \"${r}\" = 1 ] && [ \"${f}\" = 0 ]");
            code.push_str(&self.items(cx, m, "rescue", path, &guard, &f, &inh)?);
        }
        if get(m, "always").is_some() {
            code.push_str(&format!("{a}=0\n"));
            let guard = format!("[ \"${a}\" = 0 ]");
            code.push_str(&self.items(cx, m, "always", path, &guard, &a, &inh)?);
            code.push_str(&format!("[ \"${a}\" = 0 ] || {f}=1\n"));
        }
        Some((code, f))
    }

    /// The tasks of one section (`block`, `rescue`, `always`), each run while `guard`
    /// holds; a failure sets `flag`.
    #[allow(clippy::too_many_arguments)]
    fn items(
        &mut self,
        cx: &mut Ctx<'_>,
        m: &Mapping,
        section: &str,
        path: &str,
        guard: &str,
        flag: &str,
        inh: &Mapping,
    ) -> Option<String> {
        let Some(list) = get(m, section) else {
            return Some(String::new());
        };
        let tasks: &[Spanned<Node>] = match &list.value {
            Node::Seq(s) => s,
            Node::Null => &[],
            other => {
                cx.at(
                    &list.referenced,
                    format!(
                        "{path}.{section} must be a list of tasks, not {}",
                        other.kind()
                    ),
                );
                return None;
            }
        };
        let mut code = String::new();
        for (i, t) in tasks.iter().enumerate() {
            let p = format!("{path}.{section}[{i}]");
            if is_block(t) {
                let (inner, f) = self.block(cx, t, &p, inh)?;
                code.push_str(&format!(
                    "if {guard}; then\n{inner}[ \"${f}\" = 0 ] || {flag}=1\nfi\n"
                ));
            } else {
                let text = super::task(cx, t, &p, inh)?;
                let at = format!("{}: {p}", cx.where_at(&t.referenced));
                code.push_str(&format!(
                    "if {guard}; then if ! {T}/bash -ec {}; then {flag}=1; __slipway_at={}; fi; fi\n",
                    q(&text),
                    q(&at)
                ));
            }
        }
        Some(code)
    }
}
