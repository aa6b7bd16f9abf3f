//! `-h` fits a screen (issue 37): each command's short help lists the options its
//! examples and the docs use, each by its first sentence; everything else (werf
//! compatibility, rare tuning, the global options) stays in `--help`, the man page and
//! the completions. Docker habits (`-t`) get an answer instead of clap's
//! "use `-- -t`" tip.

use clap::builder::{StyledStr, ValueParser};
use clap::{Arg, ArgAction, Command};

/// The options `-h` shows per command (by long name); positionals always show.
const SHORT: &[(&str, &[&str])] = &[
    (
        "build",
        &["tag-custom", "parallel", "buildkit", "cache-from", "force"],
    ),
    (
        "publish",
        &[
            "tag-custom",
            "tag-git-branch",
            "tag-git-tag",
            "tag-by-content",
            "report-path",
            "digest-file",
            "dry-run",
        ],
    ),
    (
        "build-and-publish",
        &[
            "tag-custom",
            "tag-git-branch",
            "tag-by-content",
            "cache-from",
            "report-path",
            "digest-file",
            "dry-run",
        ],
    ),
    (
        "cleanup",
        &[
            "dry-run",
            "keep-tag",
            "min-age",
            "git-history-based-cleanup",
            "git-history-synchronization",
            "kube-config",
            "kube-context",
            "scan-context-namespace-only",
            "without-kube",
        ],
    ),
    ("purge", &["force", "dry-run"]),
    ("promote", &["tag", "move", "from-report", "to", "dry-run"]),
    ("push-archive", &["tag", "image", "digest-file", "dry-run"]),
    ("images", &["local", "tag-custom", "tag-by-content"]),
    ("run", &["docker-options", "docker", "force"]),
    (
        "gitlab",
        &[
            "tagging-strategy",
            "as-file",
            "as-env-file",
            "output-file-path",
        ],
    ),
    (
        "github",
        &[
            "tagging-strategy",
            "as-file",
            "as-env-file",
            "output-file-path",
        ],
    ),
    ("slugify", &["format"]),
];

/// The line each command's `-h` ends with, in place of the global options.
pub const GLOBAL_POINTER: &str =
    "Global options (-i/--images-repo, --dir, --json, …): `slipway --help`";

/// The first sentence of a help text: what `-h` shows.
fn first_sentence(text: &str) -> String {
    let one_line = text.split("\n\n").next().unwrap_or(text).replace('\n', " ");
    // "e.g. " and "i.e. " do not end a sentence.
    let end = one_line
        .match_indices(". ")
        .map(|(i, _)| i)
        .find(|&i| !one_line[..i].ends_with("e.g") && !one_line[..i].ends_with("i.e"));
    match end {
        Some(i) => one_line[..=i].to_string(),
        None => one_line,
    }
}

/// `help` for `-h` (first sentence), `long_help` for `--help` (all of it).
fn split_help(a: Arg) -> Arg {
    let Some(help) = a.get_help().map(|h| h.to_string()) else {
        return a;
    };
    let mut long = a
        .get_long_help()
        .map(|h| h.to_string())
        .unwrap_or_else(|| help.clone());
    let mut a = a.help(first_sentence(&help));
    // The variable is named in `--help` only: in `-h` it doubles most options' lines.
    if let Some(var) = a.get_env().map(|e| e.to_string_lossy().to_string())
        && !a.is_hide_env_set()
    {
        long = format!("{long} [env: {var}]");
        a = a.hide_env(true);
    }
    a.long_help(long)
}

fn shown_in_short(cmd: &str, a: &Arg) -> bool {
    let Some(long) = a.get_long() else {
        return true; // positionals
    };
    matches!(long, "help" | "version")
        || SHORT
            .iter()
            .any(|(c, longs)| *c == cmd && longs.contains(&long))
}

/// A hidden option that fails with `hint` when used, for other tools' habits; `{}` in
/// the hint becomes the value given, else `value_name`.
fn hint_arg(
    id: &'static str,
    long: &'static str,
    short: Option<char>,
    value_name: &'static str,
    hint: &'static str,
) -> Arg {
    let a = Arg::new(id)
        .long(long)
        .hide(true)
        .value_name(value_name)
        .action(ArgAction::Set)
        .num_args(0..=1)
        .default_missing_value("")
        .value_parser(ValueParser::new(move |v: &str| -> anyhow::Result<String> {
            let v = if v.is_empty() { value_name } else { v };
            Err(anyhow::anyhow!(hint.replace("{}", v)))
        }));
    match short {
        Some(s) => a.short(s),
        None => a,
    }
}

/// Ids of the hint options: no variable reads them.
pub const HINT_PREFIX: &str = "hint_";

fn sub(mut cmd: Command) -> Command {
    let name = cmd.get_name().to_string();
    cmd = cmd.mut_args(|a| {
        let show = shown_in_short(&name, &a);
        let a = split_help(a);
        if show { a } else { a.hide_short_help(true) }
    });
    if matches!(name.as_str(), "build" | "publish" | "build-and-publish") {
        cmd = cmd.arg(hint_arg(
            "hint_tag",
            "tag",
            Some('t'),
            "TAG",
            "Slipway names tags with --tag-custom (docker's -t/--tag): use --tag-custom {}",
        ));
    }
    // Examples stay in both helps; the pointer replaces the global options in `-h`.
    let examples = cmd.get_after_help().map(StyledStr::to_string);
    let short = match &examples {
        Some(e) => format!("{e}\n\n{GLOBAL_POINTER}"),
        None => GLOBAL_POINTER.to_string(),
    };
    if let Some(e) = examples {
        cmd = cmd.after_long_help(e);
    }
    cmd = cmd.after_help(short);
    each_subcommand(cmd)
}

/// [`sub`] applied to every subcommand of `cmd`.
fn each_subcommand(mut cmd: Command) -> Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for n in names {
        cmd = cmd.mut_subcommand(n, sub);
    }
    cmd
}

/// Apply to the whole tree: global options hidden from every `-h` (they propagate with the
/// setting), listed once by `slipway --help`.
pub fn apply(cmd: Command) -> Command {
    let mut cmd = cmd.mut_args(|a| {
        let global = a.is_global_set();
        let a = split_help(a);
        if global { a.hide_short_help(true) } else { a }
    });
    cmd =
        cmd.after_help("Global options: `slipway --help` lists them; every command accepts them.");
    cmd = cmd.after_long_help("");
    each_subcommand(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sentence_stops_at_the_first_full_stop_not_at_e_g() {
        assert_eq!(first_sentence("Log level."), "Log level.");
        assert_eq!(
            first_sentence("Repository, e.g. r.example.com/x. More words."),
            "Repository, e.g. r.example.com/x."
        );
        assert_eq!(
            first_sentence("One line\nwrapped. Second.\n\nParagraph."),
            "One line wrapped."
        );
        assert_eq!(first_sentence("No stop"), "No stop");
    }
}
