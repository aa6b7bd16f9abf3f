//! The build against the fake daemon and builder (`daemon::fake`, `builder::fake`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::builder::Builders;
use super::builder::fake::FakeBuilder;
use super::schedule::{Backend, build_on};
use super::{BuildError, BuildOptions, BuiltImage, Event, buildable, buildkit};
use crate::daemon::DaemonApi;
use crate::daemon::fake::FakeDaemon;
use crate::daemon::http::Endpoint;
use crate::labels;

#[test]
fn step_lines_of_both_builders() {
    assert!(super::is_step_line("Step 3/9 : RUN make"));
    assert!(super::is_step_line("#5 [app 2/4] RUN make"));
    assert!(!super::is_step_line("#5 compiling [x]"));
    assert!(!super::is_step_line("#5 DONE 0.3s"));
    assert!(!super::is_step_line("# [a] comment"));
}

/// `base`; `a` and `b` on it (importing its name); `c` on its own.
const WERF_YAML: &str = r#"project: demo
configVersion: 1
---
image: base
dockerfile: Dockerfile
---
image: a
dockerfile: Dockerfile
dependencies:
- image: base
  imports:
  - type: ImageName
    targetBuildArg: BASE
---
image: b
dockerfile: Dockerfile
dependencies:
- image: base
  imports:
  - type: ImageName
    targetBuildArg: BASE
---
image: c
dockerfile: Dockerfile
"#;

struct Project {
    _dir: tempfile::TempDir,
    config: crate::config::Config,
    sigs: BTreeMap<Option<String>, String>,
}

fn project() -> Project {
    project_of(WERF_YAML)
}

fn project_of(werf_yaml: &str) -> Project {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("werf.yaml"), werf_yaml).expect("werf.yaml");
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY werf.yaml /\n",
    )
    .expect("Dockerfile");
    let settings = crate::settings::Settings {
        dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    let config = crate::config::load::load(&settings).expect("config loads");
    let sigs = ["base", "a", "b", "c"]
        .iter()
        .map(|n| (Some(n.to_string()), format!("sig-{n}")))
        .collect();
    Project {
        _dir: dir,
        config,
        sigs,
    }
}

/// A fake Docker of API `api` with BuildKit (or the classic builder: `buildkit` false).
struct Fake {
    daemon: Arc<FakeDaemon>,
    builder: Arc<FakeBuilder>,
    buildkit: Result<buildkit::BuildKit, buildkit::NoBuildKit>,
    podman: bool,
    /// Publishing for `ImageDigest` imports: answers this digest.
    digest: Option<String>,
    /// `--add-tag`s by image.
    extra_tags: BTreeMap<Option<String>, Vec<String>>,
}

fn fake(api: &str, buildkit: bool) -> Fake {
    let daemon = FakeDaemon::new(api);
    let builder = FakeBuilder::new(daemon.clone(), Duration::from_millis(150));
    // A lock file per test: builds queue per daemon endpoint.
    let endpoint = Endpoint::Unix(std::path::PathBuf::from(format!(
        "/nonexistent/slipway-fake-{}-{:?}.sock",
        std::process::id(),
        std::time::Instant::now()
    )));
    let buildkit = if buildkit {
        let v = futures::executor::block_on(daemon.version()).expect("version");
        buildkit::BuildKit::from_version(endpoint, &v)
    } else {
        Err(buildkit::NoBuildKit::Off)
    };
    Fake {
        daemon,
        builder,
        buildkit,
        podman: false,
        digest: None,
        extra_tags: BTreeMap::new(),
    }
}

impl Fake {
    fn backend(&self) -> Backend {
        let b: Arc<dyn super::builder::Builder> = self.builder.clone();
        Backend {
            daemon: self.daemon.clone(),
            builders: Builders::new(self.buildkit.as_ref().ok(), b.clone(), b.clone(), b),
            buildkit: self.buildkit.clone(),
            podman: self.podman,
        }
    }

