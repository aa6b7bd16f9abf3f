//! Bad input never panics and always ends in a clear error: random bytes into every parser
//! (reference, .dockerignore, werf.yaml rendering and loading, image archives), plus the
//! classic hostile inputs (YAML alias bombs, deep nesting, huge lines, non-UTF-8 paths).
//! The `fuzz/` targets run the same entry points under libFuzzer for longer.

use crate::support;

use std::path::Path;

use proptest::prelude::*;
use slipway::config::{self, Rendered};
use slipway::context::Ignore;
use slipway::registry::reference::Reference;

fn rendered(text: &str) -> Rendered {
    Rendered {
        path: Path::new("/nonexistent/werf.yaml").to_path_buf(),
        dir: Path::new("/nonexistent").to_path_buf(),
        text: text.to_string(),
        origins: Default::default(),
        werf_version: None,
        werf_by_key: false,
        giterminism: Default::default(),
        monorepo: false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn reference_parser_never_panics_and_round_trips(s in "\\PC{0,80}|[a-z0-9./:@_-]{0,80}") {
        if let Ok(r) = Reference::parse(&s) {
            let again = Reference::parse(&r.to_string()).expect("a parsed reference prints as a valid one");
            prop_assert_eq!(again, r);
        }
    }

    #[test]
    fn dockerignore_never_panics(text in "\\PC{0,200}", path in "[a-z/.*!]{0,40}") {
        if let Ok(ig) = Ignore::parse(&text, ".dockerignore") {
            let _ = ig.excluded(&path);
        }
    }

    #[test]
    fn yaml_loader_never_panics(text in "\\PC{0,300}|(project|image|configVersion|args|---|\\n|: |- |\\{|\\}|\\[|\\]|~|&a|\\*a| ){0,60}") {
        let _ = config::load::parse(&rendered(&text));
    }

    #[test]
    fn template_renderer_never_panics(text in "(\\{\\{|\\}\\}|-| |\\.|\\$|env|set|include|tpl|if|end|range|\"x\"|:=|\\||[a-z]){0,60}") {
        let input = config::render::RenderInput { dir: std::env::temp_dir(), ..Default::default() };
        let _ = config::render::render("werf.yaml", &text, &input);
    }

    #[test]
    fn archive_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("x.tar");
        std::fs::write(&p, &bytes).expect("write");
        let _ = slipway::archive::read(&p);
    }

    /// OCI layout directories: a well-formed layout (index, manifest, config, layers) with
    /// one part cut short or one byte changed, blobs of any media type, and blobs that are
    /// symlinks inside or outside the layout. Never a panic; a symlink out is never read.
    #[test]
    fn oci_layout_reader_never_panics(
        layers in proptest::collection::vec(
            ("(tar|tar\\+gzip|tar\\+zstd|json)", proptest::collection::vec(any::<u8>(), 0..64), 0..4u8),
            0..4,
        ),
        diff_ids in 0..5usize,
        damage in (0..10usize, any::<usize>(), any::<u8>(), any::<bool>()),
    ) {
        let mut parts = vec![
            r#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"@1","size":1}]}"#.to_string(),
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"@2","size":1}},"layers":[{}]}}"#,
                (0..layers.len())
                    .map(|i| format!(r#"{{"mediaType":"application/vnd.oci.image.layer.v1.{}","digest":"@{}","size":1}}"#, layers[i].0, i + 3))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            format!(
                r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
                (0..diff_ids).map(|i| format!(r#""sha256:{:064x}""#, i)).collect::<Vec<_>>().join(",")
            ),
        ];
        for (_, bytes, link) in &layers {
            parts.push(match link {
                1 => "->/etc/passwd".to_string(),
                2 => "->../../oci-layout".to_string(),
                _ => String::from_utf8_lossy(bytes).into_owned(),
            });
        }
        let (which, at, byte, cut) = damage;
        if let Some(p) = parts.get_mut(which) {
            let mut b = std::mem::take(p).into_bytes();
            if !b.is_empty() {
                let at = at % b.len();
                if cut { b.truncate(at) } else { b[at] = byte }
            }
            *p = String::from_utf8_lossy(&b).into_owned();
        }
        let dir = tempfile::tempdir().expect("tmp");
        let layout = layout_from_parts(dir.path(), &parts);
        if let Ok(images) = slipway::archive::read(&layout) {
            for i in images {
                for l in i.layers {
                    if let slipway::registry::BlobSource::File { path, .. } = l.source {
                        let real = path.canonicalize().expect("a blob read is there");
                        prop_assert!(real.starts_with(layout.canonicalize().expect("real")), "{}", real.display());
                    }
                }
            }
        }
    }
}

