//! The publish plan: for every image, what the registry already holds under its tags and
//! what this run must do about it. Computing it only reads the registry (through
//! [`RemoteLookup`]); `--dry-run` prints it and stops.

use std::collections::BTreeMap;
use std::fmt;

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use super::PublishError;
use crate::build;
use crate::registry::{Client, Repository, UploadMode};
use crate::transfer::push::{self, PushOptions, PushTarget};
use crate::transfer::source::{self, daemon::DaemonSource};

/// One image as this run wants it published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Wanted {
    /// werf.yaml image name; `None` for the nameless image.
    pub name: Option<String>,
    /// Repository, e.g. `registry.example.com/shop/backend`.
    pub repository: String,
    /// Tags to publish in `repository` (in monorepo mode already `IMAGE-TAG`).
    pub tags: Vec<String>,
    /// Content signature of the image.
    pub signature: String,
    /// Tags looked up but not published: where an earlier content-tagged run may have left
    /// this signature (so a branch-tagged run can reuse it without building).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub probe: Vec<String>,
    /// A `final: false` image (named, or imported by its registry name or digest), or a
    /// final image not selected whose content tag a selected stapel image names: its
    /// content tag only, absent from the report and the digest file.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub not_final: bool,
    /// The content tag, published last in `tags` beside the run's tags because stapel
    /// dependants name it (`ImageName`/`ImageRepo`/`ImageTag` are `REPO:SIGNATURE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub named_content_tag: Option<NamedContentTag>,
}

/// A content tag published for the stapel dependants that name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedContentTag {
    pub tag: String,
    /// The dependants, as `IMAGE (targetEnv ENV)`.
    pub named_by: Vec<String>,
}

impl Wanted {
    /// The tags the run's tag options give (the named content tag left out).
    pub fn run_tags(&self) -> impl Iterator<Item = &String> {
        let extra = self.named_content_tag.as_ref().map(|n| &n.tag);
        self.tags.iter().filter(move |t| Some(*t) != extra)
    }
}

/// What the registry holds under one tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteTag {
    /// Manifest digest.
    pub digest: String,
    /// Content signature label of the image config, if Slipway built it.
    pub signature: Option<String>,
}

/// Read access to the registry that the plan needs.
pub trait RemoteLookup: Sync {
    type Error: std::error::Error + Send + Sync + 'static;
    /// What `repository:tag` holds, `None` when the tag does not exist.
    fn lookup(
        &self,
        repository: &str,
        tag: &str,
    ) -> impl Future<Output = Result<Option<RemoteTag>, Self::Error>> + Send;
}

/// What to do for one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Every tag already holds an image of this signature.
    UpToDate { digest: String },
    /// The registry holds this signature under `source_tag`: no build, no blob, only a
    /// manifest PUT per tag in `tags`.
    Retag {
        digest: String,
        source_tag: String,
        add_tags: Vec<String>,
    },
    /// Build (unless a local image has the signature) and push under every tag.
    Push,
}

/// The plan for one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImagePlan {
    #[serde(flatten)]
    pub wanted: Wanted,
    /// What each published tag holds now (`None`: absent).
    pub current: BTreeMap<String, Option<RemoteTag>>,
    #[serde(flatten)]
    pub action: Action,
    /// `--dry-run` of an image to push that is built locally: its blobs as the daemon's
    /// layers tell them (`None`: not built yet, so not known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blobs: Option<crate::transfer::plan::CopyPlan>,
}

impl ImagePlan {
    pub fn needs_push(&self) -> bool {
        matches!(self.action, Action::Push)
    }

    /// Display name: the image name or `~` for the nameless image.
    pub fn label(&self) -> &str {
        self.wanted.name.as_deref().unwrap_or("~")
    }
}

/// The whole plan, in werf.yaml order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub images: Vec<ImagePlan>,
}

