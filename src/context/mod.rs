//! Build contexts: Docker's `.dockerignore` rules, a deterministic walk of what survives
//! them, and a tar of it streamed to the daemon (never assembled in memory).
//!
//! The matcher is written here on `globset`: no maintained crate implements Docker's
//! semantics (moby/patternmatcher: last match wins, `!` re-includes, a pattern excludes a
//! path when it matches the path or any of its parents, no gitignore-style anchoring).

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{path}: {cause}")]
    Io { path: String, cause: String },
    #[error("{file}:{line}: invalid .dockerignore pattern {pattern:?}: {cause}")]
    Pattern {
        file: String,
        line: usize,
        pattern: String,
        cause: String,
    },
    #[error("{path}: symlink to {target:?} escapes the build context")]
    SymlinkEscape { path: String, target: String },
    #[error("{path}: file names must be UTF-8 to go into a build context")]
    NonUtf8 { path: String },
    #[error("contextAddFiles: {0:?} is not inside the context")]
    AddFile(String),
}

fn io(path: &Path, e: impl std::fmt::Display) -> ContextError {
    ContextError::Io {
        path: path.display().to_string(),
        cause: e.to_string(),
    }
}

struct Rule {
    matcher: GlobMatcher,
    exclude: bool,
}

/// A parsed `.dockerignore`.
#[derive(Default)]
pub struct Ignore {
    rules: Vec<Rule>,
    has_exceptions: bool,
}

impl Ignore {
    /// Parse `.dockerignore` text (`file` names it in errors).
    pub fn parse(text: &str, file: &str) -> Result<Ignore, ContextError> {
        let mut rules = Vec::new();
        let mut has_exceptions = false;
        // Docker drops a UTF-8 byte order mark (editors on Windows write one); kept, it
        // would make the first pattern match nothing.
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclude, pat) = match line.strip_prefix('!') {
                Some(p) => (false, p.trim()),
                None => (true, line),
            };
            has_exceptions |= !exclude;
            let pat = clean_pattern(pat);
            if pat.is_empty() {
                continue;
            }
            let glob = GlobBuilder::new(&pat)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| ContextError::Pattern {
                    file: file.to_string(),
                    line: i + 1,
                    pattern: line.to_string(),
                    cause: e.kind().to_string(),
                })?;
            rules.push(Rule {
                matcher: glob.compile_matcher(),
                exclude,
            });
        }
        Ok(Ignore {
            rules,
            has_exceptions,
        })
    }

    /// Read `DIR/.dockerignore` if there is one.
    pub fn load(dir: &Path) -> Result<Ignore, ContextError> {
        let p = dir.join(".dockerignore");
        match std::fs::read_to_string(&p) {
            Ok(t) => Ignore::parse(&t, &p.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ignore::default()),
            Err(e) => Err(io(&p, e)),
        }
    }

    /// Is `rel` (slash-separated, relative to the context) excluded?
    pub fn excluded(&self, rel: &str) -> bool {
        let mut excluded = false;
        for r in &self.rules {
            // A pattern matches a path or any of its parent directories.
            let mut hit = r.matcher.is_match(rel);
            let mut p = rel;
            while !hit && let Some(i) = p.rfind('/') {
                p = &p[..i];
                hit = r.matcher.is_match(p);
            }
            if hit {
                excluded = r.exclude;
            }
        }
        excluded
    }

    /// Can a directory that is excluded still hold re-included files?
    fn may_reinclude(&self) -> bool {
        self.has_exceptions
    }
}

/// The permission bits that count: git's two file modes, so a checkout under umask 0000
/// (GitLab runners) or 0077 gives the same signature and the same image.
pub fn normalized_mode(mode: u32) -> u32 {
    if mode & 0o111 != 0 { 0o755 } else { 0o644 }
}

/// filepath.Clean plus dropping a leading `/`, like Docker.
fn clean_pattern(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            x => parts.push(x),
        }
    }
    parts.join("/")
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File { size: u64 },
    Symlink { target: String },
}

/// One entry that goes into the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path inside the context, `/`-separated.
    pub rel: String,
    pub abs: PathBuf,
    /// Permission bits.
    pub mode: u32,
    pub kind: Kind,
}

