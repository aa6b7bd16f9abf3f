//! Rendering werf.yaml as a Go template, the way werf does, with the `gotemplate` engine:
//! all of sprig, werf's own functions (`env` with 1 or 2 arguments, `required`, `include`,
//! `tpl` sharing the template set, `fromYaml`, `toYaml`), `.Files.Get/.Glob/.Exists/.IsDir`
//! confined to the repository, `.Env`, and `.werf/**/*.tmpl` partials registered under their
//! path inside `.werf/` (so `include "go.tmpl"` works).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use gotemplate::{Func, Object, SourceMap, Templates, Ty, Value};

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct RenderError {
    pub file: String,
    pub message: String,
}

/// Why a host function of werf.yaml's templates (`fromYaml`, `.Files`) failed; the
/// template engine reports the text.
#[derive(Debug, thiserror::Error)]
enum FuncError {
    #[error("yaml: {0}")]
    Yaml(serde_saphyr::Error),
    /// `fromYaml` of a document that is not a mapping (its YAML tag).
    #[error(
        "yaml: unmarshal errors:\n  line 1: cannot unmarshal {0} into map[string]interface {{}}"
    )]
    NotAMapping(&'static str),
    #[error("{0}: path is outside the project directory")]
    Outside(String),
    #[error("{0}: resolves (through a symbolic link) outside the repository")]
    LinkOutside(String),
    /// `quoted`: the argument as the template wrote it, Go-quoted.
    #[error("{{{{ .Files.Get {quoted} }}}}: {source}")]
    Get {
        quoted: String,
        source: std::io::Error,
    },
    #[error("{{{{ .Files.Glob {quoted} }}}}: {source}")]
    Pattern {
        quoted: String,
        source: globset::Error,
    },
    #[error("{{{{ .Files.Glob {quoted} }}}}: {rel}: {source}")]
    GlobRead {
        quoted: String,
        rel: String,
        source: std::io::Error,
    },
    #[error("{{{{ .Files.Glob {0} }}}}: no matches found")]
    NoMatches(String),
    /// Reading the file whole would exceed the templates' budget.
    #[error("{}: {source}", path.display())]
    TooLarge {
        path: PathBuf,
        source: gotemplate::budget::OverBudget,
    },
}

/// What templates can read.
#[derive(Debug, Clone, Default)]
pub struct RenderInput {
    /// Project directory (`.Files` paths are relative to it).
    pub dir: PathBuf,
    /// `.Env` (werf's `--env`).
    pub env: Option<String>,
    /// Partials: `.werf/**/*.tmpl` sources, by path relative to `dir`.
    pub partials: Vec<(String, String)>,
    /// The partials' directory as their paths start (`None`: `.werf/`); werf names a
    /// partial by its path inside it (`--config-templates-dir` moves it).
    pub templates_prefix: Option<String>,
    /// Process environment as seen by `env` (a map so tests need not touch the process).
    pub vars: BTreeMap<String, String>,
}

/// Rendered text and where each byte of it came from.
#[derive(Debug, Clone)]
pub struct Rendering {
    pub text: String,
    pub map: SourceMap,
    /// File name for messages of each template parse name (a partial's path under
    /// `.werf/`, a `tpl` text's generated name).
    pub files: BTreeMap<String, String>,
}

/// Render `source` (named `file` in messages).
pub fn render(file: &str, source: &str, input: &RenderInput) -> Result<String, RenderError> {
    render_mapped(file, source, input).map(|r| r.text)
}

