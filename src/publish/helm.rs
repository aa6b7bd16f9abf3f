//! werf 1.1's Helm hand-off: the service values werf's deploy passes to a chart
//! (werf 1.1 `pkg/deploy/service_values.go`), made from a publish report, and werf's chart
//! helpers (`werf_container_image`, `werf_container_env`, from `pkg/deploy/helm/templates.go`)
//! as a file a chart `include`s. Slipway does not deploy: Helm does, with these values.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value, json};

use super::report::{Report, ReportError, TagOption, write_atomic};
use crate::naming::slug;
use crate::registry::image::Manifest;
use crate::registry::{Client, Repository};

/// werf's `TemplateEmptyValue`: the text `"-"`, quotes included, as werf writes it.
pub const EMPTY: &str = "\"-\"";

/// werf 1.1's `WerfEngineHelpers`, byte for byte.
pub const WERF_HELPERS: &str = include_str!("werf_helpers.tpl");

/// werf's default namespace template (`GetKubernetesNamespace`).
pub const DEFAULT_NAMESPACE_TEMPLATE: &str = "[[ project ]]-[[ env ]]";

/// The helpers file a chart keeps as `templates/_werf_helpers.tpl` (Helm reads the
/// `define`s of a `_` file and makes no manifest of it).
pub fn helpers_file() -> String {
    format!(
        "{{{{/* werf 1.1's chart helpers (pkg/deploy/helm/templates.go), written by \
         `slipway helm-values --helpers-template`. Call them with include: \
         {{{{ include \"werf_container_image\" . }}}}, \
         {{{{ tuple \"backend\" . | include \"werf_container_image\" }}}}. */}}}}\n{WERF_HELPERS}"
    )
}

/// `--helm-values FILE` of publish: where, and the deploy facts werf takes from flags.
#[derive(Debug, Clone, Default)]
pub struct HelmValuesOptions {
    pub path: PathBuf,
    /// `--namespace` / `WERF_NAMESPACE`.
    pub namespace: Option<String>,
    /// `--env` / `WERF_ENV`.
    pub env: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum HelmValuesError {
    #[error("bad Kubernetes namespace specified '{0}': {1}")]
    BadNamespace(String, slug::NamespaceError),
    #[error("cannot render Kubernetes namespace by template '{template}': {cause}")]
    NamespaceTemplate {
        template: String,
        cause: DeployTemplateError,
    },
    #[error("Kubernetes namespace rendered by template '{0}' is empty: namespace cannot be empty")]
    EmptyNamespace(String),
    #[error("bad Kubernetes namespace '{namespace}' rendered by template '{template}': {cause}")]
    BadRenderedNamespace {
        namespace: String,
        template: String,
        cause: slug::NamespaceError,
    },
    #[error(
        "helm values: the report names no tag options (written by an older Slipway?): publish \
         again with --report-path, or use publish --helm-values"
    )]
    NoTagOptions,
    #[error("helm values: image {0} has no reference for its tag in the report")]
    NoReference(String),
    #[error(transparent)]
    Write(#[from] ReportError),
}

/// werf 1.1's tag strategies (`pkg/tag_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    GitTag,
    GitBranch,
    GitCommit,
    Custom,
    StagesSignature,
}

/// The tag option werf's deploy takes (`common.GetDeployTag`: stages signature, then the
/// first custom tag, git branch, git tag, git commit). werf's deploy refuses more than one;
/// a Slipway publish may have several, so the same order picks one.
fn deploy_tag(options: &[TagOption]) -> Option<(Strategy, &str)> {
    let find = |kind: &str| options.iter().find(|o| o.kind == kind);
    if find("content").is_some() {
        return Some((Strategy::StagesSignature, ""));
    }
    [
        ("custom", Strategy::Custom),
        ("git-branch", Strategy::GitBranch),
        ("git-tag", Strategy::GitTag),
        ("git-commit", Strategy::GitCommit),
    ]
    .into_iter()
    .find_map(|(kind, s)| find(kind).map(|o| (s, o.value.as_str())))
}

