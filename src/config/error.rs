//! Located config errors: one problem as `FILE:LINE:COL: message`, every problem of a load,
//! and the collector the parsers report to.

use std::fmt;
use std::path::Path;

use serde_json::Value as Json;
use serde_saphyr::Spanned;

use super::rendered::Rendered;

/// One located problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based; 0 when the problem has no position (e.g. a missing file).
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.col, self.message
            )
        }
    }
}

/// Every problem found, in file order.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

pub(super) fn plain(file: &str, message: impl Into<String>) -> ConfigErrors {
    ConfigErrors(vec![ConfigError {
        file: file.to_string(),
        line: 0,
        col: 0,
        message: message.into(),
    }])
}

/// A file as messages name it: relative to the project directory when inside it.
pub(super) fn display_name(path: &Path, dir: &Path) -> String {
    path.strip_prefix(dir).unwrap_or(path).display().to_string()
}

/// Collects located errors and warnings while a rendered werf.yaml is parsed.
pub(super) struct Ctx<'a> {
    pub(super) file: String,
    pub(super) rendered: &'a Rendered,
    pub(super) errors: Vec<ConfigError>,
    pub(super) warnings: Vec<ConfigError>,
}

impl Ctx<'_> {
    pub(super) fn at(&mut self, loc: &serde_saphyr::Location, message: impl Into<String>) {
        self.at_pos(loc.line() as usize, loc.column() as usize, message);
    }

    pub(super) fn rendered_text(&self) -> &str {
        &self.rendered.text
    }

    pub(super) fn at_pos(&mut self, line: usize, col: usize, message: impl Into<String>) {
        let e = self.located(line, col, message.into());
        self.errors.push(e);
    }

    /// `FILE:LINE:COL` of a rendered position, traced back to what the user wrote (kept in
    /// the model for problems found later, at build time).
    pub(super) fn where_at(&self, loc: &serde_saphyr::Location) -> String {
        let e = self.located(loc.line() as usize, loc.column() as usize, String::new());
        format!("{}:{}:{}", e.file, e.line, e.col)
    }

    /// A located warning: accepted, but the user should know.
    pub(super) fn warn_at(&mut self, loc: &serde_saphyr::Location, message: impl Into<String>) {
        let e = self.located(loc.line() as usize, loc.column() as usize, message.into());
        self.warnings.push(e);
    }

    fn located(&self, line: usize, col: usize, mut message: String) -> ConfigError {
        let (file, line, col) = match self.rendered.origins.locate(&self.rendered.text, line, col) {
            Some(p) => {
                if p.produced {
                    let text = self
                        .rendered
                        .text
                        .lines()
                        .nth(line.saturating_sub(1))
                        .unwrap_or("");
                    message = format!(
                        "{message} (in text the template produced here; rendered line {line}: {text:?})"
                    );
                }
                (p.file, p.line, p.col)
            }
            None => (self.file.clone(), line, col),
        };
        ConfigError {
            file,
            line,
            col,
            message,
        }
    }

    /// Location of `key:` in a document, found from its value's position.
    pub(super) fn key(&mut self, v: &Spanned<Json>, key: &str, message: impl Into<String>) {
        let line = v.referenced.line() as usize;
        let col = self
            .rendered
            .text
            .lines()
            .nth(line.saturating_sub(1))
            .and_then(|l| l.find(&format!("{key}:")))
            .map(|c| c + 1);
        match col {
            Some(c) => self.at_pos(line, c, message),
            None => {
                let loc = v.referenced;
                self.at(&loc, message);
            }
        }
    }
}

pub(super) fn unknown_key_message(key: &str, known: &[&str]) -> String {
    let best = known
        .iter()
        .map(|k| {
            (
                crate::suggest::distance(&key.to_lowercase(), &k.to_lowercase()),
                *k,
            )
        })
        .min();
    match best {
        Some((d, k)) if d <= 2 || k.to_lowercase().starts_with(&key.to_lowercase()) => {
            format!("unknown key `{key}` (did you mean `{k}`?)")
        }
        _ => format!("unknown key `{key}`"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value as Json;
    use serde_saphyr::Spanned;

    use super::*;

    fn ctx(rendered: &Rendered) -> Ctx<'_> {
        Ctx {
            file: "werf.yaml".into(),
            rendered,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn messages(errors: &[ConfigError]) -> Vec<String> {
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn an_error_shows_file_line_and_column_when_it_has_them() {
        let e = ConfigError {
            file: "werf.yaml".into(),
            line: 3,
            col: 5,
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "werf.yaml:3:5: bad");
        let no_pos = ConfigError {
            line: 0,
            ..e.clone()
        };
        assert_eq!(no_pos.to_string(), "werf.yaml: bad");
        assert_eq!(
            plain("werf.yml", "missing").to_string(),
            "werf.yml: missing"
        );
        let both = ConfigErrors(vec![e, no_pos]);
        assert_eq!(both.to_string(), "werf.yaml:3:5: bad\nwerf.yaml: bad");
    }

    #[test]
    fn unknown_keys_suggest_a_near_or_longer_key() {
        let known = ["dockerfile", "context", "contextAddFiles"];
        assert_eq!(
            unknown_key_message("dockerfil", &known),
            "unknown key `dockerfil` (did you mean `dockerfile`?)"
        );
        assert_eq!(
            unknown_key_message("Context", &known),
            "unknown key `Context` (did you mean `context`?)"
        );
        assert_eq!(
            unknown_key_message("dockerf", &known),
            "unknown key `dockerf` (did you mean `dockerfile`?)"
        );
        assert_eq!(unknown_key_message("zzz", &known), "unknown key `zzz`");
        assert_eq!(unknown_key_message("zzz", &[]), "unknown key `zzz`");
    }

    #[test]
    fn errors_and_warnings_are_located_in_the_file() {
        let rendered = Rendered::plain_for_test("project: x\nconfigVersion: 2\n");
        let mut cx = ctx(&rendered);
        cx.at_pos(2, 16, "configVersion must be 1");
        let docs: Vec<std::collections::BTreeMap<String, Spanned<Json>>> =
            serde_saphyr::from_multiple(&rendered.text).expect("yaml");
        let v = &docs[0]["configVersion"];
        assert_eq!(cx.where_at(&v.referenced), "werf.yaml:2:16");
        cx.warn_at(&v.referenced, "noted");
        cx.key(v, "configVersion", "at the key");
        assert_eq!(
            messages(&cx.errors),
            [
                "werf.yaml:2:16: configVersion must be 1",
                "werf.yaml:2:1: at the key"
            ]
        );
        assert_eq!(messages(&cx.warnings), ["werf.yaml:2:16: noted"]);
    }

    #[test]
    fn positions_are_traced_back_to_the_template() {
        let rendered =
            Rendered::rendered_for_test("{{/* c */}}project: x\nconfigVersion: {{ \"2\" }}\n");
        assert_eq!(rendered.text, "project: x\nconfigVersion: 2\n");
        let mut cx = ctx(&rendered);
        // `project` starts at rendered column 1, written at column 12.
        cx.at_pos(1, 1, "written");
        // `2` was produced by the action whose pipeline is at line 2, column 19.
        cx.at_pos(2, 16, "produced");
        assert_eq!(
            messages(&cx.errors),
            [
                "werf.yaml:1:12: written",
                "werf.yaml:2:19: produced (in text the template produced here; rendered line 2: \"configVersion: 2\")",
            ]
        );
    }
}
