//! Scalar, list and path values of stapel directives, each wrong kind a located error.

use serde_json::Value as Json;
use serde_saphyr::{Location, Spanned};

use super::paths::clean;
use crate::config::error::Ctx;
use crate::config::yaml::Node;
pub(super) use crate::config::yaml::scalar_text;

pub(super) type NodeMap = [(String, Spanned<Node>)];

/// `Node` → JSON (for the signature's normalized document and ansible tasks).
pub(super) fn node_json(n: &Node) -> Json {
    match n {
        Node::Null => Json::Null,
        Node::Bool(b) => Json::Bool(*b),
        Node::Int(i) => Json::from(*i),
        Node::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Node::Str(s) => Json::String(s.clone()),
        Node::Seq(items) => Json::Array(items.iter().map(|i| node_json(&i.value)).collect()),
        Node::Map(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), node_json(&v.value)))
                .collect(),
        ),
    }
}

pub(super) fn map<'a>(cx: &mut Ctx<'_>, v: &'a Spanned<Node>, path: &str) -> Option<&'a NodeMap> {
    match &v.value {
        Node::Map(m) => Some(m.as_slice()),
        Node::Null => None,
        other => {
            cx.at(
                &v.referenced,
                format!("{path} must be a mapping, not {}", other.kind()),
            );
            None
        }
    }
}

pub(super) fn seq<'a>(cx: &mut Ctx<'_>, v: &'a Spanned<Node>, path: &str) -> &'a [Spanned<Node>] {
    match &v.value {
        Node::Seq(items) => items.as_slice(),
        Node::Null => &[],
        other => {
            cx.at(
                &v.referenced,
                format!("{path} must be a list, not {}", other.kind()),
            );
            &[]
        }
    }
}

pub(super) fn text(cx: &mut Ctx<'_>, v: &Spanned<Node>, path: &str) -> Option<String> {
    match &v.value {
        Node::Null => None,
        n => match scalar_text(n) {
            Some(s) => Some(s),
            None => {
                cx.at(
                    &v.referenced,
                    format!("{path} must be a string, not {}", n.kind()),
                );
                None
            }
        },
    }
}

pub(super) fn boolean(cx: &mut Ctx<'_>, v: &Spanned<Node>, path: &str) -> bool {
    match v.value {
        Node::Bool(b) => b,
        Node::Null => false,
        ref other => {
            cx.at(
                &v.referenced,
                format!("{path} must be true or false, not {}", other.kind()),
            );
            false
        }
    }
}

/// A string or a list of strings.
pub(super) fn string_or_list(cx: &mut Ctx<'_>, v: &Spanned<Node>, path: &str) -> Vec<String> {
    match &v.value {
        Node::Null => Vec::new(),
        Node::Seq(items) => items
            .iter()
            .filter_map(|i| match scalar_text(&i.value) {
                Some(s) => Some(s),
                None => {
                    cx.at(
                        &i.referenced,
                        format!("{path}: single string or array of strings expected"),
                    );
                    None
                }
            })
            .collect(),
        n => match scalar_text(n) {
            Some(s) => vec![s],
            None => {
                cx.at(
                    &v.referenced,
                    format!("{path}: single string or array of strings expected"),
                );
                Vec::new()
            }
        },
    }
}

pub(super) fn relative_paths(
    cx: &mut Ctx<'_>,
    v: &Spanned<Node>,
    path: &str,
    what: &str,
) -> Vec<String> {
    let out: Vec<String> = string_or_list(cx, v, path)
        .into_iter()
        .map(|p| p.trim_end_matches('/').to_string())
        .collect();
    if out.iter().any(|p| p.starts_with('/')) {
        cx.at(
            &v.referenced,
            format!("{path}: `{what}: [PATH, ...]|PATH` should be relative paths!"),
        );
    }
    out
}

pub(super) fn absolute(
    cx: &mut Ctx<'_>,
    v: Option<&Spanned<Node>>,
    at: &Location,
    path: &str,
    message: &str,
) -> Option<String> {
    let s = match v {
        Some(v) => text(cx, v, path),
        None => None,
    };
    match s {
        Some(s) if s.starts_with('/') => Some(clean(&s)),
        _ => {
            let loc = v.map_or(*at, |v| v.referenced);
            cx.at(&loc, format!("{path}: {message}"));
            None
        }
    }
}
