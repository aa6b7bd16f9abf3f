//! Registry implementations behind one trait, one module per vendor (werf's
//! `pkg/docker_registry` shape). This file holds the implementation names and their
//! detection from the registry host; vendor modules add their own APIs.

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

use regex::Regex;
use serde::Serialize;

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
    fn parse_names() {
        assert_eq!(
            "GitLab".parse::<Implementation>(),
            Ok(Implementation::GitLab)
        );
        let err = "nexus".parse::<Implementation>().unwrap_err();
        assert!(err.contains("choose one of default, ecr"), "{err}");
    }
}
