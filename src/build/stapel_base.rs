//! A stapel node's base image, as the generated Dockerfile needs it.

use crate::config::ImageConfig;
use crate::daemon::{DaemonApi, DaemonError};

/// Why a stapel node's base image is not known or not in the daemon.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BaseImageError {
    #[error("unknown image or artifact {0:?}")]
    Unknown(String),
    #[error("base image {reference} is not in the daemon and cannot be pulled: {cause}")]
    Pull {
        reference: String,
        cause: DaemonError,
    },
    #[error("base image {reference}: {cause}")]
    Inspect {
        reference: String,
        cause: DaemonError,
    },
}

/// The local name of a stapel node's base: `from:`, or the tag of its `fromImage` /
/// `fromArtifact` node.
pub(crate) fn reference(
    env: &crate::stapel::Env,
    img: &ImageConfig,
) -> Result<Option<String>, BaseImageError> {
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
            .ok_or_else(|| BaseImageError::Unknown(n.clone()))?,
    }))
}

/// The USER of a stapel node's base image (steps run as root; it is restored at the
/// end): a `fromImage` source is in the daemon already, a `from:` image is pulled when
/// the daemon does not have it.
pub(crate) async fn user(
    daemon: &dyn DaemonApi,
    env: &crate::stapel::Env,
    img: &ImageConfig,
) -> Result<Option<String>, BaseImageError> {
    let Some(reference) = reference(env, img)? else {
        return Ok(None);
    };
    let inspected = match daemon.inspect(&reference).await {
        Ok(i) => i,
        Err(_) => {
            daemon
                .pull(&reference)
                .await
                .map_err(|cause| BaseImageError::Pull {
                    reference: reference.clone(),
                    cause,
                })?;
            daemon
                .inspect(&reference)
                .await
                .map_err(|cause| BaseImageError::Inspect {
                    reference: reference.clone(),
                    cause,
                })?
        }
    };
    Ok(Some(inspected.user).filter(|u| !u.is_empty()))
}
