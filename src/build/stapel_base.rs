//! A stapel node's base image, as the generated Dockerfile needs it.

use crate::config::ImageConfig;
use crate::daemon::DaemonApi;

/// The local name of a stapel node's base: `from:`, or the tag of its `fromImage` /
/// `fromArtifact` node.
pub(crate) fn reference(
    env: &crate::stapel::Env,
    img: &ImageConfig,
) -> Result<Option<String>, String> {
    use crate::config::stapel::Base;
    let Some(st) = img.stapel() else {
        return Ok(None);
    };
    Ok(Some(match &st.base {
        Base::From(b) => b.clone(),
        Base::Image(n) | Base::Artifact(n) => env
            .tags
            .get(n)
            .cloned()
            .ok_or_else(|| format!("unknown image or artifact {n:?}"))?,
    }))
}

/// The USER of a stapel node's base image (steps run as root; it is restored at the
/// end): a `fromImage` source is in the daemon already, a `from:` image is pulled when
/// the daemon does not have it.
pub(crate) async fn user(
    daemon: &dyn DaemonApi,
    env: &crate::stapel::Env,
    img: &ImageConfig,
) -> Result<Option<String>, String> {
    let Some(reference) = reference(env, img)? else {
        return Ok(None);
    };
    let inspected = match daemon.inspect(&reference).await {
        Ok(i) => i,
        Err(_) => {
            daemon.pull(&reference).await.map_err(|e| {
                format!("base image {reference} is not in the daemon and cannot be pulled: {e}")
            })?;
            daemon
                .inspect(&reference)
                .await
                .map_err(|e| format!("base image {reference}: {e}"))?
        }
    };
    Ok(Some(inspected.user).filter(|u| !u.is_empty()))
}
