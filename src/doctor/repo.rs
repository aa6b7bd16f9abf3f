//! The images repo's checks: given and valid, reachable with trusted TLS, credentials.

use super::{Access, Check, check};
use crate::naming::Naming;
use crate::registry::{Client, RegistryError};
use crate::settings::Settings;

/// The naming of `--images-repo`; `None` (after a failed check) without a valid one.
pub(super) fn naming(settings: &Settings, out: &mut Vec<Check>) -> Option<Naming> {
    let naming = match Naming::new(settings) {
        Ok(Some(n)) => n,
        Ok(None) => {
            out.push(check(
                "images repo",
                false,
                "no --images-repo given",
                "pass --images-repo REGISTRY/PATH (or SLIPWAY_IMAGES_REPO)",
            ));
            return None;
        }
        Err(e) => {
            out.push(check(
                "images repo",
                false,
                e.to_string(),
                "fix --images-repo / --images-repo-mode",
            ));
            return None;
        }
    };
    let mode = naming
        .mode
        .map(|m| format!("{m:?}").to_lowercase())
        .unwrap_or_else(|| "template".into());
    out.push(check(
        "images repo",
        true,
        format!(
            "{} ({} implementation, {mode} mode)",
            naming.repo,
            naming.implementation.as_str()
        ),
        "",
    ));
    Some(naming)
}

/// Reachability and TLS trust of `host`; false when the checks after these cannot run.
pub(super) async fn reachable(client: &Client, host: &str, out: &mut Vec<Check>) -> bool {
    let certs_dir = client.options().certs_dir.clone();
    let certs = certs_dir.join(host);
    let policy = client.policy(host);
    let trust = if policy.insecure {
        "--insecure-registry: plain HTTP or unverified TLS allowed".to_string()
    } else if policy.skip_verify {
        "--skip-tls-verify-registry: certificates not checked".to_string()
    } else if certs.is_dir() {
        format!("system roots + CAs in {}", certs.display())
    } else {
        "system roots".to_string()
    };
    match client.ping(host).await {
        Ok(()) => {
            out.push(check(
                "registry reachable",
                true,
                format!("{host} answers /v2/"),
                "",
            ));
            out.push(check("TLS trusted", true, trust, ""));
        }
        Err(e @ RegistryError::Tls { .. }) => {
            out.push(check("registry reachable", true, host.to_string(), ""));
            out.push(check(
                "TLS trusted",
                false,
                e.to_string(),
                format!(
                    "install the registry's CA as {}/{host}/ca.crt",
                    certs_dir.display()
                ),
            ));
            return false;
        }
        Err(e @ RegistryError::PlainHttp { .. }) => {
            out.push(check(
                "registry reachable",
                false,
                e.to_string(),
                format!("the registry speaks plain HTTP: add `--insecure-registry {host}`"),
            ));
            return false;
        }
        Err(e @ RegistryError::Unreachable { .. }) => {
            out.push(check(
                "registry reachable",
                false,
                e.to_string(),
                "check the host name, port, proxy and firewall",
            ));
            return false;
        }
        Err(e) => {
            out.push(check(
                "registry reachable",
                true,
                format!("{host} answers ({e})"),
                "",
            ));
            out.push(check("TLS trusted", true, trust, ""));
        }
    }
    true
}

/// Where the credentials for `host` come from (never a failure).
pub(super) fn credentials(client: &Client, host: &str, out: &mut Vec<Check>) -> Access {
    let (source, anonymous) = match client.credentials(host) {
        Ok(Some(f)) => (f.source, false),
        Ok(None) => ("none (anonymous)".into(), true),
        Err(e) => (e.to_string(), false),
    };
    out.push(check("credentials", true, source, ""));
    Access {
        anonymous,
        login: format!("log in (docker login {host}, or SLIPWAY_REGISTRY_USERNAME/PASSWORD)"),
    }
}
