//! Rendering werf.yaml as a Go template, the way werf does: `env`, a sprig subset, `set`
//! on the root context, `include`/`define` (also from `.werf/**/*.tmpl`), `tpl`, and
//! `.Files.Get` / `.Files.Glob` confined to the project directory.
//!
//! gotmpl has no sprig and no method calls, so the functions are written here (sprig is a Go
//! library; there is no Rust crate of it for gotmpl).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine;
use gotmpl::{Template, TemplateError, Value};

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct RenderError {
    pub file: String,
    pub message: String,
}

/// What templates can read.
#[derive(Debug, Clone, Default)]
pub struct RenderInput {
    /// Project directory (`.Files` reads only inside it).
    pub dir: PathBuf,
    /// `.Env` (werf's `--env`).
    pub env: Option<String>,
    /// Partials: `.werf/**/*.tmpl` sources, by path relative to `dir`.
    pub partials: Vec<(String, String)>,
    /// Process environment as seen by `env` (a map so tests need not touch the process).
    pub vars: BTreeMap<String, String>,
}

/// Render `source` (named `file` in messages).
pub fn render(file: &str, source: &str, input: &RenderInput) -> Result<String, RenderError> {
    let sets: Arc<Mutex<BTreeMap<String, Value>>> = Arc::new(Mutex::new(BTreeMap::new()));
    // `set . "K" v` cannot change gotmpl's immutable root map; record the keys and render
    // again with them in the root until nothing new is set.
    let mut known: BTreeMap<String, Value> = BTreeMap::new();
    for _ in 0..8 {
        let root = root_value(input, &known);
        let out = render_once(file, source, input, &sets, &root)?;
        let recorded = sets.lock().map(|s| s.clone()).unwrap_or_default();
        let changed = recorded
            .iter()
            .any(|(k, v)| known.get(k).map(|o| o.to_string()) != Some(v.to_string()));
        if !changed {
            return Ok(out);
        }
        known.extend(recorded);
    }
    Err(RenderError {
        file: file.to_string(),
        message: "values set with `set` keep changing between renders".to_string(),
    })
}

fn root_value(input: &RenderInput, known: &BTreeMap<String, Value>) -> Value {
    let mut m: BTreeMap<Arc<str>, Value> = BTreeMap::new();
    m.insert(
        "Env".into(),
        Value::String(input.env.clone().unwrap_or_default().into()),
    );
    m.insert("Files".into(), Value::Map(Arc::new(BTreeMap::new())));
    for (k, v) in known {
        m.insert(k.as_str().into(), v.clone());
    }
    Value::Map(Arc::new(m))
}

/// gotmpl cannot call methods, so `.Files.Get` / `$.Files.Glob` become functions.
fn rewrite_files_calls(source: &str) -> String {
    source
        .replace("$.Files.Get", "files_get")
        .replace("$.Files.Glob", "files_glob")
        .replace(".Files.Get", "files_get")
        .replace(".Files.Glob", "files_glob")
}

type Shared = Arc<OnceLock<Template>>;

fn render_once(
    file: &str,
    source: &str,
    input: &RenderInput,
    sets: &Arc<Mutex<BTreeMap<String, Value>>>,
    root: &Value,
) -> Result<String, RenderError> {
    let err = |e: TemplateError| RenderError {
        file: file.to_string(),
        message: e.to_string(),
    };
    let shared: Shared = Arc::new(OnceLock::new());
    let mut tmpl = with_funcs(Template::new(file), input, sets, &shared);
    for (name, text) in &input.partials {
        tmpl = tmpl
            .parse(&rewrite_files_calls(text))
            .map_err(|e| RenderError {
                file: name.clone(),
                message: e.to_string(),
            })?;
    }
    let tmpl = tmpl.parse(&rewrite_files_calls(source)).map_err(err)?;
    let tmpl = shared.get_or_init(|| tmpl);
    tmpl.execute_to_string(root).map_err(err)
}

fn s(v: &Value) -> String {
    match v {
        Value::Nil => String::new(),
        other => other.to_string(),
    }
}

fn string(v: impl Into<String>) -> Value {
    Value::String(v.into().into())
}

fn exec_err(msg: impl Into<String>) -> TemplateError {
    TemplateError::Exec(msg.into())
}

fn arg(args: &[Value], i: usize, name: &str) -> Result<Value, TemplateError> {
    args.get(i)
        .cloned()
        .ok_or_else(|| exec_err(format!("{name}: missing argument {}", i + 1)))
}

