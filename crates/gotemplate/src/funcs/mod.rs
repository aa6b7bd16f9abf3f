//! Functions callable from templates: their Go signatures (for Go's argument checks and
//! error texts) and their implementations.

pub mod bounds;
pub mod builtins;
pub mod sprig;

use crate::value::Value;

pub use crate::value::{Func, FuncImpl, SizeBound, Ty};

/// Helpers for implementations: typed access to already type-checked arguments.
pub(crate) fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

pub(crate) fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        _ => 0,
    }
}
