//! The CLI's parsing: examples in docs and werf's spellings parse as documented.
use super::*;

/// Every `slipway …` line of the GitHub Actions example parses as the CLI it documents.
#[test]
fn github_actions_example_commands_parse() {
    let text = include_str!("../../examples/github-actions/slipway.yml");
    let doc: serde_json::Value = serde_saphyr::from_str(text).expect("yaml");
    assert!(doc["jobs"].as_object().is_some_and(|j| j.len() == 3));
    let runs: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("run: slipway "))
        .collect();
    assert_eq!(runs.len(), 7, "{runs:?}");
    for run in runs {
        let args = shlex::split(run).expect("shell words");
        let r = command(&Env::new())
            .try_get_matches_from(std::iter::once("slipway".to_string()).chain(args));
        assert!(r.is_ok(), "{run}: {r:?}");
    }
}

#[test]
fn cli_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn table_applies_cleanly_and_names_real_flags() {
    let cmd = command(&Env::new());
    cmd.clone().debug_assert();
    let longs = all_longs(&cmd);
    for f in WERF_FLAGS {
        assert!(
            longs.contains(f.long),
            "table names unknown flag --{}",
            f.long
        );
    }
}

/// werf 1.1's CLI reference lists each command's flags; every one must parse in the
/// forms werf accepts (bare or `=VALUE` booleans, `--flag VALUE`, short forms).
#[test]
fn every_werf_1_1_flag_parses() {
    let fixture = include_str!("../../tests/fixtures/werf-1.1-flags.txt");
    let cmd = command(&Env::new());
    let mut failures = Vec::new();
    let mut count = 0;
    for line in fixture
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (sub, flag) = line.split_once('|').expect("command|flag");
        let (names, default) = flag.split_once('=').expect("flag=default");
        let (short, long) = match names.split_once(", ") {
            Some((s, l)) => (Some(s), l),
            None => (None, names),
        };
        let mut forms: Vec<Vec<String>> = Vec::new();
        match default {
            "false" | "true" => {
                forms.push(vec![long.into()]);
                forms.push(vec![format!("{long}=true")]);
                forms.push(vec![format!("{long}=false")]);
                forms.extend(short.map(|s| vec![s.to_string()]));
            }
            "[]" => {
                forms.push(vec![format!("{long}=a"), format!("{long}=b")]);
                forms.push(vec![long.into(), "a".into()]);
            }
            d => {
                let v = match d.trim_matches('\'') {
                    "" if long == "--stages-storage" => ":local",
                    "" if long == "--shell" => "default",
                    "" => "x",
                    v => v,
                };
                forms.push(vec![format!("{long}={v}")]);
                forms.push(vec![long.into(), v.into()]);
                forms.extend(short.map(|s| vec![s.to_string(), v.to_string()]));
            }
        }
        for f in forms {
            count += 1;
            let mut argv = vec!["slipway".to_string(), sub.to_string()];
            if sub == "ci-env" {
                argv.push("gitlab".into());
            }
            argv.extend(f.iter().cloned());
            if let Err(e) = cmd.clone().try_get_matches_from(&argv) {
                failures.push(format!("{}: {}", argv.join(" "), e.kind()));
            }
        }
    }
    assert!(count > 500, "fixture read: {count} forms");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // werf's hidden aliases, and its documented GitLab line.
    for argv in [
        "slipway ci-env gitlab --verbose --as-file",
        "slipway build-and-publish --verbose --log-verbose --debug --quiet",
        "slipway build-and-publish -s=:local -i=flant --tag-custom=tag",
        "slipway cleanup -s :local -i flant --without-kube --git-history-synchronization",
    ] {
        let argv: Vec<&str> = argv.split(' ').collect();
        assert!(
            cmd.clone().try_get_matches_from(&argv).is_ok(),
            "{}",
            argv.join(" ")
        );
    }
}

/// Every option has its variable: `SLIPWAY_<LONG>`, `SLIPWAY_<COMMAND>_<LONG>` for the
/// scoped ones (AWS's own names for AWS keys).
#[test]
fn every_option_has_a_variable() {
    fn walk(cmd: &clap::Command, missing: &mut Vec<String>) {
        for a in cmd.get_arguments() {
            let Some(long) = a.get_long() else { continue };
            if matches!(long, "help" | "version")
                || a.get_id().as_str().starts_with("werf_ignored_")
                || a.get_id().as_str().starts_with(short_help::HINT_PREFIX)
            {
                continue;
            }
            let env = a.get_env().map(|e| e.to_string_lossy().to_string());
            let ok = env.as_deref() == Some(flags::command_env(cmd.get_name(), long).0.as_str())
                || env.as_deref().is_some_and(|e| e.starts_with("AWS_"));
            if !ok {
                missing.push(format!("{} --{long}: {env:?}", cmd.get_name()));
            }
        }
        for s in cmd.get_subcommands() {
            walk(s, missing);
        }
    }
    let mut missing = Vec::new();
    walk(&command(&Env::new()), &mut missing);
    assert!(missing.is_empty(), "{missing:#?}");
    let cmd = command(&Env::new());
    let promote = cmd.find_subcommand("promote").expect("promote");
    for (id, var) in [
        ("tags", "SLIPWAY_PROMOTE_TAG"),
        ("move_source", "SLIPWAY_PROMOTE_MOVE"),
        ("to", "SLIPWAY_PROMOTE_TO"),
        ("platform", "SLIPWAY_PROMOTE_PLATFORM"),
    ] {
        let a = promote
            .get_arguments()
            .find(|a| a.get_id() == id)
            .expect("arg");
        assert_eq!(a.get_env().and_then(|e| e.to_str()), Some(var));
    }
    // The build's platform list set for a CI job does not reach promote's one platform.
    let env = Env::from([(
        "WERF_PLATFORM".to_string(),
        "linux/amd64,linux/arm64".to_string(),
    )]);
    let cmd = command(&env);
    let platform = cmd
        .find_subcommand("promote")
        .and_then(|p| p.get_arguments().find(|a| a.get_id() == "platform"))
        .and_then(|a| a.get_env())
        .and_then(|e| e.to_str().map(str::to_string));
    assert_eq!(platform.as_deref(), Some("SLIPWAY_PROMOTE_PLATFORM"));
}

fn all_longs(cmd: &clap::Command) -> std::collections::BTreeSet<String> {
    let mut out: std::collections::BTreeSet<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect();
    for s in cmd.get_subcommands() {
        out.extend(all_longs(s));
    }
    out
}
