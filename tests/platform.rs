//! Multi-platform images (issue 34): platforms as werf 2 reads them (`--platform` >
//! the image's `platform:` > meta `build.platform` > the daemon's), normalized; each
//! platform built, and published as one OCI image index.

use slipway::config;
use slipway::settings::Settings;

fn load(yaml: &str) -> Result<config::Config, String> {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").expect("write");
    std::fs::write(dir.path().join("werf.yaml"), yaml).expect("write");
    config::load(&Settings {
        dir: dir.path().to_path_buf(),
        ..Settings::default()
    })
    .map_err(|e| e.to_string())
}

fn platforms(cfg: &config::Config, name: &str) -> Vec<String> {
    cfg.image(Some(name))
        .and_then(|i| i.dockerfile())
        .map(|d| d.platform.clone())
        .expect("a Dockerfile image")
}

#[test]
fn platforms_resolve_and_normalize_as_werf_2() {
    let cfg = load(
        "project: demo\nconfigVersion: 1\nbuild:\n  platform: [arm64, linux/amd64]\n---\nimage: own\nplatform: [linux/arm64/v8, x86_64, linux/arm64]\n---\nimage: meta\n",
    )
    .expect("valid");
    assert_eq!(platforms(&cfg, "own"), ["linux/arm64", "linux/amd64"]);
    assert_eq!(platforms(&cfg, "meta"), ["linux/arm64", "linux/amd64"]);
    // `--platform` replaces both lists.
    let mut forced = cfg.clone();
    forced.force_platforms(&["linux/s390x".to_string()]);
    assert_eq!(platforms(&forced, "own"), ["linux/s390x"]);
    assert_eq!(platforms(&forced, "meta"), ["linux/s390x"]);
    // Nothing given: the daemon's own (an empty list).
    let none = load("project: demo\nconfigVersion: 1\n---\nimage: a\n").expect("valid");
    assert!(platforms(&none, "a").is_empty());
}

#[test]
fn a_platform_that_is_no_platform_is_a_located_config_error() {
    let err =
        load("project: demo\nconfigVersion: 1\n---\nimage: a\nplatform: [linux/amd64, nonsense]\n")
            .expect_err("refused");
    assert!(
        err.contains("werf.yaml:5:")
            && err.contains("\"nonsense\": unknown operating system or architecture"),
        "{err}"
    );
    let err = load(
        "project: demo\nconfigVersion: 1\n---\nimage: a\nplatform: [\"linux/amd64,linux/arm64\"]\n",
    )
    .expect_err("refused");
    assert!(
        err.contains("specify multiple platforms using a YAML list"),
        "{err}"
    );
    let err = load(
        "project: demo\nconfigVersion: 1\nbuild:\n  platform: [linux/bogus/x/y]\n---\nimage: a\n",
    )
    .expect_err("refused");
    assert!(err.contains("build.platform:"), "{err}");
}
