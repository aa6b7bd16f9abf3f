//! docs/gitlab-ci.md's "complete pipeline" is one GitLab accepts: in push, tag,
//! merge-request and schedule pipelines, every job that runs finds each job it `needs`
//! (unless the need is `optional`). GitLab's `rules:` are modelled for the subset the doc
//! uses: `if:` over `$CI_PIPELINE_SOURCE`, `$CI_COMMIT_TAG`, `$CI_COMMIT_BRANCH` with
//! `==`, `!=`, `&&`, `||`, parentheses and bare variables, and `when: never`. Anything else
//! fails the test, so the model cannot silently drift from the doc.

use std::collections::BTreeMap;

use serde_json::Value;

pub type Vars = BTreeMap<&'static str, &'static str>;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Var(String),
    Str(String),
    Null,
    Eq,
    Ne,
    And,
    Or,
    Open,
    Close,
}

fn tokens(expr: &str) -> Vec<Tok> {
    let c: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let two: String = c[i..(i + 2).min(c.len())].iter().collect();
        match c[i] {
            ' ' | '\t' => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1
            }
            ')' => {
                out.push(Tok::Close);
                i += 1
            }
            '$' => {
                let start = i + 1;
                i = start;
                while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Var(c[start..i].iter().collect()));
            }
            q @ ('"' | '\'') => {
                let start = i + 1;
                i = start;
                while i < c.len() && c[i] != q {
                    i += 1;
                }
                out.push(Tok::Str(c[start..i].iter().collect()));
                i += 1;
            }
            _ if two == "==" => {
                out.push(Tok::Eq);
                i += 2
            }
            _ if two == "!=" => {
                out.push(Tok::Ne);
                i += 2
            }
            _ if two == "&&" => {
                out.push(Tok::And);
                i += 2
            }
            _ if two == "||" => {
                out.push(Tok::Or);
                i += 2
            }
            _ if c[i..].iter().collect::<String>().starts_with("null") => {
                out.push(Tok::Null);
                i += 4
            }
            _ => panic!("rules: `{expr}`: the model does not know {:?}", &c[i..]),
        }
    }
    out
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    vars: &'a Vars,
    expr: String,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn or(&mut self) -> bool {
        let mut v = self.and();
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            v |= self.and();
        }
        v
    }
    fn and(&mut self) -> bool {
        let mut v = self.cmp();
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            v &= self.cmp();
        }
        v
    }
    fn operand(&mut self) -> Option<String> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        match t {
            Some(Tok::Var(v)) => {
                assert!(
                    ["CI_PIPELINE_SOURCE", "CI_COMMIT_TAG", "CI_COMMIT_BRANCH"]
                        .contains(&v.as_str()),
                    "rules: `{}`: ${v} is outside the modelled subset",
                    self.expr
                );
                self.vars.get(v.as_str()).map(|s| s.to_string())
            }
            Some(Tok::Str(s)) => Some(s),
            Some(Tok::Null) => None,
            t => panic!("rules: `{}`: unexpected {t:?}", self.expr),
        }
    }
    fn cmp(&mut self) -> bool {
        if self.peek() == Some(&Tok::Open) {
            self.pos += 1;
            let v = self.or();
            assert_eq!(self.peek(), Some(&Tok::Close), "rules: `{}`", self.expr);
            self.pos += 1;
            return v;
        }
        let left = self.operand();
        match self.peek() {
            Some(Tok::Eq) => {
                self.pos += 1;
                left == self.operand()
            }
            Some(Tok::Ne) => {
                self.pos += 1;
                left != self.operand()
            }
            // A bare variable: true when set and not empty.
            _ => left.is_some_and(|s| !s.is_empty()),
        }
    }
}

fn eval(expr: &str, vars: &Vars) -> bool {
    let mut p = Parser {
        toks: tokens(expr),
        pos: 0,
        vars,
        expr: expr.to_string(),
    };
    let v = p.or();
    assert_eq!(p.pos, p.toks.len(), "rules: `{expr}`: trailing tokens");
    v
}

