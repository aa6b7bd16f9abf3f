//! Build provenance (issue 35): a published image's SLSA statement is found through the
//! OCI 1.1 fallback tag (Debian's registry has no referrers API), names the image as its
//! subject and lists the commit and the base; an unchanged image published again from
//! another clone (an https remote where the first had ssh) attaches and pushes nothing; promote
//! carries the referrer.

use std::path::Path;

use serde_json::Value;

use crate::support::{self, Registry, skopeo};

/// A blob's bytes, straight from the registry.
fn blob(reg: &Registry, repo: &str, digest: &str) -> Vec<u8> {
    let url = format!("{}/v2/{repo}/blobs/{digest}", reg.url());
    support::block_on(async {
        let resp = reqwest::get(url).await.expect("GET blob");
        assert!(resp.status().is_success(), "{}", resp.status());
        resp.bytes().await.expect("blob body").to_vec()
    })
}

fn publish(dir: &Path, reg: &Registry, report: &Path) -> Value {
    support::slipway()
        .base_image()
        .project(dir)
        .images_repo(reg, "prov")
        .args(["build-and-publish", "--tag-custom", "v1", "--report-path"])
        .arg(report)
        .assert()
        .success();
    serde_json::from_str(&std::fs::read_to_string(report).expect("report")).expect("json")
}

