//! Settings resolved once at start-up from flags, `SLIPWAY_*` and `WERF_*` variables.
//! Everything below `cli` takes these values, never raw flags or environment.

pub mod host_env;
pub mod werf_names;

use std::path::PathBuf;

/// How images are laid out in `--images-repo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RepoMode {
    /// Pick per registry implementation (see `naming`).
    #[default]
    Auto,
    /// `REPO/IMAGE:TAG`
    Multirepo,
    /// `REPO:IMAGE-TAG`
    Monorepo,
}

impl std::str::FromStr for RepoMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" | "" => Ok(Self::Auto),
            "multirepo" => Ok(Self::Multirepo),
            "monorepo" => Ok(Self::Monorepo),
            other => Err(format!(
                "invalid images repo mode {other:?}: choose one of auto, multirepo, monorepo"
            )),
        }
    }
}

/// Which werf's reading of werf.yaml to follow where werf versions differ
/// (`--werf-version`): werf 1.1 reads `dockerfile:` relative to the project directory,
/// werf ≥ 1.2 relative to `context:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum WerfVersion {
    /// werf 1.1.
    V1_1,
    /// werf 1.2 and 2.
    V2,
}

impl std::str::FromStr for WerfVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1.1" => Ok(Self::V1_1),
            "2" | "1.2" => Ok(Self::V2),
            other => Err(format!(
                "invalid werf version {other:?}: choose 1.1 or 2 (werf 1.2 reads werf.yaml as 2 does)"
            )),
        }
    }
}

/// Global settings shared by every command.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Project directory (`--dir`).
    pub dir: PathBuf,
    /// Explicit config file (`--config`); `None` means `werf.yaml`/`werf.yml` in `dir`.
    pub config: Option<PathBuf>,
    /// werf's `--env` value, visible to templates as `.Env`.
    pub env: Option<String>,
    pub images_repo: Option<String>,
    pub images_repo_mode: RepoMode,
    /// Custom layout template (`--images-repo-template`).
    pub images_repo_template: Option<String>,
    /// Registry implementation override (`--implementation`), e.g. `gitlab`.
    pub implementation: Option<String>,
    /// Which registries may use plain HTTP or unverified TLS (`--insecure-registry`,
    /// `--skip-tls-verify-registry`); see [`Settings::registry_policy`].
    pub insecure: Insecure,
    /// Docker's config directory (credentials): `--docker-config`, else `DOCKER_CONFIG`,
    /// else `~/.docker`.
    pub docker_config: Option<PathBuf>,
    /// werf's `--log-verbose`.
    pub verbose: bool,
    /// Docker's `DOCKER_BUILDKIT` (the settings layer reads the environment).
    pub docker_buildkit: Option<String>,
    /// Docker's `DOCKER_HOST`, for messages (bollard connects from the environment itself).
    pub docker_host: Option<String>,
    /// Custom tags from `WERF_TAG_CUSTOM_*` / `SLIPWAY_TAG_CUSTOM_*` (werf reads every
    /// variable with the prefix), added to `--tag-custom`.
    pub tag_custom_env: Vec<String>,
    /// Emit machine-readable JSON instead of text.
    pub json: bool,
    /// Registry username/password given explicitly (used when docker's config has none).
    pub registry_username: Option<String>,
    pub registry_password: Option<Secret>,
    /// `--werf-version`: settles werf.yaml readings that differ between werf versions;
    /// `None` picks per case (see `config::load`).
    pub werf_version: Option<WerfVersion>,
    /// The image whose `/.werf/stapel` (bash, rm) runs stapel images' steps
    /// (`--stapel-toolbox`, else werf's `WERF_STAPEL_IMAGE_NAME`/`_VERSION`); `None` is
    /// werf's own stapel image.
    pub stapel_toolbox: Option<String>,
}

