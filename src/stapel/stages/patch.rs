//! Patch steps: the files a commit range changed in each mapping, copied in and deleted
//! (werf's git patches, as COPY and toolbox `rm`).

use std::collections::BTreeSet;

use super::*;

/// What a patch step does, gathered over the mappings.
#[derive(Default)]
struct PatchParts {
    files: Vec<TarEntry>,
    deleted: Vec<String>,
    /// Directories a deletion may have left empty.
    dirs: BTreeSet<String>,
    copies: Vec<String>,
}

/// The Dockerfile lines and context files of a patch step from commit `from` to `to`:
/// deleted paths removed (and directories the deletion left empty), then added and
/// changed files copied with the mapping's owner. `key` names the step in the context.
pub(in crate::stapel) fn patch_step(
    repo: &git2::Repository,
    st: &StapelRecipe,
    from: git2::Oid,
    to: git2::Oid,
    key: &str,
    toolbox_mount: &str,
) -> Result<(Vec<String>, Vec<TarEntry>), StapelError> {
    let tree_of = |c: git2::Oid| {
        repo.find_commit(c)
            .and_then(|c| c.tree())
            .map_err(|e| GitError::Commit {
                commit: c,
                message: e.message().to_string(),
            })
    };
    let (old_tree, new_tree) = (tree_of(from)?, tree_of(to)?);
    let mut parts = PatchParts::default();
    for (n, m) in st.git.iter().enumerate() {
        if m.remote.is_none() {
            patch_mapping(repo, (&old_tree, &new_tree), n, m, key, &mut parts)?;
        }
    }
    let mut lines = Vec::new();
    if !parts.deleted.is_empty() {
        let mut argv = vec![
            format!("{TOOLBOX_DIR}/embedded/bin/rm"),
            "-rf".into(),
            "--".into(),
        ];
        argv.extend(parts.deleted);
        lines.push(format!("RUN {toolbox_mount} {}", json_list(&argv)));
    }
    if !parts.dirs.is_empty() {
        // Deepest first, so a parent emptied by its children goes too.
        let mut dirs: Vec<String> = parts.dirs.into_iter().collect();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
        let mut argv = vec![
            crate::stapel::BASH.to_string(),
            "-c".into(),
            format!(
                "for d in \"$@\"; do {TOOLBOX_DIR}/embedded/bin/rmdir \"$d\" 2>/dev/null || true; done"
            ),
            "rmdir-empty".into(),
        ];
        argv.extend(dirs);
        lines.push(format!("RUN {toolbox_mount} {}", json_list(&argv)));
    }
    lines.extend(parts.copies);
    Ok((lines, parts.files))
}

/// One local mapping's part of a patch step between the (old, new) trees.
fn patch_mapping(
    repo: &git2::Repository,
    (old_tree, new_tree): (&git2::Tree<'_>, &git2::Tree<'_>),
    n: usize,
    m: &GitMapping,
    key: &str,
    parts: &mut PatchParts,
) -> Result<(), StapelError> {
    // An `add` path missing at one side lists as empty there.
    let old = git::list(repo, old_tree, m)
        .map(|t| t.files)
        .unwrap_or_default();
    let new = git::list(repo, new_tree, m).map_err(|cause| StapelError::Mapping {
        at: m.at.clone(),
        index: n,
        cause,
    })?;
    let old_map: BTreeMap<&str, (git2::Oid, i32)> = old
        .iter()
        .map(|f| (f.rel.as_str(), (f.oid, f.mode)))
        .collect();
    let new_names: BTreeSet<&str> = new.files.iter().map(|f| f.rel.as_str()).collect();
    let to_dir = m.to.trim_end_matches('/');
    for f in &old {
        if new_names.contains(f.rel.as_str()) {
            continue;
        }
        if new.single_file {
            parts.deleted.push(m.to.clone());
            continue;
        }
        parts.deleted.push(format!("{to_dir}/{}", f.rel));
        let mut p = f.rel.as_str();
        while let Some((d, _)) = p.rsplit_once('/') {
            parts.dirs.insert(format!("{to_dir}/{d}"));
            p = d;
        }
    }
    let changed: Vec<&git::GitFile> = new
        .files
        .iter()
        .filter(|f| old_map.get(f.rel.as_str()) != Some(&(f.oid, f.mode)))
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    let dir = format!(".slipway/patch/{key}/{n}");
    for f in &changed {
        parts
            .files
            .push(TarEntry::git(&format!("{dir}/{}", f.rel), f));
    }
    let (src, dest) = if new.single_file {
        let name = changed.first().map(|f| f.rel.clone()).unwrap_or_default();
        (format!("{dir}/{name}"), m.to.clone())
    } else {
        (format!("{dir}/"), format!("{to_dir}/"))
    };
    parts.copies.push(format!(
        "COPY{} [{}, {}]",
        chown(&m.owner, &m.group),
        json(&src),
        json(&dest)
    ));
    Ok(())
}
