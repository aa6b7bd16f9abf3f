//! werf.yaml read again as a tree whose every node keeps its position, and the checks on it
//! that report at a key or value (unknown keys with a suggestion, wrong kinds).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

use super::error::{Ctx, unknown_key_message};

/// A YAML node whose children keep their positions.
#[derive(Debug, Clone)]
pub(super) enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(String, Spanned<Node>)>),
}

/// A scalar as text (yaml.v2 keeps numbers' text in string fields); `None` for null, lists
/// and maps.
pub(super) fn scalar_text(n: &Node) -> Option<String> {
    match n {
        Node::Str(s) => Some(s.clone()),
        Node::Int(i) => Some(i.to_string()),
        Node::Float(f) => Some(f.to_string()),
        Node::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Node {
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Int(_) | Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(i64::try_from(v).map_or(Node::Float(v as f64), Node::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<Spanned<Node>>()? {
            out.push(v);
        }
        Ok(Node::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut out = Vec::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value::<Spanned<Node>>()?;
            out.push((k, v));
        }
        Ok(Node::Map(out))
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

pub(super) fn map<'a>(
    cx: &mut Ctx<'_>,
    node: &'a Spanned<Node>,
    path: &str,
) -> Option<&'a [(String, Spanned<Node>)]> {
    match &node.value {
        Node::Map(m) => Some(m),
        other => {
            cx.at(
                &node.referenced,
                format!("{path} must be a mapping, not {}", other.kind()),
            );
            None
        }
    }
}

pub(super) fn get<'a>(m: &'a [(String, Spanned<Node>)], key: &str) -> Option<&'a Spanned<Node>> {
    m.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

pub(super) fn boolean(cx: &mut Ctx<'_>, v: &Spanned<Node>, path: &str) -> bool {
    match v.value {
        Node::Bool(b) => b,
        _ => {
            cx.at(
                &v.referenced,
                format!("{path} must be true or false, not {}", v.value.kind()),
            );
            false
        }
    }
}

pub(super) fn unknown_keys(
    cx: &mut Ctx<'_>,
    m: &[(String, Spanned<Node>)],
    known: &[&str],
    path: &str,
) {
    for (k, v) in m {
        if !known.contains(&k.as_str()) {
            let loc = key_location(cx, k, v.referenced);
            let msg = format!("{path}: {}", unknown_key_message(k, known));
            cx.at_pos(loc.0, loc.1, msg);
        }
    }
}

/// The `key:` position: on the value's line, or the nearest line above it (a block value
/// starts on the next line).
pub(super) fn key_location(cx: &Ctx<'_>, key: &str, value: Location) -> (usize, usize) {
    let line = value.line() as usize;
    let lines: Vec<&str> = cx.rendered_text().lines().collect();
    let needle = format!("{key}:");
    for l in (1..=line.min(lines.len())).rev() {
        if let Some(c) = lines[l - 1].find(&needle) {
            return (l, c + 1);
        }
        if line - l > 3 {
            break;
        }
    }
    (line, value.column() as usize)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::rendered::Rendered;

    fn tree(text: &str) -> BTreeMap<String, Spanned<Node>> {
        serde_saphyr::from_str(text).expect("yaml")
    }

    fn located(rendered: &Rendered, check: impl FnOnce(&mut Ctx<'_>)) -> Vec<String> {
        let mut cx = Ctx {
            file: "werf.yaml".into(),
            rendered,
            errors: Vec::new(),
            warnings: Vec::new(),
        };
        check(&mut cx);
        cx.errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn every_node_keeps_its_kind_and_position() {
        let doc = tree("a:\n  b: [1, x, 2.5]\n  c: ~\n  d: true\n");
        let Node::Map(a) = &doc["a"].value else {
            panic!("a mapping: {:?}", doc["a"]);
        };
        let b = get(a, "b").expect("b");
        assert_eq!(b.referenced.line(), 2);
        assert_eq!(b.value.kind(), "a list");
        let Node::Seq(items) = &b.value else {
            panic!("a list");
        };
        let kinds: Vec<&str> = items.iter().map(|i| i.value.kind()).collect();
        assert_eq!(kinds, ["a number", "a string", "a number"]);
        assert_eq!(items[1].referenced.column(), 10);
        assert_eq!(get(a, "c").map(|c| c.value.kind()), Some("null"));
        assert_eq!(get(a, "d").map(|d| d.value.kind()), Some("a boolean"));
        assert!(get(a, "e").is_none());
    }

    #[test]
    fn unknown_keys_are_located_at_the_key() {
        let text = "cleanup:\n  keepPolicys:\n    - x\n  disable: true\n";
        let rendered = Rendered::plain_for_test(text);
        let doc = tree(text);
        let errors = located(&rendered, |cx| {
            let m = map(cx, &doc["cleanup"], "cleanup").expect("a mapping");
            unknown_keys(cx, m, &["keepPolicies", "disable"], "cleanup");
        });
        // The value is a block on line 3; the key is found above it.
        assert_eq!(
            errors,
            ["werf.yaml:2:3: cleanup: unknown key `keepPolicys` (did you mean `keepPolicies`?)"]
        );
    }

    #[test]
    fn wrong_kinds_are_located_at_the_value() {
        let text = "cleanup: [1]\ndisable: \"yes\"\n";
        let rendered = Rendered::plain_for_test(text);
        let doc = tree(text);
        let errors = located(&rendered, |cx| {
            assert!(map(cx, &doc["cleanup"], "cleanup").is_none());
            assert!(!boolean(cx, &doc["disable"], "cleanup.disable"));
        });
        assert_eq!(
            errors,
            [
                "werf.yaml:1:10: cleanup must be a mapping, not a list",
                "werf.yaml:2:10: cleanup.disable must be true or false, not a string",
            ]
        );
    }
}
