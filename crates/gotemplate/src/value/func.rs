//! A host function's Go signature: parameter types for Go's argument checks and error
//! texts. It lives beside the values because an `Object`'s methods are functions.

use std::rc::Rc;

use super::{Elem, Value};
use crate::Templates;

/// A Go parameter type, as far as template argument checking needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// `interface {}`
    Any,
    /// `reflect.Value` (Go's builtins): like `Any`.
    Reflect,
    Int,
    Int64,
    Uint32,
    Float,
    String,
    Bool,
    /// `[]interface {}`
    ListAny,
    /// `map[string]interface {}`
    MapAny,
    /// `time.Time`
    Time,
    /// A Go struct type from a host `Object`, by its type name (`sprig.certificate`).
    Struct(&'static str),
}

impl Ty {
    pub fn go_name(self) -> &'static str {
        match self {
            Ty::Any => "interface {}",
            Ty::Reflect => "reflect.Value",
            Ty::Int => "int",
            Ty::Int64 => "int64",
            Ty::Uint32 => "uint32",
            Ty::Float => "float64",
            Ty::String => "string",
            Ty::Bool => "bool",
            Ty::ListAny => "[]interface {}",
            Ty::MapAny => "map[string]interface {}",
            Ty::Time => "time.Time",
            Ty::Struct(name) => name,
        }
    }

    /// Go's `canBeNil`.
    pub fn can_be_nil(self) -> bool {
        matches!(self, Ty::Any | Ty::Reflect | Ty::ListAny | Ty::MapAny)
    }

    /// Go's assignability of a value's dynamic type to this parameter type.
    pub fn accepts(self, v: &Value) -> bool {
        match self {
            Ty::Any | Ty::Reflect => true,
            Ty::Int => matches!(v, Value::Int(_)),
            Ty::Int64 => matches!(v, Value::Int64(_)),
            Ty::Uint32 => false,
            Ty::Float => matches!(v, Value::Float(_)),
            Ty::String => matches!(v, Value::String(_)),
            Ty::Bool => matches!(v, Value::Bool(_)),
            Ty::ListAny => matches!(v, Value::List(l) if l.elem == Elem::Any),
            Ty::MapAny => matches!(v, Value::Map(m) if m.elem == Elem::Any),
            Ty::Time => matches!(v, Value::Time(_)),
            Ty::Struct(name) => matches!(v, Value::Object(o) if o.type_name() == name),
        }
    }
}

/// What a host function gets besides its arguments: the template set it runs in (for
/// functions such as `include` and `tpl` that execute or add templates).
pub type FuncImpl = dyn Fn(&Templates, &[Value]) -> Result<Value, String>;

/// A function with its Go signature.
#[derive(Clone)]
pub struct Func {
    pub params: Vec<Ty>,
    /// The element type of a final `...T` parameter.
    pub variadic: Option<Ty>,
    pub imp: Rc<FuncImpl>,
    /// For a function whose result can be far larger than its arguments (`repeat`,
    /// `until`, `printf` widths): an upper bound, in bytes, of what it would build from
    /// these arguments. The executor checks it against the set's budget before the call.
    pub bound: Option<SizeBound>,
}

/// An upper bound of a result's size from the arguments (see [`Func::bound`]).
pub type SizeBound = fn(&[Value]) -> usize;

impl Func {
    /// A function with fixed parameters.
    pub fn new(
        params: &[Ty],
        f: impl Fn(&Templates, &[Value]) -> Result<Value, String> + 'static,
    ) -> Func {
        Func {
            params: params.to_vec(),
            variadic: None,
            imp: Rc::new(f),
            bound: None,
        }
    }

    /// A function whose last parameter is `...variadic`.
    pub fn variadic(
        params: &[Ty],
        variadic: Ty,
        f: impl Fn(&Templates, &[Value]) -> Result<Value, String> + 'static,
    ) -> Func {
        Func {
            params: params.to_vec(),
            variadic: Some(variadic),
            imp: Rc::new(f),
            bound: None,
        }
    }

    /// The same function with an upper bound of its result's size (see [`Func::bound`]).
    pub fn bounded(mut self, bound: SizeBound) -> Func {
        self.bound = Some(bound);
        self
    }

    /// Number of Go parameters (the variadic slice counts as one).
    pub fn num_in(&self) -> usize {
        self.params.len() + usize::from(self.variadic.is_some())
    }
}
