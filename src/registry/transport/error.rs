//! Registry failures as one typed error, and the mapping of a registry's error answer
//! (`{"errors":[{"code","message"}]}`, distribution spec §Error codes) to it.

use serde::Deserialize;

use crate::registry::credentials::keychain::AuthError;

/// Registry failures, each naming the registry and what was asked.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach registry {host}: {cause}")]
    Unreachable { host: String, cause: String },
    /// `cause` says what is wrong with the certificate and which file would fix it.
    #[error("TLS with registry {host} failed: {cause}")]
    Tls { host: String, cause: String },
    #[error(
        "registry {host} answers plain HTTP, not HTTPS: add `--insecure-registry {host}` (or set SLIPWAY_INSECURE_REGISTRY={host})"
    )]
    PlainHttp { host: String },
    #[error(
        "registry {host} asks for a token from {realm} over plain HTTP: refused, because the credentials would cross the network in clear. If that host is trusted, pass --insecure-registry {realm_host}"
    )]
    PlainHttpRealm {
        host: String,
        realm: String,
        realm_host: String,
    },
    #[error(
        "registry {host}: {what} moved no data for {secs} s (--registry-timeout sets how long to wait)"
    )]
    TimedOut {
        host: String,
        what: String,
        secs: u64,
    },
    #[error("{what} not sent: registry {host} was given up on earlier in this run: {earlier}")]
    GivenUp {
        host: String,
        earlier: String,
        what: String,
    },
    #[error("registry {host} refused the credentials for {what} ({source_desc})")]
    Unauthorized {
        host: String,
        what: String,
        source_desc: String,
    },
    #[error("registry {host} denied {what}: {message} ({source_desc})")]
    Denied {
        host: String,
        what: String,
        message: String,
        source_desc: String,
    },
    #[error("repository {repository} does not exist on {host}{hint}")]
    NameUnknown {
        host: String,
        repository: String,
        hint: String,
    },
    #[error(
        "tag {reference} is immutable on this registry and already exists: {message}; publish under a tag that changes with the content (--tag-by-content or --tag-git-commit)"
    )]
    TagImmutable { reference: String, message: String },
    #[error("{method} {url}: registry answered {status}: {message}")]
    Status {
        method: String,
        url: String,
        status: u16,
        message: String,
    },
    #[error("{0}")]
    Auth(#[from] AuthError),
    #[error("{what}: {cause}")]
    Io { what: String, cause: String },
    #[error(
        "tag {reference} resolves to {actual} after the push, expected {expected} (another push raced this one?)"
    )]
    TagMoved {
        reference: String,
        expected: String,
        actual: String,
    },
    #[error("{what}: digest mismatch: expected {expected}, registry has {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
}

impl RegistryError {
    /// A few words for a WARN line (the full error is at debug level): a network failure
    /// by its class, anything else cut to 80 characters.
    pub fn brief(&self) -> String {
        if let RegistryError::Unreachable { host, cause } = self {
            let class = super::retry::NetCause::of(cause);
            return format!("{host}: {}", class.describe(cause));
        }
        let full = self.to_string();
        let mut s: String = full.chars().take(80).collect();
        if s.len() < full.len() {
            s.push('…');
        }
        s
    }
}

pub(crate) fn io_err(what: impl Into<String>, e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Io {
        what: what.into(),
        cause: e.to_string(),
    }
}

/// The full cause chain of an error, for messages.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// Advice for an error that only the layers above the transport know (the vendors': how to
/// create a repository on their registry), plugged in through `RegistryOptions::advice`
/// so that the transport never names a vendor.
pub trait Advice: Send + Sync + std::fmt::Debug {
    /// Appended to "repository … does not exist on HOST": `answer` is the registry's body,
    /// `pushing` whether the request wrote.
    fn not_found(&self, host: &str, repo: &str, pushing: bool, answer: &str) -> Option<String>;
}

