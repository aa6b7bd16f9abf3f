//! The registry images a stapel node reads: a `fromLatest` base and the sources of
//! imports from registry images, resolved to their registry digests, and pulled into the
//! daemon (with Slipway's credentials) when the local copy is not the one the signature
//! names.

use std::collections::BTreeMap;

use super::error::{BaseError, StapelError};
use crate::config::stapel::{Base, StapelRecipe, without_tag_or_digest};
use crate::config::{Config, ImageConfig};

/// Does any stapel node use `fromLatest` (so the registry is asked before signatures)?
pub fn uses_from_latest(cfg: &Config) -> bool {
    cfg.nodes()
        .any(|n| n.stapel().is_some_and(|s| s.from_latest))
}

/// Does any stapel node ask a registry before signatures (`fromLatest`, an import from a
/// registry image), or, when `pulling`, name a registry base (`from:`)?
pub fn uses_registry_digests(cfg: &Config, pulling: bool) -> bool {
    cfg.nodes().filter_map(ImageConfig::stapel).any(|s| {
        s.from_latest
            || s.imports.iter().any(|i| i.external)
            || (pulling && matches!(s.base, Base::From(_)))
    })
}

/// `fromLatest` bases and imports from registry images: their registry digests, recorded
/// on the nodes; with `docker`, each pulled when the daemon lacks it, and so are the other
/// registry bases.
pub async fn resolve_registry_digests(
    cfg: &mut Config,
    client: &crate::registry::Client,
    docker: Option<&bollard::Docker>,
) -> Result<(), StapelError> {
    if uses_from_latest(cfg) {
        resolve_from_latest(cfg, client, docker).await?;
    }
    resolve_external_imports(cfg, client, docker).await?;
    if let Some(docker) = docker {
        pull_registry_bases(cfg, client, docker).await?;
    }
    Ok(())
}

/// A registry base (`from:`, or werf 2's `fromImage:` naming no image of werf.yaml) the
/// daemon lacks, pulled with the credentials Slipway holds for its registry: the build's
/// own pull of a stapel base sends none. Without credentials it is left to that pull, as
/// before. By name, as werf does: only `fromLatest` pins a base to a digest.
async fn pull_registry_bases(
    cfg: &Config,
    client: &crate::registry::Client,
    docker: &bollard::Docker,
) -> Result<(), StapelError> {
    for node in cfg.nodes() {
        let Some(st) = node.stapel() else { continue };
        let Base::From(base) = &st.base else { continue };
        if st.from_latest || docker.inspect_image(base).await.is_ok() {
            continue;
        }
        let Ok(Some(creds)) = daemon_credentials(client, base) else {
            continue;
        };
        let (repo, tag) = match without_tag_or_digest(base) {
            r if r.len() < base.len() => (r, &base[r.len() + 1..]),
            r => (r, "latest"),
        };
        let opts = bollard::query_parameters::CreateImageOptionsBuilder::default()
            .from_image(repo)
            .tag(tag)
            .build();
        let mut pull = docker.create_image(Some(opts), None, Some(creds));
        while let Some(item) = futures::StreamExt::next(&mut pull).await {
            item.map_err(|e| StapelError::Base {
                image: node.display_name().to_string(),
                at: st.at.clone(),
                base: base.clone(),
                cause: Box::new(BaseError::Daemon(e)),
            })?;
        }
    }
    Ok(())
}

/// Each stapel node of werf.yaml (images, then artifacts) with its name for messages: the
/// walk both resolvers take.
fn stapel_nodes(cfg: &mut Config) -> impl Iterator<Item = (String, &mut StapelRecipe)> {
    cfg.images
        .iter_mut()
        .chain(cfg.artifacts.iter_mut())
        .filter_map(|node| {
            let image = node.display_name().to_string();
            node.stapel_mut().map(|st| (image, st))
        })
}

/// What a resolved reference is, for how it is pulled and logged.
#[derive(Clone, Copy)]
enum Kind {
    /// An import from a registry image: pulled pinned (`repo@digest`).
    Import,
    /// A `fromLatest` base: pulled by name unless the daemon's copy has the digest.
    FromLatest,
}

/// Registry digests of one kind of reference, each asked of its registry (and pulled,
/// with `docker`) once, however many nodes name it.
struct Resolver<'a> {
    kind: Kind,
    client: &'a crate::registry::Client,
    docker: Option<&'a bollard::Docker>,
    digests: BTreeMap<String, String>,
}

impl<'a> Resolver<'a> {
    fn new(
        kind: Kind,
        client: &'a crate::registry::Client,
        docker: Option<&'a bollard::Docker>,
    ) -> Self {
        Resolver {
            kind,
            client,
            docker,
            digests: BTreeMap::new(),
        }
    }

