//! Publish's daemon paths against the fake daemon (`daemon::fake`, which exports real
//! docker-save bytes) and a real registry: an image pushed from the daemon's export under
//! every tag, and `--push-with-daemon` tagging and pushing each reference through the daemon
//! with our credentials (Podman told not to verify TLS for a loopback registry).

use std::collections::{BTreeMap, HashMap};

use super::*;
use crate::daemon::fake::{FakeDaemon, Recorded};
use crate::publish::plan::{Action, ImagePlan, Wanted};
use crate::registry::RegistryOptions;
use crate::registry::test_registry::TestRegistry;
use crate::settings::HostEnv;

const SIG: &str = "sig-app";

fn options(push_with_daemon: bool) -> PublishOptions {
    PublishOptions {
        build: false,
        images: Vec::new(),
        tags: Default::default(),
        dry_run: false,
        report_path: None,
        other_reports: Vec::new(),
        digest_file: None,
        digest_file_append: false,
        digest_file_images: None,
        build_settings: Default::default(),
        upload_mode: UploadMode::Auto,
        push_with_daemon,
        layer_compression: Default::default(),
        provenance: false,
        helm_values: None,
        cache_from: Vec::new(),
        on_event: Arc::new(|_| {}),
        on_push: None,
    }
}

/// `app` to push to `HOST/demo/app` under `v1` and `latest`.
fn plan(reg: &TestRegistry) -> ImagePlan {
    ImagePlan {
        wanted: Wanted {
            name: Some("app".into()),
            repository: reg.repo("demo/app").to_string(),
            tags: vec!["v1".into(), "latest".into()],
            signature: SIG.into(),
            probe: Vec::new(),
            not_final: false,
            named_content_tag: None,
        },
        current: BTreeMap::new(),
        action: Action::Push,
        blobs: None,
    }
}

struct Setup {
    reg: TestRegistry,
    client: Client,
    daemon: Arc<FakeDaemon>,
    id: String,
}

/// A registry, a client that logs in as `ci` (the registry asks no one: the name shows
/// only where the daemon is given credentials), and a daemon holding the built image.
fn setup() -> Setup {
    let reg = TestRegistry::start();
    let mut opts = RegistryOptions::default();
    opts.keychain.explicit = Some(("ci".into(), "secret".into()));
    let client = Client::new(opts);
    let daemon = FakeDaemon::new("1.44");
    let id = add_app(&daemon);
    Setup {
        reg,
        client,
        daemon,
        id,
    }
}

impl Setup {
    fn pusher(&self, push_with_daemon: bool) -> Pusher {
        self.pusher_on(self.daemon.clone(), push_with_daemon)
    }

    fn pusher_on(&self, daemon: Arc<FakeDaemon>, push_with_daemon: bool) -> Pusher {
        let p = plan(&self.reg);
        let repos = BTreeMap::from([(p.wanted.repository.clone(), self.reg.repo("demo/app"))]);
        Pusher::new(
            daemon,
            &self.client,
            &repos,
            &options(push_with_daemon),
            BTreeMap::new(),
            &HostEnv::empty(),
        )
        .expect("pusher")
    }

    /// A second daemon holding the same image, prepared by `f`.
    fn other_daemon(&self, f: impl Fn(&FakeDaemon)) -> Arc<FakeDaemon> {
        let daemon = FakeDaemon::new("1.44");
        assert_eq!(add_app(&daemon), self.id);
        f(&daemon);
        daemon
    }
}

/// The built image `app`: two layers, its signature label.
fn add_app(daemon: &FakeDaemon) -> String {
    let labels: HashMap<String, String> =
        [(crate::labels::SIGNATURE.to_string(), SIG.to_string())].into();
    daemon.add_saved_image(labels, &[("app/main.txt", "hello\n"), ("app/v", "1\n")])
}

