//! The flag table: every Slipway option's werf 1.1 names (long aliases, short form,
//! `WERF_*` variables), and the pass that applies it to the clap tree.
//!
//! Every option reads `SLIPWAY_<LONG>`; options werf has also read werf's variables.
//! Precedence: the flag, then `SLIPWAY_X`, then the werf variables in table order.
//! Completions, the man page and `--help` come from the same clap tree, so they show
//! what the table says. `ci-env` reads the same table (`settings::werf_names`).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;

use clap::builder::ValueParser;
use clap::{Arg, ArgAction, ArgMatches, Command};

pub use crate::settings::werf_names::{
    WERF_FLAGS, command_env, command_env_names, parse_bool, slipway_env,
};

/// werf 1.1 options Slipway accepts and ignores are the fields whose id starts with this
/// (see `cli/werf_compat.rs`): hidden from help, read from no variable, and a one-line
/// warning when given on the command line.
pub const NO_EFFECT_PREFIX: &str = "werf_ignored_";

fn is_no_effect(a: &Arg) -> bool {
    a.get_id().as_str().starts_with(NO_EFFECT_PREFIX)
}

/// A snapshot of the environment, read once.
pub type Env = BTreeMap<String, String>;

/// The first non-empty variable of `names` in `env`.
fn first_set<'a>(env: &'a Env, names: &[String]) -> Option<(&'a str, &'a str)> {
    names.iter().find_map(|n| {
        env.get_key_value(n.as_str())
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.as_str(), v.as_str()))
    })
}

fn is_flag(a: &Arg) -> bool {
    matches!(a.get_action(), ArgAction::SetTrue)
}

/// Apply the table to one arg: werf aliases and short form, the boolean form werf uses
/// (`--flag` or `--flag=VALUE`), hiding of no-effect options, and the variable to read
/// (the first one set, so precedence is the table's).
fn apply_arg(mut a: Arg, command: &str, env: &Env) -> Arg {
    let Some(long) = a.get_long().map(str::to_string) else {
        return a;
    };
    if let Some(f) = WERF_FLAGS.iter().find(|f| f.long == long) {
        if !f.aliases.is_empty() {
            a = a.visible_aliases(f.aliases.iter().copied());
        }
        if let Some(s) = f.short
            && a.get_short().is_none()
        {
            a = a.short(s);
        }
    }
    if is_no_effect(&a) {
        a = a.hide(true);
    }
    if is_flag(&a) {
        let default = a
            .get_default_values()
            .first()
            .map(|d| d.to_string_lossy().to_string())
            .unwrap_or_else(|| "false".to_string());
        a = a
            .action(ArgAction::Set)
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true")
            .default_value(default)
            .hide_default_value(true)
            .value_name("BOOL")
            .value_parser(ValueParser::new(parse_bool));
    }
    // Variables not in Slipway's own namespace (AWS_*) are kept as declared.
    let declared = a.get_env().map(|e| e.to_string_lossy().to_string());
    if declared
        .as_deref()
        .is_some_and(|d| !d.starts_with("SLIPWAY_"))
    {
        return a;
    }
    if is_no_effect(&a) {
        return a;
    }
    let names = command_env_names(command, &long);
    let werf = werf_env_of(&names);
    if !werf.is_empty()
        && let Some(help) = a.get_help().map(|h| h.to_string())
    {
        // Show werf's variables next to the `[env: SLIPWAY_X]` of `--help`.
        // `--help` only: `-h` stays short (issue 37).
        let werf = format!("[werf: {}]", werf.join(", "));
        let long = a.get_long_help().map(|h| h.to_string()).unwrap_or(help);
        a = a.long_help(format!("{long} {werf}"));
    }
    let chosen = first_set(env, &names)
        .map(|(k, _)| k.to_string())
        .unwrap_or_else(|| names[0].clone());
    a.env(chosen)
}

/// The werf variables among an option's names (the rest are Slipway's).
fn werf_env_of(names: &[String]) -> Vec<&str> {
    names
        .iter()
        .map(String::as_str)
        .filter(|n| !n.starts_with("SLIPWAY_"))
        .collect()
}

