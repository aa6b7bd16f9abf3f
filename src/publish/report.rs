//! What a publish hands to the next CI job: a JSON report (`--report-path`) and a dotenv
//! digest file (`--digest-file`, for GitLab's `artifacts:reports:dotenv`). Both are written
//! atomically (temp file + rename), so a reader never sees half a file; the digest file
//! may instead be appended to (`--digest-file-append`, for GitHub's `$GITHUB_OUTPUT`).
//! [`publish_report`] is publish's last phase: it writes them, remembers this run's
//! outputs and records HEAD's commit in the registry.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::plan::{Action, Plan};
use super::prepare::Prepared;
use super::realize::Realized;
use super::{Outcome, PublishError, PublishOptions};
use crate::naming::Naming;
use crate::registry::{Client, Repository};

/// Whether an image was built in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuildOutcome {
    Built,
    Skipped,
}

/// Whether the registry received the image in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PushOutcome {
    Pushed,
    AlreadyPresent,
    /// The registry had the manifest under another tag: new tags only, no upload.
    Tagged,
}

/// One published image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageReport {
    /// werf.yaml image name; `null` for the nameless image.
    pub name: Option<String>,
    /// Repository the image lives in, e.g. `registry.example.com/shop/backend`.
    pub repository: String,
    /// Every reference published, `REPO:TAG`.
    pub references: Vec<String>,
    /// Manifest digest the registry holds (the same for every reference).
    pub digest: String,
    /// Content signature.
    pub signature: String,
    pub build: BuildOutcome,
    pub push: PushOutcome,
    /// The local image ID (config digest), when the image is in the daemon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
}

impl ImageReport {
    /// `REPOSITORY@DIGEST`, the immutable reference a deploy job should use.
    pub fn pinned(&self) -> String {
        format!("{}@{}", self.repository, self.digest)
    }
}

/// The `--report-path` JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub project: String,
    pub images: Vec<ImageReport>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read report {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a Slipway report: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
}

impl Report {
    pub fn to_json(&self) -> String {
        // A report is plain data: serialising it cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Read a report written by `--report-path` (for `promote --from-report`).
    pub fn read(path: &Path) -> Result<Self, ReportError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReportError::Read {
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| ReportError::Parse {
            path: path.display().to_string(),
            source,
        })
    }

    pub fn write(&self, path: &Path) -> Result<(), ReportError> {
        write_atomic(path, self.to_json().as_bytes())
    }

    /// dotenv lines: `SLIPWAY_IMAGE_<NAME>_DIGEST` and `..._REF` per image (NAME
    /// upper-cased, `-` and `.` → `_`; the nameless image has no `<NAME>_` part), plus
    /// `DIGEST` and `REF` when the project has a single image.
    pub fn dotenv(&self) -> String {
        let mut out = String::new();
        for img in &self.images {
            let key = match &img.name {
                Some(n) => format!("SLIPWAY_IMAGE_{}_", env_key(n)),
                None => "SLIPWAY_IMAGE_".to_string(),
            };
            out.push_str(&format!("{key}DIGEST={}\n", img.digest));
            out.push_str(&format!("{key}REF={}\n", img.pinned()));
        }
        if let [only] = self.images.as_slice() {
            out.push_str(&format!("DIGEST={}\n", only.digest));
            out.push_str(&format!("REF={}\n", only.pinned()));
        }
        out
    }

    pub fn write_dotenv(&self, path: &Path) -> Result<(), ReportError> {
        write_atomic(path, self.dotenv().as_bytes())
    }

    /// The dotenv lines appended to `path`, keeping what it holds (`--digest-file-append`,
    /// for GitHub's `$GITHUB_OUTPUT`, which other steps write too).
    pub fn append_dotenv(&self, path: &Path) -> Result<(), ReportError> {
        crate::fsutil::append_lines(path, self.dotenv().as_bytes()).map_err(|source| {
            ReportError::Write {
                path: path.display().to_string(),
                source,
            }
        })
    }
}

/// Report file formats (`--report-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportFormat {
    /// Slipway's report ([`Report`]).
    #[default]
    Json,
    /// werf 2's envfile: `WERF_<IMAGE>_DOCKER_IMAGE_NAME`, `_ID`, `_DIGEST` per image.
    Envfile,
    /// werf 1.1's `--publish-report-path` JSON: `{"Images":{"<name>":{...}}}`.
    Werf11,
}

impl Report {
    /// The report in `format`.
    pub fn render(&self, format: ReportFormat) -> String {
        match format {
            ReportFormat::Json => self.to_json(),
            ReportFormat::Envfile => self.envfile(),
            ReportFormat::Werf11 => self.werf11_json(),
        }
    }

    /// Write the report in `format` to `path`.
    pub fn write_as(&self, path: &Path, format: ReportFormat) -> Result<(), ReportError> {
        write_atomic(path, self.render(format).as_bytes())
    }

