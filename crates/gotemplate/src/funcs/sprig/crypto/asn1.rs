//! A small DER writer for the certificates sprig creates, so that their encoding follows
//! Go's `crypto/x509` (string types, time types, which fields appear) exactly.

pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;

/// A tag-length-value element.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let len = n.to_be_bytes();
        let skip = len.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (len.len() - skip) as u8);
        out.extend_from_slice(&len[skip..]);
    }
    out.extend_from_slice(content);
    out
}

pub(crate) fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(SEQUENCE, &parts.concat())
}

/// A non-negative INTEGER from big-endian magnitude bytes.
pub(crate) fn uint(be: &[u8]) -> Vec<u8> {
    let skip = be.iter().take_while(|b| **b == 0).count();
    let mut v = be[skip..].to_vec();
    if v.is_empty() || v[0] & 0x80 != 0 {
        v.insert(0, 0);
    }
    tlv(0x02, &v)
}

pub(crate) fn small_int(i: u8) -> Vec<u8> {
    uint(&[i])
}

pub(crate) fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut push = |mut v: u64| {
        let mut tmp = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            tmp.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        tmp.reverse();
        body.extend_from_slice(&tmp);
    };
    push(arcs[0] * 40 + arcs[1]);
    for a in &arcs[2..] {
        push(*a);
    }
    tlv(0x06, &body)
}

pub(crate) fn null() -> Vec<u8> {
    vec![0x05, 0x00]
}

pub(crate) fn boolean(b: bool) -> Vec<u8> {
    tlv(0x01, &[if b { 0xff } else { 0 }])
}

pub(crate) fn octets(b: &[u8]) -> Vec<u8> {
    tlv(0x04, b)
}

/// A BIT STRING of whole bytes.
pub(crate) fn bits(b: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8];
    v.extend_from_slice(b);
    tlv(0x03, &v)
}

/// A BIT STRING with `unused` trailing bits in the last byte.
pub(crate) fn bits_unused(b: &[u8], unused: u8) -> Vec<u8> {
    let mut v = vec![unused];
    v.extend_from_slice(b);
    tlv(0x03, &v)
}

/// Go's choice for an untyped string: PrintableString when every byte is in its set (no
/// `*`, no `&`), else UTF8String.
pub(crate) fn go_string(s: &str) -> Vec<u8> {
    let printable = s.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || (b'\''..=b')').contains(&b)
            || (b'+'..=b'/').contains(&b)
            || matches!(b, b' ' | b':' | b'=' | b'?')
    });
    tlv(if printable { 0x13 } else { 0x0c }, s.as_bytes())
}

/// Go's `time.Time` in a certificate: UTCTime for 1950..2049, else GeneralizedTime.
pub(crate) fn time(t: &chrono::DateTime<chrono::Utc>) -> Vec<u8> {
    use chrono::Datelike;
    let y = t.year();
    if (1950..2050).contains(&y) {
        tlv(0x17, t.format("%y%m%d%H%M%SZ").to_string().as_bytes())
    } else {
        tlv(
            0x18,
            format!("{y:04}{}", t.format("%m%d%H%M%SZ")).as_bytes(),
        )
    }
}

/// An `[n]` context-specific constructed (EXPLICIT) element.
pub(crate) fn explicit(n: u8, content: &[u8]) -> Vec<u8> {
    tlv(0xa0 | n, content)
}

/// One DER element read back: its tag and its content.
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
}

/// Reads one element; `None` when the bytes are not DER.
pub(crate) fn read(b: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&l0, rest) = rest.split_first()?;
    let (len, rest) = if l0 < 0x80 {
        (l0 as usize, rest)
    } else {
        let n = (l0 & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, x| (a << 8) | *x as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((
        Tlv {
            tag,
            content: &rest[..len],
        },
        &rest[len..],
    ))
}

/// The elements inside a SEQUENCE's content.
pub(crate) fn items(mut b: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut v = Vec::new();
    while !b.is_empty() {
        let (t, rest) = read(b)?;
        v.push(t);
        b = rest;
    }
    Some(v)
}

/// A SEQUENCE's elements, ignoring bytes after it (Go's `asn1.Unmarshal` returns them).
pub(crate) fn read_seq(b: &[u8]) -> Option<(Vec<Tlv<'_>>, &[u8])> {
    let (t, rest) = read(b)?;
    if t.tag != SEQUENCE {
        return None;
    }
    Some((items(t.content)?, rest))
}

/// An OID's dotted form, as Go's `%v` prints an `asn1.ObjectIdentifier`.
pub(crate) fn oid_string(content: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut v: u64 = 0;
    for b in content {
        v = (v << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (v / 40).min(2);
                arcs.push(first);
                arcs.push(v - first * 40);
            } else {
                arcs.push(v);
            }
            v = 0;
        }
    }
    arcs.iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(uint(&[0x80]), vec![2, 2, 0, 0x80]);
        assert_eq!(uint(&[0, 0, 5]), vec![2, 1, 5]);
        assert_eq!(uint(&[]), vec![2, 1, 0]);
        assert_eq!(oid(&[2, 5, 4, 3]), vec![6, 3, 0x55, 4, 3]);
        assert_eq!(
            oid(&[1, 2, 840, 113549, 1, 1, 11]),
            vec![6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 11]
        );
        assert_eq!(tlv(4, &[0; 200])[..3], [4, 0x81, 200]);
        assert_eq!(go_string("a b")[0], 0x13);
        assert_eq!(go_string("*.x")[0], 0x0c);
    }
}