/// Render `source` (named `file` in messages) and map the output to the templates' lines.
pub fn render_mapped(
    file: &str,
    source: &str,
    input: &RenderInput,
) -> Result<Rendering, RenderError> {
    let t = Templates::with_sprig();
    let files = Rc::new(RefCell::new(BTreeMap::from([(
        file.to_string(),
        file.to_string(),
    )])));
    let reads: Reads = Rc::default();
    add_werf_funcs(&t, input, &reads, &files);
    for (name, text) in &input.partials {
        // werf names a partial by its path inside `.werf/` (or --config-templates-dir).
        let prefix = input.templates_prefix.as_deref().unwrap_or(".werf/");
        let tname = name.strip_prefix(prefix).unwrap_or(name);
        files.borrow_mut().insert(tname.to_string(), name.clone());
        t.parse(tname, text).map_err(|e| RenderError {
            file: name.clone(),
            message: e.to_string(),
        })?;
    }
    let err = |e: gotemplate::Error| RenderError {
        file: file.to_string(),
        message: e.to_string(),
    };
    t.parse(file, source).map_err(err)?;
    let mut root = BTreeMap::new();
    root.insert(
        "Env".to_string(),
        Value::string(input.env.clone().unwrap_or_default()),
    );
    root.insert(
        "Files".to_string(),
        Value::Object(Rc::new(Files {
            dir: input.dir.clone(),
            root: confinement_root(&input.dir),
            reads,
        })),
    );
    let (text, map) = t.execute_mapped(file, &Value::map(root)).map_err(err)?;
    let files = files.borrow().clone();
    Ok(Rendering { text, map, files })
}

/// Texts `.Files` read, with the path each came from (so a `tpl` of one is named after it).
type Reads = Rc<RefCell<BTreeMap<String, String>>>;

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn add_werf_funcs(
    t: &Templates,
    input: &RenderInput,
    reads: &Reads,
    files: &Rc<RefCell<BTreeMap<String, String>>>,
) {
    let vars = input.vars.clone();
    // werf: env NAME [DEFAULT]; the default also replaces an empty value.
    t.add_func(
        "env",
        Func::variadic(&[Ty::Any], Ty::String, move |_, a| {
            if a.len() > 2 {
                return Err("more than 1 optional argument prohibited".into());
            }
            let name = gotemplate::fmt::sprint_value(&a[0]);
            let fallback = a.get(1).map(|v| s(v).to_string());
            Ok(Value::string(match (vars.get(&name), fallback) {
                (Some(v), Some(f)) if v.is_empty() => f,
                (Some(v), _) => v.clone(),
                (None, Some(f)) => f,
                (None, None) => String::new(),
            }))
        }),
    );
    t.add_func(
        "required",
        Func::new(&[Ty::String, Ty::Any], |_, a| match &a[1] {
            Value::Nil => Err(s(&a[0]).to_string()),
            Value::String(v) if v.is_empty() => Err(s(&a[0]).to_string()),
            v => Ok(v.clone()),
        }),
    );
    t.add_func(
        "include",
        Func::new(&[Ty::String, Ty::Any], |set, a| {
            set.execute(s(&a[0]), &a[1])
                .map(Value::string)
                .map_err(|e| e.to_string())
        }),
    );
    let (reads, files) = (reads.clone(), files.clone());
    t.add_func(
        "tpl",
        Func::new(&[Ty::String, Ty::Any], move |set, a| {
            // werf parses the text into the shared set under a generated name; a name derived
            // from the text keeps error messages stable.
            let name = tpl_name(s(&a[0]));
            let from = reads
                .borrow()
                .get(s(&a[0]))
                .cloned()
                .unwrap_or_else(|| format!("tpl text {name}"));
            files.borrow_mut().insert(name.clone(), from);
            set.parse(&name, s(&a[0])).map_err(|e| e.to_string())?;
            set.execute(&name, &a[1])
                .map(Value::string)
                .map_err(|e| e.to_string())
        }),
    );
    t.add_func(
        "fromYaml",
        Func::new(&[Ty::String], |_, a| {
            from_yaml(s(&a[0])).map_err(|e| e.to_string())
        })
        .bounded(gotemplate::funcs::bounds::parsed),
    );
    t.add_func(
        "toYaml",
        Func::new(&[Ty::Any], |_, a| {
            let mut out = String::new();
            to_yaml(&mut out, &structs_as_maps(&a[0]), 0);
            // werf trims one final newline, as yaml.v2 ends its output with one.
            Ok(Value::string(
                out.strip_suffix('\n').unwrap_or(&out).to_string(),
            ))
        }),
    );
}

fn tpl_name(text: &str) -> String {
    use sha2::Digest;
    let h = hex::encode(sha2::Sha256::digest(text.as_bytes()));
    format!("tpl-{}", &h[..10])
}

