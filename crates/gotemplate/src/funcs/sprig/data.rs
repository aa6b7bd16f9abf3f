//! sprig's lists, dicts, defaults and JSON.

use std::collections::BTreeMap;

use super::convert::{empty, strval, to_int64};
use super::{Reg, fixed, kind_of_or_panic, new_list, new_map, str_list, string, var};
use crate::fmt::float_json;
use crate::funcs::{Ty, int, s};
use crate::value::{Elem, List, Map, Value};

fn list_items(v: &Value, what: &str) -> Result<Vec<Value>, String> {
    match v {
        Value::List(l) => Ok(l.to_vec()),
        v => Err(format!("Cannot {what} type {}", kind_of_or_panic(v)?)),
    }
}

fn map_or_empty(v: &Value) -> Option<Map> {
    match v {
        Value::Map(m) => Some(m.clone()),
        _ => None,
    }
}

pub(super) fn register(v: &mut Reg) {
    use Ty::*;
    var(v, "list", &[], Any, |a| Ok(new_list(a.to_vec())));
    var(v, "tuple", &[], Any, |a| Ok(new_list(a.to_vec())));
    for name in ["append", "push", "mustAppend", "mustPush"] {
        fixed(v, name, &[Any, Any], |a| {
            let mut l = list_items(&a[0], "push on")?;
            l.push(a[1].clone());
            Ok(new_list(l))
        });
    }
    for name in ["prepend", "mustPrepend"] {
        fixed(v, name, &[Any, Any], |a| {
            let mut l = list_items(&a[0], "prepend on")?;
            l.insert(0, a[1].clone());
            Ok(new_list(l))
        });
    }
    for name in ["first", "mustFirst"] {
        fixed(v, name, &[Any], |a| {
            let l = list_items(&a[0], "find first on")?;
            Ok(l.first().cloned().unwrap_or(Value::Nil))
        });
    }
    for name in ["last", "mustLast"] {
        fixed(v, name, &[Any], |a| {
            let l = list_items(&a[0], "find last on")?;
            Ok(l.last().cloned().unwrap_or(Value::Nil))
        });
    }
    for name in ["rest", "mustRest"] {
        fixed(v, name, &[Any], |a| {
            let l = list_items(&a[0], "find rest on")?;
            Ok(new_list(l.get(1..).map(|x| x.to_vec()).unwrap_or_default()))
        });
    }
    for name in ["initial", "mustInitial"] {
        fixed(v, name, &[Any], |a| {
            let l = list_items(&a[0], "find initial on")?;
            let n = l.len().saturating_sub(1);
            Ok(new_list(l[..n].to_vec()))
        });
    }
    for name in ["reverse", "mustReverse"] {
        fixed(v, name, &[Any], |a| {
            let mut l = list_items(&a[0], "find reverse on")?;
            l.reverse();
            Ok(new_list(l))
        });
    }
    for name in ["compact", "mustCompact"] {
        fixed(v, name, &[Any], |a| {
            let l = list_items(&a[0], "compact on")?;
            Ok(new_list(l.into_iter().filter(|x| !empty(x)).collect()))
        });
    }
    for name in ["uniq", "mustUniq"] {
        fixed(v, name, &[Any], |a| {
            let l = list_items(&a[0], "find uniq on")?;
            let mut out: Vec<Value> = Vec::new();
            for x in l {
                if !out.iter().any(|y| y.deep_equal(&x)) {
                    out.push(x);
                }
            }
            Ok(new_list(out))
        });
    }
    for name in ["without", "mustWithout"] {
        var(v, name, &[Any], Any, |a| {
            let l = list_items(&a[0], "find without on")?;
            let omit = &a[1..];
            Ok(new_list(
                l.into_iter()
                    .filter(|x| !omit.iter().any(|o| o.deep_equal(x)))
                    .collect(),
            ))
        });
    }
    for name in ["has", "mustHas"] {
        fixed(v, name, &[Any, Any], |a| {
            if let Value::Nil = a[1] {
                return Ok(Value::Bool(false));
            }
            let l = list_items(&a[1], "find has on")?;
            Ok(Value::Bool(l.iter().any(|x| x.deep_equal(&a[0]))))
        });
    }
    for name in ["slice", "mustSlice"] {
        var(v, name, &[Any], Any, |a| {
            let Value::List(l) = &a[0] else {
                return Err(format!(
                    "list should be type of slice or array but {}",
                    kind_of_or_panic(&a[0])?
                ));
            };
            let len = l.len() as i64;
            if len == 0 {
                return Ok(Value::Nil);
            }
            let start = a.get(1).map(to_int64).unwrap_or(0);
            let end = if a.len() < 3 { len } else { to_int64(&a[2]) };
            if start < 0 || end < start || end > len {
                return Err("reflect.Value.Slice: slice index out of bounds".into());
            }
            let items = l.items.borrow()[start as usize..end as usize].to_vec();
            Ok(Value::List(List {
                items: std::rc::Rc::new(std::cell::RefCell::new(items)),
                elem: l.elem,
            }))
        });
    }
    var(v, "concat", &[], Any, |a| {
        let mut out = Vec::new();
        for l in a {
            match l {
                Value::List(l) => out.extend(l.to_vec()),
                x => {
                    return Err(format!(
                        "Cannot concat type {} as list",
                        kind_of_or_panic(x)?
                    ));
                }
            }
        }
        Ok(new_list(out))
    });
    for name in ["chunk", "mustChunk"] {
        fixed(v, name, &[Int, Any], |a| {
            let l = list_items(&a[1], "chunk")?;
            let size = int(&a[0]);
            if size <= 0 {
                return Err("runtime error: makeslice: len out of range".into());
            }
            Ok(new_list(
                l.chunks(size as usize)
                    .map(|c| new_list(c.to_vec()))
                    .collect(),
            ))
        });
    }
    // Dicts.
    var(v, "dict", &[], Any, |a| {
        let mut m = BTreeMap::new();
        let mut i = 0;
        while i < a.len() {
            let key = strval(&a[i]);
            let val = a.get(i + 1).cloned().unwrap_or_else(|| Value::str(""));
            m.insert(key, val);
            i += 2;
        }
        Ok(new_map(m))
    });
    fixed(v, "get", &[MapAny, String], |a| {
        Ok(map_or_empty(&a[0])
            .and_then(|m| m.get(s(&a[1])))
            .unwrap_or_else(|| Value::str("")))
    });
    fixed(v, "set", &[MapAny, String, Any], |a| {
        let Some(m) = map_or_empty(&a[0]) else {
            return Err("assignment to entry in nil map".into());
        };
        m.insert(s(&a[1]).to_string(), a[2].clone());
        Ok(a[0].clone())
    });
    fixed(v, "unset", &[MapAny, String], |a| {
        if let Some(m) = map_or_empty(&a[0]) {
            m.entries.borrow_mut().remove(s(&a[1]));
            return Ok(a[0].clone());
        }
        Ok(new_map(BTreeMap::new()))
    });
    fixed(v, "hasKey", &[MapAny, String], |a| {
        Ok(Value::Bool(
            map_or_empty(&a[0]).is_some_and(|m| m.get(s(&a[1])).is_some()),
        ))
    });
    var(v, "pluck", &[String], MapAny, |a| {
        let key = s(&a[0]);
        Ok(new_list(
            a[1..]
                .iter()
                .filter_map(|d| map_or_empty(d).and_then(|m| m.get(key)))
                .collect(),
        ))
    });
    var(v, "keys", &[], MapAny, |a| {
        let mut k = Vec::new();
        for d in a {
            if let Some(m) = map_or_empty(d) {
                k.extend(m.keys());
            }
        }
        Ok(str_list(k))
    });
    fixed(v, "values", &[MapAny], |a| {
        Ok(new_list(
            map_or_empty(&a[0])
                .map(|m| m.entries.borrow().values().cloned().collect())
                .unwrap_or_default(),
        ))
    });
    var(v, "pick", &[MapAny], String, |a| {
        let src = map_or_empty(&a[0]);
        let mut m = BTreeMap::new();
        for k in &a[1..] {
            if let Some(x) = src.as_ref().and_then(|d| d.get(s(k))) {
                m.insert(s(k).to_string(), x);
            }
        }
        Ok(new_map(m))
    });
    var(v, "omit", &[MapAny], String, |a| {
        let omit: Vec<&str> = a[1..].iter().map(s).collect();
        let mut m = BTreeMap::new();
        if let Some(d) = map_or_empty(&a[0]) {
            for (k, x) in d.entries.borrow().iter() {
                if !omit.contains(&k.as_str()) {
                    m.insert(k.clone(), x.clone());
                }
            }
        }
        Ok(new_map(m))
    });
    for (name, overwrite) in [
        ("merge", false),
        ("mustMerge", false),
        ("mergeOverwrite", true),
        ("mustMergeOverwrite", true),
    ] {
        var(v, name, &[MapAny], MapAny, move |a| {
            let dst = match map_or_empty(&a[0]) {
                Some(m) => m,
                None => Map::new(BTreeMap::new()),
            };
            for src in &a[1..] {
                if let Some(sm) = map_or_empty(src) {
                    merge_into(&dst, &sm, overwrite);
                }
            }
            Ok(Value::Map(dst))
        });
    }
    for name in ["deepCopy", "mustDeepCopy"] {
        fixed(v, name, &[Any], |a| Ok(a[0].deep_copy()));
    }
    var(v, "dig", &[], Any, |a| {
        if a.len() < 3 {
            return Err("dig needs at least three arguments".into());
        }
        let mut cur = match &a[a.len() - 1] {
            Value::Map(m) if m.elem == Elem::Any => m.clone(),
            x => return Err(iface_conv(x, "map[string]interface {}")),
        };
        let def = a[a.len() - 2].clone();
        let keys = &a[..a.len() - 2];
        for k in keys {
            if !matches!(k, Value::String(_)) {
                return Err(iface_conv(k, "string"));
            }
        }
        for (i, k) in keys.iter().enumerate() {
            let Some(step) = cur.get(s(k)) else {
                return Ok(def);
            };
            if i == keys.len() - 1 {
                return Ok(step);
            }
            cur = match step {
                Value::Map(m) if m.elem == Elem::Any => m,
                x => return Err(iface_conv(&x, "map[string]interface {}")),
            };
        }
        Ok(def)
    });
    // Defaults.
    var(v, "default", &[Any], Any, |a| {
        if a.len() < 2 || empty(&a[1]) {
            return Ok(a[0].clone());
        }
        Ok(a[1].clone())
    });
    fixed(v, "empty", &[Any], |a| Ok(Value::Bool(empty(&a[0]))));
    var(v, "coalesce", &[], Any, |a| {
        Ok(a.iter().find(|x| !empty(x)).cloned().unwrap_or(Value::Nil))
    });
    var(v, "all", &[], Any, |a| {
        Ok(Value::Bool(a.iter().all(|x| !empty(x))))
    });
    var(v, "any", &[], Any, |a| {
        Ok(Value::Bool(a.iter().any(|x| !empty(x))))
    });
    fixed(v, "ternary", &[Any, Any, Bool], |a| {
        Ok(if a[2].truth() {
            a[0].clone()
        } else {
            a[1].clone()
        })
    });
    // JSON.
    fixed(v, "fromJson", &[String], |a| {
        Ok(from_json(s(&a[0])).unwrap_or(Value::Nil))
    });
    fixed(v, "mustFromJson", &[String], |a| from_json(s(&a[0])));
    for name in ["toJson", "mustToJson"] {
        fixed(v, name, &[Any], |a| Ok(string(to_json(&a[0], true, None))));
    }
    for name in ["toPrettyJson", "mustToPrettyJson"] {
        fixed(v, name, &[Any], |a| {
            Ok(string(to_json(&a[0], true, Some("  "))))
        });
    }
    for name in ["toRawJson", "mustToRawJson"] {
        fixed(v, name, &[Any], |a| Ok(string(to_json(&a[0], false, None))));
    }
}

