//! werf 1.2 and 2 werf.yaml files (issue 41): the werf version Slipway infers and says on
//! stderr, the giterminism file, `from:`/`fromImage:` by version, werf's validation of
//! `dependencies:` and `secrets:`, `.Files` with a leading `/`, `cacheVersion` in the
//! signature, and a werf 2 project that validates with no flag.

use crate::support;

use std::path::{Path, PathBuf};

use slipway::config::{self, stapel::Base};
use slipway::settings::{Settings, WerfVersion};

const META: &str = "project: demo\nconfigVersion: 1\n---\n";
const GITERMINISM: &str = "giterminismConfigVersion: 1\n";

/// A project with `werf.yaml` = `yaml`, a `Dockerfile` and the other `files`.
fn project(yaml: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").expect("write");
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    std::fs::write(dir.path().join("werf.yaml"), yaml).expect("write");
    dir
}

fn load_with(
    yaml: &str,
    files: &[(&str, &str)],
    edit: impl FnOnce(&mut Settings),
) -> Result<config::Config, String> {
    let dir = project(yaml, files);
    let mut s = Settings {
        dir: dir.path().to_path_buf(),
        ..Settings::default()
    };
    edit(&mut s);
    config::load(&s).map_err(|e| e.to_string())
}

fn load(yaml: &str) -> Result<config::Config, String> {
    load_with(yaml, &[], |_| {})
}

fn as_v2(s: &mut Settings) {
    s.werf_version = Some(WerfVersion::V2);
}

fn as_v1_1(s: &mut Settings) {
    s.werf_version = Some(WerfVersion::V1_1);
}

/// The error of `yaml` contains `want`.
#[track_caller]
fn refused(yaml: &str, want: &str) {
    let err = load(yaml).expect_err(yaml);
    assert!(err.contains(want), "{yaml}\n got: {err}\nwant: {want}");
}

fn base(cfg: &config::Config, name: &str) -> Base {
    cfg.node(Some(name))
        .and_then(|n| n.stapel())
        .map(|s| s.base.clone())
        .expect("a stapel node")
}

// ---- werf's validation of dependencies and secrets (Dockerfile images) ----

const DEP_B: &str = "---\nimage: b\n";

#[test]
fn before_or_after_on_a_dockerfile_dependency_is_refused() {
    refused(
        &format!("{META}image: a\ndependencies:\n  - image: b\n    before: install\n{DEP_B}"),
        "werf.yaml:7:5: `before:` directive is not supported for dockerfile dependencies",
    );
    refused(
        &format!("{META}image: a\ndependencies:\n  - image: b\n    after: setup\n{DEP_B}"),
        "werf.yaml:7:5: `after:` directive is not supported for dockerfile dependencies",
    );
}

#[test]
fn a_typo_in_a_dependency_is_an_unknown_key() {
    refused(
        &format!("{META}image: a\ndependencies:\n  - image: b\n    imprts: []\n{DEP_B}"),
        "werf.yaml:7:5: dependencies[0]: unknown key `imprts` (did you mean `imports`?)",
    );
    refused(
        &format!(
            "{META}image: a\ndependencies:\n  - image: b\n    imports:\n      - type: ImageName\n        targetBuildArgs: X\n{DEP_B}"
        ),
        "werf.yaml:9:9: dependency \"b\": imports[0]: unknown key `targetBuildArgs` (did you mean `targetBuildArg`?)",
    );
}

#[test]
fn dockerfile_import_targets_are_unique() {
    refused(
        &format!(
            "{META}image: a\ndependencies:\n  - image: b\n    imports:\n      - {{type: ImageName, targetBuildArg: X}}\n      - {{type: ImageTag, targetBuildArg: X}}\n{DEP_B}"
        ),
        "werf.yaml:9:9: dependency \"b\": each targetBuildArg for dependency import should be unique, but found duplicates for: X",
    );
}

