//! `doctor`: read-only checks of everything a publish needs, each with a fix. The only
//! thing it creates is a throwaway upload session, cancelled at once.

use serde::Serialize;

use crate::naming::Naming;
use crate::registry::probe::{DeleteProbe, PushProbe};
use crate::registry::{Client, RegistryError};
use crate::settings::Settings;

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: String,
    pub ok: bool,
    pub detail: String,
    /// What to do when it failed.
    pub fix: String,
}

fn check(name: &str, ok: bool, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        check: name.into(),
        ok,
        detail: detail.into(),
        fix: if ok { String::new() } else { fix.into() },
    }
}

/// Run every check.
pub async fn run(settings: &Settings, client: &Client) -> Vec<Check> {
    let mut out = Vec::new();
    let at = settings
        .docker_host
        .clone()
        .unwrap_or_else(|| "unix:///var/run/docker.sock".into());
    match crate::build::connect().await {
        Ok(d) => {
            let engine = crate::build::engine::detect(&d)
                .await
                .map(|e| e.describe())
                .unwrap_or_else(|e| e);
            out.push(check("daemon", true, format!("{engine} at {at}"), ""));
            // Not a failure: builds fall back to the classic builder (without `secrets:`,
            // `ssh:` and `RUN --mount`).
            match crate::build::buildkit::probe(&d).await {
                Ok(bk) => out.push(check(
                    "buildkit",
                    true,
                    format!(
                        "the daemon's BuildKit takes Slipway's sessions (secrets, ssh, RUN --mount){}",
                        if bk.one_at_a_time() {
                            "; builds run one at a time on it (before Docker 25, two builds \
                             exporting cache at once can crash the daemon)"
                        } else {
                            ""
                        }
                    ),
                    "",
                )),
                Err(why) => out.push(check(
                    "buildkit",
                    true,
                    format!("classic builder only: {why}"),
                    "",
                )),
            }
            // Not a failure either: the export path is the fallback.
            let store = crate::transfer::source::layer_store::LayerStore::find(
                &d,
                crate::settings::host_env::layer_store(),
            )
            .await;
            out.push(check(
                "layer store",
                true,
                match store {
                    Some(s) => format!(
                        "publish reads layers in place from the daemon's store at {} (no wait for its export)",
                        s.root().display()
                    ),
                    None => "publish streams the daemon's export (its overlay2 store is not readable here, or SLIPWAY_LAYER_STORE=off)".to_string(),
                },
                "",
            ));
        }
        Err(e) => out.push(check(
            "daemon",
            false,
            e.to_string(),
            "start dockerd or set DOCKER_HOST (publish, push-archive and promote work without it)",
        )),
    }
    let naming = match Naming::new(settings) {
        Ok(Some(n)) => n,
        Ok(None) => {
            out.push(check(
                "images repo",
                false,
                "no --images-repo given",
                "pass --images-repo REGISTRY/PATH (or SLIPWAY_IMAGES_REPO)",
            ));
            return out;
        }
        Err(e) => {
            out.push(check(
                "images repo",
                false,
                e.to_string(),
                "fix --images-repo / --images-repo-mode",
            ));
            return out;
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
    let Ok(repo) = naming.repository(Some("doctor-probe")) else {
        return out;
    };
    let host = repo.host.clone();
    let certs_dir = client.options().certs_dir.clone();
    let certs = certs_dir.join(&host);
    let policy = client.policy(&host);
    let trust = if policy.insecure {
        "--insecure-registry: plain HTTP or unverified TLS allowed".to_string()
    } else if policy.skip_verify {
        "--skip-tls-verify-registry: certificates not checked".to_string()
    } else if certs.is_dir() {
        format!("system roots + CAs in {}", certs.display())
    } else {
        "system roots".to_string()
    };
    match client.ping(&host).await {
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
            out.push(check("registry reachable", true, host.clone(), ""));
            out.push(check(
                "TLS trusted",
                false,
                e.to_string(),
                format!(
                    "install the registry's CA as {}/{host}/ca.crt",
                    certs_dir.display()
                ),
            ));
            return out;
        }
        Err(e @ RegistryError::PlainHttp { .. }) => {
            out.push(check(
                "registry reachable",
                false,
                e.to_string(),
                format!("the registry speaks plain HTTP: add `--insecure-registry {host}`"),
            ));
            return out;
        }
        Err(e @ RegistryError::Unreachable { .. }) => {
            out.push(check(
                "registry reachable",
                false,
                e.to_string(),
                "check the host name, port, proxy and firewall",
            ));
            return out;
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
    let (source, anonymous) = match client.credentials(&host) {
        Ok(Some(f)) => (f.source, false),
        Ok(None) => ("none (anonymous)".into(), true),
        Err(e) => (e.to_string(), false),
    };
    out.push(check("credentials", true, source, ""));
    // With no credentials, a registry that refuses wants a login, not new grants.
    let login = format!("log in (docker login {host}, or SLIPWAY_REGISTRY_USERNAME/PASSWORD)");
    let fix = |grant: &str, auth_refused: bool| {
        if anonymous && auth_refused {
            login.clone()
        } else {
            grant.to_string()
        }
    };
    // Pull: list tags (404 for a new repository is fine).
    match client.list_tags(&repo).await {
        Ok(_) => out.push(check("pull", true, format!("may read {repo}"), "")),
        Err(e) => out.push(check(
            "pull",
            false,
            e.to_string(),
            fix(
                "grant pull (read) on the repository to these credentials",
                refused(&e),
            ),
        )),
    }
    // Push: open an upload session and cancel it.
    let answered = |what: &str, s: u16| match http::StatusCode::from_u16(s) {
        Ok(code) => format!("{what} answered {code}"),
        Err(_) => format!("{what} answered {s}"),
    };
    match client.probe_push(&repo).await {
        Ok(PushProbe::Allowed { chunked }) => {
            out.push(check(
                "push",
                true,
                format!("may write {repo} (upload session opened and cancelled)"),
                "",
            ));
            out.push(check(
                "chunked uploads",
                chunked,
                if chunked {
                    "PATCH accepted".to_string()
                } else {
                    "PATCH refused: Slipway uploads in one request".to_string()
                },
                "none needed: --upload-mode monolithic is used automatically",
            ));
        }
        Ok(PushProbe::Refused { status }) => out.push(check(
            "push",
            false,
            answered("POST upload", status),
            fix(
                "grant push (write) on the repository",
                matches!(status, 401 | 403),
            ),
        )),
        Err(e) => out.push(check(
            "push",
            false,
            e.to_string(),
            fix(
                "grant push (write) on the repository to these credentials",
                refused(&e),
            ),
        )),
    }
    // Delete: 404 = allowed (nothing to delete), 405 = deletion disabled, 401/403 = not allowed.
    let grant_delete = "grant delete on the repository for cleanup";
    match client.probe_delete(&repo).await {
        Ok(DeleteProbe::Allowed) => out.push(check(
            "delete",
            true,
            "allowed (probed with a digest that cannot exist)",
            "",
        )),
        Ok(DeleteProbe::Disabled) => out.push(check(
            "delete",
            false,
            "the registry has deletion disabled (405)",
            "enable deletion (distribution: storage.delete.enabled: true) or use the vendor's API for cleanup",
        )),
        Ok(DeleteProbe::Refused { status }) => {
            out.push(check("delete", false, answered("DELETE", status), grant_delete))
        }
        Err(e) => out.push(check("delete", false, e.to_string(), grant_delete)),
    }
    // Cross-repository mount: needs an image there to borrow a blob from.
    let mount_note = client.probe_mount(&repo).await.map(|r| match r {
        Ok(true) => check("cross-repo mounts", true, "supported", ""),
        Ok(false) => check(
            "cross-repo mounts",
            true,
            "not honoured: promote copies blobs instead of mounting",
            "",
        ),
        Err(e) => check("cross-repo mounts", true, format!("unknown ({e})"), ""),
    });
    out.push(mount_note.unwrap_or_else(|| {
        check(
            "cross-repo mounts",
            true,
            format!("not probed: {repo} holds no image to borrow a blob from"),
            "",
        )
    }));
    out
}

/// The registry refused for want of (other) credentials.
fn refused(e: &RegistryError) -> bool {
    matches!(
        e,
        RegistryError::Unauthorized { .. } | RegistryError::Denied { .. }
    ) || matches!(e, RegistryError::Status { status, .. } if matches!(*status, 401 | 403))
}

/// A table for people.
pub fn table(checks: &[Check]) -> String {
    let mut s = String::new();
    for c in checks {
        s.push_str(&format!(
            "{:<4} {:<20} {}\n",
            if c.ok { "ok" } else { "FAIL" },
            c.check,
            c.detail
        ));
        if !c.ok && !c.fix.is_empty() {
            s.push_str(&format!("     {:<20} fix: {}\n", "", c.fix));
        }
    }
    s
}
