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

/// `slipway --version` (or `-V`) and nothing else: answered before the command tree is
/// built. Building it (every command, flag, werf alias and env lookup) was most of the
/// process's ~10 ms, and CI scripts call `--version` to probe for the tool (issue 33: within
/// 1.5 ms of `/bin/true`). The text is clap's: `slipway ` and [`LONG`].
pub fn answer_alone(mut args: impl Iterator<Item = std::ffi::OsString>) -> Option<ExitCode> {
    let _program = args.next();
    let only = args.next()?;
    if args.next().is_some() || (only != "--version" && only != "-V") {
        return None;
    }
    use std::io::Write;
    // A closed stdout (`slipway --version | head -0`) is not an error, as with clap.
    let _ = writeln!(std::io::stdout().lock(), "slipway {LONG}");
    Some(ExitCode::SUCCESS)
}

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

#[cfg(test)]
mod tests {
    /// The early answer prints exactly what clap's `--version` would.
    #[test]
    fn the_early_answer_is_clap_s_version_text() {
        let cmd = super::super::command(&Default::default());
        assert_eq!(cmd.render_version(), format!("slipway {}\n", super::LONG));
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert!(super::answer_alone(args(&["slipway", "--version", "x"]).into_iter()).is_none());
        assert!(super::answer_alone(args(&["slipway", "build"]).into_iter()).is_none());
        assert!(super::answer_alone(args(&["slipway"]).into_iter()).is_none());
    }
}
