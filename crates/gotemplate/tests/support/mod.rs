//! The Go reference renderer (tests/goref/main.go, Go's text/template + sprig from Debian's
//! packages), built once per test binary, and a way to run cases through it and through
//! this crate.

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use gotemplate::{MissingKey, Templates, Value};

/// One template case.
#[derive(Clone, Debug)]
pub struct Case {
    pub text: String,
    pub data: String,
    pub missingkey: String,
    /// A listed, reasoned difference from Go (the case must still differ, so a fixed
    /// difference is noticed and the exception removed).
    pub differs: Option<String>,
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub out: String,
    pub err: String,
}

fn goref_binary() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("gotemplate-goref-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let bin = dir.join("goref");
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/goref");
        let out = Command::new("go")
            .args(["build", "-o"])
            .arg(&bin)
            .arg(".")
            .current_dir(&src)
            .env("GO111MODULE", "off")
            .env("GOPATH", "/usr/share/gocode")
            // One build cache for every test run (Go locks it), so std is compiled once.
            .env(
                "GOCACHE",
                std::env::temp_dir().join("gotemplate-goref-gocache"),
            )
            .env("GOFLAGS", "")
            .output()
            .expect("run `go build` (scripts/setup installs golang-go and sprig)");
        assert!(
            out.status.success(),
            "go build of the reference renderer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        bin
    })
}

/// Renders every case with Go.
pub fn go_render(cases: &[Case]) -> Vec<Outcome> {
    let mut input = String::new();
    for c in cases {
        let line = serde_json::json!({
            "name": "t",
            "text": c.text,
            "data": c.data,
            "missingkey": c.missingkey,
        });
        input.push_str(&line.to_string());
        input.push('\n');
    }
    let mut child = Command::new(goref_binary())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the reference renderer");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        stdin.write_all(input.as_bytes()).expect("write cases");
    });
    let out = child.wait_with_output().expect("reference renderer output");
    writer.join().expect("writer");
    assert!(out.status.success(), "reference renderer failed");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("result json");
            Outcome {
                out: v["out"].as_str().unwrap_or("").to_string(),
                err: v["err"].as_str().unwrap_or("").to_string(),
            }
        })
        .collect()
}

/// Renders one case with this crate.
pub fn rust_render(c: &Case) -> Outcome {
    let t = Templates::with_sprig();
    match c.missingkey.as_str() {
        "error" => t.set_missing_key(MissingKey::Error),
        "zero" => t.set_missing_key(MissingKey::Zero),
        _ => {}
    }
    let data = if c.data.is_empty() {
        Value::Nil
    } else {
        Value::from_json(&serde_json::from_str(&c.data).expect("case data is JSON"))
    };
    if let Err(e) = t.parse("t", &c.text) {
        return Outcome {
            out: String::new(),
            err: e.to_string(),
        };
    }
    match t.execute("t", &data) {
        Ok(out) => Outcome {
            out,
            err: String::new(),
        },
        Err(e) => Outcome {
            out: String::new(),
            err: e.to_string(),
        },
    }
}

/// Reads a case file: each case starts with a line `=== [missingkey=X] [differs(REASON)]
/// [DATA-JSON]`; the template is the following lines up to the next `===` line, without
/// its final newline. Lines starting with `#` before the first case are comments.
pub fn read_cases(text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut cur: Option<Case> = None;
    let mut body: Vec<&str> = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        if let Some(head) = line.strip_prefix("===") {
            if let Some(mut c) = cur.take() {
                c.text = body.join("\n");
                cases.push(c);
            }
            body.clear();
            let mut head = head.trim_start();
            let mut c = Case {
                text: String::new(),
                data: String::new(),
                missingkey: String::new(),
                differs: None,
                line: i + 1,
            };
            loop {
                if let Some(r) = head.strip_prefix("missingkey=") {
                    let (v, rest) = r.split_once(' ').unwrap_or((r, ""));
                    c.missingkey = v.to_string();
                    head = rest.trim_start();
                } else if let Some(r) = head.strip_prefix("differs(") {
                    let (reason, rest) = r.split_once(')').expect("differs(reason)");
                    c.differs = Some(reason.to_string());
                    head = rest.trim_start();
                } else {
                    break;
                }
            }
            c.data = head.trim().to_string();
            cur = Some(c);
        } else if cur.is_some() {
            body.push(line);
        }
    }
    if let Some(mut c) = cur.take() {
        if body.last() == Some(&"") {
            body.pop();
        }
        c.text = body.join("\n");
        cases.push(c);
    }
    cases
}
