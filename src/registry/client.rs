//! The registry client (OCI distribution spec): a [`Transport`] plus the operations, one
//! file each beside this one (`ping`, `manifest`, `blob`, `upload`, `mount`, `delete`,
//! `tags`, `catalog`, `probe`). One [`Client`] serves every registry a run talks to.

use super::credentials::keychain::Found;
use super::transport::{HostPolicy, RegistryError, RegistryOptions, Transport};

/// The registry client. Cheap to clone; clones share tokens and connections.
#[derive(Clone)]
pub struct Client {
    pub(crate) t: Transport,
}

impl Client {
    pub fn new(opts: RegistryOptions) -> Self {
        Client {
            t: Transport::new(opts),
        }
    }

    /// The credentials used for `host` and where they came from.
    pub fn credentials(&self, host: &str) -> Result<Option<Found>, RegistryError> {
        self.t.credentials(host)
    }

    /// How `host` may be spoken to (`--insecure-registry`, loopback, skip-verify).
    pub fn policy(&self, host: &str) -> HostPolicy {
        self.t.policy(host)
    }

    /// What the client was configured with.
    pub fn options(&self) -> &RegistryOptions {
        self.t.options()
    }
}

/// `repository:NAME:ACTIONS`, the token scope for a repository.
pub(crate) fn scope(repo: &str, actions: &str) -> String {
    format!("repository:{repo}:{actions}")
}

/// A header's value as text ("" when absent).
pub(crate) fn header_str(h: &reqwest::header::HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}
