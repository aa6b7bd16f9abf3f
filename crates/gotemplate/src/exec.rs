//! The executor: walks a tree with a data value, following Go's text/template exec.go
//! (the same evaluation order, argument checks and error texts).

use crate::Templates;
use crate::ast::{Arg, Branch, Command, Node, Pipe, Tree, Variable};
use crate::error::Error;
use crate::funcs::{Func, Ty};
use crate::sourcemap::{Segment, Source};
use crate::value::Value;
use std::rc::Rc;

/// How deep templates may call templates (Go allows 100000; a Rust stack does not).
pub const MAX_EXEC_DEPTH: usize = 100;

/// What `missingkey=` does with a map key that is not there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MissingKey {
    /// `<no value>` (Go's default).
    #[default]
    Invalid,
    /// The zero value of the map's element type.
    Zero,
    /// An execution error.
    Error,
}

#[derive(Clone, Copy)]
enum At<'a> {
    Node(&'a Node),
    Pipe(&'a Pipe),
    Cmd(&'a Command),
    Arg(&'a Arg),
    Var(&'a Variable),
}

impl At<'_> {
    fn pos(&self) -> usize {
        match self {
            At::Node(n) => n.pos(),
            At::Pipe(p) => p.pos,
            At::Cmd(c) => c.pos,
            At::Arg(a) => a.pos(),
            At::Var(v) => v.pos,
        }
    }
    fn context(&self) -> String {
        match self {
            At::Node(n) => n.to_string(),
            At::Pipe(p) => p.to_string(),
            At::Cmd(c) => c.to_string(),
            At::Arg(a) => a.to_string(),
            At::Var(v) => v.to_string(),
        }
    }
}

pub(crate) enum Ctl {
    Break,
    Continue,
    Err(Error),
}

impl From<Error> for Ctl {
    fn from(e: Error) -> Ctl {
        Ctl::Err(e)
    }
}

type R<T> = Result<T, Error>;

pub(crate) struct State<'a> {
    pub set: &'a Templates,
    pub tree: &'a Tree,
    node: Option<At<'a>>,
    /// Variables, each with whether it holds an element of an interface{} list or map
    /// (Go then types it `interface {}`).
    vars: Vec<(String, Value, bool)>,
    /// Whether dot is such an element (inside `range` over an interface{} collection).
    dot_iface: bool,
    pub depth: usize,
    pub out: &'a mut String,
    /// Where this execution's output came from; recorded only while the set maps
    /// (`Templates::execute_mapped`).
    src: Option<Rc<Source>>,
    segs: Vec<Segment>,
}

fn source_of(set: &Templates, tree: &Tree) -> Option<Rc<Source>> {
    set.mapping().then(|| {
        Rc::new(Source {
            name: tree.parse_name.clone(),
            text: tree.text.clone(),
        })
    })
}

/// Runs `tree` with `data`, appending to `out`; returns where the output came from (empty
/// unless the set maps).
pub(crate) fn execute(
    set: &Templates,
    tree: &Tree,
    data: &Value,
    depth: usize,
    out: &mut String,
) -> Result<Vec<Segment>, Error> {
    let mut st = State {
        set,
        tree,
        node: None,
        vars: vec![("$".into(), data.clone(), false)],
        dot_iface: false,
        depth,
        out,
        src: source_of(set, tree),
        segs: Vec::new(),
    };
    for n in &tree.root {
        match st.walk(data, n) {
            Ok(()) => {}
            Err(Ctl::Err(e)) => return Err(e),
            Err(_) => {}
        }
    }
    Ok(st.segs)
}

fn is_hex_int(s: &str) -> bool {
    s.len() > 2
        && s.starts_with('0')
        && (s.as_bytes()[1] == b'x' || s.as_bytes()[1] == b'X')
        && !s.contains(['p', 'P'])
}

impl<'a> State<'a> {
    fn at(&mut self, n: At<'a>) {
        self.node = Some(n);
    }

    pub fn errorf(&self, msg: impl std::fmt::Display) -> Error {
        let name = &self.tree.name;
        match self.node {
            None => Error::exec(format!("template: {name}: {msg}"), name, None),
            Some(n) => {
                let loc = self.tree.location(n.pos());
                let message = format!(
                    "template: {loc}: executing {} at <{}>: {msg}",
                    crate::fmt::quote(name),
                    n.context()
                );
                Error::exec(message, name, Some(self.tree.line_col(n.pos())))
            }
        }
    }

    /// Counts `n` bytes of output against the set's budget, before they are written. The
    /// error names the place only: a text node's context would be the text itself.
    fn charge_output(&self, n: usize, pos: usize) -> R<()> {
        self.set.charge(n).map_err(|e| {
            let name = &self.tree.name;
            Error::exec(
                format!(
                    "template: {}: executing {}: output: {e}",
                    self.tree.location(pos),
                    crate::fmt::quote(name)
                ),
                name,
                Some(self.tree.line_col(pos)),
            )
        })
    }

    /// Notes where output from `start` to the end came from. An action printing a string
    /// that a host function's execution produced (`include`) keeps that string's origins.
    fn record(&mut self, start: usize, pos: usize, verbatim: bool) {
        let Some(source) = &self.src else {
            return;
        };
        let end = self.out.len();
        if end == start {
            return;
        }
        self.segs.push(Segment {
            start,
            end,
            source: source.clone(),
            pos,
            verbatim,
        });
        if !verbatim
            && let Some(inner) =
                crate::sourcemap::splice(&self.set.recent(), &self.out[start..], start)
        {
            self.segs.extend(inner);
        }
    }

    fn push(&mut self, name: &str, v: Value) {
        self.vars.push((name.to_string(), v, false));
    }

    fn set_var(&mut self, name: &str, v: Value) -> R<()> {
        for (n, val, iface) in self.vars.iter_mut().rev() {
            if n == name {
                *val = v;
                *iface = false;
                return Ok(());
            }
        }
        Err(self.errorf(format!("undefined variable: {name}")))
    }

    fn var_value(&self, name: &str) -> R<(Value, bool)> {
        for (n, val, iface) in self.vars.iter().rev() {
            if n == name {
                return Ok((val.clone(), *iface));
            }
        }
        Err(self.errorf(format!("undefined variable: {name}")))
    }

    fn set_top_var(&mut self, n: usize, v: Value, iface: bool) {
        let len = self.vars.len();
        self.vars[len - n].1 = v;
        self.vars[len - n].2 = iface;
    }

    fn walk_list(&mut self, dot: &Value, list: &'a [Node]) -> Result<(), Ctl> {
        for n in list {
            self.walk(dot, n)?;
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Value, node: &'a Node) -> Result<(), Ctl> {
        self.at(At::Node(node));
        match node {
            Node::Action { pipe, .. } => {
                let val = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.at(At::Node(node));
                    let start = self.out.len();
                    let text = match &val {
                        Value::Nil => std::borrow::Cow::Borrowed("<no value>"),
                        Value::String(s) => std::borrow::Cow::Borrowed(&**s),
                        v => std::borrow::Cow::Owned(crate::fmt::sprint_value(v)),
                    };
                    self.charge_output(text.len(), node.pos())?;
                    self.out.push_str(&text);
                    self.record(start, node.pos(), false);
                }
                Ok(())
            }
            Node::Break { .. } => Err(Ctl::Break),
            Node::Continue { .. } => Err(Ctl::Continue),
            Node::If(b) => self.walk_if_or_with(false, dot, b),
            Node::With(b) => self.walk_if_or_with(true, dot, b),
            Node::Range(b) => self.walk_range(dot, node, b),
            Node::Template { name, pipe, .. } => self.walk_template(dot, node, name, pipe),
            Node::Text { text, pos } => {
                self.charge_output(text.len(), *pos)?;
                let start = self.out.len();
                self.out.push_str(text);
                self.record(start, *pos, true);
                Ok(())
            }
        }
    }

    fn walk_if_or_with(&mut self, with: bool, dot: &Value, b: &'a Branch) -> Result<(), Ctl> {
        let mark = self.vars.len();
        let r = (|| {
            let val = self.eval_pipeline(dot, &b.pipe)?;
            if val.truth() {
                if with {
                    let saved = std::mem::replace(&mut self.dot_iface, false);
                    let r = self.walk_list(&val, &b.list);
                    self.dot_iface = saved;
                    r
                } else {
                    self.walk_list(dot, &b.list)
                }
            } else if let Some(e) = &b.else_list {
                self.walk_list(dot, e)
            } else {
                Ok(())
            }
        })();
        self.vars.truncate(mark);
        r
    }

    fn walk_range(&mut self, dot: &Value, node: &'a Node, r: &'a Branch) -> Result<(), Ctl> {
        self.at(At::Node(node));
        let mark = self.vars.len();
        let res = self.walk_range_inner(dot, r);
        self.vars.truncate(mark);
        match res {
            Err(Ctl::Break) => Ok(()),
            other => other,
        }
    }

    fn walk_range_inner(&mut self, dot: &Value, r: &'a Branch) -> Result<(), Ctl> {
        let val = self.eval_pipeline(dot, &r.pipe)?;
        let mark = self.vars.len();
        let ndecl = r.pipe.decl.len();
        let iface = match &val {
            Value::List(l) => l.elem == crate::value::Elem::Any,
            Value::Map(m) => m.elem == crate::value::Elem::Any,
            _ => false,
        };
        let one = |st: &mut Self, index: Value, elem: Value| -> Result<(), Ctl> {
            if ndecl > 0 {
                st.set_top_var(1, elem.clone(), iface);
            }
            if ndecl > 1 {
                st.set_top_var(2, index, false);
            }
            let saved = std::mem::replace(&mut st.dot_iface, iface);
            let res = st.walk_list(&elem, &r.list);
            st.dot_iface = saved;
            st.vars.truncate(mark);
            match res {
                Err(Ctl::Continue) => Ok(()),
                other => other,
            }
        };
        match &val {
            Value::List(l) => {
                if !l.is_empty() {
                    // Go ranges over the slice header taken at the start.
                    let items = l.to_vec();
                    for (i, e) in items.into_iter().enumerate() {
                        one(self, Value::Int(i as i64), e)?;
                    }
                    return Ok(());
                }
            }
            Value::Map(m) => {
                if !m.is_empty() {
                    let entries: Vec<(String, Value)> = m
                        .entries
                        .borrow()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    for (k, v) in entries {
                        one(self, Value::string(k), v)?;
                    }
                    return Ok(());
                }
            }
            Value::Nil => {}
            v => {
                return Err(Ctl::Err(self.errorf(format!(
                    "range can't iterate over {}",
                    crate::fmt::sprint_value(v)
                ))));
            }
        }
        if let Some(e) = &r.else_list {
            self.walk_list(dot, e)?;
        }
        Ok(())
    }

    fn walk_template(
        &mut self,
        dot: &Value,
        node: &'a Node,
        name: &str,
        pipe: &'a Option<Pipe>,
    ) -> Result<(), Ctl> {
        self.at(At::Node(node));
        let Some(tree) = self.set.lookup(name) else {
            return Err(Ctl::Err(self.errorf(format!(
                "template {} not defined",
                crate::fmt::quote(name)
            ))));
        };
        if self.depth >= MAX_EXEC_DEPTH {
            return Err(Ctl::Err(self.errorf(format!(
                "exceeded maximum template depth ({MAX_EXEC_DEPTH})"
            ))));
        }
        let new_dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Value::Nil,
        };
        let mut st = State {
            set: self.set,
            tree: &tree,
            node: None,
            vars: vec![("$".into(), new_dot.clone(), false)],
            dot_iface: false,
            depth: self.depth + 1,
            out: &mut *self.out,
            src: source_of(self.set, &tree),
            segs: Vec::new(),
        };
        let mut result = Ok(());
        for n in &tree.root {
            match st.walk(&new_dot, n) {
                Ok(()) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        let segs = std::mem::take(&mut st.segs);
        self.segs.extend(segs);
        result
    }

    pub(crate) fn eval_pipeline(&mut self, dot: &Value, pipe: &'a Pipe) -> R<Value> {
        self.at(At::Pipe(pipe));
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or(Value::Nil);
        for v in &pipe.decl {
            if pipe.is_assign {
                self.set_var(&v.ident[0], value.clone())?;
            } else {
                self.push(&v.ident[0], value.clone());
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], fin: &Option<Value>) -> R<()> {
        if args.len() > 1 || fin.is_some() {
            return Err(self.errorf(format!("can't give argument to non-function {}", args[0])));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, cmd: &'a Command, fin: Option<Value>) -> R<Value> {
        let first = &cmd.args[0];
        match first {
            Arg::Field { ident, .. } => {
                self.at(At::Arg(first));
                let iface = self.dot_iface;
                return self.eval_field_chain(
                    dot,
                    dot.clone(),
                    iface,
                    At::Arg(first),
                    ident,
                    Some(&cmd.args),
                    fin,
                );
            }
            Arg::Chain { .. } => return self.eval_chain(dot, first, Some(&cmd.args), fin),
            Arg::Identifier { name, .. } => {
                return self.eval_function(dot, first, name, At::Cmd(cmd), Some(&cmd.args), fin);
            }
            Arg::Pipe(p) => {
                self.not_a_function(&cmd.args, &fin)?;
                return self.eval_pipeline(dot, p);
            }
            Arg::Variable(v) => return self.eval_variable(dot, first, v, Some(&cmd.args), fin),
            _ => {}
        }
        self.at(At::Arg(first));
        self.not_a_function(&cmd.args, &fin)?;
        match first {
            Arg::Bool { val, .. } => Ok(Value::Bool(*val)),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => Err(self.errorf("nil is not a command")),
            Arg::Number { .. } => self.ideal_constant(first),
            Arg::String { text, .. } => Ok(Value::str(text)),
            _ => Err(self.errorf(format!(
                "can't evaluate command {}",
                crate::fmt::quote(&first.to_string())
            ))),
        }
    }

    fn ideal_constant(&mut self, n: &'a Arg) -> R<Value> {
        self.at(At::Arg(n));
        let Arg::Number { num, .. } = n else {
            return Ok(Value::Nil);
        };
        if num.is_complex {
            return Err(self.errorf("complex numbers are not supported"));
        }
        if num.is_float
            && !is_hex_int(&num.text)
            && !num.text.starts_with('\'')
            && num.text.contains(['.', 'e', 'E', 'p', 'P'])
        {
            return Ok(Value::Float(num.float));
        }
        if num.is_int {
            return Ok(Value::Int(num.int));
        }
        if num.is_uint {
            return Err(self.errorf(format!("{} overflows int", num.text)));
        }
        Ok(Value::Nil)
    }

    fn eval_chain(
        &mut self,
        dot: &Value,
        chain: &'a Arg,
        args: Option<&'a [Arg]>,
        fin: Option<Value>,
    ) -> R<Value> {
        self.at(At::Arg(chain));
        let Arg::Chain { node, fields, .. } = chain else {
            return Ok(Value::Nil);
        };
        if matches!(node.as_ref(), Arg::Nil { .. }) {
            return Err(self.errorf(format!("indirection through explicit nil in {chain}")));
        }
        let recv = self.eval_arg(dot, None, node)?;
        self.eval_field_chain(dot, recv, false, At::Arg(chain), fields, args, fin)
    }

    fn eval_variable(
        &mut self,
        dot: &Value,
        arg: &'a Arg,
        v: &'a Variable,
        args: Option<&'a [Arg]>,
        fin: Option<Value>,
    ) -> R<Value> {
        self.at(At::Var(v));
        let (value, iface) = self.var_value(&v.ident[0])?;
        if v.ident.len() == 1 {
            if let Some(args) = args {
                self.not_a_function(args, &fin)?;
            } else if fin.is_some() {
                self.not_a_function(std::slice::from_ref(arg), &fin)?;
            }
            return Ok(value);
        }
        self.eval_field_chain(dot, value, iface, At::Var(v), &v.ident[1..], args, fin)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_field_chain(
        &mut self,
        dot: &Value,
        mut recv: Value,
        mut iface: bool,
        node: At<'a>,
        ident: &[String],
        args: Option<&'a [Arg]>,
        fin: Option<Value>,
    ) -> R<Value> {
        let n = ident.len();
        // `iface`: whether the receiver is an element of an interface{}-typed map or list
        // (Go then names its type `interface {}` and a nil one is a nil pointer).
        for name in &ident[..n - 1] {
            (recv, iface) = self.eval_field(dot, name, node, None, None, recv, iface)?;
        }
        Ok(self
            .eval_field(dot, &ident[n - 1], node, args, fin, recv, iface)?
            .0)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_field(
        &mut self,
        dot: &Value,
        name: &str,
        node: At<'a>,
        args: Option<&'a [Arg]>,
        fin: Option<Value>,
        recv: Value,
        iface: bool,
    ) -> R<(Value, bool)> {
        let missing = self.set.missing_key();
        if iface && matches!(recv, Value::Nil) {
            return Err(self.errorf(format!("nil pointer evaluating interface {{}}.{name}")));
        }
        if let Value::Nil = recv {
            if missing == MissingKey::Error {
                return Err(self.errorf(format!(
                    "nil data; no entry for key {}",
                    crate::fmt::quote(name)
                )));
            }
            return Ok((Value::Nil, false));
        }
        if let Value::Object(o) = &recv
            && let Some(method) = o.method(name)
        {
            let v = self.eval_call(dot, &method, false, node, name, args, fin)?;
            return Ok((v, false));
        }
        let has_args = args.is_some_and(|a| a.len() > 1) || fin.is_some();
        if let Value::Object(o) = &recv
            && let Some((_, v)) = o.fields().into_iter().find(|(n, _)| *n == name)
        {
            if has_args {
                return Err(self.errorf(format!(
                    "{name} has arguments but cannot be invoked as function"
                )));
            }
            return Ok((v, false));
        }
        if let Value::Map(m) = &recv {
            if has_args {
                return Err(self.errorf(format!("{name} is not a method but has arguments")));
            }
            let elem_iface = m.elem == crate::value::Elem::Any;
            return match m.get(name) {
                Some(v) => Ok((v, elem_iface)),
                None => match missing {
                    MissingKey::Invalid => Ok((Value::Nil, false)),
                    MissingKey::Zero => Ok(match m.elem {
                        crate::value::Elem::Str => (Value::str(""), false),
                        crate::value::Elem::Any => (Value::Nil, true),
                    }),
                    MissingKey::Error => Err(self.errorf(format!(
                        "map has no entry for key {}",
                        crate::fmt::quote(name)
                    ))),
                },
            };
        }
        let typ = if iface {
            "interface {}".to_string()
        } else {
            recv.type_name()
        };
        Err(self.errorf(format!("can't evaluate field {name} in type {typ}")))
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        node: &'a Arg,
        name: &str,
        cmd: At<'a>,
        args: Option<&'a [Arg]>,
        fin: Option<Value>,
    ) -> R<Value> {
        self.at(At::Arg(node));
        let (func, builtin) = match self.set.find_func(name) {
            Some(f) => f,
            None => {
                return Err(self.errorf(format!(
                    "{} is not a defined function",
                    crate::fmt::quote(name)
                )));
            }
        };
        self.eval_call(dot, &func, builtin, cmd, name, args, fin)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_call(
        &mut self,
        dot: &Value,
        func: &Func,
        builtin: bool,
        node: At<'a>,
        name: &str,
        args: Option<&'a [Arg]>,
        fin: Option<Value>,
    ) -> R<Value> {
        let args: &'a [Arg] = match args {
            Some(a) => &a[1..],
            None => &[],
        };
        let num_in = args.len() + usize::from(fin.is_some());
        let num_fixed = if func.variadic.is_some() {
            let nf = func.params.len();
            if num_in < nf {
                return Err(self.errorf(format!(
                    "wrong number of args for {name}: want at least {nf} got {}",
                    args.len()
                )));
            }
            nf
        } else {
            if num_in != func.params.len() {
                return Err(self.errorf(format!(
                    "wrong number of args for {name}: want {} got {num_in}",
                    func.params.len()
                )));
            }
            args.len()
        };
        if builtin && (name == "and" || name == "or") {
            let mut v = Value::Nil;
            for a in args {
                v = self.eval_arg(dot, Some(Ty::Reflect), a)?;
                if v.truth() == (name == "or") {
                    return Ok(v);
                }
            }
            if let Some(f) = fin {
                v = f;
            }
            return Ok(v);
        }
        let mut argv = Vec::with_capacity(num_in);
        let mut i = 0;
        while i < num_fixed && i < args.len() {
            argv.push(self.eval_arg(dot, Some(func.params[i]), &args[i])?);
            i += 1;
        }
        if let Some(vt) = func.variadic {
            while i < args.len() {
                argv.push(self.eval_arg(dot, Some(vt), &args[i])?);
                i += 1;
            }
        }
        if let Some(f) = fin {
            let t = match func.variadic {
                Some(vt) => {
                    if num_in - 1 < num_fixed {
                        func.params[num_in - 1]
                    } else {
                        vt
                    }
                }
                None => func.params[func.params.len() - 1],
            };
            argv.push(self.validate_type(f, Some(t))?);
        }
        if let Some(bound) = func.bound
            && let Err(e) = self.set.check_budget(bound(&argv))
        {
            self.at(node);
            return Err(self.errorf(format!("error calling {name}: {e}")));
        }
        match (func.imp)(self.set, &argv) {
            Ok(v) => {
                // A result that is one of the arguments (`default`, `first`) is not new.
                let shared = argv.iter().any(|a| a.same_object(&v));
                let built = if shared {
                    0
                } else {
                    crate::budget::footprint(&v)
                };
                if let Err(e) = self.set.charge(built) {
                    self.at(node);
                    return Err(self.errorf(format!("error calling {name}: {e}")));
                }
                Ok(v)
            }
            Err(e) => {
                self.at(node);
                Err(self.errorf(format!("error calling {name}: {e}")))
            }
        }
    }

    fn validate_type(&self, v: Value, ty: Option<Ty>) -> R<Value> {
        let Some(ty) = ty else { return Ok(v) };
        if let Value::Nil = v {
            if ty.can_be_nil() {
                return Ok(Value::Nil);
            }
            return Err(self.errorf(format!("invalid value; expected {}", ty.go_name())));
        }
        if !ty.accepts(&v) {
            return Err(self.errorf(format!(
                "wrong type for value; expected {}; got {}",
                ty.go_name(),
                v.type_name()
            )));
        }
        Ok(v)
    }

    fn eval_arg(&mut self, dot: &Value, ty: Option<Ty>, n: &'a Arg) -> R<Value> {
        self.at(At::Arg(n));
        match n {
            Arg::Dot { .. } => return self.validate_type(dot.clone(), ty),
            Arg::Nil { .. } => {
                let t = ty.unwrap_or(Ty::Any);
                if t.can_be_nil() {
                    return Ok(Value::Nil);
                }
                return Err(self.errorf(format!("cannot assign nil to {}", t.go_name())));
            }
            Arg::Field { ident, .. } => {
                let iface = self.dot_iface;
                let v = self.eval_field_chain(
                    dot,
                    dot.clone(),
                    iface,
                    At::Arg(n),
                    ident,
                    Some(std::slice::from_ref(n)),
                    None,
                )?;
                return self.validate_type(v, ty);
            }
            Arg::Variable(var) => {
                let v = self.eval_variable(dot, n, var, None, None)?;
                return self.validate_type(v, ty);
            }
            Arg::Pipe(p) => {
                let v = self.eval_pipeline(dot, p)?;
                return self.validate_type(v, ty);
            }
            Arg::Identifier { name, .. } => {
                let v = self.eval_function(dot, n, name, At::Arg(n), None, None)?;
                return self.validate_type(v, ty);
            }
            Arg::Chain { .. } => {
                let v = self.eval_chain(dot, n, None, None)?;
                return self.validate_type(v, ty);
            }
            _ => {}
        }
        let ty = ty.unwrap_or(Ty::Any);
        match ty {
            Ty::Bool => match n {
                Arg::Bool { val, .. } => Ok(Value::Bool(*val)),
                _ => Err(self.errorf(format!("expected bool; found {n}"))),
            },
            Ty::Float => match n {
                Arg::Number { num, .. } if num.is_float => Ok(Value::Float(num.float)),
                _ => Err(self.errorf(format!("expected float; found {n}"))),
            },
            Ty::Int | Ty::Int64 => match n {
                Arg::Number { num, .. } if num.is_int => Ok(if ty == Ty::Int {
                    Value::Int(num.int)
                } else {
                    Value::Int64(num.int)
                }),
                _ => Err(self.errorf(format!("expected integer; found {n}"))),
            },
            Ty::Uint32 => match n {
                // Go's reflect `SetUint` truncates to the parameter's width.
                Arg::Number { num, .. } if num.is_uint => Ok(Value::Int64(num.uint as u32 as i64)),
                _ => Err(self.errorf(format!("expected unsigned integer; found {n}"))),
            },
            Ty::Any | Ty::Reflect => match n {
                Arg::Bool { val, .. } => Ok(Value::Bool(*val)),
                Arg::Number { .. } => self.ideal_constant(n),
                Arg::String { text, .. } => Ok(Value::str(text)),
                _ => Err(self.errorf(format!(
                    "can't handle assignment of {n} to empty interface argument"
                ))),
            },
            Ty::String => match n {
                Arg::String { text, .. } => Ok(Value::str(text)),
                _ => Err(self.errorf(format!("expected string; found {n}"))),
            },
            _ => Err(self.errorf(format!("can't handle {n} for arg of type {}", ty.go_name()))),
        }
    }
}