    /// Build `images` (empty: all) of `p`; the result and the events.
    async fn build(
        &self,
        p: &Project,
        images: &[&str],
        parallel: usize,
    ) -> (Result<Vec<BuiltImage>, BuildError>, Vec<Event>) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let seen = events.clone();
        let opts = BuildOptions {
            images: images.iter().map(|s| s.to_string()).collect(),
            settings: super::BuildSettings {
                parallel,
                ..Default::default()
            },
            extra_tags: self.extra_tags.clone(),
            on_event: Arc::new(move |e: &Event| seen.lock().expect("events").push(e.clone())),
            git_commit: None,
            extra_labels: BTreeMap::new(),
            cache_from: BTreeMap::new(),
            keychain: Default::default(),
            outputs: Vec::new(),
            registry_digest: self.digest.clone().map(|d| -> super::DigestHook {
                Arc::new(move |_| {
                    let d = d.clone();
                    Box::pin(async move { Ok(d.into()) })
                })
            }),
            stages_storage: None,
            host_env: Default::default(),
        };
        let selected = buildable(&p.config, &opts.images).expect("selection");
        let out = build_on(self.backend(), &p.config, selected, &p.sigs, opts).await;
        let events = events.lock().expect("events").clone();
        (out, events)
    }
}

fn position(builds: &[String], tag: &str) -> usize {
    builds
        .iter()
        .position(|b| b == tag)
        .unwrap_or_else(|| panic!("{tag} was not built: {builds:?}"))
}

#[tokio::test]
async fn dependencies_build_first_and_independent_images_in_parallel() {
    let p = project();
    let f = fake("1.44", true);
    let (out, _) = f.build(&p, &[], 4).await;
    let built = out.expect("builds");
    let names: Vec<_> = built
        .iter()
        .map(|b| b.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(names, ["base", "a", "b", "c"], "werf.yaml order");
    let builds = f.builder.builds();
    assert!(position(&builds, "demo/base:latest") < position(&builds, "demo/a:latest"));
    assert!(position(&builds, "demo/base:latest") < position(&builds, "demo/b:latest"));
    assert!(f.builder.most_at_once() >= 2, "base and c build together");
    // The dependants got the dependency's name as their build argument, and every image
    // its local tag.
    for b in &built {
        assert_eq!(
            f.daemon.tagged(&b.local_tag).as_deref(),
            Some(b.image_id.as_str())
        );
    }

    let serial = fake("1.44", true);
    serial.build(&p, &[], 1).await.0.expect("builds");
    assert_eq!(serial.builder.most_at_once(), 1, "--parallel-tasks-limit 1");
}

#[tokio::test]
async fn buildkit_builds_one_at_a_time_before_docker_25() {
    let p = project();
    let old = fake("1.41", true);
    old.build(&p, &["c", "base"], 4).await.0.expect("builds");
    assert_eq!(old.builder.most_at_once(), 1, "Docker 20.10 (API 1.41)");

    let new = fake("1.44", true);
    new.build(&p, &["c", "base"], 4).await.0.expect("builds");
    assert_eq!(new.builder.most_at_once(), 2, "Docker 25 (API 1.44)");

    // The classic builder is not queued.
    let classic = fake("1.41", false);
    classic
        .build(&p, &["c", "base"], 4)
        .await
        .0
        .expect("builds");
    assert_eq!(classic.builder.most_at_once(), 2, "classic builder");
}

#[tokio::test]
async fn an_unchanged_image_is_reused_not_built() {
    let mut p = project();
    let f = fake("1.44", true);
    let first = f.build(&p, &[], 4).await.0.expect("builds");
    assert!(first.iter().all(|b| !b.skipped));
    assert_eq!(f.builder.builds().len(), 4);

    let (again, events) = f.build(&p, &[], 4).await;
    let again = again.expect("builds");
    assert!(again.iter().all(|b| b.skipped), "{again:?}");
    assert_eq!(f.builder.builds().len(), 4, "nothing built again");
    for (a, b) in first.iter().zip(&again) {
        assert_eq!(a.image_id, b.image_id);
    }
    let skipped = events
        .iter()
        .filter(|e| matches!(e, Event::Skipped { .. }))
        .count();
    assert_eq!(skipped, 4);

    // A changed signature builds that image only.
    p.sigs.insert(Some("c".into()), "sig-c2".into());
    let third = f.build(&p, &[], 4).await.0.expect("builds");
    let rebuilt: Vec<_> = third.iter().filter(|b| !b.skipped).collect();
    assert_eq!(rebuilt.len(), 1);
    assert_eq!(rebuilt[0].name.as_deref(), Some("c"));
    assert_eq!(
        f.builder.builds().last().map(String::as_str),
        Some("demo/c:latest")
    );
}

#[tokio::test]
async fn labels_the_builder_dropped_are_added() {
    let p = project();
    // Podman without BuildKit: the signature label is not passed to the build (see
    // `How::podman`), and this builder also drops the project label.
    let mut f = fake("1.41", false);
    f.podman = true;
    f.builder.drop_label(labels::PROJECT);
    let built = f.build(&p, &["c"], 1).await.0.expect("builds");
    let c = &built[0];
    assert_eq!(
        f.builder.builds(),
        ["demo/c:latest", "repair:demo/c:latest"]
    );
    let image = f.daemon.image(&c.local_tag).expect("tagged");
    assert_eq!(image.id, c.image_id, "the repaired image is the result");
    assert_eq!(
        image.labels.get(labels::SIGNATURE).map(String::as_str),
        Some("sig-c")
    );
    assert_eq!(
        image.labels.get(labels::PROJECT).map(String::as_str),
        Some("demo")
    );
    assert_eq!(
        image.labels.get(labels::IMAGE).map(String::as_str),
        Some("c")
    );

    // Next run it is reused: the repaired image carries the signature.
    let again = f.build(&p, &["c"], 1).await.0.expect("builds");
    assert!(again[0].skipped);
}

#[tokio::test]
async fn a_failed_build_leaves_no_tag() {
    let p = project();
    let f = fake("1.44", true);
    f.builder.fail("demo/a:latest");
    let (out, events) = f.build(&p, &["a"], 4).await;
    let err = out.expect_err("a fails");
    let message = err.to_string();
    assert!(
        message.starts_with("image a: RUN false: The command"),
        "{message}"
    );
    assert!(
        message.contains("last log lines:\n  Step 1/1 : building demo/a:latest"),
        "{message}"
    );
    assert_eq!(f.daemon.tagged("demo/a:latest"), None);
    assert!(f.daemon.tagged("demo/base:latest").is_some());
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Done { image, .. } if image == "a")),
        "{events:?}"
    );
    // Nothing is tagged for `a` by the run either.
    assert!(!f.daemon.calls().iter().any(
        |c| matches!(c, crate::daemon::fake::Recorded::Tag { reference, .. } if reference.contains("/a:"))
    ));
}