fn iface_conv(v: &Value, want: &str) -> String {
    let got = match v {
        Value::Nil => "nil".to_string(),
        v => v.type_name(),
    };
    format!("interface conversion: interface {{}} is {got}, not {want}")
}

/// mergo's `Merge`/`MergeWithOverwrite` of one `map[string]interface{}` into another, as
/// sprig calls it.
fn merge_into(dst: &Map, src: &Map, overwrite: bool) {
    let entries: Vec<(String, Value)> = src
        .entries
        .borrow()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, sv) in entries {
        let dv = dst.get(&k);
        match &sv {
            Value::Nil => {
                if overwrite {
                    dst.insert(k, Value::Nil);
                }
            }
            Value::Map(sm) => {
                if let Some(Value::Map(dm)) = &dv {
                    if std::rc::Rc::ptr_eq(&dm.entries, &sm.entries) {
                        continue;
                    }
                    merge_into(dm, sm, overwrite);
                }
                match &dv {
                    Some(d) if !empty(d) => {}
                    _ => dst.insert(k, sv),
                }
            }
            Value::List(_) => {
                if overwrite {
                    dst.insert(k, sv);
                } else {
                    match &dv {
                        Some(d) if !empty(d) => {}
                        _ => dst.insert(k, sv),
                    }
                }
            }
            _ => {
                let set = overwrite || dv.as_ref().is_none_or(empty);
                if set {
                    dst.insert(k, sv);
                }
            }
        }
    }
}

