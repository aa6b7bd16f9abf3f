//! Credentials of vendor APIs that do not take registry credentials: Docker Hub's, Quay's
//! and GitHub's tokens, and the AWS keys that sign ECR's API calls.

use crate::secret::Secret;

/// Credentials for vendor APIs that do not take registry credentials (werf's names:
/// `--repo-docker-hub-username/password/token`, `--repo-quay-token`).
#[derive(Clone, Default)]
pub struct VendorCredentials {
    pub docker_hub_username: Option<String>,
    pub docker_hub_password: Option<Secret>,
    pub docker_hub_token: Option<Secret>,
    pub quay_token: Option<Secret>,
    /// Docker Hub's API root (`https://hub.docker.com`; tests point it at a fake).
    pub docker_hub_api: String,
    /// GitHub token with `delete:packages` (`--repo-github-token`).
    pub github_token: Option<Secret>,
    /// GitHub's REST API root (`https://api.github.com`).
    pub github_api: String,
    /// AWS keys for ECR's API.
    pub aws: Option<AwsKeys>,
    /// ECR API endpoint override (default `https://api.ecr.<region>.amazonaws.com`).
    pub ecr_endpoint: Option<String>,
}

/// AWS credentials.
#[derive(Clone)]
pub struct AwsKeys {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}
