//! Go's `fmt` formatting of template values: `print`, `println`, `printf` and the `%v` of
//! maps (`map[a:1 b:2]`), lists (`[1 2]`), nil (`<nil>`) and floats (strconv's 'g').

use crate::value::{Time, Value};

/// Go's `unicode.IsPrint` (approximation: not a control, not a format/unassigned code
/// point Rust can see, space U+0020 is printable).
pub fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    // Common non-printing format characters and private use / surrogates / non-characters.
    !matches!(u,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF
        | 0xFFFE | 0xFFFF | 0xF0000..=0x10FFFF | 0xE0000..=0xE007F)
}

/// Go's `strconv.Quote`.
pub fn quote(s: &str) -> String {
    quote_with(s, '"', false)
}

/// Go's `strconv.Quote` / `QuoteToASCII` / `QuoteRune`.
pub fn quote_with(s: &str, q: char, ascii: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        if c == q || c == '\\' {
            out.push('\\');
            out.push(c);
            continue;
        }
        if ascii {
            if c.is_ascii() && is_print(c) {
                out.push(c);
                continue;
            }
        } else if is_print(c) {
            out.push(c);
            continue;
        }
        match c {
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push(q);
    out
}

/// Decimal digits (no leading/trailing zeros) and decimal point position of a finite,
/// non-negative float: value = 0.d1d2… × 10^dp.
enum Digits {
    Shortest,
    Sig(usize),
    Fixed(usize),
}

fn decimal_digits(a: f64, mode: Digits) -> (String, i32) {
    if a == 0.0 {
        return (String::new(), 0);
    }
    let (digits, dp) = match mode {
        Digits::Shortest | Digits::Sig(_) => {
            let sci = match mode {
                Digits::Sig(n) => format!("{a:.p$e}", p = n.max(1) - 1),
                _ => format!("{a:e}"),
            };
            let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
            let exp: i32 = exp.parse().unwrap_or(0);
            (
                mant.chars().filter(|c| *c != '.').collect::<String>(),
                exp + 1,
            )
        }
        Digits::Fixed(n) => {
            let f = format!("{a:.n$}");
            let (ip, fp) = f.split_once('.').unwrap_or((&f, ""));
            let ip = ip.trim_start_matches('0');
            if ip.is_empty() {
                let lead = fp.len() - fp.trim_start_matches('0').len();
                (fp.trim_start_matches('0').to_string(), -(lead as i32))
            } else {
                (format!("{ip}{fp}"), ip.len() as i32)
            }
        }
    };
    let digits = digits.trim_end_matches('0').to_string();
    if digits.is_empty() {
        return (String::new(), 0);
    }
    (digits, dp)
}

fn digit_at(d: &[u8], i: i32) -> char {
    if i < 0 {
        return '0';
    }
    d.get(i as usize).map(|b| *b as char).unwrap_or('0')
}

fn fmt_e(d: &str, dp: i32, prec: i32) -> String {
    let b = d.as_bytes();
    let mut o = String::new();
    o.push(if b.is_empty() { '0' } else { b[0] as char });
    if prec > 0 {
        o.push('.');
        for i in 1..=prec {
            o.push(digit_at(b, i));
        }
    }
    let exp = if b.is_empty() { 0 } else { dp - 1 };
    o.push('e');
    o.push(if exp < 0 { '-' } else { '+' });
    let e = exp.abs();
    if e < 10 {
        o.push('0');
    }
    o.push_str(&e.to_string());
    o
}

fn fmt_f(d: &str, dp: i32, prec: i32) -> String {
    let b = d.as_bytes();
    let mut o = String::new();
    if dp > 0 {
        for i in 0..dp {
            o.push(digit_at(b, i));
        }
    } else {
        o.push('0');
    }
    if prec > 0 {
        o.push('.');
        for i in 0..prec {
            o.push(digit_at(b, dp + i));
        }
    }
    o
}

/// Go's `strconv.FormatFloat(f, verb, prec, 64)` for 'e', 'f', 'g' (prec -1 = shortest).
pub fn format_float(f: f64, verb: char, prec: i32) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let a = f.abs();
    let shortest = prec < 0;
    let body = match verb {
        'e' => {
            let (d, dp) = decimal_digits(
                a,
                if shortest {
                    Digits::Shortest
                } else {
                    Digits::Sig(prec as usize + 1)
                },
            );
            let p = if shortest { d.len() as i32 - 1 } else { prec };
            fmt_e(&d, dp, p.max(0))
        }
        'f' => {
            if shortest {
                let (d, dp) = decimal_digits(a, Digits::Shortest);
                fmt_f(&d, dp, (d.len() as i32 - dp).max(0))
            } else {
                let (d, dp) = decimal_digits(a, Digits::Fixed(prec as usize));
                fmt_f(&d, dp, prec)
            }
        }
        _ => {
            let (d, dp) = decimal_digits(
                a,
                if shortest {
                    Digits::Shortest
                } else {
                    Digits::Sig((prec.max(1)) as usize)
                },
            );
            let nd = d.len() as i32;
            let mut p = if shortest { nd } else { prec.max(1) };
            let mut eprec = p;
            if eprec > nd && nd >= dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp - 1;
            if exp < -4 || exp >= eprec {
                if p > nd {
                    p = nd;
                }
                fmt_e(&d, dp, (p - 1).max(0))
            } else {
                if p > dp {
                    p = nd;
                }
                fmt_f(&d, dp, (p - dp).max(0))
            }
        }
    };
    format!("{sign}{body}")
}

