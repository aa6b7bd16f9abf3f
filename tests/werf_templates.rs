//! werf.yaml templates rendered by Slipway and by Go (the reference renderer in
//! crates/gotemplate/tests/goref in werf mode: Go's text/template, sprig and werf's own
//! functions as werf defines them) must give the same text or the same error.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use slipway::config::render::{RenderInput, render};

struct Case {
    text: &'static str,
    env: &'static str,
    vars: &'static [(&'static str, &'static str)],
    files: &'static [(&'static str, &'static str)],
}

const fn case(text: &'static str) -> Case {
    Case {
        text,
        env: "",
        vars: &[],
        files: &[],
    }
}

fn cases() -> Vec<Case> {
    vec![
        // A Go struct (sprig's certificate) through werf's toYaml: yaml.v2's lower-case keys.
        case(concat!(
            "{{ $c := buildCustomCert \"",
            include_str!("fixtures/templates/cert.b64"),
            "\" \"",
            include_str!("fixtures/templates/key.b64"),
            "\" }}{{ toYaml $c }}\n{{ toYaml (dict \"tls\" $c) }}"
        )),
        case(
            "{{ $_ := set . \"Base\" \"alpine\" }}image: a\nfrom: {{ .Base }}\n---\n{{ $_ := set . \"Base\" \"debian\" }}image: b\nfrom: {{ .Base }}\n",
        ),
        case(
            "{{ $d := dict \"a\" 1 }}{{ $e := $d }}{{ $_ := set $e \"b\" 2 }}{{ $d }} {{ $d | toJson }}",
        ),
        case("{{ $_ := set . \"Tag\" \"v1\" }}{{ required \"Tag is needed\" .Tag }}"),
        case("a: 1\nb: {{ required \"Tag is needed\" .Nope }}"),
        case("a: 1\nb: {{ required \"\" \"\" }}"),
        case("{{ required \"n\" 0 }} {{ required \"l\" (list) }}"),
        Case {
            env: "production",
            ..case("env: {{ .Env }}{{ if eq .Env \"production\" }} prod{{ end }}")
        },
        Case {
            vars: &[("LONG", "feature-branch-name"), ("EMPTY", "")],
            ..case(
                "{{ env \"UNSET_X\" \"dflt\" | trunc 12 | trimSuffix \"-\" }} {{ env \"LONG\" \"d\" | trunc 8 | trimSuffix \"-\" }} [{{ env \"EMPTY\" }}] [{{ env \"EMPTY\" \"e\" }}] [{{ env \"UNSET_Y\" }}]",
            )
        },
        case("{{ env \"A\" \"b\" \"c\" }}"),
        case("{{ env 5 \"five\" }}"),
        case("{{ base \"a/b/Dockerfile\" }} {{ dir \"a/b/Dockerfile\" }} {{ ext \"a/b.tar\" }}"),
        Case {
            files: &[(
                "m.yaml",
                "images:\n  - name: api\n    port: 8080\n  - name: web\n    port: 80\nflag: on\nmode: 0755\n",
            )],
            ..case(
                "{{ $m := .Files.Get \"m.yaml\" | fromYaml }}{{ range $m.images }}{{ .name }}:{{ .port }} {{ end }}{{ $m.mode }} {{ $m.flag }} {{ typeOf $m.mode }}",
            )
        },
        case("{{ fromYaml \"a: [1, 2]\\nb: {c: d}\\n\" }}"),
        case("{{ fromYaml \"\" }}"),
        case(
            "{{ toYaml (dict \"b\" (list 1 \"on\" \"x y\" true) \"a\" (dict \"c\" \"\" \"d\" 1.5) \"e\" (list) \"f\" (dict)) }}",
        ),
        case(
            "{{ toYaml \"s\" }}|{{ toYaml 3 }}|{{ toYaml (list (dict \"a\" 1 \"b\" 2) (list 1 2)) }}",
        ),
        case("{{ $x := list 1 2 }}{{ index $x }}|{{ \"line\\n\" | indent 2 }}|"),
        case(
            "{{ toYaml (dict \"a\" \"x: y\" \"b\" \"#c\" \"c\" \"1.5\" \"d\" \"yes\" \"e\" \"-x\" \"f\" \"a b\" \"g\" \"null\" \"h\" \"~\" \"i\" \"@x\") }}",
        ),
        case(
            "{{ toYaml (dict \"m\" \"line1\\nline2\" \"t\" \"tab\\there\" \"q\" \"it's\" \"d\" \"say \\\"hi\\\"\") }}",
        ),
        case("{{ toYaml (dict \"n\" nil \"f\" 1.0 \"g\" 2.5 \"i\" 10 \"b\" false \"big\" 1e21) }}"),
        case("{{ toYaml (list \"a\" (list) (dict) \"\") }}"),
        case(
            "{{ toYaml (list \"2024-01-01\" \"-\" \"a:\" \" lead\" \"trail \" \"é\" \"0755\" \"1_000\" \"it's: x\" \"a,b\" \"[x]\" \"x#y\" \"x #y\" \"---\" \"0x1F\" \".5\" \"1e3\" \"+1\") }}",
        ),
        case("{{ toYaml (dict \"k\" \"a\\n\\nb\\n\" \"l\" (list \"x\\ny\" \"z\\n\\n\")) }}"),
        case("{{ toYaml (dict \"a b\" 1 \"yes\" 2 \"1\" 3 \"-k\" 4 \"k:\" 5) }}"),
        Case {
            files: &[(
                "v.yaml",
                "a: yes\nb: 1.50\nc: '007'\nd: 2024-01-01\ne: [1, two, {f: null}]\ng: |\n  multi\n  line\n",
            )],
            ..case("{{ $v := .Files.Get \"v.yaml\" | fromYaml }}{{ $v }}|{{ toYaml $v }}")
        },
        Case {
            files: &[("conf/app.txt", "hello {{ .Env }}")],
            env: "dev",
            ..case(
                "{{ $root := . }}{{ range list 1 }}{{ $root.Files.Get \"conf/app.txt\" }}|{{ tpl ($root.Files.Get \"conf/app.txt\") $root }}{{ end }}",
            )
        },
        Case {
            files: &[("conf/app.txt", "x")],
            ..case(
                "{{ .Files.Exists \"conf/app.txt\" }} {{ .Files.Exists \"nope\" }} {{ .Files.IsDir \"conf\" }}",
            )
        },
        case(
            "{{ define \"w\" }}W{{ . }}{{ end }}{{ tpl \"{{ define \\\"t\\\" }}T{{ end }}{{ include \\\"w\\\" 1 }}\" . }}-{{ include \"t\" . }}",
        ),
        case("{{ include \"nope\" . }}"),
        case("{{ define \"x\" }}{{ .a.b }}{{ end }}{{ include \"x\" (dict \"a\" 1) }}"),
        case("{{ .Files.Nope }}"),
        case("{{ .Env | upper | quote }} {{ typeOf .Env }}"),
        case("image: {{ \"[[ not a werf 1.1 go template ]]\" }} [[ .Left ]]"),
        case(
            "{{- range $i, $name := list \"api\" \"web\" }}\n---\nimage: {{ $name }}\ndockerfile: {{ $name }}/Dockerfile\n{{- end }}\n",
        ),
        case(
            "{{ $images := dict }}{{ range list \"a\" \"b\" }}{{ $_ := set $images . (printf \"%s.Dockerfile\" .) }}{{ end }}{{ range $k, $v := $images }}{{ $k }}={{ $v }};{{ end }}",
        ),
    ]
}