#[test]
fn a_dockerfile_import_needs_target_build_arg_not_target_env() {
    refused(
        &format!(
            "{META}image: a\ndependencies:\n  - image: b\n    imports: [{{type: ImageName, targetEnv: B}}]\n{DEP_B}"
        ),
        "dependency \"b\": `targetEnv` is for stapel images",
    );
    refused(
        &format!(
            "{META}image: a\ndependencies:\n  - image: b\n    imports: [{{type: ImageName}}]\n{DEP_B}"
        ),
        "dependency \"b\": an import needs targetBuildArg",
    );
}

#[test]
fn a_secret_has_exactly_one_of_env_src_value() {
    refused(
        &format!("{META}image: a\nsecrets:\n  - env: A\n    value: v\n    id: x\n"),
        "werf.yaml:6:5: secrets validation error: secret type could be ONLY `env`, `src` or `value`",
    );
    refused(
        &format!("{META}image: a\nsecrets:\n  - id: x\n"),
        "each secret needs `env: NAME`, `src: PATH` or `value: TEXT` (with `id:`)",
    );
}

#[test]
fn a_value_secret_needs_an_id() {
    refused(
        &format!("{META}image: a\nsecrets:\n  - value: v\n"),
        "a `value:` secret needs an `id:`",
    );
}

#[test]
fn secret_ids_are_unique() {
    // `src: a/TOKEN` takes the id TOKEN, as `env: TOKEN` does.
    refused(
        &format!("{META}image: a\nsecrets:\n  - env: TOKEN\n  - src: a/TOKEN\n"),
        "werf.yaml:7:5: duplicated secret \"TOKEN\"",
    );
}

#[test]
fn a_typo_in_a_secret_is_an_unknown_key() {
    refused(
        &format!("{META}image: a\nsecrets:\n  - env: A\n    ids: x\n"),
        "werf.yaml:7:5: secrets[0]: unknown key `ids` (did you mean `id`?)",
    );
}

#[test]
fn valid_dependencies_and_secrets_load() {
    let cfg = load(&format!(
        "{META}image: a\ndependencies:\n  - image: b\n    imports:\n      - {{type: ImageName, targetBuildArg: X}}\n      - {{type: ImageTag, targetBuildArg: Y}}\nsecrets:\n  - env: TOKEN\n  - src: keys/id\n  - {{id: v, value: text}}\n{DEP_B}"
    ))
    .expect("valid");
    let a = cfg.image(Some("a")).expect("a");
    assert_eq!(a.dependencies[0].imports.len(), 2);
    assert_eq!(a.dependencies[0].stage, None);
    let ids: Vec<&str> = a
        .dockerfile()
        .expect("dockerfile")
        .secrets
        .iter()
        .map(|s| s.id())
        .collect();
    assert_eq!(ids, ["TOKEN", "id", "v"]);
}

#[test]
fn a_typo_in_build_or_git_worktree_is_an_unknown_key() {
    refused(
        "project: demo\nconfigVersion: 1\nbuild:\n  cacheVersions: x\n",
        "werf.yaml:4:3: build: unknown key `cacheVersions` (did you mean `cacheVersion`?)",
    );
    refused(
        "project: demo\nconfigVersion: 1\ngitWorktree: {forceShallowClones: true}\n",
        "werf.yaml:3:15: gitWorktree: unknown key `forceShallowClones` (did you mean `forceShallowClone`?)",
    );
}

// ---- the werf version ----

