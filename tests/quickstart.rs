//! README's quick start, walked literally: its shell blocks run in order in a fresh
//! directory against the real daemon and a loopback registry (only the registry's port
//! differs from the text), and skopeo checks what was published.

use crate::support;

use std::path::Path;

use support::{Registry, skopeo};

/// The `sh` blocks of README's "Quick start" section, in order.
fn quick_start_blocks() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let start = readme
        .find("## Quick start")
        .expect("a Quick start section");
    let section = &readme[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |e| e + 3);
    let section = &section[..end];
    let mut blocks = Vec::new();
    let mut lines = section.lines();
    while let Some(l) = lines.next() {
        if l.trim() == "```sh" {
            let mut b = String::new();
            for l in lines.by_ref() {
                if l.trim() == "```" {
                    break;
                }
                b.push_str(l.trim_start());
                b.push('\n');
            }
            blocks.push(b);
        }
    }
    blocks
}

#[test]
fn readme_quick_start_works_as_written() {
    let blocks = quick_start_blocks();
    assert!(blocks.len() >= 4, "{blocks:?}");
    let text = blocks.concat();
    for step in [
        "slipway config validate",
        "slipway build",
        "--dry-run",
        "publish",
    ] {
        assert!(text.contains(step), "quick start lost `{step}`");
    }
    // The README's FROM image, made from the test base image (nothing can be pulled here).
    let from = text
        .lines()
        .find_map(|l| l.split("FROM ").nth(1))
        .and_then(|r| r.split("\\n").next())
        .expect("a FROM in the quick start")
        .to_string();
    let st = std::process::Command::new("/usr/bin/docker")
        .args(["tag", support::base_image(), &from])
        .status()
        .expect("docker tag");
    assert!(st.success());

    let reg = Registry::plain();
    let port = reg.host.rsplit(':').next().expect("port");
    let d = tempfile::tempdir().expect("tmp");
    let docker_config = d.path().join("docker-config");
    std::fs::create_dir_all(&docker_config).expect("mkdir");
    let mut script = String::from("set -eu\n");
    for b in &blocks {
        script.push_str(&b.replace("localhost:5000", &format!("localhost:{port}")));
    }
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(d.path())
        .env("PATH", support::command::path())
        .env("XDG_CACHE_HOME", d.path().join("cache"))
        .env("DOCKER_CONFIG", &docker_config)
        .env_remove("SLIPWAY_IMAGES_REPO")
        .env_remove("WERF_IMAGES_REPO")
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "quick start failed:\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    // What the README says is there now.
    let tags = skopeo::tags(&reg, "hello/hello");
    assert!(tags.contains(&"v1".to_string()), "{tags:?}");
    let sig_tag = tags.iter().find(|t| t.len() == 64).expect("content tag");
    assert_eq!(
        skopeo::digest(&reg, &format!("hello/hello:{sig_tag}")).expect("content"),
        skopeo::digest(&reg, "hello/hello:v1").expect("v1")
    );
    let cfg = skopeo::config(&reg, "hello/hello:v1").expect("config");
    assert_eq!(cfg["config"]["Cmd"], serde_json::json!(["sh", "/hello.sh"]));
    // "A second run builds nothing."
    let again = support::slipway()
        .args(["--json", "build"])
        .current_dir(d.path().join("hello"))
        .env("XDG_CACHE_HOME", d.path().join("cache"))
        .output()
        .expect("build again");
    let s = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{s}");
    assert!(s.contains("\"skipped\""), "{s}");
    assert!(!s.contains("\"event\":\"start\""), "{s}");
}
