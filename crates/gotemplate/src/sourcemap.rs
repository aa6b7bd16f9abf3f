//! Where each byte of a template's output came from: a template's text, copied verbatim, or
//! an action, whose output rendering produced. Output of templates that host functions
//! execute (`include`, `tpl`) is remembered while a mapped execution runs, so when an action
//! prints that string again, as it is or re-indented (`nindent`, `indent`), its lines keep
//! the origins they had in the partial.

use std::rc::Rc;

/// The text of one parsed template (a top-level text and its `define`s share it).
#[derive(Debug)]
pub struct Source {
    /// The name it was parsed under (`Tree::parse_name`).
    pub name: String,
    pub text: Rc<str>,
}

/// Output bytes `start..end` came from `source` at byte `pos`.
#[derive(Debug, Clone)]
pub struct Segment {
    pub start: usize,
    pub end: usize,
    pub source: Rc<Source>,
    pub pos: usize,
    /// Template text copied as is (each byte has its own source byte); otherwise the output
    /// of the action at `pos`.
    pub verbatim: bool,
}

/// A position in a template's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The template's parse name (`werf.yaml`, a partial's name, a `tpl` text's name).
    pub name: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub col: usize,
    /// The byte was produced by an action (at `line:col`), not written in the template.
    pub produced: bool,
}

/// The origins of one execution's output.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    pub(crate) segments: Vec<Segment>,
}

impl SourceMap {
    /// Where output byte `offset` came from. An offset at or after the end of the output
    /// (a YAML error at end of input) maps to the last byte.
    pub fn locate(&self, offset: usize) -> Option<Origin> {
        // Later segments are more precise than an earlier one they overlap (a re-indented
        // include's lines inside the action that printed it).
        let seg = self
            .segments
            .iter()
            .rev()
            .find(|s| s.start <= offset && offset < s.end)
            .or_else(|| {
                self.segments
                    .iter()
                    .filter(|s| s.end <= offset)
                    .max_by_key(|s| s.end)
            })?;
        let pos = if seg.verbatim {
            let off = offset.clamp(seg.start, seg.end.saturating_sub(1).max(seg.start));
            seg.pos + (off - seg.start)
        } else {
            seg.pos
        };
        let text = &seg.source.text;
        let mut pos = pos.min(text.len());
        while !text.is_char_boundary(pos) {
            pos -= 1;
        }
        let before = &text[..pos];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Some(Origin {
            name: seg.source.name.clone(),
            line: 1 + before.matches('\n').count(),
            col: 1 + text[line_start..pos].chars().count(),
            produced: !seg.verbatim,
        })
    }
}

/// Segments for `printed` at output offset `base`, if it is the output of a remembered
/// execution (`recent`, newest last), as it is or with its lines re-indented.
pub(crate) fn splice(
    recent: &[(String, Vec<Segment>)],
    printed: &str,
    base: usize,
) -> Option<Vec<Segment>> {
    // A one-line value is as likely another action's equal output; only text with lines
    // is attributed to the execution that produced it.
    if !printed.contains('\n') {
        return None;
    }
    if let Some((_, segs)) = recent.iter().rev().find(|(out, _)| out == printed) {
        return Some(shifted(segs, 0, usize::MAX, base as isize));
    }
    recent
        .iter()
        .rev()
        .find_map(|(out, segs)| reindented(out, segs, printed, base))
}

/// Copies of the parts of `segs` inside `from..to`, moved by `delta`.
fn shifted(segs: &[Segment], from: usize, to: usize, delta: isize) -> Vec<Segment> {
    segs.iter()
        .filter(|s| s.end > from && s.start < to)
        .map(|s| {
            let start = s.start.max(from);
            let end = s.end.min(to);
            Segment {
                start: (start as isize + delta) as usize,
                end: (end as isize + delta) as usize,
                source: s.source.clone(),
                pos: if s.verbatim {
                    s.pos + (start - s.start)
                } else {
                    s.pos
                },
                verbatim: s.verbatim,
            }
        })
        .collect()
}

/// Lines with their byte offset, indentation and content (without the newline).
fn lines(text: &str) -> Vec<(usize, usize, &str)> {
    let mut out = Vec::new();
    let mut at = 0;
    for l in text.split_inclusive('\n') {
        let body = l.strip_suffix('\n').unwrap_or(l);
        let content = body.trim_start_matches([' ', '\t']);
        out.push((at, body.len() - content.len(), content));
        at += l.len();
    }
    out
}

/// When every non-blank line of `printed` is a line of `out` in order (indentation aside),
/// each such line gets the origins of its line in `out`.
fn reindented(out: &str, segs: &[Segment], printed: &str, base: usize) -> Option<Vec<Segment>> {
    // Cheap rejection before aligning lines: the first line with text must appear as is.
    let first = out.lines().map(str::trim_start).find(|l| !l.is_empty())?;
    if !printed.contains(first) {
        return None;
    }
    let from = lines(out);
    let mut next = 0;
    let mut result = Vec::new();
    let mut matched = false;
    for (at, indent, content) in lines(printed) {
        if content.is_empty() {
            continue;
        }
        let j = next + from[next..].iter().position(|(_, _, c)| *c == content)?;
        let (fat, findent, _) = from[j];
        let src_start = fat + findent;
        let dst_start = base + at + indent;
        result.extend(shifted(
            segs,
            src_start,
            src_start + content.len(),
            dst_start as isize - src_start as isize,
        ));
        next = j + 1;
        matched = true;
    }
    matched.then_some(result)
}
