//! Issue #42: a stapel dependant's `ImageName` is the dependency's content-signature
//! reference, so publishing under other tags (`--tag-custom v1`) pushes that content tag
//! too, and cleanup keeps it while a kept image names it.

use crate::support;

use std::path::Path;

use support::{Registry, skopeo};

const REPO: &str = "deptag";

fn yaml(a: &str, with_dependency: bool) -> String {
    let dependency = if with_dependency {
        "dependencies:\n- image: a\n  before: install\n  imports:\n  - {type: ImageName, targetEnv: A_NAME}\n  - {type: ImageTag, targetEnv: A_TAG}\n"
    } else {
        ""
    };
    // A keep policy no branch matches: every recorded tag is deleted unless kept otherwise.
    format!(
        "project: stapel-deptag\nconfigVersion: 1\ncleanup:\n  keepPolicies:\n  - references:\n      branch: ^no-such-branch$\n---\nimage: a\nfrom: BASE\nshell:\n  install: echo {a} > /a\n---\nimage: b\nfrom: BASE\n{dependency}shell:\n  install: echo \"$A_NAME\" > /a_name\n"
    )
    .replace("BASE", support::base_image())
}

/// `slipway ARGS` against the registry; stdout, asserted to succeed.
fn slipway(dir: &Path, reg: &Registry, args: &[&str]) -> String {
    let out = support::slipway()
        .project(dir)
        .stapel()
        .images_repo(reg, REPO)
        .args(args)
        .assert()
        .success();
    String::from_utf8_lossy(&out.get_output().stdout).to_string()
}

/// The image's tags, without provenance fallback tags.
fn tags(reg: &Registry, image: &str) -> Vec<String> {
    let mut t: Vec<String> = skopeo::tags(reg, &format!("{REPO}/{image}"))
        .into_iter()
        .filter(|t| !(t.starts_with("sha256-") && t.len() == 71))
        .collect();
    t.sort();
    t
}

fn env_of(reg: &Registry, image: &str, key: &str) -> Option<String> {
    let cfg = skopeo::config(reg, &format!("{REPO}/{image}")).expect("config");
    cfg["config"]["Env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| e.as_str())
        .find_map(|e| e.strip_prefix(&format!("{key}=")).map(str::to_string))
}

fn report(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("report");
    serde_json::from_str(&text).expect("json")
}

#[test]
fn a_named_dependency_content_tag_is_published_and_kept_while_a_kept_image_names_it() {
    let reg = Registry::plain();
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
        .to_string();
    let top = tempfile::tempdir().expect("tmp");
    let d = top.path().join("work");
    std::fs::create_dir_all(&d).expect("mkdir");
    std::fs::write(d.join("werf.yaml"), yaml(&run, true)).expect("werf.yaml");
    support::git_commit_all(&d);
    let report_path = top.path().join("report.json");
    let publish = [
        "build-and-publish",
        "--tag-custom",
        "v1",
        "--report-path",
        report_path.to_str().expect("utf-8"),
    ];

    // The plan says it: A's content tag is pushed for B.
    let plan = slipway(
        &d,
        &reg,
        &["build-and-publish", "--tag-custom", "v1", "--dry-run"],
    );
    assert!(
        plan.contains("published too: named by b (targetEnv A_NAME, A_TAG)"),
        "{plan}"
    );
    slipway(&d, &reg, &publish);
    let name = env_of(&reg, "b:v1", "A_NAME").expect("A_NAME");
    let sig1 = env_of(&reg, "b:v1", "A_TAG").expect("A_TAG");
    assert_eq!(name, format!("{}/{REPO}/a:{sig1}", reg.host));
    assert_eq!(tags(&reg, "a"), {
        let mut t = vec![sig1.clone(), "v1".to_string()];
        t.sort();
        t
    });
    // The reference B carries resolves, to A's v1 manifest.
    let a_v1 = skopeo::digest(&reg, &format!("{REPO}/a:v1")).expect("a:v1");
    let named = skopeo::digest(&reg, &format!("{REPO}/a:{sig1}")).expect("named tag");
    assert_eq!(named, a_v1);
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", &format!("docker://{name}")])
        .output()
        .expect("skopeo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&report_path);
    let a = r["images"]
        .as_array()
        .expect("images")
        .iter()
        .find(|i| i["name"] == "a")
        .cloned()
        .expect("a");
    assert_eq!(
        a["references"],
        serde_json::json!([format!("{}/{REPO}/a:v1", reg.host)])
    );
    assert_eq!(a["content_reference"], name.as_str());

    // A second run pushes nothing.
    slipway(&d, &reg, &publish);
    for i in report(&report_path)["images"].as_array().expect("images") {
        assert_eq!(i["push"], "already-present", "{i}");
    }

    // A changes and only A is published: v1 moves, the old content tag is named by b:v1
    // only. Cleanup keeping v1 keeps it, and says why.
    std::fs::write(d.join("werf.yaml"), yaml(&format!("{run}-2"), true)).expect("werf.yaml");
    support::git_commit_all(&d);
    slipway(&d, &reg, &["build-and-publish", "a", "--tag-custom", "v1"]);
    assert_ne!(
        skopeo::digest(&reg, &format!("{REPO}/a:v1")).expect("a:v1"),
        a_v1
    );
    let cleanup = [
        "cleanup",
        "--without-kube",
        "--min-age",
        "0s",
        "--keep-tag",
        "^v1$",
    ];
    let plan = slipway(&d, &reg, &[&cleanup[..], &["--dry-run"]].concat());
    let line = plan
        .lines()
        .find(|l| l.contains(&format!("/a:{sig1} ")))
        .unwrap_or_else(|| panic!("no line for the content tag:\n{plan}"));
    assert!(line.starts_with("keep"), "{plan}");
    assert!(
        line.contains(&format!("named by kept tag {}/{REPO}/b:v1", reg.host)),
        "{plan}"
    );
    slipway(&d, &reg, &cleanup);
    let mut want = vec![sig1.clone(), "v1".to_string()];
    want.sort();
    assert_eq!(tags(&reg, "a"), want);

    // B stops naming A: the old content tag follows the policies again, and goes.
    std::fs::write(d.join("werf.yaml"), yaml(&format!("{run}-2"), false)).expect("werf.yaml");
    support::git_commit_all(&d);
    slipway(&d, &reg, &["build-and-publish", "--tag-custom", "v1"]);
    assert_eq!(env_of(&reg, "b:v1", "A_NAME"), None);
    slipway(&d, &reg, &cleanup);
    assert_eq!(tags(&reg, "a"), vec!["v1".to_string()]);
}
