//! An image built for several platforms (issue 34): each platform is a build of its own
//! (BuildKit's `platform`), with its own signature (`TARGETARCH`… expanded for it), local
//! tag and reuse, as the daemon keeps one image per tag. They share the run's build
//! slots; on Docker < 25 the BuildKit lock runs them one at a time.

use std::collections::BTreeMap;

use super::{Node, build_one};
use crate::build::{BuildError, BuiltImage, PlatformImage};

/// Build every platform of `node`'s image; the result names the first platform's image
/// and lists them all.
pub(super) async fn build(
    node: Node<'_>,
    args: BTreeMap<String, String>,
) -> Result<BuiltImage, BuildError> {
    let sigs = crate::signature::per_platform(
        node.img,
        &node.how.oci_labels,
        &node.how.node_signatures,
        &node.opts.outputs,
        node.how.stapel.as_deref(),
    )
    .map_err(|e| node.fail(e))?;
    let (repo, _) = node
        .local
        .rsplit_once(':')
        .unwrap_or((node.local.as_str(), ""));
    let builds = sigs.iter().map(|(p, sig)| {
        // The platform's own imports, and a stapel base or source of several platforms
        // as this platform's image.
        let mut how = node.how.clone();
        let mut args = args.clone();
        if let Some(i) = node.how.platform_imports.get(p) {
            args.clone_from(&i.args);
            how.imported_digests.clone_from(&i.imported_digests);
            how.dependency_env.clone_from(&i.dependency_env);
        }
        how.stapel = how
            .stapel
            .map(|e| std::sync::Arc::new(e.for_platform(Some(p))));
        let one = Node {
            backend: node.backend,
            project: node.project,
            img: node.img,
            sig,
            opts: node.opts,
            how,
            name: format!("{} ({p})", node.name),
            local: format!("{repo}:{}", crate::platform::slug(p)),
            // The run's tags name the published index, which the daemon cannot hold.
            extra: Vec::new(),
            start: std::time::Instant::now(),
            platform: Some(p.clone()),
        };
        async move {
            let b = Box::pin(build_one(one, args)).await?;
            Ok::<_, BuildError>(PlatformImage {
                platform: p.clone(),
                image_id: b.image_id,
                signature: b.signature,
                local_tag: b.local_tag,
                skipped: b.skipped,
            })
        }
    });
    let platforms = futures::future::try_join_all(builds).await?;
    let first = platforms
        .first()
        .ok_or_else(|| node.fail("no platform to build"))?;
    // The image's own local tag names its first platform (what `slipway run` starts).
    node.backend
        .daemon
        .tag(&first.image_id, &node.local)
        .await
        .map_err(|e| node.fail(format!("tagging {}: {e}", node.local)))?;
    let skipped = platforms.iter().all(|p| p.skipped);
    let mut built = node.built(
        first.image_id.clone(),
        skipped,
        node.start.elapsed().as_secs_f64(),
    );
    built.platforms = platforms;
    Ok(built)
}
