//! sprig's `urlParse` and `urlJoin` (Go's net/url, for ordinary URLs).

use std::collections::BTreeMap;

use super::{Reg, fixed, new_map, string};
use crate::funcs::{Ty, s};
use crate::value::Value;

pub(super) fn register(v: &mut Reg) {
    fixed(v, "urlParse", &[Ty::String], |a| {
        let u = parse(s(&a[0]))?;
        let mut m = BTreeMap::new();
        for (k, val) in [
            ("scheme", u.scheme),
            ("host", u.host.clone()),
            ("hostname", hostname(&u.host)),
            ("path", u.path),
            ("query", u.query),
            ("opaque", u.opaque),
            ("fragment", u.fragment),
            ("userinfo", u.userinfo),
        ] {
            m.insert(k.to_string(), Value::string(val));
        }
        Ok(new_map(m))
    });
    fixed(v, "urlJoin", &[Ty::MapAny], |a| {
        let get = |k: &str| match &a[0] {
            Value::Map(m) => match m.get(k) {
                Some(Value::String(x)) => x.to_string(),
                _ => String::new(),
            },
            _ => String::new(),
        };
        Ok(string(join(&Url {
            scheme: get("scheme"),
            host: get("host"),
            path: get("path"),
            query: get("query"),
            opaque: get("opaque"),
            fragment: get("fragment"),
            userinfo: get("userinfo"),
        })))
    });
}

struct Url {
    scheme: String,
    host: String,
    path: String,
    query: String,
    opaque: String,
    fragment: String,
    userinfo: String,
}

fn unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()));
            let Some(h) = hex else {
                let bad: String = s[i..].chars().take(3).collect();
                return Err(format!("invalid URL escape {}", crate::fmt::quote(&bad)));
            };
            out.push(u8::from_str_radix(h, 16).unwrap_or(0));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn parse(raw: &str) -> Result<Url, String> {
    let fail = |e: String| format!("unable to parse url: parse {}: {e}", crate::fmt::quote(raw));
    let (rest, fragment) = match raw.split_once('#') {
        Some((r, f)) => (r, unescape(f).map_err(fail)?),
        None => (raw, String::new()),
    };
    let mut u = Url {
        scheme: String::new(),
        host: String::new(),
        path: String::new(),
        query: String::new(),
        opaque: String::new(),
        fragment,
        userinfo: String::new(),
    };
    let mut rest = rest;
    if let Some(i) = rest.find(':') {
        let sch = &rest[..i];
        if !sch.is_empty()
            && sch.as_bytes()[0].is_ascii_alphabetic()
            && sch
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        {
            u.scheme = sch.to_ascii_lowercase();
            rest = &rest[i + 1..];
        } else if i == 0 {
            return Err(fail("missing protocol scheme".into()));
        }
    }
    if let Some((r, q)) = rest.split_once('?') {
        u.query = q.to_string();
        rest = r;
    }
    if !rest.starts_with('/') && !u.scheme.is_empty() {
        u.opaque = rest.to_string();
        return Ok(u);
    }
    if let Some(r) = rest.strip_prefix("//") {
        let (auth, path) = match r.find('/') {
            Some(i) => (&r[..i], &r[i..]),
            None => (r, ""),
        };
        if let Some(i) = auth.rfind('@') {
            u.userinfo = auth[..i].to_string();
            u.host = auth[i + 1..].to_string();
        } else {
            u.host = auth.to_string();
        }
        rest = path;
    }
    u.path = unescape(rest).map_err(fail)?;
    Ok(u)
}

fn hostname(host: &str) -> String {
    if let Some(r) = host.strip_prefix('[') {
        return r.split(']').next().unwrap_or("").to_string();
    }
    match host.rfind(':') {
        Some(i) => host[..i].to_string(),
        None => host.to_string(),
    }
}

fn escape(s: &str, keep: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || keep.as_bytes().contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

fn join(u: &Url) -> String {
    let mut o = String::new();
    if !u.scheme.is_empty() {
        o.push_str(&u.scheme);
        o.push(':');
    }
    if !u.opaque.is_empty() {
        o.push_str(&u.opaque);
    } else {
        if !u.scheme.is_empty() || !u.host.is_empty() || !u.userinfo.is_empty() {
            if !u.host.is_empty() || !u.path.is_empty() || !u.userinfo.is_empty() {
                o.push_str("//");
            }
            if !u.userinfo.is_empty() {
                o.push_str(&u.userinfo);
                o.push('@');
            }
            o.push_str(&u.host);
        }
        let path = escape(&u.path, "/!$&'()*+,;=:@");
        if !path.is_empty() && !path.starts_with('/') && !u.host.is_empty() {
            o.push('/');
        }
        o.push_str(&path);
    }
    if !u.query.is_empty() {
        o.push('?');
        o.push_str(&u.query);
    }
    if !u.fragment.is_empty() {
        o.push('#');
        o.push_str(&escape(&u.fragment, "/!$&'()*+,;=:@?"));
    }
    o
}
