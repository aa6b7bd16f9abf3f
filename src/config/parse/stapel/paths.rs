//! Slash paths as werf handles them (Go's `path`), and the automatic excludes between a
//! document's exports.

use serde_saphyr::Location;

use crate::config::error::Ctx;
use crate::config::model::stapel::StapelRecipe;

/// whose `to` paths nest (pkg/config/export_base.go): the outer one leaves the inner one's
/// region out. Same region twice is werf's "Conflict between imports!".
pub(super) fn auto_exclude(cx: &mut Ctx<'_>, doc_loc: &Location, st: &mut StapelRecipe) {
    struct Exp {
        to: String,
        include: Vec<String>,
        exclude: Vec<String>,
    }
    let mut exps: Vec<Exp> = st
        .git
        .iter()
        .map(|g| Exp {
            to: g.to.clone(),
            include: g.include_paths.clone(),
            exclude: g.exclude_paths.clone(),
        })
        .chain(st.imports.iter().map(|i| Exp {
            to: i.to.clone(),
            include: i.include_paths.clone(),
            exclude: i.exclude_paths.clone(),
        }))
        .collect();
    let prefix = |to: &str| -> String { to.trim_start_matches('/').to_string() };
    let includes = |e: &Exp| -> Vec<String> {
        let p = prefix(&e.to);
        if e.include.is_empty() {
            if p.is_empty() { Vec::new() } else { vec![p] }
        } else {
            e.include.iter().map(|i| join(&p, i)).collect()
        }
    };
    let excludes = |e: &Exp| -> Vec<String> {
        let p = prefix(&e.to);
        e.exclude.iter().map(|x| join(&p, x)).collect()
    };
    for a in 0..exps.len() {
        for b in 0..exps.len() {
            if a == b || !is_sub_path(&exps[a].to, &exps[b].to) {
                continue;
            }
            let (a_inc, b_inc) = (includes(&exps[a]), includes(&exps[b]));
            if a_inc.is_empty() && b_inc.is_empty() {
                cx.at(doc_loc, format!("Conflict between imports! (two mappings or imports to {} with no includePaths)", exps[a].to));
                return;
            }
            'next: for bi in &b_inc {
                for ai in &a_inc {
                    if bi == ai {
                        cx.at(
                            doc_loc,
                            format!("Conflict between imports! (both cover /{bi})"),
                        );
                        return;
                    }
                    if is_sub_path(bi, ai) {
                        continue 'next;
                    }
                }
                for ax in excludes(&exps[a]) {
                    if is_sub_path(&ax, bi) {
                        continue 'next;
                    }
                }
                let rel = relative(&exps[a].to, &format!("/{bi}"));
                exps[a].exclude.push(rel);
            }
        }
    }
    let n = st.git.len();
    for (k, e) in exps.into_iter().enumerate() {
        if k < n {
            st.git[k].exclude_paths = e.exclude;
        } else {
            st.imports[k - n].exclude_paths = e.exclude;
        }
    }
}

fn join(prefix: &str, p: &str) -> String {
    let p = p.trim_start_matches('/');
    clean(&if prefix.is_empty() {
        p.to_string()
    } else {
        format!("{prefix}/{p}")
    })
    .trim_start_matches('/')
    .to_string()
}

/// werf's isSubPath: `path` is `sub` or lies under it.
fn is_sub_path(sub: &str, path: &str) -> bool {
    let with = format!("{}/", sub.trim_end_matches('/'));
    path.starts_with(&with) || path == sub
}

/// `target` relative to the directory `base` (both absolute, `target` under `base`).
fn relative(base: &str, target: &str) -> String {
    let b = base.trim_end_matches('/');
    target
        .strip_prefix(b)
        .unwrap_or(target)
        .trim_start_matches('/')
        .to_string()
}

/// Go's `path.Clean` for slash paths.
pub fn clean(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !abs {
                    out.push("..");
                }
            }
            x => out.push(x),
        }
    }
    let joined = out.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_is_go_path_clean() {
        assert_eq!(clean("/a/b/"), "/a/b");
        assert_eq!(clean("/a//b/./c/.."), "/a/b");
        assert_eq!(clean("/"), "/");
        assert_eq!(clean("/.."), "/");
        assert_eq!(clean("a/../.."), "..");
    }

    #[test]
    fn sub_paths_and_relative() {
        assert!(is_sub_path("/app", "/app/static"));
        assert!(is_sub_path("/app", "/app"));
        assert!(!is_sub_path("/app", "/apple"));
        assert_eq!(relative("/app", "/app/static"), "static");
        assert_eq!(relative("/", "/out/bin"), "out/bin");
    }
}
