//! Reading a Dockerfile as the builders do, as far as Slipway needs it: instructions with
//! their first line (continuations joined, `# escape=` honoured), stages, `ARG`/`ENV`
//! scoping and Docker's word expansion (`$X`, `${X}`, `${X:-w}`, `${X:+w}`, quotes).
//!
//! Written here: no maintained crate parses Dockerfiles with BuildKit's variable rules
//! (`dockerfile-parser` is unmaintained and does no expansion), and the builders only ever
//! see the text, so a small reader that follows their documented rules is enough.

use std::collections::BTreeMap;

/// One instruction: its first line (1-based) and its text with continuations joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub line: usize,
    pub text: String,
}

impl Instruction {
    /// The instruction keyword, upper-cased (`RUN`, `COPY`, …).
    pub fn keyword(&self) -> String {
        self.text
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase()
    }

    /// Everything after the keyword.
    pub fn rest(&self) -> &str {
        let t = self.text.trim_start();
        t.find(char::is_whitespace)
            .map(|i| t[i..].trim_start())
            .unwrap_or("")
    }
}

/// The escape character a `# escape=` parser directive sets (`\` by default).
fn escape_char(dockerfile: &str) -> char {
    for line in dockerfile.lines() {
        let t = line.trim();
        let Some(d) = t.strip_prefix('#') else { break };
        let d = d.trim();
        let Some((k, v)) = d.split_once('=') else {
            break;
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "escape" => {
                return if v.trim() == "`" { '`' } else { '\\' };
            }
            "syntax" | "check" => continue,
            _ => break,
        }
    }
    '\\'
}

/// Instructions in file order. Comment lines are skipped (also inside a continuation, as
/// Docker reads them); a blank line inside a continuation keeps it going.
pub fn instructions(dockerfile: &str) -> Vec<Instruction> {
    let esc = escape_char(dockerfile);
    let mut out: Vec<Instruction> = Vec::new();
    let mut continued = false;
    for (i, line) in dockerfile.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('#') && !continued {
            continue;
        }
        let body = t.strip_suffix(esc).unwrap_or(t).trim();
        if continued {
            if let Some(last) = out.last_mut()
                && !t.starts_with('#')
                && !t.is_empty()
            {
                last.text.push(' ');
                last.text.push_str(body);
            }
        } else if !t.is_empty() {
            out.push(Instruction {
                line: i + 1,
                text: body.to_string(),
            });
        }
        continued = if continued && (t.is_empty() || t.starts_with('#')) {
            true
        } else {
            t.ends_with(esc)
        };
    }
    out
}

/// One `FROM` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The `FROM` instruction.
    pub from: Instruction,
    /// The base as written (may hold `$ARG`s).
    pub base: String,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// The instructions after `FROM`.
    pub body: Vec<Instruction>,
}

/// A Dockerfile split into its global `ARG`s and stages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dockerfile {
    /// Instructions before the first `FROM` (only `ARG` is allowed there).
    pub meta: Vec<Instruction>,
    pub stages: Vec<Stage>,
}

/// `--name=value` flags at the start of an instruction's arguments, and the rest.
pub fn flags(rest: &str) -> (Vec<(String, String)>, &str) {
    let mut out = Vec::new();
    let mut r = rest.trim_start();
    while let Some(f) = r.strip_prefix("--") {
        let end = f.find(char::is_whitespace).unwrap_or(f.len());
        let (name, value) = match f[..end].split_once('=') {
            Some((n, v)) => (n.to_ascii_lowercase(), v.to_string()),
            None => (f[..end].to_ascii_lowercase(), String::new()),
        };
        out.push((name, value));
        r = f[end..].trim_start();
    }
    (out, r)
}

/// Split a Dockerfile into stages.
pub fn parse(dockerfile: &str) -> Dockerfile {
    let mut df = Dockerfile::default();
    for i in instructions(dockerfile) {
        if i.keyword() == "FROM" {
            let (_, rest) = flags(i.rest());
            let words: Vec<&str> = rest.split_whitespace().collect();
            let name = (words.len() >= 3 && words[1].eq_ignore_ascii_case("as"))
                .then(|| words[2].to_ascii_lowercase());
            df.stages.push(Stage {
                base: words.first().unwrap_or(&"").to_string(),
                name,
                from: i,
                body: Vec::new(),
            });
        } else if let Some(s) = df.stages.last_mut() {
            s.body.push(i);
        } else {
            df.meta.push(i);
        }
    }
    df
}

