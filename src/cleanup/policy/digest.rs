//! A manifest digest held compactly: a plan of many thousand tags holds one per tag.

use std::fmt;

use serde::Serialize;

/// A manifest digest. `sha256:` and 64 lowercase hex digits (what registries answer) are
/// kept as the 32 bytes they spell: 40 bytes and no allocation, where a `String` costs 24
/// bytes and an 80-byte allocation. Anything else is kept as given.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ManifestDigest {
    Sha256([u8; 32]),
    Other(Box<str>),
}

const SHA256: &str = "sha256:";

impl ManifestDigest {
    pub fn new(s: &str) -> Self {
        let mut bytes = [0u8; 32];
        match s.strip_prefix(SHA256) {
            // Upper-case hex would not print back as it was given.
            Some(h)
                if h.len() == 64
                    && !h.bytes().any(|b| b.is_ascii_uppercase())
                    && hex::decode_to_slice(h, &mut bytes).is_ok() =>
            {
                Self::Sha256(bytes)
            }
            _ => Self::Other(s.into()),
        }
    }

    /// The first 12 digits of the hash, as the plan prints it.
    pub fn short(&self) -> Short<'_> {
        Short(self)
    }
}

impl From<&str> for ManifestDigest {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for ManifestDigest {
    fn from(s: String) -> Self {
        Self::new(&s)
    }
}

impl From<&String> for ManifestDigest {
    fn from(s: &String) -> Self {
        Self::new(s)
    }
}

impl PartialEq<str> for ManifestDigest {
    fn eq(&self, other: &str) -> bool {
        match self {
            Self::Other(s) => **s == *other,
            Self::Sha256(_) => *self == Self::new(other),
        }
    }
}

impl PartialEq<String> for ManifestDigest {
    fn eq(&self, other: &String) -> bool {
        *self == *other.as_str()
    }
}

/// The hex digits of a sha256 digest, written without allocating.
fn hex_of(bytes: &[u8; 32], f: &mut fmt::Formatter<'_>, digits: usize) -> fmt::Result {
    let mut buf = [0u8; 64];
    hex::encode_to_slice(bytes, &mut buf).map_err(|_| fmt::Error)?;
    let text = std::str::from_utf8(&buf[..digits]).map_err(|_| fmt::Error)?;
    f.write_str(text)
}

impl fmt::Display for ManifestDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sha256(b) => {
                f.write_str(SHA256)?;
                hex_of(b, f, 64)
            }
            Self::Other(s) => f.write_str(s),
        }
    }
}

impl fmt::Debug for ManifestDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl Serialize for ManifestDigest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// [`ManifestDigest::short`].
pub struct Short<'a>(&'a ManifestDigest);

impl fmt::Display for Short<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ManifestDigest::Sha256(b) => hex_of(b, f, 12),
            ManifestDigest::Other(s) => f.write_str(super::short(s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_print_back_as_given() {
        let hex = "0123456789abcdef".repeat(4);
        let sha = format!("sha256:{hex}");
        for given in [sha.as_str(), "sha256:aaa", "sha512:00", &sha.to_uppercase()] {
            let d = ManifestDigest::new(given);
            assert_eq!(d.to_string(), given);
            assert!(d == *given);
            assert_eq!(serde_json::to_value(&d).ok(), Some(given.into()));
        }
        assert!(matches!(
            ManifestDigest::new(&sha),
            ManifestDigest::Sha256(_)
        ));
        assert_eq!(ManifestDigest::new(&sha).short().to_string(), hex[..12]);
        assert_eq!(ManifestDigest::new("sha256:aaa").short().to_string(), "aaa");
        assert!(ManifestDigest::new(&sha) != *"sha256:aaa");
    }
}
