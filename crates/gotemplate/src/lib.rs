//! A Go `text/template` engine with sprig v3's functions.
//!
//! Maps and lists are shared and mutable, as in Go, so `set`/`unset` change the map every
//! holder sees. Output and error texts follow Go 1.19's `text/template` byte for byte; see
//! README.md for what differs.

pub mod ast;
pub mod budget;
pub mod error;
mod exec;
pub mod fmt;
pub mod funcs;
mod gotime;
pub mod lexer;
pub mod parser;
pub mod sourcemap;
pub mod value;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

pub use budget::{DEFAULT_BUDGET, OverBudget};
pub use error::{Error, ErrorKind};
pub use exec::{MAX_EXEC_DEPTH, MissingKey};
pub use funcs::{Func, Ty};
pub use sourcemap::{Origin, SourceMap};
pub use value::{Elem, List, Map, Object, Value};

use ast::{Tree, is_empty_tree};

struct Inner {
    trees: RefCell<HashMap<String, Rc<Tree>>>,
    funcs: RefCell<HashMap<String, Func>>,
    missing_key: Cell<MissingKey>,
    /// Nesting of `execute` calls made by host functions (`include`, `tpl`).
    depth: Cell<usize>,
    /// The set's own name: the first template parsed into it (Go's `template.New(name)`).
    name: RefCell<Option<String>>,
    /// Whether executions record where their output came from (`execute_mapped`).
    mapping: Cell<bool>,
    /// While mapping: the output of every execution a host function ran, with its origins.
    recent: RefCell<Vec<(String, Vec<sourcemap::Segment>)>>,
    /// What the set's executions built, against its limit.
    budget: budget::Budget,
}

/// A set of named templates sharing functions, as Go's `*template.Template` with its
/// associated templates. Cloning gives another handle to the same set.
#[derive(Clone)]
pub struct Templates {
    inner: Rc<Inner>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    /// An empty set with Go's builtin functions only.
    pub fn new() -> Templates {
        Templates {
            inner: Rc::new(Inner {
                trees: RefCell::new(HashMap::new()),
                funcs: RefCell::new(HashMap::new()),
                missing_key: Cell::new(MissingKey::Invalid),
                depth: Cell::new(0),
                name: RefCell::new(None),
                mapping: Cell::new(false),
                recent: RefCell::new(Vec::new()),
                budget: budget::Budget::default(),
            }),
        }
    }

    /// An empty set with Go's builtins and sprig v3's `TxtFuncMap` (less `env`,
    /// `expandenv` and `getHostByName`).
    pub fn with_sprig() -> Templates {
        let t = Templates::new();
        for (name, f) in funcs::sprig::all() {
            t.add_func(name, f);
        }
        t
    }

    /// Registers (or replaces) a function. Host functions receive this set, so they can
    /// execute or parse templates (`include`, `tpl`).
    pub fn add_func(&self, name: &str, f: Func) {
        self.inner.funcs.borrow_mut().insert(name.to_string(), f);
    }

    /// Go's `Option("missingkey=…")`.
    pub fn set_missing_key(&self, m: MissingKey) {
        self.inner.missing_key.set(m);
    }

    pub fn missing_key(&self) -> MissingKey {
        self.inner.missing_key.get()
    }

    pub(crate) fn find_func(&self, name: &str) -> Option<(Func, bool)> {
        if let Some(f) = self.inner.funcs.borrow().get(name) {
            return Some((f.clone(), false));
        }
        funcs::builtins::get(name).map(|f| (f, true))
    }

    /// Whether a function of that name exists (user, sprig or builtin).
    pub fn has_func(&self, name: &str) -> bool {
        self.inner.funcs.borrow().contains_key(name) || funcs::builtins::get(name).is_some()
    }

    /// Names of the registered (non-builtin) functions, sorted.
    pub fn func_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.funcs.borrow().keys().cloned().collect();
        v.sort();
        v
    }

    /// Parses `text` as template `name` and adds it and its `define`s to the set. As in
    /// Go, a later definition replaces an earlier one, except that an empty body (only
    /// spaces and `define`s) does not replace a non-empty template.
    pub fn parse(&self, name: &str, text: &str) -> Result<(), Error> {
        self.inner
            .name
            .borrow_mut()
            .get_or_insert_with(|| name.to_string());
        let has = |f: &str| self.has_func(f);
        let (top, defined) = parser::parse(name, text, &has).map_err(|e| Error {
            kind: ErrorKind::Parse,
            message: e.0,
            template: name.to_string(),
            line_col: None,
        })?;
        let mut trees = self.inner.trees.borrow_mut();
        for t in std::iter::once(top).chain(defined) {
            if let Some(old) = trees.get(&t.name)
                && is_empty_tree(&t.root)
                && !is_empty_tree(&old.root)
            {
                continue;
            }
            trees.insert(t.name.clone(), Rc::new(t));
        }
        Ok(())
    }

    pub fn lookup(&self, name: &str) -> Option<Rc<Tree>> {
        self.inner.trees.borrow().get(name).cloned()
    }

    /// Names of the templates in the set, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.trees.borrow().keys().cloned().collect();
        v.sort();
        v
    }

    /// Executes template `name` with `data` as dot and `$`.
    pub fn execute(&self, name: &str, data: &Value) -> Result<String, Error> {
        let Some(tree) = self.lookup(name) else {
            return Err(Error {
                kind: ErrorKind::Exec,
                message: format!(
                    "template: no template {} associated with template {}",
                    fmt::quote(name),
                    fmt::quote(self.inner.name.borrow().as_deref().unwrap_or(name))
                ),
                template: name.to_string(),
                line_col: None,
            });
        };
        let depth = self.inner.depth.get();
        if depth >= MAX_EXEC_DEPTH {
            return Err(Error {
                kind: ErrorKind::Exec,
                message: format!(
                    "template: {name}: exceeded maximum template depth ({MAX_EXEC_DEPTH})"
                ),
                template: name.to_string(),
                line_col: None,
            });
        }
        self.inner.depth.set(depth + 1);
        let mut out = String::new();
        let r = exec::execute(self, &tree, data, depth, &mut out);
        self.inner.depth.set(depth);
        let segs = r?;
        if self.mapping() {
            self.inner.recent.borrow_mut().push((out.clone(), segs));
        }
        Ok(out)
    }

    /// Executes template `name` as [`Templates::execute`] does, and says where each byte of
    /// the output came from: a template's text or an action, also through `template`,
    /// `include` and `tpl` (host functions that call `execute` on this set).
    pub fn execute_mapped(&self, name: &str, data: &Value) -> Result<(String, SourceMap), Error> {
        let was = self.inner.mapping.replace(true);
        let r = self.execute(name, data);
        self.inner.mapping.set(was);
        let top = if was {
            None
        } else {
            let mut recent = self.inner.recent.borrow_mut();
            let top = recent.pop();
            recent.clear();
            top
        };
        let out = r?;
        let segments = top.map(|(_, s)| s).unwrap_or_default();
        Ok((out, SourceMap { segments }))
    }

    pub(crate) fn mapping(&self) -> bool {
        self.inner.mapping.get()
    }

    pub(crate) fn recent(&self) -> std::cell::Ref<'_, Vec<(String, Vec<sourcemap::Segment>)>> {
        self.inner.recent.borrow()
    }
}
