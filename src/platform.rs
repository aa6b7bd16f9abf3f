//! Target platforms as werf 2 reads them (containerd's `platforms` package, which werf's
//! `platformutil` calls): `OS/ARCH[/VARIANT]`, a bare architecture meaning Linux, names
//! normalized (`arm64` → `linux/arm64`, `linux/arm64/v8` → `linux/arm64`,
//! `x86_64` → `linux/amd64`), comma-separated lists split and deduplicated in order.

use std::collections::BTreeMap;

/// The operating systems containerd knows (a one-part name that is one of them is an OS).
const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "windows",
    "zos",
];

/// The architectures containerd knows (before normalization).
const KNOWN_ARCH: &[&str] = &[
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "ppc64",
    "ppc64le",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
    "i386",
    "x86_64",
    "x86-64",
    "aarch64",
    "armhf",
    "armel",
];

/// A text that is no platform.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    #[error("{0:?} is not a platform: use OS/ARCH[/VARIANT], e.g. linux/arm64")]
    Malformed(String),
    #[error("{0:?}: unknown operating system or architecture")]
    Unknown(String),
}

/// One platform, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: String,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

/// containerd's `normalizeArch`.
fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let (arch, variant) = (arch.to_lowercase(), variant.to_lowercase());
    match arch.as_str() {
        "i386" => ("386".into(), String::new()),
        "x86_64" | "x86-64" | "amd64" => {
            let v = if variant == "v1" {
                String::new()
            } else {
                variant
            };
            ("amd64".into(), v)
        }
        "aarch64" | "arm64" => {
            let v = if variant == "8" || variant == "v8" {
                String::new()
            } else {
                variant
            };
            ("arm64".into(), v)
        }
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => {
            let v = match variant.as_str() {
                "" | "7" => "v7".to_string(),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            };
            ("arm".into(), v)
        }
        _ => (arch, variant),
    }
}

/// Parse and normalize one platform (`linux/arm64`, `arm64`, `linux/arm/v7`).
pub fn parse(s: &str) -> Result<Platform, PlatformError> {
    let t = s.trim();
    let bad = || PlatformError::Malformed(s.to_string());
    let parts: Vec<&str> = t.split('/').collect();
    if parts.iter().any(|p| {
        p.is_empty()
            || !p
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }) {
        return Err(bad());
    }
    let os_of = |o: &str| {
        let o = o.to_lowercase();
        if o == "macos" {
            "darwin".to_string()
        } else {
            o
        }
    };
    let (os, arch, variant) = match parts.as_slice() {
        [one] => {
            let l = one.to_lowercase();
            if KNOWN_OS.contains(&l.as_str()) {
                // containerd: an OS alone takes this machine's architecture.
                (os_of(&l), std::env::consts::ARCH.to_string(), String::new())
            } else {
                if !KNOWN_ARCH.contains(&l.as_str()) {
                    return Err(PlatformError::Unknown(s.to_string()));
                }
                ("linux".to_string(), l, String::new())
            }
        }
        [o, a] => (os_of(o), a.to_string(), String::new()),
        [o, a, v] => (os_of(o), a.to_string(), v.to_string()),
        _ => return Err(bad()),
    };
    let (arch, variant) = normalize_arch(&arch, &variant);
    Ok(Platform { os, arch, variant })
}

/// Normalize one platform to its canonical text.
pub fn normalize(s: &str) -> Result<String, PlatformError> {
    parse(s).map(|p| p.to_string())
}