/// `only:`/`except:` refs, for the keywords the docs use (werf 1.1's guide): a job runs when
/// one of its `only` refs matches (none given: any) and none of its `except` refs does.
fn ref_matches(r: &str, vars: &Vars) -> bool {
    let source = vars.get("CI_PIPELINE_SOURCE").copied().unwrap_or("");
    match r {
        "schedules" => source == "schedule",
        "pushes" => source == "push",
        "web" => source == "web",
        "api" => source == "api",
        "triggers" => source == "trigger",
        "merge_requests" => source == "merge_request_event",
        "tags" => vars.contains_key("CI_COMMIT_TAG"),
        "branches" => vars.contains_key("CI_COMMIT_BRANCH"),
        other => panic!("only/except: `{other}` is outside the modelled subset"),
    }
}

fn refs(job: &Value, key: &str) -> Option<Vec<String>> {
    job.get(key).map(|v| {
        v.as_array()
            .unwrap_or_else(|| panic!("{key}: a list of refs is modelled, not {v}"))
            .iter()
            .map(|r| r.as_str().expect("a ref").to_string())
            .collect()
    })
}

/// Whether GitLab adds the job to the pipeline: no `rules` means always; else the first
/// rule whose `if` holds decides (`when: never` excludes); no rule holding excludes.
/// `only`/`except` as `ref_matches` says.
pub fn runs(job: &Value, vars: &Vars) -> bool {
    let only = refs(job, "only");
    if only.is_some_and(|o| !o.iter().any(|r| ref_matches(r, vars))) {
        return false;
    }
    let except = refs(job, "except");
    if except.is_some_and(|e| e.iter().any(|r| ref_matches(r, vars))) {
        return false;
    }
    let Some(rules) = job.get("rules") else {
        return true;
    };
    for rule in rules.as_array().expect("rules is a list") {
        let holds = match rule.get("if") {
            Some(cond) => eval(cond.as_str().expect("if is a string"), vars),
            None => true,
        };
        if holds {
            return rule.get("when").and_then(Value::as_str) != Some("never");
        }
    }
    false
}

/// (needed job, optional)
fn needs(job: &Value) -> Vec<(String, bool)> {
    let Some(n) = job.get("needs") else {
        return Vec::new();
    };
    n.as_array()
        .expect("needs is a list")
        .iter()
        .map(|n| match n {
            Value::String(s) => (s.clone(), false),
            Value::Object(m) => (
                m.get("job")
                    .and_then(Value::as_str)
                    .expect("needs: job")
                    .to_string(),
                m.get("optional").and_then(Value::as_bool).unwrap_or(false),
            ),
            other => panic!("needs entry {other}"),
        })
        .collect()
}