/// `--insecure-registry` in its two forms, and `--skip-tls-verify-registry`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Insecure {
    /// werf's boolean form (`--insecure-registry`, `=true`, `WERF_INSECURE_REGISTRY=true`):
    /// every registry.
    pub all: bool,
    /// Slipway's form (`--insecure-registry HOST`): these `host[:port]`s only.
    pub hosts: Vec<String>,
    /// werf's `--skip-tls-verify-registry`: TLS without certificate checks, everywhere.
    pub skip_tls_verify: bool,
}

impl Insecure {
    /// From the values given to `--insecure-registry`: a boolean word selects werf's form,
    /// anything else names a host.
    pub fn from_values(values: &[String], skip_tls_verify: bool) -> Insecure {
        let mut out = Insecure {
            skip_tls_verify,
            ..Insecure::default()
        };
        for v in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
            match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" => out.all = true,
                "0" | "false" | "no" => {}
                _ => out.hosts.push(v.to_string()),
            }
        }
        out
    }
}

/// How Slipway may talk to one registry host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryPolicy {
    /// Plain HTTP allowed when the host does not speak TLS.
    pub allow_http: bool,
    /// TLS certificates not verified.
    pub skip_verify: bool,
    /// Named by `--insecure-registry` (as a host or by the boolean form).
    pub insecure: bool,
}

/// `127.0.0.0/8`, `::1` or `localhost`, with or without a port: dockerd lets these use
/// plain HTTP without configuration, so Slipway does too (certificates stay checked).
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else if host.matches(':').count() > 1 {
        host
    } else {
        host.split(':').next().unwrap_or(host)
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

impl Settings {
    /// The one meaning of `--insecure-registry`: a named host or the boolean form allows
    /// plain HTTP and unverified TLS; `--skip-tls-verify-registry` allows unverified TLS;
    /// a loopback host may fall back to plain HTTP but its certificate is still checked.
    pub fn registry_policy(&self, host: &str) -> RegistryPolicy {
        let named = self.insecure.all
            || self
                .insecure
                .hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(host));
        RegistryPolicy {
            allow_http: named || is_loopback(host),
            skip_verify: named || self.insecure.skip_tls_verify,
            insecure: named,
        }
    }
}

/// A secret value: `Debug` and `Display` never show it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost:5000",
            "LOCALHOST",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "10.0.0.1:5000",
            "registry.example.com",
            "[fe80::1]:5000",
            "localhost.example.com",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn insecure_registry_has_one_meaning() {
        let s = |values: &[&str], skip: bool| Settings {
            insecure: Insecure::from_values(
                &values.iter().map(|v| v.to_string()).collect::<Vec<_>>(),
                skip,
            ),
            ..Settings::default()
        };
        let p = |s: &Settings, h: &str| {
            let p = s.registry_policy(h);
            (p.allow_http, p.skip_verify, p.insecure)
        };
        // Nothing given: TLS verified; loopback may fall back to HTTP, certificates checked.
        let none = s(&[], false);
        assert_eq!(p(&none, "reg.example.com"), (false, false, false));
        assert_eq!(p(&none, "127.0.0.1:5000"), (true, false, false));
        // Slipway's form: that host only.
        let host = s(&["reg.example.com:5000"], false);
        assert_eq!(p(&host, "reg.example.com:5000"), (true, true, true));
        assert_eq!(p(&host, "other.example.com"), (false, false, false));
        // werf's boolean form: every registry; `false` is no host.
        for all in [&["true"][..], &["1"], &["yes"]] {
            assert_eq!(p(&s(all, false), "any.example.com"), (true, true, true));
        }
        assert_eq!(
            p(&s(&["false"], false), "any.example.com"),
            (false, false, false)
        );
        assert!(s(&["false"], false).insecure.hosts.is_empty());
        // --skip-tls-verify-registry: unverified TLS, still no plain HTTP.
        assert_eq!(p(&s(&[], true), "reg.example.com"), (false, true, false));
    }
}
