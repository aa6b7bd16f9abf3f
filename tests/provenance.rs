//! Build provenance (issue 35): a published image's SLSA statement is found through the
//! OCI 1.1 fallback tag (Debian's registry has no referrers API), names the image as its
//! subject and lists the commit and the base; an unchanged image published again from
//! another clone (an https remote where the first had ssh) attaches and pushes nothing; the
//! report and `slipway inspect` show the referrer; promote carries it (`--move` takes the
//! source's fallback tag along); the OCI labels every image gets.

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
    // The OCI labels: the ssh remote as https, the image name, the project.
    let labels = &skopeo::config(&reg, "prov/app:v1").expect("config")["config"]["Labels"];
    assert_eq!(
        labels["org.opencontainers.image.source"], "https://git.example.com/shop/prov",
        "{labels}"
    );
    assert_eq!(labels["org.opencontainers.image.title"], "app", "{labels}");
    assert_eq!(
        labels["org.opencontainers.image.vendor"], "prov",
        "{labels}"
    );
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
    // `slipway inspect` lists it among the image's referrers, found through the tag schema.
    let out = support::slipway()
        .insecure(&reg.host)
        .args(["--json", "inspect", &format!("{}/prov/app:v1", reg.host)])
        .assert()
        .success();
    let inspected = support::json_result(&out.get_output().stdout);
    assert_eq!(inspected["referrers_source"], "tag-schema", "{inspected}");
    assert_eq!(
        inspected["referrers"][0]["digest"], referrer_digest,
        "{inspected}"
    );
    assert_eq!(
        inspected["referrers"][0]["artifact_type"],
        "application/vnd.in-toto+json"
    );
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

    // `promote --move`: the source's fallback tag (and the referrer it lists) goes with the
    // source tag; the plan says so first.
    let moving = [
        "promote".to_string(),
        "--move".to_string(),
        format!("{}/prod/app:v1", reg.host),
        format!("{}/live/app", reg.host),
    ];
    let out = support::slipway()
        .insecure(&reg.host)
        .args(&moving)
        .arg("--dry-run")
        .assert()
        .success();
    let plan = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        plan.contains(&format!(
            "delete {}/prod/app:{fallback} (referrers index)",
            reg.host
        )),
        "{plan}"
    );
    assert_eq!(
        skopeo::tags(&reg, "prod/app"),
        vec![fallback.clone(), "v1".to_string()]
    );
    let out = support::slipway()
        .insecure(&reg.host)
        .args(["--json"])
        .args(&moving)
        .assert()
        .success();
    let result = support::json_result(&out.get_output().stdout);
    assert_eq!(
        result["promoted"][0]["referrer_indexes_deleted"],
        serde_json::json!([fallback]),
        "{result}"
    );
    assert!(skopeo::tags(&reg, "prod/app").is_empty());
    assert!(skopeo::raw_manifest(&reg, &format!("prod/app@{referrer_digest}")).is_err());
    assert_eq!(
        skopeo::tags(&reg, "live/app"),
        vec![fallback.clone(), "v1".to_string()]
    );

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

/// `docker inspect`'s labels of a local image.
fn local_labels(image: &str) -> Value {
    let out = std::process::Command::new("/usr/bin/docker")
        .args(["inspect", "--format", "{{json .Config.Labels}}", image])
        .output()
        .expect("docker inspect");
    assert!(out.status.success(), "inspect {image}");
    serde_json::from_slice(&out.stdout).expect("labels json")
}

