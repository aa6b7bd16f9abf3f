//! The files Slipway itself writes into a project (reports, digest files): remembered per
//! project so that none of them, this run's or an earlier one's, counts in a signature.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::settings::Paths;

/// A per-project file in Slipway's cache folder.
pub(super) fn project_cache_file(
    project_dir: &Path,
    prefix: &str,
    paths: &Paths,
) -> Option<PathBuf> {
    let key = hex::encode(Sha256::digest(project_dir.to_string_lossy().as_bytes()));
    paths.project_cache_file(prefix, &key[..16])
}

/// Files Slipway wrote into the project on earlier runs (reports, digest files) that
/// still exist, plus `this_run`'s, resolved as [`output_paths`] does. A report left in the
/// project by yesterday's run must not change today's signature either.
pub fn outputs(project_dir: &Path, this_run: &[&Path], paths: &Paths) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = project_cache_file(project_dir, "outputs", paths)
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice::<Vec<PathBuf>>(&b).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.exists())
        .collect();
    for p in output_paths(this_run.iter().copied()) {
        if !all.contains(&p) {
            all.push(p);
        }
    }
    all
}

/// Remember `outputs` (from [`outputs`]) for later runs; best effort.
pub fn remember_outputs(project_dir: &Path, outputs: &[PathBuf], paths: &Paths) {
    let Some(file) = project_cache_file(project_dir, "outputs", paths) else {
        return;
    };
    let inside: Vec<&PathBuf> = outputs.iter().filter(|p| p.exists()).collect();
    if let (Some(d), Ok(data)) = (file.parent(), serde_json::to_vec(&inside)) {
        let _ = std::fs::create_dir_all(d);
        // Losing it only means an old report may count once more.
        let _ = crate::fsutil::write_atomic(&file, &data);
    }
}

/// Output files as [`compute`](super::compute) and the context walk compare them: absolute, with the
/// folder resolved (a relative `--report-path` is relative to the working directory).
pub fn output_paths<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Vec<PathBuf> {
    paths
        .into_iter()
        .filter_map(|p| {
            let abs = std::path::absolute(p).ok()?;
            let name = abs.file_name()?.to_owned();
            let dir = abs.parent()?;
            Some(
                std::fs::canonicalize(dir)
                    .unwrap_or_else(|_| dir.to_path_buf())
                    .join(name),
            )
        })
        .collect()
}
