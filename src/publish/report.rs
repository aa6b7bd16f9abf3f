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
    /// The image ID (config digest): the daemon's, when the image is in the daemon; with
    /// `--helm-values` the registry's, as werf's `docker_image_id` (docs/helm.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// The digest of the provenance referrer attached in this run (docs/provenance.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<String>,
    /// Each reference's tag as the tag options gave it (before monorepo mode's `IMAGE-`
    /// prefix), in the order of `references`: werf's `docker_tag` (helm values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `REPO:SIGNATURE`, published beside `references` because stapel dependants name it
    /// (their `ImageName`); not one of the run's tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_reference: Option<String>,
}

impl ImageReport {
    /// `REPOSITORY@DIGEST`, the immutable reference a deploy job should use.
    pub fn pinned(&self) -> String {
        format!("{}@{}", self.repository, self.digest)
    }
}

/// The `--report-path` JSON document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub project: String,
    pub images: Vec<ImageReport>,
    /// `--images-repo`, normalised: werf's `global.werf.repo` (helm values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images_repo: Option<String>,
    /// The run's tag options in order (`content` has no value): which one werf's deploy
    /// would take, for the helm values' `docker_tag` and `ci.*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag_options: Vec<TagOption>,
}

/// One tag option of the run (`naming::TagSpec` as the report keeps it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagOption {
    /// custom, git-branch, git-tag, git-commit or content.
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
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

    /// The digest file ([`DigestFile::render`]) written to `path`, replacing it.
    pub fn write_dotenv(&self, path: &Path, spec: &DigestFile) -> Result<(), ReportError> {
        write_atomic(path, spec.render(self).as_bytes())
    }

    /// The digest file's lines appended to `path`, keeping what it holds
    /// (`--digest-file-append`, for GitHub's `$GITHUB_OUTPUT`, which other steps write too).
    pub fn append_dotenv(&self, path: &Path, spec: &DigestFile) -> Result<(), ReportError> {
        crate::fsutil::append_lines(path, spec.render(self).as_bytes()).map_err(|source| {
            ReportError::Write {
                path: path.display().to_string(),
                source,
            }
        })
    }
}

/// GitLab's dotenv report takes at most 5,120 bytes...
pub const DOTENV_MAX_BYTES: usize = 5_120;
/// ...and 20 variables on older self-managed installs (50 on the free tier).
pub const DOTENV_MAX_VARIABLES: usize = 20;
/// Up to this many images the digest file names them all; past it, only
/// `--digest-file-images` (15 digests and `SLIPWAY_REPO` stay under both limits).
pub const DOTENV_ALL_IMAGES_UP_TO: usize = 15;

/// What `--digest-file` holds: `SLIPWAY_REPO=<images repo>` once, then
/// `SLIPWAY_DIGEST_<NAME>=sha256:…` per image (NAME upper-cased, anything not `[A-Z0-9]`
/// → `_`; the nameless image is `SLIPWAY_DIGEST`) for every image when there are at most
/// [`DOTENV_ALL_IMAGES_UP_TO`], else for `images` only; a single-image project also gets
/// `DIGEST=` and `REF=` (`repository@digest`). Every digest is in the JSON report anyway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestFile {
    /// `--images-repo`, normalised.
    pub repo: String,
    /// `--digest-file-images`: the images named, whatever their number.
    pub images: Option<Vec<String>>,
}

