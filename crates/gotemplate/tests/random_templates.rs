//! Random templates (a grammar of Go template constructs and common functions over fixed
//! data) rendered by Go's text/template with sprig and by this crate: output and error
//! text must be equal.

mod support;

use proptest::prelude::*;
use support::{Case, go_render, rust_render};

const DATA: &str = r#"{"a":"x","n":3,"f":2.5,"z":0,"e":"","t":true,"l":[1,"b",null,{"k":"v"}],"m":{"k":"v","n":1,"o":{"p":[2,3]}},"s":["q","r"]}"#;

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(".a".to_string()),
        Just(".n".to_string()),
        Just(".f".to_string()),
        Just(".z".to_string()),
        Just(".e".to_string()),
        Just(".t".to_string()),
        Just(".l".to_string()),
        Just(".m".to_string()),
        Just(".m.o".to_string()),
        Just(".m.o.p".to_string()),
        Just(".s".to_string()),
        Just(".missing".to_string()),
        Just("$".to_string()),
        Just(".".to_string()),
        Just("1".to_string()),
        Just("0".to_string()),
        Just("-2".to_string()),
        Just("2.5".to_string()),
        Just("1e3".to_string()),
        Just("\"str\"".to_string()),
        Just("\"\"".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        Just("nil".to_string()),
    ]
}

fn expr() -> impl Strategy<Value = String> {
    leaf().prop_recursive(3, 24, 3, |inner| {
        let one: &'static [&'static str] = &[
            "len",
            "not",
            "upper",
            "toString",
            "quote",
            "toJson",
            "empty",
            "first",
            "typeOf",
            "kindOf",
            "int",
            "float64",
            "b64enc",
            "trim",
            "default \"d\"",
            "list",
            "html",
            "print",
            "toStrings",
            "add1",
            "trunc 2",
            "len",
        ];
        let two: &'static [&'static str] = &[
            "add",
            "sub",
            "mul",
            "eq",
            "ne",
            "lt",
            "and",
            "or",
            "index",
            "print",
            "printf \"%v-%d\"",
            "list",
            "dict \"k\"",
            "default",
            "coalesce",
            "hasKey",
            "has",
            "join \",\"",
            "max",
            "min",
            "append",
            "ternary",
            "contains",
            "cat",
            "printf \"%s|%q\"",
            "pluck \"k\"",
            "get",
        ];
        prop_oneof![
            (prop::sample::select(one), inner.clone()).prop_map(|(f, a)| format!("({f} {a})")),
            (prop::sample::select(two), inner.clone(), inner.clone())
                .prop_map(|(f, a, b)| format!("({f} {a} {b})")),
            (
                inner.clone(),
                prop::sample::select(&["upper", "len", "quote", "toString", "default 5"][..])
            )
                .prop_map(|(a, f)| format!("({a} | {f})")),
            inner,
        ]
    })
}

fn body() -> impl Strategy<Value = String> {
    let leaf_node = prop_oneof![
        Just("a ".to_string()),
        Just("\n".to_string()),
        Just("  ".to_string()),
        Just("-".to_string()),
        expr().prop_map(|e| format!("{{{{ {e} }}}}")),
        expr().prop_map(|e| format!("{{{{- {e} -}}}}")),
        expr().prop_map(|e| format!("{{{{ $v := {e} }}}}{{{{ $v }}}}")),
        Just("{{/* c */}}".to_string()),
    ];
    leaf_node.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(|v| v.concat()),
            (expr(), inner.clone(), inner.clone())
                .prop_map(|(c, a, b)| format!("{{{{ if {c} }}}}{a}{{{{ else }}}}{b}{{{{ end }}}}")),
            (expr(), inner.clone()).prop_map(|(c, a)| format!("{{{{ with {c} }}}}{a}{{{{ end }}}}")),
            (expr(), inner.clone(), inner.clone()).prop_map(|(c, a, b)| format!(
                "{{{{ range $i, $e := {c} }}}}{{{{ $i }}}}={{{{ $e }}}}{a}{{{{ else }}}}{b}{{{{ end }}}}"
            )),
            (expr(), inner.clone()).prop_map(|(c, a)| format!(
                "{{{{ range {c} }}}}{a}{{{{ if . }}}}{{{{ break }}}}{{{{ end }}}}{{{{ end }}}}"
            )),
            (expr(), inner).prop_map(|(c, a)| format!(
                "{{{{ define \"d\" }}}}[{{{{ . }}}}]{a}{{{{ end }}}}{{{{ template \"d\" {c} }}}}"
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn random_templates_render_as_go_renders_them(text in body()) {
        let case = Case {
            text: text.clone(),
            data: DATA.to_string(),
            missingkey: String::new(),
            differs: None,
            line: 0,
        };
        let go = go_render(std::slice::from_ref(&case)).remove(0);
        let rust = rust_render(&case);
        if go.err.is_empty() {
            prop_assert_eq!(&rust.err, "", "template {:?}", text);
            prop_assert_eq!(&rust.out, &go.out, "template {:?}", text);
        } else {
            prop_assert_eq!(&rust.err, &go.err, "template {:?}", text);
        }
    }
}

/// Text made of template syntax: parsing and executing it never panics (the stable
/// counterpart of fuzz/fuzz_targets/gotemplate.rs).
fn template_soup() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(
        &[
            "{{", "}}", "{{-", "-}}", " ", "\n", "/*", "*/", "$", "$x", ":=", "=", ".", ".a",
            ".m.o", "|", "(", ")", "\"s\"", "`r`", "'c'", "1", "-2", "0x1F", "1.5e3", "if", "else",
            "end", "range", "with", "define", "template", "block", "break", "continue", "nil",
            "true", ",", "len", "index", "print", "printf", "\"%v\"", "set", "dict", "list",
            "default", "toJson", "include", "é", "\\",
        ][..],
    );
    prop::collection::vec(pieces, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn arbitrary_template_text_never_panics(text in template_soup()) {
        let t = gotemplate::Templates::with_sprig();
        if t.parse("t", &text).is_ok() {
            let data = gotemplate::Value::from_json(&serde_json::from_str(DATA).expect("data"));
            let _ = t.execute("t", &data);
        }
    }
}
