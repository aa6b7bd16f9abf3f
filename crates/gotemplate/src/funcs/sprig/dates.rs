//! sprig's date functions and Go's time layouts (`2006-01-02 15:04:05`).

use chrono::{Offset, TimeZone};

use super::convert::parse_int;
use super::{Reg, fixed, string};
use crate::funcs::{Ty, s};
use crate::gotime::{LONG_MONTHS, Tok, chunks, format_time};
use crate::value::{Time, Value};

/// Unix seconds of Go's zero `time.Time` (0001-01-01 00:00:00 UTC).
const ZERO_TIME_SECS: i64 = -62_135_596_800;

pub(super) fn register(v: &mut Reg) {
    use Ty::*;
    fixed(v, "now", &[], |_| Ok(Value::Time(now())));
    fixed(v, "date", &[String, Any], |a| {
        Ok(string(date_in_zone(s(&a[0]), &a[1], "Local")))
    });
    for name in ["dateInZone", "date_in_zone"] {
        fixed(v, name, &[String, Any, String], |a| {
            Ok(string(date_in_zone(s(&a[0]), &a[1], s(&a[2]))))
        });
    }
    fixed(v, "htmlDate", &[Any], |a| {
        Ok(string(date_in_zone("2006-01-02", &a[0], "Local")))
    });
    fixed(v, "htmlDateInZone", &[Any, String], |a| {
        Ok(string(date_in_zone("2006-01-02", &a[0], s(&a[1]))))
    });
    fixed(v, "unixEpoch", &[Ty::Time], |a| match &a[0] {
        Value::Time(t) => Ok(string(t.secs.to_string())),
        _ => Ok(string("0")),
    });
    fixed(v, "toDate", &[String, String], |a| {
        Ok(Value::Time(
            parse_time(s(&a[0]), s(&a[1])).unwrap_or(zero_time()),
        ))
    });
    fixed(v, "mustToDate", &[String, String], |a| {
        parse_time(s(&a[0]), s(&a[1])).map(Value::Time)
    });
    for (name, must) in [
        ("dateModify", false),
        ("date_modify", false),
        ("mustDateModify", true),
        ("must_date_modify", true),
    ] {
        fixed(v, name, &[String, Ty::Time], move |a| {
            let Value::Time(t) = a[1] else {
                return Ok(a[1].clone());
            };
            match parse_duration(s(&a[0])) {
                Ok(d) => Ok(Value::Time(add_nanos(t, d))),
                Err(e) if must => Err(e),
                Err(_) => Ok(a[1].clone()),
            }
        });
    }
    fixed(v, "duration", &[Any], |a| {
        let n = match &a[0] {
            Value::String(x) => parse_int(x, 10).unwrap_or(0),
            Value::Int64(i) => *i,
            _ => 0,
        };
        Ok(string(duration_string(n as i128 * 1_000_000_000)))
    });
    fixed(v, "durationRound", &[Any], |a| {
        let d: i128 = match &a[0] {
            Value::String(x) => parse_duration(x).unwrap_or(0),
            Value::Int64(i) => *i as i128,
            Value::Time(t) => {
                let n = now();
                (n.secs - t.secs) as i128 * 1_000_000_000 + n.nanos as i128 - t.nanos as i128
            }
            _ => 0,
        };
        Ok(string(duration_round(d)))
    });
    fixed(v, "ago", &[Any], |a| {
        let t = match &a[0] {
            Value::Time(t) => *t,
            Value::Int64(i) | Value::Int(i) => unix(*i),
            _ => now(),
        };
        let n = now();
        let d = (n.secs - t.secs) as i128 * 1_000_000_000 + n.nanos as i128 - t.nanos as i128;
        let rounded = ((d + 500_000_000).div_euclid(1_000_000_000)) * 1_000_000_000;
        Ok(string(duration_string(rounded)))
    });
}

fn local_offset(secs: i64) -> i32 {
    chrono::Local
        .timestamp_opt(secs, 0)
        .single()
        .map(|d| d.offset().fix().local_minus_utc())
        .unwrap_or(0)
}

fn now() -> Time {
    let n = chrono::Utc::now();
    let secs = n.timestamp();
    Time {
        secs,
        nanos: n.timestamp_subsec_nanos(),
        offset_secs: local_offset(secs),
    }
}

fn unix(secs: i64) -> Time {
    Time {
        secs,
        nanos: 0,
        offset_secs: local_offset(secs),
    }
}

fn zero_time() -> Time {
    Time {
        secs: ZERO_TIME_SECS,
        nanos: 0,
        offset_secs: 0,
    }
}

fn add_nanos(t: Time, d: i128) -> Time {
    let total = t.secs as i128 * 1_000_000_000 + t.nanos as i128 + d;
    let secs = total.div_euclid(1_000_000_000) as i64;
    Time {
        secs,
        nanos: total.rem_euclid(1_000_000_000) as u32,
        offset_secs: t.offset_secs,
    }
}

