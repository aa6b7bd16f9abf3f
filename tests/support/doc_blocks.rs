//! The YAML blocks of docs/*.md, read at test time with the marker comment each carries on
//! the line before its fence (issue 44):
//!
//! - `<!-- gitlab-ci: run NAME -->`: a whole `.gitlab-ci.yml`; schema-checked and run by
//!   gitlab-ci-local (tests/gitlab_ci_docs.rs);
//! - `<!-- gitlab-ci: schema-only NAME -->`: a whole `.gitlab-ci.yml`, schema-checked only;
//! - `<!-- gitlab-ci: fragment NAME -->`: part of the block named NAME (merged into it, key
//!   by key, before the schema check);
//! - `<!-- github-actions: fragment -->`, `<!-- werf-yaml -->`: not GitLab CI.
//!
//! A YAML block without a marker fails the test, so a new pipeline cannot go unchecked.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    Run,
    SchemaOnly,
    /// A fragment of the named block.
    Fragment(String),
    /// Not a GitLab pipeline (werf.yaml, a GitHub Actions step): the marker text.
    Other(String),
}

#[derive(Debug, Clone)]
pub struct Block {
    /// `docs/FILE.md:LINE` of the opening fence.
    pub place: String,
    pub role: Role,
    /// The name a run or schema-only block is known by (fragments name their target).
    pub name: String,
    pub yaml: String,
}

pub fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs")
}

fn marker(place: &str, line: &str) -> (Role, String) {
    let inner = line
        .trim()
        .strip_prefix("<!--")
        .and_then(|s| s.strip_suffix("-->"))
        .unwrap_or_else(|| {
            panic!("{place}: a ```yaml block needs a marker comment on the line before it (tests/support/doc_blocks.rs), found `{line}`")
        })
        .trim();
    let words: Vec<&str> = inner.split_whitespace().collect();
    match words.as_slice() {
        ["gitlab-ci:", "run", name] => (Role::Run, name.to_string()),
        ["gitlab-ci:", "schema-only", name] => (Role::SchemaOnly, name.to_string()),
        ["gitlab-ci:", "fragment", of] => (Role::Fragment(of.to_string()), of.to_string()),
        ["github-actions:", "fragment"] | ["werf-yaml"] => {
            (Role::Other(inner.to_string()), String::new())
        }
        _ => panic!("{place}: unknown marker `{line}` (tests/support/doc_blocks.rs lists them)"),
    }
}

/// The YAML blocks of one Markdown text (indented fences, in lists, included).
pub fn blocks_of(file: &str, text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        let indent = lines[i].len() - t.len();
        if t == "```yaml" || t == "```yml" {
            let place = format!("{file}:{}", i + 1);
            let before = lines[..i]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .copied()
                .unwrap_or("");
            let (role, name) = marker(&place, before);
            let mut yaml = String::new();
            i += 1;
            while i < lines.len() && lines[i].trim() != "```" {
                yaml.push_str(lines[i].get(indent..).unwrap_or("").trim_end());
                yaml.push('\n');
                i += 1;
            }
            out.push(Block {
                place,
                role,
                name,
                yaml,
            });
        }
        i += 1;
    }
    out
}

/// Every YAML block of docs/*.md, in file order.
pub fn all() -> Vec<Block> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(docs_dir())
        .expect("docs/")
        .map(|e| e.expect("docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|p| {
            let name = format!("docs/{}", p.file_name().expect("name").to_string_lossy());
            blocks_of(&name, &std::fs::read_to_string(p).expect("read doc"))
        })
        .collect()
}

/// The run or schema-only block called `name`.
pub fn named(name: &str) -> Block {
    all()
        .into_iter()
        .find(|b| matches!(b.role, Role::Run | Role::SchemaOnly) && b.name == name)
        .unwrap_or_else(|| panic!("no GitLab block named {name} in docs/"))
}