#[test]
fn from_naming_an_image_is_external_under_1_1_and_internal_under_2() {
    let yaml = format!(
        "{META}image: base\nfrom: alpine:3.20\n---\nimage: app\nfrom: base\n---\nimage: tool\nfromImage: alpine:3.20\n---\nimage: alpine\nfromImage: alpine\n"
    );
    // werf 1.1: `from:` is always the registry's; `fromImage: alpine:3.20` names no image.
    let err = load_with(&yaml, &[], as_v1_1).expect_err("1.1");
    assert!(err.contains("alpine:3.20"), "{err}");
    let yaml_1_1 = format!("{META}image: base\nfrom: alpine:3.20\n---\nimage: app\nfrom: base\n");
    let cfg = load_with(&yaml_1_1, &[], as_v1_1).expect("1.1");
    assert_eq!(base(&cfg, "app"), Base::From("base".into()));
    // werf 2: a werf.yaml image is built first, anything else is a registry image, and an
    // image named as its own base takes NAME:latest.
    let cfg = load_with(&yaml, &[], as_v2).expect("2");
    assert_eq!(base(&cfg, "app"), Base::Image("base".into()));
    assert_eq!(base(&cfg, "tool"), Base::From("alpine:3.20".into()));
    assert_eq!(base(&cfg, "alpine"), Base::From("alpine:latest".into()));
    // With no flag a giterminism file says werf 2.
    let cfg = load_with(&yaml_1_1, &[("werf-giterminism.yaml", GITERMINISM)], |_| {})
        .expect("inferred 2");
    assert_eq!(base(&cfg, "app"), Base::Image("base".into()));
}

const FROM_LATEST: &str = "image: a\nfrom: alpine:3.20\nfromLatest: true\nherebyIAdmitThatFromLatestMightBreakReproducibility: true\n";

#[test]
fn werf_1_1_admission_keys_without_a_giterminism_file() {
    // No giterminism file, no werf ≥ 1.2 key: werf 1.1, whose admission key is honoured.
    let cfg = load(&format!("{META}{FROM_LATEST}")).expect("1.1 admits");
    assert!(cfg.images[0].stapel().expect("stapel").from_latest);
    // Read as werf 2 it is werf 1.1's spelling: refused, naming werf 2's.
    let err = load_with(&format!("{META}{FROM_LATEST}"), &[], as_v2).expect_err("2");
    assert!(
        err.contains("werf.yaml:7:1: `herebyIAdmitThatFromLatestMightBreakReproducibility` is werf 1.1's, and this werf.yaml is read as werf 2's: werf ≥ 1.2 allows `fromLatest` in werf-giterminism.yaml"),
        "{err}"
    );
}

#[test]
fn giterminism_allows_from_latest() {
    let yaml = format!("{META}image: a\nfrom: alpine:3.20\nfromLatest: true\n");
    let err = load_with(&yaml, &[("werf-giterminism.yaml", GITERMINISM)], |_| {})
        .expect_err("not allowed");
    assert!(
        err.contains("werf.yaml:6:13: fromLatest directive not allowed by giterminism"),
        "{err}"
    );
    let allowed = format!("{GITERMINISM}config:\n  stapel:\n    allowFromLatest: true\n");
    load_with(&yaml, &[("werf-giterminism.yaml", &allowed)], |_| {}).expect("allowed");
    // --loose-giterminism lifts it; --giterminism-config names another file.
    load_with(&yaml, &[("werf-giterminism.yaml", GITERMINISM)], |s| {
        s.loose_giterminism = true
    })
    .expect("loose");
    load_with(&yaml, &[("ci/giterminism.yaml", &allowed)], |s| {
        s.giterminism_config = Some(PathBuf::from("ci/giterminism.yaml"))
    })
    .expect("named file");
}

#[test]
fn giterminism_allows_a_remote_mapping_that_follows_a_branch() {
    let yaml = format!(
        "{META}image: a\nfrom: alpine:3.20\ngit:\n  - url: https://example.com/r.git\n    to: /src\n"
    );
    let err = load_with(&yaml, &[("werf-giterminism.yaml", GITERMINISM)], |_| {})
        .expect_err("not allowed");
    assert!(
        err.contains("git[0]: git branch directive not allowed by giterminism"),
        "{err}"
    );
    let allowed = format!("{GITERMINISM}config:\n  stapel:\n    git:\n      allowBranch: true\n");
    load_with(&yaml, &[("werf-giterminism.yaml", &allowed)], |_| {}).expect("allowed");
}

#[test]
fn the_giterminism_file_needs_its_version() {
    let err = load_with(
        &format!("{META}image: a\n"),
        &[("werf-giterminism.yaml", "config: {}\n")],
        |_| {},
    )
    .expect_err("no version");
    assert!(
        err.contains("werf-giterminism.yaml: `giterminismConfigVersion: 1` is required"),
        "{err}"
    );
}

