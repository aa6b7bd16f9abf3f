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