/// A list as werf takes it: each entry may itself be a comma-separated list; normalized,
/// duplicates dropped, first occurrence's order kept.
pub fn normalize_list(list: &[String]) -> Result<Vec<String>, PlatformError> {
    let mut out: Vec<String> = Vec::new();
    for entry in list {
        for one in entry.split(',').filter(|p| !p.trim().is_empty()) {
            let p = normalize(one)?;
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// The platform resolved as werf 2 does: `--platform` replaces every list, then the
/// image's `platform:`, then meta `build.platform`; empty means the daemon's own.
pub fn resolve(forced: &[String], image: &[String], meta: &[String]) -> Vec<String> {
    [forced, image, meta]
        .into_iter()
        .find(|l| !l.is_empty())
        .map(<[String]>::to_vec)
        .unwrap_or_default()
}

/// The build arguments BuildKit sets itself for a target platform (`TARGETPLATFORM`,
/// `TARGETOS`, `TARGETARCH`, `TARGETVARIANT`, and `BUILDPLATFORM`… of `build`), as werf's
/// `GetPlatformMetaArgsMap`: what the content signature expands them to.
pub fn build_args(target: &str, build: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (prefix, p) in [("TARGET", target), ("BUILD", build)] {
        let Ok(p) = parse(p) else { continue };
        out.insert(format!("{prefix}PLATFORM"), p.to_string());
        out.insert(format!("{prefix}OS"), p.os.clone());
        out.insert(format!("{prefix}ARCH"), p.arch.clone());
        out.insert(format!("{prefix}VARIANT"), p.variant.clone());
    }
    out
}

/// This machine's platform (`BUILDPLATFORM` in signatures, as werf's
/// `platforms.DefaultSpec()`).
pub fn host() -> String {
    normalize(&format!("linux/{}", std::env::consts::ARCH))
        .unwrap_or_else(|_| format!("linux/{}", std::env::consts::ARCH))
}

/// A platform in a tag or file name: `linux/arm/v7` → `linux-arm-v7`.
pub fn slug(p: &str) -> String {
    p.replace('/', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalize_as_werf() {
        for (given, want) in [
            ("arm64", "linux/arm64"),
            ("linux/arm64/v8", "linux/arm64"),
            ("linux/aarch64", "linux/arm64"),
            ("x86_64", "linux/amd64"),
            ("Linux/AMD64", "linux/amd64"),
            ("linux/amd64/v1", "linux/amd64"),
            ("linux/amd64/v3", "linux/amd64/v3"),
            ("linux/arm", "linux/arm/v7"),
            ("armhf", "linux/arm/v7"),
            ("linux/arm/6", "linux/arm/v6"),
            ("i386", "linux/386"),
            ("windows/amd64", "windows/amd64"),
            #[cfg(target_arch = "x86_64")]
            ("linux", "linux/amd64"),
        ] {
            assert_eq!(normalize(given).as_deref(), Ok(want), "{given}");
        }
        for bad in ["", "linux/", "linux/arm64/v8/x", "nonsense", "a b/c"] {
            assert!(normalize(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn lists_split_on_commas_and_drop_duplicates_in_order() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            normalize_list(&l(&["linux/arm64,amd64", "aarch64", "linux/amd64"])),
            Ok(l(&["linux/arm64", "linux/amd64"]))
        );
        assert!(normalize_list(&l(&["linux/amd64,bogus"])).is_err());
    }

    #[test]
    fn the_flag_replaces_the_image_list_which_replaces_the_meta_list() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (f, i, m) = (
            l(&["linux/s390x"]),
            l(&["linux/arm64"]),
            l(&["linux/amd64"]),
        );
        assert_eq!(resolve(&f, &i, &m), f);
        assert_eq!(resolve(&[], &i, &m), i);
        assert_eq!(resolve(&[], &[], &m), m);
        assert!(resolve(&[], &[], &[]).is_empty());
    }

    #[test]
    fn build_args_name_target_and_build_platforms() {
        let a = build_args("linux/arm/v7", "linux/amd64");
        assert_eq!(a["TARGETPLATFORM"], "linux/arm/v7");
        assert_eq!(a["TARGETOS"], "linux");
        assert_eq!(a["TARGETARCH"], "arm");
        assert_eq!(a["TARGETVARIANT"], "v7");
        assert_eq!(a["BUILDPLATFORM"], "linux/amd64");
        assert_eq!(a["BUILDARCH"], "amd64");
        assert_eq!(a["BUILDVARIANT"], "");
        assert_eq!(slug("linux/arm/v7"), "linux-arm-v7");
    }
}
