//! Many runners, one registry: two publishes of one project at once, and a cleanup running
//! while a publish is under way.

use crate::support;

use std::path::Path;
use std::process::Command;

use support::{Registry, skopeo};

fn publish_cmd(dir: &Path, reg: &Registry, cache: &Path, report: &Path) -> Command {
    let mut c = support::slipway();
    c.base_image()
        .project(dir)
        // Each runner its own cache and Docker config.
        .env("XDG_CACHE_HOME", cache)
        .env("DOCKER_CONFIG", cache)
        .images_repo(reg, "shop")
        .args([
            "build-and-publish",
            "--tag-custom",
            "ci",
            "--tag-by-content",
            "--force",
            "--report-path",
        ])
        .arg(report);
    c.std()
}

#[test]
fn two_publishes_at_once_and_a_cleanup_meanwhile() {
    let _ = support::base_image();
    let reg = Registry::plain();
    let work = tempfile::tempdir().expect("tmp");
    let shop = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop");
    // A git checkout of the project, so cleanup has history to read.
    let dir = work.path().join("shop");
    let ok = Command::new("cp")
        .arg("-r")
        .arg(&shop)
        .arg(&dir)
        .status()
        .expect("cp");
    assert!(ok.success());
    for args in [
        vec!["init", "-q", "-b", "main"],
        vec!["add", "-A"],
        vec![
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "commit",
            "-qm",
            "x",
        ],
    ] {
        assert!(
            Command::new("git")
                .current_dir(&dir)
                .args(&args)
                .status()
                .expect("git")
                .success()
        );
    }
    let (c1, c2) = (work.path().join("c1"), work.path().join("c2"));
    let (r1, r2) = (work.path().join("r1.json"), work.path().join("r2.json"));
    let mut a = publish_cmd(&dir, &reg, &c1, &r1).spawn().expect("spawn a");
    let mut b = publish_cmd(&dir, &reg, &c2, &r2).spawn().expect("spawn b");
    // A scheduled cleanup fires while both publish.
    let cleanup = support::slipway()
        .env("XDG_CACHE_HOME", work.path().join("c3"))
        .arg("--dir")
        .arg(&dir)
        .args([
            "--images-repo",
            &format!("{}/shop", reg.host),
            "--insecure-registry",
            &reg.host,
            "cleanup",
        ])
        .output()
        .expect("cleanup");
    assert!(
        cleanup.status.success(),
        "{}",
        String::from_utf8_lossy(&cleanup.stderr)
    );
    assert!(a.wait().expect("wait a").success());
    assert!(b.wait().expect("wait b").success());
    let ra: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&r1).expect("r1")).expect("json");
    let rb: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&r2).expect("r2")).expect("json");
    for (ia, ib) in ra["images"]
        .as_array()
        .expect("a")
        .iter()
        .zip(rb["images"].as_array().expect("b"))
    {
        let name = ia["name"].as_str().expect("name");
        let sig = ia["signature"].as_str().expect("sig");
        assert_eq!(ia["signature"], ib["signature"]);
        // Every tag of the image resolves to one digest, which one of the runners reported
        // (both may have built it; the later writer's tags stand, runners that see the
        // content already published adopt it).
        let ci = skopeo::digest(&reg, &format!("shop/{name}:ci")).expect("ci tag");
        let by_sig = skopeo::digest(&reg, &format!("shop/{name}:{sig}")).expect("content tag");
        assert_eq!(ci, by_sig, "{name}: tags disagree");
        assert!(
            ia["digest"] == ci || ib["digest"] == ci,
            "{name}: {ci} reported by neither runner"
        );
        // Each report's pinned reference stays pullable.
        for r in [&ia, &ib] {
            let d = r["digest"].as_str().expect("digest");
            assert!(
                skopeo::digest(&reg, &format!("shop/{name}@{d}")).is_ok(),
                "{name}@{d} gone"
            );
        }
    }
}
