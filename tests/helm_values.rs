//! Issue 32's Helm hand-off: the values Slipway writes (`publish --helm-values`, `helm-values
//! --from-report`) render werf 1.1's chart helpers (`helm-values --helpers-template`) in both
//! call forms, root context and `tuple "name" .`, through the Go reference renderer
//! (crates/gotemplate/tests/goref) in Helm mode: Helm 2's engine as werf 1.1 ran it, with
//! Helm's `include` and `required` and the root context a `chartutil.Values`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{self, Registry};

/// Render `text` as a chart template beside the helpers file, with `values` (JSON) as the
/// chart's values: `Ok(output)` or `Err(Go's error)`.
fn helm_render(helpers: &str, values: &str, text: &str) -> Result<String, String> {
    let partials: BTreeMap<&str, &str> = [("_werf_helpers.tpl", helpers)].into();
    let case = serde_json::json!({
        "name": "templates/deployment.yaml", "text": text, "helm": true,
        "values": values, "partials": partials, "namespace": "ns",
    });
    let mut child = Command::new(crate::werf_templates::goref())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("reference renderer");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{case}\n").as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("output");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("result json");
    match v["err"].as_str().unwrap_or("") {
        "" => Ok(v["out"].as_str().unwrap_or("").to_string()),
        e => Err(e.to_string()),
    }
}

/// The helpers file as `slipway helm-values --helpers-template -o FILE` writes it.
fn helpers(dir: &Path) -> String {
    let path = dir.join("_werf_helpers.tpl");
    support::slipway()
        .args(["helm-values", "--helpers-template", "-o"])
        .arg(&path)
        .assert()
        .success();
    std::fs::read_to_string(&path).expect("helpers file")
}

/// The config digest of `reference` in `reg`'s manifest, read by skopeo.
fn config_digest(reg: &Registry, reference: &str) -> String {
    let raw = support::skopeo::raw_manifest(reg, reference).expect("skopeo inspect --raw");
    let m: serde_json::Value = serde_json::from_str(&raw).expect("manifest json");
    m["config"]["digest"]
        .as_str()
        .expect("config digest")
        .to_string()
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json")
}

fn project(yaml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    support::write_tree(
        dir.path(),
        &[
            ("werf.yaml", yaml),
            ("Dockerfile", "ARG BASE\nFROM ${BASE}\nCOPY a.txt /a.txt\n"),
            ("a.txt", "helm\n"),
        ],
    );
    dir
}

