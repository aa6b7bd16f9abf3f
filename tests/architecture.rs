//! Guard rails of the layered source tree (issue 29), read from the source text itself:
//! - no import circle between the top-level modules of `src/` or of `crates/gotemplate/src/`
//!   (a node is a top-level file or folder; an edge is any `crate::…` or `super::…` path
//!   outside `#[cfg(test)]` that names another node);
//! - no function in `src/` longer than 100 lines from `fn` to its closing brace, blanks and
//!   comments included, test code excluded (clippy's `too_many_lines` counts code only);
//! - no file in `src/` longer than 800 lines, inline tests included.
//!
//! Why our own reader and not cargo-modules: its `--acyclic` checks the item graph, where any
//! `fn new() -> Self` is a cycle, and it compiles rust-analyzer. Comments and literals are
//! blanked first, so a path in a doc comment or a string is not an import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FN_LINES: usize = 100;
const MAX_FILE_LINES: usize = 800;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One source file, with comments and literals blanked (newlines kept, so line numbers hold)
/// and test-only items blanked too.
struct File {
    rel: String,
    /// Module path inside its crate: `src/build/mod.rs` → ["build"].
    module: Vec<String>,
    code: String,
    raw_lines: usize,
    test_only: bool,
}

/// Blanks comments, string, byte-string, raw-string and char literals with spaces.
fn blank(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out: Vec<char> = b.clone();
    let mut i = 0;
    let keep = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out[i] = ' ';
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out[i] = ' ';
                    out[i + 1] = ' ';
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out[i] = ' ';
                    out[i + 1] = ' ';
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out[i] = keep(b[i]);
                    i += 1;
                }
            }
        } else if (c == 'r' || (c == 'b' && next == Some('r')))
            && !prev_is_ident(&b, i)
            && raw_string_start(&b, if c == 'b' { i + 1 } else { i }).is_some()
        {
            let start = if c == 'b' { i + 1 } else { i };
            let hashes = raw_string_start(&b, start).unwrap_or(0);
            let mut j = start + 1 + hashes + 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|h| b.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            for k in i..j.min(b.len()) {
                out[k] = keep(b[k]);
            }
            i = j;
        } else if c == '"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != '"' {
                if b[j] == '\\' {
                    j += 1;
                }
                j += 1;
            }
            for k in i..=j.min(b.len() - 1) {
                out[k] = keep(b[k]);
            }
            i = j + 1;
        } else if c == '\'' {
            // A char literal ('a', '\n', '\u{..}') or a lifetime ('a).
            let end = if next == Some('\\') {
                (i + 2..b.len()).find(|&j| b[j] == '\'')
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    for k in i..=e {
                        out[k] = keep(b[k]);
                    }
                    i = e + 1;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    out.into_iter().collect()
}

fn prev_is_ident(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

/// At `r` of `r"`/`r#"`: the number of hashes.
fn raw_string_start(b: &[char], i: usize) -> Option<usize> {
    if b.get(i) != Some(&'r') {
        return None;
    }
    let mut j = i + 1;
    while b.get(j) == Some(&'#') {
        j += 1;
    }
    (b.get(j) == Some(&'"')).then_some(j - i - 1)
}

fn line_of(code: &str, byte: usize) -> usize {
    code[..byte].matches('\n').count() + 1
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The byte index just past the brace matching the `{` at `open`.
fn matching_brace(code: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    for (k, &c) in code.iter().enumerate().skip(open) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return k + 1;
                }
            }
            _ => {}
        }
    }
    code.len()
}

