//! Registry implementations behind one trait, one module per vendor (werf's
//! `pkg/docker_registry` shape). This file holds the [`Vendor`] trait, the one [`VENDORS`]
//! table (each vendor file declares its row, `INFO`: names and host detection), the
//! implementation names and the vendors' advice for the transport's errors
//! ([`VendorAdvice`]). Each vendor module implements the trait with its own API, whose
//! requests go through the registry transport (TLS settings, retries); the transport never
//! names a vendor.

pub mod acr;
pub mod default;
pub mod dockerhub;
pub mod ecr;
pub mod gcr;
pub mod github;
pub mod gitlab;
pub mod harbor;
pub mod quay;

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use futures::future::BoxFuture;
use serde::Serialize;

use super::client::Client;
pub use super::credentials::VendorCredentials;
use super::reference::Repository;
use super::transport::{Advice, RegistryError};
pub use default::Deleted;

/// One row of the vendor table: how an implementation is named and recognised, and how
/// its [`Vendor`] is made. Each vendor file declares its own (`INFO`).
pub struct Info {
    pub kind: Implementation,
    /// Its `--implementation` value.
    pub name: &'static str,
    /// Other accepted spellings of the name (lowercase).
    pub aliases: &'static [&'static str],
    /// Whether a registry host (lowercase, without its port) is this vendor's.
    pub detect: fn(&str) -> bool,
    /// The vendor, with the credentials its API may need.
    pub make: for<'a> fn(&'a VendorCredentials) -> Box<dyn Vendor + 'a>,
}

/// Every implementation, in the order names are listed and hosts are detected (first
/// match wins; `default` matches none and takes the rest).
pub const VENDORS: &[Info] = &[
    default::INFO,
    ecr::INFO,
    acr::INFO,
    dockerhub::INFO,
    gcr::INFO,
    github::INFO,
    gitlab::INFO,
    harbor::INFO,
    quay::INFO,
];

/// What differs between registry implementations.
pub trait Vendor: Send + Sync {
    /// Most path components a repository name may have on `host` (account/repo); `None`
    /// for no limit.
    fn max_depth(&self, _host: &str) -> Option<usize> {
        None
    }
    /// Advice appended to "repository … does not exist" (how to create it).
    fn not_found_hint(&self, _repo: &str) -> Option<String> {
        None
    }
    /// Can this vendor delete a single tag (leaving other tags of the manifest)?
    fn deletes_single_tags(&self) -> bool;
    /// Delete `tag` (whose manifest is `digest`) from `repo`.
    fn delete<'a>(
        &'a self,
        client: &'a Client,
        repo: &'a Repository,
        tag: &'a str,
        digest: &'a str,
    ) -> BoxFuture<'a, Result<Deleted, RegistryError>>;
    /// Called once every tag of `digest` that the plan deletes is gone (GCR keeps untagged
    /// manifests, so it deletes the digest here).
    fn after_digest<'a>(
        &'a self,
        _client: &'a Client,
        _repo: &'a Repository,
        _digest: &'a str,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(async { Ok(()) })
    }
}

/// The vendor of an implementation; `creds` serve vendor APIs that need their own.
pub fn for_implementation(kind: Implementation, creds: &VendorCredentials) -> Box<dyn Vendor + '_> {
    (kind.info().make)(creds)
}

/// Credentials for vendor knowledge that needs none (depth, hints).
static NO_CREDS: LazyLock<VendorCredentials> = LazyLock::new(VendorCredentials::default);

/// The advice for a repository the registry says does not exist: the vendor's own (ECR,
/// told by its host or its answer), else, on a push, that this registry does not create
/// repositories on push.
fn not_found_hint(host: &str, repo: &str, pushing: bool, answer: &str) -> String {
    let kind = if answer
        .to_lowercase()
        .contains("repositorynotfoundexception")
        || host.contains(".dkr.ecr.")
    {
        Implementation::Ecr
    } else {
        Implementation::detect(host)
    };
    let own = for_implementation(kind, &NO_CREDS).not_found_hint(repo);
    match own {
        Some(h) => h,
        None if pushing => for_implementation(Implementation::Ecr, &NO_CREDS)
            .not_found_hint(repo)
            .unwrap_or_default(),
        None => String::new(),
    }
}

/// The vendors' advice for the transport's errors, plugged in through
/// `RegistryOptions::advice`.
#[derive(Debug, Clone, Copy, Default)]
pub struct VendorAdvice;

impl Advice for VendorAdvice {
    fn not_found(&self, host: &str, repo: &str, pushing: bool, answer: &str) -> Option<String> {
        Some(not_found_hint(host, repo, pushing, answer)).filter(|h| !h.is_empty())
    }
}

/// A registry implementation: decides repo-mode defaults, nesting rules and the
/// deletion API used by cleanup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Implementation {
    Default,
    Ecr,
    Acr,
    DockerHub,
    Gcr,
    GitHub,
    GitLab,
    Harbor,
    Quay,
}

