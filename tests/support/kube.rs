//! A fake Kubernetes API server following the published API: discovery (`/api`, `/apis`,
//! `/api/v1`, `/apis/GROUP/VERSION`), cluster-wide list endpoints (`/api/v1/pods`,
//! `/apis/apps/v1/deployments`, …) and namespaced ones (`/api/v1/namespaces/NS/pods`) that
//! page with `limit` and `continue`. It always pages by at most `page` items (a server may
//! return fewer than `limit`), so every client must follow `continue`. With
//! [`Fake::only_namespaces`] it answers as RBAC does for a namespace-scoped service account:
//! 403 Forbidden on cluster-wide lists and on other namespaces. Plain HTTP on a loopback
//! port; `kubeconfig` writes a config file for it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// (group path, resource plural) → (kind, namespaced items).
pub struct Fake {
    /// `api/v1` or `apis/apps/v1` → plural → items.
    pub lists: BTreeMap<String, BTreeMap<String, Vec<Value>>>,
    pub page: usize,
    /// `Some`: lists are allowed only in these namespaces (RBAC's Role, not ClusterRole).
    pub allowed_namespaces: Option<Vec<String>>,
}

/// The group/version where each resource kind lives, and its kind name.
pub const RESOURCES: &[(&str, &str, &str)] = &[
    ("api/v1", "pods", "Pod"),
    ("api/v1", "replicationcontrollers", "ReplicationController"),
    ("apis/apps/v1", "deployments", "Deployment"),
    ("apis/apps/v1", "statefulsets", "StatefulSet"),
    ("apis/apps/v1", "daemonsets", "DaemonSet"),
    ("apis/apps/v1", "replicasets", "ReplicaSet"),
    ("apis/batch/v1", "jobs", "Job"),
    ("apis/batch/v1", "cronjobs", "CronJob"),
    ("apis/batch/v1beta1", "cronjobs", "CronJob"),
];

impl Fake {
    pub fn new(page: usize) -> Fake {
        Fake {
            lists: BTreeMap::new(),
            page,
            allowed_namespaces: None,
        }
    }

    /// Forbid cluster-wide lists and lists in other namespaces than these.
    pub fn only_namespaces(mut self, namespaces: &[&str]) -> Fake {
        self.allowed_namespaces = Some(namespaces.iter().map(|n| n.to_string()).collect());
        self
    }

    /// Serve every kind werf looks at (empty where nothing was added), as a real cluster does.
    pub fn with_every_kind(mut self) -> Fake {
        for (gv, plural, _) in RESOURCES {
            if *gv == "apis/batch/v1beta1" {
                continue;
            }
            self.lists
                .entry(gv.to_string())
                .or_default()
                .entry(plural.to_string())
                .or_default();
        }
        self
    }

    /// Add an object (`metadata.namespace/name` set by the caller) to a list.
    pub fn add(&mut self, gv: &str, plural: &str, obj: Value) {
        self.lists
            .entry(gv.to_string())
            .or_default()
            .entry(plural.to_string())
            .or_default()
            .push(obj);
    }

    /// Serve on a loopback port until the process ends; returns the address.
    pub fn serve(self) -> SocketAddr {
        let state = Arc::new(self);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            rt.block_on(async move {
                let app = axum::Router::new().fallback(handle).with_state(state);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                tx.send(listener.local_addr().expect("addr")).expect("send");
                let _ = axum::serve(listener, app).await;
            });
        });
        rx.recv().expect("address")
    }
}

fn json_response(code: StatusCode, v: Value) -> Response {
    (code, [("content-type", "application/json")], v.to_string()).into_response()
}

fn not_found(path: &str) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": format!("the server could not find the requested resource ({path})"),
               "reason": "NotFound", "details": {}, "code": 404}),
    )
}

/// Group versions served: those with at least one list registered.
fn served(fake: &Fake) -> Vec<&str> {
    fake.lists.keys().map(String::as_str).collect()
}

