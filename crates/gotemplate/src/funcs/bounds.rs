//! Upper bounds of what the functions that can build far more than their arguments hold
//! would build, checked against the set's budget before they run (see `crate::budget`).
//! Functions whose result is at most a small multiple of their arguments (`upper`, `b64enc`,
//! `append`) need none: their arguments were charged when they were built, and their result
//! is charged after the call.

use super::{SizeBound, int, s};
use crate::budget::list_bytes;
use crate::value::Value;

/// A string's allocation besides its bytes (the `Rc<str>` header).
const STR_OVERHEAD: usize = 16;
/// Bytes `%v` may print for a scalar (an int64, a float, a time).
const SCALAR_TEXT: usize = 40;
/// How much `%q`/`%x`/`quote` may grow text (`\x00` for one byte).
const ESCAPE_FACTOR: usize = 4;
/// Lists and maps nested deeper than this are not measured further (a map can hold
/// itself through `set`).
const MAX_DEPTH: usize = 64;

/// The bound for a builtin or sprig function, by name.
pub(crate) fn of(name: &str) -> Option<SizeBound> {
    Some(match name {
        "repeat" => |a| (int(&a[0]).max(0) as usize).saturating_mul(s(&a[1]).len()),
        "until" => |a| list_bytes(int(&a[0]).unsigned_abs() as usize),
        "untilStep" => |a| list_bytes(steps(int(&a[0]), int(&a[1]), int(&a[2]))),
        "seq" => seq,
        "indent" | "nindent" => |a| {
            let text = s(&a[1]);
            let lines = text.bytes().filter(|b| *b == b'\n').count() + 1;
            lines
                .saturating_mul(int(&a[0]).max(0) as usize)
                .saturating_add(text.len() + 1)
        },
        "replace" => |a| {
            let (old, new, text) = (s(&a[0]), s(&a[1]), s(&a[2]));
            let n = if old.is_empty() {
                text.chars().count() + 1
            } else {
                text.matches(old).count()
            };
            n.saturating_mul(new.len()).saturating_add(text.len())
        },
        "regexReplaceAll"
        | "mustRegexReplaceAll"
        | "regexReplaceAllLiteral"
        | "mustRegexReplaceAllLiteral" => regex_replace,
        "wrapWith" => |a| {
            let text = s(&a[2]);
            (text.chars().count() + 1)
                .saturating_mul(s(&a[1]).len().max(1))
                .saturating_add(text.len())
        },
        "split" | "splitList" | "splitn" | "regexSplit" | "mustRegexSplit" | "regexFindAll"
        | "mustRegexFindAll" => split,
        "toStrings" => |a| text_size(&a[0], 0).saturating_add(list_bytes(items(&a[0]))),
        "concat" => |a| list_bytes(a.iter().map(items).fold(0, usize::saturating_add)),
        "randAlphaNum" | "randAlpha" | "randNumeric" | "randAscii" => {
            |a| int(&a[0]).max(0) as usize
        }
        "randBytes" => |a| (int(&a[0]).max(0) as usize).saturating_mul(2),
        "print" | "println" | "cat" | "join" | "html" | "js" | "urlquery" => {
            |a| args_text(a).saturating_mul(ESCAPE_FACTOR)
        }
        "quote" | "squote" => |a| args_text(a).saturating_mul(ESCAPE_FACTOR),
        "printf" => printf,
        "fromJson" | "mustFromJson" => parsed,
        _ => return None,
    })
}

/// What the text form of a value may take (`%v`): strings' bytes, scalars, separators.
pub fn text_size(v: &Value, depth: usize) -> usize {
    if depth > MAX_DEPTH {
        return 0;
    }
    match v {
        Value::String(s) => s.len(),
        Value::List(l) => l
            .items
            .borrow()
            .iter()
            .map(|e| text_size(e, depth + 1).saturating_add(1))
            .fold(2, usize::saturating_add),
        Value::Map(m) => m
            .entries
            .borrow()
            .iter()
            .map(|(k, e)| (k.len() + 2).saturating_add(text_size(e, depth + 1)))
            .fold(5, usize::saturating_add),
        _ => SCALAR_TEXT,
    }
}

