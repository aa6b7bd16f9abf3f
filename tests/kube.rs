//! The Kubernetes scan against a fake API server (tests/support/kube.rs) that Debian's
//! kubectl reads back first, so the fake is known to answer as Kubernetes does: every kind
//! werf 1.1 looks at, in every namespace, paged with `limit` + `continue`; CronJobs at
//! batch/v1beta1 on old clusters; an unreachable cluster; no kube config.

use crate::support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use slipway::cleanup::kube::{KubeConfigSource, KubeError, KubeOptions, Scan, images_in_use};
use support::kube::{Fake, kubeconfig, kubectl, meta, template};

const REG: &str = "registry.test:5000/proj/app";

fn img(tag: &str) -> String {
    format!("{REG}:{tag}")
}

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

/// Every kind with images; returns the fake and the images it references.
fn cluster(with_v1_cronjobs: bool) -> (Fake, BTreeSet<String>) {
    let mut f = Fake::new(2);
    let mut want = BTreeSet::new();
    // Seven pods over two namespaces: four pages of two.
    for i in 0..7 {
        let ns = if i % 2 == 0 { "team-a" } else { "team-b" };
        let mut pod = json!({"metadata": meta(ns, &format!("pod-{i}")),
                             "spec": {"containers": [{"name": "c", "image": img(&format!("pod-{i}"))}]}});
        want.insert(img(&format!("pod-{i}")));
        if i == 3 {
            // The spec names a tag, the node reports what it runs by digest.
            pod["spec"]["initContainers"] = json!([{"name": "init", "image": img("pod-init")}]);
            pod["status"] = json!({"containerStatuses": [{"name": "c", "image": img("pod-3"),
                "imageID": format!("docker-pullable://{REG}@{}", digest('b')), "ready": true,
                "restartCount": 0}]});
            want.insert(img("pod-init"));
            want.insert(format!("{REG}@{}", digest('b')));
        }
        f.add("api/v1", "pods", pod);
    }
    let templated = |f: &mut Fake, gv: &str, plural: &str, name: &str, spec: Value| {
        let mut o = json!({"metadata": meta("prod", name)});
        o["spec"] = spec;
        f.add(gv, plural, o);
    };
    for (gv, plural, tag) in [
        ("api/v1", "replicationcontrollers", "rc"),
        ("apis/apps/v1", "deployments", "deploy"),
        ("apis/apps/v1", "statefulsets", "sts"),
        ("apis/apps/v1", "daemonsets", "ds"),
        ("apis/apps/v1", "replicasets", "rs"),
        ("apis/batch/v1", "jobs", "job"),
    ] {
        let mut spec = json!({"selector": {"matchLabels": {"app": "x"}},
                              "template": template(&[&img(tag)], &[&img(&format!("{tag}-init"))])});
        if plural == "jobs" || plural == "replicationcontrollers" {
            spec.as_object_mut().map(|m| m.remove("selector"));
        }
        templated(&mut f, gv, plural, tag, spec);
        want.insert(img(tag));
        want.insert(img(&format!("{tag}-init")));
    }
    // Three deployments in all: pages again.
    for n in ["deploy-2", "deploy-3"] {
        templated(
            &mut f,
            "apis/apps/v1",
            "deployments",
            n,
            json!({"selector": {"matchLabels": {"app": "x"}}, "template": template(&[&img(n)], &[])}),
        );
        want.insert(img(n));
    }
    let cron = json!({"schedule": "* * * * *",
                      "jobTemplate": {"spec": {"template": template(&[&img("cron")], &[])}}});
    if with_v1_cronjobs {
        templated(&mut f, "apis/batch/v1", "cronjobs", "cron", cron);
    } else {
        templated(&mut f, "apis/batch/v1beta1", "cronjobs", "cron", cron);
    }
    want.insert(img("cron"));
    (f, want)
}

/// Every `image` / `imageID` string in a JSON document.
fn images_in(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("image", Value::String(s)) => {
                        out.insert(s.clone());
                    }
                    ("imageID", Value::String(s)) => {
                        out.insert(s.trim_start_matches("docker-pullable://").to_string());
                    }
                    _ => images_in(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| images_in(x, out)),
        _ => {}
    }
}