/// Go's `%v` of a float64: `strconv.FormatFloat(f, 'g', -1, 64)`.
pub fn float_v(f: f64) -> String {
    format_float(f, 'g', -1)
}

/// encoding/json's float64 text: 'f' unless the exponent is < -6 or >= 21, then 'e' with
/// a short exponent (`1e-07`).
pub fn float_json(f: f64) -> String {
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = format_float(f, 'e', -1);
        // clean up e-09 to e-9
        if let Some(i) = s.find("e-0") {
            return format!("{}e-{}", &s[..i], &s[i + 3..]);
        }
        if let Some(i) = s.find("e+0") {
            return format!("{}e+{}", &s[..i], &s[i + 3..]);
        }
        return s;
    }
    format_float(f, 'f', -1)
}

fn time_string(t: &Time) -> String {
    crate::gotime::format_time(t, "2006-01-02 15:04:05.999999999 -0700 MST")
}

/// `%v` of a value at top level (`fmt.Sprint(v)`).
pub fn sprint_value(v: &Value) -> String {
    let mut s = String::new();
    write_v(&mut s, v, false);
    s
}

fn write_v(out: &mut String, v: &Value, nested: bool) {
    match v {
        Value::Nil => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&float_v(*f)),
        Value::String(s) => out.push_str(s),
        Value::Time(t) => out.push_str(&time_string(t)),
        Value::Object(o) => out.push_str(&o.display()),
        Value::List(l) => {
            out.push('[');
            for (i, e) in l.items.borrow().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_v(out, e, true);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, e)) in m.entries.borrow().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_v(out, e, true);
            }
            out.push(']');
        }
    }
    let _ = nested;
}

/// `fmt.Sprint(args...)`: spaces between operands when neither side is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut s = String::new();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::String(_));
        if i > 0 && !is_string && !prev_string {
            s.push(' ');
        }
        write_v(&mut s, a, false);
        prev_string = is_string;
    }
    s
}

/// `fmt.Sprintln(args...)`: always spaces, then a newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut s = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        write_v(&mut s, a, false);
    }
    s.push('\n');
    s
}

