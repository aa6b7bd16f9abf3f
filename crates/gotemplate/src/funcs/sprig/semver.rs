//! Masterminds/semver v3 versions and constraints, for sprig's `semverCompare`.

use std::cmp::Ordering;
use std::sync::OnceLock;

use regex::Regex;

use super::{Reg, fixed};
use crate::funcs::{Ty, s};
use crate::value::Value;

const CV: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const SV: &str = r"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

struct Res {
    version: Regex,
    constraint: Regex,
    range: Regex,
    find: Regex,
    valid: Regex,
}

fn res() -> Option<&'static Res> {
    static R: OnceLock<Option<Res>> = OnceLock::new();
    R.get_or_init(|| {
        Some(Res {
            version: Regex::new(&format!("^{SV}$")).ok()?,
            constraint: Regex::new(&format!(r"^\s*({OPS})\s*({CV})\s*$")).ok()?,
            range: Regex::new(&format!(r"\s*({CV})\s+-\s+({CV})\s*")).ok()?,
            find: Regex::new(&format!(r"({OPS})\s*({CV})")).ok()?,
            valid: Regex::new(&format!(
                r"^(\s*({OPS})\s*({CV})\s*)((?:\s+|,\s*)({OPS})\s*({CV})\s*)*$"
            ))
            .ok()?,
        })
    })
    .as_ref()
}

/// `*semver.Version` as templates see it: `%v` is its `String()`, fields are methods.
#[derive(Debug)]
struct VersionObject {
    v: Version,
    original: String,
}

impl crate::value::Object for VersionObject {
    fn type_name(&self) -> String {
        "*semver.Version".into()
    }

    fn method(&self, name: &str) -> Option<crate::funcs::Func> {
        let v = self.v.clone();
        let original = self.original.clone();
        let value = match name {
            "Major" => Value::Int64(v.major as i64),
            "Minor" => Value::Int64(v.minor as i64),
            "Patch" => Value::Int64(v.patch as i64),
            "Prerelease" => Value::string(v.pre.clone()),
            "Metadata" => Value::string(v.metadata.clone()),
            "Original" => Value::string(original),
            "String" => Value::string(v.to_string()),
            _ => return None,
        };
        Some(crate::funcs::Func::new(&[], move |_, _| Ok(value.clone())))
    }

    fn display(&self) -> String {
        self.v.to_string()
    }
}

pub(super) fn register(v: &mut Reg) {
    fixed(v, "semver", &[Ty::String], |a| {
        let ver = Version::parse(s(&a[0]))?;
        Ok(Value::Object(std::rc::Rc::new(VersionObject {
            v: ver,
            original: s(&a[0]).to_string(),
        })))
    });
    fixed(v, "semverCompare", &[Ty::String, Ty::String], |a| {
        let c = Constraints::parse(s(&a[0]))?;
        let ver = Version::parse(s(&a[1]))?;
        Ok(Value::Bool(c.check(&ver)))
    });
}

#[derive(Clone, Debug)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    metadata: String,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.metadata.is_empty() {
            write!(f, "+{}", self.metadata)?;
        }
        Ok(())
    }
}

fn seg(x: Option<regex::Match<'_>>) -> Result<u64, String> {
    match x {
        None => Ok(0),
        Some(m) => m
            .as_str()
            .trim_start_matches('.')
            .parse()
            .map_err(|e| format!("Error parsing version segment: {e}")),
    }
}

impl Version {
    /// `semver.NewVersion`.
    pub fn parse(v: &str) -> Result<Version, String> {
        let r = res().ok_or("regex")?;
        let m = r.version.captures(v).ok_or("Invalid Semantic Version")?;
        let ver = Version {
            major: seg(m.get(1))?,
            minor: seg(m.get(2))?,
            patch: seg(m.get(3))?,
            pre: m.get(5).map(|x| x.as_str().to_string()).unwrap_or_default(),
            metadata: m.get(8).map(|x| x.as_str().to_string()).unwrap_or_default(),
        };
        if !ver.pre.is_empty() {
            for p in ver.pre.split('.') {
                if p.len() > 1 && p.starts_with('0') && p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err("Version segment starts with 0".into());
                }
            }
        }
        Ok(ver)
    }

    fn compare(&self, o: &Version) -> Ordering {
        self.major
            .cmp(&o.major)
            .then(self.minor.cmp(&o.minor))
            .then(self.patch.cmp(&o.patch))
            .then_with(|| match (self.pre.is_empty(), o.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ => compare_pre(&self.pre, &o.pre),
            })
    }
}

fn compare_pre(a: &str, b: &str) -> Ordering {
    let (sa, sb): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for i in 0..sa.len().max(sb.len()) {
        let (x, y) = (
            sa.get(i).copied().unwrap_or(""),
            sb.get(i).copied().unwrap_or(""),
        );
        let d = compare_pre_part(x, y);
        if d != Ordering::Equal {
            return d;
        }
    }
    Ordering::Equal
}

