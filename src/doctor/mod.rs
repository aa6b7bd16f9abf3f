//! `doctor`: read-only checks of everything a publish needs, each with a fix. The only
//! thing it creates is a throwaway upload session, cancelled at once.

mod daemon;
mod delete;
pub mod platforms;
mod push;
mod repo;

use serde::Serialize;

use crate::daemon::Connection;
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

/// Run every check: the daemon's, then the images repo's as far as they get.
/// Every check, on the command's registry client and daemon.
pub async fn run(settings: &Settings, client: &Client, daemon: &Connection) -> Vec<Check> {
    let mut out = daemon::checks(settings, daemon).await;
    let Some(naming) = repo::naming(settings, &mut out) else {
        return out;
    };
    let Ok(repo) = naming.repository(Some("doctor-probe")) else {
        return out;
    };
    if !repo::reachable(client, &repo.host, &mut out).await {
        return out;
    }
    let access = repo::credentials(client, &repo.host, &mut out);
    push::checks(client, &repo, &access, &mut out).await;
    delete::checks(client, &repo, &mut out).await;
    out
}

/// Who the registry sees, for the fixes of refused checks.
struct Access {
    anonymous: bool,
    /// How to log in to the registry.
    login: String,
}

impl Access {
    /// With no credentials, a registry that refuses wants a login, not new grants.
    fn fix(&self, grant: &str, auth_refused: bool) -> String {
        if self.anonymous && auth_refused {
            self.login.clone()
        } else {
            grant.to_string()
        }
    }
}

/// `what answered 403 Forbidden`.
fn answered(what: &str, s: u16) -> String {
    match http::StatusCode::from_u16(s) {
        Ok(code) => format!("{what} answered {code}"),
        Err(_) => format!("{what} answered {s}"),
    }
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