/// A path inside `dir`, or an error: templates must not read outside the project.
fn confined(dir: &Path, rel: &str) -> Result<PathBuf, TemplateError> {
    let p = Path::new(rel);
    let escapes = p.is_absolute()
        || p.components()
            .try_fold(0i32, |depth, c| match c {
                Component::ParentDir if depth == 0 => None,
                Component::ParentDir => Some(depth - 1),
                Component::Normal(_) => Some(depth + 1),
                _ => Some(depth),
            })
            .is_none();
    if escapes {
        return Err(exec_err(format!(
            "{rel}: path is outside the project directory"
        )));
    }
    Ok(dir.join(p))
}

fn with_funcs(
    t: Template,
    input: &RenderInput,
    sets: &Arc<Mutex<BTreeMap<String, Value>>>,
    shared: &Shared,
) -> Template {
    let vars = input.vars.clone();
    let dir = input.dir.clone();
    let dir2 = input.dir.clone();
    let sets = sets.clone();
    // Weak: the template owns this closure, a strong reference would be a cycle (a leak the
    // fuzzer found).
    let inc = Arc::downgrade(shared);
    let tpl_input = input.clone();
    let tpl_sets = sets.clone();
    t.func("env", move |a| {
        let name = s(&arg(a, 0, "env")?);
        Ok(match vars.get(&name) {
            Some(v) if !v.is_empty() => string(v.clone()),
            _ => a.get(1).cloned().unwrap_or_else(|| string("")),
        })
    })
    .func("default", |a| {
        let d = arg(a, 0, "default")?;
        Ok(match a.get(1) {
            Some(v) if v.is_truthy() => v.clone(),
            _ => d,
        })
    })
    .func("required", |a| {
        let msg = s(&arg(a, 0, "required")?);
        match a.get(1) {
            Some(v) if v.is_truthy() => Ok(v.clone()),
            _ => Err(exec_err(msg)),
        }
    })
    .func("quote", |a| {
        Ok(string(
            a.iter()
                .map(|v| format!("{:?}", s(v)))
                .collect::<Vec<_>>()
                .join(" "),
        ))
    })
    .func("squote", |a| {
        Ok(string(
            a.iter()
                .map(|v| format!("'{}'", s(v)))
                .collect::<Vec<_>>()
                .join(" "),
        ))
    })
    .func("set", move |a| {
        let dict = arg(a, 0, "set")?;
        let key = s(&arg(a, 1, "set")?);
        let val = arg(a, 2, "set")?;
        let mut m = match dict {
            Value::Map(m) => (*m).clone(),
            _ => BTreeMap::new(),
        };
        if let Ok(mut rec) = sets.lock() {
            rec.insert(key.clone(), val.clone());
        }
        m.insert(key.as_str().into(), val);
        Ok(Value::Map(Arc::new(m)))
    })
    .func("dict", |a| {
        let mut m = BTreeMap::new();
        for pair in a.chunks(2) {
            m.insert(
                s(&pair[0]).as_str().into(),
                pair.get(1).cloned().unwrap_or(Value::Nil),
            );
        }
        Ok(Value::Map(Arc::new(m)))
    })
    .func("list", |a| Ok(Value::List(a.to_vec().into())))
    .func("get", |a| {
        let key = s(&arg(a, 1, "get")?);
        Ok(match arg(a, 0, "get")? {
            Value::Map(m) => m.get(key.as_str()).cloned().unwrap_or_else(|| string("")),
            _ => string(""),
        })
    })
    .func("hasKey", |a| {
        let key = s(&arg(a, 1, "hasKey")?);
        Ok(Value::Bool(match arg(a, 0, "hasKey")? {
            Value::Map(m) => m.contains_key(key.as_str()),
            _ => false,
        }))
    })
    .func("empty", |a| {
        Ok(Value::Bool(!a.first().is_some_and(Value::is_truthy)))
    })
    .func("ternary", |a| {
        let c = arg(a, 2, "ternary")?;
        if c.is_truthy() {
            arg(a, 0, "ternary")
        } else {
            arg(a, 1, "ternary")
        }
    })
    .func("lower", |a| {
        Ok(string(s(&arg(a, 0, "lower")?).to_lowercase()))
    })
    .func("upper", |a| {
        Ok(string(s(&arg(a, 0, "upper")?).to_uppercase()))
    })
    .func("trim", |a| Ok(string(s(&arg(a, 0, "trim")?).trim())))
    .func("trimSuffix", |a| {
        let suf = s(&arg(a, 0, "trimSuffix")?);
        let v = s(&arg(a, 1, "trimSuffix")?);
        Ok(string(v.strip_suffix(&suf).unwrap_or(&v)))
    })
    .func("trimPrefix", |a| {
        let pre = s(&arg(a, 0, "trimPrefix")?);
        let v = s(&arg(a, 1, "trimPrefix")?);
        Ok(string(v.strip_prefix(&pre).unwrap_or(&v)))
    })
    .func("replace", |a| {
        let old = s(&arg(a, 0, "replace")?);
        let new = s(&arg(a, 1, "replace")?);
        Ok(string(s(&arg(a, 2, "replace")?).replace(&old, &new)))
    })
    .func("contains", |a| {
        let sub = s(&arg(a, 0, "contains")?);
        Ok(Value::Bool(s(&arg(a, 1, "contains")?).contains(&sub)))
    })
    .func("hasPrefix", |a| {
        let p = s(&arg(a, 0, "hasPrefix")?);
        Ok(Value::Bool(s(&arg(a, 1, "hasPrefix")?).starts_with(&p)))
    })
    .func("hasSuffix", |a| {
        let p = s(&arg(a, 0, "hasSuffix")?);
        Ok(Value::Bool(s(&arg(a, 1, "hasSuffix")?).ends_with(&p)))
    })
    .func("toString", |a| Ok(string(s(&arg(a, 0, "toString")?))))
    .func("join", |a| {
        let sep = s(&arg(a, 0, "join")?);
        Ok(string(match arg(a, 1, "join")? {
            Value::List(l) => l.iter().map(s).collect::<Vec<_>>().join(&sep),
            other => s(&other),
        }))
    })
    .func("splitList", |a| {
        let sep = s(&arg(a, 0, "splitList")?);
        let v = s(&arg(a, 1, "splitList")?);
        Ok(Value::List(
            v.split(sep.as_str()).map(string).collect::<Vec<_>>().into(),
        ))
    })
    .func("indent", |a| {
        let n = arg(a, 0, "indent")?.as_int().unwrap_or(0).max(0) as usize;
        Ok(string(indent(&s(&arg(a, 1, "indent")?), n)))
    })
    .func("nindent", |a| {
        let n = arg(a, 0, "nindent")?.as_int().unwrap_or(0).max(0) as usize;
        Ok(string(format!(
            "\n{}",
            indent(&s(&arg(a, 1, "nindent")?), n)
        )))
    })
    .func("b64enc", |a| {
        Ok(string(
            base64::engine::general_purpose::STANDARD.encode(s(&arg(a, 0, "b64enc")?)),
        ))
    })
    .func("sha256sum", |a| {
        use sha2::Digest;
        Ok(string(hex::encode(sha2::Sha256::digest(
            s(&arg(a, 0, "sha256sum")?).as_bytes(),
        ))))
    })
    .func("include", move |a| {
        let name = s(&arg(a, 0, "include")?);
        let data = a.get(1).cloned().unwrap_or(Value::Nil);
        let shared = inc
            .upgrade()
            .ok_or_else(|| exec_err("include: templates are gone"))?;
        let t = shared
            .get()
            .ok_or_else(|| exec_err("include: templates are not ready"))?;
        t.execute_template_to_string(&name, &data)
            .map(string)
            .map_err(|e| exec_err(format!("include {name:?}: {e}")))
    })
    .func("tpl", move |a| {
        let text = s(&arg(a, 0, "tpl")?);
        let data = a.get(1).cloned().unwrap_or(Value::Nil);
        render_once("tpl", &text, &tpl_input, &tpl_sets, &data)
            .map(string)
            .map_err(|e| exec_err(format!("tpl: {}", e.message)))
    })
    .func("files_get", move |a| {
        let rel = s(&arg(a, 0, ".Files.Get")?);
        let p = confined(&dir, &rel)?;
        std::fs::read_to_string(&p)
            .map(string)
            .map_err(|e| exec_err(format!(".Files.Get {rel}: {e}")))
    })
    .func("files_glob", move |a| {
        let pattern = s(&arg(a, 0, ".Files.Glob")?);
        confined(&dir2, &pattern)?;
        let glob = globset::Glob::new(&pattern)
            .map_err(|e| exec_err(format!(".Files.Glob {pattern}: {e}")))?
            .compile_matcher();
        let mut m = BTreeMap::new();
        for entry in walkdir::WalkDir::new(&dir2)
            .into_iter()
            .filter_map(Result::ok)
        {
            if !entry.file_type().is_file() {
                continue;
            }
            let Ok(rel) = entry.path().strip_prefix(&dir2) else {
                continue;
            };
            let rel = rel.to_string_lossy().to_string();
            if glob.is_match(&rel) {
                let text = std::fs::read_to_string(entry.path())
                    .map_err(|e| exec_err(format!(".Files.Glob {rel}: {e}")))?;
                m.insert(rel.as_str().into(), string(text));
            }
        }
        Ok(Value::Map(Arc::new(m)))
    })
}

fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
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
    fn template_syntax_errors_are_located() {
        let dir = tempfile::tempdir().expect("tmp");
        let err = render("werf.yaml", "a: 1\nb: {{ .X ", &input(dir.path())).expect_err("fail");
        assert!(err.to_string().contains("werf.yaml:2:"), "{err}");
    }
}
