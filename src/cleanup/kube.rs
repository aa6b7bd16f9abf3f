//! Images in use in Kubernetes, which cleanup never deletes (werf 1.1: pods, replication
//! controllers, deployments, stateful sets, daemon sets, replica sets, cron jobs and jobs,
//! in every namespace of every context of the kube config, or only in each context's own
//! namespace with `--scan-context-namespace-only`).

use std::path::PathBuf;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::policy::UsedImage;
use crate::registry::reference::Reference;
use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error(
        "kube config {origin}: {cause}; cleanup stops before deleting anything because it cannot tell which images are in use (pass --without-kube to skip the Kubernetes scan)"
    )]
    Config { origin: String, cause: String },
    #[error("kube context {0:?} (--kube-context) is not in the kube config")]
    NoContext(String),
    #[error(
        "Kubernetes context {context:?}: {cause}; cleanup stops before deleting anything because it cannot tell which images are in use (pass --without-kube to skip the Kubernetes scan)"
    )]
    Unreachable { context: String, cause: String },
    #[error(
        "Kubernetes context {context:?}: listing {what} in every namespace is forbidden ({cause}); with namespace-scoped access pass --scan-context-namespace-only (WERF_SCAN_CONTEXT_NAMESPACE_ONLY=1) to list only the namespace each context names. Cleanup stops before deleting anything"
    )]
    ClusterWideForbidden {
        context: String,
        what: &'static str,
        cause: String,
    },
}

/// Where the kube config comes from, in werf 1.1's precedence (kubedog's
/// `GetAllContextsClients`): base64 data first, then the files of `--kube-config` or its
/// variables, then `~/.kube/config`.
#[derive(Debug, Clone)]
pub enum KubeConfigSource {
    /// A kube config's base64 text; `origin` names the flag or variable it came from.
    Base64 { data: Secret, origin: String },
    /// Files merged in order (a `:` list). Listed files that do not exist are skipped as
    /// kubectl skips them, but a list none of whose files exists is an error: the user named
    /// a cluster, and scanning nothing would delete what it runs.
    Files { paths: Vec<PathBuf>, origin: String },
    /// `~/.kube/config`, read when it exists; nothing configured otherwise (werf warns).
    Default(Option<PathBuf>),
}

impl Default for KubeConfigSource {
    fn default() -> Self {
        KubeConfigSource::Default(None)
    }
}

/// Where to look.
#[derive(Debug, Clone, Default)]
pub struct KubeOptions {
    pub source: KubeConfigSource,
    /// Only this context; every context when `None`.
    pub context: Option<String>,
    /// List only each context's own namespace (werf's `--scan-context-namespace-only`); a
    /// context that names none is scanned in every namespace, as werf does.
    pub namespace_only: bool,
}

/// What the scan found.
#[derive(Debug, Clone)]
pub enum Scan {
    /// No kube config: nothing could be looked at.
    NoConfig,
    /// Images referenced, and the contexts scanned.
    Found {
        images: Vec<UsedImage>,
        contexts: Vec<String>,
    },
}

/// Page size of list calls.
const PAGE: u32 = 500;

/// The kube config the options name, or `None` when nothing is configured.
pub fn load_config(source: &KubeConfigSource) -> Result<Option<Kubeconfig>, KubeError> {
    match source {
        KubeConfigSource::Base64 { data, origin } => {
            let err = |cause: String| KubeError::Config {
                origin: origin.clone(),
                cause,
            };
            // Go's decoder (werf's) skips line breaks: `base64 ~/.kube/config` wraps at 76.
            let text: String = data
                .expose()
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map_err(|e| err(format!("not base64: {e}")))?;
            let yaml = String::from_utf8(bytes).map_err(|_| err("not UTF-8 text".into()))?;
            // Kubeconfig errors quote no values, so no credential reaches the message.
            let k = Kubeconfig::from_yaml(&yaml).map_err(|e| err(e.to_string()))?;
            Ok(Some(k))
        }
        KubeConfigSource::Files { paths, origin } => {
            let existing: Vec<&PathBuf> = paths.iter().filter(|p| p.exists()).collect();
            if existing.is_empty() {
                let list = paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(KubeError::Config {
                    origin: origin.clone(),
                    cause: format!("no such file: {list}"),
                });
            }
            let mut merged: Option<Kubeconfig> = None;
            for p in existing {
                let k = Kubeconfig::read_from(p).map_err(|e| KubeError::Config {
                    origin: format!("{} ({origin})", p.display()),
                    cause: e.to_string(),
                })?;
                merged = Some(match merged {
                    None => k,
                    Some(m) => m.merge(k).map_err(|e| KubeError::Config {
                        origin: format!("{} ({origin})", p.display()),
                        cause: e.to_string(),
                    })?,
                });
            }
            Ok(merged)
        }
        KubeConfigSource::Default(path) => match path {
            Some(p) if p.is_file() => {
                Kubeconfig::read_from(p)
                    .map(Some)
                    .map_err(|e| KubeError::Config {
                        origin: p.display().to_string(),
                        cause: e.to_string(),
                    })
            }
            _ => Ok(None),
        },
    }
}