/// Blanks every item under `#[cfg(test)]`; returns the names of `#[cfg(test)] mod x;` files.
fn strip_tests(code: &mut String) -> Vec<String> {
    let mut files = Vec::new();
    while let Some(at) = code.find("#[cfg(test)]") {
        let bytes = code.as_bytes();
        let mut end = at;
        let mut k = at + "#[cfg(test)]".len();
        while k < bytes.len() {
            match bytes[k] {
                b';' => {
                    end = k + 1;
                    let item = &code[at..end];
                    if let Some(name) = item.split_whitespace().skip_while(|w| *w != "mod").nth(1) {
                        files.push(name.trim_end_matches(';').to_string());
                    }
                    break;
                }
                b'{' => {
                    end = matching_brace(bytes, k);
                    break;
                }
                _ => k += 1,
            }
        }
        let blanked: String = code[at..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        code.replace_range(at..end, &blanked);
    }
    files
}

fn read_crate(dir: &Path, crate_rel: &str) -> Vec<File> {
    let mut paths = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read src dir") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                paths.push(p);
            }
        }
    }
    paths.sort();
    let mut files = Vec::new();
    let mut test_files: BTreeSet<PathBuf> = BTreeSet::new();
    for p in paths {
        let raw = std::fs::read_to_string(&p).expect("read source");
        let mut code = blank(&raw);
        let here = p.parent().expect("parent").to_path_buf();
        let stem = p.file_stem().expect("stem").to_string_lossy().to_string();
        // Children of `foo.rs` live in `foo/`; of `mod.rs`/`lib.rs`, beside it.
        let children = if matches!(stem.as_str(), "mod" | "lib" | "main") {
            here.clone()
        } else {
            here.join(&stem)
        };
        for name in strip_tests(&mut code) {
            test_files.insert(children.join(format!("{name}.rs")));
            test_files.insert(children.join(&name));
        }
        let inner = p.strip_prefix(dir).expect("under src");
        let mut module: Vec<String> = inner
            .iter()
            .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
            .collect();
        if matches!(
            module.last().map(String::as_str),
            Some("mod" | "lib" | "main")
        ) {
            module.pop();
        }
        files.push(File {
            rel: format!("{crate_rel}/{}", inner.display()),
            module,
            raw_lines: raw.lines().count(),
            test_only: false,
            code,
        });
    }
    for f in &mut files {
        let path = dir.join(f.rel.trim_start_matches(&format!("{crate_rel}/")));
        f.test_only = test_files.iter().any(|t| path == *t || path.starts_with(t));
    }
    files
}

/// `crate::a`, `crate::{a, b::c}`, `super::…::a` → the top-level modules named, with lines.
fn imports(f: &File, tops: &BTreeSet<String>) -> Vec<(String, usize)> {
    let code = f.code.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < code.len() {
        let at_word = i == 0 || !(is_ident(code[i - 1]) || code[i - 1] == b'$');
        if at_word && code[i..].starts_with(b"crate::") {
            let after = i + "crate::".len();
            for name in first_segments(code, after) {
                found.push((name, line_of(&f.code, i)));
            }
            i = after;
        } else if at_word && code[i..].starts_with(b"super::") {
            let mut ups = 0;
            let mut j = i;
            while code[j..].starts_with(b"super::") {
                ups += 1;
                j += "super::".len();
            }
            // `super` of a file's own module path; the last segment is the file's module.
            let depth = f.module.len();
            if ups >= depth {
                for name in first_segments(code, j) {
                    found.push((name, line_of(&f.code, i)));
                }
            } else if ups + 1 == depth {
                // Resolves inside the file's own top-level module: not an edge.
            }
            i = j;
        } else {
            i += 1;
        }
    }
    found.retain(|(name, _)| tops.contains(name));
    found
}

/// The first path segment(s) after `crate::`: one name, or each name of a `{…}` group.
fn first_segments(code: &[u8], at: usize) -> Vec<String> {
    let ident_at = |k: usize| {
        let mut e = k;
        while e < code.len() && is_ident(code[e]) {
            e += 1;
        }
        String::from_utf8_lossy(&code[k..e]).to_string()
    };
    if code.get(at) != Some(&b'{') {
        return vec![ident_at(at)];
    }
    let close = matching_brace(code, at);
    let group = &code[at + 1..close - 1];
    // Split the group on top-level commas; each part's first identifier is a module.
    let mut names = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (k, &c) in group.iter().enumerate() {
        match c {
            b'{' => depth += 1,
            b'}' => depth -= 1,
            b',' if depth == 0 => {
                names.push(start..k);
                start = k + 1;
            }
            _ => {}
        }
    }
    names.push(start..group.len());
    names
        .into_iter()
        .filter_map(|r| {
            let part = String::from_utf8_lossy(&group[r]).to_string();
            let name: String = part
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

fn top_modules(lib: &Path) -> BTreeSet<String> {
    let code = blank(&std::fs::read_to_string(lib).expect("read lib.rs"));
    code.lines()
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "mod")?;
            Some(words.get(at + 1)?.trim_end_matches(';').to_string())
        })
        .collect()
}

