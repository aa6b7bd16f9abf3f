//! Go's predefined template functions (text/template/funcs.go).

use std::collections::HashMap;
use std::sync::OnceLock;

use super::{Func, Ty};
use crate::fmt::{sprint, sprint_value, sprintf, sprintln};
use crate::value::{Elem, Value};

type Table = Vec<(&'static str, fn() -> Func)>;

fn table() -> Table {
    vec![
        ("and", || {
            Func::variadic(&[Ty::Reflect], Ty::Reflect, |_, _| Ok(Value::Nil))
        }),
        ("or", || {
            Func::variadic(&[Ty::Reflect], Ty::Reflect, |_, _| Ok(Value::Nil))
        }),
        ("call", || {
            Func::variadic(&[Ty::Reflect], Ty::Reflect, |_, a| call(a))
        }),
        ("html", || {
            Func::variadic(&[], Ty::Any, |_, a| {
                Ok(Value::string(html_escape(&eval_args(a))))
            })
        }),
        ("js", || {
            Func::variadic(&[], Ty::Any, |_, a| {
                Ok(Value::string(js_escape(&eval_args(a))))
            })
        }),
        ("urlquery", || {
            Func::variadic(&[], Ty::Any, |_, a| {
                Ok(Value::string(query_escape(&eval_args(a))))
            })
        }),
        ("index", || {
            Func::variadic(&[Ty::Reflect], Ty::Reflect, |_, a| index(&a[0], &a[1..]))
        }),
        ("slice", || {
            Func::variadic(&[Ty::Reflect], Ty::Reflect, |_, a| slice(&a[0], &a[1..]))
        }),
        ("len", || Func::new(&[Ty::Reflect], |_, a| length(&a[0]))),
        ("not", || {
            Func::new(&[Ty::Reflect], |_, a| Ok(Value::Bool(!a[0].truth())))
        }),
        ("print", || {
            Func::variadic(&[], Ty::Any, |_, a| Ok(Value::string(sprint(a))))
        }),
        ("printf", || {
            Func::variadic(&[Ty::String], Ty::Any, |_, a| {
                Ok(Value::string(sprintf(super::s(&a[0]), &a[1..])))
            })
        }),
        ("println", || {
            Func::variadic(&[], Ty::Any, |_, a| Ok(Value::string(sprintln(a))))
        }),
        ("eq", || {
            Func::variadic(&[Ty::Reflect], Ty::Reflect, |_, a| {
                eq(&a[0], &a[1..]).map(Value::Bool)
            })
        }),
        ("ne", || {
            Func::new(&[Ty::Reflect, Ty::Reflect], |_, a| {
                eq(&a[0], &a[1..2]).map(|b| Value::Bool(!b))
            })
        }),
        ("lt", || {
            Func::new(&[Ty::Reflect, Ty::Reflect], |_, a| {
                lt(&a[0], &a[1]).map(Value::Bool)
            })
        }),
        ("le", || {
            Func::new(&[Ty::Reflect, Ty::Reflect], |_, a| {
                le(&a[0], &a[1]).map(Value::Bool)
            })
        }),
        ("gt", || {
            Func::new(&[Ty::Reflect, Ty::Reflect], |_, a| {
                le(&a[0], &a[1]).map(|b| Value::Bool(!b))
            })
        }),
        ("ge", || {
            Func::new(&[Ty::Reflect, Ty::Reflect], |_, a| {
                lt(&a[0], &a[1]).map(|b| Value::Bool(!b))
            })
        }),
    ]
}

thread_local! {
    static BUILTINS: HashMap<&'static str, Func> = table()
        .into_iter()
        .map(|(n, f)| match super::bounds::of(n) {
            Some(b) => (n, f().bounded(b)),
            None => (n, f()),
        })
        .collect();
}

static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();

/// The builtin `name`, if there is one.
pub fn get(name: &str) -> Option<Func> {
    BUILTINS.with(|b| b.get(name).cloned())
}

/// Names of Go's builtins, sorted.
pub fn names() -> &'static [&'static str] {
    NAMES.get_or_init(|| {
        let mut v: Vec<&'static str> = table().into_iter().map(|(n, _)| n).collect();
        v.sort();
        v
    })
}

