//! werf ≥ 1.2's `dependencies:` and `secrets:`, read alike for Dockerfile and stapel
//! images with werf's checks (pkg/config/dependency.go, dependency_import.go, secrets.go),
//! each a located error. Stapel documents call these too (`Owner::Stapel`/`Artifact`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_saphyr::Spanned;

use crate::config::error::Ctx;
use crate::config::model::{Dependency, DependencyStage, Import, ImportType, Redacted, Secret};
use crate::config::yaml::{Node, get, key_location, scalar_text, unknown_keys};

/// Whose `dependencies:` these are: the rules differ (werf's `imageType()`).
#[derive(Debug, Clone, Copy)]
// `Stapel` and `Artifact` are for the stapel parser, which reads `dependencies:` with
// issue 42.
#[allow(dead_code)]
pub(super) enum Owner<'a> {
    Dockerfile,
    Stapel,
    /// A stapel `artifact:` (named): werf refuses dependencies there.
    Artifact(&'a str),
}

const DEPENDENCY_KEYS: &[&str] = &["image", "before", "after", "imports"];
const IMPORT_KEYS: &[&str] = &["type", "targetBuildArg", "targetEnv"];
const SECRET_KEYS: &[&str] = &["id", "env", "src", "value"];

/// A key's text when present and not empty (werf's `omitempty` strings).
fn string(m: &[(String, Spanned<Node>)], key: &str) -> Option<String> {
    get(m, key)
        .and_then(|v| scalar_text(&v.value))
        .filter(|s| !s.is_empty())
}