    /// werf 1.1's publish report: one record per image, keyed by werf image name (`""` for
    /// the nameless image); the tag is the last one published, as werf records it.
    pub fn werf11_json(&self) -> String {
        let mut images = serde_json::Map::new();
        for img in &self.images {
            let name = img.name.clone().unwrap_or_default();
            let tag = img
                .references
                .last()
                .and_then(|r| r.strip_prefix(&format!("{}:", img.repository)))
                .unwrap_or("")
                .to_string();
            images.insert(
                name.clone(),
                serde_json::json!({
                    "WerfImageName": name,
                    "DockerRepo": img.repository,
                    "DockerTag": tag,
                    "DockerImageID": img.image_id.clone().unwrap_or_default(),
                    "DockerImageDigest": img.digest,
                }),
            );
        }
        let doc = serde_json::json!({ "Images": images });
        format!("{doc}\n")
    }

    /// werf 2's envfile report: per image `WERF_<IMAGE>_DOCKER_IMAGE_NAME` (the first
    /// reference), `_ID` and `_DIGEST`; the nameless image has no `<IMAGE>_` part.
    pub fn envfile(&self) -> String {
        let mut out = String::new();
        for img in &self.images {
            let key = match &img.name {
                Some(n) => format!("WERF_{}_", env_key(n)),
                None => "WERF_".to_string(),
            };
            let name = img.references.first().cloned().unwrap_or_default();
            out.push_str(&format!("{key}DOCKER_IMAGE_NAME={name}\n"));
            out.push_str(&format!(
                "{key}DOCKER_IMAGE_ID={}\n",
                img.image_id.as_deref().unwrap_or("")
            ));
            out.push_str(&format!("{key}DOCKER_IMAGE_DIGEST={}\n", img.digest));
        }
        out
    }
}

