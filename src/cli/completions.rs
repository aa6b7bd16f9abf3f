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

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A command: its own page, with its options and the global ones.
    pub command: Option<String>,
}

/// Print the man page (roff): the program's (synopsis, global options, the commands), or
/// one command's (`slipway-COMMAND(1)`: its options, then the global ones, and examples).
pub fn man(args: ManArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = command(&Env::new());
    let page = match &args.command {
        None => cmd,
        Some(name) => {
            // Propagates the global options into the subcommands.
            cmd.build();
            let sub = cmd
                .find_subcommand(name)
                .ok_or_else(|| anyhow::anyhow!("no command {name:?}: see `slipway --help`"))?
                .clone();
            sub.name(format!("slipway-{name}"))
        }
    };
    match clap_mangen::Man::new(page).render(&mut std::io::stdout().lock()) {
        // `slipway man | head` is fine.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        r => r.map(|()| ExitCode::SUCCESS).map_err(Into::into),
    }
}