impl DigestFile {
    /// The images of `report` whose digest the file names.
    fn chosen<'a>(&self, report: &'a Report) -> Vec<&'a ImageReport> {
        match &self.images {
            Some(names) => report
                .images
                .iter()
                .filter(|i| {
                    let n = crate::naming::name::ImageName::from(i.name.as_deref()).to_string();
                    names.contains(&n)
                })
                .collect(),
            None if report.images.len() <= DOTENV_ALL_IMAGES_UP_TO => {
                report.images.iter().collect()
            }
            None => Vec::new(),
        }
    }

    /// The dotenv text.
    pub fn render(&self, report: &Report) -> String {
        let mut out = format!("SLIPWAY_REPO={}\n", self.repo);
        for img in self.chosen(report) {
            let key = match &img.name {
                Some(n) => format!("SLIPWAY_DIGEST_{}", env_key(n)),
                None => "SLIPWAY_DIGEST".to_string(),
            };
            out.push_str(&format!("{key}={}\n", img.digest));
        }
        if let [only] = report.images.as_slice() {
            out.push_str(&format!("DIGEST={}\n", only.digest));
            out.push_str(&format!("REF={}\n", only.pinned()));
        }
        out
    }

    /// What to tell the user about the file: images left out, a limit passed.
    pub fn warnings(&self, report: &Report) -> Vec<String> {
        let mut out = Vec::new();
        let n = report.images.len();
        if self.images.is_none() && n > DOTENV_ALL_IMAGES_UP_TO {
            out.push(format!(
                "--digest-file: {n} images, more than {DOTENV_ALL_IMAGES_UP_TO}: the file holds \
                 SLIPWAY_REPO only; name the images a later job needs with \
                 --digest-file-images a,b (every digest is in the --report-path JSON report)"
            ));
        }
        // `SLIPWAY_DIGEST_FILE*` are also publish's own variables: a later job that
        // loads the file and runs publish would read them as options.
        for img in self.chosen(report) {
            let key = img.name.as_deref().map(env_key).unwrap_or_default();
            if matches!(key.as_str(), "FILE" | "FILE_APPEND" | "FILE_IMAGES") {
                out.push(format!(
                    "--digest-file: image {:?} writes SLIPWAY_DIGEST_{key}, which publish also \
                     reads as an option: a later job that runs publish with this file loaded \
                     would take it; leave it out with --digest-file-images",
                    img.name.as_deref().unwrap_or_default()
                ));
            }
        }
        let text = self.render(report);
        let vars = text.lines().count();
        if text.len() > DOTENV_MAX_BYTES || vars > DOTENV_MAX_VARIABLES {
            out.push(format!(
                "--digest-file: {} bytes and {vars} variables; GitLab's dotenv report takes at \
                 most {DOTENV_MAX_BYTES} bytes and {DOTENV_MAX_VARIABLES} variables on older \
                 installs: name fewer images with --digest-file-images (every digest is in the \
                 --report-path JSON report)",
                text.len()
            ));
        }
        out
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
    let mut report = finish(prepared, plan, client, repos, done).await?;
    if let Some(h) = &opts.helm_values {
        super::helm::fill_image_ids(&mut report, client, repos).await;
        super::helm::write(&report, h, prepared.cfg.extra.get("deploy"))?;
    }
    write_files(&report, &prepared.naming.repo, opts)?;
    crate::signature::remember_outputs(
        &prepared.cfg.dir,
        &prepared.outputs,
        &prepared.host_env.paths(),
    );
    record_commit(client, &prepared.naming, &prepared.git, plan).await?;
    for (path, format) in &opts.other_reports {
        report.write_as(path, *format)?;
    }
    Ok(Outcome::Published(report))
}

/// The JSON report and the digest file, where the options say; the digest file's
/// warnings (images left out, GitLab's limits passed) logged.
fn write_files(report: &Report, repo: &str, opts: &PublishOptions) -> Result<(), ReportError> {
    if let Some(p) = &opts.report_path {
        report.write(p)?;
    }
    if let Some(p) = &opts.digest_file {
        let spec = DigestFile {
            repo: repo.to_string(),
            images: opts.digest_file_images.clone(),
        };
        for w in spec.warnings(report) {
            tracing::warn!("{w}");
        }
        if opts.digest_file_append {
            report.append_dotenv(p, &spec)?;
        } else {
            report.write_dotenv(p, &spec)?;
        }
    }
    Ok(())
}