/// A decoded YAML/JSON value as the template engine's value (integers stay integers).
pub(crate) fn json_to_value(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::Array(a) => Value::list(a.iter().map(json_to_value).collect()),
        serde_json::Value::Object(o) => Value::map(
            o.iter()
                .map(|(k, v)| (k.clone(), json_to_value(v)))
                .collect(),
        ),
        other => Value::from_json(other),
    }
}

/// werf's `fromYaml`: a mapping (empty text gives an empty one).
fn from_yaml(text: &str) -> Result<Value, FuncError> {
    if text.trim().is_empty() {
        return Ok(Value::empty_map());
    }
    // werf decodes with yaml.v2: YAML 1.1, so `0755` is octal (and `on` is true).
    let mut opts = serde_saphyr::Options::default();
    opts.legacy_octal_numbers = true;
    let j: serde_json::Value =
        serde_saphyr::from_str_with_options(text, opts).map_err(FuncError::Yaml)?;
    match j {
        serde_json::Value::Object(_) => Ok(json_to_value(&j)),
        serde_json::Value::Null => Ok(Value::empty_map()),
        other => Err(FuncError::NotAMapping(match other {
            serde_json::Value::Array(_) => "!!seq",
            serde_json::Value::String(_) => "!!str",
            serde_json::Value::Bool(_) => "!!bool",
            _ => "!!int",
        })),
    }
}

/// Whether yaml.v2 would read this plain text as something other than a string (bool,
/// null, number, timestamp).
fn yaml_resolves_non_string(v: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "~", "null", "Null", "NULL",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN", "<<",
    ];
    if v.is_empty() || WORDS.contains(&v) {
        return true;
    }
    let t = v.strip_prefix(['-', '+']).unwrap_or(v);
    let lower = t.to_ascii_lowercase();
    if let Some(h) = lower.strip_prefix("0x") {
        return !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit() || b == b'_');
    }
    if let Some(b) = lower.strip_prefix("0b") {
        return !b.is_empty() && b.bytes().all(|c| c == b'0' || c == b'1' || c == b'_');
    }
    let digits = t.bytes().filter(u8::is_ascii_digit).count();
    let numeric = digits > 0
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'e' | b'E' | b'-' | b'+'))
        && t.parse::<f64>().is_ok_and(f64::is_finite)
        || digits > 0 && t.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    if numeric {
        return true;
    }
    // Timestamps (2001-12-14, 2001-12-14t21:59:43.10-05:00, …).
    let b = v.as_bytes();
    b.len() >= 8
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && v[5..].split(['T', 't', ' ']).next().is_some_and(|d| {
            let mut parts = d.split('-');
            let m = parts.next().unwrap_or("");
            let day = parts.next().unwrap_or("");
            parts.next().is_none()
                && (1..=2).contains(&m.len())
                && (1..=2).contains(&day.len())
                && m.bytes().chain(day.bytes()).all(|c| c.is_ascii_digit())
        })
}

/// yaml.v2's emitter choice for a string in block context: plain, 'single', "double".
fn yaml_scalar_str(v: &str) -> String {
    let double = || {
        let mut o = String::from("\"");
        for c in v.chars() {
            match c {
                '"' => o.push_str("\\\""),
                '\\' => o.push_str("\\\\"),
                '\t' => o.push_str("\\t"),
                '\n' => o.push_str("\\n"),
                '\r' => o.push_str("\\r"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    o.push_str(&format!("\\x{:02X}", c as u32))
                }
                c => o.push(c),
            }
        }
        o.push('"');
        o
    };
    if yaml_resolves_non_string(v) {
        return double();
    }
    let special = v
        .chars()
        .any(|c| c != '\n' && ((c as u32) < 0x20 || c as u32 == 0x7f || c == '\u{FEFF}'));
    if special {
        return double();
    }
    let b = v.as_bytes();
    let blank_after = |i: usize| i + 1 >= b.len() || b[i + 1] == b' ' || b[i + 1] == b'\t';
    let mut plain =
        !(v.starts_with(' ') || v.ends_with(' ') || v.starts_with("---") || v.starts_with("..."));
    for (i, &c) in b.iter().enumerate() {
        let indicator = if i == 0 {
            match c {
                b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>'
                | b'\'' | b'"' | b'%' | b'@' | b'`' => true,
                b'?' | b':' | b'-' => blank_after(i),
                _ => false,
            }
        } else {
            match c {
                b':' => blank_after(i),
                b'#' => b[i - 1] == b' ',
                _ => false,
            }
        };
        if indicator {
            plain = false;
        }
    }
    if plain {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "''"))
    }
}

