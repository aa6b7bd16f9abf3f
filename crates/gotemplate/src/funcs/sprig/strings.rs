//! sprig's string, regex, path and reflection functions.

use std::collections::BTreeMap;

use super::convert::{strslice, strval};
use super::{Reg, fixed, str_list, string, var};
use crate::fmt::{quote, sprint_value};
use crate::funcs::{Ty, int, s};
use crate::value::{Elem, Map, Value};

pub(super) fn register(v: &mut Reg) {
    use Ty::*;
    fixed(v, "hello", &[], |_| Ok(Value::str("Hello!")));
    fixed(v, "abbrev", &[Int, String], |a| {
        Ok(string(abbrev(int(&a[0]), s(&a[1]))))
    });
    fixed(v, "abbrevboth", &[Int, Int, String], |a| {
        Ok(string(abbrevboth(int(&a[0]), int(&a[1]), s(&a[2]))))
    });
    fixed(v, "trunc", &[Int, String], |a| {
        Ok(string(trunc(int(&a[0]), s(&a[1]))))
    });
    fixed(v, "trim", &[String], |a| Ok(string(s(&a[0]).trim())));
    fixed(v, "upper", &[String], |a| {
        Ok(string(s(&a[0]).to_uppercase()))
    });
    fixed(v, "lower", &[String], |a| {
        Ok(string(s(&a[0]).to_lowercase()))
    });
    fixed(v, "title", &[String], |a| Ok(string(title(s(&a[0])))));
    fixed(v, "untitle", &[String], |a| Ok(string(untitle(s(&a[0])))));
    fixed(v, "substr", &[Int, Int, String], |a| {
        substr(int(&a[0]), int(&a[1]), s(&a[2]))
    });
    fixed(v, "repeat", &[Int, String], |a| {
        let n = int(&a[0]);
        if n < 0 {
            return Err("strings: negative Repeat count".into());
        }
        Ok(string(s(&a[1]).repeat(n as usize)))
    });
    for name in ["trimall", "trimAll"] {
        fixed(v, name, &[String, String], |a| {
            let cut: Vec<char> = s(&a[0]).chars().collect();
            Ok(string(s(&a[1]).trim_matches(|c| cut.contains(&c))))
        });
    }
    fixed(v, "trimSuffix", &[String, String], |a| {
        Ok(string(s(&a[1]).strip_suffix(s(&a[0])).unwrap_or(s(&a[1]))))
    });
    fixed(v, "trimPrefix", &[String, String], |a| {
        Ok(string(s(&a[1]).strip_prefix(s(&a[0])).unwrap_or(s(&a[1]))))
    });
    fixed(v, "nospace", &[String], |a| Ok(string(nospace(s(&a[0])))));
    fixed(v, "initials", &[String], |a| Ok(string(initials(s(&a[0])))));
    fixed(v, "swapcase", &[String], |a| Ok(string(swapcase(s(&a[0])))));
    fixed(v, "shuffle", &[String], |a| {
        let mut c: Vec<char> = s(&a[0]).chars().collect();
        fastrand::shuffle(&mut c);
        Ok(string(c.into_iter().collect::<std::string::String>()))
    });
    fixed(v, "snakecase", &[String], |a| {
        Ok(string(super::strings_case::to_snake(s(&a[0]), '_')))
    });
    fixed(v, "kebabcase", &[String], |a| {
        Ok(string(super::strings_case::to_snake(s(&a[0]), '-')))
    });
    fixed(v, "camelcase", &[String], |a| {
        Ok(string(super::strings_case::to_camel(s(&a[0]))))
    });
    fixed(v, "wrap", &[Int, String], |a| {
        Ok(string(wrap_custom(s(&a[1]), int(&a[0]), "", false)))
    });
    fixed(v, "wrapWith", &[Int, String, String], |a| {
        Ok(string(wrap_custom(s(&a[2]), int(&a[0]), s(&a[1]), true)))
    });
    fixed(v, "contains", &[String, String], |a| {
        Ok(Value::Bool(s(&a[1]).contains(s(&a[0]))))
    });
    fixed(v, "hasPrefix", &[String, String], |a| {
        Ok(Value::Bool(s(&a[1]).starts_with(s(&a[0]))))
    });
    fixed(v, "hasSuffix", &[String, String], |a| {
        Ok(Value::Bool(s(&a[1]).ends_with(s(&a[0]))))
    });
    var(v, "quote", &[], Any, |a| {
        let out: Vec<std::string::String> = a
            .iter()
            .filter(|x| !matches!(x, Value::Nil))
            .map(|x| quote(&strval(x)))
            .collect();
        Ok(string(out.join(" ")))
    });
    var(v, "squote", &[], Any, |a| {
        let out: Vec<std::string::String> = a
            .iter()
            .filter(|x| !matches!(x, Value::Nil))
            .map(|x| format!("'{}'", sprint_value(x)))
            .collect();
        Ok(string(out.join(" ")))
    });
    var(v, "cat", &[], Any, |a| {
        let out: Vec<std::string::String> = a
            .iter()
            .filter(|x| !matches!(x, Value::Nil))
            .map(sprint_value)
            .collect();
        Ok(string(out.join(" ")))
    });
    fixed(v, "indent", &[Int, String], |a| {
        Ok(string(indent(int(&a[0]), s(&a[1]))))
    });
    fixed(v, "nindent", &[Int, String], |a| {
        Ok(string(format!("\n{}", indent(int(&a[0]), s(&a[1])))))
    });
    fixed(v, "replace", &[String, String, String], |a| {
        Ok(string(s(&a[2]).replace(s(&a[0]), s(&a[1]))))
    });
    fixed(v, "plural", &[String, String, Int], |a| {
        Ok(if int(&a[2]) == 1 {
            a[0].clone()
        } else {
            a[1].clone()
        })
    });
    fixed(v, "toString", &[Any], |a| Ok(string(strval(&a[0]))));
    fixed(v, "split", &[String, String], |a| {
        Ok(split_map(s(&a[1]).split(s(&a[0])).collect()))
    });
    fixed(v, "splitList", &[String, String], |a| {
        Ok(str_list(go_split(s(&a[1]), s(&a[0]), -1)))
    });
    fixed(v, "splitn", &[String, Int, String], |a| {
        let parts = go_split(s(&a[2]), s(&a[0]), int(&a[1]));
        Ok(split_map(parts.iter().map(|x| x.as_str()).collect()))
    });
    fixed(v, "toStrings", &[Any], |a| Ok(str_list(strslice(&a[0]))));
    fixed(v, "join", &[String, Any], |a| {
        Ok(string(strslice(&a[1]).join(s(&a[0]))))
    });
    fixed(v, "sortAlpha", &[Any], |a| {
        let mut l = match &a[0] {
            Value::List(_) => strslice(&a[0]),
            x => vec![strval(x)],
        };
        l.sort();
        Ok(str_list(l))
    });
    // Regular expressions.
    fixed(v, "regexMatch", &[String, String], |a| {
        Ok(Value::Bool(
            compile(s(&a[0]))
                .map(|r| r.is_match(s(&a[1])))
                .unwrap_or(false),
        ))
    });
    fixed(v, "mustRegexMatch", &[String, String], |a| {
        Ok(Value::Bool(compile(s(&a[0]))?.is_match(s(&a[1]))))
    });
    for (name, must) in [("regexFindAll", false), ("mustRegexFindAll", true)] {
        fixed(v, name, &[String, String, Int], move |a| {
            let r = compile_for(s(&a[0]), must)?;
            let n = int(&a[2]);
            if n == 0 {
                return Ok(str_list(Vec::new()));
            }
            let it = r.find_iter(s(&a[1])).map(|m| m.as_str().to_string());
            Ok(str_list(if n < 0 {
                it.collect()
            } else {
                it.take(n as usize).collect()
            }))
        });
    }
    for (name, must) in [("regexFind", false), ("mustRegexFind", true)] {
        fixed(v, name, &[String, String], move |a| {
            let r = compile_for(s(&a[0]), must)?;
            Ok(string(r.find(s(&a[1])).map(|m| m.as_str()).unwrap_or("")))
        });
    }
    for (name, must) in [("regexReplaceAll", false), ("mustRegexReplaceAll", true)] {
        fixed(v, name, &[String, String, String], move |a| {
            let r = compile_for(s(&a[0]), must)?;
            Ok(string(r.replace_all(s(&a[1]), s(&a[2])).into_owned()))
        });
    }
    for (name, must) in [
        ("regexReplaceAllLiteral", false),
        ("mustRegexReplaceAllLiteral", true),
    ] {
        fixed(v, name, &[String, String, String], move |a| {
            let r = compile_for(s(&a[0]), must)?;
            Ok(string(
                r.replace_all(s(&a[1]), regex::NoExpand(s(&a[2])))
                    .into_owned(),
            ))
        });
    }
    for (name, must) in [("regexSplit", false), ("mustRegexSplit", true)] {
        fixed(v, name, &[String, String, Int], move |a| {
            let r = compile_for(s(&a[0]), must)?;
            Ok(match regex_split(&r, s(&a[0]), s(&a[1]), int(&a[2])) {
                Some(l) => str_list(l),
                None => str_list(Vec::new()),
            })
        });
    }
    fixed(v, "regexQuoteMeta", &[String], |a| {
        Ok(string(quote_meta(s(&a[0]))))
    });
    // Paths (path and path/filepath on a Unix system are the same).
    for (name, f) in [
        ("base", path_base as fn(&str) -> std::string::String),
        ("dir", path_dir),
        ("clean", path_clean),
        ("ext", path_ext),
        ("osBase", path_base),
        ("osDir", path_dir),
        ("osClean", path_clean),
        ("osExt", path_ext),
    ] {
        fixed(v, name, &[String], move |a| Ok(string(f(s(&a[0])))));
    }
    fixed(v, "isAbs", &[String], |a| {
        Ok(Value::Bool(s(&a[0]).starts_with('/')))
    });
    fixed(v, "osIsAbs", &[String], |a| {
        Ok(Value::Bool(s(&a[0]).starts_with('/')))
    });
    // Reflection.
    fixed(v, "typeOf", &[Any], |a| Ok(string(a[0].type_name())));
    fixed(v, "typeIs", &[String, Any], |a| {
        Ok(Value::Bool(s(&a[0]) == a[1].type_name()))
    });
    fixed(v, "typeIsLike", &[String, Any], |a| {
        let t = a[1].type_name();
        Ok(Value::Bool(s(&a[0]) == t || format!("*{}", s(&a[0])) == t))
    });
    fixed(v, "kindOf", &[Any], |a| Ok(Value::str(a[0].kind_name())));
    fixed(v, "kindIs", &[String, Any], |a| {
        Ok(Value::Bool(s(&a[0]) == a[1].kind_name()))
    });
    fixed(v, "deepEqual", &[Any, Any], |a| {
        Ok(Value::Bool(a[0].deep_equal(&a[1])))
    });
}