#[tokio::test]
async fn an_image_importing_a_digest_is_reused_only_with_that_digest() {
    let yaml = WERF_YAML.replace("type: ImageName", "type: ImageDigest");
    let p = project_of(&yaml);
    let mut f = fake("1.44", true);
    f.digest = Some("sha256:d1".into());
    f.build(&p, &["a"], 2).await.0.expect("builds");
    let a = f.daemon.image("demo/a:latest").expect("a");
    assert_eq!(
        a.labels.get(labels::IMPORTED_DIGESTS).map(String::as_str),
        Some("base=sha256:d1")
    );
    let again = f.build(&p, &["a"], 2).await.0.expect("builds");
    assert!(again.iter().all(|b| b.skipped), "same digest: reused");

    // The dependency was published under another digest: same signature, rebuilt.
    f.digest = Some("sha256:d2".into());
    let third = f.build(&p, &["a"], 2).await.0.expect("builds");
    let a = third
        .iter()
        .find(|b| b.name.as_deref() == Some("a"))
        .expect("a");
    assert!(!a.skipped);
    let base = third
        .iter()
        .find(|b| b.name.as_deref() == Some("base"))
        .expect("base");
    assert!(base.skipped);
}

#[tokio::test]
async fn a_local_image_is_found_by_its_tag_first_then_by_label() {
    let daemon = FakeDaemon::new("1.44");
    let sig = |s: &str| [(labels::SIGNATURE.to_string(), s.to_string())].into();
    let id = daemon.add_image(sig("s1"));
    daemon.tag(&id, "demo/a:latest").await.expect("tag");
    let found = crate::daemon::find_local(daemon.as_ref(), "s1", Some("demo/a:latest")).await;
    assert_eq!(found.as_deref(), Some(id.as_str()));
    assert!(
        !daemon
            .calls()
            .iter()
            .any(|c| matches!(c, crate::daemon::fake::Recorded::FindByLabel(_))),
        "one inspect, no listing"
    );
    // The tag moved on: the listing finds the image by its label.
    let other = daemon.add_image(sig("s2"));
    daemon.tag(&other, "demo/a:latest").await.expect("tag");
    let found = crate::daemon::find_local(daemon.as_ref(), "s1", Some("demo/a:latest")).await;
    assert_eq!(found.as_deref(), Some(id.as_str()));
    assert_eq!(
        crate::daemon::find_local(daemon.as_ref(), "s3", None).await,
        None
    );
}

/// `app`, whose `imageSpec` sets the author, an environment variable and a label.
const SPEC_YAML: &str = r#"project: demo
configVersion: 1
---
image: app
dockerfile: Dockerfile
imageSpec:
  author: me
  config:
    env:
      MODE: prod
    labels:
      made.for: "%project%/%image%"
"#;

