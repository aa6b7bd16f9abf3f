//! `imageSpec` (issue #43) as werf v2.77.1 applies it, read back from `docker inspect` and
//! from the registry's config (skopeo) for a Dockerfile image and a stapel image; meta
//! `build.imageSpec` on final images only; Slipway's labels kept; the signature covers it.

use crate::support;

use std::path::Path;

use serde_json::{Value, json};
use support::{Registry, nonce, skopeo};

/// A committed project: `files`, then `werf.yaml` (`BASE` → the test base image, `NONCE`
/// → text unique to this run, so nothing from an earlier run is reused).
fn project(files: &[(&str, &str)], yaml: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tmp");
    let n = nonce();
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(p, t)| {
            (
                p.to_string(),
                t.replace("BASE", support::base_image())
                    .replace("NONCE", &n),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    support::write_tree(d.path(), &refs);
    std::fs::write(
        d.path().join("werf.yaml"),
        yaml.replace("BASE", support::base_image())
            .replace("NONCE", &n),
    )
    .expect("werf.yaml");
    support::git_commit_all(d.path());
    d
}

/// `docker inspect IMAGE`'s first element.
fn inspect(image: &str) -> Value {
    let out = std::process::Command::new("/usr/bin/docker")
        .args(["inspect", image])
        .output()
        .expect("docker inspect");
    assert!(out.status.success(), "inspect {image}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    v[0].clone()
}

const SPEC: &str = r#"imageSpec:
  author: image-author
  clearHistory: true
  config:
    entrypoint: ["/bin/sh", "-c"]
    user: "1000"
    workingDir: /srv
    stopSignal: SIGINT
    env:
      PATH: "/opt/bin:${PATH}"
      ADDED: "yes"
    removeEnv: ["/DROP_.*/"]
    labels:
      made.for: "%project%/%image%"
    removeLabels: ["/old\\..*/", "gone"]
    expose: ["8080/tcp"]
    volumes: ["/data"]
    removeVolumes: ["/old-volume"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 5
      timeout: 3
      startperiod: 2
      retries: 4
"#;

/// werf.yaml with meta `build.imageSpec`, image `app` (with [`SPEC`] and `recipe`) and a
/// non-final image `mid` without a spec.
fn yaml(project: &str, app_recipe: &str, mid_recipe: &str) -> String {
    format!(
        r#"project: {project}
configVersion: 1
build:
  imageSpec:
    author: meta-author
    config:
      labels:
        meta.label: "m-%image%"
---
image: app
{app_recipe}
{SPEC}---
image: mid
final: false
{mid_recipe}
"#
    )
}

/// Each field of [`SPEC`] (merged with the meta spec) as `docker inspect` (`Config`, and
/// `Author` at the top) or the registry config (`config`, `author`) shows it.
fn assert_spec_applied(top: &Value, cfg: &Value, author_key: &str, project: &str, stapel: bool) {
    // werf's code: meta's author wins over the image's.
    assert_eq!(top[author_key], "meta-author", "{top}");
    assert_eq!(cfg["Entrypoint"], json!(["/bin/sh", "-c"]));
    // `entrypoint` without `cmd` clears the base's CMD.
    assert!(
        cfg["Cmd"].is_null() || cfg["Cmd"] == json!([]),
        "CMD not cleared: {}",
        cfg["Cmd"]
    );
    assert_eq!(cfg["User"], "1000");
    assert_eq!(cfg["WorkingDir"], "/srv");
    assert_eq!(cfg["StopSignal"], "SIGINT");
    let env: Vec<&str> = cfg["Env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(env.contains(&"ADDED=yes"), "{env:?}");
    assert!(env.contains(&"KEPT=1"), "{env:?}");
    assert!(!env.iter().any(|e| e.starts_with("DROP_")), "{env:?}");
    let path = env.iter().find(|e| e.starts_with("PATH=")).expect("PATH");
    assert!(
        path.starts_with("PATH=/opt/bin:/"),
        "${{PATH}} not expanded: {path}"
    );
    let mut sorted = env.clone();
    sorted.sort();
    assert_eq!(env, sorted, "env in name order");
    assert_eq!(cfg["ExposedPorts"], json!({"8080/tcp": {}}));
    assert_eq!(cfg["Volumes"], json!({"/data": {}, "/kept-volume": {}}));
    let h = &cfg["Healthcheck"];
    assert_eq!(h["Test"], json!(["CMD", "true"]));
    assert_eq!(h["Interval"], json!(5_000_000_000u64));
    assert_eq!(h["Timeout"], json!(3_000_000_000u64));
    assert_eq!(h["StartPeriod"], json!(2_000_000_000u64));
    assert_eq!(h["Retries"], json!(4));
    let labels = cfg["Labels"].as_object().expect("labels");
    assert_eq!(labels["made.for"], format!("{project}/app"));
    assert_eq!(labels["meta.label"], "m-app");
    if !stapel {
        // werf.yaml's `labels:` (Dockerfile images) come before the spec.
        assert_eq!(labels["from.labels"], "kept");
    }
    assert!(
        !labels.contains_key("old.one") && !labels.contains_key("gone"),
        "{labels:?}"
    );
    assert_eq!(labels["keep.me"], "1");
    assert_eq!(labels["slipway.image"], "app");
    assert!(labels.contains_key("slipway.signature"));
}

const DOCKERFILE: &str = "FROM BASE\nENV KEPT=1 DROP_A=1 DROP_B=2\nCMD [\"sh\"]\nLABEL old.one=1 gone=1 keep.me=1\nVOLUME [\"/old-volume\", \"/kept-volume\"]\nEXPOSE 80\nRUN echo NONCE > /n\n";

const STAPEL_APP: &str = r#"from: BASE
shell:
  install: echo NONCE > /n
docker:
  ENV:
    KEPT: "1"
    DROP_A: "1"
  CMD: ["sh"]
  LABEL:
    old.one: "1"
    gone: "1"
    keep.me: "1"
  VOLUME: ["/old-volume", "/kept-volume"]
  EXPOSE: ["80"]"#;

/// Build and publish `dir`; the app's config from the daemon and from the registry agree
/// and carry every field; `mid` (not final, named) has no meta label.
fn check_project(dir: &Path, reg: &Registry, project: &str, stapel: bool) {
    let mut c = support::slipway();
    c.project(dir).images_repo(reg, "spec");
    if stapel {
        c.stapel();
    }
    c.args(["build-and-publish", "--tag-custom", "v1"])
        .assert()
        .success();
    let local = inspect(&format!("{project}/app"));
    assert_spec_applied(&local, &local["Config"], "Author", project, stapel);
    // The raw config: skopeo's OCI view has no healthcheck.
    let raw = skopeo::raw_config(reg, "spec/app:v1").expect("raw");
    let remote: Value = serde_json::from_str(&raw).expect("config json");
    assert_spec_applied(&remote, &remote["config"], "author", project, stapel);
    assert_eq!(remote["history"], json!([]), "clearHistory");
    // The local image is the pushed one: one config, one ID.
    let id = format!("sha256:{}", sha256_hex(raw.as_bytes()));
    assert_eq!(local["Id"], id, "local and pushed configs differ");

    let mut c = support::slipway();
    c.project(dir);
    if stapel {
        c.stapel();
    }
    c.args(["build", "mid"]).assert().success();
    let mid = inspect(&format!("{project}/mid"));
    let labels = mid["Config"]["Labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert!(
        !labels.contains_key("meta.label"),
        "meta spec on a non-final image: {labels:?}"
    );
    assert_ne!(mid["Author"], "meta-author");
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

#[test]
fn dockerfile_image_gets_every_image_spec_field_locally_and_in_the_registry() {
    let project_name = "spec-dockerfile";
    let d = project(
        &[("Dockerfile", DOCKERFILE)],
        &yaml(
            project_name,
            "dockerfile: Dockerfile\nlabels:\n  from.labels: kept",
            "dockerfile: Dockerfile",
        ),
    );
    let reg = Registry::plain();
    check_project(d.path(), &reg, project_name, false);
}

#[test]
fn stapel_image_gets_every_image_spec_field_locally_and_in_the_registry() {
    let project_name = "spec-stapel";
    let d = project(
        &[],
        &yaml(
            project_name,
            STAPEL_APP,
            "from: BASE\nshell:\n  install: echo NONCE > /m",
        ),
    );
    let reg = Registry::plain();
    check_project(d.path(), &reg, project_name, true);
}

/// `removeLabels: [/.*/]` removes every label but Slipway's own.
#[test]
fn slipway_labels_survive_remove_labels_everything() {
    let d = project(
        &[("Dockerfile", "FROM BASE\nLABEL a=1\nRUN echo NONCE > /n\n")],
        "project: spec-all-labels\nconfigVersion: 1\n---\nimage: app\nlabels:\n  mine: x\nimageSpec:\n  config:\n    removeLabels: [\"/.*/\"]\n",
    );
    support::slipway()
        .project(d.path())
        .arg("build")
        .assert()
        .success();
    let labels = inspect("spec-all-labels/app")["Config"]["Labels"]
        .as_object()
        .cloned()
        .expect("labels");
    assert!(
        labels.keys().all(|k| k.starts_with("slipway.")),
        "{labels:?}"
    );
    for k in ["slipway.project", "slipway.image", "slipway.signature"] {
        assert!(labels.contains_key(k), "{k} removed: {labels:?}");
    }
}

/// A changed imageSpec field changes the signature (and rebuilds); an unchanged project
/// builds and republishes nothing.
#[test]
fn image_spec_is_in_the_signature_and_an_unchanged_project_republishes_nothing() {
    let yaml_with = |user: &str| {
        format!(
            "project: spec-sig\nconfigVersion: 1\n---\nimage: app\nimageSpec:\n  config:\n    user: \"{user}\"\n"
        )
    };
    let d = project(
        &[("Dockerfile", "FROM BASE\nRUN echo NONCE > /n\n")],
        &yaml_with("1"),
    );
    let reg = Registry::plain();
    let publish = |dir: &Path| {
        let out = support::slipway()
            .project(dir)
            .images_repo(&reg, "sig")
            .args(["--json", "build-and-publish", "--tag-custom", "v1"])
            .assert()
            .success();
        support::json_result(&out.get_output().stdout)
    };
    let first = publish(d.path());
    let digest1 = skopeo::digest(&reg, "sig/app:v1").expect("digest");
    let again = publish(d.path());
    let digest2 = skopeo::digest(&reg, "sig/app:v1").expect("digest");
    assert_eq!(digest1, digest2, "republished: {again}");
    assert_eq!(first["images"][0]["push"], "pushed", "{first}");
    assert_eq!(again["images"][0]["push"], "already-present", "{again}");
    assert_eq!(again["images"][0]["build"], "skipped", "{again}");
    let sig = |v: &Value| {
        v["images"][0]["signature"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    std::fs::write(d.path().join("werf.yaml"), yaml_with("2")).expect("write");
    support::git_commit_all(d.path());
    let changed = publish(d.path());
    assert_ne!(sig(&first), sig(&changed), "{first}\n{changed}");
    assert_eq!(
        skopeo::config(&reg, "sig/app:v1").expect("config")["config"]["User"],
        "2"
    );
}

/// The classic builder's image gets the spec the same way (the rewrite does not depend on
/// the builder).
#[test]
fn classic_builder_images_get_the_spec_too() {
    let d = project(
        &[(
            "Dockerfile",
            "FROM BASE\nCMD [\"sh\"]\nRUN echo NONCE > /n\n",
        )],
        "project: spec-classic\nconfigVersion: 1\n---\nimage: app\nimageSpec:\n  config:\n    entrypoint: [\"/bin/true\"]\n    workingDir: /w\n",
    );
    support::slipway()
        .project(d.path())
        .args(["build", "--buildkit", "off"])
        .assert()
        .success();
    let cfg = inspect("spec-classic/app")["Config"].clone();
    assert_eq!(cfg["Entrypoint"], json!(["/bin/true"]));
    assert!(cfg["Cmd"].is_null() || cfg["Cmd"] == json!([]), "{cfg}");
    assert_eq!(cfg["WorkingDir"], "/w");
    // Built again unchanged: the spec'd image is reused.
    let out = support::slipway()
        .project(d.path())
        .args(["--json", "build", "--buildkit", "off"])
        .assert()
        .success();
    let images = support::json_result(&out.get_output().stdout)["images"].clone();
    assert_eq!(images[0]["skipped"], true, "{images}");
}

/// Podman cannot load a config over layers it has: a clear error before anything builds.
#[test]
fn podman_refuses_an_image_spec_before_building() {
    let d = project(
        &[("Dockerfile", "FROM BASE\nRUN echo NONCE > /n\n")],
        "project: spec-podman\nconfigVersion: 1\n---\nimage: app\nimageSpec:\n  config:\n    user: \"1\"\n",
    );
    let out = support::slipway()
        .podman()
        .project(d.path())
        .arg("build")
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("image app: `imageSpec`") && err.contains("Podman"),
        "{err}"
    );
    assert!(!err.contains("Step 1/"), "built before refusing: {err}");
}

/// werf.yaml in a project with a Dockerfile, loaded as the library loads it.
fn load(yaml: &str) -> Result<slipway::config::Config, String> {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").expect("write");
    std::fs::write(dir.path().join("werf.yaml"), yaml).expect("write");
    let settings = slipway::settings::Settings {
        dir: dir.path().to_path_buf(),
        ..slipway::settings::Settings::default()
    };
    slipway::config::load(&settings).map_err(|e| e.to_string())
}

/// Meta `build.imageSpec` merges into final images as werf's code merges it (meta's author
/// and shared label keys win, removals joined), never into a non-final one; mistakes are
/// located errors, as werf's strict parser refuses them.
#[test]
fn meta_image_spec_merges_into_final_images_and_mistakes_are_located() {
    let cfg = load(
        "project: p\nconfigVersion: 1\nbuild:\n  imageSpec:\n    author: meta\n    config:\n      labels: {shared: meta, m: \"1\"}\n      removeLabels: [x]\n---\nimage: a\nimageSpec:\n  author: own\n  config:\n    labels: {shared: own}\n    removeLabels: [z]\n---\nimage: b\nfinal: false\n",
    )
    .expect("valid");
    let a = cfg
        .image(Some("a"))
        .and_then(|i| i.image_spec.clone())
        .expect("a");
    assert_eq!(a.author, "meta");
    assert_eq!(a.labels["shared"], "meta");
    assert_eq!(a.labels["m"], "1");
    assert_eq!(a.remove_labels, vec!["z", "x"]);
    let b = cfg.image(Some("b")).expect("b");
    assert!(!b.is_final && b.image_spec.is_none());

    let err = load(
        "project: p\nconfigVersion: 1\n---\nimage: a\nimageSpec:\n  config:\n    healthcheck: {startPeriod: 3}\n    removeEnv: [\"/(/\"]\n    entrypoints: [x]\n",
    )
    .expect_err("invalid");
    assert!(
        err.contains("werf.yaml:6:3: ") && err.contains("`startperiod`"),
        "{err}"
    );
    assert!(
        err.contains("/(/ is not a valid regular expression: unclosed group"),
        "{err}"
    );
    assert!(err.contains("entrypoints"), "{err}");
}