/// A decoded text (`fromJson`, `fromYaml`): every separator may start a new value.
pub fn parsed(a: &[Value]) -> usize {
    let text = s(&a[0]);
    let values = text
        .bytes()
        .filter(|b| matches!(b, b',' | b'[' | b'{' | b':' | b'\n' | b'-'))
        .count()
        + 1;
    list_bytes(values)
        .saturating_mul(3)
        .saturating_add(text.len())
}

fn args_text(a: &[Value]) -> usize {
    a.iter()
        .map(|v| text_size(v, 0).saturating_add(1))
        .fold(0, usize::saturating_add)
}

fn items(v: &Value) -> usize {
    match v {
        Value::List(l) => l.len(),
        _ => 1,
    }
}

/// How many values `untilStep start stop step` gives.
fn steps(start: i64, stop: i64, step: i64) -> usize {
    let span = stop as i128 - start as i128;
    if step == 0 || span == 0 || (span > 0) != (step > 0) {
        return 0;
    }
    let step = (step as i128).abs();
    ((span.abs() + step - 1) / step) as usize
}

fn seq(a: &[Value]) -> usize {
    let p: Vec<i64> = a.iter().map(int).collect();
    let n = match p.len() {
        1 => (p[0] as i128 - 1).unsigned_abs() + 1,
        2 => (p[1] as i128 - p[0] as i128).unsigned_abs() + 1,
        3 => {
            (p[2] as i128 - p[0] as i128).unsigned_abs() / (p[1] as i128).unsigned_abs().max(1) + 1
        }
        _ => 0,
    };
    usize::try_from(n).unwrap_or(usize::MAX).saturating_mul(21)
}

fn split(a: &[Value]) -> usize {
    // The text is the last string argument in every form; the separator or pattern the
    // first (a regex may match anywhere: at most once per character and once at the end).
    let text = a.iter().rev().find_map(Value::as_str).unwrap_or_default();
    let sep = s(&a[0]);
    let pieces = if sep.is_empty() || a.len() == 3 && matches!(a[2], Value::Int(_)) {
        text.chars().count() + 1
    } else {
        text.matches(sep).count() + 1
    };
    pieces
        .saturating_mul(list_bytes(1) + STR_OVERHEAD + 32)
        .saturating_add(text.len())
}

fn regex_replace(a: &[Value]) -> usize {
    // Each match becomes the replacement, whose `$name`s may each expand to the match.
    let (pattern, text, repl) = (s(&a[0]), s(&a[1]), s(&a[2]));
    let Ok(re) = regex::Regex::new(pattern) else {
        return 0;
    };
    let (mut n, mut longest) = (0usize, 0usize);
    for m in re.find_iter(text) {
        n += 1;
        longest = longest.max(m.len());
    }
    let dollars = repl.bytes().filter(|b| *b == b'$').count();
    n.saturating_mul(repl.len().saturating_add(dollars.saturating_mul(longest)))
        .saturating_add(text.len())
}

fn printf(a: &[Value]) -> usize {
    // Every digit run may be a width or precision, and every `*` takes one from an argument.
    let format = s(&a[0]);
    let mut widths = 0usize;
    let mut run = 0usize;
    for b in format.bytes().chain(std::iter::once(b' ')) {
        if b.is_ascii_digit() {
            run = run.saturating_mul(10).saturating_add((b - b'0') as usize);
        } else {
            widths = widths.saturating_add(run);
            run = 0;
        }
    }
    let stars: usize = a[1..]
        .iter()
        .map(|v| match v {
            Value::Int(i) | Value::Int64(i) => i.unsigned_abs() as usize,
            _ => 0,
        })
        .fold(0, usize::saturating_add);
    // A width pads every element of a list or map argument.
    let padded = a[1..]
        .iter()
        .map(|v| leaves(v, 0))
        .fold(1, usize::saturating_add);
    args_text(&a[1..])
        .saturating_mul(ESCAPE_FACTOR)
        .saturating_add(format.len())
        .saturating_add(widths.saturating_add(stars).saturating_mul(padded))
}

fn leaves(v: &Value, depth: usize) -> usize {
    if depth > MAX_DEPTH {
        return 0;
    }
    match v {
        Value::List(l) => l
            .items
            .borrow()
            .iter()
            .map(|e| leaves(e, depth + 1))
            .fold(0, usize::saturating_add),
        Value::Map(m) => m
            .entries
            .borrow()
            .values()
            .map(|e| leaves(e, depth + 1).saturating_add(1))
            .fold(0, usize::saturating_add),
        _ => 1,
    }
}