/// A multi-line string as yaml.v2 writes it: a literal block.
fn yaml_literal(v: &str, indent: usize) -> String {
    let chomp = if !v.ends_with('\n') {
        "-"
    } else if v.ends_with("\n\n") {
        "+"
    } else {
        ""
    };
    let pad = " ".repeat(indent);
    let body = v.strip_suffix('\n').unwrap_or(v);
    let mut o = format!("|{chomp}\n");
    for line in body.split('\n') {
        if !line.is_empty() {
            o.push_str(&pad);
            o.push_str(line);
        }
        o.push('\n');
    }
    o
}

/// Go structs (sprig's certificate: `Cert`, `Key`) as yaml.v2 writes them: a mapping whose
/// keys are the field names in lower case.
fn structs_as_maps(v: &Value) -> Value {
    match v {
        Value::Object(o) if !o.fields().is_empty() => Value::map(
            o.fields()
                .into_iter()
                .map(|(k, e)| (k.to_lowercase(), structs_as_maps(&e)))
                .collect(),
        ),
        Value::Map(m) => Value::map(
            m.entries
                .borrow()
                .iter()
                .map(|(k, e)| (k.clone(), structs_as_maps(e)))
                .collect(),
        ),
        Value::List(l) => Value::list(l.items.borrow().iter().map(structs_as_maps).collect()),
        other => other.clone(),
    }
}

/// A yaml.v2-style block rendering (`toYaml`): sorted keys, lists not indented under keys.
fn to_yaml(out: &mut String, v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    let scalar = |out: &mut String, e: &Value, indent: usize| match e {
        Value::String(s) if s.contains('\n') && !yaml_resolves_non_string(s) => {
            out.push(' ');
            out.push_str(&yaml_literal(s, indent + 2));
        }
        _ => {
            out.push(' ');
            out.push_str(&yaml_scalar(e));
            out.push('\n');
        }
    };
    match v {
        Value::Map(m) if !m.is_empty() => {
            for (k, e) in m.entries.borrow().iter() {
                out.push_str(&pad);
                out.push_str(&yaml_scalar_str(k));
                out.push(':');
                match e {
                    Value::Map(x) if !x.is_empty() => {
                        out.push('\n');
                        to_yaml(out, e, indent + 2);
                    }
                    Value::List(x) if !x.is_empty() => {
                        out.push('\n');
                        to_yaml(out, e, indent);
                    }
                    _ => scalar(out, e, indent),
                }
            }
        }
        Value::List(l) if !l.is_empty() => {
            for e in l.items.borrow().iter() {
                out.push_str(&pad);
                out.push('-');
                match e {
                    Value::Map(x) if !x.is_empty() => {
                        let mut inner = String::new();
                        to_yaml(&mut inner, e, indent + 2);
                        out.push(' ');
                        out.push_str(inner.trim_start());
                    }
                    Value::List(x) if !x.is_empty() => {
                        let mut inner = String::new();
                        to_yaml(&mut inner, e, indent + 2);
                        out.push(' ');
                        out.push_str(inner.trim_start());
                    }
                    _ => scalar(out, e, indent),
                }
            }
        }
        Value::String(s) if s.contains('\n') && !yaml_resolves_non_string(s) => {
            out.push_str(&yaml_literal(s, indent + 2));
        }
        other => {
            out.push_str(&yaml_scalar(other));
            out.push('\n');
        }
    }
}

fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::Nil => "null".into(),
        Value::String(s) => yaml_scalar_str(s),
        Value::Map(_) => "{}".into(),
        Value::List(_) => "[]".into(),
        Value::Float(f) => yaml_float(*f),
        other => gotemplate::fmt::sprint_value(other),
    }
}

/// yaml.v2 writes floats with strconv 'g' and -1 precision.
fn yaml_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    gotemplate::fmt::format_float(f, 'g', -1)
}