/// Every image referenced in every scanned context. An unreachable cluster is an error that
/// names its context.
pub async fn images_in_use(opts: &KubeOptions) -> Result<Scan, KubeError> {
    let Some(config) = load_config(&opts.source)? else {
        return Ok(Scan::NoConfig);
    };
    // (name, the namespace to list: None for every namespace)
    let mut contexts: Vec<(String, Option<String>)> = config
        .contexts
        .iter()
        .map(|c| {
            let ns = c
                .context
                .as_ref()
                .and_then(|x| x.namespace.clone())
                .filter(|n| !n.is_empty());
            (c.name.clone(), ns.filter(|_| opts.namespace_only))
        })
        .collect();
    if let Some(want) = &opts.context {
        contexts.retain(|(name, _)| name == want);
        if contexts.is_empty() {
            return Err(KubeError::NoContext(want.clone()));
        }
    }
    if contexts.is_empty() {
        return Ok(Scan::NoConfig);
    }
    let mut images = Vec::new();
    for (ctx, namespace) in &contexts {
        let unreachable = |cause: String| KubeError::Unreachable {
            context: ctx.clone(),
            cause,
        };
        let cfg = kube::Config::from_custom_kubeconfig(
            config.clone(),
            &KubeConfigOptions {
                context: Some(ctx.clone()),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| unreachable(format!("kube config: {e}")))?;
        let client = kube::Client::try_from(cfg).map_err(|e| unreachable(e.to_string()))?;
        let scope = Scope {
            client: &client,
            ctx,
            namespace: namespace.as_deref(),
        };
        let found = scan_context(&scope).await.map_err(|(what, e)| match &e {
            kube::Error::Api(s) if s.code == 403 && namespace.is_none() => {
                KubeError::ClusterWideForbidden {
                    context: ctx.clone(),
                    what,
                    cause: s.message.clone(),
                }
            }
            _ => unreachable(format!(
                "listing {what}{}: {}",
                scope.where_(),
                error_text(&e)
            )),
        })?;
        tracing::info!(
            "Kubernetes context {ctx}{}: {} image reference(s) in use",
            scope.where_(),
            found.len()
        );
        images.extend(found);
    }
    Ok(Scan::Found {
        images,
        contexts: contexts.into_iter().map(|(c, _)| c).collect(),
    })
}

fn error_text(e: &kube::Error) -> String {
    use std::error::Error;
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.contains(&c) {
            s = format!("{s}: {c}");
        }
        src = cause.source();
    }
    s
}

type ScanError = (&'static str, kube::Error);

/// One context's client and the namespace its lists are limited to.
struct Scope<'a> {
    client: &'a kube::Client,
    ctx: &'a str,
    namespace: Option<&'a str>,
}

impl Scope<'_> {
    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        match self.namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        }
    }

    fn where_(&self) -> String {
        self.namespace
            .map(|n| format!(" (namespace {n})"))
            .unwrap_or_default()
    }
}

async fn scan_context(scope: &Scope<'_>) -> Result<Vec<UsedImage>, ScanError> {
    let ctx = scope.ctx;
    let mut out = Vec::new();
    for pod in list::<Pod>(scope, "pods").await? {
        let (ns, name) = meta(&pod.metadata);
        let src = format!("context {ctx}: Pod {ns}/{name}");
        if let Some(spec) = &pod.spec {
            add_spec(&mut out, spec, &src);
        }
        // What the node actually runs: its digest, whatever tag the spec names.
        let statuses = pod.status.iter().flat_map(|s| {
            s.container_statuses
                .iter()
                .flatten()
                .chain(s.init_container_statuses.iter().flatten())
        });
        for st in statuses {
            add(&mut out, &st.image, &src);
            add(&mut out, &st.image_id, &src);
        }
    }
    let mut templated = |kind: &str, m: &ObjectMeta, spec: Option<&PodSpec>| {
        let (ns, name) = meta(m);
        if let Some(spec) = spec {
            add_spec(
                &mut out,
                spec,
                &format!("context {ctx}: {kind} {ns}/{name}"),
            );
        }
    };
    for o in list::<ReplicationController>(scope, "replicationcontrollers").await? {
        let spec = o
            .spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .and_then(|t| t.spec.as_ref());
        templated("ReplicationController", &o.metadata, spec);
    }
    for o in list::<Deployment>(scope, "deployments").await? {
        templated("Deployment", &o.metadata, o.spec.template.spec.as_ref());
    }
    for o in list::<StatefulSet>(scope, "statefulsets").await? {
        templated("StatefulSet", &o.metadata, o.spec.template.spec.as_ref());
    }
    for o in list::<DaemonSet>(scope, "daemonsets").await? {
        templated("DaemonSet", &o.metadata, o.spec.template.spec.as_ref());
    }
    for o in list::<ReplicaSet>(scope, "replicasets").await? {
        let spec = o.spec.template.as_ref().and_then(|t| t.spec.as_ref());
        templated("ReplicaSet", &o.metadata, spec);
    }
    for o in list::<Job>(scope, "jobs").await? {
        let spec = o.spec.as_ref().and_then(|s| s.template.spec.as_ref());
        templated("Job", &o.metadata, spec);
    }
    match list::<CronJob>(scope, "cronjobs").await {
        Ok(items) => {
            for o in items {
                let spec = o
                    .spec
                    .job_template
                    .spec
                    .as_ref()
                    .and_then(|j| j.template.spec.as_ref());
                templated("CronJob", &o.metadata, spec);
            }
        }
        // Clusters before 1.21 serve CronJobs at batch/v1beta1 only.
        Err((_, kube::Error::Api(s))) if s.code == 404 => {
            out.extend(cronjobs_v1beta1(scope).await?);
        }
        Err(e) => return Err(e),
    }
    Ok(out)
}