#[test]
fn provenance_through_the_fallback_tag_and_nothing_for_an_unchanged_image() {
    let reg = Registry::plain();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("one");
    std::fs::create_dir(&dir).expect("dir");
    let werf = "project: prov\nconfigVersion: 1\n---\nimage: app\nargs:\n  BASE: {{ env \"BASE_IMAGE\" }}\n  NPM_TOKEN: s3cr3t-value\n";
    let dockerfile = "ARG BASE\nFROM ${BASE}\nRUN echo provenance > /p\n";
    support::write_tree(&dir, &[("werf.yaml", werf), ("Dockerfile", dockerfile)]);
    support::git_commit_all(&dir);
    support::git(
        &dir,
        &[
            "remote",
            "add",
            "origin",
            "git@git.example.com:shop/prov.git",
        ],
    );
    let commit = support::git(&dir, &["rev-parse", "HEAD"]);

    let report = publish(&dir, &reg, &tmp.path().join("r1.json"));
    let digest = skopeo::digest(&reg, "prov/app:v1").expect("digest");
    let fallback = digest.replacen(':', "-", 1);
    assert!(
        skopeo::tags(&reg, "prov/app").contains(&fallback),
        "no fallback tag {fallback}"
    );
    let index: Value = serde_json::from_str(
        &skopeo::raw_manifest(&reg, &format!("prov/app:{fallback}")).expect("fallback index"),
    )
    .expect("index json");
    let refs = index["manifests"].as_array().expect("manifests");
    assert_eq!(refs.len(), 1, "{index}");
    assert_eq!(refs[0]["artifactType"], "application/vnd.in-toto+json");
    let referrer_digest = refs[0]["digest"].as_str().expect("referrer digest");
    assert_eq!(report["images"][0]["provenance"], referrer_digest);
    let referrer: Value = serde_json::from_str(
        &skopeo::raw_manifest(&reg, &format!("prov/app@{referrer_digest}")).expect("referrer"),
    )
    .expect("referrer json");
    assert_eq!(referrer["subject"]["digest"], digest.as_str());
    assert_eq!(
        referrer["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    let layer = referrer["layers"][0]["digest"].as_str().expect("layer");
    let statement: Value =
        serde_json::from_slice(&blob(&reg, "prov/app", layer)).expect("statement json");
    assert_eq!(
        statement["subject"][0]["digest"]["sha256"],
        digest.trim_start_matches("sha256:")
    );
    let text = statement.to_string();
    assert!(!text.contains("s3cr3t-value"), "{text}");
    let deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .expect("resolvedDependencies");
    assert_eq!(
        deps[0]["uri"],
        format!("git+https://git.example.com/shop/prov@{commit}")
    );
    assert_eq!(deps[0]["digest"]["gitCommit"], commit.as_str());
    let base = support::base_image();
    assert!(
        deps.iter()
            .any(|d| d["uri"] == format!("docker-image://{base}")
                && d["digest"]["sha256"].is_string()),
        "no base in {deps:?}"
    );

    // Another clone, its remote over https with credentials: the same content, so the
    // image is skipped, and nothing is attached or pushed.
    let two = tmp.path().join("two");
    support::git(
        tmp.path(),
        &["clone", "-q", dir.to_str().expect("utf-8"), "two"],
    );
    support::git(
        &two,
        &[
            "remote",
            "set-url",
            "origin",
            "https://ci:token@git.example.com/shop/prov.git",
        ],
    );
    let puts = reg.count_requests("PUT", "/v2/");
    let tags = skopeo::tags(&reg, "prov/app");
    let again = publish(&two, &reg, &tmp.path().join("r2.json"));
    assert_eq!(again["images"][0]["push"], "already-present", "{again}");
    assert!(again["images"][0].get("provenance").is_none(), "{again}");
    assert_eq!(
        reg.count_requests("PUT", "/v2/"),
        puts,
        "something was pushed"
    );
    assert_eq!(skopeo::tags(&reg, "prov/app"), tags);

    // Promote carries the referrer: the same manifest, under the destination's fallback tag.
    support::slipway()
        .insecure(&reg.host)
        .args([
            "promote",
            &format!("{}/prov/app:v1", reg.host),
            &format!("{}/prod/app", reg.host),
        ])
        .assert()
        .success();
    let promoted: Value = serde_json::from_str(
        &skopeo::raw_manifest(&reg, &format!("prod/app:{fallback}")).expect("promoted index"),
    )
    .expect("index json");
    assert_eq!(promoted["manifests"][0]["digest"], referrer_digest);
    assert!(skopeo::raw_manifest(&reg, &format!("prod/app@{referrer_digest}")).is_ok());

    // `promote --provenance=false`: the image alone, no fallback tag at the destination.
    support::slipway()
        .insecure(&reg.host)
        .args([
            "promote",
            "--provenance=false",
            &format!("{}/prov/app:v1", reg.host),
            &format!("{}/bare/app", reg.host),
        ])
        .assert()
        .success();
    assert_eq!(skopeo::tags(&reg, "bare/app"), vec!["v1".to_string()]);

    // `slipway ls` marks the fallback tag as a referrers index, not an image.
    let out = support::slipway()
        .args(["--insecure-registry", &reg.host, "ls"])
        .arg(format!("{}/prov/app", reg.host))
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains(&format!("{fallback}  (referrers of {digest})")),
        "{text}"
    );
    let out = support::slipway()
        .args(["--insecure-registry", &reg.host, "--json", "ls"])
        .arg(format!("{}/prov/app", reg.host))
        .assert()
        .success();
    let result = support::json_result(&out.get_output().stdout);
    assert_eq!(
        result["referrer_indexes"],
        serde_json::json!([fallback]),
        "{result}"
    );
}

/// `--provenance=false`: the image is pushed, nothing refers to it.
#[test]
fn provenance_false_attaches_nothing() {
    let reg = Registry::plain();
    let dir = tempfile::tempdir().expect("tmp");
    let werf = "project: noprov\nconfigVersion: 1\n---\nimage: app\nargs:\n  BASE: {{ env \"BASE_IMAGE\" }}\n";
    let dockerfile = "ARG BASE\nFROM ${BASE}\nRUN echo no-provenance > /p\n";
    support::write_tree(
        dir.path(),
        &[("werf.yaml", werf), ("Dockerfile", dockerfile)],
    );
    support::git_commit_all(dir.path());
    let report = dir.path().join("r.json");
    support::slipway()
        .base_image()
        .project(dir.path())
        .images_repo(&reg, "noprov")
        .args([
            "build-and-publish",
            "--tag-custom",
            "v1",
            "--provenance=false",
        ])
        .arg("--report-path")
        .arg(&report)
        .assert()
        .success();
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    assert_eq!(r["images"][0]["push"], "pushed", "{r}");
    assert!(r["images"][0].get("provenance").is_none(), "{r}");
    assert_eq!(skopeo::tags(&reg, "noprov/app"), vec!["v1"]);
}
