//! A [`Builder`] for unit tests: each build waits a configurable delay, then adds an image
//! with the requested labels to a [`FakeDaemon`] and tags it, or fails on request. It
//! counts the builds that run at once.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;

use super::{BuildRequest, Builder, CannotRun, Log, Ran, StepFailure};
use crate::daemon::DaemonApi;
use crate::daemon::fake::FakeDaemon;

#[derive(Default)]
struct Script {
    /// Tags whose build fails.
    failing: BTreeSet<String>,
    /// Label keys the builder does not apply (as Buildah sometimes does).
    dropped: BTreeSet<String>,
    /// The tag of every build, in the order they started (`FROM <id>` label repairs:
    /// `repair:<tag>`).
    builds: Vec<String>,
    /// Build images with bytes (one layer), which the daemon can export and load.
    saved: bool,
}

pub struct FakeBuilder {
    daemon: Arc<FakeDaemon>,
    delay: Duration,
    script: Mutex<Script>,
    running: AtomicUsize,
    most: AtomicUsize,
}

impl FakeBuilder {
    pub fn new(daemon: Arc<FakeDaemon>, delay: Duration) -> Arc<FakeBuilder> {
        Arc::new(FakeBuilder {
            daemon,
            delay,
            script: Mutex::default(),
            running: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
        })
    }

    fn script(&self) -> MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Make the build tagged `tag` fail.
    pub fn fail(&self, tag: &str) {
        self.script().failing.insert(tag.to_string());
    }

    /// Do not apply label `key`.
    pub fn drop_label(&self, key: &str) {
        self.script().dropped.insert(key.to_string());
    }

    /// Build images the daemon can export (one layer holding the build's tag), as an
    /// `imageSpec` needs.
    pub fn save_images(&self) {
        self.script().saved = true;
    }

    /// Every build so far (see [`Script::builds`]).
    pub fn builds(&self) -> Vec<String> {
        self.script().builds.clone()
    }

    /// The most builds that ran at once.
    pub fn most_at_once(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

/// The labels of a `FROM <id>\nLABEL "k"="v" …` repair Dockerfile, over its base's.
fn repair_labels(daemon: &FakeDaemon, text: &str) -> Option<HashMap<String, String>> {
    let (from, label) = text.strip_prefix("FROM ")?.split_once("\nLABEL")?;
    let mut labels = daemon.image(from.trim())?.labels;
    let pairs = label.trim().replace("\"=\"", "\" \"");
    let words: Vec<String> = serde_json::Deserializer::from_str(&pairs)
        .into_iter::<String>()
        .collect::<Result<_, _>>()
        .ok()?;
    for kv in words.chunks(2) {
        if let [k, v] = kv {
            labels.insert(k.clone(), v.clone());
        }
    }
    Some(labels)
}

impl Builder for FakeBuilder {
    fn run<'a>(&'a self, req: BuildRequest<'a>, log: Log<'a>) -> BoxFuture<'a, Ran> {
        Box::pin(async move {
            let tag = req.options.t.clone().unwrap_or_default();
            let repair = repair_labels(&self.daemon, req.dockerfile_text);
            self.script().builds.push(match repair {
                Some(_) => format!("repair:{tag}"),
                None => tag.clone(),
            });
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            // Read the context as a daemon would (its writer waits for it).
            let mut body = req.body;
            while body.next().await.is_some() {}
            tokio::time::sleep(self.delay).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            log(&format!("Step 1/1 : building {tag}"));
            if self.script().failing.contains(&tag) {
                return Ok(Err(StepFailure {
                    line: None,
                    step: "RUN false".into(),
                    message: "The command '/bin/sh -c false' returned a non-zero code: 1".into(),
                }));
            }
            let labels = match repair {
                Some(l) => l,
                None => {
                    let dropped = self.script().dropped.clone();
                    let mut l = req.options.labels.clone().unwrap_or_default();
                    l.retain(|k, _| !dropped.contains(k));
                    l
                }
            };
            let id = if self.script().saved {
                self.daemon
                    .add_saved_image(labels, &[("built", tag.as_str())])
            } else {
                self.daemon.add_image(labels)
            };
            if !tag.is_empty() {
                self.daemon.tag(&id, &tag).await.map_err(CannotRun::Tag)?;
            }
            Ok(Ok(Some(id)))
        })
    }
}