fn compare_pre_part(s: &str, o: &str) -> Ordering {
    if s == o {
        return Ordering::Equal;
    }
    if s.is_empty() {
        return Ordering::Less;
    }
    if o.is_empty() {
        return Ordering::Greater;
    }
    match (s.parse::<u64>(), o.parse::<u64>()) {
        (Err(_), Err(_)) => {
            if s > o {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Ok(a), Ok(b)) => {
            if a > b {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
    }
}

struct Constraint {
    con: Version,
    op: String,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

fn is_x(x: &str) -> bool {
    matches!(x, "x" | "*" | "X")
}

impl Constraint {
    fn parse(c: &str) -> Result<Constraint, String> {
        let r = res().ok_or("regex")?;
        if c.is_empty() {
            return Ok(Constraint {
                con: Version::parse("0.0.0")?,
                op: String::new(),
                dirty: true,
                minor_dirty: false,
                patch_dirty: false,
            });
        }
        let m = r
            .constraint
            .captures(c)
            .ok_or_else(|| format!("improper constraint: {c}"))?;
        let g = |i: usize| m.get(i).map(|x| x.as_str()).unwrap_or("");
        let (m3, m4, m5, m6) = (g(3), g(4), g(5), g(6));
        let (mut ver, mut dirty, mut minor_dirty, mut patch_dirty) =
            (g(2).to_string(), false, false, false);
        if is_x(m3) || m3.is_empty() {
            ver = format!("0.0.0{m6}");
            dirty = true;
        } else if is_x(m4.trim_start_matches('.')) || m4.is_empty() {
            minor_dirty = true;
            dirty = true;
            ver = format!("{m3}.0.0{m6}");
        } else if is_x(m5.trim_start_matches('.')) || m5.is_empty() {
            dirty = true;
            patch_dirty = true;
            ver = format!("{m3}{m4}.0{m6}");
        }
        let con = Version::parse(&ver).map_err(|_| "constraint Parser Error".to_string())?;
        Ok(Constraint {
            con,
            op: g(1).to_string(),
            dirty,
            minor_dirty,
            patch_dirty,
        })
    }

    fn check(&self, v: &Version) -> bool {
        let c = &self.con;
        let pre_block = !v.pre.is_empty() && c.pre.is_empty();
        let tilde = |v: &Version| -> bool {
            if pre_block || v.compare(c) == Ordering::Less {
                return false;
            }
            if c.major == 0
                && c.minor == 0
                && c.patch == 0
                && !self.minor_dirty
                && !self.patch_dirty
            {
                return true;
            }
            if v.major != c.major {
                return false;
            }
            v.minor == c.minor || self.minor_dirty
        };
        match self.op.as_str() {
            "" | "=" => {
                if pre_block {
                    return false;
                }
                if self.dirty {
                    return tilde(v);
                }
                v.compare(c) == Ordering::Equal
            }
            "!=" => {
                if self.dirty {
                    if pre_block {
                        return false;
                    }
                    if c.major != v.major {
                        return true;
                    }
                    if c.minor != v.minor && !self.minor_dirty {
                        return true;
                    } else if self.minor_dirty {
                        return false;
                    } else if c.patch != v.patch && !self.patch_dirty {
                        return true;
                    } else if self.patch_dirty {
                        if !v.pre.is_empty() || !c.pre.is_empty() {
                            return compare_pre(&v.pre, &c.pre) != Ordering::Equal;
                        }
                        return false;
                    }
                }
                v.compare(c) != Ordering::Equal
            }
            ">" => {
                if pre_block {
                    return false;
                }
                if !self.dirty {
                    return v.compare(c) == Ordering::Greater;
                }
                if v.major > c.major {
                    true
                } else if v.major < c.major || self.minor_dirty {
                    false
                } else if self.patch_dirty {
                    v.minor > c.minor
                } else {
                    v.compare(c) == Ordering::Greater
                }
            }
            "<" => !pre_block && v.compare(c) == Ordering::Less,
            ">=" | "=>" => !pre_block && v.compare(c) != Ordering::Less,
            "<=" | "=<" => {
                if pre_block {
                    return false;
                }
                if !self.dirty {
                    return v.compare(c) != Ordering::Greater;
                }
                !(v.major > c.major || v.major == c.major && v.minor > c.minor && !self.minor_dirty)
            }
            "~" | "~>" => tilde(v),
            "^" => {
                if pre_block || v.compare(c) == Ordering::Less {
                    return false;
                }
                if c.major > 0 || self.minor_dirty {
                    return v.major == c.major;
                }
                if c.major == 0 && v.major > 0 {
                    return false;
                }
                if c.minor > 0 || self.patch_dirty {
                    return v.minor == c.minor;
                }
                if c.minor == 0 && v.minor > 0 {
                    return false;
                }
                c.patch == v.patch
            }
            _ => false,
        }
    }
}

struct Constraints(Vec<Vec<Constraint>>);

impl Constraints {
    fn parse(c: &str) -> Result<Constraints, String> {
        let r = res().ok_or("regex")?;
        let mut c = c.to_string();
        let ranges: Vec<(String, String, String)> = r
            .range
            .captures_iter(&c)
            .map(|m| {
                (
                    m[0].to_string(),
                    m.get(1).map(|x| x.as_str().to_string()).unwrap_or_default(),
                    m.get(11)
                        .map(|x| x.as_str().to_string())
                        .unwrap_or_default(),
                )
            })
            .collect();
        for (all, a, b) in ranges {
            c = c.replacen(&all, &format!(">= {a}, <= {b}"), 1);
        }
        let mut ors = Vec::new();
        for part in c.split("||") {
            if !r.valid.is_match(part) {
                return Err(format!("improper constraint: {part}"));
            }
            let mut cs: Vec<String> = r
                .find
                .find_iter(part)
                .map(|m| m.as_str().to_string())
                .collect();
            if cs.is_empty() {
                cs.push(part.to_string());
            }
            let mut and = Vec::new();
            for s in cs {
                and.push(Constraint::parse(&s)?);
            }
            ors.push(and);
        }
        Ok(Constraints(ors))
    }

    fn check(&self, v: &Version) -> bool {
        self.0.iter().any(|and| and.iter().all(|c| c.check(v)))
    }
}
