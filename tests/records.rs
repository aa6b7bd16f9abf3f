//! Commit records: every publish at HEAD, a no-op one included, records in the registry
//! which commit published which image with which content signature; in both repo modes,
//! out of the images' own tags, and never touched by purge.

use crate::support;

use std::collections::BTreeSet;
use std::path::Path;

use support::{Registry, skopeo};

use support::git;

fn signatures(dir: &Path, reg: &Registry, mode: &str) -> Vec<(String, String)> {
    support::signatures(
        support::slipway()
            .project(dir)
            .images_repo(reg, "rec")
            .args(["--images-repo-mode", mode]),
    )
    .into_iter()
    .collect()
}

fn key(image: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(image.as_bytes())[..4])
}

fn records_in_both_modes(mode: &str) {
    let reg = Registry::plain();
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    let base = support::base_image();
    support::write_tree(
        dir,
        &[
            (
                "werf.yaml",
                "project: rec\nconfigVersion: 1\n---\nimage: api\ndockerfile: api.Dockerfile\n---\nimage: web\ndockerfile: web.Dockerfile\n",
            ),
            ("api.Dockerfile", &format!("FROM {base}\nCOPY api /api\n")),
            ("web.Dockerfile", &format!("FROM {base}\nCOPY web /web\n")),
            (
                "api/a.txt",
                &format!("{:?}\n", std::time::SystemTime::now()),
            ),
            (
                "web/w.txt",
                &format!("{:?}\n", std::time::SystemTime::now()),
            ),
            ("README.md", "one\n"),
        ],
    );
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "one"]);
    let c1 = git(dir, &["rev-parse", "HEAD"]);
    let publish = || {
        support::slipway()
            .project(dir)
            .images_repo(&reg, "rec")
            .args(["--images-repo-mode", mode])
            .args(["build-and-publish", "--tag-by-content"])
            .assert()
            .success();
    };
    publish();
    let sigs = signatures(dir, &reg, mode);

    // A README commit: nothing to build or push, yet the commit is recorded.
    std::fs::write(dir.join("README.md"), "two\n").expect("edit");
    git(dir, &["commit", "-qam", "two"]);
    let c2 = git(dir, &["rev-parse", "HEAD"]);
    let blobs = reg.count_requests("PUT", "/blobs/uploads/");
    publish();
    assert_eq!(signatures(dir, &reg, mode), sigs, "README does not count");
    let (meta_repo, prefix) = match mode {
        "monorepo" => ("rec", "slipway-meta-"),
        _ => ("rec/slipway-meta", ""),
    };
    let tags: BTreeSet<String> = skopeo::tags(&reg, meta_repo).into_iter().collect();
    for commit in [&c1, &c2] {
        for (name, sig) in &sigs {
            let want = format!("{prefix}r-{commit}-{}-{}", key(name), &sig[..24]);
            assert!(want.len() <= 128);
            assert!(tags.contains(&want), "{want} missing from {tags:?}");
        }
    }
    for (name, _) in &sigs {
        let t = format!("{prefix}i-{}", key(name));
        assert!(tags.contains(&t), "{t}");
        let cfg = skopeo::config(&reg, &format!("{meta_repo}:{t}")).expect("config");
        assert_eq!(
            cfg["config"]["Labels"]["slipway.record.image"],
            name.as_str()
        );
    }
    // Only the records' own tiny config travelled on the second run, no image blob.
    assert!(
        reg.count_requests("PUT", "/blobs/uploads/") <= blobs + 1,
        "blobs uploaded on a no-op publish"
    );
    // A third publish of the same commit writes nothing new.
    let manifests = reg.count_requests("PUT", "/manifests/");
    publish();
    assert_eq!(reg.count_requests("PUT", "/manifests/"), manifests);

    // Purge deletes the images' tags and leaves the records alone.
    support::slipway()
        .project(dir)
        .images_repo(&reg, "rec")
        .args(["--images-repo-mode", mode])
        .args(["purge", "--force"])
        .assert()
        .success();
    let after: BTreeSet<String> = skopeo::tags(&reg, meta_repo).into_iter().collect();
    let records: Vec<&String> = after
        .iter()
        .filter(|t| t.starts_with(&format!("{prefix}r-")))
        .collect();
    assert_eq!(records.len(), 4, "{after:?}");
    if mode == "monorepo" {
        assert!(after.iter().all(|t| t.starts_with(prefix)), "{after:?}");
    } else {
        assert!(skopeo::tags(&reg, "rec/api").is_empty());
    }
}

#[test]
fn publish_records_commits_multirepo() {
    records_in_both_modes("multirepo");
}

#[test]
fn publish_records_commits_monorepo() {
    records_in_both_modes("monorepo");
}
