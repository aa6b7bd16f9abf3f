//! Go's `time` layouts: `Time.Format` and the layout tokens `time.Parse` shares. A leaf, so
//! that `fmt` (which prints a time with Go's default layout) and sprig's date functions both
//! use it without importing each other.

use chrono::{Datelike, Offset, Timelike};

use crate::value::Time;

const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
pub(crate) const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Tok {
    Lit,
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    TzName,
    Iso8601TZ,
    Iso8601SecondsTZ,
    Iso8601ShortTZ,
    Iso8601ColonTZ,
    Iso8601ColonSecondsTZ,
    NumTZ,
    NumSecondsTz,
    NumShortTZ,
    NumColonTZ,
    NumColonSecondsTZ,
    FracSecond0(usize),
    FracSecond9(usize),
}

/// Splits a Go layout into literal text and tokens (Go's `nextStdChunk`).
pub(crate) fn chunks(layout: &str) -> Vec<(Tok, &str)> {
    let mut out = Vec::new();
    let b = layout.as_bytes();
    let mut lit_start = 0;
    let mut i = 0;
    let table: &[(&str, Tok)] = &[
        ("January", Tok::LongMonth),
        ("Jan", Tok::Month),
        ("Monday", Tok::LongWeekDay),
        ("Mon", Tok::WeekDay),
        ("MST", Tok::TzName),
        ("01", Tok::ZeroMonth),
        ("02", Tok::ZeroDay),
        ("03", Tok::ZeroHour12),
        ("04", Tok::ZeroMinute),
        ("05", Tok::ZeroSecond),
        ("06", Tok::Year),
        ("002", Tok::ZeroYearDay),
        ("2006", Tok::LongYear),
        ("15", Tok::Hour),
        ("__2", Tok::UnderYearDay),
        ("_2", Tok::UnderDay),
        ("PM", Tok::PM),
        ("pm", Tok::Pm),
        ("Z070000", Tok::Iso8601SecondsTZ),
        ("Z0700", Tok::Iso8601TZ),
        ("Z07:00:00", Tok::Iso8601ColonSecondsTZ),
        ("Z07:00", Tok::Iso8601ColonTZ),
        ("Z07", Tok::Iso8601ShortTZ),
        ("-070000", Tok::NumSecondsTz),
        ("-0700", Tok::NumTZ),
        ("-07:00:00", Tok::NumColonSecondsTZ),
        ("-07:00", Tok::NumColonTZ),
        ("-07", Tok::NumShortTZ),
    ];
    while i < b.len() {
        let rest = &layout[i..];
        let mut found: Option<(Tok, usize)> = None;
        // Longest match first among candidates that start here, with Go's special cases.
        let mut best_len = 0;
        for (pat, tok) in table {
            if rest.starts_with(pat) && pat.len() > best_len {
                // "Jan"/"Mon" need no lowercase letter after ("Janet" is literal text).
                if (*tok == Tok::Month || *tok == Tok::WeekDay)
                    && rest[pat.len()..].starts_with(|c: char| c.is_ascii_lowercase())
                {
                    continue;
                }
                best_len = pat.len();
                found = Some((*tok, pat.len()));
            }
        }
        if found.is_none() {
            match b[i] {
                b'1' => found = Some((Tok::NumMonth, 1)),
                b'2' => found = Some((Tok::Day, 1)),
                b'3' => found = Some((Tok::Hour12, 1)),
                b'4' => found = Some((Tok::Minute, 1)),
                b'5' => found = Some((Tok::Second, 1)),
                b'.' | b',' if i + 1 < b.len() && (b[i + 1] == b'0' || b[i + 1] == b'9') => {
                    let ch = b[i + 1];
                    let mut j = i + 1;
                    while j < b.len() && b[j] == ch {
                        j += 1;
                    }
                    if j >= b.len() || !b[j].is_ascii_digit() {
                        let n = j - (i + 1);
                        found = Some((
                            if ch == b'0' {
                                Tok::FracSecond0(n)
                            } else {
                                Tok::FracSecond9(n)
                            },
                            j - i,
                        ));
                    }
                }
                _ => {}
            }
        }
        // Go: "2006" beats "2"; "01"/"02" beat "0"? ("0" alone is literal) – handled above.
        if let Some((tok, len)) = found {
            if lit_start < i {
                out.push((Tok::Lit, &layout[lit_start..i]));
            }
            out.push((tok, &layout[i..i + len]));
            i += len;
            lit_start = i;
        } else {
            i += rest.chars().next().map(|c| c.len_utf8()).unwrap_or(1);
        }
    }
    if lit_start < b.len() {
        out.push((Tok::Lit, &layout[lit_start..]));
    }
    out
}

fn tz_name(off: i32) -> String {
    if off == 0 {
        return "UTC".into();
    }
    let sign = if off < 0 { '-' } else { '+' };
    let a = off.abs();
    let (h, m) = (a / 3600, a % 3600 / 60);
    if m == 0 {
        format!("{sign}{h:02}")
    } else {
        format!("{sign}{h:02}{m:02}")
    }
}