/// An OCI layout in `dir` from parts (as the `archive` fuzz target builds one): part 0 is
/// `index.json`, the others blobs under their digests, later parts first so that `@N` in
/// a part is blob N's digest; a part `->PATH` is a symlink to PATH.
fn layout_from_parts(dir: &Path, parts: &[String]) -> std::path::PathBuf {
    use sha2::Digest;
    let layout = dir.join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir");
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("write");
    let mut digests = vec![String::new(); parts.len()];
    for i in (0..parts.len()).rev() {
        let mut text = parts[i].clone();
        for j in (i + 1..parts.len()).rev() {
            text = text.replace(&format!("@{j}"), &format!("sha256:{}", digests[j]));
        }
        digests[i] = hex::encode(sha2::Sha256::digest(text.as_bytes()));
        let blob = blobs.join(&digests[i]);
        // A target the system refuses (empty, a NUL) makes the part a file.
        let linked = i > 0
            && text
                .strip_prefix("->")
                .is_some_and(|t| std::os::unix::fs::symlink(t, &blob).is_ok());
        if i == 0 {
            std::fs::write(layout.join("index.json"), &text).expect("write");
        } else if !linked {
            std::fs::write(&blob, &text).expect("write");
        }
    }
    layout
}

fn validate(dir: &Path, yaml: &str) -> (i32, String) {
    std::fs::write(dir.join("werf.yaml"), yaml).expect("write");
    let out = support::slipway()
        .arg("--dir")
        .arg(dir)
        .args(["config", "validate"])
        .timeout(std::time::Duration::from_secs(30))
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn hostile_yaml_is_an_error_not_a_crash() {
    let d = tempfile::tempdir().expect("tmp");
    // Billion laughs.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n",
            p = i - 1
        ));
    }
    let (code, err) = validate(d.path(), &format!("project: x\nconfigVersion: 1\n{bomb}"));
    assert_eq!(code, 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // Deep nesting.
    let deep = format!(
        "project: x\nconfigVersion: 1\nbuild: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let (code, err) = validate(d.path(), &deep);
    assert_eq!(code, 1, "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("overflow"),
        "{err}"
    );
    // A huge line.
    let (code, err) = validate(
        d.path(),
        &format!(
            "project: x\nconfigVersion: 1\nbogus: {}\n",
            "y".repeat(5_000_000)
        ),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("unknown key `bogus`"),
        "{}",
        &err[..err.len().min(300)]
    );
    // Invalid UTF-8.
    std::fs::write(
        d.path().join("werf.yaml"),
        b"project: \xff\xfe\nconfigVersion: 1\n",
    )
    .expect("write");
    let out = support::slipway()
        .arg("--dir")
        .arg(d.path())
        .args(["config", "validate"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn non_utf8_paths_in_a_context_are_a_clear_error() {
    use std::os::unix::ffi::OsStrExt;
    let d = tempfile::tempdir().expect("tmp");
    support::write_tree(
        d.path(),
        &[
            (
                "werf.yaml",
                "project: x\nconfigVersion: 1\n---\nimage: app\n",
            ),
            ("Dockerfile", "FROM scratch\n"),
        ],
    );
    std::fs::write(
        d.path().join(std::ffi::OsStr::from_bytes(b"bad-\xff-name")),
        "x",
    )
    .expect("write");
    let out = support::slipway()
        .env("XDG_CACHE_HOME", d.path().with_extension("cache"))
        .arg("--dir")
        .arg(d.path())
        .args(["images"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("must be UTF-8"), "{err}");
}

#[test]
fn an_oci_layout_whose_manifest_digest_lies_is_refused_before_any_push() {
    let reg = support::Registry::plain();
    let d = tempfile::tempdir().expect("tmp");
    let layout = d.path().join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir");
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("w");
    let manifest = br#"{"schemaVersion":2,"config":{"digest":"sha256:aa","size":1},"layers":[]}"#;
    // Stored under a name that is not its sha256.
    let lie = "0".repeat(64);
    std::fs::write(blobs.join(&lie), manifest).expect("w");
    std::fs::write(
        layout.join("index.json"),
        format!(r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{lie}","size":{}}}]}}"#, manifest.len()),
    )
    .expect("w");
    let out = support::slipway()
        .args(["--insecure-registry", &reg.host, "push-archive"])
        .arg(&layout)
        .arg(format!("{}/lie/app:v1", reg.host))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("corrupt") && err.contains(&lie), "{err}");
    assert_eq!(reg.count_requests("PUT", ""), 0);
    assert_eq!(reg.count_requests("POST", ""), 0);
}