#[test]
fn werf_1_1_only_keys_are_refused_under_2_with_werf_2_spelling() {
    let art = "---\nartifact: x\nfrom: alpine:3.20\n";
    let yaml = format!("{META}image: a\nfromImageArtifact: x\nasLayers: true\n{art}");
    load_with(&yaml, &[], as_v1_1).expect("werf 1.1 keys");
    let err = load_with(&yaml, &[], as_v2).expect_err("2");
    assert!(
        err.contains("werf.yaml:5:1: `fromImageArtifact` is werf 1.1's, and this werf.yaml is read as werf 2's: werf ≥ 1.2 names it `fromArtifact`")
            && err.contains("werf.yaml:6:1: `asLayers` is werf 1.1's"),
        "{err}"
    );
}

#[test]
fn from_artifact_is_werf_2s_from_image_artifact() {
    let yaml = format!("{META}image: a\nfromArtifact: x\n---\nartifact: x\nfrom: alpine:3.20\n");
    // `fromArtifact` is a werf ≥ 1.2 key: werf 2 is inferred.
    let cfg = load(&yaml).expect("fromArtifact");
    assert_eq!(base(&cfg, "a"), Base::Artifact("x".into()));
    let err = load_with(&yaml, &[], as_v1_1).expect_err("1.1");
    assert!(
        err.contains(
            "werf.yaml:5:1: unknown key `fromArtifact`: werf 1.1 names it `fromImageArtifact`"
        ),
        "{err}"
    );
}

#[test]
fn an_ambiguous_dockerfile_path_is_settled_by_a_giterminism_file() {
    let yaml = format!("{META}image: app\ncontext: app\ndockerfile: docker/Dockerfile\n");
    let files = [
        ("app/docker/Dockerfile", "FROM a\n"),
        ("docker/Dockerfile", "FROM b\n"),
    ];
    let err = load_with(&yaml, &files, |_| {}).expect_err("ambiguous without");
    assert!(err.contains("names two different files"), "{err}");
    let mut with = files.to_vec();
    with.push(("werf-giterminism.yaml", GITERMINISM));
    let cfg = load_with(&yaml, &with, |_| {}).expect("werf 2 with the file");
    let p = &cfg.images[0]
        .dockerfile()
        .expect("dockerfile")
        .dockerfile_path;
    assert!(p.ends_with("app/docker/Dockerfile"), "{}", p.display());
}

#[test]
fn a_werf_2_key_means_werf_2() {
    // `secrets` is werf ≥ 1.2's: an ambiguous `dockerfile:` takes werf 2's file (relative to
    // context:), with a warning (only the flag or a giterminism file settles it silently).
    let yaml = format!(
        "{META}image: app\ncontext: app\ndockerfile: docker/Dockerfile\nsecrets: [{{env: T}}]\n"
    );
    let files = [
        ("app/docker/Dockerfile", "FROM a\n"),
        ("docker/Dockerfile", "FROM b\n"),
    ];
    let cfg = load_with(&yaml, &files, |_| {}).expect("werf 2's file");
    let p = &cfg.images[0]
        .dockerfile()
        .expect("dockerfile")
        .dockerfile_path;
    assert!(p.ends_with("app/docker/Dockerfile"), "{}", p.display());
    assert!(
        cfg.warnings[0]
            .to_string()
            .contains("names two different files: using app/docker/Dockerfile"),
        "{:?}",
        cfg.warnings
    );
    // The stapel rules are werf 2's too: werf 1.1's admission key is refused.
    let err = load(&format!("{META}{FROM_LATEST}cacheVersion: x\n")).expect_err("werf 2");
    assert!(
        err.contains("`herebyIAdmitThatFromLatestMightBreakReproducibility` is werf 1.1's"),
        "{err}"
    );
}

