//! Differential tests: every case in tests/cases/*.txt is rendered by Go's text/template
//! with sprig (the reference renderer in tests/goref) and by this crate; outputs and error
//! texts must be equal byte for byte, except cases marked `differs(reason)`, which must
//! still differ (so a fixed difference is noticed).

mod support;

use support::{Case, go_render, read_cases, rust_render};

fn run_file(name: &str, text: &str) -> (usize, Vec<String>) {
    let cases: Vec<Case> = read_cases(text);
    assert!(!cases.is_empty(), "{name}: no cases");
    let go = go_render(&cases);
    assert_eq!(
        go.len(),
        cases.len(),
        "{name}: reference renderer answered every case"
    );
    let mut failures = Vec::new();
    for (c, g) in cases.iter().zip(go.iter()) {
        let r = rust_render(c);
        let same = if g.err.is_empty() {
            r.err.is_empty() && r.out == g.out
        } else {
            r.err == g.err
        };
        match (&c.differs, same) {
            (None, true) | (Some(_), false) => {}
            (None, false) => failures.push(format!(
                "{name}:{}: template {:?} data {}\n  go:   out={:?} err={:?}\n  rust: out={:?} err={:?}",
                c.line, c.text, c.data, g.out, g.err, r.out, r.err
            )),
            (Some(reason), true) => failures.push(format!(
                "{name}:{}: listed as differing ({reason}) but now equal to Go: remove the exception",
                c.line
            )),
        }
    }
    (cases.len(), failures)
}

#[test]
fn every_case_renders_as_go_renders_it() {
    let files: &[(&str, &str)] = &[
        ("core.txt", include_str!("cases/core.txt")),
        ("errors.txt", include_str!("cases/errors.txt")),
        ("sprig.txt", include_str!("cases/sprig.txt")),
        ("crypto.txt", include_str!("cases/crypto.txt")),
    ];
    let mut total = 0;
    let mut failures = Vec::new();
    for (name, text) in files {
        let (n, f) = run_file(name, text);
        total += n;
        failures.extend(f);
    }
    assert!(
        failures.is_empty(),
        "{} of {total} cases differ from Go:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        total >= 300,
        "only {total} cases; the suite needs at least 300"
    );
}