fn spec_project() -> Project {
    let mut p = project_of(SPEC_YAML);
    p.sigs = BTreeMap::from([(Some("app".to_string()), "sig-app".to_string())]);
    p
}

/// The ID of the image the builder made (the first export: `imageSpec` reads its config).
fn exported(f: &Fake) -> String {
    f.daemon
        .calls()
        .iter()
        .find_map(|c| match c {
            crate::daemon::fake::Recorded::Export(id) => Some(id.clone()),
            _ => None,
        })
        .expect("the built image was exported")
}

#[tokio::test]
async fn image_spec_loads_its_config_over_the_built_layers_and_drops_the_built_image() {
    use crate::daemon::fake::Recorded;
    use futures::StreamExt;
    let p = spec_project();
    let f = fake("1.44", true);
    f.builder.save_images();
    let built = f.build(&p, &["app"], 1).await.0.expect("builds");
    let id = built[0].image_id.clone();
    let first = exported(&f);
    assert_ne!(id, first, "a new config, a new ID");
    assert_eq!(f.daemon.tagged("demo/app:latest"), Some(id.clone()));
    let config = f.daemon.config(&id).expect("the loaded image's config");
    assert_eq!(config["author"], "me");
    assert_eq!(config["config"]["Env"], serde_json::json!(["MODE=prod"]));
    let labels = &config["config"]["Labels"];
    assert_eq!(labels["made.for"], "demo/app");
    assert_eq!(
        labels[labels::SIGNATURE],
        "sig-app",
        "the build's labels stay"
    );
    let spec = p.config.images[0].image_spec.as_ref().expect("spec");
    assert_eq!(labels[labels::IMAGE_SPEC], spec.digest().as_str());
    assert_eq!(
        config["rootfs"]["diff_ids"].as_array().map(Vec::len),
        Some(1),
        "the built image's layer"
    );
    // The load sent the config alone (the daemon has the layer), and the layer is there:
    // the new image exports whole.
    let archive: Vec<_> = f.daemon.export(&id).collect().await;
    assert!(archive.iter().all(Result::is_ok), "{archive:?}");
    // Export, load, then the built image removed with its parents kept, in that order.
    let calls = f.daemon.calls();
    let at = |want: &dyn Fn(&Recorded) -> bool| calls.iter().position(want);
    let export = at(&|c| matches!(c, Recorded::Export(e) if *e == first));
    let load = at(&|c| matches!(c, Recorded::Load(_)));
    let remove = at(&|c| matches!(c, Recorded::RemoveKeepingParents(r) if *r == first));
    assert!(
        matches!((export, load, remove), (Some(e), Some(l), Some(r)) if e < l && l < r),
        "{calls:?}"
    );
    assert!(f.daemon.image(&first).is_none(), "the built image is gone");
    // The next run takes the image the spec was applied to.
    let again = f.build(&p, &["app"], 1).await.0.expect("builds");
    assert!(again[0].skipped);
    assert_eq!(again[0].image_id, id);
    assert_eq!(f.builder.builds().len(), 1);
}

#[tokio::test]
async fn a_failed_image_spec_tags_nothing_and_the_next_run_builds_again() {
    let p = spec_project();
    let mut f = fake("1.44", true);
    f.extra_tags = BTreeMap::from([(Some("app".to_string()), vec!["demo/app:v1".to_string()])]);
    f.builder.save_images();
    f.daemon
        .fail_load(Some("write /var/lib/docker/tmp: no space left on device"));
    let (out, events) = f.build(&p, &["app"], 1).await;
    let message = out.expect_err("the load fails").to_string();
    assert!(
        message.contains(
            "applying imageSpec: docker load: write /var/lib/docker/tmp: no space left on device"
        ),
        "{message}"
    );
    assert_eq!(f.daemon.tagged("demo/app:v1"), None, "no extra tag");
    let local = f
        .daemon
        .image("demo/app:latest")
        .expect("the builder's tag");
    assert_eq!(local.id, exported(&f), "the builder's own image, no other");
    assert!(!local.labels.contains_key(labels::IMAGE_SPEC));
    assert!(
        !events.iter().any(|e| matches!(e, Event::Done { .. })),
        "{events:?}"
    );
    // The image without its spec carries the signature, but is not taken for it.
    f.daemon.fail_load(None);
    let again = f.build(&p, &["app"], 1).await.0.expect("builds");
    assert!(!again[0].skipped);
    assert_eq!(f.builder.builds().len(), 2);
    assert_eq!(
        f.daemon.tagged("demo/app:v1"),
        Some(again[0].image_id.clone())
    );
}
