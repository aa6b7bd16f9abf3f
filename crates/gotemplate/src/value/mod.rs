//! Template values. Maps and lists are shared references, as in Go: `set $d "k" v` changes
//! the map every holder of `$d` sees.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

mod func;
pub use func::{Func, FuncImpl, SizeBound, Ty};

/// Element type of a list or map, kept only so that Go type names (`[]string` vs
/// `[]interface {}`) and argument type checks match Go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    /// `interface {}`
    Any,
    /// `string`
    Str,
}

/// A Go value as a template sees it.
#[derive(Clone, Debug)]
pub enum Value {
    /// Go's untyped nil / an invalid `reflect.Value` (missing map key, JSON null).
    Nil,
    Bool(bool),
    /// Go `int`.
    Int(i64),
    /// Go `int64` (what sprig's arithmetic returns).
    Int64(i64),
    /// Go `float64`.
    Float(f64),
    String(Rc<str>),
    List(List),
    Map(Map),
    /// Go `time.Time` (from sprig's date functions), as seconds + nanoseconds and an offset.
    Time(Time),
    /// A host value with methods (Go's struct with methods, e.g. werf's `.Files`).
    Object(Rc<dyn Object>),
}

/// A value with methods, callable from templates as `.Obj.Method arg…`.
pub trait Object: std::fmt::Debug {
    /// Go's type name (`%T`, error texts).
    fn type_name(&self) -> String;
    /// The method `name` with its Go signature, if there is one.
    fn method(&self, name: &str) -> Option<Func>;
    /// Exported struct fields in declaration order (`.Field`, JSON), for Go structs.
    fn fields(&self) -> Vec<(&'static str, Value)> {
        Vec::new()
    }
    /// `%v` text.
    fn display(&self) -> String {
        format!("{{{}}}", self.type_name())
    }
}

/// A point in time with a fixed UTC offset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Time {
    pub secs: i64,
    pub nanos: u32,
    pub offset_secs: i32,
}

/// A shared, mutable list (Go slice).
#[derive(Clone, Debug)]
pub struct List {
    pub items: Rc<RefCell<Vec<Value>>>,
    pub elem: Elem,
}

/// A shared, mutable map with string keys (Go map; iteration in sorted key order).
#[derive(Clone, Debug)]
pub struct Map {
    pub entries: Rc<RefCell<BTreeMap<String, Value>>>,
    pub elem: Elem,
}

impl Value {
    /// Whether both are the same string, list or map in memory (not merely equal).
    pub fn same_object(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::String(a), Value::String(b)) => Rc::ptr_eq(a, b),
            (Value::List(a), Value::List(b)) => Rc::ptr_eq(&a.items, &b.items),
            (Value::Map(a), Value::Map(b)) => Rc::ptr_eq(&a.entries, &b.entries),
            _ => false,
        }
    }
}

impl List {
    pub fn new(items: Vec<Value>) -> List {
        List {
            items: Rc::new(RefCell::new(items)),
            elem: Elem::Any,
        }
    }
    pub fn len(&self) -> usize {
        self.items.borrow().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn get(&self, i: usize) -> Option<Value> {
        self.items.borrow().get(i).cloned()
    }
    pub fn to_vec(&self) -> Vec<Value> {
        self.items.borrow().clone()
    }
}

impl Map {
    pub fn new(entries: BTreeMap<String, Value>) -> Map {
        Map {
            entries: Rc::new(RefCell::new(entries)),
            elem: Elem::Any,
        }
    }
    pub fn get(&self, k: &str) -> Option<Value> {
        self.entries.borrow().get(k).cloned()
    }
    pub fn insert(&self, k: String, v: Value) {
        self.entries.borrow_mut().insert(k, v);
    }
    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn keys(&self) -> Vec<String> {
        self.entries.borrow().keys().cloned().collect()
    }
}

impl Value {
    pub fn str(s: &str) -> Value {
        Value::String(Rc::from(s))
    }
    pub fn string(s: String) -> Value {
        Value::String(Rc::from(s))
    }
    pub fn list(items: Vec<Value>) -> Value {
        Value::List(List::new(items))
    }
    pub fn str_list(items: Vec<String>) -> Value {
        Value::List(List {
            items: Rc::new(RefCell::new(items.into_iter().map(Value::string).collect())),
            elem: Elem::Str,
        })
    }
    pub fn map(entries: BTreeMap<String, Value>) -> Value {
        Value::Map(Map::new(entries))
    }
    pub fn empty_map() -> Value {
        Value::map(BTreeMap::new())
    }

    /// Go's type name, as `%T` prints it.
    pub fn type_name(&self) -> String {
        match self {
            Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Int64(_) => "int64".into(),
            Value::Float(_) => "float64".into(),
            Value::String(_) => "string".into(),
            Value::List(l) => match l.elem {
                Elem::Any => "[]interface {}".into(),
                Elem::Str => "[]string".into(),
            },
            Value::Map(m) => match m.elem {
                Elem::Any => "map[string]interface {}".into(),
                Elem::Str => "map[string]string".into(),
            },
            Value::Time(_) => "time.Time".into(),
            Value::Object(o) => o.type_name(),
        }
    }

    /// Go's `reflect.Kind` name.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
            Value::Time(_) | Value::Object(_) => "struct",
        }
    }

    /// Go template truth: non-zero, non-empty.
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Time(_) | Value::Object(_) => true,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A deep copy (new maps and lists), as sprig's `deepCopy`.
    pub fn deep_copy(&self) -> Value {
        match self {
            Value::List(l) => Value::List(List {
                items: Rc::new(RefCell::new(
                    l.items.borrow().iter().map(Value::deep_copy).collect(),
                )),
                elem: l.elem,
            }),
            Value::Map(m) => Value::Map(Map {
                entries: Rc::new(RefCell::new(
                    m.entries
                        .borrow()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.deep_copy()))
                        .collect(),
                )),
                elem: m.elem,
            }),
            v => v.clone(),
        }
    }

    /// Go's `reflect.DeepEqual` on these values.
    pub fn deep_equal(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) | (Value::Int64(a), Value::Int64(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Time(a), Value::Time(b)) => a == b,
            (Value::Object(a), Value::Object(b)) => Rc::ptr_eq(a, b),
            (Value::List(a), Value::List(b)) => {
                a.elem == b.elem && {
                    let (a, b) = (a.items.borrow(), b.items.borrow());
                    a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.deep_equal(y))
                }
            }
            (Value::Map(a), Value::Map(b)) => {
                a.elem == b.elem && {
                    let (a, b) = (a.entries.borrow(), b.entries.borrow());
                    a.len() == b.len()
                        && a.iter()
                            .all(|(k, v)| b.get(k).is_some_and(|w| v.deep_equal(w)))
                }
            }
            _ => false,
        }
    }

    /// Converts decoded JSON into template values the way Go's `encoding/json` decodes into
    /// `interface{}`: every number is a float64.
    pub fn from_json(j: &serde_json::Value) -> Value {
        match j {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(s) => Value::str(s),
            serde_json::Value::Array(a) => Value::list(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::str(s)
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::string(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