/// The OCI labels on a Dockerfile image (BuildKit and the classic builder) and a stapel
/// image: source from the ssh remote (normalized, port and user dropped), title, vendor; a
/// value the user wrote (werf.yaml `labels:`, a Dockerfile `LABEL` of the image's stage
/// chain, stapel's `docker.LABEL`) is kept. Changing the remote's form keeps the
/// signatures; a moved repository changes them, each platform's of a two-platform image too.
#[test]
fn oci_labels_on_dockerfile_and_stapel_images_the_users_own_kept() {
    let n = support::nonce();
    let werf = format!(
        "project: oci-labels\nconfigVersion: 1\n---\nimage: plain\ndockerfile: plain.Dockerfile\n---\nimage: mine\ndockerfile: mine.Dockerfile\nlabels:\n  org.opencontainers.image.source: https://example.org/mine\n---\nimage: st\nfrom: BASE\nshell:\n  setup: echo {n} > /st\ndocker:\n  LABEL:\n    org.opencontainers.image.title: stapel-title\n---\nimage: multi\ndockerfile: multi.Dockerfile\nplatform: [linux/amd64, linux/arm64]\n"
    );
    let plain = format!("FROM BASE_IMAGE\nRUN echo {n} > /plain\n");
    // A LABEL in a stage the image is built FROM reaches it; one in another stage does not.
    let mine = format!(
        "FROM BASE_IMAGE AS parent\nLABEL org.opencontainers.image.vendor=acme\nFROM BASE_IMAGE AS other\nLABEL org.opencontainers.image.title=other\nFROM parent\nRUN echo {n} > /mine\n"
    );
    let base = support::base_image();
    let d = support::based_project(
        &[
            ("plain.Dockerfile", &plain.replace("BASE_IMAGE", base)),
            ("mine.Dockerfile", &mine.replace("BASE_IMAGE", base)),
            (
                "multi.Dockerfile",
                "FROM scratch\nCOPY plain.Dockerfile /\n",
            ),
        ],
        &werf,
    );
    support::git(
        d.path(),
        &[
            "remote",
            "add",
            "origin",
            "ssh://git@git.example.com:2222/shop/labels.git",
        ],
    );
    // Every image's signature, and each platform's of the two-platform one (not built here).
    let sigs = |dir: &Path| {
        let out = support::slipway()
            .project(dir)
            .stapel()
            .args([
                "--images-repo",
                "reg.example.com/labels",
                "--json",
                "images",
            ])
            .assert()
            .success();
        let v = support::json_result(&out.get_output().stdout);
        let mut all = std::collections::BTreeMap::new();
        for i in v["images"].as_array().expect("images") {
            let name = i["name"].as_str().expect("name");
            all.insert(name.to_string(), i["signature"].to_string());
            for p in i["platforms"].as_array().into_iter().flatten() {
                all.insert(
                    format!("{name}@{}", p["platform"]),
                    p["signature"].to_string(),
                );
            }
        }
        all
    };
    let before = sigs(d.path());
    assert!(before.contains_key("multi@\"linux/arm64\""), "{before:?}");
    support::slipway()
        .project(d.path())
        .stapel()
        .args(["build", "--buildkit", "on", "plain", "mine", "st"])
        .assert()
        .success();
    let source = "https://git.example.com/shop/labels";
    let check = |image: &str, want: [&str; 3]| {
        let l = local_labels(&format!("oci-labels/{image}:latest"));
        for (key, want) in ["source", "title", "vendor"].iter().zip(want) {
            assert_eq!(
                l[format!("org.opencontainers.image.{key}")],
                want,
                "{image} {key}: {l}"
            );
        }
    };
    check("plain", [source, "plain", "oci-labels"]);
    check("mine", ["https://example.org/mine", "mine", "acme"]);
    check("st", [source, "stapel-title", "oci-labels"]);
    // The classic builder sets them too.
    support::slipway()
        .project(d.path())
        .args(["build", "--buildkit", "off", "--force", "plain", "mine"])
        .assert()
        .success();
    check("plain", [source, "plain", "oci-labels"]);
    check("mine", ["https://example.org/mine", "mine", "acme"]);

    // The same repository over https with credentials: the same signatures.
    support::git(
        d.path(),
        &[
            "remote",
            "set-url",
            "origin",
            "https://ci:token@git.example.com/shop/labels.git",
        ],
    );
    assert_eq!(sigs(d.path()), before);
    // Moved: every image's signature changes (its source label does).
    support::git(
        d.path(),
        &[
            "remote",
            "set-url",
            "origin",
            "git@git.example.org:moved/labels.git",
        ],
    );
    let moved = sigs(d.path());
    for (image, sig) in &before {
        assert_ne!(moved.get(image), Some(sig), "{image}");
    }
}

/// PUT `doc` (an OCI index) as `repo:tag`.
fn put_index(reg: &Registry, repo: &str, tag: &str, doc: &Value) {
    let url = format!("{}/v2/{repo}/manifests/{tag}", reg.url());
    support::block_on(async {
        let resp = reqwest::Client::new()
            .put(url)
            .header("Content-Type", "application/vnd.oci.image.index.v1+json")
            .body(doc.to_string())
            .send()
            .await
            .expect("PUT index");
        assert!(resp.status().is_success(), "{}", resp.status());
    });
}

fn sorted_tags(reg: &Registry, repo: &str) -> Vec<String> {
    let mut t = skopeo::tags(reg, repo);
    t.sort();
    t
}