/// Strongly connected components of more than one node (Tarjan).
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on: BTreeSet<String>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit(t: &mut T, v: &str) {
        t.index.insert(v.to_string(), t.next);
        t.low.insert(v.to_string(), t.next);
        t.next += 1;
        t.stack.push(v.to_string());
        t.on.insert(v.to_string());
        for w in t.edges.get(v).cloned().unwrap_or_default() {
            if !t.index.contains_key(&w) {
                visit(t, &w);
                let lw = t.low[&w];
                let lv = t.low[v];
                t.low.insert(v.to_string(), lv.min(lw));
            } else if t.on.contains(&w) {
                let iw = t.index[&w];
                let lv = t.low[v];
                t.low.insert(v.to_string(), lv.min(iw));
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(&w);
                let done = w == v;
                comp.push(w);
                if done {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    t.out
}

/// The import graph between a crate's top-level modules, with the first place (file:line)
/// each edge is seen.
type Graph = BTreeMap<(String, String), String>;

fn graph(krate: &str, dir: &Path) -> Graph {
    let tops = top_modules(&dir.join("lib.rs"));
    let files = read_crate(dir, krate);
    let mut witness = Graph::new();
    for f in files.iter().filter(|f| !f.test_only) {
        let Some(node) = f.module.first() else {
            continue; // lib.rs and main.rs declare the modules; they are not layers.
        };
        for (to, line) in imports(f, &tops) {
            if &to != node {
                witness
                    .entry((node.clone(), to))
                    .or_insert(format!("{}:{line}", f.rel));
            }
        }
    }
    witness
}

fn circle_violations(krate: &str, dir: &Path) -> Vec<String> {
    let witness = graph(krate, dir);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, b) in witness.keys() {
        edges.entry(a.clone()).or_default().insert(b.clone());
    }
    circles(&edges)
        .into_iter()
        .map(|c| {
            let members: BTreeSet<&String> = c.iter().collect();
            let inside: Vec<String> = witness
                .iter()
                .filter(|((a, b), _)| members.contains(a) && members.contains(b))
                .map(|((a, b), at)| format!("{a} → {b} ({at})"))
                .collect();
            format!("{krate}: {} | {}", c.join(", "), inside.join("; "))
        })
        .collect()
}

/// docs/architecture.md's layer table: rows `| N | `module`, `module` | … |`.
fn documented_layers() -> BTreeMap<String, usize> {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).expect("read doc");
    let mut layers = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(n) = cells.get(1).and_then(|c| c.parse::<usize>().ok()) else {
            continue;
        };
        for module in cells[2].split(',') {
            let name = module.trim().trim_matches('`');
            if !name.is_empty() {
                layers.insert(name.to_string(), n);
            }
        }
    }
    layers
}

fn long_functions(files: &[File]) -> Vec<String> {
    let mut out = Vec::new();
    for f in files.iter().filter(|f| !f.test_only) {
        let code = f.code.as_bytes();
        let mut i = 0;
        while let Some(off) = f.code[i..].find("fn ") {
            let at = i + off;
            i = at + 3;
            if at > 0 && is_ident(code[at - 1]) {
                continue;
            }
            let name: String = f.code[at + 3..]
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                continue; // `fn(u8) -> u8`, a function pointer type
            }
            let Some(body) = code[at..].iter().position(|&c| c == b'{' || c == b';') else {
                continue;
            };
            if code[at + body] == b';' {
                continue; // a declaration without a body
            }
            let end = matching_brace(code, at + body);
            let lines = line_of(&f.code, end - 1) - line_of(&f.code, at) + 1;
            if lines > MAX_FN_LINES {
                out.push(format!(
                    "{} {name} ({lines} lines at :{})",
                    f.rel,
                    line_of(&f.code, at)
                ));
            }
        }
    }
    out
}