/// Apply the table to `cmd` and every subcommand.
pub fn apply(cmd: Command, env: &Env) -> Command {
    // A repeated option's last value wins, as in werf (`--verbose --log-verbose`).
    let name = cmd.get_name().to_string();
    let mut cmd = cmd
        .args_override_self(true)
        .mut_args(|a| apply_arg(a, &name, env));
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in subs {
        cmd = cmd.mut_subcommand(name, |s| apply(s, env));
    }
    cmd
}

/// The subcommand path `argv` selects (empty when none parses).
fn selected_path(cmd: &Command, argv: &[OsString]) -> Vec<String> {
    let Ok(m) = cmd.clone().ignore_errors(true).try_get_matches_from(argv) else {
        return Vec::new();
    };
    let mut path = Vec::new();
    let mut cur = &m;
    while let Some((name, sub)) = cur.subcommand() {
        path.push(name.to_string());
        cur = sub;
    }
    path
}

/// Check the variables the selected command reads, so a bad value names the variable
/// (clap's own error would name the flag the user never typed).
pub fn check_env(cmd: &Command, argv: &[OsString], env: &Env) -> anyhow::Result<()> {
    let path = selected_path(cmd, argv);
    let mut cur = cmd.clone();
    let mut cmds = vec![cur.clone()];
    for p in &path {
        let Some(s) = cur.find_subcommand(p).cloned() else {
            break;
        };
        cmds.push(s.clone());
        cur = s;
    }
    let mut errors = Vec::new();
    for c in &cmds {
        for a in c.get_arguments() {
            let Some(var) = a.get_env().map(|e| e.to_string_lossy().to_string()) else {
                continue;
            };
            let Some(value) = env.get(&var).filter(|v| !v.is_empty()) else {
                continue;
            };
            let long = a.get_long().unwrap_or("");
            let values: Vec<&str> = match a.get_value_delimiter() {
                Some(d) => value.split(d).collect(),
                None => vec![value.as_str()],
            };
            for v in values {
                if parses(a, v) {
                    continue;
                }
                let possible: Vec<String> = a
                    .get_possible_values()
                    .iter()
                    .filter(|p| !p.is_hide_set())
                    .map(|p| p.get_name().to_string())
                    .collect();
                let hint = if matches!(a.get_action(), ArgAction::Set)
                    && a.get_value_names()
                        .is_some_and(|n| n.iter().any(|n| n == "BOOL"))
                {
                    "use 1, true or yes (or 0, false, no)".to_string()
                } else if !possible.is_empty() {
                    format!("use one of {}", possible.join(", "))
                } else {
                    format!("not a valid value for --{long}")
                };
                errors.push(format!("{var}={v:?}: {hint}"));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!(errors.join("\n")))
    }
}

/// True when `value` is valid for `a` (checked with a one-arg parser: clap does not expose
/// an arg's value parser on its own).
fn parses(a: &Arg, value: &str) -> bool {
    let probe = Arg::new("value")
        .long("value")
        .value_parser(a.get_value_parser().clone())
        .action(ArgAction::Set)
        .num_args(1)
        .allow_hyphen_values(true);
    Command::new("probe")
        .no_binary_name(true)
        .arg(probe)
        .try_get_matches_from([OsString::from("--value"), OsString::from(value)])
        .is_ok()
}

/// Every variable the clap tree reads, for the unknown-variable check.
pub fn known_env(cmd: &Command) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = cmd
        .get_arguments()
        .filter(|a| !is_no_effect(a))
        .filter(|a| {
            !a.get_id()
                .as_str()
                .starts_with(super::short_help::HINT_PREFIX)
        })
        .filter_map(|a| a.get_long())
        .flat_map(|long| {
            let (name, old) = command_env(cmd.get_name(), long);
            std::iter::once(name).chain(old)
        })
        .collect();
    for s in cmd.get_subcommands() {
        out.extend(known_env(s));
    }
    out
}

/// `SLIPWAY_*` names that are not settings but are fine to have around: the dotenv
/// digest file's outputs (a later job loads them), custom tags by prefix, test switches.
const NOT_SETTINGS: &[&str] = &[
    "SLIPWAY_IMAGE_",
    "SLIPWAY_DIGEST_",
    "SLIPWAY_TAG_CUSTOM_",
    "SLIPWAY_UPDATE_",
];