/// Where `.Files` may read: the git work tree holding the project (werf allows `../`
/// inside the repository), else the project directory.
fn confinement_root(dir: &Path) -> PathBuf {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut cur = Some(dir.as_path());
    while let Some(d) = cur {
        if d.join(".git").exists() {
            return d.to_path_buf();
        }
        cur = d.parent();
    }
    dir
}

/// werf's `.Files`: reads files of the repository, never outside it (also not through a
/// symbolic link that points out of it).
#[derive(Debug)]
struct Files {
    dir: PathBuf,
    root: PathBuf,
    reads: Reads,
}

impl Files {
    /// The path of `rel` if it stays inside the repository.
    fn confined(&self, rel: &str) -> Result<PathBuf, FuncError> {
        // werf 1.1 and 2 join every path to the project directory: `/x` is `x` there.
        let p = Path::new(rel.trim_start_matches('/'));
        let base = self.dir.canonicalize().unwrap_or_else(|_| self.dir.clone());
        let joined = base.join(p);
        // Lexically first (the path may not exist), then after resolving links.
        let mut norm = PathBuf::new();
        for c in joined.components() {
            match c {
                Component::ParentDir => {
                    norm.pop();
                }
                Component::CurDir => {}
                other => norm.push(other.as_os_str()),
            }
        }
        if !norm.starts_with(&self.root) {
            return Err(FuncError::Outside(rel.to_string()));
        }
        if let Ok(real) = joined.canonicalize()
            && !real.starts_with(&self.root)
        {
            return Err(FuncError::LinkOutside(rel.to_string()));
        }
        Ok(joined)
    }

    fn get(&self, set: &Templates, rel: &str) -> Result<Value, FuncError> {
        let p = self.confined(rel)?;
        fits(set, &p)?;
        let text = std::fs::read_to_string(&p).map_err(|source| FuncError::Get {
            quoted: gotemplate::fmt::quote(rel),
            source,
        })?;
        self.reads
            .borrow_mut()
            .insert(text.clone(), rel.to_string());
        Ok(Value::string(text))
    }

    fn glob(&self, set: &Templates, written: &str) -> Result<Value, FuncError> {
        // Keys are project-relative without the `/`, as werf gives them.
        let pattern = written.trim_start_matches('/');
        self.confined(pattern)?;
        let glob = globset::GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|source| FuncError::Pattern {
                quoted: gotemplate::fmt::quote(written),
                source,
            })?
            .compile_matcher();
        let mut m = BTreeMap::new();
        for entry in walkdir::WalkDir::new(&self.dir)
            .into_iter()
            .filter_entry(|e| e.file_name() != ".git")
            .filter_map(Result::ok)
        {
            if !entry.file_type().is_file() {
                continue;
            }
            let Ok(rel) = entry.path().strip_prefix(&self.dir) else {
                continue;
            };
            let rel = rel.to_string_lossy().to_string();
            if glob.is_match(&rel) {
                self.confined(&rel)?;
                fits(set, entry.path())?;
                let text = std::fs::read_to_string(entry.path()).map_err(|source| {
                    FuncError::GlobRead {
                        quoted: gotemplate::fmt::quote(written),
                        rel: rel.clone(),
                        source,
                    }
                })?;
                self.reads.borrow_mut().insert(text.clone(), rel.clone());
                m.insert(rel, Value::string(text));
            }
        }
        if m.is_empty() {
            return Err(FuncError::NoMatches(gotemplate::fmt::quote(written)));
        }
        Ok(Value::map(m))
    }
}

/// Whether a file read whole would fit the templates' budget (a repository may hold files
/// far larger than memory).
fn fits(set: &Templates, path: &Path) -> Result<(), FuncError> {
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    set.check_budget(usize::try_from(len).unwrap_or(usize::MAX))
        .map_err(|source| FuncError::TooLarge {
            path: path.to_path_buf(),
            source,
        })
}

impl Object for Files {
    fn type_name(&self) -> String {
        "config.files".into()
    }

