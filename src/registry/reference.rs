//! Docker image references, parsed and normalised like the docker CLI
//! (distribution's `reference` grammar): `[HOST[:PORT]/]PATH[:TAG][@DIGEST]`.

use std::fmt;

/// Docker Hub's canonical host name.
pub const DOCKER_HUB: &str = "docker.io";

/// Why a reference is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference {0:?}: empty")]
    Empty(String),
    #[error("invalid reference {input:?}: {why}")]
    Invalid { input: String, why: String },
}

/// A repository: registry host plus path, e.g. `127.0.0.1:5000/shop/backend`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Repository {
    /// Registry host with optional port (`docker.io` for Docker Hub).
    pub host: String,
    /// Path inside the registry (`library/busybox` for Docker Hub official images).
    pub path: String,
}

impl Repository {
    /// Parse `HOST/PATH` (no tag, no digest).
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let r = Reference::parse(input)?;
        if r.tag.is_some() || r.digest.is_some() {
            return Err(invalid(input, "a repository must not have a tag or digest"));
        }
        Ok(r.repository)
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.host, self.path)
    }
}

/// A parsed reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    pub repository: Repository,
    pub tag: Option<String>,
    /// `sha256:<64 hex>` (or another algorithm the grammar allows).
    pub digest: Option<String>,
}

fn invalid(input: &str, why: impl Into<String>) -> ReferenceError {
    ReferenceError::Invalid {
        input: input.to_string(),
        why: why.into(),
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__`, or any number of `-`.
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[\w][\w.-]{0,127}`
pub fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'))
}

/// `algorithm:hex`, with sha256 requiring 64 lowercase hex digits.
pub fn valid_digest(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let alg_ok = !alg.is_empty()
        && alg
            .split(['+', '.', '_', '-'])
            .all(|p| !p.is_empty() && p.bytes().all(is_alnum));
    let hex_ok = hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    alg_ok
        && hex_ok
        && (alg != "sha256" || (hex.len() == 64 && !hex.bytes().any(|b| b.is_ascii_uppercase())))
}

/// `host` or `host:port`, domain components or an IPv4/bracketed IPv6 address.
fn valid_host(h: &str) -> bool {
    let (name, port) = if let Some(rest) = h.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip6, tail)) => {
                if ip6.parse::<std::net::Ipv6Addr>().is_err() {
                    return false;
                }
                (None, tail.strip_prefix(':'))
            }
            None => return false,
        }
    } else {
        match h.rsplit_once(':') {
            Some((n, p)) => (Some(n), Some(p)),
            None => (Some(h), None),
        }
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err())
    {
        return false;
    }
    match name {
        None => true,
        Some(n) => {
            !n.is_empty()
                && n.split('.').all(|c| {
                    let b = c.as_bytes();
                    !b.is_empty()
                        && b[0].is_ascii_alphanumeric()
                        && b[b.len() - 1].is_ascii_alphanumeric()
                        && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
                })
        }
    }
}