impl Dockerfile {
    /// The stage a name or index refers to (`FROM x`, `COPY --from=x`), if it is one of
    /// the stages before `before`.
    pub fn stage_ref(&self, name: &str, before: usize) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        if let Some(k) = self.stages[..before.min(self.stages.len())]
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            return Some(k);
        }
        name.parse::<usize>().ok().filter(|&k| k < before)
    }

    /// The global `ARG`s (before the first `FROM`) in order, each with its value: the build
    /// argument when given, else its default expanded with the ARGs before it, else empty.
    pub fn meta_args(&self, args: &BTreeMap<String, String>) -> Vec<(String, String)> {
        let mut vars: BTreeMap<String, String> = BTreeMap::new();
        let mut out = Vec::new();
        for i in self.meta.iter().filter(|i| i.keyword() == "ARG") {
            for (name, default) in arg_decls(i.rest()) {
                let value = match (args.get(&name), default) {
                    (Some(v), _) => v.clone(),
                    (None, Some(d)) => expand(&d, &vars),
                    (None, None) => String::new(),
                };
                vars.insert(name.clone(), value.clone());
                out.push((name, value));
            }
        }
        out
    }

    /// The stage `target` names (case-insensitive), or the last stage.
    pub fn target(&self, target: Option<&str>) -> Option<usize> {
        match target {
            Some(t) => {
                let t = t.to_ascii_lowercase();
                self.stages
                    .iter()
                    .position(|s| s.name.as_deref() == Some(t.as_str()))
            }
            None => self.stages.len().checked_sub(1),
        }
    }
}

/// The label keys the `LABEL` instructions of the image built for `target` set: its stage's
/// and those of the stages it is built `FROM` (a label of another stage does not reach the
/// image). `args`: the build arguments, for a `FROM ${BASE}` naming a stage.
pub fn label_keys(
    dockerfile: &str,
    target: Option<&str>,
    args: &BTreeMap<String, String>,
) -> std::collections::BTreeSet<String> {
    let df = parse(dockerfile);
    let meta: BTreeMap<String, String> = df.meta_args(args).into_iter().collect();
    let mut keys = std::collections::BTreeSet::new();
    let mut at = df.target(target);
    while let Some(k) = at {
        let stage = &df.stages[k];
        for i in stage.body.iter().filter(|i| i.keyword() == "LABEL") {
            keys.extend(env_pairs(i.rest()).into_iter().map(|(k, _)| unquote(&k)));
        }
        at = df.stage_ref(&expand(&stage.base, &meta), k);
    }
    keys
}

/// `ARG NAME[=default] [NAME2[=default] …]` → names with their (raw) defaults.
pub fn arg_decls(rest: &str) -> Vec<(String, Option<String>)> {
    rest.split_whitespace()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(unquote(v))),
            None => (w.to_string(), None),
        })
        .collect()
}

/// `ENV K=V [K2=V2 …]` or the legacy `ENV K V` → pairs (values raw, quotes removed).
pub fn env_pairs(rest: &str) -> Vec<(String, String)> {
    let first = rest.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let value = rest[first.len()..].trim();
        return vec![(first.to_string(), value.to_string())];
    }
    split_words(rest)
        .into_iter()
        .filter_map(|w| w.split_once('=').map(|(k, v)| (k.to_string(), unquote(v))))
        .collect()
}