/// Record in the registry that HEAD's commit published these images (also when nothing
/// changed): cleanup keeps an image while any commit that published it is still needed.
/// A failure fails the publish, since a missing record could let cleanup delete an image
/// that this commit uses.
async fn record_commit(
    client: &Client,
    naming: &Naming,
    git: &crate::git::HeadOnce,
    plan: &Plan,
) -> Result<(), PublishError> {
    let Some(commit) = git.found().map(|h| h.commit.clone()) else {
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

/// The report of a publish (re-tags done on the way).
async fn finish(
    prepared: &Prepared,
    plan: &Plan,
    client: &Client,
    repos: &BTreeMap<String, Repository>,
    done: &Realized,
) -> Result<Report, PublishError> {
    let (local, pushed) = (&done.local, &done.pushed);
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
                .run_tags()
                .map(|t| format!("{}:{t}", p.wanted.repository))
                .collect(),
            content_reference: p
                .wanted
                .named_content_tag
                .as_ref()
                .map(|n| format!("{}:{}", p.wanted.repository, n.tag)),
            digest,
            signature: p.wanted.signature.clone(),
            build: if built {
                BuildOutcome::Built
            } else {
                BuildOutcome::Skipped
            },
            push,
            image_id,
            provenance: done.provenance.get(&p.wanted.name).cloned(),
            // In the order `Prepared::wanted` placed them in the repository.
            tags: crate::naming::image_tags(&prepared.specs, &p.wanted.signature),
        });
    }
    Ok(Report {
        project: prepared.cfg.project.clone(),
        images,
        images_repo: Some(prepared.naming.repo.clone()),
        tag_options: prepared
            .specs
            .iter()
            .map(|s| TagOption {
                kind: s.kind.to_string(),
                value: s.value.clone(),
            })
            .collect(),
    })
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
            provenance: None,
            tags: vec!["v1".into()],
            content_reference: None,
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
            ..Default::default()
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
            ..Default::default()
        };
        let spec = DigestFile {
            repo: "reg.example.com/shop".into(),
            images: None,
        };
        let env = spec.render(&r);
        assert_eq!(
            env,
            format!(
                "SLIPWAY_REPO=reg.example.com/shop\nSLIPWAY_DIGEST_BACK_END_V2=sha256:{a}\n\
                 SLIPWAY_DIGEST_WEB=sha256:{a}\n",
                a = "a".repeat(64)
            )
        );
        assert!(spec.warnings(&r).is_empty());
        // An image whose key is publish's own variable is warned about.
        let clash = Report {
            project: "shop".into(),
            images: vec![img(Some("file"))],
            ..Default::default()
        };
        let warned = spec.warnings(&clash).join("\n");
        assert!(warned.contains("SLIPWAY_DIGEST_FILE"), "{warned}");

        let single = Report {
            project: "hello".into(),
            images: vec![img(None)],
            ..Default::default()
        };
        let env = spec.render(&single);
        assert!(
            env.contains(&format!("\nSLIPWAY_DIGEST=sha256:{}\n", "a".repeat(64))),
            "{env}"
        );
        assert!(env.contains(&format!("\nDIGEST=sha256:{}\n", "a".repeat(64))));
        assert!(env.contains(&format!(
            "\nREF=reg.example.com/shop/app@sha256:{}\n",
            "a".repeat(64)
        )));
    }

    /// Issue 37's "Done when": 50 images with 12-character names in a 60-character
    /// repository: the default file and one naming 15 images stay within GitLab's dotenv
    /// limits (5,120 bytes, 20 variables); 16 named past them get a warning naming them.
    #[test]
    fn digest_file_stays_within_gitlab_dotenv_limits() {
        let repo = format!("registry.example.com/{}", "g".repeat(39));
        assert_eq!(repo.len(), 60);
        let names: Vec<String> = (0..50).map(|i| format!("service-{i:04}")).collect();
        assert!(names.iter().all(|n| n.len() == 12));
        let r = Report {
            project: "big".into(),
            images: names.iter().map(|n| img(Some(n))).collect(),
            ..Default::default()
        };
        let within = |text: &str| {
            text.len() <= DOTENV_MAX_BYTES && text.lines().count() <= DOTENV_MAX_VARIABLES
        };
        let default = DigestFile {
            repo: repo.clone(),
            images: None,
        };
        let text = default.render(&r);
        assert!(within(&text), "{} bytes: {text}", text.len());
        assert_eq!(text, format!("SLIPWAY_REPO={repo}\n"));
        let warned = default.warnings(&r).join("\n");
        assert!(
            warned.contains("--digest-file-images") && warned.contains("report"),
            "{warned}"
        );
        let fifteen = DigestFile {
            repo: repo.clone(),
            images: Some(names[..15].to_vec()),
        };
        let text = fifteen.render(&r);
        assert!(within(&text), "{} bytes: {text}", text.len());
        assert_eq!(text.lines().count(), 16, "{text}");
        assert!(fifteen.warnings(&r).is_empty());
        // Up to 15 images, all are named by default.
        let small = Report {
            project: "big".into(),
            images: r.images[..15].to_vec(),
            ..Default::default()
        };
        assert_eq!(default.render(&small), text);
        // Past the limits: a warning naming them.
        let many = DigestFile {
            repo,
            images: Some(names[..25].to_vec()),
        };
        let warned = many.warnings(&r).join("\n");
        assert!(
            warned.contains("5120 bytes") && warned.contains("20 variables"),
            "{warned}"
        );
    }

    #[test]
    fn report_round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("report.json");
        let r = Report {
            project: "shop".into(),
            images: vec![img(Some("web")), img(None)],
            ..Default::default()
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