fn split_map(parts: Vec<&str>) -> Value {
    let m: BTreeMap<std::string::String, Value> = parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| (format!("_{i}"), Value::str(p)))
        .collect();
    Value::Map(Map {
        entries: std::rc::Rc::new(std::cell::RefCell::new(m)),
        elem: Elem::Str,
    })
}

/// Go's `strings.SplitN` (n < 0: all; an empty separator splits into UTF-8 sequences).
pub(crate) fn go_split(s: &str, sep: &str, n: i64) -> Vec<std::string::String> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let chars: Vec<std::string::String> = s.chars().map(|c| c.to_string()).collect();
        if n > 0 && (n as usize) < chars.len() {
            let mut out: Vec<std::string::String> = chars[..n as usize - 1].to_vec();
            out.push(chars[n as usize - 1..].concat());
            return out;
        }
        return chars;
    }
    if n < 0 {
        return s.split(sep).map(String::from).collect();
    }
    s.splitn(n as usize, sep).map(String::from).collect()
}

fn abbrev_full(s: &str, offset: i64, max: i64) -> std::string::String {
    if s.is_empty() || max < 4 {
        return std::string::String::new();
    }
    let len = s.len() as i64;
    if len <= max {
        return s.to_string();
    }
    let mut offset = offset.min(len);
    if len - offset < max - 3 {
        offset = len - (max - 3);
    }
    let b = s.as_bytes();
    let sub = |a: i64, z: i64| {
        std::string::String::from_utf8_lossy(&b[a as usize..z as usize]).into_owned()
    };
    if offset <= 4 {
        return sub(0, max - 3) + "...";
    }
    if max < 7 {
        return std::string::String::new();
    }
    if offset + max - 3 < len {
        return format!("...{}", abbrev_full(&sub(offset, len), 0, max - 3));
    }
    format!("...{}", sub(len - (max - 3), len))
}

