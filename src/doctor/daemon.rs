//! The daemon's checks: reachable, BuildKit sessions, layer store. Only the first fails.

use super::{Check, check};
use crate::daemon::Connection;
use crate::settings::Settings;

/// `connection`: the command's daemon (doctor connects it here, once).
pub(super) async fn checks(settings: &Settings, connection: &Connection) -> Vec<Check> {
    let mut out = Vec::new();
    let daemon = connection.env();
    let at = daemon
        .host
        .clone()
        .unwrap_or_else(|| "unix:///var/run/docker.sock".into());
    let d = match connection.get().await {
        Ok(d) => d,
        Err(e) => {
            out.push(check(
                "daemon",
                false,
                e.to_string(),
                "start dockerd or set DOCKER_HOST: build needs it, and so does publish for any image not in the registry yet (push-archive, promote, ls, inspect and a publish with nothing to push work without it)",
            ));
            return out;
        }
    };
    let engine = crate::build::engine::detect(d)
        .await
        .map_or_else(|e| format!("daemon version: {e}"), |e| e.describe());
    out.push(check("daemon", true, format!("{engine} at {at}"), ""));
    // The daemon's own platform, as it reports it (a remote daemon's may differ from ours).
    let native = d
        .version()
        .await
        .ok()
        .and_then(|v| Some(format!("{}/{}", v.os?, v.arch?)))
        .and_then(|p| crate::platform::normalize(&p).ok())
        .unwrap_or_else(crate::platform::host);
    let local = at.starts_with("unix://");
    out.push(super::platforms::check_platforms(
        &native,
        local,
        std::path::Path::new(super::platforms::BINFMT_MISC),
    ));
    // Not a failure: builds fall back to the classic builder (without `secrets:`,
    // `ssh:` and `RUN --mount`).
    match crate::build::buildkit::probe(d, daemon).await {
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
    let daemon_api = crate::daemon::docker::DockerDaemon::new(d.clone());
    let store = crate::transfer::source::layer_store::LayerStore::find(
        &daemon_api,
        settings.host_env.layer_store(),
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
    out
}
