//! `dependencies:` of a stapel image as werf 2 reads them (pkg/config/dependency.go): each
//! names an image, exactly one of `before:`/`after:` (`install` or `setup`), and imports
//! with a `type` and a `targetEnv` (a build argument is for Dockerfile images), every
//! `targetEnv` once. Each problem is located at the entry or key.

use serde_saphyr::Spanned;

use super::values::{NodeMap, map, seq, text};
use crate::config::error::Ctx;
use crate::config::model::stapel::ImportPosition;
use crate::config::model::{Dependency, Import, ImportType};
use crate::config::yaml::{Node, get, key_location, unknown_keys};

/// The dependencies with the position of each (same order), or located errors.
pub(super) fn dependencies(
    cx: &mut Ctx<'_>,
    v: &Spanned<Node>,
) -> (Vec<Dependency>, Vec<ImportPosition>) {
    let mut deps = Vec::new();
    let mut positions = Vec::new();
    for (n, item) in seq(cx, v, "dependencies").iter().enumerate() {
        let path = format!("dependencies[{n}]");
        let Some(m) = map(cx, item, &path) else {
            continue;
        };
        unknown_keys(cx, m, &["image", "before", "after", "imports"], &path);
        let Some(image) = get(m, "image").and_then(|i| text(cx, i, &format!("{path}.image")))
        else {
            cx.at(
                &item.referenced,
                "image name is not specified for dependency",
            );
            continue;
        };
        let Some(position) = position(cx, item, m) else {
            continue;
        };
        let Some(imports) = imports(cx, m, &path) else {
            continue;
        };
        deps.push(Dependency { image, imports });
        positions.push(position);
    }
    (deps, positions)
}

/// `before: install|setup` or `after: install|setup`, exactly one (werf's messages).
fn position(cx: &mut Ctx<'_>, item: &Spanned<Node>, m: &NodeMap) -> Option<ImportPosition> {
    let before = get(m, "before").and_then(|b| text(cx, b, "before"));
    let after = get(m, "after").and_then(|a| text(cx, a, "after"));
    let p = match (before.as_deref(), after.as_deref()) {
        (None, None) => Err(
            "dependency stage is not specified with `before: install|setup` or `after: install|setup`"
                .to_string(),
        ),
        (Some(_), Some(_)) => Err("only one dependency stage can be specified with `before: install|setup` or `after: install|setup`, but not both".to_string()),
        (Some("install"), None) => Ok(ImportPosition::BeforeInstall),
        (Some("setup"), None) => Ok(ImportPosition::BeforeSetup),
        (None, Some("install")) => Ok(ImportPosition::AfterInstall),
        (None, Some("setup")) => Ok(ImportPosition::AfterSetup),
        (Some(b), None) => Err(format!(
            "invalid dependency stage `before: {b}`: expected install or setup!"
        )),
        (None, Some(a)) => Err(format!(
            "invalid dependency stage `after: {a}`: expected install or setup!"
        )),
    };
    match p {
        Ok(p) => Some(p),
        Err(msg) => {
            cx.at(&item.referenced, msg);
            None
        }
    }
}

/// `imports:`: `type` and `targetEnv` each, no `targetEnv` twice.
fn imports(cx: &mut Ctx<'_>, m: &NodeMap, path: &str) -> Option<Vec<Import>> {
    let mut out: Vec<Import> = Vec::new();
    let Some(list) = get(m, "imports") else {
        return Some(out);
    };
    let mut ok = true;
    for (i, imp) in seq(cx, list, &format!("{path}.imports")).iter().enumerate() {
        let p = format!("{path}.imports[{i}]");
        let Some(im) = map(cx, imp, &p) else {
            ok = false;
            continue;
        };
        unknown_keys(cx, im, &["type", "targetEnv", "targetBuildArg"], &p);
        if let Some(b) = get(im, "targetBuildArg") {
            let (l, c) = key_location(cx, "targetBuildArg", b.referenced);
            cx.at_pos(l, c, format!("{p}: `targetBuildArg` is for Dockerfile images; a stapel image receives an import as `targetEnv: NAME`"));
            ok = false;
            continue;
        }
        let kind = match get(im, "type")
            .and_then(|t| text(cx, t, &format!("{p}.type")))
            .as_deref()
        {
            Some("ImageName") => ImportType::ImageName,
            Some("ImageTag") => ImportType::ImageTag,
            Some("ImageRepo") => ImportType::ImageRepo,
            Some("ImageID") => ImportType::ImageID,
            Some("ImageDigest") => ImportType::ImageDigest,
            other => {
                cx.at(&imp.referenced, format!("{p}: import type {} is not one of ImageName, ImageTag, ImageRepo, ImageID, ImageDigest", other.unwrap_or("(missing)")));
                ok = false;
                continue;
            }
        };
        let Some(env) = get(im, "targetEnv").and_then(|t| text(cx, t, &format!("{p}.targetEnv")))
        else {
            cx.at(
                &imp.referenced,
                format!("{p}: targetEnv is required for a stapel image's dependency import"),
            );
            ok = false;
            continue;
        };
        if out
            .iter()
            .any(|o| o.target_env.as_deref() == Some(env.as_str()))
        {
            cx.at(&imp.referenced, format!("each targetEnv for dependency import should be unique, but found duplicates for: {env}"));
            ok = false;
            continue;
        }
        out.push(Import {
            kind,
            target_build_arg: None,
            target_env: Some(env),
        });
    }
    ok.then_some(out)
}