/// kubectl's view of the fake: every object of these resources, all namespaces, in pages of 2.
fn kubectl_get(config: &Path, cache: &Path, resources: &str) -> Value {
    let out = Command::new(kubectl())
        .arg("--kubeconfig")
        .arg(config)
        .arg("--cache-dir")
        .arg(cache)
        .args([
            "get",
            resources,
            "--all-namespaces",
            "--chunk-size=2",
            "-o",
            "json",
        ])
        .output()
        .expect("kubectl");
    assert!(
        out.status.success(),
        "kubectl get {resources}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("kubectl json")
}

/// A kube config file list as `--kube-config` gives it.
fn files(path: std::path::PathBuf) -> KubeConfigSource {
    KubeConfigSource::Files {
        paths: vec![path],
        origin: "--kube-config".into(),
    }
}

fn scan_images(scan: &Scan) -> BTreeSet<String> {
    let Scan::Found { images, .. } = scan else {
        panic!("no config found: {scan:?}");
    };
    images
        .iter()
        .map(|u| match (&u.tag, &u.digest) {
            (_, Some(d)) => format!("{}@{d}", u.repository),
            (Some(t), None) => format!("{}:{t}", u.repository),
            (None, None) => u.repository.clone(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_in_every_namespace_page_by_page_as_kubectl_reads_it() {
    let (fake, want) = cluster(true);
    let addr = fake.serve();
    let d = tempfile::tempdir().expect("tmp");
    let config = d.path().join("config");
    kubeconfig(&config, &[("fake", format!("http://{addr}"))]);

    // kubectl, a real client, reads the fake's discovery and paged lists.
    let all = kubectl_get(
        &config,
        &d.path().join("cache-1"),
        "pods,replicationcontrollers,deployments,statefulsets,daemonsets,replicasets,jobs,cronjobs",
    );
    let items = all["items"].as_array().expect("items");
    let names: BTreeSet<String> = items
        .iter()
        .map(|i| {
            format!(
                "{}/{}/{}",
                i["kind"].as_str().unwrap_or("?"),
                i["metadata"]["namespace"].as_str().unwrap_or("?"),
                i["metadata"]["name"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(items.len(), 7 + 1 + 3 + 1 + 1 + 1 + 1 + 1, "{names:?}");
    for n in [
        "Pod/team-a/pod-0",
        "Pod/team-b/pod-5",
        "Pod/team-a/pod-6",
        "Deployment/prod/deploy-3",
        "CronJob/prod/cron",
        "ReplicationController/prod/rc",
    ] {
        assert!(names.contains(n), "kubectl lacks {n}: {names:?}");
    }
    let mut seen = BTreeSet::new();
    images_in(&all, &mut seen);
    assert_eq!(seen, want, "kubectl's images");

    // Slipway's scan finds the same images, with where each one is.
    let scan = images_in_use(&KubeOptions {
        source: files(config.clone()),
        context: None,
        namespace_only: false,
    })
    .await
    .expect("scan");
    assert_eq!(scan_images(&scan), want);
    let Scan::Found { images, contexts } = &scan else {
        unreachable!()
    };
    assert_eq!(contexts, &vec!["fake".to_string()]);
    let src = |tag: &str| {
        images
            .iter()
            .find(|u| u.tag.as_deref() == Some(tag))
            .map(|u| u.source.clone())
            .unwrap_or_default()
    };
    assert_eq!(src("sts-init"), "context fake: StatefulSet prod/sts");
    assert_eq!(src("pod-5"), "context fake: Pod team-b/pod-5");
    assert_eq!(src("cron"), "context fake: CronJob prod/cron");
}

#[tokio::test(flavor = "multi_thread")]
async fn cronjobs_of_an_old_cluster_are_read_at_batch_v1beta1() {
    let (fake, want) = cluster(false);
    let addr = fake.serve();
    let d = tempfile::tempdir().expect("tmp");
    let config = d.path().join("config");
    kubeconfig(&config, &[("old", format!("http://{addr}"))]);
    let cron = kubectl_get(&config, &d.path().join("cache-1"), "cronjobs.v1beta1.batch");
    let mut seen = BTreeSet::new();
    images_in(&cron, &mut seen);
    assert_eq!(seen, [img("cron")].into());
    let scan = images_in_use(&KubeOptions {
        source: files(config),
        context: None,
        namespace_only: false,
    })
    .await
    .expect("scan");
    assert_eq!(scan_images(&scan), want);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_cluster_is_an_error_naming_its_context() {
    let (fake, _) = cluster(true);
    let addr = fake.serve();
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let d = tempfile::tempdir().expect("tmp");
    let config = d.path().join("config");
    kubeconfig(
        &config,
        &[
            ("good", format!("http://{addr}")),
            ("dead", format!("http://{closed}")),
        ],
    );
    let err = images_in_use(&KubeOptions {
        source: files(config.clone()),
        context: None,
        namespace_only: false,
    })
    .await
    .expect_err("dead cluster");
    assert!(
        matches!(&err, KubeError::Unreachable { context, .. } if context == "dead"),
        "{err}"
    );
    assert!(err.to_string().contains("\"dead\""), "{err}");
    // --kube-context picks one.
    let good = images_in_use(&KubeOptions {
        source: files(config.clone()),
        context: Some("good".into()),
        namespace_only: false,
    })
    .await
    .expect("good only");
    assert!(matches!(good, Scan::Found { ref contexts, .. } if contexts == &["good".to_string()]));
    let err = images_in_use(&KubeOptions {
        source: files(config),
        context: Some("nope".into()),
        namespace_only: false,
    })
    .await
    .expect_err("unknown context");
    assert!(
        matches!(err, KubeError::NoContext(ref c) if c == "nope"),
        "{err}"
    );
    // No ~/.kube/config: nothing to scan (the CLI warns, as werf does).
    let none = images_in_use(&KubeOptions {
        source: KubeConfigSource::Default(Some(d.path().join("absent"))),
        context: None,
        namespace_only: false,
    })
    .await
    .expect("no config");
    assert!(matches!(none, Scan::NoConfig));
    // A named config that does not exist stops cleanup: scanning nothing would delete what
    // the cluster runs.
    let err = images_in_use(&KubeOptions {
        source: files(d.path().join("absent")),
        context: None,
        namespace_only: false,
    })
    .await
    .expect_err("named but absent");
    assert!(matches!(err, KubeError::Config { .. }), "{err}");
    assert!(err.to_string().contains("no such file"), "{err}");
}

/// `--scan-context-namespace-only` against a cluster that forbids cluster-wide lists (a
/// namespace-scoped service account): every kind is listed in the context's namespace only,
/// and without the option the 403 is an error that names it.
#[tokio::test(flavor = "multi_thread")]
async fn namespace_only_scans_list_the_contexts_namespace() {
    let (fake, _) = cluster(true);
    let addr = fake.only_namespaces(&["team-a"]).serve();
    let d = tempfile::tempdir().expect("tmp");
    let config = d.path().join("config");
    std::fs::write(
        &config,
        support::kube::kubeconfig_text(&[("a", format!("http://{addr}"), Some("team-a"))]),
    )
    .expect("write");
    let opts = |namespace_only| KubeOptions {
        source: files(config.clone()),
        context: None,
        namespace_only,
    };
    let scan = images_in_use(&opts(true)).await.expect("namespace scan");
    let want: BTreeSet<String> = [0, 2, 4, 6]
        .iter()
        .map(|i| img(&format!("pod-{i}")))
        .collect();
    assert_eq!(scan_images(&scan), want);
    let err = images_in_use(&opts(false)).await.expect_err("403");
    assert!(
        matches!(&err, KubeError::ClusterWideForbidden { context, what, .. } if context == "a" && *what == "pods"),
        "{err}"
    );
    assert!(
        err.to_string().contains("--scan-context-namespace-only"),
        "{err}"
    );
}
