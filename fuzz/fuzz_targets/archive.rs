#![no_main]
//! The archive reader on a tar file (first byte even) or an OCI layout directory (odd):
//! the rest split at NUL bytes into `index.json` and blobs stored under their digests;
//! `@N` in a part stands for the digest of part N after it, so that an index names a
//! manifest and a manifest its config and layers; a blob `->PATH` is a symlink to PATH
//! (inside or outside the layout).
use libfuzzer_sys::fuzz_target;
use sha2::Digest;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(dir) = tempfile::tempdir() else { return };
    if mode % 2 == 0 {
        let p = dir.path().join("x.tar");
        if std::fs::write(&p, rest).is_ok() {
            let _ = slipway::archive::read(&p);
        }
        return;
    }
    let layout = dir.path().join("layout");
    let blobs = layout.join("blobs/sha256");
    if std::fs::create_dir_all(&blobs).is_err()
        || std::fs::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).is_err()
    {
        return;
    }
    // Later parts first: a part's `@N` (N after it) is blob N's digest, so that a manifest
    // names its config and layers by what they really hash to.
    let parts: Vec<&[u8]> = rest.split(|b| *b == 0).take(10).collect();
    let mut digests = vec![String::new(); parts.len()];
    for i in (0..parts.len()).rev() {
        let mut text = String::from_utf8_lossy(parts[i]).into_owned();
        for j in (i + 1..parts.len()).rev() {
            text = text.replace(&format!("@{j}"), &format!("sha256:{}", digests[j]));
        }
        let bytes = if text.starts_with("->") {
            parts[i].to_vec()
        } else {
            text.into_bytes()
        };
        digests[i] = hex::encode(sha2::Sha256::digest(&bytes));
        let ok = if i == 0 {
            std::fs::write(layout.join("index.json"), &bytes).is_ok()
        } else if let Some(target) = bytes.strip_prefix(b"->") {
            let target = String::from_utf8_lossy(target).into_owned();
            std::os::unix::fs::symlink(target, blobs.join(&digests[i])).is_ok()
        } else {
            std::fs::write(blobs.join(&digests[i]), &bytes).is_ok()
        };
        if !ok {
            return;
        }
    }
    let _ = slipway::archive::read(&layout);
});
