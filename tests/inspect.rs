//! `slipway inspect REF` against a loopback registry (issue 37): a single manifest, a
//! two-platform index, referrers through the tag schema (Debian's registry has no
//! referrers API), a published image's labels, and an unknown tag.

use serde_json::{Value, json};

use crate::support::{self, Registry, skopeo};

fn inspect(reg: &Registry, reference: &str, json: bool) -> support::Slipway {
    let mut c = support::slipway();
    c.insecure(&reg.host);
    if json {
        c.arg("--json");
    }
    c.args(["inspect", &format!("{}/{reference}", reg.host)]);
    c
}

fn inspect_json(reg: &Registry, reference: &str) -> Value {
    let out = inspect(reg, reference, true).assert().success();
    support::json_result(&out.get_output().stdout)
}

/// PUT `doc` as an OCI index under `tag` of `repo`.
fn put_index(reg: &Registry, repo: &str, tag: &str, doc: &Value) {
    let url = format!("{}/v2/{repo}/manifests/{tag}", reg.url());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let resp = reqwest::Client::new()
            .put(url)
            .header("Content-Type", "application/vnd.oci.image.index.v1+json")
            .body(doc.to_string())
            .send()
            .await
            .expect("PUT index");
        let status = resp.status();
        assert!(
            status.is_success(),
            "{status}: {}",
            resp.text().await.unwrap_or_default()
        );
    });
}

fn push(reg: &Registry, reference: &str) {
    let dir = tempfile::tempdir().expect("tmp");
    let tar = support::image_tarball(dir.path(), 1);
    support::slipway()
        .insecure(&reg.host)
        .arg("push-archive")
        .arg(&tar)
        .arg(format!("{}/{reference}", reg.host))
        .assert()
        .success();
}

/// A child descriptor of an index for what `inspect --json` said about an image.
fn descriptor(reg: &Registry, image: &Value, platform: Value) -> Value {
    let digest = image["digest"].as_str().expect("digest");
    let raw = skopeo::raw_manifest(reg, &format!("insp/app@{digest}")).expect("raw");
    json!({
        "mediaType": image["media_type"],
        "digest": digest,
        "size": raw.len(),
        "platform": platform,
    })
}

#[test]
fn a_manifest_an_index_of_two_platforms_and_referrers() {
    let reg = Registry::plain();
    push(&reg, "insp/app:one");
    push(&reg, "insp/app:two");

    // A single manifest: its digest, one platform (the config's), the sizes it names.
    let one = inspect_json(&reg, "insp/app:one");
    assert_eq!(
        one["digest"].as_str(),
        skopeo::digest(&reg, "insp/app:one").ok().as_deref()
    );
    let config = skopeo::config(&reg, "insp/app:one").expect("config");
    let platforms = one["platforms"].as_array().expect("platforms");
    assert_eq!(platforms.len(), 1, "{one}");
    let p = &platforms[0];
    assert_eq!(
        p["platform"],
        format!(
            "{}/{}",
            config["os"].as_str().expect("os"),
            config["architecture"].as_str().expect("arch")
        )
    );
    let raw: Value =
        serde_json::from_str(&skopeo::raw_manifest(&reg, "insp/app:one").expect("raw manifest"))
            .expect("manifest json");
    let manifest_len = skopeo::raw_manifest(&reg, "insp/app:one")
        .expect("raw")
        .len() as u64;
    let layers = raw["layers"].as_array().expect("layers");
    let want_size = manifest_len
        + raw["config"]["size"].as_u64().expect("config size")
        + layers
            .iter()
            .map(|l| l["size"].as_u64().expect("size"))
            .sum::<u64>();
    assert_eq!(one["size"].as_u64(), Some(want_size), "{one}");
    assert_eq!(p["layers"].as_u64(), Some(layers.len() as u64));
    assert_eq!(p["created"], config["created"]);
    assert_eq!(one["referrers"], json!([]));
    assert_eq!(one["referrers_source"], "none");

    // An index of both: each platform, as the index declares it.
    let two = inspect_json(&reg, "insp/app:two");
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            descriptor(&reg, &one, json!({"os": "linux", "architecture": "amd64"})),
            descriptor(&reg, &two, json!({"os": "linux", "architecture": "arm64", "variant": "v8"})),
        ],
    });
    put_index(&reg, "insp/app", "multi", &index);
    let multi = inspect_json(&reg, "insp/app:multi");
    assert_eq!(
        multi["media_type"],
        "application/vnd.oci.image.index.v1+json"
    );
    let got: Vec<(&str, &str)> = multi["platforms"]
        .as_array()
        .expect("platforms")
        .iter()
        .map(|p| {
            (
                p["platform"].as_str().unwrap_or_default(),
                p["digest"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("linux/amd64", one["digest"].as_str().expect("d")),
            ("linux/arm64/v8", two["digest"].as_str().expect("d")),
        ]
    );
    let index_len = index.to_string().len() as u64;
    assert_eq!(
        multi["size"].as_u64(),
        Some(index_len + one["size"].as_u64().expect("s") + two["size"].as_u64().expect("s"))
    );
    let out = inspect(&reg, "insp/app:multi", false).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains("platform    linux/arm64/v8  sha256:"),
        "{text}"
    );

    // Referrers: no API here, so the `sha256-<hex>` tag schema.
    let one_digest = one["digest"].as_str().expect("d");
    let mut referrer = descriptor(&reg, &two, Value::Null);
    referrer.as_object_mut().expect("object").remove("platform");
    referrer["artifactType"] = json!("application/vnd.example.sbom");
    put_index(
        &reg,
        "insp/app",
        &one_digest.replacen(':', "-", 1),
        &json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [referrer],
        }),
    );
    let again = inspect_json(&reg, "insp/app:one");
    assert_eq!(again["referrers_source"], "tag-schema", "{again}");
    assert_eq!(again["referrers"][0]["digest"], two["digest"]);
    assert_eq!(
        again["referrers"][0]["artifact_type"],
        "application/vnd.example.sbom"
    );

    // A tag that does not exist.
    let out = inspect(&reg, "insp/app:nope", false).assert().failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("insp/app:nope: no such tag or digest"),
        "{err}"
    );
}

/// A published image: Slipway's labels and the config, in text and JSON.
#[test]
fn a_published_image_shows_its_labels_and_config() {
    let _ = support::base_image();
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    support::write_tree(
        dir.path(),
        &[
            (
                "werf.yaml",
                "project: insp\nconfigVersion: 1\n---\nimage: app\nargs:\n  BASE: {{ env \"BASE_IMAGE\" }}\n",
            ),
            (
                "Dockerfile",
                "ARG BASE\nFROM ${BASE}\nENV GREETING=hello\nCOPY a.txt /a.txt\n",
            ),
            ("a.txt", "inspect\n"),
        ],
    );
    support::slipway()
        .base_image()
        .project(dir.path())
        .images_repo(&reg, "insp")
        .args(["build-and-publish", "--tag-custom", "v1"])
        .assert()
        .success();
    let v = inspect_json(&reg, "insp/app:v1");
    let p = &v["platforms"][0];
    assert_eq!(p["labels"]["slipway.image"], "app", "{v}");
    assert!(
        p["config"]["Env"]
            .as_array()
            .is_some_and(|e| e.iter().any(|x| x == "GREETING=hello")),
        "{v}"
    );
    let out = inspect(&reg, "insp/app:v1", false).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("  label     slipway.image=app"), "{text}");
    assert!(text.contains("GREETING=hello"), "{text}");
}