#[test]
fn cache_version_bumped_gives_a_new_signature() {
    let sig = |meta_build: &str, own: &str| {
        let dir = project(
            &format!("project: demo\nconfigVersion: 1\n{meta_build}---\nimage: a\n{own}"),
            &[],
        );
        let cfg = config::load(&Settings {
            dir: dir.path().to_path_buf(),
            ..Settings::default()
        })
        .expect("valid");
        slipway::signature::compute(&cfg, None, &[]).expect("signature")[&Some("a".to_string())]
            .clone()
    };
    let none = sig("", "");
    let v1 = sig("", "cacheVersion: \"1\"\n");
    let v2 = sig("", "cacheVersion: \"2\"\n");
    assert_ne!(none, v1);
    assert_ne!(v1, v2);
    // The meta document's `build.cacheVersion` applies when the image has none.
    assert_eq!(sig("build:\n  cacheVersion: \"1\"\n", ""), v1);
    assert_eq!(
        sig("build:\n  cacheVersion: \"1\"\n", "cacheVersion: \"2\"\n"),
        v2
    );
}

#[test]
fn files_with_a_leading_slash_are_project_relative() {
    let cfg = load_with(
        &format!("{META}image: a\nargs:\n  CONF: {{{{ .Files.Get \"/conf/x\" | quote }}}}\n"),
        &[("conf/x", "from-file")],
        |_| {},
    )
    .expect("valid");
    assert_eq!(
        cfg.images[0].dockerfile().expect("dockerfile").args["CONF"],
        "from-file"
    );
}

// ---- the werf 2 project ----

fn werf2_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/werf2")
}

#[test]
fn a_werf_2_project_validates_with_no_flag_and_says_the_version_on_stderr() {
    let out = support::slipway()
        .arg("--dir")
        .arg(werf2_fixture())
        .args(["config", "validate"])
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .output()
        .expect("run");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("werf.yaml is read as werf 2 reads it: the giterminism file werf-giterminism.yaml exists"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("is read as werf").count(), 1, "{stderr}");
    assert!(!stdout.contains("read as werf"), "{stdout}");
    // `config render`'s stdout is the YAML alone.
    let out = support::slipway()
        .arg("--dir")
        .arg(werf2_fixture())
        .args(["config", "render"])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.starts_with("# A werf 2 project"), "{stdout}");
    assert!(stdout.contains("echo \"greeting=hello\""), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("is read as werf 2"));
}

#[test]
fn the_werf_2_project_loads_as_werf_2_reads_it() {
    let cfg = config::load(&Settings {
        dir: werf2_fixture(),
        ..Settings::default()
    })
    .expect("valid");
    assert_eq!(base(&cfg, "tools"), Base::From("alpine:3.20".into()));
    assert_eq!(base(&cfg, "app"), Base::Image("base".into()));
    // Stapel `dependencies` and `secrets` (issue 42) read as werf 2 writes them.
    let app = cfg.image(Some("app")).expect("app");
    let tools_dep = app
        .dependencies
        .iter()
        .find(|d| d.image == "tools")
        .expect("a dependency on tools");
    assert!(tools_dep.stage.is_some(), "{tools_dep:?}");
    assert_eq!(tools_dep.imports.len(), 1);
    let st = app.stapel().expect("stapel");
    assert_eq!(st.secrets.len(), 2, "{:?}", st.secrets);
    // `final: false` and `imageSpec` (issue 43).
    let tools = cfg.image(Some("tools")).expect("tools");
    assert!(!tools.is_final);
    assert_eq!(
        tools.image_spec.as_ref().map(|s| s.author.as_str()),
        Some("me")
    );
    let web = cfg.image(Some("web")).expect("web");
    assert_eq!(web.cache_version.as_deref(), Some("2"));
    assert_eq!(
        cfg.image(Some("app"))
            .and_then(|i| i.cache_version.as_deref()),
        Some("1")
    );
}

#[test]
fn a_werf_1_1_project_says_so() {
    let dir = project(&format!("{META}image: a\n"), &[]);
    support::slipway()
        .arg("--dir")
        .arg(dir.path())
        .args(["config", "validate"])
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "werf.yaml is read as werf 1.1 reads it: no werf-giterminism.yaml and no key only werf ≥ 1.2 knows",
        ));
}

