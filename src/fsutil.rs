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

/// Append `data` to `path` (created if missing), after a line break when the file does not
/// end with one, so the first new line is not glued to the file's last. For files another
/// program owns and reads by line (GitHub's `$GITHUB_ENV`, `$GITHUB_OUTPUT`): they must
/// keep their inode and earlier lines, which a rename would not.
pub fn append_lines(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    let len = f.metadata()?.len();
    let mut last = [0u8; 1];
    if len > 0 {
        f.seek(SeekFrom::Start(len - 1))?;
        f.read_exact(&mut last)?;
    }
    // One write: the file is opened O_APPEND, so the bytes land at its end whatever the seek.
    let mut buf = Vec::with_capacity(data.len() + 1);
    if len > 0 && last[0] != b'\n' {
        buf.push(b'\n');
    }
    buf.extend_from_slice(data);
    f.write_all(&buf)
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

    #[test]
    fn append_lines_keeps_the_file_and_ends_its_last_line() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("env");
        super::append_lines(&p, b"A=1\n").expect("create");
        std::fs::write(&p, b"A=1\nB=2").expect("unterminated");
        super::append_lines(&p, b"C=3\n").expect("append");
        assert_eq!(
            std::fs::read_to_string(&p).expect("read"),
            "A=1\nB=2\nC=3\n"
        );
        super::append_lines(&p, b"D=4\n").expect("append");
        assert_eq!(
            std::fs::read_to_string(&p).expect("read"),
            "A=1\nB=2\nC=3\nD=4\n"
        );
    }
}
