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