/// The digest file's `SLIPWAY_REPO` (exact: `SLIPWAY_REPO_*` typos are still named).
const NOT_SETTINGS_EXACT: &[&str] = &["SLIPWAY_REPO"];

/// `SLIPWAY_*` variables no option reads (most likely typos).
pub fn unknown_env(cmd: &Command, env: &Env) -> Vec<String> {
    let known = known_env(cmd);
    env.keys()
        .filter(|k| k.starts_with("SLIPWAY_"))
        .filter(|k| !known.contains(k.as_str()))
        .filter(|k| !crate::settings::host_env::SLIPWAY_VARS.contains(&k.as_str()))
        .filter(|k| !NOT_SETTINGS.iter().any(|p| k.starts_with(p)))
        .filter(|k| !NOT_SETTINGS_EXACT.contains(&k.as_str()))
        .cloned()
        .collect()
}

/// Warnings for the old unscoped variables (`SLIPWAY_TAG` for promote's `--tag`) the
/// selected command reads: they still work until 0.3.
pub fn old_env_used(cmd: &Command, m: &ArgMatches, env: &Env) -> Vec<String> {
    let Some((name, sub)) = m.subcommand() else {
        return Vec::new();
    };
    let Some(sc) = cmd.find_subcommand(name) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for a in sc.get_arguments() {
        let Some(long) = a.get_long() else { continue };
        let (new, Some(old)) = command_env(name, long) else {
            continue;
        };
        let read = a.get_env().and_then(|e| e.to_str()) == Some(old.as_str());
        let from_env = matches!(
            sub.value_source(a.get_id().as_str()),
            Some(clap::parser::ValueSource::EnvVariable)
        );
        if read && from_env && env.get(&old).is_some_and(|v| !v.is_empty()) {
            out.push(format!(
                "{old} is read as `{name} --{long}` until Slipway 0.3: rename it {new} (a CI variable of that name meant for something else would change this command)"
            ));
        }
    }
    out.extend(old_env_used(sc, sub, env));
    out
}

/// No-effect options given on the command line, as `--long` names.
pub fn no_effect_given(m: &ArgMatches, cmd: &Command) -> Vec<String> {
    let mut out = Vec::new();
    for a in cmd.get_arguments() {
        let Some(long) = a.get_long() else { continue };
        if is_no_effect(a) && given(m, a.get_id().as_str()) {
            out.push(format!("--{long}"));
        }
    }
    if let Some((name, sub)) = m.subcommand()
        && let Some(sc) = cmd.find_subcommand(name)
    {
        out.extend(no_effect_given(sub, sc));
    }
    out
}

/// True when `id` was given on the command line.
pub fn given(m: &ArgMatches, id: &str) -> bool {
    matches!(
        m.try_get_raw(id).ok().flatten().and(m.value_source(id)),
        Some(clap::parser::ValueSource::CommandLine)
    )
}

/// werf's custom tags from `WERF_TAG_CUSTOM_*` (and Slipway's `SLIPWAY_TAG_CUSTOM_*`),
/// sorted by variable name as werf does.
pub fn tag_custom_from_env(env: &Env) -> Vec<String> {
    env.iter()
        .filter(|(k, v)| {
            (k.starts_with("WERF_TAG_CUSTOM_") || k.starts_with("SLIPWAY_TAG_CUSTOM_"))
                && !v.is_empty()
        })
        .map(|(_, v)| v.clone())
        .collect()
}

/// werf's `WERF_SSH_KEY_*` key files, in name order (werf's `GetSSHKey` puts them before
/// the `--ssh-key` ones).
pub fn ssh_keys_from_env(env: &Env) -> Vec<std::path::PathBuf> {
    env.iter()
        .filter(|(k, v)| k.starts_with("WERF_SSH_KEY_") && !v.is_empty())
        .map(|(_, v)| std::path::PathBuf::from(v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_custom_reads_every_prefixed_variable_in_name_order() {
        let env: Env = [
            ("WERF_TAG_CUSTOM_B", "two"),
            ("WERF_TAG_CUSTOM_A", "one"),
            ("WERF_TAG_CUSTOMX", "no"),
            ("WERF_TAG_CUSTOM_C", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(tag_custom_from_env(&env), vec!["one", "two"]);
    }
}