impl Plan {
    /// The images `publish` (without building) would fail on: to be pushed, but not built
    /// locally (a dry run found no blob plan for them).
    pub fn unbuilt(&self) -> Vec<&str> {
        self.images
            .iter()
            .filter(|p| p.needs_push() && p.blobs.is_none())
            .map(|p| p.label())
            .collect()
    }

    /// Compute the plan, looking tags up concurrently (`concurrency` requests at most).
    pub async fn compute<L: RemoteLookup>(
        wanted: Vec<Wanted>,
        lookup: &L,
        concurrency: usize,
    ) -> Result<Plan, L::Error> {
        // Every (image, tag) pair once, published tags and probes alike.
        let mut queries: Vec<(usize, String)> = Vec::new();
        for (i, w) in wanted.iter().enumerate() {
            for tag in w.tags.iter().chain(&w.probe) {
                if !queries.iter().any(|(j, t)| *j == i && t == tag) {
                    queries.push((i, tag.clone()));
                }
            }
        }
        let answers: Vec<(usize, String, Option<RemoteTag>)> = stream::iter(queries)
            .map(|(i, tag)| {
                let repo = wanted[i].repository.clone();
                async move {
                    let found = lookup.lookup(&repo, &tag).await?;
                    Ok::<_, L::Error>((i, tag, found))
                }
            })
            .buffered(concurrency.max(1))
            .try_collect()
            .await?;

        let mut seen: Vec<BTreeMap<String, Option<RemoteTag>>> =
            vec![BTreeMap::new(); wanted.len()];
        for (i, tag, found) in answers {
            seen[i].insert(tag, found);
        }
        let images = wanted
            .into_iter()
            .zip(seen)
            .map(|(w, seen)| decide(w, seen))
            .collect();
        Ok(Plan { images })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".to_string())
    }
}

fn decide(wanted: Wanted, seen: BTreeMap<String, Option<RemoteTag>>) -> ImagePlan {
    let matches = |r: &Option<RemoteTag>| {
        r.as_ref()
            .is_some_and(|r| r.signature.as_deref() == Some(wanted.signature.as_str()))
    };
    // Prefer a published tag as the source, then a probe; both in the order given.
    let source = wanted
        .tags
        .iter()
        .chain(&wanted.probe)
        .find_map(|t| match seen.get(t) {
            Some(r @ Some(remote)) if matches(r) => Some((t.clone(), remote.digest.clone())),
            _ => None,
        });
    let current: BTreeMap<String, Option<RemoteTag>> = wanted
        .tags
        .iter()
        .map(|t| (t.clone(), seen.get(t).cloned().flatten()))
        .collect();
    let action = match source {
        None => Action::Push,
        Some((source_tag, digest)) => {
            // A tag needs a PUT unless it already points at exactly this manifest.
            let missing: Vec<String> = wanted
                .tags
                .iter()
                .filter(|t| {
                    current
                        .get(*t)
                        .and_then(|r| r.as_ref())
                        .is_none_or(|r| r.digest != digest)
                })
                .cloned()
                .collect();
            if missing.is_empty() {
                Action::UpToDate { digest }
            } else {
                Action::Retag {
                    digest,
                    source_tag,
                    add_tags: missing,
                }
            }
        }
    };
    ImagePlan {
        wanted,
        current,
        action,
        blobs: None,
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for image in &self.images {
            let w = &image.wanted;
            let internal = if w.not_final {
                " (its content tag only, for the images that import it: not reported)"
            } else {
                ""
            };
            writeln!(f, "image {} ({}){internal}", image.label(), w.repository)?;
            writeln!(f, "  signature {}", w.signature)?;
            if let Some(n) = &w.named_content_tag {
                writeln!(
                    f,
                    "  content tag {}:{} published too: named by {}",
                    w.repository,
                    n.tag,
                    n.named_by.join(", ")
                )?;
            }
            match &image.action {
                Action::UpToDate { digest } => {
                    writeln!(f, "  up to date: every tag holds {digest}")?;
                }
                Action::Retag {
                    digest,
                    source_tag,
                    add_tags,
                } => {
                    writeln!(
                        f,
                        "  no build, no upload: {source_tag} already holds {digest}"
                    )?;
                    for t in add_tags {
                        writeln!(f, "  tag {}:{t} -> {digest}", w.repository)?;
                    }
                }
                Action::Push => {
                    writeln!(f, "  build if needed, then push")?;
                    for t in &w.tags {
                        let now = match image.current.get(t).and_then(|r| r.as_ref()) {
                            Some(r) => format!("replaces {}", r.digest),
                            None => "new".to_string(),
                        };
                        writeln!(f, "  tag {}:{t} ({now})", w.repository)?;
                    }
                    match &image.blobs {
                        Some(c) => {
                            writeln!(f, "  from {}", c.source)?;
                            for b in &c.blobs {
                                writeln!(f, "    {b}")?;
                            }
                            if let Some(u) = &c.unknown {
                                writeln!(f, "    {u}")?;
                            }
                        }
                        None => writeln!(
                            f,
                            "  blobs: not known before the build (the image is not built locally with this signature)"
                        )?,
                    }
                }
            }
        }
        Ok(())
    }
}