/// werf 1.1's `GetServiceValues` over a report: `global.{namespace,env}` and
/// `global.werf.{name,repo,version,docker_tag,ci.*,is_nameless_image,image…}`.
pub fn service_values(
    report: &Report,
    namespace: &str,
    env: Option<&str>,
) -> Result<Value, HelmValuesError> {
    let (strategy, common_tag) =
        deploy_tag(&report.tag_options).ok_or(HelmValuesError::NoTagOptions)?;
    let mut ci = json!({
        "is_tag": false, "is_branch": false, "is_custom": false,
        "branch": EMPTY, "tag": EMPTY, "ref": EMPTY,
    });
    match strategy {
        Strategy::GitTag => {
            ci["tag"] = json!(common_tag);
            ci["ref"] = json!(common_tag);
            ci["is_tag"] = json!(true);
        }
        Strategy::GitBranch => {
            ci["branch"] = json!(common_tag);
            ci["ref"] = json!(common_tag);
            ci["is_branch"] = json!(true);
        }
        // werf sets `is_custom_tag`, not the `is_custom` its helpers read: kept.
        Strategy::Custom => ci["is_custom_tag"] = json!(true),
        Strategy::StagesSignature => ci["is_tag_by_stages_signatures"] = json!(true),
        Strategy::GitCommit => {}
    }
    let mut werf = Map::new();
    werf.insert("name".into(), json!(report.project));
    werf.insert(
        "repo".into(),
        json!(report.images_repo.clone().unwrap_or_default()),
    );
    werf.insert("ci".into(), ci);
    werf.insert("version".into(), json!(version()));
    if !common_tag.is_empty() {
        werf.insert("docker_tag".into(), json!(common_tag));
    }
    let mut images = Map::new();
    // werf replaces `image` by the nameless image's values (the map of named ones is
    // then lost), and `is_nameless_image` is the last image's: kept, in report order.
    let mut nameless: Option<Value> = None;
    for img in &report.images {
        let tag = if strategy == Strategy::StagesSignature {
            img.signature.as_str()
        } else {
            common_tag
        };
        let label = img.name.clone().unwrap_or_else(|| "~".into());
        let docker_image = img
            .tags
            .iter()
            .position(|t| t == tag)
            .and_then(|i| img.references.get(i))
            .ok_or_else(|| HelmValuesError::NoReference(label.clone()))?;
        let mut data = Map::new();
        data.insert("docker_image".into(), json!(docker_image));
        data.insert("docker_tag".into(), json!(tag));
        if matches!(strategy, Strategy::GitBranch | Strategy::Custom) {
            let or_empty = |v: Option<&str>| json!(v.filter(|v| !v.is_empty()).unwrap_or(EMPTY));
            data.insert("docker_image_id".into(), or_empty(img.image_id.as_deref()));
            data.insert(
                "docker_image_digest".into(),
                or_empty(Some(img.digest.as_str())),
            );
        }
        werf.insert("is_nameless_image".into(), json!(img.name.is_none()));
        match &img.name {
            None => nameless = Some(Value::Object(data)),
            Some(n) => {
                images.insert(n.clone(), Value::Object(data));
            }
        }
    }
    werf.insert("image".into(), nameless.unwrap_or(Value::Object(images)));
    let mut global = Map::new();
    global.insert("namespace".into(), json!(namespace));
    global.insert("werf".into(), Value::Object(werf));
    if let Some(e) = env.filter(|e| !e.is_empty()) {
        global.insert("env".into(), json!(e));
    }
    Ok(json!({ "global": global }))
}

/// `global.werf.version`: werf puts its own version there; Slipway puts its own.
pub fn version() -> String {
    format!("slipway-v{}", env!("CARGO_PKG_VERSION"))
}

/// The values as a file: JSON, which is YAML (`helm -f` reads it), and leaves no string
/// to YAML 1.1's guessing (a branch named `no`).
pub fn render(values: &Value) -> String {
    // Plain data: serialising it cannot fail.
    format!(
        "{}\n",
        serde_json::to_string_pretty(values).unwrap_or_default()
    )
}

/// Write the values of `report` to `opts.path`.
pub fn write(
    report: &Report,
    opts: &HelmValuesOptions,
    deploy: Option<&Value>,
) -> Result<(), HelmValuesError> {
    let ns = namespace(
        opts.namespace.as_deref(),
        opts.env.as_deref(),
        &report.project,
        deploy,
    )?;
    let values = service_values(report, &ns, opts.env.as_deref())?;
    write_atomic(&opts.path, render(&values).as_bytes())?;
    Ok(())
}