#[derive(Debug, Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Debug, Deserialize)]
struct ErrorItem {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// A registry's non-success answer, read whole.
pub(crate) struct Failure<'a> {
    pub host: &'a str,
    /// Repository path ("" for registry-wide requests).
    pub repo: &'a str,
    /// What was asked, e.g. "PUT manifest".
    pub what: &'a str,
    pub url: String,
    pub status: u16,
    pub text: String,
    /// Appended to `NameUnknown` (a vendor's "create the repository first" advice).
    pub not_found_hint: String,
    /// Where the credentials came from (never the secret).
    pub source_desc: String,
}

impl Failure<'_> {
    /// The error this answer means.
    pub(crate) fn into_error(self) -> RegistryError {
        let body: ErrorBody = serde_json::from_str(&self.text).unwrap_or_default();
        let message = body
            .errors
            .iter()
            .map(|e| format!("{} {}", e.code, e.message).trim().to_string())
            .collect::<Vec<_>>()
            .join("; ");
        let message = if message.is_empty() {
            self.text
                .chars()
                .take(300)
                .collect::<String>()
                .trim()
                .to_string()
        } else {
            message
        };
        let lower = message.to_lowercase();
        let code = |c: &str| body.errors.iter().any(|e| e.code == c);
        if code("NAME_UNKNOWN") || lower.contains("repositorynotfoundexception") {
            return RegistryError::NameUnknown {
                host: self.host.to_string(),
                repository: self.repo.to_string(),
                hint: self.not_found_hint,
            };
        }
        if matches!(self.status, 400 | 403 | 409)
            && (lower.contains("immutable") || lower.contains("already exists"))
        {
            return RegistryError::TagImmutable {
                reference: format!("{}/{}", self.host, self.repo),
                message,
            };
        }
        if self.status == 403 || code("DENIED") {
            return RegistryError::Denied {
                host: self.host.to_string(),
                what: format!("{} on {}", self.what, self.repo),
                message,
                source_desc: self.source_desc,
            };
        }
        RegistryError::Status {
            method: self.what.to_string(),
            url: self.url,
            status: self.status,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(status: u16, text: &str) -> RegistryError {
        Failure {
            host: "r.io",
            repo: "a/b",
            what: "PUT manifest",
            url: "https://r.io/v2/a/b/manifests/t".into(),
            status,
            text: text.into(),
            not_found_hint: ": create it".into(),
            source_desc: "credentials from test".into(),
        }
        .into_error()
    }

    #[test]
    fn brief_is_short() {
        let e = RegistryError::Unreachable {
            host: "r.io".into(),
            cause: "error sending request for url (https://r.io/v2/a/blobs/uploads/?digest=sha256:0123456789abcdef): client error (SendRequest): connection error: Connection reset by peer (os error 104)".into(),
        };
        assert_eq!(e.brief(), "r.io: Connection reset by peer");
        let long = fail(500, &"x".repeat(300)).brief();
        assert_eq!(long.chars().count(), 81, "{long}");
    }

    #[test]
    fn registry_error_bodies_map_to_kinds() {
        let e = fail(
            404,
            r#"{"errors":[{"code":"NAME_UNKNOWN","message":"no"}]}"#,
        );
        assert_eq!(
            e.to_string(),
            "repository a/b does not exist on r.io: create it"
        );
        let e = fail(
            400,
            r#"{"errors":[{"code":"TAG_INVALID","message":"tag is immutable"}]}"#,
        );
        assert!(matches!(e, RegistryError::TagImmutable { .. }), "{e}");
        let e = fail(403, "nope");
        assert_eq!(
            e.to_string(),
            "registry r.io denied PUT manifest on a/b: nope (credentials from test)"
        );
        let e = fail(
            500,
            r#"{"errors":[{"code":"UNKNOWN","message":"disk full"}]}"#,
        );
        assert!(
            matches!(e, RegistryError::Status { status: 500, ref message, .. } if message == "UNKNOWN disk full"),
            "{e}"
        );
    }
}