fn date_in_zone(layout: &str, date: &Value, zone: &str) -> String {
    let t = match date {
        Value::Time(t) => *t,
        Value::Int(i) | Value::Int64(i) => unix(*i),
        _ => now(),
    };
    let t = match zone {
        "Local" => Time {
            offset_secs: local_offset(t.secs),
            ..t
        },
        _ => Time {
            offset_secs: 0,
            ..t
        },
    };
    format_time(&t, layout)
}

/// Go's `time.ParseInLocation(layout, value, time.Local)` for numeric layouts.
fn parse_time(layout: &str, value: &str) -> Result<Time, String> {
    let bad = || {
        format!(
            "parsing time {} as {}: cannot parse {} as {}",
            crate::fmt::quote(value),
            crate::fmt::quote(layout),
            crate::fmt::quote(value),
            crate::fmt::quote(layout)
        )
    };
    let mut rest = value;
    let (mut y, mut mo, mut d, mut h, mut mi, mut sec, mut nanos) =
        (1i32, 1u32, 1u32, 0u32, 0u32, 0u32, 0u32);
    let mut pm: Option<bool> = None;
    let mut off: Option<i32> = None;
    let take_num = |rest: &mut &str, min: usize, max: usize| -> Option<u32> {
        let n = rest
            .bytes()
            .take(max)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if n < min {
            return None;
        }
        let v = rest[..n].parse().ok()?;
        *rest = &rest[n..];
        Some(v)
    };
    for (tok, text) in chunks(layout) {
        let ok = match tok {
            Tok::Lit => {
                if let Some(r) = rest.strip_prefix(text) {
                    rest = r;
                    true
                } else {
                    false
                }
            }
            Tok::LongYear => take_num(&mut rest, 4, 4).map(|v| y = v as i32).is_some(),
            Tok::Year => take_num(&mut rest, 2, 2)
                .map(|v| {
                    y = if v >= 69 {
                        1900 + v as i32
                    } else {
                        2000 + v as i32
                    }
                })
                .is_some(),
            Tok::ZeroMonth | Tok::NumMonth => take_num(&mut rest, 1, 2).map(|v| mo = v).is_some(),
            Tok::Month | Tok::LongMonth => {
                let mut hit = false;
                for (i, m) in LONG_MONTHS.iter().enumerate() {
                    let name = if tok == Tok::Month { &m[..3] } else { m };
                    if let Some(r) = rest.strip_prefix(name) {
                        rest = r;
                        mo = i as u32 + 1;
                        hit = true;
                        break;
                    }
                }
                hit
            }
            Tok::ZeroDay | Tok::Day | Tok::UnderDay => {
                if tok == Tok::UnderDay && rest.starts_with(' ') {
                    rest = &rest[1..];
                }
                take_num(&mut rest, 1, 2).map(|v| d = v).is_some()
            }
            Tok::Hour => take_num(&mut rest, 1, 2).map(|v| h = v).is_some(),
            Tok::Hour12 | Tok::ZeroHour12 => take_num(&mut rest, 1, 2).map(|v| h = v).is_some(),
            Tok::Minute | Tok::ZeroMinute => take_num(&mut rest, 1, 2).map(|v| mi = v).is_some(),
            Tok::Second | Tok::ZeroSecond => {
                let ok = take_num(&mut rest, 1, 2).map(|v| sec = v).is_some();
                // Go accepts a fractional second after seconds even if the layout has none.
                if ok
                    && rest.starts_with('.')
                    && rest[1..].starts_with(|c: char| c.is_ascii_digit())
                {
                    let n = rest[1..].bytes().take_while(|b| b.is_ascii_digit()).count();
                    let frac = format!("{:0<9}", &rest[1..1 + n.min(9)]);
                    nanos = frac.parse().unwrap_or(0);
                    rest = &rest[1 + n..];
                }
                ok
            }
            Tok::FracSecond0(_) | Tok::FracSecond9(_) => {
                if rest.starts_with('.') || rest.starts_with(',') {
                    let n = rest[1..].bytes().take_while(|b| b.is_ascii_digit()).count();
                    let frac = format!("{:0<9}", &rest[1..1 + n.min(9)]);
                    nanos = frac.parse().unwrap_or(0);
                    rest = &rest[1 + n..];
                }
                true
            }
            Tok::PM | Tok::Pm => {
                let up = rest.get(..2).map(|x| x.to_ascii_uppercase());
                match up.as_deref() {
                    Some("PM") => {
                        pm = Some(true);
                        rest = &rest[2..];
                        true
                    }
                    Some("AM") => {
                        pm = Some(false);
                        rest = &rest[2..];
                        true
                    }
                    _ => false,
                }
            }
            Tok::Iso8601TZ | Tok::Iso8601ColonTZ | Tok::NumTZ | Tok::NumColonTZ
                if rest.starts_with('Z') && matches!(tok, Tok::Iso8601TZ | Tok::Iso8601ColonTZ) =>
            {
                rest = &rest[1..];
                off = Some(0);
                true
            }
            Tok::Iso8601TZ | Tok::Iso8601ColonTZ | Tok::NumTZ | Tok::NumColonTZ => {
                let colon = matches!(tok, Tok::Iso8601ColonTZ | Tok::NumColonTZ);
                let sign = match rest.as_bytes().first() {
                    Some(b'+') => 1,
                    Some(b'-') => -1,
                    _ => 0,
                };
                if sign == 0 {
                    false
                } else {
                    rest = &rest[1..];
                    let hh = take_num(&mut rest, 2, 2);
                    if colon {
                        rest = rest.strip_prefix(':').unwrap_or("\u{0}");
                    }
                    let mm = take_num(&mut rest, 2, 2);
                    match (hh, mm) {
                        (Some(a), Some(b)) => {
                            off = Some(sign * (a as i32 * 3600 + b as i32 * 60));
                            true
                        }
                        _ => false,
                    }
                }
            }
            Tok::TzName => {
                if let Some(r) = rest.strip_prefix("UTC") {
                    rest = r;
                    off = Some(0);
                    true
                } else {
                    false
                }
            }
            _ => false,
        };
        if !ok {
            return Err(bad());
        }
    }
    if !rest.is_empty() {
        return Err(format!(
            "parsing time {}: extra text: {}",
            crate::fmt::quote(value),
            crate::fmt::quote(rest)
        ));
    }
    let range_err = |what: &str| {
        format!(
            "parsing time {}: {what} out of range",
            crate::fmt::quote(value)
        )
    };
    if !(1..=12).contains(&mo) {
        return Err(range_err("month"));
    }
    if h > 23 && pm.is_none() || h > 12 && pm.is_some() {
        return Err(range_err("hour"));
    }
    if mi > 59 {
        return Err(range_err("minute"));
    }
    if sec > 59 {
        return Err(range_err("second"));
    }
    if let Some(p) = pm {
        if p && h < 12 {
            h += 12;
        } else if !p && h == 12 {
            h = 0;
        }
    }
    let date = chrono::NaiveDate::from_ymd_opt(y, mo, d).ok_or_else(|| {
        format!(
            "parsing time {}: day out of range",
            crate::fmt::quote(value)
        )
    })?;
    let nt = date.and_hms_nano_opt(h, mi, sec, nanos).ok_or_else(|| {
        format!(
            "parsing time {}: hour out of range",
            crate::fmt::quote(value)
        )
    })?;
    let naive_secs = nt.and_utc().timestamp();
    let offset = match off {
        Some(o) => o,
        None => local_offset(naive_secs),
    };
    Ok(Time {
        secs: naive_secs - offset as i64,
        nanos,
        offset_secs: offset,
    })
}

