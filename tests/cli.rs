//! Shell completions and the man page come from the parser's own definitions.

use crate::support;

#[test]
fn completions_and_man_page_cover_the_commands_and_flags() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = support::slipway()
            .args(["completions", shell])
            .assert()
            .success();
        let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
        // fish names long flags without their dashes (`-l buildkit`).
        for word in [
            "build-and-publish",
            "push-archive",
            "images-repo",
            "buildkit",
        ] {
            assert!(text.contains(word), "{shell}: no {word}");
        }
    }
    let out = support::slipway()
        .args(["completions", "tcsh"])
        .assert()
        .code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("invalid value 'tcsh'"));

    let out = support::slipway().arg("man").assert().success();
    let page = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(page.contains(".TH slipway 1"), "{page}");
    for section in [".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(page.contains(section), "{section}: {page}");
    }
    assert!(
        page.contains("slipway\\-build\\-and\\-publish(1)"),
        "{page}"
    );
    assert!(page.contains("\\fB\\-\\-images\\-repo\\fR"), "{page}");
    // One command's page: its options, the global ones under their heading, examples.
    let out = support::slipway()
        .args(["man", "build-and-publish"])
        .assert()
        .success();
    let page = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(page.contains(".TH slipway-build-and-publish 1"), "{page}");
    let options = page.find(".SH OPTIONS").expect("options");
    let own = options
        + page[options..]
            .find("\\fB\\-\\-publish\\-report\\-path\\fR")
            .expect("own option");
    let global = page.find(".SH \"GLOBAL OPTIONS\"").expect("global heading");
    assert!(own < global, "{page}");
    assert!(
        page[global..].contains("\\fB\\-\\-images\\-repo\\fR"),
        "{page}"
    );
    assert!(page.contains("Examples:"), "{page}");
    support::slipway().args(["man", "nope"]).assert().code(1);
}

/// Help: the command's own options, then the global ones under their own heading, werf's
/// variables named, no-effect werf options and options that do not apply left out, and
/// examples.
#[test]
fn help_groups_options_and_shows_examples() {
    let help = |args: &[&str]| {
        let out = support::slipway().args(args).assert().success();
        String::from_utf8_lossy(&out.get_output().stdout).to_string()
    };
    let text = help(&["publish", "--help"]);
    let own = text.find("--report-path").expect("own option");
    let global = text.find("Global options:").expect("global heading");
    assert!(own < global, "{text}");
    assert!(text[global..].contains("--images-repo"), "{text}");
    assert!(!text[..global].contains("--images-repo "), "{text}");
    for build_only in ["--buildkit", "--cache-from", "--force", "--parallel"] {
        assert!(!text.contains(build_only), "publish shows {build_only}");
    }
    assert!(text.contains("WERF_TAG_GIT_BRANCH"), "{text}");
    assert!(!text.contains("--virtual-merge"), "{text}");
    let text = help(&["build-and-publish", "--help"]);
    assert!(
        text.contains("--buildkit") && text.contains("-s, --stages-storage"),
        "{text}"
    );
    for cmd in [
        "build",
        "publish",
        "build-and-publish",
        "cleanup",
        "purge",
        "promote",
        "push-archive",
        "ci-env",
        "slugify",
        "images",
        "run",
        "doctor",
        "completions",
    ] {
        let text = help(&[cmd, "--help"]);
        let ex = text
            .find("Examples:")
            .unwrap_or_else(|| panic!("{cmd}: no examples"));
        assert!(text[ex..].contains("slipway "), "{cmd}: {text}");
    }
}

#[test]
fn a_closed_stdout_ends_quietly_with_success() {
    // More output than a pipe holds (64 KiB), and a reader that takes one byte and goes
    // away: Slipway must neither panic nor fail, even under pipefail.
    let d = tempfile::tempdir().expect("tmp");
    let mut werf = String::from("project: pipe\nconfigVersion: 1\n");
    for i in 0..1000 {
        werf.push_str(&format!(
            "---\nimage: an-image-with-a-rather-long-name-number-{i}\n"
        ));
    }
    support::write_tree(
        d.path(),
        &[("werf.yaml", &werf), ("Dockerfile", "FROM scratch\n")],
    );
    let cmd = "set -o pipefail; \"$0\" \"$@\" | head -c 1 >/dev/null";
    let out = support::slipway()
        .project(d.path())
        .args(["--images-repo", "r.example.com/x", "--json", "images"])
        .via("bash", &["-c", cmd])
        .output()
        .expect("bash");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd}: {:?} {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The same output read whole is more than a pipe holds, so the test above closed the
    // pipe early for real.
    let full = support::slipway()
        .project(d.path())
        .args(["--images-repo", "r.example.com/x", "--json", "images"])
        .assert()
        .success();
    assert!(full.get_output().stdout.len() > 128 * 1024);
}