/// Whitespace-separated words, where quotes keep spaces inside a word (as Docker's
/// key=value parser reads them).
fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                cur.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (_, '\\') => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (_, c) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// Docker's word expansion (moby/buildkit `shell.Lex.ProcessWord`): `$X`, `${X}`,
/// `${X:-word}`, `${X-word}`, `${X:+word}`, `${X+word}`, single quotes literal, double
/// quotes and `\` escapes removed. Unknown variables expand to nothing.
pub fn expand(word: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let chars: Vec<char> = word.chars().collect();
    let mut i = 0;
    let mut in_double = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' if !in_double => {
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    out.push(chars[i]);
                    i += 1;
                }
                i += 1;
            }
            '"' => {
                in_double = !in_double;
                i += 1;
            }
            '\\' if i + 1 < chars.len() => {
                out.push(chars[i + 1]);
                i += 2;
            }
            '$' => {
                let (text, used) = variable(&chars[i + 1..], vars);
                out.push_str(&text);
                i += 1 + used;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Expand the variable after a `$`; returns its text and how many chars it used.
fn variable(rest: &[char], vars: &BTreeMap<String, String>) -> (String, usize) {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if rest.first() == Some(&'{') {
        let Some(close) = matching_brace(rest) else {
            return ("$".into(), 0);
        };
        let inner: String = rest[1..close].iter().collect();
        let name_len = inner.chars().take_while(|&c| is_name(c)).count();
        let name = &inner[..name_len];
        let op = &inner[name_len..];
        let value = vars.get(name);
        let text = if let Some(w) = op.strip_prefix(":-") {
            match value {
                Some(v) if !v.is_empty() => v.clone(),
                _ => expand(w, vars),
            }
        } else if let Some(w) = op.strip_prefix(":+") {
            match value {
                Some(v) if !v.is_empty() => expand(w, vars),
                _ => String::new(),
            }
        } else if let Some(w) = op.strip_prefix('-') {
            value.cloned().unwrap_or_else(|| expand(w, vars))
        } else if let Some(w) = op.strip_prefix('+') {
            value.map(|_| expand(w, vars)).unwrap_or_default()
        } else {
            value.cloned().unwrap_or_default()
        };
        return (text, close + 1);
    }
    let n = rest.iter().take_while(|&&c| is_name(c)).count();
    if n == 0 {
        return ("$".into(), 0);
    }
    let name: String = rest[..n].iter().collect();
    (vars.get(&name).cloned().unwrap_or_default(), n)
}

fn matching_brace(rest: &[char]) -> Option<usize> {
    let mut depth = 0;
    for (i, &c) in rest.iter().enumerate() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The sources and destination of `COPY`/`ADD` arguments (after flags): the JSON form
/// `["a", "b", "/dst"]` or whitespace-separated words.
pub fn copy_operands(rest: &str) -> Vec<String> {
    let r = rest.trim();
    if r.starts_with('[')
        && let Ok(v) = serde_json::from_str::<Vec<String>>(r)
    {
        return v;
    }
    r.split_whitespace().map(str::to_string).collect()
}

/// `RUN --mount=type=bind,source=x,from=y` → the mount's options.
pub fn mount_options(value: &str) -> BTreeMap<String, String> {
    value
        .split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let k = k.trim().to_ascii_lowercase();
            let k = match k.as_str() {
                "src" => "source".to_string(),
                "dst" | "destination" => "target".to_string(),
                _ => k,
            };
            (!k.is_empty()).then(|| (k, v.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn expansion_follows_dockers_documented_rules() {
        let v = vars(&[("A", "x"), ("E", "")]);
        assert_eq!(expand("$A/${A}/b", &v), "x/x/b");
        assert_eq!(expand("${B:-dflt}", &v), "dflt");
        assert_eq!(expand("${E:-dflt}", &v), "dflt");
        assert_eq!(expand("${E-dflt}", &v), "");
        assert_eq!(expand("${A:+set}", &v), "set");
        assert_eq!(expand("${B:+set}", &v), "");
        assert_eq!(expand("'$A'", &v), "$A");
        assert_eq!(expand("\"$A y\"", &v), "x y");
        assert_eq!(expand("\\$A", &v), "$A");
        assert_eq!(expand("$", &v), "$");
        assert_eq!(expand("${B:-${A}}", &v), "x");
    }

    #[test]
    fn stages_flags_and_operands() {
        let df = "# escape=`\nARG V=1\nFROM --platform=$P base:$V AS Build\nCOPY --chown=1:1 src `\n  /app/\nFROM build\nCOPY [\"a b\", \"/c\"]\n";
        let d = parse(df);
        assert_eq!(d.meta.len(), 1);
        assert_eq!(d.stages.len(), 2);
        assert_eq!(d.stages[0].name.as_deref(), Some("build"));
        assert_eq!(d.stages[0].base, "base:$V");
        assert_eq!(d.stages[0].body[0].text, "COPY --chown=1:1 src /app/");
        assert_eq!(d.stage_ref("BUILD", 1), Some(0));
        assert_eq!(d.stage_ref("0", 1), Some(0));
        assert_eq!(d.stage_ref("build", 0), None);
        assert_eq!(d.target(None), Some(1));
        assert_eq!(d.target(Some("build")), Some(0));
        let (f, rest) = flags(d.stages[0].body[0].rest());
        assert_eq!(f, vec![("chown".to_string(), "1:1".to_string())]);
        assert_eq!(copy_operands(rest), vec!["src", "/app/"]);
        assert_eq!(copy_operands(d.stages[1].body[0].rest()), vec!["a b", "/c"]);
        assert_eq!(
            env_pairs("A=1 B=\"two words\""),
            vec![("A".into(), "1".into()), ("B".into(), "two words".into())]
        );
        assert_eq!(env_pairs("A one two"), vec![("A".into(), "one two".into())]);
        assert_eq!(
            arg_decls("X Y=2"),
            vec![("X".into(), None), ("Y".into(), Some("2".into()))]
        );
        let labels = "FROM a AS one\nLABEL in.one=1\nFROM one AS two\nLABEL \"in.two\"=\"2 2\" in.three=x\nFROM b AS other\nLABEL not.here=1\nFROM two\nLABEL old value\n";
        let keys: Vec<String> = label_keys(labels, None, &BTreeMap::new())
            .into_iter()
            .collect();
        assert_eq!(keys, vec!["in.one", "in.three", "in.two", "old"]);
        let keys: Vec<String> = label_keys(labels, Some("other"), &BTreeMap::new())
            .into_iter()
            .collect();
        assert_eq!(keys, vec!["not.here"]);
        let m = mount_options("type=bind,src=go.sum,target=/x");
        assert_eq!(m.get("source").map(String::as_str), Some("go.sum"));
    }
}