fn abbrev(width: i64, s: &str) -> std::string::String {
    if width < 4 {
        return s.to_string();
    }
    abbrev_full(s, 0, width)
}

fn abbrevboth(left: i64, right: i64, s: &str) -> std::string::String {
    if right < 4 || left > 0 && right < 7 {
        return s.to_string();
    }
    abbrev_full(s, left, right)
}

fn trunc(c: i64, s: &str) -> std::string::String {
    let len = s.len() as i64;
    let b = s.as_bytes();
    if c < 0 && len + c > 0 {
        return std::string::String::from_utf8_lossy(&b[(len + c) as usize..]).into_owned();
    }
    if c >= 0 && len > c {
        return std::string::String::from_utf8_lossy(&b[..c as usize]).into_owned();
    }
    s.to_string()
}

fn substr(start: i64, end: i64, s: &str) -> Result<Value, std::string::String> {
    let len = s.len() as i64;
    let b = s.as_bytes();
    let slice = |a: i64, z: i64| -> Result<Value, std::string::String> {
        if a < 0 || z < a || z > len {
            return Err(format!(
                "runtime error: slice bounds out of range [{a}:{z}]"
            ));
        }
        Ok(string(
            std::string::String::from_utf8_lossy(&b[a as usize..z as usize]).into_owned(),
        ))
    };
    if start < 0 {
        if end < 0 || end > len {
            return Err(format!(
                "runtime error: slice bounds out of range [:{end}] with length {len}"
            ));
        }
        return slice(0, end);
    }
    if end < 0 || end > len {
        if start > len {
            return Err(format!(
                "runtime error: slice bounds out of range [{start}:{len}]"
            ));
        }
        return slice(start, len);
    }
    if start > end {
        return Err(format!(
            "runtime error: slice bounds out of range [{start}:{end}]"
        ));
    }
    slice(start, end)
}