/// A multi-platform image (an index of two published images, each with its own provenance):
/// promote carries each platform manifest's referrers; `promote --move` deletes the source's
/// fallback tags with it, except the one whose manifest another source tag still holds.
#[test]
fn promote_carries_each_platform_manifests_referrers_and_move_keeps_a_held_ones() {
    let reg = Registry::plain();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let n = support::nonce();
    let werf =
        "project: mp\nconfigVersion: 1\n---\nimage: app\nargs:\n  BASE: {{ env \"BASE_IMAGE\" }}\n";
    let publish = |tag: &str, content: &str| {
        support::write_tree(
            dir,
            &[
                ("werf.yaml", werf),
                ("Dockerfile", "ARG BASE\nFROM ${BASE}\nCOPY f /f\n"),
                ("f", content),
            ],
        );
        support::git_commit_all(dir);
        support::slipway()
            .base_image()
            .project(dir)
            .images_repo(&reg, "mp")
            .args(["build-and-publish", "--tag-custom", tag])
            .assert()
            .success();
        skopeo::digest(&reg, &format!("mp/app:{tag}")).expect("digest")
    };
    let a = publish("a", &format!("{n} amd64"));
    let b = publish("b", &format!("{n} arm64"));
    assert_ne!(a, b);
    let fallback = |d: &str| d.replacen(':', "-", 1);
    let referrer = |repo: &str, d: &str| -> String {
        let index: Value = serde_json::from_str(
            &skopeo::raw_manifest(&reg, &format!("{repo}:{}", fallback(d))).expect("fallback"),
        )
        .expect("index json");
        index["manifests"][0]["digest"]
            .as_str()
            .expect("referrer")
            .to_string()
    };
    let (ref_a, ref_b) = (referrer("mp/app", &a), referrer("mp/app", &b));
    let child = |d: &str, arch: &str| {
        let raw = skopeo::raw_manifest(&reg, &format!("mp/app@{d}")).expect("raw");
        let m: Value = serde_json::from_str(&raw).expect("json");
        serde_json::json!({
            "mediaType": m["mediaType"],
            "digest": d,
            "size": raw.len(),
            "platform": { "os": "linux", "architecture": arch },
        })
    };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [child(&a, "amd64"), child(&b, "arm64")],
    });
    put_index(&reg, "mp/app", "multi", &index);

    // Promote: both platform manifests' referrers, under the destination's fallback tags.
    let promote = |args: &[&str]| {
        let out = support::slipway()
            .insecure(&reg.host)
            .arg("--json")
            .arg("promote")
            .args(args)
            .assert()
            .success();
        support::json_result(&out.get_output().stdout)
    };
    promote(&[
        &format!("{}/mp/app:multi", reg.host),
        &format!("{}/prod/app", reg.host),
    ]);
    let mut want = vec![fallback(&a), fallback(&b), "multi".to_string()];
    want.sort();
    assert_eq!(sorted_tags(&reg, "prod/app"), want);
    assert_eq!(referrer("prod/app", &a), ref_a);
    assert_eq!(referrer("prod/app", &b), ref_b);
    // Platform a is also tagged on its own in prod/app.
    promote(&[
        &format!("{}/mp/app:a", reg.host),
        &format!("{}/prod/app:a", reg.host),
    ]);

    // --move: the index goes, so does b's fallback tag; a's stays, tag `a` holds a.
    let moved = promote(&[
        "--move",
        &format!("{}/prod/app:multi", reg.host),
        &format!("{}/live/app", reg.host),
    ]);
    assert_eq!(
        moved["promoted"][0]["referrer_indexes_deleted"],
        serde_json::json!([fallback(&b)]),
        "{moved}"
    );
    let mut kept = vec![fallback(&a), "a".to_string()];
    kept.sort();
    assert_eq!(sorted_tags(&reg, "prod/app"), kept);
    assert_eq!(referrer("prod/app", &a), ref_a);
    assert!(skopeo::raw_manifest(&reg, &format!("prod/app@{ref_b}")).is_err());
    // Issue 34: the index's platform manifest b went after it; a, which tag `a` holds,
    // stayed.
    assert_eq!(
        moved["promoted"][0]["platform_manifests_deleted"],
        serde_json::json!([b]),
        "{moved}"
    );
    assert!(skopeo::digest(&reg, &format!("prod/app@{b}")).is_err());
    assert_eq!(
        skopeo::digest(&reg, &format!("prod/app@{a}")).expect("a stays"),
        a
    );
    assert_eq!(sorted_tags(&reg, "live/app"), want);
    assert_eq!(referrer("live/app", &b), ref_b);
}
