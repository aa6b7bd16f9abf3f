//! Errors, with Go's texts and the position they refer to.

/// Which stage failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Parse,
    Exec,
}

/// A template error. `Display` gives Go's exact text (`template: NAME:LINE:COL: executing
/// "NAME" at <.X>: …` or `template: NAME:LINE: …`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// The template executing (for execution errors) or being parsed.
    pub template: String,
    /// Line and 0-based byte column in the text the failing node was parsed from.
    pub line_col: Option<(usize, usize)>,
}

impl Error {
    pub(crate) fn exec(message: String, template: &str, line_col: Option<(usize, usize)>) -> Self {
        Error {
            kind: ErrorKind::Exec,
            message,
            template: template.to_string(),
            line_col,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
