//! Functions whose output is random or depends on the clock, checked by property; and the
//! API the host program uses (template sets shared by host functions, positions in errors).

use gotemplate::{Func, Templates, Ty, Value};

fn render(text: &str) -> String {
    let t = Templates::with_sprig();
    t.parse("t", text).expect("parses");
    t.execute("t", &Value::Nil).expect("executes")
}

#[test]
fn uuidv4_is_a_random_version_4_uuid() {
    let re =
        regex::Regex::new(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
            .expect("regex");
    let a = render("{{ uuidv4 }}");
    let b = render("{{ uuidv4 }}");
    assert!(re.is_match(&a), "{a}");
    assert!(re.is_match(&b), "{b}");
    assert_ne!(a, b);
}

#[test]
fn random_strings_have_the_asked_length_and_alphabet() {
    type Alphabet = fn(char) -> bool;
    let cases: &[(&str, Alphabet)] = &[
        ("randAlphaNum", |c| c.is_ascii_alphanumeric()),
        ("randAlpha", |c| c.is_ascii_alphabetic()),
        ("randNumeric", |c| c.is_ascii_digit()),
        ("randAscii", |c| (' '..='~').contains(&c)),
    ];
    for (f, ok) in cases {
        let out = render(&format!("{{{{ {f} 64 }}}}"));
        assert_eq!(out.chars().count(), 64, "{f}: {out}");
        assert!(out.chars().all(ok), "{f}: {out}");
        assert_ne!(out, render(&format!("{{{{ {f} 64 }}}}")), "{f} repeats");
    }
    assert_eq!(render("{{ randAlpha 0 }}"), "");
    let n: i64 = render("{{ randInt 5 10 }}").parse().expect("int");
    assert!((5..10).contains(&n));
    let shuffled = render(r#"{{ shuffle "abcdef" }}"#);
    let mut c: Vec<char> = shuffled.chars().collect();
    c.sort();
    assert_eq!(c.into_iter().collect::<String>(), "abcdef");
}

#[test]
fn rand_bytes_is_base64_of_that_many_bytes() {
    use base64::Engine;
    let out = render("{{ randBytes 24 }}");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(out)
        .expect("base64");
    assert_eq!(raw.len(), 24);
}

#[test]
fn now_and_date_of_now_follow_the_clock() {
    let year = chrono::Utc::now().format("%Y").to_string();
    assert_eq!(render(r#"{{ now | date "2006" }}"#), year);
    assert_eq!(render(r#"{{ dateInZone "2006" (now) "UTC" }}"#), year);
    let epoch: i64 = render("{{ now | unixEpoch }}").parse().expect("epoch");
    assert!((epoch - chrono::Utc::now().timestamp()).abs() < 60);
    assert_eq!(render("{{ typeOf now }}"), "time.Time");
    assert_eq!(render(r#"{{ ago now }}"#), "0s");
    assert_eq!(render(r#"{{ durationRound now }}"#), "0s");
}

#[test]
fn maps_are_shared_and_changed_in_place() {
    let t = Templates::with_sprig();
    let root = Value::from_json(&serde_json::json!({"x": 1}));
    t.parse(
        "t",
        r#"{{ $_ := set . "y" 2 }}{{ $d := . }}{{ $_ := unset $d "x" }}"#,
    )
    .expect("parses");
    t.execute("t", &root).expect("executes");
    let Value::Map(m) = &root else { panic!("map") };
    assert_eq!(m.keys(), vec!["y".to_string()]);
}

#[test]
fn host_functions_can_include_and_parse_into_the_same_set() {
    let t = Templates::with_sprig();
    t.add_func(
        "include",
        Func::new(&[Ty::String, Ty::Any], |set, a| {
            let name = a[0].as_str().unwrap_or("");
            set.execute(name, &a[1])
                .map(Value::string)
                .map_err(|e| e.to_string())
        }),
    );
    t.add_func(
        "tpl",
        Func::new(&[Ty::String, Ty::Any], |set, a| {
            let text = a[0].as_str().unwrap_or("");
            set.parse("tpl-text", text).map_err(|e| e.to_string())?;
            set.execute("tpl-text", &a[1])
                .map_err(|e| e.to_string())
                .map(Value::string)
        }),
    );
    t.parse(
        "main",
        r#"{{ define "a" }}A{{ . }}{{ end }}{{ include "a" 1 }}|{{ tpl "{{ define \"b\" }}B{{ end }}{{ include \"a\" 2 }}" . }}|{{ include "b" . }}"#,
    )
    .expect("parses");
    assert_eq!(t.execute("main", &Value::Nil).expect("executes"), "A1|A2|B");
}

#[test]
fn runaway_include_recursion_is_an_error_not_a_crash() {
    let t = Templates::with_sprig();
    t.add_func(
        "include",
        Func::new(&[Ty::String, Ty::Any], |set, a| {
            set.execute(a[0].as_str().unwrap_or(""), &a[1])
                .map(Value::string)
                .map_err(|e| e.to_string())
        }),
    );
    t.parse("loop", r#"{{ include "loop" . }}"#)
        .expect("parses");
    let err = t.execute("loop", &Value::Nil).expect_err("recursion stops");
    assert!(
        err.to_string().contains("exceeded maximum template depth"),
        "{err}"
    );
}

#[test]
fn errors_carry_the_line_and_column() {
    let t = Templates::with_sprig();
    t.parse(
        "werf.yaml",
        "a: 1\nb: {{ index .Images \"base\" | quote }}\n",
    )
    .expect("parses");
    let data = Value::from_json(&serde_json::json!({"Images": 3}));
    let err = t.execute("werf.yaml", &data).expect_err("fails");
    assert_eq!(
        err.to_string(),
        "template: werf.yaml:2:6: executing \"werf.yaml\" at <index .Images \"base\">: error calling index: can't index item of type float64"
    );
    assert_eq!(err.line_col, Some((2, 6)));
    let perr = t.parse("x", "\n\n{{ if }}").expect_err("parse error");
    assert_eq!(perr.to_string(), "template: x:3: missing value for if");
}

#[test]
fn function_table_lists_sprig_without_env_and_network() {
    let names = gotemplate::funcs::sprig::names();
    assert!(names.len() > 190, "{}", names.len());
    for absent in ["env", "expandenv", "getHostByName"] {
        assert!(!names.contains(&absent), "{absent}");
    }
    for present in [
        "set",
        "unset",
        "merge",
        "toJson",
        "regexReplaceAll",
        "semverCompare",
        "b64enc",
    ] {
        assert!(names.contains(&present), "{present}");
    }
}

/// The origin of the first occurrence of `needle` in the output.
fn origin_of(out: &str, map: &gotemplate::SourceMap, needle: &str) -> (String, usize, usize, bool) {
    let at = out.find(needle).expect("needle in output");
    let o = map.locate(at).expect("mapped");
    (o.name, o.line, o.col, o.produced)
}

#[test]
fn source_map_points_output_at_template_lines_through_range_template_and_include() {
    let t = Templates::with_sprig();
    t.add_func(
        "include",
        Func::new(&[Ty::String, Ty::Any], |set, a| {
            set.execute(a[0].as_str().unwrap_or(""), &a[1])
                .map(Value::string)
                .map_err(|e| e.to_string())
        }),
    );
    t.parse(
        "part.tmpl",
        "{{ define \"svc\" }}\nname: {{ . }}\nport: 80\n{{- end }}",
    )
    .expect("parse partial");
    t.parse(
        "main",
        "top: 1\n{{- range list \"a\" \"b\" }}\nimage: {{ . }}\n  fixed: x\n{{- end }}\n{{ template \"svc\" \"t\" }}\nnested:{{ include \"svc\" \"n\" | nindent 2 }}\n",
    )
    .expect("parse main");
    let (out, map) = t
        .execute_mapped("main", &Value::empty_map())
        .expect("execute");
    assert_eq!(
        out,
        "top: 1\nimage: a\n  fixed: x\nimage: b\n  fixed: x\n\nname: t\nport: 80\nnested:\n  \n  name: n\n  port: 80\n"
    );
    // Text inside the loop: the template's line 3, every iteration.
    assert_eq!(
        origin_of(&out, &map, "image: b"),
        ("main".into(), 3, 1, false)
    );
    assert_eq!(
        origin_of(&out, &map, "fixed: x\nimage: b"),
        ("main".into(), 4, 3, false)
    );
    // A value printed by an action: the action's position, marked as produced.
    let b = out.find("image: b").expect("b") + "image: ".len();
    let o = map.locate(b).expect("mapped");
    assert_eq!((o.line, o.col, o.produced), (3, 11, true));
    // `template` and a re-indented `include`: the partial's lines.
    assert_eq!(
        origin_of(&out, &map, "name: t"),
        ("part.tmpl".into(), 2, 1, false)
    );
    assert_eq!(
        origin_of(&out, &map, "port: 80\nnested"),
        ("part.tmpl".into(), 3, 1, false)
    );
    assert_eq!(
        origin_of(&out, &map, "name: n"),
        ("part.tmpl".into(), 2, 1, false)
    );
    let last = out.rfind("port: 80").expect("port");
    assert_eq!(
        map.locate(last).map(|o| (o.name, o.line)),
        Some(("part.tmpl".into(), 3))
    );
    // The end of the output maps to the last byte.
    assert!(map.locate(out.len()).is_some());
}
