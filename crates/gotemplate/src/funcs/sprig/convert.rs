//! spf13/cast conversions and sprig's `strval`, `strslice`, `empty`.

use crate::fmt::sprint_value;
use crate::value::Value;

/// sprig's `strval`: strings as they are, everything else `%v`.
pub fn strval(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        v => sprint_value(v),
    }
}

/// sprig's `strslice`.
pub fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l
            .items
            .borrow()
            .iter()
            .filter(|e| !matches!(e, Value::Nil))
            .map(strval)
            .collect(),
        Value::Nil => Vec::new(),
        v => vec![strval(v)],
    }
}

/// sprig's `empty`.
pub fn empty(v: &Value) -> bool {
    !v.truth()
}

fn trim_zero_decimal(s: &str) -> &str {
    let b = s.as_bytes();
    let mut found_zero = false;
    let mut i = b.len();
    while i > 0 {
        match b[i - 1] {
            b'.' => {
                if found_zero {
                    return &s[..i - 1];
                }
            }
            b'0' => found_zero = true,
            _ => return s,
        }
        i -= 1;
    }
    s
}

/// Go's `strconv.ParseInt(s, base, 64)` with base 0 (prefixes, underscores) or a fixed base.
pub fn parse_int(s: &str, base: u32) -> Option<i64> {
    let (neg, t) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if t.is_empty() {
        return None;
    }
    let (radix, body, underscores) = if base == 0 {
        let lower = t.to_ascii_lowercase();
        if lower.starts_with("0x") {
            (16, &t[2..], true)
        } else if lower.starts_with("0b") {
            (2, &t[2..], true)
        } else if lower.starts_with("0o") {
            (8, &t[2..], true)
        } else if t.len() > 1 && t.starts_with('0') {
            (8, &t[1..], true)
        } else {
            (10, t, true)
        }
    } else {
        (base, t, false)
    };
    let clean: String = if underscores {
        if body.starts_with('_') && radix == 10 || body.ends_with('_') || body.contains("__") {
            return None;
        }
        body.replace('_', "")
    } else {
        body.to_string()
    };
    if clean.is_empty() || clean.starts_with('+') || clean.starts_with('-') {
        return None;
    }
    let u = u64::from_str_radix(&clean, radix).ok()?;
    if neg {
        if u > 1 << 63 {
            return None;
        }
        Some((u as i128).wrapping_neg() as i64)
    } else {
        i64::try_from(u).ok()
    }
}

/// Go's `strconv.ParseFloat(s, 64)` (decimal and special forms).
pub fn parse_float(s: &str) -> Option<f64> {
    let t = s.strip_prefix('+').unwrap_or(s);
    let lower = t.to_ascii_lowercase();
    let l = lower.trim_start_matches('-');
    if matches!(l, "inf" | "infinity") {
        return Some(if lower.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if l == "nan" {
        return Some(f64::NAN);
    }
    if l.starts_with("0x") || t.contains('_') || t.is_empty() {
        return None;
    }
    if !t
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
    {
        return None;
    }
    t.parse::<f64>().ok()
}

/// spf13/cast `ToInt64` (errors give 0).
pub fn to_int64(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Float(f) => *f as i64,
        Value::String(s) => parse_int(trim_zero_decimal(s), 0).unwrap_or(0),
        Value::Bool(b) => i64::from(*b),
        _ => 0,
    }
}

/// spf13/cast `ToFloat64` (errors give 0).
pub fn to_float64(v: &Value) -> f64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i as f64,
        Value::Float(f) => *f,
        Value::String(s) => parse_float(s).unwrap_or(0.0),
        Value::Bool(b) => f64::from(u8::from(*b)),
        _ => 0.0,
    }
}