/// `--dry-run`: the blob plan of each image to push that the daemon already holds (what
/// its layers need in the registry, read only); images not built yet keep `None`.
pub(super) async fn blob_plans(
    project: &str,
    client: &Client,
    repos: &BTreeMap<String, Repository>,
    compression: crate::registry::compress::Codec,
    env: &crate::settings::HostEnv,
    daemon: impl Future<Output = Result<&bollard::Docker, build::BuildError>>,
    plan: &mut Plan,
) -> Result<(), PublishError> {
    if !plan.images.iter().any(|p| p.needs_push()) {
        return Ok(());
    }
    // No daemon: the plan says what it can without one.
    let Ok(docker) = daemon.await else {
        return Ok(());
    };
    use crate::daemon::DaemonApi;
    let docker = crate::daemon::docker::DockerDaemon::new(docker.clone());
    let work = env.temp_dir();
    for p in plan.images.iter_mut().filter(|p| p.needs_push()) {
        let (Some(id), Some(repository)) = (
            crate::daemon::find_local(
                &docker,
                &p.wanted.signature,
                Some(&build::local_tag(project, p.wanted.name.as_deref())),
            )
            .await,
            repos.get(&p.wanted.repository),
        ) else {
            continue;
        };
        let diff_ids = docker.inspect(&id).await.ok().and_then(|i| i.layers);
        let target = PushTarget {
            repository: repository.clone(),
            tags: p.wanted.tags.clone(),
        };
        let popts = PushOptions {
            compression,
            ..PushOptions::for_host(env)
        };
        let session = push::Session::open(client, &target, &popts).await;
        let source = DaemonSource {
            docker: &docker,
            id,
            diff_ids,
            label: p.label().to_string(),
            upload_mode: UploadMode::Auto,
            work: work.clone(),
            // The plan reads nothing from the image.
            store: None,
            stall: popts.daemon_stall,
        };
        p.blobs = Some(source::plan(&source, &session).await?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Fake {
        tags: BTreeMap<(String, String), RemoteTag>,
        asked: Mutex<Vec<String>>,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("fake failure")]
    struct FakeError;

    impl RemoteLookup for Fake {
        type Error = FakeError;
        async fn lookup(&self, repo: &str, tag: &str) -> Result<Option<RemoteTag>, FakeError> {
            self.asked
                .lock()
                .map_err(|_| FakeError)?
                .push(format!("{repo}:{tag}"));
            if tag == "boom" {
                return Err(FakeError);
            }
            Ok(self.tags.get(&(repo.to_string(), tag.to_string())).cloned())
        }
    }

    fn remote(d: &str, sig: Option<&str>) -> RemoteTag {
        RemoteTag {
            digest: d.to_string(),
            signature: sig.map(str::to_string),
        }
    }

    fn wanted(tags: &[&str], probe: &[&str]) -> Wanted {
        Wanted {
            name: Some("app".into()),
            repository: "r/app".into(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            signature: "sig1".into(),
            probe: probe.iter().map(|s| s.to_string()).collect(),
            not_final: false,
            named_content_tag: None,
        }
    }

    fn fake(entries: &[(&str, RemoteTag)]) -> Fake {
        Fake {
            tags: entries
                .iter()
                .map(|(t, r)| (("r/app".to_string(), t.to_string()), r.clone()))
                .collect(),
            ..Fake::default()
        }
    }

    async fn plan_one(w: Wanted, f: &Fake) -> ImagePlan {
        let mut p = Plan::compute(vec![w], f, 4).await.expect("plan");
        p.images.remove(0)
    }

    #[tokio::test]
    async fn nothing_in_registry_means_push() {
        let p = plan_one(wanted(&["main", "v1"], &[]), &fake(&[])).await;
        assert_eq!(p.action, Action::Push);
        assert!(p.needs_push());
        assert_eq!(p.current.get("main"), Some(&None));
    }

    #[tokio::test]
    async fn every_tag_holding_the_signature_is_up_to_date() {
        let f = fake(&[
            ("main", remote("sha256:a", Some("sig1"))),
            ("v1", remote("sha256:a", Some("sig1"))),
        ]);
        let p = plan_one(wanted(&["main", "v1"], &[]), &f).await;
        assert_eq!(
            p.action,
            Action::UpToDate {
                digest: "sha256:a".into()
            }
        );
    }

    #[tokio::test]
    async fn a_new_tag_of_a_published_signature_is_only_a_manifest_put() {
        let f = fake(&[("main", remote("sha256:a", Some("sig1")))]);
        let p = plan_one(wanted(&["main", "v2"], &[]), &f).await;
        assert_eq!(
            p.action,
            Action::Retag {
                digest: "sha256:a".into(),
                source_tag: "main".into(),
                add_tags: vec!["v2".into()]
            }
        );
    }

    #[tokio::test]
    async fn a_tag_holding_another_signature_is_replaced_by_retag_or_push() {
        // Branch tag moved to another image, but a content tag holds ours: retag main.
        let f = fake(&[
            ("main", remote("sha256:old", Some("sig0"))),
            ("sig1", remote("sha256:a", Some("sig1"))),
        ]);
        let p = plan_one(wanted(&["main"], &["sig1"]), &f).await;
        assert_eq!(
            p.action,
            Action::Retag {
                digest: "sha256:a".into(),
                source_tag: "sig1".into(),
                add_tags: vec!["main".into()]
            }
        );
        // Without the probe there is nothing to reuse.
        let p = plan_one(wanted(&["main"], &[]), &f).await;
        assert_eq!(p.action, Action::Push);
    }

    #[tokio::test]
    async fn an_image_without_signature_label_is_never_reused() {
        let f = fake(&[("main", remote("sha256:a", None))]);
        let p = plan_one(wanted(&["main"], &[]), &f).await;
        assert_eq!(p.action, Action::Push);
    }

    #[tokio::test]
    async fn each_tag_is_looked_up_once_and_errors_propagate() {
        let f = fake(&[]);
        plan_one(wanted(&["a", "b"], &["a"]), &f).await;
        let asked = f.asked.lock().expect("lock").clone();
        assert_eq!(asked, vec!["r/app:a", "r/app:b"]);
        let err = Plan::compute(vec![wanted(&["boom"], &[])], &f, 2).await;
        assert!(err.is_err());
    }

    #[tokio::test]
    async fn plan_prints_and_serialises() {
        let f = fake(&[("main", remote("sha256:a", Some("sig1")))]);
        let p = Plan::compute(vec![wanted(&["main", "v2"], &[])], &f, 1)
            .await
            .expect("plan");
        let text = p.to_string();
        assert!(text.contains("tag r/app:v2 -> sha256:a"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&p.to_json()).expect("json");
        assert_eq!(json["images"][0]["action"], "retag");
        assert_eq!(json["images"][0]["add_tags"][0], "v2");
    }
}
