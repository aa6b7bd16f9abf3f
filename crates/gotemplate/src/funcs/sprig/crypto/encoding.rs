//! Go's `encoding/base64` (StdEncoding) decoding and `encoding/pem`, byte for byte: which
//! inputs they accept and where they report an error decide sprig's results and error texts.

use base64::Engine;

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn decode_char(c: u8) -> Option<u8> {
    STD.iter().position(|x| *x == c).map(|p| p as u8)
}

/// `base64.StdEncoding.DecodeString`: newlines are skipped, padding is required, trailing
/// bits may be non-zero. The error is Go's `illegal base64 data at input byte N`.
pub(crate) fn b64_decode(src: &[u8]) -> Result<Vec<u8>, String> {
    let corrupt = |at: usize| format!("illegal base64 data at input byte {at}");
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    while si < src.len() {
        // One quantum of up to 4 characters (Go's decodeQuantum).
        let mut dbuf = [0u8; 4];
        let mut dlen = 4;
        let mut trailing: Option<usize> = None;
        let mut j = 0;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                return Err(corrupt(si - j));
            }
            let c = src[si];
            si += 1;
            if let Some(v) = decode_char(c) {
                dbuf[j] = v;
                j += 1;
                continue;
            }
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if c != b'=' {
                return Err(corrupt(si - 1));
            }
            match j {
                0 | 1 => return Err(corrupt(si - 1)),
                2 => {
                    while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                        si += 1;
                    }
                    if si == src.len() {
                        return Err(corrupt(src.len()));
                    }
                    if src[si] != b'=' {
                        return Err(corrupt(si - 1));
                    }
                    si += 1;
                }
                _ => {}
            }
            while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                si += 1;
            }
            if si < src.len() {
                trailing = Some(si);
            }
            dlen = j;
            break;
        }
        let val = (u32::from(dbuf[0]) << 18)
            | (u32::from(dbuf[1]) << 12)
            | (u32::from(dbuf[2]) << 6)
            | u32::from(dbuf[3]);
        let bytes = [(val >> 16) as u8, (val >> 8) as u8, val as u8];
        out.extend_from_slice(&bytes[..dlen - 1]);
        if let Some(at) = trailing {
            return Err(corrupt(at));
        }
    }
    Ok(out)
}

/// `base64.StdEncoding.EncodeToString`.
pub(crate) fn b64_encode(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A decoded PEM block: its type and bytes (headers are read and dropped, as sprig does).
pub(crate) struct Block {
    pub typ: String,
    pub bytes: Vec<u8>,
}

/// Go's `getLine`: the line without `\r\n` and trailing spaces/tabs, and the rest.
fn get_line(data: &[u8]) -> (&[u8], &[u8]) {
    let (mut i, j) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (i, i + 1),
        None => (data.len(), data.len()),
    };
    if j > i && i > 0 && data[i - 1] == b'\r' {
        i -= 1;
    }
    let mut line = &data[..i];
    while let [rest @ .., b' ' | b'\t'] = line {
        line = rest;
    }
    (line, &data[j..])
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn trim_space(mut b: &[u8]) -> &[u8] {
    while let [x, rest @ ..] = b
        && x.is_ascii_whitespace()
    {
        b = rest;
    }
    while let [rest @ .., x] = b
        && x.is_ascii_whitespace()
    {
        b = rest;
    }
    b
}

/// Go's `pem.Decode`: the first well-formed block, skipping malformed ones.
pub(crate) fn pem_decode(data: &[u8]) -> Option<Block> {
    const START: &[u8] = b"\n-----BEGIN ";
    const END: &[u8] = b"\n-----END ";
    const EOL: &[u8] = b"-----";
    let mut rest = data;
    loop {
        if rest.starts_with(&START[1..]) {
            rest = &rest[START.len() - 1..];
        } else if let Some(i) = find(rest, START) {
            rest = &rest[i + START.len()..];
        } else {
            return None;
        }
        let (type_line, r) = get_line(rest);
        rest = r;
        let Some(typ) = type_line.strip_suffix(EOL) else {
            continue;
        };
        let mut headers = 0;
        loop {
            if rest.is_empty() {
                return None;
            }
            let (line, next) = get_line(rest);
            let Some(colon) = line.iter().position(|b| *b == b':') else {
                break;
            };
            let _ = trim_space(&line[..colon]);
            headers += 1;
            rest = next;
        }
        let (end_index, trailer_index) = if headers == 0 && rest.starts_with(&END[1..]) {
            (0, END.len() - 1)
        } else {
            match find(rest, END) {
                Some(i) => (i, i + END.len()),
                None => continue,
            }
        };
        let end_trailer = &rest[trailer_index..];
        let trailer_len = typ.len() + EOL.len();
        if end_trailer.len() < trailer_len {
            continue;
        }
        let rest_of_end_line = &end_trailer[trailer_len..];
        let end_trailer = &end_trailer[..trailer_len];
        if !end_trailer.starts_with(typ) || !end_trailer.ends_with(EOL) {
            continue;
        }
        if !get_line(rest_of_end_line).0.is_empty() {
            continue;
        }
        let b64: Vec<u8> = rest[..end_index]
            .iter()
            .copied()
            .filter(|b| *b != b' ' && *b != b'\t')
            .collect();
        let Ok(bytes) = b64_decode(&b64) else {
            continue;
        };
        return Some(Block {
            typ: String::from_utf8_lossy(typ).into_owned(),
            bytes,
        });
    }
}

/// Go's `pem.EncodeToMemory` of a block without headers.
pub(crate) fn pem_encode(typ: &str, bytes: &[u8]) -> String {
    let b64 = b64_encode(bytes);
    let mut out = format!("-----BEGIN {typ}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {typ}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_errors_are_gos() {
        assert_eq!(b64_decode(b"YWJj").unwrap(), b"abc");
        assert_eq!(b64_decode(b"YW\nJj").unwrap(), b"abc");
        assert_eq!(b64_decode(b"YQ==").unwrap(), b"a");
        assert_eq!(b64_decode(b"YR==").unwrap(), b"a");
        assert_eq!(
            b64_decode(b"abc").unwrap_err(),
            "illegal base64 data at input byte 0"
        );
        assert_eq!(
            b64_decode(b"YQ=").unwrap_err(),
            "illegal base64 data at input byte 3"
        );
        assert_eq!(
            b64_decode(b"YQ==YQ==").unwrap_err(),
            "illegal base64 data at input byte 4"
        );
        assert_eq!(
            b64_decode(b"Y!==").unwrap_err(),
            "illegal base64 data at input byte 1"
        );
    }

    #[test]
    fn pem_round_trip_and_junk() {
        let p = pem_encode("X Y", &[1u8; 100]);
        assert!(p.lines().all(|l| l.len() <= 64));
        let b = pem_decode(format!("junk\n{p}more").as_bytes()).unwrap();
        assert_eq!((b.typ.as_str(), b.bytes), ("X Y", vec![1u8; 100]));
        assert!(pem_decode(b"-----BEGIN X-----\nAAAA\n-----END Y-----\n").is_none());
    }
}