pub fn jobs(pipeline: &Value) -> BTreeMap<String, Value> {
    const KEYWORDS: [&str; 8] = [
        "stages",
        "variables",
        "default",
        "workflow",
        "include",
        "image",
        "services",
        "cache",
    ];
    pipeline
        .as_object()
        .expect("pipeline is a mapping")
        .iter()
        .filter(|(k, _)| !k.starts_with('.') && !KEYWORDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Every pipeline source the docs' pipelines must serve, on a branch and on a tag (a
/// merge request pipeline has neither).
pub const SOURCES: [&str; 5] = ["push", "web", "api", "trigger", "schedule"];

pub fn pipelines() -> Vec<(String, Vars)> {
    let mut out = Vec::new();
    for source in SOURCES {
        out.push((
            format!("{source} on a branch"),
            Vars::from([("CI_PIPELINE_SOURCE", source), ("CI_COMMIT_BRANCH", "main")]),
        ));
        out.push((
            format!("{source} on a tag"),
            Vars::from([
                ("CI_PIPELINE_SOURCE", source),
                ("CI_COMMIT_TAG", "release/2.0"),
            ]),
        ));
    }
    out.push((
        "merge request".to_string(),
        Vars::from([("CI_PIPELINE_SOURCE", "merge_request_event")]),
    ));
    out
}

/// Problems of one pipeline kind: jobs that run and need a job that does not.
fn unsatisfied(pipeline: &Value, vars: &Vars) -> Vec<String> {
    let jobs = jobs(pipeline);
    let running: Vec<&String> = jobs.keys().filter(|k| runs(&jobs[*k], vars)).collect();
    let mut bad = Vec::new();
    for name in &running {
        for (need, optional) in needs(&jobs[*name]) {
            assert!(jobs.contains_key(&need), "{name} needs unknown job {need}");
            if !optional && !running.contains(&&need) {
                bad.push(format!("{name} needs {need}, which does not run"));
            }
        }
    }
    bad
}

/// The block docs/gitlab-ci.md marks `<!-- gitlab-ci: run complete -->`.
fn doc_pipeline() -> Value {
    let block = crate::support::doc_blocks::named("complete");
    serde_saphyr::from_str(&block.yaml).expect("the pipeline is valid YAML")
}

#[test]
fn complete_pipeline_needs_are_satisfiable_in_every_pipeline_kind() {
    let p = doc_pipeline();
    let jobs = jobs(&p);
    for want in ["build", "deploy", "promote", "cleanup"] {
        assert!(jobs.contains_key(want), "no {want} job: {:?}", jobs.keys());
    }
    let mut ran: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (kind, vars) in pipelines() {
        let bad = unsatisfied(&p, &vars);
        assert!(bad.is_empty(), "{kind} pipeline: {bad:?}");
        for (name, job) in &jobs {
            if runs(job, &vars) {
                ran.entry(name.clone()).or_default().push(kind.clone());
            }
        }
    }
    // What the doc promises: cleanup alone in a schedule, promote on every tag a build
    // runs for, build on every other source.
    let kinds = |f: &dyn Fn(&str) -> bool| -> Vec<String> {
        pipelines()
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| f(k))
            .collect()
    };
    assert_eq!(
        ran["cleanup"],
        kinds(&|k| k.starts_with("schedule")),
        "{ran:?}"
    );
    assert_eq!(
        ran["promote"],
        kinds(&|k| k.ends_with("on a tag") && !k.starts_with("schedule")),
        "{ran:?}"
    );
    assert_eq!(
        ran["build"],
        kinds(&|k| !k.starts_with("schedule") && k != "merge request"),
        "{ran:?}"
    );
}

/// werf 1.1's snippet (`only`/`except`, no rules): a schedule runs Cleanup alone, every
/// other pipeline the build alone.
#[test]
fn werf_snippet_runs_cleanup_alone_in_a_schedule() {
    let block = crate::support::doc_blocks::named("werf-1.1");
    let p: Value = serde_saphyr::from_str(&block.yaml).expect("yaml");
    for (kind, vars) in pipelines() {
        let running: Vec<String> = jobs(&p)
            .into_iter()
            .filter(|(_, j)| runs(j, &vars))
            .map(|(k, _)| k)
            .collect();
        let want = if kind.starts_with("schedule") {
            "Cleanup"
        } else {
            "Build and Publish"
        };
        assert_eq!(running, vec![want.to_string()], "{kind}");
    }
}

/// The checker catches issue 23's bug: `deploy` needing `build` without rules.
#[test]
fn a_need_on_a_job_that_does_not_run_is_caught() {
    let p: Value = serde_saphyr::from_str(
        "build:\n  script: [x]\n  rules:\n    - if: $CI_PIPELINE_SOURCE == \"push\"\ndeploy:\n  needs: [build]\n  script: [y]\n",
    )
    .expect("yaml");
    let schedule = Vars::from([("CI_PIPELINE_SOURCE", "schedule")]);
    assert_eq!(
        unsatisfied(&p, &schedule),
        vec!["deploy needs build, which does not run".to_string()]
    );
    let push = Vars::from([("CI_PIPELINE_SOURCE", "push")]);
    assert!(unsatisfied(&p, &push).is_empty());
    // An optional need is satisfied by a missing job.
    let p: Value = serde_saphyr::from_str(
        "build:\n  script: [x]\n  rules:\n    - if: $CI_COMMIT_TAG && $CI_PIPELINE_SOURCE != \"schedule\"\ndeploy:\n  needs: [{job: build, optional: true}]\n  script: [y]\n",
    )
    .expect("yaml");
    assert!(unsatisfied(&p, &schedule).is_empty());
    let tag = Vars::from([("CI_PIPELINE_SOURCE", "push"), ("CI_COMMIT_TAG", "v1")]);
    assert!(runs(&jobs(&p)["build"], &tag));
    assert!(!runs(&jobs(&p)["build"], &push));
    assert!(eval(
        "($CI_COMMIT_BRANCH == \"main\" || $CI_COMMIT_TAG) && $CI_PIPELINE_SOURCE != \"schedule\"",
        &tag
    ));
    assert!(eval("$CI_COMMIT_TAG == null", &push));
}
