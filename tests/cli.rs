//! Shell completions and the man page come from the parser's own definitions.

mod support;

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
    let bin = assert_cmd::cargo::cargo_bin("slipway");
    let cmd = format!(
        "set -o pipefail; '{}' --dir '{}' --images-repo r.example.com/x --json images | head -c 1 >/dev/null",
        bin.display(),
        d.path().display()
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&cmd)
        .env("XDG_CACHE_HOME", d.path().join("cache"))
        .output()
        .expect("bash");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd}: {:?} {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The same output read whole is more than a pipe holds, so the test above closed the
    // pipe early for real.
    let full = support::slipway()
        .env("XDG_CACHE_HOME", d.path().join("cache"))
        .arg("--dir")
        .arg(d.path())
        .args(["--images-repo", "r.example.com/x", "--json", "images"])
        .assert()
        .success();
    assert!(full.get_output().stdout.len() > 128 * 1024);
}

/// The library never reads the process environment: `settings::host_env` does, once.
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
