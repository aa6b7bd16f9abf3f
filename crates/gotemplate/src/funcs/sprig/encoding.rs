//! sprig's encodings, hashes, random values and UUIDs.

use base64::Engine;
use sha1::Digest;

use super::{Reg, fixed, string};
use crate::funcs::{Ty, int, s};

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

pub(super) fn register(v: &mut Reg) {
    use Ty::*;
    fixed(v, "b64enc", &[String], |a| {
        Ok(string(
            base64::engine::general_purpose::STANDARD.encode(s(&a[0])),
        ))
    });
    fixed(v, "b64dec", &[String], |a| Ok(string(b64dec(s(&a[0])))));
    fixed(v, "b32enc", &[String], |a| {
        Ok(string(b32enc(s(&a[0]).as_bytes())))
    });
    fixed(v, "b32dec", &[String], |a| Ok(string(b32dec(s(&a[0])))));
    fixed(v, "sha1sum", &[String], |a| {
        Ok(string(hex(&sha1::Sha1::digest(s(&a[0]).as_bytes()))))
    });
    fixed(v, "sha256sum", &[String], |a| {
        Ok(string(hex(&sha2::Sha256::digest(s(&a[0]).as_bytes()))))
    });
    fixed(v, "adler32sum", &[String], |a| {
        Ok(string(adler32(s(&a[0]).as_bytes()).to_string()))
    });
    fixed(v, "uuidv4", &[], |_| Ok(string(uuidv4())));
    fixed(v, "randAlphaNum", &[Int], |a| {
        Ok(string(rand_from(
            int(&a[0]),
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        )))
    });
    fixed(v, "randAlpha", &[Int], |a| {
        Ok(string(rand_from(
            int(&a[0]),
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        )))
    });
    fixed(v, "randNumeric", &[Int], |a| {
        Ok(string(rand_from(int(&a[0]), b"0123456789")))
    });
    fixed(v, "randAscii", &[Int], |a| {
        let chars: Vec<u8> = (32u8..=126).collect();
        Ok(string(rand_from(int(&a[0]), &chars)))
    });
    fixed(v, "randBytes", &[Int], |a| {
        let n = int(&a[0]).max(0) as usize;
        let bytes: Vec<u8> = (0..n).map(|_| fastrand::u8(..)).collect();
        Ok(string(
            base64::engine::general_purpose::STANDARD.encode(bytes),
        ))
    });
    fixed(v, "fail", &[String], |a| Err(s(&a[0]).to_string()));
}

fn hex(b: &[u8]) -> std::string::String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn adler32(b: &[u8]) -> u32 {
    let (mut a, mut s) = (1u32, 0u32);
    for &x in b {
        a = (a + x as u32) % 65521;
        s = (s + a) % 65521;
    }
    (s << 16) | a
}

fn b64dec(s: &str) -> std::string::String {
    match base64::engine::general_purpose::STANDARD.decode(s) {
        Ok(d) => std::string::String::from_utf8_lossy(&d).into_owned(),
        Err(e) => {
            let off = match e {
                base64::DecodeError::InvalidByte(o, _) => o,
                base64::DecodeError::InvalidLength(o) => o,
                base64::DecodeError::InvalidLastSymbol(o, _) => o,
                base64::DecodeError::InvalidPadding => s.len(),
            };
            format!("illegal base64 data at input byte {off}")
        }
    }
}

fn b32enc(b: &[u8]) -> std::string::String {
    let mut out = std::string::String::new();
    for chunk in b.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for i in 0..8 {
            if i < chars {
                out.push(B32[((n >> (35 - 5 * i)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b32dec(s: &str) -> std::string::String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    if !bytes.len().is_multiple_of(8) {
        let off = bytes.len() / 8 * 8;
        return format!("illegal base32 data at input byte {off}");
    }
    for (ci, chunk) in bytes.chunks(8).enumerate() {
        let mut n: u64 = 0;
        let mut count = 0;
        for (i, &c) in chunk.iter().enumerate() {
            if c == b'=' {
                break;
            }
            let Some(v) = B32.iter().position(|x| *x == c) else {
                return format!("illegal base32 data at input byte {}", ci * 8 + i);
            };
            n |= (v as u64) << (35 - 5 * i);
            count += 1;
        }
        let nbytes = match count {
            8 => 5,
            7 => 4,
            5 => 3,
            4 => 2,
            2 => 1,
            _ => {
                return format!("illegal base32 data at input byte {}", ci * 8 + count);
            }
        };
        let be = n.to_be_bytes();
        out.extend_from_slice(&be[3..3 + nbytes]);
    }
    std::string::String::from_utf8_lossy(&out).into_owned()
}

fn uuidv4() -> std::string::String {
    let mut b: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn rand_from(n: i64, chars: &[u8]) -> std::string::String {
    (0..n.max(0))
        .map(|_| chars[fastrand::usize(..chars.len())] as char)
        .collect()
}
