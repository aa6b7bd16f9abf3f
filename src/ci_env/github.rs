//! GitHub Actions' variables.

use super::{CiEnvError, Login, Out, Tagging, cache_lines, cleanup_lines, get, tagging_lines};

pub(super) fn github(o: &mut Out<'_>, tagging: Tagging) -> Result<Option<Login>, CiEnvError> {
    let vars = o.vars;
    let owner_project = get(vars, "GITHUB_REPOSITORY");
    // werf 1.1 used docker.pkg.github.com, which GitHub retired for ghcr.io.
    let repo = owner_project.map(|r| format!("ghcr.io/{}", r.to_lowercase()));
    o.header("STAGES_STORAGE");
    o.set(
        "WERF_STAGES_STORAGE",
        &repo
            .as_deref()
            .map(|r| format!("{r}/stages"))
            .unwrap_or_default(),
    );
    o.header("IMAGES REPO");
    o.set("WERF_IMAGES_REPO", repo.as_deref().unwrap_or(""));
    let r = get(vars, "GITHUB_REF").unwrap_or("");
    let (tag, branch) = if let Some(t) = r.strip_prefix("refs/tags/") {
        (Some(t), None)
    } else {
        (
            None,
            r.strip_prefix("refs/heads/")
                .or(get(vars, "GITHUB_HEAD_REF")),
        )
    };
    o.header("TAGGING");
    tagging_lines(
        o,
        tagging,
        tag,
        branch,
        ("GITHUB_REF (refs/tags/…)", "GITHUB_REF (refs/heads/…)"),
    )?;
    cache_lines(o, &[branch, get(vars, "GITHUB_BASE_REF")]);
    o.header("DEPLOY");
    let server = get(vars, "GITHUB_SERVER_URL").unwrap_or("https://github.com");
    o.set(
        "WERF_ADD_ANNOTATION_PROJECT_GIT",
        &owner_project
            .map(|p| format!("project.werf.io/git={server}/{p}"))
            .unwrap_or_default(),
    );
    o.set(
        "WERF_ADD_ANNOTATION_CI_COMMIT",
        &get(vars, "GITHUB_SHA")
            .map(|s| format!("ci.werf.io/commit={s}"))
            .unwrap_or_default(),
    );
    o.set(
        "WERF_ADD_ANNOTATION_GITHUB_ACTIONS_RUN_URL",
        &owner_project
            .zip(get(vars, "GITHUB_RUN_ID"))
            .map(|(p, id)| {
                format!("github.ci.werf.io/workflow-run-url={server}/{p}/actions/runs/{id}")
            })
            .unwrap_or_default(),
    );
    o.header("CLEANUP");
    o.secret(
        "WERF_REPO_GITHUB_TOKEN",
        get(vars, "GITHUB_TOKEN").unwrap_or(""),
    );
    cleanup_lines(o);
    o.header("OTHER");
    o.set("WERF_GIT_HISTORY_SYNCHRONIZATION", "1");
    o.set("WERF_LOG_COLOR_MODE", "on");
    o.set("WERF_LOG_PROJECT_DIR", "1");
    o.set("WERF_ENABLE_PROCESS_EXTERMINATOR", "1");
    o.set("WERF_LOG_TERMINAL_WIDTH", "95");
    let login = match (get(vars, "GITHUB_ACTOR"), get(vars, "GITHUB_TOKEN")) {
        (Some(actor), Some(token)) => Some(Login {
            registry: "ghcr.io".into(),
            username: actor.to_string(),
            password: token.to_string(),
        }),
        _ => None,
    };
    Ok(login)
}
