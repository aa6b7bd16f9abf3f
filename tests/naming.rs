//! `slipway images`, `slipway slugify` and content signatures, from the command line.

use crate::support;

use std::path::Path;

fn images(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let out = support::slipway()
        .project(dir)
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .args(["--json", "images"])
        .args(extra)
        .assert()
        .success();
    support::json_result(&out.get_output().stdout)
}

fn sig(v: &serde_json::Value, name: &str) -> String {
    v["images"]
        .as_array()
        .expect("images")
        .iter()
        .find(|i| i["name"] == name)
        .and_then(|i| i["signature"].as_str())
        .expect("signature")
        .to_string()
}

#[test]
fn images_json_on_the_examples_has_the_documented_shape() {
    let shop = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop");
    let v = images(
        &shop,
        &[
            "--images-repo",
            "r.example.com/shop",
            "--tag-custom",
            "v1",
            "--tag-by-content",
        ],
    );
    let list = v["images"].as_array().expect("images");
    assert_eq!(list.len(), 3);
    let b = &list[0];
    assert_eq!(b["name"], "backend");
    assert_eq!(b["repository"], "r.example.com/shop/backend");
    let s = b["signature"].as_str().expect("sig");
    assert_eq!(s.len(), 64);
    assert_eq!(
        b["references"],
        serde_json::json!([
            format!("r.example.com/shop/backend:v1"),
            format!("r.example.com/shop/backend:{s}")
        ])
    );
    let hello = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello");
    let v = images(
        &hello,
        &[
            "--images-repo",
            "r.example.com/hello",
            "--images-repo-mode",
            "monorepo",
            "--tag-git-branch",
            "feature/x",
        ],
    );
    assert!(v["images"][0]["name"].is_null());
    let r = v["images"][0]["references"][0].as_str().expect("ref");
    assert!(r.starts_with("r.example.com/hello:feature-x-"), "{r}");
}

#[test]
fn signatures_follow_content_not_time_or_ignored_files() {
    let d = tempfile::tempdir().expect("tmp");
    support::write_tree(
        d.path(),
        &[
            (
                "werf.yaml",
                "project: sig\nconfigVersion: 1\n---\nimage: a\ncontext: a\nargs: {X: \"1\"}\n---\nimage: b\ncontext: b\ndependencies: [{image: a, imports: [{type: ImageName, targetBuildArg: A}]}]\n---\nimage: c\ncontext: c\n",
            ),
            ("a/Dockerfile", "FROM scratch\nCOPY . /\n"),
            ("a/file.txt", "one\n"),
            ("a/.dockerignore", "*.tmp\n"),
            ("a/junk.tmp", "junk\n"),
            ("b/Dockerfile", "ARG A\nFROM $A\n"),
            ("c/Dockerfile", "FROM scratch\n"),
        ],
    );
    let first = images(d.path(), &[]);
    // Same content elsewhere: same signatures (no absolute paths).
    let copy = tempfile::tempdir().expect("tmp");
    for rel in [
        "werf.yaml",
        "a/Dockerfile",
        "a/file.txt",
        "a/.dockerignore",
        "a/junk.tmp",
        "b/Dockerfile",
        "c/Dockerfile",
    ] {
        let to = copy.path().join(rel);
        std::fs::create_dir_all(to.parent().expect("p")).expect("mkdir");
        std::fs::copy(d.path().join(rel), to).expect("copy");
    }
    assert_eq!(images(copy.path(), &[]), first);
    // mtime and ignored files: unchanged.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(d.path().join("a/file.txt"), "one\n").expect("touch");
    std::fs::write(d.path().join("a/junk.tmp"), "other junk\n").expect("edit ignored");
    assert_eq!(images(d.path(), &[]), first);
    // A context file: a and its dependant b change, c does not.
    std::fs::write(d.path().join("a/file.txt"), "two\n").expect("edit");
    let second = images(d.path(), &[]);
    assert_ne!(sig(&second, "a"), sig(&first, "a"));
    assert_ne!(sig(&second, "b"), sig(&first, "b"));
    assert_eq!(sig(&second, "c"), sig(&first, "c"));
    // An arg.
    std::fs::write(
        d.path().join("werf.yaml"),
        std::fs::read_to_string(d.path().join("werf.yaml"))
            .expect("read")
            .replace("X: \"1\"", "X: \"2\""),
    )
    .expect("write");
    let third = images(d.path(), &[]);
    assert_ne!(sig(&third, "a"), sig(&second, "a"));
    assert_ne!(sig(&third, "b"), sig(&second, "b"));
    // The dependency's Dockerfile.
    std::fs::write(
        d.path().join("a/Dockerfile"),
        "FROM scratch\nCOPY . /app/\n",
    )
    .expect("edit");
    let fourth = images(d.path(), &[]);
    assert_ne!(sig(&fourth, "b"), sig(&third, "b"));
    assert_eq!(sig(&fourth, "c"), sig(&first, "c"));
}

#[test]
fn slugify_prints_werf_slugs() {
    let out = support::slipway()
        .args(["slugify", "feature/x"])
        .assert()
        .success();
    let s = String::from_utf8_lossy(&out.get_output().stdout)
        .trim()
        .to_string();
    assert!(s.starts_with("feature-x-") && s.len() > 10, "{s}");
    let out = support::slipway()
        .args([
            "slugify",
            "--format",
            "helm-release",
            "Very_Long_Release_Name_That_Is_Definitely_Longer_Than_53_Chars",
        ])
        .assert()
        .success();
    assert!(
        String::from_utf8_lossy(&out.get_output().stdout)
            .trim()
            .len()
            <= 53
    );
    // A usage error (clap lists the formats).
    let out = support::slipway()
        .args(["slugify", "--format", "nope", "x"])
        .assert()
        .code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("kubernetes-namespace"));
}