#[tokio::test]
async fn an_image_is_pushed_from_the_daemons_export_under_every_tag() {
    let s = setup();
    let p = plan(&s.reg);
    let pusher = s.pusher(false);
    let digest = pusher.push(&p, &s.id).await.expect("pushed");
    for tag in ["v1", "latest"] {
        let (d, config) = s.reg.judge(&format!("demo/app:{tag}"));
        assert_eq!(d, digest, "{tag}");
        assert_eq!(config["config"]["Labels"][crate::labels::SIGNATURE], SIG);
        assert_eq!(
            config["rootfs"]["diff_ids"],
            serde_json::json!(s.daemon.image(&s.id).and_then(|i| i.layers))
        );
    }
    assert_eq!(
        pusher.pushed.lock().await.get(&Some("app".to_string())),
        Some(&digest)
    );
    // From the export, once; the daemon pushed nothing itself.
    let calls = s.daemon.calls();
    assert_eq!(
        calls
            .iter()
            .filter(|c| matches!(c, Recorded::Export(_)))
            .count(),
        1,
        "{calls:?}"
    );
    assert!(!calls.iter().any(|c| matches!(c, Recorded::Push { .. })));
}

#[tokio::test]
async fn push_with_daemon_tags_and_pushes_each_reference_with_our_credentials() {
    let s = setup();
    let p = plan(&s.reg);
    // The registry holds the image already (the fake's push sends nothing), so the
    // digest read back after the daemon's push is this one.
    let published = s.pusher(false).push(&p, &s.id).await.expect("pushed");
    let repo = s.reg.repo("demo/app").to_string();
    let pushes = |daemon: &FakeDaemon| -> Vec<Recorded> {
        daemon
            .calls()
            .into_iter()
            .filter(|c| matches!(c, Recorded::Tag { .. } | Recorded::Push { .. }))
            .collect()
    };
    let expected = |tls_verify: bool| -> Vec<Recorded> {
        ["v1", "latest"]
            .iter()
            .flat_map(|t| {
                let reference = format!("{repo}:{t}");
                [
                    Recorded::Tag {
                        id: s.id.clone(),
                        reference: reference.clone(),
                    },
                    Recorded::Push {
                        reference,
                        auth: Some("ci".into()),
                        tls_verify,
                    },
                ]
            })
            .collect()
    };
    let before = s.daemon.calls().len();
    let digest = s.pusher(true).push(&p, &s.id).await.expect("pushed");
    assert_eq!(digest, published);
    let docker: Vec<Recorded> = pushes(&s.daemon);
    assert_eq!(docker, expected(true), "dockerd relaxes loopback by itself");
    assert!(
        s.daemon.calls()[before..]
            .iter()
            .all(|c| !matches!(c, Recorded::Export(_))),
        "no export"
    );

    // Podman verifies TLS even for a loopback registry unless told not to.
    let podman = s.other_daemon(|d| d.set_podman());
    s.pusher_on(podman.clone(), true)
        .push(&p, &s.id)
        .await
        .expect("pushed");
    assert_eq!(pushes(&podman), expected(false));
}

#[tokio::test]
async fn a_push_the_daemon_refuses_fails_the_image_with_the_daemons_word() {
    let s = setup();
    let p = plan(&s.reg);
    let repo = s.reg.repo("demo/app").to_string();
    s.daemon.fail_push(&format!("{repo}:latest"));
    let err = s.pusher(true).push(&p, &s.id).await.expect_err("refused");
    assert_eq!(
        err.to_string(),
        format!(
            "pushing image app with the daemon (--push-with-daemon): docker push {repo}:latest: denied: cannot push {repo}:latest"
        )
    );
    // `v1` went first; nothing was read back from the registry, which holds nothing.
    assert_eq!(s.reg.count_requests("HEAD", "/manifests/"), 0);

    let untaggable = s.other_daemon(|d| d.fail_tag(&format!("{repo}:v1")));
    let err = s
        .pusher_on(untaggable.clone(), true)
        .push(&p, &s.id)
        .await
        .expect_err("refused");
    assert!(
        err.to_string()
            .ends_with(&format!("tagging {repo}:v1: cannot tag {repo}:v1")),
        "{err}"
    );
    assert!(
        !untaggable
            .calls()
            .iter()
            .any(|c| matches!(c, Recorded::Push { .. })),
        "no push of an untagged reference"
    );
}
