//! sprig v3's `TxtFuncMap` (Masterminds/sprig 3.2), with the Go signatures that decide
//! argument checks, and the same results and error texts where Go's are deterministic.

use std::collections::BTreeMap;

use super::{Func, Ty};
use crate::value::{List, Map, Value};

mod convert;
mod crypto;
mod data;
mod dates;
mod encoding;
mod math;
mod semver;
mod strings;
mod strings_case;
mod url;

pub use crate::gotime::format_time;
pub use convert::{strval, to_float64, to_int64};

/// Every sprig function this crate provides, with its Go signature.
pub fn all() -> Vec<(&'static str, Func)> {
    let mut v: Vec<(&'static str, Func)> = Vec::new();
    strings::register(&mut v);
    data::register(&mut v);
    math::register(&mut v);
    encoding::register(&mut v);
    dates::register(&mut v);
    semver::register(&mut v);
    url::register(&mut v);
    crypto::register(&mut v);
    v.into_iter()
        .map(|(name, f)| match super::bounds::of(name) {
            Some(b) => (name, f.bounded(b)),
            None => (name, f),
        })
        .collect()
}

/// Names of the sprig functions this crate provides, sorted.
pub fn names() -> Vec<&'static str> {
    let mut n: Vec<&'static str> = all().into_iter().map(|(n, _)| n).collect();
    n.sort();
    n
}

pub(crate) type Reg = Vec<(&'static str, Func)>;

pub(crate) fn fixed(
    v: &mut Reg,
    name: &'static str,
    params: &[Ty],
    f: impl Fn(&[Value]) -> Result<Value, String> + 'static,
) {
    v.push((name, Func::new(params, move |_, a| f(a))));
}

pub(crate) fn var(
    v: &mut Reg,
    name: &'static str,
    params: &[Ty],
    rest: Ty,
    f: impl Fn(&[Value]) -> Result<Value, String> + 'static,
) {
    v.push((name, Func::variadic(params, rest, move |_, a| f(a))));
}

/// Go's runtime panic text for a method call on a nil `reflect.Type`.
pub(crate) const NIL_DEREF: &str =
    "runtime error: invalid memory address or nil pointer dereference";

/// `reflect.TypeOf(v).Kind()` as `%s` prints it, or the nil-type panic.
pub(crate) fn kind_of_or_panic(v: &Value) -> Result<&'static str, String> {
    match v {
        Value::Nil => Err(NIL_DEREF.into()),
        v => Ok(v.kind_name()),
    }
}

pub(crate) fn new_list(items: Vec<Value>) -> Value {
    Value::List(List::new(items))
}

pub(crate) fn new_map(entries: BTreeMap<String, Value>) -> Value {
    Value::Map(Map::new(entries))
}

pub(crate) fn str_list(items: Vec<String>) -> Value {
    Value::str_list(items)
}

pub(crate) fn string(x: impl Into<String>) -> Value {
    Value::string(x.into())
}