/// `dependencies:` of an image document.
pub(super) fn dependencies(
    cx: &mut Ctx<'_>,
    v: &Spanned<Node>,
    owner: Owner<'_>,
) -> Vec<Dependency> {
    if let Owner::Artifact(name) = owner {
        let (l, c) = key_location(cx, "dependencies", v.referenced);
        cx.at_pos(l, c, format!("dependencies directive is specified for {name:?} artifact, but dependencies are not supported for artifacts!"));
        return Vec::new();
    }
    let items = match &v.value {
        Node::Seq(items) => items.as_slice(),
        Node::Null => &[],
        _ => {
            cx.at(
                &v.referenced,
                "dependencies must be a list of {image, imports}",
            );
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (n, item) in items.iter().enumerate() {
        let Node::Map(m) = &item.value else {
            cx.at(&v.referenced, "each dependency needs `image: NAME`");
            continue;
        };
        unknown_keys(cx, m, DEPENDENCY_KEYS, &format!("dependencies[{n}]"));
        let Some(image) = string(m, "image") else {
            cx.at(&v.referenced, "each dependency needs `image: NAME`");
            continue;
        };
        let stage = stage(cx, m, item, owner);
        let imports = imports(cx, v, m, &image, owner);
        out.push(Dependency {
            image,
            stage,
            imports,
        });
    }
    out
}

/// `before:`/`after:`: exactly one, `install` or `setup`, for a stapel image; neither for
/// a Dockerfile image.
fn stage(
    cx: &mut Ctx<'_>,
    m: &[(String, Spanned<Node>)],
    item: &Spanned<Node>,
    owner: Owner<'_>,
) -> Option<DependencyStage> {
    let before = string(m, "before");
    let after = string(m, "after");
    if let Owner::Dockerfile = owner {
        for (key, set) in [("before", &before), ("after", &after)] {
            if set.is_some()
                && let Some(v) = get(m, key)
            {
                let (l, c) = key_location(cx, key, v.referenced);
                cx.at_pos(
                    l,
                    c,
                    format!("`{key}:` directive is not supported for dockerfile dependencies"),
                );
            }
        }
        return None;
    }
    let at = |key: &str| get(m, key).map_or(item.referenced, |v| v.referenced);
    match (before, after) {
        (None, None) => {
            cx.at(&item.referenced, "dependency stage is not specified with `before: install|setup` or `after: install|setup`");
            None
        }
        (Some(_), Some(_)) => {
            cx.at(&at("after"), "only one dependency stage can be specified with `before: install|setup` or `after: install|setup`, but not both");
            None
        }
        (Some(b), None) => match b.as_str() {
            "install" => Some(DependencyStage::BeforeInstall),
            "setup" => Some(DependencyStage::BeforeSetup),
            _ => {
                cx.at(
                    &at("before"),
                    format!("invalid dependency stage `before: {b}`: expected install or setup!"),
                );
                None
            }
        },
        (None, Some(a)) => match a.as_str() {
            "install" => Some(DependencyStage::AfterInstall),
            "setup" => Some(DependencyStage::AfterSetup),
            _ => {
                cx.at(
                    &at("after"),
                    format!("invalid dependency stage `after: {a}`: expected install or setup!"),
                );
                None
            }
        },
    }
}

/// A dependency's `imports:`: a valid `type`, `targetEnv` for a stapel image and
/// `targetBuildArg` for a Dockerfile one (never the other), each target once.
fn imports(
    cx: &mut Ctx<'_>,
    list: &Spanned<Node>,
    m: &[(String, Spanned<Node>)],
    image: &str,
    owner: Owner<'_>,
) -> Vec<Import> {
    let items = match get(m, "imports").map(|v| (&v.value, v.referenced)) {
        Some((Node::Seq(items), _)) => items.as_slice(),
        None | Some((Node::Null, _)) => &[],
        Some((_, at)) => {
            cx.at(&at, format!("dependency {image:?}: imports must be a list"));
            return Vec::new();
        }
    };
    let stapel = !matches!(owner, Owner::Dockerfile);
    let mut out = Vec::new();
    let mut seen_env = BTreeSet::new();
    let mut seen_arg = BTreeSet::new();
    for (n, imp) in items.iter().enumerate() {
        let Node::Map(im) = &imp.value else {
            cx.at(
                &imp.referenced,
                format!("dependency {image:?}: an import must be a mapping of type and target"),
            );
            continue;
        };
        unknown_keys(
            cx,
            im,
            IMPORT_KEYS,
            &format!("dependency {image:?}: imports[{n}]"),
        );
        let kind = match string(im, "type").as_deref() {
            Some("ImageName") => ImportType::ImageName,
            Some("ImageTag") => ImportType::ImageTag,
            Some("ImageRepo") => ImportType::ImageRepo,
            Some("ImageID") => ImportType::ImageID,
            Some("ImageDigest") => ImportType::ImageDigest,
            other => {
                cx.at(&list.referenced, format!("dependency {image:?}: import type {} is not one of ImageName, ImageTag, ImageRepo, ImageID, ImageDigest", other.unwrap_or("(missing)")));
                continue;
            }
        };
        let target_env = string(im, "targetEnv");
        let target_build_arg = string(im, "targetBuildArg");
        let problem = match (stapel, &target_env, &target_build_arg) {
            (true, None, _) => Some((imp.referenced, "targetEnv directive cannot be empty for a Stapel image".to_string())),
            (true, _, Some(_)) => Some((imp.referenced, "targetBuildArg directive cannot be used for a Stapel image".to_string())),
            // werf passes dependencies to a Dockerfile image as build arguments only.
            (false, Some(_), _) => Some((list.referenced, "`targetEnv` is for stapel images; a Dockerfile image receives an import as a build argument (`targetBuildArg: NAME` and `ARG NAME` in the Dockerfile)".to_string())),
            (false, _, None) => Some((list.referenced, "an import needs targetBuildArg".to_string())),
            _ => None,
        };
        if let Some((at, why)) = problem {
            cx.at(&at, format!("dependency {image:?}: {why}"));
            continue;
        }
        let (seen, target, what) = if stapel {
            (&mut seen_env, &target_env, "targetEnv")
        } else {
            (&mut seen_arg, &target_build_arg, "targetBuildArg")
        };
        if let Some(t) = target
            && !seen.insert(t.clone())
        {
            cx.at(&imp.referenced, format!("dependency {image:?}: each {what} for dependency import should be unique, but found duplicates for: {t}"));
            continue;
        }
        out.push(Import {
            kind,
            target_build_arg,
            target_env,
        });
    }
    out
}

/// `secrets:`: each exactly one of `env`, `src`, `value` (`value` with an `id`), ids
/// unique within the image.
pub(super) fn secrets(cx: &mut Ctx<'_>, v: &Spanned<Node>) -> Vec<Secret> {
    let items = match &v.value {
        Node::Seq(items) => items.as_slice(),
        Node::Null => &[],
        _ => {
            cx.at(&v.referenced, "secrets must be a list of `- env: NAME`, `- src: PATH` or `- id: ID` with `value: TEXT`");
            return Vec::new();
        }
    };
    let mut out: Vec<Secret> = Vec::new();
    for (n, item) in items.iter().enumerate() {
        let Node::Map(m) = &item.value else {
            cx.at(
                &v.referenced,
                "each secret needs `env: NAME`, `src: PATH` or `value: TEXT` (with `id:`)",
            );
            continue;
        };
        unknown_keys(cx, m, SECRET_KEYS, &format!("secrets[{n}]"));
        let id = string(m, "id");
        let secret = match (string(m, "env"), string(m, "src"), string(m, "value")) {
            (Some(env), None, None) => Secret::Env {
                id: id.unwrap_or_else(|| env.clone()),
                env,
            },
            (None, Some(src), None) => Secret::Src {
                id: id.unwrap_or_else(|| {
                    Path::new(&src)
                        .file_name()
                        .map(|f| f.to_string_lossy().to_string())
                        .unwrap_or_default()
                }),
                src: PathBuf::from(src),
            },
            (None, None, Some(value)) => match id {
                Some(id) => Secret::Value {
                    id,
                    value: Redacted(value),
                },
                None => {
                    cx.at(&v.referenced, "a `value:` secret needs an `id:`");
                    continue;
                }
            },
            (None, None, None) => {
                cx.at(
                    &v.referenced,
                    "each secret needs `env: NAME`, `src: PATH` or `value: TEXT` (with `id:`)",
                );
                continue;
            }
            _ => {
                cx.at(
                    &item.referenced,
                    "secrets validation error: secret type could be ONLY `env`, `src` or `value`",
                );
                continue;
            }
        };
        if out.iter().any(|s| s.id() == secret.id()) {
            cx.at(
                &item.referenced,
                format!("duplicated secret {:?}", secret.id()),
            );
            continue;
        }
        out.push(secret);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::rendered::Rendered;

    /// The errors of reading `text`'s `dependencies:` for `owner`, and what was read.
    fn read(text: &str, owner: Owner<'_>) -> (Vec<String>, Vec<Dependency>) {
        let rendered = Rendered::plain_for_test(text);
        let tree: BTreeMap<String, Spanned<Node>> = serde_saphyr::from_str(text).expect("yaml");
        let mut cx = Ctx {
            file: "werf.yaml".into(),
            rendered: &rendered,
            errors: Vec::new(),
            warnings: Vec::new(),
        };
        let deps = dependencies(&mut cx, &tree["dependencies"], owner);
        (cx.errors.iter().map(ToString::to_string).collect(), deps)
    }

    #[test]
    fn dependencies_are_refused_in_artifacts() {
        let (errors, _) = read("dependencies:\n  - image: b\n", Owner::Artifact("x"));
        assert_eq!(
            errors,
            [
                "werf.yaml:1:1: dependencies directive is specified for \"x\" artifact, but dependencies are not supported for artifacts!"
            ]
        );
    }

    #[test]
    fn a_stapel_dependency_names_one_stage_install_or_setup() {
        let (errors, deps) = read(
            "dependencies:\n  - image: b\n    after: install\n  - image: c\n    before: setup\n",
            Owner::Stapel,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(deps[0].stage, Some(DependencyStage::AfterInstall));
        assert_eq!(deps[1].stage, Some(DependencyStage::BeforeSetup));
        let (errors, _) = read("dependencies:\n  - image: b\n", Owner::Stapel);
        assert_eq!(
            errors,
            [
                "werf.yaml:2:5: dependency stage is not specified with `before: install|setup` or `after: install|setup`"
            ]
        );
        let (errors, _) = read(
            "dependencies:\n  - image: b\n    before: install\n    after: setup\n",
            Owner::Stapel,
        );
        assert_eq!(
            errors,
            [
                "werf.yaml:4:12: only one dependency stage can be specified with `before: install|setup` or `after: install|setup`, but not both"
            ]
        );
        let (errors, _) = read(
            "dependencies:\n  - image: b\n    before: build\n",
            Owner::Stapel,
        );
        assert_eq!(
            errors,
            [
                "werf.yaml:3:13: invalid dependency stage `before: build`: expected install or setup!"
            ]
        );
    }

    #[test]
    fn a_stapel_import_needs_target_env_not_target_build_arg() {
        let dep = "dependencies:\n  - image: b\n    after: install\n    imports:\n";
        let (errors, deps) = read(
            &format!("{dep}      - {{type: ImageName, targetEnv: B}}\n"),
            Owner::Stapel,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(deps[0].imports[0].target_env.as_deref(), Some("B"));
        let (errors, _) = read(
            &format!("{dep}      - {{type: ImageName}}\n"),
            Owner::Stapel,
        );
        assert_eq!(
            errors,
            [
                "werf.yaml:5:9: dependency \"b\": targetEnv directive cannot be empty for a Stapel image"
            ]
        );
        let (errors, _) = read(
            &format!("{dep}      - {{type: ImageName, targetEnv: B, targetBuildArg: B}}\n"),
            Owner::Stapel,
        );
        assert_eq!(
            errors,
            [
                "werf.yaml:5:9: dependency \"b\": targetBuildArg directive cannot be used for a Stapel image"
            ]
        );
        let (errors, _) = read(
            &format!(
                "{dep}      - {{type: ImageName, targetEnv: B}}\n      - {{type: ImageTag, targetEnv: B}}\n"
            ),
            Owner::Stapel,
        );
        assert_eq!(
            errors,
            [
                "werf.yaml:6:9: dependency \"b\": each targetEnv for dependency import should be unique, but found duplicates for: B"
            ]
        );
    }
}