/// Go's `evalArgs`: one string as is, else `fmt.Sprint` with nil shown as `<no value>`.
pub fn eval_args(args: &[Value]) -> String {
    if let [Value::String(s)] = args {
        return s.to_string();
    }
    let args: Vec<Value> = args
        .iter()
        .map(|a| match a {
            Value::Nil => Value::str("<no value>"),
            v => v.clone(),
        })
        .collect();
    sprint(&args)
}

fn call(a: &[Value]) -> Result<Value, String> {
    match &a[0] {
        Value::Nil => Err("call of nil".into()),
        v => Err(format!("non-function of type {}", v.type_name())),
    }
}

fn index_arg(idx: &Value, cap: usize) -> Result<usize, String> {
    let x = match idx {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Nil => return Err("cannot index slice/array with nil".into()),
        v => {
            return Err(format!(
                "cannot index slice/array with type {}",
                v.type_name()
            ));
        }
    };
    if x < 0 || x as usize > cap {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

/// Go's `index`.
pub fn index(item: &Value, idx: &[Value]) -> Result<Value, String> {
    if let Value::Nil = item {
        return Err("index of untyped nil".into());
    }
    let mut item = item.clone();
    for (k, i) in idx.iter().enumerate() {
        if k > 0 && matches!(item, Value::Nil) {
            return Err("index of nil pointer".into());
        }
        item = match &item {
            Value::List(l) => {
                let x = index_arg(i, l.len())?;
                l.get(x).ok_or("reflect: slice index out of range")?
            }
            Value::String(s) => {
                let x = index_arg(i, s.len())?;
                Value::Int(
                    *s.as_bytes()
                        .get(x)
                        .ok_or("reflect: string index out of range")? as i64,
                )
            }
            Value::Map(m) => {
                let key = match i {
                    Value::String(s) => s.to_string(),
                    Value::Nil => return Err("value is nil; should be of type string".into()),
                    v => {
                        return Err(format!(
                            "value has type {}; should be string",
                            v.type_name()
                        ));
                    }
                };
                match m.get(&key) {
                    Some(v) => v,
                    None => match m.elem {
                        Elem::Str => Value::str(""),
                        Elem::Any => Value::Nil,
                    },
                }
            }
            v => return Err(format!("can't index item of type {}", v.type_name())),
        };
    }
    Ok(item)
}

/// Go's builtin `slice`.
pub fn slice(item: &Value, idx: &[Value]) -> Result<Value, String> {
    if let Value::Nil = item {
        return Err("slice of untyped nil".into());
    }
    if idx.len() > 3 {
        return Err(format!("too many slice indexes: {}", idx.len()));
    }
    let (cap, len) = match item {
        Value::String(s) => {
            if idx.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            (s.len(), s.len())
        }
        Value::List(l) => (l.len(), l.len()),
        v => return Err(format!("can't slice item of type {}", v.type_name())),
    };
    let mut ix = [0, len, 0];
    for (k, i) in idx.iter().enumerate() {
        ix[k] = index_arg(i, cap)?;
    }
    if ix[0] > ix[1] {
        return Err(format!("invalid slice index: {} > {}", ix[0], ix[1]));
    }
    if idx.len() == 3 && ix[1] > ix[2] {
        return Err(format!("invalid slice index: {} > {}", ix[1], ix[2]));
    }
    Ok(match item {
        Value::String(s) => match s.get(ix[0]..ix[1]) {
            Some(sub) => Value::str(sub),
            None => Value::string(String::from_utf8_lossy(&s.as_bytes()[ix[0]..ix[1]]).into()),
        },
        Value::List(l) => {
            let items = l.items.borrow()[ix[0]..ix[1]].to_vec();
            Value::List(crate::value::List {
                items: std::rc::Rc::new(std::cell::RefCell::new(items)),
                elem: l.elem,
            })
        }
        _ => Value::Nil,
    })
}

fn length(v: &Value) -> Result<Value, String> {
    Ok(Value::Int(match v {
        Value::List(l) => l.len() as i64,
        Value::Map(m) => m.len() as i64,
        Value::String(s) => s.len() as i64,
        Value::Nil => return Err("reflect: call of reflect.Value.Type on zero Value".into()),
        v => return Err(format!("len of type {}", v.type_name())),
    }))
}

#[derive(PartialEq, Clone, Copy)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Float,
    String,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::Int64(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::String(_) => Kind::String,
        _ => Kind::Invalid,
    }
}

fn same_go_kind(a: &Value, b: &Value) -> bool {
    a.kind_name() == b.kind_name() || matches!(a, Value::Nil) || matches!(b, Value::Nil)
}

/// Go's `eq` (arg1 == any of arg2).
pub fn eq(a: &Value, rest: &[Value]) -> Result<bool, String> {
    if rest.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(a);
    for b in rest {
        let k2 = basic_kind(b);
        let truth = if k1 != k2 {
            if !matches!(a, Value::Nil) && !matches!(b, Value::Nil) {
                return Err("incompatible types for comparison".into());
            }
            false
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::String(x), Value::String(y)) => x == y,
                _ if k1 == Kind::Int => super::int(a) == super::int(b),
                _ => {
                    if !same_go_kind(a, b) {
                        return Err(format!(
                            "non-comparable types {}: {}, {}: {}",
                            sprintf("%s", std::slice::from_ref(a)),
                            a.type_name(),
                            b.type_name(),
                            sprint_value(b)
                        ));
                    }
                    let an = matches!(a, Value::Nil);
                    let bn = matches!(b, Value::Nil);
                    if an || bn {
                        an == bn
                    } else if let (Value::Time(x), Value::Time(y)) = (a, b) {
                        x == y
                    } else if let (Value::Object(x), Value::Object(y)) = (a, b)
                        && x.type_name() == y.type_name()
                    {
                        // A Go struct compares field by field; a pointer by identity.
                        let (fx, fy) = (x.fields(), y.fields());
                        if fx.is_empty() {
                            std::rc::Rc::ptr_eq(x, y)
                        } else {
                            fx.iter()
                                .zip(fy.iter())
                                .all(|((_, p), (_, q))| eq(p, std::slice::from_ref(q)) == Ok(true))
                        }
                    } else {
                        return Err(format!(
                            "non-comparable type {}: {}",
                            sprintf("%s", std::slice::from_ref(b)),
                            b.type_name()
                        ));
                    }
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go's `lt`.
pub fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let k1 = basic_kind(a);
    if k1 == Kind::Invalid {
        return Err("invalid type for comparison".into());
    }
    let k2 = basic_kind(b);
    if k2 == Kind::Invalid {
        return Err("invalid type for comparison".into());
    }
    if k1 != k2 {
        return Err("incompatible types for comparison".into());
    }
    Ok(match (a, b) {
        (Value::Bool(_), _) => return Err("invalid type for comparison".into()),
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::String(x), Value::String(y)) => x < y,
        _ => super::int(a) < super::int(b),
    })
}

fn le(a: &Value, b: &Value) -> Result<bool, String> {
    if lt(a, b)? {
        return Ok(true);
    }
    eq(a, std::slice::from_ref(b))
}

/// Go's `template.HTMLEscapeString`.
pub fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => o.push('\u{FFFD}'),
            '"' => o.push_str("&#34;"),
            '\'' => o.push_str("&#39;"),
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            c => o.push(c),
        }
    }
    o
}

/// Go's `template.JSEscapeString`.
pub fn js_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '\'' => o.push_str("\\'"),
            '"' => o.push_str("\\\""),
            '<' => o.push_str("\\u003C"),
            '>' => o.push_str("\\u003E"),
            '&' => o.push_str("\\u0026"),
            '=' => o.push_str("\\u003D"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u00{:02X}", c as u32)),
            c if c.is_ascii() => o.push(c),
            c if crate::fmt::is_print(c) => o.push(c),
            c => o.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    o
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                o.push(b as char)
            }
            b' ' => o.push('+'),
            b => o.push_str(&format!("%{b:02X}")),
        }
    }
    o
}