/// werf 1.1's `GetKubernetesNamespace`: the option, else werf.yaml's `deploy.namespace`
/// template (default `[[ project ]]-[[ env ]]`), slugged unless `deploy.namespaceSlug`
/// is false; werf 1.1's namespace rule (a DNS-1123 subdomain, dots allowed).
pub fn namespace(
    option: Option<&str>,
    env: Option<&str>,
    project: &str,
    deploy: Option<&Value>,
) -> Result<String, HelmValuesError> {
    if let Some(ns) = option.filter(|n| !n.is_empty()) {
        return match slug::validate_namespace_werf11(ns) {
            Ok(()) => Ok(ns.to_string()),
            Err(e) => Err(HelmValuesError::BadNamespace(ns.into(), e)),
        };
    }
    let template = deploy
        .and_then(|d| d.get("namespace"))
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_NAMESPACE_TEMPLATE);
    let rendered =
        render_deploy_template(template, project, env.unwrap_or("")).map_err(|cause| {
            HelmValuesError::NamespaceTemplate {
                template: template.to_string(),
                cause,
            }
        })?;
    if rendered.is_empty() {
        return Err(HelmValuesError::EmptyNamespace(template.to_string()));
    }
    let do_slug = deploy
        .and_then(|d| d.get("namespaceSlug"))
        .and_then(Value::as_bool)
        .unwrap_or(true);
    if do_slug {
        return Ok(slug::namespace_werf11(&rendered));
    }
    match slug::validate_namespace_werf11(&rendered) {
        Ok(()) => Ok(rendered),
        Err(cause) => Err(HelmValuesError::BadRenderedNamespace {
            namespace: rendered,
            template: template.to_string(),
            cause,
        }),
    }
}

/// Why a deploy template (`[[ ]]`) cannot be rendered here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeployTemplateError {
    #[error("bad template: unclosed action: no \"]]\"")]
    Unclosed,
    /// werf's text; the namespace option is the way out Slipway adds.
    #[error(
        "--env option or $WERF_ENV variable required to construct name by template '{0}' (or \
         give --namespace)"
    )]
    EnvRequired(String),
    #[error(
        "Slipway renders only [[ project ]] and [[ env ]] here, not [[ {0} ]]: give --namespace"
    )]
    Unsupported(String),
}

/// werf's deploy templates (`[[ ]]` delimiters) with its two functions `project` and
/// `env`; Slipway renders those two actions only.
fn render_deploy_template(
    text: &str,
    project: &str,
    env: &str,
) -> Result<String, DeployTemplateError> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("[[") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("]]").ok_or(DeployTemplateError::Unclosed)?;
        match after[..end].trim() {
            "project" => out.push_str(project),
            "env" if env.is_empty() => {
                return Err(DeployTemplateError::EnvRequired(text.to_string()));
            }
            "env" => out.push_str(env),
            other => return Err(DeployTemplateError::Unsupported(other.to_string())),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// werf's `docker_image_id` is the config digest the registry holds (werf 1.1's
/// `GetRepoImage`): read from each image's manifest, as werf read it, rather than taken
/// from the daemon, whose image ID is another digest under containerd's image store. One
/// that cannot be read (an index, an error) keeps the daemon's ID, or stays without: `"-"`,
/// as werf gave when its read failed.
pub async fn fill_image_ids(
    report: &mut Report,
    client: &Client,
    repos: &BTreeMap<String, Repository>,
) {
    for img in report.images.iter_mut() {
        let Some(repo) = repos.get(&img.repository) else {
            continue;
        };
        match client.get_manifest(repo, &img.digest).await {
            Ok(Some((body, _))) => {
                let config = Manifest::parse(&body)
                    .ok()
                    .and_then(|m| m.config().map(|c| c.digest().to_string()));
                if config.is_some() {
                    img.image_id = config;
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(
                "helm values: reading {}@{}'s image ID: {e}",
                img.repository,
                img.digest
            ),
        }
    }
}

#[cfg(test)]
mod tests;
