//! GitLab CI's variables.

use std::collections::BTreeMap;

use super::{
    CiEnvError, Login, Out, Tagging, cache_lines, cleanup_lines, get, registry_of, tagging_lines,
};
use crate::settings::werf_names::slipway_twin;

pub(super) fn gitlab(o: &mut Out<'_>, tagging: Tagging) -> Result<Option<Login>, CiEnvError> {
    let vars = o.vars;
    // werf goes on without CI_REGISTRY_IMAGE (registry disabled, or an external one the
    // user names in WERF_IMAGES_REPO): no login, no repository lines.
    let image = get(vars, "CI_REGISTRY_IMAGE").map(str::to_string);
    let registry = get(vars, "CI_REGISTRY").unwrap_or("");
    let login = login(vars, image.as_deref(), registry);
    repo_lines(o, image.as_deref(), registry);
    o.header("TAGGING");
    let tag = get(vars, "CI_BUILD_TAG").or(get(vars, "CI_COMMIT_TAG"));
    let branch = get(vars, "CI_BUILD_REF_NAME").or(get(vars, "CI_COMMIT_REF_NAME"));
    tagging_lines(
        o,
        tagging,
        tag,
        branch,
        ("CI_COMMIT_TAG", "CI_COMMIT_REF_NAME"),
    )?;
    cache_lines(
        o,
        &[
            if tag.is_some() { None } else { branch },
            get(vars, "CI_DEFAULT_BRANCH"),
        ],
    );
    deploy_lines(o);
    cleanup_lines(o);
    o.header("OTHER");
    o.set("WERF_GIT_HISTORY_SYNCHRONIZATION", "1");
    o.set("WERF_GIT_UNSHALLOW", "1");
    o.set(
        "WERF_LOG_COLOR_MODE",
        gitlab_color_mode(get(vars, "CI_SERVER_VERSION")),
    );
    o.set("WERF_LOG_PROJECT_DIR", "1");
    o.set("WERF_ENABLE_PROCESS_EXTERMINATOR", "1");
    o.set("WERF_LOG_TERMINAL_WIDTH", "95");
    Ok(login)
}

/// The registry login: GitLab's registry pair, else the job token, else a deploy token.
fn login(vars: &BTreeMap<String, String>, image: Option<&str>, registry: &str) -> Option<Login> {
    // GitLab sets CI_REGISTRY_USER/PASSWORD to the job token's pair, and a project variable
    // may override them (a deploy token for another registry); then the job token itself;
    // then a deploy token GitLab exposes as CI_DEPLOY_USER/PASSWORD. (werf reads only the
    // job token: this is Slipway's extension.)
    let pair = |u: &str, p: &str| Some((get(vars, u)?.to_string(), get(vars, p)?.to_string()));
    let credentials = pair("CI_REGISTRY_USER", "CI_REGISTRY_PASSWORD")
        .or_else(|| {
            Some((
                "gitlab-ci-token".to_string(),
                get(vars, "CI_JOB_TOKEN")?.to_string(),
            ))
        })
        .or_else(|| pair("CI_DEPLOY_USER", "CI_DEPLOY_PASSWORD"));
    match (image, credentials) {
        (Some(image), Some((username, password))) => Some(Login {
            registry: if registry.is_empty() {
                registry_of(image).to_string()
            } else {
                registry.to_string()
            },
            username,
            password,
        }),
        (Some(image), None) => {
            tracing::warn!(
                "no registry login for {image}: none of CI_REGISTRY_USER/CI_REGISTRY_PASSWORD, CI_JOB_TOKEN or CI_DEPLOY_USER/CI_DEPLOY_PASSWORD is set, so the job's docker config has no entry for {}",
                if registry.is_empty() {
                    registry_of(image)
                } else {
                    registry
                }
            );
            None
        }
        _ => None,
    }
}

/// Where stages and images go: GitLab's registry of the project.
fn repo_lines(o: &mut Out<'_>, image: Option<&str>, registry: &str) {
    let vars = o.vars;
    let on_registry = |var: &str| {
        // werf's condition: unset, or on GitLab's registry.
        std::iter::once(var.to_string())
            .chain(slipway_twin(var))
            .find_map(|k| get(vars, &k))
            .is_none_or(|v| v.starts_with(registry))
    };
    o.header("STAGES_STORAGE");
    // werf writes "$CI_REGISTRY_IMAGE/stages", which is "/stages" without a registry.
    let stages = image.map(|i| format!("{i}/stages"));
    o.set("WERF_STAGES_STORAGE", stages.as_deref().unwrap_or(""));
    if image.is_some() && on_registry("WERF_STAGES_STORAGE") {
        o.set("WERF_STAGES_STORAGE_REPO_IMPLEMENTATION", "gitlab");
    }
    o.header("IMAGES REPO");
    o.set("WERF_IMAGES_REPO", image.unwrap_or(""));
    if image.is_some() && on_registry("WERF_IMAGES_REPO") {
        o.set("WERF_IMAGES_REPO_IMPLEMENTATION", "gitlab");
    }
}

/// werf's deploy settings: environment and annotations linking back to the pipeline.
fn deploy_lines(o: &mut Out<'_>) {
    let vars = o.vars;
    o.header("DEPLOY");
    o.set("WERF_ENV", get(vars, "CI_ENVIRONMENT_SLUG").unwrap_or(""));
    let project_url = get(vars, "CI_PROJECT_URL");
    let annotation =
        |prefix: &str, v: Option<String>| v.map(|v| format!("{prefix}={v}")).unwrap_or_default();
    o.set(
        "WERF_ADD_ANNOTATION_PROJECT_GIT",
        &annotation("project.werf.io/git", project_url.map(str::to_string)),
    );
    o.set(
        "WERF_ADD_ANNOTATION_CI_COMMIT",
        &annotation(
            "ci.werf.io/commit",
            get(vars, "CI_COMMIT_SHA").map(str::to_string),
        ),
    );
    o.set(
        "WERF_ADD_ANNOTATION_GITLAB_CI_PIPELINE_URL",
        &annotation(
            "gitlab.ci.werf.io/pipeline-url",
            project_url
                .zip(get(vars, "CI_PIPELINE_ID"))
                .map(|(u, id)| format!("{u}/pipelines/{id}")),
        ),
    );
    o.set(
        "WERF_ADD_ANNOTATION_GITLAB_CI_JOB_URL",
        &annotation(
            "gitlab.ci.werf.io/job-url",
            project_url
                .zip(get(vars, "CI_JOB_ID"))
                .map(|(u, id)| format!("{u}/-/jobs/{id}")),
        ),
    );
}

/// GitLab 12.1.x after 12.1.3 garbled colours: werf turns them off there.
pub(super) fn gitlab_color_mode(version: Option<&str>) -> &'static str {
    let parse = |v: &str| -> Option<(u64, u64, u64)> {
        let v = v.split(['-', '+']).next()?;
        let mut it = v.split('.').map(|p| p.parse::<u64>().ok());
        Some((
            it.next()??,
            it.next().flatten().unwrap_or(0),
            it.next().flatten().unwrap_or(0),
        ))
    };
    match version.and_then(parse) {
        Some(v) if v > (12, 1, 3) && v < (12, 2, 0) => "off",
        _ => "on",
    }
}
