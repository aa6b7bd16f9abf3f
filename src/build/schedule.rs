//! The build graph run: every node whose dependencies are built starts (up to
//! `--parallel-tasks-limit` at once), its imports resolved from what its dependencies
//! became; a failure stops the others.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::task::JoinSet;

use super::builder::Builders;
use super::steps::{self, How};
use super::{BuildError, BuildOptions, BuiltImage, SessionData, buildkit, secrets, ssh};
use crate::config::{Config, ImageConfig, ImportType};
use crate::daemon::DaemonApi;

/// What a run builds with: the daemon, its builders and what it is.
pub(crate) struct Backend {
    pub daemon: Arc<dyn DaemonApi>,
    pub builders: Builders,
    /// The daemon's BuildKit, or why it is not used.
    pub buildkit: Result<buildkit::BuildKit, buildkit::NoBuildKit>,
    /// The daemon is Podman (see [`How::podman`]).
    pub podman: bool,
}

/// What the nodes of one run share.
struct Run {
    backend: Arc<Backend>,
    project: String,
    /// The project's git remote, normalized (`Config::source`).
    source: Option<String>,
    opts: Arc<BuildOptions>,
    session_data: BTreeMap<Option<String>, SessionData>,
    stapel_env: Arc<crate::stapel::Env>,
    node_signatures: Arc<BTreeMap<Option<String>, String>>,
    slots: Arc<tokio::sync::Semaphore>,
}

/// Where the run is: what is built, with which registry digests, and what runs.
#[derive(Default)]
struct Progress {
    done: BTreeMap<Option<String>, BuiltImage>,
    digests: BTreeMap<Option<String>, super::RegistryDigest>,
    started: Vec<Option<String>>,
}

/// Build `selected` (in dependency order, independent nodes in parallel). Returns the
/// images in werf.yaml order, and artifacts and `final: false` images only when named.
pub(crate) async fn build_on(
    backend: Backend,
    config: &Config,
    selected: Vec<ImageConfig>,
    signatures: &BTreeMap<Option<String>, String>,
    opts: BuildOptions,
) -> Result<Vec<BuiltImage>, BuildError> {
    let session_data = session_data(config, &selected, &backend, &opts.host_env)?;
    if let (Err(why), Some(img)) = (
        &backend.buildkit,
        selected.iter().find(|i| i.stapel().is_some()),
    ) {
        return Err(BuildError::StapelNeedsBuildKit {
            image: img.display_name().to_string(),
            why: why.to_string(),
        });
    }
    if backend.podman
        && let Some(img) = selected.iter().find(|i| i.image_spec.is_some())
    {
        return Err(BuildError::Failed {
            image: img.display_name().to_string(),
            message: steps::PODMAN_IMAGE_SPEC.into(),
        });
    }
    let parallel = opts.settings.parallel.max(1);
    // `parallel` images build at once (a slot each). With a stages storage a few more nodes
    // may start ahead: they look their stages up and pull them while others build, and
    // take a slot only to build (a fresh runner spends most of its time pulling).
    let ahead = if opts.stages_storage.is_some() {
        parallel * 2
    } else {
        0
    };
    let run = Run {
        backend: Arc::new(backend),
        project: config.project.clone(),
        source: config.source.clone(),
        session_data,
        stapel_env: Arc::new(crate::stapel::Env::new(config)),
        node_signatures: Arc::new(signatures.clone()),
        slots: Arc::new(tokio::sync::Semaphore::new(parallel)),
        opts: Arc::new(opts),
    };
    let mut progress = Progress::default();
    let mut running: JoinSet<Result<BuiltImage, BuildError>> = JoinSet::new();
    loop {
        // Start every image whose dependencies are built, up to `parallel` (+ `ahead`).
        for img in &selected {
            if running.len() >= parallel + ahead {
                break;
            }
            if progress.started.contains(&img.name) || !ready(img, &progress) {
                continue;
            }
            progress.started.push(img.name.clone());
            let sig = signatures.get(&img.name).cloned().unwrap_or_default();
            running.spawn(start(&run, img, sig, &progress));
        }
        let Some(next) = running.join_next().await else {
            break;
        };
        let built = match next {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                // Stop the others cleanly: dropping their streams ends the builds.
                running.abort_all();
                while running.join_next().await.is_some() {}
                return Err(e);
            }
            Err(e) => {
                running.abort_all();
                return Err(BuildError::Failed {
                    image: "?".into(),
                    message: e.to_string(),
                });
            }
        };
        if let Err(e) = publish_for_digest(&run.opts, &selected, &built, &mut progress).await {
            running.abort_all();
            return Err(e);
        }
        progress.done.insert(built.name.clone(), built);
    }
    let named = |i: &ImageConfig| {
        i.name
            .as_ref()
            .is_some_and(|n| run.opts.images.iter().any(|x| x == n))
    };
    Ok(selected
        .iter()
        .filter(|i| i.is_final || named(i))
        .filter_map(|i| progress.done.remove(&i.name))
        .collect())
}

