//! `slipway completions SHELL` and `slipway man`: generated from the same clap definitions
//! as the parser, so they never drift from the flags.

use std::process::ExitCode;

use clap::Args;

use super::{Env, command};

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, powershell or elvish.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Print the completion script for `shell`.
pub fn completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = command(&Env::new());
    clap_complete::generate(args.shell, &mut cmd, "slipway", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// Print the man page (roff): synopsis, global options and the commands; each command's own
/// flags are in `slipway COMMAND --help`.
pub fn man() -> anyhow::Result<ExitCode> {
    match clap_mangen::Man::new(command(&Env::new())).render(&mut std::io::stdout().lock()) {
        // `slipway man | head` is fine.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        r => r.map(|()| ExitCode::SUCCESS).map_err(Into::into),
    }
}