    fn method(&self, name: &str) -> Option<Func> {
        let me = Files {
            dir: self.dir.clone(),
            root: self.root.clone(),
            reads: self.reads.clone(),
        };
        Some(match name {
            // The engine's host functions answer with the message (gotemplate's `Func`).
            "Get" => Func::new(&[Ty::String], move |set, a| {
                me.get(set, s(&a[0])).map_err(|e| e.to_string())
            }),
            "Glob" => Func::new(&[Ty::String], move |set, a| {
                me.glob(set, s(&a[0])).map_err(|e| e.to_string())
            }),
            "Exists" => Func::new(&[Ty::String], move |_, a| {
                let p = me.confined(s(&a[0])).map_err(|e| e.to_string())?;
                Ok(Value::Bool(p.exists()))
            }),
            "IsDir" => Func::new(&[Ty::String], move |_, a| {
                let p = me.confined(s(&a[0])).map_err(|e| e.to_string())?;
                Ok(Value::Bool(p.is_dir()))
            }),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(dir: &Path) -> RenderInput {
        RenderInput {
            dir: dir.to_path_buf(),
            env: Some("production".into()),
            partials: vec![(
                ".werf/names.tmpl".into(),
                r#"{{ define "name" }}app-{{ . }}{{ end }}"#.into(),
            )],
            vars: [("REGISTRY".to_string(), "r.example".to_string())].into(),
            templates_prefix: None,
        }
    }

    #[test]
    fn werf_constructs_render_like_werf() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("conf")).expect("mkdir");
        std::fs::write(dir.path().join("conf/a.txt"), "A: {{ .Env }}").expect("write");
        std::fs::write(dir.path().join("conf/b.txt"), "B").expect("write");
        let src = r#"{{- $_ := set . "ProjectName" "shop" }}
{{- $reg := env "REGISTRY" }}
project: {{ .ProjectName }}
root: {{ $.ProjectName }}
missing: "{{ env "NOPE" }}"
defaulted: {{ env "NOPE" "dflt" }}
piped: {{ "x" | upper | quote }}
{{- if eq .Env "production" }}
mode: prod
{{- else }}
mode: dev
{{- end }}
{{- if or (ne $reg "") (not true) }}
reg: {{ $reg }}
{{- end }}
name: {{ include "name" "web" }}
tpl: {{ tpl (.Files.Get "conf/a.txt") $ }}
{{- range $path, $content := .Files.Glob "conf/*.txt" }}
file: {{ $path }}={{ $content | len }}
{{- end }}
# a {{ "comment" }} is rendered too
"#;
        let out = render("werf.yaml", src, &input(dir.path())).expect("render");
        assert_eq!(
            out,
            "\nproject: shop\nroot: shop\nmissing: \"\"\ndefaulted: dflt\npiped: \"X\"\nmode: prod\nreg: r.example\nname: app-web\ntpl: A: production\nfile: conf/a.txt=13\nfile: conf/b.txt=1\n# a comment is rendered too\n"
        );
    }

    #[test]
    fn files_outside_the_project_are_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let err = render(
            "werf.yaml",
            r#"{{ .Files.Get "../etc/passwd" }}"#,
            &input(dir.path()),
        )
        .expect_err("must fail");
        assert!(err.message.contains("outside the project"), "{err}");
    }

    #[test]
    fn a_leading_slash_is_the_project_directory() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("conf")).expect("mkdir");
        std::fs::write(dir.path().join("conf/a.txt"), "A").expect("write");
        let src = r#"{{ .Files.Get "/conf/a.txt" }} {{ .Files.Exists "/conf/a.txt" }} {{ .Files.IsDir "/conf" }}{{ range $k, $v := .Files.Glob "/conf/*.txt" }} {{ $k }}={{ $v }}{{ end }}"#;
        let out = render("werf.yaml", src, &input(dir.path())).expect("render");
        assert_eq!(out, "A true true conf/a.txt=A");
        let err = render(
            "werf.yaml",
            r#"{{ .Files.Get "/../etc/passwd" }}"#,
            &input(dir.path()),
        )
        .expect_err("still confined");
        assert!(err.message.contains("outside the project"), "{err}");
    }

    #[test]
    fn template_syntax_errors_are_located() {
        let dir = tempfile::tempdir().expect("tmp");
        let err = render("werf.yaml", "a: 1\nb: {{ .X ", &input(dir.path())).expect_err("fail");
        assert!(err.to_string().contains("werf.yaml:2:"), "{err}");
    }
}