/// Go's `time.Time.Format(layout)`.
pub fn format_time(t: &Time, layout: &str) -> String {
    let Some(dt) = chrono::DateTime::from_timestamp(t.secs, t.nanos) else {
        return String::new();
    };
    let off = chrono::FixedOffset::east_opt(t.offset_secs).unwrap_or_else(utc_offset);
    let d = dt.with_timezone(&off);
    let mut o = String::new();
    let tz = |o: &mut String, z: bool, colon: bool, secs: bool, short: bool| {
        let offs = t.offset_secs;
        if z && offs == 0 {
            o.push('Z');
            return;
        }
        let sign = if offs < 0 { '-' } else { '+' };
        let a = offs.abs();
        let (h, m, s) = (a / 3600, a % 3600 / 60, a % 60);
        o.push(sign);
        o.push_str(&format!("{h:02}"));
        if short {
            return;
        }
        if colon {
            o.push(':');
        }
        o.push_str(&format!("{m:02}"));
        if secs {
            if colon {
                o.push(':');
            }
            o.push_str(&format!("{s:02}"));
        }
    };
    for (tok, text) in chunks(layout) {
        match tok {
            Tok::Lit => o.push_str(text),
            Tok::Year => o.push_str(&format!("{:02}", d.year().rem_euclid(100))),
            Tok::LongYear => o.push_str(&format!("{:04}", d.year())),
            Tok::Month => o.push_str(&LONG_MONTHS[d.month0() as usize][..3]),
            Tok::LongMonth => o.push_str(LONG_MONTHS[d.month0() as usize]),
            Tok::NumMonth => o.push_str(&d.month().to_string()),
            Tok::ZeroMonth => o.push_str(&format!("{:02}", d.month())),
            Tok::WeekDay => {
                o.push_str(&LONG_DAYS[d.weekday().num_days_from_sunday() as usize][..3])
            }
            Tok::LongWeekDay => o.push_str(LONG_DAYS[d.weekday().num_days_from_sunday() as usize]),
            Tok::Day => o.push_str(&d.day().to_string()),
            Tok::UnderDay => o.push_str(&format!("{:>2}", d.day())),
            Tok::ZeroDay => o.push_str(&format!("{:02}", d.day())),
            Tok::UnderYearDay => o.push_str(&format!("{:>3}", d.ordinal())),
            Tok::ZeroYearDay => o.push_str(&format!("{:03}", d.ordinal())),
            Tok::Hour => o.push_str(&format!("{:02}", d.hour())),
            Tok::Hour12 => o.push_str(&h12(d.hour()).to_string()),
            Tok::ZeroHour12 => o.push_str(&format!("{:02}", h12(d.hour()))),
            Tok::Minute => o.push_str(&d.minute().to_string()),
            Tok::ZeroMinute => o.push_str(&format!("{:02}", d.minute())),
            Tok::Second => o.push_str(&d.second().to_string()),
            Tok::ZeroSecond => o.push_str(&format!("{:02}", d.second())),
            Tok::PM => o.push_str(if d.hour() >= 12 { "PM" } else { "AM" }),
            Tok::Pm => o.push_str(if d.hour() >= 12 { "pm" } else { "am" }),
            Tok::TzName => o.push_str(&tz_name(t.offset_secs)),
            Tok::Iso8601TZ => tz(&mut o, true, false, false, false),
            Tok::Iso8601SecondsTZ => tz(&mut o, true, false, true, false),
            Tok::Iso8601ShortTZ => tz(&mut o, true, false, false, true),
            Tok::Iso8601ColonTZ => tz(&mut o, true, true, false, false),
            Tok::Iso8601ColonSecondsTZ => tz(&mut o, true, true, true, false),
            Tok::NumTZ => tz(&mut o, false, false, false, false),
            Tok::NumSecondsTz => tz(&mut o, false, false, true, false),
            Tok::NumShortTZ => tz(&mut o, false, false, false, true),
            Tok::NumColonTZ => tz(&mut o, false, true, false, false),
            Tok::NumColonSecondsTZ => tz(&mut o, false, true, true, false),
            Tok::FracSecond0(n) => {
                let digits = format!("{:09}", t.nanos);
                o.push_str(&text[..1]);
                o.push_str(&digits[..n.min(9)]);
            }
            Tok::FracSecond9(n) => {
                let digits = format!("{:09}", t.nanos);
                let cut = digits[..n.min(9)].trim_end_matches('0');
                if !cut.is_empty() {
                    o.push_str(&text[..1]);
                    o.push_str(cut);
                }
            }
        }
    }
    o
}

fn utc_offset() -> chrono::FixedOffset {
    chrono::Utc.fix()
}

fn h12(h: u32) -> u32 {
    match h % 12 {
        0 => 12,
        x => x,
    }
}
