//! Delete rights (cleanup) and cross-repository mounts (promote).

use super::{Check, answered, check};
use crate::registry::probe::DeleteProbe;
use crate::registry::{Client, Repository};

pub(super) async fn checks(client: &Client, repo: &Repository, out: &mut Vec<Check>) {
    // Delete: 404 = allowed (nothing to delete), 405 = deletion disabled, 401/403 = not allowed.
    let grant_delete = "grant delete on the repository for cleanup";
    match client.probe_delete(repo).await {
        Ok(DeleteProbe::Allowed) => out.push(check(
            "delete",
            true,
            "allowed (probed with a digest that cannot exist)",
            "",
        )),
        Ok(DeleteProbe::Disabled) => out.push(check(
            "delete",
            false,
            "the registry has deletion disabled (405)",
            "enable deletion (distribution: storage.delete.enabled: true) or use the vendor's API for cleanup",
        )),
        Ok(DeleteProbe::Refused { status }) => {
            out.push(check("delete", false, answered("DELETE", status), grant_delete))
        }
        Err(e) => out.push(check("delete", false, e.to_string(), grant_delete)),
    }
    // Cross-repository mount: needs an image there to borrow a blob from.
    let mount_note = client.probe_mount(repo).await.map(|r| match r {
        Ok(true) => check("cross-repo mounts", true, "supported", ""),
        Ok(false) => check(
            "cross-repo mounts",
            true,
            "not honoured: promote copies blobs instead of mounting",
            "",
        ),
        Err(e) => check("cross-repo mounts", true, format!("unknown ({e})"), ""),
    });
    out.push(mount_note.unwrap_or_else(|| {
        check(
            "cross-repo mounts",
            true,
            format!("not probed: {repo} holds no image to borrow a blob from"),
            "",
        )
    }));
}