fn is_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphabetic() || c.is_numeric() {
        return false;
    }
    c.is_whitespace()
}

/// Go's deprecated `strings.Title`.
fn title(s: &str) -> std::string::String {
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if is_separator(prev) {
                to_title(c)
            } else {
                c.to_string()
            };
            prev = c;
            out
        })
        .collect()
}

fn to_title(c: char) -> std::string::String {
    c.to_uppercase().collect()
}

fn untitle(s: &str) -> std::string::String {
    let mut next = true;
    s.chars()
        .map(|c| {
            if c.is_whitespace() {
                next = true;
                c.to_string()
            } else if next {
                next = false;
                c.to_lowercase().collect()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn nospace(s: &str) -> std::string::String {
    // goutils works on bytes: only ASCII (and Latin-1 byte values) can be spaces there.
    s.chars()
        .filter(|c| !(c.is_ascii() && c.is_whitespace()))
        .collect()
}

fn initials(s: &str) -> std::string::String {
    let mut out = std::string::String::new();
    let mut gap = true;
    for b in s.bytes() {
        let c = b as char;
        if c.is_whitespace() || b == 0x85 || b == 0xA0 {
            gap = true;
        } else if gap {
            out.push(c);
            gap = false;
        }
    }
    out
}

fn swapcase(s: &str) -> std::string::String {
    let mut ws = true;
    s.chars()
        .map(|c| {
            if c.is_uppercase() {
                ws = false;
                c.to_lowercase().collect::<std::string::String>()
            } else if c.is_lowercase() {
                if ws {
                    ws = false;
                    to_title(c)
                } else {
                    c.to_uppercase().collect()
                }
            } else {
                ws = c.is_whitespace();
                c.to_string()
            }
        })
        .collect()
}

fn wrap_custom(s: &str, wrap: i64, nl: &str, long_words: bool) -> std::string::String {
    if s.is_empty() {
        return std::string::String::new();
    }
    let nl = if nl.is_empty() { "\n" } else { nl };
    let wrap = wrap.max(1) as usize;
    let b = s.as_bytes();
    let len = b.len();
    let mut off = 0;
    let mut out: Vec<u8> = Vec::new();
    while len - off > wrap {
        if b[off] == b' ' {
            off += 1;
            continue;
        }
        let end = (wrap + off + 1).min(len);
        let space = b[off..end].iter().rposition(|c| *c == b' ');
        if let Some(sp) = space.map(|i| i + off) {
            out.extend_from_slice(&b[off..sp]);
            out.extend_from_slice(nl.as_bytes());
            off = sp + 1;
        } else if long_words {
            let end = wrap + off;
            out.extend_from_slice(&b[off..end]);
            out.extend_from_slice(nl.as_bytes());
            off += wrap;
        } else {
            let end = wrap + off;
            match b[end..].iter().position(|c| *c == b' ') {
                None => {
                    out.extend_from_slice(&b[off..]);
                    off = len;
                }
                Some(i) => {
                    let sp = i + end;
                    out.extend_from_slice(&b[off..sp]);
                    out.extend_from_slice(nl.as_bytes());
                    off = sp + 1;
                }
            }
        }
    }
    out.extend_from_slice(&b[off..]);
    std::string::String::from_utf8_lossy(&out).into_owned()
}

fn indent(n: i64, s: &str) -> std::string::String {
    let pad = " ".repeat(n.max(0) as usize);
    format!("{pad}{}", s.replace('\n', &format!("\n{pad}")))
}

/// Go's regexp error text for the common syntax errors (`missing closing ): `(``), else
/// the regex crate's description.
fn go_regex_error(re: &str, e: &regex::Error) -> std::string::String {
    let text = e.to_string();
    let kind = text
        .lines()
        .last()
        .unwrap_or("")
        .trim_start_matches("error: ");
    let (code, frag) = match kind {
        "unclosed group" => ("missing closing )", re.to_string()),
        "unopened group" => ("unexpected )", re.to_string()),
        "unclosed character class" => {
            let from = re.rfind('[').unwrap_or(0);
            ("missing closing ]", re[from..].to_string())
        }
        _ => return format!("error parsing regexp: {text}"),
    };
    format!("error parsing regexp: {code}: `{frag}`")
}

fn compile(re: &str) -> Result<regex::Regex, std::string::String> {
    regex::Regex::new(re).map_err(|e| go_regex_error(re, &e))
}

fn compile_for(re: &str, must: bool) -> Result<regex::Regex, std::string::String> {
    match compile(re) {
        Ok(r) => Ok(r),
        Err(e) if must => Err(e),
        Err(e) => Err(format!("regexp: Compile({}): {e}", go_backquote(re))),
    }
}

fn go_backquote(s: &str) -> std::string::String {
    if s.contains('`') {
        quote(s)
    } else {
        format!("`{s}`")
    }
}

fn regex_split(r: &regex::Regex, expr: &str, s: &str, n: i64) -> Option<Vec<std::string::String>> {
    if n == 0 {
        return None;
    }
    if !expr.is_empty() && s.is_empty() {
        return Some(vec![std::string::String::new()]);
    }
    let matches: Vec<(usize, usize)> = r.find_iter(s).map(|m| (m.start(), m.end())).collect();
    let mut out = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for (a, z) in matches {
        if n > 0 && out.len() as i64 == n - 1 {
            break;
        }
        end = a;
        if z != 0 {
            out.push(s[beg..end].to_string());
        }
        beg = z;
    }
    if end != s.len() {
        out.push(s[beg..].to_string());
    }
    Some(out)
}

fn quote_meta(s: &str) -> std::string::String {
    let mut o = std::string::String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// Go's `path.Clean`.
pub(crate) fn path_clean(p: &str) -> std::string::String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    if rooted {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

/// Go's `path.Base`.
pub(crate) fn path_base(p: &str) -> std::string::String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    match t.rfind('/') {
        Some(i) => t[i + 1..].to_string(),
        None => t.to_string(),
    }
}

/// Go's `path.Dir`.
pub(crate) fn path_dir(p: &str) -> std::string::String {
    let i = p.rfind('/').map(|i| i + 1).unwrap_or(0);
    path_clean(&p[..i])
}

/// Go's `path.Ext`.
pub(crate) fn path_ext(p: &str) -> std::string::String {
    for (i, c) in p.char_indices().rev() {
        if c == '/' {
            break;
        }
        if c == '.' {
            return p[i..].to_string();
        }
    }
    std::string::String::new()
}