/// Are the dependencies of `img` built?
fn ready(img: &ImageConfig, progress: &Progress) -> bool {
    img.dependencies
        .iter()
        .all(|d| progress.done.contains_key(&Some(d.image.clone())))
}

/// The build of one node, with its imports resolved.
fn start(
    run: &Run,
    img: &ImageConfig,
    sig: String,
    progress: &Progress,
) -> impl Future<Output = Result<BuiltImage, BuildError>> + Send + 'static {
    // An image of one platform takes that platform of each dependency; one of several
    // takes each platform's (issue 34).
    let one = match img.platforms() {
        [p] => Some(p.as_str()),
        _ => None,
    };
    let (args, imported_digests, dependency_env) = resolve_imports(img, &run.opts, progress, one);
    let platform_imports = match img.platforms() {
        list @ [_, _, ..] => list
            .iter()
            .map(|p| {
                let (args, digests, env) = resolve_imports(img, &run.opts, progress, Some(p));
                let imports = steps::PlatformImports {
                    args,
                    imported_digests: joined(digests),
                    dependency_env: env,
                };
                (p.clone(), imports)
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    let how = How {
        buildkit: run.backend.buildkit.as_ref().ok().cloned(),
        session: run.session_data.get(&img.name).cloned().unwrap_or_default(),
        podman: run.backend.podman,
        stapel: img
            .stapel()
            .is_some()
            .then(|| Arc::new(run.stapel_env.for_node(img))),
        node_signatures: run.node_signatures.clone(),
        slots: run.slots.clone(),
        dependency_env,
        oci_labels: crate::labels::oci(run.source.as_deref(), &run.project, img.name.as_deref()),
        imported_digests: joined(imported_digests),
        platform_imports: Arc::new(platform_imports),
    };
    let backend = run.backend.clone();
    let img = img.clone();
    let project = run.project.clone();
    let opts = run.opts.clone();
    async move {
        let node = steps::Node::new(&backend, &project, &img, &sig, &opts, how);
        steps::build_one(node, args).await
    }
}

/// `ImageDigest` imports as the label that records them (`None`: none).
fn joined(mut digests: Vec<String>) -> Option<String> {
    digests.sort();
    digests.dedup();
    (!digests.is_empty()).then(|| digests.join(","))
}

/// The build arguments of `img` with its imports from its built dependencies, the
/// `ImageDigest` imports (`dependency=digest`) among them, and a stapel image's imports
/// by `targetEnv`. For `platform`, a dependency built for several platforms is that
/// platform's image (its local tag and ID), as werf 2 resolves them.
fn resolve_imports(
    img: &ImageConfig,
    opts: &BuildOptions,
    progress: &Progress,
    platform: Option<&str>,
) -> (
    BTreeMap<String, String>,
    Vec<String>,
    BTreeMap<String, String>,
) {
    let mut args = img.dockerfile().map(|d| d.args.clone()).unwrap_or_default();
    let mut imported_digests: Vec<String> = Vec::new();
    let mut env = BTreeMap::new();
    for d in &img.dependencies {
        let Some(dep) = progress.done.get(&Some(d.image.clone())) else {
            continue;
        };
        let names = opts.extra_tags.get(&Some(d.image.clone()));
        let names = names.map(Vec::as_slice).unwrap_or_default();
        let mut image_id = &dep.image_id;
        let mine = platform.and_then(|p| dep.platforms.iter().find(|x| x.platform == p));
        let reference = if let Some(one) = mine {
            // The daemon holds no multi-platform tag: the platform's own local image.
            image_id = &one.image_id;
            one.local_tag.clone()
        } else if img.stapel().is_some() {
            content_reference(names, &dep.local_tag, &dep.signature)
        } else {
            names.first().unwrap_or(&dep.local_tag).clone()
        };
        let (repo, tagv) = split_reference(&reference);
        for imp in &d.imports {
            let value = match imp.kind {
                ImportType::ImageName => reference.clone(),
                ImportType::ImageTag => tagv.to_string(),
                ImportType::ImageRepo => repo.to_string(),
                ImportType::ImageID => image_id.clone(),
                ImportType::ImageDigest => progress
                    .digests
                    .get(&Some(d.image.clone()))
                    .map(|r| match mine.and_then(|m| r.platforms.get(&m.platform)) {
                        Some(platform_digest) => platform_digest.clone(),
                        None => r.digest.clone(),
                    })
                    .unwrap_or_default(),
            };
            if imp.kind == ImportType::ImageDigest {
                imported_digests.push(format!("{}={value}", d.image));
            }
            if let Some(e) = &imp.target_env {
                env.insert(e.clone(), value.clone());
            }
            if let Some(a) = &imp.target_build_arg {
                args.insert(a.clone(), value);
            }
        }
    }
    (args, imported_digests, env)
}

/// What a stapel image receives as its dependency's name: the content-signature reference
/// (werf: the last stage's image), so a reused image never names a tag that later moves.
/// It is the dependency's content tag among `names` (its references this run, where
/// publish adds it; `IMAGE-SIGNATURE` in monorepo mode), else `REPO:SIGNATURE` in the
/// repository of the first name (or of `local_tag`).
fn content_reference(names: &[String], local_tag: &str, sig: &str) -> String {
    let content = names.iter().find(|r| {
        r.rsplit_once(':')
            .is_some_and(|(_, t)| t == sig || t.strip_suffix(sig).is_some_and(|p| p.ends_with('-')))
    });
    match content {
        Some(c) => c.clone(),
        None => {
            let first = names.first().map_or(local_tag, String::as_str);
            format!("{}:{sig}", split_reference(first).0)
        }
    }
}

/// `REPO:TAG` split (a reference without a tag: `latest`).
fn split_reference(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        // A `:` in the host's port is no tag.
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (reference, "latest"),
    }
}

/// A dependency whose `ImageDigest` an image imports is published now, while the other
/// builds go on, so its dependants get the registry digest.
async fn publish_for_digest(
    opts: &BuildOptions,
    selected: &[ImageConfig],
    built: &BuiltImage,
    progress: &mut Progress,
) -> Result<(), BuildError> {
    let wanted_digest = selected.iter().any(|i| {
        i.dependencies.iter().any(|d| {
            Some(&d.image) == built.name.as_ref()
                && d.imports.iter().any(|m| m.kind == ImportType::ImageDigest)
        })
    });
    if !wanted_digest {
        return Ok(());
    }
    let dep = built.name.clone().unwrap_or_default();
    match &opts.registry_digest {
        Some(hook) => {
            let digest =
                hook(built.clone())
                    .await
                    .map_err(|cause| BuildError::DependencyDigest {
                        image: dependants_of(selected, &dep),
                        dependency: dep.clone(),
                        cause: cause.to_string(),
                    })?;
            progress.digests.insert(built.name.clone(), digest);
        }
        None => {
            tracing::warn!(
                "the ImageDigest import of {dep} is empty: an image has a registry digest only when published (build-and-publish), as in werf"
            );
        }
    }
    Ok(())
}

/// The images that depend on `dependency`, for messages.
fn dependants_of(selected: &[ImageConfig], dependency: &str) -> String {
    selected
        .iter()
        .filter(|i| i.dependencies.iter().any(|d| d.image == dependency))
        .map(|i| i.display_name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every image's secrets and SSH agents, read before anything is built; an image that
/// needs BuildKit for them fails here when BuildKit is not used.
fn session_data(
    config: &Config,
    selected: &[ImageConfig],
    backend: &Backend,
    env: &crate::settings::HostEnv,
) -> Result<BTreeMap<Option<String>, SessionData>, BuildError> {
    let mut session_data = BTreeMap::new();
    // werf's --ssh-key agent replaces the system's (werf: "use only specific ssh keys").
    let auth_sock = match &config.ssh_agent {
        Some(a) => Some(a.to_string_lossy().to_string()),
        None => env.ssh_auth_sock().map(str::to_string),
    };
    for img in selected {
        // A stapel image's secrets; its steps reach the --ssh-key agent, as werf's stage
        // containers do.
        let (secrets, ssh) = match (img.dockerfile(), img.stapel()) {
            (Some(d), _) => (&d.secrets, d.ssh.as_deref()),
            (None, Some(st)) => (&st.secrets, config.ssh_agent.as_ref().map(|_| "default")),
            (None, None) => continue,
        };
        let ssh = ssh.filter(|s| !s.trim().is_empty());
        // A stapel tmp_dir is emptied by the first step of each build: its id, by secret.
        let run_id = crate::stapel::tmp_dir::needed_by(config, img);
        let what = match (secrets.is_empty(), ssh) {
            (true, None) if run_id => {
                let mut data = SessionData::default();
                let id = crate::stapel::tmp_dir::RUN_SECRET;
                data.secrets
                    .insert(id, crate::stapel::tmp_dir::run_id().as_bytes());
                session_data.insert(img.name.clone(), data);
                continue;
            }
            (true, None) => continue,
            (false, _) => "secrets",
            (true, Some(_)) => "ssh",
        };
        // Podman's builder takes secrets itself (see `run_podman_with_secrets`).
        let podman_secrets = backend.podman && what == "secrets" && ssh.is_none();
        if let Err(why) = &backend.buildkit
            && !podman_secrets
        {
            return Err(BuildError::NeedsBuildKit {
                image: img.display_name().to_string(),
                what,
                why: why.to_string(),
            });
        }
        let name = img.display_name();
        let mut secrets = secrets::resolve(img, &config.dir, env)?;
        if run_id {
            let id = crate::stapel::tmp_dir::RUN_SECRET;
            secrets.insert(id, crate::stapel::tmp_dir::run_id().as_bytes());
        }
        session_data.insert(
            img.name.clone(),
            SessionData {
                secrets,
                ssh: match ssh {
                    Some(spec) => ssh::resolve(name, spec, &config.dir, auth_sock.as_deref())?,
                    None => Default::default(),
                },
                files: None,
            },
        );
    }
    Ok(session_data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stapel_dependant_names_the_content_tag_publish_gives() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // Published with `--tag-custom v1`: publish adds the content tag, found here.
        let run = names(&["r:5000/p/a:v1", "r:5000/p/a:abc123"]);
        assert_eq!(
            content_reference(&run, "p/a:latest", "abc123"),
            "r:5000/p/a:abc123"
        );
        // Monorepo mode: `IMAGE-SIGNATURE` in the one repository.
        let mono = names(&["r:5000/p:a-v1", "r:5000/p:a-abc123"]);
        assert_eq!(
            content_reference(&mono, "p/a:latest", "abc123"),
            "r:5000/p:a-abc123"
        );
        // A tag that merely ends in the signature's text is no content tag.
        let other = names(&["r:5000/p/a:xabc123"]);
        assert_eq!(
            content_reference(&other, "p/a:latest", "abc123"),
            "r:5000/p/a:abc123"
        );
        // A plain build: the local repository.
        assert_eq!(content_reference(&[], "p/a:latest", "abc123"), "p/a:abc123");
        assert_eq!(split_reference("r:5000/p/a"), ("r:5000/p/a", "latest"));
    }
}