/// Walk `dir` in a fixed order, keeping what `.dockerignore` keeps plus `add_files`
/// (werf's `contextAddFiles`). An excluded Dockerfile or `.dockerignore` is not kept, as
/// docker keeps it out of the build's files (the builder reads the Dockerfile all the same:
/// [`builder_files`]). `skip` are absolute paths of files Slipway writes itself (reports):
/// they never go in.
pub fn walk(
    dir: &Path,
    add_files: &[String],
    skip: &[PathBuf],
) -> Result<Vec<Entry>, ContextError> {
    let ignore = Ignore::load(dir)?;
    let keep_always = add_file_patterns(add_files)?;
    let forced = |rel: &str| {
        keep_always.iter().any(|k| {
            rel == k || rel.starts_with(&format!("{k}/")) || k.starts_with(&format!("{rel}/"))
        })
    };
    // `skip` holds resolved paths; compare with the resolved context folder.
    let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut out = Vec::new();
    let mut it = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
        .min_depth(1)
        .into_iter();
    while let Some(e) = it.next() {
        let e = e.map_err(|e| io(dir, e))?;
        let rel_path = e.path().strip_prefix(dir).map_err(|e| io(dir, e))?;
        let rel = rel_path
            .to_str()
            .ok_or_else(|| ContextError::NonUtf8 {
                path: e.path().display().to_string(),
            })?
            .replace('\\', "/");
        let ft = e.file_type();
        if !skip.is_empty() && skip.iter().any(|s| *s == canonical.join(rel_path)) {
            continue;
        }
        if ignore.excluded(&rel) && !forced(&rel) {
            if ft.is_dir()
                && !ignore.may_reinclude()
                && !keep_always
                    .iter()
                    .any(|k| k.starts_with(&format!("{rel}/")))
            {
                it.skip_current_dir();
            }
            continue;
        }
        let meta = e.path().symlink_metadata().map_err(|er| io(e.path(), er))?;
        #[cfg(unix)]
        let mode = {
            use std::os::unix::fs::PermissionsExt;
            meta.permissions().mode() & 0o7777
        };
        #[cfg(not(unix))]
        let mode = if meta.is_dir() { 0o755 } else { 0o644 };
        let kind = if ft.is_symlink() {
            symlink(e.path(), &rel)?
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File { size: meta.len() }
        } else {
            // Sockets, fifos and devices cannot go into a build context.
            continue;
        };
        out.push(Entry {
            rel,
            abs: e.path().to_path_buf(),
            mode,
            kind,
        });
    }
    Ok(out)
}

/// werf's `contextAddFiles`, cleaned into patterns; a path that leaves the context is an
/// error.
fn add_file_patterns(add_files: &[String]) -> Result<Vec<String>, ContextError> {
    let mut keep_always: Vec<String> = Vec::new();
    for a in add_files {
        let c = clean_pattern(a);
        if c.is_empty()
            || Path::new(a)
                .components()
                .any(|x| matches!(x, Component::ParentDir))
        {
            return Err(ContextError::AddFile(a.clone()));
        }
        keep_always.push(c);
    }
    Ok(keep_always)
}

/// The entry of the symlink at `path` (`rel` in the context), whose target must stay
/// inside the context.
fn symlink(path: &Path, rel: &str) -> Result<Kind, ContextError> {
    let target = std::fs::read_link(path).map_err(|er| io(path, er))?;
    let t = target.to_string_lossy().to_string();
    if target.is_relative() {
        // Resolve lexically from the link's folder; it must stay inside.
        let mut depth: i64 = rel.matches('/').count() as i64;
        for c in target.components() {
            match c {
                Component::ParentDir => depth -= 1,
                Component::Normal(_) => depth += 1,
                _ => {}
            }
            if depth < 0 {
                return Err(ContextError::SymlinkEscape {
                    path: path.display().to_string(),
                    target: t,
                });
            }
        }
    }
    Ok(Kind::Symlink { target: t })
}

/// The files docker sends the builder besides the context when `.dockerignore` excludes
/// them: the Dockerfile (`dockerfile`, relative to the context), which the builder must
/// read, and, for the classic builder, `.dockerignore` too: docker's CLI sends both, and
/// the daemon removes them from the context after reading the Dockerfile, when they match
/// `.dockerignore`, so neither reaches the image. BuildKit given a context tar applies no
/// `.dockerignore`: it gets only the Dockerfile.
pub fn builder_files(
    dir: &Path,
    entries: &[Entry],
    dockerfile: &str,
    classic: bool,
) -> Result<Vec<(String, Vec<u8>)>, ContextError> {
    let mut out = Vec::new();
    let kept = |rel: &str| entries.iter().any(|e| e.rel == rel);
    if !kept(dockerfile) {
        let p = dir.join(dockerfile);
        out.push((
            dockerfile.to_string(),
            std::fs::read(&p).map_err(|e| io(&p, e))?,
        ));
        let ignore = dir.join(".dockerignore");
        if classic && !kept(".dockerignore") && ignore.is_file() {
            out.push((
                ".dockerignore".to_string(),
                std::fs::read(&ignore).map_err(|e| io(&ignore, e))?,
            ));
        }
    }
    Ok(out)
}