pub(crate) fn goref() -> PathBuf {
    let dir = tempfile::tempdir().expect("tmp").keep();
    let bin = dir.join("goref");
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crates/gotemplate/tests/goref");
    let out = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(&src)
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env(
            "GOCACHE",
            std::env::temp_dir().join("gotemplate-goref-gocache"),
        )
        .output()
        .expect("run `go build` (scripts/setup installs golang-go, sprig and yaml.v2)");
    assert!(
        out.status.success(),
        "go build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

fn go_render(bin: &PathBuf, cases: &[Case]) -> Vec<(String, String)> {
    let mut input = String::new();
    for c in cases {
        let files: BTreeMap<&str, &str> = c
            .files
            .iter()
            .copied()
            .filter(|(p, _)| !p.starts_with(".werf/"))
            .collect();
        let partials: BTreeMap<&str, &str> = c
            .files
            .iter()
            .filter_map(|(p, t)| p.strip_prefix(".werf/").map(|p| (p, *t)))
            .collect();
        let vars: BTreeMap<&str, &str> = c.vars.iter().copied().collect();
        let line = serde_json::json!({
            "name": "werf.yaml", "text": c.text, "werf": true, "env": c.env,
            "vars": vars, "files": files, "partials": partials,
        });
        input.push_str(&line.to_string());
        input.push('\n');
    }
    let mut child = Command::new(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("reference renderer");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("output");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            (
                v["out"].as_str().unwrap_or("").to_string(),
                v["err"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn slipway_render(c: &Case) -> Result<String, String> {
    let dir = tempfile::tempdir().expect("tmp");
    let mut partials = Vec::new();
    for (path, text) in c.files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write");
        if path.starts_with(".werf/") {
            partials.push((path.to_string(), text.to_string()));
        }
    }
    let input = RenderInput {
        dir: dir.path().to_path_buf(),
        env: Some(c.env.to_string()),
        partials,
        templates_prefix: None,
        vars: c
            .vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    render("werf.yaml", c.text, &input).map_err(|e| e.message)
}

#[test]
fn werf_templates_render_as_werf_renders_them() {
    let cases = cases();
    let go = go_render(&goref(), &cases);
    assert_eq!(go.len(), cases.len());
    let mut failures = Vec::new();
    for (c, (gout, gerr)) in cases.iter().zip(go) {
        let ours = slipway_render(c);
        let same = match &ours {
            Ok(out) => gerr.is_empty() && *out == gout,
            Err(e) => !gerr.is_empty() && *e == gerr,
        };
        if !same {
            failures.push(format!(
                "{:?}\n  go:      out={gout:?} err={gerr:?}\n  slipway: {ours:?}",
                c.text
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn docs_list_every_template_function() {
    let docs =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/config.md"))
            .expect("docs/config.md");
    let werf = ["env", "required", "include", "tpl", "fromYaml", "toYaml"];
    let builtins = gotemplate::funcs::builtins::names().iter().copied();
    let missing: Vec<&str> = gotemplate::funcs::sprig::names()
        .into_iter()
        .chain(builtins)
        .chain(werf)
        .filter(|n| !docs.contains(&format!("`{n}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/config.md does not list {missing:?}"
    );
}