/// Named images, tagged by git branch (werf: `is_branch`): the tuple form gives each
/// image's reference, `imagePullPolicy: Always` and its `DOCKER_IMAGE_ID`; the root form
/// fails with werf's error, as it does under werf (it needs the nameless image).
#[test]
fn published_values_render_werfs_helpers_by_image_name() {
    let _ = support::base_image();
    let reg = Registry::plain();
    let dir = project(
        "project: hv\nconfigVersion: 1\n---\nimage: backend\nargs:\n  BASE: {{ env \"BASE_IMAGE\" }}\n---\nimage: web\nargs:\n  BASE: {{ env \"BASE_IMAGE\" }}\n",
    );
    let out = tempfile::tempdir().expect("tmp");
    let (values, report) = (out.path().join("values.json"), out.path().join("r.json"));
    support::slipway()
        .base_image()
        .project(dir.path())
        .images_repo(&reg, "hv")
        .env("WERF_ENV", "production")
        .args(["build-and-publish", "--tag-git-branch", "main"])
        .args(["--tag-git-commit", "0123abc", "--helm-values"])
        .arg(&values)
        .arg("--report-path")
        .arg(&report)
        .assert()
        .success();
    let rep = read_json(&report);
    let v = read_json(&values);
    assert_eq!(v["global"]["namespace"], "hv-production", "{v}");
    assert_eq!(v["global"]["werf"]["docker_tag"], "main", "{v}");
    assert_eq!(v["global"]["werf"]["ci"]["is_branch"], true, "{v}");
    let helpers = helpers(out.path());
    let text = "backend:\n{{ tuple \"backend\" . | include \"werf_container_image\" | indent 2 }}\n  env:\n{{ tuple \"backend\" . | include \"werf_container_env\" | indent 2 }}\nweb:\n{{ tuple \"web\" . | include \"werf_container_image\" | indent 2 }}\n";
    let rendered = helm_render(&helpers, &v.to_string(), text).expect("render");
    let img = |name: &str| {
        rep["images"]
            .as_array()
            .expect("images")
            .iter()
            .find(|i| i["name"] == name)
            .cloned()
            .expect("image in report")
    };
    let (backend, web) = (img("backend"), img("web"));
    let reference = format!("{}/hv/backend:main", reg.host);
    assert!(
        backend["references"]
            .as_array()
            .expect("refs")
            .contains(&reference.clone().into())
    );
    // werf's docker_image_id: the config digest the registry holds, as skopeo reads it.
    let id = config_digest(&reg, "hv/backend:main");
    assert_eq!(backend["image_id"], id.as_str(), "{rep}");
    assert_eq!(
        rendered,
        format!(
            "backend:\n  image: {reference}\n  imagePullPolicy: Always\n  env:\n  - name: DOCKER_IMAGE_ID\n    value: {id}\nweb:\n  image: {}/hv/web:main\n  imagePullPolicy: Always\n",
            reg.host
        )
    );
    assert!(
        web["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
    let root = helm_render(
        &helpers,
        &v.to_string(),
        "{{ include \"werf_container_image\" . }}",
    );
    assert!(
        root.as_ref()
            .is_err_and(|e| e.ends_with("error calling required: No image specified for template")),
        "{root:?}"
    );
    // werf's function form is not Helm's: it must be rewritten to include.
    let func = helm_render(&helpers, &v.to_string(), "{{ werf_container_image . }}");
    assert!(func.is_err_and(|e| e.contains("function \"werf_container_image\" not defined")));
    // The same values from the report.
    let again = out.path().join("again.json");
    support::slipway()
        .env("WERF_ENV", "production")
        .args(["helm-values", "--from-report"])
        .arg(&report)
        .arg("-o")
        .arg(&again)
        .assert()
        .success();
    assert_eq!(read_json(&again), v);
}

/// The nameless image, tagged by a custom tag (werf: `is_custom_tag`, so no pull policy and
/// no `DOCKER_IMAGE_ID`): the root-context form gives its reference; the tuple form fails
/// with werf's error.
#[test]
fn report_values_render_werfs_helpers_for_the_nameless_image() {
    let _ = support::base_image();
    let reg = Registry::plain();
    let dir = project(
        "project: hl\nconfigVersion: 1\n---\nimage: ~\nargs:\n  BASE: {{ env \"BASE_IMAGE\" }}\n",
    );
    let out = tempfile::tempdir().expect("tmp");
    let report = out.path().join("r.json");
    support::slipway()
        .base_image()
        .project(dir.path())
        .images_repo(&reg, "hl")
        .args(["build-and-publish", "--tag-custom", "v1", "--report-path"])
        .arg(&report)
        .assert()
        .success();
    let values = out.path().join("values.json");
    support::slipway()
        .env("WERF_NAMESPACE", "hl-review")
        .args(["helm-values", "--from-report"])
        .arg(&report)
        .arg("-o")
        .arg(&values)
        .assert()
        .success();
    let v = read_json(&values);
    assert_eq!(v["global"]["namespace"], "hl-review", "{v}");
    assert_eq!(v["global"]["werf"]["is_nameless_image"], true, "{v}");
    let rep = read_json(&report);
    let image = &v["global"]["werf"]["image"];
    assert_eq!(
        image["docker_image_digest"], rep["images"][0]["digest"],
        "{v}"
    );
    // Without --helm-values the report has the daemon's ID of the built image: the
    // registry's config digest under Docker's classic image store.
    assert_eq!(
        image["docker_image_id"],
        config_digest(&reg, "hl:v1"),
        "{v}"
    );
    let helpers = helpers(out.path());
    let text = "image: {{ include \"werf_container_image\" . }}|env: [{{ include \"werf_container_env\" . }}]";
    let rendered = helm_render(&helpers, &v.to_string(), text).expect("render");
    assert_eq!(
        rendered,
        format!("image: image: {}/hl:v1\n|env: []", reg.host)
    );
    let tuple = helm_render(
        &helpers,
        &v.to_string(),
        "{{ tuple \"app\" . | include \"werf_container_image\" }}",
    );
    assert!(
        tuple
            .as_ref()
            .is_err_and(|e| e.ends_with("No image should be specified for template, got 'app'")),
        "{tuple:?}"
    );
}
