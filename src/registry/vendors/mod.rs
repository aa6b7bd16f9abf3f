//! Registry implementations behind one trait, one module per vendor (werf's
//! `pkg/docker_registry` shape). This file holds the implementation names, their detection
//! from the registry host and the [`Vendor`] trait; each vendor module implements it with
//! its own API, whose requests go through the registry transport (TLS settings, retries).

pub mod acr;
pub mod deleter;
pub mod dockerhub;
pub mod ecr;
pub mod gcr;
pub mod github;
pub mod gitlab;
pub mod quay;

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use futures::future::BoxFuture;
use regex::Regex;
use serde::Serialize;

use super::client::Client;
pub use super::credentials::VendorCredentials;
use super::reference::Repository;
use super::transport::RegistryError;
pub use deleter::Deleted;

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
    match kind {
        Implementation::GitLab => Box::new(gitlab::GitLab),
        Implementation::Acr => Box::new(acr::Acr),
        Implementation::Quay => Box::new(quay::Quay(creds)),
        Implementation::Gcr => Box::new(gcr::Gcr),
        Implementation::Ecr => Box::new(ecr::Ecr(creds)),
        Implementation::GitHub => Box::new(github::GitHub(creds)),
        Implementation::DockerHub => Box::new(dockerhub::DockerHub::new(creds)),
        Implementation::Default | Implementation::Harbor => Box::new(deleter::ManifestDelete),
    }
}

/// Credentials for vendor knowledge that needs none (depth, hints).
static NO_CREDS: LazyLock<VendorCredentials> = LazyLock::new(VendorCredentials::default);

/// The advice for a repository the registry says does not exist: the vendor's own (ECR,
/// told by its host or its answer), else, on a push, that this registry does not create
/// repositories on push.
pub(crate) fn not_found_hint(host: &str, repo: &str, pushing: bool, answer: &str) -> String {
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
    pub const ALL: [Implementation; 9] = [
        Self::Default,
        Self::Ecr,
        Self::Acr,
        Self::DockerHub,
        Self::Gcr,
        Self::GitHub,
        Self::GitLab,
        Self::Harbor,
        Self::Quay,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Ecr => "ecr",
            Self::Acr => "acr",
            Self::DockerHub => "dockerhub",
            Self::Gcr => "gcr",
            Self::GitHub => "github",
            Self::GitLab => "gitlab",
            Self::Harbor => "harbor",
            Self::Quay => "quay",
        }
    }

    /// Most path components a repository name may have on `host` ([`Vendor::max_depth`]).
    pub fn max_depth(self, host: &str) -> Option<usize> {
        for_implementation(self, &NO_CREDS).max_depth(host)
    }

    /// Detect from a registry host (`host[:port]`), first match wins.
    pub fn detect(host: &str) -> Self {
        static ECR: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
                .unwrap_or_else(|e| unreachable!("static regex: {e}"))
        });
        let host = host.to_ascii_lowercase();
        let name = host.split(':').next().unwrap_or(&host);
        if ECR.is_match(name) {
            Self::Ecr
        } else if name.ends_with(".azurecr.io") {
            Self::Acr
        } else if matches!(
            name,
            "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com"
        ) {
            Self::DockerHub
        } else if name == "gcr.io" || name.ends_with(".gcr.io") || name.ends_with("-docker.pkg.dev")
        {
            Self::Gcr
        } else if name == "ghcr.io" || name == "docker.pkg.github.com" {
            Self::GitHub
        } else if name == "registry.gitlab.com" {
            Self::GitLab
        } else if name.starts_with("harbor.") {
            Self::Harbor
        } else if name == "quay.io" || (name.starts_with("quay.") && name.ends_with(".com")) {
            Self::Quay
        } else {
            Self::Default
        }
    }
}

impl fmt::Display for Implementation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Implementation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        let alias = match lower.as_str() {
            "docker-hub" | "docker_hub" | "hub" => "dockerhub",
            "github-packages" | "ghcr" => "github",
            "artifact-registry" | "gar" => "gcr",
            other => other,
        };
        Self::ALL
            .into_iter()
            .find(|i| i.as_str() == alias)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|i| i.as_str()).collect();
                format!(
                    "unknown registry implementation {s:?}: choose one of {}",
                    names.join(", ")
                )
            })
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
    fn parse_names() {
        assert_eq!(
            "GitLab".parse::<Implementation>(),
            Ok(Implementation::GitLab)
        );
        let err = "nexus".parse::<Implementation>().unwrap_err();
        assert!(err.contains("choose one of default, ecr"), "{err}");
    }
}