    /// The digest `reference` names now, remembered after the first ask.
    async fn digest(&mut self, reference: &str) -> Result<String, BaseError> {
        if let Some(d) = self.digests.get(reference) {
            return Ok(d.clone());
        }
        let digest = registry_digest(self.client, reference).await?;
        if let Some(docker) = self.docker {
            match self.kind {
                Kind::Import => pull_pinned(docker, self.client, reference, &digest).await?,
                Kind::FromLatest => {
                    let creds = daemon_credentials(self.client, reference)?;
                    pull_unless_local(docker, reference, &digest, creds)
                        .await
                        .map_err(BaseError::Daemon)?;
                }
            }
        }
        let what = match self.kind {
            Kind::Import => "import",
            Kind::FromLatest => "fromLatest",
        };
        tracing::info!("{what}: {reference} is {digest}");
        self.digests.insert(reference.to_string(), digest.clone());
        Ok(digest)
    }
}

/// An import from a registry image copies from the image its tag names now: the digest
/// goes into the signature (a moved tag rebuilds, an unchanged one does not) and the
/// generated Dockerfile copies from `repo@digest`, pulled beforehand through the daemon
/// with Slipway's credentials (BuildKit then finds it locally).
async fn resolve_external_imports(
    cfg: &mut Config,
    client: &crate::registry::Client,
    docker: Option<&bollard::Docker>,
) -> Result<(), StapelError> {
    let mut resolver = Resolver::new(Kind::Import, client, docker);
    for (image, st) in stapel_nodes(cfg) {
        for i in st.imports.iter_mut().filter(|i| i.external) {
            let digest =
                resolver
                    .digest(&i.source)
                    .await
                    .map_err(|cause| StapelError::ExternalImport {
                        image: image.clone(),
                        at: i.at.clone(),
                        reference: i.source.clone(),
                        cause: Box::new(cause),
                    })?;
            i.external_digest = Some(digest);
        }
    }
    Ok(())
}

/// The digest the registry holds under `reference` (its tag, `latest` without one; a
/// digested reference is asked whether it exists).
async fn registry_digest(
    client: &crate::registry::Client,
    reference: &str,
) -> Result<String, BaseError> {
    let r = crate::registry::Reference::parse(reference).map_err(BaseError::Reference)?;
    let wanted = r
        .digest
        .clone()
        .or(r.tag.clone())
        .unwrap_or_else(|| "latest".into());
    Ok(client
        .head_manifest(&r.repository, &wanted)
        .await
        .map_err(BaseError::Registry)?
        .ok_or(BaseError::Missing(wanted))?
        .digest)
}

/// Pull `reference` pinned to `digest` (`repo@digest`) unless the daemon has it, with the
/// credentials Slipway holds for its registry.
async fn pull_pinned(
    docker: &bollard::Docker,
    client: &crate::registry::Client,
    reference: &str,
    digest: &str,
) -> Result<(), BaseError> {
    let repo = without_tag_or_digest(reference);
    if docker
        .inspect_image(&format!("{repo}@{digest}"))
        .await
        .is_ok()
    {
        return Ok(());
    }
    let creds = daemon_credentials(client, reference)?;
    let opts = bollard::query_parameters::CreateImageOptionsBuilder::default()
        .from_image(repo)
        .tag(digest)
        .build();
    let mut pull = docker.create_image(Some(opts), None, creds);
    while let Some(item) = futures::StreamExt::next(&mut pull).await {
        item.map_err(BaseError::Daemon)?;
    }
    Ok(())
}

/// The credentials Slipway's keychain holds for `reference`'s registry, as the daemon
/// takes them (X-Registry-Auth).
fn daemon_credentials(
    client: &crate::registry::Client,
    reference: &str,
) -> Result<Option<bollard::auth::DockerCredentials>, BaseError> {
    use crate::registry::keychain::Credential;
    let r = crate::registry::Reference::parse(reference).map_err(BaseError::Reference)?;
    let host = r.repository.host.clone();
    let found = client.credentials(&host).map_err(BaseError::Registry)?;
    Ok(found.map(|f| match f.credential {
        Credential::Basic { username, password } => bollard::auth::DockerCredentials {
            username: Some(username),
            password: Some(password),
            serveraddress: Some(host),
            ..Default::default()
        },
        Credential::IdentityToken(t) => bollard::auth::DockerCredentials {
            identitytoken: Some(t),
            serveraddress: Some(host),
            ..Default::default()
        },
    }))
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
    let mut resolver = Resolver::new(Kind::FromLatest, client, docker);
    for (image, st) in stapel_nodes(cfg) {
        let Base::From(base) = &st.base else { continue };
        if !st.from_latest {
            continue;
        }
        let digest = resolver
            .digest(base)
            .await
            .map_err(|cause| StapelError::FromLatest {
                image,
                at: st.from_latest_at.clone().unwrap_or_else(|| st.at.clone()),
                base: base.clone(),
                cause: Box::new(cause),
            })?;
        st.from_latest_digest = Some(digest);
    }
    Ok(())
}

/// Pull `base` (with `creds`) unless the daemon's image of that name is the one with
/// `digest`.
pub async fn pull_unless_local(
    docker: &bollard::Docker,
    base: &str,
    digest: &str,
    creds: Option<bollard::auth::DockerCredentials>,
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
    let mut pull = docker.create_image(Some(opts), None, creds);
    while let Some(item) = futures::StreamExt::next(&mut pull).await {
        item?;
    }
    Ok(())
}