#[test]
fn giterminism_flags_and_variables_reach_the_settings() {
    let allowed = format!("{GITERMINISM}config:\n  stapel:\n    allowFromLatest: true\n");
    let dir = project(
        &format!("{META}image: a\nfrom: alpine:3.20\nfromLatest: true\n"),
        &[
            ("werf-giterminism.yaml", GITERMINISM),
            ("ci/giterminism.yaml", &allowed),
        ],
    );
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = support::slipway();
        cmd.arg("--dir").arg(dir.path()).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(["config", "validate"]).output().expect("run")
    };
    let out = run(&[], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not allowed by giterminism"));
    assert!(run(&["--loose-giterminism"], &[]).status.success());
    assert!(
        run(&[], &[("WERF_LOOSE_GITERMINISM", "1")])
            .status
            .success()
    );
    assert!(
        run(&["--giterminism-config", "ci/giterminism.yaml"], &[])
            .status
            .success()
    );
    assert!(
        run(&[], &[("WERF_GITERMINISM_CONFIG", "ci/giterminism.yaml")])
            .status
            .success()
    );
}

// ---- import sources: `image:` or werf 2's `from:`, internal or a registry image ----

const IMPORT_SOURCE: &str = "image: src\nfrom: alpine\n---\nimage: app\nfrom: alpine\nimport:\n";

#[test]
fn an_import_takes_image_or_from_not_both() {
    refused(
        &format!(
            "{META}{IMPORT_SOURCE}  - image: src\n    from: src\n    add: /x\n    to: /x\n    before: install\n"
        ),
        "werf.yaml:10:5: import[0]: specify only `image: NAME` or `from: NAME` for import!",
    );
}

#[test]
fn an_import_from_names_an_image_of_werf_yaml() {
    let cfg = load(&format!(
        "{META}{IMPORT_SOURCE}  - from: src\n    add: /x\n    to: /x\n    before: install\n"
    ))
    .expect("valid");
    let st = cfg
        .image(Some("app"))
        .and_then(|i| i.stapel())
        .expect("stapel");
    assert_eq!(st.imports[0].source, "src");
}

#[test]
fn an_import_of_a_tagged_or_digested_reference_is_a_registry_image() {
    for (key, reference) in [
        ("from", "alpine:3.20"),
        ("image", "registry.example:5000/team/tools:1"),
        (
            "from",
            "alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ),
    ] {
        let yaml = format!(
            "{META}{IMPORT_SOURCE}  - {key}: {reference}\n    add: /x\n    to: /x\n    before: install\n"
        );
        // werf 2 imports it from the registry: no image of werf.yaml, no build dependency.
        let cfg = load_with(&yaml, &[], as_v2).expect("werf 2: a registry image");
        let app = cfg.image(Some("app")).expect("app");
        let i = &app.stapel().expect("stapel").imports[0];
        assert!(i.external, "{reference}");
        assert_eq!(i.source, reference);
        assert!(
            !app.dependencies.iter().any(|d| d.image == reference),
            "{:?}",
            app.dependencies
        );
        // werf 1.1 knows images of werf.yaml only.
        if key == "image" {
            let e = load_with(&yaml, &[], as_v1_1).expect_err("1.1");
            assert!(e.contains(&format!("no such image `{reference}`!")), "{e}");
        }
        // `stage:` names a stage of a werf.yaml image: a registry image has none.
        let staged = yaml.replace("before: install\n", "before: install\n    stage: install\n");
        let e = load_with(&staged, &[], as_v2).expect_err("stage of a registry image");
        assert!(
            e.contains(&format!(
                "werf.yaml:10:5: import[0]: `stage: install` names a stage of an image of werf.yaml; {reference} is a registry image"
            )),
            "{e}"
        );
    }
    // A registry port alone is not a tag.
    let e = load(&format!(
        "{META}{IMPORT_SOURCE}  - from: registry.example:5000/tools\n    add: /x\n    to: /x\n    before: install\n"
    ))
    .expect_err("no such image");
    assert!(
        e.contains("no such image `registry.example:5000/tools`!"),
        "{e}"
    );
}
