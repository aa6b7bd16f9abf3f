//! huandu/xstrings' case conversions (`snakecase`, `kebabcase`, `camelcase`).

fn is_connector(r: char) -> bool {
    r == '-' || r == '_' || r.is_whitespace()
}

fn is_alphabet(r: char) -> bool {
    r.is_alphabetic() && !r.is_numeric()
}

fn is_punct(r: char) -> bool {
    r.is_ascii_punctuation() && !matches!(r, '$' | '+' | '<' | '=' | '>' | '^' | '`' | '|' | '~')
        || (!r.is_ascii() && !r.is_alphanumeric() && !r.is_whitespace() && !r.is_control())
}

/// `xstrings.ToCamelCase`.
pub fn to_camel(s: &str) -> String {
    if s.is_empty() {
        return String::new();
    }
    let mut buf = String::new();
    let mut chars = s.chars().peekable();
    let mut r0 = '\0';
    let mut got = false;
    for c in chars.by_ref() {
        if !is_connector(c) {
            r0 = c.to_uppercase().next().unwrap_or(c);
            got = true;
            break;
        }
        buf.push(c);
    }
    if chars.peek().is_none() {
        if got {
            buf.push(r0);
        }
        return buf;
    }
    for c in chars {
        let r1 = r0;
        r0 = c;
        if is_connector(r0) && is_connector(r1) {
            buf.push(r1);
            continue;
        }
        if is_connector(r1) {
            r0 = r0.to_uppercase().next().unwrap_or(r0);
        } else {
            r0 = r0.to_lowercase().next().unwrap_or(r0);
            buf.push(r1);
        }
    }
    buf.push(r0);
    buf
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Wt {
    Invalid,
    Number,
    Upper,
    Alphabet,
    Connector,
    Punct,
    Other,
}

fn next_word(s: &str) -> (Wt, &str, &str) {
    if s.is_empty() {
        return (Wt::Invalid, "", "");
    }
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let end_of = |i: usize| chars.get(i).map(|c| c.0).unwrap_or(s.len());
    let r = chars[0].1;
    let mut i = 1;
    let wt;
    if is_connector(r) {
        wt = Wt::Connector;
        while i < chars.len() && is_connector(chars[i].1) {
            i += 1;
        }
    } else if is_punct(r) {
        wt = Wt::Punct;
        while i < chars.len() && is_punct(chars[i].1) {
            i += 1;
        }
    } else if r.is_uppercase() {
        wt = Wt::Upper;
        if i < chars.len() {
            let r2 = chars[i].1;
            if r2.is_uppercase() {
                i += 1;
                while i < chars.len() && chars[i].1.is_uppercase() {
                    i += 1;
                }
                if i < chars.len() && is_alphabet(chars[i].1) {
                    i -= 1;
                }
            } else if is_alphabet(r2) {
                i += 1;
                while i < chars.len() && is_alphabet(chars[i].1) && !chars[i].1.is_uppercase() {
                    i += 1;
                }
            }
        }
    } else if is_alphabet(r) {
        wt = Wt::Alphabet;
        while i < chars.len() && is_alphabet(chars[i].1) && !chars[i].1.is_uppercase() {
            i += 1;
        }
    } else if r.is_numeric() {
        wt = Wt::Number;
        while i < chars.len() && chars[i].1.is_numeric() {
            i += 1;
        }
    } else {
        wt = Wt::Other;
        while i < chars.len() {
            let c = chars[i].1;
            if is_connector(c) || is_alphabet(c) || c.is_numeric() || is_punct(c) {
                break;
            }
            i += 1;
        }
    }
    let e = end_of(i);
    (wt, &s[..e], &s[e..])
}

fn to_lower(buf: &mut String, wt: Wt, s: &str, conn: char) {
    if wt != Wt::Upper && wt != Wt::Connector {
        buf.push_str(s);
        return;
    }
    for c in s.chars() {
        if is_connector(c) {
            buf.push(conn);
        } else if c.is_uppercase() {
            buf.extend(c.to_lowercase());
        } else {
            buf.push(c);
        }
    }
}

/// `xstrings.ToSnakeCase` / `ToKebabCase`.
pub fn to_snake(s: &str, conn: char) -> String {
    if s.is_empty() {
        return String::new();
    }
    let mut buf = String::new();
    let (mut wt, mut word, mut rem) = next_word(s);
    while !rem.is_empty() {
        if wt != Wt::Connector {
            to_lower(&mut buf, wt, word, conn);
        }
        let prev = wt;
        let last = word;
        (wt, word, rem) = next_word(rem);
        match prev {
            Wt::Number => {
                while wt == Wt::Alphabet || wt == Wt::Number {
                    to_lower(&mut buf, wt, word, conn);
                    (wt, word, rem) = next_word(rem);
                }
                if wt != Wt::Invalid && wt != Wt::Punct && wt != Wt::Connector {
                    buf.push(conn);
                }
            }
            Wt::Connector => to_lower(&mut buf, prev, last, conn),
            Wt::Punct => {}
            _ => {
                if wt != Wt::Number {
                    if wt != Wt::Connector && wt != Wt::Punct {
                        buf.push(conn);
                    }
                    continue;
                }
                if rem.is_empty() {
                    continue;
                }
                let last = word;
                (wt, word, rem) = next_word(rem);
                if wt != Wt::Alphabet {
                    to_lower(&mut buf, Wt::Number, last, conn);
                    if wt != Wt::Connector && wt != Wt::Punct {
                        buf.push(conn);
                    }
                    continue;
                }
                buf.push(conn);
                to_lower(&mut buf, Wt::Number, last, conn);
                while wt == Wt::Alphabet || wt == Wt::Number {
                    to_lower(&mut buf, wt, word, conn);
                    (wt, word, rem) = next_word(rem);
                }
                if wt != Wt::Invalid && wt != Wt::Connector && wt != Wt::Punct {
                    buf.push(conn);
                }
            }
        }
    }
    to_lower(&mut buf, wt, word, conn);
    buf
}