impl Reference {
    /// Parse and normalise as `docker pull` does.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::Empty(input.to_string()));
        }
        if input.len() > 4096 {
            return Err(invalid(&input[..32], "longer than 4096 characters"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => {
                if !valid_digest(d) {
                    return Err(invalid(
                        input,
                        format!(
                            "digest {d:?} is not ALGORITHM:HEX (sha256 needs 64 lowercase hex digits)"
                        ),
                    ));
                }
                (r, Some(d.to_string()))
            }
            None => (input, None),
        };
        // The tag is after the last ':' that comes after the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let t = &rest[last_slash + i + 1..];
                if !valid_tag(t) {
                    return Err(invalid(
                        input,
                        format!("tag {t:?} must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}"),
                    ));
                }
                (&rest[..last_slash + i], Some(t.to_string()))
            }
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(invalid(input, "no repository name"));
        }
        let (host, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.')
                    || first.contains(':')
                    || first == "localhost"
                    || first.starts_with('[') =>
            {
                if !valid_host(first) {
                    return Err(invalid(
                        input,
                        format!("registry host {first:?} is not valid"),
                    ));
                }
                (first.to_string(), rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(invalid(input, "repository name must be lowercase"));
        }
        for c in path.split('/') {
            if !valid_component(c) {
                return Err(invalid(
                    input,
                    format!("path component {c:?} must match [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*"),
                ));
            }
        }
        let host = match host.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
            _ => host,
        };
        let path = if host == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if host.len() + 1 + path.len() > 255 {
            return Err(invalid(input, "repository name longer than 255 characters"));
        }
        Ok(Reference {
            repository: Repository { host, path },
            tag,
            digest,
        })
    }

    /// The tag or digest to fetch (`latest` when neither is given).
    pub fn target(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn valid_references_normalise_like_docker() {
        type Case<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>);
        let cases: &[Case] = &[
            ("busybox", "docker.io", "library/busybox", None, None),
            (
                "busybox:1.36",
                "docker.io",
                "library/busybox",
                Some("1.36"),
                None,
            ),
            (
                "library/busybox",
                "docker.io",
                "library/busybox",
                None,
                None,
            ),
            ("acme/app", "docker.io", "acme/app", None, None),
            (
                "docker.io/busybox",
                "docker.io",
                "library/busybox",
                None,
                None,
            ),
            (
                "index.docker.io/acme/app:v1",
                "docker.io",
                "acme/app",
                Some("v1"),
                None,
            ),
            (
                "registry-1.docker.io/acme/app",
                "docker.io",
                "acme/app",
                None,
                None,
            ),
            ("localhost/app", "localhost", "app", None, None),
            (
                "localhost:5000/app:t",
                "localhost:5000",
                "app",
                Some("t"),
                None,
            ),
            (
                "127.0.0.1:5000/shop/backend:main",
                "127.0.0.1:5000",
                "shop/backend",
                Some("main"),
                None,
            ),
            (
                "ghcr.io/acme/app/sub:1",
                "ghcr.io",
                "acme/app/sub",
                Some("1"),
                None,
            ),
            (
                "registry.example.com/a_b/c__d/e-f/g--h",
                "registry.example.com",
                "a_b/c__d/e-f/g--h",
                None,
                None,
            ),
            ("r.io/a.b/c", "r.io", "a.b/c", None, None),
            ("r.io/app:V1.0_rc-1", "r.io", "app", Some("V1.0_rc-1"), None),
            ("r.io/app:_x", "r.io", "app", Some("_x"), None),
            ("r.io/app@DIGEST", "r.io", "app", None, Some(D)),
            ("r.io/app:t@DIGEST", "r.io", "app", Some("t"), Some(D)),
            ("[::1]:5000/app", "[::1]:5000", "app", None, None),
            ("my-host.example/app", "my-host.example", "app", None, None),
            ("a/b/c/d/e", "docker.io", "a/b/c/d/e", None, None),
            (
                "123.dkr.ecr.eu-west-1.amazonaws.com/app:1",
                "123.dkr.ecr.eu-west-1.amazonaws.com",
                "app",
                Some("1"),
                None,
            ),
            (
                "x.azurecr.io/team/app",
                "x.azurecr.io",
                "team/app",
                None,
                None,
            ),
        ];
        for (input, host, path, tag, digest) in cases {
            let input = input.replace("DIGEST", D);
            let r = Reference::parse(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.repository.host, *host, "{input}");
            assert_eq!(r.repository.path, *path, "{input}");
            assert_eq!(r.tag.as_deref(), *tag, "{input}");
            assert_eq!(r.digest.as_deref(), *digest, "{input}");
        }
        assert_eq!(
            Reference::parse("busybox").expect("ok").to_string(),
            "docker.io/library/busybox"
        );
        assert_eq!(Reference::parse("busybox").expect("ok").target(), "latest");
    }

    #[test]
    fn invalid_references_say_why() {
        let long_tag = format!("r.io/app:{}", "a".repeat(129));
        let long_name = format!("r.io/{}", "a".repeat(260));
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("UPPER/app", "lowercase"),
            ("r.io/App", "lowercase"),
            ("r.io/app:", "tag \"\""),
            ("r.io/app:-x", "tag \"-x\""),
            ("r.io/app:.x", "tag \".x\""),
            ("r.io/app:a b", "tag \"a b\""),
            ("r.io/app:a/b", "path component"),
            (&long_tag, "tag"),
            ("r.io/app@sha256:abc", "digest"),
            (
                "r.io/app@sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                "digest",
            ),
            ("r.io/app@nope", "digest"),
            ("r.io/-app", "path component \"-app\""),
            ("r.io/app-", "path component \"app-\""),
            ("r.io/a...b", "path component"),
            ("r.io/a___b", "path component"),
            ("r.io//app", "path component \"\""),
            ("r.io/app/", "path component \"\""),
            ("/app", "path component \"\""),
            (":tag", "no repository name"),
            ("r.io:99999/app", "registry host"),
            ("r.io:port/app", "registry host"),
            ("-r.io/app", "registry host"),
            ("[zz]:5000/app", "registry host"),
            ("r.io/ap p", "path component"),
            ("r.io/app!", "path component"),
            (&long_name, "longer than 255"),
        ];
        for (input, want) in cases {
            let err = Reference::parse(input).expect_err(input).to_string();
            assert!(err.contains(want), "{input}: {err} (want {want})");
        }
    }
}