fn from_json(text: &str) -> Result<Value, String> {
    let j: serde_json::Value = serde_json::from_str(text).map_err(|e| go_json_error(text, &e))?;
    Ok(Value::from_json(&j))
}

/// encoding/json's text for the common decoding errors, else serde_json's.
fn go_json_error(text: &str, e: &serde_json::Error) -> String {
    if e.is_eof() {
        return "unexpected end of JSON input".into();
    }
    let msg = e.to_string();
    if msg.starts_with("expected value") {
        let line = text.lines().nth(e.line().saturating_sub(1)).unwrap_or("");
        if let Some(c) = line.chars().nth(e.column().saturating_sub(1)) {
            return format!(
                "invalid character {} looking for beginning of value",
                crate::fmt::quote_with(&c.to_string(), '\'', false)
            );
        }
    }
    msg
}

fn json_string(out: &mut String, s: &str, html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if html => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `json.Marshal` (`html` escapes <, >, &) or `MarshalIndent` with `indent`.
pub(crate) fn to_json(v: &Value, html: bool, indent: Option<&str>) -> String {
    let mut out = String::new();
    write_json(&mut out, v, html, indent, 0);
    out
}

fn newline(out: &mut String, indent: Option<&str>, depth: usize) {
    if let Some(ind) = indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(ind);
        }
    }
}

fn write_json(out: &mut String, v: &Value, html: bool, indent: Option<&str>, depth: usize) {
    match v {
        Value::Nil => out.push_str("null"),
        Value::Object(o) => {
            // Go's json.Marshal of a struct: its exported fields in declaration order.
            let fields = o.fields();
            if fields.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, e)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                json_string(out, k, html);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write_json(out, e, html, indent, depth + 1);
            }
            newline(out, indent, depth);
            out.push('}');
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&float_json(*f)),
        Value::String(s) => json_string(out, s, html),
        Value::Time(t) => json_string(
            out,
            &crate::gotime::format_time(t, "2006-01-02T15:04:05.999999999Z07:00"),
            html,
        ),
        Value::List(l) => {
            let items = l.items.borrow();
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, e) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                write_json(out, e, html, indent, depth + 1);
            }
            newline(out, indent, depth);
            out.push(']');
        }
        Value::Map(m) => {
            let entries = m.entries.borrow();
            if entries.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, e)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                json_string(out, k, html);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write_json(out, e, html, indent, depth + 1);
            }
            newline(out, indent, depth);
            out.push('}');
        }
    }
}