/// Image name → dotenv key part: upper case, anything not `[A-Z0-9]` becomes `_`.
pub fn env_key(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Write `data` to `path` atomically ([`crate::fsutil::write_atomic`]).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), ReportError> {
    crate::fsutil::write_atomic(path, data).map_err(|source| ReportError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// Publish's last phase: the report (and digest file) written, this run's outputs
/// remembered, and HEAD's commit recorded in the registry.
pub(super) async fn publish_report(
    prepared: &Prepared,
    plan: &Plan,
    client: &Client,
    repos: &BTreeMap<String, Repository>,
    done: &Realized,
    opts: &PublishOptions,
) -> Result<Outcome, PublishError> {
    let out = finish(
        &prepared.cfg.project,
        plan,
        client,
        repos,
        &done.local,
        &done.pushed,
        opts,
    )
    .await?;
    crate::signature::remember_outputs(
        &prepared.cfg.dir,
        &prepared.outputs,
        &prepared.host_env.paths(),
    );
    record_commit(client, &prepared.naming, &prepared.cfg.dir, plan).await?;
    Ok(out)
}

/// Record in the registry that HEAD's commit published these images (also when nothing
/// changed): cleanup keeps an image while any commit that published it is still needed.
/// A failure fails the publish, since a missing record could let cleanup delete an image
/// that this commit uses.
async fn record_commit(
    client: &Client,
    naming: &Naming,
    dir: &std::path::Path,
    plan: &Plan,
) -> Result<(), PublishError> {
    let Some(commit) = crate::git::head(dir).ok().flatten().map(|h| h.commit) else {
        return Ok(());
    };
    let images: Vec<(Option<String>, String)> = plan
        .images
        .iter()
        .map(|p| (p.wanted.name.clone(), p.wanted.signature.clone()))
        .collect();
    crate::records::write(client, naming, &commit, &images)
        .await
        .map_err(PublishError::Records)?;
    Ok(())
}

/// The report of a publish, written where the options say.
async fn finish(
    project: &str,
    plan: &Plan,
    client: &Client,
    repos: &BTreeMap<String, Repository>,
    local: &BTreeMap<Option<String>, (String, bool)>,
    pushed: &BTreeMap<Option<String>, String>,
    opts: &PublishOptions,
) -> Result<Outcome, PublishError> {
    let mut images = Vec::new();
    // A `final: false` image is published for its dependants only: not reported.
    for p in plan.images.iter().filter(|p| !p.wanted.not_final) {
        let repo = repos
            .get(&p.wanted.repository)
            .ok_or(PublishError::NoRepo)?;
        let (digest, push) = match &p.action {
            Action::UpToDate { digest } => (digest.clone(), PushOutcome::AlreadyPresent),
            Action::Retag {
                digest, add_tags, ..
            } => {
                client.retag(repo, digest, add_tags).await?;
                (digest.clone(), PushOutcome::Tagged)
            }
            Action::Push => (
                pushed.get(&p.wanted.name).cloned().unwrap_or_default(),
                PushOutcome::Pushed,
            ),
        };
        let built = local.get(&p.wanted.name).is_some_and(|(_, b)| *b);
        let image_id = local.get(&p.wanted.name).map(|(id, _)| id.clone());
        images.push(ImageReport {
            name: p.wanted.name.clone(),
            repository: p.wanted.repository.clone(),
            references: p
                .wanted
                .tags
                .iter()
                .map(|t| format!("{}:{t}", p.wanted.repository))
                .collect(),
            digest,
            signature: p.wanted.signature.clone(),
            build: if built {
                BuildOutcome::Built
            } else {
                BuildOutcome::Skipped
            },
            push,
            image_id,
        });
    }
    let report = Report {
        project: project.to_string(),
        images,
    };
    if let Some(p) = &opts.report_path {
        report.write(p)?;
    }
    if let Some(p) = &opts.digest_file {
        if opts.digest_file_append {
            report.append_dotenv(p)?;
        } else {
            report.write_dotenv(p)?;
        }
    }
    Ok(Outcome::Published(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(name: Option<&str>) -> ImageReport {
        ImageReport {
            name: name.map(String::from),
            repository: format!("reg.example.com/shop/{}", name.unwrap_or("app")),
            references: vec![format!("reg.example.com/shop/{}:v1", name.unwrap_or("app"))],
            digest: format!("sha256:{}", "a".repeat(64)),
            signature: "b".repeat(64),
            build: BuildOutcome::Built,
            push: PushOutcome::Pushed,
            image_id: Some(format!("sha256:{}", "c".repeat(64))),
        }
    }

    #[test]
    fn werf_formats() {
        let mut web = img(Some("web-app"));
        web.references
            .push("reg.example.com/shop/web-app:last".to_string());
        let r = Report {
            project: "shop".into(),
            images: vec![web, img(None)],
        };
        let v: serde_json::Value = serde_json::from_str(&r.werf11_json()).unwrap();
        let rec = &v["Images"]["web-app"];
        assert_eq!(rec["WerfImageName"], "web-app");
        assert_eq!(rec["DockerRepo"], "reg.example.com/shop/web-app");
        assert_eq!(rec["DockerTag"], "last");
        assert_eq!(rec["DockerImageID"], format!("sha256:{}", "c".repeat(64)));
        assert_eq!(
            rec["DockerImageDigest"],
            format!("sha256:{}", "a".repeat(64))
        );
        assert_eq!(v["Images"][""]["DockerTag"], "v1");
        assert_eq!(v["Images"].as_object().unwrap().len(), 2);
        let env = r.envfile();
        assert!(
            env.contains("WERF_WEB_APP_DOCKER_IMAGE_NAME=reg.example.com/shop/web-app:v1\n"),
            "{env}"
        );
        assert!(env.contains(&format!(
            "WERF_WEB_APP_DOCKER_IMAGE_ID=sha256:{}\n",
            "c".repeat(64)
        )));
        assert!(env.contains(&format!(
            "WERF_DOCKER_IMAGE_DIGEST=sha256:{}\n",
            "a".repeat(64)
        )));
    }

    #[test]
    fn dotenv_names_each_image_and_single_image_gets_digest() {
        let r = Report {
            project: "shop".into(),
            images: vec![img(Some("back-end.v2")), img(Some("web"))],
        };
        let env = r.dotenv();
        assert!(env.contains(&format!(
            "SLIPWAY_IMAGE_BACK_END_V2_DIGEST=sha256:{}\n",
            "a".repeat(64)
        )));
        assert!(env.contains(&format!(
            "SLIPWAY_IMAGE_WEB_REF=reg.example.com/shop/web@sha256:{}\n",
            "a".repeat(64)
        )));
        assert!(!env.contains("\nDIGEST="), "two images: no bare DIGEST");

        let single = Report {
            project: "hello".into(),
            images: vec![img(None)],
        };
        let env = single.dotenv();
        assert!(
            env.starts_with(&format!("SLIPWAY_IMAGE_DIGEST=sha256:{}\n", "a".repeat(64))),
            "{env}"
        );
        assert!(env.contains(&format!("\nDIGEST=sha256:{}\n", "a".repeat(64))));
    }

    #[test]
    fn report_round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("report.json");
        let r = Report {
            project: "shop".into(),
            images: vec![img(Some("web")), img(None)],
        };
        r.write(&p).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.contains("\"build\": \"built\"")
                && text.contains("\"push\": \"pushed\"")
                && text.contains("\"name\": null"),
            "{text}"
        );
        assert_eq!(Report::read(&p).unwrap(), r);
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{}").unwrap();
        assert!(
            Report::read(&bad)
                .unwrap_err()
                .to_string()
                .contains("is not a Slipway report")
        );
    }
}