/// Write the entries as a tar: zeroed times and owners and git's modes (0644, 0755 when
/// executable; folders 0755), so equal inputs give equal bytes and a checkout under
/// another umask gives the same image.
/// `extra` adds in-memory files (a Dockerfile from outside the context).
pub fn write_tar<W: Write>(
    w: W,
    entries: &[Entry],
    extra: &[(String, Vec<u8>)],
) -> Result<W, ContextError> {
    let mut b = tar::Builder::new(w);
    b.mode(tar::HeaderMode::Deterministic);
    let err = |p: &Path, e: std::io::Error| io(p, e);
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mode(match e.kind {
            Kind::Dir => 0o755,
            _ => normalized_mode(e.mode),
        });
        match &e.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, format!("{}/", e.rel), std::io::empty())
                    .map_err(|x| err(&e.abs, x))?;
            }
            Kind::File { .. } => {
                let f = std::fs::File::open(&e.abs).map_err(|x| err(&e.abs, x))?;
                let len = f.metadata().map_err(|x| err(&e.abs, x))?.len();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(len);
                b.append_data(&mut h, &e.rel, f)
                    .map_err(|x| err(&e.abs, x))?;
            }
            Kind::Symlink { target } => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, &e.rel, target)
                    .map_err(|x| err(&e.abs, x))?;
            }
        }
    }
    for (name, data) in extra {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, &data[..])
            .map_err(|x| err(Path::new(name), x))?;
    }
    b.into_inner().map_err(|x| err(Path::new("context"), x))
}

/// Stream the context tar: returns the receiving end and the writer thread's handle.
pub fn stream_tar(
    entries: Vec<Entry>,
    extra: Vec<(String, Vec<u8>)>,
) -> (
    tokio::sync::mpsc::Receiver<bytes::Bytes>,
    tokio::task::JoinHandle<Result<(), ContextError>>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let handle = tokio::task::spawn_blocking(move || {
        let w = write_tar(
            crate::pipe::ChannelWriter::new(tx, "the daemon stopped reading the context"),
            &entries,
            &extra,
        )?;
        let mut w = w;
        w.flush().map_err(|e| io(Path::new("context"), e))
    });
    (rx, handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_follows_dockers_documented_examples() {
        // From docs.docker.com "Dockerfile reference: .dockerignore file".
        let ig = Ignore::parse("# comment\n*/temp*\n*/*/temp*\ntemp?\n", "t").expect("parse");
        assert!(ig.excluded("somedir/temporary.txt"));
        assert!(ig.excluded("somedir/temp"));
        assert!(ig.excluded("somedir/subdir/temporary.txt"));
        assert!(ig.excluded("tempa"));
        assert!(!ig.excluded("temporary.txt"));
        assert!(!ig.excluded("a/b/c/temporary.txt"));
        let ig = Ignore::parse("*.md\n!README.md\n", "t").expect("parse");
        assert!(ig.excluded("CHANGES.md"));
        assert!(!ig.excluded("README.md"));
        let ig = Ignore::parse("*.md\n!README*.md\nREADME-secret.md\n", "t").expect("parse");
        assert!(ig.excluded("README-secret.md"));
        assert!(!ig.excluded("README-public.md"));
        let ig = Ignore::parse("*.md\nREADME-secret.md\n!README*.md\n", "t").expect("parse");
        assert!(!ig.excluded("README-secret.md"));
        let ig = Ignore::parse("**/*.go\n", "t").expect("parse");
        assert!(ig.excluded("a.go"));
        assert!(ig.excluded("x/y/z.go"));
        let ig = Ignore::parse("/docs\nnode_modules\n./build/\n", "t").expect("parse");
        assert!(ig.excluded("docs/a.md"));
        assert!(ig.excluded("node_modules/x/y.js"));
        assert!(ig.excluded("build/out"));
        assert!(!ig.excluded("src/node_modules"));
        assert!(!ig.excluded("src/docs/a"));
        let ig = Ignore::parse("**/*.md\n!shared/README.md\n", "t").expect("parse");
        assert!(ig.excluded("a/b.md"));
        assert!(!ig.excluded("shared/README.md"));
        assert!(Ignore::parse("[", "f").is_err());
    }

    #[test]
    fn walk_is_filtered_sorted_and_tar_is_deterministic() {
        let d = tempfile::tempdir().expect("tmp");
        let root = d.path();
        for (p, c) in [
            ("b.txt", "b"),
            ("a/z.txt", "z"),
            ("a/y.log", "y"),
            ("secret/k", "k"),
            (".dockerignore", "*.log\n**/*.log\nsecret\n"),
        ] {
            let f = root.join(p);
            std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
            std::fs::write(f, c).expect("write");
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink("b.txt", root.join("link")).expect("symlink");
        let entries = walk(root, &[], &[]).expect("walk");
        let names: Vec<&str> = entries.iter().map(|e| e.rel.as_str()).collect();
        assert_eq!(
            names,
            vec![".dockerignore", "a", "a/z.txt", "b.txt", "link"]
        );
        let again = walk(root, &["a/y.log".into()], &[]).expect("walk");
        assert!(again.iter().any(|e| e.rel == "a/y.log"));
        let t1 = write_tar(Vec::new(), &entries, &[]).expect("tar");
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(root.join("b.txt"), "b").expect("touch");
        let t2 = write_tar(Vec::new(), &walk(root, &[], &[]).expect("walk"), &[]).expect("tar");
        assert_eq!(t1, t2);
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("../../etc/passwd", root.join("a/evil")).expect("symlink");
            let e = walk(root, &[], &[]).expect_err("escape");
            assert!(e.to_string().contains("escapes the build context"), "{e}");
        }
    }
}
