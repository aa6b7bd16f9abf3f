//! The base image of a stapel node: `fromLatest` resolved against its registry, and the
//! base pulled into the daemon when the local copy is not the one the signature names.

use std::collections::BTreeMap;

use super::error::{BaseError, StapelError};
use crate::config::Config;
use crate::config::stapel::Base;

/// Does any stapel node use `fromLatest` (so the registry is asked before signatures)?
pub fn uses_from_latest(cfg: &Config) -> bool {
    cfg.nodes()
        .any(|n| n.stapel().is_some_and(|s| s.from_latest))
}

/// `fromLatest`: ask the base's registry for the digest its tag names now (werf 1.1 puts
/// the registry's id of the base into the `from` stage's signature), record it on each
/// such node, and, with `docker`, pull the base when the daemon's copy is not that one
/// (werf pulls too), so the build starts from what the signature says. A registry that
/// cannot answer is an error at `fromLatest`, as in werf.
pub async fn resolve_from_latest(
    cfg: &mut Config,
    client: &crate::registry::Client,
    docker: Option<&bollard::Docker>,
) -> Result<(), StapelError> {
    let mut digests: BTreeMap<String, String> = BTreeMap::new();
    for node in cfg.images.iter_mut().chain(cfg.artifacts.iter_mut()) {
        let image = node.display_name().to_string();
        let Some(st) = node.stapel_mut() else {
            continue;
        };
        let Base::From(base) = &st.base else { continue };
        if !st.from_latest {
            continue;
        }
        let at = st.from_latest_at.clone().unwrap_or_else(|| st.at.clone());
        let fail = |cause: BaseError| StapelError::FromLatest {
            image: image.clone(),
            at: at.clone(),
            base: base.clone(),
            cause: Box::new(cause),
        };
        if let Some(d) = digests.get(base) {
            st.from_latest_digest = Some(d.clone());
            continue;
        }
        let r =
            crate::registry::Reference::parse(base).map_err(|e| fail(BaseError::Reference(e)))?;
        let wanted = r
            .digest
            .clone()
            .or(r.tag.clone())
            .unwrap_or_else(|| "latest".into());
        let info = client
            .head_manifest(&r.repository, &wanted)
            .await
            .map_err(|e| fail(BaseError::Registry(e)))?
            .ok_or_else(|| fail(BaseError::Missing(wanted.clone())))?;
        if let Some(docker) = docker {
            pull_unless_local(docker, base, &info.digest)
                .await
                .map_err(|e| fail(BaseError::Daemon(e)))?;
        }
        tracing::info!("fromLatest: {base} is {}", info.digest);
        digests.insert(base.clone(), info.digest.clone());
        st.from_latest_digest = Some(info.digest);
    }
    Ok(())
}

/// Pull `base` unless the daemon's image of that name is the one with `digest`.
pub async fn pull_unless_local(
    docker: &bollard::Docker,
    base: &str,
    digest: &str,
) -> Result<(), bollard::errors::Error> {
    let local = docker.inspect_image(base).await.ok();
    let has = local
        .and_then(|i| i.repo_digests)
        .unwrap_or_default()
        .iter()
        .any(|d| d.ends_with(&format!("@{digest}")));
    if has {
        return Ok(());
    }
    let (repo, tag) = match base.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
        _ => (base.to_string(), "latest".to_string()),
    };
    let opts = bollard::query_parameters::CreateImageOptionsBuilder::default()
        .from_image(&repo)
        .tag(&tag)
        .build();
    let mut pull = docker.create_image(Some(opts), None, None);
    while let Some(item) = futures::StreamExt::next(&mut pull).await {
        item?;
    }
    Ok(())
}