async fn cronjobs_v1beta1(scope: &Scope<'_>) -> Result<Vec<UsedImage>, ScanError> {
    let ctx = scope.ctx;
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("batch", "v1beta1", "CronJob"));
    let api: Api<DynamicObject> = match scope.namespace {
        Some(ns) => Api::namespaced_with(scope.client.clone(), ns, &ar),
        None => Api::all_with(scope.client.clone(), &ar),
    };
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut lp = ListParams::default().limit(PAGE);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = api.list(&lp).await.map_err(|e| ("cronjobs", e))?;
        for o in &page.items {
            let (ns, name) = meta(&o.metadata);
            let src = format!("context {ctx}: CronJob {ns}/{name} (batch/v1beta1)");
            let spec = &o.data["spec"]["jobTemplate"]["spec"]["template"]["spec"];
            for list in ["containers", "initContainers", "ephemeralContainers"] {
                for c in spec[list].as_array().into_iter().flatten() {
                    if let Some(i) = c["image"].as_str() {
                        add(&mut out, i, &src);
                    }
                }
            }
        }
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// Every object of a kind in the scope's namespace (or all), page by page (`limit` +
/// `continue`).
async fn list<K>(scope: &Scope<'_>, what: &'static str) -> Result<Vec<K>, ScanError>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = scope.api();
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut lp = ListParams::default().limit(PAGE);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = api.list(&lp).await.map_err(|e| (what, e))?;
        out.extend(page.items);
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(out);
        }
    }
}

fn meta(m: &ObjectMeta) -> (String, String) {
    (
        m.namespace.clone().unwrap_or_default(),
        m.name.clone().unwrap_or_default(),
    )
}

fn add_spec(out: &mut Vec<UsedImage>, spec: &PodSpec, src: &str) {
    let containers: Vec<&Container> = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .collect();
    for c in containers {
        if let Some(i) = &c.image {
            add(out, i, src);
        }
    }
    for c in spec.ephemeral_containers.iter().flatten() {
        if let Some(i) = &c.image {
            add(out, i, src);
        }
    }
}

/// Parse an image reference as Kubernetes writes it (`docker-pullable://` in image ids).
fn add(out: &mut Vec<UsedImage>, image: &str, src: &str) {
    let image = image
        .strip_prefix("docker-pullable://")
        .or_else(|| image.strip_prefix("docker://"))
        .unwrap_or(image);
    if let Some(u) = parse_used(image, src) {
        out.push(u);
    }
}

/// `host/path[:tag][@digest]` → a [`UsedImage`]; `None` for what is not a reference (a bare
/// image id).
pub fn parse_used(image: &str, src: &str) -> Option<UsedImage> {
    let r = Reference::parse(image.trim()).ok()?;
    Some(UsedImage {
        repository: r.repository.to_string(),
        tag: r.tag,
        digest: r.digest,
        source: src.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::parse_used;

    #[test]
    fn references_as_kubernetes_writes_them() {
        let u = parse_used("registry.example:5000/proj/app:v1", "s").expect("ref");
        assert_eq!(u.repository, "registry.example:5000/proj/app");
        assert_eq!(u.tag.as_deref(), Some("v1"));
        let d = format!("sha256:{}", "a".repeat(64));
        let u = parse_used(&format!("nginx@{d}"), "s").expect("ref");
        assert_eq!(u.repository, "docker.io/library/nginx");
        assert_eq!(u.digest.as_deref(), Some(d.as_str()));
    }
}
