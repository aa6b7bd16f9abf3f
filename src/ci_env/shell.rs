//! Rendering the lines: POSIX shell, PowerShell or an env file, with werf's `--verbose`
//! echoes.

use super::{Line, Shell};

/// POSIX shell double-quoted string: `\`, `"`, `$` and backtick escaped, so nothing in a
/// value (a branch name like `$(rm -rf ~)`) is expanded or executed when sourced.
pub fn sh_quote(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// PowerShell double-quoted string: backtick is its escape character.
pub fn ps_quote(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '`' | '"' | '$' => {
                s.push('`');
                s.push(c);
            }
            '\n' => s.push_str("`n"),
            '\r' => s.push_str("`r"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// POSIX single-quoted string (for `echo`).
fn sh_single(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

/// How to render.
#[derive(Debug, Clone, Copy, Default)]
pub struct Render {
    pub shell: Shell,
    /// werf's `--verbose`: echo each line (secrets masked) so the job log shows them.
    pub verbose: bool,
}

impl Render {
    fn export(&self, key: &str, value: &str) -> String {
        match self.shell {
            Shell::Posix => format!("export {key}={}", sh_quote(value)),
            Shell::PowerShell => format!("$Env:{key} = {}", ps_quote(value)),
            Shell::EnvFile => env_file_line(key, value),
        }
    }

    fn echo(&self, out: &mut String, text: &str) {
        if !self.verbose || self.shell == Shell::EnvFile {
            return;
        }
        let quoted = match self.shell {
            Shell::PowerShell => format!("'{}'", text.replace('\'', "''")),
            _ => sh_single(text),
        };
        out.push_str(&format!("echo {quoted}\n"));
    }

    /// The lines as a script (or env file).
    pub fn lines(&self, lines: &[Line]) -> String {
        if self.shell == Shell::EnvFile {
            return env_file(lines);
        }
        let mut out = String::new();
        for l in lines {
            match l {
                Line::Header(h) => {
                    // werf's order: blank line, header, then their echoes.
                    let first = out.is_empty();
                    if !first {
                        out.push('\n');
                    }
                    out.push_str(&format!("# {h}\n"));
                    if !first {
                        self.echo(&mut out, "");
                    }
                    self.echo(&mut out, &format!("# {h}"));
                }
                Line::Skip {
                    key,
                    value,
                    by,
                    secret,
                } => {
                    let shown = if *secret { "***" } else { value };
                    let line = format!("# skip {} ({by} is set)", self.export(key, shown));
                    out.push_str(&format!("{line}\n"));
                    self.echo(&mut out, &line);
                }
                Line::Set { key, value, secret } => {
                    let mut line = self.export(key, value);
                    let mut shown = self.export(key, if *secret { "***" } else { value });
                    if value.is_empty() {
                        line = format!("# {line}");
                        shown = format!("# {shown}");
                    }
                    out.push_str(&format!("{line}\n"));
                    self.echo(&mut out, &shown);
                }
            }
        }
        out
    }

    /// What a fatal error prints on stdout, so `source $(slipway ci-env …)` stops the
    /// job: werf's `exit 1` (after the message when verbose).
    pub fn fatal(&self, message: &str) -> String {
        let mut out = String::new();
        self.echo(&mut out, "");
        self.echo(&mut out, &format!("Error: {message}"));
        out.push_str("exit 1\n");
        out
    }
}

/// An env file: only the variables set, as `KEY=VALUE`. Headers and skipped variables
/// would be `#` lines, which the runners' parsers reject; an empty value is left out as the
/// scripts comment it out (an empty `KEY=` would clear a variable the job set).
fn env_file(lines: &[Line]) -> String {
    let mut out = String::new();
    for l in lines {
        if let Line::Set { key, value, .. } = l
            && !value.is_empty()
        {
            out.push_str(&env_file_line(key, value));
            out.push('\n');
        }
    }
    out
}

/// One variable in GitHub's env-file syntax: `KEY=VALUE`, or for a value with a line break
/// `KEY<<DELIM\nVALUE\nDELIM` with a random delimiter (GitHub's documented form; a fixed
/// one could be forged by the value).
fn env_file_line(key: &str, value: &str) -> String {
    if !value.contains(['\n', '\r']) {
        return format!("{key}={value}");
    }
    loop {
        let delim = format!("ghadelimiter_{}", random_hex());
        if !value.contains(&delim) {
            return format!("{key}<<{delim}\n{value}\n{delim}");
        }
    }
}

/// 16 random bytes as hex (the delimiter's suffix).
fn random_hex() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    // The OS generator does not fail on supported systems; were it to, the time still
    // makes the delimiter unguessable enough for values that come from CI variables.
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        b = nanos.to_le_bytes();
    }
    hex::encode(b)
}

/// Render the lines without echoes.
pub fn render(lines: &[Line], shell: Shell) -> String {
    Render {
        shell,
        verbose: false,
    }
    .lines(lines)
}
