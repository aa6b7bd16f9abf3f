//! The set's memory budget: templates that would build more than it allows end with an
//! error naming the template, line and what overflowed, quickly and without allocating it.

use std::time::{Duration, Instant};

use gotemplate::{DEFAULT_BUDGET, Templates, Value};

/// Renders `text` as template "t.yaml"; the error text, and how long it took.
fn run(text: &str) -> (Result<String, String>, Duration) {
    let t = Templates::with_sprig();
    let start = Instant::now();
    let r = t
        .parse("t.yaml", text)
        .and_then(|()| t.execute("t.yaml", &Value::Nil))
        .map_err(|e| e.to_string());
    (r, start.elapsed())
}

fn over_budget(text: &str, at: &str, func: &str) {
    let (r, took) = run(text);
    let err = r.expect_err("must exceed the budget");
    assert!(err.starts_with(&format!("template: t.yaml:{at}")), "{err}");
    assert!(err.contains(func), "{err}");
    assert!(err.contains("over the budget of 64 MiB"), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn repeat_bomb_is_refused_before_it_allocates() {
    over_budget(
        "a: 1\nb: {{ repeat 100000000000 \"xxxxxxxx\" }}\n",
        "2:6:",
        "error calling repeat: this would take what the templates build (output, strings and lists) to 745.1 GiB",
    );
}

#[test]
fn until_and_seq_bombs_are_refused() {
    over_budget(
        "{{ range until 100000000000 }}x{{ end }}",
        "1:9:",
        "error calling until",
    );
    over_budget(
        "{{ range untilStep 0 100000000000 1 }}x{{ end }}",
        "1:9:",
        "error calling untilStep",
    );
    over_budget("{{ seq 100000000000 }}", "1:3:", "error calling seq");
}

#[test]
fn printf_widths_are_refused() {
    over_budget(
        "x\n{{ printf \"%099999999999d\" 1 }}",
        "2:3:",
        "error calling printf",
    );
    // A width pads every element of a list.
    over_budget(
        "{{ printf \"%9999999v\" (until 100) }}",
        "1:3:",
        "error calling printf",
    );
    // A precision too (Go pads the digits with zeros).
    over_budget(
        "{{ printf \"%.99999999999d\" 1 }}",
        "1:3:",
        "error calling printf",
    );
}

#[test]
fn the_self_doubling_recursion_is_stopped() {
    // Each call prints its argument twice into the next one: 2^depth bytes.
    over_budget(
        "{{ define \"d\" }}{{ template \"d\" (print . .) }}{{ end }}{{ template \"d\" \"x\" }}",
        "1:33:",
        "error calling print",
    );
    // The same through output alone: each template runs the one below it twice.
    let mut text = format!("{{{{ define \"t0\" }}}}{}{{{{ end }}}}", "x".repeat(4096));
    for i in 1..40 {
        text.push_str(&format!(
            "{{{{ define \"t{i}\" }}}}{{{{ template \"t{}\" }}}}{{{{ template \"t{}\" }}}}{{{{ end }}}}",
            i - 1,
            i - 1
        ));
    }
    text.push_str("{{ template \"t39\" }}");
    let (r, took) = run(&text);
    let err = r.expect_err("must exceed the budget");
    assert!(err.starts_with("template: t.yaml:1:"), "{err}");
    assert!(
        err.contains("executing \"t0\": output: this would take"),
        "{err}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn append_loops_are_counted() {
    over_budget(
        "{{ $l := list }}{{ range until 1000000 }}{{ $l = append $l . }}{{ end }}{{ len $l }}",
        "1:49:",
        "error calling append",
    );
}

#[test]
fn strings_kept_in_many_variables_are_counted_together() {
    // 8 × 10 MiB, each under the budget alone.
    let mut text = String::new();
    for i in 0..8 {
        text.push_str(&format!("{{{{ $v{i} := repeat 10485760 \"x\" }}}}"));
    }
    over_budget(&text, "1:", "error calling repeat");
}

#[test]
fn ordinary_templates_fit_and_the_budget_can_be_set() {
    let text = "{{ $l := list }}{{ range until 1000 }}{{ $l = append $l (printf \"%05d\" .) }}{{ end }}{{ len $l }} {{ repeat 3 \"ab\" }} {{ indent 4 \"x\\ny\" }}";
    let (r, _) = run(text);
    assert_eq!(r.expect("fits"), "1000 ababab     x\n    y");

    let t = Templates::with_sprig();
    assert_eq!(t.budget(), DEFAULT_BUDGET);
    t.set_budget(1000);
    t.parse(
        "small",
        "{{ $a := repeat 600 \"x\" }}{{ $b := repeat 600 \"x\" }}",
    )
    .expect("parse");
    let err = t
        .execute("small", &Value::Nil)
        .expect_err("over 1000 bytes");
    assert!(
        err.to_string()
            .contains("error calling repeat: this would take what the templates build (output, strings and lists) to 1.2 KiB, over the budget of 1000 B"),
        "{err}"
    );
    assert!(t.budget_used() <= 1000, "{}", t.budget_used());
}
