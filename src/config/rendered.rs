//! The rendered werf.yaml and the map from its positions back to what the user wrote: what
//! every located error is reported against.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::settings::WerfVersion;

/// The rendered text and where it came from (for `config render`).
#[derive(Debug, Clone)]
pub struct Rendered {
    pub path: PathBuf,
    pub dir: PathBuf,
    pub text: String,
    /// Where the rendered text came from; the default maps every position to itself.
    pub origins: Origins,
    /// The werf version settled by `--werf-version` or a giterminism file (`None`: not
    /// settled so; see `werf_by_key`), for readings that differ between werf versions.
    pub werf_version: Option<WerfVersion>,
    /// werf 2 because werf.yaml has a key only werf ≥ 1.2 knows (`werf_version` unset): the
    /// `dockerfile:` path is still looked up both ways, werf 2's first.
    pub werf_by_key: bool,
    /// Whether images share one repository (`REPO:IMAGE-TAG`): some image names are
    /// reserved then.
    pub monorepo: bool,
    /// werf's giterminism file (werf ≥ 1.2) and `--loose-giterminism`.
    pub giterminism: Giterminism,
}

/// What werf's giterminism file allows (werf ≥ 1.2; Slipway reads only what changes what
/// werf.yaml may say about stapel images).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Giterminism {
    /// The file, as messages name it; `None` when there is none.
    pub file: Option<String>,
    /// `config.stapel.allowFromLatest`.
    pub allow_from_latest: bool,
    /// `config.stapel.git.allowBranch`.
    pub allow_branch: bool,
    /// `--loose-giterminism` (`WERF_LOOSE_GITERMINISM`): every restriction is lifted.
    pub loose: bool,
}

impl Giterminism {
    /// Whether `fromLatest: true` is allowed.
    pub fn from_latest(&self) -> bool {
        self.loose || self.allow_from_latest
    }

    /// Whether a remote mapping may follow a branch.
    pub fn branch(&self) -> bool {
        self.loose || self.allow_branch
    }
}

/// Rendered positions back to the lines the user wrote: werf.yaml, a `.werf/` partial or a
/// `tpl` text.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    pub(super) map: Option<gotemplate::SourceMap>,
    /// File name of each template parse name.
    pub(super) files: BTreeMap<String, String>,
}

/// A rendered position traced back to a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePos {
    pub file: String,
    pub line: usize,
    pub col: usize,
    /// The text at the position was produced by the action at `line:col`.
    pub produced: bool,
}

impl Origins {
    /// Where rendered `line:col` (1-based, col in characters) of `text` was written.
    pub fn locate(&self, text: &str, line: usize, col: usize) -> Option<SourcePos> {
        let map = self.map.as_ref()?;
        let start: usize = text
            .split_inclusive('\n')
            .take(line.saturating_sub(1))
            .map(str::len)
            .sum();
        let rest = &text[start.min(text.len())..];
        let within: usize = rest
            .chars()
            .take_while(|c| *c != '\n')
            .take(col.saturating_sub(1))
            .map(char::len_utf8)
            .sum();
        let o = map.locate(start + within)?;
        Some(SourcePos {
            file: self.files.get(&o.name).cloned().unwrap_or(o.name),
            line: o.line,
            col: o.col,
            produced: o.produced,
        })
    }
}

impl Rendered {
    /// The werf version whose reading applies.
    pub fn werf(&self) -> WerfVersion {
        match (self.werf_version, self.werf_by_key) {
            (Some(v), _) => v,
            (None, true) => WerfVersion::V2,
            (None, false) => WerfVersion::V1_1,
        }
    }
}

#[cfg(test)]
impl Rendered {
    /// `text` as werf.yaml of the project `/p`, each position its own origin.
    pub(super) fn plain_for_test(text: &str) -> Rendered {
        Rendered {
            path: PathBuf::from("/p/werf.yaml"),
            dir: PathBuf::from("/p"),
            text: text.to_string(),
            origins: Origins::default(),
            werf_version: None,
            werf_by_key: false,
            monorepo: false,
            giterminism: Giterminism::default(),
        }
    }

    /// `template` rendered as werf.yaml, with the map back to it.
    pub(super) fn rendered_for_test(template: &str) -> Rendered {
        let input = super::render::RenderInput::default();
        let r = super::render::render_mapped("werf.yaml", template, &input).expect("renders");
        Rendered {
            text: r.text,
            origins: Origins {
                map: Some(r.map),
                files: r.files,
            },
            ..Rendered::plain_for_test("")
        }
    }
}