/// Go's `time.ParseDuration`, in nanoseconds.
fn parse_duration(s0: &str) -> Result<i128, String> {
    let err = || format!("time: invalid duration {}", crate::fmt::quote(s0));
    let mut s = s0;
    let neg = s.starts_with('-');
    if s.starts_with('-') || s.starts_with('+') {
        s = &s[1..];
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(err());
    }
    let mut total: f64 = 0.0;
    while !s.is_empty() {
        let n = s
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        if n == 0 {
            return Err(err());
        }
        let num: f64 = s[..n].parse().map_err(|_| err())?;
        s = &s[n..];
        let u = s
            .bytes()
            .take_while(|b| !(b.is_ascii_digit() || *b == b'.'))
            .count();
        if u == 0 {
            return Err(format!(
                "time: missing unit in duration {}",
                crate::fmt::quote(s0)
            ));
        }
        let unit = &s[..u];
        s = &s[u..];
        let mul = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    crate::fmt::quote(unit),
                    crate::fmt::quote(s0)
                ));
            }
        };
        total += num * mul;
    }
    let v = total.round() as i128;
    Ok(if neg { -v } else { v })
}

/// Go's `time.Duration.String()`.
fn duration_string(d: i128) -> String {
    if d == 0 {
        return "0s".into();
    }
    let neg = d < 0;
    let u = d.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (unit, div) = if u < 1_000 {
            ("ns", 1u128)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&frac_str(u, div));
        out.push_str(unit);
    } else {
        let secs_total = u / 1_000_000_000;
        let h = secs_total / 3600;
        let m = secs_total % 3600 / 60;
        let secs_ns = u % 60_000_000_000;
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&frac_str(secs_ns, 1_000_000_000));
        out.push('s');
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

fn frac_str(v: u128, div: u128) -> String {
    let ip = v / div;
    let fp = v % div;
    if fp == 0 {
        return ip.to_string();
    }
    let width = div.to_string().len() - 1;
    let f = format!("{fp:0width$}");
    format!("{ip}.{}", f.trim_end_matches('0'))
}

fn duration_round(d: i128) -> String {
    let u = d.unsigned_abs();
    let hour: u128 = 3_600_000_000_000;
    let (year, month, day, minute, second) = (
        hour * 24 * 365,
        hour * 24 * 30,
        hour * 24,
        60_000_000_000u128,
        1_000_000_000u128,
    );
    if u > year {
        return format!("{}y", u / year);
    }
    if u > month {
        return format!("{}mo", u / month);
    }
    if u > day {
        return format!("{}d", u / day);
    }
    if u > hour {
        return format!("{}h", u / hour);
    }
    if u > minute {
        return format!("{}m", u / minute);
    }
    if u > second {
        return format!("{}s", u / second);
    }
    "0s".into()
}
