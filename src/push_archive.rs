//! `push-archive`: push images from docker-save tarballs or OCI layouts, no daemon needed.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::archive::{self, ArchiveError};
use crate::registry::reference::{Reference, ReferenceError, Repository};
use crate::registry::{Client, RegistryError};
use crate::transfer::plan::CopyPlan;
use crate::transfer::push::{PushError, PushOptions, PushReport, PushTarget, Session};
use crate::transfer::source::{self, archive::ArchiveSource};

#[derive(Debug, thiserror::Error)]
pub enum ArchivePushError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Push(#[from] PushError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{0}")]
    Usage(String),
}

/// One archive to push, resolved (the plan).
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub file: PathBuf,
    pub repository: String,
    pub tags: Vec<String>,
    #[serde(skip)]
    repo: Option<Repository>,
}

/// Resolve files + reference + extra tags into jobs. With one file, `reference` is the
/// image reference; with several, it is a repository and each file goes to
/// `REPOSITORY/<file stem>`.
pub fn plan(
    files: &[PathBuf],
    reference: &str,
    extra_tags: &[String],
) -> Result<Vec<Job>, ArchivePushError> {
    for t in extra_tags {
        if !crate::registry::reference::valid_tag(t) {
            return Err(ArchivePushError::Usage(format!(
                "--tag {t:?} is not a valid tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})"
            )));
        }
    }
    let mut jobs = Vec::new();
    for f in files {
        let r = if files.len() == 1 {
            Reference::parse(reference)?
        } else {
            let stem = f
                .file_name()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let stem = stem
                .trim_end_matches(".tar")
                .trim_end_matches(".tar.gz")
                .to_lowercase();
            Reference::parse(&format!("{}/{stem}", reference.trim_end_matches('/')))?
        };
        if r.digest.is_some() {
            return Err(ArchivePushError::Usage(format!(
                "{reference}: push to a tag, not a digest"
            )));
        }
        let mut tags: Vec<String> = r.tag.iter().cloned().collect();
        for t in extra_tags {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        if tags.is_empty() {
            tags.push("latest".to_string());
        }
        jobs.push(Job {
            file: f.clone(),
            repository: r.repository.to_string(),
            tags,
            repo: Some(r.repository),
        });
    }
    Ok(jobs)
}

/// One pushed archive.
#[derive(Debug, Clone, Serialize)]
pub struct Pushed {
    pub file: PathBuf,
    pub repository: String,
    pub tags: Vec<String>,
    #[serde(flatten)]
    pub report: PushReport,
}

/// Read every job's archive (and check it) before anything is pushed.
async fn read_all(
    jobs: &[Job],
    image: Option<&str>,
) -> Result<Vec<(ArchiveSource, PushTarget)>, ArchivePushError> {
    let mut out = Vec::new();
    for j in jobs {
        let file = j.file.clone();
        let name = image.map(str::to_string);
        let img = tokio::task::spawn_blocking(move || {
            archive::read(&file).and_then(|all| archive::select(&file, all, name.as_deref()))
        })
        .await
        .map_err(|e| ArchivePushError::Usage(e.to_string()))??;
        let repository = j
            .repo
            .clone()
            .ok_or_else(|| ArchivePushError::Usage("unresolved job".into()))?;
        out.push((
            ArchiveSource {
                image: img,
                label: j.file.display().to_string(),
            },
            PushTarget {
                repository,
                tags: j.tags.clone(),
            },
        ));
    }
    Ok(out)
}

/// Every job's copy plan, asking the registry what it holds (`--dry-run`: nothing is
/// written).
pub async fn plan_all(
    client: &Client,
    jobs: &[Job],
    image: Option<&str>,
    opts: &PushOptions,
) -> Result<Vec<CopyPlan>, ArchivePushError> {
    let mut plans = Vec::new();
    for (src, target) in read_all(jobs, image).await? {
        let session = Session::open(client, &target, opts).await;
        plans.push(source::plan(&src, &session).await?);
    }
    Ok(plans)
}

/// Read and push every job; archives are read (and checked) before anything is pushed.
pub async fn push(
    client: &Client,
    jobs: &[Job],
    image: Option<&str>,
    opts: &PushOptions,
) -> Result<Vec<Pushed>, ArchivePushError> {
    let mut out = Vec::new();
    for (j, (src, target)) in jobs.iter().zip(read_all(jobs, image).await?) {
        let session = Session::open(client, &target, opts).await;
        let report = source::plan_and_copy(&src, &session).await?;
        out.push(Pushed {
            file: j.file.clone(),
            repository: j.repository.clone(),
            tags: j.tags.clone(),
            report,
        });
    }
    Ok(out)
}

/// Append `DIGEST=` (one image) or `<STEM>_DIGEST=` lines to a dotenv file.
pub fn append_digests(
    path: &Path,
    pushed: &[Pushed],
) -> Result<(), crate::publish::report::ReportError> {
    let mut text = std::fs::read_to_string(path).unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    for p in pushed {
        if pushed.len() == 1 {
            text.push_str(&format!("DIGEST={}\n", p.report.digest));
        } else {
            let stem = p.repository.rsplit('/').next().unwrap_or("IMAGE");
            text.push_str(&format!(
                "{}_DIGEST={}\n",
                crate::publish::report::env_key(stem),
                p.report.digest
            ));
        }
    }
    crate::publish::report::write_atomic(path, text.as_bytes())
}
