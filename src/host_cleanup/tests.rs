use std::collections::HashMap;
use std::path::PathBuf;

use super::run::{Applied, apply};
use super::*;
use crate::daemon::DaemonApi;
use crate::daemon::fake::FakeDaemon;

fn slipway_labels() -> HashMap<String, String> {
    HashMap::from([(labels::PROJECT.to_string(), "demo".to_string())])
}

fn image(id: &str, tags: &[&str], size: u64, created: i64) -> ImageSummary {
    ImageSummary {
        id: id.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        labels: slipway_labels(),
        size,
        created,
    }
}

fn container(id: &str, image_id: &str, running: bool) -> ContainerSummary {
    ContainerSummary {
        id: id.into(),
        image_id: image_id.into(),
        names: vec![id.into()],
        labels: HashMap::new(),
        running,
    }
}

fn measured(total: u64, used: u64) -> Usage {
    Usage::Measured {
        path: PathBuf::from("/var/lib/docker"),
        total,
        used,
    }
}

fn ids(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.id.as_str()).collect()
}

#[test]
fn remote_references_are_told_from_local_names() {
    assert!(is_remote_reference("registry.example.com/shop/app:v1"));
    assert!(is_remote_reference("127.0.0.1:5000/shop:v1"));
    assert!(is_remote_reference("localhost/shop:v1"));
    assert!(!is_remote_reference("demo/app:latest"));
    assert!(!is_remote_reference("demo:latest"));
}

#[test]
fn below_the_threshold_only_dangling_images_and_stopped_containers_go() {
    let inv = Inventory {
        images: vec![
            image("sha256:a", &[], 10, 1),
            image(
                "sha256:b",
                &["demo/b:latest", "reg.example/demo/b:v1"],
                10,
                2,
            ),
            image("sha256:c", &["demo/c:latest"], 10, 3),
        ],
        containers: vec![container("old", "sha256:c", false)],
        files: vec![],
    };
    let p = plan(&inv, &measured(100, 50), Policy::default(), Mode::Cleanup);
    assert_eq!(ids(&p.containers), ["old"]);
    assert_eq!(ids(&p.images), ["sha256:a"]);
    assert_eq!(p.untag, ["reg.example/demo/b:v1"]);
    assert!(matches!(p.volume, VolumeCheck::Within { usage, .. } if usage == 50.0));
}

#[test]
fn over_the_threshold_the_least_recently_used_go_at_least_ten_never_one_in_use() {
    // 14 tagged images of 1 MiB, the oldest (created 0) used by a running container.
    let mut images: Vec<ImageSummary> = (0..14)
        .map(|n| {
            image(
                &format!("sha256:{n:02}"),
                &[&format!("demo/i{n}:latest")],
                1 << 20,
                n,
            )
        })
        .collect();
    images.push(ImageSummary {
        labels: HashMap::new(),
        ..image("sha256:foreign", &["busybox:latest"], 1 << 20, -5)
    });
    let inv = Inventory {
        images,
        containers: vec![container("web", "sha256:00", true)],
        files: vec![],
    };
    // 80 % of 100 MiB used: 15 MiB to free down to 65 %.
    let p = plan(
        &inv,
        &measured(100 << 20, 80 << 20),
        Policy::default(),
        Mode::Cleanup,
    );
    let VolumeCheck::Over {
        bytes_to_free,
        target,
        ..
    } = p.volume
    else {
        panic!("{:?}", p.volume)
    };
    assert_eq!(target, 65.0);
    assert_eq!(bytes_to_free, 15 << 20);
    // 13 candidates (sha256:00 is in use): 15 MiB needs all 13; the foreign image is not ours.
    assert_eq!(p.images.len(), 13, "{p}");
    assert!(!ids(&p.images).contains(&"sha256:00"));
    assert!(!ids(&p.images).contains(&"sha256:foreign"));
    assert_eq!(ids(&p.in_use), ["sha256:00"]);
    assert!(p.containers.is_empty(), "a running container stays");

    // 71 %: 6 MiB to free, but at least 10 images go, oldest first.
    let p = plan(
        &inv,
        &measured(100 << 20, 71 << 20),
        Policy::default(),
        Mode::Cleanup,
    );
    assert_eq!(
        ids(&p.images),
        (1..=10)
            .map(|n| format!("sha256:{n:02}"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_remote_daemon_skips_the_threshold() {
    let inv = Inventory {
        images: vec![image("sha256:b", &["demo/b:latest"], 10, 2)],
        ..Inventory::default()
    };
    let p = plan(
        &inv,
        &Usage::Skipped("remote".into()),
        Policy::default(),
        Mode::Cleanup,
    );
    assert!(p.images.is_empty());
    assert!(p.to_string().contains("not checked: remote"), "{p}");
}

#[test]
fn purge_keeps_images_in_use_unless_forced() {
    let inv = Inventory {
        images: vec![
            image("sha256:a", &["demo/a:latest"], 10, 1),
            image("sha256:b", &["demo/b:latest"], 10, 2),
        ],
        containers: vec![
            container("run", "sha256:a", true),
            container("stopped", "sha256:b", false),
        ],
        files: vec![PathBuf::from("/cache/slipway")],
    };
    let skip = Usage::Skipped("x".into());
    let p = plan(&inv, &skip, Policy::default(), Mode::Purge { force: false });
    assert_eq!(ids(&p.containers), ["stopped"]);
    assert_eq!(ids(&p.images), ["sha256:b"]);
    assert_eq!(ids(&p.in_use), ["sha256:a"]);
    assert_eq!(p.files, [PathBuf::from("/cache/slipway")]);
    let p = plan(&inv, &skip, Policy::default(), Mode::Purge { force: true });
    assert_eq!(ids(&p.containers), ["run", "stopped"]);
    assert_eq!(ids(&p.images), ["sha256:a", "sha256:b"]);
}

#[tokio::test]
async fn apply_removes_through_the_daemon_and_keeps_what_a_container_uses() {
    let daemon = FakeDaemon::new("1.41");
    let old = daemon.add_image(slipway_labels());
    let used = daemon.add_image(slipway_labels());
    daemon.tag(&old, "demo/old:latest").await.expect("tag");
    daemon.tag(&used, "demo/used:latest").await.expect("tag");
    daemon
        .tag(&used, "reg.example/demo/used:v1")
        .await
        .expect("tag");
    daemon.set_size(&old, 5, 1);
    daemon.set_size(&used, 5, 2);
    daemon.add_container("web", &used, true);
    daemon.add_container("exited", &old, false);
    let paths = crate::settings::Paths {
        cache_dir: None,
        temp_dir: PathBuf::from("/nonexistent"),
    };
    let inv = run::inventory(daemon.as_ref(), &paths, Mode::Cleanup)
        .await
        .expect("inventory");
    let policy = Policy {
        min_images: 1,
        ..Policy::default()
    };
    let p = plan(&inv, &measured(100, 90), policy, Mode::Cleanup);
    let applied = apply(daemon.as_ref(), &p).await;
    assert_eq!(
        applied,
        Applied {
            containers: 1,
            images: 1,
            untagged: 1,
            files: 0,
            bytes: 5,
            failures: vec![],
        }
    );
    assert!(daemon.image(&old).is_none());
    assert!(daemon.image(&used).is_some());
    assert_eq!(daemon.tagged("demo/used:latest"), Some(used.clone()));
    assert_eq!(daemon.tagged("reg.example/demo/used:v1"), None);
    assert_eq!(daemon.container_ids(), ["web"]);
}