impl Implementation {
    /// Its row of [`VENDORS`].
    fn info(self) -> &'static Info {
        // Every variant has a row (a test checks it); the default row is a safe answer.
        VENDORS
            .iter()
            .find(|i| i.kind == self)
            .unwrap_or(&default::INFO)
    }

    pub fn as_str(self) -> &'static str {
        self.info().name
    }

    /// Most path components a repository name may have on `host` ([`Vendor::max_depth`]).
    pub fn max_depth(self, host: &str) -> Option<usize> {
        for_implementation(self, &NO_CREDS).max_depth(host)
    }

    /// Detect from a registry host (`host[:port]`), first match in [`VENDORS`] wins.
    pub fn detect(host: &str) -> Self {
        let host = host.to_ascii_lowercase();
        let name = host.split(':').next().unwrap_or(&host);
        VENDORS
            .iter()
            .find(|i| (i.detect)(name))
            .map_or(Self::Default, |i| i.kind)
    }
}

impl fmt::Display for Implementation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not an [`Implementation`] (nor an alias of one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownImplementation(pub String);

impl fmt::Display for UnknownImplementation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = VENDORS.iter().map(|i| i.name).collect();
        write!(
            f,
            "unknown registry implementation {:?}: choose one of {}",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownImplementation {}

impl FromStr for Implementation {
    type Err = UnknownImplementation;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        VENDORS
            .iter()
            .find(|i| i.name == lower || i.aliases.contains(&lower.as_str()))
            .map(|i| i.kind)
            .ok_or_else(|| UnknownImplementation(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_table() {
        let cases = [
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                Implementation::Ecr,
            ),
            (
                "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
                Implementation::Ecr,
            ),
            (
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
                Implementation::Ecr,
            ),
            (
                "12345678901.dkr.ecr.eu-west-1.amazonaws.com",
                Implementation::Default,
            ),
            ("myreg.azurecr.io", Implementation::Acr),
            ("docker.io", Implementation::DockerHub),
            ("index.docker.io", Implementation::DockerHub),
            ("registry-1.docker.io", Implementation::DockerHub),
            ("registry.hub.docker.com", Implementation::DockerHub),
            ("gcr.io", Implementation::Gcr),
            ("eu.gcr.io", Implementation::Gcr),
            ("europe-west1-docker.pkg.dev", Implementation::Gcr),
            ("ghcr.io", Implementation::GitHub),
            ("docker.pkg.github.com", Implementation::GitHub),
            ("registry.gitlab.com", Implementation::GitLab),
            ("gitlab.example.com", Implementation::Default),
            ("harbor.example.com", Implementation::Harbor),
            ("quay.io", Implementation::Quay),
            ("quay.example.com", Implementation::Quay),
            ("127.0.0.1:5000", Implementation::Default),
            ("localhost:5000", Implementation::Default),
        ];
        for (host, want) in cases {
            assert_eq!(Implementation::detect(host), want, "{host}");
        }
    }

    #[test]
    fn vendor_knowledge() {
        assert_eq!(Implementation::DockerHub.max_depth("docker.io"), Some(2));
        assert_eq!(Implementation::Quay.max_depth("quay.io"), Some(2));
        assert_eq!(
            Implementation::GitHub.max_depth("docker.pkg.github.com"),
            Some(3)
        );
        assert_eq!(Implementation::GitHub.max_depth("ghcr.io"), None);
        assert_eq!(Implementation::Default.max_depth("r.io"), None);
        let ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
        let hint = not_found_hint(ecr, "app", false, "");
        assert!(
            hint.contains("aws ecr create-repository --repository-name app"),
            "{hint}"
        );
        assert_eq!(not_found_hint("r.io", "app", false, "NAME_UNKNOWN"), "");
        assert_eq!(
            not_found_hint("r.io", "app", true, ""),
            hint,
            "pushes get the advice"
        );
        let told = not_found_hint("r.io", "app", false, "RepositoryNotFoundException: x");
        assert_eq!(told, hint);
        assert!(for_implementation(Implementation::GitLab, &NO_CREDS).deletes_single_tags());
        assert!(!for_implementation(Implementation::Harbor, &NO_CREDS).deletes_single_tags());
    }

    #[test]
    fn the_table_has_one_row_per_implementation_named_as_serde_names_it() {
        let kinds: std::collections::HashSet<Implementation> =
            VENDORS.iter().map(|i| i.kind).collect();
        assert_eq!(kinds.len(), VENDORS.len(), "one row each");
        assert_eq!(VENDORS.len(), 9);
        for row in VENDORS {
            assert_eq!(row.kind.as_str(), row.name);
            assert_eq!(row.name.parse::<Implementation>(), Ok(row.kind));
            for alias in row.aliases {
                assert_eq!(alias.parse::<Implementation>(), Ok(row.kind), "{alias}");
            }
            let json = serde_json::to_string(&row.kind).unwrap_or_default();
            assert_eq!(json, format!("{:?}", row.name));
        }
        let advice = VendorAdvice;
        assert_eq!(advice.not_found("r.io", "app", false, "NAME_UNKNOWN"), None);
        let hint = advice.not_found("r.io", "app", true, "");
        assert!(hint.is_some_and(|h| h.contains("--repository-name app")));
    }

    #[test]
    fn parse_names() {
        assert_eq!(
            "GitLab".parse::<Implementation>(),
            Ok(Implementation::GitLab)
        );
        let err = "nexus".parse::<Implementation>().unwrap_err().to_string();
        assert!(err.contains("choose one of default, ecr"), "{err}");
    }
}