#[test]
fn no_import_circle_between_top_level_modules() {
    let mut all = circle_violations("src", &root().join("src"));
    all.extend(circle_violations(
        "crates/gotemplate/src",
        &root().join("crates/gotemplate/src"),
    ));
    let new = &all;
    assert!(new.is_empty(), "import circles:\n{new:#?}");
}

#[test]
fn no_function_in_src_over_100_lines() {
    let files = read_crate(&root().join("src"), "src");
    let all = long_functions(&files);
    let new = &all;
    assert!(
        new.is_empty(),
        "functions over {MAX_FN_LINES} lines:\n{new:#?}"
    );
}

#[test]
fn no_file_in_src_over_800_lines() {
    let files = read_crate(&root().join("src"), "src");
    let all: Vec<String> = files
        .iter()
        .filter(|f| f.raw_lines > MAX_FILE_LINES)
        .map(|f| format!("{} ({} lines)", f.rel, f.raw_lines))
        .collect();
    let new = &all;
    assert!(
        new.is_empty(),
        "files over {MAX_FILE_LINES} lines:\n{new:#?}"
    );
}

/// docs/architecture.md tells the truth: every top-level module of `src/` has a layer there,
/// and every import goes to a module of a lower layer (or of its own, which the circle test
/// keeps acyclic).
#[test]
fn imports_go_down_the_documented_layers() {
    let layers = documented_layers();
    let tops = top_modules(&root().join("src/lib.rs"));
    let missing: Vec<&String> = tops.iter().filter(|m| !layers.contains_key(*m)).collect();
    assert!(
        missing.is_empty(),
        "modules without a layer in docs/architecture.md: {missing:?}"
    );
    let upward: Vec<String> = graph("src", &root().join("src"))
        .into_iter()
        .filter(|((a, b), _)| layers[a.as_str()] < layers[b.as_str()])
        .map(|((a, b), at)| format!("{a} ({}) → {b} ({}) at {at}", layers[&a], layers[&b]))
        .collect();
    assert!(upward.is_empty(), "imports going up a layer:\n{upward:#?}");
}

/// The reader itself: a circle, a long function and a test module are seen as they are.
#[test]
fn the_reader_finds_circles_long_functions_and_skips_tests() {
    let dir = tempfile::tempdir().expect("tmp");
    let src = dir.path();
    std::fs::write(src.join("lib.rs"), "pub mod a;\npub mod b;\npub mod c;\n").expect("write");
    let body = "    let x = 1;\n".repeat(MAX_FN_LINES);
    std::fs::write(
        src.join("a.rs"),
        format!(
            "use crate::{{b::X, c}};\n// crate::c in a comment\nfn long() {{\n{body}}}\n\
             const S: &str = \"crate::b \\\" fn fake() {{\";\n"
        ),
    )
    .expect("write");
    std::fs::write(
        src.join("b.rs"),
        "pub struct X;\nfn f() -> u8 { let _ = '{'; super::a::g() }\n\
         #[cfg(test)]\nmod tests {\n    use crate::c::Y;\n}\n",
    )
    .expect("write");
    std::fs::write(src.join("c.rs"), "pub struct Y;\n").expect("write");
    let circles = circle_violations("x", src);
    assert_eq!(circles.len(), 1, "{circles:?}");
    assert!(circles[0].starts_with("x: a, b |"), "{circles:?}");
    assert!(circles[0].contains("b → a (x/b.rs:2)"), "{circles:?}");
    let long = long_functions(&read_crate(src, "x"));
    assert_eq!(long.len(), 1, "{long:?}");
    assert!(
        long[0].starts_with("x/a.rs long (102 lines at :3)"),
        "{long:?}"
    );
}
