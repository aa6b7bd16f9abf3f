//! File helpers shared by modules that persist state (reports, caches).

use std::io::Write;
use std::path::Path;

/// Write `data` to `path` through a temp file in the same folder and a rename, so a reader
/// never sees half a file and a crash leaves the old one.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_whole_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("f.json");
        super::write_atomic(&p, b"one").expect("write");
        super::write_atomic(&p, b"two").expect("rewrite");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("ls").count(),
            1,
            "no temp left"
        );
        assert!(super::write_atomic(&dir.path().join("no/such/dir/f"), b"x").is_err());
    }
}
