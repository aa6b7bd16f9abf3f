//! Pull and push rights, and whether chunked uploads work.

use super::{Access, Check, answered, check, refused};
use crate::registry::probe::PushProbe;
use crate::registry::{Client, Repository};

pub(super) async fn checks(
    client: &Client,
    repo: &Repository,
    access: &Access,
    out: &mut Vec<Check>,
) {
    // Pull: list tags (404 for a new repository is fine).
    match client.list_tags(repo).await {
        Ok(_) => out.push(check("pull", true, format!("may read {repo}"), "")),
        Err(e) => out.push(check(
            "pull",
            false,
            e.to_string(),
            access.fix(
                "grant pull (read) on the repository to these credentials",
                refused(&e),
            ),
        )),
    }
    // Push: open an upload session and cancel it.
    match client.probe_push(repo).await {
        Ok(PushProbe::Allowed { chunked }) => {
            out.push(check(
                "push",
                true,
                format!("may write {repo} (upload session opened and cancelled)"),
                "",
            ));
            out.push(check(
                "chunked uploads",
                chunked,
                if chunked {
                    "PATCH accepted".to_string()
                } else {
                    "PATCH refused: Slipway uploads in one request".to_string()
                },
                "none needed: --upload-mode monolithic is used automatically",
            ));
        }
        Ok(PushProbe::Refused { status }) => out.push(check(
            "push",
            false,
            answered("POST upload", status),
            access.fix(
                "grant push (write) on the repository",
                matches!(status, 401 | 403),
            ),
        )),
        Err(e) => out.push(check(
            "push",
            false,
            e.to_string(),
            access.fix(
                "grant push (write) on the repository to these credentials",
                refused(&e),
            ),
        )),
    }
}
