//! `slipway version` (and `--version`): what was built, from which commit, when, for which
//! target; recorded by build.rs so a bug report names the exact binary.

use std::process::ExitCode;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// `git rev-parse HEAD` at build time, "unknown" outside a checkout.
pub const COMMIT: &str = env!("SLIPWAY_GIT_COMMIT");
/// `SOURCE_DATE_EPOCH`, else the commit's date, as RFC 3339 UTC; "unknown" without either.
pub const BUILD_DATE: &str = env!("SLIPWAY_BUILD_DATE");
/// The target triple the binary was compiled for.
pub const TARGET: &str = env!("SLIPWAY_TARGET");

/// What `--version` prints after `slipway `.
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("SLIPWAY_GIT_COMMIT"),
    ", built ",
    env!("SLIPWAY_BUILD_DATE"),
    ", ",
    env!("SLIPWAY_TARGET"),
    ")"
);

pub fn run() -> anyhow::Result<ExitCode> {
    super::output::out(&format!(
        "slipway {VERSION}\ncommit: {COMMIT}\nbuilt:  {BUILD_DATE}\ntarget: {TARGET}\n"
    ));
    super::output::result(serde_json::json!({
        "version": VERSION,
        "commit": COMMIT,
        "build_date": BUILD_DATE,
        "target": TARGET,
    }))?;
    Ok(ExitCode::SUCCESS)
}