async fn handle(
    State(fake): State<Arc<Fake>>,
    uri: Uri,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let path = uri.path().trim_matches('/').to_string();
    if path == "api" {
        return json_response(
            StatusCode::OK,
            json!({"kind": "APIVersions", "versions": ["v1"],
                   "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
        );
    }
    if path == "apis" {
        let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for gv in served(&fake) {
            if let Some(rest) = gv.strip_prefix("apis/")
                && let Some((g, v)) = rest.split_once('/')
            {
                groups.entry(g).or_default().push(v);
            }
        }
        let groups: Vec<Value> = groups
            .iter()
            .map(|(g, vs)| {
                // The preferred version is the GA one when served.
                let pref = vs.iter().find(|v| **v == "v1").unwrap_or(&vs[0]);
                json!({"name": g,
                       "versions": vs.iter().map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v})).collect::<Vec<_>>(),
                       "preferredVersion": {"groupVersion": format!("{g}/{pref}"), "version": pref}})
            })
            .collect();
        return json_response(
            StatusCode::OK,
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
        );
    }
    // Discovery of one group version.
    if let Some(lists) = fake.lists.get(&path) {
        let gv = path
            .strip_prefix("api/")
            .or_else(|| path.strip_prefix("apis/"))
            .unwrap_or(&path);
        let resources: Vec<Value> = lists
            .keys()
            .map(|plural| {
                let kind = RESOURCES
                    .iter()
                    .find(|(g, p, _)| *g == path && p == plural)
                    .map_or("Unknown", |(_, _, k)| k);
                json!({"name": plural, "singularName": "", "namespaced": true, "kind": kind,
                       "verbs": ["get", "list", "watch"]})
            })
            .collect();
        return json_response(
            StatusCode::OK,
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
        );
    }
    // A list: GROUPVERSION/PLURAL (cluster-wide) or GROUPVERSION/namespaces/NS/PLURAL.
    let Some((prefix, plural)) = path.rsplit_once('/') else {
        return not_found(&path);
    };
    let (gv, namespace) = match prefix.rsplit_once("/namespaces/") {
        Some((gv, ns)) => (gv, Some(ns)),
        None => (prefix, None),
    };
    let Some(all) = fake.lists.get(gv).and_then(|l| l.get(plural)) else {
        return not_found(&path);
    };
    if let Some(allowed) = &fake.allowed_namespaces
        && !namespace.is_some_and(|ns| allowed.iter().any(|a| a == ns))
    {
        let group = gv
            .strip_prefix("apis/")
            .and_then(|g| g.split_once('/'))
            .map_or("", |(g, _)| g);
        let scope = match namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_string(),
        };
        return json_response(
            StatusCode::FORBIDDEN,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": format!("{plural} is forbidden: User \"system:serviceaccount:prod:ci\" cannot list resource \"{plural}\" in API group \"{group}\" {scope}"),
                   "reason": "Forbidden", "details": {"kind": plural}, "code": 403}),
        );
    }
    let items: Vec<&Value> = all
        .iter()
        .filter(|o| namespace.is_none_or(|ns| o["metadata"]["namespace"].as_str() == Some(ns)))
        .collect();
    let kind = RESOURCES
        .iter()
        .find(|(g, p, _)| *g == gv && *p == plural)
        .map_or("Unknown", |(_, _, k)| k);
    let api_version = gv
        .strip_prefix("api/")
        .or_else(|| gv.strip_prefix("apis/"))
        .unwrap_or(gv);
    let start: usize = match q.get("continue") {
        None => 0,
        Some(c) if c.is_empty() => 0,
        Some(c) => match c.parse() {
            Ok(n) => n,
            Err(_) => {
                return json_response(
                    StatusCode::GONE,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                           "message": "bad continue token", "reason": "Expired", "code": 410}),
                );
            }
        },
    };
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l: &usize| *l > 0)
        .unwrap_or(usize::MAX)
        .min(fake.page);
    let end = (start + limit).min(items.len());
    let page: Vec<Value> = items[start.min(end)..end]
        .iter()
        .map(|v| (*v).clone())
        .collect();
    let mut metadata = json!({"resourceVersion": "100"});
    if end < items.len() {
        metadata["continue"] = json!(end.to_string());
        metadata["remainingItemCount"] = json!(items.len() - end);
    }
    json_response(
        StatusCode::OK,
        json!({"kind": format!("{kind}List"), "apiVersion": api_version, "metadata": metadata, "items": page}),
    )
}

/// A pod template with these container and init container images.
pub fn template(images: &[&str], init: &[&str]) -> Value {
    let c = |list: &[&str], prefix: &str| -> Vec<Value> {
        list.iter()
            .enumerate()
            .map(|(i, im)| json!({"name": format!("{prefix}{i}"), "image": im}))
            .collect()
    };
    json!({"metadata": {"labels": {"app": "x"}},
           "spec": {"containers": c(images, "c"), "initContainers": c(init, "i")}})
}

/// `metadata` of a namespaced object.
pub fn meta(ns: &str, name: &str) -> Value {
    json!({"namespace": ns, "name": name, "uid": format!("{ns}-{name}"), "resourceVersion": "1"})
}

/// Write a kube config with one context per (name, server address).
pub fn kubeconfig(path: &Path, clusters: &[(&str, String)]) {
    let with_ns: Vec<(&str, String, Option<&str>)> = clusters
        .iter()
        .map(|(n, s)| (*n, s.clone(), None))
        .collect();
    std::fs::write(path, kubeconfig_text(&with_ns)).expect("write kubeconfig");
}

/// A kube config's text: one context per (name, server address, namespace).
pub fn kubeconfig_text(clusters: &[(&str, String, Option<&str>)]) -> String {
    let mut s = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for (name, server, _) in clusters {
        s += &format!("- name: {name}\n  cluster:\n    server: {server}\n");
    }
    s += "users:\n- name: u\n  user:\n    token: test-token\ncontexts:\n";
    for (name, _, ns) in clusters {
        s += &format!("- name: {name}\n  context:\n    cluster: {name}\n    user: u\n");
        if let Some(ns) = ns {
            s += &format!("    namespace: {ns}\n");
        }
    }
    if let Some((first, _, _)) = clusters.first() {
        s += &format!("current-context: {first}\n");
    }
    s
}

/// Debian's kubectl, unpacked by scripts/setup.
pub fn kubectl() -> std::path::PathBuf {
    let p = std::path::PathBuf::from(
        std::env::var("SLIPWAY_TEST_KUBECTL")
            .unwrap_or_else(|_| "/opt/slipway-kubectl/usr/bin/kubectl".into()),
    );
    assert!(
        p.is_file(),
        "{} is missing: run scripts/setup (it unpacks Debian's kubernetes-client)",
        p.display()
    );
    p
}