/// The library never reads the process environment: `settings::host_env` does, once, when
/// the CLI builds its `HostEnv` (`HostEnv::from_process`).
#[test]
fn only_the_settings_layer_reads_the_environment() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(&src)
                .expect("rel")
                .to_string_lossy()
                .to_string();
            if rel.starts_with("cli/") || rel == "settings/host_env.rs" || !rel.ends_with(".rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read");
            for (n, line) in text.lines().enumerate() {
                // `std::env::var`, `var_os`, `vars`, `vars_os`; or the module imported.
                if line.contains("std::env::var") || line.contains("use std::env") {
                    offenders.push(format!("src/{rel}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

/// `slipway ARGS -h` at 80 columns (clap wraps at the width COLUMNS gives).
fn short_help(args: &[&str]) -> String {
    let out = support::slipway()
        .env("COLUMNS", "80")
        .args(args)
        .arg("-h")
        .assert()
        .success();
    String::from_utf8_lossy(&out.get_output().stdout).to_string()
}

/// The subcommands a help text lists under "Commands:" (without `help`).
fn listed_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        // A description's wrapped lines are indented further.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// Issue 37: every command's `-h` fits a screen at 80 columns, and no example wraps (a
/// wrapped example would continue on a line that is neither a command, a comment nor a
/// `\` continuation).
#[test]
fn short_help_fits_80_columns_for_every_command() {
    let root = short_help(&[]);
    let mut todo: Vec<Vec<String>> = listed_commands(&root)
        .into_iter()
        .map(|c| vec![c])
        .collect();
    assert!(todo.len() >= 15, "{root}");
    let mut seen = vec![(String::from("slipway"), root)];
    while let Some(path) = todo.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = short_help(&args);
        for c in listed_commands(&text) {
            let mut p = path.clone();
            p.push(c);
            todo.push(p);
        }
        seen.push((path.join(" "), text));
    }
    assert!(seen.iter().any(|(p, _)| p == "ci-env gitlab"), "{seen:?}");
    let mut problems = Vec::new();
    for (cmd, text) in &seen {
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() > 40 {
            problems.push(format!("{cmd}: {} lines", lines.len()));
        }
        let mut prev_continues = false;
        for l in lines.iter().skip_while(|l| **l != "Examples:").skip(1) {
            if l.trim().is_empty() {
                break;
            }
            let ok = if l.starts_with("    ") {
                prev_continues
            } else {
                ["  slipway ", "  source ", "  docker ", "  # "]
                    .iter()
                    .any(|p| l.starts_with(p))
            };
            if !ok {
                problems.push(format!("{cmd}: wrapped example line {l:?}"));
            }
            prev_continues = l.ends_with('\\');
        }
        if cmd != "slipway" && !text.contains("Global options (") {
            problems.push(format!("{cmd}: no pointer to the global options"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// What `-h` leaves out is still in `--help`: global options once, werf's variables.
#[test]
fn short_help_leaves_details_to_long_help() {
    let short = short_help(&["publish"]);
    assert!(!short.contains("--images-repo <"), "{short}");
    assert!(!short.contains("--tag-git-commit"), "{short}");
    assert!(!short.contains("WERF_"), "{short}");
    let out = support::slipway()
        .args(["publish", "--help"])
        .assert()
        .success();
    let long = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    for s in [
        "--images-repo <",
        "--tag-git-commit",
        "WERF_TAG_GIT_BRANCH",
        "[env: SLIPWAY_DRY_RUN]",
    ] {
        assert!(long.contains(s), "{s}: {long}");
    }
    let root = support::slipway().arg("--help").assert().success();
    let root = String::from_utf8_lossy(&root.get_output().stdout).to_string();
    assert!(root.contains("Global options:") && root.contains("--images-repo <"));
    // ci-env's systems have their own help.
    let gitlab = short_help(&["ci-env", "gitlab"]);
    assert!(gitlab.contains("CI_REGISTRY_IMAGE"), "{gitlab}");
    assert!(gitlab.contains("--as-file"), "{gitlab}");
    assert_ne!(gitlab, short_help(&["ci-env", "github"]));
    let archive = short_help(&["push-archive"]);
    assert!(
        archive.contains("Usage: slipway push-archive [OPTIONS] <FILE>... <REF>"),
        "{archive}"
    );
}

/// Docker's habits get an answer, not clap's "use `-- -t`" tip.
#[test]
fn docker_habit_flags_name_the_slipway_way() {
    for cmd in ["build", "publish", "build-and-publish"] {
        for (args, hint) in [
            (vec!["-t", "app:v1"], "use --tag-custom app:v1"),
            (vec!["--tag", "v1"], "use --tag-custom v1"),
            (vec!["-t"], "use --tag-custom TAG"),
        ] {
            let out = support::slipway().arg(cmd).args(&args).assert().code(2);
            let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
            assert!(err.contains(hint), "{cmd} {args:?}: {err}");
        }
        // Issue 34: `--platform` is werf 2's flag now; a name that is no platform is refused.
        let out = support::slipway()
            .args([cmd, "--platform", "linux/arm64,nonsense"])
            .assert()
            .code(2);
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(
            err.contains("unknown operating system or architecture"),
            "{cmd}: {err}"
        );
    }
}

/// Issue 37: slugify's `--format` reads `SLIPWAY_SLUGIFY_FORMAT`; `SLIPWAY_FORMAT` still
/// works with a warning until 0.3.
#[test]
fn slugify_format_reads_its_scoped_variable() {
    let run = |var: &str| {
        let out = support::slipway()
            .env(var, "kubernetes-namespace")
            .args(["slugify", "Feature_Login"])
            .assert()
            .success();
        let o = out.get_output();
        (
            String::from_utf8_lossy(&o.stdout).trim().to_string(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let plain = support::slipway()
        .args(["slugify", "Feature_Login"])
        .assert()
        .success();
    let plain = String::from_utf8_lossy(&plain.get_output().stdout)
        .trim()
        .to_string();
    let (new, err) = run("SLIPWAY_SLUGIFY_FORMAT");
    assert_ne!(new, plain, "the variable had no effect");
    assert!(!err.contains("until Slipway 0.3"), "{err}");
    let (old, err) = run("SLIPWAY_FORMAT");
    assert_eq!(old, new);
    assert!(
        err.contains("SLIPWAY_FORMAT is read as `slugify --format`")
            && err.contains("SLIPWAY_SLUGIFY_FORMAT"),
        "{err}"
    );
}

fn git_head(args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("git");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `slipway version` and `--version` name the commit the binary was built from (cargo
/// reruns build.rs when HEAD moves), its date (no SOURCE_DATE_EPOCH here) and the target.
#[test]
fn version_names_commit_date_and_target() {
    let out = support::slipway().arg("version").assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let field = |name: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name}: {text}"))
            .trim()
            .to_string()
    };
    assert_eq!(
        text.lines().next(),
        Some(format!("slipway {}", env!("CARGO_PKG_VERSION")).as_str())
    );
    let commit = git_head(&["rev-parse", "HEAD"]);
    assert_eq!(field("commit:"), commit);
    let date = field("built:");
    if std::env::var_os("SOURCE_DATE_EPOCH").is_none() {
        let epoch: i64 = git_head(&["log", "-1", "--format=%ct", "HEAD"])
            .parse()
            .expect("epoch");
        let built = chrono::DateTime::parse_from_rfc3339(&date).expect("RFC 3339");
        assert_eq!(built.timestamp(), epoch, "{date}");
    }
    let target = field("target:");
    assert!(
        target.starts_with(std::env::consts::ARCH) && target.contains(std::env::consts::OS),
        "{target}"
    );
    let out = support::slipway().arg("--version").assert().success();
    let line = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert_eq!(
        line,
        format!(
            "slipway {} (commit {commit}, built {date}, {target})\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    // `-V` is answered before the command tree is built: the same line.
    let out = support::slipway().arg("-V").assert().success();
    assert_eq!(String::from_utf8_lossy(&out.get_output().stdout), line);
    let out = support::slipway()
        .args(["--json", "version"])
        .assert()
        .success();
    let last = String::from_utf8_lossy(&out.get_output().stdout)
        .lines()
        .last()
        .map(str::to_string)
        .expect("result line");
    let v: serde_json::Value = serde_json::from_str(&last).expect("json");
    assert_eq!(v["result"]["commit"], commit.as_str());
    assert_eq!(v["result"]["target"], target.as_str());
}

/// A `SLIPWAY_*` variable no option reads is named as a likely typo; the variables the
/// environment layer reads itself (`SLIPWAY_LAYER_STORE`, `SLIPWAY_DAEMON_TIMEOUT`) are not.
#[test]
fn typo_warning_spares_the_variables_read_without_an_option() {
    let out = support::slipway()
        .env("SLIPWAY_LAYER_STORE", "off")
        .env("SLIPWAY_DAEMON_TIMEOUT", "30")
        .env("SLIPWAY_IMAGES_REPOO", "x")
        .args(["slugify", "feature/x"])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("SLIPWAY_IMAGES_REPOO is set but no Slipway option reads it"),
        "{err}"
    );
    assert!(!err.contains("SLIPWAY_LAYER_STORE is set"), "{err}");
    assert!(!err.contains("SLIPWAY_DAEMON_TIMEOUT is set"), "{err}");
}