#[derive(Default, Clone, Copy)]
struct Flags {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad(s: String, f: &Flags, allow_zero: bool) -> String {
    let Some(w) = f.width else { return s };
    let n = s.chars().count();
    if n >= w {
        return s;
    }
    let fill = w - n;
    if f.minus {
        return format!("{s}{}", " ".repeat(fill));
    }
    if f.zero && allow_zero {
        // Zero padding goes after the sign.
        if let Some(rest) = s.strip_prefix('-').or_else(|| s.strip_prefix('+')) {
            let sign = &s[..1];
            return format!("{sign}{}{rest}", "0".repeat(fill));
        }
        return format!("{}{s}", "0".repeat(fill));
    }
    format!("{}{s}", " ".repeat(fill))
}

fn bad_verb(verb: char, v: &Value) -> String {
    match v {
        Value::Nil => format!("%!{verb}(<nil>)"),
        _ => format!("%!{verb}({}={})", v.type_name(), sprint_value(v)),
    }
}

fn fmt_int(i: i128, verb: char, f: &Flags) -> Option<String> {
    let neg = i < 0;
    let a = i.unsigned_abs();
    let mut body = match verb {
        'd' | 'v' => a.to_string(),
        'b' => format!("{a:b}"),
        'o' | 'O' => format!("{a:o}"),
        'x' => format!("{a:x}"),
        'X' => format!("{a:X}"),
        'c' => return Some(char::from_u32(i as u32).unwrap_or('\u{FFFD}').to_string()),
        'q' => {
            return Some(quote_with(
                &char::from_u32(i as u32).unwrap_or('\u{FFFD}').to_string(),
                '\'',
                false,
            ));
        }
        'U' => return Some(format!("U+{:04X}", a)),
        _ => return None,
    };
    if let Some(p) = f.prec {
        if body.len() < p {
            body.insert_str(0, &"0".repeat(p - body.len()));
        }
        if p == 0 && a == 0 {
            body.clear();
        }
    }
    if f.sharp {
        match verb {
            'x' => body.insert_str(0, "0x"),
            'X' => body.insert_str(0, "0X"),
            'o' if !body.starts_with('0') => body.insert(0, '0'),
            'b' => body.insert_str(0, "0b"),
            _ => {}
        }
    }
    if verb == 'O' {
        body.insert_str(0, "0o");
    }
    let sign = if neg {
        "-"
    } else if f.plus {
        "+"
    } else if f.space {
        " "
    } else {
        ""
    };
    Some(format!("{sign}{body}"))
}

fn fmt_float(x: f64, verb: char, f: &Flags) -> Option<String> {
    let body = match verb {
        'v' | 'g' | 'G' => match f.prec {
            None => float_v(x),
            Some(p) => format_float(x, 'g', p as i32),
        },
        'e' | 'E' => format_float(x, 'e', f.prec.unwrap_or(6) as i32),
        'f' | 'F' => format_float(x, 'f', f.prec.unwrap_or(6) as i32),
        _ => return None,
    };
    let body = if verb == 'E' || verb == 'G' {
        body.to_uppercase()
    } else {
        body
    };
    if f.plus && !body.starts_with('-') {
        return Some(format!("+{body}"));
    }
    if f.space && !body.starts_with('-') {
        return Some(format!(" {body}"));
    }
    Some(body)
}

fn fmt_str(s: &str, verb: char, f: &Flags) -> Option<String> {
    let s: String = match f.prec {
        Some(p) if verb != 'x' && verb != 'X' => s.chars().take(p).collect(),
        _ => s.to_string(),
    };
    Some(match verb {
        'v' | 's' => s,
        'q' => {
            if f.sharp && !s.contains('`') {
                format!("`{s}`")
            } else {
                quote_with(&s, '"', f.plus)
            }
        }
        'x' => s.bytes().map(|b| format!("{b:02x}")).collect(),
        'X' => s.bytes().map(|b| format!("{b:02X}")).collect(),
        _ => return None,
    })
}

/// One operand with one verb (no padding), or None for a bad verb.
fn fmt_one(v: &Value, verb: char, f: &Flags) -> Option<String> {
    match v {
        Value::Nil => match verb {
            'v' => Some("<nil>".into()),
            _ => None,
        },
        Value::Bool(b) => match verb {
            'v' | 't' => Some(b.to_string()),
            _ => None,
        },
        Value::Int(i) | Value::Int64(i) => fmt_int(*i as i128, verb, f),
        Value::Float(x) => fmt_float(*x, verb, f),
        Value::String(s) => fmt_str(s, verb, f),
        // `%+v` of a Go struct names its fields.
        Value::Object(o) if verb == 'v' && f.plus && !o.fields().is_empty() => {
            let fields: Vec<String> = o
                .fields()
                .iter()
                .map(|(k, e)| format!("{k}:{}", fmt_elem(e, verb, f)))
                .collect();
            Some(format!("{{{}}}", fields.join(" ")))
        }
        Value::Time(_) | Value::Object(_) => match verb {
            'v' | 's' => Some(sprint_value(v)),
            _ => None,
        },
        Value::List(l) => {
            let mut o = String::from("[");
            for (i, e) in l.items.borrow().iter().enumerate() {
                if i > 0 {
                    o.push(' ');
                }
                o.push_str(&fmt_elem(e, verb, f));
            }
            o.push(']');
            Some(o)
        }
        Value::Map(m) => {
            let mut o = String::from("map[");
            for (i, (k, e)) in m.entries.borrow().iter().enumerate() {
                if i > 0 {
                    o.push(' ');
                }
                o.push_str(&fmt_elem(&Value::str(k), verb, f));
                o.push(':');
                o.push_str(&fmt_elem(e, verb, f));
            }
            o.push(']');
            Some(o)
        }
    }
}

fn fmt_elem(v: &Value, verb: char, f: &Flags) -> String {
    // A nil inside a list or map prints as <nil> whatever the verb (Go's printValue).
    if let Value::Nil = v {
        return pad("<nil>".into(), f, false);
    }
    let s = fmt_one(v, verb, f).unwrap_or_else(|| bad_verb(verb, v));
    pad(s, f, !matches!(v, Value::String(_)))
}

/// `fmt.Sprintf(format, args...)`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let chars: Vec<char> = format.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        let mut f = Flags::default();
        while i < chars.len() {
            match chars[i] {
                '-' => {
                    f.minus = true;
                    f.zero = false;
                }
                '+' => f.plus = true,
                '#' => f.sharp = true,
                ' ' => f.space = true,
                '0' => f.zero = !f.minus,
                _ => break,
            }
            i += 1;
        }
        // Width.
        if i < chars.len() && chars[i] == '*' {
            i += 1;
            match args.get(argi) {
                Some(Value::Int(w)) | Some(Value::Int64(w)) => {
                    if *w < 0 {
                        f.minus = true;
                        f.width = Some(w.unsigned_abs() as usize);
                    } else {
                        f.width = Some(*w as usize);
                    }
                }
                _ => out.push_str("%!(BADWIDTH)"),
            }
            argi += 1;
        } else {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i > start {
                f.width = chars[start..i].iter().collect::<String>().parse().ok();
            }
        }
        if i < chars.len() && chars[i] == '.' {
            i += 1;
            if i < chars.len() && chars[i] == '*' {
                i += 1;
                match args.get(argi) {
                    Some(Value::Int(p)) | Some(Value::Int64(p)) if *p >= 0 => {
                        f.prec = Some(*p as usize)
                    }
                    _ => out.push_str("%!(BADPREC)"),
                }
                argi += 1;
            } else {
                let start = i;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                f.prec = Some(
                    chars[start..i]
                        .iter()
                        .collect::<String>()
                        .parse()
                        .unwrap_or(0),
                );
            }
        }
        if i >= chars.len() {
            out.push_str("%!(NOVERB)");
            break;
        }
        let verb = chars[i];
        i += 1;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        if verb == 'T' {
            out.push_str(&pad(arg.type_name(), &f, false));
            continue;
        }
        let verb_eff = if verb == 'v' && f.sharp { 'v' } else { verb };
        match fmt_one(arg, verb_eff, &f) {
            Some(s) => {
                let zero_ok = !matches!(arg, Value::String(_) | Value::List(_) | Value::Map(_));
                if matches!(arg, Value::List(_) | Value::Map(_)) {
                    out.push_str(&s);
                } else {
                    out.push_str(&pad(s, &f, zero_ok));
                }
            }
            None => out.push_str(&bad_verb(verb, arg)),
        }
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        for (k, a) in args[argi..].iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            match a {
                Value::Nil => out.push_str("<nil>"),
                _ => out.push_str(&format!("{}={}", a.type_name(), sprint_value(a))),
            }
        }
        out.push(')');
    }
    out
}
